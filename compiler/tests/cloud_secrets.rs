#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Secrets on an EKS cluster (issue 11), over every example: every secret a
//! pod reads (`secretKeyRef`) has its Secrets Manager secret in the
//! cluster's Terraform, under the name the checker decided
//! (`ir::SecretStore`), named after the same workload and key; the pod runs
//! as the service account whose EKS Pod Identity association is its
//! workload's role; and that role's `own-secrets` policy grants exactly the
//! ARNs of the secrets that pod reads, while no other policy of the root
//! module names Secrets Manager. The Kubernetes Secret `<workload>-secrets`
//! is synced by what the output installs: the Terraform installs the EKS
//! add-on of the AWS provider for the Secrets Store CSI driver, the pod
//! mounts a CSI volume of the `SecretProviderClass` that fetches exactly
//! those Secrets Manager names with Pod Identity and syncs them into that
//! Secret under the keys the pod reads, and the driver may write Secrets.
//! The generated README names the same Secrets Manager secrets.

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
    let (mut reads, mut pulled, mut tolerated) = (0, 0, 0);
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
            // (workload, key) -> the Secrets Manager name Terraform creates.
            let mut names = BTreeMap::new();
            let store = c.secret_store.as_ref();
            for (id, s) in r["aws_secretsmanager_secret"].as_object().into_iter().flatten() {
                let n = s["name"].as_str().unwrap();
                let st = store.unwrap_or_else(|| panic!("{name}: {n} without a secret store in the IR"));
                let rest = n
                    .strip_prefix(&format!("{}/", st.prefix))
                    .unwrap_or_else(|| panic!("{name}: secret name {n}"));
                let (w, key) = rest.split_once('/').unwrap();
                if w == "_registry" {
                    // A registry's pull credential, named by the checker too.
                    assert!(
                        st.registries.iter().any(|x| x.registry == key && x.name == n),
                        "{name}: {n} is not the IR's name"
                    );
                    assert_eq!(s["tags"]["iotc.dev/registry"], key, "{name}: {id}");
                    assert!(
                        readme.contains(&format!(
                            "registry `{key}`'s credential is kept in the Secrets Manager secret `{n}`"
                        )),
                        "{name}: the README does not say where {key}'s credential is"
                    );
                    names.insert((w.to_string(), key.to_string()), n.to_string());
                    secrets.insert((w.to_string(), key.to_string()), id.clone());
                    continue;
                }
                // The very name the checker decided, which Kubernetes names too.
                assert!(
                    st.secrets
                        .iter()
                        .any(|x| x.workload == w && x.key == key && x.name == n),
                    "{name}: {n} is not the IR's name"
                );
                names.insert((w.to_string(), key.to_string()), n.to_string());
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
                    line.contains(&format!("Secrets Manager secret `{n}`")),
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
            // The sync is installed: the add-on (after the Pod Identity
            // agent it fetches with) and, in the folder `kubectl apply -k`
            // applies, the driver's right to write Secrets.
            let k8s: Vec<(&str, Value)> = files
                .iter()
                .filter(|f| f.path.starts_with(&format!("k8s/{}/", c.name)) && f.path.ends_with(".yaml"))
                .flat_map(|f| documents(&f.contents).into_iter().map(move |d| (f.path.as_str(), d)))
                .collect();
            if !secrets.is_empty() {
                let addon = r["aws_eks_addon"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .find(|(_, a)| a["addon_name"] == "aws-secrets-store-csi-driver-provider")
                    .unwrap_or_else(|| panic!("{name}: {} has secrets and no Secrets Store CSI add-on", c.name))
                    .1;
                assert_eq!(addon["cluster_name"], "${aws_eks_cluster.main.name}");
                assert!(
                    addon["depends_on"]
                        .as_array()
                        .unwrap()
                        .contains(&Value::from("aws_eks_addon.pod_identity_agent")),
                    "{name}: the add-on fetches with Pod Identity"
                );
                // The provider runs wherever such a pod may: it tolerates
                // every taint of the cluster's node groups (the driver it
                // bundles tolerates all by its chart's default).
                let config = addon["configuration_values"]
                    .as_str()
                    .unwrap()
                    .strip_prefix("${jsonencode(")
                    .and_then(|t| t.strip_suffix(")}"))
                    .unwrap()
                    .replace("\" = ", "\": ");
                let config: Value = serde_json::from_str(&config).unwrap();
                assert_eq!(config["secrets-store-csi-driver"]["syncSecret"]["enabled"], true);
                assert_eq!(config["secrets-store-csi-driver"]["enableSecretRotation"], true);
                let mut taints = 0;
                for (pool, g) in r["aws_eks_node_group"].as_object().into_iter().flatten() {
                    for t in g["taint"].as_array().into_iter().flatten() {
                        let effect = match t["effect"].as_str().unwrap() {
                            "NO_SCHEDULE" => "NoSchedule",
                            "NO_EXECUTE" => "NoExecute",
                            _ => "PreferNoSchedule",
                        };
                        assert!(
                            config["tolerations"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|x| x["key"] == t["key"]
                                    && (x["operator"] == "Exists" || x["value"] == t["value"])
                                    && x["effect"] == effect),
                            "{name}: the Secrets Store provider does not tolerate the taint of pool {pool}"
                        );
                        taints += 1;
                    }
                }
                tolerated += taints;
                // And the README does not send the user to create them.
                assert!(
                    readme.contains(&format!("`kubectl apply -k k8s/{}`. Create no Secret", c.name)),
                    "{name}: the README's step for {} still creates the Secrets",
                    c.name
                );
                driver_may_write_secrets(name, &files, &c.name, &k8s);
            }
            let mut seen = BTreeSet::new();
            for (path, d) in &k8s {
                {
                    let Some(pod) = pod_spec(d) else { continue };
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
                    // The declared registries it pulls from: ("_registry", name).
                    let pulls: BTreeSet<(String, String)> = pod["imagePullSecrets"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| {
                            let r = sol
                                .registries
                                .iter()
                                .find(|r| p["name"] == r.pull_secret.as_str())
                                .unwrap_or_else(|| panic!("{name}: {path} pulls with an undeclared Secret"));
                            ("_registry".to_string(), r.name.clone())
                        })
                        .collect();
                    if keys.is_empty() && pulls.is_empty() {
                        continue;
                    }
                    let sa = pod["serviceAccountName"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{name}: {path} no account"));
                    let ns = d["metadata"]["namespace"].as_str().unwrap();
                    let mut ids = BTreeSet::new();
                    for (secret, key) in &keys {
                        assert_eq!(
                            secret,
                            &format!("{sa}-secrets"),
                            "{name}: {path} reads another workload's Secret"
                        );
                        let id = secrets
                            .get(&(sa.to_string(), key.clone()))
                            .unwrap_or_else(|| panic!("{name}: {sa} reads {key}, which Terraform does not create"));
                        ids.insert(id.clone());
                        reads += 1;
                    }
                    for p in &pulls {
                        let id = secrets.get(p).unwrap_or_else(|| {
                            panic!(
                                "{name}: {sa} pulls from {}, whose credential Terraform does not keep",
                                p.1
                            )
                        });
                        ids.insert(id.clone());
                        pulled += 1;
                    }
                    synced(name, &sol, &k8s, pod, ns, sa, &keys, &pulls, &names);
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
    assert!(pulled >= 3, "{pulled} pods pulling private images on EKS");
    assert!(
        tolerated >= 1,
        "{tolerated} tainted node groups where secrets are synced"
    );
}

/// The pod (its namespace `ns`, service account `sa`, the `(Secret, key)`
/// pairs its env reads) gets that Secret from the Secrets Store CSI driver:
/// it mounts, in a container, a CSI volume of a `SecretProviderClass` of
/// its namespace that fetches with Pod Identity exactly the Secrets
/// Manager secrets `names` holds for its workload and syncs each into the
/// Secret under the key the pod reads.
#[allow(clippy::too_many_arguments)]
fn synced(
    name: &str,
    sol: &iotc_compiler::ir::Solution,
    k8s: &[(&str, Value)],
    pod: &Value,
    ns: &str,
    sa: &str,
    keys: &BTreeSet<(String, String)>,
    pulls: &BTreeSet<(String, String)>,
    names: &BTreeMap<(String, String), String>,
) {
    let volume = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["csi"]["driver"] == "secrets-store.csi.k8s.io")
        .unwrap_or_else(|| panic!("{name}: {sa} mounts no Secrets Store CSI volume"));
    assert_eq!(volume["csi"]["readOnly"], true, "{name}: {sa}");
    let class = volume["csi"]["volumeAttributes"]["secretProviderClass"]
        .as_str()
        .unwrap();
    // Kubelet mounts only volumes a container uses.
    assert!(
        pod["containers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|ctr| ctr["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["name"] == volume["name"])),
        "{name}: no container of {sa} mounts {}",
        volume["name"]
    );
    let spc = k8s
        .iter()
        .map(|(_, d)| d)
        .find(|d| {
            d["apiVersion"] == "secrets-store.csi.x-k8s.io/v1"
                && d["kind"] == "SecretProviderClass"
                && d["metadata"]["name"] == class
                && d["metadata"]["namespace"] == ns
        })
        .unwrap_or_else(|| panic!("{name}: no SecretProviderClass {ns}/{class}"));
    let spec = &spc["spec"];
    assert_eq!(spec["provider"], "aws", "{name}: {class}");
    assert_eq!(spec["parameters"]["usePodIdentity"], "true", "{name}: {class}");
    // objectAlias -> objectName, from the provider's YAML parameter.
    let objects: Value = common::yaml(spec["parameters"]["objects"].as_str().unwrap());
    let mut aliases = BTreeMap::new();
    for o in objects.as_array().unwrap() {
        assert_eq!(o["objectType"], "secretsmanager", "{name}: {class}");
        let alias = o["objectAlias"].as_str().unwrap().to_string();
        let object = o["objectName"].as_str().unwrap().to_string();
        assert!(aliases.insert(alias, object).is_none(), "{name}: {class}: alias twice");
    }
    // It fetches exactly the workload's Secrets Manager secrets and the
    // credentials of the registries it pulls from.
    let fetched: BTreeSet<&String> = aliases.values().collect();
    let own: BTreeSet<&String> = names
        .iter()
        .filter(|(k, _)| k.0 == sa || pulls.contains(k))
        .map(|(_, n)| n)
        .collect();
    assert_eq!(fetched, own, "{name}: {class} fetches other secrets than {sa}'s");
    // Each pull Secret is synced as a docker config from its registry's.
    for p in pulls {
        let r = sol.registries.iter().find(|r| r.name == p.1).unwrap();
        let object = spec["secretObjects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["secretName"] == r.pull_secret.as_str())
            .unwrap_or_else(|| panic!("{name}: {class} does not sync {}", r.pull_secret));
        assert_eq!(object["type"], "kubernetes.io/dockerconfigjson", "{name}: {class}");
        let data = object["data"].as_array().unwrap();
        assert_eq!(data.len(), 1, "{name}: {class}");
        assert_eq!(data[0]["key"], ".dockerconfigjson", "{name}: {class}");
        assert_eq!(
            aliases.get(data[0]["objectName"].as_str().unwrap()),
            names.get(p),
            "{name}: {} comes from another Secrets Manager secret",
            r.pull_secret
        );
    }
    // Every (Secret, key) the pod reads is synced from its own name.
    for (secret, key) in keys {
        let object = spec["secretObjects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["secretName"] == secret.as_str())
            .unwrap_or_else(|| panic!("{name}: {class} does not sync {secret}"));
        assert_eq!(object["type"], "Opaque");
        let data = object["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["key"] == key.as_str())
            .unwrap_or_else(|| panic!("{name}: {class} syncs no key {key} into {secret}"));
        let alias = data["objectName"].as_str().unwrap();
        assert_eq!(
            aliases.get(alias),
            names.get(&(sa.to_string(), key.clone())),
            "{name}: {secret}/{key} comes from another Secrets Manager secret"
        );
    }
}

/// The folder `kubectl apply -k k8s/<cluster>` applies binds the Secrets
/// Store CSI driver's service account (the EKS add-on's, in kube-system) to
/// a ClusterRole that may create and update Secrets.
fn driver_may_write_secrets(
    name: &str,
    files: &[iotc_compiler::emit::OutputFile],
    cluster: &str,
    k8s: &[(&str, Value)],
) {
    let kustomization = &files
        .iter()
        .find(|f| f.path == format!("k8s/{cluster}/kustomization.yaml"))
        .unwrap()
        .contents;
    let listed = |path: &str| {
        let file = path.rsplit_once('/').unwrap().1;
        kustomization.lines().any(|l| l.trim() == format!("- {file}"))
    };
    let binding = k8s
        .iter()
        .find(|(path, d)| {
            listed(path)
                && d["kind"] == "ClusterRoleBinding"
                && d["subjects"].as_array().into_iter().flatten().any(|s| {
                    s["kind"] == "ServiceAccount"
                        && s["name"] == "secrets-store-csi-driver"
                        && s["namespace"] == "kube-system"
                })
        })
        .unwrap_or_else(|| panic!("{name}: nothing lets the driver of {cluster} write Secrets"))
        .1
        .clone();
    let role = k8s
        .iter()
        .find(|(path, d)| {
            listed(path) && d["kind"] == "ClusterRole" && d["metadata"]["name"] == binding["roleRef"]["name"]
        })
        .unwrap_or_else(|| panic!("{name}: the driver's ClusterRole is not applied"))
        .1
        .clone();
    let rule = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["apiGroups"] == serde_json::json!([""]) && r["resources"] == serde_json::json!(["secrets"]))
        .unwrap_or_else(|| panic!("{name}: the driver's ClusterRole has no rule on Secrets"));
    for verb in ["create", "get", "list", "watch", "update", "patch", "delete"] {
        assert!(
            rule["verbs"].as_array().unwrap().contains(&Value::from(verb)),
            "{name}: the driver may not {verb} Secrets"
        );
    }
}

/// Standard base64 with padding, as Terraform's `base64encode` writes it.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What Terraform writes into a registry's Secrets Manager secret (the
/// write-only `secret_string_wo`, evaluated by `terraform apply` of a
/// local-only module with a token full of characters JSON and HCL
/// escape) is the `.dockerconfigjson` document kubelet reads: the
/// registry's host, user, the token, and `auth` = base64(user:token).
#[test]
#[ignore = "needs terraform; run by .ci/run"]
fn registry_credentials_are_docker_config_documents() {
    let token = "t0k\"en:${x}%{y}\\ü";
    let mut checked = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let files = emit(&sol, Target::ALL).unwrap();
        for f in files
            .iter()
            .filter(|f| f.path.starts_with("terraform/") && f.path.ends_with("main.tf.json"))
        {
            let tf: Value = serde_json::from_str(&f.contents).unwrap();
            let r = &tf["resource"];
            for (id, s) in r["aws_secretsmanager_secret"].as_object().into_iter().flatten() {
                let Some(registry) = s["tags"]["iotc.dev/registry"].as_str() else {
                    continue;
                };
                let reg = sol.registries.iter().find(|x| x.name == registry).unwrap();
                let version = &r["aws_secretsmanager_secret_version"][id];
                let module = serde_json::json!({
                    "variable": { "secret_values": { "type": "map(string)" } },
                    "output": { "doc": { "value": version["secret_string_wo"] } },
                });
                let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("registry-doc-{name}-{id}"));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("main.tf.json"), serde_json::to_string(&module).unwrap()).unwrap();
                // A JSON variables file takes strings literally (TF_VAR_ of a
                // map is read as HCL, where `${` would interpolate).
                let values = serde_json::json!({ "secret_values": { format!("_registry/{registry}"): token } });
                std::fs::write(dir.join("terraform.tfvars.json"), values.to_string()).unwrap();
                let tf = |args: &[&str]| common::terraform(&dir, args);
                tf(&["init", "-input=false", "-no-color"]);
                tf(&["apply", "-auto-approve", "-input=false", "-no-color"]);
                let out: Value = serde_json::from_slice(&tf(&["output", "-json"])).unwrap();
                let doc: Value = serde_json::from_str(out["doc"]["value"].as_str().unwrap()).unwrap();
                let auths = doc["auths"].as_object().unwrap();
                assert_eq!(auths.len(), 1, "{name}: {doc}");
                let entry = &auths[&reg.host];
                assert_eq!(entry["username"], reg.username.as_str(), "{name}: {doc}");
                assert_eq!(entry["password"], token, "{name}: {doc}");
                assert_eq!(
                    entry["auth"],
                    base64(format!("{}:{token}", reg.username).as_bytes()),
                    "{name}: {doc}"
                );
                let _ = std::fs::remove_dir_all(&dir);
                checked += 1;
            }
        }
    }
    assert!(checked >= 1, "{checked} registry credentials");
}
