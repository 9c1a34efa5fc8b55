//! The record kinds that import and export as CSV: each kind's columns and
//! the few hooks that tie it to its rules and its rows. Adding a kind is
//! one `impl CsvKind` on its [`SyncedKind`] (its column mapping; the rules
//! and rows are the kind's own) and one [`CsvKindName`] variant.

use super::{Column, Format, ImportReport};
use crate::access::{account_scope, visible_account_ids};
use crate::auth::AuthUser;
use crate::entities::{account, contact, visit};
use crate::error::ApiResult;
use crate::records::accounts::Accounts;
use crate::records::contacts::Contacts;
use crate::records::kind::SyncedKind;
use crate::records::visits::Visits;
use crate::state::AppState;
use kam_sync_core::ChangeMeta;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

const fn column(name: &'static str, path: &'static str, format: Format) -> Column {
    Column { name, path, format }
}

/// A synced record kind in its CSV form: its columns, and how its export
/// pages are read. Rules and rows are the kind's own ([`SyncedKind`]).
///
/// The hooks are `async fn`s used only on concrete kinds within this crate,
/// so their futures need no `Send` bound.
#[allow(async_fn_in_trait)]
pub trait CsvKind: SyncedKind {
    /// Its plural name, as in routes and commands (`accounts`).
    const PLURAL: &'static str;
    /// Its columns, in export order (`id` comes first, always).
    const COLUMNS: &'static [Column];

    /// The fields a new record takes from the importing user when the file
    /// leaves them out: its owner.
    fn defaults(caller: &AuthUser) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("owner_id".into(), Value::String(caller.id.to_string()));
        fields
    }

    /// Up to `limit` records `caller` may see (all, with no caller), not
    /// deleted, with an id after `after`, in id order: each id with its
    /// row's JSON body (the record's fields at the top level).
    async fn export_page(
        conn: &impl ConnectionTrait,
        caller: Option<&AuthUser>,
        after: Option<Uuid>,
        limit: u64,
    ) -> ApiResult<Vec<(Uuid, Value)>>;
}

impl CsvKind for Accounts {
    const PLURAL: &'static str = "accounts";
    const COLUMNS: &'static [Column] = &[
        column("name", "name", Format::Text),
        column("segment", "segment", Format::Text),
        column("tier", "tier", Format::Text),
        column("proposed_tier", "proposed_tier", Format::Text),
        column("stage", "stage", Format::Text),
        column("owner", "owner_id", Format::User),
        column("industry", "industry", Format::Text),
        column("phone", "phone", Format::Text),
        column("website", "website", Format::Text),
        column("street", "address.street", Format::Text),
        column("city", "address.city", Format::Text),
        column("region", "address.region", Format::Text),
        column("postal_code", "address.postal_code", Format::Text),
        column("country", "address.country", Format::Text),
        column("lat", "location.lat", Format::Decimal),
        column("lon", "location.lon", Format::Decimal),
        column("score_need", "scores.need", Format::Integer),
        column(
            "score_purchasing_power",
            "scores.purchasing_power",
            Format::Integer,
        ),
        column("score_loyalty", "scores.loyalty", Format::Integer),
        column("score_size", "scores.size", Format::Integer),
        column(
            "score_strategic_value",
            "scores.strategic_value",
            Format::Integer,
        ),
        column("tags", "tags", Format::List),
        column("notes", "notes", Format::Text),
    ];

    async fn export_page(
        conn: &impl ConnectionTrait,
        caller: Option<&AuthUser>,
        after: Option<Uuid>,
        limit: u64,
    ) -> ApiResult<Vec<(Uuid, Value)>> {
        let mut condition = caller
            .and_then(account_scope)
            .unwrap_or_else(Condition::all)
            .add(account::Column::Deleted.eq(false));
        if let Some(after) = after {
            condition = condition.add(account::Column::Id.gt(after));
        }
        Ok(account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .column(account::Column::Body)
            .filter(condition)
            .order_by_asc(account::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(conn)
            .await?)
    }
}

impl CsvKind for Visits {
    const PLURAL: &'static str = "visits";
    const COLUMNS: &'static [Column] = &[
        column("account_id", "account_id", Format::Text),
        column("owner", "owner_id", Format::User),
        column("planned_at", "planned_at", Format::Text),
        column("type", "type", Format::Text),
        column("purpose", "purpose", Format::Text),
        column("status", "status", Format::Text),
        column("summary", "summary", Format::Text),
        column("outcome", "outcome", Format::Text),
        column("next_visit_on", "next_visit_on", Format::Text),
        column("key_person_ids", "key_person_ids", Format::List),
    ];

    async fn export_page(
        conn: &impl ConnectionTrait,
        caller: Option<&AuthUser>,
        after: Option<Uuid>,
        limit: u64,
    ) -> ApiResult<Vec<(Uuid, Value)>> {
        let mut condition = Condition::all().add(visit::Column::Deleted.eq(false));
        if let Some(visible) = caller.and_then(visible_account_ids) {
            condition = condition.add(visit::Column::AccountId.in_subquery(visible));
        }
        if let Some(after) = after {
            condition = condition.add(visit::Column::Id.gt(after));
        }
        Ok(visit::Entity::find()
            .select_only()
            .column(visit::Column::Id)
            .column(visit::Column::Body)
            .filter(condition)
            .order_by_asc(visit::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(conn)
            .await?)
    }
}

impl CsvKind for Contacts {
    const PLURAL: &'static str = "contacts";
    const COLUMNS: &'static [Column] = &[
        column("account_id", "account_id", Format::Text),
        column("name", "name", Format::Text),
        column("title", "title", Format::Text),
        column("department", "department", Format::Text),
        column("phone", "phone", Format::Text),
        column("email", "email", Format::Text),
        column("wechat", "wechat", Format::Text),
        column("birthday", "birthday", Format::Text),
        column("buying_role", "buying_role", Format::Text),
        column("attitude", "attitude", Format::Text),
        column("influence", "influence", Format::Integer),
        column(
            "relationship_strength",
            "relationship_strength",
            Format::Integer,
        ),
        column("personality", "personality", Format::Text),
        column("org_needs", "org_needs", Format::List),
        column("personal_needs", "personal_needs", Format::List),
        column("reports_to", "reports_to", Format::Text),
        column("notes", "notes", Format::Text),
    ];

    /// A key person has no owner: they belong to their account.
    fn defaults(_caller: &AuthUser) -> Map<String, Value> {
        Map::new()
    }

    async fn export_page(
        conn: &impl ConnectionTrait,
        caller: Option<&AuthUser>,
        after: Option<Uuid>,
        limit: u64,
    ) -> ApiResult<Vec<(Uuid, Value)>> {
        let mut condition = Condition::all().add(contact::Column::Deleted.eq(false));
        if let Some(visible) = caller.and_then(visible_account_ids) {
            condition = condition.add(contact::Column::AccountId.in_subquery(visible));
        }
        if let Some(after) = after {
            condition = condition.add(contact::Column::Id.gt(after));
        }
        Ok(contact::Entity::find()
            .select_only()
            .column(contact::Column::Id)
            .column(contact::Column::Body)
            .filter(condition)
            .order_by_asc(contact::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(conn)
            .await?)
    }
}

/// The kinds that import and export as CSV, by their plural name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum CsvKindName {
    /// Accounts.
    Accounts,
    /// Visits.
    Visits,
    /// Contacts: the key persons at accounts. Their old names, `key_persons`
    /// in a route and `key-persons` in a command, are still accepted
    /// (deprecated), so that existing scripts keep working.
    #[serde(alias = "key_persons")]
    #[value(alias = "key-persons")]
    Contacts,
}

impl CsvKindName {
    /// Its plural name (`accounts`).
    pub fn plural(self) -> &'static str {
        match self {
            Self::Accounts => Accounts::PLURAL,
            Self::Visits => Visits::PLURAL,
            Self::Contacts => Contacts::PLURAL,
        }
    }

    /// Imports a file of this kind (see [`super::import`]).
    pub async fn import(
        self,
        state: &AppState,
        caller: &AuthUser,
        meta: &ChangeMeta,
        bytes: &[u8],
        dry_run: bool,
        progress: &dyn Fn(u64, u64),
    ) -> ApiResult<ImportReport> {
        match self {
            Self::Accounts => {
                super::import::<Accounts>(state, caller, meta, bytes, dry_run, progress).await
            }
            Self::Visits => {
                super::import::<Visits>(state, caller, meta, bytes, dry_run, progress).await
            }
            Self::Contacts => {
                super::import::<Contacts>(state, caller, meta, bytes, dry_run, progress).await
            }
        }
    }

    /// Exports this kind (see [`super::export`]).
    pub async fn export(
        self,
        state: &AppState,
        caller: Option<&AuthUser>,
        out: impl std::io::Write,
    ) -> ApiResult<u64> {
        match self {
            Self::Accounts => super::export::<Accounts>(state, caller, out).await,
            Self::Visits => super::export::<Visits>(state, caller, out).await,
            Self::Contacts => super::export::<Contacts>(state, caller, out).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kam_sync_core::Record;

    fn paths_are_fields<K: CsvKind>() {
        for column in K::COLUMNS {
            let top = column.path.split('.').next().unwrap_or_default();
            assert!(
                <K::Record as Record>::FIELDS.contains(&top),
                "{} column {} names no field",
                K::PLURAL,
                column.name
            );
        }
    }

    #[test]
    fn every_column_names_a_field_of_its_record() {
        paths_are_fields::<Accounts>();
        paths_are_fields::<Visits>();
        paths_are_fields::<Contacts>();
    }
}
