//! Settings, in layers: built-in defaults, then an optional TOML file
//! (`kam.toml` in the working directory, or the file named by `KAM_CONFIG`),
//! then `KAM__SECTION__KEY` environment variables. A key the server does not
//! know, in the file or in a variable, is refused with where it came from:
//! a misspelt key silently ignored would leave its default in force.
//! `examples/kam.example.toml` lists every key with its default.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use utoipa::ToSchema;

/// Everything the server can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// HTTP listener.
    pub server: ServerSettings,
    /// Where records are stored.
    pub database: DatabaseSettings,
    /// Tokens and passwords.
    pub auth: AuthSettings,
    /// Field-work policies.
    pub visits: VisitSettings,
    /// The sync endpoint.
    pub sync: SyncSettings,
    /// How accounts are scored and tiered, until an admin changes it at run
    /// time (the `tiering` module applies it).
    pub tiering: TieringSettings,
    /// After-sale service policies.
    pub service: ServiceSettings,
    /// The insight sweep (the thresholds themselves are admin settings:
    /// `/admin/settings/insight`).
    pub insight: InsightSweepSettings,
    /// How far ahead the worklist looks.
    pub worklist: WorklistSettings,
    /// The web console at `/`.
    pub console: ConsoleSettings,
    /// Prometheus `/metrics` (docs/metrics.md); off unless a bind address
    /// or a token is set.
    #[serde(default)]
    pub metrics: MetricsSettings,
}

/// Where Prometheus reads `/metrics` (docs/metrics.md). With neither key
/// set, `/metrics` is not served; both may be set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// A listener of its own serving `GET /metrics` only, with no token
    /// (`127.0.0.1:9090`; port 0 picks a free one). Keep it off networks
    /// that should not read it.
    pub bind: Option<String>,
    /// A token of its own (at least 16 bytes): `GET /metrics` on the main
    /// listener answers requests carrying `Authorization: Bearer <token>`.
    pub token: Option<SecretString>,
}

/// The web console (docs/console.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    /// Mark the console's session cookie `Secure` (default true). Browsers
    /// keep a `Secure` cookie over `https://` and on `localhost`/`127.0.0.1`
    /// only: serve the console over TLS (a reverse proxy) elsewhere. Turn
    /// this off only on a trusted network for a trial.
    pub secure_cookie: bool,
    /// Serve the console's files from this folder instead of the copies
    /// built into the binary, so edits show on reload without rebuilding
    /// (development only; only the console's own file names are served).
    pub assets_dir: Option<PathBuf>,
}

/// How often the insight sweep refreshes every account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsightSweepSettings {
    /// Seconds between sweeps; one node of those sharing the database runs
    /// each. 0 turns the sweep off (writes still refresh what they touch).
    pub sweep_interval_secs: u64,
}

/// How far ahead the worklist (`GET /api/v1/worklist`) looks, and how long
/// a decision may wait before it counts as overdue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorklistSettings {
    /// Planned visits, open plan actions and planned callbacks due within
    /// this many days from now show as due (default 2; 0: only today's).
    pub due_days: u32,
    /// Open tickets whose SLA ends within this many hours show as near
    /// their SLA (default 8).
    pub near_sla_hours: u32,
    /// Active contracts ending within this many days show (default 60).
    pub contract_ending_days: u32,
    /// Days a tier proposal or a resource request may wait, from its
    /// record's last change, before it counts as overdue (default 3).
    pub decision_days: u32,
}

/// How an account's scores make its score (0-100) and its suggested tier (识别与定位).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TieringSettings {
    /// The weight of each score in the weighted average; at least one above zero.
    pub weights: TieringWeights,
    /// The lowest score of each tier above standard.
    pub thresholds: TierThresholds,
}

/// The weight of each of an account's scores; each 0 or more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TieringWeights {
    /// The customer's need for what we sell.
    pub need: f64,
    /// 购买力.
    pub purchasing_power: f64,
    /// 忠诚度.
    pub loyalty: f64,
    /// Size of the organisation.
    pub size: f64,
    /// Strategic value to us.
    pub strategic_value: f64,
}

/// Tier thresholds, each 0-100, strategic above key; below key is standard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierThresholds {
    /// A score at or above this suggests `strategic`.
    #[schema(minimum = 0, maximum = 100)]
    pub strategic: i64,
    /// A score at or above this (and below strategic) suggests `key`.
    #[schema(minimum = 0, maximum = 100)]
    pub key: i64,
}

/// After-sale service policies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    /// Hours a ticket may stay unresolved, by severity
    /// (`KAM__SERVICE__SLA_HOURS__CRITICAL` and friends).
    pub sla_hours: SlaHours,
}

/// Hours from a ticket's opening to its SLA due time, by severity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaHours {
    /// Business stopped (default 4).
    pub critical: u32,
    /// Business hurt (default 24).
    pub high: u32,
    /// An inconvenience (default 72).
    pub medium: u32,
    /// When convenient (default 168, a week).
    pub low: u32,
}

/// Sync endpoint settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSettings {
    /// Largest sync request body, in bytes (after decompression); larger ones get 413.
    pub max_body_bytes: usize,
}

/// HTTP listener settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port, `127.0.0.1:8080` by default; port 0 picks a free one.
    pub bind: String,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Largest page a list may ask for.
    pub max_page_size: u64,
    /// The most memory loaded hot documents may hold, in MiB (weighed by what
    /// they really cost; see `cache`).
    pub doc_cache_mib: u64,
    /// Seconds a client has to send a request's head (request line and
    /// headers) once it starts one; then 408.
    pub head_timeout_secs: u64,
    /// Seconds a client has to send a request's whole body once its head
    /// has arrived; then 408 `body_timeout` and the connection is closed.
    pub body_timeout_secs: u64,
    /// Seconds an idle keep-alive connection stays open.
    pub keep_alive_secs: u64,
    /// Seconds the server waits for a client to close a connection it shut.
    pub disconnect_timeout_secs: u64,
}

/// Database settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path?mode=rwc` or `postgres://...`; defaults to `./kam-data/kam.db`.
    pub url: Option<SecretString>,
    /// Connections in the pool.
    pub max_connections: u32,
}

/// Token lifetimes and the signing key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// HMAC key for access tokens. When unset, a random key is made once and
    /// kept in the database, so every server sharing it agrees.
    pub jwt_secret: Option<SecretString>,
    /// Access token lifetime, seconds.
    pub access_ttl_secs: i64,
    /// Refresh token lifetime, days.
    pub refresh_ttl_days: i64,
}

/// Field-work policies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitSettings {
    /// A check-in further than this from the account's location is flagged.
    pub check_in_max_distance_m: f64,
}

impl Settings {
    /// Reads defaults, the optional file and the process's environment.
    pub fn load() -> Result<Self, SettingsError> {
        let file = std::env::var_os(CONFIG_FILE_VAR)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
        Self::load_from(&file, std::env::vars_os())
    }

    /// Reads defaults, `file` if it exists, then the `KAM__SECTION__KEY`
    /// variables among `variables`. The file is checked on the defaults and
    /// each variable on both, so an unknown key or a bad value is reported
    /// with the file or the variable it came from.
    pub fn load_from(
        file: &Path,
        variables: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<Self, SettingsError> {
        let with_file = Self::builder()
            .map_err(SettingsError::Defaults)?
            .add_source(config::File::from(file).required(false));
        with_file
            .clone()
            .build()
            .and_then(config::Config::try_deserialize::<Self>)
            .map_err(|cause| SettingsError::File {
                file: file.to_owned(),
                cause,
            })?;
        let settings_variables = settings_variables(variables)?;
        for (name, value) in &settings_variables {
            let one = HashMap::from([(name.clone(), value.clone())]);
            with_file
                .clone()
                .add_source(environment().source(Some(one)))
                .build()
                .and_then(config::Config::try_deserialize::<Self>)
                .map_err(|cause| SettingsError::Variable {
                    name: name.clone(),
                    cause,
                })?;
        }
        with_file
            .add_source(environment().source(Some(settings_variables.into_iter().collect())))
            .build()
            .and_then(config::Config::try_deserialize)
            .map_err(SettingsError::Combined)
    }

    /// The defaults alone, for tests and tools that set what they need.
    pub fn defaults() -> Result<Self, config::ConfigError> {
        Self::builder()?.build()?.try_deserialize()
    }

    fn builder() -> Result<config::ConfigBuilder<config::builder::DefaultState>, config::ConfigError>
    {
        config::Config::builder()
            .set_default("server.bind", "127.0.0.1:8080")?
            .set_default("server.max_body_bytes", 2 * 1024 * 1024)?
            .set_default("server.max_page_size", 500)?
            .set_default("database.max_connections", 8)?
            .set_default("server.doc_cache_mib", 256)?
            .set_default("server.head_timeout_secs", 5)?
            .set_default("server.body_timeout_secs", 60)?
            .set_default("server.keep_alive_secs", 5)?
            .set_default("server.disconnect_timeout_secs", 1)?
            .set_default("auth.access_ttl_secs", 15 * 60)?
            .set_default("auth.refresh_ttl_days", 30)?
            .set_default("visits.check_in_max_distance_m", 500.0)?
            .set_default("insight.sweep_interval_secs", 3600)?
            .set_default("sync.max_body_bytes", 16 * 1024 * 1024)?
            .set_default("tiering.weights.need", 25.0)?
            .set_default("tiering.weights.purchasing_power", 25.0)?
            .set_default("tiering.weights.loyalty", 15.0)?
            .set_default("tiering.weights.size", 15.0)?
            .set_default("tiering.weights.strategic_value", 20.0)?
            .set_default("tiering.thresholds.strategic", 80)?
            .set_default("tiering.thresholds.key", 60)?
            .set_default("service.sla_hours.critical", 4)?
            .set_default("service.sla_hours.high", 24)?
            .set_default("service.sla_hours.medium", 72)?
            .set_default("service.sla_hours.low", 168)?
            .set_default("worklist.due_days", 2)?
            .set_default("worklist.near_sla_hours", 8)?
            .set_default("worklist.contract_ending_days", 60)?
            .set_default("worklist.decision_days", 3)?
            .set_default("console.secure_cookie", true)
    }
}

/// Why the settings cannot be read. Each message carries its cause in one
/// line (the `config` crate's error is the whole story, so it is not also
/// chained as a source, which would print it twice).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The built-in defaults do not make settings (a bug, caught by the tests).
    #[error("the built-in defaults: {0}")]
    Defaults(config::ConfigError),
    /// The file is unreadable, is not TOML, or holds an unknown key or a bad value.
    #[error("{}: {cause}", file.display())]
    File {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        cause: config::ConfigError,
    },
    /// A `KAM__` variable names an unknown key or holds a bad value.
    #[error("environment variable {name}: {cause}")]
    Variable {
        /// The variable.
        name: String,
        /// What is wrong with it.
        cause: config::ConfigError,
    },
    /// A `KAM__` variable's value is not UTF-8.
    #[error("environment variable {0}: the value is not UTF-8")]
    NotUtf8(String),
    /// Every layer is fine alone, together they are not.
    #[error("the configuration file and the KAM__ variables together: {0}")]
    Combined(config::ConfigError),
}

/// The variable naming the configuration file.
pub const CONFIG_FILE_VAR: &str = "KAM_CONFIG";

/// The configuration file read when `KAM_CONFIG` is unset, in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "kam.toml";

/// What starts the name of a variable holding a setting (`KAM__SERVER__BIND`);
/// matched regardless of case, as the `config` crate does.
const SETTINGS_VARIABLE_PREFIX: &str = "kam__";

/// The variables among `variables` that hold settings.
fn settings_variables(
    variables: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Vec<(String, String)>, SettingsError> {
    let mut found = Vec::new();
    for (name, value) in variables {
        let Ok(name) = name.into_string() else {
            continue;
        };
        if !name
            .to_ascii_lowercase()
            .starts_with(SETTINGS_VARIABLE_PREFIX)
        {
            continue;
        }
        match value.into_string() {
            Ok(value) => found.push((name, value)),
            Err(_) => return Err(SettingsError::NotUtf8(name)),
        }
    }
    Ok(found)
}

/// The `KAM__SECTION__KEY` environment variables.
fn environment() -> config::Environment {
    config::Environment::with_prefix("KAM")
        .prefix_separator("__")
        .separator("__")
}

/// The default SQLite location, relative to the working directory.
pub const DEFAULT_SQLITE_PATH: &str = "kam-data/kam.db";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bind_loopback_8080_and_issue_15_minute_tokens() {
        let settings = Settings::defaults().unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(settings.server.bind, "127.0.0.1:8080");
        assert_eq!(settings.auth.access_ttl_secs, 900);
        assert!(settings.database.url.is_none());
    }

    #[test]
    fn default_tiering_suggests_strategic_from_80_and_key_from_60() {
        let settings = Settings::defaults().unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(settings.tiering.thresholds.strategic, 80);
        assert_eq!(settings.tiering.thresholds.key, 60);
        assert!(crate::tiering::violations(&settings.tiering).is_empty());
    }

    /// `text` as a file in a fresh directory.
    fn file_with(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap_or_else(|err| panic!("{err}"));
        let path = dir.path().join("kam.toml");
        std::fs::write(&path, text).unwrap_or_else(|err| panic!("{err}"));
        (dir, path)
    }

    fn variables(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(name, value)| (OsString::from(name), OsString::from(value)))
            .collect()
    }

    #[test]
    fn the_example_file_loads_and_sets_every_key_to_its_default() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/kam.example.toml");
        assert!(example.is_file(), "{} is missing", example.display());
        let loaded = Settings::load_from(&example, []).unwrap_or_else(|err| panic!("{err}"));
        let defaults = Settings::defaults().unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(format!("{loaded:?}"), format!("{defaults:?}"));
        let keys = |source: &dyn config::Source| {
            let mut keys = Vec::new();
            let mut pending: Vec<(String, config::Value)> = source
                .collect()
                .unwrap_or_else(|err| panic!("{err}"))
                .into_iter()
                .collect();
            while let Some((key, value)) = pending.pop() {
                match value.into_table() {
                    Ok(table) => pending.extend(
                        table
                            .into_iter()
                            .map(|(inner, value)| (format!("{key}.{inner}"), value)),
                    ),
                    Err(_) => keys.push(key),
                }
            }
            keys.sort();
            keys
        };
        let built = Settings::builder()
            .and_then(|builder| builder.build())
            .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(
            keys(&config::File::from(example.as_path())),
            keys(&built),
            "the example names exactly the keys that have defaults"
        );
    }

    #[test]
    fn a_misspelt_key_in_the_file_is_refused_naming_the_file_and_the_key() {
        let (_dir, path) = file_with("[server]\nbnid = \"0.0.0.0:9000\"\n");
        let refused = Settings::load_from(&path, [])
            .err()
            .map(|err| err.to_string());
        let message = refused.unwrap_or_else(|| panic!("the misspelt key was taken"));
        assert!(
            message.starts_with(&path.display().to_string()),
            "{message}"
        );
        assert!(message.contains("unknown field `bnid`"), "{message}");
        assert!(message.contains("`server`"), "{message}");
    }

    #[test]
    fn an_unknown_section_in_the_file_is_refused() {
        let (_dir, path) = file_with("[sever]\nbind = \"0.0.0.0:9000\"\n");
        let refused = Settings::load_from(&path, [])
            .err()
            .map(|err| err.to_string());
        assert!(
            refused
                .as_deref()
                .is_some_and(|message| message.contains("unknown field `sever`")),
            "{refused:?}"
        );
    }

    #[test]
    fn a_misspelt_settings_variable_is_refused_naming_the_variable() {
        let (_dir, path) = file_with("");
        let refused = Settings::load_from(
            &path,
            variables(&[
                ("KAM__SERVER__BIND", "0.0.0.0:9000"),
                ("KAM__SERVER__BIDN", "0.0.0.0:9000"),
            ]),
        )
        .err()
        .map(|err| err.to_string());
        let message = refused.unwrap_or_else(|| panic!("the misspelt variable was taken"));
        assert!(
            message.starts_with("environment variable KAM__SERVER__BIDN: "),
            "{message}"
        );
        assert!(message.contains("unknown field `bidn`"), "{message}");
    }

    #[test]
    fn variables_that_are_not_settings_are_left_to_whoever_reads_them() {
        let (_dir, path) = file_with("[server]\nbind = \"127.0.0.1:9000\"\n");
        let settings = Settings::load_from(
            &path,
            variables(&[
                ("KAM_ADMIN_PASSWORD", "x"),
                ("KAM_LOG_FORMAT", "json"),
                ("KAM_CONFIG", "elsewhere.toml"),
                ("KAM__AUTH__ACCESS_TTL_SECS", "60"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(settings.server.bind, "127.0.0.1:9000");
        assert_eq!(settings.auth.access_ttl_secs, 60);
    }

    #[test]
    fn a_bad_value_in_a_variable_names_the_variable() {
        let (_dir, path) = file_with("");
        let refused =
            Settings::load_from(&path, variables(&[("KAM__SERVER__MAX_PAGE_SIZE", "many")]))
                .err()
                .map(|err| err.to_string());
        assert!(
            refused
                .as_deref()
                .is_some_and(|message| message
                    .starts_with("environment variable KAM__SERVER__MAX_PAGE_SIZE: ")),
            "{refused:?}"
        );
    }

    #[test]
    fn sla_hours_default_by_severity_and_an_environment_variable_overrides_one() {
        let defaults = Settings::defaults().unwrap_or_else(|err| panic!("{err}"));
        let hours = &defaults.service.sla_hours;
        assert_eq!(
            (hours.critical, hours.high, hours.medium, hours.low),
            (4, 24, 72, 168)
        );
        let variables = [(
            "KAM__SERVICE__SLA_HOURS__CRITICAL".to_owned(),
            "2".to_owned(),
        )];
        let settings: Settings = Settings::builder()
            .and_then(|builder| {
                builder
                    .add_source(environment().source(Some(variables.into_iter().collect())))
                    .build()
            })
            .and_then(config::Config::try_deserialize)
            .unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(settings.service.sla_hours.critical, 2);
        assert_eq!(settings.service.sla_hours.high, 24);
    }
}
