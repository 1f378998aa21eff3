// Issue "local environment": the environment starts from nothing, the project's program applies to
// the real kube-apiserver, the SSH test host runs commands with sudo, and a killed Keycloak is
// reported clearly and recovered by the next start.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { Environment, ensureEnvironment, environmentStatus } from "../../scripts/env";
import { envSettings } from "../../scripts/env/settings";
import { repoRoot } from "../../scripts/lib/toolchain";
import { isGone, keycloakAdmin, kubeApi } from "./support/services";
import { projectConfig } from "./support/project";
import { changesOf, createEphemeralStack, disposeEphemeralStack, EphemeralStack } from "./support/stack";

describe("local environment", { timeout: 900_000 }, () => {
    let env: Environment;

    before(async () => {
        env = await ensureEnvironment();
    });

    it("Keycloak answers the Admin API with the generated bootstrap admin", async () => {
        const kc = await keycloakAdmin(env.keycloak);
        const realms = await kc.realms.find();
        assert.ok(realms.some((r) => r.realm === "master"));
        const passwordFile = `${envSettings().stateDir}/keycloak/admin-password`;
        assert.equal(fs.statSync(passwordFile).mode & 0o777, 0o600);
    });

    it("the Kubernetes API has ready KWOK nodes and enforces Pod Security Admission", async () => {
        const { core } = await kubeApi(env.kube.kubeconfig);
        const nodes = await core.listNode();
        assert.ok(nodes.items.length >= 1);
        assert.ok(
            nodes.items.every((n) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")),
        );

        const ns = `psa-check-${Date.now()}`;
        await core.createNamespace({
            body: { metadata: { name: ns, labels: { "pod-security.kubernetes.io/enforce": "restricted" } } },
        });
        try {
            await assert.rejects(
                core.createNamespacedPod({
                    namespace: ns,
                    body: {
                        metadata: { name: "privileged" },
                        spec: {
                            containers: [{ name: "c", image: "busybox:1.36", securityContext: { privileged: true } }],
                        },
                    },
                }),
                (e: { code?: number; body?: string }) =>
                    e.code === 403 &&
                    /violates PodSecurity "restricted:latest": privileged/.test(JSON.parse(e.body ?? "{}").message),
            );
        } finally {
            await core.deleteNamespace({ name: ns });
        }
    });

    it("a StatefulSet with a volume claim and a Deployment become Ready and a Job completes on the KWOK nodes", async () => {
        const { core, apps, batch } = await kubeApi(env.kube.kubeconfig);
        const ns = `workloads-${Date.now()}`;
        const labels = { app: "w" };
        // Restricted Pod Security, as the tenant namespaces enforce it.
        const pod = {
            metadata: { labels },
            spec: {
                securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
                containers: [
                    {
                        name: "c",
                        image: "busybox:1.36",
                        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                        volumeMounts: [] as { name: string; mountPath: string }[],
                    },
                ],
            },
        };
        await core.createNamespace({
            body: { metadata: { name: ns, labels: { "pod-security.kubernetes.io/enforce": "restricted" } } },
        });
        try {
            await apps.createNamespacedStatefulSet({
                namespace: ns,
                body: {
                    metadata: { name: "db" },
                    spec: {
                        serviceName: "db",
                        selector: { matchLabels: labels },
                        template: {
                            ...pod,
                            spec: {
                                ...pod.spec,
                                containers: [
                                    { ...pod.spec.containers[0], volumeMounts: [{ name: "data", mountPath: "/data" }] },
                                ],
                            },
                        },
                        volumeClaimTemplates: [
                            {
                                metadata: { name: "data" },
                                spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
                            },
                        ],
                    },
                },
            });
            await apps.createNamespacedDeployment({
                namespace: ns,
                body: { metadata: { name: "web" }, spec: { selector: { matchLabels: labels }, template: pod } },
            });
            await batch.createNamespacedJob({
                namespace: ns,
                body: {
                    metadata: { name: "once" },
                    spec: { template: { ...pod, spec: { ...pod.spec, restartPolicy: "Never" } } },
                },
            });

            let state = "";
            for (let i = 0; i < 120; i++) {
                const [sts, dep, job, pvc] = await Promise.all([
                    apps.readNamespacedStatefulSet({ name: "db", namespace: ns }),
                    apps.readNamespacedDeployment({ name: "web", namespace: ns }),
                    batch.readNamespacedJob({ name: "once", namespace: ns }),
                    core
                        .readNamespacedPersistentVolumeClaim({ name: "data-db-0", namespace: ns })
                        .catch(() => undefined),
                ]);
                state = JSON.stringify({
                    sts: sts.status?.readyReplicas ?? 0,
                    dep: dep.status?.readyReplicas ?? 0,
                    job: job.status?.succeeded ?? 0,
                    pvc: pvc?.status?.phase ?? "none",
                });
                if (state === JSON.stringify({ sts: 1, dep: 1, job: 1, pvc: "Bound" })) break;
                await new Promise((r) => setTimeout(r, 1000));
            }
            assert.equal(state, JSON.stringify({ sts: 1, dep: 1, job: 1, pvc: "Bound" }));
        } finally {
            await core.deleteNamespace({ name: ns });
        }
    });

    it("the SSH test host runs a command as the test user, with sudo", () => {
        const out = execFileSync("ssh", [
            ...["-i", env.ssh.privateKeyPath, "-p", String(env.ssh.port)],
            ...["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes"],
            `${env.ssh.user}@${env.ssh.host}`,
            "id -un && sudo -n id -u",
        ]).toString();
        assert.deepEqual(out.trim().split("\n"), [env.ssh.user, "0"]);
    });

    describe("the project's program on the real kube-apiserver", () => {
        let e: EphemeralStack;
        let tenant: string;

        before(async () => {
            const project = projectConfig(env, "it");
            tenant = project.id;
            e = await createEphemeralStack({
                workDir: repoRoot,
                config: project.config,
                env: { KUBECONFIG: env.kube.kubeconfig },
            });
        });
        after(async () => {
            if (e) await disposeEphemeralStack(e);
        });

        it("up creates the tenant namespace with restricted Pod Security and a default-deny policy", async () => {
            const up = await e.stack.up({ color: "never" });
            assert.equal(up.summary.result, "succeeded");
            assert.equal(up.outputs.namespace.value, tenant);

            const { core, networking } = await kubeApi(env.kube.kubeconfig);
            const ns = await core.readNamespace({ name: tenant });
            assert.equal(ns.metadata?.labels?.["pod-security.kubernetes.io/enforce"], "restricted");
            const deny = await networking.readNamespacedNetworkPolicy({ name: "default-deny", namespace: tenant });
            assert.deepEqual(deny.spec?.policyTypes, ["Ingress", "Egress"]);
        });

        it("the data tier (PostGIS, MongoDB, PIMS cache) becomes Ready under restricted Pod Security", async () => {
            const { apps, core } = await kubeApi(env.kube.kubeconfig);
            let state = "";
            const want = JSON.stringify({ postgis: 1, mongo: 1, cache: 1 });
            for (let i = 0; i < 120 && state !== want; i++) {
                const [postgis, mongo, cache] = await Promise.all([
                    apps.readNamespacedStatefulSet({ name: "postgis", namespace: tenant }),
                    apps.readNamespacedStatefulSet({ name: "mongo", namespace: tenant }),
                    apps.readNamespacedDeployment({ name: "pims-cache", namespace: tenant }),
                ]);
                state = JSON.stringify({
                    postgis: postgis.status?.readyReplicas ?? 0,
                    mongo: mongo.status?.readyReplicas ?? 0,
                    cache: cache.status?.readyReplicas ?? 0,
                });
                if (state !== want) await new Promise((r) => setTimeout(r, 1000));
            }
            assert.equal(state, want);
            // The pods exist, so Pod Security Admission ("restricted" on the namespace) admitted them.
            const pods = await core.listNamespacedPod({ namespace: tenant });
            assert.equal(pods.items.length, 3);
            const claims = await core.listNamespacedPersistentVolumeClaim({ namespace: tenant });
            assert.deepEqual(claims.items.map((c) => [c.metadata?.name, c.status?.phase]).sort(), [
                ["data-mongo-0", "Bound"],
                ["data-postgis-0", "Bound"],
            ]);
        });

        it("a second preview reports no changes", async () => {
            const preview = await e.stack.preview({ color: "never", diff: true });
            assert.deepEqual(changesOf(preview.changeSummary), {}, preview.stdout);
        });

        it("destroy removes the namespace", async () => {
            await e.stack.destroy({ color: "never" });
            const { core } = await kubeApi(env.kube.kubeconfig);
            assert.ok(await isGone(() => core.readNamespace({ name: tenant })));
        });
    });

    it("a killed Keycloak is reported by status and restarted by the next start", async () => {
        const pidFile = `${envSettings().stateDir}/keycloak/keycloak.pid`;
        const pid = Number(fs.readFileSync(pidFile, "utf8"));
        process.kill(-pid, "SIGKILL");
        await new Promise((r) => setTimeout(r, 1000));

        const status = await environmentStatus();
        assert.equal(status.keycloak.ready, false);
        assert.match(status.keycloak.detail, /not running; 'npm run env:up' starts it/);
        assert.equal(status.kube.ready, true);

        env = await ensureEnvironment();
        const kc = await keycloakAdmin(env.keycloak);
        assert.ok((await kc.realms.find()).length >= 1);
    });
});
