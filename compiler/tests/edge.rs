#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Cross-target invariants of the edge tier, over every example, the k8s
//! feature fixture and a generated multi-site fleet (k3s and microk8s):
//!
//! - every site of a Kubernetes fleet is its own cluster: the inventory
//!   gives it its own servers (three when it has three or more gateways),
//!   the first of them in `<engine>_init`, and the k8s output has one
//!   folder per site;
//! - every pod can land on a node of its site: some node the Ansible
//!   inventory labels and taints satisfies its node selector, required node
//!   affinity and tolerations;
//! - critical workloads leave a silent node within the documented time and
//!   daemons run on standby devices;
//! - device nodes reach pods through the device plugin: every device
//!   resource a pod requests is advertised by a plugin that runs on a node
//!   the pod fits, no unprivileged pod mounts a device node from the host,
//!   and Compose passes the same nodes and groups as Kubernetes;
//! - every device node a pod or Compose service gets is openable by one of
//!   its groups, given the groups and udev rules Ansible writes on the
//!   node (render, i2c, spi and gpio nodes go to iotc's fixed-id groups).

use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::{self, Solution};
use iotc_compiler::source::MemoryDb;
use iotc_compiler::{analyze, Overrides};
use serde_json::Value;
use std::collections::BTreeMap;

mod common;
use common::{checked, documents, python, repo, yaml, Fs};

/// A fleet of three sites (1, 3 and 5 gateways, standby at two), with a
/// camera daemon behind `where`, a negated selector, a critical service and
/// a per-gateway model server.
fn generated(runtime: &str) -> Solution {
    let src = generated_source(runtime);
    let db = MemoryDb::new().with("gen/gen.iot", &src);
    checked(&db, "gen/gen.iot")
}

fn generated_source(runtime: &str) -> String {
    format!(
        r#"solution gen {{
  version = "1.0.0"
  namespace = "gen"
}}

import std.devices

fleet sites {{
  device = std.devices.x86_gateway
  runtime = {runtime}
  labels {{ tier = "edge" }}
  site small {{
    gateways = 1
    hosts = "gw{{n}}.{{site}}.gen.internal"
    labels {{ camera = "no" }}
  }}
  site mid {{
    gateways = 3
    standby = 1
    hosts = "gw{{n}}.{{site}}.gen.internal"
    labels {{ camera = "yes" }}
  }}
  site big {{
    gateways = 5
    standby = 2
    hosts = "gw{{n}}.{{site}}.gen.internal"
    labels {{ camera = "yes"  line = "paint" }}
  }}
}}

service broker on sites {{
  image = "registry.example.com/broker:1.0.0"
  port = 1883
  protocol = tcp
  cpu = 100m
  memory = 64Mi
}}

service interlock on sites where line != "paint" {{
  image = "registry.example.com/interlock:1.0.0"
  device "/dev/ttyUSB0" as "/dev/plc"
  device "/dev/i2c-1"
  port = 8080
  critical = true
  cpu = 100m
  memory = 64Mi
  talks_to = [broker]
}}

daemon camera on sites where camera = "yes" {{
  image = "registry.example.com/camera:1.0.0"
  device "/dev/video0"
  device "/dev/snd/pcmC0D0c"
  device "/dev/dri/renderD128"
  volume ring {{ mount = "/var/cache/ring"  host_path = "/var/lib/gen/ring" }}
  cpu = 100m
  memory = 64Mi
  talks_to = [broker]
}}

daemon metrics on sites {{
  image = "registry.example.com/metrics:1.0.0"
  volume wal {{ mount = "/var/lib/wal"  size = 1Gi }}
  port = 9100
  cpu = 50m
  memory = 32Mi
}}
"#
    )
}

/// Every example, the k8s feature fixture and the generated fleets.
fn solutions() -> Vec<(String, Solution)> {
    let mut out = Vec::new();
    for name in ["city", "energy", "factory"] {
        let root = repo().join(format!("examples/{name}/{name}.iot"));
        out.push((name.to_string(), checked(&Fs, root.to_str().unwrap())));
    }
    let features = repo().join("compiler/tests/k8s/features.iot");
    out.push(("features".into(), checked(&Fs, features.to_str().unwrap())));
    for rt in ["k3s", "microk8s"] {
        out.push((format!("generated-{rt}"), generated(rt)));
    }
    out
}

/// Every group of the inventory by name, with its parent's vars merged
/// under its own (the way Ansible resolves group vars).
fn groups(inv: &Value) -> BTreeMap<String, (Value, BTreeMap<String, Value>)> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<(String, Value, serde_json::Map<String, Value>)> =
        vec![("all".into(), inv["all"].clone(), serde_json::Map::new())];
    while let Some((name, g, inherited)) = stack.pop() {
        let mut vars = inherited;
        if let Some(v) = g["vars"].as_object() {
            for (k, x) in v {
                vars.insert(k.clone(), x.clone());
            }
        }
        let hosts: BTreeMap<String, Value> = g["hosts"]
            .as_object()
            .map(|h| h.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        if let Some(children) = g["children"].as_object() {
            for (k, c) in children {
                stack.push((k.clone(), c.clone(), vars.clone()));
            }
        }
        out.insert(name, (Value::Object(vars), hosts));
    }
    out
}

fn host_names(groups: &BTreeMap<String, (Value, BTreeMap<String, Value>)>, name: &str) -> Vec<String> {
    groups
        .get(name)
        .map(|(_, h)| h.keys().cloned().collect())
        .unwrap_or_default()
}

fn site_group(fleet: &str, site: &str) -> String {
    let g = |s: &str| s.replace('-', "_");
    format!("site_{}_{}", g(fleet), g(site))
}

/// A node as the Ansible output makes it: its labels and taints.
struct Node {
    name: String,
    labels: BTreeMap<String, String>,
    taints: Vec<(String, String, String)>,
}

fn nodes_of_site(inv: &BTreeMap<String, (Value, BTreeMap<String, Value>)>, group: &str) -> Vec<Node> {
    let (vars, hosts) = &inv[group];
    let as_map = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, x)| (k.clone(), x.as_str().unwrap().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    hosts
        .iter()
        .map(|(h, hv)| {
            let labels = if hv["iotc_node_labels"].is_object() {
                as_map(&hv["iotc_node_labels"])
            } else {
                as_map(&vars["iotc_node_labels"])
            };
            let taints = hv["iotc_node_taints"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|t| {
                            let t = t.as_str().unwrap();
                            let (kv, effect) = t.split_once(':').unwrap();
                            let (k, v) = kv.split_once('=').unwrap();
                            (k.to_string(), v.to_string(), effect.to_string())
                        })
                        .collect()
                })
                .unwrap_or_default();
            Node {
                name: h.clone(),
                labels,
                taints,
            }
        })
        .collect()
}

/// Whether `pod` (a PodSpec) may be scheduled on `node`.
fn fits(pod: &Value, node: &Node) -> bool {
    if let Some(sel) = pod["nodeSelector"].as_object() {
        for (k, v) in sel {
            if node.labels.get(k).map(String::as_str) != v.as_str() {
                return false;
            }
        }
    }
    let terms = &pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
    if let Some(terms) = terms.as_array() {
        let any = terms.iter().any(|t| {
            t["matchExpressions"].as_array().into_iter().flatten().all(|e| {
                let key = e["key"].as_str().unwrap();
                let values: Vec<&str> = e["values"]
                    .as_array()
                    .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
                    .unwrap_or_default();
                let got = node.labels.get(key).map(String::as_str);
                match e["operator"].as_str().unwrap() {
                    "In" => got.is_some_and(|g| values.contains(&g)),
                    "NotIn" => !got.is_some_and(|g| values.contains(&g)),
                    "Exists" => got.is_some(),
                    "DoesNotExist" => got.is_none(),
                    op => panic!("operator {op}"),
                }
            })
        });
        if !any {
            return false;
        }
    }
    let tolerations = pod["tolerations"].as_array().cloned().unwrap_or_default();
    node.taints.iter().all(|(k, v, effect)| {
        tolerations.iter().any(|t| {
            t["key"].as_str() == Some(k.as_str())
                && (t["operator"] == "Exists" || t["value"].as_str() == Some(v.as_str()))
                && t["effect"].as_str().is_none_or(|e| e == effect)
        })
    })
}

/// `(kind, name, pod spec)` of every pod template in the documents.
fn pods(docs: &[Value]) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for d in docs {
        let kind = d["kind"].as_str().unwrap_or_default().to_string();
        let name = d["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let spec = match kind.as_str() {
            "Deployment" | "DaemonSet" | "StatefulSet" | "Job" => &d["spec"]["template"]["spec"],
            "CronJob" => &d["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        out.push((kind, name, spec.clone()));
    }
    out
}

fn file<'a>(files: &'a [OutputFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no {path}"))
        .contents
}

#[test]
fn every_site_is_its_own_cluster() {
    let mut ha_seen = false;
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::K8s, Target::Ansible]).unwrap();
        let inv = groups(&yaml(file(&files, "ansible/inventory.yaml")));
        for f in sol.fleets.iter().filter(|f| f.runtime.is_kubernetes()) {
            let engine = if f.runtime.name == "microk8s" {
                "microk8s"
            } else {
                "k3s"
            };
            let init = host_names(&inv, &format!("{engine}_init"));
            let servers = host_names(&inv, &format!("{engine}_servers"));
            let agents = host_names(&inv, &format!("{engine}_agents"));
            // Nothing is applied to the fleet as a whole.
            assert!(
                !files
                    .iter()
                    .any(|o| o.path.starts_with(&format!("k8s/{}/", f.name)) && o.path.matches('/').count() == 2),
                "{name}: a file in k8s/{}/ outside a site folder",
                f.name
            );
            for s in f.sites.iter().filter(|s| !s.hosts.is_empty()) {
                let wanted = if s.gateways >= ir::HA_MIN_GATEWAYS { 3 } else { 1 };
                assert_eq!(s.servers.len(), wanted, "{name}/{}: servers", s.name);
                ha_seen |= wanted == 3;
                let (vars, _) = &inv[&site_group(&f.name, &s.name)];
                assert_eq!(vars["iotc_k8s_server"], s.servers[0].as_str(), "{name}/{}", s.name);
                assert_eq!(
                    vars["iotc_k8s_servers"],
                    serde_json::json!(s.servers),
                    "{name}/{}",
                    s.name
                );
                for h in &s.servers {
                    assert!(
                        s.hosts.contains(h),
                        "{name}/{}: server {h} is a gateway of the site",
                        s.name
                    );
                    assert!(servers.contains(h), "{name}/{}: {h} in {engine}_servers", s.name);
                }
                assert!(
                    init.contains(&s.servers[0]),
                    "{name}/{}: first server initialises",
                    s.name
                );
                for h in s.hosts.iter().chain(&s.standby_hosts) {
                    assert!(
                        s.servers.contains(h) != agents.contains(h),
                        "{name}/{}: {h} is a server or an agent",
                        s.name
                    );
                }
                assert!(
                    files
                        .iter()
                        .any(|o| o.path == format!("k8s/{}/{}/kustomization.yaml", f.name, s.name)),
                    "{name}/{}: a kustomization for the site",
                    s.name
                );
            }
            // One init server per site, and it is that site's.
            let sites_with_hosts = f.sites.iter().filter(|s| !s.hosts.is_empty()).count();
            let of_fleet = init
                .iter()
                .filter(|h| f.sites.iter().any(|s| s.hosts.contains(h)))
                .count();
            assert_eq!(
                of_fleet, sites_with_hosts,
                "{name}/{}: one init server per site",
                f.name
            );
        }
    }
    assert!(ha_seen, "some site is HA");
}

#[test]
fn every_pod_fits_a_node_its_site_labels_and_taints() {
    let mut checked_pods = 0;
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::K8s, Target::Ansible]).unwrap();
        let inv = groups(&yaml(file(&files, "ansible/inventory.yaml")));
        for f in sol.fleets.iter().filter(|f| f.runtime.is_kubernetes()) {
            for s in f.sites.iter().filter(|s| !s.hosts.is_empty()) {
                let nodes = nodes_of_site(&inv, &site_group(&f.name, &s.name));
                let prefix = format!("k8s/{}/{}/", f.name, s.name);
                for o in files.iter().filter(|o| o.path.starts_with(&prefix)) {
                    for (kind, obj, pod) in pods(&documents(&o.contents)) {
                        checked_pods += 1;
                        assert!(
                            nodes.iter().any(|n| fits(&pod, n)),
                            "{name}: {kind} {obj} in {} fits no node of site {} ({:?}); selector {}, affinity {}",
                            o.path,
                            s.name,
                            nodes.iter().map(|n| &n.name).collect::<Vec<_>>(),
                            pod["nodeSelector"],
                            pod["affinity"]
                        );
                    }
                }
            }
        }
    }
    assert!(checked_pods > 50, "only {checked_pods} pods checked");
}

#[test]
fn critical_workloads_fail_over_and_daemons_run_on_standby() {
    let mut critical = 0;
    let mut standby_daemons = 0;
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::K8s, Target::Ansible]).unwrap();
        let inv = groups(&yaml(file(&files, "ansible/inventory.yaml")));
        for f in sol.fleets.iter().filter(|f| f.runtime.is_kubernetes()) {
            for s in &f.sites {
                let prefix = format!("k8s/{}/{}/", f.name, s.name);
                let nodes = if s.hosts.is_empty() {
                    Vec::new()
                } else {
                    nodes_of_site(&inv, &site_group(&f.name, &s.name))
                };
                // The device plugin is no workload of the solution.
                let solution_files = files
                    .iter()
                    .filter(|o| o.path.starts_with(&prefix) && !o.path.ends_with("/05-device-plugin.yaml"));
                for o in solution_files {
                    for (kind, obj, pod) in pods(&documents(&o.contents)) {
                        let w = sol
                            .workloads
                            .iter()
                            .find(|w| obj == w.name || obj.starts_with(&format!("{}-", w.name)))
                            .unwrap();
                        if w.critical {
                            critical += 1;
                            for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
                                let t = pod["tolerations"]
                                    .as_array()
                                    .and_then(|a| a.iter().find(|t| t["key"] == key))
                                    .unwrap_or_else(|| panic!("{name}: {obj} tolerates {key} briefly"));
                                assert_eq!(t["effect"], "NoExecute");
                                assert!(t["tolerationSeconds"].as_i64().unwrap() <= ir::CRITICAL_TOLERATION_SECS);
                            }
                            assert!(
                                pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                                    .is_array(),
                                "{name}: {obj} copies on different gateways"
                            );
                        }
                        if kind == "DaemonSet" {
                            for n in nodes.iter().filter(|n| !n.taints.is_empty()) {
                                let untainted = Node {
                                    name: n.name.clone(),
                                    labels: n.labels.clone(),
                                    taints: Vec::new(),
                                };
                                let selected = fits(&pod, &untainted);
                                if selected {
                                    standby_daemons += 1;
                                    assert!(fits(&pod, n), "{name}: daemon {obj} runs on standby {}", n.name);
                                }
                            }
                        }
                    }
                }
            }
        }
        // The node monitor's grace period the plan promises is the one the
        // roles set.
        for role in ["iotc_k3s", "iotc_microk8s"] {
            let defaults = file(&files, &format!("ansible/roles/{role}/defaults/main.yml"));
            assert!(
                defaults.contains(&format!(
                    "{role}_node_monitor_grace_seconds: {}",
                    ir::NODE_MONITOR_GRACE_SECS
                )),
                "{name}: {role} sets the grace period"
            );
        }
    }
    assert!(critical >= 3, "critical pods checked: {critical}");
    assert!(standby_daemons >= 3, "daemons on standby checked: {standby_daemons}");
}

#[test]
fn a_server_that_is_no_gateway_is_an_error() {
    let src = "solution s {\n  version = \"1.0.0\"\n  namespace = \"s\"\n}\n\nimport std.devices\n\n\
               fleet f {\n  device = std.devices.x86_gateway\n  runtime = k3s\n  server = \"gw9.a.internal\"\n\
               site a { gateways = 2  hosts = \"gw{n}.a.internal\" }\n}\n";
    let db = MemoryDb::new().with("s/s.iot", src);
    let a = analyze(&db, "s/s.iot", &Overrides::default());
    let d = a.diagnostics.iter().find(|d| d.is_error()).expect("an error");
    assert_eq!(d.code.as_str(), "E0101");
    assert_eq!(
        &src[d.primary.span.start as usize..d.primary.span.end as usize],
        "\"gw9.a.internal\""
    );
    // Named and a gateway: it is the first server of its site.
    let db = MemoryDb::new().with("s/s.iot", &src.replace("gw9", "gw2"));
    let sol = checked(&db, "s/s.iot");
    assert_eq!(sol.fleets[0].sites[0].servers, vec!["gw2.a.internal".to_string()]);
}

/// The resources a device plugin DaemonSet advertises: resource name →
/// (host path, container path).
fn advertised(ds: &Value) -> BTreeMap<String, (String, String)> {
    let c = &ds["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let domain = args
        .iter()
        .find_map(|a| a.strip_prefix("--domain="))
        .expect("the plugin names its domain");
    let mut out = BTreeMap::new();
    for a in args.iter().filter_map(|a| a.strip_prefix("--device=")) {
        let spec: Value = serde_json::from_str(a).unwrap();
        for g in spec["groups"].as_array().unwrap() {
            assert!(g["count"].as_u64().unwrap() >= 1);
            for p in g["paths"].as_array().unwrap() {
                out.insert(
                    format!("{domain}/{}", spec["name"].as_str().unwrap()),
                    (
                        p["path"].as_str().unwrap().to_string(),
                        p["mountPath"].as_str().unwrap().to_string(),
                    ),
                );
            }
        }
    }
    out
}

/// The device resources a pod's containers request (limits).
fn device_requests(pod: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for c in pod["containers"].as_array().into_iter().flatten() {
        for k in c["resources"]["limits"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            if k.starts_with(&format!("{}/", ir::DEVICE_RESOURCE_DOMAIN)) {
                out.push(k.clone());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_device_a_pod_requests_is_advertised_on_a_node_it_fits() {
    let mut requested = 0;
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::K8s, Target::Ansible]).unwrap();
        let inv = groups(&yaml(file(&files, "ansible/inventory.yaml")));
        for f in sol.fleets.iter().filter(|f| f.runtime.is_kubernetes()) {
            for s in f.sites.iter().filter(|s| !s.hosts.is_empty()) {
                let nodes = nodes_of_site(&inv, &site_group(&f.name, &s.name));
                let prefix = format!("k8s/{}/{}/", f.name, s.name);
                let docs: Vec<Value> = files
                    .iter()
                    .filter(|o| o.path.starts_with(&prefix))
                    .flat_map(|o| documents(&o.contents))
                    .collect();
                let plugins: Vec<&Value> = docs
                    .iter()
                    .filter(|d| d["kind"] == "DaemonSet" && d["metadata"]["name"] == "device-plugin")
                    .collect();
                for (kind, obj, pod) in pods(&docs) {
                    // The workload's devices in the IR, by resource.
                    let w = sol
                        .workloads
                        .iter()
                        .find(|w| obj == w.name.replace('_', "-") || obj.starts_with(&format!("{}-", w.name)));
                    for r in device_requests(&pod) {
                        requested += 1;
                        let plugin = plugins
                            .iter()
                            .find(|p| advertised(p).contains_key(&r))
                            .unwrap_or_else(|| {
                                panic!(
                                    "{name}: {kind} {obj} at {} requests {r}, no plugin advertises it",
                                    s.name
                                )
                            });
                        let plugin_pod = &plugin["spec"]["template"]["spec"];
                        assert!(
                            nodes.iter().any(|n| fits(&pod, n) && fits(plugin_pod, n)),
                            "{name}: {kind} {obj} requests {r} but the plugin runs on none of its nodes at {}",
                            s.name
                        );
                        let dir = &plugin_pod["volumes"][0]["hostPath"]["path"];
                        let want = if f.runtime.name == "microk8s" {
                            "/var/snap/microk8s/common/var/lib/kubelet/device-plugins"
                        } else {
                            "/var/lib/kubelet/device-plugins"
                        };
                        assert_eq!(dir, want, "{name}: kubelet socket folder at {}", s.name);
                    }
                    // Every device the IR gives the workload is requested.
                    if let Some(w) = w {
                        let mut want: Vec<String> = w.container.devices.iter().map(|d| d.resource.clone()).collect();
                        want.sort();
                        assert_eq!(device_requests(&pod), want, "{name}: {kind} {obj}");
                    }
                }
            }
        }
    }
    assert!(requested >= 10, "only {requested} device requests checked");
}

#[test]
fn no_unprivileged_pod_mounts_a_device_node() {
    for (name, sol) in solutions() {
        for o in emit(&sol, &[Target::K8s]).unwrap() {
            for (kind, obj, pod) in pods(&documents(&o.contents)) {
                let privileged = pod["containers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|c| c["securityContext"]["privileged"] == true);
                if privileged {
                    continue;
                }
                for v in pod["volumes"].as_array().into_iter().flatten() {
                    let hp = &v["hostPath"];
                    let path = hp["path"].as_str().unwrap_or_default();
                    let ty = hp["type"].as_str().unwrap_or_default();
                    assert!(
                        !path.starts_with("/dev") && !matches!(ty, "CharDevice" | "BlockDevice"),
                        "{name}: {kind} {obj} in {} mounts {path} ({ty}) from the host",
                        o.path
                    );
                }
            }
        }
    }
}

/// `host:container` device mappings and supplementary group ids per
/// workload, as Compose writes them (`devices:`, `group_add` defaults).
fn compose_devices(files: &[OutputFile]) -> BTreeMap<String, (Vec<String>, Vec<i64>)> {
    let mut out = BTreeMap::new();
    for f in files
        .iter()
        .filter(|f| f.path.starts_with("compose/") && f.path.ends_with("compose.yaml"))
    {
        let doc = yaml(&f.contents);
        for (svc, v) in doc["services"].as_object().unwrap() {
            let mut devices: Vec<String> = v["devices"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect();
            devices.sort();
            let mut gids: Vec<i64> = v["group_add"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| g.as_str()?.rsplit_once(":-")?.1.trim_end_matches('}').parse().ok())
                .collect();
            gids.sort();
            if !devices.is_empty() {
                out.insert(svc.clone(), (devices, gids));
            }
        }
    }
    out
}

/// The same as Kubernetes gives them: the plugin's mapping of each
/// requested resource, and the pod's supplementary groups.
fn k8s_devices(files: &[OutputFile]) -> BTreeMap<String, (Vec<String>, Vec<i64>)> {
    let docs: Vec<Value> = files
        .iter()
        .filter(|f| f.path.starts_with("k8s/"))
        .flat_map(|f| documents(&f.contents))
        .collect();
    let mut plugin = BTreeMap::new();
    for d in docs
        .iter()
        .filter(|d| d["kind"] == "DaemonSet" && d["metadata"]["name"] == "device-plugin")
    {
        plugin.extend(advertised(d));
    }
    let mut out = BTreeMap::new();
    for d in &docs {
        let Some((_, _, pod)) = pods(std::slice::from_ref(d)).pop() else {
            continue;
        };
        let requests = device_requests(&pod);
        if requests.is_empty() {
            continue;
        }
        let mut devices: Vec<String> = requests
            .iter()
            .map(|r| {
                let (h, c) = &plugin[r];
                format!("{h}:{c}")
            })
            .collect();
        devices.sort();
        let mut gids: Vec<i64> = pod["securityContext"]["supplementalGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| g.as_i64().unwrap())
            .collect();
        gids.sort();
        let w = d["metadata"]["labels"]["app.kubernetes.io/name"]
            .as_str()
            .unwrap()
            .to_string();
        out.insert(w, (devices, gids));
    }
    out
}

#[test]
fn compose_and_kubernetes_pass_the_same_devices_and_groups() {
    // Compose cannot fail over: the same fleet without `critical`.
    let docker = {
        let src = generated_source("docker").replace("critical = true", "");
        checked(&MemoryDb::new().with("gen/gen.iot", &src), "gen/gen.iot")
    };
    let compose = compose_devices(&emit(&docker, &[Target::Compose]).unwrap());
    for rt in ["k3s", "microk8s"] {
        let k8s = k8s_devices(&emit(&generated(rt), &[Target::K8s]).unwrap());
        assert_eq!(k8s.len(), 2, "{rt}: {k8s:?}");
        assert_eq!(compose, k8s, "{rt}");
    }
}

/// The group id that owns a device node on a Debian-like host before
/// iotc's rules (udev's default rules, base-passwd's fixed ids); `None`
/// when each host picks the id.
fn debian_owner(host: &str) -> Option<i64> {
    let name = host.rsplit('/').next().unwrap();
    let any = |ps: &[&str]| ps.iter().any(|p| name.starts_with(p));
    if any(&["ttyUSB", "ttyACM", "ttyS", "ttyAMA", "rfcomm"]) {
        Some(20)
    } else if any(&["video", "media", "vchiq"]) || host.starts_with("/dev/dri/card") {
        Some(44)
    } else if host.starts_with("/dev/snd/") {
        Some(29)
    } else if host.starts_with("/dev/bus/usb/") {
        Some(46)
    } else {
        None
    }
}

/// What Ansible's udev rules say of each node (kernel name → group, mode,
/// ACL group) and the gid of each group it creates.
type Udev = (BTreeMap<String, (String, String, String)>, BTreeMap<String, i64>);

/// The udev rules and groups the prepare role writes for a node with
/// these vars, rendered with Jinja2 as Ansible would: kernel name →
/// (group name, mode, setfacl group), and group name → gid.
fn udev_config(files: &[OutputFile], vars: &Value) -> Udev {
    let tasks = yaml(file(files, "ansible/roles/iotc_prepare/tasks/main.yml"));
    let tasks = tasks.as_array().unwrap();
    let rules = tasks
        .iter()
        .find(|t| t["ansible.builtin.copy"]["dest"] == "/etc/udev/rules.d/99-iotc-devices.rules")
        .expect("the prepare role writes the device rules");
    let created = tasks
        .iter()
        .find(|t| t["ansible.builtin.group"]["gid"].is_string())
        .expect("the prepare role creates the device groups with their ids");
    assert_eq!(created["loop"], "{{ iotc_prepare_device_groups }}");
    let groups = vars["iotc_prepare_device_groups"].clone();
    let script = r#"
import json, sys, jinja2
d = json.load(sys.stdin)
print(jinja2.Environment().from_string(d["content"]).render(iotc_prepare_device_groups=d["groups"]))
"#;
    let text = python(
        script,
        &serde_json::json!({ "content": rules["ansible.builtin.copy"]["content"], "groups": if groups.is_null() { serde_json::json!([]) } else { groups.clone() } }),
    );
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let field = |k: &str| {
            let start = line.find(&format!("{k}\"")).unwrap_or_else(|| panic!("{k} in {line}")) + k.len() + 1;
            line[start..].split('"').next().unwrap().to_string()
        };
        let acl = field("RUN+=");
        let acl_group = acl.split("g:").nth(1).unwrap().split(':').next().unwrap().to_string();
        assert!(acl.ends_with(":rw $devnode"), "{line}");
        out.insert(field("KERNEL=="), (field("GROUP:="), field("MODE:="), acl_group));
    }
    let gids = groups
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| (g["name"].as_str().unwrap().to_string(), g["gid"].as_i64().unwrap()))
        .collect();
    (out, gids)
}

/// Asserts that each device a workload gets is openable by its groups on a
/// node configured as Ansible configures it; returns how many it checked.
fn assert_openable(what: &str, devices: &BTreeMap<String, (Vec<String>, Vec<i64>)>, udev: &Udev) -> usize {
    let mut n = 0;
    for (w, (maps, gids)) in devices {
        for m in maps {
            let host = m.split(':').next().unwrap();
            let kernel = host.rsplit('/').next().unwrap();
            let owner = match udev.0.get(kernel) {
                Some((group, mode, _)) => {
                    assert_eq!(mode, "0660", "{what}: {host}");
                    Some(
                        *udev
                            .1
                            .get(group)
                            .unwrap_or_else(|| panic!("{what}: {group} is not created")),
                    )
                }
                None => debian_owner(host),
            };
            let owner = owner.unwrap_or_else(|| panic!("{what}: {w} gets {host}, whose group id each host picks"));
            assert!(
                gids.contains(&owner),
                "{what}: {w} gets {host} (gid {owner}) but joins only {gids:?}"
            );
            n += 1;
        }
    }
    n
}

#[test]
fn every_device_a_workload_gets_is_openable_by_its_groups() {
    let mut count = 0;
    let docker = {
        let src = generated_source("docker").replace("critical = true", "");
        (
            "generated-docker".to_string(),
            checked(&MemoryDb::new().with("gen/gen.iot", &src), "gen/gen.iot"),
        )
    };
    for (name, sol) in solutions().into_iter().chain([docker]) {
        let files = emit(&sol, &[Target::K8s, Target::Compose, Target::Ansible]).unwrap();
        let inv = groups(&yaml(file(&files, "ansible/inventory.yaml")));
        for f in &sol.fleets {
            for s in f.sites.iter().filter(|s| !s.hosts.is_empty()) {
                let (vars, _) = &inv[&site_group(&f.name, &s.name)];
                let udev = udev_config(&files, vars);
                let (prefix, devices) = if f.runtime.is_kubernetes() {
                    let prefix = format!("k8s/{}/{}/", f.name, s.name);
                    let site: Vec<OutputFile> = files.iter().filter(|o| o.path.starts_with(&prefix)).cloned().collect();
                    (prefix, k8s_devices(&site))
                } else {
                    let prefix = format!("compose/{}/{}/", f.name, s.name);
                    let site: Vec<OutputFile> = files.iter().filter(|o| o.path.starts_with(&prefix)).cloned().collect();
                    (prefix, compose_devices(&site))
                };
                count += assert_openable(&format!("{name} {prefix}"), &devices, &udev);
            }
        }
    }
    assert!(count >= 20, "only {count} devices checked");
}

/// A host whose group of iotc's name or id differs stops the play with
/// the prepare role's message instead of being changed.
#[test]
fn a_host_group_in_the_way_of_a_pinned_device_group_stops_the_play() {
    let files = emit(&generated("k3s"), &[Target::Ansible]).unwrap();
    let tasks = yaml(file(&files, "ansible/roles/iotc_prepare/tasks/main.yml"));
    let check = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["vars"]["iotc_host_groups"] == "{{ ansible_facts['getent_group'] }}")
        .expect("the prepare role checks the host's groups");
    let script = r#"
import json, sys, jinja2
d = json.load(sys.stdin)
env = jinja2.Environment()
env.filters["dict2items"] = lambda m: [{"key": k, "value": v} for k, v in m.items()]
item = {"name": "iotc-render", "gid": 64040}
print(json.dumps([all(bool(env.compile_expression(t)(item=item, iotc_host_groups=h)) for t in d["that"]) for h in d["hosts"]]))
"#;
    let hosts = serde_json::json!([
        {},
        { "render": ["x", "109", ""] },
        { "iotc-render": ["x", "64040", ""], "render": ["x", "993", ""] },
        { "iotc-render": ["x", "1234", ""] },
        { "gpu": ["x", "64040", ""] },
    ]);
    let ok: Vec<bool> = serde_json::from_str(&python(
        script,
        &serde_json::json!({ "that": check["ansible.builtin.assert"]["that"], "hosts": hosts }),
    ))
    .unwrap();
    assert_eq!(ok, [true, true, true, false, false]);
}

/// Every host folder a pod writes is created by Ansible owned by the pod's
/// user: the kubelet would make it root:0755, and fsGroup does not apply
/// to hostPath volumes.
#[test]
fn every_host_folder_a_pod_writes_is_owned_by_its_user() {
    let mut checked = 0;
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::K8s, Target::Ansible]).unwrap();
        let inv = groups(&yaml(file(&files, "ansible/inventory.yaml")));
        for f in sol.fleets.iter().filter(|f| f.runtime.is_kubernetes()) {
            for s in f.sites.iter().filter(|s| !s.hosts.is_empty()) {
                let (vars, _) = &inv[&site_group(&f.name, &s.name)];
                let owned: Vec<(String, i64)> = ["iotc_prepare_writable_dirs", "iotc_prepare_model_caches"]
                    .iter()
                    .flat_map(|k| vars[*k].as_array().cloned().unwrap_or_default())
                    .map(|d| (d["path"].as_str().unwrap().to_string(), d["owner"].as_i64().unwrap()))
                    .collect();
                let prefix = format!("k8s/{}/{}/", f.name, s.name);
                let solution_files = files
                    .iter()
                    .filter(|o| o.path.starts_with(&prefix) && !o.path.ends_with("/05-device-plugin.yaml"));
                for o in solution_files {
                    for (kind, obj, pod) in pods(&documents(&o.contents)) {
                        for c in pod["containers"].as_array().unwrap() {
                            let user = c["securityContext"]["runAsUser"]
                                .as_i64()
                                .or(pod["securityContext"]["runAsUser"].as_i64())
                                .unwrap();
                            for m in c["volumeMounts"].as_array().into_iter().flatten() {
                                if m["readOnly"] == true {
                                    continue;
                                }
                                let vol = pod["volumes"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .find(|v| v["name"] == m["name"])
                                    .unwrap();
                                let Some(path) = vol["hostPath"]["path"].as_str() else {
                                    continue;
                                };
                                checked += 1;
                                assert!(
                                    owned.iter().any(|(p, o)| p == path && *o == user),
                                    "{name}: {kind} {obj} at {} writes {path} as {user}, which Ansible does not create for it",
                                    s.name
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(checked >= 5, "only {checked} writable host folders checked");
}

/// What a Pod Security level forbids in a pod (a subset of the Pod
/// Security Standards that the backend could get wrong): `None` when the
/// pod satisfies `level`, else the first field that breaks it.
fn pss_violation(pod: &Value, level: &str) -> Option<String> {
    if level == "privileged" {
        return None;
    }
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if pod[key] == true {
            return Some(key.into());
        }
    }
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .flat_map(|k| pod[*k].as_array().into_iter().flatten())
        .collect();
    for v in pod["volumes"].as_array().into_iter().flatten() {
        if !v["hostPath"].is_null() {
            return Some(format!("hostPath volume {}", v["name"]));
        }
        if level == "restricted" {
            let allowed = [
                "name",
                "configMap",
                "csi",
                "downwardAPI",
                "emptyDir",
                "ephemeral",
                "persistentVolumeClaim",
                "projected",
                "secret",
                // OCI image volumes (model artifacts): assumed allowed by
                // `restricted` on Kubernetes 1.33 (not verified here).
                "image",
            ];
            if let Some(k) = v.as_object().unwrap().keys().find(|k| !allowed.contains(&k.as_str())) {
                return Some(format!("{k} volume {}", v["name"]));
            }
        }
    }
    // Baseline: the safe sysctls only, no host process, the default
    // /proc mount, no Unconfined seccomp or AppArmor, no SELinux type or
    // user override, no capability beyond the container runtime's defaults.
    let safe_sysctls = [
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    ];
    for sysctl in pod["securityContext"]["sysctls"].as_array().into_iter().flatten() {
        if !safe_sysctls.contains(&sysctl["name"].as_str().unwrap_or_default()) {
            return Some(format!("sysctl {}", sysctl["name"]));
        }
    }
    let baseline_caps = [
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    ];
    let pod_sc = &pod["securityContext"];
    for sc in std::iter::once(pod_sc).chain(containers.iter().map(|c| &c["securityContext"])) {
        if sc["windowsOptions"]["hostProcess"] == true {
            return Some("hostProcess".into());
        }
        if sc["seccompProfile"]["type"] == "Unconfined" || sc["appArmorProfile"]["type"] == "Unconfined" {
            return Some("Unconfined seccomp or AppArmor profile".into());
        }
        let se = &sc["seLinuxOptions"];
        if !se["user"].is_null() || !se["role"].is_null() {
            return Some("SELinux user or role".into());
        }
        if let Some(t) = se["type"].as_str() {
            if ![
                "container_t",
                "container_init_t",
                "container_kvm_t",
                "container_engine_t",
            ]
            .contains(&t)
            {
                return Some(format!("SELinux type {t}"));
            }
        }
    }
    for c in &containers {
        let sc = &c["securityContext"];
        if sc["privileged"] == true {
            return Some("privileged".into());
        }
        if !sc["procMount"].is_null() && sc["procMount"] != "Default" {
            return Some(format!("{}: procMount", c["name"]));
        }
        let adds = sc["capabilities"]["add"].as_array().cloned().unwrap_or_default();
        if let Some(a) = adds
            .iter()
            .find(|a| !baseline_caps.contains(&a.as_str().unwrap_or_default()))
        {
            return Some(format!("{}: capability {a} added", c["name"]));
        }
        if c["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| !p["hostPort"].is_null())
        {
            return Some("hostPort".into());
        }
        if level == "restricted" {
            if sc["allowPrivilegeEscalation"] != false {
                return Some(format!("{}: allowPrivilegeEscalation", c["name"]));
            }
            if sc["runAsNonRoot"] != true && pod["securityContext"]["runAsNonRoot"] != true {
                return Some(format!("{}: runAsNonRoot", c["name"]));
            }
            if sc["runAsUser"] == 0 {
                return Some(format!("{}: runAsUser 0", c["name"]));
            }
            let drops = sc["capabilities"]["drop"].as_array().cloned().unwrap_or_default();
            if !drops.iter().any(|d| d == "ALL") {
                return Some(format!("{}: capabilities not dropped", c["name"]));
            }
            let adds = sc["capabilities"]["add"].as_array().cloned().unwrap_or_default();
            if adds.iter().any(|a| a != "NET_BIND_SERVICE") {
                return Some(format!("{}: capabilities added", c["name"]));
            }
            let seccomp = sc["seccompProfile"]["type"]
                .as_str()
                .or(pod["securityContext"]["seccompProfile"]["type"].as_str());
            if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
                return Some(format!("{}: seccomp profile", c["name"]));
            }
        }
    }
    None
}

/// The least permissive Pod Security level that admits `pod`.
fn pss_needed(pod: &Value) -> &'static str {
    ["restricted", "baseline", "privileged"]
        .into_iter()
        .find(|l| pss_violation(pod, l).is_none())
        .unwrap_or("privileged")
}

fn pss_rank(level: &str) -> usize {
    ["restricted", "baseline", "privileged"]
        .iter()
        .position(|l| *l == level)
        .unwrap_or_else(|| panic!("unknown Pod Security level {level}"))
}

/// For every example and every namespace emitted: (a) every pod is admitted
/// by the Pod Security level its namespace enforces, (b) no namespace is more
/// permissive than its strictest-needing pod (enforce = the highest level one
/// of its pods needs; `restricted` when it has none), warn and audit are
/// `restricted` or the enforced level, and (c) the checker's
/// `ir::Workload::pod_security` is exactly what the workload's pods need.
#[test]
fn every_pod_satisfies_its_namespaces_pod_security_level() {
    let mut pods_checked = 0;
    let mut levels_seen = std::collections::BTreeSet::new();
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::K8s]).unwrap();
        let dirs: std::collections::BTreeSet<&str> = files
            .iter()
            .filter_map(|f| f.path.rsplit_once('/').map(|(d, _)| d))
            .collect();
        for dir in dirs {
            let docs: Vec<Value> = files
                .iter()
                .filter(|f| f.path.rsplit_once('/').map(|(d, _)| d) == Some(dir))
                .flat_map(|f| documents(&f.contents))
                .collect();
            let levels: BTreeMap<String, String> = docs
                .iter()
                .filter(|d| d["kind"] == "Namespace")
                .map(|d| {
                    let labels = &d["metadata"]["labels"];
                    let level = labels["pod-security.kubernetes.io/enforce"]
                        .as_str()
                        .unwrap_or("privileged")
                        .to_string();
                    for mode in ["warn", "audit"] {
                        let l = labels[format!("pod-security.kubernetes.io/{mode}").as_str()]
                            .as_str()
                            .unwrap_or_default();
                        assert!(
                            l == "restricted" || l == level,
                            "{name}: {dir}: {mode} level {l:?} of {}",
                            d["metadata"]["name"]
                        );
                    }
                    (d["metadata"]["name"].as_str().unwrap().to_string(), level)
                })
                .collect();
            let mut strictest_needed: BTreeMap<String, &str> = BTreeMap::new();
            for d in &docs {
                let Some((kind, obj, pod)) = pods(std::slice::from_ref(d)).pop() else {
                    continue;
                };
                let ns = d["metadata"]["namespace"].as_str().unwrap().to_string();
                let level = levels
                    .get(&ns)
                    .unwrap_or_else(|| panic!("{name}: {dir}: no Namespace {ns}"));
                pods_checked += 1;
                if let Some(v) = pss_violation(&pod, level) {
                    panic!("{name}: {kind} {obj} in {dir} breaks Pod Security `{level}` of {ns}: {v}");
                }
                let needed = pss_needed(&pod);
                levels_seen.insert(needed);
                let e = strictest_needed.entry(ns).or_insert("restricted");
                if pss_rank(needed) > pss_rank(e) {
                    *e = needed;
                }
                // The IR's decision is what the pod needs (device plugin
                // pods are the backend's own, not workloads of the IR).
                let template = if kind == "CronJob" {
                    &d["spec"]["jobTemplate"]["spec"]["template"]
                } else {
                    &d["spec"]["template"]
                };
                if let Some(wname) = template["metadata"]["labels"]["app.kubernetes.io/name"].as_str() {
                    if let Some(w) = sol.workloads.iter().find(|w| w.name == wname) {
                        assert_eq!(
                            w.pod_security.as_str(),
                            needed,
                            "{name}: {kind} {obj} in {dir}: the IR says {wname} needs {:?}",
                            w.pod_security
                        );
                    }
                }
            }
            for (ns, level) in &levels {
                let needed = strictest_needed.get(ns).copied().unwrap_or("restricted");
                assert_eq!(
                    level, needed,
                    "{name}: {dir}: {ns} enforces {level}, its strictest-needing pod needs {needed}"
                );
                // The level is the checker's (`ir::Solution::namespaces`,
                // of the folder's cluster or fleet: `k8s/<group>[/<site>]`).
                let group = dir.split('/').nth(1).unwrap();
                if let Some(n) = sol.namespaces.iter().find(|n| &n.name == ns && n.group == group) {
                    assert_eq!(n.pod_security.as_str(), level, "{name}: {dir}: {ns}");
                }
            }
            // A namespace enforcing more than `baseline` holds only pods that
            // need it: host-access workloads have their own `-host`
            // namespace, so no ordinary pod runs where `privileged` is enforced.
            for d in &docs {
                let Some((kind, obj, pod)) = pods(std::slice::from_ref(d)).pop() else {
                    continue;
                };
                let ns = d["metadata"]["namespace"].as_str().unwrap();
                if levels.get(ns).map(String::as_str) == Some("privileged") {
                    let needed = pss_needed(&pod);
                    assert_eq!(
                        needed, "privileged",
                        "{name}: {kind} {obj} in {dir} would pass `{needed}` but runs in {ns}, which enforces `privileged`"
                    );
                }
            }
        }
    }
    assert!(pods_checked > 50, "only {pods_checked} pods checked");
    assert!(
        levels_seen.contains("restricted") && levels_seen.contains("privileged"),
        "{levels_seen:?}"
    );
}

/// Whether `peer` (a NetworkPolicy peer) selects the pods of workload
/// `w` in namespace `ns`, seen from a policy in namespace `here`: the name
/// label, and the namespace by `kubernetes.io/metadata.name` when it is
/// another one (no namespaceSelector means the policy's own namespace).
fn peer_selects(peer: &Value, w: &str, ns: &str, here: &str) -> bool {
    let pod_ok = peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"].as_str() == Some(w);
    let ns_ok = match peer.get("namespaceSelector") {
        None => ns == here,
        Some(sel) => sel["matchLabels"]["kubernetes.io/metadata.name"].as_str() == Some(ns),
    };
    pod_ok && ns_ok && peer.get("ipBlock").is_none()
}

/// For every example and every Kubernetes folder: every flow between two
/// workloads of the folder has an egress rule in the caller's namespace and
/// an ingress rule in the callee's that admit it (pod and namespace
/// selectors, the callee's port), and every endpoint env value a workload
/// gets (`ingest.url`) names a host that is a Service of the callee in the
/// namespace the name says (`<svc>` = the caller's namespace,
/// `<svc>.<ns>.svc` = `<ns>`). Flows across namespaces (to and from a
/// `-host` namespace) must occur.
#[test]
fn every_flow_across_namespaces_has_a_policy_pair_and_a_resolvable_url() {
    let mut cross = 0;
    let mut urls = 0;
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::K8s]).unwrap();
        let dirs: std::collections::BTreeSet<&str> = files
            .iter()
            .filter_map(|f| f.path.rsplit_once('/').map(|(d, _)| d))
            .collect();
        for dir in dirs {
            let docs: Vec<Value> = files
                .iter()
                .filter(|f| f.path.rsplit_once('/').map(|(d, _)| d) == Some(dir))
                .flat_map(|f| documents(&f.contents))
                .collect();
            // The workloads with pods in this folder.
            let here: std::collections::BTreeSet<String> = docs
                .iter()
                .filter_map(|d| {
                    let template = match d["kind"].as_str()? {
                        "Deployment" | "DaemonSet" | "StatefulSet" | "Job" => &d["spec"]["template"],
                        "CronJob" => &d["spec"]["jobTemplate"]["spec"]["template"],
                        _ => return None,
                    };
                    template["metadata"]["labels"]["app.kubernetes.io/name"]
                        .as_str()
                        .map(str::to_string)
                })
                .collect();
            let workload = |n: &str| sol.workloads.iter().find(|w| w.name == n);
            let policies: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "NetworkPolicy").collect();
            let services: Vec<(&str, &str, &Value)> = docs
                .iter()
                .filter(|d| d["kind"] == "Service")
                .map(|d| {
                    (
                        d["metadata"]["name"].as_str().unwrap(),
                        d["metadata"]["namespace"].as_str().unwrap(),
                        &d["spec"],
                    )
                })
                .collect();
            for f in sol.flows.iter().filter(|f| f.reach.is_local()) {
                if !here.contains(&f.from) || !here.contains(&f.to) {
                    continue;
                }
                let (a, b) = (workload(&f.from).unwrap(), workload(&f.to).unwrap());
                if a.namespace == b.namespace {
                    continue;
                }
                cross += 1;
                let admits = |ns: &str, subject: &str, dir_key: &str, peers_key: &str, peer: (&str, &str)| {
                    policies.iter().any(|p| {
                        p["metadata"]["namespace"] == ns
                            && p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == subject
                            && p["spec"][dir_key].as_array().is_some_and(|rules| {
                                rules.iter().any(|r| {
                                    let port_ok = r["ports"].as_array().is_none_or(|ps| {
                                        ps.iter().any(|x| x["port"].as_u64() == Some(u64::from(f.port)))
                                    });
                                    port_ok
                                        && r[peers_key].as_array().is_some_and(|peers| {
                                            peers.iter().any(|x| peer_selects(x, peer.0, peer.1, ns))
                                        })
                                })
                            })
                    })
                };
                assert!(
                    admits(&a.namespace, &a.name, "egress", "to", (&b.name, &b.namespace)),
                    "{name}: {dir}: no egress in {} lets {} call {} in {}",
                    a.namespace,
                    a.name,
                    b.name,
                    b.namespace
                );
                assert!(
                    admits(&b.namespace, &b.name, "ingress", "from", (&a.name, &a.namespace)),
                    "{name}: {dir}: no ingress in {} admits {} from {}",
                    b.namespace,
                    b.name,
                    a.namespace
                );
            }
            // Derived endpoint values resolve to a Service of the callee.
            for w in sol.workloads.iter().filter(|w| here.contains(&w.name)) {
                for e in &w.env_endpoints {
                    let Some(callee) = workload(&e.to) else { continue };
                    if !here.contains(&callee.name) {
                        continue;
                    }
                    let Some(config) = docs.iter().find(|d| {
                        d["kind"] == "ConfigMap"
                            && d["metadata"]["namespace"] == w.namespace.as_str()
                            && d["data"][e.name.as_str()].is_string()
                            && d["metadata"]["labels"]["app.kubernetes.io/name"] == w.name.as_str()
                    }) else {
                        continue;
                    };
                    let value = config["data"][e.name.as_str()].as_str().unwrap();
                    let host = match e.part {
                        ir::EndpointPart::Url => value
                            .split_once("://")
                            .map(|(_, rest)| rest)
                            .unwrap_or(value)
                            .split(['/', ':'])
                            .next()
                            .unwrap(),
                        ir::EndpointPart::Host => value,
                        ir::EndpointPart::Port => continue,
                    };
                    // Outside the cluster (an exposure's DNS name).
                    if host.contains('.') && !host.ends_with(".svc") {
                        continue;
                    }
                    let (svc, ns) = match host.strip_suffix(".svc").and_then(|h| h.split_once('.')) {
                        Some((svc, ns)) => (svc, ns),
                        None => (host, w.namespace.as_str()),
                    };
                    urls += 1;
                    assert_eq!(
                        ns, callee.namespace,
                        "{name}: {dir}: {}'s {} = {value} names namespace {ns}, {} is in {}",
                        w.name, e.name, callee.name, callee.namespace
                    );
                    assert!(
                        services.iter().any(|(n, sns, spec)| {
                            *n == svc
                                && *sns == ns
                                && spec["selector"]["app.kubernetes.io/name"] == callee.name.as_str()
                        }),
                        "{name}: {dir}: {}'s {} = {value}: no Service {svc} selecting {} in {ns}",
                        w.name,
                        e.name,
                        callee.name
                    );
                }
            }
        }
    }
    assert!(cross > 0, "no flow across namespaces in any example");
    assert!(urls > 5, "only {urls} derived URLs checked");
}

/// The values a PromQL label matcher `label="a"` or `label=~"a|b"` in
/// `expr` admits.
fn matcher_values(expr: &str, label: &str) -> std::collections::BTreeSet<String> {
    let (Some(i), q) = (expr.find(&format!("{label}=")), '"') else {
        panic!("no {label} matcher in {expr}");
    };
    let rest = &expr[i + label.len() + 1..];
    let rest = rest.strip_prefix('~').unwrap_or(rest);
    let body = rest.strip_prefix(q).unwrap();
    let end = body.find(q).unwrap();
    body[..end].split('|').map(str::to_string).collect()
}

/// Alert rules and scrape jobs name the namespace the series really come
/// from: every alert rule's (a PrometheusRule's or a Prometheus's own
/// `alerts.yml`) `namespace` matcher admits exactly the
/// namespaces of the Services its `service` matcher names, and every
/// in-cluster Prometheus job's `namespace` relabel is the namespace of the
/// Service it discovers (a `-host` one for a server with a model cache);
/// otherwise an alert on a server moved to `<namespace>-host` never fires.
#[test]
fn alerts_and_scrape_jobs_name_the_namespace_of_their_services() {
    let (mut rules, mut jobs) = (0, 0);
    let mut host_seen = false;
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::K8s]).unwrap();
        let dirs: std::collections::BTreeSet<&str> = files
            .iter()
            .filter_map(|f| f.path.rsplit_once('/').map(|(d, _)| d))
            .collect();
        for dir in dirs {
            let docs: Vec<Value> = files
                .iter()
                .filter(|f| f.path.rsplit_once('/').map(|(d, _)| d) == Some(dir))
                .flat_map(|f| documents(&f.contents))
                .collect();
            let service_ns = |svc: &str| -> String {
                docs.iter()
                    .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == svc)
                    .and_then(|d| d["metadata"]["namespace"].as_str())
                    .unwrap_or_else(|| panic!("{name}: {dir}: no Service {svc}"))
                    .to_string()
            };
            // The rules of an operator's PrometheusRule, and those of a
            // Prometheus's own rule file.
            let mut groups: Vec<Value> = docs
                .iter()
                .filter(|d| d["kind"] == "PrometheusRule")
                .map(|d| d["spec"]["groups"].clone())
                .collect();
            for d in docs.iter().filter(|d| d["kind"] == "ConfigMap") {
                if let Some(text) = d["data"]["alerts.yml"].as_str() {
                    groups.push(yaml(text)["groups"].clone());
                }
            }
            for groups in &groups {
                for g in groups.as_array().unwrap() {
                    for r in g["rules"].as_array().unwrap() {
                        let expr = r["expr"].as_str().unwrap();
                        let wanted: std::collections::BTreeSet<String> =
                            matcher_values(expr, "service").iter().map(|s| service_ns(s)).collect();
                        host_seen |= wanted.iter().any(|n| n.ends_with("-host"));
                        assert_eq!(matcher_values(expr, "namespace"), wanted, "{name}: {dir}: {expr}");
                        rules += 1;
                    }
                }
            }
            for d in docs.iter().filter(|d| d["kind"] == "ConfigMap") {
                let Some(text) = d["data"]["prometheus.yml"].as_str() else {
                    continue;
                };
                let config = yaml(text);
                for j in config["scrape_configs"].as_array().unwrap() {
                    let Some(host) = j["dns_sd_configs"][0]["names"][0].as_str() else {
                        continue;
                    };
                    let (svc, ns) = host.strip_suffix(".svc").unwrap().split_once('.').unwrap();
                    assert_eq!(service_ns(svc), ns, "{name}: {dir}: {host}");
                    let relabel = j["relabel_configs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|r| r["target_label"] == "namespace")
                        .unwrap();
                    assert_eq!(relabel["replacement"], ns, "{name}: {dir}: job {}", j["job_name"]);
                    jobs += 1;
                }
            }
        }
    }
    assert!(rules > 0 && jobs > 0, "{rules} rules, {jobs} jobs");
    assert!(host_seen, "no alert on a server in a -host namespace");
}
