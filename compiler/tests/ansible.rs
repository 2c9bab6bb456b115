#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The Ansible backend on every shipped example: every file snapshotted,
//! two builds byte-identical, the inventory follows the knobs, no secret
//! value ever appears, k3s for the factory and Compose stacks for energy.
//!
//! With `IOTC_ANSIBLE_OUT=DIR`, every target's files of each example are
//! also written to `DIR/<example>/` (for `validate-outputs`).

use iotc_compiler::emit::{self, OutputFile, Target};
use iotc_compiler::ir::Solution;
use iotc_compiler::source::{ReadError, SourceDb};
use iotc_compiler::{analyze, Overrides};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod common;

struct Fs;

impl SourceDb for Fs {
    fn read(&self, path: &str) -> Result<String, ReadError> {
        std::fs::read_to_string(path).map_err(|e| ReadError(e.to_string()))
    }
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// `(name, root file)` of every example (not `errors/`): the `.iot` file
/// named like its folder.
fn examples() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.file_name().unwrap() != "errors")
        .collect();
    dirs.sort();
    for d in dirs {
        let name = d.file_name().unwrap().to_string_lossy().to_string();
        let root = d.join(format!("{name}.iot"));
        assert!(root.exists(), "{} has no {name}.iot", d.display());
        out.push((name, root));
    }
    assert!(out.len() >= 3, "expected the factory, energy and city examples");
    out
}

fn solution(root: &Path, sets: &[&str]) -> Solution {
    let overrides = Overrides {
        values: None,
        sets: sets.iter().map(|s| s.to_string()).collect(),
    };
    let a = analyze(&Fs, root.to_str().unwrap(), &overrides);
    assert!(!a.has_errors(), "{}: {:?}", root.display(), a.diagnostics);
    a.solution.expect("a solution")
}

fn ansible(sol: &Solution) -> Vec<OutputFile> {
    emit::emit(sol, &[Target::Ansible]).unwrap()
}

fn file<'a>(files: &'a [OutputFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no {path}"))
        .contents
}

#[test]
fn snapshots_of_every_file() {
    let out_dir = std::env::var_os("IOTC_ANSIBLE_OUT").map(PathBuf::from);
    for (name, root) in examples() {
        let sol = solution(&root, &[]);
        let files = ansible(&sol);
        assert!(files.iter().all(|f| f.path.starts_with("ansible/")));
        assert_eq!(files, ansible(&sol), "{name}: two emits differ");
        for f in &files {
            let snap = f.path.replace('/', "__");
            insta::with_settings!({
                snapshot_path => format!("../../snapshots/ansible/{name}"),
                prepend_module_to_snapshot => false,
                omit_expression => true,
            }, {
                insta::assert_snapshot!(snap, f.contents);
            });
        }
        if let Some(dir) = &out_dir {
            let all = emit::emit(&sol, Target::ALL).unwrap();
            let base = dir.join(&name);
            let _ = std::fs::remove_dir_all(&base);
            for f in all {
                let p = base.join(&f.path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, f.contents).unwrap();
            }
        }
    }
}

/// Host names per group of `inventory.yaml`: the keys under each `hosts:`,
/// by the group that holds them.
fn inventory_hosts(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    for (i, l) in lines.iter().enumerate() {
        if l.trim() != "hosts:" {
            continue;
        }
        let base = indent(l);
        // The group is the nearest line above with less indentation.
        let group = lines[..i]
            .iter()
            .rev()
            .find(|g| indent(g) < base)
            .map(|g| g.trim().trim_end_matches(':').to_string())
            .unwrap();
        let mut hosts = Vec::new();
        for h in &lines[i + 1..] {
            if indent(h) <= base {
                break;
            }
            if indent(h) == base + 2 {
                let key = h.trim().split(':').next().unwrap().to_string();
                hosts.push(key);
            }
        }
        out.insert(group, hosts);
    }
    out
}

fn group(s: &str) -> String {
    iotc_compiler::emit::ansible::group_name(s)
}

/// Every site group lists exactly the site's gateways then standby hosts.
fn assert_inventory_matches(sol: &Solution, files: &[OutputFile]) {
    let hosts = inventory_hosts(file(files, "ansible/inventory.yaml"));
    for f in &sol.fleets {
        for s in &f.sites {
            let g = format!("site_{}_{}", group(&f.name), group(&s.name));
            let mut want = s.hosts.clone();
            want.extend(s.standby_hosts.iter().cloned());
            assert_eq!(hosts.get(&g), Some(&want), "group {g}");
            assert_eq!(s.hosts.len() as u32, s.gateways);
        }
    }
}

#[test]
fn scaling_a_knob_changes_the_inventory_as_the_plan_says() {
    let ex = examples_dir();
    for (root, knob, values) in [
        (ex.join("factory/factory.iot"), "factor", [1u32, 2, 3]),
        (ex.join("energy/energy.iot"), "turbines", [1, 6, 12]),
        (ex.join("city/city.iot"), "cameras_per_district", [1, 4, 8]),
    ] {
        let mut totals = Vec::new();
        for v in values {
            let set = format!("{knob}={v}");
            let sol = solution(&root, &[&set]);
            let files = ansible(&sol);
            assert_inventory_matches(&sol, &files);
            let hosts = inventory_hosts(file(&files, "ansible/inventory.yaml"));
            let site_hosts: usize = hosts
                .iter()
                .filter(|(g, _)| g.starts_with("site_"))
                .map(|(_, h)| h.len())
                .sum();
            let ir_hosts: usize = sol
                .fleets
                .iter()
                .flat_map(|f| &f.sites)
                .map(|s| s.hosts.len() + s.standby_hosts.len())
                .sum();
            assert_eq!(site_hosts, ir_hosts);
            totals.push(site_hosts);
        }
        assert!(totals.windows(2).all(|w| w[0] < w[1]), "{knob}: {totals:?}");
    }
    // Named exactly as the pattern expands: factor=3 gives plant A 12 gateways.
    let sol = solution(&ex.join("factory/factory.iot"), &["factor=3"]);
    let hosts = inventory_hosts(file(&ansible(&sol), "ansible/inventory.yaml"));
    let plant_a: Vec<String> = (1..=12).map(|n| format!("gw{n}.plant-a.acme.internal")).collect();
    assert_eq!(hosts["site_plants_plant_a"], plant_a);
    // Energy: every gateway gets its share of the site's stack.
    let sol = solution(&ex.join("energy/energy.iot"), &["turbines=12"]);
    let hosts = inventory_hosts(file(&ansible(&sol), "ansible/inventory.yaml"));
    assert_eq!(hosts["docker_hosts"].len(), 12 + 12 + 24);
    assert_eq!(
        hosts["site_farms_north_bank"].last().unwrap(),
        "wtg24.north-bank.windco.internal"
    );
}

#[test]
fn no_secret_value_is_ever_emitted() {
    const SENTINEL: &str = "iotc-sentinel-3f9c2a";
    // Every env reference of every example gets a sentinel value, and a
    // file with one is put where a file reference could be read from.
    let dir = std::env::temp_dir().join(format!("iotc-ansible-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, root) in examples() {
        let sol = solution(&root, &[]);
        for w in &sol.workloads {
            for s in &w.container.secrets {
                std::env::set_var(&s.reference, format!("{SENTINEL}-{}", s.name));
                std::fs::write(dir.join(&s.name), SENTINEL).unwrap();
            }
        }
        let sol = solution(&root, &[]);
        for f in emit::emit(&sol, Target::ALL).unwrap() {
            assert!(
                !f.contents.contains(SENTINEL),
                "{name}: {} holds a secret value",
                f.path
            );
        }
        // Secrets are referenced (by lookup), never given.
        let files = ansible(&sol);
        let inv = file(&files, "ansible/inventory.yaml");
        assert!(!inv.contains("password:"), "{name}: a password in the inventory");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every `iotc_firewall_rules` of every group of `inventory`.
fn firewall_rules(v: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
    if let Some(rules) = v.pointer("/vars/iotc_firewall_rules").and_then(|r| r.as_array()) {
        out.extend(rules.iter().cloned());
    }
    if let Some(children) = v.get("children").and_then(|c| c.as_object()) {
        for c in children.values() {
            firewall_rules(c, out);
        }
    }
}

/// community.general.ufw passes a rule's comment as `comment '<text>'` in a
/// command line it splits with Python's shlex: every comment must come back
/// as one word, itself (an apostrophe failed the factory's first real ufw
/// run with "No closing quotation"; .ci/firewall_netns.py found it).
#[test]
fn every_firewall_comment_survives_the_ufw_modules_command_line() {
    let mut comments = Vec::new();
    for (name, root) in examples() {
        let files = ansible(&solution(&root, &[]));
        let mut rules = Vec::new();
        firewall_rules(&common::yaml(file(&files, "ansible/inventory.yaml"))["all"], &mut rules);
        assert!(!rules.is_empty(), "{name}: no firewall rules");
        comments.extend(rules.iter().map(|r| r["comment"].as_str().unwrap().to_string()));
    }
    let script = r#"
import json, shlex, sys
for c in json.load(sys.stdin):
    try:
        words = shlex.split("comment '%s'" % c)
    except ValueError as e:
        words = [str(e)]
    print(json.dumps(words == ["comment", c]))
"#;
    let out = common::python(script, &serde_json::json!(comments));
    for (c, ok) in comments.iter().zip(out.lines()) {
        assert_eq!(ok, "true", "ufw's command line splits the comment {c:?} differently");
    }
    assert!(
        comments.iter().any(|c| c.contains('\u{2019}')),
        "the etcd rule's apostrophe"
    );
}

#[test]
fn factory_installs_k3s_on_its_gateways() {
    let sol = solution(&examples_dir().join("factory/factory.iot"), &[]);
    let files = ansible(&sol);
    let site = file(&files, "ansible/site.yml");
    for p in [
        "playbooks/prepare.yml",
        "playbooks/control-plane.yml",
        "playbooks/workers.yml",
    ] {
        assert!(site.contains(p), "site.yml imports {p}");
    }
    assert!(!site.contains("docker-fleets"));
    let cp = file(&files, "ansible/playbooks/control-plane.yml");
    assert!(cp.contains("hosts: k3s_init") && cp.contains("hosts: k3s_servers:!k3s_init"));
    assert!(cp.contains("role: iotc_k3s"));
    let hosts = inventory_hosts(file(&files, "ansible/inventory.yaml"));
    let plants = sol.fleets.iter().find(|f| f.name == "plants").unwrap();
    // Every site is its own cluster: its first server initialises it.
    let inits: Vec<String> = plants.sites.iter().map(|s| s.servers[0].clone()).collect();
    assert_eq!(hosts["k3s_init"], inits);
    let servers: Vec<String> = plants.sites.iter().flat_map(|s| s.servers.clone()).collect();
    assert_eq!(hosts["k3s_servers"], servers);
    let mut agents: Vec<String> = plants
        .sites
        .iter()
        .flat_map(|s| s.hosts.clone())
        .filter(|h| !servers.contains(h))
        .collect();
    agents.sort();
    let mut got = hosts["k3s_agents"].clone();
    got.sort();
    assert_eq!(got, agents);
    let workers = file(&files, "ansible/playbooks/workers.yml");
    assert!(workers.contains("iotc_k3s_node_token") && workers.contains("no_log: true"));
    let inv = file(&files, "ansible/inventory.yaml");
    assert!(inv.contains("k3s-arm64") && inv.contains("sha256sum-arm64.txt"));
    assert!(inv.contains("iotc.dev/site: plant-a"));
}

#[test]
fn energy_ships_its_compose_stacks() {
    let sol = solution(&examples_dir().join("energy/energy.iot"), &[]);
    let all = emit::emit(&sol, Target::ALL).unwrap();
    let site = file(&all, "ansible/site.yml");
    assert!(site.contains("playbooks/docker-fleets.yml"));
    let df = file(&all, "ansible/playbooks/docker-fleets.yml");
    assert!(df.contains("role: iotc_docker") && df.contains("role: iotc_compose_stack"));
    let inv = file(&all, "ansible/inventory.yaml");
    for f in &sol.fleets {
        for s in &f.sites {
            let stack = format!("compose/{}/{}/compose.yaml", f.name, s.name);
            assert!(
                inv.contains(&format!("iotc_compose_stack_file: {stack}")),
                "{stack} in the inventory"
            );
            assert!(
                all.iter().any(|o| o.path == stack),
                "{stack} is emitted beside ansible/"
            );
        }
    }
    // The energy dc cluster is baremetal k3s on three hosts: all three are
    // servers (an HA control plane, `Cluster::control_plane`), the first
    // initialises it.
    let hosts = inventory_hosts(inv);
    let ops: Vec<String> = (1..=3).map(|n| format!("ops{n}.dc.windco.internal")).collect();
    assert_eq!(hosts["k3s_servers"], ops);
    assert_eq!(hosts["k3s_init"], ops[..1].to_vec());
    // The upload job runs from a systemd timer every 15 minutes.
    let timer = all
        .iter()
        .find(|o| {
            o.path.starts_with("ansible/roles/iotc_compose_stack/files/systemd/") && o.path.ends_with("-upload.timer")
        })
        .expect("an upload timer");
    assert!(timer.contents.contains("OnCalendar=*-*-* *:00/15:00"));
    let tasks = file(&all, "ansible/roles/iotc_compose_stack/tasks/main.yml");
    assert!(tasks.contains("community.docker.docker_compose_v2"));
    assert!(tasks.contains("checksum:"));
}

/// The condition `iotc_prepare_in_container` adds to a task (see
/// `.ci/ansible-idempotence` and docs/ansible.md).
const ON_BOOTED_HOST: &str = "not (iotc_prepare_in_container | bool)";

/// Why a task of `iotc_prepare` acts on the running system, so a chroot
/// would run it against the machine it runs on (or fail): `None` if it
/// only changes files, packages and users of its root.
fn needs_a_booted_host(task: &serde_json::Value) -> Option<&'static str> {
    let has = |module: &str| task.get(module);
    if has("community.general.modprobe").is_some() {
        return Some("loads a module into the running kernel");
    }
    if has("community.general.ufw").is_some() {
        return Some("ufw writes the running kernel's netfilter tables");
    }
    if has("ansible.builtin.reboot").is_some() {
        return Some("reboots");
    }
    for m in [
        "ansible.builtin.systemd_service",
        "ansible.builtin.systemd",
        "ansible.builtin.service",
    ] {
        if has(m).and_then(|a| a.get("state")).is_some() {
            return Some("starts, stops or reloads a running service");
        }
    }
    for m in ["ansible.builtin.command", "ansible.builtin.shell"] {
        if let Some(args) = has(m) {
            let line = match args.get("argv") {
                // A template (`{{ ['/usr/bin/python3', …] + … }}`): its
                // first quoted word is the program.
                Some(serde_json::Value::String(t)) => t.split('\'').nth(1).unwrap().to_string(),
                Some(argv) => argv[0].as_str().unwrap().to_string(),
                None => args.as_str().or(args["cmd"].as_str()).unwrap().to_string(),
            };
            let program = line.split_whitespace().next().unwrap().rsplit('/').next().unwrap();
            if [
                "modprobe",
                "sysctl",
                "ufw",
                "iptables",
                "systemctl",
                "reboot",
                "udevadm",
            ]
            .contains(&program)
            {
                return Some("runs a command on the running system");
            }
        }
    }
    None
}

fn guarded(task: &serde_json::Value) -> bool {
    match task.get("when") {
        Some(serde_json::Value::String(w)) => w == ON_BOOTED_HOST,
        Some(serde_json::Value::Array(all)) => all.iter().any(|w| w == ON_BOOTED_HOST),
        _ => false,
    }
}

/// `iotc_prepare_in_container: true` skips exactly the tasks and handlers
/// of `iotc_prepare` that need a booted host (kernel, init system, reboot),
/// sysctl only writes its file there, and the switch is off by default.
#[test]
fn prepare_in_a_container_skips_exactly_what_needs_a_booted_host() {
    for (name, root) in examples() {
        let files = ansible(&solution(&root, &[]));
        let dir = "ansible/roles/iotc_prepare";
        let defaults: serde_json::Value =
            serde_norway::from_str(file(&files, &format!("{dir}/defaults/main.yml"))).unwrap();
        assert_eq!(
            defaults["iotc_prepare_in_container"], false,
            "{name}: real hosts run every task"
        );
        let mut skipped = Vec::new();
        let mut run = Vec::new();
        for part in ["tasks", "handlers"] {
            let tasks: Vec<serde_json::Value> =
                serde_norway::from_str(file(&files, &format!("{dir}/{part}/main.yml"))).unwrap();
            for t in tasks {
                let task_name = t["name"].as_str().unwrap().to_string();
                if let Some(sysctl) = t.get("ansible.posix.sysctl") {
                    // Written to /etc/sysctl.d everywhere, applied on a
                    // booted host only, never set with `sysctl -w` alone.
                    assert_eq!(
                        sysctl["reload"],
                        format!("{{{{ {ON_BOOTED_HOST} }}}}"),
                        "{name}: {task_name}"
                    );
                    assert!(sysctl.get("sysctl_set").is_none(), "{name}: {task_name}");
                }
                match needs_a_booted_host(&t) {
                    Some(why) => {
                        assert!(guarded(&t), "{name}: `{task_name}` {why}, but runs in a container");
                        skipped.push(task_name);
                    }
                    None => {
                        assert!(
                            !guarded(&t),
                            "{name}: `{task_name}` can run in a container, but is skipped there"
                        );
                        run.push(task_name);
                    }
                }
            }
        }
        // What the idempotence test cannot see, and what it does.
        for t in [
            "Load the kernel modules for container networking",
            "Start chrony now",
            "Reload sshd",
        ] {
            assert!(skipped.iter().any(|s| s == t), "{name}: {t} skipped in a container");
        }
        assert_eq!(
            skipped
                .iter()
                .filter(|s| s.contains("firewall") || s.starts_with("Allow"))
                .count(),
            4,
            "{name}: the ufw tasks"
        );
        for t in [
            "Install the base packages",
            "Set the kernel parameters",
            "Start chrony at boot (the clock in sync)",
            "Create the iotc service user",
            "Harden the SSH daemon (drop-in, checked with sshd -t)",
        ] {
            assert!(run.iter().any(|s| s == t), "{name}: {t} runs in a container");
        }
    }
}

/// `admin` networks (docs/ansible.md, "SSH from the admin networks only"):
/// malformed ranges are E0213; the factory's reach every group's vars; the
/// role checks the connecting address before the firewall narrows SSH to
/// them, and that check, run with Python as on the host, admits exactly
/// the addresses inside.
#[test]
fn ssh_is_admitted_from_the_admin_networks_only_after_checking_the_connection() {
    for bad in ["10.10.0.1/24", "10.10.0.0", "ops.example.com/24", "10.10.0.0/33"] {
        let src = format!("solution s {{\n  version = \"1\"\n  admin = [\"{bad}\"]\n}}\n");
        let codes: Vec<_> = common::errors(&src).iter().map(|d| d.code).collect();
        assert_eq!(codes, vec![iotc_compiler::diag::Code::E0213], "{bad}");
    }
    let sol = common::example("factory");
    assert_eq!(sol.admin_networks, ["10.10.0.0/24"]);
    let files = emit::emit(&sol, &[Target::Ansible]).unwrap();
    let inv = file(&files, "ansible/inventory.yaml");
    assert!(
        inv.matches("iotc_admin_networks:\n").count() >= 2,
        "every group carries them"
    );
    let tasks: Vec<serde_json::Value> =
        serde_norway::from_str(file(&files, "ansible/roles/iotc_prepare/tasks/main.yml")).unwrap();
    let at = |name: &str| {
        tasks
            .iter()
            .position(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let check = at("Check that Ansible connects from an admin network");
    let ssh = at("Allow SSH through the firewall (rate limited)");
    let remove = at("Remove SSH from anywhere once admin networks are declared");
    let enable = at("Deny other incoming traffic and enable the firewall");
    assert!(
        check < ssh && ssh < remove && remove < enable,
        "{check} {ssh} {remove} {enable}"
    );
    assert_eq!(tasks[ssh]["community.general.ufw"]["from_ip"], "{{ item }}");
    assert!(tasks[ssh]["loop"].as_str().unwrap().contains("iotc_prepare_ssh_from"));
    // The check's script, run as the host runs it.
    let script = tasks[check]["vars"]["iotc_prepare_in_network"].as_str().unwrap();
    for (addr, inside) in [("10.10.0.7", true), ("10.10.1.7", false), ("198.51.100.2", false)] {
        let ok = std::process::Command::new("python3")
            .args(["-c", script, addr, "10.10.0.0/24", "192.168.5.0/24"])
            .output()
            .unwrap()
            .status
            .success();
        assert_eq!(ok, inside, "{addr}");
    }
}
