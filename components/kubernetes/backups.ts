// A tenant's scheduled backups on Kubernetes: a CronJob of the tenant's namespace whose pods dump each
// PostgreSQL database with its own image's pg_dump (init containers, over the network, one
// transaction each) and then back the dumps and the images volume up with restic 0.14
// (https://restic.readthedocs.io/en/v0.14.0/, upstream's image restic/restic) into the tenant's own
// repository in an S3-compatible bucket, encrypted client-side with the tenant's key. A run's result is
// its pod's termination message (restic's summary), which `npm run tenant -- backups` reads from the
// Jobs the CronJob keeps; the restore and the repository's listing run as pods built here too.
//
// Not in a Kubernetes backup: the data files of mongo and meilisearch, which the VM target copies with
// the container paused (components/vm/cytomine-backup.sh); a pod cannot pause another's container,
// and a copy of live files would be torn.
import * as fs from "node:fs";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { BackupSettings, backupSources, HELD_ROWS_SQL, repositoryEnv } from "../model/backups";
import { APP_UID } from "../model/release";
import { PORTS } from "../model/services";
import type { ServiceSpec } from "../model/spec";
import { tenantLabels } from "./namespace";
import { containerSecurityContext, podSecurityContext } from "./security";
import { claimName, namespaceSelector } from "./workload";

type PodSpec = k8s.types.input.core.v1.PodSpec;
type Container = k8s.types.input.core.v1.Container;
type EnvVar = k8s.types.input.core.v1.EnvVar;
type VolumeMount = k8s.types.input.core.v1.VolumeMount;

export const BACKUP_JOB_SCRIPT = fs.readFileSync(path.join(__dirname, "backup-job.sh"), "utf8");

/** The component label of every backup, restore and repository pod (its NetworkPolicy selects them). */
export const BACKUP_COMPONENT = "backup";
/** The Secret with the tenant's repository, its key and the bucket's credentials. */
export const BACKUP_SECRET_NAME = "cytomine-backup";
/** The CronJob (and the prefix of the Jobs it makes). */
export const BACKUP_CRONJOB_NAME = "backup";
/** What a Job of the component does: backup, restore, snapshots, purge. */
export const JOB_KIND_LABEL = "cytomine.dev/backup-kind";
/** The release a Job's data belongs to. */
export const RELEASE_LABEL = "cytomine.dev/release";
/** What started a backup: schedule, or before-upgrade. */
export const TRIGGER_LABEL = "cytomine.dev/trigger";

/** The Job that backs up the running release's data before the upgrade to `release`. */
export const beforeUpgradeJobName = (release: string) => `backup-before-upgrade-${release}`;

/** A database of the tenant, as its backup dumps it and its restore loads it. */
export interface BackupDatabase {
    component: string;
    image: string;
    user: string;
    database: string;
    /** The Secret and key that hold its password. */
    password: { name: string; key: string };
}

/** What a tenant's backup holds and how its pods run: from the same service specs as its workloads. */
export interface KubeBackupPlan {
    tenant: string;
    release: string;
    resticImage: string;
    databases: BackupDatabase[];
    /** The databases of the tenant's identity (Keycloak's): restored into the same tenant only. */
    identity: string[];
    /** Claims copied as files (the images volume), mounted at /data/<claim>; and the components that mount them. */
    claims: { claim: string; component: string }[];
}

export function kubeBackupPlan(
    tenant: string,
    release: string,
    resticImage: string,
    services: ServiceSpec[],
): KubeBackupPlan {
    const sources = backupSources(services);
    const spec = (component: string) => services.find((s) => s.component === component) as ServiceSpec;
    return {
        tenant,
        release,
        resticImage,
        databases: sources.databases.map((d) => {
            const ref = spec(d.component).env.find((e) => e.name === "POSTGRES_PASSWORD")?.valueFrom as
                { secretKeyRef: { name: string; key: string } } | undefined;
            if (!ref) throw new Error(`${d.component}: POSTGRES_PASSWORD is not read from a Secret`);
            return { ...d, image: spec(d.component).image, password: ref.secretKeyRef };
        }),
        identity: sources.identity,
        claims: sources.files.map((f) => ({ claim: claimName(f.component, f.volume), component: f.component })),
    };
}

const plain = (vars: Record<string, string>): EnvVar[] =>
    Object.entries(vars).map(([name, value]) => ({ name, value }));

/** A container running one step of backup-job.sh in `image`. */
function step(name: string, image: string, command: string, env: EnvVar[], mounts: VolumeMount[]): Container {
    return {
        name,
        image,
        command: ["sh", "-c", BACKUP_JOB_SCRIPT, "backup-job.sh", command],
        env,
        securityContext: containerSecurityContext(),
        // The step's own message (backup-job.sh's fail), else the log's tail.
        terminationMessagePolicy: "FallbackToLogsOnError",
        volumeMounts: mounts,
        resources: {
            requests: { cpu: "100m", memory: "256Mi", "ephemeral-storage": "256Mi" },
            limits: { memory: "1Gi", "ephemeral-storage": "4Gi" },
        },
    };
}

/** A database step's environment: where the database is and its password (from the tenant's Secret). */
const databaseEnv = (d: BackupDatabase): EnvVar[] => [
    ...plain({ DB_HOST: d.component, DB_USER: d.user, DB_NAME: d.database }),
    { name: "PGPASSWORD", valueFrom: { secretKeyRef: d.password } },
];

/** A restic step's environment: the repository from `secret`, restic's cache in the pod's scratch. */
const resticEnv = (plan: KubeBackupPlan, secret: string, vars: Record<string, string> = {}) => ({
    env: plain({ TENANT: plan.tenant, RESTIC_CACHE_DIR: "/tmp/restic-cache", ...vars }),
    envFrom: [{ secretRef: { name: secret } }],
});

/** The pod around the steps: restricted security, no API token, scratch and work folders, the claims. */
function pod(plan: KubeBackupPlan, o: { claims: boolean; init: Container[]; containers: Container[] }): PodSpec {
    return {
        restartPolicy: "Never",
        automountServiceAccountToken: false,
        securityContext: podSecurityContext(APP_UID),
        initContainers: o.init,
        containers: o.containers,
        volumes: [
            { name: "tmp", emptyDir: {} },
            { name: "work", emptyDir: {} },
            ...(o.claims
                ? plan.claims.map((c) => ({ name: c.claim, persistentVolumeClaim: { claimName: c.claim } }))
                : []),
        ],
    };
}

/** The pod's work folder at `work`, its scratch at /tmp, and (with `claims`) each claim at /data/<claim>. */
const mounts = (work: string, claims?: { plan: KubeBackupPlan; readOnly: boolean }): VolumeMount[] => [
    { name: "work", mountPath: work },
    { name: "tmp", mountPath: "/tmp" },
    ...(claims?.plan.claims ?? []).map((c) => ({
        name: c.claim,
        mountPath: `/data/${c.claim}`,
        readOnly: claims?.readOnly,
    })),
];

/**
 * The scheduled backup's pod: each database dumped (init containers), then restic backs the dumps and
 * the claims up. It runs beside the pods that mount the claims: a ReadWriteOnce volume attaches to one
 * node at a time.
 */
export function backupPodSpec(
    plan: KubeBackupPlan,
    o: { keepDaily: number; keepWeekly: number; trigger?: string },
): PodSpec {
    const spec = pod(plan, {
        claims: true,
        init: plan.databases.map((d) =>
            step(`dump-${d.component}`, d.image, "dump", databaseEnv(d), mounts("/backup")),
        ),
        containers: [
            {
                ...step("restic", plan.resticImage, "backup", [], mounts("/backup", { plan, readOnly: true })),
                ...resticEnv(plan, BACKUP_SECRET_NAME, {
                    RELEASE: plan.release,
                    TRIGGER: o.trigger ?? "schedule",
                    KEEP_DAILY: String(o.keepDaily),
                    KEEP_WEEKLY: String(o.keepWeekly),
                }),
            },
        ],
    });
    const owners = [...new Set(plan.claims.map((c) => c.component))];
    return owners.length
        ? {
              ...spec,
              affinity: {
                  podAffinity: {
                      requiredDuringSchedulingIgnoredDuringExecution: owners.map((component) => ({
                          labelSelector: { matchLabels: tenantLabels(plan.tenant, component) },
                          topologyKey: "kubernetes.io/hostname",
                      })),
                  },
              },
          }
        : spec;
}

export interface RestoreOptions {
    snapshot: string;
    /** The Secret that opens the repository the snapshot is in (another tenant's, for restore --from). */
    secret: string;
    /** Replace the content the tenant holds (else the restore stops, naming it). */
    force: boolean;
    /** Databases not loaded (Keycloak's, from another tenant's backup). */
    skip: string[];
}

/**
 * The restore's pod, run with the tenant's services stopped and its databases up: unless forced, it
 * stops when the tenant holds content; restic fetches the snapshot and replaces the claims; then each
 * database is loaded from its dump.
 */
export function restorePodSpec(plan: KubeBackupPlan, o: RestoreOptions): PodSpec {
    const content = plan.databases[0];
    const vars = { SNAPSHOT: o.snapshot, CLAIMS: plan.claims.map((c) => c.claim).join(" ") };
    const withClaims = mounts("/work", { plan, readOnly: false });
    return pod(plan, {
        claims: true,
        init: [
            ...(o.force
                ? []
                : [
                      step(
                          "held",
                          content.image,
                          "held",
                          [
                              ...databaseEnv(content),
                              ...plain({ ...vars, TENANT: plan.tenant, HELD_SQL: HELD_ROWS_SQL }),
                          ],
                          withClaims,
                      ),
                  ]),
            { ...step("fetch", plan.resticImage, "fetch", [], withClaims), ...resticEnv(plan, o.secret, vars) },
        ],
        containers: plan.databases
            .filter((d) => !o.skip.includes(d.component))
            .map((d) => step(`load-${d.component}`, d.image, "load", databaseEnv(d), mounts("/work"))),
    });
}

/** A pod that reads or changes the repository alone: `snapshots` (printed as JSON) or `purge`. */
export function repositoryPodSpec(plan: KubeBackupPlan, command: "snapshots" | "purge", secret: string): PodSpec {
    return pod(plan, {
        claims: false,
        init: [],
        containers: [{ ...step("restic", plan.resticImage, command, [], mounts("/work")), ...resticEnv(plan, secret) }],
    });
}

/** Where the repository's endpoint is, as a NetworkPolicy peer and port: an address exactly, a name anywhere. */
export function repositoryPeer(repository: string): { cidr: string; port: number } {
    const url = new URL(repository.replace(/^s3:/, ""));
    const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
    return { cidr: /^\d+\.\d+\.\d+\.\d+$/.test(url.hostname) ? `${url.hostname}/32` : "0.0.0.0/0", port };
}

/** The backup pods' policy: out to the databases, cluster DNS and the bucket; nothing in. */
export function backupPolicySpec(
    plan: KubeBackupPlan,
    repository: string,
): k8s.types.input.networking.v1.NetworkPolicySpec {
    const peer = repositoryPeer(repository);
    return {
        podSelector: { matchLabels: tenantLabels(plan.tenant, BACKUP_COMPONENT) },
        policyTypes: ["Ingress", "Egress"],
        ingress: [],
        egress: [
            ...plan.databases.map((d) => ({
                to: [{ podSelector: { matchLabels: tenantLabels(plan.tenant, d.component) } }],
                ports: [{ port: PORTS.postgres, protocol: "TCP" }],
            })),
            {
                to: [{ ...namespaceSelector("kube-system"), podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
                ports: [
                    { port: 53, protocol: "UDP" },
                    { port: 53, protocol: "TCP" },
                ],
            },
            { to: [{ ipBlock: { cidr: peer.cidr } }], ports: [{ port: peer.port, protocol: "TCP" }] },
        ],
    };
}

/** The databases' specs with the backup pods among their clients (their policies let them in). */
export const withBackupClients = (services: ServiceSpec[], plan: KubeBackupPlan): ServiceSpec[] =>
    services.map((s) =>
        plan.databases.some((d) => d.component === s.component)
            ? { ...s, clients: [...s.clients, BACKUP_COMPONENT] }
            : s,
    );

export interface TenantBackupsArgs {
    namespace: pulumi.Input<string>;
    plan: KubeBackupPlan;
    settings: BackupSettings;
    /** The repository's key when the stack adopts an existing repository (secret backupKey); else generated. */
    key?: pulumi.Input<string>;
    s3SecretAccessKey?: pulumi.Input<string>;
    /** The key is kept with the data: protected like the volume claims. */
    protect: boolean;
    /** Rendered to files: the Secret (the key) is not declared. */
    render: boolean;
    /**
     * What the schedule waits for (the tenant's Secret, which the dumps read, and the workloads it
     * backs up): a promise, since the workloads are declared after this component.
     */
    dependsOn: Promise<pulumi.Resource[]>;
    /**
     * An upgrade of the running tenant (its release, or Keycloak's image): the versions it runs now,
     * whose data a Job backs up before the services change (they wait for it: beforeUpgrade).
     */
    upgradeFrom?: { release: string; to: string };
}

/** The tenant's backup schedule: its repository Secret, the CronJob and the backup pods' NetworkPolicy. */
export class TenantBackups extends pulumi.ComponentResource {
    /** The repository's key (secret). */
    public readonly key: pulumi.Output<string>;
    public readonly schedule: pulumi.Output<string>;
    /** The backup before an upgrade, which the services that change wait for (none without an upgrade). */
    public readonly beforeUpgrade?: k8s.batch.v1.Job;

    constructor(name: string, args: TenantBackupsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cytomine:kubernetes:Backups", name, {}, opts);
        const child = { parent: this };
        const { plan, settings } = args;
        const labels = tenantLabels(plan.tenant, BACKUP_COMPONENT);
        this.key = pulumi.secret(
            args.key ??
                new random.RandomPassword(
                    `${name}-key`,
                    { length: 48, special: false },
                    // Kept with the data: a destroy that keeps the data keeps the key that reads its backups.
                    { ...child, protect: args.protect },
                ).result,
        );
        const secret = args.render
            ? undefined
            : new k8s.core.v1.Secret(
                  `${name}-repository`,
                  {
                      metadata: { name: BACKUP_SECRET_NAME, namespace: args.namespace, labels },
                      type: "Opaque",
                      stringData: pulumi
                          .all([this.key, args.s3SecretAccessKey])
                          .apply(([key, s3]) => repositoryEnv(settings, plan.tenant, key, s3)),
                  },
                  child,
              );
        new k8s.networking.v1.NetworkPolicy(
            `${name}-policy`,
            {
                metadata: { name: BACKUP_COMPONENT, namespace: args.namespace, labels },
                spec: backupPolicySpec(plan, settings.repository),
            },
            child,
        );
        const jobLabels = {
            ...labels,
            [JOB_KIND_LABEL]: "backup",
            [RELEASE_LABEL]: plan.release,
            [TRIGGER_LABEL]: "schedule",
        };
        const from = args.upgradeFrom;
        if (from) {
            // The data is the running versions': tagged with them, as a rollback would restore it.
            const before = { ...jobLabels, [RELEASE_LABEL]: from.release, [TRIGGER_LABEL]: "before-upgrade" };
            this.beforeUpgrade = new k8s.batch.v1.Job(
                `${name}-before-upgrade`,
                {
                    metadata: { name: beforeUpgradeJobName(from.to), namespace: args.namespace, labels: before },
                    spec: {
                        backoffLimit: 0,
                        activeDeadlineSeconds: 6 * 3600,
                        template: {
                            metadata: { labels: before },
                            spec: backupPodSpec(
                                { ...plan, release: from.release },
                                { ...settings, trigger: "before-upgrade" },
                            ),
                        },
                    },
                },
                // The provider waits until the Job has succeeded (and fails the up when it fails).
                { ...child, dependsOn: secret ? [secret] : [], deleteBeforeReplace: true },
            );
        }
        const scheduleAfter: Promise<pulumi.Resource[]> = args.dependsOn.then((d) => [
            ...d,
            ...(secret ? [secret] : []),
        ]);
        const cronJob = new k8s.batch.v1.CronJob(
            `${name}-schedule`,
            {
                metadata: { name: BACKUP_CRONJOB_NAME, namespace: args.namespace, labels },
                spec: {
                    schedule: settings.schedule,
                    // One run at a time; a run missed by more than an hour waits for the next.
                    concurrencyPolicy: "Forbid",
                    startingDeadlineSeconds: 3600,
                    // What `npm run tenant -- backups` lists.
                    successfulJobsHistoryLimit: 7,
                    failedJobsHistoryLimit: 3,
                    jobTemplate: {
                        metadata: { labels: jobLabels },
                        spec: {
                            // A failed run is reported, not retried over the data: the next schedule runs again.
                            backoffLimit: 0,
                            activeDeadlineSeconds: 6 * 3600,
                            template: {
                                metadata: { labels: jobLabels },
                                spec: backupPodSpec(plan, settings),
                            },
                        },
                    },
                },
            },
            { ...child, dependsOn: scheduleAfter },
        );
        this.schedule = cronJob.spec.schedule;
        this.registerOutputs({ key: this.key, schedule: this.schedule });
    }
}
