//! A world that answers a [`Rollout`](cutover::Rollout) the way a randomly misbehaving
//! caller would, and checks the invariants of `DESIGN.md` after every call.
//!
//! A [`Move`] is interpreted against what the world was asked and has not yet answered
//! (an [`Index`] picks one outstanding action or one known instance), so most ids are
//! real; some moves send stale, duplicated, misdirected or unknown inputs on purpose,
//! move the clock backwards, or give operator commands. [`World::step`] performs one
//! move, drains the rollout's outputs, checks every invariant, and returns what came out
//! (for determinism checks).
//!
//! The world panics on the checker's first violation, with a message naming the invariant, so proptest reports the move
//! list that broke it and shrinks it. Set `CUTOVER_TRACE` to print every step's moves,
//! actions and events (on stderr) while replaying a failing list.
//!
//! Scripts drive the same world by name (`script`), so every scenario gets every check
//! the random runs get: there is one world and one set of invariant checks.
//!
//! What lives where:
//! - `moves`: [`Move`], [`Command`], [`Index`], [`REVISIONS`] and [`move_strategy`].
//! - `scenarios`: starting points: [`spec_strategy`], [`start_strategy`], the fleets
//!   [`initial_fleet`] and [`ready_fleet`], [`counted_spec`], and [`env_count`].
//! - `harness`: [`World`], its constructor and [`World::step`]; [`Step`]; [`round_trip`].
//! - `interpret`: how each move becomes a call on the rollout.
//! - `record`: bookkeeping of the actions and events, with the per-action rules.
//! - `invariants`: the checks of every state ([`World::check_state`]); every step's are
//!   run by `cutover::invariants::Checker` (one set of checks, shared with the
//!   simulator and the fuzz targets).
//! - `script`: verbs by name for scenario scripts ([`World::take`], [`Summary`],
//!   [`spec`], [`fleet`]).
//! - `documents`: a rollout saved mid-way ([`mid_rollout`], [`document`]) and how a
//!   refused document reads ([`refused`], [`assert_refused_with`]), and a whole rollout
//!   scripted ([`scripted_rollout`]), for the persistence tests.
//! - `honest`: honest answers and where a rollout comes to rest ([`World::play`],
//!   [`World::answer_all`], [`World::settle_and_check_rest`], [`World::health`]).

#![allow(dead_code)]

mod canary;
mod documents;
mod harness;
mod honest;
mod interpret;
mod invariants;
mod moves;
mod record;
mod scenarios;
mod script;

// Each test file uses only some of these.
#[allow(unused_imports)]
pub use documents::{
    assert_refused_with, document, inconsistent, instance, mid_rollout, refused, scripted_rollout,
};
#[allow(unused_imports)]
pub use harness::{Step, Watermarks, World, round_trip};
#[allow(unused_imports)]
pub use moves::{Command, Index, Move, REVISIONS, move_strategy};
#[allow(unused_imports)]
pub use scenarios::{
    counted_spec, env_count, initial_fleet, ready_fleet, spec_strategy, start_strategy,
};
#[allow(unused_imports)]
pub use script::{
    Summary, assert_says, blue_green, canary, fleet, of_revision, old, refusal, spec,
    with_errors_analysis,
};
