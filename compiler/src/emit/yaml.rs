//! A small, deterministic YAML writer for serde values. The maintained
//! forks of serde_yaml quote only what YAML 1.2 would misread; Kubernetes
//! tooling (and many Ansible and Compose readers) still apply YAML 1.1, where
//! `yes`, `on`, `y`, `0755`, `1_000`, `12:30` and `1.10` are not strings. This
//! writer quotes every string that any YAML 1.1 or 1.2 reader could take for
//! something else, and emits block style with two-space indentation.

use serde::Serialize;

/// Serialize `value` as one YAML document (no leading `---`). Streams
/// straight into the string (see `yaml_ser`); the layout is exactly that of
/// `reference::write_document` on the same value (see the tests).
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    super::yaml_ser::to_string(value).map_err(|e| <serde_json::Error as serde::ser::Error>::custom(e.to_string()))
}

/// One document of an Ansible data file (inventory, vars): strings that
/// Jinja would template are tagged `!unsafe` (see `emit::escape`).
pub fn to_string_ansible<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    super::yaml_ser::to_string_ansible(value)
        .map_err(|e| <serde_json::Error as serde::ser::Error>::custom(e.to_string()))
}

/// Append one document to `out`, keys of Kubernetes objects in the order
/// readers expect (see `yaml_ser::append`).
pub fn append_tidy<T: Serialize>(out: &mut String, value: &T) -> Result<(), serde_json::Error> {
    super::yaml_ser::append(out, value, true)
        .map_err(|e| <serde_json::Error as serde::ser::Error>::custom(e.to_string()))
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// A multi-line string as a literal block (`|`), keeping its exact text.
pub(super) fn write_block_string_into(out: &mut String, s: &str, level: usize) {
    write_block_string(out, s, level)
}

pub(super) fn write_str_into(out: &mut String, s: &str) {
    write_str(out, s)
}

fn write_block_string(out: &mut String, s: &str, level: usize) {
    // A tab where libyaml expects indentation is an error there.
    let leading_space = s.starts_with([' ', '\n', '\t']) || s.contains("\n\t");
    let trailing_ws =
        s.ends_with(' ') || s.ends_with('\t') || s.contains(" \n") || s.contains("\t\n") || s.contains('\r');
    // A character some reader takes for a line break (NEL, U+2028/9) or
    // refuses raw (controls, BOM, non-characters) needs an escape.
    let unprintable = s
        .chars()
        .any(|c| c != '\n' && c != '\t' && !super::escape::yaml_printable(c));
    if leading_space || trailing_ws || unprintable {
        // Block scalars cannot carry these; a quoted string can.
        out.push(' ');
        write_double_quoted(out, s);
        out.push('\n');
        return;
    }
    let chomp = if s.ends_with("\n\n") {
        "+"
    } else if s.ends_with('\n') {
        ""
    } else {
        "-"
    };
    out.push_str(" |");
    out.push_str(chomp);
    out.push('\n');
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        if !line.is_empty() {
            indent(out, level);
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn write_str(out: &mut String, s: &str) {
    if needs_quotes(s) {
        if s.chars().any(|c| c == '\'' || !super::escape::yaml_printable(c)) {
            write_double_quoted(out, s);
        } else {
            out.push('\'');
            out.push_str(s);
            out.push('\'');
        }
    } else {
        out.push_str(s);
    }
}

fn write_double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if super::escape::yaml_printable(c) => out.push(c),
            c if u32::from(c) <= 0xffff => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
}

/// Words YAML 1.1 reads as booleans, null or special floats, in any case
/// (`is_special_word` dispatches on them; a test keeps the two in step).
#[cfg(test)]
const SPECIAL_WORDS: &[&str] = &[
    "y", "yes", "n", "no", "true", "false", "on", "off", "null", "~", "nan", ".nan", "inf", ".inf", "-.inf", "+.inf",
];

/// One of [`SPECIAL_WORDS`], any case. Dispatches on the length and the
/// first byte first: most strings are ruled out by one comparison.
fn is_special_word(s: &str) -> bool {
    let b = s.as_bytes();
    let first = b.first().map_or(0, u8::to_ascii_lowercase);
    let candidates: &[&str] = match (b.len(), first) {
        (1, b'y' | b'n' | b'~') => return true,
        (2, b'n') => &["no"],
        (2, b'o') => &["on"],
        (3, b'y') => &["yes"],
        (3, b'o') => &["off"],
        (3, b'n') => &["nan"],
        (3, b'i') => &["inf"],
        (4, b't') => &["true"],
        (4, b'n') => &["null"],
        (4, b'.') => &[".nan", ".inf"],
        (5, b'f') => &["false"],
        (5, b'-') => &["-.inf"],
        (5, b'+') => &["+.inf"],
        _ => return false,
    };
    candidates.iter().any(|w| w.eq_ignore_ascii_case(s))
}

/// True when a plain (unquoted) scalar would not read back as this string
/// under YAML 1.1 or 1.2.
pub fn needs_quotes(s: &str) -> bool {
    // Fast path, most keys, names and values: an ASCII letter first, then
    // printable ASCII. Such a string cannot read as a number, date or
    // indicator, so it is plain unless it is a special word, holds `: ` or
    // ` #`, or ends in a space or colon.
    if let Some((&first, rest)) = s.as_bytes().split_first() {
        if first.is_ascii_alphabetic() {
            // Branch-free over the bytes (so it vectorizes): any byte that is
            // not printable ASCII, or is `:` or `#`?
            let unusual = rest.iter().fold(false, |acc, &b| {
                acc | (b.wrapping_sub(0x20) >= 0x5f) | (b == b':') | (b == b'#')
            });
            if !unusual {
                return s.ends_with(' ') || is_special_word(s);
            }
            let mut prev = first;
            let mut printable = true;
            for &b in rest {
                if !(0x20..0x7f).contains(&b) {
                    printable = false;
                    break;
                }
                if (prev == b':' && b == b' ') || (prev == b' ' && b == b'#') {
                    return true;
                }
                prev = b;
            }
            if printable {
                return prev == b' ' || prev == b':' || is_special_word(s);
            }
        }
    }
    needs_quotes_general(s)
}

/// [`needs_quotes`] without the fast path.
fn needs_quotes_general(s: &str) -> bool {
    // `<<` is the YAML 1.1 merge key.
    if s.is_empty() || s == "<<" {
        return true;
    }
    if is_special_word(s) {
        return true;
    }
    // Anything that starts like a number, a date or a time: 0755, 1e3, 1.10,
    // 1_000, 0x1F, +1, .5, 12:30, 2024-01-01.
    let first = s.chars().next().unwrap_or(' ');
    if first.is_ascii_digit() || ((first == '+' || first == '-' || first == '.') && s.len() > 1) {
        let numberish = s.chars().all(|c| {
            c.is_ascii_hexdigit()
                || matches!(
                    c,
                    '.' | '_' | ':' | '-' | '+' | 'x' | 'o' | 'X' | 'O' | 'e' | 'E' | 'T' | 't' | 'Z' | 'z' | ' '
                )
        });
        if numberish {
            return true;
        }
    }
    // Indicators that cannot start a plain scalar.
    if matches!(
        first,
        '-' | '?'
            | ':'
            | ','
            | '['
            | ']'
            | '{'
            | '}'
            | '#'
            | '&'
            | '*'
            | '!'
            | '|'
            | '>'
            | '\''
            | '"'
            | '%'
            | '@'
            | '`'
            | '='
            | ' '
    ) {
        return true;
    }
    if s.ends_with(' ') || s.ends_with(':') {
        return true;
    }
    // Sequences that end or break a plain scalar inside.
    // One pass: `: `, ` #` and control characters (all ASCII, so bytes do).
    let mut prev = 0u8;
    for &b in s.as_bytes() {
        if b.is_ascii_control() || (prev == b':' && b == b' ') || (prev == b' ' && b == b'#') {
            return true;
        }
        prev = b;
    }
    // Non-ASCII characters some reader refuses raw or reads as a line
    // break (C1 controls, NEL, U+2028/9, BOM, non-characters).
    !s.is_ascii() && s.chars().any(|c| !super::escape::yaml_printable(c))
}

/// The value writer: a plain recursive walk over a `serde_json::Value`.
/// Not used by any backend (they all write through `yaml_ser`); kept as the
/// reference the streaming writer's tests compare against.
#[cfg(test)]
pub(super) mod reference {
    use super::{indent, write_block_string, write_str};
    use serde_json::Value;

    /// Write one document for an already-built value.
    pub fn write_document(out: &mut String, v: &Value) {
        match v {
            Value::Object(m) if !m.is_empty() => write_map(out, m, 0),
            Value::Array(a) if !a.is_empty() => write_seq(out, a, 0),
            other => {
                write_scalar(out, other);
                out.push('\n');
            }
        }
    }

    fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, level: usize) {
        for (k, v) in m {
            indent(out, level);
            write_str(out, k);
            out.push(':');
            write_value_after_key(out, v, level);
        }
    }

    fn write_value_after_key(out: &mut String, v: &Value, level: usize) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                write_map(out, m, level + 2);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                // Sequences under a key are indented, as yamllint and kubectl expect.
                write_seq(out, a, level + 2);
            }
            Value::String(s) if s.contains('\n') => {
                write_block_string(out, s, level + 2);
            }
            other => {
                out.push(' ');
                write_scalar(out, other);
                out.push('\n');
            }
        }
    }

    fn write_seq(out: &mut String, a: &[Value], level: usize) {
        for v in a {
            indent(out, level);
            out.push('-');
            match v {
                Value::Object(m) if !m.is_empty() => {
                    // The first key goes on the dash's line.
                    let mut first = true;
                    for (k, val) in m {
                        if first {
                            out.push(' ');
                            first = false;
                        } else {
                            indent(out, level + 2);
                        }
                        write_str(out, k);
                        out.push(':');
                        write_value_after_key(out, val, level + 2);
                    }
                }
                Value::Array(inner) if !inner.is_empty() => {
                    out.push('\n');
                    write_seq(out, inner, level + 2);
                }
                Value::String(s) if s.contains('\n') => write_block_string(out, s, level + 2),
                other => {
                    out.push(' ');
                    write_scalar(out, other);
                    out.push('\n');
                }
            }
        }
    }

    fn write_scalar(out: &mut String, v: &Value) {
        match v {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::String(s) => write_str(out, s),
            Value::Array(_) => out.push_str("[]"),
            Value::Object(_) => out.push_str("{}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatch of `is_special_word` is the list, in any case.
    #[test]
    fn special_words_dispatch_matches_the_list() {
        let mut samples: Vec<String> = SPECIAL_WORDS.iter().map(|w| w.to_string()).collect();
        samples.extend(SPECIAL_WORDS.iter().map(|w| w.to_uppercase()));
        samples.extend(
            [
                "Yes", "nO", "tRuE", "x", "ye", "yess", "nul", "offf", ".NaN", "-.Inf", "+inf", "",
            ]
            .map(String::from),
        );
        for a in ['a', 'y', 'n', 'o', 't', 'f', 'i', '.', '-', '+', '~', 'Y', 'N'] {
            samples.push(a.to_string());
            for b in ['a', 'e', 'o', 'n', 'u', 'f', 'r', '.'] {
                samples.push(format!("{a}{b}"));
            }
        }
        for s in samples {
            let listed = SPECIAL_WORDS.iter().any(|w| w.eq_ignore_ascii_case(&s));
            assert_eq!(is_special_word(&s), listed, "{s:?}");
        }
    }

    /// The fast path of `needs_quotes` agrees with the general rules on
    /// every string it takes (all 1- and 2-byte ones, and longer samples).
    #[test]
    fn fast_path_agrees_with_general_rules() {
        let alphabet: Vec<char> = ('a'..='z')
            .chain('A'..='Z')
            .chain('0'..='9')
            .chain(" _./-:#,'\"=@!~é\t".chars())
            .collect();
        let mut samples: Vec<String> = Vec::new();
        for a in &alphabet {
            samples.push(a.to_string());
            for b in &alphabet {
                samples.push(format!("{a}{b}"));
            }
        }
        samples.extend(
            [
                "yes",
                "No",
                "TRUE",
                "false",
                "Null",
                "nan",
                "inf",
                "off",
                "On",
                "app.kubernetes.io/name",
                "e1",
                "x-",
                "a: b",
                "a #b",
                "a:b",
                "a#b",
                "ab ",
                "ab:",
                "img:1.0",
                "x\u{85}y",
            ]
            .map(String::from),
        );
        for s in samples {
            assert_eq!(needs_quotes(&s), needs_quotes_general(&s), "{s:?}");
        }
    }

    #[test]
    fn yaml_1_1_ambiguous_strings_are_quoted() {
        for s in [
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "Y",
            "NO",
            "On",
            "~",
            "null",
            "0755",
            "1e3",
            "1.10",
            "true",
            "0x1F",
            "1_000",
            ".5",
            "+1",
            "2024-01-01",
            "12:30",
            "=",
            "",
            "-",
            "a: b",
            "x #y",
            "*.txt",
            "@home",
            "1",
        ] {
            assert!(needs_quotes(s), "{s:?} must be quoted");
        }
        for s in [
            "nginx",
            "ghcr.io/acme/ingest:2.3.1",
            "500m",
            "256Mi",
            "factory",
            "app.kubernetes.io/name",
            "10.0.0.0/16",
        ] {
            assert!(!needs_quotes(s), "{s:?} need not be quoted");
        }
    }

    #[test]
    fn nested_documents() {
        let v = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "x", "labels": {"camera": "yes"}},
            "data": {"MODE": "on", "SCRIPT": "a\nb\n"},
            "list": [{"name": "a", "value": "0755"}, "plain", ["inner"]],
            "empty": {},
            "none": [],
        });
        let out = to_string(&v).unwrap();
        assert_eq!(
            out,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels:\n    camera: 'yes'\ndata:\n  MODE: 'on'\n  SCRIPT: |\n    a\n    b\nlist:\n  - name: a\n    value: '0755'\n  - plain\n  -\n    - inner\nempty: {}\nnone: []\n"
        );
    }
}
