#!/bin/bash
# A tenant's backups on its host, written there by the stack (components/vm/backups.ts) beside
# backup.conf (what to back up, no secret) and ../env/backup.env (the repository and its key, 0600).
#
#   cytomine-backup.sh run [trigger]        one backup: databases dumped, paused services' files and
#                                           the images volume copied, into the tenant's restic repository
#   cytomine-backup.sh list [--source-from-stdin]
#                                           the repository's snapshots, then this host's runs (JSON)
#   cytomine-backup.sh check                the repository opens (made when missing)
#   cytomine-backup.sh purge                every backup of the tenant deleted
#   cytomine-backup.sh restore <id> [--force] [--source-from-stdin] [--rollback]
#                                           services stopped, data replaced by snapshot <id>, services
#                                           started; --rollback: they stay stopped for the next up, which
#                                           the config sets back to the snapshot's release and Keycloak
#
# Every run appends a JSON line to runs.jsonl (time, kind, status, snapshot, bytes, seconds, release,
# trigger, message): what `npm run tenant -- backups <tenant>` shows.
set -euo pipefail
umask 077
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=/dev/null
. "$HERE/backup.conf"
RUNS="$HERE/runs.jsonl"
PURGED="$HERE/.purged"
STAGING="$DATA_DIR/.backup"
step="starting"
started=$(date +%s)

json() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\n\r\t')"; }
record() { # kind status snapshot bytes trigger message
	printf '{"time":%s,"kind":%s,"status":%s,"snapshot":%s,"bytes":%s,"seconds":%s,"release":%s,"trigger":%s,"message":%s}\n' \
		"$(json "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(json "$1")" "$(json "$2")" "$(json "$3")" "${4:-0}" \
		"$(($(date +%s) - started))" "$(json "$RELEASE")" "$(json "$5")" "$(json "$6")" >>"$RUNS"
	# The last 500 runs are kept.
	tail -n 500 "$RUNS" >"$RUNS.tmp" && mv -f "$RUNS.tmp" "$RUNS"
}
die() {
	echo "cytomine-backup: $*" >&2
	exit 3
}
compose() {
	if docker compose version >/dev/null 2>&1; then
		docker compose -p "$PROJECT" -f "$CONFIG_DIR/compose.yaml" "$@"
	else
		docker-compose -p "$PROJECT" -f "$CONFIG_DIR/compose.yaml" "$@"
	fi
}
load_repository() { # the tenant's own repository, or (restore from another tenant) the one on stdin
	set -a
	# shellcheck source=/dev/null
	if [ "${1:-}" = stdin ]; then . /dev/stdin; else . "$CONFIG_DIR/env/backup.env"; fi
	set +a
	[ -n "${RESTIC_REPOSITORY:-}" ] && [ -n "${RESTIC_PASSWORD:-}" ] || die "the repository or its key is not set (env/backup.env): run pulumi up again"
}
# restic's own message names what failed (a wrong key, an unreachable bucket, refused credentials).
restic_checked() {
	local out
	if ! out=$(restic "$@" 2>&1); then
		die "restic ${1} on $RESTIC_REPOSITORY failed: $(printf '%s' "$out" | grep -v '^$' | tail -n 3 | tr '\n' ' ')"
	fi
	printf '%s\n' "$out"
}

# The image a service of the project runs now (before an upgrade, the old one), as config names it
# (IMAGE_FORMAT: the base of an image built on the host), else $2.
running_image() {
	local container image
	container=$(compose ps -q "$1" 2>/dev/null | head -n 1)
	[ -n "$container" ] && image=$(docker inspect --format "$IMAGE_FORMAT" "$container" 2>/dev/null) || image="$2"
	printf '%s' "$image"
}
# The release the data belongs to: the running core's image tag, else the configured one.
data_release() {
	local image
	image=$(running_image core ":$RELEASE")
	printf '%s' "${image##*:}"
}

# present, or missing (nothing there yet); a repository that is there but does not open (a wrong key,
# refused credentials, an unreachable bucket) stops with restic's reason: it is never initialised over.
repository_state() {
	local out
	# --no-lock: a probe, not a change; with a lock it fails while a run's forget --prune holds the
	# repository's exclusive lock (restic 0.14: "the `unlock` command can be used to remove stale locks").
	if out=$(restic cat config --no-lock 2>&1); then
		echo present
	elif printf '%s' "$out" | grep -qiE 'no such file|Is there a repository|bucket does not exist|NoSuchBucket'; then
		echo missing
	elif printf '%s' "$out" | grep -qiE 'wrong password|no key found'; then
		die "the key given for $RESTIC_REPOSITORY does not open it (env/backup.env, or the source tenant's backupKey)"
	else
		die "cannot open $RESTIC_REPOSITORY: $(printf '%s' "$out" | grep -v '^$' | tail -n 2 | tr '\n' ' ')"
	fi
}

# The tenant's own repository, made when missing (never over one that does not open).
open_repository() {
	load_repository
	local state
	state=$(repository_state)
	[ "$state" = present ] || restic_checked init >/dev/null
}

run_backup() {
	local trigger="${1:-manual}" summary snapshot bytes
	RELEASE=$(data_release)
	# Keycloak in the project: the version its database belongs to (a rollback sets images.iam to it).
	local tags=(--tag "tenant=$TENANT" --tag "release=$RELEASE" --tag "trigger=$trigger")
	[ -z "$KEYCLOAK_IMAGE" ] || tags+=(--tag "keycloak=$(running_image iam "$KEYCLOAK_IMAGE")")
	trap 'rc=$?; [ $rc -eq 0 ] || record backup failed "" 0 "$trigger" "$step failed (exit $rc): see $HERE/backup.log"; cleanup' EXIT
	step="opening the repository"
	open_repository
	rm -rf "$STAGING"
	mkdir -m 0700 "$STAGING"
	local db component user database
	for db in $DATABASES; do
		IFS=: read -r component user database <<<"$db"
		step="dumping $component"
		# One transaction (pg_dump's snapshot): consistent while core keeps writing.
		compose exec -T "$component" pg_dump -U "$user" -d "$database" -Fc >"$STAGING/$component.dump"
	done
	local paused
	for paused in $PAUSED; do
		component="${paused%%/*}"
		step="copying $component's files (paused)"
		compose pause "$component" >/dev/null
		mkdir -p "$STAGING/$(dirname "$paused")"
		cp -a "$DATA_DIR/$paused" "$STAGING/$paused" || { compose unpause "$component" >/dev/null; exit 1; }
		compose unpause "$component" >/dev/null
	done
	step="restic backup"
	local paths=("$STAGING")
	for f in $FILES; do paths+=("$DATA_DIR/$f"); done
	summary=$(restic_checked backup --json --host "$TENANT" "${tags[@]}" "${paths[@]}" |
		grep '"message_type":"summary"' | tail -n 1)
	snapshot=$(printf '%s' "$summary" | sed -n 's/.*"snapshot_id":"\([0-9a-f]*\)".*/\1/p')
	bytes=$(printf '%s' "$summary" | sed -n 's/.*"total_bytes_processed":\([0-9]*\).*/\1/p')
	[ -n "$snapshot" ] || die "restic backup printed no snapshot id"
	step="forgetting old snapshots"
	restic_checked forget --tag "tenant=$TENANT" --group-by host,tags --keep-daily "$KEEP_DAILY" \
		--keep-weekly "$KEEP_WEEKLY" --keep-last 1 --prune >/dev/null
	record backup ok "$snapshot" "$bytes" "$trigger" ""
	echo "backup ${snapshot:0:8} of $TENANT: $bytes bytes"
}
cleanup() { rm -rf "$STAGING"; }

list() { # the repository holds one tenant's snapshots (components/model/backups.ts: repositoryOf)
	load_repository "$([ "${1:-}" = --source-from-stdin ] && echo stdin)"
	local state
	state=$(repository_state)
	echo '{"snapshots":'
	# Read-only, and outside the run's lock (flock): it must not fail while a run prunes.
	if [ "$state" = present ]; then restic_checked snapshots --no-lock --json | tail -n 1; else echo '[]'; fi
	echo ',"runs":['
	[ -f "$RUNS" ] && paste -sd, "$RUNS"
	echo ']}'
}

# What the tenant holds that a restore would replace: rows of core's content tables (HELD_SQL, from
# components/model/backups.ts) and the images volume's files. A fresh tenant holds none; the other
# services' files (a database's own) are not counted.
held() {
	local component user database rows files=0 f
	IFS=: read -r component user database <<<"${DATABASES%% *}"
	rows=$(compose exec -T "$component" psql -U "$user" -d "$database" -Atc "$HELD_SQL") ||
		die "reading what $TENANT holds failed (its database does not answer): start it, or run the restore with --force"
	for f in $FILES; do
		[ -d "$DATA_DIR/$f" ] && files=$((files + $(find "$DATA_DIR/$f" -type f | wc -l)))
	done
	# Rows only where a table holds some.
	rows=$(printf '%s' "$rows" | tr ' ' '\n' | grep -v '=0$' | tr '\n' ' ')
	printf '%s|%s' "$files" "${rows% }"
}

tag_of() { # name snapshots-json: the value of the first snapshot's tag <name>=<value>
	printf '%s' "$2" | grep -o "\"$1=[^\"]*\"" | head -n 1 | sed "s/\"$1=\(.*\)\"/\1/"
}

restore() {
	local id="${1:-}" force=false source=own rollback=false arg
	[ -n "$id" ] || die "usage: cytomine-backup.sh restore <snapshot id> [--force] [--source-from-stdin] [--rollback]"
	shift
	for arg in "$@"; do
		case "$arg" in
		--force) force=true ;;
		--source-from-stdin) source=stdin ;;
		--rollback) rollback=true ;;
		*) die "unknown argument $arg" ;;
		esac
	done
	load_repository "$source"
	step="finding snapshot $id"
	local found
	found=$(restic_checked snapshots --json "$id" | tail -n 1)
	[ "$found" != "[]" ] && [ -n "$found" ] || die "no backup $id in $RESTIC_REPOSITORY: list them with npm run tenant -- backups <tenant>"
	local release
	release=$(tag_of release "$found")
	# A rollback goes back to the backup's release (and Keycloak); a plain restore keeps the tenant's.
	[ "$rollback" = true ] || [ "$release" = "$RELEASE" ] || die "backup $id was taken with release ${release:-unknown}, this tenant runs $RELEASE: to go back to ${release:-that release} with it (a rollback), run npm run tenant -- restore $TENANT --at $id --rollback --force; or restore it into a tenant of release ${release:-unknown}"
	# Another tenant's backup: its Cytomine data, not its identity. The Keycloak database holds that
	# tenant's master admin and realms; this tenant's Keycloak keeps its own, which its stack manages.
	local owner skip=""
	owner=$(tag_of tenant "$found")
	[ "$owner" = "$TENANT" ] || skip="$IDENTITY_DATABASES"
	if [ "$force" != true ]; then
		local holds files rows
		holds=$(held)
		files="${holds%%|*}" rows="${holds#*|}"
		if [ -n "$rows" ] || [ "$files" -gt 0 ]; then
			die "$TENANT holds data that restoring $id would replace: ${rows:+rows ($rows), }$files image files (its own backups: npm run tenant -- backups $TENANT); to replace them, run the restore again with --force"
		fi
	fi
	# From here on the tenant changes: a failure is a failed restore, recorded. A refusal above is not a
	# run (nothing was touched), so it leaves the tenant's record of runs as it was.
	trap 'rc=$?; [ $rc -eq 0 ] || record restore failed "$id" 0 "" "$step failed (exit $rc)"; rm -rf "${work:-}"' EXIT
	work=$(mktemp -d "$DATA_DIR/.restore.XXXXXX")
	step="restic restore $id"
	restic_checked restore "$id" --target "$work" >/dev/null
	# The snapshot holds its tenant's absolute paths: its .backup folder gives its data folder.
	local from
	from=$(find "$work" -type d -name .backup -prune | head -n 1)
	[ -n "$from" ] || die "snapshot $id holds no .backup folder: not a backup of a Cytomine tenant"
	from="$(dirname "$from")"
	step="stopping the services"
	compose stop >/dev/null
	local db component user database
	for db in $DATABASES; do
		IFS=: read -r component user database <<<"$db"
		if [[ " $skip " == *" $component "* ]]; then
			echo "$component (Keycloak's database) of $owner not restored: $TENANT's Keycloak keeps its own realms and admin; users sign in again"
			continue
		fi
		step="restoring $component"
		compose start "$component" >/dev/null
		for _ in $(seq 1 60); do compose exec -T "$component" pg_isready -U "$user" -d "$database" >/dev/null 2>&1 && break; sleep 2; done
		compose exec -T "$component" pg_restore -U "$user" -d "$database" --clean --if-exists --no-owner --single-transaction \
			<"$from/.backup/$component.dump"
		compose stop "$component" >/dev/null
	done
	local dir
	for dir in $PAUSED $FILES; do
		step="restoring $dir"
		local source_dir="$from/$dir"
		[ -d "$source_dir" ] || source_dir="$from/.backup/$dir"
		find "$DATA_DIR/$dir" -mindepth 1 -delete
		cp -a "$source_dir/." "$DATA_DIR/$dir/"
	done
	if [ "$rollback" = true ]; then
		# The project is of the versions that failed: the next up, with the config set back to the
		# backup's, starts those on this data (the step before the project reads this note and says so).
		local keycloak
		keycloak=$(tag_of keycloak "$found")
		echo "$id $release ${keycloak:--}" >"$HERE/restored"
		record restore ok "$id" 0 "rollback" "services stopped until up brings release $release${keycloak:+ and Keycloak $keycloak}"
		echo "restored $TENANT from backup $id of release $release${keycloak:+ (Keycloak $keycloak)}; its services stay stopped until up brings them (config: release $release${keycloak:+, images.iam $keycloak})"
		return
	fi
	step="starting the services"
	compose start >/dev/null
	local url deadline=$(($(date +%s) + READY_TIMEOUT))
	for url in $READY_URLS; do
		until curl -fsS -o /dev/null --max-time 10 "$url"; do
			[ "$(date +%s)" -lt "$deadline" ] || die "$url did not answer within $READY_TIMEOUT s after the restore: see docker compose -p $PROJECT logs"
			sleep 3
		done
	done
	record restore ok "$id" 0 "" ""
	echo "restored $TENANT from backup $id"
}

# Every backup of the tenant gone (destroy --with-data --purge-backups): a directory repository is
# removed, an S3 one loses every snapshot and its data (restic forget --prune; its key files stay).
purge() {
	load_repository
	# Written first: a scheduled run that starts between this purge and the destroy that removes the
	# schedule would otherwise make a new backup of a tenant being deleted.
	date -u +%Y-%m-%dT%H:%M:%SZ >"$PURGED"
	if [[ "$RESTIC_REPOSITORY" == /* ]]; then
		rm -rf -- "$RESTIC_REPOSITORY"
	elif restic cat config >/dev/null 2>&1; then
		local ids
		ids=$(restic_checked snapshots --json | grep -o '"id":"[0-9a-f]*"' | cut -d'"' -f4 | tr '\n' ' ')
		[ -z "$ids" ] || restic_checked forget --prune $ids >/dev/null
	fi
	echo "deleted the backups of $TENANT in $RESTIC_REPOSITORY"
}

# One run, restore or purge at a time per tenant: a scheduled run skips while another holds the lock,
# the others wait for it (bounded).
lock() {
	exec 9>>"$HERE/.lock"
	if [ "$1" = schedule ]; then
		flock -n 9 || { echo "cytomine-backup: another run or restore of $TENANT is under way: this scheduled run skipped"; exit 0; }
	else
		flock -w 1800 9 || die "another run or restore of $TENANT held the lock for 30 minutes: see $HERE/backup.log"
	fi
}

# A scheduled run after a purge (destroy --with-data --purge-backups under way) stops, recorded as failed
# so that `npm run tenant -- backups` shows it if the destroy did not finish.
not_purged() {
	[ "$1" = schedule ] && [ -f "$PURGED" ] || return 0
	record backup failed "" 0 "$1" "the backups of $TENANT were purged at $(cat "$PURGED") for its deletion, so scheduled runs stop: finish \`npm run tenant -- destroy $TENANT --with-data --purge-backups\`, or delete $PURGED to keep the tenant and its schedule"
	echo "cytomine-backup: the backups of $TENANT were purged: this scheduled run skipped" >&2
	exit 0
}

# The repository opens with the tenant's key and credentials (made when missing): the schedule's step
# runs this, so a wrong bucket, credentials or key stop `up` instead of the first night's backup.
check() {
	open_repository
	echo "repository $RESTIC_REPOSITORY opens with $TENANT's key"
}

case "${1:-}" in
check) check ;;
run) shift && lock "${1:-manual}" && not_purged "${1:-manual}" && run_backup "$@" ;;
list) shift && list "$@" ;;
restore) shift && lock restore && restore "$@" ;;
purge) lock purge && purge ;;
*) die "usage: cytomine-backup.sh check | run [trigger] | list [--source-from-stdin] | restore <id> [--force] [--source-from-stdin] | purge" ;;
esac
