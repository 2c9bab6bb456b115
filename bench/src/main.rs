//! `iotc-bench`: generates the fleet workload and times the release `iotc`
//! on it, one child process per run, reporting wall time and peak RSS.
//!
//! ```text
//! iotc-bench gen S E > fleet.iot
//! iotc-bench run [--iotc PATH] [--runs N] [--sizes 10x10,100x50,1000x200]
//!                [--cmd "check {file}"] [--keep]
//! iotc-bench studio [--iotc PATH] [--runs N] [--sizes 1000x200]
//! ```
//!
//! `--cmd` is the argument list given to `iotc`, split at spaces: `{file}`
//! is the generated program (appended when absent) and `{out}` a fresh
//! output directory per run, whose size is then reported, e.g.
//! `--cmd "build {file} --target k8s -o {out}"`.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use iotc_bench::{fleet_workload, SIZES};

mod studio;

const USAGE: &str = "\
usage:
  iotc-bench gen SERVICES SITES         write the fleet workload to stdout
  iotc-bench run [OPTIONS]              time iotc on the fleet workload
  iotc-bench studio [--iotc PATH] [--runs N] [--sizes LIST]
                                        time `iotc studio`'s knob change →
                                        view data (default size 1000x200)

options of run:
  --iotc PATH      the iotc binary (default: <workspace>/target/release/iotc)
  --runs N         timed runs per size, after one warm-up (default: 5)
  --sizes LIST     sizes as SxE, comma-separated (default: 10x10,100x50,1000x200)
  --cmd ARGS       arguments to iotc, split at spaces; {file} is the program
                   (appended when absent), {out} a fresh output directory
                   (default: \"check {file}\")
  --keep           keep the generated files and outputs

  iotc-bench services [--iotc PATH] [--runs N] [--sizes 2500,5000,10000]
                                        time `iotc check` on chains of N services
                                        (does the checker stay linear in services?)

  iotc-bench hostile [--iotc PATH] [--runs N] [--keep]
                                        time `iotc check` and `iotc fmt --check`
                                        on every hostile input (issue 12)
";

/// The release build of the workspace's `iotc`.
fn default_iotc() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("release").join("iotc")
}

struct RunOptions {
    iotc: PathBuf,
    runs: usize,
    sizes: Vec<(usize, usize)>,
    cmd: String,
    keep: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen") => gen(args.get(1..).unwrap_or_default()),
        Some("run") => parse_run(args.get(1..).unwrap_or_default()).and_then(|o| run(&o)),
        Some("studio") => parse_run(args.get(1..).unwrap_or_default()).and_then(|o| {
            studio::run(&studio::StudioOptions {
                iotc: o.iotc,
                runs: o.runs,
                sizes: if args.iter().any(|a| a == "--sizes") {
                    o.sizes
                } else {
                    vec![(1000, 200)]
                },
            })
        }),
        Some("services") => parse_services(args.get(1..).unwrap_or_default()).and_then(|o| services(&o)),
        Some("hostile") => parse_run(args.get(1..).unwrap_or_default()).and_then(|o| hostile(&o)),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("expected a subcommand\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("iotc-bench: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn gen(args: &[String]) -> Result<(), String> {
    let [services, sites] = args else {
        return Err(format!("gen takes SERVICES SITES\n\n{USAGE}"));
    };
    let services = parse_count(services)?;
    let sites = parse_count(sites)?;
    io::stdout()
        .lock()
        .write_all(fleet_workload(services, sites).as_bytes())
        .map_err(|e| format!("cannot write: {e}"))
}

fn parse_count(s: &str) -> Result<usize, String> {
    s.parse().map_err(|_| format!("expected a whole number, found `{s}`"))
}

fn parse_size(s: &str) -> Result<(usize, usize), String> {
    let (a, b) = s
        .split_once(['x', 'X', '×'])
        .ok_or_else(|| format!("expected a size like 100x50, found `{s}`"))?;
    Ok((parse_count(a)?, parse_count(b)?))
}

/// A comma-separated list (`100x50,200x100`), each item read by `parse`.
fn parse_list<T>(s: &str, parse: fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    s.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse(s.trim()))
        .collect()
}

fn parse_run(args: &[String]) -> Result<RunOptions, String> {
    let mut opts = RunOptions {
        iotc: default_iotc(),
        runs: 5,
        sizes: SIZES.to_vec(),
        cmd: "check {file}".into(),
        keep: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--iotc" => opts.iotc = PathBuf::from(value()?),
            "--runs" => opts.runs = parse_count(&value()?)?.max(1),
            "--sizes" => {
                opts.sizes = parse_list(&value()?, parse_size)?;
            }
            "--cmd" => opts.cmd = value()?,
            "--keep" => opts.keep = true,
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    Ok(opts)
}

/// One finished child: its wall time, peak resident set and exit status.
struct Sample {
    wall: Duration,
    /// CPU time in user mode: less disturbed than wall time by other work
    /// on a shared machine.
    user: Duration,
    max_rss_kib: u64,
    status: Status,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Exited(i32),
    Signalled(i32),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Exited(0) => f.write_str("ok"),
            Status::Exited(code) => write!(f, "exit {code}"),
            Status::Signalled(sig) => write!(f, "signal {sig}"),
        }
    }
}

/// Runs `iotc` once with its output sent to `log`, and reaps it with
/// `wait4` so that its own peak RSS is known.
fn run_once(iotc: &Path, args: &[String], log: &Path) -> Result<Sample, String> {
    let out = File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot reopen {}: {e}", log.display()))?;
    let start = Instant::now();
    let child = Command::new(iotc)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", iotc.display()))?;
    let (status, max_rss_kib, user) = reap(child)?;
    Ok(Sample {
        wall: start.elapsed(),
        user,
        max_rss_kib,
        status,
    })
}

#[cfg(unix)]
fn reap(child: std::process::Child) -> Result<(Status, u64, Duration), String> {
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| format!("bad pid: {e}"))?;
    let mut status: libc::c_int = 0;
    // SAFETY: `rusage` is plain old data, so all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live, writable locals of the right
        // types, and `pid` is our own unreaped child (`Child` never waited).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(format!("wait4 failed: {err}"));
        }
    }
    let status = if libc::WIFEXITED(status) {
        Status::Exited(libc::WEXITSTATUS(status))
    } else {
        Status::Signalled(libc::WTERMSIG(status))
    };
    let user = Duration::from_secs(u64::try_from(usage.ru_utime.tv_sec).unwrap_or(0))
        + Duration::from_micros(u64::try_from(usage.ru_utime.tv_usec).unwrap_or(0));
    // On Linux `ru_maxrss` is in KiB.
    Ok((status, u64::try_from(usage.ru_maxrss).unwrap_or(0), user))
}

#[cfg(not(unix))]
fn reap(mut child: std::process::Child) -> Result<(Status, u64, Duration), String> {
    let status = child.wait().map_err(|e| format!("wait failed: {e}"))?;
    Ok((Status::Exited(status.code().unwrap_or(-1)), 0, Duration::ZERO))
}

/// Total size in bytes of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

fn remove_dir(dir: &Path) -> Result<(), String> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", dir.display())),
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(sorted: &[Duration]) -> Duration {
    let n = sorted.len();
    match (sorted.get(n / 2), n % 2) {
        (Some(&mid), 1) => mid,
        (Some(&hi), _) => sorted.get(n / 2 - 1).map_or(hi, |&lo| (lo + hi) / 2),
        (None, _) => Duration::ZERO,
    }
}

/// What one size measured.
struct Row {
    size: (usize, usize),
    lines: usize,
    bytes: usize,
    status: Status,
    median: Duration,
    min: Duration,
    max_rss_kib: u64,
    output_bytes: Option<u64>,
}

fn run(opts: &RunOptions) -> Result<(), String> {
    iotc_bench::require_iotc(&opts.iotc)?;
    let words: Vec<&str> = opts.cmd.split_whitespace().collect();
    let writes_output = words.iter().any(|w| w.contains("{out}"));
    let dir = iotc_bench::scratch_dir("iotc-bench")?;

    let mut rows = Vec::new();
    for &(services, sites) in &opts.sizes {
        let tag = format!("{services}x{sites}");
        let file = dir.join(format!("fleet-{tag}.iot"));
        let out = dir.join(format!("out-{tag}"));
        let log = dir.join(format!("iotc-{tag}.log"));
        let text = fleet_workload(services, sites);
        fs::write(&file, &text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        let file_arg = file.display().to_string();
        let out_arg = out.display().to_string();
        let mut args: Vec<String> = words
            .iter()
            .map(|w| w.replace("{file}", &file_arg).replace("{out}", &out_arg))
            .collect();
        if !words.iter().any(|w| w.contains("{file}")) {
            args.push(file_arg);
        }

        eprint!("{tag}: warm-up");
        let mut samples = Vec::with_capacity(opts.runs);
        for i in 0..=opts.runs {
            if writes_output {
                remove_dir(&out)?;
            }
            let sample = run_once(&opts.iotc, &args, &log)?;
            if i == 0 {
                if sample.status != Status::Exited(0) {
                    eprintln!();
                    eprintln!(
                        "`iotc {}` failed ({}); first lines of its output:",
                        args.join(" "),
                        sample.status
                    );
                    let logged = fs::read_to_string(&log).unwrap_or_default();
                    for line in logged.lines().take(20) {
                        eprintln!("  | {line}");
                    }
                }
                eprint!(", run");
            } else {
                eprint!(" {i}");
                samples.push(sample);
            }
        }
        eprintln!();

        let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
        walls.sort();
        rows.push(Row {
            size: (services, sites),
            lines: text.lines().count(),
            bytes: text.len(),
            status: samples
                .iter()
                .map(|s| s.status)
                .find(|s| *s != Status::Exited(0))
                .unwrap_or(Status::Exited(0)),
            median: median(&walls),
            min: walls.first().copied().unwrap_or_default(),
            max_rss_kib: samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0),
            output_bytes: writes_output.then(|| dir_size(&out)),
        });
    }

    print_report(opts, &rows);
    if opts.keep {
        eprintln!("kept the generated files in {}", dir.display());
    } else {
        remove_dir(&dir)?;
    }
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| r.status != Status::Exited(0))
        .map(|r| format!("{}x{}", r.size.0, r.size.1))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("iotc failed at {}", failed.join(", ")))
    }
}

fn print_report(opts: &RunOptions, rows: &[Row]) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "`iotc {}` on the fleet workload, {} runs after one warm-up, {} CPUs",
        opts.cmd, opts.runs, cpus
    );
    println!();
    let with_output = rows.iter().any(|r| r.output_bytes.is_some());
    if with_output {
        println!("| services × sites | lines | bytes | status | median ms | min ms | peak RSS MiB | output MB | output MB/s |");
        println!("|---:|---:|---:|:---|---:|---:|---:|---:|---:|");
    } else {
        println!("| services × sites | lines | bytes | status | median ms | min ms | peak RSS MiB |");
        println!("|---:|---:|---:|:---|---:|---:|---:|");
    }
    for r in rows {
        print!(
            "| {} × {} | {} | {} | {} | {:.1} | {:.1} | {:.1} |",
            r.size.0,
            r.size.1,
            r.lines,
            r.bytes,
            r.status,
            millis(r.median),
            millis(r.min),
            r.max_rss_kib as f64 / 1024.0
        );
        if let Some(bytes) = r.output_bytes {
            let mb = bytes as f64 / 1e6;
            let secs = r.median.as_secs_f64();
            let rate = if secs > 0.0 { mb / secs } else { 0.0 };
            print!(" {mb:.2} | {rate:.1} |");
        }
        println!();
    }
    if let Some(r) = rows.iter().find(|r| r.size == (1000, 200)) {
        if opts.cmd.split_whitespace().next() == Some("check") {
            let ran = r.status == Status::Exited(0);
            let time_ok = ran && millis(r.median) < 150.0;
            let mem_ok = ran && r.max_rss_kib.saturating_mul(1024) < 100_000_000;
            println!();
            println!(
                "target at 1000 × 200: median under 150 ms: {}; peak RSS under 100 MB: {}{}",
                if time_ok { "yes" } else { "NO" },
                if mem_ok { "yes" } else { "NO" },
                if ran { "" } else { " (iotc failed)" }
            );
        }
    }
}

/// The time budget of every hostile input, for `check` and for `fmt`.
const HOSTILE_BUDGET_MS: f64 = 1000.0;

/// `iotc-bench hostile`: every input of [`iotc_bench::hostile::cases`],
/// through `iotc check` and `iotc fmt --check`: exit status (never a
/// signal), median wall time, peak RSS and how much it wrote.
fn hostile(opts: &RunOptions) -> Result<(), String> {
    iotc_bench::require_iotc(&opts.iotc)?;
    let dir = iotc_bench::scratch_dir("iotc-bench-hostile")?;
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "hostile inputs, {} runs after one warm-up, {cpus} CPUs; budget {HOSTILE_BUDGET_MS} ms each",
        opts.runs
    );
    println!();
    println!("| input | bytes | check | check median ms | fmt --check | fmt median ms | peak RSS MiB | stderr bytes |");
    println!("|:---|---:|:---|---:|:---|---:|---:|---:|");
    let mut failed = Vec::new();
    for case in iotc_bench::hostile::cases() {
        let file = dir.join(format!("{}.iot", case.name));
        fs::write(&file, &case.text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        let file_arg = file.display().to_string();
        let log = dir.join(format!("{}.log", case.name));
        let mut cells = Vec::new();
        let mut rss = 0u64;
        let mut stderr_bytes = 0u64;
        for cmd in [vec!["check", "--color", "never"], vec!["fmt", "--check"]] {
            let mut args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
            args.push(file_arg.clone());
            eprint!("{} {}:", case.name, cmd.first().copied().unwrap_or(""));
            let mut walls = Vec::new();
            let mut status = Status::Exited(0);
            for i in 0..=opts.runs {
                let sample = run_once(&opts.iotc, &args, &log)?;
                if i > 0 {
                    walls.push(sample.wall);
                }
                status = sample.status;
                rss = rss.max(sample.max_rss_kib);
                eprint!(" {i}");
            }
            eprintln!();
            if cmd.first() == Some(&"check") {
                stderr_bytes = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
            }
            walls.sort();
            let ms = millis(median(&walls));
            if matches!(status, Status::Signalled(_) | Status::Exited(101)) || ms > HOSTILE_BUDGET_MS {
                failed.push(format!("{} ({})", case.name, cmd.join(" ")));
            }
            cells.push(format!("{status} | {ms:.1}"));
        }
        println!(
            "| {} | {} | {} | {:.1} | {} |",
            case.name,
            case.text.len(),
            cells.join(" | "),
            rss as f64 / 1024.0,
            stderr_bytes
        );
    }
    if opts.keep {
        eprintln!("kept the inputs in {}", dir.display());
    } else {
        remove_dir(&dir)?;
    }
    println!();
    if failed.is_empty() {
        println!("every input answered (no signal, no panic) within {HOSTILE_BUDGET_MS} ms");
        Ok(())
    } else {
        println!("over budget or crashed: {}", failed.join(", "));
        Err(format!("over budget or crashed: {}", failed.join(", ")))
    }
}

struct ServicesOptions {
    iotc: PathBuf,
    runs: usize,
    sizes: Vec<usize>,
}

fn parse_services(args: &[String]) -> Result<ServicesOptions, String> {
    let mut opts = ServicesOptions {
        iotc: default_iotc(),
        runs: 3,
        sizes: vec![2_500, 5_000, 10_000],
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--iotc" => opts.iotc = PathBuf::from(value()?),
            "--runs" => opts.runs = parse_count(&value()?)?.max(1),
            "--sizes" => {
                opts.sizes = parse_list(&value()?, parse_count)?;
            }
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    Ok(opts)
}

/// `iotc-bench services`: `iotc check` on programs of N services, to see
/// that the checker's time grows linearly with the number of services.
/// Two shapes: a count chain (each service's replicas are the next one's,
/// [`iotc_bench::hostile::chain`]; deeper than the checker follows, so it
/// reports E0307 once) and a call chain (each service `talks_to` the next
/// and has a port, so every flow is resolved).
fn services(opts: &ServicesOptions) -> Result<(), String> {
    iotc_bench::require_iotc(&opts.iotc)?;
    let dir = iotc_bench::scratch_dir("iotc-bench-services")?;
    println!("| shape | services | bytes | check | median ms | user CPU ms | user µs per service | peak RSS MiB |");
    println!("|:---|---:|---:|:---|---:|---:|---:|---:|");
    /// A generator of a program with `n` services.
    type Shape = fn(usize) -> String;
    let shapes: [(&str, Shape); 2] = [
        ("count chain", |n| iotc_bench::hostile::chain(n, false)),
        ("call chain", iotc_bench::hostile::call_chain),
    ];
    for (shape, make) in shapes {
        for &n in &opts.sizes {
            let text = make(n);
            let file = dir.join(format!("services-{n}.iot"));
            let log = dir.join(format!("services-{n}.log"));
            fs::write(&file, &text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            let args = vec!["check".to_string(), file.display().to_string()];
            let (mut walls, mut users) = (Vec::new(), Vec::new());
            let (mut status, mut rss) = (Status::Exited(0), 0u64);
            for _ in 0..opts.runs {
                let sample = run_once(&opts.iotc, &args, &log)?;
                walls.push(sample.wall);
                users.push(sample.user);
                status = sample.status;
                rss = rss.max(sample.max_rss_kib);
            }
            walls.sort();
            users.sort();
            let user = median(&users);
            println!(
                "| {shape} | {n} | {} | {status} | {:.0} | {:.0} | {:.1} | {:.1} |",
                text.len(),
                millis(median(&walls)),
                millis(user),
                user.as_secs_f64() * 1e6 / n.max(1) as f64,
                rss as f64 / 1024.0
            );
        }
    }
    remove_dir(&dir)
}
