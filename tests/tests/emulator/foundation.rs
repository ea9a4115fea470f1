//! The whole path of the foundation, against the emulator, through the gateway's router:
//! bootstrap admin, login, forced password change, client registration, admin edits, client
//! fetch, and the audit objects the events function writes from the stream.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use fig_tests::{ADMIN_PASSWORD, SOURCE_IP, Stack, client_secret};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "lantern quartz mosaic thistle 77";
const PLAIN_VALUE: &str = "plain-marker-7Qx2 hello from fig";
const SECRET_VALUE: &str = "s3cr3t-marker-Zp9L-database-password";

fn registration() -> Value {
    json!({
        "name": "demo",
        "description": "Demo service",
        "settings": [
            {"name": "Greeting", "type": "string", "defaultValue": "hello", "description": "Shown to users"},
            {"name": "DbPassword", "type": "string", "secret": true, "description": "Database password"}
        ]
    })
}

#[tokio::test]
async fn the_whole_path_works_and_leaves_one_audit_record_per_action() {
    let mut stack = Stack::new().await;

    // a. + b. First login with the bootstrap password: a password change is required.
    let first = stack.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.json["passwordChangeRequired"], true);
    assert_eq!(first.json["expiresIn"], 900);
    let pcr_token = first.json["accessToken"].as_str().unwrap().to_owned();
    let pcr_auth = format!("Bearer {pcr_token}");

    // Until it is changed, every other route is 403.
    let denied = stack
        .call(
            Method::GET,
            "/api/admin/clients",
            &[("authorization", &pcr_auth)],
            None,
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.json["error"]["code"], "PASSWORD_CHANGE_REQUIRED");

    // A weak new password is refused with the reason.
    let weak = stack
        .call(
            Method::POST,
            "/api/auth/password",
            &[("authorization", &pcr_auth)],
            Some(json!({"currentPassword": ADMIN_PASSWORD, "newPassword": "password1234"})),
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert_eq!(weak.json["error"]["code"], "PASSWORD_TOO_WEAK");
    assert!(
        weak.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at least 3")
    );

    let changed = stack
        .call(
            Method::POST,
            "/api/auth/password",
            &[("authorization", &pcr_auth)],
            Some(json!({"currentPassword": ADMIN_PASSWORD, "newPassword": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);

    // The old password no longer works (a failed login); the new one does.
    let old = stack.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(old.json["error"]["code"], "INVALID_CREDENTIALS");
    let login = stack.login("admin", NEW_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK);
    assert_eq!(login.json["passwordChangeRequired"], false);
    let token = login.json["accessToken"].as_str().unwrap().to_owned();
    let auth = format!("Bearer {token}");

    // c. A client registers with its secret.
    let secret = client_secret();
    let registered = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(registration()),
        )
        .await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.text);
    assert_eq!(registered.json["status"], "registered");
    // The same registration again writes nothing.
    let again = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(registration()),
        )
        .await;
    assert_eq!(again.json["status"], "unchanged");

    // d. The admin sets both values.
    let set = stack
        .call(
            Method::PUT,
            "/api/admin/clients/demo/settings",
            &[("authorization", &auth)],
            Some(json!({"changeMessage": "first values", "values": [
                {"name": "Greeting", "value": PLAIN_VALUE},
                {"name": "DbPassword", "value": SECRET_VALUE}
            ]})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);

    let list = stack
        .call(
            Method::GET,
            "/api/admin/clients",
            &[("authorization", &auth)],
            None,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert!(
        !list.text.contains(SECRET_VALUE),
        "a secret value reached the web client"
    );
    let settings = &list.json["clients"][0]["settings"];
    let by_name = |name: &str| {
        settings
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_name("Greeting")["value"], PLAIN_VALUE);
    let secret_setting = by_name("DbPassword");
    assert_eq!(secret_setting["isSet"], true);
    assert!(secret_setting["lastChanged"].is_string());
    assert!(secret_setting.get("value").is_none(), "{secret_setting}");

    // e. The client fetches both values, decrypted.
    let fetched = stack
        .call(
            Method::GET,
            "/api/clients/demo/settings",
            &[("clientSecret", &secret)],
            None,
        )
        .await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
    assert_eq!(fetched.headers["cache-control"], "no-store");
    assert_eq!(
        fetched.headers["content-type"],
        "application/json; charset=utf-8"
    );
    let values: BTreeMap<String, Value> = fetched.json["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s["value"].clone()))
        .collect();
    assert_eq!(values["Greeting"], PLAIN_VALUE);
    assert_eq!(values["DbPassword"], SECRET_VALUE);

    // A wrong secret and an unknown client get the same 401.
    let wrong = stack
        .call(
            Method::GET,
            "/api/clients/demo/settings",
            &[("clientSecret", &client_secret())],
            None,
        )
        .await;
    let unknown = stack
        .call(
            Method::GET,
            "/api/clients/nobody/settings",
            &[("clientSecret", &secret)],
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json["error"]["code"], unknown.json["error"]["code"]);
    assert_eq!(
        wrong.json["error"]["message"],
        unknown.json["error"]["message"]
    );
    assert!(!wrong.text.contains("demo") && !unknown.text.contains("nobody"));

    // ETag: an unchanged client answers 304 without a body.
    let etag = fetched.headers["etag"].to_str().unwrap().to_owned();
    let not_modified = stack
        .call(
            Method::GET,
            "/api/clients/demo/settings",
            &[("clientSecret", &secret), ("if-none-match", &etag)],
            None,
        )
        .await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(not_modified.text.is_empty());

    // 100 warm fetches make no KMS call.
    let kms_before = stack.app.kms.calls();
    for _ in 0..100 {
        let r = stack
            .call(
                Method::GET,
                "/api/clients/demo/settings",
                &[("clientSecret", &secret)],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(stack.app.kms.calls(), kms_before, "warm fetches called KMS");

    // f. One audit record per action, in S3, from the stream.
    let records = stack.audit_records().await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        *counts
            .entry(r["type"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = [
        ("AdministratorBootstrapped", 1),
        ("LoginSucceeded", 2),
        ("LoginFailed", 1),
        ("AccessDenied", 1),
        ("PasswordChangeFailed", 1),
        ("PasswordChanged", 1),
        ("NewClientRegistration", 1),
        ("SettingValueChanged", 1),
        // 1 fetch + 100 warm fetches; the conditional fetch (304) is counted in aggregate
        ("SettingsRead", 101),
        ("SettingsPolled", 1),
        ("ClientAuthenticationFailed", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(counts, expected);
    let ids: std::collections::HashSet<&str> =
        records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), records.len(), "duplicate audit records");

    // Who, when, where.
    let failed = records.iter().find(|r| r["type"] == "LoginFailed").unwrap();
    assert_eq!(failed["actor"]["name"], "admin");
    assert_eq!(failed["reason"], "wrongPassword");
    assert_eq!(failed["source"]["ip"], SOURCE_IP);
    assert_eq!(failed["source"]["userAgent"], "fig-tests");
    assert!(failed["time"].as_str().unwrap().ends_with('Z'));
    let change = records
        .iter()
        .find(|r| r["type"] == "SettingValueChanged")
        .unwrap();
    assert_eq!(change["settings"], json!(["Greeting", "DbPassword"]));
    assert_eq!(change["actor"]["name"], "admin");

    // No plaintext value, password, client secret or token anywhere in the table or in S3.
    let table = stack.table_dump().await;
    let audit: String = stack
        .audit_objects()
        .await
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    for (what, needle) in [
        ("plain value", PLAIN_VALUE),
        ("secret value", SECRET_VALUE),
        ("default value", "\"hello\""),
        ("bootstrap password", ADMIN_PASSWORD),
        ("new password", NEW_PASSWORD),
        ("client secret", secret.as_str()),
        ("access token", token.as_str()),
        ("weak password attempt", "password1234"),
    ] {
        assert!(!table.contains(needle), "{what} found in the table");
        assert!(!audit.contains(needle), "{what} found in the audit objects");
    }
}

#[tokio::test]
async fn audit_objects_are_partitioned_json_lines_and_locked() {
    let mut stack = Stack::new().await;
    stack.login("admin", "wrong password here").await;
    let records = stack.audit_records().await;
    assert_eq!(records.len(), 2, "bootstrap + failed login");
    let objects = stack.audit_objects().await;
    let (key, body) = &objects[0];
    let date = records[0]["time"].as_str().unwrap();
    assert!(
        key.starts_with(&format!(
            "audit/v1/date={}/hour={}/",
            &date[..10],
            &date[11..13]
        )),
        "{key}"
    );
    assert!(key.ends_with(".jsonl"));
    assert!(body.ends_with('\n'));
    // Object Lock: the object cannot be deleted (its version is under retention).
    let head = stack
        .s3
        .head_object()
        .bucket(&stack.names.audit_bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.object_lock_mode().map(|m| m.as_str()),
        Some("COMPLIANCE")
    );
    let version = head.version_id().unwrap().to_owned();
    let delete = stack
        .s3
        .delete_object()
        .bucket(&stack.names.audit_bucket)
        .key(key)
        .version_id(version)
        .send()
        .await;
    assert!(delete.is_err(), "a locked audit object version was deleted");
}

#[tokio::test]
async fn bad_input_gets_a_clear_400_and_writes_nothing() {
    let stack = Stack::new().await;
    let secret = client_secret();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("unknown field", br#"{"name":"demo","settings":[],"colour":"red"}"#.to_vec(), "INVALID_BODY"),
        ("wrong type", br#"{"name":"demo","settings":"many"}"#.to_vec(), "INVALID_BODY"),
        ("invalid JSON", b"{\"name\":".to_vec(), "INVALID_BODY"),
        ("invalid UTF-8", b"{\"name\":\"d\xffmo\",\"settings\":[]}".to_vec(), "INVALID_BODY"),
        ("overlong name", format!(r#"{{"name":"{}","settings":[]}}"#, "x".repeat(65)).into_bytes(), "INVALID_BODY"),
        (
            "secret with a default",
            br#"{"name":"demo","settings":[{"name":"a","type":"string","secret":true,"defaultValue":"x"}]}"#.to_vec(),
            "INVALID_DEFINITION",
        ),
    ];
    for (what, body, code) in cases {
        let r = stack
            .call_raw(
                Method::POST,
                "/api/clients",
                &[("clientSecret", &secret)],
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {}", r.text);
        assert_eq!(r.json["error"]["code"], code, "{what}");
        assert!(
            r.json["error"]["requestId"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );
        for leak in ["serde", "invalid type", "expected", "Dynamo", "at src/"] {
            assert!(!r.text.contains(leak), "{what}: {leak} in {}", r.text);
        }
    }
    let big = vec![b' '; fig_http::MAX_BODY_BYTES + 10];
    let r = stack
        .call_raw(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(big),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json["error"]["code"], "PAYLOAD_TOO_LARGE");

    let weak = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &"a".repeat(40))],
            Some(registration()),
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert_eq!(weak.json["error"]["code"], "WEAK_CLIENT_SECRET");

    // Nothing but the bootstrap admin, its event and the refusal events were written.
    let table = stack.table_dump().await;
    assert!(
        !table.contains("CLIENT#demo"),
        "a refused registration left a client behind"
    );

    let missing = stack
        .call(Method::GET, "/api/nothing-here", &[], None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json["error"]["code"], "NOT_FOUND");
    assert_eq!(missing.headers["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn admin_routes_need_a_valid_token() {
    let stack = Stack::new().await;
    for auth in ["", "Bearer ", "Bearer not-a-jwt", "Basic YWRtaW46YWRtaW4="] {
        let headers: Vec<(&str, &str)> = if auth.is_empty() {
            vec![]
        } else {
            vec![("authorization", auth)]
        };
        let r = stack
            .call(Method::GET, "/api/admin/clients", &headers, None)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth}");
        assert_eq!(r.json["error"]["code"], "UNAUTHENTICATED");
    }
    // A token signed by another key with the same kid is refused.
    let login = stack.login("admin", ADMIN_PASSWORD).await;
    let token = login.json["accessToken"].as_str().unwrap();
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let last = parts[2].pop().unwrap();
    parts[2].push(if last == 'A' { 'B' } else { 'A' });
    let tampered = format!("Bearer {}", parts.join("."));
    let r = stack
        .call(
            Method::GET,
            "/api/admin/clients",
            &[("authorization", &tampered)],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_setting_does_not_open() {
    let stack = Stack::new().await;
    let secret = client_secret();
    stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(registration()),
        )
        .await;
    let login = stack.login("admin", ADMIN_PASSWORD).await;
    let pcr = format!("Bearer {}", login.json["accessToken"].as_str().unwrap());
    stack
        .call(
            Method::POST,
            "/api/auth/password",
            &[("authorization", &pcr)],
            Some(json!({"currentPassword": ADMIN_PASSWORD, "newPassword": NEW_PASSWORD})),
        )
        .await;
    let login = stack.login("admin", NEW_PASSWORD).await;
    let auth = format!("Bearer {}", login.json["accessToken"].as_str().unwrap());
    let set = stack
        .call(
            Method::PUT,
            "/api/admin/clients/demo/settings",
            &[("authorization", &auth)],
            Some(json!({"values": [{"name": "Greeting", "value": "x"}, {"name": "DbPassword", "value": SECRET_VALUE}]})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);

    // An attacker with write access to the table copies the secret's ciphertext into the
    // plain setting, hoping the admin list will show it.
    use aws_sdk_dynamodb::types::AttributeValue;
    let pk = AttributeValue::S("CLIENT#demo".into());
    let secret_item = stack
        .ddb
        .get_item()
        .table_name(&stack.names.table)
        .key("PK", pk.clone())
        .key("SK", AttributeValue::S("SETTING#DbPassword".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    stack
        .ddb
        .update_item()
        .table_name(&stack.names.table)
        .key("PK", pk)
        .key("SK", AttributeValue::S("SETTING#Greeting".into()))
        .update_expression("SET #v = :v, valueVersion = :n")
        .expression_attribute_names("#v", "value")
        .expression_attribute_values(":v", secret_item["value"].clone())
        .expression_attribute_values(":n", secret_item["valueVersion"].clone())
        .send()
        .await
        .unwrap();
    let list = stack
        .call(
            Method::GET,
            "/api/admin/clients",
            &[("authorization", &auth)],
            None,
        )
        .await;
    assert!(!list.text.contains(SECRET_VALUE));
    assert_eq!(list.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(list.json["error"]["code"], "INTERNAL_ERROR");
    let fetch = stack
        .call(
            Method::GET,
            "/api/clients/demo/settings",
            &[("clientSecret", &secret)],
            None,
        )
        .await;
    assert!(!fetch.text.contains(SECRET_VALUE));
    assert_eq!(fetch.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_data_key_does_not_unwrap_under_another_clients_context() {
    let stack = Stack::new().await;
    let (_, wrapped) = stack
        .app
        .kms
        .generate_data_key(&[("app", "fig"), ("client", "alpha")])
        .await
        .unwrap();
    assert!(
        stack
            .app
            .kms
            .decrypt(&wrapped, &[("app", "fig"), ("client", "alpha")])
            .await
            .is_ok()
    );
    for other in [
        vec![("app", "fig"), ("client", "beta")],
        vec![("app", "other"), ("client", "alpha")],
        vec![("app", "fig")],
        vec![],
    ] {
        let result = stack.app.kms.decrypt(&wrapped, &other).await;
        assert!(
            matches!(result, Err(fig_shared::Error::Unavailable { .. })),
            "unwrapped under {other:?}"
        );
    }
}

#[tokio::test]
async fn the_first_administrator_is_created_once() {
    let stack = Stack::with_env(&[("FIG_BOOTSTRAP_ADMIN_PASSWORD", "")]).await;
    // The stack already bootstrapped with a random password (no configured one): a second
    // start does nothing and the random password is unknown to anyone but that first start.
    let again = fig_shared::users::bootstrap_admin(&stack.app)
        .await
        .unwrap();
    assert!(matches!(again, fig_shared::users::Bootstrap::AlreadyDone));
    let r = stack.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}
