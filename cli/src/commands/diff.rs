//! `iotc diff`, `iotc build --check` and the per-target summary `iotc build`
//! prints: what a build changes in an output folder (see `iotc::diff`).

use crate::{report, run_analysis, Format, Input};
use iotc::diff::{self, Diff};
use iotc_compiler::emit::{self, Target};
use iotc_compiler::ir::Solution;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub input: Input,
    /// The output folder to compare with.
    #[arg(short = 'o', long = "out", value_name = "DIR", default_value = "out")]
    pub out: String,
    /// Targets to compare, comma-separated (default: all).
    #[arg(long = "target", value_name = "TARGET,...", value_delimiter = ',', value_parser = crate::parse_target)]
    pub targets: Vec<Target>,
    /// Exit 1 when the build would change anything (like `git diff --exit-code`).
    #[arg(long)]
    pub exit_code: bool,
    /// Print only the summary line.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The selected targets, sorted, without repeats; all when none is named.
pub fn selected(targets: &[Target]) -> Vec<Target> {
    if targets.is_empty() {
        return Target::ALL.to_vec();
    }
    let mut t = targets.to_vec();
    t.sort();
    t.dedup();
    t
}

/// Run the backends and compare their files with `out`. `Err` carries the
/// exit code after the message was printed.
pub fn compare(sol: &Solution, targets: &[Target], out: &str) -> Result<Diff, ExitCode> {
    let recorded = match iotc::writer::recorded(Path::new(out)) {
        Ok(r) => r.unwrap_or_default(),
        Err(e) => {
            eprintln!("error: {e}");
            return Err(ExitCode::from(2));
        }
    };
    let mut emit_error = None;
    let d = diff::compare_with_folder(Path::new(out), out, &recorded, false, &mut |sink| {
        let r = emit::emit_each(sol, targets, &mut |f| {
            sink(&f.path, f.contents.as_bytes());
            ControlFlow::Continue(())
        });
        if let Err(e) = r {
            emit_error = Some(e);
        }
    });
    if let Some(e) = emit_error {
        eprintln!("error: {e}");
        return Err(ExitCode::from(1));
    }
    Ok(d)
}

/// Print a diff: JSON on stdout, or text (the whole diff, or with `quiet`
/// only the summary line).
pub fn print(d: &Diff, format: Format, quiet: bool) -> std::io::Result<()> {
    let text = match format {
        Format::Json => serde_json::to_string_pretty(d).unwrap_or_default() + "\n",
        Format::Text if quiet => diff::summary_line(d) + "\n",
        Format::Text => diff::render_text(d),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

pub fn run(args: &DiffArgs) -> ExitCode {
    let a = match run_analysis(&args.input) {
        Ok(a) => a,
        Err(c) => return c,
    };
    report(&a, &args.input);
    let Some(sol) = a.solution.as_ref().filter(|_| !a.has_errors()) else {
        return ExitCode::from(1);
    };
    let d = match compare(sol, &selected(&args.targets), &args.out) {
        Ok(d) => d,
        Err(c) => return c,
    };
    if let Err(e) = print(&d, args.input.format, args.quiet) {
        return crate::stdout_failed(&e);
    }
    if args.exit_code && !d.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `iotc build --check`: exit 0 if `out` is exactly what this build would
/// write, 1 (and what differs) if not.
pub fn check(sol: &Solution, targets: &[Target], out: &str, format: Format, quiet: bool) -> ExitCode {
    let d = match compare(sol, targets, out) {
        Ok(d) => d,
        Err(c) => return c,
    };
    let printed = match format {
        Format::Json => print(&d, format, quiet),
        Format::Text if d.is_empty() && quiet => Ok(()),
        Format::Text => print(&d, format, true),
    };
    if let Err(e) = printed {
        return crate::stdout_failed(&e);
    }
    if d.is_empty() {
        ExitCode::SUCCESS
    } else {
        if format == Format::Text && !quiet {
            eprintln!("`{out}` is not up to date: run `iotc diff` to see every change, `iotc build` to update it");
        }
        ExitCode::from(1)
    }
}
