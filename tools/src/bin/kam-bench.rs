//! `kam-bench`: the "field day" load, measured. It starts a real
//! `kam-server` (release build recommended) on a fresh database, makes real
//! devices with `kam-sync-core`'s `Replica`, and prints a Markdown table:
//!
//! - field day: D devices each create A accounts with V visits offline and
//!   make E more edits per account, then all sync at once;
//! - conflict: two devices edit the same accounts (same field, same text)
//!   offline, sync, and must converge;
//! - initial download: a fresh device pulls a scope of N documents;
//! - the in-process limit: the same pushes merged by `kam-sync-core` alone;
//! - alone, with `--memory-docs`: server memory as stored documents grow;
//! - alone, with `--small-docs`: server memory while a rep pushes that many
//!   tiny key persons, without a document cache and with each cache size of
//!   `--cache-mib`, checked against the cache's bound;
//! - optionally the peer: Automerge's own sync stack in Node
//!   (`bench/peer/run.sh`), same workload, same run, as ratios;
//! - alone, with `--reports`: every report (issue 14) over 100,000
//!   accounts, 1,000,000 visits and 200,000 deals by default, as the
//!   director (the whole branch) and as one rep, and the worklist as a
//!   manager, against 1 s on PostgreSQL and 2 s on SQLite. The org is made
//!   over the HTTP API; the rows the reports read are seeded straight into
//!   the tables through the server's entities (`kam_tools::report_rows`: a
//!   read benchmark, going through sync would take hours at this scale);
//!   then each report is requested over HTTP exactly as a client does.
//!
//! ```sh
//! cargo build --release -p kam-server -p kam-tools
//! target/release/kam-bench                       # SQLite, defaults D=50 A=20 V=2 E=10, seed 7
//! target/release/kam-bench --peer                # and the Node peer, same run
//! target/release/kam-bench --database-url postgres://postgres@127.0.0.1:5432/postgres
//! target/release/kam-bench --reports            # reports at scale, SQLite
//! ```
//!
//! Every random choice of the workload (stages, scores, cities, notes) comes
//! from one RNG seeded with `--seed`, printed in the header: the same seed
//! drives the same workload, so figures compare across runs and the CI smoke
//! run cannot pass or fail on the luck of a draw. Record ids (UUIDv7) and the
//! devices' actor ids are made as a real client makes them, from the clock
//! and the system's randomness.

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::future::try_join_all;
use kam_sync_core::protocol::{Bytes, PushDoc, PushStatus, SyncRequest, SyncResponse};
use kam_sync_core::{Account, Contact, RecordDoc, RecordKind, parse_record};
use kam_tools::{Client, Device, SENTENCES, ServerProcess, make_reps, object, password};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[path = "kam-bench/reports.rs"]
mod reports;

#[derive(Parser, Clone)]
#[command(name = "kam-bench", about = "KAM Sync's field-day benchmark")]
struct Cli {
    /// Devices syncing at once.
    #[arg(long, default_value_t = 50)]
    devices: usize,
    /// Accounts each device creates offline.
    #[arg(long, default_value_t = 20)]
    accounts: usize,
    /// Visits per account.
    #[arg(long, default_value_t = 2)]
    visits: usize,
    /// Further edits per account, one change each.
    #[arg(long, default_value_t = 10)]
    edits: usize,
    /// Accounts both devices edit in the conflict scenario.
    #[arg(long, default_value_t = 200)]
    conflict_accounts: usize,
    /// Documents in the initial-download scenario.
    #[arg(long, default_value_t = 2000)]
    initial_docs: usize,
    /// Changes of history behind the long-lived record in the history scenario.
    #[arg(long, default_value_t = 10_000)]
    history: usize,
    /// A PostgreSQL server to make a fresh database on (else SQLite in a temp dir).
    #[arg(long)]
    database_url: Option<String>,
    /// The kam-server binary (default: beside this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Sync with CBOR instead of JSON.
    #[arg(long)]
    cbor: bool,
    /// Also run Automerge's Node sync stack (bench/peer/run.sh) on the same workload.
    #[arg(long)]
    peer: bool,
    /// Run only the memory scenario, once per number of stored documents
    /// given (comma-separated, e.g. `10000,100000`).
    #[arg(long, value_delimiter = ',')]
    memory_docs: Vec<usize>,
    /// Run only the cache-bound scenario: one rep pushes this many tiny key
    /// persons, 1000 per request, once per cache size of `--cache-mib`.
    #[arg(long)]
    small_docs: Option<usize>,
    /// Document cache sizes for `--small-docs`, in MiB (comma-separated);
    /// 0 (no cache) is always run first, as the baseline.
    #[arg(long, value_delimiter = ',', default_value = "16,256")]
    cache_mib: Vec<u64>,
    /// Run only the reports scenario: seed rows at scale, time every report.
    #[arg(long)]
    reports: bool,
    /// Accounts seeded for `--reports`.
    #[arg(long, default_value_t = 100_000)]
    report_accounts: usize,
    /// Visits seeded for `--reports`.
    #[arg(long, default_value_t = 1_000_000)]
    report_visits: usize,
    /// Deals (opportunities) seeded for `--reports`.
    #[arg(long, default_value_t = 200_000)]
    report_opportunities: usize,
    /// Tickets seeded for `--reports`.
    #[arg(long, default_value_t = 50_000)]
    report_tickets: usize,
    /// Callbacks seeded for `--reports`.
    #[arg(long, default_value_t = 100_000)]
    report_callbacks: usize,
    /// Signed contracts seeded for `--reports`.
    #[arg(long, default_value_t = 20_000)]
    report_contracts: usize,
    /// Timed runs of each request in `--reports`, after one warm-up.
    #[arg(long, default_value_t = 5)]
    report_runs: usize,
    /// Seed of every random choice of the workload (and of the peer's).
    /// Fixed by default so that every run drives the same workload.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// A `kam-server` child process on a fresh database, with what the bench
/// reads of it.
struct Server {
    /// Declared first so it is dropped (killed) before its database.
    process: ServerProcess,
    postgres: Option<PostgresDatabase>,
    data: tempfile::TempDir,
    database_url: String,
}

/// A PostgreSQL database made for one server, dropped with it.
struct PostgresDatabase {
    admin_url: String,
    url: String,
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        if let Err(err) = kam_tools::drop_postgres_database(&self.admin_url, &self.url) {
            eprintln!("{err:#}");
        }
    }
}

impl Server {
    fn start(cli: &Cli) -> anyhow::Result<Self> {
        Self::start_with(cli, &[])
    }

    /// Starts a server with more settings (`KAM__...` variables).
    fn start_with(cli: &Cli, settings: &[(&str, String)]) -> anyhow::Result<Self> {
        let bin = kam_tools::server_bin(cli.server_bin.as_deref())?;
        let data = tempfile::tempdir()?;
        let postgres = match &cli.database_url {
            Some(url) => Some(PostgresDatabase {
                url: kam_tools::fresh_postgres_database(url, "kam_bench")?,
                admin_url: url.clone(),
            }),
            None => None,
        };
        let database_url = match &postgres {
            Some(database) => database.url.clone(),
            None => format!("sqlite://{}/kam.db?mode=rwc", data.path().display()),
        };
        let process = ServerProcess::start_with(
            &bin,
            &database_url,
            "127.0.0.1:0",
            data.path(),
            Stdio::null(),
            settings,
        )?;
        Ok(Self {
            process,
            postgres,
            data,
            database_url,
        })
    }

    fn base(&self) -> &str {
        &self.process.base
    }

    /// Starts a new peak-memory measurement (Linux `clear_refs`).
    fn reset_peak_rss(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.process.pid()), "5");
    }

    /// Peak resident memory since the last reset, in MiB.
    fn peak_rss_mib(&self) -> f64 {
        proc_status_kib(self.process.pid(), "VmHWM:") / 1024.0
    }

    /// Current resident memory, in MiB.
    fn rss_mib(&self) -> f64 {
        proc_status_kib(self.process.pid(), "VmRSS:") / 1024.0
    }

    /// CPU seconds used so far (user + system).
    fn cpu_secs(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.process.pid()))
            .unwrap_or_default();
        let after_name = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (ticks(11) + ticks(12)) / 100.0
    }

    /// Size of the database, in MiB.
    fn database_mib(&self) -> f64 {
        if self.postgres.is_some() {
            let db = self.database_url.rsplit('/').next().unwrap_or_default();
            let output = Command::new("psql")
                .args([
                    "-Atq",
                    &self.database_url,
                    "-c",
                    &format!("SELECT pg_database_size('{db}')"),
                ])
                .output();
            return output
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .and_then(|s| s.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1_048_576.0;
        }
        ["kam.db", "kam.db-wal"]
            .iter()
            .filter_map(|f| std::fs::metadata(self.data.path().join(f)).ok())
            .map(|m| m.len() as f64)
            .sum::<f64>()
            / 1_048_576.0
    }
}

fn proc_status_kib(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// What one device measured.
#[derive(Default, Clone)]
struct Traffic {
    sent: usize,
    received: usize,
    latencies: Vec<Duration>,
}

/// A field device that meters its traffic and may sync in CBOR.
struct Metered {
    device: Device,
    traffic: Traffic,
    cbor: bool,
}

impl Deref for Metered {
    type Target = Device;

    fn deref(&self) -> &Device {
        &self.device
    }
}

impl DerefMut for Metered {
    fn deref_mut(&mut self) -> &mut Device {
        &mut self.device
    }
}

impl Metered {
    async fn send(&mut self, request: &SyncRequest) -> anyhow::Result<SyncResponse> {
        let (body, content_type) = if self.cbor {
            let mut bytes = Vec::new();
            ciborium::into_writer(request, &mut bytes)?;
            (bytes, "application/cbor")
        } else {
            (serde_json::to_vec(request)?, "application/json")
        };
        self.traffic.sent += body.len();
        let started = Instant::now();
        let answer = self
            .device
            .exchange(&self.device.client.base, content_type, body)
            .await;
        self.traffic.latencies.push(started.elapsed());
        let bytes = answer.context("sync")?;
        self.traffic.received += bytes.len();
        Ok(if self.cbor {
            ciborium::from_reader(&bytes[..])?
        } else {
            serde_json::from_slice(&bytes)?
        })
    }

    async fn sync(&mut self) -> anyhow::Result<()> {
        for _ in 0..10_000 {
            let request = self.replica.prepare_sync();
            let response = self.send(&request).await?;
            ensure_applied(&request, &response)?;
            let outcome = self.replica.apply_sync(response)?;
            if !outcome.has_more && !self.replica.needs_sync() {
                return Ok(());
            }
        }
        bail!("sync did not settle")
    }
}

/// Checks that the server merged every pushed document and undid nothing:
/// the workload writes only what a rep may, so a refused push or any notice
/// is a broken workload, not a figure. Only an account may come back
/// `corrected` (with no notice): the server fills in the `team_id` of a new
/// one, which it keeps.
fn ensure_applied(request: &SyncRequest, response: &SyncResponse) -> anyhow::Result<()> {
    let kinds: HashMap<Uuid, RecordKind> = request.push.iter().map(|p| (p.id, p.kind)).collect();
    // The one correction a conforming device is owed: the team of a new
    // account, which the protocol tells clients to leave out.
    let applied = response
        .pushed
        .iter()
        .filter(|pushed| match pushed.status {
            PushStatus::Applied => true,
            PushStatus::Corrected => kinds.get(&pushed.id) == Some(&RecordKind::Account),
            PushStatus::Unchanged | PushStatus::Refused => false,
        })
        .count();
    if applied != request.push.len() || !response.notices.is_empty() {
        let statuses: Vec<(Uuid, PushStatus)> = response
            .pushed
            .iter()
            .map(|pushed| (pushed.id, pushed.status))
            .collect();
        bail!(
            "{applied} of {} pushed documents merged: {statuses:?}; notices: {:?}",
            request.push.len(),
            response.notices
        );
    }
    Ok(())
}

/// Creates the device's accounts and visits offline, then its edits.
fn build_offline(
    device: &mut Metered,
    rng: &mut StdRng,
    accounts: usize,
    visits: usize,
    edits: usize,
) -> anyhow::Result<Vec<Uuid>> {
    let meta = device.meta();
    let mut ids = Vec::new();
    for a in 0..accounts {
        let account = kam_tools::new_account(rng, a, device.user, &[])?;
        let id = Uuid::now_v7();
        device.replica.create(id, &account, &meta)?;
        ids.push(id);
        for v in 0..visits {
            let days = i64::try_from(v).unwrap_or(0) + 1;
            let visit = kam_tools::new_visit(id, device.user, days)?;
            device.replica.create(Uuid::now_v7(), &visit, &meta)?;
        }
    }
    for id in &ids {
        for e in 0..edits {
            let patch = match e % 4 {
                0 => {
                    json!({"stage": kam_tools::next_stage(&kam_tools::stage_of(&device.replica, *id))})
                }
                1 => json!({"scores": {"loyalty": rng.random_range(0..100)}}),
                2 => {
                    let notes = kam_tools::notes_of(&device.replica, *id);
                    json!({"notes": format!("{notes}{}", SENTENCES[e % 4])})
                }
                _ => json!({"tags": [format!("tag{}", rng.random_range(0..20))]}),
            };
            device.replica.edit::<Account>(*id, &object(patch), &meta)?;
        }
    }
    Ok(ids)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

struct FieldDay {
    docs: usize,
    changes: usize,
    seconds: f64,
    latencies: Vec<Duration>,
    /// Afterwards, every device syncing one edit at once.
    edit_latencies: Vec<Duration>,
    sent_per_device: f64,
    received_per_device: f64,
    rss_before_mib: f64,
    peak_rss_mib: f64,
    cpu_secs: f64,
    database_mib: f64,
    inprocess_seconds: f64,
}

async fn devices_for(
    server: &Server,
    http: &reqwest::Client,
    reps: &[(Uuid, String)],
    cbor: bool,
    tag: &str,
) -> anyhow::Result<Vec<Metered>> {
    try_join_all(reps.iter().map(|(_, username)| async move {
        let device = Device::login(
            http,
            server.base(),
            username,
            &password(username),
            &format!("{tag}-{username}"),
        )
        .await?;
        anyhow::Ok(Metered {
            device,
            traffic: Traffic::default(),
            cbor,
        })
    }))
    .await
}

/// Merges the devices' first pushes with `kam-sync-core` alone: load each
/// document's bytes, check the record, save it.
fn in_process_limit(requests: &[SyncRequest]) -> anyhow::Result<f64> {
    let started = Instant::now();
    for request in requests {
        for push in &request.push {
            let mut doc = RecordDoc::from_automerge(push.kind, automerge::AutoCommit::new());
            doc.automerge_mut().load_incremental(&push.changes.0)?;
            doc.check()?;
            drop(doc.automerge_mut().save());
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

async fn field_day(
    cli: &Cli,
    http: &reqwest::Client,
    rng: &mut StdRng,
) -> anyhow::Result<FieldDay> {
    let server = Server::start(cli)?;
    let reps = make_reps(http, server.base(), cli.devices).await?;
    let mut devices = devices_for(&server, http, &reps, cli.cbor, "phone").await?;
    let mut first_accounts = Vec::with_capacity(devices.len());
    for device in &mut devices {
        let accounts = build_offline(device, rng, cli.accounts, cli.visits, cli.edits)?;
        first_accounts.push(accounts.first().copied());
    }
    let requests: Vec<SyncRequest> = devices
        .iter_mut()
        .map(|d| d.replica.prepare_sync())
        .collect();
    let inprocess_seconds = in_process_limit(&requests)?;
    let cpu_before = server.cpu_secs();
    let rss_before_mib = server.rss_mib();
    server.reset_peak_rss();
    let started = Instant::now();
    let devices = try_join_all(devices.into_iter().map(|mut device| async move {
        device.sync().await?;
        anyhow::Ok(device)
    }))
    .await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_secs = server.cpu_secs() - cpu_before;
    let docs = cli.devices * cli.accounts * (1 + cli.visits);
    let changes = docs + cli.devices * cli.accounts * cli.edits;
    let mut latencies: Vec<Duration> = devices
        .iter()
        .flat_map(|d| d.traffic.latencies.clone())
        .collect();
    latencies.sort();
    let n = devices.len().max(1) as f64;
    let sent_per_device = devices.iter().map(|d| d.traffic.sent as f64).sum::<f64>() / n;
    let received_per_device = devices
        .iter()
        .map(|d| d.traffic.received as f64)
        .sum::<f64>()
        / n;
    let peak_rss_mib = server.peak_rss_mib();
    // The rest of the day: every device adds a sentence to the notes of one
    // account (an edit any rep may make, whatever the account's stage), and
    // all sync at once.
    let mut devices = devices;
    for (device, account) in devices.iter_mut().zip(&first_accounts) {
        if let Some(id) = account {
            let meta = device.meta();
            let notes = kam_tools::notes_of(&device.replica, *id);
            let sentence = SENTENCES[rng.random_range(0..SENTENCES.len())];
            device.replica.edit::<Account>(
                *id,
                &object(json!({"notes": format!("{notes}{sentence}")})),
                &meta,
            )?;
        }
        device.traffic.latencies.clear();
    }
    let devices = try_join_all(devices.into_iter().map(|mut device| async move {
        device.sync().await?;
        anyhow::Ok(device)
    }))
    .await?;
    let mut edit_latencies: Vec<Duration> = devices
        .iter()
        .flat_map(|d| d.traffic.latencies.clone())
        .collect();
    edit_latencies.sort();
    Ok(FieldDay {
        docs,
        changes,
        seconds,
        latencies,
        edit_latencies,
        sent_per_device,
        received_per_device,
        rss_before_mib,
        peak_rss_mib,
        cpu_secs,
        database_mib: server.database_mib(),
        inprocess_seconds,
    })
}

/// Two devices of one rep edit the same accounts (same field, same text
/// position) offline, sync, and must converge with the server.
async fn conflict(
    cli: &Cli,
    http: &reqwest::Client,
    rng: &mut StdRng,
) -> anyhow::Result<(f64, usize)> {
    let server = Server::start(cli)?;
    let reps = make_reps(http, server.base(), 1).await?;
    let mut devices = devices_for(&server, http, &reps, cli.cbor, "phone").await?;
    devices.extend(devices_for(&server, http, &reps, cli.cbor, "tablet").await?);
    let ids = build_offline(&mut devices[0], rng, cli.conflict_accounts, 0, 0)?;
    devices[0].sync().await?;
    devices[1].sync().await?;
    for (d, device) in devices.iter_mut().enumerate() {
        let meta = device.meta();
        for id in &ids {
            let notes = kam_tools::notes_of(&device.replica, *id);
            let patch = json!({"industry": format!("industry {d}"), "notes": format!("Device {d} was here. {notes}")});
            device.replica.edit::<Account>(*id, &object(patch), &meta)?;
        }
    }
    let started = Instant::now();
    devices[0].sync().await?;
    devices[1].sync().await?;
    devices[0].sync().await?;
    let seconds = started.elapsed().as_secs_f64();
    let rest = Client::login(
        http,
        server.base(),
        &reps[0].1,
        &password(&reps[0].1),
        "check",
    )
    .await?;
    for id in &ids {
        let a = devices[0].replica.doc(*id).map(|d| d.to_json());
        let b = devices[1].replica.doc(*id).map(|d| d.to_json());
        if a != b {
            bail!("devices differ on {id}");
        }
        let view = rest.get(&format!("/accounts/{id}")).await?;
        if a.as_ref().map(|a| &a["notes"]) != Some(&view["notes"])
            || a.as_ref().map(|a| &a["stage"]) != Some(&view["stage"])
        {
            bail!("device and server differ on {id}");
        }
    }
    Ok((seconds, ids.len()))
}

/// A fresh device downloads a scope of `initial_docs` documents.
async fn initial_download(
    cli: &Cli,
    http: &reqwest::Client,
    rng: &mut StdRng,
) -> anyhow::Result<(f64, usize, usize, f64)> {
    let server = Server::start(cli)?;
    let reps = make_reps(http, server.base(), 1).await?;
    let mut maker = devices_for(&server, http, &reps, cli.cbor, "maker")
        .await?
        .remove(0);
    build_offline(&mut maker, rng, cli.initial_docs / 2, 1, 0)?;
    maker.sync().await?;
    let rss_before = server.rss_mib();
    let mut fresh = devices_for(&server, http, &reps, cli.cbor, "fresh")
        .await?
        .remove(0);
    let started = Instant::now();
    fresh.sync().await?;
    let seconds = started.elapsed().as_secs_f64();
    if fresh.replica.len() != maker.replica.len() {
        bail!(
            "the fresh device holds {} documents, not {}",
            fresh.replica.len(),
            maker.replica.len()
        );
    }
    Ok((
        seconds,
        fresh.replica.len(),
        fresh.traffic.received,
        server.rss_mib().max(rss_before),
    ))
}

/// Reps storing documents in the memory scenario, each with a fresh device
/// that then downloads its whole scope.
const MEMORY_REPS: usize = 20;

/// What the server's memory came to with a number of documents stored.
struct Memory {
    docs: usize,
    stored_rss_mib: f64,
    peak_rss_mib: f64,
    after_rss_mib: f64,
}

/// Server memory as documents accumulate: [`MEMORY_REPS`] devices store
/// `docs` documents (accounts with two visits each), then a fresh device per
/// rep downloads its whole scope, so every document passes through the
/// server's cache once.
async fn memory(
    cli: &Cli,
    http: &reqwest::Client,
    rng: &mut StdRng,
    docs: usize,
) -> anyhow::Result<Memory> {
    let server = Server::start(cli)?;
    let reps = make_reps(http, server.base(), MEMORY_REPS).await?;
    let mut makers = devices_for(&server, http, &reps, cli.cbor, "maker").await?;
    let accounts = docs.div_ceil(MEMORY_REPS * 3).max(1);
    for device in &mut makers {
        build_offline(device, rng, accounts, 2, 0)?;
    }
    try_join_all(makers.iter_mut().map(Metered::sync)).await?;
    let stored: usize = makers.iter().map(|d| d.replica.len()).sum();
    drop(makers);
    let stored_rss_mib = server.rss_mib();
    server.reset_peak_rss();
    let mut fresh = devices_for(&server, http, &reps, cli.cbor, "fresh").await?;
    try_join_all(fresh.iter_mut().map(Metered::sync)).await?;
    let downloaded: usize = fresh.iter().map(|d| d.replica.len()).sum();
    if downloaded != stored {
        bail!("the fresh devices hold {downloaded} documents, not {stored}");
    }
    Ok(Memory {
        docs: stored,
        stored_rss_mib,
        peak_rss_mib: server.peak_rss_mib(),
        after_rss_mib: server.rss_mib(),
    })
}

/// Prints the memory scenario's table, one row per number of documents.
async fn print_memory(cli: &Cli, http: &reqwest::Client, rng: &mut StdRng) -> anyhow::Result<()> {
    println!(
        "| documents stored | server RSS after storing them | peak while {MEMORY_REPS} fresh devices download everything | RSS after |"
    );
    println!("| --- | --- | --- | --- |");
    for docs in &cli.memory_docs {
        let memory = memory(cli, http, rng, *docs).await?;
        println!(
            "| {} | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
            memory.docs, memory.stored_rss_mib, memory.peak_rss_mib, memory.after_rss_mib
        );
    }
    Ok(())
}

/// Key persons per request in the cache-bound scenario: the most a sync
/// request may carry.
const FLOOD_BATCH: usize = 1000;

/// What the server's memory came to while one rep pushed tiny documents.
struct Flood {
    cache_mib: u64,
    docs: usize,
    start_rss_mib: f64,
    after_rss_mib: f64,
    peak_rss_mib: f64,
    docs_per_s: f64,
}

/// Sends `push` with `cursor`, pulls until nothing more waits, and checks
/// that the server applied every document as sent; the cursor to send next.
async fn push_all(
    device: &mut Metered,
    cursor: Option<String>,
    push: Vec<PushDoc>,
) -> anyhow::Result<Option<String>> {
    let mut request = SyncRequest {
        cursor,
        push,
        resend: Vec::new(),
        limit: None,
    };
    loop {
        let response = device.send(&request).await?;
        ensure_applied(&request, &response)?;
        if !response.has_more {
            return Ok(Some(response.cursor));
        }
        request = SyncRequest {
            cursor: Some(response.cursor),
            ..SyncRequest::default()
        };
    }
}

/// One rep's device pushes `docs` tiny key persons (a name each), a
/// request of [`FLOOD_BATCH`] per account, as a conforming client does: the
/// accounts first, each new document whole, the cursor sent back each time.
/// The server runs with a document cache of `cache_mib`.
async fn flood(
    cli: &Cli,
    http: &reqwest::Client,
    rng: &mut StdRng,
    docs: usize,
    cache_mib: u64,
) -> anyhow::Result<Flood> {
    let server = Server::start_with(
        cli,
        &[("KAM__SERVER__DOC_CACHE_MIB", cache_mib.to_string())],
    )?;
    let reps = make_reps(http, server.base(), 1).await?;
    let mut device = devices_for(&server, http, &reps, cli.cbor, "phone")
        .await?
        .remove(0);
    let meta = device.meta();
    let actor = device.replica.actor().clone();
    let mut accounts = Vec::new();
    for a in 0..docs.div_ceil(FLOOD_BATCH) {
        let account = kam_tools::new_account(rng, a, device.user, &[])?;
        let mut doc = RecordDoc::create(&account, actor.clone(), &meta)?;
        accounts.push(PushDoc {
            id: Uuid::now_v7(),
            kind: RecordKind::Account,
            changes: Bytes(doc.automerge_mut().save()),
        });
    }
    let account_ids: Vec<Uuid> = accounts.iter().map(|push| push.id).collect();
    let mut cursor = None;
    for chunk in accounts.chunks(FLOOD_BATCH) {
        cursor = push_all(&mut device, cursor, chunk.to_vec()).await?;
    }
    let start_rss_mib = server.rss_mib();
    server.reset_peak_rss();
    let started = Instant::now();
    let mut pushed = 0;
    for account in account_ids {
        let batch = (pushed..docs.min(pushed + FLOOD_BATCH))
            .map(|i| {
                let contact: Contact = parse_record(
                    json!({"account_id": account, "name": format!("Key person {i}")}),
                )?;
                let mut doc = RecordDoc::create(&contact, actor.clone(), &meta)?;
                anyhow::Ok(PushDoc {
                    id: Uuid::now_v7(),
                    kind: RecordKind::Contact,
                    changes: Bytes(doc.automerge_mut().save()),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        pushed += batch.len();
        cursor = push_all(&mut device, cursor, batch).await?;
    }
    Ok(Flood {
        cache_mib,
        docs: pushed,
        start_rss_mib,
        after_rss_mib: server.rss_mib(),
        peak_rss_mib: server.peak_rss_mib(),
        docs_per_s: pushed as f64 / started.elapsed().as_secs_f64(),
    })
}

/// Prints the cache-bound table: the run without a cache is the baseline
/// (everything the server holds but the cache), and each cache may add at
/// most its size to it. Fails when one adds more.
async fn print_flood(
    cli: &Cli,
    http: &reqwest::Client,
    rng: &mut StdRng,
    docs: usize,
) -> anyhow::Result<()> {
    println!(
        "| document cache (`KAM__SERVER__DOC_CACHE_MIB`) | server RSS before | after {docs} key persons | peak while pushing | key persons/s | peak within baseline + cache |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let baseline = flood(cli, http, rng, docs, 0).await?;
    println!(
        "| 0 MiB (no cache): the baseline | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.0} | |",
        baseline.start_rss_mib, baseline.after_rss_mib, baseline.peak_rss_mib, baseline.docs_per_s
    );
    let mut over = Vec::new();
    for cache_mib in cli.cache_mib.iter().filter(|mib| **mib > 0) {
        let run = flood(cli, http, rng, docs, *cache_mib).await?;
        let allowed = baseline.peak_rss_mib + run.cache_mib as f64;
        let verdict = if run.peak_rss_mib <= allowed {
            format!("yes: {:.1} MiB to spare", allowed - run.peak_rss_mib)
        } else {
            over.push(run.cache_mib);
            format!("**no**: {:.1} MiB over", run.peak_rss_mib - allowed)
        };
        println!(
            "| {} MiB | {:.1} MiB | {:.1} MiB | {:.1} MiB | {:.0} | {verdict} |",
            run.cache_mib, run.start_rss_mib, run.after_rss_mib, run.peak_rss_mib, run.docs_per_s
        );
        if run.docs != baseline.docs {
            bail!("{} documents pushed, not {}", run.docs, baseline.docs);
        }
    }
    if !over.is_empty() {
        bail!("the server outgrew baseline + cache with a cache of {over:?} MiB");
    }
    Ok(())
}

/// Prints the peer's figures next to ours, as ratios.
fn print_peer(report: &Value, docs_per_s: f64, changes_per_s: f64) {
    let number = |path: &[&str]| {
        path.iter()
            .fold(report, |v, key| &v[*key])
            .as_f64()
            .unwrap_or(0.0)
    };
    let ratio = |ours: f64, theirs: f64| if theirs > 0.0 { ours / theirs } else { 0.0 };
    let peer_docs = number(&["docs_per_s"]);
    let peer_changes = number(&["changes_per_s"]);
    println!(
        "\n| peer: automerge-repo sync server (Node), same workload | value | kam-sync / peer |"
    );
    println!("| --- | --- | --- |");
    println!(
        "| documents/s merged and stored | {peer_docs:.0} | {:.1}x |",
        ratio(docs_per_s, peer_docs)
    );
    println!(
        "| changes/s merged and stored | {peer_changes:.0} | {:.1}x |",
        ratio(changes_per_s, peer_changes)
    );
    println!(
        "| per-device sync time p50 / p99 | {:.0} / {:.0} ms | |",
        number(&["device_sync_ms", "p50"]),
        number(&["device_sync_ms", "p99"])
    );
    println!(
        "| bytes per device, sent / received | {:.0} / {:.0} | |",
        number(&["bytes_sent", "mean"]),
        number(&["bytes_received", "mean"])
    );
    println!(
        "| server peak RSS / CPU during the sync | {:.1} MiB / {:.2} s | |",
        number(&["server", "peak_rss_kb"]) / 1024.0,
        number(&["server", "cpu_s"])
    );
    println!(
        "| storage size | {:.1} MiB | |",
        number(&["storage", "bytes"]) / 1_048_576.0
    );
}

/// Median sync latency of a one-field edit to a fresh account and to one
/// with `history` changes behind it, through the real server.
async fn history(
    cli: &Cli,
    http: &reqwest::Client,
    rng: &mut StdRng,
    history: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let server = Server::start(cli)?;
    let reps = make_reps(http, server.base(), 1).await?;
    let mut device = devices_for(&server, http, &reps, cli.cbor, "phone")
        .await?
        .remove(0);
    let ids = build_offline(&mut device, rng, 2, 0, 0)?;
    let meta = device.meta();
    for i in 0..history {
        let patch = json!({"scores": {"loyalty": i % 100}, "phone": format!("+86 21 {i:08}")});
        device
            .replica
            .edit::<Account>(ids[1], &object(patch), &meta)?;
    }
    device.sync().await?;
    let mut medians = Vec::new();
    let traffic_before = device.traffic.sent + device.traffic.received;
    let mut edits = 0;
    for id in &ids {
        let mut latencies = Vec::new();
        for round in 0..40 {
            device.replica.edit::<Account>(
                *id,
                &object(json!({"industry": format!("round {round}")})),
                &meta,
            )?;
            let started = Instant::now();
            device.sync().await?;
            latencies.push(started.elapsed());
            edits += 1;
        }
        latencies.sort();
        medians.push(percentile(&latencies, 0.5));
    }
    let bytes_per_edit =
        (device.traffic.sent + device.traffic.received - traffic_before) as f64 / f64::from(edits);
    Ok((medians[0], medians[1], bytes_per_edit))
}

/// Runs the Node peer on the same workload; its JSON report.
fn peer(cli: &Cli) -> anyhow::Result<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/peer/run.sh");
    let output = Command::new("bash")
        .arg(&script)
        .args([
            "--devices",
            &cli.devices.to_string(),
            "--accounts",
            &cli.accounts.to_string(),
        ])
        .args([
            "--visits",
            &cli.visits.to_string(),
            "--edits",
            &cli.edits.to_string(),
        ])
        .args(["--seed", &cli.seed.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !output.status.success() {
        bail!("the peer failed ({})", output.status);
    }
    let text = String::from_utf8(output.stdout)?;
    let start = text.find('{').context("the peer printed no JSON")?;
    Ok(serde_json::from_str(text[start..].trim())?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .pool_max_idle_per_host(256)
        .build()?;
    let engine = if cli.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let format = if cli.cbor { "CBOR" } else { "JSON" };
    let seed = cli.seed;
    let mut rng = StdRng::seed_from_u64(seed);
    if let Some(docs) = cli.small_docs {
        println!("## kam-bench cache bound: {engine}, {format}, seed {seed}\n");
        return print_flood(&cli, &http, &mut rng, docs).await;
    }
    if cli.reports {
        println!("## kam-bench reports: {engine}, seed {seed}\n");
        return reports::run(&cli, &http, &mut rng).await;
    }
    if !cli.memory_docs.is_empty() {
        println!("## kam-bench memory: {engine}, {format}, seed {seed}\n");
        return print_memory(&cli, &http, &mut rng).await;
    }
    println!(
        "## kam-bench: {engine}, {format}, D={} A={} V={} E={}, seed {seed}\n",
        cli.devices, cli.accounts, cli.visits, cli.edits
    );
    let day = field_day(&cli, &http, &mut rng).await?;
    let docs_per_s = day.docs as f64 / day.seconds;
    let changes_per_s = day.changes as f64 / day.seconds;
    let limit_docs_per_s = day.docs as f64 / day.inprocess_seconds;
    println!("| field day | value |\n| --- | --- |");
    println!("| documents / changes | {} / {} |", day.docs, day.changes);
    println!(
        "| wall time, all devices syncing at once | {:.2} s |",
        day.seconds
    );
    println!("| documents/s merged and stored | {docs_per_s:.0} |");
    println!("| changes/s merged and stored | {changes_per_s:.0} |");
    println!(
        "| request latency p50 / p95 / p99 | {:.1} / {:.1} / {:.1} ms ({} requests) |",
        percentile(&day.latencies, 0.50),
        percentile(&day.latencies, 0.95),
        percentile(&day.latencies, 0.99),
        day.latencies.len()
    );
    println!(
        "| then every device syncs one edit at once: latency p50 / p95 / p99 | {:.1} / {:.1} / {:.1} ms ({} requests) |",
        percentile(&day.edit_latencies, 0.50),
        percentile(&day.edit_latencies, 0.95),
        percentile(&day.edit_latencies, 0.99),
        day.edit_latencies.len()
    );
    println!(
        "| bytes per device, sent / received | {:.0} / {:.0} |",
        day.sent_per_device, day.received_per_device
    );
    println!(
        "| server RSS before the sync / peak during it | {:.1} / {:.1} MiB |",
        day.rss_before_mib, day.peak_rss_mib
    );
    println!("| server CPU during the sync | {:.2} s |", day.cpu_secs);
    println!("| database size | {:.1} MiB |", day.database_mib);
    println!(
        "| in-process limit (kam-sync-core alone) | {limit_docs_per_s:.0} documents/s, {:.0} changes/s |",
        day.changes as f64 / day.inprocess_seconds
    );
    println!(
        "| end-to-end / in-process | {:.2} |",
        docs_per_s / limit_docs_per_s
    );
    let (seconds, accounts) = conflict(&cli, &http, &mut rng).await?;
    println!(
        "| conflict: 2 devices x {accounts} accounts, same field and text, converged | {seconds:.2} s |"
    );
    let (seconds, docs, bytes, rss) = initial_download(&cli, &http, &mut rng).await?;
    println!(
        "| initial download of {docs} documents | {seconds:.2} s, {:.0} KiB, server RSS {rss:.1} MiB |",
        bytes as f64 / 1024.0
    );
    let (fresh, long, bytes_per_edit) = history(&cli, &http, &mut rng, cli.history).await?;
    println!(
        "| a one-field edit on the wire, push and pull together | {bytes_per_edit:.0} bytes |"
    );
    println!(
        "| one-field edit synced, median: fresh record / {} changes of history | {fresh:.2} / {long:.2} ms ({:.2}x) |",
        cli.history,
        long / fresh
    );
    if cli.peer {
        match peer(&cli) {
            Ok(report) => print_peer(&report, docs_per_s, changes_per_s),
            Err(err) => println!("| peer | not run: {err:#} |"),
        }
    }
    Ok(())
}
