//! Zero downtime behind a real load balancer: HAProxy in front of real processes on
//! loopback, a steady load through it, and v2 deployed by cutover's driver.
//!
//! ```text
//! cargo run --release --example haproxy -- --strategy <rolling|blue-green|canary> [--bad-version] [--verbose]
//! ```
//!
//! It starts HAProxy (a generated configuration in a temp dir, loopback only, an admin
//! socket), four v1 instances, and 2,500 requests/s through HAProxy; measures latency
//! at rest; deploys v2 with the driver; and ends with
//! `summary: strategy=… requests=… failed=… p99_ms=… p99_at_rest_ms=… served=… outcome=…`.
//! `--bad-version` makes v2 answer 500 on 10% of its requests: the canary's analysis
//! and blue-green's smoke test catch it and roll back. Every process it starts is
//! stopped when it ends, fails, is interrupted or is killed (see `kit/guard.rs`).
//!
//! The same binary is the instances' HTTP server:
//! `cargo run --example haproxy -- backend --revision v2 --fail-share 0.1` (see
//! `kit/backend.rs` for its options).

#[allow(dead_code)] // The kit is shared with tests/haproxy.rs, which uses more of it.
mod kit;

use kit::scenario::{Scenario, Strategy};

fn main() {
    if let Some(code) = kit::child_main() {
        std::process::exit(code);
    }
    let mut strategy = Strategy::Rolling;
    let (mut bad_version, mut verbose) = (false, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--strategy" => {
                let name = args.next().unwrap_or_default();
                strategy = Strategy::parse(&name).unwrap_or_else(|| {
                    usage(&format!("unknown strategy {name:?}"));
                });
            }
            "--bad-version" => bad_version = true,
            "--verbose" => verbose = true,
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let Some(haproxy) = kit::config::find_haproxy() else {
        eprintln!("haproxy not found: install it (`apt-get install haproxy`) or set HAPROXY");
        std::process::exit(1);
    };
    let mut scenario = Scenario::new(strategy, bad_version);
    scenario.verbose = verbose;
    match kit::scenario::run(&scenario, &haproxy) {
        Ok(report) => {
            println!(
                "at rest: {} requests, p50 {:.2} ms, p99 {:.2} ms; rollout: {:.1} s, p50 {:.2} ms, max {:.2} ms; after: {} requests, {} failed, served {}",
                report.at_rest.requests,
                report.at_rest.p50_ms,
                report.at_rest.p99_ms,
                report.rollout_time.as_secs_f64(),
                report.rollout.p50_ms,
                report.rollout.max_ms,
                report.after.requests,
                report.after.failed,
                report.after.served_list(),
            );
            println!("haproxy errors: {:?}", report.haproxy_errors);
            println!("{}", report.summary());
        }
        Err(error) => {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
    }
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: haproxy [--strategy rolling|blue-green|canary] [--bad-version] [--verbose]"
    );
    std::process::exit(2);
}
