//! Property tests of `emit::escape`: seeded random strings, drawn from every
//! Unicode general category, the characters and words each output format
//! treats specially, and random code points, go through each escaping
//! function and are read back by the consumer's own parser:
//!
//! - YAML: PyYAML (YAML 1.1) and ruamel.yaml (YAML 1.2), byte-identical;
//! - Ansible: ansible-core's loader with inventory trust, then its Templar:
//!   every string comes back untemplated, byte-identical;
//! - Terraform: `terraform apply` of a local-only module (outputs from
//!   template strings and from variable defaults), identical after Unicode
//!   NFC normalisation, which Terraform applies to every string;
//! - shell: `sh` prints every word with `printf '%s\0'`, byte-identical;
//! - systemd: `systemd --test` loads units of `Exec*=` arguments and
//!   `Description=` texts and dumps them: arguments byte-identical, texts as
//!   `systemd_text` shows them;
//! - Compose: docker-compose's loader interpolates environment values:
//!   byte-identical, no variable looked up.
//!
//! They need python3 with PyYAML, ruamel.yaml and ansible-core (the
//! validators' venv: `validate-outputs --setup-only`), `terraform`, `sh`,
//! systemd with `setpriv`, and Debian's `docker-compose`,
//! so they are ignored by a plain `cargo test`; `.ci/run` sets up the venv
//! and runs them with `--ignored`, where a missing tool fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use iotc_compiler::emit::{escape, yaml};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// xorshift64*: a fixed seed, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// At least one character of every general category (Cs cannot be in a
/// Rust string).
const CATEGORIES: &[char] = &[
    'A',
    'Ω', // Lu
    'a',
    'ß', // Ll
    'ǅ', // Lt
    'ʰ', // Lm
    'あ',
    '中',       // Lo
    '\u{301}',  // Mn
    '\u{903}',  // Mc
    '\u{20dd}', // Me
    '7',
    '٣', // Nd
    'Ⅻ', // Nl
    '½', // No
    '_', // Pc
    '-',
    '‐', // Pd
    '(',
    '[',
    '{', // Ps
    ')',
    ']',
    '}', // Pe
    '«', // Pi
    '»', // Pf
    '!',
    '#',
    '%',
    '\'',
    '"',
    '\\',
    '*',
    '&',
    '@',
    ':',
    ',',
    '?', // Po
    '+',
    '<',
    '=',
    '>',
    '|',
    '~', // Sm
    '$',
    '€', // Sc
    '^',
    '`', // Sk
    '©',
    '😀', // So
    ' ',
    '\u{a0}',
    '\u{3000}', // Zs
    '\u{2028}', // Zl
    '\u{2029}', // Zp
    '\0',
    '\u{1}',
    '\t',
    '\n',
    '\r',
    '\u{1b}',
    '\u{7f}',
    '\u{85}',
    '\u{9f}', // Cc
    '\u{ad}',
    '\u{200b}',
    '\u{feff}',
    '\u{e0001}', // Cf
    '\u{e000}',
    '\u{f0000}', // Co
    '\u{378}',
    '\u{fdd0}',
    '\u{fffe}',
    '\u{ffff}',
    '\u{1fffe}',
    '\u{10ffff}', // Cn
];

/// Words and pieces some format reads as something other than text.
const TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "${",
    "%{",
    "$$",
    "$HOME",
    "<<",
    "=",
    ": ",
    " #",
    "---",
    "...",
    "yes",
    "No",
    "ON",
    "y",
    "~",
    "null",
    "NULL",
    "true",
    "0755",
    "0o17",
    "0x1F",
    "1e3",
    "1_000",
    "12:30",
    "2024-01-01",
    ".inf",
    "-.inf",
    ".NaN",
    "-",
    "?",
    "!unsafe",
    "&a",
    "*a",
    "|",
    ">",
    "%%",
    "'\\''",
    "\\n",
    "$(id)",
    "`id`",
    ";",
    "\n\n",
];

fn random_string(rng: &mut Rng) -> String {
    if rng.below(8) == 0 {
        return TOKENS[rng.below(TOKENS.len())].to_string();
    }
    let mut s = String::new();
    for _ in 0..rng.below(16) {
        match rng.below(4) {
            0 | 1 => s.push(CATEGORIES[rng.below(CATEGORIES.len())]),
            2 => s.push_str(TOKENS[rng.below(TOKENS.len())]),
            _ => {
                let c = loop {
                    if let Some(c) = char::from_u32((rng.next() % 0x11_0000) as u32) {
                        break c;
                    }
                };
                s.push(c);
            }
        }
    }
    s
}

fn samples(seed: u64, n: usize) -> Vec<String> {
    let mut rng = Rng(seed);
    let mut out: Vec<String> = TOKENS.iter().map(|t| t.to_string()).collect();
    out.extend(CATEGORIES.iter().map(|c| c.to_string()));
    out.push(String::new());
    while out.len() < n {
        out.push(random_string(&mut rng));
    }
    out
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("IOTC_ESCAPE_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let venv = home.join(".cache/iotc-validate/venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with PyYAML/ansible: run `validate-outputs --setup-only` or set IOTC_ESCAPE_PYTHON"
    );
    venv
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iotc-escape-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run `python -c script dir`; the script prints `ok` or the mismatches.
fn run_python(dir: &Path, script: &str) {
    let out = Command::new(python()).arg("-c").arg(script).arg(dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs PyYAML and ruamel.yaml; run by .ci/run"]
fn yaml_scalars_read_back_identically_in_yaml_1_1_and_1_2() {
    let strings = samples(0x1a2b_3c4d, 4000);
    // Every string as a key, as a map value (block scalars for multi-line
    // text) and as a sequence item.
    let mut map = Map::new();
    for s in &strings {
        map.insert(s.clone(), json!(s));
    }
    let doc = json!({ "map": map, "list": strings });
    let dir = scratch("yaml");
    std::fs::write(dir.join("doc.yaml"), yaml::to_string(&doc).unwrap()).unwrap();
    std::fs::write(dir.join("expected.json"), serde_json::to_string(&doc).unwrap()).unwrap();
    run_python(
        &dir,
        r#"
import json, sys, yaml
from ruamel.yaml import YAML
d = sys.argv[1]
want = json.load(open(d + "/expected.json", encoding="utf-8"))
text = open(d + "/doc.yaml", encoding="utf-8").read()
bad = 0
readers = [("PyYAML", yaml.load(text, Loader=yaml.SafeLoader)),
           ("libyaml", yaml.load(text, Loader=yaml.CSafeLoader)),
           ("ruamel", YAML(typ="safe", pure=True).load(text))]
for name, got in readers:
    got = json.loads(json.dumps(got))
    for a, b in zip(want["list"], got["list"]):
        if a != b:
            bad += 1; print(name, "list", repr(a), "read back as", repr(b))
    if len(want["list"]) != len(got["list"]) or want["map"] != got["map"]:
        bad += 1; print(name, "map or list differs")
print("bad" if bad else "ok")
"#,
    );
}

#[test]
#[ignore = "needs ansible-core; run by .ci/run"]
fn ansible_inventory_strings_are_never_templated() {
    let strings = samples(0x5eed_0001, 2000);
    let mut vars = Map::new();
    for (i, s) in strings.iter().enumerate() {
        vars.insert(format!("v{i}"), json!(s));
    }
    let doc = Value::Object(vars);
    let dir = scratch("ansible");
    std::fs::write(dir.join("vars.yaml"), yaml::to_string_ansible(&doc).unwrap()).unwrap();
    std::fs::write(dir.join("expected.json"), serde_json::to_string(&doc).unwrap()).unwrap();
    run_python(
        &dir,
        r#"
import json, sys
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
d = sys.argv[1]
want = json.load(open(d + "/expected.json", encoding="utf-8"))
# Loaded as the inventory plugin loads a file: its strings trusted as templates.
got = DataLoader().load_from_file(d + "/vars.yaml", trusted_as_template=True)
t = Templar(variables=got)
# Templating is live: an untagged template string is evaluated.
assert t.template(trust_as_template("{{ 1 + 1 }}")) == 2
bad = 0
for k, v in want.items():
    r = t.template(got[k])
    if str(r) != v or type(r) is not type(v) and not isinstance(r, str):
        bad += 1; print(k, repr(v), "templated to", repr(r))
print("bad" if bad else "ok")
"#,
    );
}

#[test]
#[ignore = "needs terraform; run by .ci/run"]
fn terraform_strings_read_back_identically() {
    let strings = samples(0x7e44_a0f0, 400);
    let mut outputs = Map::new();
    let mut variables = Map::new();
    for (i, s) in strings.iter().enumerate() {
        outputs.insert(format!("t{i}"), json!({ "value": escape::terraform_template(s) }));
        variables.insert(format!("v{i}"), json!({ "type": "string", "default": s }));
        outputs.insert(format!("d{i}"), json!({ "value": format!("${{var.v{i}}}") }));
    }
    let module = json!({ "output": outputs, "variable": variables });
    let dir = scratch("terraform");
    std::fs::write(dir.join("main.tf.json"), serde_json::to_string(&module).unwrap()).unwrap();
    std::fs::write(dir.join("expected.json"), serde_json::to_string(&strings).unwrap()).unwrap();
    let tf = |args: &[&str]| common::terraform(&dir, args);
    tf(&["init", "-input=false", "-no-color"]);
    tf(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    std::fs::write(dir.join("got.json"), tf(&["output", "-json"])).unwrap();
    run_python(
        &dir,
        r#"
import json, sys, unicodedata
d = sys.argv[1]
want = json.load(open(d + "/expected.json", encoding="utf-8"))
got = json.load(open(d + "/got.json", encoding="utf-8"))
bad = 0
for i, s in enumerate(want):
    # Terraform normalises every string to NFC; nothing else may change.
    n = unicodedata.normalize("NFC", s)
    for k in ("t%d" % i, "d%d" % i):
        if got[k]["value"] != n:
            bad += 1; print(k, repr(s), "read back as", repr(got[k]["value"]))
print("bad" if bad else "ok")
"#,
    );
}

#[test]
#[ignore = "needs sh; run by .ci/run"]
fn shell_words_read_back_identically() {
    let strings: Vec<String> = samples(0x5be1_1000, 3000)
        .into_iter()
        .filter(|s| !s.contains('\0'))
        .collect();
    let mut script = String::from("printf '%s\\0'");
    for s in &strings {
        script.push(' ');
        script.push_str(&escape::shell_word(s));
    }
    script.push('\n');
    let dir = scratch("shell");
    std::fs::write(dir.join("words.sh"), &script).unwrap();
    let out = Command::new("sh").arg(dir.join("words.sh")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
    for (i, s) in strings.iter().enumerate() {
        assert_eq!(got.get(i).copied(), Some(s.as_bytes()), "word {i}: {s:?}");
    }
}

/// `systemd --test` (systemd's own unit loader, run as an unprivileged user
/// because it refuses test mode as root) loads a unit with one `ExecStart=`
/// per sample and dumps each command line in its canonical quoting; the
/// dump is decoded (C escapes, `\` before `"`, `\`, `` ` `` and `$`) and
/// systemd's execution-time rule applied (`$$` → `$`). Every argument comes
/// back byte-identical, and every `Description=` as `systemd_text` means it
/// (control characters shown as `\xNN`, surrounding spaces stripped, which
/// systemd does to every value).
#[test]
#[ignore = "needs systemd (252+) and setpriv; run by .ci/run"]
fn systemd_values_read_back_by_systemd() {
    let strings: Vec<String> = samples(0x5d5d_0001, 1500)
        .into_iter()
        .filter(|s| !s.contains('\0'))
        .collect();
    let dir = scratch("systemd");
    let mut units = Vec::new();
    // Several units of at most 200 samples: every `ExecStart=` of a oneshot
    // is kept in order, and every unit has a Description to read back.
    for (u, chunk) in strings.chunks(200).enumerate() {
        let name = format!("iotc-escape-{u}.service");
        let mut text = format!(
            "[Unit]\nDescription={}\nDefaultDependencies=no\n\n[Service]\nType=oneshot\n",
            escape::systemd_text(&chunk[0])
        );
        for s in chunk {
            text.push_str("ExecStart=/bin/true ");
            text.push_str(&escape::systemd_exec_arg(s));
            text.push('\n');
        }
        std::fs::write(dir.join(&name), text).unwrap();
        units.push((name, chunk));
    }
    let chmod = Command::new("chmod").arg("-R").arg("a+rX").arg(&dir).status().unwrap();
    assert!(chmod.success());
    let systemd = ["/usr/lib/systemd/systemd", "/lib/systemd/systemd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("systemd is installed");
    let mut checked = 0;
    for (name, chunk) in &units {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", systemd])
            .args(["--test", "--system", "--no-pager"])
            .arg(format!("--unit={name}"))
            .env("SYSTEMD_UNIT_PATH", &dir)
            .env("SYSTEMD_LOG_TARGET", "console")
            .current_dir(&dir)
            .output()
            .unwrap();
        let dump = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{dump}\n{}", String::from_utf8_lossy(&out.stderr));
        let section = dump
            .split("\t-> Unit ")
            .find(|s| s.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} is not in the dump:\n{dump}"));
        let description = section
            .lines()
            .find_map(|l| l.strip_prefix("\t\tDescription: "))
            .expect("a Description");
        let mut want: String = chunk[0]
            .chars()
            .map(|c| {
                if escape::yaml_printable(c) {
                    c.to_string()
                } else {
                    escape::shown_as_text(c)
                }
            })
            .collect();
        if want.ends_with('\\') {
            want.pop();
            want.push_str("\\x5c");
        }
        assert_eq!(description, want.trim_matches(' '), "Description of {:?}", chunk[0]);
        let lines: Vec<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("\t\t\tCommand Line: /bin/true "))
            .collect();
        assert_eq!(lines.len(), chunk.len(), "one command line per ExecStart in {name}");
        for (line, s) in lines.iter().zip(chunk.iter()) {
            let got = systemd_env_expand(&decode_systemd_word(line));
            assert_eq!(got, *s, "ExecStart argument dumped as {line}");
            checked += 1;
        }
    }
    assert_eq!(checked, strings.len());
}

/// One word of systemd's dump (`quote_command_line`): bare, or in double
/// quotes with C escapes (`\NNN` octal, `\xNN`, `\n`, …) and `\` before
/// `"`, `\`, `` ` `` and `$`.
fn decode_systemd_word(w: &str) -> String {
    let inner = match w.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        Some(inner) => inner,
        None => return w.to_string(),
    };
    let b = inner.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let e = b[i + 1];
        i += 2;
        match e {
            b'0'..=b'7' => {
                out.push(u8::from_str_radix(&inner[i - 1..i + 2], 8).unwrap());
                i += 2;
            }
            b'x' => {
                out.push(u8::from_str_radix(&inner[i..i + 2], 16).unwrap());
                i += 2;
            }
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            other => out.push(other),
        }
    }
    String::from_utf8(out).unwrap()
}

/// systemd's execution-time expansion of an argument with no variables in
/// it: `$$` is one `$`.
fn systemd_env_expand(s: &str) -> String {
    s.replace("$$", "$")
}

/// Docker Compose's own loader (Debian's `docker-compose`, which implements
/// the Compose specification's interpolation, called as a library so its
/// YAML output writer, which folds NEL, is not in the way) loads a file whose
/// environment values went through `compose_value` and the YAML writer, and
/// interpolates it. Every value comes back byte-identical, and no variable
/// is looked up.
#[test]
#[ignore = "needs Debian's docker-compose; run by .ci/run"]
fn compose_values_read_back_by_docker_compose() {
    let strings: Vec<String> = samples(0xc0_5e00, 2000)
        .into_iter()
        .filter(|s| !s.contains('\0'))
        .collect();
    let mut env = Map::new();
    let mut want = Map::new();
    for (i, s) in strings.iter().enumerate() {
        env.insert(format!("V{i}"), json!(escape::compose_value(s)));
        want.insert(format!("V{i}"), json!(s));
    }
    let doc = json!({ "services": { "probe": { "image": "busybox:1.36", "environment": env } } });
    let dir = scratch("compose");
    std::fs::write(dir.join("compose.yaml"), yaml::to_string(&doc).unwrap()).unwrap();
    std::fs::write(
        dir.join("expected.json"),
        serde_json::to_string(&Value::Object(want)).unwrap(),
    )
    .unwrap();
    // Debian's docker-compose is a module of the system Python.
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(
            r#"
import json, sys
from compose.config import config
from compose.config.environment import Environment
d = sys.argv[1]
want = json.load(open(d + "/expected.json", encoding="utf-8"))
details = config.find(d, ["compose.yaml"], Environment.from_env_file(d))
got = config.load(details).services[0]["environment"]
bad = 0
for k, v in want.items():
    if got.get(k) != v:
        bad += 1; print(k, repr(v), "read back as", repr(got.get(k)))
print("bad" if bad else "ok")
"#,
        )
        .arg(&dir)
        // Any variable Compose looked up would come back changed.
        .env("HOME", "HOME-VALUE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
