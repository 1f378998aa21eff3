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
/** Passed on the way in, and held by a user waiting to be alone: see lockScript. */
export const useGatePath = (s: EnvSettings) => path.join(s.stateDir, "use.gate");

/**
 * The shell script that takes the lock (flock(1) on file descriptors, util-linux) and then holds it
 * while reading its stdin to the end; $1 is the gate, $2 the lock. Every user passes the gate first.
 * A shared user lets it go once it shares the lock; an exclusive user keeps it while it waits for the
 * shared users to leave and while it runs, so that no new one starts meanwhile: a suite that needs
 * the environment alone waits for the suites running now, not for every suite that starts after it.
 */
export function lockScript(use: EnvironmentUse): string {
    return use === "shared"
        ? 'exec 8>>"$1" 9>>"$2"; flock -x 8; flock -s 9; flock -u 8; echo held; exec cat >/dev/null'
        : 'exec 8>>"$1" 9>>"$2"; flock -x 8; flock -x 9; echo held; exec cat >/dev/null';
}

export interface EnvironmentLock {
    /** Releases the lock now (it is released anyway when this process ends). */
    release(): void;
}

/** Takes the environment's lock in `use` mode, waiting for holders of the other mode (lockScript). */
export async function lockEnvironment(use: EnvironmentUse, s: EnvSettings = envSettings()): Promise<EnvironmentLock> {
    return holdLock(lockScript(use), [useGatePath(s), useLockPath(s)], s);
}

export const nodeLockPath = (s: EnvSettings) => path.join(s.stateDir, "node.lock");

/**
 * The real node for one suite at a time: its allocatable CPU (this machine's) fits one tenant's pods,
 * and a second suite's would stay Pending. Take it before the environment's shared lock (useEnvironment),
 * so that a holder that later needs the environment alone never waits for a suite waiting here.
 */
export async function lockRealNode(s: EnvSettings = envSettings()): Promise<EnvironmentLock> {
    return holdLock('exec 9>>"$1"; flock -x 9; echo held; exec cat >/dev/null', [nodeLockPath(s)], s);
}

/**
 * Runs `script` (which prints "held" once it holds its flock) in a child shell whose stdin is a pipe
 * from this process: when this process ends, even killed, the pipe closes and the lock goes with it,
 * so a crashed suite never leaves it locked. The child does not keep this process alive.
 */
async function holdLock(script: string, args: string[], s: EnvSettings): Promise<EnvironmentLock> {
    fs.mkdirSync(s.stateDir, { recursive: true });
    const child: ChildProcess = spawn("sh", ["-c", script, "sh", ...args], {
        stdio: ["pipe", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
        child.once("error", (e) => reject(new EnvError(`cannot lock the local environment: ${e.message}`, "check sh")));
        child.once("exit", (code) =>
            reject(new EnvError(`flock exited (${code}) before taking ${args.at(-1)}`, "install util-linux (flock)")),
        );
        child.stdout!.once("data", () => resolve());
    });
    child.removeAllListeners("exit");
    child.stdout!.destroy();
    child.unref();
    (child.stdin as unknown as { unref(): void }).unref();
    return { release: () => child.stdin!.end() };
}
