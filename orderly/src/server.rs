//! The local HTTP server: it accepts connections and serves each (`connection`) through the
//! core's router, which owns the contract's order of checks, with the asynchronous jobs running
//! beside it (`jobs`). What clients may hold is bounded (`limits`): every phase of a connection
//! has a time limit, at most `max_connections` are served at once (new ones beyond are answered
//! 503 and closed), and shutdown on Ctrl-C or SIGTERM stops accepting, lets in-flight requests
//! finish within the shutdown deadline, closes whatever is still open, stops the workers and
//! closes the store.

use crate::connection::{self, Rules, Timeouts, MAX_HEADERS, MAX_HEAD_BYTES};
use crate::jobs::Workers;
use crate::limits::{ServerLimits, MAX_CONNECTIONS};
use crate::settings::ServeSettings;
use crate::stores::LocalStore;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use orderly_core::api::{self, ApiRequest, ApiResponse, MAX_BODY_BYTES};
use orderly_core::auth::Authenticator;
use orderly_core::ports::{Store, SystemClock, UlidGenerator};
use orderly_core::{App, Error};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// Connections over the bound answered 503 at once; beyond these they are closed unanswered. Each
/// lives for at most `TURNED_AWAY_PATIENCE` plus a lingering close, so a flood cannot use this to
/// exhaust file descriptors either.
const TURNED_AWAY_CAPACITY: usize = 32;
/// How long a turned-away connection may take to send its request's head: it was just opened, so
/// a client means to send it at once.
const TURNED_AWAY_PATIENCE: Duration = Duration::from_secs(1);
/// How long to wait before accepting again after accepting failed, which mostly means the process
/// is out of file descriptors: retrying at once would spin while connections closing free some.
const ACCEPT_RETRY: Duration = Duration::from_millis(250);

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

pub async fn serve(
    addr: SocketAddr,
    local: LocalStore,
    settings: ServeSettings,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let (jobs, limits) = (settings.jobs, settings.limits);
    let app = Arc::new(local_app(local.store, settings));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ServerError::Bind(addr, e))?;
    let bound = listener.local_addr().map_err(|e| ServerError::Bind(addr, e))?;
    tracing::info!("listening on http://{bound}");
    let workers = Workers::start(Arc::clone(&app), local.outbox, jobs);
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut gate = Gate::new(limits.max_connections);
    let requested = shutdown.requested();
    tokio::pin!(requested);
    loop {
        tokio::select! {
            () = &mut requested => {
                tracing::info!("shutting down: finishing in-flight requests");
                break;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => match gate.admit() {
                    Some(Admitted::Served(permit)) => {
                        connections.spawn(serve_connection(stream, permit, Arc::clone(&app), limits, stopping.clone()));
                    }
                    Some(Admitted::TurnedAway(permit)) => {
                        connections.spawn(turn_away(stream, permit, limits, stopping.clone()));
                    }
                    None => drop(stream),
                },
                Err(error) => accept_failed(error).await,
            },
            Some(ended) = connections.join_next() => {
                if let Err(error) = ended {
                    tracing::error!(%error, "a connection's task failed");
                }
            }
        }
    }
    drop(listener);
    stop.send_replace(true);
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        // Requests still running are dropped: each store write is one transaction, so it
        // happened whole or not at all, and its client sees the connection close.
        tracing::warn!(
            limit_ms = limits.shutdown_timeout.as_millis(),
            open = connections.len(),
            "connections outlived the shutdown deadline; closing them"
        );
        connections.shutdown().await;
    }
    workers.stop().await;
    // Every connection is closed; dropping the last handle closes the store cleanly.
    drop(app);
    tracing::info!("stopped");
    Ok(())
}

/// Which connections are served, which are told 503, and which are closed unanswered.
struct Gate {
    served: Arc<Semaphore>,
    turned_away: Arc<Semaphore>,
    max_connections: usize,
    full: bool,
}

enum Admitted {
    Served(OwnedSemaphorePermit),
    TurnedAway(OwnedSemaphorePermit),
}

impl Gate {
    fn new(max_connections: usize) -> Self {
        Gate {
            served: Arc::new(Semaphore::new(max_connections)),
            turned_away: Arc::new(Semaphore::new(TURNED_AWAY_CAPACITY)),
            max_connections,
            full: false,
        }
    }

    /// A place for a new connection: served while there is room (each holds its permit until it
    /// closes), else answered 503, else none. Says once when it fills up and once when it has
    /// room again, rather than once per connection.
    fn admit(&mut self) -> Option<Admitted> {
        if let Ok(permit) = Arc::clone(&self.served).try_acquire_owned() {
            if std::mem::take(&mut self.full) {
                tracing::info!(max_connections = self.max_connections, "serving new connections again");
            }
            return Some(Admitted::Served(permit));
        }
        if !std::mem::replace(&mut self.full, true) {
            tracing::warn!(
                max_connections = self.max_connections,
                "serving as many connections as {MAX_CONNECTIONS} allows; answering 503 to new ones"
            );
        }
        Arc::clone(&self.turned_away)
            .try_acquire_owned()
            .ok()
            .map(Admitted::TurnedAway)
    }
}

async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    // The client gave up before it was accepted: its business, not ours.
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::warn!(%error, "cannot accept a connection; retrying shortly");
    tokio::time::sleep(ACCEPT_RETRY).await;
}

/// A connection within the bound, served until it closes or outstays a limit.
async fn serve_connection(
    stream: TcpStream,
    _place: OwnedSemaphorePermit,
    app: Arc<App>,
    limits: ServerLimits,
    stopping: watch::Receiver<bool>,
) {
    let body_timeout = limits.body_timeout;
    let rules = Rules {
        timeouts: Timeouts {
            idle: limits.keep_alive_timeout,
            head: limits.header_timeout,
        },
        keep_alive: true,
        refuse: refuse_head,
    };
    let handler = move |request| answer(Arc::clone(&app), body_timeout, request);
    connection::run(stream, handler, rules, stopping).await;
}

/// A connection over the bound: its request is answered 503 `unavailable` with `Retry-After` (the
/// contract's answer when the service cannot serve it now), and the connection closed.
async fn turn_away(
    stream: TcpStream,
    _place: OwnedSemaphorePermit,
    limits: ServerLimits,
    stopping: watch::Receiver<bool>,
) {
    let rules = Rules {
        timeouts: Timeouts {
            idle: limits.keep_alive_timeout.min(TURNED_AWAY_PATIENCE),
            head: limits.header_timeout.min(TURNED_AWAY_PATIENCE),
        },
        keep_alive: false,
        refuse: refuse_head,
    };
    let max_connections = limits.max_connections;
    let handler = move |request: hyper::Request<Incoming>| {
        let (parts, _unread) = request.into_parts();
        let request = ApiRequest::from_parts(parts, Bytes::new());
        let cause = format!("serving {max_connections} connections, the most {MAX_CONNECTIONS} allows");
        std::future::ready(Ok::<_, Infallible>(api::refuse(&request, Error::Unavailable(cause))))
    };
    connection::run(stream, handler, rules, stopping).await;
}

/// The request's body did not arrive within its limit: the connection is closed unanswered, as
/// the contract has no answer for it (a 408 is none of its statuses).
#[derive(Debug, thiserror::Error)]
#[error("the request's body did not arrive within {0:?}")]
struct BodyTimedOut(Duration);

/// Reads the request's body within `body_timeout` and hands the request, whole, to the core.
async fn answer(
    app: Arc<App>,
    body_timeout: Duration,
    request: hyper::Request<Incoming>,
) -> Result<ApiResponse, BodyTimedOut> {
    let (parts, body) = request.into_parts();
    let mut request = ApiRequest::from_parts(parts, Bytes::new());
    match tokio::time::timeout(body_timeout, read_capped(body)).await {
        Ok(Ok(body)) => {
            request.body = body;
            Ok(api::handle(&app, request).await)
        }
        // A broken chunked encoding, or a client gone mid-body: answered in case it still listens.
        Ok(Err(_)) => Ok(api::refuse(
            &request,
            Error::invalid("$", "the request body could not be read to its end"),
        )),
        Err(_) => {
            tracing::info!(
                request_id = %request.id,
                timeout_ms = body_timeout.as_millis(),
                "closed a connection whose request body did not arrive in time"
            );
            Err(BodyTimedOut(body_timeout))
        }
    }
}

/// The contract's answer in place of hyper's own to a head it refused: 400 `validation` on the
/// field `head` (the request line and header fields), as 414 and 431 are none of the contract's
/// statuses and the request is the client's mistake.
fn refuse_head(status: u16) -> ApiResponse {
    let message = match status {
        414 => "the request target is too long".to_string(),
        431 => format!(
            "the request line and header fields are over {} KiB, or more than {MAX_HEADERS} fields",
            MAX_HEAD_BYTES / 1024
        ),
        _ => "the request line or a header field is malformed (e.g. a control character in a header value)".to_string(),
    };
    api::refuse_unread(Error::invalid("head", message))
}

/// Reads the body, but never more than one byte past the limit: enough for the core to answer
/// 413 without holding an attacker's gigabytes in memory.
async fn read_capped(mut body: Incoming) -> Result<Bytes, hyper::Error> {
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

/// A stop asked for with Ctrl-C or SIGTERM. Listened for from the first moment of `orderly serve`,
/// before the settings are read or the store opened: a stop asked for during start-up ends it
/// cleanly, and one asked for while serving drains (a signal arriving before the handlers are in
/// place would take the process down the default way, uncleanly).
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Installs the handlers; needs the runtime, on which it watches for either signal.
    pub fn listen() -> Shutdown {
        let (asked, watched) = watch::channel(false);
        let signals = ShutdownSignals::listen();
        tokio::spawn(async move {
            signals.requested().await;
            asked.send_replace(true);
        });
        Shutdown(watched)
    }

    /// Until a stop is asked for.
    pub async fn requested(&self) {
        let mut watched = self.0.clone();
        if watched.wait_for(|asked| *asked).await.is_err() {
            // The watcher is gone only with the runtime: no stop can come any more.
            std::future::pending::<()>().await;
        }
    }
}

/// Ctrl-C and SIGTERM, from the moment this is made.
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
    }
}
