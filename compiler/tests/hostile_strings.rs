#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Every user string that becomes a path, a file name, a label value or a
//! unit name is validated or escaped for that context (issue P3, finding
//! 11), shown for every string the language takes, not for a list of known
//! fields: each string literal of each bundled example is replaced, one at a
//! time, by each hostile string below. When the checker refuses the program
//! that is a diagnostic, fine; when it accepts it, every backend must build
//! and every output must keep its shape:
//!
//! - every file path is relative, and each of its components is a plain
//!   name (`names::is_path_component`): nothing escapes the output folder;
//! - every YAML and JSON file parses, and no path in it (Ansible `dest`,
//!   `path`, `src`, a volume's `mountPath`, a Compose volume, …) climbs
//!   with a `..` component;
//! - every Kubernetes label value and selector value is a valid label value;
//! - every systemd unit file name is a plain unit name, and no unit file
//!   gains a line the backend did not write (a line break in a value).

use iotc_compiler::emit::{emit, escape, Target};
use iotc_compiler::syntax::lex::{tokens, TokenKind};
use iotc_compiler::{analyze, Overrides};
use serde_json::Value;

mod common;
use common::{db_of, documents, example_files, EXAMPLES};

/// Source literals (as written between the quotes in a `.iot` file).
const HOSTILE: &[&str] = &[
    // A path that climbs out of whatever folder it lands in.
    "../../../../etc/cron.d/x",
    // Template, shell and specifier syntax, quotes and a line break.
    "a {{ lookup('pipe','id') }} $(id) ${HOME} %n \\\"q' \\n[Service]\\nExecStartPre=/bin/sh",
    // A leading dash, spaces, a slash and a label-breaking colon.
    "-x y/z: w",
];

struct Shape {
    programs: usize,
    accepted: usize,
}

fn label_values(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if matches!(k.as_str(), "labels" | "matchLabels" | "nodeSelector") {
                    if let Value::Object(l) = x {
                        for val in l.values() {
                            if let Value::String(s) = val {
                                out.push(s.clone());
                            }
                        }
                    }
                } else if k == "selector" {
                    // A Service's selector is a plain map of labels.
                    if let Value::Object(l) = x {
                        if l.values().all(Value::is_string) {
                            out.extend(l.values().filter_map(|s| s.as_str().map(str::to_string)));
                        }
                    }
                }
                label_values(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| label_values(x, out)),
        _ => {}
    }
}

/// Keys whose string value is a file path in the Kubernetes, Compose and
/// Ansible outputs.
const PATH_KEYS: &[&str] = &[
    "dest",
    "path",
    "src",
    "mountPath",
    "subPath",
    "source",
    "target",
    "chdir",
    "creates",
    "removes",
    "file",
];

/// Every path value (under a [`PATH_KEYS`] key, or a Compose short volume
/// `src:dst[:mode]`) that climbs with a `..` component.
fn climbing_paths(v: &Value, key: Option<&str>, out: &mut Vec<String>) {
    let climbs = |p: &str| p.split('/').any(|c| c == "..");
    match v {
        Value::Object(m) => m.iter().for_each(|(k, x)| climbing_paths(x, Some(k), out)),
        Value::Array(a) => a.iter().for_each(|x| climbing_paths(x, key, out)),
        Value::String(s) => {
            let is_path = key.is_some_and(|k| PATH_KEYS.contains(&k));
            let is_volume = key == Some("volumes") && s.contains(':');
            if (is_path && climbs(s)) || (is_volume && s.split(':').any(climbs)) {
                out.push(format!("{}: {s}", key.unwrap_or_default()));
            }
        }
        _ => {}
    }
}

fn is_unit_name(s: &str) -> bool {
    let Some((stem, kind)) = s.rsplit_once('.') else {
        return false;
    };
    matches!(kind, "service" | "timer" | "socket" | "mount" | "path")
        && !stem.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.' | b'\\' | b'@' | b'-'))
}

/// The settings of a unit file the backend means to write: each line is
/// empty, a comment, a `[Section]` or `Key=value` with a known key shape.
fn unit_lines_are_settings(text: &str) -> Result<(), String> {
    for line in text.lines() {
        let ok = line.is_empty()
            || line.starts_with('#')
            || (line.starts_with('[') && line.ends_with(']'))
            || line
                .split_once('=')
                .is_some_and(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !ok {
            return Err(line.to_string());
        }
    }
    Ok(())
}

fn check_outputs(what: &str, files: &[iotc_compiler::emit::OutputFile], baseline_units: &[(String, usize)]) {
    for f in files {
        assert!(!f.path.starts_with('/'), "{what}: absolute output path {}", f.path);
        for c in f.path.split('/') {
            assert!(
                escape::is_path_component(c),
                "{what}: output path {:?} has the component {c:?}",
                f.path
            );
        }
        if f.path.ends_with(".yaml") || f.path.ends_with(".yml") {
            if !f.path.starts_with("k8s/") {
                // Ansible files carry `!unsafe` tags: a YAML value keeps
                // them; without them the document reads as JSON values.
                for d in serde_norway::Deserializer::from_str(&f.contents) {
                    <serde_norway::Value as serde::Deserialize>::deserialize(d)
                        .unwrap_or_else(|e| panic!("{what}: {} does not parse: {e}", f.path));
                }
                let untagged = f.contents.replace("!unsafe ", "");
                for d in serde_norway::Deserializer::from_str(&untagged) {
                    let v = <Value as serde::Deserialize>::deserialize(d).unwrap();
                    let mut bad = Vec::new();
                    climbing_paths(&v, None, &mut bad);
                    assert!(bad.is_empty(), "{what}: {} has paths that climb: {bad:?}", f.path);
                }
            } else {
                let docs: Vec<Value> = if f.contents.contains("\n---\n") {
                    documents(&f.contents)
                } else {
                    vec![serde_norway::from_str(&f.contents)
                        .unwrap_or_else(|e| panic!("{what}: {} does not parse: {e}", f.path))]
                };
                let mut labels = Vec::new();
                docs.iter().for_each(|d| label_values(d, &mut labels));
                let mut bad = Vec::new();
                docs.iter().for_each(|d| climbing_paths(d, None, &mut bad));
                assert!(bad.is_empty(), "{what}: {} has paths that climb: {bad:?}", f.path);
                for l in labels {
                    assert!(
                        escape::is_label_value(&l),
                        "{what}: {} has the label value {l:?}",
                        f.path
                    );
                }
            }
        } else if f.path.ends_with(".json") {
            serde_json::from_str::<Value>(&f.contents)
                .unwrap_or_else(|e| panic!("{what}: {} does not parse: {e}", f.path));
        }
        let name = f.path.rsplit('/').next().unwrap_or_default();
        if name.ends_with(".service") || name.ends_with(".timer") || name.ends_with(".service.j2") {
            let unit = name.trim_end_matches(".j2");
            assert!(is_unit_name(unit), "{what}: unit file name {unit:?}");
            if let Err(line) = unit_lines_are_settings(&f.contents) {
                panic!("{what}: {} has a line the backend did not write: {line:?}", f.path);
            }
            // The same unit from the unchanged example has as many lines:
            // a value never adds one.
            if let Some((_, n)) = baseline_units.iter().find(|(p, _)| *p == f.path) {
                assert_eq!(f.contents.lines().count(), *n, "{what}: {} gained lines", f.path);
            }
        }
    }
}

fn run_example(name: &str) -> Shape {
    let files = example_files(name);
    let root = format!("{name}/{name}.iot");
    let base = analyze(&db_of(&files), &root, &Overrides::default());
    let base_out = emit(base.solution.as_ref().expect("the example checks"), Target::ALL).unwrap();
    let baseline_units: Vec<(String, usize)> = base_out
        .iter()
        .filter(|f| f.path.ends_with(".service") || f.path.ends_with(".timer") || f.path.ends_with(".j2"))
        .map(|f| (f.path.clone(), f.contents.lines().count()))
        .collect();
    let mut shape = Shape {
        programs: 0,
        accepted: 0,
    };
    for (i, (path, text)) in files.iter().enumerate() {
        for t in tokens(text).into_iter().filter(|t| t.kind == TokenKind::String) {
            for h in HOSTILE {
                let mut changed = files.clone();
                changed[i].1 = format!("{}\"{h}\"{}", &text[..t.start], &text[t.end..]);
                let what = format!("{path}: {} → \"{h}\"", &text[t.start..t.end]);
                shape.programs += 1;
                let a = analyze(&db_of(&changed), &root, &Overrides::default());
                if a.diagnostics.iter().any(|d| d.is_error()) {
                    continue;
                }
                let sol = a.solution.unwrap_or_else(|| panic!("{what}: no error but no solution"));
                let out = emit(&sol, Target::ALL).unwrap_or_else(|e| panic!("{what}: check passed, build failed: {e}"));
                shape.accepted += 1;
                check_outputs(&what, &out, &baseline_units);
            }
        }
    }
    shape
}

#[test]
fn hostile_strings_in_every_literal_keep_every_output_in_shape() {
    let shapes: Vec<(&str, Shape)> = std::thread::scope(|s| {
        let handles: Vec<_> = EXAMPLES.iter().map(|n| (*n, s.spawn(move || run_example(n)))).collect();
        handles.into_iter().map(|(n, h)| (n, h.join().unwrap())).collect()
    });
    for (name, shape) in &shapes {
        eprintln!("{name}: {} programs, {} accepted", shape.programs, shape.accepted);
        // The test means something only if it tried many strings and the
        // checker let some of them through to the backends.
        assert!(shape.programs > 100, "{name}: only {} programs", shape.programs);
        assert!(shape.accepted > 10, "{name}: only {} accepted", shape.accepted);
    }
}
