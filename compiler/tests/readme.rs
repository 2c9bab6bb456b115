#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The generated `out/README.md` on every example: it names every
//! generated folder (Terraform root modules, kustomizations, Compose
//! stacks, the Ansible playbook) in an order consistent with what each
//! needs, and docs/terraform.md and docs/k8s.md state the same apply order.

use iotc_compiler::emit::ansible::{cluster_engine, Engine};
use iotc_compiler::emit::readme::{APPLY_STEPS, PATH};
use iotc_compiler::emit::{emit, Target};
use iotc_compiler::ir::Provider;
use std::path::Path;

mod common;
use common::{example, EXAMPLES};

/// The numbered list under the `## Apply order` heading of a Markdown text.
fn apply_order(text: &str) -> Vec<String> {
    let start = text.find("## Apply order").expect("an `## Apply order` section");
    let mut steps = Vec::new();
    for line in text.get(start..).unwrap().lines().skip(1) {
        if line.starts_with('#') {
            break;
        }
        if let Some((n, rest)) = line.split_once(". ") {
            if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() {
                assert_eq!(
                    n.parse::<usize>().unwrap(),
                    steps.len() + 1,
                    "numbered in order: {line}"
                );
                steps.push(rest.trim().to_string());
            }
        }
    }
    steps
}

/// The byte offset of `needle` in the README, which must be there.
fn at(readme: &str, needle: &str, what: &str) -> usize {
    readme
        .find(needle)
        .unwrap_or_else(|| panic!("{what}: the README does not name `{needle}`:\n{readme}"))
}

#[test]
fn the_readme_names_every_generated_folder_in_apply_order() {
    for name in EXAMPLES {
        let sol = example(name);
        let files = emit(&sol, Target::ALL).unwrap();
        let readme = &files.iter().find(|f| f.path == PATH).expect("out/README.md").contents;
        let steps: Vec<&str> = APPLY_STEPS.to_vec();
        assert_eq!(apply_order(readme), steps, "{name}: the README's apply order");
        let edge_start = at(readme, "### Edge tier", name);
        // Every folder with something to apply is named.
        let mut named = 0;
        for f in &files {
            let dir = f.path.rsplit_once('/').map_or("", |(d, _)| d);
            let (needle, cloud) = if f.path.starts_with("terraform/") && f.path.ends_with("/main.tf.json") {
                (format!("terraform -chdir={dir} "), true)
            } else if f.path.starts_with("k8s/") && f.path.ends_with("/kustomization.yaml") {
                (format!("kubectl apply -k {dir}`"), dir.matches('/').count() == 1)
            } else if f.path.starts_with("compose/") && f.path.ends_with("/compose.yaml") {
                (format!("`{dir}`"), false)
            } else {
                continue;
            };
            let i = at(readme, &needle, name);
            named += 1;
            // The cloud tier comes before the edge tier.
            assert_eq!(i < edge_start, cloud, "{name}: {dir} is in the wrong tier");
        }
        assert!(named >= 3, "{name}: {named} folders");
        // Within a cluster: Terraform, then Ansible (when it bootstraps
        // the nodes), then the Kubernetes objects.
        for c in &sol.clusters {
            let k8s = at(readme, &format!("kubectl apply -k k8s/{}`", c.name), name);
            if !matches!(c.provider, Provider::Baremetal { .. }) {
                let tf = at(readme, &format!("terraform -chdir=terraform/{} ", c.name), name);
                assert!(tf < k8s, "{name}: {} is applied before its Terraform", c.name);
            }
            if cluster_engine(c) != Engine::None {
                let ans = at(readme, &format!("--limit cluster_{}", c.name), name);
                assert!(ans < k8s, "{name}: {} is applied before Ansible installs it", c.name);
            }
        }
        // Within a fleet: Ansible installs the runtime, then each site's
        // objects.
        for f in &sol.fleets {
            let ans = at(readme, &format!("--limit fleet_{}", f.name), name);
            assert!(ans > edge_start, "{name}: fleet {} in the cloud tier", f.name);
            if let Some(k) = readme.find(&format!("kubectl apply -k k8s/{}/", f.name)) {
                assert!(ans < k, "{name}: fleet {} sites applied before Ansible", f.name);
            }
        }
    }
}

/// Every Kubernetes file the kustomization leaves out (the Prometheus
/// Operator objects, whose CRDs are a prerequisite) is applied by the README
/// on its own, after its folder's `kubectl apply -k`; nothing is left
/// unapplied.
#[test]
fn every_file_outside_a_kustomization_is_applied_after_it() {
    let mut checked = 0;
    // The bundled examples keep every file in a kustomization; the W0406
    // example has a `30-monitoring.yaml` for a Prometheus Operator.
    let w0406 =
        std::fs::read_to_string(common::repo().join("examples/errors/W0406_monitored_model_without_prometheus.iot"))
            .unwrap();
    let mut solutions: Vec<(&str, _)> = EXAMPLES.iter().map(|name| (*name, example(name))).collect();
    solutions.push((
        "W0406",
        common::checked(&iotc_compiler::source::MemoryDb::new().with("w.iot", &w0406), "w.iot"),
    ));
    for (name, sol) in solutions {
        let files = emit(&sol, Target::ALL).unwrap();
        let readme = &files.iter().find(|f| f.path == PATH).expect("out/README.md").contents;
        for k in files
            .iter()
            .filter(|f| f.path.starts_with("k8s/") && f.path.ends_with("/kustomization.yaml"))
        {
            let dir = k.path.trim_end_matches("/kustomization.yaml");
            let kust: serde_norway::Value = serde_norway::from_str(&k.contents).unwrap();
            let listed: Vec<&str> = kust["resources"]
                .as_sequence()
                .unwrap()
                .iter()
                .filter_map(|r| r.as_str())
                .collect();
            let applied = at(readme, &format!("kubectl apply -k {dir}`"), name);
            for f in &files {
                let Some(leaf) = f.path.strip_prefix(&format!("{dir}/")) else {
                    continue;
                };
                if leaf.contains('/') || leaf == "kustomization.yaml" || listed.contains(&leaf) {
                    continue;
                }
                let own = at(readme, &format!("kubectl apply -f {}`", f.path), name);
                assert!(applied < own, "{name}: {} is applied before its folder", f.path);
                checked += 1;
            }
        }
    }
    assert!(checked >= 1, "{checked} files outside a kustomization");
}

#[test]
fn the_docs_state_the_readmes_apply_order() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    let steps: Vec<&str> = APPLY_STEPS.to_vec();
    for doc in ["terraform.md", "k8s.md"] {
        let text = std::fs::read_to_string(docs.join(doc)).unwrap();
        assert_eq!(apply_order(&text), steps, "docs/{doc}");
    }
    let sol = example("factory");
    let files = emit(&sol, Target::ALL).unwrap();
    let readme = &files.iter().find(|f| f.path == PATH).unwrap().contents;
    assert_eq!(apply_order(readme), steps);
}

#[test]
fn the_readme_says_what_the_user_supplies_and_no_secret() {
    let sol = example("factory");
    let files = emit(&sol, Target::ALL).unwrap();
    let readme = &files.iter().find(|f| f.path == PATH).unwrap().contents;
    for needed in [
        "state backend",
        "use_lockfile",
        "Kubeconfigs",
        "DNS",
        "Registry credentials",
        "Secrets",
    ] {
        assert!(readme.contains(needed), "the README lacks {needed}");
    }
    for w in &sol.workloads {
        for s in &w.container.secrets {
            assert!(
                readme.contains(&format!("`{}`", s.reference)),
                "{} of {}",
                s.name,
                w.name
            );
        }
    }
}

/// A cluster with its own Prometheus is monitored by `kubectl apply -k`
/// alone: the README says so, names the Prometheus, which is in the
/// kustomization, and marks the operator file optional.
#[test]
fn a_bundled_prometheus_needs_no_operator_step() {
    let mut seen = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let files = emit(&sol, Target::ALL).unwrap();
        let readme = &files.iter().find(|f| f.path == PATH).expect("out/README.md").contents;
        for m in sol.monitoring.iter().filter(|m| !m.fleet) {
            let dir = format!("k8s/{}", m.group);
            let kust = files
                .iter()
                .find(|f| f.path == format!("{dir}/kustomization.yaml"))
                .unwrap();
            assert!(kust.contents.contains(&format!("- 10-{}.yaml", m.prometheus)), "{name}");
            let applied = at(readme, &format!("kubectl apply -k {dir}`"), name);
            let line = at(readme, &format!("`{}` scrapes the workloads here", m.prometheus), name);
            assert!(applied < line, "{name}");
            // Its own Prometheus scrapes every monitored model server:
            // nothing is left to an operator.
            assert!(
                !files.iter().any(|f| f.path == format!("{dir}/30-monitoring.yaml")),
                "{name}: {dir}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 3, "{seen}");
}

/// The README tells the operator which namespace each `<workload>-secrets`
/// goes in: the solution's, named once, or the workload's `-host` one on
/// the workload's own line (else the pod could not find its Secret).
#[test]
fn the_readme_names_the_namespace_of_every_secret_outside_the_solutions() {
    let mut elsewhere = 0;
    for name in EXAMPLES {
        let sol = example(name);
        let files = emit(&sol, Target::ALL).unwrap();
        let readme = &files.iter().find(|f| f.path == PATH).unwrap().contents;
        if sol.workloads.iter().any(|w| !w.container.secrets.is_empty()) {
            assert!(
                readme.contains(&format!("in namespace `{}` unless another is named", sol.namespace)),
                "{name}"
            );
        }
        for w in &sol.workloads {
            for s in &w.container.secrets {
                let line = readme
                    .lines()
                    .find(|l| l.contains(&format!("`{}` of `{}`", s.name, w.name)))
                    .unwrap_or_else(|| panic!("{name}: no line for {} of {}", s.name, w.name));
                let named = line.contains(&format!("(its Secret in namespace `{}`)", w.namespace));
                assert_eq!(named, w.namespace != sol.namespace, "{name}: {line}");
                elsewhere += usize::from(named);
            }
        }
    }
    assert!(elsewhere > 0, "no secret of a -host workload in the examples");
}
