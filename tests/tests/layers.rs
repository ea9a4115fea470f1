//! The layering that docs/ARCHITECTURE.md §2 describes, held by tests so it cannot come back
//! undone: Cargo already refuses a cycle between crates; these refuse a crate that reaches past
//! its layer (a dependency it must not have) and a cycle between the modules of one crate
//! (which the compiler allows).
//!
//! No emulator: they read the manifests and sources of the workspace.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names in a manifest's `[dependencies]` table, with whether each is optional.
fn dependencies(manifest: &str) -> BTreeMap<String, bool> {
    let text = read(&root().join(manifest));
    let mut names = BTreeMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if !inside || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line
            .split(['=', '.'])
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        names.insert(name, line.contains("optional = true"));
    }
    names
}

const AWS_SDK: &[&str] = &[
    "aws-config",
    "aws-sdk-dynamodb",
    "aws-sdk-kms",
    "aws-sdk-s3",
    "serde_dynamo",
];
const HTTP_AND_LAMBDA: &[&str] = &["axum", "lambda_http", "lambda_runtime_api_client"];

fn assert_none_of(manifest: &str, forbidden: &[&str], why: &str) {
    let deps = dependencies(manifest);
    for name in forbidden {
        assert!(
            !deps.contains_key(*name),
            "{manifest} depends on {name}: {why}"
        );
    }
}

fn fig_crates(manifest: &str) -> BTreeSet<String> {
    dependencies(manifest)
        .into_keys()
        .filter(|name| name.starts_with("fig-"))
        .collect()
}

/// The cryptographic primitives: only the crypto facade (`fig_core::crypto`) calls them.
const PRIMITIVES: &[&str] = &[
    "aes-gcm",
    "argon2",
    "hmac",
    "sha2",
    "subtle",
    "totp-rs",
    "aws-lc-rs",
    "rand",
];

#[test]
fn only_the_crypto_facade_calls_the_primitives() {
    for manifest in [
        "shared/aws/Cargo.toml",
        "shared/Cargo.toml",
        "shared/http/Cargo.toml",
        "functions/auth/Cargo.toml",
        "functions/settings/Cargo.toml",
        "functions/admin/Cargo.toml",
        "functions/events/Cargo.toml",
        "localstack/gateway/Cargo.toml",
    ] {
        assert_none_of(
            manifest,
            PRIMITIVES,
            "cryptography goes through fig_core::crypto",
        );
    }
    // Inside the core, only the facade's files name them.
    let dir = root().join("shared/core/src");
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|x| x != "rs") || path.ends_with("crypto.rs") {
            continue;
        }
        let text = read(&path);
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for primitive in [
            "aes_gcm::",
            "argon2::",
            "hmac::",
            "sha2::",
            "subtle::",
            "totp_rs::",
        ] {
            assert!(
                !code.contains(primitive),
                "{} names {primitive}: cryptography goes through the facade",
                path.display()
            );
        }
    }
}

#[test]
fn each_crate_builds_only_on_the_layers_below_it() {
    // fig-core: pure types and rules. No AWS, no Lambda; axum only behind its feature.
    assert!(fig_crates("shared/core/Cargo.toml").is_empty());
    assert_none_of(
        "shared/core/Cargo.toml",
        AWS_SDK,
        "the core talks to no AWS service",
    );
    assert_none_of(
        "shared/core/Cargo.toml",
        &["lambda_http", "lambda_runtime_api_client"],
        "the core knows no Lambda",
    );
    assert_eq!(
        dependencies("shared/core/Cargo.toml").get("axum"),
        Some(&true),
        "axum is an optional dependency of the core (the `axum` feature)"
    );
    // fig-aws: on the core only; no HTTP.
    assert_eq!(
        fig_crates("shared/aws/Cargo.toml"),
        BTreeSet::from(["fig-core".to_owned()])
    );
    assert_none_of(
        "shared/aws/Cargo.toml",
        HTTP_AND_LAMBDA,
        "storage serves no HTTP",
    );
    // fig-shared, the operations: on fig-aws and fig-core; no HTTP types.
    assert_eq!(
        fig_crates("shared/Cargo.toml"),
        BTreeSet::from(["fig-aws".to_owned(), "fig-core".to_owned()])
    );
    assert_none_of(
        "shared/Cargo.toml",
        HTTP_AND_LAMBDA,
        "operations take the event Source, not an HTTP type",
    );
    // DynamoDB is spoken by the storage crate alone: the operations and the functions write
    // through fig_aws::store's typed writes (`Write`, `AttrValue`), never SDK items.
    for manifest in [
        "shared/Cargo.toml",
        "shared/http/Cargo.toml",
        "functions/auth/Cargo.toml",
        "functions/settings/Cargo.toml",
        "functions/admin/Cargo.toml",
        "functions/events/Cargo.toml",
        "sdk/Cargo.toml",
    ] {
        assert_none_of(
            manifest,
            &["aws-sdk-dynamodb"],
            "DynamoDB requests are built in fig_aws::store",
        );
    }
    // figctl and the client library: never the operations or the HTTP glue.
    let sdk = fig_crates("sdk/Cargo.toml");
    assert!(
        !sdk.contains("fig-shared") && !sdk.contains("fig-http"),
        "{sdk:?}"
    );
    assert_none_of("sdk/Cargo.toml", HTTP_AND_LAMBDA, "figctl serves no HTTP");
}

/// The modules of the crate in `src` and, for each, the modules of the same crate it names
/// (`crate::module`), outside comments and test modules.
fn module_graph(src: &str) -> BTreeMap<String, BTreeSet<String>> {
    let dir = root().join(src);
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    let module = |p: &PathBuf| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned()
    };
    let modules: BTreeSet<String> = files
        .iter()
        .map(module)
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let name = module(file);
        if !modules.contains(&name) {
            continue;
        }
        // A module's own file and, for a module with submodules (`clients/*.rs`), theirs;
        // not its unit tests (`clients/tests.rs`, declared under `#[cfg(test)]`), which may
        // call any module, as the tests after `#[cfg(test)]` in a file may.
        let mut texts = vec![read(file)];
        if let Ok(children) = std::fs::read_dir(dir.join(&name)) {
            texts.extend(
                children
                    .flatten()
                    .map(|c| c.path())
                    .filter(|p| !p.ends_with("tests.rs"))
                    .map(|p| read(&p)),
            );
        }
        let code: Vec<&str> = texts
            .iter()
            .map(|text| text.split("#[cfg(test)]").next().unwrap_or_default())
            .collect();
        let mut uses = BTreeSet::new();
        for line in code
            .iter()
            .flat_map(|c| c.lines())
            .filter(|l| !l.trim_start().starts_with("//"))
        {
            for (at, _) in line.match_indices("crate::") {
                let used: String = line[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                if used != name && modules.contains(&used) {
                    uses.insert(used);
                }
            }
        }
        graph.insert(name, uses);
    }
    graph
}

/// A cycle in `graph`, as the path that closes it, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_a_module_cycle() {
    for src in [
        "shared/core/src",
        "shared/aws/src",
        "shared/src",
        "shared/http/src",
    ] {
        let graph = module_graph(src);
        assert!(!graph.is_empty(), "{src}: no modules found");
        if let Some(cycle) = find_cycle(&graph) {
            panic!("{src}: module cycle {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let edges = |pairs: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in pairs {
            graph
                .entry((*a).to_owned())
                .or_default()
                .insert((*b).to_owned());
            graph.entry((*b).to_owned()).or_default();
        }
        graph
    };
    assert_eq!(
        find_cycle(&edges(&[
            ("admin", "clients"),
            ("clients", "app"),
            ("app", "admin")
        ])),
        Some(vec![
            "admin".to_owned(),
            "clients".to_owned(),
            "app".to_owned(),
            "admin".to_owned()
        ])
    );
    assert_eq!(
        find_cycle(&edges(&[("a", "b"), ("a", "c"), ("b", "c")])),
        None
    );
}
