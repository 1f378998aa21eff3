// What ran on this machine: every process's command line, sampled until stopped, so that a test can
// show that no secret was ever passed in argv (visible to every user through /proc and ps).
import * as fs from "node:fs";

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
