#!/bin/sh
# After the official image's entrypoint (nginxinc/docker-nginx: docker-entrypoint.sh and
# 20-envsubst-on-templates.sh): for `nginx ...`, /etc/nginx/templates/*.template are rendered into
# /etc/nginx/conf.d with envsubst (only variables that are set), then /docker-entrypoint.d/*.sh run.
set -e
if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
	template_dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
	suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
	output_dir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
	if [ -d "$template_dir" ]; then
		defined="$(printf '${%s} ' $(env | cut -d= -f1))"
		find "$template_dir" -follow -type f -name "*$suffix" -print | while read -r template; do
			relative="${template#"$template_dir/"}"
			output="$output_dir/${relative%"$suffix"}"
			mkdir -p "$(dirname "$output")"
			echo "$0: rendering $template to $output"
			envsubst "$defined" <"$template" >"$output"
		done
	fi
	for f in /docker-entrypoint.d/*.sh; do
		[ -x "$f" ] && { echo "$0: running $f"; "$f"; }
	done
	echo "$0: configuration complete; ready for start up"
fi
exec "$@"
