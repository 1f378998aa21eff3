// Where the local environment keeps its state and which loopback ports it uses. Ports can be moved
// with environment variables when something else holds them.
import * as crypto from "node:crypto";
import * as path from "node:path";
import { cacheDir, readVersions, repoRoot, toolDir } from "../toolchain/index";

export interface EnvSettings {
    stateDir: string;
    keycloak: { home: string; port: number; managementPort: number; relativePath: string };
    kube: { cluster: string; port: number; binDir: string; kwokBinDir: string; etcdBinDir: string };
    ssh: { port: number; user: string };
    /** The S3 server: S3Proxy's jar (the toolchain's) and its port. */
    s3: { jar: string; port: number };
    node: {
        /**
         * Whether env:up starts it. Its firewall (kube-router's iptables chains) is the machine's, so one
         * real node per machine: on for the checkout's own environment, off for other state folders
         * (benchmarks), unless CYTOMINE_ENV_REAL_NODE=1 or 0 says otherwise.
         */
        enabled: boolean;
        /** The real node's name in the cluster (beside the KWOK nodes). */
        name: string;
        /** The bridge its pods attach to, created by the environment (never docker0 or cni0). */
        bridge: string;
        /** The pods' /24, away from the Docker pools (10.200-249) and the Service range (10.0.0.0/24). */
        subnet: string;
        /** The bridge's own address: the node's InternalIP, the pods' gateway. */
        address: string;
        /** The Service address of cluster DNS (kube-dns), inside the API server's Service range. */
        dnsServiceIp: string;
        /** kubelet, kube-proxy and pause (kubectl is the control plane's: kube.binDir). */
        binDir: string;
        coreDnsBinDir: string;
        kubeRouterBinDir: string;
        localPathBinDir: string;
        kubernetesVersion: string;
    };
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
        /** The toolchain's build of distribution's registry program, for the registry image. */
        registryBinDir: string;
        /** The VM target's task-pods program (components/vm/task-pods), for its image. */
        taskPodsBinDir: string;
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

/**
 * The real node's bridge and pod /24: 10.251.0.0/24 for the checkout's own environment, another
 * 10.251.N.0/24 for any other state folder, unless CYTOMINE_ENV_NODE_SUBNET names one.
 */
export function nodeNetwork(
    stateDir: string,
    defaultStateDir: string,
    env: NodeJS.ProcessEnv,
): { subnet: string; bridge: string; address: string } {
    const hash = crypto
        .createHash("sha256")
        .update(`node:${path.resolve(stateDir)}`)
        .digest();
    const third = path.resolve(stateDir) === path.resolve(defaultStateDir) ? 0 : 1 + (hash[0] % 250);
    const raw = env.CYTOMINE_ENV_NODE_SUBNET;
    const subnet = raw === undefined || raw === "" ? `10.251.${third}.0/24` : raw;
    // No leading zeros: "10.00.5.0/24" would pass a check of "0" and name the Service range.
    const m = /^10\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.0\/24$/.exec(subnet);
    if (!m || Number(m[1]) > 255 || Number(m[2]) > 255 || m[1] === "0" || (Number(m[1]) >= 200 && Number(m[1]) < 250)) {
        throw new Error(
            `CYTOMINE_ENV_NODE_SUBNET=${subnet} is not a private /24 of the form 10.N.M.0/24 outside 10.0.x.x (the Service range) and 10.200-249.x.x (the Docker pools)`,
        );
    }
    return {
        subnet,
        bridge: `cytnode${hash.toString("hex").slice(0, 8)}`,
        address: subnet.replace(/\.0\/24$/, ".1"),
    };
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
    const node = nodeNetwork(stateDir, defaultStateDir, env);
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
        s3: {
            jar: path.join(
                toolDir("s3proxy", v.S3PROXY_VERSION),
                `s3proxy-${v.S3PROXY_VERSION}-jar-with-dependencies.jar`,
            ),
            port: port(env, "CYTOMINE_ENV_S3_PORT", 18900),
        },
        node: {
            enabled:
                env.CYTOMINE_ENV_REAL_NODE === "1" ||
                (env.CYTOMINE_ENV_REAL_NODE !== "0" && path.resolve(stateDir) === path.resolve(defaultStateDir)),
            name: "cytomine-node",
            ...node,
            // kwokctl gives the API server --service-cluster-ip-range=10.0.0.0/24; .10 as kubeadm's.
            dnsServiceIp: "10.0.0.10",
            // The toolchain's own step for the node's programs (scripts/toolchain.sh, kubernetes-node).
            binDir: toolDir("kubernetes-node", v.KUBERNETES_VERSION),
            coreDnsBinDir: toolDir("coredns", v.COREDNS_VERSION),
            kubeRouterBinDir: toolDir("kube-router", v.KUBE_ROUTER_VERSION),
            localPathBinDir: toolDir("local-path-provisioner", v.LOCAL_PATH_PROVISIONER_VERSION),
            kubernetesVersion: v.KUBERNETES_VERSION,
        },
        docker: {
            subnet: subnet(env, network.subnet),
            bridge: network.bridge,
            defaultSocket: env.CYTOMINE_ENV_DOCKER_DEFAULT_SOCKET !== "0",
            cacheDir: path.join(cacheDir, "docker"),
            keycloakVersion: v.KEYCLOAK_VERSION,
            registryBinDir: toolDir("registry", v.DISTRIBUTION_VERSION),
            taskPodsBinDir: toolDir("task-pods", v.TASK_PODS_VERSION),
        },
    };
}
