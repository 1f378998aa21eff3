// LS Login (LS-AAI) endpoints, pinned in code so that a preview shows exactly what the broker will
// call. `npm run check:lsaai` compares them with the live discovery document when it is reachable.
import { z } from "zod";

export const LSAAI_DISCOVERY_URL = "https://login.aai.lifescience-ri.eu/oidc/.well-known/openid-configuration";

export const oidcEndpointsSchema = z.object({
    issuer: z.string().url(),
    authorizationUrl: z.string().url(),
    tokenUrl: z.string().url(),
    userInfoUrl: z.string().url(),
    jwksUrl: z.string().url(),
    logoutUrl: z.string().url(),
});
export type OidcEndpoints = z.infer<typeof oidcEndpointsSchema>;

export const LSAAI_ENDPOINTS: OidcEndpoints = {
    issuer: "https://login.aai.lifescience-ri.eu/oidc/",
    authorizationUrl: "https://login.aai.lifescience-ri.eu/oidc/authorize",
    tokenUrl: "https://login.aai.lifescience-ri.eu/oidc/token",
    userInfoUrl: "https://login.aai.lifescience-ri.eu/oidc/userinfo",
    jwksUrl: "https://login.aai.lifescience-ri.eu/oidc/jwk",
    logoutUrl: "https://login.aai.lifescience-ri.eu/oidc/endsession",
};

/** The endpoints an OpenID Provider's discovery document announces, in this module's terms. */
export function endpointsFromDiscovery(doc: Record<string, unknown>): OidcEndpoints {
    return oidcEndpointsSchema.parse({
        issuer: doc.issuer,
        authorizationUrl: doc.authorization_endpoint,
        tokenUrl: doc.token_endpoint,
        userInfoUrl: doc.userinfo_endpoint,
        jwksUrl: doc.jwks_uri,
        logoutUrl: doc.end_session_endpoint,
    });
}

/** Keycloak realms publish their endpoints at fixed paths below the realm's issuer URL. */
export function keycloakRealmEndpoints(issuer: string): OidcEndpoints {
    const base = `${issuer.replace(/\/+$/, "")}/protocol/openid-connect`;
    return {
        issuer: issuer.replace(/\/+$/, ""),
        authorizationUrl: `${base}/auth`,
        tokenUrl: `${base}/token`,
        userInfoUrl: `${base}/userinfo`,
        jwksUrl: `${base}/certs`,
        logoutUrl: `${base}/logout`,
    };
}

/** Lines describing where pinned and live endpoints differ; empty when they agree. */
export function endpointDifferences(pinned: OidcEndpoints, live: OidcEndpoints): string[] {
    return (Object.keys(pinned) as (keyof OidcEndpoints)[])
        .filter((k) => pinned[k] !== live[k])
        .map((k) => `${k}: pinned ${pinned[k]}, discovery says ${live[k]}`);
}
