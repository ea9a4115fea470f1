//! The audit trail in S3: the signed digest chain, its verifier and the query behind
//! `figctl audit` (docs/ARCHITECTURE.md §6).
//!
//! Layout of the audit bucket:
//!
//! - `audit/v1/date=YYYY-MM-DD/hour=HH/{first id}.jsonl`: the events, one JSON object per line
//!   (the Athena table in `infra/athena.sql` reads exactly this prefix). The key names only the
//!   first event: a batch handed back after its objects were written but before their digest
//!   (a writer that stopped there) starts at the same record, so its objects replace those
//!   versions instead of leaving objects outside the chain with events twice;
//! - `digests/v1/{sequence:012}.json`: one digest per stream batch, holding the SHA-256 of every
//!   object the batch wrote and of the previous digest object, signed by an asymmetric KMS key
//!   (ECDSA P-256), so anyone with `kms:Verify` (or the public key) can check it.
//!
//! The chain's head (sequence, key, hash) is an item `AUDIT` / `CHAIN` in the table, moved with a
//! condition, and each digest object is written with `If-None-Match: *`: two writers can never
//! both extend the chain from the same digest. The head is also what lets the verifier notice
//! digests missing at the end.

use std::collections::{BTreeMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use aws_sdk_s3::primitives::ByteStream;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use fig_core::error::{Error, Result};
use fig_core::events::AuditEvent;
use fig_core::schema::AUDIT_CHAIN;

/// Prefix of the event objects.
pub const EVENTS_PREFIX: &str = "audit/v1/";
/// Prefix of the digest objects.
pub const DIGESTS_PREFIX: &str = "digests/v1/";

/// Events younger than this may still be on their way through the stream: not reconciled yet
/// (the maintenance run and `figctl audit reconcile` leave them for the next pass).
pub const IN_FLIGHT_MINUTES: i64 = 10;

/// One object a batch wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// S3 key.
    pub key: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Events in it.
    pub events: usize,
}

/// A link to the previous digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousDigest {
    /// Its key.
    pub key: String,
    /// SHA-256 of its whole object, hex.
    pub sha256: String,
}

/// What a digest says (the signed part).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    /// Always `fig-audit-digest/v1`.
    pub format: String,
    /// Position in the chain, from 1.
    pub sequence: u64,
    /// When it was written (UTC, RFC 3339).
    pub time: String,
    /// The objects of the batch.
    pub objects: Vec<ObjectRef>,
    /// The digest before it (none for the first).
    pub previous: Option<PreviousDigest>,
}

/// A digest object: the digest as the exact JSON text that was signed, and the signature.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedDigest {
    /// The digest, as JSON text (the signed bytes).
    pub digest: String,
    /// DER ECDSA signature over SHA-256 of `digest`, base64.
    pub signature: String,
    /// The KMS key that signed (ARN).
    pub key_id: String,
    /// `ECDSA_SHA_256`.
    pub algorithm: String,
}

fn digest_key(sequence: u64) -> String {
    format!("{DIGESTS_PREFIX}{sequence:012}.json")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(fig_core::crypto::sha256(bytes))
}

/// The chain head, as stored in the table.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainHead {
    /// Last sequence written (0: none yet).
    pub sequence: u64,
    /// Its key.
    pub key: String,
    /// SHA-256 of its object.
    pub sha256: String,
}

/// Extends the digest chain. One per audit writer.
#[derive(Clone, Debug)]
pub struct DigestChain {
    s3: aws_sdk_s3::Client,
    kms: aws_sdk_kms::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    bucket: String,
    signing_key_id: String,
}

/// Reads the chain head from the table.
pub async fn read_head(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<ChainHead> {
    let out = dynamodb
        .get_item()
        .table_name(table)
        .key("PK", AttributeValue::S(AUDIT_CHAIN.0.into()))
        .key("SK", AttributeValue::S(AUDIT_CHAIN.1.into()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| Error::unavailable(format!("dynamodb GetItem chain head: {e:?}")))?;
    match out.item {
        Some(item) => crate::store::from_item(item),
        None => Ok(ChainHead::default()),
    }
}

impl DigestChain {
    /// The chain of the service's own table (`store`) and key (`kms` signs with
    /// `signing_key_id`), written to `bucket`.
    pub fn for_store(
        s3: aws_sdk_s3::Client,
        kms: &crate::kms::Kms,
        store: &crate::store::Store,
        bucket: impl Into<String>,
        signing_key_id: impl Into<String>,
    ) -> Self {
        Self::new(
            s3,
            kms.sdk().clone(),
            store.dynamodb().clone(),
            store.table(),
            bucket,
            signing_key_id,
        )
    }

    /// A chain in `bucket`, with its head in `table`, signed by `signing_key_id`.
    pub fn new(
        s3: aws_sdk_s3::Client,
        kms: aws_sdk_kms::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        bucket: impl Into<String>,
        signing_key_id: impl Into<String>,
    ) -> Self {
        Self {
            s3,
            kms,
            dynamodb,
            table: table.into(),
            bucket: bucket.into(),
            signing_key_id: signing_key_id.into(),
        }
    }

    /// The chain of this deployment: the configured table, audit bucket and signing key.
    pub fn for_config(aws: &crate::sdk::AwsServices, config: &fig_core::config::Config) -> Self {
        Self::new(
            aws.s3.clone(),
            aws.kms.clone(),
            aws.dynamodb.clone(),
            &config.table,
            &config.audit_bucket,
            &config.audit_signing_key_id,
        )
    }

    async fn move_head(&self, from: u64, to: &ChainHead) -> Result<bool> {
        let item = crate::store::to_item(AUDIT_CHAIN.0, AUDIT_CHAIN.1, to)?;
        let condition = if from == 0 {
            "attribute_not_exists(PK)"
        } else {
            "#s = :from"
        };
        let mut request = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        if from != 0 {
            request = request
                .expression_attribute_names("#s", "sequence")
                .expression_attribute_values(":from", AttributeValue::N(from.to_string()));
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(Error::unavailable(format!(
                "dynamodb PutItem chain head: {e:?}"
            ))),
        }
    }

    async fn sign(&self, digest: &str) -> Result<(String, String)> {
        let out = self
            .kms
            .sign()
            .key_id(&self.signing_key_id)
            .message(Blob::new(
                fig_core::crypto::sha256(digest.as_bytes()).to_vec(),
            ))
            .message_type(MessageType::Digest)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(|e| crate::kms::kms_unavailable("Sign", &e))?;
        let signature = out
            .signature
            .map(Blob::into_inner)
            .ok_or_else(|| Error::internal("kms Sign returned no signature"))?;
        Ok((B64.encode(signature), out.key_id.unwrap_or_default()))
    }

    /// Appends a digest of `objects` to the chain; `lock` sets the object's retention.
    pub async fn append(
        &self,
        objects: Vec<ObjectRef>,
        lock: Option<aws_sdk_s3::primitives::DateTime>,
    ) -> Result<u64> {
        for _ in 0..20 {
            let head = read_head(&self.dynamodb, &self.table).await?;
            let sequence = head.sequence + 1;
            let digest = Digest {
                format: "fig-audit-digest/v1".into(),
                sequence,
                time: fig_core::clock::now_rfc3339(),
                objects: objects.clone(),
                previous: (head.sequence > 0).then(|| PreviousDigest {
                    key: head.key.clone(),
                    sha256: head.sha256.clone(),
                }),
            };
            let text = serde_json::to_string(&digest)
                .map_err(|e| Error::internal(format!("digest: {e}")))?;
            let (signature, key_id) = self.sign(&text).await?;
            let body = serde_json::to_vec(&SignedDigest {
                digest: text,
                signature,
                key_id,
                algorithm: "ECDSA_SHA_256".into(),
            })
            .map_err(|e| Error::internal(format!("digest: {e}")))?;
            let key = digest_key(sequence);
            let sha256 = sha256_hex(&body);
            let mut put = self
                .s3
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .if_none_match("*")
                .content_type("application/json; charset=utf-8")
                .body(ByteStream::from(body));
            if let Some(until) = lock {
                put = put
                    .object_lock_mode(aws_sdk_s3::types::ObjectLockMode::Compliance)
                    .object_lock_retain_until_date(until);
            }
            match put.send().await {
                Ok(_) => {}
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                    // Another writer took this sequence (or wrote it and stopped before moving
                    // the head): move the head to what is there, then try again.
                    let existing = self.get(&key).await?;
                    let _ = self
                        .move_head(
                            head.sequence,
                            &ChainHead {
                                sequence,
                                key: key.clone(),
                                sha256: sha256_hex(&existing),
                            },
                        )
                        .await?;
                    continue;
                }
                Err(e) => return Err(Error::unavailable(format!("s3 PutObject digest: {e:?}"))),
            }
            if self
                .move_head(
                    head.sequence,
                    &ChainHead {
                        sequence,
                        key,
                        sha256,
                    },
                )
                .await?
            {
                return Ok(sequence);
            }
        }
        Err(Error::unavailable(
            "the digest chain is contended; the stream will retry",
        ))
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>> {
        get_object(&self.s3, &self.bucket, key)
            .await?
            .ok_or_else(|| Error::unavailable(format!("s3 GetObject {key}: missing")))
    }
}

/// An object's bytes; `None` when it does not exist (or is behind a delete marker).
pub async fn get_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Vec<u8>>> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out
            .body
            .collect()
            .await
            .map(|b| Some(b.into_bytes().to_vec()))
            .map_err(|e| Error::unavailable(format!("s3 GetObject body: {e}"))),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
        Err(e) => Err(Error::unavailable(format!("s3 GetObject: {e:?}"))),
    }
}

/// Keys under `prefix` whose current version is a delete marker.
async fn delete_markers(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<String>> {
    let mut hidden = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let out = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("s3 ListObjectVersions: {e:?}")))?;
        hidden.extend(
            out.delete_markers()
                .iter()
                .filter(|m| m.is_latest == Some(true))
                .filter_map(|m| m.key().map(str::to_owned)),
        );
        if out.is_truncated != Some(true) {
            break;
        }
        key_marker = out.next_key_marker;
        version_marker = out.next_version_id_marker;
    }
    hidden.sort();
    Ok(hidden)
}

/// Every key under `prefix`, sorted.
pub async fn list_keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| Error::unavailable(format!("s3 ListObjectsV2: {e:?}")))?;
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        match out.next_continuation_token {
            Some(t) if out.is_truncated == Some(true) => token = Some(t),
            _ => break,
        }
    }
    keys.sort();
    Ok(keys)
}

/// Writes audit objects (SSE-KMS, with an Object Lock retention date when configured), and
/// extends the digest chain after each batch.
#[derive(Clone, Debug)]
pub struct AuditWriter {
    s3: aws_sdk_s3::Client,
    bucket: String,
    kms_key_id: String,
    retention_days: u32,
    chain: Option<DigestChain>,
}

impl AuditWriter {
    /// A writer into `bucket`, encrypting with `kms_key_id`, locking objects for
    /// `retention_days` (0: the bucket's default retention only).
    pub fn new(
        s3: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        kms_key_id: impl Into<String>,
        retention_days: u32,
    ) -> Self {
        Self {
            s3,
            bucket: bucket.into(),
            kms_key_id: kms_key_id.into(),
            retention_days,
            chain: None,
        }
    }

    /// Also extends the signed digest chain after every batch.
    pub fn with_digests(mut self, chain: DigestChain) -> Self {
        self.chain = Some(chain);
        self
    }

    /// The digest chain this writer extends, if any.
    pub fn chain(&self) -> Option<&DigestChain> {
        self.chain.as_ref()
    }

    /// The retention date of an object written now, when a retention is configured.
    pub fn retain_until(&self) -> Option<aws_sdk_s3::primitives::DateTime> {
        (self.retention_days > 0).then(|| {
            let until =
                OffsetDateTime::now_utc() + time::Duration::days(i64::from(self.retention_days));
            aws_sdk_s3::primitives::DateTime::from_secs(until.unix_timestamp())
        })
    }

    /// Writes one object.
    pub async fn put(&self, key: &str, body: String) -> std::result::Result<(), String> {
        use aws_sdk_s3::types::{ObjectLockMode, ServerSideEncryption};
        let mut request = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/x-ndjson; charset=utf-8")
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&self.kms_key_id)
            .body(ByteStream::from(body.into_bytes()));
        if let Some(until) = self.retain_until() {
            request = request
                .object_lock_mode(ObjectLockMode::Compliance)
                .object_lock_retain_until_date(until);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    }

    /// Writes `events` as objects (one per hour they span) and one digest covering them: what
    /// a stream batch does, for events that reach S3 another way (reconciliation).
    pub async fn write_events(&self, events: &[AuditEvent]) -> Result<usize> {
        let mut groups: BTreeMap<(String, String), Vec<&AuditEvent>> = BTreeMap::new();
        for event in events {
            let date = event.time.get(..10).unwrap_or("unknown").to_owned();
            let hour = event.time.get(11..13).unwrap_or("00").to_owned();
            groups.entry((date, hour)).or_default().push(event);
        }
        let mut objects = Vec::new();
        for ((date, hour), mut group) in groups {
            group.sort_by(|a, b| a.id.cmp(&b.id));
            let Some(first) = group.first() else {
                continue;
            };
            let (key, body, sha256) = event_object(&date, &hour, &first.id, group.iter().copied());
            self.put(&key, body)
                .await
                .map_err(|e| Error::unavailable(format!("s3 PutObject {key}: {e}")))?;
            objects.push(ObjectRef {
                key,
                sha256,
                events: group.len(),
            });
        }
        if let Some(chain) = &self.chain
            && !objects.is_empty()
        {
            chain.append(objects, self.retain_until()).await?;
        }
        Ok(events.len())
    }
}

/// The audit object of some events of one hour, in stream order: its key (named after the
/// first event), its JSON Lines body and the body's SHA-256 (hex).
pub fn event_object<'a>(
    date: &str,
    hour: &str,
    first_id: &str,
    events: impl Iterator<Item = &'a AuditEvent>,
) -> (String, String, String) {
    let key = format!("{EVENTS_PREFIX}date={date}/hour={hour}/{first_id}.jsonl");
    let mut body = String::new();
    for event in events {
        body.push_str(&event.to_json_line());
        body.push('\n');
    }
    let sha256 = sha256_hex(body.as_bytes());
    (key, body, sha256)
}

/// What a reconciliation of the outbox against the audit bucket found (and did).
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Reconciliation {
    /// Outbox events checked (every event still in the table in the window).
    pub checked: usize,
    /// Ids of the events that had no record in the bucket.
    pub missing: Vec<String>,
    /// Of those, how many were written now.
    pub written: usize,
}

/// Every outbox event in the table from `from` to `to` (each hour's shards, all pages).
pub async fn outbox_events(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<AuditEvent>> {
    let mut events = Vec::new();
    for hour in hours(from, to) {
        for shard in 0..crate::store::EVENT_SHARDS {
            let pk = fig_core::schema::outbox_pk(&hour, shard);
            let mut start = None;
            loop {
                let page = dynamodb
                    .query()
                    .table_name(table)
                    .key_condition_expression("PK = :pk")
                    .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                    .consistent_read(true)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| Error::unavailable(format!("dynamodb Query outbox: {e:?}")))?;
                for item in page.items.unwrap_or_default() {
                    let outbox: crate::store::OutboxItem = crate::store::from_item(item)?;
                    match serde_json::from_str::<AuditEvent>(&outbox.event) {
                        Ok(event) => events.push(event),
                        Err(e) => tracing::error!(error = %e, "malformed outbox item"),
                    }
                }
                match page.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => break,
                }
            }
        }
    }
    Ok(events)
}

/// The hours from `from` to `to`, as the outbox and the bucket name them (`YYYY-MM-DDTHH`).
fn hours(from: OffsetDateTime, to: OffsetDateTime) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = from.to_offset(time::UtcOffset::UTC);
    at = at.replace_time(time::Time::from_hms(at.hour(), 0, 0).unwrap_or(time::Time::MIDNIGHT));
    while at <= to && out.len() < 24 * 400 {
        out.push(
            fig_core::clock::rfc3339(at)
                .get(..13)
                .unwrap_or_default()
                .to_owned(),
        );
        at += time::Duration::hours(1);
    }
    out
}

/// Ids of the events recorded in the bucket's objects for the hours from `from` to `to`.
pub async fn recorded_ids(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<HashSet<String>> {
    let mut ids = HashSet::new();
    for hour in hours(from, to) {
        let (date, hh) = hour.split_once('T').unwrap_or((&hour, "00"));
        let prefix = format!("{EVENTS_PREFIX}date={date}/hour={hh}/");
        for key in list_keys(s3, bucket, &prefix).await? {
            let Some(body) = get_object(s3, bucket, &key).await? else {
                continue;
            };
            for line in String::from_utf8_lossy(&body).lines() {
                if let Some(id) = serde_json::from_str::<Value>(line)
                    .ok()
                    .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
                {
                    ids.insert(id);
                }
            }
        }
    }
    Ok(ids)
}

/// [`reconcile`] over the outbox of `store`'s table.
pub async fn reconcile_store(
    store: &crate::store::Store,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    range: (OffsetDateTime, OffsetDateTime),
    writer: Option<&AuditWriter>,
) -> Result<Reconciliation> {
    reconcile(store.dynamodb(), store.table(), s3, bucket, range, writer).await
}

/// Proves that every outbox event still in the table between `from` and `to` has its record
/// in the bucket, and (with `writer`) writes the ones that do not, under a new digest: a stream
/// that lost a record is noticed and repaired, never silently trusted. Events of the last few
/// minutes may still be on their way through the stream; pass a `to` a little in the past.
pub async fn reconcile(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    (from, to): (OffsetDateTime, OffsetDateTime),
    writer: Option<&AuditWriter>,
) -> Result<Reconciliation> {
    let within = |e: &AuditEvent| {
        OffsetDateTime::parse(&e.time, &Rfc3339).is_ok_and(|t| t >= from && t <= to)
    };
    let events: Vec<AuditEvent> = outbox_events(dynamodb, table, from, to)
        .await?
        .into_iter()
        .filter(within)
        .collect();
    let recorded = recorded_ids(s3, bucket, from, to).await?;
    let missing: Vec<AuditEvent> = events
        .iter()
        .filter(|e| !recorded.contains(&e.id))
        .cloned()
        .collect();
    let written = match writer {
        Some(writer) if !missing.is_empty() => writer.write_events(&missing).await?,
        _ => 0,
    };
    Ok(Reconciliation {
        checked: events.len(),
        missing: missing.into_iter().map(|e| e.id).collect(),
        written,
    })
}

/// What `figctl audit verify` found.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Digests checked.
    pub digests: u64,
    /// Event objects checked against their digests.
    pub objects: usize,
    /// Events in them.
    pub events: usize,
    /// Everything wrong, one line each; empty means the trail is intact.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing was wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

async fn signature_valid(
    kms: &aws_sdk_kms::Client,
    key_arn: &str,
    signed: &SignedDigest,
) -> Result<bool> {
    let Ok(signature) = B64.decode(&signed.signature) else {
        return Ok(false);
    };
    let result = kms
        .verify()
        .key_id(key_arn)
        .message(Blob::new(
            fig_core::crypto::sha256(signed.digest.as_bytes()).to_vec(),
        ))
        .message_type(MessageType::Digest)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .signature(Blob::new(signature))
        .send()
        .await;
    match result {
        Ok(out) => Ok(out.signature_valid),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_kms_invalid_signature_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(Error::unavailable(format!("kms Verify: {e:?}"))),
    }
}

/// Verifies the whole chain: every digest's signature by `signing_key` (the deployment's
/// key, never the one a digest names: a forger would name their own), the sequence without
/// gaps, each link to the previous digest, every object's hash, that no event object is outside
/// the chain, that nothing is hidden behind a delete marker, and against `head` (the chain head
/// from the table) that nothing is missing at the end. Reports removed, altered, reordered,
/// added and missing objects.
pub async fn verify(
    s3: &aws_sdk_s3::Client,
    kms: &aws_sdk_kms::Client,
    bucket: &str,
    head: u64,
    signing_key: &str,
) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let key_arn = kms
        .describe_key()
        .key_id(signing_key)
        .send()
        .await
        .map_err(|e| Error::unavailable(format!("kms DescribeKey: {e:?}")))?
        .key_metadata
        .map(|m| m.arn.unwrap_or_default())
        .unwrap_or_default();
    for prefix in [DIGESTS_PREFIX, EVENTS_PREFIX] {
        for key in delete_markers(s3, bucket, prefix).await? {
            report.problems.push(format!(
                "{key}: removed (hidden behind a delete marker; its locked versions remain)"
            ));
        }
    }
    let digest_keys = list_keys(s3, bucket, DIGESTS_PREFIX).await?;
    let mut covered = HashSet::new();
    let mut previous: Option<(String, String)> = None;
    let mut expected = 1u64;
    for key in &digest_keys {
        let Some(bytes) = get_object(s3, bucket, key).await? else {
            continue;
        };
        let name_sequence = key
            .strip_prefix(DIGESTS_PREFIX)
            .and_then(|k| k.strip_suffix(".json"))
            .and_then(|k| k.parse::<u64>().ok());
        let signed: SignedDigest = match serde_json::from_slice(&bytes) {
            Ok(s) => s,
            Err(_) => {
                report
                    .problems
                    .push(format!("{key}: altered (not a digest)"));
                continue;
            }
        };
        if signed.key_id != key_arn {
            report.problems.push(format!(
                "{key}: altered (signed by another key, {}, not the deployment's)",
                signed.key_id
            ));
            continue;
        }
        if !signature_valid(kms, &key_arn, &signed).await? {
            report
                .problems
                .push(format!("{key}: altered (the signature does not verify)"));
            continue;
        }
        let Ok(digest) = serde_json::from_str::<Digest>(&signed.digest) else {
            report.problems.push(format!("{key}: altered (unreadable)"));
            continue;
        };
        report.digests += 1;
        if name_sequence != Some(digest.sequence) {
            report.problems.push(format!(
                "{key}: reordered (it holds digest {} of the chain)",
                digest.sequence
            ));
        }
        if digest.sequence > expected {
            for missing in expected..digest.sequence {
                report.problems.push(format!(
                    "{}: removed (digest {missing} is missing)",
                    digest_key(missing)
                ));
            }
        }
        let link = digest
            .previous
            .as_ref()
            .map(|p| (p.key.clone(), p.sha256.clone()));
        if digest.sequence > 1 && previous.is_some() && link != previous {
            report.problems.push(format!(
                "{key}: reordered or altered (its link does not match the digest before it)"
            ));
        }
        previous = Some((key.clone(), sha256_hex(&bytes)));
        expected = digest.sequence + 1;
        for object in &digest.objects {
            covered.insert(object.key.clone());
            match get_object(s3, bucket, &object.key).await? {
                None => report.problems.push(format!("{}: removed", object.key)),
                Some(body) if sha256_hex(&body) != object.sha256 => report.problems.push(format!(
                    "{}: altered (its hash does not match digest {})",
                    object.key, digest.sequence
                )),
                Some(_) => {
                    report.objects += 1;
                    report.events += object.events;
                }
            }
        }
    }
    if head == 0 && report.digests > 0 {
        report.problems.push(
            "the chain head is missing from the table while digests exist (removed or reset)"
                .to_owned(),
        );
    } else if head + 1 < expected {
        report.problems.push(format!(
            "digests beyond the chain head (digest {head}): written by a writer that stopped, or the head was moved back"
        ));
    }
    if head >= expected {
        for missing in expected..=head {
            report.problems.push(format!(
                "{}: missing at the end (the chain head is digest {head})",
                digest_key(missing)
            ));
        }
    }
    for key in list_keys(s3, bucket, EVENTS_PREFIX).await? {
        if !covered.contains(&key) {
            report.problems.push(format!(
                "{key}: not covered by any digest (added, or its digest is missing)"
            ));
        }
    }
    Ok(report)
}

/// Filters for [`query`].
#[derive(Debug, Default)]
pub struct QueryFilter {
    /// From (inclusive).
    pub from: Option<OffsetDateTime>,
    /// To (inclusive).
    pub to: Option<OffsetDateTime>,
    /// Event type.
    pub kind: Option<String>,
    /// User (actor, or the user an event is about).
    pub user: Option<String>,
    /// Client.
    pub client: Option<String>,
}

fn matches(event: &Value, filter: &QueryFilter) -> bool {
    let text = |path: &[&str]| {
        path.iter()
            .try_fold(event, |v, k| v.get(k))
            .and_then(Value::as_str)
    };
    let time = text(&["time"]).and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
    if filter.from.is_some_and(|f| time.is_none_or(|t| t < f))
        || filter.to.is_some_and(|to| time.is_none_or(|t| t > to))
    {
        return false;
    }
    if filter
        .kind
        .as_deref()
        .is_some_and(|k| text(&["type"]) != Some(k))
    {
        return false;
    }
    if let Some(user) = filter.user.as_deref() {
        let by = text(&["actor", "kind"]) == Some("user") && text(&["actor", "name"]) == Some(user);
        if !by && text(&["username"]) != Some(user) {
            return false;
        }
    }
    if let Some(client) = filter.client.as_deref() {
        let by =
            text(&["actor", "kind"]) == Some("client") && text(&["actor", "name"]) == Some(client);
        if !by && text(&["client"]) != Some(client) {
            return false;
        }
    }
    true
}

/// The events in the audit objects that match `filter`, de-duplicated by id (a retried batch
/// may have written an event twice), oldest first. Only the date partitions of the range are
/// listed.
pub async fn query(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    filter: &QueryFilter,
) -> Result<Vec<Value>> {
    let prefixes: Vec<String> = match (filter.from, filter.to) {
        (Some(from), Some(to)) if to >= from && to - from <= time::Duration::days(366) => {
            let mut out = Vec::new();
            let mut day = from.date();
            while day <= to.date() {
                out.push(format!("{EVENTS_PREFIX}date={day}/"));
                day = day.next_day().unwrap_or(day);
                if out.len() > 400 {
                    break;
                }
            }
            out
        }
        _ => vec![EVENTS_PREFIX.to_owned()],
    };
    let mut events: BTreeMap<String, Value> = BTreeMap::new();
    for prefix in prefixes {
        for key in list_keys(s3, bucket, &prefix).await? {
            let Some(body) = get_object(s3, bucket, &key).await? else {
                continue;
            };
            for line in String::from_utf8_lossy(&body).lines() {
                let Ok(event) = serde_json::from_str::<Value>(line) else {
                    continue;
                };
                if !matches(&event, filter) {
                    continue;
                }
                if let Some(id) = event.get("id").and_then(Value::as_str) {
                    events.insert(id.to_owned(), event);
                }
            }
        }
    }
    Ok(events.into_values().collect())
}
