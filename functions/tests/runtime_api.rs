//! A function's real binary under a Runtime API on 127.0.0.1 (the 2018-06-01 interface Lambda's
//! runtime polls), on DynamoDB Local: what its `main` wires up, seen from outside the process.
//! Every log line is JSON carrying the function, Lambda's request id and the trace id; a warning
//! about the environment is logged once, not per invocation (`cargo lambda watch` sets
//! `AWS_LAMBDA_MAX_CONCURRENCY`); traced, each sampled invocation reaches the X-Ray daemon as one
//! datagram with its DynamoDB call nested in it. A function that reads a secret at its cold start
//! runs on DynamoDB Local and moto's SSM at once, as the README's `cargo lambda watch` recipe has it.
//!
//! Needs DynamoDB Local and moto (`ORDERLY_TEST_DYNAMODB_ENDPOINT`, `ORDERLY_TEST_SSM_ENDPOINT`):
//! scripts/test starts both. Never skipped.

// A test: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use aws_sdk_ssm::types::ParameterType;
use serde_json::Value;
use std::collections::HashMap;
use std::io::Read;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

const PREFIX: &str = "/2018-06-01/runtime";
const ROOT: &str = "1-6948c0de-5b1c0a3e8d2f4a6b7c9e0d1f";

/// One invocation handed to the function.
struct Invocation {
    request_id: String,
    trace_header: String,
    event: Vec<u8>,
}

/// The Runtime API: hands out the queued invocations and collects the function's answers.
struct RuntimeApi {
    port: u16,
    queue: mpsc::UnboundedSender<Invocation>,
    answers: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    /// How many times the function has asked for its next invocation.
    polls: watch::Receiver<usize>,
}

impl RuntimeApi {
    async fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (queue, pending) = mpsc::unbounded_channel::<Invocation>();
        let (answered, answers) = mpsc::unbounded_channel();
        let (polled, polls) = watch::channel(0);
        let polled = Arc::new(polled);
        let pending = Arc::new(tokio::sync::Mutex::new(pending));
        tokio::spawn(async move {
            while let Ok((connection, _)) = listener.accept().await {
                tokio::spawn(serve(
                    connection,
                    Arc::clone(&pending),
                    answered.clone(),
                    Arc::clone(&polled),
                ));
            }
        });
        RuntimeApi {
            port,
            queue,
            answers: tokio::sync::Mutex::new(answers),
            polls,
        }
    }

    /// Waits until the function has asked for its next invocation `count` times. As on Lambda,
    /// which freezes the process then, an invocation's work (its metrics, its trace) is done only
    /// when the function asks for the next one, which may come after its answer.
    async fn wait_for_polls(&self, count: usize) {
        let mut polls = self.polls.clone();
        tokio::time::timeout(Duration::from_secs(60), polls.wait_for(|&n| n >= count))
            .await
            .expect("the function asks for its next invocation within a minute")
            .expect("the Runtime API is up");
    }

    /// Hands `event` to the function and waits for its answer (path kind, body).
    async fn invoke(&self, request_id: &str, trace_header: &str, event: &Value) -> (String, Value) {
        self.queue
            .send(Invocation {
                request_id: request_id.to_string(),
                trace_header: trace_header.to_string(),
                event: serde_json::to_vec(event).unwrap(),
            })
            .unwrap();
        let mut answers = self.answers.lock().await;
        tokio::time::timeout(Duration::from_secs(60), answers.recv())
            .await
            .expect("the function answers within a minute")
            .expect("an answer")
    }
}

/// One keep-alive connection of the runtime's HTTP client.
async fn serve(
    connection: TcpStream,
    pending: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>>,
    answered: mpsc::UnboundedSender<(String, Value)>,
    polled: Arc<watch::Sender<usize>>,
) {
    let mut connection = BufReader::new(connection);
    loop {
        let mut request_line = String::new();
        if connection.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            connection.read_line(&mut header).await.unwrap();
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        connection.read_exact(&mut body).await.unwrap();
        let path = request_line.split_whitespace().nth(1).unwrap_or_default().to_string();
        let reply = if path == format!("{PREFIX}/invocation/next") {
            polled.send_modify(|n| *n += 1);
            let Some(invocation) = pending.lock().await.recv().await else {
                return;
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 30_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: {}\r\n\
                 lambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:000000000000:function:test\r\n\
                 lambda-runtime-trace-id: {}\r\ncontent-length: {}\r\n\r\n",
                invocation.request_id,
                invocation.trace_header,
                invocation.event.len()
            );
            [head.into_bytes(), invocation.event].concat()
        } else {
            let kind = path.rsplit('/').next().unwrap_or_default().to_string();
            answered
                .send((kind, serde_json::from_slice(&body).unwrap_or(Value::Null)))
                .unwrap();
            b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}".to_vec()
        };
        if connection.get_mut().write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// What Lambda sets for function `name` on the harness's `table`, the Runtime API at `api`.
fn lambda_environment(api: &RuntimeApi, name: &str, table: &str) -> HashMap<&'static str, String> {
    HashMap::from([
        ("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port)),
        ("AWS_LAMBDA_FUNCTION_NAME", name.into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "test".into()),
        // The harness's credentials: DynamoDB Local keeps one database per access key and region.
        ("AWS_ACCESS_KEY_ID", "local".into()),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("TABLE_NAME", table.into()),
    ])
}

/// Starts the function `binary` with `env` alone of the AWS settings (none inherited).
fn start_function(binary: &str, env: HashMap<&'static str, String>) -> std::process::Child {
    let mut command = Command::new(binary);
    for (variable, _) in std::env::vars() {
        if variable.starts_with("AWS_") || variable == "RUST_LOG" {
            command.env_remove(variable);
        }
    }
    command
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {binary}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_products_binary_logs_every_id_once_per_line_warns_once_and_traces_each_sampled_invocation() {
    let h = Harness::new().await;
    let product = h.create_product(5).await;
    let mut get = event("get-product");
    set_path_parameter(&mut get, product["id"].as_str().unwrap());
    let api = RuntimeApi::start().await;
    let daemon = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut env = lambda_environment(&api, "get-product", &h.table);
    env.extend([
        ("AWS_LAMBDA_MAX_CONCURRENCY", "4".into()),
        ("AWS_XRAY_DAEMON_ADDRESS", daemon.local_addr().unwrap().to_string()),
        ("AWS_ENDPOINT_URL", endpoint()),
        // No secret: get-product reads none (nor SSM) at its cold start.
    ]);
    let mut function = start_function(env!("CARGO_BIN_EXE_get-product"), env);

    let invocations = 5;
    let mut answers = Vec::new();
    for n in 0..invocations {
        // Every other invocation sampled.
        let sampled = if n % 2 == 0 { "1" } else { "0" };
        let header = format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled={sampled}");
        answers.push(api.invoke(&format!("lambda-request-{n}"), &header, &get).await);
    }
    // The last invocation's metrics and trace are written after its answer, before the next poll.
    api.wait_for_polls(invocations + 1).await;
    let _ = function.kill();
    let _ = function.wait();
    let (mut stdout, mut stderr) = (String::new(), String::new());
    function.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    function.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    for (kind, answer) in &answers {
        assert_eq!(kind, "response", "{answer}");
        assert_eq!(answer["statusCode"], 200, "{answer}\n{stdout}{stderr}");
    }

    // Logs: JSON lines, the ids at the top level.
    let lines: Vec<Value> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let answered: Vec<&Value> = lines.iter().filter(|l| l["status"] == 200).collect();
    assert_eq!(answered.len(), invocations, "one answer line per invocation:\n{stdout}");
    for (n, line) in answered.iter().enumerate() {
        assert_eq!(line["function"], "get-product", "{line}");
        assert_eq!(line["aws_request_id"], format!("lambda-request-{n}"), "{line}");
        assert!(line["trace_id"].as_str().is_some_and(|t| t.contains(ROOT)), "{line}");
        assert!(line["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{line}");
    }
    // Metrics: EMF documents, written whole; the cold start counted once; each invocation's
    // `requests` document carrying its Lambda request id and trace id.
    let documents: Vec<&Value> = lines.iter().filter(|l| l.get("_aws").is_some()).collect();
    let cold_starts = documents.iter().filter(|d| d.get("cold_starts").is_some()).count();
    assert_eq!(cold_starts, 1, "the cold start once:\n{stdout}");
    for n in 0..invocations {
        let id = format!("lambda-request-{n}");
        let requests = documents
            .iter()
            .find(|d| d["aws_request_id"] == id.as_str() && d.get("requests").is_some())
            .unwrap_or_else(|| panic!("no requests document for {id}:\n{stdout}"));
        assert!(
            requests["trace_id"].as_str().is_some_and(|t| t.contains(ROOT)),
            "{requests}"
        );
        assert_eq!(requests["function"], "get-product", "{requests}");
    }
    let warnings = lines
        .iter()
        .filter(|l| l.to_string().contains("AWS_LAMBDA_MAX_CONCURRENCY"))
        .count();
    assert!(
        warnings <= 1,
        "a warning about the environment at most once, not per invocation:\n{stdout}{stderr}"
    );

    // X-Ray: one datagram per sampled invocation, the GetItem nested in it.
    daemon.set_nonblocking(true).unwrap();
    let mut buffer = [0u8; 65_536];
    let mut documents = Vec::new();
    while let Ok(length) = daemon.recv(&mut buffer) {
        let datagram = std::str::from_utf8(&buffer[..length]).unwrap();
        let (_, document) = datagram.split_once('\n').unwrap();
        documents.push(serde_json::from_str::<Value>(document).unwrap());
    }
    assert_eq!(
        documents.len(),
        3,
        "invocations 0, 2 and 4 were sampled: {documents:#?}"
    );
    for document in &documents {
        assert_eq!(document["name"], "get-product", "{document}");
        assert_eq!(document["trace_id"], ROOT, "{document}");
        assert_eq!(document["http"]["response"]["status"], 200, "{document}");
        assert_eq!(document["subsegments"][0]["aws"]["operation"], "GetItem", "{document}");
        assert_eq!(document["subsegments"][0]["aws"]["table_name"], h.table, "{document}");
    }
}

/// The README's `cargo lambda watch` recipe for a function that reads a secret at its cold start:
/// DynamoDB and SSM at two local endpoints at once, through the SDK's per-service variables
/// (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SSM`), where one `AWS_ENDPOINT_URL` would send
/// the secret's read to DynamoDB Local. Needs moto too (`ORDERLY_TEST_SSM_ENDPOINT`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_with_a_secret_runs_on_dynamodb_local_and_moto_at_once() {
    let h = Harness::new().await;
    let product = h.create_product(5).await;
    let parameter = fresh_name("cursor-key");
    put_parameter(&ssm(), &parameter, CURSOR_KEY, ParameterType::SecureString).await;
    let api = RuntimeApi::start().await;
    let mut env = lambda_environment(&api, "list-products", &h.table);
    env.extend([
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint()),
        ("AWS_ENDPOINT_URL_SSM", ssm_endpoint()),
        ("CURSOR_KEY_PARAMETER", parameter),
    ]);
    let mut function = start_function(env!("CARGO_BIN_EXE_list-products"), env);

    let header = format!("Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=0");
    let (kind, answer) = api.invoke("lambda-request-0", &header, &event("list-products")).await;
    let _ = function.kill();
    let _ = function.wait();
    let mut output = String::new();
    function.stderr.take().unwrap().read_to_string(&mut output).unwrap();
    function.stdout.take().unwrap().read_to_string(&mut output).unwrap();
    assert_eq!(kind, "response", "{answer}\n{output}");
    assert_eq!(answer["statusCode"], 200, "{answer}\n{output}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert!(
        body.to_string().contains(product["id"].as_str().unwrap()),
        "the product created on DynamoDB Local is listed: {body}"
    );
}
