#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! What a fresh EKS cluster lacks, provided by the Terraform output: on
//! every example with an EKS cluster, a PersistentVolumeClaim without a
//! class gets the EBS CSI driver's default StorageClass, NetworkPolicies are
//! enforced (VPC CNI), and HorizontalPodAutoscalers have metrics-server.

use iotc_compiler::emit::{emit, Target};

mod common;
use common::example;

#[test]
fn eks_clusters_carry_storage_policy_enforcement_and_metrics() {
    let mut eks = 0;
    for name in ["factory", "city", "energy"] {
        let sol = example(name);
        let files = emit(&sol, &[Target::K8s, Target::Terraform]).unwrap();
        for c in sol.clusters.iter().filter(|c| c.distribution == "eks") {
            eks += 1;
            let tf = files
                .iter()
                .find(|f| f.path == format!("terraform/{}/main.tf.json", c.name))
                .unwrap();
            let tf: serde_json::Value = serde_json::from_str(&tf.contents).unwrap();
            let addons = tf["resource"]["aws_eks_addon"].as_object().unwrap();
            let addon = |n: &str| addons.values().find(|a| a["addon_name"] == n);
            let k8s: String = files
                .iter()
                .filter(|f| f.path.starts_with(&format!("k8s/{}/", c.name)))
                .map(|f| f.contents.as_str())
                .collect();
            if k8s.contains("\nkind: NetworkPolicy\n") {
                let cni = addon("vpc-cni").expect("vpc-cni add-on");
                assert!(cni["configuration_values"]
                    .as_str()
                    .unwrap()
                    .contains("enableNetworkPolicy"));
            }
            if k8s.contains("\nkind: PersistentVolumeClaim\n") {
                // Claims name no class: the driver's default class serves them.
                assert!(!k8s.contains("storageClassName"), "{name}: a class nobody provides");
                let ebs = addon("aws-ebs-csi-driver").expect("EBS CSI add-on");
                assert!(ebs["configuration_values"]
                    .as_str()
                    .unwrap()
                    .contains("defaultStorageClass"));
                assert!(ebs["pod_identity_association"][0]["service_account"] == "ebs-csi-controller-sa");
            }
            if k8s.contains("\nkind: HorizontalPodAutoscaler\n") {
                assert!(addon("metrics-server").is_some(), "{name}: HPA without metrics-server");
            }
            // Node groups: the autoscaler owns desired_size after creation.
            for (_, g) in tf["resource"]["aws_eks_node_group"].as_object().unwrap() {
                assert_eq!(g["lifecycle"][0]["ignore_changes"][0], "scaling_config[0].desired_size");
            }
        }
    }
    assert!(eks >= 1, "the factory runs on EKS");
}

/// The extended resources a pod template requests (limits or requests),
/// other than the kubelet's own (cpu, memory, ephemeral storage, huge
/// pages).
fn extended_requests(pod: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for c in pod["containers"].as_array().into_iter().flatten() {
        for part in ["limits", "requests"] {
            for k in c["resources"][part].as_object().into_iter().flatten().map(|(k, _)| k) {
                let builtin =
                    matches!(k.as_str(), "cpu" | "memory" | "ephemeral-storage") || k.starts_with("hugepages-");
                if !builtin && !out.contains(k) {
                    out.push(k.clone());
                }
            }
        }
    }
    out
}

/// The pod templates of a YAML stream: (object name, pod spec).
fn pod_specs(text: &str) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for doc in text.split("\n---\n") {
        let Ok(v) = serde_norway::from_str::<serde_json::Value>(doc) else {
            continue;
        };
        let name = v["metadata"]["name"].as_str().unwrap_or("").to_string();
        let spec = match v["kind"].as_str() {
            Some("Deployment" | "DaemonSet" | "StatefulSet" | "Job") => &v["spec"]["template"]["spec"],
            Some("CronJob") => &v["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        out.push((name, spec.clone()));
    }
    out
}

/// Every extended resource a pod on a cluster requests is advertised by a
/// device plugin in the same folder that can run on the pod's nodes: GPUs
/// (`nvidia.com/gpu`) by the NVIDIA device plugin, scheduled onto the pool
/// the pod selects and tolerating the GPU taint.
#[test]
fn every_extended_resource_requested_in_the_cloud_has_a_plugin() {
    let mut checked = 0;
    for name in ["factory", "city", "energy"] {
        let sol = example(name);
        let files = emit(&sol, &[Target::K8s]).unwrap();
        for c in &sol.clusters {
            let prefix = format!("k8s/{}/", c.name);
            let here: Vec<&iotc_compiler::emit::OutputFile> = files
                .iter()
                .filter(|f| f.path.starts_with(&prefix) && !f.path[prefix.len()..].contains('/'))
                .collect();
            let pods: Vec<(String, serde_json::Value)> = here.iter().flat_map(|f| pod_specs(&f.contents)).collect();
            for (obj, pod) in &pods {
                for r in extended_requests(pod) {
                    checked += 1;
                    assert_eq!(
                        r, "nvidia.com/gpu",
                        "{name}: {obj} requests {r}, which no plugin here advertises"
                    );
                    let (_, plugin) = pods
                        .iter()
                        .find(|(n, _)| n == "nvidia-device-plugin")
                        .unwrap_or_else(|| {
                            panic!(
                                "{name}: {obj} requests {r}, and k8s/{} has no NVIDIA device plugin",
                                c.name
                            )
                        });
                    let pool = pod["nodeSelector"]["iotc.dev/pool"].as_str().unwrap_or("default");
                    let terms = &plugin["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                        ["nodeSelectorTerms"][0]["matchExpressions"][0];
                    assert_eq!(terms["key"], "iotc.dev/pool");
                    assert!(
                        terms["values"].as_array().unwrap().iter().any(|v| v == pool),
                        "{name}: the NVIDIA plugin does not run on pool {pool} of {obj}"
                    );
                    assert!(
                        plugin["tolerations"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|t| t["key"] == "nvidia.com/gpu" && t["operator"] == "Exists"),
                        "{name}: the NVIDIA plugin does not tolerate the GPU pool's taint"
                    );
                }
            }
        }
    }
    assert!(checked >= 1, "the factory's training requests a GPU: {checked}");
}
