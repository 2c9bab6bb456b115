//! The Ansible backend: the evaluated IR → `ansible/` (inventory, playbooks,
//! roles). See `docs/ansible.md`.
//!
//! ```text
//! ansible/ansible.cfg                   inventory and roles path, so `ansible-playbook site.yml` works here
//! ansible/inventory.yaml                groups per tier, cluster, pool, fleet and site; hosts from the IR
//! ansible/terraform_<cluster>.py        EC2 clusters: inventory script listing the instances from Terraform's outputs
//! ansible/site.yml                      imports the playbooks below, in order
//! ansible/playbooks/prepare.yml         every host: packages, sysctl, chrony, service user, SSH, firewall
//! ansible/playbooks/control-plane.yml   k3s / microk8s servers            (when a fleet or cluster has one)
//! ansible/playbooks/workers.yml         join agents, label and taint nodes (idem)
//! ansible/playbooks/docker-fleets.yml   Docker Engine, Compose stacks, models, timers (Docker fleets)
//! ansible/roles/<role>/…                defaults, tasks, handlers, meta, files, templates
//! ```
//!
//! Playbooks, role task lists, defaults and the inventory are typed values
//! written with [`super::yaml`]; the text files roles copy (systemd units)
//! are tera templates rendered at build time.

mod inventory;
mod playbooks;
mod roles;
mod systemd;
pub mod terraform_inventory;
mod yaml_types;

use super::{compose, yaml, EmitError, OutputFile, Target};
use crate::ir::{Cluster, Fleet, Placement, SecretSource, Solution, Workload};
use serde::Serialize;

/// Node labels and taints the Kubernetes backend relies on (docs/k8s.md):
/// the Ansible roles set them on the nodes they join.
pub use super::k8s::{GPU_RESOURCE as GPU_TAINT_KEY, POOL_LABEL, SITE_LABEL, STANDBY_LABEL, ZONE_LABEL};

/// The standby devices' taint as `kubectl taint` / k3s `--node-taint` write
/// it: `<k8s::STANDBY_TAINT_KEY>=true:NoSchedule` (a test keeps the two in
/// step).
pub const STANDBY_TAINT: &str = "iotc.dev/standby=true:NoSchedule";

/// The folder every file of this backend is under.
pub const ROOT: &str = "ansible";
/// Where a Docker fleet's stacks live on each gateway.
pub const STACK_ROOT: &str = "/opt/iotc";

/// How a group's hosts run workloads, i.e. which roles install what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    K3s,
    Microk8s,
    Docker,
    /// kubeadm with containerd and Calico (docs/ansible.md, "kubeadm").
    Kubeadm,
    /// Nothing is installed (managed or image-provided Kubernetes).
    None,
}

pub fn fleet_engine(f: &Fleet) -> Engine {
    match f.runtime.name.as_str() {
        "k3s" => Engine::K3s,
        "microk8s" => Engine::Microk8s,
        _ if f.runtime.kind == "compose" => Engine::Docker,
        _ => Engine::None,
    }
}

/// Ansible installs k3s, microk8s and kubeadm on baremetal hosts, on the
/// vSphere VMs Terraform clones (their names come from the IR,
/// `Cluster::pool_hosts`) and on the EC2 instances Terraform creates (read
/// from its outputs by `ansible/terraform_<cluster>.py`,
/// `Cluster::hosts_from_terraform`). EKS is managed.
pub fn cluster_engine(c: &Cluster) -> Engine {
    match c.distribution.as_str() {
        "k3s" => Engine::K3s,
        "microk8s" => Engine::Microk8s,
        "kubeadm" => Engine::Kubeadm,
        _ => Engine::None,
    }
}

pub use crate::ir::{KUBEADM_POD_CIDR, KUBEADM_SERVICE_CIDR};
/// The CNI a kubeadm cluster gets: Calico enforces NetworkPolicy (the
/// Kubernetes output's default-deny and per-workload policies).
pub const KUBEADM_CNI: &str = "calico";
/// Calico's release (tigera-operator manifest of that tag).
pub const CALICO_VERSION: &str = "v3.30.3";
/// The Kubernetes minor a kubeadm cluster without `version` gets.
const KUBEADM_DEFAULT_MINOR: &str = "1.33";

/// A cluster version as (minor, apt version pattern): `1.33` →
/// (`1.33`, `1.33.*`), `v1.33.2` → (`1.33`, `1.33.2-*`).
pub fn kubeadm_version(version: Option<&str>) -> (String, String) {
    let v = version.unwrap_or(KUBEADM_DEFAULT_MINOR).trim_start_matches('v');
    let parts: Vec<&str> = v.split('.').collect();
    match parts.as_slice() {
        [major, minor] => (format!("{major}.{minor}"), format!("{major}.{minor}.*")),
        [major, minor, patch, ..] => (format!("{major}.{minor}"), format!("{major}.{minor}.{patch}-*")),
        _ => (KUBEADM_DEFAULT_MINOR.to_string(), format!("{KUBEADM_DEFAULT_MINOR}.*")),
    }
}

/// An Ansible group name: lowercase letters, digits and `_`.
pub fn group_name(s: &str) -> String {
    super::lower_alnum(s, '_')
}

// ------------------------------------------------------------ Compose contract
//
// From the Compose backend (`emit::compose::{stacks, scheduled_jobs}`,
// docs/compose.md): one file per site, the same on every gateway of the
// site, run as its own project with a per-gateway `.env` (replica shares,
// peer addresses, device group ids); jobs in the `jobs` profile.

/// Where a site's project lives on each of its gateways.
pub fn stack_dir(project: &str) -> String {
    format!("{STACK_ROOT}/{project}")
}

/// The env file with `from env` secrets, beside the project (root only).
pub fn secrets_env_file(project: &str) -> String {
    format!("{}/{project}.env", compose::SECRETS_DIR)
}

/// The systemd unit (no suffix) of a scheduled job of a site's project.
pub fn job_unit(job: &compose::ScheduledJob) -> String {
    format!("iotc-{}-{}", job.project, job.service)
}

// ------------------------------------------------------------------- vars

/// One ufw rule: `port`/`proto` (none: every port), allowed `from` `lan`
/// (the host's own subnet), `any`, or a CIDR.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FirewallRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    pub from: String,
    pub comment: String,
    /// The flows (`caller->callee`, from `Solution::flows`) and public
    /// workloads (`public->callee`) this rule lets in; empty for what the
    /// runtime itself needs. Read by no task; for readers and tests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<String>,
}

fn rule(port: &str, proto: &str, from: &str, comment: &str) -> FirewallRule {
    FirewallRule {
        port: Some(port.to_string()),
        proto: Some(proto.to_string()),
        from: from.to_string(),
        comment: comment.to_string(),
        flows: Vec::new(),
    }
}

/// A ufw rule from the checker's node-to-node decision.
fn node_rule(n: &crate::ir::NodeRule) -> FirewallRule {
    let port = n.ports.map(|p| {
        if p.first == p.last {
            p.first.to_string()
        } else {
            format!("{}:{}", p.first, p.last)
        }
    });
    let from = match &n.from {
        crate::ir::NodeSource::Lan => "lan".to_string(),
        crate::ir::NodeSource::Cidr(c) => c.clone(),
    };
    FirewallRule {
        port,
        proto: n.protocol.map(|p| p.as_str().to_string()),
        from,
        comment: n.why.clone(),
        flows: Vec::new(),
    }
}

/// A secret reference (never a value) for the Compose stack role.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SecretVar {
    /// The Compose secret's name.
    pub name: String,
    pub service: String,
    /// `env`, `file` or `vault`.
    pub source: &'static str,
    /// env: the variable (read on the controller, written to the
    /// project's secrets env file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// file: the file on the gateway; vault: where it is rendered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The container's user, which must own the file (Compose bind-mounts
    /// it with the host file's owner and mode); Ansible checks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_mount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_key: Option<String>,
}

/// A model server's on-disk cache folder on a Kubernetes gateway.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelCacheVar {
    /// `MODEL_CACHE_ROOT/<model>`: a Kubernetes server's hostPath.
    pub path: String,
    /// The server's user, which writes and reads it.
    pub owner: u32,
    pub model: String,
}

/// A private registry that workloads of a cluster or fleet pull from: its
/// credential as a reference, resolved on the controller when the play
/// runs (k3s `registries.yaml`, the pull Secret, `docker login`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RegistryVar {
    pub name: String,
    pub host: String,
    pub username: String,
    /// The `kubernetes.io/dockerconfigjson` Secret the pods name.
    pub pull_secret: String,
    /// The Kubernetes namespaces (`ir::Workload::namespace`) of the
    /// workloads here that pull from it: the pull Secret is created in
    /// each. Empty on a Docker fleet.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// `env` or `vault`.
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_mount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_key: Option<String>,
}

/// A model artifact Ansible stages on a Docker fleet's gateways, with its
/// checksum: `dest` is in the folder the server bind-mounts
/// (`ModelRef::host_dir`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelVar {
    pub model: String,
    pub version: String,
    /// `https`, `http` or `s3`.
    pub scheme: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    pub dest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_object: Option<String>,
    /// Who owns the staged file (a Kubernetes server's user, whose fetch
    /// finds it in the cache); root when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<u32>,
}

/// A workload's Secret (`<workload>-secrets`, one key per secret name) on
/// a cluster or site Ansible installs: created on its first server from
/// references resolved on the controller.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct K8sSecretVar {
    pub name: String,
    pub namespace: String,
    pub workload: String,
    pub entries: Vec<K8sSecretKey>,
}

/// One key of a [`K8sSecretVar`]: `env` (a variable of the controller) or
/// `vault` (KV v2 on the controller).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct K8sSecretKey {
    pub key: String,
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_mount: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault_key: Option<String>,
}

/// The Secrets of `workloads` that Ansible can create: their `env` and
/// `vault` keys (a `from file` value is a file on the gateways, not on the
/// controller: it stays the operator's, as the README lists).
pub fn k8s_secret_vars<'w>(workloads: impl Iterator<Item = &'w crate::ir::Workload>) -> Vec<K8sSecretVar> {
    let mut out: Vec<K8sSecretVar> = workloads
        .filter_map(|w| {
            let entries: Vec<K8sSecretKey> = w
                .container
                .secrets
                .iter()
                .filter_map(|s| {
                    let mut k = K8sSecretKey {
                        key: s.name.clone(),
                        source: "env",
                        env: None,
                        vault_mount: None,
                        vault_path: None,
                        vault_key: None,
                    };
                    match s.source {
                        SecretSource::Env => k.env = Some(s.reference.clone()),
                        SecretSource::Vault => {
                            let (mount, path, key) = split_vault(&s.reference);
                            k.source = "vault";
                            k.vault_mount = Some(mount);
                            k.vault_path = Some(path);
                            k.vault_key = Some(key);
                        }
                        SecretSource::File => return None,
                    }
                    Some(k)
                })
                .collect();
            (!entries.is_empty()).then(|| K8sSecretVar {
                name: crate::emit::k8s::secret_name(w),
                namespace: w.namespace.clone(),
                workload: w.name.clone(),
                entries,
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    out
}

/// `secret/data/factory/db#password` → (`secret`, `factory/db`, `password`)
/// for the KV v2 engine.
fn split_vault(reference: &str) -> (String, String, String) {
    let (path, key) = reference.split_once('#').unwrap_or((reference, "value"));
    let (mount, rest) = path.split_once('/').unwrap_or((path, ""));
    let rest = rest.strip_prefix("data/").unwrap_or(rest);
    (mount.to_string(), rest.to_string(), key.to_string())
}

pub struct Ctx<'a> {
    pub sol: &'a Solution,
}

/// The k3s release of `std.runtimes.k3s` (stdlib/runtimes.iot), used for
/// a k3s cluster of the same minor.
const K3S_DEFAULT_RELEASE: &str = "v1.33.5+k3s1";
const K3S_RELEASES: &str = "https://github.com/k3s-io/k3s/releases/download";

/// A k3s release's binary and the architecture suffix of its other files
/// (`sha256sum-<arch>.txt`, `k3s-airgap-images-<arch>.tar.zst`).
fn k3s_assets(arch: &str) -> (&'static str, &'static str) {
    match arch {
        "amd64" | "x86_64" => ("k3s", "amd64"),
        "arm" | "armhf" | "arm32" => ("k3s-armhf", "arm"),
        _ => ("k3s-arm64", "arm64"),
    }
}

impl<'a> Ctx<'a> {
    fn fleet_workloads(&self, f: &Fleet) -> impl Iterator<Item = &'a Workload> + '_ {
        let name = f.name.clone();
        self.sol
            .workloads
            .iter()
            .filter(move |w| matches!(&w.placement, Placement::Fleet { fleet, .. } if *fleet == name))
    }

    /// A full k3s release for a version: `v1.33.5+k3s1` as is; a minor
    /// (`1.33`) takes the release of a k3s fleet of that minor, or the
    /// stdlib's, else the minor's first release (`v1.33.0+k3s1`).
    fn k3s_release(&self, version: Option<&str>) -> String {
        let v = version.unwrap_or("1.33");
        if v.starts_with('v') && v.contains("+k3s") {
            return v.to_string();
        }
        let minor = v.trim_start_matches('v');
        let prefix = format!("v{minor}.");
        self.sol
            .fleets
            .iter()
            .filter_map(|f| f.runtime.version.as_deref().filter(|_| f.runtime.name == "k3s"))
            .chain(std::iter::once(K3S_DEFAULT_RELEASE))
            .find(|fv| fv.starts_with(&prefix) && fv.contains("+k3s"))
            .map(str::to_string)
            .unwrap_or_else(|| format!("v{minor}.0+k3s1"))
    }

    fn binary_vars(&self, engine: Engine, version: Option<&str>, arch: &str) -> inventory::BinaryVars {
        if engine != Engine::K3s {
            return inventory::BinaryVars::default();
        }
        let release = self.k3s_release(version).replace('+', "%2B");
        let (binary, sums) = k3s_assets(arch);
        inventory::BinaryVars {
            iotc_k3s_binary_url: Some(format!("{K3S_RELEASES}/{release}/{binary}")),
            iotc_k3s_checksum_url: Some(format!("{K3S_RELEASES}/{release}/sha256sum-{sums}.txt")),
        }
    }

    /// The release's air-gap images of a k3s fleet, which an offline site
    /// gets from the controller (checked against the same sha256sum file).
    fn airgap_images_url(&self, engine: Engine, version: Option<&str>, arch: &str) -> Option<String> {
        if engine != Engine::K3s {
            return None;
        }
        let release = self.k3s_release(version).replace('+', "%2B");
        let (_, sums) = k3s_assets(arch);
        Some(format!("{K3S_RELEASES}/{release}/k3s-airgap-images-{sums}.tar.zst"))
    }

    fn runtime_vars(
        &self,
        engine: Engine,
        version: Option<&str>,
        server: Option<String>,
        group: &str,
        fleet: Option<&Fleet>,
    ) -> inventory::RuntimeVars {
        let mut v = inventory::RuntimeVars {
            iotc_firewall_rules: self.firewall_rules(engine, group, fleet),
            iotc_admin_networks: self.sol.admin_networks.clone(),
            iotc_registries: self.registry_vars(group, fleet.is_some()),
            ..Default::default()
        };
        match engine {
            Engine::K3s => {
                v.iotc_runtime = Some("k3s".into());
                v.iotc_runtime_version = Some(self.k3s_release(version));
                v.iotc_k8s_server = server;
                v.iotc_k8s_node_kubectl = Some(vec!["/usr/local/bin/k3s".into(), "kubectl".into()]);
                v.iotc_k8s_node_name = Some(AnsibleTemplate("{{ inventory_hostname }}"));
            }
            Engine::Microk8s => {
                let channel = match version {
                    Some(v) if v.contains('/') => v.to_string(),
                    Some(v) => format!("{}/stable", v.trim_start_matches('v')),
                    None => "latest/stable".to_string(),
                };
                v.iotc_runtime = Some("microk8s".into());
                v.iotc_runtime_version = version.map(str::to_string);
                v.iotc_k8s_server = server;
                v.iotc_k8s_node_kubectl = Some(vec!["/snap/bin/microk8s".into(), "kubectl".into()]);
                v.iotc_k8s_node_name = Some(AnsibleTemplate("{{ inventory_hostname }}"));
                v.iotc_microk8s_channel = Some(channel);
            }
            Engine::Kubeadm => {
                let (minor, pin) = kubeadm_version(version);
                v.iotc_runtime = Some("kubeadm".into());
                v.iotc_runtime_version = Some(minor.clone());
                v.iotc_k8s_server = server;
                v.iotc_k8s_node_kubectl = Some(vec![
                    "/usr/bin/kubectl".into(),
                    "--kubeconfig".into(),
                    "/etc/kubernetes/admin.conf".into(),
                ]);
                v.iotc_k8s_node_name = Some(AnsibleTemplate("{{ inventory_hostname }}"));
                v.iotc_kubeadm_repository = Some(format!("https://pkgs.k8s.io/core:/stable:/v{minor}/deb/"));
                v.iotc_kubeadm_package_version = Some(pin);
                v.iotc_kubeadm_pod_cidr = Some(KUBEADM_POD_CIDR.into());
                v.iotc_kubeadm_service_cidr = Some(KUBEADM_SERVICE_CIDR.into());
                v.iotc_kubeadm_cni = Some(KUBEADM_CNI.into());
                v.iotc_kubeadm_calico_version = Some(CALICO_VERSION.into());
            }
            Engine::Docker => {
                v.iotc_runtime = Some("docker".into());
                v.iotc_runtime_version = version.map(str::to_string);
                v.iotc_docker_version = version.map(str::to_string);
            }
            Engine::None => {}
        }
        v
    }

    /// The registries the workloads placed on a cluster or fleet pull
    /// from (as the checker decided, `Container::registry`), in declaration
    /// order.
    fn registry_vars(&self, group: &str, is_fleet: bool) -> Vec<RegistryVar> {
        let used = |name: &str| {
            self.sol.workloads.iter().any(|w| {
                let here = match &w.placement {
                    Placement::Cluster { cluster, .. } => !is_fleet && cluster == group,
                    Placement::Fleet { fleet, .. } => is_fleet && fleet == group,
                };
                here && w.container.registry.as_deref() == Some(name)
            })
        };
        // The namespaces the checker put the workloads pulling from `name`
        // in (none on a Docker fleet).
        let namespaces = |name: &str| -> Vec<String> {
            let set: std::collections::BTreeSet<&str> = self
                .sol
                .namespaces
                .iter()
                .filter(|n| n.group == group)
                .filter(|n| {
                    self.sol.workloads.iter().any(|w| {
                        let here = match &w.placement {
                            Placement::Cluster { cluster, .. } => !is_fleet && cluster == group,
                            Placement::Fleet { fleet, .. } => is_fleet && fleet == group,
                        };
                        here && w.namespace == n.name && w.container.registry.as_deref() == Some(name)
                    })
                })
                .map(|n| n.name.as_str())
                .collect();
            set.into_iter().map(str::to_string).collect()
        };
        self.sol
            .registries
            .iter()
            .filter(|r| used(&r.name))
            .map(|r| {
                let mut v = RegistryVar {
                    name: r.name.clone(),
                    host: r.host.clone(),
                    username: r.username.clone(),
                    pull_secret: r.pull_secret.clone(),
                    namespaces: namespaces(&r.name),
                    source: "env",
                    env: None,
                    vault_mount: None,
                    vault_path: None,
                    vault_key: None,
                };
                match r.password.source {
                    SecretSource::Vault => {
                        let (mount, path, key) = split_vault(&r.password.reference);
                        v.source = "vault";
                        v.vault_mount = Some(mount);
                        v.vault_path = Some(path);
                        v.vault_key = Some(key);
                    }
                    // The checker allows env and vault only (E0503).
                    SecretSource::Env | SecretSource::File => v.env = Some(r.password.reference.clone()),
                }
                v
            })
            .collect()
    }

    /// Host firewall rules of a cluster or fleet: what the runtime needs
    /// between nodes (from the LAN), and the declared ports of the
    /// workloads placed there (public ones from anywhere; on Docker
    /// fleets the others from the LAN, with the flows that use them).
    fn firewall_rules(&self, engine: Engine, group: &str, fleet: Option<&Fleet>) -> Vec<FirewallRule> {
        // What the runtime needs between the nodes, as the checker decided
        // it (`Cluster::node_rules`, `Site::node_rules`); a fleet's sites
        // share one group, so their rules are merged in site order.
        let node_rules: Vec<&crate::ir::NodeRule> = match fleet {
            Some(f) => f.sites.iter().flat_map(|s| &s.node_rules).collect(),
            None => self
                .sol
                .clusters
                .iter()
                .filter(|c| c.name == group)
                .flat_map(|c| &c.node_rules)
                .collect(),
        };
        let mut rules: Vec<FirewallRule> = Vec::new();
        for n in node_rules {
            let r = node_rule(n);
            if !rules.contains(&r) {
                rules.push(r);
            }
        }
        // The declared flows into workloads placed here from another
        // cluster or fleet, as the checker resolved them
        // (`Solution::flows`), and public workloads: they come in through
        // the workload's exposure from anywhere. Local flows stay on the
        // overlay network.
        let on_group = |w: &Workload| match &w.placement {
            Placement::Cluster { cluster, .. } => cluster == group && fleet.is_none(),
            Placement::Fleet { fleet: f, .. } => f == group && fleet.is_some(),
        };
        // A Docker fleet's ports are published by Docker, whose DNAT
        // traffic ufw never sees: `DOCKER-USER` rules admit their callers
        // (`compose::PublishedPort`), not these.
        let docker = engine == Engine::Docker;
        for w in self.sol.workloads.iter().filter(|w| on_group(w) && !docker) {
            let Some(own_port) = w.container.port else { continue };
            let own_proto = if w.container.protocol == "udp" { "udp" } else { "tcp" };
            let (port, proto) = match w.exposure.as_ref().map(|e| e.endpoint.port) {
                Some(p) => (p, "tcp"),
                None => (own_port, own_proto),
            };
            let mut wanted: Vec<(&str, String)> = Vec::new();
            if w.public {
                wanted.push(("any", format!("public->{}", w.name)));
            }
            for f in self.sol.flows.iter().filter(|f| f.to == w.name && f.to_group == group) {
                if f.reach.is_local() {
                    continue;
                }
                wanted.push(("any", format!("{}->{}", f.from, f.to)));
            }
            for (from, flow) in wanted {
                let (p, pr) = (port.to_string(), proto);
                let i = match rules
                    .iter()
                    .position(|r| r.port.as_deref() == Some(&p) && r.proto.as_deref() == Some(pr) && r.from == from)
                {
                    Some(i) => i,
                    None => {
                        rules.push(rule(&p, pr, from, ""));
                        rules.len() - 1
                    }
                };
                if let Some(r) = rules.get_mut(i) {
                    if !r.flows.contains(&flow) {
                        r.flows.push(flow);
                    }
                }
            }
        }
        // Comments: per callee, its kind and who calls it.
        for r in rules.iter_mut().filter(|r| !r.flows.is_empty()) {
            let mut callees: Vec<(&str, Vec<&str>)> = Vec::new();
            for f in &r.flows {
                let (caller, callee) = f.split_once("->").unwrap_or(("", f));
                match callees.iter_mut().find(|(c, _)| *c == callee) {
                    Some((_, callers)) => callers.push(caller),
                    None => callees.push((callee, vec![caller])),
                }
            }
            let kind = |name: &str| {
                self.sol
                    .workloads
                    .iter()
                    .find(|w| w.name == name)
                    .map_or("", |w| w.kind.as_str())
            };
            r.comment = callees
                .iter()
                .map(|(callee, callers)| {
                    let public = callers.contains(&"public");
                    let from: Vec<&str> = callers.iter().copied().filter(|c| *c != "public").collect();
                    let mut text = format!("{callee} ({})", kind(callee));
                    if public {
                        text.push_str(", public");
                    }
                    if !from.is_empty() {
                        text.push_str(&format!(", from {}", from.join(", ")));
                    }
                    text
                })
                .collect::<Vec<_>>()
                .join("; ");
        }
        // The comments reach ufw through community.general.ufw's command
        // line (escape::ufw_comment).
        for r in &mut rules {
            r.comment = crate::emit::escape::ufw_comment(&r.comment);
        }
        rules
    }

    fn secret_vars(&self, stack: &compose::Stack) -> Vec<SecretVar> {
        let owner = |service: &str| {
            self.sol
                .workloads
                .iter()
                .find(|w| w.name == service)
                .map(|w| w.container.user)
                .unwrap_or(0)
        };
        stack
            .secrets
            .iter()
            .map(|s| {
                let mut v = SecretVar {
                    name: s.name.clone(),
                    service: s.service.clone(),
                    source: "env",
                    env: None,
                    path: None,
                    owner: None,
                    vault_mount: None,
                    vault_path: None,
                    vault_key: None,
                };
                match &s.origin {
                    compose::SecretOrigin::Env { variable } => v.env = Some(variable.clone()),
                    compose::SecretOrigin::File { path } => {
                        v.source = "file";
                        v.path = Some(path.clone());
                        v.owner = Some(owner(&s.service));
                    }
                    compose::SecretOrigin::Vault { reference, path } => {
                        let (mount, vpath, key) = split_vault(reference);
                        v.source = "vault";
                        v.path = Some(path.clone());
                        v.owner = Some(owner(&s.service));
                        v.vault_mount = Some(mount);
                        v.vault_path = Some(vpath);
                        v.vault_key = Some(key);
                    }
                }
                v
            })
            .collect()
    }

    /// The on-disk model caches of a Kubernetes fleet's servers (see
    /// `ModelRef::cache_key`): one folder per model fetched over the WAN.
    fn model_cache_vars(&self, f: &Fleet) -> Vec<ModelCacheVar> {
        let mut out: Vec<ModelCacheVar> = Vec::new();
        for w in self.fleet_workloads(f) {
            let Some(m) = &w.model else { continue };
            let fetched = matches!(
                crate::emit::model_fetch::fetch_kind(&m.artifact),
                Some(crate::emit::model_fetch::Fetch::S3 | crate::emit::model_fetch::Fetch::Https)
            );
            if w.kind != crate::ir::WorkloadKind::Serve || !fetched || out.iter().any(|o| o.model == m.model) {
                continue;
            }
            out.push(ModelCacheVar {
                path: format!("{}/{}", crate::ir::MODEL_CACHE_ROOT, m.model),
                owner: w.container.user,
                model: m.model.clone(),
            });
        }
        out
    }

    fn model_vars(&self, f: &Fleet) -> Vec<ModelVar> {
        let mut out: Vec<ModelVar> = Vec::new();
        for w in self.fleet_workloads(f) {
            let Some(m) = &w.model else { continue };
            if out.iter().any(|o| o.model == m.model && o.version == m.version) {
                continue;
            }
            let scheme = m
                .artifact
                .split_once("://")
                .map(|(s, _)| s)
                .unwrap_or("https")
                .to_string();
            let (bucket, object) = if scheme == "s3" {
                let rest = m.artifact.trim_start_matches("s3://");
                let (b, o) = rest.split_once('/').unwrap_or((rest, ""));
                (Some(b.to_string()), Some(o.to_string()))
            } else {
                (None, None)
            };
            out.push(ModelVar {
                model: m.model.clone(),
                version: m.version.clone(),
                scheme,
                url: m.artifact.clone(),
                checksum: m.checksum.clone(),
                dest: format!("{}/{}", m.host_dir, crate::ir::model_file(&m.format)),
                s3_bucket: bucket,
                s3_object: object,
                owner: None,
            });
        }
        out
    }
}

use crate::emit::escape::AnsibleTemplate;

fn yaml_file(path: String, value: &impl Serialize) -> Result<OutputFile, EmitError> {
    yaml_file_with(path, value, false)
}

/// `data`: an inventory or vars file, where no string is a template (every
/// one that Jinja would evaluate is tagged `!unsafe`).
fn yaml_file_with(path: String, value: &impl Serialize, data: bool) -> Result<OutputFile, EmitError> {
    let body = if data {
        yaml::to_string_ansible(value)
    } else {
        yaml::to_string(value)
    };
    let body = body.map_err(|e| EmitError {
        target: Target::Ansible,
        message: format!("{path}: {e}"),
    })?;
    Ok(OutputFile {
        path,
        contents: format!("---\n{body}"),
    })
}

fn text_file(path: String, contents: String) -> OutputFile {
    OutputFile { path, contents }
}

fn err(message: String) -> EmitError {
    EmitError {
        target: Target::Ansible,
        message,
    }
}

const ANSIBLE_CFG: &str = "\
# Generated by iotc; do not edit. Run from this folder:
#   ansible-playbook site.yml
[defaults]
inventory = inventory.yaml
roles_path = roles
interpreter_python = auto_silent
host_key_checking = True
retry_files_enabled = False

[privilege_escalation]
become_method = sudo
";

/// The Ansible backend. Files are returned in path order by [`super::emit`].
pub fn emit(sol: &Solution) -> Result<Vec<OutputFile>, EmitError> {
    let c = Ctx { sol };
    let mut files = Vec::new();
    let (inv, present) = inventory::build(&c);
    files.push(yaml_file_with(format!("{ROOT}/inventory.yaml"), &inv, true)?);
    files.push(text_file(format!("{ROOT}/ansible.cfg"), ANSIBLE_CFG.to_string()));
    files.extend(
        sol.clusters
            .iter()
            .filter_map(|cl| terraform_inventory::script(cl, cluster_engine(cl))),
    );
    playbooks::emit(&present, &mut files)?;
    roles::emit(&c, &mut files)?;
    Ok(files)
}

#[cfg(test)]
mod taint_tests {
    #[test]
    fn standby_taint_uses_the_k8s_key() {
        assert_eq!(
            super::STANDBY_TAINT,
            format!("{}=true:NoSchedule", super::super::k8s::STANDBY_TAINT_KEY)
        );
    }
}
