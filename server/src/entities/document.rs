//! Record documents: a compacted Automerge snapshot plus the changes logged since.

use sea_orm::entity::prelude::*;

/// A row of `documents`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "documents")]
pub struct Model {
    /// The record's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Record kind (`account`, `visit`).
    pub kind: String,
    /// The account the record belongs to (its own id for an account): the scope key.
    pub account_id: Uuid,
    /// Change-log position of its last change.
    pub last_seq: i64,
    /// Its current heads (JSON array of hex change hashes).
    pub heads: Json,
    /// `save()` output as of `snapshot_seq`.
    pub snapshot: Vec<u8>,
    /// The last change-log sequence folded into the snapshot.
    pub snapshot_seq: i64,
    /// Changes logged after the snapshot.
    pub changes_since_snapshot: i32,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
