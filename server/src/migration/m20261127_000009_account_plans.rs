//! Account plans: the materialized `account_plans` rows.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::columns::{index, instant, uuid_col, uuid_null};

/// Creates `account_plans`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("account_plans")
                    .col(uuid_col("id").primary_key())
                    .col(uuid_col("account_id"))
                    .col(uuid_col("owner_id"))
                    .col(string("period_kind"))
                    .col(date("period_start"))
                    .col(string("status"))
                    .col(string("title"))
                    .col(string("currency"))
                    // Resource amounts by decision, in minor units, so
                    // reports sum them exactly.
                    .col(big_integer("requested_minor"))
                    .col(big_integer("approved_minor"))
                    .col(big_integer("rejected_minor"))
                    .col(boolean("deleted"))
                    .col(uuid_null("created_by"))
                    .col(instant("created_at"))
                    .col(instant("updated_at"))
                    .col(big_integer("version"))
                    .col(json("body"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("account_plans", "id")
                            .to("documents", "id"),
                    )
                    .take(),
            )
            .await?;
        // The one-active-plan rule looks plans up by account and period.
        manager
            .create_index(index(
                "account_plans",
                "account_plans_account_period",
                &["account_id", "period_kind", "period_start"],
            ))
            .await?;
        manager
            .create_index(index("account_plans", "account_plans_owner", &["owner_id"]))
            .await
    }
}
