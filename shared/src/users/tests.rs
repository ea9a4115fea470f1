//! The user rules against the tables and KMS in memory ([`App::in_memory`]): the password
//! rule and unique names, who may manage users, the last-administrator rule, the first
//! administrator, and what a deletion erases. The emulator suite proves the same paths
//! against DynamoDB (`tests/tests/emulator/identity.rs`).

use serde_json::json;

use super::*;
use crate::auth::{LoginRequest, cookie_value, login, refresh};
use crate::testing::{administrator, principal, recorded, recorded_types, secret, source};

const PASSWORD: &str = "quiver-Sextant-plum-orbit-87";

fn new_user(username: &str, password: &str, role: &str) -> NewUser {
    serde_json::from_value(json!({
        "username": username,
        "password": password,
        "role": role,
    }))
    .expect("a new user")
}

async fn created(app: &Arc<App>, username: &str, role: &str) -> UserView {
    create_user(
        app,
        &administrator(),
        new_user(username, PASSWORD, role),
        &source(),
    )
    .await
    .expect("created")
}

async fn signed_in(app: &Arc<App>, username: &str) -> Result<crate::auth::Session> {
    login(
        app,
        LoginRequest {
            username: username.into(),
            password: secret(PASSWORD),
            totp: None,
            recovery_code: None,
        },
        &source(),
    )
    .await
}

fn update(change: serde_json::Value) -> UserUpdate {
    serde_json::from_value(change).expect("an update")
}

fn is_last_admin<T: std::fmt::Debug>(result: &Result<T>) -> bool {
    matches!(
        result,
        Err(Error::Conflict {
            code: "LAST_ADMINISTRATOR",
            ..
        })
    )
}

#[tokio::test]
async fn a_new_user_needs_a_strong_password_and_a_free_name() {
    let app = App::in_memory(&[]);
    for (weak, code) in [
        ("short", "PASSWORD_TOO_SHORT"),
        ("password1234567", "PASSWORD_TOO_WEAK"),
        ("carolcarolcarol", "PASSWORD_TOO_WEAK"),
    ] {
        let refused = create_user(
            &app,
            &administrator(),
            new_user("carol", weak, "User"),
            &source(),
        )
        .await;
        assert!(
            matches!(&refused, Err(Error::BadRequest { code: c, .. }) if *c == code),
            "{weak}: {refused:?}"
        );
    }
    assert!(load_user(&app, "carol").await.expect("read").is_none());
    assert!(
        recorded_types(&app).is_empty(),
        "a refused user is no event"
    );

    let carol = created(&app, "carol", "User").await;
    assert!(carol.password_change_required, "set by an administrator");
    let stored = load_user(&app, "carol").await.expect("read").expect("user");
    assert!(stored.password_hash.starts_with("$argon2id$"));
    let again = create_user(
        &app,
        &administrator(),
        new_user("carol", PASSWORD, "Administrator"),
        &source(),
    )
    .await;
    assert!(
        matches!(
            again,
            Err(Error::Conflict {
                code: "USER_EXISTS",
                ..
            })
        ),
        "{again:?}"
    );
    let kept = load_user(&app, "carol").await.expect("read").expect("user");
    assert_eq!(
        (kept.role, kept.version),
        (Role::User, 1),
        "the first user kept"
    );
    assert_eq!(recorded_types(&app), ["UserCreated"]);
    let events = serde_json::to_string(&recorded(&app)).expect("json");
    assert!(!events.contains(PASSWORD), "{events}");
}

#[tokio::test]
async fn only_an_administrator_manages_users_and_a_refusal_is_audited() {
    let app = App::in_memory(&[]);
    created(&app, "carol", "User").await;
    for role in [Role::User, Role::ReadOnly] {
        let who = principal("mallory", role);
        let from = source();
        let created = create_user(
            &app,
            &who,
            new_user("eve", PASSWORD, "Administrator"),
            &from,
        );
        assert!(matches!(created.await, Err(Error::Forbidden { .. })));
        let promoted = update_user(
            &app,
            &who,
            "carol",
            update(json!({ "role": "Administrator" })),
            &from,
        );
        assert!(matches!(promoted.await, Err(Error::Forbidden { .. })));
        let deleted = delete_user(&app, &who, "carol", &from);
        assert!(matches!(deleted.await, Err(Error::Forbidden { .. })));
        let listed = list_users(&app, &who, &from);
        assert!(matches!(listed.await, Err(Error::Forbidden { .. })));
    }
    assert!(load_user(&app, "eve").await.expect("read").is_none());
    let carol = load_user(&app, "carol").await.expect("read").expect("user");
    assert_eq!((carol.role, carol.version), (Role::User, 1));
    let denied = recorded_types(&app)
        .iter()
        .filter(|t| *t == "AccessDenied")
        .count();
    assert_eq!(denied, 8, "{:?}", recorded_types(&app));
}

#[tokio::test]
async fn the_last_enabled_administrator_cannot_be_demoted_disabled_or_deleted() {
    let app = App::in_memory(&[]);
    created(&app, "ada", "Administrator").await;
    let me = administrator();
    for change in [json!({ "role": "User" }), json!({ "enabled": false })] {
        let refused = update_user(&app, &me, "ada", update(change.clone()), &source()).await;
        assert!(is_last_admin(&refused), "{change}: {refused:?}");
    }
    assert!(is_last_admin(
        &delete_user(&app, &me, "ada", &source()).await
    ));
    let ada = load_user(&app, "ada").await.expect("read").expect("user");
    assert!(ada.is_enabled_administrator());
    assert_eq!(ada.version, 1, "a refused change writes nothing");

    // With a second administrator, either may go, but not both.
    created(&app, "grace", "Administrator").await;
    update_user(
        &app,
        &me,
        "ada",
        update(json!({ "role": "User" })),
        &source(),
    )
    .await
    .expect("demoted");
    assert!(is_last_admin(
        &delete_user(&app, &me, "grace", &source()).await
    ));
    update_user(
        &app,
        &me,
        "ada",
        update(json!({ "role": "Administrator" })),
        &source(),
    )
    .await
    .expect("promoted");
    delete_user(&app, &me, "grace", &source())
        .await
        .expect("deleted");
    assert!(is_last_admin(
        &delete_user(&app, &me, "ada", &source()).await
    ));
}

#[tokio::test]
async fn the_first_administrator_is_created_once_and_never_again() {
    let app = App::in_memory(&[]);
    let Bootstrap::CreatedWithRandomPassword(password) =
        bootstrap_admin(&app).await.expect("bootstrapped")
    else {
        panic!("no configured password: a random one");
    };
    assert!(password.expose().len() >= 20);
    let admin = load_user(&app, BOOTSTRAP_ADMIN)
        .await
        .expect("read")
        .expect("created");
    assert!(admin.is_enabled_administrator() && admin.password_change_required);
    assert!(matches!(
        bootstrap_admin(&app).await.expect("checked"),
        Bootstrap::AlreadyDone
    ));

    // Deleting `admin` (after creating another administrator) does not re-arm the bootstrap.
    created(&app, "ada", "Administrator").await;
    delete_user(&app, &administrator(), BOOTSTRAP_ADMIN, &source())
        .await
        .expect("deleted");
    assert!(matches!(
        bootstrap_admin(&app).await.expect("checked"),
        Bootstrap::AlreadyDone
    ));
    assert!(
        load_user(&app, BOOTSTRAP_ADMIN)
            .await
            .expect("read")
            .is_none()
    );
    let events = serde_json::to_string(&recorded(&app)).expect("json");
    assert!(!events.contains(password.expose()), "{events}");
}

#[tokio::test]
async fn a_deletion_erases_the_profile_sessions_and_login_counters() {
    let app = App::in_memory(&[]);
    created(&app, "carol", "User").await;
    let session = signed_in(&app, "carol").await.expect("signed in");
    let wrong = login(
        &app,
        LoginRequest {
            username: "carol".into(),
            password: secret("not-her-password"),
            totp: None,
            recovery_code: None,
        },
        &source(),
    )
    .await;
    assert!(wrong.is_err());
    let throttle = crate::schema::account_throttle_pk("carol");
    assert!(
        !app.store
            .query_partition(&throttle)
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        !app.store
            .query_partition(&user_pk("carol"))
            .await
            .expect("read")
            .is_empty()
    );

    delete_user(&app, &administrator(), "carol", &source())
        .await
        .expect("deleted");
    assert!(
        app.store
            .query_partition(&user_pk("carol"))
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        app.store
            .query_partition(&throttle)
            .await
            .expect("read")
            .is_empty()
    );
    let index = app
        .store
        .get(crate::schema::USERS_PK, &user_pk("carol"))
        .await
        .expect("read");
    assert!(index.is_none(), "the user list forgets carol");
    let cookie = cookie_value(Some(session.cookie.expose()));
    assert!(
        refresh(&app, cookie, &source()).await.is_err(),
        "the session went with her"
    );
    assert!(signed_in(&app, "carol").await.is_err());
    assert!(matches!(
        delete_user(&app, &administrator(), "carol", &source()).await,
        Err(Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_change_of_rights_or_a_reset_ends_the_users_sessions() {
    let app = App::in_memory(&[]);
    created(&app, "carol", "User").await;
    let me = administrator();
    let session = signed_in(&app, "carol").await.expect("signed in");
    update_user(
        &app,
        &me,
        "carol",
        update(json!({ "role": "ReadOnly" })),
        &source(),
    )
    .await
    .expect("changed");
    let cookie = cookie_value(Some(session.cookie.expose()));
    assert!(refresh(&app, cookie, &source()).await.is_err());

    let session = signed_in(&app, "carol").await.expect("signed in again");
    let reset = reset_password(&app, &me, "carol", &source())
        .await
        .expect("reset");
    let cookie = cookie_value(Some(session.cookie.expose()));
    assert!(refresh(&app, cookie, &source()).await.is_err());
    assert!(
        signed_in(&app, "carol").await.is_err(),
        "the old password is gone"
    );
    let with_new = login(
        &app,
        LoginRequest {
            username: "carol".into(),
            password: secret(&reset.password),
            totp: None,
            recovery_code: None,
        },
        &source(),
    )
    .await
    .expect("the one-time password works");
    assert!(with_new.body.password_change_required);
    let events = serde_json::to_string(&recorded(&app)).expect("json");
    assert!(!events.contains(&reset.password), "{events}");
}
