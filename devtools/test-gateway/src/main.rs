//! `test-gateway`: the test-only API Gateway (see the library) on a local address. Prints one
//! line, `listening on http://ADDRESS`, once it accepts requests, and serves until SIGTERM or
//! SIGINT.

use clap::Parser;
use orderly_test_gateway::routes::RouteTable;
use orderly_test_gateway::{token_key_from, Gateway, StartError};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// API Gateway (HTTP API, JWT authorizer) in front of `sam local start-lambda`, for tests.
/// Tokens are verified by ORDERLY_JWT_SECRET (required), ORDERLY_JWT_ISSUER, ORDERLY_JWT_AUDIENCE
/// and ORDERLY_JWT_MAX_LIFETIME_SECONDS, as the local server verifies them.
#[derive(Debug, Parser)]
#[command(name = "test-gateway")]
struct Args {
    /// The routes, as JSON: {"routes": [{"method", "path", "function", "authorizer"}, ...],
    /// "default_function": "..."}.
    #[arg(long)]
    routes: PathBuf,
    /// Where start-lambda serves the Lambda Invoke API, e.g. http://127.0.0.1:3001.
    #[arg(long)]
    lambda_endpoint: String,
    /// The address to listen on; port 0 takes a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("test-gateway: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), StartError> {
    let vars: HashMap<String, String> = std::env::vars().collect();
    let key = token_key_from(&vars)?;
    let text = std::fs::read_to_string(&args.routes).map_err(|source| StartError::RoutesFileUnreadable {
        path: args.routes.clone(),
        source,
    })?;
    let routes = RouteTable::from_json(&text).map_err(|source| StartError::Routes {
        path: args.routes.clone(),
        source,
    })?;
    let router = Gateway::new(routes, key, &args.lambda_endpoint)?.into_router();

    let listen_error = |source| StartError::Listen {
        address: args.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(listen_error)?;
    let address = listener.local_addr().map_err(listen_error)?;
    // The one line a test waits for before it sends anything.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{address}")
        .and_then(|()| stdout.flush())
        .map_err(StartError::Serve)?;
    drop(stdout);

    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_requested())
        .await
        .map_err(StartError::Serve)
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let wait = |kind| async move {
            match signal(kind) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(SignalKind::terminate()) => {}
            () = wait(SignalKind::interrupt()) => {}
        }
    }
    #[cfg(not(unix))]
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
