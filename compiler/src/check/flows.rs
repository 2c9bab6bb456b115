//! Flows and endpoints: every `talks_to` entry and every endpoint reference
//! in an env value (`ingest.url`) resolved once into `ir::Flow`s, how each
//! workload is reached from outside its cluster (`ir::Exposure`), and the
//! env values those endpoints give. Backends translate these; none of them
//! resolves a name again.

use super::items::Drafts;
use super::values as v;
use super::Analyzer;
use crate::diag::{Code, Diagnostic};
use crate::ir::{self, Endpoint, Exposure, ExposureKind, Flow, Placement, Reach, WorkloadKind};
use crate::source::Span;
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};

/// The cluster or fleet a workload runs on, and whether it is a fleet.
fn group(w: &ir::Workload) -> (&str, bool) {
    match &w.placement {
        Placement::Cluster { cluster, .. } => (cluster, false),
        Placement::Fleet { fleet, .. } => (fleet, true),
    }
}

fn reach(caller: &ir::Workload, callee: &ir::Workload) -> Reach {
    let ((a, a_fleet), (b, b_fleet)) = (group(caller), group(callee));
    match (a_fleet, b_fleet) {
        _ if a == b && a_fleet == b_fleet => Reach::SameGroup,
        (false, false) => Reach::CrossCluster,
        (true, false) => Reach::EdgeToCloud,
        (false, true) => Reach::CloudToEdge,
        (true, true) => Reach::CrossFleet,
    }
}

/// Where each placed workload is, by name, built once per check so that
/// resolving a name costs a lookup rather than a scan of every workload.
struct Index {
    /// Workload name → indices of the workloads of that name.
    by_name: HashMap<String, Vec<usize>>,
    /// Model name (as a Kubernetes name) → indices of its serving workloads.
    servers_of: HashMap<String, Vec<usize>>,
}

impl Index {
    fn new(workloads: &[ir::Workload]) -> Index {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::default();
        let mut servers_of: HashMap<String, Vec<usize>> = HashMap::default();
        for (i, w) in workloads.iter().enumerate() {
            by_name.entry(w.name.clone()).or_default().push(i);
            if w.kind == WorkloadKind::Serve {
                if let Some(m) = &w.model {
                    servers_of.entry(v::k8s_name(&m.model)).or_default().push(i);
                }
            }
        }
        Index { by_name, servers_of }
    }

    /// The first workload of this name.
    fn position(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).and_then(|v| v.first().copied())
    }

    /// The workloads a name in `talks_to` or an endpoint reference means:
    /// the workload of that name, or the servers of the model of that name
    /// (those on the caller's own cluster or fleet when there are any, else
    /// all), as indices in workload order.
    fn callees(&self, workloads: &[ir::Workload], caller: &ir::Workload, name: &str) -> Vec<usize> {
        if let Some(direct) = self.by_name.get(name).filter(|d| !d.is_empty()) {
            return direct.clone();
        }
        let servers: &[usize] = self.servers_of.get(name).map(Vec::as_slice).unwrap_or_default();
        let local: Vec<usize> = servers
            .iter()
            .copied()
            .filter(|j| workloads.get(*j).is_some_and(|w| group(w) == group(caller)))
            .collect();
        if local.is_empty() {
            servers.to_vec()
        } else {
            local
        }
    }
}

/// Schemes served over HTTP, which an Ingress can terminate TLS for.
fn over_http(scheme: &str) -> bool {
    matches!(scheme, "http" | "grpc")
}

impl<'a> Analyzer<'a> {
    /// Resolves flows, egress to external dependencies, exposures and
    /// endpoint env values; fills
    /// `exposure`, `env_endpoints` and the derived `env` values of
    /// `workloads`.
    pub(super) fn flows(
        &mut self,
        d: &Drafts,
        clusters: &[ir::Cluster],
        workloads: &mut [ir::Workload],
        monitoring: &[ir::Monitoring],
    ) -> (Vec<Flow>, Vec<ir::Egress>) {
        // Who each placed workload calls: `talks_to` plus endpoint
        // references, in source order, each name once.
        let index = Index::new(workloads);
        // The first draft of each Kubernetes name.
        let mut draft_of: HashMap<String, usize> = HashMap::default();
        for (k, wl) in d.workloads.iter().enumerate() {
            draft_of.entry(v::k8s_name(&wl.name)).or_insert(k);
        }
        let mut wants: Vec<(usize, Vec<(String, Span)>)> = Vec::new();
        for wl in &d.workloads {
            let name = v::k8s_name(&wl.name);
            let Some(i) = index.position(&name) else {
                continue;
            };
            let mut names: Vec<(String, Span)> = Vec::new();
            let refs = wl.env_refs.iter().map(|r| (&r.target, r.target_span));
            for (n, span) in wl.talks_to.iter().map(|(n, s)| (n, *s)).chain(refs) {
                let k = v::k8s_name(n);
                if !names.iter().any(|(m, _)| *m == k) {
                    names.push((k, span));
                }
            }
            // An endpoint reference is a `talks_to` too: one declaration.
            if let Some(w) = workloads.get_mut(i) {
                w.talks_to = names.iter().map(|(n, _)| n.clone()).collect();
            }
            wants.push((i, names));
        }

        // Pairs (caller, callee) with the span that declared them.
        let mut pairs: BTreeMap<(usize, usize), Span> = BTreeMap::new();
        // Pairs a call declares (`talks_to`, endpoint references, a Grafana
        // reading its Prometheus), apart from the scrapes added below.
        let mut called: std::collections::BTreeSet<(usize, usize)> = std::collections::BTreeSet::new();
        // The port each scrape reads (`ScrapeTarget::port`, the target's
        // metrics listener).
        let mut scrape_port: BTreeMap<(usize, usize), u16> = BTreeMap::new();
        for (i, names) in &wants {
            let Some(caller) = workloads.get(*i) else { continue };
            for (n, span) in names {
                for j in index.callees(workloads, caller, n) {
                    let Some(callee) = workloads.get(j) else {
                        continue;
                    };
                    if callee.container.port.is_some() && (i != &j) {
                        pairs.entry((*i, j)).or_insert(*span);
                        called.insert((*i, j));
                    }
                }
            }
        }

        // Each Prometheus calls what it scrapes; each Grafana calls its
        // Prometheus (`ir::Solution::monitoring`).
        for m in monitoring {
            let Some(i) = index.position(&m.prometheus) else {
                continue;
            };
            let Some(span) = draft_of
                .get(&m.prometheus)
                .and_then(|k| d.workloads.get(*k))
                .map(|x| x.name_span)
            else {
                continue;
            };
            for t in &m.targets {
                if let Some(j) = index.position(&t.workload) {
                    pairs.entry((i, j)).or_insert(span);
                    scrape_port.insert((i, j), t.port);
                }
            }
            for g in &m.dashboards {
                if let Some(j) = index.position(g) {
                    pairs.entry((j, i)).or_insert(span);
                    called.insert((j, i));
                }
            }
        }

        // Connections to external dependencies.
        let mut egress = Vec::new();
        for (i, names) in &wants {
            let Some(caller) = workloads.get(*i) else { continue };
            let (from_group, from_fleet) = group(caller);
            for (n, _) in names {
                let Some(x) = d.externals.iter().find(|x| &x.name == n) else {
                    continue;
                };
                egress.push(ir::Egress {
                    from: caller.name.clone(),
                    from_group: from_group.to_string(),
                    from_fleet,
                    to: x.name.clone(),
                    cidr: x.cidr.clone(),
                    port: x.endpoint.port,
                    protocol: x.protocol.clone(),
                    bucket: x.bucket.clone(),
                });
            }
        }
        egress.sort_by(|x, y| (&x.from, &x.to).cmp(&(&y.from, &y.to)));

        // Exposure: public, or called from another cluster or fleet.
        let mut remote: BTreeMap<usize, Span> = BTreeMap::new();
        for ((i, j), span) in &pairs {
            if let (Some(a), Some(b)) = (workloads.get(*i), workloads.get(*j)) {
                if !reach(a, b).is_local() {
                    remote.entry(*j).or_insert(*span);
                }
            }
        }
        for (j, w) in workloads.iter_mut().enumerate() {
            let Some(port) = w.container.port else { continue };
            let called_from = remote.get(&j).copied();
            if !w.public && called_from.is_none() {
                continue;
            }
            let (g, on_fleet) = group(w);
            if on_fleet {
                // A fleet is reached at its gateways' own addresses; there
                // is no shared name to give. Reported for remote callers.
                if let Some(span) = called_from {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0404,
                            span,
                            format!(
                                "`{}` runs on fleet `{g}` and cannot be called from another cluster or fleet",
                                w.name
                            ),
                        )
                        .label("called from elsewhere")
                        .help("call the other way round (the edge calls the cloud), or run the callee on a cluster"),
                    );
                }
                continue;
            }
            let domain = clusters.iter().find(|c| c.name == g).and_then(|c| c.domain.clone());
            let Some(domain) = domain else {
                let wd = draft_of.get(&w.name).and_then(|k| d.workloads.get(*k));
                let span = called_from.or(wd.map(|x| x.name_span));
                if let Some(span) = span {
                    let why = if w.public {
                        "is public".to_string()
                    } else {
                        "is called from another cluster or fleet".to_string()
                    };
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0106,
                            span,
                            format!("`{}` {why}, but cluster `{g}` has no `domain` to name it by", w.name),
                        )
                        .label("needs a DNS name")
                        .help(format!("add `domain = \"apps.example.com\"` to cluster `{g}`: `{}` is then reached at `https://{}.apps.example.com`", w.name, w.name)),
                    );
                }
                continue;
            };
            let host = format!("{}.{domain}", w.name);
            let http = over_http(&w.container.scheme);
            w.exposure = Some(Exposure {
                kind: if http {
                    ExposureKind::Ingress
                } else {
                    ExposureKind::LoadBalancer
                },
                endpoint: if http {
                    Endpoint {
                        scheme: "https".into(),
                        host,
                        port: 443,
                    }
                } else {
                    Endpoint {
                        scheme: w.container.scheme.clone(),
                        host,
                        port,
                    }
                },
                public: w.public,
                tls: http,
            });
        }

        // The flows, each with the endpoint its caller uses.
        let mut flows = Vec::new();
        for (i, j) in pairs.keys() {
            let (Some(a), Some(b)) = (workloads.get(*i), workloads.get(*j)) else {
                continue;
            };
            let Some(port) = b.container.port else { continue };
            // A scrape of metrics served on their own listener (Triton's
            // 8002) is a flow to that port; a call besides it keeps its own.
            let ports: Vec<u16> = match scrape_port.get(&(*i, *j)) {
                Some(&metrics) if metrics != port && called.contains(&(*i, *j)) => vec![port, metrics],
                Some(&metrics) => vec![metrics],
                None => vec![port],
            };
            for port in ports {
                let r = reach(a, b);
                let endpoint = if r.is_local() {
                    // A Service in the caller's namespace by its name, in
                    // another namespace (a `-host` one) by `<name>.<ns>.svc`.
                    let host = if a.namespace == b.namespace {
                        b.name.clone()
                    } else {
                        format!("{}.{}.svc", b.name, b.namespace)
                    };
                    Endpoint {
                        scheme: b.container.scheme.clone(),
                        host,
                        port,
                    }
                } else {
                    match &b.exposure {
                        Some(x) => x.endpoint.clone(),
                        // Reported above.
                        None => continue,
                    }
                };
                flows.push(Flow {
                    from: a.name.clone(),
                    from_group: group(a).0.to_string(),
                    to: b.name.clone(),
                    to_group: group(b).0.to_string(),
                    reach: r,
                    port,
                    protocol: b.container.protocol.clone(),
                    endpoint,
                });
            }
        }
        flows.sort_by(|x, y| (&x.from, &x.to).cmp(&(&y.from, &y.to)));
        // The flows from a caller: a range of the sorted flows.
        let flows_from = |from: &str| {
            let start = flows.partition_point(|f| f.from.as_str() < from);
            let end = flows.partition_point(|f| f.from.as_str() <= from);
            flows.get(start..end).unwrap_or_default()
        };

        // Endpoint env values.
        for (i, _) in &wants {
            let Some(caller) = workloads.get(*i) else { continue };
            let Some(wd) = draft_of.get(&caller.name).and_then(|k| d.workloads.get(*k)) else {
                continue;
            };
            let mut derived = Vec::new();
            for r in &wd.env_refs {
                let target = v::k8s_name(&r.target);
                if let Some(x) = d.externals.iter().find(|x| x.name == target) {
                    derived.push((r.name.clone(), x.name.clone(), r.part, r.part.of(&x.endpoint)));
                    continue;
                }
                let found: Vec<&ir::Workload> = index
                    .callees(workloads, caller, &target)
                    .into_iter()
                    .filter_map(|j| workloads.get(j))
                    .collect();
                if found.is_empty() {
                    // Reported by `reachability`.
                    continue;
                }
                let names: BTreeSet<&str> = found.iter().map(|w| w.name.as_str()).collect();
                let flow = flows_from(&caller.name).iter().find(|f| names.contains(f.to.as_str()));
                match flow {
                    Some(f) => derived.push((r.name.clone(), f.to.clone(), r.part, r.part.of(&f.endpoint))),
                    None if found.iter().all(|w| w.container.port.is_none()) => self.diags.push(
                        Diagnostic::new(
                            Code::E0106,
                            r.target_span,
                            format!("`{}` has no `port` to connect to", r.target),
                        )
                        .label("no listener")
                        .help(format!("add `port = …` to `{}`, or remove this reference", r.target)),
                    ),
                    // The callee is itself, or its exposure was reported.
                    None => {}
                }
            }
            if let Some(w) = workloads.get_mut(*i) {
                for (name, to, part, value) in derived {
                    w.container.env.insert(name.clone(), value);
                    w.env_endpoints.push(ir::EnvEndpoint { name, to, part });
                }
            }
        }
        (flows, egress)
    }
}
