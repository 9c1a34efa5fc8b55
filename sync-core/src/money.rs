//! Money: amounts as the API shows them (a JSON number in the currency's
//! major unit, at most two decimals) held as whole minor units (cents), so
//! sums are exact; and ISO 4217 currency codes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The largest amount accepted, in major units (a trillion): far above any
/// deal, and small enough that every cent is exact in a JSON number.
pub const MAX_MAJOR: i64 = 1_000_000_000_000;

/// An amount of money: on the wire a JSON number in the currency's major
/// unit (元 for CNY) with at most two decimals, up to a trillion; held in
/// minor units (`1234.5` is 123,450 分).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = f64))]
pub struct Money(i64);

impl Money {
    /// An amount of `minor` units (cents).
    pub fn from_minor(minor: i64) -> Self {
        Self(minor)
    }

    /// The amount in minor units (cents).
    pub fn minor(self) -> i64 {
        self.0
    }

    /// The share `percent` (0-100) of this amount, to the nearest cent
    /// (halves away from zero).
    pub fn percent(self, percent: i64) -> Self {
        let scaled = i128::from(self.0) * i128::from(percent);
        let rounded = (scaled + scaled.signum() * 50) / 100;
        Self(i64::try_from(rounded).unwrap_or(if scaled < 0 { i64::MIN } else { i64::MAX }))
    }

    /// Parses the decimal text of a JSON number in major units.
    fn parse(text: &str) -> Result<Self, String> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let fraction = fraction.trim_end_matches('0');
        let only_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !only_digits(whole) || !only_digits(fraction) {
            return Err(format!("{text} is not an amount with at most 2 decimals"));
        }
        if fraction.len() > 2 {
            return Err(format!("{text} has more than 2 decimals"));
        }
        let whole: i64 = whole
            .parse()
            .ok()
            .filter(|w| *w <= MAX_MAJOR)
            .ok_or_else(|| format!("{text} is larger than {MAX_MAJOR}"))?;
        let cents: i64 = format!("{fraction:0<2}").parse().unwrap_or(0);
        let minor = whole * 100 + cents;
        Ok(Self(if negative { -minor } else { minor }))
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 % 100 == 0 {
            serializer.serialize_i64(self.0 / 100)
        } else {
            // The nearest double to a two-decimal amount below MAX_MAJOR
            // prints back as those two decimals.
            serializer.serialize_f64(self.0 as f64 / 100.0)
        }
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount in major units with at most 2 decimals")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Money, E> {
                Money::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Money, E> {
                Money::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Money, E> {
                // serde_json prints the shortest text that reads back as `v`:
                // the decimals the client wrote.
                let text = serde_json::Number::from_f64(v)
                    .map(|n| n.to_string())
                    .ok_or_else(|| E::custom("an amount is a finite number"))?;
                Money::parse(&text).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// An ISO 4217 currency code: three capital letters (`CNY`, `USD`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "CNY"))]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Renminbi, the currency of an amount that names none.
impl Default for Currency {
    fn default() -> Self {
        Self("CNY".to_owned())
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(code: String) -> Result<Self, String> {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(code))
        } else {
            Err(format!(
                "`{code}` is not an ISO 4217 currency code (three capital letters, such as CNY)"
            ))
        }
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn money(value: serde_json::Value) -> Result<Money, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn amounts_read_as_exact_cents() {
        assert_eq!(money(json!(1234.56)), Ok(Money::from_minor(123_456)));
        assert_eq!(money(json!(1234.5)), Ok(Money::from_minor(123_450)));
        assert_eq!(money(json!(7)), Ok(Money::from_minor(700)));
        assert_eq!(money(json!(0.07)), Ok(Money::from_minor(7)));
        assert_eq!(money(json!(-12.3)), Ok(Money::from_minor(-1_230)));
    }

    #[test]
    fn more_than_two_decimals_or_too_much_is_refused() {
        assert!(money(json!(0.125)).is_err());
        assert!(money(json!(0.1 + 0.2)).is_err());
        assert!(money(json!(1e-7)).is_err());
        assert!(money(json!(2e12)).is_err());
        assert!(money(json!("12")).is_err());
    }

    #[test]
    fn amounts_print_back_as_they_were_written() {
        for value in [
            json!(1234.56),
            json!(0.07),
            json!(7),
            json!(999_999_999_999.99),
        ] {
            let parsed = money(value.clone()).unwrap_or(Money::from_minor(0));
            assert_eq!(serde_json::to_value(parsed).ok(), Some(value));
        }
    }

    #[test]
    fn a_percentage_rounds_to_the_nearest_cent() {
        assert_eq!(Money::from_minor(1_005).percent(50), Money::from_minor(503));
        assert_eq!(
            Money::from_minor(100_000).percent(25),
            Money::from_minor(25_000)
        );
        assert_eq!(Money::from_minor(1_005).percent(0), Money::from_minor(0));
    }

    #[test]
    fn currencies_are_three_capital_letters() {
        assert!(serde_json::from_value::<Currency>(json!("USD")).is_ok());
        assert!(serde_json::from_value::<Currency>(json!("usd")).is_err());
        assert!(serde_json::from_value::<Currency>(json!("EURO")).is_err());
        assert_eq!(Currency::default().as_str(), "CNY");
    }
}
