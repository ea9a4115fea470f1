//! The built bootstraps, run as Lambda runs them: each function binary started under a Runtime
//! API emulator with Lambda's environment, invoked with API Gateway HTTP API (payload 2.0),
//! DynamoDB Streams and schedule events, against the emulator's AWS. They must answer as the
//! local gateway does, carry `requestContext` into the audit trail, report S3 failures as batch
//! item failures, and report a start-up failure to the Runtime API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fig_tests::lambda::{Function, HttpAnswer, HttpEvent, Relay};
use fig_tests::{
    ADMIN_NEW_PASSWORD, ADMIN_PASSWORD, SOURCE_IP, Stack, client_secret, refresh_cookie,
};
use http::Method;
use serde_json::{Value, json};

async fn http(function: &Function, event: &HttpEvent) -> HttpAnswer {
    HttpAnswer::of(&function.invoke(event.event()).await.response())
}

/// Registers client `name` with one setting, `Greeting` = "hello"; returns its secret.
async fn register_greeting(stack: &Stack, name: &str) -> String {
    let secret = client_secret();
    let registered = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(json!({"name": name, "settings": [
                {"name": "Greeting", "type": "string", "defaultValue": "hello"},
            ]})),
        )
        .await;
    assert_eq!(registered.status, 200, "{}", registered.text);
    secret
}

#[tokio::test]
async fn http_functions_answer_api_gateway_events_as_the_gateway_does() {
    let mut stack = Stack::new().await;
    let auth = Function::start("fig-auth", &stack.env).await;
    let settings = Function::start("fig-settings", &stack.env).await;
    let admin = Function::start("fig-admin", &stack.env).await;

    // Health: the same answer as the gateway's.
    let health = http(&auth, &HttpEvent::new("GET", "/api/health")).await;
    let local = stack.call(Method::GET, "/api/health", &[], None).await;
    assert_eq!(health.status, local.status.as_u16());
    assert_eq!(health.json, local.json);
    assert!(health.headers["content-type"].starts_with("application/json"));

    // A failed login, its JSON body sent base64-encoded (as API Gateway does for some media).
    let mut failed = HttpEvent::new("POST", "/api/auth/login")
        .json(&json!({"username": "admin", "password": "not the password at all 1"}));
    failed.base64 = true;
    let answer = http(&auth, &failed).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.json["error"]["code"], "INVALID_CREDENTIALS");
    assert_eq!(
        answer.json["error"]["requestId"],
        failed.request_id.as_str()
    );
    assert_eq!(answer.headers["x-request-id"], failed.request_id);
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert!(answer.headers["content-type"].starts_with("application/json"));
    assert!(!answer.base64, "a JSON answer is sent as text");

    // A cookie refresh: the cookie arrives in the event's `cookies`, the new one leaves in the
    // response's `cookies` (payload 2.0 has no multi-value headers).
    let login = stack
        .first_login("admin", ADMIN_PASSWORD, ADMIN_NEW_PASSWORD)
        .await;
    let (_, pair) = refresh_cookie(&login);
    let mut refresh =
        HttpEvent::new("POST", "/api/auth/refresh").header("origin", "https://fig.example.com");
    refresh.cookies = vec![pair.clone()];
    let refreshed = http(&auth, &refresh).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let cookie = refreshed
        .cookies
        .iter()
        .find(|c| c.starts_with("fig_refresh="))
        .expect("a new refresh cookie in the response's cookies");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("Secure"),
        "{cookie}"
    );
    assert_ne!(cookie.split(';').next().unwrap(), pair, "rotated");
    assert_eq!(refreshed.headers["cache-control"], "no-store");
    let token = refreshed.json["accessToken"].as_str().unwrap().to_owned();

    // A fetch with a wrong client secret: the gateway's answer.
    let fetch = HttpEvent::new("GET", "/api/clients/Orders/settings")
        .header("clientsecret", "not-the-secret-of-any-client-0123456789");
    let answer = http(&settings, &fetch).await;
    let local = stack
        .call(
            Method::GET,
            "/api/clients/Orders/settings",
            &[("clientSecret", "not-the-secret-of-any-client-0123456789")],
            None,
        )
        .await;
    assert_eq!(answer.status, local.status.as_u16(), "{}", answer.body);
    assert_eq!(answer.json["error"]["code"], local.json["error"]["code"]);
    assert_eq!(answer.status, 401);

    // An admin route without a token.
    let answer = http(&admin, &HttpEvent::new("GET", "/api/admin/users")).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.json["error"]["code"], "UNAUTHENTICATED");

    // An admin request with a body.
    let create = HttpEvent::new("POST", "/api/admin/users")
        .header("authorization", &format!("Bearer {token}"))
        .json(&json!({
            "username": "lambda-user",
            "role": "ReadOnly",
            "password": fig_tests::USER_INITIAL_PASSWORD,
        }));
    let created = http(&admin, &create).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let local = stack
        .call(
            Method::GET,
            "/api/admin/users/lambda-user",
            &[("authorization", &format!("Bearer {token}"))],
            None,
        )
        .await;
    assert_eq!(local.status, 200, "{}", local.text);

    // The request context (address, request id, user agent) reached the audit trail.
    let records = stack.audit_records().await;
    let by_request = |id: &str| -> Value {
        records
            .iter()
            .find(|r| r["source"]["requestId"] == id)
            .unwrap_or_else(|| panic!("an audit record for request {id}"))
            .clone()
    };
    let record = by_request(&failed.request_id);
    assert_eq!(record["type"], "LoginFailed");
    assert_eq!(record["source"]["ip"], SOURCE_IP);
    assert_eq!(record["source"]["userAgent"], "fig-lambda-tests");
    let record = by_request(&create.request_id);
    assert_eq!(record["type"], "UserCreated");
    assert_eq!(record["source"]["ip"], SOURCE_IP);
}

#[tokio::test]
async fn the_events_function_writes_the_audit_trail_and_hands_back_what_s3_refused() {
    let stack = Stack::new().await;
    let failed = stack.login("admin", "not the password at all 2").await;
    assert_eq!(failed.status, 401);
    let event = fig_tests::lambda::outbox_stream_event(&stack).await;
    let count = event["Records"].as_array().unwrap().len();
    let mut env = stack.env.clone();
    env.push(("FIG_EVENTS_CONSUMER".into(), "audit".into()));

    // S3 (and every AWS service) unreachable: every record comes back as a batch item failure.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let mut away = env.clone();
    away.push(("AWS_ENDPOINT_URL".into(), closed));
    let down = Function::start("fig-events", &away).await;
    let answer = down.invoke(event.clone()).await.response();
    let failures: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(failures.len(), count, "{answer}");
    for record in event["Records"].as_array().unwrap() {
        assert!(failures.contains(&record["dynamodb"]["SequenceNumber"].as_str().unwrap()));
    }
    assert!(stack.audit_objects().await.is_empty(), "nothing written");

    // With S3 back: no failures, the objects written and the chain verifiable.
    let up = Function::start("fig-events", &env).await;
    let answer = up.invoke(event).await.response();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let objects = stack.audit_objects().await;
    let lines: Vec<Value> = objects
        .iter()
        .flat_map(|(_, body)| body.lines().map(|l| serde_json::from_str(l).unwrap()))
        .collect();
    assert_eq!(lines.len(), count);
    assert!(
        lines
            .iter()
            .any(|r| r["type"] == "LoginFailed" && r["source"]["ip"] == SOURCE_IP)
    );
    let report = stack.verify_audit_chain().await;
    assert!(report.problems.is_empty(), "{report:?}");
}

#[tokio::test]
async fn the_maintenance_run_answers_a_schedule_event() {
    let stack = Stack::new().await;
    let mut env = stack.env.clone();
    env.push(("FIG_EVENTS_CONSUMER".into(), "maintenance".into()));
    let maintenance = Function::start("fig-events", &env).await;
    let schedule = json!({
        "version": "0",
        "id": "5e1f2c6a-0000-4000-8000-000000000000",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": "2026-12-02T06:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:000000000000:rule/fig-maintenance"],
        "detail": {},
    });
    let report = maintenance.invoke(schedule).await.response();
    assert!(report.is_object(), "a report: {report}");
}

#[tokio::test]
async fn a_start_up_failure_is_reported_to_the_runtime_api_and_logged_as_json() {
    // A setting out of range, and a CA bundle that is not there (no TLS connection to AWS
    // could be verified: the function says so at start-up, not at each call's handshake).
    let failures = [
        ("FIG_AUDIT_RETENTION_DAYS", "soon"),
        ("SSL_CERT_FILE", "/nonexistent/ca-bundle.crt"),
    ];
    for (name, (setting, value)) in fig_tests::lambda::FUNCTIONS
        .into_iter()
        .flat_map(|name| failures.into_iter().map(move |f| (name, f)))
    {
        let env = vec![(setting.to_owned(), value.to_owned())];
        let exited = Function::start(name, &env).await.exit().await;
        assert_eq!(exited.status.code(), Some(1), "{name} exits 1");
        let line: Value = exited
            .log
            .lines()
            .find_map(|l| serde_json::from_str::<Value>(l).ok())
            .unwrap_or_else(|| panic!("{name}: a JSON log line, got {:?}", exited.log));
        assert_eq!(line["level"], "ERROR", "{line}");
        assert_eq!(line["fields"]["error_type"], "Runtime.InitError", "{line}");
        assert!(
            line["fields"]["error"].as_str().unwrap().contains(setting),
            "{name}: {line}"
        );
        let (headers, body) = exited
            .init_error
            .unwrap_or_else(|| panic!("{name} reported its init error"));
        assert_eq!(
            headers["lambda-runtime-function-error-type"],
            "Runtime.InitError"
        );
        assert_eq!(body["errorType"], "Runtime.InitError");
        assert!(
            body["errorMessage"].as_str().unwrap().contains(setting),
            "{body}"
        );
    }
}

/// The JSON log lines of a function's output that carry an alarm tag.
fn alarm_lines(function: &Function, tag: &str) -> Vec<Value> {
    std::fs::read_to_string(&function.log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["alarm"] == tag)
        .collect()
}

#[tokio::test]
async fn failures_the_alarms_count_are_logged_with_their_tag() {
    use fig_shared::telemetry::alarm;
    let stack = Stack::new().await;
    let secret = register_greeting(&stack, "billing").await;

    // KMS unreachable (only KMS: the service-specific endpoint): a fetch needs the pepper,
    // answers 503 and logs the KMS alarm tag, without the secret.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let mut env = stack.env.clone();
    env.push(("AWS_ENDPOINT_URL_KMS".into(), closed));
    let settings = Function::start("fig-settings", &env).await;
    let fetch =
        HttpEvent::new("GET", "/api/clients/billing/settings").header("clientsecret", &secret);
    let answer = http(&settings, &fetch).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    let lines = alarm_lines(&settings, alarm::KMS_ERROR);
    assert!(!lines.is_empty(), "a {} line", alarm::KMS_ERROR);
    let log = std::fs::read_to_string(&settings.log).unwrap();
    assert!(
        !log.contains(&secret),
        "the client secret never reaches the log"
    );

    // Logins refused by a throttle: each refusal is one tagged line (the alarm counts them).
    let auth = Function::start("fig-auth", &stack.env).await;
    let (mut refused, mut failed) = (0, 0);
    for _ in 0..30 {
        let attempt = HttpEvent::new("POST", "/api/auth/login")
            .json(&json!({"username": "admin", "password": "not the password at all 3"}));
        let answer = http(&auth, &attempt).await;
        match answer.status {
            429 => refused += 1,
            401 => failed += 1,
            other => panic!("a wrong password: {other}"),
        }
    }
    assert!(
        refused > 0 && failed > 0,
        "{failed} failed, {refused} refused of 30 attempts"
    );
    assert_eq!(alarm_lines(&auth, alarm::LOGIN_THROTTLED).len(), refused);
    assert_eq!(alarm_lines(&auth, alarm::LOGIN_FAILED).len(), failed);
}

/// With `FIG_FUNCTION_URL`, services reach the settings function through its Function URL
/// without the distribution's origin secret, with the request context's address (a viewer
/// header is ignored); through API Gateway the secret is still required, and without the
/// setting a Function URL request is refused like any other.
#[tokio::test]
async fn services_reach_the_settings_function_through_its_function_url() {
    const URL_HOST: &str = "abcdefghij0123456789klmnopqrstuv.lambda-url.us-east-1.on.aws";
    const SERVICE_IP: &str = "198.51.100.20";
    let mut stack = Stack::new().await;
    let secret = register_greeting(&stack, "svc").await;
    let mut env = stack.env.clone();
    env.push(("FIG_ORIGIN_VERIFY".into(), "true".into()));
    let mut with_url = env.clone();
    with_url.push(("FIG_FUNCTION_URL".into(), "true".into()));
    let settings = Function::start("fig-settings", &with_url).await;
    let without_url = Function::start("fig-settings", &env).await;
    let request = |secret: &str, domain: &str| {
        let mut event = HttpEvent::new("GET", "/api/clients/svc/settings")
            .header("clientsecret", secret)
            .header("x-fig-viewer-address", "203.0.113.9");
        event.domain = domain.to_owned();
        event.source_ip = SERVICE_IP.to_owned();
        event
    };

    let fetch = request(&secret, URL_HOST);
    let answer = http(&settings, &fetch).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json["settings"][0]["value"], "hello");
    let wrong = request(&client_secret(), URL_HOST);
    let refused = http(&settings, &wrong).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(refused.json["error"]["code"], "CLIENT_AUTH_FAILED");

    // Through API Gateway, or with the setting off, the origin secret is still required.
    for (function, event) in [
        (&settings, request(&secret, "fig.example.com")),
        (
            &settings,
            request(&secret, "abc.execute-api.us-east-1.amazonaws.com"),
        ),
        (&without_url, request(&secret, URL_HOST)),
    ] {
        let answer = http(function, &event).await;
        assert_eq!(answer.status, 403, "{}", answer.body);
        assert_eq!(answer.json["error"]["code"], "NOT_THROUGH_DISTRIBUTION");
    }

    // The trail has the service's own address, not the header's.
    let records = stack.audit_records().await;
    for (id, kind) in [
        (&fetch.request_id, "SettingsRead"),
        (&wrong.request_id, "ClientAuthenticationFailed"),
    ] {
        let record = records
            .iter()
            .find(|r| r["source"]["requestId"] == id.as_str())
            .unwrap_or_else(|| panic!("a record of {kind}"));
        assert_eq!(record["type"], kind);
        assert_eq!(record["source"]["ip"], SERVICE_IP);
    }
}

/// On AWS every new connection is a TLS handshake. The settings function opens its DynamoDB
/// and KMS connections while it waits for its first event (it loads the pepper), so the first
/// fetch, which reads the table and unwraps the client's data key, opens none of its own.
/// Each service is reached through a counting relay (its service-specific endpoint).
#[tokio::test]
async fn the_first_request_uses_the_connections_opened_at_start_up() {
    let stack = Stack::new().await;
    let secret = register_greeting(&stack, "warm").await;

    let emulator = std::env::var("AWS_ENDPOINT_URL")
        .unwrap_or_else(|_| fig_gateway::DEFAULT_ENDPOINT.to_owned());
    let target = emulator
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let (dynamodb, kms) = (Relay::start(&target).await, Relay::start(&target).await);
    let mut env = stack.env.clone();
    env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), dynamodb.url.clone()));
    env.push(("AWS_ENDPOINT_URL_KMS".into(), kms.url.clone()));
    let settings = Function::start("fig-settings", &env).await;
    settings.api.first_poll().await;
    // The pepper is unwrapped: the start-up's connections are open and back in the pool.
    kms.answered(1).await;
    // An answer has come back, so its request has been read whole: the count is settled.
    let (tables, keys) = (dynamodb.connections(), kms.connections());
    let (table_requests, kms_requests) = (dynamodb.requests(), kms.requests());
    assert!(
        tables >= 1 && keys >= 1,
        "start-up opened {tables} DynamoDB and {keys} KMS connections"
    );

    let fetch = HttpEvent::new("GET", "/api/clients/warm/settings").header("clientsecret", &secret);
    let answer = http(&settings, &fetch).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json["settings"][0]["value"], "hello");
    assert!(
        kms.requests() > kms_requests,
        "the fetch unwrapped the data key through KMS"
    );
    assert!(
        dynamodb.requests() > table_requests,
        "the fetch read the table through DynamoDB's relay"
    );
    assert_eq!(
        (dynamodb.connections(), kms.connections()),
        (tables, keys),
        "the first request opened no connection (DynamoDB, KMS)"
    );
}

/// A dependency that accepts connections and never answers must not take a request past its
/// invocation's deadline: the first fetch waits for the warm-up's KMS call and would then make
/// its own (each up to the SDK's 7 s), 14 s in all against a 10 s function timeout, and Lambda
/// would end it with a bare timeout. It gets our 503 before the deadline instead.
#[tokio::test]
async fn a_stalled_dependency_gets_a_503_before_the_invocation_times_out() {
    const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);
    let stack = Stack::new().await;
    let secret = register_greeting(&stack, "stalled").await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut env = stack.env.clone();
    env.push((
        "AWS_ENDPOINT_URL_KMS".into(),
        format!("http://{}", silent.local_addr().unwrap()),
    ));
    let held = tokio::spawn(async move {
        let mut streams = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            streams.push(stream);
        }
    });
    let settings = Function::start_with_timeout("fig-settings", &env, TIMEOUT).await;
    let fetch =
        HttpEvent::new("GET", "/api/clients/stalled/settings").header("clientsecret", &secret);
    let started = std::time::Instant::now();
    let answer = http(&settings, &fetch).await;
    let took = started.elapsed();
    held.abort();
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.json["error"]["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(answer.json["error"]["requestId"], fetch.request_id.as_str());
    assert!(
        took < TIMEOUT,
        "answered after {took:?}, past the invocation's {TIMEOUT:?}"
    );
    let log = std::fs::read_to_string(&settings.log).unwrap();
    assert!(
        !log.contains(&secret),
        "the client secret never reaches the log"
    );
}
