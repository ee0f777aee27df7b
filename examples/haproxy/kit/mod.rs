//! The HAProxy kit: everything the `haproxy` example and its end-to-end test share.
//!
//! | module | what |
//! |---|---|
//! | [`config`] | the generated HAProxy configuration: one backend per revision slot, the maps |
//! | [`runtime`] | a client of HAProxy's runtime API over its admin unix socket |
//! | [`balancer`] | [`Haproxy`](balancer::Haproxy), cutover's `LoadBalancer` on that API |
//! | [`backend`] | the small HTTP server an instance runs, and how it misbehaves on request |
//! | [`fleet`] | [`Fleet`](fleet::Fleet), the `Provisioner` and `HealthProbe` starting those servers |
//! | [`checks`] | `Metrics` read from HAProxy's counters, `Hooks` sending requests to green |
//! | [`load`] | the load generator: keep-alive threads at a steady rate, latency percentiles |
//! | [`guard`] | the processes started, cleaned up on every way out |
//! | [`scenario`] | one run: HAProxy, the v1 fleet, the load, a deploy of v2 by the driver |
//!
//! The library stays pure: this is the only code of the project that starts HAProxy.

// The kit is the I/O layer the library leaves to its callers: it reads clocks and
// sleeps, which the core never does (clippy.toml bans that for the core).
#![allow(clippy::disallowed_methods)]

pub mod backend;
pub mod balancer;
pub mod checks;
pub mod config;
pub mod fleet;
pub mod guard;
pub mod load;
pub mod runtime;
pub mod scenario;

/// Runs this binary as one of the kit's child processes when the first argument asks
/// for one (`backend ...` or `__sitter ...`); returns the exit code, or `None` when
/// the binary runs as itself.
pub fn child_main() -> Option<i32> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some(backend::COMMAND) => Some(backend::main(&args[1..])),
        Some(guard::SITTER) => Some(guard::sit(&args[1..])),
        _ => None,
    }
}
