//! The product catalogue (产品目录) and the rules on line items that name
//! its products. Products are plain rows that admins manage online (code,
//! name, unit, list price, active); every signed-in user reads them, so a
//! phone caches the catalogue and prices lines offline. A product is never
//! deleted, it is deactivated: lines that name it keep it, new lines may
//! not add it.
//!
//! A record with line items (an opportunity, a contract) has the sum of
//! their amounts as its amount ([`settled_amount`]); the lines are also
//! kept as rows (`opportunity_lines`, `contract_lines`, [`LineRow`]) so the
//! product report adds volumes up in SQL.

use super::page::{self, Page};
use super::{Precondition, check_currency, check_precondition, with_json_fields};
use crate::auth::{AuthUser, Role};
use crate::entities::product;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use kam_sync_core::Violation;
use kam_sync_core::ids::ProductId;
use kam_sync_core::line_item::{self, LineItem};
use kam_sync_core::money::{Currency, Money};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashSet;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Longest product code.
pub const MAX_CODE_LEN: usize = 64;
/// Longest product name.
pub const MAX_NAME_LEN: usize = 200;
/// Longest unit.
pub const MAX_UNIT_LEN: usize = 32;
/// Longest description.
pub const MAX_DESCRIPTION_LEN: usize = 2_000;

/// A product as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductView {
    /// Id.
    pub id: ProductId,
    /// Product code, unique (the ERP's material number, say).
    pub code: String,
    /// Name.
    pub name: String,
    /// The unit a line's quantity counts: 台, 套, kg, licence, ...
    pub unit: String,
    /// List price of one unit, in the currency's major unit.
    pub list_price: Money,
    /// ISO 4217 code of the list price.
    pub currency: String,
    /// Description.
    pub description: Option<String>,
    /// Whether new lines may name it; an inactive product stays on the
    /// lines that have it.
    pub active: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Bumped on every change; its ETag.
    pub version: i64,
}

impl TryFrom<product::Model> for ProductView {
    type Error = ApiError;

    fn try_from(row: product::Model) -> ApiResult<Self> {
        let list_price = Money::from_minor(row.list_price_minor).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("product {} has a bad price", row.id))
        })?;
        Ok(Self {
            id: ProductId(row.id),
            code: row.code,
            name: row.name,
            unit: row.unit,
            list_price,
            currency: row.currency,
            description: row.description,
            active: row.active,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        })
    }
}

/// A new product.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    /// Optional client-chosen id (UUIDv7 made by the server otherwise).
    #[serde(default)]
    pub id: Option<ProductId>,
    /// Product code: unique, 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64)]
    pub code: String,
    /// Name, 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The unit a quantity counts, 1 to 32 characters.
    #[schema(min_length = 1, max_length = 32)]
    pub unit: String,
    /// List price of one unit, in the currency's major unit.
    pub list_price: Money,
    /// ISO 4217 code; defaults to CNY.
    #[serde(default)]
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// Description, up to 2000 characters.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Whether new lines may name it (default true).
    #[serde(default)]
    pub active: Option<bool>,
}

/// The fields of a product its admins choose. A merge patch is applied to
/// them and the result checked whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductFields {
    /// Product code, unique.
    #[schema(min_length = 1, max_length = 64)]
    pub code: String,
    /// Name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The unit a quantity counts.
    #[schema(min_length = 1, max_length = 32)]
    pub unit: String,
    /// List price of one unit.
    pub list_price: Money,
    /// ISO 4217 code.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// Whether new lines may name it.
    pub active: bool,
}

impl ProductFields {
    fn of_view(view: ProductView) -> Self {
        Self {
            code: view.code,
            name: view.name,
            unit: view.unit,
            list_price: view.list_price,
            currency: view.currency,
            description: view.description,
            active: view.active,
        }
    }

    /// Trims the text and drops a blank description.
    fn normalized(mut self) -> Self {
        self.code = self.code.trim().to_owned();
        self.name = self.name.trim().to_owned();
        self.unit = self.unit.trim().to_owned();
        self.description = self.description.filter(|d| !d.trim().is_empty());
        self
    }

    /// The rules on one state of a product.
    fn check(&self) -> ApiResult<()> {
        let mut out = Vec::new();
        for (field, text, max) in [
            ("code", &self.code, MAX_CODE_LEN),
            ("name", &self.name, MAX_NAME_LEN),
            ("unit", &self.unit, MAX_UNIT_LEN),
        ] {
            if text.is_empty() || text.chars().count() > max {
                out.push(Violation::new(
                    field,
                    "invalid_value",
                    format!("1 to {max} characters"),
                ));
            }
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_LEN)
        {
            out.push(Violation::new(
                "description",
                "too_long",
                format!("at most {MAX_DESCRIPTION_LEN} characters"),
            ));
        }
        out.extend(self.list_price.negative_violation("list_price"));
        check_currency("currency", &self.currency)?;
        if out.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(out))
        }
    }

    fn active_model(&self, now: DateTime<Utc>) -> product::ActiveModel {
        product::ActiveModel {
            code: Set(self.code.clone()),
            name: Set(self.name.clone()),
            unit: Set(self.unit.clone()),
            list_price_minor: Set(self.list_price.minor()),
            currency: Set(self.currency.clone()),
            description: Set(self.description.clone()),
            active: Set(self.active),
            updated_at: Set(now),
            ..Default::default()
        }
    }
}

/// Filters for listing products; all combine with AND.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProductFilter {
    /// Only active (`true`) or only inactive (`false`) products.
    pub active: Option<bool>,
    /// Code or name contains this text (case-sensitive on PostgreSQL).
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Page size (default 50), up to the server's `max_page_size` (500 unless configured).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

fn code_taken() -> ApiError {
    ApiError::new(ErrorCode::ProductCodeTaken, "another product has this code")
}

/// A write that lost a race for a code to a concurrent one is the same 409.
fn unique_code(err: sea_orm::DbErr) -> ApiError {
    match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => code_taken(),
        _ => ApiError::from(err),
    }
}

async fn check_code_free(conn: &impl ConnectionTrait, code: &str, except: Uuid) -> ApiResult<()> {
    let taken = product::Entity::find()
        .select_only()
        .column(product::Column::Id)
        .filter(product::Column::Code.eq(code))
        .filter(product::Column::Id.ne(except))
        .into_tuple::<Uuid>()
        .one(conn)
        .await?;
    match taken {
        Some(_) => Err(code_taken()),
        None => Ok(()),
    }
}

/// Adds a product to the catalogue (admins only).
pub async fn create(
    state: &AppState,
    caller: &AuthUser,
    new: NewProduct,
) -> ApiResult<ProductView> {
    caller.require(&[Role::Admin])?;
    add(state, new).await
}

/// Adds a product to the catalogue, whoever asks (the demo's seeding; the
/// API goes through [`create`]).
pub async fn add(state: &AppState, new: NewProduct) -> ApiResult<ProductView> {
    let id = new.id.map_or_else(Uuid::now_v7, |id| id.0);
    let fields = ProductFields {
        code: new.code,
        name: new.name,
        unit: new.unit,
        list_price: new.list_price,
        currency: new.currency.unwrap_or_else(|| Currency::default().into()),
        description: new.description,
        active: new.active.unwrap_or(true),
    }
    .normalized();
    fields.check()?;
    let txn = state.db.begin_write().await?;
    if product::Entity::find_by_id(id).one(&txn).await?.is_some() {
        return Err(ApiError::new(
            ErrorCode::AlreadyExists,
            "a product with this id exists",
        ));
    }
    check_code_free(&txn, &fields.code, id).await?;
    let now = Utc::now();
    let row = product::ActiveModel {
        id: Set(id),
        created_at: Set(now),
        version: Set(1),
        ..fields.active_model(now)
    }
    .insert(&txn)
    .await
    .map_err(unique_code)?;
    txn.commit().await?;
    tracing::info!(product_id = %id, "product created");
    ProductView::try_from(row)
}

/// Reads one product.
pub async fn get(state: &AppState, id: Uuid) -> ApiResult<ProductView> {
    product::Entity::find_by_id(id)
        .one(state.db.conn())
        .await?
        .ok_or_else(|| ApiError::not_found("product"))?
        .try_into()
}

/// Lists the catalogue, newest first.
pub async fn list(state: &AppState, filter: ProductFilter) -> ApiResult<Page<ProductView>> {
    let limit = Page::<ProductView>::limit(filter.limit, state.settings.server.max_page_size)?;
    let mut condition = Condition::all();
    if let Some(active) = filter.active {
        condition = condition.add(product::Column::Active.eq(active));
    }
    if let Some(text) = filter.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        if text.chars().count() > MAX_NAME_LEN {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                format!("q is at most {MAX_NAME_LEN} characters"),
            ));
        }
        condition = condition.add(
            Condition::any()
                .add(product::Column::Code.contains(text))
                .add(product::Column::Name.contains(text)),
        );
    }
    let rows = page::rows_after::<product::Entity>(
        state.db.conn(),
        condition,
        product::Column::Id,
        filter.cursor.as_deref(),
        limit,
    )
    .await?;
    let items = rows
        .into_iter()
        .map(ProductView::try_from)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, limit, |view| view.id.0))
}

/// Changes a product with a merge patch (admins only), honouring `If-Match`.
pub async fn update(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    patch: Map<String, Value>,
    precondition: Option<&Precondition>,
) -> ApiResult<ProductView> {
    caller.require(&[Role::Admin])?;
    let txn = state.db.begin_write().await?;
    let row = product::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("product"))?;
    check_precondition(precondition, row.version)?;
    let current = ProductFields::of_view(ProductView::try_from(row.clone())?);
    let current_json = serde_json::to_value(&current).map_err(ApiError::internal)?;
    let next: ProductFields = serde_json::from_value(with_json_fields(&current_json, &patch))
        .map_err(|err| ApiError::new(ErrorCode::InvalidBody, err.to_string()))?;
    let next = next.normalized();
    next.check()?;
    if next == current {
        return ProductView::try_from(row);
    }
    if next.code != current.code {
        check_code_free(&txn, &next.code, id).await?;
    }
    let updated = product::ActiveModel {
        id: Set(id),
        version: Set(row.version + 1),
        ..next.active_model(Utc::now())
    }
    .update(&txn)
    .await
    .map_err(unique_code)?;
    txn.commit().await?;
    tracing::info!(product_id = %id, version = updated.version, "product changed");
    ProductView::try_from(updated)
}

/// What is wrong with the products `after` adds to the lines `before`, if
/// anything: a product that does not exist (`unknown_product`) or is
/// inactive (`inactive_product`), reported on `field`. Lines kept from
/// before keep their product whatever its state.
pub async fn unusable_products(
    conn: &impl ConnectionTrait,
    field: &str,
    before: &[LineItem],
    after: &[LineItem],
) -> ApiResult<Option<ApiError>> {
    let kept: HashSet<ProductId> = before.iter().map(|l| l.product_id).collect();
    let added: HashSet<Uuid> = after
        .iter()
        .map(|l| l.product_id)
        .filter(|p| !kept.contains(p))
        .map(|p| p.0)
        .collect();
    if added.is_empty() {
        return Ok(None);
    }
    let found: Vec<(Uuid, bool)> = product::Entity::find()
        .select_only()
        .column(product::Column::Id)
        .column(product::Column::Active)
        .filter(product::Column::Id.is_in(added.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    if found.len() < added.len() {
        return Ok(Some(ApiError::invalid_field(
            field,
            "unknown_product",
            "a line names a product the catalogue does not have",
        )));
    }
    Ok(found.iter().any(|(_, active)| !active).then(|| {
        ApiError::invalid_field(
            field,
            "inactive_product",
            "a line adds a product that is no longer sold",
        )
    }))
}

/// The amount a record with `lines` has, given the `amount` its writer
/// left (`before`: the amount it had, `None` for a new record): without
/// lines, the writer's; with lines, their sum. `Err` holds that sum when
/// the writer set another amount than the lines give (`amount_mismatch`
/// from [`amount_mismatch`]).
pub fn settled_amount(
    lines: &[LineItem],
    before: Option<Option<Money>>,
    amount: Option<Money>,
) -> Result<Option<Money>, Money> {
    let Some(sum) = (!lines.is_empty())
        .then(|| line_item::total(lines))
        .flatten()
    else {
        return Ok(amount);
    };
    let written = match before {
        Some(before) => before != amount,
        None => amount.is_some(),
    };
    if written && amount != Some(sum) {
        Err(sum)
    } else {
        Ok(Some(sum))
    }
}

/// The refusal of an amount that is not the sum of the lines.
pub fn amount_mismatch(sum: Money) -> ApiError {
    ApiError::invalid_field(
        "amount",
        "amount_mismatch",
        format!("with line items the amount is their sum, {sum}; leave it out to have it set"),
    )
}

/// A line as a row of `opportunity_lines` or `contract_lines` holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LineRow {
    /// The line's id.
    pub id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// Its place in the list.
    pub position: i64,
    /// Quantity.
    pub quantity: i64,
    /// Unit price, minor units.
    pub unit_price_minor: i64,
    /// Discount in percent.
    pub discount_percent: i64,
    /// The line's amount, minor units.
    pub amount_minor: i64,
}

/// The rows of `lines`, in order. Lines checked by
/// [`line_item::violations`] have amounts; a line without one (beyond the
/// largest amount) is an internal error.
pub fn line_rows(lines: &[LineItem]) -> ApiResult<Vec<LineRow>> {
    lines
        .iter()
        .zip(0_i64..)
        .map(|(line, position)| {
            let amount = line.amount().ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("line {} is beyond any amount", line.id))
            })?;
            Ok(LineRow {
                id: line.id,
                product_id: line.product_id.0,
                position,
                quantity: line.quantity,
                unit_price_minor: line.unit_price.minor(),
                discount_percent: line.discount_percent,
                amount_minor: amount.minor(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(quantity: i64, price_minor: i64) -> LineItem {
        LineItem {
            id: Uuid::now_v7(),
            product_id: ProductId::new_v7(),
            quantity,
            unit_price: Money::from_minor(price_minor).unwrap_or_default(),
            discount_percent: 0,
        }
    }

    #[test]
    fn without_lines_the_amount_is_the_writers() {
        let amount = Money::from_minor(500);
        assert_eq!(settled_amount(&[], None, amount), Ok(amount));
        assert_eq!(settled_amount(&[], Some(None), None), Ok(None));
    }

    #[test]
    fn with_lines_an_amount_left_alone_follows_them_and_another_is_refused() {
        let lines = [line(2, 1_000), line(1, 50)];
        let sum = Money::from_minor(2_050).unwrap_or_default();
        let old = Money::from_minor(9_999);
        assert_eq!(settled_amount(&lines, Some(old), old), Ok(Some(sum)));
        assert_eq!(settled_amount(&lines, None, None), Ok(Some(sum)));
        assert_eq!(settled_amount(&lines, None, Some(sum)), Ok(Some(sum)));
        assert_eq!(
            settled_amount(&lines, Some(old), Money::from_minor(1)),
            Err(sum)
        );
        assert_eq!(settled_amount(&lines, None, Money::from_minor(1)), Err(sum));
    }
}
