// Issue "identity as code": every step of the seed documents, checked through Keycloak's Admin REST
// API after a real `pulumi up` of the project's program against the local Keycloak.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { LSAAI_ENDPOINTS } from "../../components/identity/endpoints";
import { Environment, useEnvironment } from "../../localenv";
import { repoRoot } from "../../toolchain/index";
import { keycloakAdmin } from "../support/clients";
import { projectConfig } from "../support/project-config";
import { changesOf, createEphemeralStack, disposeEphemeralStack, EphemeralStack } from "../support/automation";

type Admin = Awaited<ReturnType<typeof keycloakAdmin>>;

describe("identity as code", { timeout: 900_000 }, () => {
    let env: Environment;
    let e: EphemeralStack;
    let realm: string;
    let orthancRealm: string;
    let kc: Admin;
    let outputs: Record<string, { value: any; secret: boolean }>; // eslint-disable-line @typescript-eslint/no-explicit-any

    before(async () => {
        env = await useEnvironment();
        const project = projectConfig(env, "id");
        realm = project.id;
        orthancRealm = `${project.id}-orthanc`;
        e = await createEphemeralStack({
            workDir: repoRoot,
            config: project.config,
            env: { KUBECONFIG: env.kube.kubeconfig },
        });
        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
        outputs = up.outputs;
        kc = await keycloakAdmin(env.keycloak);
    });
    after(async () => {
        if (e) await disposeEphemeralStack(e);
    });

    async function coreClient() {
        const [core] = await kc.clients.find({ realm, clientId: "core" });
        assert.ok(core?.id, "client core exists");
        return core as typeof core & { id: string };
    }

    describe("seed A: the LS-AAI broker", () => {
        it("has alias oidc, display name LS_AAI and the six LS-AAI endpoints", async () => {
            const idp = await kc.identityProviders.findOne({ realm, alias: "oidc" });
            assert.ok(idp, "identity provider oidc exists");
            assert.equal(idp.displayName, "LS_AAI");
            assert.equal(idp.providerId, "oidc");
            assert.deepEqual(
                {
                    issuer: idp.config?.issuer,
                    authorizationUrl: idp.config?.authorizationUrl,
                    tokenUrl: idp.config?.tokenUrl,
                    userInfoUrl: idp.config?.userInfoUrl,
                    jwksUrl: idp.config?.jwksUrl,
                    logoutUrl: idp.config?.logoutUrl,
                },
                LSAAI_ENDPOINTS,
            );
        });

        it("sends the client secret as basic auth, has backchannel logout on and validates signatures with the JWKS", async () => {
            const idp = await kc.identityProviders.findOne({ realm, alias: "oidc" });
            assert.equal(idp?.config?.clientAuthMethod, "client_secret_basic");
            assert.equal(idp?.config?.backchannelSupported, "true");
            assert.equal(idp?.config?.validateSignature, "true");
            assert.equal(idp?.config?.useJwksUrl, "true");
            assert.equal(idp?.config?.defaultScope, "openid profile email");
        });

        it("exports the redirect URI to register with LS Login", () => {
            assert.equal(outputs.lsaaiRedirectUri.value, `${env.keycloak.url}/realms/${realm}/broker/oidc/endpoint`);
        });
    });

    describe("seed B: AdminMapper", () => {
        it("is a hardcoded-role mapper giving core.ADMIN with sync mode INHERIT", async () => {
            const mappers = await kc.identityProviders.findMappers({ realm, alias: "oidc" });
            assert.equal(mappers.length, 1);
            const [m] = mappers;
            assert.equal(m.name, "AdminMapper");
            assert.equal(m.identityProviderMapper, "oidc-hardcoded-role-idp-mapper");
            assert.equal(m.config?.role, "core.ADMIN");
            assert.equal(m.config?.syncMode, "INHERIT");
        });
    });

    describe("the cytomine realm", () => {
        it("carries its stack's name; another stack pointing at it is stopped at preview, naming the key", async () => {
            const r = await kc.realms.findOne({ realm });
            assert.equal(r?.attributes?.["cytomine.io/stack"], `organization/cytomine-fallback/${e.stack.name}`);
            const other = projectConfig(env, "id", { "cytomine-fallback:realm": realm });
            const intruder = await createEphemeralStack({
                workDir: repoRoot,
                config: other.config,
                env: { KUBECONFIG: env.kube.kubeconfig },
            });
            try {
                await assert.rejects(intruder.stack.preview({ color: "never" }), (err: Error) => {
                    assert.match(
                        err.message,
                        new RegExp(
                            `cytomine-fallback:realm = "${realm}" collides with another tenant: realm "${realm}" is already managed by stack organization/cytomine-fallback/${e.stack.name}`,
                        ),
                    );
                    return true;
                });
            } finally {
                await disposeEphemeralStack(intruder);
            }
        });

        it("has Cytomine's realm settings, hardened for TLS outside the local stack", async () => {
            const r = await kc.realms.findOne({ realm });
            assert.equal(r?.loginWithEmailAllowed, true);
            assert.equal(r?.internationalizationEnabled, true);
            assert.equal(r?.accessTokenLifespan, 300);
            assert.equal(r?.sslRequired, "none"); // localStack: true in this test
        });

        it("has the public core client with URLs derived from the public URL, and roles ADMIN, USER, GUEST", async () => {
            const core = await coreClient();
            assert.equal(core.publicClient, true);
            assert.equal(core.directAccessGrantsEnabled, false);
            assert.deepEqual(core.redirectUris, ["http://127.0.0.1:8080/*"]);
            assert.deepEqual(core.webOrigins, ["http://127.0.0.1:8080"]);
            const roles = await kc.clients.listRoles({ realm, id: core.id });
            assert.deepEqual(roles.map((r) => r.name).sort(), ["ADMIN", "GUEST", "USER"]);
        });

        it("gives every new user core.GUEST besides Keycloak's defaults", async () => {
            const r = await kc.realms.findOne({ realm });
            const composites = await kc.roles.getCompositeRoles({ id: r!.defaultRole!.id!, realm });
            const coreId = (await coreClient()).id;
            const names = composites.map((c) =>
                c.clientRole ? `${c.containerId === coreId ? "core" : "other"}/${c.name}` : c.name,
            );
            assert.ok(names.includes("core/GUEST"), names.join(", "));
            assert.ok(names.includes("offline_access"), names.join(", "));
        });

        it("enables unmanaged attributes in the user profile and declares Cytomine's attributes", async () => {
            const profile = await kc.users.getProfile({ realm });
            assert.equal(profile.unmanagedAttributePolicy, "ENABLED");
            const names = (profile.attributes ?? []).map((a) => a.name);
            for (const a of ["username", "email", "isDeveloper", "user_locale", "projects"])
                assert.ok(names.includes(a), a);
        });

        it("has an admin user holding core.ADMIN, with Cytomine's attributes", async () => {
            const core = await coreClient();
            const [admin] = await kc.users.find({ realm, username: "admin", exact: true });
            assert.ok(admin?.id);
            const mapped = await kc.users.listClientRoleMappings({ realm, id: admin.id, clientUniqueId: core.id });
            assert.deepEqual(
                mapped.map((r) => r.name),
                ["ADMIN"],
            );
            assert.deepEqual(admin.attributes?.isDeveloper, ["1"]);
            assert.equal(outputs.cytomineAdminUser.value, "admin");
            assert.equal(outputs.cytomineAdminPassword.secret, true);
        });
    });

    describe("Orthanc share clients", () => {
        const share = () =>
            outputs.orthancAuthService.value as {
                KEYCLOAK_URI: string;
                KEYCLOAK_ADMIN_URI: string;
                KEYCLOAK_CLIENT_SECRET: string;
                apiKeys: Record<string, string>;
            };

        it("exports what the auth service needs, as a secret", () => {
            assert.equal(outputs.orthancAuthService.secret, true);
            assert.equal(share().KEYCLOAK_URI, `${env.keycloak.url}/realms/${orthancRealm}/`);
            assert.equal(share().KEYCLOAK_ADMIN_URI, `${env.keycloak.url}/admin/realms/${orthancRealm}/`);
            assert.ok(share().apiKeys.external.length >= 40);
        });

        it("has the realm roles, the public orthanc client with a groups claim, and the users with their roles", async () => {
            const roles = await kc.roles.find({ realm: orthancRealm });
            for (const role of ["admin-role", "doctor-role", "external-role"]) {
                assert.ok(
                    roles.some((r) => r.name === role),
                    role,
                );
            }
            const [orthanc] = await kc.clients.find({ realm: orthancRealm, clientId: "orthanc" });
            assert.equal(orthanc.publicClient, true);
            const mapper = orthanc.protocolMappers?.find((m) => m.name === "groups");
            assert.equal(mapper?.protocolMapper, "oidc-group-membership-mapper");
            assert.equal(mapper?.config?.["claim.name"], "groups");
            for (const [user, role] of [
                ["admin", "admin-role"],
                ["doctor", "doctor-role"],
                ["external", "external-role"],
            ]) {
                const [u] = await kc.users.find({ realm: orthancRealm, username: user, exact: true });
                const mapped = await kc.users.listRealmRoleMappings({ realm: orthancRealm, id: u.id! });
                assert.ok(
                    mapped.some((r) => r.name === role),
                    `${user} has ${role}`,
                );
            }
        });

        it("adopts admin-cli as a confidential service account holding exactly realm-management view-users", async () => {
            const [adminCli] = await kc.clients.find({ realm: orthancRealm, clientId: "admin-cli" });
            assert.equal(adminCli.publicClient, false);
            assert.equal(adminCli.serviceAccountsEnabled, true);
            const sa = await kc.clients.getServiceAccountUser({ realm: orthancRealm, id: adminCli.id! });
            const [rm] = await kc.clients.find({ realm: orthancRealm, clientId: "realm-management" });
            const mapped = await kc.users.listClientRoleMappings({
                realm: orthancRealm,
                id: sa.id!,
                clientUniqueId: rm.id!,
            });
            assert.deepEqual(
                mapped.map((r) => r.name),
                ["view-users"],
            );
        });

        it("lets the admin-cli secret list users but not create one, and find a user by API key", async () => {
            const token = await fetch(`${env.keycloak.url}/realms/${orthancRealm}/protocol/openid-connect/token`, {
                method: "POST",
                headers: {
                    authorization: `Basic ${Buffer.from(`admin-cli:${share().KEYCLOAK_CLIENT_SECRET}`).toString("base64")}`,
                },
                body: new URLSearchParams({ grant_type: "client_credentials" }),
            });
            assert.equal(token.status, 200);
            const { access_token } = (await token.json()) as { access_token: string };
            const auth = { authorization: `Bearer ${access_token}` };
            const users = share().KEYCLOAK_ADMIN_URI + "users";

            const list = await fetch(users, { headers: auth });
            assert.equal(list.status, 200);
            const create = await fetch(users, {
                method: "POST",
                headers: { ...auth, "content-type": "application/json" },
                body: JSON.stringify({ username: "intruder", enabled: true }),
            });
            assert.equal(create.status, 403);

            const byKey = await fetch(`${users}?q=${encodeURIComponent(`api-key:${share().apiKeys.external}`)}`, {
                headers: auth,
            });
            const found = (await byKey.json()) as { username: string }[];
            assert.deepEqual(
                found.map((u) => u.username),
                ["external"],
            );
        });
    });

    it("a second preview reports no changes", async () => {
        const preview = await e.stack.preview({ color: "never", diff: true });
        assert.deepEqual(changesOf(preview.changeSummary), {}, preview.stdout);
    });

    it("a refreshed preview reports no changes (what every resource reads back matches what it wrote)", async () => {
        const preview = await e.stack.preview({ color: "never", diff: true, refresh: true });
        assert.deepEqual(changesOf(preview.changeSummary), {}, preview.stdout);
    });

    it("drift (backchannel logout off, AdminMapper deleted) is shown by preview --refresh and repaired by up", async () => {
        const idp = await kc.identityProviders.findOne({ realm, alias: "oidc" });
        await kc.identityProviders.update(
            { realm, alias: "oidc" },
            { ...idp!, config: { ...idp!.config, backchannelSupported: "false" } },
        );
        const [mapper] = await kc.identityProviders.findMappers({ realm, alias: "oidc" });
        await kc.identityProviders.delMapper({ realm, alias: "oidc", id: mapper.id! });

        const preview = await e.stack.preview({ color: "never", refresh: true, diff: true });
        const changes = changesOf(preview.changeSummary);
        assert.ok((changes.update ?? 0) >= 1 && (changes.create ?? 0) >= 1, preview.stdout);
        assert.match(preview.stdout, /backchannelSupported/);
        assert.match(preview.stdout, /HardcodedRoleIdentityMapper/);

        await e.stack.up({ color: "never", refresh: true });
        assert.equal(
            (await kc.identityProviders.findOne({ realm, alias: "oidc" }))?.config?.backchannelSupported,
            "true",
        );
        const repaired = await kc.identityProviders.findMappers({ realm, alias: "oidc" });
        assert.deepEqual(
            repaired.map((m) => m.name),
            ["AdminMapper"],
        );
    });

    it("protects the realms (stable URNs, protect set): with allowRealmReplacement false, destroy refuses to delete them", async () => {
        await e.stack.setConfig("cytomine-fallback:allowRealmReplacement", { value: "false" });
        try {
            await e.stack.up({ color: "never" });
            // The realms' URNs are part of the contract: a refactor that changed them would replace
            // (delete and recreate) the realms of every live stack.
            const state = (await e.stack.exportStack()).deployment as {
                resources: { urn: string; protect?: boolean }[];
            };
            for (const suffix of [
                "cytomine:identity:CytomineRealm$keycloak:index/realm:Realm::cytomine-realm",
                "cytomine:identity:OrthancShare$keycloak:index/realm:Realm::orthanc-realm",
            ]) {
                const r = state.resources.find((res) => res.urn.endsWith(suffix));
                assert.ok(r, `no resource with URN ending ${suffix}`);
                assert.equal(r.protect, true, `${suffix} is not protected`);
            }
            // The whole program passes the policy pack once its realms are protected.
            const checked = await e.stack.preview({
                color: "never",
                policyPacks: [path.join(repoRoot, "policies")],
                policyPackConfigs: [path.join(repoRoot, "policies/config.local.json")],
            });
            assert.deepEqual(changesOf(checked.changeSummary), {}, checked.stdout);
            await assert.rejects(
                e.stack.destroy({ color: "never" }),
                (err: Error) => /protected/.test(err.message) && /cytomine-realm/.test(err.message),
            );
            assert.ok(await kc.realms.findOne({ realm }), "the realm survived");
        } finally {
            await e.stack.setConfig("cytomine-fallback:allowRealmReplacement", { value: "true" });
            await e.stack.up({ color: "never" });
        }
    });
});
