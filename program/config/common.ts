// Keys every stack has: the tenant, where its Cytomine runs, its public URL, and the switches that
// guard stateful resources.
import { z } from "zod";
import { reservedNamespaceProblem } from "../../components/cytomine/settings";
import { absoluteUrl, reportProblem } from "./checks";

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
};
