//! The job functions: triggered by the table's stream, the events queue or a schedule rather than
//! by API Gateway. Each `run_*` is one binary's `main`: logging, configuration read once, then the
//! runtime loop around one core job. A job returns `Err` only when it must be retried as a whole
//! (the trigger's retry policy and dead-letter queue take over); per-message failures are reported
//! in the batch response instead.

pub mod notify;
pub mod relay;
pub mod schedule;

use crate::config::FunctionConfig;
use crate::logging;
use crate::sqs::{SqsDeadLetters, SqsPublisher};
use crate::xray::{self, AwsCalls, XrayDaemon};
use aws_lambda_events::event::dynamodb::Event as StreamBatch;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Context, Error, LambdaEvent};
use orderly_core::api::SecretUse;
use orderly_core::jobs::{Job, EXPIRE_ORDERS, NOTIFY, RELAY_EVENTS, REPORT_PREVIOUS_DAY};
use orderly_core::metrics::{job_failed, job_processed};
use orderly_core::services::{expiry, reports};
use orderly_core::App;
use schedule::ScheduledEvent;
use std::future::Future;
use std::sync::Arc;
use tracing::Instrument;

/// The events queue's URL: set by the template for the relay.
pub const EVENTS_QUEUE_URL: &str = "EVENTS_QUEUE_URL";
/// The relay's dead-letter queue's URL, where it sets aside event items it cannot read.
pub const RELAY_DEAD_LETTER_QUEUE_URL: &str = "RELAY_DEAD_LETTER_QUEUE_URL";

/// `relay-events`: the table's stream to the events queue.
pub async fn run_relay() -> Result<(), Error> {
    logging::init(RELAY_EVENTS.function);
    let collector = crate::metrics::install(RELAY_EVENTS.function)?;
    let (queue_url, dead_letters_url) = match (queue_url(EVENTS_QUEUE_URL), queue_url(RELAY_DEAD_LETTER_QUEUE_URL)) {
        (Ok(queue), Ok(dead_letters)) => (queue, dead_letters),
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(%error, "invalid configuration");
            return Err(error.into());
        }
    };
    let vars = std::env::vars().collect();
    let sdk = match crate::config::no_empty_endpoint(&vars)
        .and_then(|()| orderly_store_dynamodb::client::sdk_config_for_lambda(&vars))
    {
        Ok(sdk) => sdk,
        Err(error) => {
            tracing::error!(%error, "invalid configuration");
            return Err(error.into());
        }
    };
    let xray = XrayDaemon::from_environment();
    let mut sqs = aws_sdk_sqs::config::Builder::from(&sdk);
    if xray.is_some() {
        sqs = sqs.interceptor(AwsCalls::new(sdk.region().map(ToString::to_string), None));
    }
    let sqs = aws_sdk_sqs::Client::from_conf(sqs.build());
    let publisher = Arc::new(SqsPublisher::new(sqs.clone(), queue_url));
    let dead_letters = Arc::new(SqsDeadLetters::new(sqs, dead_letters_url));
    crate::run_runtime(
        collector,
        service_fn(move |event: LambdaEvent<StreamBatch>| {
            let (publisher, dead_letters, xray) = (publisher.clone(), dead_letters.clone(), xray.clone());
            async move {
                let relay = async {
                    Ok::<_, Error>(relay::relay_batch(publisher.as_ref(), dead_letters.as_ref(), &event.payload).await?)
                };
                invocation(&RELAY_EVENTS, xray.as_ref(), &event.context, relay).await
            }
        }),
    )
    .await
}

fn queue_url(variable: &'static str) -> Result<String, orderly_core::ConfigError> {
    match std::env::var(variable) {
        Ok(url) if !url.trim().is_empty() => Ok(url),
        _ => Err(orderly_core::ConfigError::new(
            variable,
            "must be set to the queue's URL",
        )),
    }
}

/// `notify`: the events queue to users' notifications.
pub async fn run_notify() -> Result<(), Error> {
    let (app, xray) = start(&NOTIFY).await?;
    let collector = crate::metrics::install(NOTIFY.function)?;
    crate::run_runtime(
        collector,
        service_fn(move |event: LambdaEvent<SqsEvent>| {
            let (app, xray) = (app.clone(), xray.clone());
            async move {
                let notify = async { Ok::<_, Error>(notify::notify_batch(&app, &event.payload).await?) };
                invocation(&NOTIFY, xray.as_ref(), &event.context, notify).await
            }
        }),
    )
    .await
}

/// `expire-orders`: every minute, the orders past their deadline.
pub async fn run_expire_orders() -> Result<(), Error> {
    let (app, xray) = start(&EXPIRE_ORDERS).await?;
    let collector = crate::metrics::install(EXPIRE_ORDERS.function)?;
    crate::run_runtime(
        collector,
        service_fn(move |event: LambdaEvent<ScheduledEvent>| {
            let (app, xray) = (app.clone(), xray.clone());
            async move {
                invocation(
                    &EXPIRE_ORDERS,
                    xray.as_ref(),
                    &event.context,
                    expire_orders(&app, &event.payload),
                )
                .await
            }
        }),
    )
    .await
}

/// `report-previous-day`: at 00:05 UTC, yesterday's report.
pub async fn run_report_previous_day() -> Result<(), Error> {
    let (app, xray) = start(&REPORT_PREVIOUS_DAY).await?;
    let collector = crate::metrics::install(REPORT_PREVIOUS_DAY.function)?;
    crate::run_runtime(
        collector,
        service_fn(move |event: LambdaEvent<ScheduledEvent>| {
            let (app, xray) = (app.clone(), xray.clone());
            async move {
                invocation(
                    &REPORT_PREVIOUS_DAY,
                    xray.as_ref(),
                    &event.context,
                    report_previous_day(&app, &event.payload),
                )
                .await
            }
        }),
    )
    .await
}

/// One run of the expiry sweep, for the schedule's time; what it did, as the function's result. A
/// run that could not expire every overdue order fails (the job's error alarm), after expiring
/// all it could; the next minute's run takes the rest.
pub async fn expire_orders(app: &App, event: &ScheduledEvent) -> Result<serde_json::Value, Error> {
    let scheduled_at = event
        .scheduled_at(app.now())
        .inspect_err(|_| job_failed(&EXPIRE_ORDERS, 1))?;
    let sweep = expiry::expire_overdue_orders(app, scheduled_at)
        .await
        .inspect_err(|_| job_failed(&EXPIRE_ORDERS, 1))?;
    job_processed(&EXPIRE_ORDERS, sweep.expired);
    job_failed(&EXPIRE_ORDERS, sweep.failed);
    tracing::info!(
        scheduled_at = %scheduled_at,
        expired = sweep.expired,
        closed_by_others = sweep.closed_by_others,
        failed = sweep.failed,
        "expiry sweep done"
    );
    if let Some(reason) = sweep.first_failure {
        return Err(format!(
            "{} overdue order(s) could not be expired, the first: {reason}",
            sweep.failed
        )
        .into());
    }
    Ok(serde_json::json!({
        "scheduled_at": scheduled_at,
        "expired": sweep.expired,
        "closed_by_others": sweep.closed_by_others,
    }))
}

/// The previous UTC day's report, for the schedule's time; the report, as the function's result.
pub async fn report_previous_day(app: &App, event: &ScheduledEvent) -> Result<serde_json::Value, Error> {
    let scheduled_at = event
        .scheduled_at(app.now())
        .inspect_err(|_| job_failed(&REPORT_PREVIOUS_DAY, 1))?;
    let report = reports::report_previous_day(app, scheduled_at)
        .await
        .inspect_err(|_| job_failed(&REPORT_PREVIOUS_DAY, 1))?;
    job_processed(&REPORT_PREVIOUS_DAY, 1);
    tracing::info!(date = %report.date, orders_paid = report.orders_paid, "daily report computed");
    Ok(serde_json::to_value(&report)?)
}

/// One invocation of `job`: in its log span and, when traced and sampled, its X-Ray subsegment.
async fn invocation<T>(
    job: &'static Job,
    xray: Option<&Arc<XrayDaemon>>,
    context: &Context,
    work: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let traced = xray::trace_invocation(xray, context.xray_trace_id.as_deref(), job.function, work, |result| {
        xray::Outcome {
            failed: result.is_err(),
            ..xray::Outcome::default()
        }
    });
    traced.instrument(logging::invocation_span(context)).await
}

/// Logging, the app and the X-Ray daemon (when traced), built once per cold start; bad
/// configuration fails the cold start. No job verifies a webhook or signs a cursor, so a job is
/// given no secret.
async fn start(job: &'static Job) -> Result<(Arc<App>, Option<Arc<XrayDaemon>>), Error> {
    logging::init(job.function);
    let xray = XrayDaemon::from_environment();
    match FunctionConfig::from_environment(SecretUse::default()).await {
        Ok((config, sdk)) => Ok((Arc::new(config.app(&sdk, xray.as_ref())), xray)),
        Err(error) => {
            tracing::error!(%error, "invalid configuration");
            Err(error.into())
        }
    }
}
