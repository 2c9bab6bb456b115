#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! `analyze_names` (load and index, no check), from which the language
//! server answers navigation while a full check is due, knows exactly the
//! names a full `analyze` knows: for every example and stdlib module the
//! name index is the same, and its diagnostics are the loader's.

use iotc_compiler::source::MemoryDb;
use iotc_compiler::{analyze, analyze_names, ide, Overrides};

mod common;

#[test]
fn the_names_of_a_loaded_program_are_those_of_a_checked_one() {
    let mut roots: Vec<(MemoryDb, String)> = common::EXAMPLES
        .iter()
        .map(|name| {
            (
                common::db_of(&common::example_files(name)),
                format!("{name}/{name}.iot"),
            )
        })
        .collect();
    for (module, _) in iotc_compiler::stdlib::MODULES {
        roots.push((
            MemoryDb::new().with("m.iot", &format!("import std.{module}\n")),
            "m.iot".into(),
        ));
    }
    // A program with errors in its checks (not its syntax) too.
    roots.push((
        MemoryDb::new().with(
            "e.iot",
            "solution s { version = \"1\" }\nservice a on nowhere { image = \"x\" replicas = b.replicas }\n",
        ),
        "e.iot".into(),
    ));
    for (db, root) in &roots {
        let full = analyze(db, root, &Overrides::default());
        let names = analyze_names(db, root, None);
        assert_eq!(
            format!("{:?}", ide::index(&names.program)),
            format!("{:?}", ide::index(&full.program)),
            "{root}"
        );
        assert!(names.solution.is_none() && names.counts.is_empty());
        // Its diagnostics are the loader's: a subset of the full check's.
        for d in &names.diagnostics {
            assert!(full.diagnostics.contains(d), "{root}: {d:?}");
        }
    }
}
