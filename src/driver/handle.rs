//! Reaching a running driver from elsewhere: [`DriverHandle`], the [`Command`]s it
//! carries, and their [`Reply`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use super::DriverError;
use crate::adapter::Wakeup;
use crate::error::CommandError;
use crate::model::Revision;
use crate::rollout::Rollout;
use crate::spec::RolloutSpec;
use crate::time::Timestamp;

/// An operator's verb, as a value: one of [`Rollout`]'s commands.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Command {
    /// [`Rollout::deploy`].
    Deploy(Revision),
    /// [`Rollout::pause`].
    Pause,
    /// [`Rollout::resume`].
    Resume,
    /// [`Rollout::promote`].
    Promote,
    /// [`Rollout::promote_full`].
    PromoteFull,
    /// [`Rollout::abort`].
    Abort,
    /// [`Rollout::retry`].
    Retry,
    /// [`Rollout::rollback`].
    Rollback,
    /// [`Rollout::scale`].
    Scale(u32),
    /// [`Rollout::update_spec`].
    UpdateSpec(Box<RolloutSpec>),
}

impl Command {
    /// Gives the command to `rollout` at `now`.
    ///
    /// # Errors
    ///
    /// The rollout's [`CommandError`] if the command does not apply now (the rollout
    /// is then unchanged).
    pub fn apply(&self, rollout: &mut Rollout, now: Timestamp) -> Result<(), CommandError> {
        match self {
            Command::Deploy(revision) => rollout.deploy(now, revision.clone()),
            Command::Pause => rollout.pause(now),
            Command::Resume => rollout.resume(now),
            Command::Promote => rollout.promote(now),
            Command::PromoteFull => rollout.promote_full(now),
            Command::Abort => rollout.abort(now),
            Command::Retry => rollout.retry(now),
            Command::Rollback => rollout.rollback(now),
            Command::Scale(desired) => rollout.scale(now, *desired),
            Command::UpdateSpec(spec) => rollout.update_spec(now, (**spec).clone()),
        }
    }
}

/// Why an operator's verb did not take effect.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerbError {
    /// The rollout refused it: it does not apply in this phase. Nothing changed.
    #[error(transparent)]
    Refused(#[from] CommandError),
    /// The driver stopped before the verb was saved; it is not in effect.
    #[error("the driver stopped before the verb was saved")]
    Driver(#[source] DriverError),
    /// The driver was dropped (or its run ended for good) before it took the verb.
    #[error("the driver is gone")]
    DriverGone,
}

/// A verb on its way to the driver, with where its answer goes.
pub(super) struct Request {
    pub command: Command,
    pub reply: mpsc::Sender<Result<(), VerbError>>,
}

/// What a driver and its handles share.
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub stop: AtomicBool,
    pub wakeup: Wakeup,
}

/// A handle on a [`Driver`](super::Driver) for other threads: sends it operator verbs
/// and stops it. Cloneable and `Send`; it does nothing once the driver is dropped.
///
/// Verbs are taken between steps, in the order sent, and cut a driver's sleep short.
/// Each is answered once it is saved (or refused), through its [`Reply`].
///
/// # Examples
///
/// ```
/// use cutover::driver::{Command, VerbError};
/// # use cutover::driver::Driver;
/// # fn example<S: cutover::store::Store, W: cutover::adapter::World>(driver: &Driver<S, W>) {
/// let handle = driver.handle();
/// std::thread::spawn(move || {
///     // Blocks until the driver, running on its own thread, has saved the pause.
///     match handle.send(Command::Pause).wait() {
///         Ok(()) => println!("paused"),
///         Err(VerbError::Refused(why)) => println!("not now: {why}"),
///         Err(other) => println!("{other}"),
///     }
/// });
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DriverHandle {
    pub(super) sender: mpsc::Sender<Request>,
    pub(super) shared: Arc<Shared>,
}

impl DriverHandle {
    /// Sends `command` to the driver; the [`Reply`] gives its answer once the driver
    /// has taken it.
    pub fn send(&self, command: Command) -> Reply {
        let (reply, answer) = mpsc::channel();
        // A driver that is gone drops the request, and the reply says so.
        let _ = self.sender.send(Request { command, reply });
        self.shared.wakeup.ring();
        Reply { answer }
    }

    /// Asks the driver to stop: its current [`run`](super::Driver::run) or
    /// [`serve`](super::Driver::serve) (or the next one) returns
    /// [`Outcome::Stopped`](super::Outcome::Stopped) between two steps.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wakeup.ring();
    }
}

/// The answer to a verb sent with [`DriverHandle::send`].
#[derive(Debug)]
#[must_use = "a reply says whether the verb took effect"]
pub struct Reply {
    answer: mpsc::Receiver<Result<(), VerbError>>,
}

impl Reply {
    /// Waits for the answer. The driver must be stepping (on another thread, or by
    /// the caller between `send` and `wait`), or this waits until it is dropped.
    ///
    /// # Errors
    ///
    /// [`VerbError`]: refused by the rollout, not saved, or the driver is gone.
    pub fn wait(self) -> Result<(), VerbError> {
        self.answer.recv().unwrap_or(Err(VerbError::DriverGone))
    }

    /// The answer, if the driver has given it.
    #[must_use]
    pub fn try_wait(&self) -> Option<Result<(), VerbError>> {
        match self.answer.try_recv() {
            Ok(answer) => Some(answer),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => Some(Err(VerbError::DriverGone)),
        }
    }
}
