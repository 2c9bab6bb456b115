//! The command-line conventions users expect: several files and stdin for
//! `check`, `--quiet`, `--deny-warnings`, versioned JSON with character
//! columns and fix-its, SARIF, a quiet broken pipe, `explain --list`,
//! `fmt --diff`, `init`, completions, the man page, `lsp --stdio`, and the
//! documented exit codes (0 fine, 1 problems in the input, 2 usage or IO).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn iotc_in(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_iotc"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn iotc(args: &[&str]) -> (i32, String, String) {
    iotc_in(&common::root(), args, None)
}

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("iotc-conventions-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

const CLEAN: &str = "examples/city/city.iot";
const ERROR: &str = "examples/errors/E0105_misspelled_field.iot";
const WARNING: &str = "examples/errors/W0102_unused_param.iot";

#[test]
fn check_takes_several_files_and_the_worst_exit_code_wins() {
    assert_eq!(iotc(&["check", CLEAN, "examples/energy/energy.iot"]).0, 0);
    let (code, _, err) = iotc(&["check", CLEAN, ERROR]);
    assert_eq!(code, 1);
    assert!(err.contains("E0105"), "{err}");
    let (code, _, err) = iotc(&["check", ERROR, "missing.iot"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("E0105") && err.contains("cannot read `missing.iot`"),
        "{err}"
    );
}

#[test]
fn a_directory_or_a_file_that_is_not_utf8_is_a_usage_error() {
    let dir = scratch("input");
    std::fs::write(dir.join("binary.iot"), b"\xff\xfe solution").unwrap();
    for cmd in ["check", "plan", "build", "diff", "graph"] {
        let (code, _, err) = iotc_in(&dir, &[cmd, "."], None);
        assert_eq!(code, 2, "{cmd} .: {err}");
        assert!(err.contains("cannot read `.`"), "{err}");
        let (code, _, err) = iotc_in(&dir, &[cmd, "binary.iot"], None);
        assert_eq!(code, 2, "{cmd}: {err}");
        assert!(err.contains("not UTF-8"), "{err}");
    }
}

#[test]
fn dash_reads_the_solution_from_stdin() {
    let text = std::fs::read_to_string(common::root().join(CLEAN)).unwrap();
    let (code, out, err) = iotc_in(&common::root(), &["plan", "-"], Some(&text));
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("solution "), "{out}");
    let bad = std::fs::read_to_string(common::root().join(ERROR)).unwrap();
    let (code, out, _) = iotc_in(&common::root(), &["check", "--format", "json", "-"], Some(&bad));
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["diagnostics"][0]["primary"]["file"], "-");
    // Imports resolve from the current folder.
    let factory = std::fs::read_to_string(common::root().join("examples/factory/factory.iot")).unwrap();
    let (code, _, err) = iotc_in(
        &common::root().join("examples/factory"),
        &["check", "-"],
        Some(&factory),
    );
    assert_eq!(code, 0, "{err}");
    // Formatting stdin prints to stdout.
    let (code, out, _) = iotc_in(
        &common::root(),
        &["fmt", "-"],
        Some("solution  s {\nversion = \"1\"\n}\n"),
    );
    assert_eq!((code, out.as_str()), (0, "solution s {\n  version = \"1\"\n}\n"));
}

#[test]
fn quiet_hides_warnings_and_deny_warnings_fails_on_them() {
    let (code, _, err) = iotc(&["check", WARNING]);
    assert_eq!(code, 0);
    assert!(err.contains("W0102"), "{err}");
    let (code, out, err) = iotc(&["check", "--quiet", WARNING]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    let (code, _, err) = iotc(&["check", "--deny-warnings", WARNING]);
    assert_eq!(code, 1);
    assert!(err.contains("W0102"), "{err}");
    let (code, _, err) = iotc(&["check", "-q", "--deny-warnings", WARNING]);
    assert_eq!(code, 1);
    assert!(err.contains("W0102"), "shown, since it fails the check: {err}");
}

#[test]
fn json_has_a_schema_version_character_columns_and_fixes() {
    let dir = scratch("json");
    // `é` is two bytes: the column counts characters.
    std::fs::write(
        dir.join("main.iot"),
        "solution s { version = \"1\" }\nimport std.devices\nfleet f { device = std.devices.rpi4 runtime = k3s site a { gateways = 1 } }\nservice b on f { image = \"é:1\" memroy = 1Mi }\n",
    )
    .unwrap();
    let (code, out, _) = iotc_in(&dir, &["check", "--format", "json", "main.iot"], None);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema_version"], 1);
    let errors = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .count();
    assert_eq!(v["errors"], errors);
    let d = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "E0105")
        .unwrap();
    let line = "service b on f { image = \"é:1\" memroy = 1Mi }";
    let chars_before = line[..line.find("memroy").unwrap()].chars().count();
    assert_eq!(d["primary"]["line"], 4);
    assert_eq!(d["primary"]["column"], chars_before + 1);
    assert_eq!(d["primary"]["end_column"], chars_before + 1 + "memroy".len());
    let fix = &d["fixes"][0];
    assert_eq!(fix["replacement"], "memory");
    assert_eq!(fix["range"]["column"], chars_before + 1);
    // The fix's byte range is the misspelling.
    let text = std::fs::read_to_string(dir.join("main.iot")).unwrap();
    let (s, e) = (
        fix["range"]["start"].as_u64().unwrap() as usize,
        fix["range"]["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&text[s..e], "memroy");
}

#[test]
fn sarif_for_code_scanning() {
    let (code, out, _) = iotc(&["check", "--format", "sarif", ERROR, WARNING]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "iotc");
    let results = run["results"].as_array().unwrap();
    let levels: Vec<(&str, &str)> = results
        .iter()
        .map(|r| (r["ruleId"].as_str().unwrap(), r["level"].as_str().unwrap()))
        .collect();
    assert_eq!(levels, [("E0105", "error"), ("W0102", "warning")]);
    let loc = &results[0]["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], ERROR);
    assert!(loc["region"]["startLine"].as_u64().unwrap() > 0);
    assert_eq!(
        results[0]["fixes"][0]["artifactChanges"][0]["replacements"][0]["insertedContent"]["text"],
        "memory"
    );
}

#[test]
fn a_closed_pipe_is_quiet() {
    for args in [
        &["graph", "examples/factory/factory.iot"][..],
        &["explain", "--list"],
        &["plan", "examples/factory/factory.iot"],
        &["diff", "examples/factory/factory.iot", "-o", "does-not-exist"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_iotc"))
            .args(args)
            .current_dir(common::root())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before the command has printed anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

#[test]
fn explain_lists_every_code() {
    let (code, out, _) = iotc(&["explain", "--list"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), iotc_compiler::diag::Code::ALL.len());
    assert!(out.lines().any(|l| l.starts_with("E0401  ")), "{out}");
    assert_eq!(iotc(&["explain"]).0, 2);
    assert_eq!(iotc(&["explain", "E9999"]).0, 2);
    // The same as JSON, versioned; one code with its page.
    let (code, out, _) = iotc(&["explain", "--list", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema_version"], 1);
    let codes = v["codes"].as_array().unwrap();
    assert_eq!(codes.len(), iotc_compiler::diag::Code::ALL.len());
    assert!(
        codes.iter().any(|c| c["code"] == "W0101" && c["severity"] == "warning"),
        "{out}"
    );
    let (code, out, _) = iotc(&["explain", "e0401", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["code"].as_str(), v["severity"].as_str()),
        (Some("E0401"), Some("error"))
    );
    assert_eq!(v["page"].as_str(), Some(iotc_compiler::diag::Code::E0401.explanation()));
}

#[test]
fn fmt_diff_shows_what_would_change() {
    let dir = scratch("fmt");
    std::fs::write(dir.join("a.iot"), "solution  s {\nversion = \"1\"\n}\n").unwrap();
    let (code, out, _) = iotc_in(&dir, &["fmt", "--diff", "a.iot"], None);
    assert_eq!(code, 1);
    assert_eq!(
        out,
        "--- a.iot\n+++ a.iot\n@@ -1,3 +1,3 @@\n-solution  s {\n-version = \"1\"\n+solution s {\n+  version = \"1\"\n }\n"
    );
    // Nothing was written.
    assert!(std::fs::read_to_string(dir.join("a.iot"))
        .unwrap()
        .starts_with("solution  s"));
    assert_eq!(iotc_in(&dir, &["fmt", "a.iot"], None).0, 0);
    assert_eq!(
        iotc_in(&dir, &["fmt", "--diff", "a.iot"], None),
        (0, String::new(), String::new())
    );
}

#[test]
fn init_scaffolds_a_project_that_checks_and_builds() {
    let dir = scratch("init").join("Line 4");
    let d = dir.to_str().unwrap();
    let (code, _, err) = iotc(&["init", d]);
    assert_eq!(code, 0, "{err}");
    let source = dir.join("line_4.iot");
    assert!(source.exists() && dir.join(".gitignore").exists(), "{err}");
    assert_eq!(iotc_in(&dir, &["check", "--deny-warnings", "line_4.iot"], None).0, 0);
    assert_eq!(iotc_in(&dir, &["fmt", "--check", "line_4.iot"], None).0, 0);
    let (code, _, err) = iotc_in(&dir, &["build", "line_4.iot", "-o", "out"], None);
    assert_eq!(code, 0, "{err}");
    assert!(dir.join("out/k8s/cloud/kustomization.yaml").exists());
    // Never overwrites.
    let (code, _, err) = iotc(&["init", d]);
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn completions_man_page_and_lsp_stdio() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, _) = iotc(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        assert!(out.contains("diff") && out.contains("graph"), "{shell}");
    }
    let (code, out, _) = iotc(&["man"]);
    assert_eq!(code, 0);
    assert!(out.contains(".TH iotc 1"), "{out}");
    // `--stdio` is accepted (the server then stops: stdin is closed at once).
    let (_, _, err) = iotc(&["lsp", "--stdio"]);
    assert!(!err.contains("unexpected argument"), "{err}");
}
