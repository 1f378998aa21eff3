#!/usr/bin/env bash
# Everything the stack and its tests need on a fresh machine: npm packages, then the toolchain.
#   scripts/setup.sh [core|main|env|all]   (the toolchain's groups: scripts/toolchain.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"

command -v node >/dev/null || die "node not found" "install Node.js 20 (Debian: apt-get install nodejs npm)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old" "install Node.js 20 or newer"

# npm ci only when the lock file (or a patch) changed since the last install. Install scripts are
# skipped: the provider SDKs' scripts would try to download plugins, which the toolchain builds
# instead. patches/ holds changes to installed packages (patch-package), applied to a fresh install.
npm_ci() { # npm_ci DIR
	local stamp="$1/node_modules/.cytomine-lock-hash" hash
	hash="$({
		cat "$1/package-lock.json"
		# A glob that matches nothing stays literal: skip it (under pipefail its cat would end the script).
		for patch in "$1"/patches/*.patch; do
			if [ -e "$patch" ]; then cat "$patch"; fi
		done
	} | sha256sum | cut -d' ' -f1)"
	if [ "$(cat "$stamp" 2>/dev/null)" != "$hash" ]; then
		echo "npm ci in ${1#"$ROOT"/}"
		(cd "$1" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
			die "npm ci failed in $1" "check that the npm registry is reachable, then re-run"
		if [ -d "$1/patches" ]; then
			(cd "$1" && npx --no-install patch-package --error-on-fail) ||
				die "a patch in $1/patches no longer applies" "update it for the installed version (see patches/README.md)"
		fi
		echo "$hash" >"$stamp"
	fi
}
# The npm installs download while the toolchain compiles; neither needs the other.
(
	npm_ci "$ROOT"
	npm_ci "$ROOT/policies"
) &
npm_pid=$!
trap 'kill "$npm_pid" 2>/dev/null || true' EXIT
bash "$ROOT/scripts/toolchain.sh" "${1:-all}"
wait "$npm_pid" || exit 1
trap - EXIT
