//! Test support for the Lambda functions: every function of the route table built on a fresh table of
//! DynamoDB Local, the sample events of `events/` loaded and adapted to live data, and each call
//! made exactly as the runtime makes it: JSON event → `GatewayRequest` → `Function::handle` (or,
//! for the `$default` route, `answer_unrouted`) → the JSON answer API Gateway is given.
//! Without DynamoDB Local the tests fail, loudly and with the fix; they never skip.

#![allow(dead_code)] // not every test binary that includes this module uses every helper

use aws_sdk_ssm::types::ParameterType;
use http::HeaderMap;
use orderly_core::api::routes::UNROUTED_FUNCTION;
use orderly_core::api::ApiResponse;
use orderly_core::api::{Route, ROUTES};
use orderly_core::auth::webhook;
use orderly_core::config::{Secret, Secrets};
use orderly_core::domain::Timestamp;
use orderly_core::ports::{Clock, SystemClock};
use orderly_functions::xray::{AwsCalls, XrayDaemon};
use orderly_functions::{Context, Function, FunctionConfig, GatewayRequest, GatewayResponse};
use orderly_store_dynamodb::table;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

/// The webhook secret payment-webhook is configured with (deployed, read from SSM).
pub const WEBHOOK_SECRET: &str = "whsec_functions_handler_tests_0123456789";

/// The key the list functions sign their cursors with (deployed, read from SSM).
pub const CURSOR_KEY: &str = "cursor_key_functions_handler_tests_0123456789";

/// The secrets the function serving `route` is given: those its route uses, as its cold start
/// would read them, and no other.
pub fn secrets_for(route: &Route) -> Secrets {
    let uses = route.secrets();
    Secrets {
        webhook_secret: uses.webhook_secret.then(|| Secret::new(WEBHOOK_SECRET)),
        cursor_key: uses.cursor_key.then(|| Secret::new(CURSOR_KEY)),
    }
}

pub use orderly_store_dynamodb::local::client_for;

pub fn endpoint() -> String {
    orderly_store_dynamodb::local::endpoint_from_environment().unwrap_or_else(|why| panic!("{why}"))
}

/// `events/`, next to `functions/`.
pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("events")
}

/// `events/<name>.json`, parsed.
pub fn event(name: &str) -> Value {
    let path = events_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The route function `name` serves.
pub fn route_named(name: &str) -> &'static Route {
    Route::named(name).unwrap_or_else(|| panic!("{name} is no route's function"))
}

pub fn now() -> Timestamp {
    SystemClock.now()
}

/// Invokes the `$default` route's function (`UNROUTED_FUNCTION`) with `event`, as the runtime does.
pub async fn call_unrouted(event: &Value) -> Reply {
    invoke(UNROUTED_FUNCTION, event, None, |request, context| async move {
        orderly_functions::answer_unrouted(request, &context)
    })
    .await
}

/// Invokes `function`, built by the test itself (not the harness's), as the runtime does.
pub async fn call_function(function: &Function, name: &str, event: &Value) -> Reply {
    invoke(name, event, None, |request, context| async move {
        function.handle(request, &context).await
    })
    .await
}

/// JSON event → `GatewayRequest` (with Lambda's X-Ray trace header in its context, when given) →
/// `handler` → the JSON answer the runtime would hand API Gateway → the reply; every response
/// must carry a valid `x-request-id`.
async fn invoke<F, Fut>(name: &str, event: &Value, trace_header: Option<&str>, handler: F) -> Reply
where
    F: FnOnce(GatewayRequest, Context) -> Fut,
    Fut: Future<Output = ApiResponse>,
{
    let text = serde_json::to_string(event).unwrap_or_else(|e| panic!("{name}: serialising the event: {e}"));
    let request: GatewayRequest =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: the event is no HTTP API request: {e}\n{text}"));
    let mut context = Context::default();
    context.xray_trace_id = trace_header.map(str::to_string);
    let (status, headers, raw) = as_api_gateway_reads_it(name, handler(request, context).await);
    let body = if raw.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{name}: the response body is not JSON ({e}): {raw}"))
    };
    let reply = Reply {
        function: name.to_string(),
        status,
        headers,
        body,
        raw,
        request: text,
    };
    let request_id = reply
        .header("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id: {reply}"));
    assert!(
        (1..=128).contains(&request_id.len())
            && request_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')),
        "x-request-id {request_id:?} is not 1-128 chars of [A-Za-z0-9._-]: {reply}"
    );
    reply
}

/// The answer as the runtime sends it and API Gateway reads it (payload format 2.0): its status,
/// headers and body text, from the JSON a function's runtime loop writes.
fn as_api_gateway_reads_it(name: &str, response: ApiResponse) -> (u16, HeaderMap, String) {
    let wire = serde_json::to_value(GatewayResponse(response)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        wire["isBase64Encoded"], false,
        "{name}: JSON answers go back as text: {wire}"
    );
    let status = wire["statusCode"]
        .as_u64()
        .and_then(|status| u16::try_from(status).ok())
        .unwrap_or_else(|| panic!("{name}: no statusCode: {wire}"));
    let mut headers = HeaderMap::new();
    for (header, value) in wire["headers"]
        .as_object()
        .unwrap_or_else(|| panic!("{name}: no headers: {wire}"))
    {
        let value = value
            .as_str()
            .unwrap_or_else(|| panic!("{name}: header {header} is no string: {wire}"));
        headers.insert(
            http::HeaderName::from_bytes(header.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}")),
            http::HeaderValue::from_str(value).unwrap_or_else(|e| panic!("{name}: {e}")),
        );
    }
    let body = wire.get("body").map_or(String::new(), |body| {
        body.as_str()
            .unwrap_or_else(|| panic!("{name}: body is no string: {wire}"))
            .to_string()
    });
    (status, headers, body)
}

/// A fresh ULID, as the placeholders of the events and the server's ids are.
pub fn fresh_ulid() -> String {
    ulid::Ulid::new().to_string()
}

/// Every function of the route table, each configured as its cold start would configure it, all on one
/// brand-new table.
pub struct Harness {
    pub table: String,
    /// The core as every function runs it, for the jobs, which are not HTTP functions.
    pub app: std::sync::Arc<orderly_core::App>,
    functions: HashMap<&'static str, Function>,
}

impl Harness {
    pub async fn new() -> Self {
        Harness::with_vars(&[]).await
    }

    /// A harness whose functions are configured with these extra variables too.
    pub async fn with_vars(extra: &[(&str, &str)]) -> Self {
        Harness::build(extra, None).await
    }

    /// A harness whose functions record each sampled invocation and its DynamoDB calls in X-Ray,
    /// sending to `daemon`, as their cold start does when the function is traced.
    pub async fn traced(daemon: Arc<XrayDaemon>) -> Self {
        Harness::build(&[], Some(daemon)).await
    }

    async fn build(extra: &[(&str, &str)], xray: Option<Arc<XrayDaemon>>) -> Self {
        let client = client_for(&endpoint());
        let table_name = format!("orderly-functions-test-{}", fresh_ulid().to_lowercase());
        table::create_table(&client, &table_name)
            .await
            .unwrap_or_else(|e| panic!("creating table {table_name} on DynamoDB Local failed: {e}"));
        let client = match xray {
            Some(_) => {
                let calls = AwsCalls::new(Some("us-east-1".into()), Some(table_name.clone()));
                orderly_store_dynamodb::Client::from_conf(client.config().to_builder().interceptor(calls).build())
            }
            None => client,
        };
        let vars: HashMap<String, String> = [("TABLE_NAME", table_name.as_str())]
            .into_iter()
            .chain(extra.iter().copied())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let functions = ROUTES
            .iter()
            .map(|route| {
                let name = route.function;
                let config = FunctionConfig::from_vars(&vars, secrets_for(route))
                    .unwrap_or_else(|e| panic!("{name}: configuration: {e}"));
                let function = Function::new(route, config.app_with(client.clone()));
                let function = match &xray {
                    Some(daemon) => function.traced(Arc::clone(daemon)),
                    None => function,
                };
                (name, function)
            })
            .collect();
        // The jobs' app: no job verifies a webhook or signs a cursor, so it holds no secret.
        let app = FunctionConfig::from_vars(&vars, Secrets::default())
            .unwrap_or_else(|e| panic!("configuration: {e}"))
            .app_with(client.clone());
        Harness {
            table: table_name,
            app: std::sync::Arc::new(app),
            functions,
        }
    }

    /// Invokes function `name` with `event` (an API Gateway HTTP API payload 2.0 event), the way the
    /// Lambda runtime does. Every response must carry a valid `x-request-id`.
    pub async fn call(&self, name: &str, event: &Value) -> Reply {
        let function = self
            .functions
            .get(name)
            .unwrap_or_else(|| panic!("{name} is no route's function"));
        invoke(name, event, None, |request, context| async move {
            function.handle(request, &context).await
        })
        .await
    }

    /// Invokes function `name` as [`Harness::call`] does, with Lambda's X-Ray trace header.
    pub async fn call_traced(&self, name: &str, event: &Value, trace_header: &str) -> Reply {
        let function = self.function(name);
        invoke(name, event, Some(trace_header), |request, context| async move {
            function.handle(request, &context).await
        })
        .await
    }

    /// The function `name`, as its cold start built it.
    pub fn function(&self, name: &str) -> &Function {
        self.functions
            .get(name)
            .unwrap_or_else(|| panic!("{name} is no route's function"))
    }

    /// Calls `name` and checks the status, with the whole exchange in the message when it is not.
    pub async fn expect(&self, name: &str, event: &Value, status: u16) -> Reply {
        let reply = self.call(name, event).await;
        reply.assert_status(status);
        reply
    }

    /// A product created through create-product's own event, with a fresh SKU.
    pub async fn create_product(&self, stock: i64) -> Value {
        let mut ev = event("create-product");
        let mut body = body_json(&ev);
        body["sku"] = json!(fresh_sku());
        body["stock"] = json!(stock);
        set_body(&mut ev, &body);
        self.expect("create-product", &ev, 201).await.body
    }

    /// An order placed through create-order's event by the caller of `caller_event`.
    pub async fn place_order(&self, caller_event: &Value, product_id: &str, quantity: i64) -> Value {
        let mut ev = event("create-order");
        act_as(&mut ev, caller_event);
        set_body(
            &mut ev,
            &json!({"items": [{"product_id": product_id, "quantity": quantity}]}),
        );
        set_header(&mut ev, "idempotency-key", &fresh_ulid());
        self.expect("create-order", &ev, 201).await.body
    }

    /// payment-webhook's event carrying a `payment.succeeded` for `order`, signed now.
    pub fn payment_event(order: &Value) -> Value {
        let mut ev = event("payment-webhook");
        let mut body = body_json(&ev);
        body["id"] = json!(format!("evt_{}", fresh_ulid()));
        body["type"] = json!("payment.succeeded");
        body["order_id"] = order["id"].clone();
        body["amount_cents"] = order["total_cents"].clone();
        body["currency"] = order["currency"].clone();
        set_body(&mut ev, &body);
        sign_webhook(&mut ev);
        ev
    }

    /// Pays `order` through the webhook and returns the order as its owner now reads it.
    pub async fn pay(&self, owner_event: &Value, order: &Value) -> Value {
        let reply = self.expect("payment-webhook", &Self::payment_event(order), 200).await;
        assert_eq!(reply.body, json!({"received": true}), "{reply}");
        let mut get = event("get-order");
        act_as(&mut get, owner_event);
        set_path_parameter(&mut get, order_id(order));
        let paid = self.expect("get-order", &get, 200).await.body;
        assert_eq!(paid["status"], "paid", "after the webhook: {paid}");
        paid
    }

    pub async fn product(&self, id: &str) -> Value {
        let mut ev = event("get-product");
        set_path_parameter(&mut ev, id);
        self.expect("get-product", &ev, 200).await.body
    }
}

fn order_id(order: &Value) -> &str {
    order["id"]
        .as_str()
        .unwrap_or_else(|| panic!("the order has no id: {order}"))
}

pub fn fresh_sku() -> String {
    format!("SKU-{}", &fresh_ulid()[14..])
}

/// A function's answer.
pub struct Reply {
    pub function: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: String,
    /// The event that produced it, for failure messages.
    pub request: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| {
            v.to_str()
                .unwrap_or_else(|_| panic!("{}: header {name} is not visible ASCII", self.function))
        })
    }

    pub fn assert_status(&self, status: u16) {
        assert_eq!(self.status, status, "unexpected status from {self}");
    }

    /// An RFC 9457 problem with this status and `/problems/<slug>`.
    pub fn assert_problem(&self, status: u16, slug: &str) {
        self.assert_status(status);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "not a problem: {self}"
        );
        assert_eq!(self.body["type"], format!("/problems/{slug}"), "{self}");
        assert_eq!(self.body["status"], status, "{self}");
        assert!(self.body["title"].is_string(), "{self}");
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: status {}\nresponse headers: {:?}\nresponse body: {}\nrequest event: {}",
            self.function, self.status, self.headers, self.raw, self.request
        )
    }
}

// ---- editing events ----

fn object_at<'v>(event: &'v mut Value, pointer: &str) -> &'v mut Map<String, Value> {
    event
        .pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("the event has no object at {pointer}"))
}

/// The event's `body`, parsed (the sample events are not base64-encoded).
pub fn body_json(event: &Value) -> Value {
    let body = event["body"]
        .as_str()
        .unwrap_or_else(|| panic!("the event has no body: {event}"));
    serde_json::from_str(body).unwrap_or_else(|e| panic!("the event's body is not JSON ({e}): {body}"))
}

/// Replaces the body with `value` as JSON text, as API Gateway delivers it.
/// `event` with `query` as its query string, raw and parsed, as API Gateway passes both.
pub fn with_query(mut event: Value, query: &str) -> Value {
    event["rawQueryString"] = json!(query);
    let parameters: Map<String, Value> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    event["queryStringParameters"] = Value::Object(parameters);
    event
}

pub fn set_body(event: &mut Value, value: &Value) {
    set_raw_body(event, &value.to_string());
}

/// Replaces the body with `text`, not base64-encoded, and its `content-length`.
pub fn set_raw_body(event: &mut Value, text: &str) {
    event["body"] = json!(text);
    event["isBase64Encoded"] = json!(false);
    set_header(event, "content-length", &text.len().to_string());
}

pub fn set_header(event: &mut Value, name: &str, value: &str) {
    object_at(event, "/headers").insert(name.to_string(), json!(value));
}

pub fn remove_header(event: &mut Value, name: &str) {
    object_at(event, "/headers").remove(name);
}

/// Replaces the route's one path parameter (`{id}` or `{date}`) with `value`, in `pathParameters`,
/// `rawPath` and `requestContext.http.path`, as API Gateway would have delivered it.
pub fn set_path_parameter(event: &mut Value, value: &str) {
    let parameters = object_at(event, "/pathParameters");
    assert_eq!(parameters.len(), 1, "one path parameter expected: {parameters:?}");
    let (name, old) = parameters
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap_or_default();
    let old = old
        .as_str()
        .unwrap_or_else(|| panic!("pathParameters.{name} is not a string"))
        .to_string();
    parameters.insert(name, json!(value));
    for pointer in ["/rawPath", "/requestContext/http/path"] {
        let path = event
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("the event has no {pointer}"));
        let text = path
            .as_str()
            .unwrap_or_else(|| panic!("{pointer} is not a string"))
            .to_string();
        assert!(text.contains(&old), "{pointer} {text} does not contain {old}");
        *path = json!(text.replace(&old, value));
    }
}

/// Sets both paths (`rawPath` and `requestContext.http.path`) and the stage.
pub fn set_path_and_stage(event: &mut Value, path: &str, stage: &str) {
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["requestContext"]["stage"] = json!(stage);
}

/// The verified claims of a protected route's event.
pub fn claims(event: &Value) -> &Map<String, Value> {
    event
        .pointer("/requestContext/authorizer/jwt/claims")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("the event has no JWT claims"))
}

pub fn sub(event: &Value) -> String {
    claims(event)["sub"]
        .as_str()
        .unwrap_or_else(|| panic!("sub is not a string"))
        .to_string()
}

pub fn set_claim(event: &mut Value, name: &str, value: &str) {
    object_at(event, "/requestContext/authorizer/jwt/claims").insert(name.to_string(), json!(value));
}

pub fn remove_claim(event: &mut Value, name: &str) {
    object_at(event, "/requestContext/authorizer/jwt/claims").remove(name);
}

/// Makes `event` come from the caller of `caller_event` (its whole authorizer context).
pub fn act_as(event: &mut Value, caller_event: &Value) {
    let authorizer = caller_event
        .pointer("/requestContext/authorizer")
        .cloned()
        .unwrap_or_else(|| panic!("the caller's event has no authorizer"));
    object_at(event, "/requestContext").insert("authorizer".into(), authorizer);
}

/// Signs the webhook event's raw body (decoded first when base64) with [`WEBHOOK_SECRET`], now.
pub fn sign_webhook(event: &mut Value) {
    let body = event["body"].as_str().unwrap_or("").to_string();
    let raw = if event["isBase64Encoded"] == json!(true) {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(&body)
            .unwrap_or_else(|e| panic!("the body is not base64: {e}"))
    } else {
        body.into_bytes()
    };
    let signature = webhook::sign(&Secret::new(WEBHOOK_SECRET), &raw, now());
    set_header(event, "webhook-signature", &signature);
}

/// Makes the body base64-encoded, as API Gateway does for a binary media type.
pub fn encode_body_base64(event: &mut Value) {
    use base64::Engine;
    let body = event["body"]
        .as_str()
        .unwrap_or_else(|| panic!("the event has no body"))
        .to_string();
    event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body.as_bytes()));
    event["isBase64Encoded"] = json!(true);
}

// ---- SSM (moto's), where deployed functions read their secrets ----

/// Where moto's SSM answers: scripts/test starts moto and sets it.
const SSM_ENDPOINT_VARIABLE: &str = "ORDERLY_TEST_SSM_ENDPOINT";

pub fn ssm_endpoint() -> String {
    let endpoint = std::env::var(SSM_ENDPOINT_VARIABLE).unwrap_or_else(|_| {
        panic!(
            "{SSM_ENDPOINT_VARIABLE} is not set: run the tests with scripts/test, which installs and starts \
             moto, or start it with `scripts/moto start <dir>` and export the endpoint it prints"
        )
    });
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "the tests only talk to 127.0.0.1, not {endpoint}"
    );
    endpoint
}

pub fn ssm_at(endpoint: &str) -> aws_sdk_ssm::Client {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .http_client(orderly_store_dynamodb::client::https_client())
        .region(aws_sdk_ssm::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ssm::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .build();
    aws_sdk_ssm::Client::from_conf(config)
}

pub fn ssm() -> aws_sdk_ssm::Client {
    ssm_at(&ssm_endpoint())
}

/// A parameter name of this test's own, in the template's default shape.
pub fn fresh_name(what: &str) -> String {
    format!("/orderly/test-{}/{what}", fresh_ulid().to_lowercase())
}

pub async fn put_parameter(ssm: &aws_sdk_ssm::Client, name: &str, value: &str, kind: ParameterType) {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(kind)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "putting {name} into moto's SSM: {}",
                aws_sdk_ssm::error::DisplayErrorContext(&e)
            )
        });
}
