// Sign-in through the stack's Keycloak realm with openid-client (an OpenID Foundation certified relying
// party): authorization code with PKCE (S256), state and nonce kept in the server-side session and
// checked on return, the ID token validated (signature, issuer, audience, expiry, nonce) by the library.
// Sign-out ends the Keycloak session too (RP-initiated logout at the end-session endpoint).
import * as crypto from "node:crypto";
import type { PortalConfig } from "./config";
import type { User } from "./policy";

type OpenId = typeof import("openid-client");
type Configuration = import("openid-client").Configuration;

/** What the session keeps between the redirect to Keycloak and the return. */
export interface PendingLogin {
    state: string;
    nonce: string;
    verifier: string;
    /** A path of this page to return to. */
    returnTo: string;
}

export class SignInRefused extends Error {
    constructor(message: string) {
        super(message);
        this.name = "SignInRefused";
    }
}

export class Oidc {
    private constructor(
        private readonly lib: OpenId,
        private readonly server: Configuration,
        private readonly config: PortalConfig,
        readonly redirectUri: string,
    ) {}

    /** Reads the realm's discovery document (retried: Keycloak may still be starting). */
    static async discover(config: PortalConfig, attempts = 10): Promise<Oidc> {
        // An ES module: loaded at run time (see test/support/clients.ts).
        const lib = await import("openid-client");
        const issuer = new URL(config.oidc.issuer);
        // http only for a loopback Keycloak (the local environment); anything else must be https.
        const insecure = issuer.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(issuer.hostname);
        let lastError: unknown;
        for (let i = 0; i < attempts; i++) {
            try {
                const server = await lib.discovery(
                    issuer,
                    config.oidc.clientId,
                    config.oidc.clientSecret,
                    lib.ClientSecretBasic(config.oidc.clientSecret),
                    insecure ? { execute: [lib.allowInsecureRequests] } : undefined,
                );
                const base = config.publicUrl.replace(/\/+$/, "");
                return new Oidc(lib, server, config, `${base}/auth/callback`);
            } catch (e) {
                lastError = e;
                await new Promise((r) => setTimeout(r, 1000 * (i + 1)));
            }
        }
        throw new Error(
            `oidc.issuer ${config.oidc.issuer}: discovery failed (${(lastError as Error).message}): check the URL (stack output portalClient.issuer) and that Keycloak answers`,
        );
    }

    get endSessionEndpoint(): string | undefined {
        return this.server.serverMetadata().end_session_endpoint;
    }

    async startLogin(returnTo: string): Promise<{ url: string; pending: PendingLogin }> {
        const pending: PendingLogin = {
            state: this.lib.randomState(),
            nonce: this.lib.randomNonce(),
            verifier: this.lib.randomPKCECodeVerifier(),
            returnTo,
        };
        const url = this.lib.buildAuthorizationUrl(this.server, {
            redirect_uri: this.redirectUri,
            scope: "openid profile email",
            response_type: "code",
            code_challenge: await this.lib.calculatePKCECodeChallenge(pending.verifier),
            code_challenge_method: "S256",
            state: pending.state,
            nonce: pending.nonce,
            ...(this.config.oidc.idpHint ? { kc_idp_hint: this.config.oidc.idpHint } : {}),
        });
        return { url: url.href, pending };
    }

    /** Exchanges the code; refuses a wrong state or nonce, an invalid ID token or an error answer. */
    async finishLogin(callbackUrl: URL, pending: PendingLogin): Promise<{ user: User; idToken: string }> {
        let tokens: Awaited<ReturnType<OpenId["authorizationCodeGrant"]>>;
        try {
            tokens = await this.lib.authorizationCodeGrant(this.server, callbackUrl, {
                pkceCodeVerifier: pending.verifier,
                expectedState: pending.state,
                expectedNonce: pending.nonce,
                idTokenExpected: true,
            });
        } catch (e) {
            throw new SignInRefused((e as Error).message);
        }
        const claims = tokens.claims();
        if (!claims || !tokens.id_token) throw new SignInRefused("no ID token in the answer");
        const roles = claims[this.config.oidc.rolesClaim];
        const name =
            [claims.preferred_username, claims.email, claims.sub].find((v): v is string => typeof v === "string") ??
            claims.sub;
        return {
            user: {
                sub: claims.sub,
                name,
                operator: Array.isArray(roles) && roles.includes(this.config.oidc.operatorRole),
            },
            idToken: tokens.id_token,
        };
    }

    /** Keycloak's end-session URL, returning to the page's root. */
    logoutUrl(idToken: string | undefined): string {
        return this.lib.buildEndSessionUrl(this.server, {
            post_logout_redirect_uri: `${this.config.publicUrl.replace(/\/+$/, "")}/`,
            client_id: this.config.oidc.clientId,
            ...(idToken ? { id_token_hint: idToken } : {}),
        }).href;
    }
}

/** A session token for the cookie, and the digest the database keys it by. */
export const newSessionToken = () => crypto.randomBytes(32).toString("base64url");
export const sessionKey = (token: string) => crypto.createHash("sha256").update(token).digest("base64url");
