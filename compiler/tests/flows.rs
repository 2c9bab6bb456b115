#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Flows and endpoints, resolved once by the checker (`Solution::flows`):
//! on every example, every env value derived from an endpoint matches a
//! listener (port, scheme) of the workload it names and a flow the network
//! policies allow; and the diagnostics for endpoints that cannot exist.

use iotc_compiler::diag::Code;
use iotc_compiler::emit::{emit, Target};
use iotc_compiler::ir::{EndpointPart, ExposureKind, Reach, Solution};
use iotc_compiler::source::MemoryDb;
use iotc_compiler::{analyze, Overrides};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use std::path::{Path, PathBuf};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn example(name: &str) -> Solution {
    let dir = examples_dir().join(name);
    let mut db = MemoryDb::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "iot") {
            let f = p.file_name().unwrap().to_string_lossy().into_owned();
            db = db.with(&format!("{name}/{f}"), &std::fs::read_to_string(&p).unwrap());
        }
    }
    let a = analyze(&db, &format!("{name}/{name}.iot"), &Overrides::default());
    let errors: Vec<_> = a.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}");
    a.solution.unwrap()
}

const EXAMPLES: &[&str] = &["factory", "city", "energy"];

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
                    // The Service of the callee, on its own port and scheme.
                    assert_eq!(flow.endpoint.host, callee.name);
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
    let db = MemoryDb::new().with("t.iot", src);
    analyze(&db, "t.iot", &Overrides::default())
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| (d.code, d.message.clone()))
        .collect()
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
