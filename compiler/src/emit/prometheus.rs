//! The self-contained monitoring configuration, for any backend: a
//! Prometheus's `prometheus.yml` (a scrape job per target the checker chose,
//! `ir::Monitoring`), its rule file (the `monitor { alert … }` rules of the
//! models it scrapes) and a Grafana's provisioned datasource. Typed
//! documents written by the one YAML writer; the backend says how a target's
//! pods are found by DNS.

use super::yaml;
use crate::ir::{Alert, Model, Monitoring, ScrapeTarget, Solution, PROMETHEUS_RULES_FILE};
use serde::Serialize;
use std::collections::BTreeMap;

/// A Prometheus rule file (also the body of a PrometheusRule).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub groups: Vec<RuleGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleGroup {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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

/// `prometheus.yml`, the fields iotc writes.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub global: Global,
    pub rule_files: Vec<String>,
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_write: Vec<RemoteWriteConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    pub scrape_interval: String,
    pub evaluation_interval: String,
    /// A fleet's Prometheus that writes to the cloud: `fleet` and `site`,
    /// so the receiver tells the sites apart.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external_labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    pub url: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    pub job_name: String,
    pub scrape_interval: String,
    pub metrics_path: String,
    pub scheme: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_sd_configs: Vec<DnsSdConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relabel_configs: Vec<Relabel>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    pub targets: Vec<String>,
}

/// DNS service discovery: every A record of `names`, on `port`. A headless
/// Service's name has one record per pod.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSdConfig {
    pub names: Vec<String>,
    #[serde(rename = "type")]
    pub type_: String,
    pub port: u16,
    pub refresh_interval: String,
}

/// A fixed label on every series of a job.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relabel {
    pub target_label: String,
    pub replacement: String,
}

/// A Grafana datasource provisioning file.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Datasources {
    pub api_version: u32,
    pub datasources: Vec<Datasource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Datasource {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub uid: String,
    pub access: String,
    pub url: String,
    pub is_default: bool,
    pub editable: bool,
}

/// Seconds as a Prometheus duration (`1h`, `15m`, `1h30m`, `45s`).
pub fn duration(secs: u64) -> String {
    if secs == 0 {
        return "0".to_string();
    }
    let mut out = String::new();
    let (h, rest) = (secs / 3600, secs % 3600);
    let (m, s) = (rest / 60, rest % 60);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
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

/// The Kubernetes namespace of workload `name` (`ir::Workload::namespace`),
/// which its series carry as the `namespace` label.
fn namespace_of<'a>(sol: &'a Solution, name: &str) -> &'a str {
    sol.workloads
        .iter()
        .find(|w| w.name == name)
        .map_or(sol.namespace.as_str(), |w| w.namespace.as_str())
}

/// The label matchers of the workloads `services` (their series carry
/// `namespace` and `service` labels): `namespace="…", service=~"a|b"`.
fn selector(sol: &Solution, services: &[&str]) -> String {
    let service = match services {
        [one] => format!("service=\"{one}\""),
        many => format!("service=~\"{}\"", many.join("|")),
    };
    // Their namespaces (a `-host` one for a server with an on-disk model
    // cache), as the checker decided them.
    let namespaces: std::collections::BTreeSet<&str> = services.iter().map(|s| namespace_of(sol, s)).collect();
    let namespaces: Vec<&str> = namespaces.into_iter().collect();
    let namespace = match namespaces.as_slice() {
        [one] => format!("namespace=\"{one}\""),
        many => format!("namespace=~\"{}\"", many.join("|")),
    };
    format!("{namespace}, {service}")
}

/// The alert rules of model `m` over the metric sources scraped here: its
/// `servers`, whose runtime's `provides` PromQL each alert takes when
/// there is one, and its `metrics_from` workloads `exporters`, whose own
/// series an alert on a metric some runtime lacks selects. One group
/// `<model>.rules`; `None` when no alert has a source here.
pub fn rule_group(sol: &Solution, m: &Model, servers: &[&str], exporters: &[&str]) -> Option<RuleGroup> {
    let mut rules = Vec::new();
    for a in &m.alerts {
        // (PromQL, its sources): one rule per runtime's PromQL over the
        // servers of that runtime, one over the exporters.
        let mut exprs: Vec<(String, Vec<&str>)> = Vec::new();
        for s in servers {
            let Some(q) = a.provided_by.get(*s) else { continue };
            match exprs.iter_mut().find(|(e, _)| e == q) {
                Some((_, of)) => of.push(s),
                None => exprs.push((q.clone(), vec![*s])),
            }
        }
        let mut exprs: Vec<String> = exprs
            .into_iter()
            .map(|(q, of)| {
                format!(
                    "({}) {} {}",
                    q.replace(crate::ir::ALERT_SELECTOR, &selector(sol, &of)),
                    a.op,
                    a.threshold
                )
            })
            .collect();
        if a.from_exporters && !exporters.is_empty() {
            exprs.push(format!(
                "{}{{{}}} {} {}",
                a.metric,
                selector(sol, exporters),
                a.op,
                a.threshold
            ));
        }
        let for_ = a.for_secs.map(duration);
        let mut summary = format!("{} {} {} {}", m.name, a.metric, a.op, a.threshold);
        if let Some(f) = &for_ {
            summary.push_str(&format!(" for {f}"));
        }
        for expr in exprs {
            rules.push(Rule {
                alert: Some(alert_name(&m.name, a)),
                record: None,
                expr,
                for_: for_.clone(),
                labels: Some(BTreeMap::from([
                    ("severity".to_string(), "warning".to_string()),
                    ("model".to_string(), m.name.clone()),
                ])),
                annotations: Some(BTreeMap::from([
                    ("summary".to_string(), summary.clone()),
                    (
                        "description".to_string(),
                        format!(
                            "Model {} version {} on {{{{ $labels.instance }}}}: {} is {{{{ $value }}}}.",
                            m.name, m.version, a.metric
                        ),
                    ),
                ])),
            });
        }
    }
    if rules.is_empty() {
        return None;
    }
    Some(RuleGroup {
        name: format!("{}.rules", crate::names::k8s_name(&m.name)),
        interval: None,
        rules,
    })
}

/// The Prometheus's own metrics path.
fn own_metrics_path(sol: &Solution, m: &Monitoring) -> String {
    sol.workloads
        .iter()
        .find(|w| w.name == m.prometheus)
        .and_then(|w| w.container.metrics.clone())
        .unwrap_or_else(|| "/metrics".into())
}

/// The three files of one Prometheus: `prometheus.yml` (named as its
/// `--config.file`), [`PROMETHEUS_RULES_FILE`] beside it. `site` is the
/// fleet site this copy runs at (its `site` external label when it writes
/// to another Prometheus); it scrapes, and has rules for, only the targets
/// with copies there. `dns_name` is how the backend resolves a
/// target's pods (`<service>.<namespace>.svc` on Kubernetes, the service
/// on a Compose network).
pub fn prometheus_files(
    sol: &Solution,
    m: &Monitoring,
    site: Option<&str>,
    dns_name: impl Fn(&ScrapeTarget) -> String,
) -> Result<BTreeMap<String, String>, String> {
    let interval = duration(crate::ir::SCRAPE_INTERVAL_SECS);
    let mut jobs = vec![ScrapeConfig {
        job_name: m.prometheus.clone(),
        scrape_interval: interval.clone(),
        metrics_path: own_metrics_path(sol, m),
        scheme: "http".into(),
        static_configs: vec![StaticConfig {
            targets: vec![format!("localhost:{}", m.url.port)],
        }],
        dns_sd_configs: Vec::new(),
        relabel_configs: vec![
            Relabel {
                target_label: "namespace".into(),
                replacement: namespace_of(sol, &m.prometheus).to_string(),
            },
            Relabel {
                target_label: "service".into(),
                replacement: m.prometheus.clone(),
            },
        ],
    }];
    let targets: Vec<&ScrapeTarget> = m.targets.iter().filter(|t| runs_here(sol, t, site)).collect();
    for t in &targets {
        jobs.push(ScrapeConfig {
            job_name: t.workload.clone(),
            scrape_interval: duration(t.interval_secs),
            metrics_path: t.path.clone(),
            scheme: "http".into(),
            static_configs: Vec::new(),
            dns_sd_configs: vec![DnsSdConfig {
                names: vec![dns_name(t)],
                type_: "A".into(),
                port: t.port,
                refresh_interval: interval.clone(),
            }],
            // The labels the alert rules select on (as the Prometheus
            // Operator sets them from a ServiceMonitor).
            relabel_configs: vec![
                Relabel {
                    target_label: "namespace".into(),
                    replacement: namespace_of(sol, &t.workload).to_string(),
                },
                Relabel {
                    target_label: "service".into(),
                    replacement: t.workload.clone(),
                },
            ],
        });
    }
    let rules_path = format!("{}/{PROMETHEUS_RULES_FILE}", m.config_dir.trim_end_matches('/'));
    let config = Config {
        global: Global {
            scrape_interval: interval.clone(),
            evaluation_interval: interval,
            external_labels: external_labels(m, site),
        },
        rule_files: vec![rules_path],
        scrape_configs: jobs,
        remote_write: m
            .remote_write
            .iter()
            .map(|r| RemoteWriteConfig {
                url: r.url.clone(),
                name: r.to.clone(),
            })
            .collect(),
    };
    // One group per model with alerts on a source scraped here.
    let mut groups = Vec::new();
    for model in &sol.models {
        let of = |list: &[String]| -> Vec<&str> {
            targets
                .iter()
                .filter(|t| list.contains(&t.workload))
                .map(|t| t.workload.as_str())
                .collect()
        };
        groups.extend(rule_group(sol, model, &of(&model.serve), &of(&model.metrics_from)));
    }
    let rules = RuleFile { groups };
    let config = yaml::to_string(&config).map_err(|e| e.to_string())?;
    let rules = yaml::to_string(&rules).map_err(|e| e.to_string())?;
    Ok(BTreeMap::from([
        (m.config_file.clone(), config),
        (PROMETHEUS_RULES_FILE.to_string(), rules),
    ]))
}

/// Whether target `t` has copies where this Prometheus runs: at `site` for
/// a fleet's (a workload `where` the site's labels do not match has none
/// there, and neither a scrape job nor alert rules for it; a site's view of
/// the solution, as the Kubernetes backend has, leaves it out altogether).
fn runs_here(sol: &Solution, t: &ScrapeTarget, site: Option<&str>) -> bool {
    let Some(site) = site else { return true };
    match sol
        .workloads
        .iter()
        .find(|w| w.name == t.workload)
        .map(|w| &w.placement)
    {
        Some(crate::ir::Placement::Fleet { sites, .. }) => sites.iter().any(|s| &*s.site == site && s.replicas > 0),
        Some(crate::ir::Placement::Cluster { .. }) => true,
        None => false,
    }
}

/// What a Prometheus writing to another one labels its samples with: its
/// fleet, and its site when `sol` is one site's view (every site being its
/// own cluster, with its own copy of the config).
fn external_labels(m: &Monitoring, site: Option<&str>) -> BTreeMap<String, String> {
    let Some(rw) = &m.remote_write else {
        return BTreeMap::new();
    };
    let mut labels = BTreeMap::from([("fleet".to_string(), m.group.clone())]);
    if let Some(site) = site {
        labels.insert("site".to_string(), site.to_string());
    }
    if rw.per_gateway {
        labels.insert("gateway".to_string(), crate::ir::GATEWAY_LABEL_VALUE.to_string());
    }
    labels
}

/// The datasource file of a Grafana reading `m`'s Prometheus.
pub fn grafana_datasources(m: &Monitoring) -> Result<String, String> {
    let ds = Datasources {
        api_version: 1,
        datasources: vec![Datasource {
            name: "Prometheus".into(),
            type_: "prometheus".into(),
            uid: m.prometheus.clone(),
            access: "proxy".into(),
            url: m.url.url(),
            is_default: true,
            editable: false,
        }],
    };
    yaml::to_string(&ds).map_err(|e| e.to_string())
}

/// Where Grafana's datasource file is written in its provisioning folder.
pub const GRAFANA_DATASOURCE_FILE: &str = "iotc-prometheus.yaml";
