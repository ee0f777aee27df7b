//! The invariants of the design, checked of a running rollout: one [`Checker`] that the
//! test world, the simulator (`cutover::sim`, with the `driver` feature) and the
//! fuzz targets all feed, so there is one set of checks.
//!
//! A checker watches one [`Rollout`] from the caller's side. It is told what the load
//! balancer had applied when the rollout was created ([`Checker::new`]), then, after
//! every call on the rollout, what the call was ([`Call`]), the rollout before and after
//! it, and the actions and events the call produced ([`Checker::step`]). It keeps the
//! bookkeeping the rules need (every table published, the generation acknowledged, the
//! instances drained and terminated) and returns what it found broken as typed
//! [`Violation`]s — it never panics, so a caller decides whether a violation fails a
//! test, ends a simulated run, or is reported.
//!
//! ```
//! use cutover::invariants::{Call, Checker};
//! use cutover::{Input, Instance, InstanceState, Rollout, RolloutSpec, Timestamp, TrafficTable};
//!
//! let fleet: Vec<Instance> = (0..2)
//!     .map(|i| Instance::new(format!("web-{i}"), "v1", InstanceState::Ready))
//!     .collect();
//! let spec = RolloutSpec { desired: 2, ..RolloutSpec::default() };
//! let mut rollout = Rollout::new(Timestamp::ZERO, spec, fleet.clone())?;
//! let mut checker = Checker::new(TrafficTable::empty(), &fleet);
//! let actions: Vec<_> = std::iter::from_fn(|| rollout.poll_action()).collect();
//! let events: Vec<_> = std::iter::from_fn(|| rollout.poll_event()).collect();
//! assert!(checker.created(&rollout, &actions, &events).is_empty());
//!
//! let before = rollout.clone();
//! let at = Timestamp::from_millis(10);
//! rollout.deploy(at, "v2")?;
//! let actions: Vec<_> = std::iter::from_fn(|| rollout.poll_action()).collect();
//! let events: Vec<_> = std::iter::from_fn(|| rollout.poll_event()).collect();
//! let call = Call::Command { at, resize: false, refused: false };
//! assert_eq!(checker.step(&before, &rollout, &call, &actions, &events), vec![]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod record;
mod state;
mod step;
mod strategies;
mod traffic;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::input::Input;
use crate::model::{Instance, InstanceId, Revision};
use crate::output::{Action, Event};
use crate::rollout::Rollout;
use crate::time::Timestamp;
use crate::traffic::TrafficTable;

/// Which rule a [`Violation`] broke, by the design's numbering where it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// Invariant 1: the weights sum to 10 000, and a revision with weight has an
    /// instance in rotation that may serve; the table lists only known instances.
    Weights,
    /// Invariant 2: in rotation only while ready and available; drained only once no
    /// table the load balancer may still apply lists it; terminated only after a drain.
    Rotation,
    /// Invariant 3: never more instances than the strategy's documented peak.
    Peak,
    /// Invariant 3: available capacity never drops below the floor because of the
    /// rollout.
    Floor,
    /// Invariant 4: abort and rollback put traffic back on the stable revision.
    Rollback,
    /// Invariant 5: traffic follows capacity, and what runs hot is reported.
    Capacity,
    /// Invariant 5: traffic never leaks above the plan (green before the switch, a
    /// canary above its steps).
    Leak,
    /// Invariant 6: a serialized and restored rollout is the same rollout.
    Determinism,
    /// Invariant 7: sticky keys do not move from the target back to stable unplanned.
    Sticky,
    /// Invariant 8: the clock never goes back; a clock going back is reported.
    Clock,
    /// A strategy's own promise: its envelope is its public arithmetic, blue and green
    /// do not share users, green takes traffic only when complete, a completed rollout
    /// has exactly `desired` instances.
    Strategy,
    /// Invariant 9 and the loop's contract: a refused command or a stale input changes
    /// nothing; a terminal phase absorbs inputs; a held rollout does not provision;
    /// timers move forward.
    Contract,
    /// Bookkeeping: action ids increase, generations go up by one, diffs add up to the
    /// table, names are minted once, actions name the right revisions, phase changes
    /// chain, and no internal error is reported.
    Bookkeeping,
}

impl Rule {
    /// The number of the invariant in the design's list, if the rule is one of them.
    #[must_use]
    pub fn invariant(self) -> Option<u8> {
        match self {
            Rule::Weights => Some(1),
            Rule::Rotation => Some(2),
            Rule::Peak | Rule::Floor => Some(3),
            Rule::Rollback => Some(4),
            Rule::Capacity | Rule::Leak => Some(5),
            Rule::Determinism => Some(6),
            Rule::Sticky => Some(7),
            Rule::Clock => Some(8),
            Rule::Contract => Some(9),
            Rule::Strategy | Rule::Bookkeeping => None,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.invariant() {
            Some(n) => write!(f, "invariant {n} ({self:?})"),
            None => write!(f, "{self:?}"),
        }
    }
}

/// A rule found broken after a call: which one, and what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// The rule broken.
    pub rule: Rule,
    /// What was seen, in words (one line).
    pub detail: String,
}

impl Violation {
    /// A violation of `rule`, described by `detail`.
    #[must_use]
    pub fn new(rule: Rule, detail: impl Into<String>) -> Violation {
        Violation {
            rule,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.detail)
    }
}

/// The call on the rollout a [`Checker::step`] follows.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Call<'a> {
    /// `handle_input(at, input)`. `stale` when the caller knows the input is stale,
    /// unknown or misdirected: it must then be reported as ignored and change only what
    /// the passage of time changes.
    Input {
        /// The time given.
        at: Timestamp,
        /// The input given.
        input: &'a Input,
        /// Whether the caller knows it to be stale.
        stale: bool,
    },
    /// `handle_timeout(at)`.
    Timeout {
        /// The time given.
        at: Timestamp,
    },
    /// An operator's command at `at`.
    Command {
        /// The time given.
        at: Timestamp,
        /// Whether it changes the fleet's size or the spec (`scale`, `update_spec`):
        /// a resize is carried out whatever holds the rollout.
        resize: bool,
        /// Whether the rollout refused it: then it must change nothing.
        refused: bool,
    },
}

impl Call<'_> {
    /// The time the call was given.
    #[must_use]
    pub fn at(&self) -> Timestamp {
        match self {
            Call::Input { at, .. } | Call::Timeout { at } | Call::Command { at, .. } => *at,
        }
    }

    /// Whether the call reports a fault the rollout did not cause (an instance failing
    /// a check or lost): capacity rules do not hold the rollout to what it did not do.
    #[must_use]
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            Call::Input {
                input: Input::Health { healthy: false, .. } | Input::InstanceLost { .. },
                ..
            }
        )
    }

    fn is_refused(&self) -> bool {
        matches!(self, Call::Command { refused: true, .. })
    }

    fn is_resize(&self) -> bool {
        matches!(self, Call::Command { resize: true, .. })
    }
}

/// Watches one rollout from the caller's side and checks every invariant after every
/// call (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct Checker {
    /// Every table published still needed (the acknowledged one and newer), and the
    /// caller's table at the start, by generation.
    tables: BTreeMap<u64, TrafficTable>,
    /// The newest generation the load balancer acknowledged (as the answers say).
    acked: u64,
    /// Every instance name seen (the initial fleet and provisions).
    names: BTreeSet<InstanceId>,
    /// Adopted instances still provisioning: the rollout asks for them again by name.
    adopted_provisioning: BTreeSet<InstanceId>,
    /// Instances that were ever listed in a table (in this life).
    ever_listed: BTreeSet<InstanceId>,
    /// Instances a drain was asked for (in this life).
    drain_asked: BTreeSet<InstanceId>,
    /// Instances a termination was asked for.
    terminate_asked: BTreeSet<InstanceId>,
    /// The last action id seen.
    last_action: u64,
    /// Instances above the peak left by a resize that lowered it; only shrinks after.
    peak_allowance: usize,
    /// Generations whose publication could move sticky keys off the target as planned.
    target_may_shrink: BTreeSet<u64>,
    /// The target each published generation was published under.
    published_under: BTreeMap<u64, Option<Revision>>,
    /// Whether every step checks a serde round trip (only with a JSON feature).
    #[cfg_attr(not(any(feature = "json", feature = "driver")), allow(dead_code))]
    round_trip: bool,
}

/// Collects what a check finds.
#[derive(Default)]
struct Found(Vec<Violation>);

impl Found {
    fn ensure(&mut self, ok: bool, rule: Rule, detail: impl FnOnce() -> String) {
        if !ok {
            self.0.push(Violation::new(rule, detail()));
        }
    }

    fn same<T: PartialEq + fmt::Debug>(
        &mut self,
        left: T,
        right: T,
        rule: Rule,
        detail: impl FnOnce() -> String,
    ) {
        if left != right {
            let detail = format!("{}: {left:?} against {right:?}", detail());
            self.0.push(Violation::new(rule, detail));
        }
    }
}

impl Checker {
    /// A checker for a rollout created over `observed`, behind a load balancer that
    /// applies `initial` (generation 0: empty if it routes nowhere yet).
    #[must_use]
    pub fn new(initial: TrafficTable, observed: &[Instance]) -> Checker {
        let ever_listed = initial
            .backends()
            .iter()
            .flat_map(|b| b.instances().map(|(id, _)| id.clone()))
            .collect();
        Checker {
            tables: BTreeMap::from([(initial.generation(), initial)]),
            acked: 0,
            names: observed.iter().map(|i| i.id.clone()).collect(),
            adopted_provisioning: observed
                .iter()
                .filter(|i| i.state == crate::model::InstanceState::Provisioning)
                .map(|i| i.id.clone())
                .collect(),
            ever_listed,
            drain_asked: BTreeSet::new(),
            terminate_asked: BTreeSet::new(),
            last_action: 0,
            // An adopted fleet may already exceed the peak: not the rollout's doing.
            peak_allowance: observed.iter().filter(|i| i.state.is_live()).count(),
            target_may_shrink: BTreeSet::new(),
            published_under: BTreeMap::new(),
            round_trip: false,
        }
    }

    /// Whether every step also checks that a serde round trip gives the same rollout
    /// (invariant 6; off by default: it is the costliest check).
    #[cfg(any(feature = "json", feature = "driver"))]
    #[must_use]
    pub fn with_round_trip(mut self, on: bool) -> Checker {
        self.round_trip = on;
        self
    }

    /// The newest generation the rollout published, as its actions say.
    #[must_use]
    pub fn published(&self) -> u64 {
        self.tables.keys().next_back().copied().unwrap_or_default()
    }

    /// The newest generation the load balancer acknowledged, as the answers say.
    #[must_use]
    pub fn acknowledged(&self) -> u64 {
        self.acked
    }

    /// The table of `generation`, if it is the acknowledged one or newer.
    #[must_use]
    pub fn table(&self, generation: u64) -> Option<&TrafficTable> {
        self.tables.get(&generation)
    }

    /// Checks the rollout just created (its first actions and events) and its state.
    #[must_use]
    pub fn created(
        &mut self,
        rollout: &Rollout,
        actions: &[Action],
        events: &[Event],
    ) -> Vec<Violation> {
        let mut found = Found::default();
        self.record(rollout, actions, events, &mut found);
        // Published with no target yet: whatever becomes the target may lose keys in it.
        self.target_may_shrink
            .insert(rollout.traffic().generation());
        self.check_state(rollout, &rollout.status(), &mut found);
        self.settle(rollout);
        found.0
    }

    /// Checks one call: `before` and `after` are the rollout around it, `actions` and
    /// `events` everything it produced (drained right after the call).
    #[must_use]
    pub fn step(
        &mut self,
        before: &Rollout,
        after: &Rollout,
        call: &Call<'_>,
        actions: &[Action],
        events: &[Event],
    ) -> Vec<Violation> {
        let mut found = Found::default();
        if call.is_resize() {
            self.peak_allowance = self.peak_allowance.max(before.fleet().total().live());
        }
        if let Call::Input {
            input: Input::TrafficApplied { generation },
            ..
        } = call
            && *generation > self.acked
            && *generation <= self.published()
        {
            self.acked = *generation;
        }
        self.record(after, actions, events, &mut found);
        self.note_target_moves(before, after);
        self.check_step(before, after, call, actions, events, &mut found);
        self.settle(after);
        found.0
    }

    /// Checks the rules that hold of any state (invariants 1 and 3, and bookkeeping).
    #[must_use]
    pub fn state(&self, rollout: &Rollout) -> Vec<Violation> {
        let mut found = Found::default();
        self.check_state(rollout, &rollout.status(), &mut found);
        found.0
    }

    /// After a call: the peak allowance only shrinks, and tables older than the
    /// acknowledged one are no longer needed.
    fn settle(&mut self, rollout: &Rollout) {
        self.peak_allowance = self.peak_allowance.min(rollout.fleet().total().live());
        let acked = self.acked;
        self.tables = self.tables.split_off(&acked);
        self.target_may_shrink = self.target_may_shrink.split_off(&acked);
        self.published_under = self.published_under.split_off(&acked);
    }
}

#[cfg(test)]
mod tests;
