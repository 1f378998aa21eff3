// The user page's configuration: one YAML file (`--config <file>` or PORTAL_CONFIG), checked by a zod
// schema; every error names the key and the fix. Secrets never sit in the file: the client secret
// comes from PORTAL_CLIENT_SECRET or a file named by `oidc.clientSecretFile`, the database password
// from the URL's environment (PGPASSWORD), the tenants' secrets as the tenant CLI reads them
// (apps/fleet SECRET_SOURCES: a file per template, else the environment).
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { z } from "zod";
import { DEFAULT_FLEET_DIR, FLEET_SECRET_KEYS, type FleetSecretKey, PROGRAMS_MODES } from "../fleet";
import { repoRoot } from "../../toolchain/index";

/** `key=value` as the tenant CLI's --set takes it. */
const setEntry = z.string().regex(/^[A-Za-z][\w.[\]]*=/, "write key=value, e.g. storage.images=10Gi");

const templateChoice = z.strictObject({
    /** What the user reads on the Launch page. */
    label: z.string().min(1),
    /** The operator's fixed values for every tenant of this template (--set entries). */
    set: z.array(setEntry).default([]),
    /** Sizes the user picks from, each a list of --set entries (e.g. storage sizes). */
    sizes: z
        .record(z.string().regex(/^[a-z][a-z0-9-]*$/, "a lowercase word"), z.array(setEntry))
        .refine((s) => Object.keys(s).length > 0, "give at least one size, e.g. small: [storage.images=10Gi]"),
    /** Datasets the user may add, by id: entries of the program's datasets.list. */
    datasets: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
    /**
     * The --set entries that give a tenant machine-learning assistance when the user ticks it (the key
     * ml: e.g. ml.enabled=true, ml.weights=/srv/cytomine-weights); unset: the page does not offer it.
     */
    ml: z.array(setEntry).min(1, "give the ml entries, e.g. [ml.enabled=true, ml.weights=/srv/weights]").optional(),
    /** Files holding the secrets the template's tenants need (else the environment, as the tenant CLI reads it). */
    secretFiles: z
        .partialRecord(z.enum(FLEET_SECRET_KEYS as [FleetSecretKey, ...FleetSecretKey[]]), z.string())
        .default({}),
});

const loopback = (host: string) => host === "127.0.0.1" || host === "::1" || host === "localhost";

export const portalSchema = z
    .strictObject({
        listen: z
            .strictObject({
                host: z.string().min(1).default("127.0.0.1"),
                port: z.number().int().min(0).max(65535).default(8090),
            })
            .default({ host: "127.0.0.1", port: 8090 }),
        /** The page's public URL: the stack's portalUrl, from which the client's redirect URI derives. */
        publicUrl: z.url({ protocol: /^https?$/, error: "an http(s) URL, e.g. https://portal.cytomine.example.org" }),
        oidc: z.strictObject({
            /** The cytomine realm's issuer, e.g. https://cytomine.example.org/iam/realms/cytomine (stack output portalClient.issuer). */
            issuer: z.url({ error: "the realm's issuer URL, e.g. https://cytomine.example.org/iam/realms/cytomine" }),
            clientId: z.string().min(1).default("portal"),
            clientSecretFile: z.string().optional(),
            /** The ID-token claim holding the user's realm roles (components/identity/portal.ts). */
            rolesClaim: z.string().default("portal_roles"),
            operatorRole: z.string().default("operator"),
            /** Keycloak's `kc_idp_hint`: send users straight to LS Login (the broker's alias). Unset: Keycloak's page. */
            idpHint: z.string().optional(),
        }),
        database: z
            .discriminatedUnion("kind", [
                z.strictObject({ kind: z.literal("sqlite"), file: z.string().min(1) }),
                z.strictObject({
                    kind: z.literal("postgres"),
                    /** postgres://user@host:port/db; the password comes from PGPASSWORD, never from this file. */
                    url: z
                        .string()
                        .regex(/^postgres(ql)?:\/\//, "a postgres:// URL")
                        .refine((u) => !/:\/\/[^/@]*:[^/@]*@/.test(u), {
                            message: "holds a password: remove it and set PGPASSWORD in the environment",
                        }),
                }),
            ])
            .default({ kind: "sqlite", file: path.join(repoRoot, ".local", "portal", "portal.db") }),
        fleet: z
            .strictObject({
                dir: z.string().default(DEFAULT_FLEET_DIR),
                /** Jobs at once (each a Pulumi operation). */
                parallel: z.number().int().min(1).max(16).default(2),
                /** Extra environment for the program (e.g. KUBECONFIG). */
                env: z.record(z.string(), z.string()).default({}),
                /** Where the tenants' programs run: in the page's process, or each in its own (FleetOptions). */
                programs: z.enum(PROGRAMS_MODES).default("inline"),
            })
            .default({ dir: DEFAULT_FLEET_DIR, parallel: 2, env: {}, programs: "inline" }),
        /** Instances a user may hold at once (not deleted). */
        quota: z.number().int().min(0).default(1),
        launchLimit: z
            .strictObject({ max: z.number().int().min(1), perMinutes: z.number().positive() })
            .default({ max: 3, perMinutes: 60 }),
        session: z
            .strictObject({ idleMinutes: z.number().positive(), absoluteHours: z.number().positive() })
            .default({ idleMinutes: 30, absoluteHours: 10 }),
        /** Attempts of a job interrupted by a restart before it is marked failed. */
        maxAttempts: z.number().int().min(1).default(2),
        templates: z
            .record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "a template name from templates/"), templateChoice)
            .refine((t) => Object.keys(t).length > 0, "allow at least one template, e.g. kubernetes"),
    })
    .superRefine((c, ctx) => {
        if (!loopback(c.listen.host) && new URL(c.publicUrl).protocol !== "https:")
            ctx.addIssue({
                code: "custom",
                path: ["publicUrl"],
                message: "must be https when listen.host is not a loopback address (cookies are Secure only on https)",
            });
    });

export type PortalConfig = z.infer<typeof portalSchema> & { oidc: { clientSecret: string } };
export type TemplateChoice = z.infer<typeof templateChoice>;

export class PortalConfigError extends Error {
    constructor(
        readonly source: string,
        readonly issues: string[],
    ) {
        super(`portal config ${source}:\n${issues.map((i) => `  - ${i}`).join("\n")}`);
        this.name = "PortalConfigError";
    }
}

/** Parses a config object (as read from YAML); `env` supplies the client secret. */
export function parsePortalConfig(doc: unknown, source: string, env: NodeJS.ProcessEnv = process.env): PortalConfig {
    const result = portalSchema.safeParse(doc ?? {});
    if (!result.success)
        throw new PortalConfigError(
            source,
            result.error.issues.map((i) => `${i.path.map(String).join(".") || "(file)"}: ${i.message}`),
        );
    const c = result.data;
    let clientSecret = env.PORTAL_CLIENT_SECRET;
    if (c.oidc.clientSecretFile) {
        try {
            clientSecret = fs.readFileSync(c.oidc.clientSecretFile, "utf8").trim();
        } catch (e) {
            throw new PortalConfigError(source, [
                `oidc.clientSecretFile: cannot read ${c.oidc.clientSecretFile} (${(e as NodeJS.ErrnoException).code}): write the stack output portalClient.clientSecret there`,
            ]);
        }
    }
    if (!clientSecret)
        throw new PortalConfigError(source, [
            "oidc.clientSecretFile: not set and PORTAL_CLIENT_SECRET is empty: give the stack output portalClient.clientSecret through one of them",
        ]);
    return { ...c, oidc: { ...c.oidc, clientSecret } };
}

/** Reads the config file named by `file`, else PORTAL_CONFIG. */
export function loadPortalConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): PortalConfig {
    const name = file ?? env.PORTAL_CONFIG;
    if (!name)
        throw new PortalConfigError("(none)", [
            "no config file: pass --config <file> or set PORTAL_CONFIG (see apps/portal/config.ts)",
        ]);
    let doc: unknown;
    try {
        doc = YAML.parse(fs.readFileSync(name, "utf8"));
    } catch (e) {
        throw new PortalConfigError(name, [`(file): ${(e as Error).message.split("\n")[0]}`]);
    }
    return parsePortalConfig(doc, name, env);
}
