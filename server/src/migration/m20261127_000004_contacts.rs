//! Key persons: the materialized `contacts` rows.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::columns::{index, instant, uuid_col, uuid_null};

/// Creates `contacts`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("contacts")
                    .col(uuid_col("id").primary_key())
                    .col(uuid_col("account_id"))
                    .col(string("name"))
                    .col(string_null("buying_role"))
                    .col(string_null("attitude"))
                    .col(big_integer_null("influence"))
                    .col(uuid_null("reports_to"))
                    .col(boolean("deleted"))
                    .col(uuid_null("created_by"))
                    .col(instant("created_at"))
                    .col(instant("updated_at"))
                    .col(big_integer("version"))
                    .col(json("body"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("contacts", "id")
                            .to("documents", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index("contacts", "contacts_account", &["account_id"]))
            .await
    }
}
