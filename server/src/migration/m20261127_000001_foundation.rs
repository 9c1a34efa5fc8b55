//! The foundation: org structure, users and sessions, record documents with
//! their change log, and the materialized account and visit rows.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::columns::{index, instant, instant_null, uuid_col, uuid_null};

/// Creates the foundation tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("server_values")
                    .col(string("name").primary_key())
                    .col(string("value"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("branches")
                    .col(uuid_col("id").primary_key())
                    .col(string_uniq("name"))
                    .col(instant("created_at"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("teams")
                    .col(uuid_col("id").primary_key())
                    .col(string("name"))
                    .col(uuid_col("branch_id"))
                    .col(instant("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("teams", "branch_id")
                            .to("branches", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("users")
                    .col(uuid_col("id").primary_key())
                    .col(string_uniq("username"))
                    .col(string("display_name"))
                    .col(string("password_hash"))
                    .col(string("role"))
                    .col(uuid_null("team_id"))
                    .col(uuid_null("branch_id"))
                    .col(boolean("active"))
                    .col(big_integer("version"))
                    .col(instant("created_at"))
                    .col(instant("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("users", "team_id")
                            .to("teams", "id"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from("users", "branch_id")
                            .to("branches", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("team_managers")
                    .col(uuid_col("team_id"))
                    .col(uuid_col("user_id"))
                    .primary_key(Index::create().col("team_id").col("user_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("team_managers", "team_id")
                            .to("teams", "id"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from("team_managers", "user_id")
                            .to("users", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("sessions")
                    .col(uuid_col("id").primary_key())
                    .col(uuid_col("user_id"))
                    .col(string("device_id"))
                    .col(instant("created_at"))
                    .col(instant("last_used_at"))
                    .col(instant_null("revoked_at"))
                    .col(string_null("revoked_reason"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("sessions", "user_id")
                            .to("users", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "sessions",
                "sessions_user",
                &["user_id", "device_id"],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("refresh_tokens")
                    .col(string("token_hash").primary_key())
                    .col(uuid_col("session_id"))
                    .col(instant("issued_at"))
                    .col(instant("expires_at"))
                    .col(instant_null("used_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("refresh_tokens", "session_id")
                            .to("sessions", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("documents")
                    .col(uuid_col("id").primary_key())
                    .col(string("kind"))
                    .col(uuid_col("account_id"))
                    .col(big_integer("last_seq"))
                    .col(json("heads"))
                    .col(blob("snapshot"))
                    .col(big_integer("snapshot_seq"))
                    .col(integer("changes_since_snapshot"))
                    .col(instant("created_at"))
                    .col(instant("updated_at"))
                    .take(),
            )
            .await?;
        for (name, columns) in [
            ("documents_account", &["account_id"][..]),
            ("documents_last_seq", &["last_seq"][..]),
        ] {
            manager
                .create_index(index("documents", name, columns))
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("doc_changes")
                    .col(big_pk_auto("seq"))
                    .col(uuid_col("doc_id"))
                    .col(string("kind"))
                    .col(blob("bytes"))
                    .col(uuid_null("user_id"))
                    .col(string("device_id"))
                    .col(uuid_null("origin_session"))
                    .col(instant("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("doc_changes", "doc_id")
                            .to("documents", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index("doc_changes", "doc_changes_doc", &["doc_id", "seq"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("accounts")
                    .col(uuid_col("id").primary_key())
                    .col(string("name"))
                    .col(string("name_search"))
                    .col(string("segment"))
                    .col(string_null("tier"))
                    .col(string_null("proposed_tier"))
                    .col(string("stage"))
                    .col(uuid_col("owner_id"))
                    .col(uuid_null("team_id"))
                    .col(uuid_null("branch_id"))
                    .col(boolean("deleted"))
                    .col(uuid_null("created_by"))
                    .col(instant("created_at"))
                    .col(instant("updated_at"))
                    .col(big_integer("version"))
                    .col(json("body"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("accounts", "id")
                            .to("documents", "id"),
                    )
                    .take(),
            )
            .await?;
        for (name, columns) in [
            ("accounts_owner", &["owner_id"][..]),
            ("accounts_team", &["team_id"][..]),
            ("accounts_branch", &["branch_id"][..]),
            ("accounts_updated", &["updated_at", "id"][..]),
        ] {
            manager
                .create_index(index("accounts", name, columns))
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("scope_changes")
                    .col(uuid_col("account_id"))
                    .col(big_integer("seq"))
                    .col(uuid_col("owner_id"))
                    .col(uuid_null("team_id"))
                    .col(uuid_null("branch_id"))
                    .col(json("shared_with"))
                    .primary_key(Index::create().col("account_id").col("seq"))
                    .take(),
            )
            .await?;
        manager
            .create_index(index("scope_changes", "scope_changes_seq", &["seq"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("account_shares")
                    .col(uuid_col("account_id"))
                    .col(uuid_col("user_id"))
                    .primary_key(Index::create().col("account_id").col("user_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("account_shares", "account_id")
                            .to("accounts", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(index("account_shares", "account_shares_user", &["user_id"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("visits")
                    .col(uuid_col("id").primary_key())
                    .col(uuid_col("account_id"))
                    .col(uuid_col("owner_id"))
                    .col(instant("planned_at"))
                    .col(string("visit_type"))
                    .col(string("status"))
                    .col(string_null("outcome"))
                    .col(boolean("deleted"))
                    .col(uuid_null("created_by"))
                    .col(instant("created_at"))
                    .col(instant("updated_at"))
                    .col(big_integer("version"))
                    .col(json("body"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("visits", "id")
                            .to("documents", "id"),
                    )
                    .take(),
            )
            .await?;
        for (name, columns) in [
            ("visits_account", &["account_id"][..]),
            ("visits_owner", &["owner_id"][..]),
            ("visits_planned", &["planned_at", "id"][..]),
        ] {
            manager.create_index(index("visits", name, columns)).await?;
        }
        Ok(())
    }
}
