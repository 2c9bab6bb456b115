//! The fuzz harness (`fuzz/pipeline.rs`) as ordinary tests: every seed
//! (examples, error fixtures, the stdlib) and every kept regression input
//! (`fuzz/regressions/`, `compiler/tests/data/hostile/`) goes through the
//! whole pipeline. Also the
//! in-process fuzzer that `.ci/fuzz` falls back to without a nightly
//! toolchain (ignored here; see `fuzz/README.md`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;
#[path = "../../fuzz/pipeline.rs"]
mod pipeline;

use std::path::{Path, PathBuf};

/// Every `.iot` file under `dir`, sorted.
fn iot_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            iot_files(&p, out);
        } else if p.extension().and_then(|e| e.to_str()) == Some("iot") {
            out.push(p);
        }
    }
}

fn seeds() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["examples", "stdlib"] {
        iot_files(&common::root().join(dir), &mut files);
    }
    files
}

/// The kept regression inputs: `fuzz/regressions/` and the hostile-input
/// reproducers of the depth and size limits (`compiler/tests/data/hostile/`).
fn regressions() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["fuzz/regressions", "compiler/tests/data/hostile"] {
        let dir = common::root().join(dir);
        files.extend(std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()));
    }
    // A 2,500-service count cycle: through the whole harness (the language
    // server's features at eight positions) it takes ~35 s in a debug
    // build; `compiler/tests` and `cli/tests/hostile.rs` replay it.
    files
        .retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "iot") && !p.ends_with("hostile/cycle_2500.iot"));
    files.sort();
    files
}

#[test]
fn every_seed_goes_through_the_whole_pipeline() {
    let seeds = seeds();
    assert!(seeds.len() >= 40, "only {} seeds", seeds.len());
    for p in seeds {
        eprintln!("{}", p.display());
        pipeline::run(&std::fs::read(&p).unwrap());
    }
}

#[test]
fn every_kept_regression_input_goes_through_the_whole_pipeline() {
    let files = regressions();
    assert!(files.len() >= 30, "only {} regression inputs", files.len());
    for p in files {
        eprintln!("{}", p.display());
        pipeline::run(&std::fs::read(&p).unwrap());
    }
}

/// `IOTC_FUZZ_INPUT=FILE cargo test -p iotc --test fuzz_regressions
/// replay -- --nocapture` runs one file (a crash libFuzzer found) through
/// the harness; without the variable this does nothing.
#[test]
fn replay() {
    if let Some(p) = std::env::var_os("IOTC_FUZZ_INPUT") {
        pipeline::run(&std::fs::read(p).unwrap());
    }
}

/// The harness really checks: a formatter that is not idempotent or a
/// span outside its file would be caught (a harness that cannot fail is a
/// defect). Here: a valid program's plan and backends run, and non-UTF-8
/// input stops quietly.
#[test]
fn the_harness_builds_a_valid_program_and_ignores_non_utf8() {
    let text = std::fs::read_to_string(common::root().join("examples/city/city.iot")).unwrap();
    let db = iotc_compiler::source::MemoryDb::new().with(pipeline::MAIN, &text);
    let a = iotc_compiler::analyze(&db, pipeline::MAIN, &iotc_compiler::Overrides::default());
    assert!(a.solution.is_some(), "{:#?}", a.diagnostics);
    pipeline::run(text.as_bytes());
    pipeline::run(b"fleet \xff\xfe {");
}

/// A small deterministic generator, so a run reproduces from its seed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "=",
    "\"",
    "\n",
    " per ",
    " of ",
    "gateways",
    "replicas",
    "min(",
    "max(",
    "fleet f ",
    "site s ",
    "service s on c ",
    "cluster c ",
    "import std.",
    "solution x ",
    "1",
    "0",
    "-1",
    "2147483648",
    "\\u{",
    "{{ x }}",
    "<<",
    "\u{2028}",
    "\u{feff}",
    "\r",
    "\0",
    "//",
    "/*",
    "..",
    "$${",
    "@daily",
];

/// One mutation of `input`, from a corpus of `inputs`: delete, duplicate or
/// replace a range, insert a token, or splice in part of another input.
fn mutate(rng: &mut Lcg, input: &[u8], inputs: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = v.len();
        let (a, b) = {
            let a = rng.below(len + 1);
            (a, a + rng.below(len - a + 1).min(64))
        };
        match rng.below(5) {
            0 => {
                v.drain(a..b);
            }
            1 => {
                let chunk = v[a..b].to_vec();
                for _ in 0..=rng.below(8) {
                    v.splice(a..a, chunk.iter().copied());
                }
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(a..a, t.iter().copied());
            }
            3 => {
                let other = &inputs[rng.below(inputs.len())];
                let s = rng.below(other.len() + 1);
                let e = s + rng.below(other.len() - s + 1).min(256);
                v.splice(a..b, other[s..e].iter().copied());
            }
            _ => {
                if a < len {
                    v[a] = rng.below(256) as u8;
                }
            }
        }
    }
    v
}

/// The in-process fuzzer (no coverage guidance): random mutations of the
/// seeds and regression inputs for `IOTC_FUZZ_SECONDS` (default 60) from
/// `IOTC_FUZZ_SEED` (default 1). A failing input is written to
/// `target/fuzz-failure.iot` before the panic is passed on.
#[test]
#[ignore = "a time-bounded fuzz run; .ci/fuzz runs it when there is no nightly toolchain"]
fn in_process_fuzz() {
    let seconds: u64 = std::env::var("IOTC_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed: u64 = std::env::var("IOTC_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let inputs: Vec<Vec<u8>> = seeds()
        .into_iter()
        .chain(regressions())
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let mut rng = Lcg(seed);
    let start = std::time::Instant::now();
    let mut runs = 0u64;
    while start.elapsed().as_secs() < seconds {
        let base = &inputs[rng.below(inputs.len())];
        let input = mutate(&mut rng, base, &inputs);
        if let Err(panic) = std::panic::catch_unwind(|| pipeline::run(&input)) {
            let path = common::root().join("target/fuzz-failure.iot");
            let _ = std::fs::write(&path, &input);
            eprintln!("failing input (run {runs}, seed {seed}) written to {}", path.display());
            std::panic::resume_unwind(panic);
        }
        runs += 1;
    }
    eprintln!(
        "in-process fuzz: {runs} inputs in {:.0} s ({:.1}/s), seed {seed}",
        start.elapsed().as_secs_f64(),
        runs as f64 / start.elapsed().as_secs_f64()
    );
}
