#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Every PersistentVolumeClaim has a StorageClass (issue 11, "How it is
//! shown"), over every example and a microk8s fleet with a sized volume.
//! The claims name no class, so they take the cluster's default:
//!
//! - k3s ships one (local-path), and the k3s config Ansible writes never
//!   disables it;
//! - on EKS the Terraform output installs the EBS CSI driver with a
//!   default class (the `aws-ebs-csi-driver` add-on);
//! - kubeadm and microk8s install none: the generated README's section of
//!   that cluster or fleet says so, naming every workload that claims, and
//!   what to install first.

use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::Solution;
use iotc_compiler::source::MemoryDb;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

mod common;
use common::{checked, documents, example, EXAMPLES};

fn microk8s_with_a_volume() -> Solution {
    let src = r#"solution gen {
  version = "1.0.0"
  namespace = "gen"
}

import std.devices

fleet sites {
  device = std.devices.x86_gateway
  runtime = microk8s
  site north {
    gateways = 2
    hosts = "gw{n}.north.gen.internal"
  }
}

service historian on sites {
  image = "ghcr.io/gen/historian:1.0.0"
  cpu = 100m
  memory = 128Mi
  volume data {
    mount = "/data"
    size = 1Gi
  }
}

// Two copies with a sized volume each: a StatefulSet.
service store on sites {
  image = "ghcr.io/gen/store:1.0.0"
  port = 9000
  replicas = 2
  cpu = 100m
  memory = 128Mi
  volume data {
    mount = "/data"
    size = 2Gi
  }
}
"#;
    let db = MemoryDb::new().with("gen/gen.iot", src);
    checked(&db, "gen/gen.iot")
}

/// The README's section of one cluster or fleet: the bullets after its
/// header up to the blank line that ends them.
fn section<'a>(readme: &'a str, header: &str) -> &'a str {
    let start = readme
        .find(&format!("{header}\n\n"))
        .unwrap_or_else(|| panic!("the README has a section {header}"))
        + header.len()
        + 2;
    let rest = &readme[start..];
    &rest[..rest.find("\n\n").unwrap_or(rest.len())]
}

fn file<'a>(files: &'a [OutputFile], path: &str) -> Option<&'a str> {
    files.iter().find(|f| f.path == path).map(|f| f.contents.as_str())
}

#[test]
fn every_claim_has_a_default_storage_class_provided_or_named_in_the_readme() {
    let mut solutions: Vec<(String, Solution)> = EXAMPLES.iter().map(|n| (n.to_string(), example(n))).collect();
    solutions.push(("microk8s fixture".into(), microk8s_with_a_volume()));
    let mut checked_by: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, sol) in &solutions {
        let files = emit(sol, Target::ALL).unwrap();
        let readme = file(&files, "README.md").expect("README.md");
        // Claimers per k8s folder: `k8s/<cluster>` or `k8s/<fleet>/<site>`.
        let mut claims: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in files
            .iter()
            .filter(|f| f.path.starts_with("k8s/") && f.path.ends_with(".yaml"))
        {
            // The claims, and a StatefulSet's claim templates.
            let docs = documents(&f.contents);
            let templates: Vec<Value> = docs
                .iter()
                .filter(|d| d["kind"] == "StatefulSet")
                .flat_map(|d| {
                    d["spec"]["volumeClaimTemplates"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            for d in docs.iter().chain(&templates) {
                if d["kind"] != "PersistentVolumeClaim" {
                    continue;
                }
                assert!(
                    d["spec"].get("storageClassName").is_none(),
                    "{name}: {} names a class; this test assumes the default",
                    f.path
                );
                let dir = f
                    .path
                    .rsplit_once('/')
                    .unwrap()
                    .0
                    .trim_start_matches("k8s/")
                    .to_string();
                let workload = d["metadata"]["labels"]["app.kubernetes.io/name"]
                    .as_str()
                    .unwrap()
                    .to_string();
                claims.entry(dir).or_default().insert(workload);
            }
        }
        for (dir, workloads) in &claims {
            let (distribution, header, cluster) = match dir.split_once('/') {
                None => {
                    let c = sol.clusters.iter().find(|c| &c.name == dir).unwrap();
                    (
                        c.distribution.as_str(),
                        format!("Cluster `{}`:", c.name),
                        Some(c.name.as_str()),
                    )
                }
                Some((fleet, _site)) => {
                    let f = sol.fleets.iter().find(|f| f.name == fleet).unwrap();
                    (f.runtime.name.as_str(), format!("Fleet `{}`:", f.name), None)
                }
            };
            let part = section(readme, &header);
            let storage_lines: Vec<&str> = part
                .lines()
                .filter(|l| l.trim_start().starts_with("- storage:"))
                .collect();
            match distribution {
                "k3s" => {
                    let config = file(&files, "ansible/roles/iotc_k3s/templates/config.yaml.j2").unwrap();
                    assert!(
                        !config.contains("local-storage"),
                        "{name}: k3s keeps its local-path class"
                    );
                    assert!(
                        storage_lines.is_empty(),
                        "{name}: {dir}: nothing to install by hand: {part}"
                    );
                }
                "eks" => {
                    let tf: Value = serde_json::from_str(
                        file(&files, &format!("terraform/{}/main.tf.json", cluster.unwrap())).unwrap(),
                    )
                    .unwrap();
                    let addon = tf["resource"]["aws_eks_addon"]
                        .as_object()
                        .unwrap()
                        .values()
                        .find(|a| a["addon_name"] == "aws-ebs-csi-driver")
                        .unwrap_or_else(|| panic!("{name}: {dir}: the EBS CSI driver add-on"));
                    let conf = addon["configuration_values"].as_str().unwrap();
                    assert!(
                        conf.replace(' ', "")
                            .contains(r#""defaultStorageClass"={"enabled"=true}"#),
                        "{name}: {dir}: the add-on makes its class the default: {conf}"
                    );
                    assert!(
                        storage_lines.is_empty(),
                        "{name}: {dir}: nothing to install by hand: {part}"
                    );
                }
                other => {
                    assert_eq!(
                        storage_lines.len(),
                        1,
                        "{name}: {dir} ({other}): the README says what to install: {part}"
                    );
                    let line = storage_lines[0];
                    for w in workloads {
                        assert!(
                            line.contains(&format!("`{w}`")),
                            "{name}: {dir}: the storage line names {w}: {line}"
                        );
                    }
                    assert!(line.contains("default StorageClass"), "{name}: {line}");
                    let how = if other == "microk8s" {
                        "microk8s enable hostpath-storage"
                    } else {
                        "is-default-class"
                    };
                    assert!(line.contains(how), "{name}: {line}");
                    // Before the folder is applied: the README's kubectl step
                    // of a cluster is the line just before; a fleet's comes
                    // before its sites.
                    let at = readme.find(line).unwrap();
                    let apply = readme.find(&format!("kubectl apply -k k8s/{dir}")).unwrap();
                    assert!(
                        at < apply || readme[..at].ends_with(&format!("`kubectl apply -k k8s/{dir}`.\n")),
                        "{name}: {dir}: the storage step is next to its apply"
                    );
                }
            }
            *checked_by
                .entry(match distribution {
                    "k3s" => "k3s",
                    "eks" => "eks",
                    "microk8s" => "microk8s",
                    _ => "kubeadm",
                })
                .or_default() += workloads.len();
        }
        // No storage line where nothing claims.
        for header in readme
            .lines()
            .filter(|l| l.starts_with("Cluster `") || l.starts_with("Fleet `"))
        {
            let group = header.split('`').nth(1).unwrap();
            let claimed = claims.keys().any(|d| d == group || d.starts_with(&format!("{group}/")));
            if !claimed {
                assert!(
                    !section(readme, header).contains("- storage:"),
                    "{name}: {group} claims nothing"
                );
            }
        }
    }
    for d in ["k3s", "eks", "microk8s", "kubeadm"] {
        assert!(
            checked_by.get(d).copied().unwrap_or(0) >= 1,
            "claims checked on {d}: {checked_by:?}"
        );
    }
}

/// A cluster service that autoscales with a sized volume.
fn autoscaled_with_a_volume() -> Solution {
    let src = r#"solution gen {
  version = "1.0.0"
  namespace = "gen"
}

import std.cloud

cluster dc {
  provider = baremetal { hosts = "ops{n}.dc.gen.internal" }
  distribution = k3s
  node = std.cloud.baremetal_server
  nodes = 3
}

service cache on dc {
  image = "ghcr.io/gen/cache:1.0.0"
  port = 6379
  protocol = tcp
  autoscale { min = 2  max = 5  cpu_percent = 70 }
  cpu = 100m
  memory = 128Mi
  volume data {
    mount = "/data"
    size = 5Gi
  }
}
"#;
    let db = MemoryDb::new().with("gen/gen.iot", src);
    checked(&db, "gen/gen.iot")
}

/// A ReadWriteOnce claim attaches to one node: a controller whose copies
/// can be more than one never shares a claim among them. Such a workload is
/// a StatefulSet with a claim template per sized volume, governed by a
/// headless Service that selects its pods; its autoscaler targets it; and
/// its namespace's quota admits a claim per copy up to the autoscaling
/// maximum.
#[test]
fn several_copies_never_share_a_read_write_once_claim() {
    let mut solutions: Vec<(String, Solution)> = EXAMPLES.iter().map(|n| (n.to_string(), example(n))).collect();
    solutions.push(("microk8s fixture".into(), microk8s_with_a_volume()));
    solutions.push(("autoscaled fixture".into(), autoscaled_with_a_volume()));
    let mut statefulsets = 0;
    for (name, sol) in &solutions {
        let files = emit(sol, &[Target::K8s]).unwrap();
        // Per folder, every document.
        let mut folders: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for f in files.iter().filter(|f| f.path.ends_with(".yaml")) {
            let dir = f.path.rsplit_once('/').unwrap().0.to_string();
            folders.entry(dir).or_default().extend(documents(&f.contents));
        }
        for (dir, docs) in &folders {
            let find =
                |kind: &str, name: &str| docs.iter().find(|d| d["kind"] == kind && d["metadata"]["name"] == name);
            let scaled: BTreeSet<(String, String)> = docs
                .iter()
                .filter(|d| d["kind"] == "HorizontalPodAutoscaler")
                .map(|d| {
                    let t = &d["spec"]["scaleTargetRef"];
                    let (kind, target) = (t["kind"].as_str().unwrap(), t["name"].as_str().unwrap());
                    assert!(
                        find(kind, target).is_some(),
                        "{name}: {dir}: the autoscaler {} targets a {kind} {target} that is not there",
                        d["metadata"]["name"]
                    );
                    (kind.to_string(), target.to_string())
                })
                .collect();
            let mut claims_at_most = 0u64;
            for d in docs {
                let kind = d["kind"].as_str().unwrap_or_default();
                let cname = d["metadata"]["name"].as_str().unwrap_or_default().to_string();
                let pod = &d["spec"]["template"]["spec"];
                let claimed: Vec<&str> = pod["volumes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
                    .collect();
                match kind {
                    "Deployment" => {
                        let many = d["spec"]["replicas"].as_u64().unwrap_or(1) > 1
                            || scaled.contains(&("Deployment".to_string(), cname.clone()));
                        assert!(
                            !many || claimed.is_empty(),
                            "{name}: {dir}: Deployment {cname} runs several copies on one ReadWriteOnce claim {claimed:?}"
                        );
                        claims_at_most += claimed.len() as u64;
                    }
                    "StatefulSet" => {
                        statefulsets += 1;
                        let templates: Vec<&str> = d["spec"]["volumeClaimTemplates"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|t| t["metadata"]["name"].as_str().unwrap())
                            .collect();
                        assert!(claimed.is_empty(), "{name}: {dir}: {cname} shares {claimed:?}");
                        // Every mount that is no pod volume is a template.
                        let volumes: BTreeSet<&str> = pod["volumes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|v| v["name"].as_str().unwrap())
                            .collect();
                        for c in pod["containers"].as_array().unwrap() {
                            for m in c["volumeMounts"].as_array().into_iter().flatten() {
                                let m = m["name"].as_str().unwrap();
                                assert!(
                                    volumes.contains(m) || templates.contains(&m),
                                    "{name}: {dir}: {cname} mounts {m}, which nothing provides"
                                );
                            }
                        }
                        for t in d["spec"]["volumeClaimTemplates"].as_array().unwrap() {
                            assert_eq!(t["spec"]["accessModes"][0], "ReadWriteOnce");
                        }
                        // The governing Service is headless and selects the pods.
                        let svc = d["spec"]["serviceName"].as_str().unwrap();
                        let s = find("Service", svc)
                            .unwrap_or_else(|| panic!("{name}: {dir}: {cname}'s governing Service {svc} is missing"));
                        assert_eq!(s["spec"]["clusterIP"], "None", "{name}: {dir}: {svc} is headless");
                        let labels = &d["spec"]["template"]["metadata"]["labels"];
                        for (k, v) in s["spec"]["selector"].as_object().unwrap() {
                            assert_eq!(&labels[k], v, "{name}: {dir}: {svc} selects {cname}'s pods");
                        }
                        let hpa = docs.iter().find(|h| {
                            h["kind"] == "HorizontalPodAutoscaler"
                                && h["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
                                && h["spec"]["scaleTargetRef"]["name"] == cname.as_str()
                        });
                        let copies = if let Some(h) = hpa {
                            h["spec"]["maxReplicas"].as_u64().unwrap()
                        } else {
                            d["spec"]["replicas"].as_u64().unwrap()
                        };
                        claims_at_most += copies * templates.len() as u64;
                    }
                    _ => {}
                }
            }
            // Every claim the copies can make fits the namespace's quota.
            let quota: u64 = docs
                .iter()
                .filter(|d| d["kind"] == "ResourceQuota")
                .filter_map(|d| d["spec"]["hard"]["persistentvolumeclaims"].as_str())
                .map(|n| n.parse::<u64>().unwrap())
                .sum();
            assert!(
                claims_at_most <= quota || claims_at_most == 0,
                "{name}: {dir}: {claims_at_most} claims at most, the quota admits {quota}"
            );
        }
    }
    assert!(statefulsets >= 2, "{statefulsets} StatefulSets checked");
}

/// A Docker fleet cannot give each copy its own volume: Compose has one
/// named volume per service in each gateway's project, so copies on one
/// gateway would write the same one. That is refused (E0404); one copy per
/// gateway (each with its gateway's volume) is fine, and the Compose file
/// then mounts the service's one named volume.
#[test]
fn copies_of_a_docker_service_never_share_a_gateways_volume() {
    let src = |replicas: &str| {
        format!(
            r#"solution s {{ version = "1.0.0" }}
import std.devices
fleet f {{
  device = std.devices.x86_gateway
  runtime = docker
  site a {{
    gateways = 2
    hosts = "gw{{n}}.a.internal"
  }}
}}
service db on f {{
  image = "ghcr.io/acme/db:1"
  port = 5432
  protocol = tcp
  cpu = 100m
  memory = 64Mi
  replicas = {replicas}
  volume data {{ mount = "/data"  size = 1Gi }}
}}
"#
        )
    };
    let codes = |r: &str| {
        common::errors(&src(r))
            .iter()
            .map(|d| d.code.as_str().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(codes("4"), ["E0404"], "two copies on each gateway");
    assert!(codes("1 per gateway").is_empty());
    assert!(codes("2").is_empty(), "one copy on each of the two gateways");
    let sol = common::checked(
        &iotc_compiler::source::MemoryDb::new().with("t.iot", &src("1 per gateway")),
        "t.iot",
    );
    let files = emit(&sol, &[Target::Compose]).unwrap();
    let stack = common::yaml(
        &files
            .iter()
            .find(|f| f.path == "compose/f/a/compose.yaml")
            .unwrap()
            .contents,
    );
    let mounts = stack["services"]["db"]["volumes"].as_array().unwrap();
    assert!(mounts.iter().any(|m| m["type"] == "volume" && m["target"] == "/data"));
}
