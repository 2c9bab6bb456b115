//! Hostile and odd input through the real binary (issue 12): every case in
//! `hostile_inputs` is checked and formatted in a child process, so a stack
//! overflow or an abort fails the test instead of killing the harness.
//! Time budgets are measured by the benchmark (`bench/README.md`), not here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;
#[path = "../../bench/src/hostile.rs"]
mod hostile_inputs;

use hostile_inputs::{cases, Expect};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iotc-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn iotc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iotc"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Exit code of a process that must have ended by itself (no signal) and
/// without a panic (101).
fn exit_code(what: &str, out: &Output) -> i32 {
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("{what}: killed by a signal ({})", out.status));
    assert_ne!(code, 101, "{what}: panicked\n{}", String::from_utf8_lossy(&out.stderr));
    code
}

#[test]
fn every_hostile_input_gets_an_answer_not_a_crash() {
    for case in cases() {
        let dir = temp_dir(case.name);
        std::fs::write(dir.join("main.iot"), &case.text).unwrap();
        let what = format!("{}: iotc check", case.name);
        let json = iotc(&dir, &["check", "--format", "json", "main.iot"]);
        let code = exit_code(&what, &json);
        let report: serde_json::Value = serde_json::from_slice(&json.stdout)
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", String::from_utf8_lossy(&json.stdout)));
        let codes: Vec<&str> = report["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["severity"] == "error")
            .map(|d| d["code"].as_str().unwrap())
            .collect();
        match case.expect {
            Expect::Clean => assert!(code == 0 && codes.is_empty(), "{what}: {codes:?}"),
            Expect::Code(c) => assert!(code == 1 && codes.contains(&c), "{what}: expected {c}, got {codes:?}"),
        }
        // The same, rendered for people: never more than a window of each line.
        if case.expect != Expect::Clean {
            let text = iotc(&dir, &["check", "--color", "never", "main.iot"]);
            exit_code(&what, &text);
            assert!(
                text.stderr.len() < 64 * 1024,
                "{what}: {} bytes of diagnostics",
                text.stderr.len()
            );
        }
        // The formatter: formats, or refuses with diagnostics; never crashes.
        let fmt = iotc(&dir, &["fmt", "--check", "main.iot"]);
        let fmt_code = exit_code(&format!("{}: iotc fmt --check", case.name), &fmt);
        assert!(matches!(fmt_code, 0..=2), "{}: fmt exit {fmt_code}", case.name);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The reproducers at the sizes the issue reported are kept as files for
/// fuzzing corpora; they must stay what the generators make. Run with
/// `IOTC_WRITE_HOSTILE=1` to write them again.
#[test]
fn kept_reproducers_match_their_generators() {
    let dir = common::root().join("compiler/tests/data/hostile");
    let write = std::env::var_os("IOTC_WRITE_HOSTILE").is_some();
    for case in cases().into_iter().filter(|c| c.kept) {
        let path = dir.join(format!("{}.iot", case.name));
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &case.text).unwrap();
        }
        let kept = std::fs::read(&path).unwrap_or_else(|_| panic!("{} is missing", path.display()));
        assert!(
            kept == case.text.as_bytes(),
            "{} differs from its generator",
            path.display()
        );
    }
}

#[test]
fn a_directory_or_non_utf8_file_is_a_usage_error() {
    let dir = temp_dir("inputs");
    std::fs::create_dir_all(dir.join("project")).unwrap();
    std::fs::write(dir.join("latin1.iot"), b"solution caf\xe9 { version = \"1.0.0\" }\n").unwrap();
    for (args, says) in [
        (vec!["check", "project"], "is a directory"),
        (vec!["build", "project"], "is a directory"),
        (vec!["check", "latin1.iot"], "not utf-8"),
        (vec!["fmt", "latin1.iot"], "not utf-8"),
        (vec!["fmt", "project"], "is a directory"),
    ] {
        let out = iotc(&dir, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        let lower = stderr.to_lowercase();
        assert!(lower.contains(says) && !stderr.contains("E0106"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_byte_order_mark_inside_a_line_does_not_move_the_caret() {
    let dir = temp_dir("bom");
    std::fs::write(dir.join("main.iot"), hostile_inputs::bom_mid_file()).unwrap();
    let out = iotc(&dir, &["check", "--color", "never", "main.iot"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("│") && l.contains("memroy"))
        .unwrap();
    let caret = lines[at + 1];
    let column = |s: &str, pat: &[char]| s.chars().position(|c| pat.contains(&c)).unwrap();
    assert_eq!(
        column(caret, &['─', '┬']),
        column(lines[at], &['m']),
        "caret under the field:\n{stderr}"
    );
}

#[test]
fn a_long_line_is_shown_as_a_window_with_its_real_column() {
    let dir = temp_dir("window");
    std::fs::write(dir.join("main.iot"), hostile_inputs::far_column(70_000)).unwrap();
    let out = iotc(&dir, &["check", "--color", "never", "main.iot"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The header names the field's real line and column.
    let line = 7;
    let column = hostile_inputs::far_column(70_000)
        .lines()
        .nth(line - 1)
        .unwrap()
        .find("memroy")
        .unwrap()
        + 1;
    assert!(stderr.contains(&format!("main.iot:{line}:{column}]")), "{stderr}");
    assert!(stderr.lines().all(|l| l.chars().count() < 300), "{stderr}");
    assert!(stderr.contains("…"), "{stderr}");
}

#[test]
fn the_formatter_refuses_what_it_cannot_print_back() {
    let dir = temp_dir("fmt");
    std::fs::write(dir.join("main.iot"), "fleet f{solution x{}}\n").unwrap();
    let out = iotc(&dir, &["fmt", "--check", "main.iot"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("E0110"));
    let out = iotc(&dir, &["fmt", "main.iot"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(dir.join("main.iot")).unwrap(),
        "fleet f{solution x{}}\n"
    );
}
