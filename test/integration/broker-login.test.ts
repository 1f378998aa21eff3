// Issue "identity as code": a brokered login end to end. A second realm in the same Keycloak plays
// LS-AAI (a confidential client with the configured id and secret, and a researcher); the test walks
// the authorization-code flow of the `core` client through the cytomine realm's broker and checks the
// token's core roles; then a logout at the upstream realm ends the brokered session (backchannel).
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { after, before, describe, it } from "node:test";
import { keycloakRealmEndpoints } from "../../components/identity/endpoints";
import { Environment, ensureEnvironment } from "../../lib/localenv";
import { repoRoot } from "../../lib/toolchain";
import { Browser, jwtPayload } from "./support/browser";
import { projectConfig } from "../../lib/project-config";
import { keycloakAdmin } from "../../lib/clients";
import { createEphemeralStack, disposeEphemeralStack, EphemeralStack } from "../../lib/automation";

const CALLBACK = "http://127.0.0.1:8080/callback";
const atCallback = (location: string) => location.startsWith("http://127.0.0.1:8080/");

describe("brokered login through the LS-AAI identity provider", { timeout: 900_000 }, () => {
    let env: Environment;
    let e: EphemeralStack;
    let kc: Awaited<ReturnType<typeof keycloakAdmin>>;
    let realm: string;
    let upstream: string;
    const password = crypto.randomBytes(12).toString("base64url");

    before(async () => {
        env = await ensureEnvironment();
        kc = await keycloakAdmin(env.keycloak);
        const clientSecret = crypto.randomBytes(24).toString("base64url");
        const project = projectConfig(env, "bk");
        realm = project.id;
        upstream = `${project.id}-lsaai`;
        const clientId = project.config["cytomine-fallback:lsaaiClientId"] as string;

        await kc.realms.create({ realm: upstream, enabled: true, sslRequired: "none" });
        await kc.clients.create({
            realm: upstream,
            clientId,
            secret: clientSecret,
            publicClient: false,
            clientAuthenticatorType: "client-secret",
            standardFlowEnabled: true,
            redirectUris: [`${env.keycloak.url}/realms/${realm}/broker/oidc/endpoint`],
            attributes: {
                "backchannel.logout.url": `${env.keycloak.url}/realms/${realm}/protocol/openid-connect/logout/backchannel-logout`,
                "backchannel.logout.session.required": "true",
            },
        });
        await kc.users.create({
            realm: upstream,
            username: "researcher",
            email: "researcher@example.org",
            emailVerified: true,
            firstName: "Ada",
            lastName: "Researcher",
            enabled: true,
            credentials: [{ type: "password", value: password, temporary: false }],
        });

        e = await createEphemeralStack({
            workDir: repoRoot,
            config: {
                ...project.config,
                "cytomine-fallback:lsaaiClientSecret": { value: clientSecret, secret: true },
                "cytomine-fallback:lsaaiEndpoints": JSON.stringify(
                    keycloakRealmEndpoints(`${env.keycloak.url}/realms/${upstream}`),
                ),
            },
            env: { KUBECONFIG: env.kube.kubeconfig },
        });
        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
    });
    after(async () => {
        if (e) await disposeEphemeralStack(e);
        if (kc && upstream) await kc.realms.del({ realm: upstream }).catch(() => undefined);
    });

    /** The `core` client's authorization request, sent straight to the LS-AAI broker. */
    const authUrl = () =>
        `${env.keycloak.url}/realms/${realm}/protocol/openid-connect/auth?` +
        new URLSearchParams({
            client_id: "core",
            redirect_uri: CALLBACK,
            response_type: "code",
            scope: "openid",
            kc_idp_hint: "oidc",
        });

    /** Signs in through the broker and returns the `core` client's tokens. */
    async function brokeredLogin(browser: Browser) {
        const loginPage = await browser.follow(authUrl(), atCallback);
        assert.ok(
            loginPage.url.includes(`/realms/${upstream}/`),
            `expected the upstream login page, got ${loginPage.url}`,
        );
        const done = await browser.login(loginPage, "researcher", password, atCallback);
        const code = new URL(done.url).searchParams.get("code");
        assert.ok(code, `no code at ${done.url}`);
        const res = await fetch(`${env.keycloak.url}/realms/${realm}/protocol/openid-connect/token`, {
            method: "POST",
            body: new URLSearchParams({
                grant_type: "authorization_code",
                client_id: "core",
                code,
                redirect_uri: CALLBACK,
            }),
        });
        assert.equal(res.status, 200, await res.clone().text());
        return (await res.json()) as { access_token: string };
    }

    it("gives the brokered researcher a token whose core roles contain ADMIN (AdminMapper)", async () => {
        const tokens = await brokeredLogin(new Browser());
        const claims = jwtPayload(tokens.access_token) as {
            resource_access?: { core?: { roles?: string[] } };
            iss: string;
        };
        assert.equal(claims.iss, `${env.keycloak.url}/realms/${realm}`);
        assert.ok(claims.resource_access?.core?.roles?.includes("ADMIN"), JSON.stringify(claims.resource_access));
    });

    it("ends the brokered session when the researcher logs out at the upstream provider (backchannel logout)", async () => {
        const [brokered] = await kc.users.find({ realm, username: "researcher", exact: true });
        assert.ok(brokered?.id, "the brokered user was created in the cytomine realm");
        assert.ok((await kc.users.listSessions({ realm, id: brokered.id })).length >= 1, "a brokered session exists");

        const [upstreamUser] = await kc.users.find({ realm: upstream, username: "researcher", exact: true });
        await kc.users.logout({ realm: upstream, id: upstreamUser.id! });

        let sessions = -1;
        for (let i = 0; i < 20 && sessions !== 0; i++) {
            sessions = (await kc.users.listSessions({ realm, id: brokered.id })).length;
            if (sessions !== 0) await new Promise((r) => setTimeout(r, 500));
        }
        assert.equal(sessions, 0, "the brokered session survived the upstream logout");
    });

    it("with the login restriction on, refuses a user without an admitted entitlement or subject, and admits a listed subject", async () => {
        // Lists are structured config (Pulumi.yaml declares them array<string>): set them by path.
        await e.stack.setConfig("cytomine-fallback:lsaaiRestrict", { value: "true" });
        await e.stack.setAllConfig(
            {
                "cytomine-fallback:lsaaiAllowedEntitlements[0]": {
                    value: "urn:geant:lifescience-ri.eu:group:bigpicture#aai.lifescience-ri.eu",
                },
            },
            true,
        );
        await e.stack.up({ color: "never" });

        const refused = new Browser();
        const page = await refused.follow(authUrl(), atCallback);
        const result = await refused
            .login(page, "researcher", password, atCallback)
            .catch((err: Error) => ({ url: "", body: err.message }));
        assert.ok(
            !result.url.startsWith("http://127.0.0.1:8080/"),
            "the researcher reached Cytomine without an entitlement",
        );
        // Keycloak's Deny access step answers the post-broker-login step with 401.
        assert.match(result.body ?? "", /\/login-actions\/post-broker-login\S* answered 401/);

        const [upstreamUser] = await kc.users.find({ realm: upstream, username: "researcher", exact: true });
        await e.stack.setAllConfig({ "cytomine-fallback:lsaaiAllowedSubjects[0]": { value: upstreamUser.id! } }, true);
        await e.stack.up({ color: "never" });
        const tokens = await brokeredLogin(new Browser());
        assert.ok(jwtPayload(tokens.access_token).resource_access, "the listed subject got a token");
    });
});
