// Tearing down a test's VM tenant on the SSH test host: what `destroy` would not remove.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { disposeEphemeralStack, EphemeralStack } from "./automation";
import type { Environment } from "../../localenv";
import { repoRoot, requireToolchain } from "../../toolchain/index";

/**
 * Destroys the stack with its protection lifted through the state (an `up` would start the project
 * again only to destroy it), removes containers an `up` that failed before its compose step finished
 * left behind with their networks (destroy knows nothing of them), and the data directory
 * retainOnDelete kept.
 */
export async function disposeVmTenant(env: Environment, e: EphemeralStack, project: string, dataDir: string) {
    execFileSync(requireToolchain(), ["state", "unprotect", "--all", "--yes", "--stack", e.stack.name], {
        cwd: repoRoot,
        env: { ...process.env, ...e.env },
        stdio: "pipe",
    });
    await disposeEphemeralStack(e);
    const docker = (...args: string[]) =>
        execFileSync("docker", args, { env: { ...process.env, DOCKER_HOST: env.docker.host }, encoding: "utf8" });
    const left = docker("ps", "-aq", "--filter", `label=com.docker.compose.project=${project}`)
        .split("\n")
        .filter(Boolean);
    if (left.length > 0) docker("rm", "-f", "-v", ...left);
    const networks = docker("network", "ls", "-q", "--filter", `label=com.docker.compose.project=${project}`)
        .split("\n")
        .filter(Boolean);
    if (networks.length > 0) docker("network", "rm", ...networks);
    fs.rmSync(dataDir, { recursive: true, force: true });
}

/** The ID of the running container of a compose project's service on the test host's engine ("" when none). */
export function composeContainer(dockerHost: string, project: string, service: string): string {
    const ids = execFileSync(
        "docker",
        [
            "ps",
            "-q",
            "--filter",
            `label=com.docker.compose.project=${project}`,
            "--filter",
            `label=com.docker.compose.service=${service}`,
        ],
        { encoding: "utf8", env: { ...process.env, DOCKER_HOST: dockerHost } },
    ).trim();
    return ids.split("\n")[0];
}
