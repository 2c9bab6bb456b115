//! Models: the model's files and where they are kept, its training job,
//! its servers (one per `serve` block, each on a serving runtime) and the
//! alerts that watch them.

use super::super::body::Scalar;
use super::super::values as v;
use super::super::{Analyzer, ItemId};
use super::container::ContainerDraft;
use super::infra::ServingInfo;
use super::{Drafts, Target, WorkloadDraft};
use crate::diag::{Code, Diagnostic};
use crate::ir;
use crate::schema::{self, Contents};
use crate::syntax::ast::{self, BlockKind, ExprKind, NestedBlock};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;

impl<'a> Analyzer<'a> {
    pub(super) fn model(
        &mut self,
        b: &'a ast::Block,
        id: ItemId,
        item: &'a ast::Item,
        d: &mut Drafts,
        servings: &mut HashMap<ItemId, Option<ServingInfo>>,
    ) {
        self.header_only(b, "a model");
        let file = id.0;
        let shape = &schema::MODEL;
        let view = self.view(&b.body, shape, "a model", b.name.span, None);
        self.require(&view, shape, &format!("model `{}`", b.name.name));
        self.check_name(&b.name.name, b.name.span, "model");
        let format = self.get_str(&view, shape, "format").map(|(s, _)| s);
        let format_span = view.attr("format").map(|a| a.value.span);
        let version = self
            .get_str(&view, shape, "version")
            .map(|(s, span)| {
                if !crate::names::is_path_component(&s) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0212,
                            span,
                            format!("model version `{s}` cannot be a folder name"),
                        )
                        .label("unsafe file name")
                        .help("the version names the model's folder on every device: use ASCII letters, digits, `.`, `_` and `-`, not starting with `.` or `-`, like `3` or `2024.06.1`"),
                    );
                }
                s
            })
            .unwrap_or_default();
        let artifact = self
            .get_str(&view, shape, "artifact")
            .map(|(s, _)| s)
            .unwrap_or_default();
        let checksum = self.get_str(&view, shape, "checksum").map(|(s, _)| s);
        let rollout = self.rollout(&view, shape);
        let mut model = ir::Model {
            name: b.name.name.clone(),
            format: format.clone().unwrap_or_default(),
            version: version.clone(),
            artifact: artifact.clone(),
            checksum: checksum.clone(),
            train: None,
            serve: Vec::new(),
            alerts: Vec::new(),
            monitored: false,
            monitor_interval_secs: 30,
            metrics_from: Vec::new(),
        };
        let model_dir = format!("/models/{}", b.name.name);
        let model_path = format!(
            "{model_dir}/{version}/{}",
            ir::model_file(format.as_deref().unwrap_or_default())
        );
        // The training job's name prefixes its runs' Job names.
        let train_job = v::k8s_name(&format!("{}_train", b.name.name));
        let mref = |serving: Option<String>| ir::ModelRef {
            model: b.name.name.clone(),
            format: format.clone().unwrap_or_default(),
            version: version.clone(),
            artifact: artifact.clone(),
            checksum: checksum.clone(),
            serving,
            data: None,
            dir: model_dir.clone(),
            path: model_path.clone(),
            store: ir::model_store(&artifact, &version, &train_job),
            train_output: format!(
                "{}{}/{}",
                ir::model_store(&artifact, &version, &train_job),
                ir::RUN_PLACEHOLDER,
                ir::model_file(format.as_deref().unwrap_or_default())
            ),
            cache_key: ir::model_cache_key(&version, checksum.as_deref()),
            host_dir: format!(
                "{}/{}/{}",
                ir::MODEL_CACHE_ROOT,
                b.name.name,
                ir::model_cache_key(&version, checksum.as_deref())
            ),
        };
        let mut made = Vec::new();
        if let Some(tb) = view.block("train") {
            if let (Some(Contents::Fields(ts)), Some(on)) = (shape.block("train").map(|s| s.contents), &tb.on) {
                let tv = self.view(&tb.body, ts, "`train`", tb.kind.span, None);
                self.require(&tv, ts, "`train`");
                let target = self.target(on, file, d);
                if let Some(Target::Fleet(_)) = target {
                    self.diags.push(
                        Diagnostic::new(Code::E0108, on.span, "models are trained on a cluster, not on a fleet")
                            .label("a fleet")
                            .help("train on the cloud/data-centre cluster and serve on the fleet"),
                    );
                }
                let ContainerDraft {
                    container,
                    spans,
                    env_refs,
                } = self.container(&tv, ts);
                let name = format!("{}_train", b.name.name);
                model.train = Some(v::k8s_name(&name));
                made.push(WorkloadDraft {
                    name,
                    name_span: tb.kind.span,
                    kind: ir::WorkloadKind::Train,
                    docs: item.docs.clone(),
                    target,
                    on_span: on.span,
                    selectors: Vec::new(),
                    container: container.into(),
                    cpu_span: spans.cpu,
                    memory_span: spans.memory,
                    gpu_span: spans.gpu,
                    arch_span: spans.arch,
                    replicas: None,
                    file,
                    schedule: self.get_str(&tv, ts, "schedule").map(|(s, _)| s),
                    backoff: self.get_u32_or_default(&tv, ts, "backoff"),
                    deadline_secs: self.get_duration(&tv, ts, "deadline").unwrap_or(6 * 3600),
                    critical: None,
                    public: false,
                    talks_to: Vec::new(),
                    env_refs,
                    autoscale: None,
                    rollout: rollout.clone(),
                    labels: BTreeMap::new(),
                    model: Some(ir::ModelRef {
                        data: self.get_str(&tv, ts, "data").map(|(s, _)| s),
                        ..mref(None)
                    }),
                    template: None,
                    privileged_span: spans.privileged,
                });
            }
        }
        let serve_blocks: Vec<&NestedBlock> = view.blocks_named("serve").collect();
        let many = serve_blocks.len() > 1;
        // Each server's runtime and what it `provides` (none when the
        // runtime did not resolve, already an error).
        let mut server_runtimes: Vec<(String, Option<ServingInfo>)> = Vec::new();
        for sb in serve_blocks {
            let (Some(Contents::Fields(ss)), Some(on)) = (shape.block("serve").map(|s| s.contents), &sb.on) else {
                continue;
            };
            let sv = self.view(&sb.body, ss, "`serve`", sb.kind.span, None);
            self.require(&sv, ss, "`serve`");
            let target = self.target(on, file, d);
            let mut serving = None;
            if let Some(a) = sv.attr("runtime") {
                match &a.value.kind {
                    ExprKind::Path(p) => {
                        if let Some(sid) = self.resolve_kind(p, file, &[BlockKind::Serving], "a serving runtime") {
                            serving = self.serving_item(sid, servings).map(|s| (s, a.value.span, sid));
                        }
                    }
                    _ => {
                        let found = self.describe_expr(&a.value);
                        self.type_error(
                            a.value.span,
                            "a serving runtime",
                            &found,
                            "name one, e.g. `std.ml.onnxruntime`",
                        );
                    }
                }
            }
            let ContainerDraft {
                mut container,
                spans,
                env_refs,
            } = self.container(&sv, ss);
            let mut arch_span = None;
            if let Some((s, span, sid)) = &serving {
                if let (Some(f), Some(fspan)) = (&format, format_span) {
                    if !s.formats.contains(f) {
                        let mut dg =
                            Diagnostic::new(Code::E0405, *span, format!("`{}` cannot serve {f} models", s.name))
                                .label(format!("serves {}", s.formats.join(", ")))
                                .with_secondary(fspan, format!("the model is {f}"));
                        if let Some(ns) = self.name_span(*sid) {
                            dg = dg.with_secondary(ns, "serving runtime declared here");
                        }
                        let help = match f.as_str() {
                            "onnx" => "use `std.ml.onnxruntime` or `std.ml.triton`, or convert the model",
                            "tflite" => "use `std.ml.tflite`, or convert the model",
                            _ => "pick a serving runtime that lists this format, or convert the model",
                        };
                        self.diags.push(dg.help(help));
                    }
                }
                container.image = s.image.clone();
                container.port = container.port.or(Some(s.port));
                // Every serving runtime answers over HTTP on its port.
                container.scheme = "http".into();
                // The runtime's placeholders: `{model}` the served file,
                // `{model_dir}` its per-model folder, `{model_name}` the name.
                let fill = |a: &str| {
                    a.replace("{model_dir}", &model_dir)
                        .replace("{model_name}", &b.name.name)
                        .replace("{model}", &model_path)
                };
                container.health = s.health.as_deref().map(fill);
                container.metrics = s.metrics.clone();
                container.metrics_port = s.metrics_port.filter(|p| Some(*p) != container.port);
                container.arch = s.arch.clone();
                arch_span = Some(*span);
                container.args = s.args.iter().map(|a| fill(a)).collect();
                container.files = s.files.clone();
            }
            let name = if many {
                format!("{}_serve_{}", b.name.name, on.text().replace('.', "_"))
            } else {
                format!("{}_serve", b.name.name)
            };
            model.serve.push(v::k8s_name(&name));
            server_runtimes.push((v::k8s_name(&name), serving.as_ref().map(|(s, _, _)| s.clone())));
            made.push(WorkloadDraft {
                name,
                name_span: sb.kind.span,
                kind: ir::WorkloadKind::Serve,
                docs: item.docs.clone(),
                target,
                on_span: on.span,
                selectors: self.selectors(&sb.selectors),
                container: container.into(),
                cpu_span: spans.cpu,
                memory_span: spans.memory,
                gpu_span: spans.gpu,
                arch_span,
                replicas: sv.attr("replicas").map(|a| a.value.clone()),
                file,
                schedule: None,
                backoff: 0,
                deadline_secs: 0,
                critical: if self.get_bool(&sv, ss, "critical") {
                    sv.attr("critical").map(|a| a.value.span)
                } else {
                    None
                },
                public: false,
                talks_to: Vec::new(),
                env_refs,
                autoscale: None,
                rollout: rollout.clone(),
                labels: BTreeMap::new(),
                model: Some(mref(serving.as_ref().map(|(s, _, _)| s.name.clone()))),
                template: None,
                privileged_span: spans.privileged,
            });
        }
        if let Some(mb) = view.block("monitor") {
            if let Some(Contents::Fields(ms)) = shape.block("monitor").map(|s| s.contents) {
                let mv = self.view(&mb.body, ms, "`monitor`", mb.kind.span, None);
                model.monitored = true;
                d.monitor_spans.insert(b.name.name.clone(), mb.kind.span);
                model.monitor_interval_secs = self.get_duration(&mv, ms, "interval").unwrap_or(30);
                for (name, span) in self.get_list(&mv, ms, "metrics_from") {
                    model.metrics_from.push(v::k8s_name(&name));
                    d.metrics_from.push((b.name.name.clone(), name, span));
                }
                for a in &mv.alerts {
                    let threshold = match self.scalar(&a.threshold, &schema::Ty::Number) {
                        Some(Scalar::Number(n)) => n,
                        _ => continue,
                    };
                    let for_secs = match &a.duration {
                        Some(e) => match self.scalar(e, &schema::Ty::Duration) {
                            Some(Scalar::Duration(s)) => Some(s),
                            _ => continue,
                        },
                        None => None,
                    };
                    if let Err(m) = v::check_env_name(&a.metric.name) {
                        self.diags.push(
                            Diagnostic::new(Code::E0206, a.metric.span, m)
                                .label("not a metric name")
                                .help("metric names are letters, digits and `_`"),
                        );
                        continue;
                    }
                    let metric = &a.metric.name;
                    let mut provided_by = BTreeMap::new();
                    let mut lacking: Vec<&str> = Vec::new();
                    for (server, runtime) in &server_runtimes {
                        let Some(rt) = runtime else { continue };
                        match rt.provides.get(metric) {
                            Some(q) => {
                                provided_by.insert(server.clone(), q.replace("{model_name}", &b.name.name));
                            }
                            None if !lacking.contains(&rt.name.as_str()) => lacking.push(&rt.name),
                            None => {}
                        }
                    }
                    if !lacking.is_empty() && model.metrics_from.is_empty() {
                        let exported = lacking
                            .iter()
                            .map(|r| format!("`{r}`"))
                            .collect::<Vec<_>>()
                            .join(" and ");
                        let provided: Vec<String> = server_runtimes
                            .iter()
                            .filter_map(|(_, r)| r.as_ref())
                            .flat_map(|r| r.provides.keys().cloned())
                            .collect::<std::collections::BTreeSet<_>>()
                            .into_iter()
                            .collect();
                        let also = if provided.is_empty() {
                            String::new()
                        } else {
                            format!(", or alert on what the runtimes provide: {}", provided.join(", "))
                        };
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0408,
                                a.metric.span,
                                format!("nothing exports `{metric}` for model `{}`", b.name.name),
                            )
                            .label(format!("not provided by {exported}"))
                            .help(format!(
                                "name the workload that exports `{metric}` on its `metrics` path: `metrics_from = [<workload>]` in `monitor`{also}"
                            ))
                            .note("an alert on a series nobody exports never fires"),
                        );
                    }
                    model.alerts.push(ir::Alert {
                        metric: metric.clone(),
                        op: a.op.as_str().to_string(),
                        threshold,
                        for_secs,
                        from_exporters: !lacking.is_empty() && !model.metrics_from.is_empty(),
                        provided_by,
                    });
                }
                if model.serve.is_empty() && !mv.alerts.is_empty() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0110,
                            mb.kind.span,
                            "`monitor` watches the model's servers, but it is not served",
                        )
                        .label("nothing to monitor")
                        .help("add `serve on FLEET { runtime = … }`"),
                    );
                }
            }
        }
        let mut idxs = Vec::new();
        for w in made {
            idxs.push(d.workloads.len());
            d.workloads.push(std::sync::Arc::new(w));
        }
        d.workloads_of.insert(id, idxs);
        d.models.push(model);
    }
}
