// backups: a tenant's backup and restore on the SSH target (restic 0.14 and cron, Debian's, on the
// SSH test host), for a generated tenant of ANNOTATIONS annotations and FILES image files.
//   - measured: the tenant's own job as cron runs it (cytomine-backup.sh run), and its restore
//     (cytomine-backup.sh restore <id> --force: services stopped, databases and files replaced,
//     services started and waited for); size: the repository after the backup;
//   - floor: the same tools by hand on the same data in one SSH session: pg_dump of the same database,
//     the same files copied, `restic backup` of them into a fresh repository; restore: the services
//     stopped, `restic restore` of that snapshot, `pg_restore` of its dump into a scratch database,
//     the files copied, the services started and waited for at the tenant's readiness URLs.
// Each round starts from empty repositories (removed between rounds, not timed), so every backup is
// a first, full one.
import * as crypto from "node:crypto";
import { BACKUP_FILES } from "../../components/vm/backups";
import { shellQuote } from "../../components/vm/scripts";
import { createEphemeralStack, disposeEphemeralStack } from "../../test/support/automation";
import { ensureEnvironment } from "../../localenv";
import { freePort, sshTargetConfig } from "../../test/support/project-config";
import { repoRoot } from "../../toolchain/index";
import { overSsh } from "../support/ssh";
import { Row, time } from "../support/stats";
import { alternate, Family, roundName, WARMUP } from "./types";

const CONFIG_ROOT = "/opt/cytomine-fallback-bench-backups";
const DATA_ROOT = "/var/lib/cytomine-fallback-bench-backups";
const REPOSITORIES = "/var/backups/cytomine-fallback-bench";
const FLOOR_REPOSITORY = `${REPOSITORIES}-floor`;
const ANNOTATIONS = 20_000;
const FILES = 20;
const FILE_MIB = 2;

export const backups: Family = {
    name: "backups",
    summary: `VM target: a tenant's backup and restore (${ANNOTATIONS} annotations, ${FILES} image files) vs restic and pg_dump by hand`,
    async run({ rounds, log }) {
        const env = await ensureEnvironment();
        const rows: Record<"backup" | "backupFloor" | "restore" | "restoreFloor" | "size" | "sizeFloor", Row> = {
            backup: {
                key: "backup",
                what: "the tenant's backup job (as cron runs it)",
                unit: "s",
                samples: [],
                floor: "backup-floor",
            },
            backupFloor: {
                key: "backup-floor",
                what: "floor: pg_dump + copy + restic backup by hand",
                unit: "s",
                samples: [],
            },
            restore: {
                key: "restore",
                what: "restore (services stopped, data replaced, started, ready)",
                unit: "s",
                samples: [],
                floor: "restore-floor",
            },
            restoreFloor: {
                key: "restore-floor",
                what: "floor: stop, restic restore + pg_restore + copy by hand, start, ready",
                unit: "s",
                samples: [],
            },
            size: { key: "size", what: "repository after the backup", unit: "MiB", samples: [], floor: "size-floor" },
            sizeFloor: {
                key: "size-floor",
                what: "floor: repository after restic backup by hand",
                unit: "MiB",
                samples: [],
            },
        };

        const target = sshTargetConfig(env, "bb", {
            httpPort: await freePort(),
            configDir: CONFIG_ROOT,
            dataDir: DATA_ROOT,
            extra: { "cytomine-fallback:backups": JSON.stringify({ repository: REPOSITORIES }) },
        });
        const tenant = target.id;
        const configDir = `${CONFIG_ROOT}/${tenant}`;
        const dataDir = `${DATA_ROOT}/${tenant}`;
        const script = shellQuote(`${configDir}/${BACKUP_FILES.script}`);
        const compose = `docker-compose -p cytomine-${tenant} -f ${shellQuote(`${configDir}/compose.yaml`)}`;
        // `exec -T` passes its stdin on to the container: the scripts below travel on bash's stdin, so
        // each exec reads from /dev/null (or a file), or it would swallow the rest of the script.
        const exec = (service: string, command: string, input = "/dev/null") =>
            `${compose} exec -T ${service} ${command} < ${input}`;
        const e = await createEphemeralStack({ workDir: repoRoot, config: target.config });
        try {
            log(`backups: deploying tenant ${tenant}`);
            await e.stack.up({ color: "never" });
            // The data: annotations through psql in the tenant's PostGIS, random image files on its volume.
            await overSsh(
                env,
                [
                    "set -euo pipefail",
                    exec(
                        "postgis",
                        "psql -U docker -d docker -v ON_ERROR_STOP=1 -qc " +
                            shellQuote(
                                "create table user_annotation (id serial primary key, location geometry(Polygon) not null);" +
                                    `insert into user_annotation (location) select ST_Buffer(ST_MakePoint(g, g), 5 + g % 7) from generate_series(1, ${ANNOTATIONS}) g;`,
                            ),
                    ),
                    `mkdir -p ${dataDir}/pims/images/bench`,
                    `for i in $(seq 1 ${FILES}); do head -c ${FILE_MIB}M /dev/urandom > ${dataDir}/pims/images/bench/slide-$i.tif; done`,
                    `chown -R 20000:20000 ${dataDir}/pims/images/bench`,
                ].join("\n"),
            );
            // The figures are of this data only if it is there.
            const made = (
                await overSsh(
                    env,
                    `${exec("postgis", "psql -U docker -d docker -Atc 'select count(*) from user_annotation'")}; ` +
                        `find ${dataDir}/pims/images/bench -type f | wc -l`,
                )
            )
                .trim()
                .split("\n");
            if (made.join(" ") !== `${ANNOTATIONS} ${FILES}`)
                throw new Error(`the generated data is not there: ${made.join(" ")} (annotations, files)`);
            const repoMiB = async (dir: string) =>
                Number((await overSsh(env, `du -sm ${shellQuote(dir)} | cut -f1`)).trim());
            const key = crypto.randomBytes(24).toString("hex");
            const floorEnv = `export RESTIC_REPOSITORY=${FLOOR_REPOSITORY} RESTIC_PASSWORD=${key}`;
            let snapshot = "";
            let floorSnapshot = "";

            const measured = async (round: number) => {
                await overSsh(env, `rm -rf ${REPOSITORIES}/${tenant}`);
                const seconds = await time(async () => {
                    const out = await overSsh(env, `${script} run bench`);
                    snapshot = /^backup ([0-9a-f]{8})/m.exec(out)?.[1] ?? "";
                });
                const restoreSeconds = await time(() => overSsh(env, `${script} restore ${snapshot} --force`));
                const mib = await repoMiB(`${REPOSITORIES}/${tenant}`);
                if (round !== WARMUP) {
                    rows.backup.samples.push(seconds);
                    rows.restore.samples.push(restoreSeconds);
                    rows.size.samples.push(mib);
                }
                log(
                    `backups ${roundName(round)}: job ${seconds.toFixed(1)} s, restore ${restoreSeconds.toFixed(1)} s, ${mib} MiB`,
                );
            };
            const byHand = async (round: number) => {
                await overSsh(env, `rm -rf ${FLOOR_REPOSITORY} /tmp/bench-floor && mkdir -m 0700 /tmp/bench-floor`);
                const seconds = await time(async () => {
                    const out = await overSsh(
                        env,
                        [
                            "set -euo pipefail",
                            floorEnv,
                            "restic init -q",
                            `${exec("postgis", "pg_dump -U docker -d docker -Fc")} > /tmp/bench-floor/postgis.dump`,
                            `${exec("iam-db", "pg_dump -U keycloak -d keycloak -Fc")} > /tmp/bench-floor/iam-db.dump`,
                            `cp -a ${dataDir}/mongo/data /tmp/bench-floor/mongo`,
                            `cp -a ${dataDir}/meilisearch/data /tmp/bench-floor/meilisearch`,
                            `restic backup --json /tmp/bench-floor ${dataDir}/pims/images | grep '"message_type":"summary"'`,
                        ].join("\n"),
                    );
                    floorSnapshot = /"snapshot_id":"([0-9a-f]+)"/.exec(out)?.[1] ?? "";
                });
                const restoreSeconds = await time(() =>
                    overSsh(
                        env,
                        [
                            "set -euo pipefail",
                            floorEnv,
                            "rm -rf /tmp/bench-floor-restore",
                            // What any restore of a running tenant does: the services stopped, the data
                            // put back, the services started and waited for (the same URLs and bound).
                            `${compose} stop >/dev/null 2>&1`,
                            `restic restore ${floorSnapshot} --target /tmp/bench-floor-restore`,
                            `${compose} start postgis >/dev/null 2>&1`,
                            `for _ in $(seq 1 60); do ${exec("postgis", "pg_isready -U docker -d docker")} >/dev/null && break; sleep 1; done`,
                            exec("postgis", "createdb -U docker floor"),
                            exec(
                                "postgis",
                                "pg_restore -U docker -d floor --no-owner",
                                "/tmp/bench-floor-restore/tmp/bench-floor/postgis.dump",
                            ),
                            exec("postgis", "dropdb -U docker floor"),
                            `find ${dataDir}/pims/images -mindepth 1 -delete`,
                            `cp -a /tmp/bench-floor-restore${dataDir}/pims/images/. ${dataDir}/pims/images/`,
                            `${compose} start >/dev/null 2>&1`,
                            `. ${shellQuote(`${configDir}/${BACKUP_FILES.conf}`)}`,
                            `deadline=$(( $(date +%s) + READY_TIMEOUT ))`,
                            `for url in $READY_URLS; do until curl -fsS -o /dev/null --max-time 10 "$url"; do [ "$(date +%s)" -lt "$deadline" ] || exit 4; sleep 3; done; done`,
                        ].join("\n"),
                    ),
                );
                const mib = await repoMiB(FLOOR_REPOSITORY);
                if (round !== WARMUP) {
                    rows.backupFloor.samples.push(seconds);
                    rows.restoreFloor.samples.push(restoreSeconds);
                    rows.sizeFloor.samples.push(mib);
                }
                log(
                    `backups ${roundName(round)}: by hand ${seconds.toFixed(1)} s, restore ${restoreSeconds.toFixed(1)} s, ${mib} MiB`,
                );
            };
            await alternate(rounds, measured, byHand);
        } finally {
            await disposeEphemeralStack(e);
            await overSsh(
                env,
                `rm -rf ${REPOSITORIES} ${FLOOR_REPOSITORY} /tmp/bench-floor /tmp/bench-floor-restore ${dataDir} ${configDir}`,
            ).catch((err: unknown) => log(`backups: teardown ${String(err)}`));
        }
        return {
            family: "backups",
            rows: Object.values(rows),
            notes: [
                `The job's extra time over the floor: the paused copy of mongo and meilisearch, restic's forget --prune, the run's record; the restore's: pg_restore --clean into the tenant's own databases (the floor's into a scratch one), mongo's and meilisearch's files put back, the run's record. Both restores are mostly the services' start (Keycloak's above all).`,
            ],
        };
    },
};
