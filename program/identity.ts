// Identity: Cytomine's realm, the LS-AAI broker and the Orthanc share realm, applied through one
// explicit Keycloak provider to the Keycloak the target names (once it serves).
import * as pulumi from "@pulumi/pulumi";
import { LSAAI_ENDPOINTS } from "../components/identity/endpoints";
import { admissionWarnings, LsAaiBroker } from "../components/identity/lsaai";
import { keycloakBaseUrl } from "../components/identity/names";
import { OrthancShare } from "../components/identity/orthanc";
import { PortalClient } from "../components/identity/portal";
import { keycloakProvider } from "../components/identity/provider";
import { CytomineRealm } from "../components/identity/realm";
import { SIGN_IN } from "../components/model/release";
import type { LoadedConfig } from "./config";
import type { TargetResult } from "./targets";

export function deployIdentity({ config, secrets }: LoadedConfig, keycloak: TargetResult["keycloak"]) {
    const keycloakBase = keycloakBaseUrl(keycloak.endpoint.origin, keycloak.endpoint.basePath);
    const identity = {
        providers: {
            keycloak: keycloakProvider("keycloak", keycloak.endpoint, keycloak.adminPassword, keycloak.ready),
        },
    };
    const protectRealms = !config.allowRealmReplacement;

    const cytomineRealm = new CytomineRealm(
        "cytomine",
        { realm: config.realm, publicUrl: config.publicUrl, localStack: config.localStack, protect: protectRealms },
        identity,
    );
    const restriction = config.lsaai.restrict
        ? { entitlements: config.lsaai.allowedEntitlements, subjects: config.lsaai.allowedSubjects }
        : undefined;
    admissionWarnings(config.localStack, restriction).forEach((w) => pulumi.log.warn(w));
    // A shared external Keycloak may name the realm otherwise (program/config/rules.ts refuses it for a
    // Keycloak of the tenant's own); the pinned web UI then cannot sign in.
    if (config.realm !== SIGN_IN.realm)
        pulumi.log.warn(
            `realm "${config.realm}": Cytomine's web UI signs in only through the realm "${SIGN_IN.realm}" (${SIGN_IN.source}); ` +
                "users of this tenant's Cytomine cannot sign in until the realm is named so",
        );
    const lsaai = new LsAaiBroker(
        "lsaai",
        {
            realm: cytomineRealm.realmId,
            realmName: config.realm,
            keycloakBaseUrl: keycloakBase,
            alias: config.lsaai.alias,
            clientId: config.lsaai.clientId,
            clientSecret: secrets.lsaaiClientSecret,
            endpoints: config.lsaai.endpoints ?? LSAAI_ENDPOINTS,
            scopes: config.lsaai.scopes,
            restriction,
            adminRole: cytomineRealm.adminRole,
            secretsRevision: config.lsaai.secretsRevision,
        },
        identity,
    );
    const orthanc = config.orthanc.enabled
        ? new OrthancShare(
              "orthanc",
              {
                  realm: config.orthanc.realm,
                  keycloakBaseUrl: keycloakBase,
                  redirectUris: [`${config.publicUrl}/*`],
                  localStack: config.localStack,
                  protect: protectRealms,
              },
              identity,
          )
        : undefined;

    const portal = config.portalUrl
        ? new PortalClient("portal", { realmId: cytomineRealm.realmId, portalUrl: config.portalUrl }, identity)
        : undefined;

    return {
        keycloakUrl: keycloakBase,
        lsaaiRedirectUri: lsaai.redirectUri,
        cytomineAdminUser: cytomineRealm.adminUsername,
        cytomineAdminPassword: cytomineRealm.adminPassword,
        // Present only when declared: an undefined stack output makes the SDK warn on every run.
        ...(orthanc
            ? {
                  orthancAuthService: pulumi.secret({
                      KEYCLOAK_URI: orthanc.keycloakUri,
                      KEYCLOAK_ADMIN_URI: orthanc.keycloakAdminUri,
                      KEYCLOAK_CLIENT_SECRET: orthanc.keycloakClientSecret,
                      apiKeys: orthanc.apiKeys,
                      passwords: orthanc.passwords,
                  }),
              }
            : {}),
        // What the user page's config needs (apps/portal): one secret output, never shown in plain text.
        ...(portal
            ? {
                  portalClient: pulumi.secret({
                      issuer: `${keycloakBase}/realms/${config.realm}`,
                      clientId: portal.clientId,
                      clientSecret: portal.clientSecret,
                  }),
              }
            : {}),
    };
}
