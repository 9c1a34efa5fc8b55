//! `kam-field`: a field device simulator. It keeps a replica on disk, so a
//! rep's day can be played from a terminal: log in, go offline (every
//! command but `login` and `sync` works without the server), create and edit
//! accounts and visits, then sync and see what merged and what the server
//! undid.
//!
//! ```sh
//! kam-field login li.wei --password kam-demo-2026
//! kam-field accounts
//! kam-field edit <account-id> '{"stage": "deepening"}'
//! kam-field log-visit <account-id> --purpose "Renewal" --check-in 31.23,121.47
//! kam-field sync
//! ```

use anyhow::{Context, bail};
use automerge::ActorId;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use clap::{Parser, Subcommand};
use kam_sync_core::protocol::{SyncRequest, SyncResponse};
use kam_sync_core::{Account, ChangeMeta, RecordKind, Replica, Visit, with_record_type};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "kam-field",
    about = "A KAM Sync field device simulator (offline-first)"
)]
struct Cli {
    /// Where the device keeps its state.
    #[arg(long, env = "KAM_FIELD_STATE", default_value = "kam-field.json")]
    state: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Log in (online) and start a fresh device replica.
    Login {
        /// Login name.
        username: String,
        /// Password.
        #[arg(long, env = "KAM_FIELD_PASSWORD")]
        password: String,
        /// Server base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// This device's id.
        #[arg(long, default_value = "kam-field")]
        device: String,
    },
    /// Push local changes and pull what the device lacks (online).
    Sync,
    /// Pending changes and the cursor.
    Status,
    /// Accounts on the device.
    Accounts,
    /// Visits on the device.
    Visits,
    /// One record as JSON, with its concurrent values.
    Show {
        /// Record id.
        id: Uuid,
    },
    /// Create an account offline.
    CreateAccount {
        /// Name.
        #[arg(long)]
        name: String,
        /// Segment (government, enterprise, financial, education, healthcare, other).
        #[arg(long, default_value = "enterprise")]
        segment: String,
    },
    /// Edit a record offline with a JSON merge patch.
    Edit {
        /// Record id.
        id: Uuid,
        /// The patch, e.g. '{"stage": "deepening"}'.
        patch: String,
    },
    /// Log a visit offline, optionally checked in at a GPS position.
    LogVisit {
        /// The account visited.
        account: Uuid,
        /// What the visit is for.
        #[arg(long, default_value = "")]
        purpose: String,
        /// Check-in position as `lat,lon`.
        #[arg(long)]
        check_in: Option<String>,
    },
}

#[derive(Serialize, Deserialize)]
struct DeviceState {
    server: String,
    device: String,
    user_id: Uuid,
    access_token: String,
    refresh_token: String,
    replica: String,
}

impl DeviceState {
    fn load(path: &PathBuf) -> anyhow::Result<(Self, Replica)> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "no device state at {}: run `kam-field login` first",
                path.display()
            )
        })?;
        let state: Self = serde_json::from_str(&text).context("the device state is damaged")?;
        let replica = Replica::load(&STANDARD.decode(&state.replica)?)?;
        Ok((state, replica))
    }

    fn save(mut self, path: &PathBuf, replica: &mut Replica) -> anyhow::Result<()> {
        self.replica = STANDARD.encode(replica.save());
        std::fs::write(path, serde_json::to_vec_pretty(&self)?)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    fn meta(&self) -> ChangeMeta {
        ChangeMeta {
            user: Some(self.user_id.into()),
            device: self.device.clone(),
            time: Utc::now(),
        }
    }
}

fn object(value: Value) -> anyhow::Result<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        _ => bail!("a patch is a JSON object"),
    }
}

async fn post(
    http: &reqwest::Client,
    state: &DeviceState,
    path: &str,
    body: &impl Serialize,
) -> anyhow::Result<reqwest::Response> {
    Ok(http
        .post(format!("{}/api/v1{path}", state.server))
        .bearer_auth(&state.access_token)
        .json(body)
        .send()
        .await?)
}

async fn refresh(http: &reqwest::Client, state: &mut DeviceState) -> anyhow::Result<()> {
    let response = http
        .post(format!("{}/api/v1/auth/refresh", state.server))
        .json(&json!({"refresh_token": state.refresh_token}))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!(
            "the session ended ({}); log in again",
            response.text().await?
        );
    }
    let pair: Value = response.json().await?;
    state.access_token = pair["access_token"].as_str().unwrap_or_default().to_owned();
    state.refresh_token = pair["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(())
}

async fn sync(
    http: &reqwest::Client,
    state: &mut DeviceState,
    replica: &mut Replica,
) -> anyhow::Result<()> {
    for _ in 0..1_000 {
        let request: SyncRequest = replica.prepare_sync();
        let pushing = request.push.len();
        let mut response = post(http, state, "/sync", &request).await?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            refresh(http, state).await?;
            response = post(http, state, "/sync", &request).await?;
        }
        if !response.status().is_success() {
            bail!("sync failed: {}", response.text().await?);
        }
        let response: SyncResponse = response.json().await?;
        let outcome = replica.apply_sync(response)?;
        println!(
            "pushed {pushing} document(s), received {}, dropped {}",
            outcome.received,
            outcome.dropped.len()
        );
        for notice in &outcome.notices {
            println!(
                "  notice on {}: {} {}",
                notice.id, notice.code, notice.message
            );
        }
        if !outcome.has_more && !replica.needs_sync() {
            return Ok(());
        }
    }
    bail!("sync did not settle")
}

fn list(replica: &Replica, kind: RecordKind) {
    for id in replica.ids(kind) {
        if let Some(doc) = replica.doc(id) {
            let json = doc.to_json();
            let label = match kind {
                RecordKind::Account => json["name"].as_str().unwrap_or_default().to_owned(),
                RecordKind::Visit => format!(
                    "{} {}",
                    json["planned_at"].as_str().unwrap_or_default(),
                    json["purpose"].as_str().unwrap_or_default()
                ),
                RecordKind::Contact => format!(
                    "{} ({})",
                    json["name"].as_str().unwrap_or_default(),
                    json["title"].as_str().unwrap_or_default()
                ),
                RecordKind::Opportunity => format!(
                    "{} ({})",
                    json["name"].as_str().unwrap_or_default(),
                    json["stage"].as_str().unwrap_or_default()
                ),
                RecordKind::AccountPlan => format!(
                    "{} {} {} [{}]",
                    json["period_kind"].as_str().unwrap_or_default(),
                    json["period_start"].as_str().unwrap_or_default(),
                    json["title"].as_str().unwrap_or_default(),
                    json["status"].as_str().unwrap_or_default()
                ),
                RecordKind::Callback => format!(
                    "{} {} ({})",
                    json["scheduled_on"].as_str().unwrap_or_default(),
                    json["kind"].as_str().unwrap_or_default(),
                    json["status"].as_str().unwrap_or_default()
                ),
                RecordKind::Ticket => format!(
                    "[{}] {} ({})",
                    json["severity"].as_str().unwrap_or_default(),
                    json["title"].as_str().unwrap_or_default(),
                    json["status"].as_str().unwrap_or_default()
                ),
            };
            println!("{id}  {label}");
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    if let Command::Login {
        username,
        password,
        server,
        device,
    } = &cli.command
    {
        let response = http
            .post(format!("{server}/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password, "device_id": device}))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("login failed: {}", response.text().await?);
        }
        let pair: Value = response.json().await?;
        let access_token = pair["access_token"].as_str().unwrap_or_default().to_owned();
        let me: Value = http
            .get(format!("{server}/api/v1/auth/me"))
            .bearer_auth(&access_token)
            .send()
            .await?
            .json()
            .await?;
        let user_id = me["id"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .context("no user id")?;
        let mut replica = Replica::new(ActorId::random());
        let state = DeviceState {
            server: server.clone(),
            device: device.clone(),
            user_id,
            access_token,
            refresh_token: pair["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            replica: String::new(),
        };
        state.save(&cli.state, &mut replica)?;
        println!(
            "logged in as {username} on {device}; state in {}",
            cli.state.display()
        );
        return Ok(());
    }
    let (mut state, mut replica) = DeviceState::load(&cli.state)?;
    match cli.command {
        Command::Login { .. } => {}
        Command::Sync => sync(&http, &mut state, &mut replica).await?,
        Command::Status => {
            println!("pending: {:?}", replica.pending());
            println!("documents: {}", replica.len());
            println!("cursor: {}", replica.cursor().unwrap_or("(never synced)"));
        }
        Command::Accounts => list(&replica, RecordKind::Account),
        Command::Visits => list(&replica, RecordKind::Visit),
        Command::Show { id } => {
            let doc = replica.doc(id).context("no such record on this device")?;
            println!("{}", serde_json::to_string_pretty(&doc.to_json())?);
            for conflict in doc.conflicts() {
                println!(
                    "concurrent values of {}: shown {}, others {:?}",
                    conflict.field, conflict.value, conflict.others
                );
            }
        }
        Command::CreateAccount { name, segment } => {
            let account: Account = kam_sync_core::parse_record(json!({
                "name": name, "segment": segment, "owner_id": state.user_id,
            }))?;
            let id = Uuid::now_v7();
            replica.create(id, &account, &state.meta())?;
            println!("{id}");
        }
        Command::Edit { id, patch } => {
            let patch = object(serde_json::from_str(&patch).context("the patch is not JSON")?)?;
            let meta = state.meta();
            let changed = match replica.doc(id).map(|d| d.kind()) {
                Some(kind) => with_record_type!(kind, R => replica.edit::<R>(id, &patch, &meta)?),
                None => bail!("no such record on this device"),
            };
            println!(
                "{}",
                if changed {
                    "changed"
                } else {
                    "nothing to change"
                }
            );
        }
        Command::LogVisit {
            account,
            purpose,
            check_in,
        } => {
            let now = Utc::now();
            let mut fields = json!({
                "account_id": account, "owner_id": state.user_id, "planned_at": now,
                "type": "onsite", "purpose": purpose,
            });
            if let Some(position) = check_in {
                let (lat, lon) = position.split_once(',').context("--check-in is lat,lon")?;
                fields["check_in"] = json!({"at": now, "location": {"lat": lat.trim().parse::<f64>()?, "lon": lon.trim().parse::<f64>()?}});
                fields["status"] = json!("in_progress");
            }
            let visit: Visit = kam_sync_core::parse_record(fields)?;
            let id = Uuid::now_v7();
            replica.create(id, &visit, &state.meta())?;
            println!("{id}");
        }
    }
    state.save(&cli.state, &mut replica)
}
