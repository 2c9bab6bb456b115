//! `iotc diff`, `iotc build --check` and the summary `iotc build` prints:
//! snapshots of what a build would change in each example's output after a
//! knob change, a hand edit and a removed workload; the JSON document; exit
//! codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh folder, deleted when dropped; commands run inside it with `-o out`.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("iotc-diff-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
    fn iotc(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_iotc"))
            .args(args)
            .current_dir(&self.0)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Per example: the knob to turn and the workload to remove.
const CASES: &[(&str, &str, &str)] = &[
    ("city", "cameras_per_district=5", "job clip_upload "),
    ("energy", "turbines=5", "job upload "),
    ("factory", "factor=5", "job upload "),
];

/// Copy an example's folder into the scratch folder.
fn copy_example(name: &str, to: &Path) {
    let from = common::root().join("examples").join(name);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(&from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Remove the item that starts with `start` (and its doc comment) up to the
/// closing `}` at the start of a line.
fn remove_item(text: &str, start: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.iter().position(|l| l.starts_with(start)).expect(start);
    let last = first + lines[first..].iter().position(|l| *l == "}").unwrap();
    let mut begin = first;
    while begin > 0 && lines[begin - 1].starts_with("///") {
        begin -= 1;
    }
    let mut kept: Vec<&str> = lines[..begin].to_vec();
    kept.extend(&lines[last + 1..]);
    kept.join("\n") + "\n"
}

/// The first workload file under `out/k8s/`, sorted.
fn first_workload_file(out: &Path) -> PathBuf {
    let mut files = Vec::new();
    for group in std::fs::read_dir(out.join("k8s")).unwrap() {
        for f in std::fs::read_dir(group.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            if p.file_name().unwrap().to_string_lossy().starts_with("10-") {
                files.push(p);
            }
        }
    }
    files.sort();
    files.into_iter().next().unwrap()
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({snapshot_path => "../../snapshots/diff", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name.to_string(), text);
    });
}

#[test]
fn diff_after_a_knob_change_a_hand_edit_and_a_removed_workload() {
    for (name, knob, workload) in CASES {
        let s = Scratch::new(name);
        copy_example(name, &s.path("src"));
        let file = format!("src/{name}.iot");
        let (code, _, err) = s.iotc(&["build", &file, "-o", "out"]);
        assert_eq!(code, 0, "{err}");

        // Up to date: nothing to show, exit 0 even with --exit-code.
        let (code, stdout, err) = s.iotc(&["diff", &file, "-o", "out", "--exit-code"]);
        assert_eq!(
            (code, stdout.as_str()),
            (0, "No changes: `out` is up to date.\n"),
            "{err}"
        );
        let (code, _, _) = s.iotc(&["build", &file, "-o", "out", "--check"]);
        assert_eq!(code, 0);

        // A knob change.
        let (code, knob_diff, err) = s.iotc(&["diff", &file, "-o", "out", "--set", knob, "--exit-code"]);
        assert_eq!(code, 1, "{err}");
        snapshot(&format!("{name}_knob"), &knob_diff);
        // Without --exit-code a diff is a success.
        let (code, _, _) = s.iotc(&["diff", &file, "-o", "out", "--set", knob]);
        assert_eq!(code, 0);
        let (code, stdout, stderr) = s.iotc(&["build", &file, "-o", "out", "--set", knob, "--check"]);
        assert_eq!(code, 1);
        assert_eq!(stdout, knob_diff.lines().last().unwrap().to_string() + "\n");
        assert!(stderr.contains("is not up to date"), "{stderr}");

        // A hand edit: shown as an object change and as a hand edit in the way.
        let edited = first_workload_file(&s.path("out"));
        let text = std::fs::read_to_string(&edited).unwrap();
        assert!(text.contains("app.kubernetes.io/managed-by: iotc"));
        std::fs::write(&edited, text.replacen("managed-by: iotc", "managed-by: kubectl", 1)).unwrap();
        let (code, hand_diff, err) = s.iotc(&["diff", &file, "-o", "out", "--exit-code"]);
        assert_eq!(code, 1, "{err}");
        snapshot(&format!("{name}_hand_edit"), &hand_diff);
        std::fs::write(&edited, text).unwrap();

        // A workload removed from the source.
        let source = std::fs::read_to_string(s.path(&file)).unwrap();
        std::fs::write(s.path(&file), remove_item(&source, workload)).unwrap();
        let (code, removed_diff, err) = s.iotc(&["diff", &file, "-o", "out", "--exit-code"]);
        assert_eq!(code, 1, "{err}");
        snapshot(&format!("{name}_removed_workload"), &removed_diff);

        // The build prints the same counts per target, then makes the diff empty.
        let (code, _, err) = s.iotc(&["build", &file, "-o", "out"]);
        assert_eq!(code, 0, "{err}");
        let (_, json, _) = s.iotc(&["diff", &file, "-o", "out", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["objects"].as_array().unwrap().len(), 0, "{json}");
        let summary_lines: Vec<&str> = err.lines().filter(|l| l.contains(" objects: ")).collect();
        assert!(!summary_lines.is_empty(), "{err}");
        for line in summary_lines {
            let target = line.split(' ').next().unwrap();
            assert!(
                removed_diff.contains(&format!("({target})")),
                "{line} vs\n{removed_diff}"
            );
        }
    }
}

#[test]
fn the_json_document_has_a_schema_version_and_consistent_counts() {
    let s = Scratch::new("json");
    let file = common::root().join("examples/factory/factory.iot");
    let file = file.to_str().unwrap();
    let (code, _, err) = s.iotc(&["build", file, "-o", "out"]);
    assert_eq!(code, 0, "{err}");
    std::fs::remove_file(s.path("out/ansible/site.yml")).unwrap();
    std::fs::write(s.path("out/notes.txt"), "mine\n").unwrap();
    let (code, json, err) = s.iotc(&["diff", file, "-o", "out", "--set", "factor=3", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["out"], "out");
    let objects = v["objects"].as_array().unwrap();
    for action in ["add", "change", "remove"] {
        let n = objects.iter().filter(|o| o["action"] == action).count();
        assert_eq!(v["total"][action], n, "{action}");
        let per_target: u64 = v["targets"]
            .as_object()
            .unwrap()
            .values()
            .map(|c| c[action].as_u64().unwrap())
            .sum();
        assert_eq!(per_target, n as u64, "{action}");
    }
    for o in objects {
        for key in ["target", "scope", "kind", "name", "action", "file"] {
            assert!(o[key].is_string(), "{key} in {o}");
        }
        if o["action"] == "change" {
            assert!(!o["fields"].as_array().unwrap().is_empty(), "{o}");
        }
    }
    let replicas = objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["name"] == "factory/ingest")
        .unwrap();
    assert_eq!(
        replicas["fields"],
        serde_json::json!([{"path": "spec.replicas", "old": 2, "new": 3}])
    );
    // A deleted generated file is added back and is a hand edit in the way;
    // a file iotc did not write is not touched and not shown.
    assert_eq!(
        v["files"],
        serde_json::json!([{"path": "ansible/site.yml", "action": "add"}])
    );
    assert_eq!(v["hand_edits"][0]["path"], "ansible/site.yml");
    assert_eq!(v["hand_edits"][0]["kind"], "deleted");
    assert!(!json.contains("notes.txt"));
}

#[test]
fn exit_codes() {
    let s = Scratch::new("exit");
    let file = common::root().join("examples/energy/energy.iot");
    let file = file.to_str().unwrap();
    // No output folder yet: everything is to add.
    let (code, stdout, _) = s.iotc(&["diff", file, "-o", "out", "--exit-code", "--quiet"]);
    assert_eq!(code, 1);
    assert!(stdout.starts_with("Diff: ") && stdout.lines().count() == 1, "{stdout}");
    let (code, _, _) = s.iotc(&["build", file, "-o", "out", "--check"]);
    assert_eq!(code, 1);
    // --quiet builds print nothing.
    let (code, stdout, stderr) = s.iotc(&["build", file, "-o", "out", "--quiet"]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
    let (code, stdout, stderr) = s.iotc(&["build", file, "-o", "out", "--check", "--quiet"]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
    // Errors in the source: 1; a missing source or a bad argument: 2.
    std::fs::write(s.path("bad.iot"), "service a on nowhere { image = \"x:1\" }\n").unwrap();
    let (code, _, _) = s.iotc(&["diff", "bad.iot", "-o", "out"]);
    assert_eq!(code, 1);
    let (code, _, _) = s.iotc(&["diff", "missing.iot", "-o", "out"]);
    assert_eq!(code, 2);
    let (code, _, _) = s.iotc(&["diff", file, "--target", "helm"]);
    assert_eq!(code, 2);
    // An unreadable checksum record: 2.
    std::fs::write(s.path("out/.iotc-manifest.json"), "{").unwrap();
    let (code, _, err) = s.iotc(&["diff", file, "-o", "out"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn scanning_a_new_kubernetes_file_finds_what_parsing_finds_in_every_example() {
    std::env::set_current_dir(common::root()).unwrap();
    let mut scanned = 0;
    for path in common::examples() {
        let a = iotc_compiler::analyze(&iotc::FsDb, &path, &iotc_compiler::Overrides::default());
        let files =
            iotc_compiler::emit::emit(a.solution.as_ref().unwrap(), &[iotc_compiler::emit::Target::K8s]).unwrap();
        for f in files {
            let parsed: Vec<_> = iotc::diff::objects(&f.path, f.contents.as_bytes())
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            match iotc::diff::scan_k8s_keys(&f.path, f.contents.as_bytes()) {
                Some(keys) => {
                    assert_eq!(keys, parsed, "{}", f.path);
                    scanned += 1;
                }
                None => assert!(f.path.ends_with("kustomization.yaml"), "{} is not scanned", f.path),
            }
        }
    }
    assert!(scanned > 20, "{scanned}");
}
