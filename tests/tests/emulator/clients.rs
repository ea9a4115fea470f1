//! Service clients against the emulator: secrets, rotation, registration switches, status,
//! throttling, and failing closed when AWS is unreachable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_dynamodb::types::AttributeValue;
use fig_tests::{Stack, client_secret};
use http::{Method, StatusCode};
use serde_json::{Value, json};

fn registration(name: &str) -> Value {
    json!({"name": name, "description": "test", "settings": [
        {"name": "Greeting", "type": "string", "defaultValue": "hello"},
        {"name": "Password", "type": "string", "secret": true},
        {"name": "Retries", "type": "int", "defaultValue": 3, "minimum": 0, "maximum": 10}
    ]})
}

async fn register(stack: &Stack, name: &str, secret: &str) {
    let r = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", secret)],
            Some(registration(name)),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

async fn fetch(stack: &Stack, name: &str, secret: &str) -> fig_tests::Reply {
    stack
        .call(
            Method::GET,
            &format!("/api/clients/{name}/settings"),
            &[("clientSecret", secret)],
            None,
        )
        .await
}

#[tokio::test]
async fn a_client_secret_reads_only_its_own_client() {
    let stack = Stack::new().await;
    let (a, b) = (client_secret(), client_secret());
    register(&stack, "alpha", &a).await;
    register(&stack, "beta", &b).await;
    assert_eq!(fetch(&stack, "alpha", &a).await.status, StatusCode::OK);
    let cross = fetch(&stack, "beta", &a).await;
    let unknown = fetch(&stack, "gamma", &a).await;
    let missing = stack
        .call(Method::GET, "/api/clients/beta/settings", &[], None)
        .await;
    for r in [&cross, &unknown, &missing] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.json["error"]["code"], "CLIENT_AUTH_FAILED");
        assert_eq!(r.json["error"]["message"], cross.json["error"]["message"]);
    }
    // Re-registering someone else's name with another secret is refused too.
    let hijack = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &a)],
            Some(registration("beta")),
        )
        .await;
    assert_eq!(hijack.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rotation_keeps_the_old_secret_for_the_grace_period_only() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let old = client_secret();
    register(&stack, "svc", &old).await;
    let rotate = |grace: u32| {
        let admin = admin.clone();
        let stack = &stack;
        async move {
            stack
                .call(
                    Method::POST,
                    "/api/admin/clients/svc/secret",
                    &[("authorization", &admin)],
                    Some(json!({"graceMinutes": grace})),
                )
                .await
        }
    };
    let r = rotate(30).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let new = r.json["clientSecret"].as_str().unwrap().to_owned();
    assert!(new.len() >= 43);
    assert!(r.json["previousSecretValidUntil"].is_string());
    // Both work during the grace period.
    assert_eq!(fetch(&stack, "svc", &old).await.status, StatusCode::OK);
    assert_eq!(fetch(&stack, "svc", &new).await.status, StatusCode::OK);
    // A rotation with no grace: the secret it replaces stops at once, and so does the
    // one before it (only one previous secret is kept).
    let r = rotate(0).await;
    let newest = r.json["clientSecret"].as_str().unwrap().to_owned();
    assert_eq!(fetch(&stack, "svc", &newest).await.status, StatusCode::OK);
    assert_eq!(
        fetch(&stack, "svc", &new).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        fetch(&stack, "svc", &old).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        rotate(100_000).await.json["error"]["code"],
        "INVALID_GRACE_PERIOD"
    );
    let table = stack.table_dump().await;
    assert!(!table.contains(&new) && !table.contains(&newest));
}

#[tokio::test]
async fn registrations_can_be_switched_off_and_updates_keep_values() {
    let mut stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let h = [("authorization", admin.as_str())];
    let secret = client_secret();
    register(&stack, "svc", &secret).await;
    let set = stack
        .call(Method::PUT, "/api/admin/clients/svc/settings", &h, Some(json!({"values": [{"name": "Greeting", "value": "hi"}, {"name": "Retries", "value": 7}]})))
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    // Values are validated against the definition.
    let bad = stack
        .call(
            Method::PUT,
            "/api/admin/clients/svc/settings",
            &h,
            Some(json!({"values": [{"name": "Retries", "value": 11}]})),
        )
        .await;
    assert_eq!(bad.json["error"]["code"], "INVALID_VALUE");
    let bad = stack
        .call(
            Method::PUT,
            "/api/admin/clients/svc/settings",
            &h,
            Some(json!({"values": [{"name": "Retries", "value": "seven"}]})),
        )
        .await;
    assert_eq!(bad.json["error"]["code"], "INVALID_VALUE");

    let mut config = stack
        .call(Method::GET, "/api/admin/configuration", &h, None)
        .await
        .json;
    config["allowNewRegistrations"] = json!(false);
    config["allowUpdatedRegistrations"] = json!(false);
    assert_eq!(
        stack
            .call(
                Method::PUT,
                "/api/admin/configuration",
                &h,
                Some(config.clone())
            )
            .await
            .status,
        StatusCode::OK
    );
    let new_client = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &client_secret())],
            Some(registration("other")),
        )
        .await;
    assert_eq!(new_client.status, StatusCode::FORBIDDEN);
    assert_eq!(new_client.json["error"]["code"], "REGISTRATIONS_DISABLED");
    assert!(
        new_client.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("switched off")
    );
    let mut changed = registration("svc");
    changed["settings"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "Extra", "type": "bool", "defaultValue": true}));
    let update = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(changed.clone()),
        )
        .await;
    assert_eq!(
        update.json["error"]["code"],
        "REGISTRATION_UPDATES_DISABLED"
    );
    // An identical registration is fine (it changes nothing).
    let same = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(registration("svc")),
        )
        .await;
    assert_eq!(same.json["status"], "unchanged");

    config["allowUpdatedRegistrations"] = json!(true);
    stack
        .call(Method::PUT, "/api/admin/configuration", &h, Some(config))
        .await;
    // Remove Retries, add Extra: Greeting keeps its value, Retries' value is gone.
    changed["settings"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["name"] != "Retries");
    let update = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(changed),
        )
        .await;
    assert_eq!(update.json["status"], "updated", "{}", update.text);
    let values = fetch(&stack, "svc", &secret).await.json["settings"].clone();
    let names: Vec<&str> = values
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Greeting", "Password", "Extra"]);
    assert_eq!(values[0]["value"], "hi");
    assert_eq!(values[2]["value"], true);
    assert!(!stack.table_dump().await.contains("SETTING#Retries"));

    let records = stack.audit_records().await;
    let types: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"RegistrationRefused")
            && types.contains(&"UpdatedClientRegistration")
            && types.contains(&"ServerConfigurationChanged")
    );
}

#[tokio::test]
async fn failed_client_authentications_are_throttled_per_name_and_address() {
    let stack = Stack::new().await;
    let secret = client_secret();
    register(&stack, "svc", &secret).await;
    let attacker = "192.0.2.50";
    let limit = fig_shared::clients::CLIENT_FAILURES_PER_HOUR;
    let mut failures = 0;
    let blocked = loop {
        let r = stack
            .call_from(
                attacker,
                Method::GET,
                "/api/clients/svc/settings",
                &[("clientSecret", &client_secret())],
                None,
            )
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            break r;
        }
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        failures += 1;
        assert!(failures < 2 * limit, "never throttled");
    };
    // Exactly the limit, unless the run crossed a clock hour (the window is the hour).
    assert!((limit..2 * limit).contains(&failures), "{failures}");
    // Even the right secret is refused from that address now.
    let right = stack
        .call_from(
            attacker,
            Method::GET,
            "/api/clients/svc/settings",
            &[("clientSecret", &secret)],
            None,
        )
        .await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.headers.contains_key("retry-after"));
    // The service itself, from its own address, is not locked out.
    assert_eq!(fetch(&stack, "svc", &secret).await.status, StatusCode::OK);
}

#[tokio::test]
async fn heartbeats_report_connections_and_waiting_updates() {
    let mut stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secret = client_secret();
    register(&stack, "svc", &secret).await;
    let beat = |version: u64| {
        let secret = secret.clone();
        let stack = &stack;
        async move {
            stack
                .call(
                    Method::PUT,
                    "/api/clients/svc/status",
                    &[("clientSecret", &secret)],
                    Some(json!({"runSessionId": "run-1", "hostname": "web-1\r\nforged", "applicationVersion": "1.2.3", "uptimeSeconds": 5, "lastSettingVersion": version})),
                )
                .await
        }
    };
    let first = beat(1).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.json["updateAvailable"], false);
    assert!(first.json["pollIntervalMs"].as_u64().unwrap() >= 1000);
    stack
        .call(
            Method::PUT,
            "/api/admin/clients/svc/settings",
            &[("authorization", &admin)],
            Some(json!({"values": [{"name": "Greeting", "value": "x"}]})),
        )
        .await;
    let second = beat(1).await;
    assert_eq!(second.json["updateAvailable"], true);
    // A version the server does not hold (from before the client was registered again) is not
    // current either.
    let ahead = beat(9).await;
    assert_eq!(ahead.json["updateAvailable"], true);
    assert_eq!(beat(2).await.json["updateAvailable"], false);
    let wrong = stack
        .call(
            Method::PUT,
            "/api/clients/svc/status",
            &[("clientSecret", &client_secret())],
            Some(json!({"runSessionId": "run-1"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let records = stack.audit_records().await;
    let connected: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "ClientStatusChanged")
        .collect();
    assert_eq!(connected.len(), 1, "one connection event per run session");
    assert_eq!(connected[0]["hostname"], "web-1forged");
}

async fn broken_stack_app(stack: &Stack, kms_down: bool, dynamodb_down: bool) -> axum::Router {
    let dead = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "t", "t", None, None, "t",
        ))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await;
    let mut clients = fig_shared::aws::AwsServices::new(&stack.sdk);
    if kms_down {
        clients.kms = aws_sdk_kms::Client::new(&dead);
    }
    if dynamodb_down {
        clients.dynamodb = aws_sdk_dynamodb::Client::new(&dead);
    }
    let app = fig_shared::App::new(stack.app.config.clone(), clients).unwrap();
    fig_gateway::router(app, None)
}

#[tokio::test]
async fn requests_fail_closed_when_kms_or_dynamodb_is_unreachable() {
    let stack = Stack::new().await;
    let secret = client_secret();
    register(&stack, "svc", &secret).await;
    for (what, kms, ddb) in [("KMS", true, false), ("DynamoDB", false, true)] {
        // A cold instance on the same table whose KMS or DynamoDB endpoint is dead.
        let r = {
            use tower::ServiceExt;
            let mut request = http::Request::builder()
                .uri("/api/clients/svc/settings")
                .header("clientSecret", &secret)
                .body(axum::body::Body::empty())
                .unwrap();
            request.extensions_mut().insert(axum::extract::ConnectInfo(
                std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
            ));
            broken_stack_app(&stack, kms, ddb)
                .await
                .oneshot(request)
                .await
                .unwrap()
        };
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        let body = http_body_util::BodyExt::collect(r.into_body())
            .await
            .unwrap()
            .to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("SERVICE_UNAVAILABLE"), "{what}: {text}");
        for leak in [
            "dispatch",
            "127.0.0.1",
            "Connect",
            "hello",
            "kms",
            "dynamodb",
        ] {
            assert!(!text.contains(leak), "{what}: {leak} in {text}");
        }
    }
}

#[tokio::test]
async fn client_overrides_apply_only_when_allowed_for_the_client() {
    let mut stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let h = [("authorization", admin.as_str())];
    let secret = client_secret();
    let mut with_override = registration("svc");
    with_override["clientSettingOverrides"] = json!([{"name": "Greeting", "value": "from-env"}]);
    // Off by default: refused with a clear error, and nothing is registered.
    let refused = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(with_override.clone()),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.json["error"]["code"], "CLIENT_OVERRIDES_DISABLED");
    assert!(
        !stack.table_dump().await.contains("CLIENT#svc\""),
        "a refused registration was written"
    );

    // Allowed, but only for clients matching the (anchored) allow-list.
    let mut config = stack
        .call(Method::GET, "/api/admin/configuration", &h, None)
        .await
        .json;
    config["allowClientOverrides"] = json!(true);
    config["clientOverridesAllowList"] = json!(["svc|web-.*"]);
    assert_eq!(
        stack
            .call(Method::PUT, "/api/admin/configuration", &h, Some(config))
            .await
            .status,
        StatusCode::OK
    );
    let mut other = registration("svc-old");
    other["clientSettingOverrides"] = json!([{"name": "Greeting", "value": "x"}]);
    let refused = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &client_secret())],
            Some(other),
        )
        .await;
    assert_eq!(refused.json["error"]["code"], "CLIENT_OVERRIDES_DISABLED");
    // An override must fit its definition.
    let mut bad = registration("svc");
    bad["clientSettingOverrides"] = json!([{"name": "Retries", "value": 99}]);
    let r = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(bad),
        )
        .await;
    assert_eq!(r.json["error"]["code"], "INVALID_VALUE");

    let applied = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(with_override.clone()),
        )
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text);
    let fetched = fetch(&stack, "svc", &secret).await;
    assert_eq!(fetched.json["settings"][0]["value"], "from-env");
    let list = stack
        .call(Method::GET, "/api/admin/clients", &h, None)
        .await;
    let greeting = list.json["clients"][0]["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Greeting")
        .unwrap()
        .clone();
    assert_eq!(greeting["externallyManaged"], true);
    // The same override again writes nothing.
    let again = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(with_override),
        )
        .await;
    assert_eq!(again.json["status"], "unchanged");
    let records = stack.audit_records().await;
    let overrides: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "SettingValueChanged")
        .collect();
    assert_eq!(overrides.len(), 1);
    assert_eq!(overrides[0]["actor"]["kind"], "client");
    assert_eq!(overrides[0]["changeMessage"], "client override");
}

#[tokio::test]
async fn validation_patterns_are_checked_at_registration_and_on_every_value() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secret = client_secret();
    let bad = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(json!({"name": "svc", "settings": [
                {"name": "Port", "type": "string", "validationRegex": "(?<=x)[0-9]+"}
            ]})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json["error"]["code"], "INVALID_DEFINITION");
    assert!(
        bad.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Port")
    );
    let ok = stack
        .call(Method::POST, "/api/clients", &[("clientSecret", &secret)], Some(json!({"name": "svc", "settings": [
            {"name": "Port", "type": "string", "validationRegex": "[0-9]{2,5}", "validationExplanation": "a TCP port"},
            {"name": "Mode", "type": "string", "validValues": ["fast", "safe"]}
        ]})))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    for (setting, value, ok) in [
        ("Port", json!("8080"), true),
        ("Port", json!("80x"), false),
        ("Mode", json!("fast"), true),
        ("Mode", json!("reckless"), false),
    ] {
        let r = stack
            .call(
                Method::PUT,
                "/api/admin/clients/svc/settings",
                &[("authorization", &admin)],
                Some(json!({"values": [{"name": setting, "value": value}]})),
            )
            .await;
        assert_eq!(r.status.is_success(), ok, "{setting}={value}: {}", r.text);
        if !ok {
            assert_eq!(r.json["error"]["code"], "INVALID_VALUE");
        }
    }
}

#[tokio::test]
async fn history_shows_who_when_and_values_but_never_secret_ones() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let h = [("authorization", admin.as_str())];
    register(&stack, "svc", &client_secret()).await;
    for (message, greeting, password) in [
        ("first", "one", "pw-one-hidden"),
        ("second", "two", "pw-two-hidden"),
    ] {
        let r = stack
            .call(Method::PUT, "/api/admin/clients/svc/settings", &h, Some(json!({"changeMessage": message, "values": [{"name": "Greeting", "value": greeting}, {"name": "Password", "value": password}]})))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let plain = stack
        .call(
            Method::GET,
            "/api/admin/clients/svc/settings/Greeting/history",
            &h,
            None,
        )
        .await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.text);
    let entries = plain.json["history"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["message"], "second");
    assert_eq!(entries[0]["oldValue"], "one");
    assert_eq!(entries[0]["newValue"], "two");
    assert_eq!(entries[1]["oldValue"], "hello");
    assert_eq!(entries[0]["user"], "admin");
    let secret = stack
        .call(
            Method::GET,
            "/api/admin/clients/svc/settings/Password/history",
            &h,
            None,
        )
        .await;
    assert_eq!(secret.json["history"].as_array().unwrap().len(), 2);
    assert!(
        !secret.text.contains("hidden"),
        "a secret value in history: {}",
        secret.text
    );
    let missing = stack
        .call(
            Method::GET,
            "/api/admin/clients/svc/settings/Nope/history",
            &h,
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_cold_instance_under_concurrent_load_unwraps_each_key_once() {
    let stack = Stack::new().await;
    let secret = client_secret();
    register(&stack, "svc", &secret).await;
    // A new instance (cold: no pepper, no data key) takes 16 fetches at once.
    let cold = fig_shared::App::new(
        stack.app.config.clone(),
        fig_shared::aws::AwsServices::new(&stack.sdk),
    )
    .unwrap();
    let router = fig_gateway::router(cold.clone(), None);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (router, secret) = (router.clone(), secret.clone());
        tasks.spawn(async move {
            use tower::ServiceExt;
            let mut request = http::Request::builder()
                .uri("/api/clients/svc/settings")
                .header("clientSecret", &secret)
                .body(axum::body::Body::empty())
                .unwrap();
            request.extensions_mut().insert(axum::extract::ConnectInfo(
                std::net::SocketAddr::from(([127, 0, 0, 1], 1)),
            ));
            router.oneshot(request).await.unwrap().status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    // One Decrypt for the client-secret pepper, one for the client's data key.
    assert_eq!(cold.kms.calls(), 2);
}

#[tokio::test]
async fn instances_start_as_copies_and_fall_back_to_the_base_client() {
    let mut stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let h = [("authorization", admin.as_str())];
    let secret = client_secret();
    register(&stack, "svc", &secret).await;
    let set = stack
        .call(Method::PUT, "/api/admin/clients/svc/settings", &h, Some(json!({"values": [{"name": "Greeting", "value": "base"}, {"name": "Password", "value": "base-pw"}]})))
        .await;
    assert_eq!(set.status, StatusCode::OK);
    let created = stack
        .call(
            Method::POST,
            "/api/admin/clients/svc/instances",
            &h,
            Some(json!({"instance": "eu"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["copiedValues"], 2);
    let dup = stack
        .call(
            Method::POST,
            "/api/admin/clients/svc/instances",
            &h,
            Some(json!({"instance": "eu"})),
        )
        .await;
    assert_eq!(dup.json["error"]["code"], "INSTANCE_EXISTS");
    // The instance changes independently of the base client.
    let set = stack
        .call(
            Method::PUT,
            "/api/admin/clients/svc/settings",
            &h,
            Some(json!({"instance": "eu", "values": [{"name": "Greeting", "value": "eu-only"}]})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    let get = |instance: Option<&'static str>| {
        let stack = &stack;
        let secret = secret.clone();
        async move {
            let path = match instance {
                Some(i) => format!("/api/clients/svc/settings?instance={i}"),
                None => "/api/clients/svc/settings".to_owned(),
            };
            stack
                .call(Method::GET, &path, &[("clientSecret", &secret)], None)
                .await
        }
    };
    let value = |r: &fig_tests::Reply, name: &str| {
        r.json["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["value"]
            .clone()
    };
    let eu = get(Some("eu")).await;
    assert_eq!(eu.json["instance"], "eu");
    assert_eq!(value(&eu, "Greeting"), "eu-only");
    assert_eq!(value(&eu, "Password"), "base-pw", "copied at creation");
    assert_eq!(value(&eu, "Retries"), 3, "unset everywhere: the default");
    let base = get(None).await;
    assert_eq!(value(&base, "Greeting"), "base");
    assert_ne!(
        eu.headers["etag"], base.headers["etag"],
        "one ETag per instance"
    );
    // An unknown instance falls back to the base client.
    let us = get(Some("us")).await;
    assert_eq!(us.json["instance"], Value::Null);
    assert_eq!(value(&us, "Greeting"), "base");
    let bad = get(Some("no%2Fpe")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // Deleting the instance sends its services back to the base values.
    assert_eq!(
        stack
            .call(
                Method::DELETE,
                "/api/admin/clients/svc/instances/eu",
                &h,
                None
            )
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(value(&get(Some("eu")).await, "Greeting"), "base");
    let list = stack
        .call(Method::GET, "/api/admin/clients", &h, None)
        .await;
    assert_eq!(list.json["clients"][0]["instances"], json!([]));
    let records = stack.audit_records().await;
    let types: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"InstanceCreated") && types.contains(&"InstanceDeleted"));
    let read = records
        .iter()
        .find(|r| r["type"] == "SettingsRead" && r["instance"] == "eu")
        .unwrap();
    assert_eq!(read["client"], "svc");
}

/// A poll whose ETag is still current reads the client's head only (`META` and the failure
/// counters, never the values) and is recorded in aggregate; a stale ETag, an instance the ETag
/// does not name, a wrong secret and a throttled address all behave as a full fetch does.
#[tokio::test]
async fn a_current_poll_reads_only_the_head_and_is_recorded_in_aggregate() {
    let mut stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secret = client_secret();
    register(&stack, "svc", &secret).await;
    let poll = |from: &'static str, path: &'static str, secret: String, tag: String| {
        let stack = &stack;
        async move {
            stack
                .call_from(
                    from,
                    Method::GET,
                    path,
                    &[("clientSecret", &secret), ("if-none-match", &tag)],
                    None,
                )
                .await
        }
    };
    let greeting = |r: &fig_tests::Reply| {
        r.json["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "Greeting")
            .unwrap()["value"]
            .clone()
    };
    set_values(&stack, &admin, "svc", "one", "pw").await;
    let first = fetch(&stack, "svc", &secret).await;
    let tag = first.headers["etag"].to_str().unwrap().to_owned();

    // A stale ETag gets the new values.
    set_values(&stack, &admin, "svc", "two", "pw").await;
    let path = "/api/clients/svc/settings";
    let changed = poll("192.0.2.7", path, secret.clone(), tag.clone()).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(greeting(&changed), "two");
    assert_ne!(changed.headers["etag"].to_str().unwrap(), tag);

    // The base client's ETag is not an instance's: a service asking for an instance gets it.
    create_instance(&stack, &admin, "svc", "eu").await;
    let base = fetch(&stack, "svc", &secret).await;
    let tag = base.headers["etag"].to_str().unwrap().to_owned();
    let eu = poll(
        "192.0.2.7",
        "/api/clients/svc/settings?instance=eu",
        secret.clone(),
        tag.clone(),
    )
    .await;
    assert_eq!(eu.status, StatusCode::OK, "{}", eu.text);
    assert_eq!(eu.json["instance"], "eu");
    let eu_tag = eu.headers["etag"].to_str().unwrap().to_owned();
    assert_ne!(eu_tag, tag);

    // A value item the poll would choke on: a current poll never reads it, a fetch does.
    stack
        .ddb
        .put_item()
        .table_name(&stack.names.table)
        .item(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("CLIENT#svc".into()),
        )
        .item(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("SETTING#Greeting".into()),
        )
        .item(
            "name",
            aws_sdk_dynamodb::types::AttributeValue::S("Greeting".into()),
        )
        .item(
            "value",
            aws_sdk_dynamodb::types::AttributeValue::S("%%%".into()),
        )
        .send()
        .await
        .unwrap();
    // Nor does a full fetch of the base client: it answers from the values pack, which shows
    // the client's current version.
    let full = fetch(&stack, "svc", &secret).await;
    assert_eq!(full.status, StatusCode::OK, "{}", full.text);
    assert_eq!(greeting(&full), "two");
    // An instance fetch reads the whole partition, and meets the broken item.
    let whole = stack
        .call(
            Method::GET,
            "/api/clients/svc/settings?instance=eu",
            &[("clientSecret", &secret)],
            None,
        )
        .await;
    assert_eq!(
        whole.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        whole.text
    );
    for from in ["192.0.2.7", "192.0.2.7", "192.0.2.8"] {
        let r = poll(from, path, secret.clone(), tag.clone()).await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{}", r.text);
        assert_eq!(r.headers["etag"].to_str().unwrap(), tag);
        assert!(r.text.is_empty());
    }
    let r = poll(
        "192.0.2.8",
        "/api/clients/svc/settings?instance=eu",
        secret.clone(),
        eu_tag.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);

    // A wrong secret is refused on the poll path too, counted and recorded per request.
    let wrong = poll("192.0.2.66", path, client_secret(), tag.clone()).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json["error"]["code"], "CLIENT_AUTH_FAILED");
    let unknown = poll(
        "192.0.2.66",
        "/api/clients/nobody/settings",
        secret.clone(),
        tag.clone(),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    // An address over the limit is refused even with the right secret and ETag.
    let limit = fig_shared::clients::CLIENT_FAILURES_PER_HOUR;
    let mut blocked = false;
    for _ in 0..2 * limit {
        let r = poll("192.0.2.66", path, client_secret(), tag.clone()).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            blocked = true;
            break;
        }
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    assert!(blocked, "never throttled");
    let right = poll("192.0.2.66", path, secret.clone(), tag.clone()).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS);

    // The trail: every 200 one SettingsRead, the 304s one SettingsPolled per client and instance.
    let records = stack.audit_records().await;
    let of = |t: &str| -> Vec<&Value> { records.iter().filter(|r| r["type"] == t).collect() };
    assert_eq!(
        of("SettingsRead").len(),
        5,
        "first, changed, base, eu, packed"
    );
    let polled = of("SettingsPolled");
    assert_eq!(polled.len(), 2, "{polled:?}");
    let base_polls = polled.iter().find(|r| r["instance"].is_null()).unwrap();
    assert_eq!(base_polls["client"], "svc");
    assert_eq!(
        base_polls["actor"],
        json!({"kind": "client", "name": "svc"})
    );
    assert_eq!(base_polls["polls"], 3);
    assert_eq!(
        base_polls["addresses"],
        json!([{"ip": "192.0.2.7", "polls": 2}, {"ip": "192.0.2.8", "polls": 1}])
    );
    assert_eq!(base_polls["otherAddresses"], 0);
    assert!(base_polls["first"].as_str().unwrap() <= base_polls["last"].as_str().unwrap());
    let eu_polls = polled.iter().find(|r| r["instance"] == "eu").unwrap();
    assert_eq!(eu_polls["polls"], 1);
    assert!(of("ClientAuthenticationFailed").len() > limit as usize);
    assert_eq!(of("ClientThrottled").len(), 2);
    let text = serde_json::to_string(&records).unwrap();
    assert!(!text.contains(&secret), "a client secret reached the trail");
}

/// The items of a client's values pack (`META#VALUES`), and its `META`.
async fn client_item(
    stack: &Stack,
    client: &str,
    sk: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    stack
        .ddb
        .get_item()
        .table_name(&stack.names.table)
        .key("PK", AttributeValue::S(format!("CLIENT#{client}")))
        .key("SK", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_else(|| panic!("no {sk} item for {client}"))
}

/// Puts `pack` into `client`'s partition labelled as current for it: the versions and the
/// incarnation its `META` holds now (what someone who can write the table, or restores an old
/// backup into it, can do).
async fn plant_pack(
    stack: &Stack,
    client: &str,
    mut pack: std::collections::HashMap<String, AttributeValue>,
) {
    let meta = client_item(stack, client, "META").await;
    for (attr, from) in [
        ("v", "version"),
        ("d", "definitionsVersion"),
        ("k", "dekVersion"),
        ("i", "incarnation"),
    ] {
        pack.insert(attr.into(), meta[from].clone());
    }
    pack.insert("PK".into(), AttributeValue::S(format!("CLIENT#{client}")));
    stack
        .ddb
        .put_item()
        .table_name(&stack.names.table)
        .set_item(Some(pack))
        .send()
        .await
        .unwrap();
}

async fn set_values(stack: &Stack, admin: &str, client: &str, greeting: &str, password: &str) {
    let r = stack
        .call(
            Method::PUT,
            &format!("/api/admin/clients/{client}/settings"),
            &[("authorization", admin)],
            Some(json!({"values": [{"name": "Greeting", "value": greeting}, {"name": "Password", "value": password}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// Creates instance `instance` of `client` as an Administrator.
async fn create_instance(
    stack: &Stack,
    admin: &str,
    client: &str,
    instance: &str,
) -> fig_tests::Reply {
    let created = stack
        .call(
            Method::POST,
            &format!("/api/admin/clients/{client}/instances"),
            &[("authorization", admin)],
            Some(json!({"instance": instance})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    created
}

fn values_of(r: &fig_tests::Reply) -> Vec<(String, Value)> {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s["value"].clone()))
        .collect()
}

/// A values pack answers only for the client state it was sealed for. Another client's pack,
/// and the pack of a deleted client of the same name (a backup restored over the table), both
/// relabelled as current, never answer: the fetch reads the partition, answers the client's
/// own values and packs them again.
#[tokio::test]
async fn a_values_pack_answers_only_for_its_own_client_and_incarnation() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let (svc, other) = (client_secret(), client_secret());
    register(&stack, "svc", &svc).await;
    register(&stack, "other", &other).await;
    set_values(&stack, &admin, "svc", "svc-greeting", "svc-password").await;
    set_values(&stack, &admin, "other", "other-greeting", "other-password").await;
    let own = |greeting: &str, password: &str| {
        vec![
            ("Greeting".to_owned(), json!(greeting)),
            ("Password".to_owned(), json!(password)),
            ("Retries".to_owned(), json!(3)),
        ]
    };
    assert_eq!(
        values_of(&fetch(&stack, "svc", &svc).await),
        own("svc-greeting", "svc-password")
    );
    assert_eq!(
        values_of(&fetch(&stack, "other", &other).await),
        own("other-greeting", "other-password")
    );
    let svc_pack = client_item(&stack, "svc", "META#VALUES").await;

    // Another client's pack.
    plant_pack(&stack, "other", svc_pack.clone()).await;
    assert_eq!(
        values_of(&fetch(&stack, "other", &other).await),
        own("other-greeting", "other-password")
    );
    let repacked = client_item(&stack, "other", "META#VALUES").await;
    assert_ne!(repacked["p"], svc_pack["p"], "the pack is made again");
    assert_eq!(
        values_of(&fetch(&stack, "other", &other).await),
        own("other-greeting", "other-password")
    );

    // The same name, deleted and registered again (same versions, a new incarnation).
    let deleted = stack
        .call(
            Method::DELETE,
            "/api/admin/clients/svc",
            &[("authorization", &admin)],
            None,
        )
        .await;
    assert!(deleted.status.is_success(), "{}", deleted.text);
    let reborn = client_secret();
    register(&stack, "svc", &reborn).await;
    set_values(&stack, &admin, "svc", "new-greeting", "new-password").await;
    plant_pack(&stack, "svc", svc_pack).await;
    assert_eq!(
        values_of(&fetch(&stack, "svc", &reborn).await),
        own("new-greeting", "new-password")
    );
    assert_eq!(
        values_of(&fetch(&stack, "svc", &reborn).await),
        own("new-greeting", "new-password")
    );
}

/// Anyone who knows a client's name can add failure counters to its partition (one per address
/// and hour). However many there are, a poll, a fetch, an instance fetch and a heartbeat read a
/// bounded number of items, and the caller's own counter still throttles it.
#[tokio::test]
async fn many_failure_counters_neither_enlarge_a_read_nor_hide_the_callers_own() {
    use std::sync::atomic::Ordering;
    let mut stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secret = client_secret();
    register(&stack, "svc", &secret).await;
    set_values(&stack, &admin, "svc", "hi", "pw").await;
    create_instance(&stack, &admin, "svc", "eu").await;
    let hour = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()[..13]
        .to_owned();
    // 600 other addresses failed once this hour; 192.0.2.66 is over its limit.
    let limit = fig_shared::clients::CLIENT_FAILURES_PER_HOUR;
    let counter = |address: String, failures: u32| {
        let item = [
            ("PK", AttributeValue::S("CLIENT#svc".into())),
            (
                "SK",
                AttributeValue::S(format!("META#THROTTLE#{address}#{hour}")),
            ),
            ("failures", AttributeValue::N(failures.to_string())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        aws_sdk_dynamodb::types::WriteRequest::builder()
            .put_request(
                aws_sdk_dynamodb::types::PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let mut requests: Vec<_> = (0..600)
        .map(|i| counter(format!("2001:db8:{i:x}::/64"), 1))
        .collect();
    requests.push(counter("192.0.2.66".into(), limit));
    for chunk in requests.chunks(25) {
        let out = stack
            .ddb
            .batch_write_item()
            .request_items(&stack.names.table, chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    }
    let read = stack.count_items_read();
    let stack = &stack;
    let measured = |from: &'static str, path: &'static str, tag: Option<String>| {
        let (secret, read) = (secret.clone(), read.clone());
        async move {
            let before = read.load(Ordering::Relaxed);
            let mut headers = vec![("clientSecret", secret.clone())];
            headers.extend(tag.map(|t| ("if-none-match", t)));
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = stack
                .call_from(from, Method::GET, path, &headers, None)
                .await;
            (r, read.load(Ordering::Relaxed) - before)
        }
    };
    let base = "/api/clients/svc/settings";
    let (first, _) = measured("192.0.2.7", base, None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let (packed, items) = measured("192.0.2.7", base, None).await;
    assert_eq!(packed.status, StatusCode::OK, "{}", packed.text);
    assert!(items <= 10, "a packed fetch read {items} items");
    let tag = packed.headers["etag"].to_str().unwrap().to_owned();
    let (poll, items) = measured("192.0.2.7", base, Some(tag.clone())).await;
    assert_eq!(poll.status, StatusCode::NOT_MODIFIED, "{}", poll.text);
    assert!(items <= 10, "a poll read {items} items");
    let (eu, items) = measured("192.0.2.7", "/api/clients/svc/settings?instance=eu", None).await;
    assert_eq!(eu.status, StatusCode::OK, "{}", eu.text);
    assert_eq!(eu.json["instance"], "eu");
    assert!(items <= 450, "an instance fetch read {items} items");

    let status = json!({"runSessionId": "run-one", "hostname": "h"});
    let heartbeat = |from: &'static str| {
        let secret = secret.clone();
        let status = status.clone();
        async move {
            stack
                .call_from(
                    from,
                    Method::PUT,
                    "/api/clients/svc/status",
                    &[("clientSecret", &secret)],
                    Some(serde_json::to_vec(&status).unwrap()),
                )
                .await
        }
    };
    let before = read.load(Ordering::Relaxed);
    let beat = heartbeat("192.0.2.7").await;
    assert_eq!(beat.status, StatusCode::OK, "{}", beat.text);
    let items = read.load(Ordering::Relaxed) - before;
    assert!(items <= 10, "a heartbeat read {items} items");

    // The address over its limit is refused on every path, its counter found among 600.
    for (path, tag) in [
        (base, None),
        (base, Some(tag.clone())),
        ("/api/clients/svc/settings?instance=eu", None),
    ] {
        let (r, _) = measured("192.0.2.66", path, tag).await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{path}: {}",
            r.text
        );
    }
    assert_eq!(
        heartbeat("192.0.2.66").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}
