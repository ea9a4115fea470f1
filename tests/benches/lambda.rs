//! `make bench-lambda`: the Lambda bootstraps measured as Lambda runs them, against the emulator,
//! in one run with a `lambda_runtime` hello-world built the same way as the floor.
//!
//! For each function (x86_64 release build of this machine, the profile `make package` uses):
//! - the bootstrap's size, and the arm64 zip's and its content's when `make package` built them;
//! - cold start: process start to the first Runtime API poll (median of 10), with AWS quiet
//!   (an endpoint that accepts and never answers, so that only the function's own work is on
//!   this machine's cores, as on Lambda) and against LocalStack (whose answers to the
//!   start-up's background requests take the same two cores); and to the first answered
//!   event that reaches AWS (LocalStack);
//! - peak memory at the first poll (init);
//! - resident memory after 1 and after 20 password checks (auth: failed logins; admin: user
//!   creations), which must stay within 5 MiB of each other.
//!
//! Goals (issue 12): bootstrap ≤ 12 MiB, first poll ≤ 12 ms, init peak ≤ 20 MiB, flat memory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Duration;

use fig_tests::lambda::{Function, HttpAnswer, HttpEvent, binary, binary_dir};
use fig_tests::{ADMIN_NEW_PASSWORD, ADMIN_PASSWORD, Stack};
use serde_json::{Value, json};

const COLD_STARTS: usize = 10;
const CHECKS: usize = 20;

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// The compressed and uncompressed size of the one file in a zip (from its central directory).
fn zip_sizes(path: &std::path::Path) -> Option<(u64, u64)> {
    let bytes = std::fs::read(path).ok()?;
    let eocd = bytes
        .windows(4)
        .rposition(|w| w == [0x50, 0x4b, 0x05, 0x06])?;
    let u32_at = |at: usize| -> Option<u64> {
        Some(u64::from(u32::from_le_bytes(
            bytes.get(at..at + 4)?.try_into().ok()?,
        )))
    };
    let directory = usize::try_from(u32_at(eocd + 16)?).ok()?;
    let compressed = u32_at(directory + 20)?;
    let uncompressed = u32_at(directory + 24)?;
    Some((compressed, uncompressed))
}

struct Subject {
    name: &'static str,
    env: Vec<(String, String)>,
    first_event: Value,
}

/// An AWS endpoint that accepts connections and never answers. Against it a function's
/// start-up pays what it pays on Lambda for its background requests (building, signing,
/// sending them), while their answers, computed elsewhere on AWS, take none of this machine's
/// two cores; against the emulator, LocalStack's answers compete with the start-up for them.
async fn silent_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    (url, task)
}

/// The median time to the first poll of `COLD_STARTS` starts, and the highest init peak.
async fn cold_starts(name: &str, env: &[(String, String)]) -> (Duration, u64) {
    let mut polls = Vec::new();
    let mut peak = 0;
    for _ in 0..COLD_STARTS {
        let function = Function::start(name, env).await;
        let at = function.api.first_poll().await;
        polls.push(at - function.started);
        peak = peak.max(function.memory_kib().1);
    }
    (median(polls), peak)
}

async fn first_answer(subject: &Subject) -> Duration {
    let function = Function::start(subject.name, &subject.env).await;
    let answer = function.invoke(subject.first_event.clone()).await;
    let took = function.started.elapsed();
    if let fig_tests::lambda::Outcome::Error(e) = answer {
        panic!("{}: {e}", subject.name);
    }
    took
}

fn failed_login(i: usize) -> Value {
    let mut event = HttpEvent::new("POST", "/api/auth/login")
        .json(&json!({"username": format!("nobody-{i}"), "password": "not a password 123"}));
    // One address per attempt: the per-address limit is not what is measured.
    event.source_ip = format!("198.51.100.{}", i % 250 + 1);
    event.event()
}

fn user_creation(token: &str, i: usize) -> Value {
    HttpEvent::new("POST", "/api/admin/users")
        .header("authorization", &format!("Bearer {token}"))
        .json(&json!({
            "username": format!("bench-user-{i}"),
            "role": "ReadOnly",
            "password": fig_tests::USER_INITIAL_PASSWORD,
        }))
        .event()
}

/// Resident memory after 1 and after `CHECKS` password checks.
async fn memory_across_checks(
    name: &str,
    env: &[(String, String)],
    event: impl Fn(usize) -> Value,
) -> (u64, u64) {
    let function = Function::start(name, env).await;
    let mut after_one = 0;
    for i in 0..CHECKS {
        let answer = HttpAnswer::of(&function.invoke(event(i)).await.response());
        assert!(
            answer.status < 500,
            "{name}: {} {}",
            answer.status,
            answer.body
        );
        if i == 0 {
            after_one = function.memory_kib().0;
        }
    }
    (after_one, function.memory_kib().0)
}

#[tokio::main]
async fn main() {
    let stack = Stack::new().await;
    let login = stack
        .first_login("admin", ADMIN_PASSWORD, ADMIN_NEW_PASSWORD)
        .await;
    let token = login.json["accessToken"].as_str().unwrap().to_owned();
    // An outbox event for the audit consumer.
    assert_eq!(
        stack.login("admin", "not the password 99").await.status,
        401
    );
    let stream_event = fig_tests::lambda::outbox_stream_event(&stack).await;

    let with = |extra: &[(&str, &str)]| {
        let mut env = stack.env.clone();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        env
    };
    let subjects = [
        Subject {
            name: "lambda-floor",
            env: Vec::new(),
            first_event: json!({"hello": "world"}),
        },
        Subject {
            name: "fig-auth",
            env: with(&[]),
            first_event: failed_login(0),
        },
        Subject {
            name: "fig-settings",
            env: with(&[]),
            first_event: HttpEvent::new("GET", "/api/clients/Orders/settings")
                .header("clientsecret", "not-the-secret-of-any-client-0123456789")
                .event(),
        },
        Subject {
            name: "fig-admin",
            env: with(&[]),
            first_event: HttpEvent::new("GET", "/api/admin/users")
                .header("authorization", &format!("Bearer {token}"))
                .event(),
        },
        Subject {
            name: "fig-events",
            env: with(&[("FIG_EVENTS_CONSUMER", "audit")]),
            first_event: stream_event,
        },
    ];

    println!(
        "Lambda bootstraps ({}; x86_64 release build of this machine)",
        binary_dir().display()
    );
    println!(
        "first poll: median of {COLD_STARTS} starts, AWS quiet (an endpoint that never answers: \
         AWS's work off this machine) and against the emulator (its answers on the same cores)"
    );
    println!(
        "{:<14} {:>10} {:>9} {:>10} {:>11} {:>11} {:>12} {:>10}",
        "function",
        "bootstrap",
        "arm64 zip",
        "arm64 file",
        "first poll",
        "first poll",
        "first answer",
        "init peak"
    );
    println!(
        "{:<14} {:>10} {:>9} {:>10} {:>11} {:>11} {:>12} {:>10}",
        "", "MiB", "MiB", "MiB", "quiet ms", "emulator ms", "ms", "MiB"
    );
    let (silent, _silent_task) = silent_endpoint().await;
    for subject in &subjects {
        let size = std::fs::metadata(binary(subject.name)).unwrap().len();
        let zip = binary_dir()
            .parent()
            .unwrap()
            .join("lambda")
            .join(subject.name)
            .join("bootstrap.zip");
        let (zipped, unzipped) = zip_sizes(&zip)
            .map(|(c, u)| (mib(c / 1024), mib(u / 1024)))
            .unwrap_or_else(|| ("-".into(), "-".into()));
        let (poll, peak) = cold_starts(subject.name, &subject.env).await;
        let mut quiet_env = subject.env.clone();
        quiet_env.push(("AWS_ENDPOINT_URL".into(), silent.clone()));
        let (quiet, _) = cold_starts(subject.name, &quiet_env).await;
        let answer = first_answer(subject).await;
        println!(
            "{:<14} {:>10} {:>9} {:>10} {:>11.1} {:>11.1} {:>12.1} {:>10}",
            subject.name,
            mib(size / 1024),
            zipped,
            unzipped,
            quiet.as_secs_f64() * 1e3,
            poll.as_secs_f64() * 1e3,
            answer.as_secs_f64() * 1e3,
            mib(peak),
        );
    }

    println!();
    println!(
        "Resident memory across password checks (goal: after {CHECKS} within 5 MiB of after 1)"
    );
    println!(
        "{:<14} {:>16} {:>16} {:>8}",
        "function",
        "after 1 (MiB)",
        format!("after {CHECKS} (MiB)"),
        "growth"
    );
    let auth = memory_across_checks("fig-auth", &with(&[]), failed_login).await;
    let admin = memory_across_checks("fig-admin", &with(&[]), |i| user_creation(&token, i)).await;
    for (name, (one, all)) in [("fig-auth", auth), ("fig-admin", admin)] {
        println!(
            "{:<14} {:>16} {:>16} {:>8}",
            name,
            mib(one),
            mib(all),
            mib(all.saturating_sub(one))
        );
    }
}
