//! Scheduled maintenance against the emulator: the signing key and clients' data keys are
//! rotated when they are old enough, nothing is lost, nobody is logged out, and a second run
//! finds nothing to do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fig_shared::clock;
use fig_shared::maintenance;
use fig_tests::{Stack, client_secret};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET_VALUE: &str = "pg-password-do-not-leak-42";

#[tokio::test]
async fn keys_are_rotated_on_schedule_without_losing_anything() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let auth = [("authorization", admin.as_str())];
    let mut secrets = Vec::new();
    for name in ["ledger", "orders"] {
        let secret = client_secret();
        let r = stack
            .call(
                Method::POST,
                "/api/clients",
                &[("clientSecret", &secret)],
                Some(json!({"name": name, "settings": [
                    {"name": "Greeting", "type": "string", "defaultValue": "hello"},
                    {"name": "DbPassword", "type": "string", "secret": true},
                ]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        secrets.push(secret);
    }
    let r = stack
        .call(
            Method::POST,
            "/api/admin/clients/ledger/instances",
            &auth,
            Some(json!({"instance": "eu"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    for (instance, greeting) in [(None, "bonjour"), (Some("eu"), "hallo")] {
        let mut body = json!({"values": [
            {"name": "Greeting", "value": greeting},
            {"name": "DbPassword", "value": SECRET_VALUE},
        ]});
        if let Some(i) = instance {
            body["instance"] = json!(i);
        }
        let r = stack
            .call(
                Method::PUT,
                "/api/admin/clients/ledger/settings",
                &auth,
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let fetch = |query: &'static str| {
        let stack = &stack;
        let secret = secrets[0].clone();
        async move {
            let r = stack
                .call(
                    Method::GET,
                    &format!("/api/clients/ledger/settings{query}"),
                    &[("clientSecret", &secret)],
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.json["settings"].clone()
        }
    };
    let (base_before, eu_before) = (fetch("").await, fetch("?instance=eu").await);

    // Nothing is due yet.
    let now = clock::now();
    let report = maintenance::run(&stack.app, now, None).await.unwrap();
    assert_eq!(report, maintenance::Report::default());

    // A month on: the signing key is due, the data keys (90 days) are not.
    let report = maintenance::run(&stack.app, now + time::Duration::days(31), None)
        .await
        .unwrap();
    let kid = report
        .signing_key_rolled
        .clone()
        .expect("signing key rolled");
    assert!(report.data_keys_rotated.is_empty(), "{report:?}");
    let still = stack
        .call(Method::GET, "/api/admin/clients", &auth, None)
        .await;
    assert_eq!(still.status, StatusCode::OK, "nobody is logged out");

    // A quarter on: every client gets a new data key; values, instance values and secrets are
    // the same, only the version moved on.
    let report = maintenance::run(&stack.app, now + time::Duration::days(91), None)
        .await
        .unwrap();
    assert_eq!(report.data_keys_rotated, ["ledger", "orders"], "{report:?}");
    assert!(report.data_keys_failed.is_empty());
    assert_eq!(fetch("").await, base_before);
    assert_eq!(fetch("?instance=eu").await, eu_before);
    let ledger = stack
        .call(Method::GET, "/api/admin/clients/ledger", &auth, None)
        .await;
    assert_eq!(ledger.status, StatusCode::OK, "{}", ledger.text);

    // Today again: nothing is due, nothing is written.
    let report = maintenance::run(&stack.app, clock::now(), None)
        .await
        .unwrap();
    assert_eq!(report, maintenance::Report::default());

    let mut stack = stack;
    let records = stack.audit_records().await;
    let of = |t: &str| -> Vec<&Value> { records.iter().filter(|r| r["type"] == t).collect() };
    let rolled = of("SigningKeyRolled");
    assert_eq!(rolled.len(), 2, "{rolled:?}");
    assert_eq!(rolled[0]["kid"], kid.as_str());
    let rotated = of("DataKeyRotated");
    assert_eq!(rotated.len(), 2, "{rotated:?}");
    for r in rolled.iter().chain(&rotated) {
        assert_eq!(r["actor"]["kind"], "system", "{r}");
    }
    assert!(!format!("{records:?}").contains(SECRET_VALUE));
}
