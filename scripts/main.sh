#!/usr/bin/env bash
# README command 1: from a fresh machine to the dev stack running on the embedded local environment.
#   scripts/main.sh        set up, start the environment, `pulumi up` the dev stack, print its outputs
#   scripts/main.sh down   destroy the dev stack and stop the environment
#                          (--keep-environment: leave the environment running)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"
cd "$ROOT"

LOCAL="$ROOT/.local"
mkdir -p "$LOCAL/state"
# State lives in the project (gitignored); nothing is written to a personal Pulumi login. No
# `.json.attrs` sidecars, which a killed CLI can leave empty (toolchain/index.ts fileBackendUrl).
export PULUMI_BACKEND_URL="file://$LOCAL/state?metadata=skip"
# The passphrase that encrypts the dev stack's secrets: generated once, readable only by its owner.
export PULUMI_CONFIG_PASSPHRASE_FILE="$LOCAL/passphrase"
if [ ! -s "$PULUMI_CONFIG_PASSPHRASE_FILE" ]; then
	(umask 077 && node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64url"))' >"$PULUMI_CONFIG_PASSPHRASE_FILE")
fi
unset PULUMI_CONFIG_PASSPHRASE
export KUBECONFIG="$LOCAL/env/kube/kubeconfig"

if [ "${1:-}" = down ]; then
	if [ -x "$CYTOMINE_BIN/pulumi-root/bin/pulumi" ] && pulumi stack select dev 2>/dev/null; then
		# Tearing the dev stack down is deliberate: lift the protection of realms and volumes the
		# documented way (both switches on, one up), with a copy of the working config.
		down_config="$LOCAL/Pulumi.dev.down.yaml"
		cp Pulumi.dev.yaml "$down_config"
		for key in allowRealmReplacement allowVolumeDeletion; do
			pulumi config set --stack dev --config-file "$down_config" "cytomine-fallback:$key" true
		done
		pulumi up --yes --skip-preview --stack dev --config-file "$down_config" --color never --suppress-outputs ||
			die "could not lift the protection (the up above failed)" "fix what it reports and run 'npm run main:down' again"
		pulumi destroy --yes --stack dev --config-file "$down_config"
		rm -f "$down_config"
	fi
	[ "${2:-}" = --keep-environment ] || node --import tsx cli/env.ts down
	exit 0
fi

# Only what the dev stack needs before it starts; `npm test` builds and starts the rest.
bash scripts/setup.sh main
echo "== local environment"
# The pieces the dev stack's target uses: a Kubernetes stack needs Keycloak and the API (its KWOK
# nodes run no container); a VM stack the SSH host and the docker engine too.
target="$(node -e 'const y=require("yaml").parse(require("fs").readFileSync("Pulumi.dev.yaml","utf8"));process.stdout.write(String(y.config["cytomine-fallback:target"]??""))')"
if [ "$target" = kubernetes ]; then
	node --import tsx cli/env.ts up --only keycloak,kube
else
	node --import tsx cli/env.ts up
fi

echo "== pulumi up (stack dev, backend $PULUMI_BACKEND_URL)"
# The stack's config is Pulumi.dev.yaml, where the CLI looks: the tracked settings plus this machine's
# secrets and encryption salt, which a git filter keeps out of what git stores and puts back on
# checkout from the copy in $LOCAL (cli/dev-config.ts).
MACHINE_COPY="$LOCAL/Pulumi.dev.yaml"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git config filter.cytomine-dev-secrets.clean "node --import tsx cli/dev-config.ts clean"
	git config filter.cytomine-dev-secrets.smudge "node --import tsx cli/dev-config.ts smudge .local/Pulumi.dev.yaml"
fi
if [ -s "$MACHINE_COPY" ] && ! grep -q '^encryptionsalt:' Pulumi.dev.yaml; then
	node --import tsx cli/dev-config.ts smudge "$MACHINE_COPY" <Pulumi.dev.yaml >"$LOCAL/Pulumi.dev.yaml.new"
	mv "$LOCAL/Pulumi.dev.yaml.new" Pulumi.dev.yaml
fi
if ! pulumi stack select dev 2>/dev/null; then
	pulumi stack init dev >/dev/null || die "cannot create stack dev" "check $LOCAL/state; a wrong passphrase needs the original $PULUMI_CONFIG_PASSPHRASE_FILE"
fi
# A wrong passphrase file shows here, before anything is changed.
check="$(pulumi config --show-secrets --stack dev 2>&1 >/dev/null)" || true
if [[ "$check" == *"incorrect passphrase"* || "$check" == *"could not decrypt"* ]]; then
	die "the dev stack's secrets were encrypted with another passphrase than the one in $PULUMI_CONFIG_PASSPHRASE_FILE" \
		"restore the original passphrase file, or start the dev stack over: rm -rf $LOCAL/state $MACHINE_COPY; git checkout Pulumi.dev.yaml"
fi
secret_set() { pulumi config get --stack dev "cytomine-fallback:$1" >/dev/null 2>&1; }
set_secret() { # set_secret KEY < value (stdin keeps the value out of process listings)
	pulumi config set --secret --stack dev "cytomine-fallback:$1" >/dev/null
}
# The local Keycloak's admin password, which the environment generated (always current); and a
# stand-in LS-AAI client secret, as no LS Login client exists for a local stack.
set_secret keycloakAdminPassword <"$LOCAL/env/keycloak/admin-password"
secret_set lsaaiClientSecret ||
	node -e 'process.stdout.write(require("crypto").randomBytes(24).toString("base64url"))' | set_secret lsaaiClientSecret
(umask 077 && cp Pulumi.dev.yaml "$MACHINE_COPY")
# --refresh: the local environment can be reset (env:down --purge) under the stack's feet.
# --skip-preview: nobody reviews a preview with --yes; the program validates config before any change.
pulumi up --yes --skip-preview --refresh --stack dev --color never 2>&1 | tee "$LOCAL/last-up.log" ||
	die "pulumi up of the dev stack failed (log: $LOCAL/last-up.log)" "read the diagnostics above; config errors name the key to fix"
node --import tsx cli/report-outputs.ts dev
