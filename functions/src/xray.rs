//! X-Ray traces without a collector. With `Tracing: Active`, Lambda records each invocation's
//! segment and runs an X-Ray daemon beside the function (`AWS_XRAY_DAEMON_ADDRESS`); like the
//! X-Ray SDKs, we add our own subsegments by sending their documents to that daemon over UDP: one
//! per invocation, named after the function, with one nested in it per AWS call (DynamoDB, SQS):
//! operation, table, request id, status and retries. A send is one non-blocking datagram to the
//! daemon on the same host, so a request never waits on tracing, and a failed send loses a
//! trace, never an answer. Untraced functions and unsampled invocations send nothing.
//!
//! The invocation's subsegment is found by the AWS calls through a task-local, so work spawned
//! onto other tasks takes it along explicitly ([`in_current_subsegment`]).

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde::Serialize;
use std::future::Future;
use std::hash::BuildHasher;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where Lambda says its X-Ray daemon listens: `host:port`, or `tcp:host:port udp:host:port`.
pub const DAEMON_ADDRESS: &str = "AWS_XRAY_DAEMON_ADDRESS";

/// Every datagram starts with this line, then the document (the daemon's protocol).
const DATAGRAM_HEADER: &str = "{\"format\": \"json\", \"version\": 1}\n";

/// The X-Ray daemon, reached over UDP.
#[derive(Debug)]
pub struct XrayDaemon {
    socket: UdpSocket,
    address: SocketAddr,
}

impl XrayDaemon {
    /// The daemon Lambda runs beside a traced function; `None` when the function is not traced.
    /// A variable we cannot use is logged once and leaves the function untraced: traces are worth
    /// less than the function's availability.
    pub fn from_environment() -> Option<Arc<XrayDaemon>> {
        let value = std::env::var(DAEMON_ADDRESS).ok()?;
        let daemon = daemon_address(&value)
            .ok_or_else(|| std::io::Error::other("not host:port or udp:host:port"))
            .and_then(XrayDaemon::at);
        match daemon {
            Ok(daemon) => Some(Arc::new(daemon)),
            Err(error) => {
                tracing::error!(variable = DAEMON_ADDRESS, %value, %error, "X-Ray daemon unusable: not tracing");
                None
            }
        }
    }

    pub fn at(address: SocketAddr) -> std::io::Result<XrayDaemon> {
        let local: SocketAddr = if address.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let socket = UdpSocket::bind(local)?;
        socket.set_nonblocking(true)?;
        Ok(XrayDaemon { socket, address })
    }

    fn send(&self, subsegment: &Subsegment) {
        let Ok(document) = serde_json::to_string(subsegment) else {
            return;
        };
        let datagram = [DATAGRAM_HEADER, &document].concat();
        if let Err(error) = self.socket.send_to(datagram.as_bytes(), self.address) {
            tracing::debug!(%error, "X-Ray subsegment not sent");
        }
    }
}

/// The UDP address in the daemon variable's value.
fn daemon_address(value: &str) -> Option<SocketAddr> {
    let mut parts = value.split_whitespace();
    let udp = match (parts.next(), parts.next()) {
        (Some(only), None) => only.strip_prefix("udp:").unwrap_or(only),
        (Some(first), Some(second)) => [first, second].into_iter().find_map(|p| p.strip_prefix("udp:"))?,
        _ => return None,
    };
    udp.parse().ok()
}

/// What Lambda's trace header (`Root=1-...;Parent=...;Sampled=1`) says about this invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeader {
    pub root: String,
    pub parent: String,
    pub sampled: bool,
}

impl TraceHeader {
    /// `None` when the header lacks the trace id or the parent: nothing to attach to.
    pub fn parse(header: &str) -> Option<TraceHeader> {
        let (mut root, mut parent, mut sampled) = (None, None, false);
        for field in header.split(';') {
            match field.trim().split_once('=') {
                Some(("Root", value)) if is_trace_id(value) => root = Some(value),
                Some(("Parent", value)) if is_segment_id(value) => parent = Some(value),
                Some(("Sampled", value)) => sampled = value == "1",
                _ => {}
            }
        }
        Some(TraceHeader {
            root: root?.to_string(),
            parent: parent?.to_string(),
            sampled,
        })
    }
}

/// `1-<8 hex>-<24 hex>`: it goes into documents as is, so nothing else is let through.
fn is_trace_id(value: &str) -> bool {
    let mut parts = value.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("1"), Some(time), Some(random), None) if is_hex(time, 8) && is_hex(random, 24)
    )
}

fn is_segment_id(value: &str) -> bool {
    is_hex(value, 16)
}

fn is_hex(value: &str, len: usize) -> bool {
    value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A new subsegment id: 64 random bits in hex. Ids need to be unique, not secret; the standard
/// library's randomly keyed hasher gives that without another dependency.
fn new_segment_id() -> String {
    let bits = std::collections::hash_map::RandomState::new().hash_one(SystemTime::now());
    format!("{bits:016x}")
}

/// Seconds since the epoch, as X-Ray's documents count time. Wall-clock time is what a trace is
/// drawn on, so it is read here rather than from the app's clock.
fn epoch_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The subsegment an invocation's work runs in, and the AWS calls made in it so far.
#[derive(Debug, Clone)]
struct Current {
    calls: Arc<Mutex<Vec<Subsegment>>>,
}

tokio::task_local! {
    static CURRENT: Current;
}

/// The most AWS calls one invocation's document carries (about 300 bytes each, well inside a
/// datagram); a job that makes more shows its first ones.
const MAX_CALLS: usize = 100;

/// How an invocation ended, for its subsegment.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The HTTP status answered, for API functions.
    pub status: Option<u16>,
    /// Our request id (X-Request-Id), annotated so a trace is found by it.
    pub request_id: Option<String>,
    /// The invocation failed and will be retried as a whole.
    pub failed: bool,
}

/// Runs `work` as the invocation's subsegment `name` when the function is traced and the
/// invocation sampled; otherwise just runs it. The AWS calls made in it are nested in its
/// document, so an invocation is one datagram: each costs the sender a wake-up of the daemon.
pub async fn trace_invocation<F, T>(
    daemon: Option<&Arc<XrayDaemon>>,
    trace_header: Option<&str>,
    name: &str,
    work: F,
    outcome: impl FnOnce(&T) -> Outcome,
) -> T
where
    F: Future<Output = T>,
{
    let header = trace_header.and_then(TraceHeader::parse).filter(|h| h.sampled);
    let (Some(daemon), Some(header)) = (daemon, header) else {
        return work.await;
    };
    let current = Current { calls: Arc::default() };
    let started = SystemTime::now();
    let result = CURRENT.scope(current.clone(), work).await;
    let outcome = outcome(&result);
    let mut subsegment = Subsegment::new(name, started);
    subsegment.trace_id = Some(header.root);
    subsegment.parent_id = Some(header.parent);
    subsegment.kind = Some("subsegment");
    subsegment.flag(outcome.status.unwrap_or(if outcome.failed { 500 } else { 200 }));
    subsegment.fault |= outcome.failed;
    subsegment.http = outcome.status.map(Http::status);
    subsegment.annotations = outcome.request_id.map(|request_id| Annotations { request_id });
    if let Ok(mut calls) = current.calls.lock() {
        subsegment.subsegments = std::mem::take(&mut *calls);
    }
    daemon.send(&subsegment);
    result
}

/// `work`, to be spawned onto another task, still inside the current invocation's subsegment.
pub fn in_current_subsegment<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let current = CURRENT.try_with(Current::clone).ok();
    async move {
        match current {
            Some(current) => CURRENT.scope(current, work).await,
            None => work.await,
        }
    }
}

/// An SDK interceptor that records each AWS call made inside a traced invocation as a subsegment
/// of it; `table` is the table a DynamoDB client works on.
#[derive(Debug, Clone)]
pub struct AwsCalls {
    region: Option<String>,
    table: Option<String>,
}

impl AwsCalls {
    pub fn new(region: Option<String>, table: Option<String>) -> Self {
        AwsCalls { region, table }
    }
}

/// Kept in the call's config bag from its start to its end.
#[derive(Debug, Clone)]
struct CallStarted {
    at: SystemTime,
    attempts: u32,
}

impl Storable for CallStarted {
    type Storer = StoreReplace<Self>;
}

impl Intercept for AwsCalls {
    fn name(&self) -> &'static str {
        "XrayAwsCalls"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if CURRENT.try_with(|_| ()).is_ok() {
            cfg.interceptor_state().store_put(CallStarted {
                at: SystemTime::now(),
                attempts: 0,
            });
        }
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(started) = cfg.load::<CallStarted>().cloned() {
            cfg.interceptor_state().store_put(CallStarted {
                attempts: started.attempts + 1,
                ..started
            });
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Some(started), Ok(current)) = (cfg.load::<CallStarted>(), CURRENT.try_with(Current::clone)) else {
            return Ok(());
        };
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service(), m.name()))
            .unwrap_or(("AWS", "unknown"));
        let response = context.response();
        let mut call = Subsegment::new(xray_service_name(service), started.at);
        call.namespace = Some("aws");
        call.aws = Some(AwsCall {
            operation: operation.to_string(),
            region: self.region.clone(),
            request_id: response
                .and_then(|r| r.headers().get("x-amzn-requestid"))
                .filter(|id| id.len() <= 128)
                .map(str::to_string),
            retries: started.attempts.saturating_sub(1),
            table_name: self.table.clone(),
        });
        match response.map(|r| r.status().as_u16()) {
            Some(status) => {
                call.flag(status);
                call.http = Some(Http::status(status));
            }
            // No answer at all (timeout, connection refused): the call failed on our side of it.
            None => call.fault = context.output_or_error().is_some_and(|r| r.is_err()),
        }
        if let Ok(mut calls) = current.calls.lock() {
            if calls.len() < MAX_CALLS {
                calls.push(call);
            }
        }
        Ok(())
    }
}

/// The names X-Ray's service map gives AWS services, from the SDK's service ids.
fn xray_service_name(sdk_service: &str) -> &str {
    match sdk_service {
        "dynamodb" | "DynamoDB" => "DynamoDB",
        "sqs" | "SQS" => "SQS",
        other => other,
    }
}

/// A subsegment document. The invocation's is sent on its own (an "independent subsegment",
/// with its trace, parent and type); its AWS calls are nested in it, which implies those.
#[derive(Debug, Serialize)]
struct Subsegment {
    name: String,
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    start_time: f64,
    end_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    error: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    throttle: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    fault: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<Http>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aws: Option<AwsCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<Annotations>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subsegments: Vec<Subsegment>,
}

impl Subsegment {
    /// A subsegment from `started` until now, with a new id.
    fn new(name: &str, started: SystemTime) -> Self {
        Subsegment {
            name: name.to_string(),
            id: new_segment_id(),
            trace_id: None,
            parent_id: None,
            kind: None,
            start_time: epoch_seconds(started),
            end_time: epoch_seconds(SystemTime::now()),
            namespace: None,
            error: false,
            throttle: false,
            fault: false,
            http: None,
            aws: None,
            annotations: None,
            subsegments: Vec::new(),
        }
    }

    /// X-Ray's flags for an HTTP status: 4xx an error (429 also a throttle), 5xx a fault.
    fn flag(&mut self, status: u16) {
        self.error = (400..500).contains(&status);
        self.throttle = status == 429;
        self.fault = status >= 500;
    }
}

#[derive(Debug, Serialize)]
struct Http {
    response: HttpResponse,
}

impl Http {
    fn status(status: u16) -> Self {
        Http {
            response: HttpResponse { status },
        }
    }
}

#[derive(Debug, Serialize)]
struct HttpResponse {
    status: u16,
}

#[derive(Debug, Serialize)]
struct AwsCall {
    operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    retries: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    table_name: Option<String>,
}

#[derive(Debug, Serialize)]
struct Annotations {
    request_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambdas_trace_header_reads_as_root_parent_and_sampling() {
        let header = TraceHeader::parse(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:0",
        );
        assert_eq!(
            header,
            Some(TraceHeader {
                root: "1-5759e988-bd862e3fe1be46a994272793".into(),
                parent: "53995c3f42cd8ad8".into(),
                sampled: true,
            })
        );
        let unsampled =
            TraceHeader::parse("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0");
        assert_eq!(unsampled.map(|h| h.sampled), Some(false));
    }

    #[test]
    fn a_header_without_root_or_parent_or_with_hostile_values_is_nothing_to_attach_to() {
        for header in [
            "",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
            "Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a99427279\";Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8a\"}\n;Sampled=1",
        ] {
            assert_eq!(TraceHeader::parse(header), None, "{header:?}");
        }
    }

    #[test]
    fn the_daemon_address_is_host_port_or_its_udp_part() {
        let udp: SocketAddr = "169.254.79.129:2000".parse().unwrap();
        assert_eq!(daemon_address("169.254.79.129:2000"), Some(udp));
        assert_eq!(daemon_address("tcp:127.0.0.1:2001 udp:169.254.79.129:2000"), Some(udp));
        assert_eq!(daemon_address("udp:169.254.79.129:2000 tcp:127.0.0.1:2001"), Some(udp));
        assert_eq!(daemon_address("tcp:127.0.0.1:2001 tcp:127.0.0.1:2002"), None);
        assert_eq!(daemon_address("xray.local:2000"), None);
        assert_eq!(daemon_address(""), None);
    }

    #[test]
    fn segment_ids_are_16_hex_digits_and_differ() {
        let (a, b) = (new_segment_id(), new_segment_id());
        assert!(is_segment_id(&a) && is_segment_id(&b), "{a} {b}");
        assert_ne!(a, b);
    }

    #[test]
    fn statuses_set_xrays_flags() {
        let at = SystemTime::now();
        let mut subsegment = Subsegment::new("f", at);
        for (status, error, throttle, fault) in [
            (200, false, false, false),
            (404, true, false, false),
            (429, true, true, false),
            (503, false, false, true),
        ] {
            subsegment.flag(status);
            assert_eq!(
                (subsegment.error, subsegment.throttle, subsegment.fault),
                (error, throttle, fault),
                "{status}"
            );
        }
    }
}
