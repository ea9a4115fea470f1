#!/usr/bin/env bash
# Dependencies, checked by `make test`:
#   1. cargo-deny (pinned; installed on first use into <repo>/.tools/cargo-deny, ~3 min): the
#      licences, banned and duplicated heavy crates, and sources in deny.toml.
#   2. npm audit of the web client: known vulnerabilities (high or critical) fail the check. Where
#      the registry's audit endpoint cannot be reached (this project's CI machine reaches the npm
#      registry through a proxy that refuses it), the audit is reported as not run, never as passed.
# Advisories for the Rust crates need the RustSec database (a git repository): `make advisories`
# on a machine with GitHub access (README, "Dependencies").
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DENY_VERSION="0.20.2"
DENY_ROOT="$REPO/.tools/cargo-deny"
DENY="$DENY_ROOT/bin/cargo-deny"
cd "$REPO"

if [[ "$("$DENY" --version 2>/dev/null)" != "cargo-deny $DENY_VERSION" ]]; then
  echo "deps: installing cargo-deny $DENY_VERSION into $DENY_ROOT (once)" >&2
  CARGO_TARGET_DIR="$REPO/target/tools" cargo install --quiet --locked --root "$DENY_ROOT" "cargo-deny@$DENY_VERSION"
fi
if [[ "${1:-}" == "advisories" ]]; then
  exec "$DENY" check advisories
fi
"$DENY" check --hide-inclusion-graph licenses bans sources

echo "deps: npm audit (web)" >&2
set +e
report="$(cd web && npm audit --json --audit-level=high 2>/dev/null)"
status=$?
set -e
python3 - "$status" "$report" <<'PY'
import json, sys
status = int(sys.argv[1])
report = json.loads(sys.argv[2] or "{}")
if "statusCode" in report or ("error" in report and "vulnerabilities" not in report):
    print(f"deps: npm audit NOT RUN: the registry's audit endpoint answered "
          f"{report.get('statusCode', '?')} ({report.get('message', 'no message')}); "
          "run 'cd web && npm audit' where it is reachable")
    sys.exit(0)
counts = report.get("metadata", {}).get("vulnerabilities", {})
print("deps: npm audit:", ", ".join(f"{k} {v}" for k, v in counts.items()))
if counts.get("high", 0) or counts.get("critical", 0):
    print("deps: npm audit found high or critical vulnerabilities: 'cd web && npm audit' lists "
          "them; 'npm audit fix' or a pinned upgrade in web/package.json fixes most")
    sys.exit(1)
PY
