//! `kam-torture`: crash safety and scale-out, checked end to end. It starts
//! real `kam-server` processes on a fresh database, lets field devices
//! (`kam-sync-core`'s `Replica`) edit shared accounts and visits offline and
//! sync them over HTTP in a loop, and meanwhile, at random moments:
//!
//! - `kill`: SIGKILLs the server and starts it again on the same database;
//! - `cut` (PostgreSQL): terminates the server's database connections;
//! - `two-servers` (PostgreSQL): nothing, but two servers share the
//!   database and every device syncs through both, alternately.
//!
//! Then every device syncs until it is quiescent, and it checks that
//! (a) every change a device pushed in a request that got a 200 is in the
//! server's store, (b) the change log has no holes (its positions run
//! without a gap from the compaction horizon, and none appeared behind one
//! already visible), and (c) every device, a fresh one and the server's
//! materialized rows agree on every document. It prints a report and exits
//! non-zero on any violation.
//!
//! ```sh
//! cargo build -p kam-server -p kam-tools
//! target/debug/kam-torture kill                  # SQLite in a temp dir
//! target/debug/kam-torture cut --database-url postgres://postgres@127.0.0.1:5432/postgres
//! target/debug/kam-torture two-servers --database-url postgres://postgres@127.0.0.1:5432/postgres --seed 7
//! ```
//!
//! The seed fixes the random choices (edits, moments): one RNG seeded with
//! it gives each device and the chaos loop a stream of their own, so that a
//! device's choices do not depend on how requests interleave, which is up to
//! the machine. It is printed at the start; by default it comes from the
//! clock, so that each run explores other choices (`.ci/torture` passes one
//! and prints it, to reproduce a failure).

use anyhow::{Context, bail};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ObjType, ROOT, ReadDoc};
use clap::{Parser, ValueEnum};
use kam_server::cache::DocCache;
use kam_server::entities::{doc_change, document};
use kam_server::store;
use kam_sync_core::protocol::{PushStatus, SyncRequest};
use kam_sync_core::{Account, RecordKind};
use kam_tools::{Client, Device, SENTENCES, ServerProcess, SyncFailure, object};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// SIGKILL the server at random moments and start it again.
    Kill,
    /// Terminate the server's PostgreSQL connections at random moments.
    Cut,
    /// Two servers on one PostgreSQL database, devices syncing through both.
    TwoServers,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Cut => "cut",
            Self::TwoServers => "two-servers",
        }
    }
}

#[derive(Parser)]
#[command(
    name = "kam-torture",
    about = "KAM Sync under SIGKILL, cut database connections and two servers"
)]
struct Cli {
    /// What to do to the servers while devices sync.
    scenario: Scenario,
    /// A PostgreSQL server to make a fresh database on (else SQLite in a temp dir).
    #[arg(long)]
    database_url: Option<String>,
    /// Kills (or connection cuts, or intervals of 50-800 ms for two-servers).
    #[arg(long, default_value_t = 20)]
    kills: usize,
    /// Field devices syncing at once (two per rep).
    #[arg(long, default_value_t = 8)]
    devices: usize,
    /// Seed of the random choices (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// The kam-server binary (default: beside this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

/// The application name of this tool's own database connections: they are
/// not cut.
const APPLICATION_NAME: &str = "kam-torture";
/// How far behind the highest visible change-log position the watcher looks for
/// positions that appear late.
const WATCH_WINDOW: i64 = 100_000;

/// The database the servers share and the processes on it.
struct Cluster {
    bin: PathBuf,
    database_url: String,
    /// A database on the same PostgreSQL server to drop ours from.
    admin_url: Option<String>,
    dir: tempfile::TempDir,
    binds: Vec<String>,
    servers: Vec<Option<ServerProcess>>,
    starts: usize,
}

impl Cluster {
    fn new(cli: &Cli, count: usize) -> anyhow::Result<Self> {
        let bin = kam_tools::server_bin(cli.server_bin.as_deref())?;
        let dir = tempfile::tempdir()?;
        let (database_url, admin_url) = match &cli.database_url {
            Some(url) => {
                let name = url.rsplit('/').next().unwrap_or("kam");
                let prefix = format!("{name}_{}", cli.scenario.name().replace('-', "_"));
                (
                    kam_tools::fresh_postgres_database(url, &prefix)?,
                    Some(url.clone()),
                )
            }
            None => (
                format!("sqlite://{}/kam.db?mode=rwc", dir.path().display()),
                None,
            ),
        };
        let binds = (0..count)
            .map(|_| {
                let port = std::net::TcpListener::bind("127.0.0.1:0")?
                    .local_addr()?
                    .port();
                anyhow::Ok(format!("127.0.0.1:{port}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            bin,
            database_url,
            admin_url,
            dir,
            servers: (0..count).map(|_| None).collect(),
            binds,
            starts: 0,
        })
    }

    fn bases(&self) -> Vec<String> {
        self.binds.iter().map(|b| format!("http://{b}")).collect()
    }

    /// Starts server `i` on its fixed port (retrying while the port is
    /// still held by the process it replaces).
    fn start(&mut self, i: usize) -> anyhow::Result<()> {
        let mut last = None;
        for _ in 0..100 {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.path().join(format!("server-{i}.log")))?;
            match ServerProcess::start(
                &self.bin,
                &self.database_url,
                &self.binds[i],
                self.dir.path(),
                Stdio::from(log),
            ) {
                Ok(server) => {
                    if server.base != format!("http://{}", self.binds[i]) {
                        bail!(
                            "server {i} listens on {}, not {}",
                            server.base,
                            self.binds[i]
                        );
                    }
                    self.servers[i] = Some(server);
                    self.starts += 1;
                    return Ok(());
                }
                Err(err) => last = Some(err),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no start attempted")))
            .with_context(|| format!("server {i} does not start; see {}", self.log_hint(i)))
    }

    fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(server) = self.servers[i].take() {
            server.kill()?;
        }
        Ok(())
    }

    fn log_hint(&self, i: usize) -> String {
        self.dir
            .path()
            .join(format!("server-{i}.log"))
            .display()
            .to_string()
    }

    /// This tool's own connection to the database.
    async fn connect(&self) -> anyhow::Result<DatabaseConnection> {
        let url = if self.admin_url.is_some() {
            format!("{}?application_name={APPLICATION_NAME}", self.database_url)
        } else {
            self.database_url.clone()
        };
        Ok(Database::connect(url).await?)
    }
}

/// What one device saw.
#[derive(Default, Clone)]
struct Stats {
    requests: usize,
    acknowledged: usize,
    transport_failures: usize,
    server_errors: usize,
    other_errors: usize,
    refused: usize,
    notices: usize,
    resend_requests: usize,
    first_errors: Vec<String>,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.requests += other.requests;
        self.acknowledged += other.acknowledged;
        self.transport_failures += other.transport_failures;
        self.server_errors += other.server_errors;
        self.other_errors += other.other_errors;
        self.refused += other.refused;
        self.notices += other.notices;
        self.resend_requests += other.resend_requests;
        for error in &other.first_errors {
            self.note_error(error.clone());
        }
    }

    /// Keeps the first few distinct failure messages.
    fn note_error(&mut self, error: String) {
        if self.first_errors.len() < 5 && !self.first_errors.contains(&error) {
            self.first_errors.push(error);
        }
    }
}

/// How one sync request went.
enum Attempt {
    /// A 200, applied; whether anything is left to push or pull.
    Done { more: bool },
    /// No usable answer: send again.
    Failed,
}

/// A sync request as sent: what it pushed, for checking acknowledgements.
struct Sent {
    request: SyncRequest,
    /// Each pushed document and the device's heads when it pushed.
    pushed: HashMap<Uuid, Vec<ChangeHash>>,
    /// The pushed accounts whose stage the push moves.
    stage_moves: HashSet<Uuid>,
}

/// A device under test: its replica, its random choices, and every
/// acknowledged push (document and the device's heads when it pushed).
struct Field {
    device: Device,
    rng: StdRng,
    /// Every rep's id: new accounts are shared with all of them.
    reps: Vec<Uuid>,
    /// A device that only pulls (it never edits).
    follower: bool,
    acks: Vec<(Uuid, Vec<ChangeHash>)>,
    stats: Stats,
    turn: usize,
    made: usize,
    /// The last request, if it failed.
    retry: Option<Sent>,
    /// Accounts this device created: only it moves their stage. Two devices
    /// moving one account's stage at once merge to a value the lifecycle
    /// rule may refuse (a concurrent older move can win the merge), which
    /// the server rightly undoes with a notice, but the workload is meant
    /// to write only what the rules accept.
    created_accounts: HashSet<Uuid>,
    /// Accounts this device moved a stage on that no acknowledged push has
    /// carried yet: a rep moves a stage one step per sync, so these are not
    /// moved again until the server has the move.
    stage_moves_unsynced: HashSet<Uuid>,
    /// Why the device could not go on, if it could not.
    broken: Option<String>,
}

fn heads(doc: &AutoCommit) -> Vec<ChangeHash> {
    let mut heads = doc.clone().get_heads();
    heads.sort();
    heads
}

impl Field {
    fn new(device: Device, rng: StdRng, reps: Vec<Uuid>, follower: bool) -> Self {
        Self {
            device,
            rng,
            reps,
            follower,
            acks: Vec::new(),
            stats: Stats::default(),
            turn: 0,
            made: 0,
            retry: None,
            created_accounts: HashSet::new(),
            stage_moves_unsynced: HashSet::new(),
            broken: None,
        }
    }

    /// One request to one of `bases` (in turn), applied if it got a 200.
    ///
    /// After a failure it sends the very same request again half the time
    /// (as a client repairing a lost response does), else prepares a new
    /// one. Pulls come in small pages half the time, so that paging runs
    /// while documents change under it.
    async fn sync_once(&mut self, bases: &[String]) -> anyhow::Result<Attempt> {
        let sent = match self.retry.take() {
            Some(retry) if self.rng.random_bool(0.5) => retry,
            _ => {
                let mut request = self.device.replica.prepare_sync();
                if self.rng.random_bool(0.5) {
                    request.limit = Some(self.rng.random_range(1..=4));
                }
                let pushed: HashMap<Uuid, Vec<ChangeHash>> = request
                    .push
                    .iter()
                    .filter_map(|push| {
                        let doc = self.device.replica.doc(push.id)?;
                        Some((push.id, heads(doc.automerge())))
                    })
                    .collect();
                let stage_moves = pushed
                    .keys()
                    .filter(|id| self.stage_moves_unsynced.contains(id))
                    .copied()
                    .collect();
                Sent {
                    request,
                    pushed,
                    stage_moves,
                }
            }
        };
        let request = &sent.request;
        if !request.resend.is_empty() {
            self.stats.resend_requests += 1;
        }
        let base = &bases[self.turn % bases.len()];
        self.turn += 1;
        self.stats.requests += 1;
        let answer = self.device.send(base, request).await;
        match answer {
            Ok(response) => {
                self.stats.acknowledged += 1;
                for result in &response.pushed {
                    if result.status == PushStatus::Refused {
                        self.stats.refused += 1;
                    } else if let Some(heads) = sent.pushed.get(&result.id) {
                        self.acks.push((result.id, heads.clone()));
                        if sent.stage_moves.contains(&result.id) {
                            self.stage_moves_unsynced.remove(&result.id);
                        }
                    }
                }
                self.stats.notices += response.notices.len();
                for notice in &response.notices {
                    self.stats
                        .note_error(format!("notice {}: {}", notice.code, notice.message));
                }
                let outcome = self
                    .device
                    .replica
                    .apply_sync(response)
                    .with_context(|| format!("{} cannot apply a response", self.device.name))?;
                Ok(Attempt::Done {
                    more: outcome.has_more || self.device.replica.needs_sync(),
                })
            }
            Err(SyncFailure::Transport(_)) => {
                self.retry = Some(sent);
                self.stats.transport_failures += 1;
                Ok(Attempt::Failed)
            }
            Err(SyncFailure::Status { status, body }) if status >= 500 => {
                self.retry = Some(sent);
                self.stats.server_errors += 1;
                self.stats.note_error(format!("{status}: {body}"));
                Ok(Attempt::Failed)
            }
            Err(other) => {
                self.retry = Some(sent);
                self.stats.other_errors += 1;
                self.stats.note_error(other.to_string());
                Ok(Attempt::Failed)
            }
        }
    }

    /// Edits offline: mostly text splices, field changes, sometimes a new
    /// account (shared with every rep) or a visit; a stage moves one step
    /// per acknowledged push, on accounts the device created.
    fn edit(&mut self) -> anyhow::Result<()> {
        let meta = self.device.meta();
        let accounts = self.device.replica.ids(RecordKind::Account);
        let visits = self.device.replica.ids(RecordKind::Visit);
        let roll = self.rng.random_range(0..100);
        if roll < 4 || accounts.is_empty() {
            let shared: Vec<Uuid> = self
                .reps
                .iter()
                .copied()
                .filter(|rep| *rep != self.device.user)
                .collect();
            let account =
                kam_tools::new_account(&mut self.rng, self.made, self.device.user, &shared)?;
            self.made += 1;
            let id = Uuid::now_v7();
            self.device.replica.create(id, &account, &meta)?;
            self.created_accounts.insert(id);
            let visit = kam_tools::new_visit(id, self.device.user, 1)?;
            self.device.replica.create(Uuid::now_v7(), &visit, &meta)?;
            return Ok(());
        }
        let account = accounts[self.rng.random_range(0..accounts.len())];
        match roll {
            4..8 => {
                let days = self.rng.random_range(1..30);
                let visit = kam_tools::new_visit(account, self.device.user, days)?;
                self.device.replica.create(Uuid::now_v7(), &visit, &meta)?;
            }
            8..50 => self.splice(account, "notes")?,
            50..65 if !visits.is_empty() => {
                let visit = visits[self.rng.random_range(0..visits.len())];
                self.splice(visit, "summary")?;
            }
            50..80
                if self.created_accounts.contains(&account)
                    && !self.stage_moves_unsynced.contains(&account) =>
            {
                let stage =
                    kam_tools::next_stage(&kam_tools::stage_of(&self.device.replica, account));
                self.device.replica.edit::<Account>(
                    account,
                    &object(json!({"stage": stage})),
                    &meta,
                )?;
                self.stage_moves_unsynced.insert(account);
            }
            50..80 => self.splice(account, "notes")?,
            80..90 => {
                let loyalty = self.rng.random_range(0..100);
                self.device.replica.edit::<Account>(
                    account,
                    &object(json!({"scores": {"loyalty": loyalty}})),
                    &meta,
                )?;
            }
            _ => {
                let tag = format!("tag{}", self.rng.random_range(0..20));
                self.device.replica.edit::<Account>(
                    account,
                    &object(json!({"tags": [tag]})),
                    &meta,
                )?;
            }
        }
        Ok(())
    }

    /// Types a sentence at a random place in a text field (trimming the
    /// front once it grows long), as two people editing notes at once do.
    fn splice(&mut self, id: Uuid, field: &'static str) -> anyhow::Result<()> {
        let meta = self.device.meta();
        let sentence = SENTENCES[self.rng.random_range(0..SENTENCES.len())];
        let at: usize = self.rng.random_range(0..10_000);
        self.device.replica.edit_raw(id, &meta, |doc| {
            let Some((automerge::Value::Object(ObjType::Text), text)) = doc.get(ROOT, field)?
            else {
                return Ok(());
            };
            if doc.length(&text) > 4_000 {
                doc.splice_text(&text, 0, 400, "")?;
            }
            let len = doc.length(&text);
            doc.splice_text(&text, at % (len + 1), 0, sentence)
        })?;
        Ok(())
    }

    /// Edits and syncs until told to stop; failures are retried. A device
    /// that cannot go on (a response it cannot apply) stops and says why.
    async fn run(mut self, bases: Arc<Vec<String>>, stop: Arc<AtomicBool>) -> Self {
        if let Err(err) = self.churn(&bases, &stop).await {
            self.broken = Some(format!("{}: {err:#}", self.device.name));
        }
        self
    }

    async fn churn(&mut self, bases: &[String], stop: &AtomicBool) -> anyhow::Result<()> {
        while !stop.load(Ordering::Relaxed) {
            if !self.follower {
                for _ in 0..self.rng.random_range(1..=3) {
                    self.edit()?;
                }
            }
            for _ in 0..20 {
                match self.sync_once(bases).await? {
                    Attempt::Done { more: false } => break,
                    Attempt::Done { more: true } => {}
                    Attempt::Failed => {
                        let pause = self.rng.random_range(10..60);
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                }
            }
            let pause = self.rng.random_range(0..30);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        Ok(())
    }

    /// Syncs until nothing is left to push or pull; a device that cannot
    /// says why.
    async fn settle(&mut self, bases: &[String]) {
        if self.broken.is_some() {
            return;
        }
        if let Err(err) = self.try_settle(bases).await {
            self.broken = Some(format!("{}: {err:#}", self.device.name));
        }
    }

    async fn try_settle(&mut self, bases: &[String]) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let refusals_before = self.stats.other_errors;
        loop {
            match self.sync_once(bases).await? {
                Attempt::Done { more: false } => return Ok(()),
                Attempt::Done { more: true } => {}
                Attempt::Failed => tokio::time::sleep(Duration::from_millis(100)).await,
            }
            if self.stats.other_errors > refusals_before + 10 {
                bail!(
                    "the server keeps refusing its requests: {:?}",
                    self.stats.first_errors
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "did not settle in 120 s (the server did not recover?): {:?}",
                    self.stats.first_errors
                );
            }
        }
    }
}

/// What the change-log watcher saw: positions becoming visible behind ones
/// already visible would be holes a puller steps over.
#[derive(Default)]
struct Watch {
    polls: usize,
    late: Vec<(i64, i64)>,
}

async fn watch_log(conn: DatabaseConnection, stop: Arc<AtomicBool>) -> Watch {
    let mut watch = Watch::default();
    let mut seen = BTreeSet::new();
    let mut highest = 0;
    while !stop.load(Ordering::Relaxed) {
        let visible: Result<Vec<i64>, _> = doc_change::Entity::find()
            .select_only()
            .column(doc_change::Column::Seq)
            .filter(doc_change::Column::Seq.gt(highest - WATCH_WINDOW))
            .into_tuple()
            .all(&conn)
            .await;
        if let Ok(visible) = visible {
            watch.polls += 1;
            let before = highest;
            for seq in visible {
                if seen.insert(seq) {
                    if seq < before {
                        watch.late.push((seq, before));
                    }
                    highest = highest.max(seq);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    watch
}

/// Terminates every database connection but this tool's; returns how many.
async fn cut_connections(conn: &DatabaseConnection) -> anyhow::Result<i64> {
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            format!(
                "SELECT count(pg_terminate_backend(pid)) AS cut FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND application_name <> '{APPLICATION_NAME}'"
            ),
        ))
        .await?
        .context("no answer")?;
    Ok(row.try_get("", "cut")?)
}

/// The verdicts of the checks.
#[derive(Default)]
struct Verdict {
    acknowledged_heads: usize,
    changes_checked: usize,
    documents: usize,
    log_entries: usize,
    log_head: i64,
    horizon: i64,
    converged_devices: usize,
    violations: Vec<String>,
}

impl Verdict {
    fn violation(&mut self, text: String) {
        if self.violations.len() < 50 {
            self.violations.push(text);
        } else if self.violations.len() == 50 {
            self.violations.push("(more violations left out)".into());
        }
    }
}

/// A document as the server stores it.
struct Stored {
    doc: AutoCommit,
    heads: Vec<ChangeHash>,
    json: Value,
    kind: RecordKind,
    last_seq: i64,
}

/// Loads every document from the database (snapshot plus log, as the
/// server does) and checks it against a replay of its log entries alone.
async fn load_store(
    conn: &DatabaseConnection,
    verdict: &mut Verdict,
) -> anyhow::Result<BTreeMap<Uuid, Stored>> {
    let cache = DocCache::new(0);
    let rows = document::Entity::find().all(conn).await?;
    let mut store = BTreeMap::new();
    for row in rows {
        let loaded = store::load(conn, &cache, row.id, false)
            .await
            .map_err(|err| anyhow::anyhow!("cannot load {}: {err}", row.id))?
            .with_context(|| format!("document {} vanished", row.id))?;
        let doc = loaded.doc.automerge().clone();
        let stored_heads = heads(&doc);
        let column: Vec<String> = serde_json::from_value(row.heads.clone()).unwrap_or_default();
        let mut column = kam_sync_core::replica::parse_heads(&column);
        column.sort();
        if column != stored_heads {
            verdict.violation(format!(
                "document {}: its heads column disagrees with its stored history",
                row.id
            ));
        }
        let log: Vec<(i64, Vec<u8>)> = doc_change::Entity::find()
            .select_only()
            .column(doc_change::Column::Seq)
            .column(doc_change::Column::Bytes)
            .filter(doc_change::Column::DocId.eq(row.id))
            .order_by_asc(doc_change::Column::Seq)
            .into_tuple()
            .all(conn)
            .await?;
        if log.last().map(|(seq, _)| *seq) != Some(row.last_seq) {
            verdict.violation(format!(
                "document {}: last_seq {} is not its last log entry {:?}",
                row.id,
                row.last_seq,
                log.last().map(|(seq, _)| *seq)
            ));
        }
        if log.first().is_some_and(|(seq, _)| *seq <= row.snapshot_seq) || row.snapshot_seq == 0 {
            // The whole history is in the log: a device reading the log
            // from its start rebuilds exactly this document.
            let mut replay = AutoCommit::new();
            for (_, bytes) in &log {
                replay.load_incremental(bytes)?;
            }
            if heads(&replay) != stored_heads {
                verdict.violation(format!(
                    "document {}: replaying its log gives other heads than its snapshot",
                    row.id
                ));
            }
        }
        let kind = loaded.doc.kind();
        let json = loaded.doc.to_json();
        store.insert(
            row.id,
            Stored {
                heads: stored_heads,
                doc,
                json,
                kind,
                last_seq: row.last_seq,
            },
        );
    }
    Ok(store)
}

/// (a) Every acknowledged push is in the store, with all it depended on.
fn check_acknowledged(fields: &[Field], store: &BTreeMap<Uuid, Stored>, verdict: &mut Verdict) {
    let mut acked: BTreeMap<Uuid, BTreeSet<ChangeHash>> = BTreeMap::new();
    for field in fields {
        for (id, heads) in &field.acks {
            acked.entry(*id).or_default().extend(heads.iter().copied());
        }
    }
    for (id, heads) in acked {
        verdict.acknowledged_heads += heads.len();
        let Some(stored) = store.get(&id) else {
            verdict.violation(format!(
                "document {id}: acknowledged, not in the store at all"
            ));
            continue;
        };
        let mut seen = HashSet::new();
        let mut todo: Vec<ChangeHash> = heads.into_iter().collect();
        while let Some(hash) = todo.pop() {
            if !seen.insert(hash) {
                continue;
            }
            match ReadDoc::get_change_by_hash(&stored.doc, &hash) {
                Some(change) => todo.extend(change.deps().iter().copied()),
                None => verdict.violation(format!(
                    "document {id}: acknowledged change {hash} is not in the store"
                )),
            }
        }
        verdict.changes_checked += seen.len();
    }
}

/// (b) The log's positions run from the horizon to the head without a gap.
async fn check_log(
    conn: &DatabaseConnection,
    watch: &Watch,
    verdict: &mut Verdict,
) -> anyhow::Result<()> {
    let seqs: Vec<i64> = doc_change::Entity::find()
        .select_only()
        .column(doc_change::Column::Seq)
        .order_by_asc(doc_change::Column::Seq)
        .into_tuple()
        .all(conn)
        .await?;
    verdict.horizon = kam_server::store::log::horizon(conn).await?;
    verdict.log_entries = seqs.len();
    verdict.log_head = seqs.last().copied().unwrap_or(verdict.horizon);
    let mut expected = verdict.horizon + 1;
    let mut gaps = Vec::new();
    for seq in seqs {
        if seq != expected {
            gaps.push(format!("{expected}..{}", seq - 1));
        }
        expected = seq + 1;
    }
    if !gaps.is_empty() {
        verdict.violation(format!(
            "the change log has {} holes: positions {}{}",
            gaps.len(),
            gaps.iter().take(10).cloned().collect::<Vec<_>>().join(", "),
            if gaps.len() > 10 { ", ..." } else { "" }
        ));
    }
    for (seq, highest) in watch.late.iter().take(10) {
        verdict.violation(format!(
            "change-log position {seq} became visible after {highest} was already visible"
        ));
    }
    Ok(())
}

/// (c) Every device holds every document with the server's heads and
/// fields; the REST API's rows agree.
async fn check_converged(
    fields: &mut [Field],
    store: &BTreeMap<Uuid, Stored>,
    rest: &Client,
    verdict: &mut Verdict,
) -> anyhow::Result<()> {
    for field in fields.iter_mut() {
        let name = field.device.name.clone();
        let replica = &mut field.device.replica;
        let mut agrees = true;
        if !replica.pending().is_empty() {
            agrees = false;
            verdict.violation(format!("{name} still has unpushed changes"));
        }
        let held: BTreeSet<Uuid> = replica
            .ids(RecordKind::Account)
            .into_iter()
            .chain(replica.ids(RecordKind::Visit))
            .collect();
        for id in held.difference(&store.keys().copied().collect()) {
            agrees = false;
            verdict.violation(format!("{name} holds {id}, which the server does not"));
        }
        for (id, stored) in store {
            let Some(doc) = replica.doc(*id) else {
                agrees = false;
                verdict.violation(format!("{name} lacks document {id}"));
                continue;
            };
            if heads(doc.automerge()) != stored.heads {
                agrees = false;
                verdict.violation(format!("{name}: document {id} has other heads"));
            } else if doc.to_json() != stored.json {
                agrees = false;
                verdict.violation(format!("{name}: document {id} reads differently"));
            }
        }
        if agrees {
            verdict.converged_devices += 1;
        }
    }
    for (id, stored) in store {
        let (path, fields_to_compare): (String, &[&str]) = match stored.kind {
            RecordKind::Account => (format!("/accounts/{id}"), &["name", "stage", "notes"]),
            RecordKind::Visit => (format!("/visits/{id}"), &["purpose", "summary"]),
            RecordKind::Contact => (format!("/contacts/{id}"), &["name", "notes"]),
            RecordKind::Opportunity => (format!("/opportunities/{id}"), &["name", "notes"]),
            RecordKind::AccountPlan => (format!("/account-plans/{id}"), &["title", "notes"]),
            RecordKind::Callback => (format!("/callbacks/{id}"), &["status", "comments"]),
            RecordKind::Ticket => (format!("/tickets/{id}"), &["title", "description"]),
        };
        let view = rest.get(&path).await?;
        if view["version"].as_i64() != Some(stored.last_seq) {
            verdict.violation(format!(
                "{path}: version {} but the document is at {}",
                view["version"], stored.last_seq
            ));
        }
        for name in fields_to_compare {
            if view[*name] != stored.json[*name] {
                verdict.violation(format!(
                    "{path}: its row's {name} differs from the document's"
                ));
            }
        }
    }
    Ok(())
}

fn engine(cli: &Cli) -> &'static str {
    if cli.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

async fn settle_all(fields: Vec<Field>, bases: &Arc<Vec<String>>) -> anyhow::Result<Vec<Field>> {
    let tasks: Vec<_> = fields
        .into_iter()
        .map(|mut field| {
            let bases = bases.clone();
            tokio::spawn(async move {
                field.settle(&bases).await;
                field
            })
        })
        .collect();
    let mut settled = Vec::new();
    for task in tasks {
        settled.push(task.await?);
    }
    Ok(settled)
}

async fn run(cli: &Cli, seed: u64) -> anyhow::Result<bool> {
    let mut streams = StdRng::seed_from_u64(seed);
    let servers = if cli.scenario == Scenario::TwoServers {
        2
    } else {
        1
    };
    let mut cluster = Cluster::new(cli, servers)?;
    for i in 0..servers {
        cluster.start(i)?;
    }
    let bases = Arc::new(cluster.bases());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let users = cli.devices.div_ceil(2).max(1);
    let reps = kam_tools::make_reps(&http, &bases[0], users).await?;
    let rep_ids: Vec<Uuid> = reps.iter().map(|(id, _)| *id).collect();
    let mut fields = Vec::new();
    for i in 0..cli.devices {
        let (_, username) = &reps[i % users];
        let device = Device::login(
            &http,
            &bases[i % bases.len()],
            username,
            &kam_tools::password(username),
            &format!("{username}-device{i}"),
        )
        .await?;
        fields.push(Field::new(
            device,
            StdRng::from_rng(&mut streams),
            rep_ids.clone(),
            false,
        ));
    }
    let follower = Device::login(
        &http,
        &bases[0],
        "admin",
        kam_tools::ADMIN_PASSWORD,
        "follower",
    )
    .await?;
    fields.push(Field::new(
        follower,
        StdRng::from_rng(&mut streams),
        rep_ids.clone(),
        true,
    ));
    // A shared starting point: every rep's first device makes two accounts
    // (shared with every rep), and everyone pulls them.
    for field in fields.iter_mut().take(users) {
        field.edit()?;
        field.edit()?;
    }
    let mut fields = settle_all(fields, &bases).await?;
    fields = settle_all(fields, &bases).await?;
    if let Some(broken) = fields.iter().find_map(|f| f.broken.clone()) {
        bail!("the setup failed: {broken}");
    }

    let watcher_conn = cluster.connect().await?;
    let stop_watch = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(watch_log(watcher_conn, stop_watch.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = fields
        .into_iter()
        .map(|field| tokio::spawn(field.run(bases.clone(), stop.clone())))
        .collect();
    let mut rng = StdRng::from_rng(&mut streams);
    let chaos_conn = cluster.connect().await?;
    let started = Instant::now();
    let mut events = 0;
    let mut cut = 0;
    for _ in 0..cli.kills {
        let pause = rng.random_range(50..800);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        match cli.scenario {
            Scenario::Kill => {
                tokio::task::block_in_place(|| {
                    cluster.kill(0)?;
                    cluster.start(0)
                })?;
            }
            Scenario::Cut => cut += cut_connections(&chaos_conn).await?,
            Scenario::TwoServers => {}
        }
        events += 1;
    }
    let chaos_secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut fields = Vec::new();
    for task in tasks {
        fields.push(task.await?);
    }
    let mut during = Stats::default();
    for field in &fields {
        during.add(&field.stats);
    }
    for _ in 0..3 {
        fields = settle_all(fields, &bases).await?;
    }
    stop_watch.store(true, Ordering::Relaxed);
    let watch = watcher.await?;

    let mut verdict = Verdict::default();
    let conn = cluster.connect().await?;
    let store = load_store(&conn, &mut verdict).await?;
    verdict.documents = store.len();
    check_acknowledged(&fields, &store, &mut verdict);
    check_log(&conn, &watch, &mut verdict).await?;
    let mut fresh = Field::new(
        Device::login(
            &http,
            &bases[bases.len() - 1],
            "admin",
            kam_tools::ADMIN_PASSWORD,
            "fresh",
        )
        .await?,
        StdRng::from_rng(&mut streams),
        rep_ids,
        true,
    );
    fresh.settle(&bases).await;
    let rest = fresh.device.client.clone();
    fields.push(fresh);
    check_converged(&mut fields, &store, &rest, &mut verdict).await?;
    let mut total = Stats::default();
    for field in &fields {
        total.add(&field.stats);
        if let Some(broken) = &field.broken {
            verdict.violation(format!("device {broken}"));
        }
    }
    if total.refused > 0 || total.notices > 0 {
        verdict.violation(format!(
            "{} pushes refused, {} notices: the workload writes only what reps may",
            total.refused, total.notices
        ));
    }
    if total.other_errors > 0 {
        verdict.violation(format!(
            "{} requests failed with neither a transport error nor a 5xx",
            total.other_errors
        ));
    }
    let follower_resends = fields
        .iter()
        .filter(|f| f.follower)
        .map(|f| f.stats.resend_requests)
        .sum::<usize>();
    if follower_resends > 0 {
        verdict.violation(format!(
            "devices that only pull asked {follower_resends} times for documents whole: they were sent changes whose dependencies they had not been sent"
        ));
    }
    drop(conn);
    drop(chaos_conn);

    let event = match cli.scenario {
        Scenario::Kill => "SIGKILLs survived (server restarted each time)",
        Scenario::Cut => "connection cuts (database connections terminated)",
        Scenario::TwoServers => "intervals with two servers on one database",
    };
    println!(
        "## kam-torture {}: {}, seed {seed}, {} devices + 1 pull-only\n",
        cli.scenario.name(),
        engine(cli),
        cli.devices
    );
    println!("| what | value |\n| --- | --- |");
    println!("| {event} | {events} in {chaos_secs:.1} s |");
    if cli.scenario == Scenario::Cut {
        println!("| server connections terminated | {cut} |");
    }
    println!("| server processes started | {} |", cluster.starts);
    println!(
        "| sync requests: sent / acknowledged (200) | {} / {} |",
        total.requests, total.acknowledged
    );
    println!(
        "| failed during the chaos: no answer / 5xx / other | {} / {} / {} |",
        during.transport_failures, during.server_errors, during.other_errors
    );
    println!(
        "| (a) acknowledged heads / changes checked in the store | {} / {} |",
        verdict.acknowledged_heads, verdict.changes_checked
    );
    println!(
        "| (b) change log: entries / head / horizon / watcher polls | {} / {} / {} / {} |",
        verdict.log_entries, verdict.log_head, verdict.horizon, watch.polls
    );
    println!(
        "| (c) documents / devices converged | {} / {} of {} |",
        verdict.documents,
        verdict.converged_devices,
        fields.len()
    );
    println!(
        "| resend requests (rep devices / pull-only) | {} / {follower_resends} |",
        total.resend_requests - follower_resends
    );
    if !total.first_errors.is_empty() {
        println!(
            "| first failures | {} |",
            total.first_errors.join("; ").replace('|', "/")
        );
    }
    let ok = verdict.violations.is_empty();
    println!(
        "| converged, nothing lost, change log gap-free | {} |",
        if ok { "yes" } else { "NO" }
    );
    for violation in &verdict.violations {
        println!("VIOLATION: {violation}");
    }
    for i in 0..servers {
        cluster.kill(i)?;
    }
    match (&cluster.admin_url, ok) {
        (Some(admin), true) => kam_tools::drop_postgres_database(admin, &cluster.database_url)?,
        (Some(_), false) => println!("kept the database {}", cluster.database_url),
        (None, false) => {
            let kept = cluster.dir.keep();
            println!("kept the database and server logs in {}", kept.display());
        }
        (None, true) => {}
    }
    Ok(ok)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.scenario != Scenario::Kill && cli.database_url.is_none() {
        bail!(
            "{} needs PostgreSQL: pass --database-url",
            cli.scenario.name()
        );
    }
    let seed = cli.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    println!("kam-torture {}: seed {seed}", cli.scenario.name());
    if !run(&cli, seed).await? {
        std::process::exit(1);
    }
    Ok(())
}
