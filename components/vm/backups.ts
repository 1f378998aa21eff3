// A tenant's scheduled backups on its host: restic (Debian's package, 0.14) run by cron as root, the
// schedule an /etc/cron.d entry of the tenant's own. The job and the restore are one script written
// beside the compose project (cytomine-backup.sh); what it backs up comes from the same service specs
// as the project (components/model/backups.ts), and the repository's key lives in an env file of mode
// 0600 outside the data it backs up.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { BackupSettings, backupSources, HELD_ROWS_SQL, repositoryEnv } from "../model/backups";
import type { ServiceSpec } from "../model/spec";
import { RUNNING_IMAGE_FORMAT, volumeDirOf } from "./compose";
import { composeFn, fail, script, shellQuote, writeFileScript } from "./scripts";

export const BACKUP_SCRIPT = fs.readFileSync(path.join(__dirname, "cytomine-backup.sh"), "utf8");

/** The backup's files, relative to the tenant's configuration directory. */
export const BACKUP_FILES = {
    script: "backup/cytomine-backup.sh",
    conf: "backup/backup.conf",
    env: "env/backup.env",
    /** Written by a rollback's restore (restore --rollback), read and removed by the next up. */
    restored: "backup/restored",
} as const;

/** The tenant's cron entry: one file in /etc/cron.d per tenant (crontab(5): no dots in the name). */
export const cronPathOf = (tenant: string) => `/etc/cron.d/cytomine-fallback-${tenant}`;

export interface HostBackupOptions {
    tenant: string;
    project: string;
    configDir: string;
    dataDir: string;
    /** The release the tenant runs (its core image's tag): each snapshot is tagged with it. */
    release: string;
    /** Keycloak's image when it runs in the project: each snapshot is tagged with the running one. */
    keycloakImage?: string;
    services: ServiceSpec[];
    settings: BackupSettings;
    readinessUrls: string[];
    readyTimeoutSeconds: number;
}

/** backup.conf: what the script backs up and where things are (no secret). */
export function backupConf(o: HostBackupOptions): string {
    const sources = backupSources(o.services);
    const rel = (component: string, volume: string) =>
        path.relative(o.dataDir, volumeDirOf(o.dataDir, component, volume));
    const vars: Record<string, string | number> = {
        TENANT: o.tenant,
        PROJECT: o.project,
        CONFIG_DIR: o.configDir,
        DATA_DIR: o.dataDir,
        RELEASE: o.release,
        KEYCLOAK_IMAGE: o.keycloakImage ?? "",
        DATABASES: sources.databases.map((d) => `${d.component}:${d.user}:${d.database}`).join(" "),
        IDENTITY_DATABASES: sources.identity.join(" "),
        PAUSED: sources.paused.map((p) => rel(p.component, p.volume)).join(" "),
        FILES: sources.files.map((f) => rel(f.component, f.volume)).join(" "),
        KEEP_DAILY: o.settings.keepDaily,
        KEEP_WEEKLY: o.settings.keepWeekly,
        READY_URLS: o.readinessUrls.join(" "),
        READY_TIMEOUT: o.readyTimeoutSeconds,
        HELD_SQL: HELD_ROWS_SQL,
        IMAGE_FORMAT: RUNNING_IMAGE_FORMAT,
    };
    return `${Object.entries(vars)
        .map(([k, v]) => `${k}=${shellQuote(String(v))}`)
        .join("\n")}\n`;
}

/** env/backup.env: the tenant's repository, its key and the bucket's credentials (a secret file). */
export function backupEnv(
    settings: BackupSettings,
    tenant: string,
    key: string,
    s3SecretAccessKey: string | undefined,
): string {
    const vars = repositoryEnv(settings, tenant, key, s3SecretAccessKey);
    return `${Object.entries(vars)
        .map(([k, v]) => `${k}=${shellQuote(v)}`)
        .join("\n")}\n`;
}

/** The cron entry: the schedule, as root (the script takes its own lock), its output appended to backup.log. */
export function cronEntry(o: Pick<HostBackupOptions, "tenant" | "configDir" | "settings">): string {
    const dir = `${o.configDir}/backup`;
    return [
        `# cytomine-fallback: ${o.tenant}'s scheduled backup, written by its stack (components/vm/backups.ts).`,
        `# Runs: ${dir}/runs.jsonl, npm run tenant -- backups ${o.tenant}`,
        "SHELL=/bin/bash",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        `${o.settings.schedule} root ${shellQuote(`${dir}/cytomine-backup.sh`)} run schedule >>${shellQuote(`${dir}/backup.log`)} 2>&1`,
        "",
    ].join("\n");
}

/**
 * Checks that the host can run the schedule (restic, a cron daemon), then writes the cron entry from
 * stdin. The entry's digest is in the script, so a changed schedule re-runs the step.
 */
export function scheduleScript(
    o: {
        cronPath: string;
        entry: string;
        host: string;
        configDir: string;
        repository: string;
        /** A digest of env/backup.env. */
        settings: string;
    },
    sudo: string,
): string {
    return script([
        `# cron entry ${createHash("sha256").update(o.entry).digest("hex")}, repository settings ${o.settings}`,
        `command -v restic >/dev/null || ${fail(`restic is missing on ${o.host}: install it (Debian: apt-get install restic), then run pulumi up again`)}`,
        `{ [ -d /etc/cron.d ] && { pgrep -x cron || pgrep -x crond; } >/dev/null; } || ${fail(`no cron daemon runs on ${o.host}, and the backups' schedule is a cron entry: install and start one (Debian: apt-get install cron), or set backups.enabled to false; then run pulumi up again`)}`,
        `${sudo}${shellQuote(`${o.configDir}/${BACKUP_FILES.script}`)} check || ${fail(`the backup repository ${o.repository} does not open (restic's reason above): check backups.repository, and for an s3: one backups.s3AccessKeyId and the secret backupS3SecretAccessKey; a repository made before needs its key as the secret backupKey; then run pulumi up again`)}`,
        writeFileScript(o.cronPath, "0644", sudo),
    ]);
}

/**
 * The step before the project: when the release (core's image tag) or Keycloak's image in the project
 * changes, the running versions' data is backed up first (tagged with them). After a rollback's restore
 * (restore --rollback) it says which backup this up starts on instead, once.
 */
export function beforeUpgradeScript(
    o: { configDir: string; project: string; release: string; keycloakImage?: string },
    sudo: string,
): string {
    const restored = shellQuote(`${o.configDir}/${BACKUP_FILES.restored}`);
    const running = (service: string) =>
        `$(c=$(compose -p ${shellQuote(o.project)} -f ${shellQuote(`${o.configDir}/compose.yaml`)} ps -q ${service} 2>/dev/null | head -n 1 || true); [ -z "$c" ] || ${sudo}docker inspect --format ${shellQuote(RUNNING_IMAGE_FORMAT)} "$c")`;
    return script([
        `# release ${o.release}`,
        ...(o.keycloakImage ? [`# keycloak ${o.keycloakImage}`] : []),
        composeFn(sudo),
        // A rollback restored these versions' data with the services stopped: this up starts it.
        `if read -r id release keycloak < <(${sudo}cat ${restored} 2>/dev/null) && [ "$release" = ${shellQuote(o.release)} ] && [ "$keycloak" = ${shellQuote(o.keycloakImage ?? "-")} ]; then`,
        `  ${sudo}rm -f ${restored}`,
        `  echo "restored backup $id of release $release: this up starts it"`,
        `  exit 0`,
        `fi`,
        `core=${running("core")}`,
        `[ -n "$core" ] || { echo "no release runs yet: nothing to back up"; exit 0; }`,
        `changed=false`,
        `[ "\${core##*:}" = ${shellQuote(o.release)} ] || { echo "upgrade from \${core##*:} to ${o.release}: backing up first"; changed=true; }`,
        ...(o.keycloakImage
            ? [
                  `iam=${running("iam")}`,
                  `[ -z "$iam" ] || [ "$iam" = ${shellQuote(o.keycloakImage)} ] || { echo "upgrade of Keycloak from $iam to ${o.keycloakImage}: backing up first"; changed=true; }`,
              ]
            : []),
        `[ "$changed" = true ] || { echo "release ${o.release} runs already: no upgrade"; exit 0; }`,
        `${sudo}${shellQuote(`${o.configDir}/${BACKUP_FILES.script}`)} run before-upgrade`,
    ]);
}

/** The backup a rollback restored, from the output of the step before the project (beforeUpgradeScript). */
export const restoredBackup = (beforeUpgrade: string) =>
    /^restored backup ([0-9a-f]+) of release /m.exec(beforeUpgrade)?.[1];

/**
 * How to go back after a failed upgrade, from the output of the step before it (beforeUpgradeScript):
 * the exact restore of the backup it took, which sets the versions back. Undefined when it took none.
 */
export function rollbackHint(beforeUpgrade: string, tenant: string, configDir: string): string | undefined {
    const release = /^upgrade from (\S+) to /m.exec(beforeUpgrade)?.[1];
    const keycloak = /^upgrade of Keycloak from (\S+) to /m.exec(beforeUpgrade)?.[1];
    const id = /^backup ([0-9a-f]+) of /m.exec(beforeUpgrade)?.[1];
    if (!(release || keycloak) || !id) return undefined;
    const what = [release && `release ${release}`, keycloak && `Keycloak ${keycloak}`].filter(Boolean).join(" and ");
    const config = [
        release && `pulumi config set release ${release}`,
        keycloak && `pulumi config set --path images.iam ${keycloak}`,
    ].filter(Boolean);
    return (
        `this up changed versions and backed up the data of ${what} first (backup ${id}). To roll back to ` +
        `${what} with that data: npm run tenant -- restore ${tenant} --at ${id} --rollback --force (a stack ` +
        `outside a fleet: sudo ${configDir}/${BACKUP_FILES.script} restore ${id} --force --rollback on the host, ` +
        `then ${config.join(", ")} and pulumi up)`
    );
}
