// Issue "Cytomine on Kubernetes": the project's program, through the real engine and plugins, on the
// local kube-apiserver (KWOK nodes): Ready under restricted Pod Security, idempotent, volumes kept by
// destroy, tenants isolated and unable to take each other's namespace, Keycloak deployable into the
// namespace, and a render mode whose files hold no secret and pass kube-score.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { KUBE_SCORE_EXCEPTIONS, manifestFiles, score, unexcused } from "../../apps/render/score";
import { Environment, useEnvironment, etcdDataDir, envSettings } from "../../localenv";
import { SECRET_NAME } from "../../components/model/services";
import { recorded } from "../support/reliability";
import { repoRoot } from "../../toolchain/index";
import { ROUTES } from "../../components/model/release";

import { OwnPieces, ownPieces } from "../support/own-pieces";
import { projectConfig } from "../support/project-config";
import { isGone, keycloakAdmin, kubeApi } from "../support/clients";
import { changesOf, createEphemeralStack, disposeEphemeralStack, EphemeralStack } from "../support/automation";

type Kube = Awaited<ReturnType<typeof kubeApi>>;

/** Waits until every Deployment and StatefulSet of the namespace has all replicas ready. */
async function workloadsReady(kube: Kube, namespace: string): Promise<Record<string, number>> {
    let ready: Record<string, number> = {};
    for (let i = 0; i < 120; i++) {
        const [deployments, sets] = await Promise.all([
            kube.apps.listNamespacedDeployment({ namespace }),
            kube.apps.listNamespacedStatefulSet({ namespace }),
        ]);
        const all = [...deployments.items, ...sets.items];
        ready = Object.fromEntries(all.map((w) => [w.metadata!.name!, w.status?.readyReplicas ?? 0]));
        if (all.length > 0 && all.every((w) => (w.status?.readyReplicas ?? 0) === w.spec?.replicas)) return ready;
        await new Promise((r) => setTimeout(r, 1000));
    }
    return ready;
}

describe("Cytomine on Kubernetes", { timeout: 1_200_000 }, () => {
    let env: Environment;
    let kube: Kube;

    before(async () => {
        env = await useEnvironment();
        kube = await kubeApi(env.kube.kubeconfig);
    });

    const stackFor = (prefix: string, extra: Parameters<typeof projectConfig>[2] = {}, base: Environment = env) => {
        const project = projectConfig(base, prefix, { "cytomine-fallback:orthanc": "false", ...extra });
        return createEphemeralStack({
            workDir: repoRoot,
            config: project.config,
            env: { KUBECONFIG: env.kube.kubeconfig },
        }).then((e) => ({ e, tenant: project.id }));
    };

    describe("a tenant with protected volumes, and a second tenant beside it", () => {
        let a: { e: EphemeralStack; tenant: string };
        let b: { e: EphemeralStack; tenant: string } | undefined;
        let intruder: EphemeralStack | undefined;

        before(async () => {
            a = await stackFor("k8s", { "cytomine-fallback:allowVolumeDeletion": "false" });
        });
        after(async () => {
            for (const e of [intruder, b?.e]) if (e) await disposeEphemeralStack(e);
            if (a) {
                // Lift the volumes' protection the documented way, then remove everything.
                await a.e.stack.setConfig("cytomine-fallback:allowVolumeDeletion", { value: "true" });
                await a.e.stack.up({ color: "never" });
                await disposeEphemeralStack(a.e);
            }
        });

        it("up: every Deployment and StatefulSet Ready, its pods admitted under restricted Pod Security", async () => {
            const up = await a.e.stack.up({ color: "never" });
            assert.equal(up.summary.result, "succeeded");
            assert.equal(up.outputs.namespace.value, a.tenant);
            const ready = await workloadsReady(kube, a.tenant);
            assert.deepEqual(ready, {
                core: 1,
                repository: 1,
                pims: 1,
                "pims-cache": 1,
                "web-ui": 1,
                meilisearch: 1,
                mongo: 1,
                postgis: 1,
            });

            const ns = await kube.core.readNamespace({ name: a.tenant });
            assert.equal(ns.metadata?.labels?.["pod-security.kubernetes.io/enforce"], "restricted");
            // The pods exist, so the apiserver's Pod Security Admission admitted them at "restricted".
            const pods = await kube.core.listNamespacedPod({ namespace: a.tenant });
            assert.equal(pods.items.length, 8);
            assert.ok(pods.items.every((p) => p.spec?.automountServiceAccountToken === false));
            const claims = await kube.core.listNamespacedPersistentVolumeClaim({ namespace: a.tenant });
            assert.deepEqual(claims.items.map((c) => `${c.metadata?.name}:${c.status?.phase}`).sort(), [
                "meilisearch-data:Bound",
                "mongo-data:Bound",
                "pims-images:Bound",
                "postgis-data:Bound",
            ]);
            const maps = await kube.core.listNamespacedConfigMap({ namespace: a.tenant });
            assert.deepEqual(
                maps.items.map((m) => m.metadata?.name),
                ["kube-root-ca.crt"],
            );
            const ingress = await kube.networking.readNamespacedIngress({ name: "cytomine", namespace: a.tenant });
            assert.deepEqual(
                ingress.spec?.rules?.[0].http?.paths.map((p) => p.path),
                ROUTES.map((r) => r.path),
            );
        });

        it("a second up reports no changes", async () => {
            const up = await a.e.stack.up({ color: "never" });
            assert.deepEqual(changesOf(up.summary.resourceChanges ?? {}), {}, up.stdout);
        });

        it("Secrets at rest: none of the tenant's secret values is in etcd's files, which hold them encrypted", async () => {
            const secret = await kube.core.readNamespacedSecret({ name: SECRET_NAME, namespace: a.tenant });
            // Generated values and the configured Keycloak admin password (set with --secret).
            // Long values only: a short one (a user name) could occur in etcd's files by chance.
            const values = Object.entries(secret.data ?? {})
                .map(([key, b64]) => ({ key, raw: Buffer.from(b64, "base64"), b64: Buffer.from(b64) }))
                .filter((v) => v.raw.length >= 12);
            assert.ok(values.some((v) => v.raw.toString() === env.keycloak.adminPassword));
            assert.ok(values.length >= 5);
            const dir = etcdDataDir(envSettings());
            const files = fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).map((f) => path.join(dir, f));
            let encrypted = 0;
            for (const file of files.filter((f) => fs.statSync(f).isFile())) {
                const content = fs.readFileSync(file);
                for (const v of values) {
                    assert.ok(!content.includes(v.raw), `${v.key} in plain text in ${file}`);
                    assert.ok(!content.includes(v.b64), `${v.key} in base64 in ${file}`);
                }
                if (content.includes("k8s:enc:secretbox:v1:")) encrypted++;
            }
            assert.ok(encrypted > 0, "etcd holds secretbox-encrypted Secrets (k8s:enc:secretbox:v1:)");
        });

        it(
            "moving the tenant to another namespace would replace its protected claims: the preview stops naming them, the claims stay",
            recorded("protection", async () => {
                const uids = async () =>
                    (await kube.core.listNamespacedPersistentVolumeClaim({ namespace: a.tenant })).items
                        .map((c) => `${c.metadata?.name}:${c.metadata?.uid}`)
                        .sort();
                const before = await uids();
                assert.equal(before.length, 4);
                await a.e.stack.setConfig("cytomine-fallback:namespace", { value: `${a.tenant}-moved` });
                try {
                    await assert.rejects(a.e.stack.preview({ color: "never" }), (err: Error) => {
                        assert.match(err.message, /protect/);
                        assert.match(
                            err.message,
                            new RegExp(`${a.tenant}-(postgis-data|mongo-data|meilisearch-data|pims-images)`),
                        );
                        return true;
                    });
                } finally {
                    await a.e.stack.removeConfig("cytomine-fallback:namespace");
                }
                assert.deepEqual(await uids(), before);
            }),
        );

        it("a second tenant is isolated: own namespace, no policy admitting the other, no shared secret", async () => {
            b = await stackFor("k8s-b");
            await b.e.stack.up({ color: "never" });
            assert.notEqual(a.tenant, b.tenant);
            const namespaces = Object.fromEntries(
                await Promise.all(
                    [a.tenant, b.tenant].map(
                        async (n) => [n, (await kube.core.readNamespace({ name: n })).metadata?.labels ?? {}] as const,
                    ),
                ),
            );
            for (const [self, other] of [
                [a.tenant, b.tenant],
                [b.tenant, a.tenant],
            ]) {
                const policies = (await kube.networking.listNamespacedNetworkPolicy({ namespace: self })).items;
                assert.ok(policies.some((p) => p.metadata?.name === "default-deny"));
                for (const p of policies) {
                    const peers = [
                        ...(p.spec?.ingress ?? []).flatMap((r) => r._from ?? []),
                        ...(p.spec?.egress ?? []).flatMap((r) => r.to ?? []),
                    ];
                    for (const peer of peers) {
                        const selector = peer.namespaceSelector?.matchLabels;
                        if (selector) {
                            const matches = Object.entries(selector).every(([k, v]) => namespaces[other][k] === v);
                            assert.ok(!matches, `${self}/${p.metadata?.name} admits namespace ${other}`);
                        }
                        // Addresses outside the cluster only: private ranges (pods of other tenants) excepted.
                        if (peer.ipBlock)
                            assert.deepEqual(peer.ipBlock.except, ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]);
                    }
                }
            }
            const secretOf = async (n: string) =>
                (await kube.core.readNamespacedSecret({ name: "cytomine-secrets", namespace: n })).data ?? {};
            const [sa, sb] = await Promise.all([secretOf(a.tenant), secretOf(b.tenant)]);
            assert.deepEqual(Object.keys(sa).sort(), Object.keys(sb).sort());
            // Every generated value differs. The one equal value is the external Keycloak's master admin
            // password, which core needs (cytomine/cytomine: core manages its realm as the master admin): tenants sharing one Keycloak share it.
            // keycloakMode namespace gives each tenant its own Keycloak (next suite).
            const shared = Object.keys(sa).filter((key) => sa[key] === sb[key]);
            assert.deepEqual(shared, ["keycloak-admin-password"]);
        });

        it("another stack cannot take a tenant's namespace: its preview stops naming the key", async () => {
            intruder = (await stackFor("k8s-c", { "cytomine-fallback:tenant": a.tenant })).e;
            await assert.rejects(intruder.stack.preview({ color: "never" }), (e: Error) => {
                assert.match(
                    e.message,
                    new RegExp(
                        `cytomine-fallback:tenant = "${a.tenant}" collides with another tenant: namespace "${a.tenant}" already belongs to stack organization/cytomine-fallback/test-`,
                    ),
                );
                return true;
            });
        });

        it("destroy --exclude-protected removes everything but the protected volumes (and their namespace)", async () => {
            const destroy = await a.e.stack.destroy({ color: "never", excludeProtected: true });
            assert.equal(destroy.summary.result, "succeeded");
            const n = a.tenant;
            const [deployments, sets, services, secrets, policies, ingresses, claims] = await Promise.all([
                kube.apps.listNamespacedDeployment({ namespace: n }),
                kube.apps.listNamespacedStatefulSet({ namespace: n }),
                kube.core.listNamespacedService({ namespace: n }),
                kube.core.listNamespacedSecret({ namespace: n }),
                kube.networking.listNamespacedNetworkPolicy({ namespace: n }),
                kube.networking.listNamespacedIngress({ namespace: n }),
                kube.core.listNamespacedPersistentVolumeClaim({ namespace: n }),
            ]);
            const names = (l: { items: { metadata?: { name?: string } }[] }) =>
                l.items.map((i) => i.metadata?.name).sort();
            assert.deepEqual([deployments, sets, services, secrets, policies, ingresses].map(names), [
                [],
                [],
                [],
                [],
                [],
                [],
            ]);
            assert.deepEqual(claims.items.map((c) => `${c.metadata?.name}:${c.status?.phase}`).sort(), [
                "meilisearch-data:Bound",
                "mongo-data:Bound",
                "pims-images:Bound",
                "postgis-data:Bound",
            ]);
            // Without --exclude-protected, destroy refuses and names the protection.
            await a.e.stack.up({ color: "never" });
            await assert.rejects(a.e.stack.destroy({ color: "never" }), /protected/);
        });
    });

    describe("Keycloak deployed into the namespace", () => {
        let k: { e: EphemeralStack; tenant: string };
        let own: OwnPieces<"keycloak">;
        before(async () => {
            // KWOK nodes run no containers, so the Keycloak pod never serves. A local Keycloak stands
            // in for it at the route's address (publicUrl's /iam) with the admin password set in config;
            // what is under test is the wiring: the identity resources wait for the deployed Keycloak.
            // It is the case's own (ownPieces): the realm below is "cytomine", which the dev stack's
            // `npm run main` holds in the environment's Keycloak.
            own = await ownPieces("k8s-iam", ["keycloak"]);
            const { keycloak } = own.info;
            k = await stackFor(
                "k8s-iam",
                {
                    "cytomine-fallback:keycloakMode": "namespace",
                    // The web UI signs in only through this realm (components/model/release.ts SIGN_IN).
                    "cytomine-fallback:realm": "cytomine",
                    "cytomine-fallback:publicUrl": new URL(keycloak.url).origin,
                },
                { ...env, keycloak },
            );
            await k.e.stack.removeConfig("cytomine-fallback:keycloakUrl");
        });
        after(async () => {
            try {
                if (k) await disposeEphemeralStack(k.e);
            } finally {
                await own?.dispose();
            }
        });

        it("deploys Keycloak and its database, then applies the realm through a provider that waited for them", async () => {
            const events: EngineEvent[] = [];
            const up = await k.e.stack.up({ color: "never", onEvent: (e) => events.push(e) });
            assert.equal(up.summary.result, "succeeded");
            const ready = await workloadsReady(kube, k.tenant);
            assert.equal(ready.iam, 1);
            assert.equal(ready["iam-db"], 1);
            const ingress = await kube.networking.readNamespacedIngress({ name: "cytomine", namespace: k.tenant });
            assert.ok(
                ingress.spec?.rules?.[0].http?.paths.some(
                    (p) => p.path === "/iam" && p.backend.service?.name === "iam",
                ),
            );
            const env_ = await kube.apps.readNamespacedDeployment({ name: "iam", namespace: k.tenant });
            const vars = env_.spec?.template.spec?.containers[0].env ?? [];
            assert.equal(
                vars.find((v) => v.name === "KC_DB_PASSWORD")?.valueFrom?.secretKeyRef?.key,
                "iam-db-password",
            );

            // Engine order: the iam Deployment was Ready (outputs) before the provider's first realm began.
            const at = (type: string, urnPart: string, kind: "resOutputsEvent" | "resourcePreEvent") =>
                events.findIndex((e) => {
                    const m = e[kind]?.metadata;
                    return m?.type === type && m.urn.endsWith(urnPart) && m.op !== "same";
                });
            const iamReady = at("kubernetes:apps/v1:Deployment", `::${k.tenant}-iam`, "resOutputsEvent");
            const realmStarts = at("keycloak:index/realm:Realm", "::cytomine-realm", "resourcePreEvent");
            assert.ok(
                iamReady >= 0 && realmStarts > iamReady,
                `iam ready at ${iamReady}, realm started at ${realmStarts}`,
            );
            const kc = await keycloakAdmin(own.info.keycloak);
            assert.equal((await kc.realms.findOne({ realm: "cytomine" }))?.realm, "cytomine");
        });
    });

    describe("render mode", () => {
        let r: { e: EphemeralStack; tenant: string };
        let dir: string;
        before(async () => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "cytomine-render-"));
            r = await stackFor("k8s-render", { "cytomine-fallback:renderDir": dir });
        });
        after(async () => {
            if (r) await disposeEphemeralStack(r.e);
            fs.rmSync(dir, { recursive: true, force: true });
        });

        it("writes the manifests without any Secret or secret value, and names the Secret to provide", async () => {
            const up = await r.e.stack.up({ color: "never" });
            assert.deepEqual(up.outputs.secretToProvide.value.name, "cytomine-secrets");
            const files = manifestFiles(dir);
            const text = files.map((f) => fs.readFileSync(f, "utf8")).join("\n---\n");
            assert.match(text, /kind: Deployment/);
            assert.match(text, /kind: NetworkPolicy/);
            assert.doesNotMatch(text, /kind: Secret\b/);
            assert.ok(!text.includes(env.keycloak.adminPassword), "the Keycloak admin password is in a rendered file");
            const config = await r.e.stack.getAllConfig();
            assert.ok(!text.includes(config["cytomine-fallback:lsaaiClientSecret"].value));
            // Nothing reached the cluster.
            assert.ok(await isGone(() => kube.core.readNamespace({ name: r.tenant })));
        });

        it("kube-score finds nothing CRITICAL beyond the exceptions listed with their reasons", () => {
            const findings = score(dir);
            assert.deepEqual(unexcused(findings), []);
            // Every listed exception is still needed: the list stays honest.
            for (const check of Object.keys(KUBE_SCORE_EXCEPTIONS))
                assert.ok(
                    findings.some((f) => f.check === check),
                    `exception ${check} no longer occurs: remove it`,
                );
        });
    });
});
