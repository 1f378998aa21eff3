// Runs a script as root on the local environment's SSH test host in one session, as the VM families'
// floors do their work by hand: the script travels on stdin (never on a command line).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Environment } from "../../localenv";

const run = promisify(execFile);

export async function overSsh(env: Environment, script: string, timeoutMs = 1_800_000): Promise<string> {
    const ssh = env.ssh;
    const child = run(
        "ssh",
        [
            ...["-i", ssh.privateKeyPath, "-p", String(ssh.port), "-o", "BatchMode=yes"],
            ...["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"],
            `${ssh.user}@${ssh.host}`,
            "sudo -n bash -s",
        ],
        { timeout: timeoutMs, maxBuffer: 16 * 2 ** 20 },
    );
    child.child.stdin?.end(script);
    return (await child).stdout;
}
