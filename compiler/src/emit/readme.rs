//! Stage 4, backends: `README.md` at the top of the output, from the IR
//! and the paths the other backends wrote. It states the exact apply order
//! per tier and what the user must supply; `docs/terraform.md` and
//! `docs/k8s.md` state the same order (`compiler/tests/readme.rs`).

use super::ansible::{cluster_engine, group_name, Engine};
use super::OutputFile;
use crate::ir::{Placement, Provider, SecretSource, Solution, WorkloadKind};
use std::collections::BTreeSet;
use std::fmt::Write;

/// The steps of an apply, in order, as the README and the docs name them
/// (each doc's "Apply order" list has these, in this order).
pub const APPLY_STEPS: &[&str] = &[
    "terraform apply (cloud)",
    "ansible (cloud)",
    "kubectl apply (cloud)",
    "ansible (edge)",
    "kubectl apply (edge sites)",
];

/// Where the file goes.
pub const PATH: &str = "README.md";

/// Where Ansible installs Kubernetes, `site.yml` creates the workloads'
/// Secrets from their `env` and `vault` references (role `iotc_k8s_secrets`).
const SECRETS_BY_ANSIBLE: &str =
    "check that `site.yml` created the Secrets listed below (from their `env` and `vault` references, looked up on the controller) and create those `from file`";

/// The folders of `paths` under `root` that hold a file named `leaf`
/// (`k8s/plants/plant-a` for `k8s/plants/plant-a/kustomization.yaml`).
fn folders<'a>(paths: &'a [String], root: &str, leaf: &str) -> BTreeSet<&'a str> {
    paths
        .iter()
        .filter(|p| p.starts_with(&format!("{root}/")) && p.ends_with(&format!("/{leaf}")))
        .filter_map(|p| p.rsplit_once('/').map(|(d, _)| d))
        .collect()
}

/// Inline code in Markdown, for a name from the solution.
fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'"))
}

/// The monitoring step of the Kubernetes folder `dir` of group `group`.
/// A group with its own Prometheus (`Solution::monitoring`) is monitored
/// once its kustomization is applied: the generated scrape config, rules
/// and Grafana datasource need no operator. `30-monitoring.yaml` (a
/// ServiceMonitor and PrometheusRule, which need the Prometheus Operator's
/// CRDs) exists only where no Prometheus scrapes a monitored model's
/// servers (W0406); it is not in the kustomization, and is applied on its
/// own, after the folder, once an operator runs (docs/k8s.md, Monitoring).
fn monitoring(o: &mut String, sol: &Solution, paths: &[String], dir: &str, group: (&str, bool), indent: &str) {
    let file = format!("{dir}/{}", super::k8s::MONITORING_FILE);
    let own = sol.monitoring.iter().find(|m| (m.group.as_str(), m.fleet) == group);
    if let Some(m) = own {
        let _ = writeln!(
            o,
            "{indent}- monitoring: {} scrapes the workloads here with the configuration iotc generated (in the kustomization); no operator is needed{}.",
            code(&m.prometheus),
            if m.dashboards.is_empty() {
                String::new()
            } else {
                format!(
                    ", and {} reads it as its datasource",
                    m.dashboards.iter().map(|d| code(d)).collect::<Vec<_>>().join(", ")
                )
            }
        );
    }
    // Only where no Prometheus of the solution scrapes a monitored model's
    // servers (warning W0406 said so).
    if paths.contains(&file) {
        let _ = writeln!(
            o,
            "{indent}- then, once the Prometheus Operator and its CRDs are installed in that cluster (e.g. the kube-prometheus-stack chart; warning W0406): `kubectl apply -f {file}`"
        );
    }
}

/// The README for the files at `paths` (relative to the output folder).
/// The workloads on `group` (a cluster, or a fleet when `fleet`) that claim
/// a PersistentVolume of the default StorageClass (a sized volume of
/// anything but a daemon, whose sized volumes are host folders).
fn claimers<'a>(sol: &'a Solution, group: &str, fleet: bool) -> Vec<&'a str> {
    sol.workloads
        .iter()
        .filter(|w| match &w.placement {
            Placement::Cluster { cluster, .. } => !fleet && cluster == group,
            Placement::Fleet { fleet: f, .. } => fleet && f == group,
        })
        .filter(|w| w.kind != WorkloadKind::Daemon && w.container.volumes.iter().any(|v| v.size_bytes.is_some()))
        .map(|w| w.name.as_str())
        .collect()
}

/// What a fresh install of `distribution` lacks for PersistentVolumeClaims
/// without a class: `None` where it has a default StorageClass (k3s ships
/// local-path; on EKS the Terraform output installs the EBS CSI driver's,
/// docs/terraform.md), else what the user must install first.
fn storage_step(distribution: &str) -> Option<&'static str> {
    match distribution {
        "k3s" | "eks" => None,
        "microk8s" => Some("microk8s has no StorageClass until `microk8s enable hostpath-storage` (on the first server)"),
        "kubeadm" => Some(
            "kubeadm installs no StorageClass: install a provisioner first (on vSphere the vSphere CSI driver) and mark its class default (`storageclass.kubernetes.io/is-default-class: \"true\"`)",
        ),
        _ => Some("install a default StorageClass first"),
    }
}

/// The README line for the claims of `group`, if its distribution needs a
/// StorageClass installed by hand.
fn storage(o: &mut String, sol: &Solution, group: &str, fleet: bool, distribution: &str, indent: &str) {
    let users = claimers(sol, group, fleet);
    if let (Some(step), false) = (storage_step(distribution), users.is_empty()) {
        let _ = writeln!(
            o,
            "{indent}- storage: {} claim volumes of the default StorageClass, and {step}; otherwise the claims stay Pending.",
            users.iter().map(|w| code(w)).collect::<Vec<_>>().join(", ")
        );
    }
}

pub fn readme(sol: &Solution, paths: &[String]) -> OutputFile {
    let tf = folders(paths, super::terraform::ROOT, "main.tf.json");
    let kustomize = folders(paths, super::k8s::ROOT, "kustomization.yaml");
    let compose = folders(paths, "compose", "compose.yaml");
    let ansible = paths.iter().any(|p| p == "ansible/site.yml");
    let mut o = String::new();
    let _ = writeln!(o, "# {} {}: applying this output\n", sol.name, sol.version);
    let _ = writeln!(
        o,
        "Generated by iotc. Do not edit: `iotc build` overwrites this file. Apply the tiers in this order: the cloud first (the edge calls its endpoints), then the edge. Within a tier, each step needs the one before.\n"
    );
    let _ = writeln!(o, "## Apply order\n");
    let _ = writeln!(o, "Steps, in order (a step with nothing to do is left out below):\n");
    for (i, s) in APPLY_STEPS.iter().enumerate() {
        let _ = writeln!(o, "{}. {s}", i + 1);
    }
    let _ = writeln!(o);

    let _ = writeln!(o, "### Cloud tier\n");
    for c in &sol.clusters {
        let _ = writeln!(o, "Cluster {}:\n", code(&c.name));
        let tf_dir = format!("{}/{}", super::terraform::ROOT, c.name);
        if tf.contains(tf_dir.as_str()) {
            let _ = writeln!(
                o,
                "- terraform apply (cloud): add your state backend (see below) as `{tf_dir}/backend.tf`, then `terraform -chdir={tf_dir} init && terraform -chdir={tf_dir} apply`."
            );
        }
        let engine = cluster_engine(c);
        let first = c.control_plane_hosts(&sol.name).first().cloned().unwrap_or_default();
        let script = super::ansible::terraform_inventory::script_path(c);
        let ec2 = c.hosts_from_terraform() && paths.contains(&script);
        let cp_pool = c.control_plane().map(|(p, _)| p.name.clone()).unwrap_or_default();
        if ansible && ec2 {
            // The instances' addresses exist only after the apply: the
            // inventory script reads them from Terraform's outputs.
            let _ = writeln!(
                o,
                "- ansible (cloud): `ansible-playbook -i ansible/inventory.yaml -i {script} ansible/site.yml --limit cluster_{g}` prepares the EC2 instances Terraform created, {installs}, and creates the workloads' Secrets. `{script}` runs `terraform -chdir={tf_dir} output -json` and lists every instance by its private address (`{addresses}`) in its pool's group, the first node{s} of pool {pool} as the control plane; `ansible-inventory -i ansible/inventory.yaml -i {script} --graph cluster_{g}` shows them. Ansible connects as `{user}` (the Ubuntu image's user) with the key pair of Terraform's `ssh_key_name` variable.",
                g = group_name(&c.name),
                installs = match engine {
                    Engine::Kubeadm => format!(
                        "installs containerd and kubeadm {} on them, initialises the control plane, installs Calico (it enforces the NetworkPolicies) and joins the other nodes",
                        super::ansible::kubeadm_version(c.version.as_deref()).0
                    ),
                    _ => format!("installs {} on them, starts the cluster and joins the other nodes", c.distribution),
                },
                addresses = super::ansible::terraform_inventory::ADDRESSES_OUTPUT,
                s = if c.control_plane().is_some_and(|(_, n)| n > 1) { "s" } else { "" },
                pool = code(&cp_pool),
                user = super::terraform::EC2_LOGIN_USER,
            );
        } else if ansible && engine != Engine::None && tf.contains(tf_dir.as_str()) {
            // The inventory names the VMs as Terraform does
            // (`Cluster::pool_hosts`); their DHCP addresses are known only
            // after the apply.
            let installs = match engine {
                Engine::Kubeadm => format!(
                    "installs containerd and kubeadm {} on them, initialises the control plane on `{first}`, installs Calico (it enforces the NetworkPolicies) and joins the other nodes",
                    super::ansible::kubeadm_version(c.version.as_deref()).0
                ),
                _ => format!(
                    "installs {} on them, starts the cluster on `{first}` and joins the other nodes",
                    c.distribution
                ),
            };
            let _ = writeln!(
                o,
                "- ansible (cloud): the inventory's group `cluster_{g}` lists the VMs by the names Terraform gives them. Where DNS does not resolve those names, write their addresses first: `terraform -chdir={tf_dir} output -json ansible_hosts | python3 -c 'import json,os,sys; os.makedirs(\"ansible/host_vars\",exist_ok=True); [open(f\"ansible/host_vars/{{h}}.yml\",\"w\").write(f\"ansible_host: {{a}}\\n\") for h,a in json.load(sys.stdin).items()]'`. Then `ansible-playbook -i ansible/inventory.yaml ansible/site.yml --limit cluster_{g}` {installs}.",
                g = group_name(&c.name),
            );
        } else if ansible && engine != Engine::None {
            let _ = writeln!(
                o,
                "- ansible (cloud): `ansible-playbook -i ansible/inventory.yaml ansible/site.yml --limit cluster_{}` installs {} on the nodes{}.",
                group_name(&c.name),
                c.distribution,
                if tf.contains(tf_dir.as_str()) {
                    " Terraform created (their addresses are its `node_addresses` output)"
                } else {
                    ""
                }
            );
        }
        if engine == Engine::None && !matches!(c.provider, Provider::Aws { .. }) {
            let _ = writeln!(
                o,
                "- ansible (cloud): not generated for {} here: install it on the nodes{} before the next step.",
                c.distribution,
                if tf.contains(tf_dir.as_str()) {
                    " Terraform created (its `node_addresses` output)"
                } else {
                    ""
                }
            );
        }
        let k8s_dir = format!("{}/{}", super::k8s::ROOT, c.name);
        if kustomize.contains(k8s_dir.as_str()) {
            // The first server's address is Terraform's `cluster_endpoint`
            // (the first node of the control-plane pool).
            let fetch = |file: &str, rewrite: bool| {
                format!(
                    "`E=$(terraform -chdir={tf_dir} output -raw cluster_endpoint); H=${{E#https://}}; ssh {user}@${{H%:6443}} sudo {file}{sed} > kubeconfig-{name} && export KUBECONFIG=$PWD/kubeconfig-{name}`",
                    user = super::terraform::EC2_LOGIN_USER,
                    sed = if rewrite { " | sed \"s#https://127.0.0.1:6443#$E#\"" } else { "" },
                    name = c.name,
                )
            };
            let ctx = match &c.provider {
                Provider::Aws { .. } if ec2 => match engine {
                    Engine::K3s => format!(
                        "`/etc/rancher/k3s/k3s.yaml` on its first server (the first node of pool {}, Terraform's `cluster_endpoint`), its server `https://127.0.0.1:6443` replaced by that endpoint, which must be reachable from where kubectl runs (inside the VPC, a VPN or an SSH tunnel): {}",
                        code(&cp_pool),
                        fetch("cat /etc/rancher/k3s/k3s.yaml", true)
                    ),
                    Engine::Microk8s => format!(
                        "`microk8s config` on its first node (the first node of pool {}, Terraform's `cluster_endpoint`): {}",
                        code(&cp_pool),
                        fetch("microk8s config", false)
                    ),
                    _ => format!(
                        "`/etc/kubernetes/admin.conf` on its first control-plane node (the first node of pool {}, Terraform's `cluster_endpoint`, which is also the kubeconfig's server): {}",
                        code(&cp_pool),
                        fetch("cat /etc/kubernetes/admin.conf", false)
                    ),
                },
                Provider::Aws { region, .. } => {
                    format!("`aws eks update-kubeconfig --region {region} --name <terraform output cluster_name>`")
                }
                _ if first.is_empty() => "the admin kubeconfig of its first control-plane node".to_string(),
                // Where each distribution keeps its admin kubeconfig.
                _ => match engine {
                    Engine::K3s => format!("`/etc/rancher/k3s/k3s.yaml` on its first server `{first}`"),
                    Engine::Microk8s => format!("`microk8s config` on its first node `{first}`"),
                    _ => match &c.vip {
                        Some(vip) => format!(
                            "`/etc/kubernetes/admin.conf` on any control-plane node (`{first}`, …; its server is the control plane's VIP `{vip}:6443`)"
                        ),
                        None => format!("`/etc/kubernetes/admin.conf` on its first control-plane node `{first}`"),
                    },
                },
            };
            if c.secret_store.as_ref().is_some_and(|st| st.sync) {
                let _ = writeln!(
                    o,
                    "- kubectl apply (cloud): with the kubeconfig from {ctx}, `kubectl apply -k {k8s_dir}`. Create no Secret: the Secrets Store CSI driver syncs those listed below from their Secrets Manager secrets when the pods start, so fill those first (out of band, or with `manage_secret_values` when applying Terraform)."
                );
            } else {
                let _ = writeln!(
                    o,
                    "- kubectl apply (cloud): with the kubeconfig from {ctx}, {secrets}, then `kubectl apply -k {k8s_dir}`.",
                    secrets = if engine != Engine::None {
                        SECRETS_BY_ANSIBLE
                    } else {
                        "create the Secrets listed below"
                    }
                );
            }
            storage(&mut o, sol, &c.name, false, &c.distribution, "  ");
            monitoring(&mut o, sol, paths, &k8s_dir, (&c.name, false), "  ");
        }
        let _ = writeln!(o);
    }

    let _ = writeln!(o, "### Edge tier\n");
    for f in &sol.fleets {
        let _ = writeln!(o, "Fleet {}:\n", code(&f.name));
        let dir = format!("{}/{}/", super::k8s::ROOT, f.name);
        let sites: Vec<&&str> = kustomize.iter().filter(|d| d.starts_with(&dir)).collect();
        let stacks: Vec<&&str> = compose
            .iter()
            .filter(|d| d.starts_with(&format!("compose/{}/", f.name)))
            .collect();
        if ansible {
            let what = if stacks.is_empty() {
                format!("prepares the gateways and installs {} on every site", f.runtime.name)
            } else {
                format!(
                    "prepares the gateways, installs Docker and brings up the Compose stacks {}",
                    stacks.iter().map(|s| code(s)).collect::<Vec<_>>().join(", ")
                )
            };
            let _ = writeln!(
                o,
                "- ansible (edge): `ansible-playbook -i ansible/inventory.yaml ansible/site.yml --limit fleet_{}` {what}.",
                group_name(&f.name)
            );
        }
        if !sites.is_empty() {
            let _ = writeln!(
                o,
                "- kubectl apply (edge sites): every site is its own cluster; with that site's kubeconfig (on its first server), {SECRETS_BY_ANSIBLE}, then:"
            );
            storage(&mut o, sol, &f.name, true, &f.runtime.name, "  ");
            for s in sites {
                let _ = writeln!(o, "  - `kubectl apply -k {s}`");
                monitoring(&mut o, sol, paths, s, (&f.name, true), "    ");
            }
        }
        let _ = writeln!(o);
    }

    if paths.iter().any(|p| p == "ansible/playbooks/upgrade.yml") {
        let _ = writeln!(o, "## Upgrades\n");
        let _ = writeln!(
            o,
            "To change a runtime version (k3s, microk8s, kubeadm, Docker) or a stack on hosts that already run, change the source, rebuild, and run `ansible-playbook -i ansible/inventory.yaml ansible/playbooks/upgrade.yml` instead of `site.yml` (which restarts every node of a site at once). It upgrades each site and cluster one host at a time, servers first; Kubernetes nodes are drained through another server of their site, upgraded, waited for until Ready at the new version, then uncordoned; a site stops at its first failure. A critical service with a single copy blocks the drain of its node (its PodDisruptionBudget): move it first. See docs/ansible.md, \"Rolling upgrades\".\n"
        );
    }
    let on_ec2: Vec<String> = sol
        .clusters
        .iter()
        .filter(|c| c.hosts_from_terraform() && paths.contains(&super::ansible::terraform_inventory::script_path(c)))
        .map(super::ansible::terraform_inventory::script_path)
        .collect();
    if !on_ec2.is_empty() && paths.iter().any(|p| p == "ansible/playbooks/upgrade.yml") {
        let inventories: Vec<String> = on_ec2.iter().map(|s| format!("-i {s}")).collect();
        let _ = writeln!(
            o,
            "The EC2 instances' addresses come from Terraform: add their inventory scripts, `ansible-playbook -i ansible/inventory.yaml {} ansible/playbooks/upgrade.yml`; without a cluster's script its play matches no host.\n",
            inventories.join(" ")
        );
    }
    let _ = writeln!(o, "## What you supply\n");
    if !tf.is_empty() {
        let _ = writeln!(
            o,
            "- **Terraform state backend.** Nothing here chooses one. Keep state remote and locked, e.g. `backend.tf` beside each `main.tf.json`:\n\n  ```hcl\n  terraform {{\n    backend \"s3\" {{\n      bucket       = \"<state bucket>\"\n      key          = \"{}/<cluster>.tfstate\"\n      region       = \"<region>\"\n      encrypt      = true\n      use_lockfile = true\n    }}\n  }}\n  ```\n\n  (`use_lockfile` needs Terraform 1.10+; OpenTofu and older Terraform lock with `dynamodb_table`). See docs/terraform.md.",
            sol.name
        );
        let _ = writeln!(
            o,
            "- **Cloud credentials** for Terraform (AWS: a profile or role; vSphere: `VSPHERE_USER`, `VSPHERE_PASSWORD`, `VSPHERE_SERVER`) and the variables without a default in each `main.tf.json`."
        );
    }
    if ansible {
        let _ = writeln!(
            o,
            "- **SSH access** for Ansible to every host in `ansible/inventory.yaml` (hosts of a group without any: add them, e.g. the VMs Terraform created)."
        );
        for c in sol.clusters.iter().filter(|c| {
            c.hosts_from_terraform() && paths.contains(&super::ansible::terraform_inventory::script_path(c))
        }) {
            let _ = writeln!(
                o,
                "  - on {name}: the EC2 instances by their private addresses, as `{user}` with the key pair you name in Terraform's `ssh_key_name` variable, from a controller that reaches the VPC (inside it, over a VPN, or through a bastion: `ansible_ssh_common_args: -o ProxyJump=<bastion>` in `ansible/group_vars/cluster_{g}.yml`; the security group admits SSH from the VPC only). The controller also needs Terraform with access to the state of `terraform/{dir}` (the inventory script runs `terraform output`).",
                name = code(&c.name),
                user = super::terraform::EC2_LOGIN_USER,
                g = group_name(&c.name),
                dir = c.name,
            );
        }
    }
    if !kustomize.is_empty() {
        let _ = writeln!(o, "- **Kubeconfigs**: one per cluster and per edge site, as above.");
    }
    let domains: BTreeSet<&str> = sol.clusters.iter().filter_map(|c| c.domain.as_deref()).collect();
    if !domains.is_empty() {
        let _ = writeln!(
            o,
            "- **DNS**: records under {} for the public and edge-called services, pointing at the load balancer or ingress the cloud step creates.",
            domains.iter().map(|d| code(d)).collect::<Vec<_>>().join(", ")
        );
    }
    let registries: BTreeSet<&str> = sol
        .workloads
        .iter()
        .filter_map(|w| w.container.image.split_once('/').map(|(r, _)| r))
        .filter(|r| r.contains('.'))
        .collect();
    if !registries.is_empty() {
        let _ = writeln!(
            o,
            "- **Registry credentials** on every node for the private ones of {} (an image pull secret or the node's container runtime config).",
            registries.iter().map(|r| code(r)).collect::<Vec<_>>().join(", ")
        );
        // On EKS the pull Secret is synced from Secrets Manager, by the
        // name the checker decided (docs/k8s.md, "Registries").
        for c in &sol.clusters {
            for x in c.secret_store.iter().filter(|st| st.sync).flat_map(|st| &st.registries) {
                let Some(r) = sol.registries.iter().find(|r| r.name == x.registry) else {
                    continue;
                };
                let _ = writeln!(
                    o,
                    "  - on {}: registry {}'s credential is kept in the Secrets Manager secret {} (a `.dockerconfigjson` document for {} as {}; set it out of band or with `manage_secret_values`), which the Secrets Store CSI driver syncs into the pull Secret {}",
                    code(&c.name),
                    code(&r.name),
                    code(&x.name),
                    code(&r.host),
                    code(&r.username),
                    code(&r.pull_secret)
                );
            }
        }
    }
    let mut secrets = Vec::new();
    for w in &sol.workloads {
        for s in &w.container.secrets {
            let from = match s.source {
                SecretSource::Env => "environment variable",
                SecretSource::File => "file",
                SecretSource::Vault => "vault path",
            };
            // On an AWS cluster the Terraform root module creates the
            // Secrets Manager secret (docs/terraform.md, Secrets) that the
            // workload's role may read, by the name the checker decided:
            // say where the value is kept and, on EKS, that it is synced.
            let stored = match &w.placement {
                Placement::Cluster { cluster, .. } => sol
                    .clusters
                    .iter()
                    .filter(|c| &c.name == cluster)
                    .filter_map(|c| Some((c, c.secret_store.as_ref()?)))
                    .find_map(|(c, st)| {
                        let x = st.secrets.iter().find(|x| x.workload == w.name && x.key == s.name)?;
                        Some((c, st, x))
                    }),
                Placement::Fleet { .. } => None,
            };
            let kept = stored.map_or(String::new(), |(c, st, x)| {
                let then = if st.sync {
                    "; the Secrets Store CSI driver (EKS add-on) copies it into the Secret when the pod starts"
                } else if cluster_engine(c) != Engine::None && s.source != SecretSource::File {
                    // Ansible installs this cluster (EC2): `site.yml`
                    // creates the Secret from the reference.
                    "; `site.yml` creates the Secret from the reference"
                } else {
                    "; copy it into the Secret"
                };
                format!(
                    "; kept in the Secrets Manager secret {} (`terraform -chdir=terraform/{} output secret_arns`), readable by the workload's role only{then}",
                    code(&x.name),
                    c.name
                )
            });
            // A host-access workload's Secret is in its `-host` namespace
            // (decided by the checker: `ir::Workload::namespace`).
            let elsewhere = if w.namespace == sol.namespace {
                String::new()
            } else {
                format!(" (its Secret in namespace {})", code(&w.namespace))
            };
            secrets.push(format!(
                "  - {} of {}{elsewhere}: from {from} {}{kept}",
                code(&s.name),
                code(&w.name),
                code(&s.reference)
            ));
        }
    }
    if !secrets.is_empty() {
        let _ = writeln!(
            o,
            "- **Secrets** (references only; no value is in this output). Kubernetes: a Secret `<workload>-secrets` per workload, one key per name, in namespace {} unless another is named; Compose: the files and variables the Ansible inventory names.",
            code(&sol.namespace)
        );
        for s in secrets {
            let _ = writeln!(o, "{s}");
        }
    }
    OutputFile {
        path: PATH.to_string(),
        contents: o,
    }
}
