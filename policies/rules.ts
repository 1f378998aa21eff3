// The pack's policies. Each validate function is plain so tests can call it with fake arguments.
import { ResourceValidationPolicy } from "@pulumi/policy";
import { imageProblem } from "../lib/rules/images";

type Props = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const workloadTypes = new Set([
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
]);

/** The pod spec of any workload kind, or undefined when it is not known yet (preview). */
export function podSpecOf(type: string, props: Props): Props | undefined {
    if (type === "kubernetes:batch/v1:CronJob") return props.spec?.jobTemplate?.spec?.template?.spec;
    return props.spec?.template?.spec;
}

export const pinnedImages: ResourceValidationPolicy = {
    name: "pinned-images",
    description: "Container images are pinned to a version tag or digest, never :latest or untagged.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (!workloadTypes.has(args.type)) return;
        const spec = podSpecOf(args.type, args.props);
        for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
            const problem = imageProblem(c?.image);
            if (problem) reportViolation(`container ${c.name}: ${problem}`);
        }
    },
};

export const namespacePodSecurity: ResourceValidationPolicy = {
    name: "namespace-pod-security",
    description: "Every namespace enforces Pod Security Admission at restricted or baseline.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== "kubernetes:core/v1:Namespace") return;
        const labels = args.props.metadata?.labels;
        if (labels === undefined)
            return reportViolation("namespace has no labels: set pod-security.kubernetes.io/enforce");
        const level = labels["pod-security.kubernetes.io/enforce"];
        if (level !== "restricted" && level !== "baseline") {
            reportViolation(
                `pod-security.kubernetes.io/enforce is ${JSON.stringify(level)}: use "restricted" (or "baseline" with a reason)`,
            );
        }
    },
};

export const realmProtected: ResourceValidationPolicy = {
    name: "keycloak-realm-protected",
    description: "Keycloak realms hold users and sessions: they are protected from deletion and replacement.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== "keycloak:index/realm:Realm") return;
        if (!args.opts.protect) reportViolation("realm is not protected: create it with { protect: true }");
        const name = args.props.realm;
        if (typeof name === "string" && name.length > 36) {
            reportViolation(`realm name "${name}" has ${name.length} characters; Keycloak allows at most 36`);
        }
    },
};

/** The input that names each kind of Keycloak object; without it the provider invents a name. */
export const keycloakNamingInputs: Record<string, string> = {
    "keycloak:index/realm:Realm": "realm",
    "keycloak:openid/client:Client": "clientId",
    "keycloak:index/role:Role": "name",
    "keycloak:index/user:User": "username",
    "keycloak:oidc/identityProvider:IdentityProvider": "alias",
    "keycloak:index/hardcodedRoleIdentityMapper:HardcodedRoleIdentityMapper": "name",
    "keycloak:index/customIdentityProviderMapping:CustomIdentityProviderMapping": "name",
    "keycloak:openid/userAttributeProtocolMapper:UserAttributeProtocolMapper": "name",
    "keycloak:openid/groupMembershipProtocolMapper:GroupMembershipProtocolMapper": "name",
    "keycloak:authentication/flow:Flow": "alias",
    "keycloak:authentication/subflow:Subflow": "alias",
};

export const keycloakExplicitNames: ResourceValidationPolicy = {
    name: "keycloak-explicit-names",
    description: "Keycloak objects carry explicit names; the provider would otherwise add random suffixes.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const input = keycloakNamingInputs[args.type];
        if (input === undefined) return;
        const value = args.props[input];
        // Names here are literals in code, known at preview; a missing one means autonaming.
        if (typeof value !== "string" || value.trim() === "") {
            reportViolation(`${input} is not set: give the object an explicit ${input}`);
        }
    },
};

export const policies: ResourceValidationPolicy[] = [
    pinnedImages,
    namespacePodSecurity,
    realmProtected,
    keycloakExplicitNames,
];
