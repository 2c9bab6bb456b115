#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The workloads' Secrets on the clusters and sites Ansible installs
//! (kubeadm, k3s, microk8s): `site.yml` creates each `<workload>-secrets`
//! on the group's first server, in the workload's namespace, with one key
//! per `env` or `vault` secret, its value looked up on the controller.
//! Over every example: the role's Secret, rendered with Jinja2 for each
//! entry of each group's `iotc_k8s_secrets`, holds exactly the keys the
//! group's pods read through `secretKeyRef` (those `from file` left to the
//! operator), and its values are the lookups of the references the source
//! declares; nothing is created where Ansible does not install Kubernetes.

use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::{Placement, SecretSource};
use serde_json::{json, Value};
use std::collections::BTreeSet;

mod common;
use common::{documents, example, groups, python, yaml, EXAMPLES};

fn file<'a>(files: &'a [OutputFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no {path}"))
        .contents
}

/// (namespace, Secret, key) every `secretKeyRef` of the pods under `dir`.
fn referenced(files: &[OutputFile], dir: &str) -> BTreeSet<(String, String, String)> {
    fn walk(v: &Value, ns: &str, out: &mut BTreeSet<(String, String, String)>) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("secretKeyRef") {
                    out.insert((
                        ns.to_string(),
                        r["name"].as_str().unwrap().into(),
                        r["key"].as_str().unwrap().into(),
                    ));
                }
                m.values().for_each(|x| walk(x, ns, out));
            }
            Value::Array(xs) => xs.iter().for_each(|x| walk(x, ns, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for f in files
        .iter()
        .filter(|f| f.path.starts_with(dir) && f.path.ends_with(".yaml"))
    {
        for d in documents(&f.contents) {
            let ns = d["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
            walk(&d, &ns, &mut out);
        }
    }
    out
}

/// The role's Secret for each entry, rendered as Ansible would (`combine`
/// and `lookup` written out: a lookup returns `<plugin>:<what>`).
fn rendered(files: &[OutputFile], vars: &Value) -> Vec<Value> {
    let tasks = yaml(file(files, "ansible/roles/iotc_k8s_secrets/tasks/main.yml"));
    let apply = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Create or update the workloads' Secrets")
        .unwrap();
    assert_eq!(apply["no_log"], true, "values never reach the log");
    let out = python(
        r#"
import json, sys, jinja2
d = json.load(sys.stdin)
env = jinja2.Environment(undefined=jinja2.StrictUndefined)
env.filters["to_json"] = json.dumps
env.filters["combine"] = lambda a, b: {**a, **b}
def lookup(plugin, *terms, **kw):
    if plugin == "ansible.builtin.env":
        return "env:" + terms[0]
    return {"secret": {k: "vault:%s/%s#%s" % (kw["engine_mount_point"], terms[0], k) for k in d["vault_keys"]}}
t = env.from_string(d["stdin"])
print(json.dumps([json.loads(t.render(item=i, lookup=lookup, Undefined=None, iotc_solution="s")) for i in d["items"]]))
"#,
        &json!({
            "stdin": apply["ansible.builtin.command"]["stdin"],
            "items": vars["iotc_k8s_secrets"],
            "vault_keys": vars["iotc_k8s_secrets"].as_array().unwrap().iter()
                .flat_map(|s| s["entries"].as_array().unwrap().iter().filter_map(|e| e["vault_key"].as_str()))
                .collect::<Vec<_>>(),
        }),
    );
    serde_json::from_str(&out).unwrap()
}

#[test]
fn ansible_creates_exactly_the_secrets_the_pods_read() {
    let mut created = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let files = emit(&sol, &[Target::K8s, Target::Ansible]).unwrap();
        let inv = groups(&yaml(file(&files, "ansible/inventory.yaml")));
        // Each group Ansible installs and its Kubernetes folder.
        let mut places: Vec<(String, String, Vec<&iotc_compiler::ir::Workload>)> = Vec::new();
        for c in &sol.clusters {
            let here = sol
                .workloads
                .iter()
                .filter(|w| matches!(&w.placement, Placement::Cluster { cluster, .. } if *cluster == c.name));
            places.push((
                format!("cluster_{}", c.name.replace('-', "_")),
                format!("k8s/{}/", c.name),
                here.collect(),
            ));
        }
        for f in sol.fleets.iter().filter(|f| f.runtime.is_kubernetes()) {
            for s in &f.sites {
                let here = sol.workloads.iter().filter(|w| {
                    matches!(&w.placement, Placement::Fleet { fleet, sites } if *fleet == f.name && sites.iter().any(|p| *p.site == *s.name))
                });
                places.push((
                    format!("site_{}_{}", f.name.replace('-', "_"), s.name.replace('-', "_")),
                    format!("k8s/{}/{}/", f.name, s.name),
                    here.collect(),
                ));
            }
        }
        for (group, dir, workloads) in places {
            let Some((vars, _)) = inv.get(&group) else { continue };
            let Some(list) = vars.get("iotc_k8s_secrets") else {
                continue;
            };
            let secrets = rendered(&files, vars);
            assert_eq!(secrets.len(), list.as_array().unwrap().len());
            let mut have = BTreeSet::new();
            for s in &secrets {
                assert_eq!(s["kind"], "Secret");
                let ns = s["metadata"]["namespace"].as_str().unwrap();
                let sname = s["metadata"]["name"].as_str().unwrap();
                for (key, value) in s["stringData"].as_object().unwrap() {
                    have.insert((ns.to_string(), sname.to_string(), key.clone()));
                    // The value is the lookup of the reference the source declares.
                    let w = workloads
                        .iter()
                        .find(|w| format!("{}-secrets", w.name) == sname)
                        .unwrap();
                    let r = w.container.secrets.iter().find(|r| &r.name == key).unwrap();
                    let value = value.as_str().unwrap();
                    match r.source {
                        SecretSource::Env => assert_eq!(value, format!("env:{}", r.reference)),
                        SecretSource::Vault => {
                            let (path, k) = r.reference.split_once('#').unwrap();
                            let (mount, rest) = path.split_once('/').unwrap();
                            let rest = rest.strip_prefix("data/").unwrap_or(rest);
                            assert_eq!(value, format!("vault:{mount}/{rest}#{k}"), "{name} {group}");
                        }
                        SecretSource::File => panic!("{name}: a file secret is the operator's"),
                    }
                }
            }
            let files_kept: BTreeSet<(String, String, String)> = workloads
                .iter()
                .flat_map(|w| {
                    w.container
                        .secrets
                        .iter()
                        .filter(|s| s.source == SecretSource::File)
                        .map(|s| (w.namespace.clone(), format!("{}-secrets", w.name), s.name.clone()))
                })
                .collect();
            let wanted: BTreeSet<_> = referenced(&files, &dir).difference(&files_kept).cloned().collect();
            assert_eq!(have, wanted, "{name} {group}");
            created += secrets.len();
        }
        for c in sol.clusters.iter().filter(|c| c.distribution == "eks") {
            let (g, _) = &inv[&format!("cluster_{}", c.name.replace('-', "_"))];
            assert!(g.get("iotc_k8s_secrets").is_none(), "{name}: EKS syncs its own");
        }
    }
    assert!(created >= 5, "{created} Secrets checked");
}
