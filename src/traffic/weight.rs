//! Integer weights: revision shares in basis points, and relative instance weights.

use std::fmt;
use std::str::FromStr;

use crate::error::{TrafficError, WeightError, excerpt};
use crate::model::InstanceId;

/// The basis points that a traffic table's revision weights add up to (100%).
pub const TOTAL_BASIS_POINTS: u16 = 10_000;

/// A share of traffic in basis points: `0..=10_000`, where 10,000 is 100%.
///
/// Integer so that weights add up exactly, and a table can be checked for
/// "exactly 100%" without rounding.
///
/// Written in documents with a unit, as a [`Duration`](crate::Duration) is: a
/// percentage with at most two decimals (`"10%"`, `"2.5%"`, `"0.25%"`), or basis points
/// (`"250bp"`, 2.5%). A bare number (`10` or `"10"`) is refused with
/// [`WeightError::MissingUnit`]: Argo Rollouts' `setWeight: 10` is 10%, while basis
/// points would read it as 0.1%. Only zero (`0`, `"0"`) needs no unit. Serialized, a
/// weight is written as a percentage (its [`Display`](fmt::Display) form), which reads
/// back as the same weight.
///
/// Traffic tables ([`TrafficTable`](crate::TrafficTable)) and their diffs are the
/// exception: they are machine documents for load balancers, and write their weights
/// as plain integers in basis points (`"weight": 2500`).
///
/// # Examples
///
/// ```
/// use cutover::Weight;
/// use cutover::error::WeightError;
/// assert_eq!(Weight::from_percent(25).unwrap().basis_points(), 2_500);
/// assert!(Weight::from_basis_points(10_001).is_err());
/// assert_eq!("2.5%".parse::<Weight>().unwrap().basis_points(), 250);
/// assert_eq!("250bp".parse::<Weight>().unwrap().to_string(), "2.5%");
/// assert!(matches!("10".parse::<Weight>(), Err(WeightError::MissingUnit { .. })));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

impl FromStr for Weight {
    type Err = WeightError;

    /// Reads `"10%"`, `"2.5%"`, `"0.25%"` (at most two decimals) or `"250bp"`; `"0"`
    /// is zero. Surrounding spaces are ignored.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let invalid = || WeightError::Invalid {
            text: excerpt(text),
        };
        let out_of_range = || WeightError::OutOfRange {
            text: excerpt(trimmed),
        };
        if let Some(number) = trimmed.strip_suffix("bp") {
            if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            // Only digits, so a failure is an overflow: far above 100%.
            let basis_points = number.parse().map_err(|_| out_of_range())?;
            return Weight::from_basis_points(basis_points).map_err(|_| out_of_range());
        }
        let (number, percent) = match trimmed.strip_suffix('%') {
            Some(number) => (number, true),
            None => (trimmed, false),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (number.contains('.') && !digits(fraction)) {
            return Err(invalid());
        }
        if !percent {
            return match number.bytes().all(|b| b == b'0' || b == b'.') {
                true => Ok(Weight::ZERO),
                false => Err(WeightError::MissingUnit {
                    amount: excerpt(number),
                }),
            };
        }
        if fraction.len() > 2 {
            return Err(WeightError::TooPrecise {
                text: excerpt(trimmed),
            });
        }
        let whole: u64 = whole.parse().map_err(|_| out_of_range())?;
        // One or two decimals are hundredths either way: "2.5" is 2.50.
        let hundredths: u64 = format!("{fraction:0<2}").parse().unwrap_or(0);
        let basis_points = whole
            .checked_mul(100)
            .and_then(|bp| bp.checked_add(hundredths))
            .ok_or_else(out_of_range)?;
        Weight::from_basis_points(basis_points).map_err(|_| out_of_range())
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
    /// A percentage with at most two decimals and no trailing zero: `25%`, `2.5%`,
    /// `0.05%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, hundredths) = (self.0 / 100, self.0 % 100);
        match hundredths {
            0 => write!(f, "{whole}%"),
            h if h % 10 == 0 => write!(f, "{whole}.{}%", h / 10),
            h => write!(f, "{whole}.{h:02}%"),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Weight {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
std::thread_local! {
    /// Set while a rollout document of format 3 or earlier is read: those were written
    /// before weights carried a unit, as bare basis points.
    static BARE_BASIS_POINTS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// While alive, weights written as bare numbers read as basis points, as documents of
/// format 3 and earlier wrote them (and only for them: a person's spec needs a unit).
/// Scoped to the thread and to the reading of one old document body.
#[cfg(feature = "serde")]
pub(crate) struct BareBasisPoints {
    before: bool,
}

#[cfg(feature = "serde")]
impl BareBasisPoints {
    /// Reads bare numbers as basis points until dropped.
    pub(crate) fn accept() -> BareBasisPoints {
        let before = BARE_BASIS_POINTS.with(|flag| flag.replace(true));
        BareBasisPoints { before }
    }
}

#[cfg(feature = "serde")]
impl Drop for BareBasisPoints {
    fn drop(&mut self) {
        BARE_BASIS_POINTS.with(|flag| flag.set(self.before));
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Weight {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Weight;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a weight with a unit, such as \"10%\", \"2.5%\" or \"250bp\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Weight, E> {
                if BARE_BASIS_POINTS.with(std::cell::Cell::get) {
                    return Weight::from_basis_points(v).map_err(E::custom);
                }
                match v {
                    0 => Ok(Weight::ZERO),
                    amount => Err(E::custom(WeightError::MissingUnit {
                        amount: amount.to_string(),
                    })),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Weight, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(WeightError::Invalid {
                        text: v.to_string(),
                    })),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Weight, E> {
                match v {
                    0.0 => Ok(Weight::ZERO),
                    v if v > 0.0 => Err(E::custom(WeightError::MissingUnit {
                        amount: v.to_string(),
                    })),
                    v => Err(E::custom(WeightError::Invalid {
                        text: v.to_string(),
                    })),
                }
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Weight, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// What a document may write for a [`Weight`] (the schema's pattern; zero may also be
/// the number 0): a percentage up to 100 with at most two decimals, or basis points up
/// to 10000. Stricter than the parser only in refusing surrounding spaces and leading
/// zeros.
#[cfg(feature = "schema")]
const WEIGHT_PATTERN: &str =
    "^(0|(100(\\.0{1,2})?|[0-9]{1,2}(\\.[0-9]{1,2})?)%|(10000|[0-9]{1,4})bp)$";

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Weight {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Weight".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A share of traffic with a unit: a percentage with at most two decimals (\"10%\", \"2.5%\", \"0.25%\") or basis points (\"250bp\"). Only zero needs no unit.",
            "anyOf": [
                { "type": "string", "pattern": WEIGHT_PATTERN },
                { "const": 0 }
            ]
        })
    }
}

/// A [`Weight`] as traffic tables and their diffs write it: an integer in basis points
/// (`2500`), for load balancers rather than people (`#[serde(with = ...)]`).
#[cfg(feature = "serde")]
pub(crate) mod basis_points {
    use super::Weight;

    pub(crate) fn serialize<S: serde::Serializer>(
        weight: &Weight,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(weight.basis_points())
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Weight, D::Error> {
        let basis_points = <u64 as serde::Deserialize>::deserialize(deserializer)?;
        Weight::from_basis_points(basis_points).map_err(serde::de::Error::custom)
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
        assert_eq!(Weight::from_basis_points(250).unwrap().to_string(), "2.5%");
        assert_eq!(Weight::from_basis_points(205).unwrap().to_string(), "2.05%");
        assert_eq!(Weight::ZERO.to_string(), "0%");
        assert_eq!(Weight::FULL.to_string(), "100%");
    }

    #[test]
    fn weights_parse_with_a_unit() {
        for (text, basis_points) in [
            ("10%", 1_000),
            ("2.5%", 250),
            ("0.25%", 25),
            ("0.05%", 5),
            ("100%", 10_000),
            ("100.00%", 10_000),
            ("0%", 0),
            (" 7% ", 700),
            ("250bp", 250),
            ("0bp", 0),
            ("10000bp", 10_000),
            ("0", 0),
            ("0.0", 0),
        ] {
            assert_eq!(
                text.parse::<Weight>().map(Weight::basis_points),
                Ok(basis_points),
                "{text:?}"
            );
        }
    }

    #[test]
    fn weights_without_a_unit_or_finer_than_a_basis_point_are_refused() {
        for (text, amount) in [("10", "10"), (" 150 ", "150"), ("2.5", "2.5")] {
            let error = text.parse::<Weight>().unwrap_err();
            assert_eq!(
                error,
                WeightError::MissingUnit {
                    amount: amount.into()
                }
            );
            assert!(
                error
                    .to_string()
                    .contains(&format!("write \"{amount}%\" for {amount} percent")),
                "{error}"
            );
        }
        assert!(matches!(
            "0.125%".parse::<Weight>(),
            Err(WeightError::TooPrecise { .. })
        ));
        for text in ["100.01%", "101%", "10001bp", "99999999999999999999999%"] {
            assert!(
                matches!(text.parse::<Weight>(), Err(WeightError::OutOfRange { .. })),
                "{text}"
            );
        }
        for text in [
            "", "%", "-5%", "+5%", ".5%", "5.%", "ten%", "2.5bp", "5 bp", "1e3%",
        ] {
            let error = text.parse::<Weight>().unwrap_err();
            assert!(
                matches!(error, WeightError::Invalid { .. }),
                "{text:?}: {error:?}"
            );
            assert!(error.to_string().contains(&format!("{text:?}")), "{error}");
        }
        let huge = format!("{}%", "1".repeat(10 << 20));
        assert!(huge.parse::<Weight>().unwrap_err().to_string().len() < 300);
    }

    proptest::proptest! {
        #[test]
        fn every_weight_reads_back_from_its_display(basis_points in 0u64..=10_000) {
            let weight = Weight::from_basis_points(basis_points).unwrap();
            proptest::prop_assert_eq!(weight.to_string().parse::<Weight>(), Ok(weight));
            proptest::prop_assert_eq!(format!("{basis_points}bp").parse::<Weight>(), Ok(weight));
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn documents_write_weights_with_a_unit_and_refuse_bare_numbers() {
        let weight: Weight = serde_json::from_str("\"12.5%\"").unwrap();
        assert_eq!(weight.basis_points(), 1_250);
        assert_eq!(serde_json::to_string(&weight).unwrap(), "\"12.5%\"");
        assert_eq!(serde_json::from_str::<Weight>("0").unwrap(), Weight::ZERO);
        for bare in ["10", "2.5", "\"10\""] {
            let error = serde_json::from_str::<Weight>(bare).unwrap_err();
            assert!(error.to_string().contains("has no unit: write"), "{error}");
        }
        assert!(serde_json::from_str::<Weight>("-5").is_err());
        assert!(serde_json::from_str::<Weight>("-0.5").is_err());
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
