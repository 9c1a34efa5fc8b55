//! Tickets and callbacks: the materialized `tickets` and `callbacks` rows,
//! with the columns their lists filter on and the service summary sums.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::columns::{index, instant, instant_null, uuid_col, uuid_null};

/// Creates `tickets` and `callbacks`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("tickets")
                    .col(uuid_col("id").primary_key())
                    .col(uuid_col("account_id"))
                    .col(string("ticket_type"))
                    .col(string("severity"))
                    .col(string("status"))
                    .col(uuid_null("assignee_id"))
                    .col(uuid_null("contact_id"))
                    .col(instant("sla_due_at"))
                    .col(instant_null("resolved_at"))
                    .col(instant_null("closed_at"))
                    .col(big_integer_null("resolution_secs"))
                    .col(boolean("deleted"))
                    .col(uuid_null("created_by"))
                    .col(instant("created_at"))
                    .col(instant("updated_at"))
                    .col(big_integer("version"))
                    .col(json("body"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("tickets", "id")
                            .to("documents", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index("tickets", "tickets_account", &["account_id"]))
            .await?;
        manager
            .create_index(index(
                "tickets",
                "tickets_status",
                &["status", "sla_due_at"],
            ))
            .await?;
        manager
            .create_index(index("tickets", "tickets_assignee", &["assignee_id"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("callbacks")
                    .col(uuid_col("id").primary_key())
                    .col(uuid_col("account_id"))
                    .col(string("kind"))
                    .col(uuid_null("ticket_id"))
                    .col(uuid_col("owner_id"))
                    .col(date("scheduled_on"))
                    .col(string("status"))
                    .col(instant_null("done_at"))
                    .col(big_integer_null("satisfaction"))
                    .col(boolean("deleted"))
                    .col(uuid_null("created_by"))
                    .col(instant("created_at"))
                    .col(instant("updated_at"))
                    .col(big_integer("version"))
                    .col(json("body"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("callbacks", "id")
                            .to("documents", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index("callbacks", "callbacks_account", &["account_id"]))
            .await?;
        manager
            .create_index(index("callbacks", "callbacks_ticket", &["ticket_id"]))
            .await?;
        manager
            .create_index(index("callbacks", "callbacks_owner", &["owner_id"]))
            .await
    }
}
