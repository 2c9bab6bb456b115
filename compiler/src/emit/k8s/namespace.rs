//! `00-namespace.yaml`: the Namespace, a ResourceQuota of the declared
//! totals and a LimitRange with the language's defaults.

use super::meta;
use super::pod;
use super::workload;
use super::{Ctx, Docs, Placed, GPU_RESOURCE};
use crate::emit::EmitError;
use crate::ir::K8sNamespace;
use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota, ResourceQuotaSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// The language's defaults for a workload that declares nothing: `cpu =
/// 100m` (limit twice that) and `memory = 128Mi`.
pub const DEFAULT_CPU_MILLIS: u64 = 100;
pub const DEFAULT_MEMORY_BYTES: u64 = 128 << 20;

/// Sum of what the group's workloads may run at once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub pods: u64,
    pub cpu_request: u64,
    pub cpu_limit: u64,
    pub memory_request: u64,
    pub memory_limit: u64,
    pub gpu: u64,
    pub claims: u64,
    pub storage: u64,
}

pub fn totals(ctx: &Ctx<'_>, members: &[Placed<'_>]) -> Totals {
    let mut t = Totals::default();
    for p in members {
        let f = pod::footprint(p.w);
        for u in ctx.units(p) {
            let n = workload::max_pods(p.w, &u);
            t.pods += n;
            t.cpu_request += n * f.cpu_request;
            t.cpu_limit += n * f.cpu_limit;
            t.memory_request += n * f.memory_request;
            t.memory_limit += n * f.memory_limit;
            t.gpu += n * f.gpu;
            for (_, size) in workload::claims(p.w, &u) {
                t.claims += 1;
                t.storage += size;
            }
        }
    }
    t
}

pub fn docs(ctx: &Ctx<'_>, group: &str, members: &[Placed<'_>]) -> Result<Docs, EmitError> {
    let sol = ctx.sol;
    let mut docs = Docs::new(ctx.sol, 1);
    // The namespaces the checker decided for this cluster or site: the
    // solution's always, a `-host` one only where one of its workloads runs
    // (`ir::Solution::namespaces`, `K8sNamespace::sites`; a site's view
    // holds only its own).
    for ns in sol.namespaces.iter().filter(|n| n.group == group) {
        let here: Vec<Placed<'_>> = members.iter().filter(|p| p.w.namespace == ns.name).copied().collect();
        namespace_docs(ctx, ns, &here, &mut docs)?;
    }
    Ok(docs)
}

/// The Namespace, its ResourceQuota of the totals of `members` (its
/// workloads here) and its LimitRange.
fn namespace_docs(ctx: &Ctx<'_>, ns: &K8sNamespace, members: &[Placed<'_>], docs: &mut Docs) -> Result<(), EmitError> {
    let sol = ctx.sol;
    let mut labels = meta::solution_labels(sol);
    // The level the checker decided; `warn` and `audit` stay `restricted`
    // so every pod that lifts it is named on every rollout.
    labels.insert(
        "pod-security.kubernetes.io/enforce".into(),
        ns.pod_security.as_str().into(),
    );
    labels.insert("pod-security.kubernetes.io/warn".into(), "restricted".into());
    labels.insert("pod-security.kubernetes.io/audit".into(), "restricted".into());
    let mut annotations = BTreeMap::new();
    if let Some(d) = &sol.description {
        annotations.insert("iotc.dev/description".to_string(), d.clone());
    }
    docs.push(&Namespace {
        metadata: ObjectMeta {
            name: Some(ns.name.clone()),
            labels: Some(labels),
            annotations: meta::some_map(annotations),
            ..Default::default()
        },
        ..Default::default()
    })?;

    let t = totals(ctx, members);
    let mut hard = BTreeMap::from([
        ("pods".to_string(), meta::count(t.pods)),
        ("requests.cpu".to_string(), meta::cpu(t.cpu_request)),
        ("limits.cpu".to_string(), meta::cpu(t.cpu_limit)),
        ("requests.memory".to_string(), meta::bytes(t.memory_request)),
        ("limits.memory".to_string(), meta::bytes(t.memory_limit)),
        ("persistentvolumeclaims".to_string(), meta::count(t.claims)),
        ("requests.storage".to_string(), meta::bytes(t.storage)),
    ]);
    if t.gpu > 0 {
        hard.insert(format!("requests.{GPU_RESOURCE}"), meta::count(t.gpu));
    }
    docs.push(&ResourceQuota {
        metadata: meta::object_meta(&ns.name, &sol.name, meta::solution_labels(sol), BTreeMap::new()),
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard),
            ..Default::default()
        }),
        ..Default::default()
    })?;

    docs.push(&LimitRange {
        metadata: meta::object_meta(&ns.name, &sol.name, meta::solution_labels(sol), BTreeMap::new()),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default: Some(BTreeMap::from([
                    ("cpu".to_string(), meta::cpu(2 * DEFAULT_CPU_MILLIS)),
                    ("memory".to_string(), meta::bytes(DEFAULT_MEMORY_BYTES)),
                ])),
                default_request: Some(BTreeMap::from([
                    ("cpu".to_string(), meta::cpu(DEFAULT_CPU_MILLIS)),
                    ("memory".to_string(), meta::bytes(DEFAULT_MEMORY_BYTES)),
                ])),
                ..Default::default()
            }],
        }),
    })?;
    Ok(())
}
