// The identity floor's input: full realm representations equivalent to what the stack declares
// (components/identity/realm.ts, lsaai.ts, orthanc.ts), each created with ONE Admin REST API request
// (POST /admin/realms). Built from the same constants as the components (settings, attributes,
// endpoints, role and user names), so that the two sides stay alike.
//
// One deviation: the stack adds the `projects` claim to the realm's built-in `profile` client scope;
// a representation can only do that by listing every client scope of the realm, so the floor puts
// the same mapper on the `core` client instead (same claim in core's tokens).
import * as crypto from "node:crypto";
import { LSAAI_ENDPOINTS } from "../../components/identity/endpoints";
import { coreClientUrls, sslRequired } from "../../components/identity/names";
import { SHARE_USERS } from "../../components/identity/orthanc";
import { adminAttributes, standardAttributes } from "../../components/identity/profile";
import { CORE_ROLES, cytomineRealmSettings } from "../../components/identity/realm";

/** A realm representation (the Admin API's JSON); typed loosely, the client's type is an ES module's. */
export type RealmRep = Record<string, unknown>;

export interface FloorRealms {
    cytomine: RealmRep;
    orthanc: RealmRep;
}

const password = (length: number) =>
    crypto
        .randomBytes(length * 2)
        .toString("base64")
        .replace(/[^A-Za-z0-9]/g, "")
        .slice(0, length);

/** "5m" / "30m" / "10h" as seconds (the durations the realm settings use). */
export function seconds(duration: string): number {
    const m = /^(\d+)([smh])$/.exec(duration);
    if (!m) throw new Error(`unsupported duration ${duration}`);
    return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as "s" | "m" | "h"];
}

type ProviderAttribute = ReturnType<typeof standardAttributes>[number];

/** The provider's user-profile attributes in Keycloak's own UPConfig format. */
export function upConfig(attributes: ProviderAttribute[]): string {
    const plain = (v: unknown) => v as Record<string, unknown>;
    return JSON.stringify({
        attributes: attributes.map((a) => {
            const permissions = plain(a.permissions);
            const validators = (a.validators ?? []) as { name: string; config?: Record<string, string> }[];
            return {
                name: a.name,
                displayName: a.displayName,
                permissions: { view: permissions.views, edit: permissions.edits },
                validations: Object.fromEntries(validators.map((v) => [v.name, v.config ?? {}])),
                multivalued: false,
            };
        }),
        groups: [],
        unmanagedAttributePolicy: "ENABLED",
    });
}

const userProfile = (attributes: ProviderAttribute[]) => ({
    "org.keycloak.userprofile.UserProfileProvider": [
        {
            providerId: "declarative-user-profile",
            subComponents: {},
            config: { "kc.user.profile.config": [upConfig(attributes)] },
        },
    ],
});

const credentials = (length = 32) => [{ type: "password", value: password(length), temporary: false }];

const claim = (name: string, protocolMapper: string, config: Record<string, string>) => ({
    name,
    protocol: "openid-connect",
    protocolMapper,
    config: { "id.token.claim": "true", "access.token.claim": "true", "userinfo.token.claim": "true", ...config },
});

export interface CytomineRealmInput {
    realm: string;
    publicUrl: string;
    lsaai: { alias: string; clientId: string; clientSecret: string; scopes: string };
}

/** Cytomine's realm with the core client and its roles, the admin user, the LS-AAI broker and its mapper. */
export function cytomineRealmRep(i: CytomineRealmInput): RealmRep {
    const s = cytomineRealmSettings(i.realm, true, "bench/floor");
    const urls = coreClientUrls(i.publicUrl);
    const defaultRole = `default-roles-${i.realm.toLowerCase()}`;
    const e = LSAAI_ENDPOINTS;
    return {
        realm: i.realm,
        enabled: true,
        displayName: s.displayName,
        attributes: s.attributes,
        sslRequired: s.sslRequired,
        rememberMe: s.rememberMe,
        resetPasswordAllowed: s.resetPasswordAllowed,
        loginWithEmailAllowed: s.loginWithEmailAllowed,
        registrationAllowed: s.registrationAllowed,
        accessTokenLifespan: seconds(s.accessTokenLifespan as string),
        ssoSessionIdleTimeout: seconds(s.ssoSessionIdleTimeout as string),
        ssoSessionMaxLifespan: seconds(s.ssoSessionMaxLifespan as string),
        internationalizationEnabled: true,
        supportedLocales: ["en", "fr"],
        defaultLocale: "en",
        components: userProfile([
            ...standardAttributes(),
            ...adminAttributes(["isDeveloper", "user_locale", "projects"]),
        ]),
        roles: {
            realm: [
                { name: "offline_access", description: "${role_offline-access}" },
                { name: "uma_authorization", description: "${role_uma_authorization}" },
                {
                    name: defaultRole,
                    description: "${role_default-roles}",
                    composite: true,
                    composites: {
                        realm: ["offline_access", "uma_authorization"],
                        client: { account: ["view-profile", "manage-account"], core: ["GUEST"] },
                    },
                },
            ],
            client: { core: CORE_ROLES.map((role) => ({ name: role, description: `Cytomine ${role}` })) },
        },
        defaultRole: { name: defaultRole, composite: true, clientRole: false },
        clients: [
            {
                clientId: "core",
                name: "core",
                enabled: true,
                publicClient: true,
                standardFlowEnabled: true,
                directAccessGrantsEnabled: false,
                fullScopeAllowed: true,
                rootUrl: urls.rootUrl,
                baseUrl: urls.baseUrl,
                redirectUris: urls.validRedirectUris,
                webOrigins: urls.webOrigins,
                attributes: { "post.logout.redirect.uris": urls.validPostLogoutRedirectUris.join("##") },
                protocol: "openid-connect",
                protocolMappers: [
                    claim("projects", "oidc-usermodel-attribute-mapper", {
                        "user.attribute": "projects",
                        "claim.name": "projects",
                        multivalued: "true",
                        "jsonType.label": "String",
                    }),
                ],
            },
        ],
        users: [
            {
                username: "admin",
                firstName: "Cytomine",
                lastName: "Administrator",
                enabled: true,
                attributes: { isDeveloper: ["1"], user_locale: ["en"] },
                credentials: credentials(),
                clientRoles: { core: ["ADMIN"] },
            },
        ],
        identityProviders: [
            {
                alias: i.lsaai.alias,
                displayName: "LS_AAI",
                providerId: "oidc",
                enabled: true,
                trustEmail: false,
                storeToken: false,
                config: {
                    clientId: i.lsaai.clientId,
                    clientSecret: i.lsaai.clientSecret,
                    clientAuthMethod: "client_secret_basic",
                    issuer: e.issuer,
                    authorizationUrl: e.authorizationUrl,
                    tokenUrl: e.tokenUrl,
                    userInfoUrl: e.userInfoUrl,
                    jwksUrl: e.jwksUrl,
                    logoutUrl: e.logoutUrl,
                    useJwksUrl: "true",
                    validateSignature: "true",
                    backchannelSupported: "true",
                    defaultScope: i.lsaai.scopes,
                    syncMode: "IMPORT",
                },
            },
        ],
        identityProviderMappers: [
            {
                name: "AdminMapper",
                identityProviderAlias: i.lsaai.alias,
                identityProviderMapper: "oidc-hardcoded-role-idp-mapper",
                config: { role: "core.ADMIN", syncMode: "INHERIT" },
            },
        ],
    };
}

/** Orthanc's share realm: roles, the orthanc client with its groups claim, admin-cli as a service account, users. */
export function orthancRealmRep(realm: string, publicUrl: string): RealmRep {
    return {
        realm,
        enabled: true,
        displayName: "Orthanc",
        sslRequired: sslRequired(true),
        rememberMe: false,
        resetPasswordAllowed: false,
        loginWithEmailAllowed: true,
        accessTokenLifespan: seconds("5m"),
        ssoSessionIdleTimeout: seconds("30m"),
        ssoSessionMaxLifespan: seconds("10h"),
        bruteForceProtected: true,
        permanentLockout: false,
        components: userProfile([...standardAttributes(), ...adminAttributes(["api-key"])]),
        roles: { realm: Object.values(SHARE_USERS).map((name) => ({ name })) },
        clients: [
            {
                clientId: "orthanc",
                name: "orthanc",
                enabled: true,
                publicClient: true,
                standardFlowEnabled: true,
                directAccessGrantsEnabled: false,
                frontchannelLogout: true,
                redirectUris: [`${publicUrl}/*`],
                webOrigins: ["+"],
                fullScopeAllowed: true,
                protocol: "openid-connect",
                protocolMappers: [
                    claim("groups", "oidc-group-membership-mapper", { "full.path": "true", "claim.name": "groups" }),
                ],
            },
            {
                clientId: "admin-cli",
                name: "${client_admin-cli}",
                enabled: true,
                publicClient: false,
                clientAuthenticatorType: "client-secret",
                secret: password(32),
                serviceAccountsEnabled: true,
                standardFlowEnabled: false,
                directAccessGrantsEnabled: false,
                protocol: "openid-connect",
            },
        ],
        users: [
            {
                username: "service-account-admin-cli",
                enabled: true,
                serviceAccountClientId: "admin-cli",
                clientRoles: { "realm-management": ["view-users"] },
            },
            ...(Object.entries(SHARE_USERS) as [string, string][]).map(([user, role]) => ({
                username: user,
                enabled: true,
                credentials: credentials(),
                realmRoles: [role],
                ...(user === "external" ? { attributes: { "api-key": [password(48)] } } : {}),
            })),
        ],
    };
}

export function floorRealms(id: string, publicUrl: string): FloorRealms {
    return {
        cytomine: cytomineRealmRep({
            realm: id,
            publicUrl,
            lsaai: {
                alias: "oidc",
                clientId: `${id}-client`,
                clientSecret: password(32),
                scopes: "openid profile email",
            },
        }),
        orthanc: orthancRealmRep(`${id}-orthanc`, publicUrl),
    };
}
