// Where the local environment keeps its state and which loopback ports it uses. Ports can be moved
// with environment variables when something else holds them.
import * as path from "node:path";
import { readVersions, repoRoot, toolDir } from "../toolchain";

export interface EnvSettings {
    stateDir: string;
    keycloak: { home: string; port: number; managementPort: number; relativePath: string };
    kube: { cluster: string; port: number; binDir: string; kwokBinDir: string; etcdBinDir: string };
    ssh: { port: number; user: string };
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

export function envSettings(env: NodeJS.ProcessEnv = process.env): EnvSettings {
    const v = readVersions();
    return {
        stateDir: env.CYTOMINE_ENV_DIR || path.join(repoRoot, ".local", "env"),
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
    };
}
