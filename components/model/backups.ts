// What a tenant's backup holds and where it goes, whatever runs it: the databases as consistent
// logical dumps, the data files of the other stateful services, and the images volume, into a restic
// repository (https://restic.readthedocs.io/en/v0.14.0/) encrypted client-side with a key of the
// tenant's own. Plain data: the VM target renders it into the host's scripts (components/vm/backups.ts).
import type { ServiceSpec } from "./spec";

export interface BackupSettings {
    /** Five cron fields (minute hour day-of-month month day-of-week), as crontab(5) and a CronJob take them. */
    schedule: string;
    keepDaily: number;
    keepWeekly: number;
    /** Where the tenants' repositories live: a directory, or `s3:<endpoint>/<bucket>[/<prefix>]`. */
    repository: string;
    /** With an s3: repository: the access key id (the secret key is the secret backupS3SecretAccessKey). */
    s3AccessKeyId?: string;
}

export const isS3 = (repository: string) => repository.startsWith("s3:");

/** The tenant's own repository under the configured root: one repository (and one key) per tenant. */
export const repositoryOf = (repository: string, tenant: string) => `${repository.replace(/\/+$/, "")}/${tenant}`;

/** The environment restic reads the tenant's repository from: where it is, its key, the bucket's credentials. */
export function repositoryEnv(
    settings: BackupSettings,
    tenant: string,
    key: string,
    s3SecretAccessKey: string | undefined,
): Record<string, string> {
    return {
        RESTIC_REPOSITORY: repositoryOf(settings.repository, tenant),
        RESTIC_PASSWORD: key,
        ...(isS3(settings.repository)
            ? { AWS_ACCESS_KEY_ID: settings.s3AccessKeyId ?? "", AWS_SECRET_ACCESS_KEY: s3SecretAccessKey ?? "" }
            : {}),
    };
}

/** What a backup holds, by service: each database dumped, each other volume copied. */
export interface BackupSources {
    /** PostgreSQL databases: dumped with pg_dump in their own container (custom format, one transaction). */
    databases: { component: string; user: string; database: string }[];
    /**
     * The databases that hold the tenant's identity (Keycloak's, whose client is `iam`): restored into
     * the same tenant only, since they carry its Keycloak master admin and realms.
     */
    identity: string[];
    /** Data files of a live database (mongo, meilisearch): copied while the container is paused, as a power cut leaves them. */
    paused: { component: string; volume: string }[];
    /** Files the services write and read back (the images volume): copied as they are. */
    files: { component: string; volume: string }[];
}

const plain = (s: ServiceSpec, name: string) =>
    (s.env.find((e) => e.name === name && typeof e.value === "string")?.value as string | undefined) ?? undefined;

export function backupSources(services: ServiceSpec[]): BackupSources {
    const sources: BackupSources = { databases: [], identity: [], paused: [], files: [] };
    for (const s of services) {
        const database = plain(s, "POSTGRES_DB");
        const user = plain(s, "POSTGRES_USER");
        if (database && user) {
            sources.databases.push({ component: s.component, user, database });
            if (s.clients.includes("iam")) sources.identity.push(s.component);
            continue;
        }
        for (const v of s.volumes)
            (s.kind === "StatefulSet" ? sources.paused : sources.files).push({
                component: s.component,
                volume: v.name,
            });
    }
    return sources;
}

/** The tags every snapshot of a tenant carries: restic selects and forgets by them. */
export const backupTags = (tenant: string, release: string) => [`tenant=${tenant}`, `release=${release}`];

const FIELDS: { name: string; min: number; max: number }[] = [
    { name: "minute", min: 0, max: 59 },
    { name: "hour", min: 0, max: 23 },
    { name: "day of month", min: 1, max: 31 },
    { name: "month", min: 1, max: 12 },
    { name: "day of week", min: 0, max: 7 },
];

/**
 * What is wrong with a schedule (undefined when it is fine): five fields of numbers, ranges, lists
 * and steps, the syntax crontab(5) and Kubernetes CronJobs share (no names, no @daily, no seconds).
 */
export function scheduleProblem(schedule: string): string | undefined {
    const fields = schedule.trim().split(/\s+/);
    if (fields.length !== 5)
        return `five fields (minute hour day-of-month month day-of-week), e.g. "30 2 * * *" for 02:30 every day; got ${fields.length}`;
    for (const [i, field] of fields.entries()) {
        const { name, min, max } = FIELDS[i];
        for (const item of field.split(",")) {
            const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
            const [from, to] = [m?.[2], m?.[3]].map((n) => (n === undefined ? undefined : Number(n)));
            if (
                !m ||
                (from !== undefined && (from < min || from > max)) ||
                (to !== undefined && (to < (from ?? min) || to > max)) ||
                (m[4] !== undefined && Number(m[4]) < 1)
            )
                return `"${item}" is not a ${name} (${min}-${max}, a range a-b, a list a,b, * or a step */n)`;
        }
    }
    return undefined;
}

/**
 * What a tenant holds that a restore would replace, as one SQL statement for psql -At: "table=count"
 * for each of core's content tables (projects, images, annotations: Spring's names for
 * be.cytomine.domain's entities) that exists, space-separated. A fresh tenant's core has made the
 * tables but holds no rows in them.
 */
export const CONTENT_TABLES = ["project", "image_instance", "user_annotation", "reviewed_annotation"] as const;
export const HELD_ROWS_SQL =
    "select coalesce(string_agg(t || '=' || (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I', t), false, true, '')))[1]::text, ' '), '') " +
    `from unnest(array[${CONTENT_TABLES.map((t) => `'${t}'`).join(",")}]) t where to_regclass(t) is not null`;
