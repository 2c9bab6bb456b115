//! The small commands: `explain`, `fmt`, `init`, `completions`, `man`.

use crate::{style, Color};
use clap::CommandFactory;
use iotc_compiler::diag::Code;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Write to stdout; a closed pipe is quiet.
fn print(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::stdout_failed(&e),
    }
}

/// `iotc explain CODE` or `iotc explain --list`.
pub fn explain(code: Option<&str>, list: bool, json: bool) -> ExitCode {
    let entry = |c: Code, page: bool| {
        let mut v = serde_json::Map::new();
        v.insert("code".into(), c.as_str().into());
        let severity = if c.severity() == iotc_compiler::diag::Severity::Error {
            "error"
        } else {
            "warning"
        };
        v.insert("severity".into(), severity.into());
        v.insert("title".into(), c.title().into());
        if page {
            v.insert("page".into(), c.explanation().into());
        }
        serde_json::Value::Object(v)
    };
    if list {
        if json {
            let codes: Vec<serde_json::Value> = Code::ALL.iter().map(|c| entry(*c, false)).collect();
            return print(&iotc::machine::versioned_json(&serde_json::json!({ "codes": codes })));
        }
        let text: String = Code::ALL
            .iter()
            .map(|c| format!("{}  {}\n", c.as_str(), c.title()))
            .collect();
        return print(&text);
    }
    let Some(code) = code else {
        eprintln!("error: name a code (`iotc explain E0401`) or pass --list");
        return ExitCode::from(2);
    };
    match Code::parse(code) {
        Some(c) if json => print(&iotc::machine::versioned_json(&entry(c, true))),
        Some(c) => print(c.explanation()),
        None => {
            eprintln!(
                "error: `{code}` is not a diagnostic code; codes look like E0401 or W0101 (`iotc explain --list`)"
            );
            ExitCode::from(2)
        }
    }
}

#[derive(clap::Args)]
pub struct FmtArgs {
    /// Files to format; `-` formats stdin to stdout.
    #[arg(required = true)]
    pub files: Vec<String>,
    /// Change nothing; exit 1 if a file is not formatted.
    #[arg(long)]
    pub check: bool,
    /// Change nothing; print what would change as a unified diff, exit 1 if anything would.
    #[arg(long, conflicts_with = "check")]
    pub diff: bool,
    /// When to use colour.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

/// `iotc fmt`: rewrite files in canonical form, or with `--check` list the
/// ones that are not, or with `--diff` show the changes. A file with syntax
/// errors is reported and left alone.
pub fn fmt(args: &FmtArgs) -> ExitCode {
    let mut unformatted = 0;
    let mut broken = false;
    let mut out = String::new();
    for path in &args.files {
        let read = if path == "-" {
            let mut t = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                .map(|_| t)
                .map_err(|e| format!("cannot read `{path}`: {e}"))
        } else {
            iotc::read_source(path)
        };
        let text = match read {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        match iotc_compiler::fmt::format_source(&text) {
            Ok(formatted) if path == "-" && !args.check && !args.diff => out.push_str(&formatted),
            Ok(formatted) if formatted == text => {}
            Ok(formatted) => {
                unformatted += 1;
                if args.check {
                    eprintln!("{path}: not formatted");
                } else if args.diff {
                    let diff = similar::TextDiff::from_lines(&text, &formatted);
                    out.push_str(&diff.unified_diff().context_radius(3).header(path, path).to_string());
                } else if let Err(e) = write_atomically(path, &formatted) {
                    eprintln!("error: cannot write `{path}`: {e}");
                    return ExitCode::from(2);
                }
            }
            Err(diags) => {
                let mut sources = iotc_compiler::source::SourceMap::default();
                sources.add(iotc_compiler::source::Origin::Path(path.clone()), text);
                let _ = std::io::stderr()
                    .write_all(iotc::render::render_all(&diags, &sources, style(args.color)).as_bytes());
                broken = true;
            }
        }
    }
    let printed = print(&out);
    if printed != ExitCode::SUCCESS {
        return printed;
    }
    if broken || (unformatted > 0 && (args.check || args.diff)) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Write through a temporary file and a rename, so a failure never leaves
/// half a file.
fn write_atomically(path: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.iotc-fmt.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// `iotc completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut crate::Cli::command(), "iotc", &mut buf);
    print(&String::from_utf8_lossy(&buf))
}

/// `iotc man`: the man page (roff) on stdout.
pub fn man() -> ExitCode {
    let mut buf = Vec::new();
    if let Err(e) = clap_mangen::Man::new(crate::Cli::command()).render(&mut buf) {
        eprintln!("error: cannot render the man page: {e}");
        return ExitCode::from(2);
    }
    print(&String::from_utf8_lossy(&buf))
}

const STARTER: &str = include_str!("init/solution.iot");

#[derive(clap::Args)]
pub struct InitArgs {
    /// The project folder (created if missing; default: the current folder).
    #[arg(default_value = ".")]
    pub dir: String,
    /// The solution's name (default: the folder's name).
    #[arg(long)]
    pub name: Option<String>,
}

/// `name` as an identifier (`smart_factory`) and a Kubernetes namespace
/// (`smart-factory`).
fn names(raw: &str) -> (String, String) {
    let mut ident: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    ident = ident.trim_matches('_').to_string();
    if !ident.starts_with(|c: char| c.is_ascii_lowercase()) {
        ident = format!("s_{ident}");
    }
    let mut ns: String = ident.replace('_', "-").chars().take(63).collect();
    ns = ns.trim_end_matches('-').to_string();
    (ident.trim_end_matches('_').to_string(), ns)
}

/// `iotc init [DIR]`: a starter project that checks and builds: DIR/NAME.iot
/// and a .gitignore for the output folder. Never overwrites a file.
pub fn init(args: &InitArgs) -> ExitCode {
    let dir = Path::new(&args.dir);
    let raw = match &args.name {
        Some(n) => n.clone(),
        None => std::path::absolute(dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .unwrap_or_else(|| "solution".to_string()),
    };
    let (ident, namespace) = names(&raw);
    let source = dir.join(format!("{ident}.iot"));
    let ignore = dir.join(".gitignore");
    if source.exists() {
        eprintln!("error: `{}` already exists; nothing was written", source.display());
        return ExitCode::from(2);
    }
    let text = STARTER
        .replacen("solution NAME {", &format!("solution {ident} {{"), 1)
        .replacen("namespace = \"NAMESPACE\"", &format!("namespace = \"{namespace}\""), 1)
        .replace("FILE", &format!("{ident}.iot"));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&source, text))
        .and_then(|()| {
            if ignore.exists() {
                Ok(false)
            } else {
                std::fs::write(&ignore, "# iotc build output\n/out/\n").map(|()| true)
            }
        });
    match written {
        Ok(ignored) => {
            eprintln!("created {}", source.display());
            if ignored {
                eprintln!("created {}", ignore.display());
            }
            let shown = if args.dir == "." {
                format!("{ident}.iot")
            } else {
                source.display().to_string()
            };
            eprintln!("next: iotc check {shown} && iotc plan {shown} && iotc build {shown} -o out");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write `{}`: {e}", source.display());
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn folder_names_become_identifiers_and_namespaces() {
        assert_eq!(names("Smart Factory"), ("smart_factory".into(), "smart-factory".into()));
        assert_eq!(names("2024-demo"), ("s_2024_demo".into(), "s-2024-demo".into()));
    }
}
