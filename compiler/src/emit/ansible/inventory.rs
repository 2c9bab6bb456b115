//! `ansible/inventory.yaml`: typed groups and vars.
//!
//! ```text
//! all
//! ├── cloud                       tier: every cluster
//! │   └── cluster_<c>             provider, distribution, control-plane host
//! │       └── pool_<c>_<p>        device profile, node labels/taints; baremetal hosts
//! ├── edge                        tier: every fleet
//! │   └── fleet_<f>               runtime, device profile, firewall, Compose stack
//! │       └── site_<f>_<s>        its own cluster: servers, node labels; gateways + standby hosts
//! ├── k3s_init                    the first server of every site and cluster (initialises it)
//! ├── k3s_servers / k3s_agents    every server (init included) / every other node
//! ├── microk8s_init / microk8s_servers / microk8s_agents
//! ├── kubeadm_init / kubeadm_servers / kubeadm_workers
//! ├── docker_hosts
//! └── standby                     standby devices (tainted iotc.dev/standby=true:NoSchedule)
//! ```

use super::yaml_types::Ordered;
use super::{
    cluster_engine, compose, fleet_engine, group_name, job_unit, Ctx, Engine, FirewallRule, ModelCacheVar, ModelVar,
    SecretVar, STANDBY_LABEL, STANDBY_TAINT,
};
use crate::emit::escape::AnsibleTemplate;
use crate::ir::{DeviceProfile, Provider};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Serialize)]
pub struct Inventory {
    pub all: Group,
}

#[derive(Debug, Default, Serialize)]
pub struct Group {
    #[serde(skip_serializing_if = "Ordered::is_empty")]
    pub hosts: Ordered<Option<HostVars>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vars: Option<Vars>,
    #[serde(skip_serializing_if = "Ordered::is_empty")]
    pub children: Ordered<Group>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Vars {
    All(AllVars),
    Cluster(Box<ClusterVars>),
    Pool(PoolVars),
    Fleet(Box<FleetVars>),
    Site(SiteVars),
}

#[derive(Debug, Serialize)]
pub struct AllVars {
    pub iotc_solution: String,
    pub iotc_solution_version: String,
    pub iotc_namespace: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub iotc_solution_labels: BTreeMap<String, String>,
}

/// What the k3s / microk8s / Docker roles need; set on a cluster or fleet
/// (binary URLs on pools and fleets, since they depend on the CPU).
#[derive(Debug, Default, Serialize)]
pub struct RuntimeVars {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_runtime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_runtime_version: Option<String>,
    /// The host running the Kubernetes server that agents join.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_k8s_server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_k8s_node_kubectl: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_k8s_node_name: Option<AnsibleTemplate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_microk8s_channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_docker_version: Option<String>,
    /// kubeadm: every control-plane host, the first initialises.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_k8s_servers: Vec<String>,
    /// kubeadm: pkgs.k8s.io's repository of the cluster's minor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_kubeadm_repository: Option<String>,
    /// kubeadm: the apt version pattern kubelet, kubeadm and kubectl are
    /// pinned and held at (`1.33.*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_kubeadm_package_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_kubeadm_pod_cidr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_kubeadm_service_cidr: Option<String>,
    /// kubeadm: the CNI installed (enforces NetworkPolicy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_kubeadm_cni: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_kubeadm_calico_version: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_firewall_rules: Vec<FirewallRule>,
    /// The solution's `admin` networks: SSH is admitted from these only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_admin_networks: Vec<String>,
    /// Private registries the workloads here pull from (references only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_registries: Vec<super::RegistryVar>,
}

#[derive(Debug, Default, Serialize)]
pub struct BinaryVars {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_k3s_binary_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_k3s_checksum_url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ClusterVars {
    pub iotc_tier: &'static str,
    pub iotc_cluster: String,
    pub iotc_provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_provider_region: Option<String>,
    pub iotc_distribution: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_k8s_version: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub iotc_cluster_labels: BTreeMap<String, String>,
    /// `static` (hosts listed here) or how to get them (dynamic inventory).
    pub iotc_inventory_source: String,
    /// kubeadm: the control plane's virtual address (`ir::Cluster::vip`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_kubeadm_vip: Option<String>,
    /// The workloads' Secrets Ansible creates (a cluster it installs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_k8s_secrets: Vec<super::K8sSecretVar>,
    /// The NTP servers chrony prefers on the nodes (`ir::Cluster::time_servers`:
    /// the Amazon Time Sync Service on EC2).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_prepare_time_servers: Vec<String>,
    #[serde(flatten)]
    pub runtime: RuntimeVars,
}

#[derive(Debug, Serialize)]
pub struct PoolVars {
    pub iotc_pool: String,
    pub iotc_pool_nodes: u32,
    pub iotc_device: Device,
    pub iotc_node_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_node_taints: Vec<String>,
    #[serde(flatten)]
    pub binary: BinaryVars,
}

#[derive(Debug, Serialize)]
pub struct FleetVars {
    pub iotc_tier: &'static str,
    pub iotc_fleet: String,
    pub iotc_runtime_kind: String,
    pub iotc_device: Device,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub iotc_fleet_labels: BTreeMap<String, String>,
    #[serde(flatten)]
    pub runtime: RuntimeVars,
    #[serde(flatten)]
    pub binary: BinaryVars,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_compose_stack_models: Vec<ModelVar>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_prepare_model_caches: Vec<ModelCacheVar>,
    /// A Kubernetes fleet with an offline site: the models its servers
    /// fetch, which Ansible puts in their caches there instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_prepare_models: Vec<ModelVar>,
    /// Host folders the fleet's workloads write (`Solution::writable_dirs`),
    /// created owned by the writing container's user.
    pub iotc_prepare_writable_dirs: Vec<crate::ir::WritableDir>,
    /// Device groups iotc pins on every node (`Solution::pinned_device_groups`):
    /// created with their fixed id, their nodes handed to them by udev.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_prepare_device_groups: Vec<crate::ir::PinnedDeviceGroup>,
}

#[derive(Debug, Serialize)]
pub struct SiteVars {
    pub iotc_site: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_site_region: Option<String>,
    pub iotc_site_gateways: u32,
    pub iotc_site_standby: u32,
    /// The site's first server: agents and the other servers join it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_k8s_server: Option<String>,
    /// Every control-plane host of the site's cluster (three for HA).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_k8s_servers: Vec<String>,
    /// The site's labels (which `where` selects), site and zone.
    pub iotc_node_labels: BTreeMap<String, String>,
    /// The namespaces the site's manifests create (`K8sNamespace::sites`):
    /// pull Secrets go only into these.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_k8s_namespaces: Vec<String>,
    /// `ir::Site::offline`: the roles download on the controller and
    /// check OS packages instead of installing them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub iotc_offline: bool,
    /// `ir::Site::mirror`: k3s pulls every image from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_mirror: Option<String>,
    /// k3s at an offline site: the release's air-gap images.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_k3s_airgap_images_url: Option<String>,
    /// The Secrets of the workloads at this site (Kubernetes fleets).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_k8s_secrets: Vec<super::K8sSecretVar>,
    #[serde(flatten)]
    pub stack: Option<StackVars>,
}

/// A Docker site's Compose project (see `emit::compose::Stack`).
#[derive(Debug, Serialize)]
pub struct StackVars {
    pub iotc_compose_stack_project: String,
    /// The site's Compose file, relative to the output folder.
    pub iotc_compose_stack_file: String,
    /// `IOTC_ADDR_*`: set to the address of `host`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_compose_stack_addresses: Vec<AddressVar>,
    /// `IOTC_GID_*`: set to the gateway's id of `group`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_compose_stack_groups: Vec<GidVar>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_compose_stack_secrets: Vec<SecretVar>,
    /// Published ports and the gateways whose callers they admit
    /// (`DOCKER-USER` rules; ufw's own rules do not see them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iotc_compose_stack_published: Vec<PublishedVar>,
}

/// A published port of a Docker site's stack (`compose::PublishedPort`).
#[derive(Debug, Serialize)]
pub struct PublishedVar {
    pub service: String,
    /// A port, or `first:last`.
    pub ports: String,
    pub protocol: String,
    pub from_any: bool,
    pub from_hosts: Vec<String>,
    pub flows: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AddressVar {
    pub var: String,
    pub service: String,
    pub host: String,
}

#[derive(Debug, Serialize)]
pub struct GidVar {
    pub var: String,
    pub group: String,
    pub default: u32,
}

/// Per-host vars: standby devices' labels and taint; a Docker gateway's
/// share of its site's stack and the jobs it runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostVars {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_standby: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_node_labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_node_taints: Option<Vec<String>>,
    /// `IOTC_REPLICAS_*=N` lines of this gateway's `.env`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_compose_stack_env: Option<Vec<String>>,
    /// Units (`.service` + `.timer`) of the scheduled jobs it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_compose_stack_timers: Option<Vec<String>>,
    /// Services of once-only jobs it runs after a deploy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iotc_compose_stack_run_once: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub profile: String,
    pub arch: String,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub gpu: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accelerator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_bytes: Option<u64>,
    pub power: String,
}

fn device(d: &DeviceProfile) -> Device {
    Device {
        profile: d.name.clone(),
        arch: d.arch.clone(),
        cpu_millis: d.cpu_millis,
        memory_bytes: d.memory_bytes,
        gpu: d.gpu,
        accelerator: d.accelerator.clone(),
        storage_bytes: d.storage_bytes,
        power: d.power.clone(),
    }
}

/// Functional groups, in the order hosts are met.
#[derive(Default)]
struct Roles {
    k3s_init: Vec<String>,
    k3s_servers: Vec<String>,
    k3s_agents: Vec<String>,
    microk8s_init: Vec<String>,
    microk8s_servers: Vec<String>,
    microk8s_agents: Vec<String>,
    docker_hosts: Vec<String>,
    kubeadm_init: Vec<String>,
    kubeadm_servers: Vec<String>,
    kubeadm_workers: Vec<String>,
    standby: Vec<String>,
    /// The engines of clusters whose hosts the Terraform inventory script
    /// adds (`Cluster::hosts_from_terraform`).
    from_terraform: Vec<Engine>,
}

impl Roles {
    /// `servers`: the control-plane hosts of the host's cluster, the one
    /// that initialises it first.
    fn add(&mut self, engine: Engine, servers: &[String], host: &str) {
        let is_server = servers.iter().any(|s| s == host);
        if servers.first().is_some_and(|s| s == host) {
            match engine {
                Engine::K3s => self.k3s_init.push(host.to_string()),
                Engine::Microk8s => self.microk8s_init.push(host.to_string()),
                Engine::Kubeadm => self.kubeadm_init.push(host.to_string()),
                Engine::Docker | Engine::None => {}
            }
        }
        let list = match (engine, is_server) {
            (Engine::K3s, true) => &mut self.k3s_servers,
            (Engine::K3s, false) => &mut self.k3s_agents,
            (Engine::Microk8s, true) => &mut self.microk8s_servers,
            (Engine::Microk8s, false) => &mut self.microk8s_agents,
            (Engine::Kubeadm, true) => &mut self.kubeadm_servers,
            (Engine::Kubeadm, false) => &mut self.kubeadm_workers,
            (Engine::Docker, _) => &mut self.docker_hosts,
            (Engine::None, _) => return,
        };
        list.push(host.to_string());
    }
}

fn flat_group(hosts: &[String]) -> Group {
    let mut g = Group::default();
    for h in hosts {
        g.hosts.push(h.clone(), None);
    }
    g
}

/// The names of the functional groups that have hosts, for the playbooks.
pub struct Present {
    pub k3s: bool,
    pub microk8s: bool,
    pub docker: bool,
    pub kubeadm: bool,
    /// A cluster or site that Ansible installs pulls from a private
    /// registry: its first server gets the pull Secret.
    pub pull_secrets: bool,
    /// A cluster or site that Ansible installs has workloads with secrets
    /// it can resolve (`iotc_k8s_secrets`): its first server creates them.
    pub workload_secrets: bool,
    /// Each cluster or site that Ansible installs, in inventory order, for
    /// `playbooks/upgrade.yml`.
    pub upgrades: Vec<Upgrade>,
}

/// One cluster or site that `playbooks/upgrade.yml` upgrades one host at a
/// time: its servers first (the one that initialised it first), then the
/// rest in inventory order.
pub struct Upgrade {
    /// `site_<f>_<s>` or `cluster_<c>`.
    pub group: String,
    pub engine: Engine,
    pub hosts: UpgradeHosts,
}

/// Which hosts an [`Upgrade`] goes over, and which of them are servers.
pub enum UpgradeHosts {
    /// Hosts this inventory names, in the order they are upgraded.
    Listed { servers: Vec<String>, hosts: Vec<String> },
    /// EC2 instances (`Cluster::hosts_from_terraform`), known only when
    /// Ansible runs `ansible/terraform_<cluster>.py`: the script puts them
    /// in the cluster's group and in the runtime's init / servers / agents
    /// groups, and names the servers in the cluster's `iotc_k8s_servers`.
    FromTerraform { groups: [&'static str; 3] },
}

impl Upgrade {
    fn new(group: String, engine: Engine, servers: &[String], members: &[String]) -> Option<Upgrade> {
        if engine == Engine::None || members.is_empty() {
            return None;
        }
        let servers: Vec<String> = if engine == Engine::Docker {
            Vec::new()
        } else {
            servers.iter().filter(|s| members.contains(s)).cloned().collect()
        };
        let hosts = servers
            .iter()
            .chain(members.iter().filter(|h| !servers.contains(h)))
            .cloned()
            .collect();
        Some(Upgrade {
            group,
            engine,
            hosts: UpgradeHosts::Listed { servers, hosts },
        })
    }

    /// A cluster on EC2 instances whose runtime Ansible installs.
    fn from_terraform(group: String, engine: Engine) -> Option<Upgrade> {
        let groups = super::terraform_inventory::runtime_groups(engine)?;
        Some(Upgrade {
            group,
            engine,
            hosts: UpgradeHosts::FromTerraform { groups },
        })
    }
}

pub fn build(c: &Ctx) -> (Inventory, Present) {
    let sol = c.sol;
    let mut roles = Roles::default();
    let stacks = compose::stacks(sol);
    let jobs = compose::scheduled_jobs(sol);
    // Indexes, so the loops over sites and hosts below stay linear.
    let stack_of: HashMap<(&str, &str), &compose::Stack> = stacks
        .iter()
        .map(|st| ((st.fleet.as_str(), st.site.as_str()), st))
        .collect();
    let mut jobs_of: HashMap<(&str, &str, &str), Vec<&compose::ScheduledJob>> = HashMap::new();
    for j in &jobs {
        for h in &j.hosts {
            let list = jobs_of
                .entry((j.fleet.as_str(), j.site.as_str(), h.as_str()))
                .or_default();
            // A host listed twice by one job still runs it once.
            if !list.last().is_some_and(|l| std::ptr::eq(*l, j)) {
                list.push(j);
            }
        }
    }

    let mut upgrades = Vec::new();
    let mut cloud = Group::default();
    for cl in &sol.clusters {
        let engine = cluster_engine(cl);
        let (region, source) = match &cl.provider {
            Provider::Baremetal { .. } => (None, "static".to_string()),
            Provider::Aws { region, .. } if cl.hosts_from_terraform() && engine != Engine::None => (
                Some(region.clone()),
                format!(
                    "terraform: EC2 instances by address, from {}",
                    super::terraform_inventory::script_path(cl)
                ),
            ),
            Provider::Aws { region, .. } => (
                Some(region.clone()),
                "terraform: EC2 instances of a managed cluster; use the amazon.aws.aws_ec2 inventory plugin if \
                 hosts must be reached"
                    .to_string(),
            ),
            Provider::Vsphere { datacenter, .. } => (
                Some(datacenter.clone()),
                "terraform: the VMs Terraform clones, listed here by the names it gives them; their addresses \
                 are its ansible_hosts output"
                    .to_string(),
            ),
        };
        let pool_hosts = cl.pool_hosts(&sol.name);
        // One or three control-plane nodes (`Cluster::control_plane`, the
        // VMs Terraform keeps apart): kubeadm's control plane, k3s's and
        // microk8s's servers (HA with three, as on a fleet's sites).
        let servers: Vec<String> = cl.control_plane_hosts(&sol.name);
        let mut runtime = c.runtime_vars(engine, cl.version.as_deref(), servers.first().cloned(), &cl.name, None);
        runtime.iotc_k8s_servers = servers.clone();
        let mut group = Group {
            vars: Some(Vars::Cluster(Box::new(ClusterVars {
                iotc_tier: "cloud",
                iotc_cluster: cl.name.clone(),
                iotc_provider: match &cl.provider {
                    Provider::Aws { .. } => "aws",
                    Provider::Vsphere { .. } => "vsphere",
                    Provider::Baremetal { .. } => "baremetal",
                }
                .to_string(),
                iotc_provider_region: region,
                iotc_distribution: cl.distribution.clone(),
                iotc_k8s_version: cl.version.clone(),
                iotc_cluster_labels: cl.labels.clone(),
                iotc_inventory_source: source,
                iotc_kubeadm_vip: cl.vip.clone(),
                iotc_k8s_secrets: if matches!(engine, Engine::K3s | Engine::Microk8s | Engine::Kubeadm)
                    && (!servers.is_empty() || cl.hosts_from_terraform())
                {
                    super::k8s_secret_vars(
                        sol.workloads
                            .iter()
                            .filter(|w| matches!(&w.placement, crate::ir::Placement::Cluster { cluster, .. } if *cluster == cl.name)),
                    )
                } else {
                    Vec::new()
                },
                iotc_prepare_time_servers: cl.time_servers.clone(),
                runtime,
            }))),
            ..Group::default()
        };
        let mut members = Vec::new();
        for (pool, hosts) in cl.pools.iter().zip(&pool_hosts) {
            let labels = pool.node_labels.clone();
            let taints = if pool.node.gpu > 0 {
                vec![format!("{}=present:NoSchedule", super::GPU_TAINT_KEY)]
            } else {
                Vec::new()
            };
            let mut pg = Group {
                vars: Some(Vars::Pool(PoolVars {
                    iotc_pool: pool.name.clone(),
                    iotc_pool_nodes: pool.nodes,
                    iotc_device: device(&pool.node),
                    iotc_node_labels: labels,
                    iotc_node_taints: taints,
                    binary: c.binary_vars(engine, cl.version.as_deref(), &pool.node.arch),
                })),
                ..Group::default()
            };
            for h in hosts {
                pg.hosts.push(h.clone(), None);
                roles.add(engine, &servers, h);
                members.push(h.clone());
            }
            group
                .children
                .push(format!("pool_{}_{}", group_name(&cl.name), group_name(&pool.name)), pg);
        }
        // EC2 instances: the script adds them to these groups when
        // Ansible reads it, so the plays for this runtime must exist.
        if cl.hosts_from_terraform() {
            roles.from_terraform.push(engine);
        }
        let cluster_group = format!("cluster_{}", group_name(&cl.name));
        upgrades.extend(if cl.hosts_from_terraform() {
            Upgrade::from_terraform(cluster_group, engine)
        } else {
            Upgrade::new(cluster_group, engine, &servers, &members)
        });
        cloud.children.push(format!("cluster_{}", group_name(&cl.name)), group);
    }

    let mut edge = Group::default();
    for f in &sol.fleets {
        let engine = fleet_engine(f);
        let docker = engine == Engine::Docker;
        // Every site is its own cluster: the servers are site vars.
        let runtime = c.runtime_vars(engine, f.runtime.version.as_deref(), None, &f.name, Some(f));
        let models = if docker { c.model_vars(f) } else { Vec::new() };
        let caches = if docker { Vec::new() } else { c.model_cache_vars(f) };
        // The servers' models, for the caches of the offline sites (the
        // files their fetch looks for, owned by the server's user).
        let offline_models = if docker || !f.sites.iter().any(|s| s.offline) {
            Vec::new()
        } else {
            c.model_vars(f)
                .into_iter()
                .filter_map(|mut m| {
                    let cache = caches.iter().find(|k| k.model == m.model)?;
                    m.owner = Some(cache.owner);
                    Some(m)
                })
                .collect()
        };
        let mut group = Group {
            vars: Some(Vars::Fleet(Box::new(FleetVars {
                iotc_tier: "edge",
                iotc_fleet: f.name.clone(),
                iotc_runtime_kind: f.runtime.kind.clone(),
                iotc_device: device(&f.device),
                iotc_fleet_labels: f.labels.clone(),
                runtime,
                binary: c.binary_vars(engine, f.runtime.version.as_deref(), &f.device.arch),
                iotc_compose_stack_models: models,
                iotc_prepare_model_caches: caches,
                iotc_prepare_models: offline_models,
                iotc_prepare_writable_dirs: sol.writable_dirs(&f.name),
                iotc_prepare_device_groups: sol.pinned_device_groups(&f.name),
            }))),
            ..Group::default()
        };
        for s in &f.sites {
            let node_labels = s.node_labels.clone();
            let stack = stack_of.get(&(f.name.as_str(), s.name.as_str())).copied();
            let share_of: HashMap<&str, &compose::StackHost> = stack
                .map(|st| st.hosts.iter().map(|sh| (sh.host.as_str(), sh)).collect())
                .unwrap_or_default();
            let mut sg = Group {
                vars: Some(Vars::Site(SiteVars {
                    iotc_site: s.name.clone(),
                    iotc_site_region: s.region.clone(),
                    iotc_site_gateways: s.gateways,
                    iotc_site_standby: s.standby,
                    iotc_k8s_server: s.servers.first().cloned(),
                    iotc_k8s_servers: s.servers.clone(),
                    iotc_node_labels: node_labels.clone(),
                    iotc_k8s_namespaces: sol
                        .namespaces
                        .iter()
                        .filter(|n| n.group == f.name && n.sites.contains(&s.name))
                        .map(|n| n.name.clone())
                        .collect(),
                    iotc_offline: s.offline,
                    iotc_mirror: s.mirror.clone(),
                    iotc_k3s_airgap_images_url: s
                        .offline
                        .then(|| c.airgap_images_url(engine, f.runtime.version.as_deref(), &f.device.arch))
                        .flatten(),
                    iotc_k8s_secrets: if docker || s.servers.is_empty() {
                        Vec::new()
                    } else {
                        super::k8s_secret_vars(sol.workloads.iter().filter(|w| {
                            matches!(&w.placement, crate::ir::Placement::Fleet { fleet, sites }
                                if *fleet == f.name && sites.iter().any(|p| *p.site == *s.name))
                        }))
                    },
                    stack: stack.map(|st| StackVars {
                        iotc_compose_stack_project: st.project.clone(),
                        iotc_compose_stack_file: st.path.clone(),
                        iotc_compose_stack_addresses: st
                            .addresses
                            .iter()
                            .map(|a| AddressVar {
                                var: a.var.clone(),
                                service: a.service.clone(),
                                host: a.host.clone(),
                            })
                            .collect(),
                        iotc_compose_stack_groups: st
                            .groups
                            .iter()
                            .map(|g| GidVar {
                                var: g.var.clone(),
                                group: g.group.clone(),
                                default: g.default,
                            })
                            .collect(),
                        iotc_compose_stack_secrets: c.secret_vars(st),
                        iotc_compose_stack_published: st
                            .published
                            .iter()
                            .map(|p| PublishedVar {
                                service: p.service.clone(),
                                ports: p.ports.clone(),
                                protocol: p.protocol.clone(),
                                from_any: p.from_any,
                                from_hosts: p.from_hosts.clone(),
                                flows: p.flows.clone(),
                            })
                            .collect(),
                    }),
                })),
                ..Group::default()
            };
            for h in &s.hosts {
                let vars = stack.map(|_| {
                    let here = jobs_of
                        .get(&(f.name.as_str(), s.name.as_str(), h.as_str()))
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    let share = share_of.get(h.as_str());
                    HostVars {
                        iotc_compose_stack_env: Some(share.map(|sh| sh.env_lines()).unwrap_or_default()),
                        iotc_compose_stack_timers: Some(
                            here.iter()
                                .filter(|j| j.schedule.is_some())
                                .map(|j| job_unit(j))
                                .collect(),
                        ),
                        iotc_compose_stack_run_once: Some(
                            here.iter()
                                .filter(|j| j.schedule.is_none())
                                .map(|j| j.service.clone())
                                .collect(),
                        ),
                        ..HostVars::default()
                    }
                });
                sg.hosts.push(h.clone(), vars);
                roles.add(engine, &s.servers, h);
            }
            for h in &s.standby_hosts {
                let mut labels = node_labels.clone();
                labels.insert(STANDBY_LABEL.to_string(), "true".to_string());
                sg.hosts.push(
                    h.clone(),
                    Some(HostVars {
                        iotc_standby: Some(true),
                        iotc_node_labels: Some(labels),
                        iotc_node_taints: Some(vec![STANDBY_TAINT.to_string()]),
                        ..HostVars::default()
                    }),
                );
                roles.add(engine, &s.servers, h);
                roles.standby.push(h.clone());
            }
            let site_group = format!("site_{}_{}", group_name(&f.name), group_name(&s.name));
            let members: Vec<String> = s.hosts.iter().chain(&s.standby_hosts).cloned().collect();
            upgrades.extend(Upgrade::new(site_group.clone(), engine, &s.servers, &members));
            group.children.push(site_group, sg);
        }
        edge.children.push(format!("fleet_{}", group_name(&f.name)), group);
    }

    let mut all = Group {
        vars: Some(Vars::All(AllVars {
            iotc_solution: sol.name.clone(),
            iotc_solution_version: sol.version.clone(),
            iotc_namespace: sol.namespace.clone(),
            iotc_solution_labels: sol.labels.clone(),
        })),
        ..Group::default()
    };
    if !sol.clusters.is_empty() {
        all.children.push("cloud", cloud);
    }
    if !sol.fleets.is_empty() {
        all.children.push("edge", edge);
    }
    let later = |e: Engine| roles.from_terraform.contains(&e);
    let present = Present {
        k3s: !roles.k3s_init.is_empty() || later(Engine::K3s),
        microk8s: !roles.microk8s_init.is_empty() || later(Engine::Microk8s),
        docker: !roles.docker_hosts.is_empty(),
        kubeadm: !roles.kubeadm_init.is_empty() || later(Engine::Kubeadm),
        pull_secrets: sol
            .workloads
            .iter()
            .any(|w| w.container.registry.is_some() && on_installed_kubernetes(sol, w)),
        workload_secrets: sol.workloads.iter().any(|w| {
            w.container
                .secrets
                .iter()
                .any(|s| s.source != crate::ir::SecretSource::File)
                && on_installed_kubernetes(sol, w)
        }),
        upgrades,
    };
    for (name, hosts) in [
        ("k3s_init", &roles.k3s_init),
        ("k3s_servers", &roles.k3s_servers),
        ("k3s_agents", &roles.k3s_agents),
        ("microk8s_init", &roles.microk8s_init),
        ("microk8s_servers", &roles.microk8s_servers),
        ("microk8s_agents", &roles.microk8s_agents),
        ("docker_hosts", &roles.docker_hosts),
        ("kubeadm_init", &roles.kubeadm_init),
        ("kubeadm_servers", &roles.kubeadm_servers),
        ("kubeadm_workers", &roles.kubeadm_workers),
        ("standby", &roles.standby),
    ] {
        // A runtime's groups are kept (empty) when it is present, so the
        // playbooks' host patterns always match a group: an agents group
        // beside its servers, and every group of a runtime whose hosts
        // only the Terraform inventory script lists.
        let keep = !hosts.is_empty()
            || (name.starts_with("k3s_") && present.k3s)
            || (name.starts_with("microk8s_") && present.microk8s)
            || (name.starts_with("kubeadm_") && present.kubeadm);
        if keep {
            all.children.push(name, flat_group(hosts));
        }
    }
    (Inventory { all }, present)
}

/// Whether `w` runs on Kubernetes that Ansible installs (a cluster with an
/// engine, a k3s or microk8s fleet), where a first server can create its
/// Secrets.
fn on_installed_kubernetes(sol: &crate::ir::Solution, w: &crate::ir::Workload) -> bool {
    match &w.placement {
        crate::ir::Placement::Cluster { cluster, .. } => sol
            .clusters
            .iter()
            .any(|cl| &cl.name == cluster && cluster_engine(cl) != Engine::None),
        crate::ir::Placement::Fleet { fleet, .. } => sol
            .fleets
            .iter()
            .any(|f| &f.name == fleet && matches!(fleet_engine(f), Engine::K3s | Engine::Microk8s)),
    }
}
