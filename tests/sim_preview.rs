//! Plan previews and the strategies' comparison, on the simulator.

use cutover::Duration;
use cutover::sim::{Settings, compare, preview, standard_specs};

#[test]
fn a_canary_preview_lists_each_step_with_its_weights_like_argo() {
    let [_, _, canary] = standard_specs(10);
    let plan = preview(&canary, None).unwrap();
    let lines: Vec<String> = plan.rows.iter().map(ToString::to_string).collect();
    assert_eq!(plan.rows.len(), 5, "{lines:#?}");
    assert!(lines[0].starts_with("Step: 1/5 SetWeight"), "{}", lines[0]);
    assert!(
        lines[0].contains("SetWeight  10 ActualWeight  10"),
        "{}",
        lines[0]
    );
    assert!(lines[2].starts_with("Step: 3/5 SetWeight"), "{}", lines[2]);
    assert!(
        lines[2].contains("SetWeight  50 ActualWeight  50"),
        "{}",
        lines[2]
    );
    let last = plan.rows.last().unwrap();
    assert_eq!((last.set_weight, last.actual_weight), (10_000, 10_000));
    // The analysis takes three measurements 10 s apart, the pause 30 s.
    assert!(plan.report.duration >= Duration::from_secs(60), "{plan}");
    assert_eq!(plan.report.failed.total(), 0, "{}", plan.report);
}

#[test]
fn the_comparison_has_each_strategys_trade_off() {
    let specs = standard_specs(8);
    let table = compare(&specs, &Settings::ideal(), 3).unwrap();
    let [rolling, blue_green, canary] = &table.trades[..] else {
        panic!("three strategies: {table}");
    };
    // Rolling: 25% surge; blue-green: a whole second fleet, no mixed versions.
    assert_eq!(rolling.extra_instances, 2, "{table}");
    assert_eq!(blue_green.extra_instances, 8, "{table}");
    assert_eq!(blue_green.mixed_window, Duration::ZERO, "{table}");
    assert!(rolling.mixed_window > Duration::ZERO, "{table}");
    // Every strategy gets back; blue-green and the canary in one table update.
    for trade in &table.trades {
        assert!(trade.rollback_time.is_some(), "{table}");
    }
    assert!(blue_green.rollback_time < rolling.rollback_time, "{table}");
    // The canary's judge exposes the fewest users to a bad version.
    let share = |(to_bad, sent): (u64, u64)| to_bad as f64 / sent as f64;
    assert!(share(canary.exposed) < share(rolling.exposed), "{table}");
    assert!(share(canary.exposed) < 0.05, "{table}");
    assert!(table.to_string().contains("users exposed to a bad version"));
}

#[test]
fn a_report_ends_with_the_summary_line_of_the_issue_and_a_csv_timeline() {
    let [rolling, blue_green, canary] = standard_specs(4);
    let pattern = regex::Regex::new(
        r"^summary: strategy=(rolling|blue-green|canary) requests=\d+ failed=\d+ peak_instances=\d+ min_ready=\d+ lb_updates=\d+ duration=[0-9hms]+$",
    )
    .unwrap();
    for (spec, name) in [
        (rolling, "rolling"),
        (blue_green, "blue-green"),
        (canary, "canary"),
    ] {
        let report = cutover::sim::Simulation::new(spec, Settings::ideal(), 1)
            .run()
            .unwrap();
        let summary = report.summary();
        assert!(pattern.is_match(&summary), "{summary}");
        assert!(summary.contains(&format!("strategy={name} ")), "{summary}");
        assert!(report.to_string().ends_with(&summary));
        let csv = report.timeline.to_csv();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some(cutover::sim::CSV_HEADER));
        let columns = cutover::sim::CSV_HEADER.split(',').count();
        for line in lines {
            assert_eq!(fields(line), columns, "{line}");
        }
    }
}

/// The fields of a CSV line, quotes (and doubled quotes in them) respected.
fn fields(line: &str) -> usize {
    let (mut count, mut quoted) = (1, false);
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => count += 1,
            _ => {}
        }
    }
    assert!(!quoted, "an unterminated quote: {line}");
    count
}
