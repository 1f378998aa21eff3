// A container engine for the VM path: Debian's dockerd (docker.io) with its own data, exec root,
// socket, bridge and address pool under the environment's state folder, so that the program's
// remote scripts can run docker-compose on the SSH test host against the stand-in images
// (standins.ts). Published ports default to 127.0.0.1, and containers cannot reach beyond this
// machine: no IP forwarding or masquerading, and a DOCKER-USER rule drops anything leaving the pool.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { EnvError, engineGet, LOOPBACK, livePid, startDetached, waitUntil } from "./proc";
import { EnvSettings } from "./settings";
import { ensureStandins, standinsStatus } from "./standins";

const run = promisify(execFile);

export interface DockerInfo {
    /** The DOCKER_HOST value for this daemon, e.g. unix:///…/.local/env/docker/docker.sock */
    host: string;
    socket: string;
    /**
     * True when this daemon also answers on /var/run/docker.sock, the default socket that
     * `sudo docker` (and docker-compose) on the SSH test host use.
     */
    defaultSocket: boolean;
    subnet: string;
    bridge: string;
    /** The stand-in images, by the exact names of the images they stand in for. */
    images: string[];
}

const DOCKERD = "/usr/sbin/dockerd";
export const DEFAULT_SOCKET = "/var/run/docker.sock";
const MARKER = "dockerd";
// sun_path holds 108 bytes; containerd puts "<exec-root>/containerd/containerd.sock.ttrpc" there.
const MAX_SOCKET_PATH = 107;

export function dockerFiles(s: EnvSettings) {
    const dir = path.join(s.stateDir, "docker");
    return {
        dir,
        data: path.join(dir, "data"),
        exec: path.join(dir, "exec"),
        socket: path.join(dir, "docker.sock"),
        config: path.join(dir, "daemon.json"),
        /** Ours (the supervisor's), as for every piece. */
        pid: path.join(dir, "dockerd.pid"),
        /** dockerd's own; it refuses to start while the process in it lives, so it is a separate file. */
        daemonPid: path.join(dir, "exec", "docker.pid"),
        log: path.join(dir, "dockerd.log"),
        imagesLog: path.join(dir, "images.log"),
    };
}

/** The bridge's own address: the first /24 of the pool, .1. */
export function bridgeAddress(subnet: string): string {
    return subnet.replace(/\.0\.0\/16$/, ".0.1/24");
}

/**
 * dockerd's command line. Options are those of dockerd 20.10's reference
 * (https://docs.docker.com/engine/reference/commandline/dockerd/, "Run multiple daemons"): every
 * path and the bridge are this environment's own, so it can run beside a system daemon or another
 * environment's; --config-file keeps a host /etc/docker/daemon.json out.
 */
export function dockerdArgs(s: EnvSettings, claimDefaultSocket: boolean): string[] {
    const f = dockerFiles(s);
    return [
        `--config-file=${f.config}`,
        `--data-root=${f.data}`,
        `--exec-root=${f.exec}`,
        `--pidfile=${f.daemonPid}`,
        `--host=unix://${f.socket}`,
        ...(claimDefaultSocket ? [`--host=unix://${DEFAULT_SOCKET}`] : []),
        `--bridge=${s.docker.bridge}`,
        `--default-address-pool=base=${s.docker.subnet},size=24`,
        // `-p 8080:80` and compose's `ports:` bind 127.0.0.1 unless an address is given.
        `--ip=${LOOPBACK}`,
        // Port publishing and network isolation need dockerd's iptables rules; routing out of the
        // machine and NAT do not exist here, so containers reach only this host and each other.
        "--iptables=true",
        "--ip-forward=false",
        "--ip-masq=false",
        "--log-level=warn",
    ];
}

/** The DOCKER-USER rule (checked by iptables -C, inserted with -I, removed with -D). */
export function isolationRule(subnet: string): string[] {
    return ["DOCKER-USER", "-s", subnet, "!", "-d", subnet, "-j", "DROP"];
}

const ping = async (socket: string) => (await engineGet(socket, "/_ping")) === "OK";

function daemonPid(s: EnvSettings): number | undefined {
    return livePid(dockerFiles(s).pid, MARKER);
}

export function dockerRunning(s: EnvSettings): boolean {
    return daemonPid(s) !== undefined;
}

export async function dockerReady(s: EnvSettings): Promise<boolean> {
    return dockerRunning(s) && (await ping(dockerFiles(s).socket));
}

/** Whether the running daemon was started with the default socket as well. */
function servesDefaultSocket(pid: number | undefined): boolean {
    if (pid === undefined) return false;
    try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(`--host=unix://${DEFAULT_SOCKET}`);
    } catch {
        return false;
    }
}

function info(s: EnvSettings, images: string[]): DockerInfo {
    const f = dockerFiles(s);
    return {
        host: `unix://${f.socket}`,
        socket: f.socket,
        defaultSocket: servesDefaultSocket(daemonPid(s)),
        subnet: s.docker.subnet,
        bridge: s.docker.bridge,
        images,
    };
}

async function sh(cmd: string, args: string[]): Promise<void> {
    await run(cmd, args, { timeout: 30_000 });
}

/** The bridge dockerd attaches containers to (--bridge requires it to exist), with its address. */
async function ensureBridge(s: EnvSettings): Promise<void> {
    const name = s.docker.bridge;
    if (!fs.existsSync(`/sys/class/net/${name}`)) await sh("ip", ["link", "add", "name", name, "type", "bridge"]);
    await sh("ip", ["addr", "replace", bridgeAddress(s.docker.subnet), "dev", name]);
    await sh("ip", ["link", "set", name, "up"]);
}

async function ensureIsolationRule(s: EnvSettings): Promise<void> {
    const rule = isolationRule(s.docker.subnet);
    try {
        await sh("iptables", ["-C", ...rule]);
    } catch {
        await sh("iptables", ["-I", ...rule]);
    }
}

export async function dockerUp(s: EnvSettings): Promise<DockerInfo> {
    const f = dockerFiles(s);
    if (!(await dockerReady(s))) await startDaemon(s);
    const images = await ensureStandins(s, `unix://${f.socket}`, f.imagesLog);
    return info(s, images);
}

async function startDaemon(s: EnvSettings): Promise<void> {
    const f = dockerFiles(s);
    if (dockerRunning(s)) {
        // Ours, but not answering (hung, or still starting from an earlier run): restart cleanly.
        await dockerDown(s);
    }
    if (!fs.existsSync(DOCKERD)) {
        throw new EnvError(
            `${DOCKERD} not found`,
            "run 'npm run setup' (it installs docker.io, docker-compose and debootstrap) or 'apt-get install docker.io docker-compose debootstrap'",
        );
    }
    if (process.getuid?.() !== 0) {
        throw new EnvError(
            "the docker engine needs root (network bridge, iptables, mounts)",
            "run the environment as root",
        );
    }
    const longest = path.join(f.exec, "containerd", "containerd.sock.ttrpc");
    if (Buffer.byteLength(longest) > MAX_SOCKET_PATH) {
        throw new EnvError(
            `the state folder's path is too long for containerd's sockets (${longest})`,
            "set CYTOMINE_ENV_DIR to a shorter path",
        );
    }
    fs.mkdirSync(f.exec, { recursive: true });
    fs.mkdirSync(f.data, { recursive: true });
    fs.writeFileSync(f.config, "{}\n");
    await ensureBridge(s);
    // The default socket is the machine's: taken only when no other daemon answers on it (a file
    // nobody answers on is a leftover, which dockerd replaces).
    const claim = s.docker.defaultSocket && !(await ping(DEFAULT_SOCKET));
    fs.writeFileSync(f.log, "");
    startDetached({ cmd: DOCKERD, args: dockerdArgs(s, claim), log: f.log, pidFile: f.pid });
    await waitUntil(() => ping(f.socket), {
        timeoutMs: 60_000,
        what: "dockerd",
        log: f.log,
        isRunning: () => dockerRunning(s),
        fix: `read ${f.log}; 'npm run env:down' then 'npm run env:up' starts it afresh`,
    });
    try {
        await ensureIsolationRule(s);
    } catch (e) {
        throw new EnvError(
            `could not add the iptables rule that keeps containers local: ${(e as Error).message.split("\n")[0]}`,
            `check 'iptables -L DOCKER-USER' (dockerd creates the chain; log: ${f.log})`,
        );
    }
}

/**
 * Stops dockerd: TERM to dockerd alone, which stops the containers and its containerd itself
 * (signalling the whole group would kill containerd first and orphan the containers' shims),
 * then KILL to the group after the grace period. The bridge and the iptables rule go too.
 */
export async function dockerDown(s: EnvSettings, graceMs = 45_000): Promise<boolean> {
    const f = dockerFiles(s);
    const pid = daemonPid(s);
    if (pid === undefined) {
        // A daemon killed with the machine's session leaves its bridge and rule: they go all the same,
        // or a later environment on the same pool (another clone's) finds the addresses taken.
        await removeDockerNetwork(s);
        return false;
    }
    const alive = () => {
        try {
            process.kill(pid, 0);
            return true;
        } catch {
            return false;
        }
    };
    process.kill(pid, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    if (alive()) {
        try {
            process.kill(-pid, "SIGKILL");
        } catch {
            /* already gone */
        }
    }
    fs.rmSync(f.pid, { force: true });
    await removeDockerNetwork(s);
    return true;
}

async function removeDockerNetwork(s: EnvSettings): Promise<void> {
    await sh("iptables", ["-D", ...isolationRule(s.docker.subnet)]).catch(() => undefined);
    await sh("ip", ["link", "del", s.docker.bridge]).catch(() => undefined);
}

/** With purge: the daemon's data (containers, images, volumes) goes too; the machine's image cache stays. */
export async function dockerPurge(s: EnvSettings): Promise<void> {
    const f = dockerFiles(s);
    // dockerd leaves its overlay mounts behind only when killed; none may remain before deleting.
    await run("sh", ["-c", `grep -o " ${f.dir}/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l`]).catch(
        () => undefined,
    );
    // --one-file-system: never follow a mount that survived into a container's host folders.
    await run("rm", ["-rf", "--one-file-system", f.dir]);
}

export async function dockerStatus(s: EnvSettings): Promise<{ ready: boolean; detail: string }> {
    const f = dockerFiles(s);
    if (!dockerRunning(s)) return { ready: false, detail: `not running; 'npm run env:up' starts it (log: ${f.log})` };
    if (!(await ping(f.socket))) return { ready: false, detail: `running but not answering; log: ${f.log}` };
    const images = await standinsStatus(s, `unix://${f.socket}`).catch((e: Error) => ({
        present: [] as string[],
        missing: [`(could not list images: ${e.message.split("\n")[0]})`],
    }));
    const def = servesDefaultSocket(daemonPid(s)) ? ` and ${DEFAULT_SOCKET}` : "";
    if (images.missing.length > 0) {
        return {
            ready: false,
            detail: `running at unix://${f.socket}${def}, but stand-in images are missing or outdated: ${images.missing.join(", ")}; 'npm run env:up' builds them`,
        };
    }
    return { ready: true, detail: `ready at unix://${f.socket}${def}, ${images.present.length} stand-in images` };
}
