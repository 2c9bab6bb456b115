//! Secrets on EKS (`ir::SecretStore` with `sync`): a `SecretProviderClass`
//! per workload with secrets or a private registry, which the AWS provider
//! of the Secrets Store CSI driver (an EKS add-on the Terraform output
//! installs) reads when the pod mounts its volume, fetching each secret
//! from AWS Secrets Manager by the name the checker decided, with the pod's
//! own EKS Pod Identity role, and syncing them into the Secret
//! `<workload>-secrets` the pod's `secretKeyRef`s name and into the
//! registry's pull Secret its `imagePullSecrets` name; and
//! `05-secrets-store.yaml`, which lets the driver write those Secrets. The
//! custom resource is typed here with the fields iotc writes
//! (`secrets-store.csi.x-k8s.io/v1`).

use super::meta::{self, Skips};
use super::pod;
use super::{Ctx, Docs, GroupKind, Placed};
use crate::emit::EmitError;
use crate::ir::{SecretStore, Solution, Workload};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const API_VERSION: &str = "secrets-store.csi.x-k8s.io/v1";
/// The CSI driver's name, which a pod's volume names.
pub const CSI_DRIVER: &str = "secrets-store.csi.k8s.io";
/// The file granting the driver the Secrets it syncs.
pub const FILE: &str = "05-secrets-store.yaml";
/// The driver's service account as the EKS add-on installs it (the
/// driver chart's fixed name, in `kube-system`).
pub const DRIVER_ACCOUNT: (&str, &str) = ("kube-system", "secrets-store-csi-driver");
/// Where the pod mounts the volume (the files are the same values as the
/// synced Secret; the mount is what makes the driver fetch and sync).
pub const MOUNT_DIR: &str = "/var/run/secrets/iotc/store";
/// The pod's volume name.
pub const VOLUME: &str = "iotc-secrets-store";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretProviderClass {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: SecretProviderClassSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretProviderClassSpec {
    pub provider: String,
    /// The AWS provider's parameters, every value a string (`objects` is a
    /// YAML document of [`StoreObject`]s).
    pub parameters: BTreeMap<String, String>,
    pub secret_objects: Vec<SecretObject>,
}

/// A Kubernetes Secret the driver keeps in sync with the mounted objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretObject {
    pub secret_name: String,
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    pub data: Vec<SecretObjectData>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretObjectData {
    /// The mounted object (its alias).
    pub object_name: String,
    /// The key in the Secret.
    pub key: String,
}

/// One entry of the AWS provider's `objects` parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreObject {
    /// The Secrets Manager name.
    pub object_name: String,
    pub object_type: String,
    /// The file name in the mount and the object the Secret's key is
    /// synced from: the secret's name in the source.
    pub object_alias: String,
}

/// The secret store syncing `p`'s secrets, when its cluster has one that
/// syncs and the workload has secrets there.
pub fn store_of<'a>(kind: GroupKind<'a>, p: &Placed<'_>) -> Option<&'a SecretStore> {
    let GroupKind::Cluster(c) = kind else { return None };
    let st = c.secret_store.as_ref().filter(|st| st.sync)?;
    let pulls = st.registries.iter().any(|r| r.workloads.contains(&p.w.name));
    (pulls || st.secrets.iter().any(|s| s.workload == p.w.name)).then_some(st)
}

/// The key of a `kubernetes.io/dockerconfigjson` Secret.
pub const DOCKER_CONFIG_KEY: &str = ".dockerconfigjson";

/// The mounted file of a registry's pull credential: `_registry-<name>`.
/// A secret's file is its variable name, which has no `-`, so the two
/// never meet.
fn registry_alias(registry: &str) -> String {
    format!("_registry-{registry}")
}

/// The `SecretProviderClass` of `w`, `<workload>-secrets`: it syncs the
/// workload's secrets into the Secret of that name (when it has some) and
/// the pull credential of the registry it pulls from into that registry's
/// pull Secret.
pub fn provider_class(
    sol: &Solution,
    st: &SecretStore,
    w: &Workload,
    labels: BTreeMap<String, String>,
) -> Result<SecretProviderClass, EmitError> {
    let own: Vec<_> = st.secrets.iter().filter(|s| s.workload == w.name).collect();
    let pulls: Vec<_> = st
        .registries
        .iter()
        .filter(|r| r.workloads.contains(&w.name))
        .filter_map(|r| Some((r, sol.registries.iter().find(|x| x.name == r.registry)?)))
        .collect();
    let mut objects: Vec<StoreObject> = own
        .iter()
        .map(|s| StoreObject {
            object_name: s.name.clone(),
            object_type: "secretsmanager".into(),
            object_alias: s.key.clone(),
        })
        .collect();
    objects.extend(pulls.iter().map(|(r, _)| StoreObject {
        object_name: r.name.clone(),
        object_type: "secretsmanager".into(),
        object_alias: registry_alias(&r.registry),
    }));
    let objects = crate::emit::yaml::to_string(&objects)
        .map_err(|e| super::err(format!("cannot serialize the secret objects of {}: {e}", w.name)))?;
    let mut parameters = BTreeMap::new();
    parameters.insert("objects".to_string(), objects);
    parameters.insert("region".to_string(), st.region.clone());
    parameters.insert("usePodIdentity".to_string(), "true".to_string());
    let mut secret_objects = Vec::new();
    if !own.is_empty() {
        secret_objects.push(SecretObject {
            secret_name: pod::secret_name(w),
            type_: "Opaque".into(),
            labels: meta::some_map(labels.clone()),
            data: own
                .iter()
                .map(|s| SecretObjectData {
                    object_name: s.key.clone(),
                    key: s.key.clone(),
                })
                .collect(),
        });
    }
    // Every pod pulling from the registry syncs the same Secret from the
    // same document; the driver updates it in place and keeps it while
    // one of them runs.
    for (r, reg) in &pulls {
        let mut l = meta::solution_labels(sol);
        l.insert("iotc.dev/registry".to_string(), r.registry.clone());
        secret_objects.push(SecretObject {
            secret_name: reg.pull_secret.clone(),
            type_: "kubernetes.io/dockerconfigjson".into(),
            labels: meta::some_map(l),
            data: vec![SecretObjectData {
                object_name: registry_alias(&r.registry),
                key: DOCKER_CONFIG_KEY.into(),
            }],
        });
    }
    Ok(SecretProviderClass {
        api_version: API_VERSION.into(),
        kind: "SecretProviderClass".into(),
        metadata: meta::object_meta(&w.namespace, &pod::secret_name(w), labels.clone(), BTreeMap::new()),
        spec: SecretProviderClassSpec {
            provider: "aws".into(),
            parameters,
            secret_objects,
        },
    })
}

/// `05-secrets-store.yaml` of a cluster whose secrets are synced: the
/// driver may read and write Secrets (what the driver chart's `syncSecret`
/// grants; the EKS add-on does not create it from its configuration, see
/// docs/k8s.md "Secrets").
pub fn docs(ctx: &Ctx<'_>, kind: GroupKind<'_>, members: &[Placed<'_>]) -> Result<Docs, EmitError> {
    let sol = ctx.sol;
    let mut docs = Docs::new(sol, 2);
    if !members.iter().any(|p| store_of(kind, p).is_some()) {
        return Ok(docs);
    }
    let name = format!("iotc-{}-secrets-store-sync", sol.namespace);
    let mut labels = BTreeMap::new();
    labels.insert("app.kubernetes.io/managed-by".to_string(), "iotc".to_string());
    labels.insert("app.kubernetes.io/part-of".to_string(), sol.name.clone());
    // The driver watches the Secrets it manages in every namespace (one
    // cluster-wide, label-filtered watch), so a namespaced Role cannot do.
    let mut skips = Skips::default();
    skips.add(
        "CKV2_K8S_5",
        "the Secrets Store CSI driver syncs Secrets in every namespace it serves (its chart's syncSecret role)",
    );
    let mut annotations = BTreeMap::new();
    skips.annotate(&mut annotations);
    let object = |name: &str| ObjectMeta {
        name: Some(name.to_string()),
        labels: Some(labels.clone()),
        annotations: Some(annotations.clone()),
        ..Default::default()
    };
    docs.push(&ClusterRole {
        metadata: object(&name),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["secrets".into()]),
            verbs: ["create", "delete", "get", "list", "patch", "update", "watch"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        }]),
        ..Default::default()
    })?;
    docs.push(&ClusterRoleBinding {
        metadata: object(&name),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: DRIVER_ACCOUNT.1.into(),
            namespace: Some(DRIVER_ACCOUNT.0.into()),
            ..Default::default()
        }]),
    })?;
    Ok(docs)
}
