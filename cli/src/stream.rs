//! `iotc build --emit TARGET -o -`: one target of one cluster, fleet or site
//! as a single stream on stdout.
//!
//! | target | one stream per | what is printed |
//! |---|---|---|
//! | `k8s` | cluster (`k8s/<cluster>/`) or site of a Kubernetes fleet (`k8s/<fleet>/<site>/`, every site is its own cluster) | every document, `---`-separated, without `kustomization.yaml`, for `kubectl apply -f -` |
//! | `compose` | site of a Docker fleet (`compose/<fleet>/<site>/`) | the project's `compose.yaml`, for `docker compose -f - up` |
//! | `terraform` | cluster (`terraform/<cluster>/`) | the root module's `main.tf.json` |
//! | `ansible` | — | refused: inventory, playbooks and roles are a folder tree |
//!
//! `kubectl apply -f -` talks to one cluster, so a stream never mixes two
//! groups: with several, `--cluster NAME` picks one and the error lists them.
//! The arguments are checked against the evaluated solution before any file
//! is generated, and only the chosen group's files are kept in memory.

use iotc_compiler::emit::{OutputFile, Target};
use iotc_compiler::ir::{Provider, Solution};

/// Why a target has no stream form, or `None` if it has one. Checked before
/// the source is even read.
pub fn unsupported(target: Target) -> Option<&'static str> {
    match target {
        Target::Ansible => Some(
            "ansible has no single-stream form (an inventory, playbooks and roles are a folder tree); build it into a folder with `-o DIR`",
        ),
        Target::K8s | Target::Compose | Target::Terraform => None,
    }
}

/// The stream groups this solution will have for `target`, predicted from
/// the evaluated solution (the same rules the backends follow), sorted.
pub fn expected_groups(sol: &Solution, target: Target) -> Vec<String> {
    let mut groups: Vec<String> = match target {
        Target::K8s => sol
            .clusters
            .iter()
            .map(|c| c.name.clone())
            .chain(
                sol.fleets
                    .iter()
                    .filter(|f| f.runtime.is_kubernetes())
                    .flat_map(|f| f.sites.iter().map(move |s| format!("{}/{}", f.name, s.name))),
            )
            .collect(),
        Target::Compose => sol
            .fleets
            .iter()
            .filter(|f| !f.runtime.is_kubernetes())
            .flat_map(|f| f.sites.iter().map(move |s| format!("{}/{}", f.name, s.name)))
            .collect(),
        Target::Terraform => sol
            .clusters
            .iter()
            .filter(|c| !matches!(c.provider, Provider::Baremetal { .. }))
            .map(|c| c.name.clone())
            .collect(),
        Target::Ansible => Vec::new(),
    };
    groups.sort();
    groups.dedup();
    groups
}

/// The group a generated path belongs to: the folder under the target's
/// root (`k8s/cloud/…` → `cloud`, `k8s/plants/plant-a/…` → `plants/plant-a`,
/// `compose/farms/north-bank/compose.yaml` → `farms/north-bank`).
pub fn group_of(target: Target, path: &str) -> Option<&str> {
    match target {
        Target::K8s => iotc_compiler::emit::k8s::group_of(path),
        Target::Compose | Target::Terraform => {
            let rest = path.strip_prefix(target.name())?.strip_prefix('/')?;
            let (group, file) = rest.rsplit_once('/')?;
            (!group.is_empty() && !file.is_empty()).then_some(group)
        }
        Target::Ansible => None,
    }
}

/// What a group is called, for messages.
fn what(target: Target) -> &'static str {
    match target {
        Target::K8s => "Kubernetes cluster or fleet site",
        Target::Compose => "Compose site (fleet/site)",
        Target::Terraform => "Terraform root (cluster)",
        Target::Ansible => "Ansible group",
    }
}

fn what_many(target: Target) -> &'static str {
    match target {
        Target::K8s => "Kubernetes clusters and fleet sites",
        Target::Compose => "Compose sites (fleet/site)",
        Target::Terraform => "Terraform roots (clusters)",
        Target::Ansible => "Ansible groups",
    }
}

/// Pick the group to print: `name` if given (a group, or for Compose a site
/// name that is unique), the only one if there is one.
pub fn choose(target: Target, groups: &[String], name: Option<&str>) -> Result<String, String> {
    let list = || {
        if groups.is_empty() {
            "none".to_string()
        } else {
            groups.join(", ")
        }
    };
    match name {
        Some(n) => {
            let matches: Vec<&String> = groups
                .iter()
                .filter(|g| g.as_str() == n || g.rsplit_once('/').is_some_and(|(_, site)| site == n))
                .collect();
            match matches.as_slice() {
                [one] => Ok((*one).clone()),
                [] => Err(format!(
                    "there is no {} `{n}` to print; there are: {}",
                    what(target),
                    list()
                )),
                many => Err(format!(
                    "`{n}` names {} {}; pick one with `--cluster FLEET/SITE`",
                    many.len(),
                    what_many(target)
                )),
            }
        }
        None => match groups {
            [one] => Ok(one.clone()),
            [] => Err(format!("this solution has no {} to print", what_many(target))),
            many => Err(format!(
                "the solution has {} {} ({}); a stream holds one, so pick it with `--cluster NAME` (or build them all into a folder with `-o DIR`)",
                many.len(),
                what_many(target),
                list()
            )),
        },
    }
}

/// The stream for one group's files (already filtered to that group).
pub fn render(target: Target, group: &str, files: &[OutputFile]) -> Result<String, String> {
    match target {
        Target::K8s => Ok(iotc_compiler::emit::k8s::stream(files)),
        Target::Compose | Target::Terraform => match files {
            [one] => Ok(one.contents.clone()),
            [] => Err(format!("{} `{group}` has no files", what(target))),
            many => Err(format!(
                "`{group}` has {} {} files, so it has no single-stream form; build it into a folder with `-o DIR`",
                many.len(),
                target.name()
            )),
        },
        Target::Ansible => Err(unsupported(target).unwrap_or_default().to_string()),
    }
}

/// Why no stream was printed, with the exit code: 1 a backend failed, 2 a
/// usage error (no such group, several groups, no stream form).
#[derive(Debug)]
pub struct StreamError {
    pub code: u8,
    pub message: String,
}

fn usage(message: String) -> StreamError {
    StreamError { code: 2, message }
}

/// Generate one group of one target and return its stream. The group is
/// chosen from the evaluated solution before anything is generated; files of
/// other groups are dropped as the backend hands them over.
pub fn build(sol: &Solution, target: Target, name: Option<&str>) -> Result<String, StreamError> {
    if let Some(why) = unsupported(target) {
        return Err(usage(why.to_string()));
    }
    let group = choose(target, &expected_groups(sol, target), name).map_err(usage)?;
    let mut files = Vec::new();
    iotc_compiler::emit::emit_each(sol, &[target], &mut |f| {
        if group_of(target, &f.path) == Some(group.as_str())
            && !(target == Target::K8s && f.path.ends_with("/kustomization.yaml"))
        {
            files.push(f);
        }
        std::ops::ControlFlow::Continue(())
    })
    .map_err(|e| StreamError {
        code: 1,
        message: format!("{e}; nothing was printed"),
    })?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    if files.is_empty() {
        return Err(usage(format!(
            "{} `{group}` has no {} files",
            what(target),
            target.name()
        )));
    }
    render(target, &group, &files).map_err(usage)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn groups_are_the_folders_under_the_target() {
        assert_eq!(group_of(Target::K8s, "k8s/cloud/10-a.yaml"), Some("cloud"));
        assert_eq!(
            group_of(Target::Compose, "compose/farms/north-bank/compose.yaml"),
            Some("farms/north-bank")
        );
        assert_eq!(
            group_of(Target::Terraform, "terraform/cloud/main.tf.json"),
            Some("cloud")
        );
        assert_eq!(group_of(Target::Terraform, "k8s/cloud/main.tf.json"), None);
    }

    #[test]
    fn a_site_name_picks_its_compose_project_when_unique() {
        let groups = vec!["farms/a".to_string(), "farms/b".to_string(), "lines/a".to_string()];
        assert_eq!(choose(Target::Compose, &groups, Some("b")).unwrap(), "farms/b");
        assert!(choose(Target::Compose, &groups, Some("a"))
            .unwrap_err()
            .contains("FLEET/SITE"));
        assert!(choose(Target::Compose, &groups, None)
            .unwrap_err()
            .contains("--cluster"));
        assert!(choose(Target::Compose, &groups, Some("x"))
            .unwrap_err()
            .contains("farms/a, farms/b, lines/a"));
    }
}
