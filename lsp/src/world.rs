//! The server's state: open documents, and one fresh analysis per open
//! document. The root of a document's analysis is the document itself,
//! unless another file imports it (`import "./cloud.iot"`): then it is the
//! top of that chain of importers, so a file split out of a solution sees
//! the names its importer defines, as `iotc check` on the importer does.
//! Imports come from open buffers when they are open and from disk
//! otherwise. Across changes only parsed items are kept ([`ParseCache`]),
//! and what importer discovery read from disk, by file stamp.

use iotc_compiler::ide::{self, Index};
use iotc_compiler::source::{Origin, ReadError, SourceDb};
use iotc_compiler::syntax::ast::{ImportTarget, ItemKind};
use iotc_compiler::syntax::ParseCache;
use iotc_compiler::{analyze_with, Analysis, Overrides};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// An open document: the editor's text, not the disk's.
#[derive(Debug, Clone)]
pub struct Document {
    pub text: String,
    pub version: i32,
}

/// One analysis with its name index.
#[derive(Debug)]
pub struct Analyzed {
    pub analysis: Analysis,
    pub index: Index,
}

/// Serves open documents from memory and everything else from disk.
pub struct OverlayDb<'a> {
    pub docs: &'a BTreeMap<String, Document>,
}

impl SourceDb for OverlayDb<'_> {
    fn read(&self, path: &str) -> Result<String, ReadError> {
        if let Some(d) = self.docs.get(path) {
            return Ok(d.text.clone());
        }
        std::fs::read_to_string(path).map_err(|e| ReadError(e.to_string()))
    }
}

/// The stdlib is embedded in the compiler; editors open it read-only as
/// ordinary files that the server writes to a cache folder once.
#[derive(Debug, Clone)]
pub struct StdFiles {
    dir: Option<PathBuf>,
}

impl StdFiles {
    /// Write the stdlib modules under `dir` (made read-only); without a
    /// writable folder, std locations use the `iotc-std:` scheme instead.
    pub fn materialise(dir: Option<PathBuf>) -> StdFiles {
        let Some(dir) = dir else { return StdFiles { dir: None } };
        if std::fs::create_dir_all(&dir).is_err() {
            return StdFiles { dir: None };
        }
        for (name, text) in iotc_compiler::stdlib::MODULES {
            let path = dir.join(format!("{name}.iot"));
            if std::fs::read_to_string(&path).ok().as_deref() == Some(*text) {
                continue;
            }
            set_read_only(&path, false);
            if std::fs::write(&path, text).is_err() {
                return StdFiles { dir: None };
            }
            set_read_only(&path, true);
        }
        for code in iotc_compiler::diag::Code::ALL {
            let errors = dir.join("errors");
            let _ = std::fs::create_dir_all(&errors);
            let path = errors.join(format!("{code}.md"));
            if std::fs::read_to_string(&path).ok().as_deref() != Some(code.explanation()) {
                set_read_only(&path, false);
                let _ = std::fs::write(&path, code.explanation());
                set_read_only(&path, true);
            }
        }
        StdFiles { dir: Some(dir) }
    }

    /// The default cache folder: `$XDG_CACHE_HOME/iotc/<version>` or
    /// `~/.cache/iotc/<version>`, else the temp folder.
    pub fn default_dir() -> PathBuf {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        base.join("iotc").join(env!("CARGO_PKG_VERSION"))
    }

    pub fn none() -> StdFiles {
        StdFiles { dir: None }
    }

    /// The document key (a path, or a `iotc-std:` name) of a module.
    pub fn key(&self, module: &str) -> String {
        match &self.dir {
            Some(d) => d.join(format!("{module}.iot")).to_string_lossy().into_owned(),
            None => format!("iotc-std:///{module}.iot"),
        }
    }

    /// The module a document key names, if it is a stdlib file.
    pub fn module_of(&self, key: &str) -> Option<String> {
        let name = match &self.dir {
            Some(d) => Path::new(key)
                .strip_prefix(d)
                .ok()?
                .to_str()?
                .strip_suffix(".iot")?
                .to_string(),
            None => key.strip_prefix("iotc-std:///")?.strip_suffix(".iot")?.to_string(),
        };
        iotc_compiler::stdlib::module(&name).map(|_| name)
    }

    /// Where `iotc explain CODE`'s page is, when the cache folder exists.
    pub fn explanation(&self, code: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("errors").join(format!("{code}.md")))
    }
}

fn set_read_only(path: &Path, read_only: bool) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mut perms = meta.permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(read_only);
        let _ = std::fs::set_permissions(path, perms);
    }
}

/// Open documents and their analyses.
pub struct World {
    pub docs: BTreeMap<String, Document>,
    pub std: StdFiles,
    analyses: BTreeMap<String, Arc<Analyzed>>,
    /// Documents changed since their last analysis.
    stale: BTreeSet<String>,
    /// Items parsed before: an edit re-parses only the items it touched.
    parsed: ParseCache,
    /// What importer discovery learnt about files on disk (see
    /// [`DiskImports`]).
    disk: RefCell<DiskImports>,
}

/// Importer discovery's memory of the disk: the `.iot` files of each
/// folder it looked in and the files each `.iot` file imports, each with
/// the stamp (modification time, length) it had when read. A refresh
/// stats the folders and files and reads again only those whose stamp
/// changed, instead of listing and reading (and parsing) every `.iot`
/// file of two folders on every keystroke.
///
/// File systems keep times at a clock tick's granularity, so a file
/// rewritten within one tick keeps its stamp. As git's index does with
/// "racily clean" entries, a stamp is trusted only when the file was
/// already [`SETTLED`] old when it was read; a file modified more
/// recently is read again on every refresh until it is.
#[derive(Default)]
struct DiskImports {
    folders: BTreeMap<PathBuf, Known<Vec<String>>>,
    files: BTreeMap<String, Known<Vec<PathBuf>>>,
    /// Files read from disk so far (`World::disk_reads`).
    reads: u64,
}

/// How old a file must be when read for its stamp to be trusted.
const SETTLED: Duration = Duration::from_secs(2);

struct Known<T> {
    stamp: Stamp,
    /// Whether `stamp` can stand for the content (see [`DiskImports`]).
    trusted: bool,
    value: T,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: SystemTime,
    len: u64,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Stamp {
            modified: meta.modified().ok()?,
            len: meta.len(),
        })
    }

    /// Whether the file was settled at `now` (taken before reading it).
    fn settled_at(&self, now: SystemTime) -> bool {
        now.duration_since(self.modified).is_ok_and(|age| age >= SETTLED)
    }
}

impl<T: Clone> Known<T> {
    /// The value when the file still has the stamp it had when read and
    /// that stamp is trusted.
    fn current(&self, stamp: Stamp) -> Option<T> {
        (self.trusted && self.stamp == stamp).then(|| self.value.clone())
    }
}

impl World {
    pub fn new(std: StdFiles) -> World {
        World {
            docs: BTreeMap::new(),
            std,
            analyses: BTreeMap::new(),
            stale: BTreeSet::new(),
            parsed: ParseCache::new(),
            disk: RefCell::new(DiskImports::default()),
        }
    }

    /// How many files importer discovery has read from disk so far: a
    /// file whose stamp has not changed since it was read (and was
    /// settled then) is not read again.
    pub fn disk_reads(&self) -> u64 {
        self.disk.borrow().reads
    }

    pub fn open(&mut self, key: String, text: String, version: i32) {
        self.docs.insert(key, Document { text, version });
        self.invalidate();
    }

    pub fn change(&mut self, key: &str, text: String, version: i32) {
        if let Some(d) = self.docs.get_mut(key) {
            d.text = text;
            d.version = version;
        } else {
            self.docs.insert(key.to_string(), Document { text, version });
        }
        self.invalidate();
    }

    pub fn close(&mut self, key: &str) {
        self.docs.remove(key);
        self.analyses.remove(key);
        self.invalidate();
    }

    /// Any change may affect every document that imports the changed one,
    /// so every analysis is redone.
    fn invalidate(&mut self) {
        self.stale = self.docs.keys().cloned().collect();
        self.analyses.retain(|k, _| self.stale.contains(k));
    }

    pub fn is_stale(&self) -> bool {
        !self.stale.is_empty()
    }

    /// Re-analyse every stale open document; returns the keys redone.
    /// Documents with the same root share one analysis.
    pub fn refresh(&mut self) -> Vec<String> {
        let stale = std::mem::take(&mut self.stale);
        self.parsed.sweep();
        let mut done = Vec::new();
        let mut by_root: BTreeMap<String, Arc<Analyzed>> = BTreeMap::new();
        for key in stale {
            if !self.docs.contains_key(&key) {
                continue;
            }
            let root = self.root_of(&key);
            let a = match by_root.get(&root) {
                Some(a) => a.clone(),
                None => {
                    let a = Arc::new(self.analyze_root(&root));
                    by_root.insert(root.clone(), a.clone());
                    a
                }
            };
            let a = self.containing(&key, &root, a);
            if let Some(old) = self.analyses.insert(key.clone(), a) {
                dispose(old);
            }
            done.push(key);
        }
        done
    }

    /// The file whose analysis `key` is part of: the top of the chain of
    /// `.iot` files that import it by path (in its folder or the one
    /// above), else `key` itself.
    pub fn root_of(&self, key: &str) -> String {
        if self.std.module_of(key).is_some() {
            return key.to_string();
        }
        let mut current = key.to_string();
        let mut seen = BTreeSet::from([current.clone()]);
        while let Some(importer) = self.importer_of(&current) {
            if !seen.insert(importer.clone()) {
                break;
            }
            current = importer;
        }
        current
    }

    /// A file that imports `key` by path, if any (the first by name).
    /// Open documents are read from memory; files on disk through
    /// [`DiskImports`], so an unchanged folder costs a few `stat`s.
    fn importer_of(&self, key: &str) -> Option<String> {
        let path = Path::new(key);
        let target = normalise(path);
        let dir = path.parent()?;
        let mut candidates: BTreeSet<String> = BTreeSet::new();
        for d in [Some(dir), dir.parent()].into_iter().flatten() {
            for k in self.docs.keys() {
                if Path::new(k).parent() == Some(d) {
                    candidates.insert(k.clone());
                }
            }
            candidates.extend(self.iot_files_in(d));
        }
        candidates.remove(key);
        candidates.into_iter().find(|c| self.imports_of(c).contains(&target))
    }

    /// The `.iot` files of folder `d` on disk (none if it cannot be read).
    fn iot_files_in(&self, d: &Path) -> Vec<String> {
        let now = SystemTime::now();
        let Some(stamp) = Stamp::of(d) else { return Vec::new() };
        if let Some(known) = self.disk.borrow().folders.get(d).and_then(|k| k.current(stamp)) {
            return known;
        }
        let mut files = Vec::new();
        if let Ok(entries) = std::fs::read_dir(d) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "iot") {
                    if let Some(s) = p.to_str() {
                        files.push(s.to_string());
                    }
                }
            }
        }
        files.sort();
        self.disk.borrow_mut().folders.insert(
            d.to_path_buf(),
            Known {
                stamp,
                trusted: stamp.settled_at(now),
                value: files.clone(),
            },
        );
        files
    }

    /// The files `c` imports by path, normalised: from its buffer when it
    /// is open, else from disk unless its stamp says it has not changed.
    fn imports_of(&self, c: &str) -> Vec<PathBuf> {
        if let Some(d) = self.docs.get(c) {
            return self.file_imports(c, &d.text);
        }
        let now = SystemTime::now();
        let Some(stamp) = Stamp::of(Path::new(c)) else {
            return Vec::new();
        };
        if let Some(known) = self.disk.borrow().files.get(c).and_then(|k| k.current(stamp)) {
            return known;
        }
        self.disk.borrow_mut().reads += 1;
        let imports = match (OverlayDb { docs: &self.docs }).read(c) {
            Ok(text) => self.file_imports(c, &text),
            Err(_) => Vec::new(),
        };
        self.disk.borrow_mut().files.insert(
            c.to_string(),
            Known {
                stamp,
                trusted: stamp.settled_at(now),
                value: imports.clone(),
            },
        );
        imports
    }

    /// The normalised paths that `text` (the file `c`) imports.
    fn file_imports(&self, c: &str, text: &str) -> Vec<PathBuf> {
        // Cheap filter before parsing.
        if !text.contains("import") {
            return Vec::new();
        }
        let base = Path::new(c).parent().unwrap_or(Path::new(""));
        // Through the parse cache: an importer that is also analysed (or
        // was asked about last time) is not parsed again.
        let (unit, _) = iotc_compiler::syntax::parse_with(iotc_compiler::source::FileId(0), text, Some(&self.parsed));
        unit.items
            .iter()
            .filter_map(|item| match &item.kind {
                ItemKind::Import(i) => match &i.target {
                    ImportTarget::File(lit) => Some(normalise(&base.join(&lit.value))),
                    ImportTarget::Module(_) => None,
                },
                _ => None,
            })
            .collect()
    }

    /// `a` (the analysis of `root`) if it holds `key`, else `key`'s own:
    /// an importer whose import resolves to a different spelling of the path
    /// (or that no longer parses) must not leave `key` without answers.
    fn containing(&self, key: &str, root: &str, a: Arc<Analyzed>) -> Arc<Analyzed> {
        if root == key || crate::features::file_of(&a, &self.origin_of(key)).is_some() {
            a
        } else {
            Arc::new(self.analyze_root(key))
        }
    }

    fn analyze_root(&self, key: &str) -> Analyzed {
        let analysis = match self.std.module_of(key) {
            // A stdlib file is analysed as what it is: an imported module.
            Some(m) => {
                let root = "<iotc-std-root>.iot";
                let db = iotc_compiler::source::MemoryDb::new().with(root, &format!("import std.{m}\n"));
                analyze_with(&db, root, &Overrides::default(), Some(&self.parsed))
            }
            None => analyze_with(
                &OverlayDb { docs: &self.docs },
                key,
                &Overrides::default(),
                Some(&self.parsed),
            ),
        };
        let index = ide::index(&analysis.program);
        Analyzed { analysis, index }
    }

    /// Make sure there is a fresh analysis to answer a request about
    /// `key`: the document's own when it is open, otherwise one made for it
    /// now (a stdlib file, or a file on disk the editor has not opened).
    pub fn ensure(&mut self, key: &str) {
        if self.stale.contains(key) {
            self.refresh();
        }
        if !self.analyses.contains_key(key) {
            let root = self.root_of(key);
            let a = Arc::new(self.analyze_root(&root));
            let a = self.containing(key, &root, a);
            self.analyses.insert(key.to_string(), a);
        }
    }

    /// The analysis of `key`, if [`World::ensure`] or a refresh made one.
    pub fn get(&self, key: &str) -> Option<&Analyzed> {
        self.analyses.get(key).map(|a| &**a)
    }

    /// The origin a document key has inside analyses.
    pub fn origin_of(&self, key: &str) -> Origin {
        match self.std.module_of(key) {
            Some(m) => Origin::Std(m),
            None => Origin::Path(key.to_string()),
        }
    }

    /// Every analysis held (open documents and ones made on request).
    pub fn analyses(&self) -> impl Iterator<Item = (&String, &Analyzed)> {
        self.analyses.iter().map(|(k, a)| (k, &**a))
    }

    /// The document key of a file in an analysis.
    pub fn key_of(&self, origin: &Origin) -> Option<String> {
        match origin {
            Origin::Path(p) if p.as_str() == "<iotc-std-root>.iot" => None,
            Origin::Path(p) => Some(p.clone()),
            Origin::Std(m) => Some(self.std.key(m)),
            Origin::CommandLine => None,
        }
    }

    /// The version of an open document.
    pub fn version(&self, key: &str) -> Option<i32> {
        self.docs.get(key).map(|d| d.version)
    }
}

/// Free a previous analysis off the request path: a large program's tree,
/// IR and explanations take a few milliseconds to drop, which the user
/// would otherwise wait for before seeing diagnostics.
fn dispose(old: Arc<Analyzed>) {
    // Shared with another document of the same root: just let go.
    let Ok(old) = Arc::try_unwrap(old) else { return };
    let spawned = std::thread::Builder::new()
        .name("iotc-lsp-free".into())
        .spawn(move || drop(old));
    // If no thread can be started, the closure (and `old`) is dropped here.
    drop(spawned);
}

/// `a/./b/../c` → `a/c`, without touching the disk (keys need not exist).
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
