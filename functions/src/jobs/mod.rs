//! The job functions: triggered by the table's stream, the events queue or a schedule rather than
//! by API Gateway. Each `run_*` is one binary's `main`: logging, configuration read once, then the
//! runtime loop around one core job. A job returns `Err` only when it must be retried as a whole
//! (the trigger's retry policy and dead-letter queue take over); per-message failures are reported
//! in the batch response instead.

pub mod notify;
pub mod relay;
pub mod schedule;

use crate::config::FunctionConfig;
use crate::sqs::{SqsDeadLetters, SqsPublisher};
use aws_lambda_events::event::dynamodb::Event as StreamBatch;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_http::lambda_runtime::{self, service_fn, LambdaEvent};
use lambda_http::Error;
use orderly_core::services::{expiry, reports};
use orderly_core::App;
use schedule::ScheduledEvent;
use std::sync::Arc;

/// The events queue's URL: set by the template for the relay.
pub const EVENTS_QUEUE_URL: &str = "EVENTS_QUEUE_URL";
/// The relay's dead-letter queue's URL, where it sets aside event items it cannot read.
pub const RELAY_DEAD_LETTER_QUEUE_URL: &str = "RELAY_DEAD_LETTER_QUEUE_URL";

/// `relay-events`: the table's stream to the events queue.
pub async fn run_relay() -> Result<(), Error> {
    crate::init_logging();
    let (queue_url, dead_letters_url) = match (queue_url(EVENTS_QUEUE_URL), queue_url(RELAY_DEAD_LETTER_QUEUE_URL)) {
        (Ok(queue), Ok(dead_letters)) => (queue, dead_letters),
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(%error, "invalid configuration");
            return Err(error.into());
        }
    };
    let sdk = orderly_store_dynamodb::client::sdk_config_from_environment().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let publisher = Arc::new(SqsPublisher::new(sqs.clone(), queue_url));
    let dead_letters = Arc::new(SqsDeadLetters::new(sqs, dead_letters_url));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamBatch>| {
        let (publisher, dead_letters) = (publisher.clone(), dead_letters.clone());
        async move {
            Ok::<_, Error>(relay::relay_batch(publisher.as_ref(), dead_letters.as_ref(), &event.payload).await?)
        }
    }))
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
    let app = start().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let app = app.clone();
        async move { Ok::<_, Error>(notify::notify_batch(&app, &event.payload).await?) }
    }))
    .await
}

/// `expire-orders`: every minute, the orders past their deadline.
pub async fn run_expire_orders() -> Result<(), Error> {
    let app = start().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ScheduledEvent>| {
        let app = app.clone();
        async move { expire_orders(&app, &event.payload).await }
    }))
    .await
}

/// `report-previous-day`: at 00:05 UTC, yesterday's report.
pub async fn run_report_previous_day() -> Result<(), Error> {
    let app = start().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ScheduledEvent>| {
        let app = app.clone();
        async move { report_previous_day(&app, &event.payload).await }
    }))
    .await
}

/// One run of the expiry sweep, for the schedule's time; what it did, as the function's result. A
/// run that could not expire every overdue order fails (the job's error alarm), after expiring
/// all it could; the next minute's run takes the rest.
pub async fn expire_orders(app: &App, event: &ScheduledEvent) -> Result<serde_json::Value, Error> {
    let scheduled_at = event.scheduled_at(app.now())?;
    let sweep = expiry::expire_overdue_orders(app, scheduled_at).await?;
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
    let scheduled_at = event.scheduled_at(app.now())?;
    let report = reports::report_previous_day(app, scheduled_at).await?;
    tracing::info!(date = %report.date, orders_paid = report.orders_paid, "daily report computed");
    Ok(serde_json::to_value(&report)?)
}

/// Logging and the app, built once per cold start; bad configuration fails the cold start.
async fn start() -> Result<Arc<App>, Error> {
    crate::init_logging();
    match FunctionConfig::from_environment() {
        Ok(config) => Ok(Arc::new(config.app().await)),
        Err(error) => {
            tracing::error!(%error, "invalid configuration");
            Err(error.into())
        }
    }
}
