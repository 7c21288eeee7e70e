#!/usr/bin/env bash
# Refresh requirements/lock.txt (exact versions of the whole dependency tree) from pyproject.toml's open
# ranges and requirements/lock.in, then run the test suite on the refreshed versions in a fresh virtual
# environment. Usage: bash scripts/refresh-lock.sh   (review and commit the lock only if the suite passed)
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools/venv"
"$tools/venv/bin/pip" install -q "pip-tools>=7.4"
"$tools/venv/bin/pip-compile" -q --upgrade --strip-extras --no-emit-index-url --no-emit-find-links \
    --unsafe-package rnn-grader -o requirements/lock.txt requirements/lock.in
git --no-pager diff --stat -- requirements/lock.txt || true
# the suite on exactly what was just locked, the way CI installs it
bash .ci/run
