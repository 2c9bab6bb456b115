//! Device access, decided once: for every `device "/dev/…"` of a workload,
//! the host group that may open the node and the extended resource that
//! stands for it on Kubernetes. The Kubernetes backend requests that
//! resource and installs a device plugin advertising it; Compose passes the
//! node with `devices:` and joins the group with `group_add`. Neither
//! backend decides a group or a resource name.

use crate::ir::{self, DeviceGroup, DEVICE_RESOURCE_DOMAIN};
use std::collections::BTreeMap;

/// The first id of the range iotc pins its own device groups to
/// (`iotc-render` 64040, `iotc-i2c` 64041, `iotc-spi` 64042, `iotc-gpio`
/// 64043). Debian reserves 60000–64999 for groups created on demand, so
/// neither `groupadd` nor `adduser --system` nor systemd's dynamic users
/// (61184–65519 for DynamicUser only when no such id is taken) hand them
/// out on their own.
pub const PINNED_GID_BASE: u32 = 64040;

/// The group that owns a device node on Debian-like hosts (udev's default
/// rules), with its fixed id when base-passwd fixes one. For nodes whose
/// host group has an id each host picks (`render`, `i2c`, `spi`, `gpio`),
/// the group is iotc's own `iotc-<group>` with a fixed id from
/// [`PINNED_GID_BASE`]: Ansible creates it on every node of the fleet and
/// a udev rule hands the node to it (keeping the host group's access
/// through an ACL), so a pod spec and a Compose file can name a number.
pub fn device_group(path: &str) -> Option<DeviceGroup> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let starts = |p: &str| name.starts_with(p);
    let fixed = |group: &str, gid: u32| DeviceGroup {
        name: group.to_string(),
        gid,
        host_group: None,
    };
    let pinned = |group: &str, offset: u32| DeviceGroup {
        name: format!("iotc-{group}"),
        gid: PINNED_GID_BASE + offset,
        host_group: Some(group.to_string()),
    };
    // A pinned group's udev rule matches the node by its kernel name, so
    // the name must be one udev reads literally (no quotes, globs or
    // spaces); any real render, i2c, spi or gpio node's name is.
    let literal = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    Some(
        if starts("ttyUSB") || starts("ttyACM") || starts("ttyS") || starts("ttyAMA") || starts("rfcomm") {
            fixed("dialout", 20)
        } else if starts("video") || starts("media") || starts("vchiq") || path.starts_with("/dev/dri/card") {
            fixed("video", 44)
        } else if path.starts_with("/dev/dri/render") && literal {
            pinned("render", 0)
        } else if path.starts_with("/dev/snd") {
            fixed("audio", 29)
        } else if starts("i2c-") && literal {
            pinned("i2c", 1)
        } else if starts("spidev") && literal {
            pinned("spi", 2)
        } else if (starts("gpiochip") || starts("gpiomem")) && literal {
            pinned("gpio", 3)
        } else if path.starts_with("/dev/bus/usb") {
            fixed("plugdev", 46)
        } else {
            return None;
        },
    )
}

/// The longest name part of an extended resource (a qualified name).
const NAME_MAX: usize = 63;

/// The name part a device node's resource starts from: the path after
/// `/dev/`, lowercase, other characters as `-` (`/dev/ttyUSB0` → `ttyusb0`,
/// `/dev/bus/usb/001/002` → `bus-usb-001-002`).
fn base_name(host: &str) -> String {
    let raw = crate::emit::lower_alnum(host.trim_start_matches("/dev/"), '-');
    let mut name = String::new();
    for c in raw.chars() {
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    let mut name: String = name.trim_end_matches('-').chars().take(NAME_MAX - 4).collect();
    while name.ends_with('-') {
        name.pop();
    }
    if name.is_empty() {
        name.push_str("device");
    }
    name
}

/// Gives every distinct (host, container) pair of device nodes in the
/// solution its extended resource: the base name, then `-2`, `-3`, … for
/// pairs whose base name is taken, in sorted order (so names do not move
/// when workloads are reordered).
pub fn assign_resources(workloads: &mut [ir::Workload]) {
    let mut pairs: BTreeMap<(String, String), String> = BTreeMap::new();
    for w in workloads.iter() {
        for d in &w.container.devices {
            pairs.insert((d.host.clone(), d.container.clone()), String::new());
        }
    }
    let mut taken: Vec<String> = Vec::new();
    for ((host, _), name) in pairs.iter_mut() {
        let base = base_name(host);
        let mut candidate = base.clone();
        let mut n = 2;
        while taken.contains(&candidate) {
            candidate = format!("{base}-{n}");
            n += 1;
        }
        taken.push(candidate.clone());
        *name = format!("{DEVICE_RESOURCE_DOMAIN}/{candidate}");
    }
    for w in workloads.iter_mut() {
        for d in &mut w.container.devices {
            if let Some(r) = pairs.get(&(d.host.clone(), d.container.clone())) {
                d.resource = r.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_of_common_device_nodes() {
        let g = |p: &str| device_group(p).map(|g| (g.name, g.gid, g.host_group));
        assert_eq!(g("/dev/video0"), Some(("video".into(), 44, None)));
        assert_eq!(g("/dev/ttyUSB0"), Some(("dialout".into(), 20, None)));
        assert_eq!(g("/dev/snd/pcmC0D0c"), Some(("audio".into(), 29, None)));
        assert_eq!(g("/dev/i2c-1"), Some(("iotc-i2c".into(), 64041, Some("i2c".into()))));
        assert_eq!(
            g("/dev/dri/renderD128"),
            Some(("iotc-render".into(), 64040, Some("render".into())))
        );
        assert_eq!(g("/dev/i2c-\"1"), None);
        assert_eq!(g("/dev/fuse"), None);
    }

    #[test]
    fn resource_names_are_qualified_names() {
        assert_eq!(base_name("/dev/ttyUSB0"), "ttyusb0");
        assert_eq!(base_name("/dev/bus/usb/001/002"), "bus-usb-001-002");
        assert_eq!(
            base_name("/dev/serial/by-id/usb-FTDI_x--if00"),
            "serial-by-id-usb-ftdi-x-if00"
        );
        assert_eq!(base_name("/dev/---"), "device");
        assert!(base_name(&format!("/dev/{}", "a".repeat(200))).len() <= NAME_MAX - 4);
    }
}
