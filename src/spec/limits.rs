//! [`CapacityLimits`]: a spec's capacity as numbers, and [`MAX_DESIRED`], the bound on
//! `desired` that every limit, spec and public arithmetic function keeps.

use crate::error::SpecError;
use crate::spec::Quantity;

/// The largest `desired` a [`RolloutSpec`](crate::RolloutSpec) may ask for: 100,000
/// instances.
///
/// A rollout plans every missing instance at once, so an unbounded `desired` (a typo,
/// or `4294967295` from an overflowed count) would queue billions of actions in one call.
/// The surge is bounded with it: `desired + max_surge` may not exceed `2 * MAX_DESIRED`.
/// A larger fleet is run as several rollouts.
///
/// The public arithmetic keeps the same bound: every function that takes a `desired`
/// (costs, instance counts, [`Quantity::resolve`], [`CapacityLimits`]) refuses a larger
/// one with [`SpecError::DesiredTooLarge`], and every function that takes limits is
/// bounded by them (a rolling preview has at most `2 * desired + 4` steps).
pub const MAX_DESIRED: u32 = 100_000;

/// Refuses a `desired` above [`MAX_DESIRED`]: the bound every public arithmetic
/// function that takes a `desired` applies, as a spec does.
pub(crate) fn check_desired(desired: u32) -> Result<u32, SpecError> {
    if desired > MAX_DESIRED {
        return Err(SpecError::DesiredTooLarge {
            desired,
            max: MAX_DESIRED,
        });
    }
    Ok(desired)
}

/// A spec's capacity limits as numbers, after Kubernetes' rounding: the most instances
/// a rollout may run at once (`desired + max_surge`) and the fewest available ones it
/// may leave (`desired - max_unavailable`).
///
/// Built only valid, by [`CapacityLimits::new`] or [`CapacityLimits::resolve`] (and
/// [`RolloutSpec::validate`](crate::RolloutSpec::validate)), and checked the same way when deserialized: `desired`
/// at most [`MAX_DESIRED`], `max_unavailable` at most `desired`, `desired + max_surge`
/// at most `2 * MAX_DESIRED`, and some room to make progress. So every method is exact,
/// and every function that takes limits is bounded by them.
///
/// # Examples
///
/// ```
/// use cutover::SpecError;
/// use cutover::spec::CapacityLimits;
/// let limits = CapacityLimits::new(10, 3, 2).unwrap();
/// assert_eq!((limits.max_total(), limits.min_available()), (13, 8));
/// assert!(matches!(
///     CapacityLimits::new(1, 0, 2),
///     Err(SpecError::UnavailableAboveDesired { max_unavailable: 2, desired: 1 })
/// ));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "CapacityLimitsFields"))]
pub struct CapacityLimits {
    desired: u32,
    max_surge: u32,
    max_unavailable: u32,
}

/// [`CapacityLimits`] as written in a document, before it is checked.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CapacityLimitsFields {
    desired: u32,
    max_surge: u32,
    max_unavailable: u32,
}

#[cfg(feature = "serde")]
impl TryFrom<CapacityLimitsFields> for CapacityLimits {
    type Error = SpecError;
    fn try_from(fields: CapacityLimitsFields) -> Result<Self, Self::Error> {
        CapacityLimits::new(fields.desired, fields.max_surge, fields.max_unavailable)
    }
}

impl CapacityLimits {
    /// Limits of `desired` instances, `max_surge` allowed above it and
    /// `max_unavailable` of it allowed to be unavailable, as numbers (no rounding, no
    /// defaults: [`CapacityLimits::resolve`] applies Kubernetes' rules to quantities).
    ///
    /// # Errors
    ///
    /// * [`SpecError::DesiredTooLarge`]: `desired` is above [`MAX_DESIRED`];
    /// * [`SpecError::SurgeTooLarge`]: `desired + max_surge` is above
    ///   `2 * MAX_DESIRED`;
    /// * [`SpecError::UnavailableAboveDesired`]: `max_unavailable` is above `desired`;
    /// * [`SpecError::NoProgressPossible`]: `max_surge` and `max_unavailable` are both 0
    ///   while `desired` is not, so no instance could ever be replaced.
    pub fn new(
        desired: u32,
        max_surge: u32,
        max_unavailable: u32,
    ) -> Result<CapacityLimits, SpecError> {
        check_desired(desired)?;
        // desired <= MAX_DESIRED, so this neither underflows nor leaves u32.
        let most_surge = 2 * MAX_DESIRED - desired;
        if max_surge > most_surge {
            return Err(SpecError::SurgeTooLarge {
                max_surge: Quantity::Count(max_surge),
                desired,
                max: most_surge,
            });
        }
        if max_unavailable > desired {
            return Err(SpecError::UnavailableAboveDesired {
                max_unavailable,
                desired,
            });
        }
        if desired > 0 && max_surge == 0 && max_unavailable == 0 {
            return Err(SpecError::NoProgressPossible);
        }
        Ok(CapacityLimits {
            desired,
            max_surge,
            max_unavailable,
        })
    }

    /// Kubernetes' `ResolveFenceposts`: surge rounds up, unavailability rounds down, both
    /// zero makes unavailability 1, and unavailability is capped at `desired`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cutover::spec::{CapacityLimits, Quantity};
    /// let limits = CapacityLimits::resolve(10, Quantity::Percent(25), Quantity::Percent(25)).unwrap();
    /// assert_eq!((limits.max_surge(), limits.max_unavailable()), (3, 2));
    /// ```
    ///
    /// # Errors
    ///
    /// [`SpecError::DesiredTooLarge`] for a `desired` above [`MAX_DESIRED`], and
    /// [`SpecError::SurgeTooLarge`] (naming `max_surge` as given) when `desired` plus
    /// the resolved surge is above `2 * MAX_DESIRED`.
    pub fn resolve(
        desired: u32,
        max_surge: Quantity,
        max_unavailable: Quantity,
    ) -> Result<CapacityLimits, SpecError> {
        let desired = check_desired(desired)?;
        let surge = max_surge.of(desired, true);
        let mut unavailable = max_unavailable.of(desired, false);
        if surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        CapacityLimits::new(desired, surge, unavailable.min(desired)).map_err(|error| match error {
            SpecError::SurgeTooLarge { desired, max, .. } => SpecError::SurgeTooLarge {
                max_surge,
                desired,
                max,
            },
            error => error,
        })
    }

    /// Instances wanted.
    #[must_use]
    pub fn desired(&self) -> u32 {
        self.desired
    }

    /// Instances allowed above `desired`.
    #[must_use]
    pub fn max_surge(&self) -> u32 {
        self.max_surge
    }

    /// Instances of `desired` allowed to be unavailable.
    #[must_use]
    pub fn max_unavailable(&self) -> u32 {
        self.max_unavailable
    }

    /// The most instances that may exist at once: `desired + max_surge`.
    #[must_use]
    pub fn max_total(&self) -> u32 {
        self.desired + self.max_surge
    }

    /// The fewest available instances the rollout may leave: `desired -
    /// max_unavailable`.
    #[must_use]
    pub fn min_available(&self) -> u32 {
        self.desired - self.max_unavailable
    }
}
