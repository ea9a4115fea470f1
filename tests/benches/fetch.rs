//! The settings-fetch benchmark (`make bench`), against the emulator, in one run:
//!
//! - AWS calls per warm fetch, by service (target: 1 DynamoDB read + 1 event write, 0 KMS);
//! - KMS calls per 10,000 warm fetches (target ≤ 2);
//! - median and p99 latency of a warm fetch through the gateway over HTTP, and the ratio to a
//!   bare baseline making the same DynamoDB calls directly with the SDK (target ≤ 1.2);
//! - CPU time of the handler excluding I/O (process CPU of the fetch loop minus the baseline's);
//! - cost per million fetches at AWS list prices, beside Secrets Manager and Parameter Store.
//!
//! A client with 50 settings, 5 of them secret, all set by an admin.

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
use fig_shared::aws::AwsClients;
use fig_shared::config::Config;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

const SETTINGS: usize = 50;
const SECRETS: usize = 5;
const LATENCY_SAMPLES: usize = 2_000;
const KMS_FETCHES: usize = 10_000;

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

/// Process CPU time (user + system) from /proc/self/stat, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: state is field 0; utime is 11, stime 12 (in clock ticks, 100 Hz).
    (ticks(11) + ticks(12)) / 100.0
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

#[tokio::main]
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
    let clients = AwsClients {
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
    let (status, body) = fetch().await; // cold: pepper + data key from KMS
    assert!(status.is_success() && body["settings"].as_array().unwrap().len() == SETTINGS);

    // 1. AWS calls per warm fetch, by service.
    let before = counts.read();
    for _ in 0..100 {
        fetch().await;
    }
    let after = counts.read();
    let per = |a: u64, b: u64| (b - a) as f64 / 100.0;
    println!(
        "AWS calls per warm fetch (100 fetches): DynamoDB {:.2}, KMS {:.2}, S3 {:.2}",
        per(before.0, after.0),
        per(before.1, after.1),
        per(before.2, after.2)
    );

    // 2. Latency through the gateway vs the bare SDK baseline (same calls), interleaved.
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let pk = AttributeValue::S("CLIENT#bench".into());
    let baseline = || {
        let ddb = ddb.clone();
        let pk = pk.clone();
        let table = names.table.clone();
        async move {
            let mut start = None;
            loop {
                let out = ddb
                    .query()
                    .table_name(&table)
                    .key_condition_expression("PK = :pk")
                    .expression_attribute_values(":pk", pk.clone())
                    .consistent_read(true)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .unwrap();
                match out.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => break,
                }
            }
            let id = ulid::Ulid::new().to_string();
            ddb.put_item()
                .table_name(&table)
                .item("PK", AttributeValue::S(format!("BENCH#{}", &id[..2])))
                .item("SK", AttributeValue::S(id))
                .item("event", AttributeValue::S("x".repeat(400)))
                .send()
                .await
                .unwrap();
        }
    };
    let (mut gateway, mut bare) = (
        Vec::with_capacity(LATENCY_SAMPLES),
        Vec::with_capacity(LATENCY_SAMPLES),
    );
    let (mut gateway_cpu, mut bare_cpu) = (0.0, 0.0);
    for _ in 0..LATENCY_SAMPLES {
        let (c, t) = (cpu_seconds(), Instant::now());
        fetch().await;
        gateway.push(t.elapsed());
        gateway_cpu += cpu_seconds() - c;
        let (c, t) = (cpu_seconds(), Instant::now());
        baseline().await;
        bare.push(t.elapsed());
        bare_cpu += cpu_seconds() - c;
    }
    gateway.sort();
    bare.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (g50, g99, b50, b99) = (
        percentile(&gateway, 0.5),
        percentile(&gateway, 0.99),
        percentile(&bare, 0.5),
        percentile(&bare, 0.99),
    );
    println!(
        "warm fetch through the gateway ({LATENCY_SAMPLES} samples): median {:.2} ms, p99 {:.2} ms",
        ms(g50),
        ms(g99)
    );
    println!(
        "bare SDK baseline, same DynamoDB calls:      median {:.2} ms, p99 {:.2} ms",
        ms(b50),
        ms(b99)
    );
    println!(
        "ratio gateway / baseline: median {:.2}, p99 {:.2}",
        ms(g50) / ms(b50),
        ms(g99) / ms(b99)
    );
    let handler_cpu_ms = ((gateway_cpu - bare_cpu) / LATENCY_SAMPLES as f64 * 1000.0).max(0.0);
    println!(
        "CPU per fetch (process, incl. HTTP client and server): gateway {:.3} ms, baseline {:.3} ms; handler excluding I/O ≈ {:.3} ms",
        gateway_cpu / LATENCY_SAMPLES as f64 * 1000.0,
        bare_cpu / LATENCY_SAMPLES as f64 * 1000.0,
        handler_cpu_ms
    );

    // 3. KMS calls per 10,000 warm fetches (in-process, through the same router, 8 at a time).
    //    The data-key cache refreshes a key after 10,000 uses or 5 minutes, whichever comes
    //    first: against the emulator 10,000 fetches take minutes, so the age bound shows too.
    let kms_before = app.kms.calls();
    let router = fig_gateway::router(app.clone(), None);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (router, secret) = (router.clone(), secret.clone());
        tasks.spawn(async move {
            for _ in 0..KMS_FETCHES / 8 {
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
        "KMS calls per {KMS_FETCHES} warm fetches: {} in {elapsed:.0} s (of which {age_refreshes} from the 5-minute age bound)",
        app.kms.calls() - kms_before
    );

    // 4. Cost per million fetches at list prices (us-east-1, 2026).
    let partition = ddb
        .query()
        .table_name(&names.table)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", pk.clone())
        .send()
        .await
        .unwrap();
    let read_bytes: usize = partition.items().iter().map(item_size).sum();
    let rru = read_bytes.div_ceil(4096) as f64; // strongly consistent: 1 RRU per 4 KB
    // A scan's limit applies before its filter: page until one SettingsRead event turns up.
    let mut start = None;
    let event_bytes = loop {
        let page = ddb
            .scan()
            .table_name(&names.table)
            .filter_expression("begins_with(PK, :e) AND eventType = :t")
            .expression_attribute_values(":e", AttributeValue::S("EVENT#".into()))
            .expression_attribute_values(":t", AttributeValue::S("SettingsRead".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        if let Some(item) = page.items().first() {
            break item_size(item);
        }
        match page.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => panic!("no SettingsRead event in the table"),
        }
    };
    let wru = event_bytes.div_ceil(1024) as f64;
    // Billed duration: the gateway's median against the emulator is an upper bound (moto answers
    // a 50-item Query in tens of ms; DynamoDB in a few).
    let lambda_ms = ms(g50).ceil();
    let lambda = 0.20 + 1_000_000.0 * (lambda_ms / 1000.0) * 0.125 * 0.0000133334;
    let lambda_aws_ms = (handler_cpu_ms + 2.0 * 5.0).ceil();
    let lambda_aws = 0.20 + 1_000_000.0 * (lambda_aws_ms / 1000.0) * 0.125 * 0.0000133334;
    let api = 1.00;
    let dynamodb = rru * 0.125 + wru * 0.625;
    let stream = 1.0 * 0.02; // one stream read request per event, batched 100 per read: ≤ $0.02
    let total = lambda + api + dynamodb + stream;
    println!(
        "read {read_bytes} B per fetch ({rru} RRU), event {event_bytes} B ({wru} WRU), Lambda billed {lambda_ms} ms at 128 MB arm64 (≈{lambda_aws_ms} ms on AWS: handler CPU + 2 DynamoDB calls of ~5 ms, ${lambda_aws:.2} per million)"
    );
    println!(
        "cost per million fetches: Lambda ${lambda:.2} + API Gateway HTTP API ${api:.2} + DynamoDB ${dynamodb:.2} + streams ≤${stream:.2} + KMS $0.00 = ${total:.2}"
    );
    println!(
        "for comparison, per million reads: AWS Secrets Manager $5.00 (+ $0.40 per secret per month); SSM Parameter Store advanced throughput $5.00 (standard: free, 40 TPS cap, no per-value envelope keys)"
    );
}
