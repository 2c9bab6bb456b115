//! A picture of the solution: the edge tier (fleets, their sites and
//! workloads) beside the cloud tier (clusters, pools and workloads), the
//! flows between workloads (`talks_to`) and each model's train → serve
//! path. [`picture`] builds the graph from the IR; [`svg`] lays it out.
//! Pure and deterministic; `iotc studio` draws it, and any other command
//! that draws the solution can reuse the graph.

use crate::ir::{Placement, Provider, Solution};
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Picture {
    /// Fleets (edge), then clusters (cloud), in source order.
    pub groups: Vec<Group>,
    pub flows: Vec<Flow>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Edge,
    Cloud,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Group {
    pub tier: Tier,
    pub name: String,
    /// `eks · aws eu-west-1` or `std.devices.jetson_orin_nano · k3s`.
    pub detail: String,
    /// Pools (`default: 3 × m6i.xlarge`) or sites (`plant-a: 8 gateways`).
    pub parts: Vec<String>,
    pub workloads: Vec<PictureWorkload>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PictureWorkload {
    pub name: String,
    pub kind: &'static str,
    pub replicas: u32,
    /// The pool, for cluster workloads.
    pub pool: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FlowKind {
    /// `talks_to`.
    Calls,
    /// A model's training job to one of its servers.
    Model,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Flow {
    pub from: String,
    pub to: String,
    pub kind: FlowKind,
    /// The model's name and version for model flows.
    pub label: Option<String>,
}

/// The graph of a solution.
pub fn picture(sol: &Solution) -> Picture {
    let mut groups = Vec::new();
    for f in &sol.fleets {
        let standby: u32 = f.sites.iter().map(|s| s.standby).sum();
        groups.push(Group {
            tier: Tier::Edge,
            name: f.name.clone(),
            detail: format!(
                "{} × {} · {}{}",
                f.total_gateways(),
                short(&f.device.name),
                f.runtime.name,
                if standby > 0 {
                    format!(" · {standby} standby")
                } else {
                    String::new()
                }
            ),
            parts: f
                .sites
                .iter()
                .map(|s| format!("{}: {} gateway{}", s.name, s.gateways, plural(s.gateways)))
                .collect(),
            workloads: sol
                .workloads
                .iter()
                .filter(|w| matches!(&w.placement, Placement::Fleet { fleet, .. } if fleet == &f.name))
                .map(|w| PictureWorkload {
                    name: w.name.clone(),
                    kind: w.kind.as_str(),
                    replicas: w.total_replicas(),
                    pool: None,
                })
                .collect(),
        });
    }
    for c in &sol.clusters {
        let where_ = match &c.provider {
            Provider::Aws { region, .. } => format!("aws {region}"),
            Provider::Vsphere { datacenter, .. } => format!("vsphere {datacenter}"),
            Provider::Baremetal { .. } => "baremetal".into(),
        };
        groups.push(Group {
            tier: Tier::Cloud,
            name: c.name.clone(),
            detail: format!("{} · {where_} · {} nodes", c.distribution, c.total_nodes()),
            parts: c
                .pools
                .iter()
                .map(|p| {
                    let node = p
                        .node
                        .instance_type
                        .clone()
                        .unwrap_or_else(|| short(&p.node.name).to_string());
                    format!("{}: {} × {node}", p.name, p.nodes)
                })
                .collect(),
            workloads: sol
                .workloads
                .iter()
                .filter_map(|w| match &w.placement {
                    Placement::Cluster {
                        cluster,
                        pool,
                        replicas,
                    } if cluster == &c.name => Some(PictureWorkload {
                        name: w.name.clone(),
                        kind: w.kind.as_str(),
                        replicas: *replicas,
                        pool: Some(pool.clone()),
                    }),
                    _ => None,
                })
                .collect(),
        });
    }
    let mut flows = Vec::new();
    for w in &sol.workloads {
        for t in &w.talks_to {
            flows.push(Flow {
                from: w.name.clone(),
                to: t.clone(),
                kind: FlowKind::Calls,
                label: None,
            });
        }
    }
    for m in &sol.models {
        let Some(train) = &m.train else { continue };
        for s in &m.serve {
            flows.push(Flow {
                from: train.clone(),
                to: s.clone(),
                kind: FlowKind::Model,
                label: Some(format!("{} v{}", m.name, m.version)),
            });
        }
    }
    Picture { groups, flows }
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `jetson_orin_nano` for `std.devices.jetson_orin_nano`.
fn short(profile: &str) -> &str {
    profile.rsplit('.').next().unwrap_or(profile)
}

/// Text safe inside SVG elements and attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// At most this many sites or pools, and workloads, are drawn per group;
/// the rest are counted in a "+N more" line, so a 200-site fleet stays a
/// readable picture.
const MAX_PARTS: usize = 6;
const MAX_WORKLOADS: usize = 14;

const COLUMN_WIDTH: i64 = 380;
const COLUMN_GAP: i64 = 220;
const MARGIN: i64 = 20;
const LINE: i64 = 18;
const ROW: i64 = 26;

/// Where a drawn workload's box is: left x, top y, width, height.
struct Placed {
    name: String,
    x: i64,
    y: i64,
    w: i64,
    h: i64,
}

/// Lay out the picture as an SVG document: the edge column on the left,
/// the cloud column on the right, flows as curves between workload boxes
/// (model flows dashed and labelled). Every box has a `<title>` for screen
/// readers and tooltips; the document has a `role="img"` and a label.
pub fn svg(p: &Picture) -> String {
    let mut body = String::new();
    let mut placed: Vec<Placed> = Vec::new();
    let mut height = 0;
    for (col, tier) in [Tier::Edge, Tier::Cloud].into_iter().enumerate() {
        let x = MARGIN + (col as i64) * (COLUMN_WIDTH + COLUMN_GAP);
        let mut y = MARGIN;
        let _ = write!(
            body,
            r#"<text class="tier" x="{x}" y="{}">{}</text>"#,
            y + 12,
            if tier == Tier::Edge {
                "EDGE"
            } else {
                "CLOUD / DATA CENTRE"
            }
        );
        y += 26;
        for g in p.groups.iter().filter(|g| g.tier == tier) {
            let top = y;
            let mut inner = String::new();
            let mut yy = y + 22;
            let _ = write!(
                inner,
                r#"<text class="group" x="{}" y="{yy}">{} {}</text>"#,
                x + 12,
                if tier == Tier::Edge { "fleet" } else { "cluster" },
                esc(&g.name)
            );
            yy += LINE;
            let _ = write!(
                inner,
                r#"<text class="detail" x="{}" y="{yy}">{}</text>"#,
                x + 12,
                esc(&g.detail)
            );
            yy += 6;
            for part in g.parts.iter().take(MAX_PARTS) {
                yy += LINE;
                let _ = write!(
                    inner,
                    r#"<text class="part" x="{}" y="{yy}">{}</text>"#,
                    x + 20,
                    esc(part)
                );
            }
            if g.parts.len() > MAX_PARTS {
                yy += LINE;
                let _ = write!(
                    inner,
                    r#"<text class="more" x="{}" y="{yy}">+{} more {}</text>"#,
                    x + 20,
                    g.parts.len() - MAX_PARTS,
                    if tier == Tier::Edge { "sites" } else { "pools" }
                );
            }
            yy += 10;
            for w in g.workloads.iter().take(MAX_WORKLOADS) {
                let (bx, bw) = (x + 12, COLUMN_WIDTH - 24);
                let label = match &w.pool {
                    Some(pool) if pool != "default" => format!("{} ({pool})", w.name),
                    _ => w.name.clone(),
                };
                let _ = write!(
                    inner,
                    r#"<g class="wl {kind}"><title>{kind} {name}: {r} replica{s}</title><rect x="{bx}" y="{yy}" width="{bw}" height="{h}" rx="4"/><text x="{tx}" y="{ty}">{label}</text><text class="count" x="{cx}" y="{ty}" text-anchor="end">{kind} × {r}</text></g>"#,
                    kind = w.kind,
                    name = esc(&w.name),
                    r = w.replicas,
                    s = plural(w.replicas),
                    h = ROW - 4,
                    tx = bx + 8,
                    ty = yy + 15,
                    cx = bx + bw - 8,
                    label = esc(&label),
                );
                placed.push(Placed {
                    name: w.name.clone(),
                    x: bx,
                    y: yy,
                    w: bw,
                    h: ROW - 4,
                });
                yy += ROW;
            }
            if g.workloads.len() > MAX_WORKLOADS {
                yy += 4;
                let _ = write!(
                    inner,
                    r#"<text class="more" x="{}" y="{yy}">+{} more workloads</text>"#,
                    x + 20,
                    g.workloads.len() - MAX_WORKLOADS
                );
                yy += 8;
            }
            yy += 8;
            let _ = write!(
                body,
                r#"<g class="box {}"><rect x="{x}" y="{top}" width="{COLUMN_WIDTH}" height="{}" rx="8"/>{inner}</g>"#,
                if tier == Tier::Edge { "fleet" } else { "cluster" },
                yy - top
            );
            y = yy + 16;
        }
        height = height.max(y);
    }
    let mut flows = String::new();
    let mut bumps = 0i64;
    for f in &p.flows {
        let (Some(a), Some(b)) = (
            placed.iter().find(|w| w.name == f.from),
            placed.iter().find(|w| w.name == f.to),
        ) else {
            continue;
        };
        let (ay, by) = (a.y + a.h / 2, b.y + b.h / 2);
        let path = if a.x == b.x {
            // Same column: an arc outside the column's right edge.
            bumps += 1;
            let out = a.x + a.w + 14 + (bumps % 6) * 8;
            format!("M{} {ay} C{out} {ay} {out} {by} {} {by}", a.x + a.w, b.x + b.w)
        } else {
            let (x1, x2) = if a.x < b.x { (a.x + a.w, b.x) } else { (a.x, b.x + b.w) };
            let mid = (x1 + x2) / 2;
            format!("M{x1} {ay} C{mid} {ay} {mid} {by} {x2} {by}")
        };
        let class = match f.kind {
            FlowKind::Calls => "flow",
            FlowKind::Model => "flow model",
        };
        let title = match &f.label {
            Some(l) => format!("model {l}: {} → {}", f.from, f.to),
            None => format!("{} calls {}", f.from, f.to),
        };
        let _ = write!(
            flows,
            r#"<path class="{class}" d="{path}" marker-end="url(#arrow)"><title>{}</title></path>"#,
            esc(&title)
        );
        if let (FlowKind::Model, Some(l)) = (f.kind, &f.label) {
            // Between the columns, or right of a same-column arc.
            let (lx, anchor) = if a.x == b.x {
                (a.x + a.w + 30, "start")
            } else {
                ((a.x.max(b.x) + a.x.min(b.x) + a.w) / 2, "middle")
            };
            let _ = write!(
                flows,
                r#"<text class="flowlabel" x="{lx}" y="{}" text-anchor="{anchor}">train → serve {}</text>"#,
                (ay + by) / 2 + 4,
                esc(l)
            );
        }
    }
    // Room right of the cloud column for its arcs and their labels.
    let width = 2 * MARGIN + 2 * COLUMN_WIDTH + COLUMN_GAP + 240;
    let edges = p.groups.iter().filter(|g| g.tier == Tier::Edge).count();
    let clouds = p.groups.len() - edges;
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="Solution picture: {edges} fleet(s) at the edge, {clouds} cluster(s) in the cloud, {} flow(s)"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z"/></marker></defs>{body}{flows}</svg>"#,
        p.flows.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemoryDb;
    use crate::{analyze, Overrides};

    fn factory(factor: u32) -> Picture {
        let db = MemoryDb::new()
            .with("f/factory.iot", include_str!("../../examples/factory/factory.iot"))
            .with("f/cloud.iot", include_str!("../../examples/factory/cloud.iot"));
        let overrides = Overrides {
            values: None,
            sets: vec![format!("factor={factor}")],
        };
        match analyze(&db, "f/factory.iot", &overrides).solution {
            Some(s) => picture(&s),
            None => panic!("factory does not check"),
        }
    }

    #[test]
    fn factory_picture_has_both_tiers_flows_and_the_model_path() {
        let p = factory(3);
        let names: Vec<(Tier, &str, &str)> = p
            .groups
            .iter()
            .map(|g| (g.tier, g.name.as_str(), g.detail.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (Tier::Edge, "plants", "21 × jetson_orin_nano · k3s"),
                (Tier::Cloud, "cloud", "eks · aws eu-west-1 · 4 nodes"),
            ]
        );
        assert_eq!(p.groups[0].parts[0], "plant-a: 12 gateways");
        assert_eq!(p.groups[1].parts, ["default: 3 × m6i.xlarge", "gpu: 1 × g5.xlarge"]);
        let model: Vec<(&str, &str)> = p
            .flows
            .iter()
            .filter(|f| f.kind == FlowKind::Model)
            .map(|f| (f.from.as_str(), f.to.as_str()))
            .collect();
        assert_eq!(
            model,
            [
                ("defect-detector-train", "defect-detector-serve-plants"),
                ("defect-detector-train", "defect-detector-serve-cloud")
            ]
        );
        assert!(p.flows.iter().any(|f| f.from == "upload" && f.to == "ingest"));
    }

    #[test]
    fn svg_draws_every_box_and_escapes_text() {
        let s = svg(&factory(3));
        assert!(s.starts_with("<svg ") && s.ends_with("</svg>"));
        assert!(s.contains(">fleet plants<") && s.contains(">cluster cloud<"));
        assert!(s.contains("<title>service ingest: 3 replicas</title>"));
        assert!(s.contains("train → serve defect_detector v7"));
        let mut p = factory(3);
        p.groups[0].name = "<a&b>".into();
        assert!(svg(&p).contains("fleet &lt;a&amp;b&gt;"));
        // Deterministic.
        assert_eq!(svg(&factory(3)), svg(&factory(3)));
    }
}
