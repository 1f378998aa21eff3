// A Kubernetes tenant's backups, as an operator sees and uses them: the runs are the pods of the
// CronJob's Jobs (their termination messages hold restic's summary or the reason), the snapshots are
// read by a pod of restic's image, and a restore stops the tenant's services, runs the restore pod and
// starts them again. Every pod is built by components/kubernetes/backups.ts and runs in the tenant's
// namespace, placed as its services are, through the kubeconfig its stack uses.
import * as crypto from "node:crypto";
import type { V1Pod } from "@kubernetes/client-node";
import { repositoryEnv, repositoryOf } from "../../components/model/backups";
import { cytomineServices } from "../../components/model/services";
import {
    BACKUP_COMPONENT,
    BACKUP_CRONJOB_NAME,
    BACKUP_SECRET_NAME,
    JOB_KIND_LABEL,
    kubeBackupPlan,
    KubeBackupPlan,
    RELEASE_LABEL,
    repositoryPodSpec,
    TRIGGER_LABEL,
    restorePodSpec,
} from "../../components/kubernetes/backups";
import { tenantLabels } from "../../components/kubernetes/namespace";
import { REGISTRY_SECRET_NAME } from "../../components/kubernetes/secrets";
import { withImagePullSecret, withPlacement } from "../../components/kubernetes/workload";
import type { StackConfig } from "../../program/config";
import { ClusterApis, loadClusterApis, orAbsent } from "../../program/preflight/cluster";
import type { BackupListing, BackupRun, Snapshot } from "./backup-listing";
import type { FleetContext } from "./context";
import { FleetInputError } from "./plan";

export type KubeTenant = StackConfig & { backups: NonNullable<StackConfig["backups"]> };

/** The tenant's backup plan, from the same service specs its stack declares. */
export function planOf(config: StackConfig): KubeBackupPlan {
    const services = cytomineServices({
        images: config.images,
        storage: config.kubernetes.storage,
        publicUrl: config.publicUrl,
        keycloak: config.keycloak,
        datasets: false,
    });
    return kubeBackupPlan(config.tenant, config.release, config.images.restic, services);
}

const labelSelector = (labels: Record<string, string>) =>
    Object.entries(labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");

const terminated = (pod: V1Pod) =>
    [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
        .map((c) => ({ name: c.name, state: c.state?.terminated }))
        .filter((c) => c.state !== undefined);

/** A finished backup or restore pod as a run; undefined while it runs. */
export function runOf(pod: V1Pod): BackupRun | undefined {
    const phase = pod.status?.phase;
    if (phase !== "Succeeded" && phase !== "Failed") return undefined;
    const labels = pod.metadata?.labels ?? {};
    const ended = terminated(pod);
    const failed = ended.find((c) => c.state?.exitCode !== 0);
    const finished = ended.map((c) => c.state?.finishedAt).filter((t): t is Date => t !== undefined);
    const end = finished.length ? new Date(Math.max(...finished.map((t) => new Date(t).getTime()))) : undefined;
    const start = pod.status?.startTime ? new Date(pod.status.startTime) : undefined;
    const kind = labels[JOB_KIND_LABEL] === "restore" ? "restore" : "backup";
    let summary: { snapshot_id?: string; total_bytes_processed?: number } = {};
    if (kind === "backup" && !failed) {
        try {
            summary = JSON.parse(ended.find((c) => c.name === "restic")?.state?.message ?? "{}") as typeof summary;
        } catch {
            summary = {};
        }
    }
    return {
        time: (end ?? start ?? new Date(0)).toISOString().replace(/\.\d+Z$/, "Z"),
        kind,
        status: phase === "Succeeded" ? "ok" : "failed",
        snapshot: kind === "restore" ? (labels["cytomine.dev/snapshot"] ?? "") : (summary.snapshot_id ?? ""),
        bytes: summary.total_bytes_processed ?? 0,
        seconds: start && end ? Math.round((end.getTime() - start.getTime()) / 1000) : 0,
        release: labels[RELEASE_LABEL] ?? "",
        trigger: kind === "backup" ? (labels[TRIGGER_LABEL] ?? "schedule") : "",
        message: failed ? `${failed.name}: ${(failed.state?.message ?? `exit ${failed.state?.exitCode}`).trim()}` : "",
    };
}

interface Cluster {
    apis: ClusterApis;
    config: KubeTenant;
    namespace: string;
}

async function clusterOf(ctx: FleetContext, config: KubeTenant): Promise<Cluster> {
    const apis = await loadClusterApis(ctx.ambientEnv());
    const namespace = config.kubernetes.namespace;
    if (!(await orAbsent(() => apis.core.readNamespace({ name: namespace }))))
        throw new FleetInputError(config.tenant, [
            `namespace ${namespace} is not in the cluster: run npm run tenant -- up ${config.tenant} first`,
        ]);
    return { apis, config, namespace };
}

/**
 * A pod of the tenant's, placed and pulling as its services do, labelled as a backup pod. `spec` is
 * plain data from components/kubernetes/backups.ts (typed there as the provider's inputs).
 */
function podOf(c: Cluster, name: string, kind: string, spec: object, labels: Record<string, string> = {}): V1Pod {
    const { nodeSelector, tolerations } = c.config.kubernetes;
    let props: Record<string, unknown> = { spec };
    props = withPlacement("kubernetes:core/v1:Pod", props, { nodeSelector, tolerations }) ?? props;
    if (c.config.imageRegistry)
        props = withImagePullSecret("kubernetes:core/v1:Pod", props, REGISTRY_SECRET_NAME) ?? props;
    return {
        metadata: {
            name,
            namespace: c.namespace,
            labels: {
                ...tenantLabels(c.config.tenant, BACKUP_COMPONENT),
                [JOB_KIND_LABEL]: kind,
                [RELEASE_LABEL]: c.config.release,
                ...labels,
            },
        },
        spec: props.spec as V1Pod["spec"],
    };
}

/** Runs a pod to its end (bounded); returns it finished. A pod that never ends is deleted, naming why. */
async function runPod(c: Cluster, pod: V1Pod, timeoutMs: number): Promise<V1Pod> {
    const name = pod.metadata?.name as string;
    await c.apis.core.createNamespacedPod({ namespace: c.namespace, body: pod });
    const deadline = Date.now() + timeoutMs;
    let last: V1Pod = pod;
    while (Date.now() < deadline) {
        last = await c.apis.core.readNamespacedPod({ name, namespace: c.namespace });
        if (last.status?.phase === "Succeeded" || last.status?.phase === "Failed") return last;
        await new Promise((r) => setTimeout(r, 2000));
    }
    const waiting = [...(last.status?.initContainerStatuses ?? []), ...(last.status?.containerStatuses ?? [])]
        .map((s) => s.state?.waiting && `${s.name}: ${s.state.waiting.reason} ${s.state.waiting.message ?? ""}`.trim())
        .filter(Boolean);
    const unscheduled = last.status?.conditions?.find((k) => k.type === "PodScheduled" && k.status === "False");
    await c.apis.core.deleteNamespacedPod({ name, namespace: c.namespace }).catch(() => undefined);
    throw new FleetInputError(c.config.tenant, [
        `pod ${c.namespace}/${name} did not finish within ${Math.round(timeoutMs / 1000)} s` +
            (unscheduled ? ` (not scheduled: ${unscheduled.message})` : "") +
            (waiting.length ? ` (${waiting.join("; ")})` : "") +
            ` (on the local environment's KWOK nodes no container runs: place the tenant on the real node)`,
    ]);
}

const failure = (pod: V1Pod) => {
    const failed = terminated(pod).find((c) => c.state?.exitCode !== 0);
    return (
        failed && {
            container: failed.name,
            message: (failed.state?.message ?? `exit ${failed.state?.exitCode}`).trim(),
        }
    );
};

const suffix = () => crypto.randomBytes(3).toString("hex");

/** The repository's snapshots, read by a pod with the Secret `secret` (the tenant's own by default). */
async function snapshotsOf(c: Cluster, secret = BACKUP_SECRET_NAME): Promise<Snapshot[]> {
    const name = `backup-snapshots-${suffix()}`;
    const pod = await runPod(
        c,
        podOf(c, name, "snapshots", repositoryPodSpec(planOf(c.config), "snapshots", secret)),
        5 * 60_000,
    );
    try {
        const failed = failure(pod);
        if (failed) throw new FleetInputError(c.config.tenant, [failed.message.replace(/^cytomine-backup: /, "")]);
        const log = await c.apis.core.readNamespacedPodLog({ name, namespace: c.namespace, container: "restic" });
        const json = log.trim().split("\n").pop() ?? "[]";
        return (JSON.parse(json) as Snapshot[]).sort((a, b) => a.time.localeCompare(b.time));
    } finally {
        await c.apis.core.deleteNamespacedPod({ name, namespace: c.namespace }).catch(() => undefined);
    }
}

/**
 * The restores' record: a ConfigMap of the namespace, a run per key (the newest 50). A restore's pod is
 * deleted once it ends, since a pod that names the claim (even one that ended) holds the claim's
 * deletion (its kubernetes.io/pvc-protection finalizer) at a destroy with data.
 */
const RESTORES = "cytomine-restores";

async function recordRestore(c: Cluster, run: BackupRun) {
    const read = await orAbsent(() => c.apis.core.readNamespacedConfigMap({ name: RESTORES, namespace: c.namespace }));
    const data = { ...read?.data, [`${run.time.replace(/[^0-9TZ]/g, "")}-${run.snapshot}`]: JSON.stringify(run) };
    const kept = Object.fromEntries(Object.entries(data).sort().slice(-50));
    const body = {
        metadata: { name: RESTORES, namespace: c.namespace, labels: tenantLabels(c.config.tenant, BACKUP_COMPONENT) },
        data: kept,
    };
    if (read) await c.apis.core.replaceNamespacedConfigMap({ name: RESTORES, namespace: c.namespace, body });
    else await c.apis.core.createNamespacedConfigMap({ namespace: c.namespace, body });
}

async function restoreRuns(c: Cluster): Promise<BackupRun[]> {
    const read = await orAbsent(() => c.apis.core.readNamespacedConfigMap({ name: RESTORES, namespace: c.namespace }));
    return Object.values(read?.data ?? {}).map((v) => JSON.parse(v) as BackupRun);
}

/** The tenant's snapshots and runs (the CronJob's kept Jobs and the restores), newest last. */
export async function listKubeBackups(ctx: FleetContext, config: KubeTenant): Promise<BackupListing> {
    const c = await clusterOf(ctx, config);
    const pods = await c.apis.core.listNamespacedPod({
        namespace: c.namespace,
        labelSelector: labelSelector(tenantLabels(config.tenant, BACKUP_COMPONENT)),
    });
    const runs = [
        ...pods.items
            .filter((p) => p.metadata?.labels?.[JOB_KIND_LABEL] === "backup")
            .map(runOf)
            .filter((r): r is BackupRun => r !== undefined),
        ...(await restoreRuns(c)),
    ].sort((a, b) => a.time.localeCompare(b.time));
    return {
        tenant: config.tenant,
        repository: repositoryOf(config.backups.repository, config.tenant),
        snapshots: await snapshotsOf(c),
        runs,
        lastSuccess: runs.filter((r) => r.kind === "backup" && r.status === "ok").pop(),
    };
}

/** The tenant's Deployments and StatefulSets other than the databases, with their replicas. */
async function services(c: Cluster, plan: KubeBackupPlan) {
    const selector = { namespace: c.namespace, labelSelector: `app.kubernetes.io/instance=${c.config.tenant}` };
    const databases = plan.databases.map((d) => d.component);
    const kept = (m?: { labels?: Record<string, string> }) =>
        !databases.includes(m?.labels?.["app.kubernetes.io/component"] ?? "");
    return [
        ...(await c.apis.apps.listNamespacedDeployment(selector)).items
            .filter((d) => kept(d.metadata))
            .map((d) => ({
                kind: "deployment" as const,
                name: d.metadata?.name as string,
                replicas: d.spec?.replicas ?? 1,
            })),
        ...(await c.apis.apps.listNamespacedStatefulSet(selector)).items
            .filter((d) => kept(d.metadata))
            .map((d) => ({
                kind: "statefulset" as const,
                name: d.metadata?.name as string,
                replicas: d.spec?.replicas ?? 1,
            })),
    ];
}

type Workload = Awaited<ReturnType<typeof services>>[number];

/** Scales the workloads; with `replicas` 0 waits until their pods are gone, else until they are Ready. */
async function scale(c: Cluster, workloads: Workload[], to: (w: Workload) => number, timeoutMs: number) {
    for (const w of workloads) {
        const body = { metadata: { name: w.name, namespace: c.namespace }, spec: { replicas: to(w) } };
        if (w.kind === "deployment")
            await c.apis.apps.replaceNamespacedDeploymentScale({ name: w.name, namespace: c.namespace, body });
        else await c.apis.apps.replaceNamespacedStatefulSetScale({ name: w.name, namespace: c.namespace, body });
    }
    const deadline = Date.now() + timeoutMs;
    const pending = async () => {
        const left: string[] = [];
        for (const w of workloads) {
            const read =
                w.kind === "deployment"
                    ? await c.apis.apps.readNamespacedDeployment({ name: w.name, namespace: c.namespace })
                    : await c.apis.apps.readNamespacedStatefulSet({ name: w.name, namespace: c.namespace });
            const want = to(w);
            const done = want === 0 ? (read.status?.replicas ?? 0) === 0 : (read.status?.readyReplicas ?? 0) >= want;
            if (!done) left.push(w.name);
        }
        return left;
    };
    let left = await pending();
    while (left.length > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 2000));
        left = await pending();
    }
    return left;
}

const stopped = (_: Workload) => 0;

/**
 * Restores snapshot `at` (the newest by default) of the tenant's repository, or of `from`'s (a tenant
 * destroyed with its data: its key is in its config), into the tenant: services stopped, the restore
 * pod, services started.
 */
export async function restoreKubeTenant(
    ctx: FleetContext,
    config: KubeTenant,
    o: {
        at?: string;
        force?: boolean;
        /** The source tenant's config and its secrets (backupKey, backupS3SecretAccessKey). */
        from?: { config: StackConfig; secrets: Record<string, string> };
        choose: (snapshots: Snapshot[], at: string | undefined, where: string) => Snapshot;
    },
): Promise<Snapshot> {
    const c = await clusterOf(ctx, config);
    const plan = planOf(config);
    const from = o.from;
    let secret = BACKUP_SECRET_NAME;
    if (from) {
        if (!from.config.backups)
            throw new FleetInputError(config.tenant, [
                `--from ${from.config.tenant}: that tenant has no backups (backups.enabled is false)`,
            ]);
        const key = from.secrets.backupKey;
        if (!key)
            throw new FleetInputError(config.tenant, [
                `--from ${from.config.tenant}: its backup key is not in its config (backupKey): it is kept there when the tenant is destroyed with its data; while it runs, restore it into itself`,
            ]);
        // The source's repository, for this restore's pods only: a Secret of the namespace, deleted after.
        secret = `${BACKUP_SECRET_NAME}-from-${suffix()}`;
        await c.apis.core.createNamespacedSecret({
            namespace: c.namespace,
            body: {
                metadata: {
                    name: secret,
                    namespace: c.namespace,
                    labels: tenantLabels(config.tenant, BACKUP_COMPONENT),
                },
                type: "Opaque",
                stringData: repositoryEnv(
                    from.config.backups,
                    from.config.tenant,
                    key,
                    from.secrets.backupS3SecretAccessKey,
                ),
            },
        });
    }
    try {
        const source = from?.config ?? config;
        const where = repositoryOf((source.backups ?? config.backups).repository, source.tenant);
        const chosen = o.choose(await snapshotsOf(c, secret), o.at, where);
        const tag = (name: string) => chosen.tags?.find((t) => t.startsWith(`${name}=`))?.slice(name.length + 1);
        if (tag("release") !== config.release)
            throw new FleetInputError(config.tenant, [
                `backup ${chosen.short_id} was taken with release ${tag("release") ?? "unknown"}, this tenant runs ${config.release}: restore it into a tenant of release ${tag("release") ?? "unknown"} (rollbacks on target kubernetes: set release back and restore there)`,
            ]);
        // Another tenant's backup: its Cytomine data, not its identity (Keycloak's database holds that
        // tenant's master admin and realms; this tenant's Keycloak keeps its own, which its stack manages).
        const skip = tag("tenant") === config.tenant ? [] : plan.identity;
        const workloads = await services(c, plan);
        const notStopped = await scale(c, workloads, stopped, 5 * 60_000);
        if (notStopped.length)
            throw new FleetInputError(config.tenant, [
                `${notStopped.join(", ")} did not stop within 5 minutes: see kubectl -n ${c.namespace} get pods`,
            ]);
        const name = `restore-${chosen.short_id}-${suffix()}`;
        const pod = await runPod(
            c,
            podOf(
                c,
                name,
                "restore",
                restorePodSpec(plan, { snapshot: chosen.id, secret, force: o.force ?? false, skip }),
                {
                    "cytomine.dev/snapshot": chosen.short_id,
                },
            ),
            30 * 60_000,
        );
        await c.apis.core.deleteNamespacedPod({ name, namespace: c.namespace }).catch(() => undefined);
        const failed = failure(pod);
        // Refused before anything changed (the tenant holds data): not a run; its services start again as they were.
        if (failed?.container === "held") {
            await scale(c, workloads, (w) => w.replicas, 10 * 60_000);
            throw new FleetInputError(config.tenant, [failed.message.replace(/^cytomine-backup: /, "")]);
        }
        const ran = runOf(pod);
        if (ran) await recordRestore(c, { ...ran, trigger: from ? `from ${from.config.tenant}` : "" });
        if (failed)
            throw new FleetInputError(config.tenant, [
                `the restore of ${chosen.short_id} failed at ${failed.container}: ${failed.message.replace(/^cytomine-backup: /, "")}; ` +
                    `the services stay stopped: run the restore again, or start them as they were with ` +
                    `kubectl -n ${c.namespace} scale deployment,statefulset -l app.kubernetes.io/instance=${config.tenant} --replicas=1`,
            ]);
        const notReady = await scale(c, workloads, (w) => w.replicas, 10 * 60_000);
        if (notReady.length)
            throw new FleetInputError(config.tenant, [
                `restored ${chosen.short_id}, but ${notReady.join(", ")} did not become Ready within 10 minutes: see kubectl -n ${c.namespace} get pods`,
            ]);
        return chosen;
    } finally {
        if (secret !== BACKUP_SECRET_NAME)
            await c.apis.core.deleteNamespacedSecret({ name: secret, namespace: c.namespace }).catch(() => undefined);
    }
}

/** Deletes every backup of the tenant (destroy --with-data --purge-backups), while its Secret is there. */
export async function purgeKubeBackups(ctx: FleetContext, config: KubeTenant): Promise<string> {
    const c = await clusterOf(ctx, config);
    // The schedule stops first: a run between the purge and the destroy would back up a tenant being deleted.
    const cronJob = await orAbsent(() =>
        c.apis.batch.readNamespacedCronJob({ name: BACKUP_CRONJOB_NAME, namespace: c.namespace }),
    );
    if (cronJob?.spec)
        await c.apis.batch.replaceNamespacedCronJob({
            name: BACKUP_CRONJOB_NAME,
            namespace: c.namespace,
            body: { ...cronJob, spec: { ...cronJob.spec, suspend: true } },
        });
    // And a run already under way ends first: it would leave a snapshot after the purge.
    const running = async () =>
        (
            await c.apis.core.listNamespacedPod({
                namespace: c.namespace,
                labelSelector: labelSelector({
                    ...tenantLabels(config.tenant, BACKUP_COMPONENT),
                    [JOB_KIND_LABEL]: "backup",
                }),
            })
        ).items.filter((p) => !["Succeeded", "Failed"].includes(p.status?.phase ?? "")).length;
    const deadline = Date.now() + 10 * 60_000;
    while ((await running()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2000));
    const name = `backup-purge-${suffix()}`;
    const pod = await runPod(
        c,
        podOf(c, name, "purge", repositoryPodSpec(planOf(config), "purge", BACKUP_SECRET_NAME)),
        10 * 60_000,
    );
    await c.apis.core.deleteNamespacedPod({ name, namespace: c.namespace }).catch(() => undefined);
    const failed = failure(pod);
    if (failed) throw new FleetInputError(config.tenant, [failed.message.replace(/^cytomine-backup: /, "")]);
    return `deleted the backups of ${config.tenant} in ${repositoryOf(config.backups.repository, config.tenant)}`;
}
