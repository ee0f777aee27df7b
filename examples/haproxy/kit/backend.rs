//! The small HTTP/1.1 server an instance runs: it answers with its revision, starts
//! listening after a configurable time, and misbehaves on request.
//!
//! `cargo run --example haproxy -- backend --revision v2 --fail-share 0.1` runs one by
//! hand. Options:
//!
//! | option | meaning |
//! |---|---|
//! | `--revision <r>` | what it answers (body and `x-revision` header) |
//! | `--instance <id>` | its name (`x-instance` header) |
//! | `--port <p>` | where it listens (default 0: any free port) |
//! | `--start-ms <n>` | how long it takes to start listening |
//! | `--fail-health` | `GET /health` answers 503 |
//! | `--fail-share <f>` | a share `f` of the other requests answer 500, spread evenly |
//! | `--slow-ms <n>` | every other request waits `n` ms before it answers |
//!
//! Once listening it prints `listening <port>` on stdout. It exits when its stdin
//! closes, so it never outlives the process that started it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The first argument that makes the binary a backend server.
pub const COMMAND: &str = "backend";

/// How a backend behaves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Behaviour {
    /// How long it takes to start listening.
    pub start: Duration,
    /// Whether `/health` fails.
    pub fail_health: bool,
    /// The share of requests answered with a 500.
    pub fail_share: f64,
    /// Added to every request's time.
    pub slow: Duration,
}

impl Behaviour {
    /// The command-line arguments that give a backend this behaviour.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["--start-ms".to_owned(), self.start.as_millis().to_string()];
        if self.fail_health {
            args.push("--fail-health".to_owned());
        }
        if self.fail_share > 0.0 {
            args.extend(["--fail-share".to_owned(), self.fail_share.to_string()]);
        }
        if !self.slow.is_zero() {
            args.extend(["--slow-ms".to_owned(), self.slow.as_millis().to_string()]);
        }
        args
    }
}

struct Server {
    revision: String,
    instance: String,
    behaviour: Behaviour,
    /// Requests answered (health checks not counted): decides which ones fail.
    served: AtomicU64,
}

/// Runs a backend with `args` (after the `backend` command); returns the exit code.
pub fn main(args: &[String]) -> i32 {
    match parse(args) {
        Ok((server, port)) => serve(server, port),
        Err(message) => {
            eprintln!("backend: {message}");
            2
        }
    }
}

fn parse(args: &[String]) -> Result<(Server, u16), String> {
    let mut server = Server {
        revision: "unknown".to_owned(),
        instance: "backend".to_owned(),
        behaviour: Behaviour::default(),
        served: AtomicU64::new(0),
    };
    let mut port = 0;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        let millis = |v: &String| {
            v.parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|e| format!("{arg}: {e}"))
        };
        match arg.as_str() {
            "--revision" => server.revision = value()?.clone(),
            "--instance" => server.instance = value()?.clone(),
            "--port" => port = value()?.parse().map_err(|e| format!("{arg}: {e}"))?,
            "--start-ms" => server.behaviour.start = millis(value()?)?,
            "--slow-ms" => server.behaviour.slow = millis(value()?)?,
            "--fail-health" => server.behaviour.fail_health = true,
            "--fail-share" => {
                let share: f64 = value()?.parse().map_err(|e| format!("{arg}: {e}"))?;
                if !(0.0..=1.0).contains(&share) {
                    return Err(format!("{arg} must be within 0..=1"));
                }
                server.behaviour.fail_share = share;
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok((server, port))
}

fn serve(server: Server, port: u16) -> i32 {
    // The watchdog: the parent holds our stdin; when it goes, so do we.
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    std::thread::sleep(server.behaviour.start);
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("backend: cannot listen on port {port}: {error}");
            return 1;
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    println!("listening {port}");
    let _ = std::io::stdout().flush();
    let server = Arc::new(server);
    for stream in listener.incoming().flatten() {
        let server = Arc::clone(&server);
        std::thread::spawn(move || {
            let _ = connection(&server, stream);
        });
    }
    0
}

/// Answers requests on one keep-alive connection until the peer closes it.
fn connection(server: &Server, stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let (mut length, mut close) = (0usize, false);
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        std::io::copy(&mut (&mut reader).take(length as u64), &mut std::io::sink())?;
        let (status, body) = answer(server, &path);
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
             x-revision: {}\r\nx-instance: {}\r\n{}\r\n{body}",
            body.len(),
            server.revision,
            server.instance,
            if close { "connection: close\r\n" } else { "" },
        );
        writer.write_all(response.as_bytes())?;
        if close {
            return Ok(());
        }
    }
}

fn answer(server: &Server, path: &str) -> (&'static str, String) {
    if path == "/health" {
        return if server.behaviour.fail_health {
            ("503 Service Unavailable", "unhealthy\n".to_owned())
        } else {
            ("200 OK", "ok\n".to_owned())
        };
    }
    if !server.behaviour.slow.is_zero() {
        std::thread::sleep(server.behaviour.slow);
    }
    let n = server.served.fetch_add(1, Ordering::Relaxed);
    // Request n fails when the running count of failures steps up: exactly the share,
    // spread evenly, so a bound on failures is arithmetic, not luck.
    let share = server.behaviour.fail_share;
    let fails = ((n + 1) as f64 * share).floor() > (n as f64 * share).floor();
    if fails {
        (
            "500 Internal Server Error",
            format!("{} failed\n", server.revision),
        )
    } else {
        ("200 OK", format!("{}\n", server.revision))
    }
}
