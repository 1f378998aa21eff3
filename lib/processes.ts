// Processes on this machine, read from /proc: whether one still runs, its command line, and every
// command line sampled until stopped (so that a test can show that no secret was ever passed in
// argv, which every user can read through /proc and ps).
import * as fs from "node:fs";

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
