//! An honest world for the fuzz bodies: every action answered as asked, health reported
//! good, timers fired, for a bounded number of rounds. What a spec or a document the
//! library accepted must survive.

use crate::output::{Action, EventKind};
use crate::{Input, Rollout};

/// Answers `rollout` honestly for at most `rounds` rounds (a round answers every action
/// polled, then fires the next timer), checking that the engine never reports an internal
/// error. Returns whether it came to rest (no action and no timer left).
pub(super) fn run(rollout: &mut Rollout, rounds: usize) -> bool {
    let mut now = rollout.now();
    for _ in 0..rounds {
        let mut inputs = Vec::new();
        while let Some(action) = rollout.poll_action() {
            match action {
                Action::Provision { id, instance, .. } | Action::Redeploy { id, instance, .. } => {
                    inputs.push(Input::Provisioned { action: id });
                    inputs.push(Input::Health {
                        instance,
                        healthy: true,
                    });
                }
                Action::UpdateTraffic { generation, .. } => {
                    inputs.push(Input::TrafficApplied { generation });
                }
                Action::Drain { id, .. } => inputs.push(Input::Drained { action: id }),
                Action::Terminate { id, .. } => inputs.push(Input::Terminated { action: id }),
                Action::Measure { id, .. } => inputs.push(Input::Measured {
                    action: id,
                    measurement: crate::analysis::Measurement::Value(0.0),
                }),
                Action::RunHook { id, .. } => inputs.push(Input::HookResult {
                    action: id,
                    passed: true,
                    reason: String::new(),
                }),
            }
        }
        no_internal_error(rollout);
        let idle = inputs.is_empty();
        for input in inputs {
            rollout.handle_input(now, input);
        }
        if idle {
            match rollout.poll_timeout() {
                None => return true,
                Some(at) => {
                    now = at.max(now);
                    rollout.handle_timeout(now);
                }
            }
        }
        no_internal_error(rollout);
    }
    false
}

/// Drains the events, panicking on an internal error (a bug the engine caught itself).
pub(super) fn no_internal_error(rollout: &mut Rollout) {
    while let Some(event) = rollout.poll_event() {
        if let EventKind::InternalError { detail } = &event.kind {
            panic!("the engine reported an internal error: {detail}");
        }
    }
}
