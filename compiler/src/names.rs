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

/// 32-bit FNV-1a of `s`.
fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}
