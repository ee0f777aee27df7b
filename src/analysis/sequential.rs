//! Sequential error control: a rank-sum test that may be looked at after every
//! measurement and still fails a good canary with probability at most `alpha` over the
//! whole run.
//!
//! Kayenta judges every interval on its own and Argo counts failed measurements, so
//! with ten looks at 5% each the chance of failing a canary that is as good as its
//! baseline is far above 5% (the simulation in this module's tests measures about 20%
//! for naive repeated testing). [`SequentialRankSum`] instead accumulates the samples of
//! every look and tests them with a **mixture sequential probability ratio test**
//! (Robbins 1970; Johari, Pekelis and Walsh, "Always valid inference", 2017):
//!
//! * At each look the canary and baseline samples so far give the standardized
//!   Wilcoxon statistic `Z` (tie-corrected, without continuity correction) and the
//!   information `V = n m / (n + m)`. Under the null hypothesis (the canary's values
//!   come from the baseline's distribution) `S = Z √V` behaves, for large samples, as a
//!   Brownian motion observed at times `V` (the rank-sum statistic has the canonical
//!   joint distribution of group-sequential theory, Jennison and Turnbull 2000, ch. 3).
//! * The likelihood ratio of a drift `θ` against none, mixed over `θ ~ N(0, τ²)`, is
//!   `Λ = (1 + τ²V)^(-1/2) · exp(τ² V Z² / (2 (1 + τ² V)))`, a non-negative martingale
//!   with mean 1 under the null. By Ville's inequality `P(Λ ever reaches 1/α) ≤ α`, for
//!   any number of looks taken at any times, even looks chosen after seeing the data.
//! * The canary fails at the first look where `Λ ≥ 1/α` and the shift points the way
//!   the metric's [`Direction`] counts against it.
//!
//! Assumptions: observations are independent within and between looks; under the null,
//! canary and baseline values share one continuous distribution (ties are handled by the
//! tie correction, heavy ties make the normal approximation coarser); the bound is
//! asymptotic in the sample sizes (the simulation checks it at 30 values per side per
//! look). `τ²` sets which effects are found fastest: the default 0.25 suits a canary
//! whose values exceed the baseline's about 64% of the time; the bound holds for any
//! `τ²`.

use super::error::{AnalysisSpecError, check_number};
use super::judge::Direction;
use super::rank_sum::Samples;

/// How a sequential metric is tested.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
#[allow(clippy::exhaustive_structs)] // Built by callers with a struct literal: a new field is a deliberate, breaking change.
pub struct SequentialSpec {
    /// The bound on the false-failure rate over all looks of the run (default 0.05).
    pub alpha: f64,
    /// The mixing variance `τ²` of the drift (default 0.25).
    pub mixing_variance: f64,
    /// Which shift fails the canary.
    pub direction: Direction,
    /// The most values kept per side over the whole run (default 1,000,000): a look
    /// that would exceed it is an error instead of unbounded memory.
    pub max_samples: usize,
}

impl Default for SequentialSpec {
    fn default() -> Self {
        SequentialSpec {
            alpha: 0.05,
            mixing_variance: 0.25,
            direction: Direction::Either,
            max_samples: 1_000_000,
        }
    }
}

impl SequentialSpec {
    /// Checks `alpha` and `mixing_variance`.
    ///
    /// # Errors
    ///
    /// [`AnalysisSpecError::InvalidAlpha`] or [`AnalysisSpecError::InvalidNumber`].
    pub fn validate(&self) -> Result<(), AnalysisSpecError> {
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(AnalysisSpecError::InvalidAlpha { value: self.alpha });
        }
        check_number(
            || "mixing_variance".to_owned(),
            self.mixing_variance,
            0.0,
            true,
            "use a finite variance above 0, such as 0.25",
        )
    }
}

/// What one look of a [`SequentialRankSum`] found.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct SequentialLook {
    /// The standardized rank-sum statistic of all samples so far (positive: canary
    /// higher); 0 when every value so far is tied.
    pub z: f64,
    /// `n m / (n + m)` for the samples so far.
    pub information: f64,
    /// The mixture likelihood ratio `Λ`.
    pub likelihood_ratio: f64,
    /// The always-valid p-value: `min(1, 1 / max Λ)` over the looks so far.
    pub p_value: f64,
    /// Whether the canary fails: `Λ ≥ 1/α` with the shift in a failing direction.
    pub failed: bool,
}

/// A look could not be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SequentialError {
    /// Keeping this look's values would exceed `max_samples` on one side.
    #[error("the run would keep more than {max} values per side: raise max_samples or lower count")]
    TooManySamples {
        /// The limit.
        max: usize,
    },
}

/// The running state of a sequential rank-sum test: every sample so far, and the
/// largest likelihood ratio seen. Serializable, so it persists with the run.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SequentialRankSum {
    spec: SequentialSpec,
    canary: Vec<f64>,
    baseline: Vec<f64>,
    max_ratio: f64,
}

impl SequentialRankSum {
    /// A test with no looks yet.
    ///
    /// # Errors
    ///
    /// [`AnalysisSpecError`] when the spec is invalid.
    pub fn new(spec: SequentialSpec) -> Result<Self, AnalysisSpecError> {
        spec.validate()?;
        Ok(SequentialRankSum {
            spec,
            canary: Vec::new(),
            baseline: Vec::new(),
            max_ratio: 1.0,
        })
    }

    /// The spec.
    #[must_use]
    pub fn spec(&self) -> &SequentialSpec {
        &self.spec
    }

    /// Adds one look's samples (NaNs dropped) and tests everything seen so far.
    ///
    /// # Errors
    ///
    /// [`SequentialError::TooManySamples`] (nothing is added then).
    ///
    /// # Examples
    ///
    /// ```
    /// use cutover::analysis::{SequentialRankSum, SequentialSpec};
    /// let mut test = SequentialRankSum::new(SequentialSpec::default())?;
    /// let baseline: Vec<f64> = (0..40).map(|i| f64::from(i)).collect();
    /// let canary: Vec<f64> = baseline.iter().map(|v| v + 30.0).collect();
    /// let look = test.look(&canary, &baseline)?;
    /// assert!(look.failed && look.z > 0.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn look(
        &mut self,
        canary: &[f64],
        baseline: &[f64],
    ) -> Result<SequentialLook, SequentialError> {
        let fresh = |values: &[f64]| values.iter().filter(|v| v.is_finite()).count();
        let max = self.spec.max_samples;
        if self.canary.len().saturating_add(fresh(canary)) > max
            || self.baseline.len().saturating_add(fresh(baseline)) > max
        {
            return Err(SequentialError::TooManySamples { max });
        }
        self.canary
            .extend(canary.iter().copied().filter(|v| v.is_finite()));
        self.baseline
            .extend(baseline.iter().copied().filter(|v| v.is_finite()));
        let (z, information) = Samples::new(&self.canary, &self.baseline)
            .ok()
            .and_then(|s| s.z_and_information())
            .unwrap_or((0.0, 0.0));
        let likelihood_ratio = mixture_ratio(z, information, self.spec.mixing_variance);
        let points_badly = match self.spec.direction {
            Direction::Increase => z > 0.0,
            Direction::Decrease => z < 0.0,
            Direction::Either => z != 0.0,
        };
        if points_badly {
            self.max_ratio = self.max_ratio.max(likelihood_ratio);
        }
        Ok(SequentialLook {
            z,
            information,
            likelihood_ratio,
            p_value: (1.0 / self.max_ratio).min(1.0),
            failed: points_badly && likelihood_ratio >= 1.0 / self.spec.alpha,
        })
    }
}

/// `Λ = (1 + τ²V)^(-1/2) exp(τ² V Z² / (2 (1 + τ² V)))`, saturating at `f64::MAX`.
fn mixture_ratio(z: f64, information: f64, mixing_variance: f64) -> f64 {
    let spread = 1.0 + mixing_variance * information;
    let log = -0.5 * spread.ln() + mixing_variance * information * z * z / (2.0 * spread);
    let ratio = log.exp();
    if ratio.is_finite() { ratio } else { f64::MAX }
}

#[cfg(test)]
mod tests;
