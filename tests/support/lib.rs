//! Test support: a fresh, uniquely named stack on the emulator per test, and a client that
//! calls the gateway's router exactly as the local gateway serves it.
//!
//! The emulator must be running (`make test` starts it): these tests exercise the real
//! DynamoDB, KMS and S3 code, never in-memory fakes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_debug_implementations
)]

use std::net::SocketAddr;
use std::sync::Arc;

use aws_config::SdkConfig;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use fig_gateway::{LocalNames, StreamPoller, local_sdk_config, provision};
use fig_shared::App;
use fig_shared::aws::AwsServices;
use fig_shared::config::Config;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// The source address every test request comes from (TEST-NET-3).
pub const SOURCE_IP: &str = "203.0.113.7";
/// The bootstrap administrator's password in tests.
pub const ADMIN_PASSWORD: &str = "initial-Bootstrap-pw-for-tests-41";
/// The administrator's password after the first login.
pub const ADMIN_NEW_PASSWORD: &str = "lantern quartz mosaic thistle 77";
/// Initial password of users created in tests.
pub const USER_INITIAL_PASSWORD: &str = "orbit velvet glacier 2041 initial";
/// Password of users created in tests after their first login.
pub const USER_PASSWORD: &str = "tambourine harbor falcon 1937 steady";

/// The `Set-Cookie` header of a reply (the refresh cookie), and the `Cookie` header to send it back.
pub fn refresh_cookie(reply: &Reply) -> (String, String) {
    let set = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("fig_refresh="))
        .expect("a refresh cookie");
    let pair = set.split(';').next().unwrap().to_owned();
    (set, pair)
}

pub mod lambda;

/// A uniquely named stack: table, key alias, buckets, and the app built on them.
pub struct Stack {
    pub sdk: SdkConfig,
    /// The `FIG_*` settings of the stack (what a deployed function's environment holds).
    pub env: Vec<(String, String)>,
    /// Whether its KMS keys are its own (a restored stack uses the original's).
    owns_keys: bool,
    pub names: LocalNames,
    pub app: Arc<App>,
    pub router: Router,
    pub poller: StreamPoller,
    pub ddb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
}

/// A test deletes what it made: its table (with its stream: LocalStack limits the number of
/// stream shards) and its KMS aliases (the keys are scheduled for deletion). Buckets stay: their
/// audit objects are under Object Lock, as on AWS. Runs on a thread of its own, because `drop`
/// cannot wait on the test's runtime; a failed clean-up is reported, not fatal.
impl Drop for Stack {
    fn drop(&mut self) {
        let (sdk, names, keys) = (self.sdk.clone(), self.names.clone(), self.owns_keys);
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(teardown(&sdk, &names, keys)).ok()
        })
        .join();
        if !matches!(cleaned, Ok(Some(()))) {
            eprintln!(
                "note: could not delete the test's table {}",
                self.names.table
            );
        }
    }
}

async fn teardown(
    sdk: &SdkConfig,
    names: &LocalNames,
    keys: bool,
) -> Result<(), fig_gateway::Error> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    for table in [&names.table, &names.identity_table] {
        ddb.delete_table().table_name(table).send().await?;
    }
    if !keys {
        return Ok(());
    }
    let kms = aws_sdk_kms::Client::new(sdk);
    for alias in [
        names.kms_alias.clone(),
        fig_shared::config::audit_signing_alias(&names.kms_alias),
    ] {
        let key = kms.describe_key().key_id(&alias).send().await?;
        kms.delete_alias().alias_name(&alias).send().await?;
        if let Some(id) = key.key_metadata().map(|m| m.key_id().to_owned()) {
            kms.schedule_key_deletion()
                .key_id(id)
                .pending_window_in_days(7)
                .send()
                .await?;
        }
    }
    Ok(())
}

/// A response, with the body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Stack {
    /// Provisions a new stack with unique names. Panics with a clear message when the
    /// emulator is not running.
    pub async fn new() -> Self {
        Self::with_env(&[]).await
    }

    /// Like [`Stack::new`], with extra `FIG_*` settings.
    pub async fn with_env(extra: &[(&str, &str)]) -> Self {
        let sdk = local_sdk_config().await;
        let id = ulid::Ulid::new().to_string().to_lowercase();
        let names = LocalNames {
            table: format!("fig-test-{id}"),
            identity_table: format!("fig-test-{id}-identity"),
            audit_bucket: format!("fig-audit-{id}"),
            web_bucket: format!("fig-web-{id}"),
            kms_alias: format!("alias/fig-test-{id}"),
        };
        if let Err(e) = provision(&sdk, &names).await {
            let endpoint = std::env::var("AWS_ENDPOINT_URL")
                .unwrap_or_else(|_| fig_gateway::DEFAULT_ENDPOINT.to_owned());
            panic!(
                "could not provision on the AWS emulator at {endpoint} ({e:?}). Is it running? \
                 `make test` starts it (localstack/emulator.sh)."
            );
        }
        Self::on(sdk, names, extra, true).await
    }

    /// A stack on this one's tables as a point-in-time restore into new tables would give them
    /// (`fig_gateway::restore_copy`), with the same KMS keys and buckets: what the stack runs
    /// on after it is re-pointed at a restored table.
    pub async fn restored(&self) -> Self {
        let id = ulid::Ulid::new().to_string().to_lowercase();
        let names = LocalNames {
            table: format!("fig-test-{id}-restored"),
            identity_table: format!("fig-test-{id}-restored-identity"),
            ..self.names.clone()
        };
        fig_gateway::restore_copy(&self.sdk, &self.names, &names)
            .await
            .unwrap();
        let extra: Vec<(&str, &str)> = self
            .env
            .iter()
            .filter(|(k, _)| k != "FIG_TABLE" && k != "FIG_IDENTITY_TABLE")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Self::on(self.sdk.clone(), names, &extra, false).await
    }

    async fn on(
        sdk: SdkConfig,
        names: LocalNames,
        extra: &[(&str, &str)],
        owns_keys: bool,
    ) -> Self {
        let mut env: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.extend([
            ("FIG_TABLE".into(), names.table.clone()),
            ("FIG_IDENTITY_TABLE".into(), names.identity_table.clone()),
            ("FIG_AUDIT_BUCKET".into(), names.audit_bucket.clone()),
            ("FIG_KMS_KEY_ID".into(), names.kms_alias.clone()),
            ("FIG_BOOTSTRAP_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
            ("FIG_AUDIT_RETENTION_DAYS".into(), "1".into()),
        ]);
        let config =
            Config::from_lookup(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
                .unwrap();
        let clients = AwsServices::new(&sdk);
        let writer = fig_events::AuditWriter::new(
            clients.s3.clone(),
            &names.audit_bucket,
            &names.kms_alias,
            1,
        )
        .with_digests(fig_shared::audit_trail::DigestChain::for_config(
            &clients, &config,
        ));
        let poller = StreamPoller::new(&sdk, &names.table, writer);
        let app = App::new(config, clients.clone()).unwrap();
        fig_shared::users::bootstrap_admin(&app).await.unwrap();
        Self {
            router: fig_gateway::router(app.clone(), None),
            app,
            poller,
            ddb: clients.dynamodb,
            s3: clients.s3,
            names,
            sdk,
            env,
            owns_keys,
        }
    }

    /// Serves the gateway's router on a free loopback port (for the SDK and benchmarks);
    /// returns the base URL and the server task (abort it to take the server down).
    pub async fn serve(&self) -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let router = self.router.clone();
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        (url, task)
    }

    /// Sends a request through the gateway's router from [`SOURCE_IP`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.call_raw(method, path, headers, bytes).await
    }

    /// Sends raw bytes (for malformed-input tests).
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        self.call_from(SOURCE_IP, method, path, headers, body).await
    }

    /// From now on the stack's router runs on a DynamoDB client that counts the items every
    /// read returns (`Query`, `GetItem`, `BatchGetItem`): what a request reads, to the item.
    pub fn count_items_read(&mut self) -> Arc<std::sync::atomic::AtomicUsize> {
        use aws_sdk_dynamodb::config::interceptors::AfterDeserializationInterceptorContextRef;
        use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
        use aws_sdk_dynamodb::error::BoxError;
        use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
        use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
        use aws_sdk_dynamodb::operation::query::QueryOutput;
        use std::sync::atomic::{AtomicUsize, Ordering};

        #[derive(Debug)]
        struct Counting(Arc<AtomicUsize>);
        impl Intercept for Counting {
            fn name(&self) -> &'static str {
                "ItemsRead"
            }
            fn read_after_deserialization(
                &self,
                context: &AfterDeserializationInterceptorContextRef<'_>,
                _: &RuntimeComponents,
                _: &mut ConfigBag,
            ) -> Result<(), BoxError> {
                let Ok(output) = context.output_or_error() else {
                    return Ok(());
                };
                let items = if let Some(q) = output.downcast_ref::<QueryOutput>() {
                    q.items().len()
                } else if let Some(g) = output.downcast_ref::<GetItemOutput>() {
                    usize::from(g.item().is_some())
                } else if let Some(b) = output.downcast_ref::<BatchGetItemOutput>() {
                    b.responses().map_or(0, |r| r.values().map(Vec::len).sum())
                } else {
                    0
                };
                self.0.fetch_add(items, Ordering::Relaxed);
                Ok(())
            }
        }
        let count = Arc::new(AtomicUsize::new(0));
        let mut clients = AwsServices::new(&self.sdk);
        clients.dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&self.sdk)
                .interceptor(Counting(count.clone()))
                .build(),
        );
        let env = self.env.clone();
        let config =
            Config::from_lookup(|k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
                .unwrap();
        self.app = App::new(config, clients).unwrap();
        self.router = fig_gateway::router(self.app.clone(), None);
        count
    }

    /// Sends a request from the given source address.
    pub async fn call_from(
        &self,
        ip: &str,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("user-agent", "fig-tests");
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut request = builder.body(Body::from(body.unwrap_or_default())).unwrap();
        let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(addr));
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }

    /// Logs in and returns the access token (asserting success).
    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.call(
            Method::POST,
            "/api/auth/login",
            &[],
            Some(serde_json::json!({ "username": username, "password": password })),
        )
        .await
    }

    /// Logs in from `ip` (with optional extra login fields).
    pub async fn login_from(
        &self,
        ip: &str,
        username: &str,
        password: &str,
        extra: Value,
    ) -> Reply {
        let mut body = serde_json::json!({ "username": username, "password": password });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.call_from(
            ip,
            Method::POST,
            "/api/auth/login",
            &[],
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    /// Completes a first login: logs in with `initial`, changes the password to `new`, logs
    /// in again and returns the reply (token and refresh cookie).
    pub async fn first_login(&self, username: &str, initial: &str, new: &str) -> Reply {
        let first = self.login(username, initial).await;
        assert_eq!(
            first.status,
            StatusCode::OK,
            "first login of {username}: {}",
            first.text
        );
        let auth = format!("Bearer {}", first.json["accessToken"].as_str().unwrap());
        let changed = self
            .call(
                Method::POST,
                "/api/auth/password",
                &[("authorization", &auth)],
                Some(serde_json::json!({"currentPassword": initial, "newPassword": new})),
            )
            .await;
        assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.text);
        let login = self.login(username, new).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.text);
        login
    }

    /// The administrator's bearer header after the first login and password change.
    pub async fn admin_auth(&self) -> String {
        let login = self
            .first_login("admin", ADMIN_PASSWORD, ADMIN_NEW_PASSWORD)
            .await;
        format!("Bearer {}", login.json["accessToken"].as_str().unwrap())
    }

    /// Creates a user through the API and completes its first login; returns its bearer header.
    pub async fn user_auth(&self, admin: &str, username: &str, role: &str, extra: Value) -> String {
        let mut body = serde_json::json!({"username": username, "password": USER_INITIAL_PASSWORD, "role": role});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let created = self
            .call(
                Method::POST,
                "/api/admin/users",
                &[("authorization", admin)],
                Some(body),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let login = self
            .first_login(username, USER_INITIAL_PASSWORD, USER_PASSWORD)
            .await;
        format!("Bearer {}", login.json["accessToken"].as_str().unwrap())
    }

    /// A second consumer of the stream that delivers webhooks (from the stream's start).
    pub fn webhook_poller(&self) -> StreamPoller {
        StreamPoller::new(
            &self.sdk,
            &self.names.table,
            fig_events::Consumer::Webhooks(fig_events::webhooks::WebhookDeliverer::new(
                self.app.clone(),
            )),
        )
    }

    /// Replaces fields of the server configuration (as an Administrator).
    pub async fn configure(&self, admin: &str, changes: Value) -> Reply {
        let current = self
            .call(
                Method::GET,
                "/api/admin/configuration",
                &[("authorization", admin)],
                None,
            )
            .await;
        let mut config = current.json;
        for (k, v) in changes.as_object().unwrap() {
            config[k] = v.clone();
        }
        self.call(
            Method::PUT,
            "/api/admin/configuration",
            &[("authorization", admin)],
            Some(config),
        )
        .await
    }

    /// Every item in both tables (the main one and the identity one), as text (for plaintext
    /// scans).
    pub async fn table_dump(&self) -> String {
        let mut out = String::new();
        for table in [&self.names.table, &self.names.identity_table] {
            let mut start = None;
            loop {
                let page = self
                    .ddb
                    .scan()
                    .table_name(table)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .unwrap();
                for item in page.items() {
                    out.push_str(&format!("{item:?}\n"));
                }
                match page.last_evaluated_key() {
                    Some(k) if !k.is_empty() => start = Some(k.clone()),
                    _ => break,
                }
            }
        }
        out
    }

    /// Every audit object's content, in key order.
    pub async fn audit_objects(&self) -> Vec<(String, String)> {
        let list = self
            .s3
            .list_objects_v2()
            .bucket(&self.names.audit_bucket)
            .prefix("audit/v1/")
            .send()
            .await
            .unwrap();
        let mut out = Vec::new();
        for object in list.contents() {
            let key = object.key().unwrap().to_owned();
            let body = self
                .s3
                .get_object()
                .bucket(&self.names.audit_bucket)
                .key(&key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            out.push((key, String::from_utf8(body.to_vec()).unwrap()));
        }
        out
    }

    /// Verifies the audit trail's digest chain as `figctl audit verify` does (against the head
    /// in the table and the deployment's signing key).
    pub async fn verify_audit_chain(&self) -> fig_shared::audit_trail::VerifyReport {
        let head = fig_shared::audit_trail::read_head(&self.ddb, &self.names.table)
            .await
            .unwrap()
            .sequence;
        fig_shared::audit_trail::verify(
            &self.s3,
            &aws_sdk_kms::Client::new(&self.sdk),
            &self.names.audit_bucket,
            head,
            &self.app.config.audit_signing_key_id,
        )
        .await
        .unwrap()
    }

    /// Every audit record, parsed, after writing the instance's counted `304` polls (as a warm
    /// function does when they are due; see `fig_shared::polls`) and draining the stream into
    /// the events handler.
    pub async fn audit_records(&mut self) -> Vec<Value> {
        fig_shared::clients::flush_polls(&self.app).await.unwrap();
        self.poller.drain().await.unwrap();
        self.audit_objects()
            .await
            .iter()
            .flat_map(|(_, body)| {
                body.lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect::<Vec<Value>>()
            })
            .collect()
    }
}

/// A TCP forwarder to the emulator that can be switched off: while `up` is false, every
/// connection is closed at once (an unreachable AWS service, for one client only). Returns its
/// endpoint URL.
pub async fn switchable_endpoint(up: Arc<std::sync::atomic::AtomicBool>) -> String {
    use std::sync::atomic::Ordering;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let target = std::env::var("AWS_ENDPOINT_URL")
        .unwrap_or_else(|_| fig_gateway::DEFAULT_ENDPOINT.into())
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            if !up.load(Ordering::SeqCst) {
                drop(inbound);
                continue;
            }
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    format!("http://{addr}")
}

/// A client secret as `figctl secret generate` makes them: 256 random bits, base64url.
pub fn client_secret() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
