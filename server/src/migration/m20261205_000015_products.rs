//! Products and sales volume (销售量): the catalogue (`products`), the line
//! items of opportunities and contracts as rows (`opportunity_lines`,
//! `contract_lines`) so reports add volumes up in SQL, and the lines of a
//! contract as its view shows them (`contracts.line_items`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::columns::{index, instant, uuid_col};

/// Creates the catalogue and the line tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns of a line, after its record's id and its own.
fn line_columns(table: &mut TableCreateStatement) -> &mut TableCreateStatement {
    table
        .col(uuid_col("account_id"))
        .col(uuid_col("product_id"))
        // Its place in the record's list, from 0.
        .col(big_integer("position"))
        .col(big_integer("quantity"))
        .col(big_integer("unit_price_minor"))
        .col(big_integer("discount_percent"))
        .col(big_integer("amount_minor"))
        .col(string("currency"))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("products")
                    .col(uuid_col("id").primary_key())
                    .col(string_uniq("code"))
                    .col(string("name"))
                    .col(string("unit"))
                    .col(big_integer("list_price_minor"))
                    .col(string("currency"))
                    .col(text_null("description"))
                    .col(boolean("active"))
                    .col(instant("created_at"))
                    .col(instant("updated_at"))
                    .col(big_integer("version"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                line_columns(
                    Table::create()
                        .table("opportunity_lines")
                        .col(uuid_col("opportunity_id"))
                        .col(uuid_col("id")),
                )
                .primary_key(Index::create().col("opportunity_id").col("id"))
                .foreign_key(
                    ForeignKey::create()
                        .from("opportunity_lines", "opportunity_id")
                        .to("opportunities", "id"),
                )
                .take(),
            )
            .await?;
        manager
            .create_table(
                line_columns(
                    Table::create()
                        .table("contract_lines")
                        .col(uuid_col("contract_id"))
                        .col(uuid_col("id")),
                )
                .primary_key(Index::create().col("contract_id").col("id"))
                .foreign_key(
                    ForeignKey::create()
                        .from("contract_lines", "contract_id")
                        .to("contracts", "id"),
                )
                .take(),
            )
            .await?;
        for (table, name) in [
            ("opportunity_lines", "opportunity_lines_product"),
            ("contract_lines", "contract_lines_product"),
        ] {
            manager
                .create_index(index(table, name, &["product_id"]))
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("contracts")
                    .add_column(ColumnDef::new("line_items").json().not_null().default("[]"))
                    .take(),
            )
            .await
    }
}
