//! Documentation that compiles: the spec documents people write, each parsed and
//! checked by a doc test so that it cannot drift from what the crate reads.
//!
//! * [`specs`]: a minimal and a full spec document for each strategy (rolling,
//!   blue-green, canary), with steps, routes, analyses and a judge.

pub mod specs;
