//! `iotc-bench studio`: knob change → updated view data, as the page gets
//! it. The fleet workload with one knob (`param scale`, the first site's
//! gateway count, so cloud nodes and every linked replica count follow) is
//! served by the release `iotc studio` on a loopback port; each timed run is
//! one `POST /api/preview` with a new value, from sending the request to
//! having read the whole JSON answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use iotc_bench::knob_workload;

pub struct StudioOptions {
    pub iotc: PathBuf,
    pub runs: usize,
    pub sizes: Vec<(usize, usize)>,
}

/// One request; returns the body's length.
fn request(addr: &str, raw: &str) -> Result<(u16, Vec<u8>), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    s.write_all(raw.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| e.to_string())?;
    let head_end = out.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no HTTP head")?;
    let head = String::from_utf8_lossy(out.get(..head_end).unwrap_or_default()).to_string();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or("no status")?;
    Ok((status, out.get(head_end + 4..).unwrap_or_default().to_vec()))
}

fn median(sorted: &[Duration]) -> Duration {
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

pub fn run(opts: &StudioOptions) -> Result<(), String> {
    iotc_bench::require_iotc(&opts.iotc)?;
    let dir = iotc_bench::scratch_dir("iotc-bench-studio")?;
    println!(
        "| services × sites | first state ms | preview median ms | min ms | max ms | of which re-check ms | view data ms | answer KiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &(services, sites) in &opts.sizes {
        let file = dir.join(format!("fleet-{services}x{sites}.iot"));
        std::fs::write(&file, knob_workload(services, sites)?).map_err(|e| e.to_string())?;
        let mut child = Command::new(&opts.iotc)
            .arg("studio")
            .arg(&file)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", opts.iotc.display()))?;
        let result = (|| {
            let mut reader = BufReader::new(child.stdout.take().ok_or("no stdout")?);
            let mut url = None;
            for _ in 0..3 {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(u) = line.trim_end().strip_prefix("open http://") {
                    url = Some(u.to_string());
                }
            }
            let url = url.ok_or("iotc studio printed no URL")?;
            let (addr, query) = url.split_once('/').ok_or("bad URL")?;
            let token = query.strip_prefix("?token=").ok_or("no token")?;
            let start = Instant::now();
            let (status, _) = request(
                addr,
                &format!("GET /api/state?token={token} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
            )?;
            let first = start.elapsed();
            if status != 200 {
                return Err(format!("state: HTTP {status}"));
            }
            let mut times = Vec::new();
            let mut checks = Vec::new();
            let mut views = Vec::new();
            let mut size = 0;
            // One warm-up, then the timed runs, cycling the knob 2..=8.
            for i in 0..=opts.runs {
                let body = format!(r#"{{"values":{{"scale":"{}"}}}}"#, 2 + i % 7);
                let raw = format!(
                    "POST /api/preview HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-Iotc-Token: {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let start = Instant::now();
                let (status, answer) = request(addr, &raw)?;
                let took = start.elapsed();
                if status != 200 || !answer.starts_with(br#"{"ok":true"#) {
                    return Err(format!(
                        "preview failed (HTTP {status}): {}",
                        String::from_utf8_lossy(answer.get(..300.min(answer.len())).unwrap_or_default())
                    ));
                }
                size = answer.len();
                if i > 0 {
                    times.push(took);
                    // The studio's own split: re-check, then view data.
                    let text = String::from_utf8_lossy(&answer);
                    let field = |name: &str| {
                        text.rsplit_once(&format!("\"{name}\":"))
                            .and_then(|(_, rest)| rest.split([',', '}']).next())
                            .and_then(|v| v.parse::<f64>().ok())
                            .unwrap_or(0.0)
                    };
                    checks.push(field("check_ms"));
                    views.push(field("view_ms"));
                }
            }
            let _keep_open = reader;
            times.sort();
            checks.sort_by(f64::total_cmp);
            views.sort_by(f64::total_cmp);
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let mid = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(0.0);
            println!(
                "| {services} × {sites} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
                ms(first),
                ms(median(&times)),
                ms(times.first().copied().unwrap_or_default()),
                ms(times.last().copied().unwrap_or_default()),
                mid(&checks),
                mid(&views),
                size / 1024
            );
            Ok(())
        })();
        let _ = child.kill();
        let _ = child.wait();
        result?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_knob_is_declared_and_used() {
        let text = knob_workload(10, 10).unwrap();
        assert!(text.contains("param scale: int = 1 { min = 1  max = 8 }"));
        assert!(text.contains("site s0000 { gateways = scale "));
        assert!(text.starts_with("// Generated by iotc-bench"));
    }
}
