//! The solution's picture as SVG, for `iotc studio`: the graph of
//! [`crate::graph`] (the one `iotc graph` prints as DOT and Mermaid) laid
//! out without Graphviz — the edge tier in a left column, the cloud tier in
//! a right one, each model between them, `talks_to` flows as curves and the
//! model's train → serve path dashed. Pure and deterministic.

use crate::graph::{Graph, Node};
use std::collections::BTreeMap;
use std::fmt::Write;

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

/// At most this many sites or pools, and workloads, are drawn per box; the
/// rest are counted in a "+N more" line, so a 200-site fleet with 500
/// workloads stays a readable (and small) picture.
const MAX_PARTS: usize = 6;
const MAX_WORKLOADS: usize = 14;

const COLUMN_WIDTH: i64 = 380;
const COLUMN_GAP: i64 = 260;
const MARGIN: i64 = 20;
const LINE: i64 = 18;
const ROW: i64 = 26;
/// Room right of the cloud column for same-column arcs.
const RIGHT_ROOM: i64 = 60;

/// A drawn box: left x, top y, width, height.
#[derive(Clone, Copy)]
struct Rect {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
}

/// `12 replicas` of `12 replicas (plant-a 8, plant-b 4)`.
fn short_detail(detail: &str) -> &str {
    detail.split(" (").next().unwrap_or(detail)
}

/// Lay out the graph as an SVG document. Every workload and model box has
/// a `<title>` (tooltips, screen readers); the document has `role="img"`
/// and a label.
pub fn svg(g: &Graph) -> String {
    let mut body = String::new();
    let mut placed: BTreeMap<&str, Rect> = BTreeMap::new();
    let mut height = 0;
    for (col, tier) in ["tier_edge", "tier_cloud"].into_iter().enumerate() {
        let x = MARGIN + (col as i64) * (COLUMN_WIDTH + COLUMN_GAP);
        let mut y = MARGIN;
        let heading = if col == 0 { "EDGE" } else { "CLOUD / DATA CENTRE" };
        let _ = write!(body, r#"<text class="tier" x="{x}" y="{}">{heading}</text>"#, y + 12);
        y += 26;
        for grp in g.groups.iter().filter(|x| x.parent.as_deref() == Some(tier)) {
            let top = y;
            let mut inner = String::new();
            let mut yy = y + 22;
            // `cluster cloud · aws eks · 4 nodes`: the name bold, the rest below.
            let mut label = grp.label.split(" · ");
            let _ = write!(
                inner,
                r#"<text class="group" x="{}" y="{yy}">{}</text>"#,
                x + 12,
                esc(label.next().unwrap_or(""))
            );
            yy += LINE;
            let rest: Vec<&str> = label.collect();
            let _ = write!(
                inner,
                r#"<text class="detail" x="{}" y="{yy}">{}</text>"#,
                x + 12,
                esc(&rest.join(" · "))
            );
            yy += 6;
            // Pools of a cluster, sites of a fleet.
            let pools: Vec<String> = g
                .groups
                .iter()
                .filter(|p| p.parent.as_deref() == Some(grp.id.as_str()))
                .map(|p| p.label.replace(" · ", ": "))
                .collect();
            let sites: Vec<String> = g
                .nodes
                .iter()
                .filter(|n| n.kind == "site" && n.group.as_deref() == Some(grp.id.as_str()))
                .map(|n| format!("{}: {}", n.title, n.detail))
                .collect();
            let parts = if pools.is_empty() { sites } else { pools };
            for part in parts.iter().take(MAX_PARTS) {
                yy += LINE;
                let _ = write!(
                    inner,
                    r#"<text class="part" x="{}" y="{yy}">{}</text>"#,
                    x + 20,
                    esc(part)
                );
            }
            if parts.len() > MAX_PARTS {
                yy += LINE;
                let _ = write!(
                    inner,
                    r#"<text class="more" x="{}" y="{yy}">+{} more</text>"#,
                    x + 20,
                    parts.len() - MAX_PARTS
                );
            }
            yy += 10;
            // Workloads placed in this box or in one of its pools.
            let pool_ids: Vec<&str> = g
                .groups
                .iter()
                .filter(|p| p.parent.as_deref() == Some(grp.id.as_str()))
                .map(|p| p.id.as_str())
                .collect();
            let workloads: Vec<&Node> = g
                .nodes
                .iter()
                .filter(|n| n.kind != "site" && n.kind != "model")
                .filter(|n| match n.group.as_deref() {
                    Some(gid) => gid == grp.id || pool_ids.contains(&gid),
                    None => false,
                })
                .collect();
            for n in workloads.iter().take(MAX_WORKLOADS) {
                let r = Rect {
                    x: x + 12,
                    y: yy,
                    w: COLUMN_WIDTH - 24,
                    h: ROW - 4,
                };
                let _ = write!(
                    inner,
                    r#"<g class="wl {kind}"><title>{title}: {detail}</title><rect x="{}" y="{}" width="{}" height="{}" rx="4"/><text x="{}" y="{ty}">{name}</text><text class="count" x="{}" y="{ty}" text-anchor="end">{kind} · {short}</text></g>"#,
                    r.x,
                    r.y,
                    r.w,
                    r.h,
                    r.x + 8,
                    r.x + r.w - 8,
                    kind = n.kind,
                    title = esc(&n.title),
                    detail = esc(&n.detail),
                    name = esc(&n.name),
                    short = esc(short_detail(&n.detail)),
                    ty = r.y + 15,
                );
                placed.insert(n.id.as_str(), r);
                yy += ROW;
            }
            if workloads.len() > MAX_WORKLOADS {
                yy += 4;
                let _ = write!(
                    inner,
                    r#"<text class="more" x="{}" y="{yy}">+{} more workloads</text>"#,
                    x + 20,
                    workloads.len() - MAX_WORKLOADS
                );
                yy += 8;
            }
            yy += 8;
            let _ = write!(
                body,
                r#"<g class="box {}"><rect x="{x}" y="{top}" width="{COLUMN_WIDTH}" height="{}" rx="8"/>{inner}</g>"#,
                grp.kind,
                yy - top
            );
            y = yy + 16;
        }
        height = height.max(y);
    }
    // Models: in the gap between the columns, level with what they serve.
    let mut model_y = MARGIN + 40;
    for m in g.nodes.iter().filter(|n| n.kind == "model") {
        let ends: Vec<i64> = g
            .edges
            .iter()
            .filter_map(|e| {
                let other = if e.to == m.id {
                    &e.from
                } else if e.from == m.id {
                    &e.to
                } else {
                    return None;
                };
                placed.get(other.as_str()).map(|r| r.y)
            })
            .collect();
        let mid = if ends.is_empty() {
            model_y
        } else {
            ends.iter().sum::<i64>() / ends.len() as i64
        };
        let r = Rect {
            x: MARGIN + COLUMN_WIDTH + 40,
            y: mid.max(model_y),
            w: COLUMN_GAP - 80,
            h: 40,
        };
        let _ = write!(
            body,
            r#"<g class="model"><title>{title}: {detail}</title><rect x="{}" y="{}" width="{}" height="{}" rx="12"/><text x="{}" y="{}" text-anchor="middle">{name}</text><text class="count" x="{}" y="{}" text-anchor="middle">{detail}</text></g>"#,
            r.x,
            r.y,
            r.w,
            r.h,
            r.x + r.w / 2,
            r.y + 16,
            r.x + r.w / 2,
            r.y + 32,
            title = esc(&m.title),
            name = esc(&m.name),
            detail = esc(&m.detail),
        );
        model_y = r.y + r.h + 16;
        height = height.max(model_y);
        placed.insert(m.id.as_str(), r);
    }
    let mut flows = String::new();
    let mut arcs = 0i64;
    for e in &g.edges {
        let (Some(a), Some(b)) = (placed.get(e.from.as_str()), placed.get(e.to.as_str())) else {
            continue;
        };
        let (ay, by) = (a.y + a.h / 2, b.y + b.h / 2);
        let path = if a.x == b.x {
            // Same column: an arc outside the column's right edge.
            arcs += 1;
            let out = a.x + a.w + 14 + (arcs % 6) * 7;
            format!("M{} {ay} C{out} {ay} {out} {by} {} {by}", a.x + a.w, b.x + b.w)
        } else {
            let (x1, x2) = if a.x < b.x { (a.x + a.w, b.x) } else { (a.x, b.x + b.w) };
            let mid = (x1 + x2) / 2;
            format!("M{x1} {ay} C{mid} {ay} {mid} {by} {x2} {by}")
        };
        let model = e.kind == "trains" || e.kind == "serves";
        let name = |id: &str| {
            g.nodes
                .iter()
                .find(|n| n.id == id)
                .map_or_else(|| id.to_string(), |n| n.name.clone())
        };
        let verb = if e.kind == "flow" { "calls" } else { e.kind };
        let mut title = format!("{} {verb} {}", name(&e.from), name(&e.to));
        if !e.label.is_empty() {
            let _ = write!(title, " ({})", e.label);
        }
        let _ = write!(
            flows,
            r#"<path class="flow{}" d="{path}" marker-end="url(#arrow)"><title>{}</title></path>"#,
            if model { " model" } else { "" },
            esc(&title)
        );
    }
    let width = 2 * MARGIN + 2 * COLUMN_WIDTH + COLUMN_GAP + RIGHT_ROOM;
    let count = |kind: &str| g.groups.iter().filter(|x| x.kind == kind).count();
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="Picture of {}: {} fleet(s) at the edge, {} cluster(s) in the cloud, {} model(s), {} flow(s)"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z"/></marker></defs>{body}{flows}</svg>"#,
        esc(&g.title),
        count("fleet"),
        count("cluster"),
        g.nodes.iter().filter(|n| n.kind == "model").count(),
        g.edges.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph;
    use crate::source::MemoryDb;
    use crate::{analyze, Overrides};

    fn factory(factor: u32) -> Graph {
        let db = MemoryDb::new()
            .with("f/factory.iot", include_str!("../../examples/factory/factory.iot"))
            .with("f/cloud.iot", include_str!("../../examples/factory/cloud.iot"));
        let overrides = Overrides {
            values: None,
            sets: vec![format!("factor={factor}")],
        };
        match analyze(&db, "f/factory.iot", &overrides).solution {
            Some(s) => graph::build(&s),
            None => panic!("factory does not check"),
        }
    }

    #[test]
    fn factory_svg_has_both_tiers_the_model_and_the_flows() {
        let s = svg(&factory(3));
        assert!(s.starts_with("<svg ") && s.ends_with("</svg>"));
        assert!(s.contains(r#"aria-label="Picture of smart-factory 1.4.0: 1 fleet(s) at the edge, 1 cluster(s) in the cloud, 1 model(s)"#), "{s}");
        assert!(s.contains(">fleet plants<") && s.contains(">cluster cloud<"));
        assert!(s.contains(">site plant-a: 12 gateways<"), "{s}");
        assert!(s.contains("<title>service ingest: 3 replicas</title>"), "{s}");
        assert!(s.contains(">service · 3 replicas<"), "{s}");
        assert!(
            s.contains("<title>defect-detector-train trains defect_detector</title>"),
            "{s}"
        );
        assert!(s.contains("<title>upload calls ingest (edge-to-cloud :"), "{s}");
        assert!(s.contains("<title>dashboard calls analytics</title>"), "{s}");
        // Deterministic.
        assert_eq!(s, svg(&factory(3)));
    }

    #[test]
    fn text_is_escaped_and_big_boxes_are_cut() {
        let mut g = factory(3);
        if let Some(n) = g.nodes.iter_mut().find(|n| n.name == "ingest") {
            n.name = "<a&b>".into();
        }
        let s = svg(&g);
        assert!(s.contains(">&lt;a&amp;b&gt;<"), "{s}");
        assert!(!s.contains("<a&b>"));
        let many = g.nodes.iter().find(|n| n.kind == "service").cloned();
        if let Some(n) = many {
            for i in 0..30 {
                g.nodes.push(Node {
                    id: format!("extra{i}"),
                    ..n.clone()
                });
            }
        }
        assert!(svg(&g).contains("more workloads"));
    }
}
