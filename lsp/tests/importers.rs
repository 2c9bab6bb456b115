//! Importer discovery (`World::root_of`) remembers what it read from disk:
//! a folder or file whose stamp has not changed is not read again, a
//! changed one is, and a file modified too recently for its stamp to be
//! trusted (a rewrite within one clock tick keeps the stamp) is read on
//! every refresh. File times are set explicitly, so nothing here depends on
//! timing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use iotc_lsp::world::{StdFiles, World};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const LIB: &str = "service helper on plants { image = \"x:1\" }\n";

fn importing(file: &str) -> String {
    format!("solution s {{ version = \"1\" }}\nimport \"./{file}\"\n")
}

/// Set a file's or folder's modification time to `secs_ago` seconds ago.
fn age(path: &Path, secs_ago: u64) {
    let when = SystemTime::now() - Duration::from_secs(secs_ago);
    File::open(path).unwrap().set_modified(when).unwrap();
}

fn write_aged(path: &Path, text: &str, secs_ago: u64) {
    std::fs::write(path, text).unwrap();
    age(path, secs_ago);
}

/// A project folder inside a folder of its own (discovery also looks one
/// folder up, which must hold no other `.iot` file).
fn folder(name: &str) -> PathBuf {
    let outer = std::env::temp_dir().join(format!("iotc-lsp-importers-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&outer);
    let dir = outer.join("project");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn remove(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

fn key(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

#[test]
fn unchanged_files_on_disk_are_not_read_again_and_changed_ones_are() {
    let dir = folder("stamps");
    let (lib, main, other) = (dir.join("lib.iot"), dir.join("main.iot"), dir.join("other.iot"));
    write_aged(&main, &importing("lib.iot"), 3600);
    write_aged(&other, "// nothing imported here\n", 3600);
    age(&dir, 3600);

    let mut w = World::new(StdFiles::none());
    w.open(key(&lib), LIB.into(), 1);
    assert_eq!(w.root_of(&key(&lib)), key(&main));
    let first = w.disk_reads();
    assert_eq!(first, 2, "main.iot and other.iot are read once");

    // Refreshes (typing in lib.iot) read nothing from disk.
    w.change(&key(&lib), format!("{LIB}// typing\n"), 2);
    w.refresh();
    assert_eq!(w.root_of(&key(&lib)), key(&main));
    assert_eq!(w.disk_reads(), first);

    // main.iot stops importing lib.iot: its new stamp makes it read again.
    write_aged(&main, "solution s { version = \"1\" }\n", 1800);
    assert_eq!(w.root_of(&key(&lib)), key(&lib));
    assert_eq!(w.disk_reads(), first + 1);

    // A new importer in the folder: the folder's stamp changed, so it is
    // listed again and only the new file is read.
    let top = dir.join("a_top.iot");
    write_aged(&top, &importing("lib.iot"), 1800);
    age(&dir, 1800);
    assert_eq!(w.root_of(&key(&lib)), key(&top));
    assert_eq!(w.disk_reads(), first + 2);

    // An open buffer wins over the disk, without reading the disk.
    w.open(key(&top), "solution s { version = \"1\" }\n".into(), 1);
    assert_eq!(w.root_of(&key(&lib)), key(&lib));
    assert_eq!(w.disk_reads(), first + 2);

    remove(&dir);
}

#[test]
fn a_file_changed_within_one_clock_tick_is_still_seen() {
    let dir = folder("racy");
    let (lib, main) = (dir.join("lib.iot"), dir.join("main.iot"));
    let mut w = World::new(StdFiles::none());
    w.open(key(&lib), LIB.into(), 1);

    // Just written: its stamp may not change when it is rewritten now, so
    // it is read on every look.
    std::fs::write(&main, importing("lib.iot")).unwrap();
    assert_eq!(w.root_of(&key(&lib)), key(&main));
    let reads = w.disk_reads();
    assert_eq!(w.root_of(&key(&lib)), key(&main));
    assert_eq!(w.disk_reads(), reads + 1, "a fresh file is read again");

    // Rewritten with the same length and then given the same time it had:
    // the stamp is identical, the content is not.
    let stamp = std::fs::metadata(&main).unwrap().modified().unwrap();
    let same_length = importing("lib.iox");
    assert_eq!(same_length.len(), importing("lib.iot").len());
    std::fs::write(&main, &same_length).unwrap();
    File::open(&main).unwrap().set_modified(stamp).unwrap();
    assert_eq!(w.root_of(&key(&lib)), key(&lib));

    remove(&dir);
}
