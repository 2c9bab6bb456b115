//! Diagnostics as plain data: a stable code, a primary label on the exact
//! span, secondary labels, help and notes. Renderers live at the edges (the
//! CLI renders with miette, the language server converts to LSP).

use crate::source::Span;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

macro_rules! codes {
    ($( $code:ident = $title:literal ),* $(,)?) => {
        /// Every diagnostic the compiler can report. The name is the stable
        /// code; `docs/errors/<CODE>.md` explains it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        pub enum Code { $( $code ),* }

        impl Code {
            pub const ALL: &'static [Code] = &[ $( Code::$code ),* ];

            pub fn as_str(self) -> &'static str {
                match self { $( Code::$code => stringify!($code) ),* }
            }

            /// One line saying what the problem is.
            pub fn title(self) -> &'static str {
                match self { $( Code::$code => $title ),* }
            }

            /// The long explanation printed by `iotc explain`.
            pub fn explanation(self) -> &'static str {
                match self {
                    $( Code::$code => include_str!(concat!("../../docs/errors/", stringify!($code), ".md")) ),*
                }
            }
        }
    };
}

codes! {
    E0001 = "syntax error",
    E0002 = "unclosed block",
    E0003 = "nested too deeply",
    E0004 = "expression too long",
    E0005 = "NUL character in the source",
    E0101 = "unknown name",
    E0102 = "duplicate definition",
    E0103 = "import cycle",
    E0104 = "cannot find import",
    E0105 = "unknown field",
    E0106 = "missing required field",
    E0107 = "field set twice",
    E0108 = "wrong kind of reference",
    E0110 = "statement not allowed here",
    E0201 = "type mismatch",
    E0202 = "value out of range",
    E0203 = "unknown unit",
    E0204 = "invalid cron schedule",
    E0205 = "invalid image reference",
    E0206 = "invalid name",
    E0207 = "invalid label",
    E0208 = "invalid host-name pattern",
    E0209 = "unknown variant",
    E0210 = "invalid parameter override",
    E0211 = "invalid artifact reference",
    E0212 = "unsafe file name",
    E0213 = "invalid network address",
    E0214 = "invalid registry host",
    E0301 = "count is not a whole number",
    E0302 = "count is negative",
    E0303 = "minimum greater than maximum",
    E0304 = "cycle among counts",
    E0305 = "division by zero",
    E0306 = "ratio over the wrong kind of thing",
    E0307 = "counts depend on each other too deeply",
    E0401 = "node over capacity",
    E0402 = "architecture mismatch",
    E0403 = "accelerator not available",
    E0404 = "feature not supported by the runtime",
    E0405 = "model format not supported by the serving runtime",
    E0406 = "offline site without a mirror",
    E0407 = "images collide on a site's mirror",
    E0408 = "alert on a metric nothing exports",
    E0501 = "literal secret value",
    E0502 = "invalid secret source",
    E0503 = "invalid registry credential",
    E0504 = "undeclared secret",
    W0101 = "unused import",
    W0102 = "unused parameter",
    W0401 = "selector matches nothing",
    W0402 = "critical workload without a standby device",
    W0403 = "shared services on a battery-powered gateway",
    W0404 = "control plane reached through one node",
    W0405 = "containers no Prometheus scrapes",
    W0406 = "monitored model no Prometheus scrapes",
    W0501 = "secret-like value in plain environment",
    W0601 = "privileged container",
}

impl Code {
    pub fn severity(self) -> Severity {
        if self.as_str().starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }

    pub fn parse(s: &str) -> Option<Code> {
        let s = s.trim().to_ascii_uppercase();
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A span with a message, pointing at source text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem found in the sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// A diagnostic whose severity follows from its code.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            primary: Label {
                span,
                message: String::new(),
            },
            secondary: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    /// The text shown under the primary span.
    pub fn label(mut self, message: impl Into<String>) -> Diagnostic {
        self.primary.message = message.into();
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sort diagnostics into a stable order: by file, position, then code.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (a.primary.span.file, a.primary.span.start, a.code, &a.message).cmp(&(
            b.primary.span.file,
            b.primary.span.start,
            b.code,
            &b.message,
        ))
    });
}

/// "did you mean" candidates: the closest names by edit distance.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let score = strsim::jaro_winkler(name, c);
        let close = strsim::levenshtein(name, c) <= (name.chars().count().max(3) / 3).max(1)
            || score > 0.88
            || c.eq_ignore_ascii_case(name);
        if close && best.is_none_or(|(s, b)| score > s || (score == s && c < b)) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}
