//! `05-device-plugin.yaml`: the device plugin that hands device nodes to
//! pods, for a cluster or fleet site whose workloads declare
//! `device "/dev/…"`. A namespace of its own (the plugin is the one pod that
//! must be privileged: it watches `/dev` and registers with the kubelet), and
//! a DaemonSet of squat/generic-device-plugin advertising every device
//! resource the checker named (`ir::DeviceMount::resource`). Pods request
//! the resource in `limits`; the kubelet then adds the node to the
//! container's device cgroup and creates it in the container, which no
//! hostPath of a device node does for an unprivileged pod.
//!
//! GPUs (`gpu = N`, the extended resource `nvidia.com/gpu`) are advertised
//! by the NVIDIA device plugin, in the same namespace: no node advertises
//! the resource without it, so a GPU pod would stay Pending. EKS's AL2023
//! NVIDIA AMI (which the Terraform backend picks for GPU pools) carries the
//! driver and container toolkit but not the plugin, and EKS has no add-on
//! for it; kubeadm, k3s and microk8s need it as well.

use super::meta::{self, Skips};
use super::{Ctx, Docs, GroupKind, Placed, GPU_RESOURCE, POOL_LABEL};
use crate::emit::EmitError;
use crate::ir::{Placement, DEVICE_RESOURCE_DOMAIN};
use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, Container, ContainerPort, EnvVar, HTTPGetAction, HostPathVolumeSource, Namespace,
    NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use std::collections::BTreeMap;

/// The plugin's image: squat/generic-device-plugin, a maintained plugin
/// for plain device nodes, at a released version.
pub const PLUGIN_IMAGE: &str = "ghcr.io/squat/generic-device-plugin:0.1.0";
/// The DaemonSet's name.
pub const PLUGIN_NAME: &str = "device-plugin";

/// The NVIDIA device plugin's image (NVIDIA/k8s-device-plugin), pinned to
/// a release.
pub const NVIDIA_PLUGIN_IMAGE: &str = "nvcr.io/nvidia/k8s-device-plugin:v0.17.4";
/// The NVIDIA device plugin's DaemonSet.
pub const NVIDIA_PLUGIN_NAME: &str = "nvidia-device-plugin";

/// True when a workload of the group requests GPUs (`nvidia.com/gpu`).
pub fn wants_gpus(members: &[Placed<'_>]) -> bool {
    members.iter().any(|p| p.w.container.gpu > 0)
}

/// The namespace of the solution's device plugin: `<namespace>-devices`,
/// cut to a DNS label (63 characters, with a hash) as `<namespace>-host` is.
pub fn namespace(sol_namespace: &str) -> String {
    crate::names::fit(&format!("{sol_namespace}-devices"), 63)
}

/// One resource in the plugin's `--device` flag (its JSON form).
#[derive(Debug, Serialize)]
struct DeviceSpec {
    name: String,
    groups: Vec<DeviceSpecGroup>,
}

#[derive(Debug, Serialize)]
struct DeviceSpecGroup {
    /// How many containers of the node may hold the device at once.
    count: u32,
    paths: Vec<DevicePath>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DevicePath {
    path: String,
    mount_path: String,
}

/// A resource to advertise: its host node, where containers see it, and
/// how many containers of one node hold it at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    pub resource: String,
    pub host: String,
    pub container: String,
    pub count: u32,
}

/// Every device resource the group's workloads request, with the most
/// copies of them one node runs (daemons: one; services: per gateway).
pub fn advertised(members: &[Placed<'_>]) -> Vec<Advertised> {
    let mut out: BTreeMap<String, Advertised> = BTreeMap::new();
    for p in members {
        let per_node = match &p.w.placement {
            Placement::Fleet { sites, .. } => sites.iter().map(|s| s.per_node).max().unwrap_or(1),
            Placement::Cluster { replicas, .. } => *replicas,
        }
        .max(1);
        for d in &p.w.container.devices {
            let e = out.entry(d.resource.clone()).or_insert_with(|| Advertised {
                resource: d.resource.clone(),
                host: d.host.clone(),
                container: d.container.clone(),
                count: 0,
            });
            e.count = e.count.saturating_add(per_node);
        }
    }
    out.into_values().collect()
}

/// The kubelet's device-plugin socket folder: microk8s keeps the kubelet's
/// state under its snap.
fn plugin_dir(distribution: &str) -> &'static str {
    if distribution == "microk8s" {
        "/var/snap/microk8s/common/var/lib/kubelet/device-plugins"
    } else {
        "/var/lib/kubelet/device-plugins"
    }
}

pub fn docs(ctx: &Ctx<'_>, name: &str, kind: GroupKind<'_>, members: &[Placed<'_>]) -> Result<Docs, EmitError> {
    let sol = ctx.sol;
    let mut docs = Docs::new(sol, 2);
    let devices = advertised(members);
    let gpus = wants_gpus(members);
    if devices.is_empty() && !gpus {
        return Ok(docs);
    }
    let distribution = match kind {
        GroupKind::Cluster(c) => c.distribution.as_str(),
        GroupKind::Fleet => sol
            .fleets
            .iter()
            .find(|f| f.name == name)
            .map_or("k3s", |f| f.runtime.name.as_str()),
    };
    let ns = namespace(&sol.namespace);
    let mut ns_labels = meta::solution_labels(sol);
    // The plugin needs `/dev` and the kubelet's socket folder from the host
    // and runs privileged; nothing else runs in this namespace. Warn and
    // audit at the same level: the plugin is privileged by design, so a
    // warning on every rollout would say nothing.
    for mode in ["enforce", "warn", "audit"] {
        ns_labels.insert(format!("pod-security.kubernetes.io/{mode}"), "privileged".into());
    }
    docs.push(&Namespace {
        metadata: ObjectMeta {
            name: Some(ns.clone()),
            labels: Some(ns_labels),
            ..Default::default()
        },
        ..Default::default()
    })?;

    if gpus {
        docs.push(&nvidia(ctx, &ns, kind, plugin_dir(distribution)))?;
    }
    if devices.is_empty() {
        return Ok(docs);
    }

    let mut args = vec![format!("--domain={DEVICE_RESOURCE_DOMAIN}")];
    for d in &devices {
        let short = d
            .resource
            .strip_prefix(DEVICE_RESOURCE_DOMAIN)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(&d.resource);
        let spec = DeviceSpec {
            name: short.to_string(),
            groups: vec![DeviceSpecGroup {
                count: d.count,
                paths: vec![DevicePath {
                    path: d.host.clone(),
                    mount_path: d.container.clone(),
                }],
            }],
        };
        let json = serde_json::to_string(&spec)
            .map_err(|e| super::err(format!("cannot write the device plugin's configuration: {e}")))?;
        args.push(format!("--device={json}"));
    }

    let selector = BTreeMap::from([("app.kubernetes.io/name".to_string(), PLUGIN_NAME.to_string())]);
    let mut labels = meta::solution_labels(sol);
    labels.extend(selector.clone());
    labels.insert("app.kubernetes.io/component".into(), "device-plugin".into());
    let mut skips = Skips::default();
    skips.add(
        "CKV_K8S_16",
        "the device plugin registers device nodes with the kubelet and must be privileged",
    );
    skips.add("CKV_K8S_20", "a privileged container escalates by definition");
    skips.add(
        "CKV_K8S_23",
        "the device plugin opens every advertised node under /dev as root",
    );
    skips.add("CKV_K8S_40", "the device plugin runs as root to open device nodes");
    skips.add("CKV_K8S_37", "a privileged container holds every capability");
    skips.add("CKV_K8S_43", "the device plugin is pinned to a released version");
    skips.add(
        "CKV_K8S_38",
        "the device plugin talks to the kubelet over its socket, not the API",
    );
    skips.add(
        "CKV_K8S_15",
        "IfNotPresent lets edge nodes with an intermittent uplink start from a cached image",
    );
    let mut annotations = BTreeMap::new();
    skips.annotate(&mut annotations);

    let dir = plugin_dir(distribution);
    let probe = |p: Probe| Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/health".into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(20),
        timeout_seconds: Some(3),
        ..p
    };
    let container = Container {
        name: PLUGIN_NAME.into(),
        image: Some(PLUGIN_IMAGE.into()),
        image_pull_policy: Some("IfNotPresent".into()),
        args: Some(args),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: 8080,
            ..Default::default()
        }]),
        readiness_probe: Some(probe(Probe::default())),
        liveness_probe: Some(probe(Probe {
            initial_delay_seconds: Some(10),
            ..Default::default()
        })),
        resources: Some(ResourceRequirements {
            requests: Some(quantity(50, 16 << 20)),
            limits: Some(quantity(100, 32 << 20)),
            ..Default::default()
        }),
        security_context: Some(SecurityContext {
            privileged: Some(true),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["NET_RAW".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        // The plugin looks for the kubelet's socket at its default folder.
        volume_mounts: Some(vec![
            mount("device-plugins", "/var/lib/kubelet/device-plugins"),
            mount("dev", "/dev"),
        ]),
        ..Default::default()
    };
    docs.push(&plugin_daemon_set(Plugin {
        name: PLUGIN_NAME,
        ns,
        labels,
        annotations,
        selector,
        affinity: None,
        // Every node, standby devices included: a node without
        // the device advertises none of it.
        toleration: Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        },
        container,
        volumes: vec![host_dir("device-plugins", dir), host_dir("dev", "/dev")],
    }))?;
    Ok(docs)
}

/// The NVIDIA device plugin: advertises `nvidia.com/gpu` on the nodes of
/// the GPU pools (a cluster), or on every gateway (a fleet site; a gateway
/// without an NVIDIA GPU keeps it idle: `FAIL_ON_INIT_ERROR=false`).
fn nvidia(ctx: &Ctx<'_>, ns: &str, kind: GroupKind<'_>, dir: &str) -> DaemonSet {
    let sol = ctx.sol;
    let affinity = match kind {
        GroupKind::Cluster(c) => {
            let pools: Vec<String> = c
                .pools
                .iter()
                .filter(|p| p.node.gpu > 0)
                .map(|p| p.name.clone())
                .collect();
            (!pools.is_empty()).then(|| Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key: POOL_LABEL.into(),
                                operator: "In".into(),
                                values: Some(pools),
                            }]),
                            ..Default::default()
                        }],
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            })
        }
        GroupKind::Fleet => None,
    };
    let selector = BTreeMap::from([("app.kubernetes.io/name".to_string(), NVIDIA_PLUGIN_NAME.to_string())]);
    let mut labels = meta::solution_labels(sol);
    labels.extend(selector.clone());
    labels.insert("app.kubernetes.io/component".into(), "device-plugin".into());
    let mut skips = Skips::default();
    skips.add(
        "CKV_K8S_8",
        "NVIDIA's device plugin serves no probe; the kubelet tracks its registration",
    );
    skips.add(
        "CKV_K8S_9",
        "NVIDIA's device plugin serves no probe; the kubelet tracks its registration",
    );
    skips.add(
        "CKV_K8S_23",
        "the kubelet's device-plugin socket folder belongs to root",
    );
    skips.add(
        "CKV_K8S_40",
        "the kubelet's device-plugin socket folder belongs to root",
    );
    skips.add("CKV_K8S_43", "the NVIDIA device plugin is pinned to a released version");
    skips.add(
        "CKV_K8S_38",
        "the device plugin talks to the kubelet over its socket, not the API",
    );
    skips.add(
        "CKV_K8S_15",
        "IfNotPresent lets nodes start the plugin from a cached image",
    );
    let mut annotations = BTreeMap::new();
    skips.annotate(&mut annotations);
    let container = Container {
        name: NVIDIA_PLUGIN_NAME.into(),
        image: Some(NVIDIA_PLUGIN_IMAGE.into()),
        image_pull_policy: Some("IfNotPresent".into()),
        env: Some(vec![EnvVar {
            name: "FAIL_ON_INIT_ERROR".into(),
            value: Some("false".into()),
            ..Default::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: Some(quantity(10, 32 << 20)),
            limits: Some(quantity(100, 64 << 20)),
            ..Default::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        // The plugin looks for the kubelet's socket at its default folder.
        volume_mounts: Some(vec![mount("device-plugins", "/var/lib/kubelet/device-plugins")]),
        ..Default::default()
    };
    plugin_daemon_set(Plugin {
        name: NVIDIA_PLUGIN_NAME,
        ns: ns.to_string(),
        labels,
        annotations,
        selector,
        affinity,
        // GPU pools carry the `nvidia.com/gpu` taint (Terraform).
        toleration: Toleration {
            key: Some(GPU_RESOURCE.into()),
            operator: Some("Exists".into()),
            effect: Some("NoSchedule".into()),
            ..Default::default()
        },
        container,
        volumes: vec![host_dir("device-plugins", dir)],
    })
}

/// What differs between the device plugins' DaemonSets.
struct Plugin {
    name: &'static str,
    ns: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    selector: BTreeMap<String, String>,
    affinity: Option<Affinity>,
    toleration: Toleration,
    container: Container,
    volumes: Vec<Volume>,
}

/// A device plugin's DaemonSet: node-critical, no API token, RuntimeDefault
/// seccomp, rolling updates.
fn plugin_daemon_set(p: Plugin) -> DaemonSet {
    let Plugin {
        name,
        ns,
        labels,
        annotations,
        selector,
        affinity,
        toleration,
        container,
        volumes,
    } = p;
    DaemonSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns),
            labels: Some(labels.clone()),
            annotations: meta::some_map(annotations),
            ..Default::default()
        },
        spec: Some(DaemonSetSpec {
            selector: meta::match_labels(selector),
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".into()),
                ..Default::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    priority_class_name: Some("system-node-critical".into()),
                    security_context: Some(PodSecurityContext {
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    affinity,
                    tolerations: Some(vec![toleration]),
                    containers: vec![container],
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A host folder that must exist (the kubelet's socket folder, `/dev`).
fn host_dir(name: &str, path: &str) -> Volume {
    Volume {
        name: name.into(),
        host_path: Some(HostPathVolumeSource {
            path: path.into(),
            type_: Some("Directory".into()),
        }),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..Default::default()
    }
}

/// CPU in millicores and memory in bytes, as a requests/limits map.
fn quantity(cpu: u64, mem: u64) -> BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity> {
    BTreeMap::from([
        ("cpu".to_string(), meta::cpu(cpu)),
        ("memory".to_string(), meta::bytes(mem)),
    ])
}

#[cfg(test)]
mod tests {
    use super::namespace;

    #[test]
    fn the_devices_namespace_stays_a_dns_label() {
        assert_eq!(namespace("factory"), "factory-devices");
        let long = "a".repeat(63);
        let ns = namespace(&long);
        assert!(ns.len() <= 63, "{ns}");
        assert_ne!(namespace(&long), namespace(&"b".repeat(63)));
    }
}
