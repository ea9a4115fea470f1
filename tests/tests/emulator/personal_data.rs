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
    // The cursor (one request reads a bounded number of hours) goes on with the range it names.
    if let Some(cursor) = data["auditCursor"].as_str() {
        let next = stack
            .call(
                Method::GET,
                &format!(
                    "/api/admin/audit?user=alice&from={}&to={}&cursor={}",
                    urlencode(data["auditFrom"].as_str().unwrap()),
                    urlencode(data["auditTo"].as_str().unwrap()),
                    urlencode(cursor)
                ),
                &auth,
                None,
            )
            .await;
        assert_eq!(next.status, StatusCode::OK, "{}", next.text);
    }
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

    // What a deletion that failed midway (or a racing login) left behind, the same DELETE
    // removes, then answers 404.
    use aws_sdk_dynamodb::types::AttributeValue;
    for (pk, sk) in [
        ("USER#alice", "SESSION#01JLEFTOVERLEFTOVERLEFTOVE"),
        ("THROTTLE#USER#alice", "META"),
    ] {
        stack
            .ddb
            .put_item()
            .table_name(&stack.names.identity_table)
            .item("PK", AttributeValue::S(pk.into()))
            .item("SK", AttributeValue::S(sk.into()))
            .send()
            .await
            .unwrap();
    }
    let again = stack
        .call(Method::DELETE, "/api/admin/users/alice", &auth, None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.text);
    assert!(identity_items_naming(&stack, "alice").await.is_empty());
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every identity-table item that names `name` anywhere, as debug text.
async fn identity_items_naming(stack: &Stack, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut start = None;
    loop {
        let page = stack
            .ddb
            .scan()
            .table_name(&stack.names.identity_table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        found.extend(
            page.items()
                .iter()
                .map(|item| format!("{item:?}"))
                .filter(|text| text.contains(name)),
        );
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return found,
        }
    }
}

#[tokio::test]
async fn a_login_racing_the_deletion_leaves_no_session_or_address_behind() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    for round in 0..3 {
        let name = format!("racer{round}");
        stack.user_auth(&admin, &name, "ReadOnly", json!({})).await;
        let logins = futures::future::join_all((0..6).map(|i| {
            let ip = format!("198.51.100.{}", 10 * round + i + 1);
            let name = name.clone();
            let stack = &stack;
            async move {
                stack
                    .login_from(&ip, &name, USER_PASSWORD, json!({}))
                    .await
                    .status
            }
        }));
        let path = format!("/api/admin/users/{name}");
        let headers = [("authorization", admin.as_str())];
        let delete = stack.call(Method::DELETE, &path, &headers, None);
        let (statuses, deleted) = tokio::join!(logins, delete);
        assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
        for status in statuses {
            assert!(
                [200, 401, 409, 429].contains(&status.as_u16()),
                "a login racing the deletion: {status}"
            );
        }
        // Nothing of the user but, at most, the account's failure counter (no address).
        for item in identity_items_naming(&stack, &name).await {
            assert!(
                item.contains("THROTTLE#USER#")
                    && item.contains("S(\"META\")")
                    && !item.contains("198.51.100."),
                "left behind: {item}"
            );
        }
    }
}
