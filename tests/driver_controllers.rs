//! Two controllers on one rollout, on the file store and on a real PostgreSQL server:
//! they race, many times and with varied interleavings, and exactly one proceeds; the
//! other stops with a conflict having performed nothing after it, and the load
//! balancer never applies an older generation after a newer one.
//!
//! * **From one document**: two drivers resume the same saved rollout at once; one
//!   claims it, the other is refused and never acts.
//! * **A takeover**: a driver is running when another resumes the rollout (as a
//!   controller would after taking the first one for dead); the first one finds out at
//!   its next save and stops before acting on it.

mod driver_support;
#[cfg(feature = "postgres")]
#[path = "stores/postgres_server.rs"]
mod postgres_server;
mod world;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use cutover::store::{StoreError, Stored, Version};
use std::thread;

use cutover::Timestamp;
use cutover::adapter::{Clock, Wakeup};
use cutover::driver::{Driver, DriverConfig, DriverError, Outcome};
use cutover::store::{RolloutId, Store};
use driver_support::{Asked, MockWorld, Scenario, Timing, every_strategy};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// Storage shared by controllers: each gets its own handle (a process of its own
/// would open its own).
trait Backend: Sync {
    type Store: Store + Send + 'static;
    fn handle(&self) -> Self::Store;
}

/// A store handle whose first load waits, once it has read, until the other racer
/// has read too: both then hold the same document when they claim it.
struct ReadTogether<S> {
    inner: S,
    barrier: Option<Arc<Barrier>>,
}

impl<S: Store> Store for ReadTogether<S> {
    type Error = S::Error;

    fn load(&mut self, id: &RolloutId) -> Result<Option<Stored>, StoreError<S::Error>> {
        let loaded = self.inner.load(id);
        if let Some(barrier) = self.barrier.take() {
            barrier.wait();
        }
        loaded
    }

    fn save(
        &mut self,
        id: &RolloutId,
        document: &[u8],
        expected: Option<Version>,
    ) -> Result<Version, StoreError<S::Error>> {
        self.inner.save(id, document, expected)
    }
}

/// A pause of a few hundred nanoseconds to a few microseconds, to vary interleavings.
fn jitter(rng: &mut Xoshiro256PlusPlus) {
    for _ in 0..rng.random_range(0..64) {
        thread::yield_now();
    }
}

/// Starts `scenario` under `id` (deploying `v2`), runs it `steps` steps, and drops
/// the driver: its document is where the race starts.
fn saved_mid_rollout<B: Backend>(
    backend: &B,
    id: &RolloutId,
    scenario: &Scenario,
    world: &MockWorld,
    steps: usize,
) {
    let mut rollout = scenario.rollout();
    rollout
        .deploy(Timestamp::ZERO, "v2")
        .expect("a new revision");
    let mut driver = Driver::start(
        backend.handle(),
        id.clone(),
        rollout,
        world.controller(9),
        DriverConfig::default(),
    )
    .expect("started");
    for _ in 0..steps {
        let step = driver.step().expect("steps");
        if driver.outcome().is_some() {
            break;
        }
        driver.world_mut().sleep_until(step.next, &Wakeup::new());
    }
}

/// What a controller's thread ended with.
struct Ended {
    result: Result<Outcome, DriverError>,
    /// The log's length when its last step began (requests after it, by it, belong to
    /// the step that returned).
    last_step_from: usize,
}

/// Steps a driver to its outcome or its error, with jitter between steps (and a real
/// pause of up to `pause_us` microseconds, for a controller another will take over).
fn run<S: Store>(
    mut driver: Driver<S, MockWorld>,
    world: &MockWorld,
    seed: u64,
    steps_taken: &AtomicUsize,
    pause_us: u64,
) -> Ended {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    for _ in 0..20_000 {
        let last_step_from = world.state().log.len();
        let step = match driver.step() {
            Ok(step) => step,
            Err(error) => {
                return Ended {
                    result: Err(error),
                    last_step_from,
                };
            }
        };
        steps_taken.fetch_add(1, Ordering::SeqCst);
        if let Some(outcome) = driver.outcome() {
            return Ended {
                result: Ok(outcome),
                last_step_from,
            };
        }
        jitter(&mut rng);
        if pause_us > 0 {
            thread::sleep(std::time::Duration::from_micros(
                rng.random_range(0..pause_us),
            ));
        }
        driver.world_mut().sleep_until(step.next, &Wakeup::new());
    }
    panic!("no outcome: {:#?}", driver.rollout().status());
}

/// The load balancer's and the world's promises once the rollout is over, `by` the
/// controller that finished it.
fn assert_world_promises(world: &MockWorld, context: &str) {
    let state = world.state();
    let history = &state.applied_history;
    assert!(
        history.windows(2).all(|w| w[0] < w[1]),
        "{context}: the load balancer went back: {history:?}"
    );
    for (name, times) in &state.created {
        assert_eq!(*times, 1, "{context}: {name} created {times} times");
    }
}

/// Whether a request asks for new work (not an observation, nor a refused request
/// asked again): what a driver only does after a save.
fn is_new_work(what: &Asked) -> bool {
    matches!(
        what,
        Asked::Provision(..) | Asked::Redeploy(..) | Asked::Hook(_) | Asked::Measure(_)
    )
}

/// What resuming gave one racer.
type Claim<B> = Result<Driver<ReadTogether<<B as Backend>::Store>, MockWorld>, DriverError>;

fn from_one_document<B: Backend>(backend: &B, rounds: u64) {
    for round in 0..rounds {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(round);
        let scenarios = every_strategy();
        let scenario = &scenarios[round as usize % scenarios.len()];
        let world = scenario.world(Timing::REALISTIC);
        let id = RolloutId::new(format!("one-document-{round}")).unwrap();
        saved_mid_rollout(backend, &id, scenario, &world, rng.random_range(0..30));
        let context = format!("{} round {round}", scenario.name);
        let barrier = Arc::new(Barrier::new(2));
        let log_before = world.state().log.len();
        let claims: Vec<Claim<B>> = thread::scope(|s| {
            let racers: Vec<_> = (1..=2u32)
                .map(|by| {
                    let (world, id) = (&world, &id);
                    let store = ReadTogether {
                        inner: backend.handle(),
                        barrier: Some(Arc::clone(&barrier)),
                    };
                    let seed = rng.random::<u64>();
                    s.spawn(move || {
                        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
                        jitter(&mut rng);
                        let world = world.controller(by);
                        Driver::resume(store, id.clone(), world, DriverConfig::default())
                    })
                })
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let winners = claims.iter().filter(|c| c.is_ok()).count();
        assert_eq!(
            winners, 1,
            "{context}: {winners} drivers claimed the rollout"
        );
        let mut winner = None;
        let mut loser = 0;
        for (by, claim) in (1..=2u32).zip(claims) {
            match claim {
                Ok(driver) => winner = Some(driver),
                Err(error) => {
                    assert!(error.is_conflict(), "{context}: {error}");
                    loser = by;
                }
            }
        }
        let winner = winner.expect("one winner");
        let ended = run(winner, &world, round, &AtomicUsize::new(0), 0);
        let outcome = ended.result.expect("the winner proceeds");
        assert!(outcome.is_completed(), "{context}: {outcome:?}");
        // The loser never asked anything of the world.
        let state = world.state();
        let acted = state.log[log_before..]
            .iter()
            .filter(|r| r.by == loser)
            .count();
        assert_eq!(acted, 0, "{context}: the loser made {acted} requests");
        drop(state);
        assert_world_promises(&world, &context);
    }
}

fn takeover<B: Backend>(backend: &B, rounds: u64) {
    let mut taken_over = 0;
    for round in 0..rounds {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1_000 + round);
        let scenarios = every_strategy();
        let scenario = &scenarios[round as usize % scenarios.len()];
        let world = scenario.world(Timing::REALISTIC);
        let id = RolloutId::new(format!("takeover-{round}")).unwrap();
        saved_mid_rollout(backend, &id, scenario, &world, 0);
        let context = format!("{} round {round}", scenario.name);
        let first = Driver::resume(
            backend.handle(),
            id.clone(),
            world.controller(1),
            DriverConfig::default(),
        )
        .expect("the first controller claims it");
        let steps_taken = AtomicUsize::new(0);
        let take_over_after = rng.random_range(0..25);
        let (first_ended, second_ended) = thread::scope(|s| {
            let first = {
                let (world, steps_taken) = (&world, &steps_taken);
                let seed = rng.random::<u64>();
                s.spawn(move || run(first, world, seed, steps_taken, 300))
            };
            let second = {
                let (world, steps_taken, id) = (&world, &steps_taken, &id);
                let handle = backend.handle();
                let seed = rng.random::<u64>();
                s.spawn(move || {
                    while steps_taken.load(Ordering::SeqCst) < take_over_after {
                        thread::yield_now();
                    }
                    // A takeover races the running controller's saves: a controller
                    // taking over reads again and claims again until it wins.
                    let mut handle = Some(handle);
                    let driver = loop {
                        let store = handle.take().unwrap_or_else(|| backend.handle());
                        match Driver::resume(
                            store,
                            id.clone(),
                            world.controller(2),
                            DriverConfig::default(),
                        ) {
                            Ok(driver) => break driver,
                            Err(error) => assert!(error.is_conflict(), "{error}"),
                        }
                    };
                    run(driver, world, seed, &AtomicUsize::new(0), 0)
                })
            };
            (first.join().unwrap(), second.join().unwrap())
        });
        let second = second_ended.result.expect("the second controller proceeds");
        assert!(second.is_completed(), "{context}: {second:?}");
        match first_ended.result {
            // Finished before the takeover: then the second resumed a rollout at rest.
            Ok(outcome) => assert!(outcome.is_completed(), "{context}: {outcome:?}"),
            Err(error) => {
                assert!(error.is_conflict(), "{context}: {error}");
                taken_over += 1;
                // The step that met the conflict performed nothing new: it saves before
                // it acts.
                let state = world.state();
                let late: Vec<_> = state.log[first_ended.last_step_from..]
                    .iter()
                    .filter(|r| r.by == 1 && is_new_work(&r.what))
                    .collect();
                assert!(
                    late.is_empty(),
                    "{context}: acted after the takeover: {late:?}"
                );
            }
        }
        assert_world_promises(&world, &context);
        // No orphan: what exists is what the rollout that finished counts as live.
        let live = world.live();
        assert!(
            live.values().all(|r| r.as_str() == "v2"),
            "{context}: {live:?}"
        );
        assert_eq!(
            live.len(),
            scenario.spec.desired as usize,
            "{context}: {live:?}"
        );
    }
    // Most rounds take over a rollout in flight (the rest find it finished).
    eprintln!("{taken_over} of {rounds} rounds took over a running controller");
    assert!(
        taken_over * 2 > rounds,
        "only {taken_over} of {rounds} rounds took over"
    );
}

#[cfg(feature = "file-store")]
mod file {
    use cutover::store::FileStore;

    use super::*;

    struct Directory(tempfile::TempDir);

    impl Backend for Directory {
        type Store = FileStore;

        fn handle(&self) -> FileStore {
            FileStore::open(self.0.path()).expect("the directory opens")
        }
    }

    fn directory() -> Directory {
        Directory(tempfile::tempdir().expect("a temporary directory"))
    }

    #[test]
    fn two_controllers_from_one_document_on_the_file_store() {
        from_one_document(&directory(), 60);
    }

    #[test]
    fn a_takeover_on_the_file_store() {
        takeover(&directory(), 60);
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use cutover::store::PostgresStore;

    use super::*;
    use crate::postgres_server::PostgresServer;

    struct Table {
        params: String,
    }

    impl Backend for Table {
        type Store = PostgresStore;

        fn handle(&self) -> PostgresStore {
            PostgresStore::connect(&self.params, "rollouts").expect("connects")
        }
    }

    /// Both races on one server (a server takes seconds to start).
    #[test]
    fn two_controllers_on_a_real_postgresql_server() {
        let Some(server) = PostgresServer::start() else {
            return;
        };
        let table = Table {
            params: server.params(),
        };
        table.handle().create_table().expect("the table is made");
        from_one_document(&table, 30);
        takeover(&table, 30);
    }
}
