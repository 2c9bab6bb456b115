//! The Kubernetes backend: the evaluated IR → manifests built from
//! k8s-openapi types (and two typed Prometheus Operator custom resources),
//! written with [`super::yaml`].
//!
//! One folder per cluster and per site of a fleet whose runtime is Kubernetes (k3s,
//! microk8s), `<name>` being `<cluster>` or `<fleet>/<site>` (every site is
//! its own cluster, see docs/k8s.md); Docker fleets get none (they are
//! Compose's):
//!
//! ```text
//! k8s/<name>/00-namespace.yaml         Namespace, ResourceQuota, LimitRange
//! k8s/<name>/05-device-plugin.yaml     the device plugin's Namespace and DaemonSet (workloads with `device`)
//! k8s/<name>/05-secrets-store.yaml     EKS: lets the Secrets Store CSI driver write the Secrets it syncs
//! k8s/<name>/10-<workload>.yaml        ServiceAccount, SecretProviderClass (EKS, secrets), ConfigMap(s) (env; a Prometheus's config, a Grafana's
//!                                      datasource), PVCs, Deployment(s) | DaemonSet | Job(s) | CronJob(s),
//!                                      Service, headless `<w>-metrics` Service (scraped), Ingress,
//!                                      PodDisruptionBudget(s), HorizontalPodAutoscaler(s)
//! k8s/<name>/20-network-policies.yaml  default deny, DNS, the declared flows
//! k8s/<name>/30-monitoring.yaml        ServiceMonitor, PrometheusRule (monitored models no Prometheus scrapes,
//!                                      W0406), for a Prometheus Operator; applied on its own once its CRDs exist
//! k8s/<name>/kustomization.yaml        every file but 30-monitoring.yaml: `kubectl apply -k k8s/<name>`
//!                                      works on a fresh cluster
//! ```
//!
//! Node labels and taints the manifests rely on (set by the Ansible and
//! Terraform backends; see `docs/k8s.md`): [`SITE_LABEL`], [`ZONE_LABEL`],
//! [`POOL_LABEL`], [`STANDBY_LABEL`] / [`STANDBY_TAINT_KEY`], and the
//! `nvidia.com/gpu` taint on GPU pools.

mod device_plugin;
mod meta;
mod monitoring;
mod namespace;
mod netpol;
mod pod;
mod scrape;
mod secrets_store;
mod workload;

pub use monitoring::{
    NamespaceSelector, PrometheusRule, PrometheusRuleSpec, Rule, RuleGroup, ServiceMonitor, ServiceMonitorEndpoint,
    ServiceMonitorSpec,
};
pub use pod::secret_name;
pub use secrets_store::{SecretObject, SecretObjectData, SecretProviderClass, SecretProviderClassSpec, StoreObject};

use super::{yaml, EmitError, OutputFile, Target};
use crate::ir::{Cluster, Placement, Site, SitePlacement, Solution, Workload, WorkloadKind};
use serde::Serialize;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use crate::ir::{POOL_LABEL, SITE_LABEL, STANDBY_LABEL, ZONE_LABEL};
/// Taint key of standby devices (`iotc.dev/standby=true:NoSchedule`).
pub const STANDBY_TAINT_KEY: &str = "iotc.dev/standby";
/// The extended resource and taint key of NVIDIA GPUs.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// The folder every file of this backend is under.
pub const ROOT: &str = "k8s";
/// The file of Prometheus Operator objects, kept out of the kustomization
/// (its CRDs are a prerequisite; the README applies it after the operator).
pub const MONITORING_FILE: &str = "30-monitoring.yaml";

/// Where a group's objects are applied: a cluster, or a Kubernetes fleet.
#[derive(Debug, Clone, Copy)]
pub(crate) enum GroupKind<'a> {
    Cluster(&'a Cluster),
    Fleet,
}

/// A workload with the name of the cluster or fleet it runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placed<'a> {
    pub w: &'a Workload,
    pub group: &'a str,
    /// Its cluster or fleet runs Kubernetes (false for Docker fleets).
    pub k8s: bool,
}

/// One controller: the whole workload on a cluster (and a fleet daemon), or
/// the workload at one site of a fleet.
#[derive(Debug, Clone)]
pub(crate) struct Unit<'a> {
    pub name: String,
    pub site: Option<&'a SitePlacement>,
    pub site_info: Option<&'a Site>,
    pub replicas: u32,
}

/// Everything the object builders read.
pub(crate) struct Ctx<'a> {
    pub sol: &'a Solution,
    pub all: Vec<Placed<'a>>,
}

impl<'a> Ctx<'a> {
    fn new(sol: &'a Solution) -> Ctx<'a> {
        let all = sol
            .workloads
            .iter()
            .map(|w| {
                let (group, k8s) = match &w.placement {
                    Placement::Cluster { cluster, .. } => (cluster.as_str(), true),
                    Placement::Fleet { fleet, .. } => (
                        fleet.as_str(),
                        sol.fleets.iter().any(|f| &f.name == fleet && f.runtime.is_kubernetes()),
                    ),
                };
                Placed { w, group, k8s }
            })
            .collect();
        Ctx { sol, all }
    }

    /// Every (caller, callee) flow in the solution, as the checker
    /// resolved it (`Solution::flows`).
    pub fn flows(&self) -> Vec<(Placed<'a>, Placed<'a>, &'a crate::ir::Flow)> {
        let find = |name: &str| self.all.iter().find(|p| p.w.name == name).copied();
        self.sol
            .flows
            .iter()
            .filter_map(|f| Some((find(&f.from)?, find(&f.to)?, f)))
            .collect()
    }

    /// The controllers of a workload.
    pub fn units(&self, p: &Placed<'a>) -> Vec<Unit<'a>> {
        match &p.w.placement {
            Placement::Cluster { replicas, .. } => vec![Unit {
                name: p.w.name.clone(),
                site: None,
                site_info: None,
                replicas: *replicas,
            }],
            Placement::Fleet { fleet, sites } => {
                let fl = self.sol.fleets.iter().find(|f| &f.name == fleet);
                let info = |s: &SitePlacement| fl.and_then(|f| f.sites.iter().find(|x| *x.name == *s.site));
                if p.w.kind == WorkloadKind::Daemon {
                    return vec![Unit {
                        name: p.w.name.clone(),
                        site: None,
                        site_info: None,
                        replicas: sites.iter().map(|s| s.replicas).sum(),
                    }];
                }
                sites
                    .iter()
                    .map(|s| Unit {
                        name: format!("{}-{}", p.w.name, s.site),
                        site: Some(s),
                        site_info: info(s),
                        replicas: s.replicas,
                    })
                    .collect()
            }
        }
    }
}

/// A group of objects for one folder, rendered as they are pushed: the
/// typed objects stream straight into YAML (no intermediate JSON value).
pub(crate) struct Docs {
    text: String,
    count: usize,
}

impl Docs {
    /// An empty file with its header comment, room for about `objects`
    /// objects.
    pub fn new(sol: &Solution, objects: usize) -> Docs {
        let mut text = header(sol);
        text.reserve(objects.saturating_mul(3072));
        Docs { text, count: 0 }
    }

    /// Append one object as a `---`-separated document, keys in the
    /// conventional order for readers: `apiVersion`, `kind`, `metadata`,
    /// `spec` first at the top; `name` and `namespace` first in every nested
    /// map (k8s-openapi writes fields alphabetically).
    pub fn push<T: Serialize>(&mut self, obj: &T) -> Result<(), EmitError> {
        self.text.push_str("---\n");
        yaml::append_tidy(&mut self.text, obj).map_err(|e| err(format!("cannot serialize an object: {e}")))?;
        self.count += 1;
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The file text: the header comment, then the documents.
    fn render(self) -> String {
        self.text
    }
}

/// A folder's `kustomization.yaml`: its files, in the order they apply.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Kustomization<'r> {
    api_version: &'static str,
    kind: &'static str,
    resources: &'r [String],
}

pub(crate) fn err(message: impl Into<String>) -> EmitError {
    EmitError {
        target: Target::K8s,
        message: message.into(),
    }
}

fn header(sol: &Solution) -> String {
    format!(
        "# Generated by iotc from solution {} {}. Do not edit: `iotc build` overwrites this file.\n",
        sol.name, sol.version
    )
}

/// The Kubernetes manifests of a solution. Pure and deterministic: the same
/// IR gives byte-identical files, sorted by path.
pub fn emit(sol: &Solution) -> Result<Vec<OutputFile>, EmitError> {
    let mut files = Vec::new();
    // The sink never breaks, so neither does the backend.
    let _: ControlFlow<()> = emit_each(sol, &mut |f| {
        files.push(f);
        ControlFlow::Continue(())
    })?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The same files as [`emit`], each handed to `sink` as soon as it is ready
/// (in no promised order), so a large build need not hold its output in
/// memory. The workload files of a folder are built on every available
/// core. `sink` returning `Break` stops the backend early (`Ok(Break)`).
pub fn emit_each(
    sol: &Solution,
    sink: &mut dyn FnMut(OutputFile) -> ControlFlow<()>,
) -> Result<ControlFlow<()>, EmitError> {
    let ctx = Ctx::new(sol);
    let mut groups: Vec<(&str, GroupKind<'_>)> = Vec::new();
    for c in &sol.clusters {
        groups.push((c.name.as_str(), GroupKind::Cluster(c)));
    }
    for f in sol.fleets.iter().filter(|f| f.runtime.is_kubernetes()) {
        groups.push((f.name.as_str(), GroupKind::Fleet));
    }
    // Internal: clusters and fleets share one scope, so a checked program
    // never has both named alike (E0102).
    let mut seen = std::collections::BTreeSet::new();
    for (name, _) in &groups {
        if !seen.insert(*name) {
            return Err(err(format!(
                "a cluster and a fleet are both named `{name}`; their folders k8s/{name}/ would collide"
            )));
        }
    }
    for (name, kind) in groups {
        match kind {
            GroupKind::Cluster(_) => {
                if emit_group(&ctx, name, &format!("{ROOT}/{name}"), kind, sink)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
            // Every site of a fleet is its own cluster (see docs/k8s.md):
            // one folder per site, with only what runs there.
            GroupKind::Fleet => {
                let Some(fleet) = sol.fleets.iter().find(|f| f.name == name) else {
                    continue;
                };
                for site in &fleet.sites {
                    let view = site_view(sol, name, &site.name);
                    let site_ctx = Ctx::new(&view);
                    let dir = format!("{ROOT}/{name}/{}", site.name);
                    // A site with a mirror: list what its files pull.
                    let mut images: Vec<String> = Vec::new();
                    let mut listing = |f: OutputFile| {
                        if site.mirror.is_some() {
                            images.extend(crate::emit::mirror::k8s_images(&f.contents).map(str::to_string));
                        }
                        sink(f)
                    };
                    if emit_group(&site_ctx, name, &dir, kind, &mut listing)?.is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                    if let Some(contents) = crate::emit::mirror::list(fleet, site, images.iter().map(String::as_str)) {
                        let path = format!("{dir}/{}", crate::emit::mirror::FILE);
                        if sink(OutputFile { path, contents }).is_break() {
                            return Ok(ControlFlow::Break(()));
                        }
                    }
                }
            }
        }
    }
    Ok(ControlFlow::Continue(()))
}

/// The solution as one site's cluster sees it: the fleet has only that
/// site, its namespaces only those that exist there, and the fleet's
/// workloads only their placement there (those not placed there are left
/// out). Clusters and other fleets are unchanged.
fn site_view(sol: &Solution, fleet: &str, site: &str) -> Solution {
    let mut view = Solution {
        workloads: Vec::with_capacity(sol.workloads.len()),
        fleets: Vec::with_capacity(sol.fleets.len()),
        ..sol.clone_without_workloads()
    };
    for f in &sol.fleets {
        let mut f = f.clone();
        if f.name == fleet {
            f.sites.retain(|s| s.name == site);
        }
        view.fleets.push(f);
    }
    // The fleet's namespaces that exist at this site (the checker decided,
    // `K8sNamespace::sites`).
    view.namespaces
        .retain(|n| n.group != fleet || n.sites.iter().any(|s| s == site));
    for w in &sol.workloads {
        match &w.placement {
            Placement::Fleet { fleet: wf, sites } if wf == fleet => {
                let here: Vec<SitePlacement> = sites.iter().filter(|s| &*s.site == site).cloned().collect();
                if here.is_empty() {
                    continue;
                }
                let mut w = w.clone();
                w.placement = Placement::Fleet {
                    fleet: wf.clone(),
                    sites: here.into(),
                };
                view.workloads.push(w);
            }
            _ => view.workloads.push(w.clone()),
        }
    }
    view
}

/// Below this many workloads in a folder, threads cost more than they save.
const PARALLEL_MIN: usize = 16;

fn emit_group(
    ctx: &Ctx<'_>,
    name: &str,
    dir: &str,
    kind: GroupKind<'_>,
    sink: &mut dyn FnMut(OutputFile) -> ControlFlow<()>,
) -> Result<ControlFlow<()>, EmitError> {
    let sol = ctx.sol;
    let members: Vec<Placed<'_>> = ctx.all.iter().filter(|p| p.group == name && p.k8s).copied().collect();
    let file = |file: &str, docs: Docs| OutputFile {
        path: format!("{dir}/{file}"),
        contents: docs.render(),
    };
    // The files of the kustomization, in order.
    let mut resources: Vec<String> = Vec::new();

    let ns = namespace::docs(ctx, name, &members)?;
    if !ns.is_empty() {
        resources.push("00-namespace.yaml".into());
        if sink(file("00-namespace.yaml", ns)).is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    let dp = device_plugin::docs(ctx, name, kind, &members)?;
    if !dp.is_empty() {
        resources.push("05-device-plugin.yaml".into());
        if sink(file("05-device-plugin.yaml", dp)).is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    let store = secrets_store::docs(ctx, kind, &members)?;
    if !store.is_empty() {
        resources.push(secrets_store::FILE.into());
        if sink(file(secrets_store::FILE, store)).is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    let mut ordered = members.clone();
    ordered.sort_by(|a, b| a.w.name.cmp(&b.w.name));
    let workload_file = |p: &Placed<'_>| -> Result<Option<OutputFile>, EmitError> {
        let docs = workload::docs(ctx, kind, p)?;
        Ok((!docs.is_empty()).then(|| file(&format!("10-{}.yaml", p.w.name), docs)))
    };
    let mut produced = vec![false; ordered.len()];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || ordered.len() < PARALLEL_MIN {
        for (i, p) in ordered.iter().enumerate() {
            if let Some(f) = workload_file(p)? {
                if let Some(slot) = produced.get_mut(i) {
                    *slot = true;
                }
                if sink(f).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
    } else {
        // Workers take the next workload and send its file; this thread
        // hands them to the sink (the writer) as they come.
        let next = AtomicUsize::new(0);
        let flow = std::thread::scope(|scope| -> Result<ControlFlow<()>, EmitError> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Result<Option<OutputFile>, EmitError>)>(threads * 2);
            for _ in 0..threads {
                let tx = tx.clone();
                let (next, ordered, workload_file) = (&next, &ordered, &workload_file);
                scope.spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = ordered.get(i) else { break };
                    let r = workload_file(p);
                    let failed = r.is_err();
                    if tx.send((i, r)).is_err() || failed {
                        break;
                    }
                });
            }
            drop(tx);
            for (i, r) in rx {
                if let Some(f) = r? {
                    if let Some(slot) = produced.get_mut(i) {
                        *slot = true;
                    }
                    if sink(f).is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                }
            }
            Ok(ControlFlow::Continue(()))
        })?;
        if flow.is_break() {
            return Ok(flow);
        }
    }
    for (p, done) in ordered.iter().zip(&produced) {
        if *done {
            resources.push(format!("10-{}.yaml", p.w.name));
        }
    }
    let np = netpol::docs(ctx, name, &members)?;
    if !np.is_empty() {
        resources.push("20-network-policies.yaml".into());
        if sink(file("20-network-policies.yaml", np)).is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    // Not in the kustomization: its kinds need the Prometheus Operator's
    // CRDs, which a fresh cluster lacks (`kubectl apply -k` would exit 1
    // before applying anything). It is the documented second step, after
    // the operator is installed (docs/k8s.md, *Apply order*).
    let mon = monitoring::docs(ctx, &members)?;
    if !mon.is_empty() && sink(file(MONITORING_FILE, mon)).is_break() {
        return Ok(ControlFlow::Break(()));
    }

    let kustomization = Kustomization {
        api_version: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        resources: &resources,
    };
    let mut text = header(sol);
    text.push_str("---\n");
    yaml::append_tidy(&mut text, &kustomization)
        .map_err(|e| err(format!("cannot serialize the kustomization: {e}")))?;
    Ok(sink(OutputFile {
        path: format!("{dir}/kustomization.yaml"),
        contents: text,
    }))
}

/// One `---`-separated stream of every Kubernetes document in `files`
/// (all folders, `kustomization.yaml` left out), for
/// `iotc build --emit k8s -o - | kubectl apply -f -`. Each file's documents
/// are preceded by a `# Source: <path>` comment. Files outside `k8s/` are
/// ignored.
///
/// A solution with several clusters and Kubernetes fleets has one folder per
/// cluster; to apply one of them, pass only its files, e.g. those for which
/// [`group_of`] is `Some("cloud")`.
pub fn stream(files: &[OutputFile]) -> String {
    let mut sorted: Vec<&OutputFile> = files
        .iter()
        .filter(|f| group_of(&f.path).is_some() && !f.path.ends_with("/kustomization.yaml"))
        .collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = String::new();
    for f in sorted {
        out.push_str("# Source: ");
        out.push_str(&f.path);
        out.push('\n');
        for line in f.contents.lines() {
            // Drop the file's header comment; keep every document.
            if !line.starts_with("# Generated by iotc") {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The cluster, or fleet site, a path under `k8s/` belongs to: the folder
/// `kubectl apply -k` takes (`k8s/cloud/…` → `cloud`,
/// `k8s/plants/plant-a/…` → `plants/plant-a`).
pub fn group_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(ROOT)?.strip_prefix('/')?;
    let (group, file) = rest.rsplit_once('/')?;
    if group.is_empty() || file.is_empty() {
        None
    } else {
        Some(group)
    }
}
