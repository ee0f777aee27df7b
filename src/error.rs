//! The crate's error types, grouped by who must act on them.
//!
//! * [`DurationError`], [`TrafficError`]: a document or a table the caller built is wrong.
//!
//! Failures of the world (an instance that never turns healthy, a provisioner that
//! refuses) are not Rust errors: they arrive as inputs and are answered with events.

use crate::model::{InstanceId, Revision};

/// A duration in a document could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Not of the form `500ms`, `30s`, `5m`, `1h30m`, `1d` (largest unit first, each once).
    #[error("invalid duration {text:?}: write it like \"500ms\", \"30s\", \"5m\" or \"1h30m\"")]
    Invalid {
        /// The text as given.
        text: String,
    },
    /// Larger than about 584 million years.
    #[error("duration {text:?} is too long to represent in milliseconds")]
    Overflow {
        /// The text as given.
        text: String,
    },
}

/// A traffic table (or an edit to one) that would route requests wrongly.
///
/// Tables are validated whenever they are built, edited or deserialized, so a
/// [`TrafficTable`](crate::TrafficTable) value is always valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrafficError {
    /// The revision weights do not add up to 10,000 basis points (100%).
    #[error(
        "revision weights add up to {total} basis points; they must add up to exactly 10000 (100%)"
    )]
    WeightsDoNotSum {
        /// The sum that was found.
        total: u64,
    },
    /// A weight larger than 10,000 basis points.
    #[error("weight {basis_points} is out of range: weights are basis points from 0 to 10000")]
    WeightOutOfRange {
        /// The weight that was given.
        basis_points: u64,
    },
    /// A revision would receive traffic but has no instance in rotation.
    #[error(
        "revision {revision} has weight {basis_points} but no instance in rotation: its requests would be dropped"
    )]
    WeightWithoutInstances {
        /// The revision.
        revision: Revision,
        /// Its weight in basis points.
        basis_points: u16,
    },
    /// One instance is listed twice (in one revision or in two).
    #[error("instance {instance} is listed twice (under {first} and under {second})")]
    DuplicateInstance {
        /// The instance.
        instance: InstanceId,
        /// The revision it was first listed under.
        first: Revision,
        /// The revision it was listed under again.
        second: Revision,
    },
    /// One revision has two entries.
    #[error("revision {revision} is listed twice")]
    DuplicateRevision {
        /// The revision.
        revision: Revision,
    },
    /// A match route or the mirror names a revision that is not in the table.
    #[error("the {context} names revision {revision}, which is not in the table")]
    UnknownRevision {
        /// The revision named.
        revision: Revision,
        /// What named it: "match route", "mirror", "edit".
        context: &'static str,
    },
    /// A match route or the mirror targets a revision with no instance in rotation.
    #[error(
        "the {context} sends requests to revision {revision}, which has no instance in rotation"
    )]
    TargetWithoutInstances {
        /// The revision targeted.
        revision: Revision,
        /// What targets it: "match route" or "mirror".
        context: &'static str,
    },
    /// An edit names an instance that is not in the named revision.
    #[error("instance {instance} is not in rotation under revision {revision}")]
    UnknownInstance {
        /// The instance.
        instance: InstanceId,
        /// The revision it was looked for under.
        revision: Revision,
    },
    /// A per-instance weight outside `1..=256`.
    #[error(
        "instance {instance} has weight {weight}; instance weights run from 1 to 256 (remove the instance instead of weighting it 0)"
    )]
    InstanceWeightOutOfRange {
        /// The instance.
        instance: InstanceId,
        /// The weight that was given.
        weight: u32,
    },
    /// A match route with an empty header or cookie name, or an empty allow-list.
    #[error("a match route is empty: {reason}")]
    EmptyMatch {
        /// What is missing.
        reason: &'static str,
    },
    /// A diff was made against a different table generation than the one it is applied to.
    #[error("the diff goes from generation {expected} but the table is at generation {found}")]
    StaleDiff {
        /// The generation the diff starts from.
        expected: u64,
        /// The generation of the table it was applied to.
        found: u64,
    },
}

/// A fleet was described inconsistently.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// Two instances share one id.
    #[error("instance {instance} is listed twice in the fleet")]
    DuplicateInstance {
        /// The id.
        instance: InstanceId,
    },
}
