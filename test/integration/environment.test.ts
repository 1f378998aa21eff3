// Issue "local environment": the environment starts from nothing, the kube-apiserver runs workloads
// on KWOK nodes under Pod Security Admission, the SSH test host runs commands with sudo, and a killed
// Keycloak is reported clearly and recovered by the next start. (The project's program on it:
// kubernetes.test.ts.)
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { before, describe, it } from "node:test";
import { Environment, ensureEnvironment, environmentStatus } from "../../lib/localenv";
import { envSettings } from "../../lib/localenv/settings";
import { keycloakAdmin, kubeApi } from "../../lib/clients";

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
