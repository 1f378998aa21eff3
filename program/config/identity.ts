// Keys of the identity part: the Keycloak the realms live in, Cytomine's realm, the LS-AAI broker
// and the Orthanc share realm.
import { z } from "zod";
import { oidcEndpointsSchema } from "../../components/identity/endpoints";
import { KEYCLOAK_MODES } from "../../components/model/services";
import { absoluteUrl, parseUrl, reportProblem, stringList } from "./checks";

/** Keycloak realm names: at most 36 characters (Keycloak's limit), no spaces or slashes. */
const realmName = z
    .string()
    .max(36, "at most 36 characters (Keycloak's limit for realm names)")
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, '.', '_' and '-', starting with a letter or digit");

export const identityKeys = {
    keycloakMode: z.enum(KEYCLOAK_MODES).default("external"),
    keycloakUrl: absoluteUrl("https://cytomine.example.org/iam").optional(),
    keycloakInternalUrl: absoluteUrl("http://keycloak.internal:8080/iam").optional(),
    keycloakAdminUser: z.string().min(1).default("admin"),
    realm: realmName.default("cytomine"),
    lsaaiClientId: z.string().min(1, "the client id registered with LS Login"),
    lsaaiAlias: z
        .string()
        .regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]*$/, "letters, digits, '.', '_' and '-' (it becomes part of a URL)")
        .default("oidc"),
    lsaaiScopes: z.string().min(1).default("openid profile email"),
    lsaaiEndpoints: oidcEndpointsSchema.optional(),
    // Keycloak's Admin API masks an identity provider's client secret, so refresh cannot see it changed
    // by hand; bumping this makes the next `up` send it again.
    secretsRevision: z
        .string()
        .regex(/^(0|[1-9][0-9]{0,8})$/, "a whole number, 0 or more (bump it by one to re-send the secrets)")
        .default("0"),
    lsaaiRestrict: z.boolean().default(false),
    lsaaiAllowedEntitlements: stringList,
    lsaaiAllowedSubjects: stringList,
    orthanc: z.boolean().default(true),
    orthancRealm: realmName.default("orthanc"),
    // The user page (apps/portal): its public URL, from which its client's redirect URIs derive. Unset:
    // no client for it.
    portalUrl: absoluteUrl("https://cytomine.example.org/portal")
        .superRefine(
            reportProblem((v) => {
                const url = parseUrl(v);
                return url && (!/^https?:$/.test(url.protocol) || url.search || url.hash)
                    ? "an http(s) URL without query or fragment, e.g. https://portal.cytomine.example.org"
                    : undefined;
            }),
        )
        .optional(),
};

/** Secret keys: read with requireSecret, so their values never pass through plaintext code paths. */
export const SECRET_KEYS = [
    "keycloakAdminPassword",
    "lsaaiClientSecret",
    "vmPrivateKey",
    "vmHostPrivateKey",
    "imageRegistryPassword",
    "backupS3SecretAccessKey",
    "backupKey",
] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];

/**
 * Secrets a stack must have: the LS-AAI client secret always; an external Keycloak's admin password
 * (one the stack deploys gets a generated one); the SSH private key for a VM target; the host key the
 * stack installs on an EC2 instance it creates; the image registry's password with imageRegistry; the
 * backup bucket's secret key with an s3: backups.repository.
 */
export function requiredSecrets(raw: Record<string, unknown>): SecretKey[] {
    const target = raw.target ?? "kubernetes";
    return [
        ...(raw.keycloakMode === "namespace" ? [] : (["keycloakAdminPassword"] as const)),
        "lsaaiClientSecret",
        ...(target === "ssh" || target === "aws" ? (["vmPrivateKey"] as const) : []),
        ...(target === "aws" ? (["vmHostPrivateKey"] as const) : []),
        ...(raw.imageRegistry !== undefined ? (["imageRegistryPassword"] as const) : []),
        ...(String((raw.backups as { repository?: unknown } | undefined)?.repository ?? "").startsWith("s3:") &&
        (raw.backups as { enabled?: unknown }).enabled !== false
            ? (["backupS3SecretAccessKey"] as const)
            : []),
    ];
}
