//! An AWS cluster: network, EKS (or EC2 for kubeadm/k3s), the model store,
//! least-privilege IAM for training and serving, Secrets Manager secret
//! containers, and, for the first AWS cluster of the solution, the IoT
//! device registry ([`super::iot`]).

use super::EC2_LOGIN_USER as EC2_LOGIN;
use super::{
    dash, default_prefix, err, fit, gib, hcl_str, ident, iot, jsonencode, lit, Doc, AWS_PROVIDER_VERSION, PREFIX_REGEX,
};
use crate::emit::EmitError;
use crate::ir::{Cluster, Placement, Pool, Reach, SecretSource, Solution, Workload, WorkloadKind};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Prefix of uploaded edge data in the bucket (`data/<fleet>/…`).
pub(crate) const DATA_PREFIX: &str = "data/";
/// Prefix of model artifacts in the bucket (`models/<model>/…`).
pub(crate) const MODELS_PREFIX: &str = "models/";

pub(crate) const ACCOUNT: &str = "${data.aws_caller_identity.current.account_id}";
pub(crate) const PARTITION: &str = "${data.aws_partition.current.partition}";
pub(crate) const KEY_ARN: &str = "${aws_kms_key.main.arn}";
pub(crate) const BUCKET_ARN: &str = "${aws_s3_bucket.artifacts.arn}";

/// Upper bound of a node group: twice the evaluated count (at least one
/// more), so the cluster autoscaler has room while desired = min = the
/// count the source asks for.
pub(crate) fn max_nodes(nodes: u32) -> u32 {
    nodes.saturating_mul(2).max(nodes.saturating_add(1))
}

/// The cluster or fleet a workload runs on.
pub(crate) fn group(w: &Workload) -> &str {
    match &w.placement {
        Placement::Cluster { cluster, .. } => cluster,
        Placement::Fleet { fleet, .. } => fleet,
    }
}

fn on_fleet(w: &Workload) -> bool {
    matches!(w.placement, Placement::Fleet { .. })
}

/// An `s3://bucket/key` URL split into bucket and key.
pub(crate) fn s3_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then_some((bucket, key))
}

/// ARN of an object or prefix (`key` ending in `/` gets `*`) of a bucket
/// named in the source.
pub(crate) fn s3_arn(bucket: &str, key: &str) -> String {
    let key = if key.is_empty() || key.ends_with('/') {
        format!("{key}*")
    } else {
        key.to_string()
    };
    format!("arn:{PARTITION}:s3:::{}/{}", lit(bucket), lit(&key))
}

/// The one model store: the bucket of the models' `s3://` artifacts (the
/// first model's, in source order), which this document creates as
/// `aws_s3_bucket.artifacts`, so the bucket the workloads read is the one
/// Terraform manages. `None` when no model is on S3.
pub(crate) fn model_bucket(sol: &Solution) -> Option<&str> {
    sol.models.iter().find_map(|m| s3_url(&m.artifact).map(|(b, _)| b))
}

/// An object ARN: through the managed bucket's ARN when the object is in
/// the model store, literal otherwise (training data elsewhere).
pub(crate) fn object_arn(store: Option<&str>, bucket: &str, key: &str) -> String {
    if store == Some(bucket) {
        let key = if key.is_empty() || key.ends_with('/') {
            format!("{key}*")
        } else {
            key.to_string()
        };
        format!("{BUCKET_ARN}/{}", lit(&key))
    } else {
        s3_arn(bucket, key)
    }
}

fn tcp_udp(protocol: &str) -> &'static str {
    if protocol == "udp" {
        "udp"
    } else {
        "tcp"
    }
}

fn cidr_validation(var: &str, what: &str) -> Value {
    json!([{
        "condition": format!("${{alltrue([for c in var.{var} : can(cidrhost(c, 0))])}}"),
        "error_message": format!("Every entry of {var} must be an IPv4 CIDR block ({what})."),
    }])
}

fn trust(service: &str) -> Value {
    jsonencode(&json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sts:AssumeRole",
        }],
    }))
}

fn managed(policy: &str) -> String {
    format!("arn:{PARTITION}:iam::aws:policy/{policy}")
}

/// The fields of an AWS cluster's provider ([`crate::ir::Provider::Aws`]): the caller
/// matched the provider, so this backend has no "not on AWS" case.
pub(crate) struct AwsProvider<'a> {
    pub region: &'a String,
    pub vpc_cidr: &'a String,
    pub zones: &'a u32,
}

pub(crate) fn document(
    sol: &Solution,
    c: &Cluster,
    provider: AwsProvider<'_>,
    with_registry: bool,
) -> Result<Doc, EmitError> {
    let AwsProvider {
        region,
        vpc_cidr,
        zones,
    } = provider;
    let eks = c.distribution == "eks";
    let mut d = Doc::default();

    // ---------------------------------------------------------- terraform
    // 1.11: the ephemeral `secret_values` variable and the write-only
    // `secret_string_wo` (docs/terraform.md, "Secrets") need it.
    d.terraform("required_version", json!(">= 1.11.0"));
    d.terraform(
        "required_providers",
        json!({ "aws": { "source": "hashicorp/aws", "version": AWS_PROVIDER_VERSION } }),
    );

    // ---------------------------------------------------------- variables
    d.variable(
        "region",
        json!({
            "type": "string",
            "default": region,
            "description": format!("AWS region of cluster {} (from the source).", c.name),
            "validation": [{
                "condition": "${can(regex(\"^[a-z]{2}(-[a-z]+)+-[0-9]+$\", var.region))}",
                "error_message": "region must be an AWS region name such as eu-west-1.",
            }],
        }),
    );
    d.variable(
        "name_prefix",
        json!({
            "type": "string",
            "default": default_prefix(sol, c),
            "description": "Prefix of every AWS resource name; change it per environment (3 to 24 characters: lowercase letters, digits, hyphens).",
            "validation": [{
                "condition": format!("${{can(regex(\"{PREFIX_REGEX}\", var.name_prefix))}}"),
                "error_message": "name_prefix must be 3 to 24 characters: a lowercase letter, then lowercase letters, digits or hyphens, not ending in a hyphen.",
            }],
        }),
    );
    d.variable(
        "vpc_cidr",
        json!({
            "type": "string",
            "default": vpc_cidr,
            "description": "IPv4 CIDR block of the VPC; private subnets take /4 slices 0 to 5 (one per zone), public subnets slices 8 to 13.",
            "validation": [{
                "condition": "${can(cidrhost(var.vpc_cidr, 0)) && try(tonumber(split(\"/\", var.vpc_cidr)[1]) >= 16 && tonumber(split(\"/\", var.vpc_cidr)[1]) <= 24, false)}",
                "error_message": "vpc_cidr must be an IPv4 CIDR block between /16 and /24.",
            }],
        }),
    );
    let min_zones = if eks { 2 } else { 1 };
    let letters = "abcdefghijklmnopqrstuvwxyz";
    let default_zones: Vec<String> = letters
        .chars()
        .take(usize::try_from(*zones).unwrap_or(1).clamp(1, 6))
        .map(|l| format!("{region}{l}"))
        .collect();
    d.variable(
        "availability_zones",
        json!({
            "type": "list(string)",
            "default": default_zones,
            "description": format!("Availability zones of the subnets (and NAT gateways), pinned by name: {zones} from the source. Override where a region lacks a letter (e.g. ap-northeast-1 has no 1b)."),
            "validation": [{
                "condition": format!("${{length(var.availability_zones) >= {min_zones} && length(var.availability_zones) <= 6 && alltrue([for z in var.availability_zones : startswith(z, var.region)])}}"),
                "error_message": format!("availability_zones must name {min_zones} to 6 zones of the region."),
            }],
        }),
    );
    d.variable(
        "public_ingress_cidrs",
        json!({
            "type": "list(string)",
            "default": ["0.0.0.0/0"],
            "description": "Who may reach the public services (declared `public = true`) on their ports. Narrow it to your clients' ranges where you can.",
            "validation": cidr_validation("public_ingress_cidrs", "public clients"),
        }),
    );
    d.variable(
        "edge_cidrs",
        json!({
            "type": "list(string)",
            "default": [],
            "description": "Egress addresses of the edge sites (NAT, cellular APN, VPN). The flows the source declares from fleets to this cluster are opened from these ranges only; empty keeps them closed.",
            "validation": cidr_validation("edge_cidrs", "edge sites"),
        }),
    );
    if !eks {
        d.variable(
            "ssh_key_name",
            json!({
                "type": "string",
                "default": null,
                "description": format!("Name of an EC2 key pair installed for the user {EC2_LOGIN} on every node: Ansible installs Kubernetes over SSH (ansible/terraform_<cluster>.py lists the nodes' private addresses). Null: no key; reach the nodes some other way (e.g. an SSH key put in by SSM)."),
            }),
        );
    }
    if eks {
        d.variable(
            "api_public_access",
            json!({
                "type": "bool",
                "default": false,
                "description": "Expose the EKS API endpoint publicly (to api_public_cidrs only). Off: the API is reachable from inside the VPC (VPN, bastion, SSM).",
            }),
        );
        d.variable(
            "api_public_cidrs",
            json!({
                "type": "list(string)",
                "default": ["10.255.255.255/32"],
                "description": "Who may reach the public EKS API endpoint when api_public_access is on. Never 0.0.0.0/0.",
                "validation": [{
                    "condition": "${length(var.api_public_cidrs) > 0 && alltrue([for c in var.api_public_cidrs : can(cidrhost(c, 0)) && c != \"0.0.0.0/0\"])}",
                    "error_message": "api_public_cidrs must be one or more IPv4 CIDR blocks, none of them 0.0.0.0/0.",
                }],
            }),
        );
    }
    d.variable(
        "edge_data_retention_days",
        json!({
            "type": "number",
            "default": 365,
            "description": "Days uploaded edge data (data/ in the bucket) is kept.",
            "validation": [{
                "condition": "${var.edge_data_retention_days >= 30 && floor(var.edge_data_retention_days) == var.edge_data_retention_days}",
                "error_message": "edge_data_retention_days must be a whole number of at least 30.",
            }],
        }),
    );

    // ----------------------------------------------------------- provider
    let mut tags = serde_json::Map::new();
    tags.insert("iotc.dev/solution".into(), json!(lit(&sol.name)));
    tags.insert("iotc.dev/cluster".into(), json!(lit(&c.name)));
    tags.insert("iotc.dev/managed-by".into(), json!("iotc"));
    for (k, v) in &sol.labels {
        tags.insert(lit(k), json!(lit(v)));
    }
    d.provider(
        "aws",
        json!({ "region": "${var.region}", "default_tags": { "tags": tags } }),
    );

    d.data("aws_caller_identity", "current", json!({}));
    d.data("aws_partition", "current", json!({}));
    // Pinned by name, so the set never grows when AWS adds a zone.
    d.data(
        "aws_availability_zones",
        "pinned",
        json!({
            "state": "available",
            "filter": [{ "name": "zone-name", "values": "${var.availability_zones}" }],
        }),
    );

    kms(&mut d);
    network(&mut d);
    security_groups(&mut d, sol, c, eks);
    bucket(&mut d, model_bucket(sol));
    if eks {
        eks_cluster(&mut d, sol, c)?;
    } else {
        ec2_nodes(&mut d, c)?;
    }
    let mut roles = workload_roles(&mut d, sol, c, eks);
    let secret_ids = secrets(&mut d, sol, c);
    if eks && c.secret_store.as_ref().is_some_and(|st| st.sync) {
        secrets_store_addon(&mut d, c);
    }
    secret_readers(&mut d, sol, eks, &mut roles, &secret_ids);
    bucket_users(&mut d, sol, c, eks, &mut roles);
    if with_registry {
        iot::registry(&mut d, sol)?;
    }

    // ------------------------------------------------------------ outputs
    if eks {
        d.output(
            "cluster_name",
            "Name of the EKS cluster.",
            json!("${aws_eks_cluster.main.name}"),
        );
        d.output(
            "cluster_endpoint",
            "Kubernetes API endpoint of the EKS cluster.",
            json!("${aws_eks_cluster.main.endpoint}"),
        );
    } else if let Some((first, _)) = c.control_plane() {
        d.output(
            "cluster_endpoint",
            "Kubernetes API endpoint (kubeadm/k3s server on the first node, installed by Ansible).",
            json!(format!(
                "https://${{aws_instance.{}[0].private_ip}}:6443",
                ident(&first.name)
            )),
        );
        let mut ips = serde_json::Map::new();
        for p in &c.pools {
            ips.insert(
                p.name.clone(),
                json!(format!("${{aws_instance.{}[*].private_ip}}", ident(&p.name))),
            );
        }
        d.output(
            "node_private_ips",
            "Private addresses of the nodes per pool, for the Ansible inventory (ansible/terraform_<cluster>.py).",
            Value::Object(ips),
        );
        d.output(
            "vpc_cidr",
            "Address range of the VPC: the nodes' network for their host firewall (ansible/terraform_<cluster>.py).",
            json!("${aws_vpc.main.cidr_block}"),
        );
    }
    d.output("vpc_id", "The VPC.", json!("${aws_vpc.main.id}"));
    d.output(
        "private_subnet_ids",
        "Private subnets, one per zone.",
        json!("${aws_subnet.private[*].id}"),
    );
    d.output(
        "node_security_group_id",
        "Security group of the nodes (declared ports and flows).",
        json!("${aws_security_group.nodes.id}"),
    );
    d.output(
        "artifact_bucket",
        "The model store: the S3 bucket of the models' artifacts (or models/<model>/ when none is on S3) and uploaded edge data (data/<fleet>/).",
        json!("${aws_s3_bucket.artifacts.bucket}"),
    );
    d.output(
        "kms_key_arn",
        "KMS key encrypting the bucket, logs, EKS secrets and Secrets Manager.",
        json!(KEY_ARN),
    );
    if !roles.is_empty() {
        let m: serde_json::Map<String, Value> = roles
            .iter()
            .map(|(w, r)| (w.clone(), json!(format!("${{aws_iam_role.{r}.arn}}"))))
            .collect();
        d.output(
            "workload_role_arns",
            "IAM roles of the workloads (training jobs and model servers: the model store; every workload with secrets: its own secrets), by workload.",
            Value::Object(m),
        );
    }
    if with_registry {
        iot::outputs(&mut d, sol);
    }
    Ok(d)
}

fn kms(d: &mut Doc) {
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministration",
                "Effect": "Allow",
                "Principal": { "AWS": format!("arn:{PARTITION}:iam::{ACCOUNT}:root") },
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchLogs",
                "Effect": "Allow",
                "Principal": { "Service": "logs.${var.region}.amazonaws.com" },
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": format!("arn:{PARTITION}:logs:${{var.region}}:{ACCOUNT}:log-group:*"),
                    },
                },
            },
        ],
    });
    d.resource(
        "aws_kms_key",
        "main",
        json!({
            "description": "iotc ${var.name_prefix}: model store, logs, EKS secrets and Secrets Manager",
            "enable_key_rotation": true,
            "deletion_window_in_days": 30,
            "policy": jsonencode(&policy),
        }),
    );
    d.resource(
        "aws_kms_alias",
        "main",
        json!({ "name": "alias/${var.name_prefix}", "target_key_id": "${aws_kms_key.main.key_id}" }),
    );
}

fn network(d: &mut Doc) {
    d.resource(
        "aws_vpc",
        "main",
        json!({
            "cidr_block": "${var.vpc_cidr}",
            "enable_dns_support": true,
            "enable_dns_hostnames": true,
            "tags": { "Name": "${var.name_prefix}" },
        }),
    );
    // No rules: nothing uses the default security group.
    d.resource(
        "aws_default_security_group",
        "main",
        json!({ "vpc_id": "${aws_vpc.main.id}", "tags": { "Name": "${var.name_prefix}-default-unused" } }),
    );
    d.resource(
        "aws_cloudwatch_log_group",
        "flow_logs",
        json!({
            "name": "/iotc/${var.name_prefix}/vpc-flow-logs",
            "retention_in_days": 365,
            "kms_key_id": KEY_ARN,
        }),
    );
    d.resource(
        "aws_iam_role",
        "flow_logs",
        json!({
            "name": "${var.name_prefix}-vpc-flow-logs",
            "assume_role_policy": trust("vpc-flow-logs.amazonaws.com"),
        }),
    );
    d.resource(
        "aws_iam_role_policy",
        "flow_logs",
        json!({
            "name": "write-flow-logs",
            "role": "${aws_iam_role.flow_logs.id}",
            "policy": jsonencode(&json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    "Resource": "${aws_cloudwatch_log_group.flow_logs.arn}:*",
                }],
            })),
        }),
    );
    d.resource(
        "aws_flow_log",
        "main",
        json!({
            "vpc_id": "${aws_vpc.main.id}",
            "traffic_type": "ALL",
            "log_destination_type": "cloud-watch-logs",
            "log_destination": "${aws_cloudwatch_log_group.flow_logs.arn}",
            "iam_role_arn": "${aws_iam_role.flow_logs.arn}",
        }),
    );
    d.resource(
        "aws_subnet",
        "private",
        json!({
            "count": "${length(var.availability_zones)}",
            "vpc_id": "${aws_vpc.main.id}",
            "cidr_block": "${cidrsubnet(var.vpc_cidr, 4, count.index)}",
            "availability_zone": "${data.aws_availability_zones.pinned.names[count.index]}",
            "map_public_ip_on_launch": false,
            "tags": {
                "Name": "${var.name_prefix}-private-${count.index + 1}",
                "kubernetes.io/role/internal-elb": "1",
            },
        }),
    );
    d.resource(
        "aws_subnet",
        "public",
        json!({
            "count": "${length(var.availability_zones)}",
            "vpc_id": "${aws_vpc.main.id}",
            "cidr_block": "${cidrsubnet(var.vpc_cidr, 4, count.index + 8)}",
            "availability_zone": "${data.aws_availability_zones.pinned.names[count.index]}",
            "map_public_ip_on_launch": false,
            "tags": {
                "Name": "${var.name_prefix}-public-${count.index + 1}",
                "kubernetes.io/role/elb": "1",
            },
        }),
    );
    d.resource(
        "aws_internet_gateway",
        "main",
        json!({ "vpc_id": "${aws_vpc.main.id}", "tags": { "Name": "${var.name_prefix}" } }),
    );
    d.resource(
        "aws_eip",
        "nat",
        json!({
            "count": "${length(var.availability_zones)}",
            "domain": "vpc",
            "tags": { "Name": "${var.name_prefix}-nat-${count.index + 1}" },
            "depends_on": ["aws_internet_gateway.main"],
        }),
    );
    d.resource(
        "aws_nat_gateway",
        "main",
        json!({
            "count": "${length(var.availability_zones)}",
            "allocation_id": "${aws_eip.nat[count.index].id}",
            "subnet_id": "${aws_subnet.public[count.index].id}",
            "tags": { "Name": "${var.name_prefix}-${count.index + 1}" },
        }),
    );
    d.resource(
        "aws_route_table",
        "public",
        json!({ "vpc_id": "${aws_vpc.main.id}", "tags": { "Name": "${var.name_prefix}-public" } }),
    );
    d.resource(
        "aws_route",
        "public_internet",
        json!({
            "route_table_id": "${aws_route_table.public.id}",
            "destination_cidr_block": "0.0.0.0/0",
            "gateway_id": "${aws_internet_gateway.main.id}",
        }),
    );
    d.resource(
        "aws_route_table_association",
        "public",
        json!({
            "count": "${length(var.availability_zones)}",
            "subnet_id": "${aws_subnet.public[count.index].id}",
            "route_table_id": "${aws_route_table.public.id}",
        }),
    );
    d.resource(
        "aws_route_table",
        "private",
        json!({
            "count": "${length(var.availability_zones)}",
            "vpc_id": "${aws_vpc.main.id}",
            "tags": { "Name": "${var.name_prefix}-private-${count.index + 1}" },
        }),
    );
    d.resource(
        "aws_route",
        "private_nat",
        json!({
            "count": "${length(var.availability_zones)}",
            "route_table_id": "${aws_route_table.private[count.index].id}",
            "destination_cidr_block": "0.0.0.0/0",
            "nat_gateway_id": "${aws_nat_gateway.main[count.index].id}",
        }),
    );
    d.resource(
        "aws_route_table_association",
        "private",
        json!({
            "count": "${length(var.availability_zones)}",
            "subnet_id": "${aws_subnet.private[count.index].id}",
            "route_table_id": "${aws_route_table.private[count.index].id}",
        }),
    );
}

/// One opened port: which workload, port and protocol.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Opening {
    workload: String,
    port: u16,
    protocol: &'static str,
}

/// Openings merged by (port, protocol): AWS refuses two rules with the
/// same range, port and protocol (several workloads behind one Ingress
/// share 443). Named after the first workload; the description names all.
fn merged(openings: &BTreeSet<Opening>) -> Vec<(u16, &'static str, Vec<&str>)> {
    let mut by_port: BTreeMap<(u16, &'static str), Vec<&str>> = BTreeMap::new();
    for o in openings {
        by_port
            .entry((o.port, o.protocol))
            .or_default()
            .push(o.workload.as_str());
    }
    let mut out: Vec<(u16, &'static str, Vec<&str>)> = by_port.into_iter().map(|((p, pr), ws)| (p, pr, ws)).collect();
    out.sort_by(|a, b| a.2.first().cmp(&b.2.first()));
    out
}

fn security_groups(d: &mut Doc, sol: &Solution, c: &Cluster, eks: bool) {
    d.resource(
        "aws_security_group",
        "nodes",
        json!({
            "name": "${var.name_prefix}-nodes",
            "description": format!("Nodes of cluster {}: declared ports and flows", lit(&c.name)),
            "vpc_id": "${aws_vpc.main.id}",
            "tags": { "Name": "${var.name_prefix}-nodes" },
        }),
    );
    d.resource(
        "aws_vpc_security_group_ingress_rule",
        "nodes_self",
        json!({
            "security_group_id": "${aws_security_group.nodes.id}",
            "description": "Node to node (pods, kubelet, overlay)",
            "ip_protocol": "-1",
            "referenced_security_group_id": "${aws_security_group.nodes.id}",
        }),
    );
    if !eks {
        d.resource(
            "aws_vpc_security_group_ingress_rule",
            "kube_api",
            json!({
                "security_group_id": "${aws_security_group.nodes.id}",
                "description": "Kubernetes API from inside the VPC",
                "ip_protocol": "tcp",
                "from_port": 6443,
                "to_port": 6443,
                "cidr_ipv4": "${var.vpc_cidr}",
            }),
        );
        // Ansible installs the distribution over SSH, from a controller
        // that reaches the VPC (inside it, a VPN, or a bastion).
        d.resource(
            "aws_vpc_security_group_ingress_rule",
            "ssh",
            json!({
                "security_group_id": "${aws_security_group.nodes.id}",
                "description": "SSH from inside the VPC (Ansible)",
                "ip_protocol": "tcp",
                "from_port": 22,
                "to_port": 22,
                "cidr_ipv4": "${var.vpc_cidr}",
            }),
        );
        // Ubuntu's EC2 package mirrors are plain HTTP (apt checks the
        // packages' signatures); Ansible installs packages from them.
        d.resource(
            "aws_vpc_security_group_egress_rule",
            "nodes_http",
            json!({
                "security_group_id": "${aws_security_group.nodes.id}",
                "description": "HTTP out: Ubuntu package mirrors (signed packages)",
                "ip_protocol": "tcp",
                "from_port": 80,
                "to_port": 80,
                "cidr_ipv4": "0.0.0.0/0",
            }),
        );
    }
    d.resource(
        "aws_vpc_security_group_egress_rule",
        "nodes_https",
        json!({
            "security_group_id": "${aws_security_group.nodes.id}",
            "description": "HTTPS out: AWS APIs, image registries, model artifacts",
            "ip_protocol": "tcp",
            "from_port": 443,
            "to_port": 443,
            "cidr_ipv4": "0.0.0.0/0",
        }),
    );
    d.resource(
        "aws_vpc_security_group_egress_rule",
        "nodes_vpc",
        json!({
            "security_group_id": "${aws_security_group.nodes.id}",
            "description": "Anything inside the VPC (DNS, nodes, load balancers)",
            "ip_protocol": "-1",
            "cidr_ipv4": "${var.vpc_cidr}",
        }),
    );

    let here: Vec<&Workload> = sol
        .workloads
        .iter()
        .filter(|w| !on_fleet(w) && group(w) == c.name)
        .collect();
    // Public services, from public_ingress_cidrs, on the port their
    // exposure listens on (443 for an Ingress with TLS: the ingress
    // controller's pods on these nodes; the listener's own port behind a
    // load balancer), as the checker derived it.
    let public: BTreeSet<Opening> = here
        .iter()
        .filter(|w| w.public)
        .filter_map(|w| {
            let port = w.exposure.as_ref().map(|x| x.endpoint.port).or(w.container.port)?;
            Some(Opening {
                workload: w.name.clone(),
                port,
                protocol: tcp_udp(&w.container.protocol),
            })
        })
        .collect();
    // Edge → cloud flows: a fleet workload talks to a workload here, on
    // the port of the endpoint the checker gave the caller (its URL's).
    let mut edge_in = BTreeSet::new();
    // Cloud → edge flows: a workload here talks to a fleet workload.
    let mut edge_out = BTreeSet::new();
    for f in &sol.flows {
        let o = Opening {
            workload: f.to.clone(),
            port: if f.reach == Reach::EdgeToCloud {
                f.endpoint.port
            } else {
                f.port
            },
            protocol: tcp_udp(&f.protocol),
        };
        match f.reach {
            Reach::EdgeToCloud if f.to_group == c.name => {
                edge_in.insert(o);
            }
            Reach::CloudToEdge if f.from_group == c.name => {
                edge_out.insert(o);
            }
            _ => {}
        }
    }
    let names = |ws: &[&str]| ws.iter().map(|w| lit(w)).collect::<Vec<_>>().join(", ");
    for (port, protocol, ws) in merged(&public) {
        d.resource(
            "aws_vpc_security_group_ingress_rule",
            &format!("public_{}", ident(ws.first().copied().unwrap_or("service"))),
            json!({
                "for_each": "${toset(var.public_ingress_cidrs)}",
                "security_group_id": "${aws_security_group.nodes.id}",
                "description": format!("public service {} ({protocol}/{port})", names(&ws)),
                "ip_protocol": protocol,
                "from_port": port,
                "to_port": port,
                "cidr_ipv4": "${each.value}",
            }),
        );
    }
    for (port, protocol, ws) in merged(&edge_in) {
        d.resource(
            "aws_vpc_security_group_ingress_rule",
            &format!("edge_to_{}", ident(ws.first().copied().unwrap_or("service"))),
            json!({
                "for_each": "${toset(var.edge_cidrs)}",
                "security_group_id": "${aws_security_group.nodes.id}",
                "description": format!("edge sites to {} ({protocol}/{port})", names(&ws)),
                "ip_protocol": protocol,
                "from_port": port,
                "to_port": port,
                "cidr_ipv4": "${each.value}",
            }),
        );
    }
    for o in &edge_out {
        d.resource(
            "aws_vpc_security_group_egress_rule",
            &format!("to_edge_{}", ident(&o.workload)),
            json!({
                "for_each": "${toset(var.edge_cidrs)}",
                "security_group_id": "${aws_security_group.nodes.id}",
                "description": format!("to {} at the edge sites ({}/{})", lit(&o.workload), o.protocol, o.port),
                "ip_protocol": o.protocol,
                "from_port": o.port,
                "to_port": o.port,
                "cidr_ipv4": "${each.value}",
            }),
        );
    }
    // External dependencies the workloads here call: one rule per
    // (range, port, protocol), named after the first external that needs
    // it. HTTPS to anywhere is `nodes_https` already (AWS refuses a
    // duplicate rule).
    let mut externals: BTreeMap<(String, u16, String), &str> = BTreeMap::new();
    for e in sol.egress.iter().filter(|e| !e.from_fleet && e.from_group == c.name) {
        let key = (e.cidr.clone(), e.port, tcp_udp(&e.protocol).to_string());
        if key == ("0.0.0.0/0".to_string(), 443, "tcp".to_string()) {
            continue;
        }
        externals.entry(key).or_insert(e.to.as_str());
    }
    let mut named: BTreeMap<&str, u32> = BTreeMap::new();
    for ((cidr, port, protocol), name) in &externals {
        // An external reached on several ports gets numbered rules.
        let n = named.entry(name).or_insert(0);
        *n += 1;
        let id = match *n {
            1 => format!("to_external_{}", ident(name)),
            n => format!("to_external_{}_{n}", ident(name)),
        };
        d.resource(
            "aws_vpc_security_group_egress_rule",
            &id,
            json!({
                "security_group_id": "${aws_security_group.nodes.id}",
                "description": format!("to external {} ({protocol}/{port})", lit(name)),
                "ip_protocol": protocol,
                "from_port": port,
                "to_port": port,
                "cidr_ipv4": cidr,
            }),
        );
    }
}

fn bucket(d: &mut Doc, store: Option<&str>) {
    // The models' own bucket when they are on S3 (one store, referenced
    // everywhere); otherwise a new one for this solution.
    let name = match store {
        Some(b) => lit(b),
        None => format!("${{var.name_prefix}}-artifacts-{ACCOUNT}"),
    };
    d.resource("aws_s3_bucket", "artifacts", json!({ "bucket": name }));
    d.resource(
        "aws_s3_bucket_public_access_block",
        "artifacts",
        json!({
            "bucket": "${aws_s3_bucket.artifacts.id}",
            "block_public_acls": true,
            "block_public_policy": true,
            "ignore_public_acls": true,
            "restrict_public_buckets": true,
        }),
    );
    d.resource(
        "aws_s3_bucket_ownership_controls",
        "artifacts",
        json!({
            "bucket": "${aws_s3_bucket.artifacts.id}",
            "rule": { "object_ownership": "BucketOwnerEnforced" },
        }),
    );
    d.resource(
        "aws_s3_bucket_versioning",
        "artifacts",
        json!({
            "bucket": "${aws_s3_bucket.artifacts.id}",
            "versioning_configuration": { "status": "Enabled" },
        }),
    );
    d.resource(
        "aws_s3_bucket_server_side_encryption_configuration",
        "artifacts",
        json!({
            "bucket": "${aws_s3_bucket.artifacts.id}",
            "rule": [{
                "apply_server_side_encryption_by_default": {
                    "sse_algorithm": "aws:kms",
                    "kms_master_key_id": KEY_ARN,
                },
                "bucket_key_enabled": true,
            }],
        }),
    );
    d.resource(
        "aws_s3_bucket_lifecycle_configuration",
        "artifacts",
        json!({
            "bucket": "${aws_s3_bucket.artifacts.id}",
            "rule": [
                {
                    "id": "expire-edge-data",
                    "status": "Enabled",
                    "filter": { "prefix": DATA_PREFIX },
                    "expiration": { "days": "${var.edge_data_retention_days}" },
                    "noncurrent_version_expiration": { "noncurrent_days": 30 },
                },
                {
                    "id": "expire-old-model-versions",
                    "status": "Enabled",
                    "filter": { "prefix": if store.is_some() { "" } else { MODELS_PREFIX } },
                    "noncurrent_version_expiration": { "noncurrent_days": 90 },
                },
                {
                    "id": "abort-incomplete-uploads",
                    "status": "Enabled",
                    "filter": {},
                    "abort_incomplete_multipart_upload": { "days_after_initiation": 7 },
                },
            ],
        }),
    );
    d.resource(
        "aws_s3_bucket_policy",
        "artifacts",
        json!({
            "bucket": "${aws_s3_bucket.artifacts.id}",
            "policy": jsonencode(&json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [BUCKET_ARN, format!("{BUCKET_ARN}/*")],
                    "Condition": { "Bool": { "aws:SecureTransport": "false" } },
                }],
            })),
            "depends_on": ["aws_s3_bucket_public_access_block.artifacts"],
        }),
    );
}

fn instance_type<'a>(c: &Cluster, p: &'a Pool) -> Result<&'a str, EmitError> {
    p.node.instance_type.as_deref().ok_or_else(|| {
        err(format!(
            "pool {} of cluster {}: device profile {} has no `instance_type`, which an AWS node needs",
            p.name, c.name, p.node.name
        ))
    })
}

fn node_labels(p: &Pool) -> serde_json::Map<String, Value> {
    p.node_labels.iter().map(|(k, v)| (lit(k), json!(lit(v)))).collect()
}

fn eks_cluster(d: &mut Doc, _sol: &Solution, c: &Cluster) -> Result<(), EmitError> {
    d.resource(
        "aws_iam_role",
        "cluster",
        json!({ "name": "${var.name_prefix}-eks-cluster", "assume_role_policy": trust("eks.amazonaws.com") }),
    );
    d.resource(
        "aws_iam_role_policy_attachment",
        "cluster",
        json!({ "role": "${aws_iam_role.cluster.name}", "policy_arn": managed("AmazonEKSClusterPolicy") }),
    );
    d.resource(
        "aws_cloudwatch_log_group",
        "cluster",
        json!({
            "name": "/aws/eks/${var.name_prefix}/cluster",
            "retention_in_days": 365,
            "kms_key_id": KEY_ARN,
        }),
    );
    let mut cluster = json!({
        "name": "${var.name_prefix}",
        "role_arn": "${aws_iam_role.cluster.arn}",
    });
    if let (Some(v), Value::Object(m)) = (&c.version, &mut cluster) {
        m.insert("version".into(), json!(lit(v)));
    }
    if let Value::Object(m) = &mut cluster {
        m.insert(
            "vpc_config".into(),
            json!({
                "subnet_ids": "${aws_subnet.private[*].id}",
                "endpoint_private_access": true,
                "endpoint_public_access": "${var.api_public_access}",
                "public_access_cidrs": "${var.api_public_cidrs}",
            }),
        );
        m.insert(
            "access_config".into(),
            json!({ "authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": true }),
        );
        m.insert(
            "encryption_config".into(),
            json!({ "resources": ["secrets"], "provider": { "key_arn": KEY_ARN } }),
        );
        m.insert(
            "enabled_cluster_log_types".into(),
            json!(["api", "audit", "authenticator", "controllerManager", "scheduler"]),
        );
        m.insert(
            "depends_on".into(),
            json!([
                "aws_iam_role_policy_attachment.cluster",
                "aws_cloudwatch_log_group.cluster"
            ]),
        );
    }
    d.resource("aws_eks_cluster", "main", cluster);
    d.resource(
        "aws_eks_addon",
        "pod_identity_agent",
        json!({ "cluster_name": "${aws_eks_cluster.main.name}", "addon_name": "eks-pod-identity-agent" }),
    );
    eks_prerequisites(d);

    d.resource(
        "aws_iam_role",
        "nodes",
        json!({ "name": "${var.name_prefix}-eks-nodes", "assume_role_policy": trust("ec2.amazonaws.com") }),
    );
    let node_policies = [
        ("worker", "AmazonEKSWorkerNodePolicy"),
        ("cni", "AmazonEKS_CNI_Policy"),
        ("ecr", "AmazonEC2ContainerRegistryReadOnly"),
    ];
    for (name, policy) in node_policies {
        d.resource(
            "aws_iam_role_policy_attachment",
            &format!("nodes_{name}"),
            json!({ "role": "${aws_iam_role.nodes.name}", "policy_arn": managed(policy) }),
        );
    }
    for p in &c.pools {
        let id = ident(&p.name);
        let it = instance_type(c, p)?;
        let pool = dash(&p.name);
        d.resource(
            "aws_launch_template",
            &id,
            json!({
                "name": format!("${{var.name_prefix}}-{}", fit(&pool, 38)),
                "description": format!("Nodes of pool {} ({})", lit(&p.name), lit(&p.node.name)),
                "update_default_version": true,
                "vpc_security_group_ids": [
                    "${aws_security_group.nodes.id}",
                    "${aws_eks_cluster.main.vpc_config[0].cluster_security_group_id}",
                ],
                "metadata_options": {
                    "http_endpoint": "enabled",
                    "http_tokens": "required",
                    "http_put_response_hop_limit": 1,
                },
                "block_device_mappings": [{
                    "device_name": "/dev/xvda",
                    "ebs": {
                        "volume_size": gib(p.node.storage_bytes.unwrap_or(50 << 30)).max(20),
                        "volume_type": "gp3",
                        "encrypted": true,
                        "kms_key_id": KEY_ARN,
                        "delete_on_termination": true,
                    },
                }],
                "monitoring": { "enabled": true },
                "tag_specifications": [{
                    "resource_type": "instance",
                    "tags": { "Name": format!("${{var.name_prefix}}-{pool}"), "iotc.dev/pool": lit(&p.name) },
                }],
            }),
        );
        let ami_type = match (p.node.arch.as_str(), p.node.gpu > 0) {
            ("arm64", true) => "AL2023_ARM_64_NVIDIA",
            ("arm64", false) => "AL2023_ARM_64_STANDARD",
            (_, true) => "AL2023_x86_64_NVIDIA",
            (_, false) => "AL2023_x86_64_STANDARD",
        };
        let mut group = json!({
            "cluster_name": "${aws_eks_cluster.main.name}",
            "node_group_name": format!("${{var.name_prefix}}-{}", fit(&pool, 38)),
            "node_role_arn": "${aws_iam_role.nodes.arn}",
            "subnet_ids": "${aws_subnet.private[*].id}",
            "instance_types": [it],
            "ami_type": ami_type,
            "scaling_config": {
                "desired_size": p.nodes,
                "min_size": p.nodes,
                "max_size": max_nodes(p.nodes),
            },
            "update_config": { "max_unavailable": 1 },
            "launch_template": {
                "id": format!("${{aws_launch_template.{id}.id}}"),
                "version": format!("${{aws_launch_template.{id}.latest_version}}"),
            },
            "labels": node_labels(p),
        });
        if let Value::Object(m) = &mut group {
            if p.node.gpu > 0 {
                m.insert(
                    "taint".into(),
                    json!([{ "key": GPU_TAINT, "value": "true", "effect": "NO_SCHEDULE" }]),
                );
            }
            // The count from the source is the floor and the first size;
            // after that a cluster autoscaler (or a person) owns
            // `desired_size`, and a later apply must not reset it.
            m.insert(
                "lifecycle".into(),
                json!([{ "ignore_changes": ["scaling_config[0].desired_size"] }]),
            );
            m.insert(
                "depends_on".into(),
                json!([
                    "aws_iam_role_policy_attachment.nodes_worker",
                    "aws_iam_role_policy_attachment.nodes_cni",
                    "aws_iam_role_policy_attachment.nodes_ecr",
                ]),
            );
        }
        d.resource("aws_eks_node_group", &id, group);
    }
    Ok(())
}

/// What the Kubernetes output needs from a fresh EKS cluster, as EKS
/// add-ons (docs/terraform.md, "Cluster prerequisites"): the VPC CNI with
/// network policy enforcement (else every NetworkPolicy is ignored), the
/// EBS CSI driver with a default gp3 StorageClass (else every
/// PersistentVolumeClaim stays Pending) and metrics-server (else the
/// HorizontalPodAutoscalers never scale).
fn eks_prerequisites(d: &mut Doc) {
    d.resource(
        "aws_eks_addon",
        "vpc_cni",
        json!({
            "cluster_name": "${aws_eks_cluster.main.name}",
            "addon_name": "vpc-cni",
            "resolve_conflicts_on_create": "OVERWRITE",
            "resolve_conflicts_on_update": "OVERWRITE",
            "configuration_values": jsonencode(&json!({ "enableNetworkPolicy": "true" })),
        }),
    );
    d.resource(
        "aws_iam_role",
        "ebs_csi",
        json!({
            "name": "${var.name_prefix}-ebs-csi",
            "description": "EBS CSI driver controller (EKS add-on), through EKS Pod Identity",
            "assume_role_policy": jsonencode(&json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": "pods.eks.amazonaws.com" },
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }],
            })),
        }),
    );
    d.resource(
        "aws_iam_role_policy_attachment",
        "ebs_csi",
        json!({ "role": "${aws_iam_role.ebs_csi.name}", "policy_arn": managed("service-role/AmazonEBSCSIDriverPolicy") }),
    );
    d.resource(
        "aws_eks_addon",
        "ebs_csi",
        json!({
            "cluster_name": "${aws_eks_cluster.main.name}",
            "addon_name": "aws-ebs-csi-driver",
            "resolve_conflicts_on_create": "OVERWRITE",
            "configuration_values": jsonencode(&json!({ "defaultStorageClass": { "enabled": true } })),
            "pod_identity_association": [{
                "role_arn": "${aws_iam_role.ebs_csi.arn}",
                "service_account": "ebs-csi-controller-sa",
            }],
            "depends_on": ["aws_eks_addon.pod_identity_agent", "aws_iam_role_policy_attachment.ebs_csi"],
        }),
    );
    d.resource(
        "aws_eks_addon",
        "metrics_server",
        json!({
            "cluster_name": "${aws_eks_cluster.main.name}",
            "addon_name": "metrics-server",
            "resolve_conflicts_on_create": "OVERWRITE",
        }),
    );
}

fn ec2_nodes(d: &mut Doc, c: &Cluster) -> Result<(), EmitError> {
    d.resource(
        "aws_iam_role",
        "nodes",
        json!({ "name": "${var.name_prefix}-nodes", "assume_role_policy": trust("ec2.amazonaws.com") }),
    );
    d.resource(
        "aws_iam_role_policy_attachment",
        "nodes_ssm",
        json!({ "role": "${aws_iam_role.nodes.name}", "policy_arn": managed("AmazonSSMManagedInstanceCore") }),
    );
    d.resource(
        "aws_iam_instance_profile",
        "nodes",
        json!({ "name": "${var.name_prefix}-nodes", "role": "${aws_iam_role.nodes.name}" }),
    );
    let arches: BTreeSet<&str> = c.pools.iter().map(|p| p.node.arch.as_str()).collect();
    for arch in &arches {
        let (ubuntu, aws) = if *arch == "arm64" {
            ("arm64", "arm64")
        } else {
            ("amd64", "x86_64")
        };
        d.data(
            "aws_ami",
            &format!("ubuntu_{}", ident(arch)),
            json!({
                "most_recent": true,
                "owners": ["099720109477"],
                "filter": [
                    { "name": "name", "values": [format!("ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{ubuntu}-server-*")] },
                    { "name": "architecture", "values": [aws] },
                    { "name": "virtualization-type", "values": ["hvm"] },
                ],
            }),
        );
    }
    for p in &c.pools {
        let id = ident(&p.name);
        let it = instance_type(c, p)?;
        let pool = dash(&p.name);
        let mut tags = node_labels(p);
        tags.insert(
            "Name".into(),
            json!(format!("${{var.name_prefix}}-{pool}-${{count.index + 1}}")),
        );
        d.resource(
            "aws_instance",
            &id,
            json!({
                "count": p.nodes,
                "ami": format!("${{data.aws_ami.ubuntu_{}.id}}", ident(&p.node.arch)),
                "instance_type": it,
                "subnet_id": "${aws_subnet.private[count.index % length(var.availability_zones)].id}",
                "vpc_security_group_ids": ["${aws_security_group.nodes.id}"],
                "iam_instance_profile": "${aws_iam_instance_profile.nodes.name}",
                "associate_public_ip_address": false,
                "key_name": "${var.ssh_key_name}",
                "monitoring": true,
                "ebs_optimized": true,
                "metadata_options": {
                    "http_endpoint": "enabled",
                    "http_tokens": "required",
                    "http_put_response_hop_limit": 1,
                },
                "root_block_device": {
                    "volume_size": gib(p.node.storage_bytes.unwrap_or(50 << 30)).max(20),
                    "volume_type": "gp3",
                    "encrypted": true,
                    "kms_key_id": KEY_ARN,
                },
                "tags": tags,
            }),
        );
    }
    Ok(())
}

/// The models a workload reads or writes, with the IR's artifact/data URLs.
fn model_of(w: &Workload) -> Option<&crate::ir::ModelRef> {
    w.model.as_ref()
}

/// IAM for training jobs and model servers on this cluster, and for the
/// edge servers of every fleet (when this document holds the registry, see
/// [`iot`]). Returns workload → role resource name.
fn workload_roles(d: &mut Doc, sol: &Solution, c: &Cluster, eks: bool) -> BTreeMap<String, String> {
    let mut roles = BTreeMap::new();
    let here = sol
        .workloads
        .iter()
        .filter(|w| !on_fleet(w) && group(w) == c.name && matches!(w.kind, WorkloadKind::Train | WorkloadKind::Serve));
    for w in here {
        let Some(m) = model_of(w) else { continue };
        let model = dash(&m.model);
        let store = model_bucket(sol);
        // In the model store, the model's prefix is its store folder;
        // otherwise `models/<model>/` of the managed bucket.
        let own_prefix = match s3_url(&m.store) {
            Some((b, k)) if store == Some(b) => format!("{}*", lit(k)),
            _ => format!("{MODELS_PREFIX}{model}/*"),
        };
        let models_prefix = format!("{BUCKET_ARN}/{own_prefix}");
        let s3_arn = |b: &str, k: &str| object_arn(store, b, k);
        let mut statements = Vec::new();
        let mut list_prefixes = vec![own_prefix.clone()];
        if w.kind == WorkloadKind::Train {
            let mut read = vec![format!("{BUCKET_ARN}/{DATA_PREFIX}*")];
            list_prefixes.push(format!("{DATA_PREFIX}*"));
            let mut external_lists = Vec::new();
            if let Some((b, k)) = m.data.as_deref().and_then(s3_url) {
                read.push(s3_arn(b, k));
                external_lists.push((b.to_string(), format!("{}*", lit(k))));
            }
            statements.push(
                json!({ "Sid": "ReadTrainingData", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": read }),
            );
            // New versions only: the model's store (the served artifact's
            // folder, `ModelRef::store`), never the served key itself.
            let mut write = vec![models_prefix.clone()];
            if let Some((b, k)) = s3_url(&m.store) {
                write.push(s3_arn(b, k));
            }
            write.dedup();
            statements.push(json!({ "Sid": "WriteNewVersions", "Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": write }));
            // Versions are immutable: a put must be conditional
            // (`If-None-Match: *`), so it fails on a key that exists.
            statements.push(json!({
                "Sid": "WriteOnce",
                "Effect": "Deny",
                "Action": ["s3:PutObject"],
                "Resource": write.clone(),
                "Condition": { "Null": { "s3:if-none-match": "true" } },
            }));
            if let Some((b, k)) = s3_url(&m.artifact) {
                statements.push(json!({
                    "Sid": "NeverOverwriteServed",
                    "Effect": "Deny",
                    "Action": ["s3:PutObject", "s3:DeleteObject"],
                    "Resource": s3_arn(b, k),
                }));
            }
            for (i, (b, prefix)) in external_lists.iter().enumerate() {
                statements.push(json!({
                    "Sid": format!("ListTrainingData{i}"),
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket"],
                    "Resource": format!("arn:{PARTITION}:s3:::{}", lit(b)),
                    "Condition": { "StringLike": { "s3:prefix": [prefix] } },
                }));
            }
            statements.push(json!({
                "Sid": "UseKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": KEY_ARN,
            }));
        } else {
            // The served object only, when it is in the model store.
            let read = match s3_url(&m.artifact) {
                Some((b, k)) if store == Some(b) => vec![s3_arn(b, k)],
                Some((b, k)) => vec![models_prefix.clone(), s3_arn(b, k)],
                None => vec![models_prefix.clone()],
            };
            statements
                .push(json!({ "Sid": "ReadModel", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": read }));
            statements
                .push(json!({ "Sid": "UseKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": KEY_ARN }));
        }
        statements.insert(
            0,
            json!({
                "Sid": "ListOwnPrefixes",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": BUCKET_ARN,
                "Condition": { "StringLike": { "s3:prefix": list_prefixes } },
            }),
        );
        let id = workload_role(d, w, eks, "least privilege on the model store");
        d.resource(
            "aws_iam_role_policy",
            &id,
            json!({
                "name": "model-store",
                "role": format!("${{aws_iam_role.{id}.id}}"),
                "policy": jsonencode(&json!({ "Version": "2012-10-17", "Statement": statements })),
            }),
        );
        roles.insert(w.name.clone(), id);
    }
    roles
}

/// The IAM role of one workload, assumed through EKS Pod Identity by its
/// service account (named after the workload), or from the node role on
/// kubeadm/k3s. Returns its resource name.
fn workload_role(d: &mut Doc, w: &Workload, eks: bool, what: &str) -> String {
    {
        let id = ident(&w.name);
        let assume = if eks {
            jsonencode(&json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": "pods.eks.amazonaws.com" },
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                }],
            }))
        } else {
            // kubeadm/k3s: no pod identity; the workload assumes the role
            // explicitly from its node's instance role.
            jsonencode(&json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "AWS": "${aws_iam_role.nodes.arn}" },
                    "Action": "sts:AssumeRole",
                }],
            }))
        };
        d.resource(
            "aws_iam_role",
            &id,
            json!({
                "name": format!("${{var.name_prefix}}-{}", fit(&dash(&w.name), 39)),
                "description": format!("{} {}: {what}", w.kind.as_str(), lit(&w.name)),
                "assume_role_policy": assume,
            }),
        );
        if eks {
            d.resource(
                "aws_eks_pod_identity_association",
                &id,
                json!({
                    "cluster_name": "${aws_eks_cluster.main.name}",
                    // The workload's namespace (`<namespace>-host` for one
                    // that mounts a folder of the node).
                    "namespace": lit(&w.namespace),
                    "service_account": lit(&w.name),
                    "role_arn": format!("${{aws_iam_role.{id}.arn}}"),
                    "depends_on": ["aws_eks_addon.pod_identity_agent"],
                }),
            );
        }
        id
    }
}

/// The name of the EKS add-on of the AWS Secrets and Configuration Provider
/// (ASCP) for the Secrets Store CSI driver, which it bundles.
pub(crate) const SECRETS_STORE_ADDON: &str = "aws-secrets-store-csi-driver-provider";

/// What copies each workload's Secrets Manager secrets into its Kubernetes
/// Secret on EKS (docs/terraform.md, "Secrets"): the Secrets Store CSI
/// driver with the AWS provider, as an EKS add-on, which also brings the
/// `SecretProviderClass` CRD. The provider fetches with the mounting pod's
/// own EKS Pod Identity role; the driver writes the synced Secret
/// (`syncSecret`; the Kubernetes output also grants that, see docs/k8s.md).
/// The driver tolerates every taint (its chart's default); the provider
/// tolerates none by default, so it is told to tolerate the GPU pools'
/// taint, where pods that mount their secrets run too.
fn secrets_store_addon(d: &mut Doc, c: &Cluster) {
    // Rotation: the driver fetches again every two minutes (its default
    // poll) and updates the synced Secret, so a value changed in Secrets
    // Manager is there before the pods are restarted to read it.
    let mut config =
        json!({ "secrets-store-csi-driver": { "syncSecret": { "enabled": true }, "enableSecretRotation": true } });
    if c.pools.iter().any(|p| p.node.gpu > 0) {
        if let Value::Object(m) = &mut config {
            m.insert(
                "tolerations".into(),
                json!([{ "key": GPU_TAINT, "operator": "Exists", "effect": "NoSchedule" }]),
            );
        }
    }
    d.resource(
        "aws_eks_addon",
        "secrets_store",
        json!({
            "cluster_name": "${aws_eks_cluster.main.name}",
            "addon_name": SECRETS_STORE_ADDON,
            "resolve_conflicts_on_create": "OVERWRITE",
            "configuration_values": jsonencode(&config),
            "depends_on": ["aws_eks_addon.pod_identity_agent"],
        }),
    );
}

/// The taint key of GPU node groups (value `true`, `NO_SCHEDULE`).
const GPU_TAINT: &str = "nvidia.com/gpu";

/// Every workload on the cluster may read its own secrets and nothing
/// else: a policy on its role (made here for workloads without a model,
/// such as `ingest`). `secret_ids`: workload → its secrets' resources.
fn secret_readers(
    d: &mut Doc,
    sol: &Solution,
    eks: bool,
    roles: &mut BTreeMap<String, String>,
    secret_ids: &BTreeMap<String, Vec<String>>,
) {
    for (name, ids) in secret_ids {
        let Some(w) = sol.workloads.iter().find(|w| &w.name == name) else {
            continue;
        };
        let role = match roles.get(name) {
            Some(r) => r.clone(),
            None => {
                let r = workload_role(d, w, eks, "reads its own secrets");
                roles.insert(name.clone(), r.clone());
                r
            }
        };
        let arns: Vec<String> = ids
            .iter()
            .map(|id| format!("${{aws_secretsmanager_secret.{id}.arn}}"))
            .collect();
        d.resource(
            "aws_iam_role_policy",
            &format!("{role}_secrets"),
            json!({
                "name": "own-secrets",
                "role": format!("${{aws_iam_role.{role}.id}}"),
                "policy": jsonencode(&json!({ "Version": "2012-10-17", "Statement": [
                    { "Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], "Resource": arns },
                    { "Sid": "DecryptSecrets", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": KEY_ARN,
                      "Condition": { "StringLike": { "kms:ViaService": "secretsmanager.*.amazonaws.com" } } },
                ] })),
            }),
        );
    }
}

/// Every workload on the cluster that talks to an external S3 bucket
/// (`Egress::bucket`, decided by the checker) may use that bucket and no
/// other: list it, get its objects, and put and delete them only when the
/// external `writes`. One policy per workload and bucket, on its role.
fn bucket_users(d: &mut Doc, sol: &Solution, c: &Cluster, eks: bool, roles: &mut BTreeMap<String, String>) {
    for e in sol.egress.iter().filter(|e| !e.from_fleet && e.from_group == c.name) {
        let Some(b) = &e.bucket else { continue };
        let Some(w) = sol.workloads.iter().find(|w| w.name == e.from) else {
            continue;
        };
        let role = match roles.get(&e.from) {
            Some(r) => r.clone(),
            None => {
                let r = workload_role(d, w, eks, "least privilege on its buckets");
                roles.insert(e.from.clone(), r.clone());
                r
            }
        };
        let bucket_arn = format!("arn:{PARTITION}:s3:::{}", lit(&b.name));
        let mut actions = vec!["s3:GetObject"];
        if b.writes {
            actions.extend(["s3:PutObject", "s3:DeleteObject"]);
        }
        d.resource(
            "aws_iam_role_policy",
            &format!("{role}_bucket_{}", ident(&e.to)),
            json!({
                "name": format!("bucket-{}", fit(&dash(&e.to), 100)),
                "role": format!("${{aws_iam_role.{role}.id}}"),
                "policy": jsonencode(&json!({ "Version": "2012-10-17", "Statement": [
                    { "Sid": "ListBucket", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket_arn },
                    { "Sid": if b.writes { "ReadWriteObjects" } else { "ReadObjects" }, "Effect": "Allow", "Action": actions, "Resource": format!("{bucket_arn}/*") },
                ] })),
            }),
        );
    }
}

/// A Secrets Manager secret per secret of a workload on this cluster, each
/// its own resource (named from the workload and secret, never from a
/// count). The secret holds no value from iotc: either it is set out of band
/// from the reference in its description, or from the write-only, ephemeral
/// `secret_values`.
fn secrets(d: &mut Doc, sol: &Solution, c: &Cluster) -> BTreeMap<String, Vec<String>> {
    let mut ids_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut entries = Vec::new();
    // The checker named every secret (`ir::SecretStore`): the Kubernetes
    // output's SecretProviderClass names the same.
    for stored in c.secret_store.iter().flat_map(|st| &st.secrets) {
        let Some(w) = sol.workloads.iter().find(|w| w.name == stored.workload) else {
            continue;
        };
        let Some(s) = w.container.secrets.iter().find(|s| s.name == stored.key) else {
            continue;
        };
        let source = match s.source {
            SecretSource::Env => "env",
            SecretSource::File => "file",
            SecretSource::Vault => "vault",
        };
        entries.push((w, s, source, stored));
    }
    let registries: Vec<_> = c
        .secret_store
        .iter()
        .flat_map(|st| &st.registries)
        .filter_map(|stored| Some((sol.registries.iter().find(|r| r.name == stored.registry)?, stored)))
        .collect();
    if entries.is_empty() && registries.is_empty() {
        return ids_of;
    }
    d.variable(
        "manage_secret_values",
        json!({
            "type": "bool",
            "default": false,
            "description": "Write the secrets' values from the ephemeral secret_values (write-only: never stored in state or plan). Off: set them out of band from the reference in each secret's description.",
        }),
    );
    d.variable(
        "secret_values",
        json!({
            "type": "map(string)",
            "default": {},
            "ephemeral": true,
            "sensitive": true,
            "description": "Secret values by \"<workload>/<NAME>\" (a registry's token by \"_registry/<registry>\"), read only when manage_secret_values is on (e.g. TF_VAR_secret_values from your secret store). Never written to state or plan.",
        }),
    );
    d.variable(
        "secret_values_version",
        json!({
            "type": "number",
            "default": 1,
            "description": "Bump to write secret_values again (write-only values are not compared).",
        }),
    );
    d.variable(
        "secret_rotation_lambda_arn",
        json!({
            "type": "string",
            "default": null,
            "description": "Rotation function for the secrets (it must know how to rotate each credential at its source). Null: no rotation is configured; values change only through secret_values_version or out of band.",
            "validation": [{
                "condition": "${var.secret_rotation_lambda_arn == null || can(regex(\"^arn:aws[a-z-]*:lambda:\", var.secret_rotation_lambda_arn))}",
                "error_message": "secret_rotation_lambda_arn must be null or a Lambda function ARN.",
            }],
        }),
    );
    let mut arns = serde_json::Map::new();
    let mut used = BTreeSet::new();
    for (w, s, source, stored) in entries {
        let key = format!("{}/{}", lit(&w.name), lit(&s.name));
        let mut id = ident(&format!("{}_{}", w.name, s.name));
        while !used.insert(id.clone()) {
            id.push('_');
        }
        d.resource(
            "aws_secretsmanager_secret",
            &id,
            json!({
                "name": lit(&stored.name),
                "description": format!("{} of {}; the value comes from {source} {}", lit(&s.name), lit(&w.name), lit(&s.reference)),
                "kms_key_id": KEY_ARN,
                "recovery_window_in_days": 7,
                "tags": { "iotc.dev/workload": lit(&w.name), "iotc.dev/source": source },
            }),
        );
        d.resource(
            "aws_secretsmanager_secret_version",
            &id,
            json!({
                "count": "${var.manage_secret_values ? 1 : 0}",
                "secret_id": format!("${{aws_secretsmanager_secret.{id}.id}}"),
                "secret_string_wo": format!("${{var.secret_values[\"{key}\"]}}"),
                "secret_string_wo_version": "${var.secret_values_version}",
            }),
        );
        rotation(d, &id);
        arns.insert(key, json!(format!("${{aws_secretsmanager_secret.{id}.arn}}")));
        ids_of.entry(w.name.clone()).or_default().push(id);
    }
    // A registry's pull credential, kept as the `.dockerconfigjson`
    // document its pull Secret holds, readable by every workload here that
    // pulls from it (docs/terraform.md, "Secrets").
    for (r, stored) in registries {
        let key = format!("_registry/{}", lit(&r.name));
        let mut id = ident(&format!("registry_{}", r.name));
        while !used.insert(id.clone()) {
            id.push('_');
        }
        let source = match r.password.source {
            SecretSource::Env => "env",
            SecretSource::File => "file",
            SecretSource::Vault => "vault",
        };
        d.resource(
            "aws_secretsmanager_secret",
            &id,
            json!({
                "name": lit(&stored.name),
                "description": format!(
                    "pull credential of registry {} (.dockerconfigjson for {} as {}); the token comes from {source} {}",
                    lit(&r.name), lit(&r.host), lit(&r.username), lit(&r.password.reference)
                ),
                "kms_key_id": KEY_ARN,
                "recovery_window_in_days": 7,
                "tags": { "iotc.dev/registry": lit(&r.name), "iotc.dev/source": source },
            }),
        );
        let token = format!("var.secret_values[{}]", hcl_str(&key));
        let user = hcl_str(&lit(&r.username));
        d.resource(
            "aws_secretsmanager_secret_version",
            &id,
            json!({
                "count": "${var.manage_secret_values ? 1 : 0}",
                "secret_id": format!("${{aws_secretsmanager_secret.{id}.id}}"),
                "secret_string_wo": format!(
                    "${{jsonencode({{auths = {{{} = {{username = {user}, password = {token}, auth = base64encode(join(\":\", [{user}, {token}]))}}}}}})}}",
                    hcl_str(&lit(&r.host))
                ),
                "secret_string_wo_version": "${var.secret_values_version}",
            }),
        );
        rotation(d, &id);
        arns.insert(key, json!(format!("${{aws_secretsmanager_secret.{id}.arn}}")));
        for w in &stored.workloads {
            ids_of.entry(w.clone()).or_default().push(id.clone());
        }
    }
    d.output(
        "secret_arns",
        "Secrets Manager secrets by \"<workload>/<NAME>\" and registry pull credentials by \"_registry/<registry>\" (no values).",
        Value::Object(arns),
    );
    ids_of
}

/// A secret's rotation, when the root is given a rotation Lambda
/// (`var.secret_rotation_lambda_arn`): every 30 days.
fn rotation(d: &mut Doc, id: &str) {
    d.resource(
        "aws_secretsmanager_secret_rotation",
        id,
        json!({
            "count": "${var.secret_rotation_lambda_arn == null ? 0 : 1}",
            "secret_id": format!("${{aws_secretsmanager_secret.{id}.id}}"),
            "rotation_lambda_arn": "${var.secret_rotation_lambda_arn}",
            "rotation_rules": { "automatically_after_days": 30 },
        }),
    );
}
