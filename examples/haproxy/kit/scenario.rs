//! One run: HAProxy on a generated configuration, a v1 fleet of real processes, a
//! steady load through HAProxy, then v2 deployed by cutover's driver — and the
//! figures of it all.
//!
//! Timeline (the load's clock): a warm-up, a window **at rest** (v1 only, before the
//! deploy), the **rollout** (from the deploy until the driver has nothing left to do,
//! the old revision's processes gone), and a window **after** it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::PoisonError;
use std::time::{Duration as StdDuration, Instant};

use cutover::adapter::{Adapters, HealthProbe, Probe, Provisioner, SystemClock};
use cutover::analysis::{BackgroundAnalysis, Condition, MetricCheck, MetricSpec};
use cutover::driver::{Command, Driver, DriverConfig, Outcome};
use cutover::spec::{
    BlueGreenSpec, CanaryPlan, CanarySpec, CanaryStep, Checks, HookSpec, Promotion, Quantity,
    RollingSpec,
};
use cutover::store::{MemoryStore, RolloutId};
use cutover::traffic::MatchCondition;
use cutover::{
    Duration, Instance, InstanceGroup, Phase, Revision, Rollout, RolloutSpec, Router, StrategySpec,
    Weight,
};

use super::backend::Behaviour;
use super::balancer::{Applied, Haproxy};
use super::checks::{Counters, ERROR_RATE, SMOKE, Smoke};
use super::config::{Layout, Proxy};
use super::fleet::{Fleet, Registry};
use super::load::{Figures, Load, LoadSpec, Sample};

/// The strategy of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Rolling update, one instance at a time, no capacity lost.
    Rolling,
    /// Blue-green with a preview route and a smoke-test hook before the switch.
    BlueGreen,
    /// A canary at 10%, 30%, 60%, judged by its error rate when `bad_version`.
    Canary,
}

impl Strategy {
    /// Its name on the command line and in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Rolling => "rolling",
            Strategy::BlueGreen => "blue-green",
            Strategy::Canary => "canary",
        }
    }

    /// The strategy of a name.
    pub fn parse(name: &str) -> Option<Strategy> {
        [Strategy::Rolling, Strategy::BlueGreen, Strategy::Canary]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The strategy.
    pub strategy: Strategy,
    /// v2 answers 500 on [`FAIL_SHARE`] of its requests.
    pub bad_version: bool,
    /// The load.
    pub load: LoadSpec,
    /// How long the load runs before the window at rest (connections opened, caches
    /// warm): not measured.
    pub warm_up: StdDuration,
    /// How long the window at rest lasts: the latency baseline.
    pub at_rest: StdDuration,
    /// How long the window after the rollout lasts.
    pub after: StdDuration,
    /// Print the rollout's events as they happen.
    pub verbose: bool,
}

/// The share of requests a bad v2 fails.
pub const FAIL_SHARE: f64 = 0.1;
/// Instances.
pub const DESIRED: u32 = 4;
/// The preview route's header and value.
pub const PREVIEW: (&str, &str) = ("x-preview", "1");

impl Scenario {
    /// A scenario with the default load: 2,500 requests/s on 16 connections, 8 of
    /// them with sticky keys; 1.5 s of warm-up, then 10 s at rest — as long as a
    /// rollout, so that the baseline and the rollout meet the same share of a shared
    /// machine's busy moments (25,000 requests, 250 above the p99) — or 3 s for a bad
    /// version, whose latency is not compared.
    pub fn new(strategy: Strategy, bad_version: bool) -> Scenario {
        Scenario {
            strategy,
            bad_version,
            load: LoadSpec {
                rate: 2_500,
                connections: 16,
                keyed: 8,
                users: 5_000,
            },
            warm_up: StdDuration::from_millis(1_500),
            at_rest: StdDuration::from_secs(if bad_version { 3 } else { 10 }),
            after: StdDuration::from_millis(1_500),
            verbose: false,
        }
    }

    /// The rollout's spec.
    pub fn spec(&self) -> RolloutSpec {
        let seconds = Duration::from_secs;
        let percent = |p| Weight::from_percent(p).unwrap_or(Weight::ZERO);
        let error_rate = || MetricSpec {
            interval: Some(seconds(1)),
            count: Some(5),
            initial_delay: seconds(1),
            ..MetricSpec::new(
                ERROR_RATE,
                MetricCheck::Threshold {
                    success: Some(Condition::Below(0.02)),
                    failure: None,
                },
            )
        };
        let mut spec = RolloutSpec {
            desired: DESIRED,
            drain_timeout: seconds(10),
            ..RolloutSpec::default()
        };
        spec.strategy = match self.strategy {
            Strategy::Rolling => {
                // One at a time, each new instance ready for 2 s before it counts.
                spec.min_ready = seconds(2);
                if self.bad_version {
                    spec.background_analysis = Some(BackgroundAnalysis::new(vec![error_rate()]));
                }
                StrategySpec::Rolling(RollingSpec {
                    max_surge: Quantity::Count(1),
                    max_unavailable: Quantity::Count(0),
                })
            }
            Strategy::BlueGreen => StrategySpec::BlueGreen(BlueGreenSpec {
                preview_route: Some(MatchCondition::header_equals(PREVIEW.0, PREVIEW.1)),
                pre_promotion: Checks {
                    hooks: vec![HookSpec::new(SMOKE, seconds(30))],
                    analysis: None,
                },
                promotion: Promotion::Auto(seconds(6)),
                scale_down_delay: seconds(3),
                abort_scale_down_delay: Some(Duration::ZERO),
                ..BlueGreenSpec::default()
            }),
            Strategy::Canary => {
                let pause = || CanaryStep::Pause {
                    duration: Some(seconds(3)),
                };
                let steps = if self.bad_version {
                    spec.analyses
                        .insert("errors".to_owned(), vec![error_rate()]);
                    vec![
                        CanaryStep::SetWeight(percent(10)),
                        CanaryStep::Analysis {
                            analysis: "errors".to_owned(),
                            on_failure: Default::default(),
                        },
                        CanaryStep::SetWeight(percent(50)),
                        pause(),
                    ]
                } else {
                    vec![
                        CanaryStep::SetWeight(percent(10)),
                        pause(),
                        CanaryStep::SetWeight(percent(30)),
                        pause(),
                        CanaryStep::SetWeight(percent(60)),
                        pause(),
                    ]
                };
                StrategySpec::Canary(CanarySpec {
                    abort_scale_down_delay: Some(Duration::ZERO),
                    ..CanarySpec::with_plan(CanaryPlan::Steps(steps))
                })
            }
        };
        spec
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The strategy's name.
    pub strategy: &'static str,
    /// Whether v2 was bad.
    pub bad_version: bool,
    /// `promoted`, `rolled-back`, or what else the rollout ended in.
    pub outcome: String,
    /// Before the deploy.
    pub at_rest: Figures,
    /// From the deploy until the rollout was done.
    pub rollout: Figures,
    /// After it.
    pub after: Figures,
    /// How long the rollout took.
    pub rollout_time: StdDuration,
    /// HAProxy's retries, redispatches, connection and response errors (summed over
    /// every proxy and server) at the end.
    pub haproxy_errors: BTreeMap<&'static str, u64>,
    /// Keyed requests checked against the `Router` on the table that routed them.
    pub keyed_checked: usize,
    /// Those that reached another revision than the `Router` predicts (a few shown).
    pub keyed_mismatched: Vec<String>,
    /// Keyed requests routed while a table was being committed (before ≠ after).
    pub keyed_ambiguous: usize,
    /// Requests the smoke hook sent, per revision that answered.
    pub hook_served: BTreeMap<String, usize>,
    /// For a bad version: the most failures the weights and times given to v2
    /// explain (expected + 4σ + 3).
    pub failure_bound: Option<f64>,
    /// Failed requests sent after the last table giving v2 weight was replaced (a
    /// rolled-back run).
    pub failed_after_rollback: usize,
    /// Backend processes running per revision when the rollout was done.
    pub running_at_end: BTreeMap<String, usize>,
    /// Backend processes running after the cleanup.
    pub running_after_cleanup: usize,
    /// The rollout's events.
    pub events: Vec<String>,
}

impl Report {
    /// The closing line.
    pub fn summary(&self) -> String {
        format!(
            "summary: strategy={} requests={} failed={} p99_ms={:.2} p99_at_rest_ms={:.2} served={} outcome={}",
            self.strategy,
            self.rollout.requests,
            self.rollout.failed,
            self.rollout.p99_ms,
            self.at_rest.p99_ms,
            self.rollout.served_list(),
            self.outcome,
        )
    }
}

/// Runs `scenario` with the HAProxy at `haproxy`; every process it starts is gone
/// when it returns, whatever it returns.
pub fn run(scenario: &Scenario, haproxy: &Path) -> Result<Report, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let layout = Layout::new(dir.path()).map_err(|e| format!("layout: {e}"))?;
    let mut proxy = Proxy::start(layout.clone(), haproxy)?;
    let registry = Registry::default();
    let result = run_with(scenario, &mut proxy, &registry);
    registry.stop_all();
    let mut report = result?;
    report.running_after_cleanup = registry.running().values().sum();
    drop(proxy);
    Ok(report)
}

fn run_with(scenario: &Scenario, proxy: &mut Proxy, registry: &Registry) -> Result<Report, String> {
    let v1 = Revision::from("v1");
    let v2 = Revision::from("v2");
    let mut fleet = Fleet::new(registry.clone(), StdDuration::from_millis(200));
    if scenario.bad_version {
        fleet.set_behaviour(
            v2.clone(),
            Behaviour {
                start: StdDuration::from_millis(200),
                fail_share: FAIL_SHARE,
                ..Behaviour::default()
            },
        );
    }
    // The v1 fleet, started and healthy before anything routes to it.
    let instances: Vec<Instance> = (0..DESIRED)
        .map(|i| Instance::serving(format!("web-{i}"), v1.clone()))
        .collect();
    for instance in &instances {
        fleet
            .provision(&instance.id, &v1, InstanceGroup::default())
            .map_err(|e| e.to_string())?;
    }
    wait_healthy(registry, &instances)?;
    let mut clock = SystemClock::new();
    let now = cutover::adapter::Clock::now(&mut clock);
    let rollout = Rollout::new(now, scenario.spec(), instances).map_err(|e| e.to_string())?;
    let mut balancer = Haproxy::new(
        proxy.runtime.clone(),
        proxy.layout.clone(),
        registry.clone(),
    );
    balancer
        .install(rollout.traffic())
        .map_err(|e| e.to_string())?;
    let history = balancer.history();
    let metrics = Counters::new(proxy.runtime.clone(), balancer.servers_of());
    let address = SocketAddr::from(([127, 0, 0, 1], proxy.layout.port));
    let preview = (PREVIEW.0.to_owned(), PREVIEW.1.to_owned());
    let world = Adapters {
        provisioner: fleet,
        health: registry.clone(),
        load_balancer: balancer,
        metrics,
        hooks: Smoke::new(address, preview, 100),
        clock,
    };
    let mut config = DriverConfig::default();
    config.health_interval = Duration::from_millis(200);
    config.poll_interval = Duration::from_millis(50);
    let id = RolloutId::new("web").map_err(|e| e.to_string())?;
    let mut driver =
        Driver::start(MemoryStore::new(), id, rollout, world, config).map_err(|e| e.to_string())?;

    let load = Load::start(address, scenario.load);
    let warm_up = scenario.warm_up;
    std::thread::sleep(warm_up + scenario.at_rest);
    let deployed = load.elapsed();
    let mut events = Vec::new();
    let verbose = scenario.verbose;
    let mut record = |step: &cutover::driver::Step| {
        for event in &step.events {
            if verbose {
                println!("{event}");
            }
            events.push(event.to_string());
        }
    };
    let outcome = driver
        .command(Command::Deploy(v2.clone()))
        .map_err(|e| e.to_string())
        .and_then(|()| driver.run_with(&mut record).map_err(|e| e.to_string()));
    let done = load.elapsed();
    let running_at_end = registry.running();
    std::thread::sleep(scenario.after);
    let started = load.started();
    let samples = load.stop();
    let outcome = outcome?;

    let window = |from: StdDuration, to: StdDuration| {
        samples.iter().filter(move |s| s.at >= from && s.at < to)
    };
    let history: Vec<Applied> = history
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut report = Report {
        strategy: scenario.strategy.name(),
        bad_version: scenario.bad_version,
        outcome: match &outcome {
            Outcome::Finished(Phase::Completed) => "promoted".to_owned(),
            Outcome::Finished(Phase::Aborted { .. }) => "rolled-back".to_owned(),
            other => format!("{other:?}"),
        },
        at_rest: Figures::of(window(warm_up, deployed)),
        rollout: Figures::of(window(deployed, done)),
        after: Figures::of(window(done, StdDuration::MAX)),
        rollout_time: done - deployed,
        haproxy_errors: haproxy_errors(proxy)?,
        hook_served: driver.world().hooks.served.clone(),
        running_at_end: running_at_end
            .into_iter()
            .map(|(r, n)| (r.to_string(), n))
            .collect(),
        events,
        ..Report::default()
    };
    check_keys(&mut report, &samples, &history);
    if scenario.bad_version {
        bound_failures(&mut report, &samples, &history, started, &v2);
    }
    Ok(report)
}

fn wait_healthy(registry: &Registry, instances: &[Instance]) -> Result<(), String> {
    let mut registry = registry.clone();
    let until = Instant::now() + StdDuration::from_secs(20);
    for instance in instances {
        while !matches!(registry.probe(&instance.id), Ok(Probe::Healthy)) {
            if Instant::now() > until {
                return Err(format!(
                    "{} did not become healthy within 20 s",
                    instance.id
                ));
            }
            std::thread::sleep(StdDuration::from_millis(20));
        }
    }
    Ok(())
}

/// HAProxy's own error counters, summed over every row of `show stat`.
fn haproxy_errors(proxy: &Proxy) -> Result<BTreeMap<&'static str, u64>, String> {
    let stats = proxy.runtime.stats().map_err(|e| e.to_string())?;
    Ok(["wretr", "wredis", "econ", "eresp"]
        .into_iter()
        .map(|column| (column, stats.iter().map(|row| row.counter(column)).sum()))
        .collect())
}

/// Every keyed request reached the revision cutover's `Router` gives its key on the
/// table that routed it.
fn check_keys(report: &mut Report, samples: &[Sample], history: &[Applied]) {
    let routers: BTreeMap<u64, Router> = history
        .iter()
        .map(|applied| (applied.table.generation(), Router::new(&applied.table)))
        .collect();
    for sample in samples {
        let (Some(key), Ok(answer)) = (&sample.key, &sample.result) else {
            continue;
        };
        let Some(served) = answer.revision.as_deref() else {
            continue;
        };
        let router = match answer.table {
            Some((before, after)) if before == after => routers.get(&before),
            _ => None,
        };
        let Some(router) = router else {
            report.keyed_ambiguous += 1;
            continue;
        };
        report.keyed_checked += 1;
        let predicted = router
            .route_sticky(key.as_bytes())
            .map(|d| d.revision().to_string());
        if predicted.as_deref() != Some(served) {
            if report.keyed_mismatched.len() < 5 {
                report.keyed_mismatched.push(format!(
                    "{key}: served by {served}, predicted {predicted:?} (table {:?})",
                    answer.table
                ));
            } else {
                report.keyed_mismatched.push(String::new());
            }
        }
    }
}

/// The failures v2's weights and times explain: over each span a table was in
/// force, the requests sent × v2's share × [`FAIL_SHARE`]; and the failures after the
/// last table that gave v2 weight was replaced.
fn bound_failures(
    report: &mut Report,
    samples: &[Sample],
    history: &[Applied],
    started: Instant,
    target: &Revision,
) {
    let since_start = |at: Instant| at.saturating_duration_since(started);
    let mut expected = 0.0;
    let mut last_weighted_end = None;
    for (i, applied) in history.iter().enumerate() {
        let share = f64::from(applied.table.weight(target).basis_points()) / 10_000.0;
        let from = since_start(applied.at);
        let to = history
            .get(i + 1)
            .map_or(StdDuration::MAX, |next| since_start(next.at));
        if share > 0.0 {
            // Requests sent just before the table changed may be routed by it.
            let from = from.saturating_sub(StdDuration::from_millis(50));
            let sent = samples.iter().filter(|s| s.at >= from && s.at < to).count();
            expected += sent as f64 * share * FAIL_SHARE;
            last_weighted_end = Some(to);
        }
    }
    report.failure_bound = Some(expected + 4.0 * expected.sqrt() + 3.0);
    if let Some(end) = last_weighted_end {
        report.failed_after_rollback = samples.iter().filter(|s| s.at >= end && s.failed()).count();
    }
}
