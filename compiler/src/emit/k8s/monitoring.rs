//! `30-monitoring.yaml`: a ServiceMonitor per model server and a
//! PrometheusRule per model, for models with `monitor { }`. The two
//! Prometheus Operator custom resources (`monitoring.coreos.com/v1`) are
//! typed here with the fields iotc writes; their names follow the CRDs.

use super::meta;
use super::pod;
use super::{Ctx, Docs, Placed};
use crate::emit::EmitError;
use crate::ir::{Alert, Model, WorkloadKind};
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleGroup {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    pub expr: String,
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
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

fn model_of<'a>(ctx: &Ctx<'a>, p: &Placed<'_>) -> Option<&'a Model> {
    let m = p.w.model.as_ref()?;
    ctx.sol.models.iter().find(|x| x.name == m.model)
}

/// The group's model servers whose model has `monitor { }` (and a port to
/// scrape).
pub fn monitored_servers<'a>(ctx: &Ctx<'a>, members: &[Placed<'a>]) -> Vec<Placed<'a>> {
    let mut out: Vec<Placed<'a>> = members
        .iter()
        .filter(|p| p.w.kind == WorkloadKind::Serve && p.w.container.port.is_some())
        .filter(|p| model_of(ctx, p).is_some_and(|m| m.monitored))
        .copied()
        .collect();
    out.sort_by(|a, b| a.w.name.cmp(&b.w.name));
    out
}

fn camel(s: &str) -> String {
    s.split(['_', '-'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut cs = p.chars();
            match cs.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + cs.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn alert_name(model: &str, a: &Alert) -> String {
    let suffix = match a.op.as_str() {
        "<" | "<=" => "Low",
        ">" | ">=" => "High",
        "==" => "Equal",
        _ => "Changed",
    };
    format!("{}{}{suffix}", camel(model), camel(&a.metric))
}

pub fn docs(ctx: &Ctx<'_>, members: &[Placed<'_>]) -> Result<Docs, EmitError> {
    let sol = ctx.sol;
    let mut docs = Docs::new(ctx.sol, 1);
    let servers = monitored_servers(ctx, members);
    for p in &servers {
        let Some(m) = model_of(ctx, p) else { continue };
        let c = &p.w.container;
        docs.push(&ServiceMonitor::new(
            meta::object_meta(sol, &p.w.name, meta::workload_labels(sol, p, None), BTreeMap::new()),
            ServiceMonitorSpec {
                selector: meta::name_selector(&p.w.name),
                namespace_selector: Some(NamespaceSelector {
                    any: None,
                    match_names: Some(vec![sol.namespace.clone()]),
                }),
                endpoints: vec![ServiceMonitorEndpoint {
                    port: Some(pod::port_name(c).into()),
                    path: Some(c.metrics.clone().unwrap_or_else(|| "/metrics".into())),
                    scheme: Some("http".into()),
                    interval: Some(meta::duration(m.monitor_interval_secs)),
                    scrape_timeout: None,
                }],
            },
        ))?;
    }
    // One PrometheusRule per model, over its servers in this group.
    let mut models: Vec<&Model> = servers.iter().filter_map(|p| model_of(ctx, p)).collect();
    models.sort_by(|a, b| a.name.cmp(&b.name));
    models.dedup_by(|a, b| a.name == b.name);
    for m in models.into_iter().filter(|m| !m.alerts.is_empty()) {
        let services: Vec<&str> = servers
            .iter()
            .filter(|p| p.w.model.as_ref().is_some_and(|r| r.model == m.name))
            .map(|p| p.w.name.as_str())
            .collect();
        let service = match services.as_slice() {
            [one] => format!("service=\"{one}\""),
            many => format!("service=~\"{}\"", many.join("|")),
        };
        let rules = m
            .alerts
            .iter()
            .map(|a| {
                let for_ = a.for_secs.map(meta::duration);
                let mut summary = format!("{} {} {} {}", m.name, a.metric, a.op, a.threshold);
                if let Some(f) = &for_ {
                    summary.push_str(&format!(" for {f}"));
                }
                Rule {
                    alert: Some(alert_name(&m.name, a)),
                    record: None,
                    expr: format!(
                        "{}{{namespace=\"{}\", {service}}} {} {}",
                        a.metric, sol.namespace, a.op, a.threshold
                    ),
                    for_,
                    labels: Some(BTreeMap::from([
                        ("severity".to_string(), "warning".to_string()),
                        ("model".to_string(), m.name.clone()),
                    ])),
                    annotations: Some(BTreeMap::from([
                        ("summary".to_string(), summary),
                        (
                            "description".to_string(),
                            format!(
                                "Model {} version {} on pod {{{{ $labels.pod }}}}: {} is {{{{ $value }}}}.",
                                m.name, m.version, a.metric
                            ),
                        ),
                    ])),
                }
            })
            .collect();
        let name = meta::k8s_name(&m.name);
        let mut labels = meta::solution_labels(sol);
        labels.insert("iotc.dev/model".into(), name.clone());
        docs.push(&PrometheusRule::new(
            meta::object_meta(sol, &name, labels, BTreeMap::new()),
            PrometheusRuleSpec {
                groups: vec![RuleGroup {
                    name: format!("{name}.rules"),
                    interval: None,
                    rules,
                }],
            },
        ))?;
    }
    Ok(docs)
}
