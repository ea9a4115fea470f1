//! Sign-in rules against the tables and KMS in memory ([`App::in_memory`]): one answer for
//! every failure, each failure audited with its reason, refresh-token rotation and reuse
//! detection, logout, and disabled users. The throttle's schedule is proven by the emulator
//! suite (`tests/tests/emulator/identity.rs`), where its clock is the real one.

use serde_json::json;

use super::*;
use crate::testing::{administrator, recorded, recorded_types, secret, source};
use crate::users::{NewUser, UserUpdate, create_user, update_user};

const PASSWORD: &str = "quiver-Sextant-plum-orbit-87";

async fn with_user(role: &str) -> Arc<App> {
    let app = App::in_memory(&[]);
    let user: NewUser = serde_json::from_value(json!({
        "username": "carol",
        "password": PASSWORD,
        "role": role,
    }))
    .expect("a new user");
    create_user(&app, &administrator(), user, &source())
        .await
        .expect("created");
    app
}

fn attempt(username: &str, password: &str) -> LoginRequest {
    LoginRequest {
        username: username.into(),
        password: secret(password),
        totp: None,
        recovery_code: None,
    }
}

fn cookie(session: &Session) -> Option<SecretString> {
    cookie_value(Some(session.cookie.expose()))
}

fn is_invalid_credentials<T: std::fmt::Debug>(result: &Result<T>) -> bool {
    matches!(
        result,
        Err(Error::Unauthorized {
            code: "INVALID_CREDENTIALS",
            ..
        })
    )
}

fn is_session_expired<T: std::fmt::Debug>(result: &Result<T>) -> bool {
    matches!(
        result,
        Err(Error::Unauthorized {
            code: "SESSION_EXPIRED",
            ..
        })
    )
}

#[tokio::test]
async fn every_failed_login_gets_one_answer_and_an_audit_record_with_its_reason() {
    let app = with_user("User").await;
    update_user(
        &app,
        &administrator(),
        "carol",
        serde_json::from_value::<UserUpdate>(json!({ "enabled": false })).expect("update"),
        &source(),
    )
    .await
    .expect("disabled");
    let disabled = login(&app, attempt("carol", PASSWORD), &source()).await;
    let wrong = login(&app, attempt("Carol ", "not-her-password"), &source()).await;
    let unknown = login(&app, attempt("nobody", PASSWORD), &source()).await;
    for result in [&disabled, &wrong, &unknown] {
        assert!(is_invalid_credentials(result), "{result:?}");
    }
    let failures: Vec<_> = recorded(&app)
        .into_iter()
        .filter(|e| e["type"] == "LoginFailed")
        .collect();
    let reasons: Vec<_> = failures.iter().map(|e| e["reason"].clone()).collect();
    assert_eq!(
        reasons,
        [
            json!("disabled"),
            json!("wrongPassword"),
            json!("unknownUser")
        ]
    );
    assert_eq!(
        failures[1]["actor"]["name"], "carol",
        "the name is normalised"
    );
    assert_eq!(
        failures[2]["actor"]["name"], UNKNOWN_USER,
        "a name that is no user's is not recorded (it may be a password)"
    );
    assert!(failures.iter().all(|e| e["source"]["ip"] == "203.0.113.7"));
    let events = serde_json::to_string(&failures).expect("json");
    assert!(
        !events.contains(PASSWORD) && !events.contains("nobody"),
        "{events}"
    );
}

#[tokio::test]
async fn a_login_issues_an_access_token_with_the_users_rights_and_a_rotating_refresh_token() {
    let app = with_user("ReadOnly").await;
    let session = login(&app, attempt("carol", PASSWORD), &source())
        .await
        .expect("signed in");
    assert!(
        session.body.password_change_required,
        "set by an administrator"
    );
    let claimed = tokens::verify_access_token(
        &app.keys,
        &app.config.token_issuer,
        &session.body.access_token,
        clock::now(),
    )
    .await
    .expect("a valid token");
    assert_eq!(
        (claimed.username.as_str(), claimed.role),
        ("carol", Role::ReadOnly)
    );
    let set_cookie = session.cookie.expose();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );

    let rotated = refresh(&app, cookie(&session), &source())
        .await
        .expect("refreshed");
    assert_ne!(rotated.cookie.expose(), session.cookie.expose());
    let again = refresh(&app, cookie(&rotated), &source())
        .await
        .expect("refreshed again");
    // The first token, already rotated, is presented again: the whole session ends.
    assert!(is_session_expired(
        &refresh(&app, cookie(&session), &source()).await
    ));
    assert!(is_session_expired(
        &refresh(&app, cookie(&again), &source()).await
    ));
    assert!(recorded_types(&app).contains(&"RefreshReuseDetected".to_owned()));
}

#[tokio::test]
async fn logout_ends_the_session_and_a_forged_cookie_opens_none() {
    let app = with_user("User").await;
    let session = login(&app, attempt("carol", PASSWORD), &source())
        .await
        .expect("signed in");
    let value = cookie(&session).expect("a refresh token");
    // Another family's id with this token, or this family with another token: refused.
    let (family, rest) = value.expose().split_once('.').expect("family.token.user");
    let other_family = format!(
        "{}{}",
        &family[..25],
        if family.ends_with('A') { 'B' } else { 'A' }
    );
    for forged in [
        format!("{other_family}.{rest}"),
        format!("{family}.{}.carol", "A".repeat(43)),
        format!("{family}.{rest}x"),
    ] {
        let result = refresh(&app, Some(SecretString::new(forged.clone())), &source()).await;
        assert!(is_session_expired(&result), "{forged}: {result:?}");
    }
    let cleared = logout(&app, cookie(&session), &source())
        .await
        .expect("logged out");
    assert!(cleared.expose().contains("Max-Age=0"));
    assert!(is_session_expired(
        &refresh(&app, cookie(&session), &source()).await
    ));
    assert_eq!(
        recorded_types(&app)
            .iter()
            .filter(|t| *t == "LoggedOut")
            .count(),
        1
    );
}

#[test]
fn cookies_parse_strictly() {
    let token = "a".repeat(43);
    let family = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
    let ok = parse_cookie(&SecretString::new(format!(
        "{family}.{token}.ops.team@example.com"
    )))
    .unwrap();
    assert_eq!(ok.username, "ops.team@example.com");
    for bad in [
        "",
        "x.y.z",
        &format!("{family}.{token}"),
        &format!("{family}.short.admin"),
    ] {
        assert!(parse_cookie(&SecretString::new(bad)).is_none(), "{bad}");
    }
    let header = format!("other=1; {REFRESH_COOKIE}=abc; x=y");
    assert_eq!(cookie_value(Some(&header)).unwrap().expose(), "abc");
    assert!(cookie_value(Some("other=1")).is_none());
}
