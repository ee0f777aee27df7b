//! The [`LoadBalancer`]: tables in, drains out.

use super::forward;
use crate::model::InstanceId;
use crate::time::Duration;
use crate::traffic::{TableDiff, TrafficTable};

/// Applies traffic tables and drains instances: HAProxy's runtime API, Envoy's xDS, a
/// cloud load balancer's target groups.
///
/// # Contract
///
/// * **Generations fence.** Every table has a generation, and a load balancer never
///   goes back: it **ignores a table whose generation is lower than the one it
///   applied** (a late request from a controller that has lost the rollout to another,
///   or a request that arrived out of order), and a table of the generation it applied
///   is accepted again without change. One generation always names one table.
/// * [`apply`](LoadBalancer::apply) returns once the request is accepted; the driver
///   observes it done through [`applied_generation`](LoadBalancer::applied_generation),
///   and tells the rollout ([`Input::TrafficApplied`](crate::Input::TrafficApplied)).
///   An error is not an input: the driver asks again, with the newest table, at every
///   poll until a request is accepted; the rollout reports a table not acknowledged
///   within its `traffic_ack_timeout` and keeps waiting (nothing is drained meanwhile).
/// * [`drain`](LoadBalancer::drain) returns once the request is accepted (the instance
///   is already out of every table in force), and is idempotent by instance; the driver
///   observes it done through [`is_drained`](LoadBalancer::is_drained)
///   ([`Input::Drained`](crate::Input::Drained)). On an error it asks again at every
///   poll; the rollout terminates the instance anyway after its drain timeout.
/// * An error from an observation is no verdict: the driver observes again at its next
///   poll.
pub trait LoadBalancer {
    /// What went wrong.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Asks for `table` (of generation [`table.generation()`](TrafficTable::generation))
    /// to be put in force, unless a later generation already is.
    ///
    /// `diff` goes from `diff.from_generation`, a table the driver asked for before (or
    /// the one in force when the rollout started), to this one: an adapter that edits
    /// its state change by change may apply it when `diff.from_generation` is the
    /// generation it has applied, and applies the whole table otherwise.
    ///
    /// # Errors
    ///
    /// The request was not accepted: the driver asks again at its next poll.
    fn apply(&mut self, table: &TrafficTable, diff: &TableDiff) -> Result<(), Self::Error>;

    /// The generation of the table in force (0: the one in force before the rollout
    /// published any).
    ///
    /// # Errors
    ///
    /// It could not be read: the driver reads it again at its next poll.
    fn applied_generation(&mut self) -> Result<u64, Self::Error>;

    /// Asks for `instance` to finish its in-flight requests; it takes no new ones. The
    /// rollout gives it `timeout` before terminating it anyway.
    ///
    /// # Errors
    ///
    /// The request was not accepted: the driver asks again at its next poll.
    fn drain(&mut self, instance: &InstanceId, timeout: Duration) -> Result<(), Self::Error>;

    /// Whether `instance` has no request in flight any more (an instance the load
    /// balancer does not know has none).
    ///
    /// # Errors
    ///
    /// It could not be read: the driver reads it again at its next poll.
    fn is_drained(&mut self, instance: &InstanceId) -> Result<bool, Self::Error>;
}

forward!(LoadBalancer {
    fn apply(&mut self, table: &TrafficTable, diff: &TableDiff) -> Result<(), Self::Error>;
    fn applied_generation(&mut self) -> Result<u64, Self::Error>;
    fn drain(&mut self, instance: &InstanceId, timeout: Duration) -> Result<(), Self::Error>;
    fn is_drained(&mut self, instance: &InstanceId) -> Result<bool, Self::Error>;
});
