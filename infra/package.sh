#!/usr/bin/env bash
# `make package`: the four Lambda functions for arm64 (provided.al2023), as the zip files the SAM
# template deploys (CodeUri: ../target/lambda/<function>/bootstrap.zip).
#
# cargo-lambda 1.9.2 (pinned; from PyPI, with the Zig linker it cross-compiles with) is installed
# on first use into <repo>/.tools/venv, and the aarch64-unknown-linux-gnu target with rustup. The
# release profile is the workspace's ([profile.release] in Cargo.toml). Exactly the functions in
# FUNCTIONS: not the local gateway, not figctl. Takes 6-10 minutes on two cores; not in make test.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.tools/venv"
CARGO_LAMBDA_VERSION="1.9.2"
FUNCTIONS=(fig-auth fig-settings fig-admin fig-events)

cd "$REPO"
if [[ ! -x "$VENV/bin/python" ]]; then
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
fi
if [[ "$("$VENV/bin/cargo-lambda" lambda --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LAMBDA_VERSION" ]]; then
  echo "package: installing cargo-lambda $CARGO_LAMBDA_VERSION into $VENV" >&2
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "cargo-lambda==$CARGO_LAMBDA_VERSION"
fi
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  echo "package: adding the rustup target aarch64-unknown-linux-gnu" >&2
  rustup target add aarch64-unknown-linux-gnu
fi

export PATH="$VENV/bin:$PATH"
start=$(date +%s)
cargo lambda build --release --arm64 --output-format zip \
  $(printf -- '--bin %s ' "${FUNCTIONS[@]}")
echo "package: built in $(( $(date +%s) - start )) s (release profile: Cargo.toml)"

printf '%-14s %12s %12s\n' function bootstrap zip
for f in "${FUNCTIONS[@]}"; do
  zip="target/lambda/$f/bootstrap.zip"
  [[ -f "$zip" ]] || { echo "package: $zip was not produced" >&2; exit 1; }
  unzipped=$("$VENV/bin/python" -c 'import sys, zipfile; print(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()))' "$zip")
  printf '%-14s %12s %12s\n' "$f" "$unzipped" "$(stat -c %s "$zip")"
done
