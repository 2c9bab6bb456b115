#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The error catalogue: every diagnostic code has a failing example in
//! `examples/errors/` and an explanation page in `docs/errors/`.
//!
//! An example is `<CODE>_<description>.iot`, or a folder
//! `<CODE>_<description>/` with `main.iot` as the root and optionally
//! `main.values.toml` (param overrides, as the CLI reads them). Each one
//! must report its code; its rendered diagnostics are snapshots in
//! `snapshots/errors/`.

use iotc::render::{render_all, Style};
use iotc::FsDb;
use iotc_compiler::diag::Code;
use iotc_compiler::{analyze, Overrides};
use std::path::{Path, PathBuf};

/// The workspace root (the parent of the `cli` crate).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the cli crate lives in the workspace")
        .to_path_buf()
}

/// One example program, with paths relative to the workspace root.
struct Example {
    /// File stem or folder name: `E0401_gateway_over_capacity`.
    name: String,
    /// The root `.iot` file.
    root: String,
    /// The values file, for folders that have one.
    values: Option<String>,
}

impl Example {
    /// The code the name starts with: the part before the first `_`.
    fn code(&self) -> &str {
        self.name.split('_').next().unwrap_or("")
    }
}

/// Every example in `examples/errors/`, sorted by name.
fn examples(root: &Path) -> Vec<Example> {
    let dir = root.join("examples/errors");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("examples/errors exists") {
        let path = entry.unwrap().path();
        let file_name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            let main = format!("examples/errors/{file_name}/main.iot");
            assert!(
                root.join(&main).is_file(),
                "example folder `{file_name}` has no main.iot"
            );
            let values = format!("examples/errors/{file_name}/main.values.toml");
            out.push(Example {
                name: file_name,
                root: main,
                values: root.join(&values).is_file().then_some(values),
            });
        } else if let Some(stem) = file_name.strip_suffix(".iot") {
            out.push(Example {
                name: stem.to_string(),
                root: format!("examples/errors/{file_name}"),
                values: None,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[test]
fn every_example_reports_its_code() {
    let root = workspace_root();
    // Run from the workspace root so that file names in the rendered
    // diagnostics (`examples/errors/…`) do not depend on where cargo runs.
    std::env::set_current_dir(&root).unwrap();
    let examples = examples(&root);
    assert!(!examples.is_empty(), "no examples in examples/errors/");
    let mut problems = Vec::new();
    for ex in &examples {
        let Some(code) = Code::parse(ex.code()) else {
            problems.push(format!("{}: `{}` is not a diagnostic code", ex.name, ex.code()));
            continue;
        };
        let mut overrides = Overrides::default();
        if let Some(values) = &ex.values {
            let text = std::fs::read_to_string(values).unwrap();
            overrides.values = Some((values.clone(), text));
        }
        let analysis = analyze(&FsDb, &ex.root, &overrides);
        let reported: Vec<&str> = analysis.diagnostics.iter().map(|d| d.code.as_str()).collect();
        if !analysis.diagnostics.iter().any(|d| d.code == code) {
            problems.push(format!("{}: expected {code}, got {reported:?}", ex.name));
        }
        let rendered = render_all(
            &analysis.diagnostics,
            &analysis.program.sources,
            Style {
                color: false,
                width: 100,
            },
        );
        insta::with_settings!({
            snapshot_path => "../../snapshots/errors",
            prepend_module_to_snapshot => false,
            description => format!("iotc check {}", ex.root),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(ex.name.as_str(), rendered);
        });
    }
    assert!(
        problems.is_empty(),
        "examples that do not report their code:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_code_has_an_example() {
    let examples = examples(&workspace_root());
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !examples.iter().any(|ex| ex.code() == *c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without an example in examples/errors/: {missing:?}"
    );
}

#[test]
fn every_code_has_an_explanation_page() {
    let root = workspace_root();
    let mut problems = Vec::new();
    for code in Code::ALL {
        let path = root.join(format!("docs/errors/{code}.md"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            problems.push(format!("{code}: docs/errors/{code}.md is missing"));
            continue;
        };
        let heading = format!("# {code}: {}", code.title());
        if text.lines().next() != Some(heading.as_str()) {
            problems.push(format!("{code}: the page must start with `{heading}`"));
        }
        if text.len() <= 300 {
            problems.push(format!("{code}: the page is only {} bytes", text.len()));
        }
        // `iotc explain` prints the embedded copy; it must be this page.
        if code.explanation() != text {
            problems.push(format!("{code}: the embedded explanation is stale (rebuild)"));
        }
    }
    assert!(problems.is_empty(), "explanation pages:\n{}", problems.join("\n"));
}
