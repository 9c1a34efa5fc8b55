//! Materialized tickets.

use sea_orm::entity::prelude::*;

/// A row of `tickets`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The account.
    pub account_id: Uuid,
    /// Type code (complaint, service_request, question).
    pub ticket_type: String,
    /// Severity code.
    pub severity: String,
    /// Status code.
    pub status: String,
    /// Who works it.
    pub assignee_id: Option<Uuid>,
    /// The key person who reported it.
    pub contact_id: Option<Uuid>,
    /// When its SLA runs out.
    pub sla_due_at: DateTimeUtc,
    /// When it was resolved (or closed without passing through resolved).
    pub resolved_at: Option<DateTimeUtc>,
    /// When it was closed.
    pub closed_at: Option<DateTimeUtc>,
    /// Seconds from opening to resolution, for the average in reports.
    pub resolution_secs: Option<i64>,
    /// Soft-deleted.
    pub deleted: bool,
    /// Creator.
    pub created_by: Option<Uuid>,
    /// Creation time, which is when the ticket opened.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
    /// Change-log position of the last change.
    pub version: i64,
    /// The API view (`TicketView`).
    pub body: Json,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
