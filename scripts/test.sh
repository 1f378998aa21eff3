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
echo "== go tests (command plugin, task-pods)"
(cd scripts/toolchain/go/command && go test -count=1 ./...)
(cd components/vm/task-pods && go test -count=1 ./...)
echo "== tests"
# Integration tests start the local environment themselves; stop it afterwards unless it was
# already running before (a developer's environment stays as it was).
if ! node --import tsx cli/env.ts status >/dev/null 2>&1; then
	trap 'node --import tsx cli/env.ts down >/dev/null 2>&1 || true' EXIT
fi
shopt -s globstar nullglob
# The longest integration files first (their times: docs/developing.md), so that none of them starts
# last and runs alone while the other workers have nothing left; then the rest in path order.
first=()
for name in backups kube-backups bad-input fleet upgrade drift faults real-node environment fleet-vm signin signin-external ml install kubernetes; do
	first+=("test/integration/$name.test.ts")
done
files=("${first[@]}")
for f in test/unit/**/*.test.ts test/integration/**/*.test.ts policies/test/**/*.test.ts; do
	[[ " ${first[*]} " == *" $f "* ]] || files+=("$f")
done
# TEST_CONCURRENCY test files at a time (default 3): they share the local environment, and a case that
# stops or restarts a piece of it holds it alone meanwhile (withEnvironmentAlone, localenv).
node --import tsx --test --test-concurrency="${TEST_CONCURRENCY:-3}" --test-reporter=spec "${files[@]}"
