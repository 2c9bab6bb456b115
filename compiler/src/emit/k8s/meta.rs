//! Names, labels, annotations and quantities shared by every object.

use super::{Placed, Unit};
use crate::ir::{Solution, Workload};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use std::collections::BTreeMap;

/// `app.kubernetes.io/managed-by` on every object.
pub const MANAGED_BY: &str = "iotc";

pub use crate::names::k8s_name;

/// CPU as a Kubernetes quantity: `500m`, or whole cores as `2`.
pub fn cpu(millis: u64) -> Quantity {
    if (millis / 1000) * 1000 == millis {
        Quantity(format!("{}", millis / 1000))
    } else {
        Quantity(format!("{millis}m"))
    }
}

/// Bytes as a Kubernetes quantity in the largest binary unit that divides
/// them exactly (`256Mi`, `12Gi`), or plain bytes.
pub fn bytes(n: u64) -> Quantity {
    const UNITS: [(&str, u64); 5] = [
        ("Pi", 1 << 50),
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (suffix, size) in UNITS {
        if n >= size && (n / size) * size == n {
            return Quantity(format!("{}{suffix}", n / size));
        }
    }
    Quantity(n.to_string())
}

/// A whole number as a quantity (pod counts, GPUs).
pub fn count(n: u64) -> Quantity {
    Quantity(n.to_string())
}

/// Seconds as a Prometheus duration (`1h`, `15m`, `1h30m`, `45s`).
pub fn duration(secs: u64) -> String {
    crate::emit::prometheus::duration(secs)
}

/// FNV-1a, 64 bit: a stable content hash for the `iotc.dev/config-hash`
/// pod annotation (not a security function).
pub fn fnv64(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Labels every object of the solution carries: the solution's own labels,
/// then `part-of`, `version` and `managed-by`.
pub fn solution_labels(sol: &Solution) -> BTreeMap<String, String> {
    let mut l = sol.labels.clone();
    l.insert("app.kubernetes.io/part-of".into(), sol.name.clone());
    l.insert("app.kubernetes.io/version".into(), sol.version.clone());
    l.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
    l
}

/// Labels of one workload's objects. `unit` is the controller instance
/// (`<workload>` or `<workload>-<site>`); `None` for objects shared by
/// every instance (ConfigMap, Service).
pub fn workload_labels(sol: &Solution, p: &Placed<'_>, unit: Option<&Unit<'_>>) -> BTreeMap<String, String> {
    let w = p.w;
    let mut l = solution_labels(sol);
    for (k, v) in &w.labels {
        l.insert(k.clone(), v.clone());
    }
    l.insert("app.kubernetes.io/name".into(), w.name.clone());
    l.insert(
        "app.kubernetes.io/instance".into(),
        unit.map(|u| u.name.clone()).unwrap_or_else(|| w.name.clone()),
    );
    l.insert("app.kubernetes.io/component".into(), w.kind.as_str().into());
    if let Some(site) = unit.and_then(|u| u.site) {
        l.insert(super::SITE_LABEL.into(), site.site.to_string());
    }
    if let Some(m) = &w.model {
        l.insert("iotc.dev/model".into(), k8s_name(&m.model));
    }
    l
}

/// The labels a controller selects its pods by. Never includes the version,
/// which changes while selectors are immutable.
pub fn selector_labels(w: &Workload, unit: &Unit<'_>) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert("app.kubernetes.io/name".into(), w.name.clone());
    l.insert("app.kubernetes.io/instance".into(), unit.name.clone());
    l
}

/// Selects every pod of a workload, on every site.
pub fn name_selector(name: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(
            "app.kubernetes.io/name".to_string(),
            name.to_string(),
        )])),
        ..Default::default()
    }
}

pub fn match_labels(l: BTreeMap<String, String>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(l),
        ..Default::default()
    }
}

/// The metadata of an object in `namespace` (a workload's is
/// `ir::Workload::namespace`).
pub fn object_meta(
    namespace: &str,
    name: &str,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: some_map(labels),
        annotations: some_map(annotations),
        ..Default::default()
    }
}

pub fn some_map<V>(m: BTreeMap<String, V>) -> Option<BTreeMap<String, V>> {
    if m.is_empty() {
        None
    } else {
        Some(m)
    }
}

pub fn some_vec<T>(v: Vec<T>) -> Option<Vec<T>> {
    if v.is_empty() {
        None
    } else {
        Some(v)
    }
}

/// checkov checks skipped on one object, each with the reason an IoT
/// workload needs it. Written as `checkov.io/skipN: CKV_K8S_xx=reason`
/// annotations (checkov splits on `=`, so reasons never contain one).
#[derive(Debug, Default, Clone)]
pub struct Skips(pub Vec<(&'static str, String)>);

impl Skips {
    pub fn add(&mut self, id: &'static str, reason: impl Into<String>) {
        if !self.0.iter().any(|(i, _)| *i == id) {
            self.0.push((id, reason.into().replace('=', " ")));
        }
    }

    pub fn annotate(&self, annotations: &mut BTreeMap<String, String>) {
        let mut sorted = self.0.clone();
        sorted.sort_by(|a, b| check_number(a.0).cmp(&check_number(b.0)).then(a.0.cmp(b.0)));
        for (i, (id, reason)) in sorted.iter().enumerate() {
            annotations.insert(format!("checkov.io/skip{}", i + 1), format!("{id}={reason}"));
        }
    }
}

fn check_number(id: &str) -> u32 {
    id.rsplit('_').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_use_the_largest_exact_unit() {
        assert_eq!(cpu(500).0, "500m");
        assert_eq!(cpu(2000).0, "2");
        assert_eq!(cpu(1500).0, "1500m");
        assert_eq!(bytes(256 << 20).0, "256Mi");
        assert_eq!(bytes(12 << 30).0, "12Gi");
        assert_eq!(bytes(1536 << 20).0, "1536Mi");
        assert_eq!(bytes(1000).0, "1000");
        assert_eq!(bytes(0).0, "0");
    }

    #[test]
    fn durations_are_prometheus_durations() {
        assert_eq!(duration(3600), "1h");
        assert_eq!(duration(900), "15m");
        assert_eq!(duration(5400), "1h30m");
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(0), "0");
    }

    #[test]
    fn skips_are_numbered_by_check_and_never_hold_an_equals_sign() {
        let mut s = Skips::default();
        s.add("CKV_K8S_43", "a=b");
        s.add("CKV_K8S_8", "x");
        s.add("CKV_K8S_8", "again");
        let mut a = BTreeMap::new();
        s.annotate(&mut a);
        assert_eq!(a.get("checkov.io/skip1").map(String::as_str), Some("CKV_K8S_8=x"));
        assert_eq!(a.get("checkov.io/skip2").map(String::as_str), Some("CKV_K8S_43=a b"));
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv64(""), "cbf29ce484222325");
        assert_ne!(fnv64("A=1\n"), fnv64("A=2\n"));
    }
}
