//! Param overrides from a values file (`--values FILE.toml`) and from
//! `--set name=value`, each checked against the param's type and bounds.
//! `--set` wins over the values file, which wins over the default.

use super::values as v;
use super::{Analyzer, ParamTy, ParamVal};
use crate::diag::{suggest, Code, Diagnostic};
use crate::ir::ValueSource;
use crate::source::{FileId, Origin, SourceMap, Span};

/// Overrides given to one run.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `(path, text)` of a values file.
    pub values: Option<(String, String)>,
    /// `name=value` pairs, in order.
    pub sets: Vec<String>,
}

impl Overrides {
    /// Add the override texts as sources so diagnostics can point into them.
    pub(super) fn add_sources(&self, sources: &mut SourceMap) -> OverrideFiles {
        let values = self
            .values
            .as_ref()
            .map(|(path, text)| sources.add(Origin::Path(path.clone()), text.clone()));
        OverrideFiles {
            values,
            sets: self.add_sets_source(sources),
        }
    }

    /// Add the `--set` text as a source (after the values file's).
    pub(super) fn add_sets_source(&self, sources: &mut SourceMap) -> Option<FileId> {
        if self.sets.is_empty() {
            None
        } else {
            let mut text = String::new();
            for s in &self.sets {
                text.push_str("--set ");
                text.push_str(s);
                text.push('\n');
            }
            Some(sources.add(Origin::CommandLine, text))
        }
    }
}

pub(super) struct OverrideFiles {
    pub(super) values: Option<FileId>,
    pub(super) sets: Option<FileId>,
}

/// Where a key is set in a flat TOML file: the span of the key and value.
fn find_key(text: &str, key: &str) -> Option<(usize, usize, usize, usize)> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let rest = trimmed
            .strip_prefix(key)
            .or_else(|| trimmed.strip_prefix(&format!("\"{key}\"")));
        if let Some(rest) = rest {
            let after_key = trimmed.len() - rest.len();
            let r = rest.trim_start();
            if let Some(val) = r.strip_prefix('=') {
                let val_trim = val.trim_start();
                let vstart = offset + line.len() - val_trim.len();
                let vlen = val_trim.trim_end().split(" #").next().unwrap_or("").trim_end().len();
                return Some((offset + indent, offset + indent + after_key, vstart, vstart + vlen));
            }
        }
        offset += line.len();
    }
    None
}

impl Analyzer<'_> {
    pub(super) fn apply_overrides(&mut self, o: &Overrides, files: OverrideFiles) {
        if let (Some((_, text)), Some(file)) = (&o.values, files.values) {
            self.apply_values_file(text, file);
        }
        self.apply_sets(o, files.sets);
    }

    /// The `--set` overrides of `o`, whose text is the source `file`.
    pub(super) fn apply_sets(&mut self, o: &Overrides, file: Option<FileId>) {
        if let Some(file) = file {
            let mut offset = "--set ".len();
            for s in &o.sets {
                let span = Span::new(file, offset, offset + s.len());
                offset += s.len() + 1 + "--set ".len();
                let Some((name, value)) = s.split_once('=') else {
                    self.diags.push(
                        Diagnostic::new(Code::E0210, span, format!("`{s}` is not `name=value`"))
                            .label("no `=`")
                            .help("write `--set factor=3`"),
                    );
                    continue;
                };
                let name = name.trim();
                let name_span = Span::new(file, span.start as usize, span.start as usize + name.len());
                let value_span = Span::new(file, span.start as usize + s.len() - value.len(), span.end as usize);
                self.override_param(
                    name,
                    name_span,
                    RawValue::Text(value.trim()),
                    value_span,
                    ValueSource::CommandLine,
                );
            }
        }
    }

    fn apply_values_file(&mut self, text: &str, file: FileId) {
        let table = match text.parse::<toml::Table>() {
            Ok(t) => t,
            Err(e) => {
                let range = e.span().unwrap_or(0..0);
                self.diags.push(
                    Diagnostic::new(
                        Code::E0210,
                        Span::new(file, range.start, range.end),
                        "the values file is not valid TOML",
                    )
                    .label(e.message().to_string())
                    .help("write one `name = value` per line"),
                );
                return;
            }
        };
        for (key, value) in &table {
            let (ks, ke, vs, ve) = find_key(text, key).unwrap_or((0, 0, 0, 0));
            let key_span = Span::new(file, ks, ke);
            let value_span = Span::new(file, vs, ve);
            let raw = match value {
                toml::Value::Integer(i) => RawValue::Int(*i),
                toml::Value::Boolean(b) => RawValue::Bool(*b),
                toml::Value::String(s) => RawValue::Text(s),
                other => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0210,
                            value_span,
                            format!("`{key}` is {}", article(other.type_str())),
                        )
                        .label("not a param value")
                        .help("params take a number, `true`/`false` or a string"),
                    );
                    continue;
                }
            };
            self.override_param(key, key_span, raw, value_span, ValueSource::ValuesFile);
        }
    }

    fn override_param(&mut self, name: &str, name_span: Span, raw: RawValue<'_>, span: Span, source: ValueSource) {
        let Some(info) = self.params.get(name).cloned() else {
            let mut d =
                Diagnostic::new(Code::E0210, name_span, format!("there is no param `{name}`")).label("unknown param");
            d = match suggest(name, self.params.keys().map(|k| k.as_str())) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None if self.params.is_empty() => d.help("this solution declares no params"),
                None => d.help(format!(
                    "the params are: {}",
                    self.params.keys().cloned().collect::<Vec<_>>().join(", ")
                )),
            };
            self.diags.push(d);
            return;
        };
        let parsed = match parse_raw(&raw, info.ty) {
            Ok(v) => v,
            Err(m) => {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0210,
                        span,
                        format!("`{name}` is {} param: {m}", article(info.ty.name())),
                    )
                    .label(format!("not {}", article(info.ty.name())))
                    .with_secondary(info.span, "declared here")
                    .help(format!("give {} value, like `{}`", article(info.ty.name()), info.value)),
                );
                return;
            }
        };
        if !self.check_bounds(&parsed, &info.min, &info.max, span, Code::E0210, name) {
            return;
        }
        if let Some(p) = self.params.get_mut(name) {
            p.value = parsed;
            p.source = source;
        }
    }
}

enum RawValue<'s> {
    Int(i64),
    Bool(bool),
    Text(&'s str),
}

fn parse_raw(raw: &RawValue<'_>, ty: ParamTy) -> Result<ParamVal, String> {
    let text = match raw {
        RawValue::Int(i) => {
            return match ty {
                ParamTy::Int => Ok(ParamVal::Int(*i)),
                ParamTy::Cpu => v::cpu_millis(&i.to_string(), "").map(ParamVal::Cpu),
                _ => Err(format!("found the number {i}")),
            }
        }
        RawValue::Bool(b) => {
            return match ty {
                ParamTy::Bool => Ok(ParamVal::Bool(*b)),
                _ => Err(format!("found `{b}`")),
            }
        }
        RawValue::Text(t) => t.trim(),
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (num, suffix) = text.split_at(split);
    match ty {
        ParamTy::Int => text
            .parse::<i64>()
            .map(ParamVal::Int)
            .map_err(|_| format!("`{text}` is not a whole number")),
        ParamTy::Bool => match text {
            "true" => Ok(ParamVal::Bool(true)),
            "false" => Ok(ParamVal::Bool(false)),
            _ => Err(format!("`{text}` is not `true` or `false`")),
        },
        ParamTy::String => Ok(ParamVal::Str(
            text.strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(text)
                .to_string(),
        )),
        ParamTy::Cpu if !num.is_empty() => v::cpu_millis(num, suffix).map(ParamVal::Cpu),
        ParamTy::Memory if !num.is_empty() => v::memory_bytes(num, suffix).map(ParamVal::Memory),
        ParamTy::Duration if !num.is_empty() => v::duration_secs(num, suffix).map(ParamVal::Duration),
        _ => Err(format!("`{text}` is not a quantity")),
    }
}

/// "an int", "a string".
fn article(word: &str) -> String {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {word}")
    } else {
        format!("a {word}")
    }
}
