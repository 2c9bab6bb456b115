//! The engine without JSON-RPC: fixtures with a `$0` cursor marker, checked
//! through `features` on a `World` of in-memory documents.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use iotc_compiler::source::Origin;
use iotc_lsp::features::{self, CompletionKind};
use iotc_lsp::server;
use iotc_lsp::world::{StdFiles, World};

const MAIN: &str = "/virtual/main.iot";

const SOLUTION: &str = r#"solution demo {
  version = "1.0.0"
}

import std.devices
import std.cloud

/// How many gateways each site has.
param factor: int = 3 { min = 1 }

cluster cloud {
  provider = aws { region = "eu-west-1" }
  node = std.cloud.aws_m6i_xlarge
  nodes = 1 per 4 gateways of plants min 2
}

/// The plants, one gateway per line.
fleet plants {
  device = std.devices.rpi5
  runtime = k3s
  site north { gateways = 4 * factor  hosts = "gw{n}.north" }
  site south { gateways = factor  hosts = "gw{n}.south" }
}

/// Takes readings from every plant.
service ingest on cloud {
  image = "ghcr.io/acme/ingest:1.0"
  replicas = 1 per 5 gateways of plants
}

service bridge on plants {
  image = "ghcr.io/acme/bridge:1.0"
  replicas = 1 per gateway
  talks_to = [ingest]
}
"#;

/// The text without its `$0` marker, and the marker's byte offset.
fn cursor(fixture: &str) -> (String, usize) {
    let at = fixture.find("$0").expect("fixture has a $0 marker");
    (fixture.replacen("$0", "", 1), at)
}

/// Put `$0` before the `nth` occurrence of `needle` (plus `shift` bytes).
fn mark(text: &str, needle: &str, nth: usize, shift: usize) -> String {
    let at = text.match_indices(needle).nth(nth).expect("needle in text").0 + shift;
    format!("{}$0{}", &text[..at], &text[at..])
}

fn world_with(text: &str) -> World {
    let mut w = World::new(StdFiles::none());
    w.open(MAIN.into(), text.into(), 1);
    w.refresh();
    w
}

fn hover_at(fixture: &str) -> Option<String> {
    let (text, offset) = cursor(fixture);
    let w = world_with(&text);
    let a = w.get(MAIN).unwrap();
    let file = features::file_of(a, &Origin::Path(MAIN.into())).unwrap();
    features::hover(a, file, offset).map(|h| h.markdown)
}

fn completion_labels(fixture: &str) -> Vec<String> {
    let (text, offset) = cursor(fixture);
    let w = world_with(&text);
    let a = w.get(MAIN).unwrap();
    let file = features::file_of(a, &Origin::Path(MAIN.into())).unwrap();
    features::completions(a, file, offset)
        .into_iter()
        .map(|c| c.label)
        .collect()
}

#[test]
fn the_fixture_checks_without_errors() {
    let w = world_with(SOLUTION);
    let a = w.get(MAIN).unwrap();
    let errors: Vec<_> = a.analysis.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn hover_on_a_keyword_shows_its_doc() {
    let md = hover_at(&mark(SOLUTION, "fleet plants", 0, 1)).unwrap();
    assert!(md.contains("The edge tier"), "{md}");
    insta::assert_snapshot!("hover_keyword_fleet", md);
}

#[test]
fn hover_on_a_field_shows_doc_type_and_default() {
    let md = hover_at(&mark(SOLUTION, "runtime = k3s", 0, 2)).unwrap();
    insta::assert_snapshot!("hover_field_runtime", md);
    let md = hover_at(&mark(SOLUTION, "replicas = 1 per gateway", 0, 0)).unwrap();
    insta::assert_snapshot!("hover_field_replicas_of_a_fleet_service", md);
}

#[test]
fn hover_on_a_reference_shows_the_declaration_doc_comment() {
    let md = hover_at(&mark(SOLUTION, "on plants", 0, 4)).unwrap();
    insta::assert_snapshot!("hover_reference_fleet", md);
    let md = hover_at(&mark(SOLUTION, "rpi5", 0, 1)).unwrap();
    insta::assert_snapshot!("hover_reference_stdlib_device", md);
    let md = hover_at(&mark(SOLUTION, "factor  hosts", 0, 1)).unwrap();
    insta::assert_snapshot!("hover_reference_param", md);
}

#[test]
fn hover_on_a_linked_count_shows_its_value() {
    // 4 × 3 + 3 = 15 gateways; ceil(15 ÷ 5) = 3.
    let md = hover_at(&mark(SOLUTION, "1 per 5 gateways", 0, 3)).unwrap();
    insta::assert_snapshot!("hover_count_of_a_cloud_service", md);
    // Per site: one bridge per gateway (the field's hover ends with it).
    let md = hover_at(&mark(SOLUTION, "replicas = 1 per gateway", 0, 0)).unwrap();
    insta::assert_snapshot!("hover_field_replicas_of_a_fleet_service", md);
}

#[test]
fn completion_at_top_level_offers_keywords() {
    let labels = completion_labels(&format!("{SOLUTION}\nfl$0"));
    insta::assert_snapshot!("complete_top_level", labels.join("\n"));
}

#[test]
fn completion_in_a_block_offers_its_fields_and_blocks() {
    let labels = completion_labels(&format!("{SOLUTION}\nservice x on plants {{\n  re$0\n}}\n"));
    insta::assert_snapshot!("complete_service_body", labels.join("\n"));
    // Half-typed, unclosed input still knows where it is.
    let labels = completion_labels(&format!("{SOLUTION}\nfleet f {{\n  site s {{\n    ga$0"));
    insta::assert_snapshot!("complete_unclosed_site_body", labels.join("\n"));
}

#[test]
fn completion_after_std_offers_modules_and_members() {
    let labels = completion_labels(&mark(SOLUTION, "devices.rpi5", 0, 0).replace("$0devices.rpi5", "$0"));
    assert!(labels.contains(&"devices".to_string()), "{labels:?}");
    let labels = completion_labels(&mark(SOLUTION, "rpi5", 0, 0).replace("$0rpi5", "$0"));
    assert!(labels.contains(&"rpi5".to_string()), "{labels:?}");
    assert!(labels.contains(&"jetson_orin_nano".to_string()), "{labels:?}");
}

#[test]
fn completion_of_enum_and_reference_values() {
    let labels = completion_labels(&format!("{SOLUTION}\nmodel m {{\n  format = $0\n}}\n"));
    assert!(labels.contains(&"onnx".to_string()), "{labels:?}");
    let labels = completion_labels(&format!("{SOLUTION}\ncluster c {{\n  distribution = $0\n}}\n"));
    assert!(labels.contains(&"microk8s".to_string()), "{labels:?}");
    let labels = completion_labels(&format!("{SOLUTION}\nfleet f {{\n  runtime = $0\n}}\n"));
    assert!(labels.contains(&"k3s".to_string()), "{labels:?}");
    assert!(labels.contains(&"docker".to_string()), "{labels:?}");
    let labels = completion_labels(&format!("{SOLUTION}\nservice s on plants {{\n  arch = [$0\n}}\n"));
    assert!(labels.contains(&"arm64".to_string()), "{labels:?}");
    let labels = completion_labels(&format!("{SOLUTION}\nservice s on $0"));
    assert_eq!(labels, vec!["cloud".to_string(), "plants".to_string()]);
    let labels = completion_labels(&format!("{SOLUTION}\nservice s on plants {{\n  talks_to = [$0\n}}\n"));
    assert!(labels.contains(&"ingest".to_string()), "{labels:?}");
}

#[test]
fn completion_items_carry_docs_and_snippets() {
    let (text, offset) = cursor(&format!("{SOLUTION}\nservice x on plants {{\n  $0\n}}\n"));
    let w = world_with(&text);
    let a = w.get(MAIN).unwrap();
    let file = features::file_of(a, &Origin::Path(MAIN.into())).unwrap();
    let items = features::completions(a, file, offset);
    let image = items.iter().find(|c| c.label == "image").unwrap();
    assert_eq!(image.kind, CompletionKind::Field);
    assert!(image.doc.as_deref().unwrap().contains("Container image"));
    let env = items.iter().find(|c| c.label == "env").unwrap();
    assert!(env.insert.as_deref().unwrap().contains('{'));
}

#[test]
fn goto_definition_finds_user_and_stdlib_items() {
    let (text, offset) = cursor(&mark(SOLUTION, "on plants", 0, 5));
    let w = world_with(&text);
    let a = w.get(MAIN).unwrap();
    let file = features::file_of(a, &Origin::Path(MAIN.into())).unwrap();
    let span = features::definition(a, file, offset).unwrap();
    assert_eq!(&text[span.range()], "plants");
    assert!(text[..span.start as usize].ends_with("fleet "));

    let (text, offset) = cursor(&mark(SOLUTION, "rpi5", 0, 2));
    let w = world_with(&text);
    let a = w.get(MAIN).unwrap();
    let file = features::file_of(a, &Origin::Path(MAIN.into())).unwrap();
    let span = features::definition(a, file, offset).unwrap();
    let src = a.analysis.program.sources.get(span.file).unwrap();
    assert_eq!(src.origin, Origin::Std("devices".into()));
    assert_eq!(src.slice(span), "rpi5");
}

#[test]
fn references_include_every_use() {
    let (text, offset) = cursor(&mark(SOLUTION, "fleet plants", 0, 7));
    let w = world_with(&text);
    let a = w.get(MAIN).unwrap();
    let file = features::file_of(a, &Origin::Path(MAIN.into())).unwrap();
    let target = features::target_at(a, file, offset).unwrap();
    let refs = features::references(a, target, true);
    // The declaration, `gateways of plants` twice and `on plants`.
    assert_eq!(refs.len(), 4, "{refs:?}");
    assert!(refs.iter().all(|s| &text[s.range()] == "plants"));
}

#[test]
fn rename_rejects_keywords_and_bad_identifiers() {
    assert!(features::check_new_name("edge_plants").is_ok());
    assert!(features::check_new_name("usine_é").is_ok());
    assert!(features::check_new_name("on").is_err());
    assert!(features::check_new_name("service").is_err());
    assert!(features::check_new_name("9lives").is_err());
    assert!(features::check_new_name("a-b").is_err());
    assert!(features::check_new_name("").is_err());
}

#[test]
fn document_symbols_nest_sites_under_fleets() {
    let w = world_with(SOLUTION);
    let a = w.get(MAIN).unwrap();
    let file = features::file_of(a, &Origin::Path(MAIN.into())).unwrap();
    let symbols = features::document_symbols(a, file);
    let names: Vec<&str> = symbols.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["demo", "factor", "cloud", "plants", "ingest", "bridge"]);
    let plants = symbols.iter().find(|s| s.name == "plants").unwrap();
    let sites: Vec<&str> = plants.children.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(sites, ["north", "south"]);
}

#[test]
fn inlay_hints_show_linked_counts_per_site_and_in_total() {
    let w = world_with(SOLUTION);
    let a = w.get(MAIN).unwrap();
    let file = features::file_of(a, &Origin::Path(MAIN.into())).unwrap();
    let hints = features::inlay_hints(a, file);
    let labels: Vec<&str> = hints.iter().map(|h| h.label.as_str()).collect();
    assert!(labels.contains(&" = north 12, south 3 (total 15)"), "{labels:?}");
    assert!(labels.contains(&" = 3"), "{labels:?}");
    // `nodes = 1 per 4 gateways of plants min 2` = ceil(15 ÷ 4) = 4.
    assert!(labels.contains(&" = 4"), "{labels:?}");
    // The hint sits right after the expression.
    let h = hints.iter().find(|h| h.label == " = 3").unwrap();
    assert!(SOLUTION[..h.offset].ends_with("1 per 5 gateways of plants"));
}

#[test]
fn inlay_hints_in_a_range_are_those_of_the_whole_file_there() {
    let w = world_with(SOLUTION);
    let a = w.get(MAIN).unwrap();
    let file = features::file_of(a, &Origin::Path(MAIN.into())).unwrap();
    let all = features::inlay_hints(a, file);
    assert!(all.len() >= 3, "{all:?}");
    // Every window, from a byte to the end of every line after it: the
    // hints placed in it, no more and no fewer.
    let ends: Vec<usize> = SOLUTION.match_indices('\n').map(|(i, _)| i).collect();
    for lo in (0..SOLUTION.len()).step_by(7) {
        for &hi in ends.iter().filter(|e| **e >= lo) {
            let want: Vec<_> = all
                .iter()
                .filter(|h| lo <= h.offset && h.offset <= hi)
                .cloned()
                .collect();
            assert_eq!(features::inlay_hints_in(a, file, lo, hi), want, "{lo}..{hi}");
        }
    }
}

#[test]
fn did_you_mean_becomes_a_quick_fix() {
    let text = SOLUTION.replace("replicas = 1 per gateway", "replcas = 1 per gateway");
    let w = world_with(&text);
    let a = w.get(MAIN).unwrap();
    let file = features::file_of(a, &Origin::Path(MAIN.into())).unwrap();
    let fixes = features::fixes(a, file, 0, text.len());
    let fix = fixes.iter().find(|f| f.replacement == "replicas").unwrap();
    assert_eq!(&text[fix.span.range()], "replcas");

    let text = SOLUTION.replace("std.devices.rpi5", "std.devics.rpi5");
    let w = world_with(&text);
    let a = w.get(MAIN).unwrap();
    let fixes = features::fixes(a, file, 0, text.len());
    let fix = fixes.iter().find(|f| f.replacement == "std.devices").unwrap();
    assert_eq!(&text[fix.span.range()], "std.devics");
}

#[test]
fn diagnostics_use_utf16_columns_after_non_ascii_text() {
    // `é` is two bytes but one UTF-16 unit; `𝔘` is four bytes, two units.
    let text = "solution démo𝔘 {\n  version = \"1\"\n}\n/// Zürich 𝔘\nfleet f { devize = 1 }\n";
    let w = world_with(text);
    let a = w.get(MAIN).unwrap();
    let diags = server::diagnostics(&w, MAIN, a);
    let d = diags
        .iter()
        .find(|d| d.code == Some(lsp_types::NumberOrString::String("E0105".into())))
        .unwrap_or_else(|| panic!("{diags:#?}"));
    assert_eq!(d.range.start, lsp_types::Position::new(4, 10));
    assert_eq!(d.range.end, lsp_types::Position::new(4, 16));
    let text = "solution s𝔘 { version = 1 }\n";
    let w = world_with(text);
    let a = w.get(MAIN).unwrap();
    let diags = server::diagnostics(&w, MAIN, a);
    let d = diags
        .iter()
        .find(|d| d.code == Some(lsp_types::NumberOrString::String("E0201".into())))
        .unwrap_or_else(|| panic!("{diags:#?}"));
    // `solution s𝔘 { version = ` is 24 units before the value.
    assert_eq!(d.range.start, lsp_types::Position::new(0, 25));
}

#[test]
fn imported_files_are_read_from_open_buffers() {
    let mut w = World::new(StdFiles::none());
    w.open(
        "/virtual/lib.iot".into(),
        "service helper on plants { image = \"x:1\" }\n".into(),
        1,
    );
    let main = "solution s { version = \"1\" }\nimport \"./lib.iot\"\nimport std.devices\nfleet plants {\n  device = std.devices.rpi5\n  runtime = k3s\n  site a { gateways = 1  hosts = \"g{n}\" }\n}\nservice s on plants { image = \"y:1\"  talks_to = [helper] }\n";
    w.open(MAIN.into(), main.into(), 1);
    w.refresh();
    let a = w.get(MAIN).unwrap();
    assert!(!a.analysis.has_errors(), "{:#?}", a.analysis.diagnostics);
    let file = features::file_of(a, &Origin::Path(MAIN.into())).unwrap();
    let span = features::definition(a, file, main.find("helper").unwrap()).unwrap();
    let src = a.analysis.program.sources.get(span.file).unwrap();
    assert_eq!(src.origin, Origin::Path("/virtual/lib.iot".into()));
    // The import string leads to the file.
    let span = features::definition(a, file, main.find("lib.iot").unwrap()).unwrap();
    assert_eq!((span.start, span.end), (0, 0));
}

/// A file split out of a solution (`import "./cloud.iot"` in the main
/// file) is analysed as part of its importer, whether the importer is open
/// or only on disk: its names resolve and only its own diagnostics are
/// published for it.
#[test]
fn an_imported_file_is_checked_as_part_of_its_importer() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/factory");
    let cloud = examples.join("cloud.iot").canonicalize().unwrap();
    let factory = examples.join("factory.iot").canonicalize().unwrap();
    let cloud_key = cloud.to_str().unwrap().to_string();
    let factory_key = factory.to_str().unwrap().to_string();
    let cloud_text = std::fs::read_to_string(&cloud).unwrap();

    // Only cloud.iot open: factory.iot is read from disk as the root.
    let mut w = World::new(StdFiles::none());
    w.open(cloud_key.clone(), cloud_text.clone(), 1);
    assert_eq!(w.root_of(&cloud_key), factory_key);
    w.refresh();
    let a = w.get(&cloud_key).unwrap();
    let diags = server::diagnostics(&w, &cloud_key, a);
    assert!(diags.is_empty(), "{diags:#?}");

    // An error in cloud.iot is published for cloud.iot, with its position.
    let broken = cloud_text.replacen(
        "nodes = 1 per 16 gateways of plants",
        "nodes = 1 per 16 gateways of plantz",
        1,
    );
    assert_ne!(broken, cloud_text);
    w.change(&cloud_key, broken.clone(), 2);
    w.refresh();
    let a = w.get(&cloud_key).unwrap();
    let diags = server::diagnostics(&w, &cloud_key, a);
    let unknown = diags
        .iter()
        .find(|d| d.code == Some(lsp_types::NumberOrString::String("E0101".into())))
        .unwrap_or_else(|| panic!("{diags:#?}"));
    let line = broken[..broken.find("plantz").unwrap()].matches('\n').count();
    assert_eq!(unknown.range.start.line as usize, line);
    let in_cloud = diags.len();

    // Both open: one analysis, each file gets its own diagnostics.
    let factory_text = std::fs::read_to_string(&factory).unwrap();
    w.open(factory_key.clone(), factory_text, 1);
    w.refresh();
    let (a1, a2) = (w.get(&cloud_key).unwrap(), w.get(&factory_key).unwrap());
    assert!(std::ptr::eq(a1, a2), "documents of one root share an analysis");
    assert_eq!(server::diagnostics(&w, &cloud_key, a1).len(), in_cloud);
    assert!(server::diagnostics(&w, &factory_key, a2)
        .iter()
        .all(|d| d.severity != Some(lsp_types::DiagnosticSeverity::ERROR)));

    // A file nobody imports is its own root.
    assert_eq!(w.root_of(&factory_key), factory_key);
}
