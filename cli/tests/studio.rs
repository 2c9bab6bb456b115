//! `iotc studio` over real HTTP: the binary is started on a free loopback
//! port and spoken to with raw HTTP/1.1 over a TCP socket, so what is
//! tested is what a browser (or a stranger) would get.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running studio; stopped when dropped.
struct Studio {
    child: Child,
    /// `127.0.0.1:PORT`.
    addr: String,
    token: String,
    stderr: String,
    /// Kept open: the studio must not write into a closed pipe.
    _pipes: (Box<dyn BufRead>, Option<std::process::ChildStderr>),
}

impl Drop for Studio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(file: &Path, extra: &[&str], env: &[(&str, &str)]) -> Studio {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iotc"));
    cmd.arg("studio")
        .arg(file)
        .args(["--port", "0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    // The URL is on the second line; bounded: the studio prints three.
    let mut url = None;
    for _ in 0..3 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if let Some(u) = line.trim_end().strip_prefix("open ") {
            url = Some(u.to_string());
        }
    }
    let url = url.expect("the studio printed no URL");
    let rest = url.strip_prefix("http://").unwrap();
    let (addr, query) = rest.split_once('/').unwrap();
    let token = query.strip_prefix("?token=").unwrap().to_string();
    let mut stderr = String::new();
    let mut err = child.stderr.take();
    if !extra.is_empty() {
        // Whatever it warned about before the URL (one short write).
        let mut buf = [0u8; 4096];
        if let Some(e) = err.as_mut() {
            let n = e.read(&mut buf).unwrap_or(0);
            stderr = String::from_utf8_lossy(&buf[..n]).to_string();
        }
    }
    Studio {
        child,
        addr: addr.to_string(),
        token,
        stderr,
        _pipes: (Box::new(reader), err),
    }
}

/// One raw request; returns (status, body).
fn request(addr: &str, raw: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status: u16 = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn get(addr: &str, host: &str, path: &str, headers: &[&str]) -> (u16, String) {
    let mut raw = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for h in headers {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    request(addr, &raw)
}

fn post(addr: &str, path: &str, headers: &[&str], body: &str) -> (u16, String) {
    let mut raw = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in headers {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    raw.push_str(body);
    request(addr, &raw)
}

/// A copy of examples/factory in a fresh folder.
fn factory_copy(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iotc-studio-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["factory.iot", "cloud.iot"] {
        std::fs::copy(common::root().join("examples/factory").join(f), dir.join(f)).unwrap();
    }
    dir
}

#[test]
fn strangers_are_refused() {
    let dir = factory_copy("refused");
    let s = start(&dir.join("factory.iot"), &[], &[]);
    let a = s.addr.as_str();
    let t = &s.token;
    // The page and the API with the token.
    assert_eq!(get(a, a, &format!("/?token={t}"), &[]).0, 200);
    assert_eq!(get(a, a, &format!("/api/state?token={t}"), &[]).0, 200);
    // Missing and wrong token.
    let (status, body) = get(a, a, "/api/state", &[]);
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("plants"), "{body}");
    assert_eq!(get(a, a, "/", &[]).0, 401);
    assert_eq!(get(a, a, "/app.js", &[]).0, 401);
    // The same token with its last character changed (never to itself).
    let last = if t.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &t[..t.len() - 1]);
    assert_ne!(&wrong, t);
    assert_eq!(get(a, a, &format!("/api/state?token={wrong}"), &[]).0, 403);
    assert_eq!(get(a, a, "/api/state", &[&format!("X-Iotc-Token: {wrong}")]).0, 403);
    // A foreign Host (DNS rebinding), even with the right token.
    let (status, _) = get(a, "studio.evil.example", &format!("/api/state?token={t}"), &[]);
    assert_eq!(status, 421);
    let port = a.rsplit(':').next().unwrap();
    assert_eq!(
        get(a, &format!("evil.example:{port}"), &format!("/?token={t}"), &[]).0,
        421
    );
    assert_eq!(
        get(a, &format!("localhost:{port}"), &format!("/?token={t}"), &[]).0,
        200
    );
    // A foreign Origin, and a cross-site fetch.
    let path = format!("/api/state?token={t}");
    assert_eq!(get(a, a, &path, &["Origin: http://evil.example"]).0, 403);
    assert_eq!(get(a, a, &path, &[&format!("Origin: http://{a}")]).0, 200);
    assert_eq!(get(a, a, &path, &["Sec-Fetch-Site: cross-site"]).0, 403);
    assert_eq!(get(a, a, &path, &["Sec-Fetch-Site: same-site"]).0, 403);
    // State changes need the token in a header, not in the URL.
    let body = r#"{"values":{"factor":"3"},"base":""}"#;
    assert_eq!(post(a, &format!("/api/save?token={t}"), &[], body).0, 401);
    assert_eq!(post(a, "/api/save", &[], body).0, 401);
    assert_eq!(
        post(
            a,
            "/api/save",
            &["Origin: http://evil.example", &format!("X-Iotc-Token: {t}")],
            body
        )
        .0,
        403
    );
    assert!(
        !dir.join("factory.values.toml").exists(),
        "a refused save wrote the file"
    );
    // With the header, a save goes through.
    let (status, saved) = post(a, "/api/save", &[&format!("X-Iotc-Token: {t}")], body);
    assert_eq!(status, 200, "{saved}");
    assert_eq!(
        std::fs::read_to_string(dir.join("factory.values.toml")).unwrap(),
        "# Param values for factory.iot, written by `iotc studio`.\nfactor = 3\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn listening_elsewhere_warns_and_still_needs_the_token() {
    let dir = factory_copy("listen");
    // 127.0.0.2 is not the default address (tests bind loopback only).
    let s = start(&dir.join("factory.iot"), &["--listen", "127.0.0.2"], &[]);
    assert!(s.addr.starts_with("127.0.0.2:"), "{}", s.addr);
    assert!(s.stderr.contains("warning: listening on 127.0.0.2"), "{}", s.stderr);
    let a = s.addr.as_str();
    assert_eq!(get(a, a, "/api/state", &[]).0, 401);
    assert_eq!(get(a, a, "/api/state?token=nope", &[]).0, 403);
    assert_eq!(get(a, a, &format!("/api/state?token={}", s.token), &[]).0, 200);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_secret_value_reaches_the_page() {
    // Secret values live in the environment, in a file and (wrongly) in a
    // plain env var; the page may see references only.
    const CANARY: &str = "canary-7f3a9c1e-do-not-leak";
    let dir = factory_copy("canary");
    let secret_file = dir.join("upload-token");
    std::fs::write(&secret_file, format!("{CANARY}-file")).unwrap();
    let cloud = std::fs::read_to_string(dir.join("cloud.iot")).unwrap().replace(
        "    IMAGE_BUCKET = \"s3://acme-data/defects/\"\n",
        &format!("    IMAGE_BUCKET = \"s3://acme-data/defects/\"\n    API_TOKEN = \"{CANARY}-literal\"\n"),
    );
    assert!(cloud.contains(CANARY));
    std::fs::write(dir.join("cloud.iot"), cloud).unwrap();
    let factory = std::fs::read_to_string(dir.join("factory.iot"))
        .unwrap()
        .replace("/etc/acme/uploader/token", secret_file.to_str().unwrap());
    std::fs::write(dir.join("factory.iot"), factory).unwrap();
    let s = start(
        &dir.join("factory.iot"),
        &[],
        &[("FACTORY_DB_PASSWORD", &format!("{CANARY}-env"))],
    );
    let (a, t) = (s.addr.as_str(), s.token.as_str());
    let mut seen = Vec::new();
    for path in ["/", "/app.js", "/app.css", "/api/state", "/api/poll"] {
        let (status, body) = get(a, a, &format!("{path}?token={t}"), &[]);
        assert_eq!(status, 200, "{path}");
        seen.push(body);
    }
    let h = format!("X-Iotc-Token: {t}");
    for factor in ["3", "30"] {
        for route in ["/api/preview", "/api/picture"] {
            let body = format!(r#"{{"values":{{"factor":"{factor}"}}}}"#);
            let (status, answer) = post(a, route, &[&h], &body);
            assert_eq!(status, 200, "{route}");
            seen.push(answer);
        }
    }
    assert!(seen[6].contains("<svg "), "{}", seen[6]);
    let state = &seen[3];
    // The warning about the literal is there, and the references are.
    assert!(state.contains("W0501"), "{state}");
    assert!(state.contains("API_TOKEN looks like a secret"), "{state}");
    for body in &seen {
        assert!(!body.contains(CANARY), "a secret value reached the page: {body}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_save_after_the_file_changed_on_disk_is_refused_with_the_difference() {
    let dir = factory_copy("conflict");
    let values = dir.join("factory.values.toml");
    std::fs::write(&values, "# agreed with ops\nfactor = 2 # lines per plant\n").unwrap();
    let s = start(&dir.join("factory.iot"), &[], &[]);
    let (a, t) = (s.addr.as_str(), s.token.as_str());
    let (_, state) = get(a, a, &format!("/api/state?token={t}"), &[]);
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let base = state["base"].as_str().unwrap().to_string();
    assert_eq!(state["view"]["knobs"][0]["origin"], "values file");
    // Someone edits the file.
    std::fs::write(&values, "# agreed with ops\nfactor = 4 # lines per plant\n").unwrap();
    let h = format!("X-Iotc-Token: {t}");
    let (status, body) = post(
        a,
        "/api/save",
        &[&h],
        &format!(r#"{{"values":{{"factor":"6"}},"base":"{base}"}}"#),
    );
    assert_eq!(status, 409, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let diff: Vec<String> = v["diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("{}{}", l["op"].as_str().unwrap(), l["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        diff,
        [
            " # agreed with ops",
            "-factor = 2 # lines per plant",
            "+factor = 4 # lines per plant"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(&values).unwrap(),
        "# agreed with ops\nfactor = 4 # lines per plant\n"
    );
    // After a reload, the save keeps the comments.
    let (status, state) = post(a, "/api/reload", &[&h], "{}");
    assert_eq!(status, 200);
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let base = state["base"].as_str().unwrap();
    let (status, _) = post(
        a,
        "/api/save",
        &[&h],
        &format!(r#"{{"values":{{"factor":"6"}},"base":"{base}"}}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(
        std::fs::read_to_string(&values).unwrap(),
        "# agreed with ops\nfactor = 6 # lines per plant\n"
    );
    // Values that do not check are not written.
    let (_, state) = get(a, a, &format!("/api/state?token={t}"), &[]);
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let base = state["base"].as_str().unwrap();
    let (status, body) = post(
        a,
        "/api/save",
        &[&h],
        &format!(r#"{{"values":{{"factor":"99"}},"base":"{base}"}}"#),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("E0210"), "{body}");
    assert!(std::fs::read_to_string(&values).unwrap().contains("factor = 6"));
    let _ = std::fs::remove_dir_all(&dir);
}
