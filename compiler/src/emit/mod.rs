//! Stage 4, backends: each target is a pure function from the evaluated IR
//! ([`crate::ir::Solution`]) to files. No backend reads syntax or does IO;
//! the CLI's writer puts the files on disk.

pub mod ansible;
pub mod compose;
pub mod escape;
pub mod k8s;
pub mod mirror;
pub mod model_fetch;
pub mod prometheus;
pub mod readme;
pub mod terraform;
pub mod yaml;
mod yaml_ser;

use crate::ir::Solution;
use std::fmt;
use std::ops::ControlFlow;

/// `s` in lowercase with every character other than an ASCII letter or
/// digit replaced by `sep` (Ansible group names and Terraform identifiers
/// with `_`; cloud resource and volume names with `-`).
pub fn lower_alnum(s: &str, sep: char) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                sep
            }
        })
        .collect()
}

/// One generated file, with a path relative to the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub path: String,
    pub contents: String,
}

/// The targets `iotc build` can emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    K8s,
    Compose,
    Ansible,
    Terraform,
}

impl Target {
    pub const ALL: &'static [Target] = &[Target::K8s, Target::Compose, Target::Ansible, Target::Terraform];

    pub fn name(self) -> &'static str {
        match self {
            Target::K8s => "k8s",
            Target::Compose => "compose",
            Target::Ansible => "ansible",
            Target::Terraform => "terraform",
        }
    }

    pub fn parse(s: &str) -> Option<Target> {
        Target::ALL.iter().copied().find(|t| t.name() == s)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A backend could not produce its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitError {
    pub target: Target,
    pub message: String,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} backend: {}", self.target, self.message)
    }
}

/// Every target is selected: the output gets its `README.md` (apply
/// order, what to supply), which describes the whole output; a partial
/// build (`--emit`) has none.
fn whole_output(targets: &[Target]) -> bool {
    Target::ALL.iter().all(|t| targets.contains(t))
}

/// Run the selected backends. Files come back sorted by path, so the output
/// is the same for the same input.
pub fn emit(sol: &Solution, targets: &[Target]) -> Result<Vec<OutputFile>, EmitError> {
    let mut files = Vec::new();
    for t in targets {
        match t {
            Target::K8s => files.extend(k8s::emit(sol)?),
            Target::Compose => files.extend(compose::emit(sol)?),
            Target::Ansible => files.extend(ansible::emit(sol)?),
            Target::Terraform => files.extend(terraform::emit(sol)?),
        }
    }
    if whole_output(targets) {
        let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        files.push(readme::readme(sol, &paths));
    }
    files.sort_by(|a: &OutputFile, b: &OutputFile| a.path.cmp(&b.path));
    Ok(files)
}

/// The files of [`emit`], each handed to `sink` as soon as it is ready and
/// in no promised order (the Kubernetes backend streams and builds on every
/// core; the others hand over their files when done), so `iotc build` can
/// write a large output without holding it in memory. `sink` returning
/// `Break` stops early, with `Ok`.
pub fn emit_each(
    sol: &Solution,
    targets: &[Target],
    sink: &mut dyn FnMut(OutputFile) -> ControlFlow<()>,
) -> Result<(), EmitError> {
    // The README names the files the backends wrote.
    let mut paths = Vec::new();
    for t in targets {
        let files = match t {
            Target::K8s => {
                let mut tee = |f: OutputFile| {
                    paths.push(f.path.clone());
                    sink(f)
                };
                if k8s::emit_each(sol, &mut tee)?.is_break() {
                    return Ok(());
                }
                continue;
            }
            Target::Compose => compose::emit(sol)?,
            Target::Ansible => ansible::emit(sol)?,
            Target::Terraform => terraform::emit(sol)?,
        };
        for f in files {
            paths.push(f.path.clone());
            if sink(f).is_break() {
                return Ok(());
            }
        }
    }
    if whole_output(targets) {
        paths.sort();
        let _ = sink(readme::readme(sol, &paths));
    }
    Ok(())
}
