//! The command line: `serve`, `jobs`, `token`, `webhook`, `table` and `routes`.

use crate::{client, jobs, logging, metrics, secrets, server, settings, stores};
use clap::{Parser, Subcommand, ValueEnum};
use orderly_core::domain::Timestamp;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "orderly",
    version,
    about = "Orderly: an order backend that never oversells, run locally"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on: HOST:PORT, or :PORT for 127.0.0.1 (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:3000", value_parser = parse_addr)]
        addr: SocketAddr,
        /// Where the database and generated secrets live.
        #[arg(long, env = DATA_DIR_VARIABLE, default_value = secrets::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Which store holds the data.
        #[arg(long, value_enum, default_value_t = StoreKind::Embedded)]
        store: StoreKind,
        /// One JSON object per line (for machines), or readable lines (for people).
        #[arg(long, value_enum, default_value_t = logging::LogFormat::Json)]
        log_format: logging::LogFormat,
        /// Serve Prometheus metrics at http://HOST:PORT/metrics, on a listener of their own (off
        /// by default): HOST:PORT, or :PORT for 127.0.0.1 (port 0 picks a free one).
        #[arg(long, value_parser = parse_addr)]
        metrics_addr: Option<SocketAddr>,
    },
    /// Run one of the asynchronous jobs once, by hand, or list them.
    Jobs {
        #[command(subcommand)]
        job: JobCommand,
        /// Where the database and generated secrets live.
        #[arg(long, global = true, env = DATA_DIR_VARIABLE, default_value = secrets::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Which store holds the data.
        #[arg(long, global = true, value_enum, default_value_t = StoreKind::Embedded)]
        store: StoreKind,
    },
    /// Print a dev token the local server accepts.
    Token {
        /// The user id (`sub` claim).
        #[arg(long)]
        sub: String,
        /// Put the user in the `admin` group.
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        email: Option<String>,
        /// How long the token is valid, at most the longest lifetime the server accepts
        /// (ORDERLY_JWT_MAX_LIFETIME_SECONDS, a day by default).
        #[arg(long, default_value_t = 3600)]
        ttl_seconds: i64,
        /// Where the server keeps its secrets (the one `orderly serve` uses).
        #[arg(long, env = DATA_DIR_VARIABLE, default_value = secrets::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Manage the DynamoDB table (TABLE_NAME, endpoint and credentials from the AWS environment).
    Table {
        #[command(subcommand)]
        action: TableAction,
    },
    /// Send a correctly signed payment webhook for an order to a running server.
    Webhook {
        #[arg(value_enum)]
        outcome: WebhookOutcome,
        order_id: String,
        /// The running server: HOST:PORT, or :PORT for 127.0.0.1.
        #[arg(long, default_value = "127.0.0.1:3000", value_parser = parse_addr)]
        addr: SocketAddr,
        /// Where the server keeps its secrets (the one `orderly serve` uses).
        #[arg(long, env = DATA_DIR_VARIABLE, default_value = secrets::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// The payment event id; a fresh one by default. Reuse one to see deduplication.
        #[arg(long)]
        event_id: Option<String>,
    },
    /// List the API's routes: method, path, who may call it, and the Lambda function serving it.
    Routes {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Names the data dir for every command, so the tools find the server's secrets from any folder.
const DATA_DIR_VARIABLE: &str = "ORDERLY_DATA_DIR";

/// `HOST:PORT`, or `:PORT` for 127.0.0.1.
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let full = match text.strip_prefix(':') {
        Some(port) => format!("127.0.0.1:{port}"),
        None => text.to_string(),
    };
    full.parse()
        .map_err(|_| format!("{text:?} is not HOST:PORT (e.g. 127.0.0.1:3000) or :PORT"))
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StoreKind {
    /// One SQLite file in the data dir.
    Embedded,
    /// The DynamoDB table named by TABLE_NAME (endpoint and credentials from the AWS environment).
    Dynamodb,
}

#[derive(Subcommand)]
enum TableAction {
    /// Create the table with its keys, indexes, stream and TTL.
    Create,
    /// Bring a table made by an earlier version to the current design: move the catalog to its
    /// keys-only index, once the deployment has added it. Safe to run again.
    Migrate,
}

#[derive(Subcommand)]
enum JobCommand {
    /// List the jobs: the Lambda function of each and what triggers it when deployed.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Relay the outbox's unpublished events to the notification job.
    Relay,
    /// Expire the unpaid orders past their deadline and return their stock.
    Expire {
        /// The sweep's time (RFC 3339), as a schedule would give it; now by default.
        #[arg(long, value_parser = parse_instant)]
        at: Option<Timestamp>,
    },
    /// Compute the previous UTC day's report, as the 00:05 UTC schedule does.
    Report {
        /// The schedule's time (RFC 3339): the day before it is reported; now by default.
        #[arg(long, value_parser = parse_instant)]
        at: Option<Timestamp>,
    },
}

fn parse_instant(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text).map_err(|e| format!("{text:?} {e}, e.g. 2026-11-28T00:05:00Z"))
}

#[derive(Clone, Copy, ValueEnum)]
pub enum WebhookOutcome {
    /// `payment.succeeded` for the order's total.
    Pay,
    /// `payment.failed` for the order's total.
    Fail,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    #[error(transparent)]
    Server(#[from] server::ServerError),
    #[error(transparent)]
    Metrics(#[from] metrics::MetricsError),
    #[error(transparent)]
    Store(#[from] stores::StoreSetupError),
    #[error(transparent)]
    Client(#[from] client::ClientError),
    #[error("the job failed: {0}")]
    Job(#[from] orderly_core::Error),
    #[error("the job did not finish: {0}")]
    Incomplete(String),
    #[error("{0}")]
    Traces(String),
    #[error(
        "--ttl-seconds {ttl_seconds}: must be from 1 to {longest}, the longest token lifetime the server accepts \
         (ORDERLY_JWT_MAX_LIFETIME_SECONDS)"
    )]
    TokenLifetime { ttl_seconds: i64, longest: i64 },
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve {
            addr,
            data_dir,
            store,
            log_format,
            metrics_addr,
        } => {
            // First of all, so that a stop asked for during start-up ends it cleanly.
            let shutdown = server::Shutdown::listen();
            let traces = logging::init(log_format).map_err(CliError::Traces)?;
            let (settings, store) = check_settings(&data_dir, store)?;
            // Installed before the API listens, so that every request is counted; stops with it.
            let _metrics = match metrics_addr {
                Some(addr) => Some(metrics::serve(addr).await?),
                None => None,
            };
            // Opening a store may wait on DynamoDB for seconds.
            let local = tokio::select! {
                opened = open_store(store, &data_dir) => opened?,
                () = shutdown.requested() => {
                    tracing::info!("stopped during start-up");
                    return Ok(());
                }
            };
            server::serve(addr, local, settings, shutdown).await?;
            if let Some(traces) = traces {
                traces.shutdown();
            }
        }
        Command::Jobs {
            job: JobCommand::List { json },
            ..
        } => print_jobs(json),
        Command::Jobs { job, data_dir, store } => {
            logging::init_for_command();
            let (settings, store) = check_settings(&data_dir, store)?;
            let local = open_store(store, &data_dir).await?;
            let app = server::local_app(local.store, settings);
            run_job_once(&app, local.outbox, job).await?;
        }
        Command::Table {
            action: TableAction::Create,
        } => {
            let table = stores::create_table().await?;
            println!("created table {table}");
        }
        Command::Table {
            action: TableAction::Migrate,
        } => {
            let (table, migrated) = stores::migrate_table().await?;
            println!(
                "migrated table {table}: {} products moved to GSI3",
                migrated.products_moved
            );
        }
        Command::Token {
            sub,
            admin,
            email,
            ttl_seconds,
            data_dir,
        } => {
            let key = settings::jwt_key_for_tools(&data_dir)?;
            let longest = key.rules().max_lifetime_seconds;
            if !(1..=longest).contains(&ttl_seconds) {
                return Err(CliError::TokenLifetime { ttl_seconds, longest });
            }
            println!(
                "{}",
                client::mint_token(&key, &sub, admin, email.as_deref(), ttl_seconds)
            );
        }
        Command::Webhook {
            outcome,
            order_id,
            addr,
            data_dir,
            event_id,
        } => {
            let (jwt, webhook) = (
                settings::jwt_key_for_tools(&data_dir)?,
                settings::webhook_secret_for_tools(&data_dir)?,
            );
            let succeeded = matches!(outcome, WebhookOutcome::Pay);
            let answer = client::send_webhook(addr, &jwt, &webhook, &order_id, succeeded, event_id).await?;
            println!("{answer}");
        }
        Command::Routes { json } => print_routes(json),
    }
    Ok(())
}

/// A store to open, its own settings already checked.
enum StoreToOpen {
    Embedded,
    Dynamodb {
        table: String,
        order_shards: stores::OrderShards,
        timeouts: stores::SdkTimeouts,
    },
}

/// Checks every setting the server or a job reads, the store's included, and only then writes
/// the secrets a first run generates: a mistake is reported with the data dir left untouched.
fn check_settings(
    data_dir: &std::path::Path,
    kind: StoreKind,
) -> Result<(settings::ServeSettings, StoreToOpen), CliError> {
    let checked = settings::ServeSettings::check(data_dir)?;
    let store = match kind {
        StoreKind::Embedded => StoreToOpen::Embedded,
        StoreKind::Dynamodb => StoreToOpen::Dynamodb {
            table: stores::table_name()?,
            order_shards: stores::order_shards()?,
            timeouts: stores::sdk_timeouts()?,
        },
    };
    Ok((checked.write_new_secrets()?, store))
}

async fn open_store(store: StoreToOpen, data_dir: &std::path::Path) -> Result<stores::LocalStore, CliError> {
    Ok(match store {
        StoreToOpen::Embedded => stores::embedded(data_dir)?,
        StoreToOpen::Dynamodb {
            table,
            order_shards,
            timeouts,
        } => stores::dynamodb(table, order_shards, timeouts).await?,
    })
}

/// `orderly jobs <job>`: one run, with what it did printed as JSON.
async fn run_job_once(
    app: &orderly_core::App,
    outbox: std::sync::Arc<dyn orderly_core::ports::OutboxStore>,
    job: JobCommand,
) -> Result<(), CliError> {
    use orderly_core::services::{expiry, relay, reports};
    // What the job could not do: printed with the rest, then the command fails.
    let mut incomplete = None;
    let answer = match job {
        JobCommand::List { json } => {
            print_jobs(json);
            return Ok(());
        }
        JobCommand::Relay => {
            let publisher = jobs::NotifyInProcess::new(std::sync::Arc::new(app.clone()));
            let run = relay::relay_outbox(app, outbox.as_ref(), &publisher).await?;
            if !run.failed.is_empty() {
                incomplete = Some(format!("{} event(s) were not relayed", run.failed.len()));
            }
            let failed: Vec<_> = run
                .failed
                .iter()
                .map(|f| serde_json::json!({"event_id": f.event_id, "reason": f.reason}))
                .collect();
            serde_json::json!({"published": run.published, "failed": failed})
        }
        JobCommand::Expire { at } => {
            let at = at.unwrap_or_else(|| app.now());
            let sweep = expiry::expire_overdue_orders(app, at).await?;
            if let Some(reason) = &sweep.first_failure {
                incomplete = Some(format!(
                    "{} overdue order(s) were not expired, the first: {reason}",
                    sweep.failed
                ));
            }
            serde_json::json!({
                "scheduled_at": at,
                "expired": sweep.expired,
                "closed_by_others": sweep.closed_by_others,
                "failed": sweep.failed,
            })
        }
        JobCommand::Report { at } => {
            let report = reports::report_previous_day(app, at.unwrap_or_else(|| app.now())).await?;
            serde_json::to_value(&report).unwrap_or_default()
        }
    };
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), format!("{answer}\n").as_bytes());
    match incomplete {
        Some(what) => Err(CliError::Incomplete(what)),
        None => Ok(()),
    }
}

/// The jobs, in the order an event travels.
fn print_jobs(json: bool) {
    use orderly_core::jobs::{Trigger, JOBS};
    use std::fmt::Write as _;
    let mut out = String::new();
    for job in JOBS {
        let (trigger, schedule) = match job.trigger {
            Trigger::TableStream => ("table-stream", None),
            Trigger::Queue => ("queue", None),
            Trigger::Schedule(expression) => ("schedule", Some(expression)),
        };
        let _ = if json {
            let row = serde_json::json!({
                "function": job.function, "trigger": trigger, "schedule": schedule, "summary": job.summary,
            });
            writeln!(out, "{row}")
        } else {
            writeln!(
                out,
                "{:<20} {:<30} {}",
                job.function,
                schedule.unwrap_or(trigger),
                job.summary
            )
        };
    }
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes());
}

/// The route table, written in one go: a closed pipe (`orderly routes | head`) is not an error.
fn print_routes(json: bool) {
    use orderly_core::api::{routes::UNROUTED_FUNCTION, Access, ROUTES};
    use std::fmt::Write as _;
    let mut out = String::new();
    for route in ROUTES {
        let access = match route.access {
            Access::Public => "public",
            Access::User => "user",
            Access::Admin => "admin",
        };
        let method = route.method.as_str();
        let _ = if json {
            let row = serde_json::json!({
                "function": route.function,
                "method": method,
                "path": route.path,
                "path_parameter": route.path_parameter,
                "access": access,
            });
            writeln!(out, "{row}")
        } else {
            writeln!(out, "{method:<6} {:<26} {access:<7} {}", route.path, route.function)
        };
    }
    let _ = if json {
        let row = serde_json::json!({
            "function": UNROUTED_FUNCTION, "method": null, "path": null, "path_parameter": null, "access": "public",
        });
        writeln!(out, "{row}")
    } else {
        writeln!(
            out,
            "{:<6} {:<26} {:<7} {UNROUTED_FUNCTION}",
            "*", "(any other)", "public"
        )
    };
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes());
}
