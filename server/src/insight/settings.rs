//! The insight settings an admin keeps (`/admin/settings/insight`): the
//! visit cadence per tier, the effective-visit rules, the thresholds of the
//! warnings and the health bands. Until an admin stores some, the defaults
//! here are in force; each default carries its reason, and
//! `docs/insight.md` repeats them for a reader of the API.
//!
//! The stored settings carry a version, their ETag: a change sent with
//! `If-Match` is refused when someone else changed them first.

use crate::db::values::{self, Hold};
use crate::error::{ApiError, ApiResult};
use kam_sync_core::Violation;
use kam_sync_core::account::Tier;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The `server_values` row holding the settings an admin stored.
const STORED: &str = "insight";

/// Days between visits, per tier (定期拜访).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Cadence {
    /// Strategic accounts: every 14 days by default, the policy the source
    /// documents give as their example for the few accounts that bring most revenue.
    #[schema(minimum = 1, maximum = 366)]
    pub strategic: u32,
    /// Key accounts: every 30 days by default.
    #[schema(minimum = 1, maximum = 366)]
    pub key: u32,
    /// Standard accounts: every 90 days by default (about 30% of the time
    /// goes to about 30% of the accounts).
    #[schema(minimum = 1, maximum = 366)]
    pub standard: u32,
    /// Accounts with no confirmed tier yet: every 30 days by default, like key
    /// accounts, until a manager confirms a tier.
    #[schema(minimum = 1, maximum = 366)]
    pub untiered: u32,
}

impl Cadence {
    /// The days between visits for an account of `tier`.
    pub fn days(&self, tier: Option<Tier>) -> u32 {
        match tier {
            Some(Tier::Strategic) => self.strategic,
            Some(Tier::Key) => self.key,
            Some(Tier::Standard) => self.standard,
            None => self.untiered,
        }
    }
}

/// What makes a visit effective (有效拜访) and what counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VisitRules {
    /// An onsite visit becomes `completed` only by checking in and out (on by
    /// default: a visit completed without being on site is the one the
    /// source documents warn about).
    pub onsite_completion_requires_check: bool,
    /// Targets on the `visits` metric count effective visits only (on by
    /// default); off, they count every completed visit.
    pub targets_count_effective_only: bool,
    /// Hours after its planned time before a visit still `planned` counts as
    /// overdue: 24 by default, so a visit logged the same evening is not.
    #[schema(minimum = 0, maximum = 720)]
    pub overdue_after_hours: u32,
}

/// The thresholds of the warnings (流失预警).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WarningRules {
    /// A callback's satisfaction at or below this (1-5) warns: 2 by default,
    /// "dissatisfied" or worse on the callback scale.
    #[schema(minimum = 1, maximum = 5)]
    pub low_satisfaction_at_most: u8,
    /// The period, in days, over which satisfaction is averaged and compared
    /// with the period before: 90 by default, a quarter.
    #[schema(minimum = 7, maximum = 366)]
    pub satisfaction_period_days: u32,
    /// How far the average satisfaction must fall, period over period, to
    /// warn: 0.5 points by default (a whole point is too late).
    #[schema(minimum = 0.1, maximum = 4.0)]
    pub satisfaction_drop: f64,
    /// An opportunity lost within this many days warns: 30 by default.
    #[schema(minimum = 1, maximum = 366)]
    pub lost_opportunity_days: u32,
    /// A contract ending within this many days with no open opportunity on
    /// the account warns: 60 by default, the time a renewal takes to prepare.
    #[schema(minimum = 1, maximum = 366)]
    pub contract_ending_days: u32,
    /// The period, in days, of signed revenue compared with the period
    /// before: 365 by default (a year against the year before, which evens
    /// out seasons).
    #[schema(minimum = 30, maximum = 730)]
    pub revenue_period_days: u32,
    /// Signed revenue down by more than this percentage against the period
    /// before warns: 30 by default.
    #[schema(minimum = 1, maximum = 100)]
    pub revenue_drop_percent: u32,
}

/// How warnings make an account's health, and the bands it falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthRules {
    /// Points a critical warning takes from 100: 40 by default, so two put
    /// an account at risk.
    #[schema(minimum = 0, maximum = 100)]
    pub critical_penalty: u32,
    /// Points a warning takes: 15 by default.
    #[schema(minimum = 0, maximum = 100)]
    pub warning_penalty: u32,
    /// Points an info signal takes: 5 by default.
    #[schema(minimum = 0, maximum = 100)]
    pub info_penalty: u32,
    /// Health below this is `watch`: 90 by default (one warning is worth a
    /// look; an info signal alone is not).
    #[schema(minimum = 1, maximum = 100)]
    pub watch_below: u32,
    /// Health below this is `at_risk`, and the server proposes moving the
    /// account to the `at_risk` stage: 50 by default.
    #[schema(minimum = 1, maximum = 100)]
    pub at_risk_below: u32,
}

/// The insight settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InsightSettings {
    /// Days between visits per tier.
    pub cadence: Cadence,
    /// The effective-visit rules.
    pub visits: VisitRules,
    /// The warning thresholds.
    pub warnings: WarningRules,
    /// Health and its bands.
    pub health: HealthRules,
}

impl Default for InsightSettings {
    fn default() -> Self {
        Self {
            cadence: Cadence {
                strategic: 14,
                key: 30,
                standard: 90,
                untiered: 30,
            },
            visits: VisitRules {
                onsite_completion_requires_check: true,
                targets_count_effective_only: true,
                overdue_after_hours: 24,
            },
            warnings: WarningRules {
                low_satisfaction_at_most: 2,
                satisfaction_period_days: 90,
                satisfaction_drop: 0.5,
                lost_opportunity_days: 30,
                contract_ending_days: 60,
                revenue_period_days: 365,
                revenue_drop_percent: 30,
            },
            health: HealthRules {
                critical_penalty: 40,
                warning_penalty: 15,
                info_penalty: 5,
                watch_below: 90,
                at_risk_below: 50,
            },
        }
    }
}

/// The settings in force and their version (0 until an admin stores some).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Versioned {
    /// The settings.
    pub settings: InsightSettings,
    /// Their version, the ETag of `/admin/settings/insight`.
    pub version: i64,
}

fn range(out: &mut Vec<Violation>, field: &str, value: f64, bounds: std::ops::RangeInclusive<f64>) {
    if !value.is_finite() || !bounds.contains(&value) {
        out.push(Violation::new(
            field,
            "out_of_range",
            format!("runs from {} to {}", bounds.start(), bounds.end()),
        ));
    }
}

/// What breaks the rules of insight settings, by field.
pub fn violations(settings: &InsightSettings) -> Vec<Violation> {
    let mut out = Vec::new();
    let c = &settings.cadence;
    for (name, days) in [
        ("strategic", c.strategic),
        ("key", c.key),
        ("standard", c.standard),
        ("untiered", c.untiered),
    ] {
        range(
            &mut out,
            &format!("cadence.{name}"),
            days.into(),
            1.0..=366.0,
        );
    }
    range(
        &mut out,
        "visits.overdue_after_hours",
        settings.visits.overdue_after_hours.into(),
        0.0..=720.0,
    );
    let w = &settings.warnings;
    for (name, value, bounds) in [
        (
            "low_satisfaction_at_most",
            f64::from(w.low_satisfaction_at_most),
            1.0..=5.0,
        ),
        (
            "satisfaction_period_days",
            w.satisfaction_period_days.into(),
            7.0..=366.0,
        ),
        ("satisfaction_drop", w.satisfaction_drop, 0.1..=4.0),
        (
            "lost_opportunity_days",
            w.lost_opportunity_days.into(),
            1.0..=366.0,
        ),
        (
            "contract_ending_days",
            w.contract_ending_days.into(),
            1.0..=366.0,
        ),
        (
            "revenue_period_days",
            w.revenue_period_days.into(),
            30.0..=730.0,
        ),
        (
            "revenue_drop_percent",
            w.revenue_drop_percent.into(),
            1.0..=100.0,
        ),
    ] {
        range(&mut out, &format!("warnings.{name}"), value, bounds);
    }
    let h = &settings.health;
    for (name, value, bounds) in [
        ("critical_penalty", h.critical_penalty, 0.0..=100.0),
        ("warning_penalty", h.warning_penalty, 0.0..=100.0),
        ("info_penalty", h.info_penalty, 0.0..=100.0),
        ("watch_below", h.watch_below, 1.0..=100.0),
        ("at_risk_below", h.at_risk_below, 1.0..=100.0),
    ] {
        range(&mut out, &format!("health.{name}"), value.into(), bounds);
    }
    if h.at_risk_below > h.watch_below {
        out.push(Violation::new(
            "health.at_risk_below",
            "above_watch",
            "the at-risk band lies below the watch band",
        ));
    }
    out
}

/// The settings in force and their version. On PostgreSQL the stored row is
/// read with a shared lock, so a write judged by them commits before they
/// can change.
pub async fn current(conn: &impl ConnectionTrait) -> ApiResult<Versioned> {
    Ok(values::read(conn, STORED, Hold::Shared)
        .await?
        .unwrap_or(Versioned {
            settings: InsightSettings::default(),
            version: 0,
        }))
}

/// Stores new settings once `precondition` accepts the stored version (the
/// HTTP edge checks `If-Match` with it); returns them with their new
/// version. The caller refreshes what they change.
pub async fn replace(
    conn: &impl ConnectionTrait,
    settings: InsightSettings,
    precondition: impl FnOnce(i64) -> ApiResult<()>,
) -> ApiResult<Versioned> {
    let violations = violations(&settings);
    if !violations.is_empty() {
        return Err(ApiError::invalid(violations));
    }
    let version = values::read::<Versioned>(conn, STORED, Hold::Exclusive)
        .await?
        .map_or(0, |stored| stored.version);
    precondition(version)?;
    let stored = Versioned {
        settings,
        version: version + 1,
    };
    values::write(conn, STORED, &stored).await?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_keep_the_rules() {
        assert!(violations(&InsightSettings::default()).is_empty());
    }

    #[test]
    fn bad_settings_are_reported_by_field() {
        let mut bad = InsightSettings::default();
        bad.cadence.key = 0;
        bad.warnings.satisfaction_drop = f64::NAN;
        bad.health.at_risk_below = 95;
        let fields: Vec<_> = violations(&bad)
            .into_iter()
            .map(|v| (v.field, v.code))
            .collect();
        let expected = [
            ("cadence.key", "out_of_range"),
            ("warnings.satisfaction_drop", "out_of_range"),
            ("health.at_risk_below", "above_watch"),
        ];
        assert_eq!(
            fields,
            expected.map(|(f, c)| (f.to_owned(), c.to_owned())).to_vec()
        );
    }
}
