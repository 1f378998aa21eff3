// Each Keycloak realm a render captured, as a RealmRepresentation (the JSON of Keycloak's Admin REST
// API and of `kc.sh export`, https://www.keycloak.org/docs-api/latest/rest-api/#RealmRepresentation):
// the @pulumi/keycloak resources' inputs mapped onto the representation's field names. Only what the
// stack sets is shown; Keycloak and the provider fill the rest with their defaults. Secrets are the
// capture's placeholders. An input this mapping does not know is not dropped: it is listed under
// `x-pulumi-unmapped` of its realm, with its resource, so that a new input shows in review.
import type { Capture, CapturedResource } from "./capture";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A resource's inputs, taken one by one; what is left at the end was not mapped. */
class Inputs {
    private readonly left: Set<string>;
    constructor(readonly r: CapturedResource) {
        this.left = new Set(Object.keys(r.inputs).filter((k) => r.inputs[k] !== undefined));
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    take(key: string): any {
        this.left.delete(key);
        return this.r.inputs[key];
    }
    rest(): Obj {
        return Object.fromEntries([...this.left].map((k) => [k, this.r.inputs[k]]));
    }
}

/** Keycloak's Terraform durations (Go syntax, e.g. 5m, 1h30m) in seconds, as the representation has them. */
export function durationSeconds(value: unknown): unknown {
    if (typeof value !== "string") return value;
    const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
    const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
    if (parts.length === 0 || parts.map((p) => p[0]).join("") !== value) return value;
    return parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]], 0);
}

const str = (v: unknown) => (v === undefined ? undefined : String(v));

/** Drops undefined fields (the representation leaves unset fields out). */
function clean<T extends Obj>(o: T): T {
    return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

const REALM = "keycloak:index/realm:Realm";

const TYPES = {
    profile: "keycloak:index/realmUserProfile:RealmUserProfile",
    client: "keycloak:openid/client:Client",
    role: "keycloak:index/role:Role",
    defaultRoles: "keycloak:index/defaultRoles:DefaultRoles",
    attributeMapper: "keycloak:openid/userAttributeProtocolMapper:UserAttributeProtocolMapper",
    groupMapper: "keycloak:openid/groupMembershipProtocolMapper:GroupMembershipProtocolMapper",
    realmRoleMapper: "keycloak:openid/userRealmRoleProtocolMapper:UserRealmRoleProtocolMapper",
    user: "keycloak:index/user:User",
    userRoles: "keycloak:index/userRoles:UserRoles",
    serviceAccountRole: "keycloak:openid/clientServiceAccountRole:ClientServiceAccountRole",
    idp: "keycloak:oidc/identityProvider:IdentityProvider",
    customIdpMapper: "keycloak:index/customIdentityProviderMapping:CustomIdentityProviderMapping",
    hardcodedRoleIdpMapper: "keycloak:index/hardcodedRoleIdentityMapper:HardcodedRoleIdentityMapper",
    flow: "keycloak:authentication/flow:Flow",
    subflow: "keycloak:authentication/subflow:Subflow",
    execution: "keycloak:authentication/execution:Execution",
    executionConfig: "keycloak:authentication/executionConfig:ExecutionConfig",
} as const;

/** Protocol mapper types (Keycloak provider ids) and their inputs' config keys. */
const MAPPERS: Record<string, { mapper: string; config: Record<string, string> }> = {
    [TYPES.attributeMapper]: {
        mapper: "oidc-usermodel-attribute-mapper",
        config: {
            userAttribute: "user.attribute",
            claimName: "claim.name",
            claimValueType: "jsonType.label",
            multivalued: "multivalued",
            aggregateAttributeValues: "aggregate.attrs",
        },
    },
    [TYPES.groupMapper]: {
        mapper: "oidc-group-membership-mapper",
        config: { claimName: "claim.name", fullPath: "full.path" },
    },
    [TYPES.realmRoleMapper]: {
        mapper: "oidc-usermodel-realm-role-mapper",
        config: {
            claimName: "claim.name",
            claimValueType: "jsonType.label",
            multivalued: "multivalued",
            realmRolePrefix: "usermodel.realmRoleMapping.rolePrefix",
        },
    },
};
const TOKEN_CLAIMS: Record<string, string> = {
    addToIdToken: "id.token.claim",
    addToAccessToken: "access.token.claim",
    addToUserinfo: "userinfo.token.claim",
};

/** Realm inputs whose representation field has the same name. */
const REALM_SAME = [
    "realm",
    "enabled",
    "displayName",
    "displayNameHtml",
    "sslRequired",
    "rememberMe",
    "resetPasswordAllowed",
    "loginWithEmailAllowed",
    "registrationAllowed",
    "registrationEmailAsUsername",
    "editUsernameAllowed",
    "verifyEmail",
    "duplicateEmailsAllowed",
    "loginTheme",
    "accountTheme",
    "adminTheme",
    "emailTheme",
    "attributes",
];
const REALM_DURATIONS = [
    "accessTokenLifespan",
    "accessTokenLifespanForImplicitFlow",
    "ssoSessionIdleTimeout",
    "ssoSessionMaxLifespan",
    "offlineSessionIdleTimeout",
    "offlineSessionMaxLifespan",
    "accessCodeLifespan",
    "accessCodeLifespanLogin",
    "accessCodeLifespanUserAction",
];
const BRUTE_FORCE: Record<string, string> = {
    permanentLockout: "permanentLockout",
    maxLoginFailures: "failureFactor",
    waitIncrementSeconds: "waitIncrementSeconds",
    quickLoginCheckMilliSeconds: "quickLoginCheckMilliSeconds",
    minimumQuickLoginWaitSeconds: "minimumQuickLoginWaitSeconds",
    maxFailureWaitSeconds: "maxFailureWaitSeconds",
    failureResetTimeSeconds: "maxDeltaTimeSeconds",
};

/** Client inputs whose representation field has the same name. */
const CLIENT_SAME = [
    "clientId",
    "name",
    "description",
    "enabled",
    "rootUrl",
    "baseUrl",
    "adminUrl",
    "standardFlowEnabled",
    "implicitFlowEnabled",
    "directAccessGrantsEnabled",
    "serviceAccountsEnabled",
    "fullScopeAllowed",
    "consentRequired",
    "webOrigins",
];

/** OIDC identity provider inputs that go to its `config` (string values), by config key. */
const IDP_CONFIG: Record<string, string> = {
    clientId: "clientId",
    clientSecret: "clientSecret",
    issuer: "issuer",
    authorizationUrl: "authorizationUrl",
    tokenUrl: "tokenUrl",
    userInfoUrl: "userInfoUrl",
    jwksUrl: "jwksUrl",
    logoutUrl: "logoutUrl",
    validateSignature: "validateSignature",
    backchannelSupported: "backchannelSupported",
    defaultScopes: "defaultScope",
    syncMode: "syncMode",
    acceptsPromptNoneForwardFromClient: "acceptsPromptNoneForwardFromClient",
    disableUserInfo: "disableUserInfo",
    loginHint: "loginHint",
    uiLocales: "uiLocales",
    guiOrder: "guiOrder",
    pkceEnabled: "pkceEnabled",
    pkceMethod: "pkceMethod",
};
const IDP_SAME = [
    "alias",
    "displayName",
    "providerId",
    "enabled",
    "trustEmail",
    "storeToken",
    "linkOnly",
    "hideOnLoginPage",
    "firstBrokerLoginFlowAlias",
    "postBrokerLoginFlowAlias",
    "addReadTokenRoleOnCreate",
    "authenticateByDefault",
];

/** Builds one realm's representation from its resources. */
class RealmBuilder {
    readonly rep: Obj;
    private readonly unmapped: Obj[] = [];
    private readonly clients = new Map<string, Obj>();
    private readonly roles = new Map<string, { name: string; client?: string }>();
    private readonly users = new Map<string, Obj>();
    private readonly flows = new Map<string, Obj>();
    private readonly executions = new Map<string, Obj>();
    private readonly scopes = new Map<string, Obj>();

    constructor(
        realm: CapturedResource,
        private readonly calls: Map<string, Obj>,
    ) {
        const i = new Inputs(realm);
        const rep: Obj = {};
        for (const k of REALM_SAME) rep[k] = i.take(k);
        for (const k of REALM_DURATIONS) rep[k] = durationSeconds(i.take(k));
        const intl = i.take("internationalization");
        if (intl)
            Object.assign(rep, {
                internationalizationEnabled: true,
                supportedLocales: intl.supportedLocales,
                defaultLocale: intl.defaultLocale,
            });
        const defenses = i.take("securityDefenses");
        if (defenses?.bruteForceDetection) {
            rep.bruteForceProtected = true;
            for (const [k, v] of Object.entries(defenses.bruteForceDetection as Obj))
                rep[BRUTE_FORCE[k] ?? `x-bruteForceDetection.${k}`] = v;
        }
        if (defenses?.headers) rep.browserSecurityHeaders = defenses.headers;
        this.rep = clean({
            ...rep,
            roles: { realm: [] as Obj[], client: {} as Obj },
            clients: [] as Obj[],
            clientScopes: [] as Obj[],
            users: [] as Obj[],
            identityProviders: [] as Obj[],
            identityProviderMappers: [] as Obj[],
            authenticationFlows: [] as Obj[],
            authenticatorConfig: [] as Obj[],
        });
        this.done(i);
    }

    private done(i: Inputs, ...ignored: string[]) {
        for (const k of ["realmId", "realm", ...ignored]) i.take(k);
        const rest = i.rest();
        if (Object.keys(rest).length > 0) this.unmapped.push({ type: i.r.type, resource: i.r.name, inputs: rest });
    }

    private user(id: string): Obj {
        const user = this.users.get(id);
        if (!user) throw new Error(`the realm ${this.rep.realm} has no user with id ${id}`);
        return user;
    }

    private clientIdOf(ref: string): string {
        const client = this.clients.get(ref) ?? this.calls.get(ref);
        if (!client?.clientId) throw new Error(`the realm ${this.rep.realm} has no client with id ${ref}`);
        return client.clientId as string;
    }

    client(r: CapturedResource) {
        const i = new Inputs(r);
        const rep: Obj = { protocol: "openid-connect" };
        for (const k of CLIENT_SAME) rep[k] = i.take(k);
        const access = i.take("accessType");
        if (access !== undefined) {
            rep.publicClient = access === "PUBLIC";
            if (access === "BEARER-ONLY") rep.bearerOnly = true;
        }
        rep.secret = i.take("clientSecret");
        rep.redirectUris = i.take("validRedirectUris");
        rep.frontchannelLogout = i.take("frontchannelLogoutEnabled");
        const attributes: Obj = {};
        const postLogout = i.take("validPostLogoutRedirectUris");
        if (postLogout) attributes["post.logout.redirect.uris"] = (postLogout as string[]).join("##");
        attributes["pkce.code.challenge.method"] = i.take("pkceCodeChallengeMethod");
        const extra = i.take("extraConfig");
        Object.assign(attributes, extra);
        rep.attributes = Object.keys(clean(attributes)).length ? clean(attributes) : undefined;
        // `import: true`: the stack adopts the client Keycloak makes with every realm (admin-cli).
        if (i.take("import")) rep["x-pulumi-import"] = true;
        rep.protocolMappers = [];
        const cleaned = clean(rep);
        this.clients.set(r.id, cleaned);
        this.rep.clients.push(cleaned);
        this.done(i);
    }

    role(r: CapturedResource) {
        const i = new Inputs(r);
        const clientRef = i.take("clientId") as string | undefined;
        const rep = clean({
            name: i.take("name") as string,
            description: i.take("description"),
            attributes: i.take("attributes"),
            composite: i.take("compositeRoles")?.length ? true : undefined,
        });
        if (clientRef) {
            const clientId = this.clientIdOf(clientRef);
            (this.rep.roles.client[clientId] ??= []).push(rep);
            this.roles.set(r.id, { name: rep.name, client: clientId });
        } else {
            this.rep.roles.realm.push(rep);
            this.roles.set(r.id, { name: rep.name });
        }
        this.done(i);
    }

    defaultRoles(r: CapturedResource) {
        const i = new Inputs(r);
        const composites: { realm: string[]; client: Record<string, string[]> } = { realm: [], client: {} };
        for (const role of (i.take("defaultRoles") as string[]) ?? []) {
            const at = role.indexOf("/");
            if (at < 0) composites.realm.push(role);
            else (composites.client[role.slice(0, at)] ??= []).push(role.slice(at + 1));
        }
        this.rep.defaultRole = { name: `default-roles-${this.rep.realm}`, composite: true, composites };
        this.done(i);
    }

    protocolMapper(r: CapturedResource) {
        const i = new Inputs(r);
        const kind = MAPPERS[r.type];
        const config: Obj = {};
        for (const [input, key] of Object.entries({ ...kind.config, ...TOKEN_CLAIMS }))
            config[key] = str(i.take(input));
        const rep = {
            name: i.take("name"),
            protocol: "openid-connect",
            protocolMapper: kind.mapper,
            config: clean(config),
        };
        const clientRef = i.take("clientId") as string | undefined;
        const scopeRef = i.take("clientScopeId") as string | undefined;
        if (clientRef) {
            const client = this.clients.get(clientRef);
            if (!client) throw new Error(`mapper ${r.name}: no client with id ${clientRef}`);
            client.protocolMappers.push(rep);
        } else if (scopeRef) {
            // A mapper added to a client scope Keycloak makes with every realm (read with a data source).
            const name = (this.calls.get(scopeRef)?.name as string | undefined) ?? scopeRef;
            if (!this.scopes.has(name)) {
                const scope = { name, protocol: "openid-connect", "x-pulumi-existing": true, protocolMappers: [] };
                this.scopes.set(name, scope);
                this.rep.clientScopes.push(scope);
            }
            (this.scopes.get(name) as Obj).protocolMappers.push(rep);
        }
        this.done(i);
    }

    userProfile(r: CapturedResource) {
        const i = new Inputs(r);
        const attributes = ((i.take("attributes") as Obj[]) ?? []).map((a) =>
            clean({
                name: a.name,
                displayName: a.displayName,
                group: a.group,
                multivalued: a.multiValued,
                permissions: a.permissions && clean({ view: a.permissions.views, edit: a.permissions.edits }),
                validations: a.validators
                    ? Object.fromEntries((a.validators as Obj[]).map((v) => [v.name, v.config ?? {}]))
                    : undefined,
                required:
                    a.requiredForRoles || a.requiredForScopes
                        ? clean({ roles: a.requiredForRoles, scopes: a.requiredForScopes })
                        : undefined,
                selector: a.enabledWhenScopes ? { scopes: a.enabledWhenScopes } : undefined,
                annotations: a.annotations,
            }),
        );
        const config = clean({
            attributes,
            groups: i.take("groups"),
            unmanagedAttributePolicy: i.take("unmanagedAttributePolicy"),
        });
        this.rep.components = {
            "org.keycloak.userprofile.UserProfileProvider": [
                {
                    providerId: "declarative-user-profile",
                    subComponents: {},
                    config: { "kc.user.profile.config": [JSON.stringify(config)] },
                },
            ],
        };
        this.done(i);
    }

    user_(r: CapturedResource) {
        const i = new Inputs(r);
        const attributes = i.take("attributes") as Record<string, string> | undefined;
        const password = i.take("initialPassword") as { value: string; temporary?: boolean } | undefined;
        const rep = clean({
            username: i.take("username"),
            enabled: i.take("enabled"),
            email: i.take("email"),
            emailVerified: i.take("emailVerified"),
            firstName: i.take("firstName"),
            lastName: i.take("lastName"),
            attributes: attributes
                ? Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, String(v).split("##")]))
                : undefined,
            credentials: password
                ? [{ type: "password", value: password.value, temporary: password.temporary ?? false }]
                : undefined,
        });
        this.users.set(r.id, rep);
        this.rep.users.push(rep);
        this.done(i);
    }

    userRoles(r: CapturedResource) {
        const i = new Inputs(r);
        const user = this.user(i.take("userId"));
        for (const roleId of (i.take("roleIds") as string[]) ?? []) {
            const role = this.roles.get(roleId);
            if (!role) throw new Error(`${r.name}: no role with id ${roleId}`);
            if (role.client) ((user.clientRoles ??= {})[role.client] ??= []).push(role.name);
            else (user.realmRoles ??= []).push(role.name);
        }
        this.done(i, "exhaustive");
    }

    serviceAccountRole(r: CapturedResource) {
        const i = new Inputs(r);
        const userRef = i.take("serviceAccountUserId") as string;
        const owner = [...this.clients.entries()].find(([id]) => userRef === `${id}:service-account`)?.[1];
        if (!owner) throw new Error(`${r.name}: no client owns the service account ${userRef}`);
        if (!this.users.has(userRef)) {
            const user = {
                username: `service-account-${owner.clientId}`,
                enabled: true,
                serviceAccountClientId: owner.clientId,
            };
            this.users.set(userRef, user);
            this.rep.users.push(user);
        }
        const user = this.user(userRef);
        ((user.clientRoles ??= {})[this.clientIdOf(i.take("clientId"))] ??= []).push(i.take("role"));
        this.done(i);
    }

    identityProvider(r: CapturedResource) {
        const i = new Inputs(r);
        const rep: Obj = {};
        for (const k of IDP_SAME) rep[k] = i.take(k);
        rep.providerId ??= "oidc";
        const config: Obj = {};
        for (const [input, key] of Object.entries(IDP_CONFIG)) config[key] = str(i.take(input));
        if (config.jwksUrl) config.useJwksUrl = "true";
        Object.assign(config, i.take("extraConfig"));
        rep.config = clean(config);
        this.rep.identityProviders.push(clean(rep));
        this.done(i);
    }

    identityProviderMapper(r: CapturedResource) {
        const i = new Inputs(r);
        const hardcodedRole = r.type === TYPES.hardcodedRoleIdpMapper;
        const rep = {
            name: i.take("name"),
            identityProviderAlias: i.take("identityProviderAlias"),
            identityProviderMapper: hardcodedRole ? "oidc-hardcoded-role-idp-mapper" : i.take("identityProviderMapper"),
            config: clean({ ...(hardcodedRole ? { role: i.take("role") } : {}), ...i.take("extraConfig") }),
        };
        this.rep.identityProviderMappers.push(rep);
        this.done(i);
    }

    flow(r: CapturedResource) {
        const i = new Inputs(r);
        const sub = r.type === TYPES.subflow;
        const rep = clean({
            alias: i.take("alias") as string,
            description: i.take("description"),
            providerId: i.take("providerId") ?? "basic-flow",
            topLevel: !sub,
            builtIn: false,
            authenticationExecutions: [] as Obj[],
        });
        this.flows.set(rep.alias, rep);
        this.rep.authenticationFlows.push(rep);
        if (sub)
            this.addExecution(
                r,
                i.take("parentFlowAlias"),
                clean({
                    flowAlias: rep.alias,
                    authenticator: i.take("authenticator"),
                    authenticatorFlow: true,
                    requirement: i.take("requirement"),
                    priority: i.take("priority"),
                }),
            );
        this.done(i);
    }

    execution(r: CapturedResource) {
        const i = new Inputs(r);
        this.addExecution(
            r,
            i.take("parentFlowAlias"),
            clean({
                authenticator: i.take("authenticator"),
                authenticatorFlow: false,
                requirement: i.take("requirement"),
                priority: i.take("priority"),
            }),
        );
        this.done(i);
    }

    private addExecution(r: CapturedResource, parent: string, rep: Obj) {
        const flow = this.flows.get(parent);
        if (!flow) throw new Error(`${r.name}: no flow ${parent} in realm ${this.rep.realm}`);
        // Keycloak appends executions in the order they are created: their priority follows it.
        rep.priority ??= (flow.authenticationExecutions.length + 1) * 10;
        flow.authenticationExecutions.push(rep);
        this.executions.set(r.id, rep);
    }

    executionConfig(r: CapturedResource) {
        const i = new Inputs(r);
        const execution = this.executions.get(i.take("executionId"));
        if (!execution) throw new Error(`${r.name}: no execution with id ${r.inputs.executionId}`);
        const alias = i.take("alias");
        execution.authenticatorConfig = alias;
        this.rep.authenticatorConfig.push({ alias, config: i.take("config") });
        this.done(i);
    }

    other(r: CapturedResource) {
        this.unmapped.push({ type: r.type, resource: r.name, inputs: r.inputs });
    }

    /** The representation, its lists in a stable order. */
    build(): Obj {
        const byName = (key: string) => (a: Obj, b: Obj) => String(a[key]).localeCompare(String(b[key]));
        const rep = this.rep;
        rep.clients.sort(byName("clientId"));
        for (const c of rep.clients) c.protocolMappers.sort(byName("name"));
        rep.roles.realm.sort(byName("name"));
        for (const list of Object.values(rep.roles.client)) (list as Obj[]).sort(byName("name"));
        rep.users.sort(byName("username"));
        rep.identityProviders.sort(byName("alias"));
        rep.identityProviderMappers.sort(byName("name"));
        rep.authenticationFlows.sort(byName("alias"));
        rep.authenticatorConfig.sort(byName("alias"));
        rep.clientScopes.sort(byName("name"));
        for (const key of [
            "clientScopes",
            "users",
            "identityProviders",
            "identityProviderMappers",
            "authenticationFlows",
            "authenticatorConfig",
        ])
            if (rep[key].length === 0) delete rep[key];
        if (Object.keys(rep.roles.client).length === 0) delete rep.roles.client;
        if (this.unmapped.length) rep["x-pulumi-unmapped"] = this.unmapped;
        return rep;
    }
}

/** Each realm's representation, by realm name. */
export function realmRepresentations(capture: Pick<Capture, "resources" | "calls">): Record<string, Obj> {
    const calls = new Map(capture.calls.map((c) => [c.id, c.inputs as Obj]));
    const realms = new Map<string, RealmBuilder>();
    for (const r of capture.resources.filter((r) => r.type === REALM)) realms.set(r.id, new RealmBuilder(r, calls));
    // The order matters where a resource refers to another (a role to its client, a mapper to its
    // flow): kinds go in the order of their references, each kind in the program's order.
    const order: [readonly string[], (b: RealmBuilder, r: CapturedResource) => void][] = [
        [[TYPES.client], (b, r) => b.client(r)],
        [[TYPES.role], (b, r) => b.role(r)],
        [[TYPES.defaultRoles], (b, r) => b.defaultRoles(r)],
        [Object.keys(MAPPERS), (b, r) => b.protocolMapper(r)],
        [[TYPES.profile], (b, r) => b.userProfile(r)],
        [[TYPES.user], (b, r) => b.user_(r)],
        [[TYPES.userRoles], (b, r) => b.userRoles(r)],
        [[TYPES.serviceAccountRole], (b, r) => b.serviceAccountRole(r)],
        [[TYPES.idp], (b, r) => b.identityProvider(r)],
        [[TYPES.customIdpMapper, TYPES.hardcodedRoleIdpMapper], (b, r) => b.identityProviderMapper(r)],
        [
            [TYPES.flow, TYPES.subflow, TYPES.execution],
            (b, r) => (r.type === TYPES.execution ? b.execution(r) : b.flow(r)),
        ],
        [[TYPES.executionConfig], (b, r) => b.executionConfig(r)],
    ];
    const known = new Set([REALM, ...order.flatMap(([types]) => types)]);
    const keycloak = capture.resources.filter((r) => r.type.startsWith("keycloak:") && !r.type.startsWith("pulumi:"));
    const realmOf = (r: CapturedResource) => {
        const ref = (r.inputs.realmId ?? r.inputs.realm) as string | undefined;
        const builder = ref === undefined ? undefined : realms.get(ref);
        if (!builder) throw new Error(`${r.type} ${r.name}: no realm ${ref} among the stack's realms`);
        return builder;
    };
    for (const [types, apply] of order)
        for (const r of keycloak.filter((r) => types.includes(r.type))) apply(realmOf(r), r);
    for (const r of keycloak.filter((r) => !known.has(r.type))) realmOf(r).other(r);
    return Object.fromEntries([...realms.values()].map((b) => [b.rep.realm as string, b.build()]));
}

export function keycloakFiles(capture: Pick<Capture, "resources" | "calls">): Record<string, string> {
    return Object.fromEntries(
        Object.entries(realmRepresentations(capture)).map(([realm, rep]) => [
            `keycloak/${realm}.json`,
            `${JSON.stringify(rep, null, 2)}\n`,
        ]),
    );
}
