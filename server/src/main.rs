//! The `kam-server` command: run the server, seed a demo org, print the
//! OpenAPI document, import and export records as CSV, check a running
//! server's readiness and administer users.
//!
//! It exits with 0 when it did what was asked, 1 when it could not (the
//! reason on standard error), and [`ROWS_REJECTED`] when an import ran but
//! skipped rows.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kam_server::config::Settings;
use kam_server::csv_io::{self, CsvKindName, ImportReport};
use kam_server::operator::{self, NewUserByName};
use kam_server::startup::{self, Application};
use kam_server::state::AppState;
use kam_server::{bootstrap, db::Db, demo, telemetry};
use std::process::ExitCode;

/// mimalloc gives memory back: with the system allocator every password hash
/// (19 MiB, on a blocking thread) stayed resident, about 38 MiB per login
/// storm participant (measured with kam-bench; see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What `--help` says about configuration, after the commands.
const CONFIGURATION_HELP: &str = "\
Configuration, each layer over the one before:
  built-in defaults
  kam.toml in the working directory, or the file named by KAM_CONFIG
    (every key with its default: examples/kam.example.toml)
  KAM__SECTION__KEY environment variables, e.g. KAM__SERVER__BIND=0.0.0.0:8080,
    KAM__DATABASE__URL=postgres://..., KAM__AUTH__JWT_SECRET=...
A key the server does not know, in the file or a KAM__ variable, is refused.

Other environment variables:
  KAM_CONFIG          the configuration file (default: kam.toml)
  KAM_ADMIN_PASSWORD  the password of the `admin` user made on the first start
                      (default: one is generated and printed once)
  KAM_USER_PASSWORD   the password for `user create` and `user reset-password`
                      (default: read from standard input)
  KAM_LOG             the log filter (default: info,sqlx=warn,automerge::automerge=off)
  KAM_LOG_FORMAT      `json` for JSON logs (default: text)";

/// The exit code of an import that ran but skipped rows (or, in a dry run,
/// would skip them): a script sees that the file did not go in whole.
const ROWS_REJECTED: u8 = 2;

#[derive(Parser)]
#[command(
    name = "kam-server",
    version,
    about = "KAM Sync: offline-first key-account management server",
    after_help = CONFIGURATION_HELP
)]
struct Cli {
    /// Seed a demo org (if the database has none) before serving.
    #[arg(long)]
    demo: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve {
        /// Seed a demo org (if the database has none) before serving.
        #[arg(long)]
        demo: bool,
    },
    /// Seed a demo org and exit.
    Demo,
    /// Print the OpenAPI document as JSON.
    Openapi,
    /// Fold old change-log entries into document snapshots and delete them.
    Compact {
        /// How many of the newest log positions to keep for incremental pulls.
        #[arg(long, default_value_t = 100_000)]
        keep: i64,
    },
    /// Import records from a CSV file (UTF-8; the header row names the
    /// columns), with the rules of the REST API for the user named by `--as`.
    Import {
        /// What the file holds.
        kind: CsvKindName,
        /// The CSV file.
        file: std::path::PathBuf,
        /// The username to import as: the records are theirs, within their scope.
        #[arg(long = "as", value_name = "USERNAME")]
        as_user: String,
        /// Check every row and report, but write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also write the rejected rows to this CSV file.
        #[arg(long, value_name = "FILE")]
        rejects: Option<std::path::PathBuf>,
    },
    /// Ask a running server whether it is ready (`GET /readyz`): exit 0
    /// when it is, 1 when it is not or does not answer.
    Health {
        /// The server's address, as `http://127.0.0.1:8080` (default: the
        /// configured bind address; a wildcard one is asked on loopback).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Administer users without the REST API (for instance when the admin
    /// password is lost), with the admin API's rules. Passwords come from
    /// KAM_USER_PASSWORD, else from the first line of standard input.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Export records as CSV: those the user named by `--as` may see, or all.
    Export {
        /// What to export.
        kind: CsvKindName,
        /// The username whose scope to export.
        #[arg(long = "as", value_name = "USERNAME")]
        as_user: Option<String>,
        /// Write here instead of to standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user.
    Create {
        /// Login name: 3 to 64 of `a-z 0-9 . _ -`.
        #[arg(long)]
        username: String,
        /// Name shown to people.
        #[arg(long)]
        name: String,
        /// admin, director, manager, rep or service.
        #[arg(long, value_parser = operator::parse_role)]
        role: kam_server::auth::Role,
        /// Own team, by id or by name (required for reps).
        #[arg(long, value_name = "TEAM")]
        team: Option<String>,
        /// Branch, by id or by name (directors and service staff; none means
        /// the whole org).
        #[arg(long, value_name = "BRANCH")]
        branch: Option<String>,
    },
    /// Set a user's password; their sessions end on every device.
    ResetPassword {
        /// The user's login name.
        #[arg(long)]
        username: String,
    },
    /// Deactivate a user: they cannot log in, and their sessions end on
    /// every device. The last active admin cannot be deactivated.
    Deactivate {
        /// The user's login name.
        #[arg(long)]
        username: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let (serve, seed_demo) = match cli.command {
        Some(Command::Openapi) => {
            println!(
                "{}",
                kam_server::startup::openapi_document().to_pretty_json()?
            );
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Demo) => (false, true),
        Some(Command::Compact { keep }) => {
            telemetry::init();
            let settings = Settings::load()?;
            let db = Db::connect(&settings.database).await?;
            let done =
                kam_server::store::log::compact(&db, &kam_server::cache::DocCache::new(0), keep)
                    .await?;
            println!(
                "horizon {}: {} snapshots rewritten, {} log entries removed",
                done.horizon, done.snapshots, done.deleted
            );
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Import {
            kind,
            file,
            as_user,
            dry_run,
            rejects,
        }) => {
            telemetry::init();
            let bytes = std::fs::read(&file)
                .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", file.display()))?;
            let state = command_state().await?;
            let bar = ProgressBar::new(0);
            bar.set_style(ProgressStyle::with_template(
                "{bar:40} {pos}/{len} rows, {per_sec}, {eta} left",
            )?);
            let report =
                csv_io::import_as(&state, &as_user, kind, &bytes, dry_run, &|done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await;
            bar.finish_and_clear();
            let report = report?;
            print_report(&report);
            if let Some(path) = rejects {
                std::fs::write(&path, report.rejects_csv()?)
                    .map_err(|err| anyhow::anyhow!("cannot write {}: {err}", path.display()))?;
            }
            return Ok(if report.rejected_rows == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(ROWS_REJECTED)
            });
        }
        Some(Command::Health { url }) => {
            let url = match url {
                Some(base) => operator::readiness_url_under(&base),
                None => operator::readiness_url(&Settings::load()?.server.bind)?,
            };
            operator::check_ready(&url).await?;
            println!("ready: {url}");
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::User { command }) => {
            telemetry::init();
            run_user_command(command).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Export {
            kind,
            as_user,
            output,
        }) => {
            // No log subscriber: the logs go to standard output, where the CSV may go.
            let state = command_state().await?;
            let written = match output {
                Some(path) => {
                    let file = std::fs::File::create(&path).map_err(|err| {
                        anyhow::anyhow!("cannot create {}: {err}", path.display())
                    })?;
                    csv_io::export_as(
                        &state,
                        as_user.as_deref(),
                        kind,
                        std::io::BufWriter::new(file),
                    )
                    .await?
                }
                None => {
                    csv_io::export_as(&state, as_user.as_deref(), kind, std::io::stdout().lock())
                        .await?
                }
            };
            eprintln!("exported {written} {}", kind.plural());
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Serve { demo }) => (true, demo || cli.demo),
        None => (true, cli.demo),
    };
    telemetry::init();
    let settings = Settings::load()?;
    let db = Db::connect(&settings.database).await?;
    if let Some(password) = bootstrap::ensure_admin(&db).await? {
        println!("Created user `admin` with the one-time password: {password}");
        println!("(set KAM_ADMIN_PASSWORD before the first start to choose it)");
    }
    let state = startup::prepare(settings.clone(), db.clone()).await?;
    if seed_demo {
        match demo::seed(&state).await? {
            Some(logins) => {
                println!(
                    "Seeded the demo org. Logins (password `{}` for all):",
                    demo::DEMO_PASSWORD
                );
                for (username, role) in logins {
                    println!("  {username:<12} {role}");
                }
            }
            None => println!(
                "The demo org is already there (password `{}`).",
                demo::DEMO_PASSWORD
            ),
        }
    }
    if !serve {
        return Ok(ExitCode::SUCCESS);
    }
    let app = Application::build_with_db(settings, db).await?;
    println!("KAM Sync listening on http://127.0.0.1:{}", app.port());
    println!("  Console:   http://127.0.0.1:{}/", app.port());
    println!("  API docs:  http://127.0.0.1:{}/docs/", app.port());
    println!(
        "  OpenAPI:   http://127.0.0.1:{}/api/v1/openapi.json",
        app.port()
    );
    if let Some(port) = app.metrics_port() {
        println!("  Metrics:   http://127.0.0.1:{port}/metrics");
    } else if app.state().settings.metrics.token.is_some() {
        println!(
            "  Metrics:   http://127.0.0.1:{}/metrics (with the metrics token)",
            app.port()
        );
    }
    app.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a `kam-server user` command and says what it did.
async fn run_user_command(command: UserCommand) -> anyhow::Result<()> {
    let password = || {
        operator::new_password(
            std::env::var(operator::PASSWORD_VAR).ok(),
            &mut std::io::stdin().lock(),
        )
    };
    match command {
        UserCommand::Create {
            username,
            name,
            role,
            team,
            branch,
        } => {
            let password = password()?;
            let state = command_state().await?;
            let new = NewUserByName {
                username,
                display_name: name,
                role,
                team,
                branch,
            };
            let user = operator::create_user(&state, new, password).await?;
            println!(
                "created user `{}` ({}, id {})",
                user.username,
                user.role.as_str(),
                user.id
            );
        }
        UserCommand::ResetPassword { username } => {
            let password = password()?;
            let state = command_state().await?;
            operator::reset_password(&state, &username, password).await?;
            println!("set the password of `{username}`; their sessions have ended");
        }
        UserCommand::Deactivate { username } => {
            let state = command_state().await?;
            operator::deactivate(&state, &username).await?;
            println!("deactivated `{username}`; their sessions have ended");
        }
    }
    Ok(())
}

/// The state the import, export and user commands work on: the configured
/// database, migrated, without a listening server.
async fn command_state() -> anyhow::Result<AppState> {
    let settings = Settings::load()?;
    let db = Db::connect(&settings.database).await?;
    startup::prepare(settings, db).await
}

/// Prints what an import did, and each rejected row, for a person.
fn print_report(report: &ImportReport) {
    let verb = if report.dry_run { "would be " } else { "" };
    println!(
        "{} {verb}created, {} {verb}updated, {} unchanged, {} rejected{}",
        report.imported,
        report.updated,
        report.unchanged,
        report.rejected_rows,
        if report.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
    for rejection in &report.rejected {
        println!(
            "  line {}{}: {} ({})",
            rejection.line,
            rejection
                .column
                .as_deref()
                .map(|column| format!(", column {column}"))
                .unwrap_or_default(),
            rejection.message,
            rejection.code
        );
    }
}
