//! Self-contained monitoring on Kubernetes (`ir::Solution::monitoring`): the
//! ConfigMap a Prometheus reads its `prometheus.yml` and rule file from, the
//! ConfigMap of a Grafana's datasource, and the headless `<w>-metrics`
//! Service through which Prometheus finds every pod of a target by DNS.
//! No operator, no custom resource, no API access.

use super::{err, Ctx, Placed};
use crate::emit::prometheus;
use crate::emit::EmitError;
use crate::ir::{Monitoring, ScrapeTarget, GRAFANA_DATASOURCES_DIR};
use std::collections::BTreeMap;

/// A ConfigMap mounted as a folder of files into a workload's container.
pub struct MountedConfig {
    pub config_map: String,
    /// The pod volume's name.
    pub volume: String,
    /// Where the container sees the files.
    pub dir: String,
    /// File name → contents.
    pub data: BTreeMap<String, String>,
}

/// The Monitoring entries of `p`'s group.
fn here<'a>(ctx: &Ctx<'a>, p: &Placed<'_>) -> Vec<&'a Monitoring> {
    let fleet = matches!(p.w.placement, crate::ir::Placement::Fleet { .. });
    ctx.sol
        .monitoring
        .iter()
        .filter(|m| m.group == p.group && m.fleet == fleet)
        .collect()
}

/// How Prometheus finds a target's pods: its headless Service's name in
/// the target workload's namespace (`ir::Workload::namespace`; every pod
/// is an A record).
pub fn dns_name(sol: &crate::ir::Solution, t: &ScrapeTarget) -> String {
    let namespace = sol
        .workloads
        .iter()
        .find(|w| w.name == t.workload)
        .map_or(sol.namespace.as_str(), |w| w.namespace.as_str());
    format!("{}.{namespace}.svc", t.service)
}

/// The config folders `p` mounts: a Prometheus's config, a Grafana's
/// datasource, the folders of its image's `files` (one ConfigMap each).
pub fn mounted_configs(ctx: &Ctx<'_>, p: &Placed<'_>) -> Result<Vec<MountedConfig>, EmitError> {
    let sol = ctx.sol;
    let mut out = Vec::new();
    let mut folders: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    for (path, content) in &p.w.container.files {
        if let Some((dir, name)) = path.rsplit_once('/') {
            folders
                .entry(dir)
                .or_default()
                .insert(name.to_string(), content.clone());
        }
    }
    let many = folders.len() > 1;
    for (i, (dir, data)) in folders.into_iter().enumerate() {
        let suffix = if many { format!("-{i}") } else { String::new() };
        out.push(MountedConfig {
            config_map: format!("{}-files{suffix}", p.w.name),
            volume: format!("iotc-files{suffix}"),
            dir: dir.to_string(),
            data,
        });
    }
    for m in here(ctx, p) {
        if m.prometheus == p.w.name {
            // A fleet's manifests are one site's view: that site.
            let site = match sol
                .fleets
                .iter()
                .find(|f| m.fleet && f.name == m.group)
                .map(|f| f.sites.as_slice())
            {
                Some([site]) => Some(site.name.as_str()),
                _ => None,
            };
            let data = prometheus::prometheus_files(sol, m, site, |t| dns_name(sol, t))
                .map_err(|e| err(format!("cannot write the Prometheus config of `{}`: {e}", m.prometheus)))?;
            out.push(MountedConfig {
                config_map: format!("{}-config", p.w.name),
                volume: "iotc-prometheus-config".into(),
                dir: m.config_dir.clone(),
                data,
            });
        }
        if m.dashboards.iter().any(|d| d == &p.w.name) {
            let text = prometheus::grafana_datasources(m)
                .map_err(|e| err(format!("cannot write the datasource of `{}`: {e}", p.w.name)))?;
            out.push(MountedConfig {
                config_map: format!("{}-datasources", p.w.name),
                volume: "iotc-grafana-datasources".into(),
                dir: GRAFANA_DATASOURCES_DIR.to_string(),
                data: BTreeMap::from([(prometheus::GRAFANA_DATASOURCE_FILE.to_string(), text)]),
            });
        }
    }
    Ok(out)
}

/// The headless Services `p`'s file carries for scraping: `(name, port)`,
/// each once; none when its own Service is already headless.
pub fn metrics_services(ctx: &Ctx<'_>, p: &Placed<'_>) -> Vec<(String, u16)> {
    let mut out: Vec<(String, u16)> = Vec::new();
    for m in here(ctx, p) {
        for t in m
            .targets
            .iter()
            .filter(|t| t.workload == p.w.name && t.service != p.w.name)
        {
            if !out.iter().any(|(s, _)| s == &t.service) {
                out.push((t.service.clone(), t.port));
            }
        }
    }
    out
}
