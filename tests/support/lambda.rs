//! The functions as Lambda runs them: each built bootstrap (`target/<profile>/fig-*`) started
//! as a process under a small Lambda Runtime API emulator, with the environment Lambda gives
//! it, and invoked with the events Lambda sends (API Gateway HTTP API payload 2.0, DynamoDB
//! Streams, a schedule).
//!
//! The emulator serves the Runtime API's four routes (`invocation/next`, `…/response`,
//! `…/error`, `init/error`) on a free loopback port, hands out one queued event per poll and
//! records when the process first polled (the end of its cold start).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio::sync::{Notify, oneshot};

/// The four function binaries the SAM template deploys.
pub const FUNCTIONS: [&str; 4] = ["fig-auth", "fig-settings", "fig-admin", "fig-events"];

/// What a function answered to one invocation.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `POST /runtime/invocation/{id}/response`: the function's result.
    Response(Value),
    /// `POST /runtime/invocation/{id}/error`: the error it reported.
    Error(Value),
}

impl Outcome {
    /// The result of a successful invocation; panics with the error otherwise.
    pub fn response(self) -> Value {
        match self {
            Self::Response(v) => v,
            Self::Error(e) => panic!("the invocation failed: {e}"),
        }
    }
}

#[derive(Default)]
struct ApiState {
    /// Each invocation's time (`lambda-runtime-deadline-ms`: when it is handed out plus this).
    timeout: Duration,
    queue: Mutex<VecDeque<(String, Value)>>,
    queued: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    first_poll: Mutex<Option<Instant>>,
    polled: Notify,
    init_error: Mutex<Option<(HeaderMap, Value)>>,
    init_failed: Notify,
}

/// A Lambda Runtime API for one function process.
pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    state: Arc<ApiState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(state): State<Arc<ApiState>>) -> Response {
    {
        let mut first = state.first_poll.lock().unwrap();
        if first.is_none() {
            *first = Some(Instant::now());
            state.polled.notify_waiters();
        }
    }
    loop {
        let notified = state.queued.notified();
        if let Some((id, event)) = state.queue.lock().unwrap().pop_front() {
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                + state.timeout;
            return (
                [
                    ("lambda-runtime-aws-request-id", id.clone()),
                    (
                        "lambda-runtime-deadline-ms",
                        deadline.as_millis().to_string(),
                    ),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:000000000000:function:fig-test".to_owned(),
                    ),
                    (
                        "lambda-runtime-trace-id",
                        format!("Root=1-00000000-{id};Sampled=0"),
                    ),
                    ("content-type", "application/json".to_owned()),
                ],
                serde_json::to_vec(&event).unwrap(),
            )
                .into_response();
        }
        notified.await;
    }
}

fn finish(state: &ApiState, id: &str, outcome: Outcome) -> StatusCode {
    match state.waiting.lock().unwrap().remove(id) {
        Some(tx) => {
            let _ = tx.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json_of(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into()))
}

async fn respond(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&state, &id, Outcome::Response(json_of(&body)))
}

async fn fail(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&state, &id, Outcome::Error(json_of(&body)))
}

async fn init_error(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    *state.init_error.lock().unwrap() = Some((headers, json_of(&body)));
    state.init_failed.notify_waiters();
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    /// Serves a Runtime API on a free loopback port; each invocation has `timeout` (the
    /// function's timeout) from when it is handed out.
    pub async fn start(timeout: Duration) -> Self {
        let state = Arc::new(ApiState {
            timeout,
            ..ApiState::default()
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            address,
            state,
            server,
        }
    }

    /// Queues an event and waits for the function's answer.
    pub async fn invoke(&self, event: Value) -> Outcome {
        let id = ulid::Ulid::new().to_string().to_lowercase();
        let (tx, rx) = oneshot::channel();
        self.state.waiting.lock().unwrap().insert(id.clone(), tx);
        self.state.queue.lock().unwrap().push_back((id, event));
        self.state.queued.notify_waiters();
        tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("the function answered within 60 s")
            .expect("the function answered")
    }

    /// When the process first asked for an event (waits for it).
    pub async fn first_poll(&self) -> Instant {
        loop {
            let polled = self.state.polled.notified();
            if let Some(at) = *self.state.first_poll.lock().unwrap() {
                return at;
            }
            polled.await;
        }
    }

    /// The start-up failure the process reported, if it reported one.
    pub fn init_error(&self) -> Option<(HeaderMap, Value)> {
        self.state.init_error.lock().unwrap().clone()
    }
}

/// The directory of the binaries built with the tests (`target/debug`): the test executable
/// lives in its `deps/`.
pub fn binary_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The path of a built function binary; panics with the command that builds it.
pub fn binary(name: &str) -> PathBuf {
    let path = binary_dir().join(name);
    assert!(
        path.exists(),
        "{} is not built: `cargo build -p {name}` (make test builds every function first)",
        path.display()
    );
    path
}

/// This machine's CA bundle, for `SSL_CERT_FILE` as the template sets it on Lambda (Amazon
/// Linux 2023's `/etc/pki/tls/certs/ca-bundle.crt`): the one set here, or the first found.
fn ca_bundle() -> std::ffi::OsString {
    std::env::var_os("SSL_CERT_FILE").unwrap_or_else(|| {
        [
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/pki/tls/certs/ca-bundle.crt",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("/etc/ssl/certs/ca-certificates.crt")
        .into()
    })
}

/// How a process that stopped ended.
#[derive(Debug)]
pub struct Exited {
    /// Its exit status.
    pub status: std::process::ExitStatus,
    /// Its standard output.
    pub log: String,
    /// The headers and body of its `init/error` report, if it sent one.
    pub init_error: Option<(HeaderMap, Value)>,
}

/// A function process under its own Runtime API.
pub struct Function {
    /// Its Runtime API.
    pub api: RuntimeApi,
    /// The process.
    pub child: std::process::Child,
    /// When it was started.
    pub started: Instant,
    /// Its standard output (the JSON log lines), in `target/<profile>/lambda-test-logs/`.
    pub log: PathBuf,
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Function {
    /// Starts `binary` with Lambda's environment, the given settings and the emulator's AWS
    /// endpoint (unless `env` names another).
    pub async fn start(name: &str, env: &[(String, String)]) -> Self {
        Self::start_with_timeout(name, env, Duration::from_secs(30)).await
    }

    /// [`Function::start`] with each invocation limited to `timeout`.
    pub async fn start_with_timeout(
        name: &str,
        env: &[(String, String)],
        timeout: Duration,
    ) -> Self {
        let api = RuntimeApi::start(timeout).await;
        let logs = binary_dir().join("lambda-test-logs");
        std::fs::create_dir_all(&logs).unwrap();
        let log = logs.join(format!(
            "{name}-{}.log",
            ulid::Ulid::new().to_string().to_lowercase()
        ));
        let mut command = std::process::Command::new(binary(name));
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &api.address)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env(
                "AWS_ENDPOINT_URL",
                std::env::var("AWS_ENDPOINT_URL")
                    .unwrap_or_else(|_| fig_gateway::DEFAULT_ENDPOINT.to_owned()),
            )
            .env("RUST_LOG", "info")
            .env("SSL_CERT_FILE", ca_bundle())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::process::Stdio::inherit());
        let started = Instant::now();
        let child = command.spawn().unwrap();
        Self {
            api,
            child,
            started,
            log,
        }
    }

    /// Invokes the function once.
    pub async fn invoke(&self, event: Value) -> Outcome {
        self.api.invoke(event).await
    }

    /// Waits for the process to exit (a failed start-up).
    pub async fn exit(mut self) -> Exited {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the process exited within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Exited {
            status,
            log: std::fs::read_to_string(&self.log).unwrap(),
            init_error: self.api.init_error(),
        }
    }

    /// The process's resident and peak memory in KiB (`VmRSS`, `VmHWM` from /proc).
    pub fn memory_kib(&self) -> (u64, u64) {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

/// An API Gateway HTTP API (payload format 2.0) event, as API Gateway sends it to a function.
/// `body` is sent base64-encoded when `base64` is set (API Gateway does so for binary media).
#[derive(Debug, Clone)]
pub struct HttpEvent {
    /// Method.
    pub method: &'static str,
    /// Path (no query).
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// Headers (lower-case names; cookies go in `cookies`, as API Gateway sends them).
    pub headers: Vec<(String, String)>,
    /// Cookies (`name=value`).
    pub cookies: Vec<String>,
    /// Body.
    pub body: Option<String>,
    /// Send the body base64-encoded.
    pub base64: bool,
    /// `requestContext.http.sourceIp`.
    pub source_ip: String,
    /// `requestContext.requestId`.
    pub request_id: String,
    /// `requestContext.domainName`: the API's domain, or a Function URL's host.
    pub domain: String,
}

impl HttpEvent {
    /// A request from `source_ip` with a fresh request id and the headers every browser or
    /// SDK sends.
    pub fn new(method: &'static str, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            query: String::new(),
            headers: vec![
                ("host".into(), "fig.example.com".into()),
                ("user-agent".into(), "fig-lambda-tests".into()),
            ],
            cookies: Vec::new(),
            body: None,
            base64: false,
            source_ip: crate::SOURCE_IP.to_owned(),
            request_id: format!("req-{}", ulid::Ulid::new().to_string().to_lowercase()),
            domain: "fig.example.com".to_owned(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A JSON body.
    pub fn json(mut self, body: &Value) -> Self {
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self.body = Some(body.to_string());
        self
    }

    /// The event's JSON.
    pub fn event(&self) -> Value {
        use base64::Engine;
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let route_key = format!("{} {}", self.method, self.path);
        let body = self.body.as_ref().map(|b| {
            if self.base64 {
                base64::engine::general_purpose::STANDARD.encode(b)
            } else {
                b.clone()
            }
        });
        let mut event = serde_json::json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": headers,
            "requestContext": {
                "accountId": "000000000000",
                "apiId": "fig-test",
                "domainName": self.domain,
                "domainPrefix": "fig",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": self.source_ip,
                    "userAgent": "fig-lambda-tests",
                },
                "requestId": self.request_id,
                "routeKey": route_key,
                "stage": "$default",
                "time": "02/Dec/2026:06:00:00 +0000",
                "timeEpoch": 1_796_191_200_000_u64,
            },
            "isBase64Encoded": self.base64,
        });
        if !self.cookies.is_empty() {
            event["cookies"] = serde_json::json!(self.cookies);
        }
        if let Some(body) = body {
            event["body"] = Value::String(body);
        }
        event
    }
}

/// An API Gateway payload 2.0 response, decoded.
#[derive(Debug)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Headers (lower-case names).
    pub headers: HashMap<String, String>,
    /// `Set-Cookie` values (payload 2.0 returns them in `cookies`).
    pub cookies: Vec<String>,
    /// The body, decoded from base64 when the function encoded it.
    pub body: String,
    /// Whether the function base64-encoded the body.
    pub base64: bool,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
}

impl HttpAnswer {
    /// Decodes a function's response.
    pub fn of(response: &Value) -> Self {
        use base64::Engine;
        let base64 = response["isBase64Encoded"].as_bool().unwrap_or(false);
        let raw = response["body"].as_str().unwrap_or_default();
        let body = if base64 {
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(raw)
                    .unwrap(),
            )
            .unwrap()
        } else {
            raw.to_owned()
        };
        Self {
            status: u16::try_from(response["statusCode"].as_u64().unwrap()).unwrap(),
            headers: response["headers"]
                .as_object()
                .map(|h| {
                    h.iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
            cookies: response["cookies"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            json: serde_json::from_str(&body).unwrap_or(Value::Null),
            body,
            base64,
        }
    }
}

/// The outbox items the table holds, as the DynamoDB Streams event Lambda would deliver.
pub async fn outbox_stream_event(stack: &crate::Stack) -> Value {
    use aws_sdk_dynamodb::types::AttributeValue;
    let items = stack
        .ddb
        .scan()
        .table_name(&stack.names.table)
        .filter_expression("begins_with(PK, :p)")
        .expression_attribute_values(":p", AttributeValue::S("EVENT#".into()))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert!(!items.is_empty(), "outbox events to deliver");
    let records: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let keys: std::collections::HashMap<String, AttributeValue> = item
                .iter()
                .filter(|(k, _)| *k == "PK" || *k == "SK")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            serde_json::json!({
                "eventID": format!("event-{i}"),
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "eventSourceARN": format!(
                    "arn:aws:dynamodb:us-east-1:000000000000:table/{}/stream/2026-12-02T00:00:00.000",
                    stack.names.table
                ),
                "dynamodb": {
                    "ApproximateCreationDateTime": 1_796_191_200.0,
                    "Keys": serde_json::to_value(serde_dynamo::Item::from(keys)).unwrap(),
                    "NewImage": serde_json::to_value(serde_dynamo::Item::from(item.clone())).unwrap(),
                    "SequenceNumber": format!("{:021}", 100 + i),
                    "SizeBytes": 512,
                    "StreamViewType": "NEW_IMAGE",
                },
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// A TCP relay in front of one AWS endpoint (the emulator) that counts the connections opened
/// through it and the reads it carried back. Pointed at by a service-specific endpoint
/// (`AWS_ENDPOINT_URL_KMS`), it tells which connections a function opened, and when: on AWS
/// each new connection is a TLS handshake.
pub struct Relay {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    counts: Arc<RelayCounts>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct RelayCounts {
    connections: std::sync::atomic::AtomicUsize,
    requests: std::sync::atomic::AtomicUsize,
    answers: std::sync::atomic::AtomicUsize,
    changed: Notify,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// When [`pump`] counts a read: as it is read, or once it is written on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Count {
    OnRead,
    Delivered,
}

/// Copies one direction of a relayed connection until either side closes, counting each read
/// in `counter` (and waking [`Relay::answered`]).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counter: &std::sync::atomic::AtomicUsize,
    count: Count,
    changed: &Notify,
) {
    use std::sync::atomic::Ordering::SeqCst;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if count == Count::OnRead {
            counter.fetch_add(1, SeqCst);
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
        if count == Count::Delivered {
            counter.fetch_add(1, SeqCst);
        }
        changed.notify_waiters();
    }
    let _ = to.shutdown().await;
}

impl Relay {
    /// Relays a free loopback port to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        use std::sync::atomic::Ordering::SeqCst;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counts = Arc::new(RelayCounts::default());
        let target = target.to_owned();
        let shared = counts.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                shared.connections.fetch_add(1, SeqCst);
                shared.changed.notify_waiters();
                let counts = shared.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let (from_function, to_function) = inbound.into_split();
                    let (from_target, to_target) = outbound.into_split();
                    // A request is counted as it is read (before the target can answer it), an
                    // answer once the function has it.
                    let up = pump(
                        from_function,
                        to_target,
                        &counts.requests,
                        Count::OnRead,
                        &counts.changed,
                    );
                    let down = pump(
                        from_target,
                        to_function,
                        &counts.answers,
                        Count::Delivered,
                        &counts.changed,
                    );
                    let _ = tokio::join!(up, down);
                });
            }
        });
        Self {
            url,
            counts,
            server,
        }
    }

    /// The connections opened through the relay so far.
    pub fn connections(&self) -> usize {
        self.counts
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The reads relayed from the function to the target so far (at least one per request;
    /// once an answer has come back, its request has been read whole).
    pub fn requests(&self) -> usize {
        self.counts
            .requests
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The reads relayed back from the target so far (at least one per answer).
    pub fn answers(&self) -> usize {
        self.counts
            .answers
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits until the target has answered through the relay at least `n` times.
    pub async fn answered(&self, n: usize) {
        let wait = async {
            loop {
                let changed = self.counts.changed.notified();
                if self.answers() >= n {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .expect("the target answered through the relay within 30 s");
    }
}
