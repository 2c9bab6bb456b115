//! `iotc plan`: a readable summary of the evaluated solution per tier —
//! each workload, where it runs, replicas per site and in total, and what
//! each node group carries against its capacity. Pure: IR in, text out.

use crate::check::values::{format_cpu, format_memory};
use crate::ir::{NodeGroupCapacity, Placement, Solution, Workload, WorkloadKind};
use std::fmt::Write;

fn pct(used: u64, cap: u64) -> String {
    if cap == 0 {
        return "-".into();
    }
    format!("{}%", used.saturating_mul(100) / cap)
}

fn capacity_line(c: &NodeGroupCapacity) -> String {
    let scope = if c.per_node { "per gateway" } else { "pool total" };
    let mut s = format!(
        "{scope}: cpu {} / {} ({}), memory {} / {} ({})",
        format_cpu(c.cpu_used_millis),
        format_cpu(c.cpu_capacity_millis),
        pct(c.cpu_used_millis, c.cpu_capacity_millis),
        format_memory(c.memory_used_bytes),
        format_memory(c.memory_capacity_bytes),
        pct(c.memory_used_bytes, c.memory_capacity_bytes),
    );
    if c.gpu_capacity > 0 || c.gpu_used > 0 {
        let _ = write!(s, ", gpu {} / {}", c.gpu_used, c.gpu_capacity);
    }
    s
}

fn resources(w: &Workload) -> String {
    let mut s = format!(
        "{} cpu, {}",
        format_cpu(w.container.cpu_millis),
        format_memory(w.container.memory_bytes)
    );
    if w.container.gpu > 0 {
        let _ = write!(s, ", {} gpu", w.container.gpu);
    }
    s
}

fn kind(w: &Workload) -> String {
    let mut k = w.kind.as_str().to_string();
    if w.schedule.is_some() {
        k.push_str(" (cron)");
    }
    k
}

/// What a critical workload at a Kubernetes site promises when its gateway
/// fails: marked unreachable after the node monitor's grace period, evicted
/// after its toleration, then started elsewhere.
fn failover_line(standby: u32) -> String {
    let bound =
        u64::from(crate::ir::NODE_MONITOR_GRACE_SECS) + u64::try_from(crate::ir::CRITICAL_TOLERATION_SECS).unwrap_or(0);
    format!(
        "critical: fails over within {bound} s of a gateway going silent ({} s node grace + {} s toleration), plus its start-up, to {}",
        crate::ir::NODE_MONITOR_GRACE_SECS,
        crate::ir::CRITICAL_TOLERATION_SECS,
        if standby > 0 { "a standby device or another gateway" } else { "another gateway" }
    )
}

/// Render the plan as text.
pub fn render(sol: &Solution) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "solution {} {} (namespace {})",
        sol.name, sol.version, sol.namespace
    );
    // Where host-access workloads run apart (docs/k8s.md, Pod Security).
    let host: Vec<&crate::ir::K8sNamespace> = sol.namespaces.iter().filter(|n| n.host).collect();
    if !host.is_empty() {
        let _ = writeln!(
            out,
            "
kubernetes namespaces"
        );
        for n in sol
            .namespaces
            .iter()
            .filter(|n| host.iter().any(|h| h.group == n.group))
        {
            let members: Vec<&str> = sol
                .workloads
                .iter()
                .filter(|w| n.host && w.namespace == n.name && w.placement.group() == n.group)
                .map(|w| w.name.as_str())
                .collect();
            let who = if members.is_empty() {
                String::new()
            } else {
                format!(": {} (host folders or privileged)", members.join(", "))
            };
            let _ = writeln!(
                out,
                "  {} on {} enforces Pod Security {}{who}",
                n.name,
                n.group,
                n.pod_security.as_str()
            );
        }
    }
    if !sol.params.is_empty() {
        let _ = writeln!(out, "\nparams");
        for p in &sol.params {
            let bounds = match (&p.min, &p.max) {
                (Some(a), Some(b)) => format!(" [{a}..{b}]"),
                (Some(a), None) => format!(" [{a}..]"),
                (None, Some(b)) => format!(" [..{b}]"),
                _ => String::new(),
            };
            let src = match p.source {
                crate::ir::ValueSource::Default => "default",
                crate::ir::ValueSource::ValuesFile => "values file",
                crate::ir::ValueSource::CommandLine => "--set",
            };
            let _ = writeln!(out, "  {} = {} ({src}){bounds}", p.name, p.value);
        }
    }
    if !sol.clusters.is_empty() {
        let _ = writeln!(out, "\ncloud tier");
    }
    for c in &sol.clusters {
        let provider = match &c.provider {
            crate::ir::Provider::Aws { region, .. } => format!("aws {region}"),
            crate::ir::Provider::Vsphere { datacenter, .. } => format!("vsphere {datacenter}"),
            crate::ir::Provider::Baremetal { hosts } => format!("baremetal, {} hosts", hosts.len()),
        };
        let _ = writeln!(
            out,
            "  cluster {} ({provider}, {}), {} nodes",
            c.name,
            c.distribution,
            c.total_nodes()
        );
        for p in &c.pools {
            let _ = writeln!(out, "    pool {}: {} × {}", p.name, p.nodes, p.node.name);
            for w in &sol.workloads {
                if let Placement::Cluster {
                    cluster,
                    pool,
                    replicas,
                } = &w.placement
                {
                    if cluster == &c.name && pool == &p.name {
                        let auto = w
                            .autoscale
                            .as_ref()
                            .map(|a| format!(" (autoscale {}..{} at {}% cpu)", a.min, a.max, a.cpu_percent))
                            .unwrap_or_default();
                        let _ = writeln!(
                            out,
                            "      {:<12} {:<30} replicas {:>4}{auto}   {}",
                            kind(w),
                            w.name,
                            replicas,
                            resources(w)
                        );
                    }
                }
            }
            if let Some(cap) = sol
                .capacity
                .iter()
                .find(|x| x.group == format!("{}/{}", c.name, p.name))
            {
                let _ = writeln!(out, "      {}", capacity_line(cap));
            }
        }
    }
    if !sol.fleets.is_empty() {
        let _ = writeln!(out, "\nedge tier");
    }
    for f in &sol.fleets {
        let standby: u32 = f.sites.iter().map(|s| s.standby).sum();
        let _ = writeln!(
            out,
            "  fleet {} ({}, {}), {} sites, {} gateways{}",
            f.name,
            f.device.name,
            f.runtime.name,
            f.sites.len(),
            f.total_gateways(),
            if standby > 0 {
                format!(" + {standby} standby")
            } else {
                String::new()
            }
        );
        for s in &f.sites {
            let hosts = match (s.hosts.first(), s.hosts.last()) {
                (Some(a), Some(b)) if s.hosts.len() > 1 => format!("{a} … {b}"),
                (Some(a), _) => a.clone(),
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "    site {}: {} gateways{}, {hosts}",
                s.name,
                s.gateways,
                if s.standby > 0 {
                    format!(" + {} standby", s.standby)
                } else {
                    String::new()
                }
            );
            if !s.servers.is_empty() {
                let store = if f.runtime.name == "microk8s" {
                    "dqlite"
                } else {
                    "embedded etcd"
                };
                let _ = writeln!(
                    out,
                    "      control plane: {} ({})",
                    s.servers.join(", "),
                    if s.servers.len() > 1 {
                        format!("the site's own cluster, HA with {store}: keeps running with one server down")
                    } else {
                        "the site's own cluster, one server".to_string()
                    }
                );
            }
            if let Some(hub) = &s.hub {
                // Docker: what runs on fewer gateways than the site has is
                // dealt from the hub, and reached at its address.
                let shared: Vec<&str> = sol
                    .workloads
                    .iter()
                    .filter(|w| match &w.placement {
                        Placement::Fleet { fleet, sites } => {
                            fleet == &f.name
                                && sites
                                    .iter()
                                    .any(|p| *p.site == *s.name && p.replicas > 0 && p.replicas < s.gateways)
                        }
                        Placement::Cluster { .. } => false,
                    })
                    .map(|w| w.name.as_str())
                    .collect();
                if !shared.is_empty() {
                    let _ = writeln!(
                        out,
                        "      hub: {hub} runs {}; the other gateways reach them at its address",
                        shared.join(", ")
                    );
                }
            }
            for w in &sol.workloads {
                if let Placement::Fleet { fleet, sites } = &w.placement {
                    if fleet != &f.name {
                        continue;
                    }
                    if let Some(sp) = sites.iter().find(|x| *x.site == *s.name) {
                        let _ = writeln!(
                            out,
                            "      {:<12} {:<30} replicas {:>4} ({} per gateway)   {}",
                            kind(w),
                            w.name,
                            sp.replicas,
                            sp.per_node,
                            resources(w)
                        );
                        if w.critical && f.runtime.is_kubernetes() {
                            let _ = writeln!(out, "        {}", failover_line(s.standby));
                        }
                    }
                }
            }
            if let Some(cap) = sol
                .capacity
                .iter()
                .find(|x| x.group == format!("{}/{}", f.name, s.name))
            {
                let _ = writeln!(out, "      {}", capacity_line(cap));
            }
        }
    }
    let fleet_workloads: Vec<&Workload> = sol
        .workloads
        .iter()
        .filter(|w| matches!(w.placement, Placement::Fleet { .. }))
        .collect();
    if !fleet_workloads.is_empty() {
        let _ = writeln!(out, "\ntotals");
        for w in &sol.workloads {
            let where_ = match &w.placement {
                Placement::Cluster { cluster, .. } => format!("cluster {cluster}"),
                Placement::Fleet { fleet, sites } => format!("fleet {fleet}, {} sites", sites.len()),
            };
            let _ = writeln!(out, "  {:<30} {:>5} replicas on {where_}", w.name, w.total_replicas());
        }
    }
    monitoring(&mut out, sol);
    if !sol.models.is_empty() {
        let _ = writeln!(out, "\nmodels");
        for m in &sol.models {
            let _ = writeln!(
                out,
                "  {} {} v{}: train {}, serve {}{}",
                m.name,
                m.format,
                m.version,
                m.train.as_deref().unwrap_or("-"),
                if m.serve.is_empty() {
                    "-".to_string()
                } else {
                    m.serve.join(", ")
                },
                if m.alerts.is_empty() {
                    String::new()
                } else {
                    format!(", {} alert(s)", m.alerts.len())
                }
            );
            model_lifecycle(&mut out, sol, m);
        }
    }
    out
}

/// The loop of one model: what is served, where training puts new
/// versions, and what promoting one changes.
fn model_lifecycle(out: &mut String, sol: &Solution, m: &crate::ir::Model) {
    let refs: Vec<&Workload> = sol
        .workloads
        .iter()
        .filter(|w| w.model.as_ref().is_some_and(|r| r.model == m.name))
        .collect();
    let Some(r) = refs.iter().find_map(|w| w.model.as_ref()) else {
        return;
    };
    let _ = writeln!(
        out,
        "    serving    version {} from {} ({})",
        m.version,
        m.artifact,
        m.checksum
            .as_deref()
            .unwrap_or("no checksum: the cache is trusted by name")
    );
    if let Some(train) = &m.train {
        let _ = writeln!(
            out,
            "    training   {train} writes each run to {} ({} = the run's Job name), never the served version",
            r.train_output,
            crate::ir::RUN_PLACEHOLDER
        );
        let promoted = r.train_output.replace(crate::ir::RUN_PLACEHOLDER, "<run>");
        let _ = writeln!(
            out,
            "    promote    set version = \"<n>\" (a new number), artifact = \"{promoted}\", checksum = \"sha256:<of that file>\""
        );
    }
    let servers: Vec<String> = refs
        .iter()
        .filter(|w| w.kind == WorkloadKind::Serve)
        .map(|w| format!("{} ({} replicas)", w.name, w.total_replicas()))
        .collect();
    if !servers.is_empty() {
        let _ = writeln!(
            out,
            "    a promotion rolls out {}; gateways fetch the new version once and keep it on disk",
            servers.join(", ")
        );
    }
    // Where each alert's series come from: the servers whose runtime
    // provides the metric, and the `metrics_from` workloads for the rest.
    for a in &m.alerts {
        let mut from: Vec<String> = a.provided_by.keys().map(|s| format!("{s} (its runtime)")).collect();
        if a.from_exporters {
            from.extend(m.metrics_from.iter().cloned());
        }
        let _ = writeln!(
            out,
            "    alert      {} {} {}{}: from {}",
            a.metric,
            a.op,
            a.threshold,
            a.for_secs
                .map(|s| format!(" for {}", crate::emit::prometheus::duration(s)))
                .unwrap_or_default(),
            from.join(", ")
        );
    }
}

/// Which Prometheus scrapes what and which Grafana reads it
/// (`Solution::monitoring`), and what declares `metrics` but has no
/// Prometheus on its cluster or fleet.
fn monitoring(out: &mut String, sol: &Solution) {
    let scraped = |w: &Workload| {
        sol.monitoring
            .iter()
            .any(|m| m.prometheus == w.name || m.targets.iter().any(|t| t.workload == w.name))
    };
    let unscraped: Vec<&str> = sol
        .workloads
        .iter()
        // A model server's `metrics` are its serving runtime's: one
        // without (ONNX Runtime, TF Serving) has nothing to scrape.
        .filter(|w| w.container.metrics.is_some() && w.container.port.is_some())
        .filter(|w| !matches!(w.kind, crate::ir::WorkloadKind::Job | crate::ir::WorkloadKind::Train))
        .filter(|w| !scraped(w))
        .map(|w| w.name.as_str())
        .collect();
    if sol.monitoring.is_empty() && unscraped.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nmonitoring");
    for m in &sol.monitoring {
        let tier = if m.fleet { "fleet" } else { "cluster" };
        let targets: Vec<&str> = m.targets.iter().map(|t| t.workload.as_str()).collect();
        let _ = writeln!(
            out,
            "  {} on {tier} {} ({}, config {}/{}) scrapes {}",
            m.prometheus,
            m.group,
            m.url.url(),
            m.config_dir,
            m.config_file,
            if targets.is_empty() {
                "only itself".to_string()
            } else {
                targets.join(", ")
            }
        );
        if !m.dashboards.is_empty() {
            let _ = writeln!(out, "    datasource of {}", m.dashboards.join(", "));
        }
        if let Some(r) = &m.remote_write {
            let _ = writeln!(out, "    writes every site's samples to {} at {}", r.to, r.url);
        }
        if !m.receives_from.is_empty() {
            let _ = writeln!(out, "    receives remote writes from {}", m.receives_from.join(", "));
        }
    }
    if !unscraped.is_empty() {
        let _ = writeln!(
            out,
            "  not scraped (no Prometheus on their cluster or fleet): {}",
            unscraped.join(", ")
        );
    }
}
