//! Honest answers, for scripts and the exhaustive search, and where a rollout may come
//! to rest.

use cutover::{InstanceId, InstanceState, Phase};

use super::harness::{Step, World};
use super::moves::{Index, Move};

impl World {
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
        // Each answer may ask for more; a rollout that keeps asking never settles, and
        // must fail loudly rather than spin.
        let bound = 64 + 16 * self.rollout.limits().max_total() as usize;
        while !self.provisions.is_empty() {
            assert!(
                steps.len() < bound,
                "provisions never stop: {:#?}",
                self.rollout.status()
            );
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
        while !self.hooks.is_empty() {
            assert!(
                steps.len() < 2 * bound,
                "hooks never stop: {:#?}",
                self.rollout.status()
            );
            steps.push(self.step(&Move::Hook(Index(0), true)));
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
            Phase::Paused {
                reason:
                    cutover::PauseReason::Step { until: None }
                    | cutover::PauseReason::AnalysisInconclusive,
            } => {
                assert!(
                    status
                        .waiting_for
                        .contains(&cutover::status::Waiting::Promotion),
                    "{status:#?}"
                );
            }
            Phase::Paused { .. } | Phase::Halted { .. } => {
                assert!(
                    status
                        .waiting_for
                        .contains(&cutover::status::Waiting::Operator),
                    "{status:#?}"
                );
            }
            Phase::Progressing => {
                panic!("stuck: in progress with nothing to wait for: {status:#?}")
            }
            _ => match rollout.stable() {
                // Nothing to go back to: an aborted first deploy keeps serving what
                // serves, and only that.
                None => {
                    let table = rollout.traffic();
                    for instance in rollout.fleet().iter() {
                        assert!(
                            instance.available && table.revision_of(&instance.id).is_some(),
                            "nothing stable, yet {} remains without serving: {status:#?}",
                            instance.id
                        );
                    }
                    assert_eq!(
                        table.instance_count(),
                        rollout.fleet().len(),
                        "nothing stable: the table lists what serves: {status:#?}"
                    );
                }
                Some(stable) => {
                    let desired = rollout.limits().desired() as usize;
                    let fleet = rollout.fleet();
                    // Blue-green may keep the previous environment warm for good, and an
                    // aborted green for debugging: both at weight 0.
                    let kept = |revision: &cutover::Revision| {
                        Some(revision) == rollout.standby()
                            || (matches!(rollout.phase(), Phase::Aborted { .. })
                                && keeps_aborted(rollout.spec()))
                    };
                    let others: usize = fleet
                        .iter()
                        .filter(|i| &i.revision != stable && !kept(&i.revision))
                        .count();
                    let stable_count = fleet.iter().filter(|i| &i.revision == stable).count();
                    assert_eq!(
                        (stable_count, others),
                        (desired, 0),
                        "at rest with other than desired instances: {status:#?}"
                    );
                    assert_eq!(
                        rollout.traffic().weight(stable),
                        cutover::Weight::FULL,
                        "{status:#?}"
                    );
                    assert_eq!(
                        fleet.counts(stable).available,
                        desired,
                        "at rest short of available {stable}: {status:#?}"
                    );
                    let table = rollout.traffic();
                    assert!(
                        table
                            .backends()
                            .iter()
                            .all(|b| b.revision() == stable || kept(b.revision())),
                        "{status:#?}"
                    );
                    assert_eq!(
                        table.backend(stable).map(|b| b.instance_count()),
                        Some(desired),
                        "{status:#?}"
                    );
                }
            },
        }
    }

    /// Reports the health of `id` (an instance the rollout knows, or not).
    pub fn health(&mut self, id: impl ToString, healthy: bool) -> Step {
        let id = InstanceId::new(id.to_string());
        if let Some(h) = self.alive.get_mut(&id) {
            *h = healthy;
        }
        self.step(&Move::Answer(cutover::Input::Health {
            instance: id,
            healthy,
        }))
    }
}

/// Whether the spec keeps an aborted target's instances until the next deploy.
fn keeps_aborted(spec: &cutover::RolloutSpec) -> bool {
    match &spec.strategy {
        cutover::StrategySpec::BlueGreen(bg) => bg.abort_scale_down_delay.is_none(),
        cutover::StrategySpec::Canary(c) => {
            c.abort_scale_down_delay.is_none() && c.keeps_aborted_canary()
        }
        _ => false,
    }
}
