//! The audit trail in S3: the signed digest chain and its verifier (each kind of tampering),
//! the query behind `figctl audit query`, and an S3 outage that loses no event.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_s3::primitives::ByteStream;
use fig_gateway::StreamPoller;
use fig_shared::audit_trail::{self, QueryFilter};
use fig_tests::{Stack, client_secret};
use http::{Method, StatusCode};
use serde_json::json;

async fn some_batches(stack: &mut Stack, batches: usize) {
    for i in 0..batches {
        stack
            .login(&format!("intruder-{i}"), "wrong wrong wrong")
            .await;
        stack.poller.drain().await.unwrap();
    }
}

async fn verify(stack: &Stack) -> audit_trail::VerifyReport {
    stack.verify_audit_chain().await
}

async fn put(stack: &Stack, key: &str, body: Vec<u8>) {
    stack
        .s3
        .put_object()
        .bucket(&stack.names.audit_bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
}

async fn get(stack: &Stack, key: &str) -> Vec<u8> {
    audit_trail::get_object(&stack.s3, &stack.names.audit_bucket, key)
        .await
        .unwrap()
        .unwrap()
}

fn has(report: &audit_trail::VerifyReport, key: &str, what: &str) -> bool {
    report
        .problems
        .iter()
        .any(|p| p.starts_with(key) && p.contains(what))
}

#[tokio::test]
async fn the_verifier_reports_each_kind_of_tampering() {
    let mut stack = Stack::new().await;
    stack.admin_auth().await;
    some_batches(&mut stack, 5).await;
    let report = verify(&stack).await;
    assert!(report.ok(), "{:?}", report.problems);
    assert!(report.digests >= 5, "{report:?}");
    // Without its head (removed or reset in the table), the chain is not intact.
    let headless = audit_trail::verify(
        &stack.s3,
        &aws_sdk_kms::Client::new(&stack.sdk),
        &stack.names.audit_bucket,
        0,
        &stack.app.config.audit_signing_key_id,
    )
    .await
    .unwrap();
    assert!(
        headless
            .problems
            .iter()
            .any(|p| p.contains("chain head is missing")),
        "{:?}",
        headless.problems
    );
    assert!(report.events >= 8, "{report:?}");

    let objects = audit_trail::list_keys(&stack.s3, &stack.names.audit_bucket, "audit/v1/")
        .await
        .unwrap();
    let digests = audit_trail::list_keys(&stack.s3, &stack.names.audit_bucket, "digests/v1/")
        .await
        .unwrap();
    assert!(objects.len() >= 5 && digests.len() >= 5);

    // Object Lock: a locked version cannot be deleted.
    let versions = stack
        .s3
        .list_object_versions()
        .bucket(&stack.names.audit_bucket)
        .prefix(&objects[0])
        .send()
        .await
        .unwrap();
    let version = versions.versions()[0].version_id().unwrap().to_owned();
    let deleted = stack
        .s3
        .delete_object()
        .bucket(&stack.names.audit_bucket)
        .key(&objects[0])
        .version_id(&version)
        .send()
        .await;
    assert!(deleted.is_err(), "a locked version cannot be deleted");

    // Altered: a new version of an event object with a forged line.
    let mut forged = get(&stack, &objects[0]).await;
    forged.extend_from_slice(b"{\"id\":\"forged\",\"type\":\"LoginSucceeded\"}\n");
    put(&stack, &objects[0], forged).await;
    let report = verify(&stack).await;
    assert!(
        has(&report, &objects[0], "altered"),
        "{:?}",
        report.problems
    );

    // Removed: a delete marker hides another object.
    stack
        .s3
        .delete_object()
        .bucket(&stack.names.audit_bucket)
        .key(&objects[1])
        .send()
        .await
        .unwrap();
    let report = verify(&stack).await;
    assert!(
        has(&report, &objects[1], "removed") && has(&report, &objects[1], "delete marker"),
        "{:?}",
        report.problems
    );

    // Reordered: digest 2 replaced by digest 3.
    let third = get(&stack, &digests[2]).await;
    put(&stack, &digests[1], third).await;
    let report = verify(&stack).await;
    assert!(
        has(&report, &digests[1], "reordered"),
        "{:?}",
        report.problems
    );

    // Missing at the end: the newest digest hidden (the chain head still names it).
    let last = digests.last().unwrap();
    stack
        .s3
        .delete_object()
        .bucket(&stack.names.audit_bucket)
        .key(last)
        .send()
        .await
        .unwrap();
    let report = verify(&stack).await;
    assert!(
        has(&report, last, "missing at the end"),
        "{:?}",
        report.problems
    );

    // Added: an object no digest covers.
    let added = "audit/v1/date=2026-01-01/hour=00/forged.jsonl";
    put(&stack, added, b"{}\n".to_vec()).await;
    let report = verify(&stack).await;
    assert!(has(&report, added, "not covered"), "{:?}", report.problems);

    // A digest re-signed with the forger's own key (naming it) is caught: the verifier checks
    // the deployment's key, never the one a digest names.
    let kms = aws_sdk_kms::Client::new(&stack.sdk);
    let forger = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::EccNistP256)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let mut resigned: serde_json::Value =
        serde_json::from_slice(&get(&stack, &digests[3]).await).unwrap();
    let text = resigned["digest"].as_str().unwrap().to_owned();
    let signature = kms
        .sign()
        .key_id(forger.key_id())
        .message(aws_sdk_kms::primitives::Blob::new(
            <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()).to_vec(),
        ))
        .message_type(aws_sdk_kms::types::MessageType::Digest)
        .signing_algorithm(aws_sdk_kms::types::SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap();
    use base64::Engine;
    resigned["signature"] = json!(
        base64::engine::general_purpose::STANDARD.encode(signature.signature.unwrap().into_inner())
    );
    resigned["keyId"] = json!(forger.arn().unwrap());
    put(&stack, &digests[3], serde_json::to_vec(&resigned).unwrap()).await;
    let report = verify(&stack).await;
    assert!(
        has(&report, &digests[3], "another key"),
        "{:?}",
        report.problems
    );

    // A forged digest (signed by nobody) is caught too.
    let mut fake: serde_json::Value =
        serde_json::from_slice(&get(&stack, &digests[0]).await).unwrap();
    fake["digest"] = json!(
        fake["digest"]
            .as_str()
            .unwrap()
            .replace("\"sequence\":1", "\"sequence\":1 ")
    );
    put(&stack, &digests[0], serde_json::to_vec(&fake).unwrap()).await;
    let report = verify(&stack).await;
    assert!(
        has(&report, &digests[0], "signature"),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn query_filters_the_s3_trail() {
    let mut stack = Stack::new().await;
    let admin = stack.admin_auth().await;
    let secret = client_secret();
    let r = stack
        .call(
            Method::POST,
            "/api/clients",
            &[("clientSecret", &secret)],
            Some(json!({"name": "billing", "settings": [{"name": "A", "type": "string"}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // A user's failed logins carry the user's name (a name that is no user's does not).
    stack
        .call(
            Method::POST,
            "/api/admin/users",
            &[("authorization", admin.as_str())],
            Some(json!({"username": "ghost", "password": fig_tests::USER_INITIAL_PASSWORD, "role": "ReadOnly"})),
        )
        .await;
    stack.login("ghost", "wrong wrong wrong").await;
    stack.login("ghost", "wrong wrong wrong").await;
    stack.poller.drain().await.unwrap();
    // A second delivery of the same records (a retried batch) must not duplicate events.
    let mut again = StreamPoller::new(
        &stack.sdk,
        &stack.names.table,
        fig_events::AuditWriter::new(
            stack.s3.clone(),
            &stack.names.audit_bucket,
            &stack.names.kms_alias,
            0,
        ),
    );
    again.drain().await.unwrap();

    let now = time::OffsetDateTime::now_utc();
    let window = |kind: Option<&str>, user: Option<&str>, client: Option<&str>| QueryFilter {
        from: Some(now - time::Duration::hours(1)),
        to: Some(now + time::Duration::hours(1)),
        kind: kind.map(Into::into),
        user: user.map(Into::into),
        client: client.map(Into::into),
    };
    let all = audit_trail::query(
        &stack.s3,
        &stack.names.audit_bucket,
        &window(None, None, None),
    )
    .await
    .unwrap();
    let ids: BTreeSet<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all.len(), "de-duplicated");
    let failed = audit_trail::query(
        &stack.s3,
        &stack.names.audit_bucket,
        &window(Some("LoginFailed"), Some("ghost"), None),
    )
    .await
    .unwrap();
    assert_eq!(failed.len(), 2);
    let billing = audit_trail::query(
        &stack.s3,
        &stack.names.audit_bucket,
        &window(None, None, Some("billing")),
    )
    .await
    .unwrap();
    assert_eq!(billing.len(), 1);
    assert_eq!(billing[0]["type"], "NewClientRegistration");
    let earlier = QueryFilter {
        from: Some(now - time::Duration::days(3)),
        to: Some(now - time::Duration::days(2)),
        ..QueryFilter::default()
    };
    assert!(
        audit_trail::query(&stack.s3, &stack.names.audit_bucket, &earlier)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A TCP forwarder to the emulator that can be switched off (connections refused... closed at
/// once) and on again: S3 "down" for the events function only.
#[tokio::test]
async fn an_s3_outage_loses_no_event() {
    let stack = Stack::new().await;
    let up = Arc::new(AtomicBool::new(false));
    let endpoint = fig_tests::switchable_endpoint(up.clone()).await;
    let sdk = stack.sdk.to_builder().endpoint_url(&endpoint).build();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build(),
    );
    let writer = fig_events::AuditWriter::new(
        s3.clone(),
        &stack.names.audit_bucket,
        &stack.names.kms_alias,
        1,
    )
    .with_digests(fig_shared::audit_trail::DigestChain::new(
        s3,
        aws_sdk_kms::Client::new(&stack.sdk),
        stack.ddb.clone(),
        &stack.names.table,
        &stack.names.audit_bucket,
        &stack.app.config.audit_signing_key_id,
    ));
    let mut poller = StreamPoller::new(&stack.sdk, &stack.names.table, writer);

    stack.admin_auth().await;
    for i in 0..3 {
        stack
            .login(&format!("during-outage-{i}"), "wrong wrong wrong")
            .await;
    }
    // S3 is down: every pass hands the records over and gets them back as failures.
    for _ in 0..3 {
        assert!(poller.poll_once().await.unwrap() > 0);
    }
    assert!(
        stack.audit_objects().await.is_empty(),
        "nothing could be written"
    );

    // Back up: everything lands, once, and the chain verifies.
    up.store(true, Ordering::SeqCst);
    poller.drain().await.unwrap();
    let mut expected = BTreeSet::new();
    let mut start = None;
    loop {
        let page = stack
            .ddb
            .scan()
            .table_name(&stack.names.table)
            .filter_expression("itemType = :e")
            .expression_attribute_values(
                ":e",
                aws_sdk_dynamodb::types::AttributeValue::S("EVENT".into()),
            )
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            if let Some(aws_sdk_dynamodb::types::AttributeValue::S(sk)) = item.get("SK") {
                expected.insert(sk.clone());
            }
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    let landed: BTreeSet<String> = stack
        .audit_objects()
        .await
        .iter()
        .flat_map(|(_, body)| {
            body.lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(expected.len() >= 6, "{expected:?}");
    assert_eq!(
        landed, expected,
        "every outbox event is in the audit bucket"
    );
    let report = verify(&stack).await;
    assert!(report.ok(), "{:?}", report.problems);
}

#[tokio::test]
async fn reconciliation_finds_and_writes_what_the_stream_lost() {
    let mut stack = Stack::new().await;
    some_batches(&mut stack, 2).await;
    // Three events that the stream never delivered (as if its mapping had given up on them):
    // they are in the outbox, but no consumer ever sees them.
    // Older than a day, so a daily run that looked back only a day would miss them.
    let lost_at = fig_shared::clock::now() - time::Duration::hours(30);
    let mut lost = Vec::new();
    for i in 0..3 {
        let event = fig_shared::events::AuditEvent::new(
            fig_shared::events::EventKind::LoginFailed {
                reason: fig_shared::events::LoginFailure::UnknownUser,
            },
            fig_shared::events::Actor::User {
                name: format!("lost-{i}"),
            },
            Default::default(),
            lost_at,
        );
        stack.app.store.record(&event).await.unwrap();
        lost.push(event.id);
    }
    // The chain alone says nothing is wrong: the events are simply not in it.
    assert!(verify(&stack).await.ok());
    let now = fig_shared::clock::now();
    let window = (now - time::Duration::hours(31), now);
    let found = audit_trail::reconcile(
        &stack.ddb,
        &stack.names.table,
        &stack.s3,
        &stack.names.audit_bucket,
        window,
        None,
    )
    .await
    .unwrap();
    let mut missing = found.missing.clone();
    missing.sort();
    lost.sort();
    assert_eq!(missing, lost, "exactly the lost events are missing");
    assert!(found.checked > 3, "{found:?}");
    // The maintenance run finds and writes them; the chain covers them and verifies.
    let report = fig_shared::maintenance::run(&stack.app, now, None)
        .await
        .unwrap();
    assert_eq!(report.reconciliation.written, 3, "{report:?}");
    let report = verify(&stack).await;
    assert!(report.ok(), "{:?}", report.problems);
    let ids: BTreeSet<String> = stack
        .audit_objects()
        .await
        .iter()
        .flat_map(|(_, body)| {
            body.lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(lost.iter().all(|id| ids.contains(id)));
    // Nothing is missing any more, and a second run writes nothing.
    let again = audit_trail::reconcile(
        &stack.ddb,
        &stack.names.table,
        &stack.s3,
        &stack.names.audit_bucket,
        window,
        None,
    )
    .await
    .unwrap();
    assert!(again.missing.is_empty(), "{again:?}");
    let report = fig_shared::maintenance::run(&stack.app, now, None)
        .await
        .unwrap();
    assert_eq!(report.reconciliation.written, 0);
    // The run remembers how far it got: the next one checks only the hour it had not finished.
    assert!(report.reconciliation.checked < found.checked, "{report:?}");
}
