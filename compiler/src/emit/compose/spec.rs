//! The part of the Compose Specification the backend writes, as typed
//! values. Field names are the specification's; optional fields are left
//! out when unset, so the files carry only what a solution says. Maps are
//! `BTreeMap`s, so keys come out sorted and the output is stable.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A Compose file (no top-level `version:`, which the specification
/// deprecates).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ComposeFile {
    pub name: String,
    pub services: BTreeMap<String, Service>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, NamedVolume>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Secret>,
    /// Files iotc writes for a service (a Prometheus's config), inline.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, Config>,
    /// Every image the stack pulls, by the name the source gives (before
    /// `Site::image_at`): the site's `mirror-images.txt`. Not in the file.
    #[serde(skip)]
    pub pulls: BTreeSet<String>,
}

/// A top-level config with its content in the file (Compose v2.23.1+).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Config {
    pub content: String,
}

/// A config mounted into a service's container, read-only.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceConfig {
    pub source: String,
    pub target: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Service {
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    pub restart: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    pub read_only: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<ServiceConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeMount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, DependsOn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    pub deploy: Deploy,
    pub logging: Logging,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DependsOn {
    pub condition: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: String,
    pub timeout: String,
    pub retries: u32,
    pub start_period: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Deploy {
    /// A `${IOTC_REPLICAS_…:-N}` interpolation: the copies on this gateway.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<String>,
    pub resources: Resources,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Resources {
    pub limits: Limits,
    pub reservations: Reservations,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Limits {
    pub cpus: String,
    pub memory: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Reservations {
    pub cpus: String,
    pub memory: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRequest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceRequest {
    pub capabilities: Vec<String>,
    pub count: u32,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Logging {
    pub driver: String,
    pub options: BTreeMap<String, String>,
}

/// Long-syntax service volume.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeMount {
    #[serde(rename = "type")]
    pub kind: String,
    pub source: String,
    pub target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Network {
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NamedVolume {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A top-level secret: where Compose reads it from, never its value.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Secret {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}
