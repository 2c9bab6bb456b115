//! Stage 4, backends: one escaping function per output context. Every user
//! string a backend writes goes through the function of the context it
//! lands in; `compiler/tests/escape_roundtrip.rs` reads each function's
//! output back with the consumer's own parser (PyYAML, Ansible, Terraform,
//! `sh`, systemd's unquoting rules, the Compose interpolation rule).
//!
//! | context | function | rule |
//! |---|---|---|
//! | YAML scalar (1.1 and 1.2) | [`yaml_scalar`] (`yaml::write_str_into`) | plain only when no reader could take it for anything else; otherwise quoted, with every character that is not printable in every reader (C0/C1, NEL, U+2028/9, BOM, non-characters) escaped |
//! | Ansible value | [`AnsibleUnsafe`] / `yaml_ser::to_string_ansible` | `!unsafe` on every string holding `{`, so Jinja never evaluates it |
//! | Terraform template string | [`terraform_template`] | `${` → `$${`, `%{` → `%%{`; never in variable defaults, which Terraform does not template |
//! | Compose value | [`compose_value`] | `$` → `$$` |
//! | shell word | [`shell_word`] | single-quoted unless every byte is a safe word character |
//! | systemd Exec argument | [`systemd_exec_arg`] | double-quoted, `%` → `%%`, `$` → `$$`, every unprintable character as `\xNN` per UTF-8 byte |
//! | systemd free text | [`systemd_text`] | `%` → `%%`, control characters, separators and non-characters written as `\xNN`/`\uNNNN`/`\UNNNNNNNN` text (never a line break); a final `\` as `\x5c` |
//! | ufw rule comment (community.general.ufw) | [`ufw_comment`] | `'` → `’`, control characters → space: the module writes `comment '<text>'` into a command line it splits with shlex, where nothing escapes a `'` |
//! | Python string literal | [`python_str`] | double-quoted, ASCII only: `"` and `\` escaped, every other character outside printable ASCII as `\uXXXX` / `\UXXXXXXXX` |
//! | file path component | [`is_path_component`] | a check, not an escape: the checker refuses any other string |

use std::fmt::Write as _;

/// `s` as a YAML scalar (what the YAML writers use for every key and value).
pub fn yaml_scalar(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    super::yaml::write_str_into(&mut out, s);
    out
}

/// True when every YAML reader (PyYAML's and libyaml's printable set, Go's
/// yaml) reads the character itself, and none takes it for a line break:
/// printable ASCII, and the printable non-ASCII planes without NEL, U+2028,
/// U+2029, the BOM and the non-characters.
pub fn yaml_printable(c: char) -> bool {
    let u = u32::from(c);
    matches!(u, 0x20..=0x7e)
        || (matches!(u, 0xa0..=0xd7ff) && u != 0x2028 && u != 0x2029)
        || (matches!(u, 0xe000..=0xfffd) && u != 0xfeff && !matches!(u, 0xfdd0..=0xfdef))
        || (u >= 0x1_0000 && (u & 0xfffe) != 0xfffe)
}

/// A string that Ansible must never template: written with the `!unsafe`
/// tag (when it holds `{`, the start of every Jinja delimiter) by the YAML
/// writer. Serialized by any other serializer it is a plain string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AnsibleUnsafe(pub String);

/// The newtype name the YAML writer recognises for [`AnsibleUnsafe`].
pub(crate) const ANSIBLE_UNSAFE: &str = "$iotc::AnsibleUnsafe";

impl serde::Serialize for AnsibleUnsafe {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(ANSIBLE_UNSAFE, &self.0)
    }
}

/// A Jinja expression written by the compiler (never user text) in an
/// Ansible data file, where every other string is `!unsafe`: the one kind
/// of string Ansible may template there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnsibleTemplate(pub &'static str);

/// The newtype name the YAML writer recognises for [`AnsibleTemplate`].
pub(crate) const ANSIBLE_TEMPLATE: &str = "$iotc::AnsibleTemplate";

impl serde::Serialize for AnsibleTemplate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(ANSIBLE_TEMPLATE, self.0)
    }
}

/// True when Ansible would template `s` (it holds a Jinja delimiter's first
/// character), so the YAML writer tags it `!unsafe`.
pub fn ansible_needs_unsafe(s: &str) -> bool {
    s.contains('{')
}

/// A literal string inside a Terraform template (any string of a `.tf.json`
/// that Terraform evaluates: arguments, tags, map keys, `jsonencode` text):
/// `${` and `%{` would start an interpolation or a directive.
/// Not for `variable` defaults, which Terraform reads literally.
pub fn terraform_template(s: &str) -> String {
    let out = s.replace("${", "$${").replace("%{", "%%{");
    // Terraform drops a byte-order mark at the start of a template; an
    // empty interpolation in front keeps it.
    if out.starts_with('\u{feff}') {
        return format!("${{\"\"}}{out}");
    }
    out
}

/// A literal string in a Compose file: Compose interpolates `$` in every
/// value, so a literal `$` is `$$`.
pub fn compose_value(s: &str) -> String {
    s.replace('$', "$$")
}

/// One POSIX shell word that reads back as exactly `s`: unquoted when every
/// byte is a word character no shell treats specially, otherwise in single
/// quotes (a `'` is written `'\''`). `s` must not hold NUL (the checker
/// refuses it in strings).
pub fn shell_word(s: &str) -> String {
    if is_plain_word(s) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Not empty, and only bytes that neither a shell nor systemd treats
/// specially in a word.
fn is_plain_word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b':' | b'@' | b'+' | b','))
}

/// One argument of a systemd `Exec*=` line that systemd splits back into
/// exactly `s`: as is when every byte is a safe word character, otherwise
/// double-quoted, `\` and `"` escaped, `%` written `%%`
/// (specifiers), `$` written `$$` (environment expansion), and every
/// character that is not printable ASCII or a printable non-ASCII character
/// as C escapes (`\n`, `\t`, and `\xNN` for each of its UTF-8 bytes), so no
/// line break ever reaches the unit file.
pub fn systemd_exec_arg(s: &str) -> String {
    if is_plain_word(s) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x80 && !c.is_ascii_control() => out.push(c),
            c if yaml_printable(c) => out.push(c),
            // Byte by byte: systemd refuses `\u`/`\U` for the Unicode
            // non-characters ("unknown escape sequence", and the whole
            // line is ignored), and takes `\xNN` for any byte.
            c => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
        }
    }
    out.push('"');
    out
}

/// Free text in a unit file (`Description=`, comments): `%` written `%%`,
/// and every control or line-breaking character, and every character
/// systemd's UTF-8 check refuses, shown as text ([`shown_as_text`]), so a
/// value can never end its line, start a new setting, or be ignored. systemd reads no
/// other escape in these values, so a `\` stays as it is, except a final
/// one, which would join the next line to this one: it is shown as `\x5c`.
/// Lossy by design: systemd has no escape for a line break in these values.
pub fn systemd_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%%"),
            c if yaml_printable(c) => out.push(c),
            c => out.push_str(&shown_as_text(c)),
        }
    }
    if out.ends_with('\\') {
        out.pop();
        out.push_str("\\x5c");
    }
    out
}

/// How [`systemd_text`] shows a character systemd would not keep on its
/// line or would refuse (controls, line separators, the BOM, non-characters:
/// systemd's UTF-8 check refuses those): `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
pub fn shown_as_text(c: char) -> String {
    match u32::from(c) {
        u @ 0..=0xff => format!("\\x{u:02x}"),
        u @ 0x100..=0xffff => format!("\\u{u:04x}"),
        u => format!("\\U{u:08x}"),
    }
}

/// A ufw rule comment as `community.general.ufw` passes it on: the module
/// writes `comment '<text>'` into a command line that it splits with shlex,
/// so a `'` ends the quotes (the run fails with "No closing quotation"; an
/// apostrophe in a backend's own comment did) and nothing escapes it inside
/// them. `'` becomes `’` and control characters (a line break would end
/// ufw's rule) become spaces; everything else is kept.
pub fn ufw_comment(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\'' => '\u{2019}',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// A Python 3 string literal that reads back as exactly `s` (a generated
/// script embeds user text only this way, as data, never as code):
/// double-quoted and ASCII only, so neither the source encoding nor a
/// line-break character can change its meaning.
pub fn python_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

pub use crate::names::{is_label_value, is_path_component};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ufw_comments_have_no_single_quote_or_control_character() {
        assert_eq!(ufw_comment("a site's k3s servers"), "a site\u{2019}s k3s servers");
        assert_eq!(ufw_comment("a\nb\tc"), "a b c");
        assert_eq!(ufw_comment("plain (service), from x"), "plain (service), from x");
        // What the module does with it: shlex splits `comment '<text>'`
        // into two words, the second the text itself.
        for s in ["it's", "'", "a'b'c", "x\ny"] {
            let c = ufw_comment(s);
            assert!(!c.contains('\'') && !c.chars().any(char::is_control), "{c:?}");
        }
    }

    #[test]
    fn yaml_quotes_separators_noncharacters_and_the_merge_key() {
        assert_eq!(yaml_scalar("<<"), "'<<'");
        assert_eq!(yaml_scalar("a\u{2028}b"), "\"a\\u2028b\"");
        assert_eq!(yaml_scalar("a\u{2029}b"), "\"a\\u2029b\"");
        assert_eq!(yaml_scalar("a\u{85}b"), "\"a\\u0085b\"");
        assert_eq!(yaml_scalar("\u{feff}a"), "\"\\ufeffa\"");
        assert_eq!(yaml_scalar("a\u{fffe}"), "\"a\\ufffe\"");
        assert_eq!(yaml_scalar("a\u{1fffe}"), "\"a\\U0001fffe\"");
        assert_eq!(yaml_scalar("a\u{fdd0}"), "\"a\\ufdd0\"");
        assert_eq!(yaml_scalar("é"), "é");
        assert_eq!(yaml_scalar("plain"), "plain");
    }

    #[test]
    fn ansible_data_tags_every_string_jinja_would_evaluate() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("region", serde_json::json!("{{ lookup('pipe', 'id') }}"));
        m.insert("plain", serde_json::json!("eu-west-1"));
        m.insert("block", serde_json::json!("a\n{% x %}\n"));
        let out = super::super::yaml_ser::to_string_ansible(&m).unwrap();
        assert_eq!(
            out,
            "block: !unsafe |\n  a\n  {% x %}\nplain: eu-west-1\nregion: !unsafe \"{{ lookup('pipe', 'id') }}\"\n"
        );
        let t = super::super::yaml_ser::to_string_ansible(&AnsibleTemplate("{{ x }}")).unwrap();
        assert_eq!(t, "'{{ x }}'\n");
        let u = super::super::yaml::to_string(&AnsibleUnsafe("{{ x }}".into())).unwrap();
        assert_eq!(u, "!unsafe '{{ x }}'\n");
    }

    #[test]
    fn terraform_and_compose() {
        assert_eq!(terraform_template("a${b}%{c}$d"), "a$${b}%%{c}$d");
        assert_eq!(terraform_template("\u{feff}a"), "${\"\"}\u{feff}a");
        assert_eq!(compose_value("a$b$$"), "a$$b$$$$");
    }

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("abc-1.2/x"), "abc-1.2/x");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("$(x)"), "'$(x)'");
    }

    #[test]
    fn systemd_values() {
        assert_eq!(systemd_exec_arg("/srv/iotc-a_b"), "/srv/iotc-a_b");
        assert_eq!(systemd_exec_arg("a b%c$d\"e\\"), "\"a b%%c$$d\\\"e\\\\\"");
        assert_eq!(systemd_exec_arg("a\nb\u{7f}"), "\"a\\nb\\x7f\"");
        assert_eq!(systemd_text("50% a\nb"), "50%% a\\x0ab");
        assert_eq!(systemd_text("a\\b\\"), "a\\b\\x5c");
        assert_eq!(systemd_text("\u{fffe}\u{2028}"), "\\ufffe\\u2028");
        assert_eq!(systemd_exec_arg("a\u{fffe}"), "\"a\\xef\\xbf\\xbe\"");
    }

    #[test]
    fn path_components_and_label_values() {
        assert!(is_path_component("1.2.0"));
        assert!(is_path_component("v1_rc-2"));
        for bad in ["", ".", "..", "../../etc/cron.d", "a/b", "-x", ".hidden", "a b", "é"] {
            assert!(!is_path_component(bad), "{bad}");
        }
        assert!(is_label_value("1.2.0"));
        assert!(is_label_value(""));
        for bad in ["-a", "a-", "a b", "a/b", &"a".repeat(64)] {
            assert!(!is_label_value(bad), "{bad}");
        }
    }
}
