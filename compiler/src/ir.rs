//! The evaluated IR: a fully resolved solution with every default applied,
//! every count a number and every workload placed per site. Backends, the
//! planner and the language server read only this (and spans for
//! navigation); none of them sees syntax.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Solution {
    pub name: String,
    pub version: String,
    pub namespace: String,
    pub description: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// Private registries and their pull credentials (references only).
    /// A container whose image comes from one names it in
    /// [`Container::registry`].
    pub registries: Vec<Registry>,
    /// The networks operators and Ansible connect from (`admin`, IPv4
    /// CIDRs): SSH to the hosts Ansible prepares is admitted from these
    /// only; empty: from anywhere, rate limited.
    pub admin_networks: Vec<String>,
    pub params: Vec<ParamValue>,
    pub clusters: Vec<Cluster>,
    pub fleets: Vec<Fleet>,
    pub workloads: Vec<Workload>,
    pub models: Vec<Model>,
    /// Capacity per node group, for `plan` and the backends' quotas.
    pub capacity: Vec<NodeGroupCapacity>,
    /// Every connection the solution declares (`talks_to` and endpoint
    /// references in env values), resolved once by the checker: who calls
    /// whom, on which listener, through which endpoint. Sorted by caller,
    /// then callee. Backends turn these into network policies, security
    /// groups, Compose networks and firewall rules; none re-resolves names.
    pub flows: Vec<Flow>,
    /// Dependencies outside the solution (`external plc { … }`), sorted by
    /// name.
    pub externals: Vec<External>,
    /// Every connection from a workload to an external dependency
    /// (`talks_to` and endpoint references such as `plc.url`), resolved
    /// once by the checker. Sorted by caller, then external. Every target
    /// that restricts egress allows exactly these.
    pub egress: Vec<Egress>,
    /// The Kubernetes namespaces of every cluster and Kubernetes fleet,
    /// sorted by group, then name: the solution's namespace, and
    /// `<namespace>-host` where a workload needs more than `baseline`
    /// (see [`Workload::namespace`]).
    pub namespaces: Vec<K8sNamespace>,
    /// Every Prometheus the solution deploys (`from std.services.prometheus`)
    /// with what it scrapes and which Grafanas read it, decided by the
    /// checker. Sorted by group, then Prometheus. Each scrape is also a
    /// flow (Prometheus → target) in `flows`, so policies admit exactly it.
    pub monitoring: Vec<Monitoring>,
}

/// A Prometheus deployed by the solution and its whole configuration: the
/// backends write it as the `prometheus.yml` its `--config.file` reads, so
/// monitoring works without the Prometheus Operator.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Monitoring {
    /// The Prometheus workload.
    pub prometheus: String,
    /// Its cluster or fleet (on a fleet it scrapes its own site).
    pub group: String,
    pub fleet: bool,
    /// The folder and file its `--config.file` names
    /// (`/etc/prometheus`, `prometheus.yml`); the rule file
    /// [`PROMETHEUS_RULES_FILE`] sits beside it.
    pub config_dir: String,
    pub config_file: String,
    /// Where the group's workloads query it: `http://<prometheus>:<port>`.
    pub url: Endpoint,
    /// Every workload of the group with a `metrics` path (or a monitored
    /// model's server), sorted by workload. Prometheus scrapes itself on
    /// localhost, not through this list.
    pub targets: Vec<ScrapeTarget>,
    /// The Grafanas (`from std.services.grafana`) of the group that get
    /// this Prometheus as their provisioned datasource.
    pub dashboards: Vec<String>,
    /// A fleet's Prometheus that `talks_to` a cluster's Prometheus sends
    /// every sample there too (`remote_write`), labelled with its fleet
    /// and site, and keeps scraping and alerting on its own when the WAN
    /// is down.
    pub remote_write: Option<RemoteWrite>,
    /// The fleets' Prometheuses that send here: this one runs with
    /// [`REMOTE_WRITE_RECEIVER_FLAG`].
    pub receives_from: Vec<String>,
}

/// Where a fleet's Prometheus sends its samples.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RemoteWrite {
    /// The receiving Prometheus (a cluster's).
    pub to: String,
    /// Its remote-write URL, on the endpoint it is exposed at to other
    /// clusters and fleets: `https://<host>/api/v1/write`.
    pub url: String,
    /// On a Docker fleet every gateway runs its own Prometheus over its own
    /// containers, whose addresses repeat from gateway to gateway: its
    /// samples also carry `gateway` ([`GATEWAY_LABEL_VALUE`], expanded by
    /// Prometheus from [`GATEWAY_ENV`] with [`EXPAND_EXTERNAL_LABELS_FLAG`]).
    pub per_gateway: bool,
}

/// The flag that makes a Prometheus accept remote writes.
pub const REMOTE_WRITE_RECEIVER_FLAG: &str = "--web.enable-remote-write-receiver";
/// The flag that makes Prometheus expand `${VAR}` in its external labels.
pub const EXPAND_EXTERNAL_LABELS_FLAG: &str = "--enable-feature=expand-external-labels";
/// The variable a Docker gateway's `.env` sets to its inventory name.
pub const GATEWAY_ENV: &str = "IOTC_GATEWAY";
/// The `gateway` external label as Prometheus reads it.
pub const GATEWAY_LABEL_VALUE: &str = "${IOTC_GATEWAY}";

/// One workload Prometheus scrapes: every pod, found by DNS.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScrapeTarget {
    pub workload: String,
    /// A headless Service over the workload's pods (its own Service for a
    /// daemon, `<workload>-metrics` otherwise): its DNS name resolves to
    /// every pod, so each pod is scraped, not one behind a virtual IP.
    pub service: String,
    /// The workload's listener, which serves `path`.
    pub port: u16,
    pub path: String,
    pub interval_secs: u64,
    /// The monitored model this target is a metric source of (a server
    /// whose runtime serves `metrics`, or a `metrics_from` workload),
    /// whose `monitor` interval it is scraped at.
    pub model: Option<String>,
}

/// The rule file beside a Prometheus's config: the `monitor { alert … }`
/// rules of the models it scrapes.
pub const PROMETHEUS_RULES_FILE: &str = "alerts.yml";
/// Where Grafana reads provisioned datasources (the image's
/// `GF_PATHS_PROVISIONING` is `/etc/grafana/provisioning`).
pub const GRAFANA_DATASOURCES_DIR: &str = "/etc/grafana/provisioning/datasources";
/// Default scrape interval of targets without a `monitor` interval.
pub const SCRAPE_INTERVAL_SECS: u64 = 30;

/// A dependency outside the solution: a PLC on the plant network, a
/// database, an object store.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct External {
    pub name: String,
    pub docs: Vec<String>,
    pub description: Option<String>,
    /// Where callers connect (`host`, `port`, `scheme`).
    pub endpoint: Endpoint,
    /// The IPv4 range it answers from, canonical (`10.20.0.0/24`): what
    /// policies, security groups and firewalls allow.
    pub cidr: String,
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The S3 bucket it is (`bucket`), with the access its callers get.
    pub bucket: Option<Bucket>,
}

/// An S3 bucket an external dependency stands for, and what its callers
/// may do in it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bucket {
    pub name: String,
    /// Put and delete objects as well as get and list them (`writes`).
    pub writes: bool,
}

/// A workload's connection to an external dependency.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Egress {
    /// Calling workload.
    pub from: String,
    /// Its cluster or fleet.
    pub from_group: String,
    /// Whether `from_group` is a fleet.
    pub from_fleet: bool,
    /// The external dependency.
    pub to: String,
    pub cidr: String,
    pub port: u16,
    pub protocol: String,
    /// The external's S3 bucket: the caller's IAM role on an AWS cluster
    /// gets access to this bucket only (`Bucket::writes` decides which).
    pub bucket: Option<Bucket>,
}

/// Where a flow goes relative to its caller.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Reach {
    /// Both ends on the same cluster, or on the same fleet (the callee
    /// runs at the caller's site).
    SameGroup,
    /// From one cluster to another.
    CrossCluster,
    /// From a fleet to a cluster.
    EdgeToCloud,
    /// From a cluster to a fleet.
    CloudToEdge,
    /// From one fleet to another.
    CrossFleet,
}

impl Reach {
    pub fn is_local(self) -> bool {
        self == Reach::SameGroup
    }
}

/// An address a caller connects to.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    /// `http`, `https`, `grpc`, `mqtt`, `tcp`, `udp`, …
    pub scheme: String,
    /// A Service name on the same cluster/fleet, or a DNS name.
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// `scheme://host[:port]`, the port left out when it is the scheme's
    /// default (443 for https, 80 for http).
    pub fn url(&self) -> String {
        let default = matches!((self.scheme.as_str(), self.port), ("https", 443) | ("http", 80));
        if default {
            format!("{}://{}", self.scheme, self.host)
        } else {
            format!("{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Flow {
    /// Calling workload.
    pub from: String,
    /// Its cluster or fleet.
    pub from_group: String,
    /// Called workload (for a model, one of its servers).
    pub to: String,
    pub to_group: String,
    pub reach: Reach,
    /// The callee's listener: container port and transport (`tcp`/`udp`).
    pub port: u16,
    pub protocol: String,
    /// Where the caller connects: the Service on the same cluster or
    /// fleet, or the callee's exposure (DNS name, 443, https) from
    /// elsewhere.
    pub endpoint: Endpoint,
}

/// How a workload is reached from outside its cluster: `public = true`, or
/// called from another cluster or fleet.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Exposure {
    pub kind: ExposureKind,
    /// The endpoint callers from elsewhere use.
    pub endpoint: Endpoint,
    /// Open to the public (`public_ingress_cidrs`), not only to the
    /// solution's own sites and clusters.
    pub public: bool,
    /// TLS terminated in front of the workload (certificate for
    /// `endpoint.host`).
    pub tls: bool,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ExposureKind {
    /// An HTTP(S) listener behind an Ingress with TLS on 443.
    Ingress,
    /// A TCP/UDP listener behind a load balancer on its own port.
    LoadBalancer,
}

/// What part of an endpoint an env value takes (`ingest.url`).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum EndpointPart {
    Url,
    Host,
    Port,
}

impl EndpointPart {
    pub const ALL: &'static [(&'static str, EndpointPart)] = &[
        ("url", EndpointPart::Url),
        ("host", EndpointPart::Host),
        ("port", EndpointPart::Port),
    ];
    pub fn of(self, e: &Endpoint) -> String {
        match self {
            EndpointPart::Url => e.url(),
            EndpointPart::Host => e.host.clone(),
            EndpointPart::Port => e.port.to_string(),
        }
    }
}

/// An env value derived from a flow's endpoint (its value is already in
/// `Container::env`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EnvEndpoint {
    /// The environment variable.
    pub name: String,
    /// The workload it points at (as the flow's `to`).
    pub to: String,
    pub part: EndpointPart,
}

impl Solution {
    /// A copy with no fleets and no workloads (they are the large part),
    /// for views that fill them in themselves.
    pub fn clone_without_workloads(&self) -> Solution {
        Solution {
            name: self.name.clone(),
            version: self.version.clone(),
            namespace: self.namespace.clone(),
            description: self.description.clone(),
            labels: self.labels.clone(),
            registries: self.registries.clone(),
            admin_networks: self.admin_networks.clone(),
            params: self.params.clone(),
            clusters: self.clusters.clone(),
            fleets: Vec::new(),
            workloads: Vec::new(),
            models: self.models.clone(),
            capacity: self.capacity.clone(),
            flows: self.flows.clone(),
            externals: self.externals.clone(),
            egress: self.egress.clone(),
            namespaces: self.namespaces.clone(),
            monitoring: self.monitoring.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    Bool(bool),
    String(String),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::String(s) => write!(f, "{s}"),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ValueSource {
    Default,
    ValuesFile,
    CommandLine,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ParamValue {
    pub name: String,
    pub ty: String,
    /// The value as source text (`2`, `500m`, `"eu"`).
    pub value: String,
    pub source: ValueSource,
    pub label: Option<String>,
    /// What turning this knob does (the param's `description`).
    pub description: Option<String>,
    /// The default from the source, as source text.
    pub default: String,
    pub min: Option<String>,
    pub max: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeviceProfile {
    /// The path it was named by, e.g. `std.devices.jetson_orin_nano`.
    pub name: String,
    pub arch: String,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub gpu: u32,
    pub accelerator: Option<String>,
    pub storage_bytes: Option<u64>,
    pub power: String,
    pub instance_type: Option<String>,
    pub reserve_cpu_millis: u64,
    pub reserve_memory_bytes: u64,
    /// List price of one node, for cost estimates only; a cluster's or
    /// pool's own `price` has replaced the profile's here.
    pub price: Option<Price>,
}

/// A dated price of one node.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Price {
    /// Per hour, as decimal source text (`0.192`).
    pub hourly: String,
    pub currency: String,
    /// `YYYY-MM-DD`: when the price was read.
    pub as_of: String,
    pub source: Option<String>,
}

impl Price {
    /// The hourly price in millionths of the currency unit (exact; the
    /// text is a checked decimal). `None` if it has more than six decimals
    /// or does not fit.
    pub fn hourly_micros(&self) -> Option<u64> {
        let (whole, frac) = self.hourly.split_once('.').unwrap_or((&self.hourly, ""));
        if frac.len() > 6 || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
        let mut f: u64 = if frac.is_empty() { 0 } else { frac.parse().ok()? };
        for _ in frac.len()..6 {
            f *= 10;
        }
        whole.checked_mul(1_000_000)?.checked_add(f)
    }
}

impl DeviceProfile {
    pub fn allocatable_cpu(&self) -> u64 {
        self.cpu_millis.saturating_sub(self.reserve_cpu_millis)
    }
    pub fn allocatable_memory(&self) -> u64 {
        self.memory_bytes.saturating_sub(self.reserve_memory_bytes)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Provider {
    Aws {
        region: String,
        vpc_cidr: String,
        zones: u32,
    },
    Vsphere {
        datacenter: String,
        cluster: String,
        datastore: String,
        network: String,
        template: String,
        folder: Option<String>,
    },
    Baremetal {
        hosts: Vec<String>,
    },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cluster {
    pub name: String,
    pub provider: Provider,
    pub distribution: String,
    pub version: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// DNS domain under which exposed workloads get their names
    /// (`<workload>.<domain>`).
    pub domain: Option<String>,
    /// kubeadm installed by Ansible: the control plane's virtual address
    /// (kube-vip on every control-plane node, ARP), its
    /// `controlPlaneEndpoint` and a certificate SAN.
    pub vip: Option<String>,
    /// The default pool (named `default`) first, then declared pools.
    pub pools: Vec<Pool>,
    /// What the cluster's runtime needs open between its nodes, when iotc
    /// installs it (baremetal and vSphere; empty for managed clusters):
    /// decided by the checker, translated into host firewall rules.
    pub node_rules: Vec<NodeRule>,
    /// The NTP servers the nodes' chrony prefers, when iotc installs them
    /// where the distribution's default pools are out of reach: on EC2
    /// ([`installed_on_ec2`]) the Amazon Time Sync Service
    /// ([`AMAZON_TIME_SYNC`]), since the nodes' security group lets no NTP
    /// out. Decided by the checker; empty: chrony keeps its default pools.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub time_servers: Vec<String>,
    /// Where the secrets of the workloads on an AWS cluster are kept (AWS
    /// Secrets Manager) and how they reach the pods, decided by the
    /// checker; `None` on other providers and on AWS clusters whose
    /// workloads declare no secret.
    pub secret_store: Option<SecretStore>,
}

/// The AWS Secrets Manager secrets of a cluster's workloads: Terraform
/// creates each under [`StoredSecret::name`], and on EKS the Secrets Store
/// CSI driver copies them into the Kubernetes Secret the pods read, by the
/// same names (docs/terraform.md and docs/k8s.md, "Secrets").
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SecretStore {
    /// The region of the cluster, where the secrets are kept.
    pub region: String,
    /// The first part of every name: `<solution>-<cluster>`
    /// (`names::cluster_prefix`), fixed by the source so that the
    /// Kubernetes output can name the secrets too.
    pub prefix: String,
    /// The AWS Secrets Store CSI Driver provider (an EKS add-on) syncs them
    /// into `<workload>-secrets` through each workload's EKS Pod Identity
    /// role: true on EKS. False on kubeadm/k3s on EC2, where the Secret is
    /// created by hand from them.
    pub sync: bool,
    /// In workload order, then in the order the workload declares them.
    pub secrets: Vec<StoredSecret>,
    /// On EKS, the pull credential of each declared registry that a
    /// workload on the cluster pulls from, by registry name.
    pub registries: Vec<StoredRegistry>,
}

/// A registry's pull credential kept in AWS Secrets Manager as a
/// `.dockerconfigjson` document, synced into the registry's pull Secret
/// (`Registry::pull_secret`) by every pod that pulls from it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoredRegistry {
    pub registry: String,
    /// The Secrets Manager name: `<prefix>/_registry/<registry>` (no
    /// workload name starts with `_`, so it never meets a workload's).
    pub name: String,
    /// The workloads on the cluster that pull from it, in workload order:
    /// each may read it and syncs it.
    pub workloads: Vec<String>,
}

/// One secret of one workload, kept in AWS Secrets Manager.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StoredSecret {
    pub workload: String,
    /// The secret's name in the source: the environment variable and the
    /// key of `<workload>-secrets`.
    pub key: String,
    /// The Secrets Manager name: `<prefix>/<workload>/<key>`.
    pub name: String,
}

/// The Amazon Time Sync Service's NTP endpoint on every EC2 instance: a
/// link-local address, which the instance reaches without a security-group
/// rule or a route to the internet. AWS, "Set the time reference on your
/// EC2 instance to use the local Amazon Time Sync Service"
/// (<https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/configure-ec2-ntp.html>):
/// "IPv4: 169.254.169.123 … NTP and PTP connections do not require any VPC
/// configuration changes, and your instance does not require access to the
/// internet."
pub const AMAZON_TIME_SYNC: &str = "169.254.169.123";

/// A cluster of `distribution` on `provider` that Ansible installs on EC2
/// instances Terraform creates (anything but EKS on `aws`); see
/// [`Cluster::hosts_from_terraform`]. The checker asks before the cluster
/// exists.
pub fn installed_on_ec2(provider: &Provider, distribution: &str) -> bool {
    matches!(provider, Provider::Aws { .. }) && distribution != "eks"
}

impl Cluster {
    pub fn total_nodes(&self) -> u32 {
        self.pools.iter().map(|p| p.nodes).sum()
    }

    /// The pool whose first nodes carry the control plane (the first with
    /// nodes) and how many: 3 when it has at least 3 (an etcd quorum that
    /// survives one loss), else 1. Terraform keeps these VMs on different
    /// hosts (a DRS anti-affinity rule).
    pub fn control_plane(&self) -> Option<(&Pool, u32)> {
        let p = self.pools.iter().find(|p| p.nodes > 0)?;
        Some((p, if p.nodes >= 3 { 3 } else { 1 }))
    }

    /// Kubernetes on EC2 instances (`kubeadm`, `k3s` or `microk8s` on
    /// `aws`): Terraform creates the instances (`aws_instance` per pool)
    /// and Ansible installs the distribution on them, but their addresses
    /// are known only after `terraform apply`, so the Ansible inventory
    /// reads them from Terraform's outputs when it runs
    /// (`ansible/terraform_<cluster>.py`) instead of listing host names.
    pub fn hosts_from_terraform(&self) -> bool {
        installed_on_ec2(&self.provider, &self.distribution)
    }

    /// The host names of each pool's machines, pool by pool, when the
    /// solution knows them: baremetal hosts handed to the pools in order;
    /// vSphere VMs named `<prefix>-<pool>-<n>` (`names::vm_host`, the
    /// prefix Terraform's `name_prefix` defaults to), which Terraform gives
    /// the VMs and their guests. Empty for AWS (instances have no names
    /// the solution decides). Terraform and the Ansible inventory both
    /// read this, so the machines one creates are the hosts the other
    /// installs.
    pub fn pool_hosts(&self, solution: &str) -> Vec<Vec<String>> {
        match &self.provider {
            Provider::Baremetal { hosts } => {
                let mut rest = hosts.iter();
                self.pools
                    .iter()
                    .map(|p| rest.by_ref().take(p.nodes as usize).cloned().collect())
                    .collect()
            }
            Provider::Vsphere { .. } => {
                let prefix = crate::names::cluster_prefix(solution, &self.name);
                self.pools
                    .iter()
                    .map(|p| {
                        (1..=p.nodes)
                            .map(|n| crate::names::vm_host(&prefix, &p.name, n))
                            .collect()
                    })
                    .collect()
            }
            Provider::Aws { .. } => self.pools.iter().map(|_| Vec::new()).collect(),
        }
    }

    /// The control-plane hosts (see [`Cluster::control_plane`]), the first
    /// of which initialises the cluster; empty when the hosts are unknown.
    pub fn control_plane_hosts(&self, solution: &str) -> Vec<String> {
        let Some((cp, n)) = self.control_plane() else {
            return Vec::new();
        };
        self.pools
            .iter()
            .zip(self.pool_hosts(solution))
            .find(|(p, _)| std::ptr::eq(*p, cp))
            .map(|(_, hosts)| hosts.into_iter().take(n as usize).collect())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pool {
    pub name: String,
    pub node: DeviceProfile,
    pub nodes: u32,
    pub labels: BTreeMap<String, String>,
    /// Labels every node of the pool carries: the cluster's labels, the
    /// pool's (which `where` clauses select) and [`POOL_LABEL`] set to the
    /// pool. Ansible applies them to kubeadm/k3s/microk8s nodes, Terraform
    /// to EKS node groups.
    pub node_labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Runtime {
    pub name: String,
    /// `kubernetes` or `compose`.
    pub kind: String,
    pub standby: bool,
    pub schedules: bool,
    pub autoscale: bool,
    pub daemons: bool,
    pub version: Option<String>,
}

impl Runtime {
    pub fn is_kubernetes(&self) -> bool {
        self.kind == "kubernetes"
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Fleet {
    pub name: String,
    pub device: DeviceProfile,
    pub runtime: Runtime,
    pub labels: BTreeMap<String, String>,
    pub sites: Vec<Site>,
}

impl Fleet {
    pub fn total_gateways(&self) -> u32 {
        self.sites.iter().map(|s| s.gateways).sum()
    }
}

impl Site {
    /// The name the gateways of this site pull `image` by: on its mirror
    /// at [`mirror_path`] when it has one, else the image as written.
    pub fn image_at(&self, image: &str) -> String {
        match &self.mirror {
            Some(m) => format!("{m}/{}", mirror_path(image)),
            None => image.to_string(),
        }
    }
}

/// Where a site's mirror keeps `image`: its path and tag without the
/// registry host, as containerd asks a mirror for it (`ghcr.io/acme/x:1`
/// → `acme/x:1`; Docker Hub's one-word names under `library/`, as
/// `nginx:1` → `library/nginx:1`).
pub fn mirror_path(image: &str) -> String {
    let host = crate::names::image_registry_host(image);
    let path = match image.split_once('/') {
        Some((first, rest)) if first == host => rest,
        _ => image,
    };
    if host == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Site {
    pub name: String,
    pub gateways: u32,
    pub standby: u32,
    /// Gateway host names, expanded from the pattern.
    pub hosts: Vec<String>,
    /// Standby device host names (numbered after the gateways).
    pub standby_hosts: Vec<String>,
    /// Fleet labels overlaid with the site's own.
    pub labels: BTreeMap<String, String>,
    pub region: Option<String>,
    /// `offline = true`: the site has no route to the internet. Ansible
    /// downloads what its gateways need on the controller and copies it
    /// over (the k3s binary and its air-gap images, models), checks the
    /// OS packages instead of installing them, and every image comes from
    /// [`Site::mirror`], which the checker requires (E0406).
    pub offline: bool,
    /// The site's registry mirror (`host` or `host:port`): the gateways
    /// pull every image from it, at [`mirror_path`] (k3s through
    /// `registries.yaml`, Compose by the name [`Site::image_at`] gives).
    pub mirror: Option<String>,
    /// Control-plane hosts of the site's own Kubernetes cluster (k3s and
    /// microk8s fleets; empty for Docker fleets and sites without host
    /// names): the first gateway, or the first three when the site has
    /// three or more gateways (embedded etcd / dqlite needs three for a
    /// quorum). The first one initialises the cluster. Every site is its
    /// own cluster so that it keeps running when its WAN link is down.
    pub servers: Vec<String>,
    /// Docker fleets: the gateway that runs the site's services that are
    /// not on every gateway (a broker, a recorder): the site's `hub`, else
    /// its first gateway. Copies are dealt round-robin from it, and the
    /// other gateways reach those services at its address. `None` for
    /// Kubernetes fleets (the site's scheduler places them) and sites
    /// without host names.
    pub hub: Option<String>,
    /// Labels every node of the site carries: [`SITE_LABEL`] and
    /// [`ZONE_LABEL`] set to the site, and the site's labels, which `where`
    /// clauses select. Standby devices add [`STANDBY_LABEL`].
    pub node_labels: BTreeMap<String, String>,
    /// What the fleet's runtime needs open between the nodes of this site
    /// (its own Kubernetes cluster); empty for Docker fleets. Decided by
    /// the checker from the runtime and the site's servers (etcd only when
    /// the site has more than one), translated into host firewall rules.
    pub node_rules: Vec<NodeRule>,
}

/// Node label naming the cluster pool; workloads outside `default` select it.
pub const POOL_LABEL: &str = "iotc.dev/pool";

/// One port (or range, or every port) a runtime needs open between the
/// nodes of a site or cluster, with the reason. The Ansible backend
/// translates these into ufw rules; `iotc plan --format json` shows them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeRule {
    /// `None`: every port (traffic from the pod or service network).
    pub ports: Option<PortRange>,
    /// `None` with `ports: None`: every protocol.
    pub protocol: Option<NodeProtocol>,
    pub from: NodeSource,
    pub why: String,
}

/// `first..=last`; a single port has `first == last`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NodeProtocol {
    Tcp,
    Udp,
}

impl NodeProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeProtocol::Tcp => "tcp",
            NodeProtocol::Udp => "udp",
        }
    }
}

/// Who may connect: the other nodes on the LAN (the site's or cluster's
/// network), or an address range (the runtime's pod or service network).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NodeSource {
    Lan,
    Cidr(String),
}

/// The pod network of a kubeadm cluster: kubeadm's `podSubnet` and
/// Calico's IP pool (they must agree; Calico's default 192.168.0.0/16
/// often overlaps data-centre networks).
pub const KUBEADM_POD_CIDR: &str = "10.244.0.0/16";
/// kubeadm's default service network.
pub const KUBEADM_SERVICE_CIDR: &str = "10.96.0.0/12";

/// Node label naming the fleet site a gateway (or standby device) belongs
/// to. Per-site Deployments and Jobs select on it.
pub const SITE_LABEL: &str = "iotc.dev/site";
/// Set to the site as well, so Services with `trafficDistribution:
/// PreferClose` keep calls inside the site.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Label and taint key of standby devices (`iotc.dev/standby=true:NoSchedule`).
pub const STANDBY_LABEL: &str = "iotc.dev/standby";

/// How long a fleet's control plane waits for a silent node before it marks
/// it unreachable (`node-monitor-grace-period`, set by the k3s and microk8s
/// roles; the Kubernetes default is 40-50 s).
pub const NODE_MONITOR_GRACE_SECS: u32 = 20;
/// How long a critical workload's pods stay bound to an unreachable or
/// not-ready node before they are evicted and rescheduled (the default is
/// 300 s).
pub const CRITICAL_TOLERATION_SECS: i64 = 10;

/// A site with this many gateways or more gets three control-plane hosts.
pub const HA_MIN_GATEWAYS: u32 = 3;

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    Service,
    Daemon,
    Job,
    /// A model server (`model … serve on …`).
    Serve,
    /// A model training job (`model … train on …`).
    Train,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Service => "service",
            WorkloadKind::Daemon => "daemon",
            WorkloadKind::Job => "job",
            WorkloadKind::Serve => "serve",
            WorkloadKind::Train => "train",
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "tier", rename_all = "lowercase")]
pub enum Placement {
    Cluster {
        cluster: String,
        pool: String,
        /// Replicas in total (for daemons, the pool's node count).
        replicas: u32,
    },
    Fleet {
        fleet: String,
        /// Shared by the workloads placed alike (see `check::place`).
        sites: std::sync::Arc<[SitePlacement]>,
    },
}

impl Placement {
    /// The cluster or fleet it runs on.
    pub fn group(&self) -> &str {
        match self {
            Placement::Cluster { cluster, .. } => cluster,
            Placement::Fleet { fleet, .. } => fleet,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SitePlacement {
    pub site: std::sync::Arc<str>,
    /// Replicas at this site (for daemons, one per gateway).
    pub replicas: u32,
    /// Copies placed on each gateway (ceil(replicas ÷ gateways)).
    pub per_node: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum SecretSource {
    Env,
    File,
    Vault,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SecretRef {
    /// Environment variable the workload sees.
    pub name: String,
    pub source: SecretSource,
    /// Where the value lives: env var name, file path or vault path.
    pub reference: String,
}

/// A private container registry (`registry NAME { … }` in the solution).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Registry {
    pub name: String,
    /// The host images name it by (`ghcr.io`, `registry.example.com:5000`).
    pub host: String,
    pub username: String,
    /// The password or token: env or vault, read on the Ansible controller.
    pub password: SecretRef,
    /// The `kubernetes.io/dockerconfigjson` Secret pods name in
    /// `imagePullSecrets`: `<registry>-registry`.
    pub pull_secret: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Volume {
    pub name: String,
    pub mount: String,
    pub size_bytes: Option<u64>,
    pub host_path: Option<String>,
    pub read_only: bool,
    /// The host folder the workload writes on each node, decided by the
    /// checker: a writable `host_path`, or for a daemon's sized volume the
    /// per-node folder `/var/lib/iotc/<namespace>/<workload>/<volume>`
    /// (one claim cannot serve every node). Ansible creates it owned by the
    /// container's user (`writable_dirs`); the kubelet would create it
    /// root:0755, which the pod (uid 10001) cannot write.
    pub host_dir: Option<String>,
}

/// A host folder a workload writes, with the user that must own it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct WritableDir {
    pub path: String,
    pub owner: u32,
    pub workload: String,
}

impl Solution {
    /// Every host folder the workloads placed on `fleet` write, once per
    /// path (sorted). Two workloads with different users on one folder
    /// keep the first (by name); the checker's order decides.
    pub fn writable_dirs(&self, fleet: &str) -> Vec<WritableDir> {
        let mut out: Vec<WritableDir> = Vec::new();
        for w in &self.workloads {
            let Placement::Fleet { fleet: f, .. } = &w.placement else {
                continue;
            };
            if f != fleet {
                continue;
            }
            for v in &w.container.volumes {
                let Some(path) = &v.host_dir else { continue };
                if !out.iter().any(|d| &d.path == path) {
                    out.push(WritableDir {
                        path: path.clone(),
                        owner: w.container.user,
                        workload: w.name.clone(),
                    });
                }
            }
        }
        out.sort();
        out
    }

    /// The device groups iotc pins on every node of `fleet` (sorted by
    /// name): those of the device nodes its workloads use whose host group
    /// has no fixed id.
    pub fn pinned_device_groups(&self, fleet: &str) -> Vec<PinnedDeviceGroup> {
        let mut out: BTreeMap<String, PinnedDeviceGroup> = BTreeMap::new();
        for w in &self.workloads {
            if !matches!(&w.placement, Placement::Fleet { fleet: f, .. } if f == fleet) {
                continue;
            }
            for d in &w.container.devices {
                let Some(g) = &d.group else { continue };
                let Some(host_group) = &g.host_group else { continue };
                let node = d.host.rsplit('/').next().unwrap_or(&d.host).to_string();
                let e = out.entry(g.name.clone()).or_insert_with(|| PinnedDeviceGroup {
                    name: g.name.clone(),
                    gid: g.gid,
                    host_group: host_group.clone(),
                    nodes: Vec::new(),
                });
                if !e.nodes.contains(&node) {
                    e.nodes.push(node);
                }
            }
        }
        out.into_values()
            .map(|mut g| {
                g.nodes.sort();
                g
            })
            .collect()
    }
}

/// Access to one device node, decided by the checker
/// (`check/devices.rs`): the node, where the container sees it, the host
/// group that may open it and the extended resource that stands for it on
/// Kubernetes. Backends translate these; none guesses a group or a name.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeviceMount {
    pub host: String,
    pub container: String,
    /// The group that owns the node on Debian, Ubuntu, Raspberry Pi OS and
    /// Jetson Linux (udev rules); the container joins it to open the node.
    pub group: Option<DeviceGroup>,
    /// The extended resource a device plugin advertises for this node on
    /// Kubernetes (`devices.iotc.dev/video0`); pods request one in
    /// `limits` instead of mounting the node from the host. Unique per
    /// (host, container) pair across the solution.
    pub resource: String,
}

/// A host group that owns device nodes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeviceGroup {
    /// `video`, `dialout`, `audio`, …
    pub name: String,
    /// Its id: where Debian fixes it (base-passwd: video 44, dialout 20,
    /// audio 29, plugdev 46), or iotc's pinned id for `iotc-<group>`
    /// (`check::devices::PINNED_GID_BASE`).
    pub gid: u32,
    /// For a group iotc pins (`iotc-render`, …): the host's own group whose
    /// id each host picks (`render`, `i2c`, `spi`, `gpio`). Ansible creates
    /// `name` with `gid` on every node of the fleet and a udev rule gives
    /// the node to it, keeping `host_group`'s access through an ACL.
    pub host_group: Option<String>,
}

/// A device group Ansible pins on every node of a fleet
/// ([`Solution::pinned_device_groups`]) and the device nodes (kernel names,
/// `renderD128`) its udev rule hands to it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct PinnedDeviceGroup {
    pub name: String,
    pub gid: u32,
    pub host_group: String,
    /// Kernel names of the nodes the fleet's workloads use, sorted.
    pub nodes: Vec<String>,
}

/// The domain of the extended resources device plugins advertise for
/// device nodes (`devices.iotc.dev/<name>`).
pub const DEVICE_RESOURCE_DOMAIN: &str = "devices.iotc.dev";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Container {
    pub image: String,
    /// The declared registry the image is pulled from (its name), decided
    /// by the checker from the image's host.
    pub registry: Option<String>,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub cpu_millis: u64,
    pub cpu_limit_millis: u64,
    pub memory_bytes: u64,
    pub gpu: u32,
    pub env: BTreeMap<String, String>,
    pub secrets: Vec<SecretRef>,
    pub volumes: Vec<Volume>,
    /// Folders the container writes that no volume covers, decided by the
    /// checker: `/tmp` (unless a volume mounts there) and the declared
    /// `writable` paths, sorted. The root file system is read-only; each
    /// of these is an empty scratch folder on every start (an emptyDir on
    /// Kubernetes, a tmpfs in Compose), never kept across restarts.
    pub scratch: Vec<String>,
    pub devices: Vec<DeviceMount>,
    pub privileged: bool,
    pub user: u32,
    pub port: Option<u16>,
    pub protocol: String,
    /// What `port` speaks (`http`, `grpc`, `mqtt`, `tcp`, `udp`, …).
    pub scheme: String,
    pub health: Option<String>,
    pub metrics: Option<String>,
    /// A second HTTP listener serving `metrics`, when the image serves its
    /// metrics apart from `port` (a serving runtime's `metrics_port`, such
    /// as Triton's 8002). Scrapes, their flows and policies use it.
    pub metrics_port: Option<u16>,
    /// Architectures the image supports; empty means any.
    pub arch: Vec<String>,
    /// Files the image reads, by absolute path under `/etc/<folder>/`
    /// (a serving runtime's `files`: TF Serving's monitoring config),
    /// mounted read-only: a ConfigMap per folder on Kubernetes, a config
    /// in Compose.
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Autoscale {
    pub min: u32,
    pub max: u32,
    pub cpu_percent: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rollout {
    pub max_unavailable: u32,
    pub max_surge: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Hash)]
pub struct Selector {
    pub key: String,
    pub value: String,
    pub negated: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelRef {
    pub model: String,
    pub format: String,
    pub version: String,
    pub artifact: String,
    pub checksum: Option<String>,
    /// Name of the serving runtime, for servers.
    pub serving: Option<String>,
    /// Where the training data is read from (`train`'s `data`), for the
    /// training job.
    pub data: Option<String>,
    /// The folder every serving runtime reads the model from, in the
    /// container: `/models/<model>`.
    pub dir: String,
    /// The served file: `<dir>/<version>/model.<ext>`, the layout ONNX
    /// Runtime Server, Triton and TF Serving read (version folders under a
    /// per-model folder, a fixed file name per format).
    pub path: String,
    /// Where training writes new versions: the artifact's URL up to the
    /// served version's folder (`s3://b/defect/7/model.onnx` →
    /// `s3://b/defect/`). A run writes `<store><new version>/model.<ext>`,
    /// never the served artifact; promotion is a change of `version`,
    /// `artifact` and `checksum` in the source.
    pub store: String,
    /// Where one training run writes the version it makes:
    /// `<store><run>/<file>`, `<run>` ([`RUN_PLACEHOLDER`]) being the run's
    /// unique name (on Kubernetes the Job's name, `<cronjob>-<scheduled
    /// minute>`, which only grows). A run's version is never the served
    /// one, and promoting it means `version = "<run>"`.
    pub train_output: String,
    /// The folder of the served version in a gateway's on-disk model cache
    /// (`MODEL_CACHE_ROOT/<model>/<cache_key>`): `<version>-<first 12 hex
    /// digits of the sha256>`, or `<version>` without a checksum, so a cached
    /// file is reused only for the same version and bytes.
    pub cache_key: String,
    /// The served version's folder on a fleet gateway's disk:
    /// `MODEL_CACHE_ROOT/<model>/<cache_key>`. A Kubernetes fleet's init
    /// container fetches the file into it (hostPath + subPath); on a Docker
    /// fleet Ansible stages (downloads and verifies) the file into it and
    /// Compose bind-mounts it read-only at `<dir>/<version>`, so the model
    /// is downloaded once and a restart needs no WAN.
    pub host_dir: String,
}

/// Stands for a training run's unique name in [`ModelRef::train_output`].
pub const RUN_PLACEHOLDER: &str = "{run}";

/// Where fleet gateways keep their models on disk, one folder per model and
/// one below it per version and checksum ([`ModelRef::host_dir`]), so a
/// restarted server finds its version without the WAN.
pub const MODEL_CACHE_ROOT: &str = "/var/lib/iotc/model-cache";

/// The cache folder of a version: see [`ModelRef::cache_key`].
pub fn model_cache_key(version: &str, checksum: Option<&str>) -> String {
    match checksum
        .and_then(|c| c.strip_prefix("sha256:"))
        .and_then(|h| h.get(..12))
    {
        Some(short) => format!("{version}-{short}"),
        None => version.to_string(),
    }
}

/// The file name a serving runtime expects for a model format inside its
/// version folder.
pub fn model_file(format: &str) -> &'static str {
    match format {
        "onnx" => "model.onnx",
        "tflite" => "model.tflite",
        "tensorrt" => "model.plan",
        "torchscript" => "model.pt",
        _ => "model.savedmodel",
    }
}

/// The folder new versions of a model go to: `artifact` cut before its
/// `/<version>/` segment, or before the folder of a promoted training run
/// (`/<train job>-<n>/`, see [`ModelRef::train_output`]), or its parent
/// folder when it has neither.
pub fn model_store(artifact: &str, version: &str, train_job: &str) -> String {
    let marker = format!("/{version}/");
    if let Some(i) = artifact.rfind(&marker) {
        return format!("{}/", artifact.get(..i).unwrap_or(artifact));
    }
    let Some(file_at) = artifact.rfind('/') else {
        return artifact.to_string();
    };
    let folder = artifact.get(..file_at).unwrap_or(artifact);
    if let Some(i) = folder.rfind('/') {
        let name = folder.get(i + 1..).unwrap_or_default();
        let run = name
            .strip_prefix(train_job)
            .and_then(|n| n.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if run {
            return format!("{}/", folder.get(..i).unwrap_or(folder));
        }
    }
    format!("{folder}/")
}

#[cfg(test)]
mod store_tests {
    use super::model_store;

    #[test]
    fn a_store_is_the_folder_above_a_version_or_a_promoted_run() {
        let job = "defect-detector-train";
        assert_eq!(model_store("s3://b/defect/7/model.onnx", "7", job), "s3://b/defect/");
        assert_eq!(
            model_store("s3://b/defect/defect-detector-train-29412345/model.onnx", "8", job),
            "s3://b/defect/"
        );
        assert_eq!(model_store("s3://b/defect/model.onnx", "8", job), "s3://b/defect/");
        assert_eq!(
            model_store("s3://b/defect/other-1/model.onnx", "8", job),
            "s3://b/defect/other-1/"
        );
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Workload {
    /// Unique name; for models, `<model>-serve` / `<model>-train`.
    pub name: String,
    pub kind: WorkloadKind,
    pub docs: Vec<String>,
    pub placement: Placement,
    pub selectors: Vec<Selector>,
    pub container: Container,
    pub schedule: Option<String>,
    pub backoff: u32,
    pub deadline_secs: u64,
    pub critical: bool,
    pub public: bool,
    /// `talks_to` entries and the workloads its env values reference
    /// (`ingest.url`), in source order, each once. Resolved in `Solution::flows`.
    pub talks_to: Vec<String>,
    /// How it is reached from outside its cluster, when it is.
    pub exposure: Option<Exposure>,
    /// Env values derived from endpoints.
    pub env_endpoints: Vec<EnvEndpoint>,
    pub autoscale: Option<Autoscale>,
    pub rollout: Rollout,
    pub labels: BTreeMap<String, String>,
    pub model: Option<ModelRef>,
    /// The template it was made from, if any.
    pub template: Option<String>,
    /// The least permissive Pod Security Standards level its pods are
    /// admitted under on Kubernetes (decided in `check::place`): a
    /// Kubernetes namespace enforces the highest level of its workloads.
    pub pod_security: PodSecurity,
    /// The Kubernetes namespace its objects live in (decided in
    /// `check::place`): the solution's namespace, or `<namespace>-host`
    /// when its pods need more than `baseline` (they mount a folder of the
    /// node or run privileged) on a cluster or Kubernetes fleet, so the
    /// ordinary namespace can enforce `restricted`. Always the solution's
    /// namespace on a Docker fleet.
    pub namespace: String,
    /// Each copy keeps volumes of its own (decided in `check::place`): a
    /// service with a `size`d volume that runs more than one copy somewhere
    /// or autoscales. One ReadWriteOnce claim cannot be attached to the
    /// copies on other nodes, so on Kubernetes it is a StatefulSet with a
    /// claim per copy (`volumeClaimTemplates`), not a Deployment.
    pub stateful: bool,
}

/// A Kubernetes namespace of one cluster or Kubernetes fleet (on a fleet,
/// of each of its sites that runs one of its workloads), decided in
/// `check::place`, with the Pod Security level it enforces.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct K8sNamespace {
    /// Its cluster or fleet.
    pub group: String,
    pub name: String,
    /// The level it enforces: the highest its workloads need
    /// (`restricted` for an ordinary namespace today, `privileged` for a
    /// `-host` one). `warn` and `audit` are `restricted`.
    pub pod_security: PodSecurity,
    /// A `<namespace>-host` namespace, holding only workloads that need
    /// more than `baseline`.
    pub host: bool,
    /// On a Kubernetes fleet, the sites (each its own cluster) where it
    /// exists: every site for the solution's namespace, for a `-host` one
    /// the sites where one of its workloads has a copy. Empty on a
    /// cluster, where it exists as soon as it is listed.
    pub sites: Vec<String>,
}

/// A Pod Security Standards level
/// (<https://kubernetes.io/docs/concepts/security/pod-security-standards/>),
/// least to most permissive. Every pod iotc writes drops all capabilities,
/// runs as a non-root user with the runtime's seccomp profile and without
/// privilege escalation, so what lifts a workload above `restricted` is
/// only what it mounts from the host or `privileged = true`. `baseline`
/// forbids hostPath volumes and privileged containers just as `restricted`
/// does, so no workload iotc writes needs exactly `baseline` today.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurity {
    #[default]
    Restricted,
    Baseline,
    Privileged,
}

impl PodSecurity {
    /// The value of the `pod-security.kubernetes.io/*` namespace labels.
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurity::Restricted => "restricted",
            PodSecurity::Baseline => "baseline",
            PodSecurity::Privileged => "privileged",
        }
    }
}

/// The std template that makes a workload a Prometheus the checker
/// configures ([`Monitoring`]).
pub const PROMETHEUS_TEMPLATE: &str = "std.services.prometheus";
/// The std template that makes a workload a Grafana that gets its group's
/// Prometheus as a datasource.
pub const GRAFANA_TEMPLATE: &str = "std.services.grafana";

impl Workload {
    /// A fleet workload with exactly one copy on every gateway of every
    /// site it runs at (`replicas = 1 per gateway`), no autoscaling, and no
    /// standby device at those sites (daemons run on standby devices too,
    /// and would find no local copy there).
    pub fn one_per_gateway(&self, fleets: &[Fleet]) -> bool {
        let Placement::Fleet { fleet, sites } = &self.placement else {
            return false;
        };
        let Some(f) = fleets.iter().find(|f| &f.name == fleet) else {
            return false;
        };
        self.autoscale.is_none()
            && !sites.is_empty()
            && sites.iter().all(|p| {
                p.per_node == 1
                    && f.sites
                        .iter()
                        .any(|s| *s.name == *p.site && s.gateways == p.replicas && s.standby == 0)
            })
    }

    pub fn total_replicas(&self) -> u32 {
        match &self.placement {
            Placement::Cluster { replicas, .. } => *replicas,
            Placement::Fleet { sites, .. } => sites.iter().map(|s| s.replicas).sum(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Alert {
    pub metric: String,
    pub op: String,
    pub threshold: String,
    pub for_secs: Option<u64>,
    /// The servers (workload names) whose serving runtime `provides` the
    /// metric, each with its PromQL: `{model_name}` filled in,
    /// [`ALERT_SELECTOR`] left for the label matchers of the servers a
    /// rule is about.
    pub provided_by: BTreeMap<String, String>,
    /// Some server's runtime does not provide the metric: it is read from
    /// the model's `metrics_from` workloads (`Model::metrics_from`).
    pub from_exporters: bool,
}

/// The workloads a monitored model's alerts read, each with its model, in
/// workload order: its servers whose runtime serves `metrics`, and its
/// `metrics_from` workloads with a `metrics` path (a job is never one).
/// A workload without a port serves nothing to scrape.
pub fn metric_sources<'a>(workloads: &'a [Workload], models: &'a [Model]) -> Vec<(&'a Workload, &'a str)> {
    let mut out = Vec::new();
    for w in workloads {
        if w.container.port.is_none()
            || w.container.metrics.is_none()
            || matches!(w.kind, WorkloadKind::Job | WorkloadKind::Train)
        {
            continue;
        }
        for m in models.iter().filter(|m| m.monitored) {
            let serves = w.kind == WorkloadKind::Serve && w.model.as_ref().is_some_and(|r| r.model == m.name);
            if serves || m.metrics_from.contains(&w.name) {
                out.push((w, m.name.as_str()));
            }
        }
    }
    out
}

/// Each metric source (`metric_sources`) with the first monitored model it
/// is a source of, whose `monitor` interval it is scraped at, by workload
/// name.
pub fn metric_source_models<'a>(workloads: &'a [Workload], models: &'a [Model]) -> BTreeMap<&'a str, &'a Model> {
    let mut out = BTreeMap::new();
    for (w, m) in metric_sources(workloads, models) {
        if let Some(model) = models.iter().find(|x| x.name == m) {
            out.entry(w.name.as_str()).or_insert(model);
        }
    }
    out
}

/// Where a serving runtime's `provides` PromQL takes the label matchers of
/// the servers an alert rule is about.
pub const ALERT_SELECTOR: &str = "{selector}";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Model {
    pub name: String,
    pub format: String,
    pub version: String,
    pub artifact: String,
    pub checksum: Option<String>,
    pub train: Option<String>,
    pub serve: Vec<String>,
    pub alerts: Vec<Alert>,
    /// True when the model has a `monitor { }` block (its servers are
    /// scraped, even without alerts).
    pub monitored: bool,
    pub monitor_interval_secs: u64,
    /// `monitor { metrics_from = [...] }`: the workloads that export the
    /// metrics its servers' runtimes do not provide, by workload name.
    pub metrics_from: Vec<String>,
}

/// What one node of a group carries (fleets: per gateway of a site;
/// clusters: per pool, summed over its nodes).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeGroupCapacity {
    pub tier: String,
    /// `plants/plant_a` or `cloud/default`.
    pub group: String,
    pub device: String,
    pub nodes: u32,
    /// Per node for fleets; for the whole pool for clusters.
    pub per_node: bool,
    pub cpu_capacity_millis: u64,
    pub memory_capacity_bytes: u64,
    pub gpu_capacity: u32,
    pub cpu_used_millis: u64,
    pub memory_used_bytes: u64,
    pub gpu_used: u32,
    /// Shared by the sites that carry the same workloads alike.
    pub contributors: std::sync::Arc<[Contributor]>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Contributor {
    /// Shared: the same workload contributes at every site.
    pub workload: std::sync::Arc<str>,
    pub copies: u32,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
    pub gpu: u32,
}
