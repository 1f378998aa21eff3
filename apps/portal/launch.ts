// A launch as the user chose it (template, size, datasets) turned into a fleet tenant: only choices the
// operator's config offers, the tenant name the page derived, and then the program's own schema
// (apps/fleet planTenant) over the result. Nothing is created here.
import { FleetInputError, loadTemplate, planTenant, readSecrets, type TenantInput, type TenantPlan } from "../fleet";
import type { PortalConfig } from "./config";

export interface LaunchChoice {
    template: unknown;
    size: unknown;
    /** Dataset ids (a form sends one string or several). */
    datasets: unknown;
    /** The tenant name the Launch page showed. */
    tenant: unknown;
    /** "on" when the user ticked machine-learning assistance (a form leaves an unticked box out). */
    ml?: unknown;
}

export class LaunchRefused extends Error {
    constructor(readonly issues: string[]) {
        super(issues.join("; "));
        this.name = "LaunchRefused";
    }
}

export interface PlannedLaunch {
    input: TenantInput;
    plan: TenantPlan;
    size: string;
    datasets: string[];
    ml: boolean;
}

const list = (v: unknown): unknown[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The offered templates with their descriptions (templates the config names but templates/ lacks are left out). */
export function offeredTemplates(config: PortalConfig, templatesDir?: string) {
    return Object.entries(config.templates).flatMap(([name, choice]) => {
        try {
            return [{ name, choice, template: loadTemplate(name, templatesDir) }];
        } catch {
            return [];
        }
    });
}

export function planLaunch(
    config: PortalConfig,
    choice: LaunchChoice,
    expectedTenant: string,
    opts: { templatesDir?: string; env?: NodeJS.ProcessEnv } = {},
): PlannedLaunch {
    const issues: string[] = [];
    const template = typeof choice.template === "string" ? choice.template : "";
    const offered = Object.prototype.hasOwnProperty.call(config.templates, template)
        ? config.templates[template]
        : undefined;
    if (!offered)
        throw new LaunchRefused([
            `template ${JSON.stringify(choice.template)} is not offered: choose one of ${Object.keys(config.templates).join(", ")}`,
        ]);
    const size = typeof choice.size === "string" ? choice.size : "";
    if (!Object.prototype.hasOwnProperty.call(offered.sizes, size))
        issues.push(
            `size ${JSON.stringify(choice.size)} is not offered for ${template}: choose one of ${Object.keys(offered.sizes).join(", ")}`,
        );
    const datasets = list(choice.datasets);
    for (const d of datasets)
        if (typeof d !== "string" || !Object.prototype.hasOwnProperty.call(offered.datasets, d))
            issues.push(
                `dataset ${JSON.stringify(d)} is not offered for ${template}: choose among ${Object.keys(offered.datasets).join(", ") || "(none)"}`,
            );
    if (choice.tenant !== expectedTenant)
        issues.push(
            `tenant name ${JSON.stringify(choice.tenant)} is not the one derived for you (${expectedTenant}): reload the Launch page`,
        );
    if (new Set(datasets).size !== datasets.length) issues.push("a dataset is listed twice: choose each once");
    const ml = choice.ml !== undefined;
    if (ml && (choice.ml !== "on" || !offered.ml))
        issues.push(`machine-learning assistance is not offered for ${template}: untick it`);
    if (issues.length > 0) throw new LaunchRefused(issues);

    const ids = datasets as string[];
    const set = [
        ...offered.set,
        ...offered.sizes[size],
        ...(ids.length > 0
            ? [`datasets.list=${JSON.stringify(ids.map((id) => ({ ...offered.datasets[id], id })))}`]
            : []),
        ...(ml ? (offered.ml ?? []) : []),
    ];
    const input: TenantInput = { name: expectedTenant, template, set };
    try {
        const secrets = readSecrets(offered.secretFiles, opts.env ?? process.env);
        const plan = planTenant({ ...input, secrets }, opts.templatesDir);
        return { input, plan, size, datasets: ids, ml };
    } catch (e) {
        // The operator's config makes tenants the program refuses: the user cannot fix it, the message says who can.
        if (e instanceof FleetInputError)
            throw new LaunchRefused(e.issues.map((i) => `the operator's settings for ${template}: ${i}`));
        throw e;
    }
}
