//! Contracts (合同): legal records edited only online, as plain rows with a
//! version for optimistic concurrency (not Automerge documents). A contract
//! is visible to whoever sees its account; it is never deleted, it is
//! terminated. Other services create one through [`create`], inside their
//! own transaction (an opportunity that is won, say).

use super::page::{self, Page};
use super::{Precondition, check_currency, check_precondition, products, with_json_fields};
use crate::access::{require_writer, visible_account_ids};
use crate::auth::{AuthUser, Role};
use crate::db::insert_each;
use crate::entities::{contract, contract_line, opportunity, user};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::records::accounts::visible_row;
use crate::state::AppState;
use chrono::{DateTime, NaiveDate, Utc};
use kam_sync_core::Violation;
use kam_sync_core::ids::{AccountId, ContractId, OpportunityId, UserId};
use kam_sync_core::line_item::{self, LineItem};
use kam_sync_core::money::{Currency, Money};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Longest contract number.
pub const MAX_NUMBER_LEN: usize = 64;
/// Longest payment terms.
pub const MAX_PAYMENT_TERMS_LEN: usize = 1000;
/// Longest notes.
pub const MAX_NOTES_LEN: usize = 10_000;

/// Where a contract is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    /// Being drawn up; not signed yet.
    Draft,
    /// Signed and running (requires `signed_on`).
    Active,
    /// Fulfilled; final.
    Completed,
    /// Ended early, or a draft abandoned; final.
    Terminated,
}

impl ContractStatus {
    /// Stable code, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Terminated => "terminated",
        }
    }

    /// Parses a stored code.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "draft" => Some(Self::Draft),
            "active" => Some(Self::Active),
            "completed" => Some(Self::Completed),
            "terminated" => Some(Self::Terminated),
            _ => None,
        }
    }

    /// Completed and terminated contracts are final.
    pub fn is_closed(self) -> bool {
        matches!(self, Self::Completed | Self::Terminated)
    }

    /// Whether a contract may move from this status to `to`: a draft is
    /// signed (active) or abandoned (terminated); an active contract is
    /// completed or terminated. Staying put is always allowed.
    pub fn can_move_to(self, to: Self) -> bool {
        self == to
            || matches!(
                (self, to),
                (Self::Draft, Self::Active | Self::Terminated)
                    | (Self::Active, Self::Completed | Self::Terminated)
            )
    }

    /// Whether a contract in this status must have been signed.
    pub fn needs_signing_date(self) -> bool {
        matches!(self, Self::Active | Self::Completed)
    }
}

/// A contract as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ContractView {
    /// Id.
    pub id: ContractId,
    /// Contract number, unique.
    pub number: String,
    /// The account.
    pub account_id: AccountId,
    /// The opportunity it closes, if any.
    pub opportunity_id: Option<OpportunityId>,
    /// The user the contract counts for (sales targets).
    pub owner_id: UserId,
    /// Amount, in the currency's major unit; with line items, their sum.
    pub amount: Money,
    /// ISO 4217 code.
    pub currency: String,
    /// The products sold, priced in `currency`.
    pub line_items: Vec<LineItem>,
    /// Signing date.
    pub signed_on: Option<NaiveDate>,
    /// First day of the term.
    pub start_on: Option<NaiveDate>,
    /// Last day of the term.
    pub end_on: Option<NaiveDate>,
    /// Payment terms (账期 and the like).
    pub payment_terms: Option<String>,
    /// Status.
    pub status: ContractStatus,
    /// Free notes.
    pub notes: Option<String>,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Bumped on every change; its ETag.
    pub version: i64,
}

impl TryFrom<contract::Model> for ContractView {
    type Error = ApiError;

    fn try_from(row: contract::Model) -> ApiResult<Self> {
        let status = ContractStatus::parse(&row.status).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "contract {} has unknown status {}",
                row.id,
                row.status
            ))
        })?;
        let amount = Money::from_minor(row.amount_minor).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("contract {} has a bad amount", row.id))
        })?;
        let line_items = serde_json::from_value(row.line_items).map_err(|err| {
            ApiError::internal(anyhow::anyhow!("contract {} has bad lines: {err}", row.id))
        })?;
        Ok(Self {
            id: ContractId(row.id),
            number: row.number,
            account_id: AccountId(row.account_id),
            opportunity_id: row.opportunity_id.map(OpportunityId),
            owner_id: UserId(row.owner_id),
            amount,
            currency: row.currency,
            line_items,
            signed_on: row.signed_on,
            start_on: row.start_on,
            end_on: row.end_on,
            payment_terms: row.payment_terms,
            status,
            notes: row.notes,
            created_by: row.created_by.map(UserId),
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        })
    }
}

/// A new contract.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContract {
    /// Optional client-chosen id (UUIDv7 made by the server otherwise).
    #[serde(default)]
    pub id: Option<ContractId>,
    /// Contract number: unique, 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64)]
    pub number: String,
    /// The account, one the caller can see.
    pub account_id: AccountId,
    /// The opportunity it closes: one of the same account (422
    /// `other_account` otherwise, `unknown_opportunity` for one the caller
    /// cannot see).
    #[serde(default)]
    pub opportunity_id: Option<OpportunityId>,
    /// The user it counts for; defaults to the account's owner.
    #[serde(default)]
    pub owner_id: Option<UserId>,
    /// Amount, in the currency's major unit: required without line items;
    /// with them, their sum (leave it out to have it set; another amount
    /// is 422 `amount_mismatch`).
    #[serde(default)]
    pub amount: Option<Money>,
    /// The products sold, priced in `currency`: each line's product from
    /// the catalogue and active (422 `unknown_product`, `inactive_product`).
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    /// ISO 4217 code; defaults to CNY.
    #[serde(default)]
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// Signing date (required for an active contract).
    #[serde(default)]
    pub signed_on: Option<NaiveDate>,
    /// First day of the term.
    #[serde(default)]
    pub start_on: Option<NaiveDate>,
    /// Last day of the term, not before its first.
    #[serde(default)]
    pub end_on: Option<NaiveDate>,
    /// Payment terms, up to 1000 characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub payment_terms: Option<String>,
    /// `draft` (the default) or `active`.
    #[serde(default)]
    pub status: Option<ContractStatus>,
    /// Free notes.
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
}

/// The state of a contract its writers choose: everything but the account,
/// the id and the bookkeeping. A merge patch is applied to it and the
/// result checked whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractFields {
    /// Contract number, unique.
    #[schema(min_length = 1, max_length = 64)]
    pub number: String,
    /// The opportunity it closes, one of the same account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity_id: Option<OpportunityId>,
    /// The user it counts for.
    pub owner_id: UserId,
    /// Amount, in the currency's major unit; with line items, their sum
    /// (left as it was, it follows the lines; another is 422 `amount_mismatch`).
    pub amount: Money,
    /// ISO 4217 code.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// The products sold, priced in `currency`; a line added names an
    /// active product of the catalogue.
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    /// Signing date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_on: Option<NaiveDate>,
    /// First day of the term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_on: Option<NaiveDate>,
    /// Last day of the term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_on: Option<NaiveDate>,
    /// Payment terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1000)]
    pub payment_terms: Option<String>,
    /// Status; moves `draft` → `active` → `completed` | `terminated`
    /// (a draft may also be terminated).
    pub status: ContractStatus,
    /// Free notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
}

impl ContractFields {
    fn of_row(row: &contract::Model) -> ApiResult<Self> {
        let view = ContractView::try_from(row.clone())?;
        Ok(Self {
            number: view.number,
            opportunity_id: view.opportunity_id,
            owner_id: view.owner_id,
            amount: view.amount,
            currency: view.currency,
            line_items: view.line_items,
            signed_on: view.signed_on,
            start_on: view.start_on,
            end_on: view.end_on,
            payment_terms: view.payment_terms,
            status: view.status,
            notes: view.notes,
        })
    }

    /// Trims the number and drops blank optional text.
    fn normalized(mut self) -> Self {
        self.number = self.number.trim().to_owned();
        let blank_to_none = |text: Option<String>| text.filter(|t| !t.trim().is_empty());
        self.payment_terms = blank_to_none(self.payment_terms);
        self.notes = blank_to_none(self.notes);
        self
    }

    /// The rules on one state of a contract, whatever it was before.
    fn check(&self) -> ApiResult<()> {
        let mut out = Vec::new();
        if self.number.is_empty() || self.number.chars().count() > MAX_NUMBER_LEN {
            out.push(Violation::new(
                "number",
                "invalid_value",
                format!("1 to {MAX_NUMBER_LEN} characters"),
            ));
        }
        out.extend(self.amount.negative_violation("amount"));
        out.extend(line_item::violations("line_items", &self.line_items));
        check_currency("currency", &self.currency)?;
        for (field, day) in [
            ("signed_on", self.signed_on),
            ("start_on", self.start_on),
            ("end_on", self.end_on),
        ] {
            if let Some(day) = day {
                super::check_date(field, day)?;
            }
        }
        if self
            .payment_terms
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_PAYMENT_TERMS_LEN)
        {
            out.push(Violation::new(
                "payment_terms",
                "too_long",
                format!("at most {MAX_PAYMENT_TERMS_LEN} characters"),
            ));
        }
        if self
            .notes
            .as_ref()
            .is_some_and(|t| t.chars().count() > MAX_NOTES_LEN)
        {
            out.push(Violation::new(
                "notes",
                "too_long",
                format!("at most {MAX_NOTES_LEN} characters"),
            ));
        }
        if let (Some(start), Some(end)) = (self.start_on, self.end_on)
            && end < start
        {
            out.push(Violation::new(
                "end_on",
                "end_before_start",
                "the term cannot end before it starts",
            ));
        }
        if self.status.needs_signing_date() && self.signed_on.is_none() {
            out.push(Violation::new(
                "signed_on",
                "signing_date_required",
                format!("a contract is {} only once signed", self.status.as_str()),
            ));
        }
        if out.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(out))
        }
    }

    /// Whether anything but the notes and the status differs from `other`.
    fn terms_differ(&self, other: &Self) -> bool {
        let terms = |f: &Self| Self {
            notes: None,
            status: ContractStatus::Draft,
            ..f.clone()
        };
        terms(self) != terms(other)
    }
}

/// Filters for listing contracts; all combine with AND, within the caller's scope.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContractFilter {
    /// Of this account.
    pub account_id: Option<Uuid>,
    /// Counting for this user.
    pub owner_id: Option<Uuid>,
    /// Closing this opportunity.
    pub opportunity_id: Option<Uuid>,
    /// In this status.
    pub status: Option<ContractStatus>,
    /// Signed on or after this day.
    pub signed_from: Option<NaiveDate>,
    /// Signed on or before this day.
    pub signed_to: Option<NaiveDate>,
    /// Page size (default 50), up to the server's `max_page_size` (500 unless configured).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn invalid_body(err: &serde_json::Error) -> ApiError {
    ApiError::new(ErrorCode::InvalidBody, err.to_string())
}

fn number_taken() -> ApiError {
    ApiError::new(
        ErrorCode::ContractNumberTaken,
        "another contract has this number",
    )
}

/// Refuses a number another contract has.
async fn check_number_free(
    conn: &impl ConnectionTrait,
    number: &str,
    except: Uuid,
) -> ApiResult<()> {
    let taken = contract::Entity::find()
        .filter(contract::Column::Number.eq(number))
        .filter(contract::Column::Id.ne(except))
        .count(conn)
        .await?;
    if taken > 0 {
        Err(number_taken())
    } else {
        Ok(())
    }
}

/// Who may be a contract's owner: an active user who can see its account.
/// A rep may name only themselves or the account's owner.
async fn check_owner(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    owner: UserId,
    account_id: Uuid,
    account_owner: Uuid,
) -> ApiResult<()> {
    if caller.role == Role::Rep && owner != caller.id && owner.0 != account_owner {
        return Err(ApiError::new(
            ErrorCode::OwnerChangeForbidden,
            "a rep names themselves or the account's owner as a contract's owner",
        ));
    }
    let owner_row = user::Entity::find_by_id(owner.0)
        .one(conn)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| {
            ApiError::invalid_field("owner_id", "unknown_user", "no active user has this id")
        })?;
    let owner_user = AuthUser::without_session(conn, &owner_row).await?;
    if visible_row(conn, &owner_user, account_id).await.is_err() {
        return Err(ApiError::invalid_field(
            "owner_id",
            "owner_cannot_see_account",
            "that user cannot see the contract's account; share it with them first",
        ));
    }
    Ok(())
}

/// Refuses an opportunity a contract of `account` may not close: one the
/// caller cannot see (or that does not exist) is `unknown_opportunity`, one
/// of another account `other_account`.
async fn check_opportunity(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    opportunity: OpportunityId,
    account: Uuid,
) -> ApiResult<()> {
    let unknown = || {
        ApiError::invalid_field(
            "opportunity_id",
            "unknown_opportunity",
            "no such opportunity",
        )
    };
    let owning_account = opportunity::Entity::find_by_id(opportunity.0)
        .select_only()
        .column(opportunity::Column::AccountId)
        .into_tuple::<Uuid>()
        .one(conn)
        .await?
        .ok_or_else(unknown)?;
    if owning_account == account {
        return Ok(());
    }
    visible_row(conn, caller, owning_account)
        .await
        .map_err(|_| unknown())?;
    Err(ApiError::invalid_field(
        "opportunity_id",
        "other_account",
        "the opportunity belongs to another account; a contract closes a deal of its own account",
    ))
}

/// Creates a contract for `caller` on `conn` (a connection or an open
/// transaction: a won opportunity creates its contract in its own
/// transaction). The caller must be a writer who sees the account; the
/// owner defaults to the account's owner. On SQLite, call it while holding
/// the database's write guard, as every writer does.
pub async fn create(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    new: NewContract,
) -> ApiResult<ContractView> {
    require_writer(caller)?;
    let id = new.id.map_or_else(Uuid::now_v7, |id| id.0);
    let account = visible_row(conn, caller, new.account_id.0)
        .await
        .map_err(|_| ApiError::invalid_field("account_id", "unknown_account", "no such account"))?;
    let status = new.status.unwrap_or(ContractStatus::Draft);
    if !matches!(status, ContractStatus::Draft | ContractStatus::Active) {
        return Err(ApiError::invalid_field(
            "status",
            "invalid_initial_status",
            "a new contract is a draft or active",
        ));
    }
    let amount = match products::settled_amount(&new.line_items, None, new.amount) {
        Ok(Some(amount)) => amount,
        Ok(None) => {
            return Err(ApiError::invalid_field(
                "amount",
                "required",
                "a contract without line items states its amount",
            ));
        }
        Err(sum) => return Err(products::amount_mismatch(sum)),
    };
    let fields = ContractFields {
        number: new.number,
        opportunity_id: new.opportunity_id,
        owner_id: new.owner_id.unwrap_or(UserId(account.owner_id)),
        amount,
        line_items: new.line_items,
        currency: new.currency.unwrap_or_else(|| Currency::default().into()),
        signed_on: new.signed_on,
        start_on: new.start_on,
        end_on: new.end_on,
        payment_terms: new.payment_terms,
        status,
        notes: new.notes,
    }
    .normalized();
    fields.check()?;
    if let Some(error) =
        products::unusable_products(conn, "line_items", &[], &fields.line_items).await?
    {
        return Err(error);
    }
    if let Some(opportunity) = fields.opportunity_id {
        check_opportunity(conn, caller, opportunity, account.id).await?;
    }
    if fields.owner_id.0 != account.owner_id {
        check_owner(conn, caller, fields.owner_id, account.id, account.owner_id).await?;
    }
    if contract::Entity::find_by_id(id).count(conn).await? > 0 {
        return Err(ApiError::new(
            ErrorCode::AlreadyExists,
            "a contract with this id exists",
        ));
    }
    check_number_free(conn, &fields.number, id).await?;
    let now = Utc::now();
    let row = contract::ActiveModel {
        id: Set(id),
        account_id: Set(account.id),
        created_by: Set(Some(caller.id.0)),
        created_at: Set(now),
        version: Set(1),
        ..active_model(&fields, now)
    }
    .insert(conn)
    .await
    .map_err(unique_number)?;
    store_lines(conn, &row, &fields.line_items).await?;
    crate::insight::refresh::after_write(conn, row.account_id).await?;
    tracing::info!(contract_id = %id, "contract created");
    ContractView::try_from(row)
}

/// Rewrites the `contract_lines` rows of `row` as `lines`.
async fn store_lines(
    conn: &impl ConnectionTrait,
    row: &contract::Model,
    lines: &[LineItem],
) -> ApiResult<()> {
    contract_line::Entity::delete_many()
        .filter(contract_line::Column::ContractId.eq(row.id))
        .exec(conn)
        .await?;
    let rows = products::line_rows(lines)?
        .into_iter()
        .map(|line| contract_line::ActiveModel {
            contract_id: Set(row.id),
            id: Set(line.id),
            account_id: Set(row.account_id),
            product_id: Set(line.product_id),
            position: Set(line.position),
            quantity: Set(line.quantity),
            unit_price_minor: Set(line.unit_price_minor),
            discount_percent: Set(line.discount_percent),
            amount_minor: Set(line.amount_minor),
            currency: Set(row.currency.clone()),
        })
        .collect();
    insert_each(conn, rows).await?;
    Ok(())
}

/// The columns a contract's writers choose, and `updated_at`.
fn active_model(fields: &ContractFields, now: DateTime<Utc>) -> contract::ActiveModel {
    contract::ActiveModel {
        number: Set(fields.number.clone()),
        opportunity_id: Set(fields.opportunity_id.map(|o| o.0)),
        owner_id: Set(fields.owner_id.0),
        amount_minor: Set(fields.amount.minor()),
        currency: Set(fields.currency.clone()),
        line_items: Set(serde_json::to_value(&fields.line_items).unwrap_or_default()),
        signed_on: Set(fields.signed_on),
        start_on: Set(fields.start_on),
        end_on: Set(fields.end_on),
        payment_terms: Set(fields.payment_terms.clone()),
        status: Set(fields.status.as_str().to_owned()),
        notes: Set(fields.notes.clone()),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// A write that lost a race for a number to a concurrent one is the same 409.
fn unique_number(err: sea_orm::DbErr) -> ApiError {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => number_taken(),
        _ => ApiError::from(err),
    }
}

/// Creates a contract through the API: [`create`] in a transaction of its own.
pub async fn create_one(
    state: &AppState,
    caller: &AuthUser,
    new: NewContract,
) -> ApiResult<ContractView> {
    let txn = state.db.begin_write().await?;
    let view = create(&txn, caller, new).await?;
    txn.commit().await?;
    crate::telemetry::record_id(view.id);
    Ok(view)
}

/// The contract row, if the caller may see its account (else 404).
async fn visible_contract(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    id: Uuid,
    lock: bool,
) -> ApiResult<contract::Model> {
    let mut query = contract::Entity::find_by_id(id);
    if lock && conn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    let row = query
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::not_found("contract"))?;
    visible_row(conn, caller, row.account_id)
        .await
        .map_err(|_| ApiError::not_found("contract"))?;
    Ok(row)
}

/// Reads one contract.
pub async fn get(state: &AppState, caller: &AuthUser, id: Uuid) -> ApiResult<ContractView> {
    crate::telemetry::record_id(id);
    visible_contract(state.db.conn(), caller, id, false)
        .await?
        .try_into()
}

/// Lists the contracts under the accounts in the caller's scope, newest first.
pub async fn list(
    state: &AppState,
    caller: &AuthUser,
    filter: ContractFilter,
) -> ApiResult<Page<ContractView>> {
    let limit = Page::<ContractView>::limit(filter.limit, state.settings.server.max_page_size)?;
    let mut condition = Condition::all();
    if let Some(visible) = visible_account_ids(caller) {
        condition = condition.add(contract::Column::AccountId.in_subquery(visible));
    }
    if let Some(account) = filter.account_id {
        condition = condition.add(contract::Column::AccountId.eq(account));
    }
    if let Some(owner) = filter.owner_id {
        condition = condition.add(contract::Column::OwnerId.eq(owner));
    }
    if let Some(opportunity) = filter.opportunity_id {
        condition = condition.add(contract::Column::OpportunityId.eq(opportunity));
    }
    if let Some(status) = filter.status {
        condition = condition.add(contract::Column::Status.eq(status.as_str()));
    }
    if let Some(from) = filter.signed_from {
        condition = condition.add(contract::Column::SignedOn.gte(from));
    }
    if let Some(to) = filter.signed_to {
        condition = condition.add(contract::Column::SignedOn.lte(to));
    }
    let rows = page::rows_after::<contract::Entity>(
        state.db.conn(),
        condition,
        contract::Column::Id,
        filter.cursor.as_deref(),
        limit,
    )
    .await?;
    let items = rows
        .into_iter()
        .map(ContractView::try_from)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, limit, |view| view.id.0))
}

/// Changes a contract with a merge patch, honouring `If-Match`: the status
/// moves are checked, a closed contract takes only notes, and the account
/// never changes.
pub async fn update(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    patch: Map<String, Value>,
    precondition: Option<&Precondition>,
) -> ApiResult<ContractView> {
    crate::telemetry::record_id(id);
    let txn = state.db.begin_write().await?;
    let row = visible_contract(&txn, caller, id, true).await?;
    require_writer(caller)?;
    check_precondition(precondition, row.version)?;
    let mut patch = patch;
    if let Some(account) = patch.remove("account_id")
        && account != Value::String(row.account_id.to_string())
    {
        return Err(ApiError::invalid_field(
            "account_id",
            "immutable_field",
            "a contract stays with its account",
        ));
    }
    let current = ContractFields::of_row(&row)?;
    let current_json = serde_json::to_value(&current).map_err(ApiError::internal)?;
    let next: ContractFields = serde_json::from_value(with_json_fields(&current_json, &patch))
        .map_err(|err| invalid_body(&err))?;
    let mut next = next.normalized();
    next.check()?;
    next.amount = products::settled_amount(
        &next.line_items,
        Some(Some(current.amount)),
        Some(next.amount),
    )
    .map_err(products::amount_mismatch)?
    .unwrap_or(next.amount);
    if current.status.is_closed() && next.terms_differ(&current) {
        return Err(ApiError::new(
            ErrorCode::ContractClosed,
            format!(
                "the contract is {}; only its notes may change",
                current.status.as_str()
            ),
        ));
    }
    if !current.status.can_move_to(next.status) {
        return Err(ApiError::new(
            ErrorCode::ContractStatusMove,
            format!(
                "a contract cannot move from {} to {}",
                current.status.as_str(),
                next.status.as_str()
            ),
        ));
    }
    if next == current {
        return ContractView::try_from(row);
    }
    if let Some(opportunity) = next.opportunity_id
        && next.opportunity_id != current.opportunity_id
    {
        check_opportunity(&txn, caller, opportunity, row.account_id).await?;
    }
    if next.owner_id != current.owner_id {
        let account = visible_row(&txn, caller, row.account_id).await?;
        check_owner(&txn, caller, next.owner_id, account.id, account.owner_id).await?;
    }
    if next.number != current.number {
        check_number_free(&txn, &next.number, id).await?;
    }
    if let Some(error) =
        products::unusable_products(&txn, "line_items", &current.line_items, &next.line_items)
            .await?
    {
        return Err(error);
    }
    let updated = contract::ActiveModel {
        id: Set(id),
        version: Set(row.version + 1),
        ..active_model(&next, Utc::now())
    }
    .update(&txn)
    .await
    .map_err(unique_number)?;
    if next.line_items != current.line_items || next.currency != current.currency {
        store_lines(&txn, &updated, &next.line_items).await?;
    }
    crate::insight::refresh::after_write(&txn, row.account_id).await?;
    txn.commit().await?;
    tracing::info!(contract_id = %id, version = updated.version, "contract changed");
    ContractView::try_from(updated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ContractStatus::{Active, Completed, Draft, Terminated};

    #[test]
    fn contracts_move_from_draft_to_active_to_completed_or_terminated() {
        for (from, to) in [
            (Draft, Active),
            (Draft, Terminated),
            (Active, Completed),
            (Active, Terminated),
            (Active, Active),
        ] {
            assert!(from.can_move_to(to), "{from:?} -> {to:?}");
        }
        for (from, to) in [
            (Draft, Completed),
            (Active, Draft),
            (Completed, Active),
            (Completed, Terminated),
            (Terminated, Draft),
            (Terminated, Active),
        ] {
            assert!(!from.can_move_to(to), "{from:?} -> {to:?}");
        }
    }

    fn fields() -> ContractFields {
        ContractFields {
            number: "HT-2026-001".into(),
            opportunity_id: None,
            owner_id: UserId::new_v7(),
            amount: Money::from_minor(100_000).unwrap_or_default(),
            currency: "CNY".into(),
            line_items: Vec::new(),
            signed_on: None,
            start_on: None,
            end_on: None,
            payment_terms: None,
            status: Draft,
            notes: None,
        }
    }

    fn violated(fields: &ContractFields) -> Option<String> {
        fields.check().err().map(|e| e.specific_code().to_owned())
    }

    #[test]
    fn an_active_contract_needs_its_signing_date() {
        let mut active = fields();
        active.status = Active;
        assert_eq!(violated(&active).as_deref(), Some("signing_date_required"));
        active.signed_on = NaiveDate::from_ymd_opt(2026, 3, 1);
        assert_eq!(violated(&active), None);
    }

    #[test]
    fn a_term_cannot_end_before_it_starts() {
        let mut contract = fields();
        contract.start_on = NaiveDate::from_ymd_opt(2026, 3, 1);
        contract.end_on = NaiveDate::from_ymd_opt(2026, 2, 28);
        assert_eq!(violated(&contract).as_deref(), Some("end_before_start"));
        contract.end_on = contract.start_on;
        assert_eq!(violated(&contract), None);
    }

    #[test]
    fn blank_or_overlong_numbers_and_terms_are_refused() {
        let blank = ContractFields {
            number: "   ".into(),
            ..fields()
        }
        .normalized();
        assert_eq!(violated(&blank).as_deref(), Some("invalid_value"));
        let long_terms = ContractFields {
            payment_terms: Some("x".repeat(MAX_PAYMENT_TERMS_LEN + 1)),
            ..fields()
        };
        assert_eq!(violated(&long_terms).as_deref(), Some("too_long"));
    }

    #[test]
    fn only_notes_and_status_are_not_terms() {
        let before = fields();
        let mut after = before.clone();
        after.notes = Some("paid in full".into());
        after.status = Completed;
        assert!(!after.terms_differ(&before));
        after.amount = Money::from_minor(1).unwrap_or_default();
        assert!(after.terms_differ(&before));
    }
}
