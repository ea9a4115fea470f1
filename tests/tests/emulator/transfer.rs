//! Export and import: secrets left out or sealed with a passphrase, the imports switch,
//! validation before any write, and the three modes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fig_tests::{Reply, Stack, client_secret};
use http::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET_VALUE: &str = "sk_live_do-not-leak-0123456789";
const PASSPHRASE: &str = "lantern orbit velvet cactus harbour";

async fn call(stack: &Stack, auth: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
    stack
        .call(method, path, &[("authorization", auth)], body)
        .await
}

async fn fetch(stack: &Stack, secret: &str) -> Reply {
    stack
        .call(
            Method::GET,
            "/api/clients/billing/settings",
            &[("clientSecret", secret)],
            None,
        )
        .await
}

/// Sets values of client `billing` (or of its `instance`) as `admin`.
async fn set_values(stack: &Stack, admin: &str, values: Value, instance: Option<&str>) -> Reply {
    let mut body = json!({"changeMessage": "setup", "values": values});
    if let Some(i) = instance {
        body["instance"] = json!(i);
    }
    call(
        stack,
        admin,
        Method::PUT,
        "/api/admin/clients/billing/settings",
        Some(body),
    )
    .await
}

#[tokio::test]
async fn export_and_import_round_trip() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secret = client_secret();
    let r = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(json!({"name": "billing", "settings": [
                {"name": "Greeting", "type": "string", "defaultValue": "hello"},
                {"name": "Port", "type": "int", "minimum": 1, "maximum": 65535},
                {"name": "ApiKey", "type": "string", "secret": true},
            ]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let put = |values: Value, instance: Option<&'static str>| {
        set_values(&stack, &admin, values, instance)
    };
    assert_eq!(
        put(json!([{"name": "Greeting", "value": "bonjour"}, {"name": "Port", "value": 8443}, {"name": "ApiKey", "value": SECRET_VALUE}]), None).await.status,
        StatusCode::OK
    );
    let r = call(
        &stack,
        &admin,
        Method::POST,
        "/api/admin/clients/billing/instances",
        Some(json!({"instance": "eu"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        put(json!([{"name": "Greeting", "value": "hallo"}]), Some("eu"))
            .await
            .status,
        StatusCode::OK
    );

    // Plain export: values, definitions, no secret value, no client-secret material.
    let plain = call(&stack, &admin, Method::GET, "/api/admin/export", None).await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.text);
    assert!(
        plain.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(plain.headers["cache-control"], "no-store");
    let client = &plain.json["clients"][0];
    assert_eq!(client["values"]["Greeting"], "bonjour");
    assert_eq!(client["instances"]["eu"]["Greeting"], "hallo");
    assert!(client["values"].get("ApiKey").is_none());
    assert!(!plain.text.contains(SECRET_VALUE));
    assert!(!plain.text.to_lowercase().contains("secrethash") && !plain.text.contains(&secret));
    assert!(plain.json.get("secrets").is_none());

    // Sealed export: a weak passphrase is refused; the secret travels only encrypted.
    let weak = call(
        &stack,
        &admin,
        Method::POST,
        "/api/admin/export",
        Some(json!({"passphrase": "password123"})),
    )
    .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert_eq!(weak.json["error"]["code"], "WEAK_PASSPHRASE");
    let sealed = call(
        &stack,
        &admin,
        Method::POST,
        "/api/admin/export",
        Some(json!({"passphrase": PASSPHRASE})),
    )
    .await;
    assert_eq!(sealed.status, StatusCode::OK, "{}", sealed.text);
    assert!(!sealed.text.contains(SECRET_VALUE) && !sealed.text.contains(PASSPHRASE));
    assert_eq!(sealed.json["secrets"]["kdf"], "argon2id");
    let document = sealed.json.clone();

    // Imports are off by default.
    let import = |mode: &str, passphrase: Option<&str>, document: Value| {
        let mut body = json!({"mode": mode, "document": document});
        if let Some(p) = passphrase {
            body["passphrase"] = json!(p);
        }
        call(
            &stack,
            &admin,
            Method::POST,
            "/api/admin/import",
            Some(body),
        )
    };
    let off = import("addNewClients", None, document.clone()).await;
    assert_eq!(off.status, StatusCode::FORBIDDEN);
    assert_eq!(off.json["error"]["code"], "IMPORTS_DISABLED");
    let on = stack
        .configure(&admin, json!({"allowFileImports": true}))
        .await;
    assert_eq!(on.status, StatusCode::OK);

    // Validated before anything is written: one bad value in the second client, nothing lands.
    let mut bad = document.clone();
    let mut other = bad["clients"][0].clone();
    other["name"] = json!("search");
    other["values"]["Port"] = json!(70000);
    let mut first = bad["clients"][0].clone();
    first["name"] = json!("catalog");
    bad["clients"].as_array_mut().unwrap().insert(0, first);
    bad["clients"].as_array_mut().unwrap().push(other);
    let before = stack
        .table_dump()
        .await
        .lines()
        .filter(|l| !l.contains("EVENT#"))
        .count();
    let refused = import("addNewClients", Some(PASSPHRASE), bad).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert_eq!(refused.json["error"]["code"], "INVALID_IMPORT");
    assert!(
        refused.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("search")
    );
    let after = stack
        .table_dump()
        .await
        .lines()
        .filter(|l| !l.contains("EVENT#"))
        .count();
    assert_eq!(before, after, "nothing written");

    // Sealed secrets need the passphrase; a file edited to make a secret setting plain is
    // refused (the sealed part is not bound to the definitions, so the server checks).
    let missing = import("addNewClients", None, document.clone()).await;
    assert_eq!(
        missing.json["error"]["code"], "PASSPHRASE_REQUIRED",
        "{}",
        missing.text
    );
    let mut flipped = document.clone();
    for setting in flipped["clients"][0]["settings"].as_array_mut().unwrap() {
        if setting["name"] == "ApiKey" {
            setting["secret"] = json!(false);
        }
    }
    let refused = import("replaceClients", Some(PASSPHRASE), flipped).await;
    assert_eq!(
        refused.json["error"]["code"], "INVALID_IMPORT",
        "{}",
        refused.text
    );
    assert!(
        refused.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a secret setting")
    );

    // A wrong passphrase is refused.
    let wrong = import(
        "addNewClients",
        Some("another long passphrase entirely"),
        document.clone(),
    )
    .await;
    assert_eq!(
        wrong.json["error"]["code"], "WRONG_PASSPHRASE",
        "{}",
        wrong.text
    );

    // addNewClients into an empty server: values, instance values and (with the passphrase)
    // secret values come back; the client has no secret until an administrator rotates one.
    let deleted = call(
        &stack,
        &admin,
        Method::DELETE,
        "/api/admin/clients/billing",
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let added = import("addNewClients", Some(PASSPHRASE), document.clone()).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.text);
    // Base Greeting, Port, ApiKey; the instance's copies of them (Greeting changed).
    assert_eq!(added.json, json!({"clients": 1, "values": 6}));
    assert_eq!(
        fetch(&stack, &secret).await.status,
        StatusCode::UNAUTHORIZED,
        "no secret was imported"
    );
    let rotated = call(
        &stack,
        &admin,
        Method::POST,
        "/api/admin/clients/billing/secret",
        Some(json!({"graceMinutes": 0})),
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let new_secret = rotated.json["clientSecret"].as_str().unwrap().to_owned();
    let fetched = fetch(&stack, &new_secret).await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
    assert!(fetched.text.contains(SECRET_VALUE) && fetched.text.contains("bonjour"));
    let eu = stack
        .call(
            Method::GET,
            "/api/clients/billing/settings?instance=eu",
            &[("clientSecret", &new_secret)],
            None,
        )
        .await;
    assert!(eu.text.contains("hallo"), "{}", eu.text);

    // addNewClients again: the existing client is left alone.
    let again = import("addNewClients", None, plain.json.clone()).await;
    assert_eq!(again.json, json!({"clients": 0, "values": 0}));

    // valuesOnly: a changed value, with history.
    let mut changed = plain.json.clone();
    changed["clients"][0]["values"]["Greeting"] = json!("ciao");
    let values = import("valuesOnly", None, changed.clone()).await;
    assert_eq!(values.status, StatusCode::OK, "{}", values.text);
    assert!(fetch(&stack, &new_secret).await.text.contains("ciao"));
    let history = call(
        &stack,
        &admin,
        Method::GET,
        "/api/admin/clients/billing/settings/Greeting/history",
        None,
    )
    .await;
    assert_eq!(
        history.json["history"][0]["message"],
        "Imported (valuesOnly)"
    );
    let unknown = {
        let mut d = changed.clone();
        d["clients"][0]["name"] = json!("nobody");
        import("valuesOnly", None, d).await
    };
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

    // replaceClients: back to the exported values, and the client keeps its secret.
    let replaced = import("replaceClients", Some(PASSPHRASE), document.clone()).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    let fetched = fetch(&stack, &new_secret).await;
    assert_eq!(fetched.status, StatusCode::OK, "{}", fetched.text);
    assert!(fetched.text.contains("bonjour") && fetched.text.contains(SECRET_VALUE));

    // No secret value or passphrase in the table, the audit trail or any answer.
    let mut stack = stack;
    let records = stack.audit_records().await;
    let everything = format!("{records:?}{}", stack.table_dump().await);
    assert!(!everything.contains(SECRET_VALUE) && !everything.contains(PASSPHRASE));
    for t in ["ClientsExported", "ClientsImported"] {
        assert!(records.iter().any(|r| r["type"] == t), "{t}");
    }
}

/// `replaceClients` on a client that exists replaces it in place: it never goes missing (no
/// 401 for its services), keeps its secret, data key and history, and ends up exactly as the
/// file says: definitions, values (others back to their defaults) and instances.
#[tokio::test]
async fn replace_happens_in_place() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secret = client_secret();
    let register = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(json!({"name": "billing", "settings": [
                {"name": "Greeting", "type": "string", "defaultValue": "hello"},
                {"name": "Old", "type": "string", "defaultValue": "old"},
                {"name": "Count", "type": "int", "defaultValue": 1},
                {"name": "Mode", "type": "string", "defaultValue": "fast"},
                {"name": "ApiKey", "type": "string", "secret": true},
            ]})),
        )
        .await;
    assert_eq!(register.status, StatusCode::OK, "{}", register.text);
    let put = |values: Value, instance: Option<&'static str>| {
        set_values(&stack, &admin, values, instance)
    };
    // The instances first, so they hold only their own values.
    for instance in ["eu", "us"] {
        let r = call(
            &stack,
            &admin,
            Method::POST,
            "/api/admin/clients/billing/instances",
            Some(json!({"instance": instance})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let r = put(
        json!([
            {"name": "Greeting", "value": "bonjour"},
            {"name": "Old", "value": "x"},
            {"name": "Count", "value": 5},
            {"name": "Mode", "value": "slow"},
            {"name": "ApiKey", "value": SECRET_VALUE},
        ]),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = put(json!([{"name": "Greeting", "value": "hallo"}]), Some("eu")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // A second version of Count, so its history holds versions 1 and 2.
    let r = put(json!([{"name": "Count", "value": 6}]), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let sealed = call(
        &stack,
        &admin,
        Method::POST,
        "/api/admin/export",
        Some(json!({"passphrase": PASSPHRASE})),
    )
    .await;
    assert_eq!(sealed.status, StatusCode::OK, "{}", sealed.text);

    // The file: Old removed, Count now a string, Mode left unset, instance us gone, apac new.
    let mut document = sealed.json.clone();
    let client = &mut document["clients"][0];
    let settings = client["settings"].as_array_mut().unwrap();
    settings.retain(|d| d["name"] != "Old");
    for d in settings.iter_mut() {
        if d["name"] == "Count" {
            d["type"] = json!("string");
            d["defaultValue"] = json!("one");
        }
    }
    let values = client["values"].as_object_mut().unwrap();
    values.remove("Old");
    values.remove("Mode");
    values.insert("Count".into(), json!("five"));
    let instances = client["instances"].as_object_mut().unwrap();
    instances.remove("us");
    instances.insert("apac".into(), json!({"Greeting": "g'day"}));
    assert_eq!(
        stack
            .configure(&admin, json!({"allowFileImports": true}))
            .await
            .status,
        StatusCode::OK
    );
    let history_before = call(
        &stack,
        &admin,
        Method::GET,
        "/api/admin/clients/billing/settings/Greeting/history",
        None,
    )
    .await;
    let old_rows = history_before.json["history"].as_array().unwrap().len();
    // The service keeps fetching while the import runs: it never finds its client missing.
    let done = std::sync::atomic::AtomicBool::new(false);
    let importing = async {
        let reply = call(
            &stack,
            &admin,
            Method::POST,
            "/api/admin/import",
            Some(json!({"mode": "replaceClients", "passphrase": PASSPHRASE, "document": document})),
        )
        .await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        reply
    };
    let watching = async {
        let mut statuses = Vec::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            statuses.push(fetch(&stack, &secret).await.status);
        }
        statuses
    };
    let (replaced, statuses) = tokio::join!(importing, watching);
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
    assert!(!statuses.is_empty());
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );

    // The same client secret still works; the values are the file's, the rest defaults.
    let fetch_instance = |instance: &str| {
        let path = format!("/api/clients/billing/settings?instance={instance}");
        let stack = &stack;
        let secret = secret.clone();
        async move {
            stack
                .call(Method::GET, &path, &[("clientSecret", &secret)], None)
                .await
        }
    };
    let values_of = |reply: &Reply| -> serde_json::Map<String, Value> {
        reply.json["settings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["name"].as_str().unwrap().to_owned(), s["value"].clone()))
            .collect()
    };
    let base = fetch(&stack, &secret).await;
    assert_eq!(base.status, StatusCode::OK, "{}", base.text);
    let base = values_of(&base);
    assert_eq!(base["Greeting"], "bonjour");
    assert_eq!(base["Count"], "five");
    assert_eq!(base["Mode"], "fast", "not in the file: back to the default");
    assert_eq!(base["ApiKey"], SECRET_VALUE);
    assert!(!base.contains_key("Old"));
    let eu = fetch_instance("eu").await;
    assert_eq!(eu.json["instance"], "eu", "{}", eu.text);
    assert_eq!(values_of(&eu)["Greeting"], "hallo");
    let apac = fetch_instance("apac").await;
    assert_eq!(apac.json["instance"], "apac", "{}", apac.text);
    assert_eq!(values_of(&apac)["Greeting"], "g'day");
    let us = fetch_instance("us").await;
    assert_eq!(us.json["instance"], Value::Null, "us is gone: {}", us.text);

    // In place: history kept, and the trail shows an update, never a delete.
    let history = call(
        &stack,
        &admin,
        Method::GET,
        "/api/admin/clients/billing/settings/Greeting/history",
        None,
    )
    .await;
    assert!(history.json["history"].as_array().unwrap().len() > old_rows);
    // Count's value was removed (its type changed) and set again: its history stays in order.
    let count = call(
        &stack,
        &admin,
        Method::GET,
        "/api/admin/clients/billing/settings/Count/history",
        None,
    )
    .await;
    let rows = count.json["history"].as_array().unwrap();
    let values: Vec<&Value> = rows.iter().map(|r| &r["newValue"]).collect();
    assert_eq!(
        values,
        [&json!("five"), &json!(6), &json!(5)],
        "newest first: {}",
        count.text
    );
    let mut stack = stack;
    let records = stack.audit_records().await;
    let of = |t: &str| -> Vec<&Value> { records.iter().filter(|r| r["type"] == t).collect() };
    assert!(of("ClientDeleted").is_empty());
    assert!(
        of("NewClientRegistration").len() == 1,
        "only the first registration"
    );
    let update = of("UpdatedClientRegistration");
    assert_eq!(update.len(), 1, "{update:?}");
    assert_eq!(update[0]["removed"], json!(["Old"]));
    assert_eq!(update[0]["changed"], json!(["Count"]));
    assert_eq!(update[0]["actor"]["name"], "admin", "{:?}", update[0]);
    assert!(of("InstanceDeleted").iter().any(|r| r["instance"] == "us"));
    assert!(
        of("InstanceCreated")
            .iter()
            .any(|r| r["instance"] == "apac")
    );
    assert!(
        of("SettingValueChanged")
            .iter()
            .any(|r| r["settings"] == json!(["Mode"])),
        "the reset is a value change (Count, set again, is not reset)"
    );
    assert!(!format!("{records:?}").contains(SECRET_VALUE));
}
