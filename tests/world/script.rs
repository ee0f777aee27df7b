//! Scripts: the same world driven by name (`provision("v2-1")`, `health("v2-1", true)`,
//! `ack_traffic()`, `advance(1_000)`, …) instead of by random index. Every verb is one
//! [`World::step`] or more, so scripts get every invariant check the random runs get.
//! [`World::take`] summarizes what the rollout asked for since the last look.

use cutover::traffic::TableChange;
use cutover::{
    Action, ActionId, CommandError, EventKind, Input, Instance, InstanceGroup, InstanceId,
    InstanceState, Phase, Revision, RolloutSpec, TrafficTable,
};

use super::harness::World;
use super::moves::{Command, Move};

/// A rolling spec from strings, as people write them (`"25%"` or a count).
pub fn spec(desired: u32, surge: &str, unavailable: &str) -> RolloutSpec {
    let quantity = |text: &str| match text.strip_suffix('%') {
        Some(p) => cutover::spec::Quantity::Percent(p.parse().expect("a percentage")),
        None => cutover::spec::Quantity::Count(text.parse().expect("a count")),
    };
    RolloutSpec::rolling(desired, quantity(surge), quantity(unavailable))
}

/// `spec` with an analysis named `errors` (the `error-rate` metric, below 5% to pass)
/// for analysis and experiment steps to name.
pub fn with_errors_analysis(mut spec: RolloutSpec) -> RolloutSpec {
    let check = cutover::analysis::MetricCheck::Threshold {
        success: Some(cutover::analysis::Condition::Below(0.05)),
        failure: None,
    };
    spec.analyses.insert(
        "errors".into(),
        vec![cutover::analysis::MetricSpec::new("error-rate", check)],
    );
    spec
}

/// Reads a spec document and checks it, as a controller loading its config would; the
/// refusal's message, whichever step refused. Panics if the document is accepted.
pub fn refusal(doc: &str) -> String {
    match serde_json::from_str::<RolloutSpec>(doc) {
        Err(error) => error.to_string(),
        Ok(spec) => match spec.validate() {
            Err(error) => error.to_string(),
            Ok(limits) => panic!("{doc} was accepted: {limits:?}"),
        },
    }
}

/// Asserts that a refusal's `message` says each of `parts`.
pub fn assert_says(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{message:?} does not say {part:?}");
    }
}

/// A blue-green spec of `desired` instances, the strategy's defaults edited by `edit`.
pub fn blue_green(
    desired: u32,
    edit: impl FnOnce(&mut cutover::spec::BlueGreenSpec),
) -> RolloutSpec {
    let mut strategy = cutover::spec::BlueGreenSpec::default();
    edit(&mut strategy);
    RolloutSpec {
        desired,
        strategy: cutover::StrategySpec::BlueGreen(strategy),
        ..RolloutSpec::default()
    }
}

/// A canary spec of `desired` instances following `steps`, the strategy's defaults
/// edited by `edit`.
pub fn canary(
    desired: u32,
    steps: Vec<cutover::spec::CanaryStep>,
    edit: impl FnOnce(&mut cutover::spec::CanarySpec),
) -> RolloutSpec {
    let mut strategy =
        cutover::spec::CanarySpec::with_plan(cutover::spec::CanaryPlan::Steps(steps));
    edit(&mut strategy);
    RolloutSpec {
        desired,
        strategy: cutover::StrategySpec::Canary(strategy),
        ..RolloutSpec::default()
    }
}

/// `n` serving instances of `revision`, named `<revision>-old-<i>`.
pub fn fleet(revision: &str, n: usize) -> Vec<Instance> {
    (0..n)
        .map(|i| Instance::serving(format!("{revision}-old-{i}"), revision))
        .collect()
}

/// The names `<revision>-old-<i>` for `i` in `range`, as `fleet` makes them.
pub fn old(revision: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{revision}-old-{i}")).collect()
}

/// Names of `revision`'s instances among `names`.
pub fn of_revision(names: &[String], revision: &str) -> Vec<String> {
    let prefix = format!("{revision}-");
    names
        .iter()
        .filter(|n| n.starts_with(&prefix))
        .cloned()
        .collect()
}

/// What a batch of actions asked for, by instance name, in the order asked.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Instances to provision.
    pub provision: Vec<String>,
    /// `UpdateTraffic` actions.
    pub tables: usize,
    /// Instances the table updates put in rotation.
    pub added: Vec<String>,
    /// Instances the table updates took out of rotation.
    pub removed: Vec<String>,
    /// Revisions the table updates removed entirely.
    pub revisions_removed: Vec<String>,
    /// Instances to drain.
    pub drain: Vec<String>,
    /// Instances to terminate.
    pub terminate: Vec<String>,
    /// Hooks to run, by name.
    pub hooks: Vec<String>,
    /// Instances to redeploy in place (a reused standby).
    pub redeploy: Vec<String>,
}

impl Summary {
    pub fn of(actions: &[Action]) -> Summary {
        let mut summary = Summary::default();
        for action in actions {
            match action {
                Action::Provision { instance, .. } => summary.provision.push(instance.to_string()),
                Action::UpdateTraffic { diff, .. } => {
                    summary.tables += 1;
                    for change in &diff.changes {
                        match change {
                            TableChange::AddInstance { instance, .. } => {
                                summary.added.push(instance.to_string());
                            }
                            TableChange::RemoveInstance { instance, .. } => {
                                summary.removed.push(instance.to_string());
                            }
                            TableChange::RemoveRevision { revision } => {
                                summary.revisions_removed.push(revision.to_string());
                            }
                            _ => {}
                        }
                    }
                }
                Action::Drain { instance, .. } => summary.drain.push(instance.to_string()),
                Action::Terminate { instance, .. } => summary.terminate.push(instance.to_string()),
                Action::Measure { .. } => {}
                Action::RunHook { hook, .. } => summary.hooks.push(hook.clone()),
                Action::Redeploy { instance, .. } => summary.redeploy.push(instance.to_string()),
                other => panic!("unexpected action {other:?}"),
            }
        }
        summary
    }

    /// The table changes in one line: `"+v2-1 -v1-old-0"` (instances put in rotation,
    /// then those taken out).
    pub fn swap(&self) -> String {
        let added = self.added.iter().map(|i| format!("+{i}"));
        let removed = self.removed.iter().map(|i| format!("-{i}"));
        added.chain(removed).collect::<Vec<_>>().join(" ")
    }

    /// Whether nothing was asked.
    pub fn is_empty(&self) -> bool {
        *self == Summary::default()
    }
}

impl World {
    /// The kind of the step the rollout is in, if it has steps.
    pub fn step_kind(&self) -> Option<cutover::strategy::StepKind> {
        self.rollout.status().step_kind.map(|(kind, _)| kind)
    }

    /// Answers everything a round at a time until the rollout is in a step of `kind`;
    /// fails loudly if that takes more than `max_rounds`.
    pub fn round_until_step(&mut self, kind: cutover::strategy::StepKind, max_rounds: usize) {
        for _ in 0..max_rounds {
            if self.step_kind() == Some(kind) {
                return;
            }
            self.round();
        }
        assert_eq!(
            self.step_kind(),
            Some(kind),
            "not there in {max_rounds} rounds"
        );
    }
}

impl World {
    // ----- looking at what happened -------------------------------------------------

    /// The actions asked for since the previous `take`, summarized by instance name.
    pub fn take(&mut self) -> Summary {
        let summary = Summary::of(&self.history[self.action_cursor..]);
        self.action_cursor = self.history.len();
        summary
    }

    /// The events recorded since the previous `take_events`.
    pub fn take_events(&mut self) -> Vec<EventKind> {
        let events = self.event_log[self.event_cursor..]
            .iter()
            .map(|e| e.kind.clone())
            .collect();
        self.event_cursor = self.event_log.len();
        events
    }

    pub fn saw(&self, pred: impl Fn(&EventKind) -> bool) -> bool {
        self.event_log.iter().any(|e| pred(&e.kind))
    }

    pub fn traffic_updates(&self) -> usize {
        self.history
            .iter()
            .filter(|a| matches!(a, Action::UpdateTraffic { .. }))
            .count()
    }

    /// The table the load balancer applies (the acknowledged one).
    pub fn lb(&self) -> &TrafficTable {
        &self.tables[&self.acked]
    }

    // ----- commands -------------------------------------------------------------------

    fn command(&mut self, command: Command) -> Result<(), CommandError> {
        self.step(&Move::Command(command))
            .result
            .expect("a command's result")
    }

    pub fn deploy(&mut self, revision: &str) -> Result<(), CommandError> {
        self.command(Command::DeployRevision(revision.to_owned()))
    }

    pub fn pause(&mut self) -> Result<(), CommandError> {
        self.command(Command::Pause)
    }

    pub fn resume(&mut self) -> Result<(), CommandError> {
        self.command(Command::Resume)
    }

    pub fn promote_full(&mut self) -> Result<(), CommandError> {
        self.command(Command::PromoteFull)
    }

    pub fn promote(&mut self) -> Result<(), CommandError> {
        self.command(Command::Promote)
    }

    pub fn abort(&mut self) -> Result<(), CommandError> {
        self.command(Command::Abort)
    }

    pub fn retry(&mut self) -> Result<(), CommandError> {
        self.command(Command::Retry)
    }

    pub fn rollback(&mut self) -> Result<(), CommandError> {
        self.command(Command::Rollback)
    }

    pub fn scale(&mut self, desired: u32) -> Result<(), CommandError> {
        self.command(Command::Scale(desired))
    }

    pub fn update_spec(&mut self, spec: RolloutSpec) -> Result<(), CommandError> {
        self.command(Command::UpdateSpec(Box::new(spec)))
    }

    // ----- time -----------------------------------------------------------------------

    /// Lets `ms` pass and fires the timer.
    pub fn advance(&mut self, ms: u64) {
        self.step(&Move::Advance(ms));
    }

    /// Moves the clock to the rollout's next timer and fires it; returns how long that
    /// was, or `None` (and does nothing) if no timer is set.
    pub fn advance_to_timeout(&mut self) -> Option<u64> {
        let at = self.rollout.poll_timeout()?;
        let wait = at.as_millis().saturating_sub(self.now.as_millis());
        self.advance(wait);
        Some(wait)
    }

    // ----- answering one instance at a time ---------------------------------------------

    /// The outstanding action in `map` that names `name` (an instance, a hook, a
    /// metric).
    fn outstanding_for<V: std::borrow::Borrow<str>>(
        map: &std::collections::BTreeMap<ActionId, V>,
        name: &str,
        what: &str,
    ) -> ActionId {
        map.iter()
            .find(|(_, v)| v.borrow() == name)
            .map(|(a, _)| *a)
            .unwrap_or_else(|| panic!("no {what} outstanding for {name}"))
    }

    pub fn input(&mut self, input: Input) {
        self.step(&Move::Answer(input));
    }

    /// Answers the provision of `name` with success (it exists, not yet healthy).
    pub fn provision(&mut self, name: &str) {
        let action = Self::outstanding_for(&self.provisions, name, "provision");
        self.alive.insert(name.into(), false);
        self.input(Input::Provisioned { action });
    }

    /// Answers the provision of `name` with a failure.
    pub fn fail_provision(&mut self, name: &str, reason: &str) {
        let action = Self::outstanding_for(&self.provisions, name, "provision");
        self.input(Input::ProvisionFailed {
            action,
            reason: reason.into(),
        });
    }

    /// Provisions `name` and reports it healthy.
    pub fn bring_up(&mut self, name: &str) {
        self.provision(name);
        self.health(name, true);
    }

    /// Answers the outstanding hook `name`: it passed, or failed.
    pub fn hook(&mut self, name: &str, passed: bool) {
        let action = Self::outstanding_for(&self.hooks, name, "hook");
        self.input(Input::HookResult {
            action,
            passed,
            reason: if passed { "ok" } else { "smoke test failed" }.into(),
        });
    }

    /// Answers the drain of `name`.
    pub fn drain(&mut self, name: &str) {
        let action = Self::outstanding_for(&self.drains, name, "drain");
        self.input(Input::Drained { action });
    }

    /// Answers the termination of `name`.
    pub fn terminate(&mut self, name: &str) {
        let action = Self::outstanding_for(&self.terminations, name, "termination");
        self.alive.remove(name);
        self.input(Input::Terminated { action });
    }

    /// `name` disappears without being asked to.
    pub fn lose(&mut self, name: &str, reason: &str) {
        self.alive.remove(name);
        self.input(Input::InstanceLost {
            instance: name.into(),
            reason: reason.into(),
        });
    }

    /// Answers the outstanding measurement of `metric`.
    pub fn measure(&mut self, metric: &str, measurement: cutover::analysis::Measurement) {
        let action = Self::outstanding_for(&self.measures, metric, "measurement");
        self.input(Input::Measured {
            action,
            measurement,
        });
    }

    /// Acknowledges table `generation` (and every earlier one).
    pub fn ack(&mut self, generation: u64) {
        self.input(Input::TrafficApplied { generation });
    }

    // ----- answering everything -----------------------------------------------------------

    /// Answers every outstanding provision with success.
    pub fn provision_all(&mut self) {
        let names: Vec<String> = self.provisioning();
        for name in names {
            self.provision(&name);
        }
    }

    /// Reports every live instance healthy, except the `sick` ones (reported unhealthy).
    pub fn health_all(&mut self) {
        let ids: Vec<InstanceId> = self.alive.keys().cloned().collect();
        for id in ids {
            let healthy = !self.sick.contains(&id);
            self.health(&id, healthy);
        }
    }

    /// Acknowledges the newest published table.
    pub fn ack_traffic(&mut self) {
        if self.published() > self.acked {
            self.ack(self.published());
        }
    }

    pub fn drain_all(&mut self) {
        let names: Vec<InstanceId> = self.drains.values().cloned().collect();
        for name in names {
            self.drain(name.as_str());
        }
    }

    pub fn terminate_all(&mut self) {
        let names: Vec<InstanceId> = self.terminations.values().cloned().collect();
        for name in names {
            self.terminate(name.as_str());
        }
    }

    /// Lets removals run their course: acknowledges tables, answers drains and
    /// terminations, until none is outstanding (provisions and health are left alone).
    pub fn plumb(&mut self) {
        for _ in 0..100 {
            if self.published() == self.acked
                && self.drains.is_empty()
                && self.terminations.is_empty()
            {
                return;
            }
            self.ack_traffic();
            self.drain_all();
            self.terminate_all();
        }
        panic!("removals did not settle: {:?}", self.rollout.status());
    }

    /// Answers everything outstanding once, healthily but for the `sick`.
    pub fn round(&mut self) {
        self.provision_all();
        self.health_all();
        self.ack_traffic();
        self.drain_all();
        self.terminate_all();
    }

    /// Answers everything, healthily (but for the `sick`) and at once, until nothing is
    /// outstanding; fails loudly if that takes more than `max_rounds`.
    pub fn drive(&mut self, max_rounds: usize) {
        for _ in 0..max_rounds {
            if self.quiet() {
                // Let min_ready and other timers run out.
                match self.rollout.poll_timeout() {
                    Some(at) if self.rollout.phase().is_in_flight() || at <= self.now => {
                        let wait = at.as_millis().saturating_sub(self.now.as_millis()).max(1);
                        self.advance(wait);
                        if self.quiet() {
                            return;
                        }
                    }
                    _ => return,
                }
            }
            self.round();
        }
        panic!(
            "did not settle in {max_rounds} rounds: {:?}",
            self.rollout.status()
        );
    }

    // ----- looking at the state -------------------------------------------------------

    pub fn phase(&self) -> Phase {
        self.rollout.phase().clone()
    }

    pub fn count(&self, revision: &str, state: InstanceState) -> usize {
        self.rollout
            .fleet()
            .counts(&Revision::from(revision))
            .get(state)
    }

    /// Available instances of `revision` (ready for `min_ready`, not being removed).
    pub fn available(&self, revision: &str) -> usize {
        self.rollout
            .fleet()
            .counts(&Revision::from(revision))
            .available
    }

    /// Instances of `revision` the load balancer routes to (the applied table).
    pub fn lb_count(&self, revision: &str) -> usize {
        self.lb()
            .backend(&Revision::from(revision))
            .map_or(0, |b| b.instance_count())
    }

    /// Each published table's weight for `revision`, in basis points, by generation
    /// (acknowledged or not).
    pub fn weights(&self, revision: &str) -> Vec<u16> {
        self.tables
            .values()
            .map(|t| t.weight(&Revision::from(revision)).basis_points())
            .collect()
    }

    /// Instances of `revision` in the published table.
    pub fn table_count(&self, revision: &str) -> usize {
        self.rollout
            .traffic()
            .backend(&Revision::from(revision))
            .map_or(0, |b| b.instance_count())
    }

    /// Names of `revision`'s main instances in `state`, in id order.
    pub fn ids(&self, revision: &str, state: InstanceState) -> Vec<String> {
        self.group_ids(revision, InstanceGroup::Main, state)
    }

    /// Names of the instances of `group` of `revision` in `state`, in id order.
    pub fn group_ids(
        &self,
        revision: &str,
        group: InstanceGroup,
        state: InstanceState,
    ) -> Vec<String> {
        self.rollout
            .fleet()
            .ids_in_state(&Revision::from(revision), group, state)
            .map(ToString::to_string)
            .collect()
    }

    /// The revisions with instances in the fleet, in name order.
    pub fn revisions(&self) -> Vec<String> {
        self.rollout
            .fleet()
            .revisions()
            .map(ToString::to_string)
            .collect()
    }

    /// Names of instances with a provision outstanding, in the order asked.
    pub fn provisioning(&self) -> Vec<String> {
        self.provisions.values().map(ToString::to_string).collect()
    }

    /// Runs the world to rest and checks that only `revision` is left, `desired`
    /// available, and that available capacity never went below `floor`.
    pub fn drive_back_to(&mut self, revision: &str, desired: usize, floor: usize) {
        self.drive(80);
        assert_eq!(self.revisions(), [revision]);
        assert_eq!(self.available(revision), desired);
        assert!(
            self.watermarks.low_available >= floor,
            "{:?}",
            self.watermarks
        );
    }
}
