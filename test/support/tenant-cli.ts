// The tenant CLI (`npm run tenant -- …`) as an operator runs it, for the fleet's integration tests:
// its exit code and output, the JSON report of a run, and each tenant's log when a run fails.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { RunReport, TenantResult } from "../../apps/fleet";
import { repoRoot } from "../../toolchain/index";

export interface CliRun {
    code: number | null;
    stdout: string;
    stderr: string;
}

/** `npm run tenant -- <args>` (bounded: a hung run fails the test instead of blocking it). */
export function tenantCli(args: string[], env: Record<string, string>, timeoutMs = 600_000): Promise<CliRun> {
    return new Promise((resolve, reject) => {
        const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
        for (const k of ["PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"])
            delete childEnv[k];
        const child = spawn(process.execPath, ["--import", "tsx", "cli/tenant.ts", ...args], {
            cwd: repoRoot,
            env: childEnv,
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGINT"), timeoutMs);
        child.on("error", reject);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, stdout, stderr });
        });
    });
}

export function reportOf(run: CliRun): RunReport {
    const file = /^report: (.+)$/m.exec(run.stdout)?.[1];
    assert.ok(file, `no report in:\n${run.stdout}\n${run.stderr}`);
    return JSON.parse(fs.readFileSync(file, "utf8")) as RunReport;
}

export const byTenant = (r: RunReport) =>
    Object.fromEntries(r.tenants.map((t) => [t.tenant, t])) as Record<string, TenantResult>;
/** A run's exit code and output, with the tail of each tenant's log of that run (their engine output). */
export const show = (run: CliRun) => {
    const pattern = /^logs: (.+)$/m.exec(run.stdout)?.[1];
    const [root, file] = pattern ? pattern.split("/<tenant>/") : [];
    const logs =
        root && fs.existsSync(root)
            ? fs
                  .readdirSync(root)
                  .map((t) => path.join(root, t, file))
                  .filter((f) => fs.existsSync(f))
                  .map((f) => `--- ${f}\n${fs.readFileSync(f, "utf8").split("\n").slice(-30).join("\n")}`)
            : [];
    return [`exit ${run.code}`, run.stdout, run.stderr, ...logs].join("\n");
};
