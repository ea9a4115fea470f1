//! The Rust client library against the real gateway (over TCP) and the emulator: register,
//! fetch, watch, and the offline file's rules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use fig_sdk::{ClientSecret, FigClient, FigError, OfflineStore, Origin, Setting, WatchOptions};
use fig_tests::{Stack, client_secret};
use http::{Method, StatusCode};
use serde_json::json;

const SECRET_VALUE: &str = "sdk-secret-marker-Kq7";

fn definitions() -> Vec<Setting> {
    vec![
        Setting::string("Greeting")
            .default_value("hello")
            .description("Shown to users")
            .live_update(),
        Setting::string("DbPassword")
            .secret()
            .description("Database password"),
        Setting::int("Retries").default_value(3),
    ]
}

fn offline_store(name: &str) -> OfflineStore {
    let dir = std::env::temp_dir().join(format!(
        "fig-sdk-test-{}-{}",
        std::process::id(),
        ulid::Ulid::new()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    OfflineStore::new(
        dir.join(format!("{name}.offline")),
        Duration::from_secs(3600),
    )
}

#[tokio::test]
async fn register_fetch_watch_and_survive_an_outage_with_the_offline_file() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let h = [("authorization", admin.as_str())];
    let mut config = stack
        .call(Method::GET, "/api/admin/configuration", &h, None)
        .await
        .json;
    config["pollIntervalMs"] = json!(1000);
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

    let (url, server) = stack.serve().await;
    let secret = client_secret();
    let client = FigClient::new(&url, "svc", ClientSecret::new(secret.clone()).unwrap()).unwrap();
    assert_eq!(
        client.register("SDK test", &definitions()).await.unwrap(),
        "registered"
    );
    assert_eq!(
        client.register("SDK test", &definitions()).await.unwrap(),
        "unchanged"
    );
    let set = stack
        .call(
            Method::PUT,
            "/api/admin/clients/svc/settings",
            &h,
            Some(json!({"values": [{"name": "DbPassword", "value": SECRET_VALUE}]})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK);

    let store = offline_store("svc");
    let options = WatchOptions {
        offline: Some(store.clone()),
        ..WatchOptions::default()
    };
    let mut watch = fig_sdk::watch(client.clone(), options.clone())
        .await
        .unwrap();
    {
        let current = watch.receiver.borrow_and_update();
        assert_eq!(current.origin, Origin::Server);
        assert_eq!(current.settings.values["DbPassword"], SECRET_VALUE);
        assert_eq!(current.settings.values["Greeting"], "hello");
        assert_eq!(current.settings.poll_interval_ms, 1000);
    }
    let raw = std::fs::read_to_string(store.path()).unwrap();
    assert!(
        !raw.contains(SECRET_VALUE),
        "the offline file holds plaintext"
    );

    // An admin change reaches the watcher on its next poll.
    stack
        .call(
            Method::PUT,
            "/api/admin/clients/svc/settings",
            &h,
            Some(json!({"values": [{"name": "Greeting", "value": "changed"}]})),
        )
        .await;
    tokio::time::timeout(Duration::from_secs(20), watch.receiver.changed())
        .await
        .expect("no change within 20 s")
        .unwrap();
    assert_eq!(
        watch.receiver.borrow().settings.values["Greeting"],
        "changed"
    );
    let heartbeat = client
        .heartbeat(
            "run-1",
            Some(watch.receiver.borrow().settings.version),
            false,
            Duration::from_secs(3),
        )
        .await
        .unwrap();
    assert!(!heartbeat.update_available);
    drop(watch);

    // Fig goes down: a new process starts from the offline file.
    server.abort();
    let _ = server.await;
    let down = FigClient::new(&url, "svc", ClientSecret::new(secret.clone()).unwrap()).unwrap();
    let offline = fig_sdk::watch(down, options.clone()).await.unwrap();
    assert_eq!(offline.receiver.borrow().origin, Origin::Offline);
    assert_eq!(
        offline.receiver.borrow().settings.values["DbPassword"],
        SECRET_VALUE
    );
    assert_eq!(
        offline.receiver.borrow().settings.values["Greeting"],
        "changed"
    );
    drop(offline);
    // Without a file, an outage is an error, not empty settings.
    let nothing = FigClient::new(&url, "svc", ClientSecret::new(secret.clone()).unwrap()).unwrap();
    assert!(matches!(
        fig_sdk::watch(nothing, WatchOptions::default()).await,
        Err(FigError::Transport(_))
    ));

    // Back up: a 401 (the secret was rotated out) deletes the offline file.
    let (url, _server) = stack.serve().await;
    let wrong = FigClient::new(&url, "svc", ClientSecret::new(client_secret()).unwrap()).unwrap();
    assert!(matches!(
        fig_sdk::watch(wrong, options.clone()).await,
        Err(FigError::Unauthorized)
    ));
    assert!(!store.path().exists(), "the offline file survived a 401");

    // A server that disallows offline use makes the client delete its file.
    let right = FigClient::new(&url, "svc", ClientSecret::new(secret.clone()).unwrap()).unwrap();
    drop(
        fig_sdk::watch(right.clone(), options.clone())
            .await
            .unwrap(),
    );
    assert!(store.path().exists());
    config["allowOfflineSettings"] = json!(false);
    assert_eq!(
        stack
            .call(Method::PUT, "/api/admin/configuration", &h, Some(config))
            .await
            .status,
        StatusCode::OK
    );
    let fresh = fig_shared::App::new(
        stack.app.config.clone(),
        fig_shared::aws::AwsServices::new(&stack.sdk),
    )
    .unwrap();
    let fresh_stack_router = fig_gateway::router(fresh, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            fresh_stack_router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let right = FigClient::new(&url, "svc", ClientSecret::new(secret).unwrap()).unwrap();
    let current = fig_sdk::watch(right, options).await.unwrap();
    assert!(!current.receiver.borrow().settings.allow_offline);
    assert!(
        !store.path().exists(),
        "the offline file survived a server that disallows it"
    );
}

#[tokio::test]
async fn registration_refusals_come_back_as_clear_errors() {
    let stack = Stack::new().await;
    let (url, _server) = stack.serve().await;
    let weak = FigClient::new(&url, "svc", ClientSecret::new("short").unwrap()).unwrap();
    match weak.register("", &definitions()).await {
        Err(FigError::Status {
            status: 400, code, ..
        }) => assert_eq!(code, "WEAK_CLIENT_SECRET"),
        other => panic!("{other:?}"),
    }
    let bad = FigClient::new(&url, "svc", ClientSecret::generate()).unwrap();
    let secret_default = vec![Setting::string("Key").secret().default_value("x")];
    match bad.register("", &secret_default).await {
        Err(FigError::Status {
            status: 400,
            code,
            message,
        }) => {
            assert_eq!(code, "INVALID_DEFINITION");
            assert!(message.contains("Key"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn overrides_from_the_environment_reach_the_server() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let h = [("authorization", admin.as_str())];
    let (url, _server) = stack.serve().await;
    let secret = client_secret();
    let client = FigClient::new(&url, "svc", ClientSecret::new(secret).unwrap()).unwrap();
    let overrides = fig_sdk::overrides_from(&definitions(), |k| {
        (k == "FIG_OVERRIDE_GREETING").then(|| "from-env".to_owned())
    })
    .unwrap();
    // Off by default: a clear refusal.
    assert!(
        matches!(client.register_with_overrides("", &definitions(), &overrides).await, Err(FigError::Forbidden(m)) if m.contains("overrides"))
    );
    let mut config = stack
        .call(Method::GET, "/api/admin/configuration", &h, None)
        .await
        .json;
    config["allowClientOverrides"] = json!(true);
    config["clientOverridesAllowList"] = json!(["svc"]);
    stack
        .call(Method::PUT, "/api/admin/configuration", &h, Some(config))
        .await;
    assert_eq!(
        client
            .register_with_overrides("", &definitions(), &overrides)
            .await
            .unwrap(),
        "registered"
    );
    match client.fetch(None).await.unwrap() {
        fig_sdk::Fetched::Settings(s) => assert_eq!(s.values["Greeting"], "from-env"),
        other => panic!("{other:?}"),
    }
}
