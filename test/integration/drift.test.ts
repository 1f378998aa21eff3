// Issue "prove it" (#16), drift: changes made by hand through the services' own APIs (Keycloak's Admin
// API, the Kubernetes API) on one stack of the Kubernetes target with the local Keycloak. Each is
// reported by `preview --refresh` as exactly the resource it touched and repaired by `up --refresh`.
// The one drift refresh cannot see, a client secret Keycloak masks, is re-sent by bumping
// secretsRevision; admin-cli's secret, which the provider does read back, is caught by refresh.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { after, before, describe, it } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import {
    changesOf,
    commandsRun,
    createEphemeralStack,
    disposeEphemeralStack,
    EphemeralStack,
    stepsOf,
} from "../support/automation";
import { keycloakAdmin, kubeApi } from "../support/clients";
import { Environment, useEnvironment } from "../../localenv";
import { freePort, projectConfig, sshTargetConfig } from "../support/project-config";
import { repoRoot } from "../../toolchain/index";
import { recorded } from "../support/reliability";
import { Browser } from "../support/browser";
import { createStandInLsAai, StandInLsAai } from "../support/lsaai-standin";
import { projectStack } from "../support/project-stack";

type Admin = Awaited<ReturnType<typeof keycloakAdmin>>;
type Kube = Awaited<ReturnType<typeof kubeApi>>;
type Outputs = Record<string, { value: any; secret: boolean }>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A change made by hand, the step `preview --refresh` must plan for it, and the check that `up` repaired it. */
interface Drift {
    name: string;
    step: string;
    make: () => Promise<void>;
    repaired: () => Promise<void>;
}

describe("drift on the Kubernetes target with the local Keycloak", { timeout: 1_200_000 }, () => {
    let env: Environment;
    let e: EphemeralStack;
    let kc: Admin;
    let kube: Kube;
    let lsaai: StandInLsAai;
    let tenant: string;
    let orthancRealm: string;
    let outputs: Outputs;

    /** A refreshed preview: its planned steps and its output. */
    async function refreshedPreview() {
        const events: EngineEvent[] = [];
        const p = await e.stack.preview({
            color: "never",
            diff: true,
            refresh: true,
            onEvent: (ev) => events.push(ev),
        });
        return { steps: stepsOf(events), stdout: p.stdout, changes: changesOf(p.changeSummary) };
    }

    async function upRefreshed() {
        const up = await e.stack.up({ color: "never", refresh: true });
        assert.equal(up.summary.result, "succeeded");
        outputs = up.outputs;
    }

    const coreClient = async () => {
        const [core] = await kc.clients.find({ realm: tenant, clientId: "core" });
        return core as typeof core & { id: string };
    };
    const adminCli = async () => {
        const [c] = await kc.clients.find({ realm: orthancRealm, clientId: "admin-cli" });
        return c as typeof c & { id: string };
    };
    const externalUser = async () => {
        const [u] = await kc.users.find({ realm: orthancRealm, username: "external", exact: true });
        return u as typeof u & { id: string };
    };
    /** admin-cli's service account, the realm-management client and the roles it maps to the account. */
    async function serviceAccountRoles() {
        const sa = await kc.clients.getServiceAccountUser({ realm: orthancRealm, id: (await adminCli()).id });
        const [rm] = await kc.clients.find({ realm: orthancRealm, clientId: "realm-management" });
        const roles = await kc.users.listClientRoleMappings({
            realm: orthancRealm,
            id: sa.id!,
            clientUniqueId: rm.id!,
        });
        return { sa: sa.id!, rm: rm.id!, roles };
    }
    /** A client-credentials token request as the Orthanc auth service makes it, with the stack's secret. */
    const adminCliToken = () =>
        fetch(`${env.keycloak.url}/realms/${orthancRealm}/protocol/openid-connect/token`, {
            method: "POST",
            headers: {
                authorization: `Basic ${Buffer.from(`admin-cli:${outputs.orthancAuthService.value.KEYCLOAK_CLIENT_SECRET}`).toString("base64")}`,
            },
            body: new URLSearchParams({ grant_type: "client_credentials" }),
        }).then((r) => r.status);

    before(async () => {
        env = await useEnvironment();
        kc = await keycloakAdmin(env.keycloak);
        kube = await kubeApi(env.kube.kubeconfig);
        const project = projectConfig(env, "drift");
        tenant = project.id;
        orthancRealm = `${tenant}-orthanc`;
        // LS Login stands in as a realm of the local Keycloak, so that the broker's client secret is
        // proven by a real login rather than read back (Keycloak never shows it).
        lsaai = await createStandInLsAai(kc, env, tenant, project.config["cytomine-fallback:lsaaiClientId"] as string);
        e = await projectStack(env, { ...project.config, ...lsaai.config });
        await upRefreshed();
    });
    after(async () => {
        try {
            // A drift left unrepaired (a failed or filtered run) would fail destroy: read the live state first.
            if (e) await e.stack.refresh({ color: "never" }).catch(() => undefined);
            if (e) await disposeEphemeralStack(e);
        } finally {
            if (lsaai) await lsaai.remove();
        }
    });

    it(
        "right after up, refresh finds no drift and a refreshed preview plans nothing",
        recorded("drift", async () => {
            const refresh = await e.stack.refresh({ color: "never" });
            assert.deepEqual(changesOf(refresh.summary.resourceChanges ?? {}), {}, refresh.stdout);
            const p = await refreshedPreview();
            assert.deepEqual(p.steps, [], p.stdout);
        }),
    );

    describe("five drifts through Keycloak's Admin API and three through the Kubernetes API, at once", () => {
        const original: { image?: string; secretValue?: string } = {};
        const drifts = (): Drift[] => [
            {
                name: "LS-AAI backchannel logout switched off",
                step: "update lsaai-idp",
                make: async () => {
                    const idp = (await kc.identityProviders.findOne({ realm: tenant, alias: "oidc" }))!;
                    await kc.identityProviders.update(
                        { realm: tenant, alias: "oidc" },
                        { ...idp, config: { ...idp.config, backchannelSupported: "false" } },
                    );
                },
                repaired: async () => {
                    const idp = await kc.identityProviders.findOne({ realm: tenant, alias: "oidc" });
                    assert.equal(idp?.config?.backchannelSupported, "true");
                },
            },
            {
                name: "AdminMapper deleted",
                step: "create lsaai-admin-mapper",
                make: async () => {
                    const [mapper] = await kc.identityProviders.findMappers({ realm: tenant, alias: "oidc" });
                    await kc.identityProviders.delMapper({ realm: tenant, alias: "oidc", id: mapper.id! });
                },
                repaired: async () => {
                    const mappers = await kc.identityProviders.findMappers({ realm: tenant, alias: "oidc" });
                    assert.deepEqual(
                        mappers.map((m) => `${m.name} ${m.config?.role}`),
                        ["AdminMapper core.ADMIN"],
                    );
                },
            },
            {
                name: "a redirect URI of core changed",
                step: "update cytomine-core",
                make: async () => {
                    const core = await coreClient();
                    await kc.clients.update(
                        { realm: tenant, id: core.id },
                        { ...core, redirectUris: ["https://attacker.example.org/*"] },
                    );
                },
                repaired: async () => assert.deepEqual((await coreClient()).redirectUris, ["http://127.0.0.1:8080/*"]),
            },
            {
                name: "view-users removed from admin-cli's service account",
                step: "create orthanc-admin-cli-view-users",
                make: async () => {
                    const { sa, rm, roles } = await serviceAccountRoles();
                    await kc.users.delClientRoleMappings({
                        realm: orthancRealm,
                        id: sa,
                        clientUniqueId: rm,
                        roles: roles.map((r) => ({ id: r.id!, name: r.name! })),
                    });
                },
                repaired: async () =>
                    assert.deepEqual(
                        (await serviceAccountRoles()).roles.map((r) => r.name),
                        ["view-users"],
                    ),
            },
            {
                name: "external's api-key changed",
                step: "update orthanc-external",
                make: async () => {
                    const u = await externalUser();
                    await kc.users.update(
                        { realm: orthancRealm, id: u.id },
                        { ...u, attributes: { ...u.attributes, "api-key": ["changed-by-hand"] } },
                    );
                },
                repaired: async () =>
                    assert.deepEqual((await externalUser()).attributes?.["api-key"], [
                        outputs.orthancAuthService.value.apiKeys.external,
                    ]),
            },
            {
                name: "the default-deny NetworkPolicy deleted",
                step: `create ${tenant}-namespace-default-deny`,
                make: async () => {
                    await kube.networking.deleteNamespacedNetworkPolicy({ name: "default-deny", namespace: tenant });
                },
                repaired: async () => {
                    const p = await kube.networking.readNamespacedNetworkPolicy({
                        name: "default-deny",
                        namespace: tenant,
                    });
                    assert.deepEqual(p.spec?.policyTypes, ["Ingress", "Egress"]);
                },
            },
            {
                name: "core's Deployment image changed",
                step: `update ${tenant}-core`,
                make: async () => {
                    const d = await kube.apps.readNamespacedDeployment({ name: "core", namespace: tenant });
                    original.image = d.spec!.template.spec!.containers[0].image;
                    d.spec!.template.spec!.containers[0].image = "cytomine/core:0.0.0-drifted";
                    await kube.apps.replaceNamespacedDeployment({ name: "core", namespace: tenant, body: d });
                },
                repaired: async () => {
                    const d = await kube.apps.readNamespacedDeployment({ name: "core", namespace: tenant });
                    assert.equal(d.spec?.template.spec?.containers[0].image, original.image);
                },
            },
            {
                name: "a value of the tenant's Secret edited",
                // pulumi-kubernetes replaces a Secret whose data changed (its enableSecretMutable is
                // off), so that the pods reading it restart with the restored value.
                step: `replace ${tenant}-secrets`,
                make: async () => {
                    const s = await kube.core.readNamespacedSecret({ name: "cytomine-secrets", namespace: tenant });
                    original.secretValue = s.data!["postgres-password"];
                    s.data!["postgres-password"] = Buffer.from("changed-by-hand").toString("base64");
                    await kube.core.replaceNamespacedSecret({ name: "cytomine-secrets", namespace: tenant, body: s });
                },
                repaired: async () => {
                    const s = await kube.core.readNamespacedSecret({ name: "cytomine-secrets", namespace: tenant });
                    assert.equal(s.data?.["postgres-password"], original.secretValue);
                },
            },
        ];
        let all: Drift[];
        let preview: Awaited<ReturnType<typeof refreshedPreview>>;

        before(async () => {
            all = drifts();
            for (const d of all) await d.make();
            preview = await refreshedPreview();
        });

        // Names only: the steps name the tenant, known once `before` ran.
        drifts().forEach(({ name }, i) =>
            it(
                `${name}: preview --refresh plans its resource's step`,
                recorded("drift", () =>
                    assert.ok(preview.steps.includes(all[i].step), `${all[i].step} not in ${preview.steps.join(", ")}`),
                ),
            ),
        );

        it(
            "preview --refresh plans nothing else",
            recorded("drift", () => assert.deepEqual(preview.steps, all.map((d) => d.step).sort(), preview.stdout)),
        );

        it("up --refresh repairs each of them, and a refreshed preview afterwards plans nothing", async (t) => {
            await upRefreshed();
            for (const d of all) await t.test(`${d.name}: repaired by up`, recorded("drift", d.repaired));
            const after = await refreshedPreview();
            assert.deepEqual(after.steps, [], after.stdout);
        });
    });

    describe("secrets", () => {
        it(
            "LS-AAI client secret changed by hand: login fails, preview --refresh sees nothing; bumping secretsRevision and up make login work again",
            recorded("secrets", async () => {
                await lsaai.login(new Browser());
                const idp = (await kc.identityProviders.findOne({ realm: tenant, alias: "oidc" }))!;
                // Keycloak never shows the secret: what reads back is a mask, whatever it holds.
                assert.equal(idp.config?.clientSecret, "**********");
                await kc.identityProviders.update(
                    { realm: tenant, alias: "oidc" },
                    { ...idp, config: { ...idp.config, clientSecret: "changed-by-hand" } },
                );
                await assert.rejects(lsaai.login(new Browser()), "the broker still logs in with a wrong secret");

                const blind = await refreshedPreview();
                assert.deepEqual(blind.steps, [], blind.stdout);

                await e.stack.setConfig("cytomine-fallback:secretsRevision", { value: "1" });
                const planned = await refreshedPreview();
                assert.deepEqual(planned.steps, ["update lsaai-idp"], planned.stdout);
                await upRefreshed();
                await lsaai.login(new Browser());
                const settled = await refreshedPreview();
                assert.deepEqual(settled.steps, [], settled.stdout);
            }),
        );

        it(
            "admin-cli secret regenerated by hand: the stack's secret is refused, preview --refresh plans its update, up restores it",
            recorded("secrets", async () => {
                assert.equal(await adminCliToken(), 200);
                await kc.clients.generateNewClientSecret({ realm: orthancRealm, id: (await adminCli()).id });
                assert.equal(await adminCliToken(), 401);

                const p = await refreshedPreview();
                assert.deepEqual(p.steps, ["update orthanc-admin-cli"], p.stdout);
                await upRefreshed();
                assert.equal(await adminCliToken(), 200);
            }),
        );
    });
});

// On a VM every step is a remote command, whose refresh keeps the recorded state; the program reads
// the configuration files' digests, modes and marks on the host when it starts (program/preflight/host-check.ts),
// so a hand edit shows as its step's update and `up` writes the file again (fileMark in
// components/vm/cytomine.ts). The SSH test host is this machine: its files are changed here, as root would.
describe(
    "drift on the SSH host (target ssh): a file edited or re-moded by hand is seen and repaired",
    { timeout: 900_000 },
    () => {
        let e: EphemeralStack;
        let dir: string;
        let tenant: string;
        const configRoot = "/opt/cytomine-fallback-drift";
        const mode = (f: string) => execFileSync("stat", ["-c", "%a", f], { encoding: "utf8" }).trim();

        before(async () => {
            const env = await useEnvironment();
            const { id, config } = sshTargetConfig(env, "driftvm", {
                httpPort: await freePort(),
                configDir: configRoot,
                dataDir: "/var/lib/cytomine-fallback-drift",
            });
            tenant = id;
            dir = `${configRoot}/${id}`;
            e = await createEphemeralStack({ workDir: repoRoot, config });
            const up = await e.stack.up({ color: "never" });
            assert.equal(up.summary.result, "succeeded");
        });
        after(async () => {
            if (e) await disposeEphemeralStack(e);
        });

        it(
            "nginx.conf edited and compose.yaml made world-writable: preview --refresh shows their two steps, up rewrites only them, the next up runs nothing",
            recorded("drift", async () => {
                const nginx = `${dir}/nginx.conf`;
                const compose = `${dir}/compose.yaml`;
                const written = fs.readFileSync(nginx, "utf8");
                const edited = `${written}\n# edited by hand\n`;
                fs.writeFileSync(nginx, edited);
                fs.chmodSync(compose, 0o666);
                const steps = [`update ${tenant}-file-compose-yaml`, `update ${tenant}-file-nginx-conf`];
                try {
                    const events: EngineEvent[] = [];
                    await e.stack.preview({ color: "never", refresh: true, onEvent: (ev) => events.push(ev) });
                    assert.deepEqual(stepsOf(events), steps);
                    const ran: EngineEvent[] = [];
                    const up = await e.stack.up({ color: "never", onEvent: (ev) => ran.push(ev) });
                    assert.equal(up.summary.result, "succeeded");
                    assert.deepEqual(commandsRun(ran), [`${tenant}-file-compose-yaml`, `${tenant}-file-nginx-conf`]);
                    assert.equal(fs.readFileSync(nginx, "utf8"), written);
                    assert.equal(mode(compose), "644");
                    const again: EngineEvent[] = [];
                    await e.stack.up({ color: "never", onEvent: (ev) => again.push(ev) });
                    assert.deepEqual(commandsRun(again), [], "the repaired files are seen as the stack's again");
                } finally {
                    fs.writeFileSync(nginx, written);
                    fs.chmodSync(compose, 0o644);
                }
            }),
        );

        it(
            "a file step replaced on purpose (up --replace) leaves the file in place (delete before replace)",
            recorded("drift", async () => {
                const nginx = `${dir}/nginx.conf`;
                const written = fs.readFileSync(nginx, "utf8");
                const { deployment } = await e.stack.exportStack();
                const urn = (deployment.resources as { urn: string }[])
                    .map((r) => r.urn)
                    .find((u) => u.endsWith(`::${tenant}-file-nginx-conf`));
                assert.ok(urn, "the nginx.conf step");
                const up = await e.stack.up({ color: "never", replace: [urn] });
                assert.equal(up.summary.result, "succeeded");
                assert.equal(fs.readFileSync(nginx, "utf8"), written);
            }),
        );
    },
);
