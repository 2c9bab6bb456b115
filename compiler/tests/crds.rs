#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! No custom resource without its CRD (issue 11): on every example (and
//! the W0406 example, whose ServiceMonitor and PrometheusRule need an
//! operator), every
//! object in the whole output (Kubernetes folders, and the manifests the
//! Ansible roles apply) whose apiVersion is not built into Kubernetes is
//! either
//! - in a Kubernetes file that no kustomization lists and that the generated
//!   `out/README.md` applies only after its folder, on a line naming the
//!   operator that installs the group's CRDs (a documented prerequisite;
//!   for the Prometheus Operator also reported by warning W0406), or
//! - applied by an Ansible task that an earlier task of the same role makes
//!   wait until its CRD is established (the role installs the operator), or
//! - in a cluster's Kubernetes folder whose CRD comes with an EKS add-on
//!   that the cluster's Terraform installs (Terraform applies before
//!   `kubectl apply -k`, docs/k8s.md "Apply order").

use iotc_compiler::diag::Code;
use iotc_compiler::emit::readme::PATH;
use iotc_compiler::emit::{emit, Target};
use iotc_compiler::ir::Solution;
use iotc_compiler::source::MemoryDb;
use iotc_compiler::{analyze, Overrides};

mod common;
use common::{example, EXAMPLES};

/// API groups served by every Kubernetes API server (no CRD needed).
fn built_in(api: &str) -> bool {
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    group.is_empty()
        || group.ends_with(".k8s.io")
        || matches!(group, "apps" | "batch" | "policy" | "autoscaling" | "extensions")
}

/// The operator whose installation brings the CRDs of a custom group, as the
/// README names it. A group missing here fails the test: a new custom kind
/// needs its prerequisite decided and documented.
fn operator(group: &str) -> &'static str {
    match group {
        "monitoring.coreos.com" => "Prometheus Operator",
        "operator.tigera.io" => "Calico operator",
        _ => panic!("custom group {group} has no known prerequisite"),
    }
}

/// The EKS add-on whose installation brings the CRDs of a custom group.
fn eks_addon(group: &str) -> Option<&'static str> {
    match group {
        "secrets-store.csi.x-k8s.io" => Some("aws-secrets-store-csi-driver-provider"),
        _ => None,
    }
}

/// The value after `key` (YAML `key: v` or a Jinja/Python dict's
/// `'key': 'v'`) at each occurrence, with its byte offset.
fn values<'a>(text: &'a str, key: &str) -> Vec<(usize, &'a str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text.get(from..).and_then(|t| t.find(key)) {
        let at = from + i;
        from = at + key.len();
        let rest = text[from..].trim_start_matches(['\'', '"']);
        let Some(rest) = rest.strip_prefix(':') else { continue };
        let v = rest.trim_start_matches([' ', '\'', '"']);
        let end = v
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-')))
            .unwrap_or(v.len());
        if end > 0 {
            out.push((at, &v[..end]));
        }
    }
    out
}

/// The (apiVersion, kind) of every object written in `text`.
fn objects(text: &str) -> Vec<(String, String)> {
    let kinds = values(text, "kind");
    values(text, "apiVersion")
        .into_iter()
        .filter_map(|(at, api)| {
            // The object's kind: the nearest `kind` after its apiVersion
            // (generated objects write apiVersion first).
            kinds
                .iter()
                .find(|(k, _)| *k > at)
                .map(|(_, kind)| (api.to_string(), kind.to_string()))
        })
        .filter(|(api, _)| api.contains('/') || api == "v1")
        .collect()
}

/// The W0406 example: a monitored model that no Prometheus scrapes, whose
/// ServiceMonitor and PrometheusRule are left to an operator.
const OPERATOR_EXAMPLE: &str = "examples/errors/W0406_monitored_model_without_prometheus.iot";

/// Each bundled example and the W0406 example: name, solution, the codes of
/// its warnings.
fn solutions() -> Vec<(String, Solution, Vec<Code>)> {
    let mut out: Vec<(String, Solution, Vec<Code>)> = EXAMPLES
        .iter()
        .map(|name| {
            let files = common::example_files(name);
            let a = analyze(
                &common::db_of(&files),
                &format!("{name}/{name}.iot"),
                &Overrides::default(),
            );
            let codes = a.diagnostics.iter().map(|d| d.code).collect();
            (name.to_string(), a.solution.unwrap(), codes)
        })
        .collect();
    let text = std::fs::read_to_string(common::repo().join(OPERATOR_EXAMPLE)).unwrap();
    let a = analyze(&MemoryDb::new().with("w.iot", &text), "w.iot", &Overrides::default());
    let codes = a.diagnostics.iter().map(|d| d.code).collect();
    out.push(("W0406".to_string(), a.solution.unwrap(), codes));
    out
}

#[test]
fn every_custom_resource_has_its_crd_installed_first() {
    let (mut by_readme, mut by_ansible, mut by_addon) = (0, 0, 0);
    for (name, sol, codes) in solutions() {
        // A bundled example lets no model go unscraped; the Prometheus
        // Operator's resources come only with the warning naming it.
        assert_eq!(codes.contains(&Code::W0406), name == "W0406", "{name}: {codes:?}");
        let files = emit(&sol, Target::ALL).unwrap();
        let readme = &files.iter().find(|f| f.path == PATH).unwrap().contents;
        for f in &files {
            let custom: Vec<_> = objects(&f.contents)
                .into_iter()
                .filter(|(api, _)| !built_in(api))
                .collect();
            for (api, kind) in custom {
                let group = api.rsplit_once('/').unwrap().0;
                let what = format!("{name}: {kind} ({api}) in {}", f.path);
                if let (Some(rest), Some(addon)) = (f.path.strip_prefix("k8s/"), eks_addon(group)) {
                    // A cloud cluster's folder (k8s/<cluster>/<file>), whose
                    // Terraform installs the add-on.
                    let (cluster, file) = rest.split_once('/').unwrap();
                    assert!(!file.contains('/'), "{what}: not a cluster's folder");
                    let tf = files
                        .iter()
                        .find(|t| t.path == format!("terraform/{cluster}/main.tf.json"))
                        .unwrap_or_else(|| panic!("{what}: no Terraform for {cluster}"));
                    let tf: serde_json::Value = serde_json::from_str(&tf.contents).unwrap();
                    assert!(
                        tf["resource"]["aws_eks_addon"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .any(|(_, a)| a["addon_name"] == addon),
                        "{what}: the Terraform of {cluster} does not install {addon}"
                    );
                    by_addon += 1;
                } else if let Some(rest) = f.path.strip_prefix("k8s/") {
                    let (dir, file) = f.path.rsplit_once('/').unwrap();
                    assert!(rest.contains('/'), "{what}");
                    // Not in its folder's kustomization: `kubectl apply -k`
                    // on a fresh cluster must not meet it.
                    let k = files
                        .iter()
                        .find(|k| k.path == format!("{dir}/kustomization.yaml"))
                        .unwrap();
                    assert!(
                        !k.contents.lines().any(|l| l.trim() == format!("- {file}")),
                        "{what}: listed by {}",
                        k.path
                    );
                    // The README applies it on its own, after the folder, on a
                    // line that names the operator bringing the CRDs.
                    let folder = readme
                        .find(&format!("kubectl apply -k {dir}`"))
                        .unwrap_or_else(|| panic!("{what}: folder"));
                    let cmd = format!("`kubectl apply -f {}`", f.path);
                    let at = readme
                        .find(&cmd)
                        .unwrap_or_else(|| panic!("{what}: the README never applies it"));
                    assert!(folder < at, "{what}: applied before its folder");
                    let line_start = readme[..at].rfind('\n').map_or(0, |i| i + 1);
                    let line = &readme[line_start..at];
                    assert!(
                        line.contains(operator(group)),
                        "{what}: `{line}` names no {}",
                        operator(group)
                    );
                    // A prerequisite the checker reported (W0406), not
                    // only documented.
                    if group == "monitoring.coreos.com" {
                        assert!(codes.contains(&Code::W0406), "{what}: without W0406");
                    }
                    assert!(
                        line.contains("only if") || line.contains("once"),
                        "{what}: `{line}` is not conditional"
                    );
                    by_readme += 1;
                } else if let Some(rest) = f.path.strip_prefix("ansible/roles/") {
                    // A role's template: the task that applies it waits for
                    // the CRD first.
                    let (role, _) = rest.split_once('/').unwrap();
                    let template = f.path.rsplit_once('/').unwrap().1;
                    let tasks = &files
                        .iter()
                        .find(|t| t.path == format!("ansible/roles/{role}/tasks/main.yml"))
                        .unwrap()
                        .contents;
                    let apply = tasks
                        .find(&format!("'ansible.builtin.template', '{template}'"))
                        .unwrap_or_else(|| panic!("{what}: no task applies it"));
                    let plural = format!("{}s", kind.to_lowercase());
                    let wait = tasks
                        .find(&format!("'crd/{plural}.{group}'"))
                        .unwrap_or_else(|| panic!("{what}: no task waits for crd/{plural}.{group}"));
                    assert!(wait < apply, "{what}: applied before its CRD is waited for");
                    let task = &tasks[tasks[..wait].rfind("- name:").unwrap()..wait];
                    assert!(
                        task.contains("'--for=condition=established'"),
                        "{what}: `{task}` does not wait for it"
                    );
                    let install = tasks
                        .find(operator(group))
                        .unwrap_or_else(|| panic!("{what}: the role does not install the {}", operator(group)));
                    assert!(install < wait, "{what}");
                    by_ansible += 1;
                } else {
                    panic!("{what}: a custom resource outside k8s/ and the Ansible roles");
                }
            }
        }
    }
    // Both kinds are met: ServiceMonitor and PrometheusRule (the W0406
    // example) and Calico's Installation (city's kubeadm site).
    assert!(by_readme >= 2, "{by_readme} Prometheus Operator resources");
    assert!(by_ansible >= 1, "{by_ansible} Ansible-applied custom resources");
    // And the SecretProviderClasses of factory's EKS cluster.
    assert!(by_addon >= 4, "{by_addon} custom resources of EKS add-ons");
}

#[test]
fn objects_finds_yaml_and_dict_forms() {
    let t =
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\n---\n{{ {'apiVersion': 'v1', 'kind': 'Secret'} }}";
    assert_eq!(
        objects(t),
        vec![
            ("monitoring.coreos.com/v1".to_string(), "ServiceMonitor".to_string()),
            ("v1".to_string(), "Secret".to_string())
        ]
    );
    assert!(built_in("networking.k8s.io/v1") && built_in("apps/v1") && !built_in("operator.tigera.io/v1"));
}

/// Whether `doc` fits an OpenAPI v3 `schema` as the API server prunes and
/// checks a custom resource: no field the schema does not name (unless it
/// allows any with `additionalProperties` or
/// `x-kubernetes-preserve-unknown-fields`), and the declared types. Errors
/// as `path: message`.
fn schema_errors(doc: &serde_json::Value, schema: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    use serde_json::Value;
    let ty = schema["type"].as_str().unwrap_or_default();
    let fits = match ty {
        "object" => doc.is_object(),
        "array" => doc.is_array(),
        "string" => doc.is_string(),
        "boolean" => doc.is_boolean(),
        "integer" => doc.is_i64() || doc.is_u64(),
        "number" => doc.is_number(),
        _ => true,
    };
    if !fits {
        out.push(format!("{path}: expected {ty}, found {doc}"));
        return;
    }
    match doc {
        Value::Object(m) => {
            if schema["x-kubernetes-preserve-unknown-fields"] == true {
                return;
            }
            for (k, v) in m {
                let at = format!("{path}.{k}");
                if let Some(s) = schema["properties"].get(k) {
                    schema_errors(v, s, &at, out);
                } else if schema["additionalProperties"].is_object() {
                    schema_errors(v, &schema["additionalProperties"], &at, out);
                } else if schema["properties"].is_object() || schema["additionalProperties"] == false {
                    out.push(format!("{at}: unknown field"));
                }
            }
            for r in schema["required"].as_array().into_iter().flatten() {
                if !m.contains_key(r.as_str().unwrap_or_default()) {
                    out.push(format!("{path}: missing required field {r}"));
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                schema_errors(v, &schema["items"], &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The served versions of the CRDs in tests/data/crds/: (apiVersion, kind)
/// → the version's `openAPIV3Schema`.
fn vendored_crds() -> std::collections::BTreeMap<(String, String), serde_json::Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/crds");
    let mut out = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let crd = common::yaml(&std::fs::read_to_string(&p).unwrap());
        let group = crd["spec"]["group"].as_str().unwrap();
        let kind = crd["spec"]["names"]["kind"].as_str().unwrap();
        for v in crd["spec"]["versions"].as_array().unwrap() {
            if v["served"] == true {
                let api = format!("{group}/{}", v["name"].as_str().unwrap());
                out.insert((api, kind.to_string()), v["schema"]["openAPIV3Schema"].clone());
            }
        }
    }
    out
}

/// Every custom resource of every example whose CRD is vendored in
/// tests/data/crds/ fits that CRD's schema (what `kubectl apply` would
/// prune or reject), checked here because the shared validators do not
/// carry these CRDs yet.
#[test]
fn custom_resources_fit_their_vendored_crds() {
    let crds = vendored_crds();
    assert!(crds.contains_key(&(
        "secrets-store.csi.x-k8s.io/v1".to_string(),
        "SecretProviderClass".to_string()
    )));
    let mut checked = 0;
    for name in EXAMPLES {
        let files = emit(&example(name), Target::ALL).unwrap();
        for f in files
            .iter()
            .filter(|f| f.path.starts_with("k8s/") && f.path.ends_with(".yaml"))
        {
            for d in common::documents(&f.contents) {
                let key = (
                    d["apiVersion"].as_str().unwrap_or_default().to_string(),
                    d["kind"].as_str().unwrap_or_default().to_string(),
                );
                let Some(schema) = crds.get(&key) else { continue };
                let mut errors = Vec::new();
                schema_errors(&d, schema, &format!("{name}: {} {}", f.path, key.1), &mut errors);
                assert!(errors.is_empty(), "{errors:#?}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 4, "{checked} custom resources checked");
    // The check can fail: an unknown field and a wrong type are found.
    let schema = &crds[&(
        "secrets-store.csi.x-k8s.io/v1".to_string(),
        "SecretProviderClass".to_string(),
    )];
    let bad = serde_json::json!({
        "apiVersion": "secrets-store.csi.x-k8s.io/v1",
        "kind": "SecretProviderClass",
        "metadata": { "name": "x" },
        "spec": { "provider": "aws", "parameters": { "usePodIdentity": true }, "secretObject": [] },
    });
    let mut errors = Vec::new();
    schema_errors(&bad, schema, "bad", &mut errors);
    assert_eq!(
        errors,
        vec![
            "bad.spec.parameters.usePodIdentity: expected string, found true".to_string(),
            "bad.spec.secretObject: unknown field".to_string()
        ]
    );
}
