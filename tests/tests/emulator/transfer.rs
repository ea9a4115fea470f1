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
    let put = |values: Value, instance: Option<&str>| {
        let mut body = json!({"changeMessage": "setup", "values": values});
        if let Some(i) = instance {
            body["instance"] = json!(i);
        }
        call(
            &stack,
            &admin,
            Method::PUT,
            "/api/admin/clients/billing/settings",
            Some(body),
        )
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
