//! The main loop: JSON-RPC messages in, diagnostics published at once
//! after a quiet spell, or after a 100 ms pause while the user is typing.
//! Checks run on a thread of their own (`iotc-lsp-check`), one at a time,
//! so the loop keeps reading: a hover or a completion is answered at once
//! from the newest analysis, even while a re-check runs (see
//! [`Server::quick`]); every other request waits for an analysis of the
//! text it is about. Every handler runs under `catch_unwind`, so a bug
//! answers with an error instead of killing the server.

use crate::edit_map::EditMap;
use crate::features::semantic_tokens::{self as st, TokenType};
use crate::features::{self, CompletionKind, SymbolNode};
use crate::line_index::{self, LineIndex};
use crate::world::{Analyzed, Checked, Job, StdFiles, World};
use iotc_compiler::diag::Severity;
use iotc_compiler::source::Span;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types as lsp;
use lsp_types::Url;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

/// The checking thread's stack.
const CHECK_STACK: usize = 8 << 20;

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
    let world = World::new(std);
    // The checking thread: runs each job it is sent and sends back its
    // analyses; it ends when the server drops its end of `jobs`.
    let (jobs, jobs_rx) = std::sync::mpsc::channel::<Job>();
    let (checked_tx, checked) = crossbeam_channel::unbounded::<Checked>();
    let checker = world.checker();
    std::thread::Builder::new()
        .name("iotc-lsp-check".into())
        // The main thread's usual stack (Linux's default 8 MiB): the
        // checks that ran there before run here now. Input depth is
        // bounded (syntax::limits), but a debug build's frames are large.
        .stack_size(CHECK_STACK)
        .spawn(move || {
            for job in jobs_rx {
                let checked = job.run(&checker);
                let analyses = checked.analyses();
                if checked_tx.send(checked).is_err() {
                    break;
                }
                // The name index, while the diagnostics are published.
                for a in analyses {
                    a.index();
                }
            }
        })
        .map_err(|e| format!("cannot start the checking thread: {e}"))?;
    let mut server = Server {
        conn: &connection,
        world,
        jobs,
        checked,
        running: None,
        want_check: false,
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
    /// To the checking thread, and back.
    jobs: std::sync::mpsc::Sender<Job>,
    checked: crossbeam_channel::Receiver<Checked>,
    /// A job is running on the checking thread, checking the documents of
    /// this generation.
    running: Option<u64>,
    /// A check fell due while one was running: start one when it ends.
    want_check: bool,
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

/// What the main loop waits for.
enum Event {
    Message(Message),
    /// A check ended on the checking thread.
    Checked(Checked),
    /// The re-check deadline passed.
    Due,
}

impl Server<'_> {
    fn main_loop(&mut self) -> Result<(), String> {
        loop {
            let event = match self.backlog.pop_front() {
                Some(m) => Event::Message(m),
                None => match self.receive() {
                    Ok(e) => e,
                    // The client is gone.
                    Err(()) => return Ok(()),
                },
            };
            let msg = match event {
                Event::Due => {
                    self.deadline = None;
                    self.start_check();
                    continue;
                }
                Event::Checked(c) => {
                    self.checked_arrived(c);
                    continue;
                }
                Event::Message(m) => m,
            };
            match msg {
                Message::Request(req) => {
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
                    // Answers are about the text the client has: a hover
                    // or completion from the newest analysis, mapped to
                    // that text; anything else after a check of it.
                    let names = navigation(&req.method);
                    if names {
                        self.world.names_only();
                    } else if !self.quick(&req) {
                        self.wait_fresh();
                        if self.cancelled(&req.id) {
                            self.send(Message::Response(canceled(req.id)));
                            continue;
                        }
                    }
                    let resp = self.request(req);
                    if names {
                        self.world.full_only();
                    }
                    self.send(Message::Response(resp));
                    let checked_here = self.world.take_unpublished();
                    self.publish_checked(checked_here);
                }
                Message::Notification(n) => {
                    if n.method == "exit" {
                        return Ok(());
                    }
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| self.notification(n)));
                }
                Message::Response(_) => {}
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

    /// The next event: a message from the connection, a check's result,
    /// or the re-check deadline passing; `Err` when the client is gone.
    fn receive(&mut self) -> Result<Event, ()> {
        let conn = &self.conn.receiver;
        let checked = &self.checked;
        Ok(match self.deadline {
            Some(deadline) => {
                let wait = deadline.saturating_duration_since(Instant::now());
                crossbeam_channel::select! {
                    recv(conn) -> m => Event::Message(m.map_err(|_| ())?),
                    recv(checked) -> c => Event::Checked(c.map_err(|_| ())?),
                    default(wait) => Event::Due,
                }
            }
            None => crossbeam_channel::select! {
                recv(conn) -> m => Event::Message(m.map_err(|_| ())?),
                recv(checked) -> c => Event::Checked(c.map_err(|_| ())?),
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
                self.start_check();
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

    /// Start re-checking the stale documents on the checking thread, or,
    /// when a check is running, once it ends.
    fn start_check(&mut self) {
        self.deadline = None;
        if self.running.is_some() {
            self.want_check = true;
            return;
        }
        let Some(job) = self.world.job() else { return };
        let generation = job.generation;
        if self.jobs.send(job).is_ok() {
            self.running = Some(generation);
        } else {
            // No checking thread (it cannot have ended while we hold its
            // channel, but never hang on it): check here.
            let done = self.world.refresh();
            self.publish_checked(done);
        }
    }

    /// A check ended: keep its analyses, publish the documents it made
    /// fresh, and start the check that fell due meanwhile.
    fn checked_arrived(&mut self, c: Checked) {
        self.running = None;
        let done = self.world.apply(c);
        self.publish_checked(done);
        if std::mem::take(&mut self.want_check) && self.deadline.is_none() {
            self.start_check();
        }
    }

    /// Wait until every open document has an analysis of its current text
    /// (at most the running check, then one of the current text);
    /// messages arriving meanwhile wait on the connection, in order.
    fn wait_fresh(&mut self) {
        self.deadline = None;
        while self.world.is_stale() {
            if self.running.is_none() {
                self.start_check();
                if self.running.is_none() {
                    // Checked here, on this thread (see start_check).
                    continue;
                }
            }
            match self.checked.recv() {
                Ok(c) => self.checked_arrived(c),
                Err(_) => {
                    self.running = None;
                    let done = self.world.refresh();
                    self.publish_checked(done);
                }
            }
        }
        self.want_check = false;
    }

    /// Publish the diagnostics of the documents `done` just made fresh,
    /// then free the analyses they replaced.
    fn publish_checked(&mut self, done: Vec<String>) {
        for key in done {
            let Some(uri) = uri_of_key(&key) else { continue };
            let diags = self
                .world
                .get(&key)
                .map(|a| diagnostics(&self.world, &key, a))
                .unwrap_or_default();
            self.publish(&uri, diags, self.world.version(&key));
        }
        self.world.release();
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

    /// See [`quick`]. Also a hover inside the edited text while a check
    /// of an older text runs: waiting would cost that check and one more,
    /// so it answers at once, with nothing (a typing burst never delays a
    /// hover by more than one re-check).
    fn quick(&self, req: &Request) -> bool {
        quick_while(&self.world, self.running, req)
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
    let mine = a.analysis.diagnostics.iter().filter(|d| d.primary.span.file == file);
    // No line table for a file without diagnostics (a clean check of a
    // large file is the common case).
    if mine.clone().next().is_none() {
        return Vec::new();
    }
    let ix = LineIndex::new(&src.text);
    mine.map(|d| to_lsp_diagnostic(w, a, &ix, d)).collect()
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

/// Whether `req` can be answered now, without waiting for a check of
/// the current text: a hover outside the text edited since the newest
/// analysis (its offsets mapped through the edit), or a completion (its
/// context read from the current text, the names from that analysis).
/// Everything else, and a document with no analysis yet, waits.
fn quick(w: &World, req: &Request) -> bool {
    // Formatting reads the text alone.
    if req.method == "textDocument/formatting" {
        return true;
    }
    let position = match req.method.as_str() {
        "textDocument/hover" | "textDocument/completion" => {
            serde_json::from_value::<lsp::TextDocumentPositionParams>(req.params.clone()).ok()
        }
        _ => None,
    };
    let Some(pos) = position else { return false };
    let key = key_of_uri(&pos.text_document.uri);
    if w.is_fresh(&key) {
        return true;
    }
    let Some(now) = Now::of(w, &pos) else { return false };
    req.method == "textDocument/completion" || now.map.is_none_or(|m| m.to_old(now.offset).is_some())
}

/// Requests answered from the names alone (definitions and references,
/// symbols, semantic tokens): while a check is due or runs, from the text
/// as it is now loaded and indexed without checking it
/// ([`World::names_only`]), instead of waiting for the check.
fn navigation(method: &str) -> bool {
    matches!(
        method,
        "textDocument/definition"
            | "textDocument/references"
            | "textDocument/prepareRename"
            | "textDocument/rename"
            | "textDocument/documentSymbol"
            | "workspace/symbol"
            | "textDocument/semanticTokens/full"
            | "textDocument/semanticTokens/full/delta"
            | "textDocument/semanticTokens/range"
    )
}

/// [`quick`], while the checking thread checks the documents of generation
/// `running`: a hover inside the edited text is answered at once (with
/// nothing) when that check is of an older text.
fn quick_while(w: &World, running: Option<u64>, req: &Request) -> bool {
    quick(w, req) || (req.method == "textDocument/hover" && running.is_some_and(|g| g != w.generation()))
}

// --------------------------------------------------------------- handlers

/// A position in an open document whose analysis may be of an older text
/// (a re-check is running): the document as it is now, the offset in it,
/// and the edit since the analysis (`None` when it is current).
struct Now<'w> {
    a: &'w Analyzed,
    file: iotc_compiler::source::FileId,
    text: &'w str,
    offset: usize,
    map: Option<EditMap>,
    /// The current text's lines (an open document's, kept with it).
    lines: Option<LineIndex<'w>>,
}

impl<'w> Now<'w> {
    fn of(w: &'w World, pos: &lsp::TextDocumentPositionParams) -> Option<Now<'w>> {
        let key = key_of_uri(&pos.text_document.uri);
        let a = w.get(&key)?;
        let (file, src) = doc_source(w, &key, a)?;
        let Some(doc) = w.docs.get(&key) else {
            return Some(Now {
                a,
                file,
                text: &src.text,
                offset: line_index::offset_in(src, pos.position),
                map: None,
                lines: None,
            });
        };
        let lines = doc.line_index();
        Some(Now {
            a,
            file,
            text: &doc.text,
            offset: lines.offset(pos.position),
            map: w.edit_since(&key, &src.text),
            lines: Some(lines),
        })
    }

    /// Where the top-level chunk (an item, or one that did not parse) the
    /// position is in starts, in the current text: the cursor's context is
    /// read from there instead of from the start of the file, and comes out
    /// the same, since nothing is open between chunks. From the
    /// analysis's chunks, through the edit since; 0 when unsure.
    fn chunk_start(&self) -> usize {
        let at = match self.map {
            None => self.offset,
            // Inside the edit: from before it (the same in both texts).
            Some(m) => m.to_old(self.offset).unwrap_or_else(|| m.start()),
        };
        let Some(unit) = self.a.analysis.program.units.iter().find(|u| u.file == self.file) else {
            return 0;
        };
        let start = unit
            .items
            .iter()
            .map(|i| i.span)
            .chain(unit.broken.iter().copied())
            .map(|s| s.start as usize)
            .filter(|&s| s <= at)
            .max()
            .unwrap_or(0);
        let start = match self.map {
            None => Some(start),
            Some(m) => m.to_new(start),
        };
        start
            .filter(|&s| s <= self.offset && self.text.is_char_boundary(s))
            .unwrap_or(0)
    }

    /// The current text from [`Now::chunk_start`], and the position's
    /// offset in it.
    fn chunk_text(&self) -> (&'w str, usize) {
        let from = self.chunk_start();
        match self.text.get(from..) {
            Some(t) => (t, self.offset - from),
            None => (self.text, self.offset),
        }
    }

    /// The range in the current text of a span of the analysis.
    fn range(&self, span: Span) -> Option<lsp::Range> {
        let (Some(m), Some(lines)) = (self.map, &self.lines) else {
            return to_range(self.a, span);
        };
        let (start, end) = (m.to_new(span.start as usize)?, m.to_new(span.end as usize)?);
        Some(lines.range(start, end))
    }
}

/// The position as [`Now::of`] finds it, after making an analysis for a
/// document that has none yet (a stdlib file, a file on disk the editor has
/// not opened). A document with one is answered from it, current or not
/// (Server::quick decided the request need not wait).
fn now_at<'w>(w: &'w mut World, pos: &lsp::TextDocumentPositionParams) -> Option<Now<'w>> {
    let key = key_of_uri(&pos.text_document.uri);
    if w.get(&key).is_none() {
        w.ensure(&key);
    }
    Now::of(w, pos)
}

fn hover(w: &mut World, p: lsp::HoverParams) -> Answer {
    let Some(now) = now_at(w, &p.text_document_position_params) else {
        return Ok(Value::Null);
    };
    // Through the edit since the analysis; inside it there is no answer.
    let offset = match now.map {
        Some(m) => m.to_old(now.offset),
        None => Some(now.offset),
    };
    let Some(h) = offset.and_then(|o| features::hover(now.a, now.file, o)) else {
        return Ok(Value::Null);
    };
    json(lsp::Hover {
        contents: lsp::HoverContents::Markup(lsp::MarkupContent {
            kind: lsp::MarkupKind::Markdown,
            value: h.markdown,
        }),
        range: now.range(h.span),
    })
}

fn completion(w: &mut World, p: lsp::CompletionParams) -> Answer {
    // While a re-check runs, the newest analysis's names with the context
    // of the text as it is now (Server::quick).
    let Some(now) = now_at(w, &p.text_document_position) else {
        return Ok(Value::Null);
    };
    let (text, offset) = now.chunk_text();
    let items: Vec<lsp::CompletionItem> = features::completions_in(now.a, text, offset)
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
        if a.index().definition(target).is_none() {
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
        at.a.index()
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
        for d in &a.index().definitions {
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
                    .and_then(|i| a.index().definitions.get(i))
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
    let hints: Vec<lsp::InlayHint> = features::inlay_hints_in(a, file, lo, hi)
        .into_iter()
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

/// Answers while a re-check runs: from the newest analysis, through the
/// edit since (no check of the current text is made to answer them).
#[cfg(test)]
mod stale_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
    use super::{completion, hover, quick, quick_while, World};
    use crate::world::StdFiles;
    use lsp_server::Request;
    use lsp_types as lsp;
    use serde_json::{json, Value};

    const KEY: &str = "/stale/main.iot";
    const OLD: &str = "solution s {\n  version = \"1.0.0\"\n}\n\nimport std.devices\n\nfleet f {\n  device = std.devices.rpi5\n  runtime = k3s\n  site a { gateways = 4  hosts = \"gw{n}.a.example\" }\n}\n\nservice api on f {\n  image = \"ghcr.io/x/api:1.0.0\"\n  replicas = 1 per gateway\n  port = 8080\n  cpu = 100m\n  memory = 64Mi\n}\n";

    /// A world whose analysis is of OLD while the document is `new`.
    fn stale_world(new: &str) -> World {
        let mut w = World::new(StdFiles::none());
        w.open(KEY.into(), OLD.into(), 1);
        w.refresh();
        assert!(w.is_fresh(KEY));
        w.change(KEY, new.into(), 2);
        assert!(!w.is_fresh(KEY) && w.get(KEY).is_some());
        w
    }

    fn position(text: &str, offset: usize) -> lsp::Position {
        let before = &text[..offset];
        let line = before.matches('\n').count();
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1);
        lsp::Position::new(line as u32, col as u32)
    }

    fn params(text: &str, offset: usize) -> Value {
        json!({ "textDocument": { "uri": format!("file://{KEY}") }, "position": position(text, offset) })
    }

    /// The labels of a completion answer.
    fn labels_of(items: &Value) -> Vec<&str> {
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap())
            .collect()
    }

    fn request(method: &str, text: &str, offset: usize) -> Request {
        Request::new(1.into(), method.into(), params(text, offset))
    }

    #[test]
    fn a_hover_outside_the_edit_is_answered_from_the_older_analysis() {
        // A line added above `service api`: everything after moves down.
        let new = OLD.replace("fleet f {", "// the plant's gateways\nfleet f {");
        let mut w = stale_world(&new);
        let at = new.find("api on").unwrap();
        assert!(quick(&w, &request("textDocument/hover", &new, at)));
        let h = hover(&mut w, serde_json::from_value(params(&new, at)).unwrap())
            .ok()
            .unwrap();
        // No check was made to answer it.
        assert!(!w.is_fresh(KEY));
        assert!(h["contents"]["value"].as_str().unwrap().contains("service api"), "{h}");
        // Its range is the name's in the current text, one line down.
        let start = position(&new, at);
        assert_eq!(h["range"]["start"], json!(start));
        assert_eq!(h["range"]["end"], json!(position(&new, at + 3)));
        // A count's value is the older analysis's (1 per gateway of 4).
        let r = new.find("replicas").unwrap();
        let h = hover(&mut w, serde_json::from_value(params(&new, r)).unwrap())
            .ok()
            .unwrap();
        assert!(
            h["contents"]["value"]
                .as_str()
                .unwrap()
                .contains("`4 = ceil(1 × 4 gateways"),
            "{h}"
        );
        assert!(!w.is_fresh(KEY));
    }

    #[test]
    fn a_hover_inside_the_edit_waits_for_the_check() {
        let new = OLD.replace("replicas = 1 per gateway", "replicas = 2 per gateway");
        let w = stale_world(&new);
        let at = new.find("2 per").unwrap();
        assert!(!quick(&w, &request("textDocument/hover", &new, at)));
        // Outside it, at once; and every other request waits.
        let port = new.find("port").unwrap();
        assert!(quick(&w, &request("textDocument/hover", &new, port)));
        assert!(!quick(&w, &request("textDocument/definition", &new, port)));
        assert!(!quick(&w, &request("textDocument/references", &new, port)));
    }

    #[test]
    fn a_typing_burst_never_delays_a_hover_by_more_than_one_recheck() {
        let new = OLD.replace("replicas = 1 per gateway", "replicas = 2 per gateway");
        let w = stale_world(&new);
        let at = new.find("2 per").unwrap();
        let req = request("textDocument/hover", &new, at);
        let now = w.generation();
        // No check running, or one of this text: the hover waits for it
        // (one re-check).
        assert!(!quick_while(&w, None, &req));
        assert!(!quick_while(&w, Some(now), &req));
        // One of an older text: waiting would cost it and one more, so the
        // hover is answered now, and with nothing (the word is changing).
        assert!(quick_while(&w, Some(now - 1), &req));
        let mut w = w;
        let h = hover(&mut w, serde_json::from_value(params(&new, at)).unwrap())
            .ok()
            .unwrap();
        assert_eq!(h, Value::Null);
        // Other requests wait whatever runs.
        assert!(!quick_while(
            &w,
            Some(now - 1),
            &request("textDocument/definition", &new, at)
        ));
    }

    /// Reading the cursor's context from the start of its top-level chunk
    /// gives the completions reading it from the start of the file gives,
    /// at every 7th offset of every example file, fresh and across an edit.
    #[test]
    fn completions_from_the_chunk_start_are_those_from_the_file_start() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let mut compared = 0;
        for name in [
            "factory/factory.iot",
            "factory/cloud.iot",
            "city/city.iot",
            "energy/energy.iot",
        ] {
            let text = std::fs::read_to_string(root.join(name)).unwrap();
            let key = format!("/chunk/{name}");
            let mut w = World::new(StdFiles::none());
            w.open(key.clone(), text.clone(), 1);
            w.refresh();
            // A line inserted before the middle: the older analysis's chunks
            // map through the edit.
            let mid = text[..text.len() / 2].rfind('\n').unwrap() + 1;
            let edited = format!("{}// note\n{}", &text[..mid], &text[mid..]);
            for (version, t) in [(1, &text), (2, &edited)] {
                if version == 2 {
                    w.change(&key, edited.clone(), 2);
                }
                for off in (0..t.len()).step_by(7).filter(|o| t.is_char_boundary(*o)) {
                    let pos = lsp::TextDocumentPositionParams {
                        text_document: lsp::TextDocumentIdentifier {
                            uri: format!("file://{key}").parse().unwrap(),
                        },
                        position: position(t, off),
                    };
                    let now = super::Now::of(&w, &pos).unwrap();
                    assert_eq!(now.offset, off);
                    let (chunk, at) = now.chunk_text();
                    let whole: Vec<String> = crate::features::completions_in(now.a, t, off)
                        .into_iter()
                        .map(|c| c.label)
                        .collect();
                    let part: Vec<String> = crate::features::completions_in(now.a, chunk, at)
                        .into_iter()
                        .map(|c| c.label)
                        .collect();
                    assert_eq!(part, whole, "{name} v{version} at {off}");
                    compared += 1;
                }
            }
        }
        assert!(compared > 5000, "{compared}");
    }

    #[test]
    fn a_completion_reads_the_current_text_with_the_older_names() {
        // `runtime = ` just typed into a new line of the fleet: the older
        // text has no such statement there.
        let new = OLD.replace("  runtime = k3s\n", "  runtime = k3s\n  labels { }\n  device = \n");
        let at = new.find("device = \n").unwrap() + "device = ".len();
        let mut w = stale_world(&new);
        assert!(quick(&w, &request("textDocument/completion", &new, at)));
        let items = completion(&mut w, serde_json::from_value(params(&new, at)).unwrap())
            .ok()
            .unwrap();
        assert!(!w.is_fresh(KEY));
        let labels = labels_of(&items);
        // A device reference: the stdlib's devices, read after `std.`.
        assert!(!labels.is_empty(), "{labels:?}");
        assert!(!labels.contains(&"service"), "{labels:?}");
        // A new top-level line: the keywords.
        let new2 = format!("{OLD}\nse");
        let mut w = stale_world(&new2);
        let items = completion(&mut w, serde_json::from_value(params(&new2, new2.len())).unwrap())
            .ok()
            .unwrap();
        let labels = labels_of(&items);
        assert!(labels.contains(&"service"), "{labels:?}");
        assert!(!w.is_fresh(KEY));
    }
}
