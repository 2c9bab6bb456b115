#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Issue 10, finding 12, over every example (it had only snapshots):
//!
//! - a Service with `internalTrafficPolicy: Local` (a model server with a
//!   copy on every gateway) drops calls on a node without a copy, so: its
//!   pods are spread one per node (hostname, maxSkew 1, DoNotSchedule), as
//!   many as the site has gateways, and every caller on the fleet selects
//!   only nodes the server selects; every other Service of a fleet site
//!   prefers the caller's zone (`trafficDistribution: PreferClose`);
//! - every CronJob runs in UTC, skips runs older than its deadline, and
//!   never overlaps itself;
//! - k3s fleets disable Traefik, and no fleet site folder has an Ingress.

use iotc_compiler::emit::{emit, Target};
use serde_json::Value;
use std::collections::BTreeMap;

mod common;
use common::{documents, example, EXAMPLES};

/// An inventory group's name part (`plant-a` → `plant_a`).
fn group_name(s: &str) -> String {
    s.replace('-', "_")
}

fn k8s_name(s: &str) -> String {
    s.replace('_', "-")
}

fn node_selector(template: &Value) -> BTreeMap<String, Value> {
    template["spec"]["nodeSelector"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

#[test]
fn local_services_have_a_copy_wherever_a_caller_runs() {
    let mut local = 0;
    let mut prefer_close = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let files = emit(&sol, &[Target::K8s, Target::Ansible]).unwrap();
        let inventory: Value = serde_norway::from_str(
            &files
                .iter()
                .find(|f| f.path == "ansible/inventory.yaml")
                .unwrap()
                .contents,
        )
        .unwrap();
        for fleet in &sol.fleets {
            for site in &fleet.sites {
                let dir = format!("k8s/{}/{}/", fleet.name, site.name);
                let docs: Vec<Value> = files
                    .iter()
                    .filter(|f| f.path.starts_with(&dir) && f.path.ends_with(".yaml"))
                    .flat_map(|f| documents(&f.contents))
                    .collect();
                if docs.is_empty() {
                    continue;
                }
                // The labels Ansible puts on every node of the site.
                let site_labels: BTreeMap<String, Value> = inventory["all"]["children"]["edge"]["children"]
                    [format!("fleet_{}", group_name(&fleet.name))]["children"]
                    [format!("site_{}_{}", group_name(&fleet.name), group_name(&site.name))]["vars"]
                    ["iotc_node_labels"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{name}: {dir}: the site's node labels"))
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                // Pod templates of the controllers, by workload name.
                let templates: BTreeMap<String, (&Value, Option<u64>)> = docs
                    .iter()
                    .filter(|d| ["Deployment", "StatefulSet", "DaemonSet"].contains(&d["kind"].as_str().unwrap()))
                    .map(|d| {
                        let t = &d["spec"]["template"];
                        (
                            t["metadata"]["labels"]["app.kubernetes.io/name"]
                                .as_str()
                                .unwrap()
                                .to_string(),
                            (t, d["spec"]["replicas"].as_u64()),
                        )
                    })
                    .collect();
                for s in docs.iter().filter(|d| d["kind"] == "Service") {
                    let spec = &s["spec"];
                    let server = spec["selector"]["app.kubernetes.io/name"].as_str().unwrap().to_string();
                    let svc = s["metadata"]["name"].as_str().unwrap();
                    if spec["internalTrafficPolicy"] == "Local" {
                        local += 1;
                        let (t, replicas) = templates[&server];
                        assert_eq!(
                            replicas,
                            Some(u64::from(site.gateways)),
                            "{name}: {dir}{svc}: a copy per gateway"
                        );
                        let spread = t["spec"]["topologySpreadConstraints"].as_array().unwrap();
                        assert!(
                            spread.iter().any(|c| c["topologyKey"] == "kubernetes.io/hostname"
                                && c["maxSkew"] == 1
                                && c["whenUnsatisfiable"] == "DoNotSchedule"),
                            "{name}: {dir}{svc}: one copy per node"
                        );
                        let wanted = node_selector(t);
                        let mut callers = 0;
                        for f in sol
                            .flows
                            .iter()
                            .filter(|f| k8s_name(&f.to) == server && f.from_group == fleet.name)
                        {
                            let Some((ct, _)) = templates.get(&k8s_name(&f.from)) else {
                                continue; // the caller does not run at this site
                            };
                            callers += 1;
                            // A label the caller does not select must be on
                            // every node of the site (Ansible labels a site's
                            // nodes alike), and no standby node may take the
                            // caller without the server.
                            let has = node_selector(ct);
                            for (k, v) in &wanted {
                                assert!(
                                    has.get(k) == Some(v) || site_labels.get(k) == Some(v),
                                    "{name}: {dir}: caller {} may run where {svc} has no local copy ({k})",
                                    f.from
                                );
                            }
                            assert_eq!(site.standby, 0, "{name}: {dir}: no standby node without a copy");
                        }
                        assert!(callers >= 1, "{name}: {dir}{svc}: a Local Service somebody calls");
                    } else if spec["clusterIP"] != "None" {
                        assert_eq!(spec["trafficDistribution"], "PreferClose", "{name}: {dir}{svc}");
                        prefer_close += 1;
                    }
                }
            }
        }
    }
    assert!(local >= 2, "Local Services checked: {local}");
    assert!(prefer_close >= 5, "PreferClose Services checked: {prefer_close}");
}

#[test]
fn every_cron_job_runs_in_utc_within_its_deadline_and_alone() {
    let mut seen = 0;
    for name in EXAMPLES {
        for f in emit(&example(name), &[Target::K8s]).unwrap() {
            for d in documents(&f.contents).iter().filter(|d| d["kind"] == "CronJob") {
                let spec = &d["spec"];
                assert_eq!(spec["timeZone"], "Etc/UTC", "{name}: {}", f.path);
                let deadline = spec["startingDeadlineSeconds"].as_u64().unwrap();
                assert!((60..=3600).contains(&deadline), "{name}: {}: {deadline}", f.path);
                assert_eq!(spec["concurrencyPolicy"], "Forbid", "{name}: {}", f.path);
                seen += 1;
            }
        }
    }
    assert!(seen >= 5, "CronJobs checked: {seen}");
}

#[test]
fn k3s_fleets_run_no_traefik_and_get_no_ingress() {
    let mut fleets = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let files = emit(&sol, &[Target::K8s, Target::Ansible]).unwrap();
        for fleet in sol.fleets.iter().filter(|f| f.runtime.kind == "kubernetes") {
            let prefix = format!("k8s/{}/", fleet.name);
            for f in files.iter().filter(|f| f.path.starts_with(&prefix)) {
                if f.path.ends_with(".yaml") {
                    assert!(
                        documents(&f.contents).iter().all(|d| d["kind"] != "Ingress"),
                        "{name}: {}: an Ingress on a fleet site, where no ingress controller runs",
                        f.path
                    );
                }
            }
            if fleet.runtime.name != "k3s" {
                continue;
            }
            fleets += 1;
            let inv: Value = serde_norway::from_str(
                &files
                    .iter()
                    .find(|f| f.path == "ansible/inventory.yaml")
                    .unwrap()
                    .contents,
            )
            .unwrap();
            let group = &inv["all"]["children"]["edge"]["children"][format!("fleet_{}", group_name(&fleet.name))];
            assert_eq!(group["vars"]["iotc_tier"], "edge", "{name}: fleet {}", fleet.name);
            let defaults = &files
                .iter()
                .find(|f| f.path == "ansible/roles/iotc_k3s/defaults/main.yml")
                .unwrap()
                .contents;
            assert!(
                defaults.contains(r#"iotc_k3s_disable_traefik: "{{ (iotc_tier | default('')) == 'edge' }}""#),
                "{name}: {defaults}"
            );
            let config = &files
                .iter()
                .find(|f| f.path == "ansible/roles/iotc_k3s/templates/config.yaml.j2")
                .unwrap()
                .contents;
            assert!(
                config.contains("{% if iotc_k3s_disable_traefik | bool %}")
                    && config.contains("disable:\n  - traefik\n"),
                "{name}: {config}"
            );
        }
    }
    assert!(fleets >= 1, "k3s fleets checked: {fleets}");
}
