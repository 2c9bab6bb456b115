//! The values file as `iotc studio` writes it: changed params set in place
//! with `toml_edit`, so comments, key order, unknown keys and tables of an
//! existing file survive; a line diff for the conflict shown when the file
//! changed on disk; and the atomic write.

use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// The values file text with `changes` (`(name, param type, value)`)
/// applied to `existing` (`None`: a new file). `int` values are written as
/// TOML integers, `bool` as booleans, everything else (strings, `cpu`,
/// `memory`, `duration`) as strings, exactly as `--set name=value` reads
/// them.
pub fn update(existing: Option<&str>, root: &str, changes: &[(String, String, String)]) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = existing
        .unwrap_or("")
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("the values file is not valid TOML: {}", e.message()))?;
    for (name, ty, value) in changes {
        let new: toml_edit::Value = match ty.as_str() {
            "int" => match value.parse::<i64>() {
                Ok(i) => i.into(),
                Err(_) => value.as_str().into(),
            },
            "bool" => match value.as_str() {
                "true" => true.into(),
                "false" => false.into(),
                _ => value.as_str().into(),
            },
            _ => value.as_str().into(),
        };
        match doc.get_mut(name) {
            Some(item) => match item.as_value_mut() {
                Some(old) => {
                    // Keep the comments around the old value.
                    let decor = old.decor().clone();
                    *old = new;
                    *old.decor_mut() = decor;
                }
                None => {
                    return Err(format!(
                        "`{name}` in the values file is a table, not a value; fix it by hand"
                    ))
                }
            },
            None => {
                doc.insert(name, toml_edit::Item::Value(new));
            }
        }
    }
    let body = doc.to_string();
    Ok(match existing {
        Some(_) => body,
        None => {
            let file = Path::new(root)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| root.to_string());
            format!("# Param values for {file}, written by `iotc studio`.\n{body}")
        }
    })
}

/// One line of a diff: `op` is ` ` (same), `-` (only in the old text) or
/// `+` (only in the new).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DiffLine {
    pub op: char,
    pub text: String,
}

/// A line diff from `old` to `new` (the `similar` crate, as `iotc diff`).
pub fn diff(old: &str, new: &str) -> Vec<DiffLine> {
    similar::TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|c| DiffLine {
            op: match c.tag() {
                similar::ChangeTag::Equal => ' ',
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
            },
            text: c.value().trim_end_matches(['\n', '\r']).to_string(),
        })
        .collect()
}

/// Write through a temporary file beside `path`, flushed to disk, and a
/// rename: a reader sees the old file or the new one, never half of one.
pub fn write_atomically(path: &str, text: &str) -> std::io::Result<()> {
    let target = Path::new(path);
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "values.toml".into());
    let tmp = dir.join(format!(".{name}.iotc-studio-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, target)?;
        // Make the rename itself durable; not every file system can.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, ty: &str, value: &str) -> (String, String, String) {
        (name.into(), ty.into(), value.into())
    }

    #[test]
    fn comments_order_and_unknown_keys_survive_an_update() {
        let old = "# plant scale, agreed with ops\nfactor = 2 # was 1 until May\n\nregion = \"eu\"\n\n[notes]\nowner = \"ot-platform\"\n";
        let new = update(
            Some(old),
            "f.iot",
            &[set("factor", "int", "5"), set("cpu", "cpu", "500m")],
        )
        .unwrap();
        assert_eq!(
            new,
            "# plant scale, agreed with ops\nfactor = 5 # was 1 until May\n\nregion = \"eu\"\ncpu = \"500m\"\n\n[notes]\nowner = \"ot-platform\"\n"
        );
    }

    #[test]
    fn a_new_file_gets_a_header_and_typed_values() {
        let new = update(
            None,
            "examples/factory/factory.iot",
            &[set("factor", "int", "7"), set("on", "bool", "true")],
        )
        .unwrap();
        assert_eq!(
            new,
            "# Param values for factory.iot, written by `iotc studio`.\nfactor = 7\non = true\n"
        );
    }

    #[test]
    fn invalid_toml_is_not_rewritten() {
        assert!(update(Some("factor = = 2"), "f.iot", &[set("factor", "int", "3")]).is_err());
    }

    #[test]
    fn diff_marks_removed_and_added_lines() {
        let d = diff("a\nfactor = 2\nc\n", "a\nfactor = 9\nc\nd\n");
        let s: Vec<String> = d.iter().map(|l| format!("{}{}", l.op, l.text)).collect();
        assert_eq!(s, [" a", "-factor = 2", "+factor = 9", " c", "+d"]);
    }

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("iotc-studio-write-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v.toml");
        std::fs::write(&path, "factor = 1\n").unwrap();
        write_atomically(path.to_str().unwrap(), "factor = 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "factor = 2\n");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
