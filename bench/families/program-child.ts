// One mocked run of a program, in its own process so that the memory figures are its own. Prints
// one JSON line (ChildResult): seconds from before the Pulumi SDK is loaded until every
// registration has reached the mocks, peak RSS (process.resourceUsage().maxRSS), heap in use at the
// end, and the number of resources registered. No static imports: the clock starts first.
//   node --import tsx bench/families/program-child.ts floor|index|tenants [N]
import type { Mode } from "./program-mocked";

const t0 = process.hrtime.bigint();

async function main(): Promise<void> {
    const [mode, n = "1"] = process.argv.slice(2);
    if (!["floor", "index", "tenants"].includes(mode)) throw new Error(`unknown mode ${mode}`);
    const { runMocked } = await import("./program-mocked");
    const result = await runMocked(mode as Mode, Number(n), t0);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    // Pipes are written synchronously on Linux; nothing else is left to wait for.
    process.exit(0);
}

main().catch((e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
});
