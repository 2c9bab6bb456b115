#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Edge sites monitored from the cloud: a fleet's Prometheus that
//! `talks_to` a cluster's Prometheus writes every sample to it
//! (`remote_write`), at the endpoint the cloud one is exposed at to the
//! edge, labelled with its fleet and site; the receiver accepts remote
//! writes; the site's policies let the writes out and the cloud's Ingress
//! takes them in. Each site still scrapes and alerts on its own when its
//! WAN link is down (Prometheus keeps about two hours of samples to send).

use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::{Solution, REMOTE_WRITE_RECEIVER_FLAG};
use iotc_compiler::source::MemoryDb;
use serde_json::Value;

mod common;
use common::{checked, documents, yaml};

fn solution() -> Solution {
    let src = std::fs::read_to_string(common::repo().join("compiler/tests/data/remote_write.iot")).unwrap();
    checked(&MemoryDb::new().with("rw/rw.iot", &src), "rw/rw.iot")
}

fn docs_of(files: &[OutputFile], path: &str) -> Vec<Value> {
    documents(
        &files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no {path}"))
            .contents,
    )
}

#[test]
fn every_site_writes_its_samples_to_the_cloud_prometheus_where_the_edge_reaches_it() {
    let sol = solution();
    let files = emit(&sol, &[Target::K8s]).unwrap();
    // The cloud Prometheus: exposed by an Ingress with TLS, accepting writes.
    let cloud = docs_of(&files, "k8s/cloud/10-metrics.yaml");
    let ingress = cloud
        .iter()
        .find(|d| d["kind"] == "Ingress")
        .expect("the edge reaches it through an Ingress");
    let host = ingress["spec"]["rules"][0]["host"].as_str().unwrap();
    assert!(ingress["spec"]["tls"][0]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h == host));
    let deploy = cloud
        .iter()
        .find(|d| d["kind"] == "StatefulSet" || d["kind"] == "Deployment")
        .unwrap();
    let args = &deploy["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(
        args.as_array().unwrap().iter().any(|a| a == REMOTE_WRITE_RECEIVER_FLAG),
        "{args}"
    );

    let fleet = sol.fleets.iter().find(|f| f.name == "plants").unwrap();
    for site in &fleet.sites {
        let docs = docs_of(&files, &format!("k8s/plants/{}/10-edge-prometheus.yaml", site.name));
        let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
        let config = yaml(cm["data"]["prometheus.yml"].as_str().unwrap());
        assert_eq!(
            config["remote_write"][0]["url"],
            format!("https://{host}/api/v1/write").as_str()
        );
        assert_eq!(config["global"]["external_labels"]["fleet"], "plants");
        assert_eq!(config["global"]["external_labels"]["site"], site.name.as_str());
        // It still scrapes its own site.
        let jobs: Vec<&str> = config["scrape_configs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["job_name"].as_str().unwrap())
            .collect();
        assert!(jobs.contains(&"collector"), "{jobs:?}");
        // The site's policies let it out on 443.
        let policies = docs_of(&files, &format!("k8s/plants/{}/20-network-policies.yaml", site.name));
        let own = policies
            .iter()
            .find(|p| p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "edge-prometheus")
            .unwrap();
        let egress_443 = own["spec"]["egress"].as_array().unwrap().iter().any(|e| {
            e["ports"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["port"] == 443))
        });
        assert!(egress_443, "{own}");
    }
    // The checker decided it once.
    let edge = sol
        .monitoring
        .iter()
        .find(|m| m.prometheus == "edge-prometheus")
        .unwrap();
    assert_eq!(edge.remote_write.as_ref().unwrap().to, "metrics");
    let receiver = sol.monitoring.iter().find(|m| m.prometheus == "metrics").unwrap();
    assert_eq!(receiver.receives_from, ["edge-prometheus"]);
    assert!(sol
        .flows
        .iter()
        .any(|f| f.from == "edge-prometheus" && f.to == "metrics" && f.endpoint.port == 443));
}

/// In every example a fleet's Prometheus writes to a cluster's exactly
/// when it `talks_to` it, and only a Prometheus written to receives (runs
/// with the receiver flag); a cluster's Prometheus writes nowhere.
#[test]
fn a_prometheus_writes_only_to_the_one_it_talks_to() {
    let (mut writers, mut silent) = (0, 0);
    for name in common::EXAMPLES {
        let sol = common::example(name);
        let workload = |n: &str| sol.workloads.iter().find(|w| w.name == n).unwrap();
        for m in &sol.monitoring {
            let talks: Vec<&str> = sol
                .monitoring
                .iter()
                .filter(|n| !n.fleet && workload(&m.prometheus).talks_to.contains(&n.prometheus))
                .map(|n| n.prometheus.as_str())
                .collect();
            match (&m.remote_write, m.fleet) {
                (Some(rw), true) => {
                    assert_eq!(talks, [rw.to.as_str()], "{name}: {}", m.prometheus);
                    writers += 1;
                }
                (None, _) => {
                    assert!(!m.fleet || talks.is_empty(), "{name}: {}", m.prometheus);
                    silent += 1;
                }
                (Some(_), false) => panic!("{name}: cluster Prometheus {} writes", m.prometheus),
            }
            let senders: Vec<&str> = sol
                .monitoring
                .iter()
                .filter(|n| n.remote_write.as_ref().is_some_and(|rw| rw.to == m.prometheus))
                .map(|n| n.prometheus.as_str())
                .collect();
            assert_eq!(m.receives_from, senders, "{name}: {}", m.prometheus);
        }
        for w in &sol.workloads {
            let receives = sol
                .monitoring
                .iter()
                .any(|m| m.prometheus == w.name && !m.receives_from.is_empty());
            assert_eq!(
                w.container.args.iter().any(|a| a == REMOTE_WRITE_RECEIVER_FLAG),
                receives,
                "{name}: {}",
                w.name
            );
        }
    }
    // Every example monitors its edge from its cloud.
    assert!(writers >= 3 && silent >= 3, "{writers} writers, {silent} others");
}

/// A Prometheus on every gateway of a Docker fleet gets its config as an
/// inline Compose config where it reads it, scrapes its gateway's
/// containers by service name, and writes to the cloud labelled with its
/// fleet, site and gateway, the gateway expanded by Prometheus from the
/// variable `.env` sets.
#[test]
fn docker_gateways_scrape_their_own_containers_and_write_to_the_cloud() {
    use iotc_compiler::ir::{EXPAND_EXTERNAL_LABELS_FLAG, GATEWAY_ENV};
    let src = std::fs::read_to_string(common::repo().join("compiler/tests/data/docker_monitoring.iot")).unwrap();
    let sol = checked(&MemoryDb::new().with("dm/dm.iot", &src), "dm/dm.iot");
    let files = emit(&sol, &[Target::Compose, Target::K8s, Target::Ansible]).unwrap();
    let cloud = docs_of(&files, "k8s/cloud/10-metrics.yaml");
    let host = cloud.iter().find(|d| d["kind"] == "Ingress").unwrap()["spec"]["rules"][0]["host"]
        .as_str()
        .unwrap()
        .to_string();
    let m = sol
        .monitoring
        .iter()
        .find(|m| m.prometheus == "site-prometheus")
        .unwrap();
    for site in ["east", "west"] {
        let stack = yaml(
            &files
                .iter()
                .find(|f| f.path == format!("compose/pumps/{site}/compose.yaml"))
                .unwrap()
                .contents,
        );
        let svc = &stack["services"]["site-prometheus"];
        // Mounted where --config.file reads it.
        let mounts: Vec<(&str, &str)> = svc["configs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["source"].as_str().unwrap(), c["target"].as_str().unwrap()))
            .collect();
        let (source, _) = mounts
            .iter()
            .find(|(_, t)| *t == format!("{}/{}", m.config_dir, m.config_file))
            .expect("the config where --config.file reads it");
        // Compose interpolates `$$` to `$`: Prometheus sees ${IOTC_GATEWAY}.
        let content = stack["configs"][*source]["content"]
            .as_str()
            .unwrap()
            .replace("$$", "$");
        let config = yaml(&content);
        assert_eq!(
            config["remote_write"][0]["url"],
            format!("https://{host}/api/v1/write").as_str()
        );
        let labels = &config["global"]["external_labels"];
        assert_eq!(labels["fleet"], "pumps");
        assert_eq!(labels["site"], site);
        assert_eq!(labels["gateway"], format!("${{{GATEWAY_ENV}}}").as_str());
        assert!(svc["command"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == EXPAND_EXTERNAL_LABELS_FLAG));
        assert!(svc["environment"][GATEWAY_ENV]
            .as_str()
            .unwrap()
            .starts_with(&format!("${{{GATEWAY_ENV}")));
        // Targets by their Compose service, on its port.
        let agent = config["scrape_configs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["job_name"] == "pump-agent")
            .unwrap();
        assert_eq!(agent["dns_sd_configs"][0]["names"], serde_json::json!(["pump-agent"]));
        assert!(stack["services"].get("pump-agent").is_some());
        assert_eq!(agent["dns_sd_configs"][0]["port"], 8080);
        // The Grafana's datasource is this Prometheus.
        let grafana = &stack["services"]["site-dashboard"];
        let ds = grafana["configs"][0]["source"].as_str().unwrap();
        assert!(stack["configs"][ds]["content"]
            .as_str()
            .unwrap()
            .contains("url: http://site-prometheus:9090"));
    }
    // `.env` names the gateway.
    let env = files
        .iter()
        .find(|f| f.path == "ansible/roles/iotc_compose_stack/templates/compose.env.j2")
        .unwrap();
    assert!(env
        .contents
        .contains(&format!("{GATEWAY_ENV}={{{{ inventory_hostname }}}}")));
}
