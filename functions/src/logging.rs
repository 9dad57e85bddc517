//! The functions' log lines: one JSON object per line with every field at the top level, so one
//! CloudWatch Logs Insights filter on any of them finds a request's whole story: `function`,
//! the invocation's `aws_request_id` and `trace_id` (X-Ray's, when the function is traced), our
//! `request_id` (X-Request-Id), and each line's own fields (`operation`, `status`, `latency_ms`, ...).

use lambda_runtime::Context;
use tracing::level_filters::LevelFilter;
use tracing::Span;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Installs the JSON logger for `function` (the level from `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG`,
/// `info` by default). A second call changes nothing.
pub fn init(function: &'static str) {
    let level = log_level(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    // `try_init` fails only when a subscriber is already set, which leaves logging working.
    let _ = tracing_subscriber::registry()
        .with(level)
        .with(json_lines(function, std::io::stdout))
        .try_init();
}

/// The level of Lambda's log-level setting (`AWS_LAMBDA_LOG_LEVEL`: TRACE, DEBUG, INFO, WARN,
/// ERROR or FATAL, from the template's `ApplicationLogLevel`), else of `RUST_LOG` when it is one
/// bare level, else `info`. One level for the whole function, not `RUST_LOG`'s per-module
/// directives: their parser (EnvFilter's regular expressions) was 0.15 MB of every binary for a
/// setting Lambda never gives (docs/BENCHMARKS.md, binary sizes).
fn log_level(lambda: Option<&str>, rust_log: Option<&str>) -> LevelFilter {
    let parse = |text: &str| match text.trim().to_ascii_lowercase().as_str() {
        "fatal" => Some(LevelFilter::ERROR),
        other => other.parse::<LevelFilter>().ok(),
    };
    lambda
        .and_then(parse)
        .or_else(|| rust_log.and_then(parse))
        .unwrap_or(LevelFilter::INFO)
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
    layer
}

/// The span of one invocation: every line logged inside it carries Lambda's request id and, when
/// there is one, the trace id.
pub fn invocation_span(context: &Context) -> Span {
    tracing::info_span!(
        "invocation",
        aws_request_id = %context.request_id,
        trace_id = context.xray_trace_id.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_is_lambda_s_setting_then_a_bare_rust_log_then_info() {
        assert_eq!(log_level(Some("DEBUG"), Some("error")), LevelFilter::DEBUG);
        assert_eq!(log_level(Some("FATAL"), None), LevelFilter::ERROR);
        assert_eq!(log_level(Some("WARN"), None), LevelFilter::WARN);
        assert_eq!(log_level(None, Some("trace")), LevelFilter::TRACE);
        // Per-module directives are not levels: the default holds.
        assert_eq!(log_level(None, Some("orderly=debug,aws=warn")), LevelFilter::INFO);
        assert_eq!(log_level(Some("loud"), None), LevelFilter::INFO);
        assert_eq!(log_level(None, None), LevelFilter::INFO);
    }
}
