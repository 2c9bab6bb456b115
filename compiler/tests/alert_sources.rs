#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Every alert reads a series that exists. Over every example and the
//! W0406 example (whose rules go to a Prometheus Operator), read from the
//! generated Kubernetes and Compose files, every alert rule:
//!
//! - selects (`service="…"` / `service=~"…"`) only workloads that the same
//!   Prometheus scrapes (a scrape job of its config, or a ServiceMonitor
//!   beside the PrometheusRule);
//! - over a model server, reads a series that server's image really
//!   serves: Triton's `nv_inference_…`. The stdlib's ONNX Runtime and TF
//!   Serving serve no Prometheus metrics, so nothing scrapes them and no
//!   rule selects them;
//! - over any other workload (a `metrics_from` client), reads the alert's
//!   own metric by name;
//!
//! and every alert of every monitored model has at least one rule.

use iotc_compiler::emit::prometheus::{Config, RuleFile};
use iotc_compiler::emit::{emit, Target};
use iotc_compiler::ir::{Solution, WorkloadKind, PROMETHEUS_RULES_FILE};
use serde_json::Value;
use std::collections::BTreeSet;

mod common;
use common::{checked, documents, example, Fs, EXAMPLES};

/// Which images serve which series (the serving runtimes' own docs).
const TRITON_IMAGE: &str = "nvcr.io/nvidia/tritonserver:";
const TRITON_SERIES: &str = "nv_inference_";
/// TF Serving serves TensorFlow's own series once a monitoring config
/// file enables them (checked by the test below).
const TF_SERVING_IMAGE: &str = "emacski/tensorflow-serving:";

/// One Prometheus's view: what it scrapes and the rules it evaluates.
struct Evaluator {
    at: String,
    scraped: BTreeSet<String>,
    rules: Vec<(String, Value)>,
}

fn rules_of(text: &str) -> Vec<(String, Value)> {
    let file: RuleFile = serde_norway::from_str(text).unwrap();
    let file = serde_json::to_value(file).unwrap();
    let mut out = Vec::new();
    for g in file["groups"].as_array().unwrap() {
        for r in g["rules"].as_array().unwrap() {
            out.push((r["expr"].as_str().unwrap().to_string(), r.clone()));
        }
    }
    out
}

fn jobs_of(text: &str) -> BTreeSet<String> {
    let config: Config = serde_norway::from_str(text).unwrap();
    config.scrape_configs.iter().map(|j| j.job_name.clone()).collect()
}

/// Every Prometheus (and Prometheus Operator file) of the solution's
/// Kubernetes and Compose output.
fn evaluators(sol: &Solution) -> Vec<Evaluator> {
    let config_files: Vec<&str> = sol.monitoring.iter().map(|m| m.config_file.as_str()).collect();
    let mut out = Vec::new();
    for f in emit(sol, &[Target::K8s, Target::Compose]).unwrap() {
        if f.path.starts_with("compose/") && f.path.ends_with("compose.yaml") {
            let stack = common::yaml(&f.contents);
            let configs = stack["configs"].as_object().cloned().unwrap_or_default();
            for (key, config) in &configs {
                let Some(stem) = key.strip_suffix("-prometheus-yml") else {
                    continue;
                };
                let text = |v: &Value| v["content"].as_str().unwrap().replace("$$", "$");
                let rules = &configs[&format!("{stem}-alerts-yml")];
                out.push(Evaluator {
                    at: format!("{}:{stem}", f.path),
                    scraped: jobs_of(&text(config)),
                    rules: rules_of(&text(rules)),
                });
            }
            continue;
        }
        if !f.path.starts_with("k8s/") || !f.path.ends_with(".yaml") {
            continue;
        }
        let docs = documents(&f.contents);
        // The operator's view of one file: its ServiceMonitors and rules.
        let mut operator = Evaluator {
            at: f.path.clone(),
            scraped: BTreeSet::new(),
            rules: Vec::new(),
        };
        for doc in &docs {
            match doc["kind"].as_str() {
                Some("ConfigMap") => {
                    let Some(data) = doc["data"].as_object() else { continue };
                    let Some(config) = data.iter().find(|(k, _)| config_files.contains(&k.as_str())) else {
                        continue;
                    };
                    out.push(Evaluator {
                        at: f.path.clone(),
                        scraped: jobs_of(config.1.as_str().unwrap()),
                        rules: rules_of(data[PROMETHEUS_RULES_FILE].as_str().unwrap()),
                    });
                }
                Some("ServiceMonitor") => {
                    let name = &doc["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"];
                    operator.scraped.insert(name.as_str().unwrap().to_string());
                }
                Some("PrometheusRule") => {
                    let file = serde_json::json!({ "groups": doc["spec"]["groups"] });
                    operator.rules.extend(rules_of(&serde_json::to_string(&file).unwrap()));
                }
                _ => {}
            }
        }
        if !operator.rules.is_empty() || !operator.scraped.is_empty() {
            out.push(operator);
        }
    }
    out
}

/// The `service` label values an expression selects.
fn services(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in expr.match_indices("service=") {
        let rest = &expr[i + "service=".len()..];
        let rest = rest.strip_prefix('~').unwrap_or(rest);
        let value = rest.strip_prefix('"').unwrap().split('"').next().unwrap();
        out.extend(value.split('|').map(str::to_string));
    }
    out
}

fn check(name: &str, sol: &Solution) -> usize {
    let mut rules_seen = 0;
    // (model, metric) of every rule written.
    let mut covered: BTreeSet<(String, String)> = BTreeSet::new();
    for e in evaluators(sol) {
        for (expr, rule) in &e.rules {
            let model = rule["labels"]["model"].as_str().unwrap().to_string();
            // "<model> <metric> <op> <threshold>…"
            let summary = rule["annotations"]["summary"].as_str().unwrap();
            let metric = summary.split(' ').nth(1).unwrap().to_string();
            let selected = services(expr);
            assert!(!selected.is_empty(), "{name} {}: `{expr}` selects no service", e.at);
            for s in &selected {
                assert!(
                    e.scraped.contains(s),
                    "{name} {}: `{expr}` selects {s}, which this Prometheus does not scrape",
                    e.at
                );
                let w = sol.workloads.iter().find(|w| &w.name == s).unwrap();
                if w.kind == WorkloadKind::Serve {
                    assert!(
                        w.container.image.starts_with(TRITON_IMAGE) && expr.contains(TRITON_SERIES),
                        "{name} {}: `{expr}` reads {s} ({}), which does not serve that series",
                        e.at,
                        w.container.image
                    );
                } else {
                    let bare = expr.trim_start_matches('(');
                    assert!(
                        bare.starts_with(&format!("{metric}{{")),
                        "{name} {}: `{expr}` over {s} does not read `{metric}`",
                        e.at
                    );
                }
            }
            covered.insert((model, metric));
            rules_seen += 1;
        }
        // Nothing scrapes a server whose image serves no metrics.
        for s in &e.scraped {
            let Some(w) = sol.workloads.iter().find(|w| &w.name == s) else {
                continue;
            };
            if w.kind == WorkloadKind::Serve {
                assert!(
                    w.container.image.starts_with(TRITON_IMAGE) || w.container.image.starts_with(TF_SERVING_IMAGE),
                    "{name} {}: scrapes {s} ({}), which serves no metrics",
                    e.at,
                    w.container.image
                );
            }
        }
    }
    for m in sol.models.iter().filter(|m| m.monitored) {
        for a in &m.alerts {
            assert!(
                covered.contains(&(m.name.clone(), a.metric.clone())),
                "{name}: alert {} {} has no rule",
                m.name,
                a.metric
            );
        }
    }
    rules_seen
}

#[test]
fn every_alert_reads_a_series_its_prometheus_scrapes() {
    let mut total = 0;
    for name in EXAMPLES {
        total += check(name, &example(name));
    }
    // The W0406 example: rules and ServiceMonitors for an operator.
    let w0406 = common::repo().join("examples/errors/W0406_monitored_model_without_prometheus.iot");
    let sol = checked(&Fs, w0406.to_str().unwrap());
    assert!(check("W0406", &sol) > 0, "the W0406 example writes rules");
    // Factory: accuracy and latency from the collectors at each plant,
    // latency from Triton in the cloud; city and energy from clients.
    assert!(total >= 8, "{total} rules checked");
}

const BASE: &str = r#"
solution demo { version = "1.0.0" }
import std.devices
import std.cloud
import std.ml
cluster cloud {
  provider = aws { region = "eu-west-1" }
  node = std.cloud.aws_m6i_xlarge
  nodes = 2
}
service client on cloud {
  image = "ghcr.io/acme/client:1.0.0"
  port = 9102
  METRICS
  talks_to = [detector]
}
job nightly on cloud {
  image = "ghcr.io/acme/nightly:1.0.0"
  schedule = "0 2 * * *"
}
model detector {
  format = onnx
  version = "1"
  artifact = "s3://acme-models/detector/1/model.onnx"
  serve on cloud { runtime = RUNTIME }
  monitor {
    FROM
    alert METRIC > 0.5 for 5m
  }
}
"#;

/// The diagnostic codes of BASE with its placeholders filled.
fn codes(metrics: &str, runtime: &str, from: &str, metric: &str) -> Vec<String> {
    let src = BASE
        .replace("METRICS", metrics)
        .replace("RUNTIME", runtime)
        .replace("FROM", from)
        .replace("METRIC", metric);
    common::errors(&src)
        .iter()
        .map(|d| d.code.as_str().to_string())
        .collect()
}

#[test]
fn an_alert_needs_a_source_that_exports_its_metric() {
    let m = "metrics = \"/metrics\"";
    // Triton provides its latency; nothing else is provided.
    assert_eq!(codes(m, "std.ml.triton", "", "latency_p95_ms"), Vec::<String>::new());
    assert_eq!(codes(m, "std.ml.triton", "", "accuracy"), ["E0408"]);
    assert_eq!(codes(m, "std.ml.onnxruntime", "", "latency_p95_ms"), ["E0408"]);
    // A client that serves metrics is a source; one without, or a job, is
    // not; an unknown name is E0101.
    assert_eq!(
        codes(m, "std.ml.onnxruntime", "metrics_from = [client]", "accuracy"),
        Vec::<String>::new()
    );
    assert_eq!(
        codes("", "std.ml.onnxruntime", "metrics_from = [client]", "accuracy"),
        ["E0408"]
    );
    assert_eq!(
        codes(m, "std.ml.onnxruntime", "metrics_from = [nightly]", "accuracy"),
        ["E0408"]
    );
    assert_eq!(
        codes(m, "std.ml.onnxruntime", "metrics_from = [clinet]", "accuracy"),
        ["E0101"]
    );
}

#[test]
fn a_runtime_that_provides_metrics_serves_them() {
    let src = BASE
        .replace("METRICS", "")
        .replace("RUNTIME", "mine")
        .replace("FROM", "")
        .replace("METRIC", "queue_ms")
        + r#"
serving mine {
  image = "ghcr.io/acme/server:1.0.0"
  formats = [onnx]
  port = 8080
  provides { queue_ms = "my_queue_ms{ {selector} }" }
}
"#;
    let errors: Vec<String> = common::errors(&src)
        .iter()
        .map(|d| d.code.as_str().to_string())
        .collect();
    assert_eq!(errors, ["E0106"], "`provides` without `metrics`");
    let with_path = src.replace(
        "port = 8080\n  provides",
        "port = 8080\n  metrics = \"/metrics\"\n  provides",
    );
    let sol = checked(
        &iotc_compiler::source::MemoryDb::new().with("t.iot", &with_path),
        "t.iot",
    );
    let alert = &sol.models[0].alerts[0];
    assert_eq!(alert.provided_by["detector-serve"], "my_queue_ms{ {selector} }");
    assert!(!alert.from_exporters);
}

/// TF Serving serves its metrics only where a monitoring config file
/// enables them at a path: every TF Serving server the examples run is
/// given `--monitoring_config_file=P`, P is mounted into its container
/// (a ConfigMap key at P's folder on Kubernetes, a config at P in
/// Compose), and the file enables Prometheus at the path it is scraped at.
#[test]
fn every_tf_serving_server_has_the_monitoring_config_it_is_scraped_through() {
    let mut checked = 0;
    for name in EXAMPLES {
        let sol = example(name);
        for w in sol
            .workloads
            .iter()
            .filter(|w| w.container.image.starts_with(TF_SERVING_IMAGE))
        {
            let path = w
                .container
                .args
                .iter()
                .find_map(|a| a.strip_prefix("--monitoring_config_file="))
                .unwrap_or_else(|| panic!("{name}: {} has no monitoring config", w.name));
            let metrics = w.container.metrics.clone().unwrap();
            let enables = |text: &str| {
                assert!(text.contains("prometheus_config"), "{name}: {text}");
                assert!(text.contains("enable: true"), "{name}: {text}");
                assert!(
                    text.contains(&format!("path: \"{metrics}\"")),
                    "{name}: {text} at {metrics}"
                );
            };
            let (dir, file) = path.rsplit_once('/').unwrap();
            for f in emit(&sol, &[Target::K8s, Target::Compose]).unwrap() {
                if f.path.starts_with("compose/") && f.path.ends_with("compose.yaml") {
                    let stack = common::yaml(&f.contents);
                    let Some(svc) = stack["services"].get(&w.name) else {
                        continue;
                    };
                    let source = svc["configs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|c| c["target"] == path)
                        .unwrap_or_else(|| panic!("{name} {}: {path} not mounted", f.path))["source"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    enables(stack["configs"][&source]["content"].as_str().unwrap());
                    checked += 1;
                } else if f.path.starts_with("k8s/") && f.path.ends_with(".yaml") {
                    let docs = documents(&f.contents);
                    for d in docs.iter().filter(|d| {
                        matches!(d["kind"].as_str(), Some("Deployment" | "DaemonSet"))
                            && d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == w.name.as_str()
                    }) {
                        let pod = &d["spec"]["template"]["spec"];
                        let c = &pod["containers"][0];
                        let mount = c["volumeMounts"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|m| m["mountPath"] == dir)
                            .unwrap_or_else(|| panic!("{name} {}: nothing mounted at {dir}", f.path));
                        let volume = pod["volumes"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|v| v["name"] == mount["name"])
                            .unwrap();
                        let cm_name = volume["configMap"]["name"].as_str().unwrap();
                        let cm = docs
                            .iter()
                            .find(|x| x["kind"] == "ConfigMap" && x["metadata"]["name"] == cm_name)
                            .unwrap_or_else(|| panic!("{name} {}: no ConfigMap {cm_name}", f.path));
                        enables(cm["data"][file].as_str().unwrap());
                        checked += 1;
                    }
                }
            }
        }
    }
    // city: a server at each of its three camera sites; energy: one per
    // farm's Compose stack.
    assert!(checked >= 6, "{checked} TF Serving servers checked");
}

/// A serving runtime's files are mounted with their folder: only a folder
/// of their own under `/etc`, every part a plain name (E0212 otherwise).
#[test]
fn serving_files_live_in_a_folder_of_their_own_under_etc() {
    let with = |path: &str| {
        let src = BASE
            .replace("METRICS", "metrics = \"/metrics\"")
            .replace("RUNTIME", "mine")
            .replace("FROM", "metrics_from = [client]")
            .replace("METRIC", "accuracy")
            + &format!(
                "serving mine {{\n  image = \"ghcr.io/acme/server:1.0.0\"\n  formats = [onnx]\n  port = 8080\n  files {{ \"{path}\" = \"x\" }}\n}}\n"
            );
        common::errors(&src)
            .iter()
            .map(|d| d.code.as_str().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(with("/etc/acme/server.conf"), Vec::<String>::new());
    for bad in [
        "/etc/server.conf",
        "/models/x.conf",
        "etc/acme/x.conf",
        "/etc/acme/../x.conf",
        "/etc/acme/.x",
        "/etc//x",
    ] {
        assert_eq!(with(bad), ["E0212"], "{bad}");
    }
}
