// Keycloak and the LS-AAI broker.
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { configOf, configSchema, PackConfig } from "./config";
import { TYPES } from "./types";
import { fails, known, Props, stringAt, Unknown, UNKNOWN } from "./values";

/** The input that names each kind of Keycloak object; without it the provider invents a name. */
export const keycloakNamingInputs: Record<string, string> = {
    [TYPES.realm]: "realm",
    [TYPES.openidClient]: "clientId",
    [TYPES.role]: "name",
    [TYPES.user]: "username",
    [TYPES.oidcIdentityProvider]: "alias",
    [TYPES.hardcodedRoleMapper]: "name",
    [TYPES.customIdpMapping]: "name",
    [TYPES.userAttributeMapper]: "name",
    [TYPES.groupMembershipMapper]: "name",
    [TYPES.flow]: "alias",
    [TYPES.subflow]: "alias",
};

export const keycloakExplicitNames: ResourceValidationPolicy = {
    name: "keycloak-explicit-names",
    description:
        "Keycloak objects carry explicit names; the provider would otherwise add random suffixes. Names are literals " +
        "in code, known at preview; a name computed from another resource's output is not judged until it is known.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const input = keycloakNamingInputs[args.type];
        if (input === undefined) return;
        const value = stringAt(() => args.props[input]);
        if (value === UNKNOWN) return;
        if (value === undefined || value.trim() === "") {
            reportViolation(`${input} is not set: give the object an explicit ${input}`);
        }
    },
};

/** Keycloak's limit on realm names (longer ones break its database columns). */
export const MAX_REALM_NAME = 36;

export const keycloakRealmName: ResourceValidationPolicy = {
    name: "keycloak-realm-name",
    description: `Realm names have at most ${MAX_REALM_NAME} characters (Keycloak's limit). A name unknown at preview is not judged.`,
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== TYPES.realm) return;
        const name = stringAt(() => args.props.realm);
        if (typeof name === "string" && name.length > MAX_REALM_NAME) {
            reportViolation(
                `realm name "${name}" has ${name.length} characters; Keycloak allows at most ${MAX_REALM_NAME}`,
            );
        }
    },
};

export const keycloakSslRequired: ResourceValidationPolicy = {
    name: "keycloak-ssl-required",
    description:
        "Realms do not set sslRequired to none, except on the local stack (config localStack). Unset means Keycloak's " +
        "default (external), which passes; a value unknown at preview is not judged.",
    enforcementLevel: "mandatory",
    configSchema: configSchema("localStack"),
    validateResource: (args, reportViolation) => {
        if (args.type !== TYPES.realm || configOf(args).localStack) return;
        const ssl = stringAt(() => args.props.sslRequired);
        if (typeof ssl === "string" && ssl.toLowerCase() === "none") {
            reportViolation(`sslRequired is "none": use "external" (or "all") outside the local stack`);
        }
    },
};

const ENDPOINTS = ["issuer", "authorizationUrl", "tokenUrl", "userInfoUrl", "jwksUrl", "logoutUrl"] as const;

function hostOf(url: string): string | undefined {
    try {
        return new URL(url).hostname;
    } catch {
        return undefined;
    }
}

/**
 * Whether an OIDC identity provider is the LS-AAI broker: its display name, or an endpoint on an
 * LS Login host. UNKNOWN when neither is known yet and nothing known says so.
 */
export function isLsAai(props: Props, cfg: PackConfig): boolean | Unknown {
    const displayName = stringAt(() => props.displayName);
    if (displayName === cfg.lsaaiDisplayName) return true;
    const urls = ENDPOINTS.map((k) => stringAt(() => props[k]));
    const hosts = new Set(cfg.lsaaiHosts.map((h) => h.toLowerCase()));
    if (urls.some((u) => typeof u === "string" && hosts.has(hostOf(u)?.toLowerCase() ?? ""))) return true;
    return displayName === UNKNOWN || urls.includes(UNKNOWN) ? UNKNOWN : false;
}

export const lsaaiIdentityProvider: ResourceValidationPolicy = {
    name: "lsaai-identity-provider",
    description:
        "The LS-AAI identity provider (display name LS_AAI or an LS Login endpoint) sends its client secret as " +
        "client_secret_basic, has backchannel logout on, validates signatures against the JWKS URL, and uses https " +
        "endpoints (http only with localStack). Settings unknown at preview are not judged.",
    enforcementLevel: "mandatory",
    configSchema: configSchema("localStack", "lsaaiDisplayName", "lsaaiHosts"),
    validateResource: (args, reportViolation) => {
        if (args.type !== TYPES.oidcIdentityProvider) return;
        const cfg = configOf(args);
        if (isLsAai(args.props, cfg) !== true) return;
        const p = args.props;
        if (fails(() => p.extraConfig?.clientAuthMethod === "client_secret_basic")) {
            reportViolation(`extraConfig.clientAuthMethod is not "client_secret_basic" (LS Login expects basic auth)`);
        }
        if (fails(() => p.backchannelSupported === true)) reportViolation("backchannelSupported is not true");
        if (fails(() => p.validateSignature === true)) reportViolation("validateSignature is not true");
        if (fails(() => typeof p.jwksUrl === "string" && p.jwksUrl !== "")) {
            reportViolation("jwksUrl is not set: signatures are validated against LS Login's JWKS");
        }
        for (const key of ENDPOINTS) {
            const url = stringAt(() => p[key]);
            if (typeof url !== "string" || url === "") continue;
            const protocol = url.slice(0, url.indexOf(":") + 1).toLowerCase();
            if (protocol === "https:" || (cfg.localStack && protocol === "http:")) continue;
            reportViolation(`${key} ${url} is not https`);
        }
    },
};

/** The identity providers of the stack that are the LS-AAI broker (known to be). */
function lsaaiProviders(resources: PolicyResource[], cfg: PackConfig): PolicyResource[] {
    return resources.filter((r) => r.type === TYPES.oidcIdentityProvider && isLsAai(r.props, cfg) === true);
}

/** Whether `r`'s `input` holds `targetValue`: UNKNOWN when either side is not known yet. */
function sameValue(r: PolicyResource, input: string, targetValue: unknown): boolean | Unknown {
    const mine = known(() => r.props[input]);
    if (mine === UNKNOWN || targetValue === UNKNOWN) return UNKNOWN;
    return mine !== undefined && mine === targetValue;
}

/** Whether a mapper belongs to the identity provider: its alias comes from it, or alias and realm match. */
function mapperOf(m: PolicyResource, idp: PolicyResource): boolean | Unknown {
    if ((m.propertyDependencies.identityProviderAlias ?? []).some((d) => d.urn === idp.urn)) return true;
    const checks = [
        sameValue(
            m,
            "identityProviderAlias",
            known(() => idp.props.alias),
        ),
        sameValue(
            m,
            "realm",
            known(() => idp.props.realm),
        ),
    ];
    if (checks.includes(false)) return false;
    return checks.includes(UNKNOWN) ? UNKNOWN : true;
}

export const ADMIN_ROLE = "core.ADMIN";

export const lsaaiAdminMapper: StackValidationPolicy = {
    name: "lsaai-admin-mapper",
    description:
        `Every LS-AAI identity provider has a hardcoded role mapper giving ${ADMIN_ROLE} with sync mode INHERIT ` +
        "(seed step B). Mappers are matched to providers by dependency or alias and realm; when a mapper's link, role " +
        "or sync mode is unknown at preview, the provider is not judged.",
    enforcementLevel: "mandatory",
    configSchema: configSchema("lsaaiDisplayName", "lsaaiHosts"),
    validateStack: (args, reportViolation) => {
        const cfg = configOf(args);
        const mappers = args.resources.filter((r) => r.type === TYPES.hardcodedRoleMapper);
        for (const idp of lsaaiProviders(args.resources, cfg)) {
            const verdicts = mappers.map((m) => {
                const role = known(() => m.props.role);
                const sync = known(() => m.props.extraConfig?.syncMode);
                const right =
                    role === UNKNOWN || sync === UNKNOWN ? UNKNOWN : role === ADMIN_ROLE && sync === "INHERIT";
                return { link: mapperOf(m, idp), right, role, sync };
            });
            if (verdicts.some((v) => v.link === true && v.right === true)) continue;
            if (verdicts.some((v) => v.link !== false && v.right !== false)) continue; // cannot judge yet
            const wrong = verdicts.filter((v) => v.link === true);
            const alias = stringAt(() => idp.props.alias);
            const name = typeof alias === "string" ? alias : idp.name;
            reportViolation(
                wrong.length
                    ? `identity provider ${name}: its hardcoded role mappers give ${wrong.map((v) => `${String(v.role)} (sync ${String(v.sync)})`).join(", ")}; one must give ${ADMIN_ROLE} with extraConfig.syncMode INHERIT`
                    : `identity provider ${name} has no hardcoded role mapper giving ${ADMIN_ROLE} with extraConfig.syncMode INHERIT`,
                idp.urn,
            );
        }
    },
};

export const lsaaiLoginRestriction: StackValidationPolicy = {
    name: "lsaai-login-restriction",
    description:
        "Outside the local stack, an LS-AAI broker restricts who may log in (a post-broker login flow, as " +
        "cytomine-fallback:lsaaiRestrict sets up); otherwise every LS-AAI user can log in and becomes ADMIN. Sees " +
        "that a flow is attached, not what it decides; an alias unknown at preview counts when it comes from a flow.",
    enforcementLevel: "advisory",
    configSchema: configSchema("localStack", "lsaaiDisplayName", "lsaaiHosts"),
    validateStack: (args, reportViolation) => {
        const cfg = configOf(args);
        if (cfg.localStack) return;
        for (const idp of lsaaiProviders(args.resources, cfg)) {
            if ((idp.propertyDependencies.postBrokerLoginFlowAlias ?? []).length > 0) continue;
            const flow = stringAt(() => idp.props.postBrokerLoginFlowAlias);
            if (flow === UNKNOWN || (typeof flow === "string" && flow !== "")) continue;
            const alias = stringAt(() => idp.props.alias);
            reportViolation(
                `identity provider ${typeof alias === "string" ? alias : idp.name} admits every LS-AAI user: set ` +
                    "cytomine-fallback:lsaaiRestrict with lsaaiAllowedEntitlements and/or lsaaiAllowedSubjects",
                idp.urn,
            );
        }
    },
};
