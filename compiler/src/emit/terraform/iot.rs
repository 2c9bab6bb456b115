//! The AWS IoT device registry of the solution: a thing type per fleet, a
//! thing group per fleet and per site (site groups under their fleet's), a
//! thing per gateway and per standby device (keyed by host name), one policy
//! per fleet scoped by policy variables to the connecting thing's own
//! topics, certificates from device CSRs (no private key in state), and the
//! role alias through which edge model servers get read access to the model
//! store.

use super::aws::{model_bucket, object_arn, s3_url, ACCOUNT, BUCKET_ARN, KEY_ARN, MODELS_PREFIX, PARTITION};
use super::{dash, err, fit, ident, jsonencode, lit, Doc};
use crate::emit::EmitError;
use crate::ir::{Fleet, Placement, Solution, WorkloadKind};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The policy variable naming the connected thing. `$${` keeps Terraform
/// from interpolating it.
const THING: &str = "$${iot:Connection.Thing.ThingName}";

/// AWS IoT thing name for a host (one function, shared with the checker,
/// which rejects two devices with the same thing name).
pub(crate) use crate::names::aws_iot_thing_name as thing_name;

/// A thing attribute value: `[a-zA-Z0-9_.,@/:#-]`, at most 800.
fn attr(s: &str) -> String {
    let v: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.,@/:#-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    v.chars().take(800).collect()
}

/// Models served on a fleet (their names, dashed).
fn served_models(sol: &Solution, f: &Fleet) -> BTreeSet<(String, Option<String>)> {
    sol.workloads
        .iter()
        .filter(|w| {
            w.kind == WorkloadKind::Serve && matches!(&w.placement, Placement::Fleet { fleet, .. } if fleet == &f.name)
        })
        .filter_map(|w| w.model.as_ref())
        .map(|m| (dash(&m.model), Some(m.artifact.clone())))
        .collect()
}

/// The MQTT topic root of a fleet's things: `<namespace>/<fleet>/<thing>/…`.
fn topic_root(sol: &Solution, f: &Fleet) -> String {
    format!("{}/{}", lit(&sol.namespace), lit(&f.name))
}

pub(crate) fn registry(d: &mut Doc, sol: &Solution) -> Result<(), EmitError> {
    if sol.fleets.is_empty() {
        return Ok(());
    }
    // Devices, keyed by host name (stable: a knob change adds or removes
    // keys, it never renames one).
    let mut gateways = Map::new();
    let mut standby = Map::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for f in &sol.fleets {
        for s in &f.sites {
            for (hosts, out) in [(&s.hosts, &mut gateways), (&s.standby_hosts, &mut standby)] {
                for h in hosts {
                    let name = thing_name(h);
                    // Internal: the checker gives every device its own
                    // thing name (E0208).
                    if let Some(other) = seen.insert(name.clone(), h.clone()) {
                        return Err(err(format!(
                            "hosts {other} and {h} map to the same AWS IoT thing name {name}"
                        )));
                    }
                    out.insert(
                        lit(h),
                        json!({ "thing_name": name, "fleet": lit(&f.name), "site": lit(&s.name) }),
                    );
                }
            }
        }
    }
    let has_standby = !standby.is_empty();
    d.local("gateways", Value::Object(gateways));
    d.local("standby_devices", Value::Object(standby));
    d.local("devices", json!("${merge(local.gateways, local.standby_devices)}"));

    d.variable(
        "device_csrs",
        json!({
            "type": "map(string)",
            "default": {},
            "sensitive": false,
            "description": "PEM certificate signing requests by device host name (a key of local.devices). Each device makes its key pair on board and sends only the CSR; AWS IoT signs it, so no private key is ever in Terraform state.",
            "validation": [
                {
                    "condition": "${alltrue([for h in keys(var.device_csrs) : contains(keys(local.devices), h)])}",
                    "error_message": "Every key of device_csrs must be the host name of a gateway or standby device of the solution.",
                },
                {
                    "condition": "${alltrue([for csr in values(var.device_csrs) : strcontains(csr, \"CERTIFICATE REQUEST\")])}",
                    "error_message": "Every value of device_csrs must be a PEM-encoded certificate signing request.",
                },
            ],
        }),
    );
    d.data("aws_iot_endpoint", "data", json!({ "endpoint_type": "iot:Data-ATS" }));
    d.data(
        "aws_iot_endpoint",
        "credentials",
        json!({ "endpoint_type": "iot:CredentialProvider" }),
    );

    let mut policies = Map::new();
    for f in &sol.fleets {
        let fid = ident(&f.name);
        let fleet = dash(&f.name);
        d.resource(
            "aws_iot_thing_type",
            &fid,
            json!({
                "name": format!("${{var.name_prefix}}-{}", fit(&fleet, 100)),
                "properties": {
                    "description": fit(&format!("{} gateways ({})", lit(&f.name), lit(&f.device.name)), 2028),
                    "searchable_attributes": ["fleet", "site", "role"],
                },
            }),
        );
        d.resource(
            "aws_iot_thing_group",
            &fid,
            json!({
                "name": format!("${{var.name_prefix}}-{}", fit(&fleet, 100)),
                "properties": { "description": format!("Fleet {}", lit(&f.name)) },
            }),
        );
        for s in &f.sites {
            let mut props = json!({ "description": format!("Site {} of fleet {}", lit(&s.name), lit(&f.name)) });
            if let (Some(region), Value::Object(m)) = (&s.region, &mut props) {
                m.insert(
                    "attribute_payload".into(),
                    json!({ "attributes": { "region": attr(region) } }),
                );
            }
            d.resource(
                "aws_iot_thing_group",
                &format!("{fid}_{}", ident(&s.name)),
                json!({
                    "name": format!("${{var.name_prefix}}-{}", fit(&format!("{fleet}-{}", dash(&s.name)), 100)),
                    "parent_group_name": format!("${{aws_iot_thing_group.{fid}.name}}"),
                    "properties": props,
                }),
            );
        }

        // One policy per fleet: every resource is scoped by the policy
        // variable to the thing the certificate is attached to, so it grants
        // each device exactly what a per-device policy would.
        let root = topic_root(sol, f);
        let arn = |kind: &str, rest: &str| format!("arn:{PARTITION}:iot:${{var.region}}:{ACCOUNT}:{kind}/{rest}");
        let mut statements = vec![
            json!({
                "Sid": "ConnectAsOwnThing",
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": arn("client", THING),
                "Condition": { "Bool": { "iot:Connection.Thing.IsAttached": "true" } },
            }),
            json!({
                "Sid": "OwnTopics",
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:Receive"],
                "Resource": [
                    arn("topic", &format!("{root}/{THING}/*")),
                    arn("topic", &format!("$aws/things/{THING}/shadow/*")),
                    arn("topic", &format!("$aws/things/{THING}/jobs/*")),
                ],
            }),
            json!({
                "Sid": "OwnTopicFilters",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": [
                    arn("topicfilter", &format!("{root}/{THING}/*")),
                    arn("topicfilter", &format!("$aws/things/{THING}/shadow/*")),
                    arn("topicfilter", &format!("$aws/things/{THING}/jobs/*")),
                ],
            }),
        ];
        let models = served_models(sol, f);
        if !models.is_empty() {
            statements.push(json!({
                "Sid": "EdgeServingCredentials",
                "Effect": "Allow",
                "Action": "iot:AssumeRoleWithCertificate",
                "Resource": format!("${{aws_iot_role_alias.{fid}.arn}}"),
            }));
            edge_role(d, sol, f, &models);
        }
        d.resource(
            "aws_iot_policy",
            &fid,
            json!({
                "name": format!("${{var.name_prefix}}-{}", fit(&fleet, 100)),
                "policy": jsonencode(&json!({ "Version": "2012-10-17", "Statement": statements })),
            }),
        );
        policies.insert(lit(&f.name), json!(format!("${{aws_iot_policy.{fid}.name}}")));
    }
    d.local("fleet_policies", Value::Object(policies));

    let mut types = Map::new();
    let mut groups = Map::new();
    for f in &sol.fleets {
        let fid = ident(&f.name);
        types.insert(lit(&f.name), json!(format!("${{aws_iot_thing_type.{fid}.name}}")));
        let mut sites = Map::new();
        for s in &f.sites {
            let sid = ident(&s.name);
            sites.insert(
                lit(&s.name),
                json!(format!("${{aws_iot_thing_group.{fid}_{sid}.name}}")),
            );
        }
        groups.insert(lit(&f.name), Value::Object(sites));
    }
    d.local("thing_types", Value::Object(types));
    d.local("site_groups", Value::Object(groups));
    let device = |role: &str, map: &str| {
        json!({
            "for_each": format!("${{local.{map}}}"),
            "name": "${each.value.thing_name}",
            "thing_type_name": "${local.thing_types[each.value.fleet]}",
            "attributes": { "fleet": "${each.value.fleet}", "site": "${each.value.site}", "role": role },
        })
    };
    d.resource("aws_iot_thing", "gateway", device("gateway", "gateways"));
    d.resource(
        "aws_iot_thing_group_membership",
        "gateway",
        json!({
            "for_each": "${local.gateways}",
            "thing_name": "${aws_iot_thing.gateway[each.key].name}",
            "thing_group_name": "${local.site_groups[each.value.fleet][each.value.site]}",
        }),
    );
    let mut thing_deps = vec![json!("aws_iot_thing.gateway")];
    if has_standby {
        d.resource("aws_iot_thing", "standby", device("standby", "standby_devices"));
        d.resource(
            "aws_iot_thing_group_membership",
            "standby",
            json!({
                "for_each": "${local.standby_devices}",
                "thing_name": "${aws_iot_thing.standby[each.key].name}",
                "thing_group_name": "${local.site_groups[each.value.fleet][each.value.site]}",
            }),
        );
        thing_deps.push(json!("aws_iot_thing.standby"));
    }
    d.resource(
        "aws_iot_certificate",
        "device",
        json!({ "for_each": "${var.device_csrs}", "csr": "${each.value}", "active": true }),
    );
    d.resource(
        "aws_iot_policy_attachment",
        "device",
        json!({
            "for_each": "${var.device_csrs}",
            "policy": "${local.fleet_policies[local.devices[each.key].fleet]}",
            "target": "${aws_iot_certificate.device[each.key].arn}",
        }),
    );
    d.resource(
        "aws_iot_thing_principal_attachment",
        "device",
        json!({
            "for_each": "${var.device_csrs}",
            "thing": "${local.devices[each.key].thing_name}",
            "principal": "${aws_iot_certificate.device[each.key].arn}",
            "depends_on": thing_deps,
        }),
    );
    Ok(())
}

/// The edge serving role of a fleet, assumed through the AWS IoT credential
/// provider with the device certificate: read the fleet's models only.
fn edge_role(d: &mut Doc, sol: &Solution, f: &Fleet, models: &BTreeSet<(String, Option<String>)>) {
    let fid = ident(&f.name);
    let fleet = dash(&f.name);
    let store = model_bucket(sol);
    let mut read = Vec::new();
    for (model, artifact) in models {
        match artifact.as_deref().and_then(s3_url) {
            // The served object of the model store, nothing else.
            Some((b, k)) => read.push(json!(object_arn(store, b, k))),
            None => read.push(json!(format!("{BUCKET_ARN}/{MODELS_PREFIX}{model}/*"))),
        }
    }
    let role = format!("edge_{fid}");
    d.resource(
        "aws_iam_role",
        &role,
        json!({
            "name": format!("${{var.name_prefix}}-{}-edge", fit(&fleet, 34)),
            "description": format!("Model servers of fleet {} (AWS IoT credential provider)", lit(&f.name)),
            "assume_role_policy": jsonencode(&json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": "credentials.iot.amazonaws.com" },
                    "Action": "sts:AssumeRole",
                }],
            })),
        }),
    );
    d.resource(
        "aws_iam_role_policy",
        &role,
        json!({
            "name": "read-models",
            "role": format!("${{aws_iam_role.{role}.id}}"),
            "policy": jsonencode(&json!({
                "Version": "2012-10-17",
                "Statement": [
                    { "Sid": "ReadModels", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": read },
                    { "Sid": "UseKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": KEY_ARN },
                ],
            })),
        }),
    );
    d.resource(
        "aws_iot_role_alias",
        &fid,
        json!({
            "alias": format!("${{var.name_prefix}}-{}-edge", fit(&fleet, 90)),
            "role_arn": format!("${{aws_iam_role.{role}.arn}}"),
            "credential_duration": 3600,
        }),
    );
}

pub(crate) fn outputs(d: &mut Doc, sol: &Solution) {
    if sol.fleets.is_empty() {
        return;
    }
    d.output(
        "iot_endpoint",
        "AWS IoT Core data endpoint (MQTT over TLS, ATS) for the gateways.",
        json!("${data.aws_iot_endpoint.data.endpoint_address}"),
    );
    d.output(
        "iot_credentials_endpoint",
        "AWS IoT credential provider endpoint (edge model servers exchange their certificate for the role alias's credentials).",
        json!("${data.aws_iot_endpoint.credentials.endpoint_address}"),
    );
    d.output(
        "gateway_things",
        "AWS IoT thing name per gateway host.",
        json!("${{ for h, t in aws_iot_thing.gateway : h => t.name }}"),
    );
    let aliases: Map<String, Value> = sol
        .fleets
        .iter()
        .filter(|f| !served_models(sol, f).is_empty())
        .map(|f| {
            (
                f.name.clone(),
                json!(format!("${{aws_iot_role_alias.{}.alias}}", ident(&f.name))),
            )
        })
        .collect();
    if !aliases.is_empty() {
        d.output(
            "edge_role_aliases",
            "IoT role alias per fleet for edge model servers.",
            Value::Object(aliases),
        );
    }
}
