//! The roles: defaults, tasks, handlers and galaxy meta as typed values;
//! systemd units and the k3s config template as files.

use super::yaml_types::{task, Ordered, Task};
use super::{err, systemd, text_file, yaml_file, Ctx, EmitError, OutputFile, ROOT};
use serde::Serialize;
use serde_json::{json, Value};

const K3S_CONFIG_TEMPLATE: &str = include_str!("templates/k3s-config.yaml.j2");
const COMPOSE_ENV_TEMPLATE: &str = include_str!("templates/compose.env.j2");
const SECRETS_ENV_TEMPLATE: &str = include_str!("templates/secrets.env.j2");
const REGISTRIES_TEMPLATE: &str = include_str!("templates/registries.yaml.j2");
const DOCKER_USER_TEMPLATE: &str = include_str!("templates/docker-user.rules.j2");
const KUBEADM_CONFIG_TEMPLATE: &str = include_str!("templates/kubeadm-config.yaml.j2");
const CALICO_INSTALLATION_TEMPLATE: &str = include_str!("templates/calico-installation.yaml.j2");
const CONTAINERD_CONFIG: &str = include_str!("templates/containerd-config.toml");
const KUBE_VIP_TEMPLATE: &str = include_str!("templates/kube-vip.yaml.j2");
/// kube-vip, pinned by tag.
pub(crate) const KUBE_VIP_IMAGE: &str = "ghcr.io/kube-vip/kube-vip:v0.8.9";

/// The Compose stack's secrets that are files on the gateway (`from file`,
/// rendered from Vault).
const SECRET_FILES: &str = "{{ iotc_compose_stack_secrets | selectattr('path', 'defined') }}";
/// What a secret file must be before Compose bind-mounts it (`item` is a
/// `stat` result over [`SECRET_FILES`]): a regular file of the container's
/// user that nobody else can read.
const SECRET_FILE_CHECK: [&str; 4] = [
    "item.stat.exists",
    "item.stat.isreg",
    "item.stat.uid == item.item.owner",
    "item.stat.mode in ['0400', '0600']",
];

/// A registry's password or token (`item` of a loop over
/// `iotc_registries`), looked up on the controller when the task runs.
const REGISTRY_PASSWORD: &str = "{{ lookup('ansible.builtin.env', item.env, default=Undefined)
   if item.source == 'env' else
   lookup('community.hashi_vault.vault_kv2_get', item.vault_path, engine_mount_point=item.vault_mount).secret[item.vault_key] }}";

#[derive(Serialize)]
struct Meta {
    galaxy_info: GalaxyInfo,
    dependencies: Vec<String>,
}

#[derive(Serialize)]
struct GalaxyInfo {
    role_name: String,
    namespace: &'static str,
    author: &'static str,
    description: String,
    license: &'static str,
    min_ansible_version: &'static str,
    platforms: Vec<Platform>,
}

#[derive(Serialize)]
struct Platform {
    name: &'static str,
    versions: Vec<&'static str>,
}

struct Role {
    name: &'static str,
    description: &'static str,
    defaults: Ordered<Value>,
    tasks: Vec<Task>,
    handlers: Vec<Task>,
    files: Vec<(String, String)>,
    templates: Vec<(String, String)>,
}

impl Role {
    fn new(name: &'static str, description: &'static str) -> Role {
        Role {
            name,
            description,
            defaults: Ordered::new(),
            tasks: Vec::new(),
            handlers: Vec::new(),
            files: Vec::new(),
            templates: Vec::new(),
        }
    }
    fn default(&mut self, k: &str, v: impl Into<Value>) {
        self.defaults.push(k, v.into());
    }

    fn write(self, files: &mut Vec<OutputFile>) -> Result<(), EmitError> {
        let dir = format!("{ROOT}/roles/{}", self.name);
        files.push(yaml_file(format!("{dir}/defaults/main.yml"), &self.defaults)?);
        files.push(yaml_file(format!("{dir}/tasks/main.yml"), &self.tasks)?);
        if !self.handlers.is_empty() {
            files.push(yaml_file(format!("{dir}/handlers/main.yml"), &self.handlers)?);
        }
        let meta = Meta {
            galaxy_info: GalaxyInfo {
                role_name: self.name.to_string(),
                namespace: "iotc",
                author: "iotc",
                description: self.description.to_string(),
                license: "Apache-2.0",
                min_ansible_version: "2.15",
                platforms: vec![
                    Platform {
                        name: "Debian",
                        versions: vec!["bookworm"],
                    },
                    Platform {
                        name: "Ubuntu",
                        versions: vec!["jammy", "noble"],
                    },
                ],
            },
            dependencies: Vec::new(),
        };
        files.push(yaml_file(format!("{dir}/meta/main.yml"), &meta)?);
        for (name, text) in self.files {
            files.push(text_file(format!("{dir}/files/{name}"), text));
        }
        for (name, text) in self.templates {
            files.push(text_file(format!("{dir}/templates/{name}"), text));
        }
        Ok(())
    }
}

/// The switch that lets `iotc_prepare` run in a chroot or a container
/// (`.ci/ansible-idempotence` runs it twice against a debootstrapped root):
/// the role's default is `false`, so real hosts run every task.
/// The prepare role's condition for its device group tasks.
const DEVICE_GROUPS: &str = "iotc_prepare_device_groups | length > 0";
/// The prepare role's condition for preferring its own time servers.
const TIME_SERVERS: &str = "iotc_prepare_time_servers | length > 0";
/// The handlers' topic when the device rules change.
const DEVICE_RULES_CHANGED: &str = "iotc device rules changed";

/// `/etc/udev/rules.d/99-iotc-devices.rules`: each node of a pinned device
/// group is owned by iotc's group (mode 0660, what the container runtimes
/// copy into the container's node), and the host's own group keeps access
/// through an ACL (the runtimes do not copy ACLs, the host honours them).
/// `:=` makes the group and mode final, and the file sorts after the
/// distributions' rules (Raspberry Pi OS's `99-com.rules` sets i2c, spi and
/// gpio groups). Node names are literal (`check::devices::device_group`).
const UDEV_RULES: &str = "# Managed by Ansible (iotc): device nodes of iotc's workloads, owned by iotc's fixed-id groups.\n\
{% for g in iotc_prepare_device_groups %}{% for n in g.nodes -%}\n\
KERNEL==\"{{ n }}\", GROUP:=\"{{ g.name }}\", MODE:=\"0660\", RUN+=\"/usr/bin/setfacl -m g:{{ g.host_group }}:rw $devnode\"\n\
{% endfor %}{% endfor %}";

pub(crate) const IN_CONTAINER: &str = "iotc_prepare_in_container";

/// Exits 0 when the address (first argument) is in one of the networks
/// (the others), else 1 with a message naming them: run on the host,
/// whose Python Ansible already needs.
const IN_NETWORK: &str = "import ipaddress, sys\n\
a = ipaddress.ip_address(sys.argv[1])\n\
if not any(a in ipaddress.ip_network(n) for n in sys.argv[2:]):\n    \
sys.exit(f'Ansible connects from {a}, outside the admin networks {sys.argv[2:]}: SSH from there would be closed')\n";

/// The one place that decides which `iotc_prepare` tasks need a booted host
/// of their own: those acting on the running kernel (loading modules,
/// applying sysctl, netfilter through ufw), on the running init system
/// (starting chrony, reloading sshd) or rebooting. From a chroot they would
/// act on the machine running the chroot, or fail; with [`IN_CONTAINER`]
/// on they are skipped. Everything else (packages, files, users, sshd's
/// configuration check, enabling units) runs there too.
fn on_booted_host(t: Task) -> Task {
    t.when(ON_BOOTED_HOST)
}

/// The condition [`on_booted_host`] adds.
pub(crate) const ON_BOOTED_HOST: &str = "not (iotc_prepare_in_container | bool)";

fn apt(name: &str, packages: Value) -> Task {
    task(
        name,
        "ansible.builtin.apt",
        json!({
            "name": packages,
            "state": "present",
            "update_cache": true,
            "cache_valid_time": 3600,
            "install_recommends": false
        }),
    )
}

/// The site has no route to the internet (`ir::Site::offline`): what the
/// gateways need is downloaded on the controller and copied, and OS
/// packages are checked, never installed.
pub(crate) const OFFLINE: &str = "iotc_offline | default(false) | bool";
/// The opposite of [`OFFLINE`]: the gateway downloads for itself.
pub(crate) const ONLINE: &str = "not (iotc_offline | default(false) | bool)";
/// Where the controller keeps what it downloads for offline sites.
const OFFLINE_CACHE: &str = "{{ lookup('ansible.builtin.env', 'HOME') }}/.cache/iotc";

/// A task that runs on the controller as the user running Ansible (a
/// download for an offline site), never on the gateway.
fn on_controller(t: Task) -> Task {
    t.delegate_to("localhost").kw("become", false)
}

/// Install `packages` with apt; at an offline site, where apt has nowhere
/// to download from, check that they are installed instead and fail
/// naming the missing ones. `packages` is a list of names or a template
/// that gives one.
fn packages(name: &str, packages: Value) -> Vec<Task> {
    let list = match &packages {
        Value::String(t) => t.trim_start_matches("{{").trim_end_matches("}}").trim().to_string(),
        Value::Array(names) => {
            let quoted: Vec<String> = names
                .iter()
                .filter_map(Value::as_str)
                .map(|n| format!("'{n}'"))
                .collect();
            format!("[{}]", quoted.join(", "))
        }
        other => other.to_string(),
    };
    let missing = format!("{{{{ {list} | difference(ansible_facts.packages.keys() | list) }}}}");
    vec![
        apt(name, packages).when(ONLINE),
        task(
            &format!("{name}: offline site, read the installed packages instead"),
            "ansible.builtin.package_facts",
            json!({ "manager": "apt" }),
        )
        .when(OFFLINE),
        task(
            &format!("{name}: offline site, fail unless they are installed"),
            "ansible.builtin.assert",
            json!({
                "that": ["iotc_missing | length == 0"],
                "fail_msg": "Offline site: install {{ iotc_missing | join(', ') }} on {{ inventory_hostname }} (OS image or a package mirror at the site)",
                "quiet": true
            }),
        )
        .kw("vars", json!({ "iotc_missing": missing }))
        .when(OFFLINE),
    ]
}

/// Stage the models of `models` (a template giving `ModelVar`s) at an
/// offline site: download each on the controller (HTTPS with its
/// checksum, or S3 with the controller's credentials) into the
/// controller's cache, then copy it to its `dest` on the gateway.
fn stage_models_from_controller(models: &str) -> Vec<Task> {
    let https = format!("{{{{ {models} | rejectattr('scheme', 'equalto', 's3') }}}}");
    let s3 = format!("{{{{ {models} | selectattr('scheme', 'equalto', 's3') }}}}");
    let all = format!("{{{{ {models} }}}}");
    let cached = format!("{OFFLINE_CACHE}{{{{ item.dest }}}}");
    let label = "{{ item.model }} {{ item.version }}";
    let owner = "{{ item.owner | default('root') }}";
    vec![
        task(
            "Create the model folders on the gateway (offline site)",
            "ansible.builtin.file",
            json!({ "path": "{{ item.dest | dirname }}", "state": "directory", "owner": owner, "group": owner, "mode": "0755" }),
        )
        .with_loop(all.as_str())
        .label(label)
        .when(OFFLINE),
        on_controller(task(
            "Create the controller's model folders (offline site)",
            "ansible.builtin.file",
            json!({ "path": format!("{OFFLINE_CACHE}{{{{ item.dest | dirname }}}}"), "state": "directory", "mode": "0755" }),
        ))
        .with_loop(all.as_str())
        .label(label)
        .when(OFFLINE),
        on_controller(task(
            "Download the models over HTTPS on the controller (offline site, checksum verified)",
            "ansible.builtin.get_url",
            json!({ "url": "{{ item.url }}", "dest": cached, "checksum": "{{ item.checksum | default(omit) }}", "mode": "0644" }),
        ))
        .with_loop(https.as_str())
        .label(label)
        .when(OFFLINE),
        on_controller(task(
            "Download the models from S3 on the controller (offline site)",
            "amazon.aws.s3_object",
            json!({ "bucket": "{{ item.s3_bucket }}", "object": "{{ item.s3_object }}", "dest": cached, "mode": "get", "overwrite": "different" }),
        ))
        .with_loop(s3.as_str())
        .label(label)
        .when(OFFLINE),
        task(
            "Copy the models from the controller (offline site)",
            "ansible.builtin.copy",
            json!({ "src": cached, "dest": "{{ item.dest }}", "owner": owner, "group": owner, "mode": "0644" }),
        )
        .with_loop(all.as_str())
        .label(label)
        .when(OFFLINE),
    ]
}

fn prepare() -> Role {
    let mut r = Role::new(
        "iotc_prepare",
        "Prepare an iotc host: packages, kernel settings, time sync, service user, SSH hardening, firewall.",
    );
    r.default(
        "iotc_prepare_packages",
        json!(["ca-certificates", "chrony", "curl", "ufw", "python3-apt"]),
    );
    r.default("iotc_prepare_kernel_modules", json!(["overlay", "br_netfilter"]));
    r.default(
        "iotc_prepare_sysctl",
        json!({
            "net.ipv4.ip_forward": "1",
            "net.bridge.bridge-nf-call-iptables": "1",
            "net.bridge.bridge-nf-call-ip6tables": "1",
            "fs.inotify.max_user_instances": "512",
            "fs.inotify.max_user_watches": "524288"
        }),
    );
    r.default("iotc_prepare_user", "iotc");
    r.default("iotc_prepare_model_caches", json!([]));
    r.default("iotc_prepare_writable_dirs", json!([]));
    r.default("iotc_prepare_device_groups", json!([]));
    r.default("iotc_prepare_group", "iotc");
    // The user Ansible connects as must keep its way in: root logins stay
    // allowed (keys only) when that user is root, and passwords stay on
    // when Ansible itself logs in with one.
    r.default(
        "iotc_prepare_ssh_user",
        "{{ ansible_user | default(lookup('ansible.builtin.env', 'USER')) }}",
    );
    r.default(
        "iotc_prepare_sshd",
        json!({
            "PasswordAuthentication": "{{ 'yes' if (ansible_password is defined or ansible_ssh_pass is defined) else 'no' }}",
            "PermitRootLogin": "{{ 'prohibit-password' if iotc_prepare_ssh_user == 'root' else 'no' }}",
            "KbdInteractiveAuthentication": "no",
            "X11Forwarding": "no"
        }),
    );
    r.default("iotc_prepare_ssh_port", "22");
    // The solution's `admin` networks; empty: SSH from anywhere.
    r.default("iotc_prepare_ssh_from", "{{ iotc_admin_networks | default([]) }}");
    r.default("iotc_prepare_firewall_rules", "{{ iotc_firewall_rules | default([]) }}");
    r.default(
        "iotc_prepare_lan_cidr",
        "{{ ansible_facts['default_ipv4']['network'] }}/{{ ansible_facts['default_ipv4']['prefix'] }}",
    );
    r.default("iotc_prepare_allow_routed", true);
    // NTP servers chrony prefers (`ir::Cluster::time_servers`: the Amazon
    // Time Sync Service on EC2); empty: the distribution's pools only.
    r.default("iotc_prepare_time_servers", json!([]));
    r.default(IN_CONTAINER, false);

    r.default("iotc_prepare_models", json!([]));
    let mut tasks = packages("Install the base packages", json!("{{ iotc_prepare_packages }}"));
    tasks.extend(vec![
        on_booted_host(
            task(
                "Load the kernel modules for container networking",
                "community.general.modprobe",
                json!({ "name": "{{ item }}", "state": "present" }),
            )
            .with_loop("{{ iotc_prepare_kernel_modules }}"),
        ),
        task(
            "Load the kernel modules at boot",
            "ansible.builtin.copy",
            json!({
                "content": "{{ iotc_prepare_kernel_modules | join('\n') }}\n",
                "dest": "/etc/modules-load.d/iotc.conf",
                "owner": "root",
                "group": "root",
                "mode": "0644"
            }),
        ),
        task(
            "Set the kernel parameters",
            "ansible.posix.sysctl",
            json!({
                "name": "{{ item.key }}",
                "value": "{{ item.value }}",
                "sysctl_file": "/etc/sysctl.d/90-iotc.conf",
                "state": "present",
                // Applying them (`sysctl -p`) writes the running kernel's:
                // a booted host's own only.
                "reload": format!("{{{{ {ON_BOOTED_HOST} }}}}")
            }),
        )
        .with_loop("{{ iotc_prepare_sysctl | dict2items }}")
        .label("{{ item.key }}"),
        // Raspberry Pi OS boots with the memory cgroup off; the kubelet
        // then refuses to start (k3s: "failed to find memory cgroup").
        task(
            "Look for a Raspberry Pi kernel command line",
            "ansible.builtin.stat",
            json!({ "path": "/boot/firmware/cmdline.txt" }),
        )
        .register("iotc_prepare_rpi_cmdline"),
        task(
            "Enable the memory cgroup on a Raspberry Pi (Kubernetes fleets)",
            "ansible.builtin.replace",
            json!({
                "path": "/boot/firmware/cmdline.txt",
                "regexp": "^((?!.*\\bcgroup_memory=1\\b).*\\S)\\s*$",
                "replace": "\\1 cgroup_enable=memory cgroup_memory=1"
            }),
        )
        .when("iotc_prepare_rpi_cmdline.stat.exists and (iotc_runtime_kind | default('')) == 'kubernetes'")
        .notify("Reboot for the kernel command line"),
        task("Reboot now if the kernel command line changed", "ansible.builtin.meta", json!("flush_handlers")),
        // EC2: the security group lets no NTP out, so chrony prefers the
        // Amazon Time Sync Service at its link-local address, which needs
        // no rule (docs.aws.amazon.com/AWSEC2/latest/UserGuide/configure-ec2-ntp.html).
        // A sources drop-in (Debian 12, Ubuntu 22.04+: chrony.conf reads
        // /etc/chrony/sources.d), so the distribution's file stays its own.
        task(
            "Read chrony's configuration (own time servers)",
            "ansible.builtin.slurp",
            json!({ "src": "/etc/chrony/chrony.conf" }),
        )
        .register("iotc_prepare_chrony_conf")
        .when(TIME_SERVERS),
        task(
            "Check that chrony reads its sources folder",
            "ansible.builtin.assert",
            json!({
                "that": ["(iotc_prepare_chrony_conf.content | b64decode) is search('^\\s*sourcedir\\s+/etc/chrony/sources\\.d\\s*$', multiline=True)"],
                "fail_msg": "/etc/chrony/chrony.conf has no `sourcedir /etc/chrony/sources.d`; the time servers {{ iotc_prepare_time_servers | join(', ') }} would not apply",
                "quiet": true
            }),
        )
        .when(TIME_SERVERS),
        task(
            "Create chrony's sources folder",
            "ansible.builtin.file",
            json!({ "path": "/etc/chrony/sources.d", "state": "directory", "owner": "root", "group": "root", "mode": "0755" }),
        )
        .when(TIME_SERVERS),
        task(
            "Prefer the cluster's time servers (EC2: the Amazon Time Sync Service)",
            "ansible.builtin.copy",
            json!({
                "content": "# Managed by Ansible (iotc): time servers preferred over the distribution's pools.\n{% for s in iotc_prepare_time_servers %}server {{ s }} prefer iburst minpoll 4 maxpoll 4\n{% endfor %}",
                "dest": "/etc/chrony/sources.d/iotc.sources",
                "owner": "root",
                "group": "root",
                "mode": "0644"
            }),
        )
        .when(TIME_SERVERS)
        .notify("Restart chrony"),
        task(
            "Start chrony at boot (the clock in sync)",
            "ansible.builtin.systemd_service",
            json!({ "name": "chrony", "enabled": true }),
        ),
        on_booted_host(task(
            "Start chrony now",
            "ansible.builtin.systemd_service",
            json!({ "name": "chrony", "state": "started" }),
        )),
        task(
            "Create the iotc group",
            "ansible.builtin.group",
            json!({ "name": "{{ iotc_prepare_group }}", "system": true, "state": "present" }),
        ),
        task(
            "Create the iotc service user",
            "ansible.builtin.user",
            json!({
                "name": "{{ iotc_prepare_user }}",
                "group": "{{ iotc_prepare_group }}",
                "system": true,
                "shell": "/usr/sbin/nologin",
                "create_home": false,
                "state": "present"
            }),
        ),
        // A Kubernetes fleet's model servers keep their model here (a
        // hostPath of type Directory, see `ir::MODEL_CACHE_ROOT`): a
        // restart finds it without the WAN.
        task(
            "Create the model cache folders of the model servers",
            "ansible.builtin.file",
            json!({ "path": "{{ item.path }}", "state": "directory", "owner": "{{ item.owner }}", "group": "{{ item.owner }}", "mode": "0750" }),
        )
        .with_loop("{{ iotc_prepare_model_caches }}")
        .label("{{ item.model }}"),
    ]);
    // At an offline site the servers' fetch cannot reach the artifact:
    // the model is put in the cache, where the fetch finds it verified.
    tasks.extend(stage_models_from_controller("iotc_prepare_models"));
    tasks.extend(vec![
        // Folders the workloads write on the host (`ir::Volume::host_dir`):
        // the kubelet and Docker would create them root:0755, which the
        // containers' user cannot write (fsGroup does not apply to
        // hostPath).
        task(
            "Create the host folders the workloads write",
            "ansible.builtin.file",
            json!({ "path": "{{ item.path }}", "state": "directory", "owner": "{{ item.owner }}", "group": "{{ item.owner }}", "mode": "0750" }),
        )
        .with_loop("{{ iotc_prepare_writable_dirs }}")
        .label("{{ item.path }}"),
        // Device groups whose id each host picks (`render`, `i2c`, `spi`,
        // `gpio`): iotc's own `iotc-<group>` with a fixed id
        // (`ir::DeviceGroup`), so pods' supplementalGroups and Compose's
        // group_add can name a number. A group of that name with another
        // id stops the play: changing it would leave files owned by the
        // old id.
        task("Read the host's groups", "ansible.builtin.getent", json!({ "database": "group" }))
            .when(DEVICE_GROUPS),
        task(
            "Check that no other group holds iotc's device group names and ids",
            "ansible.builtin.assert",
            json!({
                "that": [
                    "item.name not in iotc_host_groups or (iotc_host_groups[item.name][1] | int) == (item.gid | int)",
                    "iotc_host_groups | dict2items | selectattr('value.1', '==', item.gid | string) | rejectattr('key', '==', item.name) | list | length == 0"
                ],
                "fail_msg": "iotc pins group {{ item.name }} to gid {{ item.gid }}; this host has a group of that name or id (getent group): free both",
                "quiet": true
            }),
        )
        .kw("vars", json!({ "iotc_host_groups": "{{ ansible_facts['getent_group'] }}" }))
        .with_loop("{{ iotc_prepare_device_groups }}")
        .label("{{ item.name }}"),
        task(
            "Create iotc's device groups with their fixed ids",
            "ansible.builtin.group",
            json!({ "name": "{{ item.name }}", "gid": "{{ item.gid }}", "system": true, "state": "present" }),
        )
        .with_loop("{{ iotc_prepare_device_groups }}")
        .label("{{ item.name }}"),
    ]);
    tasks.extend(
        packages(
            "Install setfacl (the host group keeps its device access)",
            json!(["acl"]),
        )
        .into_iter()
        .map(|t| t.when(DEVICE_GROUPS)),
    );
    tasks.extend(vec![
        task(
            "Hand the workloads' device nodes to iotc's device groups",
            "ansible.builtin.copy",
            json!({
                "content": UDEV_RULES,
                "dest": "/etc/udev/rules.d/99-iotc-devices.rules",
                "owner": "root",
                "group": "root",
                "mode": "0644"
            }),
        )
        .when(DEVICE_GROUPS)
        .notify(DEVICE_RULES_CHANGED),
        // sshd takes the first value it reads, and sshd_config includes
        // sshd_config.d/*.conf at its top on Debian 12 and Ubuntu 22.04+:
        // a drop-in sorting first wins over the distribution's and
        // cloud-init's, where editing sshd_config itself would lose.
        task(
            "Read the SSH daemon's main configuration",
            "ansible.builtin.slurp",
            json!({ "src": "/etc/ssh/sshd_config" }),
        )
        .register("iotc_prepare_sshd_config"),
        task(
            "Check that the SSH daemon reads its drop-in folder",
            "ansible.builtin.assert",
            json!({
                // A test, so a boolean: ansible-core 2.19 fails a
                // conditional that yields the matched string.
                "that": ["(iotc_prepare_sshd_config.content | b64decode) is search('^\\s*Include\\s+/etc/ssh/sshd_config\\.d/', multiline=True)"],
                "fail_msg": "/etc/ssh/sshd_config does not include /etc/ssh/sshd_config.d/*.conf; the hardening would not apply",
                "quiet": true
            }),
        ),
        task(
            "Harden the SSH daemon (drop-in, checked with sshd -t)",
            "ansible.builtin.copy",
            json!({
                "content": "# Managed by Ansible (iotc). sshd keeps the first value it reads; this file sorts first.\n{% for key, value in iotc_prepare_sshd | dictsort %}{{ key }} {{ value }}\n{% endfor %}",
                "dest": "/etc/ssh/sshd_config.d/00-iotc.conf",
                "owner": "root",
                "group": "root",
                "mode": "0600",
                "validate": "/usr/sbin/sshd -t -f %s"
            }),
        )
        .notify("Reload sshd"),
        task(
            "Check the whole SSH daemon configuration",
            "ansible.builtin.command",
            json!({ "argv": ["/usr/sbin/sshd", "-t"] }),
        )
        .changed_when(false),
    ]);
    r.tasks = tasks;
    // ufw changes the running kernel's netfilter tables as it writes its
    // rules: a booted host's own only.
    let firewall = [
        task(
            "Allow SSH through the firewall (rate limited)",
            "community.general.ufw",
            json!({
                "rule": "limit",
                "port": "{{ iotc_prepare_ssh_port }}",
                "proto": "tcp",
                "from_ip": "{{ item }}",
                "comment": "ssh"
            }),
        )
        .with_loop("{{ iotc_prepare_ssh_from if iotc_prepare_ssh_from | length > 0 else ['any'] }}"),
        // A host prepared before `admin` was declared keeps no way in
        // from elsewhere (added after the admin rules, so never none).
        task(
            "Remove SSH from anywhere once admin networks are declared",
            "community.general.ufw",
            json!({
                "rule": "limit",
                "port": "{{ iotc_prepare_ssh_port }}",
                "proto": "tcp",
                "comment": "ssh",
                "delete": true
            }),
        )
        .when("iotc_prepare_ssh_from | length > 0"),
        task(
            "Allow the declared ports and flows",
            "community.general.ufw",
            json!({
                "rule": "allow",
                "port": "{{ item.port | default(omit) }}",
                "proto": "{{ item.proto | default('any') }}",
                "from_ip": "{{ iotc_prepare_lan_cidr if item.from == 'lan' else item.from }}",
                "comment": "{{ item.comment }}"
            }),
        )
        .with_loop("{{ iotc_prepare_firewall_rules }}")
        .label("{{ item.comment }}"),
        task(
            "Allow forwarded traffic of containers and pods",
            "community.general.ufw",
            json!({ "direction": "routed", "default": "allow" }),
        )
        .when("iotc_prepare_allow_routed | bool"),
        task(
            "Deny other incoming traffic and enable the firewall",
            "community.general.ufw",
            json!({ "state": "enabled", "direction": "incoming", "default": "deny" }),
        ),
    ];
    // Never lock the operator out: the address Ansible connects from
    // must be in an admin network before SSH is narrowed to them.
    r.tasks.push(
        task(
            "Check that Ansible connects from an admin network",
            "ansible.builtin.command",
            json!({
                "argv": "{{ ['/usr/bin/python3', '-c', iotc_prepare_in_network, ansible_env.SSH_CONNECTION.split()[0]] + iotc_prepare_ssh_from }}"
            }),
        )
        .kw("vars", json!({ "iotc_prepare_in_network": IN_NETWORK }))
        .when("iotc_prepare_ssh_from | length > 0")
        .when("ansible_env.SSH_CONNECTION is defined")
        .changed_when(false)
    );
    r.tasks.extend(firewall.into_iter().map(on_booted_host));
    // A reload keeps the sessions open, Ansible's own included.
    r.handlers = vec![
        // chrony reads its sources when it starts.
        on_booted_host(task(
            "Restart chrony",
            "ansible.builtin.systemd_service",
            json!({ "name": "chrony", "state": "restarted" }),
        )),
        on_booted_host(task(
            "Reload sshd",
            "ansible.builtin.systemd_service",
            json!({ "name": "ssh", "state": "reloaded" }),
        )),
        // The rules apply at every boot; this applies them now, before the
        // workloads start (handlers run at the end of the prepare play).
        on_booted_host(
            task(
                "Reload the device rules",
                "ansible.builtin.command",
                json!({ "argv": ["udevadm", "control", "--reload"] }),
            )
            .kw("listen", DEVICE_RULES_CHANGED)
            .changed_when(true),
        ),
        on_booted_host(
            task(
                "Apply the device rules to the nodes present now",
                "ansible.builtin.command",
                json!({ "argv": ["udevadm", "trigger", "--settle", "--action=change", "--sysname-match={{ item }}"] }),
            )
            .kw("listen", DEVICE_RULES_CHANGED)
            .with_loop("{{ iotc_prepare_device_groups | map(attribute='nodes') | flatten }}")
            .changed_when(true),
        ),
        on_booted_host(task(
            "Reboot for the kernel command line",
            "ansible.builtin.reboot",
            json!({ "reboot_timeout": 900, "msg": "iotc: enabling the memory cgroup" }),
        )),
    ];
    r
}

fn k3s() -> Result<Role, EmitError> {
    let mut r = Role::new(
        "iotc_k3s",
        "Install k3s (server or agent) from the release binary, verified against the release checksums.",
    );
    r.default("iotc_k3s_mode", "server");
    r.default("iotc_k3s_server", "{{ iotc_k8s_server | default(inventory_hostname) }}");
    r.default("iotc_k3s_binary_url", "{{ iotc_k3s_binary_url }}");
    r.default("iotc_k3s_checksum_url", "{{ iotc_k3s_checksum_url }}");
    r.default(
        "iotc_k3s_servers",
        "{{ iotc_k8s_servers | default([iotc_k3s_server]) }}",
    );
    // Clusters keep Traefik: their exposed listeners are Ingresses.
    r.default("iotc_k3s_disable_traefik", "{{ (iotc_tier | default('')) == 'edge' }}");
    r.default(
        "iotc_k3s_node_monitor_grace_seconds",
        crate::ir::NODE_MONITOR_GRACE_SECS,
    );
    r.default("iotc_k3s_token", "");
    r.default("iotc_k3s_registries", "{{ iotc_registries | default([]) }}");
    r.default("iotc_k3s_mirror", "{{ iotc_mirror | default('') }}");
    r.default("iotc_k3s_offline", "{{ iotc_offline | default(false) }}");
    // Offline sites: the controller's copy of the release's files.
    r.default(
        "iotc_k3s_cache",
        format!("{OFFLINE_CACHE}/k3s/{{{{ iotc_runtime_version }}}}"),
    );
    r.default("iotc_k3s_node_labels", "{{ iotc_node_labels | default({}) }}");
    r.default("iotc_k3s_node_taints", "{{ iotc_node_taints | default([]) }}");
    r.default(
        "iotc_k3s_unit",
        "{{ 'k3s' if iotc_k3s_mode == 'server' else 'k3s-agent' }}",
    );
    // The two defaults above that name themselves are replaced by the
    // inventory's values; keep them out of the defaults to avoid a loop.
    r.defaults
        .0
        .retain(|(k, _)| k != "iotc_k3s_binary_url" && k != "iotc_k3s_checksum_url");

    // At an offline site the controller downloads the binary and the
    // release's air-gap images (k3s's own: pause, CoreDNS, ...), both
    // checked against the release's sha256sum, and copies them; k3s
    // imports the images from its images folder when it starts.
    let release_files = "{{ [iotc_k3s_binary_url, iotc_k3s_airgap_images_url] }}";
    let images_dir = "/var/lib/rancher/k3s/agent/images";
    r.tasks = vec![
        task(
            "Download the k3s binary (checked against the release's sha256sum)",
            "ansible.builtin.get_url",
            json!({
                "url": "{{ iotc_k3s_binary_url }}",
                "dest": "/usr/local/bin/k3s",
                "checksum": "sha256:{{ iotc_k3s_checksum_url }}",
                "owner": "root",
                "group": "root",
                "mode": "0755"
            }),
        )
        .notify("Restart k3s")
        .when(ONLINE),
        on_controller(task(
            "Create the controller's folder for the k3s release (offline site)",
            "ansible.builtin.file",
            json!({ "path": "{{ iotc_k3s_cache }}", "state": "directory", "mode": "0755" }),
        ))
        .when(OFFLINE),
        on_controller(task(
            "Download the k3s binary and air-gap images on the controller (offline site, checked against the release's sha256sum)",
            "ansible.builtin.get_url",
            json!({
                "url": "{{ item }}",
                "dest": "{{ iotc_k3s_cache }}/{{ item | basename }}",
                "checksum": "sha256:{{ iotc_k3s_checksum_url }}",
                "mode": "0644"
            }),
        ))
        .with_loop(release_files)
        .label("{{ item | basename }}")
        .kw("throttle", 1)
        .when(OFFLINE),
        task(
            "Copy the k3s binary from the controller (offline site)",
            "ansible.builtin.copy",
            json!({
                "src": "{{ iotc_k3s_cache }}/{{ iotc_k3s_binary_url | basename }}",
                "dest": "/usr/local/bin/k3s",
                "owner": "root",
                "group": "root",
                "mode": "0755"
            }),
        )
        .notify("Restart k3s")
        .when(OFFLINE),
        task(
            "Create the k3s images folder (offline site)",
            "ansible.builtin.file",
            json!({ "path": images_dir, "state": "directory", "owner": "root", "group": "root", "mode": "0755" }),
        )
        .when(OFFLINE),
        task(
            "Copy k3s's air-gap images from the controller (offline site)",
            "ansible.builtin.copy",
            json!({
                "src": "{{ iotc_k3s_cache }}/{{ iotc_k3s_airgap_images_url | basename }}",
                "dest": format!("{images_dir}/{{{{ iotc_k3s_airgap_images_url | basename }}}}"),
                "owner": "root",
                "group": "root",
                "mode": "0644"
            }),
        )
        .notify("Restart k3s")
        .when(OFFLINE),
        task(
            "Create the k3s configuration directory",
            "ansible.builtin.file",
            json!({ "path": "/etc/rancher/k3s", "state": "directory", "owner": "root", "group": "root", "mode": "0755" }),
        ),
        task(
            "Write the k3s configuration",
            "ansible.builtin.template",
            json!({
                "src": "config.yaml.j2",
                "dest": "/etc/rancher/k3s/config.yaml",
                "owner": "root",
                "group": "root",
                "mode": "0600"
            }),
        )
        .no_log()
        .notify("Restart k3s"),
        task(
            "Write the private registries' credentials (registries.yaml)",
            "ansible.builtin.template",
            json!({
                "src": "registries.yaml.j2",
                "dest": "/etc/rancher/k3s/registries.yaml",
                "owner": "root",
                "group": "root",
                "mode": "0600"
            }),
        )
        .when("iotc_k3s_registries | length > 0 or iotc_k3s_mirror | length > 0")
        .no_log()
        .notify("Restart k3s"),
        task(
            "Install the k3s systemd unit",
            "ansible.builtin.copy",
            json!({
                "src": "{{ iotc_k3s_unit }}.service",
                "dest": "/etc/systemd/system/{{ iotc_k3s_unit }}.service",
                "owner": "root",
                "group": "root",
                "mode": "0644"
            }),
        )
        .notify("Restart k3s"),
        task(
            "Enable and start k3s",
            "ansible.builtin.systemd_service",
            json!({ "name": "{{ iotc_k3s_unit }}", "enabled": true, "state": "started", "daemon_reload": true }),
        ),
        task(
            "Wait for the server's node token",
            "ansible.builtin.wait_for",
            json!({ "path": "/var/lib/rancher/k3s/server/node-token", "timeout": 300 }),
        )
        .when("iotc_k3s_mode == 'server' and inventory_hostname == iotc_k3s_server"),
    ];
    r.handlers = vec![task(
        "Restart k3s",
        "ansible.builtin.systemd_service",
        json!({ "name": "{{ iotc_k3s_unit }}", "state": "restarted", "daemon_reload": true }),
    )];
    r.files = vec![
        ("k3s.service".into(), systemd::k3s_unit("server").map_err(err)?),
        ("k3s-agent.service".into(), systemd::k3s_unit("agent").map_err(err)?),
    ];
    r.templates = vec![
        ("config.yaml.j2".into(), K3S_CONFIG_TEMPLATE.to_string()),
        ("registries.yaml.j2".into(), REGISTRIES_TEMPLATE.to_string()),
    ];
    Ok(r)
}

fn microk8s() -> Role {
    let mut r = Role::new(
        "iotc_microk8s",
        "Install microk8s from its snap channel and join workers to the server.",
    );
    r.default("iotc_microk8s_mode", "server");
    r.default("iotc_microk8s_channel", "{{ iotc_microk8s_channel }}");
    r.default(
        "iotc_microk8s_server",
        "{{ iotc_k8s_server | default(inventory_hostname) }}",
    );
    r.default("iotc_microk8s_join_token", "");
    r.default(
        "iotc_microk8s_node_monitor_grace_seconds",
        crate::ir::NODE_MONITOR_GRACE_SECS,
    );
    r.default(
        "iotc_microk8s_join_args",
        "{{ ['--worker'] if iotc_microk8s_mode == 'agent' else [] }}",
    );
    r.defaults.0.retain(|(k, _)| k != "iotc_microk8s_channel");
    let args = "/var/snap/microk8s/current/args";
    r.tasks = vec![
        apt("Install snapd", json!(["snapd"])),
        task(
            "Install microk8s",
            "community.general.snap",
            json!({ "name": "microk8s", "classic": true, "channel": "{{ iotc_microk8s_channel }}", "state": "present" }),
        ),
        // Upgrades are the operator's (see docs/ansible.md), never snapd's
        // unattended refresh, which restarts every node of a site at once.
        task(
            "Hold microk8s at its channel's current revision",
            "ansible.builtin.command",
            json!({ "argv": ["snap", "refresh", "--hold", "microk8s"] }),
        )
        .changed_when(false),
        // The short host name collides between sites (`gw1` at every
        // plant); the node is named after the inventory host instead.
        task(
            "Name the node after its inventory host",
            "ansible.builtin.lineinfile",
            json!({
                "path": format!("{args}/kubelet"),
                "regexp": "^--hostname-override=",
                "line": "--hostname-override={{ inventory_hostname }}"
            }),
        )
        .notify("Restart microk8s"),
        task(
            "Mark a silent node unreachable sooner",
            "ansible.builtin.lineinfile",
            json!({
                "path": format!("{args}/kube-controller-manager"),
                "regexp": "^--node-monitor-grace-period=",
                "line": "--node-monitor-grace-period={{ iotc_microk8s_node_monitor_grace_seconds }}s"
            }),
        )
        .when("iotc_microk8s_mode == 'server'")
        .notify("Restart microk8s"),
        task("Apply the changed arguments before joining", "ansible.builtin.meta", json!("flush_handlers")),
        task(
            "Wait until microk8s is ready",
            "ansible.builtin.command",
            json!({ "argv": ["/snap/bin/microk8s", "status", "--wait-ready", "--timeout", "300"] }),
        )
        .changed_when(false),
        task(
            "Join the site's first server",
            "ansible.builtin.command",
            json!({
                "argv": "{{ ['/snap/bin/microk8s', 'join', iotc_microk8s_server ~ ':25000/' ~ iotc_microk8s_join_token] + iotc_microk8s_join_args }}",
                "creates": "/var/snap/microk8s/current/var/lock/clustered.lock"
            }),
        )
        .when("inventory_hostname != iotc_microk8s_server")
        .no_log(),
    ];
    r.handlers = vec![task(
        "Restart microk8s",
        "ansible.builtin.command",
        json!({ "argv": ["snap", "restart", "microk8s"] }),
    )
    .changed_when(true)];
    r
}

fn k8s_node() -> Role {
    let mut r = Role::new(
        "iotc_k8s_node",
        "Label and taint a Kubernetes node (site labels, zone, pool, standby) from its server, once it has registered.",
    );
    r.default(
        "iotc_k8s_node_server",
        "{{ iotc_k8s_server | default(inventory_hostname) }}",
    );
    r.default("iotc_k8s_node_kubectl", json!(["/usr/local/bin/k3s", "kubectl"]));
    r.default("iotc_k8s_node_name", "{{ inventory_hostname }}");
    r.default("iotc_k8s_node_labels", "{{ iotc_node_labels | default({}) }}");
    r.default("iotc_k8s_node_taints", "{{ iotc_node_taints | default([]) }}");
    // `key:effect` taints to remove (kubeadm's control-plane taint).
    r.default("iotc_k8s_node_untaints", json!([]));
    r.defaults
        .0
        .retain(|(k, _)| k != "iotc_k8s_node_kubectl" && k != "iotc_k8s_node_name");
    r.tasks = vec![
        // The kubelet registers the node shortly after k3s/microk8s start;
        // labelling before that fails with NotFound.
        task(
            "Wait until the node has registered",
            "ansible.builtin.command",
            json!({
                "argv": "{{ iotc_k8s_node_kubectl + ['get', 'node', iotc_k8s_node_name, '-o', 'name'] }}"
            }),
        )
        .delegate_to("{{ iotc_k8s_node_server }}")
        .register("iotc_k8s_node_registered")
        .kw("until", "iotc_k8s_node_registered.rc == 0")
        .kw("retries", 30)
        .kw("delay", 10)
        .changed_when(false),
        task(
            "Label the node",
            "ansible.builtin.command",
            json!({
                "argv": "{{ iotc_k8s_node_kubectl + ['label', 'node', iotc_k8s_node_name, item.key ~ '=' ~ item.value, '--overwrite'] }}"
            }),
        )
        .with_loop("{{ iotc_k8s_node_labels | dict2items }}")
        .label("{{ item.key }}")
        .delegate_to("{{ iotc_k8s_node_server }}")
        .register("iotc_k8s_node_label_result")
        .kw("until", "iotc_k8s_node_label_result.rc == 0")
        .kw("retries", 5)
        .kw("delay", 5)
        .changed_when("'not labeled' not in iotc_k8s_node_label_result.stdout"),
        task(
            "Read the node's taints",
            "ansible.builtin.command",
            json!({
                "argv": "{{ iotc_k8s_node_kubectl + ['get', 'node', iotc_k8s_node_name, '-o', 'jsonpath={.spec.taints[*].key}'] }}"
            }),
        )
        .delegate_to("{{ iotc_k8s_node_server }}")
        .register("iotc_k8s_node_taint_keys")
        .changed_when(false)
        .when("(iotc_k8s_node_taints + iotc_k8s_node_untaints) | length > 0"),
        task(
            "Taint the node",
            "ansible.builtin.command",
            json!({
                "argv": "{{ iotc_k8s_node_kubectl + ['taint', 'node', iotc_k8s_node_name, item, '--overwrite'] }}"
            }),
        )
        .with_loop("{{ iotc_k8s_node_taints }}")
        .delegate_to("{{ iotc_k8s_node_server }}")
        .when("item.split('=')[0] not in iotc_k8s_node_taint_keys.stdout.split()")
        .changed_when(true),
        task(
            "Remove the taints the node must not carry",
            "ansible.builtin.command",
            json!({
                "argv": "{{ iotc_k8s_node_kubectl + ['taint', 'node', iotc_k8s_node_name, item ~ '-'] }}"
            }),
        )
        .with_loop("{{ iotc_k8s_node_untaints }}")
        .delegate_to("{{ iotc_k8s_node_server }}")
        .when("item.split(':')[0] in iotc_k8s_node_taint_keys.stdout.split()")
        .changed_when(true),
    ];
    r
}

/// kubeadm on Debian/Ubuntu: containerd from the distribution (systemd
/// cgroups), kubelet/kubeadm/kubectl from pkgs.k8s.io pinned and held at
/// the cluster's version, swap off, `kubeadm init` from a config file with
/// Calico (VXLAN, NetworkPolicy) on the first server, joins elsewhere.
/// Every step is skipped when already done (admin.conf, kubelet.conf).
/// The Kubernetes apt repository of the cluster's minor (pkgs.k8s.io):
/// written by the kubeadm role and moved by its upgrade play.
pub(super) fn kubeadm_repository() -> Task {
    task(
        "Add the Kubernetes apt repository of the cluster's minor",
        "ansible.builtin.deb822_repository",
        json!({
            "name": "kubernetes",
            "types": ["deb"],
            "uris": ["{{ iotc_kubeadm_repository }}"],
            "suites": ["/"],
            "signed_by": "{{ iotc_kubeadm_repository }}Release.key",
            "state": "present"
        }),
    )
}

/// The apt pin of `iotc_kubeadm_packages` at the cluster's version.
pub(super) fn kubeadm_pin() -> Task {
    task(
        "Pin kubelet, kubeadm and kubectl to the cluster's version",
        "ansible.builtin.copy",
        json!({
            "content": "# Managed by Ansible (iotc).\nPackage: {{ iotc_kubeadm_packages | join(' ') }}\nPin: version {{ iotc_kubeadm_package_version }}\nPin-Priority: 1001\n",
            "dest": "/etc/apt/preferences.d/iotc-kubernetes",
            "owner": "root",
            "group": "root",
            "mode": "0644"
        }),
    )
}

/// A kubeadm control-plane node of a cluster with a VIP.
const VIP: &str = "iotc_kubeadm_vip | length > 0 and iotc_kubeadm_mode in ['init', 'server']";
const KUBE_VIP_MANIFEST: &str = "/etc/kubernetes/manifests/kube-vip.yaml";
/// The kubeconfig kube-vip reads: kubeadm 1.29+ binds admin.conf's rights
/// only once the cluster runs, so the first node's first init goes through
/// super-admin.conf (kube-vip's documented workaround); every other case,
/// admin.conf.
const VIP_KUBECONFIG: &str =
    "{{ 'super-admin.conf' if (iotc_kubeadm_mode == 'init' and not iotc_kubeadm_admin_conf.stat.exists
   and (iotc_runtime_version.split('.')[1] | int) >= 29) else 'admin.conf' }}";

fn kubeadm() -> Role {
    let mut r = Role::new(
        "iotc_kubeadm",
        "Install containerd and kubeadm at the cluster's Kubernetes version, initialise the first control-plane node with Calico, join the others.",
    );
    // `init` (the first server), `server` (other control-plane nodes) or
    // `worker`.
    r.default("iotc_kubeadm_mode", "worker");
    r.default("iotc_kubeadm_vip", "");
    // The control plane's address: its VIP when it has one.
    r.default(
        "iotc_kubeadm_endpoint",
        "{{ iotc_kubeadm_vip if iotc_kubeadm_vip else iotc_k8s_server }}:6443",
    );
    r.default("iotc_kubeadm_vip_image", KUBE_VIP_IMAGE);
    r.default(
        "iotc_kubeadm_vip_interface",
        "{{ ansible_facts['default_ipv4']['interface'] }}",
    );
    r.default("iotc_kubeadm_join_command", "");
    r.default("iotc_kubeadm_certificate_key", "");
    r.default(
        "iotc_kubeadm_calico_operator_url",
        "https://raw.githubusercontent.com/projectcalico/calico/{{ iotc_kubeadm_calico_version }}/manifests/tigera-operator.yaml",
    );
    r.default("iotc_kubeadm_packages", json!(["kubelet", "kubeadm", "kubectl"]));
    let init = "iotc_kubeadm_mode == 'init'";
    r.tasks = vec![
        apt(
            "Install containerd and kubeadm's prerequisites",
            json!(["containerd", "conntrack", "socat", "ca-certificates", "python3-debian"]),
        ),
        task(
            "Create containerd's configuration folder",
            "ansible.builtin.file",
            json!({ "path": "/etc/containerd", "state": "directory", "owner": "root", "group": "root", "mode": "0755" }),
        ),
        // The kubelet uses the systemd cgroup driver; containerd must too.
        task(
            "Configure containerd (systemd cgroups, CRI sandbox image)",
            "ansible.builtin.copy",
            json!({ "src": "containerd-config.toml", "dest": "/etc/containerd/config.toml", "owner": "root", "group": "root", "mode": "0644" }),
        )
        .notify("Restart containerd"),
        task(
            "Enable and start containerd",
            "ansible.builtin.systemd_service",
            json!({ "name": "containerd", "enabled": true, "state": "started" }),
        ),
        task("Restart containerd now if its configuration changed", "ansible.builtin.meta", json!("flush_handlers")),
        // The kubelet refuses to start with swap on (by default).
        task(
            "Turn swap off",
            "ansible.builtin.command",
            json!({ "argv": ["/usr/sbin/swapoff", "-a"] }),
        )
        .when("ansible_facts['swaptotal_mb'] | int > 0")
        .changed_when(true),
        task(
            "Keep swap off after a reboot",
            "ansible.builtin.replace",
            json!({ "path": "/etc/fstab", "regexp": "^([^#\\s][^\\n]*\\sswap\\s[^\\n]*)$", "replace": "# \\1" }),
        ),
        kubeadm_repository(),
        kubeadm_pin(),
        task(
            "Install kubelet, kubeadm and kubectl at the cluster's version",
            "ansible.builtin.apt",
            json!({
                "name": "{{ iotc_kubeadm_packages | map('regex_replace', '$', '=' ~ iotc_kubeadm_package_version) | list }}",
                "state": "present",
                "update_cache": true,
                "install_recommends": false,
                "allow_change_held_packages": true
            }),
        ),
        // Upgrades are the operator's (`kubeadm upgrade`), never apt's.
        task(
            "Hold kubelet, kubeadm and kubectl",
            "ansible.builtin.dpkg_selections",
            json!({ "name": "{{ item }}", "selection": "hold" }),
        )
        .with_loop("{{ iotc_kubeadm_packages }}"),
        task(
            "Enable the kubelet",
            "ansible.builtin.systemd_service",
            json!({ "name": "kubelet", "enabled": true }),
        ),
        task(
            "Read the installed kubeadm version",
            "ansible.builtin.command",
            json!({ "argv": ["/usr/bin/kubeadm", "version", "-o", "short"] }),
        )
        .register("iotc_kubeadm_installed")
        .changed_when(false)
        .when(init),
        task(
            "Write the kubeadm configuration",
            "ansible.builtin.template",
            json!({ "src": "kubeadm-config.yaml.j2", "dest": "/etc/kubernetes/iotc-kubeadm.yaml", "owner": "root", "group": "root", "mode": "0600" }),
        )
        .when(init),
        // kube-vip must answer on the VIP before kubeadm waits for the
        // API there (init) or joins through it (the other servers).
        task(
            "Look for a running control plane (kube-vip's kubeconfig)",
            "ansible.builtin.stat",
            json!({ "path": "/etc/kubernetes/admin.conf", "get_checksum": false }),
        )
        .register("iotc_kubeadm_admin_conf")
        .when(VIP),
        task(
            "Create the static pod folder",
            "ansible.builtin.file",
            json!({ "path": "/etc/kubernetes/manifests", "state": "directory", "owner": "root", "group": "root", "mode": "0755" }),
        )
        .when(VIP),
        task(
            "Run kube-vip on the control-plane node (the control plane's VIP)",
            "ansible.builtin.template",
            json!({ "src": "kube-vip.yaml.j2", "dest": KUBE_VIP_MANIFEST, "owner": "root", "group": "root", "mode": "0600" }),
        )
        .kw("vars", json!({ "iotc_kubeadm_vip_kubeconfig": VIP_KUBECONFIG }))
        .when(VIP),
        task(
            "Initialise the cluster (once)",
            "ansible.builtin.command",
            json!({
                "argv": ["/usr/bin/kubeadm", "init", "--config", "/etc/kubernetes/iotc-kubeadm.yaml", "--upload-certs"],
                "creates": "/etc/kubernetes/admin.conf"
            }),
        )
        .when(init),
        task(
            "Give kube-vip admin.conf now that the cluster runs",
            "ansible.builtin.template",
            json!({ "src": "kube-vip.yaml.j2", "dest": KUBE_VIP_MANIFEST, "owner": "root", "group": "root", "mode": "0600" }),
        )
        .kw("vars", json!({ "iotc_kubeadm_vip_kubeconfig": "admin.conf" }))
        .when(VIP)
        .when(init),
        task(
            "Look for the Calico operator",
            "ansible.builtin.command",
            json!({ "argv": "{{ iotc_k8s_node_kubectl + ['get', 'namespace', 'tigera-operator', '-o', 'name'] }}" }),
        )
        .register("iotc_kubeadm_calico_operator")
        .kw("failed_when", false)
        .changed_when(false)
        .when(init),
        // Pinned by release tag; `create`, since the CRDs are too large for
        // a client-side apply.
        task(
            "Install the Calico operator of the pinned release",
            "ansible.builtin.command",
            json!({ "argv": "{{ iotc_k8s_node_kubectl + ['create', '-f', iotc_kubeadm_calico_operator_url] }}" }),
        )
        .when(format!("{init} and iotc_kubeadm_calico_operator.rc != 0").as_str())
        .changed_when(true),
        task(
            "Wait for Calico's Installation resource type",
            "ansible.builtin.command",
            json!({ "argv": "{{ iotc_k8s_node_kubectl + ['wait', '--for=condition=established', '--timeout=120s', 'crd/installations.operator.tigera.io'] }}" }),
        )
        .changed_when(false)
        .when(init),
        task(
            "Configure Calico (pod network, VXLAN)",
            "ansible.builtin.command",
            json!({
                "argv": "{{ iotc_k8s_node_kubectl + ['apply', '-f', '-'] }}",
                "stdin": "{{ lookup('ansible.builtin.template', 'calico-installation.yaml.j2') }}"
            }),
        )
        .register("iotc_kubeadm_calico_applied")
        .changed_when("'unchanged' not in iotc_kubeadm_calico_applied.stdout")
        .when(init),
        task(
            "Join the cluster (once)",
            "ansible.builtin.command",
            json!({
                "argv": "{{ iotc_kubeadm_join_command.split() + ['--node-name', inventory_hostname]
   + (['--control-plane', '--certificate-key', iotc_kubeadm_certificate_key] if iotc_kubeadm_mode == 'server' else []) }}",
                "creates": "/etc/kubernetes/kubelet.conf"
            }),
        )
        .when("iotc_kubeadm_mode != 'init'")
        .no_log(),
    ];
    r.handlers = vec![task(
        "Restart containerd",
        "ansible.builtin.systemd_service",
        json!({ "name": "containerd", "state": "restarted" }),
    )];
    r.files = vec![("containerd-config.toml".into(), CONTAINERD_CONFIG.to_string())];
    r.templates = vec![
        ("kubeadm-config.yaml.j2".into(), KUBEADM_CONFIG_TEMPLATE.to_string()),
        ("kube-vip.yaml.j2".into(), KUBE_VIP_TEMPLATE.to_string()),
        (
            "calico-installation.yaml.j2".into(),
            CALICO_INSTALLATION_TEMPLATE.to_string(),
        ),
    ];
    r
}

fn k8s_pull_secrets() -> Role {
    let mut r = Role::new(
        "iotc_k8s_pull_secrets",
        "Create the private registries' pull Secrets in each namespace whose workloads pull from them, from references resolved on the controller.",
    );
    r.default(
        "iotc_k8s_pull_secrets_registries",
        "{{ iotc_registries | default([]) }}",
    );
    // The namespaces the checker decided (`ir::Workload::namespace`): the
    // solution's, and `<namespace>-host` where a host-access workload pulls;
    // on a fleet's site only those its manifests create there
    // (`iotc_k8s_namespaces`, a site var: a fleet's `-host` namespace
    // exists only at the sites where one of its workloads runs).
    r.default(
        "iotc_k8s_pull_secrets_namespaces",
        "{{ iotc_k8s_pull_secrets_registries | map(attribute='namespaces', default=[]) | flatten | unique | sort\n   | intersect(iotc_k8s_namespaces | default(iotc_k8s_pull_secrets_registries | map(attribute='namespaces', default=[]) | flatten)) }}",
    );
    // The Secret as JSON on kubectl's stdin: `kubectl apply` is
    // idempotent and says `unchanged` when nothing changed.
    let auth = "{{ {'auths': {item.0.host: {'username': item.0.username, 'password': iotc_k8s_pull_secrets_password,
   'auth': (item.0.username ~ ':' ~ iotc_k8s_pull_secrets_password) | b64encode}}} | to_json | b64encode }}";
    let secret = "{{ {'apiVersion': 'v1', 'kind': 'Secret', 'type': 'kubernetes.io/dockerconfigjson',
   'metadata': {'name': item.0.pull_secret, 'namespace': item.1,
     'labels': {'app.kubernetes.io/managed-by': 'iotc', 'app.kubernetes.io/part-of': iotc_solution}},
   'data': {'.dockerconfigjson': iotc_k8s_pull_secrets_auth}} | to_json }}";
    r.tasks = vec![
        // The namespaces the manifests create; the Secret must be in each
        // before the pods that name it start.
        task(
            "Create the namespaces that hold pull Secrets",
            "ansible.builtin.command",
            json!({
                "argv": "{{ iotc_k8s_node_kubectl + ['create', 'namespace', item] }}"
            }),
        )
        .with_loop("{{ iotc_k8s_pull_secrets_namespaces }}")
        .register("iotc_k8s_pull_secrets_ns")
        .changed_when("iotc_k8s_pull_secrets_ns.rc == 0")
        .kw(
            "failed_when",
            "iotc_k8s_pull_secrets_ns.rc != 0 and 'AlreadyExists' not in iotc_k8s_pull_secrets_ns.stderr",
        ),
        task(
            "Create or update the registry pull Secrets",
            "ansible.builtin.command",
            json!({
                "argv": "{{ iotc_k8s_node_kubectl + ['apply', '-f', '-'] }}",
                "stdin": secret
            }),
        )
        .with_loop("{{ iotc_k8s_pull_secrets_registries | subelements('namespaces', skip_missing=True) }}")
        .when("item.1 in iotc_k8s_pull_secrets_namespaces")
        .label("{{ item.1 }}/{{ item.0.pull_secret }}")
        .kw(
            "vars",
            // `item` is (registry, namespace) here.
            json!({ "iotc_k8s_pull_secrets_password": REGISTRY_PASSWORD.replace("item.", "item.0."), "iotc_k8s_pull_secrets_auth": auth }),
        )
        .register("iotc_k8s_pull_secrets_applied")
        .changed_when("'unchanged' not in iotc_k8s_pull_secrets_applied.stdout")
        .no_log(),
    ];
    r
}

fn k8s_secrets() -> Role {
    let mut r = Role::new(
        "iotc_k8s_secrets",
        "Create the workloads' Secrets (<workload>-secrets, one key per secret) from references resolved on the controller.",
    );
    r.default("iotc_k8s_secrets_list", "{{ iotc_k8s_secrets | default([]) }}");
    // The Secret as JSON on kubectl's stdin, its values looked up on the
    // controller (a variable, or Vault's KV v2) as the task runs.
    let secret = "{% set s = namespace(data={}) %}
{% for e in item.entries %}
{% set s.data = s.data | combine({e.key: (lookup('ansible.builtin.env', e.env, default=Undefined) if e.source == 'env'
   else lookup('community.hashi_vault.vault_kv2_get', e.vault_path, engine_mount_point=e.vault_mount).secret[e.vault_key])}) %}
{% endfor %}
{{ {'apiVersion': 'v1', 'kind': 'Secret', 'type': 'Opaque',
   'metadata': {'name': item.name, 'namespace': item.namespace,
     'labels': {'app.kubernetes.io/managed-by': 'iotc', 'app.kubernetes.io/part-of': iotc_solution}},
   'stringData': s.data} | to_json }}";
    r.tasks = vec![
        task(
            "Create the namespaces that hold the workloads' Secrets",
            "ansible.builtin.command",
            json!({ "argv": "{{ iotc_k8s_node_kubectl + ['create', 'namespace', item] }}" }),
        )
        .with_loop("{{ iotc_k8s_secrets_list | map(attribute='namespace') | unique | sort }}")
        .register("iotc_k8s_secrets_ns")
        .changed_when("iotc_k8s_secrets_ns.rc == 0")
        .kw(
            "failed_when",
            "iotc_k8s_secrets_ns.rc != 0 and 'AlreadyExists' not in iotc_k8s_secrets_ns.stderr",
        ),
        task(
            "Create or update the workloads' Secrets",
            "ansible.builtin.command",
            json!({ "argv": "{{ iotc_k8s_node_kubectl + ['apply', '-f', '-'] }}", "stdin": secret }),
        )
        .with_loop("{{ iotc_k8s_secrets_list }}")
        .label("{{ item.namespace }}/{{ item.name }}")
        .register("iotc_k8s_secrets_applied")
        .changed_when("'unchanged' not in iotc_k8s_secrets_applied.stdout")
        .no_log(),
    ];
    r
}

#[derive(Serialize)]
struct DaemonJson {
    #[serde(rename = "log-driver")]
    log_driver: &'static str,
    #[serde(rename = "log-opts")]
    log_opts: LogOpts,
    #[serde(rename = "live-restore")]
    live_restore: bool,
    #[serde(rename = "no-new-privileges")]
    no_new_privileges: bool,
    #[serde(rename = "userland-proxy")]
    userland_proxy: bool,
}

#[derive(Serialize)]
struct LogOpts {
    #[serde(rename = "max-size")]
    max_size: &'static str,
    #[serde(rename = "max-file")]
    max_file: &'static str,
}

fn docker() -> Result<Role, EmitError> {
    let mut r = Role::new(
        "iotc_docker",
        "Install Docker Engine and the Compose plugin from Docker's apt repository, pinned to the fleet's version.",
    );
    r.default("iotc_docker_version", "{{ iotc_docker_version }}");
    r.default(
        "iotc_docker_distribution",
        "{{ ansible_facts['distribution'] | lower }}",
    );
    r.default(
        "iotc_docker_repository",
        "https://download.docker.com/linux/{{ iotc_docker_distribution }}",
    );
    r.defaults.0.retain(|(k, _)| k != "iotc_docker_version");
    let daemon = DaemonJson {
        log_driver: "local",
        log_opts: LogOpts {
            max_size: "10m",
            max_file: "3",
        },
        live_restore: true,
        no_new_privileges: true,
        userland_proxy: false,
    };
    let daemon_json = serde_json::to_string_pretty(&daemon).map_err(|e| err(format!("daemon.json: {e}")))? + "\n";
    let mut tasks = packages(
        "Install the Docker prerequisites",
        json!(["ca-certificates", "python3-yaml"]),
    );
    tasks.extend(vec![
        task(
            "Add Docker's apt repository",
            "ansible.builtin.deb822_repository",
            json!({
                "name": "docker",
                "types": ["deb"],
                "uris": ["{{ iotc_docker_repository }}"],
                "suites": ["{{ ansible_facts['distribution_release'] }}"],
                "components": ["stable"],
                "signed_by": "{{ iotc_docker_repository }}/gpg",
                "state": "present"
            }),
        )
        .when(ONLINE),
        task(
            "Install Docker Engine and the Compose plugin",
            "ansible.builtin.apt",
            json!({
                "name": [
                    "docker-ce=5:{{ iotc_docker_version }}*",
                    "docker-ce-cli=5:{{ iotc_docker_version }}*",
                    "containerd.io",
                    "docker-compose-plugin"
                ],
                "state": "present",
                "update_cache": true,
                "install_recommends": false
            }),
        )
        .when(ONLINE),
        task(
            "Check Docker Engine and the Compose plugin (offline site: installed beforehand)",
            "ansible.builtin.assert",
            json!({
                "that": [
                    "ansible_facts.packages['docker-ce'] | default([]) | map(attribute='version') | select('search', '^5:' ~ iotc_docker_version) | list | length > 0",
                    "'docker-compose-plugin' in ansible_facts.packages"
                ],
                "fail_msg": "Offline site: install docker-ce {{ iotc_docker_version }} and docker-compose-plugin on {{ inventory_hostname }} beforehand",
                "quiet": true
            }),
        )
        .when(OFFLINE),
        task(
            "Configure the Docker daemon",
            "ansible.builtin.copy",
            json!({ "src": "daemon.json", "dest": "/etc/docker/daemon.json", "owner": "root", "group": "root", "mode": "0644" }),
        )
        .notify("Restart docker"),
        task(
            "Enable and start Docker",
            "ansible.builtin.systemd_service",
            json!({ "name": "docker", "enabled": true, "state": "started" }),
        ),
    ]);
    r.tasks = tasks;
    r.handlers = vec![task(
        "Restart docker",
        "ansible.builtin.systemd_service",
        json!({ "name": "docker", "state": "restarted" }),
    )];
    r.files = vec![("daemon.json".into(), daemon_json)];
    Ok(r)
}

fn compose_stack(c: &Ctx) -> Result<Role, EmitError> {
    let mut r = Role::new(
        "iotc_compose_stack",
        "Ship a site's Compose stack with this gateway's .env, secrets and models, bring it up, install job timers.",
    );
    r.default("iotc_compose_stack_dir", "/opt/iotc/{{ iotc_compose_stack_project }}");
    r.default(
        "iotc_compose_stack_src",
        "{{ inventory_dir }}/../{{ iotc_compose_stack_file }}",
    );
    r.default("iotc_compose_stack_secrets_dir", super::compose::SECRETS_DIR);
    r.default(
        "iotc_compose_stack_secrets_env",
        "{{ iotc_compose_stack_secrets_dir }}/{{ iotc_compose_stack_project }}.env",
    );
    r.default("iotc_compose_stack_env", json!([]));
    r.default("iotc_compose_stack_addresses", json!([]));
    r.default("iotc_compose_stack_groups", json!([]));
    r.default("iotc_compose_stack_secrets", json!([]));
    r.default("iotc_compose_stack_published", json!([]));
    r.default("iotc_compose_stack_models", json!([]));
    r.default("iotc_compose_stack_timers", json!([]));
    r.default("iotc_compose_stack_run_once", json!([]));
    let dir = "{{ iotc_compose_stack_dir }}";
    let rendered = "{{ iotc_compose_stack_secrets | selectattr('source', 'equalto', 'vault') }}";
    let mut tasks = vec![
        task(
            "Create the stack folder",
            "ansible.builtin.file",
            json!({ "path": dir, "state": "directory", "owner": "root", "group": "root", "mode": "0755" }),
        ),
        task(
            "Create the secrets folder",
            "ansible.builtin.file",
            json!({ "path": "{{ iotc_compose_stack_secrets_dir }}", "state": "directory", "owner": "root", "group": "root", "mode": "0711" }),
        ),
        task(
            "Copy the site's Compose file",
            "ansible.builtin.copy",
            json!({
                "src": "{{ iotc_compose_stack_src }}",
                "dest": format!("{dir}/compose.yaml"),
                "owner": "root",
                "group": "root",
                "mode": "0644"
            }),
        ),
        task("Read the host's groups", "ansible.builtin.getent", json!({ "database": "group" }))
            .when("iotc_compose_stack_groups | length > 0"),
        task(
            "Write this gateway's .env (replicas, peer addresses, device groups)",
            "ansible.builtin.template",
            json!({
                "src": "compose.env.j2",
                "dest": format!("{dir}/.env"),
                "owner": "root",
                "group": "root",
                "mode": "0644"
            }),
        ),
        task(
            "Write the env secrets from the controller's environment",
            "ansible.builtin.template",
            json!({
                "src": "secrets.env.j2",
                "dest": "{{ iotc_compose_stack_secrets_env }}",
                "owner": "root",
                "group": "root",
                "mode": "0600"
            }),
        )
        .no_log(),
        task(
            "Create the folders of rendered secrets",
            "ansible.builtin.file",
            json!({ "path": "{{ item.path | dirname }}", "state": "directory", "owner": "root", "group": "root", "mode": "0711" }),
        )
        .with_loop(rendered)
        .label("{{ item.name }}"),
        task(
            "Write the secrets from Vault (KV v2)",
            "ansible.builtin.copy",
            json!({
                "content": "{{ lookup('community.hashi_vault.vault_kv2_get', item.vault_path, engine_mount_point=item.vault_mount).secret[item.vault_key] }}",
                "dest": "{{ item.path }}",
                "owner": "{{ item.owner }}",
                "group": "root",
                "mode": "0400"
            }),
        )
        .with_loop("{{ iotc_compose_stack_secrets | selectattr('source', 'equalto', 'vault') }}")
        .label("{{ item.name }}")
        .no_log(),
        // Without Swarm, Compose bind-mounts a `file:` secret with the
        // host file's owner and mode: it must be the container user's and
        // readable by nobody else (0400 or 0600), or the service cannot
        // read it, or every local user can. Checked before the stack uses
        // them, the operator's `from file` ones and the rendered ones.
        task(
            "Read the owner and mode of the secret files",
            "ansible.builtin.stat",
            json!({ "path": "{{ item.path }}", "get_checksum": false }),
        )
        .with_loop(SECRET_FILES)
        .label("{{ item.name }}")
        .register("iotc_compose_stack_secret_files"),
        task(
            "Fail when a secret file is missing, not the container user's, or readable by others",
            "ansible.builtin.assert",
            json!({
                "that": SECRET_FILE_CHECK,
                "fail_msg": "{{ item.item.path }} (secret {{ item.item.name }}) on {{ inventory_hostname }}: chown {{ item.item.owner }} and chmod 0400 it",
                "quiet": true
            }),
        )
        .with_loop("{{ iotc_compose_stack_secret_files.results }}")
        .label("{{ item.item.name }}"),
        task(
            "Create the model folders",
            "ansible.builtin.file",
            json!({ "path": "{{ item.dest | dirname }}", "state": "directory", "owner": "root", "group": "root", "mode": "0755" }),
        )
        .with_loop("{{ iotc_compose_stack_models }}")
        .label("{{ item.model }} {{ item.version }}"),
        task(
            "Stage the models over HTTPS (checksum verified)",
            "ansible.builtin.get_url",
            json!({
                "url": "{{ item.url }}",
                "dest": "{{ item.dest }}",
                "checksum": "{{ item.checksum | default(omit) }}",
                "owner": "root",
                "group": "root",
                "mode": "0644"
            }),
        )
        .with_loop("{{ iotc_compose_stack_models | rejectattr('scheme', 'equalto', 's3') }}")
        .label("{{ item.model }} {{ item.version }}")
        .when(ONLINE),
        apt("Install boto3 for the models from S3", json!(["python3-boto3"]))
            .when("iotc_compose_stack_models | selectattr('scheme', 'equalto', 's3') | list | length > 0")
            .when(ONLINE),
        // The controller's AWS credentials when it has them, else the
        // gateway's own (instance profile, root's ~/.aws).
        task(
            "Stage the models from S3",
            "amazon.aws.s3_object",
            json!({
                "bucket": "{{ item.s3_bucket }}",
                "object": "{{ item.s3_object }}",
                "dest": "{{ item.dest }}",
                "mode": "get",
                "overwrite": "different",
                "access_key": "{{ lookup('ansible.builtin.env', 'AWS_ACCESS_KEY_ID') | default(omit, true) }}",
                "secret_key": "{{ lookup('ansible.builtin.env', 'AWS_SECRET_ACCESS_KEY') | default(omit, true) }}"
            }),
        )
        .with_loop("{{ iotc_compose_stack_models | selectattr('scheme', 'equalto', 's3') }}")
        .label("{{ item.model }} {{ item.version }}")
        .no_log()
        .when(ONLINE),
    ];
    tasks.extend(stage_models_from_controller("iotc_compose_stack_models"));
    tasks.extend(vec![
        task(
            "Checksum the models from S3",
            "ansible.builtin.stat",
            json!({ "path": "{{ item.dest }}", "checksum_algorithm": "sha256", "get_checksum": true }),
        )
        .with_loop("{{ iotc_compose_stack_models | selectattr('scheme', 'equalto', 's3') }}")
        .label("{{ item.model }} {{ item.version }}")
        .register("iotc_compose_stack_s3_models"),
        task(
            "Fail when a model from S3 does not match its checksum",
            "ansible.builtin.assert",
            json!({
                "that": ["item.item.checksum is not defined or item.stat.checksum == item.item.checksum.split(':') | last"],
                "fail_msg": "{{ item.item.url }} does not match {{ item.item.checksum | default('') }}",
                "quiet": true
            }),
        )
        .with_loop("{{ iotc_compose_stack_s3_models.results }}")
        .label("{{ item.item.model }} {{ item.item.version }}"),
        // Before `up`, so no published port is ever open to all.
        task(
            "Admit only the declared callers to the published ports (DOCKER-USER, in ufw's after.rules)",
            "ansible.builtin.blockinfile",
            json!({
                "path": "/etc/ufw/after.rules",
                "marker": "# {mark} iotc DOCKER-USER {{ iotc_compose_stack_project }}",
                "block": "{{ lookup('ansible.builtin.template', 'docker-user.rules.j2') }}",
                "owner": "root",
                "group": "root",
                "mode": "0640"
            }),
        )
        .notify("Reload ufw"),
        task("Reload ufw now if the rules changed", "ansible.builtin.meta", json!("flush_handlers")),
        task(
            "Log in to the private registries the stack pulls from",
            "community.docker.docker_login",
            json!({
                "registry_url": "{{ item.host }}",
                "username": "{{ item.username }}",
                "password": REGISTRY_PASSWORD,
                "state": "present"
            }),
        )
        .with_loop("{{ iotc_registries | default([]) }}")
        .label("{{ item.host }}")
        .no_log()
        .when(ONLINE),
        task(
            "Bring the Compose stack up",
            "community.docker.docker_compose_v2",
            json!({
                "project_src": dir,
                "project_name": "{{ iotc_compose_stack_project }}",
                "env_files": [format!("{dir}/.env"), "{{ iotc_compose_stack_secrets_env }}"],
                "state": "present",
                "pull": "missing",
                "remove_orphans": true
            }),
        )
        .notify("Run the once-only jobs"),
        task(
            "Install the systemd units of the scheduled jobs",
            "ansible.builtin.copy",
            json!({
                "src": "systemd/{{ item }}",
                "dest": "/etc/systemd/system/{{ item }}",
                "owner": "root",
                "group": "root",
                "mode": "0644"
            }),
        )
        .with_loop("{{ iotc_compose_stack_timers | product(['.service', '.timer']) | map('join') }}"),
        task(
            "Enable the timers of the scheduled jobs",
            "ansible.builtin.systemd_service",
            json!({ "name": "{{ item }}.timer", "enabled": true, "state": "started", "daemon_reload": true }),
        )
        .with_loop("{{ iotc_compose_stack_timers }}"),
    ]);
    r.tasks = tasks;
    // After a deploy that changed the stack.
    r.handlers = vec![
        task(
            "Reload ufw",
            "ansible.builtin.command",
            json!({ "argv": ["/usr/sbin/ufw", "reload"] }),
        )
        .changed_when(true),
        task(
            "Run the once-only jobs",
            "ansible.builtin.command",
            json!({
                "argv": [
                    "/usr/bin/docker", "compose",
                    "--project-directory", dir,
                    "--project-name", "{{ iotc_compose_stack_project }}",
                    "--env-file", format!("{dir}/.env"),
                    "--env-file", "{{ iotc_compose_stack_secrets_env }}",
                    "--profile", super::compose::JOBS_PROFILE,
                    "run", "--rm", "--no-deps", "{{ item }}"
                ]
            }),
        )
        .with_loop("{{ iotc_compose_stack_run_once }}")
        .changed_when(true),
    ];
    for job in super::compose::scheduled_jobs(c.sol) {
        let Some(cron) = job.schedule.as_deref() else { continue };
        let unit = super::job_unit(&job);
        let (service, timer) = systemd::job_units(c, &job, cron).map_err(err)?;
        r.files.push((format!("systemd/{unit}.service"), service));
        r.files.push((format!("systemd/{unit}.timer"), timer));
    }
    r.templates = vec![
        ("compose.env.j2".into(), COMPOSE_ENV_TEMPLATE.to_string()),
        ("secrets.env.j2".into(), SECRETS_ENV_TEMPLATE.to_string()),
        ("docker-user.rules.j2".into(), DOCKER_USER_TEMPLATE.to_string()),
    ];
    Ok(r)
}

pub fn emit(c: &Ctx, files: &mut Vec<OutputFile>) -> Result<(), EmitError> {
    for role in [
        prepare(),
        k3s()?,
        microk8s(),
        k8s_node(),
        k8s_pull_secrets(),
        k8s_secrets(),
        kubeadm(),
        docker()?,
        compose_stack(c)?,
    ] {
        role.write(files)?;
    }
    Ok(())
}
