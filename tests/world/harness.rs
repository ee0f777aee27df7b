//! The world: what the caller was asked and has answered, and [`World::step`], which
//! performs one move and runs every check.

use std::collections::{BTreeMap, BTreeSet};

use cutover::invariants::{self, Checker};
use cutover::{
    Action, ActionId, CommandError, Event, Input, Instance, InstanceId, Rollout, RolloutSpec,
    Status, Timestamp, TrafficTable,
};

use super::moves::{Command, Move};

/// What one move produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub actions: Vec<Action>,
    pub events: Vec<Event>,
    pub result: Option<Result<(), CommandError>>,
    pub status: Status,
    pub timeout: Option<Timestamp>,
}

/// How a move reached the rollout.
#[derive(Debug)]
pub(super) enum Call {
    /// `handle_input`; `bogus` when the input is certainly stale, unknown or misdirected.
    Input {
        at: Timestamp,
        input: Input,
        bogus: bool,
    },
    Timeout {
        at: Timestamp,
    },
    Command {
        at: Timestamp,
        result: Result<(), CommandError>,
    },
}

impl Call {
    pub(super) fn at(&self) -> Timestamp {
        match self {
            Call::Input { at, .. } | Call::Timeout { at } | Call::Command { at, .. } => *at,
        }
    }

    /// The call as the shared checker takes it.
    pub(super) fn checked(&self, mv: &Move) -> invariants::Call<'_> {
        match self {
            Call::Input { at, input, bogus } => invariants::Call::Input {
                at: *at,
                input,
                stale: *bogus,
            },
            Call::Timeout { at } => invariants::Call::Timeout { at: *at },
            Call::Command { at, result } => invariants::Call::Command {
                at: *at,
                resize: matches!(
                    mv,
                    Move::Command(Command::Scale(_) | Command::UpdateSpec(_))
                ),
                refused: result.is_err(),
            },
        }
    }
}

/// The caller's side: what was asked, what the load balancer applies, what was answered.
#[derive(Clone, Debug)]
pub struct World {
    pub rollout: Rollout,
    /// The caller's clock (it may be behind the rollout's after `ClockBack`).
    pub now: Timestamp,
    pub provisions: BTreeMap<ActionId, InstanceId>,
    pub drains: BTreeMap<ActionId, InstanceId>,
    pub terminations: BTreeMap<ActionId, InstanceId>,
    /// Measurements asked for, by action: the metric.
    pub measures: BTreeMap<ActionId, String>,
    /// The metrics asked for against an experiment's baseline group, in order.
    pub baseline_measures: Vec<String>,
    /// Hooks asked for, by action: the hook's name.
    pub hooks: BTreeMap<ActionId, String>,
    /// Every table published (and the caller's table at the start), by generation.
    pub tables: BTreeMap<u64, TrafficTable>,
    /// The newest generation the load balancer acknowledged.
    pub acked: u64,
    /// Results sent so far (for replays).
    pub answers: Vec<Input>,
    /// Every instance name seen (initial fleet and provisions).
    pub names: BTreeSet<InstanceId>,
    pub last_action: u64,
    /// The invariants of `DESIGN.md`, checked after every call (`cutover::invariants`).
    pub checker: Checker,
    /// Number of moves performed.
    pub steps: usize,
    /// Every move performed, in order (`AnswerAll` as the moves it made).
    pub log: Vec<Move>,
    /// Whether every step checks a serde round trip (on by default; it is the costliest
    /// check, and the exhaustive search does it per leaf instead).
    pub round_trip_each_step: bool,
    /// Whether the checker was last told `round_trip_each_step`.
    round_trip_told: bool,
    /// Every action and event so far, in order (scripts read them with cursors).
    pub history: Vec<Action>,
    pub event_log: Vec<Event>,
    pub(super) action_cursor: usize,
    pub(super) event_cursor: usize,
    /// Extremes seen after every step.
    pub watermarks: Watermarks,
    /// Instances that exist and whether they last passed a check (scripts' health).
    pub alive: BTreeMap<InstanceId, bool>,
    /// Instances the script reports unhealthy whenever it reports health to all.
    pub sick: BTreeSet<InstanceId>,
}

/// Extremes seen over a whole run (after every step).
#[derive(Clone, Copy, Debug)]
pub struct Watermarks {
    /// The most live instances (provisioning, starting, ready, draining) at once.
    pub peak_live: usize,
    /// The fewest available instances at once.
    pub low_available: usize,
}

/// The table the caller says the load balancer applies at the start: its instances in
/// rotation per revision, split in proportion to their counts (largest remainder, ties
/// to the earlier revision by name), as the rollout reads it.
fn caller_table(observed: &[Instance]) -> TrafficTable {
    let mut by_revision: BTreeMap<&str, Vec<InstanceId>> = BTreeMap::new();
    for i in observed.iter().filter(|i| i.in_rotation) {
        by_revision
            .entry(i.revision.as_str())
            .or_default()
            .push(i.id.clone());
    }
    let total: u64 = by_revision.values().map(|ids| ids.len() as u64).sum();
    if total == 0 {
        return TrafficTable::empty();
    }
    let mut shares: Vec<u64> = by_revision
        .values()
        .map(|ids| ids.len() as u64 * 10_000 / total)
        .collect();
    let mut left = 10_000 - shares.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    let counts: Vec<u64> = by_revision.values().map(|ids| ids.len() as u64).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(counts[k] * 10_000 % total));
    for k in order {
        if left == 0 {
            break;
        }
        shares[k] += 1;
        left -= 1;
    }
    let mut builder = TrafficTable::builder();
    for ((revision, ids), share) in by_revision.into_iter().zip(shares) {
        builder = builder.revision(revision, share, ids);
    }
    builder.build().expect("a valid initial table")
}

/// Fails the test on the first violation found, naming every one.
pub(super) fn fail_on(found: &[invariants::Violation], context: &str) {
    if let Some(first) = found.first() {
        let all: Vec<String> = found.iter().map(ToString::to_string).collect();
        panic!("{context}: {first}\n(all: {all:#?})");
    }
}

/// A serde round trip of a rollout.
pub fn round_trip(rollout: &Rollout) -> Rollout {
    let json = serde_json::to_string(rollout).expect("a rollout serializes");
    serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("a serialized rollout must restore: {e}\n{json}"))
}

pub(super) fn drain_outputs(rollout: &mut Rollout) -> (Vec<Action>, Vec<Event>) {
    let actions = std::iter::from_fn(|| rollout.poll_action()).collect();
    let events = std::iter::from_fn(|| rollout.poll_event()).collect();
    (actions, events)
}

impl World {
    /// Keeps a step's outputs in the history and updates the watermarks.
    fn keep(&mut self, actions: Vec<Action>, events: Vec<Event>) {
        self.history.extend(actions);
        self.event_log.extend(events);
        let fleet = self.rollout.fleet();
        let marks = &mut self.watermarks;
        marks.peak_live = marks.peak_live.max(fleet.total().live());
        marks.low_available = marks.low_available.min(fleet.total().available);
    }

    /// A rollout over `observed` (drained and checked).
    pub fn new(spec: RolloutSpec, observed: Vec<Instance>) -> World {
        let initial = caller_table(&observed);
        let checker = Checker::new(initial.clone(), &observed).with_round_trip(true);
        let names = observed.iter().map(|i| i.id.clone()).collect();
        let alive = observed
            .iter()
            .filter(|i| i.state.is_live())
            .map(|i| (i.id.clone(), i.state == cutover::InstanceState::Ready))
            .collect();
        let rollout =
            Rollout::new(Timestamp::ZERO, spec, observed).expect("a valid spec and fleet");
        let mut world = World {
            rollout,
            now: Timestamp::ZERO,
            provisions: BTreeMap::new(),
            drains: BTreeMap::new(),
            terminations: BTreeMap::new(),
            measures: BTreeMap::new(),
            baseline_measures: Vec::new(),
            hooks: BTreeMap::new(),
            tables: BTreeMap::from([(0, initial)]),
            acked: 0,
            answers: Vec::new(),
            names,
            last_action: 0,
            checker,
            round_trip_told: true,
            steps: 0,
            log: Vec::new(),
            round_trip_each_step: true,
            history: Vec::new(),
            event_log: Vec::new(),
            action_cursor: 0,
            event_cursor: 0,
            watermarks: Watermarks {
                peak_live: 0,
                low_available: usize::MAX,
            },
            alive,
            sick: BTreeSet::new(),
        };
        let (actions, events) = drain_outputs(&mut world.rollout);
        world.record(&actions);
        let found = world.checker.created(&world.rollout, &actions, &events);
        fail_on(&found, "Rollout::new");
        world.keep(actions, events);
        world
    }

    /// The newest generation published.
    pub fn published(&self) -> u64 {
        *self.tables.keys().next_back().expect("the initial table")
    }

    /// Whether nothing the rollout asked for is unanswered.
    pub fn quiet(&self) -> bool {
        self.provisions.is_empty()
            && self.drains.is_empty()
            && self.terminations.is_empty()
            && self.published() == self.acked
    }

    /// Performs `mv`, drains the outputs, checks every invariant, and returns the outputs.
    /// (`Move::AnswerAll` is several steps: use [`World::play`].)
    pub fn step(&mut self, mv: &Move) -> Step {
        let before = self.rollout.clone();
        if self.round_trip_told != self.round_trip_each_step {
            self.round_trip_told = self.round_trip_each_step;
            self.checker = self.checker.clone().with_round_trip(self.round_trip_told);
        }
        self.log.push(mv.clone());
        let call = self.perform(mv);
        let (actions, events) = drain_outputs(&mut self.rollout);
        self.steps += 1;
        let context = format!("step {} ({mv:?})", self.steps);
        if std::env::var_os("CUTOVER_TRACE").is_some() {
            eprintln!("--- {context} at {:?}: {:?}", call, self.rollout.phase());
            for a in &actions {
                eprintln!("    action {a:?}");
            }
            for e in &events {
                eprintln!("    event {:?}", e.kind);
            }
        }
        self.record(&actions);
        let found = self
            .checker
            .step(&before, &self.rollout, &call.checked(mv), &actions, &events);
        fail_on(&found, &context);
        self.keep(actions.clone(), events.clone());
        Step {
            actions,
            events,
            result: match call {
                Call::Command { result, .. } => Some(result),
                _ => None,
            },
            status: self.rollout.status(),
            timeout: self.rollout.poll_timeout(),
        }
    }
}
