//! Account scores: each account row keeps the score its scores make and the
//! tier that suggests (see the `tiering` module), so lists filter on them.

use sea_orm_migration::prelude::*;

/// Adds `accounts.score` and `accounts.suggested_tier`, with their indexes.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table("accounts")
                    .add_column(ColumnDef::new("score").big_integer().null())
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("accounts")
                    .add_column(ColumnDef::new("suggested_tier").string().null())
                    .take(),
            )
            .await?;
        for (name, column) in [
            ("accounts_score", "score"),
            ("accounts_suggested_tier", "suggested_tier"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table("accounts")
                        .col(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
