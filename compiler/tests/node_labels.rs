//! What one target selects, another provides: every node label a pod of
//! the Kubernetes output selects (nodeSelector, or a required node affinity
//! `In` term) is set on at least one node of the cluster or site that runs
//! it — by the Ansible inventory's `iotc_node_labels` (which the
//! `iotc_k8s_node` / k3s roles apply) or, on AWS, by Terraform's EKS node
//! group `labels`. Labels the kubelet sets itself (`kubernetes.io/*`) are
//! left out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::{checked, documents, example, yaml, EXAMPLES};
use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::{Provider, Solution};
use iotc_compiler::source::MemoryDb;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

type Labels = BTreeMap<String, String>;

fn labels_of(v: Option<&Value>) -> Labels {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Node label sets of the inventory, keyed by the k8s output folder they
/// serve: `<cluster>` for a cluster's pools, `<fleet>/<site>` for a site.
fn inventory_nodes(g: &Value, cluster: Option<&str>, fleet: Option<&str>, out: &mut BTreeMap<String, Vec<Labels>>) {
    let vars = g.get("vars");
    let cluster = vars
        .and_then(|v| v.get("iotc_cluster"))
        .and_then(Value::as_str)
        .or(cluster);
    let fleet = vars.and_then(|v| v.get("iotc_fleet")).and_then(Value::as_str).or(fleet);
    if let Some(labels) = vars.and_then(|v| v.get("iotc_node_labels")) {
        let key = match (
            vars.and_then(|v| v.get("iotc_site")).and_then(Value::as_str),
            fleet,
            cluster,
        ) {
            (Some(site), Some(fleet), _) => format!("{fleet}/{site}"),
            (None, _, Some(cluster)) => cluster.to_string(),
            other => panic!("node labels outside a cluster or site: {other:?}"),
        };
        out.entry(key).or_default().push(labels_of(Some(labels)));
    }
    if let Some(children) = g.get("children").and_then(Value::as_object) {
        for c in children.values() {
            inventory_nodes(c, cluster, fleet, out);
        }
    }
}

fn eks_nodes(files: &[OutputFile], cluster: &str) -> Vec<Labels> {
    let path = format!("terraform/{cluster}/main.tf.json");
    let tf: Value = serde_json::from_str(&files.iter().find(|f| f.path == path).unwrap().contents).unwrap();
    tf.pointer("/resource/aws_eks_node_group")
        .and_then(Value::as_object)
        .map(|groups| groups.values().map(|g| labels_of(g.get("labels"))).collect())
        .unwrap_or_default()
}

/// A pod spec's selected labels: each entry is a key and the values of
/// which one must be on the node.
fn selected(pod: &Value) -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    for (k, v) in labels_of(pod.get("nodeSelector")) {
        out.push((k, BTreeSet::from([v])));
    }
    let terms = pod
        .pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for t in terms {
        for e in t
            .get("matchExpressions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            if e["operator"] == "In" {
                let values = e["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                out.push((e["key"].as_str().unwrap().to_string(), values));
            }
        }
    }
    out.retain(|(k, _)| !k.starts_with("kubernetes.io/"));
    out
}

fn pod_spec(doc: &Value) -> Option<&Value> {
    doc.pointer("/spec/template/spec")
        .or_else(|| doc.pointer("/spec/jobTemplate/spec/template/spec"))
}

/// A bare-metal (kubeadm) cluster whose second pool carries a label that
/// a service selects; no example has one.
const POOL_SELECTED: &str = r#"
solution labelled {
  version = "1.0.0"
}

import std.cloud

cluster dc {
  provider = baremetal { hosts = "ops{n}.dc.acme.internal" }
  node = std.cloud.baremetal_server
  nodes = 3
  labels { room = "b2" }

  pool fast {
    node = std.cloud.baremetal_server
    nodes = 2
    labels { disk = "nvme" }
  }
}

service store on dc where disk = "nvme" {
  image = "ghcr.io/acme/store:1.0.0"
  port = 8080
  cpu = 500m
  memory = 512Mi
}
"#;

/// How many selected labels of `sol`'s pods it checked.
fn check(name: &str, sol: &Solution) -> usize {
    let mut checked = 0;
    {
        let files = emit(sol, Target::ALL).unwrap();
        let inventory = yaml(
            &files
                .iter()
                .find(|f| f.path == "ansible/inventory.yaml")
                .unwrap()
                .contents,
        );
        let mut nodes = BTreeMap::new();
        inventory_nodes(&inventory["all"], None, None, &mut nodes);
        for c in &sol.clusters {
            if matches!(c.provider, Provider::Aws { .. }) {
                nodes.insert(c.name.clone(), eks_nodes(&files, &c.name));
            }
        }
        for f in files
            .iter()
            .filter(|f| f.path.starts_with("k8s/") && f.path.ends_with(".yaml"))
        {
            let Some(folder) = f
                .path
                .strip_prefix("k8s/")
                .and_then(|p| p.rsplit_once('/'))
                .map(|(d, _)| d)
            else {
                continue;
            };
            for doc in documents(&f.contents) {
                let Some(pod) = pod_spec(&doc) else { continue };
                for (key, values) in selected(pod) {
                    let on_node = nodes
                        .get(folder)
                        .into_iter()
                        .flatten()
                        .any(|labels| labels.get(&key).is_some_and(|v| values.contains(v)));
                    assert!(
                        on_node,
                        "{name}: {} selects {key} in {values:?}, which no node of {folder} carries (nodes: {:?})",
                        f.path,
                        nodes.get(folder)
                    );
                    checked += 1;
                }
            }
        }
    }
    checked
}

#[test]
fn every_label_a_pod_selects_is_on_a_node_of_its_cluster_or_site() {
    let checked: usize = EXAMPLES.iter().map(|name| check(name, &example(name))).sum();
    assert!(checked > 20, "only {checked} selected labels checked");
}

#[test]
fn a_pool_label_a_service_selects_is_on_that_pool_s_nodes() {
    let sol = checked(&MemoryDb::new().with("t.iot", POOL_SELECTED), "t.iot");
    assert!(check("pool_selected", &sol) >= 2);
}
