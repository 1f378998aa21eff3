// `npm run render` (cli/render.ts): exactly what would be applied for a tenant made from a template,
// as files for review in a pull request's CI. The template is merged with the --set values and
// checked by apps/fleet's planTenant, as `tenant new` does; the program (program/main.ts) then runs
// offline under mocks (capture.ts), and the files are derived from the resources it declared:
// Kubernetes objects (kubernetes.ts), the files written to a VM (vm.ts), Keycloak realms (keycloak.ts).
// No secret value is needed or shown: secrets are placeholders naming them.
import { contractReport } from "./contract";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { configGetter, FLEET_SECRET_KEYS, FleetInputError, planTenant, type TenantPlan } from "../fleet/plan";
import { TEMPLATES_DIR } from "../fleet/templates";
import { repoRoot } from "../../toolchain/index";
import { PROJECT } from "../../program/config";
import { requiredSecrets } from "../../program/config/identity";
import { type Capture, captureProgram, PLACEHOLDER, secretPlaceholder } from "./capture";
import { keycloakFiles } from "./keycloak";
import { kubernetesFiles } from "./kubernetes";
import { vmFiles } from "./vm";

export { PLACEHOLDER } from "./capture";

/** The tenant a render is made for when --tenant is not given. */
export const DEFAULT_TENANT = "example";

/** What the organization of a file:// backend is called (stack owners, e.g. the namespace's annotation, include it). */
const ORGANIZATION = "organization";

export interface RenderInput {
    template: string;
    /** `key=value`, as `tenant new --set` takes them. */
    set?: readonly string[];
    tenant?: string;
    templatesDir?: string;
}

export interface Rendered {
    plan: TenantPlan;
    /** The secret config keys the tenant's stack would hold (each a placeholder here). */
    secrets: string[];
    capture: Capture;
    /** Path relative to the output folder → content (README.md included). */
    files: Record<string, string>;
}

/** Input that cannot make a tenant (exit code 2): every issue names the key or flag and the fix. */
export class RenderInputError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "RenderInputError";
    }
}

/** The tenant's plan, as `tenant new` makes it, with a placeholder for every secret. */
export function planRender(input: RenderInput): { plan: TenantPlan; secrets: string[] } {
    const placeholders = Object.fromEntries(FLEET_SECRET_KEYS.map((k) => [k, secretPlaceholder(k)]));
    let plan: TenantPlan;
    try {
        plan = planTenant(
            { name: input.tenant ?? DEFAULT_TENANT, template: input.template, set: input.set, secrets: placeholders },
            input.templatesDir ?? TEMPLATES_DIR,
        );
    } catch (e) {
        if (e instanceof FleetInputError) throw new RenderInputError(e.message);
        throw e;
    }
    // Exactly the secrets such a stack holds: one more (e.g. keycloakAdminPassword with a Keycloak of
    // the tenant's own) would change what the program declares.
    const secrets: string[] = [
        ...requiredSecrets(plan.config),
        ...(plan.parsed.datasets.list.some((d) => d.source === "sdafs") ? ["sdafsCredentials"] : []),
    ];
    return { plan, secrets };
}

/** Renders a tenant from a template; writes nothing. */
export async function renderTenant(input: RenderInput): Promise<Rendered> {
    const { plan, secrets } = planRender(input);
    const get = configGetter(plan.config);
    const config = Object.fromEntries(
        Object.keys(plan.config).flatMap((k) => {
            const v = get(k);
            return v === undefined ? [] : [[k, v]];
        }),
    );
    let capture: Capture;
    try {
        capture = await captureProgram({
            project: PROJECT,
            stack: plan.tenant,
            organization: ORGANIZATION,
            config,
            secrets,
        });
    } catch (e) {
        // The program's own refusal of the config (program/config: ConfigError) is bad input too.
        const message = (e as Error).message ?? String(e);
        if (/^invalid stack configuration/.test(message)) throw new RenderInputError(message);
        throw e;
    }
    const { target } = plan.parsed;
    const files: Record<string, string> = {
        ...(target === "kubernetes" ? kubernetesFiles(capture.resources) : {}),
        ...(target === "ssh" || target === "aws"
            ? vmFiles(capture.resources, `${plan.parsed.vm.configDir}/${plan.tenant}`)
            : {}),
        ...keycloakFiles(capture),
    };
    files["release-contract.md"] = contractReport(files);
    files["README.md"] = readme(input, plan, secrets, files);
    return { plan, secrets, capture, files };
}

/** The program's commit, and whether the working tree differs from it. */
export function programCommit(cwd = repoRoot): string {
    try {
        const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd, encoding: "utf8", stdio: "pipe" }).trim();
        const dirty = execFileSync("git", ["status", "--porcelain"], { cwd, encoding: "utf8", stdio: "pipe" }).trim();
        return dirty ? `${head} (with uncommitted changes)` : head;
    } catch {
        return "unknown (not a git checkout)";
    }
}

const README_TITLE = "# Render of a Cytomine Fallback tenant";

function describeFile(file: string): string {
    if (file.startsWith("kubernetes/"))
        return "a Kubernetes object as the program declares it (the inputs pulumi-kubernetes sends the API server)";
    if (file === "vm/compose.yaml") return "the compose file written to the host";
    if (file === "vm/nginx.conf") return "the proxy's nginx.conf written to the host";
    if (file.startsWith("vm/env/")) return "a service's env file written to the host (mode 0600)";
    if (file.startsWith("vm/")) return "a file written to the host";
    if (file === "README.md") return "this file";
    if (file === "release-contract.md") return "every item of the pinned release's contract, judged on these files";
    if (file.startsWith("keycloak/"))
        return "a Keycloak realm as a RealmRepresentation (the @pulumi/keycloak resources' inputs)";
    return "";
}

/** The placeholders the files hold, sorted. */
export function placeholdersIn(files: Record<string, string>): string[] {
    return [...new Set(Object.values(files).flatMap((text) => text.match(PLACEHOLDER) ?? []))].sort();
}

function readme(input: RenderInput, plan: TenantPlan, secrets: string[], files: Record<string, string>): string {
    const set = input.set ?? [];
    return [
        README_TITLE,
        "",
        "Written by `npm run render` (cli/render.ts, apps/render/): exactly what the program",
        "(program/main.ts) would apply for a new tenant made from this template, rendered offline under",
        "Pulumi's mocks. Nothing was read from a cluster, an SSH host or Keycloak; the live state is assumed",
        "empty (a first `pulumi up`). Rendering again overwrites this folder's render.",
        "",
        `- template: \`${plan.template}\``,
        `- tenant (stack): \`${plan.tenant}\``,
        `- --set: ${set.length ? set.map((s) => `\`${s}\``).join(", ") : "(none)"}`,
        `- target: \`${plan.parsed.target}\``,
        `- program commit: ${programCommit()}`,
        "",
        "## Secrets are placeholders",
        "",
        "No value in these files is a secret. A secret config value appears as `<secret:KEY>` (the stack's",
        "config key) and a generated one as `<generated:RESOURCE>` (the @pulumi/random resource that makes",
        "it). The secrets of this tenant's stack: " + (secrets.map((s) => `\`${s}\``).join(", ") || "none") + ".",
        `Placeholders in these files: ${
            placeholdersIn(files)
                .map((p) => `\`${p}\``)
                .join(", ") || "none"
        }.`,
        "",
        "## Files",
        "",
        "| file | what |",
        "| ---- | ---- |",
        ...[...Object.keys(files), "README.md"].sort().map((f) => `| \`${f}\` | ${describeFile(f)} |`),
        "",
    ].join("\n");
}

/** The entries of `dir` a render owns: removed before a new render is written. */
const OWNED = ["kubernetes", "vm", "keycloak", "release-contract.md", "README.md"];

/**
 * Writes the render into `dir`, replacing a previous render there (its kubernetes/, vm/, keycloak/
 * and README.md). A folder holding another README.md is refused: it is not a render's.
 */
export function writeRender(dir: string, files: Record<string, string>): string[] {
    const readmeFile = path.join(dir, "README.md");
    if (fs.existsSync(readmeFile) && !fs.readFileSync(readmeFile, "utf8").startsWith(README_TITLE))
        throw new RenderInputError(
            `--out ${dir}: holds a README.md that is not a render's; give an empty folder or a previous render's`,
        );
    for (const entry of OWNED) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
    const written: string[] = [];
    for (const [file, content] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
        const target = path.join(dir, file);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, content);
        written.push(file);
    }
    return written;
}
