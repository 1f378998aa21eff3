// The LS Login (LS-AAI) broker, exactly as the seed's steps A and B configure it by hand: an OpenID
// Connect identity provider displayed as LS_AAI, client secret sent as basic auth, backchannel logout
// on, signatures checked against the JWKS; and AdminMapper giving every brokered user core.ADMIN.
import * as keycloak from "@pulumi/keycloak";
import * as pulumi from "@pulumi/pulumi";
import { OidcEndpoints } from "./endpoints";
import { brokerRedirectUri } from "./names";

export interface LsAaiBrokerArgs {
    realm: pulumi.Input<string>;
    /** Keycloak's public base URL (with its relative path), for the redirect URI output. */
    keycloakBaseUrl: string;
    realmName: string;
    alias: string;
    clientId: string;
    clientSecret: pulumi.Input<string>;
    endpoints: OidcEndpoints;
    /** Space-separated scopes requested from LS Login. */
    scopes: string;
}

/** The identity provider's settings; every value the seed asks for is set explicitly. */
export function lsaaiIdentityProviderArgs(args: LsAaiBrokerArgs): keycloak.oidc.IdentityProviderArgs {
    const e = args.endpoints;
    return {
        realm: args.realm,
        alias: args.alias,
        displayName: "LS_AAI",
        providerId: "oidc",
        enabled: true,
        clientId: args.clientId,
        clientSecret: args.clientSecret,
        issuer: e.issuer,
        authorizationUrl: e.authorizationUrl,
        tokenUrl: e.tokenUrl,
        userInfoUrl: e.userInfoUrl,
        jwksUrl: e.jwksUrl,
        logoutUrl: e.logoutUrl,
        validateSignature: true,
        backchannelSupported: true,
        defaultScopes: args.scopes,
        syncMode: "IMPORT",
        trustEmail: false,
        storeToken: false,
        extraConfig: { clientAuthMethod: "client_secret_basic" },
    };
}

export class LsAaiBroker extends pulumi.ComponentResource {
    public readonly alias: pulumi.Output<string>;
    /** Register this redirect URI with LS Login for the client id. */
    public readonly redirectUri: pulumi.Output<string>;

    constructor(name: string, args: LsAaiBrokerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cytomine:identity:LsAaiBroker", name, {}, opts);
        const idp = new keycloak.oidc.IdentityProvider(`${name}-idp`, lsaaiIdentityProviderArgs(args), {
            parent: this,
        });
        new keycloak.HardcodedRoleIdentityMapper(
            `${name}-admin-mapper`,
            {
                realm: args.realm,
                identityProviderAlias: idp.alias,
                name: "AdminMapper",
                role: "core.ADMIN",
                extraConfig: { syncMode: "INHERIT" },
            },
            { parent: this },
        );
        this.alias = idp.alias;
        this.redirectUri = pulumi.output(brokerRedirectUri(args.keycloakBaseUrl, args.realmName, args.alias));
        this.registerOutputs({ alias: this.alias, redirectUri: this.redirectUri });
    }
}
