//! The rows the reports read, seeded at scale straight into a server's
//! tables through its own sea-orm entities: accounts, visits, deals and
//! their stage history, line items over a product catalogue, contracts,
//! tickets and callbacks, each record with the minimal `documents` row its
//! foreign key needs (an empty snapshot, no changes).
//!
//! This is for `kam-bench --reports`, a read benchmark: going through sync
//! at this scale would take hours, and the reports never read documents or
//! the `body` JSON, only the columns written here (with the values and
//! units the server stores: amounts in minor units of CNY, stage and status
//! codes as `kam-sync-core` spells them). Every value comes from the RNG
//! seeded with `--seed`, so the same seed seeds the same rows; the dates are
//! relative to now.

use anyhow::Context;
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, Utc};
use kam_server::entities::{
    account, callback, contract, contract_line, document, opportunity, opportunity_line, product,
    stage_move, ticket, visit,
};
use rand::Rng;
use rand::rngs::StdRng;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, DatabaseConnection, EntityTrait,
    IntoActiveModel, TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

/// Rows per INSERT statement: under SQLite's 32,766 bound variables for the
/// widest table (accounts, 25 columns) and PostgreSQL's 65,535.
const ROWS_PER_INSERT: usize = 1000;

/// How many rows of each kind to seed.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Accounts.
    pub accounts: usize,
    /// Visits, spread over the accounts.
    pub visits: usize,
    /// Deals (opportunities), spread over the accounts.
    pub opportunities: usize,
    /// Service tickets.
    pub tickets: usize,
    /// Callbacks.
    pub callbacks: usize,
    /// Signed contracts.
    pub contracts: usize,
    /// Products in the catalogue.
    pub products: usize,
}

/// A rep the rows are owned by, with their team and branch.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    /// The user.
    pub id: Uuid,
    /// Their team.
    pub team_id: Uuid,
    /// The team's branch.
    pub branch_id: Uuid,
}

/// How many rows of each table were written.
#[derive(Debug, Default, Clone)]
pub struct Seeded {
    /// Table name and rows, in the order written.
    pub tables: Vec<(&'static str, usize)>,
}

impl Seeded {
    /// Every row written.
    pub fn total(&self) -> usize {
        self.tables.iter().map(|(_, rows)| rows).sum()
    }
}

/// An account as the other rows need it.
#[derive(Clone, Copy)]
struct SeededAccount {
    id: Uuid,
    owner: Uuid,
}

/// A record's id as a client makes it, a UUIDv7 of when it was made (so
/// ids follow creation time, as in a real store), its random bits from the
/// seeded RNG.
fn record_id(rng: &mut StdRng, made_at: DateTime<Utc>) -> Uuid {
    let millis = u64::try_from(made_at.timestamp_millis()).unwrap_or(0);
    let random: [u8; 10] = rng.random();
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

/// A moment `days_back` days (and a random time of day) before `now`.
fn days_ago(rng: &mut StdRng, now: DateTime<Utc>, days_back: i64) -> DateTime<Utc> {
    now - ChronoDuration::days(days_back) - ChronoDuration::seconds(rng.random_range(0..86_400))
}

/// Picks one of `choices` by weight.
fn weighted<T: Copy>(rng: &mut StdRng, choices: &[(T, u32)]) -> T {
    let total: u32 = choices.iter().map(|(_, weight)| weight).sum();
    let mut draw = rng.random_range(0..total.max(1));
    for (choice, weight) in choices {
        if draw < *weight {
            return *choice;
        }
        draw -= weight;
    }
    choices[choices.len() - 1].0
}

/// The minimal stored document of a record: no changes, an empty snapshot.
fn document_row(
    id: Uuid,
    kind: &str,
    account_id: Uuid,
    at: DateTime<Utc>,
) -> document::ActiveModel {
    document::Model {
        id,
        kind: kind.to_owned(),
        account_id,
        last_seq: 0,
        heads: json!([]),
        snapshot: Vec::new(),
        snapshot_seq: 0,
        changes_since_snapshot: 0,
        created_at: at,
        updated_at: at,
    }
    .into_active_model()
}

/// Inserts `rows` in statements of [`ROWS_PER_INSERT`], in one transaction.
async fn insert_all<A>(conn: &DatabaseConnection, rows: Vec<A>) -> anyhow::Result<usize>
where
    A: ActiveModelTrait + Send,
{
    let count = rows.len();
    let txn = conn.begin().await?;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        A::Entity::insert_many(chunk)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(count)
}

/// Rows of one kind and their documents, written a batch at a time so the
/// seed holds a few batches of rows in memory, not the whole store. The
/// caller flushes a full batch, then those of the rows that refer to it
/// (line items need their deal or contract written first).
struct Batches<A: ActiveModelTrait + Send> {
    table: &'static str,
    rows: Vec<A>,
    documents: Vec<document::ActiveModel>,
    written: usize,
}

/// Records generated before they are written.
const BATCH: usize = 20_000;

impl<A: ActiveModelTrait + Send> Batches<A> {
    fn new(table: &'static str) -> Self {
        Self {
            table,
            rows: Vec::new(),
            documents: Vec::new(),
            written: 0,
        }
    }

    fn push(&mut self, row: A, document: Option<document::ActiveModel>) {
        self.rows.push(row);
        self.documents.extend(document);
    }

    /// Whether a batch of records waits: time to flush it, and then the
    /// rows that refer to it (its lines, its stage moves).
    fn full(&self) -> bool {
        self.rows.len() >= BATCH
    }

    async fn flush(&mut self, conn: &DatabaseConnection) -> anyhow::Result<()> {
        insert_all(conn, std::mem::take(&mut self.documents))
            .await
            .with_context(|| format!("documents of {}", self.table))?;
        let table = self.table;
        let written = insert_all(conn, std::mem::take(&mut self.rows))
            .await
            .with_context(|| table)?;
        self.written += written;
        Ok(())
    }

    async fn finish(
        mut self,
        conn: &DatabaseConnection,
        seeded: &mut Seeded,
    ) -> anyhow::Result<()> {
        self.flush(conn).await?;
        seeded.tables.push((self.table, self.written));
        Ok(())
    }
}

/// A stage move row (its id left to the database).
#[allow(clippy::too_many_arguments)]
fn stage_move_row(
    kind: &str,
    record_id: Uuid,
    account_id: Uuid,
    from: Option<&str>,
    to: &str,
    at: DateTime<Utc>,
    by: Uuid,
    secs_in_from_stage: Option<i64>,
) -> stage_move::ActiveModel {
    stage_move::ActiveModel {
        id: NotSet,
        record_kind: Set(kind.to_owned()),
        record_id: Set(record_id),
        account_id: Set(account_id),
        from_stage: Set(from.map(str::to_owned)),
        to_stage: Set(to.to_owned()),
        moved_at: Set(at),
        moved_by: Set(Some(by)),
        secs_in_from_stage: Set(secs_in_from_stage),
    }
}

/// Seeds every table the reports read, for accounts owned by `owners`.
pub async fn seed(
    conn: &DatabaseConnection,
    rng: &mut StdRng,
    owners: &[Owner],
    scale: Scale,
) -> anyhow::Result<Seeded> {
    anyhow::ensure!(!owners.is_empty(), "the rows need at least one owner");
    anyhow::ensure!(
        scale.accounts > 0 && scale.products > 0,
        "the rows need at least one account and one product"
    );
    let now = Utc::now();
    let mut seeded = Seeded::default();
    let products = seed_products(conn, rng, scale.products, now).await?;
    seeded.tables.push(("products", products.len()));
    let accounts = seed_accounts(conn, rng, owners, scale.accounts, now, &mut seeded).await?;
    seed_visits(conn, rng, &accounts, scale.visits, now, &mut seeded).await?;
    seed_opportunities(
        conn,
        rng,
        &accounts,
        &products,
        scale.opportunities,
        now,
        &mut seeded,
    )
    .await?;
    seed_contracts(
        conn,
        rng,
        &accounts,
        &products,
        scale.contracts,
        now,
        &mut seeded,
    )
    .await?;
    seed_service(conn, rng, &accounts, scale, now, &mut seeded).await?;
    Ok(seeded)
}

/// A product's id and list price (minor units).
type Product = (Uuid, i64);

async fn seed_products(
    conn: &DatabaseConnection,
    rng: &mut StdRng,
    count: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Product>> {
    let mut products = Vec::new();
    let mut rows = Vec::new();
    for i in 0..count {
        let id = record_id(rng, now);
        let price = rng.random_range(100..50_000) * 100;
        products.push((id, price));
        rows.push(
            product::Model {
                id,
                code: format!("BENCH-P{i:03}"),
                name: format!("Bench product {i}"),
                unit: "unit".to_owned(),
                list_price_minor: price,
                currency: "CNY".to_owned(),
                description: None,
                active: true,
                created_at: now,
                updated_at: now,
                version: 1,
            }
            .into_active_model(),
        );
    }
    insert_all(conn, rows).await.context("products")?;
    Ok(products)
}

async fn seed_accounts(
    conn: &DatabaseConnection,
    rng: &mut StdRng,
    owners: &[Owner],
    count: usize,
    now: DateTime<Utc>,
    seeded: &mut Seeded,
) -> anyhow::Result<Vec<SeededAccount>> {
    const TIERS: [(Option<&str>, u32); 4] = [
        (Some("strategic"), 10),
        (Some("key"), 20),
        (Some("standard"), 60),
        (None, 10),
    ];
    const STAGES: [(&str, u32); 6] = [
        ("identified", 15),
        ("engaging", 20),
        ("deepening", 20),
        ("maintaining", 30),
        ("at_risk", 10),
        ("lost", 5),
    ];
    const SEGMENTS: [&str; 6] = [
        "government",
        "enterprise",
        "financial",
        "education",
        "healthcare",
        "other",
    ];
    let mut accounts = Vec::with_capacity(count);
    let mut rows = Batches::new("accounts");
    let mut moves = Batches::new("stage_moves (accounts)");
    for i in 0..count {
        let owner = owners[i % owners.len()];
        let age_days = rng.random_range(0..1095);
        let created_at = days_ago(rng, now, age_days);
        let id = record_id(rng, created_at);
        let stage = weighted(rng, &STAGES);
        let name = format!("Bench Account {i:06}");
        let score = rng.random_range(0..100);
        let health = rng.random_range(0..100);
        let since_visit_days = rng.random_range(0..120);
        let last_visit_at = Some(days_ago(rng, now, since_visit_days));
        let next_visit_due =
            Some(now + ChronoDuration::days(rng.random_range(-60..60))).filter(|_| stage != "lost");
        let account = account::Model {
            id,
            name_search: name.to_lowercase(),
            name,
            segment: SEGMENTS[i % SEGMENTS.len()].to_owned(),
            tier: weighted(rng, &TIERS).map(str::to_owned),
            proposed_tier: None,
            stage: stage.to_owned(),
            score: Some(score),
            suggested_tier: None,
            owner_id: owner.id,
            team_id: Some(owner.team_id),
            branch_id: Some(owner.branch_id),
            last_visit_at,
            next_visit_due,
            health: Some(health),
            health_band: Some(
                match health {
                    0..40 => "at_risk",
                    40..70 => "watch",
                    _ => "healthy",
                }
                .to_owned(),
            ),
            at_risk_proposed_at: None,
            at_risk_dismissed: None,
            deleted: false,
            created_by: Some(owner.id),
            created_at,
            updated_at: created_at,
            version: 1,
            body: json!({}),
        };
        // The stage history: created at `identified`, then one move to where
        // it stands now (at risk or lost accounts some of them won back).
        moves.push(
            stage_move_row(
                "account",
                id,
                id,
                None,
                "identified",
                created_at,
                owner.id,
                None,
            ),
            None,
        );
        if stage != "identified" {
            let moved_at = created_at + (now - created_at) / 2;
            moves.push(
                stage_move_row(
                    "account",
                    id,
                    id,
                    Some("identified"),
                    stage,
                    moved_at,
                    owner.id,
                    Some((moved_at - created_at).num_seconds()),
                ),
                None,
            );
        }
        rows.push(
            account.into_active_model(),
            Some(document_row(id, "account", id, created_at)),
        );
        accounts.push(SeededAccount {
            id,
            owner: owner.id,
        });
        if rows.full() {
            rows.flush(conn).await?;
            moves.flush(conn).await?;
        }
    }
    rows.finish(conn, seeded).await?;
    moves.finish(conn, seeded).await?;
    Ok(accounts)
}

async fn seed_visits(
    conn: &DatabaseConnection,
    rng: &mut StdRng,
    accounts: &[SeededAccount],
    count: usize,
    now: DateTime<Utc>,
    seeded: &mut Seeded,
) -> anyhow::Result<()> {
    const TYPES: [&str; 4] = ["onsite", "phone", "online", "event"];
    const OUTCOMES: [&str; 3] = ["positive", "neutral", "negative"];
    let mut rows = Batches::new("visits");
    for _ in 0..count {
        let account = accounts[rng.random_range(0..accounts.len())];
        // The last 18 months, and a few weeks ahead.
        let planned_at = now - ChronoDuration::minutes(rng.random_range(-30 * 1440..548 * 1440));
        let id = record_id(rng, planned_at - ChronoDuration::days(7));
        let status = if planned_at > now {
            "planned"
        } else {
            weighted(rng, &[("completed", 64), ("cancelled", 30), ("planned", 6)])
        };
        let completed = status == "completed";
        let minutes = rng.random_range(15..150);
        let checked_in_at = Some(planned_at + ChronoDuration::minutes(rng.random_range(0..30)))
            .filter(|_| completed);
        let checked_out_at = checked_in_at.map(|at| at + ChronoDuration::minutes(minutes));
        let row = visit::Model {
            id,
            account_id: account.id,
            owner_id: account.owner,
            planned_at,
            visit_type: TYPES[rng.random_range(0..TYPES.len())].to_owned(),
            status: status.to_owned(),
            outcome: completed.then(|| OUTCOMES[rng.random_range(0..OUTCOMES.len())].to_owned()),
            checked_in_at,
            checked_out_at,
            visit_minutes: completed.then_some(minutes),
            effective: completed && rng.random_range(0..100) < 80,
            deleted: false,
            created_by: Some(account.owner),
            created_at: planned_at - ChronoDuration::days(7),
            updated_at: planned_at,
            version: 1,
            body: json!({}),
        };
        rows.push(
            row.into_active_model(),
            Some(document_row(id, "visit", account.id, planned_at)),
        );
        if rows.full() {
            rows.flush(conn).await?;
        }
    }
    rows.finish(conn, seeded).await
}

/// The open stages of a deal in order, and the probability of each.
const OPEN_STAGES: [(&str, i64); 4] = [
    ("research", 10),
    ("planning", 30),
    ("negotiation", 60),
    ("contract", 80),
];

/// Line items of a deal or a contract over `products`: their rows' fields
/// (product, quantity, unit price, discount, amount), the amount their sum.
fn line_items(rng: &mut StdRng, products: &[Product]) -> Vec<(Uuid, i64, i64, i64, i64)> {
    (0..rng.random_range(1..4))
        .map(|_| {
            let (product, price) = products[rng.random_range(0..products.len())];
            let quantity = rng.random_range(1..20);
            let discount = [0, 0, 5, 10][rng.random_range(0..4)];
            let amount = quantity * price * (100 - discount) / 100;
            (product, quantity, price, discount, amount)
        })
        .collect()
}

async fn seed_opportunities(
    conn: &DatabaseConnection,
    rng: &mut StdRng,
    accounts: &[SeededAccount],
    products: &[Product],
    count: usize,
    now: DateTime<Utc>,
    seeded: &mut Seeded,
) -> anyhow::Result<()> {
    const LOSS_REASONS: [&str; 4] = [
        "A competitor offered 15% lower",
        "Budget cut",
        "Project postponed",
        "Chose an in-house solution",
    ];
    let mut rows = Batches::new("opportunities");
    let mut lines = Batches::new("opportunity_lines");
    let mut moves = Batches::new("stage_moves (opportunities)");
    for i in 0..count {
        let account = accounts[rng.random_range(0..accounts.len())];
        let age_days = rng.random_range(0..548);
        let created_at = days_ago(rng, now, age_days);
        let id = record_id(rng, created_at);
        // How far it got through the open stages, then whether it closed.
        let reached = rng.random_range(0..OPEN_STAGES.len());
        let outcome = weighted(rng, &[(None, 50), (Some("won"), 30), (Some("lost"), 20)]);
        let items = line_items(rng, products);
        let amount: i64 = items.iter().map(|item| item.4).sum();
        let mut at = created_at;
        let mut entered = created_at;
        let mut from: Option<&str> = None;
        let path = OPEN_STAGES[..=reached]
            .iter()
            .map(|(stage, _)| *stage)
            .chain(outcome);
        for stage in path {
            let secs = from.map(|_| (at - entered).num_seconds());
            moves.push(
                stage_move_row(
                    "opportunity",
                    id,
                    account.id,
                    from,
                    stage,
                    at,
                    account.owner,
                    secs,
                ),
                None,
            );
            from = Some(stage);
            entered = at;
            // The next move, days later but not after now.
            at = (at + ChronoDuration::hours(rng.random_range(24..24 * 45))).min(now);
        }
        let stage = outcome.unwrap_or(OPEN_STAGES[reached].0);
        let probability = match outcome {
            Some("won") => 100,
            Some(_) => 0,
            None => OPEN_STAGES[reached].1,
        };
        let expected_close_on =
            created_at.date_naive() + ChronoDuration::days(rng.random_range(30..240));
        let closed_on = entered.date_naive();
        let closes_on = if outcome.is_some() {
            closed_on
        } else {
            expected_close_on
        };
        for (position, (product, quantity, price, discount, line_amount)) in
            items.into_iter().enumerate()
        {
            lines.push(
                opportunity_line::Model {
                    opportunity_id: id,
                    id: record_id(rng, created_at),
                    account_id: account.id,
                    product_id: product,
                    position: i64::try_from(position)?,
                    quantity,
                    unit_price_minor: price,
                    discount_percent: discount,
                    amount_minor: line_amount,
                    currency: "CNY".to_owned(),
                }
                .into_active_model(),
                None,
            );
        }
        let row = opportunity::Model {
            id,
            account_id: account.id,
            owner_id: account.owner,
            name: format!("Bench deal {i:06}"),
            stage: stage.to_owned(),
            amount_minor: Some(amount),
            currency: "CNY".to_owned(),
            probability,
            weighted_minor: Some(amount * probability / 100),
            expected_close_on: Some(expected_close_on),
            closes_on: Some(closes_on),
            lost_reason: (outcome == Some("lost"))
                .then(|| LOSS_REASONS[rng.random_range(0..LOSS_REASONS.len())].to_owned()),
            cycle_days: (outcome == Some("won"))
                .then(|| (closed_on - created_at.date_naive()).num_days()),
            deleted: false,
            created_by: Some(account.owner),
            created_at,
            updated_at: entered,
            version: 1,
            body: json!({}),
        };
        rows.push(
            row.into_active_model(),
            Some(document_row(id, "opportunity", account.id, created_at)),
        );
        if rows.full() {
            rows.flush(conn).await?;
            lines.flush(conn).await?;
            moves.flush(conn).await?;
        }
    }
    rows.finish(conn, seeded).await?;
    lines.finish(conn, seeded).await?;
    moves.finish(conn, seeded).await
}

async fn seed_contracts(
    conn: &DatabaseConnection,
    rng: &mut StdRng,
    accounts: &[SeededAccount],
    products: &[Product],
    count: usize,
    now: DateTime<Utc>,
    seeded: &mut Seeded,
) -> anyhow::Result<()> {
    let mut rows = Batches::new("contracts");
    let mut lines = Batches::new("contract_lines");
    let today = now.date_naive();
    for i in 0..count {
        let account = accounts[rng.random_range(0..accounts.len())];
        let signed_on = today - ChronoDuration::days(rng.random_range(0..365));
        let signed_at = signed_on
            .and_hms_opt(10, 0, 0)
            .context("a time of day")?
            .and_utc();
        let id = record_id(rng, signed_at);
        let items = line_items(rng, products);
        let amount: i64 = items.iter().map(|item| item.4).sum();
        for (position, (product, quantity, price, discount, line_amount)) in
            items.into_iter().enumerate()
        {
            lines.push(
                contract_line::Model {
                    contract_id: id,
                    id: record_id(rng, signed_at),
                    account_id: account.id,
                    product_id: product,
                    position: i64::try_from(position)?,
                    quantity,
                    unit_price_minor: price,
                    discount_percent: discount,
                    amount_minor: line_amount,
                    currency: "CNY".to_owned(),
                }
                .into_active_model(),
                None,
            );
        }
        let row = contract::Model {
            id,
            number: format!("BENCH-C{i:07}"),
            account_id: account.id,
            opportunity_id: None,
            owner_id: account.owner,
            amount_minor: amount,
            currency: "CNY".to_owned(),
            signed_on: Some(signed_on),
            start_on: Some(signed_on),
            end_on: Some(signed_on + ChronoDuration::days(365)),
            payment_terms: Some("30 days net".to_owned()),
            status: "active".to_owned(),
            notes: None,
            created_by: Some(account.owner),
            created_at: signed_at,
            updated_at: signed_at,
            version: 1,
            line_items: json!([]),
        };
        rows.push(row.into_active_model(), None);
        if rows.full() {
            rows.flush(conn).await?;
            lines.flush(conn).await?;
        }
    }
    rows.finish(conn, seeded).await?;
    lines.finish(conn, seeded).await
}

async fn seed_service(
    conn: &DatabaseConnection,
    rng: &mut StdRng,
    accounts: &[SeededAccount],
    scale: Scale,
    now: DateTime<Utc>,
    seeded: &mut Seeded,
) -> anyhow::Result<()> {
    const TYPES: [&str; 3] = ["complaint", "service_request", "question"];
    const SEVERITIES: [(&str, i64, u32); 4] = [
        ("critical", 4, 5),
        ("high", 24, 20),
        ("medium", 72, 45),
        ("low", 168, 30),
    ];
    let mut tickets = Batches::new("tickets");
    for _ in 0..scale.tickets {
        let account = accounts[rng.random_range(0..accounts.len())];
        let age_days = rng.random_range(0..548);
        let created_at = days_ago(rng, now, age_days);
        let id = record_id(rng, created_at);
        let (severity, sla_hours) = {
            let picked = weighted(
                rng,
                &SEVERITIES.map(|(severity, hours, weight)| ((severity, hours), weight)),
            );
            (picked.0, picked.1)
        };
        let sla_due_at = created_at + ChronoDuration::hours(sla_hours);
        // Older tickets are mostly resolved, within or past their SLA.
        let resolved_at =
            Some(created_at + ChronoDuration::minutes(rng.random_range(30..sla_hours * 90)))
                .filter(|at| *at < now && rng.random_range(0..100) < 90);
        let closed_at = resolved_at
            .map(|at| at + ChronoDuration::days(1))
            .filter(|at| *at < now);
        let status = match (resolved_at, closed_at) {
            (_, Some(_)) => "closed",
            (Some(_), None) => "resolved",
            (None, None) => ["open", "assigned", "in_progress"][rng.random_range(0..3)],
        };
        let row = ticket::Model {
            id,
            account_id: account.id,
            ticket_type: TYPES[rng.random_range(0..TYPES.len())].to_owned(),
            severity: severity.to_owned(),
            status: status.to_owned(),
            assignee_id: Some(account.owner),
            contact_id: None,
            sla_due_at,
            resolved_at,
            closed_at,
            resolution_secs: resolved_at.map(|at| (at - created_at).num_seconds()),
            deleted: false,
            created_by: Some(account.owner),
            created_at,
            updated_at: closed_at.or(resolved_at).unwrap_or(created_at),
            version: 1,
            body: json!({}),
        };
        tickets.push(
            row.into_active_model(),
            Some(document_row(id, "ticket", account.id, created_at)),
        );
        if tickets.full() {
            tickets.flush(conn).await?;
        }
    }
    tickets.finish(conn, seeded).await?;

    const KINDS: [&str; 3] = ["routine", "after_sale", "after_ticket"];
    let mut callbacks = Batches::new("callbacks");
    let today: NaiveDate = now.date_naive();
    for _ in 0..scale.callbacks {
        let account = accounts[rng.random_range(0..accounts.len())];
        let scheduled_on = today - ChronoDuration::days(rng.random_range(-30..548));
        let status = if scheduled_on > today {
            "planned"
        } else {
            weighted(rng, &[("done", 80), ("missed", 15), ("planned", 5)])
        };
        let scheduled_at = scheduled_on
            .and_hms_opt(9, 0, 0)
            .context("a time of day")?
            .and_utc();
        let id = record_id(rng, scheduled_at - ChronoDuration::days(3));
        let done_at = (status == "done")
            .then(|| scheduled_at + ChronoDuration::minutes(rng.random_range(0..600)));
        let row = callback::Model {
            id,
            account_id: account.id,
            kind: KINDS[rng.random_range(0..KINDS.len())].to_owned(),
            ticket_id: None,
            owner_id: account.owner,
            scheduled_on,
            status: status.to_owned(),
            done_at,
            satisfaction: done_at.map(|_| rng.random_range(1..6)),
            deleted: false,
            created_by: Some(account.owner),
            created_at: scheduled_at - ChronoDuration::days(3),
            updated_at: done_at.unwrap_or(scheduled_at),
            version: 1,
            body: json!({}),
        };
        callbacks.push(
            row.into_active_model(),
            Some(document_row(id, "callback", account.id, scheduled_at)),
        );
        if callbacks.full() {
            callbacks.flush(conn).await?;
        }
    }
    callbacks.finish(conn, seeded).await
}
