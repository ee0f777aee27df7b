//! # cutover
//!
//! Zero-downtime deployment strategies as sans-IO state machines (crate docs are
//! completed with the rollout engine).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod fleet;
mod model;
mod router;
mod time;
mod traffic;

#[cfg(feature = "__fuzz")]
#[doc(hidden)]
pub mod fuzz;

pub use error::{DurationError, FleetError, TrafficError};
pub use fleet::{Fleet, RevisionCounts};
pub use model::{Instance, InstanceId, InstanceState, Revision};
pub use router::{Decision, Request, Router};
pub use time::{Duration, Timestamp};
pub use traffic::{
    Backend, InstanceWeight, MatchCondition, MatchRoute, Mirror, TOTAL_BASIS_POINTS, TableChange,
    TableDiff, TrafficTable, TrafficTableBuilder, Weight,
};
