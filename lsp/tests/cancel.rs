//! `$/cancelRequest`: a request the client cancels before the server gets
//! to it is answered `RequestCanceled` without being worked on; the others
//! are answered as usual, in order. Deterministic: every message is queued
//! on the in-memory connection before the server starts, so the
//! cancellation is already waiting behind the request it names.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId};
use serde_json::{json, Value};
use std::path::Path;

fn request(client: &Connection, id: i32, method: &str, params: Value) {
    client
        .sender
        .send(Message::Request(Request::new(
            RequestId::from(id),
            method.into(),
            params,
        )))
        .unwrap();
}

fn notify(client: &Connection, method: &str, params: Value) {
    client
        .sender
        .send(Message::Notification(Notification::new(method.into(), params)))
        .unwrap();
}

#[test]
fn queued_cancellation_answers_request_canceled() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/factory/factory.iot");
    let path = path.canonicalize().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let uri = format!("file://{}", path.display());
    let hover = json!({ "textDocument": { "uri": uri }, "position": { "line": 0, "character": 1 } });

    let (server, client) = Connection::memory();
    request(&client, 1, "initialize", json!({ "capabilities": {} }));
    notify(&client, "initialized", json!({}));
    notify(
        &client,
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": uri, "languageId": "iot", "version": 0, "text": text } }),
    );
    request(&client, 2, "textDocument/hover", hover.clone());
    request(&client, 3, "textDocument/hover", hover.clone());
    notify(&client, "$/cancelRequest", json!({ "id": 2 }));
    // A cancellation of a request that never came, and a string id.
    notify(&client, "$/cancelRequest", json!({ "id": 99 }));
    request(
        &client,
        4,
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": uri } }),
    );
    request(&client, 5, "shutdown", Value::Null);
    notify(&client, "exit", Value::Null);

    let thread = std::thread::spawn(move || iotc_lsp::run(server, iotc_lsp::world::StdFiles::none()));
    let mut answers = Vec::new();
    while let Ok(m) = client.receiver.recv() {
        if let Message::Response(r) = m {
            answers.push(r);
        }
    }
    thread.join().unwrap().unwrap();

    let ids: Vec<RequestId> = answers.iter().map(|r| r.id.clone()).collect();
    let expected: Vec<RequestId> = (1..=5).map(RequestId::from).collect();
    assert_eq!(ids, expected, "every request answered once, in order");
    let cancelled = answers[1].error.as_ref().expect("request 2 was cancelled");
    assert_eq!(cancelled.code, ErrorCode::RequestCanceled as i32);
    assert!(answers[1].result.is_none());
    for r in [&answers[2], &answers[3]] {
        assert!(r.error.is_none(), "request {:?} was not cancelled: {:?}", r.id, r.error);
    }
    let symbols = answers[3].result.as_ref().and_then(Value::as_array).expect("symbols");
    assert!(!symbols.is_empty(), "the document's symbols, from a real analysis");
}
