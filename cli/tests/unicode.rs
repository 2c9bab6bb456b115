//! Spans are byte offsets, also past non-ASCII text.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use iotc_compiler::diag::Code;
use iotc_compiler::source::MemoryDb;
use iotc_compiler::{analyze, Overrides};

#[test]
fn non_ascii_identifiers_and_strings_keep_exact_spans() {
    let text = "// Überwachung — ☃\nsolution fabrik { version = \"1.0\" description = \"Größe ✓\" }\nparam größe: int = 2\nfleet halle { device = std.devices.rpi5  runtime = k3s\n  site süd { gateways = größe  hosts = \"gw{n}.sued.example\" }\n}\nservice café on halle { image = \"ghcr.io/acme/cafe:1.0\" }\n";
    let db = MemoryDb::new().with("main.iot", text);
    let a = analyze(&db, "main.iot", &Overrides::default());
    let src = &a.program.sources;
    // `std.devices` is not imported: the span covers exactly the path.
    let e0101 = a.diagnostics.iter().find(|d| d.code == Code::E0101).unwrap();
    assert_eq!(src.text(e0101.primary.span), "std.devices.rpi5");
    // Names that become Kubernetes names must be ASCII: exact spans on them.
    let names: Vec<&str> = a
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::E0206)
        .map(|d| src.text(d.primary.span))
        .collect();
    assert!(names.contains(&"süd"), "{names:?}");
    assert!(names.contains(&"café"), "{names:?}");
    // The param named `größe` is used, so no unused warning.
    assert!(!a.diagnostics.iter().any(|d| d.code == Code::W0102));
}

#[test]
fn syntax_error_after_multibyte_text_points_at_the_token() {
    let text = "solution s { description = \"日本語\" version = }\n";
    let db = MemoryDb::new().with("m.iot", text);
    let a = analyze(&db, "m.iot", &Overrides::default());
    let d = a.diagnostics.iter().find(|d| d.code == Code::E0001).unwrap();
    assert_eq!(a.program.sources.text(d.primary.span), "}");
    assert_eq!(d.primary.span.start as usize, text.find(" }").unwrap() + 1);
}
