//! Predicates on user strings that become names in the outputs (file path
//! components, label values). The checker rejects strings that fail them;
//! the emitters rely on that and re-check through `emit::escape`.

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
