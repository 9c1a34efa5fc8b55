//! Idempotency keys: the stored outcome of a `POST` a client may repeat
//! (see the `idempotency` module).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Creates `idempotency_keys`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .col(ColumnDef::new("user_id").uuid().not_null())
                    .col(string("key"))
                    .col(string("fingerprint"))
                    .col(integer_null("status"))
                    .col(json_null("headers"))
                    .col(blob_null("body"))
                    .col(
                        ColumnDef::new("created_at")
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(Index::create().col("user_id").col("key"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idempotency_keys_created")
                    .table("idempotency_keys")
                    .col("created_at")
                    .take(),
            )
            .await
    }
}
