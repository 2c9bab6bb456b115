#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The model lifecycle on every example: a training run never writes the
//! version that is served (neither by its environment nor by what its IAM
//! role allows), and every serving runtime reads the model exactly where
//! the fetch puts it.

use iotc_compiler::emit::{emit, Target};
use iotc_compiler::ir::{model_file, Placement, Solution, WorkloadKind};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, PodSpec};
use std::path::Path;

mod common;
use common::{example, EXAMPLES};

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
                // The model store is the bucket Terraform manages.
                let in_store = key.split_once('/').unwrap().1;
                let arn = format!("${{aws_s3_bucket.artifacts.arn}}/{in_store}");
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
                // Both sides as a path inside the volume: the fetch's mount
                // and the server's (a sub path on a fleet's disk cache).
                let in_volume = |c: &k8s_openapi::api::core::v1::Container, path: &str| {
                    let v = c
                        .volume_mounts
                        .iter()
                        .flatten()
                        .find(|v| v.name == "iotc-model")
                        .unwrap();
                    let rest = path
                        .strip_prefix(&format!("{}/", v.mount_path))
                        .unwrap_or_else(|| panic!("{name}: {path} is outside {}", v.mount_path));
                    match &v.sub_path {
                        Some(sub) => format!("{sub}/{rest}"),
                        None => rest.to_string(),
                    }
                };
                assert_eq!(in_volume(fetch, &dest), in_volume(main, &reads), "{name}: {}", w.name);
            }
        }
    }
    assert!(servers >= 4, "{servers} model servers checked");
}

/// The Kubernetes pods of the model servers, by workload name.
fn server_pods(k8s: &[(String, String)]) -> Vec<(String, PodSpec)> {
    let mut pods = Vec::new();
    for (_, d) in k8s {
        if d.contains("\nkind: Deployment\n") {
            let x: Deployment = serde_norway::from_str(d).unwrap();
            let spec = x.spec.unwrap().template.spec.unwrap();
            if spec.init_containers.iter().flatten().any(|c| c.name == "fetch-model") {
                pods.push((x.metadata.name.unwrap(), spec));
            }
        }
    }
    pods
}

#[test]
fn a_training_run_writes_a_version_named_after_its_job() {
    use k8s_openapi::api::batch::v1::CronJob;
    let mut runs = 0;
    for name in EXAMPLES {
        let sol = example(name);
        for (_, d) in docs(&sol, Target::K8s) {
            if !d.contains("\nkind: CronJob\n") {
                continue;
            }
            let cj: CronJob = serde_norway::from_str(&d).unwrap();
            let cj_name = cj.metadata.name.clone().unwrap();
            let Some(w) = sol
                .workloads
                .iter()
                .find(|w| w.kind == WorkloadKind::Train && w.name == cj_name)
            else {
                continue;
            };
            let m = w.model.as_ref().unwrap();
            runs += 1;
            let pod = cj.spec.unwrap().job_template.spec.unwrap().template.spec.unwrap();
            let env = pod.containers[0].env.clone().unwrap_or_default();
            let run = env.iter().find(|e| e.name == "IOTC_RUN_ID").expect("the run's id");
            let field = run.value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
            assert_eq!(field.field_path, "metadata.labels['batch.kubernetes.io/job-name']");
            let output = env
                .iter()
                .find(|e| e.name == "IOTC_MODEL_OUTPUT")
                .and_then(|e| e.value.clone())
                .unwrap();
            let run_at = output.find("$(IOTC_RUN_ID)").unwrap();
            let i = env.iter().position(|e| e.name == "IOTC_RUN_ID").unwrap();
            let o = env.iter().position(|e| e.name == "IOTC_MODEL_OUTPUT").unwrap();
            assert!(i < o, "{name}: $(IOTC_RUN_ID) is expanded only after its definition");
            // The output is the served artifact exactly when the run's
            // name is the served version. A CronJob names its Jobs
            // `<cronjob>-<scheduled minute>`, which only grows, so the
            // next run is never the served version (even a promoted run).
            let served = output.replace("$(IOTC_RUN_ID)", &m.version);
            assert_eq!(
                served, m.artifact,
                "{name}: the run's folder sits beside the served one"
            );
            let next = output.replace("$(IOTC_RUN_ID)", &format!("{cj_name}-29000000"));
            assert_ne!(next, m.artifact);
            assert_eq!(output.get(..run_at).unwrap(), m.store);
        }
    }
    assert!(runs >= 3, "{runs} training jobs checked");
}

/// Runs a fetch script with `sh`, the WAN down (`aws` and `curl` fail and
/// leave a mark), with `IOTC_DEST` moved under `root`.
fn run_offline(script: &str, env: &[(String, String)], root: &Path) -> (bool, bool) {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let mark = root.join("wan-used");
    let _ = std::fs::remove_file(&mark);
    for tool in ["aws", "curl"] {
        let p = bin.join(tool);
        std::fs::write(&p, format!("#!/bin/sh\ntouch '{}'\nexit 7\n", mark.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(script).env_clear();
    cmd.env("PATH", format!("{}:/usr/bin:/bin", bin.display()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let ok = cmd.status().unwrap().success();
    (ok, mark.exists())
}

fn sha256_of(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Checks one fetch script offline: a verified cached copy starts the
/// server without the WAN; a damaged or missing one goes to the WAN.
fn restarts_offline(what: &str, script: &str, env: &[(String, String)], scratch: &Path) {
    let dest = env.iter().find(|(k, _)| k == "IOTC_DEST").unwrap().1.clone();
    let local = scratch.join(dest.trim_start_matches('/'));
    std::fs::create_dir_all(local.parent().unwrap()).unwrap();
    std::fs::write(&local, b"model bytes").unwrap();
    let mut env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| match k.as_str() {
            "IOTC_DEST" => (k.clone(), local.display().to_string()),
            // The artifact's real bytes are not here: pin the test file's.
            "IOTC_SHA256" => (k.clone(), sha256_of(&local)),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    env.retain(|(k, _)| k != "HOME");
    env.push(("HOME".into(), scratch.display().to_string()));
    let (ok, wan) = run_offline(script, &env, scratch);
    assert!(ok && !wan, "{what}: a restart with the version cached needs the WAN");
    if env.iter().any(|(k, _)| k == "IOTC_SHA256") {
        std::fs::write(&local, b"damaged").unwrap();
        let (ok, wan) = run_offline(script, &env, scratch);
        assert!(!ok && wan, "{what}: a damaged cache is served");
        assert_eq!(
            std::fs::read(&local).unwrap(),
            b"damaged",
            "{what}: the failed fetch replaced the file"
        );
    }
    std::fs::remove_file(&local).unwrap();
    let (ok, wan) = run_offline(script, &env, scratch);
    assert!(!ok && wan, "{what}: an empty cache does not fetch");
}

#[test]
fn a_restart_needs_no_wan_when_the_served_version_is_cached() {
    let scratch = std::env::temp_dir().join(format!("iotc-model-cache-{}", std::process::id()));
    let mut checked = 0;
    for name in EXAMPLES {
        let sol = example(name);
        // Kubernetes: the fleet servers' init container, on a hostPath.
        for (pod_name, pod) in server_pods(&docs(&sol, Target::K8s)) {
            let Some(w) = sol.workloads.iter().find(|w| {
                w.kind == WorkloadKind::Serve
                    && pod_name.starts_with(&w.name)
                    && matches!(w.placement, Placement::Fleet { .. })
            }) else {
                continue;
            };
            let m = w.model.as_ref().unwrap();
            let volume = pod.volumes.iter().flatten().find(|v| v.name == "iotc-model").unwrap();
            let host = volume
                .host_path
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: {pod_name} caches its model in memory"));
            assert_eq!(host.type_.as_deref(), Some("Directory"), "{name}: Ansible creates it");
            let main = &pod.containers[0];
            let mount = main
                .volume_mounts
                .iter()
                .flatten()
                .find(|v| v.name == "iotc-model")
                .unwrap();
            assert_eq!(mount.sub_path.as_deref(), Some(m.cache_key.as_str()));
            assert!(m.cache_key.starts_with(&m.version));
            let fetch = pod
                .init_containers
                .iter()
                .flatten()
                .find(|c| c.name == "fetch-model")
                .unwrap();
            let command = fetch.command.clone().unwrap();
            let env: Vec<(String, String)> = fetch
                .env
                .iter()
                .flatten()
                .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
                .collect();
            restarts_offline(
                &format!("{name}: {pod_name}"),
                &command[2],
                &env,
                &scratch.join(&pod_name),
            );
            checked += 1;
        }
        // Compose downloads nothing: Ansible stages the model in the
        // folder the server bind-mounts (tests/docker_fleets.rs).
        for f in emit(&sol, &[Target::Compose]).unwrap() {
            let doc: serde_json::Value = serde_norway::from_str(&f.contents).unwrap();
            for (svc, s) in doc["services"].as_object().cloned().unwrap_or_default() {
                assert!(
                    s["environment"]["IOTC_DEST"].is_null(),
                    "{}: {svc} fetches a model",
                    f.path
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(checked >= 4, "{checked} fetches checked");
}

#[test]
fn one_model_store_is_created_and_referenced_everywhere() {
    let mut checked = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let Some(bucket) = sol.models.iter().find_map(|m| {
            m.artifact
                .strip_prefix("s3://")
                .and_then(|r| r.split_once('/'))
                .map(|(b, _)| b)
        }) else {
            continue;
        };
        for (path, d) in docs(&sol, Target::Terraform) {
            if !path.ends_with(".tf.json") || !d.contains("\"aws_s3_bucket\"") {
                continue;
            }
            checked += 1;
            let tf: serde_json::Value = serde_json::from_str(&d).unwrap();
            let buckets = tf["resource"]["aws_s3_bucket"].as_object().unwrap();
            assert_eq!(buckets.len(), 1, "{name}: {path} creates one bucket");
            assert_eq!(
                buckets["artifacts"]["bucket"], bucket,
                "{name}: the store is the models' bucket"
            );
            // No policy names the store by a literal ARN or a prefix no
            // model uses.
            assert!(
                !d.contains(&format!("s3:::{bucket}")),
                "{name}: {path} names the store literally"
            );
            assert!(
                !d.contains("/models/"),
                "{name}: {path} grants a models/ prefix nothing uses"
            );
        }
    }
    assert!(checked >= 1, "{checked} model stores checked");
}
