// The embedded local environment: Keycloak, a Kubernetes API with KWOK nodes and one real node, an SSH
// test host, a docker engine with stand-in images and an S3 server, on 127.0.0.1 (the real node's pods
// on a bridge of its own), state in .local/env (gitignored). This file is its API (its CLI:
// cli/env.ts); the parts' own exports are for this folder and its unit tests.
import { DockerInfo, dockerDown, dockerPurge, dockerStatus, dockerUp } from "./docker";
import {
    keycloakDown,
    keycloakInfo,
    KeycloakInfo,
    keycloakLog,
    keycloakReady,
    keycloakRunning,
    keycloakUp,
} from "./keycloak";
import {
    KUBE_COMPONENTS,
    kubeconfigPath,
    kubeDown,
    KubeInfo,
    kubePki,
    kubeReady,
    kubeUp,
    stoppedComponents,
} from "./kube";
import { nodeDown, NodeInfo, nodeStatus, nodeUp } from "./node";
import { EnvError } from "./proc";
import { s3CredentialsFile, s3Down, S3Info, s3Info, s3Log, s3Ready, s3Running, s3Up } from "./s3";
import { EnvSettings, envSettings } from "./settings";
import { sshDown, sshInfo, SshInfo, sshRunning, sshUp } from "./ssh";
import { EnvironmentLock, EnvironmentUse, lockEnvironment } from "./use";
export { lockRealNode } from "./use";

// The parts the tests and benchmarks drive beyond the whole: the settings, each piece's start and stop
// (fault cases stop one under a running stack), the stand-ins run outside an engine, the real node.
export { bridgeAddress, dockerDown, dockerFiles, isolationRule } from "./docker";
export { keycloakDown, KeycloakInfo, keycloakReady, keycloakRunning, keycloakUp } from "./keycloak";
export { componentPidFile, etcdDataDir, kubeApiServerRestart, kubeDown, kubePki, kubeReady, kubeUp } from "./kube";
export {
    HOST_FOLDERS,
    NODE_PROCESSES,
    nodeDown,
    nodeFiles,
    nodeS3Endpoint,
    nodeUp,
    REAL_NODE_LABEL,
    REAL_NODE_STORAGE_CLASS,
    REAL_NODE_TAINT,
    stoppedNodeProcesses,
    TOUCHED_SYSCTLS,
    trustRegistry,
} from "./node";
export { EnvError, freePort } from "./proc";
export { EnvSettings, envSettings } from "./settings";
export { sshDown, SshInfo, sshUp } from "./ssh";
export { removeStandinRoots, RunningStandin, runStandin, StandinRoot, standinRoot, startStandin } from "./standin-run";

export interface PieceInfos {
    keycloak: KeycloakInfo;
    kube: KubeInfo;
    ssh: SshInfo;
    docker: DockerInfo;
    s3: S3Info;
}

export interface Environment extends PieceInfos {
    /** The real node, or why it did not start (the rest of the environment runs without it). */
    node: { ready: true; info: NodeInfo } | { ready: false; problem: string };
}

/** The real node's info; throws, with the reason it is not running, when it is not. */
export function requireRealNode(env: Environment): NodeInfo {
    if (!env.node.ready)
        throw new EnvError(
            `the real node is not running: ${env.node.problem}`,
            "fix the cause above and run 'npm run env:up'",
        );
    return env.node.info;
}

interface Piece<T> {
    name: string;
    up: (s: EnvSettings) => Promise<T>;
    down: (s: EnvSettings) => Promise<boolean>;
}

const pieces = {
    keycloak: { name: "Keycloak", up: keycloakUp, down: keycloakDown } as Piece<KeycloakInfo>,
    kube: { name: "Kubernetes API", up: kubeUp, down: (s: EnvSettings) => kubeDown(s) } as Piece<KubeInfo>,
    ssh: { name: "SSH test host", up: sshUp, down: sshDown } as Piece<SshInfo>,
    docker: { name: "Docker engine", up: dockerUp, down: (s: EnvSettings) => dockerDown(s) } as Piece<DockerInfo>,
    s3: { name: "S3 server", up: s3Up, down: (s: EnvSettings) => s3Down(s) } as Piece<S3Info>,
};

export type PieceKey = keyof PieceInfos;
export const PIECE_KEYS = Object.keys(pieces) as PieceKey[];

/**
 * Starts the pieces KEYS (reusing running ones) in parallel. When one fails, the pieces this call
 * started are stopped again, so nothing is left half-running, and the first error is thrown.
 */
export async function ensurePieces<K extends PieceKey>(
    keys: readonly K[],
    s: EnvSettings = envSettings(),
): Promise<Pick<PieceInfos, K>> {
    const before = await environmentStatus(s);
    const results = await Promise.allSettled(keys.map((key) => pieces[key].up(s)));
    const failed = results.flatMap((r, i) => (r.status === "rejected" ? [{ key: keys[i], error: r.reason }] : []));
    if (failed.length > 0) {
        await Promise.all(
            keys.filter((key) => !before[key].ready).map((key) => pieces[key].down(s).catch(() => false)),
        );
        const messages = failed.map(
            (f) => `${pieces[f.key].name}: ${f.error instanceof Error ? f.error.message : String(f.error)}`,
        );
        throw new EnvError(
            `the local environment did not start:\n${messages.join("\n")}`,
            "fix the cause above and run 'npm run env:up' again",
        );
    }
    return Object.fromEntries(
        keys.map((key, i) => [key, (results[i] as PromiseFulfilledResult<unknown>).value]),
    ) as Pick<PieceInfos, K>;
}

/** Starts every piece, then the real node where it is on. */
export async function ensureEnvironment(s: EnvSettings = envSettings()): Promise<Environment> {
    const started = await ensurePieces(PIECE_KEYS, s);
    return { ...started, node: await startNode(s, started.kube, started.docker) };
}

/**
 * The real node joins the running cluster. It needs more of the machine than the rest (root's
 * cgroups, a bridge, nftables), so when it cannot start, the environment runs without it and says why.
 */
async function startNode(s: EnvSettings, kube: KubeInfo, docker: DockerInfo): Promise<Environment["node"]> {
    if (!s.node.enabled) {
        return {
            ready: false,
            problem: `off for this state folder (${s.stateDir}); CYTOMINE_ENV_REAL_NODE=1 starts it (one real node per machine)`,
        };
    }
    try {
        return { ready: true, info: await nodeUp(s, nodeDeps(s, kube, docker)) };
    } catch (e) {
        return { ready: false, problem: e instanceof Error ? e.message : String(e) };
    }
}

function nodeDeps(s: EnvSettings, kube: KubeInfo, docker: DockerInfo) {
    return {
        kubeconfig: kube.kubeconfig,
        pki: kubePki(s),
        server: kube.server,
        kubeApiPort: s.kube.port,
        dockerHost: docker.host,
        images: docker.images,
    };
}

/** This process's lock on the environment, once it took one. */
let held: { use: EnvironmentUse; lock: EnvironmentLock } | undefined;

/**
 * The environment for a suite, shared with the suites that run beside it (use.ts), started first if it
 * is not running. A start runs alone, so two suites that find it down do not both start it. The
 * shared lock is then held until this process ends; later calls only check that the environment runs.
 */
export async function useEnvironment(s: EnvSettings = envSettings()): Promise<Environment> {
    if (held) return ensureEnvironment(s);
    const status = await environmentStatus(s);
    // The real node is not required: a suite that needs it asks requireRealNode.
    if (!Object.keys(pieces).every((key) => status[key as keyof typeof pieces].ready)) {
        const start = await lockEnvironment("exclusive", s);
        try {
            await ensureEnvironment(s);
        } finally {
            start.release();
        }
    }
    held = { use: "shared", lock: await lockEnvironment("shared", s) };
    return ensureEnvironment(s);
}

/**
 * Runs `fn`, which stops, kills or restarts a piece of the environment, while this process holds the
 * environment alone: it waits for the suites that share it to finish, and they wait while it runs. Then
 * every piece runs again (whatever `fn` left stopped) and this process shares it again, as before.
 */
export async function withEnvironmentAlone<T>(fn: () => Promise<T>, s: EnvSettings = envSettings()): Promise<T> {
    if (held?.use === "exclusive") return fn();
    const before = held;
    before?.lock.release();
    held = { use: "exclusive", lock: await lockEnvironment("exclusive", s) };
    let failed = false;
    try {
        return await fn();
    } catch (e) {
        failed = true;
        throw e;
    } finally {
        await ensureEnvironment(s).catch((e: unknown) => {
            if (!failed) throw e;
        });
        held.lock.release();
        held = before && { use: "shared", lock: await lockEnvironment("shared", s) };
    }
}

export async function stopEnvironment(s: EnvSettings = envSettings(), purge = false): Promise<string[]> {
    const stopped: string[] = [];
    // The node first: its kubelet and proxies talk to the API server, and its images come from docker.
    if (await nodeDown(s, purge)) stopped.push("real node");
    if (await keycloakDown(s)) stopped.push(pieces.keycloak.name);
    if (await kubeDown(s, purge)) stopped.push(pieces.kube.name);
    if (await sshDown(s)) stopped.push(pieces.ssh.name);
    if (await dockerDown(s)) stopped.push(pieces.docker.name);
    if (await s3Down(s, purge)) stopped.push(pieces.s3.name);
    if (purge) await dockerPurge(s);
    return stopped;
}

export interface PieceStatus {
    ready: boolean;
    detail: string;
}

export async function environmentStatus(
    s: EnvSettings = envSettings(),
): Promise<Record<keyof typeof pieces | "node", PieceStatus>> {
    const kcRunning = keycloakRunning(s);
    const kcReady = kcRunning && (await keycloakReady(s));
    const kubeOk = await kubeReady(s);
    const sshOk = sshRunning(s);
    const docker = await dockerStatus(s);
    const s3Started = s3Running(s);
    const s3Ok = await s3Ready(s);
    return {
        keycloak: {
            ready: kcReady,
            detail: kcReady
                ? `ready at ${keycloakInfo(s).url} (admin password: ${s.stateDir}/keycloak/admin-password)`
                : kcRunning
                  ? `running but not ready; log: ${keycloakLog(s)}`
                  : `not running; 'npm run env:up' starts it (log: ${keycloakLog(s)})`,
        },
        kube: {
            ready: kubeOk,
            detail: kubeOk ? `ready, kubeconfig ${kubeconfigPath(s)}` : kubeProblem(stoppedComponents(s)),
        },
        ssh: {
            ready: sshOk,
            detail: sshOk
                ? `ready at ${sshInfo(s).user}@127.0.0.1:${s.ssh.port} (key ${sshInfo(s).privateKeyPath})`
                : "not running; 'npm run env:up' starts it",
        },
        docker,
        s3: {
            ready: s3Ok,
            detail: s3Ok
                ? `ready at ${s3Info(s).endpoint} (access key in ${s3CredentialsFile(s)}, buckets in ${s3Info(s).dataDir})`
                : s3Started
                  ? `running, but not answering on port ${s.s3.port} (or started with another configuration); 'npm run env:up' restarts it (log: ${s3Log(s)})`
                  : `not running; 'npm run env:up' starts it (log: ${s3Log(s)})`,
        },
        node: kubeOk
            ? await nodeStatus(s, kubeconfigPath(s))
            : { ready: false, detail: "waits for the Kubernetes API" },
    };
}

/** What `env:status` calls each piece. */
export const pieceName = (key: keyof typeof pieces | "node") => (key === "node" ? "Real node" : pieces[key].name);

/** Why the cluster is not ready, and the fix. */
function kubeProblem(stopped: string[]): string {
    if (stopped.length === KUBE_COMPONENTS.length) return "not running; 'npm run env:up' starts it";
    if (stopped.length > 0) return `${stopped.join(", ")} not running; 'npm run env:up' starts what is missing`;
    return "running, but the API server does not answer /readyz; 'npm run env:up' waits for it";
}
