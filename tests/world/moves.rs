//! The moves a random world makes, and the proptest strategy that generates them.

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
    Promote,
    /// Resize to this many instances.
    Scale(u32),
    /// Deploy a revision by name (scripts).
    DeployRevision(String),
    /// Replace the spec (scripts).
    UpdateSpec(Box<cutover::RolloutSpec>),
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
    /// Answer an outstanding hook: it passed (`true`) or failed.
    Hook(Index, bool),
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
    /// A genuine input addressed by the script (an outstanding action's answer by its
    /// id, health or a loss by name).
    Answer(cutover::Input),
    /// An operator command.
    Command(Command),
    /// Everything outstanding answered honestly at once (several steps; see
    /// [`World::answer_all`]).
    AnswerAll,
}

impl Move {
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            Move::Health(_, false)
                | Move::Lose(_)
                | Move::Answer(
                    cutover::Input::Health { healthy: false, .. }
                        | cutover::Input::InstanceLost { .. }
                )
        )
    }
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
        1 => Just(Command::Promote),
        1 => (1u32..6).prop_map(Command::Scale),
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
        3 => any_index().prop_map(|i| Move::Hook(i, true)),
        1 => any_index().prop_map(|i| Move::Hook(i, false)),
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
