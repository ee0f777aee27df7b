//! Every deadline a rollout keeps, in one enum-keyed table (after quinn-proto's
//! `TimerTable`): [`poll_timeout`](crate::Rollout::poll_timeout) is its minimum, and
//! [`Core::handle_timeout`] fires every expired entry.
//!
//! The table is derived: each entry is recomputed from the state it belongs to (the
//! last progress, the backoff, the drain and start-up indexes, …) at the end of every
//! call, so it is never persisted and can never disagree with that state.

use crate::output::EventKind;
use crate::rollout::core::Core;
use crate::rollout::phase::AbortReason;
use crate::rollout::stage::Hold;
use crate::spec::OnDeadline;
use crate::time::{Duration, Timestamp};

/// The kinds of deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The progress deadline passes (strictly after `last progress + deadline`).
    ProgressDeadline,
    /// The provision backoff ends.
    ProvisionBackoff,
    /// The earliest drain times out.
    Drain,
    /// The earliest starting instance runs out of start-up time.
    Startup,
    /// The earliest fresh instance becomes available (`min_ready`).
    MinReady,
    /// The load balancer is late acknowledging the published table.
    TrafficAck,
    /// The plan changes by the clock alone (a timed step ends, blue-green's warm blue
    /// or aborted green runs out of time): the planner says when.
    Plan,
    /// The next analysis measurement is due.
    Analysis,
    /// A hook runs out of time.
    Hook,
}

impl Timer {
    const COUNT: usize = 9;
    const ALL: [Timer; Timer::COUNT] = [
        Timer::ProgressDeadline,
        Timer::ProvisionBackoff,
        Timer::Drain,
        Timer::Startup,
        Timer::MinReady,
        Timer::TrafficAck,
        Timer::Plan,
        Timer::Analysis,
        Timer::Hook,
    ];
}

/// One optional deadline per [`Timer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TimerTable([Option<Timestamp>; Timer::COUNT]);

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Option<Timestamp>) {
        self.0[timer as usize] = at;
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Timestamp> {
        self.0[timer as usize]
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Timestamp> {
        self.0.iter().flatten().min().copied()
    }

    /// The timers due at `now`.
    pub(crate) fn expired(&self, now: Timestamp) -> impl Iterator<Item = Timer> + '_ {
        Timer::ALL
            .into_iter()
            .filter(move |t| self.get(*t).is_some_and(|at| at <= now))
    }
}

/// The first instant strictly after `from + by` (deadlines pass when strictly exceeded,
/// as Kubernetes' `lastUpdate + deadline < now`); `None` when that is past the end of
/// time, where no deadline can pass.
fn strictly_after(from: Timestamp, by: Duration) -> Option<Timestamp> {
    let at = from
        .as_millis()
        .checked_add(by.as_millis())?
        .checked_add(1)?;
    Some(Timestamp::from_millis(at))
}

impl Core {
    /// Recomputes every entry from the state it belongs to; `plan_wake` is when the
    /// current plan changes by the clock alone.
    pub(crate) fn refresh_timers(&mut self, plan_wake: Option<Timestamp>) {
        let progress = match (self.stage.flight(), self.spec.progress_deadline) {
            (Some(flight), Some(deadline))
                if flight.hold == Hold::Progressing && !flight.deadline_exceeded =>
            {
                strictly_after(flight.last_progress, deadline)
            }
            _ => None,
        };
        let ack = (!self.ack_overdue)
            .then(|| self.rotation.unacknowledged_since())
            .flatten()
            .and_then(|since| strictly_after(since, self.spec.traffic_ack_timeout));
        let startup = self
            .startup_index
            .first()
            .and_then(|(since, _)| strictly_after(*since, self.spec.health.startup_timeout));
        let analysis = self.next_measurement_at();
        let hook = self
            .cursor()
            .checks
            .as_ref()
            .and_then(|c| c.next_deadline());
        let plan = plan_wake.filter(|at| *at > self.now);
        let drain = self.drain_index.first().map(|(at, _)| *at);
        let min_ready = self.fleet.next_available_at();
        let backoff = self.stage.flight().and_then(|flight| flight.backoff_until);
        let table = &mut self.timers;
        table.set(Timer::ProgressDeadline, progress);
        table.set(Timer::ProvisionBackoff, backoff);
        table.set(Timer::Drain, drain);
        table.set(Timer::Startup, startup);
        table.set(Timer::MinReady, min_ready);
        table.set(Timer::TrafficAck, ack);
        table.set(Timer::Analysis, analysis);
        table.set(Timer::Hook, hook);
        table.set(Timer::Plan, plan);
    }

    pub(crate) fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers.next()
    }

    /// Fires every timer due at `now`; one that is not due is left alone, so an early
    /// or repeated call changes nothing.
    pub(crate) fn handle_timeout(&mut self) {
        let due: Vec<Timer> = self.timers.expired(self.now).collect();
        for timer in due {
            match timer {
                Timer::ProgressDeadline => self.progress_deadline_passed(),
                Timer::ProvisionBackoff => {
                    if let Some(flight) = self.stage.flight_mut() {
                        flight.backoff_until = None;
                    }
                }
                Timer::Drain => self.expire_drains(),
                Timer::Startup => self.expire_startups(),
                // `begin` already promoted whoever waited long enough.
                Timer::MinReady => {}
                Timer::TrafficAck => self.traffic_ack_overdue(),
                Timer::Analysis => self.request_measurements(),
                Timer::Hook => self.expire_hooks(),
                // The planner reads the clock: settling after this re-plans the step.
                Timer::Plan => {}
            }
        }
    }

    fn progress_deadline_passed(&mut self) {
        let Some(flight) = self.stage.flight_mut() else {
            return;
        };
        flight.deadline_exceeded = true;
        let last_progress = flight.last_progress;
        self.emit(EventKind::ProgressDeadlineExceeded { last_progress });
        if self.spec.on_progress_deadline == OnDeadline::Abort {
            self.abort(AbortReason::ProgressDeadline);
        }
    }

    fn traffic_ack_overdue(&mut self) {
        self.ack_overdue = true;
        if let Some(since) = self.rotation.unacknowledged_since() {
            self.emit(EventKind::TrafficAckOverdue {
                generation: self.rotation.published.generation(),
                since,
            });
        }
    }

    /// Fails every starting instance that ran out of start-up time.
    fn expire_startups(&mut self) {
        let timeout = self.spec.health.startup_timeout;
        while let Some((since, id)) = self.startup_index.first().cloned() {
            if strictly_after(since, timeout).is_none_or(|at| at > self.now) {
                break;
            }
            self.fail_unhealthy(
                id,
                format!("not healthy within its start-up time ({timeout})"),
            );
        }
    }
}
