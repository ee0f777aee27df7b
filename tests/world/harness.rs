//! The world: what the caller was asked and has answered, and [`World::step`], which
//! performs one move and runs every check.

use std::collections::{BTreeMap, BTreeSet};

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
    /// Instances a drain was asked for.
    pub drain_asked: BTreeSet<InstanceId>,
    /// Instances a termination was asked for.
    pub terminate_asked: BTreeSet<InstanceId>,
    /// Every instance name seen (initial fleet and provisions).
    pub names: BTreeSet<InstanceId>,
    /// Adopted instances still provisioning: the rollout asks for them again by name.
    pub adopted_provisioning: BTreeSet<InstanceId>,
    /// Instances that were ever listed in a table.
    pub ever_listed: BTreeSet<InstanceId>,
    pub last_action: u64,
    /// Number of moves performed.
    pub steps: usize,
    /// Every move performed, in order (`AnswerAll` as the moves it made).
    pub log: Vec<Move>,
    /// Whether every step checks a serde round trip (on by default; it is the costliest
    /// check, and the exhaustive search does it per leaf instead).
    pub round_trip_each_step: bool,
    /// Every action and event so far, in order (scripts read them with cursors).
    pub history: Vec<Action>,
    pub event_log: Vec<Event>,
    pub(super) action_cursor: usize,
    pub(super) event_cursor: usize,
    /// Extremes seen after every step.
    pub watermarks: Watermarks,
    /// Instances above the peak left by a resize that lowered it; only shrinks after.
    pub peak_allowance: usize,
    /// Instances that exist and whether they last passed a check (scripts' health).
    pub alive: BTreeMap<InstanceId, bool>,
    /// Instances the script reports unhealthy whenever it reports health to all.
    pub sick: BTreeSet<InstanceId>,
    /// Generations whose publication could move sticky keys off the target as planned
    /// (its plan shrank, it could not serve, or an emergency).
    pub target_may_shrink: BTreeSet<u64>,
    /// The target each published generation was published under.
    pub published_under: BTreeMap<u64, Option<cutover::Revision>>,
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
        let live = fleet.total().live();
        self.peak_allowance = self.peak_allowance.min(live);
        let marks = &mut self.watermarks;
        marks.peak_live = marks.peak_live.max(fleet.total().live());
        marks.low_available = marks.low_available.min(fleet.total().available);
    }

    /// A rollout over `observed` (drained and checked).
    pub fn new(spec: RolloutSpec, observed: Vec<Instance>) -> World {
        let listed: Vec<InstanceId> = observed
            .iter()
            .filter(|i| i.in_rotation)
            .map(|i| i.id.clone())
            .collect();
        let initial = caller_table(&observed);
        let observed_live = observed.iter().filter(|i| i.state.is_live()).count();
        let names = observed.iter().map(|i| i.id.clone()).collect();
        let adopted_provisioning = observed
            .iter()
            .filter(|i| i.state == cutover::InstanceState::Provisioning)
            .map(|i| i.id.clone())
            .collect();
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
            drain_asked: BTreeSet::new(),
            terminate_asked: BTreeSet::new(),
            names,
            adopted_provisioning,
            ever_listed: listed.into_iter().collect(),
            last_action: 0,
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
            target_may_shrink: BTreeSet::new(),
            published_under: BTreeMap::new(),
            // An adopted fleet may already exceed the peak: not the rollout's doing.
            peak_allowance: observed_live,
        };
        let (actions, events) = drain_outputs(&mut world.rollout);
        world.record_checked(&actions, &events, "Rollout::new");
        // Published with no target yet: whatever becomes the target may lose keys in it.
        let first = world.rollout.traffic().generation();
        world.target_may_shrink.insert(first);
        world.check_state();
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
        if matches!(
            mv,
            Move::Command(Command::Scale(_) | Command::UpdateSpec(_))
        ) {
            self.peak_allowance = self.peak_allowance.max(before.fleet().total().live());
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
        self.record_checked(&actions, &events, &context);
        self.note_target_moves(&before);
        self.check_step(&before, mv, &call, &actions, &events, &context);
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
