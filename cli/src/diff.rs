//! What a build would change in an output folder, per target and per object
//! (`iotc diff`, the summary of `iotc build`, `iotc build --check`).
//!
//! Generic over files: every generated file is split into objects by its
//! target's conventions, and objects are compared field by field:
//!
//! - `k8s/<group>/*.yaml`: each YAML document is one object, named
//!   `Kind namespace/name`;
//! - `terraform/<root>/*.tf.json`: each resource is one object named by its
//!   address (`aws_vpc.main`, `data.aws_partition.current`), as are
//!   variables, outputs, locals, providers and the `terraform` block;
//! - `compose/<project>/compose.yaml`: each service, network and volume, and
//!   the project's other settings;
//! - `ansible/inventory.yaml`: each host (its variables) and each group (its
//!   variables, hosts and child groups);
//! - any other file is one object: its parsed YAML or JSON, or its lines.
//!
//! Objects are matched across files within one scope (a Kubernetes group, a
//! Terraform root, a Compose project), so an object that moves from one file
//! to another is a change, not a removal and an addition. Only files whose
//! bytes differ are parsed, so an up-to-date output of any size is compared
//! at the speed of reading it.

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The version of the JSON document `iotc diff --format json` prints; raised
/// when a field is removed or changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// What happens to an object or a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Add,
    Change,
    Remove,
}

impl Action {
    fn sign(self) -> char {
        match self {
            Action::Add => '+',
            Action::Change => '~',
            Action::Remove => '-',
        }
    }
}

/// Where an object lives and what it is called.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ObjectKey {
    /// `k8s`, `compose`, `ansible`, `terraform`, or `other`.
    pub target: String,
    /// The folder or file the object's name is unique in: `k8s/plants`,
    /// `terraform/cloud`, `compose/farms/north-bank`, `ansible/inventory.yaml`.
    pub scope: String,
    /// `Deployment`, `resource`, `data`, `variable`, `service`, `host`, `group`, `file`, ….
    pub kind: String,
    /// `factory/broker-plant-a`, `aws_vpc.main`, `gw1.plant-a.acme.internal`, a file path.
    pub name: String,
}

impl ObjectKey {
    /// How text output names the object: `Deployment factory/broker`,
    /// `aws_vpc.main`, `host gw1`, `file ansible/site.yml`.
    pub fn display(&self) -> String {
        if self.target == "terraform" {
            self.name.clone()
        } else {
            format!("{} {}", self.kind, self.name)
        }
    }
}

/// One field that differs. `path` is dotted (`spec.replicas`), with
/// `[i]` for list positions and `[name=x]` for list entries that carry a
/// unique `name`; empty for a whole file compared as text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// One object added, changed or removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObjectChange {
    #[serde(flatten)]
    pub key: ObjectKey,
    pub action: Action,
    /// The file it is in (after the build; before it, for a removal).
    pub file: String,
    /// For a change: every field that differs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

/// A file the build adds or removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    pub path: String,
    pub action: Action,
}

/// A file changed by hand since iotc wrote it, or not written by iotc, at a
/// path the build writes or removes: `iotc build` refuses it without `--force`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandEdit {
    pub path: String,
    /// `changed`, `deleted` or `not_written_by_iotc`.
    pub kind: &'static str,
    pub description: &'static str,
}

/// Per target: how many objects are added, changed, removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub remove: usize,
}

impl Counts {
    fn bump(&mut self, a: Action) {
        match a {
            Action::Add => self.add += 1,
            Action::Change => self.change += 1,
            Action::Remove => self.remove += 1,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.add + self.change + self.remove == 0
    }
}

/// Everything a build would change in an output folder.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    pub schema_version: u32,
    /// The output folder, as given.
    pub out: String,
    /// Object counts per target (only targets with changes), sorted.
    pub targets: BTreeMap<String, Counts>,
    /// Object counts over every target.
    pub total: Counts,
    /// Every object change, sorted by target, scope, kind, name.
    pub objects: Vec<ObjectChange>,
    /// Files added and removed, sorted by path.
    pub files: Vec<FileChange>,
    /// Generated files whose bytes change (objects inside them changed).
    pub files_changed: usize,
    /// Generated files already right.
    pub files_unchanged: usize,
    pub hand_edits: Vec<HandEdit>,
}

impl Diff {
    /// Nothing would change: no object, no file, no hand edit.
    pub fn is_empty(&self) -> bool {
        self.total.is_empty() && self.files.is_empty() && self.files_changed == 0 && self.hand_edits.is_empty()
    }
}

/// The target a generated path belongs to (its first segment).
pub fn target_of(path: &str) -> &str {
    match path.split('/').next() {
        Some(t @ ("k8s" | "compose" | "ansible" | "terraform")) => t,
        _ => "other",
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// A file's objects: key and value.
pub fn objects(path: &str, bytes: &[u8]) -> Vec<(ObjectKey, Value)> {
    let target = target_of(path);
    let key = |scope: &str, kind: &str, name: String| ObjectKey {
        target: target.to_string(),
        scope: scope.to_string(),
        kind: kind.to_string(),
        name,
    };
    let whole = |v: Value| vec![(key(path, "file", path.to_string()), v)];
    let Ok(text) = std::str::from_utf8(bytes) else {
        return whole(Value::String(format!("<{} bytes, not UTF-8>", bytes.len())));
    };
    let is_yaml = path.ends_with(".yaml") || path.ends_with(".yml");
    let parsed: Option<Vec<Value>> = if is_yaml {
        parse_yaml_docs(text)
    } else if path.ends_with(".json") {
        serde_json::from_str::<Value>(text).ok().map(|v| vec![v])
    } else {
        None
    };
    let Some(docs) = parsed else {
        return whole(Value::String(text.to_string()));
    };
    match target {
        "k8s" if is_yaml => {
            let scope = parent(path);
            let mut out = Vec::new();
            for (i, doc) in docs.into_iter().enumerate() {
                if doc.is_null() {
                    continue;
                }
                let kind = doc
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("Document")
                    .to_string();
                let meta = doc.get("metadata");
                let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str);
                let ns = meta.and_then(|m| m.get("namespace")).and_then(Value::as_str);
                let name = match (ns, name) {
                    (Some(ns), Some(n)) => format!("{ns}/{n}"),
                    (None, Some(n)) => n.to_string(),
                    (_, None) if i == 0 => path.to_string(),
                    (_, None) => format!("{path}#{i}"),
                };
                out.push((key(scope, &kind, name), doc));
            }
            out
        }
        "terraform" if path.ends_with(".tf.json") => {
            let scope = parent(path);
            let mut out = Vec::new();
            for doc in docs {
                let Value::Object(top) = doc else { continue };
                for (block, body) in top {
                    match (block.as_str(), body) {
                        ("resource" | "data", Value::Object(types)) => {
                            for (ty, by_name) in types {
                                let Value::Object(by_name) = by_name else { continue };
                                let prefix = if block == "data" { "data." } else { "" };
                                for (name, v) in by_name {
                                    out.push((key(scope, &block, format!("{prefix}{ty}.{name}")), v));
                                }
                            }
                        }
                        ("variable" | "output" | "locals" | "provider" | "module", Value::Object(items)) => {
                            let kind = if block == "locals" { "local" } else { block.as_str() };
                            for (name, v) in items {
                                out.push((key(scope, kind, format!("{kind}.{name}")), v));
                            }
                        }
                        (_, v) => out.push((key(scope, &block, block.clone()), v)),
                    }
                }
            }
            out
        }
        "compose" if is_yaml && docs.len() == 1 => {
            let scope = parent(path);
            let mut out = Vec::new();
            let mut settings = serde_json::Map::new();
            for doc in docs {
                let Value::Object(top) = doc else { continue };
                for (k, v) in top {
                    match (k.as_str(), v) {
                        ("services" | "networks" | "volumes" | "configs" | "secrets", Value::Object(items)) => {
                            let kind = k.trim_end_matches('s');
                            for (name, v) in items {
                                out.push((key(scope, kind, name), v));
                            }
                        }
                        (_, v) => {
                            settings.insert(k, v);
                        }
                    }
                }
            }
            if !settings.is_empty() {
                out.push((key(scope, "project", scope.to_string()), Value::Object(settings)));
            }
            out
        }
        "ansible" if path == "ansible/inventory.yaml" && docs.len() == 1 => {
            let mut inv = Inventory::default();
            for doc in &docs {
                if let Value::Object(top) = doc {
                    for (name, g) in top {
                        inv.group(name, g);
                    }
                }
            }
            let mut out = Vec::new();
            for (name, v) in inv.groups {
                out.push((key(path, "group", name), Value::Object(v)));
            }
            for (name, v) in inv.hosts {
                out.push((key(path, "host", name), v));
            }
            out
        }
        _ => {
            let v = if docs.len() == 1 {
                docs.into_iter().next().unwrap_or(Value::Null)
            } else {
                Value::Array(docs)
            };
            whole(v)
        }
    }
}

/// An Ansible YAML inventory flattened into groups and hosts.
#[derive(Default)]
struct Inventory {
    groups: BTreeMap<String, serde_json::Map<String, Value>>,
    hosts: BTreeMap<String, Value>,
}

impl Inventory {
    fn group(&mut self, name: &str, g: &Value) {
        let mut entry = serde_json::Map::new();
        if let Some(vars) = g.get("vars") {
            entry.insert("vars".into(), vars.clone());
        }
        if let Some(Value::Object(hosts)) = g.get("hosts") {
            entry.insert(
                "hosts".into(),
                Value::Array(hosts.keys().map(|h| Value::String(h.clone())).collect()),
            );
            for (h, vars) in hosts {
                let slot = self.hosts.entry(h.clone()).or_insert(Value::Null);
                if !vars.is_null() {
                    *slot = vars.clone();
                }
            }
        }
        if let Some(Value::Object(children)) = g.get("children") {
            entry.insert(
                "children".into(),
                Value::Array(children.keys().map(|c| Value::String(c.clone())).collect()),
            );
            for (c, body) in children {
                self.group(c, body);
            }
        }
        self.groups.insert(name.to_string(), entry);
    }
}

/// The objects of a Kubernetes YAML file as iotc writes it, found without
/// parsing: each document's top-level `kind:` and its `metadata:`'s `name:`
/// and `namespace:`. `None` for anything else (then it is parsed).
pub fn scan_k8s_keys(path: &str, bytes: &[u8]) -> Option<Vec<ObjectKey>> {
    if target_of(path) != "k8s" || !(path.ends_with(".yaml") || path.ends_with(".yml")) {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let unquote = |v: &str| v.trim().trim_matches(|c| c == '\'' || c == '"').to_string();
    let scope = parent(path);
    let mut out = Vec::new();
    let mut doc: Option<(Option<String>, Option<String>, Option<String>)> = None;
    let mut in_meta = false;
    let finish = |d: Option<(Option<String>, Option<String>, Option<String>)>, out: &mut Vec<ObjectKey>| {
        let Some((kind, name, ns)) = d else { return Some(()) };
        let (Some(kind), Some(name)) = (kind, name) else {
            // Not the layout this scanner knows (or a kustomization):
            // only whole documents with a kind and a name are scanned.
            return None;
        };
        out.push(ObjectKey {
            target: "k8s".into(),
            scope: scope.to_string(),
            kind,
            name: match ns {
                Some(ns) => format!("{ns}/{name}"),
                None => name,
            },
        });
        Some(())
    };
    for line in text.lines() {
        if line == "---" {
            finish(doc.take(), &mut out)?;
            doc = Some((None, None, None));
            in_meta = false;
            continue;
        }
        let Some(d) = doc.as_mut() else {
            if !line.is_empty() && !line.starts_with('#') {
                return None;
            }
            continue;
        };
        if let Some(v) = line.strip_prefix("kind: ") {
            d.0 = Some(unquote(v));
        } else if line == "metadata:" {
            in_meta = true;
        } else if !line.starts_with(' ') {
            in_meta = false;
        } else if in_meta {
            if let Some(v) = line.strip_prefix("  name: ") {
                d.1 = Some(unquote(v));
            } else if let Some(v) = line.strip_prefix("  namespace: ") {
                d.2 = Some(unquote(v));
            }
        }
    }
    finish(doc.take(), &mut out)?;
    Some(out)
}

/// Every document of a YAML stream, or `None` if it does not parse.
fn parse_yaml_docs(text: &str) -> Option<Vec<Value>> {
    use serde::Deserialize;
    let mut docs = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        docs.push(Value::deserialize(doc).ok()?);
    }
    Some(docs)
}

/// Every field that differs between two values.
pub fn field_changes(old: &Value, new: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    compare(String::new(), old, new, &mut out);
    out
}

fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{}]", Value::String(key.to_string())),
    }
}

/// The `name` of every entry, if every entry has a distinct one.
fn names(items: &[Value]) -> Option<Vec<&str>> {
    let names: Vec<&str> = items
        .iter()
        .map(|v| v.get("name").and_then(Value::as_str))
        .collect::<Option<_>>()?;
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    (sorted.len() == names.len()).then_some(names)
}

fn compare(path: String, old: &Value, new: &Value, out: &mut Vec<FieldChange>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) => compare(join(&path, k), va, vb, out),
                    None => out.push(FieldChange {
                        path: join(&path, k),
                        old: Some(va.clone()),
                        new: None,
                    }),
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    out.push(FieldChange {
                        path: join(&path, k),
                        old: None,
                        new: Some(vb.clone()),
                    });
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if let (Some(na), Some(nb)) = (names(a), names(b)) {
                for (n, va) in na.iter().zip(a) {
                    let p = format!("{path}[name={n}]");
                    match nb.iter().position(|m| m == n).and_then(|i| b.get(i)) {
                        Some(vb) => compare(p, va, vb, out),
                        None => out.push(FieldChange {
                            path: p,
                            old: Some(va.clone()),
                            new: None,
                        }),
                    }
                }
                for (n, vb) in nb.iter().zip(b) {
                    if !na.contains(n) {
                        out.push(FieldChange {
                            path: format!("{path}[name={n}]"),
                            old: None,
                            new: Some(vb.clone()),
                        });
                    }
                }
                return;
            }
            // Entries inserted or deleted in the middle are shown as such,
            // not as every later entry changing.
            let (sa, sb): (Vec<String>, Vec<String>) = (
                a.iter().map(Value::to_string).collect(),
                b.iter().map(Value::to_string).collect(),
            );
            let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &sa, &sb);
            for op in ops {
                let (_, old_range, new_range) = op.as_tag_tuple();
                if op.tag() == similar::DiffTag::Equal {
                    continue;
                }
                let paired = old_range.len().min(new_range.len());
                for k in 0..old_range.len().max(new_range.len()) {
                    let (i, j) = (old_range.start + k, new_range.start + k);
                    let (va, vb) = (
                        a.get(i).filter(|_| k < old_range.len()),
                        b.get(j).filter(|_| k < new_range.len()),
                    );
                    match (va, vb) {
                        (Some(va), Some(vb)) if k < paired => compare(format!("{path}[{j}]"), va, vb, out),
                        (Some(va), _) => out.push(FieldChange {
                            path: format!("{path}[{i}]"),
                            old: Some(va.clone()),
                            new: None,
                        }),
                        (None, vb) => out.push(FieldChange {
                            path: format!("{path}[{j}]"),
                            old: None,
                            new: vb.cloned(),
                        }),
                    }
                }
            }
        }
        _ => out.push(FieldChange {
            path,
            old: Some(old.clone()),
            new: Some(new.clone()),
        }),
    }
}

/// Collects object changes file by file, then matches objects within each
/// scope. Feed it every generated file whose bytes differ from the folder's,
/// and every file the build removes.
#[derive(Default)]
pub struct Collector {
    /// Only count: new Kubernetes files are scanned for their objects'
    /// names instead of parsed (`iotc build`'s summary, where a first build
    /// may write hundreds of megabytes). Their values are then unknown.
    pub counts_only: bool,
    old: BTreeMap<ObjectKey, (String, Option<Value>)>,
    new: BTreeMap<ObjectKey, (String, Option<Value>)>,
}

impl Collector {
    /// One file's contents before (`None`: absent) and after (`None`:
    /// removed).
    pub fn file(&mut self, path: &str, old: Option<&[u8]>, new: Option<&[u8]>) {
        if let (true, None, Some(bytes)) = (self.counts_only, old, new) {
            if let Some(keys) = scan_k8s_keys(path, bytes) {
                for k in keys {
                    self.new.insert(k, (path.to_string(), None));
                }
                return;
            }
        }
        for (side, bytes) in [(&mut self.old, old), (&mut self.new, new)] {
            if let Some(bytes) = bytes {
                for (k, v) in objects(path, bytes) {
                    side.insert(k, (path.to_string(), Some(v)));
                }
            }
        }
    }

    /// The object changes, sorted, with their counts per target.
    pub fn finish(self, diff: &mut Diff) {
        let Collector { old, mut new, .. } = self;
        for (key, (old_file, old_v)) in old {
            let change = match new.remove(&key) {
                Some((new_file, new_v)) => {
                    let fields = match (&old_v, &new_v) {
                        (Some(a), Some(b)) => field_changes(a, b),
                        // Moved into a file that was only scanned: counted
                        // as a change, without its fields.
                        _ => Vec::new(),
                    };
                    if fields.is_empty() && old_v.is_some() && new_v.is_some() {
                        continue;
                    }
                    ObjectChange {
                        key,
                        action: Action::Change,
                        file: new_file,
                        fields,
                    }
                }
                None => ObjectChange {
                    key,
                    action: Action::Remove,
                    file: old_file,
                    fields: Vec::new(),
                },
            };
            diff.objects.push(change);
        }
        for (key, (file, _)) in new {
            diff.objects.push(ObjectChange {
                key,
                action: Action::Add,
                file,
                fields: Vec::new(),
            });
        }
        diff.objects.sort_by(|a, b| a.key.cmp(&b.key));
        for o in &diff.objects {
            diff.targets.entry(o.key.target.clone()).or_default().bump(o.action);
            diff.total.bump(o.action);
        }
    }
}

/// Receives each generated file: its path and contents.
pub type FileSink<'a> = dyn FnMut(&str, &[u8]) + 'a;

/// Compare a build's files with the output folder `out`, as `iotc build`
/// would see it; `recorded` is its checksum record ([`crate::writer::recorded`]);
/// `counts_only` as in [`Collector::counts_only`].
/// `each_file` runs the backends, handing every generated file to the
/// callback. Reads only; nothing is written.
pub fn compare_with_folder(
    out: &Path,
    out_name: &str,
    recorded: &BTreeMap<String, String>,
    counts_only: bool,
    each_file: &mut dyn FnMut(&mut FileSink<'_>),
) -> Diff {
    let mut diff = Diff {
        schema_version: SCHEMA_VERSION,
        out: out_name.to_string(),
        ..Diff::default()
    };
    let mut collector = Collector {
        counts_only,
        ..Collector::default()
    };
    let mut generated = std::collections::BTreeSet::new();
    let mut hand_edits = Vec::new();
    each_file(&mut |path, contents| {
        generated.insert(path.to_string());
        let on_disk = std::fs::read(out.join(path)).ok();
        match (&on_disk, recorded.get(path)) {
            (Some(bytes), Some(sum)) if bytes != contents && crate::writer::sha256_hex(bytes) != *sum => {
                hand_edits.push(edit(path, crate::writer::ConflictKind::Changed));
            }
            (Some(bytes), None) if bytes != contents => {
                hand_edits.push(edit(path, crate::writer::ConflictKind::NotWrittenByIotc));
            }
            (None, Some(_)) => hand_edits.push(edit(path, crate::writer::ConflictKind::Deleted)),
            _ => {}
        }
        match on_disk {
            Some(bytes) if bytes == contents => diff.files_unchanged += 1,
            Some(bytes) => {
                diff.files_changed += 1;
                collector.file(path, Some(&bytes), Some(contents));
            }
            None => {
                diff.files.push(FileChange {
                    path: path.to_string(),
                    action: Action::Add,
                });
                collector.file(path, None, Some(contents));
            }
        }
    });
    for (path, sum) in recorded {
        if generated.contains(path) {
            continue;
        }
        let Ok(bytes) = std::fs::read(out.join(path)) else {
            continue;
        };
        if crate::writer::sha256_hex(&bytes) != *sum {
            hand_edits.push(edit(path, crate::writer::ConflictKind::Changed));
        }
        diff.files.push(FileChange {
            path: path.clone(),
            action: Action::Remove,
        });
        collector.file(path, Some(&bytes), None);
    }
    collector.finish(&mut diff);
    diff.files.sort_by(|a, b| a.path.cmp(&b.path));
    hand_edits.sort_by(|a: &HandEdit, b| a.path.cmp(&b.path));
    diff.hand_edits = hand_edits;
    diff
}

fn edit(path: &str, kind: crate::writer::ConflictKind) -> HandEdit {
    use crate::writer::ConflictKind as K;
    HandEdit {
        path: path.to_string(),
        kind: match kind {
            K::Changed => "changed",
            K::Deleted => "deleted",
            K::NotWrittenByIotc => "not_written_by_iotc",
        },
        description: kind.describe(),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The terraform-like last line: `Diff: 2 to add, 1 to change, 0 to remove.`
pub fn summary_line(d: &Diff) -> String {
    if d.is_empty() {
        return format!("No changes: `{}` is up to date.", d.out);
    }
    let mut s = format!(
        "Diff: {} to add, {} to change, {} to remove",
        d.total.add, d.total.change, d.total.remove
    );
    let added = d.files.iter().filter(|f| f.action == Action::Add).count();
    let removed = d.files.len() - added;
    s.push_str(&format!(
        " ({} added, {} removed, {} changed)",
        plural(added, "file", "files"),
        removed,
        d.files_changed
    ));
    if !d.hand_edits.is_empty() {
        s.push_str(&format!(
            "; {} in the way (`iotc build` refuses without --force)",
            plural(d.hand_edits.len(), "hand edit", "hand edits")
        ));
    }
    s.push('.');
    s
}

/// One line per target: `k8s objects: 2 added, 1 changed, 0 removed`.
pub fn per_target_lines(d: &Diff) -> Vec<String> {
    d.targets
        .iter()
        .map(|(t, c)| {
            format!(
                "{t} objects: {} added, {} changed, {} removed",
                c.add, c.change, c.remove
            )
        })
        .collect()
}

/// A value in one line, shortened.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 100 {
        let cut: String = s.chars().take(97).collect();
        format!("{cut}...")
    } else {
        s
    }
}

/// The text form of `iotc diff`: objects per target and scope with their
/// field changes, files added and removed, hand edits, and the summary line.
pub fn render_text(d: &Diff) -> String {
    let mut s = String::new();
    let mut scope: Option<(&str, &str)> = None;
    for o in &d.objects {
        let here = (o.key.target.as_str(), o.key.scope.as_str());
        if scope != Some(here) {
            s.push_str(&format!("{} ({})\n", o.key.scope, o.key.target));
            scope = Some(here);
        }
        s.push_str(&format!("  {} {}", o.action.sign(), o.key.display()));
        if o.file != o.key.scope && o.key.kind != "file" {
            s.push_str(&format!("  [{}]", o.file));
        }
        s.push('\n');
        for f in &o.fields {
            render_field(f, &mut s);
        }
    }
    if !d.files.is_empty() {
        s.push_str("files\n");
        for f in &d.files {
            s.push_str(&format!("  {} {}\n", f.action.sign(), f.path));
        }
    }
    if !d.hand_edits.is_empty() {
        s.push_str("hand edits in the way\n");
        for h in &d.hand_edits {
            s.push_str(&format!("  ! {}: {}\n", h.path, h.description));
        }
    }
    s.push_str(&summary_line(d));
    s.push('\n');
    s
}

fn render_field(f: &FieldChange, s: &mut String) {
    let label = if f.path.is_empty() { "(text)" } else { f.path.as_str() };
    match (&f.old, &f.new) {
        (Some(Value::String(a)), Some(Value::String(b))) if a.contains('\n') || b.contains('\n') => {
            s.push_str(&format!("      {label}:\n"));
            let diff = similar::TextDiff::from_lines(a.as_str(), b.as_str());
            for group in diff.grouped_ops(1) {
                for op in group {
                    for change in diff.iter_changes(&op) {
                        let sign = match change.tag() {
                            similar::ChangeTag::Delete => '-',
                            similar::ChangeTag::Insert => '+',
                            similar::ChangeTag::Equal => ' ',
                        };
                        s.push_str(&format!("        {sign} {}", change.value()));
                        if change.missing_newline() {
                            s.push('\n');
                        }
                    }
                }
            }
        }
        (Some(a), Some(b)) => s.push_str(&format!("      {label}: {} -> {}\n", short(a), short(b))),
        (None, Some(b)) => s.push_str(&format!("      + {label}: {}\n", short(b))),
        (Some(a), None) => s.push_str(&format!("      - {label}: {}\n", short(a))),
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn keys(path: &str, text: &str) -> Vec<String> {
        objects(path, text.as_bytes())
            .into_iter()
            .map(|(k, _)| k.display())
            .collect()
    }

    #[test]
    fn kubernetes_documents_are_named_by_kind_namespace_and_name() {
        let text = "# header\n---\nkind: Deployment\nmetadata:\n  name: a\n  namespace: f\n---\nkind: Namespace\nmetadata:\n  name: f\n";
        assert_eq!(keys("k8s/cloud/10-a.yaml", text), ["Deployment f/a", "Namespace f"]);
    }

    #[test]
    fn terraform_resources_are_named_by_address() {
        let text = r#"{"resource":{"aws_vpc":{"main":{"cidr_block":"10.0.0.0/16"}}},"data":{"aws_partition":{"current":{}}},"locals":{"x":1},"terraform":{}}"#;
        assert_eq!(
            keys("terraform/cloud/main.tf.json", text),
            ["aws_vpc.main", "data.aws_partition.current", "local.x", "terraform"]
        );
    }

    #[test]
    fn inventory_is_split_into_hosts_and_groups() {
        let text = "all:\n  children:\n    site_a:\n      vars:\n        x: 1\n      hosts:\n        gw1:\n          ip: 1\n        gw2:\n";
        assert_eq!(
            keys("ansible/inventory.yaml", text),
            ["group all", "group site_a", "host gw1", "host gw2"]
        );
    }

    #[test]
    fn compose_services_are_objects() {
        let text = "name: p\nservices:\n  broker:\n    image: a\nnetworks:\n  iotc: {}\n";
        assert_eq!(
            keys("compose/farms/a/compose.yaml", text),
            ["service broker", "network iotc", "project compose/farms/a"]
        );
    }

    #[test]
    fn named_list_entries_are_compared_by_name() {
        let old: Value = serde_json::json!({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]});
        let new: Value = serde_json::json!({"env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]});
        let paths: Vec<String> = field_changes(&old, &new).into_iter().map(|f| f.path).collect();
        assert_eq!(paths, ["env[name=A]", "env[name=B].value", "env[name=C]"]);
    }

    #[test]
    fn an_object_moved_between_files_is_a_change_not_a_removal() {
        let mut c = Collector::default();
        let a = "kind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: '1'\n";
        let b = "kind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: '2'\n";
        c.file("k8s/g/a.yaml", Some(a.as_bytes()), None);
        c.file("k8s/g/b.yaml", None, Some(b.as_bytes()));
        let mut d = Diff::default();
        c.finish(&mut d);
        assert_eq!(d.objects.len(), 1);
        assert_eq!(d.objects[0].action, Action::Change);
        assert_eq!(d.objects[0].fields[0].path, "data.k");
    }

    #[test]
    fn scanning_finds_the_same_kubernetes_objects_as_parsing() {
        let text = "# Generated\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: f\n  labels:\n    name: x\n---\nkind: Deployment\nmetadata:\n  name: 'a'\n  namespace: f\nspec:\n  template:\n    metadata:\n      name: inner\n";
        let scanned = scan_k8s_keys("k8s/g/10-a.yaml", text.as_bytes()).unwrap();
        let parsed: Vec<ObjectKey> = objects("k8s/g/10-a.yaml", text.as_bytes())
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(scanned, parsed);
        // A kustomization has no name: parsed instead.
        assert!(scan_k8s_keys("k8s/g/kustomization.yaml", b"---\nkind: Kustomization\nresources: []\n").is_none());
    }

    #[test]
    fn text_files_are_compared_by_lines() {
        let mut c = Collector::default();
        c.file("ansible/roles/r/files/u.service", Some(b"a\nb\n"), Some(b"a\nc\n"));
        let mut d = Diff::default();
        c.finish(&mut d);
        let text = render_text(&d);
        assert!(text.contains("        - b\n        + c\n"), "{text}");
    }
}
