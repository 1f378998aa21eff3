// Target ssh: before anything is declared, the program connects to the host once, as the command
// plugin will, runs `sudo -n true` and reads the digests, modes and marks of the tenant's
// configuration files. A wrong address, private key, pinned host key or sudo rule then stops the
// preview naming the config key that fixes it, instead of a dial retried for minutes in the middle of
// an `up`; and a file edited by hand on the host shows as its step's update (`fileMark` in
// components/vm/cytomine.ts), which a refresh of a remote command cannot see. The steps on the host still
// check everything again when they run. SSH client: ssh2 (https://github.com/mscdex/ssh2).
import { createHash } from "node:crypto";
import { Client, utils } from "ssh2";
import type { ObservedFile } from "../../components/vm/cytomine";
import { inspectFilesScript, noSudo, shellQuote, UPGRADED, type Upgraded } from "../../components/vm/scripts";
import { PROJECT } from "../config";

export interface HostAccess {
    host: string;
    port: number;
    user: string;
    privateKey: string;
    /** The pinned public key (`ssh-ed25519 AAAA…`) or its `SHA256:` fingerprint; unset: not verified. */
    hostKey?: string;
    sudo: boolean;
}

/** A key's fingerprint (of its base64 blob, as in `ssh-ed25519 AAAA…`) as `ssh-keygen -l` prints it. */
export function fingerprint(blob: string): string {
    return `SHA256:${createHash("sha256").update(blob, "base64").digest("base64").replace(/=+$/, "")}`;
}

/** The pin's fingerprint, and the host key algorithms to ask for (all when the pin is a fingerprint). */
export function pinOf(hostKey: string): { fingerprint: string; algorithms?: string[] } {
    if (hostKey.startsWith("SHA256:")) return { fingerprint: hostKey.replace(/=+$/, "") };
    const [type, blob] = hostKey.split(" ");
    // An RSA key signs with SHA-2 today (RFC 8332); ask for the pinned key's type so the host shows it.
    const algorithms = type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [type];
    return { fingerprint: fingerprint(blob), algorithms };
}

type SshError = Error & { level?: string; code?: string };

/** The problem a failed connection shows, naming the key that fixes it. */
export function connectionProblem(a: HostAccess, err: SshError, seen: { presented?: string; keyFp: string }): string {
    const at = `${a.host}:${a.port}`;
    const reach = `check ${PROJECT}:vm.host and ${PROJECT}:vm.port, that sshd runs there, and that a firewall lets this machine in`;
    if (seen.presented !== undefined)
        return (
            `${PROJECT}:vm.hostKey does not match: ${at} presented the key ${seen.presented}, not the pinned ` +
            `${pinOf(a.hostKey as string).fingerprint}. If the host was rebuilt, pin its new key ` +
            `(ssh-keyscan -p ${a.port} ${a.host}); if not, do not connect: something else answers at that address`
        );
    if (err.level === "client-authentication")
        return (
            `${PROJECT}:vmPrivateKey is refused by ${a.user}@${at} (key ${seen.keyFp}): add its public key to ` +
            `~${a.user}/.ssh/authorized_keys on the host, or set ${PROJECT}:vm.user to the account that has it`
        );
    if (err.level === "client-timeout")
        return `${PROJECT}:vm.host: no SSH answer from ${at} within the check's time: ${reach}`;
    if (err.code === "ENOTFOUND" || err.code === "EAI_AGAIN")
        return `${PROJECT}:vm.host = "${a.host}" does not resolve (${err.code}): give an address or a name this machine resolves`;
    if (err.code !== undefined)
        return `${PROJECT}:vm.host: nothing accepts SSH connections at ${at} (${err.code}): ${reach}`;
    return `${PROJECT}:vm.host: connecting to ${at} as ${a.user} failed (${err.message}): ${reach}`;
}

export interface Inspection {
    /** What stops the stack, each naming its key; empty: the host is usable. */
    problems: string[];
    /** By absolute path: what is on the host (null: missing). */
    files: Record<string, ObservedFile | null>;
    /** The images the tenant's core and Keycloak run now (unset: none runs, or not asked). */
    running?: Partial<Record<Upgraded, string>>;
    /** The images asked about that the host's engine says it lacks. */
    missingImages: string[];
}

/** Exit status of the inspection when `sudo -n` is refused. */
export const NO_SUDO = 97;

/** Parses inspectFilesScript's output. */
export function parseInspection(stdout: string): Pick<Inspection, "files" | "running" | "missingImages"> {
    const files: Record<string, ObservedFile | null> = {};
    const running: Partial<Record<Upgraded, string>> = {};
    const missingImages: string[] = [];
    for (const line of stdout.split("\n").filter(Boolean)) {
        const [path, sha256, mode, mark] = line.split("\t");
        if (path === "running") {
            if (mode !== "-" && (UPGRADED as readonly string[]).includes(sha256)) running[sha256 as Upgraded] = mode;
        } else if (path === "image") {
            if (mode === "missing") missingImages.push(sha256);
        } else files[path] = sha256 === "-" ? null : { sha256, mode, ...(mark ? { mark } : {}) };
    }
    return { files, missingImages, ...(Object.keys(running).length > 0 ? { running } : {}) };
}

/** What a command run over SSH gave: its exit code and output, or the connection's problem. */
export type HostRun = { problem: string } | { code: number; stdout: string; stderr: string };

/**
 * Connects as the stack will (the pinned host key verified) and runs `remote` with `stdin` (secrets
 * travel there, never on the command line). A refused connection gives the problem, naming its key.
 */
export async function runOnHost(a: HostAccess, remote: string, stdin = "", timeoutMs = 15_000): Promise<HostRun> {
    const parsed = utils.parseKey(a.privateKey);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (key === undefined || key instanceof Error)
        return {
            problem:
                `${PROJECT}:vmPrivateKey is not a private key SSH can use (${key?.message ?? "no key found"}): set an unencrypted ` +
                `OpenSSH or PEM key with 'pulumi config set --secret ${PROJECT}:vmPrivateKey < ~/.ssh/id_ed25519'`,
        };
    const pin = a.hostKey === undefined ? undefined : pinOf(a.hostKey);
    const seen: { presented?: string; keyFp: string } = { keyFp: fingerprint(key.getPublicSSH().toString("base64")) };
    const client = new Client();
    return new Promise<HostRun>((resolve) => {
        let settled = false;
        const done = (result: HostRun) => {
            if (settled) return;
            settled = true;
            client.end();
            resolve(result);
        };
        client.on("error", (err: SshError) => done({ problem: connectionProblem(a, err, seen) }));
        client.on("ready", () => {
            client.exec(remote, (err, stream) => {
                if (err)
                    return done({
                        problem: `${PROJECT}:vm.host: ${a.user}@${a.host} cannot run a command (${err.message})`,
                    });
                let stdout = "";
                let stderr = "";
                stream.on("data", (d: Buffer) => (stdout += d.toString()));
                stream.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
                stream.on("close", (code: number) => done({ code, stdout, stderr }));
                stream.end(stdin);
            });
        });
        client.connect({
            host: a.host,
            port: a.port,
            username: a.user,
            privateKey: a.privateKey,
            readyTimeout: timeoutMs,
            ...(pin?.algorithms ? { algorithms: { serverHostKey: pin.algorithms as never } } : {}),
            hostVerifier: (blob: Buffer) => {
                if (pin === undefined) return true;
                const presented = fingerprint(blob.toString("base64"));
                if (presented === pin.fingerprint) return true;
                seen.presented = presented;
                return false;
            },
        });
    });
}

/** Runs `script` with bash as root (`sudo -n` when `a.sudo`); exit NO_SUDO when sudo is refused. */
export const asRoot = (a: Pick<HostAccess, "sudo">, script: string, args: string[] = []) => {
    const command = `bash -c ${shellQuote(script)} bash ${args.map(shellQuote).join(" ")}`.trim();
    return a.sudo ? `sudo -n true 2>/dev/null || exit ${NO_SUDO}; sudo -n ${command}` : command;
};

/** Connects as the stack will, checks sudo and reads the given files (as root when `sudo`). */
export async function inspectHost(
    a: HostAccess,
    files: { path: string; markPath: string }[] = [],
    timeoutMs = 15_000,
    project?: string,
    images: string[] = [],
): Promise<Inspection> {
    const fail = (problem: string): Inspection => ({ problems: [problem], files: {}, missingImages: [] });
    const run = await runOnHost(a, asRoot(a, inspectFilesScript(files, project, images)), "", timeoutMs);
    if ("problem" in run) return fail(run.problem);
    if (run.code === NO_SUDO) return fail(`${PROJECT}:vm.sudo: ${noSudo(a.user, a.host)}`);
    if (run.code !== 0)
        return fail(
            `${PROJECT}:vm.configDir: reading the configuration files on ${a.host} failed (exit ${run.code}): ${run.stderr.trim()}`,
        );
    return { problems: [], ...parseInspection(run.stdout) };
}
