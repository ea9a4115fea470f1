//! The client rules against the tables and KMS in memory ([`App::in_memory`]): registration,
//! value updates and their version checks, history order, the fetch, and the policy's
//! decisions on each. Milliseconds each; the emulator suite proves the same paths against
//! DynamoDB, KMS and S3.

use serde_json::json;

use super::*;
use crate::policy::Role;
use crate::testing::{administrator as admin, secret, source};

const SECRET: &str = "Tr0ub4dor&3-correct-horse-battery-staple";

fn registration(settings: serde_json::Value) -> Registration {
    serde_json::from_value(json!({
        "name": "billing",
        "description": "Billing service",
        "settings": settings,
    }))
    .expect("a registration")
}

fn definitions() -> serde_json::Value {
    json!([
        { "name": "Greeting", "type": "string", "defaultValue": "hello" },
        { "name": "Retries", "type": "int", "defaultValue": 3 },
        { "name": "DbPassword", "type": "string", "secret": true },
    ])
}

fn change(values: serde_json::Value, version: Option<u64>) -> ValueChange {
    serde_json::from_value(json!({
        "changeMessage": "test",
        "values": values,
        "version": version,
    }))
    .expect("a change")
}

async fn registered(app: &Arc<App>) -> u64 {
    let result = register(app, secret(SECRET), registration(definitions()), &source())
        .await
        .expect("registered");
    assert_eq!(result.status, "registered");
    result.version
}

async fn fetched(app: &Arc<App>) -> BTreeMap<String, Value> {
    match fetch(app, "billing", None, &secret(SECRET), None, &source())
        .await
        .expect("fetched")
    {
        Fetch::Settings(body, _) => body
            .settings
            .into_iter()
            .map(|s| (s.name, s.value))
            .collect(),
        Fetch::NotModified(_) => panic!("no ETag was sent"),
    }
}

#[tokio::test]
async fn a_registration_creates_the_client_once_and_the_same_one_changes_nothing() {
    let app = App::in_memory(&[]);
    let version = registered(&app).await;
    let again = register(&app, secret(SECRET), registration(definitions()), &source())
        .await
        .expect("registered again");
    assert_eq!((again.status, again.version), ("unchanged", version));
    let changed = register(
        &app,
        secret(SECRET),
        registration(json!([{ "name": "Greeting", "type": "string" }])),
        &source(),
    )
    .await
    .expect("definitions changed");
    assert_eq!(changed.status, "updated");
    assert!(changed.version > version);
    let refused = register(
        &app,
        secret("another-secret-that-is-long-enough-to-pass"),
        registration(definitions()),
        &source(),
    )
    .await;
    assert!(
        matches!(refused, Err(Error::Unauthorized { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn registrations_off_refuse_a_new_client_but_not_a_known_one() {
    let app = App::in_memory(&[("FIG_ALLOW_NEW_REGISTRATIONS", "false")]);
    let refused = register(&app, secret(SECRET), registration(definitions()), &source()).await;
    assert!(
        matches!(refused, Err(Error::Forbidden { .. })),
        "{refused:?}"
    );
    assert!(load_client(&app, "billing").await.expect("read").is_none());
}

#[tokio::test]
async fn a_fetch_answers_defaults_then_values_and_refuses_a_wrong_secret() {
    let app = App::in_memory(&[]);
    registered(&app).await;
    let values = fetched(&app).await;
    assert_eq!(values["Greeting"], json!("hello"));
    assert_eq!(values["Retries"], json!(3));
    assert_eq!(values["DbPassword"], Value::Null);
    let wrong = fetch(
        &app,
        "billing",
        None,
        &secret("not-the-secret"),
        None,
        &source(),
    )
    .await;
    assert!(
        matches!(wrong, Err(Error::Unauthorized { .. })),
        "{wrong:?}"
    );
}

#[tokio::test]
async fn value_updates_bump_the_version_and_a_stale_version_is_refused() {
    let app = App::in_memory(&[]);
    let version = registered(&app).await;
    let updated = update_values(
        &app,
        &admin(),
        "billing",
        change(
            json!([
                { "name": "Greeting", "value": "bonjour" },
                { "name": "DbPassword", "value": "s3cret-value" },
            ]),
            Some(version),
        ),
        &source(),
    )
    .await
    .expect("updated");
    assert!(updated.version > version);
    let values = fetched(&app).await;
    assert_eq!(values["Greeting"], json!("bonjour"));
    assert_eq!(values["DbPassword"], json!("s3cret-value"));

    let stale = update_values(
        &app,
        &admin(),
        "billing",
        change(
            json!([{ "name": "Greeting", "value": "hallo" }]),
            Some(version),
        ),
        &source(),
    )
    .await;
    assert!(
        matches!(
            stale,
            Err(Error::Conflict {
                code: "STALE_VERSION",
                ..
            })
        ),
        "{stale:?}"
    );
    assert_eq!(
        fetched(&app).await["Greeting"],
        json!("bonjour"),
        "nothing written"
    );
}

#[tokio::test]
async fn a_value_that_breaks_its_definition_writes_nothing() {
    let app = App::in_memory(&[]);
    let version = registered(&app).await;
    for bad in [
        json!([{ "name": "Retries", "value": "three" }]),
        json!([{ "name": "Retries", "value": 5 }, { "name": "Unknown", "value": 1 }]),
        json!([{ "name": "Retries", "value": 5 }, { "name": "Retries", "value": 6 }]),
    ] {
        let refused = update_values(
            &app,
            &admin(),
            "billing",
            change(bad.clone(), None),
            &source(),
        )
        .await;
        assert!(
            matches!(
                refused,
                Err(Error::BadRequest { .. }) | Err(Error::NotFound { .. })
            ),
            "{bad}: {refused:?}"
        );
    }
    let state = load_client(&app, "billing")
        .await
        .expect("read")
        .expect("client");
    assert_eq!(state.meta.version, version, "no change was applied");
    assert_eq!(fetched(&app).await["Retries"], json!(3));
}

#[tokio::test]
async fn history_lists_a_settings_changes_newest_first_and_never_a_secrets_value() {
    let app = App::in_memory(&[]);
    registered(&app).await;
    for (greeting, password) in [("one", "first-secret"), ("two", "second-secret")] {
        update_values(
            &app,
            &admin(),
            "billing",
            change(
                json!([
                    { "name": "Greeting", "value": greeting },
                    { "name": "DbPassword", "value": password },
                ]),
                None,
            ),
            &source(),
        )
        .await
        .expect("updated");
    }
    let greeting = history(&app, &admin(), "billing", "Greeting", &source())
        .await
        .expect("history");
    let news: Vec<_> = greeting.iter().map(|h| h.new_value.clone()).collect();
    assert_eq!(news, [Some(json!("two")), Some(json!("one"))]);
    assert!(greeting[0].version > greeting[1].version);
    assert_eq!(greeting[0].old_value, Some(json!("one")));
    let password = history(&app, &admin(), "billing", "DbPassword", &source())
        .await
        .expect("history");
    assert_eq!(password.len(), 2);
    assert!(
        password
            .iter()
            .all(|h| h.new_value.is_none() && h.old_value.is_none()),
        "{password:?}"
    );
}

#[tokio::test]
async fn the_policy_decides_who_edits_which_client() {
    let app = App::in_memory(&[]);
    let version = registered(&app).await;
    let read_only = Principal {
        username: "rita".into(),
        role: Role::ReadOnly,
        ..Principal::default()
    };
    let elsewhere = Principal {
        username: "uma".into(),
        role: Role::User,
        client_filter: Some("payments-.*".into()),
        ..Principal::default()
    };
    let within = Principal {
        client_filter: Some("bill.*".into()),
        ..elsewhere.clone()
    };
    let edit = |who: Principal| {
        let app = app.clone();
        async move {
            update_values(
                &app,
                &who,
                "billing",
                change(json!([{ "name": "Greeting", "value": "hey" }]), None),
                &source(),
            )
            .await
        }
    };
    assert!(matches!(
        edit(read_only).await,
        Err(Error::Forbidden { .. })
    ));
    assert!(matches!(
        edit(elsewhere).await,
        Err(Error::Forbidden { .. }) | Err(Error::NotFound { .. })
    ));
    let state = load_client(&app, "billing")
        .await
        .expect("read")
        .expect("client");
    assert_eq!(state.meta.version, version, "a refused edit writes nothing");
    edit(within).await.expect("a user within the filter edits");
}
