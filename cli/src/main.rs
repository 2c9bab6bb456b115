//! `iotc`: check, plan, build, format and explain IoT solutions.

mod commands;

use clap::{Parser, Subcommand, ValueEnum};
use iotc::render::{self, Style};
use iotc_compiler::emit::{self, Target};
use iotc_compiler::{analyze, Analysis, Overrides};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

// The checker allocates many small values; mimalloc is markedly faster at
// that than the system allocator (see bench/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its index in the v2 and v3 headers;
/// the Rust bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// For the language server: keep freed memory for 10 s before giving it
/// back to the OS (mimalloc's default is 10 ms). Each re-check frees the
/// previous analysis and builds a new one of the same size; after a pause in
/// typing longer than 10 ms the new one would otherwise fault in and zero
/// every page afresh, a measurable part of the didChange → diagnostics time
/// (see lsp/README.md).
fn keep_freed_memory() {
    // SAFETY: `mi_option_set` only stores an option value; it is called
    // before the server starts its threads.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000) }
}

#[derive(Parser)]
#[command(
    name = "iotc",
    version,
    about = "Compile one description of an IoT solution into Kubernetes, Compose, Ansible and Terraform"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum Color {
    Auto,
    Always,
    Never,
}

#[derive(clap::Args)]
pub(crate) struct Input {
    /// The solution's root file; `-` reads it from stdin.
    file: String,
    /// A values file overriding params (TOML: `factor = 3`).
    #[arg(long, value_name = "FILE.toml")]
    values: Option<String>,
    /// Override a param: `--set factor=3` (wins over the values file).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    sets: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// When to use colour.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(clap::Args)]
struct BuildArgs {
    #[command(flatten)]
    input: Input,
    /// Output folder. `-` (with `--emit k8s|compose|terraform`) prints one
    /// cluster's, site's or root's files as one stream: `kubectl apply -f -`.
    #[arg(short = 'o', long = "out", value_name = "DIR", default_value = "out")]
    out: String,
    /// Targets to build, comma-separated (default: all).
    #[arg(long = "target", value_name = "TARGET,...", value_delimiter = ',', value_parser = parse_target)]
    targets: Vec<Target>,
    /// Build this one target only; with `-o -`, print it to stdout.
    #[arg(long, value_name = "TARGET", value_parser = parse_target, conflicts_with = "targets")]
    emit: Option<Target>,
    /// Overwrite generated files changed by hand; write into a folder that is not an iotc output.
    #[arg(long)]
    force: bool,
    /// With `-o -`: the cluster or fleet site (k8s: `FLEET/SITE`, every site
    /// is its own cluster), the cluster or fleet (terraform) or fleet/site
    /// (compose) to print; needed when the solution has more than one.
    #[arg(long, value_name = "NAME")]
    cluster: Option<String>,
    /// Write nothing; exit 1 if the output folder is not what this build
    /// would write (for CI), 0 if it is up to date.
    #[arg(long, conflicts_with_all = ["force", "emit"])]
    check: bool,
    /// Print nothing but errors and warnings.
    #[arg(short, long)]
    quiet: bool,
}

pub(crate) fn parse_target(s: &str) -> Result<Target, String> {
    Target::parse(s).ok_or_else(|| {
        let names: Vec<_> = Target::ALL.iter().map(|t| t.name()).collect();
        format!("unknown target `{s}` (targets: {})", names.join(", "))
    })
}

#[derive(Subcommand)]
enum Command {
    /// Check one or more solutions and report problems.
    Check(commands::check::CheckArgs),
    /// Show what would be deployed: per tier, workloads, replicas and capacity.
    Plan(Input),
    /// Check, then generate every target's files into an output folder.
    Build(BuildArgs),
    /// Show what `iotc build` would change in the output folder, per target
    /// and per object, without writing anything.
    Diff(commands::diff::DiffArgs),
    /// Draw the solution: tiers, clusters and pools, fleets and sites,
    /// workloads with their counts, flows, model train → serve (DOT or Mermaid).
    Graph(commands::graph::GraphArgs),
    /// Format files canonically, keeping every comment.
    Fmt(commands::misc::FmtArgs),
    /// Explain a diagnostic code, e.g. `iotc explain E0401`; `--list` lists every code.
    Explain {
        #[arg(required_unless_present = "list")]
        code: Option<String>,
        /// List every code with its title.
        #[arg(long, conflicts_with = "code")]
        list: bool,
        /// Output format: the page as text, or JSON (code, severity, title, page; with --list, every code).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Create a starter project (DIR/NAME.iot and a .gitignore) that checks and builds.
    Init(commands::misc::InitArgs),
    /// Print a shell completion script: `iotc completions bash > /etc/bash_completion.d/iotc`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `iotc man > iotc.1`.
    Man,
    /// Run the language server over stdin/stdout (for editors).
    Lsp {
        /// Accepted for editors that pass it; stdio is the only transport.
        #[arg(long)]
        stdio: bool,
    },
    /// Serve the web page where operators turn the knobs (params) and see every tier change.
    Studio(iotc::studio::Args),
}

pub(crate) fn style(color: Color) -> Style {
    let color = match color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    Style { color, width: 100 }
}

pub(crate) fn run_analysis(input: &Input) -> Result<Analysis, ExitCode> {
    // The root file must be readable UTF-8 text: anything else is a usage
    // error (exit 2), not a diagnostic. It is read once, here.
    let text = if input.file == "-" {
        let mut text = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
            eprintln!("error: cannot read stdin: {e}");
            return Err(ExitCode::from(2));
        }
        text
    } else {
        match iotc::read_source(&input.file) {
            Ok(text) => text,
            Err(message) => {
                eprintln!("error: {message}");
                return Err(ExitCode::from(2));
            }
        }
    };
    let mut overrides = Overrides {
        values: None,
        sets: input.sets.clone(),
    };
    if let Some(path) = &input.values {
        match std::fs::read_to_string(path) {
            Ok(text) => overrides.values = Some((path.clone(), text)),
            Err(e) => {
                eprintln!("error: cannot read values file `{path}`: {e}");
                return Err(ExitCode::from(2));
            }
        }
    } else {
        // `factory.iot` picks up `factory.values.toml` beside it, like terraform.tfvars.
        let auto = input.file.strip_suffix(".iot").map(|s| format!("{s}.values.toml"));
        if let Some(path) = auto {
            if let Ok(text) = std::fs::read_to_string(&path) {
                overrides.values = Some((path, text));
            }
        }
    }
    let db = iotc::RootDb {
        path: input.file.clone(),
        text,
    };
    Ok(analyze(&db, &input.file, &overrides))
}

pub(crate) fn report(a: &Analysis, input: &Input) {
    let text = match input.format {
        Format::Json => iotc::machine::to_json(&iotc::machine::report(&a.diagnostics, &a.program.sources)),
        Format::Text => render::render_all(&a.diagnostics, &a.program.sources, style(input.color)),
    };
    let _ = std::io::stderr().write_all(text.as_bytes());
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Check(args) => commands::check::run(&args),
        Command::Plan(input) => {
            let a = match run_analysis(&input) {
                Ok(a) => a,
                Err(c) => return c,
            };
            report(&a, &input);
            let Some(sol) = &a.solution else {
                return ExitCode::from(1);
            };
            let out = match input.format {
                Format::Json => iotc::machine::versioned_json(sol),
                Format::Text => iotc_compiler::plan::render(sol),
            };
            let _ = std::io::stdout().write_all(out.as_bytes());
            ExitCode::SUCCESS
        }
        Command::Build(args) => {
            if args.out == "-" && args.emit.is_none() {
                eprintln!("error: `-o -` prints one target to stdout: add `--emit k8s` (or compose, terraform)");
                return ExitCode::from(2);
            }
            if let Some(why) = args
                .emit
                .filter(|_| args.out == "-")
                .and_then(iotc::stream::unsupported)
            {
                eprintln!("error: {why}");
                return ExitCode::from(2);
            }
            if args.cluster.is_some() && args.out != "-" {
                eprintln!("error: `--cluster` picks what `-o -` prints; a build into a folder writes every cluster");
                return ExitCode::from(2);
            }
            let a = match run_analysis(&args.input) {
                Ok(a) => a,
                Err(c) => return c,
            };
            report(&a, &args.input);
            let code = build(&a, &args);
            std::mem::forget(a);
            code
        }
        Command::Diff(args) => commands::diff::run(&args),
        Command::Graph(args) => commands::graph::run(&args),
        Command::Fmt(args) => commands::misc::fmt(&args),
        Command::Init(args) => commands::misc::init(&args),
        Command::Completions { shell } => commands::misc::completions(shell),
        Command::Man => commands::misc::man(),
        Command::Lsp { stdio: _ } => {
            keep_freed_memory();
            iotc_lsp::run_stdio()
        }
        Command::Studio(args) => iotc::studio::run(&args),
        Command::Explain { code, list, format } => {
            commands::misc::explain(code.as_deref(), list, format == Format::Json)
        }
    }
}

/// `iotc build` after the checker ran (and its diagnostics were shown): emit
/// the selected targets, then write them (or stream one to stdout). Nothing
/// is written when the checker found errors or a backend failed.
fn build(a: &Analysis, args: &BuildArgs) -> ExitCode {
    if a.has_errors() {
        return ExitCode::from(1);
    }
    let Some(sol) = &a.solution else {
        return ExitCode::from(1);
    };
    let targets = match args.emit {
        Some(t) => vec![t],
        None => commands::diff::selected(&args.targets),
    };
    if args.check {
        return commands::diff::check(sol, &targets, &args.out, args.input.format, args.quiet);
    }
    if let (Some(target), "-") = (args.emit, args.out.as_str()) {
        let text = match iotc::stream::build(sol, target, args.cluster.as_deref()) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}", e.message);
                return ExitCode::from(e.code);
            }
        };
        let mut stdout = std::io::stdout().lock();
        return match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => stdout_failed(&e),
        };
    }
    // Stream: each file goes into the temporary tree as soon as a backend
    // has it; the tree replaces the output only if every backend succeeded.
    // Unless `--quiet`, each file is compared with the one it replaces on
    // the way, for the per-target summary.
    let out = Path::new(&args.out);
    let mut changes = None;
    let result = iotc::writer::Staging::begin(out, args.force).and_then(|mut staging| {
        for note in staging.notes() {
            eprintln!("note: {note}");
        }
        let mut failed = None;
        let mut emitted = Ok(());
        let mut each = |sink: &mut iotc::diff::FileSink<'_>| {
            emitted = emit::emit_each(sol, &targets, &mut |f| {
                sink(&f.path, f.contents.as_bytes());
                match staging.add(&f.path, f.contents.as_bytes()) {
                    Ok(()) => std::ops::ControlFlow::Continue(()),
                    Err(e) => {
                        failed = Some(e);
                        std::ops::ControlFlow::Break(())
                    }
                }
            });
        };
        if args.quiet {
            each(&mut |_, _| {});
        } else {
            // An unreadable record is judged by `begin` (refused unless `--force`).
            let recorded = iotc::writer::recorded(out).ok().flatten().unwrap_or_default();
            changes = Some(iotc::diff::compare_with_folder(
                out, &args.out, &recorded, true, &mut each,
            ));
        }
        if let Err(e) = emitted {
            return Ok(Err(e));
        }
        match failed {
            Some(e) => Err(e),
            None => staging.commit().map(Ok),
        }
    });
    let result = match result {
        Ok(Err(e)) => {
            eprintln!("error: {e}; nothing was written");
            return ExitCode::from(1);
        }
        Ok(Ok(r)) => Ok(r),
        Err(e) => Err(e),
    };
    match result {
        Ok(r) => {
            for c in &r.overwritten {
                eprintln!(
                    "warning: overwrote `{}` ({}) because of --force",
                    c.path,
                    c.kind.describe()
                );
            }
            for w in &r.warnings {
                eprintln!("warning: {w}");
            }
            if !args.quiet {
                for line in changes.as_ref().map(iotc::diff::per_target_lines).unwrap_or_default() {
                    eprintln!("{line}");
                }
                eprintln!("{}", iotc::writer::summary(&args.out, &r));
            }
            match (&changes, args.input.format) {
                // What changed, as `iotc diff --format json` would have shown it.
                (Some(d), Format::Json) => match commands::diff::print(d, Format::Json, false) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => stdout_failed(&e),
                },
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            if e.needs_force() {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

/// A failed write to stdout: quiet for a closed pipe (`iotc plan | head`),
/// exit 2 otherwise.
pub(crate) fn stdout_failed(e: &std::io::Error) -> ExitCode {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return ExitCode::SUCCESS;
    }
    eprintln!("error: cannot write to stdout: {e}");
    ExitCode::from(2)
}
