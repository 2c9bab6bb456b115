//! The container fields services, daemons, jobs, `train` and `serve`
//! share: image, resources, user, port, env and secrets, volumes, scratch
//! folders and devices.

use super::super::body::{BodyView, EnvRefDraft, MapKeys, Scalar};
use super::super::values as v;
use super::super::Analyzer;
use crate::diag::{Code, Diagnostic};
use crate::ir;
use crate::schema::{self, Contents, Shape};
use crate::source::Span;
use crate::syntax::ast::NestedBlock;
use std::collections::BTreeMap;

/// What [`Analyzer::container`] read: the container, and where its
/// resource fields are written (for capacity and device diagnostics).
pub(super) struct ContainerDraft {
    pub container: ir::Container,
    pub spans: ResourceSpans,
    /// Env values that name another workload's endpoint.
    pub env_refs: Vec<EnvRefDraft>,
}

/// Where a container's resource fields are written.
pub(super) struct ResourceSpans {
    /// The `cpu`, `memory` and `gpu` values, or the block when absent.
    pub cpu: Span,
    pub memory: Span,
    pub gpu: Span,
    pub arch: Option<Span>,
    /// The `privileged = true` value, when it is true.
    pub privileged: Option<Span>,
}

/// A container's port and what it serves on it.
struct PortDraft {
    port: Option<u16>,
    scheme: String,
    protocol: String,
    health: Option<String>,
    metrics: Option<String>,
}

/// A container's `env` blocks: the values, and the ones that name another
/// workload's endpoint.
struct EnvDraft {
    env: BTreeMap<String, String>,
    refs: Vec<EnvRefDraft>,
}

impl<'a> Analyzer<'a> {
    /// Container fields shared by services, daemons, jobs, `train` and `serve`.
    pub(super) fn container(&mut self, view: &BodyView<'a>, shape: &Shape) -> ContainerDraft {
        let span_of = |f: &str| view.attr(f).map(|a| a.value.span).unwrap_or(view.owner);
        let (cpu_span, memory_span, gpu_span) = (span_of("cpu"), span_of("memory"), span_of("gpu"));
        let image = self.get_str(view, shape, "image").map(|(s, _)| s).unwrap_or_default();
        let cpu = self.get_cpu(view, shape, "cpu");
        let memory = self.get_memory(view, shape, "memory").unwrap_or(0);
        let gpu = self.get_u32_or_default(view, shape, "gpu");
        let arch_span = view.attr("arch").map(|a| a.value.span);
        let arch = self.get_list(view, shape, "arch").into_iter().map(|(s, _)| s).collect();
        let privileged = self.get_bool(view, shape, "privileged");
        let privileged_span = if privileged {
            view.attr("privileged").map(|a| a.value.span)
        } else {
            None
        };
        let user = self.user(view, shape);
        let PortDraft {
            port,
            scheme,
            protocol,
            health,
            metrics,
        } = self.port(view, shape);
        let command = self
            .get_list(view, shape, "command")
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let args = self.get_list(view, shape, "args").into_iter().map(|(s, _)| s).collect();
        let EnvDraft { env, refs: env_refs } = self.env(view);
        let secrets = self.container_secrets(view, &env);
        let volumes = self.volumes(view, shape);
        let scratch = self.scratch(view, shape, &volumes);
        let devices = self.device_mounts(view);
        ContainerDraft {
            container: ir::Container {
                image,
                registry: None,
                command,
                args,
                cpu_millis: cpu,
                cpu_limit_millis: cpu.saturating_mul(2),
                memory_bytes: memory,
                gpu,
                env,
                secrets,
                volumes,
                scratch,
                devices,
                privileged,
                user,
                port,
                scheme,
                protocol,
                health,
                metrics,
                metrics_port: None,
                arch,
                files: BTreeMap::new(),
            },
            spans: ResourceSpans {
                cpu: cpu_span,
                memory: memory_span,
                gpu: gpu_span,
                arch: arch_span,
                privileged: privileged_span,
            },
            env_refs,
        }
    }

    /// The user id: never root; `train` and `serve` have no `user` field
    /// and run as the default non-root user too.
    fn user(&mut self, view: &BodyView<'a>, shape: &Shape) -> u32 {
        let user = if shape.field("user").is_some() {
            self.get_u32_or_default(view, shape, "user")
        } else {
            10001
        };
        if shape.field("user").is_some() {
            if let Some(a) = view.attr("user") {
                if self.get_int(view, shape, "user").map(|(u, _)| u) == Some(0) {
                    self.diags.push(
                        Diagnostic::new(Code::E0202, a.value.span, "containers never run as root (user 0)")
                            .label("root")
                            .help("use a non-zero user id such as 10001; for device access use `device \"/dev/…\"`"),
                    );
                }
            }
        }
        user
    }

    /// `port`, `protocol`, `health`, `metrics` and `scheme`.
    fn port(&mut self, view: &BodyView<'a>, shape: &Shape) -> PortDraft {
        let port = self
            .get_int(view, shape, "port")
            .and_then(|(p, _)| u16::try_from(p).ok());
        let protocol = self
            .get_str(view, shape, "protocol")
            .map(|(s, _)| s)
            .unwrap_or_else(|| "tcp".into());
        let health = self.get_str(view, shape, "health").map(|(s, _)| s);
        let metrics = self.get_str(view, shape, "metrics").map(|(s, _)| s);
        // What the port speaks: declared, else HTTP when it serves a health
        // or metrics path, else its transport.
        let scheme = match self.get_str(view, shape, "scheme") {
            Some((s, _)) => s,
            None if health.is_some() || metrics.is_some() => "http".into(),
            None => protocol.clone(),
        };
        if let (Some(_), None, Some(a)) = (&health, view.attr("port"), view.attr("health")) {
            if shape.field("port").is_some() {
                self.diags.push(
                    Diagnostic::new(Code::E0106, a.key.span, "`health` needs a `port` to probe")
                        .label("no port to check")
                        .help("add `port = …`"),
                );
            }
        }
        PortDraft {
            port,
            scheme,
            protocol,
            health,
            metrics,
        }
    }

    /// The `env` blocks; a plain value under a secret-looking name is W0501.
    fn env(&mut self, view: &BodyView<'a>) -> EnvDraft {
        let env_blocks: Vec<&NestedBlock> = view.blocks_named("env").collect();
        let mut env = BTreeMap::new();
        let mut refs = Vec::new();
        for b in env_blocks {
            for (k, (val, span)) in self.string_map(b, MapKeys::Env, Some(&mut refs)) {
                if v::looks_secret(&k) && !val.is_empty() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::W0501,
                            span,
                            format!("`{k}` looks like a secret but is a plain value"),
                        )
                        .label("visible in the generated files")
                        .help(format!("write `secret {k} from env \"…\"` (or `file`/`vault`) instead")),
                    );
                }
                env.entry(k).or_insert(val);
            }
        }
        EnvDraft { env, refs }
    }

    /// The `secret` statements: each named as the environment variable the
    /// container sees, and not also in `env`.
    fn container_secrets(&mut self, view: &BodyView<'a>, env: &BTreeMap<String, String>) -> Vec<ir::SecretRef> {
        let mut secrets = Vec::new();
        for s in &view.secrets {
            let Some(secret) = self.secret_ref(s) else { continue };
            if let Err(m) = v::check_env_name(&s.name.name) {
                self.diags.push(
                    Diagnostic::new(Code::E0502, s.name.span, m)
                        .label("invalid name")
                        .help("the secret's name is the environment variable the container sees"),
                );
                continue;
            }
            if env.contains_key(&s.name.name) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0107,
                        s.name.span,
                        format!("`{}` is both an env var and a secret", s.name.name),
                    )
                    .label("defined twice")
                    .help("remove it from `env`"),
                );
            }
            secrets.push(secret);
        }
        secrets
    }

    /// The `volume` blocks: a mount with a `size` or a `host_path`.
    fn volumes(&mut self, view: &BodyView<'a>, shape: &Shape) -> Vec<ir::Volume> {
        let mut volumes = Vec::new();
        for vb in view.blocks_named("volume").collect::<Vec<_>>() {
            let Some(vname) = &vb.name else { continue };
            self.check_name(&vname.name, vname.span, "volume");
            let Some(Contents::Fields(vs)) = shape.block("volume").map(|s| s.contents) else {
                continue;
            };
            let vv = self.view(&vb.body, vs, "a volume", vname.span, None);
            self.require(&vv, vs, &format!("volume `{}`", vname.name));
            let mount = self.get_str(&vv, vs, "mount").map(|(s, _)| s).unwrap_or_default();
            let size = vv
                .attr("size")
                .and_then(|a| match self.scalar(&a.value, &schema::Ty::Memory) {
                    Some(Scalar::Memory(m)) => Some(m),
                    _ => None,
                });
            let host_path = self.get_str(&vv, vs, "host_path").map(|(s, _)| s);
            if let (Some(_), Some(_), Some(a)) = (size, &host_path, vv.attr("host_path")) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0110,
                        a.key.span,
                        "a volume has either `size` or `host_path`, not both",
                    )
                    .label("both given")
                    .help("remove one"),
                );
            }
            let read_only = self.get_bool(&vv, vs, "read_only");
            volumes.push(ir::Volume {
                name: vname.name.clone(),
                mount,
                size_bytes: size,
                host_path,
                read_only,
                // Decided once the workload's kind and namespace are known.
                host_dir: None,
            });
        }
        volumes
    }

    /// The `device "/dev/…"` statements, each with its device group.
    fn device_mounts(&mut self, view: &BodyView<'a>) -> Vec<ir::DeviceMount> {
        let mut devs = Vec::new();
        for d in &view.devices {
            let bad = |p: &str| !p.starts_with("/dev/") || p.len() <= 5;
            if bad(&d.host.value) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0201,
                        d.host.span,
                        format!("`{}` is not a device path", d.host.value),
                    )
                    .label("expected `/dev/…`")
                    .help("name a device node such as \"/dev/video0\" or \"/dev/ttyUSB0\""),
                );
                continue;
            }
            let container = d
                .container
                .as_ref()
                .map(|c| c.value.clone())
                .unwrap_or_else(|| d.host.value.clone());
            if let Some(c) = &d.container {
                if bad(&c.value) {
                    self.diags.push(
                        Diagnostic::new(Code::E0201, c.span, format!("`{}` is not a device path", c.value))
                            .label("expected `/dev/…`")
                            .help("name the device path inside the container, e.g. \"/dev/camera\""),
                    );
                    continue;
                }
            }
            devs.push(ir::DeviceMount {
                group: super::super::devices::device_group(&d.host.value),
                host: d.host.value.clone(),
                container,
                // Named across the whole solution once every workload is placed.
                resource: String::new(),
            });
        }
        devs
    }

    /// The folders a container writes outside its volumes
    /// (`ir::Container::scratch`): `/tmp` unless a volume mounts there,
    /// and every declared `writable` path. A `writable` path that is not a
    /// plain folder below `/`, or that a volume already mounts, is an error.
    fn scratch(&mut self, view: &BodyView<'a>, shape: &Shape, volumes: &[ir::Volume]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if !volumes.iter().any(|v| v.mount == "/tmp") {
            out.push("/tmp".into());
        }
        for (path, span) in self.get_list(view, shape, "writable") {
            let trimmed = path.trim_end_matches('/');
            if trimmed.is_empty() || path.split('/').any(|c| c == ".." || c == ".") || path.contains("//") {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0201,
                        span,
                        format!("`{path}` is not a folder the image can write"),
                    )
                    .label("expected a folder below `/`")
                    .help("name the folder itself, such as \"/var/run/postgresql\""),
                );
                continue;
            }
            if let Some(v) = volumes.iter().find(|v| v.mount.trim_end_matches('/') == trimmed) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0107,
                        span,
                        format!("`{path}` is already the mount of volume `{}`", v.name),
                    )
                    .label("mounted twice")
                    .help(if v.read_only {
                        "remove it from `writable`, or drop `read_only` from the volume"
                    } else {
                        "remove it from `writable`: the volume is writable and keeps its files"
                    }),
                );
                continue;
            }
            if trimmed == "/tmp" && out.iter().any(|p| p == "/tmp") {
                continue; // every container has a scratch /tmp already
            }
            if out.iter().any(|p| p == trimmed) {
                self.diags.push(
                    Diagnostic::new(Code::E0107, span, format!("`{path}` is listed twice"))
                        .label("again")
                        .help("list each folder once"),
                );
                continue;
            }
            out.push(trimmed.to_string());
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{analyzer, block, program, reported};
    use crate::diag::Code;
    use crate::schema::{DAEMON, SERVICE};

    #[test]
    fn containers_never_run_as_root() {
        let prog = program(
            "service s on c { user = 0 }
service t on c { user = 1000 }
service u on c { }",
        );
        let mut a = analyzer(&prog);
        let mut users = Vec::new();
        for name in ["s", "t", "u"] {
            let b = block(&prog, name);
            let view = a.view(&b.body, &SERVICE, "a service", b.name.span, None);
            users.push(a.user(&view, &SERVICE));
        }
        assert_eq!(users, [0, 1000, 10001]);
        assert_eq!(
            reported(&prog, &a.diags),
            [(
                Code::E0202,
                "containers never run as root (user 0)".to_string(),
                "0".to_string()
            )]
        );
    }

    #[test]
    fn the_port_scheme_is_declared_or_follows_health_or_protocol() {
        let prog = program(
            "service a on c { port = 8080  health = \"/healthz\" }
service b on c { port = 5683  protocol = udp }
service d on c { port = 1883  scheme = mqtt  metrics = \"/metrics\" }
service m on c { port = 9100  metrics = \"/metrics\" }
daemon e on c { health = \"/healthz\" }",
        );
        let mut a = analyzer(&prog);
        let mut read = Vec::new();
        for (name, shape) in [
            ("a", &SERVICE),
            ("b", &SERVICE),
            ("d", &SERVICE),
            ("m", &SERVICE),
            ("e", &DAEMON),
        ] {
            let b = block(&prog, name);
            let view = a.view(&b.body, shape, "a workload", b.name.span, None);
            let p = a.port(&view, shape);
            read.push((p.port, p.scheme, p.protocol, p.health, p.metrics));
        }
        assert_eq!(
            read,
            [
                (Some(8080), "http".into(), "tcp".into(), Some("/healthz".into()), None),
                (Some(5683), "udp".into(), "udp".into(), None, None),
                (Some(1883), "mqtt".into(), "tcp".into(), None, Some("/metrics".into())),
                (Some(9100), "http".into(), "tcp".into(), None, Some("/metrics".into())),
                (None, "http".into(), "tcp".into(), Some("/healthz".into()), None),
            ]
        );
        assert_eq!(
            reported(&prog, &a.diags),
            [(
                Code::E0106,
                "`health` needs a `port` to probe".to_string(),
                "health".to_string()
            )]
        );
    }
}
