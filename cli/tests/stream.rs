//! `iotc build --emit TARGET -o -`: every stream of every example is what
//! its consumer reads (a YAML stream of whole Kubernetes objects for
//! `kubectl apply -f -`, a Compose file, a Terraform JSON root), and bad
//! arguments are refused before anything is generated.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use serde::Deserialize;
use std::collections::BTreeSet;
use std::process::Command;

fn iotc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_iotc"))
        .args(args)
        .current_dir(common::root())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn yaml_docs(text: &str) -> Vec<serde_json::Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| serde_json::Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// The groups the error message lists when `--cluster` is missing.
fn listed_groups(err: &str) -> Vec<String> {
    let inner = err.split_once(" (").map(|(_, r)| r).unwrap();
    let inner = inner.rsplit_once("); a stream").map(|(l, _)| l).unwrap();
    let inner = inner.rsplit_once(" (").map_or(inner, |(_, r)| r);
    inner.split(", ").map(str::to_string).collect()
}

/// Every group of `target` in `example`: one name, or the list the error gives.
fn groups(example: &str, target: &str) -> Vec<String> {
    let (code, out, err) = iotc(&["build", example, "--emit", target, "-o", "-"]);
    match code {
        0 => vec![String::new()],
        2 if err.contains("--cluster NAME") => listed_groups(&err),
        2 if err.contains("has no") => Vec::new(),
        _ => panic!("{example} {target}: {code} {err} {out}"),
    }
}

#[test]
fn every_kubernetes_stream_is_whole_objects_for_kubectl_apply() {
    let mut streams = 0;
    for example in common::examples() {
        for group in groups(&example, "k8s") {
            let mut args = vec!["build", &example, "--emit", "k8s", "-o", "-"];
            if !group.is_empty() {
                args.extend(["--cluster", &group]);
            }
            let (code, stream, err) = iotc(&args);
            assert_eq!(code, 0, "{err}");
            let docs = yaml_docs(&stream);
            assert!(!docs.is_empty(), "{example} {group}");
            let mut seen = BTreeSet::new();
            let mut namespaces = BTreeSet::new();
            for (i, d) in docs.iter().enumerate() {
                let kind = d["kind"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{example} {group} #{i}: no kind"));
                assert!(d["apiVersion"].is_string(), "{example} {group} {kind}: no apiVersion");
                assert_ne!(kind, "Kustomization", "kustomize files are not objects");
                let name = d["metadata"]["name"].as_str().unwrap();
                let ns = d["metadata"]["namespace"].as_str().unwrap_or("");
                assert!(
                    seen.insert((kind.to_string(), ns.to_string(), name.to_string())),
                    "{kind} {ns}/{name} twice"
                );
                if kind == "Namespace" {
                    namespaces.insert(name.to_string());
                } else if !ns.is_empty() {
                    // kubectl applies in stream order: the namespace comes first.
                    assert!(
                        namespaces.contains(ns),
                        "{example} {group}: {kind} {name} before its namespace {ns}"
                    );
                }
            }
            streams += 1;
        }
    }
    assert!(streams >= 4, "every example has Kubernetes clusters or fleets");
}

#[test]
fn compose_and_terraform_streams_are_one_file_each() {
    let mut compose = 0;
    let mut terraform = 0;
    for example in common::examples() {
        for group in groups(&example, "compose") {
            let (code, text, err) = iotc(&["build", &example, "--emit", "compose", "-o", "-", "--cluster", &group]);
            assert_eq!(code, 0, "{err}");
            let docs = yaml_docs(&text);
            assert_eq!(docs.len(), 1);
            assert!(docs[0]["services"].is_object(), "{group}");
            compose += 1;
        }
        for group in groups(&example, "terraform") {
            let mut args = vec!["build", &example, "--emit", "terraform", "-o", "-"];
            if !group.is_empty() {
                args.extend(["--cluster", &group]);
            }
            let (code, text, err) = iotc(&args);
            assert_eq!(code, 0, "{err}");
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert!(v["resource"].is_object(), "{example}");
            terraform += 1;
        }
    }
    assert!(compose >= 3 && terraform >= 2, "{compose} {terraform}");
    // A site name alone picks its project when it is unique.
    let (code, text, _) = iotc(&[
        "build",
        "examples/energy/energy.iot",
        "--emit",
        "compose",
        "-o",
        "-",
        "--cluster",
        "moorfield",
    ]);
    assert_eq!(code, 0);
    assert!(text.contains("name: wind-ops-farms-moorfield"), "{text}");
}

#[test]
fn stream_arguments_are_refused_before_anything_is_generated() {
    // Before the source is read: a missing file is not even opened.
    let (code, _, err) = iotc(&["build", "missing.iot", "--emit", "ansible", "-o", "-"]);
    assert_eq!(code, 2);
    assert!(err.contains("ansible has no single-stream form"), "{err}");
    let (code, _, err) = iotc(&["build", "missing.iot", "--cluster", "cloud"]);
    assert_eq!(code, 2);
    assert!(err.contains("`--cluster` picks what `-o -` prints"), "{err}");
    // Against the evaluated solution, naming what there is.
    let (code, out, err) = iotc(&[
        "build",
        "examples/factory/factory.iot",
        "--emit",
        "k8s",
        "-o",
        "-",
        "--cluster",
        "nope",
    ]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains(
            "there is no Kubernetes cluster or fleet site `nope` to print; there are: cloud, plants/plant-a, \
             plants/plant-b, plants/warehouse"
        ),
        "{err}"
    );
    let (code, _, err) = iotc(&["build", "examples/factory/factory.iot", "--emit", "k8s", "-o", "-"]);
    assert_eq!(code, 2);
    assert!(err.contains("pick it with `--cluster NAME`"), "{err}");
}
