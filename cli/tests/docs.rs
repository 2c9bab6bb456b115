//! The README and docs are true: the README's sample is a clean, formatted
//! program, and every command and every flag `--help` shows is documented
//! in docs/cli.md, the README's command table and docs/language.md's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::process::Command;

fn iotc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_iotc"))
        .args(args)
        .current_dir(common::root())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn read(path: &str) -> String {
    std::fs::read_to_string(common::root().join(path)).unwrap()
}

/// The subcommands `iotc --help` lists.
fn commands() -> Vec<String> {
    let (_, help, _) = iotc(&["--help"]);
    let list = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap();
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// The long flags `iotc CMD --help` lists.
fn flags(cmd: &str) -> Vec<String> {
    let (_, help, _) = iotc(&[cmd, "--help"]);
    let mut out: Vec<String> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()).to_string())
        .filter(|w| w != "--help" && !w.contains('='))
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn the_readme_sample_checks_clean_and_is_formatted() {
    let readme = read("README.md");
    let sample = readme.split("```iot\n").nth(1).unwrap().split("```").next().unwrap();
    let dir = std::env::temp_dir().join(format!("iotc-docs-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("demo.iot");
    std::fs::write(&file, sample).unwrap();
    let f = file.to_str().unwrap();
    let (code, _, err) = iotc(&["check", "--deny-warnings", f]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(iotc(&["fmt", "--check", f]).0, 0, "the sample is in canonical style");
    // It is what `iotc init` writes.
    let (code, _, err) = iotc(&["init", dir.join("demo").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(dir.join("demo/demo.iot")).unwrap(), sample);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_command_and_flag_is_documented() {
    let cli_md = read("docs/cli.md");
    let readme = read("README.md");
    let language = read("docs/language.md");
    let commands = commands();
    assert!(commands.len() >= 11, "{commands:?}");
    for cmd in &commands {
        assert!(
            cli_md.contains(&format!("### `iotc {cmd}")),
            "docs/cli.md has no section for `iotc {cmd}`"
        );
        assert!(
            readme.contains(&format!("| `iotc {cmd}")),
            "README's table has no `iotc {cmd}`"
        );
        assert!(
            language.contains(&format!("| `iotc {cmd}")),
            "docs/language.md's table has no `iotc {cmd}`"
        );
        for flag in flags(cmd) {
            assert!(
                cli_md.contains(&format!("`{flag}")),
                "docs/cli.md does not document `iotc {cmd} {flag}`"
            );
        }
    }
}

#[test]
fn every_crate_declares_the_rust_version() {
    let workspace = read("Cargo.toml");
    let declared = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    for krate in ["compiler", "cli", "lsp", "bench"] {
        let toml = read(&format!("{krate}/Cargo.toml"));
        assert!(toml.contains("rust-version.workspace = true"), "{krate}");
    }
    assert!(
        read("README.md").contains(&format!("Needs Rust {declared} or newer")),
        "the README names the declared version"
    );
    assert!(read(".ci/run").contains("rust-version"), "CI checks it");
}

/// Every crate in the repository takes the workspace's lints (the deny of
/// unwrap/expect/indexing/panic), and the fuzz crate, which has its own
/// workspace, states the same table.
#[test]
fn every_crate_takes_the_workspace_lints() {
    fn manifests(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                if !["target", "node_modules", ".git"].contains(&name.as_str()) && !name.starts_with('.') {
                    manifests(&p, out);
                }
            } else if name == "Cargo.toml" && p.parent() != Some(common::root().as_path()) {
                out.push(p);
            }
        }
    }
    fn table(toml: &str, header: &str) -> Vec<String> {
        toml.lines()
            .skip_while(|l| l.trim() != header)
            .skip(1)
            .take_while(|l| !l.trim_start().starts_with('['))
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    }
    let workspace = table(&read("Cargo.toml"), "[workspace.lints.clippy]");
    assert!(workspace.len() >= 4, "{workspace:?}");
    let mut found = Vec::new();
    manifests(&common::root(), &mut found);
    assert!(found.len() >= 6, "crates found: {found:?}");
    for path in found {
        let toml = std::fs::read_to_string(&path).unwrap();
        if toml.contains("\n[workspace]") {
            assert_eq!(table(&toml, "[lints.clippy]"), workspace, "{}", path.display());
        } else {
            assert_eq!(table(&toml, "[lints]"), ["workspace = true"], "{}", path.display());
        }
    }
}

/// Every diagnostic code is in docs/language.md's appendix, with its title,
/// and every warning in its list of warnings.
#[test]
fn every_code_is_in_the_language_appendix() {
    let doc = read("docs/language.md");
    let appendix = &doc[doc.find("## Appendix: diagnostic codes").unwrap()..];
    let warnings = &doc[doc.find("### Warnings").unwrap()..];
    let warnings = &warnings[..warnings.find("Warnings do not make").unwrap()];
    let warnings = warnings.split_whitespace().collect::<Vec<_>>().join(" ");
    for code in iotc_compiler::diag::Code::ALL {
        let row = format!("| {code} | {} |", code.title());
        assert!(appendix.contains(&row), "docs/language.md appendix: no `{row}`");
        if code.as_str().starts_with('W') {
            assert!(
                warnings.contains(&format!("{code} ")),
                "docs/language.md Warnings: no {code}"
            );
        }
    }
}

/// The language page's first sample (a whole solution, followed by what
/// `iotc plan` prints for it) checks without errors; its one warning is
/// W0406, which the page explains in the model section.
#[test]
fn the_language_page_sample_checks() {
    let doc = read("docs/language.md");
    let sample = doc.split("```iot\n").nth(1).unwrap().split("```").next().unwrap();
    let dir = std::env::temp_dir().join(format!("iotc-docs-language-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("factory.iot");
    std::fs::write(&file, sample).unwrap();
    let (code, _, err) = iotc(&["check", "--color", "never", file.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("W0406") && err.contains("0 error(s), 1 warning(s)"),
        "{err}"
    );
}
