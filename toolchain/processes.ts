// Processes on this machine, read from /proc: whether one still runs, its command line, the process
// tree, what a killed Pulumi CLI left running, and every command line sampled until stopped (so that
// a test can show that no secret was ever passed in argv, which every user can read through /proc
// and ps).
import * as fs from "node:fs";
import * as path from "node:path";

/** True while PID runs. A process of another user counts; a zombie (only its table entry left) does not. */
export function processAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
    }
    try {
        // proc(5): the state follows the command name in parentheses.
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
    } catch {
        return false;
    }
}

/** PID's command line, its arguments joined by spaces; "" once it has ended. */
export function commandLine(pid: number): string {
    try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
    } catch {
        return "";
    }
}

export interface ProcessEntry {
    pid: number;
    ppid: number;
    /** The program's name: argv[0] without its folder (the kernel's own name stops at 15 characters). */
    name: string;
    /** Resident memory, bytes. */
    rssBytes: number;
}

/** Every process on this machine, from /proc (one that ends while it is read is left out). */
export function processTable(): Map<number, ProcessEntry> {
    const table = new Map<number, ProcessEntry>();
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            // proc(5): "pid (comm) state ppid …", comm may hold spaces and parentheses; rss is field 24.
            const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
            const argv0 = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0")[0];
            table.set(Number(entry), {
                pid: Number(entry),
                ppid: Number(fields[1]),
                name: path.basename(argv0),
                rssBytes: Number(fields[21]) * 4096,
            });
        } catch {
            // It ended meanwhile.
        }
    }
    return table;
}

/**
 * PID's proportional set size, bytes (proc(5) smaps_rollup): its private memory plus its share of the
 * pages it shares with other processes, e.g. one binary's code mapped by several workers. Summed over
 * every process, it is the memory in use; 0 when unreadable.
 */
export function pssBytes(pid: number): number {
    try {
        const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
        return Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0) * 1024;
    } catch {
        return 0;
    }
}

/** The processes below PID, children before their own children. */
export function descendants(pid: number, table = processTable()): number[] {
    const found: number[] = [];
    const walk = (parent: number) => {
        for (const p of table.values())
            if (p.ppid === parent) {
                found.push(p.pid);
                walk(p.pid);
            }
    };
    walk(pid);
    return found;
}

/** One variable of PID's environment; undefined when unset or unreadable (another user's process). */
export function environmentVariable(pid: number, name: string): string | undefined {
    try {
        const entry = fs
            .readFileSync(`/proc/${pid}/environ`, "utf8")
            .split("\0")
            .find((e) => e.startsWith(`${name}=`));
        return entry?.slice(name.length + 1);
    } catch {
        return undefined;
    }
}

/**
 * What Pulumi CLIs of one backend left running when they died without cleaning up (SIGKILL, the OOM
 * killer): the language host, the program and the plugins they started. The engine stops them on
 * its way out, so a CLI that never got there leaves them serving nobody. Found by the backend in
 * their environment (the CLI passes its own on), a `pulumi-…` name or a parent found so, and no
 * live `pulumi` above them.
 */
export function pulumiLeftovers(backendUrl: string, table = processTable()): ProcessEntry[] {
    // Each process's environment is read once.
    const ofBackend = new Set(
        [...table.values()]
            .filter((p) => p.name !== "pulumi" && environmentVariable(p.pid, "PULUMI_BACKEND_URL") === backendUrl)
            .map((p) => p.pid),
    );
    const ancestors = function* (p: ProcessEntry) {
        for (let q = table.get(p.ppid); q; q = table.get(q.ppid)) yield q;
    };
    return [...table.values()].filter((p) => {
        if (!ofBackend.has(p.pid)) return false;
        const above = [...ancestors(p)];
        if (above.some((q) => q.name === "pulumi")) return false;
        // The program counts through its language host.
        return p.name.startsWith("pulumi-") || above.some((q) => q.name.startsWith("pulumi-") && ofBackend.has(q.pid));
    });
}

/** Stops PIDs: SIGTERM, then SIGKILL to those still running after `graceMs`. Returns those that ended. */
export async function stopProcesses(pids: number[], graceMs = 5000): Promise<number[]> {
    const signal = (s: NodeJS.Signals) => {
        for (const pid of pids.filter(processAlive))
            try {
                process.kill(pid, s);
            } catch {
                // Gone meanwhile.
            }
    };
    const waitUntilGone = async (ms: number) => {
        const deadline = Date.now() + ms;
        while (Date.now() < deadline && pids.some(processAlive)) await new Promise((r) => setTimeout(r, 50));
    };
    signal("SIGTERM");
    await waitUntilGone(graceMs);
    signal("SIGKILL");
    await waitUntilGone(2000);
    return pids.filter((pid) => !processAlive(pid));
}

export function sampleCommandLines(intervalMs = 50): { stop: () => string[] } {
    const seen = new Set<string>();
    let running = true;
    const tick = () => {
        if (!running) return;
        for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
            try {
                seen.add(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " "));
            } catch {
                // the process ended meanwhile
            }
        }
        setTimeout(tick, intervalMs);
    };
    tick();
    return {
        stop: () => {
            running = false;
            return [...seen];
        },
    };
}
