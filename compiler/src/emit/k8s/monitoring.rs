//! `30-monitoring.yaml`: a ServiceMonitor per model server and a
//! PrometheusRule per model, for models with `monitor { }` whose servers
//! no Prometheus of the solution scrapes (warning W0406). The two
//! Prometheus Operator custom resources (`monitoring.coreos.com/v1`) are
//! typed here with the fields iotc writes; their names follow the CRDs.

use super::meta;
use super::pod;
use super::{Ctx, Docs, Placed};
use crate::emit::prometheus;
pub use crate::emit::prometheus::{Rule, RuleGroup};
use crate::emit::EmitError;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const API_VERSION: &str = "monitoring.coreos.com/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceMonitor {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: ServiceMonitorSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceMonitorSpec {
    pub selector: LabelSelector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<NamespaceSelector>,
    pub endpoints: Vec<ServiceMonitorEndpoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_names: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceMonitorEndpoint {
    /// Name of the Service port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusRule {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: PrometheusRuleSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusRuleSpec {
    pub groups: Vec<RuleGroup>,
}

impl ServiceMonitor {
    pub fn new(metadata: ObjectMeta, spec: ServiceMonitorSpec) -> ServiceMonitor {
        ServiceMonitor {
            api_version: API_VERSION.into(),
            kind: "ServiceMonitor".into(),
            metadata,
            spec,
        }
    }
}

impl PrometheusRule {
    pub fn new(metadata: ObjectMeta, spec: PrometheusRuleSpec) -> PrometheusRule {
        PrometheusRule {
            api_version: API_VERSION.into(),
            kind: "PrometheusRule".into(),
            metadata,
            spec,
        }
    }
}

/// The group's metric sources of monitored models (servers whose runtime
/// serves `metrics`, `metrics_from` workloads; `monitoring::metric_sources`)
/// that no Prometheus of the solution scrapes (`Solution::monitoring`),
/// each once with its scrape interval (`ir::metric_source_models`), sorted
/// by name: those are left to a Prometheus Operator, the
/// prerequisite W0406 names.
pub fn monitored_servers<'a>(ctx: &Ctx<'a>, members: &[Placed<'a>]) -> Vec<(Placed<'a>, u64)> {
    let scraped = |p: &Placed<'_>| {
        ctx.sol
            .monitoring
            .iter()
            .any(|m| m.targets.iter().any(|t| t.workload == p.w.name))
    };
    let sources = crate::ir::metric_source_models(&ctx.sol.workloads, &ctx.sol.models);
    let mut out: Vec<(Placed<'a>, u64)> = members
        .iter()
        .filter(|p| !scraped(p))
        .filter_map(|p| sources.get(p.w.name.as_str()).map(|m| (*p, m.monitor_interval_secs)))
        .collect();
    out.sort_by(|a, b| a.0.w.name.cmp(&b.0.w.name));
    out.dedup_by(|a, b| a.0.w.name == b.0.w.name);
    out
}

pub fn docs(ctx: &Ctx<'_>, members: &[Placed<'_>]) -> Result<Docs, EmitError> {
    let sol = ctx.sol;
    let mut docs = Docs::new(ctx.sol, 1);
    let servers = monitored_servers(ctx, members);
    for (p, interval) in &servers {
        let interval = *interval;
        let c = &p.w.container;
        docs.push(&ServiceMonitor::new(
            meta::object_meta(
                &p.w.namespace,
                &p.w.name,
                meta::workload_labels(sol, p, None),
                BTreeMap::new(),
            ),
            ServiceMonitorSpec {
                selector: meta::name_selector(&p.w.name),
                namespace_selector: Some(NamespaceSelector {
                    any: None,
                    match_names: Some(vec![p.w.namespace.clone()]),
                }),
                endpoints: vec![ServiceMonitorEndpoint {
                    port: Some(pod::metrics_port_name(c).into()),
                    path: c.metrics.clone(),
                    scheme: Some("http".into()),
                    interval: Some(meta::duration(interval)),
                    scrape_timeout: None,
                }],
            },
        ))?;
    }
    // One PrometheusRule per model, over its sources in this group.
    for m in sol.models.iter().filter(|m| m.monitored) {
        let of = |list: &[String]| -> Vec<&Placed<'_>> {
            servers
                .iter()
                .map(|(p, _)| p)
                .filter(|p| list.contains(&p.w.name))
                .collect()
        };
        let (of_serve, of_exporters) = (of(&m.serve), of(&m.metrics_from));
        fn names<'b>(ps: &[&Placed<'b>]) -> Vec<&'b str> {
            ps.iter().map(|p| p.w.name.as_str()).collect()
        }
        // Beside its first source (the operator reads rules from every
        // namespace its ruleNamespaceSelector admits).
        let Some(namespace) = of_serve
            .iter()
            .chain(&of_exporters)
            .next()
            .map(|p| p.w.namespace.as_str())
        else {
            continue;
        };
        let Some(group) = prometheus::rule_group(sol, m, &names(&of_serve), &names(&of_exporters)) else {
            continue;
        };
        let name = meta::k8s_name(&m.name);
        let mut labels = meta::solution_labels(sol);
        labels.insert("iotc.dev/model".into(), name.clone());
        docs.push(&PrometheusRule::new(
            meta::object_meta(namespace, &name, labels, BTreeMap::new()),
            PrometheusRuleSpec { groups: vec![group] },
        ))?;
    }
    Ok(docs)
}
