//! OpenTelemetry traces from the local server, over OTLP (HTTP, JSON), exactly when the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set: a span per request (with its `request_id`) and one per
//! store call (SQLite's reads and write transactions; each DynamoDB call, as the AWS SDK names it).
//! Unset, nothing is installed and nothing is paid. The exporter reads the other standard
//! variables too (`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_SCHEDULE_DELAY`, ...).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Metadata;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// The installed exporter; [`Traces::shutdown`] sends what is still buffered.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// The exporter, when `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector.
    pub fn from_environment() -> Result<Option<Self>, String> {
        match std::env::var(OTLP_ENDPOINT) {
            Ok(endpoint) if !endpoint.trim().is_empty() => {}
            _ => return Ok(None),
        }
        let exporter = SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .build()
            .map_err(|e| format!("{OTLP_ENDPOINT}: cannot build the OTLP exporter: {e}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name("orderly").build())
            .build();
        Ok(Some(Traces { provider }))
    }

    /// The layer that turns spans into OpenTelemetry spans.
    pub fn layer<S>(&self) -> impl Layer<S>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("orderly"))
            .with_filter(filter_fn(traced))
    }

    /// Exports what is buffered; called once the server has stopped.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "the last traces could not be exported");
        }
    }
}

/// What becomes a span: ours at `info` and above, and the AWS SDK's one span per DynamoDB call
/// (`DynamoDB.GetItem`, at `debug`), not its inner retries and serialisation.
fn traced(metadata: &Metadata<'_>) -> bool {
    metadata.level() <= &tracing::Level::INFO
        || (metadata.is_span() && metadata.target().starts_with("aws_sdk_dynamodb::operation"))
}
