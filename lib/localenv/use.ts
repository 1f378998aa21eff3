// Who may use the local environment at the same time. Suites that only add objects of their own
// (unique realm, namespace, stack and compose project names) share it; a case that stops, kills or
// restarts one of its pieces needs it alone. A readers/writer lock on a file in the state folder says
// which, so that the test command can run suites in parallel (index.ts: useEnvironment,
// withEnvironmentAlone).
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { EnvError } from "./proc";
import { EnvSettings, envSettings } from "./settings";

export type EnvironmentUse = "shared" | "exclusive";

export const useLockPath = (s: EnvSettings) => path.join(s.stateDir, "use.lock");

/** flock(1)'s arguments: the lock is held while the command (reading its stdin to the end) runs. */
export function flockArgs(use: EnvironmentUse, lockFile: string): string[] {
    return [use === "shared" ? "--shared" : "--exclusive", lockFile, "sh", "-c", "echo held && exec cat >/dev/null"];
}

export interface EnvironmentLock {
    /** Releases the lock now (it is released anyway when this process ends). */
    release(): void;
}

/**
 * Takes the environment's lock in `use` mode, waiting for holders of the other mode. The lock is held
 * by a child `flock` (util-linux, flock(2) underneath) whose stdin is a pipe from this process: when
 * this process ends, even killed, the pipe closes and the lock goes with it, so a crashed suite never
 * leaves the environment locked. The child does not keep this process alive.
 */
export async function lockEnvironment(use: EnvironmentUse, s: EnvSettings = envSettings()): Promise<EnvironmentLock> {
    fs.mkdirSync(s.stateDir, { recursive: true });
    const child: ChildProcess = spawn("flock", flockArgs(use, useLockPath(s)), {
        stdio: ["pipe", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
        child.once("error", (e) =>
            reject(new EnvError(`cannot lock the local environment: ${e.message}`, "install util-linux (flock)")),
        );
        child.once("exit", (code) =>
            reject(new EnvError(`flock exited (${code}) before taking ${useLockPath(s)}`, "check that file's folder")),
        );
        child.stdout!.once("data", () => resolve());
    });
    child.removeAllListeners("exit");
    child.stdout!.destroy();
    child.unref();
    (child.stdin as unknown as { unref(): void }).unref();
    return { release: () => child.stdin!.end() };
}
