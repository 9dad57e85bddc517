//! The asynchronous half, in-process: what SQS, the table's stream and EventBridge Scheduler do
//! when deployed, the local server does with three background workers over the same core jobs.
//!
//! - the relay polls the outbox and hands each event straight to the notification job (an
//!   in-process queue: an event is marked published only once its notification is recorded, so
//!   one that fails, or is cut short by a crash, is relayed again);
//! - the expiry sweep runs every few seconds;
//! - the daily report runs at 00:05 UTC, and once at start-up for yesterday if it is missing (a
//!   laptop is often asleep at midnight).

use async_trait::async_trait;
use orderly_core::domain::{OrderEvent, Timestamp};
use orderly_core::jobs::{EXPIRE_ORDERS, NOTIFY, RELAY_EVENTS, REPORT_PREVIOUS_DAY};
use orderly_core::metrics;
use orderly_core::ports::{EventPublisher, OutboxStore, PublishFailure};
use orderly_core::services::{expiry, notifications, relay, reports};
use orderly_core::{config, App, ConfigError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the relay looks for new events, in milliseconds (default 200).
pub const RELAY_INTERVAL_MS: &str = "ORDERLY_RELAY_INTERVAL_MS";
/// How often the expiry sweep runs, in milliseconds (default 2000).
pub const EXPIRY_SWEEP_INTERVAL_MS: &str = "ORDERLY_EXPIRY_SWEEP_INTERVAL_MS";

/// When the daily report runs: minutes after midnight UTC, as the deployed schedule.
const DAILY_REPORT_MINUTE: i64 = 5;
const MILLIS_PER_DAY: i64 = 86_400_000;

/// The workers' timing, read once at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobSettings {
    pub relay_interval: Duration,
    pub expiry_interval: Duration,
}

impl JobSettings {
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Ok(JobSettings {
            relay_interval: interval(vars, RELAY_INTERVAL_MS, 200)?,
            expiry_interval: interval(vars, EXPIRY_SWEEP_INTERVAL_MS, 2_000)?,
        })
    }
}

/// An interval of 10 ms to one day; anything else is refused by name.
fn interval(vars: &HashMap<String, String>, variable: &'static str, default_ms: u64) -> Result<Duration, ConfigError> {
    config::milliseconds(vars, variable, Duration::from_millis(default_ms), 10..=86_400_000)
}

/// The notification job as the relay's publisher: in-process, no queue in between.
pub struct NotifyInProcess {
    app: Arc<App>,
}

impl NotifyInProcess {
    pub fn new(app: Arc<App>) -> Self {
        NotifyInProcess { app }
    }
}

#[async_trait]
impl EventPublisher for NotifyInProcess {
    async fn publish(&self, events: &[OrderEvent]) -> Vec<PublishFailure> {
        let mut failed = Vec::new();
        for event in events {
            if let Err(error) = notifications::notify_user(&self.app, event).await {
                failed.push(PublishFailure {
                    event_id: event.id.clone(),
                    reason: error.to_string(),
                });
            }
        }
        metrics::job_processed(&NOTIFY, events.len() - failed.len());
        metrics::job_failed(&NOTIFY, failed.len());
        failed
    }
}

/// The running workers; dropping this does not stop them, [`Workers::stop`] does.
pub struct Workers {
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts the workers: the relay over `outbox`, the expiry sweep and the daily report.
    pub fn start(app: Arc<App>, outbox: Arc<dyn OutboxStore>, settings: JobSettings) -> Self {
        let tasks = vec![
            tokio::spawn(relay_forever(app.clone(), outbox, settings.relay_interval)),
            tokio::spawn(sweep_forever(app.clone(), settings.expiry_interval)),
            tokio::spawn(report_daily_forever(app)),
        ];
        Workers { tasks }
    }

    /// Stops the workers. A store write in flight completes or not as a whole (each is one
    /// transaction), and whatever was not done is picked up by the next start.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            // An aborted task's JoinError says only that it was aborted.
            let _ = task.await;
        }
    }
}

async fn relay_forever(app: Arc<App>, outbox: Arc<dyn OutboxStore>, interval: Duration) {
    let publisher = NotifyInProcess::new(app.clone());
    loop {
        tokio::time::sleep(interval).await;
        match relay::relay_outbox(&app, outbox.as_ref(), &publisher).await {
            Ok(run) => {
                metrics::job_processed(&RELAY_EVENTS, run.published);
                metrics::job_failed(&RELAY_EVENTS, run.failed.len());
                for failure in &run.failed {
                    tracing::warn!(event_id = %failure.event_id, reason = %failure.reason, "event not relayed; retrying");
                }
            }
            Err(error) => {
                metrics::job_failed(&RELAY_EVENTS, 1);
                tracing::warn!(%error, "the relay cannot read the outbox; retrying");
            }
        }
    }
}

async fn sweep_forever(app: Arc<App>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        match expiry::expire_overdue_orders(&app, app.now()).await {
            Ok(sweep) => {
                metrics::job_processed(&EXPIRE_ORDERS, sweep.expired);
                metrics::job_failed(&EXPIRE_ORDERS, sweep.failed);
                if sweep.expired > 0 {
                    tracing::info!(expired = sweep.expired, "expired overdue orders");
                }
                if let Some(reason) = sweep.first_failure {
                    tracing::warn!(failed = sweep.failed, %reason, "some overdue orders were not expired; the next sweep retries");
                }
            }
            Err(error) => {
                metrics::job_failed(&EXPIRE_ORDERS, 1);
                tracing::warn!(%error, "the expiry sweep failed; it runs again");
            }
        }
    }
}

/// Longest sleep between looks at the clock: a laptop's suspend stops a sleep's count, so the
/// worker wakes often and compares the wall clock instead of trusting one long sleep.
const CLOCK_CHECK: Duration = Duration::from_secs(60);

async fn report_daily_forever(app: Arc<App>) {
    let yesterday = app.now().date().previous();
    match app.store.report(yesterday).await {
        Ok(Some(_)) => {}
        Ok(None) => run_daily_report(&app, app.now()).await,
        Err(error) => tracing::warn!(%error, "cannot check for yesterday's report"),
    }
    let mut next = next_daily_report(app.now());
    loop {
        let wait = u64::try_from(next.as_millis() - app.now().as_millis()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(wait).min(CLOCK_CHECK)).await;
        let now = app.now();
        if now >= next {
            // After a long suspend this is the latest day's report; `orderly jobs report --at`
            // computes any day missed before it.
            run_daily_report(&app, now.max(next)).await;
            next = next_daily_report(now);
        }
    }
}

async fn run_daily_report(app: &App, scheduled_at: Timestamp) {
    match reports::report_previous_day(app, scheduled_at).await {
        Ok(report) => {
            metrics::job_processed(&REPORT_PREVIOUS_DAY, 1);
            tracing::info!(date = %report.date, orders_paid = report.orders_paid, "daily report computed");
        }
        Err(error) => {
            metrics::job_failed(&REPORT_PREVIOUS_DAY, 1);
            tracing::warn!(%error, "the daily report failed; `orderly jobs report` runs it by hand");
        }
    }
}

/// The first 00:05 UTC strictly after `now`.
pub fn next_daily_report(now: Timestamp) -> Timestamp {
    let offset = DAILY_REPORT_MINUTE * 60_000;
    let today = now.as_millis().div_euclid(MILLIS_PER_DAY) * MILLIS_PER_DAY + offset;
    Timestamp::from_millis(if today > now.as_millis() {
        today
    } else {
        today + MILLIS_PER_DAY
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderly_core::auth::Authenticator;
    use orderly_core::config::{Secret, Secrets};
    use orderly_core::domain::Date;
    use orderly_core::ports::{FixedClock, ReportStore, UlidGenerator};
    use orderly_core::Settings;
    use orderly_store_memory::MemoryStore;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn the_daily_report_runs_at_the_next_five_past_midnight() {
        assert_eq!(
            next_daily_report(at("2026-11-28T00:04:59.999Z")),
            at("2026-11-28T00:05:00Z")
        );
        assert_eq!(
            next_daily_report(at("2026-11-28T00:05:00Z")),
            at("2026-11-29T00:05:00Z")
        );
        assert_eq!(
            next_daily_report(at("2026-12-31T23:59:00Z")),
            at("2027-01-01T00:05:00Z")
        );
    }

    /// The report worker on a fixed clock, with tokio's time paused: the worker's sleeps pass at
    /// once, and only the clock says whether it is time.
    #[tokio::test(start_paused = true)]
    async fn the_report_worker_catches_up_on_yesterday_then_runs_at_five_past_midnight() {
        let clock = Arc::new(FixedClock::at(at("2026-11-28T12:00:00Z")));
        let store = Arc::new(MemoryStore::new());
        let settings = Settings::from_vars(
            &HashMap::new(),
            Secrets::both(Secret::new("webhook-secret"), Secret::new("cursor-key")),
        )
        .unwrap();
        let ids = Arc::new(UlidGenerator::new(clock.clone()));
        let app = Arc::new(App::new(
            store.clone(),
            clock.clone(),
            ids,
            settings,
            Authenticator::GatewayClaims,
        ));
        let report_of = |day: &str| {
            let store = store.clone();
            let day = Date::parse(day).unwrap();
            async move { store.report(day).await.unwrap() }
        };
        // Virtual time: each wait lets the worker run through its sleeps without real delay.
        let wait = || tokio::time::sleep(Duration::from_secs(600));

        let worker = tokio::spawn(report_daily_forever(app));
        wait().await;
        assert!(
            report_of("2026-11-27").await.is_some(),
            "yesterday's report, missing at start-up"
        );
        assert!(
            report_of("2026-11-28").await.is_none(),
            "today's is not due before tomorrow 00:05"
        );

        clock.set(at("2026-11-29T00:04:59Z"));
        wait().await;
        assert!(report_of("2026-11-28").await.is_none(), "not before 00:05");

        clock.set(at("2026-11-29T00:05:00Z"));
        wait().await;
        let report = report_of("2026-11-28").await.expect("the report at 00:05");
        assert_eq!(report.computed_at, at("2026-11-29T00:05:00Z"));

        // A laptop asleep over a whole day wakes and computes the latest day's report.
        clock.set(at("2026-12-01T08:00:00Z"));
        wait().await;
        assert!(
            report_of("2026-11-30").await.is_some(),
            "the latest day after a long sleep"
        );
        worker.abort();
    }

    #[test]
    fn intervals_have_defaults_and_bad_ones_are_named() {
        let vars = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let defaults = JobSettings::from_vars(&vars(&[])).unwrap();
        assert_eq!(defaults.relay_interval, Duration::from_millis(200));
        assert_eq!(defaults.expiry_interval, Duration::from_secs(2));
        let set = JobSettings::from_vars(&vars(&[(EXPIRY_SWEEP_INTERVAL_MS, "50")])).unwrap();
        assert_eq!(set.expiry_interval, Duration::from_millis(50));
        for bad in ["", "0", "9", "-5", "1.5", "fast", "86400001", " 100", "100 "] {
            let error = JobSettings::from_vars(&vars(&[(RELAY_INTERVAL_MS, bad)])).unwrap_err();
            assert!(error.to_string().contains(RELAY_INTERVAL_MS), "{bad:?}: {error}");
        }
    }
}
