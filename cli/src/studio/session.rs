//! One studio session: the solution's root file, its values file as it was
//! loaded, and what the page asks of them — a preview of knob values, a
//! save, a reload when a source changes. No HTTP here (see `server.rs`);
//! everything the page receives is built by this module from the IR's
//! overview and the checker's diagnostics, never from source text, so no
//! secret value can reach the page.

use super::values_file;
use crate::FsDb;
use iotc_compiler::diag::Diagnostic;
use iotc_compiler::ir::{ParamValue, Solution, ValueSource};
use iotc_compiler::overview::{self, Change, Overview};
use iotc_compiler::source::{Origin, SourceMap};
use iotc_compiler::syntax::ParseCache;
use iotc_compiler::{analyze_with, graph, picture, prepare, Analysis, Overrides, Prepared};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

/// A knob: one `param`, as the page shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Knob {
    pub name: String,
    pub label: String,
    pub description: Option<String>,
    /// `int`, `bool`, `string`, `cpu`, `memory`, `duration`.
    #[serde(rename = "type")]
    pub ty: String,
    pub min: Option<String>,
    pub max: Option<String>,
    /// Slider step for `int` knobs.
    pub step: Option<u32>,
    pub default: String,
    /// The value the page asked about (or the saved one).
    pub value: String,
    /// The value in effect when the values file was loaded or last saved.
    pub saved: String,
    /// `default`, `values file` or `unsaved change`.
    pub origin: &'static str,
}

/// A problem in an operator's words, with the checker's code for the
/// engineer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    pub code: String,
    pub title: String,
    /// The checker's message, without code markup.
    pub message: String,
    pub help: Option<String>,
    /// `examples/factory/cloud.iot:16`.
    pub at: String,
    /// Which knob to turn back, and to what (errors only, when a changed
    /// int knob has a value that fits).
    pub fix: Option<String>,
}

/// What the page shows for one set of knob values.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub ok: bool,
    pub knobs: Vec<Knob>,
    pub overview: Option<Overview>,
    /// Differences from the saved values.
    pub changes: Vec<Change>,
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
    /// The values file as saving these values would write it.
    pub toml: String,
    /// Why it cannot be written (an existing file that is not valid TOML).
    pub toml_error: Option<String>,
    /// Whether saving would change the values file.
    pub dirty: bool,
    /// Milliseconds spent: re-checking, then building this view from the
    /// result (overview, changes, picture, TOML), before serialisation.
    pub check_ms: f64,
    pub view_ms: f64,
}

/// The solution's picture.
#[derive(Debug, Clone, Serialize)]
pub struct Picture {
    /// An SVG document built by [`picture::svg`], every text escaped.
    pub svg: String,
    pub ms: f64,
}

/// Everything the page needs when it (re)loads.
#[derive(Debug, Clone, Serialize)]
pub struct State {
    /// The solution's name (when the saved values check).
    pub solution: Option<String>,
    pub file: String,
    pub values_file: String,
    pub values_file_exists: bool,
    /// SHA-256 of the values file as loaded ("" if absent): sent back with
    /// a save so a file changed on disk since is not overwritten.
    pub base: String,
    /// Bumped on every reload of the sources.
    pub generation: u64,
    pub view: View,
}

/// The outcome of a save.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum SaveOutcome {
    Saved {
        state: Box<State>,
    },
    /// The file changed on disk since it was loaded: nothing was written.
    Conflict {
        diff: Vec<values_file::DiffLine>,
        message: String,
    },
    /// The values do not check: nothing was written.
    Rejected {
        view: Box<View>,
    },
    /// Writing failed.
    Failed {
        message: String,
    },
}

/// What the session knows about the saved state.
struct Saved {
    name: Option<String>,
    params: Vec<ParamValue>,
    overview: Option<Overview>,
}

pub struct Session {
    root: String,
    values_path: String,
    /// The values file's text as loaded or last saved; `None` if absent.
    values_text: Option<String>,
    base: String,
    generation: u64,
    /// Modification times of the sources, to notice edits.
    stamps: Vec<(String, Option<SystemTime>)>,
    cache: ParseCache,
    /// The program checked up to its counts with the values file as
    /// loaded: a preview re-evaluates only counts onwards (see
    /// [`Prepared`]).
    prepared: Prepared,
    saved: Saved,
    /// The overrides and solution of the latest view, for its picture.
    last: Option<(Vec<String>, Solution)>,
}

fn sha256_hex(text: Option<&str>) -> String {
    match text {
        Some(t) => Sha256::digest(t.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        None => String::new(),
    }
}

/// The solution's own files (not the values file: a change there is a
/// conflict to show at save, not a reason to reload).
fn stamps(sources: &SourceMap, values_path: &str) -> Vec<(String, Option<SystemTime>)> {
    sources
        .files()
        .filter_map(|f| match &f.origin {
            Origin::Path(p) if p != values_path => Some(p.clone()),
            _ => None,
        })
        .map(|p| {
            let t = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
            (p, t)
        })
        .collect()
}

/// A param's value as the page edits it: strings without their quotes.
fn plain(p: &ParamValue) -> String {
    if p.ty == "string" {
        p.value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(&p.value)
            .to_string()
    } else {
        p.value.clone()
    }
}

fn plain_default(p: &ParamValue) -> String {
    if p.ty == "string" {
        p.default
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(&p.default)
            .to_string()
    } else {
        p.default.clone()
    }
}

impl Session {
    /// Load the solution and its values file (`values`, else `X.values.toml`
    /// beside `X.iot`, which need not exist yet).
    pub fn load(root: &str, values: Option<&str>) -> Result<Session, String> {
        std::fs::metadata(root).map_err(|e| format!("cannot read `{root}`: {e}"))?;
        let values_path = match values {
            Some(v) => v.to_string(),
            None => match root.strip_suffix(".iot") {
                Some(stem) => format!("{stem}.values.toml"),
                None => format!("{root}.values.toml"),
            },
        };
        let values_text = read_values(&values_path)?;
        let cache = ParseCache::new();
        let prepared = prepare(&FsDb, root, values_of(&values_path, &values_text), Some(&cache));
        let mut s = Session {
            root: root.to_string(),
            base: sha256_hex(values_text.as_deref()),
            values_path,
            values_text,
            generation: 0,
            stamps: Vec::new(),
            cache,
            prepared,
            last: None,
            saved: Saved {
                name: None,
                params: Vec::new(),
                overview: None,
            },
        };
        s.take_saved();
        Ok(s)
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn values_path(&self) -> &str {
        &self.values_path
    }

    /// Start again from the files as they are on disk now (after a
    /// conflict).
    pub fn reload_from_disk(&mut self) -> Result<(), String> {
        self.reload()
    }

    /// Read the values file and re-check the saved state.
    fn reload(&mut self) -> Result<(), String> {
        self.values_text = read_values(&self.values_path)?;
        self.base = sha256_hex(self.values_text.as_deref());
        // What the versions before the last one needed is let go of.
        drop(self.cache.sweep());
        self.prepared = prepare(
            &FsDb,
            &self.root,
            values_of(&self.values_path, &self.values_text),
            Some(&self.cache),
        );
        self.take_saved();
        Ok(())
    }

    /// The saved state: the prepared program with no knob changed.
    fn take_saved(&mut self) {
        let a = self.prepared.check(&[]);
        let stamps = stamps(&a.program.sources, &self.values_path);
        let solution = a.solution;
        self.stamps = stamps;
        let params = match &solution {
            Some(sol) => sol.params.clone(),
            // The saved values do not check: take the knobs from the
            // defaults, so the page can still turn them back.
            None => self
                .analyze_with_values(None, &[])
                .solution
                .map(|s| s.params)
                .unwrap_or_default(),
        };
        self.saved = Saved {
            name: solution.as_ref().map(|s| s.name.clone()),
            params,
            overview: solution.as_ref().map(overview::overview),
        };
        self.generation += 1;
    }

    fn overrides(&self, values_text: Option<&str>, sets: &[String]) -> Overrides {
        Overrides {
            values: values_text.map(|t| (self.values_path.clone(), t.to_string())),
            sets: sets.to_vec(),
        }
    }

    fn analyze_with_values(&self, values_text: Option<&str>, sets: &[String]) -> Analysis {
        analyze_with(&FsDb, &self.root, &self.overrides(values_text, sets), Some(&self.cache))
    }

    /// Re-check when a source file changed on disk; true if it did.
    pub fn poll(&mut self) -> Result<bool, String> {
        let changed = self
            .stamps
            .iter()
            .any(|(p, t)| std::fs::metadata(p).and_then(|m| m.modified()).ok() != *t);
        if changed {
            self.reload()?;
        }
        Ok(changed)
    }

    /// Whether the values file on disk differs from the one loaded.
    pub fn values_changed_on_disk(&self) -> bool {
        let now = std::fs::read_to_string(&self.values_path).ok();
        sha256_hex(now.as_deref()) != self.base
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The page's state for the saved values.
    pub fn state(&mut self) -> State {
        State {
            solution: self.saved.name.clone(),
            file: self.root.clone(),
            values_file: self.values_path.clone(),
            values_file_exists: self.values_text.is_some(),
            base: self.base.clone(),
            generation: self.generation,
            view: self.view(&BTreeMap::new()),
        }
    }

    /// The changed knobs (`name=value`), in param order, ignoring unknown
    /// names and values equal to the saved ones.
    fn sets(&self, values: &BTreeMap<String, String>) -> Vec<(String, String)> {
        self.saved
            .params
            .iter()
            .filter_map(|p| {
                let v = values.get(&p.name)?;
                (v.trim() != plain(p)).then(|| (p.name.clone(), v.trim().to_string()))
            })
            .collect()
    }

    /// What the solution looks like with these knob values (names not
    /// given keep their saved values).
    pub fn view(&mut self, values: &BTreeMap<String, String>) -> View {
        let changed = self.sets(values);
        let sets: Vec<String> = changed.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let started = Instant::now();
        let a = self.prepared.check(&sets);
        let check_ms = started.elapsed().as_secs_f64() * 1000.0;
        let started = Instant::now();
        let current: BTreeMap<&str, &str> = changed.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let knobs = self
            .saved
            .params
            .iter()
            .map(|p| {
                let saved = plain(p);
                let (value, origin) = match current.get(p.name.as_str()) {
                    Some(v) => (v.to_string(), "unsaved change"),
                    None => (
                        saved.clone(),
                        match p.source {
                            ValueSource::Default => "default",
                            ValueSource::ValuesFile | ValueSource::CommandLine => "values file",
                        },
                    ),
                };
                Knob {
                    name: p.name.clone(),
                    label: p.label.clone().unwrap_or_else(|| p.name.clone()),
                    description: p.description.clone(),
                    ty: p.ty.clone(),
                    min: p.min.clone(),
                    max: p.max.clone(),
                    step: (p.ty == "int").then_some(1),
                    default: plain_default(p),
                    value,
                    saved,
                    origin,
                }
            })
            .collect();
        let errors: Vec<&Diagnostic> = a.diagnostics.iter().filter(|d| d.is_error()).collect();
        let mut problems: Vec<Problem> = errors.iter().map(|d| problem(d, &a.program.sources)).collect();
        let warnings: Vec<Problem> = a
            .diagnostics
            .iter()
            .filter(|d| !d.is_error())
            .map(|d| problem(d, &a.program.sources))
            .collect();
        let solution = a.solution;
        if !problems.is_empty() {
            if let Some(fix) = self.fix(&changed) {
                for p in &mut problems {
                    p.fix = Some(fix.clone());
                }
            }
        }
        let overview = solution.as_ref().map(overview::overview);
        let changes = match (&self.saved.overview, &overview) {
            (Some(before), Some(after)) => overview::changes(before, after),
            _ => Vec::new(),
        };
        let (toml, toml_error) = match self.toml_for(&changed) {
            Ok(t) => (t, None),
            Err(e) => (String::new(), Some(e)),
        };
        let ok = solution.is_some();
        let view_ms = started.elapsed().as_secs_f64() * 1000.0;
        // Kept for the picture, which the page asks for next.
        let old = std::mem::replace(&mut self.last, solution.map(|s| (sets, s)));
        // Freeing a large solution piece by piece takes a good part of
        // building it: do it off the request's path.
        std::thread::spawn(move || drop(old));
        View {
            ok,
            knobs,
            overview,
            changes,
            errors: problems,
            warnings,
            dirty: !changed.is_empty(),
            toml,
            toml_error,
            check_ms,
            view_ms,
        }
    }

    /// The picture for these knob values, an SVG document (empty when they
    /// do not check): from the latest view's solution when it was for the
    /// same values (the page asks right after a view), else re-checked.
    pub fn picture(&mut self, values: &BTreeMap<String, String>) -> Picture {
        let started = Instant::now();
        let sets: Vec<String> = self.sets(values).iter().map(|(n, v)| format!("{n}={v}")).collect();
        let svg = match &self.last {
            Some((s, sol)) if *s == sets => picture::svg(&graph::build(sol)),
            _ => self
                .prepared
                .check(&sets)
                .solution
                .map(|s| picture::svg(&graph::build(&s)))
                .unwrap_or_default(),
        };
        Picture {
            svg,
            ms: started.elapsed().as_secs_f64() * 1000.0,
        }
    }

    /// The values file text with these changes applied.
    fn toml_for(&self, changed: &[(String, String)]) -> Result<String, String> {
        let typed: Vec<(String, String, String)> = changed
            .iter()
            .filter_map(|(n, v)| {
                let p = self.saved.params.iter().find(|p| &p.name == n)?;
                Some((n.clone(), p.ty.clone(), v.clone()))
            })
            .collect();
        values_file::update(self.values_text.as_deref(), &self.root, &typed)
    }

    /// For an error after changing int knobs: the value of the first
    /// changed knob closest to the requested one (between it and the saved
    /// value) at which the solution checks, found by bisection (counts grow
    /// with their params), as advice to the operator.
    fn fix(&mut self, changed: &[(String, String)]) -> Option<String> {
        for (i, (name, value)) in changed.iter().enumerate() {
            let p = self.saved.params.iter().find(|p| &p.name == name)?;
            if p.ty != "int" {
                continue;
            }
            let (Ok(want), Ok(saved)) = (value.parse::<i64>(), p.value.parse::<i64>()) else {
                continue;
            };
            let others: Vec<String> = changed
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (n, v))| format!("{n}={v}"))
                .collect();
            let prepared = &mut self.prepared;
            let mut checks = |x: i64| {
                let mut sets = others.clone();
                sets.push(format!("{name}={x}"));
                prepared.check(&sets).solution.is_some()
            };
            if want == saved || !checks(saved) {
                continue;
            }
            // Invariant: `good` checks, `bad` does not.
            let (mut good, mut bad) = (saved, want);
            while (bad - good).abs() > 1 {
                let mid = good + (bad - good) / 2;
                if checks(mid) {
                    good = mid;
                } else {
                    bad = mid;
                }
            }
            let label = p.label.clone().unwrap_or_else(|| name.clone());
            let dir = if want > saved { "or lower" } else { "or higher" };
            return Some(format!(
                "turn “{label}” back to {good} {dir} (it fits at {good}, not at {bad}; saved value {saved})"
            ));
        }
        None
    }

    /// Re-check and write the values file with these knob values. Refused
    /// when the file changed on disk since `base` was loaded, or when the
    /// values do not check.
    pub fn save(&mut self, values: &BTreeMap<String, String>, base: &str) -> SaveOutcome {
        let now = match std::fs::read_to_string(&self.values_path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return SaveOutcome::Failed {
                    message: format!("cannot read `{}`: {e}", self.values_path),
                }
            }
        };
        if sha256_hex(now.as_deref()) != base || base != self.base {
            return SaveOutcome::Conflict {
                diff: values_file::diff(self.values_text.as_deref().unwrap_or(""), now.as_deref().unwrap_or("")),
                message: format!(
                    "`{}` changed on disk since the studio loaded it; nothing was written. Reload to start from the file as it is now.",
                    self.values_path
                ),
            };
        }
        let changed = self.sets(values);
        let text = match self.toml_for(&changed) {
            Ok(t) => t,
            Err(message) => return SaveOutcome::Failed { message },
        };
        // Re-check exactly what will be on disk.
        let a = self.analyze_with_values(Some(&text), &[]);
        if a.solution.is_none() {
            return SaveOutcome::Rejected {
                view: Box::new(self.view(values)),
            };
        }
        if let Err(e) = values_file::write_atomically(&self.values_path, &text) {
            return SaveOutcome::Failed {
                message: format!("cannot write `{}`: {e}", self.values_path),
            };
        }
        if let Err(message) = self.reload() {
            return SaveOutcome::Failed { message };
        }
        SaveOutcome::Saved {
            state: Box::new(self.state()),
        }
    }
}

/// The values file at `path`; `None` when there is none yet.
fn read_values(path: &str) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read values file `{path}`: {e}")),
    }
}

/// A values file as [`Overrides::values`] takes it.
fn values_of(path: &str, text: &Option<String>) -> Option<(String, String)> {
    text.as_ref().map(|t| (path.to_string(), t.clone()))
}

fn problem(d: &Diagnostic, sources: &SourceMap) -> Problem {
    let at = match sources.get(d.primary.span.file) {
        Some(f) => {
            let (line, _) = f.line_col(d.primary.span.start as usize);
            format!("{}:{}", f.name(), line + 1)
        }
        None => String::new(),
    };
    Problem {
        code: d.code.as_str().to_string(),
        title: d.code.title().to_string(),
        message: d.message.replace('`', ""),
        help: d.help.as_ref().map(|h| h.replace('`', "")),
        at,
        fix: None,
    }
}
