// A tenant's backups, as an operator sees and uses them: the runs and snapshots its host records
// (cytomine-backup.sh list), a restore into the same tenant or another one, and the repository's key
// kept in the tenant's config when it is destroyed with its data. On the VM targets everything runs
// on the tenant's host through the script its stack wrote there (components/vm/backups.ts), over SSH
// as the stack does; on Kubernetes, as pods of the tenant's namespace (kube-backups.ts).
import { Stack } from "@pulumi/pulumi/automation";
import { repositoryOf } from "../../components/model/backups";
import { type ReleaseTag, RELEASE_TAGS } from "../../components/model/release";
import { DEFAULT_IMAGES } from "../../components/model/settings";
import { BACKUP_FILES, backupEnv } from "../../components/vm/backups";
import { PROJECT, type StackConfig } from "../../program/config";
import { asRoot, HostAccess, NO_SUDO, runOnHost } from "../../program/preflight/host-check";
import type { FleetContext } from "./context";
import type { BackupListing, BackupRun, Snapshot } from "./backup-listing";
import { KubeTenant, listKubeBackups, purgeKubeBackups, restoreKubeTenant } from "./kube-backups";
import { FleetInputError, parseStored } from "./plan";

export type { BackupListing, BackupRun, Snapshot };

interface TenantHost {
    config: WithBackups;
    stack: Stack;
    access: HostAccess;
    script: string;
    secrets: Record<string, string>;
}

type WithBackups = StackConfig & { backups: NonNullable<StackConfig["backups"]> };

/** The tenant's parsed config, refused (naming the fix) when it is not in the fleet or has no backups. */
function tenantConfig(ctx: FleetContext, tenant: string): WithBackups {
    if (!ctx.tenantNames().includes(tenant))
        throw new FleetInputError(tenant, [`no tenant ${tenant} in ${ctx.dir}: see npm run tenant -- list`]);
    const config = parseStored(ctx.storedConfig(tenant));
    if (!config.backups)
        throw new FleetInputError(tenant, [
            config.target === "kubernetes"
                ? `${PROJECT}:backups is not set: a tenant on target kubernetes has backups when it names a bucket (pulumi config set --path backups.repository s3:<endpoint>/<bucket>) and runs up`
                : `${PROJECT}:backups.enabled is false: the tenant has no backups (set it to true and run up)`,
        ]);
    return config as WithBackups;
}

/** The tenant's stack and the values of its project's config keys, secrets included. */
async function stackOf(ctx: FleetContext, tenant: string) {
    const stack = await Stack.select(tenant, await ctx.workspace());
    const all = await stack.getAllConfig();
    const secrets = Object.fromEntries(
        Object.entries(all)
            .filter(([k]) => k.startsWith(`${PROJECT}:`))
            .map(([k, v]) => [k.slice(PROJECT.length + 1), v.value]),
    );
    return { stack, secrets };
}

/** The tenant's host, its access and the backup script there; refused (naming the fix) where there is none. */
async function tenantHost(ctx: FleetContext, tenant: string): Promise<TenantHost> {
    const config = tenantConfig(ctx, tenant);
    const { stack, secrets } = await stackOf(ctx, tenant);
    const outputs = await stack.outputs();
    const host = config.vm.host ?? (outputs.host?.value as string | undefined);
    if (!host)
        throw new FleetInputError(tenant, [`the tenant's host is not known: run npm run tenant -- up ${tenant}`]);
    return {
        config,
        stack,
        access: {
            host,
            port: config.vm.port,
            user: config.vm.user,
            privateKey: secrets.vmPrivateKey ?? "",
            hostKey: config.vm.hostKey,
            sudo: config.vm.sudo,
        },
        script: `${config.vm.configDir}/${config.tenant}/${BACKUP_FILES.script}`,
        secrets,
    };
}

/** Runs the host's backup script as root; its own message (naming the fix) when it fails. */
async function runScript(t: TenantHost, args: string[], stdin = "", timeoutMs = 15_000): Promise<string> {
    const run = await runOnHost(
        t.access,
        asRoot(
            t.access,
            `[ -x "$1" ] || { echo "cytomine-backup: $1 is missing: run npm run tenant -- up ${t.config.tenant} (it writes the backup script)" >&2; exit 3; }; exec "$@"`,
            [t.script, ...args],
        ),
        stdin,
        timeoutMs,
    );
    if ("problem" in run) throw new FleetInputError(t.config.tenant, [run.problem]);
    if (run.code === NO_SUDO)
        throw new FleetInputError(t.config.tenant, [
            `${PROJECT}:vm.sudo: ${t.access.user} cannot sudo on ${t.access.host}`,
        ]);
    if (run.code !== 0)
        throw new FleetInputError(t.config.tenant, [
            run.stderr
                .trim()
                .split("\n")
                .pop()
                ?.replace(/^cytomine-backup: /, "") || `exit ${run.code}`,
        ]);
    return run.stdout;
}

/** The tenant's snapshots and runs, newest last. */
export async function listBackups(ctx: FleetContext, tenant: string): Promise<BackupListing> {
    const config = tenantConfig(ctx, tenant);
    if (config.target === "kubernetes") return listKubeBackups(ctx, config as KubeTenant);
    const t = await tenantHost(ctx, tenant);
    const parsed = JSON.parse(await runScript(t, ["list"], "", 60_000)) as { snapshots: Snapshot[]; runs: BackupRun[] };
    const runs = parsed.runs ?? [];
    return {
        tenant,
        repository: repositoryOf(t.config.backups.repository, tenant),
        snapshots: (parsed.snapshots ?? []).sort((a, b) => a.time.localeCompare(b.time)),
        runs,
        lastSuccess: runs.filter((r) => r.kind === "backup" && r.status === "ok").pop(),
    };
}

/** The snapshot `at` names: an id (or its prefix), or the newest taken at or before a time; the newest when unset. */
export function chooseSnapshot(snapshots: Snapshot[], at: string | undefined, where: string): Snapshot {
    if (snapshots.length === 0) throw new FleetInputError(undefined, [`no backup in ${where} yet`]);
    if (at === undefined) return snapshots[snapshots.length - 1];
    if (/^[0-9a-f]{4,64}$/.test(at)) {
        const found = snapshots.filter((s) => s.id.startsWith(at));
        if (found.length === 1) return found[0];
        throw new FleetInputError(undefined, [
            found.length === 0
                ? `--at ${at}: no backup with that id in ${where} (ids: ${snapshots.map((s) => s.short_id).join(", ")})`
                : `--at ${at}: more than one backup starts with it: give more of the id`,
        ]);
    }
    const time = Date.parse(at);
    if (Number.isNaN(time))
        throw new FleetInputError(undefined, [
            `--at ${at}: neither a backup id nor a time (e.g. 2026-12-06T14:00:00Z)`,
        ]);
    const before = snapshots.filter((s) => Date.parse(s.time) <= time).pop();
    if (!before)
        throw new FleetInputError(undefined, [
            `--at ${at}: no backup in ${where} at or before that time (the oldest: ${snapshots[0].time})`,
        ]);
    return before;
}

export interface RestoreOptions {
    /** A snapshot id or a time; unset: the newest. */
    at?: string;
    /** Restore another tenant's backup (e.g. one destroyed with its data) into this one. */
    from?: string;
    /** Replace the data the tenant holds. */
    force?: boolean;
    /**
     * A rollback: the tenant goes back to the release (and Keycloak in the project) the backup was taken
     * with. The data is restored with the services stopped and the config keys release (and images.iam)
     * set to those; `up` then starts them on it.
     */
    rollback?: boolean;
}

/**
 * Restores a backup into `tenant`: its services stopped, its data replaced, its services started; a
 * rollback leaves them stopped and sets the versions back, for `up` to start them.
 */
export async function restoreTenant(ctx: FleetContext, tenant: string, o: RestoreOptions = {}): Promise<Snapshot> {
    const config = tenantConfig(ctx, tenant);
    const from = o.from && o.from !== tenant ? tenantConfig(ctx, o.from) : undefined;
    if (from && from.target !== config.target && [from, config].some((c) => c.target === "kubernetes"))
        throw new FleetInputError(tenant, [
            `--from ${o.from}: a backup of target ${from.target} cannot be restored into target ${config.target}`,
        ]);
    if (config.target === "kubernetes") {
        if (o.rollback)
            throw new FleetInputError(tenant, [
                `--rollback: on target kubernetes a rollback is not automated yet: set the config key release back, run up, then restore the backup without --rollback`,
            ]);
        return restoreKubeTenant(ctx, config as KubeTenant, {
            at: o.at,
            force: o.force,
            from: from && { config: from, secrets: (await stackOf(ctx, from.tenant)).secrets },
            choose: chooseSnapshot,
        });
    }
    const target = await tenantHost(ctx, tenant);
    const source = from ? await tenantHost(ctx, from.tenant) : undefined;
    const listing = await listBackups(ctx, o.from ?? tenant).catch((e: unknown) => {
        if (!source) throw e;
        // A tenant destroyed with its data has no host script left: its repository is read from this tenant's host.
        return undefined;
    });
    let snapshots = listing?.snapshots;
    let stdin = "";
    if (source) {
        const key = source.secrets.backupKey;
        if (!key)
            throw new FleetInputError(tenant, [
                `--from ${o.from}: its backup key is not in its config (backupKey): it is kept there when the tenant is destroyed with its data; while it runs, restore it into itself`,
            ]);
        // The source's repository as its host's env file gave it, on stdin (never on a command line).
        stdin = backupEnv(source.config.backups, source.config.tenant, key, source.secrets.backupS3SecretAccessKey);
        snapshots ??= (
            JSON.parse(await runScript(target, ["list", "--source-from-stdin"], stdin, 60_000)) as {
                snapshots: Snapshot[];
            }
        ).snapshots.sort((a, b) => a.time.localeCompare(b.time));
    }
    const where = repositoryOf(target.config.backups.repository, o.from ?? tenant);
    const chosen = chooseSnapshot(snapshots ?? [], o.at, where);
    const back = o.rollback ? rollbackOf(target.config, chosen) : undefined;
    await runScript(
        target,
        [
            "restore",
            chosen.id,
            ...(o.force ? ["--force"] : []),
            ...(source ? ["--source-from-stdin"] : []),
            ...(back ? ["--rollback"] : []),
        ],
        stdin,
        30 * 60_000,
    );
    if (back) {
        await target.stack.setConfig(`${PROJECT}:release`, { value: back.release });
        if (back.keycloak === DEFAULT_IMAGES.iam) await target.stack.removeConfig(`${PROJECT}:images.iam`, true);
        else if (back.keycloak) await target.stack.setConfig(`${PROJECT}:images.iam`, { value: back.keycloak }, true);
    }
    return chosen;
}

/** What a rollback sets back: the backup's release, and Keycloak's image when the backup names it. */
export function rollbackOf(
    config: Pick<StackConfig, "tenant" | "release" | "images">,
    snapshot: Snapshot,
): { release: ReleaseTag; keycloak?: string } {
    const tag = (name: string) => snapshot.tags?.find((t) => t.startsWith(`${name}=`))?.slice(name.length + 1);
    const release = RELEASE_TAGS.find((t) => t === tag("release"));
    if (!release)
        throw new FleetInputError(config.tenant, [
            `--rollback: backup ${snapshot.short_id} is of release ${tag("release") ?? "unknown"}, which this stack does not describe (${RELEASE_TAGS.join(", ")})`,
        ]);
    const keycloak = tag("keycloak");
    if (release === config.release && (!keycloak || keycloak === config.images.iam))
        throw new FleetInputError(config.tenant, [
            `--rollback: backup ${snapshot.short_id} is of release ${release}${keycloak ? ` and ${keycloak}` : ""}, which the tenant runs already: restore it without --rollback`,
        ]);
    return { release, ...(keycloak ? { keycloak } : {}) };
}

/**
 * Before a destroy with data: the repository's key moves into the tenant's config (secret backupKey),
 * since the state that holds the generated one goes with the stack's resources. Its backups stay
 * readable (restore --from), and an `up` of the same tenant adopts its repository again.
 */
export async function keepBackupKey(stack: Stack): Promise<boolean> {
    const key = (await stack.outputs()).backupKey?.value as string | undefined;
    if (!key) return false;
    await stack.setConfig(`${PROJECT}:backupKey`, { value: key, secret: true });
    return true;
}

/** Deletes a tenant's backups (destroy --with-data --purge-backups), before its host script goes. */
export async function purgeBackups(ctx: FleetContext, tenant: string): Promise<string> {
    const config = tenantConfig(ctx, tenant);
    if (config.target === "kubernetes") return purgeKubeBackups(ctx, config as KubeTenant);
    const t = await tenantHost(ctx, tenant);
    return (await runScript(t, ["purge"], "", 10 * 60_000)).trim();
}
