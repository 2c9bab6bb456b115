//! Broken and half-typed input is the normal case: cut every example at many
//! byte offsets and garble its tokens; `check` must always return
//! diagnostics, never panic or hang.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use iotc_compiler::source::MemoryDb;
use iotc_compiler::{analyze, Overrides};

/// The example's files, with the root replaced by `text`.
fn db_with(root: &str, text: &str) -> MemoryDb {
    let mut db = MemoryDb::new();
    let dir = std::path::Path::new(root).parent().unwrap();
    for entry in std::fs::read_dir(common::root().join(dir)).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) == Some("iot") {
            let rel = format!("{}/{}", dir.display(), p.file_name().unwrap().to_string_lossy());
            db = db.with(&rel, &std::fs::read_to_string(&p).unwrap());
        }
    }
    db.with(root, text)
}

fn run(root: &str, text: &str) {
    let a = analyze(&db_with(root, text), root, &Overrides::default());
    for d in &a.diagnostics {
        let f = a
            .program
            .sources
            .get(d.primary.span.file)
            .expect("diagnostic points into a known file");
        assert!(
            d.primary.span.end as usize <= f.text.len(),
            "span past the end of the file"
        );
        assert!(
            f.text.is_char_boundary(d.primary.span.start as usize),
            "span not on a char boundary"
        );
    }
}

#[test]
fn every_prefix_cut_still_checks() {
    for root in common::examples() {
        let text = std::fs::read_to_string(common::root().join(&root)).unwrap();
        let mut cut = 0;
        let step = (text.len() / 300).max(1);
        while cut <= text.len() {
            if text.is_char_boundary(cut) {
                run(&root, &text[..cut]);
            }
            cut += step;
        }
    }
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
}

#[test]
fn garbled_tokens_still_check() {
    let junk = [
        "{",
        "}",
        "}}",
        "=",
        "per",
        "of",
        "min",
        "max",
        "on",
        "where",
        "\"",
        "///",
        "-",
        "/",
        "0",
        "(",
        ")",
        "[",
        "]",
        ",",
        "service",
        "template",
        "fleet x {",
        "1 per",
        "gateways of",
        "é",
        "9999999999999999999999",
        "1/0",
    ];
    let mut rng = Lcg(0x1077);
    for root in common::examples() {
        let text = std::fs::read_to_string(common::root().join(&root)).unwrap();
        let tokens: Vec<&str> = text.split_inclusive(|c: char| c.is_whitespace()).collect();
        for _ in 0..150 {
            let mut t: Vec<String> = tokens.iter().map(|s| s.to_string()).collect();
            for _ in 0..(1 + rng.next() % 4) {
                let i = rng.next() % t.len();
                match rng.next() % 3 {
                    0 => t[i] = format!("{} ", junk[rng.next() % junk.len()]),
                    1 => t[i] = String::new(),
                    _ => {
                        let j = rng.next() % t.len();
                        t.swap(i, j);
                    }
                }
            }
            run(&root, &t.concat());
        }
    }
}
