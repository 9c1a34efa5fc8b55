//! Opportunities: the materialized `opportunities` rows, with amounts in
//! minor units (BIGINT cents) so the pipeline sums are exact.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::columns::{index, instant, uuid_col, uuid_null};

/// Creates `opportunities`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("opportunities")
                    .col(uuid_col("id").primary_key())
                    .col(uuid_col("account_id"))
                    .col(uuid_col("owner_id"))
                    .col(string("name"))
                    .col(string("stage"))
                    .col(big_integer_null("amount_minor"))
                    .col(string("currency"))
                    .col(big_integer("probability"))
                    .col(big_integer_null("weighted_minor"))
                    .col(date_null("expected_close_on"))
                    .col(date_null("closes_on"))
                    .col(boolean("deleted"))
                    .col(uuid_null("created_by"))
                    .col(instant("created_at"))
                    .col(instant("updated_at"))
                    .col(big_integer("version"))
                    .col(json("body"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("opportunities", "id")
                            .to("documents", "id"),
                    )
                    .take(),
            )
            .await?;
        for (name, columns) in [
            ("opportunities_account", &["account_id"][..]),
            ("opportunities_owner", &["owner_id"][..]),
            ("opportunities_stage_closes", &["stage", "closes_on"][..]),
        ] {
            manager
                .create_index(index("opportunities", name, columns))
                .await?;
        }
        Ok(())
    }
}
