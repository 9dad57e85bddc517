//! The functions' metrics: the core's (`orderly_core::metrics`) written to stdout in CloudWatch's
//! Embedded Metric Format, which CloudWatch Logs turns into metrics with no API call and no agent.
//!
//! Each function installs one collector at its cold start ([`install`]); its runtime loop is
//! wrapped so that the collector is flushed after every invocation (`metrics_cloudwatch_embedded`'s
//! `MetricsService`, by way of its `service::run`/`run_http`): one JSON document per set of labels
//! that the invocation recorded (usually one to three lines), in the namespace `Orderly`, with the
//! function as the dimension `function` beside each metric's own labels, and Lambda's request id
//! and X-Ray trace id as the properties `aws_request_id` and `trace_id` (the names the log lines
//! use), so a metric's document leads to the invocation's log lines. A counter that did not move
//! in an invocation is left out of its document; a cold start writes its own document
//! (`cold_starts`).

use metrics_cloudwatch_embedded::{Builder, Collector};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Orderly";
/// The dimension that names the function, on every metric (the name the route table or the job
/// list gives it, as the log lines' `function` field).
pub const FUNCTION_DIMENSION: &str = "function";
/// The properties carrying Lambda's request id and the X-Ray trace id.
pub const REQUEST_ID_PROPERTY: &str = "aws_request_id";
pub const TRACE_ID_PROPERTY: &str = "trace_id";

/// Installs the EMF collector as the process's metrics recorder, for `function`. The recorder can
/// be installed once per process: a second call fails.
pub fn install(function: &'static str) -> Result<&'static Collector, lambda_http::Error> {
    let collector = Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension(FUNCTION_DIMENSION, function)
        .lambda_cold_start_metric(orderly_core::metrics::COLD_STARTS)
        .with_lambda_request_id(REQUEST_ID_PROPERTY)
        .with_lambda_xray_trace_id(TRACE_ID_PROPERTY)
        .init()?;
    orderly_core::metrics::describe();
    Ok(collector)
}
