//! The shape of every block: which fields it takes, their types, defaults
//! and documentation. One table drives the checker ("unknown field, did you
//! mean"), the language server (completion, hover) and docs/language.md.

use crate::syntax::ast::BlockKind;

/// The type a field's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// An integer expression over params and other counts; may be a ratio
    /// (`1 per 10 gateways of plants`) with `min`/`max`.
    Count,
    /// A plain whole number (may name an `int` param).
    Int,
    /// A decimal number, such as an alert threshold.
    Number,
    /// CPU: `2`, `0.5`, `500m`.
    Cpu,
    /// Memory or storage: `256Mi`, `1Gi`.
    Memory,
    /// A duration: `30s`, `5m`, `1h`, `7d`.
    Duration,
    Str,
    Bool,
    /// A container image reference: `ghcr.io/acme/ingest:2.3.1`.
    Image,
    /// A five-field cron schedule.
    Cron,
    /// A TCP/UDP port, 1–65535.
    Port,
    /// A host-name pattern with `{n}` for the gateway number.
    HostPattern,
    /// A model artifact: `s3://`, `oci://`, `https://` or `file://`.
    Artifact,
    /// `sha256:` followed by 64 hex digits.
    Checksum,
    /// An HTTP path starting with `/`.
    HttpPath,
    /// An absolute path inside a container or on a host.
    AbsPath,
    /// A DNS-1123 label.
    DnsName,
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// A list of values of one type.
    List(&'static Ty),
    /// A reference to a declared item.
    Ref(RefKind),
    /// `aws { … }`, `vsphere { … }`, `baremetal { … }`.
    Provider,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// A device profile (`device` item).
    Device,
    /// A container runtime (`runtime` item).
    Runtime,
    /// A model serving runtime (`serving` item).
    Serving,
    /// A service, daemon, job or model (for reachability).
    Workload,
}

impl Ty {
    pub fn describe(&self) -> String {
        match self {
            Ty::Count => "a count".into(),
            Ty::Int => "a whole number".into(),
            Ty::Number => "a number".into(),
            Ty::Cpu => "a CPU quantity (`500m`, `2`)".into(),
            Ty::Memory => "a memory quantity (`256Mi`, `1Gi`)".into(),
            Ty::Duration => "a duration (`30s`, `5m`, `1h`)".into(),
            Ty::Str => "a string".into(),
            Ty::Bool => "`true` or `false`".into(),
            Ty::Image => "an image reference".into(),
            Ty::Cron => "a cron schedule".into(),
            Ty::Port => "a port number".into(),
            Ty::HostPattern => "a host-name pattern".into(),
            Ty::Artifact => "an artifact URI".into(),
            Ty::Checksum => "a checksum (`sha256:…`)".into(),
            Ty::HttpPath => "an HTTP path".into(),
            Ty::AbsPath => "an absolute path".into(),
            Ty::DnsName => "a DNS-1123 name".into(),
            Ty::Enum(vs) => format!("one of {}", vs.join(", ")),
            Ty::List(t) => format!("a list of {}", t.describe()),
            Ty::Ref(RefKind::Device) => "a device profile".into(),
            Ty::Ref(RefKind::Runtime) => "a runtime".into(),
            Ty::Ref(RefKind::Serving) => "a serving runtime".into(),
            Ty::Ref(RefKind::Workload) => "a workload name".into(),
            Ty::Provider => "a provider (`aws { … }`, `vsphere { … }`, `baremetal { … }`)".into(),
        }
    }
}

pub const ARCHES: &[&str] = &["amd64", "arm64", "armv7"];
pub const FORMATS: &[&str] = &["onnx", "tflite", "savedmodel", "torchscript", "tensorrt"];
pub const DISTRIBUTIONS: &[&str] = &["eks", "kubeadm", "k3s", "microk8s"];
pub const RUNTIME_KINDS: &[&str] = &["kubernetes", "compose"];
pub const PROTOCOLS: &[&str] = &["tcp", "udp"];
/// What a port speaks, for derived endpoint URLs (`ingest.url`).
pub const SCHEMES: &[&str] = &["http", "grpc", "mqtt", "amqp", "postgres", "redis", "tcp", "udp"];
pub const POWER: &[&str] = &["mains", "battery"];
pub const SECRET_SOURCES: &[&str] = &["env", "file", "vault"];
pub const PARAM_TYPES: &[&str] = &["int", "bool", "string", "cpu", "memory", "duration"];

static ARCH: Ty = Ty::Enum(ARCHES);
static FORMAT: Ty = Ty::Enum(FORMATS);
static STR: Ty = Ty::Str;
static ABS_PATH: Ty = Ty::AbsPath;
static WORKLOAD: Ty = Ty::Ref(RefKind::Workload);

/// One field of a block.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    /// The default, as source text, shown in docs and hover.
    pub default: Option<&'static str>,
    pub doc: &'static str,
}

const fn f(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required: false,
        default: None,
        doc,
    }
}

const fn req(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required: true,
        default: None,
        doc,
    }
}

const fn def(name: &'static str, ty: Ty, default: &'static str, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        required: false,
        default: Some(default),
        doc,
    }
}

/// What a nested block's body holds.
#[derive(Debug, Clone, Copy)]
pub enum Contents {
    /// Fields from a fixed list, nested blocks and statements.
    Fields(&'static Shape),
    /// A map of free keys to string values (`env`, `labels`).
    StringMap,
}

/// A nested block allowed inside another.
#[derive(Debug, Clone, Copy)]
pub struct NestedSpec {
    pub keyword: &'static str,
    /// `site plant_a { }` has a name; `env { }` has none.
    pub named: bool,
    /// `train on cloud { }` takes a placement.
    pub placed: bool,
    /// May appear more than once (sites, volumes).
    pub repeated: bool,
    pub contents: Contents,
    pub doc: &'static str,
}

/// Which statements a body accepts besides fields and nested blocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Statements {
    pub secret: bool,
    pub device: bool,
    pub alert: bool,
}

/// The shape of a block body.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub fields: &'static [Field],
    pub blocks: &'static [NestedSpec],
    pub statements: Statements,
}

impl Shape {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn block(&self, keyword: &str) -> Option<&'static NestedSpec> {
        self.blocks.iter().find(|b| b.keyword == keyword)
    }

    /// Every name that may start a statement here, for suggestions.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.fields.iter().map(|f| f.name).collect();
        v.extend(self.blocks.iter().map(|b| b.keyword));
        if self.statements.secret {
            v.push("secret");
        }
        if self.statements.device {
            v.push("device");
        }
        if self.statements.alert {
            v.push("alert");
        }
        v
    }
}

const NONE: Statements = Statements {
    secret: false,
    device: false,
    alert: false,
};

const fn map(keyword: &'static str, doc: &'static str) -> NestedSpec {
    NestedSpec {
        keyword,
        named: false,
        placed: false,
        repeated: false,
        contents: Contents::StringMap,
        doc,
    }
}

const fn one(keyword: &'static str, shape: &'static Shape, doc: &'static str) -> NestedSpec {
    NestedSpec {
        keyword,
        named: false,
        placed: false,
        repeated: false,
        contents: Contents::Fields(shape),
        doc,
    }
}

const ENV: NestedSpec = map(
    "env",
    "Environment variables: `NAME = \"value\"`. Never secrets: use `secret`.",
);
const LABELS: NestedSpec = map(
    "labels",
    "Labels: `key = \"value\"`; keys may be quoted (`\"example.com/zone\"`).",
);

pub static SOLUTION: Shape = Shape {
    fields: &[
        req(
            "version",
            Ty::Str,
            "Version of the solution, recorded on every generated object.",
        ),
        f(
            "namespace",
            Ty::DnsName,
            "Kubernetes namespace for the workloads; defaults to the solution name.",
        ),
        f("description", Ty::Str, "What the solution is for."),
        f(
            "admin",
            Ty::List(&STR),
            "Networks the operators and Ansible connect from (IPv4 CIDRs): SSH to every host Ansible prepares is admitted from these only. Without it, from anywhere (rate limited).",
        ),
    ],
    blocks: &[
        LABELS,
        NestedSpec {
            keyword: "registry",
            named: true,
            placed: false,
            repeated: true,
            contents: Contents::Fields(&REGISTRY),
            doc: "A private container registry and its pull credential: every image from its `host` is pulled with it, on every target.",
        },
    ],
    statements: NONE,
};

/// A private registry: `registry ghcr { host = "ghcr.io"  username = "…"
/// secret password from vault "…" }`.
pub static REGISTRY: Shape = Shape {
    fields: &[
        req(
            "host",
            Ty::Str,
            "Registry host as images name it (`ghcr.io`, `registry.example.com:5000`): every image from it is pulled with this credential.",
        ),
        req("username", Ty::Str, "User name of the pull credential (not a secret)."),
    ],
    blocks: &[],
    statements: Statements {
        secret: true,
        device: false,
        alert: false,
    },
};

pub static PARAM: Shape = Shape {
    fields: &[
        f(
            "min",
            Ty::Number,
            "Smallest allowed value (checked for defaults and overrides).",
        ),
        f("max", Ty::Number, "Largest allowed value."),
        f("label", Ty::Str, "Human-readable name shown to operators."),
        f("description", Ty::Str, "What turning this knob does."),
    ],
    blocks: &[],
    statements: NONE,
};

static AWS: Shape = Shape {
    fields: &[
        req("region", Ty::Str, "AWS region, e.g. `eu-west-1`."),
        def("vpc_cidr", Ty::Str, "\"10.0.0.0/16\"", "CIDR block of the VPC."),
        def(
            "zones",
            Ty::Int,
            "2",
            "Number of availability zones to spread subnets over.",
        ),
    ],
    blocks: &[],
    statements: NONE,
};

static VSPHERE: Shape = Shape {
    fields: &[
        req("datacenter", Ty::Str, "vSphere datacenter name."),
        req("cluster", Ty::Str, "vSphere compute cluster name."),
        req("datastore", Ty::Str, "Datastore for the VM disks."),
        req("network", Ty::Str, "Port group the VMs attach to."),
        req("template", Ty::Str, "VM template to clone."),
        f("folder", Ty::Str, "VM folder."),
    ],
    blocks: &[],
    statements: NONE,
};

static BAREMETAL: Shape = Shape {
    fields: &[req(
        "hosts",
        Ty::HostPattern,
        "Host-name pattern of the machines, with `{n}` for the node number.",
    )],
    blocks: &[],
    statements: NONE,
};

/// The provider constructors accepted by `cluster.provider`.
pub static PROVIDERS: &[(&str, &Shape, &str)] = &[
    ("aws", &AWS, "Amazon Web Services: VPC, EKS or EC2, S3, IoT Core."),
    ("vsphere", &VSPHERE, "VMware vSphere/ESXi virtual machines."),
    ("baremetal", &BAREMETAL, "Existing machines, prepared by Ansible."),
];

static POOL: Shape = Shape {
    fields: &[
        req("node", Ty::Ref(RefKind::Device), "Profile of one node in this pool."),
        def("nodes", Ty::Count, "1", "Number of nodes in this pool; may be linked."),
    ],
    blocks: &[LABELS, PRICE_BLOCK],
    statements: NONE,
};

pub static CLUSTER: Shape = Shape {
    fields: &[
        req("provider", Ty::Provider, "Where the cluster runs."),
        def(
            "distribution",
            Ty::Enum(DISTRIBUTIONS),
            "k3s",
            "Kubernetes distribution.",
        ),
        def(
            "nodes",
            Ty::Count,
            "1",
            "Number of nodes; may be linked to the edge (`1 per 8 gateways of plants min 3`).",
        ),
        req(
            "node",
            Ty::Ref(RefKind::Device),
            "Profile of one node (`std.cloud.aws_m6i_large`): its capacity is checked.",
        ),
        f("version", Ty::Str, "Kubernetes version, e.g. `\"1.33\"`."),
        f(
            "domain",
            Ty::Str,
            "DNS domain of the cluster's exposed workloads: a public workload, or one called from another cluster or fleet, is reached at `<workload>.<domain>` over TLS.",
        ),
        f(
            "vip",
            Ty::Str,
            "kubeadm on vSphere or baremetal: a free IPv4 address in the nodes' network that the control plane answers on (kube-vip, ARP), so the API server outlives any one control-plane node.",
        ),
    ],
    blocks: &[
        NestedSpec {
            keyword: "pool",
            named: true,
            placed: false,
            repeated: true,
            contents: Contents::Fields(&POOL),
            doc: "An extra node group (for example GPU nodes); workloads that need a GPU land on a pool that has one.",
        },
        LABELS,
        PRICE_BLOCK,
    ],
    statements: NONE,
};

static SITE: Shape = Shape {
    fields: &[
        req("gateways", Ty::Count, "Number of gateway devices at this site."),
        req(
            "hosts",
            Ty::HostPattern,
            "Host-name pattern, `{n}` is the gateway number from 1.",
        ),
        def(
            "standby",
            Ty::Int,
            "0",
            "Idle standby devices that take over critical workloads.",
        ),
        f("region", Ty::Str, "Where the site is, for operators."),
        f(
            "hub",
            Ty::Str,
            "Docker fleets: the gateway that runs the site's services that are not on every gateway (an MQTT broker, a recorder); the other gateways reach them at its address. Defaults to the site's first gateway.",
        ),
        def(
            "offline",
            Ty::Bool,
            "false",
            "The site has no route to the internet: Ansible downloads what its gateways need on the controller and copies it over, images come from the site's `mirror`, and the gateways' OS packages must already be installed (checked, never downloaded).",
        ),
        f(
            "mirror",
            Ty::Str,
            "A registry at the site (`host` or `host:port`, HTTPS) that serves every image the site runs under its path without the registry host: `ghcr.io/acme/x:1` as `<mirror>/acme/x:1`, `nginx:1` as `<mirror>/library/nginx:1`. Required when `offline`.",
        ),
    ],
    blocks: &[LABELS],
    statements: NONE,
};

pub static FLEET: Shape = Shape {
    fields: &[
        req(
            "device",
            Ty::Ref(RefKind::Device),
            "Device profile of the gateways (`std.devices.rpi5`).",
        ),
        req(
            "runtime",
            Ty::Ref(RefKind::Runtime),
            "Container runtime: `k3s`, `microk8s` or `docker`.",
        ),
        f(
            "server",
            Ty::Str,
            "Host name of a gateway that is the first Kubernetes server of its site (every site is its own cluster); defaults to each site's first gateway.",
        ),
    ],
    blocks: &[
        NestedSpec {
            keyword: "site",
            named: true,
            placed: false,
            repeated: true,
            contents: Contents::Fields(&SITE),
            doc: "A location with its gateways.",
        },
        LABELS,
    ],
    statements: NONE,
};

static VOLUME: Shape = Shape {
    fields: &[
        req("mount", Ty::AbsPath, "Where the volume is mounted in the container."),
        f(
            "size",
            Ty::Memory,
            "Size of a persistent volume; without it, a scratch volume.",
        ),
        f(
            "host_path",
            Ty::AbsPath,
            "A directory on the host instead of a managed volume.",
        ),
        def("read_only", Ty::Bool, "false", "Mount read-only."),
    ],
    blocks: &[],
    statements: NONE,
};

static AUTOSCALE: Shape = Shape {
    fields: &[
        req("min", Ty::Count, "Fewest replicas."),
        req("max", Ty::Count, "Most replicas."),
        def("cpu_percent", Ty::Int, "75", "Target average CPU use."),
    ],
    blocks: &[],
    statements: NONE,
};

static ROLLOUT: Shape = Shape {
    fields: &[
        def(
            "max_unavailable",
            Ty::Int,
            "0",
            "Pods that may be down during an update.",
        ),
        def(
            "max_surge",
            Ty::Int,
            "1",
            "Extra pods that may be started during an update.",
        ),
    ],
    blocks: &[],
    statements: NONE,
};

const VOLUME_BLOCK: NestedSpec = NestedSpec {
    keyword: "volume",
    named: true,
    placed: false,
    repeated: true,
    contents: Contents::Fields(&VOLUME),
    doc: "A volume mounted into the container.",
};

macro_rules! container_fields {
    ($($extra:expr),* $(,)?) => {
        &[
            req("image", Ty::Image, "Container image, pinned by tag or digest."),
            f("command", Ty::List(&STR), "Entrypoint override."),
            f("args", Ty::List(&STR), "Arguments."),
            def("cpu", Ty::Cpu, "100m", "CPU request per replica (the limit is twice this)."),
            def("memory", Ty::Memory, "128Mi", "Memory request and limit per replica."),
            def("gpu", Ty::Int, "0", "GPUs per replica."),
            f("arch", Ty::List(&ARCH), "Architectures the image is built for; unset means multi-arch."),
            def("privileged", Ty::Bool, "false", "Run privileged (a warning: prefer `device`)."),
            def("user", Ty::Int, "10001", "User id the container runs as (never root)."),
            f(
                "writable",
                Ty::List(&ABS_PATH),
                "Folders the image writes outside its volumes (lock files, sockets, caches): an empty scratch folder on every start (emptyDir / tmpfs); the rest of the root file system stays read-only."
            ),
            f(
                "talks_to",
                Ty::List(&WORKLOAD),
                "Workloads and externals this one connects to (network policy, security groups)."
            ),
            $($extra),*
        ]
    };
}

pub static SERVICE: Shape = Shape {
    fields: container_fields![
        f("port", Ty::Port, "Port the service listens on."),
        def("protocol", Ty::Enum(PROTOCOLS), "tcp", "Protocol of `port`."),
        f(
            "scheme",
            Ty::Enum(SCHEMES),
            "What `port` speaks, for endpoint URLs (`name.url`); unset: `http` with `health` or `metrics`, else the protocol."
        ),
        f("health", Ty::HttpPath, "HTTP health-check path on `port`."),
        f("metrics", Ty::HttpPath, "Prometheus metrics path on `port`."),
        def("replicas", Ty::Count, "1", "Replicas; on a fleet, per site."),
        def(
            "critical",
            Ty::Bool,
            "false",
            "Keep running on a standby device if its device fails."
        ),
        def("public", Ty::Bool, "false", "Reachable from outside the solution."),
    ],
    blocks: &[
        ENV,
        LABELS,
        VOLUME_BLOCK,
        one(
            "autoscale",
            &AUTOSCALE,
            "Scale replicas on CPU use instead of a fixed count.",
        ),
        one("rollout", &ROLLOUT, "Rolling-update limits."),
    ],
    statements: Statements {
        secret: true,
        device: true,
        alert: false,
    },
};

pub static DAEMON: Shape = Shape {
    fields: container_fields![
        f("port", Ty::Port, "Port the daemon listens on."),
        def("protocol", Ty::Enum(PROTOCOLS), "tcp", "Protocol of `port`."),
        f(
            "scheme",
            Ty::Enum(SCHEMES),
            "What `port` speaks, for endpoint URLs (`name.url`); unset: `http` with `health` or `metrics`, else the protocol."
        ),
        f("health", Ty::HttpPath, "HTTP health-check path on `port`."),
        f("metrics", Ty::HttpPath, "Prometheus metrics path on `port`."),
    ],
    blocks: &[
        ENV,
        LABELS,
        VOLUME_BLOCK,
        one("rollout", &ROLLOUT, "Rolling-update limits."),
    ],
    statements: Statements {
        secret: true,
        device: true,
        alert: false,
    },
};

pub static JOB: Shape = Shape {
    fields: container_fields![
        f("schedule", Ty::Cron, "Cron schedule; without it the job runs once."),
        def("backoff", Ty::Int, "3", "Retries before the job is failed."),
        def("deadline", Ty::Duration, "1h", "Longest a run may take."),
    ],
    blocks: &[ENV, LABELS, VOLUME_BLOCK],
    statements: Statements {
        secret: true,
        device: true,
        alert: false,
    },
};

static TRAIN: Shape = Shape {
    fields: &[
        req("image", Ty::Image, "Training image."),
        f("command", Ty::List(&STR), "Entrypoint override."),
        f("args", Ty::List(&STR), "Arguments."),
        f(
            "schedule",
            Ty::Cron,
            "Retrain on this schedule; without it, train once.",
        ),
        f("data", Ty::Artifact, "Where the training data is read from."),
        def("cpu", Ty::Cpu, "1", "CPU request."),
        def("memory", Ty::Memory, "2Gi", "Memory request and limit."),
        def("gpu", Ty::Int, "0", "GPUs (`nvidia.com/gpu`)."),
        def("deadline", Ty::Duration, "6h", "Longest a training run may take."),
        def("backoff", Ty::Int, "2", "Retries."),
    ],
    blocks: &[ENV],
    statements: Statements {
        secret: true,
        device: false,
        alert: false,
    },
};

static SERVE: Shape = Shape {
    fields: &[
        req(
            "runtime",
            Ty::Ref(RefKind::Serving),
            "Serving runtime (`std.ml.onnxruntime`).",
        ),
        def(
            "replicas",
            Ty::Count,
            "1",
            "Replicas; on a fleet, per site (`1 per gateway`).",
        ),
        def("cpu", Ty::Cpu, "500m", "CPU request per replica."),
        def("memory", Ty::Memory, "512Mi", "Memory request and limit per replica."),
        def("gpu", Ty::Int, "0", "GPUs per replica."),
        f("port", Ty::Port, "Port override; defaults to the serving runtime's."),
        def("critical", Ty::Bool, "false", "Keep running on a standby device."),
    ],
    blocks: &[ENV],
    statements: Statements {
        secret: true,
        device: true,
        alert: false,
    },
};

static MONITOR: Shape = Shape {
    fields: &[
        def("interval", Ty::Duration, "30s", "How often metrics are scraped."),
        f(
            "metrics_from",
            Ty::List(&WORKLOAD),
            "Workloads that export the model's metrics on their own `metrics` path (a client's `accuracy`, `drift_score`): an alert on a metric a server's runtime does not `provide` selects their series."
        ),
    ],
    blocks: &[],
    statements: Statements {
        secret: false,
        device: false,
        alert: true,
    },
};

pub static MODEL: Shape = Shape {
    fields: &[
        req("format", Ty::Enum(FORMATS), "Model format."),
        req("version", Ty::Str, "Model version; a change rolls the servers."),
        req("artifact", Ty::Artifact, "Where the trained model is stored."),
        f(
            "checksum",
            Ty::Checksum,
            "Checksum of the artifact, verified when fetched.",
        ),
    ],
    blocks: &[
        NestedSpec {
            keyword: "train",
            named: false,
            placed: true,
            repeated: false,
            contents: Contents::Fields(&TRAIN),
            doc: "Train the model on a cluster.",
        },
        NestedSpec {
            keyword: "serve",
            named: false,
            placed: true,
            repeated: true,
            contents: Contents::Fields(&SERVE),
            doc: "Serve the model on a cluster or fleet.",
        },
        one("monitor", &MONITOR, "Alerts on the model's metrics."),
        one("rollout", &ROLLOUT, "Rolling-update limits for the servers."),
    ],
    statements: NONE,
};

static RESERVE: Shape = Shape {
    fields: &[
        def("cpu", Ty::Cpu, "0", "CPU kept for the OS and runtime."),
        def("memory", Ty::Memory, "0", "Memory kept for the OS and runtime."),
    ],
    blocks: &[],
    statements: NONE,
};

/// A dated list price for one node of a profile, read by `iotc studio`'s
/// cost estimate (never by a backend).
static PRICE: Shape = Shape {
    fields: &[
        req(
            "hourly",
            Ty::Number,
            "On-demand price of one node per hour, in `currency`.",
        ),
        def("currency", Ty::Str, "USD", "ISO 4217 currency of `hourly`."),
        req(
            "as_of",
            Ty::Str,
            "Date the price was read, `YYYY-MM-DD`: prices change.",
        ),
        f("source", Ty::Str, "Where the price was read (price list, region, OS)."),
    ],
    blocks: &[],
    statements: NONE,
};

const PRICE_BLOCK: NestedSpec = one(
    "price",
    &PRICE,
    "Dated price of one node, for cost estimates; on a cluster or pool it overrides the profile's.",
);

pub static DEVICE: Shape = Shape {
    fields: &[
        req("arch", Ty::Enum(ARCHES), "CPU architecture."),
        req("cpu", Ty::Cpu, "CPU cores."),
        req("memory", Ty::Memory, "Memory."),
        def("gpu", Ty::Int, "0", "GPUs usable by containers."),
        f(
            "accelerator",
            Ty::Str,
            "Kind of accelerator (`nvidia`, `coral`, `hailo`).",
        ),
        f("storage", Ty::Memory, "Disk size."),
        def("power", Ty::Enum(POWER), "mains", "Power supply."),
        f("instance_type", Ty::Str, "Cloud instance type this profile describes."),
        f("description", Ty::Str, "What the device is."),
    ],
    blocks: &[
        one("reserve", &RESERVE, "Capacity kept for the OS and runtime."),
        PRICE_BLOCK,
    ],
    statements: NONE,
};

pub static RUNTIME: Shape = Shape {
    fields: &[
        req(
            "kind",
            Ty::Enum(RUNTIME_KINDS),
            "What serves workloads: Kubernetes manifests or Compose.",
        ),
        def(
            "standby",
            Ty::Bool,
            "false",
            "Can fail a workload over to a standby device.",
        ),
        def("schedules", Ty::Bool, "false", "Can run jobs on a schedule natively."),
        def("autoscale", Ty::Bool, "false", "Can autoscale replicas."),
        def("daemons", Ty::Bool, "false", "Can run one copy per matching node."),
        f("version", Ty::Str, "Version installed by Ansible."),
        f("description", Ty::Str, "What the runtime is."),
    ],
    blocks: &[],
    statements: NONE,
};

pub static SERVING: Shape = Shape {
    fields: &[
        req("image", Ty::Image, "Serving image."),
        req("formats", Ty::List(&FORMAT), "Model formats it can serve."),
        req("port", Ty::Port, "Port it serves on."),
        f("health", Ty::HttpPath, "HTTP health-check path."),
        f("metrics", Ty::HttpPath, "Prometheus metrics path."),
        f(
            "metrics_port",
            Ty::Port,
            "Port `metrics` is served on when it is not `port` (Triton: 8002)."
        ),
        f("arch", Ty::List(&ARCH), "Architectures the image is built for."),
        f(
            "args",
            Ty::List(&STR),
            "Arguments; `{model}` is the model file, `{model_dir}` its folder `/models/<model>`, `{model_name}` the model's name."
        ),
        f("description", Ty::Str, "What the runtime is."),
    ],
    blocks: &[
        map(
            "files",
            "Files the image reads, by absolute path under a folder of `/etc` (`\"/etc/tfserving/monitoring.config\" = \"…\"`), mounted read-only; `args` name them.",
        ),
        map(
        "provides",
        "Metrics a model's `monitor { alert … }` can name, as PromQL over the runtime's own series: `latency_p95_ms = \"… {selector} …\"`; `{selector}` becomes the label matchers of the model's servers, `{model_name}` the model's name. Needs `metrics`.",
    ),
    ],
    statements: NONE,
};

pub static EXTERNAL: Shape = Shape {
    fields: &[
        req(
            "host",
            Ty::Str,
            "DNS name or IP address callers connect to (`plc.url`, `.host`).",
        ),
        req(
            "cidr",
            Ty::Str,
            "IPv4 addresses it answers from (`10.20.0.0/24`, `0.0.0.0/0`): network policies, security groups and firewalls allow these, never a host name.",
        ),
        req("port", Ty::Port, "Port it listens on."),
        def("protocol", Ty::Enum(PROTOCOLS), "tcp", "Protocol of `port`."),
        f(
            "scheme",
            Ty::Str,
            "URL scheme of `plc.url` (`opc.tcp`, `postgres`, `https`); unset: the protocol."
        ),
        f(
            "bucket",
            Ty::Str,
            "The S3 bucket this external is: workloads on an AWS cluster that talk to it get IAM for this bucket only (read, or read and write with `writes`)."
        ),
        def(
            "writes",
            Ty::Bool,
            "false",
            "With `bucket`: callers may also put and delete objects, not only get and list them."
        ),
        f("description", Ty::Str, "What it is."),
    ],
    blocks: &[],
    statements: NONE,
};

/// The shape of a top-level block kind.
pub fn shape(kind: BlockKind) -> &'static Shape {
    match kind {
        BlockKind::Solution => &SOLUTION,
        BlockKind::Cluster => &CLUSTER,
        BlockKind::Fleet => &FLEET,
        BlockKind::Service => &SERVICE,
        BlockKind::Daemon => &DAEMON,
        BlockKind::Job => &JOB,
        BlockKind::Model => &MODEL,
        BlockKind::Device => &DEVICE,
        BlockKind::Runtime => &RUNTIME,
        BlockKind::Serving => &SERVING,
        BlockKind::External => &EXTERNAL,
    }
}

/// Documentation of a top-level keyword, for hover and docs.
pub fn keyword_doc(keyword: &str) -> Option<&'static str> {
    Some(match keyword {
        "solution" => "The solution's name, version and namespace. One per program.",
        "import" => "`import std.devices` brings a stdlib module; `import \"./x.iot\"` merges a file.",
        "param" => "A knob: `param factor: int = 2 { min = 1 max = 20 }`, overridable by a values file or `--set`.",
        "cluster" => "The cloud/data-centre tier: a Kubernetes cluster on a provider.",
        "fleet" => "The edge tier: gateway devices at sites, served by a runtime.",
        "service" => "A long-running workload (Deployment / Compose service).",
        "daemon" => "One copy on every matching node (DaemonSet).",
        "job" => "A run-to-completion workload, once or on a `schedule` (Job / CronJob).",
        "model" => "An ML model: trained in one place, served in another, monitored.",
        "device" => "A device profile: architecture and capacity (stdlib).",
        "runtime" => "A container runtime and what it can express (stdlib).",
        "serving" => "A model-serving runtime (stdlib).",
        "external" => "A dependency outside the solution (a PLC, a database, an object store): address, port, protocol; named in `talks_to` and env values (`plc.url`).",
        "template" => "A workload that is not deployed itself; others use it with `from`.",
        "on" => "Where a workload runs: a cluster or a fleet.",
        "where" => "Selects the labelled sites or nodes a workload runs on.",
        "from" => "Takes the fields of a template; fields written here override it.",
        "per" => "`A per B gateways of F` is ceil(A × gateways ÷ B).",
        "secret" => "`secret NAME from env|file|vault \"ref\"`: a reference, never a value.",
        "alert" => "`alert metric < threshold for 1h`: a Prometheus alert.",
        _ => return None,
    })
}
