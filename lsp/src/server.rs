//! The main loop: JSON-RPC messages in, requests answered from fresh
//! analyses, diagnostics published at once after a quiet spell, or after a
//! 100 ms pause while the user is typing. Every
//! handler runs under `catch_unwind`, so a bug answers with an error
//! instead of killing the server.

use crate::features::semantic_tokens::{self as st, TokenType};
use crate::features::{self, CompletionKind, SymbolNode};
use crate::line_index::{self, LineIndex};
use crate::world::{Analyzed, StdFiles, World};
use iotc_compiler::diag::Severity;
use iotc_compiler::source::Span;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types as lsp;
use lsp_types::Url;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

/// How long the server waits after a change before re-checking.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// When to re-check after a change at `now`: at once after a quiet spell
/// (no change in the last [`DEBOUNCE`]), else after a pause of `DEBOUNCE`
/// (the user is typing; the next change moves the deadline again).
pub fn check_at(now: Instant, last_change: Option<Instant>) -> Instant {
    let typing = last_change.is_some_and(|t| now.saturating_duration_since(t) < DEBOUNCE);
    if typing {
        now + DEBOUNCE
    } else {
        now
    }
}

/// `iotc lsp`: serve over stdin/stdout until the client says `exit`.
pub fn run_stdio() -> std::process::ExitCode {
    let (connection, io_threads) = Connection::stdio();
    let std = StdFiles::materialise(Some(StdFiles::default_dir()));
    let result = run(connection, std);
    let joined = io_threads.join();
    match (result, joined) {
        (Ok(()), Ok(())) => std::process::ExitCode::SUCCESS,
        (Err(e), _) => {
            eprintln!("iotc lsp: {e}");
            std::process::ExitCode::from(1)
        }
        (_, Err(e)) => {
            eprintln!("iotc lsp: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

/// The capabilities the server announces.
pub fn capabilities() -> lsp::ServerCapabilities {
    lsp::ServerCapabilities {
        text_document_sync: Some(lsp::TextDocumentSyncCapability::Kind(lsp::TextDocumentSyncKind::FULL)),
        hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
        completion_provider: Some(lsp::CompletionOptions {
            trigger_characters: Some(vec![".".into(), "=".into(), " ".into()]),
            ..Default::default()
        }),
        definition_provider: Some(lsp::OneOf::Left(true)),
        references_provider: Some(lsp::OneOf::Left(true)),
        rename_provider: Some(lsp::OneOf::Right(lsp::RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        document_symbol_provider: Some(lsp::OneOf::Left(true)),
        workspace_symbol_provider: Some(lsp::OneOf::Left(true)),
        document_formatting_provider: Some(lsp::OneOf::Left(true)),
        inlay_hint_provider: Some(lsp::OneOf::Left(true)),
        code_action_provider: Some(lsp::CodeActionProviderCapability::Simple(true)),
        semantic_tokens_provider: Some(lsp::SemanticTokensServerCapabilities::SemanticTokensOptions(
            lsp::SemanticTokensOptions {
                work_done_progress_options: Default::default(),
                legend: semantic_legend(),
                range: Some(true),
                full: Some(lsp::SemanticTokensFullOptions::Delta { delta: Some(true) }),
            },
        )),
        ..Default::default()
    }
}

/// Serve one connection until `shutdown` and `exit`.
pub fn run(connection: Connection, std: StdFiles) -> Result<(), String> {
    let caps = serde_json::to_value(capabilities()).map_err(|e| e.to_string())?;
    let init = serde_json::json!({
        "capabilities": caps,
        "serverInfo": { "name": "iotc", "version": env!("CARGO_PKG_VERSION") },
    });
    let (id, _params) = connection.initialize_start().map_err(|e| e.to_string())?;
    connection.initialize_finish(id, init).map_err(|e| e.to_string())?;
    let mut server = Server {
        conn: &connection,
        world: World::new(std),
        deadline: None,
        last_change: None,
        tokens: HashMap::new(),
        next_result: 0,
        backlog: VecDeque::new(),
        shut_down: false,
    };
    server.main_loop()
}

struct Server<'a> {
    conn: &'a Connection,
    world: World,
    /// When to re-check after the last change.
    deadline: Option<Instant>,
    /// When the last change arrived.
    last_change: Option<Instant>,
    /// The semantic tokens last sent for each document, with their result
    /// id, for `semanticTokens/full/delta`.
    tokens: HashMap<String, (String, Vec<lsp::SemanticToken>)>,
    next_result: u64,
    /// Messages already received but not handled yet, in order: pulled
    /// from the connection before a request's re-check and its answer, so
    /// a `$/cancelRequest` queued behind the request is seen in time.
    backlog: VecDeque<Message>,
    /// `shutdown` was answered: only `exit` is expected now.
    shut_down: bool,
}

/// The answer to a request the client cancelled before it was worked on.
fn canceled(id: RequestId) -> Response {
    Response::new_err(id, ErrorCode::RequestCanceled as i32, "cancelled by the client".into())
}

/// A request's failure, sent back as an error response.
struct Failure {
    code: i32,
    message: String,
}

impl Failure {
    fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(ErrorCode::InvalidParams as i32, message)
    }
}

type Answer = Result<Value, Failure>;

impl Server<'_> {
    fn main_loop(&mut self) -> Result<(), String> {
        loop {
            let msg = match self.backlog.pop_front() {
                Some(m) => Some(m),
                None => match self.receive() {
                    Ok(m) => m,
                    // The client is gone.
                    Err(()) => return Ok(()),
                },
            };
            match msg {
                None => self.refresh_and_publish(),
                Some(Message::Request(req)) => {
                    // Shutdown is answered here rather than by lsp-server's
                    // `handle_shutdown`, which waits for `exit` on the
                    // connection while it may already be in the backlog.
                    if self.shut_down {
                        let e = ErrorCode::InvalidRequest as i32;
                        self.send(Message::Response(Response::new_err(
                            req.id,
                            e,
                            "shutdown was requested".into(),
                        )));
                        continue;
                    }
                    if req.method == "shutdown" {
                        self.shut_down = true;
                        self.send(Message::Response(Response::new_ok(req.id, Value::Null)));
                        continue;
                    }
                    // A request the client cancelled before we got to it is
                    // not worked on: checked before the re-check and again
                    // after it (the client may cancel while it runs).
                    if self.cancelled(&req.id) {
                        self.send(Message::Response(canceled(req.id)));
                        continue;
                    }
                    // Answers are always about the text the client has.
                    self.refresh_and_publish();
                    if self.cancelled(&req.id) {
                        self.send(Message::Response(canceled(req.id)));
                        continue;
                    }
                    let resp = self.request(req);
                    self.send(Message::Response(resp));
                }
                Some(Message::Notification(n)) => {
                    if n.method == "exit" {
                        return Ok(());
                    }
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| self.notification(n)));
                }
                Some(Message::Response(_)) => {}
            }
        }
    }

    /// Whether a `$/cancelRequest` for `id` is among the messages received
    /// so far (everything queued on the connection is moved to the backlog
    /// first). The cancellation itself stays in the backlog and is ignored
    /// when its turn comes.
    fn cancelled(&mut self, id: &RequestId) -> bool {
        while let Ok(m) = self.conn.receiver.try_recv() {
            self.backlog.push_back(m);
        }
        self.backlog.iter().any(|m| match m {
            Message::Notification(n) if n.method == "$/cancelRequest" => {
                serde_json::from_value::<lsp::CancelParams>(n.params.clone()).is_ok_and(|p| {
                    let cancelled: RequestId = match p.id {
                        lsp::NumberOrString::Number(n) => n.into(),
                        lsp::NumberOrString::String(s) => s.into(),
                    };
                    cancelled == *id
                })
            }
            _ => false,
        })
    }

    /// The next message from the connection, or `None` when the re-check
    /// deadline passes first; `Err` when the client is gone.
    fn receive(&mut self) -> Result<Option<Message>, ()> {
        Ok(match self.deadline {
            Some(deadline) => {
                let wait = deadline.saturating_duration_since(Instant::now());
                match self.conn.receiver.recv_timeout(wait) {
                    Ok(m) => Some(m),
                    Err(e) if e.is_timeout() => None,
                    Err(_) => return Err(()),
                }
            }
            None => match self.conn.receiver.recv() {
                Ok(m) => Some(m),
                Err(_) => return Err(()),
            },
        })
    }

    fn send(&self, msg: Message) {
        let _ = self.conn.sender.send(msg);
    }

    fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            "textDocument/didOpen" => {
                let Ok(p) = serde_json::from_value::<lsp::DidOpenTextDocumentParams>(n.params) else {
                    return;
                };
                let key = key_of_uri(&p.text_document.uri);
                self.world.open(key, p.text_document.text, p.text_document.version);
                // A newly opened file is checked at once.
                self.refresh_and_publish();
            }
            "textDocument/didChange" => {
                let Ok(p) = serde_json::from_value::<lsp::DidChangeTextDocumentParams>(n.params) else {
                    return;
                };
                let key = key_of_uri(&p.text_document.uri);
                // Full sync: the last change holds the whole text.
                if let Some(change) = p.content_changes.into_iter().last() {
                    self.world.change(&key, change.text, p.text_document.version);
                    // The first change after a quiet spell is checked at once
                    // (after any messages already queued); changes that come
                    // faster than DEBOUNCE (typing) wait for a pause of
                    // DEBOUNCE, so a burst costs one check.
                    let now = Instant::now();
                    self.deadline = Some(check_at(now, self.last_change));
                    self.last_change = Some(now);
                }
            }
            "textDocument/didClose" => {
                let Ok(p) = serde_json::from_value::<lsp::DidCloseTextDocumentParams>(n.params) else {
                    return;
                };
                let key = key_of_uri(&p.text_document.uri);
                self.world.close(&key);
                self.publish(&p.text_document.uri, Vec::new(), None);
                self.deadline = Some(Instant::now());
            }
            _ => {}
        }
    }

    /// Re-check stale documents and publish their diagnostics.
    fn refresh_and_publish(&mut self) {
        self.deadline = None;
        if !self.world.is_stale() {
            return;
        }
        let done = std::panic::catch_unwind(AssertUnwindSafe(|| self.world.refresh())).unwrap_or_default();
        for key in done {
            let Some(uri) = uri_of_key(&key) else { continue };
            let diags = self
                .world
                .get(&key)
                .map(|a| diagnostics(&self.world, &key, a))
                .unwrap_or_default();
            self.publish(&uri, diags, self.world.version(&key));
        }
    }

    fn publish(&self, uri: &Url, diagnostics: Vec<lsp::Diagnostic>, version: Option<i32>) {
        let params = lsp::PublishDiagnosticsParams {
            uri: uri.clone(),
            diagnostics,
            version,
        };
        self.send(Message::Notification(Notification::new(
            "textDocument/publishDiagnostics".into(),
            params,
        )));
    }

    fn request(&mut self, req: Request) -> Response {
        let id: RequestId = req.id.clone();
        let answer = std::panic::catch_unwind(AssertUnwindSafe(|| self.dispatch(req)));
        match answer {
            Ok(Ok(value)) => Response::new_ok(id, value),
            Ok(Err(f)) => Response::new_err(id, f.code, f.message),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Response::new_err(
                    id,
                    ErrorCode::InternalError as i32,
                    format!("iotc lsp: internal error {what}"),
                )
            }
        }
    }

    fn dispatch(&mut self, req: Request) -> Answer {
        match req.method.as_str() {
            "textDocument/semanticTokens/full" => return self.semantic_tokens_full(params(req.params)?),
            "textDocument/semanticTokens/full/delta" => return self.semantic_tokens_delta(params(req.params)?),
            _ => {}
        }
        let w = &mut self.world;
        match req.method.as_str() {
            "textDocument/semanticTokens/range" => semantic_tokens_range(w, params(req.params)?),
            "textDocument/hover" => hover(w, params(req.params)?),
            "textDocument/completion" => completion(w, params(req.params)?),
            "textDocument/definition" => definition(w, params(req.params)?),
            "textDocument/references" => references(w, params(req.params)?),
            "textDocument/prepareRename" => prepare_rename(w, params(req.params)?),
            "textDocument/rename" => rename(w, params(req.params)?),
            "textDocument/documentSymbol" => document_symbol(w, params(req.params)?),
            "workspace/symbol" => workspace_symbol(w, params(req.params)?),
            "textDocument/formatting" => formatting(w, params(req.params)?),
            "textDocument/inlayHint" => inlay_hint(w, params(req.params)?),
            "textDocument/codeAction" => code_action(w, params(req.params)?),
            "iotc/stdlibSource" => stdlib_source(params(req.params)?),
            m => Err(Failure::new(
                ErrorCode::MethodNotFound as i32,
                format!("unknown request `{m}`"),
            )),
        }
    }
}

impl Server<'_> {
    /// Every token of a document; remembered for a later delta.
    fn semantic_tokens_full(&mut self, p: lsp::SemanticTokensParams) -> Answer {
        let key = key_of_uri(&p.text_document.uri);
        let data = document_tokens(&mut self.world, &key, None).unwrap_or_default();
        let result_id = self.remember_tokens(&key, data.clone());
        json(lsp::SemanticTokensResult::Tokens(lsp::SemanticTokens {
            result_id: Some(result_id),
            data,
        }))
    }

    /// The change since the tokens sent with `previous_result_id`, as one
    /// edit of the common prefix and suffix; all tokens if that result is
    /// not the last one sent.
    fn semantic_tokens_delta(&mut self, p: lsp::SemanticTokensDeltaParams) -> Answer {
        let key = key_of_uri(&p.text_document.uri);
        let data = document_tokens(&mut self.world, &key, None).unwrap_or_default();
        let previous = self
            .tokens
            .get(&key)
            .filter(|(id, _)| *id == p.previous_result_id)
            .map(|(_, old)| token_edit(old, &data));
        let result_id = self.remember_tokens(&key, data.clone());
        match previous {
            Some(edit) => json(lsp::SemanticTokensFullDeltaResult::TokensDelta(
                lsp::SemanticTokensDelta {
                    result_id: Some(result_id),
                    edits: edit.into_iter().collect(),
                },
            )),
            None => json(lsp::SemanticTokensFullDeltaResult::Tokens(lsp::SemanticTokens {
                result_id: Some(result_id),
                data,
            })),
        }
    }

    fn remember_tokens(&mut self, key: &str, data: Vec<lsp::SemanticToken>) -> String {
        self.next_result += 1;
        let id = self.next_result.to_string();
        self.tokens.insert(key.to_string(), (id.clone(), data));
        id
    }
}

/// The legend: token types and modifiers, in the order their indexes and
/// bits use.
pub fn semantic_legend() -> lsp::SemanticTokensLegend {
    lsp::SemanticTokensLegend {
        token_types: TokenType::ALL
            .iter()
            .map(|t| lsp::SemanticTokenType::new(t.name()))
            .collect(),
        token_modifiers: st::modifier::NAMES
            .iter()
            .map(|m| lsp::SemanticTokenModifier::new(m))
            .collect(),
    }
}

/// The encoded tokens of a document (of its byte range `range` if given).
fn document_tokens(w: &mut World, key: &str, range: Option<lsp::Range>) -> Option<Vec<lsp::SemanticToken>> {
    w.ensure(key);
    let a = w.get(key)?;
    let (file, src) = doc_source(w, key, a)?;
    let ix = LineIndex::new(&src.text);
    let mut tokens = st::semantic_tokens(a, file);
    if let Some(r) = range {
        tokens = st::in_range(&tokens, ix.offset(r.start), ix.offset(r.end));
    }
    Some(encode_tokens(&ix, &tokens))
}

/// LSP's relative encoding: each token's line and start relative to the
/// previous token, lengths in UTF-16 code units (every token is on one
/// line: strings and comments end at their line's end).
pub fn encode_tokens(ix: &LineIndex<'_>, tokens: &[st::SemanticToken]) -> Vec<lsp::SemanticToken> {
    let mut out = Vec::with_capacity(tokens.len());
    let (mut line, mut col) = (0u32, 0u32);
    for t in tokens {
        let start = ix.position(t.start);
        let end = ix.position(t.end);
        let length = if end.line == start.line {
            end.character.saturating_sub(start.character)
        } else {
            0
        };
        let delta_line = start.line.saturating_sub(line);
        let delta_start = if delta_line == 0 {
            start.character.saturating_sub(col)
        } else {
            start.character
        };
        out.push(lsp::SemanticToken {
            delta_line,
            delta_start,
            length,
            token_type: t.ty.index(),
            token_modifiers_bitset: t.modifiers,
        });
        (line, col) = (start.line, start.character);
    }
    out
}

/// One edit turning `old` into `new` (in the flat array of five integers
/// per token), or none when they are equal.
pub fn token_edit(old: &[lsp::SemanticToken], new: &[lsp::SemanticToken]) -> Option<lsp::SemanticTokensEdit> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let rest_old = old.get(prefix..).unwrap_or(&[]);
    let rest_new = new.get(prefix..).unwrap_or(&[]);
    let suffix = rest_old
        .iter()
        .rev()
        .zip(rest_new.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let deleted = rest_old.len() - suffix;
    let inserted = rest_new.get(..rest_new.len() - suffix).unwrap_or(&[]);
    if deleted == 0 && inserted.is_empty() {
        return None;
    }
    let five = |n: usize| u32::try_from(n * 5).unwrap_or(u32::MAX);
    Some(lsp::SemanticTokensEdit {
        start: five(prefix),
        delete_count: five(deleted),
        data: Some(inserted.to_vec()),
    })
}

fn semantic_tokens_range(w: &mut World, p: lsp::SemanticTokensRangeParams) -> Answer {
    let key = key_of_uri(&p.text_document.uri);
    let data = document_tokens(w, &key, Some(p.range)).unwrap_or_default();
    json(lsp::SemanticTokensRangeResult::Tokens(lsp::SemanticTokens {
        result_id: None,
        data,
    }))
}

fn params<P: serde::de::DeserializeOwned>(v: Value) -> Result<P, Failure> {
    serde_json::from_value(v).map_err(|e| Failure::invalid(format!("invalid parameters: {e}")))
}

fn json<T: serde::Serialize>(v: T) -> Answer {
    serde_json::to_value(v).map_err(|e| Failure::new(ErrorCode::InternalError as i32, e.to_string()))
}

// ------------------------------------------------------------ conversions

/// The document key of a URI: a file-system path for `file:` URIs.
pub fn key_of_uri(uri: &Url) -> String {
    if uri.scheme() == "file" {
        if let Ok(p) = uri.to_file_path() {
            return p.to_string_lossy().into_owned();
        }
    }
    uri.to_string()
}

pub fn uri_of_key(key: &str) -> Option<Url> {
    if key.starts_with('/') {
        Url::from_file_path(key).ok()
    } else {
        Url::parse(key).ok()
    }
}

/// A document position as a byte offset in the analysis of that document.
struct At<'a> {
    a: &'a Analyzed,
    file: iotc_compiler::source::FileId,
    offset: usize,
}

fn locate<'w>(w: &'w World, doc: &lsp::TextDocumentPositionParams) -> Option<At<'w>> {
    let key = key_of_uri(&doc.text_document.uri);
    let a = w.get(&key)?;
    let (file, src) = doc_source(w, &key, a)?;
    let offset = line_index::offset_in(src, doc.position);
    Some(At { a, file, offset })
}

/// The file of the document `key` in the analysis `a` (whose root may be a
/// file that imports it), with its text.
fn doc_source<'a>(
    w: &World,
    key: &str,
    a: &'a Analyzed,
) -> Option<(iotc_compiler::source::FileId, &'a iotc_compiler::source::SourceFile)> {
    let file = features::file_of(a, &w.origin_of(key))?;
    Some((file, a.analysis.program.sources.get(file)?))
}

fn to_location(w: &World, a: &Analyzed, span: Span) -> Option<lsp::Location> {
    let src = a.analysis.program.sources.get(span.file)?;
    let uri = uri_of_key(&w.key_of(&src.origin)?)?;
    let range = line_index::range_in(src, span.start as usize, span.end as usize);
    Some(lsp::Location::new(uri, range))
}

fn to_range(a: &Analyzed, span: Span) -> Option<lsp::Range> {
    let src = a.analysis.program.sources.get(span.file)?;
    Some(line_index::range_in(src, span.start as usize, span.end as usize))
}

/// The diagnostics of the document `key`'s own file in its analysis (whose
/// root may be a file that imports it), converted from the structured data
/// (never from rendered text).
pub fn diagnostics(w: &World, key: &str, a: &Analyzed) -> Vec<lsp::Diagnostic> {
    let Some((file, src)) = doc_source(w, key, a) else {
        return Vec::new();
    };
    let ix = LineIndex::new(&src.text);
    a.analysis
        .diagnostics
        .iter()
        .filter(|d| d.primary.span.file == file)
        .map(|d| to_lsp_diagnostic(w, a, &ix, d))
        .collect()
}

fn to_lsp_diagnostic(
    w: &World,
    a: &Analyzed,
    ix: &LineIndex<'_>,
    d: &iotc_compiler::diag::Diagnostic,
) -> lsp::Diagnostic {
    let span = d.primary.span;
    let mut message = d.message.clone();
    if !d.primary.message.is_empty() {
        message.push_str(&format!(": {}", d.primary.message));
    }
    if let Some(h) = &d.help {
        message.push_str(&format!("\nhelp: {h}"));
    }
    for n in &d.notes {
        message.push_str(&format!("\nnote: {n}"));
    }
    let code_description = w
        .std
        .explanation(d.code.as_str())
        .and_then(|p| Url::from_file_path(p).ok())
        .map(|href| lsp::CodeDescription { href });
    if code_description.is_none() {
        message.push_str(&format!("\nrun `iotc explain {}` for more", d.code));
    }
    let related: Vec<lsp::DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .filter_map(|l| {
            Some(lsp::DiagnosticRelatedInformation {
                location: to_location(w, a, l.span)?,
                message: l.message.clone(),
            })
        })
        .collect();
    lsp::Diagnostic {
        range: ix.range(span.start as usize, span.end as usize),
        severity: Some(match d.severity {
            Severity::Error => lsp::DiagnosticSeverity::ERROR,
            Severity::Warning => lsp::DiagnosticSeverity::WARNING,
        }),
        code: Some(lsp::NumberOrString::String(d.code.as_str().to_string())),
        code_description,
        source: Some("iotc".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: matches!(d.code.as_str(), "W0101" | "W0102").then(|| vec![lsp::DiagnosticTag::UNNECESSARY]),
        data: None,
    }
}

// --------------------------------------------------------------- handlers

fn hover(w: &mut World, p: lsp::HoverParams) -> Answer {
    w.ensure(&key_of_uri(&p.text_document_position_params.text_document.uri));
    let w = &*w;
    let Some(at) = locate(w, &p.text_document_position_params) else {
        return Ok(Value::Null);
    };
    let Some(h) = features::hover(at.a, at.file, at.offset) else {
        return Ok(Value::Null);
    };
    json(lsp::Hover {
        contents: lsp::HoverContents::Markup(lsp::MarkupContent {
            kind: lsp::MarkupKind::Markdown,
            value: h.markdown,
        }),
        range: to_range(at.a, h.span),
    })
}

fn completion(w: &mut World, p: lsp::CompletionParams) -> Answer {
    w.ensure(&key_of_uri(&p.text_document_position.text_document.uri));
    let w = &*w;
    let Some(at) = locate(w, &p.text_document_position) else {
        return Ok(Value::Null);
    };
    let items: Vec<lsp::CompletionItem> = features::completions(at.a, at.file, at.offset)
        .into_iter()
        .map(|c| {
            let snippet = c.insert.as_deref().is_some_and(|s| s.contains('$'));
            lsp::CompletionItem {
                label: c.label,
                kind: Some(match c.kind {
                    CompletionKind::Keyword => lsp::CompletionItemKind::KEYWORD,
                    CompletionKind::Field => lsp::CompletionItemKind::FIELD,
                    CompletionKind::Block => lsp::CompletionItemKind::STRUCT,
                    CompletionKind::Value => lsp::CompletionItemKind::ENUM_MEMBER,
                    CompletionKind::Reference => lsp::CompletionItemKind::REFERENCE,
                    CompletionKind::Module => lsp::CompletionItemKind::MODULE,
                }),
                detail: c.detail,
                documentation: c.doc.map(|d| {
                    lsp::Documentation::MarkupContent(lsp::MarkupContent {
                        kind: lsp::MarkupKind::Markdown,
                        value: d,
                    })
                }),
                insert_text: c.insert,
                insert_text_format: Some(if snippet {
                    lsp::InsertTextFormat::SNIPPET
                } else {
                    lsp::InsertTextFormat::PLAIN_TEXT
                }),
                ..Default::default()
            }
        })
        .collect();
    json(lsp::CompletionResponse::Array(items))
}

fn definition(w: &mut World, p: lsp::GotoDefinitionParams) -> Answer {
    w.ensure(&key_of_uri(&p.text_document_position_params.text_document.uri));
    let w = &*w;
    let Some(at) = locate(w, &p.text_document_position_params) else {
        return Ok(Value::Null);
    };
    let Some(span) = features::definition(at.a, at.file, at.offset) else {
        return Ok(Value::Null);
    };
    match to_location(w, at.a, span) {
        Some(loc) => json(lsp::GotoDefinitionResponse::Scalar(loc)),
        None => Ok(Value::Null),
    }
}

/// The definition under the cursor as (document key, byte range), so it
/// can be found again in every other analysis.
fn definition_key(w: &mut World, pos: &lsp::TextDocumentPositionParams) -> Option<(String, u32, u32)> {
    w.ensure(&key_of_uri(&pos.text_document.uri));
    let w = &*w;
    let at = locate(w, pos)?;
    let span = features::target_at(at.a, at.file, at.offset)?;
    let origin = &at.a.analysis.program.sources.get(span.file)?.origin;
    Some((w.key_of(origin)?, span.start, span.end))
}

/// Every location referring to a definition, across every analysis held
/// (each open document sees the files it imports).
fn all_references(w: &World, def: &(String, u32, u32), include_declaration: bool) -> Vec<lsp::Location> {
    let mut out: Vec<lsp::Location> = Vec::new();
    for (_, a) in w.analyses() {
        let origin = w.origin_of(&def.0);
        let Some(file) = features::file_of(a, &origin) else {
            continue;
        };
        let target = Span {
            file,
            start: def.1,
            end: def.2,
        };
        if a.index.definition(target).is_none() {
            continue;
        }
        for span in features::references(a, target, include_declaration) {
            if let Some(loc) = to_location(w, a, span) {
                if !out.contains(&loc) {
                    out.push(loc);
                }
            }
        }
    }
    out
}

fn references(w: &mut World, p: lsp::ReferenceParams) -> Answer {
    let Some(def) = definition_key(w, &p.text_document_position) else {
        return Ok(Value::Null);
    };
    // Open documents that import this file see references it cannot.
    let keys: Vec<String> = w.docs.keys().cloned().collect();
    for k in keys {
        w.ensure(&k);
    }
    json(all_references(w, &def, p.context.include_declaration))
}

fn prepare_rename(w: &mut World, p: lsp::TextDocumentPositionParams) -> Answer {
    let Some(def) = definition_key(w, &p) else {
        return Err(Failure::invalid("there is no name to rename here"));
    };
    if w.std.module_of(&def.0).is_some() || def.0.starts_with("iotc-std:") {
        return Err(Failure::invalid("stdlib names cannot be renamed"));
    }
    let w = &*w;
    let Some(at) = locate(w, &p) else {
        return Ok(Value::Null);
    };
    let span =
        at.a.index
            .reference_at(at.file, at.offset)
            .map(|r| r.span)
            .or_else(|| features::target_at(at.a, at.file, at.offset));
    match span.and_then(|s| to_range(at.a, s)) {
        Some(r) => json(r),
        None => Ok(Value::Null),
    }
}

fn rename(w: &mut World, p: lsp::RenameParams) -> Answer {
    features::check_new_name(&p.new_name).map_err(Failure::invalid)?;
    let Some(def) = definition_key(w, &p.text_document_position) else {
        return Err(Failure::invalid("there is no name to rename here"));
    };
    if w.std.module_of(&def.0).is_some() || def.0.starts_with("iotc-std:") {
        return Err(Failure::invalid("stdlib names cannot be renamed"));
    }
    let keys: Vec<String> = w.docs.keys().cloned().collect();
    for k in keys {
        w.ensure(&k);
    }
    let mut changes: HashMap<Url, Vec<lsp::TextEdit>> = HashMap::new();
    for loc in all_references(w, &def, true) {
        changes
            .entry(loc.uri)
            .or_default()
            .push(lsp::TextEdit::new(loc.range, p.new_name.clone()));
    }
    json(lsp::WorkspaceEdit {
        changes: Some(changes),
        ..Default::default()
    })
}

fn symbol_kind(kind: &str) -> lsp::SymbolKind {
    match kind {
        "param" => lsp::SymbolKind::CONSTANT,
        "solution" => lsp::SymbolKind::PACKAGE,
        "cluster" | "fleet" => lsp::SymbolKind::NAMESPACE,
        "service" | "daemon" | "job" => lsp::SymbolKind::CLASS,
        "model" => lsp::SymbolKind::OBJECT,
        "site" | "pool" => lsp::SymbolKind::MODULE,
        "volume" => lsp::SymbolKind::FIELD,
        k if k.starts_with("template") => lsp::SymbolKind::INTERFACE,
        _ => lsp::SymbolKind::STRUCT,
    }
}

fn document_symbol(w: &mut World, p: lsp::DocumentSymbolParams) -> Answer {
    let key = key_of_uri(&p.text_document.uri);
    w.ensure(&key);
    let Some(a) = w.get(&key) else { return Ok(Value::Null) };
    let Some((file, _)) = doc_source(w, &key, a) else {
        return Ok(Value::Null);
    };
    #[allow(deprecated)]
    fn convert(a: &Analyzed, n: SymbolNode) -> Option<lsp::DocumentSymbol> {
        Some(lsp::DocumentSymbol {
            name: n.name,
            detail: Some(n.kind.clone()),
            kind: symbol_kind(&n.kind),
            tags: None,
            deprecated: None,
            range: to_range(a, n.full_span)?,
            selection_range: to_range(a, n.name_span)?,
            children: Some(n.children.into_iter().filter_map(|c| convert(a, c)).collect()),
        })
    }
    let symbols: Vec<lsp::DocumentSymbol> = features::document_symbols(a, file)
        .into_iter()
        .filter_map(|n| convert(a, n))
        .collect();
    json(lsp::DocumentSymbolResponse::Nested(symbols))
}

fn workspace_symbol(w: &mut World, p: lsp::WorkspaceSymbolParams) -> Answer {
    let keys: Vec<String> = w.docs.keys().cloned().collect();
    for k in keys {
        w.ensure(&k);
    }
    let query = p.query.to_lowercase();
    let mut out: Vec<lsp::SymbolInformation> = Vec::new();
    for (_, a) in w.analyses() {
        for d in &a.index.definitions {
            if !a.analysis.program.user_files.contains(&d.name_span.file) || !d.name.to_lowercase().contains(&query) {
                continue;
            }
            let Some(location) = to_location(w, a, d.name_span) else {
                continue;
            };
            if out.iter().any(|s| s.location == location) {
                continue;
            }
            #[allow(deprecated)]
            out.push(lsp::SymbolInformation {
                name: d.name.clone(),
                kind: symbol_kind(&d.kind),
                tags: None,
                deprecated: None,
                location,
                container_name: d
                    .parent
                    .and_then(|i| a.index.definitions.get(i))
                    .map(|p| p.name.clone()),
            });
        }
    }
    json(out)
}

fn formatting(w: &mut World, p: lsp::DocumentFormattingParams) -> Answer {
    let key = key_of_uri(&p.text_document.uri);
    let Some(doc) = w.docs.get(&key) else {
        return Ok(Value::Null);
    };
    let Ok(formatted) = iotc_compiler::fmt::format_source(&doc.text) else {
        // Broken input is never formatted; the diagnostics say why.
        return Ok(Value::Null);
    };
    if formatted == doc.text {
        return json(Vec::<lsp::TextEdit>::new());
    }
    let ix = LineIndex::new(&doc.text);
    let whole = ix.range(0, doc.text.len());
    json(vec![lsp::TextEdit::new(whole, formatted)])
}

fn inlay_hint(w: &mut World, p: lsp::InlayHintParams) -> Answer {
    let key = key_of_uri(&p.text_document.uri);
    w.ensure(&key);
    let Some(a) = w.get(&key) else { return Ok(Value::Null) };
    let Some((file, src)) = doc_source(w, &key, a) else {
        return Ok(Value::Null);
    };
    let ix = LineIndex::new(&src.text);
    let (lo, hi) = (ix.offset(p.range.start), ix.offset(p.range.end));
    let hints: Vec<lsp::InlayHint> = features::inlay_hints(a, file)
        .into_iter()
        .filter(|h| lo <= h.offset && h.offset <= hi)
        .map(|h| lsp::InlayHint {
            position: ix.position(h.offset),
            label: lsp::InlayHintLabel::String(h.label),
            kind: None,
            text_edits: None,
            tooltip: Some(lsp::InlayHintTooltip::MarkupContent(lsp::MarkupContent {
                kind: lsp::MarkupKind::Markdown,
                value: h.tooltip,
            })),
            padding_left: None,
            padding_right: None,
            data: None,
        })
        .collect();
    json(hints)
}

fn code_action(w: &mut World, p: lsp::CodeActionParams) -> Answer {
    let key = key_of_uri(&p.text_document.uri);
    w.ensure(&key);
    let w = &*w;
    let Some(a) = w.get(&key) else { return Ok(Value::Null) };
    let Some((file, src)) = doc_source(w, &key, a) else {
        return Ok(Value::Null);
    };
    let ix = LineIndex::new(&src.text);
    let (lo, hi) = (ix.offset(p.range.start), ix.offset(p.range.end));
    let mut out: Vec<lsp::CodeActionOrCommand> = Vec::new();
    for fix in features::fixes(a, file, lo, hi) {
        let Some(range) = to_range(a, fix.span) else { continue };
        let diagnostic = a
            .analysis
            .diagnostics
            .get(fix.diagnostic)
            .map(|d| to_lsp_diagnostic(w, a, &ix, d));
        let mut changes = HashMap::new();
        changes.insert(
            p.text_document.uri.clone(),
            vec![lsp::TextEdit::new(range, fix.replacement)],
        );
        out.push(lsp::CodeActionOrCommand::CodeAction(lsp::CodeAction {
            title: fix.title,
            kind: Some(lsp::CodeActionKind::QUICKFIX),
            diagnostics: diagnostic.map(|d| vec![d]),
            edit: Some(lsp::WorkspaceEdit {
                changes: Some(changes),
                ..Default::default()
            }),
            is_preferred: Some(true),
            ..Default::default()
        }));
    }
    json(out)
}

/// `iotc/stdlibSource { "module": "devices" }`: the text of a stdlib
/// module, for clients that cannot read the cache folder.
fn stdlib_source(p: Value) -> Answer {
    let module = p.get("module").and_then(Value::as_str).unwrap_or("");
    match iotc_compiler::stdlib::module(module) {
        Some(text) => json(text),
        None => Err(Failure::invalid(format!("there is no stdlib module `{module}`"))),
    }
}

#[cfg(test)]
mod debounce_tests {
    use super::{check_at, DEBOUNCE};
    use std::time::{Duration, Instant};

    #[test]
    fn a_change_after_a_quiet_spell_is_checked_at_once() {
        let now = Instant::now() + Duration::from_secs(10);
        assert_eq!(check_at(now, None), now);
        assert_eq!(check_at(now, Some(now - DEBOUNCE)), now);
        assert_eq!(check_at(now, Some(now - Duration::from_secs(5))), now);
    }

    #[test]
    fn changes_while_typing_wait_for_a_pause() {
        let now = Instant::now() + Duration::from_secs(10);
        assert_eq!(check_at(now, Some(now - Duration::from_millis(30))), now + DEBOUNCE);
        assert_eq!(check_at(now, Some(now)), now + DEBOUNCE);
    }
}
