#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! External dependencies (`external plc { … }`), resolved once by the
//! checker into `Solution::egress`: on every example, every external a
//! workload names (in `talks_to` or an env value such as `plc.url`) is an
//! allowed egress in every target that restricts egress — the workload's
//! NetworkPolicy on every Kubernetes cluster it runs on, and the nodes'
//! security group on AWS — and every env value derived from it matches its
//! address; and the diagnostics for malformed addresses.

use iotc_compiler::diag::Code;
use iotc_compiler::emit::{emit, Target};
use iotc_compiler::ir::{EndpointPart, Placement};
use iotc_compiler::source::MemoryDb;
use iotc_compiler::{analyze, Overrides};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

mod common;
use common::{example, EXAMPLES};

#[test]
fn every_external_a_workload_names_is_an_egress_with_its_address() {
    let mut seen = 0;
    for name in EXAMPLES {
        let sol = example(name);
        for w in &sol.workloads {
            for x in sol.externals.iter().filter(|x| w.talks_to.contains(&x.name)) {
                seen += 1;
                let e = sol
                    .egress
                    .iter()
                    .find(|e| e.from == w.name && e.to == x.name)
                    .unwrap_or_else(|| panic!("{name}: {} names {} but has no egress", w.name, x.name));
                assert_eq!((e.cidr.as_str(), e.port), (x.cidr.as_str(), x.endpoint.port));
            }
            for ev in &w.env_endpoints {
                let Some(x) = sol.externals.iter().find(|x| x.name == ev.to) else {
                    continue;
                };
                assert_eq!(
                    w.container.env[&ev.name],
                    ev.part.of(&x.endpoint),
                    "{name}: {}",
                    ev.name
                );
                if ev.part == EndpointPart::Url {
                    assert!(w.container.env[&ev.name].starts_with(&format!("{}://", x.endpoint.scheme)));
                }
            }
        }
        for e in &sol.egress {
            let w = sol.workloads.iter().find(|w| w.name == e.from).unwrap();
            assert!(
                w.talks_to.contains(&e.to),
                "{name}: egress {} → {} not declared",
                e.from,
                e.to
            );
        }
    }
    assert!(seen >= 6, "the examples use their external dependencies: {seen}");
}

fn has_port(ports: &Option<Vec<k8s_openapi::api::networking::v1::NetworkPolicyPort>>, port: u16, proto: &str) -> bool {
    ports.as_ref().is_some_and(|ps| {
        ps.iter()
            .any(|p| p.port == Some(IntOrString::Int(i32::from(port))) && p.protocol.as_deref() == Some(proto))
    })
}

/// Every Kubernetes folder a workload runs in (its cluster, or each site
/// of its fleet) has a NetworkPolicy for it that lets it out to each of
/// its externals' ranges on their ports, and to nothing broader than the
/// range for that rule.
#[test]
fn network_policies_allow_every_external_dependency() {
    let mut checked = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let files = emit(&sol, &[Target::K8s]).unwrap();
        for e in &sol.egress {
            let w = sol.workloads.iter().find(|w| w.name == e.from).unwrap();
            let folders: Vec<String> = match &w.placement {
                Placement::Cluster { cluster, .. } => vec![format!("k8s/{cluster}")],
                Placement::Fleet { fleet, sites } => {
                    let k8s = sol.fleets.iter().any(|f| &f.name == fleet && f.runtime.is_kubernetes());
                    if !k8s {
                        continue; // Docker fleet: nothing restricts egress (docs/compose.md)
                    }
                    sites
                        .iter()
                        .map(|s| format!("k8s/{fleet}/{}", s.site.replace('_', "-")))
                        .collect()
                }
            };
            for folder in folders {
                let file = files
                    .iter()
                    .find(|f| f.path == format!("{folder}/20-network-policies.yaml"))
                    .unwrap_or_else(|| panic!("{name}: no policies in {folder}"));
                let policy: NetworkPolicy = file
                    .contents
                    .split("\n---\n")
                    .filter(|d| d.contains("kind: NetworkPolicy"))
                    .map(|d| serde_norway::from_str::<NetworkPolicy>(d).unwrap())
                    .find(|p| p.metadata.name.as_deref() == Some(e.from.as_str()))
                    .unwrap_or_else(|| panic!("{name}: {folder} has no policy for {}", e.from));
                let egress = policy.spec.unwrap().egress.unwrap_or_default();
                let proto = e.protocol.to_ascii_uppercase();
                assert!(
                    egress.iter().any(|r| {
                        r.to.iter().flatten().any(|p| {
                            p.ip_block
                                .as_ref()
                                .is_some_and(|b| b.cidr == e.cidr && b.except.is_none())
                        }) && has_port(&r.ports, e.port, &proto)
                    }),
                    "{name}: {} in {folder} may not reach external {} ({} {proto}/{})",
                    e.from,
                    e.to,
                    e.cidr,
                    e.port
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 8, "{checked} policies checked");
}

/// On AWS the nodes' security group restricts egress: every external a
/// workload on the cluster calls has a rule for its range, port and
/// protocol (HTTPS to anywhere is the general `nodes_https` rule).
#[test]
fn security_groups_allow_every_external_dependency_of_the_cloud() {
    let mut checked = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let files = emit(&sol, &[Target::Terraform]).unwrap();
        for e in sol.egress.iter().filter(|e| !e.from_fleet) {
            let Some(file) = files
                .iter()
                .find(|f| f.path == format!("terraform/{}/main.tf.json", e.from_group))
            else {
                continue;
            };
            let tf: serde_json::Value = serde_json::from_str(&file.contents).unwrap();
            let Some(rules) = tf["resource"]["aws_vpc_security_group_egress_rule"].as_object() else {
                continue; // not AWS
            };
            let proto = e.protocol.to_ascii_lowercase();
            let allowed = rules.values().any(|r| {
                r["cidr_ipv4"] == e.cidr.as_str()
                    && r["ip_protocol"] == proto.as_str()
                    && r["from_port"] == e.port
                    && r["to_port"] == e.port
            });
            assert!(
                allowed,
                "{name}: the security group does not let {} reach {}",
                e.from, e.to
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "{checked} security-group rules checked");
}

fn diagnose(src: &str) -> Vec<(Code, String)> {
    common::errors(src).into_iter().map(|d| (d.code, d.message)).collect()
}

const HEAD: &str = r#"solution s { version = "1" namespace = "s" }
import std.devices
fleet f { device = std.devices.rpi4 runtime = k3s site a { gateways = 1 hosts = "gw{n}.a" } }
"#;

fn with_external(fields: &str) -> String {
    format!("{HEAD}external plc {{ {fields} }}\nservice bridge on f {{ image = \"x/b:1\" env {{ PLC = plc.url }} }}\n")
}

#[test]
fn a_range_with_host_bits_set_is_refused_with_the_canonical_one() {
    let d = diagnose(&with_external(r#"host = "plc" cidr = "10.20.0.15/24" port = 4840"#));
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].0, Code::E0213);
    assert!(d[0].1.contains("10.20.0.0/24"), "{}", d[0].1);
}

#[test]
fn a_host_name_is_not_a_range() {
    let d = diagnose(&with_external(r#"host = "plc" cidr = "plc.line.local" port = 4840"#));
    assert_eq!(d.iter().map(|x| x.0).collect::<Vec<_>>(), vec![Code::E0213], "{d:?}");
}

#[test]
fn a_prefix_longer_than_32_is_refused() {
    let d = diagnose(&with_external(r#"host = "plc" cidr = "10.0.0.0/33" port = 4840"#));
    assert_eq!(d.iter().map(|x| x.0).collect::<Vec<_>>(), vec![Code::E0213], "{d:?}");
}

#[test]
fn a_host_with_a_scheme_and_a_scheme_with_slashes_are_refused() {
    let d = diagnose(&with_external(
        r#"host = "opc.tcp://plc" cidr = "10.0.0.0/8" port = 4840 scheme = "opc.tcp://""#,
    ));
    assert_eq!(
        d.iter().map(|x| x.0).collect::<Vec<_>>(),
        vec![Code::E0213, Code::E0213],
        "{d:?}"
    );
}

#[test]
fn an_external_needs_an_address_range() {
    let d = diagnose(&with_external(r#"host = "plc" port = 4840"#));
    assert_eq!(d.iter().map(|x| x.0).collect::<Vec<_>>(), vec![Code::E0106], "{d:?}");
    assert!(d[0].1.contains("`cidr`"), "{}", d[0].1);
}

#[test]
fn an_invalid_external_is_reported_once_not_again_where_it_is_used() {
    let d = diagnose(&with_external(r#"host = "plc" cidr = "10.0.0.1/8" port = 4840"#));
    assert!(d.iter().all(|x| x.0 != Code::E0101), "{d:?}");
}

#[test]
fn a_misspelt_external_suggests_the_declared_one() {
    let src = format!(
        "{HEAD}external plc {{ host = \"plc\" cidr = \"10.0.0.0/8\" port = 4840 }}\nservice bridge on f {{ image = \"x/b:1\" talks_to = [plcc] }}\n"
    );
    let db = MemoryDb::new().with("t.iot", &src);
    let a = analyze(&db, "t.iot", &Overrides::default());
    let d = a.diagnostics.iter().find(|d| d.code == Code::E0101).unwrap();
    assert!(d.help.as_deref().unwrap_or("").contains("`plc`"), "{d:?}");
}

#[test]
fn endpoint_parts_of_an_external_are_its_address() {
    let src = format!(
        "{HEAD}external db {{ host = \"db.example\" cidr = \"10.1.0.0/16\" port = 5432 scheme = \"postgres\" }}\n\
         service api on f {{ image = \"x/a:1\" env {{ U = db.url  H = db.host  P = db.port }} }}\n"
    );
    let db = MemoryDb::new().with("t.iot", &src);
    let a = analyze(&db, "t.iot", &Overrides::default());
    let sol = a.solution.unwrap_or_else(|| panic!("{:#?}", a.diagnostics));
    let w = sol.workloads.iter().find(|w| w.name == "api").unwrap();
    assert_eq!(w.container.env["U"], "postgres://db.example:5432");
    assert_eq!(w.container.env["H"], "db.example");
    assert_eq!(w.container.env["P"], "5432");
    assert_eq!(sol.egress.len(), 1);
    assert_eq!(sol.egress[0].cidr, "10.1.0.0/16");
}
