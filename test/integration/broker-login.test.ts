// Issue "identity as code": a brokered login end to end. A second realm in the same Keycloak plays
// LS-AAI (a confidential client with the configured id and secret, and a researcher); the test walks
// the authorization-code flow of the `core` client through the cytomine realm's broker and checks the
// token's core roles; then a logout at the upstream realm ends the brokered session (backchannel).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Environment, useEnvironment } from "../../localenv";
import { Browser, jwtPayload } from "../support/browser";
import { createStandInLsAai, StandInLsAai } from "../support/lsaai-standin";
import { projectStack } from "../support/project-stack";
import { projectConfig } from "../support/project-config";
import { keycloakAdmin } from "../support/clients";
import { disposeEphemeralStack, EphemeralStack } from "../support/automation";

describe("brokered login through the LS-AAI identity provider", { timeout: 900_000 }, () => {
    let env: Environment;
    let e: EphemeralStack;
    let kc: Awaited<ReturnType<typeof keycloakAdmin>>;
    let realm: string;
    let lsaai: StandInLsAai;

    before(async () => {
        env = await useEnvironment();
        kc = await keycloakAdmin(env.keycloak);
        const project = projectConfig(env, "bk");
        realm = project.id;
        lsaai = await createStandInLsAai(kc, env, realm, project.config["cytomine-fallback:lsaaiClientId"] as string);

        e = await projectStack(env, { ...project.config, ...lsaai.config });
        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
    });
    after(async () => {
        if (e) await disposeEphemeralStack(e);
        if (lsaai) await lsaai.remove();
    });

    it("gives the brokered researcher a token whose core roles contain ADMIN (AdminMapper)", async () => {
        const tokens = await lsaai.login(new Browser());
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

        const [upstreamUser] = await kc.users.find({ realm: lsaai.upstream, username: "researcher", exact: true });
        await kc.users.logout({ realm: lsaai.upstream, id: upstreamUser.id! });

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
        const page = await refused.follow(lsaai.authUrl(), lsaai.atCallback);
        const result = await refused
            .login(page, "researcher", lsaai.password, lsaai.atCallback)
            .catch((err: Error) => ({ url: "", body: err.message }));
        assert.ok(
            !result.url.startsWith("http://127.0.0.1:8080/"),
            "the researcher reached Cytomine without an entitlement",
        );
        // Keycloak's Deny access step answers the post-broker-login step with 401.
        assert.match(result.body ?? "", /\/login-actions\/post-broker-login\S* answered 401/);

        const [upstreamUser] = await kc.users.find({ realm: lsaai.upstream, username: "researcher", exact: true });
        await e.stack.setAllConfig({ "cytomine-fallback:lsaaiAllowedSubjects[0]": { value: upstreamUser.id! } }, true);
        await e.stack.up({ color: "never" });
        const tokens = await lsaai.login(new Browser());
        assert.ok(jwtPayload(tokens.access_token).resource_access, "the listed subject got a token");
    });
});
