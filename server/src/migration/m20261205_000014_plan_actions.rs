//! The actions and resource requests of account plans as rows
//! (`plan_actions`, `plan_resources`): a plan keeps them inside its synced
//! document, and the worklist asks which are due or waiting in SQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::columns::{index, instant, uuid_col};

/// Creates `plan_actions` and `plan_resources`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("plan_actions")
                    .col(uuid_col("plan_id"))
                    // The action's id inside its plan, chosen by whoever added it.
                    .col(uuid_col("id"))
                    .col(uuid_col("account_id"))
                    // The action's owner, else the plan's.
                    .col(uuid_col("owner_id"))
                    .col(date_null("due_on"))
                    .col(string("status"))
                    .col(text("text"))
                    .primary_key(Index::create().col("plan_id").col("id"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("plan_actions", "plan_id")
                            .to("account_plans", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index("plan_actions", "plan_actions_due", &["due_on"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("plan_resources")
                    .col(uuid_col("plan_id"))
                    .col(uuid_col("id"))
                    .col(uuid_col("account_id"))
                    // The plan's owner, who asks.
                    .col(uuid_col("owner_id"))
                    .col(string("kind"))
                    .col(text("description"))
                    .col(big_integer_null("amount_minor"))
                    .col(string("currency"))
                    .col(string("status"))
                    // The plan's last change: the request was made then or before.
                    .col(instant("updated_at"))
                    .primary_key(Index::create().col("plan_id").col("id"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("plan_resources", "plan_id")
                            .to("account_plans", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "plan_resources",
                "plan_resources_status",
                &["status"],
            ))
            .await
    }
}
