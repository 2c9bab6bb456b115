#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Secrets on an EKS cluster (issue 11), over every example: every secret a
//! pod reads (`secretKeyRef`) has its Secrets Manager secret in the
//! cluster's Terraform, named after the same workload and key; the pod runs
//! as the service account whose EKS Pod Identity association is its
//! workload's role; and that role's `own-secrets` policy grants exactly the
//! ARNs of the secrets that pod reads, while no other policy of the root
//! module names Secrets Manager. (The Kubernetes Secret `<workload>-secrets`
//! itself is still created by hand, see docs/k8s.md "Secrets"; the generated
//! README names the Secrets Manager secret to copy it from, checked here.)

use iotc_compiler::emit::readme::PATH;
use iotc_compiler::emit::{emit, Target};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

mod common;
use common::{documents, example, EXAMPLES};

/// The pod spec of a controller document, if it has one.
fn pod_spec(d: &Value) -> Option<&Value> {
    let s = &d["spec"];
    [&s["template"]["spec"], &s["jobTemplate"]["spec"]["template"]["spec"]]
        .into_iter()
        .find(|p| p.is_object())
}

/// The Terraform references `${aws_secretsmanager_secret.<id>.arn}` in `text`, as ids.
fn secret_ids(text: &str) -> BTreeSet<String> {
    text.split("${aws_secretsmanager_secret.")
        .skip(1)
        .filter_map(|t| t.split_once(".arn}").map(|(id, _)| id.to_string()))
        .collect()
}

#[test]
fn eks_pods_read_only_their_own_secrets_through_their_role() {
    let mut reads = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let files = emit(&sol, Target::ALL).unwrap();
        let readme = &files.iter().find(|f| f.path == PATH).unwrap().contents;
        for c in sol.clusters.iter().filter(|c| c.distribution == "eks") {
            let tf = files
                .iter()
                .find(|f| f.path == format!("terraform/{}/main.tf.json", c.name))
                .unwrap();
            let tf: Value = serde_json::from_str(&tf.contents).unwrap();
            let r = &tf["resource"];
            // Secrets Manager secrets: (workload, key) -> resource id.
            let mut secrets = BTreeMap::new();
            for (id, s) in r["aws_secretsmanager_secret"].as_object().into_iter().flatten() {
                let n = s["name"].as_str().unwrap();
                let rest = n
                    .strip_prefix("${var.name_prefix}/")
                    .unwrap_or_else(|| panic!("{name}: secret name {n}"));
                let (w, key) = rest.split_once('/').unwrap();
                assert_eq!(s["tags"]["iotc.dev/workload"], w, "{name}: {id}");
                assert!(
                    secrets.insert((w.to_string(), key.to_string()), id.clone()).is_none(),
                    "{name}: {n} twice"
                );
                // The README says where the value is kept, by the same name.
                let line = readme
                    .lines()
                    .find(|l| l.starts_with(&format!("  - `{key}` of `{w}`: ")))
                    .unwrap_or_else(|| panic!("{name}: the README does not list {w}/{key}"));
                assert!(
                    line.contains(&format!(
                        "Secrets Manager secret `{}`",
                        n.replace("${var.name_prefix}", "<name_prefix>")
                    )),
                    "{name}: {line}"
                );
            }
            // Policies: the role of each `own-secrets` policy -> the ids it grants.
            let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (id, p) in r["aws_iam_role_policy"].as_object().into_iter().flatten() {
                let text = p["policy"].as_str().unwrap();
                if p["name"] == "own-secrets" {
                    let role = p["role"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("${aws_iam_role.")
                        .trim_end_matches(".id}");
                    granted.insert(role.to_string(), secret_ids(text));
                } else {
                    assert!(!text.contains("secretsmanager"), "{name}: {id} names Secrets Manager");
                }
            }
            let associations: Vec<&Value> = r["aws_eks_pod_identity_association"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(_, a)| a)
                .collect();
            let mut seen = BTreeSet::new();
            for f in files
                .iter()
                .filter(|f| f.path.starts_with(&format!("k8s/{}/", c.name)) && f.path.ends_with(".yaml"))
            {
                for d in documents(&f.contents) {
                    let Some(pod) = pod_spec(&d) else { continue };
                    let mut keys = BTreeSet::new();
                    for ctr in pod["containers"]
                        .as_array()
                        .into_iter()
                        .chain(pod["initContainers"].as_array())
                        .flatten()
                    {
                        for e in ctr["env"].as_array().into_iter().flatten() {
                            let s = &e["valueFrom"]["secretKeyRef"];
                            if s.is_object() {
                                keys.insert((
                                    s["name"].as_str().unwrap().to_string(),
                                    s["key"].as_str().unwrap().to_string(),
                                ));
                            }
                        }
                    }
                    if keys.is_empty() {
                        continue;
                    }
                    let sa = pod["serviceAccountName"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{name}: {} no account", f.path));
                    let ns = d["metadata"]["namespace"].as_str().unwrap();
                    let mut ids = BTreeSet::new();
                    for (secret, key) in &keys {
                        assert_eq!(
                            secret,
                            &format!("{sa}-secrets"),
                            "{name}: {} reads another workload's Secret",
                            f.path
                        );
                        let id = secrets
                            .get(&(sa.to_string(), key.clone()))
                            .unwrap_or_else(|| panic!("{name}: {sa} reads {key}, which Terraform does not create"));
                        ids.insert(id.clone());
                        reads += 1;
                    }
                    let a = associations
                        .iter()
                        .find(|a| a["service_account"] == sa && a["namespace"] == ns)
                        .unwrap_or_else(|| panic!("{name}: no Pod Identity association for {ns}/{sa}"));
                    let role = a["role_arn"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("${aws_iam_role.")
                        .trim_end_matches(".arn}");
                    assert_eq!(
                        granted.get(role),
                        Some(&ids),
                        "{name}: {role} must grant exactly the secrets {sa} reads"
                    );
                    seen.insert(role.to_string());
                }
            }
            // Every secret is read by a pod, every grant belongs to a reader.
            let all: BTreeSet<&String> = secrets.values().collect();
            let read: BTreeSet<&String> = seen.iter().flat_map(|r| &granted[r]).collect();
            assert_eq!(all, read, "{name}: secrets nobody on {} reads", c.name);
            assert_eq!(
                seen,
                granted.keys().cloned().collect(),
                "{name}: grants to roles no reader runs as"
            );
        }
    }
    assert!(reads >= 4, "{reads} secret reads on EKS");
}
