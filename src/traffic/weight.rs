//! Integer weights: revision shares in basis points, and relative instance weights.

use std::fmt;

use crate::error::TrafficError;
use crate::model::InstanceId;

/// The basis points that a traffic table's revision weights add up to (100%).
pub const TOTAL_BASIS_POINTS: u16 = 10_000;

/// A share of traffic in basis points: `0..=10_000`, where 10,000 is 100%.
///
/// Integer so that weights add up exactly, and a table can be checked for
/// "exactly 100%" without rounding.
///
/// # Examples
///
/// ```
/// use cutover::Weight;
/// assert_eq!(Weight::from_percent(25).unwrap().basis_points(), 2_500);
/// assert!(Weight::from_basis_points(10_001).is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "u64", into = "u16"))]
pub struct Weight(u16);

impl Weight {
    /// No traffic.
    pub const ZERO: Weight = Weight(0);
    /// All traffic.
    pub const FULL: Weight = Weight(TOTAL_BASIS_POINTS);

    /// A weight of `basis_points` (1/100 of a percent).
    ///
    /// # Errors
    ///
    /// [`TrafficError::WeightOutOfRange`] above 10,000.
    pub fn from_basis_points(basis_points: u64) -> Result<Weight, TrafficError> {
        if basis_points > u64::from(TOTAL_BASIS_POINTS) {
            return Err(TrafficError::WeightOutOfRange { basis_points });
        }
        Ok(Weight(basis_points as u16))
    }

    /// A weight of `percent`%.
    ///
    /// # Errors
    ///
    /// [`TrafficError::WeightOutOfRange`] above 100.
    pub fn from_percent(percent: u64) -> Result<Weight, TrafficError> {
        Weight::from_basis_points(percent.saturating_mul(100))
    }

    /// The weight in basis points.
    #[must_use]
    pub const fn basis_points(self) -> u16 {
        self.0
    }

    /// Whether this weight sends no traffic.
    #[must_use]
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The rest of the traffic: `100% - self`.
    #[must_use]
    pub const fn complement(self) -> Weight {
        Weight(TOTAL_BASIS_POINTS - self.0)
    }
}

impl TryFrom<u64> for Weight {
    type Error = TrafficError;
    fn try_from(value: u64) -> Result<Self, Self::Error> {
        Weight::from_basis_points(value)
    }
}

impl From<Weight> for u16 {
    fn from(value: Weight) -> u16 {
        value.0
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, hundredths) = (self.0 / 100, self.0 % 100);
        if hundredths == 0 {
            write!(f, "{whole}%")
        } else {
            write!(f, "{whole}.{hundredths:02}%")
        }
    }
}

/// The relative weight of one instance within its revision: `1..=256`, default 1.
///
/// The same range as HAProxy's server weights, so an adapter can pass it through. An
/// instance that should get no traffic is taken out of rotation, not weighted 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct InstanceWeight(u16);

impl InstanceWeight {
    /// The largest instance weight.
    pub const MAX: u16 = 256;

    /// The default weight, 1.
    pub const ONE: InstanceWeight = InstanceWeight(1);

    /// A weight of `weight` for `instance` (the id only names the error).
    ///
    /// # Errors
    ///
    /// [`TrafficError::InstanceWeightOutOfRange`] outside `1..=256`.
    pub fn new(instance: &InstanceId, weight: u32) -> Result<InstanceWeight, TrafficError> {
        if weight == 0 || weight > u32::from(Self::MAX) {
            return Err(TrafficError::InstanceWeightOutOfRange {
                instance: instance.clone(),
                weight,
            });
        }
        Ok(InstanceWeight(weight as u16))
    }

    /// The weight as a number.
    #[must_use]
    pub const fn get(self) -> u16 {
        self.0
    }

    /// Re-checks a weight that came from outside (a document); `new` is the way in.
    pub(crate) fn validate(self, instance: &InstanceId) -> Result<InstanceWeight, TrafficError> {
        InstanceWeight::new(instance, u32::from(self.0))
    }
}

impl Default for InstanceWeight {
    fn default() -> Self {
        InstanceWeight::ONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_display_as_percentages() {
        assert_eq!(Weight::from_basis_points(2_500).unwrap().to_string(), "25%");
        assert_eq!(Weight::from_basis_points(5).unwrap().to_string(), "0.05%");
        assert_eq!(Weight::FULL.to_string(), "100%");
    }

    #[test]
    fn out_of_range_weights_are_refused() {
        assert_eq!(
            Weight::from_percent(101),
            Err(TrafficError::WeightOutOfRange {
                basis_points: 10_100
            })
        );
        let id = InstanceId::from("a");
        assert!(InstanceWeight::new(&id, 0).is_err());
        assert!(InstanceWeight::new(&id, 257).is_err());
        assert_eq!(InstanceWeight::new(&id, 256).unwrap().get(), 256);
    }
}
