#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The Kubernetes backend on every shipped example: a snapshot per file
//! (`snapshots/k8s/<example>/`), every document read back into its
//! k8s-openapi type (or our typed Prometheus Operator resources) without
//! losing a field, byte-identical output on a second emit, and no secret
//! value anywhere in the output.
//!
//! `cargo test -p iotc-compiler --test k8s -- --ignored` also writes every
//! example's output under `$IOTC_K8S_OUT` (default `/tmp/iotc-out`) for
//! `../shared/tools/validate-outputs --only k8s,checkov /tmp/iotc-out/<example>`.

use iotc_compiler::emit::k8s::{self, PrometheusRule, SecretProviderClass, ServiceMonitor};
use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::{SecretSource, Solution};
use iotc_compiler::source::MemoryDb;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Namespace, PersistentVolumeClaim, ResourceQuota, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

mod common;

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// One input: a name, the folder of its `.iot` files and its root file.
struct Case {
    name: String,
    dir: PathBuf,
    root: String,
}

/// Every example (a folder of `examples/` other than `errors/`), then the
/// fixtures in `tests/k8s/` (features the examples do not use).
fn cases() -> Vec<Case> {
    let mut names: Vec<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "errors")
        .collect();
    names.sort();
    assert!(
        names.len() >= 3,
        "expected the factory, city and energy examples: {names:?}"
    );
    let mut out: Vec<Case> = names
        .into_iter()
        .map(|n| Case {
            dir: examples_dir().join(&n),
            root: format!("{n}.iot"),
            name: n,
        })
        .collect();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/k8s");
    let mut extra: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "iot"))
        .collect();
    extra.sort();
    for p in extra {
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        out.push(Case {
            name: stem,
            dir: fixtures.clone(),
            root: p.file_name().unwrap().to_string_lossy().into_owned(),
        });
    }
    out
}

fn is_example(case: &Case) -> bool {
    case.dir.starts_with(examples_dir())
}

/// The case's `.iot` files in a MemoryDb (`<case>/<file>`), and its root.
fn load(case: &Case, rewrite: impl Fn(String) -> String) -> (MemoryDb, String) {
    let mut db = MemoryDb::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&case.dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "iot"))
        .collect();
    names.sort();
    for p in names {
        let text = rewrite(std::fs::read_to_string(&p).unwrap());
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        db = db.with(&format!("{}/{name}", case.name), &text);
    }
    (db, format!("{}/{}", case.name, case.root))
}

fn solution_with(case: &Case, rewrite: impl Fn(String) -> String) -> Solution {
    let (db, root) = load(case, rewrite);
    common::checked(&db, &root)
}

fn solution(case: &Case) -> Solution {
    solution_with(case, |s| s)
}

fn case(name: &str) -> Case {
    cases().into_iter().find(|c| c.name == name).unwrap()
}

fn k8s_files(sol: &Solution) -> Vec<OutputFile> {
    emit(sol, &[Target::K8s]).expect("the k8s backend succeeds")
}

/// The documents of a file (text after each `---` line).
fn documents(text: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        if line == "---" {
            if let Some(d) = cur.take() {
                docs.push(d);
            }
            cur = Some(String::new());
        } else if let Some(d) = cur.as_mut() {
            d.push_str(line);
            d.push('\n');
        }
    }
    docs.extend(cur);
    docs
}

#[test]
fn snapshots_of_every_file() {
    for c in cases() {
        let ex = c.name.clone();
        let files = k8s_files(&solution(&c));
        assert!(!files.is_empty(), "{ex}: no files");
        for f in &files {
            let name = f.path.replace('/', "__");
            insta::with_settings!({
                snapshot_path => format!("../../snapshots/k8s/{ex}"),
                prepend_module_to_snapshot => false,
                omit_expression => true,
            }, {
                insta::assert_snapshot!(name, f.contents);
            });
        }
    }
}

/// Read `doc` into `T` and back: every field must survive.
fn round_trip<T: DeserializeOwned + Serialize>(where_: &str, doc: &str) {
    let typed: T = serde_norway::from_str(doc).unwrap_or_else(|e| panic!("{where_}: does not read back: {e}\n{doc}"));
    let generic: serde_json::Value = serde_norway::from_str(doc).unwrap();
    let again = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        again, generic,
        "{where_}: a field was lost or changed in the round trip"
    );
}

#[test]
fn every_document_reads_back_into_its_type() {
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for c in cases() {
        let ex = c.name.clone();
        for f in k8s_files(&solution(&c)) {
            for (i, doc) in documents(&f.contents).iter().enumerate() {
                let v: serde_json::Value = serde_norway::from_str(doc).unwrap();
                let kind = v["kind"].as_str().unwrap_or_default().to_string();
                let api = v["apiVersion"].as_str().unwrap_or_default().to_string();
                let at = format!("{ex}: {} document {} ({api} {kind})", f.path, i + 1);
                match (api.as_str(), kind.as_str()) {
                    ("v1", "Namespace") => round_trip::<Namespace>(&at, doc),
                    ("v1", "ResourceQuota") => round_trip::<ResourceQuota>(&at, doc),
                    ("v1", "LimitRange") => round_trip::<LimitRange>(&at, doc),
                    ("v1", "ConfigMap") => round_trip::<ConfigMap>(&at, doc),
                    ("v1", "PersistentVolumeClaim") => round_trip::<PersistentVolumeClaim>(&at, doc),
                    ("v1", "Service") => round_trip::<Service>(&at, doc),
                    ("apps/v1", "Deployment") => round_trip::<Deployment>(&at, doc),
                    ("apps/v1", "DaemonSet") => round_trip::<DaemonSet>(&at, doc),
                    ("batch/v1", "Job") => round_trip::<Job>(&at, doc),
                    ("batch/v1", "CronJob") => round_trip::<CronJob>(&at, doc),
                    ("policy/v1", "PodDisruptionBudget") => round_trip::<PodDisruptionBudget>(&at, doc),
                    ("v1", "ServiceAccount") => round_trip::<ServiceAccount>(&at, doc),
                    ("autoscaling/v2", "HorizontalPodAutoscaler") => round_trip::<HorizontalPodAutoscaler>(&at, doc),
                    ("networking.k8s.io/v1", "NetworkPolicy") => round_trip::<NetworkPolicy>(&at, doc),
                    ("networking.k8s.io/v1", "Ingress") => round_trip::<Ingress>(&at, doc),
                    ("monitoring.coreos.com/v1", "ServiceMonitor") => round_trip::<ServiceMonitor>(&at, doc),
                    ("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass") => {
                        round_trip::<SecretProviderClass>(&at, doc)
                    }
                    ("rbac.authorization.k8s.io/v1", "ClusterRole") => round_trip::<ClusterRole>(&at, doc),
                    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                        round_trip::<ClusterRoleBinding>(&at, doc)
                    }
                    ("monitoring.coreos.com/v1", "PrometheusRule") => round_trip::<PrometheusRule>(&at, doc),
                    ("kustomize.config.k8s.io/v1beta1", "Kustomization") => {
                        // Every listed file exists, and every other file is
                        // listed but the monitoring resources (a second
                        // step, once the Prometheus Operator's CRDs exist).
                        let dir = f.path.rsplit_once('/').unwrap().0;
                        let listed: Vec<String> = v["resources"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|r| format!("{dir}/{}", r.as_str().unwrap()))
                            .collect();
                        let mut present: Vec<String> = k8s_files(&solution(&c))
                            .into_iter()
                            .map(|f| f.path)
                            .filter(|p| {
                                p.starts_with(&format!("{dir}/"))
                                    && !p.ends_with("/kustomization.yaml")
                                    && !p.ends_with("/30-monitoring.yaml")
                            })
                            .collect();
                        present.sort();
                        let mut sorted = listed.clone();
                        sorted.sort();
                        assert_eq!(sorted, present, "{at}");
                    }
                    _ => panic!("{at}: unexpected kind"),
                }
                *kinds.entry(kind).or_default() += 1;
            }
        }
    }
    for k in [
        "ServiceAccount",
        "Namespace",
        "ResourceQuota",
        "LimitRange",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Service",
        "Deployment",
        "DaemonSet",
        "CronJob",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "ServiceMonitor",
        "PrometheusRule",
        "Kustomization",
    ] {
        assert!(kinds.contains_key(k), "no example produced a {k}: {kinds:?}");
    }
}

#[test]
fn two_emits_are_byte_identical() {
    for c in cases() {
        let ex = c.name.clone();
        let a = k8s_files(&solution(&c));
        let b = k8s_files(&solution(&c));
        assert_eq!(a, b, "{ex}");
        let paths: Vec<&str> = a.iter().map(|f| f.path.as_str()).collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted, "{ex}: files come back sorted by path");
    }
}

#[test]
fn docker_fleets_get_no_folder() {
    let sol = solution(&case("energy"));
    let files = k8s_files(&sol);
    assert!(files.iter().all(|f| !f.path.starts_with("k8s/farms/")));
    assert!(files.iter().any(|f| f.path == "k8s/dc/kustomization.yaml"));
}

#[test]
fn stream_holds_every_document_but_the_kustomizations() {
    for c in cases() {
        let ex = c.name.clone();
        let files = k8s_files(&solution(&c));
        let stream = k8s::stream(&files);
        let expected: usize = files
            .iter()
            .filter(|f| !f.path.ends_with("kustomization.yaml"))
            .map(|f| documents(&f.contents).len())
            .sum();
        assert_eq!(documents(&stream).len(), expected, "{ex}");
        assert!(!stream.contains("kind: Kustomization"), "{ex}");
        for d in documents(&stream) {
            let _: serde_json::Value = serde_norway::from_str(&d).unwrap();
        }
        // One cluster's stream: only that folder's files.
        let first = k8s::group_of(&files[0].path).unwrap();
        let one: Vec<OutputFile> = files
            .iter()
            .filter(|f| k8s::group_of(&f.path) == Some(first))
            .cloned()
            .collect();
        let s = k8s::stream(&one);
        assert!(s
            .lines()
            .filter(|l| l.starts_with("# Source: "))
            .all(|l| l.starts_with(&format!("# Source: k8s/{first}/"))));
    }
}

/// No secret value reaches the output: every secret an example references
/// is given a sentinel value (environment variables set, files written to a
/// temporary folder that the sources are pointed at, vault paths exported
/// as variables too), and none of the sentinels appears in any file.
#[test]
fn no_secret_value_ever_appears() {
    let tmp = std::env::temp_dir().join(format!("iotc-k8s-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for c in cases() {
        let ex = c.name.clone();
        let plain = solution(&c);
        let mut sentinels = Vec::new();
        let mut file_moves: Vec<(String, String)> = Vec::new();
        for w in &plain.workloads {
            for s in &w.container.secrets {
                let sentinel = format!("S3NT1NEL-{ex}-{}-{}-value", w.name, s.name);
                match s.source {
                    SecretSource::Env => std::env::set_var(&s.reference, &sentinel),
                    SecretSource::File => {
                        let path = tmp.join(format!("{ex}-{}-{}", w.name, s.name));
                        std::fs::write(&path, &sentinel).unwrap();
                        file_moves.push((s.reference.clone(), path.to_string_lossy().into_owned()));
                    }
                    SecretSource::Vault => {
                        // No vault here: export it where a careless backend
                        // might look (an env var named after the key).
                        let key = s.reference.rsplit('#').next().unwrap().to_uppercase().replace('-', "_");
                        std::env::set_var(format!("VAULT_{key}"), &sentinel);
                    }
                }
                std::env::set_var(&s.name, &sentinel);
                sentinels.push(sentinel);
            }
        }
        assert!(!sentinels.is_empty() || !is_example(&c), "{ex} references no secrets");
        let sol = solution_with(&c, |mut text| {
            for (from, to) in &file_moves {
                text = text.replace(&format!("\"{from}\""), &format!("\"{to}\""));
            }
            text
        });
        let files = k8s_files(&sol);
        for f in &files {
            for s in &sentinels {
                assert!(
                    !f.contents.contains(s.as_str()),
                    "{ex}: {} holds the secret value {s}",
                    f.path
                );
            }
            // Secrets are references to a named Secret, never objects with data.
            for doc in documents(&f.contents) {
                let v: serde_json::Value = serde_norway::from_str(&doc).unwrap();
                assert_ne!(v["kind"], "Secret", "{ex}: {} emits a Secret", f.path);
            }
        }
        // And each secret is a secretKeyRef to `<workload>-secrets`.
        let all: String = files.iter().map(|f| f.contents.as_str()).collect();
        for w in sol.workloads.iter().filter(|w| !w.container.secrets.is_empty()) {
            let on_k8s = files.iter().any(|f| f.path.ends_with(&format!("/10-{}.yaml", w.name)));
            if on_k8s {
                assert!(all.contains(&format!("name: {}-secrets", w.name)), "{ex}: {}", w.name);
            }
        }
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// Writes every example's output for the validators (see the module docs).
#[test]
#[ignore]
fn write_outputs_for_validation() {
    let root = std::env::var("IOTC_K8S_OUT").unwrap_or_else(|_| "/tmp/iotc-out".into());
    for c in cases() {
        let ex = c.name.clone();
        let dir = Path::new(&root).join(&ex);
        let _ = std::fs::remove_dir_all(&dir);
        for f in k8s_files(&solution(&c)) {
            let path = dir.join(&f.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &f.contents).unwrap();
        }
        println!("wrote {}", dir.display());
    }
}

/// The parsed documents of one emitted file.
fn docs_of(files: &[OutputFile], path: &str) -> Vec<serde_json::Value> {
    let f = files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no file {path}"));
    documents(&f.contents)
        .iter()
        .map(|d| serde_norway::from_str(d).unwrap())
        .collect()
}

fn find<'a>(docs: &'a [serde_json::Value], kind: &str, name: &str) -> &'a serde_json::Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn skipped(obj: &serde_json::Value) -> Vec<String> {
    obj["metadata"]["annotations"]
        .as_object()
        .map(|a| {
            a.iter()
                .filter(|(k, _)| k.starts_with("checkov.io/skip"))
                .map(|(_, v)| v.as_str().unwrap().split('=').next().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn features_are_emitted_as_documented() {
    let files = k8s_files(&solution(&case("features")));

    // A digest-pinned image needs no pinning skip; a tag-pinned one does.
    let api = docs_of(&files, "k8s/cloud/10-api.yaml");
    let d = find(&api, "Deployment", "api");
    assert!(skipped(d).is_empty(), "{:?}", skipped(d));
    assert_eq!(d["spec"]["replicas"], 3);

    // GPU service: on the gpu pool, tolerating its taint, with the GPU as a limit.
    let scorer = docs_of(&files, "k8s/cloud/10-scorer.yaml");
    let pod = &find(&scorer, "Deployment", "scorer")["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"]["iotc.dev/pool"], "gpu");
    assert_eq!(pod["tolerations"][0]["key"], "nvidia.com/gpu");
    assert_eq!(pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"], "1");

    // A one-off job without retries: a Job that never restarts.
    let migrate = docs_of(&files, "k8s/cloud/10-migrate.yaml");
    let job = find(&migrate, "Job", "migrate");
    assert_eq!(job["spec"]["backoffLimit"], 0);
    assert_eq!(job["spec"]["activeDeadlineSeconds"], 600);
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"], "Never");

    // Autoscaling on a fleet: one HPA per site and no fixed replicas.
    for site in ["north", "south"] {
        let gate = docs_of(&files, &format!("k8s/yards/{site}/10-gate.yaml"));
        let d = find(&gate, "Deployment", &format!("gate-{site}"));
        assert!(d["spec"].get("replicas").is_none());
        assert_eq!(d["spec"]["template"]["spec"]["nodeSelector"]["iotc.dev/site"], site);
        let hpa = find(&gate, "HorizontalPodAutoscaler", &format!("gate-{site}"));
        assert_eq!(hpa["spec"]["maxReplicas"], 3);
        assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], format!("gate-{site}"));
    }

    // Critical with a standby device: anti-affinity, the standby toleration
    // where the site has one, a PodDisruptionBudget per site.
    // It leaves a silent node after 10 s, not the default 300 s.
    let interlock = docs_of(&files, "k8s/yards/north/10-interlock.yaml");
    let north = &find(&interlock, "Deployment", "interlock-north")["spec"]["template"]["spec"];
    let keys = |pod: &serde_json::Value| -> Vec<String> {
        pod["tolerations"]
            .as_array()
            .map(|a| a.iter().map(|t| t["key"].as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        keys(north),
        [
            "iotc.dev/standby",
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable"
        ]
    );
    assert_eq!(north["tolerations"][2]["tolerationSeconds"], 10);
    assert_eq!(north["tolerations"][2]["effect"], "NoExecute");
    assert_eq!(
        north["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"],
        "kubernetes.io/hostname"
    );
    let south_file = docs_of(&files, "k8s/yards/south/10-interlock.yaml");
    let south = &find(&south_file, "Deployment", "interlock-south")["spec"]["template"]["spec"];
    assert_eq!(
        keys(south),
        ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"],
        "south has no standby device"
    );
    assert_eq!(
        find(&interlock, "PodDisruptionBudget", "interlock-north")["spec"]["maxUnavailable"],
        1
    );

    // UDP: no probe, and the skips say why; a low user id is skipped too.
    let syslog = docs_of(&files, "k8s/yards/north/10-syslog.yaml");
    let d = find(&syslog, "Deployment", "syslog-north");
    let s = skipped(d);
    for id in ["CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_40"] {
        assert!(s.contains(&id.to_string()), "{s:?}");
    }
    assert_eq!(
        find(&syslog, "Service", "syslog")["spec"]["ports"][0]["protocol"],
        "UDP"
    );

    // Privileged only when asked, with its skips; a daemon's sized volume
    // is a per-node host directory; a negated selector is NotIn.
    let gpio = docs_of(&files, "k8s/yards/south/10-gpio.yaml");
    let ds = find(&gpio, "DaemonSet", "gpio");
    let s = skipped(ds);
    assert!(s.contains(&"CKV_K8S_16".to_string()) && s.contains(&"CKV_K8S_20".to_string()));
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["securityContext"]["privileged"], true);
    assert_eq!(
        pod["volumes"][0]["hostPath"]["path"],
        "/var/lib/iotc/features/gpio/spool"
    );
    let exprs = &pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        [0]["matchExpressions"];
    assert_eq!(exprs[0]["operator"], "NotIn");
    assert_eq!(exprs[1]["values"], serde_json::json!(["south"]));

    // An OCI artifact is an image volume, with no fetch container.
    let tracker = docs_of(&files, "k8s/yards/north/10-tracker-serve.yaml");
    let pod = &find(&tracker, "Deployment", "tracker-serve-north")["spec"]["template"]["spec"];
    assert!(pod.get("initContainers").is_none());
    let vol = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "iotc-model")
        .unwrap();
    assert_eq!(vol["image"]["reference"], "ghcr.io/acme/models/tracker:2");

    // Nothing else in the examples is privileged, except the device plugin
    // (in a namespace of its own).
    for c in cases().iter().filter(|c| is_example(c)) {
        for f in k8s_files(&solution(c)) {
            if f.path.ends_with("/05-device-plugin.yaml") {
                assert!(f.contents.contains("pod-security.kubernetes.io/enforce: privileged"));
                continue;
            }
            assert!(!f.contents.contains("privileged: true"), "{}: {}", c.name, f.path);
        }
    }
}

/// A folder with enough workloads for the backend to build them on several
/// threads: the files, their order and the kustomization are the same as
/// ever, run after run, and the streaming entry point hands over the same
/// files as `emit`.
#[test]
fn many_workloads_are_built_in_parallel_and_deterministically() {
    let mut src = String::from(
        "solution many {\n  version = \"1.0.0\"\n  namespace = \"many\"\n}\n\nimport std.devices\n\n\
         fleet edge {\n  device = std.devices.x86_gateway\n  runtime = k3s\n\
         site a { gateways = 2  hosts = \"gw{n}.a.internal\" }\n\
         site b { gateways = 1  hosts = \"gw{n}.b.internal\" }\n}\n",
    );
    for i in 0..40 {
        src.push_str(&format!(
            "\nservice svc{i:02} on edge {{\n  image = \"registry.example.com/svc{i:02}:1.0.0\"\n  port = {}\n  \
             replicas = 1 per gateway\n  cpu = 2m  memory = 4Mi\n}}\n",
            8000 + i
        ));
    }
    let db = MemoryDb::new().with("many/main.iot", &src);
    let sol = common::checked(&db, "many/main.iot");
    let first = k8s_files(&sol);
    for _ in 0..3 {
        assert_eq!(k8s_files(&sol), first);
    }
    let mut streamed = Vec::new();
    let flow = k8s::emit_each(&sol, &mut |f| {
        streamed.push(f);
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert!(flow.is_continue());
    streamed.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(streamed, first);
    let kustomization = first
        .iter()
        .find(|f| f.path == "k8s/edge/a/kustomization.yaml")
        .unwrap();
    let listed: Vec<&str> = kustomization
        .contents
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .filter(|l| l.starts_with("10-"))
        .collect();
    let expected: Vec<String> = (0..40).map(|i| format!("10-svc{i:02}.yaml")).collect();
    assert_eq!(listed, expected);
    // One Deployment per service and site, in the site's own folder.
    for site in ["a", "b"] {
        let svc07 = first
            .iter()
            .find(|f| f.path == format!("k8s/edge/{site}/10-svc07.yaml"))
            .unwrap();
        assert_eq!(svc07.contents.matches("kind: Deployment").count(), 1);
    }
    // A sink that stops early stops the backend.
    let mut taken = 0;
    let flow = k8s::emit_each(&sol, &mut |_| {
        taken += 1;
        if taken == 5 {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert!(flow.is_break());
    assert_eq!(taken, 5);
}

/// `kubectl apply -k k8s/<name>` on a fresh cluster: every document a
/// kustomization lists is of a built-in API group, so nothing waits for a
/// CRD, but on an EKS cluster whose secrets are synced, where Terraform
/// (applied first) installs the Secrets Store CSI add-on that brings the
/// `SecretProviderClass` CRD (tests/crds.rs checks the add-on); the
/// Prometheus Operator's kinds are only in `30-monitoring.yaml`, which no
/// kustomization lists and docs/k8s.md applies after the operator.
#[test]
fn kustomizations_apply_on_a_fresh_cluster() {
    const BUILT_IN: &[&str] = &[
        "v1",
        "apps/v1",
        "batch/v1",
        "policy/v1",
        "autoscaling/v2",
        "networking.k8s.io/v1",
        "rbac.authorization.k8s.io/v1",
        "storage.k8s.io/v1",
        "scheduling.k8s.io/v1",
    ];
    let mut custom = 0;
    for c in cases() {
        let sol = solution(&c);
        let files = k8s_files(&sol);
        for k in files.iter().filter(|f| f.path.ends_with("/kustomization.yaml")) {
            let dir = k.path.rsplit_once('/').unwrap().0;
            let synced = sol.clusters.iter().any(|cl| {
                dir == format!("k8s/{}", cl.name)
                    && cl.distribution == "eks"
                    && cl.secret_store.as_ref().is_some_and(|st| st.sync)
            });
            let v: serde_json::Value = serde_norway::from_str(documents(&k.contents)[0].as_str()).unwrap();
            for r in v["resources"].as_array().unwrap() {
                let path = format!("{dir}/{}", r.as_str().unwrap());
                let f = files.iter().find(|f| f.path == path).unwrap();
                for doc in documents(&f.contents) {
                    let d: serde_json::Value = serde_norway::from_str(&doc).unwrap();
                    let api = d["apiVersion"].as_str().unwrap_or_default();
                    assert!(
                        BUILT_IN.contains(&api) || (synced && api == "secrets-store.csi.x-k8s.io/v1"),
                        "{}: {path} lists a {api} {} that a fresh cluster has no CRD for",
                        c.name,
                        d["kind"]
                    );
                }
            }
        }
        for f in files.iter().filter(|f| f.path.ends_with("/30-monitoring.yaml")) {
            custom += documents(&f.contents).len();
        }
    }
    assert!(custom >= 2, "the examples monitor models: {custom} custom resources");
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/k8s.md")).unwrap();
    assert!(
        docs.contains("kubectl apply -f k8s/<name>/30-monitoring.yaml"),
        "docs/k8s.md gives the monitoring step"
    );
}
