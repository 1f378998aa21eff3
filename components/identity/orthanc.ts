// The Keycloak side of Orthanc's study-sharing setup (orthanc-auth-service's realm): realm roles,
// the public `orthanc` client with a `groups` claim, the built-in `admin-cli` adopted as a
// confidential service account that may only view users, and the share users with generated
// passwords and API keys (the auth service looks users up by `api-key` attribute).
import * as keycloak from "@pulumi/keycloak";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { orthancServiceUris, sslRequired } from "./names";
import { adminAttributes, standardAttributes } from "./profile";

/** Users of the share setup and the realm role each holds (names as in the auth service). */
export const SHARE_USERS = { admin: "admin-role", doctor: "doctor-role", external: "external-role" } as const;
export type ShareUser = keyof typeof SHARE_USERS;

export interface OrthancShareArgs {
    realm: string;
    keycloakBaseUrl: string;
    /** Redirect URIs of the Orthanc UI / OHIF viewer that sign in through the `orthanc` client. */
    redirectUris: string[];
    localStack: boolean;
    protect: boolean;
    /** Users that get an `api-key` attribute (the sample gives one to `external`). */
    apiKeyUsers?: ShareUser[];
}

export class OrthancShare extends pulumi.ComponentResource {
    public readonly keycloakUri: pulumi.Output<string>;
    public readonly keycloakAdminUri: pulumi.Output<string>;
    /** The admin-cli secret: KEYCLOAK_CLIENT_SECRET of the auth service. */
    public readonly keycloakClientSecret: pulumi.Output<string>;
    public readonly passwords: pulumi.Output<Record<string, string>>;
    public readonly apiKeys: pulumi.Output<Record<string, string>>;

    constructor(name: string, args: OrthancShareArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cytomine:identity:OrthancShare", name, {}, opts);
        const child = { parent: this };
        const apiKeyUsers = args.apiKeyUsers ?? ["external"];

        const realm = new keycloak.Realm(
            `${name}-realm`,
            {
                realm: args.realm,
                enabled: true,
                displayName: "Orthanc",
                sslRequired: sslRequired(args.localStack),
                rememberMe: false,
                resetPasswordAllowed: false,
                loginWithEmailAllowed: true,
                accessTokenLifespan: "5m",
                ssoSessionIdleTimeout: "30m",
                ssoSessionMaxLifespan: "10h",
                securityDefenses: { bruteForceDetection: { permanentLockout: false } },
            },
            { ...child, protect: args.protect },
        );
        // Unmanaged attributes enabled, as the auth service's realm has; api-key is also declared
        // (admin-only), so that only administrators and the service account see it.
        // retainOnDelete: Keycloak 26 refuses the empty profile the provider writes on delete; the
        // profile goes with its realm.
        const profile = new keycloak.RealmUserProfile(
            `${name}-user-profile`,
            {
                realmId: realm.id,
                attributes: [...standardAttributes(), ...adminAttributes(["api-key"])],
                unmanagedAttributePolicy: "ENABLED",
            },
            { ...child, retainOnDelete: true },
        );

        const roles = Object.fromEntries(
            Object.entries(SHARE_USERS).map(([user, role]) => [
                user,
                new keycloak.Role(`${name}-${role}`, { realmId: realm.id, name: role }, child),
            ]),
        ) as Record<ShareUser, keycloak.Role>;

        const orthanc = new keycloak.openid.Client(
            `${name}-orthanc-client`,
            {
                realmId: realm.id,
                clientId: "orthanc",
                name: "orthanc",
                accessType: "PUBLIC",
                standardFlowEnabled: true,
                directAccessGrantsEnabled: false,
                frontchannelLogoutEnabled: true,
                validRedirectUris: args.redirectUris,
                webOrigins: ["+"],
                fullScopeAllowed: true,
            },
            child,
        );
        new keycloak.openid.GroupMembershipProtocolMapper(
            `${name}-groups-claim`,
            {
                realmId: realm.id,
                clientId: orthanc.id,
                name: "groups",
                claimName: "groups",
                fullPath: true,
                addToIdToken: true,
                addToAccessToken: true,
                addToUserinfo: true,
            },
            child,
        );

        // admin-cli exists in every realm: adopt it (import) rather than create it; destroy leaves it.
        const adminCli = new keycloak.openid.Client(
            `${name}-admin-cli`,
            {
                realmId: realm.id,
                clientId: "admin-cli",
                name: "${client_admin-cli}",
                import: true,
                accessType: "CONFIDENTIAL",
                serviceAccountsEnabled: true,
                standardFlowEnabled: false,
                directAccessGrantsEnabled: false,
            },
            child,
        );
        const realmManagement = keycloak.openid.getClientOutput(
            { realmId: realm.id, clientId: "realm-management" },
            child,
        );
        new keycloak.openid.ClientServiceAccountRole(
            `${name}-admin-cli-view-users`,
            {
                realmId: realm.id,
                serviceAccountUserId: adminCli.serviceAccountUserId,
                clientId: realmManagement.id,
                role: "view-users",
            },
            child,
        );

        const passwords: Record<string, pulumi.Output<string>> = {};
        const apiKeys: Record<string, pulumi.Output<string>> = {};
        for (const user of Object.keys(SHARE_USERS) as ShareUser[]) {
            const password = new random.RandomPassword(
                `${name}-${user}-password`,
                { length: 32, special: false },
                child,
            );
            const apiKey = apiKeyUsers.includes(user)
                ? new random.RandomPassword(`${name}-${user}-api-key`, { length: 48, special: false }, child)
                : undefined;
            const u = new keycloak.User(
                `${name}-${user}`,
                {
                    realmId: realm.id,
                    username: user,
                    enabled: true,
                    attributes: apiKey ? { "api-key": apiKey.result } : undefined,
                    initialPassword: { value: password.result, temporary: false },
                },
                // Keycloak drops attributes its user profile does not declare yet.
                { ...child, dependsOn: [profile] },
            );
            new keycloak.UserRoles(
                `${name}-${user}-roles`,
                { realmId: realm.id, userId: u.id, roleIds: [roles[user].id], exhaustive: false },
                child,
            );
            passwords[user] = password.result;
            if (apiKey) apiKeys[user] = apiKey.result;
        }

        const uris = orthancServiceUris(args.keycloakBaseUrl, args.realm);
        this.keycloakUri = pulumi.output(uris.keycloakUri);
        this.keycloakAdminUri = pulumi.output(uris.keycloakAdminUri);
        this.keycloakClientSecret = pulumi.secret(adminCli.clientSecret);
        this.passwords = pulumi.secret(pulumi.all(passwords));
        this.apiKeys = pulumi.secret(pulumi.all(apiKeys));
        this.registerOutputs({
            keycloakUri: this.keycloakUri,
            keycloakAdminUri: this.keycloakAdminUri,
            keycloakClientSecret: this.keycloakClientSecret,
            passwords: this.passwords,
            apiKeys: this.apiKeys,
        });
    }
}
