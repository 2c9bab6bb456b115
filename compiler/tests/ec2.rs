//! k3s, kubeadm and microk8s on EC2 (docs/ansible.md, "Clusters on AWS"):
//! Terraform creates the instances, `ansible/terraform_<cluster>.py` lists
//! them from Terraform's outputs in the groups the static inventory and the
//! playbooks use, and the README runs terraform, then Ansible with that
//! script, then kubectl with the first server's kubeconfig. EKS is
//! unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::{groups, yaml};
use iotc_compiler::emit::escape::python_str;
use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::Solution;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A cluster `cloud` on AWS with `distribution`, a first pool of `first`
/// nodes and a pool `batch` of two, and a workload with a vault secret.
fn on_aws(distribution: &str, first: u32) -> Solution {
    let src = format!(
        r#"solution s {{ version = "1.0.0" }}
import std.cloud
cluster cloud {{
  provider = aws {{ region = "eu-west-1" }}
  distribution = {distribution}
  node = std.cloud.aws_m6i_large
  nodes = {first}
  pool batch {{
    node = std.cloud.aws_m6i_large
    nodes = 2
  }}
}}
service api on cloud {{
  image = "ghcr.io/x/api:1.0.0"
  port = 8080
  cpu = 250m
  memory = 256Mi
  secret TOKEN from vault "kv/data/x#t"
}}
"#
    );
    let files = vec![("s.iot".to_string(), src)];
    common::checked(&common::db_of(&files), "s.iot")
}

fn file<'a>(files: &'a [OutputFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} missing"))
        .contents
}

/// A fresh folder under the system's temporary folder.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("iotc-ec2-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `files` under `out`, as `iotc build` would (scripts executable).
fn write_out(out: &Path, files: &[OutputFile]) {
    use std::os::unix::fs::PermissionsExt;
    for f in files {
        let p = out.join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &f.contents).unwrap();
        if f.contents.starts_with("#!") {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
}

/// A fake `terraform` in `bin` that records its arguments and prints
/// `outputs` (what `terraform output -json` prints), or fails.
fn fake_terraform(bin: &Path, outputs: Option<&Value>) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(bin).unwrap();
    let body = match outputs {
        Some(v) => format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$(dirname \"$0\")/args\"\ncat <<'EOF'\n{v}\nEOF\n"),
        None => "#!/bin/sh\necho 'No outputs found' >&2\nexit 1\n".to_string(),
    };
    let p = bin.join("terraform");
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Runs the script at `script` with `bin` first on PATH.
fn run_script(script: &Path, bin: &Path, arg: &[&str]) -> std::process::Output {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    Command::new(script).args(arg).env("PATH", path).output().unwrap()
}

/// What `terraform output -json` prints for these pools' addresses.
fn outputs(pools: &[(&str, Vec<String>)]) -> Value {
    let ips: serde_json::Map<String, Value> = pools.iter().map(|(p, a)| (p.to_string(), json!(a))).collect();
    json!({
        "node_private_ips": { "sensitive": false, "type": "dynamic", "value": ips },
        "vpc_cidr": { "sensitive": false, "type": "string", "value": "10.0.0.0/16" },
        "cluster_endpoint": { "sensitive": false, "type": "string", "value": "https://10.0.0.10:6443" },
    })
}

/// The `hosts:` patterns of the plays `site.yml` imports.
fn site_patterns(files: &[OutputFile]) -> Vec<String> {
    let site = yaml(file(files, "ansible/site.yml"));
    let mut out = Vec::new();
    for import in site.as_array().unwrap() {
        let book = yaml(file(
            files,
            &format!(
                "ansible/{}",
                import["ansible.builtin.import_playbook"].as_str().unwrap()
            ),
        ));
        for play in book.as_array().unwrap() {
            out.push(play["hosts"].as_str().unwrap().to_string());
        }
    }
    out
}

#[test]
fn every_ec2_instance_is_an_inventory_host_in_its_pool_and_runtime_groups() {
    for (distribution, [init, servers, agents]) in [
        ("k3s", ["k3s_init", "k3s_servers", "k3s_agents"]),
        ("kubeadm", ["kubeadm_init", "kubeadm_servers", "kubeadm_workers"]),
        ("microk8s", ["microk8s_init", "microk8s_servers", "microk8s_agents"]),
    ] {
        for first in [3u32, 2] {
            let what = format!("{distribution}, {first} + 2 nodes");
            let sol = on_aws(distribution, first);
            let files = emit(&sol, Target::ALL).unwrap();
            let out = scratch(&format!("{distribution}-{first}"));
            write_out(&out, &files);
            let script = out.join("ansible/terraform_cloud.py");
            assert!(script.exists(), "{what}: no inventory script");

            // Valid Python.
            let compiled = Command::new("python3")
                .args(["-m", "py_compile"])
                .arg(&script)
                .output()
                .unwrap();
            assert!(
                compiled.status.success(),
                "{what}: {}",
                String::from_utf8_lossy(&compiled.stderr)
            );

            // Terraform has the outputs the script reads, one entry per pool.
            let tf: Value = serde_json::from_str(file(&files, "terraform/cloud/main.tf.json")).unwrap();
            let ips = tf["output"]["node_private_ips"]["value"].as_object().unwrap();
            let mut pools: Vec<&String> = ips.keys().collect();
            pools.sort();
            assert_eq!(pools, ["batch", "default"], "{what}");
            assert!(tf["output"]["vpc_cidr"].is_object(), "{what}");
            assert_eq!(
                tf["output"]["cluster_endpoint"]["value"], "https://${aws_instance.default[0].private_ip}:6443",
                "{what}: the endpoint is the first server"
            );

            let default: Vec<String> = (0..first).map(|i| format!("10.0.{}.{}", i * 16, 10 + i)).collect();
            let batch: Vec<String> = vec!["10.0.0.50".into(), "10.0.16.51".into()];
            let bin = out.join("bin");
            fake_terraform(
                &bin,
                Some(&outputs(&[("default", default.clone()), ("batch", batch.clone())])),
            );
            let run = run_script(&script, &bin, &["--list"]);
            assert!(run.status.success(), "{what}: {}", String::from_utf8_lossy(&run.stderr));
            let inv: Value = serde_json::from_slice(&run.stdout).unwrap();
            // It ran terraform in this cluster's root module.
            let args = std::fs::read_to_string(bin.join("args")).unwrap();
            let chdir = out.join("terraform/cloud");
            assert_eq!(
                args.lines().collect::<Vec<_>>(),
                [format!("-chdir={}", chdir.display()).as_str(), "output", "-json"],
                "{what}"
            );
            assert!(chdir.join("main.tf.json").exists());

            let hosts = |g: &str| -> Vec<String> {
                inv[g]["hosts"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{what}: no group {g}"))
                    .iter()
                    .map(|h| h.as_str().unwrap().to_string())
                    .collect()
            };
            let n = if first >= 3 { 3 } else { 1 };
            let want_servers: Vec<String> = default.iter().take(n).cloned().collect();
            let want_agents: Vec<String> = default.iter().skip(n).chain(&batch).cloned().collect();
            assert_eq!(hosts("pool_cloud_default"), default, "{what}");
            assert_eq!(hosts("pool_cloud_batch"), batch, "{what}");
            assert_eq!(hosts(init), [default[0].clone()], "{what}");
            assert_eq!(hosts(servers), want_servers, "{what}");
            assert_eq!(hosts(agents), want_agents, "{what}");
            let vars = &inv["cluster_cloud"]["vars"];
            assert_eq!(vars["iotc_k8s_server"], default[0].as_str(), "{what}");
            assert_eq!(vars["iotc_k8s_servers"], json!(want_servers), "{what}");
            assert_eq!(vars["iotc_prepare_lan_cidr"], "10.0.0.0/16", "{what}");
            assert_eq!(vars["ansible_user"], "ubuntu", "{what}");
            assert_eq!(
                inv["cluster_cloud"]["children"],
                json!(["pool_cloud_default", "pool_cloud_batch"]),
                "{what}"
            );
            for h in default.iter().chain(&batch) {
                assert!(inv["_meta"]["hostvars"][h].is_object(), "{what}: {h}");
            }
            let host = run_script(&script, &bin, &["--host", &default[0]]);
            assert!(host.status.success() && serde_json::from_slice::<Value>(&host.stdout).unwrap() == json!({}));

            // The static inventory has every group the script fills, with
            // the cluster's vars (its workloads' Secrets among them)...
            let static_inv = groups(&yaml(file(&files, "ansible/inventory.yaml")));
            for g in [
                init,
                servers,
                agents,
                "cluster_cloud",
                "pool_cloud_default",
                "pool_cloud_batch",
            ] {
                assert!(static_inv.contains_key(g), "{what}: inventory.yaml lacks {g}");
            }
            let cluster_vars = &static_inv["cluster_cloud"].0;
            assert_eq!(cluster_vars["iotc_distribution"], distribution);
            assert_eq!(cluster_vars["iotc_k8s_secrets"][0]["name"], "api-secrets", "{what}");
            // ...and the plays site.yml imports target them.
            let patterns = site_patterns(&files);
            for g in [init, servers, agents] {
                assert!(
                    patterns
                        .iter()
                        .any(|p| p.split(':').any(|x| x.trim_start_matches(['!', '&']) == g)),
                    "{what}: no play of site.yml targets {g}: {patterns:?}"
                );
            }
            assert!(
                patterns.iter().any(|p| p == init)
                    && file(&files, "ansible/playbooks/workers.yml").contains("iotc_k8s_secrets"),
                "{what}: the first server creates the workloads' Secrets"
            );

            // Terraform's output missing: the script fails, naming it.
            let bin = out.join("nobin");
            fake_terraform(&bin, None);
            let run = run_script(&script, &bin, &["--list"]);
            assert!(!run.status.success(), "{what}");
            assert!(
                String::from_utf8_lossy(&run.stderr).contains("terraform output"),
                "{what}"
            );
            let _ = std::fs::remove_dir_all(&out);
        }
    }
}

/// The README's steps for the cluster, in order: terraform apply, Ansible
/// with the inventory script, kubectl with the first server's kubeconfig.
#[test]
fn the_readme_applies_terraform_then_ansible_with_the_script_then_kubectl() {
    for (distribution, kubeconfig) in [
        ("k3s", "/etc/rancher/k3s/k3s.yaml"),
        ("kubeadm", "/etc/kubernetes/admin.conf"),
    ] {
        let files = emit(&on_aws(distribution, 3), Target::ALL).unwrap();
        let readme = file(&files, "README.md");
        let line = |needle: &str| {
            readme
                .lines()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("{distribution}: no line with {needle:?} in\n{readme}"))
        };
        let tf = line("terraform -chdir=terraform/cloud init && terraform -chdir=terraform/cloud apply");
        let ansible = line(
            "`ansible-playbook -i ansible/inventory.yaml -i ansible/terraform_cloud.py ansible/site.yml --limit cluster_cloud`",
        );
        let kubectl = line("kubectl apply -k k8s/cloud");
        assert!(tf < ansible && ansible < kubectl, "{distribution}: order\n{readme}");
        let k = readme.lines().nth(kubectl).unwrap();
        assert!(k.starts_with("- kubectl apply (cloud): "), "{k}");
        assert!(
            k.contains(kubeconfig) && k.contains("output -raw cluster_endpoint"),
            "{k}"
        );
        assert!(k.contains("check that `site.yml` created the Secrets"), "{k}");
        assert!(!readme.contains("eks update-kubeconfig"), "{distribution}");
        assert!(!readme.contains("cluster_name"), "{distribution}");
        assert!(!readme.contains("; copy it into the Secret"), "{distribution}");
        assert!(readme.contains("`ssh_key_name`"), "{distribution}");
        // The script the README names exists.
        file(&files, "ansible/terraform_cloud.py");
        // Terraform lets Ansible in: the key pair and SSH from the VPC.
        let tf: Value = serde_json::from_str(file(&files, "terraform/cloud/main.tf.json")).unwrap();
        assert_eq!(
            tf["resource"]["aws_instance"]["default"]["key_name"],
            "${var.ssh_key_name}"
        );
        assert_eq!(
            tf["resource"]["aws_vpc_security_group_ingress_rule"]["ssh"]["from_port"],
            22
        );
    }
}

/// EKS is managed: no script, no Ansible step, `aws eks update-kubeconfig`.
#[test]
fn eks_clusters_are_unchanged() {
    let files = emit(&on_aws("eks", 3), Target::ALL).unwrap();
    assert!(!files.iter().any(|f| f.path.ends_with(".py")));
    let readme = file(&files, "README.md");
    assert!(readme.contains("aws eks update-kubeconfig --region eu-west-1 --name <terraform output cluster_name>"));
    assert!(!readme.contains("- ansible (cloud)"), "{readme}");
    assert!(!readme.contains("terraform_cloud.py"));
    let tf: Value = serde_json::from_str(file(&files, "terraform/cloud/main.tf.json")).unwrap();
    assert!(tf["variable"].get("ssh_key_name").is_none());
    assert!(tf["output"].get("node_private_ips").is_none());
    let inv = groups(&yaml(file(&files, "ansible/inventory.yaml")));
    assert!(!inv.contains_key("k3s_init") && !inv.contains_key("kubeadm_init"));
    assert!(inv["cluster_cloud"].0.get("iotc_k8s_secrets").is_none());
}

/// What the script embeds from the solution is read back by Python exactly.
#[test]
fn python_string_literals_read_back_exactly() {
    let cases = [
        "plain",
        "quote \" and back\\slash",
        "''' \"\"\" triple",
        "line\nbreak\r\u{2028}\u{85}",
        "{{ jinja }} ${tf} %s",
        "non-ascii: é ü 日本 😀 \u{7f} \u{0}",
    ];
    let lits: Vec<String> = cases.iter().map(|c| python_str(c)).collect();
    assert!(lits.iter().all(|l| l.is_ascii() && !l.contains('\n')));
    let script = format!(
        "import json, sys\nsys.stdout.write(json.dumps([{}]))\n",
        lits.join(", ")
    );
    let out = Command::new("python3").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let back: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(back, cases);
}

/// The hosts an Ansible host pattern selects, in Ansible's order
/// (`InventoryManager._evaluate_patterns` after `order_patterns`): the
/// unions in the order written, each group's hosts in its order, a host
/// once; then the intersections and exclusions, keeping that order.
fn select(pattern: &str, inv: &Value) -> Vec<String> {
    let members = |g: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut todo = vec![g.to_string()];
        while let Some(g) = todo.pop() {
            for h in inv[&g]["hosts"].as_array().into_iter().flatten() {
                let h = h.as_str().unwrap().to_string();
                if !out.contains(&h) {
                    out.push(h);
                }
            }
            for c in inv[&g]["children"].as_array().into_iter().flatten().rev() {
                todo.push(c.as_str().unwrap().to_string());
            }
        }
        out
    };
    let parts: Vec<&str> = pattern.split(':').collect();
    let mut hosts: Vec<String> = Vec::new();
    for p in parts.iter().filter(|p| !p.starts_with(['&', '!'])) {
        for h in members(p) {
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
    }
    for p in parts.iter().filter(|p| p.starts_with('&')) {
        let keep = members(&p[1..]);
        hosts.retain(|h| keep.contains(h));
    }
    for p in parts.iter().filter(|p| p.starts_with('!')) {
        let drop = members(&p[1..]);
        hosts.retain(|h| !drop.contains(h));
    }
    hosts
}

/// `playbooks/upgrade.yml` upgrades a cluster on EC2 the way it upgrades
/// every other one (tests/upgrade.rs): one play, one host at a time,
/// stopping at the first failure, the first server first, then the other
/// servers, then the agents, drained and waited for through a server. Its
/// hosts are the groups the inventory script fills (their names are not
/// known before `terraform apply`), so the play's pattern is evaluated
/// against the script's output here.
#[test]
fn ec2_clusters_upgrade_through_the_script_groups_servers_first() {
    for (distribution, groups3, role) in [
        ("k3s", ["k3s_init", "k3s_servers", "k3s_agents"], Some("iotc_k3s")),
        ("kubeadm", ["kubeadm_init", "kubeadm_servers", "kubeadm_workers"], None),
        (
            "microk8s",
            ["microk8s_init", "microk8s_servers", "microk8s_agents"],
            Some("iotc_microk8s"),
        ),
    ] {
        for first in [3u32, 2] {
            let what = format!("{distribution}, {first} + 2 nodes");
            let files = emit(&on_aws(distribution, first), Target::ALL).unwrap();
            let plays = yaml(
                files
                    .iter()
                    .find(|f| f.path == "ansible/playbooks/upgrade.yml")
                    .unwrap_or_else(|| panic!("{what}: no upgrade.yml"))
                    .contents
                    .as_str(),
            );
            let plays = plays.as_array().unwrap();
            let ups: Vec<&Value> = plays
                .iter()
                .filter(|p| p["name"].as_str().unwrap().starts_with("Upgrade "))
                .collect();
            assert_eq!(ups.len(), 1, "{what}: one upgrade play");
            let play = ups[0];
            let [init, servers, agents] = groups3;
            assert_eq!(
                play["hosts"],
                format!("{init}:{servers}:{agents}:&cluster_cloud"),
                "{what}"
            );
            assert!(
                play["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("Upgrade cluster_cloud one node at a time"),
                "{what}"
            );
            assert_eq!(play["serial"], 1, "{what}");
            assert_eq!(play["max_fail_percentage"], 0, "{what}");
            assert_eq!(play["become"], true, "{what}");
            assert_eq!(play["vars"]["iotc_upgrade_servers"], "{{ iotc_k8s_servers }}", "{what}");
            assert_eq!(
                play["vars"]["iotc_upgrade_drain"], "{{ groups['cluster_cloud'] | length > 1 }}",
                "{what}"
            );
            assert_eq!(
                play["vars"]["iotc_upgrade_via"],
                "{{ (iotc_upgrade_servers | difference([inventory_hostname]) + iotc_upgrade_servers) | first }}"
            );
            let roles: Vec<&str> = play["roles"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| r["role"].as_str().unwrap())
                .collect();
            assert_eq!(roles, role.into_iter().collect::<Vec<_>>(), "{what}");
            let post: Vec<&str> = play["post_tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap())
                .collect();
            assert_eq!(
                post,
                ["Wait until the node is Ready at the new version", "Uncordon the node"],
                "{what}"
            );
            if distribution == "k3s" {
                assert_eq!(plays[0]["hosts"], "k3s_init", "{what}: the join token is read first");
            }

            // Against the script's inventory: every node of the cluster
            // once, the first server first, then the servers, then the
            // agents.
            let out = scratch(&format!("upgrade-{distribution}-{first}"));
            write_out(&out, &files);
            let default: Vec<String> = (0..first).map(|i| format!("10.0.{}.{}", i * 16, 10 + i)).collect();
            let batch: Vec<String> = vec!["10.0.0.50".into(), "10.0.16.51".into()];
            let bin = out.join("bin");
            fake_terraform(
                &bin,
                Some(&outputs(&[("default", default.clone()), ("batch", batch.clone())])),
            );
            let run = run_script(&out.join("ansible/terraform_cloud.py"), &bin, &["--list"]);
            assert!(run.status.success(), "{what}: {}", String::from_utf8_lossy(&run.stderr));
            let inv: Value = serde_json::from_slice(&run.stdout).unwrap();
            let n = if first >= 3 { 3 } else { 1 };
            let want: Vec<String> = default.iter().chain(&batch).cloned().collect();
            let order = select(play["hosts"].as_str().unwrap(), &inv);
            assert_eq!(order, want, "{what}: servers first, then agents");
            assert_eq!(
                inv["cluster_cloud"]["vars"]["iotc_k8s_servers"],
                json!(default[..n]),
                "{what}: iotc_upgrade_servers"
            );
            assert_eq!(inv[init]["hosts"], json!([order[0]]), "{what}: the first server first");
            let _ = std::fs::remove_dir_all(&out);
        }
    }
    // The README runs it with the script.
    let files = emit(&on_aws("k3s", 3), Target::ALL).unwrap();
    let readme = file(&files, "README.md");
    assert!(
        readme.contains(
            "`ansible-playbook -i ansible/inventory.yaml -i ansible/terraform_cloud.py ansible/playbooks/upgrade.yml`"
        ),
        "{readme}"
    );
    assert!(!readme.contains("Not generated: rolling upgrades"), "{readme}");
}

/// EC2 instances' security group lets no NTP out, so their chrony prefers
/// the Amazon Time Sync Service (link-local, no rule needed); every other
/// host keeps the distribution's pools.
#[test]
fn ec2_hosts_prefer_the_amazon_time_sync_service_and_no_other_host_does() {
    const AMAZON: &str = "169.254.169.123";
    for distribution in ["k3s", "kubeadm", "microk8s"] {
        let sol = on_aws(distribution, 3);
        assert_eq!(sol.clusters[0].time_servers, [AMAZON], "{distribution}");
        let files = emit(&sol, Target::ALL).unwrap();
        let inv = groups(&yaml(file(&files, "ansible/inventory.yaml")));
        for g in ["cluster_cloud", "pool_cloud_default", "pool_cloud_batch"] {
            assert_eq!(
                inv[g].0["iotc_prepare_time_servers"],
                json!([AMAZON]),
                "{distribution}: {g}"
            );
        }
        // Nothing else of the inventory sets it.
        for (g, (vars, _)) in &inv {
            if !["cluster_cloud", "pool_cloud_default", "pool_cloud_batch"].contains(&g.as_str()) {
                assert!(vars.get("iotc_prepare_time_servers").is_none(), "{distribution}: {g}");
            }
        }
        // The security group has no NTP rule and needs none; the base
        // role's downloads go out on 80 and 443.
        let tf: Value = serde_json::from_str(file(&files, "terraform/cloud/main.tf.json")).unwrap();
        let egress = tf["resource"]["aws_vpc_security_group_egress_rule"]
            .as_object()
            .unwrap();
        let ports: Vec<(i64, &str)> = egress
            .values()
            .filter(|r| r["cidr_ipv4"] == "0.0.0.0/0")
            .map(|r| (r["from_port"].as_i64().unwrap(), r["ip_protocol"].as_str().unwrap()))
            .collect();
        assert!(
            ports.contains(&(80, "tcp")) && ports.contains(&(443, "tcp")),
            "{ports:?}"
        );
        assert!(!ports.iter().any(|(p, _)| *p == 123), "{ports:?}");
    }
    // EKS, and every example (baremetal and vSphere clusters, fleets):
    // the distribution's pools, as before.
    let eks = on_aws("eks", 3);
    assert!(eks.clusters[0].time_servers.is_empty());
    let mut sols = vec![eks];
    sols.extend(common::EXAMPLES.iter().map(|e| common::example(e)));
    for sol in &sols {
        assert!(sol.clusters.iter().all(|c| c.time_servers.is_empty()), "{}", sol.name);
        let files = emit(sol, &[Target::Ansible]).unwrap();
        let inv = groups(&yaml(file(&files, "ansible/inventory.yaml")));
        for (g, (vars, _)) in &inv {
            assert!(vars.get("iotc_prepare_time_servers").is_none(), "{}: {g}", sol.name);
        }
    }

    // The prepare role: off by default; with servers, a chrony sources
    // drop-in that names them with `prefer iburst`, and chrony restarted
    // when it changes.
    let files = emit(&on_aws("k3s", 3), Target::ALL).unwrap();
    let defaults = yaml(file(&files, "ansible/roles/iotc_prepare/defaults/main.yml"));
    assert_eq!(defaults["iotc_prepare_time_servers"], json!([]));
    let tasks = yaml(file(&files, "ansible/roles/iotc_prepare/tasks/main.yml"));
    let tasks = tasks.as_array().unwrap();
    let drop_in = tasks
        .iter()
        .find(|t| t["ansible.builtin.copy"]["dest"] == "/etc/chrony/sources.d/iotc.sources")
        .expect("a chrony sources drop-in");
    assert_eq!(drop_in["when"], "iotc_prepare_time_servers | length > 0");
    assert_eq!(drop_in["notify"], "Restart chrony");
    let handlers = yaml(file(&files, "ansible/roles/iotc_prepare/handlers/main.yml"));
    let restart = handlers
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "Restart chrony")
        .expect("a chrony restart handler");
    assert_eq!(restart["ansible.builtin.systemd_service"]["state"], "restarted");
    // Every chrony time-server task waits for servers; nothing else changes
    // on a host without them.
    for t in tasks
        .iter()
        .filter(|t| t.to_string().contains("chrony") && !t["name"].as_str().unwrap().starts_with("Start chrony"))
    {
        assert_eq!(t["when"], "iotc_prepare_time_servers | length > 0", "{}", t["name"]);
    }
    let rendered = common::python(
        r#"
import json, sys, jinja2
d = json.load(sys.stdin)
env = jinja2.Environment(keep_trailing_newline=True, trim_blocks=True)  # as Ansible templates
for servers in ([d["server"]], []):
    sys.stdout.write(env.from_string(d["content"]).render(iotc_prepare_time_servers=servers) + "---\n")
"#,
        &json!({ "content": drop_in["ansible.builtin.copy"]["content"], "server": AMAZON }),
    );
    let lines: Vec<&str> = rendered.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines,
        ["server 169.254.169.123 prefer iburst minpoll 4 maxpoll 4", "---", "---"],
        "{rendered}"
    );
}
