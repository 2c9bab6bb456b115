//! Infrastructure items: the solution block with its registries, device
//! profiles and their prices, runtimes, serving runtimes, clusters with
//! their pools and provider, fleets with their sites, and externals.

use super::super::body::{BodyView, MapKeys, Scalar};
use super::super::values as v;
use super::super::{Analyzer, ItemId};
use super::{ClusterDraft, FleetDraft, PoolDraft, Profiles, SiteDraft, SolutionHeader};
use crate::diag::{Code, Diagnostic};
use crate::ir;
use crate::schema::{self, Contents, Shape};
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, BlockKind, Expr, ExprKind};
use rustc_hash::FxHashMap as HashMap;

#[derive(Clone)]
pub(super) struct ServingInfo {
    pub name: String,
    pub image: String,
    pub formats: Vec<String>,
    pub port: u16,
    pub health: Option<String>,
    pub metrics: Option<String>,
    pub metrics_port: Option<u16>,
    pub arch: Vec<String>,
    pub args: Vec<String>,
    /// `provides { metric = "PromQL" }`: what a `monitor { alert … }` on
    /// its servers can name, with `{selector}` and `{model_name}` unfilled.
    pub provides: std::collections::BTreeMap<String, String>,
    /// `files { "/etc/<folder>/<name>" = "…" }`: mounted read-only.
    pub files: std::collections::BTreeMap<String, String>,
}

/// What a cluster's `provider = …` says: the provider, and for
/// `baremetal` the `hosts` pattern with where it is written.
#[derive(Default)]
pub(super) struct ProviderDraft {
    pub provider: Option<ir::Provider>,
    pub baremetal_hosts: Option<(String, Span)>,
}

/// A field that names a device profile: the profile and where it is named.
pub(super) struct ProfileRef {
    pub profile: ir::DeviceProfile,
    pub span: Span,
}

impl<'a> Analyzer<'a> {
    pub(super) fn solution_block(&mut self, b: &'a ast::Block) -> Option<SolutionHeader> {
        let shape = &schema::SOLUTION;
        let view = self.view(&b.body, shape, "`solution`", b.name.span, None);
        self.require(&view, shape, "the solution");
        self.check_name(&b.name.name, b.name.span, "solution");
        let version = self.get_str(&view, shape, "version").map(|(s, span)| {
            if let Err(m) = v::check_label_value(&s) {
                self.diags.push(
                    Diagnostic::new(Code::E0207, span, m)
                        .label("invalid label value")
                        .help("the version becomes the `app.kubernetes.io/version` label: use letters, digits, `-`, `_` and `.`, at most 63 characters, like `1.0.0`"),
                );
            }
            s
        });
        let namespace = self
            .get_str(&view, shape, "namespace")
            .map(|(s, _)| s)
            .unwrap_or_else(|| v::k8s_name(&b.name.name));
        let description = self.get_str(&view, shape, "description").map(|(s, _)| s);
        let labels = self.map_block(&view, "labels", true);
        let registries = self.registries(&view, shape);
        // The operators' networks: canonical IPv4 ranges, as ufw and
        // security groups take them (E0213).
        let mut admin_networks: Vec<String> = Vec::new();
        for (cidr, span) in self.get_list(&view, shape, "admin") {
            match v::check_cidr(&cidr) {
                Ok(()) if !admin_networks.contains(&cidr) => admin_networks.push(cidr),
                Ok(()) => {}
                Err(m) => self.diags.push(
                    Diagnostic::new(Code::E0213, span, m)
                        .label("invalid `admin` network")
                        .help("write each network the operators connect from as an IPv4 range, e.g. `10.0.0.0/24` (`/32` for one address)"),
                ),
            }
        }
        Some(SolutionHeader {
            name: b.name.name.clone(),
            version: version?,
            namespace,
            description,
            labels,
            registries,
            admin_networks,
        })
    }

    /// The solution's `registry` blocks: a host (E0214), a user name and
    /// one `password` reference the controller can read (E0503); one
    /// registry per host (E0102).
    pub(super) fn registries(&mut self, view: &BodyView<'a>, shape: &schema::Shape) -> Vec<ir::Registry> {
        let Some(Contents::Fields(rs)) = shape.block("registry").map(|s| s.contents) else {
            return Vec::new();
        };
        let mut out: Vec<ir::Registry> = Vec::new();
        let mut seen: Vec<(String, Span)> = Vec::new();
        for rb in view.blocks_named("registry").collect::<Vec<_>>() {
            let Some(rname) = &rb.name else { continue };
            self.check_name(&rname.name, rname.span, "registry");
            let rv = self.view(&rb.body, rs, "a registry", rname.span, None);
            self.require(&rv, rs, &format!("registry `{}`", rname.name));
            let host = self.get_str(&rv, rs, "host").and_then(|(h, span)| {
                if let Err(m) = crate::names::check_registry_host(&h) {
                    self.diags.push(
                        Diagnostic::new(Code::E0214, span, m)
                            .label("not a registry host")
                            .help("write the host as images name it, e.g. `ghcr.io` or `registry.example.com:5000`"),
                    );
                    return None;
                }
                if let Some((_, prev)) = seen.iter().find(|(p, _)| *p == h) {
                    self.diags.push(
                        Diagnostic::new(Code::E0102, span, format!("two registries for `{h}`"))
                            .label("second registry for this host")
                            .with_secondary(*prev, "first one here")
                            .help("a host has one pull credential: keep one `registry` block for it"),
                    );
                    return None;
                }
                seen.push((h.clone(), span));
                Some(h)
            });
            let username = self.get_str(&rv, rs, "username").map(|(u, _)| u);
            let mut password = None;
            for st in &rv.secrets {
                let Some(secret) = self.secret_ref(st) else { continue };
                let problem = if st.name.name != "password" {
                    Some((
                        st.name.span,
                        format!("a registry's secret is `password`, not `{}`", st.name.name),
                        "write `secret password from env \"VAR\"` or `from vault \"path#key\"`",
                    ))
                } else if secret.source == ir::SecretSource::File {
                    Some((
                        st.name.span,
                        "a registry's password cannot come `from file`".to_string(),
                        "every target's credential is written from the Ansible controller: use `from env` or `from vault`",
                    ))
                } else if password.is_some() {
                    Some((
                        st.name.span,
                        "a registry has one `password`".to_string(),
                        "remove the second one",
                    ))
                } else {
                    None
                };
                match problem {
                    Some((span, m, help)) => self.diags.push(
                        Diagnostic::new(Code::E0503, span, m)
                            .label("invalid registry credential")
                            .help(help),
                    ),
                    None => password = Some(secret),
                }
            }
            if password.is_none() && !rv.secrets.iter().any(|s| s.name.name == "password") {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0503,
                        rname.span,
                        format!("registry `{}` has no pull credential", rname.name),
                    )
                    .label("no `secret password`")
                    .help("add `secret password from env \"VAR\"` or `from vault \"path#key\"`: a reference, never the value"),
                );
            }
            if let (Some(host), Some(username), Some(password)) = (host, username, password) {
                out.push(ir::Registry {
                    name: v::k8s_name(&rname.name),
                    pull_secret: format!("{}-registry", v::k8s_name(&rname.name)),
                    host,
                    username,
                    password,
                });
            }
        }
        out
    }

    pub(super) fn device_item(
        &mut self,
        id: ItemId,
        cache: &mut HashMap<ItemId, Option<ir::DeviceProfile>>,
    ) -> Option<ir::DeviceProfile> {
        if let Some(c) = cache.get(&id) {
            return c.clone();
        }
        cache.insert(id, None);
        let b = self.block(id)?;
        let shape = &schema::DEVICE;
        let view = self.view(&b.body, shape, "a device profile", b.name.span, None);
        self.require(&view, shape, &format!("device `{}`", b.name.name));
        let arch = self.get_str(&view, shape, "arch").map(|(s, _)| s);
        let cpu = view.attr("cpu").and_then(|a| self.scalar(&a.value, &schema::Ty::Cpu));
        let memory = self.get_memory(&view, shape, "memory");
        let gpu = self.get_u32_or_default(&view, shape, "gpu");
        let accelerator = self.get_str(&view, shape, "accelerator").map(|(s, _)| s);
        let storage = view
            .attr("storage")
            .and_then(|a| match self.scalar(&a.value, &schema::Ty::Memory) {
                Some(Scalar::Memory(m)) => Some(m),
                _ => None,
            });
        let power = self
            .get_str(&view, shape, "power")
            .map(|(s, _)| s)
            .unwrap_or_else(|| "mains".into());
        let instance_type = self.get_str(&view, shape, "instance_type").map(|(s, _)| s);
        self.get_str(&view, shape, "description");
        let (mut rcpu, mut rmem) = (0, 0);
        if let Some(r) = view.block("reserve") {
            if let Contents::Fields(rs) = shape
                .block("reserve")
                .map(|s| s.contents)
                .unwrap_or(Contents::StringMap)
            {
                let rv = self.view(&r.body, rs, "`reserve`", r.kind.span, None);
                rcpu = self.get_cpu(&rv, rs, "cpu");
                rmem = self.get_memory(&rv, rs, "memory").unwrap_or(0);
            }
        }
        let price = self.price_block(&view, shape);
        let profile = match (arch, cpu, memory) {
            (Some(arch), Some(Scalar::Cpu(cpu)), Some(memory)) => Some(ir::DeviceProfile {
                name: self.qualified_name(id),
                arch,
                cpu_millis: cpu,
                memory_bytes: memory,
                gpu,
                accelerator,
                storage_bytes: storage,
                power,
                instance_type,
                reserve_cpu_millis: rcpu,
                reserve_memory_bytes: rmem,
                price,
            }),
            _ => None,
        };
        cache.insert(id, profile.clone());
        profile
    }

    /// The `price { }` block of a device profile, cluster or pool.
    pub(super) fn price_block(&mut self, view: &BodyView<'a>, shape: &schema::Shape) -> Option<ir::Price> {
        let block = view.block("price")?;
        let Some(Contents::Fields(ps)) = shape.block("price").map(|s| s.contents) else {
            return None;
        };
        let pv = self.view(&block.body, ps, "`price`", block.kind.span, None);
        self.require(&pv, ps, "`price`");
        let hourly = match pv
            .attr("hourly")
            .map(|a| (self.scalar(&a.value, &schema::Ty::Number), a.value.span))
        {
            Some((Some(Scalar::Number(n)), span)) => {
                let price = ir::Price {
                    hourly: n,
                    currency: String::new(),
                    as_of: String::new(),
                    source: None,
                };
                if price.hourly_micros().is_none() {
                    self.diags.push(
                        Diagnostic::new(Code::E0202, span, format!("`{}` is not a price", price.hourly))
                            .label("not a price per hour")
                            .help("write a number of zero or more with at most six decimals, such as `0.192`"),
                    );
                    return None;
                }
                price.hourly
            }
            _ => return None,
        };
        let currency = self
            .get_str(&pv, ps, "currency")
            .map(|(s, _)| s)
            .unwrap_or_else(|| "USD".into());
        let (as_of, as_of_span) = self.get_str(&pv, ps, "as_of")?;
        if !is_date(&as_of) {
            self.diags.push(
                Diagnostic::new(Code::E0202, as_of_span, format!("`{as_of}` is not a date"))
                    .label("expected `YYYY-MM-DD`")
                    .help("write the day the price was read, such as `\"2026-11-01\"`"),
            );
            return None;
        }
        let source = self.get_str(&pv, ps, "source").map(|(s, _)| s);
        Some(ir::Price {
            hourly,
            currency,
            as_of,
            source,
        })
    }

    pub(super) fn runtime_item(
        &mut self,
        id: ItemId,
        cache: &mut HashMap<ItemId, Option<ir::Runtime>>,
    ) -> Option<ir::Runtime> {
        if let Some(c) = cache.get(&id) {
            return c.clone();
        }
        cache.insert(id, None);
        let b = self.block(id)?;
        let shape = &schema::RUNTIME;
        let view = self.view(&b.body, shape, "a runtime", b.name.span, None);
        self.require(&view, shape, &format!("runtime `{}`", b.name.name));
        let kind = self.get_str(&view, shape, "kind").map(|(s, _)| s);
        let rt = kind.map(|kind| ir::Runtime {
            name: b.name.name.clone(),
            kind,
            standby: self.get_bool(&view, shape, "standby"),
            schedules: self.get_bool(&view, shape, "schedules"),
            autoscale: self.get_bool(&view, shape, "autoscale"),
            daemons: self.get_bool(&view, shape, "daemons"),
            version: self.get_str(&view, shape, "version").map(|(s, _)| s),
        });
        self.get_str(&view, shape, "description");
        cache.insert(id, rt.clone());
        rt
    }

    pub(super) fn serving_item(
        &mut self,
        id: ItemId,
        cache: &mut HashMap<ItemId, Option<ServingInfo>>,
    ) -> Option<ServingInfo> {
        if let Some(c) = cache.get(&id) {
            return c.clone();
        }
        cache.insert(id, None);
        let b = self.block(id)?;
        let shape = &schema::SERVING;
        let view = self.view(&b.body, shape, "a serving runtime", b.name.span, None);
        self.require(&view, shape, &format!("serving runtime `{}`", b.name.name));
        let image = self.get_str(&view, shape, "image").map(|(s, _)| s);
        let formats = self
            .get_list(&view, shape, "formats")
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let port = self.get_int(&view, shape, "port").map(|(p, _)| p);
        let health = self.get_str(&view, shape, "health").map(|(s, _)| s);
        let metrics = self.get_str(&view, shape, "metrics").map(|(s, _)| s);
        let metrics_port = self
            .get_int(&view, shape, "metrics_port")
            .and_then(|(p, _)| u16::try_from(p).ok());
        let arch = self
            .get_list(&view, shape, "arch")
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let args = self
            .get_list(&view, shape, "args")
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        self.get_str(&view, shape, "description");
        let mut provides = std::collections::BTreeMap::new();
        for pb in view.blocks_named("provides").collect::<Vec<_>>() {
            // A key that is no metric name is never named by an alert.
            for (k, (val, _)) in self.string_map(pb, MapKeys::Env, None) {
                provides.insert(k, val);
            }
            if metrics.is_none() {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0106,
                        pb.kind.span,
                        format!(
                            "serving runtime `{}` provides metrics but has no `metrics` path",
                            b.name.name
                        ),
                    )
                    .label("nothing scrapes these series")
                    .help("add `metrics = \"/metrics\"` (the path the image serves its Prometheus metrics on)"),
                );
            }
        }
        let mut files = std::collections::BTreeMap::new();
        for fb in view.blocks_named("files").collect::<Vec<_>>() {
            files.extend(
                self.string_map(fb, MapKeys::Files, None)
                    .into_iter()
                    .map(|(path, (content, _))| (path, content)),
            );
        }
        let info = match (image, port) {
            (Some(image), Some(port)) => Some(ServingInfo {
                name: self.qualified_name(id),
                image,
                formats,
                port: u16::try_from(port).unwrap_or(0),
                health,
                metrics,
                metrics_port,
                arch,
                args,
                provides,
                files,
            }),
            _ => None,
        };
        cache.insert(id, info.clone());
        info
    }

    pub(super) fn profile_ref(
        &mut self,
        view: &BodyView<'a>,
        field: &str,
        file: FileId,
        cache: &mut HashMap<ItemId, Option<ir::DeviceProfile>>,
    ) -> Option<ProfileRef> {
        let a = view.attr(field)?;
        let ExprKind::Path(p) = &a.value.kind else {
            let found = self.describe_expr(&a.value);
            self.type_error(
                a.value.span,
                "a device profile",
                &found,
                "name a device profile, e.g. `std.devices.rpi5`",
            );
            return None;
        };
        let id = self.resolve_kind(p, file, &[BlockKind::Device], "a device profile")?;
        Some(ProfileRef {
            profile: self.device_item(id, cache)?,
            span: a.value.span,
        })
    }

    pub(super) fn cluster(&mut self, b: &'a ast::Block, file: FileId, profiles: &mut Profiles) -> Option<ClusterDraft> {
        self.header_only(b, "a cluster");
        let shape = &schema::CLUSTER;
        let what = format!("cluster `{}`", b.name.name);
        let view = self.view(&b.body, shape, "a cluster", b.name.span, None);
        self.require(&view, shape, &what);
        self.check_name(&b.name.name, b.name.span, "cluster");
        let ProviderDraft {
            provider,
            baremetal_hosts: baremetal_pattern,
        } = view
            .attr("provider")
            .map(|a| self.provider(&a.value))
            .unwrap_or_default();
        let distribution = self
            .get_str(&view, shape, "distribution")
            .map(|(s, _)| s)
            .unwrap_or_else(|| "k3s".into());
        let version = self.get_str(&view, shape, "version").map(|(s, _)| s);
        let domain = self.domain(&view, shape);
        let vip = self.get_str(&view, shape, "vip").and_then(|(a, span)| {
            if a.parse::<std::net::Ipv4Addr>().is_ok() {
                return Some((a, span));
            }
            self.diags.push(
                Diagnostic::new(Code::E0213, span, format!("`{a}` is not an IPv4 address"))
                    .label("not an address")
                    .help("write a free address in the control-plane nodes' network, e.g. \"10.20.0.10\""),
            );
            None
        });
        let labels = self.map_block(&view, "labels", true);
        let node = self
            .profile_ref(&view, "node", file, &mut profiles.devices)
            .map(|r| r.profile);
        let node = with_price(node, self.price_block(&view, shape));
        let mut pools = vec![PoolDraft {
            name: "default".into(),
            span: b.name.span,
            node,
            nodes: view.attr("nodes").map(|a| a.value.clone()),
            labels: labels.clone(),
        }];
        for pb in view.blocks_named("pool").collect::<Vec<_>>() {
            let Some(pname) = &pb.name else { continue };
            if pname.name == "default" {
                self.diags.push(
                    Diagnostic::new(Code::E0102, pname.span, "`default` is the cluster's own pool")
                        .label("reserved pool name")
                        .help("pick another name; the cluster's `node` and `nodes` describe the default pool"),
                );
                continue;
            }
            self.check_name(&pname.name, pname.span, "pool");
            let Some(Contents::Fields(ps)) = shape.block("pool").map(|s| s.contents) else {
                continue;
            };
            let pv = self.view(&pb.body, ps, "a pool", pname.span, None);
            self.require(&pv, ps, &format!("pool `{}`", pname.name));
            let node = self
                .profile_ref(&pv, "node", file, &mut profiles.devices)
                .map(|r| r.profile);
            let node = with_price(node, self.price_block(&pv, ps));
            let mut plabels = labels.clone();
            plabels.extend(self.map_block(&pv, "labels", true));
            pools.push(PoolDraft {
                name: pname.name.clone(),
                span: pname.span,
                node,
                nodes: pv.attr("nodes").map(|a| a.value.clone()),
                labels: plabels,
            });
        }
        Some(ClusterDraft {
            name: b.name.clone(),
            file,
            provider,
            baremetal_pattern,
            distribution,
            version,
            domain,
            vip,
            labels,
            pools,
        })
    }

    /// `external NAME { host cidr port protocol scheme }`: a dependency
    /// outside the solution, with the addresses policies must allow.
    pub(super) fn external(&mut self, b: &'a ast::Block, item: &'a ast::Item) -> Option<ir::External> {
        let shape = &schema::EXTERNAL;
        let what = format!("external `{}`", b.name.name);
        let view = self.view(&b.body, shape, "an external dependency", b.name.span, None);
        self.require(&view, shape, &what);
        self.check_name(&b.name.name, b.name.span, "external");
        let mut ok = true;
        let mut checked = |this: &mut Self, field: &str, check: fn(&str) -> Result<(), String>, help: &str| {
            let (s, span) = this.get_str(&view, shape, field)?;
            if let Err(m) = check(&s) {
                this.diags.push(
                    Diagnostic::new(Code::E0213, span, m)
                        .label(format!("invalid `{field}`"))
                        .help(help.to_string()),
                );
                ok = false;
            }
            Some(s)
        };
        let host = checked(
            self,
            "host",
            v::check_host,
            "write a DNS name (`plc.line.local`) or an IPv4 address (`10.20.0.15`)",
        );
        let cidr = checked(
            self,
            "cidr",
            v::check_cidr,
            "write an IPv4 range in canonical form: `10.20.0.0/24`, or `10.20.0.15/32` for one address",
        );
        let scheme = checked(
            self,
            "scheme",
            v::check_scheme,
            "write the scheme without `://`, such as `opc.tcp`, `postgres` or `https`",
        );
        let port = self
            .get_int(&view, shape, "port")
            .and_then(|(p, _)| u16::try_from(p).ok());
        let protocol = self
            .get_str(&view, shape, "protocol")
            .map(|(s, _)| s)
            .unwrap_or_else(|| "tcp".into());
        let description = self.get_str(&view, shape, "description").map(|(s, _)| s);
        let bucket = checked(
            self,
            "bucket",
            v::check_bucket,
            "write the bucket's name only, such as `acme-raw-telemetry` (no `s3://`, no key)",
        );
        let writes = self.get_bool(&view, shape, "writes");
        if let (None, true, Some(a)) = (&bucket, writes, view.attr("writes")) {
            self.diags.push(
                Diagnostic::new(Code::E0213, a.key.span, "`writes` needs a `bucket`")
                    .label("write access to nothing")
                    .help("add `bucket = \"…\"`, or remove `writes`"),
            );
            ok = false;
        }
        let (Some(host), Some(cidr), Some(port), true) = (host, cidr, port, ok) else {
            return None;
        };
        Some(ir::External {
            name: v::k8s_name(&b.name.name),
            docs: item.docs.clone(),
            description,
            endpoint: ir::Endpoint {
                scheme: scheme.unwrap_or_else(|| protocol.clone()),
                host,
                port,
            },
            cidr,
            protocol,
            bucket: bucket.map(|name| ir::Bucket { name, writes }),
        })
    }

    pub(super) fn provider(&mut self, e: &'a Expr) -> ProviderDraft {
        let ExprKind::Object { path, body } = &e.kind else {
            let found = self.describe_expr(e);
            self.type_error(
                e.span,
                "a provider",
                &found,
                "write `aws { region = \"eu-west-1\" }`, `vsphere { … }` or `baremetal { hosts = \"…\" }`",
            );
            return ProviderDraft::default();
        };
        let name = path.text();
        let Some((_, shape, _)) = schema::PROVIDERS.iter().find(|(n, _, _)| *n == name) else {
            let names: Vec<&str> = schema::PROVIDERS.iter().map(|(n, _, _)| *n).collect();
            let mut d = Diagnostic::new(Code::E0209, path.span, format!("`{name}` is not a provider"))
                .label("unknown provider");
            d = match crate::diag::suggest(&name, names.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(format!("providers are {}", names.join(", "))),
            };
            self.diags.push(d);
            return ProviderDraft::default();
        };
        let view = self.view(body, shape, &format!("`{name}`"), path.span, None);
        self.require(&view, shape, &format!("provider `{name}`"));
        let s = |a: &mut Self, f: &str| a.get_str(&view, shape, f).map(|(s, _)| s);
        match name.as_str() {
            "aws" => {
                let region = s(self, "region");
                let vpc_cidr = s(self, "vpc_cidr").unwrap_or_else(|| "10.0.0.0/16".into());
                let zones = self.get_u32_or_default(&view, shape, "zones");
                ProviderDraft {
                    provider: region.map(|region| ir::Provider::Aws {
                        region,
                        vpc_cidr,
                        zones,
                    }),
                    baremetal_hosts: None,
                }
            }
            "vsphere" => {
                let p = (
                    s(self, "datacenter"),
                    s(self, "cluster"),
                    s(self, "datastore"),
                    s(self, "network"),
                    s(self, "template"),
                );
                let folder = s(self, "folder");
                match p {
                    (Some(datacenter), Some(cluster), Some(datastore), Some(network), Some(template)) => {
                        ProviderDraft {
                            provider: Some(ir::Provider::Vsphere {
                                datacenter,
                                cluster,
                                datastore,
                                network,
                                template,
                                folder,
                            }),
                            baremetal_hosts: None,
                        }
                    }
                    _ => ProviderDraft::default(),
                }
            }
            _ => {
                let hosts = self.get_str(&view, shape, "hosts");
                ProviderDraft {
                    provider: Some(ir::Provider::Baremetal { hosts: Vec::new() }),
                    baremetal_hosts: hosts,
                }
            }
        }
    }

    pub(super) fn fleet(&mut self, b: &'a ast::Block, file: FileId, profiles: &mut Profiles) -> Option<FleetDraft> {
        self.header_only(b, "a fleet");
        let shape = &schema::FLEET;
        let view = self.view(&b.body, shape, "a fleet", b.name.span, None);
        self.require(&view, shape, &format!("fleet `{}`", b.name.name));
        self.check_name(&b.name.name, b.name.span, "fleet");
        let device = self.profile_ref(&view, "device", file, &mut profiles.devices);
        let mut runtime = None;
        let mut runtime_span = b.name.span;
        if let Some(a) = view.attr("runtime") {
            runtime_span = a.value.span;
            match &a.value.kind {
                ExprKind::Path(p) => {
                    if let Some(id) = self.resolve_kind(p, file, &[BlockKind::Runtime], "a runtime") {
                        runtime = self.runtime_item(id, &mut profiles.runtimes);
                    }
                }
                _ => {
                    let found = self.describe_expr(&a.value);
                    self.type_error(a.value.span, "a runtime", &found, "write `k3s`, `microk8s` or `docker`");
                }
            }
        }
        let server = self.get_str(&view, shape, "server");
        let labels = self.map_block(&view, "labels", true);
        let mut sites = Vec::new();
        for sb in view.blocks_named("site").collect::<Vec<_>>() {
            let Some(sname) = &sb.name else { continue };
            self.check_name(&sname.name, sname.span, "site");
            let Some(Contents::Fields(ss)) = shape.block("site").map(|s| s.contents) else {
                continue;
            };
            let sv = self.view(&sb.body, ss, "a site", sname.span, None);
            self.require(&sv, ss, &format!("site `{}`", sname.name));
            let hosts = self.get_str(&sv, ss, "hosts");
            let standby = self.get_u32_or_default(&sv, ss, "standby");
            let region = self.get_str(&sv, ss, "region").map(|(s, _)| s);
            let hub = self.get_str(&sv, ss, "hub");
            let offline = self
                .get_bool(&sv, ss, "offline")
                .then(|| sv.attr("offline").map_or(sname.span, |a| a.value.span));
            let mirror = self.get_str(&sv, ss, "mirror").and_then(|(m, span)| {
                if let Err(e) = crate::names::check_registry_host(&m) {
                    self.diags.push(
                        Diagnostic::new(Code::E0214, span, e)
                            .label("not a registry host")
                            .help("write the mirror's host as images would name it, e.g. `registry.plant-c.lan:5000`"),
                    );
                    return None;
                }
                Some((m, span))
            });
            let mut slabels = labels.clone();
            slabels.extend(self.map_block(&sv, "labels", true));
            sites.push(SiteDraft {
                name: sname.clone(),
                gateways: sv.attr("gateways").map(|a| a.value.clone()),
                hosts,
                standby,
                labels: slabels,
                region,
                hub,
                offline,
                mirror,
            });
        }
        if sites.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    Code::E0106,
                    b.name.span,
                    format!("fleet `{}` has no sites", b.name.name),
                )
                .label("no `site` blocks")
                .help("add `site NAME { gateways = 2  hosts = \"gw{n}.example.internal\" }`"),
            );
        }
        Some(FleetDraft {
            name: b.name.clone(),
            file,
            device: device.as_ref().map(|r| r.profile.clone()),
            device_span: device.map(|r| r.span).unwrap_or(b.name.span),
            runtime,
            runtime_span,
            server,
            labels,
            sites,
        })
    }

    /// A cluster's `domain`: lowercase DNS labels joined by dots.
    pub(super) fn domain(&mut self, view: &BodyView<'a>, shape: &Shape) -> Option<(String, Span)> {
        let (d, span) = self.get_str(view, shape, "domain")?;
        let bad = if d.len() > 253 {
            Some("at most 253 characters".to_string())
        } else {
            d.split('.').find_map(|l| v::check_dns_label(l).err())
        };
        if let Some(m) = bad {
            self.diags.push(
                Diagnostic::new(Code::E0206, span, format!("`{d}` is not a DNS domain: {m}"))
                    .label("invalid domain")
                    .help("write lowercase labels joined by dots, e.g. \"apps.acme.example\""),
            );
            return None;
        }
        Some((d, span))
    }
}

/// A profile with a cluster's or pool's own price in place of its own.
fn with_price(node: Option<ir::DeviceProfile>, price: Option<ir::Price>) -> Option<ir::DeviceProfile> {
    match price {
        Some(p) => node.map(|n| ir::DeviceProfile { price: Some(p), ..n }),
        None => node,
    }
}

/// `YYYY-MM-DD` with a month 01–12 and a day 01–31.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u32>().ok()).unwrap_or(0);
    b.len() == 10
        && digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && (1..=12).contains(&num(5..7))
        && (1..=31).contains(&num(8..10))
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{analyzer, block, program, reported};
    use super::is_date;
    use crate::diag::Code;
    use crate::ir;
    use crate::schema::{CLUSTER, SOLUTION};

    #[test]
    fn dates_are_yyyy_mm_dd_with_a_real_month_and_day() {
        for ok in ["2024-01-01", "2025-12-31", "1999-02-28"] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "",
            "2024-1-01",
            "2024-01-1",
            "2024/01/01",
            "2024-00-10",
            "2024-13-01",
            "2024-01-00",
            "2024-01-32",
            "2024-01-01T00",
            "24-01-01",
            "２０２４-01-01",
            "2024-0a-01",
            "+024-01-01",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }

    /// The `domain` of the cluster in `text`, and what was reported.
    fn domain(text: &str) -> (Option<String>, Vec<(Code, String, String)>) {
        let prog = program(text);
        let mut a = analyzer(&prog);
        let c = block(&prog, "c");
        let view = a.view(&c.body, &CLUSTER, "a cluster", c.name.span, None);
        let d = a.domain(&view, &CLUSTER).map(|(d, _)| d);
        (d, reported(&prog, &a.diags))
    }

    #[test]
    fn a_domain_is_lowercase_dns_labels() {
        assert_eq!(
            domain("cluster c { domain = \"apps.acme.example\" }"),
            (Some("apps.acme.example".to_string()), vec![])
        );
        assert_eq!(domain("cluster c { }"), (None, vec![]));
        let (d, diags) = domain("cluster c { domain = \"Apps.example\" }");
        assert_eq!(d, None);
        assert_eq!(diags.len(), 1);
        let (code, message, at) = diags.first().cloned().unwrap_or_else(|| unreachable!());
        assert_eq!((code, at.as_str()), (Code::E0206, "\"Apps.example\""));
        assert!(message.starts_with("`Apps.example` is not a DNS domain: "), "{message}");
        // An empty label between two dots.
        let (d, diags) = domain("cluster c { domain = \"a..example\" }");
        assert_eq!((d, diags.len()), (None, 1));
        // 254 characters of valid labels: too long as a whole.
        let long = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61)].join(".");
        assert_eq!(long.len(), 253);
        assert_eq!(
            domain(&format!("cluster c {{ domain = \"{long}\" }}")).0,
            Some(long.clone())
        );
        let (d, diags) = domain(&format!("cluster c {{ domain = \"{long}x\" }}"));
        assert_eq!(d, None);
        assert_eq!(
            diags.first().map(|(_, m, _)| m.as_str()),
            Some(format!("`{long}x` is not a DNS domain: at most 253 characters").as_str())
        );
    }

    /// The registries of the solution in `text`, and what was reported.
    fn registries(text: &str) -> (Vec<ir::Registry>, Vec<(Code, String, String)>) {
        let prog = program(text);
        let mut a = analyzer(&prog);
        let s = block(&prog, "s");
        let view = a.view(&s.body, &SOLUTION, "`solution`", s.name.span, None);
        let out = a.registries(&view, &SOLUTION);
        (out, reported(&prog, &a.diags))
    }

    #[test]
    fn a_registry_is_named_for_kubernetes_and_keeps_its_reference() {
        let (out, diags) = registries(
            "solution s { version = \"1\"\n  registry my_ghcr { host = \"ghcr.io\"  username = \"bot\"  secret password from vault \"ci/ghcr#token\" }\n}",
        );
        assert_eq!(diags, vec![]);
        assert_eq!(out.len(), 1);
        let r = out.first().unwrap_or_else(|| unreachable!());
        assert_eq!(r.name, "my-ghcr");
        assert_eq!(r.pull_secret, "my-ghcr-registry");
        assert_eq!(r.host, "ghcr.io");
        assert_eq!(r.username, "bot");
        assert_eq!(r.password.source, ir::SecretSource::Vault);
        assert_eq!(r.password.reference, "ci/ghcr#token");
    }

    #[test]
    fn registry_hosts_and_credentials_are_checked() {
        let (out, diags) = registries(
            "solution s { version = \"1\"
  registry a { host = \"ghcr.io\"  username = \"u\"  secret password from env \"A\" }
  registry b { host = \"https://ghcr.io\"  username = \"u\"  secret password from env \"B\" }
  registry c { host = \"ghcr.io\"  username = \"u\"  secret password from env \"C\" }
  registry d { host = \"d.example:5000\"  username = \"u\"  secret password from file \"/run/pw\" }
  registry e { host = \"e.example\"  username = \"u\" }
}",
        );
        assert_eq!(out.iter().map(|r| r.host.as_str()).collect::<Vec<_>>(), ["ghcr.io"]);
        let codes: Vec<_> = diags.iter().map(|(c, _, at)| (*c, at.as_str())).collect();
        assert_eq!(
            codes,
            [
                (Code::E0214, "\"https://ghcr.io\""),
                (Code::E0102, "\"ghcr.io\""),
                (Code::E0503, "password"),
                (Code::E0503, "e"),
            ]
        );
        assert_eq!(
            diags.get(1).map(|(_, m, _)| m.as_str()),
            Some("two registries for `ghcr.io`")
        );
        assert_eq!(
            diags.get(2).map(|(_, m, _)| m.as_str()),
            Some("a registry's password cannot come `from file`")
        );
        assert_eq!(
            diags.get(3).map(|(_, m, _)| m.as_str()),
            Some("registry `e` has no pull credential")
        );
    }
}
