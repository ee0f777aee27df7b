//! # cutover
//!
//! Zero-downtime deployment strategies as sans-IO state machines (crate docs are
//! completed with the rollout engine).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod fleet;
mod model;
mod time;
mod traffic;

pub use error::{DurationError, FleetError, TrafficError};
pub use fleet::{Fleet, RevisionCounts};
pub use model::{Instance, InstanceId, InstanceState, Revision};
pub use time::{Duration, Timestamp};
pub use traffic::{
    Backend, InstanceWeight, MatchCondition, MatchRoute, Mirror, TOTAL_BASIS_POINTS, TableChange,
    TableDiff, TrafficTable, TrafficTableBuilder, Weight,
};
