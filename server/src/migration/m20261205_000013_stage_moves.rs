//! Stage history for reports (`stage_moves`): one row each time an account
//! or an opportunity enters a stage, written when its row is materialized,
//! so the funnel and the account movements are SQL aggregates over rows.
//! Opportunities gain `lost_reason` (loss reasons are ranked in SQL) and
//! `cycle_days` (days from creation to won, for the cycle time).
//!
//! History before this migration is not in the documents' rows, so it is
//! backfilled cheaply: every existing account and opportunity "entered its
//! current stage when it was created" (one move from nothing, at
//! `created_at`). The new opportunity columns start empty for existing
//! rows and are filled the next time each deal changes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::columns::{index, instant, uuid_col, uuid_null};

/// Creates `stage_moves`, backfills it, and adds the opportunity columns.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("stage_moves")
                    .col(big_pk_auto("id"))
                    .col(string("record_kind"))
                    .col(uuid_col("record_id"))
                    .col(uuid_col("account_id"))
                    .col(string_null("from_stage"))
                    .col(string("to_stage"))
                    .col(instant("moved_at"))
                    .col(uuid_null("moved_by"))
                    .col(big_integer_null("secs_in_from_stage"))
                    .take(),
            )
            .await?;
        for (name, columns) in [
            (
                "stage_moves_kind_moved_at",
                &["record_kind", "moved_at"][..],
            ),
            ("stage_moves_record", &["record_id", "moved_at"][..]),
        ] {
            manager
                .create_index(index("stage_moves", name, columns))
                .await?;
        }
        // One column per statement: SQLite alters a table one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table("opportunities")
                    .add_column(ColumnDef::new("lost_reason").string().null())
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("opportunities")
                    .add_column(ColumnDef::new("cycle_days").big_integer().null())
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "opportunities",
                "opportunities_stage_closes_on",
                &["stage", "closes_on"],
            ))
            .await?;
        for (kind, table) in [("account", "accounts"), ("opportunity", "opportunities")] {
            let account = if kind == "account" {
                "id"
            } else {
                "account_id"
            };
            let current = Query::select()
                .expr(Expr::val(kind))
                .column("id")
                .column(account)
                .column("stage")
                .column("created_at")
                .column("created_by")
                .from(table)
                .take();
            manager
                .exec_stmt(
                    Query::insert()
                        .into_table("stage_moves")
                        .columns([
                            "record_kind",
                            "record_id",
                            "account_id",
                            "to_stage",
                            "moved_at",
                            "moved_by",
                        ])
                        .select_from(current)
                        .map_err(|err| DbErr::Migration(err.to_string()))?
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
