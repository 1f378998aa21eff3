// Sign-in to Cytomine end to end on the VM target, in a real browser: the tenant's URL → the web UI
// (stand-in, signing in as the real one does with keycloak-js: realm cytomine, client core, PKCE) →
// the tenant's own Keycloak (real, in the compose project) → LS Login through the LS-AAI broker (a
// stand-in upstream realm in that Keycloak, reached by the broker inside the project) → back to the
// web UI → core (stand-in, validating the token as Spring Security does: issuer, the realm's keys,
// expiry, resource_access.core.roles). The ADMIN mapper's role reaches core; a token of another
// realm, an expired one and a user without a core role are told apart; single sign-out ends it.
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { Browser as Chromium, Page } from "playwright-core";
import { keycloakRealmEndpoints } from "../../components/identity/endpoints";
import { PORTS } from "../../components/model/services";
import { createEphemeralStack, EphemeralStack } from "../support/automation";
import { keycloakAdmin } from "../support/clients";
import { Environment, useEnvironment } from "../../localenv";
import { freePort, sshTargetConfig } from "../support/project-config";
import { repoRoot } from "../../toolchain/index";
import { Browser } from "../support/browser";
import { readEnvFile } from "../support/env-file";
import { disposeVmTenant } from "../support/vm-stack";
import { atLogin, launchChromium, shown, signInThroughLsAai } from "../support/signin";

const UPSTREAM = "lsaai-upstream";

describe("sign-in to Cytomine through Keycloak and LS-AAI, on the VM target", { timeout: 1_800_000 }, () => {
    let env: Environment;
    let e: EphemeralStack;
    let url: string;
    let tenant: string;
    let chromium: Chromium;
    let kc: Awaited<ReturnType<typeof keycloakAdmin>>;
    const configRoot = "/opt/cytomine-fallback-test";
    const dataRoot = "/var/lib/cytomine-fallback-test";
    const clientSecret = crypto.randomBytes(24).toString("base64url");
    const researcherPassword = crypto.randomBytes(12).toString("base64url");
    const guestPassword = crypto.randomBytes(12).toString("base64url");

    before(async () => {
        env = await useEnvironment();
        const httpPort = await freePort();
        const base = `http://127.0.0.1:${httpPort}`;
        // LS Login stands in as a realm of the tenant's own Keycloak: the browser reaches it through the
        // proxy, the broker (inside the project) at Keycloak's own address.
        const publicEndpoints = keycloakRealmEndpoints(`${base}/iam/realms/${UPSTREAM}`);
        const inside = keycloakRealmEndpoints(`http://iam:${PORTS.iam}/iam/realms/${UPSTREAM}`);
        const endpoints = {
            ...publicEndpoints,
            tokenUrl: inside.tokenUrl,
            userInfoUrl: inside.userInfoUrl,
            jwksUrl: inside.jwksUrl,
        };
        const target = sshTargetConfig(env, "signin", {
            httpPort,
            configDir: configRoot,
            dataDir: dataRoot,
            extra: {
                "cytomine-fallback:lsaaiClientSecret": { value: clientSecret, secret: true },
                "cytomine-fallback:lsaaiEndpoints": JSON.stringify(endpoints),
            },
        });
        url = target.url;
        tenant = target.id;
        e = await createEphemeralStack({ workDir: repoRoot, config: target.config });
        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");

        // The tenant's Keycloak, as its master admin (the password the stack generated, on the host).
        const iamEnv = readEnvFile(`${configRoot}/${tenant}/env/iam.env`);
        kc = await keycloakAdmin({
            url: `${url}/iam`,
            adminUser: iamEnv.KC_BOOTSTRAP_ADMIN_USERNAME,
            adminPassword: iamEnv.KC_BOOTSTRAP_ADMIN_PASSWORD,
        });
        const lsaaiClientId = target.config["cytomine-fallback:lsaaiClientId"] as string;
        await kc.realms.create({ realm: UPSTREAM, enabled: true, sslRequired: "none" });
        await kc.clients.create({
            realm: UPSTREAM,
            clientId: lsaaiClientId,
            secret: clientSecret,
            publicClient: false,
            standardFlowEnabled: true,
            redirectUris: [`${url}/iam/realms/cytomine/broker/oidc/endpoint`, `${url}/callback`],
        });
        await kc.users.create({
            realm: UPSTREAM,
            username: "researcher",
            email: "researcher@example.org",
            emailVerified: true,
            firstName: "Ada",
            lastName: "Researcher",
            enabled: true,
            credentials: [{ type: "password", value: researcherPassword, temporary: false }],
        });
        // A user of the cytomine realm itself, with the realm's default roles only (core.GUEST).
        await kc.users.create({
            realm: "cytomine",
            username: "visitor",
            email: "visitor@example.org",
            emailVerified: true,
            firstName: "Vic",
            lastName: "Visitor",
            enabled: true,
            credentials: [{ type: "password", value: guestPassword, temporary: false }],
        });

        chromium = await launchChromium();
    });

    after(async () => {
        if (chromium) await chromium.close();
        if (e) await disposeVmTenant(env, e, `cytomine-${tenant}`, `${dataRoot}/${tenant}`);
    });

    const signIn = (page: Page) =>
        signInThroughLsAai(page, {
            cytomineUrl: url,
            realmUrl: `${url}/iam/realms/cytomine`,
            upstreamUrl: `${url}/iam/realms/${UPSTREAM}`,
            password: researcherPassword,
        });

    it("the researcher signs in through LS-AAI and the web UI shows core's user, with the ADMIN mapper's role", async () => {
        const page = await (await chromium.newContext()).newPage();
        await signIn(page);
        assert.equal(new URL(page.url()).origin, url, "back at the web UI");
        const { error, user, roles, session } = await shown(page);
        assert.equal(error, "", "no error on the page");
        assert.equal(user.username, "researcher", "core's /api/user/current.json, through the repository service");
        assert.ok(user.id, "core provisioned the user");
        assert.match(roles, /\bADMIN\b/, "the hardcoded-role mapper's core.ADMIN");
        assert.equal(session.adminByNow, true, "core read the role from resource_access.core.roles");
        await page.context().close();
    });

    it("core rejects a token of another realm, and tells a user without a core role from an admin", async () => {
        // A token of the upstream realm, from the same Keycloak: not core's issuer nor its keys.
        const other = new Browser();
        const callback = `${url}/callback`;
        const atCallback = (l: string) => l.startsWith(callback);
        const auth = (realm: string, clientId: string) =>
            `${url}/iam/realms/${realm}/protocol/openid-connect/auth?` +
            new URLSearchParams({
                client_id: clientId,
                redirect_uri: callback,
                response_type: "code",
                scope: "openid",
            });
        const tokenOf = async (
            b: Browser,
            realm: string,
            clientId: string,
            user: string,
            password: string,
            secret?: string,
        ) => {
            const page = await b.follow(auth(realm, clientId), atCallback);
            const done = await b.login(page, user, password, atCallback);
            const code = new URL(done.url).searchParams.get("code")!;
            const res = await fetch(`${url}/iam/realms/${realm}/protocol/openid-connect/token`, {
                method: "POST",
                body: new URLSearchParams({
                    grant_type: "authorization_code",
                    client_id: clientId,
                    code,
                    redirect_uri: callback,
                    ...(secret ? { client_secret: secret } : {}),
                }),
            });
            assert.equal(res.status, 200, await res.clone().text());
            return ((await res.json()) as { access_token: string }).access_token;
        };
        const lsaaiClientId = (await kc.clients.find({ realm: UPSTREAM })).find(
            (c) => c.secret === clientSecret,
        )!.clientId!;
        const foreign = await tokenOf(other, UPSTREAM, lsaaiClientId, "researcher", researcherPassword, clientSecret);
        const rejected = await fetch(`${url}/api/user/current.json`, {
            headers: { Authorization: `Bearer ${foreign}` },
        });
        assert.equal(rejected.status, 401);
        assert.match(rejected.headers.get("www-authenticate") ?? "", /^Bearer error="invalid_token"/);

        // A user of the cytomine realm with no core role but the default GUEST: core knows it, not as admin.
        const visitor = await tokenOf(new Browser(), "cytomine", "core", "visitor", guestPassword);
        const me = await fetch(`${url}/api/user/current.json`, { headers: { Authorization: `Bearer ${visitor}` } });
        assert.equal(me.status, 200, await me.clone().text());
        assert.equal(((await me.json()) as { username: string }).username, "visitor");
        const session = await fetch(`${url}/session/admin/info.json`, {
            headers: { Authorization: `Bearer ${visitor}` },
        });
        assert.equal(session.status, 200);
        assert.equal(((await session.json()) as { adminByNow: boolean }).adminByNow, false);
        // Without a token, core's API refuses.
        assert.equal((await fetch(`${url}/api/user/current.json`)).status, 401);
    });

    it("core rejects an expired token with Spring Security's message", async () => {
        // Tokens of the core client live 5 s from now on (the stack is disposed after this test file).
        const [core] = await kc.clients.find({ realm: "cytomine", clientId: "core" });
        await kc.clients.update(
            { realm: "cytomine", id: core.id! },
            { ...core, attributes: { ...core.attributes, "access.token.lifespan": "5" } },
        );
        const b = new Browser();
        const callback = `${url}/callback`;
        const page = await b.follow(
            `${url}/iam/realms/cytomine/protocol/openid-connect/auth?` +
                new URLSearchParams({
                    client_id: "core",
                    redirect_uri: callback,
                    response_type: "code",
                    scope: "openid",
                }),
            (l) => l.startsWith(callback),
        );
        const done = await b.login(page, "visitor", guestPassword, (l) => l.startsWith(callback));
        const res = await fetch(`${url}/iam/realms/cytomine/protocol/openid-connect/token`, {
            method: "POST",
            body: new URLSearchParams({
                grant_type: "authorization_code",
                client_id: "core",
                code: new URL(done.url).searchParams.get("code")!,
                redirect_uri: callback,
            }),
        });
        const token = ((await res.json()) as { access_token: string }).access_token;
        // Spring's decoder allows 60 s of clock skew past exp.
        await new Promise((r) => setTimeout(r, 70_000));
        const expired = await fetch(`${url}/api/user/current.json`, { headers: { Authorization: `Bearer ${token}` } });
        assert.equal(expired.status, 401);
        assert.match(expired.headers.get("www-authenticate") ?? "", /Jwt expired at \d{4}-\d\d-\d\dT/);
    });

    it("single sign-out: the web UI's sign-out ends the Keycloak session, and the next visit asks to sign in", async () => {
        const [researcher] = await kc.users.find({ realm: "cytomine", username: "researcher", exact: true });
        const sessions = async () =>
            new Set((await kc.users.listSessions({ realm: "cytomine", id: researcher.id! })).map((x) => x.id!));
        const earlier = await sessions();
        const page = await (await chromium.newContext()).newPage();
        await signIn(page);
        // This browser's session: the one its sign-in added (an earlier test's may still be open).
        const mine = [...(await sessions())].filter((id) => !earlier.has(id));
        assert.equal(mine.length, 1, "the sign-in opened one Keycloak session");
        await page.click("#sign-out");
        // Back at the web UI, which (login-required) sends the browser to Keycloak's login form again.
        await atLogin(page, `${url}/iam/realms/cytomine`);
        await page.waitForSelector("#social-oidc", { timeout: 60_000 });
        assert.ok(!(await sessions()).has(mine[0]), "the web UI's sign-out ended its Keycloak session");
        await page.context().close();
    });
});
