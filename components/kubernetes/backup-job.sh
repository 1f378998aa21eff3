#!/bin/sh
# The steps of a tenant's backup, restore and repository pods on Kubernetes (components/kubernetes/backups.ts),
# one POSIX sh script for both images they run in: restic's (Alpine's busybox) and a database's (Debian).
#
#   dump       pg_dump of $DB_NAME at $DB_HOST into /backup/$DB_HOST.dump   (the database's image)
#   backup     /backup and /data/* into the tenant's repository, old ones forgotten        (restic)
#   snapshots  the repository's snapshots as JSON (none yet: [])                           (restic)
#   purge      every snapshot of the repository forgotten and pruned                       (restic)
#   held       refuses when the tenant holds content a restore would replace  (the database's image)
#   fetch      snapshot $SNAPSHOT into /work; each claim under /data replaced by its copy  (restic)
#   load       pg_restore of /work/backup/$DB_HOST.dump into $DB_NAME       (the database's image)
#
# A step's result or reason is its container's termination message, which `npm run tenant -- backups`
# and `restore` read back (kubernetes.io/docs/tasks/debug/debug-application/determine-reason-pod-failure/).
set -eu
# Kubernetes' default terminationMessagePath; the unit tests run the script with another.
TERMINATION_LOG="${TERMINATION_LOG:-/dev/termination-log}"

fail() {
	printf '%s\n' "$*" >"$TERMINATION_LOG"
	printf 'cytomine-backup: %s\n' "$*" >&2
	exit 3
}

# Runs a command; while it fails with output matching the extended regex $1, tries it again every
# 5 s, up to $2 tries. Its output (stdout and stderr) is in $out.
retrying() {
	pattern=$1 limit=$2 tries=0
	shift 2
	until out=$("$@" 2>&1); do
		tries=$((tries + 1))
		printf '%s' "$out" | grep -qE "$pattern" && [ "$tries" -lt "$limit" ] || return 1
		sleep 5
	done
}

# A database client's command, tried again while the connection is refused: a new pod's address
# reaches the NetworkPolicy engine's rules (kube-router's ipsets) a few seconds after the pod starts,
# and these pods connect first thing.
with_db() { retrying 'Connection refused|timeout expired|could not translate host name' 12 "$@"; }

# A restic command, tried again while another run holds the repository's lock (the scheduled run and
# the backup before an upgrade may meet; restic 0.14 has no --retry-lock).
with_repository() { retrying 'already locked' 60 restic "$@"; }

# The repository opens with the tenant's key (made when missing with `backup`); a repository that is
# there but does not open (a wrong key, refused credentials) stops with restic's reason.
open_repository() {
	out=$(restic cat config --no-lock 2>&1) && return 0
	case "$out" in
	*"wrong password"* | *"no key found"*)
		fail "the key given for $RESTIC_REPOSITORY does not open it (the tenant's backupKey)" ;;
	*"Is there a repository"* | *"does not exist"* | *NoSuchBucket* | *"no such file"*)
		[ "${1:-}" = create ] || { echo missing; return 0; }
		restic init >/dev/null 2>&1 || fail "cannot make a repository at $RESTIC_REPOSITORY: $(restic init 2>&1 | tail -n 2 | tr '\n' ' ')" ;;
	*) fail "cannot open $RESTIC_REPOSITORY: $(printf '%s' "$out" | grep -v '^$' | tail -n 2 | tr '\n' ' ')" ;;
	esac
}

case "${1:-}" in
dump)
	# One transaction (pg_dump's snapshot): consistent while core keeps writing.
	with_db pg_dump -h "$DB_HOST" -U "$DB_USER" -d "$DB_NAME" -Fc -f "/backup/$DB_HOST.dump" ||
		fail "pg_dump of $DB_NAME at $DB_HOST failed: $(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')"
	;;
backup)
	open_repository create
	with_repository backup --json --host "$TENANT" --tag "tenant=$TENANT" --tag "release=$RELEASE" \
		--tag "trigger=$TRIGGER" /backup /data ||
		fail "restic backup to $RESTIC_REPOSITORY failed: $(printf '%s' "$out" | grep -v '^{' | tail -n 2 | tr '\n' ' ')"
	summary=$(printf '%s\n' "$out" | grep '"message_type":"summary"' | tail -n 1) || true
	[ -n "$summary" ] || fail "restic backup to $RESTIC_REPOSITORY made no snapshot: see the pod's log"
	with_repository forget --tag "tenant=$TENANT" --group-by host,tags --keep-daily "$KEEP_DAILY" \
		--keep-weekly "$KEEP_WEEKLY" --keep-last 1 --prune ||
		fail "restic forget on $RESTIC_REPOSITORY failed after the backup: $(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')"
	printf '%s' "$summary" >"$TERMINATION_LOG"
	echo "$summary"
	;;
snapshots)
	# Read-only: --no-lock answers while a run's forget --prune holds the exclusive lock.
	state=$(open_repository)
	if [ "$state" = missing ]; then echo '[]'; else restic snapshots --no-lock --json; fi
	;;
purge)
	state=$(open_repository)
	[ "$state" != missing ] || exit 0
	ids=$(restic snapshots --json | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4 | tr '\n' ' ')
	# shellcheck disable=SC2086 # one argument per id
	[ -z "$ids" ] || restic forget --prune $ids >/dev/null || fail "restic forget --prune on $RESTIC_REPOSITORY failed"
	echo "deleted the backups in $RESTIC_REPOSITORY"
	;;
held)
	with_db psql -h "$DB_HOST" -U "$DB_USER" -d "$DB_NAME" -Atc "$HELD_SQL" ||
		fail "reading what $TENANT holds failed: $(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')(start its database, or restore with --force)"
	rows=$(printf '%s' "$out" | tr ' ' '\n' | grep -v '=0$' | tr '\n' ' ' || true)
	rows="${rows% }"
	files=0
	for claim in $CLAIMS; do files=$((files + $(find "/data/$claim" -type f | wc -l))); done
	if [ -n "$rows" ] || [ "$files" -gt 0 ]; then
		fail "$TENANT holds data that restoring $SNAPSHOT would replace: ${rows:+rows ($rows), }$files image files (its own backups: npm run tenant -- backups $TENANT); to replace them, run the restore again with --force"
	fi
	;;
fetch)
	restic restore "$SNAPSHOT" --target /work >/dev/null || fail "restic restore of $SNAPSHOT from $RESTIC_REPOSITORY failed: see the pod's log"
	[ -d /work/backup ] || fail "snapshot $SNAPSHOT holds no /backup folder: not a Kubernetes backup of a Cytomine tenant"
	for claim in $CLAIMS; do
		[ -d "/work/data/$claim" ] || fail "snapshot $SNAPSHOT holds no copy of the claim $claim"
		find "/data/$claim" -mindepth 1 -delete
		# Entry by entry: the claim's root belongs to the volume, not to this pod, so its own times and
		# mode are not restored over.
		find "/work/data/$claim" -mindepth 1 -maxdepth 1 -exec cp -a {} "/data/$claim/" \;
	done
	;;
load)
	with_db pg_restore -h "$DB_HOST" -U "$DB_USER" -d "$DB_NAME" --clean --if-exists --no-owner --single-transaction \
		"/work/backup/$DB_HOST.dump" || fail "pg_restore into $DB_NAME at $DB_HOST failed: $(printf '%s' "$out" | tail -n 2 | tr '\n' ' ')"
	;;
*) fail "usage: backup-job.sh dump | backup | snapshots | purge | held | fetch | load" ;;
esac
