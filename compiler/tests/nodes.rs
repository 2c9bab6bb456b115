#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! How the Ansible output names and labels Kubernetes nodes, over every
//! example (issue 10, findings 3 and 7):
//!
//! - every node of a Kubernetes fleet or cluster registers under its own
//!   inventory host name, which is a valid node name and unique in the
//!   inventory: k3s `node-name`, microk8s `--hostname-override` (before
//!   the node joins) and kubeadm `nodeRegistration.name` all say
//!   `inventory_hostname`, never the short host name (`cam1` at three
//!   sites would be one node);
//! - nodes are labelled and tainted only after they registered: the
//!   labelling play runs after every play that installs or joins a node,
//!   waits for the node with retries, and retries each label.

use iotc_compiler::emit::{emit, OutputFile, Target};
use serde_json::Value;
use std::collections::BTreeMap;

mod common;
use common::{example, yaml, EXAMPLES};

fn file<'a>(files: &'a [OutputFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} is generated"))
        .contents
}

fn has(files: &[OutputFile], path: &str) -> bool {
    files.iter().any(|f| f.path == path)
}

/// Every host of the inventory with the groups it is listed in
/// (`group path` → the host's vars merged from the root down).
fn hosts(
    group: &Value,
    path: &str,
    vars: &serde_json::Map<String, Value>,
    out: &mut BTreeMap<String, Vec<(String, Value)>>,
) {
    let mut vars = vars.clone();
    if let Some(Value::Object(v)) = group.get("vars") {
        vars.extend(v.clone());
    }
    if let Some(Value::Object(hs)) = group.get("hosts") {
        for h in hs.keys() {
            out.entry(h.clone())
                .or_default()
                .push((path.to_string(), Value::Object(vars.clone())));
        }
    }
    if let Some(Value::Object(children)) = group.get("children") {
        for (name, child) in children {
            hosts(child, &format!("{path}/{name}"), &vars, out);
        }
    }
}

/// A valid Kubernetes node name: a lowercase RFC 1123 subdomain.
fn valid_node_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

#[test]
fn every_node_registers_under_its_own_inventory_host() {
    let mut nodes_checked = 0;
    let mut engines_seen = Vec::new();
    for name in EXAMPLES {
        let files = emit(&example(name), &[Target::Ansible]).unwrap();
        let inv = yaml(file(&files, "ansible/inventory.yaml"));
        let mut all = BTreeMap::new();
        hosts(&inv["all"], "all", &serde_json::Map::new(), &mut all);
        for (host, groups) in &all {
            // A site or pool group lists each host once; the other groups
            // (`<engine>_init`, `_servers`, `_agents`) only point at it.
            let placed: Vec<&(String, Value)> = groups
                .iter()
                .filter(|(g, _)| g.contains("/site_") || g.contains("/pool_"))
                .collect();
            if placed.is_empty() {
                continue;
            }
            assert_eq!(
                placed.len(),
                1,
                "{name}: {host} is in one site or pool only: {groups:?}"
            );
            let vars = &placed[0].1;
            if vars["iotc_runtime_kind"] != "kubernetes" && vars.get("iotc_distribution").is_none() {
                continue;
            }
            let Some(node_name) = vars.get("iotc_k8s_node_name") else {
                // A managed cluster's nodes (EKS) are named by the cloud.
                assert_eq!(vars["iotc_distribution"], "eks", "{name}: {host} names its node");
                continue;
            };
            assert_eq!(node_name, "{{ inventory_hostname }}", "{name}: {host}");
            assert!(valid_node_name(host), "{name}: {host} is a valid node name");
            nodes_checked += 1;
            let engine = vars["iotc_runtime"]
                .as_str()
                .or(vars["iotc_distribution"].as_str())
                .unwrap();
            if !engines_seen.contains(&engine.to_string()) {
                engines_seen.push(engine.to_string());
            }
        }
        // Unique even ignoring case and the domain's trailing dot.
        let mut lower: Vec<String> = all.keys().map(|h| h.trim_end_matches('.').to_lowercase()).collect();
        let n = lower.len();
        lower.sort();
        lower.dedup();
        assert_eq!(lower.len(), n, "{name}: inventory host names are unique");

        // Each engine's own setting says the same.
        let k3s = "ansible/roles/iotc_k3s/templates/config.yaml.j2";
        if has(&files, k3s) {
            assert!(
                file(&files, k3s)
                    .lines()
                    .any(|l| l == "node-name: {{ inventory_hostname | to_json }}"),
                "{name}: k3s node-name"
            );
        }
        let microk8s = "ansible/roles/iotc_microk8s/tasks/main.yml";
        if has(&files, microk8s) {
            let tasks: Vec<Value> = serde_norway::from_str(file(&files, microk8s)).unwrap();
            let pos = |pred: &dyn Fn(&Value) -> bool| tasks.iter().position(pred);
            let rename = pos(&|t| {
                t["ansible.builtin.lineinfile"]["path"] == "/var/snap/microk8s/current/args/kubelet"
                    && t["ansible.builtin.lineinfile"]["line"] == "--hostname-override={{ inventory_hostname }}"
            })
            .expect("microk8s: the kubelet is named after the inventory host");
            let flush = pos(&|t| t["ansible.builtin.meta"] == "flush_handlers").expect("microk8s: handlers flushed");
            let join = pos(&|t| {
                t["ansible.builtin.command"]["argv"]
                    .as_str()
                    .is_some_and(|a| a.contains("'join'"))
            })
            .expect("microk8s: a join task");
            assert!(
                rename < flush && flush < join,
                "{name}: microk8s renames the node and restarts before it joins"
            );
        }
        let kubeadm = "ansible/roles/iotc_kubeadm/templates/kubeadm-config.yaml.j2";
        if has(&files, kubeadm) {
            let text = file(&files, kubeadm);
            assert!(text.contains("nodeRegistration:"), "{name}: kubeadm nodeRegistration");
            assert!(
                text.lines()
                    .any(|l| l.trim() == "name: {{ inventory_hostname | to_json }}"),
                "{name}: kubeadm node name"
            );
        }
    }
    assert!(nodes_checked >= 20, "nodes checked: {nodes_checked}");
    for e in ["k3s", "microk8s", "kubeadm"] {
        assert!(
            engines_seen.iter().any(|s| s == e),
            "an example runs {e}: {engines_seen:?}"
        );
    }
}

/// The roles a play of the node playbooks applies, in order.
fn play_roles(play: &Value) -> Vec<String> {
    play["roles"]
        .as_array()
        .map(|rs| rs.iter().map(|r| r["role"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn nodes_are_labelled_after_they_register_with_retries() {
    let mut labelled = 0;
    for name in EXAMPLES {
        let files = emit(&example(name), &[Target::Ansible]).unwrap();
        let tasks_path = "ansible/roles/iotc_k8s_node/tasks/main.yml";
        if !has(&files, tasks_path) {
            continue;
        }
        // The site playbook runs the control planes, then the workers.
        let site: Vec<Value> = serde_norway::from_str(file(&files, "ansible/site.yml")).unwrap();
        let order: Vec<&str> = site
            .iter()
            .map(|p| p["ansible.builtin.import_playbook"].as_str().unwrap())
            .collect();
        assert_eq!(
            order.get(..3),
            Some(
                &[
                    "playbooks/prepare.yml",
                    "playbooks/control-plane.yml",
                    "playbooks/workers.yml"
                ][..]
            ),
            "{name}"
        );
        let mut plays: Vec<Value> = Vec::new();
        for p in ["control-plane", "workers"] {
            plays.extend(
                serde_norway::from_str::<Vec<Value>>(file(&files, &format!("ansible/playbooks/{p}.yml"))).unwrap(),
            );
        }
        let installs = ["iotc_k3s", "iotc_microk8s", "iotc_kubeadm"];
        let last_install = plays
            .iter()
            .rposition(|p| play_roles(p).iter().any(|r| installs.contains(&r.as_str())))
            .expect("a play installs Kubernetes");
        let label_plays: Vec<usize> = plays
            .iter()
            .enumerate()
            .filter(|(_, p)| play_roles(p).iter().any(|r| r == "iotc_k8s_node"))
            .map(|(i, _)| i)
            .collect();
        assert!(!label_plays.is_empty(), "{name}: nodes are labelled");
        for i in &label_plays {
            assert!(
                *i > last_install,
                "{name}: play {i} labels nodes before the last join ({last_install})"
            );
            labelled += 1;
        }

        let tasks: Vec<Value> = serde_norway::from_str(file(&files, tasks_path)).unwrap();
        let wait = &tasks[0];
        assert!(
            wait["ansible.builtin.command"]["argv"]
                .as_str()
                .unwrap()
                .contains("'get', 'node'"),
            "{name}: the first task waits for the node"
        );
        assert!(
            wait["until"].as_str().unwrap().contains("rc == 0"),
            "{name}: until registered"
        );
        let patience = wait["retries"].as_u64().unwrap() * wait["delay"].as_u64().unwrap();
        assert!(patience >= 120, "{name}: waits {patience} s for a node to register");
        let label = tasks
            .iter()
            .position(|t| {
                t["ansible.builtin.command"]["argv"]
                    .as_str()
                    .is_some_and(|a| a.contains("'label', 'node'"))
            })
            .expect("a label task");
        assert!(label > 0, "{name}: labels after the wait");
        assert!(
            tasks[label]["retries"].as_u64().unwrap() >= 1,
            "{name}: each label is retried"
        );
        assert!(
            tasks[label]["until"].as_str().unwrap().contains("rc == 0"),
            "{name}: label until done"
        );
        // Every node-touching task runs on the node's server, not the node.
        for t in &tasks {
            assert_eq!(t["delegate_to"], "{{ iotc_k8s_node_server }}", "{name}: {}", t["name"]);
        }
    }
    assert!(labelled >= 3, "label plays checked: {labelled}");
}

/// Issue 10, finding 12: a Raspberry Pi boots with the memory cgroup off,
/// and the kubelet does not start without it. The prepare role's edit of
/// `/boot/firmware/cmdline.txt`, applied with Python's `re` as Ansible's
/// `replace` module does (MULTILINE), adds the flags once, keeps the line
/// one line, and changes nothing the second time; it runs only on
/// Kubernetes fleets, and a reboot follows at once.
#[test]
fn a_raspberry_pi_gets_the_memory_cgroup_once() {
    use common::python;
    for name in EXAMPLES {
        let files = emit(&example(name), &[Target::Ansible]).unwrap();
        let tasks: Vec<Value> =
            serde_norway::from_str(file(&files, "ansible/roles/iotc_prepare/tasks/main.yml")).unwrap();
        let i = tasks
            .iter()
            .position(|t| t["ansible.builtin.replace"]["path"] == "/boot/firmware/cmdline.txt")
            .expect("the cmdline edit");
        let t = &tasks[i];
        let when = t["when"].as_str().unwrap();
        assert!(
            when.contains("iotc_prepare_rpi_cmdline.stat.exists"),
            "{name}: Pis only: {when}"
        );
        assert!(
            when.contains("== 'kubernetes'"),
            "{name}: Kubernetes fleets only: {when}"
        );
        assert_eq!(t["notify"], "Reboot for the kernel command line", "{name}");
        assert_eq!(
            tasks[i + 1]["ansible.builtin.meta"],
            "flush_handlers",
            "{name}: reboot at once"
        );
        let handlers: Vec<Value> =
            serde_norway::from_str(file(&files, "ansible/roles/iotc_prepare/handlers/main.yml")).unwrap();
        assert!(
            handlers
                .iter()
                .any(|h| h["name"] == "Reboot for the kernel command line" && h.get("ansible.builtin.reboot").is_some()),
            "{name}: the reboot handler"
        );
        let out = python(
            r#"
import json, re, sys
t = json.load(sys.stdin)
def apply(text):
    return re.compile(t["regexp"], re.MULTILINE).sub(t["replace"].replace("\\1", "\\g<1>"), text)
lines = [
    "console=serial0,115200 console=tty1 root=PARTUUID=1234-02 rootfstype=ext4 fsck.repair=yes rootwait\n",
    "console=tty1 root=/dev/mmcblk0p2 rootwait cgroup_enable=memory cgroup_memory=1\n",
]
res = []
for l in lines:
    once = apply(l)
    res.append([once, apply(once)])
print(json.dumps(res))
"#,
            &t["ansible.builtin.replace"],
        );
        let res: Vec<Vec<String>> = serde_json::from_str(&out).unwrap();
        let (once, twice) = (&res[0][0], &res[0][1]);
        // (The final newline goes with `\s*$`; the firmware reads the line
        // either way.)
        assert!(
            once.ends_with(" rootwait cgroup_enable=memory cgroup_memory=1"),
            "{name}: {once:?}"
        );
        assert_eq!(once.lines().count(), 1, "{name}: one line: {once:?}");
        assert_eq!(once, twice, "{name}: the second run changes nothing");
        assert_eq!(
            res[1][0].trim_end(),
            "console=tty1 root=/dev/mmcblk0p2 rootwait cgroup_enable=memory cgroup_memory=1",
            "{name}: a line that has the flags keeps them once"
        );
    }
}
