// Tearing down a test's VM tenant on the SSH test host: what `destroy` would not remove.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
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
    // With task-pods' task containers, which are not compose's.
    const tasks = docker("ps", "-aq", "--filter", `network=${project}-tasks`).split("\n").filter(Boolean);
    if (left.length + tasks.length > 0) docker("rm", "-f", "-v", ...new Set([...left, ...tasks]));
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

/**
 * A loopback port of this machine forwarded to a compose service, as `kubectl port-forward` gives one
 * for a pod: an nginx container (the proxy's image) on the project's edge and internal networks.
 * `scheme` https for a service that serves TLS (nginx does not verify the certificate).
 */
export function composeForward(
    dockerHost: string,
    project: string,
    target: { service: string; port: number; scheme?: "http" | "https"; image: string },
    dir: string,
): { port: number; stop: () => void } {
    const docker = (...args: string[]) =>
        execFileSync("docker", args, { env: { ...process.env, DOCKER_HOST: dockerHost }, encoding: "utf8" }).trim();
    const conf = path.join(dir, `forward-${target.service}.conf`);
    fs.writeFileSync(
        conf,
        [
            "worker_processes 1;",
            "pid /tmp/nginx.pid;",
            "events { worker_connections 64; }",
            "http {",
            "    resolver 127.0.0.11 valid=10s ipv6=off;",
            "    client_max_body_size 0;",
            "    server {",
            "        listen 8080;",
            `        location / { set $upstream ${target.scheme ?? "http"}://${target.service}:${target.port}; proxy_pass $upstream; }`,
            "    }",
            "}",
            "",
        ].join("\n"),
        { mode: 0o644 },
    );
    const id = docker(
        "run",
        "-d",
        "--rm",
        "--network",
        `${project}_edge`,
        "-p",
        "127.0.0.1::8080",
        "-v",
        `${conf}:/etc/nginx/nginx.conf:ro`,
        target.image,
    );
    docker("network", "connect", `${project}_internal`, id);
    const port = Number(/:(\d+)$/.exec(docker("port", id, "8080/tcp").split("\n")[0])?.[1]);
    return { port, stop: () => void docker("rm", "-f", id) };
}
