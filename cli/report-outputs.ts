// Prints a stack's outputs in a form a person can act on, and what its last update changed.
//   node --import tsx cli/report-outputs.ts <stack>
import { execFileSync } from "node:child_process";
import { shellQuote } from "../components/vm/scripts";

/**
 * One line per output, as `pulumi stack output --json` gives them (secrets arrive as "[secret]");
 * secrets are named with the command that reveals them.
 */
export function formatOutputs(stack: string, outputs: Record<string, unknown>): string[] {
    return Object.entries(outputs)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, value]) =>
            value === "[secret]"
                ? `  ${key}: [secret] pulumi stack output ${key} --show-secrets --stack ${stack}`
                : `  ${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`,
        );
}

/** "no changes" or "created 3, updated 1" from an update's resourceChanges. */
export function describeChanges(changes: Record<string, number> | undefined): string {
    const changed = Object.entries(changes ?? {}).filter(([op, n]) => op !== "same" && n > 0);
    if (changed.length === 0) return `no changes (${changes?.same ?? 0} resources unchanged)`;
    return changed.map(([op, n]) => `${op} ${n}`).join(", ");
}

/**
 * The shell lines that give a fresh shell what the CLI needs for the stack: the pinned CLI on PATH,
 * its home (plugins), the backend, the passphrase file and the cluster. The stack's config is in
 * Pulumi.<stack>.yaml, where the CLI looks.
 */
export function cliEnvironment(env: NodeJS.ProcessEnv): string[] {
    return [
        `export PATH=${shellQuote(env.PATH?.split(":").slice(0, 2).join(":") ?? "")}:"$PATH" PULUMI_HOME=${shellQuote(env.PULUMI_HOME ?? "")}`,
        `export PULUMI_BACKEND_URL=${shellQuote(env.PULUMI_BACKEND_URL ?? "")} PULUMI_CONFIG_PASSPHRASE_FILE=${shellQuote(env.PULUMI_CONFIG_PASSPHRASE_FILE ?? "")}`,
        `export KUBECONFIG=${shellQuote(env.KUBECONFIG ?? "")} PULUMI_SKIP_UPDATE_CHECK=true`,
    ];
}

// The CLI, not the Automation API: reading outputs with --show-secrets would make the CLI write a
// new encryption salt into the tracked Pulumi.<stack>.yaml.
function pulumiJson<T>(args: string[]): T {
    return JSON.parse(execFileSync("pulumi", [...args, "--json"], { encoding: "utf8" })) as T;
}

async function main(stackName: string): Promise<void> {
    const outputs = pulumiJson<Record<string, unknown>>(["stack", "output", "--stack", stackName]);
    const history = pulumiJson<{ resourceChanges?: Record<string, number> }[]>([
        "stack",
        "history",
        "--page-size",
        "1",
        "--stack",
        stackName,
    ]);
    console.log(`\nStack ${stackName} is up. Last update: ${describeChanges(history[0]?.resourceChanges)}.`);
    console.log("Outputs:");
    for (const line of formatOutputs(stackName, outputs)) console.log(line);
    console.log(`\nThe Pulumi CLI drives the stack from this folder (${process.cwd()}) with this environment:`);
    for (const line of cliEnvironment(process.env)) console.log(`  ${line}`);
    console.log(`then e.g.: pulumi preview --refresh --stack ${stackName}; pulumi up --stack ${stackName}`);
}

if (require.main === module) {
    main(process.argv[2] ?? "dev").catch((e: unknown) => {
        console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(1);
    });
}
