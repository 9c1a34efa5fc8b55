//! The change log's head in a row of its own: the last log position given
//! out. Writers take positions from it under its row lock, so the log is
//! numbered without holes (a rolled-back PostgreSQL sequence would leave
//! some) and positions become visible in order; a write learns its positions
//! before it inserts anything, which lets one request insert all its rows in
//! a few multi-row statements.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Creates `feed_head`, starting where the log stands.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("feed_head")
                    .col(integer("id").primary_key())
                    .col(big_integer("seq"))
                    .take(),
            )
            .await?;
        let conn = manager.get_connection();
        let logged: Option<i64> = conn
            .query_one(
                Query::select()
                    .expr(Expr::col("seq").max())
                    .from("doc_changes"),
            )
            .await?
            .and_then(|row| row.try_get_by_index(0).ok());
        let horizon: Option<String> = conn
            .query_one(
                Query::select()
                    .column("value")
                    .from("server_values")
                    .and_where(Expr::col("name").eq("feed_horizon")),
            )
            .await?
            .and_then(|row| row.try_get_by_index(0).ok());
        let horizon = horizon.and_then(|h| h.parse::<i64>().ok()).unwrap_or(0);
        let head = Ord::max(logged.unwrap_or(0), horizon);
        manager
            .exec_stmt(
                Query::insert()
                    .into_table("feed_head")
                    .columns(["id", "seq"])
                    .values_panic([1.into(), head.into()])
                    .take(),
            )
            .await
    }
}
