//! The Terraform backend on the bundled examples: snapshots of every
//! example with a cloud tier, byte-identical re-emits, no secret values or
//! private keys in any `.tf.json`, and counts that follow the knob.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::{Provider, Solution};
use iotc_compiler::source::{ReadError, SourceDb};
use iotc_compiler::{analyze, Overrides};
use serde_json::{Map, Value};
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
    let dir = TempDir::new("iotc-tf-secret-sentinels");
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
    let dir = TempDir::new("iotc-tf-kubeadm");
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

/// The vSphere provider's documented arguments (hashicorp/vsphere v2.12):
/// `terraform validate` cannot run on vSphere outputs here (the provider is
/// not in the offline mirror), so the emitted names are checked against the
/// docs instead. Where the names come from: the file's `source`.
fn vsphere_schema() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vsphere-provider-2.12.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// The string items of `v[key]` (an array of strings in the schema file).
fn schema_names<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Terraform JSON: a block (and each label level above it) is an object or
/// an array of objects. Returns each object with its path.
fn tf_objects<'a>(v: &'a Value, path: &str, errors: &mut Vec<String>) -> Vec<(String, &'a Map<String, Value>)> {
    match v {
        Value::Object(m) => vec![(path.to_string(), m)],
        Value::Array(a) => a
            .iter()
            .enumerate()
            .filter_map(|(i, x)| match x {
                Value::Object(m) => Some((format!("{path}[{i}]"), m)),
                _ => {
                    errors.push(format!("{path}[{i}]: a block must be an object"));
                    None
                }
            })
            .collect(),
        _ => {
            errors.push(format!("{path}: a block must be an object or an array of objects"));
            Vec::new()
        }
    }
}

/// Checks one block body against its schema entry: every key is a documented
/// argument, nested block or meta-argument; every required argument is there
/// (or, for a provider argument, documented as read from an environment
/// variable); nested blocks recursively. `at` is the schema path (no names,
/// no indices), recorded in `checked` for every key found valid.
fn check_tf_block(
    body: &Map<String, Value>,
    spec: &Value,
    meta: &[&str],
    path: &str,
    at: &str,
    errors: &mut Vec<String>,
    checked: &mut std::collections::BTreeSet<String>,
) {
    let args = schema_names(spec, "arguments");
    let blocks = spec.get("blocks").and_then(Value::as_object);
    for key in body.keys() {
        // "//" is Terraform JSON's comment property.
        if meta.contains(&key.as_str()) || key == "//" {
            continue;
        }
        if args.contains(&key.as_str()) || blocks.is_some_and(|b| b.contains_key(key)) {
            checked.insert(format!("{at}.{key}"));
        } else {
            errors.push(format!(
                "{path}.{key}: `{key}` is not an argument of `{at}` in the vSphere provider 2.12 docs (allowed: {})",
                args.join(", ")
            ));
        }
    }
    let env = spec.get("env").and_then(Value::as_object);
    for req in schema_names(spec, "required") {
        if !body.contains_key(req) && !env.is_some_and(|e| e.contains_key(req)) {
            errors.push(format!("{path}: required argument `{req}` of `{at}` is missing"));
        }
    }
    for group in spec.get("one_of").and_then(Value::as_array).into_iter().flatten() {
        let names: Vec<&str> = group
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !names.iter().any(|n| body.contains_key(*n)) {
            errors.push(format!("{path}: one of {} of `{at}` must be set", names.join(", ")));
        }
    }
    for (name, sub) in blocks.into_iter().flatten() {
        if let Some(v) = body.get(name) {
            for (p, b) in tf_objects(v, &format!("{path}.{name}"), errors) {
                check_tf_block(b, sub, &[], &p, &format!("{at}.{name}"), errors, checked);
            }
        }
    }
}

/// Whether a Terraform version constraint (`~> 2.12`, `>= 2.0, < 3.0`, …)
/// admits `version` (`major.minor.patch`).
fn tf_constraint_admits(constraint: &str, version: &str) -> bool {
    fn parse(v: &str) -> Vec<u64> {
        v.trim().split('.').map(|p| p.trim().parse().unwrap()).collect()
    }
    let have = parse(version);
    let full = |v: &[u64]| -> Vec<u64> { (0..3).map(|i| v.get(i).copied().unwrap_or(0)).collect() };
    constraint.split(',').all(|c| {
        let c = c.trim();
        let (op, v) = ["~>", ">=", "<=", "!=", ">", "<", "="]
            .iter()
            .find_map(|op| c.strip_prefix(op).map(|rest| (*op, rest)))
            .unwrap_or(("=", c));
        let want = parse(v);
        let (h, w) = (full(&have), full(&want));
        match op {
            "~>" => {
                // The rightmost given part may grow: ~> 2.12 = >= 2.12, < 3.0.
                let mut upper = want[..want.len() - 1].to_vec();
                if let Some(last) = upper.last_mut() {
                    *last += 1;
                }
                h >= w && (upper.is_empty() || h < full(&upper))
            }
            ">=" => h >= w,
            "<=" => h <= w,
            ">" => h > w,
            "<" => h < w,
            "!=" => h != w,
            _ => h == w,
        }
    })
}

/// Checks every `vsphere_*` resource, data source and provider block, and
/// the vsphere entry of `terraform.required_providers`, of one emitted
/// `.tf.json` document. Returns the errors (each naming the offending path).
fn check_vsphere_doc(
    doc: &Value,
    schema: &Value,
    file: &str,
    checked: &mut std::collections::BTreeSet<String>,
) -> Vec<String> {
    let mut errors = Vec::new();
    for kind in ["resource", "data"] {
        let Some(top) = doc.get(kind) else { continue };
        let meta = schema_names(&schema["meta_arguments"], kind);
        for (p, types) in tf_objects(top, &format!("{file}: {kind}"), &mut errors) {
            for (ty, named) in types.iter().filter(|(ty, _)| ty.starts_with("vsphere_")) {
                let Some(spec) = schema[kind].get(ty.as_str()) else {
                    errors.push(format!("{p}.{ty}: no `{ty}` {kind} in the vSphere provider 2.12 docs"));
                    continue;
                };
                for (p, names) in tf_objects(named, &format!("{p}.{ty}"), &mut errors) {
                    for (name, body) in names {
                        for (p, b) in tf_objects(body, &format!("{p}.{name}"), &mut errors) {
                            check_tf_block(b, spec, &meta, &p, &format!("{kind}.{ty}"), &mut errors, checked);
                        }
                    }
                }
            }
        }
    }
    if let Some(top) = doc.get("provider") {
        let meta = schema_names(&schema["meta_arguments"], "provider");
        for (p, providers) in tf_objects(top, &format!("{file}: provider"), &mut errors) {
            for (name, body) in providers.iter().filter(|(n, _)| n.starts_with("vsphere")) {
                let Some(spec) = schema["provider"].get(name.as_str()) else {
                    errors.push(format!("{p}.{name}: no provider `{name}` in the docs"));
                    continue;
                };
                for (p, b) in tf_objects(body, &format!("{p}.{name}"), &mut errors) {
                    check_tf_block(b, spec, &meta, &p, &format!("provider.{name}"), &mut errors, checked);
                }
            }
        }
    }
    let want = &schema["required_providers"]["vsphere"];
    for (p, t) in doc
        .get("terraform")
        .map(|t| tf_objects(t, &format!("{file}: terraform"), &mut errors))
        .unwrap_or_default()
    {
        let Some(rp) = t.get("required_providers") else {
            continue;
        };
        for (p, rp) in tf_objects(rp, &format!("{p}.required_providers"), &mut errors) {
            let Some(v) = rp.get("vsphere") else { continue };
            checked.insert("terraform.required_providers.vsphere".into());
            if v.get("source") != want.get("source") {
                errors.push(format!("{p}.vsphere.source: {} is not {}", v["source"], want["source"]));
            }
            let version = want["version"].as_str().unwrap();
            match v.get("version").and_then(Value::as_str) {
                Some(c) if tf_constraint_admits(c, version) => {}
                other => errors.push(format!(
                    "{p}.vsphere.version: {other:?} does not admit {version}, the documented version"
                )),
            }
        }
    }
    errors
}

#[test]
fn vsphere_attributes_exist_in_the_provider_schema() {
    let schema = vsphere_schema();
    assert!(schema["source"].as_array().is_some_and(|s| !s.is_empty()));
    assert!(tf_constraint_admits("~> 2.12", "2.12.0") && !tf_constraint_admits("~> 2.13", "2.12.0"));

    // Every example, and the city without a VM folder (the other branch).
    let mut sols = Vec::new();
    let mut examples: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    examples.sort();
    for dir in examples {
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        if dir.join(format!("{name}.iot")).is_file() {
            sols.push((name.clone(), solve(&name, &[])));
        }
    }
    let tmp = TempDir::new("iotc-tf-vsphere-nofolder");
    let city = std::fs::read_to_string(root().join("examples/city/city.iot")).unwrap();
    let no_folder: String = city
        .lines()
        .filter(|l| !l.trim_start().starts_with("folder = "))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        city.lines().any(|l| l.trim_start().starts_with("folder = ")),
        "the city example names a VM folder"
    );
    std::fs::write(tmp.join("city.iot"), no_folder).unwrap();
    sols.push((
        "city-without-folder".into(),
        solve_text(tmp.join("city.iot").to_str().unwrap(), &[]),
    ));

    let mut checked = std::collections::BTreeSet::new();
    let mut errors = Vec::new();
    let mut docs = Vec::new();
    for (example, sol) in &sols {
        for f in tf(sol) {
            let v = json(&f);
            let is_vsphere = ["resource", "data", "provider"].iter().any(|k| {
                v.get(*k)
                    .and_then(Value::as_object)
                    .is_some_and(|m| m.keys().any(|t| t.starts_with("vsphere")))
            });
            if is_vsphere {
                let file = format!("{example}/{}", f.path);
                errors.extend(check_vsphere_doc(&v, &schema, &file, &mut checked));
                docs.push((file, v));
            }
        }
    }
    assert!(
        errors.is_empty(),
        "vSphere output not in the provider docs:\n{}",
        errors.join("\n")
    );
    assert!(
        docs.len() >= 2,
        "the city example (and its variant) emit vSphere: {docs:?}"
    );
    // The walk reached every level the backend emits.
    for p in [
        "provider.vsphere.allow_unverified_ssl",
        "terraform.required_providers.vsphere",
        "data.vsphere_datacenter.name",
        "data.vsphere_datastore.datacenter_id",
        "data.vsphere_compute_cluster.datacenter_id",
        "data.vsphere_network.datacenter_id",
        "data.vsphere_virtual_machine.datacenter_id",
        "resource.vsphere_virtual_machine.folder",
        "resource.vsphere_virtual_machine.enable_disk_uuid",
        "resource.vsphere_virtual_machine.disk.eagerly_scrub",
        "resource.vsphere_virtual_machine.network_interface.adapter_type",
        "resource.vsphere_virtual_machine.clone.template_uuid",
        "resource.vsphere_virtual_machine.clone.customize.network_interface",
        "resource.vsphere_virtual_machine.clone.customize.linux_options.host_name",
    ] {
        assert!(checked.contains(p), "{p} was not checked; checked: {checked:#?}");
    }
    println!("vSphere attributes checked against the provider docs:\n{checked:#?}");

    // The check is not vacuous: renamed, unknown and missing names are found,
    // each with its path.
    let (file, doc) = docs.first().unwrap();
    let mut bad = doc.clone();
    let vm_name = bad["resource"]["vsphere_virtual_machine"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let vm = bad["resource"]["vsphere_virtual_machine"][&vm_name]
        .as_object_mut()
        .unwrap();
    let uuid = vm.remove("enable_disk_uuid").unwrap();
    vm.insert("enable_disk_uuids".into(), uuid);
    let nic = bad["resource"]["vsphere_virtual_machine"][&vm_name]["network_interface"][0]
        .as_object_mut()
        .unwrap();
    let net = nic.remove("network_id").unwrap();
    nic.insert("network".into(), net);
    bad["resource"]["vsphere_virtual_machine"][&vm_name]["clone"]["customize"]["linux_options"]
        .as_object_mut()
        .unwrap()
        .remove("domain");
    bad["data"]["vsphere_datastore"]["main"]
        .as_object_mut()
        .unwrap()
        .insert("datacenter".into(), Value::String("x".into()));
    bad["terraform"]["required_providers"]["vsphere"]["version"] = Value::String("~> 2.13".into());
    let found = check_vsphere_doc(&bad, &schema, file, &mut std::collections::BTreeSet::new());
    let vm_path = format!("{file}: resource.vsphere_virtual_machine.{vm_name}");
    for want in [
        format!("{vm_path}.enable_disk_uuids: "),
        format!("{vm_path}.network_interface[0].network: "),
        format!("{vm_path}.network_interface[0]: required argument `network_id`"),
        format!("{vm_path}.clone.customize.linux_options: required argument `domain`"),
        format!("{file}: data.vsphere_datastore.main.datacenter: "),
        format!("{file}: terraform.required_providers.vsphere.version: "),
    ] {
        assert!(
            found.iter().any(|e| e.starts_with(&want)),
            "expected an error starting with {want:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), 6, "{found:#?}");
}

/// Every workload on an AWS cluster that has secrets (ingest included) gets
/// its own role, assumed by its service account, that may read exactly its
/// own secrets and the pull credential of the registry it pulls from.
#[test]
fn every_workload_reads_only_its_own_secrets() {
    let sol = solve("factory", &[]);
    let doc: Value = serde_json::from_str(&tf(&sol)[0].contents).unwrap();
    let res = &doc["resource"];
    let mut checked = 0;
    for w in sol.workloads.iter().filter(|w| !w.container.secrets.is_empty()) {
        if !matches!(w.placement, iotc_compiler::ir::Placement::Cluster { .. }) {
            continue;
        }
        let (assoc_id, _) = res["aws_eks_pod_identity_association"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(_, a)| a["service_account"] == w.name.as_str())
            .unwrap_or_else(|| panic!("{} has no pod identity", w.name));
        let policy = res["aws_iam_role_policy"][format!("{assoc_id}_secrets")]["policy"]
            .as_str()
            .unwrap_or_else(|| panic!("{} may not read its secrets", w.name));
        for (id, s) in res["aws_secretsmanager_secret"].as_object().unwrap() {
            let arn = format!("${{aws_secretsmanager_secret.{id}.arn}}");
            let mine = s["tags"]["iotc.dev/workload"] == w.name.as_str()
                || w.container
                    .registry
                    .as_ref()
                    .is_some_and(|r| s["tags"]["iotc.dev/registry"] == r.as_str());
            assert_eq!(policy.contains(&format!("\"{arn}\"")), mine, "{}: {id}", w.name);
        }
        checked += 1;
    }
    assert!(checked >= 4, "{checked} workloads with secrets");
}

/// A folder of this test process's own under the system's temporary
/// folder, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover folder is harmless, the name is this process's.
        std::fs::remove_dir_all(&self.0).ok();
    }
}
