//! The `iotc` binary: exit codes, output formats and overrides.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::process::Command;

fn iotc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_iotc"))
        .args(args)
        .current_dir(common::root())
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn temp_file(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("iotc-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().to_string()
}

#[test]
fn clean_check_exits_zero_and_errors_exit_one() {
    let (code, _, err) = iotc(&["check", "examples/factory/factory.iot"]);
    assert_eq!(code, 0, "{err}");
    let bad = temp_file(
        "bad.iot",
        "solution s { version = \"1\" }\nservice a on nowhere { image = \"x:1\" }\n",
    );
    let (code, _, err) = iotc(&["check", &bad]);
    assert_eq!(code, 1);
    assert!(err.contains("E0101"), "{err}");
    // Not a terminal: no colour escapes.
    assert!(!err.contains('\u{1b}'), "{err}");
}

#[test]
fn usage_and_io_failures_exit_two() {
    assert_eq!(iotc(&["check", "does/not/exist.iot"]).0, 2);
    assert_eq!(iotc(&["frobnicate"]).0, 2);
    assert_eq!(iotc(&["explain", "E9999"]).0, 2);
    assert_eq!(
        iotc(&["check", "examples/factory/factory.iot", "--values", "missing.toml"]).0,
        2
    );
}

#[test]
fn explain_prints_the_page() {
    let (code, out, _) = iotc(&["explain", "e0401"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("# E0401"), "{out}");
}

#[test]
fn json_diagnostics_and_plan_are_machine_readable() {
    let bad = temp_file("json.iot", "solution s { version = \"1\" }\nparam p: int = 1\n");
    let (code, out, _) = iotc(&["check", "--format", "json", &bad]);
    assert_eq!(code, 0, "warnings alone do not fail");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["diagnostics"][0]["code"], "W0102");
    assert_eq!(v["diagnostics"][0]["primary"]["line"], 2);
    let (code, out, _) = iotc(&["plan", "--format", "json", "examples/factory/factory.iot"]);
    assert_eq!(code, 0);
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["schema_version"], 1);
    assert!(
        out.trim_start().starts_with("{\n  \"schema_version\": 1,"),
        "schema_version first"
    );
    assert!(plan["workloads"].as_array().unwrap().len() > 3);
    let (code, out, _) = iotc(&["graph", "--format", "json", "examples/factory/factory.iot"]);
    assert_eq!(code, 0);
    let graph: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(graph["schema_version"], 1);
    assert!(graph["nodes"].as_array().unwrap().len() > 3);
}

#[test]
fn set_overrides_are_checked_against_bounds_and_types() {
    let (code, out, _) = iotc(&["plan", "examples/factory/factory.iot", "--set", "factor=4"]);
    assert_eq!(code, 0);
    assert!(out.contains("factor = 4 (--set)"), "{out}");
    let (code, _, err) = iotc(&["check", "examples/factory/factory.iot", "--set", "factor=99"]);
    assert_eq!(code, 1);
    assert!(err.contains("E0210") && err.contains("above its maximum"), "{err}");
    let (code, _, err) = iotc(&["check", "examples/factory/factory.iot", "--set", "factor=lots"]);
    assert_eq!(code, 1);
    assert!(err.contains("E0210"), "{err}");
    let (code, _, err) = iotc(&["check", "examples/factory/factory.iot", "--set", "facter=3"]);
    assert_eq!(code, 1);
    assert!(err.contains("did you mean `factor`"), "{err}");
}

#[test]
fn values_file_overrides_and_set_wins() {
    let values = temp_file("v.toml", "factor = 3\n");
    let (code, out, err) = iotc(&["plan", "examples/factory/factory.iot", "--values", &values]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("factor = 3 (values file)"), "{out}");
    let (_, out, _) = iotc(&[
        "plan",
        "examples/factory/factory.iot",
        "--values",
        &values,
        "--set",
        "factor=5",
    ]);
    assert!(out.contains("factor = 5 (--set)"), "{out}");
    let bad = temp_file("bad.toml", "factor = 0\n");
    let (code, _, err) = iotc(&["check", "examples/factory/factory.iot", "--values", &bad]);
    assert_eq!(code, 1);
    assert!(err.contains("E0210") && err.contains("bad.toml"), "{err}");
}
