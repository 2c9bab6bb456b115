//! Literal values and the format rules the checker enforces: quantities with
//! units, cron schedules, image references, DNS-1123 names, labels, host-name
//! patterns and artifact URIs. Pure functions returning `Result<_, String>`;
//! the caller turns the message into a diagnostic with a span.

/// A quantity's unit family, decided by its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitFamily {
    Plain,
    Cpu,
    Memory,
    Duration,
    /// `m` is millicores for CPU and minutes for durations.
    CpuOrDuration,
}

pub fn unit_family(suffix: &str) -> Option<UnitFamily> {
    Some(match suffix {
        "" => UnitFamily::Plain,
        "m" => UnitFamily::CpuOrDuration,
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "k" | "M" | "G" | "T" | "P" | "E" => UnitFamily::Memory,
        "ms" | "s" | "h" | "d" => UnitFamily::Duration,
        _ => return None,
    })
}

pub const ALL_SUFFIXES: &[&str] = &[
    "m", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E", "ms", "s", "h", "d",
];

/// A suggestion for an unknown suffix such as `MB`, `GB`, `sec`.
pub fn suggest_suffix(suffix: &str) -> Option<&'static str> {
    Some(match suffix {
        "MB" | "mb" | "Mb" => "M",
        "GB" | "gb" | "Gb" => "G",
        "KB" | "kb" | "Kb" => "k",
        "TB" | "tb" => "T",
        "MiB" | "mi" => "Mi",
        "GiB" | "gi" => "Gi",
        "KiB" | "ki" => "Ki",
        "TiB" => "Ti",
        "sec" | "secs" | "S" => "s",
        "min" | "mins" => "m",
        "hr" | "hrs" | "H" => "h",
        "day" | "days" | "D" => "d",
        "mc" | "millicores" => "m",
        _ => return None,
    })
}

/// Parse a decimal `number` exactly, scaled by `10^scale`, failing if the
/// result is not a whole number.
pub fn scaled(number: &str, scale: u32) -> Option<u128> {
    let (int, frac) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if frac.len() > scale as usize {
        let (keep, rest) = frac.split_at(scale as usize);
        if rest.chars().any(|c| c != '0') {
            return None;
        }
        return scaled(&format!("{int}.{keep}"), scale);
    }
    let mut digits = String::with_capacity(int.len() + scale as usize);
    digits.push_str(int);
    digits.push_str(frac);
    for _ in frac.len()..scale as usize {
        digits.push('0');
    }
    digits.parse::<u128>().ok()
}

/// CPU in millicores.
pub fn cpu_millis(number: &str, suffix: &str) -> Result<u64, String> {
    let v = match suffix {
        "" => scaled(number, 3),
        "m" => scaled(number, 0),
        _ => return Err(format!("`{suffix}` is not a CPU unit")),
    };
    v.and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| format!("`{number}{suffix}` is finer than one millicore"))
}

/// Memory in bytes.
pub fn memory_bytes(number: &str, suffix: &str) -> Result<u64, String> {
    let mult: u128 = match suffix {
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "Ei" => 1 << 60,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "E" => 1_000_000_000_000_000_000,
        "" => return Err("a memory size needs a unit".into()),
        _ => return Err(format!("`{suffix}` is not a memory unit")),
    };
    let milli = scaled(number, 3).ok_or_else(|| format!("`{number}` is too precise"))?;
    let bytes = milli.saturating_mul(mult);
    if !bytes.is_multiple_of(1000) {
        return Err(format!("`{number}{suffix}` is not a whole number of bytes"));
    }
    u64::try_from(bytes / 1000).map_err(|_| format!("`{number}{suffix}` is too large"))
}

/// Duration in seconds.
pub fn duration_secs(number: &str, suffix: &str) -> Result<u64, String> {
    let (scale, mult): (u32, u128) = match suffix {
        "ms" => (0, 1),
        "s" => (3, 1),
        "m" => (3, 60),
        "h" => (3, 3600),
        "d" => (3, 86400),
        "" => return Err("a duration needs a unit".into()),
        _ => return Err(format!("`{suffix}` is not a duration unit")),
    };
    let v = scaled(number, scale).ok_or_else(|| format!("`{number}` is too precise"))?;
    let ms = v.saturating_mul(mult);
    if !ms.is_multiple_of(1000) {
        return Err(format!("`{number}{suffix}` is not a whole number of seconds"));
    }
    u64::try_from(ms / 1000).map_err(|_| format!("`{number}{suffix}` is too large"))
}

/// Format millicores the Kubernetes way: `2`, `500m`.
pub fn format_cpu(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        format!("{}", millis / 1000)
    } else {
        format!("{millis}m")
    }
}

/// Format bytes with the largest binary unit that divides them exactly.
pub fn format_memory(bytes: u64) -> String {
    for (unit, shift) in [("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)] {
        let m = 1u64 << shift;
        if bytes >= m && bytes.is_multiple_of(m) {
            return format!("{}{unit}", bytes / m);
        }
    }
    if bytes >= 1 << 20 && (bytes * 10).is_multiple_of(1 << 20) {
        return format!("{}Mi", bytes as f64 / (1u64 << 20) as f64);
    }
    format!("{bytes}")
}

pub fn format_duration(secs: u64) -> String {
    if secs > 0 && secs.is_multiple_of(86400) {
        format!("{}d", secs / 86400)
    } else if secs > 0 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs > 0 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

pub use crate::names::k8s_name;

/// A DNS-1123 label: lowercase letters, digits and `-`, starting with a
/// letter and ending with a letter or digit, at most 63 characters.
pub fn check_dns_label(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name cannot be empty".into());
    }
    if name.len() > 63 {
        return Err(format!("`{name}` is {} characters long; the limit is 63", name.len()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(if c.is_uppercase() {
            format!("`{name}` has an upper-case letter `{c}`")
        } else {
            format!("`{name}` has `{c}`, which is not a lowercase letter, digit or `-`")
        });
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!("`{name}` must start with a letter"));
    }
    if name.ends_with('-') {
        return Err(format!("`{name}` must end with a letter or digit"));
    }
    Ok(())
}

/// A DNS-1123 subdomain (host names): dot-separated labels, ≤ 253.
pub fn check_dns_subdomain(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err(format!("`{name}` is longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("`{name}` has an empty or over-long part"));
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err(format!(
                "`{label}` in `{name}` is not lowercase letters, digits and inner `-`"
            ));
        }
    }
    Ok(())
}

fn label_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A Kubernetes label key: `[prefix/]name`.
pub fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        check_dns_subdomain(p).map_err(|_| format!("label key prefix `{p}` is not a DNS subdomain"))?;
    }
    if !label_name_ok(name) {
        return Err(format!(
            "label key `{key}` must be at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A Kubernetes label value: empty, or a label name.
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || label_name_ok(value) {
        Ok(())
    } else {
        Err(format!(
            "label value `{value}` must be at most 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit"
        ))
    }
}

/// Expand a host-name pattern: `{n}` is the 1-based number, `{site}` the
/// site name. Checks every result is a DNS subdomain.
pub fn expand_hosts(pattern: &str, site: &str, count: u32) -> Result<Vec<String>, String> {
    let mut rest = pattern;
    while let Some(i) = rest.find('{') {
        let after = rest.get(i + 1..).unwrap_or("");
        let Some(j) = after.find('}') else {
            return Err("a `{` is not closed".into());
        };
        let name = after.get(..j).unwrap_or("");
        if name != "n" && name != "site" {
            return Err(format!("`{{{name}}}` is not a placeholder; use `{{n}}` or `{{site}}`"));
        }
        rest = after.get(j + 1..).unwrap_or("");
    }
    if rest.contains('}') {
        return Err("a `}` has no matching `{`".into());
    }
    if count > 1 && !pattern.contains("{n}") {
        return Err(format!("{count} gateways share one name; add `{{n}}` to number them"));
    }
    let site = k8s_name(site);
    let mut hosts = Vec::with_capacity(count as usize);
    for n in 1..=count {
        let h = pattern.replace("{n}", &n.to_string()).replace("{site}", &site);
        check_dns_subdomain(&h)?;
        hosts.push(h);
    }
    if count == 0 {
        let h = pattern.replace("{n}", "1").replace("{site}", &site);
        check_dns_subdomain(&h)?;
    }
    Ok(hosts)
}

/// A container image reference: `[registry/]path[:tag][@sha256:hex]`, with
/// a tag or a digest (an untagged image would float).
pub fn check_image(image: &str) -> Result<(), String> {
    if image.is_empty() {
        return Err("the image is empty".into());
    }
    if image.chars().any(|c| c.is_whitespace()) {
        return Err("an image reference cannot contain spaces".into());
    }
    let (name_tag, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let hex = d
            .strip_prefix("sha256:")
            .ok_or_else(|| format!("digest `{d}` must start with `sha256:`"))?;
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) {
            return Err(format!("digest `{d}` must be `sha256:` and 64 lowercase hex digits"));
        }
    }
    // The tag is after the last `:` that follows the last `/`.
    let last_slash = name_tag.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (name, tag) = match name_tag.get(last_slash..).and_then(|t| t.rfind(':')) {
        Some(i) => (
            name_tag.get(..last_slash + i).unwrap_or(""),
            name_tag.get(last_slash + i + 1..),
        ),
        None => (name_tag, None),
    };
    let mut parts = name.split('/').peekable();
    let mut first = true;
    while let Some(part) = parts.next() {
        let is_registry =
            first && parts.peek().is_some() && (part.contains('.') || part.contains(':') || part == "localhost");
        first = false;
        if is_registry {
            continue;
        }
        let ok = !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
            && part.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && part.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !ok {
            return Err(format!(
                "`{part}` in `{image}` must be lowercase letters, digits and separators"
            ));
        }
    }
    match (tag, digest) {
        (Some(t), _) => {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Err(format!("tag `{t}` must be letters, digits, `_`, `.` or `-`"));
            }
            if t == "latest" && digest.is_none() {
                return Err("the tag `latest` floats: the same source would deploy different code".into());
            }
            Ok(())
        }
        (None, Some(_)) => Ok(()),
        (None, None) => Err(format!("`{image}` has no tag or digest, so it would float")),
    }
}

/// A model artifact URI.
pub fn check_artifact(uri: &str) -> Result<(), String> {
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| format!("`{uri}` has no scheme; use `s3://`, `oci://`, `https://` or `file://`"))?;
    match scheme {
        "s3" => {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
                && bucket.starts_with(|c: char| c.is_ascii_alphanumeric());
            if !bucket_ok {
                return Err(format!("`{bucket}` is not a valid S3 bucket name"));
            }
            let _ = key;
            Ok(())
        }
        "oci" => check_image(rest).map_err(|e| format!("OCI artifact: {e}")),
        "https" | "http" | "file" => {
            if rest.is_empty() {
                Err(format!("`{uri}` has nothing after the scheme"))
            } else {
                Ok(())
            }
        }
        other => Err(format!(
            "`{other}://` is not supported; use `s3://`, `oci://`, `https://` or `file://`"
        )),
    }
}

pub fn check_checksum(sum: &str) -> Result<(), String> {
    let hex = sum
        .strip_prefix("sha256:")
        .ok_or_else(|| "a checksum starts with `sha256:`".to_string())?;
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err("a sha256 checksum has 64 hex digits".into())
    }
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// A five-field cron schedule as Kubernetes CronJob and systemd accept it, or
/// one of the `@hourly`-style macros.
pub fn check_cron(schedule: &str) -> Result<(), String> {
    let s = schedule.trim();
    if s.starts_with('@') {
        return match s {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly" => Ok(()),
            _ => Err(format!(
                "`{s}` is not a cron macro (`@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`)"
            )),
        };
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "a schedule has 5 fields (minute hour day-of-month month day-of-week), found {}",
            fields.len()
        ));
    }
    let specs: [(&str, u32, u32, &[&str]); 5] = [
        ("minute", 0, 59, &[]),
        ("hour", 0, 23, &[]),
        ("day of month", 1, 31, &[]),
        ("month", 1, 12, MONTHS),
        // Kubernetes' cron (robfig/cron) counts the days 0–6; `7` for
        // Sunday is cron's, not Kubernetes'.
        ("day of week", 0, 6, DAYS),
    ];
    for (field, (what, lo, hi, names)) in fields.iter().zip(specs.iter()) {
        check_cron_field(field, what, *lo, *hi, names)?;
    }
    // Cron (and Kubernetes) run a schedule that restricts both days on
    // either day; a systemd timer (Docker fleets) only on a day that is
    // both. One source must mean one thing on every runtime.
    if let [_, _, dom, _, dow] = fields.as_slice() {
        let any = |f: &str| f == "*" || f == "?";
        if !any(dom) && !any(dow) {
            return Err(format!(
                "the schedule restricts both the day of month (`{dom}`) and the day of week (`{dow}`): cron runs it \
                 on either day, a systemd timer only on days that are both"
            ));
        }
    }
    Ok(())
}

fn check_cron_field(field: &str, what: &str, lo: u32, hi: u32, names: &[&str]) -> Result<(), String> {
    let value = |v: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            return Ok(i as u32 + if lo == 1 { 1 } else { 0 });
        }
        let n: u32 = v
            .parse()
            .map_err(|_| format!("`{v}` is not a number in the {what} field"))?;
        if n == 7 && hi == 6 {
            return Err(format!(
                "{what} `7` is outside 0–6: Kubernetes counts Sunday as `0` (or `sun`)"
            ));
        }
        if n < lo || n > hi {
            return Err(format!("{what} `{n}` is outside {lo}–{hi}"));
        }
        Ok(n)
    };
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        if let Some(s) = step {
            let n: u32 = s
                .parse()
                .map_err(|_| format!("step `{s}` in the {what} field is not a number"))?;
            if n == 0 || n > hi {
                return Err(format!("step `{n}` in the {what} field is out of range"));
            }
        }
        if range == "*" || range == "?" {
            continue;
        }
        match range.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (value(a)?, value(b)?);
                if a > b {
                    return Err(format!("range `{range}` in the {what} field runs backwards"));
                }
            }
            None => {
                value(range)?;
            }
        }
    }
    Ok(())
}

/// A valid environment-variable name.
pub fn check_env_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a valid environment variable name"))
    }
}

/// Names that suggest a value is a secret.
pub fn looks_secret(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "CREDENTIAL",
        "ACCESS_KEY",
    ]
    .iter()
    .any(|w| up.contains(w))
}

/// An IPv4 range in canonical CIDR form (`10.20.0.0/24`): what Kubernetes
/// `ipBlock`, AWS security groups and ufw all accept. A range with host
/// bits set is refused with the canonical form in the message.
pub fn check_cidr(s: &str) -> Result<(), String> {
    let Some((addr, bits)) = s.split_once('/') else {
        return Err(format!("`{s}` has no prefix length; write `{s}/32` for one address"));
    };
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| format!("`{addr}` is not an IPv4 address"))?;
    let bits: u32 = match bits.parse() {
        Ok(b) if b <= 32 && !bits.starts_with('+') => b,
        _ => return Err(format!("`/{bits}` is not a prefix length from 0 to 32")),
    };
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    let net = u32::from(addr) & mask;
    if net != u32::from(addr) {
        return Err(format!(
            "`{s}` has host bits set; the range is `{}/{bits}`",
            std::net::Ipv4Addr::from(net)
        ));
    }
    Ok(())
}

/// A host callers connect to: an IPv4 address or a DNS name (letters,
/// digits and `-` in dot-separated labels of at most 63 characters).
pub fn check_host(s: &str) -> Result<(), String> {
    if s.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(());
    }
    if s.is_empty() || s.len() > 253 {
        return Err(format!("`{s}` is not a host name: it must have 1 to 253 characters"));
    }
    for label in s.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(format!(
                "`{s}` is not a host name: `{label}` is not a DNS label (letters, digits and `-`, not at either end)"
            ));
        }
    }
    Ok(())
}

/// A URL scheme (`opc.tcp`, `postgres`): a lowercase letter, then
/// lowercase letters, digits, `+`, `-` and `.`.
pub fn check_scheme(s: &str) -> Result<(), String> {
    let mut bytes = s.bytes();
    let first = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    if first && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')) {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a URL scheme: a lowercase letter, then lowercase letters, digits, `+`, `-` or `.`"
        ))
    }
}

/// An S3 bucket name (general-purpose buckets): 3 to 63 lowercase letters,
/// digits, `-` and `.`, beginning and ending with a letter or digit, no
/// `..`, and not an IPv4 address.
pub fn check_bucket(s: &str) -> Result<(), String> {
    let edge = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let chars = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'));
    let ip = s.split('.').count() == 4 && s.split('.').all(|p| p.parse::<u8>().is_ok());
    if (3..=63).contains(&s.len())
        && chars
        && edge(s.bytes().next())
        && edge(s.bytes().last())
        && !s.contains("..")
        && !ip
    {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not an S3 bucket name: 3 to 63 lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit"
        ))
    }
}

/// A file mounted read-only with its folder (a serving runtime's `files`):
/// the folder must be one of its own under `/etc` (never `/etc` itself, nor
/// the model, scratch and secret folders iotc mounts), and every part a
/// plain name.
pub fn check_config_file_path(path: &str) -> Result<(), &'static str> {
    let Some(rest) = path.strip_prefix("/etc/") else {
        return Err("it is not under `/etc/`");
    };
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() < 2 {
        return Err("its folder would be `/etc` itself");
    }
    let plain = |p: &&str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.len() <= 200
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if !parts.iter().all(plain) {
        return Err("each part must be ASCII letters, digits, `.`, `_` or `-`, not starting with `.`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(cpu_millis("500", "m"), Ok(500));
        assert_eq!(cpu_millis("0.5", ""), Ok(500));
        assert_eq!(cpu_millis("2", ""), Ok(2000));
        assert!(cpu_millis("0.0005", "").is_err());
        assert_eq!(memory_bytes("256", "Mi"), Ok(256 << 20));
        assert_eq!(memory_bytes("1.5", "Gi"), Ok(3 << 29));
        assert!(memory_bytes("512", "").is_err());
        assert_eq!(duration_secs("1", "h"), Ok(3600));
        assert_eq!(duration_secs("5", "m"), Ok(300));
        assert_eq!(format_cpu(1500), "1500m");
        assert_eq!(format_memory(256 << 20), "256Mi");
    }

    #[test]
    fn images() {
        assert!(check_image("ghcr.io/acme/ingest:2.3.1").is_ok());
        assert!(check_image("eclipse-mosquitto:2.0.18").is_ok());
        assert!(check_image("localhost:5000/x:1").is_ok());
        assert!(check_image(&format!("x@sha256:{}", "a".repeat(64))).is_ok());
        assert!(check_image("ghcr.io/acme/ingest").is_err());
        assert!(check_image("ghcr.io/acme/ingest:latest").is_err());
        assert!(check_image("ghcr.io/Acme/ingest:1").is_err());
    }

    #[test]
    fn cron() {
        assert!(check_cron("*/30 * * * *").is_ok());
        assert!(check_cron("0 3 * * 0").is_ok());
        assert!(check_cron("0 3 * * mon-fri").is_ok());
        assert!(check_cron("@daily").is_ok());
        assert!(check_cron("61 * * * *").is_err());
        assert!(check_cron("* * * *").is_err());
        assert!(check_cron("0 3 1 * 1").is_err());
        assert!(check_cron("0 3 1 * *").is_ok());
        assert!(check_cron("0 3 * * 7").is_err());
        assert!(check_cron("0 3 * * 5-7").is_err());
        assert!(check_cron("0 3 * * */2").is_ok());
        assert!(check_cron("0 3 * jan-mar *").is_ok());
    }

    #[test]
    fn names_and_labels() {
        assert!(check_dns_label("plant-a").is_ok());
        assert!(check_dns_label("Plant").is_err());
        assert!(check_dns_label(&"a".repeat(64)).is_err());
        assert!(check_label_key("topology.kubernetes.io/zone").is_ok());
        assert!(check_label_value("yes").is_ok());
        assert!(check_label_value("a b").is_err());
    }

    #[test]
    fn hosts() {
        assert_eq!(
            expand_hosts("gw{n}.{site}.acme.internal", "plant_a", 2),
            Ok(vec![
                "gw1.plant-a.acme.internal".to_string(),
                "gw2.plant-a.acme.internal".to_string()
            ])
        );
        assert!(expand_hosts("gw.acme.internal", "a", 2).is_err());
        assert!(expand_hosts("gw{x}.acme", "a", 1).is_err());
    }
}
