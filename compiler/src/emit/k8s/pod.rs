//! The pod template of every controller: containers, hardened security
//! context, probes, volumes, device nodes, the model fetch and scheduling.

use super::meta::{self, Skips};
use super::{Ctx, GroupKind, Placed, Unit, GPU_RESOURCE, POOL_LABEL, SITE_LABEL, STANDBY_LABEL, STANDBY_TAINT_KEY};
use crate::ir::{Container, DeviceMount, ModelRef, Placement, Workload, WorkloadKind};
use k8s_openapi::api::core::v1::{
    Affinity, CSIVolumeSource, Capabilities, ConfigMapEnvSource, ConfigMapVolumeSource, Container as K8sContainer,
    ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar, EnvVarSource, HTTPGetAction, HostPathVolumeSource,
    ImageVolumeSource, LocalObjectReference, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    ObjectFieldSelector, PersistentVolumeClaimVolumeSource, PodAffinityTerm, PodAntiAffinity, PodSecurityContext,
    PodSpec, PodTemplateSpec, PreferredSchedulingTerm, Probe, ResourceRequirements, SeccompProfile, SecretKeySelector,
    SecretVolumeSource, SecurityContext, TCPSocketAction, Toleration, TopologySpreadConstraint, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// Image that fetches `s3://` model artifacts (pinned by tag).
pub const AWS_CLI_IMAGE: &str = "amazon/aws-cli:2.17.0";
/// Image that fetches `https://` model artifacts (pinned by tag).
pub const CURL_IMAGE: &str = "curlimages/curl:8.10.1";
/// Where the optional `<model>-artifact` Secret (an AWS shared credentials
/// file under the key `credentials`) is mounted in the fetch container.
pub const ARTIFACT_CREDENTIALS_DIR: &str = "/var/run/secrets/iotc/artifact";

/// Resources of the model-fetch init container.
pub const FETCH_CPU_MILLIS: u64 = 100;
/// The label the Job controller puts on its pods, naming the Job.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";
/// Where the fetch init container of a fleet server sees the model's
/// on-disk cache folder.
pub const MODEL_CACHE_MOUNT: &str = "/var/cache/iotc-model";
pub const FETCH_CPU_LIMIT_MILLIS: u64 = 500;
pub const FETCH_MEMORY_BYTES: u64 = 256 << 20;

/// The name of the workload's ConfigMap and Secret.
pub fn config_map_name(w: &Workload) -> String {
    format!("{}-env", w.name)
}

pub fn secret_name(w: &Workload) -> String {
    format!("{}-secrets", w.name)
}

/// Name of the Secret holding credentials for fetching a model artifact.
pub fn artifact_secret_name(m: &ModelRef) -> String {
    format!("{}-artifact", meta::k8s_name(&m.model))
}

/// Name of the container's port, as Services, probes and ServiceMonitors
/// refer to it.
pub fn port_name(c: &Container) -> &'static str {
    if c.protocol == "udp" {
        "udp"
    } else if c.health.is_some() || c.metrics.is_some() {
        "http"
    } else {
        "tcp"
    }
}

/// The name of the port a Prometheus scrapes: the metrics listener of its
/// own where the checker decided one (`Container::metrics_port`), else the
/// container's port.
pub fn metrics_port_name(c: &Container) -> &'static str {
    if c.metrics_port.is_some() {
        "metrics"
    } else {
        port_name(c)
    }
}

pub fn protocol(c: &Container) -> String {
    c.protocol.to_ascii_uppercase()
}

pub use crate::emit::model_fetch::{fetch_kind, model_dir, model_path, Fetch};

/// The port a URL-like reference connects to (`https://h:8443/x` → 8443,
/// `s3://…` and `https://…` → 443, `http://…` → 80).
pub fn url_port(url: &str) -> Option<u16> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next().unwrap_or("");
    if let Some((_, port)) = authority.rsplit_once(':') {
        if let Ok(p) = port.parse() {
            return Some(p);
        }
    }
    match scheme {
        "s3" | "https" => Some(443),
        "http" => Some(80),
        _ => None,
    }
}

/// The data of the workload's ConfigMap: its `env`, plus the model's
/// coordinates for model servers and training jobs (`IOTC_MODEL_*`).
pub fn config_data(w: &Workload) -> BTreeMap<String, String> {
    let mut data = BTreeMap::new();
    if let Some(m) = &w.model {
        data.insert("IOTC_MODEL_NAME".into(), m.model.clone());
        data.insert("IOTC_MODEL_VERSION".into(), m.version.clone());
        data.insert("IOTC_MODEL_FORMAT".into(), m.format.clone());
        match w.kind {
            WorkloadKind::Train => {
                // A new version, never the served artifact (see
                // `ModelRef::store`): `<store><new version>/<file>`.
                data.insert("IOTC_MODEL_STORE".into(), m.store.clone());
                data.insert("IOTC_MODEL_FILE".into(), crate::ir::model_file(&m.format).into());
                if let Some(d) = &m.data {
                    data.insert("IOTC_TRAINING_DATA".into(), d.clone());
                }
            }
            _ => {
                data.insert("IOTC_MODEL_PATH".into(), model_path(m));
            }
        }
    }
    for (k, v) in &w.container.env {
        data.insert(k.clone(), v.clone());
    }
    data
}

/// Requests and limits of one pod, init containers included (a pod counts
/// the larger of its app containers' sum and any init container).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Footprint {
    pub cpu_request: u64,
    pub cpu_limit: u64,
    pub memory_request: u64,
    pub memory_limit: u64,
    pub gpu: u64,
}

pub fn footprint(w: &Workload) -> Footprint {
    let c = &w.container;
    let mut f = Footprint {
        cpu_request: c.cpu_millis,
        cpu_limit: c.cpu_limit_millis.max(c.cpu_millis),
        memory_request: c.memory_bytes,
        memory_limit: c.memory_bytes,
        gpu: u64::from(c.gpu),
    };
    if has_fetch_container(w) {
        f.cpu_request = f.cpu_request.max(FETCH_CPU_MILLIS);
        f.cpu_limit = f.cpu_limit.max(FETCH_CPU_LIMIT_MILLIS);
        f.memory_request = f.memory_request.max(FETCH_MEMORY_BYTES);
        f.memory_limit = f.memory_limit.max(FETCH_MEMORY_BYTES);
    }
    f
}

fn has_fetch_container(w: &Workload) -> bool {
    w.kind == WorkloadKind::Serve
        && w.model
            .as_ref()
            .and_then(|m| fetch_kind(&m.artifact))
            .is_some_and(|f| !matches!(f, Fetch::Oci(_)))
}

/// Name of the PersistentVolumeClaim of a sized volume of one controller.
pub fn claim_name(unit: &Unit<'_>, volume: &str) -> String {
    format!("{}-{}", unit.name, meta::k8s_name(volume))
}

fn image_has_digest(image: &str) -> bool {
    image.contains("@sha256:")
}

/// Requests and limits; `devices` are the extended resources of the
/// container's device nodes, one of each.
fn resources(cpu: u64, cpu_limit: u64, memory: u64, gpu: u32, devices: &[DeviceMount]) -> ResourceRequirements {
    let mut requests = BTreeMap::from([
        ("cpu".to_string(), meta::cpu(cpu)),
        ("memory".to_string(), meta::bytes(memory)),
    ]);
    let mut limits = BTreeMap::from([
        ("cpu".to_string(), meta::cpu(cpu_limit.max(cpu))),
        ("memory".to_string(), meta::bytes(memory)),
    ]);
    if gpu > 0 {
        requests.insert(GPU_RESOURCE.to_string(), meta::count(u64::from(gpu)));
        limits.insert(GPU_RESOURCE.to_string(), meta::count(u64::from(gpu)));
    }
    for d in devices {
        requests.insert(d.resource.clone(), meta::count(1));
        limits.insert(d.resource.clone(), meta::count(1));
    }
    ResourceRequirements {
        requests: Some(requests),
        limits: Some(limits),
        ..Default::default()
    }
}

fn container_security(c: &Container) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: if c.privileged { None } else { Some(false) },
        privileged: if c.privileged { Some(true) } else { None },
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        run_as_user: Some(i64::from(c.user)),
        run_as_group: Some(i64::from(c.user)),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_string()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn probes(w: &Workload) -> (Option<Probe>, Option<Probe>, Option<Probe>) {
    let c = &w.container;
    let Some(_) = c.port else { return (None, None, None) };
    if c.protocol == "udp" {
        return (None, None, None);
    }
    let port = IntOrString::String(port_name(c).to_string());
    let handler = |p: Probe| match &c.health {
        Some(path) => Probe {
            http_get: Some(HTTPGetAction {
                path: Some(path.clone()),
                port: port.clone(),
                ..Default::default()
            }),
            ..p
        },
        None => Probe {
            tcp_socket: Some(TCPSocketAction {
                port: port.clone(),
                ..Default::default()
            }),
            ..p
        },
    };
    let readiness = handler(Probe {
        period_seconds: Some(10),
        timeout_seconds: Some(3),
        failure_threshold: Some(3),
        ..Default::default()
    });
    let liveness = handler(Probe {
        initial_delay_seconds: Some(10),
        period_seconds: Some(20),
        timeout_seconds: Some(3),
        failure_threshold: Some(3),
        ..Default::default()
    });
    // Model servers load the model before they answer: give them up to five
    // minutes before liveness starts counting.
    let startup = (w.kind == WorkloadKind::Serve).then(|| {
        handler(Probe {
            period_seconds: Some(10),
            timeout_seconds: Some(3),
            failure_threshold: Some(30),
            ..Default::default()
        })
    });
    (Some(readiness), Some(liveness), startup)
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        ..Default::default()
    }
}

fn affinity_term(exprs: Vec<NodeSelectorRequirement>) -> Option<NodeSelector> {
    if exprs.is_empty() {
        None
    } else {
        Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: Some(exprs),
                ..Default::default()
            }],
        })
    }
}

fn requirement(key: &str, op: &str, values: Vec<String>) -> NodeSelectorRequirement {
    NodeSelectorRequirement {
        key: key.to_string(),
        operator: op.to_string(),
        values: meta::some_vec(values),
    }
}

/// `kubernetes.io/arch` values of the IR's architectures.
fn k8s_arch(a: &str) -> String {
    match a {
        "armv7" => "arm".to_string(),
        other => other.to_string(),
    }
}

/// The emptyDir volume of a scratch folder: `iotc-tmp` for `/tmp`,
/// `iotc-w-<path>` for a declared `writable` path, its folders joined by
/// `-`. A path with other characters than lowercase letters, digits and
/// `/` (or too long for the 63 characters of a volume name) is cut and
/// gets a hash of the whole path, so two paths never share a volume.
pub fn scratch_volume(path: &str) -> String {
    if path == "/tmp" {
        return "iotc-tmp".into();
    }
    let inner = path.trim_matches('/');
    let plain = inner
        .chars()
        .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '/');
    let slug: String = inner
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() {
                ch.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = format!("iotc-w-{slug}");
    if plain && name.len() <= 63 {
        return name;
    }
    let hash = path.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let head: String = slug.chars().take(40).collect();
    let head = head.trim_matches('-');
    format!("iotc-w-{head}-{:08x}", hash & 0xffff_ffff)
}

/// What a pod template needs from its controller.
pub struct PodOut {
    pub template: PodTemplateSpec,
    /// checkov checks this pod needs skipped, for the controller's annotations.
    pub skips: Skips,
}

/// The pod template of one controller of `p`.
pub fn template(ctx: &Ctx<'_>, kind: GroupKind<'_>, p: &Placed<'_>, unit: &Unit<'_>) -> PodOut {
    let sol = ctx.sol;
    let w = p.w;
    let c = &w.container;
    let mut skips = Skips::default();

    // ------------------------------------------------------------ volumes
    let mut volumes: Vec<Volume> = Vec::new();
    let mut mounts: Vec<VolumeMount> = Vec::new();
    for v in &c.volumes {
        let name = meta::k8s_name(&v.name);
        let mut vol = Volume {
            name: name.clone(),
            ..Default::default()
        };
        if let Some(path) = &v.host_path {
            vol.host_path = Some(HostPathVolumeSource {
                path: path.clone(),
                type_: Some(if v.read_only { "Directory" } else { "DirectoryOrCreate" }.to_string()),
            });
        } else if v.size_bytes.is_some() {
            // A daemon's sized volume is the per-node folder the checker
            // chose (`ir::Volume::host_dir`): one claim cannot serve every node.
            // A StatefulSet's comes from its claim template of that name.
            if w.stateful {
                mounts.push(VolumeMount {
                    name,
                    mount_path: v.mount.clone(),
                    read_only: if v.read_only { Some(true) } else { None },
                    ..Default::default()
                });
                continue;
            }
            if let (WorkloadKind::Daemon, Some(dir)) = (w.kind, &v.host_dir) {
                vol.host_path = Some(HostPathVolumeSource {
                    path: dir.clone(),
                    type_: Some("DirectoryOrCreate".to_string()),
                });
            } else {
                vol.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim_name(unit, &v.name),
                    read_only: if v.read_only { Some(true) } else { None },
                });
            }
        } else {
            vol.empty_dir = Some(EmptyDirVolumeSource::default());
        }
        volumes.push(vol);
        mounts.push(VolumeMount {
            name,
            mount_path: v.mount.clone(),
            read_only: if v.read_only { Some(true) } else { None },
            ..Default::default()
        });
    }
    // Device nodes come from the device plugin (see `device_plugin.rs`):
    // the pod only joins the groups that own them.
    let mut groups: Vec<i64> = c
        .devices
        .iter()
        .filter_map(|d| Some(d.group.as_ref()?.gid))
        .map(i64::from)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    // The root file system is read-only: every folder the checker found
    // the container writes outside its volumes is an emptyDir.
    let tmp = c.scratch.iter().any(|p| p == "/tmp");
    for path in &c.scratch {
        let name = scratch_volume(path);
        volumes.push(Volume {
            name: name.clone(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name,
            mount_path: path.clone(),
            ..Default::default()
        });
    }

    // ------------------------------------------------------- model fetch
    let mut init_containers = Vec::new();
    let mut annotations = BTreeMap::new();
    if let Some(m) = &w.model {
        annotations.insert("iotc.dev/model-version".to_string(), m.version.clone());
        if let Some(sum) = &m.checksum {
            annotations.insert("iotc.dev/model-checksum".to_string(), sum.clone());
        }
    }
    if let (WorkloadKind::Serve, Some(m)) = (w.kind, &w.model) {
        match fetch_kind(&m.artifact) {
            Some(Fetch::Oci(reference)) => {
                volumes.push(Volume {
                    name: "iotc-model".into(),
                    image: Some(ImageVolumeSource {
                        reference: Some(reference),
                        pull_policy: Some("IfNotPresent".into()),
                    }),
                    ..Default::default()
                });
                mounts.push(VolumeMount {
                    name: "iotc-model".into(),
                    mount_path: format!("{}/{}", model_dir(m), m.version),
                    read_only: Some(true),
                    ..Default::default()
                });
            }
            Some(fetch) => {
                // On a fleet gateway the model is cached on the node's disk
                // (a folder Ansible creates), one folder per version and
                // checksum: a restart finds it and needs no WAN. The server
                // sees only its own version's folder. A cluster node has
                // its uplink: an emptyDir.
                let cache = matches!(w.placement, Placement::Fleet { .. });
                let version_dir = format!("{}/{}", model_dir(m), m.version);
                let (dest, init_mount) = if cache {
                    volumes.push(Volume {
                        name: "iotc-model".into(),
                        host_path: Some(HostPathVolumeSource {
                            path: format!("{}/{}", crate::ir::MODEL_CACHE_ROOT, m.model),
                            type_: Some("Directory".into()),
                        }),
                        ..Default::default()
                    });
                    mounts.push(VolumeMount {
                        name: "iotc-model".into(),
                        mount_path: version_dir,
                        sub_path: Some(m.cache_key.clone()),
                        read_only: Some(true),
                        ..Default::default()
                    });
                    (
                        format!(
                            "{MODEL_CACHE_MOUNT}/{}/{}",
                            m.cache_key,
                            crate::ir::model_file(&m.format)
                        ),
                        MODEL_CACHE_MOUNT.to_string(),
                    )
                } else {
                    volumes.push(Volume {
                        name: "iotc-model".into(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Default::default()
                    });
                    mounts.push(VolumeMount {
                        name: "iotc-model".into(),
                        mount_path: model_dir(m),
                        read_only: Some(true),
                        ..Default::default()
                    });
                    (model_path(m), model_dir(m))
                };
                let sha = m.checksum.as_ref().and_then(|s| s.strip_prefix("sha256:"));
                let mut env_vars = vec![env("IOTC_ARTIFACT", &m.artifact), env("IOTC_DEST", &dest)];
                if let Some(sha) = sha {
                    env_vars.push(env("IOTC_SHA256", sha));
                }
                env_vars.push(env("HOME", "/tmp"));
                let mut init_mounts = vec![
                    VolumeMount {
                        name: "iotc-model".into(),
                        mount_path: init_mount,
                        ..Default::default()
                    },
                    VolumeMount {
                        name: "iotc-tmp".into(),
                        mount_path: "/tmp".into(),
                        ..Default::default()
                    },
                ];
                let image = if fetch == Fetch::S3 { AWS_CLI_IMAGE } else { CURL_IMAGE };
                if fetch == Fetch::S3 {
                    env_vars.push(env(
                        "AWS_SHARED_CREDENTIALS_FILE",
                        &format!("{ARTIFACT_CREDENTIALS_DIR}/credentials"),
                    ));
                    volumes.push(Volume {
                        name: "iotc-artifact-credentials".into(),
                        secret: Some(SecretVolumeSource {
                            secret_name: Some(artifact_secret_name(m)),
                            optional: Some(true),
                            default_mode: Some(0o440),
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                    init_mounts.push(VolumeMount {
                        name: "iotc-artifact-credentials".into(),
                        mount_path: ARTIFACT_CREDENTIALS_DIR.into(),
                        read_only: Some(true),
                        ..Default::default()
                    });
                }
                if !tmp {
                    init_mounts.retain(|m| m.name != "iotc-tmp");
                }
                init_containers.push(K8sContainer {
                    name: "fetch-model".into(),
                    image: Some(image.into()),
                    image_pull_policy: Some("IfNotPresent".into()),
                    command: Some(vec![
                        "/bin/sh".into(),
                        "-c".into(),
                        crate::emit::model_fetch::fetch_script(&fetch, sha.is_some()),
                    ]),
                    env: Some(env_vars),
                    resources: Some(resources(
                        FETCH_CPU_MILLIS,
                        FETCH_CPU_LIMIT_MILLIS,
                        FETCH_MEMORY_BYTES,
                        0,
                        &[],
                    )),
                    security_context: Some(container_security(&Container {
                        privileged: false,
                        ..c.clone()
                    })),
                    volume_mounts: Some(init_mounts),
                    ..Default::default()
                });
                skips.add("CKV_K8S_43", format!("the model fetch image {image} is pinned by tag"));
                skips.add(
                    "CKV_K8S_15",
                    "IfNotPresent lets edge nodes with an intermittent uplink start from cached images",
                );
            }
            None => {}
        }
    }

    // ------------------------------------------- synced secrets (EKS)
    // Mounting the volume is what makes the Secrets Store CSI driver fetch
    // the workload's secrets and sync them into the Secret the env reads
    // (kubelet mounts only volumes a container uses).
    if super::secrets_store::store_of(kind, p).is_some() {
        let mut attributes = BTreeMap::new();
        attributes.insert("secretProviderClass".to_string(), secret_name(w));
        volumes.push(Volume {
            name: super::secrets_store::VOLUME.into(),
            csi: Some(CSIVolumeSource {
                driver: super::secrets_store::CSI_DRIVER.into(),
                read_only: Some(true),
                volume_attributes: Some(attributes),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: super::secrets_store::VOLUME.into(),
            mount_path: super::secrets_store::MOUNT_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        });
    }

    // ------------------------------------- mounted configs (monitoring)
    // A Prometheus's config and a Grafana's datasource, read-only. A
    // failure to write them is reported by the workload's file.
    let mounted = super::scrape::mounted_configs(ctx, p).unwrap_or_default();
    for cfg in &mounted {
        volumes.push(Volume {
            name: cfg.volume.clone(),
            config_map: Some(ConfigMapVolumeSource {
                name: cfg.config_map.clone(),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: cfg.volume.clone(),
            mount_path: cfg.dir.clone(),
            read_only: Some(true),
            ..Default::default()
        });
    }

    // --------------------------------------------------- main container
    // The hash covers every config the pod reads, so a change rolls it.
    let data = config_data(w);
    if !data.is_empty() || !mounted.is_empty() {
        let mut text: String = data.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        for cfg in &mounted {
            for (file, body) in &cfg.data {
                text.push_str(&format!("{}/{file}\n{body}", cfg.dir));
            }
        }
        annotations.insert("iotc.dev/config-hash".to_string(), meta::fnv64(&text));
    }
    let env_from = (!data.is_empty()).then(|| {
        vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: config_map_name(w),
                optional: None,
            }),
            ..Default::default()
        }]
    });
    let secret_env: Vec<EnvVar> = c
        .secrets
        .iter()
        .map(|s| EnvVar {
            name: s.name.clone(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: secret_name(w),
                    key: s.name.clone(),
                    optional: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    // A training run writes a new version named after its Job (unique:
    // `<cronjob>-<scheduled minute>`), never the served one.
    let mut run_env = Vec::new();
    if let (WorkloadKind::Train, Some(m)) = (w.kind, &w.model) {
        run_env.push(EnvVar {
            name: "IOTC_RUN_ID".into(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: format!("metadata.labels['{JOB_NAME_LABEL}']"),
                    api_version: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        });
        // `$(IOTC_RUN_ID)` is expanded by the kubelet; a `$` of the URL is
        // written `$$` so it stays literal.
        let output = m
            .train_output
            .split(crate::ir::RUN_PLACEHOLDER)
            .map(|part| part.replace('$', "$$"))
            .collect::<Vec<_>>()
            .join("$(IOTC_RUN_ID)");
        run_env.push(env("IOTC_MODEL_OUTPUT", &output));
    }
    let secret_env: Vec<EnvVar> = run_env.into_iter().chain(secret_env).collect();
    if !c.secrets.is_empty() {
        skips.add(
            "CKV_K8S_35",
            "the workload declares its secrets as environment variables; the values stay in a Secret referenced by secretKeyRef",
        );
    }
    let ports = c.port.map(|port| {
        let main = ContainerPort {
            name: Some(port_name(c).into()),
            container_port: i32::from(port),
            protocol: Some(protocol(c)),
            ..Default::default()
        };
        let metrics = c.metrics_port.map(|m| ContainerPort {
            name: Some(metrics_port_name(c).into()),
            container_port: i32::from(m),
            protocol: Some("TCP".into()),
            ..Default::default()
        });
        std::iter::once(main).chain(metrics).collect()
    });
    let is_job = matches!(w.kind, WorkloadKind::Job | WorkloadKind::Train);
    let (readiness, liveness, startup) = if is_job { (None, None, None) } else { probes(w) };
    if !is_job && liveness.is_none() {
        let why = if c.port.is_some() {
            "its only port is UDP, which has no probe"
        } else {
            "it declares no port or health check to probe"
        };
        skips.add("CKV_K8S_8", format!("no liveness probe: {why}"));
        skips.add("CKV_K8S_9", format!("no readiness probe: {why}"));
    }
    if !image_has_digest(&c.image) {
        skips.add(
            "CKV_K8S_43",
            format!(
                "{} is pinned by tag; pin a digest (repo:tag@sha256:…) to drop this skip",
                c.image
            ),
        );
        skips.add(
            "CKV_K8S_15",
            "IfNotPresent lets edge nodes with an intermittent uplink start from cached images",
        );
    }
    if c.privileged {
        skips.add(
            "CKV_K8S_16",
            "the solution asks for a privileged container here (warning W0601), e.g. for GPIO or a device tree",
        );
        skips.add(
            "CKV_K8S_20",
            "a privileged container cannot forbid privilege escalation; the solution asks for one here (W0601)",
        );
    }
    if c.user < 10000 {
        skips.add(
            "CKV_K8S_40",
            format!("the solution runs this workload as user {}, below 10000", c.user),
        );
    }
    let main = K8sContainer {
        name: w.name.clone(),
        image: Some(c.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: meta::some_vec(c.command.clone()),
        args: meta::some_vec(c.args.clone()),
        ports,
        env_from,
        env: meta::some_vec(secret_env),
        resources: Some(resources(
            c.cpu_millis,
            c.cpu_limit_millis,
            c.memory_bytes,
            c.gpu,
            &c.devices,
        )),
        readiness_probe: readiness,
        liveness_probe: liveness,
        startup_probe: startup,
        security_context: Some(container_security(c)),
        volume_mounts: meta::some_vec(mounts),
        ..Default::default()
    };

    // --------------------------------------------------------- scheduling
    let mut node_selector = BTreeMap::new();
    let mut required: Vec<NodeSelectorRequirement> = Vec::new();
    let mut preferred: Vec<PreferredSchedulingTerm> = Vec::new();
    let mut tolerations: Vec<Toleration> = Vec::new();
    for s in &w.selectors {
        if s.negated {
            required.push(requirement(&s.key, "NotIn", vec![s.value.clone()]));
        } else {
            node_selector.insert(s.key.clone(), s.value.clone());
        }
    }
    match (&w.placement, kind) {
        (Placement::Cluster { pool, .. }, GroupKind::Cluster(cl)) => {
            if pool != "default" {
                node_selector.insert(POOL_LABEL.to_string(), pool.clone());
            }
            if cl.pools.iter().any(|p| &p.name == pool && p.node.gpu > 0) {
                tolerations.push(Toleration {
                    key: Some(GPU_RESOURCE.into()),
                    operator: Some("Exists".into()),
                    effect: Some("NoSchedule".into()),
                    ..Default::default()
                });
            }
            if !c.arch.is_empty() {
                let mut archs: Vec<String> = c.arch.iter().map(|a| k8s_arch(a)).collect();
                archs.sort();
                archs.dedup();
                required.push(requirement("kubernetes.io/arch", "In", archs));
            }
        }
        (Placement::Fleet { sites, .. }, _) => match unit.site {
            Some(site) => {
                node_selector.insert(SITE_LABEL.to_string(), site.site.to_string());
            }
            None => {
                let mut names: Vec<String> = sites.iter().map(|s| s.site.to_string()).collect();
                names.sort();
                required.push(requirement(SITE_LABEL, "In", names));
            }
        },
        _ => {}
    }
    let mut anti = None;
    if w.critical {
        anti = Some(PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                label_selector: Some(meta::match_labels(meta::selector_labels(w, unit))),
                topology_key: "kubernetes.io/hostname".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        if unit.site_info.is_some_and(|s| s.standby > 0) {
            tolerations.push(standby_toleration());
            preferred.push(PreferredSchedulingTerm {
                weight: 100,
                preference: NodeSelectorTerm {
                    match_expressions: Some(vec![requirement(STANDBY_LABEL, "DoesNotExist", Vec::new())]),
                    ..Default::default()
                },
            });
        }
    }
    // A critical workload leaves a silent gateway after the node monitor's
    // grace period plus this toleration (not the default 300 s); see
    // docs/k8s.md, "Failover".
    if w.critical && matches!(w.placement, Placement::Fleet { .. }) {
        for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
            tolerations.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some("NoExecute".into()),
                toleration_seconds: Some(crate::ir::CRITICAL_TOLERATION_SECS),
                ..Default::default()
            });
        }
    }
    // Daemons (metrics, collectors) also run on standby devices, so a
    // standby is monitored and ready when it takes over.
    if w.kind == WorkloadKind::Daemon {
        if let Placement::Fleet { fleet, sites } = &w.placement {
            let standby = sol
                .fleets
                .iter()
                .filter(|f| &f.name == fleet)
                .flat_map(|f| &f.sites)
                .any(|s| s.standby > 0 && sites.iter().any(|p| *p.site == *s.name));
            if standby {
                tolerations.push(standby_toleration());
            }
        }
    }
    let node_affinity = (!required.is_empty() || !preferred.is_empty()).then(|| NodeAffinity {
        required_during_scheduling_ignored_during_execution: affinity_term(required),
        preferred_during_scheduling_ignored_during_execution: meta::some_vec(preferred),
    });
    let affinity = (node_affinity.is_some() || anti.is_some()).then(|| Affinity {
        node_affinity,
        pod_anti_affinity: anti,
        ..Default::default()
    });

    // Spread a controller's copies over its nodes, as the capacity check
    // assumed (ceil(replicas ÷ gateways) per gateway). Strict on a fleet,
    // best effort on a cluster.
    let many = w.autoscale.as_ref().map(|a| a.max).unwrap_or(unit.replicas) > 1;
    let spread = (many && matches!(w.kind, WorkloadKind::Service | WorkloadKind::Serve)).then(|| {
        let strict = matches!(w.placement, Placement::Fleet { .. });
        vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: "kubernetes.io/hostname".into(),
            when_unsatisfiable: if strict { "DoNotSchedule" } else { "ScheduleAnyway" }.into(),
            label_selector: Some(meta::match_labels(meta::selector_labels(w, unit))),
            // Spread each revision's pods on their own during a rollout.
            match_label_keys: Some(vec![if w.stateful {
                "controller-revision-hash"
            } else {
                "pod-template-hash"
            }
            .into()]),
            node_taints_policy: Some("Honor".into()),
            ..Default::default()
        }]
    });

    let restart_policy = is_job.then(|| if w.backoff == 0 { "Never" } else { "OnFailure" }.to_string());
    // The checker decided which declared registry the image comes from;
    // its pull Secret is created by Ansible (docs/k8s.md, "Registries").
    let image_pull_secrets = c.registry.as_ref().and_then(|r| {
        sol.registries.iter().find(|x| &x.name == r).map(|x| {
            vec![LocalObjectReference {
                name: x.pull_secret.clone(),
            }]
        })
    });
    let spec = PodSpec {
        image_pull_secrets,
        automount_service_account_token: Some(false),
        service_account_name: Some(w.name.clone()),
        enable_service_links: Some(false),
        restart_policy,
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(i64::from(c.user)),
            run_as_group: Some(i64::from(c.user)),
            fs_group: Some(i64::from(c.user)),
            fs_group_change_policy: Some("OnRootMismatch".into()),
            supplemental_groups: meta::some_vec(groups),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        init_containers: meta::some_vec(init_containers),
        containers: vec![main],
        volumes: meta::some_vec(volumes),
        node_selector: meta::some_map(node_selector),
        affinity,
        tolerations: meta::some_vec(tolerations),
        topology_spread_constraints: spread,
        ..Default::default()
    };
    PodOut {
        template: PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(meta::workload_labels(sol, p, Some(unit))),
                annotations: meta::some_map(annotations),
                ..Default::default()
            }),
            spec: Some(spec),
        },
        skips,
    }
}

/// Lets a pod onto a standby device (which carries the standby taint).
fn standby_toleration() -> Toleration {
    Toleration {
        key: Some(STANDBY_TAINT_KEY.into()),
        operator: Some("Equal".into()),
        value: Some("true".into()),
        effect: Some("NoSchedule".into()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_ports() {
        assert_eq!(url_port("s3://bucket/key"), Some(443));
        assert_eq!(url_port("https://h.example/x/y"), Some(443));
        assert_eq!(url_port("https://h.example:8443/x"), Some(8443));
        assert_eq!(url_port("http://h.example/x"), Some(80));
        assert_eq!(url_port("oci://ghcr.io/a/b:1"), None);
    }
}
