//! The restore rehearsal (README, "Backups and restore"): the parts of a point-in-time restore an
//! emulator can play. The table is restored into new tables as PITR restores it (no stream, then
//! the stack's stream and TTL), the functions (the built bootstraps) are pointed at it, and:
//! values and secrets read back intact under the same KMS key; the administrator signs in with
//! the restored identity table; new changes reach the audit trail, whose chain (which the
//! original stack extended after the restore point) still verifies from the restored head.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fig_tests::lambda::{Function, HttpAnswer, HttpEvent};
use fig_tests::{ADMIN_NEW_PASSWORD, Stack, client_secret};
use http::{Method, StatusCode};
use serde_json::{Value, json};

async fn set(stack: &Stack, admin: &str, values: Value) {
    let r = stack
        .call(
            Method::PUT,
            "/api/admin/clients/billing/settings",
            &[("authorization", admin)],
            Some(json!({"changeMessage": "rehearsal", "values": values})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn a_table_restored_under_a_new_name_serves_values_secrets_sign_in_and_a_verifiable_chain() {
    let mut original = Stack::new().await;
    let admin = original.admin_auth().await;
    let secret = client_secret();
    let registered = original
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(json!({"name": "billing", "settings": [
                {"name": "Greeting", "type": "string", "defaultValue": "hello"},
                {"name": "DbPassword", "type": "string", "secret": true},
            ]})),
        )
        .await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.text);
    set(
        &original,
        &admin,
        json!([{"name": "Greeting", "value": "at the restore point"}, {"name": "DbPassword", "value": "s3cret-before"}]),
    )
    .await;
    original.poller.drain().await.unwrap();

    // The restore point: the tables as they are now, in new tables.
    let mut restored = original.restored().await;

    // The original goes on after the restore point (the change a restore undoes), and its
    // audit trail moves the chain on past the restored head.
    set(
        &original,
        &admin,
        json!([{"name": "Greeting", "value": "after the restore point"}]),
    )
    .await;
    original.poller.drain().await.unwrap();
    let original_head = fig_shared::audit_trail::read_head(&original.ddb, &original.names.table)
        .await
        .unwrap();

    // The functions, re-pointed at the restored tables.
    let settings = Function::start("fig-settings", &restored.env).await;
    let fetch =
        HttpEvent::new("GET", "/api/clients/billing/settings").header("clientsecret", &secret);
    let fetched = HttpAnswer::of(&settings.invoke(fetch.event()).await.response());
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    let value = |name: &str| {
        fetched.json["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["value"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(value("Greeting"), "at the restore point");
    assert_eq!(
        value("DbPassword"),
        "s3cret-before",
        "the secret opens under the same key"
    );

    let auth = Function::start("fig-auth", &restored.env).await;
    let login = HttpEvent::new("POST", "/api/auth/login")
        .json(&json!({"username": "admin", "password": ADMIN_NEW_PASSWORD}));
    let signed_in = HttpAnswer::of(&auth.invoke(login.event()).await.response());
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let token = signed_in.json["accessToken"].as_str().unwrap().to_owned();

    // A change on the restored stack reaches the audit trail, and the chain verifies from the
    // restored table's head although the original wrote digests past the restore point.
    let admin_fn = Function::start("fig-admin", &restored.env).await;
    let edit = HttpEvent::new("PUT", "/api/admin/clients/billing/settings")
        .header("authorization", &format!("Bearer {token}"))
        .json(&json!({"changeMessage": "after the restore", "values": [{"name": "Greeting", "value": "restored"}]}));
    let edited = HttpAnswer::of(&admin_fn.invoke(edit.event()).await.response());
    assert_eq!(edited.status, 200, "{}", edited.body);
    let records = restored.audit_records().await;
    assert!(
        records.iter().any(|r| r["type"] == "SettingValueChanged"
            && r["source"]["requestId"] == edit.request_id.as_str()),
        "the restored stack's change is in the trail"
    );
    let restored_head = fig_shared::audit_trail::read_head(&restored.ddb, &restored.names.table)
        .await
        .unwrap();
    assert!(
        restored_head.sequence > original_head.sequence,
        "the restored head caught up with the chain ({} after {})",
        restored_head.sequence,
        original_head.sequence
    );
    let report = restored.verify_audit_chain().await;
    assert!(report.problems.is_empty(), "{report:?}");
}
