//! Webhooks against the emulator and a local receiver: signed delivery with Fig's fields,
//! retries while the receiver is down, dead letters after the last try, and the SSRF guard.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::IntoResponse;
use axum::routing::post;
use fig_tests::{Stack, client_secret};
use hmac::{Hmac, Mac};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

/// What the receiver saw.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: String,
}

#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Received>>>,
    /// Status the hook answers (0: 200).
    status: Arc<AtomicU16>,
}

impl Receiver {
    fn seen(&self, path: &str) -> Vec<Received> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn record(
    State(rx): State<Receiver>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    rx.seen.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    if uri.path() == "/redirect" {
        return (AxumStatus::FOUND, [("location", "/target")], "moved").into_response();
    }
    match rx.status.load(Ordering::SeqCst) {
        0 => AxumStatus::OK.into_response(),
        s => AxumStatus::from_u16(s).unwrap().into_response(),
    }
}

/// A receiver on a free loopback port.
async fn receiver() -> (Receiver, SocketAddr) {
    let rx = Receiver::default();
    let app = Router::new()
        .route("/hook", post(record))
        .route("/redirect", post(record))
        .route("/target", post(record))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (rx, addr)
}

/// Whether `received` carries a current signature made with `secret`.
fn signed_with(secret: &str, received: &Received) -> bool {
    let header = received.headers["fig-signature"].to_str().unwrap();
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|r| r.split_once(",v1="))
        .expect("t=..,v1=..");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", received.body).as_bytes());
    let t: i64 = t.parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - t).abs() < 300, "timestamp is current");
    mac.verify_slice(&hex::decode(v1).unwrap()).is_ok()
}

fn verify_signature(secret: &str, received: &Received) {
    assert!(
        signed_with(secret, received),
        "the signature verifies with the signing secret"
    );
}

/// "Send test" on webhook `id`, as `admin`.
async fn send_test(stack: &Stack, admin: &str, id: &str) -> fig_tests::Reply {
    stack
        .call(
            Method::POST,
            &format!("/api/admin/webhooks/{id}/test"),
            &[("authorization", admin)],
            None,
        )
        .await
}

/// The address a test's failed login named `name` comes from: a name that is no user's is not
/// passed on (it may be a password typed into the wrong field), so each phase of a test tells
/// its deliveries apart by address.
fn address_of(name: &str) -> String {
    let n = name
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("198.51.{}.{}", n % 200 + 1, (n / 200) % 250 + 1)
}

async fn failed_login(stack: &Stack, name: &str) {
    let r = stack
        .login_from(
            &address_of(name),
            name,
            "not the password at all",
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deliveries_are_signed_retried_and_dead_lettered() {
    let stack = Stack::with_env(&[
        ("FIG_WEBHOOK_ATTEMPTS", "3"),
        ("FIG_WEBHOOK_BACKOFF_MS", "1"),
        ("FIG_WEBHOOK_TIMEOUT_MS", "5000"),
    ])
    .await;
    let (rx, addr) = receiver().await;
    let admin = stack.admin_auth().await;
    let auth = [("authorization", admin.as_str())];
    let r = stack
        .configure(&admin, json!({"webhookAllowedHosts": [addr.to_string()]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let created = stack
        .call(
            Method::POST,
            "/api/admin/webhooks",
            &auth,
            Some(json!({
                "url": format!("http://{addr}/hook"),
                "types": ["SecurityEvent", "SettingValueChanged"],
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let secret = created.json["signingSecret"].as_str().unwrap().to_owned();
    assert!(secret.len() > 40);
    let list = stack
        .call(Method::GET, "/api/admin/webhooks", &auth, None)
        .await;
    assert!(!list.text.contains(&secret), "the secret is shown once");
    assert!(
        !stack.table_dump().await.contains(&secret),
        "stored wrapped"
    );

    let mut poller = stack.webhook_poller();
    poller.drain().await.unwrap();
    let before = rx.seen("/hook").len();

    // A security event reaches the receiver, signed, with Fig's fields exactly.
    failed_login(&stack, "mallory").await;
    poller.drain().await.unwrap();
    let seen = rx.seen("/hook");
    assert_eq!(seen.len(), before + 1);
    let delivery = seen.last().unwrap();
    verify_signature(&secret, delivery);
    assert_eq!(delivery.headers["fig-event-type"], "SecurityEvent");
    let body: Value = serde_json::from_str(&delivery.body).unwrap();
    let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "auditId",
            "eventType",
            "failureReason",
            "hostname",
            "ipAddress",
            "success",
            "timestamp",
            "username"
        ]
    );
    // No user is called mallory: the typed name (it may be a password) is not passed on.
    assert_eq!(body["username"], fig_shared::auth::UNKNOWN_USER);
    assert_eq!(body["ipAddress"], address_of("mallory"));
    assert_eq!(body["success"], false);
    assert_eq!(
        delivery.headers["fig-event-id"].to_str().unwrap(),
        body["auditId"]
    );
    assert!(!delivery.body.contains("not the password"));

    // A value change: names, never values.
    let client_secret = client_secret();
    let reg = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &client_secret)],
            Some(json!({"name": "billing", "settings": [
                {"name": "DbPassword", "type": "string", "secret": true},
            ]})),
        )
        .await;
    assert_eq!(reg.status, StatusCode::OK, "{}", reg.text);
    let put = stack
        .call(
            Method::PUT,
            "/api/admin/clients/billing/settings",
            &auth,
            Some(json!({"changeMessage": "rotate", "values": [
                {"name": "DbPassword", "value": "hunter2-very-secret-value"}
            ]})),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    poller.drain().await.unwrap();
    let change = rx
        .seen("/hook")
        .into_iter()
        .find(|r| r.headers["fig-event-type"] == "SettingValueChanged")
        .expect("SettingValueChanged delivered");
    verify_signature(&secret, &change);
    let body: Value = serde_json::from_str(&change.body).unwrap();
    assert_eq!(body["clientName"], "billing");
    assert_eq!(body["updatedSettings"], json!(["DbPassword"]));
    assert!(!change.body.contains("hunter2"));

    // The receiver is down: the record is retried, nothing is lost, then it is delivered once.
    rx.status.store(503, Ordering::SeqCst);
    failed_login(&stack, "down-then-up").await;
    let count = |name: &str| {
        rx.seen("/hook")
            .iter()
            .filter(|r| r.body.contains(&address_of(name)))
            .count()
    };
    poller.poll_once().await.unwrap();
    assert_eq!(count("down-then-up"), 1, "first attempt");
    poller.poll_once().await.unwrap();
    assert_eq!(
        count("down-then-up"),
        2,
        "second attempt (the stream handed it back)"
    );
    rx.status.store(0, Ordering::SeqCst);
    poller.drain().await.unwrap();
    assert_eq!(count("down-then-up"), 3, "third attempt succeeds");
    poller.drain().await.unwrap();
    assert_eq!(count("down-then-up"), 3, "and is not sent again");

    // Down for good: a dead letter after the last attempt, and the stream moves on.
    rx.status.store(500, Ordering::SeqCst);
    failed_login(&stack, "never-delivered").await;
    poller.drain().await.unwrap();
    assert_eq!(count("never-delivered"), 3, "FIG_WEBHOOK_ATTEMPTS");
    let letters = stack
        .call(
            Method::GET,
            &format!("/api/admin/webhooks/{id}/dead-letters"),
            &auth,
            None,
        )
        .await;
    assert_eq!(letters.status, StatusCode::OK, "{}", letters.text);
    let letters = letters.json["deadLetters"].as_array().unwrap().clone();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["attempts"], 3);
    assert_eq!(letters[0]["lastError"], "HTTP 500");
    rx.status.store(0, Ordering::SeqCst);
    failed_login(&stack, "after-the-dead-letter").await;
    poller.drain().await.unwrap();
    assert_eq!(count("after-the-dead-letter"), 1, "later events flow again");

    // The list shows the last delivery and the dead letters; "send test" answers at once.
    let list = stack
        .call(Method::GET, "/api/admin/webhooks", &auth, None)
        .await;
    let hook = &list.json["webhooks"][0];
    assert_eq!(hook["deadLetters"], 1, "{}", list.text);
    assert_eq!(hook["lastDelivery"]["ok"], true);
    let test = send_test(&stack, &admin, &id).await;
    assert_eq!(test.json["delivered"], true, "{}", test.text);
    assert_eq!(test.json["status"], 200);
    verify_signature(&secret, rx.seen("/hook").last().unwrap());

    // Update, then delete: audited, and nothing is sent after the delete.
    let updated = stack
        .call(
            Method::PUT,
            &format!("/api/admin/webhooks/{id}"),
            &auth,
            Some(json!({"url": format!("http://{addr}/hook"), "types": ["SettingValueChanged"]})),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert!(updated.json.get("signingSecret").is_none());
    failed_login(&stack, "not-subscribed-any-more").await;
    poller.drain().await.unwrap();
    assert_eq!(count("not-subscribed-any-more"), 0);
    let deleted = stack
        .call(
            Method::DELETE,
            &format!("/api/admin/webhooks/{id}"),
            &auth,
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);

    let mut stack = stack;
    let records = stack.audit_records().await;
    let types: Vec<&str> = records.iter().filter_map(|r| r["type"].as_str()).collect();
    for t in [
        "WebhookCreated",
        "WebhookUpdated",
        "WebhookDeleted",
        "WebhookTested",
        "WebhookDeliveryFailed",
    ] {
        assert_eq!(
            types.iter().filter(|x| **x == t).count(),
            1,
            "{t}: {types:?}"
        );
    }
    let everything = format!("{records:?}");
    assert!(
        !everything.contains(&secret),
        "no signing secret in the audit trail"
    );
    assert!(
        !everything.contains("/hook"),
        "URLs (which may carry tokens) are not audited"
    );
}

#[tokio::test]
async fn the_signing_secret_rotates_on_request_and_with_a_new_host() {
    let stack = Stack::new().await;
    let (rx, addr) = receiver().await;
    let admin = stack.admin_auth().await;
    let auth = [("authorization", admin.as_str())];
    let r = stack
        .configure(&admin, json!({"webhookAllowedHosts": [addr.to_string()]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let url = format!("http://{addr}/hook");
    let created = stack
        .call(
            Method::POST,
            "/api/admin/webhooks",
            &auth,
            Some(json!({"url": url, "types": ["SecurityEvent"]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json["id"].as_str().unwrap().to_owned();
    let first = created.json["signingSecret"].as_str().unwrap().to_owned();
    let deliver_test = || async {
        let test = send_test(&stack, &admin, &id).await;
        assert_eq!(test.json["delivered"], true, "{}", test.text);
        rx.seen("/hook").last().unwrap().clone()
    };

    // On request: a new secret, shown once; the old one signs nothing more.
    let rotated = stack
        .call(
            Method::POST,
            &format!("/api/admin/webhooks/{id}/secret"),
            &auth,
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let second = rotated.json["signingSecret"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert!(second.starts_with("whsec_") && second.len() > 40);
    let delivery = deliver_test().await;
    assert!(signed_with(&second, &delivery));
    assert!(!signed_with(&first, &delivery), "the old secret is retired");
    let list = stack
        .call(Method::GET, "/api/admin/webhooks", &auth, None)
        .await;
    assert!(!list.text.contains(&second), "shown once");

    // The same host keeps its secret; another host is another receiver and gets its own.
    let same_host = stack
        .call(
            Method::PUT,
            &format!("/api/admin/webhooks/{id}"),
            &auth,
            Some(json!({"url": url, "types": ["SecurityEvent", "SettingValueChanged"]})),
        )
        .await;
    assert_eq!(same_host.status, StatusCode::OK, "{}", same_host.text);
    assert!(same_host.json.get("signingSecret").is_none());
    assert!(signed_with(&second, &deliver_test().await));
    let moved = stack
        .call(
            Method::PUT,
            &format!("/api/admin/webhooks/{id}"),
            &auth,
            Some(json!({"url": "https://siem.example.com/fig", "types": ["SecurityEvent"]})),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    let third = moved.json["signingSecret"].as_str().unwrap().to_owned();
    assert_ne!(third, second);
    let back = stack
        .call(
            Method::PUT,
            &format!("/api/admin/webhooks/{id}"),
            &auth,
            Some(json!({"url": url, "types": ["SecurityEvent"]})),
        )
        .await;
    let fourth = back.json["signingSecret"].as_str().unwrap().to_owned();
    let delivery = deliver_test().await;
    assert!(signed_with(&fourth, &delivery));
    for old in [&first, &second, &third] {
        assert!(!signed_with(old, &delivery));
    }

    // A rotation of a webhook that does not exist is a 404; every rotation is audited, without
    // the secret.
    let missing = stack
        .call(
            Method::POST,
            "/api/admin/webhooks/01JAAAAAAAAAAAAAAAAAAAAAAA/secret",
            &auth,
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);
    let mut stack = stack;
    let records = stack.audit_records().await;
    let mut updates: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "WebhookUpdated")
        .collect();
    updates.sort_by_key(|r| r["id"].as_str().unwrap().to_owned());
    let rotations: Vec<bool> = updates
        .iter()
        .map(|r| r["secretRotated"].as_bool().unwrap())
        .collect();
    assert_eq!(rotations, [true, false, true, true], "{records:?}");
    let everything = format!("{records:?}");
    for secret in [&first, &second, &third, &fourth] {
        assert!(!everything.contains(secret.as_str()));
        assert!(!stack.table_dump().await.contains(secret.as_str()));
    }
}

#[tokio::test]
async fn the_ssrf_guard_refuses_internal_targets_and_redirects() {
    let stack = Stack::new().await;
    let (rx, addr) = receiver().await;
    let admin = stack.admin_auth().await;
    let auth = [("authorization", admin.as_str())];
    let create = |url: String| {
        let stack = &stack;
        async move {
            stack
                .call(
                    Method::POST,
                    "/api/admin/webhooks",
                    &auth,
                    Some(json!({"url": url, "types": ["SecurityEvent"]})),
                )
                .await
        }
    };
    for url in [
        format!("http://{addr}/hook"),
        format!("https://{addr}/hook"),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://10.0.0.1/hook".to_owned(),
        "https://[::1]/hook".to_owned(),
        "http://hooks.example.com/hook".to_owned(),
        "https://user:pw@hooks.example.com/hook".to_owned(),
    ] {
        let r = create(url.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.text);
        assert_eq!(r.json["error"]["code"], "INVALID_WEBHOOK_URL", "{url}");
    }

    // A host name that resolves to loopback passes the URL check but never gets a connection.
    let sneaky = create(format!("https://localhost:{}/hook", addr.port())).await;
    assert_eq!(sneaky.status, StatusCode::CREATED, "{}", sneaky.text);
    let id = sneaky.json["id"].as_str().unwrap();
    let test = send_test(&stack, &admin, id).await;
    assert_eq!(test.status, StatusCode::OK, "{}", test.text);
    assert_eq!(test.json["delivered"], false);
    assert!(
        test.json["error"]
            .as_str()
            .unwrap()
            .contains("may not reach"),
        "{}",
        test.text
    );

    // A host name allow-listed for one port opens that port only: over https on another port
    // the resolver still drops the loopback address, and on its own port delivery works.
    let other_port = if addr.port() == 1 { 2 } else { 1 };
    let r = stack
        .configure(
            &admin,
            json!({"webhookAllowedHosts": [format!("localhost:{other_port}")]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = sneaky.json["id"].as_str().unwrap();
    let test = send_test(&stack, &admin, id).await;
    assert_eq!(test.json["delivered"], false, "{}", test.text);
    assert!(
        test.json["error"]
            .as_str()
            .unwrap()
            .contains("may not reach"),
        "another port of a listed host is not opened: {}",
        test.text
    );
    let r = stack
        .configure(
            &admin,
            json!({"webhookAllowedHosts": [format!("localhost:{}", addr.port())]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let named = create(format!("http://localhost:{}/hook", addr.port())).await;
    assert_eq!(named.status, StatusCode::CREATED, "{}", named.text);
    let id = named.json["id"].as_str().unwrap();
    let test = send_test(&stack, &admin, id).await;
    assert_eq!(test.json["delivered"], true, "{}", test.text);
    assert_eq!(rx.seen("/hook").len(), 1, "the listed port is reached");

    // Allow-listed (host and port), plain HTTP works; a redirect is not followed. The entry
    // opens that port only, and a bad entry is refused.
    let bad = stack
        .configure(&admin, json!({"webhookAllowedHosts": ["127.0.0.1:0"]}))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    assert_eq!(bad.json["error"]["code"], "INVALID_CONFIGURATION");
    let r = stack
        .configure(&admin, json!({"webhookAllowedHosts": [addr.to_string()]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for url in [
        format!("http://127.0.0.1:{other_port}/hook"),
        "http://127.0.0.1/hook".to_owned(),
    ] {
        let r = create(url.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.text);
        assert_eq!(r.json["error"]["code"], "INVALID_WEBHOOK_URL", "{url}");
    }
    let redirecting = create(format!("http://{addr}/redirect")).await;
    assert_eq!(
        redirecting.status,
        StatusCode::CREATED,
        "{}",
        redirecting.text
    );
    let id = redirecting.json["id"].as_str().unwrap();
    let test = send_test(&stack, &admin, id).await;
    assert_eq!(test.json["delivered"], false, "{}", test.text);
    assert_eq!(test.json["status"], 302);
    assert_eq!(rx.seen("/redirect").len(), 1);
    assert_eq!(rx.seen("/target").len(), 0, "the redirect was not followed");
    assert_eq!(
        rx.seen("/hook").len(),
        1,
        "loopback by name reached only through its allow-list entry"
    );

    // Taking the host off the allow-list closes it again, also for existing webhooks.
    stack
        .configure(&admin, json!({"webhookAllowedHosts": []}))
        .await;
    let test = send_test(&stack, &admin, id).await;
    assert_eq!(test.json["delivered"], false);
    assert_eq!(rx.seen("/redirect").len(), 1, "not contacted again");
}
