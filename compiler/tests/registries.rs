#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Private registries across targets, over every example and generated
//! fleets (k3s, microk8s, Docker): every image pulled from a declared
//! registry's host has a pull credential on every target that runs it.
//!
//! - Kubernetes: the pod names the registry's pull Secret in
//!   `imagePullSecrets`, and the inventory group of its cluster or site
//!   lists the registry (`iotc_registries`). Where Ansible installs the
//!   cluster (k3s, microk8s), a play creates the Secret on the first
//!   server, and k3s nodes also get `registries.yaml`.
//! - Compose: the site's inventory group lists the registry, and the stack
//!   role logs in to every listed registry before it brings the stack up.
//! - No file holds a credential value: only the reference.

use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::Solution;
use iotc_compiler::names::{check_registry_host, image_registry_host};
use iotc_compiler::source::MemoryDb;
use iotc_compiler::{analyze, Overrides};
use serde_json::Value;
use std::collections::BTreeMap;

mod common;
use common::{checked, documents, groups, repo, yaml, Fs};

/// A fleet of two sites on `runtime` pulling from a private registry,
/// with one public image (Docker Hub) that needs no credential.
fn generated(runtime: &str) -> Solution {
    let src = format!(
        r#"solution gen {{
  version = "1.0.0"
  namespace = "gen"
  registry private {{
    host = "registry.example.com:5000"
    username = "puller"
    secret password from env "GEN_REGISTRY_TOKEN"
  }}
}}

import std.devices

fleet sites {{
  device = std.devices.x86_gateway
  runtime = {runtime}
  site north {{
    gateways = 1
    hosts = "gw{{n}}.{{site}}.gen.internal"
  }}
  site south {{
    gateways = 3
    hosts = "gw{{n}}.{{site}}.gen.internal"
  }}
}}

service broker on sites {{
  image = "eclipse-mosquitto:2.0.20"
  port = 1883
  protocol = tcp
  cpu = 100m
  memory = 64Mi
}}

service collector on sites {{
  image = "registry.example.com:5000/gen/collector:1.0.0"
  port = 8080
  cpu = 100m
  memory = 64Mi
  talks_to = [broker]
}}
"#
    );
    let db = MemoryDb::new().with("gen/gen.iot", &src);
    checked(&db, "gen/gen.iot")
}

fn solutions() -> Vec<(String, Solution)> {
    let mut out = Vec::new();
    for name in ["city", "energy", "factory"] {
        let root = repo().join(format!("examples/{name}/{name}.iot"));
        out.push((name.to_string(), checked(&Fs, root.to_str().unwrap())));
    }
    for rt in ["k3s", "microk8s", "docker"] {
        out.push((format!("generated-{rt}"), generated(rt)));
    }
    out
}

fn group_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn file<'a>(files: &'a [OutputFile], path: &str) -> Option<&'a str> {
    files.iter().find(|f| f.path == path).map(|f| f.contents.as_str())
}

/// Pod specs of a manifest file's controllers.
fn pods(docs: &[Value]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for d in docs {
        let name = d["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let spec = match d["kind"].as_str().unwrap_or_default() {
            "Deployment" | "DaemonSet" | "StatefulSet" | "Job" => &d["spec"]["template"]["spec"],
            "CronJob" => &d["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        out.push((name, spec.clone()));
    }
    out
}

/// The registries an inventory group lists: host → pull Secret.
fn listed(vars: &Value) -> BTreeMap<String, String> {
    vars["iotc_registries"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    (
                        r["host"].as_str().unwrap().to_string(),
                        r["pull_secret"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The tasks of a role, as YAML values.
fn tasks(files: &[OutputFile], role: &str) -> Vec<Value> {
    let text = file(files, &format!("ansible/roles/{role}/tasks/main.yml")).unwrap_or_else(|| panic!("no {role}"));
    yaml(text).as_array().cloned().unwrap_or_default()
}

fn task_index(tasks: &[Value], module: &str) -> Option<usize> {
    tasks.iter().position(|t| t.get(module).is_some())
}

#[test]
fn every_private_image_has_a_pull_credential_on_every_target() {
    let (mut k8s_pods, mut compose_services) = (0, 0);
    for (name, sol) in solutions() {
        if sol.registries.is_empty() {
            continue;
        }
        let files = emit(&sol, &[Target::K8s, Target::Ansible, Target::Compose]).unwrap();
        let inv = groups(&yaml(file(&files, "ansible/inventory.yaml").unwrap()));
        let secret_of: BTreeMap<&str, &str> = sol
            .registries
            .iter()
            .map(|r| (r.host.as_str(), r.pull_secret.as_str()))
            .collect();
        let workload_images: std::collections::BTreeSet<&str> =
            sol.workloads.iter().map(|w| w.container.image.as_str()).collect();
        let plays = file(&files, "ansible/playbooks/workers.yml").map(yaml);
        let pull_secret_play_hosts: Vec<String> = plays
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|p| p["roles"].to_string().contains("iotc_k8s_pull_secrets"))
            .flat_map(|p| {
                p["hosts"]
                    .as_str()
                    .unwrap()
                    .split(':')
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();

        // Kubernetes: every cluster folder and every fleet site folder.
        let mut targets: Vec<(String, String, Option<String>, Option<&str>)> = Vec::new();
        for cl in &sol.clusters {
            let installed = match (cl.provider.clone(), cl.distribution.as_str()) {
                (iotc_compiler::ir::Provider::Baremetal { hosts }, "k3s" | "microk8s") => {
                    Some((hosts.first().cloned(), cl.distribution.as_str()))
                }
                _ => None,
            };
            targets.push((
                format!("k8s/{}/", cl.name),
                format!("cluster_{}", group_name(&cl.name)),
                installed.as_ref().and_then(|(h, _)| h.clone()),
                installed.map(|(_, d)| d),
            ));
        }
        for f in sol.fleets.iter().filter(|f| f.runtime.is_kubernetes()) {
            for s in &f.sites {
                targets.push((
                    format!("k8s/{}/{}/", f.name, s.name),
                    format!("site_{}_{}", group_name(&f.name), group_name(&s.name)),
                    s.servers.first().cloned(),
                    Some(f.runtime.name.as_str()),
                ));
            }
        }
        for (prefix, group, first_server, engine) in &targets {
            let (vars, _) = &inv[group];
            let registries = listed(vars);
            for o in files.iter().filter(|o| o.path.starts_with(prefix.as_str())) {
                for (obj, pod) in pods(&documents(&o.contents)) {
                    let names: Vec<&str> = pod["imagePullSecrets"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|r| r["name"].as_str()).collect())
                        .unwrap_or_default();
                    let containers = pod["containers"]
                        .as_array()
                        .into_iter()
                        .chain(pod["initContainers"].as_array())
                        .flatten();
                    for c in containers {
                        let image = c["image"].as_str().unwrap();
                        // The solution's own images; infrastructure the
                        // backends add (the device plugin) pulls public images.
                        if !workload_images.contains(image) {
                            continue;
                        }
                        let Some(secret) = secret_of.get(image_registry_host(image)) else {
                            continue;
                        };
                        k8s_pods += 1;
                        assert!(
                            names.contains(secret),
                            "{name}: {obj} in {} pulls {image} without the pull Secret {secret}",
                            o.path
                        );
                        assert_eq!(
                            registries.get(image_registry_host(image)).map(String::as_str),
                            Some(*secret),
                            "{name}: {group} does not list the registry of {image} ({obj})"
                        );
                        if let (Some(server), Some(engine)) = (first_server, engine) {
                            let init = format!("{engine}_init");
                            assert!(
                                inv[&init].1.contains(server) && pull_secret_play_hosts.contains(&init),
                                "{name}: no play creates {secret} on {server}, the first server of {prefix}"
                            );
                        }
                    }
                }
            }
        }

        // k3s nodes pull with registries.yaml as well.
        let k3s = tasks(&files, "iotc_k3s");
        assert!(
            k3s.iter().any(
                |t| t["ansible.builtin.template"]["dest"] == "/etc/rancher/k3s/registries.yaml" && t["no_log"] == true
            ),
            "{name}: the k3s role writes registries.yaml without logging it"
        );

        // Compose: the site's group lists the registry; the stack role logs
        // in to each listed registry before `up`.
        let stack = tasks(&files, "iotc_compose_stack");
        let login = task_index(&stack, "community.docker.docker_login").expect("a docker login task");
        let up = task_index(&stack, "community.docker.docker_compose_v2").expect("a compose up task");
        assert!(login < up, "{name}: docker login runs before the stack comes up");
        assert_eq!(stack[login]["loop"], "{{ iotc_registries | default([]) }}");
        assert_eq!(stack[login]["no_log"], true);
        for f in sol.fleets.iter().filter(|f| !f.runtime.is_kubernetes()) {
            for s in &f.sites {
                let path = format!("compose/{}/{}/compose.yaml", f.name, s.name);
                let Some(text) = file(&files, &path) else { continue };
                let (vars, _) = &inv[&format!("site_{}_{}", group_name(&f.name), group_name(&s.name))];
                let registries = listed(vars);
                let doc = yaml(text);
                for (svc, def) in doc["services"].as_object().unwrap() {
                    let image = def["image"].as_str().unwrap();
                    if let Some(secret) = secret_of.get(image_registry_host(image)) {
                        compose_services += 1;
                        assert_eq!(
                            registries.get(image_registry_host(image)).map(String::as_str),
                            Some(*secret),
                            "{name}: {path} service {svc} pulls {image}, but its site does not log in to that registry"
                        );
                    }
                }
            }
        }

        // References only: no file has a value, and the env/vault names
        // are the declared ones.
        for r in &sol.registries {
            let inventory = file(&files, "ansible/inventory.yaml").unwrap();
            assert!(
                inventory.contains(r.password.reference.split('#').next_back().unwrap()),
                "{name}: the inventory names the reference of {}",
                r.name
            );
        }
    }
    assert!(k8s_pods > 20, "only {k8s_pods} private-image pods checked");
    assert!(
        compose_services > 5,
        "only {compose_services} private-image Compose services checked"
    );
}

/// A fleet of two sites where a workload that needs the host (a host
/// folder: it runs in `<namespace>-host`) and pulls from the private
/// registry runs at one site only.
fn host_workload_at_one_site() -> Solution {
    let src = r#"solution gen {
  version = "1.0.0"
  namespace = "gen"
  registry private {
    host = "registry.example.com:5000"
    username = "puller"
    secret password from env "GEN_REGISTRY_TOKEN"
  }
}

import std.devices

fleet sites {
  device = std.devices.x86_gateway
  runtime = k3s
  site north {
    gateways = 2
    hosts = "gw{n}.{site}.gen.internal"
    labels { camera = "yes" }
  }
  site south {
    gateways = 2
    hosts = "gw{n}.{site}.gen.internal"
  }
}

daemon recorder on sites where camera = "yes" {
  image = "registry.example.com:5000/gen/recorder:1.0.0"
  cpu = 100m
  memory = 64Mi
  volume spool { mount = "/var/spool/recorder"  host_path = "/var/lib/recorder" }
}

service collector on sites {
  image = "nginx:1.27"
  port = 8080
  cpu = 100m
  memory = 64Mi
}
"#;
    let db = MemoryDb::new().with("gen/gen.iot", src);
    checked(&db, "gen/gen.iot")
}

/// The namespaces the pull-Secret role creates Secrets in on a group's
/// first server: its defaults rendered with Jinja2 and the group's vars
/// (`flatten` and `intersect` are Ansible's filters, written out here).
fn pull_secret_namespaces(files: &[OutputFile], vars: &Value) -> Vec<String> {
    let defaults = yaml(file(files, "ansible/roles/iotc_k8s_pull_secrets/defaults/main.yml").unwrap());
    let input = serde_json::json!({ "defaults": defaults, "vars": vars });
    let out = common::python(
        r#"
import json, sys, jinja2
d = json.load(sys.stdin)
env = jinja2.Environment(undefined=jinja2.StrictUndefined)
def flatten(xs):
    return [y for x in xs for y in (x if isinstance(x, list) else [x])]
env.filters["flatten"] = flatten
env.filters["intersect"] = lambda a, b: [x for i, x in enumerate(a) if x in b and x not in a[:i]]
ctx = dict(d["vars"])
for k in ("iotc_k8s_pull_secrets_registries", "iotc_k8s_pull_secrets_namespaces"):
    ctx[k] = env.compile_expression(d["defaults"][k].strip()[2:-2])(**ctx)
print(json.dumps(ctx["iotc_k8s_pull_secrets_namespaces"]))
"#,
        &input,
    );
    serde_json::from_str(&out).unwrap()
}

#[test]
fn pull_secrets_go_only_into_the_namespaces_each_site_creates() {
    let mut sites = 0;
    let mut all = solutions();
    all.push(("host workload at one site".into(), host_workload_at_one_site()));
    for (name, sol) in all {
        if sol.registries.is_empty() {
            continue;
        }
        let files = emit(&sol, &[Target::K8s, Target::Ansible]).unwrap();
        let inv = groups(&yaml(file(&files, "ansible/inventory.yaml").unwrap()));
        for f in sol.fleets.iter().filter(|f| f.runtime.is_kubernetes()) {
            for s in &f.sites {
                let dir = format!("k8s/{}/{}/", f.name, s.name);
                let docs: Vec<Value> = files
                    .iter()
                    .filter(|o| o.path.starts_with(&dir))
                    .flat_map(|o| documents(&o.contents))
                    .collect();
                let created: std::collections::BTreeSet<String> = docs
                    .iter()
                    .filter(|d| d["kind"] == "Namespace")
                    .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
                    .collect();
                // The namespaces of the pods here that name a pull Secret.
                let pulling: std::collections::BTreeSet<String> = docs
                    .iter()
                    .filter(|d| !pods(std::slice::from_ref(d)).is_empty())
                    .filter(|d| {
                        pods(std::slice::from_ref(d))
                            .iter()
                            .any(|(_, p)| p["imagePullSecrets"].as_array().is_some_and(|a| !a.is_empty()))
                    })
                    .map(|d| d["metadata"]["namespace"].as_str().unwrap().to_string())
                    .collect();
                let (vars, _) = &inv[&format!("site_{}_{}", group_name(&f.name), group_name(&s.name))];
                let secrets: std::collections::BTreeSet<String> =
                    pull_secret_namespaces(&files, vars).into_iter().collect();
                assert!(
                    secrets.is_subset(&created),
                    "{name}: Ansible puts pull Secrets into {secrets:?} at {dir}, whose manifests create only {created:?}"
                );
                assert!(
                    pulling.is_subset(&secrets),
                    "{name}: pods in {pulling:?} at {dir} pull with a Secret Ansible creates only in {secrets:?}"
                );
                sites += 1;
            }
        }
    }
    assert!(sites >= 6, "{sites} sites checked");
}

#[test]
fn public_images_get_no_pull_secret() {
    let sol = generated("k3s");
    let broker = sol.workloads.iter().find(|w| w.name == "broker").unwrap();
    let collector = sol.workloads.iter().find(|w| w.name == "collector").unwrap();
    assert_eq!(broker.container.registry, None);
    assert_eq!(collector.container.registry.as_deref(), Some("private"));
    let files = emit(&sol, &[Target::K8s]).unwrap();
    let text = file(&files, "k8s/sites/north/10-broker.yaml").unwrap();
    assert!(!text.contains("imagePullSecrets"), "{text}");
}

#[test]
fn registry_hosts_as_images_name_them() {
    assert_eq!(image_registry_host("ghcr.io/acme/x:1"), "ghcr.io");
    assert_eq!(
        image_registry_host("registry.example.com:5000/x:1"),
        "registry.example.com:5000"
    );
    assert_eq!(image_registry_host("localhost/x:1"), "localhost");
    assert_eq!(image_registry_host("eclipse-mosquitto:2.0.20"), "docker.io");
    assert_eq!(image_registry_host("grafana/grafana:11.4.0"), "docker.io");
    for ok in ["ghcr.io", "registry.example.com:5000", "localhost:5000", "docker.io"] {
        assert!(check_registry_host(ok).is_ok(), "{ok}");
    }
    for bad in [
        "https://ghcr.io",
        "ghcr.io/acme",
        "GHCR.io",
        "acme",
        "ghcr.io:0",
        "ghcr.io:x",
        "",
    ] {
        assert!(check_registry_host(bad).is_err(), "{bad}");
    }
}

/// The codes a solution with this `registry` block (and a fleet pulling
/// from ghcr.io) reports, with the text each one points at.
fn registry_diagnostics(block: &str) -> Vec<(String, String)> {
    let src = format!(
        r#"solution demo {{
  version = "1.0.0"
{block}
}}
import std.devices
fleet plants {{
  device = std.devices.rpi5
  runtime = k3s
  site north {{
    gateways = 1
    hosts = "gw{{n}}.north.example.internal"
  }}
}}
service collector on plants {{
  image = "ghcr.io/acme/collector:1.0.2"
}}
"#
    );
    let db = MemoryDb::new().with("demo.iot", &src);
    let a = analyze(&db, "demo.iot", &Overrides::default());
    a.diagnostics
        .iter()
        .map(|d| {
            let text = src
                .get(d.primary.span.start as usize..d.primary.span.end as usize)
                .unwrap_or("")
                .to_string();
            (d.code.as_str().to_string(), text)
        })
        .collect()
}

#[test]
fn registry_misuse_is_reported() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        (
            "registry acme {\n host = \"ghcr.io\"\n username = \"u\"\n}",
            &[("E0503", "acme")],
        ),
        (
            "registry acme {\n host = \"ghcr.io\"\n username = \"u\"\n secret token from env \"T\"\n}",
            &[("E0503", "acme"), ("E0503", "token")],
        ),
        (
            "registry acme {\n host = \"ghcr.io\"\n username = \"u\"\n secret password = \"hunter2\"\n}",
            &[("E0501", "\"hunter2\"")],
        ),
        (
            "registry acme {\n host = \"ghcr.io\"\n username = \"u\"\n secret password from vault \"kv/x\"\n}",
            &[("E0502", "\"kv/x\"")],
        ),
        (
            "registry acme {\n host = \"acme\"\n username = \"u\"\n secret password from env \"T\"\n}",
            &[("E0214", "\"acme\"")],
        ),
        (
            "registry a {\n host = \"ghcr.io\"\n username = \"u\"\n secret password from env \"T\"\n}\n\
             registry b {\n host = \"ghcr.io\"\n username = \"v\"\n secret password from env \"U\"\n}",
            &[("E0102", "\"ghcr.io\"")],
        ),
        (
            "registry acme {\n host = \"ghcr.io\"\n secret password from env \"T\"\n}",
            &[("E0106", "acme")],
        ),
    ];
    for (block, want) in cases {
        let got = registry_diagnostics(block);
        let want: Vec<(String, String)> = want.iter().map(|(c, t)| (c.to_string(), t.to_string())).collect();
        assert_eq!(got, want, "{block}");
    }
    // A well-formed one is accepted and reaches the IR.
    let ok = "registry acme {\n host = \"ghcr.io\"\n username = \"u\"\n secret password from env \"T\"\n}";
    assert_eq!(registry_diagnostics(ok), Vec::<(String, String)>::new());
}
