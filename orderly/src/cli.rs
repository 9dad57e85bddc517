//! The command line: `serve`, `token`, `webhook`, `table` and `routes`.

use crate::{client, logging, secrets, server, settings, stores};
use clap::{Parser, Subcommand, ValueEnum};
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
        /// How long the token is valid.
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
    Store(#[from] stores::StoreSetupError),
    #[error(transparent)]
    Client(#[from] client::ClientError),
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Serve {
            addr,
            data_dir,
            store,
            log_format,
        } => {
            logging::init(log_format);
            let settings = settings::ServeSettings::from_environment(&data_dir)?;
            let store = match store {
                StoreKind::Embedded => stores::embedded(&data_dir)?,
                StoreKind::Dynamodb => stores::dynamodb().await?,
            };
            server::serve(addr, store, settings).await?;
        }
        Command::Table {
            action: TableAction::Create,
        } => {
            let table = stores::create_table().await?;
            println!("created table {table}");
        }
        Command::Token {
            sub,
            admin,
            email,
            ttl_seconds,
            data_dir,
        } => {
            let key = settings::jwt_key_for_tools(&data_dir)?;
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
