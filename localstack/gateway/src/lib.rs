//! The local gateway: what API Gateway, CloudFront and Lambda's stream polling do on AWS,
//! in one process for `make run` and the integration tests.
//!
//! - [`provision`] creates the table, key, alias and buckets idempotently;
//! - [`router`] serves the built web client at `/` and routes `/api/...` to the function
//!   libraries, with the API Gateway request context (source address, request id) that the
//!   functions read in Lambda;
//! - [`StreamPoller`] reads the table's stream and hands batches to the `events` handler as
//!   the same `aws_lambda_events` type Lambda passes, honouring batch item failures.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use fig_events::Consumer;
use fig_shared::App;
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use lambda_http::request::RequestContext;
use tower::ServiceExt;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// The emulator's address (LocalStack's port and convention).
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4566";

/// The Content-Security-Policy of the web client: no inline script or style, no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// A failure while provisioning or polling (local tooling: plain text is fine here).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The SDK configuration for the local emulator: `AWS_ENDPOINT_URL` (default
/// [`DEFAULT_ENDPOINT`]), region `us-east-1` and dummy credentials unless the environment
/// says otherwise. The gateway never talks to real AWS.
pub async fn local_sdk_config() -> SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).endpoint_url(endpoint);
    if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        loader = loader.region(aws_sdk_dynamodb::config::Region::new("us-east-1"));
    }
    if std::env::var("AWS_ACCESS_KEY_ID").is_err() {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "fig-local",
        ));
    }
    loader.load().await
}

/// Names of the local resources (docs/ARCHITECTURE.md §8); tests use unique ones.
#[derive(Clone, Debug)]
pub struct LocalNames {
    /// Table.
    pub table: String,
    /// Identity table (users, sessions, login throttles; no stream).
    pub identity_table: String,
    /// Audit bucket.
    pub audit_bucket: String,
    /// Web bucket.
    pub web_bucket: String,
    /// KMS alias (`alias/...`).
    pub kms_alias: String,
}

impl Default for LocalNames {
    fn default() -> Self {
        Self {
            table: "fig".into(),
            identity_table: "fig-identity".into(),
            audit_bucket: "fig-audit".into(),
            web_bucket: "fig-web".into(),
            kms_alias: "alias/fig".into(),
        }
    }
}

/// Creates whatever of the table, key, alias and buckets does not exist yet. Safe to run
/// again and again.
pub async fn provision(sdk: &SdkConfig, names: &LocalNames) -> Result<(), Error> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let kms = aws_sdk_kms::Client::new(sdk);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );

    create_table(&ddb, &names.table, true).await?;
    create_table(&ddb, &names.identity_table, false).await?;
    // CreateTable is asynchronous on AWS: writes before the table is ACTIVE fail, and stream
    // records of writes before its stream is ENABLED are lost. Wait for both, every time (a
    // table found half made by an interrupted earlier run too).
    let streams = aws_sdk_dynamodbstreams::Client::new(sdk);
    for (table, stream) in [(&names.table, true), (&names.identity_table, false)] {
        wait_until_ready(&ddb, &streams, table, stream).await?;
        enable_ttl(&ddb, table).await?;
    }

    let aliases = all_aliases(&kms).await?;
    let has_alias = aliases.iter().any(|a| a == &names.kms_alias);
    if !has_alias {
        let key = kms
            .create_key()
            .description(format!("Fig envelope key ({})", names.kms_alias))
            .send()
            .await?;
        let key_id = key
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .ok_or("CreateKey returned no key id")?;
        kms.enable_key_rotation().key_id(&key_id).send().await?;
        kms.create_alias()
            .alias_name(&names.kms_alias)
            .target_key_id(&key_id)
            .send()
            .await?;
    }

    // The audit digest signing key: asymmetric, so verifiers can check signatures with the
    // public key alone.
    let signing_alias = fig_shared::config::audit_signing_alias(&names.kms_alias);
    if !aliases.iter().any(|a| a == &signing_alias) {
        let key = kms
            .create_key()
            .description(format!("Fig audit digest signing key ({signing_alias})"))
            .key_spec(aws_sdk_kms::types::KeySpec::EccNistP256)
            .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
            .send()
            .await?;
        let key_id = key
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .ok_or("CreateKey returned no key id")?;
        kms.create_alias()
            .alias_name(&signing_alias)
            .target_key_id(&key_id)
            .send()
            .await?;
    }

    for (bucket, lock) in [(&names.audit_bucket, true), (&names.web_bucket, false)] {
        if s3.head_bucket().bucket(bucket).send().await.is_ok() {
            continue;
        }
        s3.create_bucket()
            .bucket(bucket)
            .object_lock_enabled_for_bucket(lock)
            .send()
            .await?;
        if lock {
            s3.put_bucket_versioning()
                .bucket(bucket)
                .versioning_configuration(
                    aws_sdk_s3::types::VersioningConfiguration::builder()
                        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await?;
        }
        s3.put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await?;
    }
    Ok(())
}

/// What a point-in-time restore into new tables gives, as far as an emulator can: `to`'s tables
/// are created without a stream (a table restored from PITR has none, nor TTL), filled with
/// every item of `from`'s, then given what the stack sets (a `NEW_IMAGE` stream on the main
/// table, TTL on both). The KMS keys and buckets stay `from`'s: a restore brings back the table,
/// not the keys its wrapped data keys need. Returns the number of items copied.
pub async fn restore_copy(
    sdk: &SdkConfig,
    from: &LocalNames,
    to: &LocalNames,
) -> Result<usize, Error> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let streams = aws_sdk_dynamodbstreams::Client::new(sdk);
    let mut copied = 0;
    for (source, target, stream) in [
        (&from.table, &to.table, true),
        (&from.identity_table, &to.identity_table, false),
    ] {
        create_table(&ddb, target, false).await?;
        wait_until_ready(&ddb, &streams, target, false).await?;
        let mut start = None;
        loop {
            let page = ddb
                .scan()
                .table_name(source)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await?;
            for chunk in page.items().chunks(25) {
                let mut requests: Vec<aws_sdk_dynamodb::types::WriteRequest> = chunk
                    .iter()
                    .map(|item| {
                        aws_sdk_dynamodb::types::PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .map(|put| {
                                aws_sdk_dynamodb::types::WriteRequest::builder()
                                    .put_request(put)
                                    .build()
                            })
                    })
                    .collect::<Result<_, _>>()?;
                copied += requests.len();
                while !requests.is_empty() {
                    let out = ddb
                        .batch_write_item()
                        .request_items(target.clone(), requests)
                        .send()
                        .await?;
                    requests = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(target.as_str()))
                        .unwrap_or_default();
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        if stream {
            ddb.update_table()
                .table_name(target)
                .stream_specification(
                    StreamSpecification::builder()
                        .stream_enabled(true)
                        .stream_view_type(StreamViewType::NewImage)
                        .build()?,
                )
                .send()
                .await?;
        }
        wait_until_ready(&ddb, &streams, target, stream).await?;
        enable_ttl(&ddb, target).await?;
    }
    Ok(copied)
}

/// Creates `table` (keys `PK`/`SK`, on demand; with a `NEW_IMAGE` stream when `stream`) unless
/// it exists.
async fn create_table(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    stream: bool,
) -> Result<(), Error> {
    if ddb.describe_table().table_name(table).send().await.is_ok() {
        return Ok(());
    }
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let mut create = ddb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("PK", KeyType::Hash)?)
        .key_schema(key("SK", KeyType::Range)?)
        .attribute_definitions(attr("PK")?)
        .attribute_definitions(attr("SK")?);
    if stream {
        create = create.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()?,
        );
    }
    create.send().await?;
    Ok(())
}

/// Turns on TTL (attribute `ttl`) unless it is on or being turned on.
async fn enable_ttl(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), Error> {
    let ttl = ddb.describe_time_to_live().table_name(table).send().await?;
    let on = ttl.time_to_live_description().is_some_and(|d| {
        matches!(
            d.time_to_live_status(),
            Some(
                aws_sdk_dynamodb::types::TimeToLiveStatus::Enabled
                    | aws_sdk_dynamodb::types::TimeToLiveStatus::Enabling
            )
        )
    });
    if !on {
        ddb.update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("ttl")
                    .build()?,
            )
            .send()
            .await?;
    }
    Ok(())
}

/// Every alias name in the account, following `ListAliases`' pages (AWS pages at 50 and
/// LocalStack at 100: an alias beyond the first page must not look missing, or a second run
/// would create an orphan key and fail on the alias).
async fn all_aliases(kms: &aws_sdk_kms::Client) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let page = kms.list_aliases().set_marker(marker).send().await?;
        names.extend(
            page.aliases()
                .iter()
                .filter_map(|a| a.alias_name().map(str::to_owned)),
        );
        match page.next_marker() {
            Some(next) if page.truncated() => marker = Some(next.to_owned()),
            _ => return Ok(names),
        }
    }
}

/// Waits (bounded: 2 minutes) until `table` is ACTIVE and (when it has one) its stream
/// ENABLED, polling with a short back-off as the AWS SDK's own waiters do.
async fn wait_until_ready(
    ddb: &aws_sdk_dynamodb::Client,
    streams: &aws_sdk_dynamodbstreams::Client,
    table: &str,
    stream: bool,
) -> Result<(), Error> {
    use aws_sdk_dynamodb::types::TableStatus;
    use aws_sdk_dynamodbstreams::types::StreamStatus;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut pause = std::time::Duration::from_millis(50);
    loop {
        let described = ddb.describe_table().table_name(table).send().await?;
        let description = described.table();
        let active = description.and_then(|t| t.table_status()) == Some(&TableStatus::Active);
        let enabled = match description.and_then(|t| t.latest_stream_arn()) {
            _ if !stream => true,
            Some(arn) if active => {
                let stream = streams.describe_stream().stream_arn(arn).send().await?;
                stream.stream_description().and_then(|d| d.stream_status())
                    == Some(&StreamStatus::Enabled)
            }
            _ => false,
        };
        if active && enabled {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!(
                "table {table} was not ACTIVE with an ENABLED stream within 2 minutes"
            )
            .into());
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(1));
    }
}

/// The address API Gateway reports for requests that come through the distribution (when the
/// gateway plays CloudFront): one of CloudFront's, shared by every viewer.
pub const CLOUDFRONT_ADDRESS: &str = "130.176.0.1";

/// What the distribution's viewer-request function does on AWS: it removes the origin-secret
/// and viewer-address headers a viewer sent and, with `FIG_ORIGIN_VERIFY`, sets them (the
/// current origin secret, read from the table here and from a KeyValueStore on AWS; the viewer's
/// address, here the TCP peer's).
async fn distribution(
    axum::extract::State(state): axum::extract::State<Distribution>,
    mut req: Request,
    next: Next,
) -> Response {
    use fig_shared::origin::{SECRET_HEADER, VIEWER_HEADER};
    req.headers_mut().remove(SECRET_HEADER);
    req.headers_mut().remove(VIEWER_HEADER);
    if state.app.config.origin_verify {
        let viewer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        if let (Some(secret), Some(viewer)) = (state.secret().await, viewer) {
            for (name, value) in [(SECRET_HEADER, secret), (VIEWER_HEADER, viewer)] {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    req.headers_mut().insert(name, value);
                }
            }
        }
        req.extensions_mut().insert(BehindDistribution);
    }
    next.run(req).await
}

/// Marks a request the local distribution forwarded (so its source address is CloudFront's).
#[derive(Clone, Copy, Debug)]
struct BehindDistribution;

/// The local distribution's state: the app, and its copy of the current origin secret.
#[derive(Clone, Debug)]
struct Distribution {
    app: Arc<App>,
    cached: Arc<tokio::sync::Mutex<Option<(std::time::Instant, String)>>>,
}

impl Distribution {
    /// The current origin secret, read at most every 5 s (as CloudFront's KeyValueStore
    /// propagates a new one within seconds).
    async fn secret(&self) -> Option<String> {
        let mut cached = self.cached.lock().await;
        if let Some((at, secret)) = cached.as_ref()
            && at.elapsed() < std::time::Duration::from_secs(5)
        {
            return Some(secret.clone());
        }
        let secret = self
            .app
            .origin
            .current()
            .await
            .ok()
            .flatten()
            .map(|s| s.expose().to_owned())?;
        *cached = Some((std::time::Instant::now(), secret.clone()));
        Some(secret)
    }
}

/// Adds the API Gateway (HTTP API v2) request context a Lambda function would receive: the
/// source address of the TCP connection (never a header; behind the distribution, CloudFront's
/// address) and a request id.
async fn request_context(mut req: Request, next: Next) -> Response {
    let behind = req.extensions().get::<BehindDistribution>().is_some();
    let source_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .map(|peer| {
            if behind {
                CLOUDFRONT_ADDRESS.to_owned()
            } else {
                peer
            }
        });
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = req.method().clone();
    http.path = Some(req.uri().path().to_owned());
    http.protocol = Some("HTTP/1.1".into());
    http.source_ip = source_ip;
    http.user_agent = user_agent;
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.request_id = Some(ulid::Ulid::new().to_string());
    context.stage = Some("$default".into());
    context.http = http;
    req.extensions_mut()
        .insert(RequestContext::ApiGatewayV2(context));
    next.run(req).await
}

/// The whole local site: `/api/...` to the function libraries (exactly the routers their
/// Lambda binaries serve), everything else from `web_dir` with the browser security headers.
pub fn router(app: Arc<App>, web_dir: Option<PathBuf>) -> Router {
    let api = fig_auth::routes(app.clone())
        .merge(fig_settings::routes(app.clone()))
        .merge(fig_admin::routes(app.clone()));
    let api = fig_http::service(api, &app);
    let distribution_state = Distribution {
        app,
        cached: Arc::default(),
    };
    let site = match web_dir {
        Some(dir) => Router::new()
            .fallback_service(ServeDir::new(dir).append_index_html_on_directories(true)),
        None => Router::new(),
    };
    let static_headers = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ),
    ];
    let mut site = site;
    for (name, value) in static_headers {
        site = site.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    // Everything under /api goes to the functions (whose own fallback answers unknown routes
    // with a JSON 404); everything else is the web client.
    Router::new()
        .fallback(move |req: Request| {
            let (api, site) = (api.clone(), site.clone());
            async move {
                let path = req.uri().path();
                let result = if path == "/api" || path.starts_with("/api/") {
                    api.oneshot(req).await
                } else {
                    site.oneshot(req).await
                };
                match result {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            }
        })
        .layer(axum::middleware::from_fn(request_context))
        .layer(axum::middleware::from_fn_with_state(
            distribution_state,
            distribution,
        ))
}

/// Every API route of every function (method, path template).
pub fn route_list() -> Vec<(http::Method, &'static str)> {
    let mut routes = fig_auth::route_list();
    routes.extend(fig_settings::route_list());
    routes.extend(fig_admin::route_list());
    routes
}

/// Reads the table's stream and feeds the `events` handler, like Lambda's event source mapping.
#[derive(Debug)]
pub struct StreamPoller {
    ddb: aws_sdk_dynamodb::Client,
    streams: aws_sdk_dynamodbstreams::Client,
    table: String,
    consumer: Consumer,
    /// Last sequence number handled successfully, per shard.
    checkpoints: HashMap<String, String>,
    /// The sort key of the drain marker [`StreamPoller::drain`] waits for, and whether a batch
    /// holding it has been handled.
    marker: Option<(String, bool)>,
}

/// Partition of the items [`StreamPoller::drain`] writes to learn that the stream has delivered
/// everything written before them (consumers ignore them: they are not outbox events).
pub const DRAIN_MARKER_PK: &str = "DRAIN";

impl StreamPoller {
    /// A poller for `table`'s stream delivering into `consumer` (a [`fig_events::AuditWriter`] or a
    /// webhook deliverer). Each poller keeps its own position, like an event source mapping.
    pub fn new(sdk: &SdkConfig, table: impl Into<String>, consumer: impl Into<Consumer>) -> Self {
        Self {
            ddb: aws_sdk_dynamodb::Client::new(sdk),
            streams: aws_sdk_dynamodbstreams::Client::new(sdk),
            table: table.into(),
            consumer: consumer.into(),
            checkpoints: HashMap::new(),
            marker: None,
        }
    }

    /// Reads everything new on every shard once, in batches of up to 100 records, and returns
    /// how many records were handed to the handler. Records in a batch item failure (and
    /// those after them) are delivered again by the next call.
    pub async fn poll_once(&mut self) -> Result<usize, Error> {
        let table = self
            .ddb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await?;
        let Some(arn) = table
            .table()
            .and_then(|t| t.latest_stream_arn())
            .map(str::to_owned)
        else {
            return Err("the table has no stream".into());
        };
        let description = self
            .streams
            .describe_stream()
            .stream_arn(&arn)
            .send()
            .await?;
        let shards: Vec<String> = description
            .stream_description()
            .map(|d| {
                d.shards()
                    .iter()
                    .filter_map(|s| s.shard_id().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut delivered = 0;
        for shard in shards {
            let mut request = self
                .streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(&shard);
            request = match self.checkpoints.get(&shard) {
                Some(seq) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(seq),
                None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let mut iterator = request.send().await?.shard_iterator;
            // Bounded: a shard with endless traffic must not starve the others.
            for _ in 0..100 {
                let Some(it) = iterator.take() else { break };
                let out = self
                    .streams
                    .get_records()
                    .shard_iterator(it)
                    .limit(100)
                    .send()
                    .await?;
                let records = out.records();
                if records.is_empty() {
                    break;
                }
                let event = to_lambda_event(records, &arn, &self.table)?;
                let sequences: Vec<Option<String>> = event
                    .records
                    .iter()
                    .map(|r| r.change.sequence_number.clone())
                    .collect();
                let marker_at = self.marker.as_ref().and_then(|(sk, _)| {
                    event.records.iter().position(|r| {
                        let key = |k: &str| match r.change.keys.get(k) {
                            Some(serde_dynamo::AttributeValue::S(v)) => Some(v.as_str()),
                            _ => None,
                        };
                        key("PK") == Some(DRAIN_MARKER_PK) && key("SK") == Some(sk.as_str())
                    })
                });
                delivered += event
                    .records
                    .iter()
                    .filter(|r| {
                        !matches!(r.change.keys.get("PK"),
                            Some(serde_dynamo::AttributeValue::S(pk)) if pk == DRAIN_MARKER_PK)
                    })
                    .count();
                let response = self.consumer.handle(event).await;
                let failed: Vec<&String> = response
                    .batch_item_failures
                    .iter()
                    .filter_map(|f| f.item_identifier.as_ref())
                    .collect();
                let first_failure = sequences
                    .iter()
                    .position(|s| s.as_ref().is_some_and(|s| failed.contains(&s)));
                if let (Some(at), Some((_, handled))) = (marker_at, self.marker.as_mut()) {
                    *handled |= first_failure.is_none_or(|f| at < f);
                }
                // Like Lambda: resume from the lowest failed sequence number.
                let handled_upto = match first_failure {
                    Some(0) => None,
                    Some(i) => sequences.get(i - 1).cloned().flatten(),
                    None => sequences.last().cloned().flatten(),
                };
                if let Some(seq) = handled_upto {
                    self.checkpoints.insert(shard.clone(), seq);
                }
                if !failed.is_empty() {
                    break;
                }
                iterator = out.next_shard_iterator;
            }
        }
        Ok(delivered)
    }

    /// Delivers everything written to the table before this call, and returns how many records
    /// that took: it writes a marker item, then polls until the batch holding the marker has
    /// been handled without a failure (the local stream has one shard, so everything before the
    /// marker came first). A stream that lags (LocalStack forwards records to its stream
    /// asynchronously) is waited for instead of mistaken for an empty one; at most 60 s.
    pub async fn drain(&mut self) -> Result<usize, Error> {
        let marker = ulid::Ulid::new().to_string();
        let expires = fig_shared::clock::now().unix_timestamp() + 3600;
        self.ddb
            .put_item()
            .table_name(&self.table)
            .item("PK", AttributeValue::S(DRAIN_MARKER_PK.into()))
            .item("SK", AttributeValue::S(marker.clone()))
            .item("ttl", AttributeValue::N(expires.to_string()))
            .send()
            .await?;
        self.marker = Some((marker, false));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut total = 0;
        loop {
            let n = self.poll_once().await?;
            total += n;
            if self.marker.as_ref().is_some_and(|(_, handled)| *handled) {
                self.marker = None;
                return Ok(total);
            }
            if std::time::Instant::now() > deadline {
                self.marker = None;
                return Err("the stream did not deliver the drain marker within 60 s".into());
            }
            if n == 0 {
                // Polling the stream, as Lambda's event source mapping does between empty reads.
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
        }
    }
}

/// Converts stream records into the event Lambda would pass to the `events` function.
fn to_lambda_event(
    records: &[aws_sdk_dynamodbstreams::types::Record],
    arn: &str,
    table: &str,
) -> Result<Event, Error> {
    let mut event = Event::default();
    for record in records {
        let mut out = EventRecord::default();
        out.aws_region = record.aws_region().unwrap_or("us-east-1").to_owned();
        out.event_id = record.event_id().unwrap_or_default().to_owned();
        out.event_name = record
            .event_name()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default();
        out.event_source = Some("aws:dynamodb".into());
        out.event_version = record.event_version().map(str::to_owned);
        out.event_source_arn = Some(arn.to_owned());
        out.table_name = Some(table.to_owned());
        if let Some(change) = record.dynamodb() {
            out.change.sequence_number = change.sequence_number().map(str::to_owned);
            out.change.size_bytes = change.size_bytes().unwrap_or_default();
            if let Some(keys) = change.keys() {
                out.change.keys = serde_dynamo::Item::from(keys.clone());
            }
            if let Some(image) = change.new_image() {
                out.change.new_image = serde_dynamo::Item::from(image.clone());
            }
        }
        event.records.push(out);
    }
    Ok(event)
}
