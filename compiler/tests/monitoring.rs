#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Monitoring works on a fresh cluster without the Prometheus Operator, and
//! no admin UI is public on plain HTTP. Over every example and a fixture
//! with a cluster daemon and a Prometheus on a k3s fleet, read from the
//! generated Kubernetes and Terraform files:
//!
//! - every workload with `metrics` (or a monitored model's server) in a
//!   group with a Prometheus is a scrape job of it, found through a
//!   headless Service over its pods on the port its pods declare, and the
//!   network policies admit that scrape (Prometheus egress, target ingress);
//! - the Prometheus reads its config and rule file from a mounted ConfigMap
//!   at the path its `--config.file` names;
//! - each Grafana's provisioned datasource points at a Prometheus Service
//!   and port, and the policies admit the query;
//! - every ConfigMap a pod mounts exists in its folder;
//! - a public HTTP workload is reached only through a TLS Ingress, and no
//!   security group opens its plain port to the public.

use iotc_compiler::emit::prometheus::{Config, Datasources, RuleFile};
use iotc_compiler::emit::{emit, Target};
use iotc_compiler::ir::{ExposureKind, Solution, WorkloadKind, GRAFANA_TEMPLATE, PROMETHEUS_TEMPLATE};
use iotc_compiler::source::MemoryDb;
use serde_json::Value;
use std::collections::BTreeMap;

mod common;
use common::{checked, documents, example, EXAMPLES};

const FIXTURE: &str = r#"
solution watch {
  version = "1.0.0"
  namespace = "watch"
}

import std.devices
import std.cloud
import std.services

cluster ops {
  provider = aws { region = "eu-central-1" }
  node = std.cloud.aws_m6i_xlarge
  nodes = 3
  domain = "ops.example.test"
}

fleet yards {
  device = std.devices.x86_gateway
  runtime = k3s
  site north {
    gateways = 2
    hosts = "gw{n}.north.yards.internal"
  }
}

service api on ops {
  image = "ghcr.io/acme/api:1.0.0"
  port = 8080
  health = "/healthz"
  metrics = "/stats/prometheus"
  replicas = 2
}

daemon node_metrics on ops from std.services.node_exporter {}
service prometheus on ops from std.services.prometheus {}
service grafana on ops from std.services.grafana { public = true }

daemon yard_metrics on yards from std.services.node_exporter {}
service yard_prometheus on yards from std.services.prometheus {
  volume data { mount = "/prometheus"  size = 5Gi }
}
"#;

fn fixture() -> Solution {
    checked(&MemoryDb::new().with("watch.iot", FIXTURE), "watch.iot")
}

/// The fixture with a Prometheus and a Grafana that bring their own config
/// folders: iotc mounts nothing over them.
fn own_configs() -> Solution {
    let src = FIXTURE
        .replace(
            "service prometheus on ops from std.services.prometheus {}",
            "service prometheus on ops from std.services.prometheus {\n  volume config { mount = \"/etc/prometheus\"  size = 1Gi }\n}",
        )
        .replace(
            "service grafana on ops from std.services.grafana { public = true }",
            "service grafana on ops from std.services.grafana {\n  public = true\n  volume ds { mount = \"/etc/grafana/provisioning/datasources\"  size = 1Gi }\n}",
        );
    assert_ne!(src, FIXTURE);
    checked(&MemoryDb::new().with("watch.iot", &src), "watch.iot")
}

/// Every solution under test, by name.
fn solutions() -> Vec<(String, Solution)> {
    let mut out: Vec<(String, Solution)> = EXAMPLES.iter().map(|n| (n.to_string(), example(n))).collect();
    out.push(("fixture".into(), fixture()));
    out.push(("own-configs".into(), own_configs()));
    out
}

/// The documents of every Kubernetes folder, by folder (`cloud`,
/// `plants/plant-a`).
fn folders(sol: &Solution) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for f in emit(sol, &[Target::K8s]).unwrap() {
        let Some(rest) = f.path.strip_prefix("k8s/") else {
            continue;
        };
        let Some((dir, file)) = rest.rsplit_once('/') else {
            continue;
        };
        if file == "kustomization.yaml" {
            continue;
        }
        out.entry(dir.to_string()).or_default().extend(documents(&f.contents));
    }
    out
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter().find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

/// The pod spec of the controller(s) of workload `w` (by its name label).
fn pod_specs<'a>(docs: &'a [Value], w: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("Deployment" | "DaemonSet")))
        .filter(|d| d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == w)
        .map(|d| &d["spec"]["template"]["spec"])
        .collect()
}

/// The ports the main container declares, by number.
fn container_ports(spec: &Value) -> Vec<u64> {
    spec["containers"][0]["ports"]
        .as_array()
        .map(|ports| ports.iter().filter_map(|p| p["containerPort"].as_u64()).collect())
        .unwrap_or_default()
}

/// The ConfigMap mounted at `dir` in `spec`'s container, with its data.
fn mounted_at<'a>(docs: &'a [Value], spec: &Value, dir: &str) -> Option<&'a Value> {
    let mount = spec["containers"][0]["volumeMounts"]
        .as_array()?
        .iter()
        .find(|m| m["mountPath"] == dir)?;
    let vol = spec["volumes"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == mount["name"])?;
    named(docs, "ConfigMap", vol["configMap"]["name"].as_str()?)
}

/// Whether the policies admit `from`'s pods calling `to`'s pods on `port`:
/// an egress rule of `from`'s policy and an ingress rule of `to`'s.
fn admitted(docs: &[Value], from: &str, to: &str, port: u64) -> bool {
    let policy = |w: &str| named(docs, "NetworkPolicy", w);
    let peer_is = |rule: &Value, key: &str, w: &str| {
        rule[key].as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == w)
        })
    };
    let on_port = |rule: &Value| {
        rule["ports"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["port"].as_u64() == Some(port)))
    };
    let out = policy(from).is_some_and(|p| {
        p["spec"]["egress"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| peer_is(r, "to", to) && on_port(r)))
    });
    let inn = policy(to).is_some_and(|p| {
        p["spec"]["ingress"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| peer_is(r, "from", from) && on_port(r)))
    });
    out && inn
}

#[test]
fn every_metrics_workload_is_scraped_by_its_groups_prometheus_through_a_policy() {
    let mut scraped = 0;
    let mut daemons = 0;
    for (name, sol) in solutions() {
        for (folder, docs) in folders(&sol) {
            let here: Vec<_> = sol
                .workloads
                .iter()
                .filter(|w| !pod_specs(&docs, &w.name).is_empty())
                .collect();
            for p in here
                .iter()
                .filter(|w| w.template.as_deref() == Some(PROMETHEUS_TEMPLATE))
            {
                let spec = pod_specs(&docs, &p.name)[0];
                // The config file its args name is in the ConfigMap
                // mounted at that folder, and so is the rule file it lists.
                let file = p
                    .container
                    .args
                    .iter()
                    .find_map(|a| a.strip_prefix("--config.file="))
                    .unwrap();
                let (dir, key) = file.rsplit_once('/').unwrap();
                if p.container.volumes.iter().any(|v| v.mount == dir) {
                    continue; // its own config (own-configs)
                }
                let cm =
                    mounted_at(&docs, spec, dir).unwrap_or_else(|| panic!("{name}/{folder}: nothing mounted at {dir}"));
                let config: Config = serde_norway::from_str(cm["data"][key].as_str().unwrap()).unwrap();
                for r in &config.rule_files {
                    let (rdir, rkey) = r.rsplit_once('/').unwrap();
                    assert_eq!(rdir, dir);
                    let _: RuleFile = serde_norway::from_str(cm["data"][rkey].as_str().unwrap()).unwrap();
                }
                // Every workload here with metrics (a model server: its
                // runtime's) and a port is a job, found by DNS through a
                // headless Service over its pods, on its pods' port.
                let monitored = |w: &iotc_compiler::ir::Workload| w.container.metrics.is_some();
                for t in here.iter().filter(|w| {
                    w.name != p.name
                        && w.container.port.is_some()
                        && !matches!(w.kind, WorkloadKind::Job | WorkloadKind::Train)
                        && monitored(w)
                }) {
                    let job = config
                        .scrape_configs
                        .iter()
                        .find(|j| j.job_name == t.name)
                        .unwrap_or_else(|| panic!("{name}/{folder}: {} is not scraped", t.name));
                    let sd = &job.dns_sd_configs[0];
                    // In the target's namespace (a `-host` one for a
                    // workload that mounts a node folder).
                    let host = sd.names[0].strip_suffix(&format!(".{}.svc", t.namespace)).unwrap();
                    let svc =
                        named(&docs, "Service", host).unwrap_or_else(|| panic!("{name}/{folder}: no Service {host}"));
                    assert_eq!(svc["metadata"]["namespace"], t.namespace.as_str(), "{host}");
                    assert_eq!(svc["spec"]["clusterIP"], "None", "{host}: one DNS record per pod");
                    assert_eq!(svc["spec"]["selector"]["app.kubernetes.io/name"], t.name.as_str());
                    assert_eq!(svc["spec"]["ports"][0]["port"].as_u64(), Some(u64::from(sd.port)));
                    // On its metrics listener where the runtime has one of
                    // its own (Triton's 8002), else on its port.
                    let listener = t.container.metrics_port.or(t.container.port).unwrap();
                    assert_eq!(sd.port, listener, "{}: scraped on its metrics listener", t.name);
                    for s in pod_specs(&docs, &t.name) {
                        assert!(container_ports(s).contains(&u64::from(sd.port)), "{}", t.name);
                    }
                    assert_eq!(Some(&job.metrics_path), t.container.metrics.as_ref());
                    assert!(
                        admitted(&docs, &p.name, &t.name, u64::from(sd.port)),
                        "{name}/{folder}: policies do not admit {} scraping {}",
                        p.name,
                        t.name
                    );
                    scraped += 1;
                    daemons += usize::from(t.kind == WorkloadKind::Daemon);
                }
                // Nothing is scraped that is not in this folder.
                for j in config.scrape_configs.iter().filter(|j| j.job_name != p.name) {
                    assert!(
                        here.iter().any(|w| w.name == j.job_name),
                        "{name}/{folder}: {}",
                        j.job_name
                    );
                }
                // The alerts of the models it scrapes are in its rule file.
                let rules: RuleFile =
                    serde_norway::from_str(cm["data"][iotc_compiler::ir::PROMETHEUS_RULES_FILE].as_str().unwrap())
                        .unwrap();
                // One rule per alert and source scraped here: per distinct
                // runtime PromQL over the servers that provide it, and one
                // over the `metrics_from` workloads when a runtime lacks it.
                let scraped_here = |w: &str| config.scrape_configs.iter().any(|j| j.job_name == w);
                for m in sol.models.iter().filter(|m| !m.alerts.is_empty() && m.monitored) {
                    let servers: Vec<&String> = m.serve.iter().filter(|s| scraped_here(s)).collect();
                    let exporters = m.metrics_from.iter().any(|s| scraped_here(s));
                    let expected: usize = m
                        .alerts
                        .iter()
                        .map(|a| {
                            let mut exprs: Vec<&String> =
                                servers.iter().filter_map(|s| a.provided_by.get(*s)).collect();
                            exprs.sort();
                            exprs.dedup();
                            exprs.len() + usize::from(a.from_exporters && exporters)
                        })
                        .sum();
                    let group = rules
                        .groups
                        .iter()
                        .find(|g| g.name.starts_with(&m.name.replace('_', "-")));
                    assert_eq!(
                        group.map_or(0, |g| g.rules.len()),
                        expected,
                        "{name}/{folder}: {}",
                        m.name
                    );
                }
            }
        }
    }
    assert!(scraped >= 8, "only {scraped} scrapes checked");
    assert!(daemons >= 2, "a daemon on a cluster and on a fleet site are scraped");
}

#[test]
fn grafana_reads_its_groups_prometheus_through_a_policy() {
    let mut checked_ = 0;
    for (name, sol) in solutions() {
        for (folder, docs) in folders(&sol) {
            for g in sol
                .workloads
                .iter()
                .filter(|w| w.template.as_deref() == Some(GRAFANA_TEMPLATE))
            {
                let Some(spec) = pod_specs(&docs, &g.name).first().copied() else {
                    continue;
                };
                let dir = iotc_compiler::ir::GRAFANA_DATASOURCES_DIR;
                if g.container.volumes.iter().any(|v| v.mount == dir) {
                    continue; // its own datasources (own-configs)
                }
                let cm = mounted_at(&docs, spec, dir)
                    .unwrap_or_else(|| panic!("{name}/{folder}: {} has no datasource", g.name));
                let data = cm["data"].as_object().unwrap();
                assert_eq!(data.len(), 1);
                let ds: Datasources = serde_norway::from_str(data.values().next().unwrap().as_str().unwrap()).unwrap();
                let url = &ds.datasources[0].url;
                let (host, port) = url.strip_prefix("http://").unwrap().split_once(':').unwrap();
                let port: u64 = port.parse().unwrap();
                let svc = named(&docs, "Service", host).unwrap_or_else(|| panic!("{name}: no Service {host}"));
                assert_eq!(svc["spec"]["ports"][0]["port"].as_u64(), Some(port));
                let prom = svc["spec"]["selector"]["app.kubernetes.io/name"].as_str().unwrap();
                let pw = sol.workloads.iter().find(|w| w.name == prom).unwrap();
                assert_eq!(
                    pw.template.as_deref(),
                    Some(PROMETHEUS_TEMPLATE),
                    "{url} is no Prometheus"
                );
                assert!(
                    admitted(&docs, &g.name, prom, port),
                    "{name}/{folder}: {} → {prom}",
                    g.name
                );
                checked_ += 1;
            }
        }
    }
    assert!(checked_ >= 4, "{checked_}");
}

#[test]
fn every_mounted_config_map_exists_in_its_folder() {
    for (name, sol) in solutions() {
        for (folder, docs) in folders(&sol) {
            for d in docs
                .iter()
                .filter(|d| matches!(d["kind"].as_str(), Some("Deployment" | "DaemonSet" | "Job")))
            {
                for v in d["spec"]["template"]["spec"]["volumes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    if let Some(cm) = v["configMap"]["name"].as_str() {
                        assert!(named(&docs, "ConfigMap", cm).is_some(), "{name}/{folder}: {cm}");
                    }
                }
            }
        }
    }
}

#[test]
fn no_public_listener_is_plain_http() {
    let mut public_http = 0;
    for (name, sol) in solutions() {
        let files = emit(&sol, &[Target::K8s, Target::Terraform]).unwrap();
        let folders = folders(&sol);
        for w in sol.workloads.iter().filter(|w| w.public) {
            let Some(x) = &w.exposure else { continue };
            if !matches!(w.container.scheme.as_str(), "http" | "grpc") {
                continue;
            }
            public_http += 1;
            // Behind an Ingress with TLS on 443, the Service itself internal.
            assert_eq!(x.kind, ExposureKind::Ingress, "{name}: {}", w.name);
            assert!(x.tls && x.endpoint.scheme == "https" && x.endpoint.port == 443);
            let (_, docs) = folders
                .iter()
                .find(|(_, docs)| named(docs, "Ingress", &w.name).is_some())
                .unwrap_or_else(|| panic!("{name}: no Ingress for {}", w.name));
            let ing = named(docs, "Ingress", &w.name).unwrap();
            assert_eq!(ing["spec"]["tls"][0]["hosts"][0], x.endpoint.host.as_str());
            assert_eq!(named(docs, "Service", &w.name).unwrap()["spec"]["type"], "ClusterIP");
            // No security group opens the plain port to anyone.
            let port = u64::from(w.container.port.unwrap());
            for f in files.iter().filter(|f| f.path.ends_with("main.tf.json")) {
                let tf: Value = serde_json::from_str(&f.contents).unwrap();
                for (rule, r) in tf["resource"]["aws_vpc_security_group_ingress_rule"]
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    if r["from_port"].as_u64() == Some(port) && port != 443 {
                        let desc = r["description"].as_str().unwrap_or_default();
                        assert!(
                            !desc.contains(&w.name),
                            "{name}: {rule} opens {}'s plain port {port}",
                            w.name
                        );
                    }
                }
            }
        }
    }
    assert!(public_http >= 3, "{public_http}");
}

#[test]
fn no_two_mounts_of_a_container_share_a_path() {
    let mut own = 0;
    for (name, sol) in solutions() {
        for (folder, docs) in folders(&sol) {
            for d in &docs {
                let spec = &d["spec"]["template"]["spec"];
                for c in spec["containers"].as_array().into_iter().flatten() {
                    let mut paths: Vec<&str> = c["volumeMounts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|m| m["mountPath"].as_str())
                        .collect();
                    let n = paths.len();
                    paths.sort_unstable();
                    paths.dedup();
                    assert_eq!(n, paths.len(), "{name}/{folder}: {}", d["metadata"]["name"]);
                }
            }
            if name == "own-configs" && folder == "ops" {
                // Their own folders, not iotc's ConfigMaps.
                assert!(named(&docs, "ConfigMap", "prometheus-config").is_none());
                assert!(named(&docs, "ConfigMap", "grafana-datasources").is_none());
                own += 1;
            }
        }
    }
    assert_eq!(own, 1);
}
