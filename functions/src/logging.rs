//! The functions' log lines: one JSON object per line with every field at the top level, so one
//! CloudWatch Logs Insights filter on any of them finds a request's whole story: `function`,
//! the invocation's `aws_request_id` and `trace_id` (X-Ray's, when the function is traced), our
//! `request_id` (X-Request-Id), and each line's own fields (`operation`, `status`, `latency_ms`, ...).

use lambda_http::Context;
use tracing::Span;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The span the Lambda runtime opens per invocation. Its `requestId` and `xrayTraceId` are ours
/// again, under the names the runbook uses, in [`invocation_span`]; left in, every line would say
/// them twice.
const RUNTIME_SPAN: &str = "Lambda runtime invoke";

/// Installs the JSON logger for `function` (the level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`,
/// `info` by default). A second call changes nothing.
pub fn init(function: &'static str) {
    let filter = EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // `try_init` fails only when a subscriber is already set, which leaves logging working.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(json_lines(function, std::io::stdout))
        .try_init();
}

/// The JSON line format, writing to `writer` (stdout deployed; a buffer in tests).
pub fn json_lines<S, W>(function: &'static str, writer: W) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let mut layer = json_subscriber::JsonLayer::new(writer);
    // No timestamp: CloudWatch stamps every line.
    layer.with_level("level");
    layer.add_static_field("function", serde_json::Value::from(function));
    layer.with_top_level_flattened_span_list();
    layer.with_flattened_event();
    layer.with_filter(filter_fn(|metadata| {
        !(metadata.is_span() && metadata.name() == RUNTIME_SPAN)
    }))
}

/// The span of one invocation: every line logged inside it carries Lambda's request id and, when
/// there is one, the trace id.
pub fn invocation_span(context: Option<&Context>) -> Span {
    match context {
        Some(context) => tracing::info_span!(
            "invocation",
            aws_request_id = %context.request_id,
            trace_id = context.xray_trace_id.as_deref(),
        ),
        None => tracing::info_span!("invocation"),
    }
}
