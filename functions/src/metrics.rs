//! The functions' metrics: the core's (`orderly_core::metrics`) written to stdout in CloudWatch's
//! Embedded Metric Format, which CloudWatch Logs turns into metrics with no API call and no agent.
//!
//! Each function installs one collector at its cold start ([`install`]); its runtime loop is
//! wrapped so that the collector is flushed after every invocation ([`FlushAfterEach`]): one JSON
//! document per set of labels that the invocation recorded (usually one to three lines), in the
//! namespace `Orderly`, with the function as the dimension `function` beside each metric's own
//! labels, and Lambda's request id and X-Ray trace id as the properties `aws_request_id` and
//! `trace_id` (the names the log lines use), so a metric's document leads to the invocation's log
//! lines. A counter that did not move in an invocation is left out of its document; a cold start
//! writes its own document (`cold_starts`).

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::LambdaInvocation;
use metrics_cloudwatch_embedded::{Builder, Collector};
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
pub fn install(function: &'static str) -> Result<&'static Collector, lambda_runtime::Error> {
    // Lambda's request and trace ids and the cold start are [`FlushAfterEach`]'s to write.
    let collector = Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension(FUNCTION_DIMENSION, function)
        .init()?;
    orderly_core::metrics::describe();
    Ok(collector)
}

/// The runtime layer that writes an invocation's metrics after it is answered (Lambda's request
/// id and trace id as properties, the cold start counted once), each document serialised in memory
/// and written to stdout in one call. Not `metrics_cloudwatch_embedded`'s own layer: it serialised
/// straight into stdout, some two hundred small writes per invocation through stdout's lock and
/// line buffer, 4 % of a warm get-product's instructions (docs/BENCHMARKS.md, side by side), and
/// it brought lambda_http into every function.
pub struct FlushAfterEach {
    collector: &'static Collector,
}

impl FlushAfterEach {
    pub fn new(collector: &'static Collector) -> Self {
        FlushAfterEach { collector }
    }
}

impl<S> Layer<S> for FlushAfterEach {
    type Service = Flushing<S>;

    fn layer(&self, inner: S) -> Flushing<S> {
        Flushing {
            collector: self.collector,
            inner,
            cold: true,
        }
    }
}

/// See [`FlushAfterEach`].
pub struct Flushing<S> {
    collector: &'static Collector,
    inner: S,
    cold: bool,
}

impl<S> Service<LambdaInvocation> for Flushing<S>
where
    S: Service<LambdaInvocation, Response = (), Error = BoxError>,
    S::Future: 'static,
{
    type Response = ();
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<(), BoxError>>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let collector = self.collector;
        collector.set_property(REQUEST_ID_PROPERTY, invocation.context.request_id.clone());
        collector.set_property(TRACE_ID_PROPERTY, invocation.context.xray_trace_id.clone());
        if std::mem::take(&mut self.cold) {
            let mut document = Vec::new();
            let counted = collector.write_single(
                orderly_core::metrics::COLD_STARTS,
                Some(metrics::Unit::Count),
                1,
                &mut document,
            );
            if counted.is_ok() {
                write_to_stdout(&document);
            }
        }
        let answer = self.inner.call(invocation);
        Box::pin(async move {
            let answered = answer.await;
            write_metrics(collector);
            answered
        })
    }
}

/// The collector's documents since the last flush, in one write. A document that cannot be
/// written is lost, never the invocation: there is nowhere else to report it.
fn write_metrics(collector: &Collector) {
    let mut documents = Vec::with_capacity(1024);
    if collector.flush(&mut documents).is_ok() {
        write_to_stdout(&documents);
    }
}

fn write_to_stdout(bytes: &[u8]) {
    if !bytes.is_empty() {
        let _ = std::io::stdout().lock().write_all(bytes);
    }
}
