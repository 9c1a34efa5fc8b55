//! The `kam-server` command: run the server, seed a demo org, print the
//! OpenAPI document.

use clap::{Parser, Subcommand};
use kam_server::config::Settings;
use kam_server::startup::{AppState, Application};
use kam_server::{bootstrap, db::Db, demo, telemetry};

/// mimalloc gives memory back: with the system allocator every password hash
/// (19 MiB, on a blocking thread) stayed resident, about 38 MiB per login
/// storm participant (measured with kam-bench; see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "kam-server",
    version,
    about = "KAM Sync: offline-first key-account management server"
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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (serve, seed_demo) = match cli.command {
        Some(Command::Openapi) => {
            println!(
                "{}",
                kam_server::startup::openapi_document().to_pretty_json()?
            );
            return Ok(());
        }
        Some(Command::Demo) => (false, true),
        Some(Command::Compact { keep }) => {
            telemetry::init();
            let settings = Settings::load()?;
            let db = Db::connect(&settings.database).await?;
            let done =
                kam_server::feed::compact(&db, &kam_server::records::cache::DocCache::new(0), keep)
                    .await?;
            println!(
                "horizon {}: {} snapshots rewritten, {} log entries removed",
                done.horizon, done.snapshots, done.deleted
            );
            return Ok(());
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
    let state = AppState::new(settings.clone(), db.clone()).await?;
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
        return Ok(());
    }
    let app = Application::build_with_db(settings, db).await?;
    println!("KAM Sync listening on http://127.0.0.1:{}", app.port());
    println!("  API docs:  http://127.0.0.1:{}/docs/", app.port());
    println!(
        "  OpenAPI:   http://127.0.0.1:{}/api/v1/openapi.json",
        app.port()
    );
    app.run_until_stopped().await?;
    Ok(())
}
