//! The local HTTP server: a thin axum shell that hands every request, whole, to the core's router
//! (which owns the contract's order of checks), with the asynchronous jobs running beside it
//! (`jobs`), and shuts down gracefully on Ctrl-C or SIGTERM.

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
    tracing::info!("listening on http://{bound}");
    let workers = Workers::start(Arc::clone(&app), local.outbox, jobs);
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_requested())
        .await
        .map_err(ServerError::Serve);
    workers.stop().await;
    served?;
    // In-flight requests have finished; dropping the last handle closes the store cleanly.
    drop(app);
    tracing::info!("stopped");
    Ok(())
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

async fn shutdown_requested() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
