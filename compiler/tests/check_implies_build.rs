#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! "If `iotc check` passes, `iotc build` succeeds": every backend emits
//! without an `Err` for every program the checker accepts. Shown over every
//! example, every fixture (error fixtures, the k8s feature fixture, the
//! kept fuzz regressions) and a few hundred programs from a seeded
//! generator of valid-looking solutions (clouds on every provider, pools,
//! fleets on every runtime, sites, services, daemons, jobs with schedules,
//! models with serving and training). `generated_programs_many` runs more
//! of them (`cargo test -p iotc-compiler --test check_implies_build --
//! --ignored`, `IOTC_GEN_PROGRAMS=N`, `IOTC_GEN_SEED=S`).
//!
//! A program the checker accepts and a backend refuses is a checker bug:
//! the limit belongs in the checker, with a code and a span.

use iotc_compiler::emit::{emit, Target};
use iotc_compiler::source::{MemoryDb, ReadError, SourceDb};
use iotc_compiler::{analyze, Overrides};
use std::path::{Path, PathBuf};

struct Fs;

impl SourceDb for Fs {
    fn read(&self, path: &str) -> Result<String, ReadError> {
        std::fs::read_to_string(path).map_err(|e| ReadError(e.to_string()))
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `Some(true)` when check passed and every backend emitted, `Some(false)`
/// when check reported an error; a backend `Err` after a clean check fails.
fn check_then_build(db: &dyn SourceDb, root: &str, what: &str) -> bool {
    let a = analyze(db, root, &Overrides::default());
    if let Some(d) = a.diagnostics.iter().find(|d| d.is_error()) {
        // `IOTC_GEN_VERBOSE=1` shows why programs fail check, to tune the
        // generator.
        if std::env::var_os("IOTC_GEN_VERBOSE").is_some() {
            eprintln!("rejected: {:?} {}", d.code, d.message);
        }
        return false;
    }
    let sol = a
        .solution
        .unwrap_or_else(|| panic!("{what}: check reported no error but gave no solution"));
    for t in Target::ALL {
        if let Err(e) = emit(&sol, &[*t]) {
            panic!("{what}: check passed but build failed: {e}");
        }
    }
    true
}

/// The entry files of a fixture tree: every `.iot` file, except that a
/// folder with a `main.iot` is one program rooted there.
fn entry_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let main = dir.join("main.iot");
    if main.is_file() {
        out.push(main);
        return;
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            entry_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "iot") {
            out.push(p);
        }
    }
}

#[test]
fn every_example_and_fixture_that_passes_check_builds() {
    let mut files = Vec::new();
    for dir in ["examples", "compiler/tests/k8s", "fuzz/regressions"] {
        entry_files(&repo().join(dir), &mut files);
    }
    let mut passed = 0;
    for p in &files {
        let path = p.to_string_lossy().to_string();
        if check_then_build(&Fs, &path, &path) {
            passed += 1;
        }
    }
    // The examples and the warning fixtures pass; a walk that found none
    // would show nothing.
    assert!(files.len() >= 60, "only {} fixture files", files.len());
    assert!(passed >= 10, "only {passed} of {} fixtures pass check", files.len());
}

/// A small deterministic generator (the constants of Knuth's MMIX LCG), so
/// a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Identifiers from a small shared pool, so clusters, fleets, sites and
/// workloads collide now and then, plus long ones that reach the name
/// limits of Kubernetes (63, and 52 for a CronJob).
fn ident(rng: &mut Rng) -> String {
    const POOL: &[&str] = &[
        "edge",
        "cloud",
        "plant",
        "a",
        "b",
        "core",
        "dc",
        "north",
        "sensor_hub",
        "x1",
    ];
    match rng.below(20) {
        0 => {
            let len = 20 + rng.below(45);
            let mut s = String::from("n");
            while s.len() < len {
                s.push(if rng.chance(15) {
                    '_'
                } else {
                    (b'a' + rng.below(26) as u8) as char
                });
            }
            s.trim_end_matches('_').to_string()
        }
        _ => rng.pick(POOL).to_string(),
    }
}

/// A fresh identifier, or (one time in ten) one already in `used`: a
/// duplicate definition the checker must report.
fn unique(rng: &mut Rng, used: &mut Vec<String>) -> String {
    if !used.is_empty() && rng.chance(3) {
        return used[rng.below(used.len())].clone();
    }
    for _ in 0..8 {
        let n = ident(rng);
        if !used.contains(&n) {
            used.push(n.clone());
            return n;
        }
    }
    let n = format!("w{}", used.len());
    used.push(n.clone());
    n
}

/// Cron schedules the checker accepts in every spelling cron has: steps,
/// ranges, lists, month and day names, macros.
const SCHEDULES: &[&str] = &[
    "*/15 * * * *",
    "7,37 * * * *",
    "0 3 * * 0",
    "0 3 * * sun",
    "30 8-17 * * 1-5",
    "0 0 * * */2",
    "0 0 * * 1-5/2",
    "0 12 * jan-mar *",
    "0 12 1 jan,jul *",
    "0 6 * * mon-fri",
    "0 6 * * SUN",
    "0 0 ? * *",
    "0 0 1 */3 ?",
    "5 4 * dec sat",
    "0 */6 * * *",
    "0 1-23/2 * * *",
    "@daily",
    "@hourly",
    "@weekly",
    "@monthly",
    "@yearly",
    "@annually",
    "@midnight",
];

/// Strings that reach every output context: labels, regions, env values.
const TEXTS: &[&str] = &[
    "plain",
    "yes",
    "Stuttgart, DE",
    "{{ lookup('env', 'HOME') }}",
    "${var.x}",
    "$${x}",
    "<<",
    "a\\u{2028}b",
    "50%",
    "#hash",
    "'quoted' \\\"twice\\\"",
    "",
];

struct Group {
    name: String,
    kind: GroupKind,
}

#[derive(PartialEq)]
enum GroupKind {
    Cluster { gpu: bool },
    Fleet,
}

fn program(seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut s = String::new();
    let name = ident(&mut rng);
    let version = rng.pick(&["1.0.0", "2", "0.3.0-rc.1"]);
    s += &format!(
        "solution {name} {{\n  version = \"{version}\"\n  namespace = \"{}\"\n}}\n\n",
        rng.pick(&["gen", "plant-ops", "a"])
    );
    s += "import std.devices\nimport std.cloud\nimport std.ml\nimport std.services\n\n";
    let param = rng.chance(40);
    if param {
        s += "param factor: int = 2 { min = 1  max = 5 }\n\n";
    }

    // Fleets, clusters, workloads and models share one scope.
    let mut names: Vec<String> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut fleets: Vec<String> = Vec::new();
    // Fleets first, so a cluster's node count can follow them.
    for _ in 0..1 + rng.below(2) {
        let f = unique(&mut rng, &mut names);
        let (device, runtimes): (&str, &[&str]) = match rng.below(4) {
            0 => ("x86_gateway", &["k3s", "microk8s", "docker"]),
            1 => ("rpi5", &["k3s", "microk8s", "docker"]),
            2 => ("jetson_orin_nano", &["k3s", "docker"]),
            _ => ("cm4_solar", &["docker"]),
        };
        let runtime = rng.pick(runtimes);
        s += &format!("fleet {f} {{\n  device = std.devices.{device}\n  runtime = {runtime}\n");
        if rng.chance(30) {
            s += &format!("  labels {{ tier = \"{}\" }}\n", rng.pick(&["edge", "yes", "a.b"]));
        }
        let mut sites = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let site = unique(&mut rng, &mut sites);
            let gateways = match rng.below(4) {
                0 if param => "factor".to_string(),
                1 if param => "2 * factor".to_string(),
                _ => (1 + rng.below(5)).to_string(),
            };
            s += &format!("  site {site} {{\n    gateways = {gateways}\n");
            s += &format!(
                "    hosts = \"{}\"\n",
                rng.pick(&[
                    "gw{n}.{site}.example.internal",
                    "{site}-{n}.lan",
                    "gw{n}.{site}",
                    "{site}{n}",
                    "g{n}"
                ])
            );
            if rng.chance(30) {
                s += "    standby = 1\n";
            }
            if rng.chance(50) {
                s += &format!("    region = \"{}\"\n", rng.pick(TEXTS));
            }
            s += &format!("    labels {{ camera = \"{}\" }}\n  }}\n", rng.pick(&["yes", "no"]));
        }
        s += "}\n\n";
        fleets.push(f.clone());
        groups.push(Group {
            name: f,
            kind: GroupKind::Fleet,
        });
    }

    for _ in 0..rng.below(3) {
        let c = unique(&mut rng, &mut names);
        s += &format!("cluster {c} {{\n");
        let (node, gpu_node) = match rng.below(3) {
            0 => {
                s += &format!(
                    "  provider = aws {{ region = \"{}\"  zones = {} }}\n",
                    rng.pick(&["eu-west-1", "us-east-1"]),
                    1 + rng.below(3)
                );
                if rng.chance(50) {
                    s += "  distribution = eks\n";
                }
                ("aws_m6i_xlarge", Some("aws_g5_xlarge"))
            }
            1 => {
                s += "  provider = vsphere {\n    datacenter = \"DC\"\n    cluster = \"C-01\"\n    datastore = \"ds\"\n    network = \"PG\"\n    template = \"ubuntu\"\n    folder = \"K8s\"\n  }\n  distribution = kubeadm\n";
                ("vsphere_vm_4x16", None)
            }
            _ => {
                s += &format!(
                    "  provider = baremetal {{ hosts = \"{}\" }}\n  distribution = {}\n",
                    rng.pick(&["ops{n}.dc.internal", "node{n}"]),
                    rng.pick(&["k3s", "kubeadm"])
                );
                ("baremetal_server", None)
            }
        };
        s += &format!("  node = std.cloud.{node}\n");
        let nodes = match rng.below(3) {
            0 if !fleets.is_empty() => format!("1 per 4 gateways of {} min 3", fleets[rng.below(fleets.len())]),
            _ => (1 + rng.below(4)).to_string(),
        };
        s += &format!("  nodes = {nodes}\n");
        if rng.chance(50) {
            s += &format!("  domain = \"{}\"\n", rng.pick(&["apps.example.test", "ops.internal"]));
        }
        let mut gpu = false;
        if let Some(g) = gpu_node {
            if rng.chance(40) {
                s += &format!("  pool gpu {{\n    node = std.cloud.{g}\n    nodes = 1\n  }}\n");
                gpu = true;
            }
        }
        s += "}\n\n";
        groups.push(Group {
            name: c,
            kind: GroupKind::Cluster { gpu },
        });
    }

    let mut workloads: Vec<String> = Vec::new();
    let images = [
        "ghcr.io/acme/app:1.0.0",
        "docker.io/library/busybox:1.36",
        "registry.example:5000/x/y:2",
    ];
    for _ in 0..1 + rng.below(6) {
        let g = &groups[rng.below(groups.len())];
        let w = unique(&mut rng, &mut names);
        workloads.push(w.clone());
        let fleet = g.kind == GroupKind::Fleet;
        let kind = rng.below(if fleet { 3 } else { 2 });
        let keyword = ["service", "job", "daemon"][kind];
        let selector = if fleet && rng.chance(25) {
            format!(" where camera {} \"yes\"", rng.pick(&["=", "!="]))
        } else {
            String::new()
        };
        s += &format!("{keyword} {w} on {}{selector} {{\n", g.name);
        s += &format!("  image = \"{}\"\n", images[rng.below(images.len())]);
        s += "  cpu = 100m\n  memory = 64Mi\n";
        match kind {
            0 => {
                s += &format!("  port = {}\n", 1024 + rng.below(60000));
                if rng.chance(40) {
                    s += "  health = \"/healthz\"\n";
                }
                match rng.below(4) {
                    0 if fleet => s += "  replicas = 1 per gateway\n",
                    1 => s += &format!("  replicas = {}\n", 1 + rng.below(3)),
                    2 if !fleet => s += "  autoscale { min = 1  max = 3  cpu_percent = 60 }\n",
                    _ => {}
                }
                if fleet && rng.chance(20) {
                    s += "  critical = true\n";
                }
                if !fleet && rng.chance(20) {
                    s += "  public = true\n";
                }
            }
            1 => {
                if rng.chance(80) {
                    s += &format!("  schedule = \"{}\"\n", rng.pick(SCHEDULES));
                }
                s += &format!("  deadline = {}m\n  backoff = {}\n", 1 + rng.below(60), rng.below(4));
            }
            _ => {
                if rng.chance(30) {
                    s += "  device \"/dev/ttyUSB0\"\n";
                }
            }
        }
        if rng.chance(30) {
            s += &format!(
                "  volume data {{ mount = \"/var/lib/{w}\"  size = {}Gi }}\n",
                1 + rng.below(4)
            );
        }
        if rng.chance(40) {
            s += &format!("  env {{\n    MODE = \"{}\"\n  }}\n", rng.pick(TEXTS));
        }
        if rng.chance(30) {
            s += &format!(
                "  secret API_TOKEN from {}\n",
                rng.pick(&[
                    "vault \"secret/data/gen/api#token\"",
                    "file \"/etc/gen/token\"",
                    "env \"GEN_TOKEN\""
                ])
            );
        }
        let earlier: Vec<&String> = workloads.iter().filter(|x| **x != w).collect();
        if !earlier.is_empty() && rng.chance(40) {
            s += &format!("  talks_to = [{}]\n", earlier[rng.below(earlier.len())]);
        }
        s += "}\n\n";
    }

    if rng.chance(50) {
        let m = unique(&mut rng, &mut names);
        let (format, artifact, runtime) = match rng.below(2) {
            0 => ("onnx", "s3://models/m/model.onnx", "onnxruntime"),
            _ => ("tflite", "https://models.example/m/model.tflite", "tflite"),
        };
        s += &format!(
            "model {m} {{\n  format = {format}\n  version = \"{}\"\n  artifact = \"{artifact}\"\n",
            1 + rng.below(20)
        );
        let g = &groups[rng.below(groups.len())];
        s += &format!("  serve on {} {{\n    runtime = std.ml.{runtime}\n", g.name);
        if g.kind == GroupKind::Fleet && rng.chance(50) {
            s += "    replicas = 1 per gateway\n";
        } else {
            s += "    replicas = 1\n";
        }
        s += "    cpu = 500m\n    memory = 512Mi\n  }\n";
        let clusters: Vec<&Group> = groups.iter().filter(|g| g.kind != GroupKind::Fleet).collect();
        if !clusters.is_empty() && rng.chance(60) {
            let c = clusters[rng.below(clusters.len())];
            let gpu = matches!(c.kind, GroupKind::Cluster { gpu: true }) && rng.chance(50);
            s += &format!(
                "  train on {} {{\n    image = \"ghcr.io/acme/trainer:1.0.0\"\n    schedule = \"{}\"\n    cpu = 1\n    memory = 2Gi\n{}    deadline = 1h\n  }}\n",
                c.name,
                rng.pick(SCHEDULES),
                if gpu { "    gpu = 1\n" } else { "" }
            );
        }
        s += "}\n";
    }
    s
}

/// Runs `count` generated programs from `seed`; returns how many passed
/// check (and therefore had to build). All failures are reported together,
/// each with its seed and source.
fn run_generated(seed: u64, count: u64) -> u64 {
    let mut passed = 0;
    let mut failures = Vec::new();
    for i in 0..count {
        let src = program(seed.wrapping_add(i));
        let db = MemoryDb::new().with("gen.iot", &src);
        let what = format!("generated program (seed {})\n{src}", seed.wrapping_add(i));
        match std::panic::catch_unwind(|| check_then_build(&db, "gen.iot", &what)) {
            Ok(true) => passed += 1,
            Ok(false) => {}
            Err(e) => failures.push(
                e.downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "a panic without a message".to_string()),
            ),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} generated programs passed check and failed to build:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    passed
}

#[test]
fn generated_programs_that_pass_check_build() {
    let count = 300;
    let passed = run_generated(1, count);
    // The generator is only worth something if most of what it writes is
    // accepted: the backends run only on those.
    assert!(
        passed * 3 >= count,
        "only {passed} of {count} generated programs pass check"
    );
}

#[test]
#[ignore = "thousands of generated programs; run on demand"]
fn generated_programs_many() {
    let count: u64 = std::env::var("IOTC_GEN_PROGRAMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    let seed: u64 = std::env::var("IOTC_GEN_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let passed = run_generated(seed, count);
    eprintln!("{passed} of {count} generated programs passed check and built");
}

/// The backends' own name checks stay internal: the checker reports each
/// case first, with its code.
#[test]
fn backend_limits_are_checker_rules() {
    let base = "solution s { version = \"1.0.0\" }\nimport std.devices\nimport std.cloud\nimport std.ml\n";
    let cases: &[(&str, &str)] = &[
        // k8s/<name>/ would hold both.
        (
            "E0102",
            "cluster edge { provider = aws { region = \"eu-west-1\" }  node = std.cloud.aws_m6i_xlarge  nodes = 1 }\n\
             fleet edge { device = std.devices.rpi5  runtime = k3s  site a { gateways = 1  hosts = \"g{n}.{site}\" } }",
        ),
        // Two AWS IoT things (and inventory hosts) named g1.
        (
            "E0208",
            "fleet f { device = std.devices.rpi5  runtime = docker\n\
             site a { gateways = 1  hosts = \"g{n}\" }\n site b { gateways = 1  hosts = \"g{n}\" } }",
        ),
        (
            "E0208",
            "cluster c { provider = baremetal { hosts = \"n{n}\" }  distribution = k3s  node = std.cloud.baremetal_server  nodes = 1 }\n\
             fleet f { device = std.devices.rpi5  runtime = docker  site a { gateways = 1  hosts = \"n{n}\" } }",
        ),
        // `<model>-serve` over 63 characters.
        (
            "E0206",
            "cluster c { provider = aws { region = \"eu-west-1\" }  node = std.cloud.aws_m6i_xlarge  nodes = 1 }\n\
             model m012345678901234567890123456789012345678901234567891234567 { format = onnx  version = \"1\"\n\
             artifact = \"s3://models/m/model.onnx\"  serve on c { runtime = std.ml.onnxruntime  replicas = 1 } }",
        ),
        // Kubernetes' cron has no day 7.
        (
            "E0204",
            "fleet f { device = std.devices.rpi5  runtime = k3s  site a { gateways = 1  hosts = \"g{n}.{site}\" } }\n\
             job j on f { image = \"x/y:1\"  schedule = \"0 0 * * 7\" }",
        ),
    ];
    for (code, body) in cases {
        let src = format!("{base}{body}\n");
        let db = MemoryDb::new().with("main.iot", &src);
        let a = analyze(&db, "main.iot", &Overrides::default());
        let codes: Vec<String> = a
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.code.to_string())
            .collect();
        assert_eq!(codes, vec![code.to_string()], "{src}");
    }
    // And what the systemd timers could not say before: every spelling of a
    // schedule on a Docker fleet builds.
    for schedule in SCHEDULES {
        let src = format!(
            "{base}fleet f {{ device = std.devices.rpi5  runtime = docker  site a {{ gateways = 1  hosts = \"g{{n}}.{{site}}\" }} }}\n\
             job j on f {{ image = \"x/y:1\"  schedule = \"{schedule}\" }}\n"
        );
        let db = MemoryDb::new().with("main.iot", &src);
        assert!(check_then_build(&db, "main.iot", &src), "{src}");
    }
}
