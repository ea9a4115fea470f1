//! The settings-fetch benchmark (`make bench`; `make bench-quick` for a run of a few
//! minutes), against the emulator, in one run, for a client with 50 settings, 5 of them secret,
//! all set by an admin:
//!
//! - AWS calls per warm request, by service and path: a full fetch (answered from the values
//!   pack) and a `304` poll;
//! - the bytes each path reads (the items of its `Query` range, measured) and writes (its
//!   event), and so its DynamoDB read and write units;
//! - median and p99 latency of each path through the gateway over HTTP, against a bare
//!   baseline making the same DynamoDB calls directly with the SDK;
//! - CPU per request over HTTP to the gateway, straight into its router, straight into the
//!   settings function's own service (what Lambda runs), and for the bare SDK's same calls:
//!   the handler's own CPU (function minus bare SDK), the gateway's layers and the HTTP hop;
//! - KMS calls per 10,000 warm fetches (quick: 1,000; target ≤ 2);
//! - the cost per million requests at AWS list prices, per path (full fetch, `304` poll) and
//!   per entry (HTTP API, Function URL), computed from those measurements, beside Secrets
//!   Manager and Parameter Store reading the same 50 values.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_debug_implementations
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use axum::serve::ListenerExt;
use fig_gateway::{LocalNames, local_sdk_config, provision};
use fig_shared::App;
use fig_shared::aws::AwsServices;
use fig_shared::config::Config;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

const SETTINGS: usize = 50;
const SECRETS: usize = 5;

/// How long to measure: `FIG_BENCH_QUICK=1` (`make bench-quick`) takes a few minutes.
struct Plan {
    latency_samples: usize,
    kms_fetches: usize,
}

impl Plan {
    fn from_env() -> Self {
        if std::env::var("FIG_BENCH_QUICK").is_ok_and(|v| v == "1") {
            Self {
                latency_samples: 300,
                kms_fetches: 1_000,
            }
        } else {
            Self {
                latency_samples: 2_000,
                kms_fetches: 10_000,
            }
        }
    }
}

// List prices (us-east-1, December 2026), per million unless said.
const HTTP_API: f64 = 1.00;
const LAMBDA_REQUESTS: f64 = 0.20;
/// Lambda arm64, per GB-second.
const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
const LAMBDA_MEMORY_GB: f64 = 128.0 / 1024.0;
/// At 128 MB a function gets 128/1769 of a vCPU: CPU-bound work takes this much longer than
/// on one core of this machine.
const CPU_STRETCH: f64 = 1769.0 / 128.0;
/// Assumed in-region latency of one DynamoDB call from Lambda (the emulator's is not AWS's).
const DYNAMODB_CALL_MS: f64 = 4.0;
const READ_UNIT: f64 = 0.125;
const WRITE_UNIT: f64 = 0.625;
/// The audit pipeline per event at full batches (the template's audit mapping: up to 1,000
/// records gathered for up to 20 s): one audit object and one digest (S3 PUT, $0.005 per
/// 1,000) per batch; the events function's invocations per batch are $0.002 per million
/// events more. Below 50 events a second batches are smaller: at one a second (20 per batch)
/// the pipeline costs $0.50 per million events.
const AUDIT_BATCH: f64 = 1000.0;
const AUDIT_PIPELINE: f64 = 2.0 * 5.0 / AUDIT_BATCH + 0.002;
/// Polls one aggregate `SettingsPolled` event stands for, assumed: one poll a second reaching a
/// warm instance for a minute.
const POLLS_PER_AGGREGATE: f64 = 60.0;
/// Secrets Manager: $0.05 per 10,000 API calls; `BatchGetSecretValue` returns up to 20 secrets.
const SECRETS_MANAGER_CALL: f64 = 5.00;
/// Parameter Store, higher throughput: $0.05 per 10,000 API interactions; `GetParametersByPath`
/// returns up to 10 parameters per page.
const PARAMETER_STORE_CALL: f64 = 5.00;

#[derive(Debug, Default)]
struct Counter(AtomicU64);

#[derive(Debug, Clone)]
struct Counting(Arc<Counter>);

impl Intercept for Counting {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[allow(dead_code)]
fn _uses(_: &RuntimeComponents) {}

struct Counts {
    dynamodb: Arc<Counter>,
    kms: Arc<Counter>,
    s3: Arc<Counter>,
}

impl Counts {
    fn read(&self) -> (u64, u64, u64) {
        (
            self.dynamodb.0.load(Ordering::Relaxed),
            self.kms.0.load(Ordering::Relaxed),
            self.s3.0.load(Ordering::Relaxed),
        )
    }
}

/// CPU time of this thread, in seconds: the first field of `/proc/thread-self/schedstat`
/// (time on a CPU, in nanoseconds; `/proc/self/stat` counts in 10 ms ticks, too coarse for a
/// request of a millisecond). The benchmark runs on one thread (client, gateway, SDK), so this
/// is all of a request's CPU; a sum over the process's threads would lose the time of a
/// thread that ends meanwhile (the runtime's blocking pool lets idle threads go). The kernel
/// brings a running thread's count up to date only at a tick or a switch; `sched_yield` is one
/// (the fair scheduler's yield updates it), so without it the work since the last wake-up
/// would be counted in the next measurement instead of this one.
fn cpu_seconds() -> f64 {
    std::thread::yield_now();
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |nanos| nanos as f64 / 1e9)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value(v)).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| 1 + k.len() + value(v)).sum::<usize>()
            }
            _ => 8,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

// One thread, as a Lambda instance serves one request at a time: the client, the gateway and the
// SDK all run here, so the CPU of a request is this thread's alone and measured exactly.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sdk = local_sdk_config().await;
    let id = ulid::Ulid::new().to_string().to_lowercase();
    let names = LocalNames {
        table: format!("fig-bench-{id}"),
        identity_table: format!("fig-bench-{id}-identity"),
        audit_bucket: format!("fig-bench-audit-{id}"),
        web_bucket: format!("fig-bench-web-{id}"),
        kms_alias: format!("alias/fig-bench-{id}"),
    };
    provision(&sdk, &names)
        .await
        .expect("the emulator must be running (make bench starts it)");
    let counts = Counts {
        dynamodb: Arc::default(),
        kms: Arc::default(),
        s3: Arc::default(),
    };
    let clients = AwsServices {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .interceptor(Counting(counts.dynamodb.clone()))
                .build(),
        ),
        kms: aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::config::Builder::from(&sdk)
                .interceptor(Counting(counts.kms.clone()))
                .build(),
        ),
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .interceptor(Counting(counts.s3.clone()))
                .build(),
        ),
    };
    let env = [
        ("FIG_TABLE", names.table.clone()),
        ("FIG_IDENTITY_TABLE", names.identity_table.clone()),
        ("FIG_AUDIT_BUCKET", names.audit_bucket.clone()),
        ("FIG_KMS_KEY_ID", names.kms_alias.clone()),
        (
            "FIG_BOOTSTRAP_ADMIN_PASSWORD",
            "bench-Bootstrap-password-9931".to_owned(),
        ),
    ];
    let config =
        Config::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
    let app = App::new(config, clients.clone()).unwrap();
    fig_shared::users::bootstrap_admin(&app).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    // TCP_NODELAY on both ends of the HTTP hop, as API Gateway and Lambda's runtime API use
    // it: without it Nagle's algorithm and delayed ACKs add up to 40 ms to some requests.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let router = fig_gateway::router(app.clone(), None);
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    let http: Client<_, Full<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    let call = |method: &str,
                path: &str,
                headers: Vec<(&str, String)>,
                body: Option<serde_json::Value>| {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{base}{path}"));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let request = request
            .body(Full::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .unwrap();
        let http = http.clone();
        async move {
            let response = http.request(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default(),
            )
        }
    };

    // Set up: admin, client with 50 settings (5 secret), every value set.
    let login = |password: &'static str| {
        call(
            "POST",
            "/api/auth/login",
            vec![],
            Some(json!({"username": "admin", "password": password})),
        )
    };
    let (_, first) = login("bench-Bootstrap-password-9931").await;
    let pcr = format!("Bearer {}", first["accessToken"].as_str().unwrap());
    call("POST", "/api/auth/password", vec![("authorization", pcr)], Some(json!({"currentPassword": "bench-Bootstrap-password-9931", "newPassword": "bench quartz lantern mosaic 4411"}))).await;
    let (_, login) = login("bench quartz lantern mosaic 4411").await;
    let admin = format!("Bearer {}", login["accessToken"].as_str().unwrap());
    let secret = fig_sdk::ClientSecret::generate().expose().to_owned();
    let definitions: Vec<serde_json::Value> = (0..SETTINGS)
        .map(|i| json!({"name": format!("Setting{i:02}"), "type": "string", "secret": i < SECRETS, "description": format!("Benchmark setting {i}")}))
        .collect();
    let (status, _) = call(
        "POST",
        "/api/clients",
        vec![("clientSecret", secret.clone())],
        Some(json!({"name": "bench", "settings": definitions})),
    )
    .await;
    assert!(status.is_success());
    for chunk in (0..SETTINGS).collect::<Vec<_>>().chunks(25) {
        let values: Vec<serde_json::Value> = chunk.iter().map(|i| json!({"name": format!("Setting{i:02}"), "value": format!("value-{i}-{}", "x".repeat(40))})).collect();
        let (status, _) = call(
            "PUT",
            "/api/admin/clients/bench/settings",
            vec![("authorization", admin.clone())],
            Some(json!({"changeMessage": "bench", "values": values})),
        )
        .await;
        assert!(status.is_success());
    }
    let fetch = || {
        call(
            "GET",
            "/api/clients/bench/settings",
            vec![("clientSecret", secret.clone())],
            None,
        )
    };
    let plan = Plan::from_env();
    let (status, body) = fetch().await; // cold: pepper + data key from KMS; writes the pack
    assert!(status.is_success() && body["settings"].as_array().unwrap().len() == SETTINGS);
    let (_, body) = fetch().await;
    assert_eq!(body["settings"].as_array().unwrap().len(), SETTINGS);
    let etag = {
        let request = http::Request::builder()
            .uri(format!("{base}/api/clients/bench/settings"))
            .header("clientSecret", &secret)
            .body(Full::from(""))
            .unwrap();
        let response = http.request(request).await.unwrap();
        response.headers()["etag"].to_str().unwrap().to_owned()
    };
    let poll = || {
        call(
            "GET",
            "/api/clients/bench/settings",
            vec![
                ("clientSecret", secret.clone()),
                ("if-none-match", etag.clone()),
            ],
            None,
        )
    };
    assert_eq!(poll().await.0, http::StatusCode::NOT_MODIFIED);

    // 1. AWS calls per warm request, by service and path.
    let per_request = |before: (u64, u64, u64), after: (u64, u64, u64)| {
        let per = |a: u64, b: u64| (b - a) as f64 / 100.0;
        (
            per(before.0, after.0),
            per(before.1, after.1),
            per(before.2, after.2),
        )
    };
    let before = counts.read();
    for _ in 0..100 {
        fetch().await;
    }
    let fetch_calls = per_request(before, counts.read());
    let before = counts.read();
    for _ in 0..100 {
        poll().await;
    }
    let poll_calls = per_request(before, counts.read());
    for (path, (d, k, s3)) in [("full fetch", fetch_calls), ("304 poll", poll_calls)] {
        println!(
            "AWS calls per warm {path} (100 requests): DynamoDB {d:.2}, KMS {k:.2}, S3 {s3:.2}"
        );
    }

    // 2. What each path reads and writes, measured on the items themselves.
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let pk = AttributeValue::S("CLIENT#bench".into());
    let range = |to: &'static str| {
        let (ddb, pk, table) = (ddb.clone(), pk.clone(), names.table.clone());
        async move {
            ddb.query()
                .table_name(&table)
                .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
                .expression_attribute_values(":pk", pk)
                .expression_attribute_values(":from", AttributeValue::S("META".into()))
                .expression_attribute_values(":to", AttributeValue::S(to.into()))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
        }
    };
    let bytes =
        |items: &[HashMap<String, AttributeValue>]| -> usize { items.iter().map(item_size).sum() };
    let fetch_read = bytes(range(fig_shared::clients::VALUES_SK).await.items());
    let poll_read = bytes(range(fig_shared::clients::HEAD_END).await.items());
    let partition = ddb
        .query()
        .table_name(&names.table)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", pk.clone())
        .send()
        .await
        .unwrap();
    let partition_read = bytes(partition.items());
    let rru = |b: usize| b.div_ceil(4096) as f64; // strongly consistent: 1 unit per 4 KB
    let wru = |b: usize| b.div_ceil(1024) as f64;
    fig_shared::clients::flush_polls(&app).await.unwrap();
    let event_bytes = |kind: &'static str| {
        let (ddb, table) = (ddb.clone(), names.table.clone());
        async move {
            // A scan's limit applies before its filter: page until one turns up.
            let mut start = None;
            loop {
                let page = ddb
                    .scan()
                    .table_name(&table)
                    .filter_expression("begins_with(PK, :e) AND eventType = :t")
                    .expression_attribute_values(":e", AttributeValue::S("EVENT#".into()))
                    .expression_attribute_values(":t", AttributeValue::S(kind.into()))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .unwrap();
                if let Some(item) = page.items().first() {
                    break item_size(item);
                }
                match page.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => panic!("no {kind} event in the table"),
                }
            }
        }
    };
    let read_event = event_bytes("SettingsRead").await;
    let polled_event = event_bytes("SettingsPolled").await;
    println!(
        "full fetch reads {fetch_read} B ({} RRU: META, counters, values pack) and writes a {read_event} B event ({} WRU); the whole partition, read before the pack, is {partition_read} B ({} RRU)",
        rru(fetch_read),
        wru(read_event),
        rru(partition_read)
    );
    println!(
        "304 poll reads {poll_read} B ({} RRU: META, counters) and writes nothing itself; one {polled_event} B SettingsPolled event ({} WRU) per client and instance-minute",
        rru(poll_read),
        wru(polled_event)
    );

    // 3. Latency and CPU through the gateway against the bare SDK, each path interleaved with
    //    its baseline (the same DynamoDB calls).
    let event_payload = "x".repeat(read_event.saturating_sub(120));
    let baseline = |to: &'static str, write: bool| {
        let (ddb, table, payload, read) = (
            ddb.clone(),
            names.table.clone(),
            event_payload.clone(),
            range(to),
        );
        async move {
            read.await;
            if write {
                let id = ulid::Ulid::new().to_string();
                ddb.put_item()
                    .table_name(&table)
                    .item("PK", AttributeValue::S(format!("BENCH#{}", &id[..2])))
                    .item("SK", AttributeValue::S(id))
                    .item("event", AttributeValue::S(payload))
                    .send()
                    .await
                    .unwrap();
            }
        }
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // A fetch (or, conditional, a poll) as a request in process, from `127.0.0.1`: with the
    // connection's address for the gateway's router, or with API Gateway's request context as
    // `lambda_http` hands a request to a function.
    let request = |conditional: bool, lambda: bool| {
        use lambda_http::aws_lambda_events::apigw::{
            ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
        };
        let mut request = http::Request::builder()
            .uri("/api/clients/bench/settings")
            .header("clientSecret", &secret);
        if conditional {
            request = request.header("if-none-match", &etag);
        }
        let mut request = request.body(axum::body::Body::empty()).unwrap();
        if lambda {
            let mut described = ApiGatewayV2httpRequestContextHttpDescription::default();
            described.method = http::Method::GET;
            described.path = Some("/api/clients/bench/settings".into());
            described.source_ip = Some("127.0.0.1".into());
            let mut context = ApiGatewayV2httpRequestContext::default();
            context.request_id = Some("bench".into());
            context.http = described;
            request
                .extensions_mut()
                .insert(lambda_http::request::RequestContext::ApiGatewayV2(context));
        } else {
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(SocketAddr::from((
                    [127, 0, 0, 1],
                    9,
                ))));
        }
        request
    };
    let answer = |service: axum::Router, request: http::Request<axum::body::Body>| async move {
        use tower::ServiceExt;
        let response = service.oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(status.is_success() || status == http::StatusCode::NOT_MODIFIED);
        body.len()
    };
    // The same request straight into the gateway's router, without the HTTP hop.
    let router = fig_gateway::router(app.clone(), None);
    let direct = |conditional: bool| answer(router.clone(), request(conditional, false));
    // The settings function itself: the service its `main` hands to `lambda_http::run`.
    let function = fig_http::service(fig_settings::routes(app.clone()), &app);
    let invoke = |conditional: bool| answer(function.clone(), request(conditional, true));
    // The domain operation alone (`clients::fetch`, and the body's JSON), without the HTTP
    // framework around it: what the function's routing, extractors and layers add is the rest.
    let domain = |conditional: bool| {
        let (app, secret, etag) = (app.clone(), secret.clone(), etag.clone());
        async move {
            let caller = fig_shared::events::Source {
                request_id: Some("bench".into()),
                ip: Some("127.0.0.1".into()),
                user_agent: None,
            };
            let secret = fig_shared::secret::SecretString::new(secret);
            let tag = conditional.then_some(etag.as_str());
            match fig_shared::clients::fetch(&app, "bench", None, &secret, tag, &caller)
                .await
                .unwrap()
            {
                fig_shared::clients::Fetch::Settings(body, _) => {
                    serde_json::to_vec(&body).unwrap().len()
                }
                fig_shared::clients::Fetch::NotModified(_) => 0,
            }
        }
    };
    if std::env::var("FIG_BENCH_PROFILE").is_ok_and(|v| v == "1") {
        // For `perf record`: 20 s of in-process full fetches, then 20 s of polls, nothing else.
        for conditional in [false, true] {
            let until = Instant::now() + Duration::from_secs(20);
            let mut n = 0u64;
            while Instant::now() < until {
                invoke(conditional).await;
                n += 1;
            }
            println!("profile: {n} in-process requests (conditional: {conditional})");
        }
        return;
    }
    struct Measured {
        median: f64,
        p99: f64,
        base_median: f64,
        base_p99: f64,
        /// CPU per request over HTTP (client, gateway server, router, handler, SDK), ms.
        cpu_ms: f64,
        /// CPU per request straight into the gateway's router, ms.
        direct_cpu_ms: f64,
        /// CPU per request into the settings function's own service, ms.
        function_cpu_ms: f64,
        /// CPU per request of the domain operation alone, ms.
        domain_cpu_ms: f64,
        base_cpu_ms: f64,
    }
    impl Measured {
        /// The handler's own CPU: the settings function's service minus the bare SDK's same
        /// calls.
        fn handler(&self) -> f64 {
            (self.function_cpu_ms - self.base_cpu_ms).max(0.0)
        }
        /// Of the handler, the domain operation's share (`clients::fetch`, the body's JSON).
        fn domain(&self) -> f64 {
            (self.domain_cpu_ms - self.base_cpu_ms).max(0.0)
        }
        /// Of the handler, the HTTP framework's share (routing, extractors, layers, response).
        fn framework(&self) -> f64 {
            (self.function_cpu_ms - self.domain_cpu_ms).max(0.0)
        }
        /// What the local gateway adds around the function (its distribution and request
        /// context layers, the merged router of every function): not on Lambda.
        fn gateway(&self) -> f64 {
            (self.direct_cpu_ms - self.function_cpu_ms).max(0.0)
        }
        /// The HTTP hop's CPU (client and server), which Lambda replaces by its own.
        fn hop(&self) -> f64 {
            (self.cpu_ms - self.direct_cpu_ms).max(0.0)
        }
    }
    let mut measured = Vec::new();
    for (path, is_fetch) in [("full fetch", true), ("304 poll", false)] {
        let samples = plan.latency_samples;
        let (mut gateway, mut bare) = (Vec::with_capacity(samples), Vec::with_capacity(samples));
        let (mut gateway_cpu, mut direct_cpu, mut function_cpu, mut domain_cpu, mut bare_cpu) =
            (0.0, 0.0, 0.0, 0.0, 0.0);
        for _ in 0..samples {
            let (c, t) = (cpu_seconds(), Instant::now());
            if is_fetch {
                fetch().await;
            } else {
                poll().await;
            }
            gateway.push(t.elapsed());
            gateway_cpu += cpu_seconds() - c;
            let c = cpu_seconds();
            direct(!is_fetch).await;
            direct_cpu += cpu_seconds() - c;
            let c = cpu_seconds();
            invoke(!is_fetch).await;
            function_cpu += cpu_seconds() - c;
            let c = cpu_seconds();
            domain(!is_fetch).await;
            domain_cpu += cpu_seconds() - c;
            let (c, t) = (cpu_seconds(), Instant::now());
            if is_fetch {
                baseline(fig_shared::clients::VALUES_SK, true).await;
            } else {
                baseline(fig_shared::clients::HEAD_END, false).await;
            }
            bare.push(t.elapsed());
            bare_cpu += cpu_seconds() - c;
        }
        gateway.sort();
        bare.sort();
        let per = |total: f64| total / samples as f64 * 1000.0;
        let m = Measured {
            median: ms(percentile(&gateway, 0.5)),
            p99: ms(percentile(&gateway, 0.99)),
            base_median: ms(percentile(&bare, 0.5)),
            base_p99: ms(percentile(&bare, 0.99)),
            cpu_ms: per(gateway_cpu),
            direct_cpu_ms: per(direct_cpu),
            function_cpu_ms: per(function_cpu),
            domain_cpu_ms: per(domain_cpu),
            base_cpu_ms: per(bare_cpu),
        };
        println!(
            "{path} through the gateway ({samples} samples): median {:.2} ms, p99 {:.2} ms; bare SDK, same calls: median {:.2} ms, p99 {:.2} ms; ratio median {:.2}, p99 {:.2}",
            m.median,
            m.p99,
            m.base_median,
            m.base_p99,
            m.median / m.base_median,
            m.p99 / m.base_p99
        );
        println!(
            "{path} CPU per request: over HTTP to the gateway {:.3} ms, into the gateway's router {:.3} ms, into the settings function's service {:.3} ms, the domain operation alone {:.3} ms, bare SDK (same calls) {:.3} ms; handler {:.3} ms = domain {:.3} + HTTP framework {:.3} (+ gateway layers {:.3} ms, HTTP hop {:.3} ms)",
            m.cpu_ms,
            m.direct_cpu_ms,
            m.function_cpu_ms,
            m.domain_cpu_ms,
            m.base_cpu_ms,
            m.handler(),
            m.domain(),
            m.framework(),
            m.gateway(),
            m.hop()
        );
        measured.push(m);
    }

    // 4. KMS calls per warm fetch (in-process, through the same router, 8 at a time). The
    //    data-key cache refreshes a key after 10,000 uses or 5 minutes, whichever comes first.
    let kms_fetches = plan.kms_fetches;
    let kms_before = app.kms.calls();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (router, secret) = (router.clone(), secret.clone());
        tasks.spawn(async move {
            for _ in 0..kms_fetches / 8 {
                use tower::ServiceExt;
                let mut request = http::Request::builder()
                    .uri("/api/clients/bench/settings")
                    .header("clientSecret", &secret)
                    .body(axum::body::Body::empty())
                    .unwrap();
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(SocketAddr::from((
                        [127, 0, 0, 1],
                        9,
                    ))));
                let response = router.clone().oneshot(request).await.unwrap();
                assert!(response.status().is_success());
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    let age_refreshes = (elapsed / 300.0).floor();
    println!(
        "KMS calls per {kms_fetches} warm fetches: {} in {elapsed:.0} s (of which {age_refreshes} from the 5-minute age bound)",
        app.kms.calls() - kms_before
    );

    // 5. Cost per million requests at list prices, per path and entry.
    // Billed as the handler plus an HTTP hop: Lambda's runtime makes one of its own per
    // invocation (its Runtime API poll and answer), about what the gateway's hop costs here.
    let lambda = |m: &Measured, calls: f64| {
        let cpu = m.handler() + m.hop();
        let billed_ms = (cpu * CPU_STRETCH + calls * DYNAMODB_CALL_MS).ceil();
        (
            billed_ms,
            LAMBDA_REQUESTS
                + 1_000_000.0 * billed_ms / 1000.0 * LAMBDA_MEMORY_GB * LAMBDA_GB_SECOND,
        )
    };
    let (fetch_ms, fetch_lambda) = lambda(&measured[0], fetch_calls.0);
    let (poll_ms, poll_lambda) = lambda(&measured[1], poll_calls.0);
    let fetch_dynamodb = rru(fetch_read) * READ_UNIT + wru(read_event) * WRITE_UNIT;
    let poll_dynamodb =
        rru(poll_read) * READ_UNIT + wru(polled_event) / POLLS_PER_AGGREGATE * WRITE_UNIT;
    let poll_pipeline = AUDIT_PIPELINE / POLLS_PER_AGGREGATE;
    println!(
        "Lambda billed per request at 128 MB arm64: full fetch {fetch_ms} ms, 304 poll {poll_ms} ms (handler and HTTP hop CPU x{CPU_STRETCH:.1} for a 128 MB share of a vCPU + {DYNAMODB_CALL_MS} ms per DynamoDB call)"
    );
    println!(
        "cost per million, $ | API entry | Lambda | DynamoDB | = request | + audit pipeline (full batches) | total"
    );
    for (path, lambda, dynamodb, pipeline) in [
        ("full fetch", fetch_lambda, fetch_dynamodb, AUDIT_PIPELINE),
        ("304 poll", poll_lambda, poll_dynamodb, poll_pipeline),
    ] {
        for (entry, api) in [("HTTP API", HTTP_API), ("Function URL", 0.0)] {
            let request = api + lambda + dynamodb;
            println!(
                "{path:<10} via {entry:<12} | {api:.2} | {lambda:.3} | {dynamodb:.3} | {request:.2} | {pipeline:.3} | {:.2}",
                request + pipeline
            );
        }
    }
    let secrets_manager = (SETTINGS as f64 / 20.0).ceil();
    let parameter_store = (SETTINGS as f64 / 10.0).ceil();
    println!(
        "the same {SETTINGS} values elsewhere, per million reads: AWS Secrets Manager ${:.2} ({secrets_manager} BatchGetSecretValue calls; + $0.40 per secret per month), SSM Parameter Store higher throughput ${:.2} ({parameter_store} GetParametersByPath pages; standard throughput is free but capped at 40 TPS and has no per-value envelope keys)",
        secrets_manager * SECRETS_MANAGER_CALL,
        parameter_store * PARAMETER_STORE_CALL
    );
}
