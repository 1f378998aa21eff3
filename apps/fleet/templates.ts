// Tenant templates (templates/<name>.yaml): the choices an operator makes for a kind of tenant. The
// file's own shape is checked here; its `config` is the program's config, checked by the program's
// schema when a tenant is planned (plan.ts).
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { z } from "zod";
import { repoRoot } from "../../toolchain/index";

export const TEMPLATES_DIR = path.join(repoRoot, "templates");

/** The placeholder replaced by the tenant name in template values and --set values. */
export const TENANT_PLACEHOLDER = "{tenant}";

const templateSchema = z.strictObject({
    description: z.string().min(1),
    /** Keys no default fits, with what they are and an example: given with --set at creation. */
    ask: z
        .record(z.string(), z.strictObject({ description: z.string().min(1), example: z.string().min(1) }))
        .default({}),
    /** Program config keys (without the project prefix), datasets included. */
    config: z.record(z.string(), z.unknown()),
});

export interface Template extends z.infer<typeof templateSchema> {
    name: string;
    file: string;
}

export class TemplateError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "TemplateError";
    }
}

/** The template names found in `dir`. */
export function templateNames(dir = TEMPLATES_DIR): string[] {
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir)
        .filter((f) => f.endsWith(".yaml"))
        .map((f) => f.slice(0, -".yaml".length))
        .sort();
}

/** Reads and checks the shape of template `name` (a name from `dir`, never a path). */
export function loadTemplate(name: string, dir = TEMPLATES_DIR): Template {
    const names = templateNames(dir);
    if (!/^[a-z0-9][a-z0-9-]*$/.test(name) || !names.includes(name))
        throw new TemplateError(
            `unknown template "${name}": the templates are ${names.join(", ") || "(none)"} (files in ${dir})`,
        );
    const file = path.join(dir, `${name}.yaml`);
    let doc: unknown;
    try {
        doc = YAML.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new TemplateError(`template ${file} is not valid YAML: ${(e as Error).message}`);
    }
    const parsed = templateSchema.safeParse(doc);
    if (!parsed.success)
        throw new TemplateError(
            `template ${file}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(file)"}: ${i.message}`).join("; ")}`,
        );
    return { ...parsed.data, name, file };
}

/** Replaces the tenant placeholder in every string of a value. */
export function substitute<T>(value: T, tenant: string): T {
    if (typeof value === "string") return value.split(TENANT_PLACEHOLDER).join(tenant) as T;
    if (Array.isArray(value)) return value.map((v) => substitute(v, tenant)) as T;
    if (value && typeof value === "object")
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, tenant)])) as T;
    return value;
}
