//! The `iotc` command line: a thin shell over the compiler library. It owns
//! all file-system IO, argument parsing and rendering.

pub mod render;
pub mod writer;

use iotc_compiler::emit::{OutputFile, Target};
use iotc_compiler::source::{ReadError, SourceDb};

/// Reads sources from the file system.
pub struct FsDb;

impl SourceDb for FsDb {
    fn read(&self, path: &str) -> Result<String, ReadError> {
        std::fs::read_to_string(path).map_err(|e| ReadError(e.to_string()))
    }
}

/// One target's files as a single stream for stdout (`iotc build --emit k8s
/// -o -`), or `None` if the target has no stream form.
pub fn stream(target: Target, files: &[OutputFile]) -> Option<String> {
    match target {
        Target::K8s => Some(k8s_stream(files)),
    }
}

/// Every Kubernetes document, in path order, as one `---`-separated stream
/// for `kubectl apply -f -`: the `.yaml` files under `k8s/` except
/// `kustomization.yaml` (which is not an object).
// Stand-in until the k8s backend exposes its own stream function.
pub fn k8s_stream(files: &[OutputFile]) -> String {
    let mut docs: Vec<&OutputFile> = files
        .iter()
        .filter(|f| {
            f.path.starts_with("k8s/")
                && f.path.ends_with(".yaml")
                && f.path.rsplit('/').next() != Some("kustomization.yaml")
        })
        .collect();
    docs.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = String::new();
    for f in docs {
        let body = f.contents.strip_prefix("---\n").unwrap_or(&f.contents);
        if body.trim().is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push_str("---\n");
        }
        out.push_str(body);
        if !body.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}
