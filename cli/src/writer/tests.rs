//! Crash safety of the writer: a simulated crash after every single change on
//! disk, with and without an atomic exchange, then the next build's recovery
//! (itself crashed at every step), then a clean build. Afterwards `out` is
//! always the complete previous output or the complete new one (or, during a
//! journaled swap, missing with the journal naming a complete previous tree),
//! and the files the operator kept there survive.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use super::swap::{self, Ops};
use super::{write_with, OutputFile, Staging, WriteError, MANIFEST};
use std::collections::BTreeMap;
use std::fs::Permissions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The real file system until `budget` changes have been made; then the
/// process "dies": the change in flight does not happen (a write leaves
/// half its bytes) and no later one does either, so the writer's own
/// clean-up and roll-back cannot run, exactly as after a kill. Flushes are
/// counted but do nothing.
struct Crashing {
    budget: AtomicUsize,
    dead: AtomicBool,
    /// Whether `exchange` works (else the journaled swap runs).
    exchange: bool,
    log: Mutex<Vec<String>>,
}

impl Crashing {
    fn after(budget: usize, exchange: bool) -> Arc<Crashing> {
        Arc::new(Crashing {
            budget: AtomicUsize::new(budget),
            dead: AtomicBool::new(false),
            exchange,
            log: Mutex::new(Vec::new()),
        })
    }
    fn never(exchange: bool) -> Arc<Crashing> {
        Crashing::after(usize::MAX, exchange)
    }
    fn crashed(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }
    /// Whether this change may happen; the one that exhausts the budget
    /// kills the process.
    fn step(&self, what: &str, p: &Path) -> io::Result<()> {
        if self.crashed() {
            return Err(io::Error::other("the process is dead"));
        }
        if self.budget.load(Ordering::SeqCst) == 0 {
            self.dead.store(true, Ordering::SeqCst);
            return Err(io::Error::other("crashed"));
        }
        self.budget.fetch_sub(1, Ordering::SeqCst);
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.log.lock().unwrap().push(format!("{what} {name}"));
        Ok(())
    }
}

impl Ops for Crashing {
    fn create_dir(&self, p: &Path) -> io::Result<()> {
        self.step("create_dir", p)?;
        std::fs::create_dir(p)
    }
    fn write_new(&self, p: &Path, bytes: &[u8]) -> io::Result<()> {
        if !self.crashed() && self.budget.load(Ordering::SeqCst) == 0 {
            // Killed half-way through the write.
            let half = bytes.get(..bytes.len() / 2).unwrap_or_default();
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(p)
                .and_then(|mut f| io::Write::write_all(&mut f, half));
        }
        self.step("write", p)?;
        super::swap::RealOps.write_new(p, bytes)
    }
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.step("link", to)?;
        std::fs::hard_link(from, to)
    }
    fn copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.step("copy", to)?;
        std::fs::copy(from, to).map(|_| ())
    }
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        self.step("symlink", link)?;
        std::os::unix::fs::symlink(target, link)
    }
    fn set_permissions(&self, p: &Path, perms: Permissions) -> io::Result<()> {
        self.step("chmod", p)?;
        std::fs::set_permissions(p, perms)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.step("rename", from)?;
        std::fs::rename(from, to)
    }
    fn exchange(&self, a: &Path, b: &Path) -> io::Result<bool> {
        if !self.exchange {
            return Ok(false);
        }
        self.step("exchange", a)?;
        // The real thing: this test runs where it exists.
        assert!(
            swap::RealOps.exchange(a, b)?,
            "no RENAME_EXCHANGE on the test file system"
        );
        Ok(true)
    }
    fn remove_file(&self, p: &Path) -> io::Result<()> {
        self.step("unlink", p)?;
        std::fs::remove_file(p)
    }
    fn remove_dir(&self, p: &Path) -> io::Result<()> {
        self.step("rmdir", p)?;
        std::fs::remove_dir(p)
    }
    fn sync_fs(&self, p: &Path) -> io::Result<()> {
        self.step("syncfs", p)
    }
    fn sync_dir(&self, p: &Path) -> io::Result<()> {
        self.step("fsync", p)
    }
}

/// A scratch folder under the system temp dir; the output is `<dir>/out`.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        // Thousands of small trees: in memory where there is a tmpfs (it
        // has RENAME_EXCHANGE too).
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let p = base.join(format!("iotc-writer-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    fn out(&self) -> PathBuf {
        self.0.join("out")
    }
    /// Everything beside `out` that the writer made (siblings, journal, lock).
    fn leftovers(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "out")
            .collect();
        v.sort();
        v
    }
    fn reset(&self) {
        let _ = std::fs::remove_dir_all(&self.0);
        std::fs::create_dir_all(&self.0).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn file(path: &str, contents: &str) -> OutputFile {
    OutputFile {
        path: path.to_string(),
        contents: contents.to_string(),
    }
}

fn v1() -> Vec<OutputFile> {
    vec![
        file("k8s/plant/deployment.yaml", "kind: Deployment\nreplicas: 1\n"),
        file("k8s/plant/service.yaml", "kind: Service\n"),
        file("compose/site/compose.yaml", "services: {}\n"),
        file("terraform/main.tf.json", "{}\n"),
    ]
}

fn v2() -> Vec<OutputFile> {
    vec![
        file("k8s/plant/deployment.yaml", "kind: Deployment\nreplicas: 3\n"),
        file("k8s/plant/service.yaml", "kind: Service\n"),
        file("ansible/site.yml", "- hosts: all\n"),
        file("terraform/main.tf.json", "{\"x\": 1}\n"),
    ]
}

/// Every entry under `dir`: files with their bytes, symlinks with their
/// target, folders as `/`. `None` if `dir` does not exist.
fn tree(dir: &Path) -> Option<BTreeMap<String, String>> {
    fn go(root: &Path, rel: &str, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(rel)).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let key = format!("{rel}{}", e.file_name().to_string_lossy());
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                out.insert(key, format!("-> {}", std::fs::read_link(e.path()).unwrap().display()));
            } else if ft.is_dir() {
                out.insert(format!("{key}/"), String::new());
                go(root, &format!("{key}/"), out);
            } else {
                out.insert(
                    key,
                    String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned(),
                );
            }
        }
    }
    if !dir.exists() {
        return None;
    }
    let mut out = BTreeMap::new();
    go(dir, "", &mut out);
    Some(out)
}

/// The previous output: v1 plus files the operator keeps there.
fn set_up_previous(s: &Scratch) {
    s.reset();
    write_with(Crashing::never(true), &s.out(), &v1(), false).unwrap();
    let out = s.out();
    std::fs::write(out.join("terraform.tfstate"), "{\"serial\": 7}\n").unwrap();
    std::fs::create_dir_all(out.join(".terraform/providers")).unwrap();
    std::fs::write(out.join(".terraform/providers/lock"), "pinned\n").unwrap();
    std::fs::create_dir(out.join("empty")).unwrap();
    std::os::unix::fs::symlink("terraform.tfstate", out.join("state-link")).unwrap();
    std::fs::write(out.join("k8s/plant/NOTES.md"), "kept beside generated files\n").unwrap();
}

const KEPT: [&str; 5] = [
    "terraform.tfstate",
    ".terraform/providers/lock",
    "empty/",
    "state-link",
    "k8s/plant/NOTES.md",
];

/// The outcome a crash left: `out` is one of the complete trees, or (only
/// during a journaled swap) missing with the journal naming a sibling that is.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum After {
    Previous,
    New,
    MissingWithJournal,
    /// No previous output existed and the new one is not in place yet.
    Absent,
}

fn judge(s: &Scratch, previous: Option<&BTreeMap<String, String>>, new: &BTreeMap<String, String>) -> After {
    match tree(&s.out()) {
        Some(t) if Some(&t) == previous => After::Previous,
        Some(t) if &t == new => After::New,
        Some(t) => panic!("`out` is neither the previous nor the new output: {t:#?}"),
        None => {
            let journal = s.0.join("out.iotc-journal");
            let Some(previous) = previous else {
                return After::Absent;
            };
            let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&journal).unwrap_or_else(|_| {
                panic!(
                    "`out` is missing and there is no journal; beside it: {:?}",
                    s.leftovers()
                )
            }))
            .unwrap();
            let named = s.0.join(j["previous"].as_str().unwrap());
            assert_eq!(
                tree(&named).as_ref(),
                Some(previous),
                "the journal's previous tree is not complete"
            );
            After::MissingWithJournal
        }
    }
}

/// A clean build after whatever is on disk: it must recover, write v2 and
/// leave nothing beside `out`.
fn finish(s: &Scratch, new: &BTreeMap<String, String>) -> Vec<String> {
    let before = s.leftovers();
    let ops = Crashing::never(true);
    let mut staging = Staging::begin_with(ops, &s.out(), false).unwrap();
    let notes = staging.notes().to_vec();
    for f in v2() {
        staging.add(&f.path, f.contents.as_bytes()).unwrap();
    }
    staging.commit().unwrap();
    assert_eq!(tree(&s.out()).as_ref(), Some(new), "after recovery and a clean build");
    assert_eq!(s.leftovers(), Vec::<String>::new(), "nothing is left beside `out`");
    let swap_files: Vec<&String> = before.iter().filter(|n| !n.ends_with(".iotc-lock")).collect();
    if !swap_files.is_empty() {
        assert!(!notes.is_empty(), "recovery from {swap_files:?} said nothing on stderr");
    }
    notes
}

/// Crash the build of v2 over `set_up` after every change it makes; then
/// crash the next build after every change it makes; then build cleanly.
fn crash_everywhere(name: &str, exchange: bool, with_previous: bool) -> BTreeMap<After, usize> {
    let s = Scratch::new(name);
    let set_up = |s: &Scratch| {
        if with_previous {
            set_up_previous(s)
        } else {
            s.reset()
        }
    };
    set_up(&s);
    let previous = tree(&s.out());
    let full = Crashing::never(exchange);
    write_with(full.clone(), &s.out(), &v2(), false).unwrap();
    let steps = full.log.lock().unwrap().len();
    eprintln!("{name}: {steps} steps");
    let new = tree(&s.out()).unwrap();
    for kept in KEPT {
        assert_eq!(new.contains_key(kept), with_previous, "{kept} in the new output");
    }
    let enough = if with_previous { 40 } else { 10 };
    assert!(steps >= enough, "only {steps} steps: {:?}", full.log.lock().unwrap());

    let mut outcomes = BTreeMap::new();
    for k in 0..steps {
        set_up(&s);
        let ops = Crashing::after(k, exchange);
        let r = write_with(ops.clone(), &s.out(), &v2(), false);
        assert!(ops.crashed(), "step {k} of {steps} was not reached");
        let first = judge(&s, previous.as_ref(), &new);
        if r.is_ok() {
            // Killed while deleting the previous tree: the build had
            // already succeeded.
            assert_eq!(first, After::New, "a crashed build reported success");
        }
        *outcomes.entry(first).or_insert(0) += 1;
        // The next build's recovery (up to creating its own temporary
        // tree), itself killed at every step.
        let recovery = Crashing::never(exchange);
        let staging = Staging::begin_with(recovery.clone(), &s.out(), false).unwrap();
        let recovery_steps = recovery.log.lock().unwrap().len();
        drop(staging);
        for j in 0..recovery_steps {
            // Reproduce the state of the first crash, then crash again at j.
            set_up(&s);
            let _ = write_with(Crashing::after(k, exchange), &s.out(), &v2(), false);
            let ops = Crashing::after(j, exchange);
            assert!(Staging::begin_with(ops.clone(), &s.out(), false).is_err());
            assert!(ops.crashed());
            let second = judge(&s, previous.as_ref(), &new);
            if first == After::New {
                assert_eq!(
                    second,
                    After::New,
                    "recovery lost the new output (crash at {k}, then {j})"
                );
            }
            finish(&s, &new);
        }
        // And the next build, not killed.
        set_up(&s);
        let _ = write_with(Crashing::after(k, exchange), &s.out(), &v2(), false);
        finish(&s, &new);
    }
    outcomes
}

#[test]
fn a_crash_at_any_step_of_an_exchange_swap_leaves_a_complete_output_and_kept_files() {
    let outcomes = crash_everywhere("exchange", true, true);
    // Never missing: the exchange is one step.
    assert_eq!(
        outcomes.keys().copied().collect::<Vec<_>>(),
        [After::Previous, After::New],
        "{outcomes:?}"
    );
}

#[test]
fn a_crash_at_any_step_of_a_journaled_swap_leaves_a_complete_output_and_kept_files() {
    let outcomes = crash_everywhere("journal", false, true);
    // The journal is what saves the output between the two renames.
    assert_eq!(
        outcomes.keys().copied().collect::<Vec<_>>(),
        [After::Previous, After::New, After::MissingWithJournal],
        "{outcomes:?}"
    );
    assert_eq!(outcomes.get(&After::MissingWithJournal), Some(&1), "{outcomes:?}");
}

#[test]
fn a_crash_during_a_first_build_leaves_no_output_or_a_complete_one() {
    for exchange in [true, false] {
        let outcomes = crash_everywhere(&format!("first-{exchange}"), exchange, false);
        assert_eq!(
            outcomes.keys().copied().collect::<Vec<_>>(),
            [After::New, After::Absent],
            "{outcomes:?}"
        );
    }
}

#[test]
fn the_real_exchange_swaps_two_folders_in_one_step() {
    let s = Scratch::new("real-exchange");
    let (a, b) = (s.0.join("a"), s.0.join("b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    std::fs::write(a.join("x"), "from a").unwrap();
    std::fs::write(b.join("y"), "from b").unwrap();
    // Linux (ext4 and tmpfs, where CI and development run) has RENAME_EXCHANGE.
    assert!(swap::RealOps.exchange(&a, &b).unwrap());
    assert_eq!(std::fs::read_to_string(b.join("x")).unwrap(), "from a");
    assert_eq!(std::fs::read_to_string(a.join("y")).unwrap(), "from b");
}

#[test]
fn an_output_lost_by_an_old_iotc_between_its_two_renames_is_restored() {
    // What iotc before the journal left when killed between `out` →
    // `out.iotc-old-<pid>` and the new tree → `out`.
    let s = Scratch::new("legacy");
    set_up_previous(&s);
    let previous = tree(&s.out()).unwrap();
    std::fs::rename(s.out(), s.0.join("out.iotc-old-4242")).unwrap();
    std::fs::create_dir(s.0.join("out.iotc-tmp-4242")).unwrap();
    std::fs::write(s.0.join("out.iotc-tmp-4242/half"), "x").unwrap();
    let staging = Staging::begin_with(Crashing::never(true), &s.out(), false).unwrap();
    let notes = staging.notes().join("\n");
    drop(staging);
    assert!(notes.contains("restored the previous output"), "{notes}");
    assert!(notes.contains("out.iotc-tmp-4242"), "{notes}");
    assert_eq!(tree(&s.out()), Some(previous));
    assert_eq!(s.leftovers(), Vec::<String>::new());
    let new = {
        let t = Scratch::new("legacy-expected");
        set_up_previous(&t);
        write_with(Crashing::never(true), &t.out(), &v2(), false).unwrap();
        tree(&t.out()).unwrap()
    };
    finish(&s, &new);
    assert_eq!(
        tree(&s.out()).unwrap().get("terraform.tfstate").unwrap(),
        "{\"serial\": 7}\n"
    );
}

#[test]
fn several_lost_outputs_stop_the_build_and_are_named() {
    let s = Scratch::new("legacy-many");
    std::fs::create_dir(s.0.join("out.iotc-old-1")).unwrap();
    std::fs::create_dir(s.0.join("out.iotc-old-2")).unwrap();
    let Err(e) = Staging::begin_with(Crashing::never(true), &s.out(), false) else {
        panic!("began with two candidate previous outputs")
    };
    let msg = e.to_string();
    assert!(
        msg.contains("out.iotc-old-1") && msg.contains("out.iotc-old-2"),
        "{msg}"
    );
    assert!(s.0.join("out.iotc-old-1").is_dir() && s.0.join("out.iotc-old-2").is_dir());
    assert!(!s.out().exists());
}

#[test]
fn stale_siblings_with_this_very_pid_do_not_block_a_build() {
    let s = Scratch::new("reused-pid");
    set_up_previous(&s);
    let pid = std::process::id();
    for tag in ["tmp", "old"] {
        let p = s.0.join(format!("out.iotc-{tag}-{pid}"));
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("junk"), "x").unwrap();
    }
    // A lock file left by a killed build is not a lock.
    std::fs::write(s.0.join("out.iotc-lock"), "").unwrap();
    let r = write_with(Crashing::never(true), &s.out(), &v2(), false).unwrap();
    assert!(!r.written.is_empty());
    assert_eq!(s.leftovers(), Vec::<String>::new());
    assert_eq!(
        tree(&s.out()).unwrap().get("terraform.tfstate").unwrap(),
        "{\"serial\": 7}\n"
    );
}

#[test]
fn a_second_build_into_the_same_folder_is_refused_while_the_first_runs() {
    let s = Scratch::new("lock");
    set_up_previous(&s);
    let first = Staging::begin_with(Crashing::never(true), &s.out(), false).unwrap();
    let Err(e) = Staging::begin_with(Crashing::never(true), &s.out(), false) else {
        panic!("two builds into one folder at once")
    };
    assert!(matches!(&e, WriteError::Io { error, .. } if error.kind() == io::ErrorKind::WouldBlock));
    assert!(e.to_string().contains("another iotc build"), "{e}");
    // The running build's temporary tree was not cleaned away under it.
    assert_eq!(s.leftovers().iter().filter(|n| n.contains(".iotc-tmp-")).count(), 1);
    first.commit().unwrap();
    write_with(Crashing::never(true), &s.out(), &v2(), false).unwrap();
    assert!(s.out().join(MANIFEST).is_file());
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

#[test]
fn a_journal_that_cannot_be_read_is_ignored_with_a_note() {
    let s = Scratch::new("bad-journal");
    set_up_previous(&s);
    let previous = tree(&s.out());
    // A journal must name siblings of `out`, never other paths.
    std::fs::write(
        s.0.join("out.iotc-journal"),
        r#"{"previous": "../../etc", "next": "out.iotc-tmp-1"}"#,
    )
    .unwrap();
    let staging = Staging::begin_with(Crashing::never(true), &s.out(), false).unwrap();
    assert!(staging.notes().join("\n").contains("unreadable journal"));
    drop(staging);
    assert_eq!(tree(&s.out()), previous);
    assert_eq!(s.leftovers(), Vec::<String>::new());
}

#[test]
fn write_file_atomically_replaces_a_file_and_leaves_nothing_beside_it() {
    let s = Scratch::new("atomic-file");
    let p = s.0.join("values.toml");
    super::write_file_atomically(&p, b"a = 1\n").unwrap();
    super::write_file_atomically(&p, b"a = 2\n").unwrap();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "a = 2\n");
    assert_eq!(s.leftovers(), ["values.toml"]);
}
