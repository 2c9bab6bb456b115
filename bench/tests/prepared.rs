//! The studio's fast path on the benchmark's fleet workload (small sizes
//! of the 1000 × 200 program, with its knob): a prepared program checked
//! again with other knob values gives exactly what a full check gives,
//! in range, out of bounds, and past what a fixed cloud pool fits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use iotc_bench::knob_workload;
use iotc_compiler::source::MemoryDb;
use iotc_compiler::{analyze, prepare, Overrides};

fn compare(text: &str, values: &[&str]) -> (usize, usize) {
    let db = MemoryDb::new().with("fleet.iot", text);
    let mut prepared = prepare(&db, "fleet.iot", None, None);
    let (mut fast, mut errors) = (0, 0);
    for v in values {
        let sets = vec![format!("scale={v}")];
        let full = analyze(
            &db,
            "fleet.iot",
            &Overrides {
                values: None,
                sets: sets.clone(),
            },
        );
        let quick = prepared.check(&sets);
        assert_eq!(quick.diagnostics, full.diagnostics, "diagnostics at scale={v}");
        assert_eq!(quick.solution, full.solution, "solution at scale={v}");
        assert_eq!(quick.counts, full.counts, "count explanations at scale={v}");
        fast += usize::from(quick.counts_only);
        errors += usize::from(full.has_errors());
    }
    (fast, errors)
}

#[test]
fn the_knob_workload_gives_what_a_full_check_gives() {
    for (services, sites) in [(10, 10), (40, 20)] {
        let text = knob_workload(services, sites).unwrap();
        let values = ["1", "2", "5", "8", "3", "1", "0", "9", "x"];
        let (fast, errors) = compare(&text, &values);
        assert_eq!(fast, values.len());
        // 0 and 9 are out of bounds, `x` is no number.
        assert_eq!(errors, 3, "{services} × {sites}");
    }
}

/// With the cloud fixed at 3 nodes and the knob allowed far up, the cloud
/// services' replicas (1 per 10 gateways of the fleet) stop fitting.
#[test]
fn past_what_a_fixed_cloud_fits() {
    let text = knob_workload(40, 10).unwrap();
    let nodes = text
        .lines()
        .find(|l| l.trim_start().starts_with("nodes ") && l.contains("per 2 gateways of edge"))
        .unwrap()
        .to_string();
    let text = text
        .replace(&nodes, "  nodes = 3")
        .replace("max = 8 }", "max = 100000 }");
    let values = ["1", "100", "1000", "5000", "20000", "100000", "7"];
    let (fast, errors) = compare(&text, &values);
    assert_eq!(fast, values.len());
    assert!(errors >= 2, "the large values do not fit: {errors}");
    let db = MemoryDb::new().with("fleet.iot", &text);
    let mut prepared = prepare(&db, "fleet.iot", None, None);
    let over = prepared.check(&["scale=100000".into()]);
    assert!(
        over.diagnostics.iter().any(|d| d.code.as_str() == "E0401"),
        "{:#?}",
        over.diagnostics
    );
}
