//! The invariants of `DESIGN.md`, checked of every state and of every step.

use cutover::{
    Action, ActionId, Event, EventKind, Input, InstanceState, Phase, Revision, Rollout, Timestamp,
    Weight,
};

use super::blue_green::is_blue_green;

/// Whether an aborted target may stay in the table at weight 0 (blue-green, and a
/// canary behind a traffic router).
fn keeps_target_at_zero(rollout: &cutover::Rollout) -> bool {
    is_blue_green(rollout)
        || matches!(&rollout.spec().strategy, cutover::StrategySpec::Canary(c) if c.traffic_routing)
}
use super::harness::{Call, World, drain_outputs, round_trip};
use super::moves::{Command, Move};

/// The availability floor of the rollout's spec.
fn limits_floor(rollout: &Rollout) -> u32 {
    rollout.limits().min_available()
}

/// A rollout's document with its clock left out.
fn without_clock(rollout: &Rollout) -> serde_json::Value {
    let mut value = serde_json::to_value(rollout).expect("a rollout serializes");
    value["rollout"]["now"] = serde_json::Value::Null;
    value
}

impl World {
    /// The rules that hold of any state at rest (invariants 1 and 3, bookkeeping).
    pub fn check_state(&self) {
        self.check_state_in("at rest");
    }

    fn check_state_in(&self, context: &str) {
        self.check_blue_green_state(context);
        self.check_canary_state(context);
        let rollout = &self.rollout;
        let table = rollout.traffic();
        // Invariant 1.
        if !table.is_empty() {
            let total: u32 = table
                .backends()
                .iter()
                .map(|b| u32::from(b.weight().basis_points()))
                .sum();
            assert_eq!(
                total, 10_000,
                "{context}: invariant 1: weights sum to {total}"
            );
        }
        for backend in table.backends() {
            assert!(
                backend.weight().is_zero() || backend.instance_count() > 0,
                "{context}: invariant 1: {} has weight without instances",
                backend.revision()
            );
            for (id, _) in backend.instances() {
                let instance = rollout.fleet().get(id).unwrap_or_else(|| {
                    panic!("{context}: invariant 1: {id} is in the table, not in the fleet")
                });
                assert_eq!(
                    instance.state,
                    InstanceState::Ready,
                    "{context}: invariant 2: {id} in rotation while {}",
                    instance.state
                );
                assert!(
                    instance.available,
                    "{context}: invariant 1: {id} in rotation before min_ready"
                );
                assert_eq!(
                    &instance.revision,
                    backend.revision(),
                    "{context}: {id} listed under the wrong revision"
                );
            }
        }
        assert_eq!(
            &self.tables[&self.published()],
            table,
            "{context}: the diffs published do not add up to the table"
        );
        assert_eq!(
            rollout.acknowledged_generation(),
            self.acked,
            "{context}: acknowledged generation"
        );
        // Invariant 5: traffic follows capacity; what runs hot is reported.
        self.check_traffic_state(&rollout.status(), context);
        // What the rollout believes is in rotation is what the load balancer applies.
        let applied = &self.tables[&self.acked];
        for instance in rollout.fleet().iter() {
            assert_eq!(
                instance.in_rotation,
                applied.revision_of(&instance.id).is_some(),
                "{context}: {} in_rotation disagrees with the acknowledged table {}",
                instance.id,
                self.acked
            );
        }
        // Invariant 3, first half. A resize that lowers the peak leaves the instances
        // above it that already exist: not the rollout's doing, and never more of them.
        let limits = rollout.limits();
        let live = rollout.fleet().total().live();
        assert!(
            live <= (limits.max_total() as usize).max(self.peak_allowance),
            "{context}: invariant 3: {live} live instances exceed desired {} + surge {}",
            limits.desired(),
            limits.max_surge()
        );
        assert_eq!(
            rollout.phase().is_in_flight(),
            rollout.target().is_some(),
            "{context}: phase and target"
        );
        // Invariant 4, the steady part: once aborted, as soon as the stable revision can
        // carry all traffic (it has the floor available), only it is in the table.
        if matches!(rollout.phase(), Phase::Aborted { .. }) {
            let floor = (limits.min_available() as usize).max(1);
            match rollout.stable() {
                // Nothing to go back to: the abort keeps serving what serves.
                None => assert!(
                    !table.is_empty()
                        || !rollout
                            .fleet()
                            .iter()
                            .any(|i| i.state == InstanceState::Ready && i.available),
                    "{context}: invariant 4: an aborted first deploy stopped serving"
                ),
                // Blue-green keeps an aborted green (at weight 0) for its abort delay,
                // and so does a canary beside a full stable revision.
                Some(stable)
                    if rollout.fleet().counts(stable).available >= floor
                        && keeps_target_at_zero(rollout) =>
                {
                    assert_eq!(
                        table.weight(stable),
                        Weight::FULL,
                        "{context}: invariant 4: aborted table"
                    );
                }
                Some(stable) if rollout.fleet().counts(stable).available >= floor => {
                    let only: Vec<(&Revision, Weight)> = table
                        .backends()
                        .iter()
                        .map(|b| (b.revision(), b.weight()))
                        .collect();
                    assert_eq!(
                        only,
                        vec![(stable, Weight::FULL)],
                        "{context}: invariant 4: aborted table"
                    );
                }
                Some(_) => {}
            }
        }
    }

    pub(super) fn check_step(
        &self,
        before: &Rollout,
        mv: &Move,
        call: &Call,
        actions: &[Action],
        events: &[Event],
        context: &str,
    ) {
        let after = &self.rollout;
        self.check_state_in(context);
        // Invariant 7: the clock never goes back; it moves to `at` if that is later,
        // except that a refused command may leave it where it was.
        let at = call.at();
        let refused = matches!(call, Call::Command { result: Err(_), .. });
        let moved = before.now().max(at);
        assert!(
            after.now() == moved || (refused && after.now() == before.now()),
            "{context}: invariant 8: the rollout's clock is {}, given {at} after {}",
            after.now(),
            before.now()
        );
        let backwards = events
            .iter()
            .any(|e| matches!(e.kind, EventKind::ClockWentBackwards { .. }));
        assert!(
            !backwards || at < before.now(),
            "{context}: ClockWentBackwards without the clock going back"
        );
        if !refused {
            assert_eq!(
                backwards,
                at < before.now(),
                "{context}: a clock going back must be reported"
            );
        }
        // Events: each phase change starts where the last one ended.
        let mut phase = before.phase().clone();
        for event in events {
            if let EventKind::PhaseChanged { from, to } = &event.kind {
                assert_eq!(from, &phase, "{context}: phase change from the wrong phase");
                phase = to.clone();
            }
            assert_eq!(event.at, after.now(), "{context}: event time");
            assert!(
                !event.to_string().contains('\n'),
                "{context}: an event displays on one line"
            );
        }
        assert_eq!(
            phase,
            after.phase(),
            "{context}: phase changes do not add up"
        );
        // Invariant 5, persistence: a round trip gives the same rollout.
        if self.round_trip_each_step {
            assert_eq!(
                &round_trip(after),
                after,
                "{context}: invariant 6: serde round trip"
            );
        }
        // Timers move forward.
        // (Not checked with a zero drain timeout, nor at the last representable instant:
        // see `poll_timeout_moves_forward_with_a_zero_drain_timeout` and
        // `poll_timeout_moves_forward_at_the_end_of_time` in `rollout_properties.rs`,
        // engine bugs.)
        let end_of_time = after.now() == Timestamp::from_millis(u64::MAX);
        if matches!(call, Call::Timeout { .. })
            && !after.spec().drain_timeout.is_zero()
            && !end_of_time
            && let Some(next) = after.poll_timeout()
        {
            assert!(
                next > after.now(),
                "{context}: poll_timeout {next} not later than now {} after handle_timeout",
                after.now()
            );
        }
        // Terminal phases absorb inputs and timeouts.
        if before.phase().is_terminal() && !matches!(call, Call::Command { .. }) {
            assert_eq!(
                after.phase(),
                before.phase(),
                "{context}: an input left a terminal phase"
            );
        }
        // Paused and halted rollouts make no progress.
        // (A step's own pause keeps its plan in force: blue-green replaces green
        // instances while it waits for the promotion.)
        let frozen = |p: &Phase| {
            matches!(p, Phase::Paused { .. } | Phase::Halted { .. })
                && !matches!(
                    p,
                    Phase::Paused {
                        reason: cutover::PauseReason::Step { .. }
                    }
                )
        };
        // (A resize is carried out whatever holds the rollout.)
        let resize = matches!(
            mv,
            Move::Command(Command::Scale(_) | Command::UpdateSpec(_))
        );
        if frozen(&before.phase()) && frozen(&after.phase()) && !resize {
            assert!(
                !actions
                    .iter()
                    .any(|a| matches!(a, Action::Provision { .. })),
                "{context}: provisioned while {}",
                after.phase()
            );
        }
        // Completion means exactly `desired` available instances of the new stable revision.
        if after.phase() == Phase::Completed && before.phase() != Phase::Completed {
            let stable = after.stable().expect("completed has a stable revision");
            let desired = after.limits().desired() as usize;
            // Blue-green keeps the previous environment as the warm standby.
            let standby = after
                .standby()
                .map_or(0, |s| after.fleet().counts(s).live());
            assert_eq!(
                after.fleet().total().live() - standby,
                desired,
                "{context}: completed with extra instances"
            );
            assert_eq!(
                after.fleet().counts(stable).available,
                desired,
                "{context}: completed short of desired"
            );
        }
        self.check_capacity(before, mv, context);
        self.check_traffic_step(before, &after.status(), context);
        self.check_blue_green_step(before, mv, context);
        self.check_canary_step(before, context);
        self.check_abort_step(before, mv, context);
        // A refused command changes nothing (the clock aside).
        if refused {
            assert!(
                actions.is_empty(),
                "{context}: a refused command acted: {actions:?}"
            );
            assert!(
                events
                    .iter()
                    .all(|e| matches!(e.kind, EventKind::ClockWentBackwards { .. })),
                "{context}: a refused command reported: {events:?}"
            );
            assert_eq!(
                without_clock(after),
                without_clock(before),
                "{context}: a refused command changed the rollout"
            );
        }
        // An input that is certainly stale, unknown or misdirected is reported as
        // ignored, and changes only what the passage of time changes: exactly what an
        // unknown action's result at the same time changes.
        if matches!(call, Call::Input { bogus: true, .. }) {
            let ignored = events
                .iter()
                .filter(|e| matches!(e.kind, EventKind::InputIgnored { .. }))
                .count();
            assert_eq!(
                ignored, 1,
                "{context}: a stale input must be reported as ignored once"
            );
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
            assert_eq!(&twin, after, "{context}: a stale input changed the state");
            assert_eq!(twin_actions, actions, "{context}: a stale input acted");
            assert_eq!(twin_events, own_events, "{context}: a stale input reported");
            if before.poll_timeout().is_none_or(|t| t > at) && at >= before.now() {
                assert!(
                    actions.is_empty(),
                    "{context}: ignored with nothing due, yet acted: {actions:?}"
                );
                assert_eq!(
                    without_clock(after),
                    without_clock(before),
                    "{context}: ignored with nothing due, yet changed more than the clock"
                );
            }
        }
    }

    /// Invariant 3, second half: available capacity does not drop below
    /// `desired - max_unavailable` because of anything the rollout decided.
    fn check_capacity(&self, before: &Rollout, mv: &Move, context: &str) {
        if mv.is_fault() {
            return;
        }
        let after = &self.rollout;
        // Abort and rollback are held to the floor like everything else, a first
        // deploy's included (it keeps what serves).
        let floor = after.limits().min_available() as usize;
        let was = before.fleet().total().available;
        let is = after.fleet().total().available;
        if was >= floor {
            assert!(
                is >= floor,
                "{context}: invariant 3: available capacity fell from {was} to {is}, below desired - max_unavailable = {floor}"
            );
        }
    }

    /// Invariant 4 while the stable revision cannot serve: after an abort the new
    /// revision keeps serving until the stable one can (faults aside), so the table is
    /// not emptied — whenever the spec's floor is at least one instance. Only a spec
    /// whose floor is 0 (downtime allowed, all instances may be unavailable) lets the
    /// way back stop every serving instance, as its rolling update would.
    fn check_abort_step(&self, before: &Rollout, mv: &Move, context: &str) {
        let after = &self.rollout;
        if !matches!(after.phase(), Phase::Aborted { .. })
            || mv.is_fault()
            || after.limits().min_available() == 0
        {
            return;
        }
        if let Some(stable) = after.stable()
            && after.fleet().counts(stable).available == 0
            && !before.traffic().is_empty()
        {
            assert!(
                !after.traffic().is_empty(),
                "{context}: invariant 4: aborted, {stable} cannot serve, and the table was emptied"
            );
        }
    }
}
