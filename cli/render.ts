// npm run render -- --template <name> [--set key=value]… [--tenant <name>] --out <dir>
//
// Writes exactly what would be applied for a tenant made from the template (apps/render/), for review:
// reaches no cluster, host or Keycloak and needs no secret. Exit codes: 0 written, 2 bad input
// (nothing written), 1 anything else.
import * as path from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_TENANT, placeholdersIn, RenderInputError, renderTenant, writeRender } from "../apps/render";

const HELP = `usage: npm run render -- --template <name> [--set key=value]… [--tenant <name>] --out <dir>

  --template <name>   a template of templates/ (npm run tenant -- templates lists them)
  --set key=value     a program config key, as \`tenant new --set\` takes it; {tenant} is replaced
  --tenant <name>     the tenant (stack) to render for (default ${DEFAULT_TENANT})
  --out <dir>         the folder to write; a previous render there is replaced

Files: kubernetes/<kind>-<namespace>-<name>.yaml (target kubernetes), vm/compose.yaml, vm/env/<service>.env,
vm/nginx.conf (targets ssh, aws), keycloak/<realm>.json, README.md. Secrets are placeholders.
Exit codes: 0 written, 2 bad input (nothing written), 1 other errors.`;

export async function main(argv: string[]): Promise<number> {
    let values: { template?: string; set?: string[]; tenant?: string; out?: string; help?: boolean };
    try {
        ({ values } = parseArgs({
            args: argv,
            options: {
                template: { type: "string" },
                set: { type: "string", multiple: true },
                tenant: { type: "string" },
                out: { type: "string" },
                help: { type: "boolean", short: "h" },
            },
            strict: true,
        }));
    } catch (e) {
        throw new RenderInputError(`${(e as Error).message} (run with --help)`);
    }
    if (values.help) {
        console.log(HELP);
        return 0;
    }
    const missing = (["template", "out"] as const).filter((k) => !values[k]);
    if (missing.length)
        throw new RenderInputError(`${missing.map((k) => `--${k}`).join(" and ")} required: ${HELP.split("\n")[0]}`);
    const out = path.resolve(values.out as string);
    const rendered = await renderTenant({
        template: values.template as string,
        set: values.set,
        tenant: values.tenant,
    });
    const written = writeRender(out, rendered.files);
    for (const file of written) console.log(`wrote ${path.join(out, file)}`);
    const { plan } = rendered;
    console.log(
        `rendered template ${plan.template} for tenant ${plan.tenant} (target ${plan.parsed.target}): ` +
            `${written.length} files in ${out}, ${rendered.capture.resources.length} resources, ` +
            `${placeholdersIn(rendered.files).length} secrets as placeholders`,
    );
    return 0;
}

if (require.main === module)
    main(process.argv.slice(2)).then(
        (code) => {
            process.exitCode = code;
        },
        (e: unknown) => {
            if (e instanceof RenderInputError) {
                console.error(`error: ${e.message}`);
                process.exitCode = 2;
            } else {
                console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
                process.exitCode = 1;
            }
        },
    );
