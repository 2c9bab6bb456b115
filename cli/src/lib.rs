//! The `iotc` command line: a thin shell over the compiler library. It owns
//! all file-system IO, argument parsing and rendering.

pub mod diff;
pub mod machine;
pub mod render;
pub mod stream;
pub mod studio;
pub mod writer;

use iotc_compiler::emit::OutputFile;
use iotc_compiler::source::{ReadError, SourceDb};

/// Reads sources from the file system.
pub struct FsDb;

impl SourceDb for FsDb {
    fn read(&self, path: &str) -> Result<String, ReadError> {
        std::fs::read_to_string(path).map_err(|e| ReadError(e.to_string()))
    }
}

/// Serves the root file from text already read (from stdin for `-`, or
/// checked by [`read_source`]), every other file from the file system;
/// imports of `-` resolve from the current folder.
pub struct RootDb {
    pub path: String,
    pub text: String,
}

impl SourceDb for RootDb {
    fn read(&self, path: &str) -> Result<String, ReadError> {
        if path == self.path {
            Ok(self.text.clone())
        } else {
            FsDb.read(path)
        }
    }
}

/// Read a source file named on the command line, with a message for each
/// way that can fail: a missing file, a directory, text that is not UTF-8.
/// The caller exits with status 2 (a usage error, not a diagnostic).
pub fn read_source(path: &str) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    if meta.is_dir() {
        return Err(format!(
            "cannot read `{path}`: it is a directory; give the root `.iot` file, e.g. `{}/main.iot`",
            path.trim_end_matches('/')
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read `{path}`: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "cannot read `{path}`: it is not UTF-8 text (invalid byte at offset {}); iotc sources are UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}

/// The Kubernetes files of one cluster or fleet site (`plants/plant-a`), for streaming: `kubectl
/// apply -f -` talks to one cluster, so printing two clusters' objects into
/// one stream would apply the edge's DaemonSets to the cloud. With one
/// group, `name` may be omitted.
pub fn select_group(files: &[OutputFile], name: Option<&str>) -> Result<Vec<OutputFile>, String> {
    let mut groups: Vec<&str> = files
        .iter()
        .filter_map(|f| iotc_compiler::emit::k8s::group_of(&f.path))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let chosen = match (name, groups.as_slice()) {
        (Some(n), _) if groups.contains(&n) => n.to_string(),
        (Some(n), _) => {
            return Err(format!(
                "there is no Kubernetes cluster or fleet site `{n}`; there are: {}",
                groups.join(", ")
            ));
        }
        (None, [one]) => (*one).to_string(),
        (None, []) => return Ok(Vec::new()),
        (None, many) => {
            return Err(format!(
                "the solution has {} Kubernetes clusters and fleet sites ({}); pick the one to print with `--cluster NAME`",
                many.len(),
                many.join(", ")
            ));
        }
    };
    Ok(files
        .iter()
        .filter(|f| iotc_compiler::emit::k8s::group_of(&f.path) == Some(chosen.as_str()))
        .cloned()
        .collect())
}
