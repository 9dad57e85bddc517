//! What every Orderly Lambda function needs, in one place: configuration read and the DynamoDB
//! client built once per cold start (failing fast on bad configuration), API Gateway's HTTP API
//! event turned into the core's request (verified JWT claims, path parameters, base64 bodies),
//! and the core's response returned as is. A handler never returns `Err` to the runtime: API
//! Gateway would turn it into an opaque 500 and the detail would be lost.

mod config;
mod event;
pub mod jobs;
pub mod logging;
pub mod metrics;
pub mod sqs;
pub mod xray;

pub use config::{read_secrets, ConfigError, FunctionConfig, CURSOR_KEY_PARAMETER, PAYMENT_WEBHOOK_SECRET_PARAMETER};
pub use event::{GatewayRequest, GatewayResponse};
pub use lambda_runtime::{Context, Error};

use lambda_runtime::{service_fn, LambdaEvent};
use orderly_core::api::{self, ApiResponse, Route};
use orderly_core::App;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tracing::Instrument;
use xray::XrayDaemon;

/// Every function allocates through mimalloc: a warm invocation makes about a thousand small
/// allocations (the SDK's request, signing and response, the event, the answer), and glibc's
/// malloc and free spent about a sixth of its instructions on them (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Time kept back before Lambda's deadline to answer 503 ourselves: past the deadline Lambda
/// kills the invocation and API Gateway answers an opaque 500.
const DEADLINE_MARGIN: Duration = Duration::from_millis(500);

/// One function: the route it serves and the ports it runs on, built once and kept warm.
#[derive(Clone)]
pub struct Function {
    route: &'static Route,
    app: Arc<App>,
    xray: Option<Arc<XrayDaemon>>,
}

impl Function {
    pub fn new(route: &'static Route, app: App) -> Self {
        Function {
            route,
            app: Arc::new(app),
            xray: None,
        }
    }

    /// The function with each sampled invocation recorded in X-Ray.
    pub fn traced(self, daemon: Arc<XrayDaemon>) -> Self {
        Function {
            xray: Some(daemon),
            ..self
        }
    }

    /// Answers one API Gateway request. Every failure is a response.
    pub async fn handle(&self, request: GatewayRequest, context: &Context) -> ApiResponse {
        let span = logging::invocation_span(context);
        let answer = self.answer(request, context).instrument(span);
        xray::trace_invocation(
            self.xray.as_ref(),
            context.xray_trace_id.as_deref(),
            self.route.function,
            answer,
            |response| xray::Outcome {
                status: Some(response.status().as_u16()),
                request_id: response
                    .headers()
                    .get("x-request-id")
                    .and_then(|id| id.to_str().ok())
                    .map(str::to_string),
                failed: false,
            },
        )
        .await
    }

    async fn answer(&self, request: GatewayRequest, context: &Context) -> ApiResponse {
        let started = Instant::now();
        let budget = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|now| time_left(context.deadline, now));
        let (request, path_parameter) = match request.into_routed(self.route) {
            Ok(routed) => routed,
            Err(malformed) => return malformed.answer(),
        };
        let path_parameter = path_parameter.as_deref();
        match budget {
            // No time left: nothing is started (tokio's timeout would still poll the work once,
            // and a write could begin that the caller is told did not happen).
            Some(budget) if budget.is_zero() => self.out_of_time(&request, started),
            Some(budget) => {
                let work = api::handle_routed(&self.app, self.route, path_parameter, &request);
                match tokio::time::timeout(budget, work).await {
                    Ok(response) => response,
                    Err(_) => self.out_of_time(&request, started),
                }
            }
            None => api::handle_routed(&self.app, self.route, path_parameter, &request).await,
        }
    }

    /// The 503 of a request that cannot finish in time, counted like every other answer.
    fn out_of_time(&self, request: &api::ApiRequest, started: Instant) -> api::ApiResponse {
        let response = api::out_of_time_response(request);
        orderly_core::metrics::request_answered(self.route.function, response.status().as_u16(), started.elapsed());
        response
    }
}

/// Deadlines from this moment on (2000-01-01, in epoch milliseconds) are moments; smaller ones are
/// durations. Lambda sends the moment; cargo-lambda's emulator (`cargo lambda watch`) sends the
/// function's timeout instead (600000), which read as a moment is in 1970 and long past.
const FIRST_EPOCH_DEADLINE_MS: u64 = 946_684_800_000;

/// How long the request may run, `now` being the time since the epoch: until the deadline less the
/// margin, zero when that moment has passed; `None` when there is no deadline (0).
fn time_left(deadline_ms: u64, now: Duration) -> Option<Duration> {
    let remaining = match deadline_ms {
        0 => return None,
        moment if moment >= FIRST_EPOCH_DEADLINE_MS => Duration::from_millis(moment).saturating_sub(now),
        duration => Duration::from_millis(duration),
    };
    Some(remaining.saturating_sub(DEADLINE_MARGIN))
}

/// A function's `main`: logging, metrics, configuration and client set-up, then the runtime loop. Naming
/// its one route here, the binary links that route's operation and no other. For a route that
/// uses no secret; [`run_with_secrets`] for one that does.
pub async fn run(route: &'static Route) -> Result<(), Error> {
    let collector = start(route)?;
    let config = FunctionConfig::from_environment(route.secrets()).await;
    serve(route, collector, config).await
}

/// [`run`] for a route that uses a secret, read from SSM at the cold start: the only functions
/// that link the SSM client.
pub async fn run_with_secrets(route: &'static Route) -> Result<(), Error> {
    let collector = start(route)?;
    let config = FunctionConfig::from_environment_with_secrets(route.secrets()).await;
    serve(route, collector, config).await
}

/// Logging and metrics, first, so that a bad configuration is reported in the function's logs.
fn start(route: &'static Route) -> Result<&'static metrics_cloudwatch_embedded::Collector, Error> {
    logging::init(route.function);
    metrics::install(route.function)
}

async fn serve(
    route: &'static Route,
    collector: &'static metrics_cloudwatch_embedded::Collector,
    config: Result<(FunctionConfig, orderly_store_dynamodb::client::SdkConfig), ConfigError>,
) -> Result<(), Error> {
    let (config, sdk) = match config {
        Ok(config) => config,
        Err(error) => {
            // Fail the cold start, loudly and naming the variable (and the SSM parameter, for a
            // secret), rather than every request.
            tracing::error!(%error, "invalid configuration");
            return Err(error.into());
        }
    };
    let xray = XrayDaemon::from_environment();
    let function = Function::new(route, config.app(&sdk, xray.as_ref()));
    let function = match xray {
        Some(daemon) => function.traced(daemon),
        None => function,
    };
    run_runtime(
        collector,
        service_fn(move |event: LambdaEvent<GatewayRequest>| {
            let function = function.clone();
            async move {
                let response = function.handle(event.payload, &event.context).await;
                Ok::<_, Infallible>(GatewayResponse(response))
            }
        }),
    )
    .await
}

/// Every function's runtime loop, API and job alike, flushing the invocation's metrics after each
/// (as EMF on stdout). Without lambda_runtime's tracing layer: its span per invocation would
/// repeat what [`logging::invocation_span`] already says.
pub(crate) async fn run_runtime<S, E, R>(
    collector: &'static metrics_cloudwatch_embedded::Collector,
    handler: S,
) -> Result<(), Error>
where
    S: lambda_runtime::Service<LambdaEvent<E>, Response = R>,
    S::Error: Into<lambda_runtime::Diagnostic> + std::fmt::Debug,
    S::Future: 'static,
    E: serde::de::DeserializeOwned,
    R: serde::Serialize + 'static,
{
    lambda_runtime::Runtime::new(handler)
        .layer(metrics::FlushAfterEach::new(collector))
        .run()
        .await
}

/// The function behind the API's `$default` route: what API Gateway matched to no route of the
/// contract gets the contract's problem+json (404, or 405 with `Allow`) instead of the gateway's
/// own `{"message":"Not Found"}`. It needs no configuration and touches no table.
pub async fn run_unrouted() -> Result<(), Error> {
    logging::init(api::routes::UNROUTED_FUNCTION);
    let collector = metrics::install(api::routes::UNROUTED_FUNCTION)?;
    run_runtime(
        collector,
        service_fn(|event: LambdaEvent<GatewayRequest>| async move {
            Ok::<_, Infallible>(GatewayResponse(answer_unrouted(event.payload, &event.context)))
        }),
    )
    .await
}

/// Answers one request API Gateway routed nowhere. Like [`Function::handle`], every failure is a
/// response.
pub fn answer_unrouted(request: GatewayRequest, context: &Context) -> ApiResponse {
    let _invocation = logging::invocation_span(context).entered();
    match request.into_unrouted() {
        Ok(request) => api::answer_unrouted(&request),
        Err(malformed) => malformed.answer(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Duration = Duration::from_millis(1_795_291_485_046); // 2026-11-21

    #[test]
    fn a_deadline_moment_leaves_the_time_until_it_less_the_margin() {
        let in_ten_seconds = 1_795_291_495_046;
        assert_eq!(time_left(in_ten_seconds, NOW), Some(Duration::from_millis(9_500)));
        assert_eq!(time_left(in_ten_seconds - 9_800, NOW), Some(Duration::ZERO));
        assert_eq!(time_left(1_795_291_485_046 - 1, NOW), Some(Duration::ZERO), "past");
    }

    #[test]
    fn an_emulators_timeout_is_read_as_a_duration() {
        // What `cargo lambda watch` sends: its 600 s timeout, not a moment in 1970.
        assert_eq!(time_left(600_000, NOW), Some(Duration::from_millis(599_500)));
        assert_eq!(time_left(300, NOW), Some(Duration::ZERO));
    }

    #[test]
    fn no_deadline_means_no_limit_of_ours() {
        assert_eq!(time_left(0, NOW), None);
    }

    /// Each route's binary calls `run_with_secrets` exactly when its route uses a secret: the
    /// others do not link SSM, and would fail their cold start if they needed it.
    #[test]
    fn every_main_reads_secrets_exactly_when_its_route_uses_them() {
        for route in api::routes::ROUTES {
            let path = format!("{}/src/bin/{}.rs", env!("CARGO_MANIFEST_DIR"), route.function);
            let main = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let with_secrets = main.contains("orderly_functions::run_with_secrets(");
            assert_eq!(
                with_secrets,
                route.secrets() != api::SecretUse::default(),
                "{path}: run_with_secrets if and only if the route uses a secret"
            );
            assert!(with_secrets || main.contains("orderly_functions::run("), "{path}");
        }
    }
}
