// The user page's ("portal", apps/portal) client in Cytomine's realm: confidential, authorization code
// with PKCE (S256) only, its URLs derived from the page's public URL, and the realm role `operator`
// that opens the page's operator view. Realm roles travel in the ID token (a claim of this client
// only), because the page validates the ID token and reads nothing else.
import * as keycloak from "@pulumi/keycloak";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { portalClientUrls } from "./names";

export const PORTAL_CLIENT_ID = "portal";
export const OPERATOR_ROLE = "operator";
/** The ID-token claim listing the user's realm roles. */
export const PORTAL_ROLES_CLAIM = "portal_roles";

export interface PortalClientArgs {
    realmId: pulumi.Input<string>;
    /** The page's public URL (site root); the redirect URIs derive from it. */
    portalUrl: string;
}

export class PortalClient extends pulumi.ComponentResource {
    public readonly clientId: pulumi.Output<string>;
    public readonly clientSecret: pulumi.Output<string>;

    constructor(name: string, args: PortalClientArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cytomine:identity:PortalClient", name, {}, opts);
        const child = { parent: this };
        const secret = new random.RandomPassword(`${name}-client-secret`, { length: 48, special: false }, child);
        const client = new keycloak.openid.Client(
            `${name}-client`,
            {
                realmId: args.realmId,
                clientId: PORTAL_CLIENT_ID,
                name: "Cytomine user page",
                accessType: "CONFIDENTIAL",
                clientSecret: secret.result,
                standardFlowEnabled: true,
                implicitFlowEnabled: false,
                directAccessGrantsEnabled: false,
                serviceAccountsEnabled: false,
                pkceCodeChallengeMethod: "S256",
                // Sessions end at Keycloak's end-session endpoint; no front-channel iframe (the page forbids framing).
                frontchannelLogoutEnabled: false,
                ...portalClientUrls(args.portalUrl),
            },
            child,
        );
        new keycloak.Role(
            `${name}-operator-role`,
            {
                realmId: args.realmId,
                name: OPERATOR_ROLE,
                description: "Sees every tenant and job on the Cytomine user page",
            },
            child,
        );
        new keycloak.openid.UserRealmRoleProtocolMapper(
            `${name}-roles-claim`,
            {
                realmId: args.realmId,
                clientId: client.id,
                name: "portal realm roles",
                claimName: PORTAL_ROLES_CLAIM,
                multivalued: true,
                addToIdToken: true,
                addToAccessToken: false,
                addToUserinfo: false,
            },
            child,
        );
        this.clientId = client.clientId;
        this.clientSecret = pulumi.secret(secret.result);
        this.registerOutputs({ clientId: this.clientId, clientSecret: this.clientSecret });
    }
}
