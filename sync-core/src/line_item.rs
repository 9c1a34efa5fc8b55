//! Line items (产品明细): what a deal or a contract sells, product by
//! product, in the catalogue's units. A line's amount is its quantity times
//! its unit price less its discount, to the nearest cent; a record with
//! lines has the sum of their amounts as its `amount` (the server keeps
//! that rule on every write, over REST and sync).
//!
//! Quantities are whole numbers of the product's unit: a product sold by
//! weight or length is catalogued in a unit small enough (kilograms rather
//! than tonnes), so volumes add up exactly.

use crate::error::Violation;
use crate::ids::ProductId;
use crate::money::Money;
use crate::record::check_ids;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The most lines one record holds.
pub const MAX_LINES: usize = 200;

/// The largest quantity of one line.
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// One product sold, at a price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LineItem {
    /// The line's id, chosen by whoever adds it (merging matches lines by id).
    pub id: Uuid,
    /// The product, from the catalogue (`/products`); a product added to a
    /// record is an active one.
    pub product_id: ProductId,
    /// How many of the product's unit, 1 to a billion.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1_000_000_000))]
    pub quantity: i64,
    /// The price of one unit, in the record's currency (the catalogue's
    /// list price, or the price agreed).
    pub unit_price: Money,
    /// The discount on the line, in percent, 0 (the default) to 100.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 100))]
    pub discount_percent: i64,
}

impl LineItem {
    /// Quantity × unit price less the discount, to the nearest cent (halves
    /// away from zero); `None` beyond the largest amount.
    pub fn amount(&self) -> Option<Money> {
        let gross = i128::from(self.quantity) * i128::from(self.unit_price.minor());
        let net = gross * i128::from(100 - self.discount_percent);
        let rounded = (net + net.signum() * 50) / 100;
        i64::try_from(rounded).ok().and_then(Money::from_minor)
    }
}

/// The sum of the lines' amounts; `None` when a line or the sum is beyond
/// the largest amount.
pub fn total(lines: &[LineItem]) -> Option<Money> {
    let mut sum: i64 = 0;
    for line in lines {
        sum = sum.checked_add(line.amount()?.minor())?;
    }
    Money::from_minor(sum)
}

/// The rules on the lines of a record, reported under `field`: at most
/// [`MAX_LINES`], unique ids, quantities from 1 to [`MAX_QUANTITY`], prices
/// not negative, discounts 0-100, and amounts within the largest amount.
pub fn violations(field: &str, lines: &[LineItem]) -> Vec<Violation> {
    let mut out = Vec::new();
    if lines.len() > MAX_LINES {
        out.push(Violation::new(
            field,
            "too_many",
            format!("at most {MAX_LINES} lines"),
        ));
        return out;
    }
    check_ids(field, lines.iter().map(|l| l.id), &mut out);
    for (i, line) in lines.iter().enumerate() {
        if !(1..=MAX_QUANTITY).contains(&line.quantity) {
            out.push(Violation::new(
                format!("{field}.{i}.quantity"),
                "out_of_range",
                format!("a whole number from 1 to {MAX_QUANTITY}"),
            ));
        }
        out.extend(
            line.unit_price
                .negative_violation(&format!("{field}.{i}.unit_price")),
        );
        if !(0..=100).contains(&line.discount_percent) {
            out.push(Violation::new(
                format!("{field}.{i}.discount_percent"),
                "out_of_range",
                "runs from 0 to 100",
            ));
        }
    }
    if out.is_empty() && total(lines).is_none() {
        out.push(Violation::new(
            field,
            "out_of_range",
            "the lines add up to more than the largest amount",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::MAX_MINOR;

    fn line(quantity: i64, price_minor: i64, discount_percent: i64) -> LineItem {
        LineItem {
            id: Uuid::now_v7(),
            product_id: ProductId::new_v7(),
            quantity,
            unit_price: Money::from_minor(price_minor).unwrap_or_default(),
            discount_percent,
        }
    }

    #[test]
    fn a_line_is_quantity_times_price_less_its_discount_to_the_cent() {
        assert_eq!(line(3, 1_999, 0).amount(), Money::from_minor(5_997));
        // 3 × 19.99 × 0.95 = 56.9715 → 56.97
        assert_eq!(line(3, 1_999, 5).amount(), Money::from_minor(5_697));
        assert_eq!(line(7, 1_000, 100).amount(), Money::from_minor(0));
        let lines = [line(3, 1_999, 0), line(1, 3, 50)];
        // 0.03 × 0.5 = 0.015 → 0.02 (halves away from zero)
        assert_eq!(total(&lines), Money::from_minor(5_999));
    }

    #[test]
    fn lines_beyond_the_largest_amount_are_refused_not_wrapped() {
        let huge = line(MAX_QUANTITY, MAX_MINOR, 0);
        assert_eq!(huge.amount(), None);
        let fields: Vec<_> = violations("line_items", &[huge])
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["line_items"]);
    }

    #[test]
    fn each_bad_field_of_a_line_is_named() {
        let mut twice = line(0, -1, 101);
        let copy = LineItem {
            quantity: 1,
            unit_price: Money::default(),
            discount_percent: 0,
            ..twice.clone()
        };
        twice.id = copy.id;
        let fields: Vec<_> = violations("line_items", &[copy, twice])
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(
            fields,
            [
                "line_items.1.id",
                "line_items.1.quantity",
                "line_items.1.unit_price",
                "line_items.1.discount_percent"
            ]
        );
    }
}
