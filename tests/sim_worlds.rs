//! Seeded simulated worlds, faults on: every call of every run checked by the shared
//! invariants, no request failed because of the rollout, failures from crashes and a
//! bad version within what the faults and the canary's share explain; runs replay to
//! the byte, a golden trace is compared, and a stalled run says why.
//!
//! `CUTOVER_SIM_WORLDS` sets the worlds per strategy (default 1 000);
//! `CUTOVER_BLESS=1` rewrites the golden trace.

use cutover::analysis::{MetricCheck, MetricSpec};
use cutover::sim::{Behaviour, End, Faults, Operator, Report, Settings, Simulation};
use cutover::spec::{BlueGreenSpec, CanaryPlan, CanarySpec, CanaryStep, Quantity, RollingSpec};
use cutover::{Duration, RolloutSpec, StrategySpec, Weight};

fn worlds() -> u64 {
    std::env::var("CUTOVER_SIM_WORLDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000)
}

/// A small, fast world with every fault on (instances crash or flap about once a
/// minute each, one provision in 20 is refused).
fn faulty() -> Settings {
    let mut settings = Settings::ideal();
    settings.provision_latency = Duration::from_millis(200);
    settings.startup = Duration::from_millis(600);
    settings.apply_latency = Duration::from_millis(80);
    settings.drain_time = Duration::from_millis(150);
    settings.terminate_latency = Duration::from_millis(50);
    settings.requests_per_second = 10;
    settings.samples = 12;
    settings.faults = Faults::none();
    settings.faults.provision_failure_basis_points = 500;
    settings.faults.crash_every = Some(Duration::from_secs(120));
    settings.faults.flap_every = Some(Duration::from_secs(60));
    settings.faults.flap_for = Duration::from_millis(1_500);
    settings.time_limit = Duration::from_mins(60);
    settings
}

fn percent(p: u64) -> Weight {
    Weight::from_percent(p).expect("a percentage")
}

/// A spec of `kind` for world `seed`: 2 to 4 instances, limits varied by the seed.
fn spec(kind: usize, seed: u64) -> RolloutSpec {
    let desired = 2 + (seed % 3) as u32;
    let strategy = match kind {
        0 => StrategySpec::Rolling(RollingSpec {
            max_surge: Quantity::Count((seed / 3 % 2) as u32 + 1),
            max_unavailable: Quantity::Count((seed / 6 % 2) as u32),
        }),
        1 => StrategySpec::BlueGreen(BlueGreenSpec::default()),
        _ => {
            let mut canary = CanarySpec::with_plan(CanaryPlan::Steps(vec![
                CanaryStep::SetWeight(percent(20)),
                CanaryStep::Pause {
                    duration: Some(Duration::from_secs(2)),
                },
                CanaryStep::Analysis {
                    analysis: "latency".into(),
                    on_failure: Default::default(),
                },
                CanaryStep::SetWeight(percent(60)),
                CanaryStep::Pause {
                    duration: Some(Duration::from_secs(2)),
                },
            ]));
            canary.traffic_routing = seed.is_multiple_of(2);
            StrategySpec::Canary(canary)
        }
    };
    let mut spec = RolloutSpec {
        desired,
        strategy,
        ..RolloutSpec::default()
    };
    let judge = MetricCheck::Judge(Default::default());
    let mut latency = MetricSpec::new("p99-latency", judge);
    latency.interval = Some(Duration::from_secs(2));
    latency.count = Some(2);
    spec.analyses.insert("latency".into(), vec![latency]);
    spec
}

const STRATEGIES: [&str; 3] = ["rolling", "blue-green", "canary"];

/// What a crash or flap may cost: requests to the instance until its checks fail
/// enough times, the driver sees it, and the load balancer applies the table without
/// it; and when every instance failed at once, requests routed nowhere until a
/// replacement serves.
fn crash_bound(report: &Report, settings: &Settings, spec: &RolloutSpec) -> u64 {
    let window_ms = settings.health_interval.as_millis()
        * u64::from(spec.health.failure_threshold + 1)
        + settings.poll_interval.as_millis()
        + settings.apply_latency.as_millis()
        // When every instance is gone at once, until a replacement serves.
        + (settings.provision_latency.as_millis() + settings.startup.as_millis()) * 3 / 2
        + 1_000;
    let per_fault = u64::from(settings.requests_per_second) * window_ms / 1_000 + 1;
    report.faults * per_fault
}

fn run_worlds(kind: usize) {
    let settings = faulty();
    let mut completed = 0;
    for seed in 0..worlds() {
        let spec = spec(kind, seed);
        let report = Simulation::new(spec.clone(), settings.clone(), seed)
            .checked(true)
            .timeline(false)
            .run()
            .expect("a valid spec");
        let name = STRATEGIES[kind];
        assert!(
            report.violations.is_empty(),
            "{name} seed {seed}: {:#?}",
            report.violations
        );
        assert_eq!(report.failed.rollout, 0, "{name} seed {seed}: {report}");
        assert!(
            report.failed.crash + report.failed.unrouted <= crash_bound(&report, &settings, &spec),
            "{name} seed {seed}: {:?} by {} faults: {report}",
            report.failed,
            report.faults
        );
        // A good version fails only at its own small rate (0.1%).
        assert!(
            report.failed.bad_version <= report.requests / 200 + 3,
            "{name} seed {seed}: {report}"
        );
        match &report.end {
            End::Completed => completed += 1,
            End::Stalled { reason } => assert!(
                reason.contains("halted"),
                "{name} seed {seed} stalled: {reason}"
            ),
            End::Aborted { .. } => {}
            other => panic!("{name} seed {seed}: {other}"),
        }
    }
    // Faults slow rollouts down; they rarely stop one.
    assert!(
        completed * 10 >= worlds() * 9,
        "{} of {} completed",
        completed,
        worlds()
    );
}

#[test]
fn rolling_worlds_with_faults_hold_every_invariant() {
    run_worlds(0);
}

#[test]
fn blue_green_worlds_with_faults_hold_every_invariant() {
    run_worlds(1);
}

#[test]
fn canary_worlds_with_faults_hold_every_invariant() {
    run_worlds(2);
}

/// The canary of the golden trace: a bad version that the judge catches.
fn golden_run(seed: u64) -> Report {
    let mut settings = faulty().with_behaviour("v2", Behaviour::bad());
    settings.requests_per_second = 20;
    Simulation::new(spec(2, 0), settings, seed)
        .checked(true)
        .run()
        .expect("a valid spec")
}

/// The seed of the committed golden trace.
const GOLDEN_SEED: u64 = 20_261_206;

#[test]
fn a_seed_replays_byte_for_byte_and_matches_the_golden_trace() {
    let (first, second) = (golden_run(GOLDEN_SEED), golden_run(GOLDEN_SEED));
    let trace = first.timeline.to_csv();
    assert_eq!(
        trace,
        second.timeline.to_csv(),
        "the same seed, another trace"
    );
    assert_eq!(
        serde_json::to_string(&first).unwrap(),
        serde_json::to_string(&second).unwrap()
    );
    assert!(first.violations.is_empty(), "{:#?}", first.violations);
    // The judge caught the bad version: the canary rolled back.
    assert!(
        matches!(first.end, End::Aborted { .. }),
        "{}\n{}",
        first,
        first.narrate()
    );
    assert_eq!(first.failed.rollout, 0);
    let golden = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/sim/golden-canary.csv"
    );
    let text = format!("# seed {GOLDEN_SEED}\n# {}\n{trace}", first.summary());
    if std::env::var_os("CUTOVER_BLESS").is_some() {
        std::fs::create_dir_all(std::path::Path::new(golden).parent().unwrap()).unwrap();
        std::fs::write(golden, &text).unwrap();
    }
    let saved =
        std::fs::read_to_string(golden).expect("the golden trace (CUTOVER_BLESS=1 writes it)");
    assert!(
        saved == text,
        "the trace of seed {GOLDEN_SEED} changed (CUTOVER_BLESS=1 rewrites it if that is meant)"
    );
    // Another seed is another run.
    assert_ne!(golden_run(GOLDEN_SEED + 1).timeline.to_csv(), trace);
}

#[test]
fn a_bad_canary_fails_only_the_requests_its_share_explains() {
    let settings = faulty().with_behaviour("v2", Behaviour::bad());
    for seed in 0..50 {
        let spec = spec(2, seed);
        let report = Simulation::new(spec, settings.clone(), seed)
            .checked(true)
            .timeline(false)
            .run()
            .unwrap();
        assert!(
            report.violations.is_empty(),
            "seed {seed}: {:#?}",
            report.violations
        );
        assert!(
            matches!(report.end, End::Aborted { .. }),
            "seed {seed}: {report}"
        );
        assert_eq!(report.failed.rollout, 0, "seed {seed}: {report}");
        // Only requests that reached the canary fail for its sake, about 20% of them,
        // and the canary never carried more than its first step's 20% (plus the
        // replacement of instances that crashed).
        let bad = report.failed.bad_version;
        assert!(
            bad <= report.to_target * 35 / 100 + 5,
            "seed {seed}: {report}"
        );
        assert!(
            report.to_target <= report.requests * 25 / 100 + 10,
            "seed {seed}: {} of {} requests reached the canary",
            report.to_target,
            report.requests
        );
    }
}

#[test]
fn a_rollout_that_stops_progressing_ends_with_its_seed_and_the_reason() {
    // Every provision refused: the rollout halts after its retries, waiting for a
    // person; the run ends there instead of looping.
    let mut settings = faulty();
    settings.faults.provision_failure_basis_points = 10_000;
    let report = Simulation::new(spec(0, 1), settings.clone(), 99)
        .checked(true)
        .run()
        .unwrap();
    match &report.end {
        End::Stalled { reason } => assert!(reason.contains("halted"), "{reason}"),
        other => panic!("{other}"),
    }
    assert!(
        report.to_string().starts_with("seed 99: stalled: "),
        "{report}"
    );
    // A pause nobody promotes, and a time limit: the run ends at the limit.
    settings.faults.provision_failure_basis_points = 0;
    settings.operator = Operator::default();
    settings.operator.promote_after = None;
    let mut spec = spec(2, 1);
    if let StrategySpec::Canary(canary) = &mut spec.strategy {
        canary.plan = CanaryPlan::Steps(vec![
            CanaryStep::SetWeight(percent(10)),
            CanaryStep::Pause { duration: None },
        ]);
    }
    let report = Simulation::new(spec, settings, 5).run().unwrap();
    match &report.end {
        End::Stalled { reason } => assert!(reason.contains("waits for a person"), "{reason}"),
        other => panic!("{other}"),
    }
}
