// What the local environment may change on the machine, read so that two readings compare: routes,
// network links, the nftables ruleset (iptables-nft's rules included), ipsets, the sysctls the node's
// programs set, mount points, the kubelet's cgroups and the host folders they create.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import { promisify } from "node:util";
import { HOST_FOLDERS, TOUCHED_SYSCTLS } from "../../localenv";

const run = promisify(execFile);
const out = async (cmd: string, args: string[]) => (await run(cmd, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;

export interface MachineState {
    routes: string[];
    links: string[];
    nft: string;
    ipsets: string[];
    sysctls: Record<string, string>;
    mounts: string[];
    cgroups: string[];
    folders: string[];
}

export async function machineState(): Promise<MachineState> {
    const lines = (text: string) => text.split("\n").filter((l) => l.trim() !== "");
    return {
        routes: lines(await out("ip", ["-4", "route", "show", "table", "all"])).sort(),
        links: lines(await out("ip", ["-o", "link", "show"]))
            .map((l) => l.split(": ")[1].split("@")[0])
            .sort(),
        // -s: stateless, without counters, which traffic changes.
        nft: await out("nft", ["-s", "list", "ruleset"]),
        ipsets: lines(await out("ipset", ["list", "-n"])).sort(),
        sysctls: Object.fromEntries(
            [...TOUCHED_SYSCTLS, "net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"].map((k) => [
                k,
                fs.readFileSync(`/proc/sys/${k}`, "utf8").trim(),
            ]),
        ),
        mounts: lines(fs.readFileSync("/proc/self/mountinfo", "utf8"))
            .map((l) => l.split(" ")[4])
            .sort(),
        cgroups: fs
            .readdirSync("/sys/fs/cgroup")
            .filter((c) => fs.existsSync(`/sys/fs/cgroup/${c}/kubepods`))
            .sort(),
        folders: HOST_FOLDERS.filter((d) => fs.existsSync(d)),
    };
}

/**
 * What differs between two readings, as lines gone and lines new per part (the nftables ruleset line
 * by line, sysctls as `key=value`): empty when they are the same. A failure then shows only the
 * difference, not two whole readings.
 */
export function machineDiff(
    before: MachineState,
    after: MachineState,
): Record<string, { gone: string[]; new: string[] }> {
    const lines = (s: MachineState): Record<keyof MachineState, string[]> => ({
        routes: s.routes,
        links: s.links,
        nft: s.nft.split("\n").map((l) => l.trim()),
        ipsets: s.ipsets,
        sysctls: Object.entries(s.sysctls).map(([k, v]) => `${k}=${v}`),
        mounts: s.mounts,
        cgroups: s.cgroups,
        folders: s.folders,
    });
    const [a, b] = [lines(before), lines(after)];
    const diff: Record<string, { gone: string[]; new: string[] }> = {};
    for (const part of Object.keys(a) as (keyof MachineState)[]) {
        const count = (l: string[]) => l.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<string, number>());
        const [ca, cb] = [count(a[part]), count(b[part])];
        const gone = [...ca].filter(([x, n]) => (cb.get(x) ?? 0) < n).map(([x]) => x);
        const added = [...cb].filter(([x, n]) => (ca.get(x) ?? 0) < n).map(([x]) => x);
        if (gone.length || added.length) diff[part] = { gone, new: added };
    }
    return diff;
}
