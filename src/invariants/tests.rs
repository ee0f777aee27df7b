//! The checker catches what it is for: each test breaks one rule on purpose.

use super::{Call, Checker, Rule};
use crate::model::{Instance, InstanceId};
use crate::output::{Action, ActionId, Event};
use crate::rollout::Rollout;
use crate::spec::RolloutSpec;
use crate::time::{Duration, Timestamp};
use crate::traffic::TrafficTable;

fn drain(rollout: &mut Rollout) -> (Vec<Action>, Vec<Event>) {
    let actions = std::iter::from_fn(|| rollout.poll_action()).collect();
    let events = std::iter::from_fn(|| rollout.poll_event()).collect();
    (actions, events)
}

/// Three instances of v1, serving, and a checker that has seen the rollout created.
fn serving() -> (Rollout, Checker) {
    let fleet: Vec<Instance> = (0..3)
        .map(|i| Instance::serving(format!("web-{i}"), "v1"))
        .collect();
    let table = TrafficTable::builder()
        .revision("v1", 10_000, fleet.iter().map(|i| i.id.clone()))
        .build()
        .unwrap();
    let spec = RolloutSpec {
        desired: 3,
        ..RolloutSpec::default()
    };
    let mut rollout = Rollout::new(Timestamp::ZERO, spec, fleet.clone()).unwrap();
    let mut checker = Checker::new(table, &fleet);
    let (actions, events) = drain(&mut rollout);
    assert_eq!(checker.created(&rollout, &actions, &events), vec![]);
    (rollout, checker)
}

#[test]
fn an_honest_deploy_breaks_nothing() {
    let (mut rollout, mut checker) = serving();
    let before = rollout.clone();
    let at = Timestamp::ZERO + Duration::from_secs(1);
    rollout.deploy(at, "v2").unwrap();
    let (actions, events) = drain(&mut rollout);
    assert!(!actions.is_empty());
    let call = Call::Command {
        at,
        resize: false,
        refused: false,
    };
    assert_eq!(
        checker.step(&before, &rollout, &call, &actions, &events),
        vec![]
    );
}

#[test]
fn terminating_an_instance_in_rotation_without_a_drain_is_caught() {
    let (rollout, mut checker) = serving();
    let forged = vec![Action::Terminate {
        id: ActionId(1),
        instance: InstanceId::from("web-0"),
    }];
    let call = Call::Timeout {
        at: Timestamp::ZERO,
    };
    let found = checker.step(&rollout, &rollout, &call, &forged, &[]);
    let rules: Vec<Rule> = found.iter().map(|v| v.rule).collect();
    assert!(rules.contains(&Rule::Rotation), "{found:?}");
    assert!(found.iter().all(|v| !v.detail.contains('\n')));
    assert_eq!(Rule::Rotation.invariant(), Some(2));
}

#[test]
fn a_clock_going_back_unreported_and_a_refused_command_that_acts_are_caught() {
    let (mut rollout, mut checker) = serving();
    let later = Timestamp::ZERO + Duration::from_secs(5);
    let before = rollout.clone();
    rollout.handle_timeout(later);
    let (actions, events) = drain(&mut rollout);
    let _ = checker.step(
        &before,
        &rollout,
        &Call::Timeout { at: later },
        &actions,
        &events,
    );
    // The rollout is told an earlier time, but the checker hears of no report of it.
    let before = rollout.clone();
    let forged = vec![Action::Terminate {
        id: ActionId(99),
        instance: InstanceId::from("web-1"),
    }];
    let call = Call::Command {
        at: Timestamp::ZERO,
        resize: false,
        refused: true,
    };
    let found = checker.step(&before, &rollout, &call, &forged, &[]);
    let rules: Vec<Rule> = found.iter().map(|v| v.rule).collect();
    assert!(rules.contains(&Rule::Contract), "{found:?}");
    let call = Call::Timeout {
        at: Timestamp::ZERO,
    };
    let found = checker.step(&before, &rollout, &call, &[], &[]);
    assert!(found.iter().any(|v| v.rule == Rule::Clock), "{found:?}");
}
