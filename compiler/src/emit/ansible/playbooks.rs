//! `site.yml` and `playbooks/*.yml`: typed plays. A playbook only has the
//! plays for runtimes the solution uses; `site.yml` imports only the
//! playbooks that have plays.

use super::inventory::Present;
use super::yaml_types::{play, role, task, Import, Play};
use super::{yaml_file, EmitError, OutputFile, ROOT};
use serde_json::json;

fn prepare() -> Vec<Play> {
    vec![play("Prepare every host", "all")
        .become_root()
        .role(role("iotc_prepare"))]
}

fn control_plane(p: &Present) -> Vec<Play> {
    let mut plays = Vec::new();
    if p.k3s {
        plays.push(
            play("Install the k3s servers", "k3s_servers")
                .become_root()
                .role(role("iotc_k3s").var("iotc_k3s_mode", "server")),
        );
    }
    if p.microk8s {
        plays.push(
            play("Install the microk8s servers", "microk8s_servers")
                .become_root()
                .role(role("iotc_microk8s").var("iotc_microk8s_mode", "server")),
        );
    }
    plays
}

fn workers(p: &Present) -> Vec<Play> {
    let mut plays = Vec::new();
    let mut node_groups = Vec::new();
    if p.k3s {
        plays.push(
            play("Read the k3s join token from each server", "k3s_servers")
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
                ),
        );
        plays.push(play("Join the k3s agents", "k3s_agents").become_root().role(
            role("iotc_k3s").var("iotc_k3s_mode", "agent").var(
                "iotc_k3s_token",
                "{{ hostvars[iotc_k8s_server]['iotc_k3s_node_token']['content'] | b64decode | trim }}",
            ),
        ));
        node_groups.extend(["k3s_servers", "k3s_agents"]);
    }
    if p.microk8s {
        plays.push(
            play("Issue a microk8s join token on each server", "microk8s_servers")
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
                ),
        );
        plays.push(play("Join the microk8s workers", "microk8s_agents").become_root().role(
            role("iotc_microk8s").var("iotc_microk8s_mode", "agent").var(
                "iotc_microk8s_join_token",
                "{{ hostvars[iotc_k8s_server]['iotc_microk8s_join_token'] }}",
            ),
        ));
        node_groups.extend(["microk8s_servers", "microk8s_agents"]);
    }
    if !node_groups.is_empty() {
        plays.push(
            play("Label and taint the Kubernetes nodes", &node_groups.join(":"))
                .become_root()
                .role(role("iotc_k8s_node")),
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
    Ok(())
}
