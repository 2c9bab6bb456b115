//! `iotc studio`: a local web page where operators turn the solution's
//! knobs (its `param`s) and see, before saving, what each tier becomes.
//! The page is embedded in the binary; the checker runs in-process.

mod server;
mod session;
mod values_file;

pub use server::{new_token, split_target, Guard};
pub use session::{Knob, Problem, SaveOutcome, Session, State, View};
pub use values_file::{diff, update, write_atomically, DiffLine};

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

/// `iotc studio FILE.iot [--values F] [--port N] [--open] [--listen ADDR]`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The solution's root file.
    pub file: String,
    /// The values file to edit (default: `X.values.toml` beside `X.iot`;
    /// created on the first save if it does not exist).
    #[arg(long, value_name = "FILE.toml")]
    pub values: Option<String>,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 7878)]
    pub port: u16,
    /// Open the page in the default browser.
    #[arg(long)]
    pub open: bool,
    /// Address to listen on. Anything but 127.0.0.1 or ::1 is reachable by
    /// others on the network: the studio warns, and still requires the
    /// session token.
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub listen: IpAddr,
}

/// Run the studio until the process is stopped.
pub fn run(args: &Args) -> ExitCode {
    let mut session = match Session::load(&args.file, args.values.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let token = match new_token() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match tiny_http::Server::http(SocketAddr::new(args.listen, args.port)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on {}:{}: {e}", args.listen, args.port);
            return ExitCode::from(2);
        }
    };
    let port = server.server_addr().to_ip().map_or(args.port, |a| a.port());
    let local =
        args.listen == IpAddr::V4(Ipv4Addr::LOCALHOST) || args.listen == IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
    if !local {
        let _ = writeln!(
            std::io::stderr(),
            "warning: listening on {}, not on 127.0.0.1: anyone who can reach this address and has the URL below can change `{}`; keep the token secret",
            args.listen,
            session.values_path()
        );
    }
    let host = match args.listen {
        IpAddr::V6(a) if a.is_unspecified() => "[::1]".to_string(),
        IpAddr::V4(a) if a.is_unspecified() => "127.0.0.1".to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
        IpAddr::V4(a) => a.to_string(),
    };
    let url = format!("http://{host}:{port}/?token={token}");
    // Written without panicking: whoever started the studio may have
    // closed its output.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "iotc studio: {} (values: {})",
        session.root(),
        session.values_path()
    );
    let _ = writeln!(out, "open {url}");
    let _ = writeln!(out, "stop with Ctrl-C");
    let _ = out.flush();
    drop(out);
    if args.open {
        let _ = std::process::Command::new("xdg-open").arg(&url).spawn();
    }
    let guard = Guard {
        token,
        listen: args.listen,
        port,
    };
    server::serve(&server, &guard, &mut session);
    ExitCode::SUCCESS
}
