//! No query string, header or body makes a handler fail: generated requests to every route,
//! through the router the gateway serves, never get a 5xx, and never panic (a panic would end
//! this test, as it would drop the connection of a served request).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fig_tests::{Stack, client_secret};
use http::{Method, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::json;

/// A generated request: which route, what goes into its path parameters, the query string, the
/// headers and the body.
#[derive(Clone, Debug)]
struct Generated {
    route: usize,
    method_swap: Option<usize>,
    segments: Vec<String>,
    query: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9._-]{0,70}",
        "\\PC{0,40}",
        Just(String::new()),
        Just("%00%ff%2e%2e%2f".to_owned()),
        // Sent as they are (not encoded again): invalid UTF-8 once decoded.
        Just("%FF%FE".to_owned()),
        Just("%C0%AF".to_owned()),
        Just("..".to_owned()),
        Just("a".repeat(300)),
    ]
}

fn header() -> impl Strategy<Value = (String, String)> {
    let name = prop_oneof![
        Just("authorization"),
        Just("clientSecret"),
        Just("content-type"),
        Just("if-none-match"),
        Just("if-match"),
        Just("cookie"),
        Just("origin"),
        Just("x-forwarded-host"),
        Just("cloudfront-viewer-address"),
        Just("x-forwarded-for"),
        Just("range"),
    ];
    let value = prop_oneof![
        text(),
        Just("Bearer ".to_owned()),
        Just("Bearer a.b.c".to_owned()),
        Just("application/json".to_owned()),
        Just("application/json; charset=utf-16".to_owned()),
        Just("fig_refresh=01ARZ3NDEKTSV4RRFFQ69G5FAV.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.admin".to_owned()),
        Just("\"*\"".to_owned()),
        Just("W/\"18446744073709551616\"".to_owned()),
        Just("[::1]:443".to_owned()),
    ];
    (name, value).prop_map(|(n, v)| (n.to_owned(), v))
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        text().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("name".to_owned()),
                        Just("settings".to_owned()),
                        Just("values".to_owned()),
                        Just("value".to_owned()),
                        Just("username".to_owned()),
                        Just("password".to_owned()),
                        Just("mode".to_owned()),
                        Just("document".to_owned()),
                        Just("type".to_owned()),
                        text(),
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|fields| serde_json::Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn body() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        json_value().prop_map(|v| Some(v.to_string().into_bytes())),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(Some),
        Just(Some(b"{\"name\":".to_vec())),
    ]
}

fn generated(routes: usize) -> impl Strategy<Value = Generated> {
    (
        0..routes,
        prop::option::weighted(0.1, 0..7usize),
        prop::collection::vec(text(), 3),
        prop_oneof![text(), "([a-z]{1,8}=[^&#]{0,20}&){0,6}"],
        prop::collection::vec(header(), 0..5),
        body(),
    )
        .prop_map(
            |(route, method_swap, segments, query, headers, body)| Generated {
                route,
                method_swap,
                segments,
                query,
                headers,
                body,
            },
        )
}

/// Percent-encodes a path segment or query string (the router sees what a client can send).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn no_generated_request_makes_a_handler_fail() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (stack, admin) = runtime.block_on(async {
        let stack = Stack::new().await;
        let admin = stack.admin_auth().await;
        let r = stack
            .call(
                Method::POST,
                "/api/clients",
                &[("clientSecret", &client_secret())],
                Some(json!({"name": "demo", "settings": [{"name": "Greeting", "type": "string"}]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        (stack, admin)
    });
    let routes = fig_gateway::route_list();
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ];
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let by_status = std::sync::Mutex::new(std::collections::BTreeMap::<u16, usize>::new());
    let result = runner.run(&generated(routes.len()), |case| {
        let (method, template) = &routes[case.route];
        let method = match case.method_swap {
            Some(i) => methods[i].clone(),
            None => method.clone(),
        };
        // Each `{param}` gets a generated segment.
        let mut path = String::new();
        let mut segments = case.segments.iter();
        for part in template.split('/').filter(|p| !p.is_empty()) {
            path.push('/');
            if part.starts_with('{') {
                let segment = segments.next().map_or("x", String::as_str);
                if segment.starts_with('%') {
                    path.push_str(segment);
                } else {
                    path.push_str(&encode(segment));
                }
            } else {
                path.push_str(part);
            }
        }
        if !case.query.is_empty() {
            path.push('?');
            path.push_str(&case.query.replace(' ', "%20").replace('#', "%23"));
        }
        // Half the cases carry a real administrator's token (so they get past authentication).
        let mut headers: Vec<(&str, &str)> = case
            .headers
            .iter()
            .filter(|(n, v)| http::HeaderValue::from_str(v).is_ok() && !n.is_empty())
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        if case.route % 2 == 0 && !headers.iter().any(|(n, _)| *n == "authorization") {
            headers.push(("authorization", admin.as_str()));
        }
        let Ok(uri) = path.parse::<http::Uri>() else {
            return Ok(());
        };
        let reply = runtime.block_on(stack.call_raw(
            method.clone(),
            &uri.to_string(),
            &headers,
            case.body.clone(),
        ));
        *by_status
            .lock()
            .unwrap()
            .entry(reply.status.as_u16())
            .or_default() += 1;
        if reply.status.is_server_error() {
            return Err(TestCaseError::fail(format!(
                "{method} {path} -> {}: {}",
                reply.status, reply.text
            )));
        }
        // Every answer from the API is ours: JSON errors with a stable code.
        if !reply.status.is_success()
            && reply.status != StatusCode::NOT_MODIFIED
            && method != Method::HEAD
        {
            let code = reply.json["error"]["code"].as_str().unwrap_or("");
            if code.is_empty() || code.chars().any(|c| !(c.is_ascii_uppercase() || c == '_')) {
                return Err(TestCaseError::fail(format!(
                    "{method} {path} -> {} without a stable code: {}",
                    reply.status, reply.text
                )));
            }
        }
        Ok(())
    });
    println!("answers by status: {:?}", by_status.lock().unwrap());
    if let Err(e) = result {
        panic!("{e}");
    }
}
