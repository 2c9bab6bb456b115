#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Flows and endpoints, resolved once by the checker (`Solution::flows`):
//! on every example, every env value derived from an endpoint matches a
//! listener (port, scheme) of the workload it names and a flow the network
//! policies allow; and the diagnostics for endpoints that cannot exist.

use iotc_compiler::diag::Code;
use iotc_compiler::emit::{emit, Target};
use iotc_compiler::ir::{EndpointPart, ExposureKind, Reach, Solution};
use k8s_openapi::api::networking::v1::NetworkPolicy;

mod common;
use common::{example, EXAMPLES};

#[test]
fn every_derived_env_value_matches_a_listener_and_a_flow() {
    let mut derived = 0;
    for name in EXAMPLES {
        let sol = example(name);
        for w in &sol.workloads {
            // Endpoints of external dependencies: tests/externals.rs.
            for e in w
                .env_endpoints
                .iter()
                .filter(|e| sol.externals.iter().all(|x| x.name != e.to))
            {
                derived += 1;
                let flow = sol
                    .flows
                    .iter()
                    .find(|f| f.from == w.name && f.to == e.to)
                    .unwrap_or_else(|| panic!("{name}: {}.{} has no flow to {}", w.name, e.name, e.to));
                let value = &w.container.env[&e.name];
                assert_eq!(*value, e.part.of(&flow.endpoint), "{name}: {}.{}", w.name, e.name);
                let callee = sol.workloads.iter().find(|x| x.name == e.to).unwrap();
                let listener = callee.container.port.unwrap();
                assert_eq!(flow.port, listener);
                if flow.reach.is_local() {
                    // The Service of the callee, on its own port and
                    // scheme, by `<svc>.<ns>.svc` from another namespace.
                    if callee.namespace == w.namespace {
                        assert_eq!(flow.endpoint.host, callee.name);
                    } else {
                        assert_eq!(flow.endpoint.host, format!("{}.{}.svc", callee.name, callee.namespace));
                    }
                    assert_eq!(flow.endpoint.port, listener);
                    assert_eq!(flow.endpoint.scheme, callee.container.scheme);
                } else {
                    // Through the callee's exposure, with TLS for HTTP.
                    let x = callee.exposure.as_ref().unwrap();
                    assert_eq!(flow.endpoint, x.endpoint);
                    if x.kind == ExposureKind::Ingress {
                        assert!(x.tls);
                        assert_eq!((x.endpoint.scheme.as_str(), x.endpoint.port), ("https", 443));
                    }
                }
                if e.part == EndpointPart::Url {
                    assert!(value.starts_with(&format!("{}://", flow.endpoint.scheme)), "{value}");
                }
            }
        }
    }
    assert!(derived >= 15, "the examples derive their URLs: {derived}");
}

#[test]
fn every_public_or_remotely_called_service_is_exposed_with_tls() {
    for name in EXAMPLES {
        let sol = example(name);
        for w in &sol.workloads {
            let remote = sol.flows.iter().any(|f| f.to == w.name && !f.reach.is_local());
            let on_cluster = matches!(w.placement, iotc_compiler::ir::Placement::Cluster { .. });
            if (w.public || remote) && on_cluster && w.container.port.is_some() {
                let x = w
                    .exposure
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name}: {} is not exposed", w.name));
                if w.container.scheme == "http" {
                    assert!(x.tls, "{name}: {} public without TLS", w.name);
                }
            } else {
                assert!(w.exposure.is_none(), "{name}: {} exposed without a reason", w.name);
            }
        }
    }
}

/// Every same-cluster/fleet flow on Kubernetes is allowed by the callee's
/// NetworkPolicy (ingress from the caller's pods on the listener port) and
/// by the caller's (egress to the callee's pods); every flow that leaves
/// its cluster is allowed out on the endpoint's port.
#[test]
fn network_policies_allow_every_flow() {
    for name in EXAMPLES {
        let sol = example(name);
        let files = emit(&sol, &[Target::K8s]).unwrap();
        let policies = |group: &str| -> Vec<NetworkPolicy> {
            let Some(f) = files
                .iter()
                .find(|f| f.path == format!("k8s/{group}/20-network-policies.yaml"))
            else {
                return Vec::new();
            };
            f.contents
                .split("\n---\n")
                .filter(|d| d.contains("kind: NetworkPolicy"))
                .map(|d| serde_norway::from_str(d).unwrap())
                .collect()
        };
        let named = |p: &NetworkPolicy, w: &str| p.metadata.name.as_deref() == Some(w);
        let selects = |peer: &k8s_openapi::api::networking::v1::NetworkPolicyPeer, w: &str| {
            peer.pod_selector
                .as_ref()
                .and_then(|s| s.match_labels.as_ref())
                .is_some_and(|l| l.get("app.kubernetes.io/name").map(String::as_str) == Some(w))
        };
        let has_port = |ports: &Option<Vec<k8s_openapi::api::networking::v1::NetworkPolicyPort>>, port: u16| {
            ports.as_ref().is_some_and(|ps| {
                ps.iter().any(|p| {
                    p.port
                        == Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(
                            i32::from(port),
                        ))
                })
            })
        };
        let mut checked = 0;
        for f in &sol.flows {
            let from_pols = policies(&f.from_group);
            let to_pols = policies(&f.to_group);
            if from_pols.is_empty() {
                continue; // not a Kubernetes group
            }
            let out = from_pols
                .iter()
                .find(|p| named(p, &f.from))
                .unwrap_or_else(|| panic!("{name}: no policy for caller {}", f.from));
            let egress = out.spec.as_ref().unwrap().egress.clone().unwrap_or_default();
            if f.reach == Reach::SameGroup {
                assert!(
                    egress
                        .iter()
                        .any(|r| r.to.iter().flatten().any(|p| selects(p, &f.to)) && has_port(&r.ports, f.port)),
                    "{name}: {} may not reach {} on {}",
                    f.from,
                    f.to,
                    f.port
                );
                let inn = to_pols.iter().find(|p| named(p, &f.to)).unwrap();
                let ingress = inn.spec.as_ref().unwrap().ingress.clone().unwrap_or_default();
                assert!(
                    ingress
                        .iter()
                        .any(|r| r.from.iter().flatten().any(|p| selects(p, &f.from)) && has_port(&r.ports, f.port)),
                    "{name}: {} does not admit {} on {}",
                    f.to,
                    f.from,
                    f.port
                );
            } else {
                assert!(
                    egress.iter().any(|r| has_port(&r.ports, f.endpoint.port)),
                    "{name}: {} may not leave for {} on {}",
                    f.from,
                    f.endpoint.host,
                    f.endpoint.port
                );
            }
            checked += 1;
        }
        assert!(checked >= 3, "{name}: {checked} flows checked");
    }
}

fn diagnose(src: &str) -> Vec<(Code, String)> {
    common::errors(src).into_iter().map(|d| (d.code, d.message)).collect()
}

const HEAD: &str = r#"solution s { version = "1" namespace = "s" }
import std.cloud
import std.devices
fleet f { device = std.devices.rpi4 runtime = docker site a { gateways = 1 hosts = "gw{n}.a" } }
"#;

#[test]
fn an_edge_called_service_needs_a_domain() {
    let src = format!(
        "{HEAD}cluster c {{ provider = aws {{ region = \"eu-west-1\" }} node = std.cloud.aws_m6i_large }}
service api on c {{ image = \"x/api:1\" port = 8080 health = \"/h\" }}
job up on f {{ image = \"x/up:1\" schedule = \"* * * * *\" env {{ API = api.url }} }}
"
    );
    let d = diagnose(&src);
    assert!(
        d.iter().any(|(c, m)| *c == Code::E0106 && m.contains("no `domain`")),
        "{d:?}"
    );
    let ok = src.replace(
        "node = std.cloud.aws_m6i_large",
        "node = std.cloud.aws_m6i_large domain = \"apps.x.test\"",
    );
    assert!(diagnose(&ok).is_empty(), "{:?}", diagnose(&ok));
}

#[test]
fn endpoint_references_are_checked() {
    let src = format!(
        "{HEAD}service api on f {{ image = \"x/api:1\" port = 8080 }}
service a on f {{ image = \"x/a:1\" env {{ X = api.uri }} }}
service b on f {{ image = \"x/b:1\" env {{ X = apx.url }} }}
daemon q on f {{ image = \"x/q:1\" }}
service c on f {{ image = \"x/c:1\" env {{ X = q.host }} }}
"
    );
    let d = diagnose(&src);
    assert!(
        d.iter().any(|(c, m)| *c == Code::E0105 && m.contains("no part `uri`")),
        "{d:?}"
    );
    assert!(d.iter().any(|(c, m)| *c == Code::E0101 && m.contains("`apx`")), "{d:?}");
    assert!(
        d.iter()
            .any(|(c, m)| *c == Code::E0106 && m.contains("`q` has no `port`")),
        "{d:?}"
    );
}

/// Every `iotc_firewall_rules` of the inventory, by the group that holds
/// it (`cluster_dc`, `fleet_farms`).
fn firewall_rules(inventory: &str) -> std::collections::BTreeMap<String, Vec<serde_json::Value>> {
    fn walk(name: &str, v: &serde_json::Value, out: &mut std::collections::BTreeMap<String, Vec<serde_json::Value>>) {
        if let Some(rules) = v["vars"]["iotc_firewall_rules"].as_array() {
            out.insert(name.to_string(), rules.clone());
        }
        for (child, c) in v["children"].as_object().into_iter().flatten() {
            walk(child, c, out);
        }
    }
    let inv: serde_json::Value = serde_norway::from_str(inventory).unwrap();
    let mut out = std::collections::BTreeMap::new();
    walk("all", &inv["all"], &mut out);
    out
}

/// Every published port of the Docker sites' stacks
/// (`iotc_compose_stack_published`: the `DOCKER-USER` rules).
fn published_ports(inventory: &str) -> Vec<serde_json::Value> {
    fn walk(v: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
        if let Some(ps) = v["vars"]["iotc_compose_stack_published"].as_array() {
            out.extend(ps.iter().cloned());
        }
        for (_, c) in v["children"].as_object().into_iter().flatten() {
            walk(c, out);
        }
    }
    let inv: serde_json::Value = serde_norway::from_str(inventory).unwrap();
    let mut out = Vec::new();
    walk(&inv["all"], &mut out);
    out
}

/// The inventory group of a cluster or fleet.
fn group_of(sol: &Solution, group: &str) -> String {
    let g = group.replace('-', "_");
    if sol.fleets.iter().any(|f| f.name == group) {
        format!("fleet_{g}")
    } else {
        format!("cluster_{g}")
    }
}

/// The same flows appear in every target that carries them: NetworkPolicy
/// ingress on Kubernetes, a shared Compose network on Docker fleets, and
/// the host firewall wherever a flow crosses hosts outside the overlay
/// (on a Docker site, the `DOCKER-USER` rules of a published port, for
/// callers on other gateways or from another cluster or fleet; elsewhere
/// ufw from anywhere for calls from another cluster or fleet); and no
/// firewall rule lets in a flow the IR does not have.
#[test]
fn the_same_flows_reach_network_policies_compose_networks_and_firewalls() {
    let mut seen = [0usize; 3];
    for name in EXAMPLES {
        let sol = example(name);
        let files = emit(&sol, &[Target::K8s, Target::Compose, Target::Ansible]).unwrap();
        let inventory = &files
            .iter()
            .find(|f| f.path == "ansible/inventory.yaml")
            .unwrap()
            .contents;
        let rules = firewall_rules(inventory);
        let published = published_ports(inventory);
        let publishes = |flow: &str, any: bool| {
            published.iter().any(|p| {
                (!any || p["from_any"] == true) && p["flows"].as_array().into_iter().flatten().any(|f| f == flow)
            })
        };
        let is_docker = |g: &str| sol.fleets.iter().any(|f| f.name == g && !f.runtime.is_kubernetes());
        let admits = |group: &str, flow: &str, from: &str, port: u16| {
            rules.get(&group_of(&sol, group)).into_iter().flatten().any(|r| {
                r["from"] == from
                    && r["port"].as_str() == Some(port.to_string().as_str())
                    && r["flows"].as_array().into_iter().flatten().any(|f| f == flow)
            })
        };
        for f in &sol.flows {
            let flow = format!("{}->{}", f.from, f.to);
            let callee = sol.workloads.iter().find(|w| w.name == f.to).unwrap();
            if is_docker(&f.to_group) {
                if f.reach.is_local() {
                    // Same stack, same network, and the LAN for callers on
                    // another gateway of the site.
                    for c in files.iter().filter(|c| {
                        c.path.starts_with(&format!("compose/{}/", f.to_group)) && c.path.ends_with("compose.yaml")
                    }) {
                        let doc: serde_json::Value = serde_norway::from_str(&c.contents).unwrap();
                        let (a, b) = (&doc["services"][&f.from], &doc["services"][&f.to]);
                        if a.is_null() || b.is_null() {
                            continue;
                        }
                        let nets = |s: &serde_json::Value| -> Vec<String> {
                            s["networks"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(|n| n.as_str().unwrap().to_string())
                                .collect()
                        };
                        assert!(
                            nets(a).iter().any(|n| nets(b).contains(n)),
                            "{name}: {flow} share no network in {}",
                            c.path
                        );
                        seen[1] += 1;
                    }
                    // Callers on other gateways reach a callee that is not
                    // on every gateway through its published port, which
                    // the `DOCKER-USER` rules open to them
                    // (tests/docker_fleets.rs checks the addresses).
                    let everywhere = match &callee.placement {
                        iotc_compiler::ir::Placement::Fleet { fleet, sites } => sites.iter().all(|sp| {
                            sol.fleets
                                .iter()
                                .filter(|fl| &fl.name == fleet)
                                .flat_map(|fl| &fl.sites)
                                .any(|s| *s.name == *sp.site && sp.replicas >= s.gateways)
                        }),
                        _ => false,
                    };
                    // A caller with no more copies than the callee at every
                    // site runs only beside a copy (both are dealt from the
                    // hub) and reaches it through Compose's DNS.
                    let copies = |w: &iotc_compiler::ir::Workload, site: &str| match &w.placement {
                        iotc_compiler::ir::Placement::Fleet { sites, .. } => {
                            sites.iter().find(|sp| &*sp.site == site).map_or(0, |sp| sp.replicas)
                        }
                        _ => 0,
                    };
                    let caller = sol.workloads.iter().find(|w| w.name == f.from).unwrap();
                    let beside = match &caller.placement {
                        iotc_compiler::ir::Placement::Fleet { sites, .. } => {
                            sites.iter().all(|sp| sp.replicas <= copies(callee, &sp.site))
                        }
                        _ => false,
                    };
                    assert!(
                        everywhere || beside || publishes(&flow, false),
                        "{name}: no published port admits {flow}"
                    );
                    assert!(
                        !beside || everywhere || !publishes(&flow, false),
                        "{name}: {flow} is published though the caller runs beside the callee"
                    );
                } else {
                    assert!(
                        publishes(&flow, true),
                        "{name}: no published port admits {flow} from elsewhere"
                    );
                }
                seen[2] += 1;
            } else {
                // Kubernetes: the policy of the callee, in every folder of
                // its group, admits the caller (or anyone, from elsewhere).
                let prefix = format!("k8s/{}/", f.to_group);
                let mut policies = 0;
                for p in files
                    .iter()
                    .filter(|p| p.path.starts_with(&prefix) && p.path.ends_with("/20-network-policies.yaml"))
                {
                    // A local caller that does not run at this site has no
                    // flow here.
                    let dir = p.path.trim_end_matches("20-network-policies.yaml");
                    let caller_here = files.iter().any(|x| x.path == format!("{dir}10-{}.yaml", f.from));
                    if f.reach.is_local() && !caller_here {
                        continue;
                    }
                    for d in p
                        .contents
                        .split("\n---\n")
                        .filter(|d| d.contains("kind: NetworkPolicy"))
                    {
                        let np: NetworkPolicy = serde_norway::from_str(d).unwrap();
                        if np.metadata.name.as_deref() != Some(&f.to) {
                            continue;
                        }
                        policies += 1;
                        let ingress = np.spec.unwrap().ingress.unwrap_or_default();
                        let ok = ingress.iter().any(|r| {
                            let port_ok = r.ports.iter().flatten().any(|x| {
                                x.port
                                    == Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(
                                        i32::from(f.port),
                                    ))
                            });
                            let from_ok = match &r.from {
                                None => !f.reach.is_local(),
                                Some(peers) => peers.iter().any(|peer| {
                                    peer.pod_selector
                                        .as_ref()
                                        .and_then(|s| s.match_labels.as_ref())
                                        .is_some_and(|l| l.get("app.kubernetes.io/name") == Some(&f.from))
                                }),
                            };
                            port_ok && from_ok
                        });
                        assert!(ok, "{name}: policy of {} in {} does not admit {flow}", f.to, p.path);
                    }
                }
                assert!(policies > 0, "{name}: no policy for {}", f.to);
                seen[0] += 1;
                if !f.reach.is_local() {
                    let port = callee.exposure.as_ref().map_or(f.port, |e| e.endpoint.port);
                    assert!(
                        admits(&f.to_group, &flow, "any", port),
                        "{name}: firewall misses {flow} on {port}"
                    );
                    seen[2] += 1;
                }
            }
        }
        // No rule lets in a flow the IR does not have, or a local
        // Kubernetes flow (that stays on the overlay).
        for (group, rs) in &rules {
            for r in rs {
                for fl in r["flows"].as_array().into_iter().flatten() {
                    let (from, to) = fl.as_str().unwrap().split_once("->").unwrap();
                    let known = if from == "public" {
                        sol.workloads.iter().any(|w| w.name == to && w.public)
                    } else {
                        sol.flows.iter().any(|f| {
                            f.from == from
                                && f.to == to
                                && group_of(&sol, &f.to_group) == *group
                                && !f.reach.is_local()
                                && !is_docker(&f.to_group)
                        })
                    };
                    assert!(known, "{name}: {group} lets in {fl}, which is no such flow");
                }
            }
        }
        for p in &published {
            for fl in p["flows"].as_array().into_iter().flatten() {
                let (from, to) = fl.as_str().unwrap().split_once("->").unwrap();
                let known = if from == "public" {
                    sol.workloads.iter().any(|w| w.name == to && w.public)
                } else {
                    sol.flows.iter().any(|f| f.from == from && f.to == to)
                };
                assert!(known, "{name}: a published port lets in {fl}, which is no such flow");
            }
        }
    }
    assert!(seen.iter().all(|n| *n >= 3), "checked {seen:?}");
}

/// On AWS the nodes' security group admits every edge → cloud flow on the
/// port of the URL the caller was given (443 for an Ingress with TLS, not
/// the container's 8080), and every public service on its exposure's port;
/// no two rules repeat a (port, protocol) from the same ranges, which AWS
/// refuses.
#[test]
fn security_groups_open_the_port_of_every_derived_url() {
    let mut checked = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let files = emit(&sol, &[Target::Terraform]).unwrap();
        for c in &sol.clusters {
            let Some(file) = files
                .iter()
                .find(|f| f.path == format!("terraform/{}/main.tf.json", c.name))
            else {
                continue;
            };
            let tf: serde_json::Value = serde_json::from_str(&file.contents).unwrap();
            let Some(rules) = tf["resource"]["aws_vpc_security_group_ingress_rule"].as_object() else {
                continue; // not AWS
            };
            let opens = |var: &str, port: u16| {
                rules.values().any(|r| {
                    r["for_each"] == format!("${{toset(var.{var})}}").as_str()
                        && r["from_port"].as_u64().unwrap() <= u64::from(port)
                        && u64::from(port) <= r["to_port"].as_u64().unwrap()
                })
            };
            for f in sol
                .flows
                .iter()
                .filter(|f| f.reach == Reach::EdgeToCloud && f.to_group == c.name)
            {
                assert!(
                    opens("edge_cidrs", f.endpoint.port),
                    "{name}: {} → {} at {} is not open from the edge",
                    f.from,
                    f.to,
                    f.endpoint.url()
                );
                checked += 1;
            }
            for w in sol.workloads.iter().filter(|w| w.public) {
                let here =
                    matches!(&w.placement, iotc_compiler::ir::Placement::Cluster { cluster, .. } if *cluster == c.name);
                if let Some(x) = w.exposure.as_ref().filter(|_| here) {
                    assert!(
                        opens("public_ingress_cidrs", x.endpoint.port),
                        "{name}: {} at {}",
                        w.name,
                        x.endpoint.url()
                    );
                    checked += 1;
                }
            }
            let mut seen = std::collections::BTreeSet::new();
            for r in rules.values() {
                let key = (
                    r["for_each"].to_string(),
                    r["cidr_ipv4"].to_string(),
                    r["ip_protocol"].to_string(),
                    r["from_port"].to_string(),
                );
                assert!(
                    seen.insert(key.clone()),
                    "{name}: duplicate security-group rule {key:?}"
                );
            }
        }
    }
    assert!(checked >= 3, "{checked} URLs checked against security groups");
}

/// The ports each Kubernetes distribution needs between its nodes, copied
/// here from the distributions' own documentation (not from the checker):
/// k3s "Inbound Rules for K3s Nodes", microk8s "Services and ports",
/// Kubernetes "Ports and Protocols" plus Calico's VXLAN and Typha. `(first,
/// last, protocol)`; the k3s etcd range only applies to sites with more
/// than one server.
fn documented_node_ports(runtime: &str, ha: bool) -> Vec<(u16, u16, &'static str)> {
    match runtime {
        "k3s" => {
            let mut p = vec![(6443, 6443, "tcp"), (10250, 10250, "tcp"), (8472, 8472, "udp")];
            if ha {
                p.push((2379, 2380, "tcp"));
            }
            p
        }
        "microk8s" => vec![
            (16443, 16443, "tcp"),
            (10250, 10250, "tcp"),
            (25000, 25000, "tcp"),
            (19001, 19001, "tcp"),
            (4789, 4789, "udp"),
        ],
        "kubeadm" => vec![
            (6443, 6443, "tcp"),
            (2379, 2380, "tcp"),
            (10250, 10250, "tcp"),
            (4789, 4789, "udp"),
            (5473, 5473, "tcp"),
        ],
        other => panic!("no documented ports for {other}"),
    }
}

/// The node-to-node ports are decided once, in the IR (`Site::node_rules`,
/// `Cluster::node_rules`, which `iotc plan --format json` carries): on
/// every example they cover the distribution's documented ports, and the
/// Ansible inventory's ufw rules of the group are exactly their
/// translation (plus the flows' rules, which name their flows).
#[test]
fn node_to_node_ports_are_decided_in_the_ir_and_translated_to_ufw() {
    use iotc_compiler::ir::{NodeRule, NodeSource};
    let mut checked_groups = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let files = emit(&sol, &[Target::Ansible]).unwrap();
        let inventory = &files
            .iter()
            .find(|f| f.path == "ansible/inventory.yaml")
            .unwrap()
            .contents;
        let rules = firewall_rules(inventory);
        let plan = serde_json::to_value(&sol).unwrap();
        let mut groups: Vec<(String, Vec<NodeRule>)> = Vec::new();
        for (fi, f) in sol.fleets.iter().enumerate() {
            let mut all: Vec<NodeRule> = Vec::new();
            for (si, s) in f.sites.iter().enumerate() {
                assert_eq!(
                    plan["fleets"][fi]["sites"][si]["node_rules"],
                    serde_json::to_value(&s.node_rules).unwrap(),
                    "{name}: the plan JSON carries the site's node rules"
                );
                if f.runtime.is_kubernetes() && !s.hosts.is_empty() {
                    let have = |first: u16, last: u16, proto: &str| {
                        s.node_rules.iter().any(|r| {
                            r.from == NodeSource::Lan
                                && r.ports.is_some_and(|p| p.first == first && p.last == last)
                                && r.protocol.is_some_and(|p| p.as_str() == proto)
                        })
                    };
                    for (first, last, proto) in documented_node_ports(&f.runtime.name, s.servers.len() > 1) {
                        assert!(
                            have(first, last, proto),
                            "{name}: site {} of {} lacks {first}:{last}/{proto}: {:?}",
                            s.name,
                            f.name,
                            s.node_rules
                        );
                    }
                    assert!(
                        s.node_rules
                            .iter()
                            .any(|r| matches!(r.from, NodeSource::Cidr(_)) && r.ports.is_none()),
                        "{name}: site {} admits its pod network",
                        s.name
                    );
                } else if !f.runtime.is_kubernetes() {
                    assert!(s.node_rules.is_empty(), "{name}: a Docker site opens no node ports");
                }
                for r in &s.node_rules {
                    if !all.contains(r) {
                        all.push(r.clone());
                    }
                }
            }
            groups.push((group_of(&sol, &f.name), all));
        }
        for c in &sol.clusters {
            groups.push((group_of(&sol, &c.name), c.node_rules.clone()));
        }
        for (group, node_rules) in groups {
            let ufw: Vec<&serde_json::Value> = rules
                .get(&group)
                .map(|r| r.iter().filter(|r| r.get("flows").is_none()).collect())
                .unwrap_or_default();
            let expected: Vec<serde_json::Value> = node_rules
                .iter()
                .map(|r| {
                    let mut v = serde_json::json!({
                        "from": match &r.from { NodeSource::Lan => "lan".to_string(), NodeSource::Cidr(c) => c.clone() },
                        "comment": iotc_compiler::emit::escape::ufw_comment(&r.why),
                    });
                    if let Some(p) = r.ports {
                        v["port"] = if p.first == p.last {
                            p.first.to_string().into()
                        } else {
                            format!("{}:{}", p.first, p.last).into()
                        };
                    }
                    if let Some(p) = r.protocol {
                        v["proto"] = p.as_str().into();
                    }
                    v
                })
                .collect();
            let ufw: Vec<serde_json::Value> = ufw.into_iter().cloned().collect();
            assert_eq!(
                ufw, expected,
                "{name}: {group}'s runtime ufw rules are the IR's node rules"
            );
            if !expected.is_empty() {
                checked_groups += 1;
            }
        }
    }
    assert!(
        checked_groups >= 2,
        "the examples have Kubernetes sites or clusters with node rules"
    );
}
