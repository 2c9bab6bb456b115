//! A vSphere cluster: virtual machines cloned from a template, one resource
//! per pool with `count` = the pool's evaluated node count (new VMs are
//! appended, no name shifts), sized from the pool's device profile.
//! Attribute names follow the vSphere provider's documentation
//! (`vsphere_virtual_machine`, data sources `vsphere_datacenter`,
//! `vsphere_datastore`, `vsphere_compute_cluster`, `vsphere_network`,
//! `vsphere_virtual_machine`). Credentials come from the provider's
//! environment variables (`VSPHERE_USER`, `VSPHERE_PASSWORD`,
//! `VSPHERE_SERVER`), never from variables.

use super::{dash, default_prefix, fit, gib, ident, lit, mib, Doc, PREFIX_REGEX, VSPHERE_PROVIDER_VERSION};
use crate::emit::EmitError;
use crate::ir::{Cluster, Solution};
use serde_json::{json, Map, Value};

fn string_var(d: &mut Doc, name: &str, default: &str, description: &str) {
    d.variable(
        name,
        json!({
            "type": "string",
            // Terraform reads a variable's default literally: no escape.
            "default": default,
            "description": description,
            "validation": [{
                "condition": format!("${{length(trimspace(var.{name})) > 0}}"),
                "error_message": format!("{name} must not be empty."),
            }],
        }),
    );
}

/// The fields of a vSphere cluster's provider ([`crate::ir::Provider::Vsphere`]): the
/// caller matched the provider, so this backend has no "not on vSphere"
/// case.
pub(crate) struct VsphereProvider<'a> {
    pub datacenter: &'a String,
    pub cluster: &'a String,
    pub datastore: &'a String,
    pub network: &'a String,
    pub template: &'a String,
    pub folder: &'a Option<String>,
}

pub(crate) fn document(sol: &Solution, c: &Cluster, provider: VsphereProvider<'_>) -> Result<Doc, EmitError> {
    let VsphereProvider {
        datacenter,
        cluster,
        datastore,
        network,
        template,
        folder,
    } = provider;
    let mut d = Doc::default();
    d.terraform("required_version", json!(">= 1.5.0"));
    d.terraform(
        "required_providers",
        json!({ "vsphere": { "source": "hashicorp/vsphere", "version": VSPHERE_PROVIDER_VERSION } }),
    );

    d.variable(
        "name_prefix",
        json!({
            "type": "string",
            "default": default_prefix(sol, c),
            "description": "Prefix of the VM names (<prefix>-<pool>-<n>); change it per environment.",
            "validation": [{
                "condition": format!("${{can(regex(\"{PREFIX_REGEX}\", var.name_prefix))}}"),
                "error_message": "name_prefix must be 3 to 24 characters: a lowercase letter, then lowercase letters, digits or hyphens, not ending in a hyphen.",
            }],
        }),
    );
    string_var(
        &mut d,
        "datacenter",
        datacenter,
        "vSphere datacenter (from the source).",
    );
    string_var(
        &mut d,
        "compute_cluster",
        cluster,
        "vSphere compute cluster whose root resource pool holds the VMs.",
    );
    string_var(&mut d, "datastore", datastore, "Datastore of the VMs' files and disks.");
    string_var(
        &mut d,
        "network",
        network,
        "Port group the VMs' network interface joins.",
    );
    string_var(
        &mut d,
        "template",
        template,
        "VM template to clone (cloud-init or VMware Tools guest customization).",
    );
    if let Some(folder) = folder {
        d.variable(
            "folder",
            json!({
                "type": "string",
                "default": folder,
                "description": "VM folder, relative to the datacenter's VM root.",
            }),
        );
    }
    d.variable(
        "domain",
        json!({
            "type": "string",
            "default": "local",
            "description": "DNS domain the guest customization gives the VMs.",
            "validation": [{
                "condition": "${can(regex(\"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$\", var.domain))}",
                "error_message": "domain must be a DNS domain name.",
            }],
        }),
    );

    // Credentials and server come from VSPHERE_USER, VSPHERE_PASSWORD and
    // VSPHERE_SERVER; certificates are verified.
    d.provider("vsphere", json!({ "allow_unverified_ssl": false }));

    let dc = "${data.vsphere_datacenter.main.id}";
    d.data("vsphere_datacenter", "main", json!({ "name": "${var.datacenter}" }));
    d.data(
        "vsphere_datastore",
        "main",
        json!({ "name": "${var.datastore}", "datacenter_id": dc }),
    );
    d.data(
        "vsphere_compute_cluster",
        "main",
        json!({ "name": "${var.compute_cluster}", "datacenter_id": dc }),
    );
    d.data(
        "vsphere_network",
        "main",
        json!({ "name": "${var.network}", "datacenter_id": dc }),
    );
    d.data(
        "vsphere_virtual_machine",
        "template",
        json!({ "name": "${var.template}", "datacenter_id": dc }),
    );

    let tpl = "data.vsphere_virtual_machine.template";
    let mut ips = Map::new();
    for p in &c.pools {
        let id = ident(&p.name);
        let pool = dash(&p.name);
        let cpus = p.node.cpu_millis.div_ceil(1000).max(1);
        let disk = gib(p.node.storage_bytes.unwrap_or(0));
        let host = format!("${{var.name_prefix}}-{}-${{count.index + 1}}", fit(&pool, 30));
        let mut vm = json!({
            "count": p.nodes,
            "name": host,
            "resource_pool_id": "${data.vsphere_compute_cluster.main.resource_pool_id}",
            "datastore_id": "${data.vsphere_datastore.main.id}",
        });
        if let Value::Object(m) = &mut vm {
            if folder.is_some() {
                m.insert("folder".into(), json!("${var.folder}"));
            }
            m.insert(
                "annotation".into(),
                json!(format!(
                    "iotc: {} node of cluster {}, pool {} ({})",
                    lit(&c.distribution),
                    lit(&c.name),
                    lit(&p.name),
                    lit(&p.node.name)
                )),
            );
            m.insert("num_cpus".into(), json!(cpus));
            m.insert("memory".into(), json!(mib(p.node.memory_bytes)));
            m.insert("guest_id".into(), json!(format!("${{{tpl}.guest_id}}")));
            m.insert("firmware".into(), json!(format!("${{{tpl}.firmware}}")));
            m.insert("scsi_type".into(), json!(format!("${{{tpl}.scsi_type}}")));
            // Kubernetes' vSphere CSI driver needs disk UUIDs in the guest.
            m.insert("enable_disk_uuid".into(), json!(true));
            m.insert(
                "network_interface".into(),
                json!([{
                    "network_id": "${data.vsphere_network.main.id}",
                    "adapter_type": format!("${{{tpl}.network_interface_types[0]}}"),
                }]),
            );
            m.insert(
                "disk".into(),
                json!([{
                    "label": "disk0",
                    "size": format!("${{max({disk}, {tpl}.disks[0].size)}}"),
                    "thin_provisioned": format!("${{{tpl}.disks[0].thin_provisioned}}"),
                    "eagerly_scrub": format!("${{{tpl}.disks[0].eagerly_scrub}}"),
                }]),
            );
            m.insert(
                "clone".into(),
                json!({
                    "template_uuid": format!("${{{tpl}.id}}"),
                    "customize": {
                        "linux_options": { "host_name": host, "domain": "${var.domain}" },
                        // An empty interface block: DHCP.
                        "network_interface": [{}],
                    },
                }),
            );
        }
        d.resource("vsphere_virtual_machine", &id, vm);
        ips.insert(
            p.name.clone(),
            json!(format!("${{vsphere_virtual_machine.{id}[*].default_ip_address}}")),
        );
    }
    // The control-plane VMs on different ESXi hosts: one host failure
    // takes one etcd member, never the quorum. A "should" rule (not
    // mandatory): DRS still powers them on when fewer hosts are up.
    if let Some((p, n)) = c.control_plane().filter(|(_, n)| *n > 1) {
        let id = ident(&p.name);
        d.resource(
            "vsphere_compute_cluster_vm_anti_affinity_rule",
            "control_plane",
            json!({
                "name": "${var.name_prefix}-control-plane",
                "compute_cluster_id": "${data.vsphere_compute_cluster.main.id}",
                "virtual_machine_ids": format!("${{slice(vsphere_virtual_machine.{id}[*].id, 0, {n})}}"),
                "enabled": true,
                "mandatory": false,
                // The provider's docs: an in-place update can fail when the
                // VMs are replaced; recreate the rule with them.
                "lifecycle": [{ "replace_triggered_by": [format!("vsphere_virtual_machine.{id}")] }],
            }),
        );
    }
    if let Some(first) = c.pools.iter().find(|p| p.nodes > 0) {
        d.output(
            "cluster_endpoint",
            "Kubernetes API endpoint (control plane on the first node, installed by Ansible).",
            json!(format!(
                "https://${{vsphere_virtual_machine.{}[0].default_ip_address}}:6443",
                ident(&first.name)
            )),
        );
    }
    d.output(
        "node_addresses",
        "Default IP address of every VM per pool, for the Ansible inventory.",
        Value::Object(ips),
    );
    // The inventory lists the VMs by these names (`Cluster::pool_hosts`);
    // where DNS does not resolve them, this map becomes `ansible_host`s
    // (docs/ansible.md, "Clusters on vSphere").
    let maps: Vec<String> = c
        .pools
        .iter()
        .map(|p| {
            format!(
                "{{ for vm in vsphere_virtual_machine.{} : vm.name => vm.default_ip_address }}",
                ident(&p.name)
            )
        })
        .collect();
    if !maps.is_empty() {
        d.output(
            "ansible_hosts",
            "Address of every VM by its name (the Ansible inventory's host), for host_vars ansible_host.",
            json!(format!("${{merge({})}}", maps.join(", "))),
        );
    }
    Ok(d)
}
