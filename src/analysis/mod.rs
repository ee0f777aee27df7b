//! Analysis: measure the new revision, compare it, decide.

mod check;
mod error;
mod judge;
mod normal;
mod rank_sum;
mod run;
mod sequential;
mod spec;

pub use check::{Condition, Verdict, evaluate_conditions};
pub use error::AnalysisSpecError;
pub use judge::{
    Classification, Direction, EffectSize, GroupScore, GroupSpec, JudgeSpec, Judgement,
    MetricClassification, MetricJudgeSpec, NanStrategy, Outcome, classify_metric, judge,
    score_judgement,
};
pub use rank_sum::{RankSumError, RankSumTest, ShiftInterval, rank_sum_test};
pub use run::{
    AnalysisRun, ERROR_RETRY_INTERVAL, LastMeasurement, Measurement, MeasurementCounts, MetricRun,
    RunPhase,
};
pub use sequential::{SequentialError, SequentialLook, SequentialRankSum, SequentialSpec};
pub use spec::{DEFAULT_CONSECUTIVE_ERROR_LIMIT, MetricCheck, MetricSpec};
