// Process plumbing for the local environment: detached services with pid files, port checks,
// bounded waits and log tails. Everything binds to 127.0.0.1.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { commandLine, processAlive } from "../toolchain/processes";

export const LOOPBACK = "127.0.0.1";

/** An error a person can act on: what failed and how to fix it. */
export class EnvError extends Error {
    constructor(
        message: string,
        readonly fix: string,
    ) {
        super(`${message}\n  fix: ${fix}`);
        this.name = "EnvError";
    }
}

/**
 * The pid recorded in FILE if that process is alive and its command line contains MARKER; a pid
 * file left by a crashed run (dead or reused pid) is removed.
 */
export function livePid(file: string, marker: string): number | undefined {
    let pid: number;
    try {
        pid = Number(fs.readFileSync(file, "utf8").trim());
    } catch {
        return undefined;
    }
    if (pid > 0 && processAlive(pid) && commandLine(pid).includes(marker)) return pid;
    fs.rmSync(file, { force: true });
    return undefined;
}

/** Starts a detached process group writing to LOG, records its pid in PIDFILE. */
export function startDetached(opts: {
    cmd: string;
    args: string[];
    env?: NodeJS.ProcessEnv;
    log: string;
    pidFile: string;
    cwd?: string;
}): number {
    const out = fs.openSync(opts.log, "a");
    const child = spawn(opts.cmd, opts.args, {
        detached: true,
        stdio: ["ignore", out, out],
        env: { ...process.env, ...opts.env },
        cwd: opts.cwd,
    });
    fs.closeSync(out);
    if (child.pid === undefined) throw new EnvError(`could not start ${opts.cmd}`, `check that ${opts.cmd} exists`);
    child.unref();
    fs.writeFileSync(opts.pidFile, String(child.pid), { mode: 0o600 });
    return child.pid;
}

/** Stops the process group led by the pid in PIDFILE: TERM, then KILL after a grace period. */
export async function stopPidFile(pidFile: string, marker: string, graceMs = 15_000): Promise<boolean> {
    const pid = livePid(pidFile, marker);
    if (pid === undefined) return false;
    const signal = (s: NodeJS.Signals) => {
        try {
            process.kill(-pid, s);
        } catch {
            try {
                process.kill(pid, s);
            } catch {
                /* already gone */
            }
        }
    };
    signal("SIGTERM");
    const deadline = Date.now() + graceMs;
    while (processAlive(pid) && Date.now() < deadline) await sleep(200);
    if (processAlive(pid)) signal("SIGKILL");
    fs.rmSync(pidFile, { force: true });
    return true;
}

function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/** True when something accepts TCP connections on 127.0.0.1:PORT. */
function portInUse(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect({ host: LOOPBACK, port });
        socket.setTimeout(1000);
        socket.once("connect", () => {
            socket.destroy();
            resolve(true);
        });
        socket.once("timeout", () => {
            socket.destroy();
            resolve(false);
        });
        socket.once("error", () => resolve(false));
    });
}

/** Throws when a port this piece needs is taken by something that is not ours. */
export async function requireFreePort(port: number, what: string, envVar: string): Promise<void> {
    if (await portInUse(port)) {
        throw new EnvError(
            `port ${port} on ${LOOPBACK}, needed by ${what}, is already in use by another program`,
            `stop that program (see 'ss -ltnp sport = :${port}') or choose another port with ${envVar}=<port>`,
        );
    }
}

/** Polls CHECK until it returns true, up to TIMEOUTMS; throws with the log tail when it never does. */
export async function waitUntil(
    check: () => Promise<boolean>,
    opts: { timeoutMs: number; what: string; log: string; isRunning?: () => boolean; fix: string },
): Promise<void> {
    const deadline = Date.now() + opts.timeoutMs;
    while (Date.now() < deadline) {
        if (await check().catch(() => false)) return;
        if (opts.isRunning && !opts.isRunning()) {
            throw new EnvError(
                `${opts.what} exited during start-up. Last lines of ${opts.log}:\n${tail(opts.log)}`,
                opts.fix,
            );
        }
        await sleep(1000);
    }
    throw new EnvError(
        `${opts.what} did not become ready within ${Math.round(opts.timeoutMs / 1000)} s. Last lines of ${opts.log}:\n${tail(opts.log)}`,
        opts.fix,
    );
}

export function tail(file: string, lines = 20): string {
    try {
        return fs
            .readFileSync(file, "utf8")
            .trimEnd()
            .split("\n")
            .slice(-lines)
            .map((l) => `    ${l}`)
            .join("\n");
    } catch {
        return "    (no log)";
    }
}

/** GET URL and report whether it answered 2xx. */
export async function httpOk(url: string): Promise<boolean> {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return res.ok;
}

/** GET PATH from the Engine API on SOCKET; undefined when nothing answers. */
export function engineGet(socket: string, apiPath: string, timeoutMs = 3000): Promise<string | undefined> {
    return new Promise((resolve) => {
        const req = http.get({ socketPath: socket, path: apiPath, timeout: timeoutMs }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (d) => (body += d));
            res.on("end", () => resolve(res.statusCode === 200 ? body : undefined));
        });
        req.on("timeout", () => req.destroy());
        req.on("error", () => resolve(undefined));
    });
}

/** A TCP port nothing listens on right now on 127.0.0.1. */
export function freePort(): Promise<number> {
    return new Promise((resolve) => {
        const server = net.createServer().listen(0, "127.0.0.1", () => {
            const { port } = server.address() as net.AddressInfo;
            server.close(() => resolve(port));
        });
    });
}
