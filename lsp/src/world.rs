//! The server's state: open documents, and one fresh analysis per open
//! document. The root of a document's analysis is the document itself,
//! unless another file imports it (`import "./cloud.iot"`): then it is the
//! top of that chain of importers, so a file split out of a solution sees
//! the names its importer defines, as `iotc check` on the importer does.
//! Imports come from open buffers when they are open and from disk
//! otherwise. Across changes only parsed items are kept ([`ParseCache`]),
//! and what importer discovery read from disk, by file stamp.

use crate::edit_map::EditMap;
use iotc_compiler::ide::{self, Index};
use iotc_compiler::source::{Origin, ReadError, SourceDb};
use iotc_compiler::syntax::ast::{ImportTarget, ItemKind};
use iotc_compiler::syntax::ParseCache;
use iotc_compiler::{analyze_with, Analysis, Overrides};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// An open document: the editor's text, not the disk's.
#[derive(Debug, Clone)]
pub struct Document {
    pub text: String,
    pub version: i32,
    /// Its line starts, found the first time a position in it is asked
    /// for (a request answered before its analysis is current).
    lines: std::sync::OnceLock<Vec<usize>>,
}

impl Document {
    pub fn new(text: String, version: i32) -> Document {
        Document {
            text,
            version,
            lines: std::sync::OnceLock::new(),
        }
    }

    /// Positions ↔ offsets in its text.
    pub fn line_index(&self) -> crate::line_index::LineIndex<'_> {
        let starts = self
            .lines
            .get_or_init(|| iotc_compiler::source::line_starts(&self.text));
        crate::line_index::LineIndex::with_starts(&self.text, starts)
    }
}

/// One analysis with its name index.
#[derive(Debug)]
pub struct Analyzed {
    pub analysis: Analysis,
    /// Built on first use: the checking thread builds it right after
    /// handing the analysis over, so diagnostics are published without
    /// waiting for it, and a request that needs it before it is done waits
    /// for that one build.
    index: std::sync::OnceLock<Index>,
}

impl Analyzed {
    pub fn new(analysis: Analysis) -> Analyzed {
        Analyzed {
            analysis,
            index: std::sync::OnceLock::new(),
        }
    }

    /// The name index of the analysed program.
    pub fn index(&self) -> &Index {
        self.index.get_or_init(|| ide::index(&self.analysis.program))
    }
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
    /// The origin a document key has inside analyses.
    pub fn origin_of(&self, key: &str) -> Origin {
        match self.module_of(key) {
            Some(m) => Origin::Std(m),
            None => Origin::Path(key.to_string()),
        }
    }

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
    /// Shared with the checks in flight: a change copies the map first
    /// (`Arc::make_mut`) when a check still holds the old one.
    pub docs: Arc<BTreeMap<String, Document>>,
    pub std: StdFiles,
    analyses: BTreeMap<String, Arc<Analyzed>>,
    /// Documents changed since their last analysis.
    stale: BTreeSet<String>,
    /// Counts opens, changes and closes: a check made from the documents
    /// of an older generation is kept (the newest analysis there is) but
    /// leaves its documents stale.
    generation: u64,
    /// What analyses documents, on any thread.
    checker: Arc<Checker>,
    /// Loaded-and-indexed analyses (no check) of the stale documents' text
    /// as it is now, made for navigation requests ([`World::names_only`]).
    names: BTreeMap<String, Arc<Analyzed>>,
    /// Set while a navigation request is answered: those analyses stand in
    /// for the stale full ones.
    prefer_names: bool,
    /// Documents a request's own check made fresh, whose diagnostics the
    /// server has not published yet ([`World::take_unpublished`]).
    unpublished: Vec<String>,
    /// Counts analyses stored, so a remembered edit knows which one it was
    /// found against.
    stored: u64,
    /// The edit from each document's analysed text to its text now, once
    /// asked for, with the generation and `stored` it was found at.
    edits: std::cell::RefCell<BTreeMap<String, KnownEdit>>,
    /// Analyses replaced since the last [`World::release`], to free once
    /// the new ones' diagnostics are out.
    retired: Vec<Arc<Analyzed>>,
}

/// What a check needs besides the documents, shared by the server's
/// thread and its checking thread: the parse cache and what importer
/// discovery learnt about the disk.
pub struct Checker {
    std: StdFiles,
    /// Items parsed before: an edit re-parses only the items it touched.
    parsed: ParseCache,
    /// What importer discovery learnt about files on disk (see
    /// [`DiskImports`]).
    disk: Mutex<DiskImports>,
}

/// How far an analysis goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// The whole check: diagnostics, counts, the solution.
    Full,
    /// Loaded and indexed only (`analyze_names`): enough for navigation.
    Names,
}

/// One re-check to run: the open documents as they were when it was asked
/// for, and which of them to analyse.
pub struct Job {
    pub generation: u64,
    docs: Arc<BTreeMap<String, Document>>,
    keys: Vec<String>,
}

/// A job's analyses, one per document key (documents with the same root
/// share one).
pub struct Checked {
    pub generation: u64,
    keys: Vec<String>,
    analyses: Vec<(String, Arc<Analyzed>)>,
}

impl Checked {
    /// The analyses, to finish (their name index) once handed over.
    pub fn analyses(&self) -> Vec<Arc<Analyzed>> {
        self.analyses.iter().map(|(_, a)| a.clone()).collect()
    }
}

impl Job {
    /// Run the job with `checker` (on any thread). A panic leaves the
    /// documents' previous analyses in place, as if it had found nothing.
    pub fn run(self, checker: &Checker) -> Checked {
        let analyses = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| checker.check(&self.docs, &self.keys)))
            .unwrap_or_default();
        Checked {
            generation: self.generation,
            keys: self.keys,
            analyses,
        }
    }
}

/// A remembered edit: (generation, analyses stored, the edit).
type KnownEdit = (u64, u64, Option<EditMap>);

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
            docs: Arc::new(BTreeMap::new()),
            std: std.clone(),
            analyses: BTreeMap::new(),
            stale: BTreeSet::new(),
            generation: 0,
            names: BTreeMap::new(),
            prefer_names: false,
            unpublished: Vec::new(),
            stored: 0,
            edits: std::cell::RefCell::new(BTreeMap::new()),
            retired: Vec::new(),
            checker: Arc::new(Checker {
                std,
                parsed: ParseCache::new(),
                disk: Mutex::new(DiskImports::default()),
            }),
        }
    }

    /// The checker, to run [`Job`]s on another thread.
    pub fn checker(&self) -> Arc<Checker> {
        self.checker.clone()
    }

    /// How many files importer discovery has read from disk so far: a
    /// file whose stamp has not changed since it was read (and was
    /// settled then) is not read again.
    pub fn disk_reads(&self) -> u64 {
        self.checker.disk().reads
    }

    pub fn open(&mut self, key: String, text: String, version: i32) {
        Arc::make_mut(&mut self.docs).insert(key, Document::new(text, version));
        self.invalidate();
    }

    pub fn change(&mut self, key: &str, text: String, version: i32) {
        let docs = Arc::make_mut(&mut self.docs);
        docs.insert(key.to_string(), Document::new(text, version));
        self.invalidate();
    }

    pub fn close(&mut self, key: &str) {
        Arc::make_mut(&mut self.docs).remove(key);
        self.analyses.remove(key);
        self.invalidate();
    }

    /// Any change may affect every document that imports the changed one,
    /// so every analysis is redone.
    fn invalidate(&mut self) {
        self.generation += 1;
        // Off the request path, as a replaced analysis is (`dispose`).
        let names = std::mem::take(&mut self.names);
        if !names.is_empty() {
            let spawned = std::thread::Builder::new()
                .name("iotc-lsp-free".into())
                .spawn(move || drop(names));
            drop(spawned);
        }
        self.stale = self.docs.keys().cloned().collect();
        self.analyses.retain(|k, _| self.stale.contains(k));
    }

    /// Counts opens, changes and closes (a [`Job`] carries the one it was
    /// made at).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn is_stale(&self) -> bool {
        !self.stale.is_empty()
    }

    /// Whether the analysis held for `key` is of the text it has now.
    pub fn is_fresh(&self, key: &str) -> bool {
        !self.stale.contains(key) && self.analyses.contains_key(key)
    }

    /// Re-analyse every stale open document here and now; returns the keys
    /// redone. Documents with the same root share one analysis.
    pub fn refresh(&mut self) -> Vec<String> {
        match self.job() {
            Some(job) => {
                let checked = job.run(&self.checker);
                self.apply(checked)
            }
            None => Vec::new(),
        }
    }

    /// The re-check of every stale open document, to run anywhere
    /// ([`Job::run`]); `None` when nothing is stale.
    pub fn job(&self) -> Option<Job> {
        if self.stale.is_empty() {
            return None;
        }
        Some(Job {
            generation: self.generation,
            docs: self.docs.clone(),
            keys: self.stale.iter().cloned().collect(),
        })
    }

    /// Keep a job's analyses. When no document changed since the job was
    /// made, its documents are fresh: their keys are returned (to publish
    /// their diagnostics). Otherwise they stay stale, with the newest
    /// analysis there is, and nothing is returned.
    pub fn apply(&mut self, checked: Checked) -> Vec<String> {
        let current = checked.generation == self.generation;
        for (key, a) in checked.analyses {
            if !self.docs.contains_key(&key) {
                continue;
            }
            self.stored += 1;
            if let Some(old) = self.analyses.insert(key, a) {
                self.retired.push(old);
            }
        }
        if !current {
            return Vec::new();
        }
        let mut done = Vec::new();
        for key in checked.keys {
            if self.stale.remove(&key) {
                done.push(key);
            }
        }
        done
    }

    /// Free the analyses replaced since the last call, on a thread of
    /// their own (see `dispose`). The server calls it once it has published
    /// the new analyses' diagnostics, so that freeing the old ones (a few
    /// milliseconds for a large program) does not compete with publishing.
    pub fn release(&mut self) {
        let retired = std::mem::take(&mut self.retired);
        let empty = retired.is_empty();
        dispose(retired, empty);
    }

    /// See [`Checker::root_of`].
    pub fn root_of(&self, key: &str) -> String {
        self.checker.root_of(&self.docs, key)
    }

    /// Make sure there is a fresh analysis to answer a request about
    /// `key`: the document's own when it is open, otherwise one made for it
    /// now (a stdlib file, or a file on disk the editor has not opened).
    pub fn ensure(&mut self, key: &str) {
        if self.prefer_names && self.names.contains_key(key) {
            return;
        }
        if self.stale.contains(key) {
            let done = self.refresh();
            self.unpublished.extend(done);
        }
        if !self.analyses.contains_key(key) {
            let root = self.root_of(key);
            let a = Arc::new(self.checker.analyze_root(&self.docs, &root));
            let a = self.checker.containing(&self.docs, key, &root, a);
            self.stored += 1;
            self.analyses.insert(key.to_string(), a);
        }
    }

    /// The analysis of `key`, if [`World::ensure`] or a refresh made one
    /// (it may be of an older text: see [`World::is_fresh`]).
    pub fn get(&self, key: &str) -> Option<&Analyzed> {
        if self.prefer_names {
            if let Some(a) = self.names.get(key) {
                return Some(a);
            }
        }
        self.analyses.get(key).map(|a| &**a)
    }

    /// Until [`World::full_only`], answer as a navigation request
    /// (definition, references, rename, symbols, semantic tokens) may: with
    /// every stale open document analysed as it is now up to its names only
    /// (loaded with the parse cache and indexed, a fraction of a full
    /// check, which is not waited for).
    pub fn names_only(&mut self) {
        let missing: Vec<String> = self
            .stale
            .iter()
            .filter(|k| !self.names.contains_key(*k))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let checker = self.checker.clone();
            let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                checker.analyse(&self.docs, &missing, Depth::Names)
            }))
            .unwrap_or_default();
            self.names.extend(made);
        }
        self.prefer_names = true;
    }

    /// The documents [`World::ensure`] checked itself since the last call,
    /// to publish their diagnostics.
    pub fn take_unpublished(&mut self) -> Vec<String> {
        std::mem::take(&mut self.unpublished)
    }

    /// Back to full analyses (see [`World::names_only`]).
    pub fn full_only(&mut self) {
        self.prefer_names = false;
    }

    /// The origin a document key has inside analyses.
    pub fn origin_of(&self, key: &str) -> Origin {
        self.std.origin_of(key)
    }

    /// Every analysis held (open documents and ones made on request).
    pub fn analyses(&self) -> impl Iterator<Item = (&String, &Analyzed)> {
        let mut all: BTreeMap<&String, &Analyzed> = self.analyses.iter().map(|(k, a)| (k, &**a)).collect();
        if self.prefer_names {
            all.extend(self.names.iter().map(|(k, a)| (k, &**a)));
        }
        all.into_iter()
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

    /// The edit from `analysed`, the text of the analysis held for `key`,
    /// to the document's text now: `None` when they are the same.
    pub fn edit_since(&self, key: &str, analysed: &str) -> Option<EditMap> {
        let now = self.docs.get(key)?;
        let id = (self.generation, self.stored);
        if let Some((g, p, m)) = self.edits.borrow().get(key) {
            if (*g, *p) == id {
                return *m;
            }
        }
        let m = EditMap::new(analysed, &now.text);
        self.edits.borrow_mut().insert(key.to_string(), (id.0, id.1, m));
        m
    }

    /// The version of an open document.
    pub fn version(&self, key: &str) -> Option<i32> {
        self.docs.get(key).map(|d| d.version)
    }
}

impl Checker {
    fn disk(&self) -> MutexGuard<'_, DiskImports> {
        // A panic while it was held leaves a cache that is still usable.
        self.disk.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Analyse `keys` of `docs`; documents with the same root share one
    /// analysis.
    fn check(&self, docs: &BTreeMap<String, Document>, keys: &[String]) -> Vec<(String, Arc<Analyzed>)> {
        // What the cache lets go of is freed once the check is done (freeing
        // it alongside the check would slow the check).
        let swept = self.parsed.sweep();
        let checked = self.analyse(docs, keys, Depth::Full);
        let empty = swept.is_empty();
        dispose(swept, empty);
        checked
    }

    /// Analyse `keys` of `docs` to `depth`; documents with the same root
    /// share one analysis.
    fn analyse(
        &self,
        docs: &BTreeMap<String, Document>,
        keys: &[String],
        depth: Depth,
    ) -> Vec<(String, Arc<Analyzed>)> {
        let mut done = Vec::new();
        let mut by_root: BTreeMap<String, Arc<Analyzed>> = BTreeMap::new();
        for key in keys {
            if !docs.contains_key(key) {
                continue;
            }
            let root = self.root_of(docs, key);
            let a = match by_root.get(&root) {
                Some(a) => a.clone(),
                None => {
                    let a = Arc::new(self.analyze_root_to(docs, &root, depth));
                    by_root.insert(root.clone(), a.clone());
                    a
                }
            };
            let a = self.containing_to(docs, key, &root, a, depth);
            done.push((key.clone(), a));
        }
        done
    }

    /// The file whose analysis `key` is part of: the top of the chain of
    /// `.iot` files that import it by path (in its folder or the one
    /// above), else `key` itself.
    pub fn root_of(&self, docs: &BTreeMap<String, Document>, key: &str) -> String {
        if self.std.module_of(key).is_some() {
            return key.to_string();
        }
        let mut current = key.to_string();
        let mut seen = BTreeSet::from([current.clone()]);
        while let Some(importer) = self.importer_of(docs, &current) {
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
    fn importer_of(&self, docs: &BTreeMap<String, Document>, key: &str) -> Option<String> {
        let path = Path::new(key);
        let target = normalise(path);
        let dir = path.parent()?;
        let mut candidates: BTreeSet<String> = BTreeSet::new();
        for d in [Some(dir), dir.parent()].into_iter().flatten() {
            for k in docs.keys() {
                if Path::new(k).parent() == Some(d) {
                    candidates.insert(k.clone());
                }
            }
            candidates.extend(self.iot_files_in(d));
        }
        candidates.remove(key);
        candidates
            .into_iter()
            .find(|c| self.imports_of(docs, c).contains(&target))
    }

    /// The `.iot` files of folder `d` on disk (none if it cannot be read).
    fn iot_files_in(&self, d: &Path) -> Vec<String> {
        let now = SystemTime::now();
        let Some(stamp) = Stamp::of(d) else { return Vec::new() };
        if let Some(known) = self.disk().folders.get(d).and_then(|k| k.current(stamp)) {
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
        self.disk().folders.insert(
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
    fn imports_of(&self, docs: &BTreeMap<String, Document>, c: &str) -> Vec<PathBuf> {
        if let Some(d) = docs.get(c) {
            return self.file_imports(c, &d.text);
        }
        let now = SystemTime::now();
        let Some(stamp) = Stamp::of(Path::new(c)) else {
            return Vec::new();
        };
        if let Some(known) = self.disk().files.get(c).and_then(|k| k.current(stamp)) {
            return known;
        }
        self.disk().reads += 1;
        let imports = match (OverlayDb { docs }).read(c) {
            Ok(text) => self.file_imports(c, &text),
            Err(_) => Vec::new(),
        };
        self.disk().files.insert(
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
    fn containing(&self, docs: &BTreeMap<String, Document>, key: &str, root: &str, a: Arc<Analyzed>) -> Arc<Analyzed> {
        self.containing_to(docs, key, root, a, Depth::Full)
    }

    fn containing_to(
        &self,
        docs: &BTreeMap<String, Document>,
        key: &str,
        root: &str,
        a: Arc<Analyzed>,
        depth: Depth,
    ) -> Arc<Analyzed> {
        if root == key || crate::features::file_of(&a, &self.std.origin_of(key)).is_some() {
            a
        } else {
            Arc::new(self.analyze_root_to(docs, key, depth))
        }
    }

    fn analyze_root(&self, docs: &BTreeMap<String, Document>, key: &str) -> Analyzed {
        self.analyze_root_to(docs, key, Depth::Full)
    }

    fn analyze_root_to(&self, docs: &BTreeMap<String, Document>, key: &str, depth: Depth) -> Analyzed {
        let analyse = |db: &dyn iotc_compiler::source::SourceDb, root: &str| match depth {
            Depth::Full => analyze_with(db, root, &Overrides::default(), Some(&self.parsed)),
            Depth::Names => iotc_compiler::analyze_names(db, root, Some(&self.parsed)),
        };
        let analysis = match self.std.module_of(key) {
            // A stdlib file is analysed as what it is: an imported module.
            Some(m) => {
                let root = "<iotc-std-root>.iot";
                let db = iotc_compiler::source::MemoryDb::new().with(root, &format!("import std.{m}\n"));
                analyse(&db, root)
            }
            None => analyse(&OverlayDb { docs }, key),
        };
        Analyzed::new(analysis)
    }
}

/// Free previous analyses (or what the parse cache let go of) off the
/// request path: a large program's tree, IR and explanations take a few
/// milliseconds to drop, which the user would otherwise wait for before
/// seeing diagnostics. (An analysis shared with another document of the
/// same root is only let go of.) Nothing to free starts no thread.
fn dispose<T: Send + 'static>(old: T, empty: bool) {
    if empty {
        return;
    }
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
