//! A world that answers a [`Rollout`] the way a randomly misbehaving caller would, and
//! checks the invariants of `DESIGN.md` after every call.
//!
//! A [`Move`] is interpreted against what the world was asked and has not yet answered
//! (an [`Index`] picks one outstanding action or one known instance), so most ids are
//! real; some moves send stale, duplicated, misdirected or unknown inputs on purpose,
//! move the clock backwards, or give operator commands. [`World::step`] performs one
//! move, drains the rollout's outputs, checks every invariant, and returns what came out
//! (for determinism checks).
//!
//! The checks panic with a message naming the invariant, so proptest reports the move
//! list that broke it and shrinks it. Set `CUTOVER_TRACE` to print every step's moves,
//! actions and events (on stderr) while replaying a failing list.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use cutover::{
    Action, ActionId, CommandError, Duration, Event, EventKind, Input, Instance, InstanceId,
    InstanceState, OnDeadline, Phase, ProvisionRetry, Quantity, Revision, RollingSpec, Rollout,
    RolloutSpec, Status, StrategySpec, Timestamp, TrafficTable, Weight,
};
use proptest::prelude::*;

/// Revisions operator commands deploy; the empty one is refused.
pub const REVISIONS: [&str; 4] = ["v1", "v2", "v3", ""];

/// Picks one of `len` things (shrinks towards the first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Index(pub usize);

impl Index {
    /// The pick among `len` (non-zero) things.
    pub fn index(self, len: usize) -> usize {
        self.0 % len
    }
}

fn any_index() -> impl Strategy<Value = Index> {
    (0usize..64).prop_map(Index)
}

/// An operator command.
#[derive(Clone, Debug)]
pub enum Command {
    /// Deploy `REVISIONS[i]`.
    Deploy(usize),
    Pause,
    Resume,
    Abort,
    Retry,
    PromoteFull,
    Rollback,
}

/// One thing the world (or an operator) does.
#[derive(Clone, Debug)]
pub enum Move {
    /// Answer an outstanding provision: it worked.
    ProvisionOk(Index),
    /// Answer an outstanding provision: it failed.
    ProvisionFail(Index),
    /// Report the health of a known instance.
    Health(Index, bool),
    /// Acknowledge the newest table.
    AckLatest,
    /// Acknowledge some unacknowledged table (not necessarily the newest).
    AckSome(Index),
    /// Acknowledge a generation at or below the acknowledged one (stale or duplicate).
    AckOlder(u64),
    /// Acknowledge a generation never published.
    AckFuture(u64),
    /// Answer an outstanding drain.
    Drained(Index),
    /// Answer an outstanding termination.
    Terminated(Index),
    /// A known instance disappears.
    Lose(Index),
    /// Time passes by this many milliseconds, then the timer fires.
    Advance(u64),
    /// Time passes until the rollout's next deadline, and the timer fires.
    ToNextTimeout,
    /// The timer fires with a time in the past (the world's clock does not move).
    TimeoutInPast(u64),
    /// The caller's clock jumps back by this much (and stays there), and the timer fires.
    ClockBack(u64),
    /// Sends again an answer already sent.
    Replay(Index),
    /// Answers an outstanding action with a result of the wrong kind.
    Misdirect(Index),
    /// A result for an action id never issued (kind 0..4).
    UnknownAction(u8, u64),
    /// Health (`false`) or a loss (`true`) of an instance nobody knows.
    UnknownInstance(bool),
    /// An operator command.
    Command(Command),
    /// Everything outstanding answered honestly at once (several steps; see
    /// [`World::answer_all`]).
    AnswerAll,
}

impl Move {
    fn is_fault(&self) -> bool {
        matches!(self, Move::Health(_, false) | Move::Lose(_))
    }
}

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
enum Call {
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
    fn at(&self) -> Timestamp {
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
}

/// A valid spec for 1..=6 instances, with every knob that changes the engine's path.
pub fn spec_strategy() -> impl Strategy<Value = RolloutSpec> {
    let quantity = || {
        prop_oneof![
            (0u32..=3).prop_map(Quantity::Count),
            prop::sample::select(vec![0u32, 10, 25, 34, 50, 100]).prop_map(Quantity::Percent),
        ]
    };
    let retry = (
        0u32..=4,
        prop::sample::select(vec![0u64, 10, 1_000]),
        prop::sample::select(vec![0u64, 5_000]),
    )
        .prop_map(|(max_failures, initial, extra)| ProvisionRetry {
            max_failures,
            backoff_initial: Duration::from_millis(initial),
            backoff_max: Duration::from_millis(initial + extra),
        });
    (
        (1u32..=6, quantity(), quantity(), prop::bool::weighted(0.15)),
        prop::sample::select(vec![0u64, 0, 1, 100, 5_000]),
        prop::sample::select(vec![1u64, 1_000, 30_000, 600_000, 600_000, 600_000]),
        prop::bool::ANY,
        prop::sample::select(vec![0u64, 1, 100, 30_000]),
        retry,
    )
        .prop_map(
            |(
                (desired, surge, unavailable, allow_downtime),
                min_ready,
                deadline,
                abort,
                drain,
                retry,
            )| RolloutSpec {
                desired,
                strategy: StrategySpec::Rolling(RollingSpec {
                    max_surge: surge,
                    max_unavailable: unavailable,
                }),
                min_ready: Duration::from_millis(min_ready),
                progress_deadline: Duration::from_millis(min_ready + deadline),
                on_progress_deadline: if abort {
                    OnDeadline::Abort
                } else {
                    OnDeadline::Report
                },
                drain_timeout: Duration::from_millis(drain),
                provision_retry: retry,
                allow_downtime,
            },
        )
        .prop_filter("the spec must validate", |spec| spec.validate().is_ok())
}

/// A spec and a starting fleet of up to `desired` `v1` instances: most ready and in
/// rotation, some ready but not in rotation, some still starting.
pub fn start_strategy() -> impl Strategy<Value = (RolloutSpec, Vec<Instance>)> {
    spec_strategy().prop_flat_map(|spec| {
        let kinds = prop::collection::vec(
            prop::sample::select(vec![0u8, 0, 0, 0, 1, 2]),
            0..=spec.desired as usize,
        );
        (Just(spec), kinds.prop_map(initial_fleet))
    })
}

/// `v1` instances of the given kinds (0 ready in rotation, 1 ready out of rotation,
/// 2 starting).
pub fn initial_fleet(kinds: Vec<u8>) -> Vec<Instance> {
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let state = if kind == 2 {
                InstanceState::Starting
            } else {
                InstanceState::Ready
            };
            let mut instance = Instance::new(format!("v1-old-{i}"), "v1", state);
            instance.available = kind != 2;
            instance.in_rotation = kind == 0;
            instance
        })
        .collect()
}

/// `n` ready `v1` instances in rotation.
pub fn ready_fleet(n: usize) -> Vec<Instance> {
    initial_fleet(vec![0; n])
}

/// A random move, weighted towards honest answers.
pub fn move_strategy() -> impl Strategy<Value = Move> {
    let time = prop_oneof![
        4 => Just(0u64),
        6 => 1u64..2_000,
        3 => prop::sample::select(vec![30_000u64, 600_001, 3_600_000]),
        1 => prop::sample::select(vec![86_400_000u64, 1 << 40]),
        1 => Just(u64::MAX),
    ];
    let command = prop_oneof![
        4 => (0usize..4).prop_map(Command::Deploy),
        2 => Just(Command::Pause),
        2 => Just(Command::Resume),
        2 => Just(Command::Abort),
        2 => Just(Command::Retry),
        1 => Just(Command::PromoteFull),
        2 => Just(Command::Rollback),
    ];
    prop_oneof![
        12 => any_index().prop_map(Move::ProvisionOk),
        3 => any_index().prop_map(Move::ProvisionFail),
        12 => any_index().prop_map(|i| Move::Health(i, true)),
        2 => any_index().prop_map(|i| Move::Health(i, false)),
        10 => Just(Move::AckLatest),
        3 => any_index().prop_map(Move::AckSome),
        1 => (0u64..3).prop_map(Move::AckOlder),
        1 => (0u64..3).prop_map(Move::AckFuture),
        8 => any_index().prop_map(Move::Drained),
        8 => any_index().prop_map(Move::Terminated),
        1 => any_index().prop_map(Move::Lose),
        6 => time.prop_map(Move::Advance),
        4 => Just(Move::ToNextTimeout),
        1 => (0u64..100_000).prop_map(Move::TimeoutInPast),
        1 => (0u64..100_000).prop_map(Move::ClockBack),
        2 => any_index().prop_map(Move::Replay),
        1 => any_index().prop_map(Move::Misdirect),
        1 => (0u8..4, 0u64..5).prop_map(|(kind, k)| Move::UnknownAction(kind, k)),
        1 => any::<bool>().prop_map(Move::UnknownInstance),
        5 => command.prop_map(Move::Command),
        3 => Just(Move::AnswerAll),
    ]
}

/// A serde round trip of a rollout.
pub fn round_trip(rollout: &Rollout) -> Rollout {
    let json = serde_json::to_string(rollout).expect("a rollout serializes");
    serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("a serialized rollout must restore: {e}\n{json}"))
}

/// A rollout's document with its clock left out.
fn without_clock(rollout: &Rollout) -> serde_json::Value {
    let mut value = serde_json::to_value(rollout).expect("a rollout serializes");
    value["rollout"]["now"] = serde_json::Value::Null;
    value
}

fn drain_outputs(rollout: &mut Rollout) -> (Vec<Action>, Vec<Event>) {
    let actions = std::iter::from_fn(|| rollout.poll_action()).collect();
    let events = std::iter::from_fn(|| rollout.poll_event()).collect();
    (actions, events)
}

fn pick<K: Clone, V: Clone>(map: &BTreeMap<K, V>, index: Index) -> Option<(K, V)> {
    if map.is_empty() {
        return None;
    }
    map.iter()
        .nth(index.index(map.len()))
        .map(|(k, v)| (k.clone(), v.clone()))
}

impl World {
    /// A rollout over `observed` (drained and checked).
    pub fn new(spec: RolloutSpec, observed: Vec<Instance>) -> World {
        let listed: Vec<InstanceId> = observed
            .iter()
            .filter(|i| i.in_rotation)
            .map(|i| i.id.clone())
            .collect();
        let initial = if listed.is_empty() {
            TrafficTable::empty()
        } else {
            TrafficTable::single("v1", listed.clone()).expect("a valid initial table")
        };
        let names = observed.iter().map(|i| i.id.clone()).collect();
        let rollout =
            Rollout::new(Timestamp::ZERO, spec, observed).expect("a valid spec and fleet");
        let mut world = World {
            rollout,
            now: Timestamp::ZERO,
            provisions: BTreeMap::new(),
            drains: BTreeMap::new(),
            terminations: BTreeMap::new(),
            tables: BTreeMap::from([(0, initial)]),
            acked: 0,
            answers: Vec::new(),
            drain_asked: BTreeSet::new(),
            terminate_asked: BTreeSet::new(),
            names,
            ever_listed: listed.into_iter().collect(),
            last_action: 0,
            steps: 0,
            log: Vec::new(),
            round_trip_each_step: true,
        };
        let (actions, events) = drain_outputs(&mut world.rollout);
        world.record_checked(&actions, &events, "Rollout::new");
        world.check_state();
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
        self.check_step(&before, mv, &call, &actions, &events, &context);
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

    fn input(&mut self, input: Input, bogus: bool) -> Call {
        // Only genuine answers are replayed: a made-up id may be issued later.
        if !bogus
            && matches!(
                input,
                Input::Provisioned { .. }
                    | Input::ProvisionFailed { .. }
                    | Input::Drained { .. }
                    | Input::Terminated { .. }
                    | Input::TrafficApplied { .. }
            )
        {
            self.answers.push(input.clone());
        }
        self.rollout.handle_input(self.now, input);
        Call::Input {
            at: self.now,
            bogus,
        }
    }

    fn timeout(&mut self, at: Timestamp) -> Call {
        self.rollout.handle_timeout(at);
        Call::Timeout { at }
    }

    fn unknown_action(&self, k: u64) -> ActionId {
        ActionId(self.last_action + 1 + k)
    }

    fn known_instance(&self, index: Index) -> Option<InstanceId> {
        let ids: Vec<&InstanceId> = self.rollout.fleet().iter().map(|i| &i.id).collect();
        (!ids.is_empty()).then(|| ids[index.index(ids.len())].clone())
    }

    fn perform(&mut self, mv: &Move) -> Call {
        let ghost = || InstanceId::from("ghost");
        match mv {
            Move::ProvisionOk(i) | Move::ProvisionFail(i) => {
                let ok = matches!(mv, Move::ProvisionOk(_));
                let (action, bogus) = match pick(&self.provisions, *i) {
                    Some((action, _)) => {
                        self.provisions.remove(&action);
                        (action, false)
                    }
                    None => (self.unknown_action(0), true),
                };
                let input = if ok {
                    Input::Provisioned { action }
                } else {
                    Input::ProvisionFailed {
                        action,
                        reason: "no capacity".into(),
                    }
                };
                self.input(input, bogus)
            }
            Move::Health(i, healthy) => {
                let (instance, bogus) = self
                    .known_instance(*i)
                    .map_or((ghost(), true), |id| (id, false));
                self.input(
                    Input::Health {
                        instance,
                        healthy: *healthy,
                    },
                    bogus,
                )
            }
            Move::Lose(i) => {
                let (instance, bogus) = self
                    .known_instance(*i)
                    .map_or((ghost(), true), |id| (id, false));
                let reason = "host died".into();
                self.input(Input::InstanceLost { instance, reason }, bogus)
            }
            Move::AckLatest => {
                let generation = self.published();
                let bogus = generation <= self.acked;
                self.acked = self.acked.max(generation);
                self.input(Input::TrafficApplied { generation }, bogus)
            }
            Move::AckSome(i) => {
                let unacked = self.published() - self.acked;
                let generation = if unacked == 0 {
                    self.acked
                } else {
                    self.acked + 1 + i.index(unacked as usize) as u64
                };
                let bogus = unacked == 0;
                self.acked = generation;
                self.input(Input::TrafficApplied { generation }, bogus)
            }
            Move::AckOlder(k) => {
                let generation = self.acked.saturating_sub(*k);
                self.input(Input::TrafficApplied { generation }, true)
            }
            Move::AckFuture(k) => {
                let generation = self.published() + 1 + k;
                self.input(Input::TrafficApplied { generation }, true)
            }
            Move::Drained(i) => match pick(&self.drains, *i) {
                Some((action, _)) => {
                    self.drains.remove(&action);
                    self.input(Input::Drained { action }, false)
                }
                None => self.input(
                    Input::Drained {
                        action: self.unknown_action(0),
                    },
                    true,
                ),
            },
            Move::Terminated(i) => match pick(&self.terminations, *i) {
                Some((action, _)) => {
                    self.terminations.remove(&action);
                    self.input(Input::Terminated { action }, false)
                }
                None => self.input(
                    Input::Terminated {
                        action: self.unknown_action(0),
                    },
                    true,
                ),
            },
            Move::Advance(ms) => {
                self.now = self.now.saturating_add(Duration::from_millis(*ms));
                self.timeout(self.now)
            }
            Move::ToNextTimeout => {
                if let Some(at) = self.rollout.poll_timeout() {
                    self.now = self.now.max(at);
                }
                self.timeout(self.now)
            }
            Move::TimeoutInPast(ms) => {
                let at = Timestamp::from_millis(self.now.as_millis().saturating_sub(*ms));
                self.timeout(at)
            }
            Move::ClockBack(ms) => {
                self.now = Timestamp::from_millis(self.now.as_millis().saturating_sub(*ms));
                self.timeout(self.now)
            }
            Move::Replay(i) => {
                if self.answers.is_empty() {
                    return self.input(
                        Input::Terminated {
                            action: self.unknown_action(1),
                        },
                        true,
                    );
                }
                let input = self.answers[i.index(self.answers.len())].clone();
                self.input(input, true)
            }
            Move::Misdirect(i) => {
                let mut outstanding: Vec<Input> = Vec::new();
                outstanding.extend(
                    self.provisions
                        .keys()
                        .map(|&action| Input::Drained { action }),
                );
                outstanding.extend(
                    self.drains
                        .keys()
                        .map(|&action| Input::Terminated { action }),
                );
                outstanding.extend(
                    self.terminations
                        .keys()
                        .map(|&action| Input::Provisioned { action }),
                );
                let input = if outstanding.is_empty() {
                    Input::Drained {
                        action: self.unknown_action(2),
                    }
                } else {
                    outstanding[i.index(outstanding.len())].clone()
                };
                self.input(input, true)
            }
            Move::UnknownAction(kind, k) => {
                let action = self.unknown_action(*k);
                let input = match kind {
                    0 => Input::Provisioned { action },
                    1 => Input::ProvisionFailed {
                        action,
                        reason: "?".into(),
                    },
                    2 => Input::Drained { action },
                    _ => Input::Terminated { action },
                };
                self.input(input, true)
            }
            Move::UnknownInstance(lost) => {
                let input = if *lost {
                    Input::InstanceLost {
                        instance: ghost(),
                        reason: "?".into(),
                    }
                } else {
                    Input::Health {
                        instance: ghost(),
                        healthy: true,
                    }
                };
                self.input(input, true)
            }
            Move::AnswerAll => unreachable!("played by World::play"),
            Move::Command(command) => {
                let at = self.now;
                let rollout = &mut self.rollout;
                let result = match command {
                    Command::Deploy(i) => rollout.deploy(at, REVISIONS[*i]),
                    Command::Pause => rollout.pause(at),
                    Command::Resume => rollout.resume(at),
                    Command::Abort => rollout.abort(at),
                    Command::Retry => rollout.retry(at),
                    Command::PromoteFull => rollout.promote_full(at),
                    Command::Rollback => rollout.rollback(at),
                };
                Call::Command { at, result }
            }
        }
    }

    /// Takes note of the outputs, checking the per-action rules (invariant 2 among them).
    fn record_checked(&mut self, actions: &[Action], events: &[Event], context: &str) {
        let mut updates = 0;
        for action in actions {
            assert!(
                action.id().0 > self.last_action,
                "{context}: action ids must increase: {action:?} after #{}",
                self.last_action
            );
            self.last_action = action.id().0;
            match action {
                Action::Provision {
                    id,
                    instance,
                    revision,
                } => {
                    assert!(
                        self.names.insert(instance.clone()),
                        "{context}: instance name {instance} minted twice"
                    );
                    let wanted = [self.rollout.target(), self.rollout.stable()];
                    assert!(
                        wanted.contains(&Some(revision)),
                        "{context}: provisioned {revision}, neither target {:?} nor stable {:?}",
                        self.rollout.target(),
                        self.rollout.stable()
                    );
                    self.provisions.insert(*id, instance.clone());
                }
                Action::UpdateTraffic {
                    generation, diff, ..
                } => {
                    updates += 1;
                    let previous = self.published();
                    assert_eq!(
                        diff.from_generation, previous,
                        "{context}: diff from the wrong generation"
                    );
                    assert_eq!(
                        diff.to_generation,
                        previous + 1,
                        "{context}: generations go up by one"
                    );
                    assert_eq!(
                        *generation, diff.to_generation,
                        "{context}: generation field and diff disagree"
                    );
                    let mut table = self.tables[&previous].clone();
                    table.apply(diff).unwrap_or_else(|e| {
                        panic!("{context}: published diff does not apply: {e}: {diff:?}")
                    });
                    for backend in table.backends() {
                        self.ever_listed
                            .extend(backend.instances().map(|(id, _)| id.clone()));
                    }
                    self.tables.insert(*generation, table);
                }
                Action::Drain { id, instance, .. } => {
                    assert!(
                        self.drain_asked.insert(instance.clone()),
                        "{context}: {instance} drained twice"
                    );
                    self.drains.insert(*id, instance.clone());
                }
                Action::Terminate { id, instance } => {
                    assert!(
                        self.terminate_asked.insert(instance.clone()),
                        "{context}: {instance} terminated twice"
                    );
                    assert!(
                        self.drain_asked.contains(instance) || !self.ever_listed.contains(instance),
                        "{context}: invariant 2: {instance} was in rotation and is terminated without a drain"
                    );
                    self.terminations.insert(*id, instance.clone());
                }
                other => panic!("{context}: unexpected action {other:?}"),
            }
        }
        assert!(
            updates <= 1,
            "{context}: {updates} table updates from one call"
        );
        // Invariant 2, checked once every table of this call is known: no table the load
        // balancer may still apply (the acknowledged one and any newer) lists an instance
        // that is drained or terminated.
        for action in actions {
            if let Action::Drain { instance, .. } | Action::Terminate { instance, .. } = action {
                for (generation, table) in self.tables.range(self.acked..) {
                    assert!(
                        table.revision_of(instance).is_none(),
                        "{context}: invariant 2: {action:?} while table {generation} (acknowledged {}) lists it",
                        self.acked
                    );
                }
            }
        }
        for event in events {
            if let EventKind::InternalError { detail } = &event.kind {
                panic!("{context}: internal error: {detail}");
            }
        }
    }

    /// The rules that hold of any state at rest (invariants 1 and 3, bookkeeping).
    pub fn check_state(&self) {
        self.check_state_in("at rest");
    }

    fn check_state_in(&self, context: &str) {
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
        // Invariant 3, first half.
        let limits = rollout.limits();
        let live = rollout.fleet().total().live();
        assert!(
            live <= limits.max_total() as usize,
            "{context}: invariant 3: {live} live instances exceed desired {} + surge {}",
            limits.desired,
            limits.max_surge
        );
        assert_eq!(
            rollout.phase().is_in_flight(),
            rollout.target().is_some(),
            "{context}: phase and target"
        );
        // Invariant 4, the steady part: once aborted, as soon as the stable revision can
        // serve, only it is in the table.
        if matches!(rollout.phase(), Phase::Aborted { .. }) {
            match rollout.stable() {
                None => assert!(
                    table.is_empty(),
                    "{context}: invariant 4: aborted first deploy still routes"
                ),
                Some(stable) if rollout.fleet().counts(stable).available > 0 => {
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

    fn check_step(
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
            "{context}: invariant 7: the rollout's clock is {}, given {at} after {}",
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
            &phase,
            after.phase(),
            "{context}: phase changes do not add up"
        );
        // Invariant 5, persistence: a round trip gives the same rollout.
        if self.round_trip_each_step {
            assert_eq!(
                &round_trip(after),
                after,
                "{context}: invariant 5: serde round trip"
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
        {
            if let Some(next) = after.poll_timeout() {
                assert!(
                    next > after.now(),
                    "{context}: poll_timeout {next} not later than now {} after handle_timeout",
                    after.now()
                );
            }
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
        let frozen = |p: &Phase| matches!(p, Phase::Paused | Phase::Halted { .. });
        if frozen(before.phase()) && frozen(after.phase()) {
            assert!(
                !actions
                    .iter()
                    .any(|a| matches!(a, Action::Provision { .. })),
                "{context}: provisioned while {}",
                after.phase()
            );
        }
        // Completion means exactly `desired` available instances of the new stable revision.
        if after.phase() == &Phase::Completed && before.phase() != &Phase::Completed {
            let stable = after.stable().expect("completed has a stable revision");
            let desired = after.limits().desired as usize;
            assert_eq!(
                after.fleet().total().live(),
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
        if matches!(after.phase(), Phase::Aborted { .. }) {
            // Aborting gives up the new revision's capacity on purpose; the stable one is
            // still kept (down to `desired` if it has more).
            if let Some(stable) = after.stable() {
                let was = before.fleet().counts(stable).available;
                let is = after.fleet().counts(stable).available;
                let floor = was.min(after.limits().desired as usize);
                assert!(
                    is >= floor,
                    "{context}: invariant 3: stable capacity fell from {was} to {is} after an abort"
                );
            }
            return;
        }
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
    /// not emptied. `Rollout::abort` documents one exception: a spec with no surge that
    /// allows downtime, where a new instance may have to stop first.
    ///
    /// The property does not check `allow_downtime` specs at all: see
    /// `an_abort_with_surge_keeps_serving_until_the_stable_revision_can` in
    /// `rollout_properties.rs` (engine bug).
    fn check_abort_step(&self, before: &Rollout, mv: &Move, context: &str) {
        let after = &self.rollout;
        if !matches!(after.phase(), Phase::Aborted { .. })
            || mv.is_fault()
            || after.spec().allow_downtime
        {
            return;
        }
        if let Some(stable) = after.stable() {
            if after.fleet().counts(stable).available == 0 && !before.traffic().is_empty() {
                assert!(
                    !after.traffic().is_empty(),
                    "{context}: invariant 4: aborted, {stable} cannot serve, and the table was emptied"
                );
            }
        }
    }

    // ----- honest answers, for scripts and the exhaustive search ------------------

    /// Performs `mv` (several steps for [`Move::AnswerAll`]).
    pub fn play(&mut self, mv: &Move) -> Vec<Step> {
        match mv {
            Move::AnswerAll => self.answer_all(),
            _ => vec![self.step(mv)],
        }
    }

    /// Answers every outstanding provision with success, reports every starting
    /// instance healthy, acknowledges the newest table, and answers every drain and
    /// termination; if there was nothing to answer, lets time run to the next deadline.
    /// Returns the steps taken (none when there is nothing left to do).
    pub fn answer_all(&mut self) -> Vec<Step> {
        let mut steps = Vec::new();
        while !self.provisions.is_empty() {
            steps.push(self.step(&Move::ProvisionOk(Index(0))));
        }
        let starting: Vec<InstanceId> = self
            .rollout
            .fleet()
            .iter()
            .filter(|i| i.state == InstanceState::Starting)
            .map(|i| i.id.clone())
            .collect();
        for id in starting {
            steps.push(self.health(&id, true));
        }
        if self.published() > self.acked {
            steps.push(self.step(&Move::AckLatest));
        }
        while !self.drains.is_empty() {
            steps.push(self.step(&Move::Drained(Index(0))));
        }
        while !self.terminations.is_empty() {
            steps.push(self.step(&Move::Terminated(Index(0))));
        }
        if steps.is_empty() && self.rollout.poll_timeout().is_some() {
            steps.push(self.step(&Move::ToNextTimeout));
        }
        steps
    }

    /// Answers everything honestly until nothing is left to do (at most `rounds`
    /// rounds), then checks where the rollout came to rest: a rollout in progress
    /// completes; one that is paused or halted waits for an operator; a steady one runs
    /// exactly `desired` available instances of the stable revision, all in the table.
    pub fn settle_and_check_rest(&mut self, rounds: usize) -> Vec<Step> {
        let mut steps = Vec::new();
        for _ in 0..rounds {
            let round = self.answer_all();
            if round.is_empty() {
                self.check_rest();
                return steps;
            }
            steps.extend(round);
        }
        panic!(
            "did not come to rest in {rounds} rounds of honest answers: {:#?}",
            self.rollout.status()
        );
    }

    /// Where a rollout with nothing outstanding and no timer may be.
    pub fn check_rest(&self) {
        let rollout = &self.rollout;
        let status = rollout.status();
        assert!(self.quiet(), "at rest with something outstanding");
        assert_eq!(rollout.poll_timeout(), None, "at rest with a timer");
        match rollout.phase() {
            Phase::Paused | Phase::Halted { .. } => {
                assert!(
                    status.waiting_for.contains(&cutover::Waiting::Operator),
                    "{status:#?}"
                );
            }
            Phase::Progressing => {
                panic!("stuck: in progress with nothing to wait for: {status:#?}")
            }
            _ => match rollout.stable() {
                None => {
                    assert_eq!(
                        rollout.fleet().len(),
                        0,
                        "nothing stable, yet instances remain: {status:#?}"
                    );
                    assert!(
                        rollout.traffic().is_empty(),
                        "nothing stable, yet a table: {status:#?}"
                    );
                }
                Some(stable) => {
                    let desired = rollout.limits().desired as usize;
                    let fleet = rollout.fleet();
                    assert_eq!(
                        fleet.len(),
                        desired,
                        "at rest with other than desired instances: {status:#?}"
                    );
                    assert_eq!(
                        fleet.counts(stable).available,
                        desired,
                        "at rest short of available {stable}: {status:#?}"
                    );
                    let table = rollout.traffic();
                    assert_eq!(table.backends().len(), 1, "{status:#?}");
                    assert_eq!(
                        table.backend(stable).map(|b| b.instance_count()),
                        Some(desired),
                        "{status:#?}"
                    );
                }
            },
        }
    }

    /// Reports the health of `id`.
    pub fn health(&mut self, id: &InstanceId, healthy: bool) -> Step {
        let ids: Vec<InstanceId> = self.rollout.fleet().iter().map(|i| i.id.clone()).collect();
        let k = ids.iter().position(|i| i == id).expect("a known instance");
        self.step(&Move::Health(Index(k), healthy))
    }
}
