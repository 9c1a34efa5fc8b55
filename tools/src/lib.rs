//! What the load, torture and field tools share: a real `kam-server` child
//! process on a database of its own (a fresh PostgreSQL database or a SQLite
//! file), an HTTP client for one user, reps made through the admin API,
//! field devices (a client and a `Replica`) and realistic offline records.
//!
//! The devices write records as `docs/sync-protocol.md` tells a client to:
//! fields the server keeps (an account's `team_id`) are left out.
//!
//! [`report_rows`] seeds the rows the reports read at scale, straight into
//! the tables, for `kam-bench --reports`.

pub mod report_rows;

use anyhow::{Context, bail};
use automerge::ActorId;
use chrono::{Duration as ChronoDuration, Utc};
use futures_util::future::try_join_all;
use kam_sync_core::protocol::{SyncRequest, SyncResponse};
use kam_sync_core::{Account, ChangeMeta, Replica, Visit, parse_record};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use uuid::Uuid;

/// The admin password every child server starts with.
pub const ADMIN_PASSWORD: &str = "bench-admin-password";

/// The `kam-server` binary: the given one, else the one beside this binary.
pub fn server_bin(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    Ok(match explicit {
        Some(bin) => bin.to_owned(),
        None => std::env::current_exe()?.with_file_name("kam-server"),
    })
}

/// Makes a fresh database named `<prefix>_<random>` on the PostgreSQL
/// server of `url` (with `psql`); returns its URL.
pub fn fresh_postgres_database(url: &str, prefix: &str) -> anyhow::Result<String> {
    let name = format!("{prefix}_{}", &Uuid::new_v4().simple().to_string()[..12]);
    let status = Command::new("psql")
        .args(["-q", url, "-c", &format!("CREATE DATABASE {name}")])
        .status()
        .context("psql is needed to make a PostgreSQL database")?;
    if !status.success() {
        bail!("cannot create database {name}");
    }
    let (server, _) = url
        .rsplit_once('/')
        .context("a database URL ends with /<database>")?;
    Ok(format!("{server}/{name}"))
}

/// Drops a database made by [`fresh_postgres_database`], connecting through
/// `admin_url` (another database on the same server).
pub fn drop_postgres_database(admin_url: &str, database_url: &str) -> anyhow::Result<()> {
    let name = database_url.rsplit('/').next().unwrap_or_default();
    let status = Command::new("psql")
        .args([
            "-q",
            admin_url,
            "-c",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ])
        .status()
        .context("cannot run psql")?;
    if !status.success() {
        bail!("cannot drop database {name}");
    }
    Ok(())
}

/// A running `kam-server` child process. Dropping it kills it.
pub struct ServerProcess {
    child: Child,
    /// Where it listens: `http://127.0.0.1:<port>`.
    pub base: String,
}

impl ServerProcess {
    /// Starts `bin` on `database_url`, listening on `bind`, in `dir`; its
    /// stderr goes to `log`. Returns once it says where it listens.
    pub fn start(
        bin: &Path,
        database_url: &str,
        bind: &str,
        dir: &Path,
        log: Stdio,
    ) -> anyhow::Result<Self> {
        Self::start_with(bin, database_url, bind, dir, log, &[])
    }

    /// As [`ServerProcess::start`], with more settings in its environment
    /// (`KAM__...` variables).
    pub fn start_with(
        bin: &Path,
        database_url: &str,
        bind: &str,
        dir: &Path,
        log: Stdio,
        settings: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let mut child = Command::new(bin)
            .current_dir(dir)
            .envs(settings.iter().map(|(key, value)| (key, value)))
            .env("KAM__SERVER__BIND", bind)
            .env("KAM__DATABASE__URL", database_url)
            .env("KAM__AUTH__ACCESS_TTL_SECS", "86400")
            .env("KAM_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("KAM_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut base = None;
        for line in lines.by_ref() {
            let line = line?;
            if let Some(url) = line.strip_prefix("KAM Sync listening on ") {
                base = Some(url.trim().to_owned());
                break;
            }
        }
        // Keep reading, or the server's next line would hit a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let Some(base) = base else {
            let _ = child.kill();
            let status = child.wait()?;
            bail!("the server did not say where it listens ({status})");
        };
        Ok(Self { child, base })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it with SIGKILL, at once, and reaps it.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client for one user.
#[derive(Clone)]
pub struct Client {
    /// The shared connection pool.
    pub http: reqwest::Client,
    /// The server it logged in to.
    pub base: String,
    /// The access token.
    pub token: String,
}

/// How many times a login is sent while the server answers 503
/// `server_busy` (more password checks at once than it queues).
const LOGIN_ATTEMPTS: usize = 60;

impl Client {
    /// Logs `username` in as device `device`. A 503 `server_busy` is sent
    /// again after the `Retry-After` it names, as a client should (50 devices
    /// logging in at once outnumber the password checks a 2-core server
    /// queues; docs/login-throttling.md).
    pub async fn login(
        http: &reqwest::Client,
        base: &str,
        username: &str,
        password: &str,
        device: &str,
    ) -> anyhow::Result<Self> {
        for _ in 0..LOGIN_ATTEMPTS {
            let response = http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"username": username, "password": password, "device_id": device}))
                .send()
                .await?;
            if response.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                let wait = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.parse().ok())
                    .unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            if !response.status().is_success() {
                bail!("login {username}: {}", response.text().await?);
            }
            let pair: Value = response.json().await?;
            return Ok(Self {
                http: http.clone(),
                base: base.to_owned(),
                token: pair["access_token"].as_str().unwrap_or_default().to_owned(),
            });
        }
        bail!("login {username}: the server was busy {LOGIN_ATTEMPTS} times in a row")
    }

    /// POSTs JSON to an API path; the answer's JSON.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("POST {path}: {}", response.text().await?);
        }
        Ok(response.json().await?)
    }

    /// GETs an API path; the answer's JSON.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("GET {path}: {}", response.text().await?);
        }
        Ok(response.json().await?)
    }
}

/// The password of a rep made by [`make_reps`].
pub fn password(username: &str) -> String {
    format!("{username}-bench-password")
}

/// Makes `count` reps in one team, as the admin, eight at a time; returns
/// their ids and usernames.
pub async fn make_reps(
    http: &reqwest::Client,
    base: &str,
    count: usize,
) -> anyhow::Result<Vec<(Uuid, String)>> {
    let admin = Client::login(http, base, "admin", ADMIN_PASSWORD, "bench").await?;
    let branch = admin.post("/branches", &json!({"name": "Bench"})).await?;
    let team = admin
        .post(
            "/teams",
            &json!({"name": "Field", "branch_id": branch["id"]}),
        )
        .await?;
    let mut reps = Vec::new();
    for chunk in (0..count).collect::<Vec<_>>().chunks(8) {
        let made = try_join_all(chunk.iter().map(|i| {
            let admin = &admin;
            let team = &team["id"];
            async move {
                let username = format!("rep{i:04}");
                let user = admin
                    .post(
                        "/users",
                        &json!({"username": username, "display_name": username, "password": password(&username), "role": "rep", "team_id": team}),
                    )
                    .await?;
                let id = user["id"]
                    .as_str()
                    .and_then(|id| Uuid::parse_str(id).ok())
                    .context("user id")?;
                anyhow::Ok((id, username))
            }
        }))
        .await?;
        reps.extend(made);
    }
    Ok(reps)
}

/// Why a sync request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    /// No HTTP answer, or its body was cut off.
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// An answer that is not a 200.
    #[error("HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The body, as text.
        body: String,
    },
    /// A request that does not encode, or a 200 whose body does not parse.
    #[error("unreadable body: {0}")]
    Body(#[from] serde_json::Error),
}

/// A field device: a client and a replica.
pub struct Device {
    /// Its client (its `base` is the server it logged in to).
    pub client: Client,
    /// The user's id.
    pub user: Uuid,
    /// The device id it logged in with.
    pub name: String,
    /// Its offline store.
    pub replica: Replica,
}

impl Device {
    /// Logs a device in and reads who its user is.
    pub async fn login(
        http: &reqwest::Client,
        base: &str,
        username: &str,
        password: &str,
        name: &str,
    ) -> anyhow::Result<Self> {
        let client = Client::login(http, base, username, password, name).await?;
        let me = client.get("/auth/me").await?;
        let user = me["id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .context("/auth/me names no id")?;
        Ok(Self {
            client,
            user,
            name: name.to_owned(),
            replica: Replica::new(ActorId::random()),
        })
    }

    /// The author of a change made now on this device.
    pub fn meta(&self) -> ChangeMeta {
        ChangeMeta {
            user: Some(self.user.into()),
            device: self.name.clone(),
            time: Utc::now(),
        }
    }

    /// Sends one sync request (JSON) to the server at `base`.
    pub async fn send(
        &self,
        base: &str,
        request: &SyncRequest,
    ) -> Result<SyncResponse, SyncFailure> {
        let body = serde_json::to_vec(request)?;
        let answer = self.exchange(base, "application/json", body).await?;
        Ok(serde_json::from_slice(&answer)?)
    }

    /// Posts an encoded sync request (`body`, of `content_type`) to the
    /// server at `base`; the body of its 200.
    pub async fn exchange(
        &self,
        base: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, SyncFailure> {
        let response = self
            .client
            .http
            .post(format!("{base}/api/v1/sync"))
            .bearer_auth(&self.client.token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            return Err(SyncFailure::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok(bytes.into())
    }
}

/// Cities the made-up accounts are in.
pub const CITIES: [(&str, f64, f64); 5] = [
    ("Shanghai", 31.23, 121.47),
    ("Hangzhou", 30.27, 120.15),
    ("Nanjing", 32.06, 118.80),
    ("Suzhou", 31.30, 120.62),
    ("Hefei", 31.82, 117.23),
];
/// Stages an account may be created at, in lifecycle order.
pub const STAGES: [&str; 4] = ["identified", "engaging", "deepening", "maintaining"];

/// The stage a rep may move an account at `current` to on their own: one
/// step forward, or where it is at the last (the server undoes any other move).
pub fn next_stage(current: &str) -> &'static str {
    let at = STAGES.iter().position(|s| *s == current).unwrap_or(0);
    STAGES[(at + 1).min(STAGES.len() - 1)]
}

/// An account's stage as a device holds it.
pub fn stage_of(replica: &kam_sync_core::Replica, id: Uuid) -> String {
    replica
        .doc(id)
        .and_then(|doc| doc.to_json()["stage"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// An account's notes as a device holds them.
pub fn notes_of(replica: &kam_sync_core::Replica, id: Uuid) -> String {
    replica
        .doc(id)
        .and_then(|doc| doc.to_json()["notes"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What reps write in notes and summaries.
pub const SENTENCES: [&str; 4] = [
    "Met the purchasing director, who wants a proposal before the budget round. ",
    "The deputy head of IT is a supporter and will introduce us to the CFO. ",
    "Competitor quoted 8% lower; we answer with service levels and payment terms. ",
    "Follow up after the trade fair with the regional operations team. ",
];

/// A JSON object's members (empty for anything else).
pub fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// A realistic account owned by `owner`, shared with `shared_with`. It has
/// no `team_id`: the server keeps that field and fills in the owner's team
/// (the push comes back `corrected`, with no notice).
pub fn new_account(
    rng: &mut StdRng,
    index: usize,
    owner: Uuid,
    shared_with: &[Uuid],
) -> anyhow::Result<Account> {
    let (city, lat, lon) = CITIES[rng.random_range(0..CITIES.len())];
    Ok(parse_record(json!({
        "name": format!("{city} Account {index} {}", rng.random_range(1000..9999)),
        "segment": "enterprise",
        "stage": STAGES[rng.random_range(0..STAGES.len())],
        "owner_id": owner,
        "shared_with": shared_with,
        "scores": {"need": rng.random_range(0..100), "purchasing_power": rng.random_range(0..100), "loyalty": rng.random_range(0..100), "size": rng.random_range(0..100), "strategic_value": rng.random_range(0..100)},
        "address": {"city": city, "country": "China"},
        "location": {"lat": lat + rng.random_range(-0.05..0.05), "lon": lon + rng.random_range(-0.05..0.05)},
        "tags": [city.to_lowercase()],
        "notes": format!("{}{}{}", SENTENCES[index % 4], SENTENCES[(index + 1) % 4], SENTENCES[(index + 2) % 4]),
    }))?)
}

/// A realistic visit by `owner` to `account`, planned `days` from now.
pub fn new_visit(account: Uuid, owner: Uuid, days: i64) -> anyhow::Result<Visit> {
    let v = usize::try_from(days).unwrap_or(0);
    Ok(parse_record(json!({
        "account_id": account,
        "owner_id": owner,
        "planned_at": Utc::now() + ChronoDuration::days(days),
        "type": "onsite",
        "purpose": "Quarterly business review and renewal",
        "steps": {"identify": {"done": true, "notes": "Reception, then the purchasing office"}, "probe": {"done": false, "notes": ""}},
        "summary": format!("{}{}{}{}", SENTENCES[v % 4], SENTENCES[(v + 1) % 4], SENTENCES[(v + 2) % 4], SENTENCES[(v + 3) % 4]),
    }))?)
}
