//! The load generator: threads, each on one HTTP/1.1 keep-alive connection through
//! HAProxy, sending requests at a steady rate; every answer recorded with its latency
//! and the revision that served it.
//!
//! A request **fails** when its answer is not a `200`, or when the connection breaks
//! or times out before a whole answer came back (then the thread reconnects). Some
//! threads send a sticky key (`x-user: user-<n>`) with every request.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One answer, as the client saw it.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The `x-revision` header: the revision that served it.
    pub revision: Option<String>,
    /// The `x-cutover-table: <before>/<after>` header: the generations HAProxy read
    /// before and after it chose the backend.
    pub table: Option<(u64, u64)>,
}

/// One HTTP/1.1 keep-alive connection to an address.
pub struct Connection {
    address: SocketAddr,
    stream: Option<(BufReader<TcpStream>, TcpStream)>,
    timeout: Duration,
}

impl Connection {
    /// A connection to `address` (opened at the first request).
    pub fn new(address: SocketAddr) -> Connection {
        Connection {
            address,
            stream: None,
            timeout: Duration::from_secs(5),
        }
    }

    /// `GET path` with `headers`; an error when no whole answer came back.
    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<Answer, String> {
        let result = self.exchange(path, headers);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn exchange(&mut self, path: &str, headers: &[(&str, &str)]) -> Result<Answer, String> {
        if self.stream.is_none() {
            let stream = TcpStream::connect_timeout(&self.address, self.timeout)
                .map_err(|e| format!("connect: {e}"))?;
            let _ = stream.set_nodelay(true);
            let _ = stream.set_read_timeout(Some(self.timeout));
            let reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
            self.stream = Some((reader, stream));
        }
        let Some((reader, writer)) = self.stream.as_mut() else {
            return Err("no connection".to_owned());
        };
        let mut request = format!("GET {path} HTTP/1.1\r\nhost: cutover\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        writer
            .write_all(request.as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let mut line = String::new();
        let read = |reader: &mut BufReader<TcpStream>, line: &mut String| {
            line.clear();
            match reader.read_line(line) {
                Ok(0) => Err("connection closed before the answer".to_owned()),
                Ok(_) => Ok(()),
                Err(e) => Err(format!("read: {e}")),
            }
        };
        read(reader, &mut line)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not a status line: {line:?}"))?;
        let mut answer = Answer {
            status,
            ..Answer::default()
        };
        let (mut length, mut close) = (0u64, false);
        loop {
            read(reader, &mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                "x-revision" => answer.revision = Some(value.to_owned()),
                "x-cutover-table" => {
                    answer.table = value
                        .split_once('/')
                        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
                }
                _ => {}
            }
        }
        let copied = std::io::copy(&mut reader.take(length), &mut std::io::sink())
            .map_err(|e| format!("body: {e}"))?;
        if copied < length {
            return Err("connection closed in the body".to_owned());
        }
        if close {
            self.stream = None;
        }
        Ok(answer)
    }
}

/// One request as the load generator saw it.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When it was sent, from the load's start.
    pub at: Duration,
    /// How long the answer took.
    pub latency: Duration,
    /// The answer, or why there was none.
    pub result: Result<Answer, String>,
    /// The sticky key it carried.
    pub key: Option<String>,
}

impl Sample {
    /// Whether it failed (no answer, or not a 200).
    pub fn failed(&self) -> bool {
        !matches!(&self.result, Ok(answer) if answer.status == 200)
    }

    /// The revision that answered.
    pub fn revision(&self) -> Option<&str> {
        self.result
            .as_ref()
            .ok()
            .and_then(|a| a.revision.as_deref())
    }
}

/// How much load, and of what kind.
#[derive(Clone, Copy, Debug)]
pub struct LoadSpec {
    /// Requests per second, all connections together.
    pub rate: u32,
    /// Connections (one thread each).
    pub connections: usize,
    /// How many of them send a sticky key.
    pub keyed: usize,
    /// Keys are `user-0` … `user-<users - 1>`.
    pub users: u32,
}

/// A load running in its threads.
pub struct Load {
    start: Instant,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Sample>>>,
}

impl Load {
    /// Starts `spec`'s threads against `address`.
    pub fn start(address: SocketAddr, spec: LoadSpec) -> Load {
        let start = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = spec.connections.max(1);
        let interval = Duration::from_secs_f64(connections as f64 / f64::from(spec.rate.max(1)));
        let threads = (0..connections)
            .map(|i| {
                let stop = Arc::clone(&stop);
                let keyed = i < spec.keyed;
                let users = spec.users.max(1);
                // Spread the threads' ticks over one interval.
                let first = start + interval.mul_f64(i as f64 / connections as f64);
                std::thread::spawn(move || {
                    let mut connection = Connection::new(address);
                    let mut samples = Vec::new();
                    let mut random = 0x9e37_79b9_7f4a_7c15_u64
                        ^ (i as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                    let mut next = first;
                    while !stop.load(Ordering::Relaxed) {
                        let now = Instant::now();
                        if next > now {
                            std::thread::sleep(next - now);
                        }
                        // A steady rate: a late request is sent at once, and the ticks
                        // it missed are dropped rather than sent in a burst.
                        next = (next + interval).max(Instant::now());
                        let key = keyed.then(|| {
                            random ^= random << 13;
                            random ^= random >> 7;
                            random ^= random << 17;
                            format!("user-{}", random % u64::from(users))
                        });
                        let sent = Instant::now();
                        let headers: Vec<(&str, &str)> =
                            key.as_deref().map(|k| ("x-user", k)).into_iter().collect();
                        let result = connection.get("/", &headers);
                        samples.push(Sample {
                            at: sent - start,
                            latency: sent.elapsed(),
                            result,
                            key,
                        });
                    }
                    samples
                })
            })
            .collect();
        Load {
            start,
            stop,
            threads,
        }
    }

    /// Time since the load started: the clock of [`Sample::at`].
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// When it started.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// Stops every thread and returns every sample, in the order sent.
    pub fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples: Vec<Sample> = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect();
        samples.sort_by_key(|s| s.at);
        samples
    }
}

/// Figures over a set of samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// Requests.
    pub requests: usize,
    /// Failed requests.
    pub failed: usize,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
    /// Requests served per revision.
    pub served: BTreeMap<String, usize>,
}

impl Figures {
    /// The figures of `samples`.
    pub fn of<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> Figures {
        let mut figures = Figures::default();
        let mut latencies = Vec::new();
        for sample in samples {
            figures.requests += 1;
            figures.failed += usize::from(sample.failed());
            if let Some(revision) = sample.revision() {
                *figures.served.entry(revision.to_owned()).or_insert(0) += 1;
            }
            latencies.push(sample.latency);
        }
        latencies.sort_unstable();
        let at = |q: f64| {
            let i = ((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1);
            latencies.get(i).map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
        };
        figures.p50_ms = at(0.50);
        figures.p99_ms = at(0.99);
        figures.max_ms = at(1.0);
        figures
    }

    /// `rev:n,…`.
    pub fn served_list(&self) -> String {
        let parts: Vec<String> = self
            .served
            .iter()
            .map(|(r, n)| format!("{r}:{n}"))
            .collect();
        parts.join(",")
    }
}
