//! The studio's fast path: a program prepared once ([`prepare`]) and
//! checked again with other `--set` values ([`Prepared::check`], counts
//! onwards only) gives exactly the diagnostics, solution, count
//! explanations and sources of a full [`analyze`] with the same values, for
//! every example and error fixture and many knob values: in range, out of
//! bounds, not numbers, past what fits (capacity errors), several at once.
//! The generated fleet workload is compared the same way in
//! `bench/tests/prepared.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::{repo, Fs};
use iotc_compiler::source::{MemoryDb, SourceDb};
use iotc_compiler::syntax::ast::ItemKind;
use iotc_compiler::{analyze, prepare, Overrides};

/// Every param of the program at `root`: `(name, type)`.
fn params(db: &dyn SourceDb, root: &str) -> Vec<(String, String)> {
    let a = analyze(db, root, &Overrides::default());
    let mut out = Vec::new();
    for unit in &a.program.units {
        if !a.program.user_files.contains(&unit.file) {
            continue;
        }
        for item in &unit.items {
            if let ItemKind::Param(p) = &item.kind {
                out.push((p.name.name.clone(), p.ty.name.clone()));
            }
        }
    }
    out
}

/// Values to try for a param of type `ty`.
fn values_for(ty: &str) -> &'static [&'static str] {
    match ty {
        "int" => &[
            "0",
            "1",
            "2",
            "3",
            "4",
            "5",
            "8",
            "12",
            "20",
            "21",
            "22",
            "23",
            "40",
            "41",
            "1000",
            "999999999",
            "-1",
            "2.5",
            "abc",
            "",
        ],
        "bool" => &["true", "false", "1", "maybe"],
        "cpu" => &["100m", "2", "500m", "1Gi", "abc"],
        "memory" => &["64Mi", "2Gi", "100m", "abc"],
        "duration" => &["30s", "5m", "1h", "abc"],
        _ => &["abc", "other-value", "", "1.2.3", "x y"],
    }
}

/// Compare the prepared check with a full check for each `--set` list;
/// returns how many took the counts-only path.
fn compare(db: &dyn SourceDb, root: &str, values: Option<(String, String)>, cases: &[Vec<String>]) -> usize {
    let mut prepared = prepare(db, root, values.clone(), None);
    let mut fast = 0;
    for sets in cases {
        let full = analyze(
            db,
            root,
            &Overrides {
                values: values.clone(),
                sets: sets.clone(),
            },
        );
        let quick = prepared.check(sets);
        let what = format!("{root} with {sets:?}");
        assert_eq!(quick.diagnostics, full.diagnostics, "diagnostics of {what}");
        assert_eq!(quick.solution, full.solution, "solution of {what}");
        assert_eq!(quick.counts, full.counts, "count explanations of {what}");
        assert_eq!(
            common::sources_of(&quick.program.sources),
            common::sources_of(&full.program.sources),
            "sources of {what}"
        );
        fast += usize::from(quick.counts_only);
    }
    fast
}

/// One case per value of each param, all params at once, the same param
/// twice, a malformed and an unknown `--set`, and nothing.
fn cases(params: &[(String, String)]) -> Vec<Vec<String>> {
    let mut cases = vec![Vec::new()];
    for (name, ty) in params {
        for v in values_for(ty) {
            cases.push(vec![format!("{name}={v}")]);
        }
        cases.push(vec![format!("{name}=3"), format!("{name}=5")]);
    }
    for i in 0..4 {
        cases.push(
            params
                .iter()
                .map(|(name, ty)| format!("{name}={}", values_for(ty)[i % values_for(ty).len()]))
                .collect(),
        );
    }
    cases.push(vec!["no_such_param=3".into()]);
    cases.push(vec!["no equals sign".into()]);
    // Back to nothing after a change: nothing of the last check is left.
    cases.push(Vec::new());
    cases
}

#[test]
fn every_example_and_fixture_gives_what_a_full_check_gives() {
    let mut roots = Vec::new();
    for name in common::EXAMPLES {
        roots.push(format!("examples/{name}/{name}.iot"));
    }
    let errors = repo().join("examples/errors");
    let mut entries: Vec<_> = std::fs::read_dir(&errors).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            roots.push(format!("examples/errors/{name}/main.iot"));
        } else if name.ends_with(".iot") {
            roots.push(format!("examples/errors/{name}"));
        }
    }
    assert!(roots.len() > 50, "{roots:?}");
    std::env::set_current_dir(repo()).unwrap();
    let mut fast = 0;
    for root in &roots {
        let ps = params(&Fs, root);
        fast += compare(&Fs, root, None, &cases(&ps));
    }
    // Most cases only change counts: the fast path was taken, not only the
    // fallback.
    assert!(fast > 100, "counts-only checks: {fast}");
}

#[test]
fn a_values_file_under_the_knobs() {
    std::env::set_current_dir(repo()).unwrap();
    let root = "examples/factory/factory.iot";
    let values = Some((
        "examples/factory/factory.values.toml".to_string(),
        "factor = 4\n".to_string(),
    ));
    let ps = params(&Fs, root);
    assert_eq!(ps, [("factor".to_string(), "int".to_string())]);
    assert!(compare(&Fs, root, values, &cases(&ps)) > 10);
    // A values file that is not valid TOML, or names an unknown param.
    for text in ["factor = = 4\n", "factor = \"many\"\nlines = 3\n"] {
        let values = Some(("examples/factory/factory.values.toml".to_string(), text.to_string()));
        compare(&Fs, root, values, &cases(&ps));
    }
}

/// The factory with its cloud pool fixed at 3 nodes and its knob allowed
/// up to 40, as the browser test has it: it fits at 22, not at 23.
#[test]
fn past_what_fits_gives_the_same_capacity_errors() {
    let dir = repo().join("examples/factory");
    let cloud = std::fs::read_to_string(dir.join("cloud.iot")).unwrap();
    let factory = std::fs::read_to_string(dir.join("factory.iot")).unwrap();
    assert!(cloud.contains("nodes = 1 per 16 gateways of plants min 3"));
    assert!(factory.contains("max = 20"));
    let db = MemoryDb::new()
        .with(
            "f/cloud.iot",
            &cloud.replace("nodes = 1 per 16 gateways of plants min 3", "nodes = 3"),
        )
        .with("f/factory.iot", &factory.replace("max = 20", "max = 40"));
    let cases: Vec<Vec<String>> = (1..=41).map(|v| vec![format!("factor={v}")]).collect();
    assert_eq!(compare(&db, "f/factory.iot", None, &cases), cases.len());
    let mut prepared = prepare(&db, "f/factory.iot", None, None);
    assert!(prepared.check(&["factor=22".into()]).solution.is_some());
    let over = prepared.check(&["factor=23".into()]);
    assert!(
        over.diagnostics.iter().any(|d| d.code.as_str() == "E0401"),
        "{:?}",
        over.diagnostics
    );
}

/// A param read into a field (an image tag, a CPU request) as well as one
/// in a count: changing the first checks everything again, the second
/// only the counts; both give what a full check gives.
#[test]
fn a_knob_used_in_a_field_checks_everything_again() {
    let src = r#"solution s {
  version = "1.0.0"
}

import std.devices

param lines: int = 2 { min = 1  max = 50 }
param tag: string = "2.0.18"
param cpu_each: cpu = 100m

fleet plants {
  device = std.devices.rpi4
  runtime = k3s
  site north {
    gateways = lines
    hosts = "gw{n}.north.acme.internal"
  }
}

service broker on plants {
  image = "eclipse-mosquitto:2.0.18"
  replicas = 1 per gateway
  port = 1883
  cpu = cpu_each
  memory = 128Mi
}

service web on plants {
  image = "nginx:1.27"
  port = 80
  cpu = 100m
  memory = 64Mi
}
"#;
    let db = MemoryDb::new().with("s.iot", src);
    let ps = params(&db, "s.iot");
    assert_eq!(ps.len(), 3);
    compare(&db, "s.iot", None, &cases(&ps));
    let mut prepared = prepare(&db, "s.iot", None, None);
    assert!(prepared.check(&["lines=7".into()]).counts_only);
    assert!(
        prepared.check(&["lines=7".into(), "tag=x".into()]).counts_only,
        "tag is unused"
    );
    let cpu = prepared.check(&["cpu_each=8".into()]);
    assert!(!cpu.counts_only);
    assert!(cpu.has_errors(), "8 CPUs per broker do not fit a Raspberry Pi");
    // A value equal to the prepared one is no change.
    assert!(prepared.check(&["cpu_each=100m".into()]).counts_only);
}
