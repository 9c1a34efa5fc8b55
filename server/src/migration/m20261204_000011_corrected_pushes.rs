//! The notices of corrected pushes (`corrected_pushes`): a device whose
//! response was lost sends the same request again, and the repeat, which
//! merges nothing, must still say what the server undid and why.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::columns::{instant, uuid_col};

/// Creates `corrected_pushes`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("corrected_pushes")
                    .col(uuid_col("doc_id"))
                    .col(uuid_col("user_id"))
                    .col(string("digest"))
                    .col(json("notices"))
                    .col(instant("created_at"))
                    .primary_key(Index::create().col("doc_id").col("user_id"))
                    .take(),
            )
            .await
    }
}
