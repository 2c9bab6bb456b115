//! One workload's file: ConfigMap, PersistentVolumeClaims, the controllers
//! (a Deployment per site, a DaemonSet, Jobs or CronJobs), Service,
//! PodDisruptionBudgets and HorizontalPodAutoscalers.

use super::meta::{self, Skips};
use super::pod;
use super::scrape;
use super::secrets_store;
use super::{err, Ctx, Docs, GroupKind, Placed, Unit};
use crate::emit::EmitError;
use crate::ir::{ExposureKind, Placement, SecretSource, Workload, WorkloadKind};
use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, Deployment, DeploymentSpec, DeploymentStrategy,
    RollingUpdateDaemonSet, RollingUpdateDeployment, StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy,
    StatefulSetSpec, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
    ResourceMetricSource,
};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, PersistentVolumeClaimSpec, Service, ServiceAccount, ServicePort, ServiceSpec,
    VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressServiceBackend, IngressSpec,
    IngressTLS, ServiceBackendPort,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// Rolling-update limits of a controller: `(max_unavailable, max_surge)`.
///
/// A Deployment that mounts a persistent volume, and a DaemonSet that holds
/// a device node, replace pods instead of surging: a ReadWriteOnce volume
/// cannot attach to two nodes and a device cannot be opened twice.
pub fn strategy(w: &Workload) -> (u32, u32) {
    let (mu, ms) = (w.rollout.max_unavailable, w.rollout.max_surge);
    let exclusive = match w.kind {
        WorkloadKind::Daemon => !w.container.devices.is_empty(),
        _ => w.container.volumes.iter().any(|v| v.size_bytes.is_some()),
    };
    if exclusive {
        (mu.max(1), 0)
    } else if mu == 0 && ms == 0 {
        (1, 0)
    } else {
        (mu, ms)
    }
}

/// The most pods one controller can run at once (for the ResourceQuota):
/// the largest replica count plus the rolling-update surge; one for jobs
/// (concurrency is Forbid).
pub fn max_pods(w: &Workload, unit: &Unit<'_>) -> u64 {
    let (_, surge) = strategy(w);
    match w.kind {
        WorkloadKind::Service | WorkloadKind::Serve => {
            let top = w.autoscale.as_ref().map(|a| a.max).unwrap_or(unit.replicas);
            u64::from(top) + u64::from(surge)
        }
        WorkloadKind::Daemon => u64::from(unit.replicas) + u64::from(surge),
        WorkloadKind::Job | WorkloadKind::Train => 1,
    }
}

/// The claims one controller makes at most: `(name, bytes)`. Daemons make
/// none (a sized volume of a daemon is a per-node host directory). A
/// StatefulSet (`Workload::stateful`) makes one per copy from its
/// `volumeClaimTemplates`, named as its controller names them
/// (`<template>-<statefulset>-<ordinal>`), up to its autoscaling maximum.
pub fn claims(w: &Workload, unit: &Unit<'_>) -> Vec<(String, u64)> {
    if w.kind == WorkloadKind::Daemon {
        return Vec::new();
    }
    let sized = w.container.volumes.iter().filter_map(|v| v.size_bytes.map(|b| (v, b)));
    if w.stateful {
        let copies = w.autoscale.as_ref().map(|a| a.max).unwrap_or(unit.replicas);
        return sized
            .flat_map(|(v, b)| (0..copies).map(move |i| (format!("{}-{}-{i}", meta::k8s_name(&v.name), unit.name), b)))
            .collect();
    }
    sized.map(|(v, b)| (pod::claim_name(unit, &v.name), b)).collect()
}

/// The claim templates of a StatefulSet: one per sized volume, named as
/// the pod's volume, so each copy gets a ReadWriteOnce claim of its own.
fn claim_templates(sol: &crate::ir::Solution, p: &Placed<'_>, u: &Unit<'_>) -> Vec<PersistentVolumeClaim> {
    p.w.container
        .volumes
        .iter()
        .filter_map(|v| {
            let size = v.size_bytes?;
            Some(PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(meta::k8s_name(&v.name)),
                    labels: Some(meta::workload_labels(sol, p, Some(u))),
                    ..Default::default()
                },
                spec: Some(claim_spec(size)),
                ..Default::default()
            })
        })
        .collect()
}

fn claim_spec(size: u64) -> PersistentVolumeClaimSpec {
    PersistentVolumeClaimSpec {
        access_modes: Some(vec!["ReadWriteOnce".into()]),
        resources: Some(VolumeResourceRequirements {
            requests: Some(BTreeMap::from([("storage".to_string(), meta::bytes(size))])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The headless Service that governs a StatefulSet (its pods' DNS names).
pub fn governing_service(unit: &Unit<'_>) -> String {
    crate::names::fit(&format!("{}-pods", unit.name), 63)
}

/// Internal: the checker bounds every name, declared or generated (E0206).
fn check_name(name: &str, limit: usize, what: &str) -> Result<(), EmitError> {
    if name.len() > limit {
        return Err(err(format!(
            "the {what} name `{name}` is {} characters long; Kubernetes allows {limit}. Shorten the workload or site name",
            name.len()
        )));
    }
    Ok(())
}

fn controller_annotations(w: &Workload, skips: &Skips) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    if !w.docs.is_empty() {
        a.insert("iotc.dev/description".to_string(), w.docs.join(" "));
    }
    if !w.container.secrets.is_empty() {
        let refs: Vec<String> = w
            .container
            .secrets
            .iter()
            .map(|s| {
                let source = match s.source {
                    SecretSource::Env => "env",
                    SecretSource::File => "file",
                    SecretSource::Vault => "vault",
                };
                format!("{} from {source} {}", s.name, s.reference)
            })
            .collect();
        a.insert(
            "iotc.dev/secret-refs".to_string(),
            format!("Secret {}: {}", pod::secret_name(w), refs.join("; ")),
        );
    }
    skips.annotate(&mut a);
    a
}

/// Every object of one workload, in file order.
pub fn docs(ctx: &Ctx<'_>, kind: GroupKind<'_>, p: &Placed<'_>) -> Result<Docs, EmitError> {
    let sol = ctx.sol;
    let w = p.w;
    let c = &w.container;
    let units = ctx.units(p);
    let mut docs = Docs::new(sol, units.len() + 2);
    check_name(&w.name, 63, "Service")?;
    for u in &units {
        check_name(&u.name, 63, "controller")?;
        if w.schedule.is_some() {
            check_name(&u.name, 52, "CronJob")?;
        }
    }

    // Its own ServiceAccount, so it never runs as the namespace's `default`
    // and an IAM role can be bound to it (EKS Pod Identity: the Terraform
    // backend's `aws_eks_pod_identity_association` names this account). No
    // token is mounted (the pod spec says so too).
    docs.push(&ServiceAccount {
        metadata: meta::object_meta(
            &p.w.namespace,
            &w.name,
            meta::workload_labels(sol, p, None),
            BTreeMap::new(),
        ),
        automount_service_account_token: Some(false),
        ..Default::default()
    })?;
    // On EKS, what fills its Secret from AWS Secrets Manager when a pod
    // mounts it (`secrets_store.rs`).
    if let Some(st) = secrets_store::store_of(kind, p) {
        docs.push(&secrets_store::provider_class(
            sol,
            st,
            w,
            meta::workload_labels(sol, p, None),
        )?)?;
    }

    // ConfigMap from `env` (and the model's coordinates).
    let data = pod::config_data(w);
    if !data.is_empty() {
        docs.push(&ConfigMap {
            metadata: meta::object_meta(
                &p.w.namespace,
                &pod::config_map_name(w),
                meta::workload_labels(sol, p, None),
                BTreeMap::new(),
            ),
            data: Some(data),
            ..Default::default()
        })?;
    }

    // Mounted configs: a Prometheus's scrape config and rules, a Grafana's
    // datasource (`ir::Solution::monitoring`).
    for cfg in scrape::mounted_configs(ctx, p)? {
        docs.push(&ConfigMap {
            metadata: meta::object_meta(
                &p.w.namespace,
                &cfg.config_map,
                meta::workload_labels(sol, p, None),
                BTreeMap::new(),
            ),
            data: Some(cfg.data),
            ..Default::default()
        })?;
    }

    // PersistentVolumeClaims of sized volumes, one set per controller (a
    // StatefulSet makes its own from its claim templates).
    for u in units.iter().filter(|_| !w.stateful) {
        for (name, size) in claims(w, u) {
            docs.push(&PersistentVolumeClaim {
                metadata: meta::object_meta(
                    &p.w.namespace,
                    &name,
                    meta::workload_labels(sol, p, Some(u)),
                    BTreeMap::new(),
                ),
                spec: Some(claim_spec(size)),
                ..Default::default()
            })?;
        }
    }

    // The controllers.
    let (mu, ms) = strategy(w);
    for u in &units {
        let pod = pod::template(ctx, kind, p, u);
        let annotations = controller_annotations(w, &pod.skips);
        let metadata = meta::object_meta(
            &p.w.namespace,
            &u.name,
            meta::workload_labels(sol, p, Some(u)),
            annotations,
        );
        let selector = meta::match_labels(meta::selector_labels(w, u));
        match w.kind {
            WorkloadKind::Service | WorkloadKind::Serve if w.stateful => {
                // Its governing headless Service first: the pods' DNS names
                // (`<pod>.<service>`) exist only through it.
                let port = c.port.map(|port| {
                    vec![ServicePort {
                        name: Some(pod::port_name(c).into()),
                        port: i32::from(port),
                        target_port: Some(IntOrString::String(pod::port_name(c).into())),
                        protocol: Some(pod::protocol(c)),
                        ..Default::default()
                    }]
                });
                docs.push(&Service {
                    metadata: meta::object_meta(
                        &p.w.namespace,
                        &governing_service(u),
                        meta::workload_labels(sol, p, Some(u)),
                        BTreeMap::new(),
                    ),
                    spec: Some(ServiceSpec {
                        cluster_ip: Some("None".into()),
                        selector: Some(meta::selector_labels(w, u)),
                        ports: port,
                        publish_not_ready_addresses: Some(false),
                        ..Default::default()
                    }),
                    ..Default::default()
                })?;
                docs.push(&StatefulSet {
                    metadata,
                    spec: Some(StatefulSetSpec {
                        replicas: if w.autoscale.is_some() {
                            None
                        } else {
                            Some(i32::try_from(u.replicas).unwrap_or(i32::MAX))
                        },
                        selector,
                        service_name: Some(governing_service(u)),
                        // The copies are peers: start and stop them together.
                        pod_management_policy: Some("Parallel".into()),
                        update_strategy: Some(StatefulSetUpdateStrategy {
                            type_: Some("RollingUpdate".into()),
                            ..Default::default()
                        }),
                        // A copy's data outlives the copy: scaling down or
                        // deleting the StatefulSet keeps the claims.
                        persistent_volume_claim_retention_policy: Some(
                            StatefulSetPersistentVolumeClaimRetentionPolicy {
                                when_deleted: Some("Retain".into()),
                                when_scaled: Some("Retain".into()),
                            },
                        ),
                        volume_claim_templates: Some(claim_templates(sol, p, u)),
                        template: pod.template,
                        ..Default::default()
                    }),
                    ..Default::default()
                })?
            }
            WorkloadKind::Service | WorkloadKind::Serve => docs.push(&Deployment {
                metadata,
                spec: Some(DeploymentSpec {
                    replicas: if w.autoscale.is_some() {
                        None
                    } else {
                        Some(i32::try_from(u.replicas).unwrap_or(i32::MAX))
                    },
                    selector,
                    strategy: Some(DeploymentStrategy {
                        type_: Some("RollingUpdate".into()),
                        rolling_update: Some(RollingUpdateDeployment {
                            max_unavailable: Some(int(mu)),
                            max_surge: Some(int(ms)),
                        }),
                    }),
                    template: pod.template,
                    ..Default::default()
                }),
                ..Default::default()
            })?,
            WorkloadKind::Daemon => docs.push(&DaemonSet {
                metadata,
                spec: Some(DaemonSetSpec {
                    selector,
                    update_strategy: Some(DaemonSetUpdateStrategy {
                        type_: Some("RollingUpdate".into()),
                        rolling_update: Some(RollingUpdateDaemonSet {
                            max_unavailable: Some(int(mu)),
                            max_surge: Some(int(ms)),
                        }),
                    }),
                    template: pod.template,
                    ..Default::default()
                }),
                ..Default::default()
            })?,
            WorkloadKind::Job | WorkloadKind::Train => {
                let job = JobSpec {
                    backoff_limit: Some(i32::try_from(w.backoff).unwrap_or(i32::MAX)),
                    active_deadline_seconds: (w.deadline_secs > 0)
                        .then(|| i64::try_from(w.deadline_secs).unwrap_or(i64::MAX)),
                    template: pod.template,
                    ..Default::default()
                };
                match &w.schedule {
                    Some(schedule) => docs.push(&CronJob {
                        metadata,
                        spec: Some(CronJobSpec {
                            schedule: schedule.clone(),
                            // UTC everywhere, like the systemd timers of
                            // Docker fleets, whatever the node's clock zone.
                            time_zone: Some("Etc/UTC".into()),
                            // A run missed while the site's control plane
                            // was down starts when it is back, if within
                            // the job's deadline; older ones are skipped.
                            starting_deadline_seconds: Some(
                                i64::try_from(w.deadline_secs.clamp(60, 3600)).unwrap_or(3600),
                            ),
                            concurrency_policy: Some("Forbid".into()),
                            job_template: JobTemplateSpec {
                                metadata: Some(ObjectMeta {
                                    labels: Some(meta::workload_labels(sol, p, Some(u))),
                                    ..Default::default()
                                }),
                                spec: Some(job),
                            },
                            ..Default::default()
                        }),
                        ..Default::default()
                    })?,
                    None => docs.push(&Job {
                        metadata,
                        spec: Some(job),
                        ..Default::default()
                    })?,
                }
            }
        }
    }

    // Service: one per workload, over every site's pods.
    let serves = matches!(
        w.kind,
        WorkloadKind::Service | WorkloadKind::Serve | WorkloadKind::Daemon
    );
    if let (Some(port), true) = (c.port, serves) {
        let fleet = matches!(w.placement, Placement::Fleet { .. });
        let headless = w.kind == WorkloadKind::Daemon && !w.public;
        let per_gateway = w.kind != WorkloadKind::Daemon && w.one_per_gateway(&sol.fleets);
        let name = pod::port_name(c);
        // Exposed HTTP goes through the Ingress below; other exposed
        // listeners (and public fleet services) get a load balancer.
        let balanced = match &w.exposure {
            Some(x) => x.kind == ExposureKind::LoadBalancer,
            None => w.public,
        };
        docs.push(&Service {
            metadata: meta::object_meta(
                &p.w.namespace,
                &w.name,
                meta::workload_labels(sol, p, None),
                BTreeMap::new(),
            ),
            spec: Some(ServiceSpec {
                type_: Some(if balanced { "LoadBalancer" } else { "ClusterIP" }.into()),
                cluster_ip: headless.then(|| "None".to_string()),
                selector: Some(BTreeMap::from([("app.kubernetes.io/name".to_string(), w.name.clone())])),
                ports: Some(vec![ServicePort {
                    name: Some(name.into()),
                    port: i32::from(port),
                    target_port: Some(IntOrString::String(name.into())),
                    protocol: Some(pod::protocol(c)),
                    ..Default::default()
                }]),
                // A server with a copy on every gateway is called on the
                // caller's own gateway (no hop over the LAN, no other
                // station's load). Otherwise prefer the caller's zone.
                internal_traffic_policy: per_gateway.then(|| "Local".to_string()),
                traffic_distribution: (fleet && !headless && !per_gateway).then(|| "PreferClose".to_string()),
                ..Default::default()
            }),
            ..Default::default()
        })?;
    }

    // Headless Services through which a Prometheus finds every pod (one DNS
    // record each), not one pod behind the Service's virtual IP. Not-ready
    // pods are listed too: a pod failing its probe is what monitoring is for.
    for (name, port) in scrape::metrics_services(ctx, p) {
        check_name(&name, 63, "Service")?;
        let port_name = pod::metrics_port_name(c);
        docs.push(&Service {
            metadata: meta::object_meta(
                &p.w.namespace,
                &name,
                meta::workload_labels(sol, p, None),
                BTreeMap::new(),
            ),
            spec: Some(ServiceSpec {
                type_: Some("ClusterIP".into()),
                cluster_ip: Some("None".into()),
                publish_not_ready_addresses: Some(true),
                selector: Some(BTreeMap::from([("app.kubernetes.io/name".to_string(), w.name.clone())])),
                ports: Some(vec![ServicePort {
                    name: Some(port_name.into()),
                    port: i32::from(port),
                    target_port: Some(IntOrString::String(port_name.into())),
                    protocol: Some(if c.metrics_port.is_some() {
                        "TCP".into()
                    } else {
                        pod::protocol(c)
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        })?;
    }

    // Ingress with TLS for an exposed HTTP listener: the host the checker
    // derived (`<workload>.<domain>`), the certificate in `<workload>-tls`.
    if let (Some(x), Some(_)) = (&w.exposure, c.port) {
        if x.kind == ExposureKind::Ingress {
            let secret = format!("{}-tls", w.name);
            let annotations = BTreeMap::from([(CERT_ISSUER_ANNOTATION.to_string(), CERT_ISSUER.to_string())]);
            docs.push(&Ingress {
                metadata: meta::object_meta(
                    &p.w.namespace,
                    &w.name,
                    meta::workload_labels(sol, p, None),
                    annotations,
                ),
                spec: Some(IngressSpec {
                    tls: Some(vec![IngressTLS {
                        hosts: Some(vec![x.endpoint.host.clone()]),
                        secret_name: Some(secret),
                    }]),
                    rules: Some(vec![IngressRule {
                        host: Some(x.endpoint.host.clone()),
                        http: Some(HTTPIngressRuleValue {
                            paths: vec![HTTPIngressPath {
                                path: Some("/".into()),
                                path_type: "Prefix".into(),
                                backend: IngressBackend {
                                    service: Some(IngressServiceBackend {
                                        name: w.name.clone(),
                                        port: Some(ServiceBackendPort {
                                            name: Some(pod::port_name(c).into()),
                                            number: None,
                                        }),
                                    }),
                                    resource: None,
                                },
                            }],
                        }),
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            })?;
        }
    }

    // PodDisruptionBudgets of critical services.
    if w.critical && matches!(w.kind, WorkloadKind::Service | WorkloadKind::Serve) {
        for u in &units {
            let single = w.autoscale.is_none() && u.replicas <= 1;
            docs.push(&PodDisruptionBudget {
                metadata: meta::object_meta(
                    &p.w.namespace,
                    &u.name,
                    meta::workload_labels(sol, p, Some(u)),
                    BTreeMap::new(),
                ),
                spec: Some(PodDisruptionBudgetSpec {
                    // One copy: never evict it voluntarily (move it first with
                    // a rollout, see docs/k8s.md). More: one at a time.
                    min_available: single.then_some(IntOrString::Int(1)),
                    max_unavailable: (!single).then_some(IntOrString::Int(1)),
                    selector: Some(meta::match_labels(meta::selector_labels(w, u))),
                    unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
                }),
                ..Default::default()
            })?;
        }
    }

    // HorizontalPodAutoscalers.
    if let Some(a) = &w.autoscale {
        for u in &units {
            docs.push(&HorizontalPodAutoscaler {
                metadata: meta::object_meta(
                    &p.w.namespace,
                    &u.name,
                    meta::workload_labels(sol, p, Some(u)),
                    BTreeMap::new(),
                ),
                spec: Some(HorizontalPodAutoscalerSpec {
                    scale_target_ref: CrossVersionObjectReference {
                        api_version: Some("apps/v1".into()),
                        kind: if w.stateful { "StatefulSet" } else { "Deployment" }.into(),
                        name: u.name.clone(),
                    },
                    min_replicas: Some(i32::try_from(a.min.max(1)).unwrap_or(i32::MAX)),
                    max_replicas: i32::try_from(a.max.max(1)).unwrap_or(i32::MAX),
                    metrics: Some(vec![MetricSpec {
                        type_: "Resource".into(),
                        resource: Some(ResourceMetricSource {
                            name: "cpu".into(),
                            target: MetricTarget {
                                type_: "Utilization".into(),
                                average_utilization: Some(i32::try_from(a.cpu_percent).unwrap_or(100)),
                                ..Default::default()
                            },
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            })?;
        }
    }
    Ok(docs)
}

/// cert-manager issues the Ingress certificates when it is installed with a
/// ClusterIssuer of this name (docs/k8s.md, "Prerequisites"); without it,
/// put the certificate into the `<workload>-tls` Secret yourself.
pub const CERT_ISSUER_ANNOTATION: &str = "cert-manager.io/cluster-issuer";
pub const CERT_ISSUER: &str = "iotc";

fn int(n: u32) -> IntOrString {
    IntOrString::Int(i32::try_from(n).unwrap_or(i32::MAX))
}
