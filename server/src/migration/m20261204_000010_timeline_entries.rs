//! The customer file's entries as rows written with each change
//! (`timeline_entries`), so that a timeline page is one indexed query and
//! its authors are the server's own record of who wrote what, not the
//! metadata a device put in its Automerge changes. Records stored before
//! this table existed get their entries once, at start-up
//! (`records::timeline::backfill_once`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::columns::{index, instant, instant_null, uuid_col, uuid_null};

/// Creates `timeline_entries`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("timeline_entries")
                    .col(big_integer("seq").primary_key())
                    .col(uuid_col("account_id"))
                    .col(uuid_col("record_id"))
                    .col(string("record_kind"))
                    .col(uuid_null("user_id"))
                    .col(string("device_id"))
                    .col(instant("at"))
                    .col(instant_null("device_time"))
                    .col(string("what"))
                    .col(json_null("fields"))
                    .col(json("changes"))
                    .take(),
            )
            .await?;
        // A page is the newest entries of one account before a position.
        manager
            .create_index(index(
                "timeline_entries",
                "timeline_entries_account_seq",
                &["account_id", "seq"],
            ))
            .await
    }
}
