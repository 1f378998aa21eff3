import assert from "node:assert/strict";
import { RunningStandin } from "../../localenv";

/** Asserts the stand-in logged PATTERN, waiting briefly: it logs after answering, the pipe later still. */
export async function logged(s: RunningStandin, pattern: RegExp | string, message?: string) {
    const out = await s.waitForOutput(pattern);
    if (typeof pattern === "string") assert.ok(out.includes(pattern), `${message ?? pattern}: ${out.slice(-2000)}`);
    else assert.match(out, pattern, message);
}
