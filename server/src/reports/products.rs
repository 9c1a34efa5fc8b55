//! The product report (产品销量): volume and revenue per product and group
//! for a period. Signed: the line items of the contracts that count as
//! signed in the period (active or completed, signed in it: what revenue
//! targets count), by the user the contract counts for. Open: the line
//! items of open opportunities (not deleted) expected to close in the
//! period, by the deal's owner, with their amounts weighted by the deal's
//! probability. Quantities are in each product's unit, so they add up per
//! product only; amounts are in the report's currency (lines of records in
//! others count in quantities, not in amounts).

use super::pipeline::open_deals;
use super::{
    GroupBy, Grouping, Period, ReportGroup, ReportParams, ReportPeriod, get, run, sum_int,
};
use crate::auth::AuthUser;
use crate::entities::{contract, contract_line, opportunity, opportunity_line, product};
use crate::error::ApiResult;
use crate::records::targets;
use crate::totals;
use kam_sync_core::ids::ProductId;
use kam_sync_core::money::Total;
use sea_orm::sea_query::{Expr, ExprTrait, Func, JoinType, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;
use uuid::Uuid;

/// The product of a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportProduct {
    /// Id.
    pub id: ProductId,
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// The unit its quantities count.
    pub unit: String,
}

/// What one product sold and has in the pipeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductFigures {
    /// Quantity on the contracts signed in the period.
    pub signed_quantity: i64,
    /// Those lines' amounts in the report's currency (major units).
    #[schema(value_type = f64)]
    pub revenue: Total,
    /// How many signed contracts have the product.
    pub contracts: i64,
    /// Quantity on the open deals expected to close in the period.
    pub open_quantity: i64,
    /// Those lines' amounts in the report's currency.
    #[schema(value_type = f64)]
    pub open_amount: Total,
    /// Those amounts times each deal's probability (to the cent, per line).
    #[schema(value_type = f64)]
    pub weighted_amount: Total,
}

impl ProductFigures {
    fn add(&mut self, other: &Self) {
        self.signed_quantity += other.signed_quantity;
        self.revenue += other.revenue;
        self.contracts += other.contracts;
        self.open_quantity += other.open_quantity;
        self.open_amount += other.open_amount;
        self.weighted_amount += other.weighted_amount;
    }
}

/// One product's figures in one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductRow {
    /// The group (`Total` in `totals`).
    pub group: ReportGroup,
    /// The product.
    pub product: ReportProduct,
    /// Its figures.
    #[serde(flatten)]
    pub figures: ProductFigures,
}

/// The product report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductReport {
    /// What the rows are grouped by.
    pub group_by: GroupBy,
    /// The days covered.
    pub period: ReportPeriod,
    /// The currency of every amount.
    pub currency: String,
    /// One row per group and product with any figure, by group name, then
    /// product code.
    pub rows: Vec<ProductRow>,
    /// One row per product: its figures over every group, by code.
    pub totals: Vec<ProductRow>,
    /// Revenue over every product.
    #[schema(value_type = f64)]
    pub revenue: Total,
    /// Open amount over every product.
    #[schema(value_type = f64)]
    pub open_amount: Total,
    /// Weighted open amount over every product.
    #[schema(value_type = f64)]
    pub weighted_amount: Total,
}

/// The CSV columns after the group's.
const COLUMNS: [&str; 11] = [
    "product_id",
    "product_code",
    "product_name",
    "unit",
    "signed_quantity",
    "revenue",
    "contracts",
    "open_quantity",
    "open_amount",
    "weighted_amount",
    "currency",
];

type Key = (Option<Uuid>, Uuid);

/// The product report for `caller`.
pub async fn report(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    params: &ReportParams,
    period: Period,
) -> ApiResult<ProductReport> {
    caller.require(super::SALES_READERS)?;
    let currency = params.currency()?;
    let grouping = Grouping::new(caller, params);
    let mut by_key: BTreeMap<Key, ProductFigures> = BTreeMap::new();

    let mut signed = Query::select();
    signed.from(contract_line::Entity).join(
        JoinType::InnerJoin,
        contract::Entity,
        Expr::col((contract::Entity, contract::Column::Id))
            .equals((contract_line::Entity, contract_line::Column::ContractId)),
    );
    grouping.place(
        &mut signed,
        (contract::Entity, contract::Column::OwnerId),
        (contract::Entity, contract::Column::AccountId),
    );
    let [high, low] = totals::sum_parts_of(
        Expr::case(
            contract::Column::Currency.eq(currency.clone()),
            Expr::col((contract_line::Entity, contract_line::Column::AmountMinor)),
        )
        .into(),
    );
    signed
        .expr(Expr::col((
            contract_line::Entity,
            contract_line::Column::ProductId,
        )))
        .expr(sum_int(Expr::col((
            contract_line::Entity,
            contract_line::Column::Quantity,
        ))))
        .expr(high)
        .expr(low)
        .expr(Func::cast_as(
            Func::count_distinct(Expr::col((
                contract_line::Entity,
                contract_line::Column::ContractId,
            ))),
            "BIGINT",
        ))
        .cond_where(targets::signed_contracts(period.start, period.end));
    Grouping::group(&mut signed, 2);
    for row in run(conn, &signed).await? {
        let figures = by_key.entry((get(&row, 0)?, get(&row, 1)?)).or_default();
        figures.signed_quantity = get(&row, 2)?;
        figures.revenue = totals::total(get(&row, 3)?, get(&row, 4)?);
        figures.contracts = get(&row, 5)?;
    }

    let mut open = Query::select();
    open.from(opportunity_line::Entity).join(
        JoinType::InnerJoin,
        opportunity::Entity,
        Expr::col((opportunity::Entity, opportunity::Column::Id)).equals((
            opportunity_line::Entity,
            opportunity_line::Column::OpportunityId,
        )),
    );
    grouping.place(
        &mut open,
        (opportunity::Entity, opportunity::Column::OwnerId),
        (opportunity::Entity, opportunity::Column::AccountId),
    );
    let line_amount = Expr::col((
        opportunity_line::Entity,
        opportunity_line::Column::AmountMinor,
    ));
    let in_currency =
        |value: Expr| Expr::case(opportunity::Column::Currency.eq(currency.clone()), value).into();
    // To the cent per line, halves up (amounts are not negative).
    let weighted = line_amount
        .clone()
        .mul(Expr::col((
            opportunity::Entity,
            opportunity::Column::Probability,
        )))
        .add(50)
        .div(100);
    let [amount_high, amount_low] = totals::sum_parts_of(in_currency(line_amount));
    let [weighted_high, weighted_low] = totals::sum_parts_of(in_currency(weighted));
    open.expr(Expr::col((
        opportunity_line::Entity,
        opportunity_line::Column::ProductId,
    )))
    .expr(sum_int(Expr::col((
        opportunity_line::Entity,
        opportunity_line::Column::Quantity,
    ))))
    .expr(amount_high)
    .expr(amount_low)
    .expr(weighted_high)
    .expr(weighted_low)
    .cond_where(
        open_deals()
            .add(opportunity::Column::ExpectedCloseOn.gte(period.start))
            .add(opportunity::Column::ExpectedCloseOn.lt(period.end)),
    );
    Grouping::group(&mut open, 2);
    for row in run(conn, &open).await? {
        let figures = by_key.entry((get(&row, 0)?, get(&row, 1)?)).or_default();
        figures.open_quantity = get(&row, 2)?;
        figures.open_amount = totals::total(get(&row, 3)?, get(&row, 4)?);
        figures.weighted_amount = totals::total(get(&row, 5)?, get(&row, 6)?);
    }

    let products = catalogue_entries(conn, by_key.keys().map(|(_, product)| *product)).await?;
    let names = grouping
        .names(conn, by_key.keys().map(|(group, _)| *group))
        .await?;
    let mut totals_by_product: BTreeMap<Uuid, ProductFigures> = BTreeMap::new();
    let mut rows = Vec::with_capacity(by_key.len());
    for ((group, product), figures) in by_key {
        totals_by_product.entry(product).or_default().add(&figures);
        rows.push(ProductRow {
            group: ReportGroup {
                id: group,
                name: names.get(&group).cloned().unwrap_or_default(),
            },
            product: entry(&products, product),
            figures,
        });
    }
    rows.sort_by(|a, b| {
        (&a.group.name, a.group.id, &a.product.code).cmp(&(
            &b.group.name,
            b.group.id,
            &b.product.code,
        ))
    });
    let mut grand = ProductFigures::default();
    let mut totals: Vec<ProductRow> = totals_by_product
        .into_iter()
        .map(|(product, figures)| {
            grand.add(&figures);
            ProductRow {
                group: ReportGroup::total(),
                product: entry(&products, product),
                figures,
            }
        })
        .collect();
    totals.sort_by(|a, b| (&a.product.code, a.product.id).cmp(&(&b.product.code, b.product.id)));
    Ok(ProductReport {
        group_by: grouping.group_by(),
        period: period.view(),
        currency,
        rows,
        totals,
        revenue: grand.revenue,
        open_amount: grand.open_amount,
        weighted_amount: grand.weighted_amount,
    })
}

/// The catalogue entries of `ids`.
async fn catalogue_entries(
    conn: &impl ConnectionTrait,
    ids: impl Iterator<Item = Uuid>,
) -> ApiResult<HashMap<Uuid, ReportProduct>> {
    let mut ids: Vec<Uuid> = ids.collect();
    ids.sort_unstable();
    ids.dedup();
    let mut entries = HashMap::with_capacity(ids.len());
    // Bounded statements: a report may name every product there is.
    for chunk in ids.chunks(500) {
        let found: Vec<(Uuid, String, String, String)> = product::Entity::find()
            .select_only()
            .column(product::Column::Id)
            .column(product::Column::Code)
            .column(product::Column::Name)
            .column(product::Column::Unit)
            .filter(product::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        entries.extend(found.into_iter().map(|(id, code, name, unit)| {
            (
                id,
                ReportProduct {
                    id: ProductId(id),
                    code,
                    name,
                    unit,
                },
            )
        }));
    }
    Ok(entries)
}

/// The entry of `id`; a product missing from the catalogue (none is ever
/// deleted) shows its id as its code.
fn entry(products: &HashMap<Uuid, ReportProduct>, id: Uuid) -> ReportProduct {
    products.get(&id).cloned().unwrap_or_else(|| ReportProduct {
        id: ProductId(id),
        code: id.to_string(),
        name: String::new(),
        unit: String::new(),
    })
}

impl ProductReport {
    /// The report as CSV (see docs/reports.md): a line per row, then a
    /// `Total` line per product.
    pub fn csv(self) -> ApiResult<Vec<u8>> {
        let columns: Vec<String> = COLUMNS.iter().map(|c| (*c).to_owned()).collect();
        let currency = self.currency.clone();
        let lines = self.rows.into_iter().chain(self.totals).map(|row| {
            let ProductRow {
                group,
                product,
                figures,
            } = row;
            let cells = vec![
                product.id.to_string(),
                crate::csv_io::neutralize(product.code),
                crate::csv_io::neutralize(product.name),
                crate::csv_io::neutralize(product.unit),
                figures.signed_quantity.to_string(),
                figures.revenue.to_string(),
                figures.contracts.to_string(),
                figures.open_quantity.to_string(),
                figures.open_amount.to_string(),
                figures.weighted_amount.to_string(),
                currency.clone(),
            ];
            (group, cells)
        });
        super::csv(&columns, lines)
    }
}
