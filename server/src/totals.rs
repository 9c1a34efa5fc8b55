//! Exact sums of money columns in SQL, the same on SQLite and PostgreSQL.
//!
//! A plain `SUM` of a BIGINT column of cents fails past 9.2 × 10^18, which
//! 93,000 amounts at the maximum reach: SQLite raises "integer overflow",
//! and PostgreSQL's NUMERIC sum no longer fits the BIGINT both engines are
//! read as. So each amount is split at [`SPLIT`] into a quotient and a
//! remainder, summed apart: at most 10^7 each per row (amounts are at most
//! [`MAX_MINOR`]), both sums stay BIGINTs up to 9.2 × 10^11 rows, far more
//! than any table here holds; [`total`] joins them in an `i128`
//! [`Total`], which cannot overflow.

use kam_sync_core::money::{MAX_MINOR, Total};
use sea_orm::sea_query::{Expr, ExprTrait, Func, IntoColumnRef};

/// Where an amount is split: the largest amount's quotient, and any
/// remainder, are at most 10^7.
const SPLIT: i64 = 10_000_000;

const _: () = assert!(MAX_MINOR / SPLIT <= SPLIT);

/// The two sums, quotients then remainders, that make the total of
/// `column` (minor units), each a BIGINT (0 over no rows; NULLs count as
/// nothing): select both, read them as `i64`s and join them with [`total`].
pub fn sum_parts<C: IntoColumnRef + Clone>(column: C) -> [Expr; 2] {
    // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back, so both engines
    // answer a 64-bit integer.
    let sum = |part: Expr| {
        Expr::from(Func::cast_as(
            Func::coalesce([Expr::from(Func::sum(part)), Expr::val(0)]),
            "BIGINT",
        ))
    };
    [
        sum(Expr::col(column.clone()).div(SPLIT)),
        sum(Expr::col(column).modulo(SPLIT)),
    ]
}

/// The total that the two sums of [`sum_parts`] make.
pub fn total(quotients: i64, remainders: i64) -> Total {
    Total::from_minor(i128::from(quotients) * i128::from(SPLIT) + i128::from(remainders))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parts_of_amounts_join_into_their_exact_total() {
        let amounts = [MAX_MINOR, MAX_MINOR - 1, 12_345, 0, -9_999_999_999];
        let quotients: i64 = amounts.iter().map(|a| a / SPLIT).sum();
        let remainders: i64 = amounts.iter().map(|a| a % SPLIT).sum();
        let exact: i128 = amounts.iter().copied().map(i128::from).sum();
        assert_eq!(total(quotients, remainders).minor(), exact);
        // 93,000 amounts at the maximum: both sums are small, the total is not.
        let rows = 93_000;
        let whole = total(rows * (MAX_MINOR / SPLIT), rows * (MAX_MINOR % SPLIT));
        assert_eq!(whole.minor(), i128::from(rows) * i128::from(MAX_MINOR));
    }
}
