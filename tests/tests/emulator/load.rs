//! Load and reconcile: admins edit (with and without versions), services fetch and poll,
//! people log in with wrong and right passwords, and a client-secret rotation and a data-key
//! rotation happen in the middle, all at once. Afterwards every answer is checked against the
//! audit trail in S3 and the final state: no 5xx; each 2xx has exactly one record; a refused
//! change changed nothing and left no change record; the values services fetch are the last
//! committed ones; the digest chain verifies and reconciliation finds nothing missing.
//!
//! Meaningful only on an emulator with real transactions and streams (LocalStack's DynamoDB
//! Local); the counts and the throughput it saw are printed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use fig_shared::audit_trail;
use fig_tests::{ADMIN_NEW_PASSWORD, Reply, Stack, USER_PASSWORD, client_secret};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const CLIENTS: [&str; 2] = ["alpha", "beta"];
const SETTINGS: [&str; 4] = ["One", "Two", "Three", "Token"];
const EDITORS: usize = 4;
const EDITS_EACH: usize = 12;
const FETCHERS: usize = 4;
const FETCHES_EACH: usize = 24;
const LOGINS: usize = 16;

/// One answer, with what was asked.
#[derive(Debug, Clone)]
struct Outcome {
    what: &'static str,
    status: StatusCode,
    request_id: String,
    client: String,
    setting: String,
    value: String,
    /// The client version an edit answered with.
    version: Option<u64>,
}

fn request_id(reply: &Reply) -> String {
    reply.headers["x-request-id"].to_str().unwrap().to_owned()
}

async fn register(stack: &Stack, name: &str, secret: &str) {
    let settings: Vec<Value> = SETTINGS
        .iter()
        .map(|s| json!({"name": s, "type": "string", "secret": *s == "Token"}))
        .collect();
    let r = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", secret)],
            Some(json!({"name": name, "settings": settings})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_load_leaves_exactly_one_record_per_answer() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secrets: HashMap<&str, String> = CLIENTS.iter().map(|c| (*c, client_secret())).collect();
    for c in CLIENTS {
        register(&stack, c, &secrets[c]).await;
    }
    let mut editors = Vec::new();
    for i in 0..EDITORS {
        editors.push(
            stack
                .user_auth(&admin, &format!("editor{i}"), "User", json!({}))
                .await,
        );
    }
    let stack = Arc::new(stack);
    let started = Instant::now();

    // Editors: every other edit carries the version it loaded (optimistic concurrency).
    let mut tasks = tokio::task::JoinSet::new();
    for (e, auth) in editors.iter().cloned().enumerate() {
        let stack = stack.clone();
        tasks.spawn(async move {
            let mut out = Vec::new();
            for n in 0..EDITS_EACH {
                let client = CLIENTS[(e + n) % 2];
                let setting = SETTINGS[(e * 3 + n) % SETTINGS.len()];
                let value = format!("e{e}-n{n}");
                let mut body =
                    json!({"changeMessage": "load", "values": [{"name": setting, "value": value}]});
                if n % 2 == 1 {
                    let current = stack
                        .call(
                            Method::GET,
                            &format!("/api/admin/clients/{client}"),
                            &[("authorization", auth.as_str())],
                            None,
                        )
                        .await;
                    assert_eq!(current.status, StatusCode::OK, "{}", current.text);
                    body["version"] = current.json["version"].clone();
                }
                let r = stack
                    .call(
                        Method::PUT,
                        &format!("/api/admin/clients/{client}/settings"),
                        &[("authorization", auth.as_str())],
                        Some(body),
                    )
                    .await;
                out.push(Outcome {
                    what: if n % 2 == 1 { "edit+version" } else { "edit" },
                    status: r.status,
                    request_id: request_id(&r),
                    client: client.into(),
                    setting: setting.into(),
                    value,
                    version: r.json["version"].as_u64(),
                });
            }
            out
        });
    }
    // Services: full fetches and 304 polls with the last ETag.
    for f in 0..FETCHERS {
        let stack = stack.clone();
        let client = CLIENTS[f % 2];
        let secret = secrets[client].clone();
        tasks.spawn(async move {
            let mut out = Vec::new();
            let mut etag: Option<String> = None;
            for n in 0..FETCHES_EACH {
                let mut headers = vec![("clientSecret", secret.as_str())];
                let tag = etag.clone();
                if n % 2 == 1
                    && let Some(t) = tag.as_deref()
                {
                    headers.push(("if-none-match", t));
                }
                let r = stack
                    .call(
                        Method::GET,
                        &format!("/api/clients/{client}/settings"),
                        &headers,
                        None,
                    )
                    .await;
                if let Some(t) = r.headers.get("etag") {
                    etag = Some(t.to_str().unwrap().to_owned());
                }
                out.push(Outcome {
                    what: "fetch",
                    status: r.status,
                    request_id: request_id(&r),
                    client: client.into(),
                    setting: String::new(),
                    value: String::new(),
                    version: r.json["version"].as_u64(),
                });
            }
            out
        });
    }
    // People: wrong passwords (each from its own address) and right ones.
    {
        let stack = stack.clone();
        tasks.spawn(async move {
            let mut out = Vec::new();
            for n in 0..LOGINS {
                let (ip, user, password) = if n % 2 == 0 {
                    (
                        format!("198.51.100.{}", n + 10),
                        format!("editor{}", n % EDITORS),
                        "not the password",
                    )
                } else {
                    (
                        fig_tests::SOURCE_IP.to_owned(),
                        format!("editor{}", n % EDITORS),
                        USER_PASSWORD,
                    )
                };
                let r = stack.login_from(&ip, &user, password, json!({})).await;
                out.push(Outcome {
                    what: "login",
                    status: r.status,
                    request_id: request_id(&r),
                    client: String::new(),
                    setting: String::new(),
                    value: String::new(),
                    version: None,
                });
            }
            out
        });
    }
    // In the middle: a client-secret rotation (the old one keeps working for its grace) and a
    // data-key rotation.
    {
        let (stack, admin) = (stack.clone(), admin.clone());
        tasks.spawn(async move {
            let mut out = Vec::new();
            for (path, body, what) in [
                (
                    "/api/admin/clients/alpha/secret",
                    Some(json!({"graceMinutes": 60})),
                    "rotate-secret",
                ),
                ("/api/admin/clients/beta/data-key", None, "rotate-data-key"),
            ] {
                let r = stack
                    .call(
                        Method::POST,
                        path,
                        &[("authorization", admin.as_str())],
                        body,
                    )
                    .await;
                out.push(Outcome {
                    what,
                    status: r.status,
                    request_id: request_id(&r),
                    client: String::new(),
                    setting: String::new(),
                    value: String::new(),
                    version: None,
                });
            }
            out
        });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = tasks.join_next().await {
        outcomes.extend(done.unwrap());
    }
    let elapsed = started.elapsed();

    // No 5xx, and nothing but the answers each kind may give.
    let mut counts: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    for o in &outcomes {
        *counts.entry((o.what, o.status.as_u16())).or_default() += 1;
        assert!(!o.status.is_server_error(), "{o:?}");
    }
    for o in &outcomes {
        let allowed: &[u16] = match o.what {
            // Without a version an edit never sees a conflict it did not cause.
            "edit" => &[200],
            "edit+version" => &[200, 409],
            "fetch" => &[200, 304],
            "login" => &[200, 401, 429],
            // A data-key rotation races the edits of its client: it may lose, whole.
            "rotate-data-key" => &[200, 409],
            _ => &[200],
        };
        assert!(allowed.contains(&o.status.as_u16()), "{o:?}");
    }

    // The audit trail: exactly one record per answer, of the right type.
    let mut stack = Arc::into_inner(stack).expect("every task is done");
    let records = stack.audit_records().await;
    // Everything until here reached the bucket; the checks below make events of their own.
    let settled = fig_shared::clock::now();
    let mut by_request: HashMap<&str, Vec<&Value>> = HashMap::new();
    for r in &records {
        if let Some(id) = r["source"]["requestId"].as_str() {
            by_request.entry(id).or_default().push(r);
        }
    }
    let types = |o: &Outcome| -> Vec<&str> {
        by_request
            .get(o.request_id.as_str())
            .map(|v| v.iter().filter_map(|r| r["type"].as_str()).collect())
            .unwrap_or_default()
    };
    for o in &outcomes {
        let expected: &[&str] = match (o.what, o.status.as_u16()) {
            ("edit" | "edit+version", 200) => &["SettingValueChanged"],
            ("edit" | "edit+version", 409) => &[],
            ("fetch", 200) => &["SettingsRead"],
            // A 304 discloses nothing: counted per client, written in aggregate (below).
            ("fetch", 304) => &[],
            ("login", 200) => &["LoginSucceeded"],
            ("login", 401) => &["LoginFailed"],
            ("login", 429) => &["AccountThrottled"],
            ("rotate-secret", 200) => &["ClientSecretRotated"],
            ("rotate-data-key", 200) => &["DataKeyRotated"],
            ("rotate-data-key", 409) => &[],
            other => panic!("{other:?}"),
        };
        let mut found = types(o);
        // A lock brought by a failure is its own record of the same request.
        found.retain(|t| *t != "AccountLocked");
        assert_eq!(found, expected, "{o:?}");
    }
    let polls = |client: &str| -> u64 {
        records
            .iter()
            .filter(|r| r["type"] == "SettingsPolled" && r["client"] == client)
            .map(|r| r["polls"].as_u64().unwrap())
            .sum()
    };
    for client in CLIENTS {
        let answered = outcomes
            .iter()
            .filter(|o| o.what == "fetch" && o.client == client && o.status.as_u16() == 304)
            .count() as u64;
        assert_eq!(polls(client), answered, "{client}: every 304 counted once");
    }

    // The values services fetch now are the last committed ones: for each setting, the
    // successful edit that answered with the highest client version.
    let mut last: HashMap<(String, String), (u64, String)> = HashMap::new();
    for o in outcomes
        .iter()
        .filter(|o| o.what.starts_with("edit") && o.status == StatusCode::OK)
    {
        let version = o.version.unwrap();
        let entry = last
            .entry((o.client.clone(), o.setting.clone()))
            .or_insert((0, String::new()));
        if version > entry.0 {
            *entry = (version, o.value.clone());
        }
    }
    let alpha_secret = secrets["alpha"].clone();
    for client in CLIENTS {
        let r = stack
            .call(
                Method::GET,
                &format!("/api/clients/{client}/settings"),
                &[(
                    "clientSecret",
                    &if client == "alpha" {
                        alpha_secret.clone()
                    } else {
                        secrets[client].clone()
                    },
                )],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        for s in r.json["settings"].as_array().unwrap() {
            let name = s["name"].as_str().unwrap();
            let expected = last
                .get(&(client.to_owned(), name.to_owned()))
                .map(|(_, v)| Value::from(v.clone()))
                .unwrap_or(Value::Null);
            assert_eq!(s["value"], expected, "{client}/{name}");
        }
    }

    // The chain verifies and nothing in the outbox is missing from the bucket.
    let report = stack.verify_audit_chain().await;
    assert!(report.ok(), "{:?}", report.problems);
    let reconciled = audit_trail::reconcile(
        &stack.ddb,
        &stack.names.table,
        &stack.s3,
        &stack.names.audit_bucket,
        (settled - time::Duration::hours(1), settled),
        None,
    )
    .await
    .unwrap();
    assert!(reconciled.missing.is_empty(), "{reconciled:?}");

    let requests = outcomes.len();
    println!(
        "load: {requests} requests in {:.1} s ({:.1}/s); answers {counts:?}; {} audit records, {} outbox events reconciled, {} digests",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        records.len(),
        reconciled.checked,
        report.digests
    );
    // The login of the administrator the fixture used still works (nothing locked it).
    assert_eq!(
        stack.login("admin", ADMIN_NEW_PASSWORD).await.status,
        StatusCode::OK
    );
}
