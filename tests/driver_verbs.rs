//! Operator verbs reach a driver (directly, or through a handle from another thread),
//! are answered once saved, and `run` returns when the rollout rests or waits for a
//! person; `serve` runs until stopped.

mod driver_support;
mod world;

use std::thread;

use cutover::driver::{Call, Command, Driver, DriverConfig, Outcome, VerbError};
use cutover::spec::CanaryStep;
use cutover::store::{MemoryStore, Store};
use cutover::{CommandError, Duration, PauseReason, Phase, Weight};
use driver_support::{Timing, canary, id, rolling, start};

/// The phase the stored document holds.
fn stored_phase(store: &MemoryStore) -> String {
    let stored = store.clone().load(&id()).unwrap().expect("saved");
    let document: serde_json::Value = serde_json::from_slice(&stored.document).unwrap();
    let rollout: cutover::Rollout =
        serde_json::from_value(document["rollout"].clone()).expect("a rollout document");
    let phase = rollout.phase().to_string();
    phase.split(' ').next().unwrap_or_default().to_owned()
}

#[test]
fn a_paused_rollout_waits_for_a_person_and_completes_once_resumed() {
    let scenario = rolling();
    let store = MemoryStore::new();
    let world = scenario.world(Timing::REALISTIC);
    let mut driver = start(&scenario, store.clone(), world).unwrap();
    driver.step().unwrap(); // the deploy
    driver.command(Command::Pause).unwrap();
    // Answered once saved: the stored document is paused.
    assert_eq!(stored_phase(&store), "paused");
    let outcome = driver.run().unwrap();
    assert_eq!(
        outcome,
        Outcome::NeedsOperator(Phase::Paused {
            reason: PauseReason::Operator
        })
    );
    // Refused verbs change nothing and say why.
    let version = driver.version();
    assert!(matches!(
        driver.command(Command::Retry),
        Err(VerbError::Refused(CommandError::InvalidPhase { .. }))
    ));
    assert_eq!(driver.version(), version, "a refused verb saves nothing");
    driver.command(Command::Resume).unwrap();
    assert!(driver.run().unwrap().is_completed());
    assert_eq!(stored_phase(&store), "completed");
}

#[test]
fn a_step_waiting_for_promotion_returns_and_a_promote_finishes_it() {
    let mut scenario = canary();
    let percent = |p| Weight::from_percent(p).unwrap();
    scenario.spec = world::canary(
        4,
        vec![
            CanaryStep::SetWeight(percent(50)),
            CanaryStep::Pause { duration: None },
        ],
        |_| {},
    );
    let world = scenario.world(Timing::REALISTIC);
    let mut driver = start(&scenario, MemoryStore::new(), world).unwrap();
    let outcome = driver.run().unwrap();
    assert_eq!(
        outcome,
        Outcome::NeedsOperator(Phase::Paused {
            reason: PauseReason::Step { until: None }
        })
    );
    driver.command(Command::Promote).unwrap();
    assert!(driver.run().unwrap().is_completed());
}

#[test]
fn verbs_in_one_step_are_taken_in_order_and_each_answered() {
    let scenario = rolling();
    let world = scenario.world(Timing::REALISTIC);
    let mut checked = scenario.checked();
    let mut driver = start(&scenario, MemoryStore::new(), world).unwrap();
    let handle = driver.handle();
    let replies = [
        handle.send(Command::Pause),
        handle.send(Command::Promote),
        handle.send(Command::Scale(5)),
        handle.send(Command::Resume),
    ];
    assert!(
        replies.iter().all(|r| r.try_wait().is_none()),
        "not yet taken"
    );
    let step = driver.step().unwrap();
    checked.replay(&step, driver.rollout());
    let verbs: Vec<&Command> = step
        .calls
        .iter()
        .filter_map(|c| match c {
            Call::Command { command, .. } => Some(command),
            _ => None,
        })
        .collect();
    assert_eq!(
        verbs,
        [
            &Command::Deploy("v2".into()),
            &Command::Pause,
            &Command::Promote,
            &Command::Scale(5),
            &Command::Resume
        ]
    );
    let answers: Vec<Result<(), VerbError>> = replies.into_iter().map(|r| r.wait()).collect();
    // A promote over an operator's pause resumes; the resume after it finds nothing
    // to resume.
    assert!(answers[..3].iter().all(Result::is_ok), "{answers:?}");
    assert!(
        matches!(
            &answers[3],
            Err(VerbError::Refused(CommandError::InvalidPhase { .. }))
        ),
        "{answers:?}"
    );
    assert_eq!(driver.rollout().spec().desired, 5);
}

#[test]
fn serve_takes_verbs_from_another_thread_until_stopped() {
    let scenario = rolling();
    let store = MemoryStore::new();
    let world = scenario.world(Timing::REALISTIC);
    let mut driver = Driver::start(
        store.clone(),
        id(),
        scenario.rollout(),
        world,
        DriverConfig::default(),
    )
    .unwrap();
    let handle = driver.handle();
    let serving = thread::spawn(move || {
        let outcome = driver.serve();
        (driver, outcome)
    });
    // Each verb is answered once the serving driver has saved it.
    handle.send(Command::Deploy("v2".into())).wait().unwrap();
    handle.send(Command::Scale(6)).wait().unwrap();
    let saved = store.clone().load(&id()).unwrap().unwrap();
    let document: serde_json::Value = serde_json::from_slice(&saved.document).unwrap();
    assert_eq!(document["rollout"]["rollout"]["spec"]["desired"], 6);
    handle.stop();
    let (driver, outcome) = serving.join().unwrap();
    assert_eq!(outcome.unwrap(), Outcome::Stopped);
    assert_eq!(driver.rollout().spec().desired, 6);
    // In flight or done (the virtual clock runs as fast as the thread): v2 either way.
    let rollout = driver.rollout();
    let v2 = rollout.target().or(rollout.stable());
    assert_eq!(v2.map(|r| r.as_str()), Some("v2"));
    // Once the driver is gone, a verb says so.
    drop(driver);
    assert!(matches!(
        handle.send(Command::Pause).wait(),
        Err(VerbError::DriverGone)
    ));
}

#[test]
fn a_stop_asked_before_a_run_ends_that_run_only() {
    let scenario = rolling();
    let world = scenario.world(Timing::INSTANT);
    let mut driver = start(&scenario, MemoryStore::new(), world).unwrap();
    driver.handle().stop();
    assert_eq!(driver.run().unwrap(), Outcome::Stopped);
    assert!(driver.run().unwrap().is_completed());
}

#[test]
fn an_idle_rollout_is_at_rest_at_once() {
    let scenario = rolling();
    let world = scenario.world(Timing::INSTANT);
    let mut driver = Driver::start(
        MemoryStore::new(),
        id(),
        scenario.rollout(),
        world,
        DriverConfig::default(),
    )
    .unwrap();
    assert_eq!(driver.run().unwrap(), Outcome::Finished(Phase::Idle));
}

#[test]
fn a_slow_load_balancer_is_polled_at_the_poll_interval() {
    let scenario = rolling();
    let timing = Timing {
        apply: Duration::from_secs(2),
        ..Timing::REALISTIC
    };
    let world = scenario.world(timing);
    let mut config = DriverConfig::default();
    config.poll_interval = Duration::from_millis(500);
    config.health_interval = Duration::from_secs(5);
    let mut driver = Driver::start(
        MemoryStore::new(),
        id(),
        scenario.rollout(),
        world.clone(),
        config,
    )
    .unwrap();
    let _ = driver.handle().send(Command::Deploy("v2".into()));
    let mut waits = Vec::new();
    loop {
        let step = driver.step().unwrap();
        if driver.outcome().is_some() {
            break;
        }
        waits.push(step.next.as_millis() - step.now.as_millis());
        use cutover::adapter::Clock;
        driver
            .world_mut()
            .sleep_until(step.next, &cutover::adapter::Wakeup::new());
    }
    // Never a wait longer than the poll interval while a table is in flight, nor a
    // busy loop.
    assert!(waits.iter().all(|w| *w <= 5_000), "{waits:?}");
    assert!(waits.contains(&500), "{waits:?}");
    assert!(world.state().log.len() < 200);
}
