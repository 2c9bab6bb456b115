//! kubeadm clusters that Ansible bootstraps (docs/ansible.md, "kubeadm
//! clusters"): on vSphere the VMs Terraform creates are the inventory's
//! hosts, in the right groups; the packages are the cluster's Kubernetes
//! version; the CNI enforces the NetworkPolicies the Kubernetes output has;
//! kubeadm's pod network is the CNI's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::{documents, python, repo, yaml, Fs, EXAMPLES};
use iotc_compiler::emit::ansible::{cluster_engine, Engine};
use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::{Provider, Solution};
use iotc_compiler::{analyze, Overrides};
use serde_json::{json, Value};

/// Every example at its defaults, and the city at a knob that gives its
/// data centre workers beside the three control-plane VMs.
fn solutions() -> Vec<(String, Solution)> {
    let mut out = Vec::new();
    for name in EXAMPLES {
        for sets in [&[][..], &["cameras_per_district=24"][..]] {
            if !sets.is_empty() && *name != "city" {
                continue;
            }
            let root = repo().join("examples").join(name).join(format!("{name}.iot"));
            let overrides = Overrides {
                values: None,
                sets: sets.iter().map(|s| s.to_string()).collect(),
            };
            let a = analyze(&Fs, root.to_str().unwrap(), &overrides);
            assert!(!a.has_errors(), "{name}: {:?}", a.diagnostics);
            out.push((format!("{name} {sets:?}"), a.solution.unwrap()));
        }
    }
    out
}

/// The city with its data centre on k3s, then microk8s: Ansible installs
/// those on the same VMs (docs/ansible.md, "Clusters on vSphere").
fn city_on(distribution: &str) -> Solution {
    let files: Vec<(String, String)> = common::example_files("city")
        .into_iter()
        .map(|(p, t)| {
            let t = t.replace("distribution = kubeadm", &format!("distribution = {distribution}"));
            // A VIP is kubeadm's (k3s and microk8s balance themselves).
            let t: String = t
                .lines()
                .filter(|l| !l.trim_start().starts_with("vip ="))
                .map(|l| format!("{l}\n"))
                .collect();
            (p, t)
        })
        .collect();
    assert!(files
        .iter()
        .any(|(_, t)| t.contains(&format!("distribution = {distribution}"))));
    let db = common::db_of(&files);
    common::checked(&db, &files[0].0)
}

fn file<'a>(files: &'a [OutputFile], path: &str) -> &'a str {
    &files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} missing"))
        .contents
}

/// The hosts of a group of the inventory, found anywhere under `all`.
fn group<'a>(g: &'a Value, name: &str) -> Option<&'a Value> {
    let children = g.get("children")?.as_object()?;
    if let Some(found) = children.get(name) {
        return Some(found);
    }
    children.values().find_map(|c| group(c, name))
}

fn hosts(g: Option<&Value>) -> Vec<String> {
    g.and_then(|g| g.get("hosts"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The names Terraform gives a pool's VMs: its `name` expression with the
/// default `name_prefix`, for each `count.index`.
fn terraform_vm_names(tf: &Value, pool: &str) -> Vec<String> {
    let prefix = tf["variable"]["name_prefix"]["default"].as_str().unwrap();
    let vm = &tf["resource"]["vsphere_virtual_machine"][pool];
    let count = vm["count"].as_u64().unwrap();
    let name = vm["name"].as_str().unwrap();
    // The guest's host name is the VM's name.
    assert_eq!(
        vm["clone"]["customize"]["linux_options"]["host_name"].as_str(),
        Some(name)
    );
    (0..count)
        .map(|i| {
            name.replace("${var.name_prefix}", prefix)
                .replace("${count.index + 1}", &(i + 1).to_string())
        })
        .collect()
}

#[test]
fn every_vm_terraform_creates_is_an_inventory_host_in_its_group() {
    let mut vms = 0;
    let mut workers = 0;
    let mut distributions = std::collections::BTreeSet::new();
    let mut all_solutions = solutions();
    for d in ["k3s", "microk8s"] {
        all_solutions.push((format!("city on {d}"), city_on(d)));
    }
    for (name, sol) in all_solutions {
        let files = emit(&sol, Target::ALL).unwrap();
        let inv = yaml(file(&files, "ansible/inventory.yaml"));
        let all = &inv["all"];
        for c in &sol.clusters {
            if !matches!(c.provider, Provider::Vsphere { .. }) {
                continue;
            }
            // Every distribution iotc knows is installed on the VMs.
            let (engine, init_group, server_group, agent_group) = match c.distribution.as_str() {
                "kubeadm" => (Engine::Kubeadm, "kubeadm_init", "kubeadm_servers", "kubeadm_workers"),
                "k3s" => (Engine::K3s, "k3s_init", "k3s_servers", "k3s_agents"),
                "microk8s" => (Engine::Microk8s, "microk8s_init", "microk8s_servers", "microk8s_agents"),
                other => panic!("{name}: {other} on vSphere is installed by nothing"),
            };
            assert_eq!(cluster_engine(c), engine, "{name}: {}", c.name);
            distributions.insert(c.distribution.clone());
            // The README tells the user to run Ansible on the VMs.
            let readme = file(&files, "README.md");
            assert!(
                readme.contains(&format!("--limit cluster_{}` installs", c.name)),
                "{name}: the README does not install {}",
                c.name
            );
            let tf: Value = serde_json::from_str(file(&files, &format!("terraform/{}/main.tf.json", c.name))).unwrap();
            let mut cluster_vms = Vec::new();
            for p in &c.pools {
                let from_tf = terraform_vm_names(&tf, &p.name.replace('-', "_"));
                assert_eq!(from_tf.len() as u32, p.nodes, "{name}: pool {}", p.name);
                let in_inv = hosts(group(all, &format!("pool_{}_{}", c.name, p.name.replace('-', "_"))));
                assert_eq!(from_tf, in_inv, "{name}: pool {} of {}", p.name, c.name);
                cluster_vms.extend(from_tf);
            }
            vms += cluster_vms.len();
            // The control plane: the first pool's first 1 or 3 VMs, the
            // ones Terraform's anti-affinity rule keeps apart.
            let (_, n) = c.control_plane().unwrap();
            // The runtime's groups also hold the fleets' gateways (the city's
            // intersections run microk8s): the cluster's part of them.
            let of_cluster = |g: &str| -> Vec<String> {
                hosts(group(all, g))
                    .into_iter()
                    .filter(|h| cluster_vms.contains(h))
                    .collect()
            };
            let servers = of_cluster(server_group);
            let init = of_cluster(init_group);
            let agents = of_cluster(agent_group);
            assert_eq!(servers, cluster_vms[..n as usize].to_vec(), "{name}");
            assert_eq!(init, cluster_vms[..1].to_vec(), "{name}");
            assert_eq!(agents, cluster_vms[n as usize..].to_vec(), "{name}");
            workers += agents.len();
            if n > 1 {
                let rule = &tf["resource"]["vsphere_compute_cluster_vm_anti_affinity_rule"]["control_plane"];
                assert!(
                    rule["virtual_machine_ids"]
                        .as_str()
                        .unwrap()
                        .contains(&format!(", 0, {n})")),
                    "{name}: {rule}"
                );
            }
            // Every VM gets an address for `ansible_host`.
            assert!(tf["output"]["ansible_hosts"]["value"]
                .as_str()
                .unwrap()
                .contains("vm.name => vm.default_ip_address"));
        }
    }
    assert!(vms >= 6, "{vms} VMs checked");
    assert!(workers >= 1, "no kubeadm worker checked");
    assert_eq!(distributions.len(), 3, "{distributions:?}");
}

/// The vars of the cluster's inventory group.
fn cluster_vars(files: &[OutputFile], cluster: &str) -> Value {
    let inv = yaml(file(files, "ansible/inventory.yaml"));
    group(&inv["all"], &format!("cluster_{cluster}")).unwrap()["vars"].clone()
}

#[test]
fn the_plays_install_the_clusters_kubernetes_version_and_a_policy_enforcing_cni() {
    let mut checked = 0;
    for (name, sol) in solutions() {
        let files = emit(&sol, Target::ALL).unwrap();
        for c in sol.clusters.iter().filter(|c| cluster_engine(c) == Engine::Kubeadm) {
            let vars = cluster_vars(&files, &c.name);
            let version = c.version.clone().unwrap();
            let minor: String = version
                .trim_start_matches('v')
                .split('.')
                .take(2)
                .collect::<Vec<_>>()
                .join(".");
            assert_eq!(
                vars["iotc_kubeadm_repository"],
                json!(format!("https://pkgs.k8s.io/core:/stable:/v{minor}/deb/")),
                "{name}"
            );
            let pin = vars["iotc_kubeadm_package_version"].as_str().unwrap();
            assert!(pin.starts_with(&format!("{minor}.")), "{name}: {pin}");
            // The role installs, pins and holds exactly those.
            let tasks = yaml(file(&files, "ansible/roles/iotc_kubeadm/tasks/main.yml"));
            let text = serde_json::to_string(&tasks).unwrap();
            for needle in [
                "'=' ~ iotc_kubeadm_package_version",
                "Pin: version {{ iotc_kubeadm_package_version }}",
                "\"selection\":\"hold\"",
                "{{ iotc_kubeadm_repository }}Release.key",
                "\"creates\":\"/etc/kubernetes/admin.conf\"",
            ] {
                assert!(text.contains(needle), "{name}: {needle} not in the kubeadm role");
            }
            // NetworkPolicies in the cluster's output need a CNI that
            // enforces them, installed on the cluster's first server.
            let policies = files
                .iter()
                .filter(|f| f.path.starts_with(&format!("k8s/{}/", c.name)) && f.path.ends_with(".yaml"))
                .flat_map(|f| documents(&f.contents))
                .filter(|d| d["kind"] == "NetworkPolicy")
                .count();
            assert!(policies > 0, "{name}: no NetworkPolicy to enforce");
            assert!(
                ["calico", "cilium"].contains(&vars["iotc_kubeadm_cni"].as_str().unwrap()),
                "{name}: {}",
                vars["iotc_kubeadm_cni"]
            );
            let defaults = file(&files, "ansible/roles/iotc_kubeadm/defaults/main.yml");
            assert!(
                defaults.contains("/manifests/tigera-operator.yaml") && text.contains("calico-installation.yaml.j2")
            );
            let cp = yaml(file(&files, "ansible/playbooks/control-plane.yml"));
            let init = cp
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["hosts"] == "kubeadm_init" && p["roles"].is_array())
                .unwrap_or_else(|| panic!("{name}: no kubeadm init play"));
            assert_eq!(init["roles"][0]["role"], "iotc_kubeadm");
            assert_eq!(init["roles"][0]["vars"]["iotc_kubeadm_mode"], "init");
            checked += 1;
        }
    }
    assert!(checked >= 2, "{checked} kubeadm clusters checked");
}

/// Renders a role template with Jinja2 (Ansible's `to_json` filter as
/// `json.dumps`) and reads the result as YAML documents.
fn render(template: &str, vars: &Value) -> Vec<Value> {
    let script = r#"
import json, sys, jinja2
d = json.load(sys.stdin)
env = jinja2.Environment()
env.filters["to_json"] = json.dumps
print(env.from_string(d["template"]).render(**d["vars"]))
"#;
    python(script, &json!({ "template": template, "vars": vars }))
        .split("\n---\n")
        .map(|d| serde_norway::from_str::<Value>(d).unwrap())
        .filter(|d| !d.is_null())
        .collect()
}

/// A default of the kubeadm role, rendered with `vars`.
fn role_default(files: &[OutputFile], key: &str, vars: &Value) -> String {
    let defaults = yaml(file(files, "ansible/roles/iotc_kubeadm/defaults/main.yml"));
    let script = r#"
import json, sys, jinja2
d = json.load(sys.stdin)
print(jinja2.Environment().from_string(d["template"]).render(**d["vars"]), end="")
"#;
    python(script, &json!({ "template": defaults[key], "vars": vars }))
}

#[test]
fn kubeadms_pod_network_is_the_cnis_and_its_version_the_clusters() {
    let mut checked = 0;
    for (name, sol) in solutions() {
        let files = emit(&sol, Target::ALL).unwrap();
        for c in sol.clusters.iter().filter(|c| cluster_engine(c) == Engine::Kubeadm) {
            let mut vars = cluster_vars(&files, &c.name);
            let servers = vars["iotc_k8s_servers"].clone();
            let first = servers[0].as_str().unwrap().to_string();
            vars["inventory_hostname"] = json!(first);
            // The role's default: the VIP when the cluster has one.
            let vip = c.vip.clone();
            vars["iotc_kubeadm_vip"] = json!(vip.clone().unwrap_or_default());
            vars["iotc_kubeadm_endpoint"] = json!(role_default(&files, "iotc_kubeadm_endpoint", &vars));
            let endpoint = format!("{}:6443", vip.as_deref().unwrap_or(&first));
            let minor = vars["iotc_runtime_version"].as_str().unwrap().to_string();
            // What `kubeadm version -o short` prints for the pinned package.
            vars["iotc_kubeadm_installed"] = json!({ "stdout": format!("v{minor}.5\n") });
            let role = "ansible/roles/iotc_kubeadm/templates";
            let kubeadm = render(file(&files, &format!("{role}/kubeadm-config.yaml.j2")), &vars);
            let calico = render(file(&files, &format!("{role}/calico-installation.yaml.j2")), &vars);
            let cluster = kubeadm.iter().find(|d| d["kind"] == "ClusterConfiguration").unwrap();
            let init = kubeadm.iter().find(|d| d["kind"] == "InitConfiguration").unwrap();
            let kubelet = kubeadm.iter().find(|d| d["kind"] == "KubeletConfiguration").unwrap();
            let pool = &calico[0]["spec"]["calicoNetwork"]["ipPools"][0];
            assert_eq!(cluster["networking"]["podSubnet"], pool["cidr"], "{name}");
            assert_eq!(pool["encapsulation"], "VXLAN", "{name}");
            assert_eq!(cluster["kubernetesVersion"], json!(format!("v{minor}.5")), "{name}");
            assert!(c
                .version
                .as_deref()
                .unwrap()
                .trim_start_matches('v')
                .starts_with(&minor));
            assert_eq!(cluster["controlPlaneEndpoint"], json!(endpoint), "{name}");
            let mut sans = servers.as_array().unwrap().clone();
            sans.extend(vip.iter().map(|v| json!(v)));
            assert_eq!(cluster["apiServer"]["certSANs"], json!(sans), "{name}");
            assert_eq!(init["nodeRegistration"]["name"], json!(first));
            assert_eq!(init["nodeRegistration"]["taints"], json!([]));
            assert_eq!(kubelet["cgroupDriver"], "systemd");
            // The firewall lets the CNI's traffic through: VXLAN and the
            // pod network.
            let rules = vars["iotc_firewall_rules"].as_array().unwrap();
            assert!(
                rules.iter().any(|r| r["port"] == "4789" && r["proto"] == "udp"),
                "{name}"
            );
            assert!(rules.iter().any(|r| r["from"] == pool["cidr"]), "{name}");
            // containerd uses the kubelet's cgroup driver.
            let containerd = file(&files, "ansible/roles/iotc_kubeadm/files/containerd-config.toml");
            assert!(containerd.contains("SystemdCgroup = true"));
            checked += 1;
        }
    }
    assert!(checked >= 2, "{checked} kubeadm clusters checked");
}

/// A kubeadm control plane of three answers on its VIP: kube-vip runs as a
/// static pod on each control-plane node before kubeadm needs the address
/// (init waits for the API there, the others join through it), with the
/// kubeconfig kubeadm 1.29+ allows at that moment; the address is the
/// cluster's endpoint and a certificate SAN (above). Without a VIP the
/// checker warns; on another distribution a VIP is refused.
#[test]
fn a_kubeadm_control_plane_answers_on_its_vip() {
    let sol = common::example("city");
    let dc = sol.clusters.iter().find(|c| c.distribution == "kubeadm").unwrap();
    let vip = dc.vip.clone().expect("the city's data centre has a VIP");
    let files = emit(&sol, &[Target::Ansible]).unwrap();
    let mut vars = cluster_vars(&files, &dc.name);
    assert_eq!(vars["iotc_kubeadm_vip"], json!(vip));
    let defaults = yaml(file(&files, "ansible/roles/iotc_kubeadm/defaults/main.yml"));
    for k in ["iotc_kubeadm_vip_image", "iotc_kubeadm_vip_interface"] {
        vars[k] = defaults[k].clone();
    }
    vars["iotc_kubeadm_vip_interface"] = json!("ens192");
    let template = file(&files, "ansible/roles/iotc_kubeadm/templates/kube-vip.yaml.j2");
    let tasks = yaml(file(&files, "ansible/roles/iotc_kubeadm/tasks/main.yml"));
    let tasks = tasks.as_array().unwrap();
    let position = |name: &str| {
        tasks
            .iter()
            .position(|t| t["name"].as_str().unwrap().starts_with(name))
            .unwrap()
    };
    let write = &tasks[position("Run kube-vip")];
    assert_eq!(
        write["ansible.builtin.template"]["dest"],
        "/etc/kubernetes/manifests/kube-vip.yaml"
    );
    assert!(position("Run kube-vip") < position("Initialise the cluster"));
    assert!(position("Run kube-vip") < position("Join the cluster"));
    assert!(position("Initialise the cluster") < position("Give kube-vip admin.conf"));
    // The kubeconfig the first write picks, rendered as Ansible would.
    let pick = write["vars"]["iotc_kubeadm_vip_kubeconfig"].as_str().unwrap();
    let kubeconfig = |mode: &str, exists: bool, version: &str| -> String {
        let script = r#"
import json, sys, jinja2
d = json.load(sys.stdin)
print(jinja2.Environment().from_string(d["t"]).render(**d["v"]), end="")
"#;
        python(
            script,
            &json!({ "t": pick, "v": {
                "iotc_kubeadm_mode": mode,
                "iotc_kubeadm_admin_conf": { "stat": { "exists": exists } },
                "iotc_runtime_version": version,
            }}),
        )
    };
    assert_eq!(kubeconfig("init", false, "1.33"), "super-admin.conf");
    assert_eq!(kubeconfig("init", true, "1.33"), "admin.conf");
    assert_eq!(kubeconfig("server", false, "1.33"), "admin.conf");
    assert_eq!(kubeconfig("init", false, "1.28"), "admin.conf");
    for which in ["super-admin.conf", "admin.conf"] {
        let mut v = vars.clone();
        v["iotc_kubeadm_vip_kubeconfig"] = json!(which);
        let pod = &render(template, &v)[0];
        assert_eq!(pod["kind"], "Pod");
        assert_eq!(pod["metadata"]["namespace"], "kube-system");
        assert_eq!(pod["spec"]["hostNetwork"], true);
        let c = &pod["spec"]["containers"][0];
        assert!(c["image"].as_str().unwrap().starts_with("ghcr.io/kube-vip/kube-vip:v"));
        let env: std::collections::BTreeMap<&str, &str> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
            .collect();
        assert_eq!(env["address"], vip);
        assert_eq!(env["port"], "6443");
        assert_eq!(env["cp_enable"], "true");
        assert_eq!(env["vip_interface"], "ens192");
        assert_eq!(
            c["securityContext"]["capabilities"]["add"],
            json!(["NET_ADMIN", "NET_RAW"])
        );
        assert_eq!(
            pod["spec"]["volumes"][0]["hostPath"]["path"],
            json!(format!("/etc/kubernetes/{which}"))
        );
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/etc/kubernetes/admin.conf");
    }

    // Without a VIP: a warning; on k3s or EKS: refused.
    let without: Vec<(String, String)> = common::example_files("city")
        .into_iter()
        .map(|(p, t)| (p, t.replace(&format!("vip = \"{vip}\""), "")))
        .collect();
    let a = analyze(&common::db_of(&without), &without[0].0, &Overrides::default());
    assert!(
        a.diagnostics.iter().any(|d| d.code.as_str() == "W0404"),
        "{:?}",
        a.diagnostics
    );
    let on_k3s: Vec<(String, String)> = common::example_files("city")
        .into_iter()
        .map(|(p, t)| (p, t.replace("distribution = kubeadm", "distribution = k3s")))
        .collect();
    let a = analyze(&common::db_of(&on_k3s), &on_k3s[0].0, &Overrides::default());
    assert!(
        a.diagnostics.iter().any(|d| d.code.as_str() == "E0404" && d.is_error()),
        "{:?}",
        a.diagnostics
    );
}
