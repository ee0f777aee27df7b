//! Entry points for the cargo-fuzz targets in `fuzz/`, compiled only with the hidden
//! `__fuzz` feature so that normal builds keep them compiling without exposing them.
//!
//! Each entry point takes arbitrary bytes, must never panic on them, and panics (which
//! the fuzzer reports) only when the library breaks one of its promises: an invariant,
//! a round trip, an accepted input that then misbehaves. The test suite replays the
//! committed corpus (`fuzz/corpus/<target>/`) and a bounded number of random inputs
//! through the same functions (`tests/fuzz_replay.rs`), so they are checked without a
//! fuzzer too.
//!
//! | target | what it feeds | what it checks |
//! |---|---|---|
//! | [`router`](fn@router) | tables edited in batches | routing decisions; a router edited by diffs equals a fresh build |
//! | [`spec_document`](fn@spec_document) | a JSON spec document | refused with a typed error, or valid, round-trips, and runs |
//! | [`rollout_document`](fn@rollout_document) | a JSON rollout document | refused with a typed error, or round-trips and runs |
//! | [`traffic_table`](fn@traffic_table) | a JSON traffic table | refused, or valid, round-trips, diffs back and forth, routes |
//! | [`public_arithmetic`](fn@public_arithmetic) | numbers | every public planning and cost function: no panic, bounded output |
//! | [`rollout_inputs`](fn@rollout_inputs) | a fleet, a spec of each strategy, inputs, timeouts and verbs | every invariant ([`crate::invariants`]) after every call |
//! | [`driver`](fn@driver) | a spec, a simulated world's latencies, faults, a bad version, an operator, a seed | the real driver: every invariant after every call, no request failed by the rollout |

mod arithmetic;
mod documents;
mod driver;
mod honest;
mod rollout_inputs;
mod router;

pub use arithmetic::public_arithmetic;
pub use documents::{rollout_document, spec_document, traffic_table};
pub use driver::driver;
pub use rollout_inputs::rollout_inputs;
pub use router::router;

/// The rest of the input, read a byte at a time (zero once exhausted).
pub(crate) struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> Option<u8> {
        let (first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*first)
    }

    fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    fn take(&mut self, max: usize) -> &[u8] {
        let len = usize::from(self.byte()) % (max + 1);
        let (taken, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        taken
    }
}
