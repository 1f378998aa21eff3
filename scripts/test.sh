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
echo "== go tests (command plugin, task-pods, the language host's patches)"
(cd scripts/toolchain/go/command && go test -count=1 ./...)
bash scripts/toolchain.sh test-patches
(cd components/vm/task-pods && go test -count=1 ./...)
echo "== tests"
# Integration tests start the local environment themselves; stop it afterwards unless it was
# already running before (a developer's environment stays as it was).
if ! node --import tsx cli/env.ts status >/dev/null 2>&1; then
	trap 'node --import tsx cli/env.ts down >/dev/null 2>&1 || true' EXIT
fi
shopt -s globstar nullglob
# Three test files at a time: they share the local environment and mostly wait on it (engines, Keycloak,
# containers); a case that stops or restarts a piece does it to a piece of its own (ownPieces), and
# the one that must hold the environment alone (withEnvironmentAlone) waits for the others meanwhile.
node --import tsx --test --test-concurrency=3 --test-reporter=spec \
	test/unit/**/*.test.ts test/integration/**/*.test.ts policies/test/**/*.test.ts
