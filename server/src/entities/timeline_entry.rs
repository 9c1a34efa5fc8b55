//! The customer file's entries: one per stored change set of a record, with
//! who made it, from which device and when as the server knows them (the
//! session that wrote it, the time it was stored), and what it changed.

use sea_orm::entity::prelude::*;

/// A row of `timeline_entries`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "timeline_entries")]
pub struct Model {
    /// The change-log position of the change set it describes.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// The account the record belongs to (its own id for an account).
    pub account_id: Uuid,
    /// The record.
    pub record_id: Uuid,
    /// Its kind.
    pub record_kind: String,
    /// The user whose session wrote it; `None` for the server's own changes.
    pub user_id: Option<Uuid>,
    /// The device of that session (`server` for the server's own changes).
    pub device_id: String,
    /// When the server stored it.
    pub at: DateTimeUtc,
    /// The latest time the device's own clock put on the changes, unverified.
    pub device_time: Option<DateTimeUtc>,
    /// `created` or `changed`.
    pub what: String,
    /// For `created`: the record as created.
    pub fields: Option<Json>,
    /// For `changed`: the changed fields with old and new values.
    pub changes: Json,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
