//! What the caller observed: the results of actions and the state of the world.

use crate::model::InstanceId;
use crate::output::ActionId;

/// One observation, handed to [`Rollout::handle_input`](crate::Rollout::handle_input).
///
/// Results name the [`ActionId`] of the action they answer; health and losses name the
/// instance, and are level-triggered (reporting the same health twice is harmless).
/// Anything unknown, late, duplicated or out of order is ignored and reported as an
/// [`EventKind::InputIgnored`](crate::EventKind::InputIgnored), never an error.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "snake_case", tag = "input", deny_unknown_fields)
)]
#[non_exhaustive]
pub enum Input {
    /// A `Provision` action succeeded: the instance exists and is starting.
    Provisioned {
        /// The action answered.
        action: ActionId,
    },
    /// A `Provision` action failed; the instance does not exist.
    ProvisionFailed {
        /// The action answered.
        action: ActionId,
        /// Why, in the provisioner's words.
        reason: String,
    },
    /// The latest health-check verdict for an instance.
    Health {
        /// The instance checked.
        instance: InstanceId,
        /// Whether it passed.
        healthy: bool,
    },
    /// The load balancer now applies the table of this generation (and all before it).
    TrafficApplied {
        /// The generation applied.
        generation: u64,
    },
    /// A `Drain` action finished: the instance has no requests in flight.
    Drained {
        /// The action answered.
        action: ActionId,
    },
    /// A `Terminate` action finished: the instance is gone.
    Terminated {
        /// The action answered.
        action: ActionId,
    },
    /// A `Measure` action's result: a value, samples, no data, or an error (the query
    /// could not be made).
    Measured {
        /// The action answered.
        action: ActionId,
        /// What the measurement returned.
        measurement: crate::analysis::Measurement,
    },
    /// A `RunHook` action's result.
    HookResult {
        /// The action answered.
        action: ActionId,
        /// Whether the hook passed.
        passed: bool,
        /// Why, in the hook's words (optional).
        #[cfg_attr(feature = "serde", serde(default))]
        reason: String,
    },
    /// An instance disappeared without being asked to (a crash, a lost host).
    InstanceLost {
        /// The instance.
        instance: InstanceId,
        /// What happened, if known.
        reason: String,
    },
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;

    #[test]
    fn inputs_round_trip_and_refuse_unknown_fields() {
        let input = Input::ProvisionFailed {
            action: ActionId(7),
            reason: "quota".into(),
        };
        let written = serde_json::to_string(&input).unwrap();
        assert_eq!(
            written,
            r#"{"input":"provision_failed","action":7,"reason":"quota"}"#
        );
        assert_eq!(serde_json::from_str::<Input>(&written).unwrap(), input);
        // A field that belongs to another input (or is misspelt) is refused, not dropped.
        let error = serde_json::from_str::<Input>(
            r#"{"input":"provisioned","action":7,"instance":"web-1"}"#,
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("unknown field `instance`"),
            "{error}"
        );
    }
}
