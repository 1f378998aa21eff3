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
    /** When set, only these LS-AAI users may log in; everyone else is refused at login. */
    restriction?: LoginRestriction;
    /** The core.ADMIN role AdminMapper grants, when declared in the same stack: created first. */
    adminRole?: pulumi.Resource;
    /** Changing it updates the identity provider, which sends clientSecret again (config secretsRevision). */
    secretsRevision?: number;
}

export interface LoginRestriction {
    /** eduperson_entitlement values, any of which admits a user. */
    entitlements: string[];
    /** `sub` claims (LS-AAI identifiers) admitted individually. */
    subjects: string[];
}

/** The realm role that marks an admitted user, and the claims that grant it. */
export const ADMITTED_ROLE = "lsaai-admitted";

export function admissionClaims(r: LoginRestriction): { key: string; value: string }[] {
    return [
        ...r.entitlements.map((value) => ({ key: "eduperson_entitlement", value })),
        ...r.subjects.map((value) => ({ key: "sub", value })),
    ];
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
        // Keycloak answers the secret as "**********", so refresh never sees it drift; an update sends
        // it whole. The revision is left out at 0 so that stacks which never bumped it see no change.
        extraConfig: {
            clientAuthMethod: "client_secret_basic",
            ...(args.secretsRevision ? { secretsRevision: String(args.secretsRevision) } : {}),
        },
    };
}

/**
 * The post-broker-login flow that refuses users without the admitted role: a conditional subflow
 * whose condition is "user lacks role lsaai-admitted" and whose step is Keycloak's Deny access,
 * followed by Allow access for everyone who got past it.
 */
function admissionFlow(name: string, realm: pulumi.Input<string>, alias: string, parent: pulumi.Resource) {
    const child = { parent };
    const role = new keycloak.Role(
        `${name}-admitted-role`,
        { realmId: realm, name: ADMITTED_ROLE, description: "Admitted to log in through LS-AAI" },
        child,
    );
    const flow = new keycloak.authentication.Flow(
        `${name}-admission-flow`,
        {
            realmId: realm,
            alias: `${alias}-admission`,
            providerId: "basic-flow",
            description: "Refuse LS-AAI users not admitted",
        },
        child,
    );
    const gate = new keycloak.authentication.Subflow(
        `${name}-admission-gate`,
        {
            realmId: realm,
            parentFlowAlias: flow.alias,
            alias: `${alias}-admission-gate`,
            providerId: "basic-flow",
            requirement: "CONDITIONAL",
        },
        child,
    );
    // Each step of a flow: REQUIRED, run in the order created (dependsOn).
    const step = (
        part: string,
        parentFlowAlias: pulumi.Input<string>,
        authenticator: string,
        after: pulumi.Resource[],
    ) =>
        new keycloak.authentication.Execution(
            `${name}-admission-${part}`,
            { realmId: realm, parentFlowAlias, authenticator, requirement: "REQUIRED" },
            { ...child, dependsOn: after },
        );
    const condition = step("condition", gate.alias, "conditional-user-role", []);
    new keycloak.authentication.ExecutionConfig(
        `${name}-admission-condition-config`,
        {
            realmId: realm,
            executionId: condition.id,
            alias: `${alias}-not-admitted`,
            config: { condUserRole: ADMITTED_ROLE, negate: "true" },
        },
        child,
    );
    const deny = step("deny", gate.alias, "deny-access-authenticator", [condition]);
    // A flow whose only step was skipped fails; admitted users pass through Allow access.
    const allow = step("allow", flow.alias, "allow-access-authenticator", [gate, deny]);
    return { alias: flow.alias, role, last: allow };
}

export class LsAaiBroker extends pulumi.ComponentResource {
    public readonly alias: pulumi.Output<string>;
    /** Register this redirect URI with LS Login for the client id. */
    public readonly redirectUri: pulumi.Output<string>;

    constructor(name: string, args: LsAaiBrokerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cytomine:identity:LsAaiBroker", name, {}, opts);
        const postLoginFlow = args.restriction ? admissionFlow(name, args.realm, args.alias, this) : undefined;
        const idp = new keycloak.oidc.IdentityProvider(
            `${name}-idp`,
            { ...lsaaiIdentityProviderArgs(args), postBrokerLoginFlowAlias: postLoginFlow?.alias },
            { parent: this, dependsOn: postLoginFlow ? [postLoginFlow.last] : [] },
        );
        if (args.restriction && postLoginFlow) {
            // One mapper per admitting claim value; FORCE re-evaluates them at every login, so a
            // revoked entitlement takes effect at the next login.
            admissionClaims(args.restriction).forEach((claim, i) => {
                new keycloak.CustomIdentityProviderMapping(
                    `${name}-admit-${i}`,
                    {
                        realm: args.realm,
                        identityProviderAlias: idp.alias,
                        name: `admit-${claim.key}-${i}`,
                        identityProviderMapper: "oidc-advanced-role-idp-mapper",
                        extraConfig: {
                            claims: JSON.stringify([claim]),
                            "are.claim.values.regex": "false",
                            role: ADMITTED_ROLE,
                            syncMode: "FORCE",
                        },
                    },
                    { parent: this, dependsOn: [postLoginFlow.role] },
                );
            });
        }
        new keycloak.HardcodedRoleIdentityMapper(
            `${name}-admin-mapper`,
            {
                realm: args.realm,
                identityProviderAlias: idp.alias,
                name: "AdminMapper",
                role: "core.ADMIN",
                extraConfig: { syncMode: "INHERIT" },
            },
            { parent: this, dependsOn: args.adminRole ? [args.adminRole] : [] },
        );
        this.alias = idp.alias;
        this.redirectUri = pulumi.output(brokerRedirectUri(args.keycloakBaseUrl, args.realmName, args.alias));
        this.registerOutputs({ alias: this.alias, redirectUri: this.redirectUri });
    }
}

/** Preview warnings about who may log in; empty when the configuration is safe. */
export function admissionWarnings(localStack: boolean, restriction: LoginRestriction | undefined): string[] {
    if (localStack || restriction) return [];
    return [
        "every LS-AAI user can log in and becomes ADMIN (AdminMapper): set cytomine-fallback:lsaaiRestrict " +
            "with lsaaiAllowedEntitlements and/or lsaaiAllowedSubjects to admit only your users",
    ];
}
