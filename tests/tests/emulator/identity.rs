//! Admin identity against the emulator: users and roles, passwords, throttling, MFA,
//! sessions and refresh tokens, token attacks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fig_tests::{ADMIN_NEW_PASSWORD, Stack, USER_PASSWORD, refresh_cookie};
use http::{Method, StatusCode};
use serde_json::{Value, json};

fn event_types(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn users_are_managed_by_administrators_and_the_last_one_stays() {
    let mut stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let admin_h = [("authorization", admin.as_str())];

    // Passwords: too short, common and contextual ones are refused with the reason.
    for (password, code) in [
        ("short-pw-1", "PASSWORD_TOO_SHORT"),
        ("password1234", "PASSWORD_TOO_WEAK"),
        ("qwertyuiop123", "PASSWORD_TOO_WEAK"),
        ("carol-carol-carol", "PASSWORD_TOO_WEAK"),
    ] {
        let r = stack
            .call(
                Method::POST,
                "/api/admin/users",
                &admin_h,
                Some(json!({"username": "carol", "password": password, "role": "User"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{password}");
        assert_eq!(r.json["error"]["code"], code, "{password}");
    }
    // 64 and 128 characters are fine; no composition rules.
    let sixty_four = "vivid otter quartz lantern mosaic ember thistle pylon driftwood";
    let sixty_four = format!("{sixty_four}{}", "x".repeat(64 - sixty_four.len()));
    let created = stack
        .call(Method::POST, "/api/admin/users", &admin_h, Some(json!({"username": "carol", "password": sixty_four, "role": "User", "clientFilter": "billing|shop-.*", "classifications": ["Functional"]})))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["passwordChangeRequired"], true);
    assert!(created.json.get("passwordHash").is_none());
    let long = format!(
        "{sixty_four}{}",
        "meadow copper hinge falcon steady harbor lantern 9321 quiet ridge"
    );
    let long: String = long.chars().take(128).collect();
    assert_eq!(long.chars().count(), 128);
    let dave = stack
        .call(
            Method::POST,
            "/api/admin/users",
            &admin_h,
            Some(json!({"username": "dave", "password": long, "role": "ReadOnly"})),
        )
        .await;
    assert_eq!(dave.status, StatusCode::CREATED, "{}", dave.text);
    let dup = stack
        .call(
            Method::POST,
            "/api/admin/users",
            &admin_h,
            Some(json!({"username": "dave", "password": USER_PASSWORD, "role": "ReadOnly"})),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    let bad_filter = stack
        .call(Method::POST, "/api/admin/users", &admin_h, Some(json!({"username": "erin", "password": USER_PASSWORD, "role": "User", "clientFilter": "("})))
        .await;
    assert_eq!(bad_filter.json["error"]["code"], "INVALID_CLIENT_FILTER");

    let list = stack
        .call(Method::GET, "/api/admin/users", &admin_h, None)
        .await;
    let names: Vec<&str> = list.json["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "carol", "dave"]);
    assert!(!list.text.contains("argon2"));

    // The last enabled Administrator cannot be demoted, disabled or deleted...
    for body in [json!({"role": "User"}), json!({"enabled": false})] {
        let r = stack
            .call(Method::PUT, "/api/admin/users/admin", &admin_h, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
        assert_eq!(r.json["error"]["code"], "LAST_ADMINISTRATOR");
    }
    let r = stack
        .call(Method::DELETE, "/api/admin/users/admin", &admin_h, None)
        .await;
    assert_eq!(r.json["error"]["code"], "LAST_ADMINISTRATOR");
    // ...but once there is a second one, it can.
    let promoted = stack
        .call(
            Method::PUT,
            "/api/admin/users/dave",
            &admin_h,
            Some(json!({"role": "Administrator"})),
        )
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text);
    let demoted = stack
        .call(
            Method::PUT,
            "/api/admin/users/dave",
            &admin_h,
            Some(json!({"role": "ReadOnly"})),
        )
        .await;
    assert_eq!(demoted.status, StatusCode::OK);
    let deleted = stack
        .call(Method::DELETE, "/api/admin/users/carol", &admin_h, None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        stack
            .call(Method::GET, "/api/admin/users/carol", &admin_h, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // A reset password is random, shown once, and must be changed.
    let reset = stack
        .call(
            Method::POST,
            "/api/admin/users/dave/password-reset",
            &admin_h,
            None,
        )
        .await;
    let one_time = reset.json["password"].as_str().unwrap().to_owned();
    let login = stack.login("dave", &one_time).await;
    assert_eq!(login.json["passwordChangeRequired"], true);

    let records = stack.audit_records().await;
    let types = event_types(&records);
    for expected in [
        "UserCreated",
        "UserRoleChanged",
        "UserUpdated",
        "UserDeleted",
        "PasswordReset",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "{expected} missing from {types:?}"
        );
    }
    let table = stack.table_dump().await;
    assert!(!table.contains(&one_time) && !table.contains(&sixty_four));
}

#[tokio::test]
async fn roles_limit_what_users_see_and_do() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    for name in ["billing", "billing-old", "shop"] {
        let r = stack
            .call(
                Method::POST,
                "/api/clients",
                &[("clientSecret", &fig_tests::client_secret())],
                Some(json!({"name": name, "settings": [
                    {"name": "Plain", "type": "string", "classification": "Functional"},
                    {"name": "Tech", "type": "string", "classification": "Technical"}
                ]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let editor = stack
        .user_auth(
            &admin,
            "editor",
            "User",
            json!({"clientFilter": "billing", "classifications": ["Functional"]}),
        )
        .await;
    let reader = stack
        .user_auth(&admin, "reader", "ReadOnly", json!({}))
        .await;

    // The anchored filter shows billing, not billing-old or shop.
    let list = stack
        .call(
            Method::GET,
            "/api/admin/clients",
            &[("authorization", &editor)],
            None,
        )
        .await;
    let names: Vec<&str> = list.json["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["billing"]);
    for (client, setting, who, expected) in [
        ("billing", "Plain", &editor, StatusCode::OK),
        ("billing", "Tech", &editor, StatusCode::FORBIDDEN),
        ("shop", "Plain", &editor, StatusCode::FORBIDDEN),
        ("billing", "Plain", &reader, StatusCode::FORBIDDEN),
        ("shop", "Tech", &admin, StatusCode::OK),
    ] {
        let r = stack
            .call(
                Method::PUT,
                &format!("/api/admin/clients/{client}/settings"),
                &[("authorization", who)],
                Some(json!({"values": [{"name": setting, "value": "v"}]})),
            )
            .await;
        assert_eq!(r.status, expected, "{client}/{setting}: {}", r.text);
    }
    // Users cannot touch users or configuration.
    for who in [&editor, &reader] {
        assert_eq!(
            stack
                .call(
                    Method::GET,
                    "/api/admin/users",
                    &[("authorization", who)],
                    None
                )
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let config = stack
            .call(
                Method::GET,
                "/api/admin/configuration",
                &[("authorization", who)],
                None,
            )
            .await;
        assert_eq!(config.status, StatusCode::OK);
        let write = stack
            .call(
                Method::PUT,
                "/api/admin/configuration",
                &[("authorization", who)],
                Some(config.json.clone()),
            )
            .await;
        assert_eq!(write.status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn unknown_users_wrong_passwords_and_disabled_users_look_the_same() {
    let mut stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    stack.user_auth(&admin, "frank", "User", json!({})).await;
    stack
        .call(
            Method::PUT,
            "/api/admin/users/frank",
            &[("authorization", &admin)],
            Some(json!({"enabled": false})),
        )
        .await;
    let unknown = stack
        .login_from("198.51.100.10", "nobody", USER_PASSWORD, json!({}))
        .await;
    let wrong = stack
        .login_from(
            "198.51.100.11",
            "admin",
            "not the password at all",
            json!({}),
        )
        .await;
    let disabled = stack
        .login_from("198.51.100.12", "frank", USER_PASSWORD, json!({}))
        .await;
    for r in [&unknown, &wrong, &disabled] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.json["error"]["code"], "INVALID_CREDENTIALS");
        assert_eq!(r.json["error"]["message"], unknown.json["error"]["message"]);
    }
    let records = stack.audit_records().await;
    let reasons: Vec<&str> = records
        .iter()
        .filter(|r| r["type"] == "LoginFailed")
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["unknownUser", "wrongPassword", "disabled"]);
}

#[tokio::test]
async fn failures_throttle_the_account_and_a_known_good_address_still_gets_in() {
    let mut stack = Stack::new().await;
    stack.admin_auth().await; // a success from the test address: it is known-good for admin
    let attacker = "192.0.2.66";
    // Failures until the account throttles: after 3, each attempt must wait 1, 2, 4 … s after
    // the last failure, so however slow this machine is, an attempt soon comes too early.
    // (No clock is read here: the test only counts answers.)
    let guess_until_throttled = |user: &'static str| {
        let stack = &stack;
        async move {
            for attempt in 0..12 {
                let r = stack
                    .login_from(attacker, user, "guess guess guess guess", json!({}))
                    .await;
                match r.status {
                    StatusCode::UNAUTHORIZED => assert!(attempt < 11, "never throttled"),
                    StatusCode::TOO_MANY_REQUESTS => {
                        assert!(attempt >= 3, "throttled after {attempt} failures");
                        return r;
                    }
                    other => panic!("{other}: {}", r.text),
                }
            }
            panic!("never throttled");
        }
    };
    let throttled = guess_until_throttled("admin").await;
    assert_eq!(throttled.json["error"]["code"], "TOO_MANY_ATTEMPTS");
    let retry: i64 = throttled.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{retry}");
    // An unknown account is throttled the same way (nothing to learn from the answer).
    let ghost = guess_until_throttled("ghost").await;
    assert_eq!(ghost.json["error"]["code"], "TOO_MANY_ATTEMPTS");
    // The administrator, from the address they used before, still gets in.
    let ok = stack.login("admin", ADMIN_NEW_PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);

    let records = stack.audit_records().await;
    let throttle = records
        .iter()
        .find(|r| r["type"] == "AccountThrottled")
        .unwrap();
    assert_eq!(throttle["source"]["ip"], attacker);
    assert_eq!(throttle["severity"], "warning");
}

#[tokio::test]
async fn one_address_cannot_spray_many_accounts() {
    let stack = Stack::new().await;
    let sprayer = "192.0.2.77";
    let mut failures = 0;
    'outer: for user in 0.. {
        for _ in 0..3 {
            let r = stack
                .login_from(
                    sprayer,
                    &format!("user{user}"),
                    "Summer2026!Summer",
                    json!({}),
                )
                .await;
            if r.status == StatusCode::TOO_MANY_REQUESTS {
                break 'outer;
            }
            failures += 1;
        }
    }
    // Exactly the limit, unless the run crossed a clock hour (the window is the hour).
    let limit = fig_shared::throttle::ADDRESS_FAILURES_PER_HOUR;
    assert!(
        (limit..2 * limit).contains(&failures),
        "{failures} failures before 429"
    );
    // Another address is not affected.
    let other = stack
        .login_from("192.0.2.78", "user0", "Summer2026!Summer", json!({}))
        .await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
}

fn totp_code(secret_b32: &str, at: u64) -> String {
    let secret = totp_rs::Secret::Encoded(secret_b32.to_owned())
        .to_bytes()
        .unwrap();
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 0, 30, secret)
        .unwrap()
        .generate(at)
}

fn now() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap()
}

#[tokio::test]
async fn totp_enrolment_login_single_use_codes_and_recovery() {
    let mut stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let h = [("authorization", admin.as_str())];
    let enrol = stack
        .call(Method::POST, "/api/auth/mfa/enroll", &h, None)
        .await;
    assert_eq!(enrol.status, StatusCode::OK, "{}", enrol.text);
    let secret = enrol.json["secret"].as_str().unwrap().to_owned();
    let uri = enrol.json["otpauthUri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Fig:admin?secret=") && uri.contains("issuer=Fig"),
        "{uri}"
    );
    let wrong = stack
        .call(
            Method::POST,
            "/api/auth/mfa/confirm",
            &h,
            Some(json!({"code": "000000"})),
        )
        .await;
    assert_eq!(wrong.json["error"]["code"], "INVALID_MFA_CODE");
    // Codes from outside the window fail.
    let old = totp_code(&secret, now() - 120);
    let stale = stack
        .call(
            Method::POST,
            "/api/auth/mfa/confirm",
            &h,
            Some(json!({"code": old})),
        )
        .await;
    assert_eq!(stale.status, StatusCode::BAD_REQUEST);
    let confirm = stack
        .call(
            Method::POST,
            "/api/auth/mfa/confirm",
            &h,
            Some(json!({"code": totp_code(&secret, now())})),
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.text);
    let codes: Vec<String> = confirm.json["recoveryCodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);

    // The password alone is not enough any more.
    let no_code = stack.login("admin", ADMIN_NEW_PASSWORD).await;
    assert_eq!(no_code.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_code.json["error"]["code"], "MFA_REQUIRED");
    // The confirmation used the current step: the same code cannot log in.
    let replay = stack
        .login_from(
            fig_tests::SOURCE_IP,
            "admin",
            ADMIN_NEW_PASSWORD,
            json!({"totp": totp_code(&secret, now())}),
        )
        .await;
    let next = totp_code(&secret, now() + 30);
    if replay.status == StatusCode::OK {
        // The clock moved to the next step between confirmation and login: fine, but then that
        // code is spent.
        let again = stack
            .login_from(
                fig_tests::SOURCE_IP,
                "admin",
                ADMIN_NEW_PASSWORD,
                json!({"totp": totp_code(&secret, now())}),
            )
            .await;
        assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    } else {
        assert_eq!(replay.json["error"]["code"], "INVALID_CREDENTIALS");
        let ok = stack
            .login_from(
                fig_tests::SOURCE_IP,
                "admin",
                ADMIN_NEW_PASSWORD,
                json!({"totp": next}),
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
        let reuse = stack
            .login_from(
                fig_tests::SOURCE_IP,
                "admin",
                ADMIN_NEW_PASSWORD,
                json!({"totp": next}),
            )
            .await;
        assert_eq!(
            reuse.status,
            StatusCode::UNAUTHORIZED,
            "a TOTP code worked twice"
        );
    }
    // A recovery code works once.
    let rc = stack
        .login_from(
            fig_tests::SOURCE_IP,
            "admin",
            ADMIN_NEW_PASSWORD,
            json!({"recoveryCode": codes[0]}),
        )
        .await;
    assert_eq!(rc.status, StatusCode::OK, "{}", rc.text);
    let rc_again = stack
        .login_from(
            fig_tests::SOURCE_IP,
            "admin",
            ADMIN_NEW_PASSWORD,
            json!({"recoveryCode": codes[0]}),
        )
        .await;
    assert_eq!(rc_again.status, StatusCode::UNAUTHORIZED);

    // Disabling needs the password and a code.
    let token = format!("Bearer {}", rc.json["accessToken"].as_str().unwrap());
    let h = [("authorization", token.as_str())];
    let bad = stack
        .call(
            Method::POST,
            "/api/auth/mfa/disable",
            &h,
            Some(json!({"password": "nope nope nope", "code": totp_code(&secret, now() + 60)})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    // (The authenticator's current code was just spent; a recovery code stands in for a lost device.)
    let off = stack
        .call(
            Method::POST,
            "/api/auth/mfa/disable",
            &h,
            Some(json!({"password": ADMIN_NEW_PASSWORD, "code": codes[1]})),
        )
        .await;
    assert_eq!(off.status, StatusCode::NO_CONTENT, "{}", off.text);
    assert_eq!(
        stack.login("admin", ADMIN_NEW_PASSWORD).await.status,
        StatusCode::OK
    );

    let records = stack.audit_records().await;
    let types = event_types(&records);
    for expected in [
        "MfaEnrollmentStarted",
        "MfaEnrolled",
        "MfaRecoveryCodeUsed",
        "MfaDisabled",
        "MfaChangeFailed",
    ] {
        assert!(types.iter().any(|t| t == expected), "{expected} missing");
    }
    let table = stack.table_dump().await;
    let audit: String = stack
        .audit_objects()
        .await
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    for code in &codes {
        assert!(
            !table.contains(code.as_str()) && !audit.contains(code.as_str()),
            "a recovery code was stored in plaintext"
        );
    }
    assert!(
        !table.contains(&secret),
        "the TOTP secret was stored in plaintext"
    );
}

#[tokio::test]
async fn administrators_must_enrol_when_the_server_requires_mfa() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let h = [("authorization", admin.as_str())];
    let mut config = stack
        .call(Method::GET, "/api/admin/configuration", &h, None)
        .await
        .json;
    config["requireMfaForAdministrators"] = json!(true);
    let put = stack
        .call(Method::PUT, "/api/admin/configuration", &h, Some(config))
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    let login = stack.login("admin", ADMIN_NEW_PASSWORD).await;
    assert_eq!(login.json["mfaEnrollmentRequired"], true, "{}", login.text);
    let token = format!("Bearer {}", login.json["accessToken"].as_str().unwrap());
    let blocked = stack
        .call(
            Method::GET,
            "/api/admin/clients",
            &[("authorization", &token)],
            None,
        )
        .await;
    assert_eq!(blocked.json["error"]["code"], "MFA_ENROLLMENT_REQUIRED");
    let enrol = stack
        .call(
            Method::POST,
            "/api/auth/mfa/enroll",
            &[("authorization", &token)],
            None,
        )
        .await;
    assert_eq!(enrol.status, StatusCode::OK);
}

#[tokio::test]
async fn refresh_tokens_rotate_reuse_revokes_the_family_and_logout_ends_it() {
    let mut stack = Stack::new().await;
    stack.admin_auth().await;
    let login = stack.login("admin", ADMIN_NEW_PASSWORD).await;
    let (set_cookie, cookie) = refresh_cookie(&login);
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/api/auth",
        "Max-Age=",
    ] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} missing: {set_cookie}"
        );
    }
    let refreshed = stack
        .call(
            Method::POST,
            "/api/auth/refresh",
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
    assert!(refreshed.json["accessToken"].is_string());
    let (_, rotated) = refresh_cookie(&refreshed);
    assert_ne!(rotated, cookie);
    // The old token again: reuse. The whole family dies, the rotated token too.
    let reuse = stack
        .call(
            Method::POST,
            "/api/auth/refresh",
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(reuse.status, StatusCode::UNAUTHORIZED);
    let after = stack
        .call(
            Method::POST,
            "/api/auth/refresh",
            &[("cookie", &rotated)],
            None,
        )
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    // Logout makes the refresh token useless and clears the cookie.
    let login = stack.login("admin", ADMIN_NEW_PASSWORD).await;
    let (_, cookie) = refresh_cookie(&login);
    let out = stack
        .call(
            Method::POST,
            "/api/auth/logout",
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(refresh_cookie(&out).0.contains("Max-Age=0"));
    assert_eq!(
        stack
            .call(
                Method::POST,
                "/api/auth/refresh",
                &[("cookie", &cookie)],
                None
            )
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );

    // Cookie endpoints refuse a foreign Origin.
    let login = stack.login("admin", ADMIN_NEW_PASSWORD).await;
    let (_, cookie) = refresh_cookie(&login);
    let csrf = stack
        .call(
            Method::POST,
            "/api/auth/refresh",
            &[
                ("cookie", &cookie),
                ("origin", "https://evil.example"),
                ("host", "fig.example"),
            ],
            None,
        )
        .await;
    assert_eq!(csrf.status, StatusCode::FORBIDDEN);
    assert_eq!(csrf.json["error"]["code"], "FOREIGN_ORIGIN");
    let same = stack
        .call(
            Method::POST,
            "/api/auth/refresh",
            &[
                ("cookie", &cookie),
                ("origin", "https://fig.example"),
                ("host", "fig.example"),
            ],
            None,
        )
        .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.text);

    let records = stack.audit_records().await;
    let types = event_types(&records);
    for expected in ["SessionRefreshed", "RefreshReuseDetected", "LoggedOut"] {
        assert!(types.iter().any(|t| t == expected), "{expected} missing");
    }
    let table = stack.table_dump().await;
    let token_part = cookie.split('.').nth(1).unwrap();
    assert!(
        !table.contains(token_part),
        "a refresh token was stored in plaintext"
    );
}

#[tokio::test]
async fn disabling_a_user_or_changing_a_password_ends_sessions() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    stack.user_auth(&admin, "gina", "User", json!({})).await;
    let a = stack.login("gina", USER_PASSWORD).await;
    let b = stack.login("gina", USER_PASSWORD).await;
    let (_, cookie_a) = refresh_cookie(&a);
    let (_, cookie_b) = refresh_cookie(&b);
    // Changing the password from session A ends session B, not A.
    let token_a = format!("Bearer {}", a.json["accessToken"].as_str().unwrap());
    let changed = stack
        .call(Method::POST, "/api/auth/password", &[("authorization", &token_a)], Some(json!({"currentPassword": USER_PASSWORD, "newPassword": "meadow lantern copper 5512 hinge"})))
        .await;
    assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);
    assert_eq!(
        stack
            .call(
                Method::POST,
                "/api/auth/refresh",
                &[("cookie", &cookie_b)],
                None
            )
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let still = stack
        .call(
            Method::POST,
            "/api/auth/refresh",
            &[("cookie", &cookie_a)],
            None,
        )
        .await;
    assert_eq!(still.status, StatusCode::OK);
    let (_, cookie_a2) = refresh_cookie(&still);
    // Disabling ends the rest at the next refresh.
    let off = stack
        .call(
            Method::PUT,
            "/api/admin/users/gina",
            &[("authorization", &admin)],
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(
        stack
            .call(
                Method::POST,
                "/api/auth/refresh",
                &[("cookie", &cookie_a2)],
                None
            )
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // An administrator can end someone's sessions.
    stack
        .call(
            Method::PUT,
            "/api/admin/users/gina",
            &[("authorization", &admin)],
            Some(json!({"enabled": true})),
        )
        .await;
    let c = stack
        .login("gina", "meadow lantern copper 5512 hinge")
        .await;
    let (_, cookie_c) = refresh_cookie(&c);
    let ended = stack
        .call(
            Method::DELETE,
            "/api/admin/users/gina/sessions",
            &[("authorization", &admin)],
            None,
        )
        .await;
    assert_eq!(ended.json["terminated"], 1);
    assert_eq!(
        stack
            .call(
                Method::POST,
                "/api/auth/refresh",
                &[("cookie", &cookie_c)],
                None
            )
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn rolling_the_signing_key_logs_nobody_out() {
    let stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let old_kid = stack.app.keys.signing_key().await.unwrap().kid.clone();
    let new_kid = stack.app.keys.roll_signing_key().await.unwrap();
    assert_ne!(old_kid, new_kid);
    // A new instance (a cold start after the roll) signs with the new key.
    let fresh = fig_shared::App::new(
        stack.app.config.clone(),
        fig_shared::aws::AwsServices::new(&stack.sdk),
    )
    .unwrap();
    assert_eq!(fresh.keys.signing_key().await.unwrap().kid, new_kid);
    // A token for the administrator's live session, signed by the new instance.
    let payload = admin
        .trim_start_matches("Bearer ")
        .split('.')
        .nth(1)
        .unwrap();
    let payload: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    let principal = fig_shared::policy::Principal {
        username: "admin".into(),
        role: fig_shared::policy::Role::Administrator,
        session: payload["sid"].as_str().map(str::to_owned),
        ..Default::default()
    };
    let new_token = fig_shared::tokens::issue_access_token(
        &fresh.keys,
        "fig",
        &principal,
        fig_shared::clock::now(),
        900,
    )
    .await
    .unwrap();
    let new_auth = format!("Bearer {}", new_token.expose());
    // Both the token from before the roll and the one after it work, on both instances.
    for auth in [&admin, &new_auth] {
        let r = stack
            .call(
                Method::GET,
                "/api/admin/clients",
                &[("authorization", auth)],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let principal = fig_shared::tokens::verify_access_token(
            &fresh.keys,
            "fig",
            auth.trim_start_matches("Bearer "),
            fig_shared::clock::now(),
        )
        .await;
        assert!(principal.is_ok());
    }
    // Keys older than the last three are retired.
    for _ in 0..3 {
        stack.app.keys.roll_signing_key().await.unwrap();
    }
    let after = fig_shared::App::new(
        stack.app.config.clone(),
        fig_shared::aws::AwsServices::new(&stack.sdk),
    )
    .unwrap();
    assert!(after.keys.verifying_key(&old_kid).await.unwrap().is_none());
}
