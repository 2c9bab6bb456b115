//! How a model server gets its artifact, shared by the Kubernetes backend
//! (an init container) and the Compose backend (a one-shot service): the
//! kind of reference, where the file lands, and the POSIX shell script that
//! downloads it.

use crate::ir::ModelRef;

/// How the model artifact reaches the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    S3,
    Https,
    /// `oci://REF`: mounted as an image volume, never downloaded.
    Oci(String),
}

/// The kind of an artifact reference (`None` for a local path).
pub fn fetch_kind(artifact: &str) -> Option<Fetch> {
    if artifact.starts_with("s3://") {
        Some(Fetch::S3)
    } else if artifact.starts_with("https://") || artifact.starts_with("http://") {
        Some(Fetch::Https)
    } else {
        artifact.strip_prefix("oci://").map(|r| Fetch::Oci(r.to_string()))
    }
}

/// The folder a model's files land in, in every container that reads it
/// (decided by the checker: `ModelRef::dir`).
pub fn model_dir(m: &ModelRef) -> String {
    m.dir.clone()
}

/// The model file (decided by the checker: `ModelRef::path`).
pub fn model_path(m: &ModelRef) -> String {
    m.path.clone()
}

/// The download script. It reads `IOTC_ARTIFACT`, `IOTC_DEST` and (with
/// `checksum`) `IOTC_SHA256` from the environment. It exits at once when
/// the file is already there (and, with `checksum`, verifies): the model is
/// kept on disk (a fleet gateway's cache folder, a Compose volume), so a
/// restart needs no WAN. Otherwise it downloads to `$IOTC_DEST.part`,
/// verifies the SHA-256, then renames, so a reader never sees a partial
/// file.
pub fn fetch_script(fetch: &Fetch, checksum: bool) -> String {
    let mut s = String::from("set -eu\nmkdir -p \"${IOTC_DEST%/*}\"\n");
    if checksum {
        s.push_str(
            "if [ -f \"$IOTC_DEST\" ] && echo \"$IOTC_SHA256  $IOTC_DEST\" | sha256sum -c - >/dev/null 2>&1; then exit 0; fi\n",
        );
    } else {
        s.push_str("if [ -f \"$IOTC_DEST\" ]; then exit 0; fi\n");
    }
    match fetch {
        Fetch::S3 => s.push_str("aws s3 cp --only-show-errors \"$IOTC_ARTIFACT\" \"$IOTC_DEST.part\"\n"),
        _ => s.push_str("curl -fsSL --retry 5 --retry-connrefused -o \"$IOTC_DEST.part\" \"$IOTC_ARTIFACT\"\n"),
    }
    if checksum {
        s.push_str("echo \"$IOTC_SHA256  $IOTC_DEST.part\" | sha256sum -c -\n");
    }
    s.push_str("mv \"$IOTC_DEST.part\" \"$IOTC_DEST\"\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(fetch_kind("s3://b/k"), Some(Fetch::S3));
        assert_eq!(fetch_kind("https://h/k"), Some(Fetch::Https));
        assert_eq!(
            fetch_kind("oci://ghcr.io/a/m:2"),
            Some(Fetch::Oci("ghcr.io/a/m:2".into()))
        );
        assert_eq!(fetch_kind("/models/m.onnx"), None);
        assert_eq!(fetch_kind("file:///models/m.onnx"), None);
    }

    #[test]
    fn script_verifies_before_renaming_and_skips_a_verified_copy() {
        let k8s = fetch_script(&Fetch::S3, true);
        assert!(k8s.contains("aws s3 cp"));
        let skip = k8s.find("exit 0").unwrap();
        let copy = k8s.find("aws s3 cp").unwrap();
        assert!(skip < copy);
        let check = k8s.rfind("sha256sum -c").unwrap();
        let mv = k8s.find("mv ").unwrap();
        assert!(check < mv);
        let compose = fetch_script(&Fetch::Https, false);
        assert!(compose.contains("curl -fsSL"));
        assert!(compose.contains("if [ -f \"$IOTC_DEST\" ]; then exit 0; fi"));
        assert!(!compose.contains("sha256sum"));
    }
}
