// The stack's configuration, parsed once into typed objects. Every error names the config key and
// the fix, and is raised while the program runs in `pulumi preview`, before any resource exists.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";

export const PROJECT = "cytomine-fallback";

/** A DNS-1123 label that leaves room for suffixes such as `-postgis-0` in derived names. */
const tenantName = z
    .string()
    .max(40, "at most 40 characters, so that derived names stay within Kubernetes' 63")
    .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, "lowercase letters, digits and '-', starting with a letter");

export const targets = ["kubernetes", "aws", "ssh"] as const;
export type Target = (typeof targets)[number];

const rawConfig = z
    .object({
        tenant: tenantName,
        target: z.enum(targets).default("kubernetes"),
        publicUrl: z.string().url("an absolute URL such as https://cytomine.example.org"),
        localStack: z.boolean().default(false),
        renderDir: z.string().default(""),
    })
    .superRefine((c, ctx) => {
        const url = new URL(c.publicUrl);
        if (url.protocol !== "https:" && !(c.localStack && url.protocol === "http:")) {
            ctx.addIssue({
                code: "custom",
                path: ["publicUrl"],
                message: "must use https (http is allowed only with localStack: true, for the local environment)",
            });
        }
        if (url.pathname !== "/" || url.search || url.hash) {
            ctx.addIssue({
                code: "custom",
                path: ["publicUrl"],
                message: "must be the site root, without path, query or fragment (Cytomine serves /, /api, /ims, /iam)",
            });
        }
        if (c.renderDir && c.target !== "kubernetes") {
            ctx.addIssue({ code: "custom", path: ["renderDir"], message: "applies only to target kubernetes" });
        }
    });

export interface StackConfig {
    tenant: string;
    target: Target;
    /** Normalised: no trailing slash. */
    publicUrl: string;
    localStack: boolean;
    /** Empty when manifests are applied to a cluster. */
    renderDir: string;
}

/** A config error that names the key and how to fix it. */
export class ConfigError extends Error {
    constructor(readonly issues: string[]) {
        super(
            `invalid stack configuration:\n${issues.map((i) => `  - ${i}`).join("\n")}\n` +
                `Fix with: pulumi config set ${PROJECT}:<key> <value>`,
        );
        this.name = "ConfigError";
    }
}

/** Parses raw values (as read from Pulumi config) into a StackConfig, or throws ConfigError. */
export function parseConfig(raw: Record<string, unknown>): StackConfig {
    const result = rawConfig.safeParse(raw);
    if (!result.success) {
        throw new ConfigError(
            result.error.issues.map((i) => {
                const key = i.path.length ? `${PROJECT}:${i.path.join(".")}` : PROJECT;
                const given = i.path.length ? raw[String(i.path[0])] : undefined;
                const shown = given === undefined ? "is not set" : `= ${JSON.stringify(given)}`;
                return `${key} ${shown}: ${i.message}`;
            }),
        );
    }
    const c = result.data;
    return { ...c, publicUrl: c.publicUrl.replace(/\/+$/, "") };
}

/** Reads this project's config namespace and parses it. */
export function loadConfig(config = new pulumi.Config(PROJECT)): StackConfig {
    return parseConfig({
        tenant: config.get("tenant"),
        target: config.get("target"),
        publicUrl: config.get("publicUrl"),
        localStack: config.getBoolean("localStack"),
        renderDir: config.get("renderDir"),
    });
}
