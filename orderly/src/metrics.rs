//! The local server's metrics: the core's (`orderly_core::metrics`) in Prometheus's text format,
//! served at `GET /metrics` on a listener of its own (`orderly serve --metrics-addr HOST:PORT`),
//! never on the API's (docs/decisions.md, 10). Without the flag no recorder is installed and
//! recording costs nothing.
//!
//! Names get the namespace `orderly_` (`orderly_orders_placed`, `orderly_latency_ms`); the two
//! histograms are Prometheus histograms with fixed buckets, so `histogram_quantile` works on them.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use orderly_core::metrics::{LATENCY_MS, ORDER_VALUE_CENTS};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;

/// The prefix of every metric's name in Prometheus.
pub const NAMESPACE: &str = "orderly";
/// What Prometheus scrapes.
pub const PATH: &str = "/metrics";
/// Prometheus's text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Request latency buckets, in milliseconds: an embedded read takes well under one, an order on
/// DynamoDB Local tens to hundreds.
const LATENCY_BUCKETS_MS: &[f64] = &[
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0,
];
/// Order value buckets, in cents: 5.00 to 10,000.00.
const ORDER_VALUE_BUCKETS_CENTS: &[f64] = &[
    500.0,
    1_000.0,
    2_500.0,
    5_000.0,
    10_000.0,
    25_000.0,
    50_000.0,
    100_000.0,
    250_000.0,
    1_000_000.0,
];
/// How often the exporter's housekeeping runs (draining histogram samples into their buckets).
const UPKEEP: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot set up the Prometheus exporter: {0}")]
    Exporter(#[from] BuildError),
    #[error("a metrics recorder is already installed")]
    AlreadyInstalled,
    #[error("cannot listen for metrics on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
}

/// The metrics listener, running until this is dropped.
pub struct MetricsServer {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Installs the Prometheus recorder for the whole process and serves its metrics on `addr`.
pub async fn serve(addr: SocketAddr) -> Result<MetricsServer, MetricsError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| MetricsError::Bind(addr, e))?;
    let bound = listener.local_addr().map_err(|e| MetricsError::Bind(addr, e))?;
    let handle = install()?;
    let router = axum::Router::new()
        .route(PATH, axum::routing::get(render))
        .with_state(handle.clone());
    tracing::info!("serving metrics on http://{bound}{PATH}");
    let serving = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::warn!(%error, "the metrics listener stopped");
        }
    });
    let upkeep = tokio::spawn(async move {
        loop {
            tokio::time::sleep(UPKEEP).await;
            handle.run_upkeep();
        }
    });
    Ok(MetricsServer {
        tasks: vec![serving, upkeep],
    })
}

/// The Prometheus recorder, with our buckets and namespace, as the process's recorder.
fn install() -> Result<PrometheusHandle, MetricsError> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(namespaced(LATENCY_MS)), LATENCY_BUCKETS_MS)?
        .set_buckets_for_metric(Matcher::Full(namespaced(ORDER_VALUE_CENTS)), ORDER_VALUE_BUCKETS_CENTS)?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(Namespaced(recorder)).map_err(|_| MetricsError::AlreadyInstalled)?;
    orderly_core::metrics::describe();
    Ok(handle)
}

async fn render(State(handle): State<PrometheusHandle>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], handle.render())
}

fn namespaced(name: &str) -> String {
    format!("{NAMESPACE}_{name}")
}

/// A recorder that hands every metric to `R` under its namespaced name.
struct Namespaced<R>(R);

impl<R> Namespaced<R> {
    fn key(key: &Key) -> Key {
        Key::from_parts(namespaced(key.name()), key.labels().cloned().collect::<Vec<_>>())
    }

    fn name(name: &KeyName) -> KeyName {
        KeyName::from(namespaced(name.as_str()))
    }
}

impl<R: Recorder> Recorder for Namespaced<R> {
    fn describe_counter(&self, name: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_counter(Self::name(&name), unit, description);
    }

    fn describe_gauge(&self, name: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(Self::name(&name), unit, description);
    }

    fn describe_histogram(&self, name: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_histogram(Self::name(&name), unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.register_counter(&Self::key(key), metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.register_gauge(&Self::key(key), metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.0.register_histogram(&Self::key(key), metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_metrics_render_under_the_namespace_with_their_labels_and_buckets() {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(namespaced(LATENCY_MS)), LATENCY_BUCKETS_MS)
            .unwrap()
            .build_recorder();
        let handle = recorder.handle();
        let recorder = Namespaced(recorder);
        metrics::with_local_recorder(&recorder, || {
            orderly_core::metrics::describe();
            orderly_core::metrics::request_answered("create-order", 201, Duration::from_micros(1_500));
            orderly_core::metrics::order_placed(2_500);
        });
        let text = handle.render();
        assert!(
            text.contains(r#"orderly_requests{operation="create-order",status_class="2xx"} 1"#),
            "{text}"
        );
        assert!(text.contains("# TYPE orderly_latency_ms histogram"), "{text}");
        assert!(
            text.contains(r#"orderly_latency_ms_bucket{operation="create-order",le="2.5"} 1"#),
            "{text}"
        );
        assert!(text.contains("orderly_orders_placed 1"), "{text}");
        assert!(text.contains("# HELP orderly_orders_placed Orders placed"), "{text}");
    }
}
