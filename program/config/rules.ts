// Rules that involve more than one key. Each returns the key to blame and the fix. zod runs them
// even when single keys failed, so each is total: a value of the wrong type or shape is skipped here
// (its own check names it), never turned into an exception.
import { domainProblem, isLocalHost } from "../../components/model/settings";
import { RELEASE, RELEASE_IMAGES, RELEASE_TAGS, releaseImageProblem, SIGN_IN } from "../../components/model/release";
import { parseUrl } from "./checks";
import { mlIssues } from "./ml";
import type { ConfigKey, RawConfig } from "./index";

export interface KeyIssue {
    key: ConfigKey;
    message: string;
    /** The path below the key, for a nested value (images.core). */
    sub?: string[];
}

export function crossFieldIssues(c: RawConfig): KeyIssue[] {
    return [
        ...publicUrlIssues(c),
        ...keycloakIssues(c),
        ...releaseIssues(c),
        ...kubernetesIssues(c),
        ...lsaaiIssues(c),
        ...vmIssues(c),
        ...mlIssues(c.ml, c.target, c.namespace ?? c.tenant).map(([sub, message]) => ({
            key: "ml" as const,
            sub,
            message,
        })),
    ];
}

/**
 * What the chosen Cytomine release cannot work with (components/model/release.ts): images of another
 * release, and a Keycloak its core and web UI would not find. The web UI signs in only through the realm
 * `cytomine` (web-ui/src/keycloak.js:18); a tenant with its own Keycloak has no reason to name it
 * otherwise. A shared external Keycloak can hold one such realm: the program warns instead (program/main.ts).
 */
function releaseIssues(c: RawConfig): KeyIssue[] {
    const issues: KeyIssue[] = [];
    // A release the stack does not know is named by its own key; the images are judged against the pinned one.
    const release = RELEASE_TAGS.find((t) => t === c.release) ?? RELEASE.tag;
    for (const [key, image] of Object.entries(c.images ?? {})) {
        if (typeof image !== "string" || !(key in RELEASE_IMAGES)) continue;
        const problem = releaseImageProblem(key as keyof typeof RELEASE_IMAGES, image, release);
        if (problem) issues.push({ key: "images", sub: [key], message: problem });
    }
    for (const key of ["keycloakUrl", "keycloakInternalUrl"] as const) {
        const url = parseUrl(c[key]);
        if (c.keycloakMode === "external" && url && url.pathname.replace(/\/+$/, "") !== SIGN_IN.keycloakPath)
            issues.push({
                key,
                message:
                    `Cytomine's core finds its realm's keys and issuer under <origin>${SIGN_IN.keycloakPath} ` +
                    `(${SIGN_IN.source}): serve Keycloak with KC_HTTP_RELATIVE_PATH=${SIGN_IN.keycloakPath} and give its URL ending in ${SIGN_IN.keycloakPath}`,
            });
    }
    if (c.keycloakInternalUrl && c.keycloakMode !== "external")
        issues.push({
            key: "keycloakInternalUrl",
            message:
                "applies only to keycloakMode external (a Keycloak of the tenant's own is reached by its service name): unset it",
        });
    if (c.keycloakMode === "namespace" && c.realm !== SIGN_IN.realm)
        issues.push({
            key: "realm",
            message: `Cytomine's web UI signs in only through the realm "${SIGN_IN.realm}" (${SIGN_IN.source}): unset realm (the tenant has its own Keycloak)`,
        });
    return issues;
}

function publicUrlIssues(c: RawConfig): KeyIssue[] {
    const url = parseUrl(c.publicUrl);
    if (!url) return [];
    const issues: string[] = [];
    if (url.protocol !== "https:" && !(c.localStack && url.protocol === "http:"))
        issues.push("must use https (http is allowed only with localStack: true, for the local environment)");
    if (url.pathname !== "/" || url.search || url.hash)
        issues.push("must be the site root, without path, query or fragment (Cytomine serves /, /api, /ims, /iam)");
    const host = url.hostname;
    const hostProblem = isLocalHost(host)
        ? c.localStack
            ? undefined
            : `host "${host}" is an address: use the tenant's domain name (addresses only with localStack: true)`
        : domainProblem(host);
    if (hostProblem) issues.push(hostProblem);
    return issues.map((message) => ({ key: "publicUrl", message }));
}

function keycloakIssues(c: RawConfig): KeyIssue[] {
    const issues: KeyIssue[] = [];
    const site = parseUrl(c.publicUrl);
    const keycloak = parseUrl(c.keycloakUrl);
    if (c.keycloakMode === "external" && !c.keycloakUrl)
        issues.push({
            key: "keycloakUrl",
            message: "is required with keycloakMode external (or set keycloakMode to namespace to deploy Keycloak)",
        });
    if (
        c.keycloakMode === "namespace" &&
        site &&
        c.keycloakUrl &&
        c.keycloakUrl.replace(/\/+$/, "") !== `${site.origin}/iam`
    )
        issues.push({
            key: "keycloakUrl",
            message: `with keycloakMode namespace Keycloak is served at ${site.origin}/iam: unset keycloakUrl`,
        });
    if (keycloak && keycloak.protocol !== "https:" && !c.localStack)
        issues.push({ key: "keycloakUrl", message: "must use https outside the local stack" });
    // The user page's sign-in returns an authorization code to this URL: never in clear text.
    const portal = parseUrl(c.portalUrl);
    if (portal && portal.protocol !== "https:" && !c.localStack)
        issues.push({ key: "portalUrl", message: "must use https outside the local stack" });
    return issues;
}

function kubernetesIssues(c: RawConfig): KeyIssue[] {
    const issues: KeyIssue[] = [];
    if (c.routing === "httproute" && !c.gateway)
        issues.push({
            key: "gateway",
            message: "is required with routing httproute: the <namespace>/<name> of the Gateway the route attaches to",
        });
    if (c.renderDir && c.keycloakMode === "namespace")
        issues.push({
            key: "renderDir",
            message:
                "cannot be used with keycloakMode namespace: the realm is applied to that Keycloak, which a rendered stack never starts; render with keycloakMode external",
        });
    if (c.renderDir && c.target !== "kubernetes")
        issues.push({ key: "renderDir", message: "applies only to target kubernetes" });
    return issues;
}

function lsaaiIssues(c: RawConfig): KeyIssue[] {
    const issues: KeyIssue[] = [];
    if (
        c.lsaaiRestrict &&
        [c.lsaaiAllowedEntitlements, c.lsaaiAllowedSubjects].every((l) => !Array.isArray(l) || l.length === 0)
    )
        issues.push({
            key: "lsaaiRestrict",
            message:
                "is true but nobody is allowed: set lsaaiAllowedEntitlements and/or lsaaiAllowedSubjects (lists), or set lsaaiRestrict to false",
        });
    if (c.orthanc && c.orthancRealm === c.realm)
        issues.push({ key: "orthancRealm", message: `must differ from realm ("${c.realm}")` });
    return issues;
}

function vmIssues(c: RawConfig): KeyIssue[] {
    const issues: KeyIssue[] = [];
    const vm = (c.vm ?? {}) as Partial<RawConfig["vm"]>;
    if (c.target === "ssh" && !vm.host)
        issues.push({ key: "vm", message: "vm.host is required with target ssh: the host's address or DNS name" });
    if (c.target === "aws" && !vm.hostKey)
        issues.push({
            key: "vm",
            message:
                "vm.hostKey is required with target aws: generate a host key (ssh-keygen -t ed25519 -N '' -f host), set vm.hostKey to host.pub's content and the secret vmHostPrivateKey to host's",
        });
    if (c.target === "ssh" && !vm.hostKey && !c.localStack)
        issues.push({
            key: "vm",
            message:
                "vm.hostKey is required with target ssh outside the local stack: pin the host's key (`ssh-keyscan -t ed25519 <host>`, the part after the host name) so that no other host receives the configuration",
        });
    if (c.target === "aws" && !c.aws)
        issues.push({ key: "aws", message: "is required with target aws: at least region and adminCidrs" });
    if (c.target === "aws" && vm.host)
        issues.push({ key: "vm", message: "vm.host is set by the stack with target aws (its Elastic IP): unset it" });
    return issues;
}
