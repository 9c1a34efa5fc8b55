//! The change log: every change to every document, in one global sequence.

use sea_orm::entity::prelude::*;

/// A row of `doc_changes`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "doc_changes")]
pub struct Model {
    /// Global position in the log.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// The document.
    pub doc_id: Uuid,
    /// Its kind.
    pub kind: String,
    /// Automerge changes (`save_after` output).
    pub bytes: Vec<u8>,
    /// Who made it.
    pub user_id: Option<Uuid>,
    /// From which device.
    pub device_id: String,
    /// The login session that pushed it through sync (pulls skip a device's own changes).
    pub origin_session: Option<Uuid>,
    /// When it was stored.
    pub created_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
