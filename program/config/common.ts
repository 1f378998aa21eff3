// Keys every stack has: the tenant, where its Cytomine runs, its public URL, and the switches that
// guard stateful resources.
import { z } from "zod";
import { RELEASE, RELEASE_TAGS } from "../../components/model/release";
import {
    DEFAULT_IMAGES,
    imageProblem,
    ImageKey,
    quantityProblem,
    reservedNamespaceProblem,
} from "../../components/model/settings";
import { SERVICE_COMPONENTS } from "../../components/model/services";
import { absoluteUrl, cpuQuantity, overrides, reportProblem } from "./checks";

/**
 * What is wrong with a registry server as `docker login` and a dockerconfigjson's `auths` take it: a
 * host name or address with an optional port, no scheme and no path (undefined when it is fine).
 */
export function registryServerProblem(server: string): string | undefined {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(server))
        return `no scheme: give the host as docker login takes it, e.g. ${server.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").replace(/\/.*$/, "") || "registry.cytomine.org"}`;
    if (server.includes("/"))
        return `a host[:port] without path, e.g. ${server.replace(/\/.*$/, "") || "registry.cytomine.org"} (the images name their repository themselves: images.<service>)`;
    const m =
        /^([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)(?::(\d{1,5}))?$/.exec(
            server,
        );
    if (!m || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535)))
        return "a registry host with an optional port (1-65535), e.g. registry.cytomine.org or mirror.example.org:5000";
    return undefined;
}

/**
 * Credentials for the registry the images come from (registry.cytomine.org, or a private mirror); the
 * password is the secret imageRegistryPassword.
 */
const imageRegistry = z.strictObject(
    {
        server: z.string().superRefine(reportProblem(registryServerProblem)),
        username: z
            .string()
            .min(1, "the user name the registry issued, e.g. robot$tenant")
            .regex(/^[^\s:]*$/, "no spaces or ':' (basic auth joins user:password with ':')"),
    },
    {
        error: (i) => {
            const unknown = (i as { code: string; keys?: string[] }).keys;
            return i.code === "unrecognized_keys" && unknown
                ? `unknown key(s) ${unknown.join(", ")}; the keys are server and username (the password is the secret imageRegistryPassword: pulumi config set --secret cytomine-fallback:imageRegistryPassword)`
                : undefined;
        },
    },
);

export const TARGETS = ["kubernetes", "aws", "ssh"] as const;
export type Target = (typeof TARGETS)[number];

/** A DNS-1123 label that leaves room for suffixes such as `-postgis-0` in derived names. */
const tenantName = z
    .string()
    .max(40, "at most 40 characters, so that derived names stay within Kubernetes' 63")
    .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, "lowercase letters, digits and '-', starting with a letter")
    .superRefine(reportProblem(reservedNamespaceProblem));

export const commonKeys = {
    tenant: tenantName,
    target: z.enum(TARGETS).default("kubernetes"),
    publicUrl: absoluteUrl("https://cytomine.example.org"),
    localStack: z.boolean().default(false),
    allowRealmReplacement: z.boolean().default(false),
    allowVolumeDeletion: z.boolean().default(false),
    /**
     * The Cytomine release (components/model/release.ts): its images are the defaults of images.<service>.
     * A change is an upgrade (or a downgrade): the preview says so, and on a VM `up` backs up first.
     */
    release: z
        .enum(RELEASE_TAGS, {
            error: () =>
                `one of the releases this stack describes, newest first: ${RELEASE_TAGS.join(", ")} (components/model/release.ts; docs/release.md)`,
        })
        .default(RELEASE.tag),
    /** The image of each service, on either target (defaults: the release's). */
    images: overrides(Object.keys(DEFAULT_IMAGES) as [ImageKey], imageProblem),
    imageRegistry: imageRegistry.optional(),
    /** CPU request and memory (request and limit) by component, on either target (defaults: components/model/). */
    resources: z
        .partialRecord(
            z.enum(SERVICE_COMPONENTS),
            z.strictObject({
                cpu: cpuQuantity.optional(),
                memory: z.string().superRefine(reportProblem(quantityProblem)).optional(),
            }),
            {
                // zod's issue type for records omits unrecognized_keys, which strict records do raise.
                error: (i) => {
                    const unknown = (i as { keys?: string[] }).keys;
                    return unknown
                        ? `unknown component(s) ${unknown.join(", ")}; the components are ${SERVICE_COMPONENTS.join(", ")}`
                        : undefined;
                },
            },
        )
        .default({}),
};
