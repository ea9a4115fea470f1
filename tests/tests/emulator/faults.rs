//! The fault matrix: DynamoDB and KMS unreachable during edits and fetches, then back; the
//! audit writer stopped after writing an audit object and before its digest, then running
//! again. (S3 away from the audit writer is `audit_trail::an_s3_outage_loses_no_event`; a
//! webhook receiver down then up is `webhooks::deliveries_are_signed_retried_and_dead_lettered`.)
//! Answers while a service is away are 503 with our error body; nothing is half-written; once
//! it is back, everything works and nothing is lost or doubled.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use fig_gateway::StreamPoller;
use fig_shared::audit_trail;
use fig_tests::{Stack, client_secret, switchable_endpoint};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Sends a request through `router` from the test address; status and JSON body.
async fn call(
    router: &Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = http::Request::builder().method(method).uri(path);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request
        .body(axum::body::Body::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        ))
        .unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [203, 0, 113, 7],
            40000,
        ))));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A function instance of `stack`'s deployment whose DynamoDB or KMS traffic goes through a
/// switch, with the SDK's retries off so an outage answers at once.
async fn instance(stack: &Stack, dynamodb: bool, kms: bool, up: Arc<AtomicBool>) -> Router {
    let switched = stack
        .sdk
        .to_builder()
        .endpoint_url(switchable_endpoint(up).await)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let mut clients = fig_shared::aws::AwsServices::new(&stack.sdk);
    if dynamodb {
        clients.dynamodb = aws_sdk_dynamodb::Client::new(&switched);
    }
    if kms {
        clients.kms = aws_sdk_kms::Client::new(&switched);
    }
    let app = fig_shared::App::new(stack.app.config.clone(), clients).unwrap();
    fig_gateway::router(app, None)
}

fn unavailable(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert_eq!(
        body["error"]["code"], "SERVICE_UNAVAILABLE",
        "{what}: {body}"
    );
    let text = body.to_string();
    for leak in ["dynamodb", "kms", "127.0.0.1", "dispatch"] {
        assert!(
            !text.to_lowercase().contains(leak),
            "{what}: {leak} in {text}"
        );
    }
}

#[tokio::test]
async fn dynamodb_or_kms_away_fails_closed_and_loses_nothing_once_back() {
    let mut stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secret = client_secret();
    let r = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(json!({"name": "svc", "settings": [{"name": "Greeting", "type": "string"}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let edit = |value: &str| json!({"changeMessage": "fault", "values": [{"name": "Greeting", "value": value}]});
    let auth = [("authorization", admin.as_str())];
    let fetch_headers = [("clientSecret", secret.as_str())];

    let mut expected_changes = 0;
    for (what, dynamodb, kms) in [("DynamoDB", true, false), ("KMS", false, true)] {
        let up = Arc::new(AtomicBool::new(false));
        // A cold instance while the service is away: its first requests need it.
        let router = instance(&stack, dynamodb, kms, up.clone()).await;
        let lost = format!("while {what} was away");
        let (status, body) = call(
            &router,
            Method::PUT,
            "/api/admin/clients/svc/settings",
            &auth,
            Some(edit(&lost)),
        )
        .await;
        unavailable(status, &body, &format!("{what} edit"));
        let (status, body) = call(
            &router,
            Method::GET,
            "/api/clients/svc/settings",
            &fetch_headers,
            None,
        )
        .await;
        unavailable(status, &body, &format!("{what} fetch"));
        // Back: the same instance edits and fetches, and the refused edit left nothing.
        up.store(true, Ordering::SeqCst);
        let kept = format!("after {what} came back");
        let (status, body) = call(
            &router,
            Method::PUT,
            "/api/admin/clients/svc/settings",
            &auth,
            Some(edit(&kept)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{what}: {body}");
        expected_changes += 1;
        let (status, body) = call(
            &router,
            Method::GET,
            "/api/clients/svc/settings",
            &fetch_headers,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{what}: {body}");
        assert_eq!(body["settings"][0]["value"], kept.as_str());
        assert!(!stack.table_dump().await.contains(&lost));
    }
    let history = stack
        .call(
            Method::GET,
            "/api/admin/clients/svc/settings/Greeting/history",
            &auth,
            None,
        )
        .await;
    assert_eq!(
        history.json["history"].as_array().unwrap().len(),
        expected_changes,
        "only the changes that were answered 200: {}",
        history.text
    );
    let records = stack.audit_records().await;
    assert_eq!(
        records
            .iter()
            .filter(|r| r["type"] == "SettingValueChanged")
            .count(),
        expected_changes
    );
}

#[tokio::test]
async fn an_audit_writer_stopped_before_its_digest_loses_and_doubles_nothing() {
    let stack = Stack::new().await;
    stack.admin_auth().await;
    for i in 0..3 {
        stack.login(&format!("before-{i}"), "wrong wrong").await;
    }
    // The writer reaches S3 but not the key that signs digests: it writes the objects of a
    // batch, then stops before the digest (the batch's records come back as failures).
    let up = Arc::new(AtomicBool::new(false));
    let switched = stack
        .sdk
        .to_builder()
        .endpoint_url(switchable_endpoint(up.clone()).await)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let writer = fig_events::AuditWriter::new(
        stack.s3.clone(),
        &stack.names.audit_bucket,
        &stack.names.kms_alias,
        1,
    )
    .with_digests(audit_trail::DigestChain::new(
        stack.s3.clone(),
        aws_sdk_kms::Client::new(&switched),
        stack.ddb.clone(),
        &stack.names.table,
        &stack.names.audit_bucket,
        &stack.app.config.audit_signing_key_id,
    ));
    let mut poller = StreamPoller::new(&stack.sdk, &stack.names.table, writer);
    assert!(poller.poll_once().await.unwrap() > 0);
    let written_early = stack.audit_objects().await;
    assert!(
        !written_early.is_empty(),
        "the objects were written before the digest failed"
    );
    // Restarted: the stream delivers the batch again; its objects are written again (same keys,
    // same bytes) and one digest covers them.
    up.store(true, Ordering::SeqCst);
    for i in 0..2 {
        stack.login(&format!("after-{i}"), "wrong wrong").await;
    }
    poller.drain().await.unwrap();
    let objects = stack.audit_objects().await;
    let mut ids = Vec::new();
    for (_, body) in &objects {
        for line in body.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            ids.push(v["id"].as_str().unwrap().to_owned());
        }
    }
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no event twice");
    let expected = audit_trail::outbox_events(
        &stack.ddb,
        &stack.names.table,
        fig_shared::clock::now() - time::Duration::hours(1),
        fig_shared::clock::now(),
    )
    .await
    .unwrap();
    let expected: BTreeSet<String> = expected.into_iter().map(|e| e.id).collect();
    let found: BTreeSet<String> = ids.into_iter().collect();
    assert_eq!(found, expected, "every outbox event once in the bucket");
    let report = stack.verify_audit_chain().await;
    assert!(report.ok(), "{:?}", report.problems);
}
