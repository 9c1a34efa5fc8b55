//! Sales targets (销售目标): a value per period (year, quarter, month), org
//! level (org, branch, team, rep), subject and metric, edited only online
//! as plain rows with a version. Targets are decomposed (分解): the parts of
//! a target are the targets of the same period and metric one level down,
//! within it, and they may not add up to more than it. Progress is the
//! actual value in the period, from contracts, accounts and visits.
//!
//! | role | reads | sets |
//! | --- | --- | --- |
//! | admin, director without a branch | everything | everything |
//! | director of a branch | the org's targets, their branch's and below | their branch's and below |
//! | manager | the teams they lead and those teams' users | the same |
//! | rep | their own and their team's | nothing |
//! | service | nothing | nothing |

use super::page::{self, Page};
use super::{Precondition, check_currency, check_precondition};
use crate::auth::{AuthUser, Role};
use crate::entities::{account, branch, contract, sales_target, team, user, visit};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::records::contracts::ContractStatus;
use crate::state::AppState;
use crate::totals;
use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime, Utc};
use kam_sync_core::account::Tier;
use kam_sync_core::ids::{TargetId, UserId};
use kam_sync_core::money::{Currency, Money, Total};
use kam_sync_core::visit::VisitStatus;
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The largest count a float carries exactly (2^53).
const MAX_EXACT_COUNT: f64 = 9_007_199_254_740_992.0;

/// The kind of period a target covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    /// A calendar year, from 1 January.
    Year,
    /// A calendar quarter, from 1 January, April, July or October.
    Quarter,
    /// A calendar month, from its first day.
    Month,
}

impl PeriodKind {
    /// Stable code, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Year => "year",
            Self::Quarter => "quarter",
            Self::Month => "month",
        }
    }

    /// Parses a stored code.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "year" => Some(Self::Year),
            "quarter" => Some(Self::Quarter),
            "month" => Some(Self::Month),
            _ => None,
        }
    }

    fn months(self) -> u32 {
        match self {
            Self::Year => 12,
            Self::Quarter => 3,
            Self::Month => 1,
        }
    }

    /// Whether `day` is the first day of a period of this kind.
    pub fn starts_on(self, day: NaiveDate) -> bool {
        day.day() == 1 && (day.month() - 1).is_multiple_of(self.months())
    }

    /// The day after the period that starts on `start`.
    pub fn end(self, start: NaiveDate) -> Option<NaiveDate> {
        start.checked_add_months(Months::new(self.months()))
    }
}

/// Where in the org a target is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// The whole org (no subject).
    Org,
    /// A branch.
    Branch,
    /// A team.
    Team,
    /// One user (a rep, or anyone in a team).
    Rep,
}

impl Level {
    /// Stable code, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Org => "org",
            Self::Branch => "branch",
            Self::Team => "team",
            Self::Rep => "rep",
        }
    }

    /// Parses a stored code.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "org" => Some(Self::Org),
            "branch" => Some(Self::Branch),
            "team" => Some(Self::Team),
            "rep" => Some(Self::Rep),
            _ => None,
        }
    }

    /// The level a target of this level is decomposed into.
    pub fn child(self) -> Option<Self> {
        match self {
            Self::Org => Some(Self::Branch),
            Self::Branch => Some(Self::Team),
            Self::Team => Some(Self::Rep),
            Self::Rep => None,
        }
    }
}

/// What a target measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Money: amounts of contracts signed in the period, active or completed.
    Revenue,
    /// A count of those contracts.
    SignedContracts,
    /// A count of strategic or key accounts created in the period.
    NewKeyAccounts,
    /// A count of the effective visits (有效拜访) planned in the period; of
    /// every completed visit when an admin turns
    /// `visits.targets_count_effective_only` off.
    Visits,
}

impl Metric {
    /// Stable code, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revenue => "revenue",
            Self::SignedContracts => "signed_contracts",
            Self::NewKeyAccounts => "new_key_accounts",
            Self::Visits => "visits",
        }
    }

    /// Parses a stored code.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "revenue" => Some(Self::Revenue),
            "signed_contracts" => Some(Self::SignedContracts),
            "new_key_accounts" => Some(Self::NewKeyAccounts),
            "visits" => Some(Self::Visits),
            _ => None,
        }
    }

    /// Whether values are money (stored in minor units) rather than counts.
    pub fn is_money(self) -> bool {
        self == Self::Revenue
    }

    /// A value sent by a client, as stored: minor units or a count.
    fn parse_value(self, number: &serde_json::Number) -> ApiResult<i64> {
        if self.is_money() {
            let refuse = |why: String| ApiError::invalid_field("value", "invalid_value", why);
            let amount =
                Money::deserialize(number.clone()).map_err(|err| refuse(err.to_string()))?;
            match amount.negative_violation("value") {
                Some(negative) => Err(refuse(negative.message)),
                None => Ok(amount.minor()),
            }
        } else {
            // A count written as `10.0` is still a whole number.
            let whole_float = || {
                number
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && (0.0..=MAX_EXACT_COUNT).contains(f))
                    .map(|f| f as i64)
            };
            number
                .as_u64()
                .and_then(|count| i64::try_from(count).ok())
                .or_else(whole_float)
                .ok_or_else(|| {
                    ApiError::invalid_field("value", "invalid_value", "a whole number, 0 or more")
                })
        }
    }

    /// A value as stored (minor units or a count), or a sum of them, as
    /// the API shows it: money in major units, a count as a whole number.
    fn total(self, stored: i128) -> Total {
        if self.is_money() {
            Total::from_minor(stored)
        } else {
            Total::from_major(stored)
        }
    }

    /// A stored value, or a sum of them, for a sentence.
    fn text(self, stored: i128) -> String {
        if self.is_money() {
            Total::from_minor(stored).to_string()
        } else {
            stored.to_string()
        }
    }
}

/// How far a target is reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    /// The actual value in the period for the subject: money in major
    /// units, exact however much it is, or a count.
    pub actual: Total,
    /// Actual divided by the target (1.0 is reached); null when the target is 0.
    pub attainment: Option<f64>,
}

/// A target as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TargetView {
    /// Id.
    pub id: TargetId,
    /// The kind of period.
    pub period: PeriodKind,
    /// The period's first day.
    pub period_start: NaiveDate,
    /// The day after the period's last.
    pub period_end: NaiveDate,
    /// The org level.
    pub level: Level,
    /// The branch, team or user; null at the org level.
    pub subject_id: Option<Uuid>,
    /// What is measured.
    pub metric: Metric,
    /// The target: money in the currency's major unit for revenue, else a count.
    #[schema(value_type = f64)]
    pub value: Total,
    /// ISO 4217 code of a revenue target; null for counts.
    pub currency: Option<String>,
    /// Who set it.
    pub created_by: Option<UserId>,
    /// When it was set.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Bumped on every change; its ETag.
    pub version: i64,
    /// The progress, when asked for (`with_progress=true` on the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// A stored target, its codes parsed.
struct Target {
    row: sales_target::Model,
    key: TargetKey,
    level: Level,
}

/// What the parts of a target share with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TargetKey {
    period: PeriodKind,
    start: NaiveDate,
    metric: Metric,
}

impl TryFrom<sales_target::Model> for Target {
    type Error = ApiError;

    fn try_from(row: sales_target::Model) -> ApiResult<Self> {
        let bad = || ApiError::internal(anyhow::anyhow!("target {} has an unknown code", row.id));
        let period = PeriodKind::parse(&row.period).ok_or_else(bad)?;
        let metric = Metric::parse(&row.metric).ok_or_else(bad)?;
        let level = Level::parse(&row.level).ok_or_else(bad)?;
        Ok(Self {
            key: TargetKey {
                period,
                start: row.period_start,
                metric,
            },
            level,
            row,
        })
    }
}

impl Target {
    fn view(&self) -> ApiResult<TargetView> {
        let row = &self.row;
        Ok(TargetView {
            id: TargetId(row.id),
            period: self.key.period,
            period_start: row.period_start,
            period_end: self.end()?,
            level: self.level,
            subject_id: (self.level != Level::Org).then_some(row.subject_id),
            metric: self.key.metric,
            value: self.key.metric.total(i128::from(row.value)),
            currency: row.currency.clone(),
            created_by: row.created_by.map(UserId),
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
            progress: None,
        })
    }

    fn end(&self) -> ApiResult<NaiveDate> {
        self.key.period.end(self.key.start).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "target {} ends past the calendar",
                self.row.id
            ))
        })
    }

    /// "the team target <id> (100000.00)", for problem details.
    fn describe(&self) -> String {
        format!(
            "the {} target {} ({})",
            self.level.as_str(),
            self.row.id,
            self.key.metric.text(i128::from(self.row.value))
        )
    }
}

/// A new target.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTarget {
    /// Optional client-chosen id.
    #[serde(default)]
    pub id: Option<TargetId>,
    /// The kind of period.
    pub period: PeriodKind,
    /// The period's first day: 1 January for a year; 1 January, April, July
    /// or October for a quarter; the first of the month for a month.
    pub period_start: NaiveDate,
    /// The org level.
    pub level: Level,
    /// The branch, team or user; null or absent at the org level.
    #[serde(default)]
    pub subject_id: Option<Uuid>,
    /// What is measured.
    pub metric: Metric,
    /// The target, 0 or more: money in major units (at most 2 decimals) for
    /// revenue, a whole number for counts.
    #[schema(value_type = f64, minimum = 0)]
    pub value: serde_json::Number,
    /// ISO 4217 code of a revenue target (default CNY); absent for counts.
    #[serde(default)]
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
}

/// A change to a target: its value. The period, level, subject and metric
/// are what the target is; to change them, delete it and set another.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetChange {
    /// The new value, as for a new target.
    #[schema(value_type = f64, minimum = 0)]
    pub value: serde_json::Number,
}

/// Filters for listing targets; all combine with AND, within the caller's scope.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TargetFilter {
    /// Of this kind of period.
    pub period: Option<PeriodKind>,
    /// Of the period starting on this day.
    pub period_start: Option<NaiveDate>,
    /// At this level.
    pub level: Option<Level>,
    /// For this branch, team or user.
    pub subject_id: Option<Uuid>,
    /// Measuring this.
    pub metric: Option<Metric>,
    /// Add each target's `progress` (default false).
    pub with_progress: Option<bool>,
    /// Page size (default 50), up to the server's `max_page_size` (500 unless configured).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A branch, team or user a target could be set for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TargetSubject {
    /// Its id.
    pub id: Uuid,
    /// Its name (a user's display name).
    pub name: String,
}

/// A target and its parts (分解).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Decomposition {
    /// The whole.
    pub target: TargetView,
    /// The level of its parts; null for a rep's target, which has none.
    pub parts_level: Option<Level>,
    /// Its parts that the caller may read.
    pub parts: Vec<TargetView>,
    /// The sum of all its parts (including any the caller may not read).
    pub parts_sum: Total,
    /// The whole less the sum: what is not allocated yet.
    pub gap: Total,
    /// The branches, teams or active users one level down with no target
    /// of this period and metric yet.
    pub without_target: Vec<TargetSubject>,
}

/// Where a target's subject sits in the org.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Place {
    level: Level,
    /// The branch, team or user; the nil UUID for the org.
    subject: Uuid,
    /// The branch it is in (a user's through their team).
    branch: Option<Uuid>,
    /// The team it is in (a team's is itself).
    team: Option<Uuid>,
}

impl Place {
    /// The place of the targets this one's are parts of.
    fn parent(&self) -> Option<Self> {
        match self.level {
            Level::Org => None,
            Level::Branch => Some(Self {
                level: Level::Org,
                subject: Uuid::nil(),
                branch: None,
                team: None,
            }),
            Level::Team => self.branch.map(|branch| Self {
                level: Level::Branch,
                subject: branch,
                branch: Some(branch),
                team: None,
            }),
            Level::Rep => self.team.map(|team| Self {
                level: Level::Team,
                subject: team,
                branch: self.branch,
                team: Some(team),
            }),
        }
    }
}

const SETTERS: &[Role] = &[Role::Admin, Role::Director, Role::Manager];
const READERS: &[Role] = &[Role::Admin, Role::Director, Role::Manager, Role::Rep];

/// Whether the caller may set targets at `place` (they may read it, too).
fn may_set(caller: &AuthUser, place: &Place) -> bool {
    match caller.role {
        Role::Admin => true,
        Role::Director => caller
            .branch_id
            .is_none_or(|own| place.level != Level::Org && place.branch == Some(own.0)),
        Role::Manager => {
            place.level != Level::Org
                && place.level != Level::Branch
                && place
                    .team
                    .is_some_and(|team| caller.led_teams.iter().any(|led| led.0 == team))
        }
        Role::Rep | Role::Service => false,
    }
}

fn teams_of_branch(branch: Uuid) -> SelectStatement {
    Query::select()
        .column(team::Column::Id)
        .from(team::Entity)
        .and_where(Expr::col(team::Column::BranchId).eq(branch))
        .to_owned()
}

fn users_of_teams(teams: SelectStatement) -> SelectStatement {
    Query::select()
        .column(user::Column::Id)
        .from(user::Entity)
        .and_where(Expr::col(user::Column::TeamId).in_subquery(teams))
        .to_owned()
}

fn users_of_team(team: Uuid) -> SelectStatement {
    Query::select()
        .column(user::Column::Id)
        .from(user::Entity)
        .and_where(Expr::col(user::Column::TeamId).eq(team))
        .to_owned()
}

fn at(level: Level) -> Condition {
    Condition::all().add(sales_target::Column::Level.eq(level.as_str()))
}

/// The targets a caller may read, as a condition on `sales_targets`
/// (`None`: all of them); the service role reads none (403).
fn read_scope(caller: &AuthUser) -> ApiResult<Option<Condition>> {
    caller.require(READERS)?;
    let subject = sales_target::Column::SubjectId;
    let grounds = match (caller.role, caller.branch_id) {
        (Role::Admin, _) | (Role::Director, None) => return Ok(None),
        (Role::Director, Some(own)) => Condition::any()
            .add(at(Level::Org))
            .add(at(Level::Branch).add(subject.eq(own.0)))
            .add(at(Level::Team).add(subject.in_subquery(teams_of_branch(own.0))))
            .add(at(Level::Rep).add(subject.in_subquery(users_of_teams(teams_of_branch(own.0))))),
        (Role::Manager, _) => {
            let led: Vec<Uuid> = caller.led_teams.iter().map(|t| t.0).collect();
            let members = Query::select()
                .column(user::Column::Id)
                .from(user::Entity)
                .and_where(Expr::col(user::Column::TeamId).is_in(led.clone()))
                .to_owned();
            Condition::any()
                .add(at(Level::Team).add(subject.is_in(led)))
                .add(at(Level::Rep).add(subject.in_subquery(members)))
        }
        _ => {
            let mut grounds = Condition::any().add(at(Level::Rep).add(subject.eq(caller.id.0)));
            if let Some(team) = caller.team_id {
                grounds = grounds.add(at(Level::Team).add(subject.eq(team.0)));
            }
            grounds
        }
    };
    Ok(Some(Condition::all().add(grounds)))
}

/// Where `subject` sits, checking it exists and fits the level (422 otherwise).
async fn place_of(
    conn: &impl ConnectionTrait,
    level: Level,
    subject: Option<Uuid>,
) -> ApiResult<Place> {
    let unknown = |what: &str| {
        ApiError::invalid_field("subject_id", "unknown_subject", format!("no such {what}"))
    };
    let subject = match (level, subject) {
        (Level::Org, None) => {
            return Ok(Place {
                level,
                subject: Uuid::nil(),
                branch: None,
                team: None,
            });
        }
        (Level::Org, Some(_)) => {
            return Err(ApiError::invalid_field(
                "subject_id",
                "subject_not_allowed",
                "an org target has no subject",
            ));
        }
        (_, None) => {
            return Err(ApiError::invalid_field(
                "subject_id",
                "subject_required",
                format!("a {} target names its {}", level.as_str(), level.as_str()),
            ));
        }
        (_, Some(subject)) => subject,
    };
    match level {
        Level::Branch => {
            branch::Entity::find_by_id(subject)
                .one(conn)
                .await?
                .ok_or_else(|| unknown("branch"))?;
            Ok(Place {
                level,
                subject,
                branch: Some(subject),
                team: None,
            })
        }
        Level::Team => {
            let row = team::Entity::find_by_id(subject)
                .one(conn)
                .await?
                .ok_or_else(|| unknown("team"))?;
            Ok(Place {
                level,
                subject,
                branch: Some(row.branch_id),
                team: Some(subject),
            })
        }
        // The org level was answered above; what is left is a user.
        Level::Org | Level::Rep => {
            let row = user::Entity::find_by_id(subject)
                .one(conn)
                .await?
                .ok_or_else(|| unknown("user"))?;
            let branch = match row.team_id {
                Some(team_id) => team::Entity::find_by_id(team_id)
                    .one(conn)
                    .await?
                    .map(|t| t.branch_id),
                None => None,
            };
            Ok(Place {
                level,
                subject,
                branch,
                team: row.team_id,
            })
        }
    }
}

/// The target of `key` at `place`, if set.
async fn target_at(
    conn: &impl ConnectionTrait,
    key: TargetKey,
    place: &Place,
) -> ApiResult<Option<Target>> {
    sales_target::Entity::find()
        .filter(sales_target::Column::Period.eq(key.period.as_str()))
        .filter(sales_target::Column::PeriodStart.eq(key.start))
        .filter(sales_target::Column::Metric.eq(key.metric.as_str()))
        .filter(sales_target::Column::Level.eq(place.level.as_str()))
        .filter(sales_target::Column::SubjectId.eq(place.subject))
        .one(conn)
        .await?
        .map(Target::try_from)
        .transpose()
}

/// Serializes, on PostgreSQL, the writes to the targets of one period and
/// metric: the rule of decomposition reads a whole and its parts and then
/// writes one of them, and two writers checking at once (a part and its
/// whole, two siblings, or servers sharing the database) could each pass
/// and together break it. The lock is held until the transaction ends.
/// SQLite writers are serialized already.
async fn lock_family(conn: &impl ConnectionTrait, key: TargetKey) -> ApiResult<()> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let name = format!(
        "sales_targets/{}/{}/{}",
        key.period.as_str(),
        key.start,
        key.metric.as_str()
    );
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [family_lock_id(&name).into()],
    ))
    .await?;
    Ok(())
}

/// FNV-1a of `name`: the same 64 bits in every server process and build.
fn family_lock_id(name: &str) -> i64 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// The subjects one level down from `place`: every branch of the org, the
/// teams of a branch, the users of a team; with whether each still counts
/// as a subject to allocate to (deactivated users do not).
async fn children_of(
    conn: &impl ConnectionTrait,
    place: &Place,
) -> ApiResult<Vec<(TargetSubject, bool)>> {
    let subject = |id, name| TargetSubject { id, name };
    Ok(match place.level {
        Level::Org => branch::Entity::find()
            .order_by_asc(branch::Column::Name)
            .all(conn)
            .await?
            .into_iter()
            .map(|b| (subject(b.id, b.name), true))
            .collect(),
        Level::Branch => team::Entity::find()
            .filter(team::Column::BranchId.eq(place.subject))
            .order_by_asc(team::Column::Name)
            .all(conn)
            .await?
            .into_iter()
            .map(|t| (subject(t.id, t.name), true))
            .collect(),
        Level::Team => user::Entity::find()
            .filter(user::Column::TeamId.eq(place.subject))
            .order_by_asc(user::Column::DisplayName)
            .all(conn)
            .await?
            .into_iter()
            .map(|u| (subject(u.id, u.display_name), u.active))
            .collect(),
        Level::Rep => Vec::new(),
    })
}

/// The parts of the target of `key` at `place`, with the subjects they
/// are set for.
async fn parts_of(
    conn: &impl ConnectionTrait,
    key: TargetKey,
    place: &Place,
) -> ApiResult<(Vec<(TargetSubject, bool)>, Vec<Target>)> {
    let Some(child) = place.level.child() else {
        return Ok((Vec::new(), Vec::new()));
    };
    let children = children_of(conn, place).await?;
    if children.is_empty() {
        return Ok((children, Vec::new()));
    }
    let parts = sales_target::Entity::find()
        .filter(sales_target::Column::Period.eq(key.period.as_str()))
        .filter(sales_target::Column::PeriodStart.eq(key.start))
        .filter(sales_target::Column::Metric.eq(key.metric.as_str()))
        .filter(sales_target::Column::Level.eq(child.as_str()))
        .filter(sales_target::Column::SubjectId.is_in(children.iter().map(|(c, _)| c.id)))
        .order_by_asc(sales_target::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .map(Target::try_from)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok((children, parts))
}

/// The sum of stored values, which no number of them overflows.
fn sum(parts: impl IntoIterator<Item = i64>) -> i128 {
    parts.into_iter().map(i128::from).sum()
}

fn exceeded(whole: &str, metric: Metric, sum: i128) -> ApiError {
    ApiError::new(
        ErrorCode::DecompositionExceeded,
        format!(
            "the parts of {whole} would add up to {}, more than the whole",
            metric.text(sum)
        ),
    )
}

fn currency_mismatch(whole: &str) -> ApiError {
    ApiError::invalid_field(
        "currency",
        "currency_mismatch",
        format!("the parts of {whole} are in one currency with it"),
    )
}

/// The rule of decomposition, for a target of `key` at `place` that would
/// be worth `value` (`id`: the target itself, not counted twice): with its
/// siblings it fits in its whole, and its own parts fit in it. The caller
/// holds the family's lock ([`lock_family`]).
async fn check_decomposition(
    conn: &impl ConnectionTrait,
    key: TargetKey,
    place: &Place,
    id: Uuid,
    value: i64,
    currency: Option<&str>,
) -> ApiResult<()> {
    if let Some(parent) = place.parent()
        && let Some(whole) = target_at(conn, key, &parent).await?
    {
        if whole.row.currency.as_deref() != currency {
            return Err(currency_mismatch(&whole.describe()));
        }
        let (_, siblings) = parts_of(conn, key, &parent).await?;
        let others = siblings
            .iter()
            .filter(|s| s.row.id != id)
            .map(|s| s.row.value);
        let total = sum(others.chain([value]));
        if total > i128::from(whole.row.value) {
            return Err(exceeded(&whole.describe(), key.metric, total));
        }
    }
    let (_, parts) = parts_of(conn, key, place).await?;
    if parts.iter().any(|p| p.row.currency.as_deref() != currency) {
        return Err(currency_mismatch(&format!(
            "the {} target {id}",
            place.level.as_str()
        )));
    }
    let total = sum(parts.iter().map(|p| p.row.value));
    if total > i128::from(value) {
        return Err(exceeded(
            &format!(
                "the {} target {id} ({})",
                place.level.as_str(),
                key.metric.text(i128::from(value))
            ),
            key.metric,
            total,
        ));
    }
    Ok(())
}

/// The target row, if the caller may read it (else 404); with `lock`, held
/// until the transaction ends (PostgreSQL; SQLite writers are serialized
/// already).
async fn readable(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    id: Uuid,
    lock: bool,
) -> ApiResult<Target> {
    crate::telemetry::record_id(id);
    let mut query = sales_target::Entity::find_by_id(id);
    if let Some(scope) = read_scope(caller)? {
        query = query.filter(scope);
    }
    if lock && conn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    query
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::not_found("target"))?
        .try_into()
}

/// The place of a stored target.
async fn place_of_target(conn: &impl ConnectionTrait, target: &Target) -> ApiResult<Place> {
    let subject = (target.level != Level::Org).then_some(target.row.subject_id);
    place_of(conn, target.level, subject).await
}

/// The target the caller may read, checked for setting: 403 when they
/// read it but may not set it.
async fn settable(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    id: Uuid,
) -> ApiResult<(Target, Place)> {
    let target = readable(conn, caller, id, true).await?;
    caller.require(SETTERS)?;
    let place = place_of_target(conn, &target).await?;
    if !may_set(caller, &place) {
        return Err(scope_forbidden());
    }
    Ok((target, place))
}

fn scope_forbidden() -> ApiError {
    ApiError::new(
        ErrorCode::TargetScopeForbidden,
        "targets at this place in the org are set by someone above you",
    )
}

/// Sets a target. 409 `target_exists` when its period, level, subject and
/// metric have one; 422 `decomposition_exceeded` when it breaks the rule of
/// decomposition.
pub async fn create(state: &AppState, caller: &AuthUser, new: NewTarget) -> ApiResult<TargetView> {
    caller.require(SETTERS)?;
    let id = new.id.map_or_else(Uuid::now_v7, |id| id.0);
    crate::telemetry::record_id(id);
    super::check_date("period_start", new.period_start)?;
    if !new.period.starts_on(new.period_start) {
        return Err(ApiError::invalid_field(
            "period_start",
            "not_a_period_start",
            format!("not the first day of a {}", new.period.as_str()),
        ));
    }
    let value = new.metric.parse_value(&new.value)?;
    let currency = match (new.metric.is_money(), new.currency) {
        (true, currency) => {
            let currency = currency.unwrap_or_else(|| Currency::default().into());
            check_currency("currency", &currency)?;
            Some(currency)
        }
        (false, None) => None,
        (false, Some(_)) => {
            return Err(ApiError::invalid_field(
                "currency",
                "not_money",
                "only revenue targets have a currency",
            ));
        }
    };
    let key = TargetKey {
        period: new.period,
        start: new.period_start,
        metric: new.metric,
    };
    let txn = state.db.begin_write().await?;
    lock_family(&txn, key).await?;
    let place = place_of(&txn, new.level, new.subject_id).await?;
    if !may_set(caller, &place) {
        return Err(scope_forbidden());
    }
    if sales_target::Entity::find_by_id(id).count(&txn).await? > 0 {
        return Err(ApiError::new(
            ErrorCode::AlreadyExists,
            "a target with this id exists",
        ));
    }
    if target_at(&txn, key, &place).await?.is_some() {
        return Err(target_exists());
    }
    check_decomposition(&txn, key, &place, id, value, currency.as_deref()).await?;
    let now = Utc::now();
    let row = sales_target::ActiveModel {
        id: Set(id),
        period: Set(key.period.as_str().to_owned()),
        period_start: Set(key.start),
        level: Set(place.level.as_str().to_owned()),
        subject_id: Set(place.subject),
        metric: Set(key.metric.as_str().to_owned()),
        value: Set(value),
        currency: Set(currency),
        created_by: Set(Some(caller.id.0)),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
    }
    .insert(&txn)
    .await
    .map_err(|err| match err.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => target_exists(),
        _ => ApiError::from(err),
    })?;
    txn.commit().await?;
    tracing::info!(target_id = %id, "target set");
    Target::try_from(row)?.view()
}

fn target_exists() -> ApiError {
    ApiError::new(
        ErrorCode::TargetExists,
        "this period, level, subject and metric have a target; change its value instead",
    )
}

/// Reads one target.
pub async fn get(state: &AppState, caller: &AuthUser, id: Uuid) -> ApiResult<TargetView> {
    readable(state.db.conn(), caller, id, false).await?.view()
}

/// Lists the targets the caller may read, newest first, with their
/// progress when asked.
pub async fn list(
    state: &AppState,
    caller: &AuthUser,
    filter: TargetFilter,
) -> ApiResult<Page<TargetView>> {
    let limit = Page::<TargetView>::limit(filter.limit, state.settings.server.max_page_size)?;
    let mut condition = read_scope(caller)?.unwrap_or_else(Condition::all);
    if let Some(period) = filter.period {
        condition = condition.add(sales_target::Column::Period.eq(period.as_str()));
    }
    if let Some(start) = filter.period_start {
        condition = condition.add(sales_target::Column::PeriodStart.eq(start));
    }
    if let Some(level) = filter.level {
        condition = condition.add(sales_target::Column::Level.eq(level.as_str()));
    }
    if let Some(subject) = filter.subject_id {
        condition = condition.add(sales_target::Column::SubjectId.eq(subject));
    }
    if let Some(metric) = filter.metric {
        condition = condition.add(sales_target::Column::Metric.eq(metric.as_str()));
    }
    let conn = state.db.conn();
    let rows = page::rows_after::<sales_target::Entity>(
        conn,
        condition,
        sales_target::Column::Id,
        filter.cursor.as_deref(),
        limit,
    )
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let target = Target::try_from(row)?;
        let mut view = target.view()?;
        if filter.with_progress.unwrap_or(false) {
            view.progress = Some(progress_of(conn, &target).await?);
        }
        items.push(view);
    }
    Ok(Page::from_overfetch(items, limit, |view| view.id.0))
}

/// Changes a target's value, honouring `If-Match` and the rule of decomposition.
pub async fn update(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    change: TargetChange,
    precondition: Option<&Precondition>,
) -> ApiResult<TargetView> {
    let txn = state.db.begin_write().await?;
    let (target, place) = settable(&txn, caller, id).await?;
    check_precondition(precondition, target.row.version)?;
    let value = target.key.metric.parse_value(&change.value)?;
    if value == target.row.value {
        return target.view();
    }
    lock_family(&txn, target.key).await?;
    check_decomposition(
        &txn,
        target.key,
        &place,
        id,
        value,
        target.row.currency.as_deref(),
    )
    .await?;
    let version = target.row.version + 1;
    let row = sales_target::ActiveModel {
        id: Set(id),
        value: Set(value),
        updated_at: Set(Utc::now()),
        version: Set(version),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    txn.commit().await?;
    tracing::info!(target_id = %id, version, "target changed");
    Target::try_from(row)?.view()
}

/// Deletes a target, honouring `If-Match`; its parts stay.
pub async fn delete(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    precondition: Option<&Precondition>,
) -> ApiResult<()> {
    let txn = state.db.begin_write().await?;
    let (target, _) = settable(&txn, caller, id).await?;
    check_precondition(precondition, target.row.version)?;
    sales_target::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    tracing::info!(target_id = %id, "target deleted");
    Ok(())
}

/// A target, its parts, their sum, the gap and the subjects with no part yet.
pub async fn decomposition(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
) -> ApiResult<Decomposition> {
    let conn = state.db.conn();
    let target = readable(conn, caller, id, false).await?;
    let place = place_of_target(conn, &target).await?;
    let (children, parts) = parts_of(conn, target.key, &place).await?;
    let total = sum(parts.iter().map(|p| p.row.value));
    let allocated: HashSet<Uuid> = parts.iter().map(|p| p.row.subject_id).collect();
    let readable_parts: HashSet<Uuid> = match read_scope(caller)? {
        None => parts.iter().map(|p| p.row.id).collect(),
        Some(scope) if !parts.is_empty() => sales_target::Entity::find()
            .select_only()
            .column(sales_target::Column::Id)
            .filter(sales_target::Column::Id.is_in(parts.iter().map(|p| p.row.id)))
            .filter(scope)
            .into_tuple::<Uuid>()
            .all(conn)
            .await?
            .into_iter()
            .collect(),
        Some(_) => HashSet::new(),
    };
    let metric = target.key.metric;
    Ok(Decomposition {
        parts_level: target.level.child(),
        parts: parts
            .iter()
            .filter(|p| readable_parts.contains(&p.row.id))
            .map(Target::view)
            .collect::<ApiResult<_>>()?,
        parts_sum: metric.total(total),
        gap: metric.total(i128::from(target.row.value) - total),
        without_target: children
            .into_iter()
            .filter(|(child, counts)| *counts && !allocated.contains(&child.id))
            .map(|(child, _)| child)
            .collect(),
        target: target.view()?,
    })
}

/// A target with its progress.
pub async fn progress(state: &AppState, caller: &AuthUser, id: Uuid) -> ApiResult<TargetView> {
    let conn = state.db.conn();
    let target = readable(conn, caller, id, false).await?;
    let mut view = target.view()?;
    view.progress = Some(progress_of(conn, &target).await?);
    Ok(view)
}

/// The users whose work counts for a target at `level` on `subject`
/// (`None`: everybody, at the org level).
fn members(level: Level, subject: Uuid) -> Option<SelectStatement> {
    match level {
        Level::Org => None,
        Level::Branch => Some(users_of_teams(teams_of_branch(subject))),
        Level::Team => Some(users_of_team(subject)),
        Level::Rep => Some(
            Query::select()
                .column(user::Column::Id)
                .from(user::Entity)
                .and_where(Expr::col(user::Column::Id).eq(subject))
                .to_owned(),
        ),
    }
}

/// The actual value of a target's metric in its period, for its subject.
async fn progress_of(conn: &impl ConnectionTrait, target: &Target) -> ApiResult<Progress> {
    let TargetKey { start, metric, .. } = target.key;
    let end = target.end()?;
    let members = members(target.level, target.row.subject_id);
    let actual: i128 = match metric {
        Metric::Revenue | Metric::SignedContracts => {
            let mut query = contract::Entity::find()
                .filter(contract::Column::Status.is_in([
                    ContractStatus::Active.as_str(),
                    ContractStatus::Completed.as_str(),
                ]))
                .filter(contract::Column::SignedOn.gte(start))
                .filter(contract::Column::SignedOn.lt(end));
            if let Some(members) = members {
                query = query.filter(contract::Column::OwnerId.in_subquery(members));
            }
            if metric.is_money() {
                let [high, low] = totals::sum_parts(contract::Column::AmountMinor);
                let (high, low): (i64, i64) = query
                    .filter(contract::Column::Currency.eq(target.row.currency.clone()))
                    .select_only()
                    .expr(high)
                    .expr(low)
                    .into_tuple()
                    .one(conn)
                    .await?
                    .unwrap_or_default();
                totals::total(high, low).minor()
            } else {
                i128::from(query.count(conn).await?)
            }
        }
        Metric::NewKeyAccounts => {
            let (from, to) = (midnight(start), midnight(end));
            let mut query = account::Entity::find()
                .filter(account::Column::CreatedAt.gte(from))
                .filter(account::Column::CreatedAt.lt(to))
                .filter(account::Column::Tier.is_in([Tier::Strategic.as_str(), Tier::Key.as_str()]))
                .filter(account::Column::Deleted.eq(false));
            if let Some(members) = members {
                query = query.filter(account::Column::OwnerId.in_subquery(members));
            }
            i128::from(query.count(conn).await?)
        }
        Metric::Visits => {
            let (from, to) = (midnight(start), midnight(end));
            let mut query = visit::Entity::find()
                .filter(visit::Column::PlannedAt.gte(from))
                .filter(visit::Column::PlannedAt.lt(to))
                .filter(visit::Column::Status.eq(VisitStatus::Completed.as_str()))
                .filter(visit::Column::Deleted.eq(false));
            if crate::insight::settings::current(conn)
                .await?
                .settings
                .visits
                .targets_count_effective_only
            {
                query = query.filter(visit::Column::Effective.eq(true));
            }
            if let Some(members) = members {
                query = query.filter(visit::Column::OwnerId.in_subquery(members));
            }
            i128::from(query.count(conn).await?)
        }
    };
    Ok(Progress {
        actual: metric.total(actual),
        attainment: attainment(actual, target.row.value),
    })
}

/// Periods run from midnight UTC to midnight UTC.
fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// `actual / target`, to four decimals; `None` for a target of 0.
fn attainment(actual: i128, target: i64) -> Option<f64> {
    (target != 0).then(|| {
        let ratio = actual as f64 / target as f64;
        (ratio * 10_000.0).round() / 10_000.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kam_sync_core::ids::{BranchId, TeamId};

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn a_period_starts_on_the_first_day_of_its_kind() {
        assert!(PeriodKind::Year.starts_on(day(2026, 1, 1)));
        assert!(!PeriodKind::Year.starts_on(day(2026, 4, 1)));
        for month in [1, 4, 7, 10] {
            assert!(PeriodKind::Quarter.starts_on(day(2026, month, 1)));
        }
        assert!(!PeriodKind::Quarter.starts_on(day(2026, 2, 1)));
        assert!(!PeriodKind::Quarter.starts_on(day(2026, 4, 2)));
        assert!(PeriodKind::Month.starts_on(day(2026, 11, 1)));
        assert!(!PeriodKind::Month.starts_on(day(2026, 11, 2)));
    }

    #[test]
    fn a_period_ends_where_the_next_begins() {
        assert_eq!(PeriodKind::Year.end(day(2026, 1, 1)), Some(day(2027, 1, 1)));
        assert_eq!(
            PeriodKind::Quarter.end(day(2026, 10, 1)),
            Some(day(2027, 1, 1))
        );
        assert_eq!(
            PeriodKind::Month.end(day(2026, 2, 1)),
            Some(day(2026, 3, 1))
        );
    }

    #[test]
    fn revenue_is_money_and_the_other_metrics_are_whole_counts() {
        let number = |text: &str| serde_json::from_str::<serde_json::Number>(text).ok();
        let parse =
            |metric: Metric, text: &str| number(text).and_then(|n| metric.parse_value(&n).ok());
        assert_eq!(parse(Metric::Revenue, "1234.5"), Some(123_450));
        assert_eq!(parse(Metric::Visits, "12"), Some(12));
        assert_eq!(parse(Metric::Visits, "12.0"), Some(12));
        assert_eq!(parse(Metric::Visits, "1.5"), None);
        assert_eq!(parse(Metric::Visits, "1e300"), None);
        assert_eq!(parse(Metric::SignedContracts, "-1"), None);
        assert_eq!(parse(Metric::Revenue, "-1"), None);
    }

    #[test]
    fn attainment_is_null_for_a_target_of_zero() {
        assert_eq!(attainment(5, 0), None);
        assert_eq!(attainment(1, 3), Some(0.3333));
        assert_eq!(attainment(150, 100), Some(1.5));
    }

    fn caller(role: Role) -> AuthUser {
        AuthUser {
            id: UserId::new_v7(),
            role,
            team_id: None,
            branch_id: None,
            led_teams: Vec::new(),
            session_id: Uuid::now_v7(),
            device_id: "laptop".into(),
        }
    }

    fn place(level: Level, branch: Uuid, team: Option<Uuid>) -> Place {
        Place {
            level,
            subject: Uuid::now_v7(),
            branch: Some(branch),
            team,
        }
    }

    #[test]
    fn directors_set_their_branch_and_below_and_managers_their_teams() {
        let (east, west, team) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let org = Place {
            level: Level::Org,
            subject: Uuid::nil(),
            branch: None,
            team: None,
        };
        let mut director = caller(Role::Director);
        assert!(may_set(&director, &org));
        director.branch_id = Some(BranchId(east));
        assert!(!may_set(&director, &org));
        assert!(may_set(&director, &place(Level::Branch, east, None)));
        assert!(may_set(&director, &place(Level::Rep, east, Some(team))));
        assert!(!may_set(&director, &place(Level::Team, west, Some(team))));

        let mut manager = caller(Role::Manager);
        manager.led_teams = vec![TeamId(team)];
        assert!(may_set(&manager, &place(Level::Team, east, Some(team))));
        assert!(may_set(&manager, &place(Level::Rep, east, Some(team))));
        assert!(!may_set(&manager, &place(Level::Branch, east, Some(team))));
        assert!(!may_set(&manager, &place(Level::Rep, east, Some(west))));

        for role in [Role::Rep, Role::Service] {
            assert!(!may_set(
                &caller(role),
                &place(Level::Rep, east, Some(team))
            ));
        }
        assert!(may_set(&caller(Role::Admin), &org));
    }

    #[test]
    fn a_targets_whole_is_one_level_up_within_it() {
        let (branch, team) = (Uuid::now_v7(), Uuid::now_v7());
        let rep = place(Level::Rep, branch, Some(team));
        let up = rep.parent();
        assert_eq!(
            up.as_ref().map(|p| (p.level, p.subject)),
            Some((Level::Team, team))
        );
        let up = up.and_then(|p| p.parent());
        assert_eq!(
            up.as_ref().map(|p| (p.level, p.subject)),
            Some((Level::Branch, branch))
        );
        let up = up.and_then(|p| p.parent());
        assert_eq!(up.as_ref().map(|p| p.level), Some(Level::Org));
        assert_eq!(up.and_then(|p| p.parent()), None);
        let teamless = Place { team: None, ..rep };
        assert_eq!(teamless.parent(), None);
    }
}
