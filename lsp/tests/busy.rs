//! Answers while a re-check is due or runs (issue 15): the server checks on
//! a thread of its own, so a hover or a completion sent right behind a
//! change is answered from the newest analysis, before that change's
//! diagnostics, instead of waiting for its re-check; navigation (definition,
//! references, symbols) is answered from the current text loaded and
//! indexed without a check; requests that need the check (inlay hints show
//! counts) wait for it. Deterministic: the
//! requests are queued behind the change, so the server reads them before
//! it starts the check, and the order of the messages shows which request
//! waited. (The rule for a hover inside the edited text is tested in
//! `server.rs`, `stale_tests`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{json, Value};

const URI: &str = "file:///busy/fleet.iot";

struct Client {
    conn: Connection,
    next: i32,
}

impl Client {
    fn notify(&self, method: &str, params: Value) {
        self.conn
            .sender
            .send(Message::Notification(Notification::new(method.into(), params)))
            .unwrap();
    }

    fn send(&mut self, method: &str, params: Value) -> RequestId {
        self.next += 1;
        let id = RequestId::from(self.next);
        self.conn
            .sender
            .send(Message::Request(Request::new(id.clone(), method.into(), params)))
            .unwrap();
        id
    }

    /// The messages up to and including the response to `id`, and that
    /// response's result.
    fn until(&self, id: &RequestId) -> (Vec<Message>, Value) {
        let mut seen = Vec::new();
        loop {
            let m = self.conn.receiver.recv().unwrap();
            if let Message::Response(r) = &m {
                if &r.id == id {
                    assert!(r.error.is_none(), "{:?}", r.error);
                    return (seen, r.result.clone().unwrap_or(Value::Null));
                }
            }
            seen.push(m);
        }
    }

    fn wait_diagnostics(&self, version: i32) {
        loop {
            if let Message::Notification(n) = self.conn.receiver.recv().unwrap() {
                if n.method == "textDocument/publishDiagnostics" && n.params["version"] == version {
                    assert_eq!(n.params["diagnostics"], json!([]), "the solution checks clean");
                    return;
                }
            }
        }
    }
}

fn diagnosed(seen: &[Message], version: i32) -> bool {
    seen.iter().any(|m| {
        matches!(m, Message::Notification(n)
            if n.method == "textDocument/publishDiagnostics" && n.params["version"] == version)
    })
}

fn position(text: &str, at: usize) -> Value {
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map_or(0, |i| i + 1);
    json!({ "line": line, "character": col })
}

#[test]
fn hovers_and_completions_do_not_wait_for_the_recheck() {
    let text = iotc_bench::fleet_workload(200, 40);
    let (server, client) = Connection::memory();
    let thread = std::thread::spawn(move || iotc_lsp::run(server, iotc_lsp::world::StdFiles::none()));
    let mut c = Client { conn: client, next: 0 };
    let init = c.send("initialize", json!({ "capabilities": {} }));
    c.until(&init);
    c.notify("initialized", json!({}));
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": URI, "languageId": "iot", "version": 0, "text": text } }),
    );
    c.wait_diagnostics(0);

    // A change near the top; a hover on a reference near the end.
    let edited = text.replacen("replicas = 1 per 10", "replicas = 1 per 11", 1);
    let at = edited.rfind(" on edge").unwrap() + 5;
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 1 }, "contentChanges": [{ "text": edited }] }),
    );
    let hover = c.send(
        "textDocument/hover",
        json!({ "textDocument": { "uri": URI }, "position": position(&edited, at) }),
    );
    let end = edited.lines().count() - 2;
    let completion = c.send(
        "textDocument/completion",
        json!({ "textDocument": { "uri": URI }, "position": { "line": end, "character": 2 } }),
    );
    let (seen, h) = c.until(&hover);
    assert!(!diagnosed(&seen, 1), "the hover waited for the re-check");
    assert!(h["contents"]["value"].as_str().unwrap().contains("fleet edge"), "{h}");
    // Its range is where the name is in the text as it is now.
    assert_eq!(h["range"]["start"], position(&edited, at - 1));
    assert_eq!(h["range"]["end"], position(&edited, at + 3));
    let (seen, items) = c.until(&completion);
    assert!(!diagnosed(&seen, 1), "the completion waited for the re-check");
    assert!(
        items.as_array().unwrap().iter().any(|i| i["label"] == "replicas"),
        "{items}"
    );

    // Navigation is answered from the text as it is now, loaded and
    // indexed without being checked: no wait either. Lines inserted at the
    // top move everything, so an answer from the older analysis would
    // point a line too high.
    c.wait_diagnostics(1);
    let moved = format!("// moved\n{edited}");
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": URI, "version": 2 }, "contentChanges": [{ "text": moved }] }),
    );
    let at = moved.rfind(" on edge").unwrap() + 5;
    let definition = c.send(
        "textDocument/definition",
        json!({ "textDocument": { "uri": URI }, "position": position(&moved, at) }),
    );
    let (seen, d) = c.until(&definition);
    assert!(!diagnosed(&seen, 2), "the definition waited for the re-check");
    let fleet = moved.find("fleet edge").unwrap() + "fleet ".len();
    assert_eq!(d["range"]["start"], position(&moved, fleet), "{d}");
    let references = c.send(
        "textDocument/references",
        json!({ "textDocument": { "uri": URI }, "position": position(&moved, fleet), "context": { "includeDeclaration": true } }),
    );
    let (seen, r) = c.until(&references);
    assert!(!diagnosed(&seen, 2), "the references waited for the re-check");
    assert!(
        r.as_array()
            .unwrap()
            .iter()
            .any(|l| l["range"]["start"] == position(&moved, at - 1)),
        "{r}"
    );
    let symbols = c.send("textDocument/documentSymbol", json!({ "textDocument": { "uri": URI } }));
    let (seen, _) = c.until(&symbols);
    assert!(!diagnosed(&seen, 2), "the symbols waited for the re-check");
    // Inlay hints show counts: they wait for the check of this text.
    let end = moved.lines().count();
    let hints = c.send(
        "textDocument/inlayHint",
        json!({ "textDocument": { "uri": URI }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": end, "character": 0 } } }),
    );
    let (seen, h) = c.until(&hints);
    assert!(diagnosed(&seen, 2), "the inlay hints did not wait for the re-check");
    assert!(!h.as_array().unwrap().is_empty(), "{h}");

    let shutdown = c.send("shutdown", Value::Null);
    c.until(&shutdown);
    c.notify("exit", Value::Null);
    thread.join().unwrap().unwrap();
}
