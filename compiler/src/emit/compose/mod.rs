//! The Compose backend: `compose/<fleet>/<site>/compose.yaml` for every site
//! of every fleet whose runtime kind is `compose` (Docker Engine with the
//! Compose plugin). See `docs/compose.md` for the design; in short:
//!
//! - One file per site, and the **same file on every gateway of the site**:
//!   each gateway runs it as its own Compose project (Docker has no
//!   cross-host scheduler). What differs per gateway is how many copies of
//!   each service it runs, which comes from the project's `.env` file:
//!   `deploy.replicas: ${IOTC_REPLICAS_<SERVICE>:-N}`. [`stacks`] gives,
//!   for every gateway, those counts (they add up to the site's replicas in
//!   the IR) so the Ansible backend can write the `.env`. Replicas are dealt
//!   round-robin from the site's hub (`Site::hub`, the *site leader*: the
//!   source's `hub`, else the first gateway), so `N`, the default, is the
//!   leader's share and the file alone is the leader's stack.
//! - A service that does not run on every gateway is reached by its name
//!   through `extra_hosts: ["<svc>:${IOTC_ADDR_<SVC>:-host-gateway}"]` on the
//!   services that talk to it; Ansible sets the variable to the address of
//!   the gateway that runs it ([`Stack::addresses`]).
//! - Daemons are services with one copy on every gateway.
//! - Jobs (and training jobs) are services in the `jobs` profile, so `up`
//!   does not start them; [`scheduled_jobs`] says which gateways run them
//!   and on what schedule (a systemd timer for a cron schedule, once after
//!   deploy otherwise).
//! - Model servers bind-mount, read-only, the folder on the gateway where
//!   Ansible staged and verified the artifact (`ModelRef::host_dir`); the
//!   stack downloads nothing itself.

mod spec;

use super::model_fetch::{fetch_kind, model_dir, model_path, Fetch};
use super::{EmitError, OutputFile, Target};
use crate::ir::{
    Container, Fleet, ModelRef, Placement, SecretSource, Site, SitePlacement, Solution, Workload, WorkloadKind,
};
use spec::{
    ComposeFile, Config as ComposeConfigFile, Deploy, DeviceRequest, Healthcheck, Limits, Logging, NamedVolume,
    Network, Reservations, Resources, Secret, Service, ServiceConfig, VolumeMount,
};
use std::collections::{BTreeMap, BTreeSet};

/// Where Ansible renders vault-sourced secrets on the gateway:
/// `<SECRETS_DIR>/<workload>/<NAME>`, readable by the workload's uid only.
pub const SECRETS_DIR: &str = "/etc/iotc/secrets";
/// The network every site stack puts its services on.
pub const NETWORK: &str = "iotc";
/// The profile of one-shot jobs (not started by `docker compose up`).
pub const JOBS_PROFILE: &str = "jobs";

/// Path of a site's Compose file, relative to the output folder.
pub fn stack_path(fleet: &str, site: &str) -> String {
    format!("compose/{fleet}/{site}/compose.yaml")
}

/// The Compose project name of a site's stack: `<solution>-<fleet>-<site>`.
pub fn project_name(sol: &Solution, fleet: &str, site: &str) -> String {
    format!("{}-{fleet}-{site}", sol.name)
}

fn var_suffix(service: &str) -> String {
    service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `.env` variable holding a service's copies on one gateway.
pub fn replicas_var(service: &str) -> String {
    format!("IOTC_REPLICAS_{}", var_suffix(service))
}

/// `.env` variable holding the address of the gateway that runs a service
/// which is not on every gateway.
pub fn address_var(service: &str) -> String {
    format!("IOTC_ADDR_{}", var_suffix(service))
}

/// `.env` variable holding a host group's numeric id (for `group_add`).
pub fn group_var(group: &str) -> String {
    format!("IOTC_GID_{}", var_suffix(group))
}

// ------------------------------------------------------------------ plan

/// One site's stack and what each of its gateways needs beside the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    pub fleet: String,
    pub site: String,
    /// Compose project name (`name:` in the file).
    pub project: String,
    /// The file, relative to the output folder; shipped to every host in
    /// [`Stack::hosts`] and run there with `docker compose up -d`.
    pub path: String,
    /// Every gateway of the site, in the site's order; `leader` marks the
    /// hub.
    pub hosts: Vec<StackHost>,
    /// `IOTC_ADDR_*` variables: set each to the address of `host` in the
    /// `.env` of every gateway of the site.
    pub addresses: Vec<AddressVar>,
    /// `IOTC_GID_*` variables: set each to the gateway's numeric id of
    /// `group` (`getent group`); `default` is Debian's static id, used when
    /// unset.
    pub groups: Vec<GroupVar>,
    /// Secrets whose source the gateway must provide.
    pub secrets: Vec<StackSecret>,
    /// The ports the stack publishes on the gateways, and who may connect
    /// to each. Docker's published ports bypass ufw (their traffic is
    /// forwarded, not input): Ansible filters them in the `DOCKER-USER`
    /// chain instead, admitting exactly these callers.
    pub published: Vec<PublishedPort>,
}

/// A port a site's stack publishes on its gateways. Only what the flows
/// need is published: a workload's port when it is `public`, called from
/// another cluster or fleet, or called at the site by workloads on
/// gateways where it does not run (it is not on every gateway). A
/// workload called only by copies on its own gateway is reached over the
/// stack's network and publishes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    pub service: String,
    /// The host ports: the port, or `first:last` when a gateway runs more
    /// than one copy (iptables' range syntax).
    pub ports: String,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// Gateways of the site that run a caller (`Solution::flows`), the
    /// hub first; their addresses are admitted.
    pub from_hosts: Vec<String>,
    /// Admitted from anywhere: `public`, or called from another cluster or
    /// fleet (whose addresses the solution does not know).
    pub from_any: bool,
    /// The flows (`caller->callee`) and `public->callee` it carries.
    pub flows: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackHost {
    pub host: String,
    pub leader: bool,
    /// Copies of each service (by Compose service name) on this gateway.
    /// Summed over the site's gateways, a workload's count is its replicas
    /// at the site in the IR. Jobs are listed too (0 or more: the gateways
    /// that run them).
    pub replicas: BTreeMap<String, u32>,
}

impl StackHost {
    /// The `IOTC_REPLICAS_*` lines of this gateway's `.env`.
    pub fn env_lines(&self) -> Vec<String> {
        self.replicas
            .iter()
            .map(|(svc, n)| format!("{}={n}", replicas_var(svc)))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressVar {
    pub var: String,
    pub service: String,
    pub host: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupVar {
    pub var: String,
    pub group: String,
    pub default: u32,
}

/// A Compose secret and where its value comes from on the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSecret {
    /// Top-level secret name (also the file name under `/run/secrets/`).
    pub name: String,
    pub service: String,
    pub origin: SecretOrigin,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretOrigin {
    /// `from env`: the variable must be in the environment of
    /// `docker compose up` / `run`.
    Env { variable: String },
    /// `from file`: the file must exist on the gateway.
    File { path: String },
    /// `from vault`: Ansible renders the vault value to `path`.
    Vault { reference: String, path: String },
}

/// A job the Ansible backend must run with
/// `docker compose -p <project> --profile jobs run --rm <service>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledJob {
    pub fleet: String,
    pub site: String,
    pub project: String,
    pub path: String,
    pub service: String,
    /// Five-field cron expression; `None` for a once-only job (run once
    /// after each deploy that changes it).
    pub schedule: Option<String>,
    /// Gateways that run it (one copy each per run).
    pub hosts: Vec<String>,
    /// Kill the run after this long (systemd `TimeoutStartSec=`).
    pub deadline_secs: u64,
    /// Retries of a failed run before giving up until the next schedule.
    pub backoff: u32,
}

/// A workload placed at one site of a compose fleet.
struct AtSite<'a> {
    w: &'a Workload,
    sp: &'a SitePlacement,
}

fn compose_fleets(sol: &Solution) -> impl Iterator<Item = &Fleet> {
    sol.fleets.iter().filter(|f| f.runtime.kind == "compose")
}

fn at_site<'a>(sol: &'a Solution, fleet: &Fleet, site: &Site) -> Vec<AtSite<'a>> {
    let mut out: Vec<AtSite<'a>> = Vec::new();
    for w in &sol.workloads {
        if let Placement::Fleet { fleet: f, sites } = &w.placement {
            if f == &fleet.name {
                for sp in sites.iter().filter(|sp| *sp.site == *site.name) {
                    out.push(AtSite { w, sp });
                }
            }
        }
    }
    out.sort_by(|a, b| a.w.name.cmp(&b.w.name));
    out
}

/// Where gateway `i` of a site comes in the round-robin deal of copies:
/// the deal starts at the site's hub (`Site::hub`, decided by the
/// checker), then follows the site's order, wrapping around.
fn rank(site: &Site, i: usize) -> usize {
    let g = site.hosts.len();
    let hub = site
        .hub
        .as_ref()
        .and_then(|h| site.hosts.iter().position(|x| x == h))
        .unwrap_or(0);
    match g {
        0 => 0,
        _ => (i + g - hub) % g,
    }
}

/// Copies of `replicas` on the gateway of rank `i` (see [`rank`]) of
/// `gateways`: dealt round-robin from the hub, rank 0.
fn share(replicas: u32, gateways: usize, i: usize) -> u32 {
    let g = u32::try_from(gateways).unwrap_or(u32::MAX);
    let i = u32::try_from(i).unwrap_or(u32::MAX);
    match (replicas.checked_div(g), replicas.checked_rem(g)) {
        (Some(q), Some(r)) => q + u32::from(i < r),
        _ => 0,
    }
}

fn is_job(w: &Workload) -> bool {
    matches!(w.kind, WorkloadKind::Job | WorkloadKind::Train)
}

fn model_name(m: &ModelRef) -> String {
    m.model.replace('_', "-")
}

/// Where a version's volume is mounted: `/models/<model>/<version>`.
fn version_dir(m: &ModelRef) -> String {
    esc(&format!("{}/{}", model_dir(m), m.version))
}

/// True when every gateway that runs a copy of `caller` runs a copy of
/// `callee` too: copies are dealt round-robin from the hub (rank 0), so a
/// workload with no more copies than the callee sits only where it does,
/// and reaches it through Compose's DNS on its own host.
fn colocated(caller: &AtSite<'_>, callee: &AtSite<'_>) -> bool {
    caller.sp.replicas <= callee.sp.replicas
}

/// Workloads at the site that the workload `w` calls on its own fleet (the
/// checker's flows), that do not run on every gateway and not on every
/// gateway `w` runs on (reached through `IOTC_ADDR_*`).
fn remote_peers<'a>(sol: &Solution, w: &Workload, ws: &'a [AtSite<'a>], gateways: usize) -> Vec<&'a AtSite<'a>> {
    let mut out = Vec::new();
    let me = ws.iter().find(|a| a.w.name == w.name);
    for f in sol.flows.iter().filter(|f| f.from == w.name && f.reach.is_local()) {
        for a in ws {
            let everywhere = u64::from(a.sp.replicas) >= gateways as u64;
            let beside = me.is_some_and(|me| colocated(me, a));
            if a.w.name == f.to && !is_job(a.w) && !everywhere && !beside {
                out.push(a);
            }
        }
    }
    out.sort_by(|a, b| a.w.name.cmp(&b.w.name));
    out.dedup_by(|a, b| a.w.name == b.w.name);
    out
}

/// The ports a site's stack publishes, and who may call each (see
/// [`PublishedPort`]).
fn published(sol: &Solution, site: &Site, ws: &[AtSite<'_>]) -> Vec<PublishedPort> {
    let g = site.hosts.len();
    let mut out = Vec::new();
    for a in ws.iter().filter(|a| !is_job(a.w)) {
        let Some(port) = a.w.container.port else { continue };
        let everywhere = u64::from(a.sp.replicas) >= g as u64;
        let mut flows = Vec::new();
        let mut from_any = false;
        let mut from_hosts: Vec<String> = Vec::new();
        if a.w.public {
            from_any = true;
            flows.push(format!("public->{}", a.w.name));
        }
        for f in sol.flows.iter().filter(|f| f.to == a.w.name) {
            if !f.reach.is_local() {
                from_any = true;
                flows.push(format!("{}->{}", f.from, f.to));
                continue;
            }
            if everywhere {
                continue;
            }
            // Callers at this site, on the gateways that run a copy; one
            // that runs only beside a copy of `a` calls it on its own host.
            let Some(caller) = ws.iter().find(|c| c.w.name == f.from) else {
                continue;
            };
            if colocated(caller, a) {
                continue;
            }
            for (i, h) in site.hosts.iter().enumerate() {
                if share(caller.sp.replicas, g, rank(site, i)) > 0 && !from_hosts.contains(h) {
                    from_hosts.push(h.clone());
                }
            }
            flows.push(format!("{}->{}", f.from, f.to));
        }
        if flows.is_empty() {
            continue;
        }
        flows.dedup();
        let per_node = a.sp.per_node.max(1);
        let ports = if per_node > 1 {
            let last = u32::from(port).saturating_add(per_node - 1).min(65535);
            format!("{port}:{last}")
        } else {
            port.to_string()
        };
        out.push(PublishedPort {
            service: a.w.name.clone(),
            ports,
            protocol: if a.w.container.protocol == "udp" { "udp" } else { "tcp" }.to_string(),
            from_hosts,
            from_any,
            flows,
        });
    }
    out
}

fn secret_name(w: &Workload, name: &str) -> String {
    format!("{}-{}", w.name, name.to_ascii_lowercase().replace('_', "-"))
}

fn secret_origin(w: &Workload, s: &crate::ir::SecretRef) -> SecretOrigin {
    match s.source {
        SecretSource::Env => SecretOrigin::Env {
            variable: s.reference.clone(),
        },
        SecretSource::File => SecretOrigin::File {
            path: s.reference.clone(),
        },
        SecretSource::Vault => SecretOrigin::Vault {
            reference: s.reference.clone(),
            path: format!("{SECRETS_DIR}/{}/{}", w.name, s.name),
        },
    }
}

/// Every site stack of every compose fleet, and what each gateway of it
/// needs beside the file (for the Ansible backend).
pub fn stacks(sol: &Solution) -> Vec<Stack> {
    let mut out = Vec::new();
    for fleet in compose_fleets(sol) {
        for site in &fleet.sites {
            out.push(stack(sol, fleet, site));
        }
    }
    out
}

fn stack(sol: &Solution, fleet: &Fleet, site: &Site) -> Stack {
    let ws = at_site(sol, fleet, site);
    let g = site.hosts.len();
    let mut hosts: Vec<StackHost> = site
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| StackHost {
            host: h.clone(),
            leader: rank(site, i) == 0,
            replicas: BTreeMap::new(),
        })
        .collect();
    let mut addresses = BTreeMap::new();
    let mut groups = BTreeMap::new();
    let mut secrets = Vec::new();
    for a in &ws {
        for (i, h) in hosts.iter_mut().enumerate() {
            h.replicas
                .insert(a.w.name.clone(), share(a.sp.replicas, g, rank(site, i)));
        }
        for p in remote_peers(sol, a.w, &ws, g) {
            addresses.insert(
                address_var(&p.w.name),
                AddressVar {
                    var: address_var(&p.w.name),
                    service: p.w.name.clone(),
                    host: site.hub.clone().unwrap_or_default(),
                },
            );
        }
        for d in &a.w.container.devices {
            if let Some(g) = &d.group {
                groups.insert(
                    group_var(&g.name),
                    GroupVar {
                        var: group_var(&g.name),
                        group: g.name.clone(),
                        default: g.gid,
                    },
                );
            }
        }
        for s in &a.w.container.secrets {
            secrets.push(StackSecret {
                name: secret_name(a.w, &s.name),
                service: a.w.name.clone(),
                origin: secret_origin(a.w, s),
            });
        }
    }
    secrets.sort_by(|a, b| a.name.cmp(&b.name));
    Stack {
        fleet: fleet.name.clone(),
        site: site.name.clone(),
        project: project_name(sol, &fleet.name, &site.name),
        path: stack_path(&fleet.name, &site.name),
        hosts,
        addresses: addresses.into_values().collect(),
        published: published(sol, site, &ws),
        groups: groups.into_values().collect(),
        secrets,
    }
}

/// Every job on a compose fleet, per site: the Ansible backend installs a
/// systemd timer for each one with a schedule, and runs the others once
/// after deploying the stack.
pub fn scheduled_jobs(sol: &Solution) -> Vec<ScheduledJob> {
    let mut out = Vec::new();
    for fleet in compose_fleets(sol) {
        for site in &fleet.sites {
            for a in at_site(sol, fleet, site).iter().filter(|a| is_job(a.w)) {
                let hosts = site
                    .hosts
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| share(a.sp.replicas, site.hosts.len(), rank(site, *i)) > 0)
                    .map(|(_, h)| h.clone())
                    .collect();
                out.push(ScheduledJob {
                    fleet: fleet.name.clone(),
                    site: site.name.clone(),
                    project: project_name(sol, &fleet.name, &site.name),
                    path: stack_path(&fleet.name, &site.name),
                    service: a.w.name.clone(),
                    schedule: a.w.schedule.clone(),
                    hosts,
                    deadline_secs: a.w.deadline_secs,
                    backoff: a.w.backoff,
                });
            }
        }
    }
    out
}

// ------------------------------------------------------------------ emit

/// Compose interpolates `$` in every string of the file; a literal `$`
/// from the solution is written `$$`.
fn esc(s: &str) -> String {
    super::escape::compose_value(s)
}

fn cpus(millis: u64) -> String {
    let whole = millis / 1000;
    let frac = millis % 1000;
    if frac == 0 {
        format!("{whole}")
    } else {
        let f = format!("{frac:03}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    }
}

fn memory(bytes: u64) -> String {
    if bytes > 0 && bytes.trailing_zeros() >= 30 {
        format!("{}G", bytes >> 30)
    } else if bytes.trailing_zeros() >= 20 {
        format!("{}M", bytes >> 20)
    } else {
        format!("{bytes}b")
    }
}

fn resources(cpu: u64, cpu_limit: u64, mem: u64, gpu: u32) -> Resources {
    Resources {
        limits: Limits {
            cpus: cpus(cpu_limit.max(cpu)),
            memory: memory(mem),
        },
        reservations: Reservations {
            cpus: cpus(cpu),
            memory: memory(mem),
            devices: if gpu > 0 {
                vec![DeviceRequest {
                    capabilities: vec!["gpu".into()],
                    count: gpu,
                }]
            } else {
                Vec::new()
            },
        },
    }
}

fn logging() -> Logging {
    // The `local` driver rotates and compresses: gateways log to SD cards.
    Logging {
        driver: "local".into(),
        options: BTreeMap::from([
            ("max-file".to_string(), "3".to_string()),
            ("max-size".to_string(), "10m".to_string()),
        ]),
    }
}

fn hardened(c: &Container, svc: &mut Service) {
    svc.user = Some(c.user.to_string());
    svc.read_only = true;
    // Every folder the checker found the container writes outside its
    // volumes (`/tmp` and the declared `writable` paths).
    svc.tmpfs = c.scratch.clone();
    if c.privileged {
        svc.privileged = true;
    } else {
        svc.cap_drop = vec!["ALL".into()];
        svc.security_opt = vec!["no-new-privileges:true".into()];
    }
}

fn labels(sol: &Solution, w: &Workload, fleet: &Fleet, site: &Site, sp: &SitePlacement) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in sol.labels.iter().chain(w.labels.iter()) {
        l.insert(esc(k), esc(v));
    }
    l.insert("app.kubernetes.io/name".into(), w.name.clone());
    l.insert("app.kubernetes.io/component".into(), w.kind.as_str().into());
    l.insert("app.kubernetes.io/part-of".into(), sol.name.clone());
    l.insert("app.kubernetes.io/version".into(), sol.version.clone());
    l.insert("app.kubernetes.io/managed-by".into(), "iotc".into());
    l.insert("iotc.dev/fleet".into(), fleet.name.clone());
    l.insert("iotc.dev/site".into(), site.name.clone());
    l.insert("iotc.dev/site-replicas".into(), sp.replicas.to_string());
    if let Some(m) = &w.model {
        l.insert("iotc.dev/model".into(), model_name(m));
        l.insert("iotc.dev/model-version".into(), esc(&m.version));
        if let Some(sum) = &m.checksum {
            l.insert("iotc.dev/model-checksum".into(), esc(sum));
        }
    }
    if let Some(s) = &w.schedule {
        l.insert("iotc.dev/schedule".into(), s.clone());
    }
    l
}

fn replicas_field(service: &str, leader_share: u32) -> String {
    format!("${{{}:-{leader_share}}}", replicas_var(service))
}

/// What [`service`] reads besides the workload: where it is and what the
/// site's stack holds.
struct SiteCtx<'a> {
    sol: &'a Solution,
    fleet: &'a Fleet,
    site: &'a Site,
    ws: &'a [AtSite<'a>],
    published: &'a [PublishedPort],
}

fn service(cx: &SiteCtx<'_>, a: &AtSite<'_>, file: &mut ComposeFile) {
    let SiteCtx {
        sol,
        fleet,
        site,
        ws,
        published,
    } = *cx;
    let w = a.w;
    let c = &w.container;
    let g = site.hosts.len();
    let leader = share(a.sp.replicas, g, 0);
    file.pulls.insert(c.image.clone());
    let mut svc = Service {
        image: esc(&site.image_at(&c.image)),
        networks: vec![NETWORK.into()],
        logging: logging(),
        labels: labels(sol, w, fleet, site, a.sp),
        ..Default::default()
    };
    if !c.command.is_empty() {
        svc.entrypoint = Some(c.command.iter().map(|s| esc(s)).collect());
    }
    if !c.args.is_empty() {
        svc.command = Some(c.args.iter().map(|s| esc(s)).collect());
    }
    hardened(c, &mut svc);

    // Environment: the workload's env, the model's coordinates, and a
    // `<NAME>_FILE` pointer for every secret.
    let mut env: BTreeMap<String, String> = c.env.iter().map(|(k, v)| (k.clone(), esc(v))).collect();
    if let Some(m) = &w.model {
        env.insert("IOTC_MODEL_NAME".into(), esc(&m.model));
        env.insert("IOTC_MODEL_VERSION".into(), esc(&m.version));
        env.insert("IOTC_MODEL_FORMAT".into(), esc(&m.format));
        if w.kind == WorkloadKind::Train {
            env.insert("IOTC_MODEL_STORE".into(), esc(&m.store));
            env.insert("IOTC_MODEL_FILE".into(), esc(crate::ir::model_file(&m.format)));
            if let Some(d) = &m.data {
                env.insert("IOTC_TRAINING_DATA".into(), esc(d));
            }
        } else {
            env.insert("IOTC_MODEL_PATH".into(), esc(&model_path(m)));
        }
    }
    for s in &c.secrets {
        let name = secret_name(w, &s.name);
        env.insert(format!("{}_FILE", s.name), format!("/run/secrets/{name}"));
        let secret = match secret_origin(w, s) {
            SecretOrigin::Env { variable } => Secret {
                file: None,
                environment: Some(variable),
            },
            SecretOrigin::File { path } | SecretOrigin::Vault { path, .. } => Secret {
                file: Some(esc(&path)),
                environment: None,
            },
        };
        file.secrets.insert(name.clone(), secret);
        svc.secrets.push(name);
    }
    svc.environment = env;

    // Devices: mapped nodes plus the group that owns them on the host,
    // never `privileged` unless the solution asks for it.
    let mut group_add = BTreeSet::new();
    for d in &c.devices {
        svc.devices.push(format!("{}:{}", esc(&d.host), esc(&d.container)));
        if let Some(g) = &d.group {
            let var = group_var(&g.name);
            group_add.insert(format!("${{{var}:-{}}}", g.gid));
        }
    }
    svc.group_add = group_add.into_iter().collect();

    // Ports: the declared port on the gateway, only when a flow needs it
    // (`published`); a host port range when a gateway runs more than one
    // copy.
    if let (Some(port), true) = (c.port, published.iter().any(|p| p.service == w.name)) {
        let proto = if c.protocol == "udp" { "/udp" } else { "" };
        let per_node = a.sp.per_node.max(1);
        let host = if per_node > 1 {
            let last = u32::from(port).saturating_add(per_node - 1).min(65535);
            format!("{port}-{last}")
        } else {
            port.to_string()
        };
        svc.ports.push(format!("{host}:{port}{proto}"));
    }

    // Peers at the site that are not on every gateway.
    for p in remote_peers(sol, w, ws, g) {
        svc.extra_hosts
            .push(format!("{}:${{{}:-host-gateway}}", p.w.name, address_var(&p.w.name)));
    }

    // Volumes.
    for v in &c.volumes {
        match &v.host_path {
            Some(path) => svc.volumes.push(VolumeMount {
                kind: "bind".into(),
                source: esc(path),
                target: esc(&v.mount),
                read_only: v.read_only,
            }),
            None => {
                let name = format!("{}-{}", w.name, v.name.replace('_', "-"));
                let mut l = BTreeMap::new();
                l.insert("iotc.dev/workload".to_string(), w.name.clone());
                if let Some(size) = v.size_bytes {
                    // The local driver cannot cap a volume: the size is
                    // recorded for Ansible's disk check, not dropped.
                    l.insert("iotc.dev/size-bytes".to_string(), size.to_string());
                }
                file.volumes.insert(name.clone(), NamedVolume { labels: l });
                svc.volumes.push(VolumeMount {
                    kind: "volume".into(),
                    source: name,
                    target: esc(&v.mount),
                    read_only: v.read_only,
                });
            }
        }
    }

    // Model servers: the version's folder, read-only. Ansible staged and
    // verified the file on the gateway's disk before `up`
    // (`ModelRef::host_dir`); an OCI artifact is an image volume.
    if let (WorkloadKind::Serve, Some(m)) = (w.kind, &w.model) {
        let target = version_dir(m);
        match fetch_kind(&m.artifact) {
            Some(Fetch::Oci(reference)) => {
                svc.volumes.push(VolumeMount {
                    kind: "image".into(),
                    source: esc(&site.image_at(&reference)),
                    target,
                    read_only: true,
                });
                file.pulls.insert(reference);
            }
            Some(Fetch::S3 | Fetch::Https) => svc.volumes.push(VolumeMount {
                kind: "bind".into(),
                source: esc(&m.host_dir),
                target,
                read_only: true,
            }),
            None => {}
        }
    }

    // Health: an HTTP check for a declared health path (see docs/compose.md
    // for the wget/curl assumption).
    if let (Some(path), Some(port), false) = (&c.health, c.port, is_job(w)) {
        let url = format!("http://127.0.0.1:{port}{}", esc(path));
        svc.healthcheck = Some(Healthcheck {
            test: vec![
                "CMD-SHELL".into(),
                format!("wget -q -O /dev/null {url} || curl -fsS -o /dev/null {url}"),
            ],
            interval: "30s".into(),
            timeout: "5s".into(),
            retries: 3,
            start_period: if w.kind == WorkloadKind::Serve { "300s" } else { "10s" }.into(),
        });
    }

    if is_job(w) {
        svc.profiles = vec![JOBS_PROFILE.into()];
        svc.restart = "no".into();
        svc.deploy = Deploy {
            replicas: None,
            resources: resources(c.cpu_millis, c.cpu_limit_millis, c.memory_bytes, c.gpu),
        };
    } else {
        svc.restart = "unless-stopped".into();
        svc.deploy = Deploy {
            replicas: Some(replicas_field(&w.name, leader)),
            resources: resources(c.cpu_millis, c.cpu_limit_millis, c.memory_bytes, c.gpu),
        };
    }
    file.services.insert(w.name.clone(), svc);
}

fn site_file(sol: &Solution, fleet: &Fleet, site: &Site) -> Result<ComposeFile, String> {
    let ws = at_site(sol, fleet, site);
    let mut file = ComposeFile {
        name: project_name(sol, &fleet.name, &site.name),
        ..Default::default()
    };
    file.networks.insert(
        NETWORK.into(),
        Network {
            name: format!("{}-{NETWORK}", file.name),
        },
    );
    let published = published(sol, site, &ws);
    let cx = SiteCtx {
        sol,
        fleet,
        site,
        ws: &ws,
        published: &published,
    };
    for a in &ws {
        service(&cx, a, &mut file);
    }
    monitoring(sol, fleet, site, &mut file)?;
    files(sol, &mut file);
    Ok(file)
}

/// The files a service's image reads (`ir::Container::files`) as inline
/// configs at their paths, read-only.
fn files(sol: &Solution, file: &mut ComposeFile) {
    for w in sol.workloads.iter().filter(|w| !w.container.files.is_empty()) {
        let Some(svc) = file.services.get_mut(&w.name) else {
            continue;
        };
        for (path, text) in &w.container.files {
            // `/etc/tfserving/monitoring.config` → `<w>-etc-tfserving-monitoring.config`
            let source = format!("{}{}", w.name, path.replace('/', "-"));
            svc.configs.push(ServiceConfig {
                source: source.clone(),
                target: path.clone(),
            });
            file.configs.insert(source, ComposeConfigFile { content: esc(text) });
        }
    }
}

/// The fleet's Prometheus gets its `prometheus.yml` and rule file (and a
/// Grafana its datasource) as inline configs at the paths it reads
/// (`ir::Monitoring`). On a Compose network a target's containers are
/// found by their service's name, on the gateway's own network: each
/// gateway's Prometheus scrapes its own gateway (W0405 when it does not
/// run on every one). Writing to a cluster's Prometheus, it labels its
/// samples with the gateway, which `.env` names ([`crate::ir::GATEWAY_ENV`]).
fn monitoring(sol: &Solution, fleet: &Fleet, site: &Site, file: &mut ComposeFile) -> Result<(), String> {
    for m in sol.monitoring.iter().filter(|m| m.fleet && m.group == fleet.name) {
        if let Some(svc) = file.services.get_mut(&m.prometheus) {
            let data = super::prometheus::prometheus_files(sol, m, Some(&site.name), |t| t.workload.clone())?;
            for (name, text) in data {
                let source = format!("{}-{}", m.prometheus, name.replace('.', "-"));
                svc.configs.push(ServiceConfig {
                    source: source.clone(),
                    target: format!("{}/{name}", m.config_dir.trim_end_matches('/')),
                });
                file.configs.insert(source, ComposeConfigFile { content: esc(&text) });
            }
            if m.remote_write.as_ref().is_some_and(|r| r.per_gateway) {
                let var = crate::ir::GATEWAY_ENV;
                svc.environment.insert(var.to_string(), format!("${{{var}:-unknown}}"));
            }
        }
        for g in &m.dashboards {
            let Some(svc) = file.services.get_mut(g) else { continue };
            let text = super::prometheus::grafana_datasources(m)?;
            let source = format!("{g}-datasources");
            svc.configs.push(ServiceConfig {
                source: source.clone(),
                target: format!(
                    "{}/{}",
                    crate::ir::GRAFANA_DATASOURCES_DIR,
                    super::prometheus::GRAFANA_DATASOURCE_FILE
                ),
            });
            file.configs.insert(source, ComposeConfigFile { content: esc(&text) });
        }
    }
    Ok(())
}

/// Generate `compose/<fleet>/<site>/compose.yaml` for every site of every
/// compose fleet.
pub fn emit(sol: &Solution) -> Result<Vec<OutputFile>, EmitError> {
    let mut files = Vec::new();
    for fleet in compose_fleets(sol) {
        for site in &fleet.sites {
            let file = site_file(sol, fleet, site).map_err(|e| EmitError {
                target: Target::Compose,
                message: format!("{}: {e}", stack_path(&fleet.name, &site.name)),
            })?;
            let text = super::yaml::to_string(&file).map_err(|e| EmitError {
                target: Target::Compose,
                message: format!("{}: {e}", stack_path(&fleet.name, &site.name)),
            })?;
            let header = format!(
                "# Generated by iotc from solution {} {}. Do not edit.\n# Run on every gateway of site {} (fleet {}) with the gateway's .env; see docs/compose.md.\n# Needs Docker Compose v2 (`docker compose`): Compose v1 (`docker-compose` 1.x) rejects the top-level `name:`.\n",
                sol.name, sol.version, site.name, fleet.name
            );
            files.push(OutputFile {
                path: stack_path(&fleet.name, &site.name),
                contents: format!("{header}{text}"),
            });
            if let Some(contents) = super::mirror::list(fleet, site, file.pulls.iter().map(String::as_str)) {
                files.push(OutputFile {
                    path: format!("compose/{}/{}/{}", fleet.name, site.name, super::mirror::FILE),
                    contents,
                });
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_lead_from_the_first_gateway() {
        for r in 0..30 {
            for g in 1..13 {
                let total: u32 = (0..g).map(|i| share(r, g, i)).sum();
                assert_eq!(total, r);
                let max = (0..g).map(|i| share(r, g, i)).max().unwrap_or(0);
                assert_eq!(max, r.div_ceil(g as u32));
                assert_eq!(share(r, g, 0), max);
            }
        }
        assert_eq!(share(3, 0, 0), 0);
    }

    #[test]
    fn quantities() {
        assert_eq!(cpus(500), "0.5");
        assert_eq!(cpus(150), "0.15");
        assert_eq!(cpus(2000), "2");
        assert_eq!(cpus(1250), "1.25");
        assert_eq!(memory(256 << 20), "256M");
        assert_eq!(memory(2 << 30), "2G");
        assert_eq!(memory(1000), "1000b");
    }

    #[test]
    fn dollars_are_escaped() {
        assert_eq!(esc("a$b$$"), "a$$b$$$$");
    }
}
