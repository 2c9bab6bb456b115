//! Monitoring: which Prometheus (`from std.services.prometheus`) scrapes
//! which workloads, where its config is read, and which Grafana (`from
//! std.services.grafana`) reads which Prometheus. Decided once here and
//! carried by `ir::Solution::monitoring`; the scrapes and the Grafana
//! queries also become flows, so network policies admit exactly them.

use crate::ir::{self, Endpoint, Monitoring, Placement, ScrapeTarget, WorkloadKind};

/// The cluster or fleet a workload runs on, and whether it is a fleet.
pub(super) fn group(w: &ir::Workload) -> (&str, bool) {
    match &w.placement {
        Placement::Cluster { cluster, .. } => (cluster, false),
        Placement::Fleet { fleet, .. } => (fleet, true),
    }
}

/// Where the image reads its config when `args` name none.
const DEFAULT_CONFIG: &str = "/etc/prometheus/prometheus.yml";

/// The file `--config.file` names (`--config.file=P` or `--config.file P`).
fn config_file(args: &[String]) -> String {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(p) = a.strip_prefix("--config.file=") {
            return p.to_string();
        }
        if a == "--config.file" {
            if let Some(p) = it.next() {
                return p.clone();
            }
        }
    }
    DEFAULT_CONFIG.to_string()
}

/// The headless Service whose DNS name resolves to every pod of `w`: a
/// daemon's own (already headless), else `<w>-metrics`, shortened to fit a
/// DNS label (63) with a hash of the whole name so two never collide.
pub fn scrape_service(w: &ir::Workload) -> String {
    if w.kind == WorkloadKind::Daemon && !w.public {
        return w.name.clone();
    }
    let full = format!("{}-metrics", w.name);
    if full.len() <= 63 {
        return full;
    }
    // FNV-1a, 32 bits: stable across builds and platforms.
    let hash = w
        .name
        .bytes()
        .fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    let short = format!("{hash:08x}");
    let head = w.name.get(..46).unwrap_or(&w.name).trim_end_matches('-');
    format!("{head}-{short}-metrics")
}

/// Every Prometheus of the solution with its targets and its Grafanas,
/// sorted by group, then Prometheus.
pub(super) fn decide(workloads: &[ir::Workload], models: &[ir::Model]) -> Vec<Monitoring> {
    let is = |w: &ir::Workload, t: &str| w.template.as_deref() == Some(t);
    let sources = ir::metric_source_models(workloads, models);
    let mut out = Vec::new();
    for p in workloads.iter().filter(|w| is(w, ir::PROMETHEUS_TEMPLATE)) {
        let Some(port) = p.container.port else { continue };
        let file = config_file(&p.container.args);
        // A relative path is read from the image's working folder (the
        // data volume); only an absolute one gets a mounted config.
        let Some((dir, name)) = file.rsplit_once('/').filter(|_| file.starts_with('/')) else {
            continue;
        };
        let dir = if dir.is_empty() { "/" } else { dir };
        // A volume of its own at that folder is the user's config: two
        // mounts at one path are refused by Kubernetes.
        if p.container.volumes.iter().any(|v| v.mount.trim_end_matches('/') == dir) {
            continue;
        }
        let (g, fleet) = group(p);
        let mut targets: Vec<ScrapeTarget> = workloads
            .iter()
            .filter(|w| w.name != p.name && group(w) == (g, fleet))
            .filter(|w| !matches!(w.kind, WorkloadKind::Job | WorkloadKind::Train))
            .filter_map(|w| {
                let port = w.container.port?;
                // Only a workload that serves metrics is scraped: a
                // serving runtime without `metrics` exports none.
                w.container.metrics.as_ref()?;
                // The first monitored model it is a source of sets the
                // scrape interval.
                let model = sources.get(w.name.as_str());
                Some(ScrapeTarget {
                    workload: w.name.clone(),
                    service: scrape_service(w),
                    // A runtime serving its metrics on their own listener
                    // (Triton's 8002) is scraped there.
                    port: w.container.metrics_port.unwrap_or(port),
                    path: w.container.metrics.clone().unwrap_or_default(),
                    interval_secs: model.map_or(ir::SCRAPE_INTERVAL_SECS, |m| m.monitor_interval_secs),
                    model: model.map(|m| m.name.clone()),
                })
            })
            .collect();
        targets.sort_by(|a, b| a.workload.cmp(&b.workload));
        out.push(Monitoring {
            prometheus: p.name.clone(),
            group: g.to_string(),
            fleet,
            config_dir: dir.to_string(),
            config_file: name.to_string(),
            url: Endpoint {
                scheme: "http".into(),
                host: p.name.clone(),
                port,
            },
            targets,
            dashboards: Vec::new(),
            remote_write: None,
            receives_from: Vec::new(),
        });
    }
    out.sort_by(|a, b| (&a.group, a.fleet, &a.prometheus).cmp(&(&b.group, b.fleet, &b.prometheus)));
    // Each Grafana reads the Prometheus of its group it talks to, else the
    // first of its group.
    for gf in workloads.iter().filter(|w| is(w, ir::GRAFANA_TEMPLATE)) {
        let here = |m: &Monitoring| (m.group.as_str(), m.fleet) == group(gf);
        let named = out.iter().position(|m| here(m) && gf.talks_to.contains(&m.prometheus));
        let first = out.iter().position(here);
        // A volume of its own at the datasource folder is the user's.
        let own = gf
            .container
            .volumes
            .iter()
            .any(|v| v.mount.trim_end_matches('/') == ir::GRAFANA_DATASOURCES_DIR);
        if let Some(m) = named.or(first).filter(|_| !own).and_then(|i| out.get_mut(i)) {
            m.dashboards.push(gf.name.clone());
        }
    }
    out
}

/// A fleet's Prometheus that `talks_to` a cluster's Prometheus writes to
/// it remotely, at the endpoint the flows exposed it at to other clusters
/// and fleets (`Workload::exposure`); the receiver gets
/// [`ir::REMOTE_WRITE_RECEIVER_FLAG`]. After the flows, which decide the
/// exposure (a receiver without one, for want of a `domain`, is E0106
/// there).
pub(super) fn remote_writes(monitoring: &mut [Monitoring], workloads: &mut [ir::Workload], fleets: &[ir::Fleet]) {
    // (writer's index, receiver's index, remote-write URL)
    let mut pairs: Vec<(usize, usize, String)> = Vec::new();
    for (i, m) in monitoring.iter().enumerate().filter(|(_, m)| m.fleet) {
        let Some(p) = workloads.iter().find(|w| w.name == m.prometheus) else {
            continue;
        };
        let receiver = monitoring
            .iter()
            .enumerate()
            .find(|(_, n)| !n.fleet && p.talks_to.contains(&n.prometheus));
        let Some((j, n)) = receiver else { continue };
        let Some(exposure) = workloads
            .iter()
            .find(|w| w.name == n.prometheus)
            .and_then(|w| w.exposure.as_ref())
        else {
            continue;
        };
        pairs.push((i, j, format!("{}/api/v1/write", exposure.endpoint.url())));
    }
    for (i, j, url) in pairs {
        let (Some(from), Some(to)) = (
            monitoring.get(i).cloned(),
            monitoring.get(j).map(|m| m.prometheus.clone()),
        ) else {
            continue;
        };
        let per_gateway = fleets
            .iter()
            .any(|f| f.name == from.group && !f.runtime.is_kubernetes());
        if per_gateway {
            add_arg(workloads, &from.prometheus, ir::EXPAND_EXTERNAL_LABELS_FLAG);
        }
        add_arg(workloads, &to, ir::REMOTE_WRITE_RECEIVER_FLAG);
        if let Some(n) = monitoring.get_mut(j) {
            n.receives_from.push(from.prometheus.clone());
        }
        if let Some(m) = monitoring.get_mut(i) {
            m.remote_write = Some(ir::RemoteWrite { to, url, per_gateway });
        }
    }
}

/// Give workload `name`'s container the argument `flag`, once.
fn add_arg(workloads: &mut [ir::Workload], name: &str, flag: &str) {
    if let Some(w) = workloads.iter_mut().find(|w| w.name == name) {
        if !w.container.args.iter().any(|a| a == flag) {
            w.container.args.push(flag.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::config_file;

    #[test]
    fn the_config_file_is_read_from_either_flag_form() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(config_file(&args(&["--config.file=/etc/p/x.yml"])), "/etc/p/x.yml");
        assert_eq!(
            config_file(&args(&["--web.enable-lifecycle", "--config.file", "/c/p.yml"])),
            "/c/p.yml"
        );
        assert_eq!(config_file(&[]), "/etc/prometheus/prometheus.yml");
    }
}
