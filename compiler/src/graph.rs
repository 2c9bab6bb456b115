//! `iotc graph`: the solution as a graph — tiers, clusters and pools, fleets
//! and sites, workloads with their replica counts, `talks_to` flows and model
//! train → serve — and its DOT and Mermaid renderings. Pure: IR in, data and
//! text out, so the CLI and the studio draw the same picture.

use crate::ir::{Placement, Provider, Reach, Solution};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt::Write;

/// A box that holds other boxes and nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    pub id: String,
    /// `tier`, `cluster`, `pool`, `fleet`.
    pub kind: &'static str,
    pub label: String,
    /// The enclosing group, if any.
    pub parent: Option<String>,
}

/// A node: a workload, a site, or a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub id: String,
    /// `service`, `daemon`, `job`, `serve`, `train`, `site`, `model`.
    pub kind: &'static str,
    /// The name in the source.
    pub name: String,
    /// The first line of the label: `service ingest`.
    pub title: String,
    /// The count line: `3 replicas`, `8 gateways`, `onnx 3.1.0`.
    pub detail: String,
    /// The group it is drawn in, if any.
    pub group: Option<String>,
}

/// A directed edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// `flow` (a call, from `Solution::flows`), `trains`, `serves`.
    pub kind: &'static str,
    /// For a flow that leaves its cluster or fleet: where it goes and the
    /// port (`edge-to-cloud :443`); empty otherwise.
    pub label: String,
}

/// The whole picture. Groups, nodes and edges keep the source's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Graph {
    pub title: String,
    pub groups: Vec<Group>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// An identifier DOT and Mermaid accept without quoting.
fn ident(prefix: &str, parts: &[&str]) -> String {
    let mut s = prefix.to_string();
    for p in parts {
        s.push('_');
        s.extend(p.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }));
    }
    s
}

fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn reach_name(r: Reach) -> &'static str {
    match r {
        Reach::SameGroup => "same-group",
        Reach::CrossCluster => "cross-cluster",
        Reach::EdgeToCloud => "edge-to-cloud",
        Reach::CloudToEdge => "cloud-to-edge",
        Reach::CrossFleet => "cross-fleet",
    }
}

fn provider_name(p: &Provider) -> &'static str {
    match p {
        Provider::Aws { .. } => "aws",
        Provider::Vsphere { .. } => "vsphere",
        Provider::Baremetal { .. } => "baremetal",
    }
}

/// Build the graph of a solution.
pub fn build(sol: &Solution) -> Graph {
    let mut g = Graph {
        title: format!("{} {}", sol.name, sol.version),
        groups: Vec::new(),
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    if !sol.clusters.is_empty() {
        g.groups.push(Group {
            id: "tier_cloud".into(),
            kind: "tier",
            label: "cloud / data centre".into(),
            parent: None,
        });
    }
    for c in &sol.clusters {
        let cid = ident("cluster", &[&c.name]);
        g.groups.push(Group {
            id: cid.clone(),
            kind: "cluster",
            label: format!(
                "cluster {} · {} {} · {}",
                c.name,
                provider_name(&c.provider),
                c.distribution,
                plural(c.total_nodes(), "node", "nodes")
            ),
            parent: Some("tier_cloud".into()),
        });
        for p in &c.pools {
            g.groups.push(Group {
                id: ident("pool", &[&c.name, &p.name]),
                kind: "pool",
                label: format!("pool {} · {} × {}", p.name, p.nodes, p.node.name),
                parent: Some(cid.clone()),
            });
        }
    }
    if !sol.fleets.is_empty() {
        g.groups.push(Group {
            id: "tier_edge".into(),
            kind: "tier",
            label: "edge".into(),
            parent: None,
        });
    }
    for f in &sol.fleets {
        let fid = ident("fleet", &[&f.name]);
        let gateways: u32 = f.sites.iter().map(|s| s.gateways).sum();
        g.groups.push(Group {
            id: fid.clone(),
            kind: "fleet",
            label: format!(
                "fleet {} · {} on {} · {}, {}",
                f.name,
                f.runtime.name,
                f.device.name,
                plural(u32::try_from(f.sites.len()).unwrap_or(u32::MAX), "site", "sites"),
                plural(gateways, "gateway", "gateways")
            ),
            parent: Some("tier_edge".into()),
        });
        for s in &f.sites {
            let mut detail = plural(s.gateways, "gateway", "gateways");
            if s.standby > 0 {
                let _ = write!(detail, " + {} standby", s.standby);
            }
            g.nodes.push(Node {
                id: ident("site", &[&f.name, &s.name]),
                kind: "site",
                name: s.name.clone(),
                title: format!("site {}", s.name),
                detail,
                group: Some(fid.clone()),
            });
        }
    }
    let workloads: BTreeSet<&str> = sol.workloads.iter().map(|w| w.name.as_str()).collect();
    for w in &sol.workloads {
        let (group, detail) = match &w.placement {
            Placement::Cluster {
                cluster,
                pool,
                replicas,
            } => (
                ident("pool", &[cluster, pool]),
                plural(*replicas, "replica", "replicas"),
            ),
            Placement::Fleet { fleet, sites } => {
                let per_site: Vec<String> = sites.iter().map(|s| format!("{} {}", s.site, s.replicas)).collect();
                let total = w.total_replicas();
                let mut d = plural(total, "replica", "replicas");
                if !sites.is_empty() {
                    let _ = write!(d, " ({})", per_site.join(", "));
                } else {
                    d = "no site matches".into();
                }
                (ident("fleet", &[fleet]), d)
            }
        };
        g.nodes.push(Node {
            id: ident("w", &[&w.name]),
            kind: w.kind.as_str(),
            name: w.name.clone(),
            title: format!("{} {}", w.kind.as_str(), w.name),
            detail,
            group: Some(group),
        });
    }
    for m in &sol.models {
        let mid = ident("model", &[&m.name]);
        g.nodes.push(Node {
            id: mid.clone(),
            kind: "model",
            name: m.name.clone(),
            title: format!("model {}", m.name),
            detail: format!("{} {}", m.format, m.version),
            group: None,
        });
        if let Some(t) = m.train.as_deref().filter(|t| workloads.contains(t)) {
            g.edges.push(Edge {
                from: ident("w", &[t]),
                to: mid.clone(),
                kind: "trains",
                label: String::new(),
            });
        }
        for s in m.serve.iter().filter(|s| workloads.contains(s.as_str())) {
            g.edges.push(Edge {
                from: mid.clone(),
                to: ident("w", &[s]),
                kind: "serves",
                label: String::new(),
            });
        }
    }
    // Flows as the checker resolved them (`talks_to` and endpoint
    // references in env), a call to a model going to its server.
    let mut seen = BTreeSet::new();
    for f in &sol.flows {
        if !(workloads.contains(f.from.as_str()) && workloads.contains(f.to.as_str())) {
            continue;
        }
        if !seen.insert((f.from.as_str(), f.to.as_str())) {
            continue;
        }
        let label = match f.reach {
            Reach::SameGroup => String::new(),
            reach => format!("{} :{}", reach_name(reach), f.endpoint.port),
        };
        g.edges.push(Edge {
            from: ident("w", &[&f.from]),
            to: ident("w", &[&f.to]),
            kind: "flow",
            label,
        });
    }
    g
}

/// DOT and Mermaid strings: `"` and `\` escaped; `<`/`>` kept (labels are
/// plain text).
fn quote_dot(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn node_shape(kind: &str) -> &'static str {
    match kind {
        "site" => "shape=folder",
        "model" => "shape=cylinder",
        "job" | "train" => "shape=component",
        // One per gateway or node: drawn doubled.
        "daemon" => "shape=box, peripheries=2",
        _ => "shape=box",
    }
}

/// Flows are plain arrows (labelled when they leave their group); the
/// model's edges are dashed and labelled.
fn edge_attrs(e: &Edge) -> String {
    match e.kind {
        "trains" | "serves" => format!("label={}, style=dashed, color=\"#7b3294\"", quote_dot(e.kind)),
        _ if !e.label.is_empty() => format!("label={}, color=\"#c0392b\"", quote_dot(&e.label)),
        _ => "color=\"#2b5797\"".to_string(),
    }
}

/// The graph in Graphviz DOT (`dot -Tsvg` draws it).
pub fn to_dot(g: &Graph) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph iotc {{");
    let _ = writeln!(s, "  label={};", quote_dot(&g.title));
    let _ = writeln!(s, "  labelloc=t;");
    let _ = writeln!(s, "  rankdir=LR;");
    let _ = writeln!(s, "  compound=true;");
    let _ = writeln!(s, "  node [fontname=\"Helvetica\", fontsize=11, style=rounded];");
    let _ = writeln!(s, "  edge [fontname=\"Helvetica\", fontsize=9];");
    dot_children(g, None, 1, &mut s);
    for e in &g.edges {
        let _ = writeln!(s, "  {} -> {} [{}];", e.from, e.to, edge_attrs(e));
    }
    s.push_str("}\n");
    s
}

fn dot_children(g: &Graph, parent: Option<&str>, depth: usize, s: &mut String) {
    let pad = "  ".repeat(depth);
    for n in g.nodes.iter().filter(|n| n.group.as_deref() == parent) {
        let _ = writeln!(
            s,
            "{pad}{} [label={}, {}];",
            n.id,
            quote_dot(&format!("{}\n{}", n.title, n.detail)),
            node_shape(n.kind)
        );
    }
    for grp in g.groups.iter().filter(|x| x.parent.as_deref() == parent) {
        let _ = writeln!(s, "{pad}subgraph cluster_{} {{", grp.id);
        let _ = writeln!(s, "{pad}  label={};", quote_dot(&grp.label));
        let style = match grp.kind {
            "tier" => "style=dashed",
            "pool" => "style=filled; fillcolor=\"#f2f2f2\"",
            _ => "style=rounded",
        };
        let _ = writeln!(s, "{pad}  {style};");
        dot_children(g, Some(&grp.id), depth + 1, s);
        let _ = writeln!(s, "{pad}}}");
    }
}

/// Mermaid text: `"` becomes `#quot;`, line breaks `<br/>`.
fn quote_mermaid(s: &str) -> String {
    let body = s.replace('"', "#quot;").replace('\n', "<br/>");
    format!("\"{body}\"")
}

/// The graph as a Mermaid flowchart (renders in GitHub Markdown).
pub fn to_mermaid(g: &Graph) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "---\ntitle: {}\n---", quote_mermaid(&g.title));
    s.push_str("flowchart LR\n");
    mermaid_children(g, None, 1, &mut s);
    for e in &g.edges {
        match e.kind {
            "flow" if e.label.is_empty() => {
                let _ = writeln!(s, "  {} --> {}", e.from, e.to);
            }
            "flow" => {
                let _ = writeln!(s, "  {} -->|{}| {}", e.from, e.label, e.to);
            }
            kind => {
                let _ = writeln!(s, "  {} -.->|{kind}| {}", e.from, e.to);
            }
        }
    }
    s
}

fn mermaid_children(g: &Graph, parent: Option<&str>, depth: usize, s: &mut String) {
    let pad = "  ".repeat(depth);
    for grp in g.groups.iter().filter(|x| x.parent.as_deref() == parent) {
        let _ = writeln!(s, "{pad}subgraph {}[{}]", grp.id, quote_mermaid(&grp.label));
        mermaid_children(g, Some(&grp.id), depth + 1, s);
        let _ = writeln!(s, "{pad}end");
    }
    for n in g.nodes.iter().filter(|n| n.group.as_deref() == parent) {
        let label = quote_mermaid(&format!("{}\n{}", n.title, n.detail));
        let shape = match n.kind {
            "model" => format!("[({label})]"),
            "site" => format!("[/{label}/]"),
            "job" | "train" => format!("[[{label}]]"),
            "daemon" => format!("{{{{{label}}}}}"),
            _ => format!("[{label}]"),
        };
        let _ = writeln!(s, "{pad}{}{shape}", n.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_safe_for_dot_and_mermaid() {
        assert_eq!(ident("w", &["defect-detector.serve"]), "w_defect_detector_serve");
        assert_eq!(ident("pool", &["cloud", "gpu"]), "pool_cloud_gpu");
    }

    #[test]
    fn labels_are_quoted() {
        assert_eq!(quote_dot("a \"b\"\nc\\"), "\"a \\\"b\\\"\\nc\\\\\"");
        assert_eq!(quote_mermaid("a \"b\"\nc"), "\"a #quot;b#quot;<br/>c\"");
    }
}
