//! The Terraform backend: the evaluated IR → Terraform JSON syntax
//! (`*.tf.json`), one root module per cluster that has infrastructure to
//! provision:
//!
//! ```text
//! terraform/<cluster>/main.tf.json   aws: VPC, EKS or EC2, S3 model store, IAM, Secrets Manager,
//!                                         and (first AWS cluster only) the IoT device registry
//!                                    vsphere: VMs cloned from a template
//! ```
//!
//! Baremetal clusters get no Terraform: their machines exist already and
//! Ansible prepares them. Every document is a [`serde_json::Value`] built in
//! code with keys in a fixed order and pretty-printed (two spaces, trailing
//! newline), so the same IR gives the same bytes. See `docs/terraform.md`.

mod aws;
mod iot;
mod vsphere;

use super::{EmitError, OutputFile, Target};
use crate::ir::{Cluster, Provider, Solution};
use serde_json::{Map, Value};

/// The folder every file of this backend is under.
pub const ROOT: &str = "terraform";

/// Version constraint of the AWS provider (the offline mirror has 5.100.0).
pub const AWS_PROVIDER_VERSION: &str = "~> 5.100";
/// Version constraint of the vSphere provider.
pub const VSPHERE_PROVIDER_VERSION: &str = "~> 2.12";
/// The login user of the Ubuntu images EC2 nodes boot from (Canonical's
/// cloud images): who Ansible connects as (`ansible/terraform_<c>.py`).
pub const EC2_LOGIN_USER: &str = "ubuntu";

/// Run the backend.
pub fn emit(sol: &Solution) -> Result<Vec<OutputFile>, EmitError> {
    let mut files = Vec::new();
    // The IoT registry (one per solution) lives with the first AWS cluster.
    let registry_home = sol
        .clusters
        .iter()
        .find(|c| matches!(c.provider, Provider::Aws { .. }))
        .map(|c| c.name.clone());
    for c in &sol.clusters {
        let doc = match &c.provider {
            Provider::Aws {
                region,
                vpc_cidr,
                zones,
            } => {
                let with_registry = registry_home.as_deref() == Some(c.name.as_str());
                let provider = aws::AwsProvider {
                    region,
                    vpc_cidr,
                    zones,
                };
                aws::document(sol, c, provider, with_registry)?
            }
            Provider::Vsphere {
                datacenter,
                cluster,
                datastore,
                network,
                template,
                folder,
            } => {
                let provider = vsphere::VsphereProvider {
                    datacenter,
                    cluster,
                    datastore,
                    network,
                    template,
                    folder,
                };
                vsphere::document(sol, c, provider)?
            }
            Provider::Baremetal { .. } => continue,
        };
        files.push(OutputFile {
            path: format!("{ROOT}/{}/main.tf.json", c.name),
            contents: doc.render()?,
        });
    }
    Ok(files)
}

fn err(message: impl Into<String>) -> EmitError {
    EmitError {
        target: Target::Terraform,
        message: message.into(),
    }
}

/// One Terraform JSON document, assembled block by block. Blocks keep the
/// order they were added in.
#[derive(Debug, Default)]
pub(crate) struct Doc {
    terraform: Map<String, Value>,
    variable: Map<String, Value>,
    locals: Map<String, Value>,
    provider: Map<String, Value>,
    data: Map<String, Value>,
    resource: Map<String, Value>,
    output: Map<String, Value>,
}

impl Doc {
    pub fn terraform(&mut self, key: &str, v: Value) {
        self.terraform.insert(key.into(), v);
    }
    pub fn variable(&mut self, name: &str, v: Value) {
        self.variable.insert(name.into(), v);
    }
    pub fn local(&mut self, name: &str, v: Value) {
        self.locals.insert(name.into(), v);
    }
    pub fn provider(&mut self, name: &str, v: Value) {
        self.provider.insert(name.into(), v);
    }
    pub fn data(&mut self, ty: &str, name: &str, v: Value) {
        insert2(&mut self.data, ty, name, v);
    }
    pub fn resource(&mut self, ty: &str, name: &str, v: Value) {
        insert2(&mut self.resource, ty, name, v);
    }
    pub fn output(&mut self, name: &str, description: &str, value: Value) {
        self.output.insert(
            name.into(),
            serde_json::json!({ "description": description, "value": value }),
        );
    }

    /// Pretty JSON, two-space indent, trailing newline.
    pub fn render(self) -> Result<String, EmitError> {
        let mut top = Map::new();
        for (key, block) in [
            ("terraform", self.terraform),
            ("variable", self.variable),
            ("locals", self.locals),
            ("provider", self.provider),
            ("data", self.data),
            ("resource", self.resource),
            ("output", self.output),
        ] {
            if !block.is_empty() {
                top.insert(key.into(), Value::Object(block));
            }
        }
        let mut s = serde_json::to_string_pretty(&Value::Object(top)).map_err(|e| err(e.to_string()))?;
        s.push('\n');
        Ok(s)
    }
}

fn insert2(m: &mut Map<String, Value>, ty: &str, name: &str, v: Value) {
    let entry = m.entry(ty.to_string()).or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(inner) = entry {
        inner.insert(name.into(), v);
    }
}

/// A Terraform identifier (resource and local names) for an IR name:
/// lowercase letters, digits and `_`, never starting with a digit.
pub(crate) fn ident(name: &str) -> String {
    let mut s = super::lower_alnum(name, '_');
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "n_");
    }
    s
}

/// A literal string from the source, made safe inside a Terraform template
/// (`${` and `%{` start interpolations and directives).
pub(crate) fn lit(s: &str) -> String {
    crate::emit::escape::terraform_template(s)
}

pub(crate) use crate::names::{dash, fit};

/// The default `name_prefix` of a cluster (`names::cluster_prefix`).
pub(crate) fn default_prefix(sol: &Solution, c: &Cluster) -> String {
    crate::names::cluster_prefix(&sol.name, &c.name)
}

/// The regex every `name_prefix` must match (3 to 24 characters).
pub(crate) const PREFIX_REGEX: &str = "^[a-z][a-z0-9-]{1,22}[a-z0-9]$";

/// Render a JSON value as an HCL expression, for `jsonencode(…)` of policy
/// documents. Strings stay templates: `${…}` in them interpolates, so
/// literal text from the source must go through [`lit`] first, and IAM/IoT
/// policy variables are written `$${…}`.
pub(crate) fn hcl(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => hcl_str(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(hcl).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(m) => {
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{} = {}", hcl_str(k), hcl(v))).collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

/// A quoted HCL string literal (still a template: escape `${` with [`lit`]).
pub(crate) fn hcl_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `"${jsonencode(<v>)}"`: a policy document as a Terraform expression.
pub(crate) fn jsonencode(v: &Value) -> Value {
    Value::String(format!("${{jsonencode({})}}", hcl(v)))
}

/// Whole GiB, rounded up.
pub(crate) fn gib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 30)
}

/// Whole MiB, rounded up.
pub(crate) fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(ident("plant-a"), "plant_a");
        assert_eq!(ident("1st"), "n_1st");
        assert_eq!(dash("Smart_Factory..x"), "smart-factory-x");
        assert_eq!(fit("abc", 5), "abc");
        let long = fit(&"a".repeat(40), 24);
        assert_eq!(long.len(), 24);
        assert_ne!(fit(&"a".repeat(40), 24), fit(&"a".repeat(41), 24));
    }

    #[test]
    fn hcl_rendering() {
        let v = serde_json::json!({"A": ["x\"y", 1, true], "B": {"c": null}});
        assert_eq!(hcl(&v), r#"{"A" = ["x\"y", 1, true], "B" = {"c" = null}}"#);
        assert_eq!(lit("a${b}%{c}"), "a$${b}%%{c}");
    }
}
