//! Scoring and tiering accounts (识别与定位, 级别划分): the weighted score
//! 0-100 an account's scores make, the tier it suggests, and the settings
//! behind them.
//!
//! The settings start as the configured `tiering.*` values; once an admin
//! replaces them (`PUT /admin/settings/tiering`) the stored ones win, for
//! every server process sharing the database. The score is not part of the
//! account's document (it follows from server settings, not from what a
//! device wrote): it is computed when the account's row is materialized and
//! kept in the row's `score` and `suggested_tier` columns, so lists filter on
//! them in SQL. Changing the settings re-scores every row in the same
//! transaction, so no view ever shows a score made with other weights than
//! the ones stored.

use crate::config::TieringSettings;
use crate::db::values::{self, Hold};
use crate::entities::account;
use crate::error::{ApiError, ApiResult};
use kam_sync_core::Violation;
use kam_sync_core::account::{Scores, Tier};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The `server_values` row holding the settings an admin stored.
const STORED: &str = "tiering";

/// Accounts re-scored per read when the settings change.
const RESCORE_BATCH: u64 = 1_000;

/// An account's score and the tier it suggests; both absent when the
/// account has no score with a weight above zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rating {
    /// The weighted score, 0-100.
    pub score: Option<i64>,
    /// The tier the score suggests.
    pub suggested_tier: Option<Tier>,
}

/// What breaks the rules of tiering settings, by field.
pub fn violations(settings: &TieringSettings) -> Vec<Violation> {
    let mut out = Vec::new();
    let weights = weights(settings);
    for (name, weight) in weights {
        if !weight.is_finite() || weight < 0.0 {
            out.push(Violation::new(
                format!("weights.{name}"),
                "out_of_range",
                "a weight is 0 or more",
            ));
        }
    }
    if weights.iter().all(|(_, weight)| *weight <= 0.0) {
        out.push(Violation::new(
            "weights",
            "all_zero",
            "at least one weight must be above 0",
        ));
    }
    let thresholds = &settings.thresholds;
    for (name, value) in [("strategic", thresholds.strategic), ("key", thresholds.key)] {
        if !(0..=100).contains(&value) {
            out.push(Violation::new(
                format!("thresholds.{name}"),
                "out_of_range",
                "thresholds run from 0 to 100",
            ));
        }
    }
    if thresholds.strategic <= thresholds.key {
        out.push(Violation::new(
            "thresholds.strategic",
            "not_above_key",
            "the strategic threshold must be above the key threshold",
        ));
    }
    out
}

fn weights(settings: &TieringSettings) -> [(&'static str, f64); 5] {
    let w = &settings.weights;
    [
        ("need", w.need),
        ("purchasing_power", w.purchasing_power),
        ("loyalty", w.loyalty),
        ("size", w.size),
        ("strategic_value", w.strategic_value),
    ]
}

/// Rates an account's scores: the average of the scores it has, weighted,
/// rounded to a whole number. A score not yet given counts for nothing
/// (rather than as 0), so a rep filling in one score at a time sees a
/// meaningful number from the first.
pub fn rate(settings: &TieringSettings, scores: &Scores) -> Rating {
    let values = [
        scores.need,
        scores.purchasing_power,
        scores.loyalty,
        scores.size,
        scores.strategic_value,
    ];
    let (weighted, total) = weights(settings)
        .iter()
        .zip(values)
        .filter_map(|((_, weight), value)| Some((*weight, value?)))
        .filter(|(weight, _)| *weight > 0.0)
        .fold((0.0, 0.0), |(sum, total), (weight, value)| {
            (sum + weight * value as f64, total + weight)
        });
    if total <= 0.0 {
        return Rating::default();
    }
    let score = (weighted / total).round().clamp(0.0, 100.0) as i64;
    let tier = if score >= settings.thresholds.strategic {
        Tier::Strategic
    } else if score >= settings.thresholds.key {
        Tier::Key
    } else {
        Tier::Standard
    };
    Rating {
        score: Some(score),
        suggested_tier: Some(tier),
    }
}

/// The settings in force: the stored ones, else the configured ones. On
/// PostgreSQL the stored row is read with a shared lock, so a write scoring
/// an account with them commits before the settings can change (and a
/// change's re-scoring sees that write). Writers read it before taking
/// change-log positions, so one waiting here holds up no other writer.
pub async fn current(
    conn: &impl ConnectionTrait,
    configured: &TieringSettings,
) -> ApiResult<TieringSettings> {
    Ok(values::read(conn, STORED, Hold::Shared)
        .await?
        .unwrap_or_else(|| configured.clone()))
}

/// Tiering settings as the API shows them after a change.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TieringUpdate {
    /// The settings now in force.
    pub settings: TieringSettings,
    /// How many accounts' score or suggested tier changed.
    pub rescored: u64,
}

/// Stores new settings and re-scores every account with them, in one
/// transaction (the caller's).
pub async fn replace(
    conn: &impl ConnectionTrait,
    settings: TieringSettings,
) -> ApiResult<TieringUpdate> {
    let violations = violations(&settings);
    if !violations.is_empty() {
        return Err(ApiError::invalid(violations));
    }
    values::write(conn, STORED, &settings).await?;
    let rescored = rescore_all(conn, &settings).await?;
    Ok(TieringUpdate { settings, rescored })
}

/// The `server_values` row noting that the rows written before accounts
/// were scored have been scored.
const BACKFILLED: &str = "tiering_backfilled";

/// Scores the account rows written before rows carried a score (they were
/// materialized without one), once per database: at the first start after
/// the migration that added the columns. Servers starting together may
/// both do it; rating is idempotent.
pub async fn backfill_once(db: &crate::db::Db, configured: &TieringSettings) -> ApiResult<()> {
    let conn = db.conn();
    if values::is_done(conn, BACKFILLED).await? {
        return Ok(());
    }
    let txn = db.begin_write().await?;
    let settings = current(&txn, configured).await?;
    let rescored = rescore_all(&txn, &settings).await?;
    values::mark_done(&txn, BACKFILLED).await?;
    txn.commit().await?;
    if rescored > 0 {
        tracing::info!(rescored, "scored the accounts written before scoring");
    }
    Ok(())
}

/// Re-rates every account with `settings`, reading the rows in id order in
/// batches and writing only those whose rating changed. Returns how many.
async fn rescore_all(conn: &impl ConnectionTrait, settings: &TieringSettings) -> ApiResult<u64> {
    let mut after: Option<Uuid> = None;
    let mut changed = 0;
    loop {
        let mut query = account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .column(account::Column::Score)
            .column(account::Column::SuggestedTier)
            .column(account::Column::Body)
            .order_by_asc(account::Column::Id)
            .limit(RESCORE_BATCH);
        if let Some(last) = after {
            query = query.filter(account::Column::Id.gt(last));
        }
        let rows: Vec<(Uuid, Option<i64>, Option<String>, serde_json::Value)> =
            query.into_tuple().all(conn).await?;
        let Some((last, ..)) = rows.last() else {
            return Ok(changed);
        };
        after = Some(*last);
        for (id, score, suggested, body) in rows {
            let scores: Scores = body
                .get("scores")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(ApiError::internal)?
                .unwrap_or_default();
            let rating = rate(settings, &scores);
            let tier = rating.suggested_tier.map(|t| t.as_str().to_owned());
            if rating.score == score && tier == suggested {
                continue;
            }
            account::Entity::update_many()
                .col_expr(account::Column::Score, Expr::value(rating.score))
                .col_expr(account::Column::SuggestedTier, Expr::value(tier))
                .filter(account::Column::Id.eq(id))
                .exec(conn)
                .await?;
            changed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TierThresholds, TieringWeights};

    fn settings() -> TieringSettings {
        TieringSettings {
            weights: TieringWeights {
                need: 25.0,
                purchasing_power: 25.0,
                loyalty: 15.0,
                size: 15.0,
                strategic_value: 20.0,
            },
            thresholds: TierThresholds {
                strategic: 80,
                key: 60,
            },
        }
    }

    fn scores(need: i64, power: i64, loyalty: i64, size: i64, value: i64) -> Scores {
        Scores {
            need: Some(need),
            purchasing_power: Some(power),
            loyalty: Some(loyalty),
            size: Some(size),
            strategic_value: Some(value),
        }
    }

    #[test]
    fn the_score_is_the_weighted_average_and_suggests_a_tier() {
        let rating = rate(&settings(), &scores(90, 90, 80, 80, 70));
        // (25*90 + 25*90 + 15*80 + 15*80 + 20*70) / 100 = 83
        assert_eq!(rating.score, Some(83));
        assert_eq!(rating.suggested_tier, Some(Tier::Strategic));
        let rating = rate(&settings(), &scores(60, 60, 60, 60, 60));
        assert_eq!(rating.suggested_tier, Some(Tier::Key));
        let rating = rate(&settings(), &scores(10, 20, 30, 40, 50));
        assert_eq!(rating.suggested_tier, Some(Tier::Standard));
    }

    #[test]
    fn missing_scores_count_for_nothing_and_none_at_all_rates_nothing() {
        let one = Scores {
            loyalty: Some(70),
            ..Scores::default()
        };
        assert_eq!(rate(&settings(), &one).score, Some(70));
        assert_eq!(rate(&settings(), &Scores::default()), Rating::default());
        let mut unweighted = settings();
        unweighted.weights.loyalty = 0.0;
        assert_eq!(rate(&unweighted, &one), Rating::default());
    }

    #[test]
    fn bad_settings_are_reported_by_field() {
        let mut bad = settings();
        bad.weights = TieringWeights {
            need: -1.0,
            purchasing_power: 0.0,
            loyalty: 0.0,
            size: 0.0,
            strategic_value: 0.0,
        };
        bad.thresholds = TierThresholds {
            strategic: 50,
            key: 101,
        };
        let fields: Vec<_> = violations(&bad)
            .into_iter()
            .map(|v| (v.field, v.code))
            .collect();
        let expected = [
            ("weights.need", "out_of_range"),
            ("weights", "all_zero"),
            ("thresholds.key", "out_of_range"),
            ("thresholds.strategic", "not_above_key"),
        ];
        assert_eq!(
            fields,
            expected.map(|(f, c)| (f.to_owned(), c.to_owned())).to_vec()
        );
    }
}
