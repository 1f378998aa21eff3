# Shared by the project's shell scripts: where tools live, the Pulumi environment, messages.
# Sourced, never run.

CYTOMINE_CACHE="${CYTOMINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cytomine-fallback}"
CYTOMINE_BIN="$CYTOMINE_CACHE/bin"
# pulumi-root/bin links to the CLI's directory (the language host and launchers sit beside the CLI);
# the Automation API takes pulumi-root as an installation root.
export PATH="$CYTOMINE_BIN/pulumi-root/bin:$CYTOMINE_BIN:$PATH"
# The project's own Pulumi home keeps its plugin registrations apart from any personal ~/.pulumi.
export PULUMI_HOME="${PULUMI_HOME:-$CYTOMINE_CACHE/pulumi-home}"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export CYTOMINE_CACHE CYTOMINE_BIN

die() { # die WHAT FIX
	printf '\nerror: %s\n  fix: %s\n' "$1" "$2" >&2
	exit 1
}

elapsed() { # elapsed SECONDS -> "4m05s"
	printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

version_ge() { # version_ge A B: true when dotted version A >= B
	[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}
