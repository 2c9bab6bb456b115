use super::ast::*;
use super::parse;
use crate::diag::Code;
use crate::source::FileId;

fn ok(text: &str) -> SourceUnit {
    let (unit, diags) = parse(FileId(0), text);
    assert!(diags.is_empty(), "unexpected diagnostics: {diags:#?}");
    unit
}

#[test]
fn parses_design_example_items() {
    let unit = ok(r#"
// Smart factory.
solution smart_factory {
  version   = "1.4.0"
  namespace = "factory"
}
import std.devices
/// The knob.
param factor: int = 2 { min = 1  max = 20  label = "Production scale" }
cluster cloud {
  provider     = aws { region = "eu-west-1" }
  distribution = eks
  nodes        = 1 per 8 gateways of plants  min 3
}
fleet plants {
  device  = std.devices.jetson_orin_nano
  runtime = k3s
  site plant_a { gateways = 4 * factor  hosts = "gw{n}.plant-a.acme.internal" }
}
service ingest on cloud {
  image    = "ghcr.io/acme/ingest:2.3.1"
  replicas = 1 per 10 gateways of plants  min 2  max 40
  cpu = 500m  memory = 256Mi
  env { MQTT_URL = "mqtt://broker.factory:1883" }
  secret DB_PASSWORD from env "FACTORY_DB_PASSWORD"
}
daemon collector on plants where camera = "yes" {
  device "/dev/video0"
}
model defect_detector {
  train on cloud { image = "x"  gpu = 1 }
  serve on plants { replicas = 1 per gateway  cpu = 1 }
  monitor { alert accuracy < 0.92 for 1h }
}
"#);
    assert_eq!(unit.items.len(), 8);
    let Some(Item {
        docs,
        kind: ItemKind::Param(p),
        ..
    }) = unit.items.get(2).map(|i| &**i)
    else {
        panic!("expected a param");
    };
    assert_eq!(docs, &vec!["The knob.".to_string()]);
    assert_eq!(p.name.name, "factor");
}

#[test]
fn ratio_with_bounds_has_structure() {
    let unit = ok("service s on c { replicas = 1 per 10 gateways of plants min 2 max 40 }");
    let Some(Item {
        kind: ItemKind::Block(b),
        ..
    }) = unit.items.first().map(|i| &**i)
    else {
        panic!("expected a block");
    };
    let Some(Stmt {
        kind: StmtKind::Attr(a),
        ..
    }) = b.body.stmts.first()
    else {
        panic!("expected an attr");
    };
    let ExprKind::Bounded { expr, min, max } = &a.value.kind else {
        panic!("expected bounds, got {:?}", a.value.kind);
    };
    assert!(min.is_some() && max.is_some());
    assert!(matches!(
        expr.kind,
        ExprKind::Per {
            unit: CountUnit::Gateways,
            ..
        }
    ));
}

#[test]
fn several_syntax_errors_in_one_run() {
    let text = "service a on c { image = }\nservice b on c { cpu = 1 }\nfleet { }\n";
    let (unit, diags) = parse(FileId(0), text);
    assert_eq!(unit.items.len(), 1);
    assert_eq!(diags.len(), 2);
    assert!(diags.iter().all(|d| d.code == Code::E0001));
}

#[test]
fn unclosed_block_reports_e0002_and_recovers() {
    let text = "fleet f {\n  site a { gateways = 1 }\nservice s on f { image = \"x\" }\n";
    let (unit, diags) = parse(FileId(0), text);
    assert_eq!(unit.items.len(), 1);
    assert_eq!(diags.first().map(|d| d.code), Some(Code::E0002));
    assert_eq!(diags.first().map(|d| d.primary.span.start), Some(8));
}

#[test]
fn non_ascii_identifiers_and_strings_have_byte_spans() {
    let text = "param größe: int = 2\nservice café on c { image = \"ü\" }";
    let unit = ok(text);
    let Some(Item {
        kind: ItemKind::Block(b),
        ..
    }) = unit.items.get(1).map(|i| &**i)
    else {
        panic!("expected a block");
    };
    assert_eq!(b.name.name, "café");
    assert_eq!(&text[b.name.span.range()], "café");
}

#[test]
fn string_escapes() {
    assert_eq!(super::build::unescape(r#"a\"b\n\u{e9}"#), "a\"b\né");
}

#[test]
fn unicode_escapes_decode_or_stay_as_written() {
    use super::build::unescape;
    assert_eq!(unescape(r"\u{41}\u{1F600}\u{0041}"), "A😀A");
    // Not an escape: kept as written, backslash included.
    for raw in [
        r"\u{}",
        r"\u{41",
        r"\u41",
        r"\u{110000}",
        r"\u{D800}",
        r"\u{1234567}",
        r"\u{g}",
    ] {
        assert_eq!(unescape(raw), raw, "{raw}");
    }
    // A 1 MB string of escapes decodes (linear time: measured by
    // `iotc-bench hostile`, see bench/README.md).
    let long = r"\u{41}".repeat(150_000);
    assert_eq!(unescape(&long), "A".repeat(150_000));
}

#[test]
fn a_lone_carriage_return_ends_a_comment() {
    let unit = ok("// a comment\rparam p: int = 1\r// another\rparam q: int = 2\r");
    assert_eq!(unit.items.len(), 2);
}

#[test]
fn item_keywords_inside_blocks_are_reported() {
    let (_, diags) = parse(FileId(0), "fleet f{solution x{}}\n");
    assert_eq!(diags.iter().map(|d| d.code).collect::<Vec<_>>(), vec![Code::E0110]);
    // As a field name or without a name it is not an item.
    ok("fleet f { service = 1  job { } }\n");
}

#[test]
fn doc_comment_after_a_value_documents_the_next_field() {
    let unit = ok("service s on c {\n  cpu = 1\n  /// The memory.\n  memory = 1Gi\n}\n");
    let Some(Item {
        kind: ItemKind::Block(b),
        ..
    }) = unit.items.first().map(|i| &**i)
    else {
        panic!("expected a block");
    };
    assert_eq!(
        b.body.stmts.get(1).map(|s| s.docs.clone()),
        Some(vec!["The memory.".to_string()])
    );
}

#[test]
fn byte_order_mark_is_whitespace() {
    ok("\u{feff}solution s { version = \"1\" }\n");
}

/// Every `.iot` file of the examples and the stdlib.
fn shipped_sources() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    let mut dirs = vec![root.join("stdlib"), root.join("examples")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "iot") {
                out.push((p.display().to_string(), std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Parsing through the cache gives exactly the tree and diagnostics of a
/// plain parse: on a miss, on a hit, and when every item has moved.
#[test]
fn cached_parse_equals_plain_parse() {
    let cache = super::ParseCache::new();
    let files = shipped_sources();
    assert!(files.len() > 10);
    for (name, text) in &files {
        let plain = parse(FileId(3), text);
        let key = |u: &SourceUnit| format!("{:?}", (&u.items, &u.broken));
        for round in 0..2 {
            cache.sweep();
            let cached = super::parse_with(FileId(3), text, Some(&cache));
            assert_eq!(key(&cached.0), key(&plain.0), "{name}, round {round}");
            assert_eq!(cached.1, plain.1, "{name}, round {round}");
        }
        // An edit above every item: all of them are reused, moved down.
        let moved = format!("// a new first line\n{text}");
        let plain_moved = parse(FileId(3), &moved);
        let (hits_before, _) = cache.stats();
        let cached_moved = super::parse_with(FileId(3), &moved, Some(&cache));
        assert_eq!(key(&cached_moved.0), key(&plain_moved.0), "{name}, moved");
        assert_eq!(cached_moved.1, plain_moved.1, "{name}, moved");
        let (hits_after, _) = cache.stats();
        if !plain.0.items.is_empty() && plain.1.is_empty() {
            assert!(hits_after > hits_before, "{name}: moved items come from the cache");
        }
    }
    // Old versions are swept.
    cache.sweep();
    cache.sweep();
    cache.sweep();
    assert!(cache.is_empty());
}

#[test]
fn another_parse_never_switches_error_detail_off_under_a_parse_that_needs_it() {
    use pest::Parser as _;
    let broken = "service s on plants {\n  image \"x\"\n}\n";
    let detail = super::ErrorDetail::on();
    // Another thread collects its own expected tokens meanwhile, start to end.
    std::thread::spawn(move || super::expected_tokens(broken))
        .join()
        .unwrap();
    let err = super::IotParser::parse(super::Rule::item_only, broken).err().unwrap();
    drop(detail);
    assert!(
        err.parse_attempts().is_some(),
        "error detail was switched off by the other parse"
    );
}

#[test]
fn an_unclosed_block_ending_in_a_multibyte_character_points_at_the_whole_character() {
    // Found by the fuzzer: the secondary label took the last byte only.
    let text = "fleet f {\n  site s { hosts = \"gw{n}.acmeҖ";
    let (_, diags) = parse(FileId(0), text);
    let d = diags.iter().find(|d| d.code == Code::E0002).unwrap();
    for l in std::iter::once(&d.primary).chain(&d.secondary) {
        let (s, e) = (l.span.start as usize, l.span.end as usize);
        assert!(text.is_char_boundary(s) && text.is_char_boundary(e), "{s}..{e}");
    }
    assert_eq!(
        &text[d.secondary[0].span.start as usize..d.secondary[0].span.end as usize],
        "Җ"
    );
}

// ------------------------------------------------- one scanner: agreement

/// Texts whose comments, strings and braces are easy to get wrong: every
/// `.iot` file of the repository (examples, error fixtures, fuzz
/// regressions: multibyte characters, unclosed blocks, a BOM mid-file,
/// CR-only line ends, NUL escapes) and a few made here.
fn scanner_corpus() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    let mut dirs = vec![root.join("examples"), root.join("fuzz").join("regressions")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "iot") {
                if let Ok(text) = std::fs::read_to_string(&p) {
                    out.push((p.display().to_string(), text));
                }
            }
        }
    }
    assert!(out.len() > 20, "the corpus is the repository's .iot files");
    for (name, text) in [
        ("brace in a string", "service s on c { image = \"{\" }\nfleet f { }\n"),
        (
            "brace and quote in a comment",
            "fleet f { // } \" {\n}\nservice s on f { }\n",
        ),
        ("escaped quote", "service s on c { x = \"a\\\"}\" }\nfleet f { }\n"),
        ("escaped line end", "service s on c { x = \"a\\\n}\" }\nfleet f { }\n"),
        ("unclosed string", "service s on c { x = \"open\n}\nfleet f { }\n"),
        ("unclosed block", "fleet f {\n  site a {\n}\nservice s on f { }\n"),
        (
            "multibyte",
            "// é {\nfleet f { x = \"ü}\" }\n/// Ü\nservice s on f { y = ✓ }\n",
        ),
        ("unclosed, ending in a multibyte character", "fleet f {\n  x = \"é"),
        ("doc then item", "/// Docs { with a brace.\nservice s on c { }\n"),
        ("crlf", "fleet f { // c\r\n}\r\nservice s on f { }\r\n"),
    ] {
        out.push((name.to_string(), text.to_string()));
    }
    out
}

/// The token that strictly contains byte `at`, if any.
fn token_around(tokens: &[super::lex::Token], at: usize) -> Option<super::lex::Token> {
    tokens.iter().copied().find(|t| t.start < at && at < t.end)
}

#[test]
fn the_splitter_cuts_only_between_the_lexers_tokens() {
    use super::lex::{tokens, TokenKind};
    for (name, text) in scanner_corpus() {
        let toks = tokens(&text);
        let braces: Vec<usize> = toks
            .iter()
            .filter(|t| t.kind == TokenKind::Punct && text.get(t.start..t.end) == Some("{"))
            .map(|t| t.start)
            .collect();
        for chunk in super::split::split(&text) {
            if let Some(t) = token_around(&toks, chunk.start) {
                panic!("{name}: a chunk starts at {} inside a {:?} token", chunk.start, t.kind);
            }
            if let Some(open) = chunk.unclosed {
                assert!(
                    braces.contains(&open),
                    "{name}: unclosed `{{` at {open} is not a lexer `{{`"
                );
            }
        }
    }
}

#[test]
fn the_formatter_sees_the_lexers_comments_and_keeps_them() {
    use super::lex::tokens;
    let comments = |text: &str| -> Vec<String> {
        let mut c: Vec<String> = tokens(text)
            .iter()
            .filter(|t| t.kind == super::lex::TokenKind::Comment)
            .filter_map(|t| text.get(t.start..t.end))
            .map(|s| s.trim_end().to_string())
            .collect();
        c.sort();
        c
    };
    let mut formatted = 0;
    for (name, text) in scanner_corpus() {
        let Ok(out) = crate::fmt::format_source(&text) else {
            continue;
        };
        formatted += 1;
        assert_eq!(
            comments(&text),
            comments(&out),
            "{name}: the formatter lost or made a comment"
        );
    }
    assert!(formatted > 10, "most of the corpus formats");
}

#[test]
fn a_brace_or_operator_in_a_string_or_comment_is_no_limit() {
    // The limits read the lexer's tokens: what is inside a string or a
    // comment is never a bracket or an operator.
    let deep = "{".repeat(super::limits::MAX_NESTING + 1);
    let long = "+".repeat(super::limits::MAX_OPERATORS + 1);
    for text in [
        format!("service s on c {{ x = \"{deep}\" }}\n"),
        format!("service s on c {{ // {deep}\n}}\n"),
        format!("service s on c {{ x = \"{long}\" }}\n"),
        format!("service s on c {{ x = \"a\\\n{deep}\" }}\n"),
    ] {
        assert!(
            super::limits::check(FileId(0), &text, 0).is_none(),
            "{text:?} breaks a limit"
        );
    }
    let code = format!(
        "service s on c {{ x = {} }}\n",
        "(".repeat(super::limits::MAX_NESTING + 1)
    );
    assert!(super::limits::check(FileId(0), &code, 0).is_some());
}
