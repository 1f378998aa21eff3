// The `cytomine` realm as Cytomine's IAM expects it (upstream cytomine/cytomine: iam/kc_config.json): realm settings, the user
// profile with Cytomine's attributes, the public `core` client with its roles, default roles, the
// `projects` claim, and an administrator holding core.ADMIN.
import * as keycloak from "@pulumi/keycloak";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { OWNER_KEY, stackOwner } from "../model/tenancy";
import { coreClientUrls, sslRequired } from "./names";
import { adminAttributes, standardAttributes } from "./profile";

export const CORE_ROLES = ["ADMIN", "USER", "GUEST"] as const;
export type CoreRole = (typeof CORE_ROLES)[number];

export interface CytomineRealmArgs {
    /** Realm name (at most 36 characters). */
    realm: string;
    /** The one public URL of Cytomine; the core client's URLs derive from it. */
    publicUrl: string;
    localStack: boolean;
    /** Protect the realm from deletion and replacement (true unless a config switch allows it). */
    protect: boolean;
}

/** Realm settings Cytomine's IAM ships with (iam/kc_config.json), with sslRequired hardened. */
export function cytomineRealmSettings(realm: string, localStack: boolean, owner: string): keycloak.RealmArgs {
    return {
        realm,
        // The owning stack: another stack's preview refuses a realm so marked (cytomine/tenancy.ts).
        attributes: { [OWNER_KEY]: owner },
        enabled: true,
        displayName: "Cytomine",
        sslRequired: sslRequired(localStack),
        rememberMe: true,
        resetPasswordAllowed: true,
        loginWithEmailAllowed: true,
        registrationAllowed: false,
        accessTokenLifespan: "5m",
        ssoSessionIdleTimeout: "30m",
        ssoSessionMaxLifespan: "10h",
        internationalization: { supportedLocales: ["en", "fr"], defaultLocale: "en" },
    };
}

export class CytomineRealm extends pulumi.ComponentResource {
    public readonly realmId: pulumi.Output<string>;
    public readonly coreClientId: pulumi.Output<string>;
    /** Role ids of the core client's roles, by name. */
    public readonly coreRoleIds: Record<CoreRole, pulumi.Output<string>>;
    /** core.ADMIN: what a mapper granting it must wait for (not the whole realm). */
    public readonly adminRole: keycloak.Role;
    public readonly adminUsername: pulumi.Output<string>;
    public readonly adminPassword: pulumi.Output<string>;

    constructor(name: string, args: CytomineRealmArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cytomine:identity:CytomineRealm", name, {}, opts);
        const child = { parent: this };

        const realm = new keycloak.Realm(
            `${name}-realm`,
            cytomineRealmSettings(args.realm, args.localStack, stackOwner()),
            {
                ...child,
                protect: args.protect,
            },
        );
        // retainOnDelete: the profile goes with its realm (PROFILE_TYPE, profile.ts).
        const profile = new keycloak.RealmUserProfile(
            `${name}-user-profile`,
            {
                realmId: realm.id,
                attributes: [...standardAttributes(), ...adminAttributes(["isDeveloper", "user_locale", "projects"])],
                unmanagedAttributePolicy: "ENABLED",
            },
            { ...child, retainOnDelete: true },
        );

        const core = new keycloak.openid.Client(
            `${name}-core`,
            {
                realmId: realm.id,
                clientId: "core",
                name: "core",
                accessType: "PUBLIC",
                standardFlowEnabled: true,
                // Cytomine's web UI signs in with the authorization-code flow; passwords never go to core.
                directAccessGrantsEnabled: false,
                fullScopeAllowed: true,
                ...coreClientUrls(args.publicUrl),
            },
            child,
        );
        const roles = Object.fromEntries(
            CORE_ROLES.map((role) => [
                role,
                new keycloak.Role(
                    `${name}-core-${role.toLowerCase()}`,
                    { realmId: realm.id, clientId: core.id, name: role, description: `Cytomine ${role}` },
                    child,
                ),
            ]),
        ) as Record<CoreRole, keycloak.Role>;

        // Every new user gets Keycloak's usual defaults plus core.GUEST, as Cytomine's realm export has.
        new keycloak.DefaultRoles(
            `${name}-default-roles`,
            {
                realmId: realm.id,
                defaultRoles: [
                    "offline_access",
                    "uma_authorization",
                    "account/view-profile",
                    "account/manage-account",
                    "core/GUEST",
                ],
            },
            { ...child, dependsOn: [roles.GUEST] },
        );

        const profileScope = keycloak.openid.getClientScopeOutput({ realmId: realm.id, name: "profile" }, child);
        new keycloak.openid.UserAttributeProtocolMapper(
            `${name}-projects-claim`,
            {
                realmId: realm.id,
                clientScopeId: profileScope.id,
                name: "projects",
                userAttribute: "projects",
                claimName: "projects",
                multivalued: true,
                addToIdToken: true,
                addToAccessToken: true,
                addToUserinfo: true,
            },
            child,
        );

        const password = new random.RandomPassword(`${name}-admin-password`, { length: 32, special: false }, child);
        const admin = new keycloak.User(
            `${name}-admin`,
            {
                realmId: realm.id,
                username: "admin",
                firstName: "Cytomine",
                lastName: "Administrator",
                enabled: true,
                attributes: { isDeveloper: "1", user_locale: "en" },
                initialPassword: { value: password.result, temporary: false },
            },
            // Keycloak drops attributes its user profile does not declare yet.
            { ...child, dependsOn: [profile] },
        );
        new keycloak.UserRoles(
            `${name}-admin-roles`,
            { realmId: realm.id, userId: admin.id, roleIds: [roles.ADMIN.id], exhaustive: false },
            child,
        );

        this.realmId = realm.id;
        this.coreClientId = core.id;
        this.coreRoleIds = { ADMIN: roles.ADMIN.id, USER: roles.USER.id, GUEST: roles.GUEST.id };
        this.adminRole = roles.ADMIN;
        this.adminUsername = admin.username;
        this.adminPassword = pulumi.secret(password.result);
        this.registerOutputs({
            realmId: this.realmId,
            coreClientId: this.coreClientId,
            coreRoleIds: this.coreRoleIds,
            adminUsername: this.adminUsername,
            adminPassword: this.adminPassword,
        });
    }
}
