#!/bin/sh
# After the official image's docker-entrypoint.sh (docker-library/redis): a command made only of
# options (compose's `command: --port 6380`) or starting with a .conf file goes to redis-server, and
# the server drops root for the redis user.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
	shift
	if [ "${1%.conf}" = "${1:-}" ]; then
		# No config file: the official image is built with protected mode off and listens on every
		# interface of the container network; Debian's build defaults to protected mode on.
		# Options given later on the command line win over these.
		set -- --bind 0.0.0.0 --protected-mode no "$@"
	fi
	set -- redis-server "$@"
	if [ "$(id -u)" = 0 ]; then
		find . \! -user redis -exec chown redis '{}' +
		exec setpriv --reuid=redis --regid=redis --init-groups "$@"
	fi
fi
exec "$@"
