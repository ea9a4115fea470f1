//! `figctl`: the command line for Fig. Run `figctl --help`.
//!
//! The client secret comes from `FIG_CLIENT_SECRET` or the file named by
//! `FIG_CLIENT_SECRET_FILE`; it is never a command-line argument (arguments are visible to
//! other users of the machine).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use fig_sdk::{ClientSecret, Fetched, FigClient, FigError, OfflineStore, Setting, WatchOptions};

#[derive(Parser)]
#[command(
    name = "figctl",
    version,
    about = "The command line for Fig: client secrets, registration, fetching and watching settings"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Client secrets.
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Act as a setting client (secret from FIG_CLIENT_SECRET or FIG_CLIENT_SECRET_FILE).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Query and verify the audit trail in S3 (AWS credentials from the usual chain).
    #[cfg(feature = "audit")]
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[cfg(feature = "audit")]
#[derive(Subcommand)]
enum AuditCommand {
    /// Print the events of a time range as JSON Lines, oldest first (de-duplicated by id).
    Query {
        /// The audit bucket.
        #[arg(long, env = "FIG_AUDIT_BUCKET")]
        bucket: String,
        /// Start (RFC 3339, e.g. 2026-11-25T00:00:00Z).
        #[arg(long)]
        from: String,
        /// End (RFC 3339).
        #[arg(long)]
        to: String,
        /// Only this event type (e.g. LoginFailed).
        #[arg(long = "type")]
        kind: Option<String>,
        /// Only events by or about this user.
        #[arg(long)]
        user: Option<String>,
        /// Only events about this client.
        #[arg(long)]
        client: Option<String>,
    },
    /// Verify the signed digest chain: reports removed, altered, reordered, added and
    /// missing-at-the-end objects; exits with status 1 when anything is wrong.
    Verify {
        /// The audit bucket.
        #[arg(long, env = "FIG_AUDIT_BUCKET")]
        bucket: String,
        /// The table holding the chain head (to detect digests missing at the end).
        #[arg(long, env = "FIG_TABLE")]
        table: String,
        /// The audit signing key (ARN or alias; the stack's AuditSigningKeyArn output). Digests
        /// signed by any other key are reported.
        #[arg(long, env = "FIG_AUDIT_SIGNING_KEY_ID")]
        signing_key: String,
        /// Also reconcile: every outbox event still in the table (the last --days days) must
        /// have its record in the bucket. Missing ones are reported, then written under a new
        /// digest (needs s3:PutObject and kms:Sign), and the chain is verified again.
        #[arg(long)]
        reconcile: bool,
        /// Days of outbox to reconcile (the outbox keeps FIG_EVENT_TTL_DAYS, 7 by default).
        #[arg(long, default_value_t = 7)]
        days: i64,
        /// The KMS key the audit bucket encrypts with (for objects written by --reconcile).
        #[arg(long, env = "FIG_KMS_KEY_ID")]
        kms_key: Option<String>,
        /// Object Lock retention (days) of objects written by --reconcile (0: the bucket's
        /// default rule only).
        #[arg(long, env = "FIG_AUDIT_RETENTION_DAYS", default_value_t = 0)]
        retention_days: u32,
    },
}

#[cfg(feature = "audit")]
async fn audit(command: AuditCommand) -> Result<(), String> {
    use fig_aws::audit_trail;
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let aws = fig_aws::sdk::AwsServices::new(&sdk);
    match command {
        AuditCommand::Query {
            bucket,
            from,
            to,
            kind,
            user,
            client,
        } => {
            let time = |name: &str, v: &str| {
                OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
                    format!("--{name} must be an RFC 3339 time such as 2026-11-25T00:00:00Z")
                })
            };
            let filter = audit_trail::QueryFilter {
                from: Some(time("from", &from)?),
                to: Some(time("to", &to)?),
                kind,
                user,
                client,
            };
            let events = audit_trail::query(&aws.s3, &bucket, &filter)
                .await
                .map_err(|e| e.to_string())?;
            for event in events {
                println!("{event}");
            }
            Ok(())
        }
        AuditCommand::Verify {
            bucket,
            table,
            signing_key,
            reconcile,
            days,
            kms_key,
            retention_days,
        } => {
            if reconcile {
                let kms_key = kms_key.ok_or(
                    "--reconcile writes audit objects: give --kms-key (or FIG_KMS_KEY_ID)",
                )?;
                let chain = audit_trail::DigestChain::new(
                    aws.s3.clone(),
                    aws.kms.clone(),
                    aws.dynamodb.clone(),
                    &table,
                    &bucket,
                    &signing_key,
                );
                let writer = audit_trail::AuditWriter::new(
                    aws.s3.clone(),
                    &bucket,
                    &kms_key,
                    retention_days,
                )
                .with_digests(chain);
                let now = fig_core::clock::now();
                let found = audit_trail::reconcile(
                    &aws.dynamodb,
                    &table,
                    &aws.s3,
                    &bucket,
                    (
                        now - time::Duration::days(days.clamp(0, 3650)),
                        now - time::Duration::minutes(audit_trail::IN_FLIGHT_MINUTES),
                    ),
                    Some(&writer),
                )
                .await
                .map_err(|e| e.to_string())?;
                for id in &found.missing {
                    println!("MISSING {id} (written now)");
                }
                println!(
                    "{} outbox events reconciled: {} missing, {} written",
                    found.checked,
                    found.missing.len(),
                    found.written
                );
            }
            let head = audit_trail::read_head(&aws.dynamodb, &table)
                .await
                .map_err(|e| e.to_string())?
                .sequence;
            let report = audit_trail::verify(&aws.s3, &aws.kms, &bucket, head, &signing_key)
                .await
                .map_err(|e| e.to_string())?;
            for problem in &report.problems {
                println!("PROBLEM {problem}");
            }
            println!(
                "{} digests, {} objects, {} events checked: {}",
                report.digests,
                report.objects,
                report.events,
                if report.ok() { "intact" } else { "NOT INTACT" }
            );
            if report.ok() {
                Ok(())
            } else {
                Err(format!(
                    "{} problem(s) in the audit trail",
                    report.problems.len()
                ))
            }
        }
    }
}

#[derive(Subcommand)]
enum SecretCommand {
    /// Print a new client secret (256 random bits, base64url).
    Generate,
}

#[derive(Args)]
struct Target {
    /// Fig's base URL (https://…; plain http only to 127.0.0.1 or localhost).
    #[arg(long, env = "FIG_URL")]
    url: String,
    /// The client name.
    #[arg(long, env = "FIG_CLIENT_NAME")]
    name: String,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Register (or update) the client's setting definitions from a JSON file: an array of
    /// settings as in the HTTP contract ([{"name": …, "type": …, …}]). Variables named
    /// FIG_OVERRIDE_<SETTING> are sent as client overrides.
    Register {
        #[command(flatten)]
        target: Target,
        /// JSON file with the setting definitions.
        #[arg(long)]
        definitions: PathBuf,
        /// What the client is.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Fetch the client's values once and print them as JSON.
    Fetch {
        #[command(flatten)]
        target: Target,
    },
    /// Print the values, then print them again on every change, until interrupted.
    Watch {
        #[command(flatten)]
        target: Target,
        /// Keep an encrypted offline copy at this path.
        #[arg(long)]
        offline_file: Option<PathBuf>,
        /// How old the offline copy may be, in hours.
        #[arg(long, default_value_t = 168)]
        offline_max_age_hours: u64,
    },
}

fn client(target: &Target) -> Result<FigClient, String> {
    let secret = ClientSecret::from_env().map_err(|e| format!("no client secret: {e}"))?;
    FigClient::new(&target.url, &target.name, secret).map_err(|e| e.to_string())
}

fn print_values(current: &fig_sdk::Settings, origin: &str) {
    let body = serde_json::json!({
        "client": current.client,
        "version": current.version,
        "origin": origin,
        "values": current.values,
    });
    println!("{body}");
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        #[cfg(feature = "audit")]
        Command::Audit(command) => audit(command).await,
        Command::Secret(SecretCommand::Generate) => {
            println!("{}", ClientSecret::generate().expose());
            Ok(())
        }
        Command::Client(ClientCommand::Register {
            target,
            definitions,
            description,
        }) => {
            let text = std::fs::read_to_string(&definitions)
                .map_err(|e| format!("cannot read {}: {e}", definitions.display()))?;
            let settings: Vec<Setting> = serde_json::from_str(&text).map_err(|e| {
                format!(
                    "{} is not a JSON array of settings: {e}",
                    definitions.display()
                )
            })?;
            let overrides = fig_sdk::overrides_from_env(&settings).map_err(|e| e.to_string())?;
            let status = client(&target)?
                .register_with_overrides(&description, &settings, &overrides)
                .await
                .map_err(|e| e.to_string())?;
            println!("{status}");
            Ok(())
        }
        Command::Client(ClientCommand::Fetch { target }) => match client(&target)?
            .fetch(None)
            .await
            .map_err(|e| e.to_string())?
        {
            Fetched::Settings(settings) => {
                print_values(&settings, "server");
                Ok(())
            }
            Fetched::NotModified => Err("unexpected 304".into()),
        },
        Command::Client(ClientCommand::Watch {
            target,
            offline_file,
            offline_max_age_hours,
        }) => {
            let options = WatchOptions {
                offline: offline_file.map(|p| {
                    OfflineStore::new(p, Duration::from_secs(offline_max_age_hours * 3600))
                }),
                ..WatchOptions::default()
            };
            let mut watch = fig_sdk::watch(client(&target)?, options)
                .await
                .map_err(|e: FigError| e.to_string())?;
            loop {
                let current = watch.receiver.borrow_and_update().clone();
                let origin = match current.origin {
                    fig_sdk::Origin::Server => "server",
                    fig_sdk::Origin::Offline => "offline",
                };
                print_values(&current.settings, origin);
                tokio::select! {
                    changed = watch.receiver.changed() => if changed.is_err() { return Ok(()) },
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                }
            }
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("figctl: {message}");
            ExitCode::FAILURE
        }
    }
}
