//! Data-subject requests for console users: an Administrator exports what Fig stores about a
//! person (and the export is audited), and the user's deletion erases it from the tables; the
//! audit records stay (SECURITY.md, "Personal data").

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fig_tests::{Stack, USER_PASSWORD};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn an_administrator_exports_a_users_data_and_deletion_erases_it_from_the_tables() {
    let mut stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let auth = [("authorization", admin.as_str())];
    let alice = stack
        .user_auth(
            &admin,
            "alice",
            "ReadOnly",
            json!({"clientFilter": "bill.*"}),
        )
        .await;
    // A wrong password: a throttle counter about her.
    assert_eq!(
        stack
            .login("alice", "not her password at all 7")
            .await
            .status,
        401
    );
    assert_eq!(
        stack.login("alice", USER_PASSWORD).await.status,
        StatusCode::OK
    );

    // Only Administrators; a name that is no user name is refused before any read.
    let denied = stack
        .call(
            Method::GET,
            "/api/admin/users/alice/personal-data",
            &[("authorization", alice.as_str())],
            None,
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.text);
    let odd = stack
        .call(
            Method::GET,
            "/api/admin/users/a%23b/personal-data",
            &auth,
            None,
        )
        .await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST, "{}", odd.text);
    assert_eq!(odd.json["error"]["code"], "INVALID_NAME");

    let export = stack
        .call(
            Method::GET,
            "/api/admin/users/alice/personal-data",
            &auth,
            None,
        )
        .await;
    assert_eq!(export.status, StatusCode::OK, "{}", export.text);
    let data = &export.json;
    assert_eq!(data["username"], "alice");
    assert_eq!(data["profile"]["username"], "alice");
    assert_eq!(data["profile"]["clientFilter"], "bill.*");
    assert_eq!(data["mfaEnrolled"], false);
    assert!(
        !data["sessions"].as_array().unwrap().is_empty(),
        "her sessions"
    );
    assert!(data["sessions"][0]["created"].is_string());
    let counters = data["loginThrottle"].as_array().unwrap();
    assert!(
        counters.iter().any(|c| c["counter"] == "account"),
        "her account's throttle counter: {counters:?}"
    );
    let types: Vec<&str> = data["auditEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for kind in [
        "UserCreated",
        "LoginSucceeded",
        "LoginFailed",
        "PasswordChanged",
    ] {
        assert!(types.contains(&kind), "{kind} in {types:?}");
    }
    assert!(
        data["olderAuditRecords"]
            .as_str()
            .unwrap()
            .contains("figctl audit query")
    );
    // Credentials are not data about her: no hash, no token, no TOTP secret.
    for never in [
        "passwordHash",
        "tokenHash",
        "\"secret\"",
        "recoveryCodes",
        "$argon2id$",
    ] {
        assert!(!export.text.contains(never), "{never} in the export");
    }

    // The export is audited, with who asked.
    let records = stack.audit_records().await;
    let exported = records
        .iter()
        .find(|r| r["type"] == "PersonalDataExported")
        .expect("a PersonalDataExported record");
    assert_eq!(exported["username"], "alice");
    assert_eq!(exported["actor"]["name"], "admin");

    // Erasure: the deletion leaves nothing of her in the identity table.
    let deleted = stack
        .call(Method::DELETE, "/api/admin/users/alice", &auth, None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let identity = stack
        .ddb
        .scan()
        .table_name(&stack.names.identity_table)
        .send()
        .await
        .unwrap();
    let left: Vec<String> = identity
        .items()
        .iter()
        .map(|item| format!("{item:?}"))
        .filter(|text| text.contains("alice"))
        .collect();
    assert!(left.is_empty(), "items about her remain: {left:?}");
    let after = stack
        .call(
            Method::GET,
            "/api/admin/users/alice/personal-data",
            &auth,
            None,
        )
        .await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    assert_eq!(after.json["profile"], serde_json::Value::Null);
    assert_eq!(after.json["sessions"], json!([]));
    assert_eq!(after.json["loginThrottle"], json!([]));
    assert!(
        !after.json["auditEvents"].as_array().unwrap().is_empty(),
        "the audit trail keeps her events"
    );
}
