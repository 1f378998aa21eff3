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
