//! `/opportunities`: sales opportunities at accounts, and
//! `/reports/pipeline`, the pipeline by stage with the conversion rate.

use super::{child_record_routes, merge_patch_schema, new_record_schema};
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::error::responses::{ListErrors, WriteErrors};
use crate::records::contracts::ContractView;
use crate::records::opportunities::{
    self, ContractTerms, Opportunities, OpportunityFilter, OpportunityView, Pipeline,
    PipelineFilter,
};
use crate::routes::body::Json;
use crate::state::AppState;
use actix_web::{HttpResponse, get, post, web};
use kam_sync_core::Opportunity;
use utoipa_actix_web::service_config::ServiceConfig;

merge_patch_schema!(
    /// A merge patch of an opportunity.
    OpportunityPatch for Opportunity
);

new_record_schema!(
    /// A new opportunity (the owner defaults to the caller).
    NewOpportunity for Opportunity, defaulted: ["owner_id"]
);

mod crud {
    //! The five record routes of opportunities.
    use super::{
        NewOpportunity, Opportunities, OpportunityFilter, OpportunityPatch, OpportunityView,
    };

    super::child_record_routes!(
        kind: Opportunities,
        tag: "opportunities",
        names: { one: "Opportunity", many: "Opportunities" },
        list: "/opportunities",
        item: "/opportunities/{id}",
        view: OpportunityView,
        filter: OpportunityFilter,
        new: NewOpportunity,
        patch: OpportunityPatch,
        docs: {
            list: "List the opportunities at the accounts in the caller's scope, newest first.",
            create: "Open an opportunity at an account the caller can see; it starts at an open stage (research unless given) and the owner defaults to the caller.",
            get: "Read an opportunity: the merged record, its weighted amount, days to close, stage history and any concurrent values.",
            update: "Change an opportunity with a JSON merge patch. Stages advance one step at a time (research, planning, negotiation, contract), won only from contract, lost from any open stage with a `lost_reason`; moving back (reopening) is a manager's call. A refused move is a 422 `invalid_stage_move` (403 `stage_reopen_forbidden` for a rep moving back). `stage_history`, `won_on` and `lost_on` are kept by the server.",
            delete: "Delete an opportunity (soft: `deleted` becomes true).",
        },
    );
}

/// Mounts the opportunity routes; the pipeline before `/opportunities/{id}`,
/// which would take its name for an id.
pub fn configure(config: &mut ServiceConfig) {
    config.service(pipeline).service(contract_from);
    crud::configure(config);
}

/// The sales pipeline in the caller's scope: per stage, how many
/// opportunities, their total and weighted amounts (amount × probability,
/// the stage's default probability when none is given), the open totals,
/// won and lost counts and the conversion rate won / (won + lost). Amounts
/// are in one currency (`currency`, default CNY). The close range compares
/// the expected close date of open deals and the day closed ones were won
/// or lost.
#[utoipa::path(
    operation_id = "getPipeline",
    tag = "opportunities",
    params(PipelineFilter),
    responses((status = 200, body = Pipeline), ListErrors),
    security(("bearer" = []))
)]
#[get("/reports/pipeline")]
async fn pipeline(
    state: web::Data<AppState>,
    caller: AuthUser,
    filter: web::Query<PipelineFilter>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(opportunities::pipeline(&state, &caller, filter.into_inner()).await?))
}

/// Make the contract a won opportunity closes (合同): the account, owner,
/// amount and currency come from the opportunity; one contract per
/// opportunity.
#[utoipa::path(
    operation_id = "createContractFromOpportunity",
    tag = "opportunities",
    params(("id" = uuid::Uuid, Path, description = "Opportunity id")),
    request_body = ContractTerms,
    responses(
        (status = 201, body = ContractView, headers(("ETag" = String))),
        WriteErrors
    ),
    security(("bearer" = []))
)]
#[post("/opportunities/{id}/contract")]
async fn contract_from(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<uuid::Uuid>,
    terms: Json<ContractTerms>,
) -> ApiResult<HttpResponse> {
    let view =
        opportunities::contract_from(&state, &caller, id.into_inner(), terms.into_inner()).await?;
    Ok(super::record_response(
        actix_web::http::StatusCode::CREATED,
        view.version,
        &view,
    ))
}
