//! Latency of `iotc lsp` on a generated solution of about 10,000 lines
//! (not a timed test: it prints numbers; see lsp/README.md).
//!
//!   cargo bench -p iotc-lsp --bench latency
//!
//! The server runs in-process over lsp-server's in-memory connection, so
//! the numbers include JSON (de)serialisation and the main loop but not a
//! pipe. Measurements:
//! - didChange after a quiet spell → publishDiagnostics, as an editor sees
//!   a single edit (the server checks at once); and the same for an edit
//!   that changes the text's length near its top, so that every item after
//!   it moves;
//! - didChange within 100 ms of the previous one (typing) →
//!   publishDiagnostics: includes the 100 ms pause the server waits for
//!   more typing;
//! - didChange + a request → publishDiagnostics: the request forces the
//!   re-check at once, so this is the re-check and conversion alone;
//! - hover and completion on a fresh analysis;
//! - hover, completion and definition sent right behind a change after a
//!   quiet spell, while its re-check runs on the server's checking thread.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

// The same allocator as the `iotc` binary that runs the server.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const URI: &str = "file:///bench/fleet.iot";

fn main() {
    // As `iotc lsp` does (cli/src/main.rs): keep freed memory for 10 s
    // (mimalloc's `mi_option_purge_delay`, index 15).
    // SAFETY: only stores an option value, before any thread starts.
    unsafe { libmimalloc_sys::mi_option_set(15, 10_000) }
    let (services, sites) = (1300, 260);
    let text = iotc_bench::fleet_workload(services, sites);
    let lines = text.lines().count();
    let (server, client) = Connection::memory();
    let thread = std::thread::spawn(move || iotc_lsp::run(server, iotc_lsp::world::StdFiles::none()));
    let mut next = 0;
    let mut call = |client: &Connection, method: &str, params: Value| -> (Duration, Value) {
        next += 1;
        let id = RequestId::from(next);
        let t = Instant::now();
        client
            .sender
            .send(Message::Request(Request::new(id.clone(), method.into(), params)))
            .unwrap();
        loop {
            match client.receiver.recv().unwrap() {
                Message::Response(r) if r.id == id => {
                    assert!(r.error.is_none(), "{method}: {:?}", r.error);
                    return (t.elapsed(), r.result.unwrap_or(Value::Null));
                }
                _ => {}
            }
        }
    };
    let notify = |client: &Connection, method: &str, params: Value| {
        client
            .sender
            .send(Message::Notification(Notification::new(method.into(), params)))
            .unwrap();
    };
    let wait_diagnostics = |client: &Connection, version: i32| -> usize {
        loop {
            if let Message::Notification(n) = client.receiver.recv().unwrap() {
                if n.method == "textDocument/publishDiagnostics" && n.params["version"] == version {
                    return n.params["diagnostics"].as_array().map(Vec::len).unwrap_or(0);
                }
            }
        }
    };

    call(&client, "initialize", json!({ "capabilities": {} }));
    notify(&client, "initialized", json!({}));
    let t = Instant::now();
    notify(
        &client,
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": URI, "languageId": "iot", "version": 0, "text": text } }),
    );
    let n = wait_diagnostics(&client, 0);
    assert_eq!(n, 0, "the generated solution must check clean");
    let open = t.elapsed();

    let runs = 40;
    let mut quiet = Vec::new();
    let mut debounced = Vec::new();
    let mut forced = Vec::new();
    for v in 1..=runs * 3 {
        // An edit that changes a count, so the check does real work.
        let edited = text.replacen("replicas = 1 per 10", &format!("replicas = 1 per {}", 10 + v % 3), 1);
        if v % 3 == 1 {
            // A quiet spell before this edit.
            std::thread::sleep(Duration::from_millis(250));
        }
        let t = Instant::now();
        notify(
            &client,
            "textDocument/didChange",
            json!({ "textDocument": { "uri": URI, "version": v }, "contentChanges": [{ "text": edited }] }),
        );
        if v % 3 == 1 {
            wait_diagnostics(&client, v);
            quiet.push(t.elapsed());
        } else if v % 3 == 2 {
            // Right after the previous edit's diagnostics: typing.
            wait_diagnostics(&client, v);
            debounced.push(t.elapsed());
        } else {
            // A request right after the change that needs the check (inlay
            // hints show counts): the server re-checks at once.
            let id = RequestId::from(1_000_000 + v);
            client
                .sender
                .send(Message::Request(Request::new(
                    id,
                    "textDocument/inlayHint".into(),
                    json!({ "textDocument": { "uri": URI }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 1, "character": 0 } } }),
                )))
                .unwrap();
            wait_diagnostics(&client, v);
            forced.push(t.elapsed());
        }
    }

    // Hover on a reference to the fleet, deep in the file; completion of
    // a field in the last service.
    let at = text.rfind(" on edge").unwrap() + 5;
    let line = text[..at].matches('\n').count();
    let col = at - text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let pos = json!({ "line": line, "character": col });
    let mut hover = Vec::new();
    let mut completion = Vec::new();
    let mut hover_count = Vec::new();
    let mut inlay = Vec::new();
    let count_at = text.rfind("1 per 10").unwrap() + 2;
    let count_line = text[..count_at].matches('\n').count();
    let count_col = count_at - text[..count_at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let end_line = text.lines().count() - 2;
    for _ in 0..50 {
        let (d, r) = call(
            &client,
            "textDocument/hover",
            json!({ "textDocument": { "uri": URI }, "position": pos }),
        );
        assert!(r["contents"]["value"].as_str().unwrap().contains("fleet edge"), "{r}");
        hover.push(d);
        let (d, r) = call(
            &client,
            "textDocument/hover",
            json!({ "textDocument": { "uri": URI }, "position": { "line": count_line, "character": count_col } }),
        );
        assert!(r["contents"]["value"].as_str().unwrap().contains("replicas"), "{r}");
        hover_count.push(d);
        let (d, r) = call(
            &client,
            "textDocument/completion",
            json!({ "textDocument": { "uri": URI }, "position": { "line": end_line, "character": 2 } }),
        );
        assert!(!r.as_array().unwrap().is_empty(), "{r}");
        completion.push(d);
        // The hints of a screenful of services, as an editor asks after
        // each change.
        let (d, r) = call(
            &client,
            "textDocument/inlayHint",
            json!({ "textDocument": { "uri": URI }, "range": { "start": { "line": end_line - 60, "character": 0 }, "end": { "line": end_line, "character": 0 } } }),
        );
        assert!(r.as_array().unwrap().len() >= 5, "{r}");
        inlay.push(d);
    }
    // While a re-check runs: a change after a quiet spell starts one at
    // once (on the server's checking thread); a hover and a completion
    // sent right behind it are answered from the newest analysis. Each
    // answer is timed, and counted as "before" when it came before the
    // change's diagnostics (so the re-check was still running).
    let mut hover_busy = Vec::new();
    let mut completion_busy = Vec::new();
    let mut definition_busy = Vec::new();
    let mut before = 0;
    let mut next_id = 2_000_000;
    let mut version = runs * 3;
    for _ in 0..runs {
        version += 1;
        std::thread::sleep(Duration::from_millis(250));
        let edited = text.replacen(
            "replicas = 1 per 10",
            &format!("replicas = 1 per {}", 10 + version % 3),
            1,
        );
        notify(
            &client,
            "textDocument/didChange",
            json!({ "textDocument": { "uri": URI, "version": version }, "contentChanges": [{ "text": edited }] }),
        );
        let mut diagnosed = false;
        for (method, position, into) in [
            ("textDocument/hover", pos.clone(), &mut hover_busy),
            (
                "textDocument/completion",
                json!({ "line": end_line, "character": 2 }),
                &mut completion_busy,
            ),
            ("textDocument/definition", pos.clone(), &mut definition_busy),
        ] {
            next_id += 1;
            let id = RequestId::from(next_id);
            let t = Instant::now();
            client
                .sender
                .send(Message::Request(Request::new(
                    id.clone(),
                    method.into(),
                    json!({ "textDocument": { "uri": URI }, "position": position }),
                )))
                .unwrap();
            loop {
                match client.receiver.recv().unwrap() {
                    Message::Response(r) if r.id == id => {
                        into.push(t.elapsed());
                        let r = r.result.unwrap();
                        assert!(r.is_object() || !r.as_array().unwrap().is_empty(), "{method}: {r}");
                        before += usize::from(!diagnosed);
                        break;
                    }
                    Message::Notification(n)
                        if n.method == "textDocument/publishDiagnostics" && n.params["version"] == version =>
                    {
                        diagnosed = true;
                    }
                    _ => {}
                }
            }
        }
        if !diagnosed {
            wait_diagnostics(&client, version);
        }
    }

    // An edit that changes the length of the text near its top, so every
    // item after it moves (a count one digit longer, then shorter again):
    // those items are found in the parse cache but must be moved.
    let mut moved = Vec::new();
    for i in 0..runs {
        version += 1;
        std::thread::sleep(Duration::from_millis(250));
        let per = if i % 2 == 0 { "100" } else { "10" };
        let edited = text.replacen("replicas = 1 per 10", &format!("replicas = 1 per {per}"), 1);
        let t = Instant::now();
        notify(
            &client,
            "textDocument/didChange",
            json!({ "textDocument": { "uri": URI, "version": version }, "contentChanges": [{ "text": edited }] }),
        );
        wait_diagnostics(&client, version);
        moved.push(t.elapsed());
    }

    call(&client, "shutdown", Value::Null);
    notify(&client, "exit", Value::Null);
    thread.join().unwrap().unwrap();

    // Where a re-check's time goes, without the protocol.
    let db = iotc_compiler::source::MemoryDb::new().with("/bench/fleet.iot", &text);
    let mut analyze = Vec::new();
    let mut cached = Vec::new();
    let mut index = Vec::new();
    let mut drop_time = Vec::new();
    let parse_cache = iotc_compiler::syntax::ParseCache::new();
    for v in 0..runs {
        // As the server re-checks an edit: the items the edit did not touch
        // come from the parse cache.
        let edited = text.replacen("replicas = 1 per 10", &format!("replicas = 1 per {}", 10 + v % 3), 1);
        let edited_db = iotc_compiler::source::MemoryDb::new().with("/bench/fleet.iot", &edited);
        parse_cache.sweep();
        let t = Instant::now();
        let a = iotc_compiler::analyze_with(
            &edited_db,
            "/bench/fleet.iot",
            &iotc_compiler::Overrides::default(),
            Some(&parse_cache),
        );
        cached.push(t.elapsed());
        drop(a);
        let t = Instant::now();
        let a = iotc_compiler::analyze(&db, "/bench/fleet.iot", &iotc_compiler::Overrides::default());
        analyze.push(t.elapsed());
        let t = Instant::now();
        let ix = iotc_compiler::ide::index(&a.program);
        index.push(t.elapsed());
        let t = Instant::now();
        drop((a, ix));
        drop_time.push(t.elapsed());
    }

    println!(
        "solution: {services} services × {sites} sites, {lines} lines, {} bytes",
        text.len()
    );
    println!("| measurement | median ms | p95 ms | min ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    row("didOpen → diagnostics (first check)", &mut [open]);
    row("didChange after a quiet spell → diagnostics", &mut quiet);
    row(
        "didChange after a quiet spell, moving every later item → diagnostics",
        &mut moved,
    );
    row(
        "didChange while typing → diagnostics (includes the 100 ms pause)",
        &mut debounced,
    );
    row("didChange + request → diagnostics (re-check alone)", &mut forced);
    row("  of which: compiler `analyze`, edited item re-parsed", &mut cached);
    row("  (compiler `analyze` from scratch, for comparison)", &mut analyze);
    row("  of which: name index (`ide::index`)", &mut index);
    row("  of which: freeing the previous analysis", &mut drop_time);
    row("hover on a reference", &mut hover);
    row("hover on a linked count", &mut hover_count);
    row("completion of a field", &mut completion);
    row("inlay hints of 60 lines of services", &mut inlay);
    row("hover on a reference while a re-check runs", &mut hover_busy);
    row("completion of a field while a re-check runs", &mut completion_busy);
    row(
        "definition while a re-check runs (names of the current text)",
        &mut definition_busy,
    );
    println!(
        "answered before the re-check's diagnostics: {before} of {}",
        hover_busy.len() + completion_busy.len() + definition_busy.len()
    );
}

fn row(name: &str, samples: &mut [Duration]) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = samples[samples.len() / 2];
    // The nearest-rank 95th percentile.
    let p95 = samples[(samples.len() * 95).div_ceil(100).saturating_sub(1)];
    println!(
        "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
        ms(median),
        ms(p95),
        ms(samples[0]),
        ms(samples[samples.len() - 1])
    );
}
