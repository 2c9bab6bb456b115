//! The studio's HTTP side: who may ask ([`Guard`]), the routes, and the
//! loop over `tiny_http`'s requests (one at a time; the page is used by one
//! person). The session token is checked before anything else is read.

use super::session::Session;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::net::IpAddr;

const PAGE: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

/// The largest request body read (knob values are a few bytes each).
const MAX_BODY: u64 = 1 << 20;

/// Who may talk to the studio: requests carrying the session token, sent
/// to the address the studio listens on (no DNS-rebound name), from the
/// page itself (no foreign `Origin`, not cross-site).
#[derive(Debug, Clone)]
pub struct Guard {
    pub token: String,
    pub listen: IpAddr,
    pub port: u16,
}

/// Why a request was refused: status and a short reason (shown as text).
pub type Refusal = (u16, &'static str);

impl Guard {
    /// The `Host` values accepted: the listen address and, when it is a
    /// loopback or unspecified address, the loopback names. Names other
    /// than `localhost` are refused, whatever they resolve to.
    fn host_ok(&self, host: &str) -> bool {
        let port = self.port.to_string();
        let Some(name) = host.strip_suffix(&port).and_then(|h| h.strip_suffix(':')) else {
            return false;
        };
        let ip: Option<IpAddr> = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name)
            .parse()
            .ok();
        let local = self.listen.is_loopback() || self.listen.is_unspecified();
        match ip {
            Some(ip) if ip == self.listen => true,
            Some(ip) if local && ip.is_loopback() => true,
            // Listening on every address: any address literal of this
            // machine may be used, but never a name (DNS rebinding).
            Some(_) => self.listen.is_unspecified(),
            None => local && name.eq_ignore_ascii_case("localhost"),
        }
    }

    /// Check one request. `header` looks a header up by name
    /// (case-insensitively); `query_token` is the URL's `token=`.
    pub fn check(
        &self,
        method: &str,
        query_token: Option<&str>,
        header: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), Refusal> {
        match header("Host") {
            Some(h) if self.host_ok(&h) => {}
            Some(_) => return Err((421, "foreign Host: open the studio at the address it printed")),
            None => return Err((400, "no Host header")),
        }
        if let Some(origin) = header("Origin") {
            let host = origin.strip_prefix("http://").unwrap_or("");
            if !self.host_ok(host) {
                return Err((403, "foreign Origin: the studio answers its own page only"));
            }
        }
        if let Some(site) = header("Sec-Fetch-Site") {
            if site != "same-origin" && site != "none" {
                return Err((403, "cross-site request refused"));
            }
        }
        // Reading (GET) may take the token from the URL the studio printed;
        // anything that changes state must carry it in a header, which a
        // cross-site form or link cannot set.
        let given = match method {
            "GET" | "HEAD" => header("X-Iotc-Token").or_else(|| query_token.map(str::to_string)),
            _ => header("X-Iotc-Token"),
        };
        match given {
            Some(t) if constant_time_eq(t.as_bytes(), self.token.as_bytes()) => Ok(()),
            Some(_) => Err((403, "wrong session token")),
            None => Err((401, "missing session token: open the URL `iotc studio` printed")),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new session token: 32 random bytes as hex.
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random source for the session token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A response before it is turned into `tiny_http`'s.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, value: &impl serde::Serialize) -> Reply {
        Reply {
            status,
            content_type: "application/json; charset=utf-8",
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    fn text(status: u16, text: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: text.as_bytes().to_vec(),
        }
    }
}

#[derive(Deserialize)]
struct PreviewRequest {
    #[serde(default)]
    values: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct SaveRequest {
    #[serde(default)]
    values: BTreeMap<String, String>,
    base: String,
}

/// The path and the `token` query parameter of a request target.
pub fn split_target(url: &str) -> (&str, Option<&str>) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let token = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .filter(|t| !t.is_empty());
    (path, token)
}

/// Answer one request that passed the [`Guard`].
pub fn route(session: &mut Session, token: &str, method: &str, path: &str, body: &[u8]) -> Reply {
    match (method, path) {
        ("GET", "/") | ("GET", "/index.html") => Reply {
            status: 200,
            content_type: "text/html; charset=utf-8",
            // The token is hex: nothing to escape.
            body: PAGE.replace("{{TOKEN}}", token).into_bytes(),
        },
        ("GET", "/app.js") => Reply {
            status: 200,
            content_type: "text/javascript; charset=utf-8",
            body: SCRIPT.as_bytes().to_vec(),
        },
        ("GET", "/app.css") => Reply {
            status: 200,
            content_type: "text/css; charset=utf-8",
            body: STYLE.as_bytes().to_vec(),
        },
        ("GET", "/api/state") => Reply::json(200, &session.state()),
        ("GET", "/api/poll") => match session.poll() {
            Ok(reloaded) => Reply::json(
                200,
                &serde_json::json!({
                    "generation": session.generation(),
                    "reloaded": reloaded,
                    "values_changed_on_disk": session.values_changed_on_disk(),
                }),
            ),
            Err(e) => Reply::text(500, &e),
        },
        ("POST", "/api/preview") => match serde_json::from_slice::<PreviewRequest>(body) {
            Ok(r) => Reply::json(200, &session.view(&r.values)),
            Err(e) => Reply::text(400, &format!("bad request: {e}")),
        },
        ("POST", "/api/picture") => match serde_json::from_slice::<PreviewRequest>(body) {
            Ok(r) => Reply::json(200, &session.picture(&r.values)),
            Err(e) => Reply::text(400, &format!("bad request: {e}")),
        },
        ("POST", "/api/save") => match serde_json::from_slice::<SaveRequest>(body) {
            Ok(r) => {
                let outcome = session.save(&r.values, &r.base);
                let status = match &outcome {
                    super::session::SaveOutcome::Saved { .. } => 200,
                    super::session::SaveOutcome::Conflict { .. } => 409,
                    super::session::SaveOutcome::Rejected { .. } => 422,
                    super::session::SaveOutcome::Failed { .. } => 500,
                };
                Reply::json(status, &outcome)
            }
            Err(e) => Reply::text(400, &format!("bad request: {e}")),
        },
        ("POST", "/api/reload") => match session.reload_from_disk() {
            Ok(()) => Reply::json(200, &session.state()),
            Err(e) => Reply::text(500, &e),
        },
        (_, "/" | "/index.html" | "/app.js" | "/app.css" | "/api/state" | "/api/poll") => {
            Reply::text(405, "method not allowed")
        }
        (_, "/api/preview" | "/api/picture" | "/api/save" | "/api/reload") => Reply::text(405, "method not allowed"),
        _ => Reply::text(404, "not found"),
    }
}

fn header(name: &str, value: &str) -> Option<tiny_http::Header> {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

/// Serve until the process is stopped.
pub fn serve(server: &tiny_http::Server, guard: &Guard, session: &mut Session) {
    for mut request in server.incoming_requests() {
        let method = request.method().as_str().to_ascii_uppercase();
        let url = request.url().to_string();
        let (path, query_token) = split_target(&url);
        let path = path.to_string();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|h| (h.field.as_str().as_str().to_string(), h.value.as_str().to_string()))
            .collect();
        let lookup = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let reply = match guard.check(&method, query_token, &lookup) {
            Err((status, reason)) => Reply::text(status, reason),
            Ok(()) => {
                let mut body = Vec::new();
                let read = request.as_reader().take(MAX_BODY + 1).read_to_end(&mut body);
                if read.is_err() || body.len() as u64 > MAX_BODY {
                    Reply::text(413, "request body too large")
                } else if method == "POST" && !lookup("Content-Type").is_some_and(|c| c.starts_with("application/json"))
                {
                    Reply::text(415, "send JSON")
                } else {
                    route(session, &guard.token, &method, &path, &body)
                }
            }
        };
        // Always a Content-Length (the body is in memory), never chunked.
        let mut response = tiny_http::Response::from_data(reply.body)
            .with_status_code(reply.status)
            .with_chunked_threshold(usize::MAX);
        let headers = [
            ("Content-Type", reply.content_type),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "DENY"),
            ("Referrer-Policy", "no-referrer"),
            (
                "Content-Security-Policy",
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        ];
        for (n, v) in headers {
            if let Some(h) = header(n, v) {
                response.add_header(h);
            }
        }
        let _ = request.respond(response);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(listen: &str) -> Guard {
        Guard {
            token: "t0k".into(),
            listen: listen.parse().unwrap(),
            port: 8080,
        }
    }

    fn check(g: &Guard, method: &str, query: Option<&str>, headers: &[(&str, &str)]) -> Result<(), u16> {
        let h: Vec<(String, String)> = headers.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        g.check(method, query, &|name| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        })
        .map_err(|(s, _)| s)
    }

    #[test]
    fn hosts_accepted_and_refused() {
        let g = guard("127.0.0.1");
        for ok in ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST:8080"] {
            assert!(g.host_ok(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "127.0.0.1:8081",
            "127.0.0.1",
            "192.168.1.2:8080",
            "127.0.0.1.nip.io:8080",
        ] {
            assert!(!g.host_ok(bad), "{bad}");
        }
        let lan = guard("192.168.1.5");
        assert!(lan.host_ok("192.168.1.5:8080"));
        assert!(!lan.host_ok("localhost:8080"));
        let any = guard("0.0.0.0");
        assert!(any.host_ok("10.0.0.7:8080"));
        assert!(!any.host_ok("studio.example:8080"));
    }

    #[test]
    fn token_origin_and_fetch_site_rules() {
        let g = guard("127.0.0.1");
        let host = ("Host", "127.0.0.1:8080");
        assert_eq!(check(&g, "GET", Some("t0k"), &[host]), Ok(()));
        assert_eq!(check(&g, "GET", None, &[host]), Err(401));
        assert_eq!(check(&g, "GET", Some("t0K"), &[host]), Err(403));
        assert_eq!(
            check(&g, "GET", Some("t0k"), &[("Host", "evil.example:8080")]),
            Err(421)
        );
        assert_eq!(check(&g, "GET", Some("t0k"), &[]), Err(400));
        let origin = ("Origin", "http://evil.example");
        assert_eq!(check(&g, "GET", Some("t0k"), &[host, origin]), Err(403));
        let own = ("Origin", "http://127.0.0.1:8080");
        assert_eq!(check(&g, "POST", None, &[host, own, ("X-Iotc-Token", "t0k")]), Ok(()));
        // A state change needs the header, not the URL.
        assert_eq!(check(&g, "POST", Some("t0k"), &[host, own]), Err(401));
        let cross = ("Sec-Fetch-Site", "cross-site");
        assert_eq!(check(&g, "GET", Some("t0k"), &[host, cross]), Err(403));
        let same = ("Sec-Fetch-Site", "same-origin");
        assert_eq!(check(&g, "GET", Some("t0k"), &[host, same]), Ok(()));
    }

    #[test]
    fn target_splits_path_and_token() {
        assert_eq!(split_target("/?token=abc"), ("/", Some("abc")));
        assert_eq!(split_target("/api/state?x=1&token=abc"), ("/api/state", Some("abc")));
        assert_eq!(split_target("/api/state?token="), ("/api/state", None));
        assert_eq!(split_target("/app.js"), ("/app.js", None));
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
