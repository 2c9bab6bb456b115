//! Every bundled example checks clean, its plan is snapshotted, and linked
//! scaling moves every count exactly as its ratio says when a knob doubles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use iotc_compiler::ir::{Placement, Solution};
use iotc_compiler::source::FileId;
use iotc_compiler::syntax::ast::{BinOp, BlockKind, CountUnit, Expr, ExprKind, ItemKind, StmtKind};
use iotc_compiler::{analyze, Overrides};
use std::collections::BTreeMap;

fn check(path: &str, sets: &[String]) -> Solution {
    let overrides = Overrides {
        values: None,
        sets: sets.to_vec(),
    };
    let a = analyze(&iotc::FsDb, path, &overrides);
    let rendered = iotc::render::render_all(
        &a.diagnostics,
        &a.program.sources,
        iotc::render::Style {
            color: false,
            width: 100,
        },
    );
    assert!(
        a.diagnostics.is_empty(),
        "{path} {sets:?} should check clean:\n{rendered}"
    );
    a.solution.expect("a clean check yields a solution")
}

#[test]
fn every_example_checks_clean_and_its_plan_is_stable() {
    std::env::set_current_dir(common::root()).unwrap();
    let examples = common::examples();
    assert!(examples.len() >= 3, "expected the three bundled examples");
    for path in examples {
        let sol = check(&path, &[]);
        let plan = iotc_compiler::plan::render(&sol);
        let name = path.rsplit('/').next().unwrap().trim_end_matches(".iot").to_string();
        insta::with_settings!({snapshot_path => "../../snapshots/plan", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!(name.clone(), plan);
        });
        // The same input gives the same plan.
        assert_eq!(plan, iotc_compiler::plan::render(&check(&path, &[])));
    }
}

/// An independent evaluator for the count expressions the examples use,
/// in floating point, to cross-check the compiler's exact arithmetic.
struct Oracle<'a> {
    params: &'a BTreeMap<String, f64>,
    gateways: &'a BTreeMap<String, f64>,
    sites: &'a BTreeMap<String, f64>,
    /// Gateways of the site being evaluated, for fleet workloads.
    site_gateways: Option<f64>,
}

impl Oracle<'_> {
    fn eval(&self, e: &Expr) -> Option<f64> {
        Some(match &e.kind {
            ExprKind::Quantity { number, suffix } if suffix.is_empty() => number.parse().ok()?,
            ExprKind::Paren(x) => self.eval(x)?,
            ExprKind::Neg(x) => -self.eval(x)?,
            ExprKind::Path(p) => *self.params.get(&p.text())?,
            ExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (self.eval(lhs)?, self.eval(rhs)?);
                match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => a / b,
                }
            }
            ExprKind::CountRef { unit, of, .. } => self.count(*unit, Some(&of.text()))?,
            ExprKind::Per {
                amount, per, unit, of, ..
            } => {
                let a = self.eval(amount)?;
                let b = match per {
                    Some(p) => self.eval(p)?,
                    None => 1.0,
                };
                let c = self.count(*unit, of.as_ref().map(|p| p.text()).as_deref())?;
                (a * c / b - 1e-9).ceil()
            }
            ExprKind::Bounded { expr, min, max } => {
                let mut v = self.eval(expr)?;
                if let Some(m) = min {
                    v = v.max(self.eval(m)?);
                }
                if let Some(m) = max {
                    v = v.min(self.eval(m)?);
                }
                v
            }
            _ => return None,
        })
    }

    fn count(&self, unit: CountUnit, of: Option<&str>) -> Option<f64> {
        match (unit, of) {
            (CountUnit::Gateways | CountUnit::Nodes, Some(f)) => self.gateways.get(f).copied(),
            (CountUnit::Sites, Some(f)) => self.sites.get(f).copied(),
            (CountUnit::Gateways | CountUnit::Nodes, None) => self.site_gateways,
            (CountUnit::Sites, None) => Some(1.0),
            _ => None,
        }
    }
}

/// Check every count written in the example's own files against the oracle.
/// Returns how many counts were compared.
fn cross_check(path: &str, sol: &Solution) -> usize {
    let params: BTreeMap<String, f64> = sol
        .params
        .iter()
        .filter_map(|p| Some((p.name.clone(), p.value.parse().ok()?)))
        .collect();
    let mut gateways = BTreeMap::new();
    let mut sites = BTreeMap::new();
    for f in &sol.fleets {
        gateways.insert(f.name.replace('-', "_"), f64::from(f.total_gateways()));
        sites.insert(f.name.replace('-', "_"), f.sites.len() as f64);
    }
    let dir = std::path::Path::new(path).parent().unwrap();
    let mut compared = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let file = entry.unwrap().path();
        if file.extension().and_then(|e| e.to_str()) != Some("iot") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let (unit, _) = iotc_compiler::syntax::parse(FileId(0), &text);
        for item in &unit.items {
            let ItemKind::Block(b) = &item.kind else { continue };
            let oracle = Oracle {
                params: &params,
                gateways: &gateways,
                sites: &sites,
                site_gateways: None,
            };
            let k8s = b.name.name.replace('_', "-");
            for stmt in &b.body.stmts {
                match &stmt.kind {
                    StmtKind::Attr(a) if a.key.name == "nodes" && b.kind == BlockKind::Cluster => {
                        let c = sol.clusters.iter().find(|c| c.name == k8s).unwrap();
                        let want = oracle.eval(&a.value).expect("oracle understands the nodes expression");
                        assert_eq!(f64::from(c.pools[0].nodes), want, "{path}: nodes of {k8s}");
                        compared += 1;
                    }
                    StmtKind::Block(nb) if nb.kind.name == "site" && b.kind == BlockKind::Fleet => {
                        let site_name = nb.name.as_ref().unwrap().name.replace('_', "-");
                        let f = sol.fleets.iter().find(|f| f.name == k8s).unwrap();
                        let s = f.sites.iter().find(|s| s.name == site_name).unwrap();
                        for st in &nb.body.stmts {
                            if let StmtKind::Attr(a) = &st.kind {
                                if a.key.name == "gateways" {
                                    let want = oracle.eval(&a.value).expect("oracle understands gateways");
                                    assert_eq!(f64::from(s.gateways), want, "{path}: gateways of {k8s}.{site_name}");
                                    assert_eq!(s.hosts.len() as u32, s.gateways, "hosts follow the gateway count");
                                    compared += 1;
                                }
                            }
                        }
                    }
                    StmtKind::Attr(a) if a.key.name == "replicas" && b.kind == BlockKind::Service => {
                        let w = sol.workloads.iter().find(|w| w.name == k8s).unwrap();
                        compared += compare_replicas(path, &k8s, &a.value, &w.placement, sol, &oracle);
                    }
                    StmtKind::Block(nb) if nb.kind.name == "serve" && b.kind == BlockKind::Model => {
                        for st in &nb.body.stmts {
                            if let StmtKind::Attr(a) = &st.kind {
                                if a.key.name == "replicas" {
                                    let on = nb.on.as_ref().unwrap().text().replace('_', "-");
                                    let w = sol
                                        .workloads
                                        .iter()
                                        .find(|w| {
                                            w.kind == iotc_compiler::ir::WorkloadKind::Serve
                                                && w.model.as_ref().is_some_and(|m| m.model == b.name.name)
                                                && placement_target(&w.placement) == on
                                        })
                                        .unwrap();
                                    compared += compare_replicas(path, &w.name, &a.value, &w.placement, sol, &oracle);
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    compared
}

fn placement_target(p: &Placement) -> String {
    match p {
        Placement::Cluster { cluster, .. } => cluster.clone(),
        Placement::Fleet { fleet, .. } => fleet.clone(),
    }
}

fn compare_replicas(path: &str, name: &str, e: &Expr, placement: &Placement, sol: &Solution, oracle: &Oracle) -> usize {
    match placement {
        Placement::Cluster { replicas, .. } => {
            let want = oracle.eval(e).expect("oracle understands replicas");
            assert_eq!(f64::from(*replicas), want, "{path}: replicas of {name}");
            1
        }
        Placement::Fleet { fleet, sites } => {
            let f = sol.fleets.iter().find(|f| &f.name == fleet).unwrap();
            for sp in sites.iter() {
                let site = f.sites.iter().find(|s| *s.name == *sp.site).unwrap();
                let o = Oracle {
                    site_gateways: Some(f64::from(site.gateways)),
                    ..*oracle
                };
                let want = o.eval(e).expect("oracle understands replicas");
                assert_eq!(
                    f64::from(sp.replicas),
                    want,
                    "{path}: replicas of {name} at {}",
                    sp.site
                );
                assert_eq!(
                    sp.per_node,
                    sp.replicas.div_ceil(site.gateways.max(1)),
                    "{path}: copies per gateway of {name}"
                );
            }
            sites.len()
        }
    }
}

#[test]
fn doubling_a_knob_moves_every_linked_count_as_its_ratio_says() {
    std::env::set_current_dir(common::root()).unwrap();
    for path in common::examples() {
        let base = check(&path, &[]);
        let knobs: Vec<_> = base.params.iter().filter(|p| p.ty == "int").cloned().collect();
        assert!(!knobs.is_empty(), "{path} should have an int knob");
        assert!(cross_check(&path, &base) > 0, "{path}: no counts compared");
        for knob in knobs {
            let v: i64 = knob.value.parse().unwrap();
            let max: i64 = knob.max.as_deref().and_then(|m| m.parse().ok()).unwrap_or(i64::MAX);
            let doubled = (v * 2).min(max);
            if doubled == v {
                continue;
            }
            let sol = check(&path, &[format!("{}={doubled}", knob.name)]);
            let compared = cross_check(&path, &sol);
            assert!(compared > 0);
            // The knob is linked: something it drives must have moved.
            let before: u32 = base.fleets.iter().map(|f| f.total_gateways()).sum::<u32>()
                + base.workloads.iter().map(|w| w.total_replicas()).sum::<u32>();
            let after: u32 = sol.fleets.iter().map(|f| f.total_gateways()).sum::<u32>()
                + sol.workloads.iter().map(|w| w.total_replicas()).sum::<u32>();
            assert!(after > before, "{path}: doubling {} moved nothing", knob.name);
        }
    }
}
