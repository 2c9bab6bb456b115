#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Writable folders of images on a read-only root file system: every
//! folder the checker decides a container writes outside its volumes
//! (`ir::Container::scratch`: `/tmp` and the declared `writable` paths) is
//! mounted writable in every target the workload runs in — an emptyDir
//! volume mount on Kubernetes, a `tmpfs` entry in Compose — on every
//! example and on a solution that runs the stdlib's databases on both;
//! and the diagnostics for paths that are not folders or that a volume
//! already mounts.

use iotc_compiler::diag::Code;
use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::{Placement, Solution};
use iotc_compiler::source::MemoryDb;
use serde_json::Value;
use std::collections::BTreeMap;

mod common;
use common::{checked, documents, example, yaml, EXAMPLES};

const CONTROLLERS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"];

/// The pod spec of a controller document.
fn pod_spec(doc: &Value) -> &Value {
    if doc["kind"] == "CronJob" {
        &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    } else {
        &doc["spec"]["template"]["spec"]
    }
}

/// Asserts that `scratch` is mounted writable, from an emptyDir, in the
/// workload's container of every pod of `files` labelled with its name.
/// Returns how many pods were checked.
fn check_k8s(files: &[OutputFile], workload: &str, scratch: &[String], what: &str) -> usize {
    let name = workload.replace('_', "-");
    let mut pods = 0;
    for f in files
        .iter()
        .filter(|f| f.path.starts_with("k8s/") && f.path.ends_with(".yaml"))
    {
        for doc in documents(&f.contents) {
            if !CONTROLLERS.contains(&doc["kind"].as_str().unwrap_or("")) {
                continue;
            }
            if doc["metadata"]["labels"]["app.kubernetes.io/name"] != name.as_str() {
                continue;
            }
            let spec = pod_spec(&doc);
            let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
            let containers = spec["containers"].as_array().unwrap();
            let main = containers
                .iter()
                .find(|c| c["name"] == name.as_str())
                .unwrap_or_else(|| panic!("{what}: {} has no container {name}", f.path));
            assert_eq!(
                main["securityContext"]["readOnlyRootFilesystem"], true,
                "{what}: {name}"
            );
            let mounts = main["volumeMounts"].as_array().cloned().unwrap_or_default();
            for path in scratch {
                let m = mounts
                    .iter()
                    .find(|m| m["mountPath"] == path.as_str())
                    .unwrap_or_else(|| panic!("{what}: {name} in {} does not mount {path}", f.path));
                assert_ne!(m["readOnly"], true, "{what}: {name} mounts {path} read-only");
                let vol = volumes
                    .iter()
                    .find(|v| v["name"] == m["name"])
                    .unwrap_or_else(|| panic!("{what}: {name} mounts {path} from no volume"));
                assert!(
                    vol["emptyDir"].is_object(),
                    "{what}: {name}: {path} is not an emptyDir: {vol}"
                );
            }
            let mut names: Vec<&Value> = volumes.iter().map(|v| &v["name"]).collect();
            let n = names.len();
            names.sort_by_key(|v| v.to_string());
            names.dedup();
            assert_eq!(names.len(), n, "{what}: {name} has two volumes of one name");
            pods += 1;
        }
    }
    pods
}

/// Asserts that `scratch` is exactly the `tmpfs` of the workload's service
/// in every Compose file that runs it, with a read-only root file system.
fn check_compose(files: &[OutputFile], workload: &str, scratch: &[String], what: &str) -> usize {
    let name = workload.replace('_', "-");
    let mut services = 0;
    for f in files
        .iter()
        .filter(|f| f.path.starts_with("compose/") && f.path.ends_with("compose.yaml"))
    {
        let doc = yaml(&f.contents);
        for (_, svc) in doc["services"].as_object().unwrap() {
            if svc["labels"]["app.kubernetes.io/name"] != name.as_str() {
                continue;
            }
            assert_eq!(svc["read_only"], true, "{what}: {name} in {}", f.path);
            let tmpfs: Vec<String> = svc["tmpfs"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: {name} in {} has no tmpfs", f.path))
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
                .collect();
            assert_eq!(tmpfs, scratch, "{what}: {name} in {}", f.path);
            services += 1;
        }
    }
    services
}

fn on_kubernetes(sol: &Solution, p: &Placement) -> bool {
    match p {
        Placement::Cluster { .. } => true,
        Placement::Fleet { fleet, .. } => sol.fleets.iter().any(|f| &f.name == fleet && f.runtime.is_kubernetes()),
    }
}

/// Every workload's scratch folders, mounted writable where it runs.
fn check_solution(sol: &Solution, what: &str) -> BTreeMap<String, Vec<String>> {
    let files = emit(sol, &[Target::K8s, Target::Compose]).unwrap();
    let mut declared = BTreeMap::new();
    for w in &sol.workloads {
        let s = &w.container.scratch;
        assert!(
            s.iter().any(|p| p == "/tmp") || w.container.volumes.iter().any(|v| v.mount == "/tmp"),
            "{what}: {} has no writable /tmp",
            w.name
        );
        let n = if on_kubernetes(sol, &w.placement) {
            check_k8s(&files, &w.name, s, what)
        } else {
            check_compose(&files, &w.name, s, what)
        };
        assert!(n > 0, "{what}: {} runs nowhere", w.name);
        let extra: Vec<String> = s.iter().filter(|p| *p != "/tmp").cloned().collect();
        if !extra.is_empty() {
            declared.insert(w.name.clone(), extra);
        }
    }
    declared
}

#[test]
fn every_scratch_folder_of_every_example_is_mounted_writable() {
    let mut declared = BTreeMap::new();
    for name in EXAMPLES {
        for (w, paths) in check_solution(&example(name), name) {
            declared.insert(format!("{name}/{w}"), paths);
        }
    }
    // TimescaleDB in `energy` takes its lock-file folder from the stdlib.
    assert_eq!(
        declared.get("energy/timeseries"),
        Some(&vec!["/var/run/postgresql".to_string()]),
        "{declared:?}"
    );
}

const BOTH: &str = r#"solution s { version = "1" namespace = "s" }
import std.devices
import std.services
fleet k { device = std.devices.rpi5 runtime = k3s site a { gateways = 1 hosts = "k{n}.a" } }
fleet d { device = std.devices.rpi5 runtime = docker site b { gateways = 2 hosts = "d{n}.b" } }
service pg_k on k from std.services.postgres {}
service pg_d on d from std.services.postgres {}
service ts_d on d from std.services.timescaledb { writable = ["/var/run/postgresql", "/var/cache/app/"] }
service own on d { image = "x/own:1" writable = ["/run/own", "/tmp"] volume tmp { mount = "/scratch" } }
"#;

#[test]
fn declared_writable_folders_are_mounted_in_kubernetes_and_compose() {
    let sol = checked(&MemoryDb::new().with("t.iot", BOTH), "t.iot");
    let declared = check_solution(&sol, "both");
    let pg = vec!["/var/run/postgresql".to_string()];
    assert_eq!(declared.get("pg-k"), Some(&pg));
    assert_eq!(declared.get("pg-d"), Some(&pg));
    assert_eq!(
        declared.get("ts-d"),
        Some(&vec!["/var/cache/app".to_string(), "/var/run/postgresql".to_string()])
    );
    // `/tmp` is always there and listed once.
    let own = sol.workloads.iter().find(|w| w.name == "own").unwrap();
    assert_eq!(own.container.scratch, vec!["/run/own".to_string(), "/tmp".to_string()]);
}

fn errors(src: &str) -> Vec<(Code, String)> {
    common::errors(src).into_iter().map(|d| (d.code, d.message)).collect()
}

fn with_writable(list: &str, volume: &str) -> String {
    format!(
        "solution s {{ version = \"1\" namespace = \"s\" }}\nimport std.devices\n\
         fleet f {{ device = std.devices.rpi4 runtime = k3s site a {{ gateways = 1 hosts = \"gw{{n}}.a\" }} }}\n\
         service a on f {{ image = \"x/a:1\" writable = {list} {volume} }}\n"
    )
}

#[test]
fn a_writable_path_must_be_a_folder_below_the_root() {
    for bad in [
        r#"["/"]"#,
        r#"["var/run"]"#,
        r#"["/var/../etc"]"#,
        r#"["/var//run"]"#,
        r#"["/a/./b"]"#,
    ] {
        let d = errors(&with_writable(bad, ""));
        assert_eq!(
            d.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![Code::E0201],
            "{bad}: {d:?}"
        );
    }
}

#[test]
fn a_writable_path_a_volume_mounts_or_listed_twice_is_refused() {
    let d = errors(&with_writable(
        r#"["/data"]"#,
        r#"volume data { mount = "/data" size = 1Gi }"#,
    ));
    assert_eq!(d.iter().map(|x| x.0).collect::<Vec<_>>(), vec![Code::E0107], "{d:?}");
    assert!(d[0].1.contains("volume `data`"), "{d:?}");
    let d = errors(&with_writable(r#"["/run/a", "/run/a/"]"#, ""));
    assert_eq!(d.iter().map(|x| x.0).collect::<Vec<_>>(), vec![Code::E0107], "{d:?}");
}
