// Where the local environment keeps its state and which loopback ports it uses. Ports can be moved
// with environment variables when something else holds them.
import * as crypto from "node:crypto";
import * as path from "node:path";
import { cacheDir, readVersions, repoRoot, toolDir } from "../toolchain";

export interface EnvSettings {
    stateDir: string;
    keycloak: { home: string; port: number; managementPort: number; relativePath: string };
    kube: { cluster: string; port: number; binDir: string; kwokBinDir: string; etcdBinDir: string };
    ssh: { port: number; user: string };
    docker: {
        /** Address pool of the daemon's bridge and of every network it creates (a /16). */
        subnet: string;
        /** The daemon's own bridge interface (never docker0, which a system daemon may own). */
        bridge: string;
        /** Whether to also serve /var/run/docker.sock when no other daemon does. */
        defaultSocket: boolean;
        /** Machine-wide cache of the stand-in images' root file systems. */
        cacheDir: string;
        /** The Keycloak distribution the keycloak image is made from. */
        keycloakVersion: string;
    };
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1024 || n > 65535) {
        throw new Error(`${name}=${raw} is not a port number between 1024 and 65535`);
    }
    return n;
}

/**
 * The docker piece's bridge name and /16 pool: the checkout's own environment gets 10.213.0.0/16;
 * any other state folder (a benchmark's, a second clone's) gets one derived from its path, so two
 * environments on one machine do not share a bridge or addresses. Only 10.200-249.x.x are used.
 */
export function dockerNetwork(stateDir: string, defaultStateDir: string): { subnet: string; bridge: string } {
    const hash = crypto.createHash("sha256").update(path.resolve(stateDir)).digest();
    const octet = path.resolve(stateDir) === path.resolve(defaultStateDir) ? 213 : 200 + (hash[0] % 50);
    // Interface names are at most 15 characters (IFNAMSIZ).
    return { subnet: `10.${octet}.0.0/16`, bridge: `cytenv${hash.toString("hex").slice(0, 8)}` };
}

function subnet(env: NodeJS.ProcessEnv, fallback: string): string {
    const raw = env.CYTOMINE_ENV_DOCKER_SUBNET;
    if (raw === undefined || raw === "") return fallback;
    if (!/^10\.(\d{1,3})\.0\.0\/16$/.test(raw) || Number(raw.split(".")[1]) > 255) {
        throw new Error(`CYTOMINE_ENV_DOCKER_SUBNET=${raw} is not a private /16 of the form 10.N.0.0/16`);
    }
    return raw;
}

export function envSettings(env: NodeJS.ProcessEnv = process.env): EnvSettings {
    const v = readVersions();
    const defaultStateDir = path.join(repoRoot, ".local", "env");
    const stateDir = env.CYTOMINE_ENV_DIR || defaultStateDir;
    const network = dockerNetwork(stateDir, defaultStateDir);
    return {
        stateDir,
        keycloak: {
            home: toolDir("keycloak", v.KEYCLOAK_VERSION),
            port: port(env, "CYTOMINE_ENV_KEYCLOAK_PORT", 18080),
            managementPort: port(env, "CYTOMINE_ENV_KEYCLOAK_MANAGEMENT_PORT", 19000),
            // Cytomine serves Keycloak under /iam; the local one does too, so URLs match production.
            relativePath: "/iam",
        },
        kube: {
            cluster: "cytomine-dev",
            port: port(env, "CYTOMINE_ENV_KUBE_PORT", 16443),
            binDir: toolDir("kubernetes", v.KUBERNETES_VERSION),
            kwokBinDir: toolDir("kwok", v.KWOK_VERSION),
            etcdBinDir: toolDir("etcd", v.ETCD_VERSION),
        },
        ssh: { port: port(env, "CYTOMINE_ENV_SSH_PORT", 2222), user: "cytomine-test" },
        docker: {
            subnet: subnet(env, network.subnet),
            bridge: network.bridge,
            defaultSocket: env.CYTOMINE_ENV_DOCKER_DEFAULT_SOCKET !== "0",
            cacheDir: path.join(cacheDir, "docker"),
            keycloakVersion: v.KEYCLOAK_VERSION,
        },
    };
}
