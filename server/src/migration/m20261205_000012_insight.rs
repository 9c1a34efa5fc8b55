//! Insight: what the server computes for managers from the rows. Visits
//! keep their check-in, check-out, minutes on site and whether they were
//! effective; accounts keep their last effective visit, when the next is
//! due, their health and an at-risk proposal; each account's open warnings
//! are rows of their own; each sweep claims its interval with a row
//! of its own, so one node runs it.

use super::columns::{index, instant, instant_null, uuid_col};
use sea_orm_migration::prelude::*;

/// Adds the insight columns and tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        let visit_columns = [
            instant_null("checked_in_at"),
            instant_null("checked_out_at"),
            ColumnDef::new("visit_minutes").big_integer().null().take(),
            ColumnDef::new("effective")
                .boolean()
                .not_null()
                .default(false)
                .take(),
        ];
        for mut column in visit_columns {
            manager
                .alter_table(
                    Table::alter()
                        .table("visits")
                        .add_column(&mut column)
                        .take(),
                )
                .await?;
        }
        let account_columns = [
            instant_null("last_visit_at"),
            instant_null("next_visit_due"),
            ColumnDef::new("health").big_integer().null().take(),
            ColumnDef::new("health_band").string().null().take(),
            instant_null("at_risk_proposed_at"),
            ColumnDef::new("at_risk_dismissed").string().null().take(),
        ];
        for mut column in account_columns {
            manager
                .alter_table(
                    Table::alter()
                        .table("accounts")
                        .add_column(&mut column)
                        .take(),
                )
                .await?;
        }
        for (table, name, columns) in [
            (
                "visits",
                "visits_account_effective",
                &["account_id", "effective", "checked_in_at"][..],
            ),
            ("visits", "visits_checked_in_at", &["checked_in_at"][..]),
            (
                "accounts",
                "accounts_next_visit_due",
                &["next_visit_due"][..],
            ),
            ("accounts", "accounts_health", &["health"][..]),
            (
                "accounts",
                "accounts_at_risk_proposed_at",
                &["at_risk_proposed_at"][..],
            ),
        ] {
            manager.create_index(index(table, name, columns)).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("account_warnings")
                    .col(uuid_col("account_id"))
                    .col(ColumnDef::new("code").string().not_null())
                    .col(ColumnDef::new("severity").string().not_null())
                    .col(instant("since"))
                    .col(instant("raised_at"))
                    .col(ColumnDef::new("detail").string().not_null())
                    .col(ColumnDef::new("evidence").json().not_null())
                    .primary_key(Index::create().col("account_id").col("code"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "account_warnings",
                "account_warnings_raised_at",
                &["raised_at"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("insight_sweeps")
                    .col(instant("due_at").primary_key())
                    .col(ColumnDef::new("node").string().not_null())
                    .col(instant("started_at"))
                    .col(instant_null("finished_at"))
                    .col(ColumnDef::new("accounts").big_integer().not_null())
                    .col(ColumnDef::new("changed").big_integer().not_null())
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("worklist_looks")
                    .col(uuid_col("user_id").primary_key())
                    .col(instant("looked_at"))
                    .take(),
            )
            .await?;
        Ok(())
    }
}
