//! Services, daemons and jobs (and templates of them): where they run,
//! their selectors, rollout and autoscaling, on top of their container.

use super::super::body::BodyView;
use super::super::values as v;
use super::super::{Analyzer, ItemId};
use super::container::ContainerDraft;
use super::{AutoscaleDraft, Drafts, Target, WorkloadDraft};
use crate::diag::{Code, Diagnostic};
use crate::ir;
use crate::schema::{self, Contents, Shape};
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, BlockKind, ExprKind};

impl<'a> Analyzer<'a> {
    pub(super) fn target(&mut self, on: &ast::Path, file: FileId, d: &Drafts) -> Option<Target> {
        let id = self.resolve_kind(on, file, &[BlockKind::Cluster, BlockKind::Fleet], "a cluster or fleet")?;
        if let Some(c) = d.cluster_of.get(&id) {
            return Some(Target::Cluster(*c));
        }
        d.fleet_of.get(&id).map(|f| Target::Fleet(*f))
    }

    pub(super) fn selectors(&mut self, sels: &[ast::Selector]) -> Vec<(ir::Selector, Span)> {
        let mut out = Vec::new();
        for s in sels {
            let value = match &s.value.kind {
                ExprKind::String(v) => v.clone(),
                ExprKind::Bool(b) => b.to_string(),
                ExprKind::Quantity { number, suffix } => format!("{number}{suffix}"),
                _ => continue,
            };
            if let Err(m) = v::check_label_key(&s.key.name) {
                self.diags.push(
                    Diagnostic::new(Code::E0207, s.key.span, m)
                        .label("invalid label key")
                        .help("label keys are `[prefix/]name`"),
                );
                continue;
            }
            if let Err(m) = v::check_label_value(&value) {
                self.diags.push(
                    Diagnostic::new(Code::E0207, s.value.span, m)
                        .label("invalid label value")
                        .help("use letters, digits, `-`, `_` and `.`"),
                );
                continue;
            }
            out.push((
                ir::Selector {
                    key: s.key.name.clone(),
                    value,
                    negated: s.negated,
                },
                s.span,
            ));
        }
        out
    }

    /// The `rollout` block; without one, replace one pod at a time with no
    /// loss of capacity.
    pub(super) fn rollout(&mut self, view: &BodyView<'a>, shape: &Shape) -> ir::Rollout {
        let Some(b) = view.block("rollout") else {
            return ir::Rollout {
                max_unavailable: 0,
                max_surge: 1,
            };
        };
        let Some(Contents::Fields(rs)) = shape.block("rollout").map(|s| s.contents) else {
            return ir::Rollout {
                max_unavailable: 0,
                max_surge: 1,
            };
        };
        let rv = self.view(&b.body, rs, "`rollout`", b.kind.span, None);
        let r = ir::Rollout {
            max_unavailable: self.get_u32_or_default(&rv, rs, "max_unavailable"),
            max_surge: self.get_u32_or_default(&rv, rs, "max_surge"),
        };
        if r.max_unavailable == 0 && r.max_surge == 0 {
            self.diags.push(
                Diagnostic::new(
                    Code::E0202,
                    b.kind.span,
                    "a rollout with `max_unavailable = 0` and `max_surge = 0` can never progress",
                )
                .label("no room to replace a pod")
                .help("allow `max_surge = 1` (or `max_unavailable = 1`)"),
            );
        }
        r
    }

    pub(super) fn workload(
        &mut self,
        b: &'a ast::Block,
        id: ItemId,
        item: &'a ast::Item,
        d: &Drafts,
    ) -> Option<WorkloadDraft> {
        let file = id.0;
        let shape = schema::shape(b.kind);
        let kind = match b.kind {
            BlockKind::Service => ir::WorkloadKind::Service,
            BlockKind::Daemon => ir::WorkloadKind::Daemon,
            _ => ir::WorkloadKind::Job,
        };
        let kw = b.kind.keyword();
        // Template base.
        let mut base = None;
        let mut template = None;
        if let Some(from) = &b.from {
            if let Some(tid) = self.resolve(from, file) {
                match self.block(tid) {
                    Some(tb) if tb.template.is_some() && tb.kind == b.kind => {
                        base = Some(&tb.body);
                        template = Some(self.qualified_name(tid));
                    }
                    Some(tb) => {
                        let found = if tb.template.is_some() {
                            format!("a {} template", tb.kind.keyword())
                        } else {
                            format!("{} `{}`", tb.kind.keyword(), tb.name.name)
                        };
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0108,
                                from.span,
                                format!("expected a {kw} template, found {found}"),
                            )
                            .label("not a matching template")
                            .with_secondary(tb.name.span, "declared here")
                            .help(format!("`from` names a `template {kw}`")),
                        );
                    }
                    None => {}
                }
            }
        }
        if let (Some(t), Some(on)) = (b.template, &b.on) {
            self.diags.push(
                Diagnostic::new(Code::E0110, on.span, "a template is not deployed, so it takes no `on`")
                    .label("placement on a template")
                    .with_secondary(t, "declared as a template here")
                    .help(format!(
                        "remove `template` to deploy it, or deploy it with `{kw} NAME on TARGET from {}`",
                        b.name.name
                    )),
            );
        }
        if let (Some(_), Some(from)) = (b.template, &b.from) {
            self.diags.push(
                Diagnostic::new(Code::E0110, from.span, "a template cannot itself use `from`")
                    .label("nested template")
                    .help("copy the fields you need into the template"),
            );
        }
        let what = format!("{kw} `{}`", b.name.name);
        let view = self.view(&b.body, shape, &format!("a {kw}"), b.name.span, base);
        self.require(&view, shape, &what);
        self.check_name(&b.name.name, b.name.span, kw);
        let mut target = None;
        if b.template.is_none() {
            match &b.on {
                Some(on) => target = self.target(on, file, d),
                None => self.diags.push(
                    Diagnostic::new(Code::E0106, b.name.span, format!("{what} has no placement"))
                        .label("where does it run?")
                        .help(format!(
                            "write `{kw} {} on CLUSTER_OR_FLEET {{ … }}`, or mark it `template`",
                            b.name.name
                        )),
                ),
            }
        }
        let selectors = self.selectors(&b.selectors);
        let ContainerDraft {
            container,
            spans,
            env_refs,
        } = self.container(&view, shape);
        let schedule = self.get_str(&view, shape, "schedule").map(|(s, _)| s);
        let critical = if self.get_bool(&view, shape, "critical") {
            view.attr("critical").map(|a| a.value.span)
        } else {
            None
        };
        let public = self.get_bool(&view, shape, "public");
        let talks_to = self.get_list(&view, shape, "talks_to");
        let rollout = self.rollout(&view, shape);
        let labels = self.map_block(&view, "labels", true);
        let mut autoscale = None;
        if let Some(ab) = view.block("autoscale") {
            if let Some(Contents::Fields(s)) = shape.block("autoscale").map(|s| s.contents) {
                let av = self.view(&ab.body, s, "`autoscale`", ab.kind.span, None);
                self.require(&av, s, "`autoscale`");
                let pct = self.get_u32_or_default(&av, s, "cpu_percent");
                if let Some(a) = av.attr("cpu_percent") {
                    if !(1..=100).contains(&pct) {
                        self.diags.push(
                            Diagnostic::new(Code::E0202, a.value.span, format!("{pct}% is outside 1–100"))
                                .label("not a percentage")
                                .help("use a target between 1 and 100"),
                        );
                    }
                }
                if let (Some(lo), Some(hi)) = (av.attr("min"), av.attr("max")) {
                    autoscale = Some(AutoscaleDraft {
                        min: lo.value.clone(),
                        max: hi.value.clone(),
                        cpu_percent: pct,
                        span: ab.kind.span,
                    });
                }
                if let Some(r) = view.attr("replicas") {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0110,
                            r.key.span,
                            "`replicas` and `autoscale` both set the replica count",
                        )
                        .label("fixed count")
                        .with_secondary(ab.kind.span, "autoscaled here")
                        .help("remove `replicas`; `autoscale { min max }` bounds the count"),
                    );
                }
            }
        }
        Some(WorkloadDraft {
            name: b.name.name.clone(),
            name_span: b.name.span,
            kind,
            docs: item.docs.clone(),
            target,
            on_span: b.on.as_ref().map(|p| p.span).unwrap_or(b.name.span),
            selectors,
            container: container.into(),
            cpu_span: spans.cpu,
            memory_span: spans.memory,
            gpu_span: spans.gpu,
            arch_span: spans.arch,
            replicas: view.attr("replicas").map(|a| a.value.clone()),
            file,
            schedule,
            backoff: self.get_u32_or_default(&view, shape, "backoff"),
            deadline_secs: self.get_duration(&view, shape, "deadline").unwrap_or(3600),
            critical,
            public,
            talks_to,
            env_refs,
            autoscale,
            rollout,
            labels,
            model: None,
            template,
            privileged_span: spans.privileged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::testing::{analyzer, block, program, reported};
    use crate::diag::Code;
    use crate::ir;
    use crate::schema::SERVICE;

    /// The rollout of the service `s` in `text`, and what was reported.
    fn rollout(text: &str) -> (ir::Rollout, Vec<(Code, String, String)>) {
        let prog = program(text);
        let mut a = analyzer(&prog);
        let b = block(&prog, "s");
        let view = a.view(&b.body, &SERVICE, "a service", b.name.span, None);
        let r = a.rollout(&view, &SERVICE);
        (r, reported(&prog, &a.diags))
    }

    #[test]
    fn a_rollout_defaults_to_one_extra_pod_and_must_progress() {
        let (r, diags) = rollout("service s on c { }");
        assert_eq!((r.max_unavailable, r.max_surge, diags), (0, 1, vec![]));
        let (r, diags) = rollout("service s on c { rollout { max_unavailable = 2 } }");
        assert_eq!((r.max_unavailable, r.max_surge, diags), (2, 1, vec![]));
        let (r, diags) = rollout("service s on c { rollout { max_surge = 0 } }");
        assert_eq!((r.max_unavailable, r.max_surge), (0, 0));
        assert_eq!(
            diags,
            [(
                Code::E0202,
                "a rollout with `max_unavailable = 0` and `max_surge = 0` can never progress".to_string(),
                "rollout".to_string()
            )]
        );
    }

    #[test]
    fn selectors_become_label_matches() {
        let prog =
            program("daemon s on f where camera = \"yes\", gpu != true, \"bad/key/x\" = \"1\", zone = \"no rth\" { }");
        let mut a = analyzer(&prog);
        let b = block(&prog, "s");
        let sels: Vec<_> = a
            .selectors(&b.selectors)
            .into_iter()
            .map(|(s, span)| (s.key, s.value, s.negated, prog.sources.text(span).to_string()))
            .collect();
        assert_eq!(
            sels,
            [
                ("camera".into(), "yes".into(), false, "camera = \"yes\"".into()),
                ("gpu".into(), "true".into(), true, "gpu != true".into()),
            ]
        );
        let codes: Vec<_> = reported(&prog, &a.diags)
            .into_iter()
            .map(|(c, _, at)| (c, at))
            .collect();
        assert_eq!(
            codes,
            [
                (Code::E0207, "\"bad/key/x\"".to_string()),
                (Code::E0207, "\"no rth\"".to_string())
            ]
        );
    }
}
