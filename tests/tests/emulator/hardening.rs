//! What an independent attacker's review broke, each as a test that failed before its fix:
//! secrets that stay secret, a bootstrap that happens once, classifications that mean what they
//! say, throttles that count every attempt, access that ends when it is taken away, no
//! unthrottled password oracles, and the smaller ones (typed passwords in the audit trail,
//! forged key ids).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::types::AttributeValue;
use fig_tests::{ADMIN_NEW_PASSWORD, ADMIN_PASSWORD, Reply, Stack, USER_PASSWORD, client_secret};
use http::{Method, StatusCode};
use serde_json::{Value, json};

fn definitions(password_secret: bool, with_password: bool) -> Value {
    let mut settings = vec![json!({"name": "Greeting", "type": "string", "defaultValue": "hello"})];
    if with_password {
        settings.push(json!({"name": "DbPassword", "type": "string", "secret": password_secret}));
    }
    json!({"name": "svc", "description": "test", "settings": settings})
}

async fn register(stack: &Stack, secret: &str, body: Value) -> Reply {
    stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", secret)],
            Some(body),
        )
        .await
}

async fn set(stack: &Stack, admin: &str, values: Value, instance: Option<&str>) -> Reply {
    let mut body = json!({"changeMessage": "test", "values": values});
    if let Some(i) = instance {
        body["instance"] = json!(i);
    }
    stack
        .call(
            Method::PUT,
            "/api/admin/clients/svc/settings",
            &[("authorization", admin)],
            Some(body),
        )
        .await
}

async fn get(stack: &Stack, auth: &str, path: &str) -> Reply {
    stack
        .call(Method::GET, path, &[("authorization", auth)], None)
        .await
}

fn setting<'a>(client: &'a Value, name: &str) -> &'a Value {
    client["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()
}

#[tokio::test]
async fn a_secret_setting_stays_secret() {
    let mut stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secret = client_secret();
    assert_eq!(
        register(&stack, &secret, definitions(true, true))
            .await
            .status,
        StatusCode::OK
    );
    let created = stack
        .call(
            Method::POST,
            "/api/admin/clients/svc/instances",
            &[("authorization", admin.as_str())],
            Some(json!({"instance": "eu"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let r = set(
        &stack,
        &admin,
        json!([{"name": "DbPassword", "value": "base-hidden-1"}]),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = set(
        &stack,
        &admin,
        json!([{"name": "DbPassword", "value": "eu-hidden-1"}]),
        Some("eu"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // A registration that would make it plain is refused, and changes nothing.
    let refused = register(&stack, &secret, definitions(false, true)).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert_eq!(refused.json["error"]["code"], "SECRET_STAYS_SECRET");
    let client = get(&stack, &admin, "/api/admin/clients/svc").await;
    assert_eq!(setting(&client.json, "DbPassword")["secret"], true);
    for path in [
        "/api/admin/clients/svc",
        "/api/admin/clients",
        "/api/admin/clients/svc/settings/DbPassword/history",
        "/api/admin/export",
    ] {
        let r = get(&stack, &admin, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        assert!(!r.text.contains("hidden"), "{path}: {}", r.text);
    }

    // So is an import whose file turns it plain.
    let on = stack
        .configure(&admin, json!({"allowFileImports": true}))
        .await;
    assert_eq!(on.status, StatusCode::OK);
    let mut document = get(&stack, &admin, "/api/admin/export").await.json;
    for s in document["clients"][0]["settings"].as_array_mut().unwrap() {
        s["secret"] = json!(false);
    }
    document["clients"][0]["values"]["DbPassword"] = json!("known");
    let import = stack
        .call(
            Method::POST,
            "/api/admin/import",
            &[("authorization", admin.as_str())],
            Some(json!({"mode": "replaceClients", "document": document})),
        )
        .await;
    assert_eq!(import.status, StatusCode::CONFLICT, "{}", import.text);
    assert_eq!(import.json["error"]["code"], "SECRET_STAYS_SECRET");

    // Removed and registered again as a plain setting: its old values are gone (instances'
    // too) and its history rows, sealed as a secret's, never show a value.
    assert_eq!(
        register(&stack, &secret, definitions(true, false))
            .await
            .status,
        StatusCode::OK
    );
    let again = register(&stack, &secret, definitions(false, true)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    let history = get(
        &stack,
        &admin,
        "/api/admin/clients/svc/settings/DbPassword/history",
    )
    .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.text);
    assert_eq!(history.json["history"].as_array().unwrap().len(), 1);
    assert!(!history.text.contains("hidden"), "{}", history.text);
    assert!(history.json["history"][0].get("newValue").is_none());
    for instance in ["", "?instance=eu"] {
        let fetched = stack
            .call(
                Method::GET,
                &format!("/api/clients/svc/settings{instance}"),
                &[("clientSecret", &secret)],
                None,
            )
            .await;
        assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
        assert!(!fetched.text.contains("hidden"), "{}", fetched.text);
    }

    // An Administrator's declassification is the only way: values and history go with it.
    assert_eq!(
        register(&stack, &secret, definitions(true, true))
            .await
            .status,
        StatusCode::OK
    );
    let r = set(
        &stack,
        &admin,
        json!([{"name": "DbPassword", "value": "base-hidden-2"}]),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let declassify = "/api/admin/clients/svc/settings/DbPassword/declassify";
    let user = stack.user_auth(&admin, "editor", "User", json!({})).await;
    let denied = stack
        .call(
            Method::POST,
            declassify,
            &[("authorization", user.as_str())],
            None,
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let done = stack
        .call(
            Method::POST,
            declassify,
            &[("authorization", admin.as_str())],
            None,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.json["deletedValues"], 1);
    assert!(done.json["deletedHistory"].as_u64().unwrap() >= 2);
    let client = get(&stack, &admin, "/api/admin/clients/svc").await;
    let password = setting(&client.json, "DbPassword");
    assert_eq!(password["secret"], false);
    assert_eq!(password["isSet"], false);
    assert_eq!(password["value"], Value::Null);
    let history = get(
        &stack,
        &admin,
        "/api/admin/clients/svc/settings/DbPassword/history",
    )
    .await;
    assert_eq!(history.json["history"], json!([]));
    let twice = stack
        .call(
            Method::POST,
            declassify,
            &[("authorization", admin.as_str())],
            None,
        )
        .await;
    assert_eq!(twice.json["error"]["code"], "NOT_SECRET");
    let unchanged = register(&stack, &secret, definitions(false, true)).await;
    assert_eq!(unchanged.json["status"], "unchanged", "{}", unchanged.text);

    let records = stack.audit_records().await;
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "RegistrationRefused" && r["reason"] == "secretStaysSecret"),
        "refusal audited"
    );
    assert_eq!(
        records
            .iter()
            .filter(|r| r["type"] == "SettingDeclassified")
            .count(),
        1
    );
    assert!(!stack.table_dump().await.contains("hidden"));
}

#[tokio::test]
async fn a_secret_value_relabelled_as_plain_fails_to_open() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secret = client_secret();
    assert_eq!(
        register(&stack, &secret, definitions(true, true))
            .await
            .status,
        StatusCode::OK
    );
    let r = set(
        &stack,
        &admin,
        json!([{"name": "DbPassword", "value": "relabel-hidden"}]),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // Someone who can write the table marks the sealed value as a plain one.
    stack
        .ddb
        .update_item()
        .table_name(&stack.names.table)
        .key("PK", AttributeValue::S("CLIENT#svc".into()))
        .key("SK", AttributeValue::S("SETTING#DbPassword".into()))
        .update_expression("SET secret = :f")
        .expression_attribute_values(":f", AttributeValue::Bool(false))
        .send()
        .await
        .unwrap();
    let fetched = stack
        .call(
            Method::GET,
            "/api/clients/svc/settings",
            &[("clientSecret", &secret)],
            None,
        )
        .await;
    assert!(fetched.status.is_server_error(), "{}", fetched.text);
    assert!(!fetched.text.contains("relabel-hidden"));
}

#[tokio::test]
async fn deleting_admin_never_rearms_the_bootstrap() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let second = stack
        .user_auth(&admin, "second", "Administrator", json!({}))
        .await;
    let deleted = stack
        .call(
            Method::DELETE,
            "/api/admin/users/admin",
            &[("authorization", second.as_str())],
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    // A cold start later: the bootstrap does nothing, and the configured bootstrap password
    // opens nothing.
    let again = fig_shared::users::bootstrap_admin(&stack.app)
        .await
        .unwrap();
    assert!(matches!(again, fig_shared::users::Bootstrap::AlreadyDone));
    for password in [ADMIN_PASSWORD, ADMIN_NEW_PASSWORD] {
        let r = stack.login("admin", password).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    }
    let users = get(&stack, &second, "/api/admin/users").await;
    assert!(!users.text.contains("\"admin\""), "{}", users.text);
}

#[tokio::test]
async fn classifications_mean_what_they_say() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secret = client_secret();
    let body = json!({"name": "svc", "settings": [
        {"name": "Plain", "type": "string"},
        {"name": "Func", "type": "string", "classification": "Functional"},
    ]});
    assert_eq!(register(&stack, &secret, body).await.status, StatusCode::OK);
    let cases = [
        ("none", json!([]), [false, false]),
        ("functional", json!(["Functional"]), [false, true]),
        ("both", json!(["Functional", "Unclassified"]), [true, true]),
    ];
    for (who, classifications, allowed) in cases {
        let user = stack
            .user_auth(
                &admin,
                who,
                "User",
                json!({"classifications": classifications}),
            )
            .await;
        for (setting, allowed) in ["Plain", "Func"].into_iter().zip(allowed) {
            let r = set(
                &stack,
                &user,
                json!([{"name": setting, "value": "x"}]),
                None,
            )
            .await;
            let expected = if allowed {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(r.status, expected, "{who} {setting}: {}", r.text);
        }
    }
    // An update may leave the list (absent), set one, or give every classification back (null).
    let put = |body: Value| {
        let (stack, admin) = (&stack, admin.clone());
        async move {
            stack
                .call(
                    Method::PUT,
                    "/api/admin/users/functional",
                    &[("authorization", admin.as_str())],
                    Some(body),
                )
                .await
        }
    };
    let r = put(json!({"enabled": true})).await;
    assert_eq!(
        r.json["classifications"],
        json!(["Functional"]),
        "{}",
        r.text
    );
    let r = put(json!({"classifications": null})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["classifications"], Value::Null);
    let r = put(json!({"classifications": []})).await;
    assert_eq!(r.json["classifications"], json!([]));
}

/// The failures counted for the test address, known-good for `admin`, on `admin`.
async fn good_failures(stack: &Stack) -> i64 {
    let item = stack
        .ddb
        .get_item()
        .table_name(&stack.names.identity_table)
        .key("PK", AttributeValue::S("THROTTLE#USER#admin".into()))
        .key(
            "SK",
            AttributeValue::S(format!("GOOD#{}", fig_tests::SOURCE_IP)),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    number(&item, "failures")
}

/// The account throttle's stored state of `username`.
async fn account_throttle(
    stack: &Stack,
    username: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    stack
        .ddb
        .get_item()
        .table_name(&stack.names.identity_table)
        .key("PK", AttributeValue::S(format!("THROTTLE#USER#{username}")))
        .key("SK", AttributeValue::S("META".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

fn number(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> i64 {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().unwrap(),
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test]
async fn parallel_wrong_logins_count_every_attempt() {
    let mut stack = Stack::new().await;
    stack.admin_auth().await;
    let started = time::OffsetDateTime::now_utc().unix_timestamp();
    // 50 wrong guesses at once, from 50 addresses (so no address limit gets in the way).
    let attempts = (0..50).map(|i| {
        let stack = &stack;
        async move {
            stack
                .login_from(
                    &format!("198.51.100.{}", i + 1),
                    "admin",
                    "wrong password guess",
                    json!({}),
                )
                .await
                .status
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    // Each attempt is judged as if the others had come first: only the free failures (and the
    // few whose 1, 2, 4 … s delay passed while the burst lasted) get a password check.
    assert!(
        (3..=7).contains(&checked),
        "{checked} passwords checked in a burst of 50"
    );
    let state = account_throttle(&stack, "admin").await;
    assert_eq!(number(&state, "failures"), 50, "every attempt counts");
    // 50 failures: the fifth lock, 15 minutes doubled four times.
    let locked_until = number(&state, "lockedUntil");
    let four_hours = 15 * 60 * 16;
    assert!(
        locked_until >= started + four_hours && locked_until <= started + four_hours + 120,
        "locked until {locked_until}, started {started}"
    );
    // Locked, even for the right password, from anywhere but a known-good address.
    let r = stack
        .login_from("192.0.2.200", "admin", ADMIN_NEW_PASSWORD, json!({}))
        .await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked: {}",
        r.text
    );
    // The administrator's own address, where they logged in before, still gets in.
    let r = stack.login("admin", ADMIN_NEW_PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "known-good: {}", r.text);
    let records = stack.audit_records().await;
    let locks = records
        .iter()
        .filter(|r| r["type"] == "AccountLocked")
        .count();
    // One lock event per lock that took effect (at 10, 20, 30, 40, 50 failures; a shorter lock
    // that lands after a longer one is not one).
    assert!((1..=5).contains(&locks), "{locks} lock events");
    assert_eq!(
        records
            .iter()
            .filter(|r| r["type"] == "LoginFailed")
            .count(),
        checked
    );
}

#[tokio::test]
async fn access_ends_when_access_is_taken_away() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secret = client_secret();
    assert_eq!(
        register(&stack, &secret, definitions(true, true))
            .await
            .status,
        StatusCode::OK
    );
    let list = |auth: String| {
        let stack = &stack;
        async move { get(stack, &auth, "/api/admin/clients").await.status }
    };

    // Sign-out: the access token dies with its session.
    let login = stack.login("admin", ADMIN_NEW_PASSWORD).await;
    let token = format!("Bearer {}", login.json["accessToken"].as_str().unwrap());
    let (_, cookie) = fig_tests::refresh_cookie(&login);
    assert_eq!(list(token.clone()).await, StatusCode::OK);
    let out = stack
        .call(
            Method::POST,
            "/api/auth/logout",
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(list(token).await, StatusCode::UNAUTHORIZED);

    // A demoted Administrator cannot use the token they hold to restore themselves.
    let rogue = stack
        .user_auth(&admin, "rogue", "Administrator", json!({}))
        .await;
    let demote = stack
        .call(
            Method::PUT,
            "/api/admin/users/rogue",
            &[("authorization", admin.as_str())],
            Some(json!({"role": "ReadOnly"})),
        )
        .await;
    assert_eq!(demote.status, StatusCode::OK, "{}", demote.text);
    let restore = stack
        .call(
            Method::PUT,
            "/api/admin/users/rogue",
            &[("authorization", rogue.as_str())],
            Some(json!({"role": "Administrator"})),
        )
        .await;
    assert_eq!(restore.status, StatusCode::UNAUTHORIZED, "{}", restore.text);
    // Logged in again as ReadOnly, the role is the current one.
    let reader = stack.login("rogue", USER_PASSWORD).await;
    let reader = format!("Bearer {}", reader.json["accessToken"].as_str().unwrap());
    let restore = stack
        .call(
            Method::PUT,
            "/api/admin/users/rogue",
            &[("authorization", reader.as_str())],
            Some(json!({"role": "Administrator"})),
        )
        .await;
    assert_eq!(restore.status, StatusCode::FORBIDDEN);

    // Disabled, deleted, or all sessions ended: the token stops at once.
    for (who, change) in [
        ("disabled", Some(json!({"enabled": false}))),
        ("deleted", None),
        ("ended", None),
    ] {
        let token = stack.user_auth(&admin, who, "User", json!({})).await;
        assert_eq!(list(token.clone()).await, StatusCode::OK);
        let r = match (who, change) {
            (_, Some(body)) => {
                stack
                    .call(
                        Method::PUT,
                        &format!("/api/admin/users/{who}"),
                        &[("authorization", admin.as_str())],
                        Some(body),
                    )
                    .await
            }
            ("deleted", None) => {
                stack
                    .call(
                        Method::DELETE,
                        &format!("/api/admin/users/{who}"),
                        &[("authorization", admin.as_str())],
                        None,
                    )
                    .await
            }
            _ => {
                stack
                    .call(
                        Method::DELETE,
                        &format!("/api/admin/users/{who}/sessions"),
                        &[("authorization", admin.as_str())],
                        None,
                    )
                    .await
            }
        };
        assert!(r.status.is_success(), "{who}: {}", r.text);
        assert_eq!(list(token).await, StatusCode::UNAUTHORIZED, "{who}");
    }
}

#[tokio::test]
async fn password_and_code_checks_are_throttled_everywhere() {
    let mut stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    // Wrong current passwords on the password route count against the account like wrong
    // logins (here from the administrator's known-good address, so on that address's own
    // counter); the unchanged-password answer never comes for a wrong current password.
    let mut refused = 0;
    for attempt in 0..12 {
        let r = stack
            .call(
                Method::POST,
                "/api/auth/password",
                &[("authorization", admin.as_str())],
                Some(json!({"currentPassword": "not the password at all", "newPassword": "not the password at all"})),
            )
            .await;
        match r.status {
            StatusCode::BAD_REQUEST => {
                assert_eq!(r.json["error"]["code"], "INVALID_CURRENT_PASSWORD");
                refused += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(attempt >= 3, "throttled after {attempt} failures");
                break;
            }
            other => panic!("{other}: {}", r.text),
        }
        assert!(attempt < 11, "never throttled");
    }
    let counted = good_failures(&stack).await;
    assert!(counted >= refused, "{counted} < {refused}");
    // MFA disable goes through the same counter: it is either refused by it or counted in it.
    let r = stack
        .call(
            Method::POST,
            "/api/auth/mfa/disable",
            &[("authorization", admin.as_str())],
            Some(json!({"password": "guess", "code": "123456"})),
        )
        .await;
    assert!(
        r.status == StatusCode::TOO_MANY_REQUESTS || good_failures(&stack).await == counted + 1,
        "{}",
        r.text
    );
    // So does a login, and the account's own counter saw every failure too.
    let state = account_throttle(&stack, "admin").await;
    assert!(number(&state, "failures") >= refused);
    let records = stack.audit_records().await;
    assert_eq!(
        records
            .iter()
            .filter(|r| r["type"] == "PasswordChangeFailed")
            .count(),
        refused as usize
    );
}

#[tokio::test]
async fn a_password_typed_as_the_user_name_never_reaches_the_trail() {
    let mut stack = Stack::new().await;
    // A password typed into the name field, one that is a valid user name too (lower case,
    // letters, digits, '.', '-').
    let typed = "tr0ub4dor-secret.99";
    let r = stack.login(typed, "whatever").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let records = stack.audit_records().await;
    let failed: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "LoginFailed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["actor"]["name"], fig_shared::auth::UNKNOWN_USER);
    let everything = format!(
        "{}{}",
        stack.table_dump().await,
        stack
            .audit_objects()
            .await
            .into_iter()
            .map(|(_, body)| body)
            .collect::<String>()
    );
    assert!(
        !everything.to_lowercase().contains("tr0ub4dor"),
        "typed text stored"
    );
    // A user's name is still recorded.
    stack.login("admin", "whatever").await;
    let records = stack.audit_records().await;
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "LoginFailed" && r["actor"]["name"] == "admin")
    );
}

#[tokio::test]
async fn forged_key_ids_cannot_make_every_request_a_table_read() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    assert_eq!(
        get(&stack, &admin, "/api/admin/clients").await.status,
        StatusCode::OK
    );
    let (pkcs8, _) = fig_shared::crypto::generate_signing_key().unwrap();
    let key = jsonwebtoken::EncodingKey::from_ed_der(pkcs8.expose());
    let forged = |kid: String| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(kid);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = json!({"iss": "fig", "aud": "fig-admin", "sub": "admin", "iat": now,
            "nbf": now, "exp": now + 900, "jti": "x", "purpose": "access",
            "role": "Administrator", "pcr": false, "sid": "x"});
        format!(
            "Bearer {}",
            jsonwebtoken::encode(&header, &claims, &key).unwrap()
        )
    };
    let before = stack.app.keys.verifying_key_loads();
    // Key ids that look freshly created (ULIDs of now) and ones that do not, at once.
    let requests = (0..40).map(|i| {
        let token = if i % 2 == 0 {
            forged(ulid::Ulid::new().to_string())
        } else {
            forged(format!("not-a-key-{i}"))
        };
        let stack = &stack;
        async move { get(stack, &token, "/api/admin/clients").await.status }
    });
    let statuses = futures::future::join_all(requests).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED));
    let loads = stack.app.keys.verifying_key_loads() - before;
    assert!(loads <= 3, "{loads} key reloads for 40 forged tokens");
}

#[tokio::test]
async fn with_registrations_closed_an_administrator_creates_each_client() {
    let stack = Stack::with_env(&[("FIG_ALLOW_NEW_REGISTRATIONS", "false")]).await;
    let admin = stack.admin_auth().await;
    let own = client_secret();
    let refused = register(&stack, &own, definitions(true, true)).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json["error"]["code"], "REGISTRATIONS_DISABLED");
    let create = |name: &'static str| {
        let (stack, admin) = (&stack, admin.clone());
        async move {
            stack
                .call(
                    Method::POST,
                    "/api/admin/clients",
                    &[("authorization", admin.as_str())],
                    Some(json!({"name": name, "description": "made by an administrator"})),
                )
                .await
        }
    };
    let created = create("svc").await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let secret = created.json["clientSecret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43);
    assert_eq!(create("svc").await.json["error"]["code"], "CLIENT_EXISTS");
    // The service registers its definitions with the secret it was given.
    let registered = register(&stack, &secret, definitions(true, true)).await;
    assert_eq!(registered.status, StatusCode::OK, "{}", registered.text);
    assert_eq!(registered.json["status"], "updated");
    let fetched = stack
        .call(
            Method::GET,
            "/api/clients/svc/settings",
            &[("clientSecret", &secret)],
            None,
        )
        .await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.json["settings"][0]["value"], "hello");
    // The secret is nowhere but in the answer.
    assert!(!stack.table_dump().await.contains(&secret));

    // The number of clients is bounded by the server configuration.
    let limited = stack
        .configure(
            &admin,
            json!({"maxClients": 1, "allowNewRegistrations": true}),
        )
        .await;
    assert_eq!(limited.status, StatusCode::OK, "{}", limited.text);
    let over = create("second").await;
    assert_eq!(over.status, StatusCode::CONFLICT);
    assert_eq!(over.json["error"]["code"], "CLIENT_LIMIT_REACHED");
    let body = json!({"name": "other", "settings": []});
    let over = register(&stack, &client_secret(), body.clone()).await;
    assert_eq!(
        over.json["error"]["code"], "CLIENT_LIMIT_REACHED",
        "{}",
        over.text
    );
    let deleted = stack
        .call(
            Method::DELETE,
            "/api/admin/clients/svc",
            &[("authorization", admin.as_str())],
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        register(&stack, &client_secret(), body).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_audit_view_reads_a_bounded_number_of_items_per_request() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    // One old event of a rare type, then more events in the same hour than one request may
    // read (written straight into the outbox, as the functions would).
    let now = fig_shared::clock::now();
    let event = |kind, at| {
        fig_shared::events::AuditEvent::new(
            kind,
            fig_shared::events::Actor::System,
            Default::default(),
            at,
        )
    };
    stack
        .app
        .store
        .record(&event(
            fig_shared::events::EventKind::SigningKeyRolled { kid: "rare".into() },
            now - time::Duration::milliseconds(500),
        ))
        .await
        .unwrap();
    let many = fig_shared::audit::MAX_ITEMS_READ + 400;
    for chunk in (0..many).collect::<Vec<_>>().chunks(50) {
        futures::future::join_all(chunk.iter().map(|_| async {
            stack
                .app
                .store
                .record(&event(fig_shared::events::EventKind::LoggedOut, now))
                .await
                .unwrap()
        }))
        .await;
    }
    // A filtered page stops after a bounded read and says where to go on.
    let mut path = "/api/admin/audit?type=SigningKeyRolled&limit=10".to_owned();
    let mut pages = 0;
    let found = loop {
        let page = get(&stack, &admin, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        pages += 1;
        let events = page.json["events"].as_array().unwrap();
        if let Some(e) = events.iter().find(|e| e["kid"] == "rare") {
            break e.clone();
        }
        let cursor = page.json["nextCursor"]
            .as_str()
            .expect("a cursor while events remain");
        path = format!("/api/admin/audit?type=SigningKeyRolled&limit=10&cursor={cursor}");
        assert!(pages < 10, "too many pages");
    };
    assert_eq!(found["type"], "SigningKeyRolled");
    assert!(pages >= 2, "the whole hour was read in one request");
}

#[tokio::test]
async fn a_table_write_cannot_mint_a_token() {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let payload = admin
        .trim_start_matches("Bearer ")
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let genuine = stack.app.keys.signing_key().await.unwrap().kid.clone();
    let genuine_item = stack
        .ddb
        .get_item()
        .table_name(&stack.names.table)
        .key("PK", AttributeValue::S("KEYS".into()))
        .key("SK", AttributeValue::S(format!("JWT#{genuine}")))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let forge = |wrapped_public: Option<AttributeValue>| {
        let stack = &stack;
        let claims = claims.clone();
        async move {
            // Someone who can write the table (but not use the token keys' KMS purposes) adds a
            // signing key of their own, and signs an Administrator token for a live session.
            let (pkcs8, public) = fig_shared::crypto::generate_signing_key().unwrap();
            let kid = ulid::Ulid::new().to_string();
            let mut put = stack
                .ddb
                .put_item()
                .table_name(&stack.names.table)
                .item("PK", AttributeValue::S("KEYS".into()))
                .item("SK", AttributeValue::S(format!("JWT#{kid}")))
                .item("kid", AttributeValue::S(kid.clone()))
                .item("wrapped", AttributeValue::S(STANDARD.encode(b"not a key")))
                .item("publicKey", AttributeValue::S(STANDARD.encode(&public)))
                .item(
                    "created",
                    AttributeValue::S(fig_shared::clock::now_rfc3339()),
                );
            if let Some(w) = wrapped_public {
                put = put.item("publicKeyWrapped", w);
            }
            put.send().await.unwrap();
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
            header.kid = Some(kid);
            let token = jsonwebtoken::encode(
                &header,
                &claims,
                &jsonwebtoken::EncodingKey::from_ed_der(pkcs8.expose()),
            )
            .unwrap();
            get(stack, &format!("Bearer {token}"), "/api/admin/users").await
        }
    };
    // With only the public key, with a genuine key's wrapped public key copied over, or with
    // garbage: the token is refused.
    for wrapped in [
        None,
        genuine_item.get("publicKeyWrapped").cloned(),
        Some(AttributeValue::S(STANDARD.encode(b"garbage"))),
    ] {
        let r = forge(wrapped).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    }
    // The genuine token still works.
    assert_eq!(
        get(&stack, &admin, "/api/admin/users").await.status,
        StatusCode::OK
    );
}

/// The admin function's own router, as its Lambda serves it behind API Gateway (what the
/// `execute-api` URL reaches), on a cold instance of `stack`'s deployment.
async fn direct(stack: &Stack, headers: &[(&str, &str)]) -> StatusCode {
    use tower::ServiceExt;
    let app = fig_shared::App::new(
        stack.app.config.clone(),
        fig_shared::aws::AwsServices::new(&stack.sdk),
    )
    .unwrap();
    let router = fig_http::service(fig_admin::routes(app.clone()), &app);
    let mut request = http::Request::builder()
        .method(Method::GET)
        .uri("/api/admin/clients");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    router
        .oneshot(request.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn behind_the_distribution_the_viewer_counts_and_nothing_goes_around_it() {
    use fig_shared::origin::{SECRET_HEADER, VIEWER_HEADER};
    let mut stack = Stack::with_env(&[("FIG_ORIGIN_VERIFY", "true")]).await;
    // Before the first maintenance run there is no origin secret: nothing gets in.
    let r = stack.call(Method::GET, "/api/health", &[], None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "NOT_THROUGH_DISTRIBUTION");
    let now = fig_shared::clock::now();
    let report = fig_shared::maintenance::run(&stack.app, now, None)
        .await
        .unwrap();
    assert!(report.origin_secret_rotated && report.origin_secret_published);
    let r = stack.call(Method::GET, "/api/health", &[], None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let first = stack.app.origin.current().await.unwrap().unwrap();

    // Around the distribution (the execute-api URL): refused, whatever a caller makes up.
    let viewer = (VIEWER_HEADER, "192.0.2.10");
    assert_eq!(direct(&stack, &[viewer]).await, StatusCode::FORBIDDEN);
    assert_eq!(
        direct(&stack, &[(SECRET_HEADER, "a guess"), viewer]).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        direct(&stack, &[(SECRET_HEADER, first.expose())]).await,
        StatusCode::FORBIDDEN,
        "a secret without the viewer's address"
    );
    // With the distribution's headers the route itself answers (401: no token).
    assert_eq!(
        direct(&stack, &[(SECRET_HEADER, first.expose()), viewer]).await,
        StatusCode::UNAUTHORIZED
    );

    // The viewer's own address is recorded, never one the viewer sends, never CloudFront's.
    let r = stack
        .call_from(
            "198.51.100.23",
            Method::POST,
            "/api/auth/login",
            &[(VIEWER_HEADER, "10.9.9.9"), (SECRET_HEADER, "spoofed")],
            Some(
                json!({"username": "nobody", "password": "wrong"})
                    .to_string()
                    .into_bytes(),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let records = stack.audit_records().await;
    let failed = records
        .iter()
        .find(|r| r["type"] == "LoginFailed" && r["source"]["ip"] == "198.51.100.23")
        .unwrap();
    assert_eq!(failed["source"]["ip"], "198.51.100.23");

    // Viewers behind the same CloudFront address do not share the per-address limit.
    let mut throttled = false;
    for i in 0..40 {
        let r = stack
            .login_from(
                "198.51.100.24",
                &format!("spray-{i}"),
                "guess guess",
                json!({}),
            )
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "the address limit never came");
    let other = stack
        .login_from("198.51.100.25", "spray-x", "guess guess", json!({}))
        .await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED, "{}", other.text);

    // Rotation: the previous secret stays accepted, the one before it does not.
    let later = now + time::Duration::hours(25);
    let report = fig_shared::maintenance::run(&stack.app, later, None)
        .await
        .unwrap();
    assert!(report.origin_secret_rotated);
    let second = stack.app.origin.current().await.unwrap().unwrap();
    assert_ne!(second.expose(), first.expose());
    for secret in [&first, &second] {
        assert_eq!(
            direct(&stack, &[(SECRET_HEADER, secret.expose()), viewer]).await,
            StatusCode::UNAUTHORIZED
        );
    }
    let report = fig_shared::maintenance::run(&stack.app, later + time::Duration::hours(25), None)
        .await
        .unwrap();
    assert!(report.origin_secret_rotated);
    assert_eq!(
        direct(&stack, &[(SECRET_HEADER, first.expose()), viewer]).await,
        StatusCode::FORBIDDEN
    );
    assert!(!stack.table_dump().await.contains(second.expose()));
    let records = stack.audit_records().await;
    assert_eq!(
        records
            .iter()
            .filter(|r| r["type"] == "OriginSecretRotated")
            .count(),
        3
    );
}

// --- findings of the attacker's review of this hardening (each failed before its fix) ---------

#[tokio::test]
async fn a_history_row_from_before_the_secret_flag_is_never_shown() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secret = client_secret();
    assert_eq!(
        register(&stack, &secret, definitions(true, true))
            .await
            .status,
        StatusCode::OK
    );
    // A row exactly as the previous release wrote them: sealed as a plain value, no flag.
    let state = fig_shared::clients::load_client(&stack.app, "svc")
        .await
        .unwrap()
        .unwrap();
    let key = state
        .data_key(&stack.app, state.meta.dek_version)
        .await
        .unwrap();
    let sealed = fig_shared::clients::seal_value(
        fig_shared::clients::ValuePlace {
            client: "svc",
            setting: "#history#DbPassword",
            value_version: 1,
            dek_version: state.meta.dek_version,
            secret: false,
        },
        &json!("pre-upgrade-hidden"),
        &key,
    )
    .unwrap();
    let row = [
        ("PK", AttributeValue::S("HISTORY#svc".into())),
        (
            "SK",
            AttributeValue::S(format!(
                "DbPassword#{}#0000000001",
                fig_shared::clock::now_rfc3339()
            )),
        ),
        ("client", AttributeValue::S("svc".into())),
        ("setting", AttributeValue::S("DbPassword".into())),
        ("time", AttributeValue::S(fig_shared::clock::now_rfc3339())),
        ("user", AttributeValue::S("admin".into())),
        ("message", AttributeValue::S("old".into())),
        ("valueVersion", AttributeValue::N("1".into())),
        ("value", AttributeValue::S(sealed)),
        (
            "dekVersion",
            AttributeValue::N(state.meta.dek_version.to_string()),
        ),
    ];
    let mut put = stack.ddb.put_item().table_name(&stack.names.table);
    for (name, value) in row {
        put = put.item(name, value);
    }
    put.send().await.unwrap();
    // Removed and registered again as plain (no value, so allowed): the old row stays hidden.
    register(&stack, &secret, definitions(true, false)).await;
    let again = register(&stack, &secret, definitions(false, true)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    let history = get(
        &stack,
        &admin,
        "/api/admin/clients/svc/settings/DbPassword/history",
    )
    .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.text);
    assert!(!history.text.contains("hidden"), "{}", history.text);
}

#[tokio::test]
async fn a_partial_configuration_save_changes_only_what_it_names() {
    let stack = Stack::with_env(&[("FIG_ALLOW_NEW_REGISTRATIONS", "false")]).await;
    let admin = stack.admin_auth().await;
    let put = |body: Value| {
        let (stack, admin) = (&stack, admin.clone());
        async move {
            stack
                .call(
                    Method::PUT,
                    "/api/admin/configuration",
                    &[("authorization", admin.as_str())],
                    Some(body),
                )
                .await
        }
    };
    let r =
        put(json!({"allowClientOverrides": true, "webhookAllowedHosts": ["siem.internal"]})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = put(json!({"maxClients": 50})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["allowNewRegistrations"], false, "{}", r.text);
    assert_eq!(r.json["allowClientOverrides"], true);
    assert_eq!(r.json["webhookAllowedHosts"], json!(["siem.internal"]));
    assert_eq!(r.json["maxClients"], 50);
    let refused = register(&stack, &client_secret(), definitions(true, true)).await;
    assert_eq!(refused.json["error"]["code"], "REGISTRATIONS_DISABLED");
    let bad = put(json!({"colour": "red"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = put(json!(["not", "an", "object"])).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn odd_times_and_paths_get_our_400_not_a_panic() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    for path in [
        "/api/admin/audit?to=9999-12-31T23:59:59-23:59",
        "/api/admin/audit?from=0000-01-01T00:00:00%2B23:59&to=0000-01-02T00:00:00Z",
    ] {
        let r = get(&stack, &admin, path).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text);
        assert_eq!(r.json["error"]["code"], "INVALID_AUDIT_QUERY");
    }
    let r = get(&stack, &admin, "/api/admin/clients/%FF%FE").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "INVALID_REQUEST", "{}", r.text);
    assert!(
        r.json["error"]["requestId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    // Names longer than any client's are simply not found (nothing is read for them).
    let long = "x".repeat(3000);
    let r = get(&stack, &admin, &format!("/api/admin/clients/{long}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = get(&stack, &admin, &format!("/api/admin/users/{long}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
}

#[tokio::test]
async fn an_administrators_password_reset_lifts_a_lock() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    stack.user_auth(&admin, "bob", "User", json!({})).await;
    // Locked by failures from elsewhere (ten, one after another as the delays allow, or at
    // once: both lock).
    let attempts = (0..12).map(|i| {
        let stack = &stack;
        async move {
            stack
                .login_from(
                    &format!("192.0.2.{}", i + 1),
                    "bob",
                    "wrong guess",
                    json!({}),
                )
                .await
        }
    });
    futures::future::join_all(attempts).await;
    let r = stack
        .login_from("192.0.2.99", "bob", USER_PASSWORD, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    let reset = stack
        .call(
            Method::POST,
            "/api/admin/users/bob/password-reset",
            &[("authorization", admin.as_str())],
            None,
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    let password = reset.json["password"].as_str().unwrap();
    let r = stack
        .login_from("192.0.2.99", "bob", password, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn a_deleted_instance_takes_its_history_with_it() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secret = client_secret();
    register(&stack, &secret, definitions(true, true)).await;
    let created = stack
        .call(
            Method::POST,
            "/api/admin/clients/svc/instances",
            &[("authorization", admin.as_str())],
            Some(json!({"instance": "eu"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let r = set(
        &stack,
        &admin,
        json!([{"name": "DbPassword", "value": "eu-hidden"}]),
        Some("eu"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let refused = register(&stack, &secret, definitions(false, true)).await;
    assert_eq!(refused.json["error"]["code"], "SECRET_STAYS_SECRET");
    let deleted = stack
        .call(
            Method::DELETE,
            "/api/admin/clients/svc/instances/eu",
            &[("authorization", admin.as_str())],
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    // No value and no history of it is left anywhere, so the setting may become plain.
    assert!(!stack.table_dump().await.contains("@eu/"));
    let again = register(&stack, &secret, definitions(false, true)).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
}

#[tokio::test]
async fn a_table_from_before_the_client_count_is_still_bounded() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    for name in ["one", "two"] {
        let body = json!({"name": name, "settings": []});
        assert_eq!(
            register(&stack, &client_secret(), body).await.status,
            StatusCode::OK
        );
    }
    // The count item did not exist before this release.
    stack
        .ddb
        .delete_item()
        .table_name(&stack.names.table)
        .key("PK", AttributeValue::S("CLIENTCOUNT".into()))
        .key("SK", AttributeValue::S("COUNT".into()))
        .send()
        .await
        .unwrap();
    let r = stack.configure(&admin, json!({"maxClients": 2})).await;
    assert_eq!(r.status, StatusCode::OK);
    let over = register(
        &stack,
        &client_secret(),
        json!({"name": "three", "settings": []}),
    )
    .await;
    assert_eq!(
        over.json["error"]["code"], "CLIENT_LIMIT_REACHED",
        "{}",
        over.text
    );
}

#[tokio::test]
async fn mfa_required_now_applies_to_tokens_issued_before() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let on = stack
        .configure(&admin, json!({"requireMfaForAdministrators": true}))
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.text);
    let r = get(&stack, &admin, "/api/admin/users").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "MFA_ENROLLMENT_REQUIRED");
}
