//! The HAProxy configuration the kit generates, and HAProxy started on it.
//!
//! HAProxy 2.6 cannot add a backend at run time, so the configuration declares one
//! backend per *revision slot* (`slot0`, `slot1`, …); the adapter gives each revision
//! in a table a slot and its instances as dynamic servers. Requests are routed by
//! maps the adapter replaces in transactions:
//!
//! * `split.map` (`map_int`): slot ranges `lo:hi` of `[0, 10000)` to a backend, one
//!   per revision with weight, in the table's layout order; and the key `10000` to the
//!   table's generation. A request without a key takes `rand(10000)` (HAProxy draws
//!   `(rand32 × 10000) >> 32`, cutover's slot formula); a request with a key header
//!   takes `((xxh3(key) >> 32) × 10000) >> 32`, the slot cutover's `Router` gives the
//!   key, computed with `and`/`div`/`mul` on HAProxy's signed 64-bit integers (the low
//!   half is cleared before the division so that it truncates exactly like a shift).
//! * `route-<i>-<m>.map`: match route `i` (in table order) when it is of matcher `m`
//!   (a declared header compared exactly or by prefix, a declared cookie, or the key
//!   allow-list): the value or key it matches, to the target's backend. The first
//!   route that matches wins, before the split.
//!
//! The generation is read before and after the backend is chosen and returned as the
//! `x-cutover-table: <before>/<after>` response header: when both agree, the request
//! was routed by exactly that table (map versions only move forward).
//!
//! Honest measurement: `retries 0`, `retry-on none`, no `option redispatch`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::guard::Child;
use super::runtime::Runtime;

/// A request field match routes may look at. HAProxy 2.6 cannot learn a new header
/// name at run time, so the names are declared when the configuration is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// A header's value, compared exactly.
    HeaderEquals(String),
    /// A header's value, compared by prefix.
    HeaderPrefix(String),
    /// A cookie's value, compared exactly.
    CookieEquals(String),
    /// The sticky key (the key header's value) in an allow-list.
    KeyIn,
}

/// Everything the configuration is generated from.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Where the configuration, the maps and the admin socket live.
    pub dir: PathBuf,
    /// The frontend's loopback port.
    pub port: u16,
    /// How many revision slots (backends) to declare.
    pub slots: usize,
    /// The header carrying a request's sticky key.
    pub key_header: String,
    /// How many match routes a table may have.
    pub routes: usize,
    /// What routes may match on.
    pub matchers: Vec<Matcher>,
}

impl Layout {
    /// A layout in `dir` on a free loopback port: 4 slots, key header `x-user`, up to
    /// 2 routes on the header `x-preview` (exact or prefix), the cookie `canary` or
    /// the key.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Layout> {
        Ok(Layout {
            dir: dir.into(),
            port: free_port()?,
            slots: 4,
            key_header: "x-user".to_owned(),
            routes: 2,
            matchers: vec![
                Matcher::HeaderEquals("x-preview".to_owned()),
                Matcher::HeaderPrefix("x-preview".to_owned()),
                Matcher::CookieEquals("canary".to_owned()),
                Matcher::KeyIn,
            ],
        })
    }

    /// The backend of slot `i`.
    pub fn backend(i: usize) -> String {
        format!("slot{i}")
    }

    /// The admin socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("admin.sock")
    }

    /// The split map.
    pub fn split_map(&self) -> PathBuf {
        self.dir.join("split.map")
    }

    /// The map of route `route` when it uses matcher `matcher` (an index in
    /// [`matchers`](Layout::matchers)).
    pub fn route_map(&self, route: usize, matcher: usize) -> PathBuf {
        self.dir.join(format!("route-{route}-{matcher}.map"))
    }

    /// The configuration file's text.
    pub fn config(&self) -> String {
        let split = self.split_map();
        let split = split.display();
        let key = &self.key_header;
        let mut c = String::new();
        let _ = write!(
            c,
            "global\n    stats socket {socket} mode 600 level admin\n    stats timeout 30s\n    \
             maxconn 4096\n\ndefaults\n    mode http\n    option http-keep-alive\n    \
             timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    \
             timeout http-keep-alive 30s\n    # Honest measurement: nothing hides a failure.\n    \
             retries 0\n    retry-on none\n    no option redispatch\n\n\
             frontend web\n    bind 127.0.0.1:{port}\n    \
             http-request set-var(txn.before) int(10000),map_int({split})\n",
            socket = self.socket().display(),
            port = self.port,
        );
        for route in 0..self.routes {
            for (m, matcher) in self.matchers.iter().enumerate() {
                let map = self.route_map(route, m);
                let map = map.display();
                let lookup = match matcher {
                    Matcher::HeaderEquals(h) => format!("req.fhdr({h}),map_str({map})"),
                    Matcher::HeaderPrefix(h) => format!("req.fhdr({h}),map_beg({map})"),
                    Matcher::CookieEquals(name) => format!("req.cook({name}),map_str({map})"),
                    Matcher::KeyIn => format!("req.fhdr({key}),map_str({map})"),
                };
                let _ = writeln!(
                    c,
                    "    http-request set-var(txn.route) {lookup} if !{{ var(txn.route) -m found }} {{ {lookup} -m found }}"
                );
            }
        }
        let _ = write!(
            c,
            "    http-request set-var(txn.slot) req.fhdr({key}),xxh3,and(-4294967296),div(4294967296),and(4294967295),mul(10000),div(4294967296) if {{ req.fhdr({key}) -m found }}\n    \
             http-request set-var(txn.slot) rand(10000) if !{{ var(txn.slot) -m found }}\n    \
             http-request set-var(txn.split) var(txn.slot),map_int({split})\n    \
             http-request set-var(txn.after) int(10000),map_int({split})\n    \
             use_backend %[var(txn.route)] if {{ var(txn.route) -m found }}\n    \
             use_backend %[var(txn.split)] if {{ var(txn.split) -m found }}\n    \
             default_backend unrouted\n    \
             http-after-response set-header x-cutover-table %[var(txn.before)]/%[var(txn.after)]\n\n\
             # No table routes the request: 503.\nbackend unrouted\n"
        );
        for slot in 0..self.slots {
            // Keyed requests stay on one server (HAProxy's consistent hash, not
            // cutover's ring); others go round-robin by weight.
            let _ = write!(
                c,
                "\nbackend {}\n    balance hdr({key})\n    hash-type consistent\n",
                Layout::backend(slot)
            );
        }
        c
    }

    /// Writes the configuration and empty maps into [`dir`](Layout::dir).
    pub fn write(&self) -> std::io::Result<PathBuf> {
        std::fs::write(self.split_map(), "")?;
        for route in 0..self.routes {
            for m in 0..self.matchers.len() {
                std::fs::write(self.route_map(route, m), "")?;
            }
        }
        let path = self.dir.join("haproxy.cfg");
        std::fs::write(&path, self.config())?;
        Ok(path)
    }
}

/// A running HAProxy on a generated configuration.
pub struct Proxy {
    /// The layout it runs.
    pub layout: Layout,
    /// Its runtime API.
    pub runtime: Runtime,
    child: Child,
}

impl Proxy {
    /// Writes the configuration and starts `haproxy` on it (in the foreground, under
    /// a sitter), waiting until its admin socket answers.
    pub fn start(layout: Layout, haproxy: &Path) -> Result<Proxy, String> {
        let config = layout
            .write()
            .map_err(|e| format!("cannot write HAProxy's configuration: {e}"))?;
        let args = vec![
            "-db".to_owned(),
            "-f".to_owned(),
            config.display().to_string(),
        ];
        let log = layout.dir.join("haproxy.log");
        let mut child = Child::spawn_sat("haproxy", &haproxy.display().to_string(), &args, &log)
            .map_err(|e| format!("cannot start {}: {e}", haproxy.display()))?;
        let runtime = Runtime::new(layout.socket());
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if runtime
                .raw("show info")
                .is_ok_and(|info| info.contains("Name: HAProxy"))
            {
                break;
            }
            if !child.is_running() {
                let output = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("HAProxy exited at its start: {output}"));
            }
            if Instant::now() > until {
                return Err("HAProxy's admin socket did not answer within 10s".to_owned());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Proxy {
            layout,
            runtime,
            child,
        })
    }

    /// Whether HAProxy still runs.
    pub fn is_running(&mut self) -> bool {
        self.child.is_running()
    }
}

/// Where HAProxy is installed: `$HAPROXY`, else the first `haproxy` on the `PATH` or
/// in `/usr/sbin`.
pub fn find_haproxy() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HAPROXY") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("haproxy"))
        .find(|candidate| candidate.is_file())
}

/// A loopback port free now (the OS picks it; another process could take it before
/// HAProxy binds it, which would fail the start loudly, not silently).
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
