//! The writer's last step: putting a finished tree in place of the output
//! folder so that no crash, kill or power loss can leave the folder missing,
//! and recovering from builds that were interrupted.
//!
//! Every change on disk goes through [`Ops`], so a test can stop the writer
//! after any one of them and look at what a crash there would leave (see
//! `writer/tests.rs`).
//!
//! The files beside an output folder `out` (all named after it):
//!
//! | name | what |
//! |---|---|
//! | `out.iotc-lock` | held (`flock`) by the one build writing `out`; deleted when it ends |
//! | `out.iotc-tmp-<pid>-<nonce>` | the tree being built; after an exchange, the previous tree on its way out |
//! | `out.iotc-old-<pid>-<nonce>` | the previous tree, only while a journaled swap is under way |
//! | `out.iotc-journal` | present only during a journaled swap: which sibling holds the previous tree |
//!
//! The swap ([`swap_in`]), after the new tree is complete:
//!
//! 1. Flush the file system (`syncfs`), so the new tree's bytes are on disk
//!    before any name points at them.
//! 2. Exchange `out` and the new tree in one step (`renameat2` with
//!    `RENAME_EXCHANGE` on Linux). `out` is the previous tree up to that
//!    instant and the complete new one from it. Then flush the parent folder
//!    and delete the previous tree, now under the temporary name.
//! 3. Where the file system or the OS has no exchange, a journal instead:
//!    write `out.iotc-journal` (durably, by rename) naming the previous and
//!    the new tree's siblings, rename `out` to `out.iotc-old-…`, rename the
//!    new tree to `out`, flush, delete the journal, delete the old tree.
//!
//! Recovery ([`recover`]) runs at the start of every build, holding the
//! lock, before the output folder is read:
//!
//! 1. A journal with `out` present: the swap had either not started or had
//!    finished; the journal is deleted. With `out` missing: the swap stopped
//!    between its two renames; the previous tree is renamed back (roll back:
//!    its bytes were durable long before, the new tree's may not be after a
//!    power loss), or, if it is gone, the new tree is renamed in.
//! 2. No journal, `out` missing, and exactly one `out.iotc-old-*` folder: left
//!    by an iotc from before the journal, killed between its two renames; it
//!    is the previous output and is renamed back. Several: the build stops
//!    and names them (which one is right is the operator's call).
//! 3. Every other `out.iotc-tmp-*` and `out.iotc-old-*` is left over from a
//!    killed build (a live build would hold the lock) and is deleted, with a
//!    note.

use std::ffi::{OsStr, OsString};
use std::fs::Permissions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The changes on disk the writer makes, one call per step, so a test can
/// simulate a crash after any of them. Reads go to `std::fs` directly.
pub(crate) trait Ops: Send + Sync {
    fn create_dir(&self, p: &Path) -> io::Result<()>;
    /// Create `p` (never write through an existing file) with these bytes.
    fn write_new(&self, p: &Path, bytes: &[u8]) -> io::Result<()>;
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn copy(&self, from: &Path, to: &Path) -> io::Result<()>;
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()>;
    fn set_permissions(&self, p: &Path, perms: Permissions) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Swap the two names in one step. `Ok(false)`: this OS or file system
    /// cannot (nothing changed).
    fn exchange(&self, a: &Path, b: &Path) -> io::Result<bool>;
    fn remove_file(&self, p: &Path) -> io::Result<()>;
    fn remove_dir(&self, p: &Path) -> io::Result<()>;
    /// Make every write so far to the file system holding `p` durable.
    fn sync_fs(&self, p: &Path) -> io::Result<()>;
    /// Make the names in folder `p` (renames, new entries) durable.
    fn sync_dir(&self, p: &Path) -> io::Result<()>;
}

/// The real file system.
pub(crate) struct RealOps;

impl Ops for RealOps {
    fn create_dir(&self, p: &Path) -> io::Result<()> {
        std::fs::create_dir(p)
    }
    fn write_new(&self, p: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        // A file that starts with `#!` is a program (Ansible runs an
        // inventory script, `ansible/terraform_<cluster>.py`): executable,
        // within the umask.
        #[cfg(unix)]
        if bytes.starts_with(b"#!") {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o777);
        }
        let mut f = options.open(p)?;
        f.write_all(bytes)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::hard_link(from, to)
    }
    fn copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::copy(from, to).map(|_| ())
    }
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(target, link)
        }
        #[cfg(not(unix))]
        {
            let _ = (target, link);
            Err(io::Error::other("symlinks are not supported here"))
        }
    }
    fn set_permissions(&self, p: &Path, perms: Permissions) -> io::Result<()> {
        std::fs::set_permissions(p, perms)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn exchange(&self, a: &Path, b: &Path) -> io::Result<bool> {
        exchange(a, b)
    }
    fn remove_file(&self, p: &Path) -> io::Result<()> {
        std::fs::remove_file(p)
    }
    fn remove_dir(&self, p: &Path) -> io::Result<()> {
        std::fs::remove_dir(p)
    }
    fn sync_fs(&self, p: &Path) -> io::Result<()> {
        sync_fs(p)
    }
    fn sync_dir(&self, p: &Path) -> io::Result<()> {
        #[cfg(unix)]
        {
            std::fs::File::open(p)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            let _ = p;
            Ok(())
        }
    }
}

#[cfg(target_os = "linux")]
fn c_path(p: &Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::other("path contains a NUL byte"))
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    let (ca, cb) = (c_path(a)?, c_path(b)?);
    // SAFETY: both are NUL-terminated paths that live across the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // No renameat2 (old kernel, seccomp), no exchange on this file
        // system (EINVAL), or a layer that cannot (overlayfs: EXDEV).
        Some(libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP | libc::EXDEV | libc::EPERM) => Ok(false),
        _ => Err(e),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> io::Result<bool> {
    Ok(false)
}

#[cfg(target_os = "linux")]
fn sync_fs(p: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(p)?;
    // SAFETY: the descriptor is open for the duration of the call.
    if unsafe { libc::syncfs(f.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
fn sync_fs(_p: &Path) -> io::Result<()> {
    // SAFETY: `sync` takes no arguments and cannot fail.
    unsafe { libc::sync() };
    Ok(())
}

#[cfg(not(unix))]
fn sync_fs(_p: &Path) -> io::Result<()> {
    Ok(())
}

/// A name no other build (or an earlier process with the same pid) uses:
/// the pid, the time, and a counter.
pub(crate) fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{nanos:x}{n:x}", std::process::id())
}

/// `<parent>/<name><suffix>`.
pub(crate) fn beside(parent: &Path, name: &OsStr, suffix: &str) -> PathBuf {
    let mut n = name.to_os_string();
    n.push(suffix);
    parent.join(n)
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// Create `p` and any missing folders above it.
pub(crate) fn create_dir_all(ops: &dyn Ops, p: &Path) -> io::Result<()> {
    if p.is_dir() {
        return Ok(());
    }
    if let Some(parent) = p.parent() {
        if !parent.as_os_str().is_empty() {
            create_dir_all(ops, parent)?;
        }
    }
    match ops.create_dir(p) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => Ok(()),
        r => r,
    }
}

/// Delete `p` (a file, a symlink, or a folder with everything in it; a
/// read-only folder is made writable first). One step per entry.
pub(crate) fn remove_tree(ops: &dyn Ops, p: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(p)?;
    if !meta.is_dir() {
        return ops.remove_file(p);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o300 != 0o300 {
            ops.set_permissions(p, Permissions::from_mode(mode | 0o700))?;
        }
    }
    let mut children: Vec<PathBuf> = std::fs::read_dir(p)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    children.sort();
    for child in children {
        remove_tree(ops, &child)?;
    }
    ops.remove_dir(p)
}

/// Write `bytes` to `path` so that a reader (or a crash) sees either the old
/// file or the whole new one: write a temporary file beside it, flush it,
/// rename it over `path`, flush the folder. For any file iotc writes in
/// place (a values file, a journal).
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_durably(&RealOps, path, bytes)
}

pub(crate) fn write_durably(ops: &dyn Ops, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::other("not a file path"));
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let tmp = beside(parent, name, &format!(".iotc-tmp-{}", unique_suffix()));
    let result = ops
        .write_new(&tmp, bytes)
        .and_then(|()| ops.sync_fs(&tmp))
        .and_then(|()| ops.rename(&tmp, path))
        .and_then(|()| ops.sync_dir(parent));
    if result.is_err() && exists(&tmp) {
        let _ = ops.remove_file(&tmp);
    }
    result
}

/// Holds `out.iotc-lock` locked (`flock`) while one build writes `out`; the
/// kernel drops the lock if the process dies, so a stale lock file never
/// blocks. Dropping it deletes the file.
pub(crate) struct OutLock {
    path: PathBuf,
    #[allow(dead_code)]
    file: std::fs::File,
}

impl OutLock {
    /// Lock `out` (named `name` in `parent`). Another live build writing it
    /// is an error, not a wait.
    pub(crate) fn acquire(parent: &Path, name: &OsStr) -> io::Result<OutLock> {
        let path = beside(parent, name, ".iotc-lock");
        // A build that ends deletes the lock file while another may have it
        // open; the loop makes sure the file locked is the one at `path`.
        for _ in 0..100 {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            if !try_lock(&file)? {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "another iotc build is writing this folder (it holds `{}`); wait for it to finish",
                        path.display()
                    ),
                ));
            }
            if same_file(&file, &path) {
                return Ok(OutLock { path, file });
            }
        }
        Err(io::Error::other(format!("cannot lock `{}`", path.display())))
    }
}

impl Drop for OutLock {
    fn drop(&mut self) {
        // Deleted while still locked: a build that opened this file before
        // sees it is gone and retries with a new one.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(unix)]
fn try_lock(file: &std::fs::File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the duration of the call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        // A file system without locks: go on unlocked (as before locks).
        Some(libc::ENOLCK | libc::EOPNOTSUPP | libc::ENOSYS) => Ok(true),
        _ => Err(e),
    }
}

#[cfg(not(unix))]
fn try_lock(_file: &std::fs::File) -> io::Result<bool> {
    Ok(true)
}

#[cfg(unix)]
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &std::fs::File, path: &Path) -> bool {
    path.exists()
}

/// What the journal of a swap under way says: which siblings (names in the
/// same folder) hold the previous and the new tree.
#[derive(serde::Serialize, serde::Deserialize)]
struct Journal {
    previous: String,
    next: String,
}

fn journal_path(parent: &Path, name: &OsStr) -> PathBuf {
    beside(parent, name, ".iotc-journal")
}

/// Whether `file` is a sibling of `out` that the writer makes: `name` +
/// `.iotc-tmp-` or `.iotc-old-` + anything.
fn stale_kind(name: &OsStr, file: &OsStr) -> Option<&'static str> {
    let rest = file.as_encoded_bytes().strip_prefix(name.as_encoded_bytes())?;
    if rest.starts_with(b".iotc-tmp-") || rest.starts_with(b".iotc-journal.iotc-tmp-") {
        Some("tmp")
    } else if rest.starts_with(b".iotc-old-") {
        Some("old")
    } else {
        None
    }
}

fn siblings(parent: &Path, name: &OsStr) -> io::Result<Vec<(OsString, &'static str)>> {
    let mut found = Vec::new();
    for e in std::fs::read_dir(parent)? {
        let file = e?.file_name();
        if let Some(kind) = stale_kind(name, &file) {
            found.push((file, kind));
        }
    }
    found.sort();
    Ok(found)
}

/// Finish or undo whatever an interrupted build left beside `out` (named
/// `name` in `parent`), then delete its leftovers. Needs the lock. Returns
/// one note per thing done, for stderr.
pub(crate) fn recover(ops: &dyn Ops, parent: &Path, name: &OsStr) -> Result<Vec<String>, (String, PathBuf, io::Error)> {
    let out = parent.join(name);
    let mut notes = Vec::new();
    let journal = journal_path(parent, name);
    if exists(&journal) {
        let valid = std::fs::read(&journal)
            .ok()
            .and_then(|b| serde_json::from_slice::<Journal>(&b).ok())
            .filter(|j| {
                [&j.previous, &j.next]
                    .iter()
                    .all(|s| stale_kind(name, OsStr::new(s.as_str())).is_some() && !s.contains(['/', '\\']))
            });
        match valid {
            Some(j) if !exists(&out) => {
                let (previous, next) = (parent.join(&j.previous), parent.join(&j.next));
                if previous.is_dir() {
                    ops.rename(&previous, &out)
                        .map_err(|e| ("restore the previous output from".to_string(), previous.clone(), e))?;
                    notes.push(format!(
                        "restored the previous output `{}` from `{}`: a build was interrupted while swapping it",
                        out.display(),
                        previous.display()
                    ));
                } else if next.is_dir() {
                    ops.rename(&next, &out).map_err(|e| {
                        (
                            "finish putting the new output in place from".to_string(),
                            next.clone(),
                            e,
                        )
                    })?;
                    notes.push(format!(
                        "finished an interrupted swap: `{}` is the output of the build that was interrupted",
                        out.display()
                    ));
                }
                ops.sync_dir(parent)
                    .map_err(|e| ("flush the folder".to_string(), parent.to_path_buf(), e))?;
            }
            Some(_) => {}
            None => notes.push(format!("ignored the unreadable journal `{}`", journal.display())),
        }
        ops.remove_file(&journal)
            .map_err(|e| ("remove the journal".to_string(), journal.clone(), e))?;
    } else if !exists(&out) {
        let olds: Vec<PathBuf> = siblings(parent, name)
            .map_err(|e| ("read the folder".to_string(), parent.to_path_buf(), e))?
            .into_iter()
            .filter(|(_, kind)| *kind == "old")
            .map(|(file, _)| parent.join(file))
            .filter(|p| p.is_dir())
            .collect();
        match olds.as_slice() {
            [] => {}
            [old] => {
                ops.rename(old, &out)
                    .map_err(|e| ("restore the previous output from".to_string(), old.clone(), e))?;
                ops.sync_dir(parent)
                    .map_err(|e| ("flush the folder".to_string(), parent.to_path_buf(), e))?;
                notes.push(format!(
                    "restored the previous output `{}` from `{}`: an earlier build was interrupted while swapping it",
                    out.display(),
                    old.display()
                ));
            }
            many => {
                let list: Vec<String> = many.iter().map(|p| format!("`{}`", p.display())).collect();
                return Err((
                    "write the output to".to_string(),
                    out,
                    io::Error::other(format!(
                        "it is missing, and earlier interrupted builds left {} previous outputs beside it ({}); \
                         rename the one to keep to `{}` and delete the others",
                        many.len(),
                        list.join(", "),
                        name.to_string_lossy()
                    )),
                ));
            }
        }
    }
    let stale = siblings(parent, name).map_err(|e| ("read the folder".to_string(), parent.to_path_buf(), e))?;
    for (file, _) in stale {
        let p = parent.join(&file);
        match remove_tree(ops, &p) {
            Ok(()) => notes.push(format!(
                "removed `{}`, left over from an earlier iotc build that was interrupted",
                p.display()
            )),
            Err(e) => notes.push(format!(
                "could not remove `{}`, left over from an earlier interrupted build: {e}",
                p.display()
            )),
        }
    }
    Ok(notes)
}

/// How a swap failed: nothing changed (`Unchanged`), or the previous output
/// could not be put back and sits at the given path.
pub(crate) enum SwapError {
    Unchanged(String, PathBuf, io::Error),
    Stranded { error: io::Error, previous: PathBuf },
}

/// Put the complete tree `tmp` in place of the existing folder `out` (both in
/// `parent`, `out` named `name`). On success returns warnings (the previous
/// tree could not be deleted); the caller no longer owns `tmp`.
pub(crate) fn swap_in(
    ops: &dyn Ops,
    parent: &Path,
    name: &OsStr,
    tmp: &Path,
    out_exists: bool,
) -> Result<Vec<String>, SwapError> {
    let out = parent.join(name);
    let unchanged = |action: &str, p: &Path| {
        let (action, p) = (action.to_string(), p.to_path_buf());
        move |e| SwapError::Unchanged(action, p, e)
    };
    ops.sync_fs(tmp).map_err(unchanged("flush the new output in", tmp))?;
    let mut warnings = Vec::new();
    if !out_exists {
        ops.rename(tmp, &out)
            .map_err(unchanged("put the new output in place at", &out))?;
        let _ = ops.sync_dir(parent);
        return Ok(warnings);
    }
    let previous = if ops
        .exchange(tmp, &out)
        .map_err(unchanged("put the new output in place at", &out))?
    {
        // `tmp` now names the previous tree.
        let _ = ops.sync_dir(parent);
        tmp.to_path_buf()
    } else {
        let old = beside(parent, name, &format!(".iotc-old-{}", unique_suffix()));
        let journal = journal_path(parent, name);
        let file_name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let record = Journal {
            previous: file_name(&old),
            next: file_name(tmp),
        };
        let bytes = serde_json::to_vec(&record).unwrap_or_default();
        write_durably(ops, &journal, &bytes).map_err(unchanged("write the journal", &journal))?;
        if let Err(e) = ops.rename(&out, &old) {
            let _ = ops.remove_file(&journal);
            return Err(SwapError::Unchanged(
                "move the previous output aside from".to_string(),
                out.clone(),
                e,
            ));
        }
        if let Err(error) = ops.rename(tmp, &out) {
            if ops.rename(&old, &out).is_ok() {
                let _ = ops.remove_file(&journal);
                return Err(SwapError::Unchanged(
                    "put the new output in place at".to_string(),
                    out.clone(),
                    error,
                ));
            }
            // The journal stays: the next build puts `old` back.
            return Err(SwapError::Stranded { error, previous: old });
        }
        let _ = ops.sync_dir(parent);
        if let Err(e) = ops.remove_file(&journal) {
            warnings.push(format!("could not delete the journal `{}`: {e}", journal.display()));
        }
        old
    };
    if let Err(e) = remove_tree(ops, &previous) {
        warnings.push(format!(
            "could not delete the previous output `{}` (the next build removes it): {e}",
            previous.display()
        ));
    }
    Ok(warnings)
}
