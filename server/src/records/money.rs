//! Money as the API and the database hold it: a JSON number in the
//! currency's major unit with at most two decimals, stored as a whole number
//! of minor units (cents) so that sums are exact; and ISO 4217 codes.

use crate::error::{ApiError, ApiResult};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The currency a money field takes when none is named.
pub const DEFAULT_CURRENCY: &str = "CNY";

/// The largest amount taken, in minor units: below one trillion major
/// units, every amount has at most 14 significant digits and so survives
/// the trip through a JSON (IEEE double) number exactly.
pub const MAX_MINOR: i64 = 99_999_999_999_999;

/// A non-negative amount of money, in minor units (cents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Money(i64);

impl Money {
    /// An amount of `minor` units; `None` when negative or too large.
    pub fn from_minor(minor: i64) -> Option<Self> {
        (0..=MAX_MINOR).contains(&minor).then_some(Self(minor))
    }

    /// The amount in minor units.
    pub fn minor(self) -> i64 {
        self.0
    }

    /// Parses a JSON number in major units with at most two decimals.
    ///
    /// The number's decimal text is read, not its binary value, so that
    /// `0.1` is 10 cents and `0.001` is refused rather than rounded.
    pub fn parse(number: &serde_json::Number) -> Result<Self, &'static str> {
        const RULE: &str = "a non-negative amount below 1,000,000,000,000 with at most 2 decimals";
        let text = number.to_string();
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) || whole.len() > 12 {
            return Err(RULE);
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > 2 {
            return Err(RULE);
        }
        let whole: i64 = whole.parse().map_err(|_| RULE)?;
        let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| RULE)?;
        whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(cents))
            .and_then(Self::from_minor)
            .ok_or(RULE)
    }

    /// The amount in major units, as a JSON number.
    pub fn to_json(self) -> serde_json::Value {
        major(self.0)
    }
}

/// `minor` units as a JSON number in major units (sums may exceed [`MAX_MINOR`]).
pub fn major(minor: i64) -> serde_json::Value {
    let value = minor as f64 / 100.0;
    serde_json::Number::from_f64(value).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        Self::parse(&number).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Number)
            .minimum(Some(0.0))
            .maximum(Some(999_999_999_999.99))
            .description(Some(
                "An amount in the currency's major unit (yuan, not fen), at most 2 decimals",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Money {}

/// Checks an ISO 4217 code's shape (three capital letters).
pub fn check_currency(field: &str, code: &str) -> ApiResult<()> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            field,
            "invalid_currency",
            "an ISO 4217 code: three capital letters such as CNY",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<i64> {
        let number: serde_json::Number = serde_json::from_str(text).ok()?;
        Money::parse(&number).ok().map(Money::minor)
    }

    #[test]
    fn amounts_in_major_units_become_exact_cents() {
        assert_eq!(parse("0"), Some(0));
        assert_eq!(parse("0.1"), Some(10));
        assert_eq!(parse("1234.56"), Some(123_456));
        assert_eq!(parse("1500.0"), Some(150_000));
        assert_eq!(parse("999999999999.99"), Some(MAX_MINOR));
    }

    #[test]
    fn negative_oversized_and_over_precise_amounts_are_refused() {
        for text in ["-1", "0.001", "12.345", "1e20", "1000000000000", "1e-5"] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn an_amount_round_trips_through_json() {
        for minor in [0, 1, 10, 99, 123_456, MAX_MINOR] {
            let money = Money::from_minor(minor).unwrap_or_default();
            let json = serde_json::to_string(&money).unwrap_or_default();
            let back: Option<Money> = serde_json::from_str(&json).ok();
            assert_eq!(back, Some(money), "{json}");
        }
    }

    #[test]
    fn currency_codes_are_three_capital_letters() {
        assert!(check_currency("currency", "CNY").is_ok());
        for bad in ["cny", "CN", "CNYY", "C1Y", ""] {
            assert!(check_currency("currency", bad).is_err(), "{bad}");
        }
    }
}
