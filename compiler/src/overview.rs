//! What an operator sees of one evaluated solution (`iotc studio`): per
//! tier the counts that scale, capacity bars, a cost estimate of the cloud
//! tier, and the changes between two solutions in words. Pure: IR in, data
//! out; no secret value is in the IR, and none of the container's settings
//! (env, secrets, volumes) is copied here.

use crate::check::values::{format_cpu, format_memory};
use crate::ir::{Placement, Provider, Solution};
use serde::Serialize;
use std::collections::BTreeMap;

/// Hours in the average month (8,760 ÷ 12), as cloud price lists use.
pub const HOURS_PER_MONTH: u64 = 730;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Overview {
    pub clusters: Vec<ClusterView>,
    pub fleets: Vec<FleetView>,
    pub workloads: Vec<WorkloadView>,
    pub capacity: Vec<CapacityBar>,
    pub cost: CostEstimate,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClusterView {
    pub name: String,
    /// `aws eu-west-1`, `vsphere dc1`, `baremetal`.
    pub provider: String,
    pub distribution: String,
    pub nodes: u32,
    pub pools: Vec<PoolView>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PoolView {
    pub name: String,
    /// The node profile, `std.cloud.aws_m6i_xlarge`.
    pub profile: String,
    pub instance_type: Option<String>,
    pub nodes: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetView {
    pub name: String,
    pub device: String,
    pub runtime: String,
    pub gateways: u32,
    pub standby: u32,
    /// Devices registered in the IoT registry: every gateway and standby.
    pub registered: u32,
    /// Where they are registered: `AWS IoT Core` when the solution has an
    /// AWS cluster, else the Ansible inventory only.
    pub registry: String,
    pub sites: Vec<SiteView>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SiteView {
    pub name: String,
    pub region: Option<String>,
    pub gateways: u32,
    pub standby: u32,
    pub hosts: Vec<String>,
    pub standby_hosts: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WorkloadView {
    pub name: String,
    pub kind: &'static str,
    /// `cloud` or `edge`.
    pub tier: &'static str,
    /// `cloud/default` (cluster/pool) or `plants` (fleet).
    pub on: String,
    pub replicas: u32,
    /// For fleet workloads on a fleet of at most [`PER_SITE_LISTED`]
    /// sites: replicas at each site, in the fleet's site order. Larger
    /// fleets list none (the page shows the site count and `site_range`):
    /// 500 workloads × 200 sites were 300 KB of every preview that nothing
    /// showed.
    pub per_site: Vec<u32>,
    /// For fleet workloads: the fewest and the most replicas at one site
    /// (0 at a site the workload does not run on).
    pub site_range: Option<[u32; 2]>,
    pub autoscale: Option<[u32; 2]>,
}

/// The most sites a fleet may have for its workloads' per-site replicas to
/// be listed in the view (the page lists them in one line).
pub const PER_SITE_LISTED: usize = 8;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CapacityBar {
    pub tier: String,
    pub group: String,
    pub device: String,
    pub nodes: u32,
    /// Per gateway (fleets) or for the whole pool (clusters).
    pub per_node: bool,
    pub cpu_used_millis: u64,
    pub cpu_capacity_millis: u64,
    pub memory_used_bytes: u64,
    pub memory_capacity_bytes: u64,
    pub gpu_used: u32,
    pub gpu_capacity: u32,
    /// `2 / 5250m CPU`, `2240Mi / 6Gi`.
    pub cpu_text: String,
    pub memory_text: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CostEstimate {
    pub hours_per_month: u64,
    pub lines: Vec<CostLine>,
    /// Monthly total per currency, in millionths of the unit.
    pub monthly_micros: BTreeMap<String, u64>,
    /// Pools whose node profile carries no price (`cloud/gpu`).
    pub unpriced: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CostLine {
    /// `cloud/default`.
    pub group: String,
    pub instance_type: Option<String>,
    pub nodes: u32,
    pub hourly: String,
    pub currency: String,
    pub as_of: String,
    pub source: Option<String>,
    pub monthly_micros: u64,
}

/// The overview of one solution.
pub fn overview(sol: &Solution) -> Overview {
    let has_aws = sol.clusters.iter().any(|c| matches!(c.provider, Provider::Aws { .. }));
    let clusters = sol
        .clusters
        .iter()
        .map(|c| ClusterView {
            name: c.name.clone(),
            provider: match &c.provider {
                Provider::Aws { region, .. } => format!("aws {region}"),
                Provider::Vsphere { datacenter, .. } => format!("vsphere {datacenter}"),
                Provider::Baremetal { .. } => "baremetal".into(),
            },
            distribution: c.distribution.clone(),
            nodes: c.total_nodes(),
            pools: c
                .pools
                .iter()
                .map(|p| PoolView {
                    name: p.name.clone(),
                    profile: p.node.name.clone(),
                    instance_type: p.node.instance_type.clone(),
                    nodes: p.nodes,
                })
                .collect(),
        })
        .collect();
    let fleets = sol
        .fleets
        .iter()
        .map(|f| {
            let standby = f.sites.iter().map(|s| s.standby).sum::<u32>();
            FleetView {
                name: f.name.clone(),
                device: f.device.name.clone(),
                runtime: f.runtime.name.clone(),
                gateways: f.total_gateways(),
                standby,
                registered: f.total_gateways().saturating_add(standby),
                registry: if has_aws {
                    "AWS IoT Core".into()
                } else {
                    "Ansible inventory".into()
                },
                sites: f
                    .sites
                    .iter()
                    .map(|s| SiteView {
                        name: s.name.clone(),
                        region: s.region.clone(),
                        gateways: s.gateways,
                        standby: s.standby,
                        hosts: s.hosts.clone(),
                        standby_hosts: s.standby_hosts.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    // Per fleet: its site count and, when its per-site replicas are
    // listed, each site's position.
    let site_index: BTreeMap<&str, (usize, BTreeMap<&str, usize>)> = sol
        .fleets
        .iter()
        .map(|f| {
            let index = if f.sites.len() <= PER_SITE_LISTED {
                f.sites.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect()
            } else {
                BTreeMap::new()
            };
            (f.name.as_str(), (f.sites.len(), index))
        })
        .collect();
    let workloads = sol
        .workloads
        .iter()
        .map(|w| {
            let (tier, on, per_site, site_range) = match &w.placement {
                Placement::Cluster { cluster, pool, .. } => ("cloud", format!("{cluster}/{pool}"), Vec::new(), None),
                Placement::Fleet { fleet, sites } => {
                    let n = site_index.get(fleet.as_str()).map(|(n, _)| *n).unwrap_or(sites.len());
                    // A site without the workload (a `where` that excludes
                    // it) counts 0.
                    let most = sites.iter().map(|p| p.replicas).max().unwrap_or(0);
                    let fewest = if sites.len() < n {
                        0
                    } else {
                        sites.iter().map(|p| p.replicas).min().unwrap_or(0)
                    };
                    // In the fleet's site order.
                    let per_site = match site_index.get(fleet.as_str()) {
                        Some((n, _)) if *n > PER_SITE_LISTED => Vec::new(),
                        Some((n, index)) => {
                            let mut v = vec![0; *n];
                            for p in sites.iter() {
                                if let Some(slot) = index.get(&*p.site).and_then(|&i| v.get_mut(i)) {
                                    *slot = p.replicas;
                                }
                            }
                            v
                        }
                        None => sites.iter().map(|p| p.replicas).collect(),
                    };
                    ("edge", fleet.clone(), per_site, Some([fewest, most]))
                }
            };
            WorkloadView {
                name: w.name.clone(),
                kind: w.kind.as_str(),
                tier,
                on,
                replicas: w.total_replicas(),
                per_site,
                site_range,
                autoscale: w.autoscale.as_ref().map(|a| [a.min, a.max]),
            }
        })
        .collect();
    let capacity = sol
        .capacity
        .iter()
        .map(|c| CapacityBar {
            tier: c.tier.clone(),
            group: c.group.clone(),
            device: c.device.clone(),
            nodes: c.nodes,
            per_node: c.per_node,
            cpu_used_millis: c.cpu_used_millis,
            cpu_capacity_millis: c.cpu_capacity_millis,
            memory_used_bytes: c.memory_used_bytes,
            memory_capacity_bytes: c.memory_capacity_bytes,
            gpu_used: c.gpu_used,
            gpu_capacity: c.gpu_capacity,
            cpu_text: format!(
                "{} / {} CPU",
                format_cpu(c.cpu_used_millis),
                format_cpu(c.cpu_capacity_millis)
            ),
            memory_text: format!(
                "{} / {}",
                format_memory(c.memory_used_bytes),
                format_memory(c.memory_capacity_bytes)
            ),
        })
        .collect();
    Overview {
        clusters,
        fleets,
        workloads,
        capacity,
        cost: cost(sol),
    }
}

/// The cloud tier's monthly cost at list prices: nodes × hourly price ×
/// [`HOURS_PER_MONTH`], per pool. An estimate: no discounts, storage,
/// traffic, load balancers or the managed control plane.
pub fn cost(sol: &Solution) -> CostEstimate {
    let mut lines = Vec::new();
    let mut unpriced = Vec::new();
    let mut monthly_micros: BTreeMap<String, u64> = BTreeMap::new();
    for c in &sol.clusters {
        for p in &c.pools {
            let group = format!("{}/{}", c.name, p.name);
            let Some((price, hourly)) = p.node.price.as_ref().and_then(|pr| Some((pr, pr.hourly_micros()?))) else {
                unpriced.push(group);
                continue;
            };
            let monthly = hourly
                .saturating_mul(u64::from(p.nodes))
                .saturating_mul(HOURS_PER_MONTH);
            let total = monthly_micros.entry(price.currency.clone()).or_insert(0);
            *total = total.saturating_add(monthly);
            lines.push(CostLine {
                group,
                instance_type: p.node.instance_type.clone(),
                nodes: p.nodes,
                hourly: price.hourly.clone(),
                currency: price.currency.clone(),
                as_of: price.as_of.clone(),
                source: price.source.clone(),
                monthly_micros: monthly,
            });
        }
    }
    CostEstimate {
        hours_per_month: HOURS_PER_MONTH,
        lines,
        monthly_micros,
        unpriced,
    }
}

/// Which way a change goes.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

/// One difference between the saved solution and the one being edited,
/// in an operator's words: "plant_a 8 → 12 gateways".
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    /// `cloud`, `edge` or `cost`.
    pub tier: &'static str,
    /// What changed (`cloud/default`, `plant_a`, `ingest`), for grouping.
    pub subject: String,
    pub text: String,
    pub direction: Direction,
}

fn change(tier: &'static str, subject: &str, text: String, before: u64, after: u64) -> Option<Change> {
    (before != after).then(|| Change {
        tier,
        subject: subject.to_string(),
        text,
        direction: if after > before { Direction::Up } else { Direction::Down },
    })
}

/// `+1` / `-2`.
fn signed(before: u32, after: u32) -> String {
    if after >= before {
        format!("+{}", after - before)
    } else {
        format!("-{}", before - after)
    }
}

/// Every count that differs between `before` (saved) and `after`, in
/// source order: pools' nodes, sites' gateways and standby devices,
/// registered devices, workloads' replicas, the monthly cost.
pub fn changes(before: &Overview, after: &Overview) -> Vec<Change> {
    let mut out = Vec::new();
    for c in &after.clusters {
        let old = before.clusters.iter().find(|b| b.name == c.name);
        for p in &c.pools {
            let Some(op) = old.and_then(|o| o.pools.iter().find(|x| x.name == p.name)) else {
                continue;
            };
            let what = if c.distribution == "eks" { "EKS node" } else { "node" };
            let n = p.nodes.abs_diff(op.nodes);
            let text = format!(
                "{} {what}{} in {}/{} ({} → {})",
                signed(op.nodes, p.nodes),
                if n == 1 { "" } else { "s" },
                c.name,
                p.name,
                op.nodes,
                p.nodes
            );
            out.extend(change(
                "cloud",
                &format!("{}/{}", c.name, p.name),
                text,
                op.nodes.into(),
                p.nodes.into(),
            ));
        }
    }
    for f in &after.fleets {
        let Some(of) = before.fleets.iter().find(|b| b.name == f.name) else {
            continue;
        };
        let before_sites: BTreeMap<&str, &SiteView> = of.sites.iter().map(|s| (s.name.as_str(), s)).collect();
        for s in &f.sites {
            let Some(os) = before_sites.get(s.name.as_str()) else {
                continue;
            };
            out.extend(change(
                "edge",
                &s.name,
                format!("{} {} → {} gateways", s.name, os.gateways, s.gateways),
                os.gateways.into(),
                s.gateways.into(),
            ));
            out.extend(change(
                "edge",
                &s.name,
                format!("{} {} → {} standby devices", s.name, os.standby, s.standby),
                os.standby.into(),
                s.standby.into(),
            ));
        }
        out.extend(change(
            "edge",
            &f.name,
            format!(
                "{} devices to register in {} ({} → {})",
                signed(of.registered, f.registered),
                f.registry,
                of.registered,
                f.registered
            ),
            of.registered.into(),
            f.registered.into(),
        ));
    }
    let before_workloads: BTreeMap<&str, &WorkloadView> =
        before.workloads.iter().map(|w| (w.name.as_str(), w)).collect();
    for w in &after.workloads {
        let Some(ow) = before_workloads.get(w.name.as_str()) else {
            continue;
        };
        out.extend(change(
            w.tier,
            &w.name,
            format!("{} {} → {} replicas", w.name, ow.replicas, w.replicas),
            ow.replicas.into(),
            w.replicas.into(),
        ));
    }
    for (currency, after_m) in &after.cost.monthly_micros {
        let before_m = before.cost.monthly_micros.get(currency).copied().unwrap_or(0);
        out.extend(change(
            "cost",
            currency,
            format!(
                "estimated cloud cost {} → {} {currency}/month",
                money(before_m),
                money(*after_m)
            ),
            before_m,
            *after_m,
        ));
    }
    out
}

/// Millionths of a currency unit as a whole amount with thousands
/// separators, rounded to the nearest unit: `1,234`.
pub fn money(micros: u64) -> String {
    let units = micros.saturating_add(500_000) / 1_000_000;
    let digits = units.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemoryDb;
    use crate::{analyze, Overrides};

    const FACTORY: &str = include_str!("../../examples/factory/factory.iot");
    const FACTORY_CLOUD: &str = include_str!("../../examples/factory/cloud.iot");

    fn factory(factor: u32) -> Overview {
        let db = MemoryDb::new()
            .with("f/factory.iot", FACTORY)
            .with("f/cloud.iot", FACTORY_CLOUD);
        let a = analyze(
            &db,
            "f/factory.iot",
            &Overrides {
                values: None,
                sets: vec![format!("factor={factor}")],
            },
        );
        match a.solution {
            Some(s) => overview(&s),
            None => panic!("factory does not check at factor {factor}: {:?}", a.diagnostics),
        }
    }

    #[test]
    fn factory_counts_follow_the_knob() {
        let o = factory(5);
        let plants = &o.fleets[0];
        assert_eq!(plants.gateways, 35);
        assert_eq!(plants.registered, 35);
        assert_eq!(plants.registry, "AWS IoT Core");
        let a = &plants.sites[0];
        assert_eq!((a.name.as_str(), a.gateways, a.hosts.len()), ("plant-a", 20, 20));
        assert_eq!(a.hosts[19], "gw20.plant-a.acme.internal");
        let ingest = o.workloads.iter().find(|w| w.name == "ingest").map(|w| w.replicas);
        assert_eq!(ingest, Some(4));
        let collector = o
            .workloads
            .iter()
            .find(|w| w.name == "collector")
            .map(|w| w.per_site.clone());
        // plant-a 20, plant-b 10, the warehouse (no camera) none.
        assert_eq!(collector, Some(vec![20, 10, 0]));
        let range = o.workloads.iter().find(|w| w.name == "collector").map(|w| w.site_range);
        assert_eq!(range, Some(Some([0, 20])));
    }

    #[test]
    fn cost_is_nodes_times_hourly_times_hours() {
        let o = factory(20);
        // 9 × m6i.xlarge at 0.192 and 1 × g5.xlarge at 1.006, 730 h.
        let default = &o.cost.lines[0];
        assert_eq!((default.group.as_str(), default.nodes), ("cloud/default", 9));
        assert_eq!(default.monthly_micros, 9 * 192_000 * 730);
        assert_eq!(o.cost.monthly_micros["USD"], 9 * 192_000 * 730 + 1_006_000 * 730);
        assert!(o.cost.unpriced.is_empty());
        assert_eq!(money(o.cost.monthly_micros["USD"]), "1,996");
    }

    #[test]
    fn changes_read_like_an_operator_would_say_them() {
        let texts: Vec<String> = changes(&factory(2), &factory(3)).into_iter().map(|c| c.text).collect();
        assert_eq!(
            texts,
            [
                "plant-a 8 → 12 gateways",
                "plant-b 4 → 6 gateways",
                "warehouse 2 → 3 gateways",
                "+7 devices to register in AWS IoT Core (14 → 21)",
                "collector 12 → 18 replicas",
                "node-metrics 14 → 21 replicas",
                "defect-detector-serve-plants 12 → 18 replicas",
                "ingest 2 → 3 replicas",
            ]
        );
        let nodes: Vec<String> = changes(&factory(5), &factory(8)).into_iter().map(|c| c.text).collect();
        assert!(
            nodes.contains(&"+1 EKS node in cloud/default (3 → 4)".to_string()),
            "{nodes:?}"
        );
        assert!(changes(&factory(4), &factory(4)).is_empty());
    }

    #[test]
    fn money_rounds_to_whole_units_with_separators() {
        assert_eq!(money(0), "0");
        assert_eq!(money(499_999), "0");
        assert_eq!(money(500_000), "1");
        assert_eq!(money(1_234_567_000_000), "1,234,567");
    }
}
