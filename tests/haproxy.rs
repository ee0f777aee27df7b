//! Zero downtime behind a real HAProxy, for every strategy, with the driver: real
//! processes on loopback, a steady load through HAProxy, and not one failed request.
//!
//! Its own main (`harness = false`): the scenarios run one after the other (each
//! measures latency, so they must not share the machine with each other) and print
//! their figures. Without HAProxy installed it says so and passes, unless `CI` is set:
//! then a missing HAProxy fails it (`.ci/run` installs it).

#[path = "../examples/haproxy/kit/mod.rs"]
#[allow(dead_code)] // The kit is shared with the example, which uses more of it.
mod kit;

use kit::scenario::{DESIRED, Report, Scenario, Strategy};

/// At least this many requests across each successful rollout.
const MIN_REQUESTS: usize = 20_000;
/// p99 latency during a rollout within this factor of p99 at rest (the issue's
/// bound). `CUTOVER_HAPROXY_P99_FACTOR` overrides it on a machine too busy to measure
/// latency, and the run says so.
const P99_FACTOR: f64 = 1.5;

/// How many times a scenario runs when only its latency bound is missed: p99 is the
/// one figure a busy neighbour on a shared machine moves, and not the rollout's doing.
/// Zero failed requests, the counters and everything else must hold in every attempt.
const LATENCY_ATTEMPTS: u32 = 3;

/// How a latency problem starts.
const LATENCY: &str = "p99";

fn p99_factor() -> f64 {
    match std::env::var("CUTOVER_HAPROXY_P99_FACTOR")
        .ok()
        .and_then(|f| f.parse().ok())
    {
        Some(factor) => {
            println!(
                "p99 bound overridden by CUTOVER_HAPROXY_P99_FACTOR: {factor}x (the issue asks {P99_FACTOR}x)"
            );
            factor
        }
        None => P99_FACTOR,
    }
}

fn main() {
    if let Some(code) = kit::child_main() {
        std::process::exit(code);
    }
    let Some(haproxy) = kit::config::find_haproxy() else {
        let message = "tests/haproxy.rs did not run: HAProxy is not installed \
                       (apt-get install haproxy, or set HAPROXY to its path)";
        if std::env::var_os("CI").is_some() {
            eprintln!("{message}; CI is set, so this fails");
            std::process::exit(1);
        }
        println!("{message}");
        return;
    };
    let scenarios = [
        (Strategy::Rolling, false),
        (Strategy::BlueGreen, false),
        (Strategy::Canary, false),
        (Strategy::Canary, true),
        (Strategy::BlueGreen, true),
    ];
    let mut failures = Vec::new();
    for (strategy, bad_version) in scenarios {
        let scenario = Scenario::new(strategy, bad_version);
        let name = format!(
            "{}{}",
            strategy.name(),
            if bad_version { " (bad v2)" } else { "" }
        );
        for attempt in 1..=LATENCY_ATTEMPTS {
            let report = match kit::scenario::run(&scenario, &haproxy) {
                Ok(report) => report,
                Err(error) => {
                    println!("{name}: FAILED to run: {error}");
                    failures.push(format!("{name}: {error}"));
                    break;
                }
            };
            print_figures(&name, &report);
            let problems = check(&report);
            if problems.is_empty() {
                println!("{name}: ok");
                break;
            }
            // Only the latency bound missed, on a machine shared with other work: the
            // whole scenario runs again (every other check holds in every attempt).
            let latency_only = problems.iter().all(|p| p.starts_with(LATENCY));
            if latency_only && attempt < LATENCY_ATTEMPTS {
                println!(
                    "{name}: {} — attempt {attempt} of {LATENCY_ATTEMPTS}, running it again",
                    problems[0]
                );
                continue;
            }
            for event in &report.events {
                println!("  event: {event}");
            }
            for problem in &problems {
                println!("{name}: FAILED: {problem}");
            }
            failures.extend(problems.into_iter().map(|p| format!("{name}: {p}")));
            break;
        }
    }
    if !failures.is_empty() {
        eprintln!("\n{} problem(s):", failures.len());
        for failure in &failures {
            eprintln!("  {failure}");
        }
        std::process::exit(1);
    }
}

fn print_figures(name: &str, report: &Report) {
    println!("{name}: {}", report.summary());
    println!(
        "  at rest {} req p50 {:.2} ms | rollout {:.1} s p50 {:.2} ms max {:.2} ms | after {} req {} failed served {} | haproxy {:?}",
        report.at_rest.requests,
        report.at_rest.p50_ms,
        report.rollout_time.as_secs_f64(),
        report.rollout.p50_ms,
        report.rollout.max_ms,
        report.after.requests,
        report.after.failed,
        report.after.served_list(),
        report.haproxy_errors,
    );
    println!(
        "  keyed: {} checked against the Router, {} mismatched, {} routed during a commit (not checked); hook served {:?}; bound {:?}; processes at the end {:?}",
        report.keyed_checked,
        report.keyed_mismatched.len(),
        report.keyed_ambiguous,
        report.hook_served,
        report.failure_bound.map(|b| b.round()),
        report.running_at_end,
    );
}

/// What the issue asks of a run; each problem found, in words.
fn check(report: &Report) -> Vec<String> {
    let mut problems = Vec::new();
    let mut expect = |ok: bool, problem: String| {
        if !ok {
            problems.push(problem);
        }
    };
    let (final_revision, outcome) = if report.bad_version {
        ("v1", "rolled-back")
    } else {
        ("v2", "promoted")
    };
    expect(
        report.outcome == outcome,
        format!("outcome {} (wanted {outcome})", report.outcome),
    );
    for (column, count) in &report.haproxy_errors {
        expect(*count == 0, format!("HAProxy counted {count} {column}"));
    }
    expect(
        report.at_rest.failed == 0,
        format!("{} failed at rest", report.at_rest.failed),
    );
    expect(
        report.after.failed == 0,
        format!("{} failed after the rollout", report.after.failed),
    );
    let after_elsewhere = report.after.requests
        - report
            .after
            .served
            .get(final_revision)
            .copied()
            .unwrap_or(0);
    expect(
        report.after.requests > 0 && after_elsewhere == 0,
        format!(
            "after the rollout {after_elsewhere} of {} requests were not served by {final_revision}",
            report.after.requests
        ),
    );
    let running: Vec<(&str, usize)> = report
        .running_at_end
        .iter()
        .map(|(r, n)| (r.as_str(), *n))
        .collect();
    expect(
        running == [(final_revision, DESIRED as usize)],
        format!(
            "backend processes running at the end: {running:?} (wanted {DESIRED} of {final_revision} only)"
        ),
    );
    expect(
        report.running_after_cleanup == 0,
        format!(
            "{} backend processes left after cleanup",
            report.running_after_cleanup
        ),
    );
    expect(
        report.keyed_mismatched.is_empty(),
        format!(
            "{} keyed requests off the Router's revision: {:?}",
            report.keyed_mismatched.len(),
            &report.keyed_mismatched
        ),
    );
    expect(
        report.keyed_checked >= 5_000,
        format!("only {} keyed requests checked", report.keyed_checked),
    );
    if !report.bad_version {
        expect(
            report.rollout.failed == 0,
            format!(
                "{} failed requests during the rollout",
                report.rollout.failed
            ),
        );
        expect(
            report.rollout.requests >= MIN_REQUESTS,
            format!(
                "{} requests during the rollout (wanted at least {MIN_REQUESTS})",
                report.rollout.requests
            ),
        );
        let factor = p99_factor();
        let limit = report.at_rest.p99_ms * factor;
        expect(
            report.rollout.p99_ms <= limit,
            format!(
                "{LATENCY} {:.2} ms during the rollout, over {factor}x the {:.2} ms at rest ({:.2}x)",
                report.rollout.p99_ms,
                report.at_rest.p99_ms,
                report.rollout.p99_ms / report.at_rest.p99_ms
            ),
        );
        return problems;
    }
    match report.strategy {
        "canary" => {
            let bound = report.failure_bound.unwrap_or(0.0);
            expect(
                report.rollout.failed as f64 <= bound,
                format!(
                    "{} failed requests, more than the {bound:.0} the canary's share explains",
                    report.rollout.failed
                ),
            );
            expect(
                report.rollout.failed > 0,
                "a bad canary failed no request: was v2 ever routed to?".to_owned(),
            );
            expect(
                report.failed_after_rollback == 0,
                format!(
                    "{} failed requests after the rollback",
                    report.failed_after_rollback
                ),
            );
        }
        _ => {
            // Blue-green: the smoke test caught v2 before any user reached it.
            expect(
                report.rollout.failed == 0,
                format!("{} failed requests", report.rollout.failed),
            );
            let users_on_v2 = report.rollout.served.get("v2").copied().unwrap_or(0)
                + report.after.served.get("v2").copied().unwrap_or(0);
            expect(
                users_on_v2 == 0,
                format!("{users_on_v2} user requests reached v2"),
            );
            expect(
                report.hook_served.get("v2").copied().unwrap_or(0) > 0,
                format!("the smoke test never reached v2: {:?}", report.hook_served),
            );
        }
    }
    problems
}
