// The Kubernetes target's backups: the plan from the service specs, the pods built from it, their
// policy, the CronJob under mocks, the config rule, a finished pod read as a run, and the pods' script
// run for real with stub restic and psql.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { describe, it } from "node:test";
import type { V1Pod } from "@kubernetes/client-node";
import {
    BACKUP_JOB_SCRIPT,
    backupPodSpec,
    backupPolicySpec,
    kubeBackupPlan,
    repositoryPeer,
    restorePodSpec,
    withBackupClients,
} from "../../components/kubernetes/backups";
import { Cytomine } from "../../components/kubernetes/cytomine";
import { networkPolicySpec } from "../../components/kubernetes/workload";
import { cytomineServices } from "../../components/model/services";
import { DEFAULT_IMAGES } from "../../components/model/settings";
import { parseConfig } from "../../program/config";
import { runOf } from "../../apps/fleet/kube-backups";
import { cytomineArgs, servicesOptions } from "../support/cytomine-args";
import { allRegistered, recordResources } from "../support/mocks";

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any
const run = promisify(execFile);

const services = (mode: "external" | "namespace") => cytomineServices(servicesOptions(mode));
const plan = (mode: "external" | "namespace" = "namespace") =>
    kubeBackupPlan("lab-a", "0165ef7", DEFAULT_IMAGES.restic, services(mode));
const SETTINGS = {
    schedule: "30 2 * * *",
    keepDaily: 7,
    keepWeekly: 4,
    repository: "s3:http://10.77.0.1:18900/backups",
    s3AccessKeyId: "AKID",
};

describe("Kubernetes backups: the pods", () => {
    it("backs up every PostgreSQL database and the images claim, and restores Keycloak's only into its own tenant", () => {
        const p = plan();
        assert.deepEqual(
            p.databases.map((d) => `${d.component}:${d.user}:${d.database}:${d.image}:${d.password.key}`),
            [
                `postgis:docker:docker:${DEFAULT_IMAGES.postgis}:postgres-password`,
                `iam-db:keycloak:keycloak:${DEFAULT_IMAGES.iamDb}:iam-db-password`,
            ],
        );
        assert.deepEqual(p.identity, ["iam-db"]);
        assert.deepEqual(p.claims, [{ claim: "pims-images", component: "pims" }]);
        assert.deepEqual(
            plan("external").databases.map((d) => d.component),
            ["postgis"],
        );
    });

    it("dumps each database with its own image, then restic backs up the dumps and the claim read-only, beside PIMS", () => {
        const spec = backupPodSpec(plan(), SETTINGS) as Any;
        assert.deepEqual(
            spec.initContainers.map((c: Any) => `${c.name} ${c.image} ${c.command.at(-1)}`),
            [`dump-postgis ${DEFAULT_IMAGES.postgis} dump`, `dump-iam-db ${DEFAULT_IMAGES.iamDb} dump`],
        );
        const pg = spec.initContainers[0].env.find((e: Any) => e.name === "PGPASSWORD");
        assert.deepEqual(pg.valueFrom, { secretKeyRef: { name: "cytomine-secrets", key: "postgres-password" } });
        const [restic] = spec.containers;
        assert.equal(restic.image, "restic/restic:0.14.0");
        assert.deepEqual(restic.command.slice(0, 2), ["sh", "-c"]);
        assert.equal(restic.command[2], BACKUP_JOB_SCRIPT);
        assert.deepEqual(restic.envFrom, [{ secretRef: { name: "cytomine-backup" } }]);
        const env = Object.fromEntries(restic.env.map((e: Any) => [e.name, e.value]));
        assert.equal(env.RELEASE, "0165ef7");
        assert.equal(env.KEEP_DAILY, "7");
        assert.ok(
            restic.volumeMounts.some(
                (m: Any) => m.name === "pims-images" && m.mountPath === "/data/pims-images" && m.readOnly,
            ),
        );
        // Nothing secret is in the spec itself: the key and the bucket's credentials come from the Secret.
        assert.ok(!JSON.stringify(spec).includes("RESTIC_PASSWORD"));
        // Pod Security restricted, and no API token.
        assert.equal(spec.automountServiceAccountToken, false);
        assert.equal(spec.securityContext.runAsNonRoot, true);
        for (const c of [...spec.initContainers, ...spec.containers]) {
            assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
            assert.deepEqual(c.securityContext.capabilities, { drop: ["ALL"] }, c.name);
            assert.equal(c.terminationMessagePolicy, "FallbackToLogsOnError", c.name);
        }
        const affinity = spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0];
        assert.equal(affinity.labelSelector.matchLabels["app.kubernetes.io/component"], "pims");
        assert.equal(affinity.topologyKey, "kubernetes.io/hostname");
    });

    it("restores: checks what the tenant holds unless forced, fetches with the given Secret, loads all but the skipped databases", () => {
        const spec = restorePodSpec(plan(), { snapshot: "abcd", secret: "from-x", force: false, skip: [] }) as Any;
        assert.deepEqual(
            spec.initContainers.map((c: Any) => c.name),
            ["held", "fetch"],
        );
        assert.deepEqual(spec.initContainers[1].envFrom, [{ secretRef: { name: "from-x" } }]);
        assert.ok(spec.initContainers[1].volumeMounts.some((m: Any) => m.name === "pims-images" && !m.readOnly));
        assert.deepEqual(
            spec.containers.map((c: Any) => c.name),
            ["load-postgis", "load-iam-db"],
        );
        const forced = restorePodSpec(plan(), { snapshot: "abcd", secret: "s", force: true, skip: ["iam-db"] }) as Any;
        assert.deepEqual(
            forced.initContainers.map((c: Any) => c.name),
            ["fetch"],
        );
        assert.deepEqual(
            forced.containers.map((c: Any) => c.name),
            ["load-postgis"],
        );
        assert.equal(forced.affinity, undefined, "PIMS is stopped during a restore: no affinity to it");
    });

    it("lets the backup pods out to the databases, DNS and the bucket only, and the databases let them in", () => {
        assert.deepEqual(repositoryPeer("s3:http://10.77.0.1:18900/b"), { cidr: "10.77.0.1/32", port: 18900 });
        assert.deepEqual(repositoryPeer("s3:https://s3.eu-north-1.amazonaws.com/b"), { cidr: "0.0.0.0/0", port: 443 });
        const policy = backupPolicySpec(plan(), SETTINGS.repository) as Any;
        assert.deepEqual(policy.ingress, []);
        assert.deepEqual(
            policy.egress.map(
                (e: Any) =>
                    `${e.to[0].podSelector?.matchLabels?.["app.kubernetes.io/component"] ?? e.to[0].ipBlock?.cidr ?? "dns"}:${e.ports[0].port}`,
            ),
            ["postgis:5432", "iam-db:5432", "dns:53", "10.77.0.1/32:18900"],
        );
        const all = withBackupClients(services("namespace"), plan());
        const postgis = all.find((s) => s.component === "postgis")!;
        const from = (networkPolicySpec("lab-a", postgis, all, "ingress-nginx") as Any).ingress[0].from;
        assert.ok(from.some((f: Any) => f.podSelector?.matchLabels?.["app.kubernetes.io/component"] === "backup"));
        const core = all.find((s) => s.component === "core")!;
        assert.ok(!core.clients.includes("backup"), "only the databases admit the backup pods");
    });
});

describe("Kubernetes backups: the component (mocks) and the config", () => {
    it("declares the repository Secret, the CronJob and its policy, with a generated protected key", async () => {
        const recorded = recordResources();
        const c = new Cytomine(
            "lab-a",
            cytomineArgs({ backups: { settings: SETTINGS, release: "0165ef7", s3SecretAccessKey: "s3-secret" } }),
        );
        assert.ok(c.backupKey);
        await allRegistered();
        const cron = recorded.find((r) => r.type === "kubernetes:batch/v1:CronJob");
        assert.ok(cron);
        assert.equal(cron.name, "lab-a-backups-schedule");
        assert.equal(cron.inputs.spec.schedule, "30 2 * * *");
        assert.equal(cron.inputs.spec.concurrencyPolicy, "Forbid");
        assert.equal(cron.inputs.spec.jobTemplate.metadata.labels["cytomine.dev/release"], "0165ef7");
        const secret = recorded.find(
            (r) => r.type === "kubernetes:core/v1:Secret" && r.name === "lab-a-backups-repository",
        );
        assert.ok(secret);
        // A secret value: recorded as Pulumi marshals secrets ({ <sig>, value }).
        const data = secret.inputs.stringData.value;
        assert.deepEqual(Object.keys(data).sort(), [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "RESTIC_PASSWORD",
            "RESTIC_REPOSITORY",
        ]);
        assert.equal(data.RESTIC_REPOSITORY, "s3:http://10.77.0.1:18900/backups/lab-a");
        assert.equal(data.AWS_SECRET_ACCESS_KEY, "s3-secret");
        assert.ok(
            recorded.some(
                (r) => r.type === "random:index/randomPassword:RandomPassword" && r.name === "lab-a-backups-key",
            ),
        );
        assert.ok(
            recorded.some(
                (r) => r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" && r.name === "lab-a-backups-policy",
            ),
        );
        // Without backups: none of it.
        const none = recordResources();
        new Cytomine("lab-b", cytomineArgs({ tenant: "lab-b", namespace: "lab-b" }));
        await allRegistered();
        assert.ok(!none.some((r) => r.type === "kubernetes:batch/v1:CronJob" || r.name.includes("backups")));
    });

    it("an upgrade: a Job backs the running release's data up first, and the services that change wait for it", async () => {
        const recorded = recordResources();
        // The names of what each resource depends on, as its options give them.
        const dependsOn: Record<string, string[]> = {};
        new Cytomine(
            "lab-a",
            cytomineArgs({
                backups: {
                    settings: SETTINGS,
                    release: "0165ef7",
                    s3SecretAccessKey: "s3-secret",
                    upgradeFrom: { release: "26e8daf", to: "0165ef7" },
                },
            }),
            {
                transformations: [
                    (a) =>
                        void (dependsOn[a.name] = ([a.opts.dependsOn ?? []].flat() as Any[]).map(
                            (r) => r.__name as string,
                        )),
                ],
            },
        );
        await allRegistered();
        const job = recorded.find(
            (r) => r.type === "kubernetes:batch/v1:Job" && r.name === "lab-a-backups-before-upgrade",
        );
        assert.ok(job);
        assert.equal(job.inputs.metadata.name, "backup-before-upgrade-0165ef7");
        assert.equal(job.inputs.metadata.labels["cytomine.dev/release"], "26e8daf");
        assert.equal(job.inputs.metadata.labels["cytomine.dev/trigger"], "before-upgrade");
        const env = Object.fromEntries(
            job.inputs.spec.template.spec.containers[0].env.map((e: Any) => [e.name, e.value]),
        );
        assert.deepEqual([env.RELEASE, env.TRIGGER], ["26e8daf", "before-upgrade"]);
        assert.ok(dependsOn["lab-a-core"].includes("lab-a-backups-before-upgrade"), "core waits for the backup");
        assert.ok(dependsOn["lab-a-pims"].includes("lab-a-backups-before-upgrade"));
        assert.ok(
            !dependsOn["lab-a-postgis"].includes("lab-a-backups-before-upgrade"),
            "the database it dumps does not",
        );
    });

    it("says when an update is an upgrade, from the running images, and keeps declaring the backup made before it", async () => {
        const { upgradeFrom, upgradeWarnings, KUBERNETES_STEPS } = await import("../../program/targets/upgrade");
        const a = {
            tenant: "lab-a",
            release: "0165ef7",
            images: DEFAULT_IMAGES,
            keycloak: { mode: "namespace" as const },
            backups: {},
        };
        const old = { core: "registry.cytomine.org/cytomine/core:26e8daf", iam: DEFAULT_IMAGES.iam };
        assert.deepEqual(upgradeFrom(old, a), { release: "26e8daf", to: "0165ef7" });
        assert.equal(upgradeFrom({ core: DEFAULT_IMAGES.core, iam: DEFAULT_IMAGES.iam }, a), undefined);
        assert.equal(upgradeFrom(undefined, a), undefined, "nothing runs yet");
        assert.deepEqual(upgradeFrom({ core: DEFAULT_IMAGES.core, iam: "quay.io/keycloak/keycloak:26.3.0" }, a), {
            release: "0165ef7",
            to: "0165ef7",
        });
        assert.deepEqual(upgradeFrom({ core: DEFAULT_IMAGES.core, iam: DEFAULT_IMAGES.iam }, a, "26e8daf"), {
            release: "26e8daf",
            to: "0165ef7",
        });
        const [warning] = upgradeWarnings(old, a, KUBERNETES_STEPS);
        assert.match(
            warning,
            /^upgrade of Cytomine from release 26e8daf to 0165ef7: .*the Job backup-before-upgrade-<release>/,
        );
    });

    it("refuses a directory repository on Kubernetes, naming the key and the fix; an s3: one gives backups", () => {
        const base = {
            tenant: "lab-a",
            publicUrl: "https://lab-a.example.org",
            keycloakUrl: "https://iam.example.org/iam",
            lsaaiClientId: "c",
        };
        assert.throws(
            () => parseConfig({ ...base, backups: { schedule: "* * * * *" } }),
            /cytomine-fallback:backups.repository = "\/var\/backups\/cytomine-fallback": target kubernetes backs up to an S3-compatible bucket only.*pulumi config set --path backups.repository s3:/s,
        );
        assert.equal(parseConfig(base).backups, undefined, "no key, no backups on Kubernetes");
        assert.equal(parseConfig({ ...base, backups: { enabled: false, repository: "/x" } }).backups, undefined);
        const c = parseConfig(
            { ...base, backups: { repository: "s3:http://10.77.0.1:18900/b", s3AccessKeyId: "AKID" } },
            ["keycloakAdminPassword", "lsaaiClientSecret", "backupS3SecretAccessKey"],
        );
        assert.equal(c.backups?.repository, "s3:http://10.77.0.1:18900/b");
    });
});

describe("Kubernetes backups: runs, as the pods report them", () => {
    const pod = (phase: string, statuses: Any[], init: Any[] = []): V1Pod =>
        ({
            metadata: { labels: { "cytomine.dev/backup-kind": "backup", "cytomine.dev/release": "0165ef7" } },
            status: {
                phase,
                startTime: new Date("2026-12-06T02:30:00Z"),
                initContainerStatuses: init,
                containerStatuses: statuses,
            },
        }) as Any;
    const ended = (name: string, exitCode: number, message: string, at = "2026-12-06T02:30:42Z") => ({
        name,
        state: { terminated: { exitCode, message, finishedAt: new Date(at) } },
    });

    it("reads a successful run's snapshot and size from restic's summary, a failed one's reason, and skips one that runs", () => {
        const ok = runOf(
            pod(
                "Succeeded",
                [
                    ended(
                        "restic",
                        0,
                        JSON.stringify({
                            message_type: "summary",
                            snapshot_id: "5f1e2d3c",
                            total_bytes_processed: 123456,
                        }),
                    ),
                ],
                [ended("dump-postgis", 0, "")],
            ),
        );
        assert.deepEqual(ok, {
            time: "2026-12-06T02:30:42Z",
            kind: "backup",
            status: "ok",
            snapshot: "5f1e2d3c",
            bytes: 123456,
            seconds: 42,
            release: "0165ef7",
            trigger: "schedule",
            message: "",
        });
        const failed = runOf(
            pod("Failed", [], [ended("dump-postgis", 3, "pg_dump of docker at postgis failed: see the pod's log\n")]),
        );
        assert.equal(failed?.status, "failed");
        assert.equal(failed?.message, "dump-postgis: pg_dump of docker at postgis failed: see the pod's log");
        assert.equal(runOf(pod("Running", [])), undefined);
    });
});

describe("Kubernetes backups: the pods' script, run with stub restic and psql", () => {
    /** Runs backup-job.sh <command> with stubs first on PATH; returns its exit code, output and termination message. */
    async function job(command: string, stubs: Record<string, string>, env: Record<string, string> = {}) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "backup-job-"));
        try {
            for (const [name, body] of Object.entries(stubs))
                fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
            const log = path.join(dir, "termination-log");
            const r = await run("sh", ["-c", BACKUP_JOB_SCRIPT, "backup-job.sh", command], {
                env: {
                    PATH: `${dir}:/usr/bin:/bin`,
                    TERMINATION_LOG: log,
                    RESTIC_REPOSITORY: "s3:http://x/b/lab-a",
                    TENANT: "lab-a",
                    ...env,
                },
            }).then(
                (out) => ({ code: 0, ...out }),
                (e: Any) => ({ code: e.code as number, stdout: e.stdout as string, stderr: e.stderr as string }),
            );
            return { ...r, message: fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "" };
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }

    it("backup: makes a missing repository, reports restic's summary as the result, forgets by the tenant's tag", async () => {
        const calls = path.join(os.tmpdir(), `restic-calls-${process.pid}`);
        fs.rmSync(calls, { force: true });
        const restic = [
            `echo "$*" >>${calls}`,
            `case "$1" in`,
            `cat) echo 'Fatal: unable to open config file: Stat: The specified key does not exist.' >&2; echo 'Is there a repository at the following location?' >&2; exit 1 ;;`,
            `backup) echo '{"message_type":"status"}'; echo '{"message_type":"summary","snapshot_id":"feedbeef","total_bytes_processed":42}' ;;`,
            `esac`,
        ].join("\n");
        const r = await job(
            "backup",
            { restic },
            { RELEASE: "0165ef7", TRIGGER: "schedule", KEEP_DAILY: "7", KEEP_WEEKLY: "4" },
        );
        assert.equal(r.code, 0, r.stderr);
        assert.equal(JSON.parse(r.message).snapshot_id, "feedbeef");
        const made = fs.readFileSync(calls, "utf8").trim().split("\n");
        fs.rmSync(calls, { force: true });
        assert.deepEqual(
            made.map((l) => l.split(" ")[0]),
            ["cat", "init", "backup", "forget"],
        );
        assert.match(made[2], /--tag tenant=lab-a --tag release=0165ef7 --tag trigger=schedule \/backup \/data$/);
        assert.match(made[3], /--tag tenant=lab-a .*--keep-daily 7 --keep-weekly 4 --keep-last 1 --prune/);
    });

    it("backup: waits while another run holds the repository's lock (restic 0.14 has no --retry-lock)", async () => {
        const state = fs.mkdtempSync(path.join(os.tmpdir(), "restic-lock-"));
        try {
            // The first backup finds the repository locked (the backup before an upgrade runs); the second goes through.
            const restic = [
                `case "$1" in`,
                `cat) exit 0 ;;`,
                `backup) [ -f ${state}/once ] || { touch ${state}/once; echo 'Fatal: unable to create lock in backend: repository is already locked exclusively by PID 7 on backup-before-upgrade' >&2; exit 1; }`,
                `  echo '{"message_type":"summary","snapshot_id":"abcabc12","total_bytes_processed":7}' ;;`,
                `esac`,
            ].join("\n");
            const env = { RELEASE: "0165ef7", TRIGGER: "schedule", KEEP_DAILY: "7", KEEP_WEEKLY: "4" };
            const r = await job("backup", { restic, sleep: "exit 0" }, env);
            assert.equal(r.code, 0, r.stderr);
            assert.equal(JSON.parse(r.message).snapshot_id, "abcabc12");
            const refused = await job(
                "backup",
                { restic: `[ "$1" = cat ] && exit 0; echo 'Fatal: wrong password' >&2; exit 1` },
                env,
            );
            assert.equal(refused.code, 3);
            assert.match(refused.message, /^restic backup to s3:http:\/\/x\/b\/lab-a failed: Fatal: wrong password/);
        } finally {
            fs.rmSync(state, { recursive: true, force: true });
        }
    });

    it("snapshots: a wrong key stops with the reason, and a repository is never made over one that does not open", async () => {
        const restic = `[ "$1" = cat ] && { echo 'Fatal: wrong password or no key found' >&2; exit 1; }; [ "$1" = init ] && exit 9; echo '[]'`;
        const r = await job("snapshots", { restic });
        assert.equal(r.code, 3);
        assert.match(r.message, /the key given for s3:http:\/\/x\/b\/lab-a does not open it/);
        const missing = await job("snapshots", {
            restic: `[ "$1" = cat ] && { echo 'Is there a repository at the following location?' >&2; exit 1; }; exit 9`,
        });
        assert.equal(missing.code, 0, missing.stderr);
        assert.equal(missing.stdout.trim(), "[]", "a listing of a missing repository makes none");
    });

    it("dump: a refused connection (a new pod's policy not yet in force) is tried again; another failure stops with its reason", async () => {
        const state = fs.mkdtempSync(path.join(os.tmpdir(), "pg-dump-"));
        try {
            const env = { DB_HOST: "postgis", DB_USER: "docker", DB_NAME: "docker" };
            // Refused twice, then it connects; sleep is a stub so the test does not wait.
            const pgDump = `n=$(cat ${state}/n 2>/dev/null || echo 0); echo $((n + 1)) >${state}/n; [ "$n" -ge 2 ] && exit 0; echo 'pg_dump: error: connection to server at "postgis" (10.0.0.9), port 5432 failed: Connection refused' >&2; exit 1`;
            const ok = await job("dump", { pg_dump: pgDump, sleep: "exit 0" }, env);
            assert.equal(ok.code, 0, ok.stderr);
            assert.equal(fs.readFileSync(path.join(state, "n"), "utf8").trim(), "3");
            const denied = await job(
                "dump",
                {
                    pg_dump: `echo 'pg_dump: error: FATAL:  password authentication failed for user "docker"' >&2; exit 1`,
                    sleep: "exit 0",
                },
                env,
            );
            assert.equal(denied.code, 3);
            assert.match(
                denied.message,
                /^pg_dump of docker at postgis failed: pg_dump: error: FATAL: {2}password authentication failed/,
            );
        } finally {
            fs.rmSync(state, { recursive: true, force: true });
        }
    });

    it("held: refuses a tenant with content, naming its rows and image files; a fresh tenant passes", async () => {
        const claims = fs.mkdtempSync(path.join(os.tmpdir(), "claims-"));
        try {
            fs.mkdirSync(path.join(claims, "pims-images"));
            const env = {
                CLAIMS: "pims-images",
                SNAPSHOT: "abcd1234",
                DB_HOST: "postgis",
                DB_USER: "docker",
                DB_NAME: "docker",
                HELD_SQL: "x",
            };
            // The claims live under /data in the pod: the stub find answers for that path from the temporary folder.
            const find = `shift; exec /usr/bin/find ${claims}/pims-images "$@"`;
            const fresh = await job("held", { psql: "echo 'project=0 user_annotation=0'", find }, env);
            assert.equal(fresh.code, 0, fresh.stderr);
            fs.writeFileSync(path.join(claims, "pims-images", "a.tif"), "x");
            const held = await job(
                "held",
                { psql: "echo 'project=1 image_instance=0 user_annotation=250'", find },
                env,
            );
            assert.equal(held.code, 3);
            assert.match(
                held.message,
                /lab-a holds data that restoring abcd1234 would replace: rows \(project=1 user_annotation=250\), 1 image files .*run the restore again with --force/,
            );
        } finally {
            fs.rmSync(claims, { recursive: true, force: true });
        }
    });
});
