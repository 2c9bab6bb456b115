//! One feature at one cursor, in the style of rust-analyzer's fixtures:
//! each test is a small `.iot` text with a `$0` marker where the cursor is.
//! `fixture` strips the marker, analyses the text on a `World` of
//! in-memory documents (as `engine.rs` does) and hands the feature the
//! analysis, the file and the marker's byte offset.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use iotc_compiler::source::{FileId, Origin, Span};
use iotc_lsp::features::{self, Completion, CompletionKind, SymbolNode};
use iotc_lsp::world::{Analyzed, StdFiles, World};

const MAIN: &str = "/virtual/main.iot";

/// A fixture's analysis and the cursor in it.
struct At<'a> {
    a: &'a Analyzed,
    file: FileId,
    offset: usize,
    /// The text without the marker.
    text: &'a str,
}

impl At<'_> {
    /// The text of a span of this file.
    fn slice(&self, span: Span) -> &str {
        assert_eq!(span.file, self.file, "the span is in the fixture's file");
        &self.text[span.range()]
    }
}

/// Analyse `fixture` without its `$0` marker and run `f` at the marker.
fn fixture<R>(fixture: &str, f: impl FnOnce(&At) -> R) -> R {
    let offset = fixture.find("$0").expect("the fixture has a $0 marker");
    let text = fixture.replacen("$0", "", 1);
    assert!(!text.contains("$0"), "one $0 marker per fixture");
    let mut w = World::new(StdFiles::none());
    w.open(MAIN.into(), text.clone(), 1);
    w.refresh();
    let a = w.get(MAIN).expect("the fixture is analysed");
    let file = features::file_of(a, &Origin::Path(MAIN.into())).expect("the fixture is loaded");
    f(&At {
        a,
        file,
        offset,
        text: &text,
    })
}

/// The same, for a fixture that must check without errors.
fn clean<R>(text: &str, f: impl FnOnce(&At) -> R) -> R {
    fixture(text, |at| {
        let errors: Vec<_> = at.a.analysis.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        f(at)
    })
}

fn hover(text: &str) -> (String, String) {
    clean(text, |at| {
        let h = features::hover(at.a, at.file, at.offset).expect("a hover at $0");
        (h.markdown, at.slice(h.span).to_string())
    })
}

fn completions(text: &str) -> Vec<Completion> {
    fixture(text, |at| features::completions(at.a, at.file, at.offset))
}

fn labels(items: &[Completion]) -> Vec<&str> {
    items.iter().map(|c| c.label.as_str()).collect()
}

/// A fleet of two sites and a workload on it; `$0` goes in with `replace`.
const PLANTS: &str = r#"solution demo { version = "1.0.0" }

import std.devices

/// The plants, one gateway per line.
fleet plants {
  device = std.devices.rpi5
  runtime = k3s
  site north { gateways = 4  hosts = "gw{n}.north" }
  site south { gateways = 2  hosts = "gw{n}.south" }
}

service bridge on plants {
  image = "ghcr.io/acme/bridge:1.0"
  replicas = 1 per gateway
}
"#;

/// `PLANTS` with `$0` put before the first `needle`, `shift` bytes in.
fn plants_at(needle: &str, shift: usize) -> String {
    let at = PLANTS.find(needle).expect("needle in PLANTS") + shift;
    format!("{}$0{}", &PLANTS[..at], &PLANTS[at..])
}

// ------------------------------------------------------------------ hover

#[test]
fn hover_on_a_keyword_shows_the_keyword_and_its_doc() {
    let (md, span) = hover(&plants_at("fleet plants", 2));
    assert_eq!(span, "fleet");
    assert_eq!(
        md,
        "```iot\nfleet\n```\n\nThe edge tier: gateway devices at sites, served by a runtime."
    );
}

#[test]
fn hover_on_a_field_shows_its_type() {
    let (md, span) = hover(&plants_at("runtime = k3s", 3));
    assert_eq!(span, "runtime");
    assert!(
        md.starts_with("```iot\nruntime = …\n```\n\nContainer runtime: "),
        "{md}"
    );
    assert!(md.ends_with("\n\nType: a runtime · required"), "{md}");
}

#[test]
fn hover_on_a_reference_shows_the_declaration_and_its_doc_comment() {
    let (md, span) = hover(&plants_at("on plants", 5));
    assert_eq!(span, "plants");
    assert_eq!(md, "```iot\nfleet plants\n```\n\nThe plants, one gateway per line.");
}

#[test]
fn hover_on_a_linked_count_shows_its_value() {
    let (md, span) = hover(&plants_at("replicas = 1 per gateway", 0));
    assert_eq!(span, "replicas");
    let (field, counts) = md.split_once("\n\n---\n\n").expect("the field's doc, then its counts");
    assert!(field.starts_with("```iot\nreplicas = …\n```"), "{field}");
    assert_eq!(
        counts,
        "- `replicas` at site `north`: `4 = ceil(1 × 4 gateways at the site ÷ 1)`\n\
         - `replicas` at site `south`: `2 = ceil(1 × 2 gateways at the site ÷ 1)`\n\
         - total: `6`"
    );
}

#[test]
fn hover_on_a_stdlib_import_lists_the_module_items() {
    let (md, span) = hover(&plants_at("devices", 3));
    assert_eq!(span, "devices");
    assert_eq!(
        md,
        "```iot\nimport std.devices\n```\n\nThe stdlib module `std.devices`: \
         `rpi4`, `rpi5`, `jetson_orin_nano`, `x86_gateway`, `cm4_solar`."
    );
}

// ------------------------------------------------------------- completion

#[test]
fn completion_at_top_level_lists_the_item_keywords_in_grammar_order() {
    let items = completions("solution s { version = \"1\" }\n$0\n");
    assert_eq!(labels(&items), features::TOP_KEYWORDS);
    assert_eq!(
        labels(&items),
        [
            "solution", "import", "param", "cluster", "fleet", "service", "daemon", "job", "model", "template",
            "device", "runtime", "serving", "external"
        ]
    );
    assert!(items.iter().all(|c| c.kind == CompletionKind::Keyword));
    let fleet = items.iter().find(|c| c.label == "fleet").unwrap();
    assert_eq!(
        fleet.doc.as_deref(),
        Some("The edge tier: gateway devices at sites, served by a runtime.")
    );
}

#[test]
fn completion_inside_a_service_body_lists_its_fields_and_blocks() {
    let items = completions(&PLANTS.replace("  replicas = 1 per gateway\n", "  replicas = 1 per gateway\n  $0\n"));
    let image = items.iter().find(|c| c.label == "image").expect("image is offered");
    assert_eq!(image.kind, CompletionKind::Field);
    assert_eq!(image.insert.as_deref(), Some("image = "));
    let env = items.iter().find(|c| c.label == "env").expect("env is offered");
    assert_eq!(env.kind, CompletionKind::Block);
    assert_eq!(env.insert.as_deref(), Some("env {\n  $0\n}"));
    let secret = items.iter().find(|c| c.label == "secret").expect("secret is offered");
    assert_eq!(secret.kind, CompletionKind::Keyword);
    let labels = labels(&items);
    assert!(
        labels.contains(&"replicas") && labels.contains(&"talks_to"),
        "{labels:?}"
    );
    // A fleet's fields are not a service's.
    assert!(!labels.contains(&"runtime") && !labels.contains(&"site"), "{labels:?}");
}

#[test]
fn completion_after_a_dot_lists_the_members() {
    let items = completions(&PLANTS.replace("std.devices.rpi5", "std.devices.$0"));
    assert_eq!(
        labels(&items),
        ["rpi4", "rpi5", "jetson_orin_nano", "x86_gateway", "cm4_solar"]
    );
    assert!(items.iter().all(|c| c.kind == CompletionKind::Reference));
    let items = completions(&PLANTS.replace("std.devices.rpi5", "std.$0"));
    assert_eq!(labels(&items), ["cloud", "devices", "ml", "runtimes", "services"]);
    assert!(items.iter().all(|c| c.kind == CompletionKind::Module));
    let items = completions(&format!("{PLANTS}\nservice s on plants.$0\n"));
    assert_eq!(labels(&items), ["north", "south"]);
}

#[test]
fn completion_after_import_lists_the_stdlib_modules() {
    let items = completions(&PLANTS.replace("import std.devices", "import $0"));
    assert_eq!(
        labels(&items),
        ["std.cloud", "std.devices", "std.ml", "std.runtimes", "std.services"]
    );
    let devices = items.iter().find(|c| c.label == "std.devices").unwrap();
    assert!(devices
        .doc
        .as_deref()
        .unwrap()
        .starts_with("The stdlib module `std.devices`: `rpi4`"));
}

#[test]
fn completion_of_a_value_lists_what_fits_the_field() {
    let items = completions(&PLANTS.replace("runtime = k3s", "runtime = $0"));
    assert_eq!(labels(&items), ["k3s", "microk8s", "docker"]);
    assert!(items.iter().all(|c| c.kind == CompletionKind::Reference));
}

// ------------------------------------------------------------- navigation

#[test]
fn definition_of_a_reference_is_the_declared_name() {
    clean(&plants_at("on plants", 6), |at| {
        let span = features::definition(at.a, at.file, at.offset).expect("a definition");
        assert_eq!(at.slice(span), "plants");
        assert!(at.text[..span.start as usize].ends_with("fleet "));
    });
}

#[test]
fn references_count_every_use_and_the_declaration_if_asked() {
    let text = format!(
        "{PLANTS}\nservice ingest on plants {{\n  image = \"x:1\"\n  replicas = 1 per 2 gateways of plants\n}}\n"
    );
    let text = text.replacen("fleet plants", "fleet pl$0ants", 1);
    clean(&text, |at| {
        let target = features::target_at(at.a, at.file, at.offset).expect("a target");
        assert_eq!(at.slice(target), "plants");
        let with = features::references(at.a, target, true);
        let without = features::references(at.a, target, false);
        assert_eq!((with.len(), without.len()), (4, 3), "{with:?}");
        assert_eq!(with[0], target);
        assert!(with.iter().all(|s| at.slice(*s) == "plants"));
    });
}

#[test]
fn rename_checks_the_new_name() {
    assert_eq!(features::check_new_name("edge_plants"), Ok(()));
    assert_eq!(
        features::check_new_name("fleet"),
        Err("`fleet` is a keyword".to_string())
    );
    assert_eq!(
        features::check_new_name("9lives"),
        Err("`9lives` is not a name: use letters, digits and `_`, starting with a letter or `_`".to_string())
    );
    assert!(features::check_new_name("a-b").is_err());
    assert_eq!(features::check_new_name(""), Err("a name cannot be empty".to_string()));
}

// ---------------------------------------------------------------- symbols

#[test]
fn document_symbols_nest_sites_under_their_fleet() {
    clean(&plants_at("fleet", 0), |at| {
        fn outline(nodes: &[SymbolNode]) -> Vec<String> {
            nodes
                .iter()
                .map(|n| {
                    let children = outline(&n.children);
                    if children.is_empty() {
                        format!("{} {}", n.kind, n.name)
                    } else {
                        format!("{} {} [{}]", n.kind, n.name, children.join(", "))
                    }
                })
                .collect()
        }
        let symbols = features::document_symbols(at.a, at.file);
        assert_eq!(
            outline(&symbols),
            [
                "solution demo",
                "fleet plants [site north, site south]",
                "service bridge"
            ]
        );
        let plants = symbols.iter().find(|s| s.name == "plants").unwrap();
        assert_eq!(at.slice(plants.name_span), "plants");
        // The whole declaration, its doc comment included.
        let full = at.slice(plants.full_span);
        assert!(
            full.starts_with("/// The plants, one gateway per line.\nfleet plants {\n"),
            "{full}"
        );
        assert!(full.ends_with("\"gw{n}.south\" }\n}"), "{full}");
        let north = &plants.children[0];
        assert_eq!(at.slice(north.name_span), "north");
        assert_eq!(
            at.slice(north.full_span),
            "site north { gateways = 4  hosts = \"gw{n}.north\" }"
        );
    });
}

// ------------------------------------------------------------ inlay hints

#[test]
fn inlay_hint_shows_the_value_of_a_linked_count_right_after_it() {
    // The literal `gateways = 4` and `= 2` get none.
    clean(&PLANTS.replace("1 per gateway", "1 per gateway$0"), |at| {
        let hints = features::inlay_hints(at.a, at.file);
        let labels: Vec<(usize, &str)> = hints.iter().map(|h| (h.offset, h.label.as_str())).collect();
        assert_eq!(labels, [(at.offset, " = north 4, south 2 (total 6)")]);
    });
}

#[test]
fn inlay_hint_shows_a_count_computed_from_a_param() {
    let text = PLANTS
        .replace("import std.devices\n", "import std.devices\n\nparam factor: int = 3\n")
        .replace("gateways = 2  hosts", "gateways = 2 * factor$0  hosts");
    clean(&text, |at| {
        let hints = features::inlay_hints(at.a, at.file);
        let labels: Vec<(usize, &str)> = hints.iter().map(|h| (h.offset, h.label.as_str())).collect();
        assert!(labels.contains(&(at.offset, " = 6")), "{labels:?}");
    });
}

// ----------------------------------------------------------- code actions

#[test]
fn a_misspelt_field_gets_a_did_you_mean_fix() {
    let text = PLANTS.replace("replicas = 1 per gateway", "repl$0cas = 1 per gateway");
    fixture(&text, |at| {
        let fixes = features::fixes(at.a, at.file, at.offset, at.offset);
        assert_eq!(fixes.len(), 1, "{fixes:?}");
        let fix = &fixes[0];
        assert_eq!(fix.title, "replace with `replicas`");
        assert_eq!(fix.replacement, "replicas");
        assert_eq!(at.slice(fix.span), "replcas");
        let d = &at.a.analysis.diagnostics[fix.diagnostic];
        assert_eq!(d.primary.span, fix.span);
    });
}
