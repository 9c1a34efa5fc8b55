//! `/contacts`: key persons at accounts, and `/accounts/{id}/org-chart`,
//! the reporting tree with the gaps in the decision map.

use super::{child_record_routes, merge_patch_schema, new_record_schema};
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::error::responses::ReadErrors;
use crate::records::contacts::{self, ContactFilter, ContactView, Contacts, OrgChart};
use crate::state::AppState;
use actix_web::{HttpResponse, get, web};
use kam_sync_core::Contact;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

merge_patch_schema!(
    /// A merge patch of a key person.
    ContactPatch for Contact
);

new_record_schema!(
    /// A new key person.
    NewContact for Contact, defaulted: []
);

mod crud {
    //! The five record routes of key persons.
    use super::{ContactFilter, ContactPatch, ContactView, Contacts, NewContact};

    super::child_record_routes!(
        kind: Contacts,
        tag: "contacts",
        names: { one: "Contact", many: "Contacts" },
        list: "/contacts",
        item: "/contacts/{id}",
        view: ContactView,
        filter: ContactFilter,
        new: NewContact,
        patch: ContactPatch,
        docs: {
            list: "List the key persons at the accounts in the caller's scope, newest first.",
            create: "Add a key person at an account the caller can see; an account holds at most 1,000 live (not deleted) key persons (422 `too_many_key_persons`).",
            get: "Read a key person: the merged record and any concurrent values.",
            update: "Change a key person with a JSON merge patch (attitude, influence, reports_to, ...).",
            delete: "Delete a key person (soft: `deleted` becomes true).",
        },
    );
}

/// Mounts the key-person routes.
pub fn configure(config: &mut ServiceConfig) {
    crud::configure(config);
    config.service(org_chart);
}

/// The account's org chart: who reports to whom, with buying roles and
/// attitudes, and the gaps in the decision map (no decision maker known, no
/// champion, an opponent with high influence, ...). Every live key person
/// appears once. The tree nests at most 32 levels: a person further down
/// heads a tree of their own, flagged by a `too_deep` gap; a reporting loop
/// is cut where it is found (`reporting_cycle`).
#[utoipa::path(
    operation_id = "getOrgChart",
    tag = "contacts",
    params(("id" = Uuid, Path, description = "Account id")),
    responses((status = 200, body = OrgChart), ReadErrors),
    security(("bearer" = []))
)]
#[get("/accounts/{id}/org-chart")]
async fn org_chart(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(contacts::org_chart(&state, &caller, id.into_inner()).await?))
}
