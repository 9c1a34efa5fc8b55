//! Contracts (合同) and sales targets (销售目标): records edited only online,
//! as plain rows with a `version` for optimistic concurrency. Money is
//! stored in minor units (cents) so that sums are exact.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// Creates `contracts` and `sales_targets`.
#[derive(DeriveMigrationName)]
pub struct Migration;

fn uuid_col(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).uuid().not_null().take()
}

fn uuid_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).uuid().null().take()
}

fn instant(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .take()
}

fn index(
    table: &'static str,
    name: &'static str,
    columns: &[&'static str],
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(*column);
    }
    index.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("contracts")
                    .col(uuid_col("id").primary_key())
                    .col(string_len("number", 64))
                    .col(uuid_col("account_id"))
                    // Opportunities are synced records of their own; the id
                    // is kept without a foreign key so either can land first.
                    .col(uuid_null("opportunity_id"))
                    .col(uuid_col("owner_id"))
                    .col(big_integer("amount_minor"))
                    .col(string_len("currency", 3))
                    .col(date_null("signed_on"))
                    .col(date_null("start_on"))
                    .col(date_null("end_on"))
                    .col(text_null("payment_terms"))
                    .col(string("status"))
                    .col(text_null("notes"))
                    .col(uuid_null("created_by"))
                    .col(instant("created_at"))
                    .col(instant("updated_at"))
                    .col(big_integer("version"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("contracts", "account_id")
                            .to("accounts", "id"),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from("contracts", "owner_id")
                            .to("users", "id"),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index("contracts", "contracts_number", &["number"])
                    .unique()
                    .take(),
            )
            .await?;
        for (name, columns) in [
            ("contracts_account", &["account_id"][..]),
            ("contracts_owner_signed", &["owner_id", "signed_on"][..]),
            ("contracts_opportunity", &["opportunity_id"][..]),
            ("contracts_signed", &["signed_on"][..]),
        ] {
            manager
                .create_index(index("contracts", name, columns))
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("sales_targets")
                    .col(uuid_col("id").primary_key())
                    .col(string("period"))
                    .col(date("period_start"))
                    .col(string("level"))
                    // The nil UUID for the org level: a NULL would not take
                    // part in the unique index below.
                    .col(uuid_col("subject_id"))
                    .col(string("metric"))
                    .col(big_integer("value"))
                    .col(string_len_null("currency", 3))
                    .col(uuid_null("created_by"))
                    .col(instant("created_at"))
                    .col(instant("updated_at"))
                    .col(big_integer("version"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "sales_targets",
                    "sales_targets_key",
                    &["period", "period_start", "level", "subject_id", "metric"],
                )
                .unique()
                .take(),
            )
            .await?;
        manager
            .create_index(index(
                "sales_targets",
                "sales_targets_subject",
                &["subject_id"],
            ))
            .await
    }
}
