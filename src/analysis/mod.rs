//! Analysis: measure the new revision, compare it, decide — pure functions and a small
//! sans-IO state machine, independent of the rollout engine that will host them.
//!
//! * [`rank_sum_test`]: the Wilcoxon / Mann–Whitney rank-sum test with R's
//!   `wilcox.test(conf.int = TRUE, exact = FALSE)` numbers (statistic, p-value, location
//!   shift and its interval), O(n log n).
//! * [`classify_metric`], [`score_judgement`], [`judge`]: a canary judge compatible with
//!   Kayenta's NetflixACAJudge (per-metric Pass / High / Low / NoData / Error, groups,
//!   weights, critical and muted metrics, score thresholds), deterministic.
//! * [`evaluate_conditions`]: Argo Rollouts' success / failure conditions on a value.
//! * [`SequentialRankSum`]: a mixture sequential probability ratio test whose
//!   false-failure rate over every look of a run is at most `alpha`.
//! * [`MetricRun`], [`AnalysisRun`]: when the next measurement is due and what the
//!   measurements decide, with Argo's `interval`, `count`, `initial_delay` and limits.
//!
//! Specs are validated into [`AnalysisSpecError`]s that say what to change.

mod background;
mod check;
mod error;
mod judge;
mod normal;
mod rank_sum;
mod run;
mod score;
mod sequential;
mod spec;

pub use background::{AnalysisStart, BackgroundAnalysis, OnFailure, OnInconclusive};
pub use check::{Condition, Verdict, evaluate_conditions};
pub use error::AnalysisSpecError;
pub use judge::{
    Classification, Direction, EffectSize, MetricClassification, MetricJudgeSpec, NanStrategy,
    classify_metric,
};
pub use rank_sum::{RankSumError, RankSumTest, ShiftInterval, rank_sum_test};
pub use run::{
    AnalysisRun, ERROR_RETRY_INTERVAL, LastMeasurement, Measurement, MeasurementCounts, MetricRun,
    RunPhase,
};
pub use score::{GroupScore, GroupSpec, JudgeSpec, Judgement, Outcome, judge, score_judgement};
pub use sequential::{SequentialError, SequentialLook, SequentialRankSum, SequentialSpec};
pub use spec::{DEFAULT_CONSECUTIVE_ERROR_LIMIT, MetricCheck, MetricSpec};
