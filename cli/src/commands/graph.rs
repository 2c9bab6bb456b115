//! `iotc graph`: the solution as DOT or Mermaid (see `iotc_compiler::graph`).

use crate::{report, run_analysis, Color, Format, Input};
use clap::ValueEnum;
use std::io::Write;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum GraphFormat {
    /// Graphviz DOT: `iotc graph FILE | dot -Tsvg > solution.svg`.
    Dot,
    /// A Mermaid flowchart (renders in GitHub Markdown).
    Mermaid,
    /// The graph's groups, nodes and edges as JSON.
    Json,
}

#[derive(clap::Args)]
pub struct GraphArgs {
    /// The solution's root file.
    pub file: String,
    /// A values file overriding params (TOML: `factor = 3`).
    #[arg(long, value_name = "FILE.toml")]
    pub values: Option<String>,
    /// Override a param: `--set factor=3` (wins over the values file).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    /// When to use colour in diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

pub fn run(args: &GraphArgs) -> ExitCode {
    let input = Input {
        file: args.file.clone(),
        values: args.values.clone(),
        sets: args.sets.clone(),
        format: Format::Text,
        color: args.color,
    };
    let a = match run_analysis(&input) {
        Ok(a) => a,
        Err(c) => return c,
    };
    report(&a, &input);
    let Some(sol) = a.solution.as_ref().filter(|_| !a.has_errors()) else {
        return ExitCode::from(1);
    };
    let g = iotc_compiler::graph::build(sol);
    let text = match args.format {
        GraphFormat::Dot => iotc_compiler::graph::to_dot(&g),
        GraphFormat::Mermaid => iotc_compiler::graph::to_mermaid(&g),
        GraphFormat::Json => iotc::machine::versioned_json(&g),
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::stdout_failed(&e),
    }
}
