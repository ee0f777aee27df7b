//! The rules that hold of every call: the clock, phase changes, the loop's contract,
//! capacity and the way back.

use super::{Call, Checker, Found, Rule};
use crate::input::Input;
use crate::output::{Action, ActionId, Event, EventKind};
use crate::rollout::{PauseReason, Phase, Rollout};
use crate::time::Timestamp;

/// A rollout's document with its clock left out.
#[cfg(any(feature = "json", feature = "driver"))]
fn without_clock(rollout: &Rollout) -> Option<serde_json::Value> {
    let mut value = serde_json::to_value(rollout).ok()?;
    value["rollout"]["now"] = serde_json::Value::Null;
    Some(value)
}

/// Whether `after` is `before` but for its clock (always true without a JSON feature:
/// the rollout's clock is not settable, so it is compared through its document).
fn same_but_clock(before: &Rollout, after: &Rollout) -> bool {
    #[cfg(any(feature = "json", feature = "driver"))]
    {
        without_clock(before) == without_clock(after)
    }
    #[cfg(not(any(feature = "json", feature = "driver")))]
    {
        let _ = (before, after);
        true
    }
}

fn drain_outputs(rollout: &mut Rollout) -> (Vec<Action>, Vec<Event>) {
    let actions = std::iter::from_fn(|| rollout.poll_action()).collect();
    let events = std::iter::from_fn(|| rollout.poll_event()).collect();
    (actions, events)
}

/// Paused or halted by something other than a step's own pause (a step's pause keeps
/// its plan in force: blue-green replaces green instances while it waits).
fn frozen(phase: &Phase) -> bool {
    matches!(phase, Phase::Paused { .. } | Phase::Halted { .. })
        && !matches!(
            phase,
            Phase::Paused {
                reason: PauseReason::Step { .. }
            }
        )
}

impl Checker {
    pub(super) fn check_step(
        &self,
        before: &Rollout,
        after: &Rollout,
        call: &Call<'_>,
        actions: &[Action],
        events: &[Event],
        found: &mut Found,
    ) {
        let status = after.status();
        self.check_state(after, &status, found);
        // The clock never goes back; it moves to `at` if that is later, except that a
        // refused command may leave it where it was.
        let at = call.at();
        let refused = call.is_refused();
        let moved = before.now().max(at);
        found.ensure(
            after.now() == moved || (refused && after.now() == before.now()),
            Rule::Clock,
            || {
                format!(
                    "the rollout's clock is {}, given {at} after {}",
                    after.now(),
                    before.now()
                )
            },
        );
        let backwards = events
            .iter()
            .any(|e| matches!(e.kind, EventKind::ClockWentBackwards { .. }));
        found.ensure(!backwards || at < before.now(), Rule::Clock, || {
            "ClockWentBackwards without the clock going back".to_owned()
        });
        if !refused {
            found.same(backwards, at < before.now(), Rule::Clock, || {
                "a clock going back must be reported".to_owned()
            });
        }
        // Events: each phase change starts where the last one ended.
        let mut phase = before.phase().clone();
        for event in events {
            if let EventKind::PhaseChanged { from, to } = &event.kind {
                found.same(from, &phase, Rule::Bookkeeping, || {
                    "phase change from the wrong phase".to_owned()
                });
                phase = to.clone();
            }
            found.same(event.at, after.now(), Rule::Bookkeeping, || {
                "event time".to_owned()
            });
            found.ensure(!event.to_string().contains('\n'), Rule::Bookkeeping, || {
                "an event displays on one line".to_owned()
            });
        }
        found.same(phase, after.phase(), Rule::Bookkeeping, || {
            "phase changes do not add up".to_owned()
        });
        #[cfg(any(feature = "json", feature = "driver"))]
        if self.round_trip {
            let restored = serde_json::to_string(after)
                .ok()
                .and_then(|json| serde_json::from_str::<Rollout>(&json).ok());
            found.ensure(restored.as_ref() == Some(after), Rule::Determinism, || {
                "a serde round trip gives another rollout".to_owned()
            });
        }
        // Timers move forward. (Not checked with a zero drain timeout, nor at the last
        // representable instant: known engine limits, see `rollout_properties.rs`.)
        let end_of_time = after.now() == Timestamp::from_millis(u64::MAX);
        if matches!(call, Call::Timeout { .. })
            && !after.spec().drain_timeout.is_zero()
            && !end_of_time
            && let Some(next) = after.poll_timeout()
        {
            found.ensure(next > after.now(), Rule::Contract, || {
                format!(
                    "poll_timeout {next} not later than now {} after handle_timeout",
                    after.now()
                )
            });
        }
        // Terminal phases absorb inputs and timeouts.
        if before.phase().is_terminal() && !matches!(call, Call::Command { .. }) {
            found.same(after.phase(), before.phase(), Rule::Contract, || {
                "an input left a terminal phase".to_owned()
            });
        }
        // Paused and halted rollouts make no progress (a resize is carried out
        // whatever holds the rollout).
        if frozen(&before.phase()) && frozen(&after.phase()) && !call.is_resize() {
            found.ensure(
                !actions
                    .iter()
                    .any(|a| matches!(a, Action::Provision { .. })),
                Rule::Contract,
                || format!("provisioned while {}", after.phase()),
            );
        }
        // Completion means exactly `desired` available instances of the new stable revision.
        if after.phase() == Phase::Completed
            && before.phase() != Phase::Completed
            && let Some(stable) = after.stable()
        {
            let desired = after.limits().desired() as usize;
            // Blue-green keeps the previous environment as the warm standby.
            let standby = after
                .standby()
                .map_or(0, |s| after.fleet().counts(s).live());
            found.same(
                after.fleet().total().live() - standby,
                desired,
                Rule::Strategy,
                || "completed with extra instances".to_owned(),
            );
            found.same(
                after.fleet().counts(stable).available,
                desired,
                Rule::Strategy,
                || "completed short of desired".to_owned(),
            );
        }
        check_capacity(before, after, call, found);
        self.check_traffic_step(before, after, &status, found);
        self.check_blue_green_step(before, after, call, found);
        self.check_canary_step(before, after, found);
        check_abort_step(before, after, call, found);
        if refused {
            check_refused(before, after, actions, events, found);
        }
        if let Call::Input { stale: true, .. } = call {
            check_stale(before, after, at, actions, events, found);
        }
    }
}

/// A refused command changes nothing (the clock aside).
fn check_refused(
    before: &Rollout,
    after: &Rollout,
    actions: &[Action],
    events: &[Event],
    found: &mut Found,
) {
    found.ensure(actions.is_empty(), Rule::Contract, || {
        format!("a refused command acted: {actions:?}")
    });
    found.ensure(
        events
            .iter()
            .all(|e| matches!(e.kind, EventKind::ClockWentBackwards { .. })),
        Rule::Contract,
        || format!("a refused command reported: {events:?}"),
    );
    found.ensure(same_but_clock(before, after), Rule::Contract, || {
        "a refused command changed the rollout".to_owned()
    });
}

/// An input that is certainly stale, unknown or misdirected is reported as ignored, and
/// changes only what the passage of time changes: exactly what an unknown action's
/// result at the same time changes.
fn check_stale(
    before: &Rollout,
    after: &Rollout,
    at: Timestamp,
    actions: &[Action],
    events: &[Event],
    found: &mut Found,
) {
    let ignored = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::InputIgnored { .. }))
        .count();
    found.same(ignored, 1, Rule::Contract, || {
        "a stale input must be reported as ignored once".to_owned()
    });
    let mut twin = before.clone();
    twin.handle_input(
        at,
        Input::Terminated {
            action: ActionId(u64::MAX),
        },
    );
    let (twin_actions, twin_events) = drain_outputs(&mut twin);
    let not_ignored = |e: &&Event| !matches!(e.kind, EventKind::InputIgnored { .. });
    let twin_events: Vec<&Event> = twin_events.iter().filter(not_ignored).collect();
    let own_events: Vec<&Event> = events.iter().filter(not_ignored).collect();
    found.ensure(&twin == after, Rule::Contract, || {
        "a stale input changed the state".to_owned()
    });
    found.same(twin_actions.as_slice(), actions, Rule::Contract, || {
        "a stale input acted".to_owned()
    });
    found.same(twin_events, own_events, Rule::Contract, || {
        "a stale input reported".to_owned()
    });
    if before.poll_timeout().is_none_or(|t| t > at) && at >= before.now() {
        found.ensure(actions.is_empty(), Rule::Contract, || {
            format!("ignored with nothing due, yet acted: {actions:?}")
        });
        found.ensure(same_but_clock(before, after), Rule::Contract, || {
            "ignored with nothing due, yet changed more than the clock".to_owned()
        });
    }
}

/// Invariant 3, second half: available capacity does not drop below
/// `desired - max_unavailable` because of anything the rollout decided (abort and
/// rollback included, a first deploy's too: it keeps what serves).
fn check_capacity(before: &Rollout, after: &Rollout, call: &Call<'_>, found: &mut Found) {
    if call.is_fault() {
        return;
    }
    let floor = after.limits().min_available() as usize;
    let was = before.fleet().total().available;
    let is = after.fleet().total().available;
    if was >= floor {
        found.ensure(is >= floor, Rule::Floor, || {
            format!(
                "available capacity fell from {was} to {is}, below desired - max_unavailable = {floor}"
            )
        });
    }
}

/// Invariant 4 while the stable revision cannot serve: after an abort the new revision
/// keeps serving until the stable one can (faults aside), so the table is not emptied
/// — whenever the spec's floor is at least one instance. Only a spec whose floor is 0
/// (downtime allowed) lets the way back stop every serving instance.
fn check_abort_step(before: &Rollout, after: &Rollout, call: &Call<'_>, found: &mut Found) {
    if !matches!(after.phase(), Phase::Aborted { .. })
        || call.is_fault()
        || after.limits().min_available() == 0
    {
        return;
    }
    if let Some(stable) = after.stable()
        && after.fleet().counts(stable).available == 0
        && !before.traffic().is_empty()
    {
        found.ensure(!after.traffic().is_empty(), Rule::Rollback, || {
            format!("aborted, {stable} cannot serve, and the table was emptied")
        });
    }
}
