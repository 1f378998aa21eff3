// toolchain/processes.ts on real processes: the tree, and what a killed Pulumi CLI leaves running. The
// "CLI" and its "plugins" are shells named with `exec -a`, so that no real CLI is killed here; the
// fault test (test/integration/faults.test.ts) does the same with a real `pulumi` and real plugins.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, describe, it } from "node:test";
import { descendants, processAlive, processTable, pulumiLeftovers, stopProcesses } from "../../toolchain/processes";

const BACKEND = `file:///tmp/leftovers-${process.pid}`;
/** Process groups started here: each script runs in its own, killed as a whole at the end. */
const groups: number[] = [];

/** Runs a bash script that prints pids; resolves with them once `count` were printed. */
async function pids(script: string, count: number, backend = BACKEND): Promise<number[]> {
    const child = spawn("bash", ["-c", script], {
        env: { ...process.env, PULUMI_BACKEND_URL: backend },
        stdio: ["ignore", "pipe", "ignore"],
        detached: true,
    });
    groups.push(child.pid!);
    const out: number[] = [];
    await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (d: Buffer) => {
            out.push(...d.toString().split(/\s+/).filter(Boolean).map(Number));
            if (out.length >= count) resolve();
        });
        child.once("exit", () => (out.length >= count ? resolve() : reject(new Error(`printed ${out.join(",")}`))));
    });
    return out;
}

/** Polls until `done` holds, for at most 5 s (a busy machine may take a while to exec a script's children). */
async function until(done: () => boolean) {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !done()) await new Promise((r) => setTimeout(r, 50));
}

/** Waits until the process tree shows `pid` below no parent that `gone` names (its parent died). */
const orphaned = (pid: number, gone: number) => until(() => processTable().get(pid)?.ppid !== gone);

/** Waits until `pid` runs under `name` (its `exec -a` happened). */
const named = (pid: number, name: string) => until(() => processTable().get(pid)?.name === name);

describe("processes", () => {
    after(() => {
        for (const group of groups)
            try {
                process.kill(-group, "SIGKILL");
            } catch {
                // gone
            }
    });

    it("the tree: a parent's descendants, children before theirs; liveness", async () => {
        // bash → (bash → sleep): both pids printed.
        const [inner, sleeper] = await pids("bash -c 'sleep 30 & echo $$ $!; wait' & wait", 2);
        await named(sleeper, "sleep");
        const table = processTable();
        assert.equal(table.get(sleeper)?.ppid, inner);
        assert.equal(table.get(sleeper)?.name, "sleep");
        assert.ok(table.get(sleeper)!.rssBytes > 0);
        assert.deepEqual(descendants(inner, table), [sleeper]);
        assert.ok(processAlive(sleeper));
        process.kill(sleeper, "SIGKILL");
        await until(() => !processAlive(sleeper));
        assert.equal(processAlive(sleeper), false);
    });

    it("leftovers of a killed CLI: its helpers of this backend with no live `pulumi` above them, and only those", async () => {
        // A "CLI" that stays alive, with a "plugin": not a leftover.
        const [liveCli] = await pids(
            "bash -c 'exec -a pulumi bash -c \"(exec -a pulumi-resource-live sleep 30) & echo \\$\\$; wait\"' & wait",
            1,
        );
        // A "CLI" killed with SIGKILL: its "language host" (with its "program") and "plugin" stay.
        const [killedCli, host, plugin] = await pids(
            "bash -c 'exec -a pulumi bash -c \"" +
                '(exec -a pulumi-language-nodejs bash -c \\"sleep 30 & wait\\") & h=\\$!; ' +
                "(exec -a pulumi-resource-keycloak sleep 30) & p=\\$!; echo \\$\\$ \\$h \\$p; wait\"' & wait",
            3,
        );
        // The same, of another backend: not this fleet's.
        const [otherCli, otherPlugin] = await pids(
            "bash -c 'exec -a pulumi bash -c \"(exec -a pulumi-resource-random sleep 30) & echo \\$\\$ \\$!; wait\"' & wait",
            2,
            `${BACKEND}-other`,
        );
        await named(host, "pulumi-language-nodejs");
        await named(plugin, "pulumi-resource-keycloak");
        await named(otherPlugin, "pulumi-resource-random");
        await until(() => descendants(host).length > 0);
        const program = descendants(host)[0];
        assert.ok(program, "the language host runs a program");
        process.kill(killedCli, "SIGKILL");
        process.kill(otherCli, "SIGKILL");
        await orphaned(plugin, killedCli);
        await orphaned(otherPlugin, otherCli);

        const left = pulumiLeftovers(BACKEND);
        assert.deepEqual(left.map((p) => p.pid).sort(), [host, plugin, program].sort());
        assert.deepEqual(left.find((p) => p.pid === plugin)?.name, "pulumi-resource-keycloak");
        assert.ok(!left.some((p) => p.pid === liveCli || processTable().get(p.pid)?.ppid === liveCli));

        assert.deepEqual((await stopProcesses(left.map((p) => p.pid))).sort(), [host, plugin, program].sort());
        assert.deepEqual(pulumiLeftovers(BACKEND), []);
        assert.ok(processAlive(liveCli) && processAlive(otherPlugin), "nothing else was stopped");
    });
});
