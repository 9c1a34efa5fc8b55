//! Money, the one type of it for the server and its clients: an amount
//! ([`Money`]: a JSON number in the currency's major unit with at most two
//! decimals, held as whole minor units, cents, so nothing is lost to binary
//! fractions), a sum of amounts ([`Total`], exact at any size), and ISO 4217
//! currency codes ([`Currency`]). Opportunities, contracts and sales targets
//! hold [`Money`]; every report that adds amounts up answers a [`Total`].
//!
//! # Limits
//! - An amount is at most [`MAX_MAJOR`] (a trillion) either way, with at
//!   most two decimals; the records holding one also refuse negatives
//!   ([`Money::negative_violation`]). Every such amount is exact in a JSON
//!   number read as a double.
//! - A total is an `i128` of minor units, up to 1.7 × 10^38: the sum of
//!   1.7 × 10^24 amounts at the maximum, far more rows than any database
//!   holds, so no report overflows (a total saturates rather than wraps,
//!   all the same).
//! - A total is written as exactly as an amount: a JSON integer when it
//!   has no cents, at any size; with cents, a double up to
//!   [`EXACT_AS_DOUBLE`] minor units (ten trillion in major units), where a
//!   double still carries every cent, and beyond that its exact decimal
//!   text. A reader that parses JSON numbers as doubles (JavaScript's
//!   `JSON.parse`) reads such a total to the nearest double; a reader that
//!   needs its cents parses it as a decimal. Totals are never rounded or
//!   capped by the server: a wrong total, even flagged, is worse than one
//!   that some readers round.

use crate::error::Violation;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Sub};

/// The largest amount accepted, in major units (a trillion): far above any
/// deal, and small enough that every cent is exact in a JSON number.
pub const MAX_MAJOR: i64 = 1_000_000_000_000;

/// [`MAX_MAJOR`] in minor units.
pub const MAX_MINOR: i64 = MAX_MAJOR * 100;

/// The largest total, in minor units, written through a double: below
/// 2^46 major units a double's spacing is under half a cent, so the
/// nearest double to a total prints back as its two decimals.
pub const EXACT_AS_DOUBLE: u128 = 1_000_000_000_000_000;

/// An amount of money: on the wire a JSON number in the currency's major
/// unit (元 for CNY) with at most two decimals, up to a trillion either way;
/// held in minor units (`1234.5` is 123,450 分).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

impl Money {
    /// An amount of `minor` units (cents); `None` beyond [`MAX_MINOR`]
    /// either way.
    pub fn from_minor(minor: i64) -> Option<Self> {
        (minor.unsigned_abs() <= MAX_MINOR.unsigned_abs()).then_some(Self(minor))
    }

    /// The amount in minor units (cents).
    pub fn minor(self) -> i64 {
        self.0
    }

    /// The rule every record holding an amount keeps: it is not negative
    /// (`out_of_range` on `field`).
    pub fn negative_violation(self, field: &str) -> Option<Violation> {
        (self.0 < 0).then(|| Violation::new(field, "out_of_range", "an amount is not negative"))
    }

    /// The share `percent` (0-100) of this amount, to the nearest cent
    /// (halves away from zero); a share outside 0-100 stays within the
    /// limits of an amount.
    pub fn percent(self, percent: i64) -> Self {
        let scaled = i128::from(self.0) * i128::from(percent);
        let rounded = (scaled + scaled.signum() * 50) / 100;
        let limit = i128::from(MAX_MINOR);
        // In range after the clamp, so the conversion cannot fail.
        Self(i64::try_from(rounded.clamp(-limit, limit)).unwrap_or_default())
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
        let too_large = || format!("{text} is beyond {MAX_MAJOR}, the largest amount");
        let whole: i64 = whole
            .parse()
            .ok()
            .filter(|w| *w <= MAX_MAJOR)
            .ok_or_else(too_large)?;
        let cents: i64 = format!("{fraction:0<2}").parse().unwrap_or(0);
        let minor = whole * 100 + cents;
        Self::from_minor(if negative { -minor } else { minor }).ok_or_else(too_large)
    }
}

impl fmt::Display for Money {
    /// `1234.50`: the major units with two decimals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Total::from(*self).fmt(f)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Total::from(*self).serialize(serializer)
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

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{KnownFormat, ObjectBuilder, SchemaFormat, schema::Type};
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
            .minimum(Some(0.0))
            .maximum(Some(1_000_000_000_000.0))
            .description(Some(
                "An amount of money in the currency's major unit (yuan, not fen) with at \
                 most 2 decimals, up to a trillion; held as exact cents.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Money {}

/// A sum of amounts, exact at any size: on the wire a JSON number in the
/// currency's major unit with at most two decimals (see the module's
/// limits); held in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Total(i128);

impl Total {
    /// Nothing.
    pub const ZERO: Self = Self(0);

    /// A total of `minor` units (cents).
    pub fn from_minor(minor: i128) -> Self {
        Self(minor)
    }

    /// A total of `units` whole major units; also how a count is written
    /// where a figure is money or a count (a sales target's).
    pub fn from_major(units: i128) -> Self {
        Self(units.saturating_mul(100))
    }

    /// The total in minor units (cents).
    pub fn minor(self) -> i128 {
        self.0
    }

    /// Parses the decimal text of a number with at most two decimals.
    fn parse(text: &str) -> Option<Self> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let only_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !only_digits(whole) || !only_digits(fraction) || fraction.len() > 2 {
            return None;
        }
        let cents: i128 = format!("{fraction:0<2}").parse().ok()?;
        let minor = whole
            .parse::<i128>()
            .ok()?
            .checked_mul(100)?
            .checked_add(cents)?;
        Some(Self(if negative { -minor } else { minor }))
    }
}

impl From<Money> for Total {
    fn from(amount: Money) -> Self {
        Self(i128::from(amount.0))
    }
}

impl Add for Total {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Total {
    fn add_assign(&mut self, other: Self) {
        *self = *self + other;
    }
}

impl Sub for Total {
    type Output = Self;
    fn sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }
}

impl Sum for Total {
    fn sum<I: Iterator<Item = Self>>(totals: I) -> Self {
        totals.fold(Self::ZERO, Add::add)
    }
}

impl Sum<Money> for Total {
    fn sum<I: Iterator<Item = Money>>(amounts: I) -> Self {
        amounts.map(Self::from).sum()
    }
}

impl fmt::Display for Total {
    /// `1234.50`: the major units with two decimals, exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let minor = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", minor / 100, minor % 100)
    }
}

impl Serialize for Total {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0 % 100 == 0 {
            let whole = self.0 / 100;
            return match i64::try_from(whole) {
                Ok(whole) => serializer.serialize_i64(whole),
                Err(_) => serializer.serialize_i128(whole),
            };
        }
        if self.0.unsigned_abs() <= EXACT_AS_DOUBLE {
            // The nearest double prints back as the two decimals.
            return serializer.serialize_f64(self.0 as f64 / 100.0);
        }
        serde_json::value::RawValue::from_string(self.to_string())
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Total {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Total;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a total in major units")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Total, E> {
                Ok(Total::from_major(i128::from(v)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Total, E> {
                Ok(Total::from_major(i128::from(v)))
            }
            fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Total, E> {
                Ok(Total::from_major(v))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Total, E> {
                // The double's own value, to the nearest cent: a total past
                // a double's precision was rounded by whoever parsed it.
                Total::parse(&format!("{v:.2}"))
                    .ok_or_else(|| E::custom(format!("{v} is not a total")))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Total {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{ObjectBuilder, schema::Type};
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .description(Some(
                "An exact sum, never capped or rounded: of amounts, in the currency's \
                 major unit with at most 2 decimals; of counts, a whole number. Up to \
                 10,000,000,000,000 a double carries it exactly; a larger sum with cents \
                 is written as its exact decimal text, which a reader parsing numbers as \
                 doubles rounds.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Total {}

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

    fn cents(minor: i64) -> Money {
        Money::from_minor(minor).unwrap_or_default()
    }

    #[test]
    fn amounts_read_as_exact_cents() {
        assert_eq!(money(json!(1234.56)), Ok(cents(123_456)));
        assert_eq!(money(json!(1234.5)), Ok(cents(123_450)));
        assert_eq!(money(json!(7)), Ok(cents(700)));
        assert_eq!(money(json!(0.07)), Ok(cents(7)));
        assert_eq!(money(json!(-12.3)), Ok(cents(-1_230)));
        assert_eq!(money(json!(1_000_000_000_000_u64)), Ok(cents(MAX_MINOR)));
    }

    #[test]
    fn more_than_two_decimals_or_too_much_is_refused() {
        assert!(money(json!(0.125)).is_err());
        assert!(money(json!(0.1 + 0.2)).is_err());
        assert!(money(json!(1e-7)).is_err());
        assert!(money(json!(2e12)).is_err());
        assert!(money(json!(1_000_000_000_000.01)).is_err());
        assert!(money(json!(-1_000_000_000_001_i64)).is_err());
        assert!(money(json!("12")).is_err());
        assert_eq!(Money::from_minor(MAX_MINOR + 1), None);
        assert_eq!(Money::from_minor(-MAX_MINOR - 1), None);
    }

    #[test]
    fn amounts_print_back_as_they_were_written() {
        for value in [
            json!(1234.56),
            json!(0.07),
            json!(7),
            json!(999_999_999_999.99),
            json!(1_000_000_000_000_u64),
        ] {
            let parsed = money(value.clone()).unwrap_or_default();
            assert_eq!(serde_json::to_value(parsed).ok(), Some(value));
        }
        assert_eq!(cents(123_450).to_string(), "1234.50");
        assert_eq!(cents(-5).to_string(), "-0.05");
    }

    #[test]
    fn only_negative_amounts_break_the_rule_of_records() {
        assert_eq!(cents(0).negative_violation("amount"), None);
        let broken = cents(-1).negative_violation("amount");
        assert_eq!(
            broken.map(|v| (v.field, v.code)),
            Some(("amount".to_owned(), "out_of_range".to_owned()))
        );
    }

    #[test]
    fn a_percentage_rounds_to_the_nearest_cent() {
        assert_eq!(cents(1_005).percent(50), cents(503));
        assert_eq!(cents(100_000).percent(25), cents(25_000));
        assert_eq!(cents(1_005).percent(0), cents(0));
        assert_eq!(cents(MAX_MINOR).percent(100), cents(MAX_MINOR));
        assert_eq!(cents(MAX_MINOR).percent(i64::MAX), cents(MAX_MINOR));
    }

    #[test]
    fn totals_of_amounts_at_the_maximum_do_not_overflow() {
        // 93,000 amounts of a trillion: 9.3 × 10^18 cents, past i64::MAX.
        let total: Total = std::iter::repeat_n(cents(MAX_MINOR), 93_000).sum();
        assert_eq!(total.minor(), 9_300_000_000_000_000_000);
        assert!(total.minor() > i128::from(i64::MAX));
        let mut less = total - Total::from(cents(MAX_MINOR));
        assert_eq!(less, Total::from_major(92_999 * 1_000_000_000_000));
        less += Total::from(cents(MAX_MINOR));
        assert_eq!(less, total);
        let far = Total::from_minor(i128::MAX) + Total::from_minor(1);
        assert_eq!(far.minor(), i128::MAX, "saturates, never wraps");
    }

    #[test]
    fn small_totals_are_written_as_amounts_are() {
        for (minor, json) in [
            (0, "0"),
            (123_450, "1234.5"),
            (7, "0.07"),
            (-5, "-0.05"),
            (99_999_999_999_999, "999999999999.99"),
            (999_999_999_999_999, "9999999999999.99"),
        ] {
            let total = Total::from_minor(minor);
            assert_eq!(serde_json::to_string(&total).ok().as_deref(), Some(json));
            assert_eq!(serde_json::from_str::<Total>(json).ok(), Some(total));
        }
    }

    #[test]
    fn large_totals_are_written_exactly() {
        for (minor, json) in [
            // 93,000 × 999,999,999,999 + 0.05: cents a double does not hold.
            (9_299_999_999_990_700_005, "92999999999907000.05"),
            (9_299_999_999_990_700_050, "92999999999907000.50"),
            (-1_000_000_000_000_001, "-10000000000000.01"),
            (9_300_000_000_000_000_000, "93000000000000000"),
            (
                i128::MAX / 100 * 100,
                "1701411834604692317316873037158841057",
            ),
        ] {
            let total = Total::from_minor(minor);
            assert_eq!(serde_json::to_string(&total).ok().as_deref(), Some(json));
        }
        // A whole total reads back exactly while it fits a u64.
        let whole = Total::from_minor(9_300_000_000_000_000_000);
        assert_eq!(
            serde_json::from_str::<Total>("93000000000000000").ok(),
            Some(whole)
        );
        // One with cents reads back as the double a parser made of it.
        let read: Option<Total> = serde_json::from_str("92999999999907000.05").ok();
        assert_eq!(read, Some(Total::from_minor(9_299_999_999_990_700_800)));
    }

    #[test]
    fn currencies_are_three_capital_letters() {
        assert!(serde_json::from_value::<Currency>(json!("USD")).is_ok());
        assert!(serde_json::from_value::<Currency>(json!("usd")).is_err());
        assert!(serde_json::from_value::<Currency>(json!("EURO")).is_err());
        assert_eq!(Currency::default().as_str(), "CNY");
    }
}
