// The tenant CLI (`npm run tenant -- …`) as an operator runs it, for the fleet's integration tests:
// its exit code and output, the JSON report of a run, and each tenant's log when a run fails.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { RunReport, TenantResult } from "../../apps/fleet";
import type { Environment } from "../../localenv";
import { repoRoot } from "../../toolchain/index";
import { freePort, sshHostKey } from "./project-config";

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

/** The environment's SSH test host as a tenant's VM: a tenant's roots on it, and where it is served. */
export interface VmTenantPlace {
    tenant: string;
    fleetDir: string;
    configRoot: string;
    dataRoot: string;
    /** Served at http://127.0.0.1:<port>. */
    port: number;
}

/** The arguments of `tenant new <tenant> --template vm` for the environment's SSH test host. */
export function vmTenantArgs(env: Environment, o: VmTenantPlace): string[] {
    const t = o.tenant;
    return [
        ...["new", t, "--template", "vm"],
        ...["--set", `lsaaiClientId=${t}-client`],
        ...["--set", `publicUrl=http://127.0.0.1:${o.port}`, "--set", "localStack=true"],
        ...["--set", `vm.host=${env.ssh.host}`, "--set", `vm.port=${env.ssh.port}`],
        ...["--set", `vm.user=${env.ssh.user}`, "--set", `vm.hostKey=${sshHostKey(env)}`],
        ...["--set", `vm.configDir=${o.configRoot}`, "--set", `vm.dataDir=${o.dataRoot}`],
        ...["--set", "vm.bindAddress=127.0.0.1", "--set", `vm.httpPort=${o.port}`],
        ...["--vm-private-key-file", env.ssh.privateKeyPath, "--fleet-dir", o.fleetDir],
    ];
}

/**
 * A tenant from the vm template on the environment's SSH test host, served at a free port, without
 * LS Login's restriction, with `extra` arguments (more --set values); then its first `up`.
 */
export async function newVmTenant(
    env: Environment,
    o: Omit<VmTenantPlace, "port"> & { extra?: string[]; secrets?: Record<string, string> },
): Promise<void> {
    const run = await tenantCli(
        [...vmTenantArgs(env, { ...o, port: await freePort() }), "--set", "lsaaiRestrict=false", ...(o.extra ?? [])],
        { LSAAI_CLIENT_SECRET: `lsaai-${crypto.randomBytes(12).toString("hex")}`, ...o.secrets },
    );
    assert.equal(run.code, 0, show(run));
    const up = await tenantCli(["up", o.tenant, "--fleet-dir", o.fleetDir], {}, 1_200_000);
    assert.equal(up.code, 0, show(up));
    assert.equal(reportOf(up).tenants[0].result, "ok");
}
