#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The Compose backend on every shipped example: snapshots of every file,
//! byte-identical output across runs, replicas that follow the knob exactly
//! as the IR places them, and no secret value in any file.

use iotc_compiler::check::{analyze, Overrides};
use iotc_compiler::emit::{compose, emit, OutputFile, Target};
use iotc_compiler::ir::{Placement, Solution};
use iotc_compiler::source::{MemoryDb, ReadError, SourceDb};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Reads solution files from disk, relative to the repository root.
struct Fs;

impl SourceDb for Fs {
    fn read(&self, path: &str) -> Result<String, ReadError> {
        std::fs::read_to_string(path).map_err(|e| ReadError(format!("{path}: {e}")))
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `(name, root file)` of every example: `examples/<name>/<name>.iot`.
fn examples() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let dir = repo().join("examples");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let root = p.join(format!("{name}.iot"));
        if name != "errors" && root.is_file() {
            out.push((name, root.to_string_lossy().to_string()));
        }
    }
    assert!(out.len() >= 3, "examples not found under {}", dir.display());
    out
}

fn solve(db: &dyn SourceDb, root: &str, overrides: &Overrides) -> Solution {
    let a = analyze(db, root, overrides);
    match a.solution {
        Some(s) => s,
        None => panic!("{root} does not check: {:#?}", a.diagnostics),
    }
}

fn compose_files(sol: &Solution) -> Vec<OutputFile> {
    emit(sol, &[Target::Compose]).unwrap()
}

fn services(f: &OutputFile) -> serde_json::Value {
    // Only what the tests compare: each service's `deploy.replicas`, its
    // `iotc.dev/site-replicas` label and whether it is a job, read from the
    // writer's fixed block layout.
    let mut services = serde_json::Map::new();
    let mut current: Option<String> = None;
    let mut in_services = false;
    for line in f.contents.lines() {
        if line == "services:" {
            in_services = true;
            continue;
        }
        if !line.starts_with(' ') {
            in_services = false;
            current = None;
            continue;
        }
        if !in_services {
            continue;
        }
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
            if !name.starts_with(' ') {
                current = Some(name.to_string());
                services.insert(name.to_string(), serde_json::json!({}));
                continue;
            }
        }
        let Some(svc) = current.as_ref() else { continue };
        let entry = services.get_mut(svc).unwrap();
        let t = line.trim();
        if let Some(v) = t.strip_prefix("replicas: ") {
            entry["replicas"] = serde_json::Value::String(v.to_string());
        }
        if let Some(v) = t.strip_prefix("iotc.dev/site-replicas: ") {
            entry["site_replicas"] = serde_json::Value::String(v.trim_matches('\'').to_string());
        }
        if t == "- jobs" {
            entry["job"] = serde_json::Value::Bool(true);
        }
    }
    serde_json::Value::Object(services)
}

/// With `IOTC_COMPOSE_OUT=DIR`, writes the files to `DIR/<example>/` for
/// `validate-outputs`; otherwise nothing (tests keep out of shared folders).
fn write_out(example: &str, files: &[OutputFile]) {
    let Ok(root) = std::env::var("IOTC_COMPOSE_OUT") else {
        return;
    };
    let dir = Path::new(&root).join(example);
    let _ = std::fs::remove_dir_all(&dir);
    for f in files {
        let p = dir.join(&f.path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, &f.contents).unwrap();
    }
}

#[test]
fn every_example_snapshots_and_is_deterministic() {
    for (name, root) in examples() {
        let sol = solve(&Fs, &root, &Overrides::default());
        let files = compose_files(&sol);
        let again = compose_files(&solve(&Fs, &root, &Overrides::default()));
        assert_eq!(files, again, "{name}: two emits differ");
        for f in &files {
            assert!(
                f.path.starts_with("compose/") && f.path.ends_with("/compose.yaml"),
                "{}",
                f.path
            );
            assert!(!f.contents.contains("\nversion:"), "{}: top-level version", f.path);
        }
        write_out(&name, &files);
        let listing: String = files.iter().map(|f| format!("{}\n", f.path)).collect();
        let docker_fleets: Vec<&str> = sol
            .fleets
            .iter()
            .filter(|f| f.runtime.kind == "compose")
            .map(|f| f.name.as_str())
            .collect();
        let listing = format!(
            "compose fleets: {}\n{}",
            if docker_fleets.is_empty() {
                "(none)".to_string()
            } else {
                docker_fleets.join(", ")
            },
            listing
        );
        insta::with_settings!({
            snapshot_path => format!("../../snapshots/compose/{name}"),
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!("files", listing);
            for f in &files {
                let snap = f.path.trim_start_matches("compose/").trim_end_matches(".yaml").replace('/', "__");
                insta::assert_snapshot!(snap, f.contents);
            }
        });
    }
}

/// Per site, each service's copies: in the file (its `site-replicas`
/// label and the leader's default in `deploy.replicas`) and summed over the
/// gateways of [`compose::stacks`], against the IR's placement.
fn check_replicas(sol: &Solution) -> usize {
    let files = compose_files(sol);
    let stacks = compose::stacks(sol);
    let mut checked = 0;
    for w in &sol.workloads {
        let Placement::Fleet { fleet, sites } = &w.placement else {
            continue;
        };
        let Some(f) = sol.fleets.iter().find(|f| &f.name == fleet) else {
            continue;
        };
        if f.runtime.kind != "compose" {
            continue;
        }
        for sp in sites.iter() {
            let path = compose::stack_path(fleet, &sp.site);
            let file = files.iter().find(|x| x.path == path).unwrap();
            let services = services(file);
            let svc = &services[&w.name];
            assert_eq!(svc["site_replicas"], sp.replicas.to_string(), "{path}: {}", w.name);
            let stack = stacks.iter().find(|s| s.path == path).unwrap();
            let site = f.sites.iter().find(|s| *s.name == *sp.site).unwrap();
            assert_eq!(stack.hosts.len() as u32, site.gateways);
            let per_host: Vec<u32> = stack.hosts.iter().map(|h| h.replicas[&w.name]).collect();
            assert_eq!(per_host.iter().sum::<u32>(), sp.replicas, "{path}: {}", w.name);
            assert!(
                per_host.iter().all(|n| *n <= sp.per_node),
                "{path}: {} over per_node",
                w.name
            );
            if svc.get("job").is_none() {
                let leader = per_host[0];
                assert_eq!(
                    svc["replicas"],
                    format!("${{{}:-{leader}}}", compose::replicas_var(&w.name)),
                    "{path}: {}",
                    w.name
                );
            }
            checked += 1;
        }
    }
    checked
}

#[test]
fn scaling_the_knob_changes_per_site_replicas_as_placed() {
    let root = repo().join("examples/energy/energy.iot").to_string_lossy().to_string();
    let base = solve(&Fs, &root, &Overrides::default());
    let scaled = solve(
        &Fs,
        &root,
        &Overrides {
            sets: vec!["turbines=12".into()],
            ..Default::default()
        },
    );
    assert!(check_replicas(&base) > 0);
    assert!(check_replicas(&scaled) > 0);
    let reps = |sol: &Solution, w: &str, site: &str| -> u32 {
        let stacks = compose::stacks(sol);
        let s = stacks.iter().find(|s| s.site == site).unwrap();
        s.hosts.iter().map(|h| h.replicas[w]).sum()
    };
    assert_eq!(reps(&base, "turbine-anomaly-serve", "north-bank"), 12);
    assert_eq!(reps(&scaled, "turbine-anomaly-serve", "north-bank"), 24);
    assert_eq!(reps(&scaled, "broker", "north-bank"), 1);
    let stacks = compose::stacks(&scaled);
    let nb = stacks.iter().find(|s| s.site == "north-bank").unwrap();
    assert_eq!(nb.hosts.len(), 24);
    assert!(nb.hosts[0].leader && nb.hosts[0].replicas["broker"] == 1);
    assert!(nb.hosts[1..].iter().all(|h| !h.leader && h.replicas["broker"] == 0));
    // The stack fetches nothing: Ansible stages the models.
    assert!(nb
        .hosts
        .iter()
        .all(|h| !h.replicas.keys().any(|k| k.ends_with("-fetch"))));
    // Everyone reaches the broker through the leader.
    assert!(nb
        .addresses
        .iter()
        .any(|a| a.service == "broker" && a.host == "wtg1.north-bank.windco.internal"));
    assert!(nb.env_lines_ok());
}

trait EnvLines {
    fn env_lines_ok(&self) -> bool;
}

impl EnvLines for compose::Stack {
    fn env_lines_ok(&self) -> bool {
        self.hosts.iter().all(|h| {
            h.env_lines()
                .iter()
                .all(|l| l.starts_with("IOTC_REPLICAS_") && l.contains('='))
        })
    }
}

#[test]
fn scheduled_jobs_for_ansible() {
    let root = repo().join("examples/energy/energy.iot").to_string_lossy().to_string();
    let sol = solve(&Fs, &root, &Overrides::default());
    let jobs = compose::scheduled_jobs(&sol);
    assert_eq!(jobs.len(), 3);
    for j in &jobs {
        assert_eq!(j.service, "upload");
        assert_eq!(j.schedule.as_deref(), Some("*/15 * * * *"));
        assert_eq!(j.hosts.len(), 1);
        assert!(j.hosts[0].starts_with("wtg1."));
        assert_eq!(j.deadline_secs, 600);
        assert_eq!(j.backoff, 5);
        assert_eq!(j.project, format!("wind-ops-farms-{}", j.site));
    }
}

const SENTINEL: &str = "SENTINEL-9f3b2c-never-in-output";

#[test]
fn no_secret_value_reaches_the_files() {
    let tmp = std::env::temp_dir().join(format!("iotc-compose-sentinel-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let secret_file = tmp.join("token");
    std::fs::write(&secret_file, SENTINEL).unwrap();
    std::env::set_var("IOTC_TEST_SENTINEL_TOKEN", SENTINEL);
    std::env::set_var("FACTORY_DB_PASSWORD", SENTINEL);
    let text = format!(
        r#"solution sentinel {{
  version = "1.0.0"
}}

import std.devices

fleet gw {{
  device = std.devices.cm4_solar
  runtime = docker
  site a {{
    gateways = 2
    hosts = "gw{{n}}.a.example.internal"
  }}
}}

service api on gw {{
  image = "ghcr.io/acme/api:1.0.0"
  port = 8080
  health = "/healthz"
  cpu = 100m
  memory = 64Mi
  env {{ MODE = "a$b" }}
  secret TOKEN from env "IOTC_TEST_SENTINEL_TOKEN"
  secret KEY from file "{}"
  secret DB from vault "kv/data/app#db"
}}
"#,
        secret_file.display()
    );
    let db = MemoryDb::new().with("main.iot", &text);
    let sol = solve(&db, "main.iot", &Overrides::default());
    let mut files = compose_files(&sol);
    for (_, root) in examples() {
        files.extend(compose_files(&solve(&Fs, &root, &Overrides::default())));
    }
    for f in &files {
        assert!(!f.contents.contains(SENTINEL), "{} leaks a secret", f.path);
    }
    let f = &files[0].contents;
    assert!(f.contains("environment: IOTC_TEST_SENTINEL_TOKEN"), "{f}");
    assert!(f.contains(&format!("file: {}", secret_file.display())), "{f}");
    assert!(f.contains("file: /etc/iotc/secrets/api/DB"), "{f}");
    assert!(f.contains("TOKEN_FILE: /run/secrets/api-token"), "{f}");
    // A literal `$` is escaped from Compose's interpolation.
    assert!(f.contains("MODE: a$$b"), "{f}");
    let stacks = compose::stacks(&sol);
    assert!(stacks[0].secrets.iter().any(|s| matches!(
        &s.origin,
        compose::SecretOrigin::Vault { path, reference } if path == "/etc/iotc/secrets/api/DB" && reference == "kv/data/app#db"
    )));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn what_compose_cannot_express_is_rejected() {
    let base = r#"solution s {
  version = "1.0.0"
}

import std.devices

fleet gw {
  device = std.devices.cm4_solar
  runtime = docker
  site a {
    gateways = 2
    hosts = "gw{n}.a.example.internal"
  }
}
"#;
    for (what, body) in [
        (
            "critical",
            "service api on gw {\n  image = \"ghcr.io/acme/api:1.0.0\"\n  cpu = 100m\n  memory = 64Mi\n  critical = true\n}\n",
        ),
        (
            "autoscale",
            "service api on gw {\n  image = \"ghcr.io/acme/api:1.0.0\"\n  cpu = 100m\n  memory = 64Mi\n  autoscale {\n    min = 1\n    max = 3\n  }\n}\n",
        ),
    ] {
        let text = format!("{base}\n{body}");
        let db = MemoryDb::new().with("main.iot", &text);
        let a = analyze(&db, "main.iot", &Overrides::default());
        let codes: BTreeMap<String, usize> = a.diagnostics.iter().fold(BTreeMap::new(), |mut m, d| {
            *m.entry(d.code.to_string()).or_default() += 1;
            m
        });
        assert!(codes.contains_key("E0404"), "{what}: {codes:?}");
        assert!(a.solution.is_none(), "{what}");
    }
}

/// The paths no shipped example takes: an `s3://` model, a video device,
/// a privileged container, UDP, more copies than gateways (a host port
/// range), a once-only job and a volume without a size.
const FIXTURE: &str = r#"solution fixture {
  version = "2.0.0"
}

import std.devices
import std.ml

fleet gw {
  device = std.devices.cm4_solar
  runtime = docker
  site a {
    gateways = 2
    hosts = "gw{n}.a.example.internal"
  }
}

service syslog on gw {
  image = "ghcr.io/acme/syslog:1.0.0"
  port = 5514
  protocol = udp
  // Plant devices send to it from outside the solution: published.
  public = true
  replicas = 3
  cpu = 50m
  memory = 32Mi
  volume spool { mount = "/var/spool/syslog" }
}

daemon camera on gw {
  image = "ghcr.io/acme/camera:1.0.0"
  device "/dev/video0" as "/dev/video1"
  cpu = 50m
  memory = 32Mi
  talks_to = [syslog]
}

daemon legacy on gw {
  image = "ghcr.io/acme/legacy:1.0.0"
  privileged = true
  cpu = 50m
  memory = 32Mi
}

job migrate on gw {
  image = "ghcr.io/acme/migrate:1.0.0"
  command = ["/bin/migrate", "--once"]
  cpu = 50m
  memory = 32Mi
}

model detector {
  format = tflite
  version = "3"
  artifact = "s3://acme-models/detector/3/model.tflite"
  serve on gw {
    runtime = std.ml.tflite
    replicas = 1
    cpu = 100m
    memory = 64Mi
  }
}
"#;

#[test]
fn fixture_covers_the_rest() {
    let db = MemoryDb::new().with("fixture.iot", FIXTURE);
    let a = analyze(&db, "fixture.iot", &Overrides::default());
    let sol = a
        .solution
        .unwrap_or_else(|| panic!("fixture does not check: {:#?}", a.diagnostics));
    let files = compose_files(&sol);
    assert_eq!(files, compose_files(&sol));
    write_out("fixture", &files);
    assert_eq!(check_replicas(&sol), 5);
    insta::with_settings!({
        snapshot_path => "../../snapshots/compose/fixture",
        prepend_module_to_snapshot => false,
    }, {
        for f in &files {
            let snap = f.path.trim_start_matches("compose/").trim_end_matches(".yaml").replace('/', "__");
            insta::assert_snapshot!(snap, f.contents);
        }
    });
    let jobs = compose::scheduled_jobs(&sol);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].schedule, None);
    let stacks = compose::stacks(&sol);
    assert!(stacks[0].groups.iter().any(|g| g.group == "video" && g.default == 44));
    // The server is on the first gateway only; nothing fetches its model
    // in the stack (Ansible stages it on the gateway).
    let server: Vec<u32> = stacks[0].hosts.iter().map(|h| h.replicas["detector-serve"]).collect();
    assert_eq!(server, vec![1, 0]);
    assert!(!stacks[0].hosts[0].replicas.contains_key("detector-fetch"));
}
