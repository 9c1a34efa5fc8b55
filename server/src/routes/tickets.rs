//! `/tickets`: complaints, service requests and questions at accounts, and
//! `/service/summary`, after-sale service at a glance.

use super::{child_record_routes, merge_patch_schema, new_record_schema};
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::error::responses::ReadErrors;
use crate::records::tickets::{self, ServiceSummary, TicketFilter, TicketView, Tickets};
use crate::state::AppState;
use actix_web::{HttpResponse, get, web};
use kam_sync_core::Ticket;
use utoipa_actix_web::service_config::ServiceConfig;

merge_patch_schema!(
    /// A merge patch of a ticket.
    TicketPatch for Ticket
);

new_record_schema!(
    /// A new ticket.
    NewTicket for Ticket, defaulted: []
);

mod crud {
    //! The five record routes of tickets.
    use super::{NewTicket, TicketFilter, TicketPatch, TicketView, Tickets};

    super::child_record_routes!(
        kind: Tickets,
        tag: "tickets",
        names: { one: "Ticket", many: "Tickets" },
        list: "/tickets",
        item: "/tickets/{id}",
        view: TicketView,
        filter: TicketFilter,
        new: NewTicket,
        patch: TicketPatch,
        docs: {
            list: "List the tickets at the accounts in the caller's scope, newest first.",
            create: "Open a ticket at an account the caller can see. Its SLA due time follows from its severity (setting `service.sla_hours.<severity>`).",
            get: "Read a ticket: the merged record, its SLA and resolution times, and any concurrent values.",
            update: "Change a ticket with a JSON merge patch. Status moves open → assigned → in_progress → resolved → closed (reopen: resolved → in_progress; a non-complaint still open may close at once with a resolution); others answer 422 `invalid_status_move`. A complaint closes only after a done `after_ticket` callback (422 `callback_required`).",
            delete: "Delete a ticket (soft: `deleted` becomes true).",
        },
    );
}

/// Mounts the ticket routes and the service summary.
pub fn configure(config: &mut ServiceConfig) {
    crud::configure(config);
    config.service(service_summary);
}

/// After-sale service over the accounts in the caller's scope: open tickets
/// by severity, tickets past their SLA, the mean hours to resolve, the mean
/// satisfaction of done callbacks and the low ratings, and complaints.
#[utoipa::path(
    operation_id = "getServiceSummary",
    tag = "tickets",
    responses((status = 200, body = ServiceSummary), ReadErrors),
    security(("bearer" = []))
)]
#[get("/service/summary")]
async fn service_summary(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(tickets::summary(&state, &caller).await?))
}
