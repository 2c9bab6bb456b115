#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Object-store externals (`external raw { … bucket = "…" writes = … }`):
//! a workload on an AWS cluster that talks to one gets IAM for that bucket
//! only — list it, get its objects, and put/delete them only when the
//! external `writes` — on its own role (the Pod Identity role on EKS); a
//! workload that does not talk to it gets nothing on it. Checked on every
//! example and on a solution with a read-only and a read/write bucket;
//! and the diagnostics for bad bucket names.

use iotc_compiler::diag::Code;
use iotc_compiler::emit::{emit, Target};
use iotc_compiler::ir::Solution;
use iotc_compiler::source::MemoryDb;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

mod common;
use common::{checked, example, EXAMPLES};

/// Every S3 action each IAM role may take on each external bucket of the
/// solution, from every `bucket-*` `aws_iam_role_policy` of every Terraform file:
/// role resource name → bucket → actions (on the bucket or its objects).
fn bucket_grants(sol: &Solution) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let buckets: BTreeSet<String> = sol
        .externals
        .iter()
        .filter_map(|x| x.bucket.as_ref().map(|b| b.name.clone()))
        .collect();
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for f in emit(sol, &[Target::Terraform]).unwrap() {
        if !f.path.ends_with(".tf.json") {
            continue;
        }
        let doc: Value = serde_json::from_str(&f.contents).unwrap();
        let Some(policies) = doc["resource"]["aws_iam_role_policy"].as_object() else {
            continue;
        };
        // The object-store policies (`bucket-<external>`); a model's
        // trainer may also read its `data` URL through its model-store
        // policy, which tests/models.rs checks.
        for p in policies
            .values()
            .filter(|p| p["name"].as_str().unwrap().starts_with("bucket-"))
        {
            let role = p["role"].as_str().unwrap();
            let role = role
                .strip_prefix("${aws_iam_role.")
                .and_then(|r| r.strip_suffix(".id}"))
                .unwrap_or(role)
                .to_string();
            let text = p["policy"].as_str().unwrap();
            let text = text
                .strip_prefix("${jsonencode(")
                .and_then(|t| t.strip_suffix(")}"))
                .unwrap_or(text);
            // `${jsonencode({"k" = v, …})}` read back as JSON.
            let policy: Value = serde_json::from_str(&text.replace("\" = ", "\": "))
                .unwrap_or_else(|e| panic!("{}: {e}: {text}", f.path));
            for st in policy["Statement"].as_array().unwrap() {
                if st["Effect"] != "Allow" {
                    continue;
                }
                let list = |v: &Value| -> Vec<String> {
                    match v {
                        Value::String(s) => vec![s.clone()],
                        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
                        _ => Vec::new(),
                    }
                };
                for r in list(&st["Resource"]) {
                    let Some(rest) = r
                        .strip_prefix("arn:aws:s3:::")
                        .or_else(|| r.strip_prefix("arn:${data.aws_partition.current.partition}:s3:::"))
                    else {
                        continue;
                    };
                    let bucket = rest.split('/').next().unwrap();
                    if !buckets.contains(bucket) {
                        continue;
                    }
                    out.entry(role.clone())
                        .or_default()
                        .entry(bucket.to_string())
                        .or_default()
                        .extend(list(&st["Action"]));
                }
            }
        }
    }
    out
}

/// What each workload on an AWS cluster must be granted on each external
/// bucket: exactly the buckets it talks to, writing only where declared.
fn expected(sol: &Solution) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for e in sol.egress.iter().filter(|e| !e.from_fleet) {
        let Some(b) = &e.bucket else { continue };
        let c = sol.clusters.iter().find(|c| c.name == e.from_group).unwrap();
        if !format!("{:?}", c.provider).starts_with("Aws") {
            continue;
        }
        let mut actions: BTreeSet<String> = ["s3:ListBucket", "s3:GetObject"].map(String::from).into();
        if b.writes {
            actions.extend(["s3:PutObject", "s3:DeleteObject"].map(String::from));
        }
        out.entry(e.from.replace('-', "_"))
            .or_default()
            .entry(b.name.clone())
            .or_default()
            .extend(actions);
    }
    out
}

#[test]
fn every_example_grants_exactly_the_buckets_its_workloads_talk_to() {
    for name in EXAMPLES {
        let sol = example(name);
        assert_eq!(bucket_grants(&sol), expected(&sol), "{name}");
    }
}

const SRC: &str = r#"solution s { version = "1" namespace = "s" }
import std.cloud
cluster c { provider = aws { region = "eu-west-1" } distribution = eks node = std.cloud.aws_m6i_xlarge nodes = 1 }
external raw {
  host = "acme-raw.s3.eu-west-1.amazonaws.com" cidr = "0.0.0.0/0" port = 443 scheme = "https"
  bucket = "acme-raw"
}
external reports {
  host = "acme-reports.s3.eu-west-1.amazonaws.com" cidr = "0.0.0.0/0" port = 443 scheme = "https"
  bucket = "acme-reports" writes = true
}
external db { host = "db.internal" cidr = "10.9.0.0/16" port = 5432 }
service analytics on c { image = "x/a:1" talks_to = [raw, reports] }
job export on c { image = "x/e:1" env { RAW = raw.url } }
service api on c { image = "x/api:1" talks_to = [db] }
"#;

#[test]
fn a_bucket_is_read_or_written_as_declared_and_by_its_callers_only() {
    let sol = checked(&MemoryDb::new().with("t.iot", SRC), "t.iot");
    let grants = bucket_grants(&sol);
    assert_eq!(grants, expected(&sol));
    let set = |a: &[&str]| -> BTreeSet<String> { a.iter().map(|s| s.to_string()).collect() };
    let read = set(&["s3:ListBucket", "s3:GetObject"]);
    let write = set(&["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"]);
    assert_eq!(grants["analytics"]["acme-raw"], read);
    assert_eq!(grants["analytics"]["acme-reports"], write);
    // An env reference is a use too (`raw.url` adds `raw` to `talks_to`).
    assert_eq!(grants["export"].keys().collect::<Vec<_>>(), vec!["acme-raw"]);
    assert_eq!(grants["export"]["acme-raw"], read);
    assert!(!grants.contains_key("api"), "{grants:?}");
    // Each of those roles is the workload's own, bound to its service
    // account through EKS Pod Identity.
    let tf = emit(&sol, &[Target::Terraform]).unwrap();
    let main: Value = tf
        .iter()
        .find(|f| f.path.ends_with(".tf.json") && f.contents.contains("aws_eks_pod_identity_association"))
        .map(|f| serde_json::from_str(&f.contents).unwrap())
        .unwrap();
    for w in ["analytics", "export"] {
        let a = &main["resource"]["aws_eks_pod_identity_association"][w];
        assert_eq!(a["service_account"], w, "{w}");
        assert_eq!(a["role_arn"], format!("${{aws_iam_role.{w}.arn}}"));
    }
    assert!(main["resource"]["aws_eks_pod_identity_association"]
        .get("api")
        .is_none());
}

fn errors(src: &str) -> Vec<Code> {
    common::errors(src).into_iter().map(|d| d.code).collect()
}

#[test]
fn bad_bucket_names_and_writes_without_a_bucket_are_refused() {
    for bad in [
        "s3://acme-raw",
        "Acme",
        "ab",
        "acme..raw",
        "-acme",
        "192.168.1.1",
        "acme/raw",
    ] {
        let src = SRC.replace(r#"bucket = "acme-raw""#, &format!("bucket = \"{bad}\""));
        assert_eq!(errors(&src), vec![Code::E0213], "{bad}");
    }
    let src = SRC.replace(r#"bucket = "acme-raw""#, "writes = true");
    assert_eq!(errors(&src), vec![Code::E0213]);
    assert!(errors(SRC).is_empty());
}
