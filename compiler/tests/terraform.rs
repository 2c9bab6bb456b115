//! The Terraform backend on the bundled examples: snapshots of every
//! example with a cloud tier, byte-identical re-emits, no secret values or
//! private keys in any `.tf.json`, and counts that follow the knob.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::{Provider, Solution};
use iotc_compiler::source::{ReadError, SourceDb};
use iotc_compiler::{analyze, Overrides};
use serde_json::Value;
use std::path::{Path, PathBuf};

struct Fs;

impl SourceDb for Fs {
    fn read(&self, path: &str) -> Result<String, ReadError> {
        std::fs::read_to_string(path).map_err(|e| ReadError(e.to_string()))
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// Examples whose solution has a cluster Terraform provisions.
const CLOUD_EXAMPLES: &[&str] = &["city", "factory"];

fn solve_text(root_file: &str, sets: &[String]) -> Solution {
    let overrides = Overrides {
        values: None,
        sets: sets.to_vec(),
    };
    let a = analyze(&Fs, root_file, &overrides);
    assert!(!a.has_errors(), "{root_file} should check clean: {:?}", a.diagnostics);
    a.solution.expect("a clean check yields a solution")
}

fn solve(example: &str, sets: &[String]) -> Solution {
    let path = root().join(format!("examples/{example}/{example}.iot"));
    solve_text(path.to_str().unwrap(), sets)
}

fn tf(sol: &Solution) -> Vec<OutputFile> {
    emit(sol, &[Target::Terraform]).unwrap()
}

fn json(f: &OutputFile) -> Value {
    serde_json::from_str(&f.contents).unwrap()
}

fn file<'a>(files: &'a [OutputFile], path: &str) -> &'a OutputFile {
    files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no {path} in {:?}", files.iter().map(|f| &f.path).collect::<Vec<_>>()))
}

#[test]
fn every_cloud_example_is_snapshotted_and_stable() {
    for example in CLOUD_EXAMPLES {
        let sol = solve(example, &[]);
        let files = tf(&sol);
        assert!(!files.is_empty(), "{example} has a cloud tier");
        for f in &files {
            assert!(
                f.path.starts_with("terraform/") && f.path.ends_with(".tf.json"),
                "{}",
                f.path
            );
            assert!(f.contents.ends_with("}\n"), "{}: trailing newline", f.path);
            // Valid JSON, and exactly what serde's pretty printer makes of it.
            let v = json(f);
            assert_eq!(serde_json::to_string_pretty(&v).unwrap() + "\n", f.contents);
            let name = f.path.trim_start_matches("terraform/").replace(['/', '.'], "_");
            insta::with_settings!({
                snapshot_path => format!("../../snapshots/terraform/{example}"),
                prepend_module_to_snapshot => false,
            }, {
                insta::assert_snapshot!(name, f.contents);
            });
        }
        // The same input gives the same bytes.
        assert_eq!(files, tf(&solve(example, &[])), "{example}: two emits differ");
        if let Ok(out) = std::env::var("IOTC_TF_OUT") {
            for f in &files {
                let p = Path::new(&out).join(example).join(&f.path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, &f.contents).unwrap();
            }
        }
    }
}

#[test]
fn baremetal_clusters_get_no_terraform() {
    let sol = solve("energy", &[]);
    assert!(sol
        .clusters
        .iter()
        .all(|c| matches!(c.provider, Provider::Baremetal { .. })));
    assert!(tf(&sol).is_empty());
}

/// Every string in a JSON value.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                strings(x, out);
            }
        }
        _ => {}
    }
}

#[test]
fn no_secret_value_or_private_key_in_any_tf_json() {
    // Sentinel values where the examples' secrets live: environment
    // variables and files named by `secret … from env/file`. The compiler
    // never reads them; if any showed up in the output, it would have.
    const SENTINEL: &str = "iotc-sentinel-7f3a9c-do-not-leak";
    let dir = std::env::temp_dir().join("iotc-tf-secret-sentinels");
    std::fs::create_dir_all(&dir).unwrap();
    for example in ["city", "energy", "factory"] {
        let sol = solve(example, &[]);
        for w in &sol.workloads {
            for s in &w.container.secrets {
                match s.source {
                    iotc_compiler::ir::SecretSource::Env => std::env::set_var(&s.reference, SENTINEL),
                    iotc_compiler::ir::SecretSource::File => {
                        // The real path may not be writable; write beside it.
                        let p = dir.join(s.reference.trim_start_matches('/').replace('/', "_"));
                        std::fs::write(p, SENTINEL).unwrap();
                    }
                    iotc_compiler::ir::SecretSource::Vault => {}
                }
            }
        }
        let sol = solve(example, &[]);
        for f in tf(&sol) {
            for bad in [SENTINEL, "-----BEGIN", "PRIVATE KEY", "private_key"] {
                assert!(!f.contents.contains(bad), "{}: contains {bad}", f.path);
            }
            let v = json(&f);
            // No variable with a default that looks like a credential.
            if let Some(vars) = v.get("variable").and_then(Value::as_object) {
                for (name, var) in vars {
                    let lower = name.to_lowercase();
                    if ["password", "secret", "token", "access_key", "private"]
                        .iter()
                        .any(|w| lower.contains(w))
                    {
                        let default = var.get("default");
                        assert!(
                            default.is_none()
                                || default == Some(&Value::Null)
                                || default == Some(&Value::Object(Default::default()))
                                || default.and_then(Value::as_bool).is_some()
                                || default.and_then(Value::as_u64).is_some(),
                            "{}: variable {name} has a default value",
                            f.path
                        );
                    }
                }
            }
            // Secrets Manager: containers only, values only write-only.
            if let Some(r) = v.get("resource") {
                if let Some(versions) = r.get("aws_secretsmanager_secret_version").and_then(Value::as_object) {
                    for (_, body) in versions {
                        assert!(body.get("secret_string").is_none() && body.get("secret_binary").is_none());
                        assert!(body.get("secret_string_wo").is_some());
                    }
                }
                if let Some(secrets) = r.get("aws_secretsmanager_secret").and_then(Value::as_object) {
                    for (_, body) in secrets {
                        assert!(body.get("secret_string").is_none());
                    }
                }
                // Certificates only from a CSR.
                if let Some(certs) = r.get("aws_iot_certificate").and_then(Value::as_object) {
                    for (_, body) in certs {
                        assert!(body["csr"].as_str().unwrap().contains("var.") || body["csr"] == "${each.value}");
                    }
                }
            }
            let mut all = Vec::new();
            strings(&v, &mut all);
            for s in &all {
                assert!(!s.contains(SENTINEL));
            }
        }
    }
}

fn resource<'a>(v: &'a Value, ty: &str, name: &str) -> &'a Value {
    v.get("resource")
        .and_then(|r| r.get(ty))
        .and_then(|r| r.get(name))
        .unwrap_or_else(|| panic!("no {ty}.{name}"))
}

/// The for_each keys of a resource whose `for_each` is `${local.<name>}`.
fn for_each_keys(v: &Value, ty: &str, name: &str) -> Vec<String> {
    let fe = resource(v, ty, name)["for_each"].as_str().unwrap();
    let local = fe
        .strip_prefix("${local.")
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or_else(|| panic!("{ty}.{name}: for_each {fe} is not a local"));
    v["locals"][local].as_object().unwrap().keys().cloned().collect()
}

#[test]
fn doubling_the_knob_doubles_the_things_and_moves_the_node_groups() {
    let base_sol = solve("factory", &[]);
    let factor: u32 = base_sol
        .params
        .iter()
        .find(|p| p.name == "factor")
        .unwrap()
        .value
        .parse()
        .unwrap();
    let doubled_sol = solve("factory", &[format!("factor={}", factor * 2)]);
    let base = json(file(&tf(&base_sol), "terraform/cloud/main.tf.json"));
    let doubled = json(file(&tf(&doubled_sol), "terraform/cloud/main.tf.json"));

    // A thing per gateway, keyed by the IR's expanded host names.
    let things = for_each_keys(&base, "aws_iot_thing", "gateway");
    let things2 = for_each_keys(&doubled, "aws_iot_thing", "gateway");
    let hosts: Vec<String> = base_sol
        .fleets
        .iter()
        .flat_map(|f| f.sites.iter().flat_map(|s| s.hosts.clone()))
        .collect();
    let mut sorted = hosts.clone();
    sorted.sort();
    let mut got = things.clone();
    got.sort();
    assert_eq!(got, sorted);
    assert_eq!(
        things2.len(),
        2 * things.len(),
        "doubling the knob doubles the gateway things"
    );
    // Names do not shift: every old key is still there, with the same thing name.
    for k in &things {
        assert_eq!(base["locals"]["gateways"][k], doubled["locals"]["gateways"][k], "{k}");
    }
    // Memberships follow the things.
    assert_eq!(
        resource(&doubled, "aws_iot_thing_group_membership", "gateway")["for_each"],
        "${local.gateways}"
    );

    // Node groups: desired = min = the pool's evaluated count, max = headroom.
    let cloud = doubled_sol.clusters.iter().find(|c| c.name == "cloud").unwrap();
    let base_cloud = base_sol.clusters.iter().find(|c| c.name == "cloud").unwrap();
    let mut moved = false;
    for (pool, before) in cloud.pools.iter().zip(&base_cloud.pools) {
        for (doc, p) in [(&doubled, pool), (&base, before)] {
            let sc = &resource(doc, "aws_eks_node_group", &pool.name.replace('-', "_"))["scaling_config"];
            assert_eq!(sc["desired_size"], p.nodes, "pool {}", p.name);
            assert_eq!(sc["min_size"], p.nodes, "pool {}", p.name);
            assert_eq!(sc["max_size"], (p.nodes * 2).max(p.nodes + 1), "pool {}", p.name);
        }
        moved |= pool.nodes != before.nodes;
    }
    // 14 → 28 gateways keeps the default pool at its floor of 3 nodes
    // (1 per 16, min 3); doubling once more (56 gateways) grows it to 4.
    if !moved {
        let big_sol = solve("factory", &[format!("factor={}", factor * 4)]);
        let big = json(file(&tf(&big_sol), "terraform/cloud/main.tf.json"));
        let big_cloud = big_sol.clusters.iter().find(|c| c.name == "cloud").unwrap();
        for (pool, before) in big_cloud.pools.iter().zip(&base_cloud.pools) {
            let sc = &resource(&big, "aws_eks_node_group", &pool.name.replace('-', "_"))["scaling_config"];
            assert_eq!(sc["desired_size"], pool.nodes, "pool {}", pool.name);
            assert_eq!(
                sc["max_size"],
                (pool.nodes * 2).max(pool.nodes + 1),
                "pool {}",
                pool.name
            );
            moved |= pool.nodes != before.nodes;
        }
        assert_eq!(for_each_keys(&big, "aws_iot_thing", "gateway").len(), 4 * things.len());
    }
    assert!(moved, "a larger factor should grow a node group (the IR says so)");

    // Everything else is the same set of resource names.
    let names = |v: &Value| -> Vec<String> {
        let mut out = Vec::new();
        for (ty, rs) in v["resource"].as_object().unwrap() {
            for n in rs.as_object().unwrap().keys() {
                out.push(format!("{ty}.{n}"));
            }
        }
        out
    };
    assert_eq!(names(&base), names(&doubled), "a knob change changes counts, not names");
}

#[test]
fn kubeadm_on_aws_gets_ec2_instances() {
    // The factory's cloud tier on kubeadm instead of EKS.
    let dir = std::env::temp_dir().join("iotc-tf-kubeadm");
    std::fs::create_dir_all(&dir).unwrap();
    let ex = root().join("examples/factory");
    for f in ["factory.iot", "cloud.iot"] {
        let text = std::fs::read_to_string(ex.join(f)).unwrap();
        std::fs::write(
            dir.join(f),
            text.replace("distribution = eks", "distribution = kubeadm"),
        )
        .unwrap();
    }
    let sol = solve_text(dir.join("factory.iot").to_str().unwrap(), &[]);
    let files = tf(&sol);
    let v = json(file(&files, "terraform/cloud/main.tf.json"));
    assert!(v["resource"].get("aws_eks_cluster").is_none());
    let cloud = sol.clusters.iter().find(|c| c.name == "cloud").unwrap();
    for p in &cloud.pools {
        let i = resource(&v, "aws_instance", &p.name.replace('-', "_"));
        assert_eq!(i["count"], p.nodes);
        assert_eq!(i["instance_type"], p.node.instance_type.clone().unwrap());
    }
    if let Ok(out) = std::env::var("IOTC_TF_OUT") {
        for f in &files {
            let p = Path::new(&out).join("factory-kubeadm").join(&f.path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, &f.contents).unwrap();
        }
    }
}

#[test]
fn vsphere_vms_follow_the_pool() {
    let sol = solve("city", &[]);
    let files = tf(&sol);
    let v = json(file(&files, "terraform/dc/main.tf.json"));
    let dc = sol.clusters.iter().find(|c| c.name == "dc").unwrap();
    for p in &dc.pools {
        let vm = resource(&v, "vsphere_virtual_machine", &p.name.replace('-', "_"));
        assert_eq!(vm["count"], p.nodes);
        assert_eq!(vm["num_cpus"], p.node.cpu_millis.div_ceil(1000));
        assert_eq!(vm["memory"], p.node.memory_bytes.div_ceil(1 << 20));
    }
    // No AWS cluster in the city: no IoT registry.
    assert!(!files.iter().any(|f| f.contents.contains("aws_iot_thing")));
}
