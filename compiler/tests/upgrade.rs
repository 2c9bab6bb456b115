#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! `ansible/playbooks/upgrade.yml` over every example and generated fleets
//! (an HA k3s site, microk8s, Docker): every cluster and site that Ansible
//! installs is upgraded by exactly one play, one host at a time, stopping
//! at the first failure; its servers come first; a Kubernetes node is
//! drained before its role runs, through a server of its own site, waits
//! for Ready, and is uncordoned after.

use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::Solution;
use iotc_compiler::source::MemoryDb;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

mod common;
use common::{checked, example, yaml, EXAMPLES};

fn generated(runtime: &str) -> Solution {
    let src = format!(
        r#"solution gen {{
  version = "1.0.0"
  namespace = "gen"
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
    gateways = 4
    hosts = "gw{{n}}.{{site}}.gen.internal"
  }}
}}

service collector on sites {{
  image = "eclipse-mosquitto:2.0.20"
  port = 8080
  cpu = 100m
  memory = 64Mi
}}
"#
    );
    let db = MemoryDb::new().with("gen/gen.iot", &src);
    checked(&db, "gen/gen.iot")
}

fn solutions() -> Vec<(String, Solution)> {
    let mut out: Vec<(String, Solution)> = EXAMPLES.iter().map(|e| (e.to_string(), example(e))).collect();
    for rt in ["k3s", "microk8s", "docker"] {
        out.push((format!("generated-{rt}"), generated(rt)));
    }
    out
}

fn file<'a>(files: &'a [OutputFile], path: &str) -> Option<&'a str> {
    files.iter().find(|f| f.path == path).map(|f| f.contents.as_str())
}

/// Every group by name: (the hosts under it, recursively; its own and its
/// ancestors' vars merged).
fn groups(inv: &Value) -> BTreeMap<String, (Vec<String>, Value)> {
    fn walk(
        name: &str,
        g: &Value,
        inherited: &serde_json::Map<String, Value>,
        out: &mut BTreeMap<String, (Vec<String>, Value)>,
    ) -> Vec<String> {
        let mut vars = inherited.clone();
        if let Some(v) = g["vars"].as_object() {
            vars.extend(v.clone());
        }
        let mut hosts: Vec<String> = g["hosts"]
            .as_object()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(children) = g["children"].as_object() {
            for (k, c) in children {
                hosts.extend(walk(k, c, &vars, out));
            }
        }
        let entry = out
            .entry(name.to_string())
            .or_insert_with(|| (Vec::new(), Value::Object(vars)));
        entry.0.extend(hosts.iter().cloned());
        hosts
    }
    let mut out = BTreeMap::new();
    walk("all", &inv["all"], &serde_json::Map::new(), &mut out);
    out
}

fn names(tasks: &Value) -> Vec<String> {
    tasks
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_installed_site_is_upgraded_one_host_at_a_time_servers_first() {
    let mut checked_nodes = 0;
    let mut kubeadm_plays = 0;
    let mut drained_via_other_server = 0;
    let mut docker_hosts = 0;
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::Ansible]).unwrap();
        let inv = groups(&yaml(file(&files, "ansible/inventory.yaml").unwrap()));
        let members =
            |g: &str| -> BTreeSet<String> { inv.get(g).map(|(h, _)| h.iter().cloned().collect()).unwrap_or_default() };
        let (k3s_servers, microk8s_servers) = (members("k3s_servers"), members("microk8s_servers"));
        let kubeadm_servers = members("kubeadm_servers");
        let servers: BTreeSet<String> = k3s_servers
            .union(&microk8s_servers)
            .chain(&kubeadm_servers)
            .cloned()
            .collect();
        let kube: BTreeSet<String> = [
            "k3s_servers",
            "k3s_agents",
            "microk8s_servers",
            "microk8s_agents",
            "kubeadm_servers",
            "kubeadm_workers",
        ]
        .iter()
        .flat_map(|g| members(g))
        .collect();
        let docker = members("docker_hosts");
        // The units to upgrade: the site and cluster groups holding hosts
        // that Ansible installs.
        let units: BTreeMap<&String, BTreeSet<String>> = inv
            .iter()
            .filter(|(g, _)| g.starts_with("site_") || g.starts_with("cluster_"))
            .map(|(g, (h, _))| {
                (
                    g,
                    h.iter()
                        .filter(|h| kube.contains(*h) || docker.contains(*h))
                        .cloned()
                        .collect::<BTreeSet<_>>(),
                )
            })
            .filter(|(_, h)| !h.is_empty())
            .collect();
        let Some(text) = file(&files, "ansible/playbooks/upgrade.yml") else {
            assert!(
                units.is_empty(),
                "{name}: no upgrade.yml although Ansible installs {units:?}"
            );
            continue;
        };
        assert!(
            !file(&files, "ansible/site.yml").unwrap().contains("upgrade.yml"),
            "{name}: upgrade.yml is run on purpose, not by site.yml"
        );
        let plays = yaml(text);
        let mut covered: BTreeMap<String, usize> = BTreeMap::new();
        for play in plays.as_array().unwrap() {
            let pname = play["name"].as_str().unwrap();
            if !pname.starts_with("Upgrade ") {
                assert_eq!(
                    play["hosts"], "k3s_init",
                    "{name}: only the token read precedes the upgrades"
                );
                continue;
            }
            let hosts: Vec<String> = play["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().to_string())
                .collect();
            assert_eq!(play["serial"], 1, "{name}: {pname}: one host at a time");
            assert_eq!(
                play["max_fail_percentage"], 0,
                "{name}: {pname}: stops at the first failure"
            );
            assert_eq!(play["become"], true);
            // Exactly one unit's hosts.
            let set: BTreeSet<String> = hosts.iter().cloned().collect();
            assert_eq!(set.len(), hosts.len(), "{name}: {pname}: a host twice");
            let unit = units
                .iter()
                .find(|(_, h)| **h == set)
                .unwrap_or_else(|| panic!("{name}: {pname}: {hosts:?} is not one site or cluster"));
            *covered.entry(unit.0.to_string()).or_default() += 1;
            let roles: Vec<&str> = play["roles"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| r["role"].as_str().unwrap())
                .collect();
            if hosts.iter().all(|h| docker.contains(h)) {
                assert_eq!(roles, ["iotc_docker", "iotc_compose_stack"], "{name}: {pname}");
                assert!(
                    play["pre_tasks"][0]["loop"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("groups['{}']", unit.0)),
                    "{name}: {pname}: the site's gateways' facts (addresses) are gathered"
                );
                docker_hosts += hosts.len();
                continue;
            }
            assert!(
                hosts.iter().all(|h| kube.contains(h)),
                "{name}: {pname}: Docker and Kubernetes hosts mixed"
            );
            // Servers first, and the play's servers are this site's servers.
            let first_agent = hosts.iter().position(|h| !servers.contains(h)).unwrap_or(hosts.len());
            assert!(
                hosts[first_agent..].iter().all(|h| !servers.contains(h)),
                "{name}: {pname}: servers first: {hosts:?}"
            );
            let play_servers: Vec<String> = play["vars"]["iotc_upgrade_servers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            assert_eq!(
                play_servers,
                hosts[..first_agent],
                "{name}: {pname}: iotc_upgrade_servers are the site's servers"
            );
            assert!(!play_servers.is_empty(), "{name}: {pname}: a site without a server");
            // The first server is the one that initialised the site.
            let init: BTreeSet<String> = members("k3s_init")
                .union(&members("microk8s_init"))
                .chain(&members("kubeadm_init"))
                .cloned()
                .collect();
            assert!(init.contains(&hosts[0]), "{name}: {pname}: the first server first");
            assert_eq!(
                play["vars"]["iotc_upgrade_via"],
                "{{ (iotc_upgrade_servers | difference([inventory_hostname]) + iotc_upgrade_servers) | first }}"
            );
            assert_eq!(
                play["vars"]["iotc_upgrade_drain"],
                hosts.len() > 1,
                "{name}: {pname}: drain when pods can move"
            );
            if kubeadm_servers.contains(&hosts[0]) {
                // kubeadm's own order, in `kubeadm_clusters_upgrade_the_kubeadm_way`.
                assert!(roles.is_empty(), "{name}: {pname}: {roles:?}");
                kubeadm_plays += 1;
                checked_nodes += hosts.len();
                continue;
            }
            let role = if k3s_servers.contains(&hosts[0]) {
                "iotc_k3s"
            } else {
                "iotc_microk8s"
            };
            assert_eq!(roles, [role], "{name}: {pname}");
            // Drain before the role, through a server of the site.
            let pre = &play["pre_tasks"];
            assert_eq!(
                names(pre),
                ["Cordon and drain the node through a server of its site"],
                "{name}: {pname}"
            );
            let drain = &pre[0];
            assert_eq!(
                drain["ansible.builtin.command"]["argv"],
                "{{ iotc_upgrade_kubectl + iotc_upgrade_drain_args }}"
            );
            let args = play["vars"]["iotc_upgrade_drain_args"].to_string();
            for flag in [
                r#""drain","{{ inventory_hostname }}""#,
                "--ignore-daemonsets",
                "--delete-emptydir-data",
                "--timeout=",
            ] {
                assert!(args.contains(flag), "{name}: {pname}: drain lacks {flag}: {args}");
            }
            let kubectl = play["vars"]["iotc_upgrade_kubectl"].to_string();
            let engine = if role == "iotc_k3s" { "k3s" } else { "microk8s" };
            assert!(kubectl.contains(engine), "{name}: {pname}: {kubectl}");
            assert_eq!(drain["delegate_to"], "{{ iotc_upgrade_via }}");
            // Wait Ready, then uncordon, after the role (handlers flushed).
            let post = &play["post_tasks"];
            assert_eq!(
                names(post),
                ["Wait until the node is Ready at the new version", "Uncordon the node"],
                "{name}: {pname}"
            );
            assert_eq!(
                post[0]["ansible.builtin.command"]["argv"],
                "{{ iotc_upgrade_kubectl + iotc_upgrade_ready_args }}"
            );
            let ready = play["vars"]["iotc_upgrade_ready_args"].to_string();
            assert!(
                ready.contains(r#"{{ inventory_hostname }}"#) && ready.contains(r#"@.type==\"Ready\")].status}"#),
                "{name}: {pname}: {ready}"
            );
            assert!(
                play["vars"]["iotc_upgrade_ready_want"]
                    .as_str()
                    .unwrap()
                    .starts_with("True v")
                    || play["vars"]["iotc_upgrade_ready_want"] == "True {{ iotc_runtime_version }}",
                "{name}: {pname}: waits for Ready at the new version"
            );
            assert!(post[0]["until"].as_str().unwrap().contains("iotc_upgrade_ready_want"));
            assert!(post[0]["retries"].as_u64().unwrap() >= 30);
            assert!(post[1]["ansible.builtin.command"]["argv"]
                .as_str()
                .unwrap()
                .contains("'uncordon', inventory_hostname"));
            for t in [drain, &post[0], &post[1]] {
                assert_eq!(
                    t["delegate_to"], "{{ iotc_upgrade_via }}",
                    "{name}: {pname}: {}",
                    t["name"]
                );
            }
            // What the delegate evaluates to, per host (the other servers,
            // then all of them; the first): a server of the same site,
            // another one whenever the site has one.
            for h in &hosts {
                let via = play_servers
                    .iter()
                    .filter(|s| *s != h)
                    .chain(&play_servers)
                    .next()
                    .unwrap();
                assert!(
                    set.contains(via) && servers.contains(via),
                    "{name}: {pname}: {h} via {via}"
                );
                if play_servers.len() > 1 {
                    assert_ne!(via, h);
                    drained_via_other_server += 1;
                }
                checked_nodes += 1;
            }
        }
        for unit in units.keys() {
            assert_eq!(
                covered.get(unit.as_str()),
                Some(&1),
                "{name}: {unit} is upgraded by exactly one play"
            );
        }
    }
    assert!(checked_nodes >= 20, "{checked_nodes}");
    assert!(kubeadm_plays >= 1, "no kubeadm cluster's upgrade checked");
    assert!(
        drained_via_other_server > 0,
        "an HA site drains its servers through another server"
    );
    assert!(docker_hosts > 0);
}

/// A kubeadm cluster is upgraded in the order of kubeadm's own guide
/// ("Upgrading kubeadm clusters"), one node at a time, control plane
/// first: kubeadm itself, then `kubeadm upgrade plan`/`apply` on the first
/// control-plane node and `kubeadm upgrade node` on every other, then the
/// drain through a control-plane node, kubelet and kubectl, the kubelet's
/// restart, Ready at the new version, uncordon. A node is checked to be at
/// most one minor behind before anything changes, and a node already at
/// the version is left alone.
#[test]
fn kubeadm_clusters_upgrade_the_kubeadm_way() {
    let mut plays_checked = 0;
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::Ansible]).unwrap();
        let inv = groups(&yaml(file(&files, "ansible/inventory.yaml").unwrap()));
        let Some(text) = file(&files, "ansible/playbooks/upgrade.yml") else {
            continue;
        };
        for c in sol.clusters.iter().filter(|c| c.distribution == "kubeadm") {
            let group = format!("cluster_{}", c.name.replace('-', "_"));
            let (hosts, vars) = &inv[&group];
            let plays = yaml(text);
            let play = plays
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"].as_str().unwrap().starts_with(&format!("Upgrade {group} ")))
                .unwrap_or_else(|| panic!("{name}: no upgrade play for {group}"));
            let control: Vec<String> = c.control_plane_hosts(&sol.name);
            let play_hosts: Vec<String> = play["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap().to_string())
                .collect();
            assert_eq!(play_hosts[..control.len()], control[..], "{name}: control plane first");
            assert_eq!(play_hosts.len(), hosts.len(), "{name}: every node of {group}");
            assert_eq!(play["vars"]["iotc_upgrade_servers"], serde_json::json!(control));
            assert!(vars["iotc_kubeadm_package_version"].is_string() && vars["iotc_kubeadm_repository"].is_string());
            assert_eq!(
                names(&play["pre_tasks"]),
                [
                    "Read the installed kubeadm version",
                    "Upgrade one minor version at a time"
                ],
                "{name}: the skew is checked before anything changes"
            );
            let tasks = names(&play["tasks"]);
            let at = |t: &str| {
                tasks
                    .iter()
                    .position(|x| x == t)
                    .unwrap_or_else(|| panic!("{name}: no task {t}: {tasks:?}"))
            };
            let order = [
                "Upgrade kubeadm first",
                "Read the version kubeadm upgrades to",
                "Check the upgrade (first control-plane node)",
                "Upgrade the control plane (first control-plane node)",
                "Upgrade the node's kubeadm configuration (other nodes)",
                "Cordon and drain the node through a control-plane node",
                "Upgrade kubelet and kubectl",
                "Restart the kubelet",
            ];
            for w in order.windows(2) {
                assert!(at(w[0]) < at(w[1]), "{name}: {} before {}", w[0], w[1]);
            }
            let task = |t: &str| &play["tasks"][at(t)];
            let cond = |t: &str| task(t)["when"].to_string();
            let behind = "iotc_upgrade_node_version.stdout != iotc_upgrade_to.stdout";
            assert!(cond("Upgrade the control plane (first control-plane node)")
                .contains("inventory_hostname == iotc_upgrade_servers[0]"));
            assert!(cond("Upgrade the node's kubeadm configuration (other nodes)")
                .contains("not (inventory_hostname == iotc_upgrade_servers[0])"));
            for t in &order[2..] {
                assert!(cond(t).contains(behind), "{name}: {t} only on a node below the version");
            }
            assert_eq!(
                task("Upgrade the control plane (first control-plane node)")["ansible.builtin.command"]["argv"],
                serde_json::json!([
                    "/usr/bin/kubeadm",
                    "upgrade",
                    "apply",
                    "--yes",
                    "{{ iotc_upgrade_to.stdout }}"
                ])
            );
            assert_eq!(
                task("Cordon and drain the node through a control-plane node")["delegate_to"],
                "{{ iotc_upgrade_via }}"
            );
            assert_eq!(
                names(&play["post_tasks"]),
                ["Wait until the node is Ready at the new version", "Uncordon the node"]
            );
            // The skew check, evaluated: from the previous minor or the same
            // one only.
            let out = common::python(
                r#"
import json, sys, jinja2
d = json.load(sys.stdin)
env = jinja2.Environment()
prev = env.from_string(d["prev"]).render(iotc_runtime_version=d["target"])
out = {}
for v in ["v1.32.7", "v1.33.1", "v1.31.0", "v1.34.0"]:
    ctx = dict(iotc_upgrade_from={"stdout": v}, iotc_runtime_version=d["target"], iotc_upgrade_previous_minor=prev)
    out[v] = all(env.compile_expression(t)(**ctx) for t in d["that"])
print(json.dumps(out))
"#,
                &serde_json::json!({
                    "prev": play["vars"]["iotc_upgrade_previous_minor"],
                    "target": "1.33",
                    "that": play["pre_tasks"][1]["ansible.builtin.assert"]["that"],
                }),
            );
            let verdicts: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(
                verdicts,
                serde_json::json!({"v1.32.7": true, "v1.33.1": true, "v1.31.0": false, "v1.34.0": false}),
                "{name}: the skew check"
            );
            plays_checked += 1;
        }
    }
    assert!(plays_checked >= 1, "{plays_checked}");
}
