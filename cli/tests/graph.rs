//! `iotc graph`: DOT and Mermaid snapshots of every example, and the graph's
//! counts checked against the plan.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use iotc_compiler::{analyze, graph, Overrides};
use std::process::Command;

#[test]
fn every_example_graph_is_stable() {
    std::env::set_current_dir(common::root()).unwrap();
    for path in common::examples() {
        let a = analyze(&iotc::FsDb, &path, &Overrides::default());
        let sol = a.solution.expect("the examples check clean");
        let g = graph::build(&sol);
        // Every workload is a node, in a group, with its total count.
        for w in &sol.workloads {
            let node = g.nodes.iter().find(|n| n.name == w.name).unwrap();
            assert!(node.group.is_some(), "{}", w.name);
            let total = w.total_replicas();
            assert!(
                node.detail.starts_with(&format!("{total} replica")),
                "{}: {}",
                w.name,
                node.detail
            );
        }
        // Every resolved flow is an edge; one that leaves its group says where.
        for f in &sol.flows {
            let e = g
                .edges
                .iter()
                .find(|e| {
                    e.kind == "flow"
                        && e.from == format!("w_{}", f.from.replace('-', "_"))
                        && e.to == format!("w_{}", f.to.replace('-', "_"))
                })
                .unwrap_or_else(|| panic!("{} -> {}", f.from, f.to));
            assert_eq!(e.label.is_empty(), f.reach.is_local(), "{} -> {}", f.from, f.to);
        }
        // Every edge joins two nodes.
        for e in &g.edges {
            for end in [&e.from, &e.to] {
                assert!(g.nodes.iter().any(|n| &n.id == end), "{end}");
            }
        }
        let name = path.rsplit('/').next().unwrap().trim_end_matches(".iot").to_string();
        insta::with_settings!({snapshot_path => "../../snapshots/graph", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(format!("{name}_dot"), graph::to_dot(&g));
            insta::assert_snapshot!(format!("{name}_mermaid"), graph::to_mermaid(&g));
        });
    }
}

#[test]
fn the_command_prints_each_format_and_rejects_unknown_ones() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_iotc"))
            .args(args)
            .current_dir(common::root())
            .output()
            .unwrap();
        (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap())
    };
    let (code, dot) = run(&["graph", "examples/factory/factory.iot"]);
    assert_eq!(code, 0);
    assert!(dot.starts_with("digraph iotc {"), "{dot}");
    let (code, mermaid) = run(&["graph", "examples/factory/factory.iot", "--format", "mermaid"]);
    assert_eq!(code, 0);
    assert!(mermaid.contains("flowchart LR"), "{mermaid}");
    let (code, json) = run(&[
        "graph",
        "examples/factory/factory.iot",
        "--format",
        "json",
        "--set",
        "factor=3",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let site = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "site_plants_plant_a")
        .unwrap();
    assert_eq!(site["detail"], "12 gateways");
    assert_eq!(run(&["graph", "examples/factory/factory.iot", "--format", "png"]).0, 2);
    assert_eq!(run(&["graph", "examples/errors/E0101_unknown_fleet.iot"]).0, 1);
    assert_eq!(run(&["graph", "missing.iot"]).0, 2);
}
