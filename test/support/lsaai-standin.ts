// A stand-in for LS Login in the local Keycloak: a second realm with a confidential client (the
// configured id and secret) and a researcher, and the brokered authorization-code flow of the `core`
// client through the cytomine realm's LS-AAI identity provider.
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { keycloakRealmEndpoints } from "../../components/identity/endpoints";
import type { keycloakAdmin } from "./clients";
import type { Environment } from "../../localenv";
import type { ConfigValue } from "./project-config";
import { Browser } from "./browser";

type Admin = Awaited<ReturnType<typeof keycloakAdmin>>;

const CALLBACK = "http://127.0.0.1:8080/callback";
const atCallback = (location: string) => location.startsWith("http://127.0.0.1:8080/");

export interface StandInLsAai {
    /** The stand-in's realm. */
    upstream: string;
    clientSecret: string;
    /** The researcher's password at the stand-in. */
    password: string;
    /** The stack config that points the broker at the stand-in: its endpoints and the client secret. */
    config: Record<string, ConfigValue>;
    /** The `core` client's authorization request, sent straight to the broker. */
    authUrl: () => string;
    atCallback: (location: string) => boolean;
    /** Signs in through the broker and returns the `core` client's tokens. */
    login: (browser: Browser) => Promise<{ access_token: string }>;
    remove: () => Promise<void>;
}

/** Creates the stand-in realm `<realm>-lsaai` for the cytomine realm REALM, whose broker uses CLIENT_ID. */
export async function createStandInLsAai(
    kc: Admin,
    env: Environment,
    realm: string,
    clientId: string,
): Promise<StandInLsAai> {
    const upstream = `${realm}-lsaai`;
    const clientSecret = crypto.randomBytes(24).toString("base64url");
    const password = crypto.randomBytes(12).toString("base64url");
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

    const authUrl = () =>
        `${env.keycloak.url}/realms/${realm}/protocol/openid-connect/auth?` +
        new URLSearchParams({
            client_id: "core",
            redirect_uri: CALLBACK,
            response_type: "code",
            scope: "openid",
            kc_idp_hint: "oidc",
        });

    async function login(browser: Browser) {
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

    return {
        upstream,
        clientSecret,
        password,
        config: {
            "cytomine-fallback:lsaaiClientSecret": { value: clientSecret, secret: true },
            "cytomine-fallback:lsaaiEndpoints": JSON.stringify(
                keycloakRealmEndpoints(`${env.keycloak.url}/realms/${upstream}`),
            ),
        },
        authUrl,
        atCallback,
        login,
        remove: () => kc.realms.del({ realm: upstream }).catch(() => undefined),
    };
}
