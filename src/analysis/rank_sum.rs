//! The two-sample Wilcoxon rank-sum (Mann–Whitney) test, computed as R's
//! `wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE)` computes it.
//!
//! R finds the interval ends and the location estimate with `uniroot` (Brent's method,
//! R's `zeroin.c`) on the standardized statistic of `x - d` against `y`, a step function
//! of `d`. Evaluating that function needs only the ranks of the merged samples, so with
//! both samples sorted once each evaluation is a linear merge: O(n log n) to sort, then
//! O(n + m) per step of the root finder, and never the n·m pairwise differences.
//! Replaying Brent's iteration step for step lands on R's root, not merely within
//! `uniroot`'s tolerance of it.

use std::cmp::Ordering;

use super::normal::{normal_cdf_both, normal_quantile};

/// R's `tol.root` default for `wilcox.test`: the absolute tolerance of the root finder.
const ROOT_TOLERANCE: f64 = 1e-4;
/// R's `uniroot` default `maxiter`.
const ROOT_MAX_ITERATIONS: u32 = 1000;

/// The result of [`rank_sum_test`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RankSumTest {
    /// The Mann–Whitney statistic W: the rank sum of the canary sample minus
    /// `n (n + 1) / 2` (R's `statistic`). Ranges from 0 to `n m`.
    pub statistic: f64,
    /// The two-sided p-value of the normal approximation with tie and continuity
    /// corrections (R's `p.value`), in `[0, 1]`.
    pub p_value: f64,
    /// How many canary and baseline values were used (NaNs removed).
    pub sizes: (usize, usize),
    /// The location shift of the canary relative to the baseline (R's `estimate`):
    /// the root of the uncorrected standardized statistic, which is the Hodges–Lehmann
    /// estimate (the median of all pairwise differences) to within the root finder's
    /// tolerance. `None` where R cannot compute it either (see [`RankSumTest::interval`]).
    pub estimate: Option<f64>,
    /// The confidence interval for the location shift (R's `conf.int`). `None` when R
    /// stops instead: when the samples, shifted to either end of the search range, are
    /// all tied (for example one value on each side, or two constant samples).
    pub interval: Option<ShiftInterval>,
}

/// A confidence interval for the location shift of the canary against the baseline.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct ShiftInterval {
    /// The lower end.
    pub low: f64,
    /// The upper end.
    pub high: f64,
}

/// Samples that cannot be tested.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RankSumError {
    /// A sample has no values once NaNs are removed.
    #[error("the {sample} sample has no values (after removing NaNs): measure at least one")]
    EmptySample {
        /// `"canary"` or `"baseline"`.
        sample: &'static str,
    },
    /// A sample holds an infinite value, which has a rank but no location.
    #[error(
        "the {sample} sample holds an infinite value: remove it or replace it with a finite value"
    )]
    InfiniteValue {
        /// `"canary"` or `"baseline"`.
        sample: &'static str,
    },
    /// Every value of both samples is the same number: there is nothing to rank.
    #[error("every canary and baseline value is the same number, so there is nothing to rank")]
    AllTied,
    /// The confidence level is not strictly between 0 and 1.
    #[error(
        "confidence level {level} is out of range: use a number strictly between 0 and 1, such as 0.98"
    )]
    InvalidConfidence {
        /// The level given.
        level: f64,
    },
}

/// The two-sided Wilcoxon rank-sum test of `canary` against `baseline`, with a
/// `confidence` interval and an estimate of the location shift (canary minus baseline).
///
/// It computes what R's
/// `wilcox.test(canary, baseline, conf.int = TRUE, conf.level = confidence, exact = FALSE)`
/// computes — the normal approximation with tie and continuity corrections, and the
/// interval and estimate found by R's root finder — in O((n + m) log(n + m)) time and
/// O(n + m) memory. NaNs are removed first, as R does.
///
/// # Errors
///
/// [`RankSumError`] when a sample is empty or holds an infinity, when every value is
/// the same, or when `confidence` is not strictly between 0 and 1.
///
/// # Examples
///
/// ```
/// use cutover::analysis::rank_sum_test;
/// let canary = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
/// let baseline = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
/// let test = rank_sum_test(&canary, &baseline, 0.98)?;
/// assert_eq!(test.statistic, 58.0);
/// assert!((test.p_value - 0.13291945818531886).abs() < 1e-12);
/// let interval = test.interval.expect("computable");
/// assert!(interval.low < 0.0 && interval.high > 0.0);
/// # Ok::<(), cutover::analysis::RankSumError>(())
/// ```
pub fn rank_sum_test(
    canary: &[f64],
    baseline: &[f64],
    confidence: f64,
) -> Result<RankSumTest, RankSumError> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(RankSumError::InvalidConfidence { level: confidence });
    }
    let samples = Samples::new(canary, baseline)?;
    let (statistic, p_value) = samples.statistic_and_p_value()?;
    let (estimate, interval) = samples.interval_and_estimate(confidence);
    Ok(RankSumTest {
        statistic,
        p_value,
        sizes: (samples.x.len(), samples.y.len()),
        estimate,
        interval,
    })
}

/// Both samples, NaN-free, finite and sorted ascending.
pub(crate) struct Samples {
    x: Vec<f64>,
    y: Vec<f64>,
}

impl Samples {
    pub(crate) fn new(canary: &[f64], baseline: &[f64]) -> Result<Self, RankSumError> {
        Ok(Samples {
            x: sorted_finite(canary, "canary")?,
            y: sorted_finite(baseline, "baseline")?,
        })
    }

    /// The standardized statistic without continuity correction, for sequential use:
    /// `(W - n m / 2) / sigma`, and the information `n m / (n + m)` it carries.
    pub(crate) fn z_and_information(&self) -> Option<(f64, f64)> {
        let w = self.standardized(0.0, false);
        let (n, m) = (self.x.len() as f64, self.y.len() as f64);
        w.is_finite().then_some((w, n * m / (n + m)))
    }

    pub(crate) fn statistic_and_p_value(&self) -> Result<(f64, f64), RankSumError> {
        let (n_x, n_y) = (self.x.len() as f64, self.y.len() as f64);
        let ranks = merged_ranks(&self.x, &self.y, 0.0);
        let statistic = ranks.x_rank_sum - n_x * (n_x + 1.0) / 2.0;
        let sigma = sigma(n_x, n_y, ranks.ties);
        // NaN or zero: every value is tied.
        if sigma.is_nan() || sigma <= 0.0 {
            return Err(RankSumError::AllTied);
        }
        let centred = statistic - n_x * n_y / 2.0;
        let z = (centred - sign(centred) * 0.5) / sigma;
        let (lower, upper) = normal_cdf_both(z);
        Ok((statistic, (2.0 * lower.min(upper)).min(1.0)))
    }

    /// R's `W(d)`: the standardized statistic of `x - d` against `y`.
    fn standardized(&self, d: f64, continuity: bool) -> f64 {
        let (n_x, n_y) = (self.x.len() as f64, self.y.len() as f64);
        let ranks = merged_ranks(&self.x, &self.y, d);
        let dz = ranks.x_rank_sum - n_x * (n_x + 1.0) / 2.0 - n_x * n_y / 2.0;
        let correction = if continuity { sign(dz) * 0.5 } else { 0.0 };
        (dz - correction) / sigma(n_x, n_y, ranks.ties)
    }

    fn interval_and_estimate(&self, confidence: f64) -> (Option<f64>, Option<ShiftInterval>) {
        let (Some(&x_min), Some(&x_max), Some(&y_min), Some(&y_max)) =
            (self.x.first(), self.x.last(), self.y.first(), self.y.last())
        else {
            return (None, None);
        };
        let mumin = x_min - y_max;
        let mumax = x_max - y_min;
        let w_min = self.standardized(mumin, true);
        let w_max = self.standardized(mumax, true);
        // R stops here ("missing value where TRUE/FALSE needed"): all tied at an end.
        if w_min.is_nan() || w_max.is_nan() || mumin >= mumax {
            return (None, None);
        }
        let alpha = 1.0 - confidence;
        let root = |zq: f64| {
            let f_lower = w_min - zq;
            if f_lower <= 0.0 {
                return mumin;
            }
            let f_upper = w_max - zq;
            if f_upper >= 0.0 {
                return mumax;
            }
            zeroin(mumin, mumax, f_lower, f_upper, |d| {
                self.standardized(d, true) - zq
            })
        };
        let z_half = normal_quantile(alpha / 2.0);
        let low = root(-z_half);
        let high = root(z_half);
        let estimate = zeroin(
            mumin,
            mumax,
            self.standardized(mumin, false),
            self.standardized(mumax, false),
            |d| self.standardized(d, false),
        );
        (Some(estimate), Some(ShiftInterval { low, high }))
    }
}

fn sorted_finite(values: &[f64], sample: &'static str) -> Result<Vec<f64>, RankSumError> {
    let mut kept: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if kept.iter().any(|v| v.is_infinite()) {
        return Err(RankSumError::InfiniteValue { sample });
    }
    if kept.is_empty() {
        return Err(RankSumError::EmptySample { sample });
    }
    // No NaN is left, so partial_cmp never fails; total_cmp would order -0 before +0,
    // which R ranks as ties, so equal values must compare Equal.
    kept.sort_unstable_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
    Ok(kept)
}

/// R's `sign`: 0 for 0.
fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The tie-corrected standard deviation of W, in R's order of operations.
fn sigma(n_x: f64, n_y: f64, ties: f64) -> f64 {
    ((n_x * n_y / 12.0) * ((n_x + n_y + 1.0) - ties / ((n_x + n_y) * (n_x + n_y - 1.0)))).sqrt()
}

struct MergedRanks {
    /// The sum of the (mid-)ranks of `x - d` in the merged sample.
    x_rank_sum: f64,
    /// `sum(t^3 - t)` over the tie groups.
    ties: f64,
}

/// Ranks of `x - d` merged with `y`, both sorted; `x - d` stays sorted because
/// subtracting a constant is monotone in floating point too.
fn merged_ranks(x: &[f64], y: &[f64], d: f64) -> MergedRanks {
    let (mut i, mut j) = (0, 0);
    let mut below = 0.0_f64;
    let mut x_rank_sum = 0.0;
    let mut ties = 0.0;
    while i < x.len() || j < y.len() {
        let next_x = x.get(i).map(|v| v - d);
        let next_y = y.get(j).copied();
        let value = match (next_x, next_y) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => break,
        };
        let mut in_x = 0.0_f64;
        while i < x.len() && x[i] - d == value {
            in_x += 1.0;
            i += 1;
        }
        let mut in_y = 0.0_f64;
        while j < y.len() && y[j] == value {
            in_y += 1.0;
            j += 1;
        }
        let t = in_x + in_y;
        x_rank_sum += in_x * (below + (t + 1.0) / 2.0);
        ties += t * t * t - t;
        below += t;
    }
    MergedRanks { x_rank_sum, ties }
}

/// Brent's root finder exactly as R's `R_zeroin2` (called by `uniroot`) runs it, with
/// `wilcox.test`'s tolerance, so the roots are R's roots.
fn zeroin(ax: f64, bx: f64, fa: f64, fb: f64, mut f: impl FnMut(f64) -> f64) -> f64 {
    // uniroot's R-level wrapper turns non-finite values into the largest finite ones.
    let mut f = move |x: f64| {
        let v = f(x);
        if v.is_nan() || v == f64::INFINITY {
            f64::MAX
        } else if v == f64::NEG_INFINITY {
            -f64::MAX
        } else {
            v
        }
    };
    let tol = ROOT_TOLERANCE;
    let (mut a, mut b, mut fa, mut fb) = (ax, bx, fa, fb);
    let (mut c, mut fc) = (a, fa);
    if fa == 0.0 {
        return a;
    }
    if fb == 0.0 {
        return b;
    }
    for _ in 0..=ROOT_MAX_ITERATIONS {
        let prev_step = b - a;
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol_act = 2.0 * f64::EPSILON * b.abs() + tol / 2.0;
        let mut new_step = (c - b) / 2.0;
        if new_step.abs() <= tol_act || fb == 0.0 {
            return b;
        }
        if prev_step.abs() >= tol_act && fa.abs() > fb.abs() {
            let cb = c - b;
            let (mut p, mut q);
            if a == c {
                let t1 = fb / fa;
                p = cb * t1;
                q = 1.0 - t1;
            } else {
                let qa = fa / fc;
                let t1 = fb / fc;
                let t2 = fb / fa;
                p = t2 * (cb * qa * (qa - t1) - (b - a) * (t1 - 1.0));
                q = (qa - 1.0) * (t1 - 1.0) * (t2 - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if p < (0.75 * cb * q - (tol_act * q).abs() / 2.0) && p < (prev_step * q / 2.0).abs() {
                new_step = p / q;
            }
        }
        if new_step.abs() < tol_act {
            new_step = if new_step > 0.0 { tol_act } else { -tol_act };
        }
        a = b;
        fa = fb;
        b += new_step;
        fb = f(b);
        if (fb > 0.0 && fc > 0.0) || (fb < 0.0 && fc < 0.0) {
            c = a;
            fc = fa;
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // R's example data, digit for digit (3.14 is a measurement, not pi).
    #[test]
    #[allow(clippy::approx_constant, clippy::excessive_precision)]
    fn r_help_example() {
        let x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
        let y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
        let t = rank_sum_test(&x, &y, 0.98).unwrap();
        assert_eq!(t.statistic, 58.0);
        assert!((t.p_value - 0.13291945818531886).abs() < 1e-15);
        assert!((t.estimate.unwrap() - 0.5600561608358734).abs() < 1e-12);
        let ci = t.interval.unwrap();
        assert!((ci.low - -0.55995169526318367).abs() < 1e-12);
        assert!((ci.high - 1.232960408303311).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert_eq!(
            rank_sum_test(&[], &[1.0], 0.98),
            Err(RankSumError::EmptySample { sample: "canary" })
        );
        assert_eq!(
            rank_sum_test(&[1.0], &[f64::NAN], 0.98),
            Err(RankSumError::EmptySample { sample: "baseline" })
        );
        assert_eq!(
            rank_sum_test(&[1.0, f64::INFINITY], &[2.0], 0.98),
            Err(RankSumError::InfiniteValue { sample: "canary" })
        );
        assert_eq!(
            rank_sum_test(&[2.0, 2.0], &[2.0], 0.98),
            Err(RankSumError::AllTied)
        );
        for level in [0.0, 1.0, -0.5, f64::NAN] {
            assert!(matches!(
                rank_sum_test(&[1.0], &[2.0], level),
                Err(RankSumError::InvalidConfidence { .. })
            ));
        }
    }

    #[test]
    fn one_value_each_has_a_p_value_but_no_interval() {
        let t = rank_sum_test(&[1.5], &[2.5], 0.98).unwrap();
        assert_eq!((t.statistic, t.p_value), (0.0, 1.0));
        assert_eq!((t.estimate, t.interval), (None, None));
    }

    #[test]
    fn large_samples_stay_linear_in_memory() {
        // 10,000 a side would be 10^8 pairwise differences; this must stay quick.
        let x: Vec<f64> = (0..10_000)
            .map(|i| f64::from(i % 997) * 0.5 + 1.0)
            .collect();
        let y: Vec<f64> = (0..10_000).map(|i| f64::from(i % 991) * 0.5).collect();
        let t = rank_sum_test(&x, &y, 0.98).unwrap();
        let ci = t.interval.unwrap();
        assert!(ci.low <= t.estimate.unwrap() && t.estimate.unwrap() <= ci.high);
    }

    fn sample() -> impl Strategy<Value = Vec<f64>> {
        prop::collection::vec(
            prop_oneof![(-1000i32..1000).prop_map(f64::from), -1e3f64..1e3],
            1..40,
        )
    }

    proptest! {
        #[test]
        fn p_value_is_a_probability(x in sample(), y in sample()) {
            if let Ok(t) = rank_sum_test(&x, &y, 0.98) {
                prop_assert!((0.0..=1.0).contains(&t.p_value));
                let (n, m) = (x.len() as f64, y.len() as f64);
                prop_assert!((0.0..=n * m).contains(&t.statistic));
            }
        }

        #[test]
        fn swapping_the_samples_mirrors_everything(x in sample(), y in sample()) {
            let (Ok(a), Ok(b)) = (rank_sum_test(&x, &y, 0.98), rank_sum_test(&y, &x, 0.98)) else {
                return Ok(());
            };
            let (n, m) = (x.len() as f64, y.len() as f64);
            prop_assert_eq!(a.statistic, n * m - b.statistic);
            prop_assert!((a.p_value - b.p_value).abs() < 1e-12);
            // The root finder walks the mirrored function from the other end, so the
            // roots agree to its tolerance rather than bit for bit.
            let range = x.iter().chain(&y).fold(0.0f64, |r, v| r.max(v.abs())) * 2.0;
            let tol = 4.0 * ROOT_TOLERANCE + range * 1e-12;
            if let (Some(ea), Some(eb)) = (a.estimate, b.estimate) {
                prop_assert!((ea + eb).abs() <= tol + step_gap(&x, &y, ea), "{} vs {}", ea, eb);
            }
            if let (Some(ia), Some(ib)) = (a.interval, b.interval) {
                prop_assert!((ia.low + ib.high).abs() <= tol + step_gap(&x, &y, ia.low));
                prop_assert!((ia.high + ib.low).abs() <= tol + step_gap(&x, &y, ia.high));
            }
        }

        #[test]
        fn shifting_the_canary_shifts_the_estimate(
            x in prop::collection::vec((-100i32..100).prop_map(f64::from), 2..30),
            y in prop::collection::vec((-100i32..100).prop_map(f64::from), 2..30),
            shift in (-50i32..50).prop_map(f64::from),
        ) {
            let moved: Vec<f64> = x.iter().map(|v| v + shift).collect();
            let (Ok(a), Ok(b)) = (rank_sum_test(&x, &y, 0.98), rank_sum_test(&moved, &y, 0.98)) else {
                return Ok(());
            };
            if let (Some(ea), Some(eb)) = (a.estimate, b.estimate) {
                prop_assert!((eb - ea - shift).abs() <= 4.0 * ROOT_TOLERANCE + step_gap(&x, &y, ea));
            }
            if let (Some(ia), Some(ib)) = (a.interval, b.interval) {
                prop_assert!((ib.low - ia.low - shift).abs() <= 4.0 * ROOT_TOLERANCE + step_gap(&x, &y, ia.low));
                prop_assert!((ib.high - ia.high - shift).abs() <= 4.0 * ROOT_TOLERANCE + step_gap(&x, &y, ia.high));
            }
        }
    }

    /// Where the statistic is flat around `d` (between two pairwise differences, where
    /// it is exactly on a quantile), any point of the flat stretch is a root; Brent may
    /// stop anywhere in it. The width of that stretch bounds how far two runs may differ.
    /// How far a root at `d` may sit from the mirrored one: the widest flat stretch of
    /// the step function next to `d` (between the pairwise differences on either side
    /// of it). Where two middle differences leave a flat stretch, any point of it is a
    /// root, and R's root finder (replayed here) lands at an end that depends on the
    /// direction it walks.
    fn step_gap(x: &[f64], y: &[f64], d: f64) -> f64 {
        let mut below = f64::NEG_INFINITY;
        let mut above = f64::INFINITY;
        for a in x {
            for b in y {
                let diff = a - b;
                if diff < d {
                    below = below.max(diff);
                }
                if diff > d {
                    above = above.min(diff);
                }
            }
        }
        let mut gap: f64 = 0.0;
        if below.is_finite() {
            gap = gap.max(d - below);
        }
        if above.is_finite() {
            gap = gap.max(above - d);
        }
        gap
    }
}
