//! `iotc build` and the output writer: checksum record, hand edits, files
//! iotc did not write, and failures that must leave the previous output
//! byte-identical.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use iotc::writer::{self, ConflictKind, WriteError, MANIFEST};
use iotc_compiler::emit::OutputFile;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh folder under the system temp dir, deleted when dropped. The
/// output goes to `<dir>/out`, so the writer's sibling folders land in `dir`.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("iotc-build-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn out(&self) -> PathBuf {
        self.0.join("out")
    }
    /// Names in the scratch folder that the writer should never leave.
    fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.contains(".iotc-"))
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn file(path: &str, contents: &str) -> OutputFile {
    OutputFile {
        path: path.to_string(),
        contents: contents.to_string(),
    }
}

/// Every entry under `dir`: files with their bytes, folders as `<dir>`,
/// symlinks as `-> target`.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn go(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.insert(rel, format!("-> {}", t.display()).into_bytes());
            } else if ft.is_dir() {
                out.insert(rel, b"<dir>".to_vec());
                go(root, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    go(dir, dir, &mut out);
    out
}

fn v1() -> Vec<OutputFile> {
    vec![
        file("k8s/plant/deployment.yaml", "kind: Deployment\n"),
        file("k8s/plant/kustomization.yaml", "resources:\n- deployment.yaml\n"),
        file("k8s/plant/service.yaml", "kind: Service\n"),
    ]
}

fn v2() -> Vec<OutputFile> {
    vec![
        file("k8s/plant/deployment.yaml", "kind: Deployment\nspec: {}\n"),
        file("k8s/plant/kustomization.yaml", "resources:\n- deployment.yaml\n"),
    ]
}

// ---- the writer, on synthetic files ----

#[test]
fn first_write_creates_the_files_and_a_sorted_manifest() {
    let s = Scratch::new("first");
    let files = vec![file("z/last.txt", "hello\n"), file("a.txt", "")];
    let r = writer::write(&s.out(), &files, false).unwrap();
    assert_eq!(r.written, ["a.txt", "z/last.txt"]);
    assert!(r.unchanged.is_empty() && !r.noop);
    assert_eq!(std::fs::read_to_string(s.out().join("z/last.txt")).unwrap(), "hello\n");
    assert_eq!(std::fs::read_to_string(s.out().join("a.txt")).unwrap(), "");
    let manifest = std::fs::read_to_string(s.out().join(MANIFEST)).unwrap();
    let expected = format!(
        "{{\n  \"iotc_version\": \"{}\",\n  \"sha256\": {{\n    \
         \"a.txt\": \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\n    \
         \"z/last.txt\": \"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\"\n  }}\n}}\n",
        writer::VERSION
    );
    assert_eq!(manifest, expected);
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    assert_eq!(writer::summary("out", &r), "wrote 2 files to out/ (0 unchanged)");
}

#[test]
fn the_manifest_does_not_depend_on_the_order_of_the_files() {
    let a = Scratch::new("order-a");
    let b = Scratch::new("order-b");
    let mut files = v1();
    writer::write(&a.out(), &files, false).unwrap();
    files.reverse();
    writer::write(&b.out(), &files, false).unwrap();
    assert_eq!(tree(&a.out()), tree(&b.out()));
}

#[test]
fn writing_the_same_files_again_changes_nothing() {
    let s = Scratch::new("same");
    writer::write(&s.out(), &v1(), false).unwrap();
    let before = tree(&s.out());
    let mtime = |p: &str| std::fs::metadata(s.out().join(p)).unwrap().modified().unwrap();
    let (m1, m2) = (mtime("k8s/plant/service.yaml"), mtime(MANIFEST));
    let r = writer::write(&s.out(), &v1(), false).unwrap();
    assert!(r.noop);
    assert!(r.written.is_empty() && r.removed.is_empty());
    assert_eq!(r.unchanged.len(), 3);
    assert_eq!(tree(&s.out()), before);
    assert_eq!((mtime("k8s/plant/service.yaml"), mtime(MANIFEST)), (m1, m2));
    assert!(s.leftovers().is_empty());
    assert_eq!(writer::summary("out/", &r), "wrote 0 files to out/ (3 unchanged)");
}

#[test]
fn a_new_build_updates_changed_files_and_removes_ones_no_longer_generated() {
    let s = Scratch::new("update");
    writer::write(&s.out(), &v1(), false).unwrap();
    let r = writer::write(&s.out(), &v2(), false).unwrap();
    assert_eq!(r.written, ["k8s/plant/deployment.yaml"]);
    assert_eq!(r.unchanged, ["k8s/plant/kustomization.yaml"]);
    assert_eq!(r.removed, ["k8s/plant/service.yaml"]);
    let t = tree(&s.out());
    assert!(!t.contains_key("k8s/plant/service.yaml"));
    assert_eq!(t["k8s/plant/deployment.yaml"], b"kind: Deployment\nspec: {}\n");
    // The result is exactly what a fresh write of v2 gives.
    let fresh = Scratch::new("update-fresh");
    writer::write(&fresh.out(), &v2(), false).unwrap();
    assert_eq!(t, tree(&fresh.out()));
    assert!(s.leftovers().is_empty());
}

#[test]
fn a_hand_edited_file_blocks_the_write_and_names_the_file() {
    let s = Scratch::new("edited");
    writer::write(&s.out(), &v1(), false).unwrap();
    std::fs::write(s.out().join("k8s/plant/service.yaml"), "kind: Service\n# mine\n").unwrap();
    std::fs::remove_file(s.out().join("k8s/plant/kustomization.yaml")).unwrap();
    let before = tree(&s.out());
    let err = writer::write(&s.out(), &v2(), false).unwrap_err();
    match &err {
        WriteError::HandEdited { files, .. } => {
            let got: Vec<_> = files.iter().map(|c| (c.path.as_str(), c.kind)).collect();
            assert_eq!(
                got,
                [
                    ("k8s/plant/kustomization.yaml", ConflictKind::Deleted),
                    ("k8s/plant/service.yaml", ConflictKind::Changed),
                ]
            );
        }
        other => panic!("{other}"),
    }
    assert!(err.needs_force());
    let msg = err.to_string();
    assert!(
        msg.contains("k8s/plant/service.yaml: changed since iotc wrote it"),
        "{msg}"
    );
    assert!(msg.contains("k8s/plant/kustomization.yaml: deleted"), "{msg}");
    assert!(msg.contains("--force"), "{msg}");
    assert_eq!(tree(&s.out()), before, "a refused write must change nothing");
    assert!(s.leftovers().is_empty());
}

#[test]
fn an_edit_that_matches_the_new_output_is_not_a_conflict() {
    let s = Scratch::new("edit-matches");
    writer::write(&s.out(), &v1(), false).unwrap();
    std::fs::write(
        s.out().join("k8s/plant/deployment.yaml"),
        "kind: Deployment\nspec: {}\n",
    )
    .unwrap();
    let r = writer::write(&s.out(), &v2(), false).unwrap();
    assert!(r.unchanged.contains(&"k8s/plant/deployment.yaml".to_string()));
}

#[test]
fn force_overwrites_hand_edited_files() {
    let s = Scratch::new("force");
    writer::write(&s.out(), &v1(), false).unwrap();
    std::fs::write(s.out().join("k8s/plant/deployment.yaml"), "edited\n").unwrap();
    std::fs::write(s.out().join("k8s/plant/service.yaml"), "edited too\n").unwrap();
    let r = writer::write(&s.out(), &v2(), true).unwrap();
    let over: Vec<_> = r.overwritten.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(over, ["k8s/plant/deployment.yaml", "k8s/plant/service.yaml"]);
    let fresh = Scratch::new("force-fresh");
    writer::write(&fresh.out(), &v2(), false).unwrap();
    assert_eq!(tree(&s.out()), tree(&fresh.out()));
    // And the record is current again: the next build goes through.
    assert!(writer::write(&s.out(), &v1(), false).is_ok());
    assert!(s.leftovers().is_empty());
}

#[test]
fn files_iotc_did_not_write_survive_a_rebuild_untouched() {
    let s = Scratch::new("unmanaged");
    writer::write(&s.out(), &v1(), false).unwrap();
    let out = s.out();
    std::fs::write(out.join("README.md"), "my notes\n").unwrap();
    std::fs::write(out.join("k8s/plant/local-patch.yaml"), "mine: true\n").unwrap();
    std::fs::create_dir_all(out.join("terraform/.terraform/providers")).unwrap();
    std::fs::write(out.join("terraform/.terraform/providers/p"), vec![0u8, 1, 2, 255]).unwrap();
    std::fs::write(out.join("terraform/terraform.tfstate"), "{\"serial\": 3}\n").unwrap();
    std::fs::create_dir_all(out.join("empty/dir")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("../README.md", out.join("k8s/readme-link")).unwrap();
    let mtime = std::fs::metadata(out.join("terraform/terraform.tfstate"))
        .unwrap()
        .modified()
        .unwrap();
    let mine = |t: &BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
        t.iter()
            .filter(|(k, _)| !k.starts_with("k8s/plant") || k.ends_with("local-patch.yaml"))
            .filter(|(k, _)| *k != MANIFEST && *k != "k8s")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let before = mine(&tree(&out));
    let r = writer::write(&out, &v2(), false).unwrap();
    assert_eq!(mine(&tree(&out)), before);
    assert_eq!(
        std::fs::metadata(out.join("terraform/terraform.tfstate"))
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );
    let mut expected_kept = vec![
        "README.md",
        "empty/dir",
        "k8s/plant/local-patch.yaml",
        "terraform/.terraform/providers/p",
        "terraform/terraform.tfstate",
    ];
    if cfg!(unix) {
        expected_kept.push("k8s/readme-link");
    }
    expected_kept.sort_unstable();
    let mut kept = r.kept.clone();
    kept.sort();
    assert_eq!(kept, expected_kept);
    assert_eq!(r.removed, ["k8s/plant/service.yaml"]);
    // The user's files are not in the record.
    let manifest = std::fs::read_to_string(out.join(MANIFEST)).unwrap();
    assert!(
        !manifest.contains("README") && !manifest.contains("tfstate"),
        "{manifest}"
    );
    assert!(s.leftovers().is_empty());
}

#[test]
fn a_file_iotc_did_not_write_in_the_way_of_a_generated_one_is_a_conflict() {
    let s = Scratch::new("in-the-way");
    writer::write(&s.out(), &v2(), false).unwrap();
    std::fs::write(s.out().join("k8s/plant/service.yaml"), "mine\n").unwrap();
    let before = tree(&s.out());
    let err = writer::write(&s.out(), &v1(), false).unwrap_err();
    let WriteError::HandEdited { files, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].path, "k8s/plant/service.yaml");
    assert_eq!(files[0].kind, ConflictKind::NotWrittenByIotc);
    assert_eq!(tree(&s.out()), before);
    let r = writer::write(&s.out(), &v1(), true).unwrap();
    assert_eq!(r.overwritten.len(), 1);
    assert_eq!(
        std::fs::read_to_string(s.out().join("k8s/plant/service.yaml")).unwrap(),
        "kind: Service\n"
    );
}

#[test]
fn a_non_empty_folder_without_a_manifest_is_refused() {
    let s = Scratch::new("foreign");
    std::fs::create_dir_all(s.out().join("src")).unwrap();
    std::fs::write(s.out().join("src/main.rs"), "fn main() {}\n").unwrap();
    let before = tree(&s.out());
    let err = writer::write(&s.out(), &v1(), false).unwrap_err();
    assert!(matches!(err, WriteError::NotIotcOutput { .. }), "{err}");
    assert!(err.to_string().contains("not an iotc output folder"), "{err}");
    assert_eq!(tree(&s.out()), before);
    assert!(s.leftovers().is_empty());
    // With force it is written, and the folder's own files are kept.
    let r = writer::write(&s.out(), &v1(), true).unwrap();
    assert_eq!(r.kept, ["src/main.rs"]);
    assert_eq!(
        std::fs::read_to_string(s.out().join("src/main.rs")).unwrap(),
        "fn main() {}\n"
    );
    assert!(s.out().join(MANIFEST).exists());
}

#[test]
fn an_empty_existing_folder_is_fine() {
    let s = Scratch::new("empty");
    std::fs::create_dir_all(s.out()).unwrap();
    writer::write(&s.out(), &v1(), false).unwrap();
    assert_eq!(tree(&s.out()).len(), 6, "{:?}", tree(&s.out()).keys());
}

#[test]
fn an_unreadable_manifest_is_refused_without_force() {
    let s = Scratch::new("bad-manifest");
    writer::write(&s.out(), &v1(), false).unwrap();
    std::fs::write(s.out().join(MANIFEST), "{ not json").unwrap();
    let before = tree(&s.out());
    let err = writer::write(&s.out(), &v1(), false).unwrap_err();
    assert!(matches!(err, WriteError::BadManifest { .. }), "{err}");
    assert_eq!(tree(&s.out()), before);
    // With force, the same bytes are not a conflict, and the record is rewritten.
    writer::write(&s.out(), &v1(), true).unwrap();
    assert!(writer::write(&s.out(), &v1(), false).unwrap().noop);
}

/// Builds a previous output with a user's file and a hand edit that was
/// forced through, so it is not just a fresh write.
fn previous_output(s: &Scratch) -> BTreeMap<String, Vec<u8>> {
    writer::write(&s.out(), &v1(), false).unwrap();
    std::fs::write(s.out().join("NOTES.md"), "keep me\n").unwrap();
    tree(&s.out())
}

#[test]
fn a_build_that_fails_mid_way_leaves_the_previous_output_byte_identical() {
    let s = Scratch::new("midway");
    let before = previous_output(&s);
    // Sorted, the first two files are written into the temporary tree; the
    // third has a name longer than any file system allows, so creating it
    // fails after the tree is partly built.
    let long = format!("k8s/plant/{}.yaml", "x".repeat(300));
    let files = vec![
        file("k8s/plant/deployment.yaml", "kind: Deployment\nspec: {changed: true}\n"),
        file("k8s/plant/kustomization.yaml", "resources: []\n"),
        file(&long, "kind: ConfigMap\n"),
    ];
    let err = writer::write(&s.out(), &files, false).unwrap_err();
    assert!(matches!(err, WriteError::Io { .. }), "{err}");
    assert!(!err.needs_force());
    assert!(err.to_string().contains("previous output is unchanged"), "{err}");
    assert_eq!(tree(&s.out()), before, "the previous output must be byte-identical");
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
    // Also with force (which would otherwise rewrite the record).
    let err = writer::write(&s.out(), &files, true).unwrap_err();
    assert!(matches!(err, WriteError::Io { .. }), "{err}");
    assert_eq!(tree(&s.out()), before);
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn a_streamed_build_whose_backend_stops_half_way_leaves_the_previous_output_byte_identical() {
    let s = Scratch::new("stream-midway");
    let before = previous_output(&s);
    // `iotc build` streams: files go into the temporary tree as backends
    // produce them. A backend error after two files drops the staging.
    let mut staging = writer::Staging::begin(&s.out(), false).unwrap();
    staging
        .add(
            "k8s/plant/deployment.yaml",
            b"kind: Deployment\nspec: {changed: true}\n",
        )
        .unwrap();
    staging.add("k8s/plant/new.yaml", b"kind: ConfigMap\n").unwrap();
    let during = s.leftovers();
    assert_eq!(
        during.len(),
        2,
        "the temporary tree and the lock exist while staging: {during:?}"
    );
    assert!(during.iter().any(|n| n == "out.iotc-lock"), "{during:?}");
    drop(staging);
    assert_eq!(tree(&s.out()), before, "the previous output must be byte-identical");
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn a_streamed_build_judges_hand_edits_at_commit_and_writes_nothing() {
    let s = Scratch::new("stream-edit");
    let _ = previous_output(&s);
    std::fs::write(s.out().join("k8s/plant/service.yaml"), "kind: Service\n# mine\n").unwrap();
    let before = tree(&s.out());
    let mut staging = writer::Staging::begin(&s.out(), false).unwrap();
    for f in v1() {
        staging.add(&f.path, f.contents.as_bytes()).unwrap();
    }
    // A path produced twice is refused as it comes.
    let twice = staging.add("k8s/plant/service.yaml", b"x").unwrap_err();
    assert!(matches!(twice, WriteError::BadPath { .. }), "{twice}");
    match staging.commit().unwrap_err() {
        WriteError::HandEdited { files, .. } => {
            assert_eq!(files.len(), 1);
            assert_eq!(files[0].path, "k8s/plant/service.yaml");
        }
        other => panic!("expected HandEdited, got {other}"),
    }
    assert_eq!(tree(&s.out()), before);
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn a_path_that_must_be_both_a_file_and_a_folder_is_rejected_and_nothing_changes() {
    let s = Scratch::new("file-and-dir");
    let before = previous_output(&s);
    let files = vec![file("a", "x\n"), file("a/b.yaml", "y\n"), file("k8s/new.yaml", "z\n")];
    let err = writer::write(&s.out(), &files, true).unwrap_err();
    assert!(matches!(&err, WriteError::BadPath { path, .. } if path == "a"), "{err}");
    assert_eq!(tree(&s.out()), before);
    assert!(s.leftovers().is_empty());
}

#[test]
fn unsafe_paths_are_rejected() {
    let s = Scratch::new("bad-paths");
    for p in [
        "",
        "/etc/passwd",
        "../escape.yaml",
        "k8s/../../x",
        "a//b",
        "./a",
        MANIFEST,
        "a\\b",
    ] {
        let err = writer::write(&s.out(), &[file(p, "x")], false).unwrap_err();
        assert!(matches!(err, WriteError::BadPath { .. }), "{p}: {err}");
    }
    let dup = [file("a.yaml", "1"), file("a.yaml", "2")];
    assert!(matches!(
        writer::write(&s.out(), &dup, false),
        Err(WriteError::BadPath { .. })
    ));
    assert!(!s.out().exists());
    assert!(s.leftovers().is_empty());
}

#[test]
fn the_output_path_may_not_be_a_file() {
    let s = Scratch::new("out-is-file");
    std::fs::write(s.out(), "I am a file\n").unwrap();
    let err = writer::write(&s.out(), &v1(), true).unwrap_err();
    assert!(matches!(err, WriteError::Io { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(s.out()).unwrap(), "I am a file\n");
}

#[test]
fn streaming_needs_one_cluster_when_there_are_several() {
    let files = vec![
        file("compose/compose.yaml", "services: {}\n"),
        file("k8s/a/kustomization.yaml", "resources: []\n"),
        file("k8s/a/ns.yaml", "kind: Namespace\n"),
        file("k8s/b/deploy.yaml", "kind: Deployment\n"),
    ];
    let err = iotc::select_group(&files, None).unwrap_err();
    assert!(err.contains("--cluster") && err.contains("a, b"), "{err}");
    let a = iotc::select_group(&files, Some("a")).unwrap();
    assert_eq!(
        a.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
        ["k8s/a/kustomization.yaml", "k8s/a/ns.yaml"]
    );
    assert!(iotc::select_group(&files, Some("c"))
        .unwrap_err()
        .contains("no Kubernetes cluster or fleet site `c`"));
    let one = vec![file("k8s/a/ns.yaml", "kind: Namespace\n")];
    assert_eq!(iotc::select_group(&one, None).unwrap().len(), 1);
}

// ---- `iotc build`, end to end ----

fn iotc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_iotc"))
        .args(args)
        .current_dir(common::root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

const FACTORY: &str = "examples/factory/factory.iot";

#[test]
fn build_writes_then_a_hand_edit_blocks_until_force() {
    let s = Scratch::new("e2e");
    let out = s.out();
    let out_s = out.to_str().unwrap();
    let (code, stdout, err) = iotc(&["build", FACTORY, "-o", out_s]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(err.contains(&format!("to {out_s}/")), "{err}");
    let manifest = std::fs::read_to_string(out.join(MANIFEST)).unwrap();
    let first = tree(&out);
    // Twice gives the same bytes.
    let (code, _, err) = iotc(&["build", FACTORY, "-o", out_s]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("wrote 0 files"), "{err}");
    assert_eq!(tree(&out), first);

    // Edit a generated file by hand; while the k8s backend produces no files
    // yet, record one in the manifest as iotc would have.
    let parsed: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let generated: Vec<String> = parsed["sha256"].as_object().unwrap().keys().cloned().collect();
    let victim = match generated.first() {
        Some(p) => p.clone(),
        None => {
            let p = "by-hand.yaml".to_string();
            let mut m = parsed.clone();
            m["sha256"][&p] = serde_json::Value::String(writer::sha256_hex(b"kind: Namespace\n"));
            std::fs::write(out.join(MANIFEST), serde_json::to_string_pretty(&m).unwrap()).unwrap();
            p
        }
    };
    std::fs::write(out.join(&victim), "# edited by hand\n").unwrap();
    let edited = tree(&out);
    let (code, _, err) = iotc(&["build", FACTORY, "-o", out_s]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&victim) && err.contains("changed"), "{err}");
    assert_eq!(tree(&out), edited);

    let (code, _, err) = iotc(&["build", FACTORY, "-o", out_s, "--force"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("overwrote `{victim}`")), "{err}");
    assert_eq!(tree(&out), first);
    assert!(s.leftovers().is_empty());
}

#[test]
fn build_recovers_from_an_interrupted_swap_and_cleans_up_with_a_note() {
    // What a build killed between its two renames (before the exchange and
    // the journal) left: no `out`, the previous output with the operator's
    // Terraform state beside it, and a half-built tree.
    let s = Scratch::new("e2e-interrupted");
    let out = s.out();
    let out_s = out.to_str().unwrap();
    let (code, _, err) = iotc(&["build", FACTORY, "-o", out_s]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(out.join("terraform.tfstate"), "{\"serial\": 41}\n").unwrap();
    let previous = tree(&out);
    std::fs::rename(&out, s.0.join("out.iotc-old-999999")).unwrap();
    std::fs::create_dir(s.0.join("out.iotc-tmp-999999")).unwrap();
    std::fs::write(s.0.join("out.iotc-tmp-999999/half.yaml"), "kind: Depl").unwrap();
    let (code, _, err) = iotc(&["build", FACTORY, "-o", out_s]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("note: restored the previous output"), "{err}");
    assert!(
        err.contains("note: removed") && err.contains("out.iotc-tmp-999999"),
        "{err}"
    );
    assert!(err.contains("wrote 0 files"), "{err}");
    assert_eq!(tree(&out), previous);
    assert!(s.leftovers().is_empty(), "{:?}", s.leftovers());
}

#[test]
fn build_with_errors_exits_one_and_writes_nothing() {
    let s = Scratch::new("e2e-errors");
    let out = s.out();
    let (code, _, err) = iotc(&[
        "build",
        "examples/errors/E0101_unknown_fleet.iot",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("E0101"), "{err}");
    assert!(!out.exists());
    assert!(s.leftovers().is_empty());
}

#[test]
fn build_refuses_a_folder_that_is_not_an_iotc_output() {
    let s = Scratch::new("e2e-foreign");
    std::fs::create_dir_all(s.out()).unwrap();
    std::fs::write(s.out().join("thesis.tex"), "\\begin{document}\n").unwrap();
    let out_s = s.out().to_str().unwrap().to_string();
    let (code, _, err) = iotc(&["build", FACTORY, "-o", &out_s]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not an iotc output folder"), "{err}");
    assert!(!s.out().join(MANIFEST).exists());
}

#[test]
fn emit_k8s_to_stdout_prints_the_same_documents_as_the_folder() {
    let s = Scratch::new("e2e-stream");
    let out = s.out();
    // The factory has four Kubernetes targets: the cloud and each plant.
    let (code, _, err) = iotc(&["build", FACTORY, "--emit", "k8s", "-o", "-"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--cluster"), "{err}");
    let (code, stream, err) = iotc(&[
        "build",
        FACTORY,
        "--emit",
        "k8s",
        "-o",
        "-",
        "--cluster",
        "plants/plant-a",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("wrote"), "{err}");
    let (code, _, err) = iotc(&["build", FACTORY, "--target", "k8s", "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let files: Vec<OutputFile> = tree(&out)
        .into_iter()
        .filter(|(k, v)| k.as_str() != MANIFEST && v.as_slice() != b"<dir>")
        .map(|(k, v)| file(&k, &String::from_utf8(v).unwrap()))
        .collect();
    let plants = iotc::select_group(&files, Some("plants/plant-a")).unwrap();
    assert_eq!(stream, iotc_compiler::emit::k8s::stream(&plants));
    assert!(stream.contains("kind: DaemonSet") && !stream.contains("kind: Kustomization"));
}

#[test]
fn build_usage_errors_exit_two() {
    assert_eq!(iotc(&["build", FACTORY, "-o", "-"]).0, 2, "-o - needs --emit");
    assert_eq!(iotc(&["build", FACTORY, "--target", "helm"]).0, 2);
    assert_eq!(iotc(&["build", FACTORY, "--target", "k8s", "--emit", "k8s"]).0, 2);
    assert_eq!(iotc(&["build", "does/not/exist.iot"]).0, 2);
}
