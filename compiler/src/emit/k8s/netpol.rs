//! `20-network-policies.yaml`: deny everything in the namespace, allow DNS,
//! then allow exactly the declared flows (`talks_to`), `public` services,
//! scraping of monitored model servers, the model fetch, and the external
//! dependencies each workload declares (`ipBlock` of the external's `cidr`
//! on its port).

use super::meta;
use super::monitoring;
use super::pod::{self, Fetch};
use super::{Ctx, Docs, Placed};
use crate::emit::EmitError;
use crate::ir::WorkloadKind;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet};

/// The namespace the Prometheus that reads the ServiceMonitors runs in.
pub const MONITORING_NAMESPACE: &str = "monitoring";

/// A port and its protocol (`TCP`/`UDP`) as a policy names them.
type PortKey = (u16, String);

fn port(p: u16, protocol: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(i32::from(p))),
        protocol: Some(protocol.to_string()),
        ..Default::default()
    }
}

fn own_port(p: &Placed<'_>) -> Option<Vec<NetworkPolicyPort>> {
    p.w.container
        .port
        .map(|n| vec![port(n, &pod::protocol(&p.w.container))])
}

/// The pods of workload `p`, seen from a policy in namespace `from`: by
/// their name label, and by their namespace's `kubernetes.io/metadata.name`
/// when it is another one (a `-host` namespace and the ordinary one).
fn pods_of(p: &Placed<'_>, from: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(meta::name_selector(&p.w.name)),
        namespace_selector: (p.w.namespace != from).then(|| namespace_named(&p.w.namespace)),
        ..Default::default()
    }
}

fn namespace_named(name: &str) -> LabelSelector {
    meta::match_labels(BTreeMap::from([(
        "kubernetes.io/metadata.name".to_string(),
        name.to_string(),
    )]))
}

fn anywhere() -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: "0.0.0.0/0".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn policy(ctx: &Ctx<'_>, namespace: &str, name: &str, spec: NetworkPolicySpec) -> NetworkPolicy {
    NetworkPolicy {
        metadata: meta::object_meta(namespace, name, meta::solution_labels(ctx.sol), BTreeMap::new()),
        spec: Some(spec),
    }
}

pub fn docs(ctx: &Ctx<'_>, group: &str, members: &[Placed<'_>]) -> Result<Docs, EmitError> {
    let mut docs = Docs::new(ctx.sol, 1);
    // Every namespace of the group here (as `namespace::docs` creates
    // them) denies by default and allows DNS.
    for ns in ctx.sol.namespaces.iter().filter(|n| n.group == group) {
        let ns = ns.name.as_str();
        docs.push(&policy(
            ctx,
            ns,
            "default-deny",
            NetworkPolicySpec {
                pod_selector: Some(LabelSelector::default()),
                policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                ..Default::default()
            },
        ))?;
        docs.push(&policy(
            ctx,
            ns,
            "allow-dns",
            NetworkPolicySpec {
                pod_selector: Some(LabelSelector::default()),
                policy_types: Some(vec!["Egress".into()]),
                egress: Some(vec![NetworkPolicyEgressRule {
                    to: Some(vec![NetworkPolicyPeer {
                        namespace_selector: Some(meta::match_labels(BTreeMap::from([(
                            "kubernetes.io/metadata.name".to_string(),
                            "kube-system".to_string(),
                        )]))),
                        pod_selector: Some(meta::match_labels(BTreeMap::from([(
                            "k8s-app".to_string(),
                            "kube-dns".to_string(),
                        )]))),
                        ..Default::default()
                    }]),
                    ports: Some(vec![port(53, "UDP"), port(53, "TCP")]),
                }]),
                ..Default::default()
            },
        ))?;
    }
    let flows = ctx.flows();
    let monitored = monitoring::monitored_servers(ctx, members);
    let mut ordered = members.to_vec();
    ordered.sort_by(|a, b| a.w.name.cmp(&b.w.name));
    for p in &ordered {
        let w = p.w;
        let mut ingress = Vec::new();
        let mut egress = Vec::new();

        // Ingress from callers on the same cluster or fleet, on the port
        // of each flow (a scrape of a metrics listener of its own is on
        // that one): one rule per port, its callers by name.
        let mut callers: BTreeMap<(u16, String), BTreeMap<&str, &Placed<'_>>> = BTreeMap::new();
        for (caller, _, f) in flows.iter().filter(|(caller, callee, f)| {
            callee.w.name == w.name && callee.group == group && f.reach.is_local() && caller.k8s
        }) {
            callers
                .entry((f.port, f.protocol.to_ascii_uppercase()))
                .or_default()
                .insert(caller.w.name.as_str(), caller);
        }
        for ((n, proto), by_name) in &callers {
            ingress.push(NetworkPolicyIngressRule {
                from: Some(by_name.values().map(|c| pods_of(c, &w.namespace)).collect()),
                ports: Some(vec![port(*n, proto)]),
            });
        }
        // From anywhere: public, or called from another cluster or fleet
        // (whose pod addresses a policy here cannot name).
        let remote = flows
            .iter()
            .any(|(_, callee, f)| callee.w.name == w.name && callee.group == group && !f.reach.is_local());
        if let (Some(ports), true) = (own_port(p), w.public || remote) {
            ingress.push(NetworkPolicyIngressRule {
                from: None,
                ports: Some(ports),
            });
        }
        // Scraping by the monitoring namespace's Prometheus: the metrics
        // listener the checker decided.
        let scraped = w
            .container
            .metrics_port
            .map(|n| vec![port(n, "TCP")])
            .or_else(|| own_port(p));
        if let (Some(ports), true) = (scraped, monitored.iter().any(|(m, _)| m.w.name == w.name)) {
            ingress.push(NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(meta::match_labels(BTreeMap::from([(
                        "kubernetes.io/metadata.name".to_string(),
                        MONITORING_NAMESPACE.to_string(),
                    )]))),
                    ..Default::default()
                }]),
                ports: Some(ports),
            });
        }

        // Egress to callees on the same cluster or fleet.
        // On the port of each flow, as the checker decided it.
        let mut local: BTreeMap<&str, (&Placed<'_>, BTreeSet<PortKey>)> = BTreeMap::new();
        let mut external: BTreeSet<(u16, String)> = BTreeSet::new();
        for (_, callee, f) in flows.iter().filter(|(c, _, _)| c.w.name == w.name && c.group == group) {
            if f.reach.is_local() {
                local
                    .entry(callee.w.name.as_str())
                    .or_insert_with(|| (callee, BTreeSet::new()))
                    .1
                    .insert((f.port, f.protocol.to_ascii_uppercase()));
            } else {
                // The endpoint the checker derived: the callee's exposure.
                external.insert((f.endpoint.port, pod::protocol(&callee.w.container)));
            }
        }
        for (callee, ports) in local.into_values() {
            egress.push(NetworkPolicyEgressRule {
                to: Some(vec![pods_of(callee, &w.namespace)]),
                ports: Some(ports.iter().map(|(n, proto)| port(*n, proto)).collect()),
            });
        }
        // The model fetch and the training job's data and artifact.
        if let Some(m) = &w.model {
            let mut urls = Vec::new();
            match w.kind {
                WorkloadKind::Serve if !matches!(pod::fetch_kind(&m.artifact), Some(Fetch::Oci(_)) | None) => {
                    urls.push(m.artifact.as_str());
                }
                WorkloadKind::Train => {
                    urls.push(m.artifact.as_str());
                    if let Some(d) = &m.data {
                        urls.push(d.as_str());
                    }
                }
                _ => {}
            }
            for u in urls {
                if let Some(n) = pod::url_port(u) {
                    external.insert((n, "TCP".into()));
                }
            }
        }
        if !external.is_empty() {
            egress.push(NetworkPolicyEgressRule {
                to: Some(vec![anywhere()]),
                ports: Some(external.iter().map(|(n, proto)| port(*n, proto)).collect()),
            });
        }
        // External dependencies (`external plc { … }`), one rule each, in
        // the checker's order.
        for e in ctx
            .sol
            .egress
            .iter()
            .filter(|e| e.from == w.name && e.from_group == group)
        {
            egress.push(NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    ip_block: Some(IPBlock {
                        cidr: e.cidr.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ports: Some(vec![port(e.port, &e.protocol.to_ascii_uppercase())]),
            });
        }

        if ingress.is_empty() && egress.is_empty() {
            continue;
        }
        let mut types = Vec::new();
        if !ingress.is_empty() {
            types.push("Ingress".to_string());
        }
        if !egress.is_empty() {
            types.push("Egress".to_string());
        }
        docs.push(&policy(
            ctx,
            &w.namespace,
            &w.name,
            NetworkPolicySpec {
                pod_selector: Some(meta::name_selector(&w.name)),
                policy_types: Some(types),
                ingress: meta::some_vec(ingress),
                egress: meta::some_vec(egress),
            },
        ))?;
    }
    Ok(docs)
}
