#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Every Prometheus config and rule file iotc generates passes Prometheus's
//! own checker, `promtool`, over every example's Kubernetes output:
//!
//! - each `ir::Monitoring`'s `prometheus.yml` (from the ConfigMap its
//!   Prometheus mounts): `promtool check config --syntax-only` (the rule
//!   files it lists sit at their in-container path, so they are checked on
//!   their own below);
//! - the rule file beside it and the groups of every `PrometheusRule`:
//!   `promtool check rules --lint=all --lint-fatal` (PromQL parses, labels
//!   and annotations are valid, no duplicate rules).
//!
//! It needs `promtool` (Debian's package `prometheus`), so it is ignored by
//! a plain `cargo test`; `.ci/run` installs the package when missing and
//! runs it with `--ignored`, where a missing binary fails the test.

use iotc_compiler::emit::{emit, Target};
use iotc_compiler::ir::{Placement, PROMETHEUS_RULES_FILE};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{documents, example, EXAMPLES};

fn promtool(args: &[&str], file: &Path) {
    let out = Command::new("promtool")
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("promtool (Debian package prometheus) cannot run: {e}"));
    assert!(
        out.status.success(),
        "promtool {} {} failed:\n{}\n{}\n{}",
        args.join(" "),
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
}

/// A Compose file's inline Prometheus configs and rule files (after
/// Compose's `$$` interpolation) through promtool, written under `dir`:
/// how many of each.
fn compose_configs(dir: &Path, path: &str, contents: &str) -> (usize, usize) {
    let (mut configs, mut rules) = (0, 0);
    let stack = common::yaml(contents);
    for (key, config) in stack["configs"].as_object().into_iter().flatten() {
        let text = config["content"].as_str().unwrap().replace("$$", "$");
        let file = dir.join(format!("{}-{key}.yml", path.replace('/', "_")));
        std::fs::write(&file, &text).unwrap();
        if key.ends_with("-prometheus-yml") {
            promtool(&["check", "config", "--syntax-only"], &file);
            configs += 1;
        } else if key.ends_with("-alerts-yml") {
            promtool(&["check", "rules", "--lint=all", "--lint-fatal"], &file);
            rules += 1;
        }
    }
    (configs, rules)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("promtool").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
#[ignore = "needs promtool (Debian package prometheus); .ci/run installs it and runs this with --ignored"]
fn every_prometheus_config_and_rule_file_passes_promtool() {
    let mut checked = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let dir = scratch(name);
        let config_files: Vec<&str> = sol.monitoring.iter().map(|m| m.config_file.as_str()).collect();
        let (mut configs, mut rules) = (0, 0);
        for f in emit(&sol, &[Target::K8s, Target::Compose]).unwrap() {
            // A Docker fleet's Prometheus: inline Compose configs, after
            // Compose's `$$` interpolation.
            if f.path.starts_with("compose/") && f.path.ends_with("compose.yaml") {
                let (c, r) = compose_configs(&dir, &f.path, &f.contents);
                configs += c;
                rules += r;
                continue;
            }
            if !f.path.starts_with("k8s/") || !(f.path.ends_with(".yaml") || f.path.ends_with(".yml")) {
                continue;
            }
            for (i, doc) in documents(&f.contents).iter().enumerate() {
                let stem = format!("{}-{i}", f.path.replace('/', "_"));
                if doc["kind"] == "ConfigMap" {
                    let Some(data) = doc["data"].as_object() else { continue };
                    for (key, text) in data {
                        let text = text.as_str().unwrap();
                        let path = dir.join(format!("{stem}-{key}"));
                        if config_files.contains(&key.as_str()) {
                            std::fs::write(&path, text).unwrap();
                            promtool(&["check", "config", "--syntax-only"], &path);
                            configs += 1;
                        } else if key == PROMETHEUS_RULES_FILE {
                            std::fs::write(&path, text).unwrap();
                            promtool(&["check", "rules", "--lint=all", "--lint-fatal"], &path);
                            rules += 1;
                        }
                    }
                } else if doc["kind"] == "PrometheusRule" {
                    let file = json!({ "groups": doc["spec"]["groups"] });
                    let path = dir.join(format!("{stem}.rules.yml"));
                    std::fs::write(&path, serde_json::to_string(&file).unwrap()).unwrap();
                    promtool(&["check", "rules", "--lint=all", "--lint-fatal"], &path);
                    rules += 1;
                }
            }
        }
        // Every Prometheus iotc configures has its config and rule file
        // checked (none of the examples brings its own config folder): a
        // cluster's once, a fleet's once per site it runs at (each site's
        // folder or Compose stack has its own).
        let expected: usize = sol
            .monitoring
            .iter()
            .map(|m| {
                let w = sol.workloads.iter().find(|w| w.name == m.prometheus).unwrap();
                match &w.placement {
                    Placement::Fleet { sites, .. } => sites.iter().filter(|s| s.replicas > 0).count(),
                    Placement::Cluster { .. } => 1,
                }
            })
            .sum();
        assert_eq!(configs, expected, "{name}: configs checked");
        assert!(rules >= configs, "{name}: rule files checked");
        checked += configs;
    }
    assert!(checked > 0, "no example has a Prometheus to check");
}

/// A fleet's Prometheus writing to the cloud's: its `remote_write` and
/// `external_labels`, one config per site, pass promtool too.
#[test]
#[ignore = "needs promtool (Debian package prometheus); .ci/run installs it and runs this with --ignored"]
fn remote_write_configs_pass_promtool() {
    let src = std::fs::read_to_string(common::repo().join("compiler/tests/data/remote_write.iot")).unwrap();
    let sol = common::checked(
        &iotc_compiler::source::MemoryDb::new().with("rw/rw.iot", &src),
        "rw/rw.iot",
    );
    let dir = scratch("remote-write");
    let mut writers = 0;
    for f in emit(&sol, &[Target::K8s]).unwrap() {
        for (i, doc) in documents(&f.contents).iter().enumerate() {
            let Some(text) = doc["data"]["prometheus.yml"]
                .as_str()
                .filter(|_| doc["kind"] == "ConfigMap")
            else {
                continue;
            };
            let path = dir.join(format!("{}-{i}.yml", f.path.replace('/', "_")));
            std::fs::write(&path, text).unwrap();
            promtool(&["check", "config", "--syntax-only"], &path);
            writers += usize::from(text.contains("remote_write:"));
        }
    }
    // One per site of the fleet.
    assert_eq!(writers, 2);
}

/// The same for a Prometheus on every gateway of a Docker fleet: its
/// inline Compose config (after Compose's `$$` interpolation).
#[test]
#[ignore = "needs promtool (Debian package prometheus); .ci/run installs it and runs this with --ignored"]
fn docker_fleet_prometheus_configs_pass_promtool() {
    let src = std::fs::read_to_string(common::repo().join("compiler/tests/data/docker_monitoring.iot")).unwrap();
    let sol = common::checked(
        &iotc_compiler::source::MemoryDb::new().with("dm/dm.iot", &src),
        "dm/dm.iot",
    );
    let dir = scratch("docker-fleet");
    let mut checked = 0;
    for f in emit(&sol, &[Target::Compose]).unwrap() {
        if f.path.ends_with("compose.yaml") {
            checked += compose_configs(&dir, &f.path, &f.contents).0;
        }
    }
    assert_eq!(checked, 2, "east and west");
}
