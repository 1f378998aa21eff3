#!/usr/bin/env bash
# Builds or finds every pinned tool the stack needs, from the package registries only.
#
#   scripts/toolchain.sh [core|main|env|all|command|test-patches]   (default: all)
#
# core:    pulumi CLI + Node.js language host + provider plugins, registered with the CLI.
# main:    core, and what the dev stack's environment runs (`npm run main`): etcd,
#          kube-apiserver/-controller-manager/-scheduler, kubectl, kwok, Keycloak.
# env:     main's environment tools, and the rest the tests use: the Debian packages (SSH host, docker
#          engine, browser, PostgreSQL), kubelet, kube-proxy, the pause binary, CoreDNS, kube-router
#          (its NetworkPolicy firewall only), local-path-provisioner, kube-score, S3Proxy, the image
#          registry (distribution) for the registry:2.8.3 image.
# all:     core and env.
# command: only the command provider plugin (and the pulumi CLI that registers it).
# test-patches: the Go tests of the patched Node.js language host (go/pulumi/patches), nothing built.
#
# Independent steps run side by side: downloads beside compiles, and CYTOMINE_GO_JOBS (default 2)
# compiles at once. Each prints a line when it starts and when it ends, and a heartbeat every 30 s.
#
# Every tool lands in $CYTOMINE_CACHE/tools/<name>-<version>/ (default ~/.cache/cytomine-fallback),
# built in a temporary directory and moved into place only when complete, so an interrupted build
# is never taken for a good one. A second run finds everything and takes seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/toolchain/versions.env
source "$ROOT/scripts/toolchain/versions.env"
# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"

GROUP="${1:-all}"
case "$GROUP" in core | main | env | all | command | test-patches) ;; *) die "unknown group '$GROUP'" "use one of: core, main, env, all, command, test-patches" ;; esac

TOOLS="$CYTOMINE_CACHE/tools"
LOGS="$CYTOMINE_CACHE/logs"
mkdir -p "$TOOLS" "$LOGS" "$CYTOMINE_BIN"

# Go builds: static, reproducible paths, never a toolchain download. The proxy here does not mirror
# sum.golang.org for the pulumi and terraform-providers modules, so those are verified against the
# committed go.sum files.
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-trimpath GONOSUMDB=github.com/pulumi,github.com/terraform-providers,github.com/keycloak

STEP=0
TOTAL=0
T_START=$SECONDS
# Go builds at once. Each already compiles on every core, but a lone build leaves cores idle while it
# downloads modules, runs a generator or links (one thread); a second one fills those gaps.
GO_JOBS="${CYTOMINE_GO_JOBS:-2}"
[[ "$GO_JOBS" =~ ^[1-9][0-9]*$ ]] || die "CYTOMINE_GO_JOBS=$GO_JOBS is not a whole number of at least 1" "unset it (2 compiles at once) or set e.g. CYTOMINE_GO_JOBS=1"

# tool_dir NAME VERSION -> where a finished build of that tool lives.
tool_dir() { echo "$TOOLS/$1-$2"; }

# inputs_hash PATH...: a digest of the committed build inputs (wrapper modules, patches), so that
# changing them rebuilds the tool even when its version stays the same.
# Paths are relative to the checkout, so that every clone computes the same digest.
inputs_hash() {
	[ $# -eq 0 ] && return
	(cd "$ROOT" && find "$@" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

# The steps waiting to start (in the order they were asked for) and running, by tool name: pid,
# number, start time, kind, title, and what starting and finishing need.
declare -A JOB_PID=() JOB_NUM=() JOB_T0=() JOB_KIND=() JOB_FN=() JOB_TITLE=() JOB_OUT=() JOB_DIR=() JOB_STAMP=() JOB_LOG=()
PENDING=()
LAST_BEAT=$SECONDS

# step KIND TITLE NAME VERSION FUNCTION [INPUT...]: queue FUNCTION, run in the background with $OUT set
# to a fresh temporary directory; finish_step moves it to tool_dir once it succeeds. KIND is io (a
# download: starts at once) or cpu[/GROUP] (a compile: at most GO_JOBS at once, and never beside a
# step of the same GROUP, which compiles the same module versions: Go's build cache does not share
# a package two builds compile at the same time). A finished build carries a stamp with its version
# and inputs digest; anything else found there (half-built, other inputs) is rebuilt. Progress: one
# line when a step starts and one when it ends, and a heartbeat line per running step; on failure,
# the log tail and a hint.
step() {
	local kind="$1" title="$2" name="$3" version="$4" fn="$5"
	shift 5
	STEP=$((STEP + 1))
	local dir stamp
	dir="$(tool_dir "$name" "$version")"
	stamp="$version $(inputs_hash "$@")"
	if [ "$(cat "$dir/.complete" 2>/dev/null)" = "$stamp" ]; then
		printf '[%d/%d] %s %s: cached (%s)\n' "$STEP" "$TOTAL" "$title" "$version" "$dir"
		return 0
	fi
	# A directory without the right stamp is a half-finished or outdated build: never trust it.
	[ -e "$dir" ] && rm -rf "$dir"
	JOB_NUM[$name]=$STEP
	JOB_KIND[$name]=$kind
	JOB_FN[$name]=$fn
	JOB_TITLE[$name]="$title $version"
	JOB_DIR[$name]=$dir
	JOB_STAMP[$name]=$stamp
	JOB_LOG[$name]="$LOGS/$name-$version.log"
	PENDING+=("$name")
	start_ready
}

# can_start NAME: whether the queued step may start now.
can_start() {
	local kind="${JOB_KIND[$1]}" other cpu=0
	[ "$kind" = io ] && return 0
	for other in "${!JOB_PID[@]}"; do
		[ "${JOB_KIND[$other]}" = io ] && continue
		cpu=$((cpu + 1))
		[ "$kind" != cpu ] && [ "${JOB_KIND[$other]}" = "$kind" ] && return 1
	done
	[ "$cpu" -lt "$GO_JOBS" ]
}

# start_ready: start every queued step that may start, in queue order.
start_ready() {
	local name waiting=()
	for name in "${PENDING[@]}"; do
		if can_start "$name"; then
			printf '[%d/%d] %s: building (log: %s)\n' "${JOB_NUM[$name]}" "$TOTAL" "${JOB_TITLE[$name]}" "${JOB_LOG[$name]}"
			JOB_OUT[$name]="$(mktemp -d "$TOOLS/.$(basename "${JOB_DIR[$name]}").XXXXXX")"
			(
				export OUT="${JOB_OUT[$name]}"
				"${JOB_FN[$name]}"
			) >"${JOB_LOG[$name]}" 2>&1 &
			JOB_PID[$name]=$!
			JOB_T0[$name]=$SECONDS
		else
			waiting+=("$name")
		fi
	done
	PENDING=("${waiting[@]}")
}

# poll_steps: finish the steps that ended, start what may start now, and print the heartbeat every 30 s.
poll_steps() {
	sleep 1
	local name
	for name in "${!JOB_PID[@]}"; do
		kill -0 "${JOB_PID[$name]}" 2>/dev/null || finish_step "$name"
	done
	start_ready
	if [ $((SECONDS - LAST_BEAT)) -ge 30 ] && [ ${#JOB_PID[@]} -gt 0 ]; then
		LAST_BEAT=$SECONDS
		for name in "${!JOB_PID[@]}"; do
			printf '      ... %s: still working, %s elapsed (total %s)\n' "${JOB_TITLE[$name]}" \
				"$(elapsed $((SECONDS - JOB_T0[$name])))" "$(elapsed $((SECONDS - T_START)))"
		done
	fi
}

finish_step() { # finish_step NAME: record a finished step, or stop everything when it failed
	local name="$1" took
	took="$(elapsed $((SECONDS - JOB_T0[$name])))"
	if ! wait "${JOB_PID[$name]}"; then
		rm -rf "${JOB_OUT[$name]}"
		unset "JOB_PID[$name]"
		stop_steps
		printf '\n%s FAILED after %s. Last lines of %s:\n' "${JOB_TITLE[$name]}" "$took" "${JOB_LOG[$name]}" >&2
		tail -n 25 "${JOB_LOG[$name]}" | sed 's/^/    /' >&2
		die "${JOB_TITLE[$name]} did not build" "$(hint_for "${JOB_LOG[$name]}")"
	fi
	echo "${JOB_STAMP[$name]}" >"${JOB_OUT[$name]}/.complete"
	mv "${JOB_OUT[$name]}" "${JOB_DIR[$name]}"
	printf '      %s: done in %s\n' "${JOB_TITLE[$name]}" "$took"
	unset "JOB_PID[$name]"
}

# queued NAME: whether the step waits to start or runs.
queued() {
	[ -n "${JOB_PID[$1]:-}" ] && return 0
	local p
	for p in "${PENDING[@]}"; do [ "$p" = "$1" ] && return 0; done
	return 1
}

# wait_steps [NAME...]: until the named steps (default: every step) have finished.
wait_steps() {
	local name
	if [ $# -eq 0 ]; then
		while [ ${#JOB_PID[@]} -gt 0 ] || [ ${#PENDING[@]} -gt 0 ]; do poll_steps; done
	fi
	for name in "$@"; do
		while queued "$name"; do poll_steps; done
	done
}

# stop_steps: the other builds are abandoned (their temporary directories removed) when one fails
# or the script is interrupted, so no compiler outlives it.
stop_steps() {
	local name
	for name in "${!JOB_PID[@]}"; do
		pkill -TERM -P "${JOB_PID[$name]}" 2>/dev/null || true
		kill -TERM "${JOB_PID[$name]}" 2>/dev/null || true
		wait "${JOB_PID[$name]}" 2>/dev/null || true
		rm -rf "${JOB_OUT[$name]}"
		unset "JOB_PID[$name]"
	done
	PENDING=()
}
trap 'stop_steps' EXIT
trap 'exit 130' INT TERM

# hint_for LOG: the most likely fix for a failed step, read from its log.
hint_for() {
	if grep -qE '403 Forbidden|not available' "$1"; then
		echo "the Go module proxy does not serve a module version named in the log; the pins in scripts/toolchain/versions.env must name versions it serves"
	elif grep -qE 'dial tcp|no such host|connection refused|i/o timeout|Could not transfer artifact' "$1"; then
		echo "a package registry is unreachable: check the network or proxy settings, then re-run (finished tools are kept)"
	elif grep -qE 'checksum mismatch|SECURITY ERROR|zip: not a valid zip file' "$1"; then
		echo "the Go module cache looks corrupt: run 'go clean -modcache' and re-run"
	elif grep -qE 'no space left' "$1"; then
		echo "the disk is full: free space under $CYTOMINE_CACHE or set CYTOMINE_CACHE elsewhere"
	else
		echo "read the log above; re-running resumes after the last finished tool"
	fi
}

require_cmd() { # require_cmd CMD FIX
	command -v "$1" >/dev/null 2>&1 || die "$1 not found" "$2"
}

check_prerequisites() {
	require_cmd go "install Go 1.24 or newer (Debian: apt-get install golang, or https://go.dev/dl)"
	local gov
	gov="$(go env GOVERSION | sed 's/^go//')"
	version_ge "$gov" 1.24 || die "Go $gov is too old" "install Go 1.24 or newer"
	require_cmd node "install Node.js 20 (Debian: apt-get install nodejs)"
	if [ "$GROUP" != core ] && [ "$GROUP" != command ]; then
		require_cmd java "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
		require_cmd mvn "install Maven (Debian: apt-get install maven)"
	fi
}

# ---- core: Pulumi CLI, language host and providers -------------------------------------------

# The wrapper module go/pulumi in DIR, its Node.js language host a copy of the pinned module with
# go/pulumi/patches applied (their README says what each does).
pulumi_sources() { # pulumi_sources DIR
	cp "$ROOT"/scripts/toolchain/go/pulumi/{go.mod,go.sum,tools.go} "$1/"
	(cd "$1" && use_patched_module "github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3@$PULUMI_LANGUAGE_NODEJS_MODULE" \
		"$ROOT/scripts/toolchain/go/pulumi/patches" language-host)
}

# use_patched_module MODULE@VERSION PATCHES DIR: in the wrapper module of the current folder, build
# MODULE from a copy of it in DIR with PATCHES/*.patch applied (go mod edit -replace).
use_patched_module() {
	cp -r "$(module_dir "$1")" "$3" && chmod -R u+w "$3"
	for p in "$2"/*.patch; do patch -d "$3" -p1 --forward <"$p"; done
	go mod edit -replace "${1%@*}=./$3"
}

build_pulumi() {
	pulumi_sources "$OUT"
	cd "$OUT"
	go build -mod=readonly -tags osusergo,grpcnotrace \
		-ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
		-o "$OUT/" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
		github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
	rm -rf "$OUT"/go.mod "$OUT"/go.sum "$OUT"/tools.go "$OUT/language-host"
	# Before v3.221 the CLI starts policy packs and dynamic providers through these two tiny
	# launchers that the release archives ship; they only hand over to @pulumi/pulumi.
	write_node_launcher "$OUT/pulumi-analyzer-policy" cmd/run-policy-pack
	write_node_launcher "$OUT/pulumi-resource-pulumi-nodejs" cmd/dynamic-provider
	"$OUT/pulumi" version | grep -qx "v$PULUMI_VERSION"
}

write_node_launcher() { # write_node_launcher FILE MODULE: run @pulumi/pulumi/MODULE from the project.
	cat >"$1" <<EOF
#!/bin/sh
exec node "\$(node -e "process.stdout.write(require.resolve('@pulumi/pulumi/$2', { paths: [process.cwd()] }))")" "\$@"
EOF
	chmod +x "$1"
}

find_or_build_pulumi() {
	local found
	found="$(command -v pulumi 2>/dev/null || true)"
	if [ -n "$found" ] && [ "$found" != "$CYTOMINE_BIN/pulumi-root/bin/pulumi" ]; then
		local v
		v="$("$found" version 2>/dev/null | sed 's/^v//')"
		if [ -n "$v" ] && version_ge "$v" "$PULUMI_VERSION" && [ "${v%%.*}" = 3 ] &&
			[ -x "$(dirname "$found")/pulumi-language-nodejs" ]; then
			STEP=$((STEP + 1))
			printf '[%d/%d] pulumi CLI: using %s (v%s) found on PATH\n' "$STEP" "$TOTAL" "$found" "$v"
			mkdir -p "$CYTOMINE_BIN/pulumi-root" && ln -sfn "$(dirname "$found")" "$CYTOMINE_BIN/pulumi-root/bin"
			PULUMI_ON_PATH=1
			return
		fi
	fi
	step cpu/pulumi-sdk "pulumi CLI + Node.js language host" pulumi "$PULUMI_VERSION" build_pulumi scripts/toolchain/go/pulumi
}

# link_pulumi: once the build finished, the CLI the scripts and the Automation API run.
link_pulumi() {
	[ -n "${PULUMI_ON_PATH:-}" ] && return
	wait_steps pulumi
	mkdir -p "$CYTOMINE_BIN/pulumi-root" && ln -sfn "$(tool_dir pulumi "$PULUMI_VERSION")" "$CYTOMINE_BIN/pulumi-root/bin"
}

# module_dir MODULE@VERSION: the module's directory in the module cache, downloaded if needed.
module_dir() {
	go mod download -json "$1" |
		node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);if(j.Error)throw new Error(j.Error);console.log(j.Dir)})'
}

build_kubernetes_provider() {
	cp -r "$(module_dir "github.com/pulumi/pulumi-kubernetes/provider/v4@$KUBERNETES_PROVIDER_MODULE")" "$OUT/src"
	chmod -R u+w "$OUT/src"
	cd "$OUT/src"
	# The module's replace points the SDK at the repository's sdk folder, which the module zip lacks;
	# the build takes the SDK from the proxy instead (two small packages of it, after patch 0001).
	go mod edit -dropreplace github.com/pulumi/pulumi-kubernetes/sdk/v4
	cp "$ROOT/scripts/toolchain/go/kubernetes-provider/go.sum" go.sum
	for p in "$ROOT"/scripts/toolchain/go/kubernetes-provider/patches/*.patch; do patch -p1 --forward <"$p"; done
	(cd cmd/pulumi-resource-kubernetes && VERSION="$KUBERNETES_PROVIDER_VERSION" go run -mod=readonly ./generate.go)
	go build -mod=readonly -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION" \
		-o "$OUT/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes
	cd "$OUT" && rm -rf "$OUT/src"
}

# Plugins built from an upstream Terraform provider and Pulumi's Terraform bridge (go/random,
# go/keycloak): tfgen writes the package schema and bridge metadata that the plugin then embeds.
# Patches in go/NAME/patches/ are applied to a copy of the upstream module UPSTREAM first.
# build_bridged_provider NAME LDFLAG_VARIABLE VERSION [UPSTREAM]
build_bridged_provider() {
	local name="$1" ld="-s -w -X $2=$3" upstream="${4:-}"
	cp -r "$ROOT/scripts/toolchain/go/$name/." "$OUT/src"
	cd "$OUT/src"
	if [ -n "$upstream" ]; then
		# The version the wrapper's go.mod pins.
		use_patched_module "$(go list -m "$upstream" | tr ' ' '@')" patches upstream
	fi
	go build -mod=readonly -ldflags "$ld" -o "$OUT/pulumi-tfgen-$name" "./cmd/pulumi-tfgen-$name"
	"$OUT/pulumi-tfgen-$name" schema --out "cmd/pulumi-resource-$name"
	go build -mod=readonly -ldflags "$ld" -o "$OUT/pulumi-resource-$name" "./cmd/pulumi-resource-$name"
	cd "$OUT" && rm -rf "$OUT/src" "$OUT/pulumi-tfgen-$name"
}

build_random_provider() {
	build_bridged_provider random github.com/terraform-providers/terraform-provider-random/pulumibridge/provider.Version "$RANDOM_PROVIDER_VERSION"
}

build_keycloak_provider() {
	build_bridged_provider keycloak local/pulumi-keycloak-bridge/provider.Version "$KEYCLOAK_PROVIDER_VERSION" \
		github.com/keycloak/terraform-provider-keycloak
}

# The command plugin: @pulumi/command's provider is not served by the Go module proxy, so go/command
# implements the resource types the stack uses on Pulumi's provider protocol (see its README.md).
build_command_provider() {
	cp -r "$ROOT/scripts/toolchain/go/command/." "$OUT/src"
	cd "$OUT/src"
	go build -mod=readonly -ldflags "-s -w -X cytomine-fallback/toolchain/command/provider.Version=$COMMAND_PROVIDER_VERSION" \
		-o "$OUT/pulumi-resource-command" ./cmd/pulumi-resource-command
	cd "$OUT" && rm -rf "$OUT/src"
}

# Marks the command plugin registrations that this script made, to tell them from an upstream one.
COMMAND_BUILD_MARKER=.built-by-cytomine-toolchain

command_plugin_dir() { echo "$PULUMI_HOME/plugins/resource-command-v$COMMAND_PROVIDER_VERSION"; }

# upstream_command_plugin: true when the upstream plugin of the pinned version is registered
# (installed where downloads are allowed); it is then used instead of building go/command.
upstream_command_plugin() {
	local d
	d="$(command_plugin_dir)"
	[ -x "$d/pulumi-resource-command" ] && [ ! -e "$d/$COMMAND_BUILD_MARKER" ]
}

build_or_find_command_provider() {
	if upstream_command_plugin; then
		STEP=$((STEP + 1))
		printf '[%d/%d] command provider plugin %s: using the registered upstream plugin (%s)\n' "$STEP" "$TOTAL" \
			"$COMMAND_PROVIDER_VERSION" "$(command_plugin_dir)"
		return
	fi
	step cpu/pulumi-sdk "command provider plugin (go/command)" pulumi-resource-command "$COMMAND_PROVIDER_VERSION" \
		build_command_provider scripts/toolchain/go/command
}

register_command_plugin() {
	upstream_command_plugin && return
	register_plugin command "$COMMAND_PROVIDER_VERSION" \
		"$(tool_dir pulumi-resource-command "$COMMAND_PROVIDER_VERSION")/pulumi-resource-command"
	touch "$(command_plugin_dir)/$COMMAND_BUILD_MARKER"
}

# Registers a built plugin with the CLI at exactly the version the npm SDK asks for, so the engine
# finds it in $PULUMI_HOME/plugins and never tries a download.
register_plugin() { # register_plugin NAME VERSION BINARY
	local installed="$PULUMI_HOME/plugins/resource-$1-v$2/pulumi-resource-$1"
	cmp -s "$3" "$installed" && return
	# A different binary under the same version (rebuilt with other inputs) replaces the old one.
	[ -e "$installed" ] && pulumi plugin rm resource "$1" "$2" --yes >>"$LOGS/plugins.log" 2>&1
	pulumi plugin install resource "$1" "$2" --file "$3" >>"$LOGS/plugins.log" 2>&1 ||
		die "pulumi plugin install of $1 $2 failed (log: $LOGS/plugins.log)" "re-run; if it persists, remove $PULUMI_HOME/plugins/resource-$1-v$2*"
}

# start_core: the CLI and the provider plugins other than kubernetes (main starts that one first).
start_core() {
	find_or_build_pulumi
	step cpu/bridge "random provider plugin (Terraform provider, bridged)" pulumi-resource-random "$RANDOM_PROVIDER_VERSION" \
		build_random_provider scripts/toolchain/go/random
	step cpu/bridge "keycloak provider plugin (Terraform provider, bridged)" pulumi-resource-keycloak "$KEYCLOAK_PROVIDER_VERSION" \
		build_keycloak_provider scripts/toolchain/go/keycloak
	build_or_find_command_provider
}

# register_core: once the CLI and the plugins are built, the plugins registered with it.
register_core() {
	link_pulumi
	wait_steps pulumi-resource-kubernetes pulumi-resource-random pulumi-resource-keycloak pulumi-resource-command
	STEP=$((STEP + 1))
	printf '[%d/%d] registering provider plugins with the CLI\n' "$STEP" "$TOTAL"
	register_plugin kubernetes "$KUBERNETES_PROVIDER_VERSION" "$(tool_dir pulumi-resource-kubernetes "$KUBERNETES_PROVIDER_VERSION")/pulumi-resource-kubernetes"
	register_plugin random "$RANDOM_PROVIDER_VERSION" "$(tool_dir pulumi-resource-random "$RANDOM_PROVIDER_VERSION")/pulumi-resource-random"
	register_plugin keycloak "$KEYCLOAK_PROVIDER_VERSION" "$(tool_dir pulumi-resource-keycloak "$KEYCLOAK_PROVIDER_VERSION")/pulumi-resource-keycloak"
	register_command_plugin
	for p in "aws $AWS_PROVIDER_VERSION"; do
		set -- $p
		pulumi plugin ls 2>/dev/null | awk -v n="$1" -v v="$2" '$1==n && $3==v {f=1} END {exit !f}' ||
			printf '      note: plugin %s %s is not available (the registries do not serve its source; README, "What cannot be built here")\n' "$1" "$2"
	done
}

# command: the command plugin alone, for working on go/command.
command_only() {
	find_or_build_pulumi
	build_or_find_command_provider
	link_pulumi
	wait_steps pulumi-resource-command
	STEP=$((STEP + 1))
	printf '[%d/%d] registering the command plugin with the CLI\n' "$STEP" "$TOTAL"
	register_command_plugin
}

# ---- env: local Kubernetes API and Keycloak -------------------------------------------------

build_etcd() {
	cp "$ROOT"/scripts/toolchain/go/etcd/{go.mod,go.sum,tools.go} "$OUT/"
	cd "$OUT" && go build -mod=readonly -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3
	rm -f go.mod go.sum tools.go
}

build_kubernetes() { # build_kubernetes PACKAGE...
	cp "$ROOT"/scripts/toolchain/go/kubernetes/{go.mod,go.sum,tools.go} "$OUT/"
	cd "$OUT"
	local minor="${KUBERNETES_VERSION#1.}"
	minor="${minor%%.*}"
	# kwokctl reads `--version` to choose flags, so the version must be stamped in.
	go build -mod=readonly -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$KUBERNETES_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
		-o "$OUT/" "$@"
}

# The control plane KWOK's nodes need (all the dev stack needs).
build_kubernetes_control_plane() {
	build_kubernetes k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
	rm -f go.mod go.sum tools.go
}

# The real node's kubelet and kube-proxy, from the same release.
build_kubernetes_node() {
	build_kubernetes k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
	# The real node's sandbox ("pause") image holds only this program, from the same release's
	# build/pause/linux/pause.c; no image can be pulled here (localenv/node.ts builds the image).
	gcc -Os -Wall -Werror -static -DVERSION="v$KUBERNETES_VERSION" -o "$OUT/pause" \
		"$(module_dir "k8s.io/kubernetes@v$KUBERNETES_VERSION")/build/pause/linux/pause.c"
	rm -f go.mod go.sum tools.go
}

# The real node's cluster DNS (a host process serving the node's pod bridge: localenv/node.ts).
build_coredns() {
	GOBIN="$OUT" go install -ldflags "-s -w" "github.com/coredns/coredns@v$COREDNS_VERSION"
}

# The real node's volume provisioner: directories on the node, made writable by a helper pod.
build_local_path_provisioner() {
	GOBIN="$OUT" go install -ldflags "-s -w" "github.com/rancher/local-path-provisioner@v$LOCAL_PATH_PROVISIONER_VERSION"
}

# The real node's NetworkPolicy agent: kube-router's firewall alone (iptables and ipsets), as k3s
# embeds it. kube-network-policies, which kind uses, queues packets with nftables' `queue` statement,
# and this machine's kernel lacks it (CONFIG_NFT_QUEUE unset: "Could not process rule").
build_kube_router() {
	GOBIN="$OUT" go install -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v$KUBE_ROUTER_VERSION" \
		"github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@v$KUBE_ROUTER_VERSION"
}

build_kwok() {
	GOBIN="$OUT" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@v$KWOK_VERSION"
}

# The app engine's task-image registry (registry:2.8.3 in the stack): distribution's registry program,
# which localenv/standins.ts puts into the image of that name (no image can be pulled here).
build_registry() {
	GOBIN="$OUT" go install -ldflags "-s -w" "github.com/distribution/distribution/v3/cmd/registry@v$DISTRIBUTION_VERSION"
}

# The VM target's pods API for the app engine's task runs (components/vm/task-pods): this project's
# own program, standard library only, which localenv/standins.ts puts into an image FROM scratch.
build_task_pods() {
	cd "$ROOT/components/vm/task-pods"
	go build -mod=readonly -ldflags "-s -w" -o "$OUT/task-pods" .
}

build_kube_score() {
	GOBIN="$OUT" go install -ldflags "-s -w -X main.version=$KUBE_SCORE_VERSION" "github.com/zegl/kube-score/cmd/kube-score@v$KUBE_SCORE_VERSION"
}

fetch_keycloak() {
	mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
		"-Dartifact=org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:tar.gz" "-DoutputDirectory=$OUT"
	tar xzf "$OUT/keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz" -C "$OUT" --strip-components=1
	rm "$OUT/keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz"
	test -x "$OUT/bin/kc.sh"
}

# The environment's S3 server (localenv/s3.ts): S3Proxy's one jar, its dependencies inside.
fetch_s3proxy() {
	mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
		"-Dartifact=org.gaul:s3proxy:$S3PROXY_VERSION:jar:jar-with-dependencies" "-DoutputDirectory=$OUT"
	test -s "$OUT/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar"
}

# Debian packages for the SSH test host and the docker engine (dockerd 20.10, Compose v1 as
# docker-compose, debootstrap for the stand-in images' base: localenv/standins.ts), and the
# browser the user page's test drives (playwright-core downloads no browser here); the Python
# modules the release stand-ins use (localenv/images/common/cytomine-standin.py), which their
# tests run with Debian's /usr/bin/python3, and PostGIS for the throwaway PostgreSQL those tests
# start (test/integration/standins.test.ts). Installed only when missing; needs root, as on CI.
ensure_debian_packages() {
	local missing=()
	[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
	command -v sudo >/dev/null 2>&1 || missing+=(sudo)
	[ -x /usr/sbin/dockerd ] || missing+=(docker.io)
	[ -x /usr/bin/docker-compose ] || missing+=(docker-compose)
	[ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
	[ -x /usr/bin/chromium ] || missing+=(chromium)
	/usr/bin/python3 -c 'import jwt, cryptography, psycopg2' >/dev/null 2>&1 ||
		missing+=(python3-jwt python3-cryptography python3-psycopg2 python3-yaml)
	[ -f /usr/share/postgresql/15/extension/postgis.control ] || missing+=(postgresql-15-postgis-3)
	# PIMS's cache for the PIMS stand-in's tests (test/integration/pims-import.test.ts).
	[ -x /usr/bin/redis-server ] || missing+=(redis-server)
	# The real node (localenv/node.ts): containerd and runc (docker.io brings both), the CNI
	# plugins, nft for kube-proxy's nftables mode, conntrack for kube-proxy, ipset for kube-router.
	[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
	[ -x /usr/sbin/nft ] || missing+=(nftables)
	[ -x /usr/sbin/conntrack ] || missing+=(conntrack)
	[ -x /usr/sbin/ipset ] || missing+=(ipset)
	# The relay that lets the node's pods reach the API server on loopback.
	[ -x /usr/bin/socat ] || missing+=(socat)
	# The VM host's backups: restic, run by cron (components/vm/backups.ts).
	[ -x /usr/bin/restic ] || missing+=(restic)
	[ -x /usr/sbin/cron ] || missing+=(cron)
	if [ ${#missing[@]} -eq 0 ]; then
		printf '[%d/%d] Debian packages for the SSH test host and docker engine: present\n' "$STEP" "$TOTAL"
		return
	fi
	printf '[%d/%d] Debian packages for the SSH test host and docker engine: installing %s\n' "$STEP" "$TOTAL" "${missing[*]}"
	[ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]}" "run: sudo apt-get install ${missing[*]}"
	(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >"$LOGS/apt.log" 2>&1 ||
		die "apt-get install ${missing[*]} failed (log: $LOGS/apt.log)" "check that Debian's package mirror is reachable"
}

# start_control_plane: what the local environment's Keycloak and Kubernetes API run, the dev stack's
# whole environment (scripts/main.sh starts no more).
start_control_plane() {
	step cpu/kubernetes "kube-apiserver, controller-manager, scheduler, kubectl" kubernetes "$KUBERNETES_VERSION" \
		build_kubernetes_control_plane scripts/toolchain/go/kubernetes
	step io "Keycloak (Quarkus distribution, Maven Central)" keycloak "$KEYCLOAK_VERSION" fetch_keycloak
	step cpu "etcd" etcd "$ETCD_VERSION" build_etcd scripts/toolchain/go/etcd
	step cpu "kwok + kwokctl" kwok "$KWOK_VERSION" build_kwok
}

# start_env_rest: the rest of the local environment the tests use (the real node, the SSH host's and
# docker engine's packages, the S3 server, the image registry's program) and kube-score.
start_env_rest() {
	step io "S3Proxy (S3 server, Maven Central)" s3proxy "$S3PROXY_VERSION" fetch_s3proxy
	step cpu/kubernetes "kubelet, kube-proxy, pause" kubernetes-node "$KUBERNETES_VERSION" build_kubernetes_node \
		scripts/toolchain/go/kubernetes
	step cpu "CoreDNS" coredns "$COREDNS_VERSION" build_coredns
	step cpu "kube-router (NetworkPolicy firewall)" kube-router "$KUBE_ROUTER_VERSION" build_kube_router
	step cpu "local-path-provisioner" local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION" build_local_path_provisioner
	step cpu "kube-score" kube-score "$KUBE_SCORE_VERSION" build_kube_score
	step cpu "registry (distribution, the app engine's task images)" registry "$DISTRIBUTION_VERSION" build_registry
	step cpu "task-pods (the VM target's pods API for task runs)" task-pods "$TASK_PODS_VERSION" build_task_pods \
		components/vm/task-pods
}

link_bin() {
	local d
	for d in "$(tool_dir etcd "$ETCD_VERSION")" "$(tool_dir kubernetes "$KUBERNETES_VERSION")" \
		"$(tool_dir kubernetes-node "$KUBERNETES_VERSION")" \
		"$(tool_dir kwok "$KWOK_VERSION")" "$(tool_dir kube-score "$KUBE_SCORE_VERSION")" \
		"$(tool_dir coredns "$COREDNS_VERSION")" "$(tool_dir kube-router "$KUBE_ROUTER_VERSION")" \
		"$(tool_dir local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION")"; do
		[ -d "$d" ] || continue
		for f in "$d"/*; do [ -x "$f" ] && ln -sfn "$f" "$CYTOMINE_BIN/$(basename "$f")"; done
	done
}

main() {
	check_prerequisites
	case "$GROUP" in
	core) TOTAL=6 ;;
	main) TOTAL=10 ;;
	env) TOTAL=13 ;;
	all) TOTAL=19 ;;
	command) TOTAL=3 ;;
	esac
	if [ "$GROUP" = test-patches ]; then
		local dir status=0
		dir="$(mktemp -d)"
		pulumi_sources "$dir"
		(cd "$dir" && go test -mod=readonly -count=1 -run 'TestGetRequiredPackages' github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3) || status=$?
		rm -rf "$dir"
		return "$status"
	fi
	echo "Toolchain ($GROUP) into $CYTOMINE_CACHE, $GO_JOBS Go builds at once"
	if [ "$GROUP" = command ]; then
		command_only
		echo "Command plugin ready in $(elapsed $((SECONDS - T_START)))."
		return
	fi
	# Downloads and package installs first, beside the compiles.
	local apt_pid=""
	if [ "$GROUP" = env ] || [ "$GROUP" = all ]; then
		STEP=$((STEP + 1))
		ensure_debian_packages &
		apt_pid=$!
	fi
	# The two longest compiles first, so that the short ones fill the gaps at the end.
	[ "$GROUP" = env ] || step cpu "kubernetes provider plugin" pulumi-resource-kubernetes "$KUBERNETES_PROVIDER_VERSION" \
		build_kubernetes_provider scripts/toolchain/go/kubernetes-provider
	[ "$GROUP" = core ] || start_control_plane
	[ "$GROUP" = env ] || start_core
	if [ "$GROUP" = env ] || [ "$GROUP" = all ]; then start_env_rest; fi
	[ "$GROUP" = env ] || register_core
	wait_steps
	if [ -n "$apt_pid" ]; then wait "$apt_pid" || exit 1; fi
	link_bin
	echo "Toolchain ready in $(elapsed $((SECONDS - T_START))). Binaries: $CYTOMINE_BIN"
}

main
