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

#[test]
fn a_prometheus_that_talks_to_no_other_writes_nowhere() {
    for name in common::EXAMPLES {
        let sol = common::example(name);
        for m in &sol.monitoring {
            assert!(
                m.remote_write.is_none() && m.receives_from.is_empty(),
                "{name}: {}",
                m.prometheus
            );
        }
        for w in &sol.workloads {
            assert!(
                !w.container.args.iter().any(|a| a == REMOTE_WRITE_RECEIVER_FLAG),
                "{name}: {}",
                w.name
            );
        }
    }
}
