//! Crash and resume: a driver killed at every step of a whole rollout of each
//! strategy — between steps, right after each save, and in the middle of each request
//! it makes — and resumed from the store on fresh adapters over the same world ends
//! where an uncrashed run ends: the same fleet and table, no orphaned instance, no
//! action lost, none performed twice with a different outcome. And a store that fails:
//! transient failures retried, lasting ones stopping the driver, which resumes.

mod driver_support;
mod world;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use cutover::adapter::{Clock, Wakeup};
use cutover::driver::{Driver, DriverConfig, DriverError, Outcome};
use cutover::store::{Store, Version};
use cutover::{InstanceId, InstanceState, Revision, Timestamp, Weight};
use driver_support::{
    Crash, Fault, MockWorld, Scenario, ScriptedStore, Timing, drive, every_strategy, id, rolling,
};

/// Crashes are panics carrying [`Crash`]: they are expected, and not printed.
fn quiet_crashes() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Crash>() {
                default(info);
            }
        }));
    });
}

/// Where the driver dies.
#[derive(Clone, Copy, Debug)]
enum CrashAt {
    /// Dropped after this many steps.
    Step(usize),
    /// Dies right after this many saves succeed (0: the first).
    Save(usize),
    /// Dies in the middle of a request, right after the world took it (0: the first).
    Request(usize),
}

/// Where a run ends: what the rollout holds and what the world holds.
#[derive(Debug, PartialEq)]
struct End {
    outcome: Outcome,
    fleet: Vec<(InstanceId, Revision, InstanceState)>,
    /// The table's revisions, weights and instances (its generation aside: a resumed
    /// run may publish the same tables in more steps).
    table: Vec<(Revision, Weight, Vec<InstanceId>)>,
    /// The instances that exist in the world.
    live: BTreeMap<InstanceId, Revision>,
}

fn start_deployed(
    scenario: &Scenario,
    store: ScriptedStore,
    world: MockWorld,
) -> Driver<ScriptedStore, MockWorld> {
    let mut rollout = scenario.rollout();
    rollout
        .deploy(Timestamp::ZERO, "v2")
        .expect("a new revision");
    Driver::start(store, id(), rollout, world, DriverConfig::default()).expect("started")
}

fn end_of(driver: &Driver<ScriptedStore, MockWorld>, outcome: Outcome, world: &MockWorld) -> End {
    let rollout = driver.rollout();
    let fleet = rollout
        .fleet()
        .iter()
        .map(|i| (i.id.clone(), i.revision.clone(), i.state))
        .collect();
    let table = rollout
        .traffic()
        .backends()
        .iter()
        .map(|b| {
            let ids = b.instances().map(|(id, _)| id.clone()).collect();
            (b.revision().clone(), b.weight(), ids)
        })
        .collect();
    End {
        outcome,
        fleet,
        table,
        live: world.live(),
    }
}

/// The world's promises after a run, crashes and all.
fn assert_world_promises(world: &MockWorld, end: &End, context: &str) {
    let state = world.state();
    // No instance was created twice (a repeated provision found the first).
    for (name, times) in &state.created {
        assert_eq!(*times, 1, "{context}: {name} created {times} times");
    }
    // The table in force only ever moved forward.
    let history = &state.applied_history;
    assert!(
        history.windows(2).all(|w| w[0] < w[1]),
        "{context}: applied {history:?}"
    );
    drop(state);
    // No orphan: what exists in the world is what the rollout counts as live.
    let counted: BTreeMap<InstanceId, Revision> = end
        .fleet
        .iter()
        .filter(|(_, _, state)| state.is_live())
        .map(|(id, revision, _)| (id.clone(), revision.clone()))
        .collect();
    assert_eq!(end.live, counted, "{context}: orphans or lost instances");
}

/// Runs `scenario`, killing the driver at `at` and resuming it; `None` if the run
/// ended before reaching `at`.
fn run_with_crash(scenario: &Scenario, at: Option<CrashAt>) -> Option<End> {
    quiet_crashes();
    let world = scenario.world(Timing::REALISTIC);
    let store = ScriptedStore::default();
    match at {
        Some(CrashAt::Save(n)) => store.crash_after_saves(n),
        Some(CrashAt::Request(n)) => world.state().crash_after = Some(n),
        _ => {}
    }
    let first = catch_unwind(AssertUnwindSafe(|| {
        let mut driver = start_deployed(scenario, store.clone(), world.controller(0));
        let mut steps = 0;
        loop {
            if matches!(at, Some(CrashAt::Step(n)) if n == steps) {
                return None; // dropped: killed between two steps
            }
            let step = driver.step().expect("no driver error");
            steps += 1;
            if let Some(outcome) = driver.outcome() {
                return Some(end_of(&driver, outcome, &world));
            }
            driver.world_mut().sleep_until(step.next, &Wakeup::new());
        }
    }));
    let context = format!("{} crashed at {at:?}", scenario.name);
    match first {
        Ok(Some(end)) if at.is_none() => return Some(end),
        // The crash point lies beyond the end of the run.
        Ok(Some(_)) => return None,
        Ok(None) => {}
        Err(payload) => assert!(payload.is::<Crash>(), "{context}: a real panic"),
    }
    let mut driver = Driver::resume(store, id(), world.controller(1), DriverConfig::default())
        .unwrap_or_else(|e| panic!("{context}: resume: {e}"));
    let outcome = drive(&mut driver, None, 20_000, |_| {})
        .unwrap_or_else(|e| panic!("{context}: after resume: {e}"));
    let end = end_of(&driver, outcome, &world);
    assert_world_promises(&world, &end, &context);
    Some(end)
}

/// Kills the driver at every point of one kind, in turn, until a crash point lies past
/// the end of the run; each resumed run must end as the uncrashed one.
fn every_crash_point(kind: fn(usize) -> CrashAt) {
    for scenario in every_strategy() {
        let reference = run_with_crash(&scenario, None).expect("an uncrashed run ends");
        assert!(reference.outcome.is_completed(), "{}", scenario.name);
        let mut points = 0;
        for n in 0.. {
            let at = kind(n);
            let Some(end) = run_with_crash(&scenario, Some(at)) else {
                break;
            };
            assert_eq!(end, reference, "{} crashed at {at:?}", scenario.name);
            points += 1;
        }
        eprintln!("{}: {points} crash points", scenario.name);
        assert!(points > 5, "{}: only {points} crash points", scenario.name);
    }
}

#[test]
fn killed_between_any_two_steps_it_resumes_to_the_same_end() {
    every_crash_point(CrashAt::Step);
}

#[test]
fn killed_right_after_any_save_it_resumes_to_the_same_end() {
    every_crash_point(CrashAt::Save);
}

#[test]
fn killed_in_the_middle_of_any_request_it_resumes_to_the_same_end() {
    every_crash_point(CrashAt::Request);
}

#[test]
fn transient_store_failures_are_retried_and_a_lost_reply_is_recognised() {
    let scenario = rolling();
    let world = scenario.world(Timing::REALISTIC);
    let store = ScriptedStore::default();
    let mut driver = start_deployed(&scenario, store.clone(), world.clone());
    store.fail_next([
        Fault::Transient,
        Fault::TransientAfterWrite,
        Fault::Transient,
    ]);
    let mut versions = vec![driver.version().unwrap()];
    let outcome = drive(&mut driver, None, 20_000, |s| versions.extend(s.saved)).unwrap();
    assert!(outcome.is_completed(), "{outcome:?}");
    // One version after the other: the lost reply's write was taken as this driver's
    // own, not as another controller's.
    let numbers: Vec<u64> = versions.iter().map(|v| v.get()).collect();
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    assert_eq!(store.saves(), numbers.len());
    // The stored document is the driver's last state.
    let resumed =
        Driver::resume(store, id(), world.controller(1), DriverConfig::default()).unwrap();
    assert_eq!(resumed.rollout(), driver.rollout());
}

#[test]
fn a_store_that_keeps_failing_stops_the_driver_which_resumes_later() {
    for faults in [vec![Fault::Failed], vec![Fault::Transient; 5]] {
        let scenario = rolling();
        let world = scenario.world(Timing::REALISTIC);
        let store = ScriptedStore::default();
        let mut driver = start_deployed(&scenario, store.clone(), world.clone());
        store.fail_next(faults.clone());
        let error = drive(&mut driver, None, 20_000, |_| {}).unwrap_err();
        let attempts = faults.len() as u32;
        assert!(
            matches!(error, DriverError::Store { attempts: a, .. } if a == attempts),
            "{faults:?}: {error:?}"
        );
        // Stopped for good: nothing more is asked of the world, and verbs are refused.
        let requests = world.state().log.len();
        assert_eq!(driver.step().unwrap_err().to_string(), error.to_string());
        let verb = driver.handle().send(cutover::driver::Command::Pause);
        assert!(driver.step().is_err());
        assert!(matches!(
            verb.try_wait(),
            Some(Err(cutover::driver::VerbError::Driver(_)))
        ));
        assert_eq!(world.state().log.len(), requests);
        drop(driver);
        // Once the store is back, the rollout resumes from its last saved document.
        let mut driver =
            Driver::resume(store, id(), world.controller(1), DriverConfig::default()).unwrap();
        let outcome = drive(&mut driver, None, 20_000, |_| {}).unwrap();
        assert!(outcome.is_completed(), "{outcome:?}");
    }
}

#[test]
fn a_driver_taken_over_stops_at_its_next_save_before_acting() {
    let scenario = rolling();
    let world = scenario.world(Timing::REALISTIC);
    let store = ScriptedStore::default();
    let mut first = start_deployed(&scenario, store.clone(), world.controller(0));
    first.step().unwrap();
    let read = first.version().expect("saved");
    let second = Driver::resume(
        store.clone(),
        id(),
        world.controller(1),
        DriverConfig::default(),
    )
    .unwrap();
    assert_eq!(
        second.version(),
        read.next(),
        "a resume claims the document"
    );
    let requests = world.state().log.len();
    let error = drive(&mut first, None, 100, |_| {}).unwrap_err();
    assert!(
        matches!(error, DriverError::Conflict { expected, found, .. }
            if expected == Some(read) && found == read.next()),
        "{error:?}"
    );
    let after: Vec<_> = world.state().log[requests..]
        .iter()
        .filter(|r| r.by == 0)
        .cloned()
        .collect();
    assert!(after.iter().all(|r| !is_new_work(r)), "{after:?}");
    // Stopped for good.
    assert!(first.step().unwrap_err().is_conflict());
}

#[test]
fn resuming_a_rollout_never_saved_says_so() {
    let world = rolling().world(Timing::INSTANT);
    let missing = cutover::store::RolloutId::new("missing").unwrap();
    let error = Driver::resume(
        ScriptedStore::default(),
        missing,
        world,
        DriverConfig::default(),
    )
    .unwrap_err();
    assert!(matches!(error, DriverError::NotFound { .. }), "{error:?}");
}

/// Whether a request asks for something the driver had not asked before its last
/// save (a provision, a hook, a measurement, a termination): repeated observations and
/// re-requests of refused tables or drains are not.
fn is_new_work(request: &driver_support::mock::Request) -> bool {
    use driver_support::Asked;
    matches!(
        request.what,
        Asked::Provision(..) | Asked::Redeploy(..) | Asked::Hook(_) | Asked::Measure(_)
    )
}

#[test]
fn a_document_that_is_not_a_drivers_is_refused_with_a_typed_error() {
    let world = rolling().world(Timing::INSTANT);
    let store = ScriptedStore::default();
    let mut raw = store.clone();
    raw.save(&id(), b"{\"format\": 3}", None).unwrap();
    let error =
        Driver::resume(store.clone(), id(), world.clone(), DriverConfig::default()).unwrap_err();
    assert!(matches!(error, DriverError::Unreadable { .. }), "{error:?}");
    let later = br#"{"driver": 2, "rollout": {}, "perform": [], "requests": {}, "more": 1}"#;
    raw.save(&id(), later, Version::new(1)).unwrap();
    let error =
        Driver::resume(store.clone(), id(), world.clone(), DriverConfig::default()).unwrap_err();
    assert!(
        std::error::Error::source(&error).is_some_and(|s| s.to_string().contains("format 2")),
        "{error:?}"
    );
    let unknown_format = br#"{"driver": 1, "rollout": {"format": 99, "rollout": {}}}"#;
    raw.save(&id(), unknown_format, Version::new(2)).unwrap();
    let error = Driver::resume(store, id(), world, DriverConfig::default()).unwrap_err();
    assert!(
        matches!(
            error,
            DriverError::Restore {
                source: cutover::RestoreError::UnknownFormat { found: 99, .. },
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn starting_over_an_existing_rollout_is_a_conflict() {
    let scenario = rolling();
    let world = scenario.world(Timing::INSTANT);
    let store = ScriptedStore::default();
    let _first = start_deployed(&scenario, store.clone(), world.clone());
    let error = Driver::start(
        store,
        id(),
        scenario.rollout(),
        world,
        DriverConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, DriverError::Conflict { expected: None, found: Some(v), .. } if v == Version::FIRST),
        "{error:?}"
    );
}
