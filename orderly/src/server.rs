//! The local HTTP server: a thin axum shell that hands every request, whole, to the core's router
//! (which owns the contract's order of checks), with the asynchronous jobs running beside it
//! (`jobs`), and shuts down gracefully on Ctrl-C or SIGTERM: no new connections, in-flight
//! requests finish (within `DRAIN_LIMIT`), the workers stop, the store closes.

use crate::jobs::Workers;
use crate::settings::ServeSettings;
use crate::stores::LocalStore;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use orderly_core::api::{self, ApiRequest, MAX_BODY_BYTES};
use orderly_core::auth::Authenticator;
use orderly_core::ports::{Store, SystemClock, UlidGenerator};
use orderly_core::App;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
}

/// The core on the local process's ports: the system clock, ULIDs, and the store.
pub fn local_app(store: Arc<dyn Store>, settings: ServeSettings) -> App {
    let clock = Arc::new(SystemClock);
    App::new(
        store,
        clock.clone(),
        Arc::new(UlidGenerator::new(clock)),
        settings.core,
        Authenticator::Hs256(settings.jwt_key),
    )
}

pub async fn serve(addr: SocketAddr, local: LocalStore, settings: ServeSettings) -> Result<(), ServerError> {
    let jobs = settings.jobs;
    let app = Arc::new(local_app(local.store, settings));
    let router = axum::Router::new().fallback(forward).with_state(Arc::clone(&app));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServerError::Bind(addr, e))?;
    let bound = listener.local_addr().map_err(|e| ServerError::Bind(addr, e))?;
    let signals = ShutdownSignals::listen();
    tracing::info!("listening on http://{bound}");
    let workers = Workers::start(Arc::clone(&app), local.outbox, jobs);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let serving = axum::serve(listener, router).with_graceful_shutdown(async move {
        signals.requested().await;
        let _ = stop.send(true);
    });
    let served = tokio::select! {
        served = async { serving.await } => served.map_err(ServerError::Serve),
        () = drain_limit_after(stopping) => {
            // Requests still running are dropped: each store write is one transaction, so it
            // happened whole or not at all, and its client sees the connection close.
            tracing::warn!(limit_s = DRAIN_LIMIT.as_secs(), "in-flight requests outlived the drain limit; stopping");
            Ok(())
        }
    };
    workers.stop().await;
    served?;
    // In-flight requests have finished; dropping the last handle closes the store cleanly.
    drop(app);
    tracing::info!("stopped");
    Ok(())
}

/// How long in-flight requests may run once shutdown is asked for; a request takes milliseconds,
/// so only a stuck one reaches it, and a supervisor's stop timeout (Docker's 10 s, systemd's 90 s)
/// is not exceeded.
const DRAIN_LIMIT: Duration = Duration::from_secs(8);

/// Resolves `DRAIN_LIMIT` after shutdown was asked for; never before.
async fn drain_limit_after(mut stopping: tokio::sync::watch::Receiver<bool>) {
    if stopping.wait_for(|asked| *asked).await.is_err() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(DRAIN_LIMIT).await;
}

async fn forward(State(app): State<Arc<App>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_capped(body).await {
        Ok(body) => body,
        // The client went away mid-body; nobody is listening for an answer.
        Err(_) => return Response::builder().status(400).body(Body::empty()).unwrap_or_default(),
    };
    let request = ApiRequest::from_parts(parts, body);
    api::handle(&app, request).await.map(Body::from)
}

/// Reads the body, but never more than one byte past the limit: enough for the core to answer
/// 413 without holding an attacker's gigabytes in memory.
async fn read_capped(mut body: Body) -> Result<Bytes, axum::Error> {
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            let room = (MAX_BODY_BYTES + 1).saturating_sub(buffer.len());
            buffer.extend_from_slice(&data[..data.len().min(room)]);
            if buffer.len() > MAX_BODY_BYTES {
                break;
            }
        }
    }
    Ok(buffer.freeze())
}

/// Ctrl-C and SIGTERM, listened for from the moment this is made: made before the server says
/// where it listens, so a supervisor that stops it at once finds the handlers in place (a signal
/// arriving earlier would take the process down the default way, uncleanly).
struct ShutdownSignals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            ShutdownSignals {
                terminate: signal(SignalKind::terminate()).ok(),
                interrupt: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        ShutdownSignals {}
    }

    async fn requested(self) {
        #[cfg(unix)]
        {
            let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(self.terminate) => {}
                () = wait(self.interrupt) => {}
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}
