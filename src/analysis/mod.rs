//! Analysis: measure the new revision, compare it, decide.

mod normal;
mod rank_sum;

pub use rank_sum::{RankSumError, RankSumTest, ShiftInterval, rank_sum_test};
