// The local environment's readers/writer lock (localenv/use.ts) with the real flock(1), on lock
// files in a temporary state folder.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { envSettings } from "../../localenv/settings";
import { EnvironmentLock, lockEnvironment, useLockPath } from "../../localenv/use";
import { repoRoot } from "../../toolchain/index";

const settings = () => ({ ...envSettings(), stateDir: fs.mkdtempSync(path.join(os.tmpdir(), "env-use-")) });

/** Whether the promise settles within `ms`: a lock that waits does not. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | "waiting"> {
    let timer: NodeJS.Timeout | undefined;
    const waiting = new Promise<"waiting">((r) => (timer = setTimeout(() => r("waiting"), ms)));
    try {
        return await Promise.race([p, waiting]);
    } finally {
        clearTimeout(timer);
    }
}

describe("the local environment's readers/writer lock", () => {
    it("suites that share it hold it together; one that needs it alone waits for them, then excludes them", async () => {
        const s = settings();
        const a = await lockEnvironment("shared", s);
        const b = await within(lockEnvironment("shared", s), 5000);
        assert.notEqual(b, "waiting", "a second shared user gets the lock at once");

        const exclusive = lockEnvironment("exclusive", s);
        assert.equal(await within(exclusive, 500), "waiting", "exclusive use waits while the lock is shared");
        a.release();
        assert.equal(await within(exclusive, 500), "waiting", "and waits for the last shared user");
        (b as EnvironmentLock).release();
        const alone = await within(exclusive, 5000);
        assert.notEqual(alone, "waiting", "exclusive use starts once every shared user released it");

        const late = lockEnvironment("shared", s);
        assert.equal(await within(late, 500), "waiting", "a shared user waits while the lock is held alone");
        (alone as EnvironmentLock).release();
        assert.notEqual(await within(late, 5000), "waiting");
        (await late).release();
        assert.ok(fs.existsSync(useLockPath(s)));
    });

    it("a user waiting to be alone goes before shared users that came after it", async () => {
        const s = settings();
        const first = await lockEnvironment("shared", s);
        const exclusive = lockEnvironment("exclusive", s);
        assert.equal(await within(exclusive, 500), "waiting");
        const later = lockEnvironment("shared", s);
        assert.equal(await within(later, 500), "waiting", "a new shared user waits behind the exclusive one");
        first.release();
        const alone = await within(exclusive, 5000);
        assert.notEqual(alone, "waiting", "the exclusive user goes first");
        assert.equal(await within(later, 300), "waiting");
        (alone as EnvironmentLock).release();
        assert.notEqual(await within(later, 5000), "waiting");
        (await later).release();
    });

    it("a holder killed with SIGKILL leaves the environment unlocked", async () => {
        const s = settings();
        const holder = spawn(
            process.execPath,
            [
                "--import",
                "tsx",
                "-e",
                `require("./localenv/use").lockEnvironment("exclusive", { stateDir: ${JSON.stringify(s.stateDir)} })` +
                    `.then(() => { console.log("locked"); setInterval(() => undefined, 1000); })`,
            ],
            { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] },
        );
        await new Promise<void>((resolve) => holder.stdout.once("data", () => resolve()));
        const waiting = lockEnvironment("exclusive", s);
        assert.equal(await within(waiting, 500), "waiting", "the other process holds the lock");
        holder.kill("SIGKILL");
        const lock = await within(waiting, 5000);
        assert.notEqual(lock, "waiting", "the lock went with the killed process");
        (lock as EnvironmentLock).release();
    });
});
