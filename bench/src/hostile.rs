//! Hostile and odd inputs (issue 12): every reproducer, and each class well
//! past its threshold, as generated source texts. Shared by `hostile.rs`
//! (the CLI) and `lsp_protocol.rs` (the language server). The reproducers
//! at the issue's own sizes are also kept as files in
//! `compiler/tests/data/hostile/` (a fuzz corpus can take them from there);
//! `hostile.rs` checks those files match these generators.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

/// A fleet that every case builds on.
pub const FLEET: &str = "solution demo { version = \"1.0.0\" }\nimport std.devices\nfleet plants {\n  device = std.devices.rpi4  runtime = k3s\n  site north { gateways = 2  hosts = \"gw{n}.north.example.internal\" }\n}\n";

/// What `iotc check` must say about a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No errors.
    Clean,
    /// At least this code.
    Code(&'static str),
}

pub struct Case {
    pub name: &'static str,
    pub text: String,
    pub expect: Expect,
    /// Too slow in a debug build for the language-server test, which
    /// re-checks on every change.
    pub heavy: bool,
    /// Kept as a file under `compiler/tests/data/hostile/`.
    pub kept: bool,
}

fn service(body: &str) -> String {
    format!("{FLEET}service s on plants {{\n  image = \"ghcr.io/acme/s:1.0.0\"\n{body}\n}}\n")
}

pub fn parens(n: usize) -> String {
    service(&format!("  replicas = {}1{}", "(".repeat(n), ")".repeat(n)))
}

pub fn lists(n: usize) -> String {
    service(&format!("  talks_to = {}{}", "[".repeat(n), "]".repeat(n)))
}

pub fn min_calls(n: usize) -> String {
    service(&format!("  replicas = {}1{}", "min(".repeat(n), ")".repeat(n)))
}

pub fn blocks(n: usize) -> String {
    service(&format!("  env {}{}", "{ a ".repeat(n), "}".repeat(n)))
}

pub fn sum(n: usize) -> String {
    service(&format!("  replicas = 1{}", " + 0".repeat(n)))
}

/// `n` services whose replicas each refer to the next, the last to the
/// first when `cycle`.
pub fn chain(n: usize, cycle: bool) -> String {
    bracketed_chain(n, cycle, 0)
}

/// [`chain`], with each reference in `brackets` pairs of parentheses.
pub fn bracketed_chain(n: usize, cycle: bool, brackets: usize) -> String {
    let mut s = FLEET.to_string();
    for i in 0..n {
        let next = if i + 1 < n {
            format!("replicas of s{}", i + 1)
        } else if cycle {
            "replicas of s0".to_string()
        } else {
            "1".to_string()
        };
        s.push_str(&format!(
            "service s{i} on plants {{ image = \"ghcr.io/acme/s:1.0.0\"  cpu = 1m  memory = 1Mi  replicas = {}{next}{} }}\n",
            "(".repeat(brackets),
            ")".repeat(brackets)
        ));
    }
    s
}

/// `n` services on a cloud cluster large enough for all of them, each
/// calling the next (`talks_to` and a port): every service has a flow to
/// resolve, and the program checks.
pub fn call_chain(n: usize) -> String {
    let mut s = String::from(
        "solution demo { version = \"1.0.0\" }\nimport std.cloud\ncluster cloud {\n  provider = aws { region = \"eu-west-1\" }\n  distribution = eks\n  nodes = 40\n  node = std.cloud.aws_m6i_xlarge\n}\n",
    );
    for i in 0..n {
        let next = if i + 1 < n {
            format!("  talks_to = [s{}]", i + 1)
        } else {
            String::new()
        };
        s.push_str(&format!(
            "service s{i} on cloud {{ image = \"ghcr.io/acme/s:1.0.0\"  cpu = 1m  memory = 1Mi  port = 8080{next} }}\n"
        ));
    }
    s
}

pub fn gateways(n: &str) -> String {
    FLEET.replace("gateways = 2", &format!("gateways = {n}"))
}

/// One string of `n` escapes `\u{41}`.
pub fn escapes(n: usize) -> String {
    service(&format!("  env {{ A = \"{}\" }}", "\\u{41}".repeat(n)))
}

/// A service whose name is `n` letters long, on one line.
pub fn long_name(n: usize) -> String {
    format!(
        "{FLEET}service {} on plants {{ image = \"ghcr.io/acme/s:1.0.0\"  memroy = 1Gi }}\n",
        "a".repeat(n)
    )
}

/// A misspelled field at column `n` of its line.
pub fn far_column(n: usize) -> String {
    format!(
        "{FLEET}service s on plants {{ image = \"ghcr.io/acme/s:1.0.0\"{}memroy = 1Gi }}\n",
        " ".repeat(n)
    )
}

/// A byte-order mark in the middle of a line, before a misspelled field.
pub fn bom_mid_file() -> String {
    service("  \u{feff}memroy = 1Gi")
}

pub fn cases() -> Vec<Case> {
    let case = |name, text, expect| Case {
        name,
        text,
        expect,
        heavy: false,
        kept: false,
    };
    let kept = |name, text, expect| Case {
        name,
        text,
        expect,
        heavy: false,
        kept: true,
    };
    let heavy = |name, text, expect| Case {
        name,
        text,
        expect,
        heavy: true,
        kept: false,
    };
    use Expect::*;
    vec![
        // Finding 1: nesting (at the crashing sizes, and well past them).
        kept("parens_2000", parens(2_000), Code("E0003")),
        case("parens_100k", parens(100_000), Code("E0003")),
        kept("lists_2000", lists(2_000), Code("E0003")),
        kept("min_calls_2000", min_calls(2_000), Code("E0003")),
        kept("blocks_3000", blocks(3_000), Code("E0003")),
        case("blocks_100k", blocks(100_000), Code("E0003")),
        case("parens_at_limit", parens(63), Clean),
        // Finding 2: long sums and long count chains.
        kept("sum_7000", sum(7_000), Code("E0004")),
        case("sum_100k", sum(100_000), Code("E0004")),
        case("sum_at_limit", sum(256), Clean),
        kept("cycle_2500", chain(2_500, true), Code("E0307")),
        heavy("chain_10k", chain(10_000, false), Code("E0307")),
        // The deepest the evaluator accepts (256 steps: 4 per count, 1 per
        // bracket), in the real binary's 8 MiB main thread.
        case("chain_50", chain(50, false), Clean),
        case("bracketed_chain_3", bracketed_chain(3, false, 62), Clean),
        case("bracketed_chain_4", bracketed_chain(4, false, 62), Code("E0307")),
        // Finding 3: the formatter on a flat sum (`fmt` is run on every case).
        kept("sum_18000", sum(18_000), Code("E0004")),
        // Finding 4: counts bounded before anything is allocated.
        kept("gateways_2147483648", gateways("2147483648"), Code("E0202")),
        case("gateways_1000001", gateways("1000001"), Code("E0202")),
        heavy("gateways_1000000", gateways("1000000"), Clean),
        kept(
            "standby_4294967295",
            FLEET.replace("gateways = 2 ", "gateways = 2  standby = 4294967295 "),
            Code("E0202"),
        ),
        // Finding 5: escapes decoded in linear time (a 1.2 MB string).
        case("escapes_200k", escapes(200_000), Clean),
        kept("escapes_40k", escapes(40_000), Clean),
        // Findings 6 and 7: long lines in diagnostics.
        case("long_name_1mb", long_name(1_000_000), Code("E0105")),
        kept("far_column_70000", far_column(70_000), Code("E0105")),
        // Finding 13: odd bytes.
        kept(
            "cr_only_line_ends",
            service("  // a comment, then a field on the next line\n  replicas = 2").replace('\n', "\r"),
            Clean,
        ),
        kept("bom_mid_file", bom_mid_file(), Code("E0105")),
        kept(
            "item_keyword_in_block",
            format!("{FLEET}fleet f {{ solution x {{}} }}\n"),
            Code("E0110"),
        ),
        kept("nul_byte", service("  env { A = \"x\0y\" }"), Code("E0005")),
        kept("nul_escape", service("  env { A = \"\\u{0}\" }"), Code("E0005")),
    ]
}
