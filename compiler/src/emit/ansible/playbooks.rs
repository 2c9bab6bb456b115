//! `site.yml` and `playbooks/*.yml`: typed plays. A playbook only has the
//! plays for runtimes the solution uses; `site.yml` imports only the
//! playbooks that have plays.

use super::inventory::{Present, Upgrade, UpgradeHosts};
use super::yaml_types::{play, role, task, Import, Play, Task};
use super::Engine;
use super::{yaml_file, EmitError, OutputFile, ROOT};
use serde_json::{json, Value};

fn prepare() -> Vec<Play> {
    vec![play("Prepare every host", "all")
        .become_root()
        .role(role("iotc_prepare"))]
}

fn control_plane(p: &Present) -> Vec<Play> {
    let mut plays = Vec::new();
    if p.k3s {
        // Every site (and cluster) is its own cluster: its first server
        // initialises it, then the others of an HA site join it.
        plays.push(
            play("Initialise each site's k3s cluster on its first server", "k3s_init")
                .become_root()
                .role(role("iotc_k3s").var("iotc_k3s_mode", "server")),
        );
        plays.push(read_k3s_token());
        plays.push(
            play("Join the other k3s servers of HA sites", "k3s_servers:!k3s_init")
                .become_root()
                .role(
                    role("iotc_k3s")
                        .var("iotc_k3s_mode", "server")
                        .var("iotc_k3s_token", K3S_TOKEN),
                ),
        );
    }
    if p.microk8s {
        plays.push(
            play(
                "Initialise each site's microk8s cluster on its first server",
                "microk8s_init",
            )
            .become_root()
            .role(role("iotc_microk8s").var("iotc_microk8s_mode", "server")),
        );
        plays.push(issue_microk8s_token());
        plays.push(
            play(
                "Join the other microk8s servers of HA sites",
                "microk8s_servers:!microk8s_init",
            )
            .become_root()
            .role(
                role("iotc_microk8s")
                    .var("iotc_microk8s_mode", "server")
                    .var("iotc_microk8s_join_token", MICROK8S_TOKEN),
            ),
        );
    }
    if p.kubeadm {
        // The first server initialises (kubeadm init, Calico); the others
        // join it as control-plane nodes with the uploaded certificates.
        plays.push(
            play("Initialise each kubeadm cluster on its first server", "kubeadm_init")
                .become_root()
                .role(role("iotc_kubeadm").var("iotc_kubeadm_mode", "init")),
        );
        plays.push(issue_kubeadm_join(true));
        plays.push(
            play(
                "Join the other kubeadm control-plane nodes",
                "kubeadm_servers:!kubeadm_init",
            )
            .become_root()
            .role(
                role("iotc_kubeadm")
                    .var("iotc_kubeadm_mode", "server")
                    .var("iotc_kubeadm_join_command", KUBEADM_JOIN)
                    .var("iotc_kubeadm_certificate_key", KUBEADM_CERT_KEY),
            ),
        );
    }
    plays
}

/// The join command of the host's cluster, printed on its first server.
const KUBEADM_JOIN: &str = "{{ hostvars[iotc_k8s_server]['iotc_kubeadm_join']['stdout'] | trim }}";
/// The key of the control-plane certificates uploaded on the first server
/// (the last line `kubeadm init phase upload-certs` prints).
const KUBEADM_CERT_KEY: &str = "{{ hostvars[iotc_k8s_server]['iotc_kubeadm_certificate_key']['stdout_lines'] | last }}";

/// A bootstrap token (one hour) and, for control-plane joins, the
/// certificates uploaded for two hours under a fresh key; never logged.
fn issue_kubeadm_join(control_plane: bool) -> Play {
    let mut p = play("Issue a kubeadm join token on each first server", "kubeadm_init")
        .become_root()
        .no_facts()
        .task(
            task(
                "Create a bootstrap token and print the join command",
                "ansible.builtin.command",
                json!({ "argv": ["/usr/bin/kubeadm", "token", "create", "--ttl", "1h", "--print-join-command"] }),
            )
            .register("iotc_kubeadm_join")
            .changed_when(true)
            .no_log(),
        );
    if control_plane {
        p = p.task(
            task(
                "Upload the control-plane certificates under a new key",
                "ansible.builtin.command",
                json!({ "argv": ["/usr/bin/kubeadm", "init", "phase", "upload-certs", "--upload-certs"] }),
            )
            .register("iotc_kubeadm_certificate_key")
            .changed_when(true)
            .when("iotc_k8s_servers | length > 1")
            .no_log(),
        );
    }
    p
}

/// The join token of the host's site, read from its first server.
const K3S_TOKEN: &str = "{{ hostvars[iotc_k8s_server]['iotc_k3s_node_token']['content'] | b64decode | trim }}";
const MICROK8S_TOKEN: &str = "{{ hostvars[iotc_k8s_server]['iotc_microk8s_join_token'] }}";

fn read_k3s_token() -> Play {
    play("Read the k3s join token from each first server", "k3s_init")
        .become_root()
        .no_facts()
        .task(
            task(
                "Read the node token",
                "ansible.builtin.slurp",
                json!({ "src": "/var/lib/rancher/k3s/server/node-token" }),
            )
            .register("iotc_k3s_node_token")
            .no_log(),
        )
}

fn issue_microk8s_token() -> Play {
    play("Issue a microk8s join token on each first server", "microk8s_init")
        .become_root()
        .no_facts()
        .task(
            task(
                "Generate a join token",
                "ansible.builtin.set_fact",
                json!({
                    "iotc_microk8s_join_token":
                        "{{ lookup('ansible.builtin.password', '/dev/null', chars=['ascii_lowercase', 'digits'], length=32) }}"
                }),
            )
            .no_log(),
        )
        .task(
            task(
                "Register the join token for one hour",
                "ansible.builtin.command",
                json!({
                    "argv": [
                        "/snap/bin/microk8s", "add-node",
                        "--token", "{{ iotc_microk8s_join_token }}",
                        "--token-ttl", "3600"
                    ]
                }),
            )
            .changed_when(true)
            .no_log(),
        )
}

fn workers(p: &Present) -> Vec<Play> {
    let mut plays = Vec::new();
    let mut node_groups = Vec::new();
    if p.k3s {
        plays.push(read_k3s_token());
        plays.push(
            play("Join the k3s agents", "k3s_agents").become_root().role(
                role("iotc_k3s")
                    .var("iotc_k3s_mode", "agent")
                    .var("iotc_k3s_token", K3S_TOKEN),
            ),
        );
        node_groups.extend(["k3s_servers", "k3s_agents"]);
    }
    if p.microk8s {
        plays.push(issue_microk8s_token());
        plays.push(
            play("Join the microk8s workers", "microk8s_agents").become_root().role(
                role("iotc_microk8s")
                    .var("iotc_microk8s_mode", "agent")
                    .var("iotc_microk8s_join_token", MICROK8S_TOKEN),
            ),
        );
        node_groups.extend(["microk8s_servers", "microk8s_agents"]);
    }
    if p.kubeadm {
        plays.push(issue_kubeadm_join(false));
        plays.push(
            play("Join the kubeadm workers", "kubeadm_workers").become_root().role(
                role("iotc_kubeadm")
                    .var("iotc_kubeadm_mode", "worker")
                    .var("iotc_kubeadm_join_command", KUBEADM_JOIN),
            ),
        );
        // Control-plane nodes run workloads too: the capacity check counts
        // every node of the pool, so kubeadm's control-plane taint goes.
        plays.push(
            play("Label and taint the kubeadm nodes", "kubeadm_servers:kubeadm_workers")
                .become_root()
                .role(role("iotc_k8s_node").var(
                    "iotc_k8s_node_untaints",
                    "{{ ['node-role.kubernetes.io/control-plane:NoSchedule'] if inventory_hostname in groups['kubeadm_servers'] else [] }}",
                )),
        );
    }
    if !node_groups.is_empty() {
        plays.push(
            play("Label and taint the Kubernetes nodes", &node_groups.join(":"))
                .become_root()
                .role(role("iotc_k8s_node")),
        );
    }
    // Secrets are created through kubectl on each first server.
    let init: Vec<&str> = [
        (p.k3s, "k3s_init"),
        (p.microk8s, "microk8s_init"),
        (p.kubeadm, "kubeadm_init"),
    ]
    .into_iter()
    .filter_map(|(on, g)| on.then_some(g))
    .collect();
    if p.workload_secrets {
        plays.push(
            play("Create the workloads' Secrets on each first server", &init.join(":"))
                .become_root()
                .role(role("iotc_k8s_secrets")),
        );
    }
    if p.pull_secrets {
        plays.push(
            play(
                "Create the registry pull Secrets on each site's first server",
                &init.join(":"),
            )
            .become_root()
            .role(role("iotc_k8s_pull_secrets")),
        );
    }
    plays
}

fn docker_fleets(p: &Present) -> Vec<Play> {
    if !p.docker {
        return Vec::new();
    }
    vec![
        play("Install Docker Engine on the Docker fleets", "docker_hosts")
            .become_root()
            .role(role("iotc_docker")),
        play("Ship each site's Compose stack, models and timers", "docker_hosts")
            .become_root()
            .role(role("iotc_compose_stack")),
    ]
}

/// `playbooks/upgrade.yml`: not part of `site.yml`. Each cluster or site
/// is upgraded one host at a time (`serial: 1`), servers first, and stops
/// at its first failure (`max_fail_percentage: 0`), so two servers of one
/// site are never down together and a failed node leaves the rest of its
/// site untouched. Kubernetes nodes are drained through another server of
/// their site (when the site has another node to move pods to), get the
/// role again with the inventory's version, and are uncordoned once they
/// report Ready at that version. A cluster on EC2 instances gets the same
/// play over the groups `ansible/terraform_<cluster>.py` fills (run with
/// that script as a second inventory); without it the play matches no host.
fn upgrade(p: &Present) -> Vec<Play> {
    let mut plays = Vec::new();
    if p.k3s {
        plays.push(read_k3s_token());
    }
    for u in &p.upgrades {
        match u.engine {
            Engine::K3s | Engine::Microk8s => plays.push(upgrade_nodes(u)),
            Engine::Docker => plays.push(upgrade_docker(u)),
            Engine::Kubeadm => plays.push(upgrade_kubeadm(u)),
            Engine::None => {}
        }
    }
    plays
}

/// An upgrade play of `u` on its hosts, servers first, with the values of
/// `iotc_upgrade_servers` (the servers, the first the one that initialised
/// the cluster) and `iotc_upgrade_drain` (whether pods can move elsewhere).
fn upgrade_play(name: &str, u: &Upgrade) -> (Play, Value, Value) {
    match &u.hosts {
        UpgradeHosts::Listed { servers, hosts } => (
            play(name, "").host_list(hosts),
            json!(servers),
            // A one-node site has nowhere to move its pods to.
            json!(hosts.len() > 1),
        ),
        // EC2 instances: their names come from the inventory script, so
        // the play targets the groups it fills. Ansible evaluates a
        // pattern's unions in the order written, then the intersection,
        // keeping that order (`order: inventory`, the default): the
        // cluster's first server, its other servers, then its agents.
        UpgradeHosts::FromTerraform {
            groups: [init, servers, agents],
        } => (
            play(name, &format!("{init}:{servers}:{agents}:&{}", u.group)),
            json!("{{ iotc_k8s_servers }}"),
            json!(format!("{{{{ groups['{}'] | length > 1 }}}}", u.group)),
        ),
    }
}

/// A server of the host's site other than itself (itself on a one-server
/// site, where its API comes back with it).
const UPGRADE_VIA: &str =
    "{{ (iotc_upgrade_servers | difference([inventory_hostname]) + iotc_upgrade_servers) | first }}";

/// `kubectl drain` of the play's host: DaemonSets stay, emptyDir data
/// goes, and a drain blocked by a PodDisruptionBudget fails after 10 min.
fn drain_args() -> serde_json::Value {
    json!([
        "drain",
        "{{ inventory_hostname }}",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=600s"
    ])
}

/// `kubectl get node` of the play's host: `<Ready status> <kubelet version>`.
fn ready_args() -> serde_json::Value {
    json!([
        "get",
        "node",
        "{{ inventory_hostname }}",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status} {.status.nodeInfo.kubeletVersion}"
    ])
}

/// After a node's upgrade: wait (10 min at most) until it is Ready and
/// `until` holds of its `<Ready> <kubelet version>`.
fn wait_ready(until: &str) -> Task {
    task(
        "Wait until the node is Ready at the new version",
        "ansible.builtin.command",
        json!({ "argv": "{{ iotc_upgrade_kubectl + iotc_upgrade_ready_args }}" }),
    )
    .delegate_to("{{ iotc_upgrade_via }}")
    .register("iotc_upgrade_ready")
    .kw("until", until)
    .kw("retries", 60)
    .kw("delay", 10)
    .changed_when(false)
}

/// The last step of a drained node's upgrade.
fn uncordon() -> Task {
    task(
        "Uncordon the node",
        "ansible.builtin.command",
        json!({ "argv": "{{ iotc_upgrade_kubectl + ['uncordon', inventory_hostname] }}" }),
    )
    .delegate_to("{{ iotc_upgrade_via }}")
    .when("iotc_upgrade_drain | bool")
    .register("iotc_upgrade_uncordon")
    .changed_when("'already uncordoned' not in iotc_upgrade_uncordon.stdout")
}

fn upgrade_nodes(u: &Upgrade) -> Play {
    let k3s = u.engine == Engine::K3s;
    let kubectl = if k3s {
        json!(["/usr/local/bin/k3s", "kubectl"])
    } else {
        json!(["/snap/bin/microk8s", "kubectl"])
    };
    let mode = "{{ 'server' if inventory_hostname in iotc_upgrade_servers else 'agent' }}";
    let role = if k3s {
        role("iotc_k3s")
            .var("iotc_k3s_mode", mode)
            .var("iotc_k3s_token", K3S_TOKEN)
    } else {
        role("iotc_microk8s").var("iotc_microk8s_mode", mode)
    };
    // Ready, and (k3s: exactly, microk8s: the channel's minor) the version.
    let (want, ready) = if k3s {
        (
            "True {{ iotc_runtime_version }}",
            "iotc_upgrade_ready.stdout == iotc_upgrade_ready_want",
        )
    } else {
        (
            "True v{{ (iotc_runtime_version ~ '.') if iotc_runtime_version is defined else '' }}",
            "iotc_upgrade_ready.stdout.startswith(iotc_upgrade_ready_want)",
        )
    };
    let (play, servers, drain) = upgrade_play(&format!("Upgrade {} one node at a time, servers first", u.group), u);
    let mut play = play
        .one_at_a_time()
        .become_root()
        .var("iotc_upgrade_servers", servers)
        .var("iotc_upgrade_via", UPGRADE_VIA)
        .var("iotc_upgrade_kubectl", kubectl)
        .var("iotc_upgrade_drain", drain)
        .var("iotc_upgrade_drain_args", drain_args())
        .var("iotc_upgrade_ready_args", ready_args())
        .var("iotc_upgrade_ready_want", want)
        .pre_task(
            task(
                "Cordon and drain the node through a server of its site",
                "ansible.builtin.command",
                json!({ "argv": "{{ iotc_upgrade_kubectl + iotc_upgrade_drain_args }}" }),
            )
            .delegate_to("{{ iotc_upgrade_via }}")
            .when("iotc_upgrade_drain | bool")
            .changed_when(true),
        )
        .role(role);
    if !k3s {
        // The snap is held against snapd's own refreshes; an explicit
        // refresh to the inventory's channel is the upgrade.
        play = play.task(
            task(
                "Refresh microk8s to its channel",
                "ansible.builtin.command",
                json!({ "argv": ["snap", "refresh", "microk8s", "--channel={{ iotc_microk8s_channel }}"] }),
            )
            .register("iotc_upgrade_refresh")
            .changed_when("'refreshed' in iotc_upgrade_refresh.stdout"),
        );
    }
    play.post_task(wait_ready(ready)).post_task(uncordon())
}

/// A kubeadm cluster, the way kubeadm's own upgrade guide goes, one node
/// at a time, control-plane nodes first: kubeadm itself at the cluster's
/// new version; `kubeadm upgrade apply` on the first control-plane node
/// (`kubeadm upgrade plan` first), `kubeadm upgrade node` on the others;
/// then drain, kubelet and kubectl at the version, restart, Ready,
/// uncordon. One minor at a time (the version-skew policy), checked on
/// the node before anything changes; a node already at the version is
/// left alone, so a second run changes nothing.
fn upgrade_kubeadm(u: &Upgrade) -> Play {
    // Everything after the reads runs only on a node below the version.
    let behind = "iotc_upgrade_node_version.stdout != iotc_upgrade_to.stdout";
    let first = "inventory_hostname == iotc_upgrade_servers[0]";
    let apt = |name: &str, packages: serde_json::Value| {
        task(
            name,
            "ansible.builtin.apt",
            json!({
                "name": packages,
                "state": "present",
                "update_cache": true,
                "install_recommends": false,
                // They are held against apt's own upgrades; the hold stays.
                "allow_change_held_packages": true
            }),
        )
    };
    let (play, servers, drain) = upgrade_play(
        &format!("Upgrade {} one node at a time, control plane first", u.group),
        u,
    );
    play.one_at_a_time()
        .become_root()
        .var("iotc_upgrade_servers", servers)
        .var("iotc_upgrade_via", UPGRADE_VIA)
        .var(
            "iotc_upgrade_kubectl",
            json!(["/usr/bin/kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf"]),
        )
        .var("iotc_upgrade_drain", drain)
        .var("iotc_upgrade_drain_args", drain_args())
        .var("iotc_upgrade_ready_args", ready_args())
        // The role's default, for its pin task.
        .var("iotc_kubeadm_packages", json!(["kubelet", "kubeadm", "kubectl"]))
        .var(
            "iotc_upgrade_previous_minor",
            "{{ iotc_runtime_version.split('.')[0] }}.{{ iotc_runtime_version.split('.')[1] | int - 1 }}",
        )
        .pre_task(
            task(
                "Read the installed kubeadm version",
                "ansible.builtin.command",
                json!({ "argv": ["/usr/bin/kubeadm", "version", "-o", "short"] }),
            )
            .register("iotc_upgrade_from")
            .changed_when(false),
        )
        .pre_task(
            task(
                "Upgrade one minor version at a time",
                "ansible.builtin.assert",
                json!({
                    "that": ["(iotc_upgrade_from.stdout.lstrip('v').split('.')[:2] | join('.')) in [iotc_runtime_version, iotc_upgrade_previous_minor]"],
                    "fail_msg": "kubeadm {{ iotc_upgrade_from.stdout }} is installed: upgrade to {{ iotc_upgrade_previous_minor }} first,\nthen to {{ iotc_runtime_version }} (kubeadm upgrades one minor version at a time)",
                    "quiet": true
                }),
            ),
        )
        .task(super::roles::kubeadm_repository())
        .task(super::roles::kubeadm_pin())
        .task(apt(
            "Upgrade kubeadm first",
            json!(["kubeadm={{ iotc_kubeadm_package_version }}"]),
        ))
        .task(
            task(
                "Read the version kubeadm upgrades to",
                "ansible.builtin.command",
                json!({ "argv": ["/usr/bin/kubeadm", "version", "-o", "short"] }),
            )
            .register("iotc_upgrade_to")
            .changed_when(false),
        )
        .task(
            task(
                "Read the node's kubelet version",
                "ansible.builtin.command",
                json!({ "argv": "{{ iotc_upgrade_kubectl + ['get', 'node', inventory_hostname, '-o', 'jsonpath={.status.nodeInfo.kubeletVersion}'] }}" }),
            )
            .delegate_to("{{ iotc_upgrade_via }}")
            .register("iotc_upgrade_node_version")
            .changed_when(false),
        )
        .task(
            task(
                "Check the upgrade (first control-plane node)",
                "ansible.builtin.command",
                json!({ "argv": ["/usr/bin/kubeadm", "upgrade", "plan", "{{ iotc_upgrade_to.stdout }}"] }),
            )
            .when(first)
            .when(behind)
            .changed_when(false),
        )
        .task(
            task(
                "Upgrade the control plane (first control-plane node)",
                "ansible.builtin.command",
                json!({ "argv": ["/usr/bin/kubeadm", "upgrade", "apply", "--yes", "{{ iotc_upgrade_to.stdout }}"] }),
            )
            .when(first)
            .when(behind)
            .changed_when(true),
        )
        .task(
            task(
                "Upgrade the node's kubeadm configuration (other nodes)",
                "ansible.builtin.command",
                json!({ "argv": ["/usr/bin/kubeadm", "upgrade", "node"] }),
            )
            .when(&format!("not ({first})"))
            .when(behind)
            .changed_when(true),
        )
        .task(
            task(
                "Cordon and drain the node through a control-plane node",
                "ansible.builtin.command",
                json!({ "argv": "{{ iotc_upgrade_kubectl + iotc_upgrade_drain_args }}" }),
            )
            .delegate_to("{{ iotc_upgrade_via }}")
            .when("iotc_upgrade_drain | bool")
            .when(behind)
            .changed_when(true),
        )
        .task(
            apt(
                "Upgrade kubelet and kubectl",
                json!([
                    "kubelet={{ iotc_kubeadm_package_version }}",
                    "kubectl={{ iotc_kubeadm_package_version }}"
                ]),
            )
            .when(behind),
        )
        .task(
            task(
                "Restart the kubelet",
                "ansible.builtin.systemd_service",
                json!({ "name": "kubelet", "state": "restarted", "daemon_reload": true }),
            )
            .when(behind),
        )
        .post_task(wait_ready("iotc_upgrade_ready.stdout == 'True ' ~ iotc_upgrade_to.stdout"))
        .post_task(uncordon())
}

fn upgrade_docker(u: &Upgrade) -> Play {
    let (play, _, _) = upgrade_play(&format!("Upgrade {} one gateway at a time", u.group), u);
    play.one_at_a_time()
        .become_root()
        // The stack's .env and DOCKER-USER rules name every gateway's
        // address; a batch of one only gathers its own facts.
        .pre_task(
            task(
                "Gather the facts of every gateway of the site",
                "ansible.builtin.setup",
                json!({ "gather_subset": ["!all", "!min", "network"] }),
            )
            .delegate_to("{{ item }}")
            .kw("delegate_facts", true)
            .with_loop(format!("{{{{ groups['{}'] }}}}", u.group)),
        )
        .role(role("iotc_docker"))
        .role(role("iotc_compose_stack"))
}

pub fn emit(p: &Present, files: &mut Vec<OutputFile>) -> Result<(), EmitError> {
    let books = [
        ("prepare", "Prepare the hosts", prepare()),
        (
            "control-plane",
            "Install the Kubernetes control planes",
            control_plane(p),
        ),
        ("workers", "Join the Kubernetes workers", workers(p)),
        ("docker-fleets", "Deploy the Docker fleets", docker_fleets(p)),
    ];
    let mut site = Vec::new();
    for (file, title, plays) in books {
        if plays.is_empty() {
            continue;
        }
        let path = format!("playbooks/{file}.yml");
        files.push(yaml_file(format!("{ROOT}/{path}"), &plays)?);
        site.push(Import {
            name: title.to_string(),
            import_playbook: path,
        });
    }
    files.push(yaml_file(format!("{ROOT}/site.yml"), &site)?);
    // Only where a cluster or site is upgraded (EC2 clusters included:
    // their plays target the groups the Terraform inventory script fills).
    let upgrades = upgrade(p);
    if !p.upgrades.is_empty() {
        files.push(yaml_file(format!("{ROOT}/playbooks/upgrade.yml"), &upgrades)?);
    }
    Ok(())
}
