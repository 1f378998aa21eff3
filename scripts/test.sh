#!/usr/bin/env bash
# README command 2: set everything up, lint, then run the unit and integration tests in one
# node:test run (one summary). Integration tests start the local environment themselves.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"
cd "$ROOT"

bash scripts/setup.sh all
echo "== lint"
npm run --silent lint
echo "== tests"
shopt -s globstar nullglob
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec \
	test/unit/**/*.test.ts test/integration/**/*.test.ts policies/test/**/*.test.ts
