//! [`Quantity`]: a number of instances as a count or a percentage of `desired`, read
//! from documents with the field it belongs to named in errors.

use std::fmt;
use std::str::FromStr;

use crate::error::{SpecError, excerpt};
use crate::spec::check_desired;

/// A number of instances, given as a count or as a percentage of `desired`
/// (Kubernetes' `IntOrString`).
///
/// Written in documents as a number (`2`, a count) or as a string ending in `%`
/// (`"25%"`, a percentage). A string is always a percentage: `"90"` is refused with
/// [`SpecError::CountAsString`], since Kubernetes refuses it and Argo Rollouts reads it
/// as 90%. [`FromStr`] reads that string form, so it gives only percentages.
///
/// # Examples
///
/// ```
/// use cutover::SpecError;
/// use cutover::spec::Quantity;
/// assert_eq!("25%".parse::<Quantity>().unwrap(), Quantity::Percent(25));
/// assert_eq!("150%".parse::<Quantity>().unwrap(), Quantity::Percent(150));
/// assert!(matches!("3".parse::<Quantity>(), Err(SpecError::CountAsString { count: 3, .. })));
/// assert!("-5%".parse::<Quantity>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Quantity {
    /// An absolute number of instances.
    Count(u32),
    /// A percentage of `desired`: above 100 is allowed for `max_surge` (as in
    /// Kubernetes), not for `max_unavailable`.
    Percent(u32),
}

impl Quantity {
    /// Resolves against `desired`, rounding a percentage up (`round_up`, as Kubernetes
    /// does for surge) or down (for unavailability). A count is taken as given; a
    /// percentage far above 100% saturates at `u32::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use cutover::SpecError;
    /// use cutover::spec::{MAX_DESIRED, Quantity};
    /// assert_eq!(Quantity::Percent(25).resolve(10, true), Ok(3));
    /// assert_eq!(Quantity::Percent(25).resolve(10, false), Ok(2));
    /// assert!(matches!(
    ///     Quantity::Percent(25).resolve(MAX_DESIRED + 1, true),
    ///     Err(SpecError::DesiredTooLarge { .. })
    /// ));
    /// ```
    ///
    /// # Errors
    ///
    /// [`SpecError::DesiredTooLarge`] for a `desired` above [`MAX_DESIRED`](crate::spec::MAX_DESIRED).
    pub fn resolve(self, desired: u32, round_up: bool) -> Result<u32, SpecError> {
        Ok(self.of(check_desired(desired)?, round_up))
    }

    /// [`Quantity::resolve`] for a `desired` already checked against [`MAX_DESIRED`].
    pub(crate) fn of(self, desired: u32, round_up: bool) -> u32 {
        match self {
            Quantity::Count(n) => n,
            Quantity::Percent(p) => {
                // Both factors fit in 32 bits, so the product fits in 64.
                let scaled = u64::from(p) * u64::from(desired);
                let value = if round_up {
                    scaled.div_ceil(100)
                } else {
                    scaled / 100
                };
                u32::try_from(value).unwrap_or(u32::MAX)
            }
        }
    }

    /// Whether this is literally zero (`0` or `0%`).
    #[must_use]
    pub fn is_zero(self) -> bool {
        matches!(self, Quantity::Count(0) | Quantity::Percent(0))
    }

    /// Refuses a percentage above 100%, for a field that is a share of `desired`
    /// (`max_unavailable`).
    pub(crate) fn check_at_most_100(self, field: &'static str) -> Result<Quantity, SpecError> {
        match self {
            Quantity::Percent(percent) if percent > 100 => {
                Err(SpecError::PercentOutOfRange { field, percent })
            }
            _ => Ok(self),
        }
    }

    /// Reads the string form, which is always a percentage, naming `field` in errors.
    fn parse_field(text: &str, field: &'static str) -> Result<Quantity, SpecError> {
        let invalid = || SpecError::InvalidQuantity {
            field,
            text: excerpt(text),
        };
        let trimmed = text.trim();
        if trimmed.starts_with('+') {
            return Err(invalid());
        }
        match trimmed.strip_suffix('%') {
            Some(number) => number
                .trim()
                .parse()
                .map(Quantity::Percent)
                .map_err(|_| invalid()),
            None => match trimmed.parse() {
                Ok(count) => Err(SpecError::CountAsString { field, count }),
                Err(_) => Err(invalid()),
            },
        }
    }
}

impl FromStr for Quantity {
    type Err = SpecError;
    /// Reads a percentage, `"25%"` (any size: the range depends on the field). A count
    /// has no string form: it is a number in documents.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Quantity::parse_field(text, "quantity")
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quantity::Count(n) => write!(f, "{n}"),
            Quantity::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Quantity::Count(n) => serializer.serialize_u32(*n),
            Quantity::Percent(_) => serializer.collect_str(self),
        }
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Quantity {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Quantity".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A number of instances (2, a number) or a percentage of desired (\"25%\", a string).",
            "anyOf": [
                { "type": "integer", "minimum": 0, "maximum": u32::MAX },
                { "type": "string", "pattern": "^[0-9]+%$" }
            ]
        })
    }
}

/// Reads a [`Quantity`], naming `field` in errors.
#[cfg(feature = "serde")]
struct QuantityVisitor {
    field: &'static str,
    /// Whether a percentage above 100% is refused at once (`max_unavailable`).
    at_most_100: bool,
}

#[cfg(feature = "serde")]
impl serde::de::Visitor<'_> for QuantityVisitor {
    type Value = Quantity;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: a number of instances (2) or a percentage string (\"25%\")",
            self.field
        )
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quantity, E> {
        let count = u32::try_from(v).map_err(|_| {
            E::custom(SpecError::InvalidQuantity {
                field: self.field,
                text: v.to_string(),
            })
        })?;
        Ok(Quantity::Count(count))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(SpecError::InvalidQuantity {
                field: self.field,
                text: v.to_string(),
            })),
        }
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
        let quantity = Quantity::parse_field(v, self.field).map_err(E::custom)?;
        if self.at_most_100 {
            quantity.check_at_most_100(self.field).map_err(E::custom)
        } else {
            Ok(quantity)
        }
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(QuantityVisitor {
            field: "quantity",
            at_most_100: false,
        })
    }
}

#[cfg(feature = "serde")]
pub(crate) fn max_surge<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Quantity, D::Error> {
    deserializer.deserialize_any(QuantityVisitor {
        field: "max_surge",
        at_most_100: false,
    })
}

#[cfg(feature = "serde")]
pub(crate) fn max_unavailable<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Quantity, D::Error> {
    deserializer.deserialize_any(QuantityVisitor {
        field: "max_unavailable",
        at_most_100: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_and_refuse_with_the_field_named() {
        assert_eq!(
            Quantity::parse_field("0%", "max_surge"),
            Ok(Quantity::Percent(0))
        );
        assert_eq!(
            Quantity::parse_field(" 7 %", "max_surge"),
            Ok(Quantity::Percent(7))
        );
        for bad in ["-1", "-5%", "abc", "5.5%", "", "%", "+3", "+3%", "7", " 7 "] {
            let error = Quantity::parse_field(bad, "max_surge").unwrap_err();
            assert!(error.to_string().starts_with("max_surge is"), "{error}");
        }
        // The range depends on the field, so parsing alone does not cap it.
        assert_eq!(
            Quantity::parse_field("150%", "max_surge"),
            Ok(Quantity::Percent(150))
        );
        assert_eq!(
            Quantity::Percent(150).check_at_most_100("max_unavailable"),
            Err(SpecError::PercentOutOfRange {
                field: "max_unavailable",
                percent: 150
            })
        );
    }

    #[test]
    fn a_string_without_percent_is_refused_not_read_as_a_count() {
        let error = Quantity::parse_field(" 90 ", "max_surge").unwrap_err();
        assert_eq!(
            error,
            SpecError::CountAsString {
                field: "max_surge",
                count: 90
            }
        );
        assert_eq!(
            error.to_string(),
            "max_surge is \"90\", a string without %: write \"90%\" for a percentage of desired, or 90 (a number, without quotes) for 90 instances"
        );
        assert!("3".parse::<Quantity>().is_err());
    }

    #[test]
    fn quantity_errors_quote_at_most_64_characters() {
        let huge = format!("{}%", "7".repeat(10 << 20));
        let error = Quantity::parse_field(&huge, "max_surge").unwrap_err();
        let SpecError::InvalidQuantity { text, .. } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(*text, format!("{}… ({} bytes)", "7".repeat(64), huge.len()));
        assert!(error.to_string().len() < 300, "{error}");
    }
}
