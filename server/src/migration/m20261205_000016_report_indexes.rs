//! Indexes that let the reports read visits, stage moves and deals from
//! the index alone, never the rows (which carry each record's JSON view):
//! measured with `kam-bench --reports` over 1,000,000 visits, where the
//! sales report's visit count read every row of the caller's scope.

use sea_orm_migration::prelude::*;

use super::columns::index;

/// Creates the report indexes.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name, columns) in [
            // Sales: completed visits planned in the period, by their rep,
            // and how many were effective.
            (
                "visits",
                "visits_report_completed",
                &[
                    "account_id",
                    "status",
                    "planned_at",
                    "deleted",
                    "effective",
                    "owner_id",
                ][..],
            ),
            // Coverage: the minutes of visits checked in during the period.
            (
                "visits",
                "visits_report_minutes",
                &["account_id", "checked_in_at", "deleted", "visit_minutes"][..],
            ),
            // Funnel: the stage moves of the period, with their stages and
            // the time spent before.
            (
                "stage_moves",
                "stage_moves_report",
                &[
                    "record_kind",
                    "moved_at",
                    "record_id",
                    "account_id",
                    "to_stage",
                    "from_stage",
                    "secs_in_from_stage",
                ][..],
            ),
            // Funnel: each moved deal's owner and whether it is deleted.
            (
                "opportunities",
                "opportunities_report_owner",
                &["id", "deleted", "owner_id"][..],
            ),
        ] {
            manager.create_index(index(table, name, columns)).await?;
        }
        Ok(())
    }
}
