#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (web/e2e), if /usr/bin/chromium is missing.
# The tests drive it with playwright-core; no tool ever downloads a browser of its own.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
  exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-browser: need root or sudo to install chromium" >&2; exit 1; }
  SUDO=(sudo)
fi

echo "install-browser: installing chromium from the Debian archive" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
[[ -x /usr/bin/chromium ]] || { echo "install-browser: /usr/bin/chromium still missing" >&2; exit 1; }
/usr/bin/chromium --version >&2 || true
