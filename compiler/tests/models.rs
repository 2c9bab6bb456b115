#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The model lifecycle on every example: a training run never writes the
//! version that is served (neither by its environment nor by what its IAM
//! role allows), and every serving runtime reads the model exactly where
//! the fetch puts it.

use iotc_compiler::emit::{emit, Target};
use iotc_compiler::ir::{model_file, Solution, WorkloadKind};
use iotc_compiler::source::MemoryDb;
use iotc_compiler::{analyze, Overrides};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, PodSpec};
use std::path::Path;

const EXAMPLES: &[&str] = &["factory", "city", "energy"];

fn example(name: &str) -> Solution {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name);
    let mut db = MemoryDb::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "iot") {
            let f = p.file_name().unwrap().to_string_lossy().into_owned();
            db = db.with(&format!("{name}/{f}"), &std::fs::read_to_string(&p).unwrap());
        }
    }
    let a = analyze(&db, &format!("{name}/{name}.iot"), &Overrides::default());
    a.solution.unwrap()
}

fn docs(sol: &Solution, target: Target) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in emit(sol, &[target]).unwrap() {
        for d in f.contents.split("\n---\n") {
            out.push((f.path.clone(), d.to_string()));
        }
    }
    out
}

#[test]
fn a_training_run_never_writes_the_served_version() {
    let mut trained = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let k8s = docs(&sol, Target::K8s);
        for w in sol.workloads.iter().filter(|w| w.kind == WorkloadKind::Train) {
            let m = w.model.as_ref().unwrap();
            trained += 1;
            // The served artifact is one version inside the store; a run
            // writes `<store><new version>/<file>`.
            assert_eq!(
                m.artifact,
                format!("{}{}/{}", m.store, m.version, m.artifact.rsplit('/').next().unwrap()),
                "{name}: the served artifact is a version folder of the store"
            );
            let cm: ConfigMap = k8s
                .iter()
                .filter(|(_, d)| d.contains("kind: ConfigMap"))
                .map(|(_, d)| serde_norway::from_str::<ConfigMap>(d).unwrap())
                .find(|c| c.metadata.name.as_deref() == Some(&format!("{}-env", w.name)))
                .unwrap();
            let data = cm.data.unwrap();
            assert_eq!(data["IOTC_MODEL_STORE"], m.store);
            assert_eq!(data["IOTC_MODEL_FILE"], model_file(&m.format));
            assert!(
                data.values().all(|v| *v != m.artifact),
                "{name}: {} is told the served artifact",
                w.name
            );
        }
        // IAM: the role of a training job may not put the served key.
        for (path, d) in docs(&sol, Target::Terraform) {
            if !path.ends_with(".tf.json") {
                continue;
            }
            let tf: serde_json::Value = serde_json::from_str(&d).unwrap();
            for m in sol.models.iter().filter(|m| m.train.is_some()) {
                let Some(key) = m.artifact.strip_prefix("s3://") else {
                    continue;
                };
                let arn = format!("arn:${{data.aws_partition.current.partition}}:s3:::{key}");
                let policies = tf["resource"]["aws_iam_role_policy"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let mut denied = false;
                for (_, p) in policies {
                    // `${jsonencode({"k" = v, …})}` read back as JSON.
                    let hcl = p["policy"].as_str().unwrap();
                    let inner = hcl.strip_prefix("${jsonencode(").unwrap().strip_suffix(")}").unwrap();
                    let doc: serde_json::Value = serde_json::from_str(&inner.replace("\" = ", "\": ")).unwrap();
                    for s in doc["Statement"].as_array().cloned().unwrap_or_default() {
                        let res: Vec<String> = match &s["Resource"] {
                            serde_json::Value::String(r) => vec![r.clone()],
                            serde_json::Value::Array(a) => {
                                a.iter().filter_map(|r| r.as_str().map(String::from)).collect()
                            }
                            _ => vec![],
                        };
                        let puts = s["Action"].to_string().contains("s3:PutObject");
                        if puts && res.contains(&arn) {
                            assert_eq!(s["Effect"], "Deny", "{name}: {path} allows writing {arn}");
                            denied = true;
                        }
                    }
                }
                assert!(denied, "{name}: no role denies overwriting {arn}");
            }
        }
    }
    assert!(trained >= 3, "every example trains a model: {trained}");
}

/// The path the runtime reads, from the arguments it is started with.
fn runtime_reads(image: &str, args: &[String], model: &str, version: &str, format: &str) -> String {
    let arg = |k: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{image} lacks {k} in {args:?}"))
            .to_string()
    };
    let file = model_file(format);
    if image.contains("onnxruntime-server") {
        // ${model_dir}/${model_name}/${version}/model.onnx
        format!("{}/{model}/{version}/{file}", arg("--model-dir"))
    } else if image.contains("tritonserver") {
        // <repository>/<model>/<version>/model.<ext>
        format!("{}/{model}/{version}/{file}", arg("--model-repository"))
    } else if image.contains("tensorflow-serving") {
        // <model_base_path>/<version>/model.tflite, served as <model_name>
        assert_eq!(arg("--model_name"), model);
        format!("{}/{version}/{file}", arg("--model_base_path"))
    } else {
        panic!("a serving runtime the test does not know: {image}")
    }
}

#[test]
fn every_runtime_reads_the_model_where_it_is_placed() {
    let mut servers = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let k8s = docs(&sol, Target::K8s);
        let mut pods: Vec<(String, PodSpec)> = Vec::new();
        for (_, d) in &k8s {
            if d.contains("\nkind: Deployment\n") {
                let x: Deployment = serde_norway::from_str(d).unwrap();
                pods.push((x.metadata.name.unwrap(), x.spec.unwrap().template.spec.unwrap()));
            } else if d.contains("\nkind: DaemonSet\n") {
                let x: DaemonSet = serde_norway::from_str(d).unwrap();
                pods.push((x.metadata.name.unwrap(), x.spec.unwrap().template.spec.unwrap()));
            }
        }
        for w in sol.workloads.iter().filter(|w| w.kind == WorkloadKind::Serve) {
            let m = w.model.as_ref().unwrap();
            let mine: Vec<&PodSpec> = pods
                .iter()
                .filter(|(n, _)| n == &w.name || n.starts_with(&format!("{}-", w.name)))
                .map(|(_, p)| p)
                .collect();
            for pod in mine {
                servers += 1;
                let main = &pod.containers[0];
                let args = main.args.clone().unwrap_or_default();
                let reads = runtime_reads(&main.image.clone().unwrap(), &args, &m.model, &m.version, &m.format);
                assert_eq!(reads, m.path, "{name}: {}", w.name);
                // The fetch writes exactly there, into the volume the
                // server mounts over that path.
                let fetch = pod
                    .init_containers
                    .iter()
                    .flatten()
                    .find(|c| c.name == "fetch-model")
                    .unwrap();
                let dest = fetch
                    .env
                    .iter()
                    .flatten()
                    .find(|e| e.name == "IOTC_DEST")
                    .and_then(|e| e.value.clone())
                    .unwrap();
                assert_eq!(dest, reads, "{name}: {}", w.name);
                let mount = main
                    .volume_mounts
                    .iter()
                    .flatten()
                    .find(|v| v.name == "iotc-model")
                    .unwrap();
                assert!(
                    reads.starts_with(&format!("{}/", mount.mount_path)),
                    "{name}: {}",
                    w.name
                );
            }
        }
    }
    assert!(servers >= 4, "{servers} model servers checked");
}
