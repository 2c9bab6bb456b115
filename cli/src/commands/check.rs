//! `iotc check FILE…`: report every problem in one or more solutions, as
//! text (stderr), JSON or SARIF (stdout).

use crate::{run_analysis, style, Color, Format, Input};
use clap::ValueEnum;
use iotc::machine;
use iotc_compiler::diag::Severity;
use std::io::Write;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CheckFormat {
    /// Rendered diagnostics on stderr.
    Text,
    /// The diagnostics document on stdout (schema in docs/cli.md).
    Json,
    /// SARIF 2.1.0 on stdout, for code scanning.
    Sarif,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The solutions' root files; `-` reads one from stdin.
    #[arg(required = true)]
    pub files: Vec<String>,
    /// A values file overriding params (TOML: `factor = 3`).
    #[arg(long, value_name = "FILE.toml")]
    pub values: Option<String>,
    /// Override a param: `--set factor=3` (wins over the values file).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// When to use colour.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Print errors only (no warnings unless --deny-warnings, no summary line).
    #[arg(short, long)]
    pub quiet: bool,
    /// Exit 1 on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

pub fn run(args: &CheckArgs) -> ExitCode {
    if args.files.iter().filter(|f| f.as_str() == "-").count() > 1 {
        eprintln!("error: `-` (stdin) can be given once");
        return ExitCode::from(2);
    }
    let mut reports = Vec::new();
    let mut unreadable = false;
    let mut failed = false;
    for file in &args.files {
        let input = Input {
            file: file.clone(),
            values: args.values.clone(),
            sets: args.sets.clone(),
            format: Format::Text,
            color: args.color,
        };
        let a = match run_analysis(&input) {
            Ok(a) => a,
            Err(_) => {
                unreadable = true;
                continue;
            }
        };
        let shown: Vec<_> = a
            .diagnostics
            .iter()
            .filter(|d| !args.quiet || args.deny_warnings || d.severity == Severity::Error)
            .cloned()
            .collect();
        failed |= a.has_errors() || (args.deny_warnings && !a.diagnostics.is_empty());
        match args.format {
            CheckFormat::Text => {
                let text = if args.quiet {
                    shown
                        .iter()
                        .map(|d| iotc::render::render(d, &a.program.sources, style(args.color)))
                        .collect::<String>()
                } else {
                    iotc::render::render_all(&shown, &a.program.sources, style(args.color))
                };
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
            CheckFormat::Json | CheckFormat::Sarif => reports.push(machine::report(&shown, &a.program.sources)),
        }
        // The process ends soon: freeing the analysis piece by piece would
        // only cost time.
        std::mem::forget(a);
    }
    let out = match args.format {
        CheckFormat::Text => String::new(),
        CheckFormat::Json => machine::to_json(&machine::merge(reports)),
        CheckFormat::Sarif => machine::to_sarif(&machine::merge(reports)),
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush()) {
        return crate::stdout_failed(&e);
    }
    if unreadable {
        ExitCode::from(2)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
