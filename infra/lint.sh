#!/usr/bin/env bash
# Lints infra/template.yaml with cfn-lint, pinned in infra/requirements.txt and installed on first
# use into <repo>/.tools/venv. Two passes, both must be free of errors and warnings:
#   1. the SAM template as written;
#   2. the CloudFormation it expands to (aws-sam-translator), since cfn-lint skips some checks,
#      such as the validity of IAM actions, on templates that use the SAM transform.
# Then infra/test_policies.py compares every role's policy with one expected table, and
# infra/test_package.py checks that every CodeUri is a zip `make package` builds.
# Extra arguments go to both cfn-lint runs.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.tools/venv"
REQUIREMENTS="$REPO/infra/requirements.txt"
TEMPLATE="infra/template.yaml"
TRANSLATED="target/infra/template.translated.json"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "lint: creating virtualenv $VENV" >&2
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
fi
# Install unless every `name==version` pin is already met.
if ! "$VENV/bin/python" - "$REQUIREMENTS" <<'PY' 2>/dev/null; then
import importlib.metadata as m, re, sys
pins = [l.split("#")[0].strip() for l in open(sys.argv[1])]
for pin in filter(None, pins):
    name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", pin).groups()
    if m.version(name) != version:
        sys.exit(1)
PY
  echo "lint: installing $REQUIREMENTS into $VENV" >&2
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQUIREMENTS"
fi

cd "$REPO"
"$VENV/bin/cfn-lint" --version
echo "lint: cfn-lint $TEMPLATE" >&2
"$VENV/bin/cfn-lint" "$@" -- "$TEMPLATE"

echo "lint: cfn-lint $TEMPLATE expanded by the SAM translator ($TRANSLATED)" >&2
mkdir -p "$(dirname "$TRANSLATED")"
# The translator needs a region for pseudo parameters, and an S3 location for code that
# `sam package` would upload: stand-ins only, nothing is contacted.
AWS_DEFAULT_REGION=us-east-1 "$VENV/bin/python" - "$TEMPLATE" "$TRANSLATED" <<'PY'
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:  # the template uses no SAM policy templates or managed policy names
    def load(self):
        return {}

with open(sys.argv[1]) as f:
    template = yaml_parse(f.read())
for resource in template.get("Resources", {}).values():
    if resource.get("Type") == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = "s3://fig-lint-placeholder/code.zip"
with open(sys.argv[2], "w") as f:
    json.dump(transform(template, {}, NoManagedPolicies()), f, indent=1)
PY
"$VENV/bin/cfn-lint" "$@" -- "$TRANSLATED"

# Least privilege: every role's statements against the expected table in the test.
"$VENV/bin/python" infra/test_policies.py "$TEMPLATE"
# The template deploys exactly what `make package` builds.
"$VENV/bin/python" infra/test_package.py "$TEMPLATE"
# The services' Function URL: the settings function only, bounded.
"$VENV/bin/python" infra/test_function_url.py "$TEMPLATE"
# The alarms, their log metrics and their runbook entries.
"$VENV/bin/python" infra/test_alarms.py "$TEMPLATE"
echo "lint: $TEMPLATE passed"
