// Names and URLs derived from config. Plain functions so tests can check every derivation.

/** Keycloak's public base URL, e.g. https://host/iam (origin + relative path). */
export function keycloakBaseUrl(origin: string, basePath: string): string {
    return `${origin}${basePath}`;
}

/** The redirect URI to register with LS Login for the broker with this alias. */
export function brokerRedirectUri(keycloakBase: string, realm: string, alias: string): string {
    return `${keycloakBase}/realms/${realm}/broker/${alias}/endpoint`;
}

/** The `core` client's URLs, all derived from the one public Cytomine URL. */
export function coreClientUrls(publicUrl: string) {
    return {
        rootUrl: `${publicUrl}/`,
        baseUrl: `${publicUrl}/`,
        validRedirectUris: [`${publicUrl}/*`],
        validPostLogoutRedirectUris: [`${publicUrl}/*`],
        // The exact origin, not "*": only the Cytomine web UI may call Keycloak from a browser.
        webOrigins: [publicUrl],
    };
}

/** The values Orthanc's auth service reads (KEYCLOAK_URI, KEYCLOAK_ADMIN_URI). */
export function orthancServiceUris(keycloakBase: string, realm: string) {
    return {
        keycloakUri: `${keycloakBase}/realms/${realm}/`,
        keycloakAdminUri: `${keycloakBase}/admin/realms/${realm}/`,
    };
}

/** Keycloak's sslRequired: "none" is acceptable only on the local stack. */
export function sslRequired(localStack: boolean): "none" | "external" {
    return localStack ? "none" : "external";
}

/** Where Keycloak sends the user page back after sign-in (apps/portal serves it). */
export const PORTAL_CALLBACK_PATH = "/auth/callback";

/** The user page's client URLs, all derived from its one public URL (no trailing slash). */
export function portalClientUrls(portalUrl: string) {
    const base = portalUrl.replace(/\/+$/, "");
    return {
        rootUrl: `${base}/`,
        baseUrl: `${base}/`,
        // Exact URIs, no wildcard: an open redirect URI would let another page receive the code.
        validRedirectUris: [`${base}${PORTAL_CALLBACK_PATH}`],
        validPostLogoutRedirectUris: [`${base}/`],
        webOrigins: [base],
    };
}
