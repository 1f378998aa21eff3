// An SSH test host for the VM path: Debian's sshd on 127.0.0.1 with its own config, a throwaway key
// pair, and a non-root user with password-less sudo, so @pulumi/command remote commands run for real;
// a second user without sudo shows what a host that refuses sudo does to the stack.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { EnvError, LOOPBACK, livePid, requireFreePort, startDetached, stopPidFile, waitUntil } from "./proc";
import { EnvSettings } from "./settings";

export interface SshInfo {
    host: string;
    port: number;
    user: string;
    /** Logs in with the same key but may not sudo. */
    userWithoutSudo: string;
    privateKeyPath: string;
}

const SSHD = "/usr/sbin/sshd";
/** Debian's cron: a VM's scheduler, which runs the tenants' backups (components/vm/backups.ts). */
const CRON = "/usr/sbin/cron";
const MARKER = "sshd";
/**
 * sshd reads AuthorizedKeysFile as the user logging in (sshd_config(5)), so the file must not live in
 * the checkout, which may sit under a folder the test user cannot enter (a 0700 temporary folder,
 * /root). Root-owned files here, one folder per port, are readable by the user wherever the
 * checkout is, and pass sshd's StrictModes checks.
 */
export const AUTHORIZED_KEYS_ROOT = "/etc/ssh/cytomine-env";

function files(s: EnvSettings) {
    const dir = path.join(s.stateDir, "ssh");
    return {
        dir,
        config: path.join(dir, "sshd_config"),
        hostKey: path.join(dir, "host_ed25519_key"),
        clientKey: path.join(dir, "client_ed25519_key"),
        authorizedKeysDir: path.join(AUTHORIZED_KEYS_ROOT, String(s.ssh.port)),
        authorizedKeys: path.join(AUTHORIZED_KEYS_ROOT, String(s.ssh.port), "authorized_keys"),
        pid: path.join(dir, "sshd.pid"),
        log: path.join(dir, "sshd.log"),
        cronPid: path.join(dir, "cron.pid"),
        cronLog: path.join(dir, "cron.log"),
    };
}

/** The test host's user without sudo. */
const withoutSudo = (s: EnvSettings) => `${s.ssh.user}-nosudo`;

/** The sshd configuration: loopback only, key authentication for the test users only. */
export function sshdConfig(s: EnvSettings): string {
    const f = files(s);
    return [
        `Port ${s.ssh.port}`,
        `ListenAddress ${LOOPBACK}`,
        `HostKey ${f.hostKey}`,
        `AuthorizedKeysFile ${f.authorizedKeys}`,
        `AllowUsers ${s.ssh.user} ${withoutSudo(s)}`,
        "PermitRootLogin no",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "",
    ].join("\n");
}

function sh(cmd: string, args: string[]): void {
    execFileSync(cmd, args, { stdio: "pipe" });
}

function ensureUser(user: string, sudo: boolean): void {
    try {
        sh("id", ["-u", user]);
    } catch {
        sh("useradd", ["--create-home", "--shell", "/bin/bash", user]);
    }
    // useradd leaves the account locked ("!"), which sshd refuses without PAM; "*" means no
    // password can ever match, yet the account is usable with a key.
    sh("usermod", ["--password", "*", user]);
    const sudoers = `/etc/sudoers.d/${user}`;
    if (!sudo) fs.rmSync(sudoers, { force: true });
    else if (!fs.existsSync(sudoers)) fs.writeFileSync(sudoers, `${user} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 });
}

function bannerReady(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect({ host: LOOPBACK, port });
        socket.setTimeout(2000);
        socket.once("data", (d) => {
            socket.destroy();
            resolve(d.toString().startsWith("SSH-2.0"));
        });
        socket.once("timeout", () => (socket.destroy(), resolve(false)));
        socket.once("error", () => resolve(false));
    });
}

export function sshInfo(s: EnvSettings): SshInfo {
    return {
        host: LOOPBACK,
        port: s.ssh.port,
        user: s.ssh.user,
        userWithoutSudo: withoutSudo(s),
        privateKeyPath: files(s).clientKey,
    };
}

export function sshRunning(s: EnvSettings): boolean {
    return livePid(files(s).pid, MARKER) !== undefined;
}

export async function sshUp(s: EnvSettings): Promise<SshInfo> {
    const f = files(s);
    if (sshRunning(s) && (await bannerReady(s.ssh.port))) return sshInfo(s);
    if (!fs.existsSync(SSHD)) {
        throw new EnvError(
            `${SSHD} not found`,
            "run 'npm run setup' (it installs openssh-server and sudo) or 'apt-get install openssh-server sudo'",
        );
    }
    if (process.getuid?.() !== 0) {
        throw new EnvError(
            "the SSH test host needs root to create its user and start sshd",
            "run the environment as root",
        );
    }
    await requireFreePort(s.ssh.port, "the SSH test host", "CYTOMINE_ENV_SSH_PORT");
    fs.mkdirSync(f.dir, { recursive: true });
    fs.mkdirSync("/run/sshd", { recursive: true }); // sshd's privilege-separation directory
    if (!fs.existsSync(f.hostKey)) sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", f.hostKey]);
    if (!fs.existsSync(f.clientKey))
        sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "cytomine-env", "-f", f.clientKey]);
    fs.mkdirSync(f.authorizedKeysDir, { recursive: true, mode: 0o755 });
    fs.chmodSync(AUTHORIZED_KEYS_ROOT, 0o755);
    fs.chmodSync(f.authorizedKeysDir, 0o755);
    fs.copyFileSync(`${f.clientKey}.pub`, f.authorizedKeys);
    fs.chmodSync(f.authorizedKeys, 0o644);
    fs.writeFileSync(f.config, sshdConfig(s));
    ensureUser(s.ssh.user, true);
    ensureUser(withoutSudo(s), false);
    fs.writeFileSync(f.log, "");
    // -D: stay in the foreground so the recorded pid is sshd's own; -e: log to stderr (the log file).
    startDetached({ cmd: SSHD, args: ["-D", "-e", "-f", f.config], log: f.log, pidFile: f.pid });
    await waitUntil(() => bannerReady(s.ssh.port), {
        timeoutMs: 20_000,
        what: "sshd",
        log: f.log,
        isRunning: () => sshRunning(s),
        fix: `check ${f.config} with '${SSHD} -t -f ${f.config}'`,
    });
    cronUp(s);
    return sshInfo(s);
}

/**
 * The host's cron daemon, as a VM runs one: started (in the foreground, -f, so the recorded pid is
 * its own) unless one already runs on this machine, which then serves (cron is one per machine).
 */
function cronUp(s: EnvSettings): void {
    const f = files(s);
    if (livePid(f.cronPid, "cron") !== undefined) return;
    if (!fs.existsSync(CRON))
        throw new EnvError(`${CRON} not found`, "run 'npm run setup' (it installs cron) or 'apt-get install cron'");
    try {
        execFileSync("pgrep", ["-x", "cron"], { stdio: "ignore" });
        return;
    } catch {
        // none runs: start ours
    }
    startDetached({ cmd: CRON, args: ["-f"], log: f.cronLog, pidFile: f.cronPid });
}

export async function sshDown(s: EnvSettings): Promise<boolean> {
    await stopPidFile(files(s).cronPid, "cron");
    const stopped = await stopPidFile(files(s).pid, MARKER);
    if (stopped) fs.rmSync(files(s).authorizedKeysDir, { recursive: true, force: true });
    return stopped;
}
