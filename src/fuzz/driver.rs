//! The `driver` target: the real [`Driver`](crate::driver::Driver) against a simulated
//! world scripted by the bytes — a spec of each strategy, the world's latencies, its
//! faults (refused provisions, crashes, health flaps), whether the new version is bad,
//! what the operator does, and the seed of everything left to chance — with every call
//! the driver makes checked against [`crate::invariants`].

use crate::Duration;
use crate::sim::{Behaviour, Faults, Operator, Settings, Simulation};

use super::Bytes;

/// Reads a latency of at most `max_ms` milliseconds.
fn latency(bytes: &mut Bytes<'_>, max_ms: u16) -> Duration {
    Duration::from_millis(u64::from(bytes.u16() % max_ms))
}

/// A period of at least a minute, or none.
fn every(bytes: &mut Bytes<'_>) -> Option<Duration> {
    let raw = bytes.u16();
    (raw & 1 == 1).then(|| Duration::from_secs(60 + u64::from(raw >> 1)))
}

/// Runs one scripted world. Panics (which the fuzzer reports) on an invariant violation
/// or a request failed by the rollout itself; a spec the simulator refuses is skipped.
pub fn driver(data: &[u8]) {
    let mut bytes = Bytes(data);
    let spec = super::rollout_inputs::spec(&mut bytes);
    let seed = bytes.u64();
    let mut settings = Settings::ideal();
    settings.provision_latency = latency(&mut bytes, 10_000);
    settings.startup = latency(&mut bytes, 30_000);
    settings.apply_latency = latency(&mut bytes, 3_000);
    settings.drain_time = latency(&mut bytes, 10_000);
    settings.terminate_latency = latency(&mut bytes, 3_000);
    settings.hook_time = latency(&mut bytes, 10_000);
    settings.requests_per_second = u32::from(bytes.byte() % 50);
    settings.faults = Faults {
        provision_failure_basis_points: u32::from(bytes.u16() % 5_001),
        crash_every: every(&mut bytes),
        flap_every: every(&mut bytes),
        flap_for: latency(&mut bytes, 20_000),
    };
    if bytes.byte() & 1 == 1 {
        settings = settings.with_behaviour("v2", Behaviour::bad());
    }
    settings.operator = Operator {
        promote_after: every(&mut bytes),
        abort_after_failures: (bytes.byte() & 1 == 1).then(|| u64::from(bytes.byte())),
        abort_at: every(&mut bytes),
    };
    // Bounded, so that each input stays fast; a run that reaches it ends in a report.
    settings.time_limit = Duration::from_mins(30);
    let Ok(report) = Simulation::new(spec, settings, seed)
        .checked(true)
        .timeline(false)
        .run()
    else {
        return;
    };
    assert!(
        report.violations.is_empty(),
        "invariants broken (seed {seed}): {:?}",
        report.violations
    );
    assert_eq!(
        report.failed.rollout,
        0,
        "requests failed because of the rollout (seed {seed}): {}",
        report.summary()
    );
}
