//! The rank-sum test against R: `tests/data/wilcox_reference.csv` holds R 4.2.2's
//! `wilcox.test(x, y, conf.int = TRUE, conf.level = 0.98, exact = FALSE, correct = TRUE)`
//! for 30 sample pairs, made by `tests/data/wilcox_reference.R` (R is needed only to
//! regenerate the file).
//!
//! Agreement asked for: W exactly; p-values to 1e-6 relative (plus 1e-15 absolute for
//! the tiny ones); estimates and interval ends within `uniroot`'s tolerance (1e-4
//! absolute in `wilcox.test`), scaled by the samples' range when that is above 1. The
//! test also reports the largest differences actually seen, which are far smaller,
//! because the root finder is replayed step for step.

use cutover::analysis::{RankSumError, rank_sum_test};

struct Case {
    name: String,
    x: Vec<f64>,
    y: Vec<f64>,
    statistic: f64,
    p_value: Option<f64>,
    estimate: Option<f64>,
    low: Option<f64>,
    high: Option<f64>,
    ci_error: String,
}

fn number(text: &str) -> Option<f64> {
    match text {
        "NA" => None,
        "NaN" => Some(f64::NAN),
        _ => Some(
            text.parse()
                .unwrap_or_else(|_| panic!("not a number: {text:?}")),
        ),
    }
}

fn sample(text: &str) -> Vec<f64> {
    text.split_whitespace()
        .map(|v| number(v).expect("a value"))
        .collect()
}

fn cases() -> Vec<Case> {
    let text = include_str!("data/wilcox_reference.csv");
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 9, "{line}");
            Case {
                name: fields[0].to_owned(),
                x: sample(fields[1]),
                y: sample(fields[2]),
                statistic: number(fields[3]).expect("R always gives W"),
                p_value: number(fields[4]),
                estimate: number(fields[5]),
                low: number(fields[6]),
                high: number(fields[7]),
                ci_error: fields[8].to_owned(),
            }
        })
        .collect()
}

#[test]
fn at_least_25_cases_cover_the_awkward_shapes() {
    let cases = cases();
    assert!(cases.len() >= 25, "{} cases", cases.len());
    assert!(
        cases
            .iter()
            .any(|c| c.x.iter().chain(&c.y).any(|v| v.is_nan()))
    );
    assert!(cases.iter().any(|c| c.x.len() == 1));
    assert!(cases.iter().any(|c| c.x.len() >= 500));
    assert!(cases.iter().any(|c| !c.ci_error.is_empty()));
}

#[test]
fn agrees_with_r() {
    let mut worst_p = 0.0f64;
    let mut worst_root = 0.0f64;
    for case in cases() {
        let result = rank_sum_test(&case.x, &case.y, 0.98);
        let Some(p_value) = case.p_value else {
            // R's p-value is NA only when every value is tied.
            assert_eq!(result, Err(RankSumError::AllTied), "{}", case.name);
            continue;
        };
        let test = result.unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(test.statistic, case.statistic, "{}: W", case.name);
        let p_diff = (test.p_value - p_value).abs();
        assert!(
            p_diff <= 1e-6 * p_value + 1e-15,
            "{}: p {} vs R {}",
            case.name,
            test.p_value,
            p_value
        );
        worst_p = worst_p.max(p_diff / p_value.max(1e-300));

        let finite: Vec<f64> = case
            .x
            .iter()
            .chain(&case.y)
            .copied()
            .filter(|v| !v.is_nan())
            .collect();
        let range = finite.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b))
            - finite.iter().fold(f64::INFINITY, |a, &b| a.min(b));
        let tolerance = 1e-4 * range.max(1.0);
        match (case.estimate, case.low, case.high) {
            (Some(estimate), Some(low), Some(high)) => {
                let ours = test
                    .interval
                    .unwrap_or_else(|| panic!("{}: no interval", case.name));
                let est = test
                    .estimate
                    .unwrap_or_else(|| panic!("{}: no estimate", case.name));
                for (what, mine, r) in [
                    ("estimate", est, estimate),
                    ("low", ours.low, low),
                    ("high", ours.high, high),
                ] {
                    let diff = (mine - r).abs();
                    assert!(diff <= tolerance, "{}: {what} {mine} vs R {r}", case.name);
                    worst_root = worst_root.max(diff / range.max(1.0));
                }
            }
            _ => {
                assert!(!case.ci_error.is_empty(), "{}", case.name);
                assert_eq!(
                    (test.estimate, test.interval),
                    (None, None),
                    "{}",
                    case.name
                );
            }
        }
    }
    eprintln!(
        "largest relative p-value difference {worst_p:e}; largest root difference {worst_root:e} of the range"
    );
}
