//! Predicates on user strings that become names in the outputs (file path
//! components, label values). The checker rejects strings that fail them;
//! the emitters rely on that and re-check through `emit::escape`.

/// A user name as a Kubernetes object name (DNS-1123 label): `_` becomes
/// `-`. The one place this mapping is made; the checker validates the
/// result (`check::values::check_dns_label`) and the IR carries it.
pub fn k8s_name(name: &str) -> String {
    name.replace('_', "-")
}

/// True when `s` can be one component of a file path on every target
/// (a folder or file name the backends build from a user string): not
/// empty, not `.` or `..`, at most 255 bytes, only ASCII letters, digits,
/// `.`, `_` and `-`, and not starting with `-` or `.`.
pub fn is_path_component(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.starts_with(['-', '.'])
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// True when `s` is a valid Kubernetes label value: at most 63 characters,
/// empty or alphanumeric at both ends with `-`, `_`, `.` between.
pub fn is_label_value(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let b = s.as_bytes();
    s.len() <= 63
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// The registry an image is pulled from, as a credential names it: the
/// first component when it has a `.` or a `:` or is `localhost` (the rule
/// Docker and containerd use), else Docker Hub (`docker.io`).
pub fn image_registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// A registry host as a credential and `registries.yaml` name it: a DNS
/// name (or `localhost`) with an optional port, no scheme and no path.
pub fn check_registry_host(host: &str) -> Result<(), String> {
    if host.contains("://") {
        return Err(format!("`{host}` has a scheme; a registry is named by its host alone"));
    }
    if host.contains('/') {
        return Err(format!("`{host}` has a path; a credential applies to the whole host"));
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(format!("`{p}` is not a port"));
        }
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(format!("`{name}` is not a lowercase DNS name"));
    }
    if !(name.contains('.') || name == "localhost" || port.is_some()) {
        return Err(format!(
            "`{host}` would be read as a Docker Hub path, not a registry: a registry host has a `.` or a port"
        ));
    }
    Ok(())
}

/// The AWS IoT thing name of a device's host name: `[a-zA-Z0-9_-]`, at
/// most 128 characters. Dots become `_` (host names have no `_`, so this is
/// one-to-one up to 128 characters); a longer name is cut and ends in a
/// hash of the whole host name. The checker rejects two devices with the
/// same thing name, so the Terraform registry never has to.
pub fn aws_iot_thing_name(host: &str) -> String {
    let s: String = host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
        .collect();
    if s.len() <= 128 {
        s
    } else {
        let head: String = s.chars().take(119).collect();
        format!("{head}-{:08x}", fnv1a(host))
    }
}

/// A name for AWS and vSphere resources and VM host names: lowercase
/// letters, digits and single `-`, no `-` at either end.
pub fn dash(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out.trim_matches('-').to_string()
}

/// `s` cut to at most `max` characters (ASCII); a cut name ends in `-` and
/// eight hex digits of its hash, so two long names stay distinct.
pub fn fit(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(9);
    let head: String = s.chars().take(keep).collect();
    format!("{}-{:08x}", head.trim_end_matches(['-', '_', '.']), fnv1a(s))
}

/// The name prefix of a cluster's machines and cloud resources:
/// `<solution>-<cluster>`, at most 24 characters (so bucket, role and node
/// group names derived from it stay within AWS's limits), starting with a
/// letter. Terraform's `name_prefix` defaults to it.
pub fn cluster_prefix(solution: &str, cluster: &str) -> String {
    let mut p = dash(&format!("{solution}-{cluster}"));
    if !p.starts_with(|ch: char| ch.is_ascii_lowercase()) {
        p.insert_str(0, "iotc-");
    }
    let p = fit(&p, 24);
    p.trim_end_matches('-').to_string()
}

/// The host name of the `n`th (from 1) VM of a pool: `<prefix>-<pool>-<n>`,
/// the pool cut to 30 characters. Terraform names the VM and its guest so,
/// and the Ansible inventory lists it.
pub fn vm_host(prefix: &str, pool: &str, n: u32) -> String {
    format!("{prefix}-{}-{n}", fit(&dash(pool), 30))
}

/// 32-bit FNV-1a of `s`.
fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}
