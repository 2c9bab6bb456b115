//! Generator of the fleet workload, the program `iotc-bench` times `iotc`
//! on: S services and E sites of one fleet.
//!
//! - site `i` (from 0) has `(i mod 5) + 1` gateways;
//! - even-numbered services run on the cloud cluster with
//!   `replicas = 1 per 10 gateways of edge`;
//! - odd-numbered services run on the fleet with `replicas = 1 per gateway`
//!   (one Deployment per site);
//! - every service has an image, a port, CPU/memory requests and two
//!   environment variables.
//!
//! The requests are small on purpose: the program must check without a
//! single diagnostic at every benchmarked size, so that the benchmark times
//! the whole pipeline rather than an early exit. [`FleetWorkload`] spells
//! out the capacity arithmetic the checker does, and the tests hold it
//! against the device profiles assumed in [`ASSUMED_GATEWAY`] and
//! [`ASSUMED_NODE`].

pub mod hostile;

use std::fmt;
use std::path::{Path, PathBuf};

/// Fails with what to do when there is no `iotc` binary at `iotc`.
pub fn require_iotc(iotc: &Path) -> Result<(), String> {
    if iotc.is_file() {
        Ok(())
    } else {
        Err(format!(
            "no iotc at {}: build it first with `cargo build --release -p iotc`, or pass --iotc",
            iotc.display()
        ))
    }
}

/// A fresh folder for this run's inputs and outputs, named after `kind`
/// and the process.
pub fn scratch_dir(kind: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("{kind}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// The sizes the benchmark runs, as (services, sites).
pub const SIZES: &[(usize, usize)] = &[(10, 10), (100, 50), (1000, 200)];

/// Gateways at site `i` (counting from 0).
pub fn gateways_at(site: usize) -> usize {
    site % 5 + 1
}

/// Gateways of the whole fleet with `sites` sites.
pub fn total_gateways(sites: usize) -> usize {
    (0..sites).map(gateways_at).sum()
}

/// The fleet workload with `services` services and `sites` sites, as `.iot`
/// source text, with the default [`FleetWorkload`] settings.
pub fn fleet_workload(services: usize, sites: usize) -> String {
    FleetWorkload::new(services, sites).to_string()
}

/// Allocatable capacity of a device profile, in millicores and MiB, after
/// its `reserve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub cpu_millis: u64,
    pub memory_mib: u64,
}

/// What `std.devices.x86_gateway` lets a gateway run: 4 cores and 8 GiB
/// less a reserve of 500m and 1 GiB. A test holds this to the stdlib.
pub const ASSUMED_GATEWAY: Capacity = Capacity {
    cpu_millis: 3_500,
    memory_mib: 7 * 1024,
};

/// What `std.cloud.aws_m6i_xlarge` lets a node run: 4 vCPU and 16 GiB less
/// a reserve of 250m and 1536 MiB. A test holds this to the stdlib.
pub const ASSUMED_NODE: Capacity = Capacity {
    cpu_millis: 3_750,
    memory_mib: 16 * 1024 - 1536,
};

/// The generator's settings. Names of stdlib items and the requests are
/// parameters so that the program can follow the stdlib if its profiles
/// turn out smaller than assumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetWorkload {
    pub services: usize,
    pub sites: usize,
    /// Stdlib modules imported at the top (`std.devices`).
    pub imports: Vec<String>,
    /// Device profile of the fleet's gateways.
    pub gateway_device: String,
    /// The fleet's runtime, as written after `runtime =`.
    pub fleet_runtime: String,
    /// Device profile of one cloud node.
    pub node_device: String,
    /// The cluster has `1 per <this> gateways of edge` nodes…
    pub gateways_per_node: usize,
    /// …and at least this many.
    pub min_nodes: usize,
    /// A cloud service has `1 per <this> gateways of edge` replicas.
    pub gateways_per_cloud_replica: usize,
    /// CPU request of a cloud service replica, in millicores.
    pub cloud_cpu_millis: u64,
    /// Memory request of a cloud service replica, in MiB.
    pub cloud_memory_mib: u64,
    /// CPU request of a fleet service replica, in millicores.
    pub edge_cpu_millis: u64,
    /// Memory request of a fleet service replica, in MiB.
    pub edge_memory_mib: u64,
}

impl FleetWorkload {
    pub fn new(services: usize, sites: usize) -> FleetWorkload {
        FleetWorkload {
            services,
            sites,
            imports: vec!["std.devices".into(), "std.cloud".into()],
            gateway_device: "std.devices.x86_gateway".into(),
            fleet_runtime: "k3s".into(),
            node_device: "std.cloud.aws_m6i_xlarge".into(),
            gateways_per_node: 2,
            min_nodes: 3,
            gateways_per_cloud_replica: 10,
            cloud_cpu_millis: 10,
            cloud_memory_mib: 16,
            edge_cpu_millis: 2,
            edge_memory_mib: 4,
        }
    }

    /// Name of service `i`: `svc0000`.
    pub fn service_name(&self, i: usize) -> String {
        format!("svc{i:0width$}", width = digits(self.services))
    }

    /// Name of site `i`: `s0000`.
    pub fn site_name(&self, i: usize) -> String {
        format!("s{i:0width$}", width = digits(self.sites))
    }

    /// Services on the cloud cluster (the even-numbered ones).
    pub fn cloud_services(&self) -> usize {
        self.services.div_ceil(2)
    }

    /// Services on the fleet (the odd-numbered ones).
    pub fn edge_services(&self) -> usize {
        self.services / 2
    }

    /// Replicas of one cloud service: ceil(gateways ÷ N).
    pub fn cloud_replicas_per_service(&self) -> usize {
        total_gateways(self.sites).div_ceil(self.gateways_per_cloud_replica.max(1))
    }

    /// Nodes of the cloud cluster: ceil(gateways ÷ N), at least the minimum.
    pub fn cloud_nodes(&self) -> usize {
        total_gateways(self.sites)
            .div_ceil(self.gateways_per_node.max(1))
            .max(self.min_nodes)
    }

    /// What the cloud services ask of the whole cluster.
    pub fn cloud_demand(&self) -> Capacity {
        let replicas = (self.cloud_services() * self.cloud_replicas_per_service()) as u64;
        Capacity {
            cpu_millis: replicas * self.cloud_cpu_millis,
            memory_mib: replicas * self.cloud_memory_mib,
        }
    }

    /// What the fleet services ask of one gateway: with one replica per
    /// gateway, every fleet service puts ceil(g ÷ g) = 1 replica on each.
    pub fn gateway_demand(&self) -> Capacity {
        let replicas = self.edge_services() as u64;
        Capacity {
            cpu_millis: replicas * self.edge_cpu_millis,
            memory_mib: replicas * self.edge_memory_mib,
        }
    }

    /// Whether the workload fits gateways and nodes of the given capacity.
    pub fn fits(&self, gateway: Capacity, node: Capacity) -> bool {
        let nodes = self.cloud_nodes() as u64;
        let cloud = self.cloud_demand();
        let edge = self.gateway_demand();
        cloud.cpu_millis <= nodes * node.cpu_millis
            && cloud.memory_mib <= nodes * node.memory_mib
            && edge.cpu_millis <= gateway.cpu_millis
            && edge.memory_mib <= gateway.memory_mib
    }
}

/// Digits needed to number `count` things from 0, at least 4.
fn digits(count: usize) -> usize {
    (count.saturating_sub(1).max(1).ilog10() as usize + 1).max(4)
}

impl fmt::Display for FleetWorkload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "// Generated by iotc-bench: the fleet workload, {} services on {} sites.",
            self.services, self.sites
        )?;
        writeln!(f, "solution fleet_bench {{")?;
        writeln!(f, "  version   = \"1.0.0\"")?;
        writeln!(f, "  namespace = \"bench\"")?;
        writeln!(f, "}}")?;
        writeln!(f)?;
        for module in &self.imports {
            writeln!(f, "import {module}")?;
        }
        writeln!(f)?;
        writeln!(f, "cluster cloud {{")?;
        writeln!(f, "  provider     = aws {{ region = \"eu-west-1\" }}")?;
        writeln!(f, "  distribution = eks")?;
        writeln!(
            f,
            "  nodes        = 1 per {} gateways of edge  min {}",
            self.gateways_per_node, self.min_nodes
        )?;
        writeln!(f, "  node         = {}", self.node_device)?;
        writeln!(f, "}}")?;
        writeln!(f)?;
        writeln!(f, "fleet edge {{")?;
        writeln!(f, "  device  = {}", self.gateway_device)?;
        writeln!(f, "  runtime = {}", self.fleet_runtime)?;
        for i in 0..self.sites {
            let site = self.site_name(i);
            writeln!(
                f,
                "  site {site} {{ gateways = {}  hosts = \"gw{{n}}.{site}.bench.internal\" }}",
                gateways_at(i)
            )?;
        }
        writeln!(f, "}}")?;
        for i in 0..self.services {
            let name = self.service_name(i);
            let on_cloud = i % 2 == 0;
            writeln!(f)?;
            writeln!(f, "service {name} on {} {{", if on_cloud { "cloud" } else { "edge" })?;
            writeln!(f, "  image    = \"registry.example.com/bench/{name}:1.0.0\"")?;
            writeln!(f, "  port     = {}", 8000 + i % 1000)?;
            if on_cloud {
                writeln!(
                    f,
                    "  replicas = 1 per {} gateways of edge",
                    self.gateways_per_cloud_replica
                )?;
                writeln!(
                    f,
                    "  cpu = {}m  memory = {}Mi",
                    self.cloud_cpu_millis, self.cloud_memory_mib
                )?;
            } else {
                writeln!(f, "  replicas = 1 per gateway")?;
                writeln!(
                    f,
                    "  cpu = {}m  memory = {}Mi",
                    self.edge_cpu_millis, self.edge_memory_mib
                )?;
            }
            writeln!(f, "  env {{ REGION = \"eu\"  MODE = \"bench\" }}")?;
            writeln!(f, "}}")?;
        }
        Ok(())
    }
}

/// The fleet workload with one knob spliced in: `param scale` (1 to 8) is
/// the first site's gateway count, so the cloud's node count and every
/// linked replica count follow (`iotc-bench studio`, `tests/prepared.rs`).
pub fn knob_workload(services: usize, sites: usize) -> Result<String, String> {
    let text = fleet_workload(services, sites);
    let site = "site s0000 { gateways = 1 ";
    if !text.contains(site) {
        return Err("the generated program has no site s0000 with 1 gateway".into());
    }
    let text = text.replacen(site, "site s0000 { gateways = scale ", 1);
    let header_end = text.find("}\n").map(|i| i + 2).ok_or("no solution block")?;
    let (head, tail) = text.split_at(header_end);
    Ok(format!(
        "{head}\n/// The first site's gateways; the cloud follows.\nparam scale: int = 1 {{ min = 1  max = 8 }}\n{tail}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use iotc_compiler::source::FileId;
    use iotc_compiler::syntax::ast::{Block, BlockKind, Expr, ExprKind, ItemKind, NestedBlock, SourceUnit, StmtKind};
    use iotc_compiler::syntax::parse;

    fn parsed(services: usize, sites: usize) -> SourceUnit {
        let text = fleet_workload(services, sites);
        let (unit, diags) = parse(FileId(0), &text);
        assert!(diags.is_empty(), "unexpected diagnostics: {diags:#?}");
        unit
    }

    fn blocks(unit: &SourceUnit, kind: BlockKind) -> Vec<&Block> {
        unit.items
            .iter()
            .filter_map(|item| match &item.kind {
                ItemKind::Block(b) if b.kind == kind => Some(b),
                _ => None,
            })
            .collect()
    }

    fn attr<'a>(stmts: &'a [iotc_compiler::syntax::ast::Stmt], key: &str) -> Option<&'a Expr> {
        stmts.iter().find_map(|s| match &s.kind {
            StmtKind::Attr(a) if a.key.name == key => Some(&a.value),
            _ => None,
        })
    }

    fn sites(fleet: &Block) -> Vec<&NestedBlock> {
        fleet
            .body
            .stmts
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Block(nb) if nb.kind.name == "site" => Some(nb),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn small_workload_parses_without_diagnostics() {
        let unit = parsed(10, 10);
        assert!(unit.broken.is_empty());
        let imports = unit
            .items
            .iter()
            .filter(|i| matches!(i.kind, ItemKind::Import(_)))
            .count();
        assert_eq!(imports, 2);
        assert!(unit.items.iter().any(|i| matches!(i.kind, ItemKind::Solution(_))));
    }

    #[test]
    fn has_the_requested_services_and_sites() {
        let unit = parsed(10, 10);
        assert_eq!(blocks(&unit, BlockKind::Service).len(), 10);
        assert_eq!(blocks(&unit, BlockKind::Cluster).len(), 1);
        let fleets = blocks(&unit, BlockKind::Fleet);
        assert_eq!(fleets.len(), 1);
        let fleet = fleets.first().copied();
        assert_eq!(fleet.map(|f| sites(f).len()), Some(10));
    }

    #[test]
    fn site_i_has_i_mod_5_plus_1_gateways() {
        let unit = parsed(10, 10);
        let fleets = blocks(&unit, BlockKind::Fleet);
        let Some(fleet) = fleets.first() else {
            panic!("no fleet");
        };
        for (i, site) in sites(fleet).into_iter().enumerate() {
            let name = site.name.as_ref().map(|n| n.name.clone());
            assert_eq!(name, Some(format!("s{i:04}")));
            let gateways = attr(&site.body.stmts, "gateways").map(|e| &e.kind);
            let Some(ExprKind::Quantity { number, suffix }) = gateways else {
                panic!("site {i}: gateways is not a number: {gateways:?}");
            };
            assert!(suffix.is_empty());
            assert_eq!(number.parse::<usize>().ok(), Some(i % 5 + 1), "site {i}");
        }
    }

    #[test]
    fn even_services_on_cloud_odd_on_the_fleet() {
        let unit = parsed(10, 10);
        for (i, svc) in blocks(&unit, BlockKind::Service).into_iter().enumerate() {
            assert_eq!(svc.name.name, format!("svc{i:04}"));
            let on = svc.on.as_ref().map(|p| p.text());
            let want = if i % 2 == 0 { "cloud" } else { "edge" };
            assert_eq!(on.as_deref(), Some(want), "service {i}");
            let replicas = attr(&svc.body.stmts, "replicas").map(|e| &e.kind);
            let Some(ExprKind::Per { unit, of, .. }) = replicas else {
                panic!("service {i}: replicas is not a ratio: {replicas:?}");
            };
            assert_eq!(unit.plural(), "gateways");
            assert_eq!(of.is_some(), i % 2 == 0, "service {i}");
            for key in ["image", "port", "cpu", "memory"] {
                assert!(attr(&svc.body.stmts, key).is_some(), "service {i}: {key}");
            }
            let env = svc.body.stmts.iter().find_map(|s| match &s.kind {
                StmtKind::Block(nb) if nb.kind.name == "env" => Some(nb.body.stmts.len()),
                _ => None,
            });
            assert_eq!(env, Some(2), "service {i}");
        }
    }

    #[test]
    fn largest_size_parses_and_ports_stay_in_range() {
        let unit = parsed(1000, 200);
        assert_eq!(blocks(&unit, BlockKind::Service).len(), 1000);
        for svc in blocks(&unit, BlockKind::Service) {
            let Some(ExprKind::Quantity { number, .. }) = attr(&svc.body.stmts, "port").map(|e| &e.kind) else {
                panic!("{}: no port", svc.name.name);
            };
            let port = number.parse::<u32>().unwrap_or(0);
            assert!((1..=65535).contains(&port), "{}: port {port}", svc.name.name);
        }
    }

    #[test]
    fn gateway_counts() {
        assert_eq!(total_gateways(10), 30);
        assert_eq!(total_gateways(50), 150);
        assert_eq!(total_gateways(200), 600);
    }

    #[test]
    fn capacity_holds_at_every_size() {
        for &(services, sites) in SIZES {
            let w = FleetWorkload::new(services, sites);
            assert!(
                w.fits(ASSUMED_GATEWAY, ASSUMED_NODE),
                "{services}x{sites}: cloud {:?} on {} nodes, gateway {:?}",
                w.cloud_demand(),
                w.cloud_nodes(),
                w.gateway_demand()
            );
        }
        // At the largest size: 500 cloud services × 60 replicas × 10m = 300
        // cores on 300 nodes; 500 fleet replicas × 2m = 1 core per gateway.
        let w = FleetWorkload::new(1000, 200);
        assert_eq!(w.cloud_replicas_per_service(), 60);
        assert_eq!(w.cloud_nodes(), 300);
        assert_eq!(w.cloud_demand().cpu_millis, 300_000);
        assert_eq!(w.gateway_demand().cpu_millis, 1_000);
    }

    /// Millicores or MiB of a quantity as the stdlib writes them.
    fn amount(e: &Expr) -> Option<u64> {
        let ExprKind::Quantity { number, suffix } = &e.kind else {
            return None;
        };
        let n: u64 = number.parse().ok()?;
        Some(match suffix.as_str() {
            "" => n * 1000,
            "m" | "Mi" => n,
            "Gi" => n * 1024,
            _ => return None,
        })
    }

    /// Allocatable capacity of `device name` in a stdlib module's source.
    fn allocatable(module_source: &str, name: &str) -> Option<Capacity> {
        let (unit, diags) = parse(FileId(0), module_source);
        assert!(diags.is_empty(), "stdlib does not parse: {diags:#?}");
        let device = blocks(&unit, BlockKind::Device)
            .into_iter()
            .find(|b| b.name.name == name)?;
        let stmts = &device.body.stmts;
        let reserve = stmts.iter().find_map(|s| match &s.kind {
            StmtKind::Block(nb) if nb.kind.name == "reserve" => Some(&nb.body.stmts),
            _ => None,
        });
        let reserved = |key| reserve.and_then(|r| attr(r, key)).and_then(amount);
        Some(Capacity {
            cpu_millis: amount(attr(stmts, "cpu")?)?.saturating_sub(reserved("cpu").unwrap_or(0)),
            memory_mib: amount(attr(stmts, "memory")?)?.saturating_sub(reserved("memory").unwrap_or(0)),
        })
    }

    #[test]
    fn assumed_capacities_match_the_stdlib() {
        let devices = include_str!("../../stdlib/devices.iot");
        let cloud = include_str!("../../stdlib/cloud.iot");
        assert_eq!(allocatable(devices, "x86_gateway"), Some(ASSUMED_GATEWAY));
        assert_eq!(allocatable(cloud, "aws_m6i_xlarge"), Some(ASSUMED_NODE));
        let w = FleetWorkload::new(1, 1);
        assert_eq!(w.gateway_device, "std.devices.x86_gateway");
        assert_eq!(w.node_device, "std.cloud.aws_m6i_xlarge");
    }

    #[test]
    fn names_widen_past_four_digits() {
        let w = FleetWorkload::new(12_000, 3);
        assert_eq!(w.service_name(7), "svc00007");
        assert_eq!(w.site_name(2), "s0002");
    }
}
