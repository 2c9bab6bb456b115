#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Offline sites (`offline = true`, `mirror = "host:port"`): what the
//! generated files do at a site with no route to the internet.
//!
//! - Nothing a gateway of an offline site runs reaches the internet:
//!   every task of every role that downloads (apt, a repository, a URL,
//!   S3, a registry login, the snap store) runs only online, or on the
//!   controller.
//! - What the gateways then lack comes from the controller: the k3s
//!   binary and its air-gap images, checked against the release's
//!   sha256sum; the models, into the very file the servers' fetch looks
//!   for; OS packages are checked, and a missing one is named.
//! - Images come from the site's mirror: k3s through `registries.yaml`
//!   (`"*"` → the mirror, with the default endpoints disabled), Compose
//!   by the rewritten name; `mirror-images.txt` lists exactly what the
//!   site's files pull, and where it goes on the mirror.

use iotc_compiler::emit::{emit, OutputFile, Target};
use iotc_compiler::ir::{mirror_path, Solution};
use iotc_compiler::source::MemoryDb;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

mod common;
use common::{checked, documents, errors, groups, yaml};

fn solution() -> Solution {
    let src = std::fs::read_to_string(common::repo().join("compiler/tests/data/offline.iot")).unwrap();
    checked(&MemoryDb::new().with("gen/gen.iot", &src), "gen/gen.iot")
}

fn file<'a>(files: &'a [OutputFile], path: &str) -> &'a str {
    files
        .iter()
        .find(|f| f.path == path)
        .map(|f| f.contents.as_str())
        .unwrap_or_else(|| panic!("no {path}"))
}

/// The `source destination` pairs of a `mirror-images.txt`.
fn listed(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (a, b) = l.split_once(' ').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect()
}

/// Every image a Kubernetes document pulls: containers, init containers,
/// image volumes.
fn k8s_images(doc: &Value, out: &mut BTreeSet<String>) {
    match doc {
        Value::Object(m) => {
            if let Some(Value::Array(cs)) = m.get("containers") {
                out.extend(cs.iter().filter_map(|c| c["image"].as_str().map(str::to_string)));
            }
            if let Some(Value::Array(cs)) = m.get("initContainers") {
                out.extend(cs.iter().filter_map(|c| c["image"].as_str().map(str::to_string)));
            }
            if let Some(r) = m.get("image").and_then(|i| i["reference"].as_str()) {
                out.insert(r.to_string());
            }
            m.values().for_each(|v| k8s_images(v, out));
        }
        Value::Array(xs) => xs.iter().for_each(|v| k8s_images(v, out)),
        _ => {}
    }
}

#[test]
fn the_mirror_list_is_exactly_what_each_site_pulls() {
    let sol = solution();
    let files = emit(&sol, &[Target::K8s, Target::Compose]).unwrap();
    let mut checked_sites = 0;
    for f in &sol.fleets {
        for s in &f.sites {
            let root = if f.runtime.is_kubernetes() { "k8s" } else { "compose" };
            let dir = format!("{root}/{}/{}/", f.name, s.name);
            let list_path = format!("{dir}mirror-images.txt");
            let list = files.iter().find(|o| o.path == list_path);
            let Some(mirror) = &s.mirror else {
                assert!(list.is_none(), "{list_path} without a mirror");
                continue;
            };
            let list = listed(&list.unwrap().contents);
            let mut pulled = BTreeSet::new();
            if f.runtime.is_kubernetes() {
                for o in files
                    .iter()
                    .filter(|o| o.path.starts_with(&dir) && o.path.ends_with(".yaml"))
                {
                    for d in documents(&o.contents) {
                        k8s_images(&d, &mut pulled);
                    }
                }
                // containerd asks the mirror for the name as written.
                let want: BTreeSet<String> = list.keys().cloned().collect();
                assert_eq!(pulled, want, "{list_path}");
            } else {
                let stack = yaml(file(&files, &format!("{dir}compose.yaml")));
                for (name, svc) in stack["services"].as_object().unwrap() {
                    let image = svc["image"].as_str().unwrap();
                    assert!(
                        image.starts_with(&format!("{mirror}/")),
                        "{name}: {image} is not on {mirror}"
                    );
                    pulled.insert(image.to_string());
                }
                let want: BTreeSet<String> = list.values().cloned().collect();
                assert_eq!(pulled, want, "{list_path}");
            }
            for (src, dst) in &list {
                assert_eq!(dst, &format!("{mirror}/{}", mirror_path(src)));
            }
            checked_sites += 1;
        }
    }
    assert_eq!(checked_sites, 2, "south (k3s) and east (Docker)");
    assert_eq!(
        mirror_path("eclipse-mosquitto:2.0.20"),
        "library/eclipse-mosquitto:2.0.20"
    );
    assert_eq!(mirror_path("ghcr.io/gen/relay:1.0.0"), "gen/relay:1.0.0");
    assert_eq!(mirror_path("registry.example.com:5000/gen/c:1"), "gen/c:1");
}

/// Modules that reach out from where they run.
const DOWNLOADS: &[&str] = &[
    "ansible.builtin.apt",
    "ansible.builtin.deb822_repository",
    "ansible.builtin.get_url",
    "amazon.aws.s3_object",
    "community.docker.docker_login",
    "community.general.snap",
];

fn conditions(task: &Value) -> Vec<String> {
    match &task["when"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(xs) => xs.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn no_gateway_of_an_offline_site_downloads_anything() {
    let sol = solution();
    let files = emit(&sol, &[Target::Ansible]).unwrap();
    let mut downloads = 0;
    let mut from_controller = 0;
    for o in files
        .iter()
        .filter(|o| o.path.starts_with("ansible/roles/") && o.path.ends_with("/tasks/main.yml"))
    {
        // microk8s is refused at offline sites (E0404): its snap may stay.
        if o.path.contains("iotc_microk8s") || o.path.contains("iotc_kubeadm") {
            continue;
        }
        for t in yaml(&o.contents).as_array().unwrap() {
            let Some(module) = DOWNLOADS.iter().find(|m| t.get(**m).is_some()) else {
                continue;
            };
            let when = conditions(t);
            let online_only = when.iter().any(|c| c == "not (iotc_offline | default(false) | bool)");
            let on_controller = t["delegate_to"] == "localhost" && t["become"] == false;
            assert!(
                online_only || on_controller,
                "{}: `{}` ({module}) would run on an offline gateway",
                o.path,
                t["name"]
            );
            downloads += 1;
            if on_controller {
                assert!(
                    when.iter().any(|c| c == "iotc_offline | default(false) | bool"),
                    "{}",
                    t["name"]
                );
                from_controller += 1;
            }
        }
    }
    // k3s (binary + images), models over HTTPS and from S3, twice (the
    // prepare role's caches and the Compose stack).
    assert!(
        downloads > 10 && from_controller == 5,
        "{downloads} downloads, {from_controller} on the controller"
    );
}

#[test]
fn an_offline_k3s_site_gets_its_release_from_the_controller_and_its_images_from_the_mirror() {
    let sol = solution();
    let files = emit(&sol, &[Target::Ansible]).unwrap();
    let inv = groups(&yaml(file(&files, "ansible/inventory.yaml")));
    let (south, _) = &inv["site_plants_south"];
    let (north, _) = &inv["site_plants_north"];
    assert_eq!(south["iotc_offline"], true);
    assert_eq!(south["iotc_mirror"], "registry.south.gen.internal:5000");
    assert!(north.get("iotc_offline").is_none() && north.get("iotc_mirror").is_none());
    let images = south["iotc_k3s_airgap_images_url"].as_str().unwrap();
    let binary = south["iotc_k3s_binary_url"].as_str().unwrap();
    let sums = south["iotc_k3s_checksum_url"].as_str().unwrap();
    // The same release and architecture as the binary and its sums.
    let release = binary.rsplit_once('/').unwrap().0;
    assert_eq!(images, format!("{release}/k3s-airgap-images-amd64.tar.zst"));
    assert_eq!(sums, format!("{release}/sha256sum-amd64.txt"));

    // The k3s config and registries.yaml as Jinja2 renders them.
    let defaults = yaml(file(&files, "ansible/roles/iotc_k3s/defaults/main.yml"));
    let render = |vars: &Value| -> (String, String) {
        let input = json!({
            "defaults": defaults,
            "vars": vars,
            "config": file(&files, "ansible/roles/iotc_k3s/templates/config.yaml.j2"),
            "registries": file(&files, "ansible/roles/iotc_k3s/templates/registries.yaml.j2"),
        });
        let out = common::python(
            r#"
import json, sys, jinja2
d = json.load(sys.stdin)
env = jinja2.Environment(undefined=jinja2.StrictUndefined)
env.filters["to_json"] = json.dumps
env.filters["bool"] = lambda v: v if isinstance(v, bool) else str(v).lower() in ("true", "yes", "1")
ctx = dict(d["vars"], inventory_hostname="gw1", iotc_k3s_mode="agent", iotc_k3s_server="gw2", iotc_k3s_token="t")
for k in ("iotc_k3s_mirror", "iotc_k3s_offline", "iotc_k3s_node_labels", "iotc_k3s_node_taints", "iotc_k3s_registries"):
    ctx[k] = env.compile_expression(d["defaults"][k].strip()[2:-2])(**ctx)
ctx["iotc_registries"] = []
ctx["iotc_k3s_registries"] = []
print(json.dumps([env.from_string(d["config"]).render(**ctx), env.from_string(d["registries"]).render(**ctx)]))
"#,
            &input,
        );
        serde_json::from_str(&out).unwrap()
    };
    let (config, registries) = render(south);
    let config = yaml(&config);
    assert_eq!(config["disable-default-registry-endpoint"], true);
    let registries = yaml(&registries);
    assert_eq!(
        registries["mirrors"]["*"]["endpoint"],
        json!(["https://registry.south.gen.internal:5000"])
    );
    let (config, registries) = render(north);
    assert!(yaml(&config).get("disable-default-registry-endpoint").is_none());
    assert!(yaml(&registries).get("mirrors").is_none());

    // The release files go where k3s reads them.
    let tasks = yaml(file(&files, "ansible/roles/iotc_k3s/tasks/main.yml"));
    let copies: Vec<&Value> = tasks
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t.get("ansible.builtin.copy").is_some()
                && conditions(t)
                    .iter()
                    .any(|c| c == "iotc_offline | default(false) | bool")
        })
        .collect();
    let dests: Vec<&str> = copies
        .iter()
        .map(|t| t["ansible.builtin.copy"]["dest"].as_str().unwrap())
        .collect();
    assert_eq!(
        dests,
        [
            "/usr/local/bin/k3s",
            "/var/lib/rancher/k3s/agent/images/{{ iotc_k3s_airgap_images_url | basename }}"
        ]
    );
}

#[test]
fn an_offline_sites_models_land_where_its_servers_look() {
    let sol = solution();
    let files = emit(&sol, &[Target::Ansible, Target::K8s]).unwrap();
    let inv = groups(&yaml(file(&files, "ansible/inventory.yaml")));
    let (plants, _) = &inv["fleet_plants"];
    let staged = plants["iotc_prepare_models"].as_array().unwrap();
    assert_eq!(staged.len(), 1);
    // The fetch init container of the south site's server: its IOTC_DEST
    // inside the cache mount is the staged file on the host.
    let docs = documents(file(&files, "k8s/plants/south/10-defects-serve-plants.yaml"));
    let pod = docs
        .iter()
        .find(|d| d["kind"] == "DaemonSet" || d["kind"] == "Deployment")
        .unwrap();
    let spec = &pod["spec"]["template"]["spec"];
    let fetch = &spec["initContainers"][0];
    let env: BTreeMap<&str, &str> = fetch["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?)))
        .collect();
    let mount = fetch["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "iotc-model")
        .unwrap();
    let host = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "iotc-model")
        .unwrap()["hostPath"]["path"]
        .as_str()
        .unwrap();
    let on_host = env["IOTC_DEST"].replacen(mount["mountPath"].as_str().unwrap(), host, 1);
    assert_eq!(staged[0]["dest"], on_host.as_str());
    assert_eq!(staged[0]["checksum"], format!("sha256:{}", env["IOTC_SHA256"]).as_str());
    assert_eq!(staged[0]["owner"], spec["securityContext"]["runAsUser"]);
    // Online fleets carry no such list.
    let online = emit(&common::example("factory"), &[Target::Ansible]).unwrap();
    assert!(!file(&online, "ansible/inventory.yaml").contains("iotc_prepare_models"));
}

#[test]
fn offline_sites_are_checked() {
    let base = |site: &str, runtime: &str| {
        format!(
            r#"solution s {{ version = "1.0.0" }}
import std.devices
fleet f {{
  device = std.devices.x86_gateway
  runtime = {runtime}
  site a {{
    gateways = 1
    hosts = "gw{{n}}.a.internal"
    {site}
  }}
}}
service x on f {{
  image = "ghcr.io/acme/x:1"
  port = 8080
  cpu = 100m
  memory = 64Mi
}}
"#
        )
    };
    let codes = |src: String| {
        errors(&src)
            .iter()
            .map(|d| d.code.as_str().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(codes(base("offline = true", "k3s")), ["E0406"]);
    assert!(codes(base("offline = true\n mirror = \"registry.a.internal:5000\"", "k3s")).is_empty());
    assert!(codes(base("offline = true\n mirror = \"registry.a.internal:5000\"", "docker")).is_empty());
    assert_eq!(
        codes(base(
            "offline = true\n mirror = \"registry.a.internal:5000\"",
            "microk8s"
        )),
        ["E0404"]
    );
    assert_eq!(
        codes(base("mirror = \"https://registry.a.internal\"", "k3s")),
        ["E0214"]
    );
    // A mirror on an online site is a pull-through cache: allowed.
    assert!(codes(base("mirror = \"registry.a.internal\"", "k3s")).is_empty());
}
