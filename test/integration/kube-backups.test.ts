// The restore drill on the Kubernetes target, on the environment's real node, through the tenant CLI:
// data made in a tenant's PostGIS (through psql, its own client, in its pod) and on its images claim
// (through the PIMS pod, as PIMS writes it); a backup taken by the schedule (the real CronJob
// controller starts the tenant's CronJob; the test never runs restic); the tenant destroyed with its
// data; its backup restored into a fresh tenant; rows, geometries and file checksums compared
// exactly; and the bucket's bytes searched for the data's and the secrets' plaintext. The bucket is on
// the environment's S3 server (s3proxy), which the node's pods reach through its relay on the bridge.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { Stack } from "@pulumi/pulumi/automation";
import type { BackupListing } from "../../apps/fleet";
import { Fleet } from "../../apps/fleet";
import {
    Environment,
    envSettings,
    lockRealNode,
    nodeS3Endpoint,
    REAL_NODE_LABEL,
    REAL_NODE_STORAGE_CLASS,
    REAL_NODE_TAINT,
    requireRealNode,
    useEnvironment,
} from "../../localenv";
import { EARLIER_RELEASES, RELEASE, releaseImage } from "../../components/model/release";
import { kubeApi } from "../support/clients";
import { holds, makeRowsSql, psqlArgs, READ_ROWS_SQL, TenantData } from "../support/tenant-data";
import { show, tenantCli } from "../support/tenant-cli";

const run = promisify(execFile);
const EARLIER = EARLIER_RELEASES[0].tag;

/** In the PIMS pod (python3, as PIMS writes): 5 slides of 200 kB holding the canary; then every file's sha256. */
const MAKE_FILES = `
import os, sys
os.makedirs("/data/images/upload", exist_ok=True)
for i in range(5):
    with open(f"/data/images/upload/slide-{i}.tif", "wb") as f:
        f.write(sys.argv[1].encode() + b" " + os.urandom(200000))
`;
const CHECKSUMS = `
import hashlib, json, os
out = {}
for root, _, files in os.walk("/data/images"):
    for name in files:
        p = os.path.join(root, name)
        out[os.path.relpath(p, "/data/images")] = hashlib.sha256(open(p, "rb").read()).hexdigest()
print(json.dumps(out, sort_keys=True))
`;

describe(
    "backups on Kubernetes: a scheduled backup restored into a fresh tenant on the real node",
    { timeout: 2_400_000 },
    () => {
        let env: Environment;
        let nodeLock: { release(): void } | undefined;
        let kube: Awaited<ReturnType<typeof kubeApi>>;
        let dir: string;
        const id = crypto.randomBytes(2).toString("hex");
        const [source, fresh] = ["a", "b"].map((x) => `kb${id}-${x}`);
        const bucket = `cytomine-kube-backup-${id}`;
        const canary = `canary-${crypto.randomBytes(8).toString("hex")}`;
        const s = envSettings();
        let cliEnv: Record<string, string>;
        const cli = (args: string[], timeoutMs?: number) => tenantCli([...args, "--fleet-dir", dir], cliEnv, timeoutMs);
        const kubectl = async (...args: string[]) =>
            (
                await run(path.join(s.kube.binDir, "kubectl"), ["--kubeconfig", env.kube.kubeconfig, ...args], {
                    timeout: 120_000,
                    maxBuffer: 16 * 1024 * 1024,
                })
            ).stdout.trim();
        /** A Ready pod of the component (waited for a bounded while: right after an up, one may be restarting). */
        const podOf = async (tenant: string, component: string) => {
            const deadline = Date.now() + 120_000;
            for (;;) {
                const pods = await kube.core.listNamespacedPod({
                    namespace: tenant,
                    labelSelector: `app.kubernetes.io/component=${component}`,
                });
                const pod = pods.items.find(
                    (p) =>
                        !p.metadata?.deletionTimestamp &&
                        p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
                );
                if (pod) return pod.metadata!.name!;
                assert.ok(
                    Date.now() < deadline,
                    `no Ready pod of ${component} in ${tenant} within 120 s: ${JSON.stringify(
                        pods.items.map((p) => [
                            p.metadata?.name,
                            p.status?.phase,
                            p.status?.containerStatuses?.[0]?.state,
                        ]),
                    )}`,
                );
                await new Promise((r) => setTimeout(r, 3000));
            }
        };
        const psql = async (tenant: string, sql: string) =>
            kubectl("-n", tenant, "exec", await podOf(tenant, "postgis"), "--", ...psqlArgs(sql));
        const python = async (tenant: string, script: string, ...args: string[]) =>
            kubectl("-n", tenant, "exec", await podOf(tenant, "pims"), "--", "python3", "-c", script, ...args);
        const readData = async (tenant: string): Promise<TenantData> => ({
            rows: await psql(tenant, READ_ROWS_SQL),
            files: JSON.parse(await python(tenant, CHECKSUMS)) as Record<string, string>,
        });
        const backups = async (tenant: string) => {
            const r = await cli(["backups", tenant, "--json"]);
            assert.equal(r.code, 0, show(r));
            return JSON.parse(r.stdout) as BackupListing;
        };
        const newTenant = async (tenant: string) => {
            const r = await cli(
                [
                    ...["new", tenant, "--template", "kubernetes"],
                    ...["--set", `lsaaiClientId=${tenant}-client`, "--set", "lsaaiRestrict=false"],
                    ...[
                        "--set",
                        "keycloakMode=external",
                        "--set",
                        `keycloakUrl=${env.keycloak.url}`,
                        "--set",
                        "realm={tenant}",
                    ],
                    ...["--set", "localStack=true", "--set", "orthanc=false"],
                    ...["--set", "allowRealmReplacement=true", "--set", "allowVolumeDeletion=true"],
                    ...["--set", `nodeSelector=${JSON.stringify({ [REAL_NODE_LABEL.key]: REAL_NODE_LABEL.value })}`],
                    ...["--set", `tolerations=${JSON.stringify([{ ...REAL_NODE_TAINT, operator: "Equal" }])}`],
                    ...["--set", `storageClass=${REAL_NODE_STORAGE_CLASS}`],
                    // The earlier release: the fresh tenant is upgraded from it after its restore.
                    ...["--set", `release=${EARLIER}`],
                    ...[
                        "--set",
                        `backups=${JSON.stringify({
                            schedule: "* * * * *",
                            repository: `s3:${nodeS3Endpoint(s)}/${bucket}`,
                            s3AccessKeyId: env.s3.accessKeyId,
                        })}`,
                    ],
                ],
                600_000,
            );
            assert.equal(r.code, 0, show(r));
            const up = await cli(["up", tenant], 1_200_000);
            assert.equal(up.code, 0, show(up));
        };

        before(async () => {
            // One suite at a time on the real node (its CPU fits one tenant), taken before the environment.
            nodeLock = await lockRealNode();
            env = await useEnvironment();
            requireRealNode(env);
            kube = await kubeApi(env.kube.kubeconfig);
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "kube-backups-it-"));
            cliEnv = {
                KUBECONFIG: env.kube.kubeconfig,
                KEYCLOAK_ADMIN_PASSWORD: env.keycloak.adminPassword,
                LSAAI_CLIENT_SECRET: `lsaai-${crypto.randomBytes(8).toString("hex")}`,
                BACKUP_S3_SECRET_ACCESS_KEY: env.s3.secretAccessKey,
            };
        });
        after(async () => {
            if (!dir) return;
            const left = new Fleet({ dir }).ctx.tenantNames();
            if (left.length) {
                const r = await cli(["destroy", ...left, "--yes", "--with-data"], 1_200_000);
                assert.equal(r.code, 0, show(r));
            }
            fs.rmSync(path.join(env.s3.dataDir, bucket), { recursive: true, force: true });
            fs.rmSync(dir, { recursive: true, force: true });
            nodeLock?.release();
        });

        let before_: TenantData;

        it("a tenant's data, backed up by its CronJob: the bucket holds no plaintext of it or of a secret", async () => {
            await newTenant(source);
            await psql(source, makeRowsSql(canary));
            await python(source, MAKE_FILES, canary);
            before_ = await readData(source);
            assert.match(before_.rows, /^250\|POLYGON/);
            assert.equal(Object.keys(before_.files).length, 5);
            const made = Date.now();
            // The CronJob runs every minute: a bounded wait for a successful run that began after the data.
            const wanted = (l: BackupListing) =>
                l.runs.find(
                    (r) =>
                        r.kind === "backup" &&
                        r.status === "ok" &&
                        Date.parse(r.time) - r.seconds * 1000 >= Math.ceil(made / 1000) * 1000,
                );
            const deadline = Date.now() + 300_000;
            let listing = await backups(source);
            while (!wanted(listing) && Date.now() < deadline) {
                assert.deepEqual(
                    listing.runs.filter((r) => r.status === "failed"),
                    [],
                    "a failed run",
                );
                await new Promise((r) => setTimeout(r, 15_000));
                listing = await backups(source);
            }
            const ran = wanted(listing);
            assert.ok(ran, `no scheduled backup after the data within 5 minutes: ${JSON.stringify(listing.runs)}`);
            assert.equal(ran.trigger, "schedule");
            assert.equal(ran.release, EARLIER);
            assert.ok(ran.bytes > 1_000_000, `${ran.bytes} bytes`);
            assert.ok(
                listing.snapshots.some((x) => x.id.startsWith(ran.snapshot)),
                "the run's snapshot is listed",
            );
            assert.equal(listing.lastSuccess?.snapshot !== undefined, true);
            // The Job's pod ran on the real node: containers, not KWOK's marks.
            const jobs = await kube.batch.listNamespacedJob({
                namespace: source,
                labelSelector: "cytomine.dev/backup-kind=backup",
            });
            assert.ok(
                jobs.items.some((j) =>
                    j.metadata?.ownerReferences?.some((o) => o.kind === "CronJob" && o.name === "backup"),
                ),
            );

            const stack = await Stack.select(source, await new Fleet({ dir }).ctx.workspace());
            const key = (await stack.outputs()).backupKey?.value as string;
            assert.ok(key && key.length >= 32);
            const postgresPassword = Buffer.from(
                (await kube.core.readNamespacedSecret({ name: "cytomine-secrets", namespace: source })).data![
                    "postgres-password"
                ],
                "base64",
            ).toString();
            const repository = path.join(env.s3.dataDir, bucket, source);
            assert.ok(fs.existsSync(repository), "the tenant's repository is a folder of the bucket");
            for (const [what, needle] of Object.entries({
                canary,
                "the repository key": key,
                "the bucket's secret key": env.s3.secretAccessKey,
                "the database password": postgresPassword,
            }))
                assert.ok(!holds(repository, needle), `the bucket holds ${what} in plaintext`);
        });

        it("destroy --with-data, then restore into a fresh tenant: the same rows, geometries and files; a second restore refused", async () => {
            const destroyed = await cli(["destroy", source, "--yes", "--with-data"], 1_200_000);
            assert.equal(destroyed.code, 0, show(destroyed));
            const claims = await kube.core
                .listNamespacedPersistentVolumeClaim({ namespace: source })
                .catch(() => ({ items: [] }));
            assert.deepEqual(
                claims.items.filter((c) => !c.metadata?.deletionTimestamp).map((c) => c.metadata?.name),
                [],
                "the claims are gone",
            );
            assert.ok(fs.existsSync(path.join(env.s3.dataDir, bucket, source)), "the repository stays");

            await newTenant(fresh);
            const missing = await cli(["restore", fresh, "--from", source, "--at", "deadbeef"]);
            assert.equal(missing.code, 1, show(missing));
            assert.match(missing.stderr + missing.stdout, /--at deadbeef: no backup with that id .*\(ids: [0-9a-f]{8}/);

            const restored = await cli(["restore", fresh, "--from", source], 1_800_000);
            assert.equal(restored.code, 0, show(restored));
            const after_ = await readData(fresh);
            assert.equal(after_.rows, before_.rows, "rows and geometries");
            assert.deepEqual(after_.files, before_.files, "the files' checksums");

            const again = await cli(["restore", fresh, "--from", source], 1_800_000);
            assert.equal(again.code, 1, show(again));
            assert.match(
                again.stderr + again.stdout,
                /holds data that restoring [0-9a-f]+ would replace: rows \(user_annotation=250\), 5 image files/,
            );
            // Refused before anything changed: the services run again, the data as it was.
            assert.equal((await readData(fresh)).rows, before_.rows);
            const listing = await backups(fresh);
            assert.ok(
                listing.runs.some((r) => r.kind === "restore" && r.status === "ok"),
                "the restore is among the runs",
            );
            // The refusal touched nothing, so it is not a run: no failed restore.
            assert.deepEqual(
                listing.runs.filter((r) => r.kind === "restore" && r.status === "failed"),
                [],
            );
        });

        it("an upgrade: the preview names it, up backs the running release's data up first, then changes the services", async () => {
            const s = await Stack.select(fresh, await new Fleet({ dir }).ctx.workspace());
            await s.setConfig("cytomine-fallback:release", { value: RELEASE.tag });
            const preview = await cli(["preview", fresh]);
            assert.equal(preview.code, 2, show(preview));
            assert.match(
                preview.stdout,
                new RegExp(
                    `${fresh} warning: upgrade of Cytomine from release ${EARLIER} to ${RELEASE.tag}: .*up backs the tenant up first \\(the Job backup-before-upgrade-<release>`,
                ),
            );
            const up = await cli(["up", fresh], 1_200_000);
            assert.equal(up.code, 0, show(up));
            const job = await kube.batch.readNamespacedJob({
                name: `backup-before-upgrade-${RELEASE.tag}`,
                namespace: fresh,
            });
            assert.equal(job.status?.succeeded, 1);
            // It ended before core changed: core's pod of the new release started after the Job completed.
            const core = await kube.core.readNamespacedPod({ name: await podOf(fresh, "core"), namespace: fresh });
            assert.equal(core.spec?.containers[0].image, releaseImage("core", RELEASE.tag));
            assert.ok(
                new Date(core.status!.startTime!).getTime() >= new Date(job.status!.completionTime!).getTime(),
                "core of the new release started after the backup",
            );
            const listing = await backups(fresh);
            const before = listing.runs.find((r) => r.trigger === "before-upgrade");
            assert.ok(before, JSON.stringify(listing.runs));
            assert.equal(before.status, "ok");
            assert.equal(before.release, EARLIER, "the backup holds the running release's data, tagged with it");
            assert.ok(
                listing.snapshots.some(
                    (x) => x.id.startsWith(before.snapshot) && x.tags?.includes(`release=${EARLIER}`),
                ),
            );
            assert.equal((await readData(fresh)).rows, before_.rows, "the data, as the new release finds it");
            // Nothing left to do: the Job stays declared as it ran.
            const again = await cli(["preview", fresh]);
            assert.equal(again.code, 0, show(again));
        });

        it("destroy --with-data --purge-backups deletes the fresh tenant's backups, and leaves the source's alone", async () => {
            const purged = await cli(["destroy", fresh, "--yes", "--with-data", "--purge-backups"], 1_200_000);
            assert.equal(purged.code, 0, show(purged));
            const snapshots = path.join(env.s3.dataDir, bucket, fresh, "snapshots");
            assert.deepEqual(fs.existsSync(snapshots) ? fs.readdirSync(snapshots) : [], []);
            assert.ok(fs.readdirSync(path.join(env.s3.dataDir, bucket, source, "snapshots")).length > 0);
        });
    },
);
