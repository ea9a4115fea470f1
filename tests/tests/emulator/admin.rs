//! Admin API: one client, optimistic concurrency, client delete, and the audit view.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fig_tests::{Stack, client_secret};
use http::{Method, StatusCode};
use serde_json::{Value, json};

async fn register(stack: &Stack, name: &str, secret: &str) {
    let r = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", secret)],
            Some(json!({"name": name, "settings": [
                {"name": "Greeting", "type": "string", "defaultValue": "hello"},
                {"name": "ApiKey", "type": "string", "secret": true},
            ]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn one_client_stale_edits_and_delete() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let auth = [("authorization", admin.as_str())];
    let secret = client_secret();
    register(&stack, "billing", &secret).await;

    let one = stack
        .call(Method::GET, "/api/admin/clients/billing", &auth, None)
        .await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(one.json["name"], "billing");
    let version = one.json["version"].as_u64().unwrap();
    assert_eq!(one.headers["etag"], format!("\"{version}\""));
    let missing = stack
        .call(Method::GET, "/api/admin/clients/nope", &auth, None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Optimistic concurrency: the version the admin saw, in the body or as If-Match.
    let change = |v: Value| json!({"changeMessage": "x", "values": [{"name": "Greeting", "value": v}], "version": version});
    let ok = stack
        .call(
            Method::PUT,
            "/api/admin/clients/billing/settings",
            &auth,
            Some(change(json!("hi"))),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let stale = stack
        .call(
            Method::PUT,
            "/api/admin/clients/billing/settings",
            &auth,
            Some(change(json!("stale"))),
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);
    assert_eq!(stale.json["error"]["code"], "STALE_VERSION");
    let stale_header = stack
        .call(
            Method::PUT,
            "/api/admin/clients/billing/settings",
            &[("authorization", admin.as_str()), ("if-match", "\"1\"")],
            Some(json!({"values": [{"name": "Greeting", "value": "stale"}]})),
        )
        .await;
    assert_eq!(stale_header.status, StatusCode::CONFLICT);
    let fetch = stack
        .call(
            Method::GET,
            "/api/clients/billing/settings",
            &[("clientSecret", &secret)],
            None,
        )
        .await;
    assert!(fetch.text.contains("\"hi\"") && !fetch.text.contains("stale"));

    // Delete: a User may not; a stale If-Match is refused; then the secret stops working.
    let user = stack.user_auth(&admin, "editor", "User", json!({})).await;
    let denied = stack
        .call(
            Method::DELETE,
            "/api/admin/clients/billing",
            &[("authorization", user.as_str())],
            None,
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let stale_delete = stack
        .call(
            Method::DELETE,
            "/api/admin/clients/billing",
            &[("authorization", admin.as_str()), ("if-match", "\"1\"")],
            None,
        )
        .await;
    assert_eq!(stale_delete.status, StatusCode::CONFLICT);
    let deleted = stack
        .call(Method::DELETE, "/api/admin/clients/billing", &auth, None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let gone = stack
        .call(
            Method::GET,
            "/api/clients/billing/settings",
            &[("clientSecret", &secret)],
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
    let list = stack
        .call(Method::GET, "/api/admin/clients", &auth, None)
        .await;
    assert_eq!(list.json["clients"], json!([]));
    // (The failure counter of the last 401 stays: throttling outlives the client.)
    let dump: String = stack
        .table_dump()
        .await
        .lines()
        .filter(|l| !l.contains("THROTTLE#"))
        .collect();
    assert!(
        !dump.contains("CLIENT#billing") && !dump.contains("HISTORY#billing"),
        "nothing of the client is left: {dump}"
    );

    // The name can be registered again (a new key, in this same warm instance), and the old
    // history is not shown.
    let new_secret = client_secret();
    register(&stack, "billing", &new_secret).await;
    let fetch = stack
        .call(
            Method::GET,
            "/api/clients/billing/settings",
            &[("clientSecret", &new_secret)],
            None,
        )
        .await;
    assert_eq!(fetch.status, StatusCode::OK, "{}", fetch.text);
    assert!(
        fetch.text.contains("\"hello\""),
        "defaults, not the old values"
    );
    let history = stack
        .call(
            Method::GET,
            "/api/admin/clients/billing/settings/Greeting/history",
            &auth,
            None,
        )
        .await;
    assert_eq!(history.json["history"], json!([]), "{}", history.text);

    let mut stack = stack;
    let records = stack.audit_records().await;
    assert_eq!(
        records
            .iter()
            .filter(|r| r["type"] == "ClientDeleted" && r["client"] == "billing")
            .count(),
        1
    );
}

/// A client deleted and registered again starts its versions over; a service still holding the
/// old client's ETag must get the new values, not a 304.
#[tokio::test]
async fn a_client_registered_again_never_matches_an_old_etag() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let auth = [("authorization", admin.as_str())];
    let secret = client_secret();
    let fetch = |etag: Option<String>| {
        let stack = &stack;
        let secret = secret.clone();
        async move {
            let mut headers = vec![("clientSecret", secret)];
            if let Some(etag) = etag {
                headers.push(("if-none-match", etag));
            }
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            stack
                .call(Method::GET, "/api/clients/orders/settings", &headers, None)
                .await
        }
    };
    register(&stack, "orders", &secret).await;
    let first = fetch(None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let old_tag = first.headers["etag"].to_str().unwrap().to_owned();
    let same = fetch(Some(old_tag.clone())).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED, "unchanged: 304");

    let deleted = stack
        .call(Method::DELETE, "/api/admin/clients/orders", &auth, None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    // The same definitions and the same client secret (as a replacing import keeps it): the
    // version numbers are the same as the old client's, the client is not.
    register(&stack, "orders", &secret).await;
    let again = fetch(Some(old_tag.clone())).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_ne!(again.headers["etag"].to_str().unwrap(), old_tag);
    let new_tag = again.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(fetch(Some(new_tag)).await.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn the_audit_view_filters_and_pages_and_hides_user_activity() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let auth = [("authorization", admin.as_str())];
    register(&stack, "billing", &client_secret()).await;
    register(&stack, "search", &client_secret()).await;
    for _ in 0..3 {
        stack.login("ghost", "wrong password entirely").await;
    }
    let reader = stack
        .user_auth(
            &admin,
            "reader",
            "ReadOnly",
            json!({"clientFilter": "bill.*"}),
        )
        .await;

    let all = stack
        .call(Method::GET, "/api/admin/audit?limit=500", &auth, None)
        .await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.text);
    let events = all.json["events"].as_array().unwrap();
    assert!(events.len() >= 8, "{}", all.text);
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");

    // A name that is no user's is never recorded (it may be a password typed into the name
    // field): the failures are filed under "(unknown user)", and the typed name finds nothing.
    let failed = stack
        .call(
            Method::GET,
            "/api/admin/audit?type=LoginFailed&user=%28unknown%20user%29",
            &auth,
            None,
        )
        .await;
    assert_eq!(
        failed.json["events"].as_array().unwrap().len(),
        3,
        "{}",
        failed.text
    );
    let typed = stack
        .call(Method::GET, "/api/admin/audit?user=ghost", &auth, None)
        .await;
    assert_eq!(typed.json["events"], json!([]), "{}", typed.text);
    let billing = stack
        .call(Method::GET, "/api/admin/audit?client=billing", &auth, None)
        .await;
    let billing_events = billing.json["events"].as_array().unwrap();
    assert!(!billing_events.is_empty());
    assert!(billing_events.iter().all(|e| e["client"] == "billing"));

    // Pages of 2 cover the same events as one page, without repeats.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let url = match &cursor {
            Some(c) => format!("/api/admin/audit?limit=2&cursor={}", c.replace('|', "%7C")),
            None => "/api/admin/audit?limit=2".to_owned(),
        };
        let page = stack.call(Method::GET, &url, &auth, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        for e in page.json["events"].as_array().unwrap() {
            paged.push(e["id"].as_str().unwrap().to_owned());
        }
        match page.json["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let first_ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(paged[..first_ids.len()], first_ids[..]);

    // A ReadOnly user with a client filter sees only that client's events, no user activity.
    let seen = stack
        .call(
            Method::GET,
            "/api/admin/audit?limit=500",
            &[("authorization", reader.as_str())],
            None,
        )
        .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.text);
    let seen = seen.json["events"].as_array().unwrap();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|e| e["client"] == "billing"), "{seen:?}");

    for bad in [
        "/api/admin/audit?from=yesterday",
        "/api/admin/audit?limit=0",
        "/api/admin/audit?limit=many",
        "/api/admin/audit?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z",
        "/api/admin/audit?cursor=nonsense",
        // A cursor far outside the range would walk millions of hours: refused.
        "/api/admin/audit?cursor=9999-12-31T23%7C01JAAAAAAAAAAAAAAAAAAAAAAA",
        "/api/admin/audit?unknown=1",
    ] {
        let r = stack.call(Method::GET, bad, &auth, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
        assert_eq!(r.json["error"]["code"], "INVALID_AUDIT_QUERY", "{bad}");
    }
}

#[tokio::test]
async fn data_key_rotation_loses_no_data_and_clients_notice_nothing() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let auth = [("authorization", admin.as_str())];
    let secret = client_secret();
    register(&stack, "billing", &secret).await;
    let set = |values: Value, instance: Option<&str>| {
        let mut body = json!({"changeMessage": "x", "values": values});
        if let Some(i) = instance {
            body["instance"] = json!(i);
        }
        stack.call(
            Method::PUT,
            "/api/admin/clients/billing/settings",
            &auth,
            Some(body),
        )
    };
    assert_eq!(
        set(json!([{"name": "Greeting", "value": "one"}]), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        set(
            json!([{"name": "Greeting", "value": "two"}, {"name": "ApiKey", "value": "k-123456"}]),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    let r = stack
        .call(
            Method::POST,
            "/api/admin/clients/billing/instances",
            &auth,
            Some(json!({"instance": "eu"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        set(json!([{"name": "Greeting", "value": "drei"}]), Some("eu"))
            .await
            .status,
        StatusCode::OK
    );
    let fetch = |instance: &str| {
        let path = format!("/api/clients/billing/settings{instance}");
        let secret = secret.clone();
        let stack = &stack;
        async move {
            stack
                .call(Method::GET, &path, &[("clientSecret", &secret)], None)
                .await
        }
    };
    let before = (fetch("").await, fetch("?instance=eu").await);

    for expected in [2, 3] {
        let rotated = stack
            .call(
                Method::POST,
                "/api/admin/clients/billing/data-key",
                &auth,
                None,
            )
            .await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
        assert_eq!(rotated.json["dataKeyVersion"], expected);
        assert_eq!(
            rotated.json["resealedValues"], 4,
            "2 base values, and the instance's copies of them"
        );
    }
    let after = (fetch("").await, fetch("?instance=eu").await);
    for (b, a) in [(&before.0, &after.0), (&before.1, &after.1)] {
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        assert_eq!(a.json["settings"], b.json["settings"], "same values");
        assert_ne!(a.headers["etag"], b.headers["etag"], "a new version");
    }
    // History written under the old key still opens.
    let history = stack
        .call(
            Method::GET,
            "/api/admin/clients/billing/settings/Greeting/history",
            &auth,
            None,
        )
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.text);
    assert_eq!(history.json["history"][0]["newValue"], "two");
    assert_eq!(history.json["history"][0]["oldValue"], "one");
    // Every value item is sealed under the new key; the old keys are kept.
    let dump = stack.table_dump().await;
    let values: Vec<&str> = dump
        .lines()
        .filter(|l| l.contains("CLIENT#billing") && l.contains("SETTING#"))
        .collect();
    assert_eq!(values.len(), 4);
    assert!(
        values
            .iter()
            .all(|l| l.contains("\"dekVersion\": N(\"3\")")),
        "{values:?}"
    );
    for v in 1..=3 {
        assert!(dump.contains(&format!("DEK#{v:010}")), "key {v} kept");
    }
    // Edits go on under the new key.
    assert_eq!(
        set(json!([{"name": "Greeting", "value": "four"}]), None)
            .await
            .status,
        StatusCode::OK
    );
    assert!(fetch("").await.text.contains("four"));

    let mut stack = stack;
    let records = stack.audit_records().await;
    assert_eq!(
        records
            .iter()
            .filter(|r| r["type"] == "DataKeyRotated")
            .count(),
        2
    );
}
