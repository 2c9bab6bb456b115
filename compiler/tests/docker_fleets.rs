#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Docker fleets that work when applied (issue 10, finding 11), over every
//! example with a Docker fleet and a fixture with what no example has:
//! the Compose files and the Ansible that ships them agree on secret files,
//! staged models, the broker's host, published ports and MQTT credentials.

use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::Solution;
use iotc_compiler::source::MemoryDb;
use serde_json::{json, Value};
use std::process::Command;

mod common;
use common::{checked, example, python, yaml, EXAMPLES};
use iotc_compiler::{analyze, Overrides};

/// Three gateways with the second as the hub, a broker and its callers, a
/// file secret and a Vault secret, a model from S3.
const FIXTURE: &str = r#"solution fixture {
  version = "1.0.0"
}

import std.devices
import std.ml
import std.services

fleet gw {
  device = std.devices.cm4_solar
  runtime = docker
  site a {
    gateways = 3
    hosts = "gw{n}.a.example.internal"
    hub = "gw2.a.example.internal"
  }
}

service broker on gw from std.services.mqtt_broker {
  replicas = 1
  secret MQTT_PASSWORDS from file "/etc/acme/mqtt/passwd"
}

daemon bridge on gw {
  image = "ghcr.io/acme/bridge:1.0.0"
  cpu = 50m
  memory = 32Mi
  talks_to = [broker, detector]
  env {
    MQTT_URL = broker.url
    MQTT_USERNAME = "bridge"
  }
  secret MQTT_PASSWORD from vault "kv/data/acme/mqtt#bridge"
  secret API_KEY from file "/etc/acme/api-key"
  secret DB_PASSWORD from vault "kv/data/acme/db#password"
}

model detector {
  format = tflite
  version = "3"
  artifact = "s3://acme-models/detector/3/model.tflite"
  checksum = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  serve on gw {
    runtime = std.ml.tflite
    replicas = 1 per gateway
    cpu = 100m
    memory = 64Mi
  }
}
"#;

/// Every example with a Docker fleet, and the fixture.
fn solutions() -> Vec<(String, Solution)> {
    let mut out: Vec<(String, Solution)> = EXAMPLES
        .iter()
        .map(|n| (n.to_string(), example(n)))
        .filter(|(_, s)| s.fleets.iter().any(|f| f.runtime.kind == "compose"))
        .collect();
    assert!(!out.is_empty(), "no example has a Docker fleet");
    let db = MemoryDb::new().with("fixture.iot", FIXTURE);
    out.push(("fixture".into(), checked(&db, "fixture.iot")));
    out
}

fn file<'a>(files: &'a [OutputFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no {path}"))
        .contents
}

/// One group of the inventory: its vars merged with its parents' (theirs
/// first) and its own hosts with their vars.
struct InvGroup {
    name: String,
    vars: Value,
    hosts: Vec<(String, Value)>,
}

fn groups(inv: &Value) -> Vec<InvGroup> {
    fn walk(name: &str, g: &Value, inherited: &Value, out: &mut Vec<InvGroup>) {
        let mut vars = inherited.clone();
        if let (Some(v), Some(m)) = (g["vars"].as_object(), vars.as_object_mut()) {
            for (k, x) in v {
                m.insert(k.clone(), x.clone());
            }
        }
        let hosts = g["hosts"]
            .as_object()
            .map(|h| h.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        out.push(InvGroup {
            name: name.to_string(),
            vars: vars.clone(),
            hosts,
        });
        if let Some(c) = g["children"].as_object() {
            for (n, child) in c {
                walk(n, child, &vars, out);
            }
        }
    }
    let mut out = Vec::new();
    walk("all", &inv["all"], &json!({}), &mut out);
    out
}

/// The Docker sites' groups: merged vars with a Compose stack.
fn docker_sites(files: &[OutputFile]) -> Vec<InvGroup> {
    let inv = yaml(file(files, "ansible/inventory.yaml"));
    groups(&inv)
        .into_iter()
        .filter(|g| g.vars.get("iotc_compose_stack_file").is_some())
        .collect()
}

fn tasks(files: &[OutputFile], role: &str) -> Vec<Value> {
    yaml(file(files, &format!("ansible/roles/{role}/tasks/main.yml")))
        .as_array()
        .cloned()
        .unwrap()
}

/// Evaluates Ansible `that` conditions with Jinja2 for each `item`.
fn jinja_all(that: &[String], items: &[Value]) -> Vec<bool> {
    let script = r#"
import json, sys, jinja2
d = json.load(sys.stdin)
env = jinja2.Environment()
print(json.dumps([all(bool(env.compile_expression(t)(item=i)) for t in d["that"]) for i in d["items"]]))
"#;
    serde_json::from_str(&python(script, &json!({ "that": that, "items": items }))).unwrap()
}

fn stat(exists: bool, uid: u32, mode: &str) -> Value {
    json!({ "exists": exists, "isreg": exists, "uid": uid, "mode": mode })
}

#[test]
fn every_secret_file_is_checked_to_be_the_containers_and_private_before_use() {
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::Ansible]).unwrap();
        let mut secrets = 0;
        for InvGroup { name: group, vars, .. } in docker_sites(&files) {
            for s in vars["iotc_compose_stack_secrets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                if s.get("path").is_none() {
                    continue;
                }
                let user = sol
                    .workloads
                    .iter()
                    .find(|w| w.name == s["service"].as_str().unwrap())
                    .map_or(0, |w| w.container.user);
                assert_eq!(s["owner"], json!(user), "{name}: {group}: {s}");
                secrets += 1;
            }
        }
        assert!(secrets > 0, "{name}: no secret file to check");
        let tasks = tasks(&files, "iotc_compose_stack");
        let at = |pred: &dyn Fn(&Value) -> bool| tasks.iter().position(pred);
        let check = at(&|t| {
            t["ansible.builtin.assert"]["that"]
                .to_string()
                .contains("item.stat.uid")
        })
        .unwrap_or_else(|| panic!("{name}: no check of the secret files' owner"));
        let stat_task = &tasks[check - 1];
        assert!(stat_task.get("ansible.builtin.stat").is_some(), "{name}");
        assert!(stat_task["loop"]
            .as_str()
            .unwrap()
            .contains("selectattr('path', 'defined')"));
        // Checked after every task that writes a secret file, before the
        // stack is up.
        let up = at(&|t| t.get("community.docker.docker_compose_v2").is_some()).unwrap();
        let last_write = tasks
            .iter()
            .rposition(|t| t["ansible.builtin.copy"]["dest"] == json!("{{ item.path }}"))
            .unwrap();
        assert!(
            last_write < check && check < up,
            "{name}: {last_write} < {check} < {up}"
        );
        for t in tasks
            .iter()
            .filter(|t| t["ansible.builtin.copy"]["dest"] == json!("{{ item.path }}"))
        {
            assert_eq!(t["ansible.builtin.copy"]["mode"], json!("0400"), "{name}: {t}");
            assert_eq!(
                t["ansible.builtin.copy"]["owner"],
                json!("{{ item.owner }}"),
                "{name}: {t}"
            );
        }
        // What the check lets through.
        let that: Vec<String> = tasks[check]["ansible.builtin.assert"]["that"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let item = |stat: Value| json!({ "stat": stat, "item": { "owner": 10001, "path": "/etc/x" } });
        let got = jinja_all(
            &that,
            &[
                item(stat(true, 10001, "0400")),
                item(stat(true, 10001, "0600")),
                item(stat(true, 0, "0600")),
                item(stat(true, 10001, "0644")),
                item(stat(true, 10001, "0640")),
                item(stat(false, 0, "")),
                json!({ "stat": stat(true, 10001, "0600").as_object().cloned().map(|mut m| { m.insert("isreg".into(), json!(false)); m }), "item": { "owner": 10001 } }),
            ],
        );
        assert_eq!(got, vec![true, true, false, false, false, false, false], "{name}");
    }
}

#[test]
fn every_model_server_mounts_the_file_ansible_staged_and_nothing_downloads_it_again() {
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::Ansible, Target::Compose]).unwrap();
        let sites = docker_sites(&files);
        let mut servers = 0;
        for InvGroup { name: group, vars, .. } in &sites {
            let path = vars["iotc_compose_stack_file"].as_str().unwrap();
            let doc = yaml(file(&files, path));
            let staged: Vec<&str> = vars["iotc_compose_stack_models"]
                .as_array()
                .map(|a| a.iter().map(|m| m["dest"].as_str().unwrap()).collect())
                .unwrap_or_default();
            for (svc, s) in doc["services"].as_object().unwrap() {
                let image = s["image"].as_str().unwrap();
                assert!(
                    !image.starts_with("curlimages/") && !image.starts_with("amazon/aws-cli"),
                    "{name}: {path}: {svc} downloads in the stack"
                );
                let Some(served) = s["environment"]["IOTC_MODEL_PATH"].as_str() else {
                    continue;
                };
                let (folder, file_name) = served.rsplit_once('/').unwrap();
                let mounts: Vec<&Value> = s["volumes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|v| served.starts_with(&format!("{}/", v["target"].as_str().unwrap())))
                    .collect();
                assert_eq!(mounts.len(), 1, "{name}: {path}: {svc}: {mounts:?}");
                let m = mounts[0];
                assert_eq!(
                    m["target"],
                    json!(folder),
                    "{name}: {svc} sees its version's folder only"
                );
                assert_eq!(m["type"], json!("bind"), "{name}: {svc}");
                assert_eq!(m["read_only"], json!(true), "{name}: {svc}");
                let source = m["source"].as_str().unwrap();
                let dest = format!("{source}/{file_name}");
                assert!(
                    staged.contains(&dest.as_str()),
                    "{name}: {group}: {svc} mounts {source}, Ansible stages {staged:?}"
                );
                // The one path the IR decided, on both sides.
                let w = sol.workloads.iter().find(|w| &w.name == svc).unwrap();
                let model = w.model.as_ref().unwrap();
                assert_eq!(source, model.host_dir);
                assert_eq!(served, model.path);
                // The runtime's own arguments name the model's folder (or
                // the root above it), which holds the mounted version.
                for arg in s["command"].as_array().into_iter().flatten() {
                    let arg = arg.as_str().unwrap();
                    if let Some((_, dir)) = arg.split_once("=/models") {
                        let dir = format!("/models{dir}");
                        assert!(
                            folder.starts_with(&format!("{dir}/")),
                            "{name}: {svc}: {arg} vs {folder}"
                        );
                    }
                }
                assert!(s.get("depends_on").is_none(), "{name}: {svc}");
                servers += 1;
            }
        }
        assert!(servers > 0, "{name}: no model server on a Docker fleet");
        // Ansible stages (downloads and verifies) before the stack is up;
        // a second run finds the verified file and downloads nothing.
        let tasks = tasks(&files, "iotc_compose_stack");
        let pos = |module: &str| tasks.iter().position(|t| t.get(module).is_some()).unwrap();
        let up = pos("community.docker.docker_compose_v2");
        let get = &tasks[pos("ansible.builtin.get_url")];
        assert_eq!(get["ansible.builtin.get_url"]["dest"], json!("{{ item.dest }}"));
        assert!(get["ansible.builtin.get_url"]["checksum"]
            .as_str()
            .unwrap()
            .contains("item.checksum"));
        assert!(get["ansible.builtin.get_url"].get("force").is_none());
        assert!(pos("ansible.builtin.get_url") < up && pos("amazon.aws.s3_object") < up);
        let s3_check = tasks
            .iter()
            .position(|t| {
                t["ansible.builtin.assert"]["that"]
                    .to_string()
                    .contains("item.stat.checksum")
            })
            .unwrap();
        assert!(pos("amazon.aws.s3_object") < s3_check && s3_check < up, "{name}");
        for g in &sites {
            assert!(!g.hosts.is_empty(), "{name}: {} has no gateway", g.name);
            for m in g.vars["iotc_compose_stack_models"].as_array().into_iter().flatten() {
                if let Some(sum) = m["checksum"].as_str() {
                    assert!(sum.starts_with("sha256:"), "{name}: {m}");
                }
            }
        }
    }
}

/// Renders a role's template with Jinja2, `hostvars` giving every host
/// the address `addr(host)`.
fn render(template: &str, vars: &Value) -> String {
    let script = r#"
import json, sys, jinja2
d = json.load(sys.stdin)
env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
sys.stdout.write(env.from_string(d["template"]).render(**d["vars"]))
"#;
    python(script, &json!({ "template": template, "vars": vars }))
}

/// A new connection arriving at a gateway.
struct Packet<'a> {
    src: &'a str,
    iface: &'a str,
    proto: &'a str,
    port: u16,
}

/// The verdict of the `DOCKER-USER` chain (iptables-restore lines) for a
/// new connection: the target of the first rule that matches.
fn verdict(rules: &str, p: &Packet<'_>) -> String {
    for line in rules.lines().filter(|l| l.starts_with("-A DOCKER-USER")) {
        let t: Vec<&str> = line.split_whitespace().collect();
        let arg = |flag: &str| t.iter().position(|x| *x == flag).map(|i| t[i + 1]);
        if arg("--ctstate").is_some() {
            continue; // only established or related connections
        }
        let ok = arg("-i").is_none_or(|i| match i.strip_suffix('+') {
            Some(prefix) => p.iface.starts_with(prefix),
            None => p.iface == i,
        }) && arg("-s").is_none_or(|s| s == format!("{}/32", p.src))
            && arg("-p").is_none_or(|x| x == p.proto)
            && arg("--ctorigdstport").is_none_or(|r| {
                let (a, b) = r.split_once(':').unwrap_or((r, r));
                (a.parse::<u16>().unwrap()..=b.parse::<u16>().unwrap()).contains(&p.port)
            });
        if ok {
            return arg("-j").unwrap().to_string();
        }
    }
    panic!("the chain does not end in a verdict");
}

fn replicas_var(service: &str) -> String {
    let s: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("IOTC_REPLICAS_{s}")
}

/// Whether the inventory gives `host` a copy of `service`.
fn runs(host_vars: &Value, service: &str) -> bool {
    let var = replicas_var(service);
    host_vars["iotc_compose_stack_env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str()?.strip_prefix(&format!("{var}=")))
        .any(|n| n != "0")
}

#[test]
fn every_published_port_admits_exactly_its_declared_callers() {
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::Ansible, Target::Compose]).unwrap();
        let template = file(
            &files,
            "ansible/roles/iotc_compose_stack/templates/docker-user.rules.j2",
        );
        let mut checked = 0;
        for site in docker_sites(&files) {
            let addr = |h: &str| {
                let i = site.hosts.iter().position(|(x, _)| x == h).unwrap();
                format!("10.9.0.{}", i + 1)
            };
            let mut vars = site.vars.clone();
            let hostvars: serde_json::Map<String, Value> = site
                .hosts
                .iter()
                .map(|(h, _)| {
                    (
                        h.clone(),
                        json!({ "ansible_facts": { "default_ipv4": { "address": addr(h) } } }),
                    )
                })
                .collect();
            vars["hostvars"] = Value::Object(hostvars);
            if vars.get("iotc_compose_stack_published").is_none() {
                vars["iotc_compose_stack_published"] = json!([]);
            }
            let rules = render(template, &vars);
            let doc = yaml(file(&files, site.vars["iotc_compose_stack_file"].as_str().unwrap()));
            for (svc, s) in doc["services"].as_object().unwrap() {
                // A peer is reached at a gateway's address (`extra_hosts`)
                // only when some gateway runs this service and no copy of
                // the peer; otherwise Compose's DNS finds it beside.
                for e in s["extra_hosts"].as_array().into_iter().flatten() {
                    let peer = e.as_str().unwrap().split(':').next().unwrap();
                    assert!(
                        site.hosts.iter().any(|(_, hv)| runs(hv, svc) && !runs(hv, peer)),
                        "{name}: {}: {svc} reaches {peer} through a host address though it runs only beside it",
                        site.name
                    );
                }
                let w = sol.workloads.iter().find(|w| &w.name == svc).unwrap();
                let callers: Vec<_> = sol.flows.iter().filter(|f| &f.to == svc).collect();
                let from_any = w.public || callers.iter().any(|f| !f.reach.is_local());
                // The gateways whose callers need the port: they run a
                // caller and no copy of the callee.
                let needs: Vec<&String> = site
                    .hosts
                    .iter()
                    .filter(|(_, hv)| callers.iter().any(|f| f.reach.is_local() && runs(hv, &f.from)))
                    .filter(|(_, hv)| !runs(hv, svc))
                    .map(|(h, _)| h)
                    .collect();
                let Some(port) = s["ports"].as_array().and_then(|p| p.first()) else {
                    assert!(
                        !from_any && needs.is_empty(),
                        "{name}: {}: {svc} is called from {needs:?} but publishes no port",
                        site.name
                    );
                    continue;
                };
                let port = port.as_str().unwrap();
                let (host, rest) = port.split_once(':').unwrap();
                let proto = if rest.ends_with("/udp") { "udp" } else { "tcp" };
                let first: u16 = host.split('-').next().unwrap().parse().unwrap();
                // Published only for a caller on a gateway without a copy
                // (or anyone): callers beside a copy use Compose's DNS.
                assert!(
                    from_any || !needs.is_empty(),
                    "{name}: {}: {svc} publishes {port} though every caller runs beside a copy",
                    site.name
                );
                for p in host.split('-').map(|x| x.parse::<u16>().unwrap()) {
                    // A gateway of the site is admitted iff it runs a
                    // caller (or anyone may call).
                    for (h, hv) in &site.hosts {
                        let calls = callers.iter().any(|f| f.reach.is_local() && runs(hv, &f.from));
                        let v = verdict(
                            &rules,
                            &Packet {
                                src: &addr(h),
                                iface: "eth0",
                                proto,
                                port: p,
                            },
                        );
                        let want = if from_any || calls { "RETURN" } else { "DROP" };
                        assert_eq!(v, want, "{name}: {}: {svc}:{p} from {h}\n{rules}", site.name);
                    }
                    let outsider = verdict(
                        &rules,
                        &Packet {
                            src: "192.0.2.7",
                            iface: "eth0",
                            proto,
                            port: p,
                        },
                    );
                    assert_eq!(outsider, if from_any { "RETURN" } else { "DROP" }, "{name}: {svc}:{p}");
                    let local = verdict(
                        &rules,
                        &Packet {
                            src: "172.18.0.5",
                            iface: "br-4f2a",
                            proto,
                            port: p,
                        },
                    );
                    assert_eq!(local, "RETURN", "{name}: {svc}:{p} from this gateway's containers");
                }
                // Other ports are left to Docker's own rules.
                let other = verdict(
                    &rules,
                    &Packet {
                        src: "192.0.2.7",
                        iface: "eth0",
                        proto,
                        port: first.wrapping_add(20000),
                    },
                );
                assert_eq!(other, "RETURN");
                checked += 1;
            }
        }
        assert!(checked > 0, "{name}: no published port");
        // The rules are in place before the stack is up.
        let tasks = tasks(&files, "iotc_compose_stack");
        let pos = |module: &str| tasks.iter().position(|t| t.get(module).is_some()).unwrap();
        let rules_task = &tasks[pos("ansible.builtin.blockinfile")];
        assert_eq!(
            rules_task["ansible.builtin.blockinfile"]["path"],
            json!("/etc/ufw/after.rules")
        );
        assert_eq!(rules_task["notify"], json!("Reload ufw"));
        assert_eq!(
            tasks[pos("ansible.builtin.blockinfile") + 1]["ansible.builtin.meta"],
            json!("flush_handlers")
        );
        assert!(pos("ansible.builtin.blockinfile") < pos("community.docker.docker_compose_v2"));
    }
}

#[test]
fn shared_services_run_on_the_hub_and_everyone_reaches_them_there() {
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::Ansible, Target::Compose]).unwrap();
        let plan = iotc_compiler::plan::render(&sol);
        let mut checked = 0;
        for fleet in sol.fleets.iter().filter(|f| f.runtime.kind == "compose") {
            for site in &fleet.sites {
                let hub = site
                    .hub
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name}: {} has no hub", site.name));
                assert!(site.hosts.contains(hub), "{name}: {hub}");
                let group = docker_sites(&files)
                    .into_iter()
                    .find(|g| g.vars["iotc_site"] == json!(site.name))
                    .unwrap();
                let hub_vars = &group.hosts.iter().find(|(h, _)| h == hub).unwrap().1;
                // Every workload with fewer copies than gateways (and at
                // least one) has one on the hub.
                let shared: Vec<&str> = sol
                    .workloads
                    .iter()
                    .filter(|w| match &w.placement {
                        iotc_compiler::ir::Placement::Fleet { fleet: f, sites } => {
                            f == &fleet.name
                                && sites
                                    .iter()
                                    .any(|p| *p.site == *site.name && p.replicas > 0 && p.replicas < site.gateways)
                        }
                        _ => false,
                    })
                    .map(|w| w.name.as_str())
                    .collect();
                for w in &shared {
                    assert!(runs(hub_vars, w), "{name}: {w} is not on the hub {hub}");
                }
                // Every gateway reaches them at the hub's address.
                for a in group.vars["iotc_compose_stack_addresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    assert_eq!(a["host"], json!(hub), "{name}: {a}");
                    assert!(shared.contains(&a["service"].as_str().unwrap()), "{name}: {a}");
                    checked += 1;
                }
                if !shared.is_empty() {
                    let line = format!("hub: {hub} runs {}", shared.join(", "));
                    assert!(plan.contains(&line), "{name}: the plan does not say `{line}`:\n{plan}");
                }
            }
        }
        assert!(checked > 0, "{name}: nothing reached at a hub");
    }
}

fn codes(src: &str) -> Vec<(String, String)> {
    let db = MemoryDb::new().with("main.iot", src);
    let a = analyze(&db, "main.iot", &Overrides::default());
    a.diagnostics
        .iter()
        .map(|d| {
            (
                d.code.as_str().to_string(),
                src[d.primary.span.start as usize..d.primary.span.end as usize].to_string(),
            )
        })
        .collect()
}

#[test]
fn a_hub_is_a_gateway_of_its_docker_site_and_battery_sites_name_one() {
    let with = |device: &str, runtime: &str, hub: &str| {
        FIXTURE
            .replace("std.devices.cm4_solar", device)
            .replace("runtime = docker", &format!("runtime = {runtime}"))
            .replace("    hub = \"gw2.a.example.internal\"\n", hub)
    };
    let named = codes(&with(
        "std.devices.cm4_solar",
        "docker",
        "    hub = \"gw2.a.example.internal\"\n",
    ));
    assert!(named.iter().all(|(c, _)| c != "W0403"), "{named:?}");
    let unnamed = codes(&with("std.devices.cm4_solar", "docker", ""));
    assert!(unnamed.contains(&("W0403".into(), "a".into())), "{unnamed:?}");
    let mains = codes(&with("std.devices.rpi5", "docker", ""));
    assert!(mains.iter().all(|(c, _)| c != "W0403"), "{mains:?}");
    let stranger = codes(&with(
        "std.devices.cm4_solar",
        "docker",
        "    hub = \"gw9.a.example.internal\"\n",
    ));
    assert!(
        stranger.contains(&("E0101".into(), "\"gw9.a.example.internal\"".into())),
        "{stranger:?}"
    );
    let k8s = codes(&with(
        "std.devices.rpi5",
        "k3s",
        "    hub = \"gw2.a.example.internal\"\n",
    ));
    assert!(
        k8s.contains(&("E0404".into(), "\"gw2.a.example.internal\"".into())),
        "{k8s:?}"
    );
}

/// Runs a broker's start script with `sh`, its files under `dir` and
/// `cat` in place of mosquitto: the config it would start with.
fn broker_config(script: &str, env: &[(&str, &str)], dir: &std::path::Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let script = script
        .replace("/tmp/", &format!("{}/", dir.display()))
        .replace("exec /usr/sbin/mosquitto -c", "exec cat");
    let out = Command::new("sh")
        .args(["-c", &script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_mqtt_broker_requires_passwords_on_compose_and_kubernetes_alike() {
    let scratch = std::env::temp_dir().join(format!("iotc-mqtt-{}", std::process::id()));
    let passwd = "recorder:$7$101$c2FsdA==$aGFzaA==";
    let mut brokers = 0;
    for (name, sol) in EXAMPLES
        .iter()
        .map(|n| (n.to_string(), example(n)))
        .chain(solutions().into_iter().filter(|(n, _)| n == "fixture"))
    {
        let files = emit(&sol, &[Target::Compose, Target::K8s]).unwrap();
        for w in sol
            .workloads
            .iter()
            .filter(|w| w.container.image.starts_with("eclipse-mosquitto"))
        {
            // The broker declares its password file; its callers have
            // credentials, by reference.
            assert!(
                w.container.secrets.iter().any(|s| s.name == "MQTT_PASSWORDS"),
                "{name}: {}",
                w.name
            );
            for f in sol.flows.iter().filter(|f| f.to == w.name) {
                let caller = sol.workloads.iter().find(|c| c.name == f.from).unwrap();
                assert!(
                    caller.container.secrets.iter().any(|s| s.name == "MQTT_PASSWORD")
                        && caller.container.env.contains_key("MQTT_USERNAME"),
                    "{name}: {} calls {} without credentials",
                    f.from,
                    w.name
                );
            }
            let port = w.container.port.unwrap();
            let check = |what: &str, config: &str| {
                assert!(config.contains("allow_anonymous false"), "{what}: {config}");
                assert!(config.contains(&format!("listener {port}\n")), "{what}: {config}");
                let file = config
                    .lines()
                    .find_map(|l| l.strip_prefix("password_file "))
                    .unwrap_or_else(|| panic!("{what}: no password file: {config}"));
                assert_eq!(std::fs::read_to_string(file).unwrap().trim_end(), passwd, "{what}");
            };
            for f in &files {
                if f.path.ends_with("compose.yaml") {
                    let doc = yaml(&f.contents);
                    let Some(s) = doc["services"].get(&w.name) else {
                        continue;
                    };
                    let argv: Vec<String> = s["entrypoint"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .chain(s["command"].as_array().into_iter().flatten())
                        .map(|a| a.as_str().unwrap().replace("$$", "$"))
                        .collect();
                    assert!(!argv.iter().any(|a| a.contains("no-auth")), "{name}: {}", f.path);
                    assert_eq!(argv[..2], ["/bin/sh", "-c"], "{name}: {}", f.path);
                    // Compose: the secret is a file, named by `_FILE`.
                    let env_file = s["environment"]["MQTT_PASSWORDS_FILE"].as_str().unwrap();
                    let secret = env_file.trim_start_matches("/run/secrets/");
                    assert!(s["secrets"].as_array().unwrap().contains(&json!(secret)), "{name}");
                    let dir = scratch.join(format!("{name}-compose-{brokers}"));
                    std::fs::create_dir_all(&dir).unwrap();
                    let mounted = dir.join("secret");
                    std::fs::write(&mounted, format!("{passwd}\n")).unwrap();
                    let config = broker_config(&argv[2], &[("MQTT_PASSWORDS_FILE", mounted.to_str().unwrap())], &dir);
                    check(&format!("{name}: {}", f.path), &config);
                    brokers += 1;
                } else if f.path.starts_with("k8s/") {
                    for d in f.contents.split("\n---\n").filter(|d| d.contains("kind: Deployment")) {
                        let doc = yaml(d);
                        let c0 = &doc["spec"]["template"]["spec"]["containers"][0];
                        if !c0["image"]
                            .as_str()
                            .unwrap_or_default()
                            .starts_with("eclipse-mosquitto")
                        {
                            continue;
                        }
                        let c = &doc["spec"]["template"]["spec"]["containers"][0];
                        let argv: Vec<String> = c["command"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .chain(c["args"].as_array().into_iter().flatten())
                            .map(|a| a.as_str().unwrap().to_string())
                            .collect();
                        assert_eq!(argv[..2], ["/bin/sh", "-c"], "{name}: {}", f.path);
                        // Kubernetes: the secret is an environment variable
                        // from the workload's Secret.
                        let env = c["env"].as_array().unwrap();
                        let from_secret = env.iter().any(|e| {
                            e["name"] == json!("MQTT_PASSWORDS")
                                && e["valueFrom"]["secretKeyRef"]["key"] == json!("MQTT_PASSWORDS")
                        });
                        let from_file = env.iter().any(|e| e["name"] == json!("MQTT_PASSWORDS_FILE"));
                        assert!(from_secret || from_file, "{name}: {}: {env:?}", f.path);
                        let dir = scratch.join(format!("{name}-k8s-{brokers}"));
                        let config = broker_config(&argv[2], &[("MQTT_PASSWORDS", passwd)], &dir);
                        check(&format!("{name}: {}", f.path), &config);
                        brokers += 1;
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(brokers >= 6, "{brokers} brokers checked");
}
