//! `iotc lsp` over stdio, driven like an editor drives it: the real binary,
//! framed JSON-RPC, every feature once, then shutdown and exit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

#[path = "../../bench/src/hostile.rs"]
mod hostile_inputs;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);

struct Client {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    /// Notifications read while waiting for a response.
    notifications: Vec<Value>,
    next_id: i64,
}

impl Client {
    fn start(cache: &Path) -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_iotc"))
            .arg("lsp")
            .env("XDG_CACHE_HOME", cache)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            loop {
                let mut len = None;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse::<usize>().ok();
                    }
                }
                let mut buf = vec![0; len.unwrap()];
                if r.read_exact(&mut buf).is_err() {
                    return;
                }
                if tx.send(serde_json::from_slice::<Value>(&buf).unwrap()).is_err() {
                    return;
                }
            }
        });
        Client {
            child,
            stdin,
            incoming: rx,
            notifications: Vec::new(),
            next_id: 1,
        }
    }

    fn send(&mut self, msg: Value) {
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Send a request and wait for its whole response message.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let msg = self.recv(deadline).unwrap_or_else(|| panic!("no answer to {method}"));
            if msg.get("id") == Some(&json!(id)) && msg.get("method").is_none() {
                return msg;
            }
            self.notifications.push(msg);
        }
    }

    /// A request's result; fails on an error response.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let msg = self.call(method, params);
        assert!(msg.get("error").is_none(), "{method} failed: {msg}");
        msg["result"].clone()
    }

    fn recv(&mut self, deadline: Instant) -> Option<Value> {
        let wait = deadline.saturating_duration_since(Instant::now());
        self.incoming.recv_timeout(wait).ok()
    }

    /// Wait for diagnostics of `uri` at `version`.
    fn diagnostics(&mut self, uri: &str, version: i64) -> Vec<Value> {
        let matches = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && m["params"]["version"] == version
        };
        if let Some(i) = self.notifications.iter().position(matches) {
            let m = self.notifications.remove(i);
            return m["params"]["diagnostics"].as_array().unwrap().clone();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let msg = self
                .recv(deadline)
                .unwrap_or_else(|| panic!("no diagnostics for {uri} v{version}"));
            if matches(&msg) {
                return msg["params"]["diagnostics"].as_array().unwrap().clone();
            }
        }
    }

    fn initialize(&mut self, root: &Path) -> Value {
        let result = self.request(
            "initialize",
            json!({ "processId": null, "rootUri": uri(root), "capabilities": {} }),
        );
        self.notify("initialized", json!({}));
        result
    }

    /// `shutdown`, `exit`, and the process ends by itself with success.
    fn shutdown(mut self) {
        let r = self.call("shutdown", Value::Null);
        assert_eq!(r["result"], Value::Null, "{r}");
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "iotc lsp exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "iotc lsp did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iotc-lsp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap()
}

fn pos(text: &str, needle: &str, shift: usize) -> Value {
    let at = text.find(needle).unwrap_or_else(|| panic!("{needle} not in text")) + shift;
    let line = text[..at].matches('\n').count();
    let col = text[..at].rsplit('\n').next().unwrap().encode_utf16().count();
    json!({ "line": line, "character": col })
}

const MAIN: &str = r#"solution demo {
  version = "1.0.0"
}

import "./edge.iot"

/// Collects readings; one per gateway.
service collector on plants {
  image = "ghcr.io/acme/collector:1.0"
  replicas = 1 per gateway
  memroy = 128Mi
}
"#;

const EDGE: &str = r#"import std.devices

/// The plants.
fleet plants {
  device = std.devices.rpi5
  runtime = k3s
  site north { gateways = 3  hosts = "gw{n}.north" }
  site south { gateways = 2  hosts = "gw{n}.south" }
}
"#;

#[test]
fn an_editor_session_over_stdio() {
    let dir = temp_dir("session");
    let cache = dir.join("cache");
    let main = dir.join("main.iot");
    let edge = dir.join("edge.iot");
    std::fs::write(&main, MAIN).unwrap();
    std::fs::write(&edge, EDGE).unwrap();
    let (main_uri, edge_uri) = (uri(&main), uri(&edge));

    let mut c = Client::start(&cache);
    let init = c.initialize(&dir);
    let caps = &init["capabilities"];
    assert_eq!(caps["textDocumentSync"], 1, "{caps}");
    for cap in [
        "hoverProvider",
        "completionProvider",
        "definitionProvider",
        "referencesProvider",
        "renameProvider",
        "documentFormattingProvider",
        "inlayHintProvider",
        "codeActionProvider",
        "semanticTokensProvider",
    ] {
        assert!(!caps[cap].is_null(), "{cap} missing from {caps}");
    }

    // didOpen: diagnostics at once, with the document's version.
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": main_uri, "languageId": "iot", "version": 1, "text": MAIN } }),
    );
    let diags = c.diagnostics(&main_uri, 1);
    let d = diags
        .iter()
        .find(|d| d["code"] == "E0105")
        .unwrap_or_else(|| panic!("{diags:?}"));
    assert_eq!(d["range"]["start"], pos(MAIN, "memroy", 0));
    assert_eq!(d["severity"], 1);
    assert!(d["message"].as_str().unwrap().contains("did you mean `memory`?"), "{d}");
    let href = d["codeDescription"]["href"].as_str().unwrap();
    assert!(href.ends_with("/errors/E0105.md"), "{href}");
    let page = std::fs::read_to_string(href.strip_prefix("file://").unwrap()).unwrap();
    assert!(page.contains("E0105"), "{page}");

    // The quick fix for "did you mean".
    let actions = c.request(
        "textDocument/codeAction",
        json!({
            "textDocument": { "uri": main_uri },
            "range": d["range"],
            "context": { "diagnostics": [d] },
        }),
    );
    let action = &actions[0];
    assert_eq!(action["kind"], "quickfix");
    assert_eq!(action["edit"]["changes"][&main_uri][0]["newText"], "memory");

    // didChange: diagnostics after the pause, for the new version.
    let fixed = MAIN.replace("memroy", "memory");
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": main_uri, "version": 2 }, "contentChanges": [{ "text": fixed }] }),
    );
    let diags = c.diagnostics(&main_uri, 2);
    assert!(diags.iter().all(|d| d["severity"] != 1), "{diags:?}");

    // Hover: a reference's doc comment, a keyword, a linked count.
    let hover = c.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": main_uri }, "position": pos(&fixed, "on plants", 4) }),
    );
    let md = hover["contents"]["value"].as_str().unwrap();
    assert!(md.contains("fleet plants") && md.contains("The plants."), "{md}");
    let hover = c.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": main_uri }, "position": pos(&fixed, "1 per gateway", 2) }),
    );
    let md = hover["contents"]["value"].as_str().unwrap();
    assert!(md.contains("site `north`: `3") && md.contains("total: `5`"), "{md}");

    // Completion inside the service body.
    let edited = fixed.replace("  memory = 128Mi\n", "  memory = 128Mi\n  \n");
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": main_uri, "version": 3 }, "contentChanges": [{ "text": edited }] }),
    );
    let items = c.request(
        "textDocument/completion",
        json!({ "textDocument": { "uri": main_uri }, "position": pos(&edited, "128Mi\n  \n", 8) }),
    );
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert!(labels.contains(&"cpu") && labels.contains(&"env"), "{labels:?}");
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": main_uri, "version": 4 }, "contentChanges": [{ "text": fixed }] }),
    );

    // Definition: into the imported file, and into the read-only stdlib.
    let def = c.request(
        "textDocument/definition",
        json!({ "textDocument": { "uri": main_uri }, "position": pos(&fixed, "on plants", 4) }),
    );
    assert_eq!(def["uri"], edge_uri);
    assert_eq!(def["range"]["start"], pos(EDGE, "fleet plants", 6));
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": edge_uri, "languageId": "iot", "version": 1, "text": EDGE } }),
    );
    let def = c.request(
        "textDocument/definition",
        json!({ "textDocument": { "uri": edge_uri }, "position": pos(EDGE, "rpi5", 1) }),
    );
    let std_uri = def["uri"].as_str().unwrap();
    assert!(std_uri.ends_with("/devices.iot"), "{def}");
    let std_path = std_uri.strip_prefix("file://").unwrap();
    assert!(std::fs::metadata(std_path).unwrap().permissions().readonly());

    // References: across both files.
    let refs = c.request(
        "textDocument/references",
        json!({
            "textDocument": { "uri": edge_uri },
            "position": pos(EDGE, "fleet plants", 7),
            "context": { "includeDeclaration": true },
        }),
    );
    let uris: Vec<&str> = refs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris.len(), 2, "{refs}");
    assert!(uris.contains(&main_uri.as_str()) && uris.contains(&edge_uri.as_str()));

    // Rename: validated, and applied in both files.
    let bad = c.call(
        "textDocument/rename",
        json!({ "textDocument": { "uri": main_uri }, "position": pos(&fixed, "on plants", 4), "newName": "on" }),
    );
    assert!(bad["error"]["message"].as_str().unwrap().contains("keyword"), "{bad}");
    let edit = c.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": main_uri }, "position": pos(&fixed, "on plants", 4), "newName": "edge" }),
    );
    assert_eq!(edit["changes"][&main_uri].as_array().unwrap().len(), 1, "{edit}");
    assert_eq!(edit["changes"][&edge_uri][0]["newText"], "edge");
    let std_rename = c.call(
        "textDocument/rename",
        json!({ "textDocument": { "uri": edge_uri }, "position": pos(EDGE, "rpi5", 1), "newName": "pi" }),
    );
    assert!(std_rename.get("error").is_some(), "{std_rename}");

    // Formatting: the same formatter as `iotc fmt`.
    let messy = "solution   demo {\n version=\"1.0.0\"\n}\n";
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": edge_uri, "version": 2 }, "contentChanges": [{ "text": messy }] }),
    );
    let edits = c.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": edge_uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert_eq!(
        edits[0]["newText"],
        iotc_compiler::fmt::format_source(messy).unwrap().as_str()
    );
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": edge_uri, "version": 3 }, "contentChanges": [{ "text": EDGE }] }),
    );

    // Inlay hints: per site and in total.
    let hints = c.request(
        "textDocument/inlayHint",
        json!({
            "textDocument": { "uri": main_uri },
            "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 99, "character": 0 } },
        }),
    );
    assert_eq!(hints[0]["label"], " = north 3, south 2 (total 5)", "{hints}");
    assert_eq!(hints[0]["position"], pos(&fixed, "gateway\n", 7));

    // Symbols.
    let symbols = c.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": edge_uri } }),
    );
    assert_eq!(symbols[0]["name"], "plants");
    assert_eq!(symbols[0]["children"][1]["name"], "south");
    let found = c.request("workspace/symbol", json!({ "query": "coll" }));
    assert_eq!(found[0]["name"], "collector", "{found}");

    // Semantic tokens: the legend, the whole file, a delta and a range.
    let legend = &caps["semanticTokensProvider"]["legend"];
    let types: Vec<&str> = legend["tokenTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(types.contains(&"keyword") && types.contains(&"class"), "{legend}");
    let full = c.request(
        "textDocument/semanticTokens/full",
        json!({ "textDocument": { "uri": edge_uri } }),
    );
    let data = full["data"].as_array().unwrap();
    assert!(data.len() >= 5 && data.len().is_multiple_of(5), "{full}");
    // The file starts with a keyword at 0:0.
    let keyword = types.iter().position(|t| *t == "keyword").unwrap();
    assert_eq!(&data[..2], &[json!(0), json!(0)], "{full}");
    assert_eq!(data[3], json!(keyword), "{full}");
    let id = full["resultId"].as_str().unwrap().to_string();
    let delta = c.request(
        "textDocument/semanticTokens/full/delta",
        json!({ "textDocument": { "uri": edge_uri }, "previousResultId": id }),
    );
    assert_eq!(delta["edits"], json!([]), "unchanged text, no edits: {delta}");
    let stale = c.request(
        "textDocument/semanticTokens/full/delta",
        json!({ "textDocument": { "uri": edge_uri }, "previousResultId": "no-such-result" }),
    );
    assert_eq!(stale["data"], full["data"], "an unknown result id gets every token");
    let range = c.request(
        "textDocument/semanticTokens/range",
        json!({
            "textDocument": { "uri": edge_uri },
            "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 1, "character": 0 } },
        }),
    );
    let ranged = range["data"].as_array().unwrap();
    assert!(!ranged.is_empty() && ranged.len() < data.len(), "{range}");
    assert_eq!(&ranged[..], &data[..ranged.len()], "a range's tokens are the file's");

    // Unknown requests get MethodNotFound; the server goes on.
    let unknown = c.call("iotc/noSuchThing", json!({}));
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    let bad_params = c.call("textDocument/hover", json!({ "nonsense": true }));
    assert!(bad_params.get("error").is_some(), "{bad_params}");

    c.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn typing_an_example_into_the_real_server() {
    let dir = temp_dir("typing");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/factory");
    let text = std::fs::read_to_string(root.join("factory.iot")).unwrap();
    // Beside the real cloud.iot, so the import resolves from disk.
    let main = root.canonicalize().unwrap().join("factory.iot");
    let main_uri = uri(&main);
    let mut c = Client::start(&dir.join("cache"));
    c.initialize(&dir);
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": main_uri, "languageId": "iot", "version": 0, "text": "" } }),
    );
    let steps = 25;
    let stride = text.len() / steps;
    let mut version = 0;
    for i in (0..text.len()).step_by(stride.max(1)).chain([text.len()]) {
        let mut at = i;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        let prefix = &text[..at];
        version += 1;
        c.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": main_uri, "version": version }, "contentChanges": [{ "text": prefix }] }),
        );
        let end = pos(prefix, prefix, prefix.len());
        for method in [
            "textDocument/hover",
            "textDocument/completion",
            "textDocument/definition",
        ] {
            let r = c.call(method, json!({ "textDocument": { "uri": main_uri }, "position": end }));
            assert!(r.get("error").is_none(), "{method} at {at}: {r}");
        }
        let r = c.call(
            "textDocument/inlayHint",
            json!({
                "textDocument": { "uri": main_uri },
                "range": { "start": { "line": 0, "character": 0 }, "end": end },
            }),
        );
        assert!(r.get("error").is_none(), "inlay hints at {at}: {r}");
    }
    // The finished file checks clean (the hints need no errors).
    let diags = c.diagnostics(&main_uri, version);
    assert!(diags.iter().all(|d| d["severity"] != 1), "{diags:?}");
    c.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every hostile input (issue 12) opened in the real server: it answers
/// each with diagnostics and serves every feature on it, and it is still
/// alive at the end (an abort or a stack overflow would end the process).
#[test]
fn the_server_survives_every_hostile_input() {
    let dir = temp_dir("hostile");
    let mut c = Client::start(&dir.join("cache"));
    c.initialize(&dir);
    for (i, case) in hostile_inputs::cases().into_iter().enumerate() {
        if case.heavy {
            continue;
        }
        let file = dir.join(format!("{}.iot", case.name));
        let file_uri = uri(&file);
        let version = i64::try_from(i).unwrap() + 1;
        c.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": file_uri, "languageId": "iot", "version": version, "text": case.text } }),
        );
        let diags = c.diagnostics(&file_uri, version);
        let errors: Vec<&str> = diags
            .iter()
            .filter(|d| d["severity"] == 1)
            .filter_map(|d| d["code"].as_str())
            .collect();
        match case.expect {
            hostile_inputs::Expect::Clean => assert!(errors.is_empty(), "{}: {errors:?}", case.name),
            hostile_inputs::Expect::Code(code) => assert!(errors.contains(&code), "{}: {errors:?}", case.name),
        }
        let middle = {
            let mut at = case.text.len() / 2;
            while !case.text.is_char_boundary(at) {
                at -= 1;
            }
            pos(&case.text, &case.text[..at], at)
        };
        let end = pos(&case.text, &case.text, case.text.len());
        for position in [json!({ "line": 0, "character": 0 }), middle, end.clone()] {
            for method in [
                "textDocument/hover",
                "textDocument/completion",
                "textDocument/definition",
            ] {
                let r = c.call(
                    method,
                    json!({ "textDocument": { "uri": file_uri }, "position": position }),
                );
                assert!(r.get("error").is_none(), "{}: {method}: {r}", case.name);
            }
        }
        let r = c.call(
            "textDocument/formatting",
            json!({ "textDocument": { "uri": file_uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
        );
        assert!(r.get("error").is_none(), "{}: formatting: {r}", case.name);
        let r = c.call(
            "textDocument/inlayHint",
            json!({
                "textDocument": { "uri": file_uri },
                "range": { "start": { "line": 0, "character": 0 }, "end": end },
            }),
        );
        assert!(r.get("error").is_none(), "{}: inlay hints: {r}", case.name);
        c.notify("textDocument/didClose", json!({ "textDocument": { "uri": file_uri } }));
    }
    c.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
