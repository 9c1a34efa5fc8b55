//! Opportunities (商机): their rows, the rules a change must pass (owner,
//! stage moves, the key persons named), the fields the server keeps (the
//! stage history, the days won and lost), and the pipeline report.
//!
//! Stage moves follow [`OpportunityStage::move_to`]: one step forward at a
//! time, won only from contract, lost from any open stage, and back (a lost
//! deal reopened, a won one returned to contract, an open one stepped back)
//! only by a manager or above. A refused move is a 422 `invalid_stage_move`
//! (403 `stage_reopen_forbidden` for a rep moving back) over REST and is
//! undone, with a notice, over sync. Winning is decided in one place,
//! [`server_fields`], which dates `won_on`: the place to hook what a win
//! starts.

use super::child::{ChildKind, Columns, check_owner, list_filter, manages_account};
use super::kind::{Pending, Stamp, SyncedKind};
use super::{Materialize, Review};
use super::{products, stage_moves};
use crate::access::visible_account_ids;
use crate::auth::AuthUser;
use crate::config::Settings;
use crate::db::{insert_each, upsert_each};
use crate::entities::{contact, opportunity, opportunity_line, user};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::totals;
use chrono::{DateTime, NaiveDate, Utc};
use kam_sync_core::Opportunity;
use kam_sync_core::ids::OpportunityId;
use kam_sync_core::line_item::LineItem;
use kam_sync_core::money::{Currency, Money, Total};
use kam_sync_core::opportunity::{OpportunityStage, StageChange, StageMove};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An opportunity as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OpportunityView {
    /// Id.
    pub id: OpportunityId,
    /// The record.
    #[serde(flatten)]
    pub opportunity: Opportunity,
    /// The probability that counts, 0-100: the one given, or the stage's
    /// default when none is (research 10, planning 25, negotiation 50,
    /// contract 80); won counts 100 and lost 0 whatever is given.
    pub effective_probability: i64,
    /// `amount` × `effective_probability`, to the nearest cent; null without an amount.
    pub weighted_amount: Option<Money>,
    /// Days from today (UTC) to `expected_close_on` while the deal is open;
    /// negative once the date has passed.
    pub days_to_close: Option<i64>,
    /// True when the deal is open and `expected_close_on` has passed.
    pub overdue: bool,
    /// Bookkeeping.
    #[serde(flatten)]
    pub stamp: Stamp,
}

list_filter!(
    /// Filters for listing opportunities; all combine with AND, within the caller's scope.
    OpportunityFilter {
        /// Worked by this user.
        owner_id: Option<Uuid>,
        /// At this stage.
        stage: Option<OpportunityStage>,
        /// Expected to close on or after this day.
        expected_close_from: Option<NaiveDate>,
        /// Expected to close on or before this day.
        expected_close_to: Option<NaiveDate>,
        /// Only deals still being worked (not won or lost).
        open_only: Option<bool>,
    }
);

/// Opportunities as a synced kind.
pub struct Opportunities;

fn refuse_move(from: Option<OpportunityStage>, to: OpportunityStage) -> ApiError {
    let from = from.map_or("a new opportunity", OpportunityStage::as_str);
    ApiError::new(
        ErrorCode::InvalidStageMove,
        format!(
            "{from} → {to} is not a move: an opportunity starts open, advances one stage at a \
             time, is won only from contract and lost from any open stage"
        ),
    )
}

/// What is wrong with moving from `from` (`None`: a new opportunity) to
/// `to`, if anything, and the stage that undoes it.
fn stage_problem(
    reopens: bool,
    from: Option<OpportunityStage>,
    to: OpportunityStage,
) -> Option<(ApiError, OpportunityStage)> {
    let Some(from) = from else {
        // Made won or lost at once (offline): undone to the stage it could
        // have been won or lost from.
        return match to {
            OpportunityStage::Won => Some((refuse_move(None, to), OpportunityStage::Contract)),
            OpportunityStage::Lost => Some((refuse_move(None, to), OpportunityStage::Research)),
            _ => None,
        };
    };
    match from.move_to(to) {
        None if from == to => None,
        None => Some((refuse_move(Some(from), to), from)),
        Some(StageMove::Reopen) if !reopens => Some((
            ApiError::new(
                ErrorCode::StageReopenForbidden,
                format!("{from} → {to} moves the deal back; the account's managers reopen deals"),
            ),
            from,
        )),
        Some(StageMove::Advance | StageMove::Win | StageMove::Lose | StageMove::Reopen) => None,
    }
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// A field only the server writes: set to `expected` when the writer left it
/// alone, refused (and put back to `expected`) when they changed it.
fn keep_server_field<T: PartialEq + Serialize + Default>(
    review: &mut Review,
    field: &'static str,
    old: Option<&T>,
    new: &T,
    expected: &T,
) {
    if new == expected {
        return;
    }
    let untouched = match old {
        Some(old) => old == new,
        None => *new == T::default(),
    };
    if untouched {
        review.derive(field, to_json(expected));
    } else {
        review.refuse(
            field,
            to_json(expected),
            ApiError::invalid_field(field, "read_only_field", "kept by the server"),
        );
    }
}

/// The fields the server keeps once the stage is `stage`: a stage entered
/// is appended to `stage_history`; entering won dates `won_on`, entering
/// lost `lost_on`, and leaving them clears the date.
fn server_fields(
    review: &mut Review,
    caller: &AuthUser,
    old: Option<&Opportunity>,
    new: &Opportunity,
    stage: OpportunityStage,
    now: DateTime<Utc>,
) {
    let entered = old.is_none_or(|o| o.stage != stage);
    let mut history = old.map(|o| o.stage_history.clone()).unwrap_or_default();
    if entered {
        history.push(StageChange {
            stage,
            at: now,
            by: caller.id,
        });
    }
    let dated = |closing: OpportunityStage, before: Option<NaiveDate>| {
        if stage != closing {
            None
        } else if entered {
            Some(now.date_naive())
        } else {
            before
        }
    };
    let won_on = dated(OpportunityStage::Won, old.and_then(|o| o.won_on));
    let lost_on = dated(OpportunityStage::Lost, old.and_then(|o| o.lost_on));
    keep_server_field(
        review,
        "stage_history",
        old.map(|o| &o.stage_history),
        &new.stage_history,
        &history,
    );
    keep_server_field(
        review,
        "won_on",
        old.map(|o| &o.won_on),
        &new.won_on,
        &won_on,
    );
    keep_server_field(
        review,
        "lost_on",
        old.map(|o| &o.lost_on),
        &new.lost_on,
        &lost_on,
    );
}

/// Whether a key person newly named belongs to another account. Key persons
/// not known here yet are accepted: a device may push a person and the deal
/// naming them, both made offline, in one request.
async fn key_persons_elsewhere(
    conn: &impl ConnectionTrait,
    old: Option<&Opportunity>,
    new: &Opportunity,
) -> ApiResult<bool> {
    let added: Vec<Uuid> = new
        .key_person_ids
        .iter()
        .filter(|id| old.is_none_or(|o| !o.key_person_ids.contains(id)))
        .map(|id| id.0)
        .collect();
    if added.is_empty() {
        return Ok(false);
    }
    let elsewhere = contact::Entity::find()
        .select_only()
        .column(contact::Column::Id)
        .filter(contact::Column::Id.is_in(added))
        .filter(contact::Column::AccountId.ne(new.account_id.0))
        .into_tuple::<Uuid>()
        .all(conn)
        .await?;
    Ok(!elsewhere.is_empty())
}

/// The line items' rules: products added come from the catalogue and are
/// active (else the lines are put back), and with lines the amount is their
/// sum (set when the writer left it, refused when they wrote another).
async fn settle_lines(
    conn: &impl ConnectionTrait,
    review: &mut Review,
    old: Option<&Opportunity>,
    new: &Opportunity,
) -> ApiResult<()> {
    let before = old.map_or(&[][..], |o| &o.line_items);
    let lines =
        match products::unusable_products(conn, "line_items", before, &new.line_items).await? {
            Some(error) => {
                review.refuse("line_items", to_json(&before), error);
                before
            }
            None => &new.line_items,
        };
    match products::settled_amount(lines, old.map(|o| o.amount), new.amount) {
        Ok(amount) if amount != new.amount => review.derive("amount", to_json(&amount)),
        Ok(_) => {}
        Err(sum) => review.refuse("amount", to_json(&sum), products::amount_mismatch(sum)),
    }
    Ok(())
}

impl SyncedKind for Opportunities {
    type Record = Opportunity;
    type Entity = opportunity::Entity;
    type View = OpportunityView;
    const NAME: &'static str = "opportunity";
    const STAYS_WITH_ACCOUNT: &'static str =
        "an opportunity stays with its account; open a new one";

    async fn review(
        conn: &impl ConnectionTrait,
        caller: &AuthUser,
        _id: Uuid,
        old: Option<&Opportunity>,
        new: &Opportunity,
        _pending: &Pending,
    ) -> ApiResult<Review> {
        let mut review = Review::default();
        let old_owner = old.map(|o| o.owner_id);
        if old_owner != Some(new.owner_id)
            && let Err(err) = check_owner(
                conn,
                caller,
                new.owner_id,
                new.account_id.0,
                "a rep owns the opportunities they work; ask a manager to reassign one",
            )
            .await
        {
            review.refuse("owner_id", json!(old_owner.unwrap_or(caller.id)), err);
        }
        let moves_back = old.is_some_and(|o| o.stage.move_to(new.stage) == Some(StageMove::Reopen));
        let reopens = moves_back && manages_account(conn, caller, new.account_id.0).await?;
        let stage = match stage_problem(reopens, old.map(|o| o.stage), new.stage) {
            Some((error, restore)) => {
                review.refuse("stage", json!(restore), error);
                restore
            }
            None => new.stage,
        };
        if key_persons_elsewhere(conn, old, new).await? {
            review.refuse(
                "key_person_ids",
                to_json(&old.map(|o| o.key_person_ids.clone()).unwrap_or_default()),
                ApiError::invalid_field(
                    "key_person_ids",
                    "other_account",
                    "the key persons of a deal work at its account",
                ),
            );
        }
        settle_lines(conn, &mut review, old, new).await?;
        server_fields(&mut review, caller, old, new, stage, Utc::now());
        Ok(review)
    }

    async fn materialize_all(
        conn: &impl ConnectionTrait,
        _settings: &Settings,
        items: &[Materialize<'_, opportunity::Model>],
    ) -> ApiResult<Vec<OpportunityView>> {
        let mut views = Vec::with_capacity(items.len());
        let mut models = Vec::with_capacity(items.len());
        let mut moves = Vec::new();
        let mut lines = Vec::new();
        let mut relined = Vec::new();
        for item in items {
            let deal: Opportunity = item.doc.read()?;
            let mut view = OpportunityView {
                id: OpportunityId(item.id),
                effective_probability: deal.effective_probability(),
                weighted_amount: deal.weighted_amount(),
                days_to_close: None,
                overdue: false,
                opportunity: deal,
                stamp: item.stamp(|row| (row.created_by, row.created_at)),
            };
            Opportunities::as_of(&mut view, item.meta.time);
            let deal = &view.opportunity;
            let closes_on = match deal.stage {
                OpportunityStage::Won => deal.won_on,
                OpportunityStage::Lost => deal.lost_on,
                _ => deal.expected_close_on,
            };
            // Most writes leave the lines alone: their rows stay as they are.
            let lines_kept = match item.previous {
                Some(row) => {
                    row.currency == deal.currency.as_str()
                        && row.body.get("line_items") == Some(&to_json(&deal.line_items))
                }
                None => deal.line_items.is_empty(),
            };
            if !lines_kept {
                relined.push(item.id);
                for row in products::line_rows(&deal.line_items)? {
                    lines.push(opportunity_line::ActiveModel {
                        opportunity_id: Set(item.id),
                        id: Set(row.id),
                        account_id: Set(deal.account_id.0),
                        product_id: Set(row.product_id),
                        position: Set(row.position),
                        quantity: Set(row.quantity),
                        unit_price_minor: Set(row.unit_price_minor),
                        discount_percent: Set(row.discount_percent),
                        amount_minor: Set(row.amount_minor),
                        currency: Set(deal.currency.as_str().to_owned()),
                    });
                }
            }
            moves.extend(stage_moves::Move::between(
                item.id,
                deal.account_id.0,
                item.previous.map(|p| p.stage.as_str()),
                deal.stage.as_str(),
                item.meta.time,
                item.meta.user.map(|u| u.0),
            ));
            let lost_reason = deal
                .lost_reason
                .as_deref()
                .filter(|_| deal.stage == OpportunityStage::Lost)
                .map(|reason| reason.trim().to_owned());
            let cycle_days = deal
                .won_on
                .filter(|_| deal.stage == OpportunityStage::Won)
                .map(|won| (won - view.stamp.created_at.date_naive()).num_days());
            models.push(opportunity::ActiveModel {
                id: Set(item.id),
                account_id: Set(deal.account_id.0),
                owner_id: Set(deal.owner_id.0),
                name: Set(deal.name.clone()),
                stage: Set(deal.stage.as_str().to_owned()),
                amount_minor: Set(deal.amount.map(Money::minor)),
                currency: Set(deal.currency.as_str().to_owned()),
                probability: Set(view.effective_probability),
                weighted_minor: Set(view.weighted_amount.map(Money::minor)),
                expected_close_on: Set(deal.expected_close_on),
                closes_on: Set(closes_on),
                lost_reason: Set(lost_reason),
                cycle_days: Set(cycle_days),
                deleted: Set(deal.deleted),
                created_by: Set(view.stamp.created_by.map(|u| u.0)),
                created_at: Set(view.stamp.created_at),
                updated_at: Set(view.stamp.updated_at),
                version: Set(view.stamp.version),
                body: Set(serde_json::to_value(&view).map_err(ApiError::internal)?),
            });
            views.push(view);
        }
        use opportunity::Column;
        upsert_each(
            conn,
            models,
            sea_orm::sea_query::OnConflict::column(Column::Id)
                .update_columns([
                    Column::AccountId,
                    Column::OwnerId,
                    Column::Name,
                    Column::Stage,
                    Column::AmountMinor,
                    Column::Currency,
                    Column::Probability,
                    Column::WeightedMinor,
                    Column::ExpectedCloseOn,
                    Column::ClosesOn,
                    Column::LostReason,
                    Column::CycleDays,
                    Column::Deleted,
                    Column::UpdatedAt,
                    Column::Version,
                    Column::Body,
                ])
                .to_owned(),
        )
        .await?;
        if !relined.is_empty() {
            opportunity_line::Entity::delete_many()
                .filter(opportunity_line::Column::OpportunityId.is_in(relined))
                .exec(conn)
                .await?;
            insert_each(conn, lines).await?;
        }
        stage_moves::record(conn, stage_moves::OPPORTUNITY, moves).await?;
        Ok(views)
    }

    async fn rows_by_id(
        conn: &impl ConnectionTrait,
        ids: Vec<Uuid>,
    ) -> ApiResult<HashMap<Uuid, opportunity::Model>> {
        super::rows_by_id::<opportunity::Entity>(conn, opportunity::Column::Id, ids, |row| row.id)
            .await
    }

    fn account_of(_id: Uuid, record: &Opportunity) -> Uuid {
        record.account_id.0
    }

    fn account_of_view(view: &OpportunityView) -> Uuid {
        view.opportunity.account_id.0
    }

    fn row_parts(row: &opportunity::Model) -> (Uuid, i64, &Value) {
        (row.id, row.version, &row.body)
    }

    fn as_of(view: &mut OpportunityView, now: DateTime<Utc>) {
        let deal = &view.opportunity;
        view.days_to_close = deal
            .expected_close_on
            .filter(|_| deal.stage.is_open())
            .map(|on| (on - now.date_naive()).num_days());
        view.overdue = view.days_to_close.is_some_and(|days| days < 0);
    }
}

impl ChildKind for Opportunities {
    type Filter = OpportunityFilter;

    fn columns() -> Columns<opportunity::Column> {
        Columns {
            id: opportunity::Column::Id,
            account_id: opportunity::Column::AccountId,
            deleted: opportunity::Column::Deleted,
            updated_at: opportunity::Column::UpdatedAt,
        }
    }

    fn fill_defaults(caller: &AuthUser, body: &mut Map<String, Value>) {
        body.entry("owner_id")
            .or_insert_with(|| Value::String(caller.id.to_string()));
    }

    fn filter(filter: &OpportunityFilter, mut condition: Condition) -> Condition {
        use opportunity::Column;
        if let Some(owner) = filter.owner_id {
            condition = condition.add(Column::OwnerId.eq(owner));
        }
        if let Some(stage) = filter.stage {
            condition = condition.add(Column::Stage.eq(stage.as_str()));
        }
        if let Some(from) = filter.expected_close_from {
            condition = condition.add(Column::ExpectedCloseOn.gte(from));
        }
        if let Some(to) = filter.expected_close_to {
            condition = condition.add(Column::ExpectedCloseOn.lte(to));
        }
        if filter.open_only.unwrap_or(false) {
            condition = condition.add(Column::Stage.is_not_in(closed_stages()));
        }
        condition
    }
}

fn closed_stages() -> [&'static str; 2] {
    [
        OpportunityStage::Won.as_str(),
        OpportunityStage::Lost.as_str(),
    ]
}

/// Filters of the pipeline report; all combine with AND, within the caller's scope.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PipelineFilter {
    /// Worked by this user.
    pub owner_id: Option<Uuid>,
    /// Worked by a member of this team.
    pub team_id: Option<Uuid>,
    /// Closing on or after this day: the expected close date of an open
    /// deal, the day a closed one was won or lost.
    pub expected_close_from: Option<NaiveDate>,
    /// Closing on or before this day (as `expected_close_from`).
    pub expected_close_to: Option<NaiveDate>,
    /// The currency reported (default CNY): amounts in different
    /// currencies are never added up.
    #[param(value_type = Option<String>, pattern = "^[A-Z]{3}$")]
    pub currency: Option<Currency>,
}

/// One stage's figures.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StageFigures {
    /// The stage.
    pub stage: OpportunityStage,
    /// Opportunities at it.
    pub count: i64,
    /// Their amounts added up (those without an amount count as 0).
    pub total_amount: Total,
    /// Their weighted amounts added up.
    pub weighted_amount: Total,
}

/// The sales pipeline (销售漏斗) in the caller's scope.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Pipeline {
    /// The currency of every amount here.
    pub currency: Currency,
    /// Every stage, research to lost, in order.
    pub stages: Vec<StageFigures>,
    /// The open stages' amounts added up.
    pub open_amount: Total,
    /// The open stages' weighted amounts added up: the expected revenue.
    pub open_weighted_amount: Total,
    /// Opportunities won.
    pub won_count: i64,
    /// Opportunities lost.
    pub lost_count: i64,
    /// won / (won + lost), 0-1; null while none is closed.
    pub conversion_rate: Option<f64>,
}

/// The pipeline report: per stage, how many opportunities and how much,
/// plain and weighted, with the conversion rate, in one grouped query.
/// The amounts are added up exactly however many there are
/// ([`totals`](crate::totals)).
pub async fn pipeline(
    state: &AppState,
    caller: &AuthUser,
    filter: PipelineFilter,
) -> ApiResult<Pipeline> {
    use opportunity::Column;
    let currency = filter.currency.unwrap_or_default();
    let mut condition = Condition::all()
        .add(Column::Deleted.eq(false))
        .add(Column::Currency.eq(currency.as_str()));
    if let Some(visible) = visible_account_ids(caller) {
        condition = condition.add(Column::AccountId.in_subquery(visible));
    }
    if let Some(owner) = filter.owner_id {
        condition = condition.add(Column::OwnerId.eq(owner));
    }
    if let Some(team) = filter.team_id {
        condition = condition.add(
            Column::OwnerId.in_subquery(
                Query::select()
                    .column(user::Column::Id)
                    .from(user::Entity)
                    .and_where(Expr::col(user::Column::TeamId).eq(team))
                    .to_owned(),
            ),
        );
    }
    if let Some(from) = filter.expected_close_from {
        condition = condition.add(Column::ClosesOn.gte(from));
    }
    if let Some(to) = filter.expected_close_to {
        condition = condition.add(Column::ClosesOn.lte(to));
    }
    let [amount_high, amount_low] = totals::sum_parts(Column::AmountMinor);
    let [weighted_high, weighted_low] = totals::sum_parts(Column::WeightedMinor);
    let rows: Vec<(String, i64, i64, i64, i64, i64)> = opportunity::Entity::find()
        .select_only()
        .column(Column::Stage)
        .expr(Func::count(Expr::col(Column::Id)))
        .expr(amount_high)
        .expr(amount_low)
        .expr(weighted_high)
        .expr(weighted_low)
        .filter(condition)
        .group_by(Column::Stage)
        .into_tuple()
        .all(state.db.conn())
        .await?;
    let by_stage: HashMap<String, (i64, Total, Total)> = rows
        .into_iter()
        .map(
            |(stage, count, amount_high, amount_low, weighted_high, weighted_low)| {
                let amount = totals::total(amount_high, amount_low);
                let weighted = totals::total(weighted_high, weighted_low);
                (stage, (count, amount, weighted))
            },
        )
        .collect();
    Ok(pipeline_of(currency, &by_stage))
}

/// The report from the grouped figures (count, amount, weighted amount, by
/// stage code).
fn pipeline_of(currency: Currency, by_stage: &HashMap<String, (i64, Total, Total)>) -> Pipeline {
    let stages: Vec<StageFigures> = OpportunityStage::ALL
        .iter()
        .map(|stage| {
            let (count, total_amount, weighted_amount) =
                by_stage.get(stage.as_str()).copied().unwrap_or_default();
            StageFigures {
                stage: *stage,
                count,
                total_amount,
                weighted_amount,
            }
        })
        .collect();
    let count_at = |stage: OpportunityStage| {
        stages
            .iter()
            .find(|s| s.stage == stage)
            .map_or(0, |s| s.count)
    };
    let open = stages.iter().filter(|s| s.stage.is_open());
    let open_amount = open.clone().map(|s| s.total_amount).sum();
    let open_weighted_amount = open.map(|s| s.weighted_amount).sum();
    let (won_count, lost_count) = (
        count_at(OpportunityStage::Won),
        count_at(OpportunityStage::Lost),
    );
    let closed = won_count + lost_count;
    Pipeline {
        currency,
        open_amount,
        open_weighted_amount,
        won_count,
        lost_count,
        conversion_rate: (closed > 0).then(|| won_count as f64 / closed as f64),
        stages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipeline_adds_up_open_stages_and_converts_won_over_closed() {
        let figures = |count, amount, weighted| {
            (
                count,
                Total::from_minor(amount),
                Total::from_minor(weighted),
            )
        };
        let by_stage = HashMap::from([
            ("research".to_owned(), figures(2, 100_000, 10_000)),
            ("contract".to_owned(), figures(1, 50_000, 40_000)),
            ("won".to_owned(), figures(3, 300_000, 300_000)),
            ("lost".to_owned(), figures(1, 20_000, 0)),
        ]);
        let report = pipeline_of(Currency::default(), &by_stage);
        assert_eq!(report.stages.len(), 6);
        assert_eq!(report.stages[1].count, 0);
        assert_eq!(report.open_amount, Total::from_minor(150_000));
        assert_eq!(report.open_weighted_amount, Total::from_minor(50_000));
        assert_eq!(report.conversion_rate, Some(0.75));
        let empty = pipeline_of(Currency::default(), &HashMap::new());
        assert_eq!(empty.conversion_rate, None);
    }
}

/// The terms of a contract made from a won opportunity; the account, the
/// opportunity, the owner, the amount and the currency come from it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractTerms {
    /// Contract number: unique, 1 to 64 characters.
    pub number: String,
    /// Amount, when it differs from the opportunity's (required when the
    /// opportunity has neither an amount nor line items). With line items
    /// the amount is their sum: leave it out.
    #[serde(default)]
    pub amount: Option<Money>,
    /// The products sold, when they differ from the opportunity's line
    /// items (which the contract takes otherwise).
    #[serde(default)]
    pub line_items: Option<Vec<LineItem>>,
    /// Signing date (required for an active contract).
    #[serde(default)]
    pub signed_on: Option<NaiveDate>,
    /// First day of the term.
    #[serde(default)]
    pub start_on: Option<NaiveDate>,
    /// Last day of the term.
    #[serde(default)]
    pub end_on: Option<NaiveDate>,
    /// Payment terms.
    #[serde(default)]
    pub payment_terms: Option<String>,
    /// `draft` (the default) or `active`.
    #[serde(default)]
    pub status: Option<crate::records::contracts::ContractStatus>,
    /// Free notes.
    #[serde(default)]
    pub notes: Option<String>,
}

/// Makes the contract a won opportunity closes: one per opportunity (409
/// `contract_exists`), only once it is won (409 `opportunity_not_won`).
pub async fn contract_from(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    terms: ContractTerms,
) -> ApiResult<crate::records::contracts::ContractView> {
    use crate::entities::contract;
    use crate::records::contracts::{self, NewContract};
    let txn = state.db.begin_write().await?;
    let row = Opportunities::visible(&txn, caller, id).await?;
    let view: OpportunityView = serde_json::from_value(row.body).map_err(ApiError::internal)?;
    let opportunity = view.opportunity;
    if opportunity.stage != OpportunityStage::Won {
        return Err(ApiError::new(
            ErrorCode::OpportunityNotWon,
            format!(
                "the opportunity is at {}; a contract is made once it is won",
                opportunity.stage
            ),
        ));
    }
    // Only a contract of the deal's own account closes it: one elsewhere
    // naming it (stored before contracts were held to their account) is
    // neither an obstacle nor the caller's to read about.
    let existing = contract::Entity::find()
        .filter(contract::Column::OpportunityId.eq(id))
        .filter(contract::Column::AccountId.eq(opportunity.account_id.0))
        .one(&txn)
        .await?;
    if let Some(existing) = existing {
        return Err(ApiError::new(
            ErrorCode::ContractExists,
            format!(
                "contract {} already closes this opportunity",
                existing.number
            ),
        ));
    }
    let line_items = terms.line_items.unwrap_or(opportunity.line_items);
    let amount = match (terms.amount, line_items.is_empty()) {
        (Some(amount), _) => Some(amount),
        (None, true) => Some(opportunity.amount.ok_or_else(|| {
            ApiError::invalid_field(
                "amount",
                "required",
                "the opportunity has no amount; give the contract's",
            )
        })?),
        (None, false) => None,
    };
    let created = contracts::create(
        &txn,
        caller,
        NewContract {
            id: None,
            number: terms.number,
            account_id: opportunity.account_id,
            opportunity_id: Some(OpportunityId(id)),
            owner_id: Some(opportunity.owner_id),
            amount,
            line_items,
            currency: Some(opportunity.currency.as_str().to_owned()),
            signed_on: terms.signed_on,
            start_on: terms.start_on,
            end_on: terms.end_on,
            payment_terms: terms.payment_terms,
            status: terms.status,
            notes: terms.notes,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(created)
}
