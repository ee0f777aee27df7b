//! The [`Clock`]: the only adapter that waits.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::time::Timestamp;

/// Tells the time and waits: the only adapter that blocks.
///
/// # Contract
///
/// * [`now`](Clock::now) should not go backwards; a `now` earlier than one already
///   seen is clamped by the rollout (and reported), never trusted.
/// * [`sleep_until`](Clock::sleep_until) returns at `deadline`, or earlier once
///   `wakeup` rings (an operator's verb or a stop from a
///   [`DriverHandle`](crate::driver::DriverHandle)). Returning early is always
///   harmless: the driver looks at the time again. A simulated clock jumps to the
///   deadline at once.
///
/// A clock has no `Error`: reading it and waiting cannot fail in a way a driver could
/// act on. A clock fed by a source that can fail (a remote time service) answers
/// with its last good reading.
pub trait Clock {
    /// The time now, in milliseconds on this clock.
    fn now(&mut self) -> Timestamp;

    /// Waits until `deadline` (on this clock), or until `wakeup` rings.
    fn sleep_until(&mut self, deadline: Timestamp, wakeup: &Wakeup);
}

impl<C: Clock + ?Sized> Clock for &mut C {
    fn now(&mut self) -> Timestamp {
        (**self).now()
    }

    fn sleep_until(&mut self, deadline: Timestamp, wakeup: &Wakeup) {
        (**self).sleep_until(deadline, wakeup);
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now(&mut self) -> Timestamp {
        (**self).now()
    }

    fn sleep_until(&mut self, deadline: Timestamp, wakeup: &Wakeup) {
        (**self).sleep_until(deadline, wakeup);
    }
}

/// A bell that cuts a [`Clock`]'s sleep short. Clones ring the same bell.
///
/// A ring is kept until a wait takes it, so a ring that comes before the wait is not
/// lost.
#[derive(Clone, Debug, Default)]
pub struct Wakeup {
    bell: Arc<(Mutex<bool>, Condvar)>,
}

impl Wakeup {
    /// A bell not rung.
    #[must_use]
    pub fn new() -> Wakeup {
        Wakeup::default()
    }

    /// Rings: a wait in progress (or the next one) returns.
    pub fn ring(&self) {
        let (rung, bell) = &*self.bell;
        *rung.lock().unwrap_or_else(PoisonError::into_inner) = true;
        bell.notify_all();
    }

    /// Waits up to `timeout` for a ring, and takes it; returns whether it rang.
    pub fn wait_timeout(&self, timeout: std::time::Duration) -> bool {
        let (rung, bell) = &*self.bell;
        // A boolean flag cannot be left half-written: a poisoned lock is still good.
        let guard = rung.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut guard, _) = bell
            .wait_timeout_while(guard, timeout, |rung| !*rung)
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *guard, false)
    }
}

/// The machine's clock: milliseconds since the Unix epoch, read once at creation and
/// carried forward on the monotonic clock (so it never goes backwards while the
/// process runs, whatever the system clock does). Sleeps on a [`Wakeup`].
#[derive(Clone, Copy, Debug)]
pub struct SystemClock {
    origin: Timestamp,
    started: Instant,
}

impl SystemClock {
    /// The clock, now.
    #[must_use]
    #[allow(
        clippy::disallowed_methods,
        reason = "the one adapter that reads the machine's clock, for callers to hand the driver"
    )]
    pub fn new() -> SystemClock {
        // A system clock set before 1970 reads as the epoch: the rollout only needs
        // the time to move forward from here.
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let millis = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
        SystemClock {
            origin: Timestamp::from_millis(millis),
            started: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> SystemClock {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&mut self) -> Timestamp {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.origin
            .saturating_add(crate::time::Duration::from_millis(elapsed))
    }

    fn sleep_until(&mut self, deadline: Timestamp, wakeup: &Wakeup) {
        let left = deadline.saturating_duration_since(self.now());
        if !left.is_zero() {
            wakeup.wait_timeout(left.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_before_the_wait_is_kept_and_taken_once() {
        let wakeup = Wakeup::new();
        wakeup.clone().ring();
        assert!(wakeup.wait_timeout(std::time::Duration::from_secs(60)));
        assert!(!wakeup.wait_timeout(std::time::Duration::from_millis(1)));
    }

    #[test]
    #[allow(clippy::disallowed_methods, reason = "measures a real sleep")]
    fn a_ring_from_another_thread_ends_the_sleep() {
        let wakeup = Wakeup::new();
        let mut clock = SystemClock::new();
        let ringer = {
            let wakeup = wakeup.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                wakeup.ring();
            })
        };
        let start = Instant::now();
        let far = clock
            .now()
            .saturating_add(crate::time::Duration::from_mins(10));
        clock.sleep_until(far, &wakeup);
        assert!(start.elapsed() < std::time::Duration::from_secs(60));
        ringer.join().unwrap();
    }

    #[test]
    fn the_system_clock_moves_forward_and_sleeps_until_the_deadline() {
        let mut clock = SystemClock::new();
        let start = clock.now();
        let deadline = start.saturating_add(crate::time::Duration::from_millis(15));
        clock.sleep_until(deadline, &Wakeup::new());
        assert!(clock.now() >= deadline);
    }
}
