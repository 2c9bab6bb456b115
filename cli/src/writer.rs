//! The output writer: puts a build's files on disk without ever losing data
//! (DESIGN.md §6).
//!
//! [`write()`] works like this (and so does [`Staging`], which `iotc build`
//! uses: there each file goes into the temporary tree of step 5 as soon as a
//! backend produces it, and steps 3–6 are decided at [`Staging::commit`];
//! nothing under `out` changes before that):
//!
//! 1. **Check.** Every [`OutputFile`] path must be relative, use `/`, have no
//!    empty, `.` or `..` segment, not be [`MANIFEST`], appear once, and not
//!    also be a folder of another path.
//! 2. **Look at what is there.** If `out` exists it must be a folder. Its
//!    checksum record `out/.iotc-manifest.json` says which files iotc wrote
//!    last time. A non-empty folder without one is refused unless `force`
//!    ([`WriteError::NotIotcOutput`]), as is one whose record cannot be read
//!    ([`WriteError::BadManifest`]).
//! 3. **Hand edits.** A recorded file whose bytes no longer match their
//!    checksum, that was replaced by something other than a regular file, or
//!    that was deleted while this build produces it again, was changed by
//!    hand. So is a file iotc did not write that sits where this build puts a
//!    file (or inside such a path, or where this build needs a folder). Without
//!    `force` the write fails with [`WriteError::HandEdited`] naming every such
//!    file; nothing on disk changes. With `force` they are overwritten (or, if
//!    this build no longer produces them, removed) and listed in
//!    [`WriteReport::overwritten`]. A file whose bytes already equal what this
//!    build writes is never a conflict, whoever wrote it.
//! 4. **Unmanaged files are kept.** Every other file, symlink or folder that
//!    the record does not list (a README, `terraform.tfstate`, `.terraform/`,
//!    `.git/`) is carried over into the new tree untouched: hard-linked (so
//!    the same inode, bytes, mode and mtime; copied only if the file system
//!    cannot link), symlinks recreated with the same target, folder modes
//!    kept. Files that iotc wrote last time and this build no longer produces
//!    are removed ([`WriteReport::removed`]).
//! 5. **Build aside, then swap.** The new tree is built in the sibling folder
//!    `<out>.iotc-tmp-<pid>-<nonce>`: generated files (a file whose bytes are
//!    already right is hard-linked from the old tree, so it keeps its mtime),
//!    the record, the carried-over files. Then it is flushed to disk and
//!    exchanged with `out` in one atomic step (`renameat2(RENAME_EXCHANGE)`;
//!    where there is none, two renames under a journal), and the old tree is
//!    deleted. So at every instant `out` is either the complete previous
//!    output or the complete new one; see [`swap`] for the steps and for the
//!    recovery every build runs first (under a lock, `<out>.iotc-lock`):
//!    finishing or undoing an interrupted swap and deleting the siblings
//!    that killed builds left behind. If anything fails before the swap, the
//!    temporary folder is deleted and `out` is exactly as it was.
//! 6. **No-op.** If every generated file is already right, nothing is to be
//!    removed and the record would be byte-identical, nothing is touched at
//!    all ([`WriteReport::noop`]).
//!
//! The record is JSON with sorted keys, so the same files give the same bytes:
//!
//! ```json
//! {
//!   "iotc_version": "0.1.0",
//!   "sha256": {
//!     "k8s/plant/deployment.yaml": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//!   }
//! }
//! ```

pub mod swap;
#[cfg(test)]
mod tests;

pub use swap::write_file_atomically;

use iotc_compiler::emit::OutputFile;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use swap::{Ops, OutLock, RealOps};

/// The checksum record's file name, at the top of the output folder.
pub const MANIFEST: &str = ".iotc-manifest.json";

/// The iotc version written into the record.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What [`write()`] did. Paths are relative to the output folder, with `/`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// Generated files written because they are new or their bytes changed.
    pub written: Vec<String>,
    /// Generated files whose bytes on disk were already right (kept as they
    /// were, same mtime).
    pub unchanged: Vec<String>,
    /// Files iotc wrote before that this build no longer produces.
    pub removed: Vec<String>,
    /// Files, symlinks and empty folders iotc did not write, carried over.
    pub kept: Vec<String>,
    /// With `force`: the hand-edited files that were overwritten or removed.
    pub overwritten: Vec<Conflict>,
    /// Nothing on disk was touched: the output was already exactly this.
    pub noop: bool,
    /// Problems after the new output was in place (the old tree could not be
    /// deleted); the write itself succeeded.
    pub warnings: Vec<String>,
}

/// How a file on disk differs from what iotc recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConflictKind {
    /// Recorded, but its bytes differ from the checksum (or it is no longer a
    /// regular file).
    Changed,
    /// Recorded, deleted since, and this build would write it again.
    Deleted,
    /// Not written by iotc, and in the way of a file this build writes.
    NotWrittenByIotc,
}

impl ConflictKind {
    pub fn describe(self) -> &'static str {
        match self {
            ConflictKind::Changed => "changed since iotc wrote it",
            ConflictKind::Deleted => "deleted since iotc wrote it",
            ConflictKind::NotWrittenByIotc => "not written by iotc, and this build writes to that path",
        }
    }
}

/// One file changed by hand.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Conflict {
    /// Relative to the output folder, with `/`.
    pub path: String,
    pub kind: ConflictKind,
}

/// Why [`write()`] wrote nothing. In every case the output folder is as it was.
#[derive(Debug)]
pub enum WriteError {
    /// Files were changed by hand (sorted by path); `force` overwrites them.
    HandEdited { out: PathBuf, files: Vec<Conflict> },
    /// `out` is a non-empty folder with no checksum record; `force` writes
    /// into it anyway (keeping every file this build does not write).
    NotIotcOutput { out: PathBuf },
    /// The checksum record exists but cannot be read; `force` treats the
    /// folder as having none.
    BadManifest { out: PathBuf, message: String },
    /// A backend produced a path the writer will not create.
    BadPath { path: String, reason: String },
    /// The file system refused something.
    Io {
        action: String,
        path: PathBuf,
        error: io::Error,
    },
}

impl WriteError {
    /// A refusal that `--force` overrides (as opposed to a bad path or an IO
    /// failure).
    pub fn needs_force(&self) -> bool {
        matches!(
            self,
            WriteError::HandEdited { .. } | WriteError::NotIotcOutput { .. } | WriteError::BadManifest { .. }
        )
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::HandEdited { out, files } => {
                let n = files.len();
                let (s, were) = if n == 1 { ("", "was") } else { ("s", "were") };
                writeln!(
                    f,
                    "{n} file{s} in `{}` {were} changed by hand since iotc wrote them; nothing was written:",
                    out.display()
                )?;
                for c in files {
                    writeln!(f, "  {}: {}", c.path, c.kind.describe())?;
                }
                write!(
                    f,
                    "move your changes into the source (or keep a copy), then rerun with --force to overwrite them"
                )
            }
            WriteError::NotIotcOutput { out } => write!(
                f,
                "`{}` is not an iotc output folder (it is not empty and has no {MANIFEST}); \
                 nothing was written. Pick another folder, or rerun with --force to write into it \
                 (files iotc does not generate are kept)",
                out.display()
            ),
            WriteError::BadManifest { out, message } => write!(
                f,
                "cannot read `{}`: {message}; nothing was written. Rerun with --force to treat \
                 every file there as not written by iotc (they are kept unless this build writes the same path)",
                out.join(MANIFEST).display()
            ),
            WriteError::BadPath { path, reason } => {
                write!(
                    f,
                    "a backend produced the output path `{path}`, which {reason}; nothing was written"
                )
            }
            WriteError::Io { action, path, error } => {
                write!(
                    f,
                    "cannot {action} `{}`: {error}; the previous output is unchanged",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WriteError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

fn io_err(action: impl Into<String>, path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    let action = action.into();
    move |error| WriteError::Io {
        action,
        path: path.to_path_buf(),
        error,
    }
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    iotc_version: String,
    sha256: BTreeMap<String, String>,
}

/// The checksum record of the output folder `out` (path → SHA-256), or
/// `None` if there is no folder or no record. For readers such as `iotc diff`.
pub fn recorded(out: &Path) -> Result<Option<BTreeMap<String, String>>, WriteError> {
    let mpath = out.join(MANIFEST);
    match std::fs::read(&mpath) {
        Ok(bytes) => serde_json::from_slice::<Manifest>(&bytes)
            .map(|m| Some(m.sha256))
            .map_err(|e| WriteError::BadManifest {
                out: out.to_path_buf(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.kind() == io::ErrorKind::NotADirectory => Ok(None),
        Err(e) => Err(io_err("read", &mpath)(e)),
    }
}

/// The record's bytes for these checksums: sorted, pretty JSON, trailing
/// newline.
fn manifest_text(sums: &BTreeMap<String, String>) -> String {
    /// [`Manifest`], borrowed.
    #[derive(serde::Serialize)]
    struct Record<'a> {
        iotc_version: &'a str,
        sha256: &'a BTreeMap<String, String>,
    }
    let m = Record {
        iotc_version: VERSION,
        sha256: sums,
    };
    serde_json::to_string_pretty(&m).unwrap_or_default() + "\n"
}

fn bad_path(path: &str, reason: &str) -> WriteError {
    WriteError::BadPath {
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

/// One output path: relative, `/`-separated, no empty, `.` or `..` segment,
/// not the record.
fn check_path(p: &str) -> Result<(), WriteError> {
    if p.is_empty() {
        return Err(bad_path(p, "is empty"));
    }
    if p.starts_with('/') || p.contains('\\') || p.contains('\0') {
        return Err(bad_path(p, "is not a relative path with `/` separators"));
    }
    if p.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(bad_path(p, "has an empty, `.` or `..` segment"));
    }
    if p == MANIFEST {
        return Err(bad_path(p, "is the writer's own checksum record"));
    }
    Ok(())
}

/// Every path is valid, appears once and is not also another's folder
/// (checked up front so a bad set of files touches nothing).
fn check_paths(files: &[OutputFile]) -> Result<(), WriteError> {
    let mut set = BTreeSet::new();
    for f in files {
        let p = f.path.as_str();
        check_path(p)?;
        if !set.insert(p) {
            return Err(bad_path(p, "was produced twice"));
        }
    }
    check_folders(set.iter().copied(), |dir| set.contains(dir))
}

/// No path is also the folder of another (`is_file` says whether a path is
/// one of the files).
fn check_folders<'p>(paths: impl Iterator<Item = &'p str>, is_file: impl Fn(&str) -> bool) -> Result<(), WriteError> {
    for p in paths {
        for (i, _) in p.match_indices('/') {
            let dir = p.get(..i).unwrap_or_default();
            if is_file(dir) {
                return Err(bad_path(dir, &format!("is a file but also the folder of `{p}`")));
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    /// A fifo, socket or device node.
    Other,
}

struct Entry {
    rel: PathBuf,
    key: String,
    kind: Kind,
}

/// Every entry under `root` (depth first, sorted), except the record itself.
fn walk(root: &Path, rel: &Path, key: &str, out: &mut Vec<Entry>) -> Result<(), WriteError> {
    let dir = root.join(rel);
    let mut children: Vec<_> = std::fs::read_dir(&dir)
        .map_err(io_err("read the folder", &dir))?
        .collect::<Result<_, _>>()
        .map_err(io_err("read the folder", &dir))?;
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let name = child.file_name();
        let name_str = name.to_string_lossy();
        if rel.as_os_str().is_empty() && name_str == MANIFEST {
            continue;
        }
        let child_rel = rel.join(&name);
        let child_key = if key.is_empty() {
            name_str.to_string()
        } else {
            format!("{key}/{name_str}")
        };
        let ft = child.file_type().map_err(io_err("inspect", &root.join(&child_rel)))?;
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_file() {
            Kind::File
        } else {
            Kind::Other
        };
        out.push(Entry {
            rel: child_rel.clone(),
            key: child_key.clone(),
            kind,
        });
        if kind == Kind::Dir {
            walk(root, &child_rel, &child_key, out)?;
        }
    }
    Ok(())
}

/// Where the output goes: the folder itself (symlinks resolved), its parent
/// and its name, and whether it exists.
struct Target {
    out: PathBuf,
    parent: PathBuf,
    name: OsString,
    exists: bool,
}

fn resolve(out: &Path) -> Result<Target, WriteError> {
    let not_a_folder = |p: &Path, what: &str| WriteError::Io {
        action: "write the output to".to_string(),
        path: p.to_path_buf(),
        error: io::Error::other(what.to_string()),
    };
    let (path, exists) = match std::fs::symlink_metadata(out) {
        Ok(_) => {
            let canon = out.canonicalize().map_err(io_err("resolve", out))?;
            if !canon.is_dir() {
                return Err(not_a_folder(out, "it exists and is not a folder"));
            }
            (canon, true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            (std::path::absolute(out).map_err(io_err("resolve", out))?, false)
        }
        Err(e) => return Err(io_err("inspect", out)(e)),
    };
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(not_a_folder(out, "it has no parent folder to build beside"));
    };
    Ok(Target {
        parent: parent.to_path_buf(),
        name: name.to_os_string(),
        out: path.clone(),
        exists,
    })
}

/// Deletes the temporary tree when dropped, unless disarmed.
struct TempTree(Option<PathBuf>, Arc<dyn Ops>);

impl Drop for TempTree {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = swap::remove_tree(&*self.1, &p);
        }
    }
}

fn write_new(ops: &dyn Ops, path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    // `create_new`: never write through an existing file (which could be a
    // hard link into the previous output).
    ops.write_new(path, bytes).map_err(io_err("write", path))
}

fn link_or_copy(ops: &dyn Ops, from: &Path, to: &Path) -> Result<(), WriteError> {
    if ops.hard_link(from, to).is_ok() {
        return Ok(());
    }
    ops.copy(from, to).map_err(io_err("copy", from))
}

fn carry_symlink(ops: &dyn Ops, from: &Path, to: &Path) -> Result<(), WriteError> {
    let target = std::fs::read_link(from).map_err(io_err("read the symlink", from))?;
    if cfg!(unix) {
        ops.symlink(&target, to).map_err(io_err("recreate the symlink", to))
    } else {
        link_or_copy(ops, from, to)
    }
}

fn create_parent(ops: &dyn Ops, path: &Path) -> Result<(), WriteError> {
    match path.parent() {
        Some(p) => swap::create_dir_all(ops, p).map_err(io_err("create the folder", p)),
        None => Ok(()),
    }
}

/// Write `files` into the folder `out` (see the module docs for the rules).
/// On error nothing on disk has changed and no temporary folder is left.
pub fn write(out: &Path, files: &[OutputFile], force: bool) -> Result<WriteReport, WriteError> {
    write_with(Arc::new(RealOps), out, files, force)
}

/// [`write()`] with every change on disk made through `ops`.
pub(crate) fn write_with(
    ops: Arc<dyn Ops>,
    out: &Path,
    files: &[OutputFile],
    force: bool,
) -> Result<WriteReport, WriteError> {
    check_paths(files)?;
    let mut staging = Staging::begin_with(ops, out, force)?;
    for f in files {
        staging.add(&f.path, f.contents.as_bytes())?;
    }
    staging.commit()
}

/// A write in progress, for backends that stream their files: [`begin`]
/// looks at what is in `out` and creates the temporary tree, [`add`] puts
/// one file into it (so a build never holds all its output in memory),
/// [`commit`] judges hand edits and swaps the tree in, exactly as [`write()`]
/// does. Dropping a `Staging` without committing (a backend failed half-way)
/// deletes the temporary tree; `out` is untouched until `commit` succeeds.
///
/// [`begin`]: Staging::begin
/// [`add`]: Staging::add
/// [`commit`]: Staging::commit
pub struct Staging {
    t: Target,
    force: bool,
    tmp: PathBuf,
    /// Declared before the lock, so the temporary tree is gone before the
    /// lock is released.
    guard: TempTree,
    _lock: OutLock,
    ops: Arc<dyn Ops>,
    /// What recovery did (see [`swap::recover`]), for stderr.
    notes: Vec<String>,
    /// The previous record (path → checksum) and its bytes.
    recorded: BTreeMap<String, String>,
    old_manifest_bytes: Option<Vec<u8>>,
    /// Everything in `out` now (depth first), and by key.
    entries: Vec<Entry>,
    on_disk: BTreeMap<String, usize>,
    /// This build's files: path → checksum.
    new: BTreeMap<String, String>,
    /// Generated paths whose bytes on disk were already right.
    unchanged: BTreeSet<String>,
    conflicts: Vec<Conflict>,
}

impl Staging {
    /// Look at `out` (its record, its files) and create the temporary tree
    /// beside it. Refuses a folder iotc did not write, or whose record is
    /// unreadable, unless `force`.
    pub fn begin(out: &Path, force: bool) -> Result<Staging, WriteError> {
        Staging::begin_with(Arc::new(RealOps), out, force)
    }

    /// What this build did to recover from earlier interrupted ones before
    /// it started (an output put back, leftover folders deleted): one
    /// sentence each, for stderr.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub(crate) fn begin_with(ops: Arc<dyn Ops>, out: &Path, force: bool) -> Result<Staging, WriteError> {
        let t = resolve(out)?;
        if !t.exists {
            swap::create_dir_all(&*ops, &t.parent).map_err(io_err("create the folder", &t.parent))?;
        }
        let lock = OutLock::acquire(&t.parent, &t.name).map_err(io_err("lock the output folder", &t.out))?;
        let notes = swap::recover(&*ops, &t.parent, &t.name).map_err(|(action, path, error)| WriteError::Io {
            action,
            path,
            error,
        })?;
        let t = if t.exists { t } else { resolve(out)? };
        let mut recorded: Option<BTreeMap<String, String>> = None;
        let mut entries = Vec::new();
        let mut old_manifest_bytes = None;
        if t.exists {
            let mpath = t.out.join(MANIFEST);
            match std::fs::read(&mpath) {
                Ok(bytes) => {
                    match serde_json::from_slice::<Manifest>(&bytes) {
                        Ok(m) => recorded = Some(m.sha256),
                        Err(e) if !force => {
                            return Err(WriteError::BadManifest {
                                out: t.out.clone(),
                                message: e.to_string(),
                            })
                        }
                        Err(_) => {}
                    }
                    old_manifest_bytes = Some(bytes);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) if !force => {
                    return Err(WriteError::BadManifest {
                        out: t.out.clone(),
                        message: e.to_string(),
                    })
                }
                Err(_) => {}
            }
            walk(&t.out, Path::new(""), "", &mut entries)?;
            if old_manifest_bytes.is_none() && !entries.is_empty() && !force {
                return Err(WriteError::NotIotcOutput { out: t.out.clone() });
            }
        }
        let on_disk = entries.iter().enumerate().map(|(i, e)| (e.key.clone(), i)).collect();

        let tmp = swap::beside(&t.parent, &t.name, &format!(".iotc-tmp-{}", swap::unique_suffix()));
        ops.create_dir(&tmp)
            .map_err(io_err("create the temporary folder", &tmp))?;
        Ok(Staging {
            guard: TempTree(Some(tmp.clone()), ops.clone()),
            _lock: lock,
            ops,
            notes,
            t,
            force,
            tmp,
            recorded: recorded.unwrap_or_default(),
            old_manifest_bytes,
            entries,
            on_disk,
            new: BTreeMap::new(),
            unchanged: BTreeSet::new(),
            conflicts: Vec::new(),
        })
    }

    fn disk_entry(&self, path: &str) -> Option<&Entry> {
        self.on_disk.get(path).and_then(|&i| self.entries.get(i))
    }

    fn read(&self, rel: &Path) -> Result<Vec<u8>, WriteError> {
        let p = self.t.out.join(rel);
        std::fs::read(&p).map_err(io_err("read", &p))
    }

    /// Put one generated file into the temporary tree. A file whose bytes
    /// are already right in `out` is hard-linked from there (so it keeps
    /// its mtime). Hand edits are noted here and judged by `commit`.
    pub fn add(&mut self, path: &str, contents: &[u8]) -> Result<(), WriteError> {
        check_path(path)?;
        if self.new.contains_key(path) {
            return Err(bad_path(path, "was produced twice"));
        }
        let sum = sha256_hex(contents);
        // Judge what is at this path now.
        let mut same_on_disk = false;
        let entry = self.disk_entry(path).filter(|e| e.kind != Kind::Dir);
        match (entry, self.recorded.get(path)) {
            (Some(e), recorded) if e.kind == Kind::File => {
                let bytes = self.read(&e.rel)?;
                if bytes == contents {
                    same_on_disk = true;
                } else if recorded.is_some_and(|r| sha256_hex(&bytes) != *r) {
                    self.conflicts.push(Conflict {
                        path: path.to_string(),
                        kind: ConflictKind::Changed,
                    });
                }
                // Unrecorded and different: judged in `commit` as a file
                // in the way.
            }
            // Recorded, now a symlink or a special file.
            (Some(_), Some(_)) => self.conflicts.push(Conflict {
                path: path.to_string(),
                kind: ConflictKind::Changed,
            }),
            (Some(_), None) => {}
            (None, Some(_)) => self.conflicts.push(Conflict {
                path: path.to_string(),
                kind: ConflictKind::Deleted,
            }),
            (None, None) => {}
        }
        let dest = self.tmp.join(path);
        let ops = &*self.ops;
        create_parent(ops, &dest)?;
        if same_on_disk {
            link_or_copy(ops, &self.t.out.join(path), &dest)?;
            self.unchanged.insert(path.to_string());
        } else {
            write_new(ops, &dest, contents)?;
        }
        self.new.insert(path.to_string(), sum);
        Ok(())
    }

    /// Judge hand edits, then (unless refused) carry over what iotc did not
    /// write, write the record and swap the new tree in.
    pub fn commit(mut self) -> Result<WriteReport, WriteError> {
        let new = std::mem::take(&mut self.new);
        check_folders(new.keys().map(String::as_str), |dir| new.contains_key(dir))?;
        let manifest_text = manifest_text(&new);
        let mut report = WriteReport::default();

        // Recorded files this build does not produce: removed, unless
        // changed by hand. (Produced ones were judged by `add`.)
        let mut recorded_present = BTreeSet::new();
        for (path, sum) in &self.recorded {
            let Some(e) = self.disk_entry(path).filter(|e| e.kind != Kind::Dir) else {
                continue;
            };
            recorded_present.insert(path.as_str());
            if new.contains_key(path) {
                continue;
            }
            let same_as_recorded = e.kind == Kind::File && sha256_hex(&self.read(&e.rel)?) == *sum;
            if !same_as_recorded {
                self.conflicts.push(Conflict {
                    path: path.clone(),
                    kind: ConflictKind::Changed,
                });
            }
        }
        // Everything else on disk is not iotc's. It is in the way (and would
        // be lost) if this build writes a file at its path or at a folder
        // above it, or, for a non-folder, needs its path as a folder.
        let under_generated = |key: &str| {
            let prefix = format!("{key}/");
            new.range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
                .next()
                .is_some_and(|(p, _)| p.starts_with(&prefix))
        };
        let in_the_way = |e: &Entry| {
            new.contains_key(e.key.as_str())
                || e.key
                    .match_indices('/')
                    .any(|(i, _)| new.contains_key(e.key.get(..i).unwrap_or_default()))
                || (e.kind != Kind::Dir && under_generated(&e.key))
        };
        let mut carried: Vec<&Entry> = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            if e.kind != Kind::Dir && self.recorded.contains_key(&e.key) {
                continue;
            }
            if !in_the_way(e) {
                carried.push(e);
                // Name files and empty folders (entries are depth first, so
                // a folder's first child comes right after it).
                let has_child = self
                    .entries
                    .get(i + 1)
                    .is_some_and(|n| n.key.starts_with(&e.key) && n.key.as_bytes().get(e.key.len()) == Some(&b'/'));
                if e.kind != Kind::Dir || !has_child {
                    report.kept.push(e.key.clone());
                }
                continue;
            }
            if e.kind == Kind::Dir {
                // Its contents are judged one by one.
                continue;
            }
            if !self.unchanged.contains(&e.key) {
                self.conflicts.push(Conflict {
                    path: e.key.clone(),
                    kind: ConflictKind::NotWrittenByIotc,
                });
            }
        }
        self.conflicts.sort();
        if !self.conflicts.is_empty() {
            if !self.force {
                return Err(WriteError::HandEdited {
                    out: self.t.out.clone(),
                    files: std::mem::take(&mut self.conflicts),
                });
            }
            report.overwritten = std::mem::take(&mut self.conflicts);
        }
        report.removed = recorded_present
            .iter()
            .filter(|p| !new.contains_key(**p))
            .map(|p| p.to_string())
            .collect();
        for p in new.keys() {
            if self.unchanged.contains(p) {
                report.unchanged.push(p.clone());
            } else {
                report.written.push(p.clone());
            }
        }
        let t = &self.t;
        if t.exists
            && report.written.is_empty()
            && report.removed.is_empty()
            && report.overwritten.is_empty()
            && self.old_manifest_bytes.as_deref() == Some(manifest_text.as_bytes())
        {
            // The temporary tree (all links) is deleted by the guard.
            report.noop = true;
            return Ok(report);
        }

        let tmp = &self.tmp;
        let ops = &*self.ops;
        write_new(ops, &tmp.join(MANIFEST), manifest_text.as_bytes())?;
        let mut dir_modes = Vec::new();
        for e in &carried {
            let from = t.out.join(&e.rel);
            let to = tmp.join(&e.rel);
            create_parent(ops, &to)?;
            match e.kind {
                Kind::Dir => {
                    swap::create_dir_all(ops, &to).map_err(io_err("create the folder", &to))?;
                    let meta = std::fs::metadata(&from).map_err(io_err("inspect", &from))?;
                    dir_modes.push((to, meta.permissions()));
                }
                Kind::Symlink => carry_symlink(ops, &from, &to)?,
                Kind::File => link_or_copy(ops, &from, &to)?,
                Kind::Other => ops.hard_link(&from, &to).map_err(io_err("keep", &from))?,
            }
        }
        // Folder modes last (deepest first), so a read-only folder is filled first.
        for (dir, perms) in dir_modes.into_iter().rev() {
            ops.set_permissions(&dir, perms)
                .map_err(io_err("set the mode of", &dir))?;
        }
        if t.exists {
            let perms = std::fs::metadata(&t.out)
                .map_err(io_err("inspect", &t.out))?
                .permissions();
            ops.set_permissions(tmp, perms)
                .map_err(io_err("set the mode of", tmp))?;
        }

        match swap::swap_in(ops, &t.parent, &t.name, tmp, t.exists) {
            Ok(warnings) => {
                // `tmp` is in place, or names the previous tree, already deleted.
                self.guard.0 = None;
                report.warnings = warnings;
                Ok(report)
            }
            Err(swap::SwapError::Unchanged(action, path, error)) => Err(WriteError::Io { action, path, error }),
            Err(swap::SwapError::Stranded { error, previous }) => {
                self.guard.0 = None;
                Err(WriteError::Io {
                    action: "put the new output in place at".to_string(),
                    path: t.out.clone(),
                    error: io::Error::other(format!(
                        "{error}; moving the previous output back also failed: it is in `{}`, \
                         and the next build puts it back",
                        previous.display()
                    )),
                })
            }
        }
    }
}

/// The one-line summary `iotc build` prints: `wrote N files to out/ (M
/// unchanged)`, plus removed and kept counts when there are any. `N` counts
/// the files whose bytes changed.
pub fn summary(out: &str, r: &WriteReport) -> String {
    let n = r.written.len();
    let dir = if out.ends_with('/') {
        out.to_string()
    } else {
        format!("{out}/")
    };
    let mut s = format!(
        "wrote {n} file{} to {dir} ({} unchanged",
        if n == 1 { "" } else { "s" },
        r.unchanged.len()
    );
    if !r.removed.is_empty() {
        s.push_str(&format!(", {} removed", r.removed.len()));
    }
    if !r.kept.is_empty() {
        s.push_str(&format!(", {} not written by iotc kept", r.kept.len()));
    }
    s.push(')');
    s
}
