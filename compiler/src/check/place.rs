//! Placement and fit: which sites or pools each workload lands on, how many
//! copies each node carries, whether that fits the device profile, and
//! whether the runtime and architecture can express it. Assembles the IR.

use super::counts::{At, CountKey, Ctx, Evaluation, WVal, MAX_COUNT, MAX_DEVICES};
use super::items::{Drafts, Target, WorkloadDraft};
use super::values as v;
use super::Analyzer;
use crate::diag::{Code, Diagnostic};
use crate::ir::{self, WorkloadKind};
use crate::source::Span;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) fn matches(selectors: &[(ir::Selector, Span)], labels: &BTreeMap<String, String>) -> bool {
    selectors
        .iter()
        .all(|(s, _)| (labels.get(&s.key) == Some(&s.value)) != s.negated)
}

fn ceil_div(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        a.div_ceil(b)
    }
}

/// One node group whose capacity is checked: a fleet site's gateways (each
/// carries its share: `per_node`) or a cluster pool's nodes (together).
#[derive(Clone, Copy)]
struct NodeGroup<'g> {
    /// `fleet/site` or `cluster/pool`, for messages and the IR.
    group: &'g str,
    /// `edge` or `cloud`.
    tier: &'static str,
    dev: &'g ir::DeviceProfile,
    nodes: u32,
    per_node: bool,
    /// Where the group is declared, for diagnostics.
    span: Span,
}

/// The sites of one fleet, for placing workloads there.
struct SiteNames {
    /// Each site's name, shared by every workload placed there.
    names: Vec<Arc<str>>,
    /// The length of the longest.
    longest: usize,
}

/// The site lists of the fleet placements made so far, by fleet, site
/// classes (their address), one copy per gateway or not, and replicas per
/// class: the workloads placed alike share one.
type Alike = rustc_hash::FxHashMap<(usize, usize, bool, Vec<u32>), Arc<[ir::SitePlacement]>>;

struct Use {
    workload: usize,
    copies: u32,
}

/// What some uses put on a node group, summed: shared by the sites that
/// carry the same workloads alike.
#[derive(Clone, Default)]
struct Carried {
    contributors: Arc<[ir::Contributor]>,
    /// The workloads, by index, in the order of `contributors`.
    uses: Arc<[usize]>,
    cpu: u64,
    mem: u64,
    gpu: u32,
}

/// Sum what `uses` put on a node group.
fn carry(uses: &[Use], workloads: &[ir::Workload], names: &[Arc<str>]) -> Carried {
    let mut contributors = Vec::with_capacity(uses.len());
    let mut used = Vec::with_capacity(uses.len());
    let (mut cpu, mut mem, mut gpu) = (0u64, 0u64, 0u32);
    for u in uses {
        let Some(w) = workloads.get(u.workload) else { continue };
        let c = ir::Contributor {
            workload: names.get(u.workload).cloned().unwrap_or_else(|| w.name.as_str().into()),
            copies: u.copies,
            cpu_millis: w.container.cpu_millis.saturating_mul(u64::from(u.copies)),
            memory_bytes: w.container.memory_bytes.saturating_mul(u64::from(u.copies)),
            gpu: w.container.gpu.saturating_mul(u.copies),
        };
        cpu = cpu.saturating_add(c.cpu_millis);
        mem = mem.saturating_add(c.memory_bytes);
        gpu = gpu.saturating_add(c.gpu);
        contributors.push(c);
        used.push(u.workload);
    }
    Carried {
        contributors: contributors.into(),
        uses: used.into(),
        cpu,
        mem,
        gpu,
    }
}

impl<'a> Analyzer<'a> {
    /// Stage 5, place and fit: the workloads placed per pool or site,
    /// capacity per node group, flows and monitoring decided, and the IR
    /// assembled from the drafts and their evaluated counts.
    pub(super) fn place_and_fit(&mut self, mut ev: Evaluation<'_>) -> Option<ir::Solution> {
        let d = ev.drafts;
        let mut clusters = self.clusters(&ev);
        let fleets = self.fleets(&ev);
        // Each site's name, shared by every workload placed there, and the
        // longest of each fleet's (for the generated names' lengths).
        let site_names: Vec<SiteNames> = fleets
            .iter()
            .map(|f| SiteNames {
                names: f.sites.iter().map(|s| s.name.as_str().into()).collect(),
                longest: f.sites.iter().map(|s| s.name.len()).max().unwrap_or(0),
            })
            .collect();
        let mut workloads = Vec::new();
        let mut alike = Alike::default();
        for (w, wl) in d.workloads.iter().enumerate() {
            if let Some(x) = self.place(w, wl, &mut ev, &clusters, (&fleets, &site_names), &mut alike) {
                workloads.push(x);
            }
        }
        super::devices::assign_resources(&mut workloads);
        if let Some(header) = &d.solution {
            host_dirs(&header.namespace, &mut workloads);
        }
        for w in &mut workloads {
            w.pod_security = pod_security(w);
        }
        let namespaces = match &d.solution {
            Some(header) => namespaces(&header.namespace, &clusters, &fleets, &mut workloads),
            None => Vec::new(),
        };
        self.reachability(d, &workloads);
        let mut monitoring = super::monitoring::decide(&workloads, &d.models);
        let (flows, egress) = self.flows(d, &clusters, &mut workloads, &monitoring);
        super::monitoring::remote_writes(&mut monitoring, &mut workloads, &fleets);
        self.docker_prometheus(d, &fleets, &workloads, &monitoring);
        self.metrics_sources(d, &workloads);
        self.unscraped_models(d, &fleets, &workloads, &monitoring);
        self.battery_hubs(d, &fleets, &workloads, &flows);
        self.offline_sites(d, &fleets, &workloads);
        let mut externals = d.externals.clone();
        externals.sort_by(|a, b| a.name.cmp(&b.name));
        let capacity = self.capacity(d, &clusters, &fleets, &workloads);
        let header = d.solution.clone()?;
        // Every container pulls from its image's registry with that
        // registry's credential, when the solution declares one.
        for w in &mut workloads {
            let host = crate::names::image_registry_host(&w.container.image);
            w.container.registry = header
                .registries
                .iter()
                .find(|r| r.host == host)
                .map(|r| r.name.clone());
        }
        let solution_name = v::k8s_name(&header.name);
        for c in &mut clusters {
            c.secret_store = secret_store(&solution_name, c, &workloads);
        }
        let params = self
            .params
            .iter()
            .map(|(n, p)| ir::ParamValue {
                name: n.clone(),
                ty: p.ty.name().to_string(),
                value: p.value.to_string(),
                source: p.source,
                label: p.label.clone(),
                description: p.description.clone(),
                default: p.default.clone(),
                min: p.min.as_ref().map(|(v, _)| v.to_string()),
                max: p.max.as_ref().map(|(v, _)| v.to_string()),
            })
            .collect();
        let mut models = d.models.clone();
        models.sort_by(|a, b| a.name.cmp(&b.name));
        Some(ir::Solution {
            name: solution_name,
            version: header.version,
            namespace: header.namespace,
            description: header.description,
            labels: header.labels,
            registries: header.registries,
            admin_networks: header.admin_networks,
            params,
            clusters,
            fleets,
            workloads,
            models,
            capacity,
            flows,
            externals,
            egress,
            namespaces,
            monitoring,
        })
    }

    fn clusters(&mut self, ev: &Evaluation<'_>) -> Vec<ir::Cluster> {
        let d = ev.drafts;
        let mut out = Vec::new();
        for (c, cl) in d.clusters.iter().enumerate() {
            let mut pools = Vec::new();
            for (p, pool) in cl.pools.iter().enumerate() {
                let (Some(node), Some(nodes)) = (pool.node.clone(), ev.value(CountKey::Pool(c, p))) else {
                    continue;
                };
                let mut node_labels = cl.labels.clone();
                node_labels.extend(pool.labels.clone());
                node_labels.insert(ir::POOL_LABEL.to_string(), pool.name.clone());
                pools.push(ir::Pool {
                    name: pool.name.clone(),
                    node,
                    nodes: nodes.total(),
                    labels: pool.labels.clone(),
                    node_labels,
                });
            }
            let mut provider = cl.provider.clone();
            if let (Some(ir::Provider::Baremetal { hosts }), Some((pattern, span))) =
                (&mut provider, &cl.baremetal_pattern)
            {
                let n: u64 = pools.iter().map(|p| u64::from(p.nodes)).sum();
                let Some(n) = self.claim_devices(n, *span, &cl.name.name) else {
                    continue;
                };
                match v::expand_hosts(pattern, &cl.name.name, n) {
                    Ok(h) => {
                        if !self.distinct_hosts(&h, format!("cluster `{}`", cl.name.name), *span) {
                            continue;
                        }
                        *hosts = h;
                    }
                    Err(m) => self.diags.push(
                        Diagnostic::new(Code::E0208, *span, m)
                            .label("invalid host-name pattern")
                            .help("write a pattern such as `node{n}.dc.example.internal`"),
                    ),
                }
            }
            let Some(provider) = provider else { continue };
            // Ansible installs the runtime on the machines the solution
            // names (baremetal hosts, the vSphere VMs Terraform clones);
            // a control plane of three (`Cluster::control_plane`) is an
            // HA k3s/microk8s cluster, as on a fleet's sites.
            let installed = matches!(provider, ir::Provider::Baremetal { .. } | ir::Provider::Vsphere { .. });
            let ha = pools.iter().find(|p| p.nodes > 0).is_some_and(|p| p.nodes >= 3);
            // EC2 instances too (`Cluster::hosts_from_terraform`): Ansible
            // installs the distribution on what Terraform created.
            let on_ec2 = ir::installed_on_ec2(&provider, &cl.distribution);
            let node_rules = match (installed || on_ec2, cl.distribution.as_str()) {
                (true, "kubeadm") => runtime_node_rules(NodeRuntime::Kubeadm, false),
                (true, "k3s") => runtime_node_rules(NodeRuntime::K3s, ha),
                (true, "microk8s") => runtime_node_rules(NodeRuntime::Microk8s, ha),
                _ => Vec::new(),
            };
            // Time on EC2: the nodes' security group lets no NTP out (UDP
            // 123 to the distribution's pools), so chrony prefers the Amazon
            // Time Sync Service at its link-local address, which no
            // security group filters (`ir::AMAZON_TIME_SYNC`). Nor does the
            // host firewall need a rule for it: ufw denies incoming only,
            // outgoing stays allowed and the replies are tracked.
            let time_servers = if on_ec2 {
                vec![ir::AMAZON_TIME_SYNC.to_string()]
            } else {
                Vec::new()
            };
            let vip = self.control_plane_vip(cl, installed, ha);
            out.push(ir::Cluster {
                name: v::k8s_name(&cl.name.name),
                provider,
                distribution: cl.distribution.clone(),
                version: cl.version.clone(),
                domain: cl.domain.as_ref().map(|(d, _)| d.clone()),
                vip,
                labels: cl.labels.clone(),
                pools,
                node_rules,
                time_servers,
                secret_store: None,
            });
        }
        out
    }

    /// A kubeadm cluster that Ansible installs with three control-plane
    /// nodes answers on its `vip` (kube-vip); without one, every node and
    /// kubeconfig reaches the API through the first node alone (W0404).
    /// `vip` means nothing to other distributions and managed clusters
    /// (E0404): k3s and microk8s agents balance over every server, EKS has
    /// its own endpoint.
    fn control_plane_vip(&mut self, cl: &super::items::ClusterDraft, installed: bool, ha: bool) -> Option<String> {
        let kubeadm = installed && cl.distribution == "kubeadm";
        match &cl.vip {
            Some((vip, _)) if kubeadm => Some(vip.clone()),
            Some((_, span)) => {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0404,
                        *span,
                        format!(
                            "cluster `{}` has no control plane of its own to put an address in front of",
                            cl.name.name
                        ),
                    )
                    .label("only for kubeadm on vSphere or baremetal")
                    .help(if installed {
                        "remove `vip`: k3s and microk8s nodes balance over every server themselves"
                    } else {
                        "remove `vip`: a managed cluster's provider gives its API server an endpoint"
                    }),
                );
                None
            }
            None => {
                if kubeadm && ha {
                    self.diags.push(
                        Diagnostic::new(
                            Code::W0404,
                            cl.name.span,
                            format!("the three control-plane nodes of `{}` are reached through the first one alone", cl.name.name),
                        )
                        .label("no `vip`")
                        .help("add `vip = \"<free address in the nodes' network>\"`: kube-vip then moves it to a healthy control-plane node"),
                    );
                }
                None
            }
        }
    }

    /// Count `n` more named devices (of the site or cluster `name`) against
    /// [`MAX_COUNT`] and [`MAX_DEVICES`] before any host name is made.
    fn claim_devices(&mut self, n: u64, span: Span, name: &str) -> Option<u32> {
        let total = self.devices_named.saturating_add(n);
        let over = if n > u64::from(MAX_COUNT) {
            Some(format!(
                "`{name}` has {n} devices, more than the maximum of {MAX_COUNT}"
            ))
        } else if total > MAX_DEVICES {
            Some(format!(
                "with `{name}`, the solution has {total} devices, more than the maximum of {MAX_DEVICES}"
            ))
        } else {
            None
        };
        if let Some(message) = over {
            self.diags.push(
                Diagnostic::new(Code::E0202, span, message)
                    .label("too many devices")
                    .help(format!(
                        "a site or cluster has at most {MAX_COUNT} devices (gateways plus standby), \
                         a solution at most {MAX_DEVICES}"
                    )),
            );
            return None;
        }
        self.devices_named = total;
        u32::try_from(n).ok()
    }

    /// Record the devices `hosts` of `owner` (a site or a bare-metal
    /// cluster, whose `hosts` pattern is at `span`); false, with an E0208,
    /// when one of them has the name of a device named before: the Ansible
    /// inventory and the AWS IoT registry key devices by host name.
    fn distinct_hosts(&mut self, hosts: &[String], owner: String, span: Span) -> bool {
        let me = u32::try_from(self.host_owners.len()).unwrap_or(u32::MAX);
        self.host_owners.push((owner, span));
        for h in hosts {
            let thing = crate::names::aws_iot_thing_name(h);
            let Some(&other) = self.things.get(&thing) else {
                self.things.insert(thing, me);
                continue;
            };
            let (mine, _) = self.host_owners.last().cloned().unwrap_or_default();
            let (theirs, their_span) = self
                .host_owners
                .get(other as usize)
                .cloned()
                .unwrap_or_else(|| (mine.clone(), span));
            let message = if other == me {
                format!("{mine} names two devices `{h}` (as AWS IoT things, long host names are cut to 128 characters)")
            } else if thing.len() < 128 {
                format!("host `{h}` of {mine} is also a device of {theirs}")
            } else {
                format!("host `{h}` of {mine} has the AWS IoT thing name `{thing}` of a device of {theirs}")
            };
            let mut diag = Diagnostic::new(Code::E0208, span, message).label("a host name already taken");
            if other != me {
                diag = diag.with_secondary(their_span, "the other device's name comes from here");
            }
            self.diags.push(diag.help(
                "every device needs its own host name: put `{site}` in the pattern (`gw{n}.{site}.example.internal`) \
                 or give the sites different domains",
            ));
            return false;
        }
        true
    }

    fn fleets(&mut self, ev: &Evaluation<'_>) -> Vec<ir::Fleet> {
        let d = ev.drafts;
        let mut out = Vec::new();
        for (f, fl) in d.fleets.iter().enumerate() {
            let mut sites = Vec::new();
            for (s, site) in fl.sites.iter().enumerate() {
                let Some(gw) = ev.value(CountKey::Site(f, s)).map(WVal::total) else {
                    continue;
                };
                let mut hosts = Vec::new();
                let mut standby_hosts = Vec::new();
                let Some(devices) =
                    self.claim_devices(u64::from(gw) + u64::from(site.standby), site.name.span, &site.name.name)
                else {
                    continue;
                };
                if let Some((pattern, span)) = &site.hosts {
                    match v::expand_hosts(pattern, &site.name.name, devices) {
                        Ok(mut all) => {
                            if !self.distinct_hosts(&all, format!("site `{}`", site.name.name), *span) {
                                continue;
                            }
                            standby_hosts = all.split_off((gw as usize).min(all.len()));
                            hosts = all;
                        }
                        Err(m) => self.diags.push(
                            Diagnostic::new(Code::E0208, *span, m)
                                .label("invalid host-name pattern")
                                .help("write a pattern such as `gw{n}.plant-a.example.internal`; `{n}` numbers the gateways from 1"),
                        ),
                    }
                }
                let hub = self.choose_hub(site, &hosts, fl.runtime.as_ref());
                let name = v::k8s_name(&site.name.name);
                let mut node_labels = site.labels.clone();
                node_labels.insert(ir::SITE_LABEL.to_string(), name.clone());
                node_labels.insert(ir::ZONE_LABEL.to_string(), name.clone());
                sites.push(ir::Site {
                    name,
                    gateways: gw,
                    standby: site.standby,
                    hosts,
                    standby_hosts,
                    labels: site.labels.clone(),
                    region: site.region.clone(),
                    offline: site.offline.is_some(),
                    mirror: site.mirror.as_ref().map(|(m, _)| m.clone()),
                    servers: Vec::new(),
                    hub,
                    node_labels,
                    node_rules: Vec::new(),
                });
            }
            let (Some(device), Some(runtime)) = (fl.device.clone(), fl.runtime.clone()) else {
                continue;
            };
            if runtime.is_kubernetes() {
                self.choose_servers(fl.server.as_ref(), &mut sites);
            }
            let node_runtime = match runtime.name.as_str() {
                "k3s" => Some(NodeRuntime::K3s),
                "microk8s" => Some(NodeRuntime::Microk8s),
                _ => None,
            };
            if let Some(rt) = node_runtime {
                for site in &mut sites {
                    site.node_rules = runtime_node_rules(rt, site.servers.len() > 1);
                }
            }
            out.push(ir::Fleet {
                name: v::k8s_name(&fl.name.name),
                device,
                runtime,
                labels: fl.labels.clone(),
                sites,
            });
        }
        out
    }

    /// The gateway of a Docker site that runs the services not on every
    /// gateway: `hub = "host"` when it is one of the site's gateways, else
    /// the first gateway. On a Kubernetes fleet the site's scheduler
    /// places them, and `hub` is an error.
    fn choose_hub(
        &mut self,
        site: &super::items::SiteDraft,
        hosts: &[String],
        runtime: Option<&ir::Runtime>,
    ) -> Option<String> {
        let kubernetes = runtime.is_some_and(ir::Runtime::is_kubernetes);
        let Some((host, span)) = &site.hub else {
            return if kubernetes { None } else { hosts.first().cloned() };
        };
        if kubernetes {
            let name = runtime.map_or("kubernetes", |r| r.name.as_str());
            self.diags.push(
                Diagnostic::new(
                    Code::E0404,
                    *span,
                    format!("runtime `{name}` does not run services on a hub"),
                )
                .label("Kubernetes schedules the site's services itself")
                .help("remove `hub`; `server` on the fleet chooses a site's first control-plane host"),
            );
            return None;
        }
        if hosts.contains(host) {
            return Some(host.clone());
        }
        self.diags.push(
            Diagnostic::new(
                Code::E0101,
                *span,
                format!("`{host}` is not a gateway of site `{}`", site.name.name),
            )
            .label("no gateway of this site has this host name")
            .help(match hosts.first() {
                Some(h) => {
                    format!("name one of the gateways its `hosts` pattern gives, such as `{h}`, or leave `hub` out")
                }
                None => "give the site a `hosts` pattern, or leave `hub` out".to_string(),
            }),
        );
        hosts.first().cloned()
    }

    /// A Docker site of battery-powered gateways whose other gateways call
    /// services on its hub gets W0403 unless the source names the hub: the
    /// whole site then depends on one battery, chosen by position only.
    fn battery_hubs(&mut self, d: &Drafts, fleets: &[ir::Fleet], workloads: &[ir::Workload], flows: &[ir::Flow]) {
        for fd in &d.fleets {
            let Some(fleet) = fleets.iter().find(|f| f.name == v::k8s_name(&fd.name.name)) else {
                continue;
            };
            if fleet.runtime.is_kubernetes() || fleet.device.power != "battery" {
                continue;
            }
            for sd in fd.sites.iter().filter(|s| s.hub.is_none()) {
                let Some(site) = fleet.sites.iter().find(|s| s.name == v::k8s_name(&sd.name.name)) else {
                    continue;
                };
                let Some(hub) = &site.hub else { continue };
                let shared: Vec<&str> = workloads
                    .iter()
                    .filter(|w| {
                        matches!(&w.placement, ir::Placement::Fleet { fleet: f, sites }
                            if f == &fleet.name
                                && sites.iter().any(|p| *p.site == *site.name && p.replicas > 0 && p.replicas < site.gateways))
                            && flows.iter().any(|f| f.to == w.name && f.reach.is_local())
                    })
                    .map(|w| w.name.as_str())
                    .collect();
                if shared.is_empty() {
                    continue;
                }
                self.diags.push(
                    Diagnostic::new(
                        Code::W0403,
                        sd.name.span,
                        format!(
                            "every gateway of site `{}` depends on {} on `{hub}`, a battery-powered gateway chosen by position",
                            sd.name.name,
                            shared.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
                        ),
                    )
                    .label("no `hub` named")
                    .with_secondary(fd.device_span, "the fleet's device runs on battery")
                    .help(format!(
                        "name the gateway you keep powered (the largest panel and battery) with `hub = \"{hub}\"` or another of the site's gateways"
                    )),
                );
            }
        }
    }

    /// A Prometheus on a Docker fleet scrapes the containers of its own
    /// gateway (the Compose network's DNS knows no other): on fewer
    /// gateways of a site than the site has, the containers of the others
    /// go unscraped (W0405).
    fn docker_prometheus(
        &mut self,
        d: &Drafts,
        fleets: &[ir::Fleet],
        workloads: &[ir::Workload],
        monitoring: &[ir::Monitoring],
    ) {
        for m in monitoring.iter().filter(|m| m.fleet && !m.targets.is_empty()) {
            let Some(fleet) = fleets.iter().find(|f| f.name == m.group && !f.runtime.is_kubernetes()) else {
                continue;
            };
            let Some(p) = workloads.iter().find(|w| w.name == m.prometheus) else {
                continue;
            };
            let ir::Placement::Fleet { sites, .. } = &p.placement else {
                continue;
            };
            let short: Vec<String> = fleet
                .sites
                .iter()
                .filter(|s| s.gateways > 1)
                .filter(|s| {
                    sites
                        .iter()
                        .find(|p| *p.site == *s.name)
                        .map_or(0, |p| p.replicas.min(s.gateways))
                        < s.gateways
                })
                .map(|s| format!("`{}`", s.name))
                .collect();
            if short.is_empty() {
                continue;
            }
            let Some(span) = d
                .workloads
                .iter()
                .find(|w| v::k8s_name(&w.name) == p.name)
                .map(|w| w.name_span)
            else {
                continue;
            };
            self.diags.push(
                Diagnostic::new(
                    Code::W0405,
                    span,
                    format!(
                        "`{}` runs on fewer gateways than site {} has: the containers of the others are not scraped",
                        p.name,
                        short.join(", ")
                    ),
                )
                .label("a Prometheus on a Docker fleet scrapes its own gateway")
                .help("run it on every gateway: `replicas = 1 per gateway`"),
            );
        }
    }

    /// A `metrics_from` entry names a workload that serves metrics where
    /// a Prometheus can scrape them: unknown is E0101; a job, or a
    /// workload without `metrics` and a `port`, exports nothing (E0408).
    fn metrics_sources(&mut self, d: &Drafts, workloads: &[ir::Workload]) {
        for (model, name, span) in &d.metrics_from {
            let k = v::k8s_name(name);
            let Some(w) = workloads.iter().find(|w| w.name == k) else {
                let names = d.workloads.iter().map(|w| w.name.as_str());
                let dg = Diagnostic::new(
                    Code::E0101,
                    *span,
                    format!("model `{model}` reads metrics from `{name}`, which is not a workload"),
                )
                .label("unknown workload");
                self.diags.push(match crate::diag::suggest(name, names) {
                    Some(s) => dg.help(format!("did you mean `{s}`?")),
                    None => dg.help("name a service or daemon that serves the model's metrics"),
                });
                continue;
            };
            let why = if matches!(w.kind, ir::WorkloadKind::Job | ir::WorkloadKind::Train) {
                Some("a job is not scraped: it does not run between its runs")
            } else if w.container.metrics.is_none() || w.container.port.is_none() {
                Some("it has no `metrics` path on a `port`")
            } else {
                None
            };
            if let Some(why) = why {
                self.diags.push(
                    Diagnostic::new(Code::E0408, *span, format!("`{name}` exports no metrics for model `{model}`"))
                        .label(why)
                        .help(format!(
                            "give `{name}` a `port` and `metrics = \"/metrics\"`, or name a service or daemon that has them"
                        )),
                );
            }
        }
    }

    /// A monitored model's metric sources (servers whose runtime serves
    /// `metrics`, and its `metrics_from` workloads) are scraped and alerted
    /// on by a Prometheus of their own cluster or fleet
    /// (`Monitoring::targets`). Where none runs, its alerts fire nowhere:
    /// on Kubernetes only a Prometheus Operator, which iotc does not
    /// install, would read the ServiceMonitor and PrometheusRule of
    /// `30-monitoring.yaml`; on a Docker fleet nothing would (W0406, one
    /// per model and group).
    fn unscraped_models(
        &mut self,
        d: &Drafts,
        fleets: &[ir::Fleet],
        workloads: &[ir::Workload],
        monitoring: &[ir::Monitoring],
    ) {
        // (model, group, fleet): in workload order, so in source order.
        let mut seen: Vec<(&str, &str, bool)> = Vec::new();
        for (w, model) in ir::metric_sources(workloads, &d.models) {
            let Some((model, &span)) = d.monitor_spans.get_key_value(model) else {
                continue;
            };
            if monitoring
                .iter()
                .any(|m| m.targets.iter().any(|t| t.workload == w.name))
            {
                continue;
            }
            let (group, fleet) = super::monitoring::group(w);
            if seen.contains(&(model.as_str(), group, fleet)) {
                continue;
            }
            seen.push((model, group, fleet));
            let docker = fleet && fleets.iter().any(|f| f.name == group && !f.runtime.is_kubernetes());
            let kind = if fleet { "fleet" } else { "cluster" };
            let (label, note) = if docker {
                (
                    "nothing scrapes its metrics there",
                    "a Docker fleet has no Prometheus Operator: only a Prometheus of the fleet scrapes and alerts"
                        .to_string(),
                )
            } else {
                (
                    "its alerts need a Prometheus there",
                    format!(
                        "iotc writes its ServiceMonitor and PrometheusRule to `30-monitoring.yaml`{}, which only a Prometheus Operator reads; iotc does not install one, and `kubectl apply -k` leaves the file out",
                        if fleet { " of every site" } else { "" }
                    ),
                )
            };
            let example = if fleet {
                format!("`service site_metrics on {group} from std.services.prometheus {{ talks_to = [<a cluster's Prometheus>] }}`: each site scrapes and alerts on its own, and writes its samples to the cloud")
            } else {
                format!("`service metrics on {group} from std.services.prometheus {{ }}`")
            };
            self.diags.push(
                Diagnostic::new(
                    Code::W0406,
                    span,
                    format!("model `{model}` is monitored, but no Prometheus scrapes its metrics on {kind} `{group}`"),
                )
                .label(label)
                .help(format!("declare a Prometheus on `{group}`, e.g. {example}"))
                .note(note),
            );
        }
    }

    /// An offline site pulls every image from its mirror (E0406 without
    /// one) and installs its runtime from files the controller copies,
    /// which microk8s's snap cannot do (E0404). On a site with a mirror,
    /// two images the site runs must not share a path on it (E0407):
    /// `ghcr.io/acme/x` and `docker.io/acme/x` would both be `acme/x`.
    fn offline_sites(&mut self, d: &Drafts, fleets: &[ir::Fleet], workloads: &[ir::Workload]) {
        for fd in &d.fleets {
            let fleet = fleets.iter().find(|f| f.name == v::k8s_name(&fd.name.name));
            for sd in &fd.sites {
                if let Some(span) = sd.offline {
                    if sd.mirror.is_none() {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0406,
                                span,
                                format!("offline site `{}` has no registry mirror", sd.name.name),
                            )
                            .label("no route to the internet")
                            .help(format!(
                                "add `mirror = \"registry.{}.example.internal:5000\"`, a registry at the site that serves the site's images",
                                v::k8s_name(&sd.name.name)
                            )),
                        );
                    }
                    if let Some(rt) = fd.runtime.as_ref().filter(|r| r.name == "microk8s") {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0404,
                                span,
                                format!("runtime `{}` cannot be installed at an offline site", rt.name),
                            )
                            .label("no route to the snap store")
                            .with_secondary(fd.runtime_span, "the fleet runs microk8s")
                            .help("run the fleet on `k3s` (installed from files the controller downloads) or `docker`, or keep the site online"),
                        );
                    }
                }
                let (Some((mirror, mspan)), Some(fleet)) = (&sd.mirror, fleet) else {
                    continue;
                };
                let site = v::k8s_name(&sd.name.name);
                let mut seen: Vec<(String, &str, &str)> = Vec::new();
                for w in workloads.iter().filter(|w| {
                    matches!(&w.placement, ir::Placement::Fleet { fleet: f, sites }
                        if f == &fleet.name && sites.iter().any(|p| *p.site == *site))
                }) {
                    let image = w.container.image.as_str();
                    let path = repository(&ir::mirror_path(image)).to_string();
                    match seen.iter().find(|(p, i, _)| {
                        *p == path && crate::names::image_registry_host(i) != crate::names::image_registry_host(image)
                    }) {
                        Some((_, other, other_w)) => {
                            self.diags.push(
                                Diagnostic::new(
                                    Code::E0407,
                                    *mspan,
                                    format!(
                                        "`{image}` ({}) and `{other}` ({other_w}) are both in `{mirror}/{path}` on the mirror of site `{}`",
                                        w.name, sd.name.name
                                    ),
                                )
                                .label("one path on the mirror for two images")
                                .help("the mirror keeps an image under its path without the registry host: rename one repository, or use one registry for both"),
                            );
                            break;
                        }
                        None => seen.push((path, image, w.name.as_str())),
                    }
                }
            }
        }
    }

    /// Every site of a Kubernetes fleet is its own cluster: its first
    /// gateway initialises it, and a site with [`ir::HA_MIN_GATEWAYS`] or
    /// more gateways gets two more servers for a quorum. `server = "host"`
    /// puts that gateway first at its site; a name that is no gateway of
    /// the fleet is an error.
    fn choose_servers(&mut self, named: Option<&(String, Span)>, sites: &mut [ir::Site]) {
        for site in sites.iter_mut() {
            let wanted = if site.gateways >= ir::HA_MIN_GATEWAYS { 3 } else { 1 };
            let mut servers: Vec<String> = Vec::new();
            if let Some((host, _)) = named {
                if site.hosts.contains(host) {
                    servers.push(host.clone());
                }
            }
            for h in &site.hosts {
                if servers.len() >= wanted {
                    break;
                }
                if !servers.contains(h) {
                    servers.push(h.clone());
                }
            }
            site.servers = servers;
        }
        if let Some((host, span)) = named {
            if !sites.iter().any(|s| s.hosts.contains(host)) {
                let some = sites.iter().find_map(|s| s.hosts.first()).cloned();
                self.diags.push(
                    Diagnostic::new(Code::E0101, *span, format!("`{host}` is not a gateway of this fleet"))
                        .label("no site has this host")
                        .help(match some {
                            Some(h) => format!(
                                "name one of the gateways the sites' `hosts` patterns give, such as `{h}`, or leave `server` out"
                            ),
                            None => "give the sites a `hosts` pattern, or leave `server` out".to_string(),
                        }),
                );
            }
        }
    }

    fn place(
        &mut self,
        w: usize,
        wl: &WorkloadDraft,
        ev: &mut Evaluation<'_>,
        clusters: &[ir::Cluster],
        (fleets, site_names): (&[ir::Fleet], &[SiteNames]),
        alike: &mut Alike,
    ) -> Option<ir::Workload> {
        let d = ev.drafts;
        let target = wl.target?;
        let name = v::k8s_name(&wl.name);
        let counted = ev.value(CountKey::Workload(w)).cloned();
        let mut autoscale = None;
        if let Some(a) = &wl.autoscale {
            let (lo, hi, pct, span) = (&a.min, &a.max, a.cpu_percent, a.span);
            let ctx = match target {
                Target::Cluster(c) => Ctx::Cluster(c),
                Target::Fleet(f) => Ctx::Site(f, ev.sites_of.get(&w).and_then(|s| s.first().copied()).unwrap_or(0)),
            };
            let subject = format!("autoscale of {}", wl.name);
            let lo = self.final_count(lo, At { ctx, file: wl.file }, ev, &subject, None);
            let hi = self.final_count(hi, At { ctx, file: wl.file }, ev, &subject, None);
            if let (Some(lo), Some(hi)) = (lo, hi) {
                if lo > hi {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0303,
                            span,
                            format!("autoscale `min = {lo}` is greater than `max = {hi}`"),
                        )
                        .label("empty range")
                        .help("swap them"),
                    );
                } else if hi == 0 {
                    self.diags.push(
                        Diagnostic::new(Code::E0202, span, "autoscale `max` must be at least 1")
                            .label("never runs")
                            .help("set `max` to 1 or more"),
                    );
                }
                autoscale = Some(ir::Autoscale {
                    min: lo.max(1),
                    max: hi,
                    cpu_percent: pct,
                });
            }
        }
        let placement = match target {
            Target::Cluster(c) => {
                let cluster = clusters.iter().find(|x| {
                    Some(x.name.as_str()) == d.clusters.get(c).map(|k| v::k8s_name(&k.name.name)).as_deref()
                })?;
                // A model's `serve` and `train` workloads are named after
                // the model (`<model>-serve`, `<model>-train`); a declared
                // workload's own name was checked where it is declared.
                if wl.model.is_some() && name.len() > 63 {
                    let m = v::check_dns_label(&name).err().unwrap_or_default();
                    self.diags.push(
                        Diagnostic::new(Code::E0206, wl.name_span, format!("the generated name `{name}` is not a valid Kubernetes name: {m}"))
                            .label("named after its model")
                            .help("shorten the model name; a model's workloads are named `<model>-serve` and `<model>-train`, at most 63 characters"),
                    );
                } else if wl.schedule.is_some() && name.len() > 52 {
                    self.diags.push(
                        Diagnostic::new(Code::E0206, wl.name_span, format!("the CronJob name `{name}` is {} characters long; Kubernetes allows 52", name.len()))
                            .label("scheduled, so a CronJob")
                            .help("shorten the name; a scheduled job or training becomes a CronJob named `<job>` (`<model>-train`), at most 52 characters"),
                    );
                }
                let pool = self.pick_pool(wl, cluster)?;
                let replicas = match wl.kind {
                    WorkloadKind::Daemon => pool.nodes,
                    WorkloadKind::Job | WorkloadKind::Train => 1,
                    _ => autoscale
                        .as_ref()
                        .map(|a| a.min)
                        .unwrap_or_else(|| counted.as_ref().map(WVal::total).unwrap_or(1)),
                };
                ir::Placement::Cluster {
                    cluster: cluster.name.clone(),
                    pool: pool.name.clone(),
                    replicas,
                }
            }
            Target::Fleet(f) => {
                let fd = d.fleets.get(f)?;
                let fleet_name = v::k8s_name(&fd.name.name);
                let fi = fleets.iter().position(|x| x.name == fleet_name)?;
                let fleet = fleets.get(fi)?;
                self.runtime_fit(wl, fd, fleet);
                let per_site = match &counted {
                    Some(WVal::PerSite(v)) => Some(v),
                    _ => None,
                };
                let autoscaled = autoscale.as_ref().map(|a| a.min);
                // The checks per site, where they can fire.
                let cron = wl.schedule.is_some() && fleet.runtime.is_kubernetes();
                let longest = site_names.get(fi).map(|n| n.longest).unwrap_or(0);
                if wl.critical.is_some() || name.len() + 1 + longest > 52 {
                    for (s, replicas) in per_site.into_iter().flat_map(|p| p.iter()) {
                        let Some(site) = fleet.sites.get(s) else { continue };
                        let replicas = autoscaled.unwrap_or(replicas);
                        if wl.critical.is_some() && replicas > site.gateways + site.standby {
                            self.diags.push(
                                Diagnostic::new(Code::E0401, wl.critical.unwrap_or(wl.name_span), format!("critical `{}` needs {replicas} devices at `{}`, which has {} gateways and {} standby", wl.name, site.name, site.gateways, site.standby))
                                    .label("one replica per device")
                                    .help("lower the replicas or add gateways or standby devices"),
                            );
                        }
                        // Both parts are valid labels already; only the length
                        // of the joined name can be wrong.
                        if cron && name.len() + 1 + site.name.len() > 52 && name.len() + 1 + site.name.len() <= 63 {
                            self.diags.push(
                                Diagnostic::new(Code::E0206, wl.name_span, format!("the generated CronJob name `{name}-{}` is {} characters long; Kubernetes allows 52", site.name, name.len() + 1 + site.name.len()))
                                    .label(format!("placed at site `{}`", site.name))
                                    .help("shorten the job or site name; a scheduled job becomes a CronJob named `<job>-<site>`, at most 52 characters"),
                            );
                        }
                        if name.len() + 1 + site.name.len() > 63 {
                            let generated = format!("{name}-{}", site.name);
                            let m = v::check_dns_label(&generated).err().unwrap_or_default();
                            self.diags.push(
                                Diagnostic::new(Code::E0206, wl.name_span, format!("the generated name `{generated}` is not a valid Kubernetes name: {m}"))
                                    .label(format!("placed at site `{}`", site.name))
                                    .help("shorten the workload or site name; generated names are `<workload>-<site>`, at most 63 characters"),
                            );
                        }
                    }
                }
                // The workloads placed alike (the same sites, replicas per
                // class of sites and copies per gateway) share one list.
                let one_per_node = matches!(wl.kind, WorkloadKind::Daemon | WorkloadKind::Job | WorkloadKind::Train);
                let sites = match per_site {
                    Some(p) => {
                        let replicas: Vec<u32> = match autoscaled {
                            Some(min) => vec![min; p.values.len()],
                            None => p.values.to_vec(),
                        };
                        let key = (fi, Arc::as_ptr(&p.classes) as usize, one_per_node, replicas);
                        if let Some(shared) = alike.get(&key) {
                            shared.clone()
                        } else {
                            let names = site_names.get(fi).map(|n| &n.names);
                            let mut sites = Vec::with_capacity(p.classes.len());
                            for (s, class) in p.classes.iter() {
                                let Some(site) = fleet.sites.get(s) else { continue };
                                let replicas = key.3.get(class).copied().unwrap_or(0);
                                let per_node = if one_per_node {
                                    1
                                } else {
                                    ceil_div(replicas, site.gateways)
                                };
                                sites.push(ir::SitePlacement {
                                    site: names
                                        .and_then(|n| n.get(s))
                                        .cloned()
                                        .unwrap_or_else(|| site.name.as_str().into()),
                                    replicas,
                                    per_node,
                                });
                            }
                            let sites: Arc<[ir::SitePlacement]> = sites.into();
                            alike.insert(key, sites.clone());
                            sites
                        }
                    }
                    None => Arc::from(Vec::new()),
                };
                ir::Placement::Fleet {
                    fleet: fleet.name.clone(),
                    sites,
                }
            }
        };
        if let Some(span) = wl.privileged_span {
            self.diags.push(
                Diagnostic::new(Code::W0601, span, format!("`{}` runs privileged", wl.name))
                    .label("full access to the host")
                    .help(
                        "prefer `device \"/dev/…\"` for device access; privileged containers can take over the device",
                    ),
            );
        }
        for secret in undeclared_secret_files(&wl.container) {
            let from = wl
                .template
                .as_ref()
                .map(|t| format!(" (from the template `{t}`)"))
                .unwrap_or_default();
            self.diags.push(
                Diagnostic::new(
                    Code::E0504,
                    wl.name_span,
                    format!("`{}` reads secret `{secret}`, which it does not declare", wl.name),
                )
                .label(format!("its command or args{from} read `${secret}_FILE`"))
                .help(format!(
                    "declare it: `secret {secret} from vault \"kv/data/…#key\"` (or `from file \"/path\"`, `from env \"VAR\"`)"
                )),
            );
        }
        self.arch_fit(wl, &placement, clusters, fleets, d);
        // Several copies with a sized volume each need a claim of their own.
        let most = match &placement {
            ir::Placement::Cluster { replicas, .. } => *replicas,
            ir::Placement::Fleet { sites, .. } => sites.iter().map(|s| s.replicas).max().unwrap_or(0),
        };
        let stateful = matches!(wl.kind, WorkloadKind::Service | WorkloadKind::Serve)
            && wl.container.volumes.iter().any(|v| v.size_bytes.is_some())
            && (autoscale.is_some() || most > 1);
        // Compose gives a service one named volume per gateway (its
        // project's): copies sharing a gateway would share it.
        if stateful {
            if let ir::Placement::Fleet { fleet, sites } = &placement {
                let docker = fleets.iter().any(|f| &f.name == fleet && !f.runtime.is_kubernetes());
                if let Some(s) = sites.iter().find(|s| s.per_node > 1).filter(|_| docker) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0404,
                            wl.name_span,
                            format!(
                                "`{}` runs {} copies on a gateway of site `{}`, which would all write one volume",
                                wl.name, s.per_node, s.site
                            ),
                        )
                        .label("a sized volume, several copies per gateway")
                        .help("Compose gives a service one named volume per gateway: run at most one copy per gateway (`replicas = 1 per gateway`), or drop `size` for a scratch folder"),
                    );
                }
            }
        }
        Some(ir::Workload {
            name,
            kind: wl.kind,
            docs: wl.docs.clone(),
            placement,
            selectors: wl.selectors.iter().map(|(s, _)| s.clone()).collect(),
            container: ir::Container::clone(&wl.container),
            schedule: wl.schedule.clone(),
            backoff: wl.backoff,
            deadline_secs: wl.deadline_secs,
            critical: wl.critical.is_some(),
            public: wl.public,
            talks_to: wl.talks_to.iter().map(|(n, _)| v::k8s_name(n)).collect(),
            exposure: None,
            env_endpoints: Vec::new(),
            autoscale,
            rollout: wl.rollout.clone(),
            labels: wl.labels.clone(),
            model: wl.model.clone(),
            template: wl.template.clone(),
            pod_security: ir::PodSecurity::Restricted,
            namespace: String::new(),
            stateful,
        })
    }

    fn pick_pool<'c>(&mut self, wl: &WorkloadDraft, cluster: &'c ir::Cluster) -> Option<&'c ir::Pool> {
        let candidates: Vec<&ir::Pool> = cluster
            .pools
            .iter()
            .filter(|p| matches(&wl.selectors, &p.labels))
            .collect();
        if cluster.pools.is_empty() {
            // The cluster's own counts failed and were reported.
            return None;
        }
        if candidates.is_empty() {
            let span = wl.selectors.first().map(|(_, s)| *s).unwrap_or(wl.on_span);
            self.diags.push(
                Diagnostic::new(
                    Code::W0401,
                    span,
                    format!("`{}` matches no node pool of cluster `{}`", wl.name, cluster.name),
                )
                .label("selects nothing")
                .help("add the label to a pool's `labels { }`, or fix the selector"),
            );
            return cluster.pools.first();
        }
        if wl.container.gpu > 0 {
            match candidates.iter().find(|p| p.node.gpu >= wl.container.gpu) {
                Some(p) => return Some(p),
                None => {
                    let best = candidates.iter().map(|p| p.node.gpu).max().unwrap_or(0);
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0403,
                            wl.gpu_span,
                            format!(
                                "`{}` asks for {} GPU(s), but no node of cluster `{}` has {}",
                                wl.name,
                                wl.container.gpu,
                                cluster.name,
                                if best == 0 {
                                    "any".to_string()
                                } else {
                                    format!("more than {best}")
                                }
                            ),
                        )
                        .label("GPU requested")
                        .with_secondary(wl.on_span, format!("placed on cluster `{}`", cluster.name))
                        .help("add a GPU pool: `pool gpu { node = std.cloud.aws_g5_xlarge  nodes = 1 }`"),
                    );
                    return None;
                }
            }
        }
        // Prefer a pool without GPUs for CPU work, so GPU nodes stay free.
        candidates
            .iter()
            .find(|p| p.node.gpu == 0)
            .or(candidates.first())
            .copied()
    }

    fn runtime_fit(&mut self, wl: &WorkloadDraft, fd: &super::items::FleetDraft, fleet: &ir::Fleet) {
        let rt = &fleet.runtime;
        let mut problems: Vec<(Span, String, &str)> = Vec::new();
        if let Some(span) = wl.critical {
            if !rt.standby {
                problems.push((span, format!("runtime `{}` cannot fail a workload over to a standby device", rt.name), "Compose restarts containers on one host but cannot move them; use a k3s or microk8s fleet for critical workloads, or remove `critical`"));
            } else if fleet.sites.iter().all(|s| s.standby == 0) {
                self.diags.push(
                    Diagnostic::new(
                        Code::W0402,
                        span,
                        format!(
                            "`{}` is critical, but no site of `{}` has a standby device",
                            wl.name, fleet.name
                        ),
                    )
                    .label("nothing to fail over to")
                    .with_secondary(fd.name.span, "fleet declared here")
                    .help("add `standby = 1` to the sites that need an idle backup device"),
                );
            }
        }
        if let (Some(a), false) = (&wl.autoscale, rt.autoscale) {
            let span = a.span;
            problems.push((
                span,
                format!("runtime `{}` cannot autoscale", rt.name),
                "use a fixed `replicas = …`, or a Kubernetes runtime",
            ));
        }
        if wl.kind == WorkloadKind::Daemon && !rt.daemons {
            problems.push((
                wl.name_span,
                format!("runtime `{}` cannot run a copy per node", rt.name),
                "use a service with `replicas = 1 per gateway`",
            ));
        }
        for (span, msg, help) in problems {
            self.diags.push(
                Diagnostic::new(Code::E0404, span, msg)
                    .label("not supported by the runtime")
                    .with_secondary(fd.runtime_span, format!("fleet `{}` uses `{}`", fleet.name, rt.name))
                    .help(help),
            );
        }
    }

    fn arch_fit(
        &mut self,
        wl: &WorkloadDraft,
        placement: &ir::Placement,
        clusters: &[ir::Cluster],
        fleets: &[ir::Fleet],
        d: &Drafts,
    ) {
        let devices: Vec<(&ir::DeviceProfile, Option<Span>)> = match placement {
            ir::Placement::Cluster { cluster, pool, .. } => clusters
                .iter()
                .filter(|c| &c.name == cluster)
                .flat_map(|c| c.pools.iter().filter(|p| &p.name == pool).map(|p| (&p.node, None)))
                .collect(),
            ir::Placement::Fleet { fleet, .. } => fleets
                .iter()
                .filter(|f| &f.name == fleet)
                .map(|f| {
                    (
                        &f.device,
                        d.fleets
                            .iter()
                            .find(|x| v::k8s_name(&x.name.name) == f.name)
                            .map(|x| x.device_span),
                    )
                })
                .collect(),
        };
        for (dev, dev_span) in devices {
            if !wl.container.arch.is_empty() && !wl.container.arch.contains(&dev.arch) {
                let mut dg = Diagnostic::new(
                    Code::E0402,
                    wl.on_span,
                    format!(
                        "`{}` is built for {}, but `{}` is {}",
                        wl.name,
                        wl.container.arch.join(", "),
                        dev.name,
                        dev.arch
                    ),
                )
                .label(format!("runs on {} devices", dev.arch));
                if let Some(s) = wl.arch_span {
                    dg = dg.with_secondary(s, format!("image architectures: {}", wl.container.arch.join(", ")));
                }
                if let Some(s) = dev_span {
                    dg = dg.with_secondary(s, format!("device profile is {}", dev.arch));
                }
                self.diags.push(dg.help(format!(
                    "use an image built for {} (a multi-arch image), or place it on {} devices",
                    dev.arch,
                    wl.container.arch.join("/")
                )));
            }
            if wl.container.gpu > 0 && dev.gpu == 0 && matches!(placement, ir::Placement::Fleet { .. }) {
                let mut dg = Diagnostic::new(
                    Code::E0403,
                    wl.gpu_span,
                    format!(
                        "`{}` asks for {} GPU(s), but `{}` has none",
                        wl.name, wl.container.gpu, dev.name
                    ),
                )
                .label("GPU requested");
                if let Some(s) = dev_span {
                    dg = dg.with_secondary(s, "device profile without a GPU");
                }
                self.diags.push(
                    dg.help("remove `gpu`, or use a device with an accelerator such as `std.devices.jetson_orin_nano`"),
                );
            }
        }
    }

    fn reachability(&mut self, d: &Drafts, workloads: &[ir::Workload]) {
        // Names a reference may use: workloads and the models they serve.
        let mut known_names: rustc_hash::FxHashSet<String> = rustc_hash::FxHashSet::default();
        for w in workloads {
            known_names.insert(w.name.clone());
            if let Some(m) = &w.model {
                known_names.insert(v::k8s_name(&m.model));
            }
        }
        for wl in &d.workloads {
            let refs = wl.env_refs.iter().map(|r| (&r.target, r.target_span));
            for (name, span) in wl.talks_to.iter().map(|(n, s)| (n, *s)).chain(refs) {
                let k = v::k8s_name(name);
                if known_names.contains(&k) || d.external_names.contains(&k) {
                    continue;
                }
                let names: Vec<String> = d
                    .workloads
                    .iter()
                    .map(|w| w.name.clone())
                    .chain(d.external_names.iter().cloned())
                    .collect();
                let mut dg = Diagnostic::new(
                    Code::E0101,
                    span,
                    format!("`{}` talks to `{name}`, which is not a workload or external", wl.name),
                )
                .label("unknown workload");
                dg = match crate::diag::suggest(name, names.iter().map(|s| s.as_str())) {
                    Some(s) => dg.help(format!("did you mean `{s}`?")),
                    None => dg.help("name a service, daemon, job, model or external"),
                };
                self.diags.push(dg);
            }
        }
    }

    fn capacity(
        &mut self,
        d: &Drafts,
        clusters: &[ir::Cluster],
        fleets: &[ir::Fleet],
        workloads: &[ir::Workload],
    ) -> Vec<ir::NodeGroupCapacity> {
        let mut out = Vec::new();
        // The first draft of each Kubernetes name, looked up per contributor.
        let mut first_draft: rustc_hash::FxHashMap<String, usize> = rustc_hash::FxHashMap::default();
        for (k, w) in d.workloads.iter().enumerate() {
            first_draft.entry(v::k8s_name(&w.name)).or_insert(k);
        }
        let draft_of = |name: &str| first_draft.get(name).and_then(|k| d.workloads.get(*k)).map(|w| &**w);
        let names: Vec<std::sync::Arc<str>> = workloads.iter().map(|w| w.name.as_str().into()).collect();
        // What each site carries, gathered in one pass over the workloads:
        // a slot per (fleet name, site name), the first site of that name
        // taking everything placed at the name (a later namesake carries
        // nothing).
        let mut slot_of: rustc_hash::FxHashMap<(&str, &str), usize> = rustc_hash::FxHashMap::default();
        let slot_at: Vec<Vec<usize>> = fleets
            .iter()
            .map(|fleet| {
                fleet
                    .sites
                    .iter()
                    .map(|site| {
                        let next = slot_of.len();
                        *slot_of.entry((fleet.name.as_str(), site.name.as_str())).or_insert(next)
                    })
                    .collect()
            })
            .collect();
        // The fleet workloads grouped by their site list: the workloads
        // placed alike share one (see `place`), and a site carries each
        // group's workloads alike.
        let mut group_of: rustc_hash::FxHashMap<usize, usize> = rustc_hash::FxHashMap::default();
        let mut groups: Vec<(&str, &[ir::SitePlacement], Vec<usize>)> = Vec::new();
        for (i, w) in workloads.iter().enumerate() {
            let ir::Placement::Fleet { fleet: f, sites } = &w.placement else {
                continue;
            };
            let next = groups.len();
            let g = *group_of.entry(Arc::as_ptr(sites) as *const () as usize).or_insert(next);
            match groups.get_mut(g) {
                Some(group) => group.2.push(i),
                None => groups.push((f.as_str(), sites, vec![i])),
            }
        }
        // Each site's signature: the groups placed there with their
        // copies per gateway, in group order.
        let mut signature: Vec<Vec<(u32, u32)>> = vec![Vec::new(); slot_of.len()];
        for (g, (f, sites, _)) in groups.iter().enumerate() {
            let g = u32::try_from(g).unwrap_or(u32::MAX);
            // A placement lists its sites in the fleet's order: each is
            // found by walking on along the fleet's sites (by name once a
            // walk fails, so a walk never starts over).
            let fi = fleets.iter().position(|x| x.name == *f);
            let mut walk = fi.and_then(|fi| Some((fleets.get(fi)?, slot_at.get(fi)?)));
            let mut cursor = 0;
            for sp in sites.iter().filter(|sp| sp.per_node > 0) {
                let walked = walk.and_then(|(fleet, slots)| {
                    let j = cursor + fleet.sites.get(cursor..)?.iter().position(|x| *x.name == *sp.site)?;
                    cursor = j + 1;
                    slots.get(j).copied()
                });
                if walked.is_none() {
                    walk = None;
                }
                let Some(slot) = walked.or_else(|| slot_of.get(&(*f, &*sp.site)).copied()) else {
                    continue;
                };
                if let Some(sig) = signature.get_mut(slot) {
                    sig.push((g, sp.per_node));
                }
            }
        }
        // What each distinct signature puts on a gateway, summed once.
        let mut carried: rustc_hash::FxHashMap<&[(u32, u32)], Carried> = rustc_hash::FxHashMap::default();
        for sig in &signature {
            if carried.contains_key(sig.as_slice()) {
                continue;
            }
            let mut uses: Vec<Use> = sig
                .iter()
                .flat_map(|(g, copies)| {
                    groups
                        .get(*g as usize)
                        .map(|(_, _, members)| members.as_slice())
                        .unwrap_or_default()
                        .iter()
                        .map(|i| Use {
                            workload: *i,
                            copies: *copies,
                        })
                })
                .collect();
            uses.sort_by_key(|u| u.workload);
            carried.insert(sig, carry(&uses, workloads, &names));
        }
        let mut taken = vec![false; slot_of.len()];
        for (fleet, slots) in fleets.iter().zip(&slot_at) {
            let fd = d.fleets.iter().find(|x| v::k8s_name(&x.name.name) == fleet.name);
            // The first site draft of each name, for spans.
            let mut site_spans: rustc_hash::FxHashMap<String, Span> = rustc_hash::FxHashMap::default();
            for s in fd.map(|f| f.sites.as_slice()).unwrap_or_default() {
                site_spans.entry(v::k8s_name(&s.name.name)).or_insert(s.name.span);
            }
            for (site, slot) in fleet.sites.iter().zip(slots) {
                // The first site of a name carries what is placed at the
                // name; a later namesake carries nothing.
                let first = taken.get_mut(*slot).is_some_and(|t| !std::mem::replace(t, true));
                let sig = signature.get(*slot).map(Vec::as_slice).unwrap_or_default();
                let on = if first { carried.get(sig).cloned() } else { None };
                let group = format!("{}/{}", fleet.name, site.name);
                let site_span = site_spans.get(site.name.as_str()).copied();
                let g = NodeGroup {
                    group: &group,
                    tier: "edge",
                    dev: &fleet.device,
                    nodes: site.gateways,
                    per_node: true,
                    span: site_span.unwrap_or_default(),
                };
                let cap = self.fit(&g, on.unwrap_or_default(), workloads, &draft_of);
                out.push(cap);
            }
        }
        for cluster in clusters {
            let cd = d.clusters.iter().find(|x| v::k8s_name(&x.name.name) == cluster.name);
            for pool in &cluster.pools {
                let mut uses = Vec::new();
                for (i, w) in workloads.iter().enumerate() {
                    if let ir::Placement::Cluster {
                        cluster: c,
                        pool: p,
                        replicas,
                    } = &w.placement
                    {
                        if c == &cluster.name && p == &pool.name {
                            uses.push(Use {
                                workload: i,
                                copies: *replicas,
                            });
                        }
                    }
                }
                let group = format!("{}/{}", cluster.name, pool.name);
                let span = cd
                    .and_then(|c| c.pools.iter().find(|p| p.name == pool.name))
                    .map(|p| p.span)
                    .unwrap_or_default();
                let g = NodeGroup {
                    group: &group,
                    tier: "cloud",
                    dev: &pool.node,
                    nodes: pool.nodes,
                    per_node: false,
                    span,
                };
                let cap = self.fit(&g, carry(&uses, workloads, &names), workloads, &draft_of);
                out.push(cap);
            }
        }
        out
    }

    /// Check that what is carried on one node group fits it.
    fn fit<'d>(
        &mut self,
        g: &NodeGroup<'_>,
        on: Carried,
        workloads: &[ir::Workload],
        draft_of: &dyn Fn(&str) -> Option<&'d WorkloadDraft>,
    ) -> ir::NodeGroupCapacity
    where
        'a: 'd,
    {
        let NodeGroup {
            group,
            tier,
            dev,
            nodes,
            per_node,
            span,
        } = *g;
        let scale = if per_node { 1 } else { u64::from(nodes) };
        let cap_cpu = dev.allocatable_cpu().saturating_mul(scale);
        let cap_mem = dev.allocatable_memory().saturating_mul(scale);
        let cap_gpu = dev.gpu.saturating_mul(if per_node { 1 } else { nodes });
        let Carried {
            contributors,
            uses,
            cpu,
            mem,
            gpu,
        } = on;
        // One replica must fit on one node, wherever it lands.
        for u in uses.iter().filter(|_| !per_node) {
            let Some(w) = workloads.get(*u) else { continue };
            if w.container.cpu_millis > dev.allocatable_cpu() || w.container.memory_bytes > dev.allocatable_memory() {
                if let Some(dw) = draft_of(&w.name) {
                    let (what, s) = if w.container.cpu_millis > dev.allocatable_cpu() {
                        (format!("{} CPU", v::format_cpu(w.container.cpu_millis)), dw.cpu_span)
                    } else {
                        (v::format_memory(w.container.memory_bytes), dw.memory_span)
                    };
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0401,
                            s,
                            format!(
                                "one replica of `{}` needs {what}, more than one `{}` node offers",
                                w.name, dev.name
                            ),
                        )
                        .label("larger than a node")
                        .with_secondary(
                            span,
                            format!(
                                "`{group}` nodes offer {} CPU and {} after the reserve",
                                v::format_cpu(dev.allocatable_cpu()),
                                v::format_memory(dev.allocatable_memory())
                            ),
                        )
                        .help("lower the request, or use a larger node profile"),
                    );
                }
            }
        }
        let over_cpu = cpu > cap_cpu;
        let over_mem = mem > cap_mem;
        // No GPU at all is E0403, reported where the GPU is asked for.
        let over_gpu = gpu > cap_gpu && dev.gpu > 0;
        if (over_cpu || over_mem || over_gpu) && nodes > 0 {
            let mut parts = Vec::new();
            if over_cpu {
                parts.push(format!("{} CPU of {}", v::format_cpu(cpu), v::format_cpu(cap_cpu)));
            }
            if over_mem {
                parts.push(format!(
                    "{} memory of {}",
                    v::format_memory(mem),
                    v::format_memory(cap_mem)
                ));
            }
            if over_gpu {
                parts.push(format!("{gpu} GPU of {cap_gpu}"));
            }
            let where_ = if per_node {
                format!("each gateway of `{group}` ({})", dev.name)
            } else {
                format!("the {nodes} node(s) of `{group}` ({})", dev.name)
            };
            let mut dg = Diagnostic::new(
                Code::E0401,
                span,
                format!("{where_} is over capacity: needs {}", parts.join(", ")),
            )
            .label(format!(
                "{} allocatable: {} CPU, {}, {} GPU",
                if per_node { "per gateway" } else { "in total" },
                v::format_cpu(cap_cpu),
                v::format_memory(cap_mem),
                cap_gpu
            ));
            for c in contributors.iter() {
                let Some(dw) = draft_of(&c.workload) else { continue };
                let s = if over_cpu {
                    dw.cpu_span
                } else if over_mem {
                    dw.memory_span
                } else {
                    dw.gpu_span
                };
                dg = dg.with_secondary(
                    s,
                    format!(
                        "`{}`: {} × ({} CPU, {}{})",
                        c.workload,
                        c.copies,
                        v::format_cpu(c.cpu_millis / u64::from(c.copies.max(1))),
                        v::format_memory(c.memory_bytes / u64::from(c.copies.max(1))),
                        if c.gpu > 0 {
                            format!(", {} GPU", c.gpu / c.copies.max(1))
                        } else {
                            String::new()
                        }
                    ),
                );
            }
            let help = if per_node {
                "lower the requests, spread replicas over more gateways, or use a larger device profile"
            } else {
                "add nodes (raise `nodes`), lower the requests, or use a larger node profile"
            };
            self.diags.push(dg.help(help));
        }
        ir::NodeGroupCapacity {
            tier: tier.to_string(),
            group: group.to_string(),
            device: dev.name.clone(),
            nodes,
            per_node,
            cpu_capacity_millis: cap_cpu,
            memory_capacity_bytes: cap_mem,
            gpu_capacity: cap_gpu,
            cpu_used_millis: cpu,
            memory_used_bytes: mem,
            gpu_used: gpu,
            contributors,
        }
    }
}

/// The Pod Security level a workload's pods need on Kubernetes (see
/// `ir::PodSecurity`): `privileged` when it runs privileged or mounts a
/// folder of the node — a `host_path` volume, a daemon's sized volume (its
/// per-node `host_dir`), or a fleet server's on-disk model cache (a model
/// fetched over S3 or HTTPS; an `oci://` artifact is an image volume) —
/// since `baseline` forbids hostPath volumes too. Device nodes need
/// nothing: the device plugin hands them over as an extended resource.
fn pod_security(w: &ir::Workload) -> ir::PodSecurity {
    let c = &w.container;
    let host_folder = c.volumes.iter().any(|v| v.host_path.is_some() || v.host_dir.is_some());
    let model_cache = w.kind == ir::WorkloadKind::Serve
        && matches!(w.placement, ir::Placement::Fleet { .. })
        && w.model.as_ref().is_some_and(|m| {
            ["s3://", "https://", "http://"]
                .iter()
                .any(|p| m.artifact.starts_with(p))
        });
    if c.privileged || host_folder || model_cache {
        ir::PodSecurity::Privileged
    } else {
        ir::PodSecurity::Restricted
    }
}

/// Each workload's Kubernetes namespace and the namespaces of every
/// cluster and Kubernetes fleet (see `ir::Workload::namespace`): a workload
/// whose pods need more than `baseline` goes to `<namespace>-host`, which
/// exists only where such a workload runs, so the ordinary namespace
/// enforces the strictest level its remaining pods pass instead of
/// `privileged` for every pod of the site. Docker fleets keep the
/// solution's namespace (it only names their folders).
fn namespaces(
    namespace: &str,
    clusters: &[ir::Cluster],
    fleets: &[ir::Fleet],
    workloads: &mut [ir::Workload],
) -> Vec<ir::K8sNamespace> {
    // A DNS label of at most 63 characters, like the namespace itself.
    let host = host_namespace(namespace);
    let mut levels: BTreeMap<(String, String), ir::PodSecurity> = BTreeMap::new();
    for c in clusters {
        levels.insert((c.name.clone(), namespace.to_string()), ir::PodSecurity::Restricted);
    }
    for f in fleets.iter().filter(|f| f.runtime.is_kubernetes()) {
        levels.insert((f.name.clone(), namespace.to_string()), ir::PodSecurity::Restricted);
    }
    for w in workloads.iter_mut() {
        let group = match &w.placement {
            ir::Placement::Cluster { cluster, .. } => cluster.clone(),
            ir::Placement::Fleet { fleet, .. } => fleet.clone(),
        };
        let k8s = levels.contains_key(&(group.clone(), namespace.to_string()));
        w.namespace = if k8s && w.pod_security > ir::PodSecurity::Baseline {
            host.clone()
        } else {
            namespace.to_string()
        };
        if k8s {
            let level = levels.entry((group, w.namespace.clone())).or_default();
            *level = (*level).max(w.pod_security);
        }
    }
    levels
        .into_iter()
        .map(|((group, name), pod_security)| {
            // The sites of a fleet where the namespace has a workload with
            // a copy; the solution's namespace is at every site.
            let sites = fleets
                .iter()
                .filter(|f| f.name == group)
                .flat_map(|f| &f.sites)
                .filter(|s| {
                    name != host
                        || workloads.iter().any(|w| {
                            w.namespace == name
                                && matches!(&w.placement, ir::Placement::Fleet { fleet, sites }
                                    if *fleet == group && sites.iter().any(|p| *p.site == *s.name && p.replicas > 0))
                        })
                })
                .map(|s| s.name.clone())
                .collect();
            ir::K8sNamespace {
                host: name == host,
                group,
                name,
                pod_security,
                sites,
            }
        })
        .collect()
}

/// `<namespace>-host`, cut to a DNS label's 63 characters (with a hash,
/// so it stays distinct from the solution's namespace) when it would be
/// longer.
fn host_namespace(namespace: &str) -> String {
    crate::names::fit(&format!("{namespace}-host"), 63)
}

/// The host folder each volume is written in, on the node (see
/// `ir::Volume::host_dir`).
/// Secrets a container's command or args read through the `<NAME>_FILE`
/// convention (`$NAME_FILE`, `${NAME_FILE…}`) without declaring
/// `secret NAME`: the process would start without its credential. Sorted,
/// each once.
fn undeclared_secret_files(c: &ir::Container) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for arg in c.command.iter().chain(&c.args) {
        let mut rest = arg.as_str();
        while let Some(i) = rest.find('$') {
            rest = rest.get(i + 1..).unwrap_or_default();
            let name: String = rest
                .trim_start_matches('{')
                .chars()
                .take_while(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || *ch == '_')
                .collect();
            let Some(secret) = name.strip_suffix("_FILE").filter(|s| !s.is_empty()) else {
                continue;
            };
            if !c.secrets.iter().any(|s| s.name == secret) && !out.iter().any(|o| o == secret) {
                out.push(secret.to_string());
            }
        }
    }
    out.sort();
    out
}

fn host_dirs(namespace: &str, workloads: &mut [ir::Workload]) {
    for w in workloads.iter_mut() {
        let daemon = w.kind == ir::WorkloadKind::Daemon;
        for vol in &mut w.container.volumes {
            vol.host_dir = match (&vol.host_path, vol.size_bytes) {
                (Some(p), _) if !vol.read_only => Some(p.clone()),
                (None, Some(_)) if daemon => Some(format!(
                    "/var/lib/iotc/{namespace}/{}/{}",
                    w.name,
                    v::k8s_name(&vol.name)
                )),
                _ => None,
            };
        }
    }
}

/// A Kubernetes distribution iotc installs on a site's or cluster's nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeRuntime {
    K3s,
    Microk8s,
    Kubeadm,
}

/// What `rt` needs open between the nodes (from the LAN) and from its pod
/// and service networks, from the distributions' documentation: k3s
/// "Inbound Rules for K3s Nodes", microk8s "Services and ports",
/// Kubernetes "Ports and Protocols" with Calico's "Network requirements".
/// `ha`: more than one server, so the servers' datastore talks between
/// them (k3s embedded etcd; microk8s' dqlite port is always open, since
/// its join agent uses it; kubeadm's etcd likewise).
fn runtime_node_rules(rt: NodeRuntime, ha: bool) -> Vec<ir::NodeRule> {
    use ir::NodeProtocol::{Tcp, Udp};
    let port = |first: u16, last: u16, proto: ir::NodeProtocol, why: &str| ir::NodeRule {
        ports: Some(ir::PortRange { first, last }),
        protocol: Some(proto),
        from: ir::NodeSource::Lan,
        why: why.to_string(),
    };
    let cidr = |cidr: &str, why: &str| ir::NodeRule {
        ports: None,
        protocol: None,
        from: ir::NodeSource::Cidr(cidr.to_string()),
        why: why.to_string(),
    };
    let mut rules = match rt {
        NodeRuntime::K3s => vec![
            port(6443, 6443, Tcp, "k3s API server (agents, kubectl)"),
            port(10250, 10250, Tcp, "kubelet (logs, exec, metrics)"),
            port(8472, 8472, Udp, "flannel VXLAN between nodes"),
            cidr("10.42.0.0/16", "k3s pod network"),
            cidr("10.43.0.0/16", "k3s service network"),
        ],
        NodeRuntime::Microk8s => vec![
            port(16443, 16443, Tcp, "microk8s API server"),
            port(10250, 10250, Tcp, "kubelet (logs, exec, metrics)"),
            port(25000, 25000, Tcp, "microk8s cluster agent (join)"),
            port(19001, 19001, Tcp, "dqlite between control-plane nodes"),
            port(4789, 4789, Udp, "calico VXLAN between nodes"),
            cidr("10.1.0.0/16", "microk8s pod network"),
            cidr("10.152.183.0/24", "microk8s service network"),
        ],
        NodeRuntime::Kubeadm => vec![
            port(6443, 6443, Tcp, "Kubernetes API server (nodes, kubectl)"),
            port(2379, 2380, Tcp, "etcd between the control-plane nodes"),
            port(10250, 10250, Tcp, "kubelet (logs, exec, metrics)"),
            port(4789, 4789, Udp, "Calico VXLAN between nodes"),
            port(5473, 5473, Tcp, "Calico Typha"),
            cidr(ir::KUBEADM_POD_CIDR, "kubeadm pod network (Calico)"),
            cidr(ir::KUBEADM_SERVICE_CIDR, "kubeadm service network"),
        ],
    };
    if rt == NodeRuntime::K3s && ha {
        rules.push(port(2379, 2380, Tcp, "embedded etcd between a site's k3s servers"));
    }
    rules
}

/// Where the secrets of the workloads on cluster `c` are kept: AWS Secrets
/// Manager on an AWS cluster, each under `<prefix>/<workload>/<NAME>` with
/// the prefix Terraform's `name_prefix` defaults to, fixed here so that the
/// Terraform and Kubernetes outputs name them alike. On EKS the Secrets
/// Store CSI driver syncs them (Pod Identity), with the pull credential of
/// every declared registry a workload there pulls from; elsewhere they are
/// copied by hand.
fn secret_store(solution: &str, c: &ir::Cluster, workloads: &[ir::Workload]) -> Option<ir::SecretStore> {
    let ir::Provider::Aws { region, .. } = &c.provider else {
        return None;
    };
    let prefix = crate::names::cluster_prefix(solution, &c.name);
    let secrets: Vec<ir::StoredSecret> = workloads
        .iter()
        .filter(|w| matches!(&w.placement, ir::Placement::Cluster { cluster, .. } if cluster == &c.name))
        .flat_map(|w| {
            w.container.secrets.iter().map(|s| ir::StoredSecret {
                workload: w.name.clone(),
                key: s.name.clone(),
                name: format!("{prefix}/{}/{}", w.name, s.name),
            })
        })
        .collect();
    // Pull credentials travel the same way, where something syncs them.
    let sync = c.distribution == "eks";
    let mut registries: Vec<ir::StoredRegistry> = Vec::new();
    for w in workloads
        .iter()
        .filter(|w| sync && matches!(&w.placement, ir::Placement::Cluster { cluster, .. } if cluster == &c.name))
    {
        let Some(r) = &w.container.registry else { continue };
        match registries.iter_mut().find(|x| &x.registry == r) {
            Some(x) => x.workloads.push(w.name.clone()),
            None => registries.push(ir::StoredRegistry {
                registry: r.clone(),
                name: format!("{prefix}/_registry/{r}"),
                workloads: vec![w.name.clone()],
            }),
        }
    }
    registries.sort_by(|a, b| a.registry.cmp(&b.registry));
    (!secrets.is_empty() || !registries.is_empty()).then(|| ir::SecretStore {
        region: region.clone(),
        prefix,
        sync,
        secrets,
        registries,
    })
}

/// An image reference without its tag or digest: `ghcr.io/acme/x:1` →
/// `ghcr.io/acme/x` (a `:` before the last `/` is a registry port).
fn repository(image: &str) -> &str {
    let image = image.split_once('@').map_or(image, |(r, _)| r);
    let last = image.rfind('/').map_or(0, |i| i + 1);
    match image.get(last..).and_then(|name| name.find(':')) {
        Some(colon) => image.get(..last + colon).unwrap_or(image),
        None => image,
    }
}

#[cfg(test)]
mod tests {
    use super::host_namespace;

    #[test]
    fn a_host_namespace_stays_a_dns_label() {
        assert_eq!(host_namespace("factory"), "factory-host");
        let long = "n".repeat(63);
        let host = host_namespace(&long);
        assert!(host.len() <= 63, "{host}");
        assert_ne!(host, long);
        assert!(host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        assert!(!host.ends_with('-'));
    }
}
