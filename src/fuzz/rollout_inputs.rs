//! The `rollout_inputs` target: a start fleet, a valid spec of each strategy and a
//! sequence of inputs, timeouts and operator verbs, all from bytes, with every invariant
//! of [`crate::invariants`] checked after every call.

use crate::invariants::{Call, Checker};
use crate::model::{Instance, InstanceState};
use crate::output::{Action, Event};
use crate::spec::{BlueGreenSpec, CanarySpec, Quantity};
use crate::{Input, Rollout, RolloutSpec, StrategySpec, Timestamp, TrafficTable};

use super::Bytes;

/// The most calls one input makes: enough to walk a small rollout through, few enough to
/// keep each execution fast.
const MAX_CALLS: usize = 96;

pub(super) fn spec(bytes: &mut Bytes<'_>) -> RolloutSpec {
    let desired = u32::from(bytes.byte() % 6) + 1;
    let strategy = match bytes.byte() % 3 {
        0 => {
            let surge = Quantity::Count(u32::from(bytes.byte() % 3));
            let unavailable = Quantity::Count(u32::from(bytes.byte() % 3));
            RolloutSpec::rolling(desired, surge, unavailable).strategy
        }
        1 => StrategySpec::BlueGreen(BlueGreenSpec {
            keep_standby: bytes.byte() & 1 == 0,
            ..BlueGreenSpec::default()
        }),
        _ => StrategySpec::Canary(CanarySpec {
            traffic_routing: bytes.byte() & 1 == 0,
            ..CanarySpec::default()
        }),
    };
    let spec = RolloutSpec {
        desired,
        strategy,
        allow_downtime: bytes.byte() & 1 == 0,
        ..RolloutSpec::default()
    };
    match spec.validate() {
        Ok(_) => spec,
        Err(_) => RolloutSpec {
            desired,
            ..RolloutSpec::default()
        },
    }
}

/// Up to six instances of `v1` (or `v0`), in any state.
fn fleet(bytes: &mut Bytes<'_>) -> Vec<Instance> {
    (0..bytes.byte() % 7)
        .map(|i| {
            let kind = bytes.byte();
            let revision = if kind & 0x80 == 0 { "v1" } else { "v0" };
            let state = match kind % 8 {
                0 | 1 | 7 => InstanceState::Ready,
                2 => InstanceState::Starting,
                3 => InstanceState::Provisioning,
                4 => InstanceState::Draining,
                5 => InstanceState::Failed,
                _ => InstanceState::Terminated,
            };
            let mut instance = Instance::new(format!("{revision}-old-{i}"), revision, state);
            instance.available = state == InstanceState::Ready && kind % 8 < 2;
            instance.in_rotation = instance.available && kind.is_multiple_of(8);
            instance
        })
        .collect()
}

/// The table a caller's load balancer applies before the rollout: every instance in
/// rotation, revisions in name order weighted by their counts (largest remainder, ties
/// to the earlier revision), as the rollout itself reads the fleet.
fn initial_table(fleet: &[Instance]) -> TrafficTable {
    let listed: Vec<&Instance> = fleet.iter().filter(|i| i.in_rotation).collect();
    let count = |r: &str| listed.iter().filter(|i| i.revision.as_str() == r).count() as u64;
    let counts = [("v0", count("v0")), ("v1", count("v1"))];
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return TrafficTable::empty();
    }
    let mut shares = counts.map(|(_, n)| n * 10_000 / total);
    if shares.iter().sum::<u64>() < 10_000 {
        let remainder = |k: usize| counts[k].1 * 10_000 % total;
        let k = if remainder(1) > remainder(0) { 1 } else { 0 };
        shares[k] += 10_000 - shares.iter().sum::<u64>();
    }
    let mut builder = TrafficTable::builder();
    for ((revision, n), share) in counts.into_iter().zip(shares) {
        let ids = listed
            .iter()
            .filter(|i| i.revision.as_str() == revision)
            .map(|i| i.id.clone());
        if n > 0 {
            builder = builder.revision(revision, share, ids);
        }
    }
    builder.build().expect("counts make a valid split")
}

/// Plays the rollout the bytes describe, checking every invariant after every call.
pub fn rollout_inputs(data: &[u8]) {
    let mut bytes = Bytes(data);
    let spec = spec(&mut bytes);
    let fleet = fleet(&mut bytes);
    let Ok(mut rollout) = Rollout::new(Timestamp::ZERO, spec, fleet.clone()) else {
        return;
    };
    let mut checker =
        Checker::new(initial_table(&fleet), &fleet).with_round_trip(bytes.byte() & 1 == 0);
    let (mut actions, events) = drain(&mut rollout);
    expect_none(
        &checker.created(&rollout, &actions, &events),
        "Rollout::new",
    );
    let mut now = 0u64;
    let mut outstanding: Vec<Action> = std::mem::take(&mut actions);
    for _ in 0..MAX_CALLS {
        let Some(op) = bytes.next() else { break };
        let before = rollout.clone();
        // Time mostly moves forward, sometimes back (the rollout must keep its clock).
        now = match op >> 5 {
            0 => now.saturating_sub(u64::from(bytes.byte()) * 100),
            1 | 2 => now,
            _ => now.saturating_add(u64::from(bytes.u16()) * 10),
        };
        let at = Timestamp::from_millis(now);
        let (call_input, call) = match op % 8 {
            0..=2 if !outstanding.is_empty() => {
                let action = outstanding.remove(usize::from(bytes.byte()) % outstanding.len());
                let input = answer(&action, bytes.byte(), &rollout);
                (Some(input), None)
            }
            3 => {
                let ids: Vec<_> = rollout.fleet().iter().map(|i| i.id.clone()).collect();
                let Some(instance) = ids.get(usize::from(bytes.byte()) % ids.len().max(1)) else {
                    continue;
                };
                let input = match bytes.byte() % 4 {
                    0 => Input::InstanceLost {
                        instance: instance.clone(),
                        reason: "fuzz".into(),
                    },
                    b => Input::Health {
                        instance: instance.clone(),
                        healthy: b != 1,
                    },
                };
                (Some(input), None)
            }
            4 => {
                let next = rollout.poll_timeout().map_or(now, Timestamp::as_millis);
                now = now.max(next.min(now.saturating_add(3_600_000)));
                let at = Timestamp::from_millis(now);
                rollout.handle_timeout(at);
                (None, Some(Call::Timeout { at }))
            }
            _ => {
                let verb = bytes.byte();
                let (result, resize) = command(&mut rollout, at, verb, bytes.byte());
                let call = Call::Command {
                    at,
                    resize,
                    refused: result.is_err(),
                };
                (None, Some(call))
            }
        };
        let call = match (&call_input, call) {
            (Some(input), _) => {
                rollout.handle_input(at, input.clone());
                Call::Input {
                    at,
                    input,
                    stale: false,
                }
            }
            (None, Some(call)) => call,
            (None, None) => continue,
        };
        let (actions, events) = drain(&mut rollout);
        let found = checker.step(&before, &rollout, &call, &actions, &events);
        expect_none(&found, &format!("{call:?}"));
        outstanding.extend(actions);
        outstanding.truncate(64);
    }
    let _ = rollout.status().to_string();
}

fn drain(rollout: &mut Rollout) -> (Vec<Action>, Vec<Event>) {
    let actions = std::iter::from_fn(|| rollout.poll_action()).collect();
    let events = std::iter::from_fn(|| rollout.poll_event()).collect();
    (actions, events)
}

fn expect_none(found: &[crate::invariants::Violation], context: &str) {
    assert!(found.is_empty(), "{context}: {found:?}");
}

/// An answer to `action`: honest mostly, a failure when `how` says so.
fn answer(action: &Action, how: u8, rollout: &Rollout) -> Input {
    let fails = how.is_multiple_of(5);
    match action {
        Action::Provision { id, .. } | Action::Redeploy { id, .. } if fails => {
            Input::ProvisionFailed {
                action: *id,
                reason: "fuzz".into(),
            }
        }
        Action::Provision { id, .. } | Action::Redeploy { id, .. } => {
            Input::Provisioned { action: *id }
        }
        Action::UpdateTraffic { generation, .. } => Input::TrafficApplied {
            generation: if fails {
                rollout.acknowledged_generation()
            } else {
                *generation
            },
        },
        Action::Drain { id, .. } => Input::Drained { action: *id },
        Action::Terminate { id, .. } => Input::Terminated { action: *id },
        Action::Measure { id, .. } => Input::Measured {
            action: *id,
            measurement: crate::analysis::Measurement::Value(f64::from(how)),
        },
        Action::RunHook { id, .. } => Input::HookResult {
            action: *id,
            passed: !fails,
            reason: String::new(),
        },
    }
}

/// An operator verb; returns its result and whether it resizes.
fn command(
    rollout: &mut Rollout,
    at: Timestamp,
    verb: u8,
    arg: u8,
) -> (Result<(), crate::CommandError>, bool) {
    let revision = ["v1", "v2", "v3", "v0"][usize::from(arg % 4)];
    match verb % 10 {
        0 | 1 => (rollout.deploy(at, revision), false),
        2 => (rollout.pause(at), false),
        3 => (rollout.resume(at), false),
        4 => (rollout.promote(at), false),
        5 => (rollout.promote_full(at), false),
        6 => (rollout.abort(at), false),
        7 => (rollout.retry(at), false),
        8 => (rollout.rollback(at), false),
        _ => (rollout.scale(at, u32::from(arg % 7)), true),
    }
}
