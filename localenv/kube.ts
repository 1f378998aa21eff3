// A real kube-apiserver (with etcd, controller-manager and scheduler) on 127.0.0.1, with KWOK's fake
// nodes so that Deployments, StatefulSets and Jobs reach Ready/Complete. Driven by kwokctl's binary
// runtime with the toolchain's locally built binaries; admission (Pod Security) and authorization on.
import { execFile } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { EnvError, LOOPBACK, livePid, requireFreePort, startDetached, stopPidFile, tail, waitUntil } from "./proc";
import { EnvSettings } from "./settings";

const run = promisify(execFile);

export interface KubeInfo {
    kubeconfig: string;
    server: string;
}

function files(s: EnvSettings) {
    const dir = path.join(s.stateDir, "kube");
    return {
        dir,
        workdir: path.join(dir, "kwok"),
        config: path.join(dir, "kwokctl.yaml"),
        /** The API server's EncryptionConfiguration, with the key generated at the first env:up. */
        encryption: path.join(dir, "encryption-config.yaml"),
        kubeconfig: path.join(dir, "kubeconfig"),
        log: path.join(dir, "kwokctl.log"),
    };
}

/**
 * The API server's EncryptionConfiguration: Secrets are written to etcd encrypted with KEY
 * (secretbox, XSalsa20-Poly1305), read back with it, and plain ones still read ("identity" last).
 * https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/
 */
export function encryptionConfig(key: Buffer): object {
    return {
        apiVersion: "apiserver.config.k8s.io/v1",
        kind: "EncryptionConfiguration",
        resources: [
            {
                resources: ["secrets"],
                providers: [
                    { secretbox: { keys: [{ name: "env-1", secret: key.toString("base64") }] } },
                    { identity: {} },
                ],
            },
        ],
    };
}

/** Writes the encryption configuration once; its key is kept like the environment's other secrets. */
function ensureEncryptionConfig(s: EnvSettings): string {
    const file = files(s).encryption;
    if (!fs.existsSync(file)) {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, stringify(encryptionConfig(crypto.randomBytes(32))), { mode: 0o600 });
    }
    return file;
}

/** The kwokctl configuration: local binaries, loopback only, admission and authorization on. */
export function kwokctlConfig(s: EnvSettings): object {
    const pki = path.join(clusterDir(s), "pki");
    const bin = (dir: string, name: string) => path.join(dir, name);
    return {
        apiVersion: "config.kwok.x-k8s.io/v1alpha1",
        kind: "KwokctlConfiguration",
        options: {
            runtime: "binary",
            bindAddress: LOOPBACK,
            kubeApiserverPort: s.kube.port,
            securePort: true,
            kubeAuthorization: true,
            kubeAdmission: true,
            kubeApiserverBinary: bin(s.kube.binDir, "kube-apiserver"),
            kubeControllerManagerBinary: bin(s.kube.binDir, "kube-controller-manager"),
            kubeSchedulerBinary: bin(s.kube.binDir, "kube-scheduler"),
            kubectlBinary: bin(s.kube.binDir, "kubectl"),
            kwokControllerBinary: bin(s.kube.kwokBinDir, "kwok"),
            etcdBinary: bin(s.kube.etcdBinDir, "etcd"),
        },
        // Kubernetes' own host-path provisioner (meant for single-machine clusters) binds volume
        // claims, so StatefulSets with volumeClaimTemplates get scheduled on the KWOK nodes. With
        // leader election on, the controller manager and the scheduler exit when the API server is
        // away longer than their lease (and nothing here restarts them); one instance of each needs
        // no election, and then rides out an API server restart.
        //
        // The API server advertises the real node's bridge address as its endpoint (see below), encrypts
        // Secrets at rest, reaches the real node's kubelet (localenv/node.ts)
        // at its InternalIP (not by a host name the machine cannot resolve) with a client certificate
        // of the cluster's CA, as kubeadm gives it. The KWOK controller keeps to the nodes kwokctl
        // creates (annotated kwok.x-k8s.io/node=fake), instead of taking over the real node's lease.
        componentsPatches: [
            {
                name: "kube-apiserver",
                extraArgs: [
                    { key: "encryption-provider-config", value: files(s).encryption },
                    { key: "kubelet-client-certificate", value: path.join(pki, "admin.crt") },
                    { key: "kubelet-client-key", value: path.join(pki, "admin.key") },
                    { key: "kubelet-preferred-address-types", value: "InternalIP" },
                    // The `kubernetes` Service's endpoint: where in-cluster clients (the app engine) go.
                    // The real node's pods reach it through the relay on its bridge, at this same port
                    // (localenv/node.ts apiRelay); nothing else reads it.
                    { key: "advertise-address", value: s.node.address },
                ],
            },
            {
                name: "kwok-controller",
                extraArgs: [
                    { key: "manage-all-nodes", value: "false" },
                    { key: "manage-nodes-with-annotation-selector", value: "kwok.x-k8s.io/node=fake" },
                ],
            },
            {
                name: "kube-controller-manager",
                extraArgs: [
                    { key: "enable-hostpath-provisioner", value: "true" },
                    { key: "leader-elect", value: "false" },
                ],
            },
            { name: "kube-scheduler", extraArgs: [{ key: "leader-elect", value: "false" }] },
        ],
    };
}

/** The cluster's default StorageClass, served by the host-path provisioner. */
export const defaultStorageClass = {
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    metadata: { name: "standard", annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
    provisioner: "kubernetes.io/host-path",
    reclaimPolicy: "Delete",
    volumeBindingMode: "Immediate",
};

function kwokctl(s: EnvSettings, args: string[], timeoutMs = 600_000) {
    const f = files(s);
    return run(path.join(s.kube.kwokBinDir, "kwokctl"), ["--name", s.kube.cluster, ...args], {
        env: { ...process.env, KWOK_WORKDIR: f.workdir },
        timeout: timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
    });
}

/** kubectl apply of one object (idempotent), through the generated kubeconfig. */
async function applyManifest(s: EnvSettings, kubeconfig: string, manifest: object): Promise<void> {
    await new Promise<void>((resolve, reject) => {
        const child = execFile(
            path.join(s.kube.binDir, "kubectl"),
            ["--kubeconfig", kubeconfig, "apply", "-f", "-"],
            { timeout: 60_000 },
            (err) => (err ? reject(err) : resolve()),
        );
        child.stdin?.end(stringify(manifest));
    });
}

/** The processes kwokctl runs for the cluster, each with a pid file under clusters/<name>/pids. */
export const KUBE_COMPONENTS = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
] as const;

/**
 * The cluster's components whose process is not running. The API server can answer while, say, the
 * KWOK controller has died, and then no pod ever becomes Ready: a check of /readyz alone misses it.
 */
export function stoppedComponents(s: EnvSettings): string[] {
    return KUBE_COMPONENTS.filter((c) => livePid(componentPidFile(s, c), c) === undefined);
}

/** kwokctl's folder of the cluster: its binaries, etcd data, pki, pids and logs. */
function clusterDir(s: EnvSettings): string {
    return path.join(files(s).workdir, "clusters", s.kube.cluster);
}

/** Where kwokctl records a component's process id. */
export function componentPidFile(s: EnvSettings, component: (typeof KUBE_COMPONENTS)[number]): string {
    return path.join(clusterDir(s), "pids", `${component}.pid`);
}

/** True when the API server answers /readyz through the generated kubeconfig. */
async function apiReady(s: EnvSettings): Promise<boolean> {
    const f = files(s);
    if (!fs.existsSync(f.kubeconfig)) return false;
    try {
        const { stdout } = await run(
            path.join(s.kube.binDir, "kubectl"),
            ["--kubeconfig", f.kubeconfig, "get", "--raw", "/readyz", "--request-timeout=5s"],
            { timeout: 10_000 },
        );
        return stdout.trim() === "ok";
    } catch {
        return false;
    }
}

/** True when every component of the cluster runs and the API server answers /readyz. */
export async function kubeReady(s: EnvSettings): Promise<boolean> {
    return stoppedComponents(s).length === 0 && (await apiReady(s));
}

/**
 * Deletes the KWOK nodes' leases while the API server still serves. A KWOK controller cannot take
 * over the leases its predecessor renewed until they expire (200 s, "lease already exists" in its
 * log), and until then it reports no pod Ready; without leases it creates fresh ones at once.
 */
async function releaseNodeLeases(s: EnvSettings): Promise<void> {
    await run(
        path.join(s.kube.binDir, "kubectl"),
        ["--kubeconfig", files(s).kubeconfig, "delete", "lease", "--all", "--namespace", "kube-node-lease"],
        { timeout: 30_000 },
    );
}

/**
 * kwokctl keeps the configuration a cluster was created with; a cluster made by an older checkout
 * (without encryption at rest, say) would start as it was. Refused, with the fix.
 */
function requireCurrentConfig(s: EnvSettings): void {
    const f = files(s);
    const saved = fs.existsSync(f.config) ? fs.readFileSync(f.config, "utf8") : "";
    if (saved !== stringify(kwokctlConfig(s))) {
        throw new EnvError(
            `the local cluster was created with another configuration than this checkout's (${f.config})`,
            "run 'npm run env:down -- --purge' (it deletes the local cluster and its data) and 'npm run env:up'",
        );
    }
}

function clusterExists(s: EnvSettings): boolean {
    return fs.existsSync(clusterDir(s));
}

export async function kubeUp(s: EnvSettings): Promise<KubeInfo> {
    const f = files(s);
    const info = { kubeconfig: f.kubeconfig, server: `https://${LOOPBACK}:${s.kube.port}` };
    const stoppedBefore = stoppedComponents(s);
    // No API server process, no answer: skip the request.
    const apiBefore = !stoppedBefore.includes("kube-apiserver") && (await apiReady(s));
    if (stoppedBefore.length === 0 && apiBefore) return info;
    for (const b of ["kube-apiserver", "kubectl"]) {
        if (!fs.existsSync(path.join(s.kube.binDir, b))) {
            throw new EnvError(
                `${b} is not installed in ${s.kube.binDir}`,
                "run 'npm run setup' (scripts/toolchain.sh env)",
            );
        }
    }
    fs.mkdirSync(f.dir, { recursive: true });
    const log = fs.openSync(f.log, "a");
    const record = (out: { stdout: string; stderr: string }) => fs.writeSync(log, out.stdout + out.stderr);
    if (clusterExists(s)) requireCurrentConfig(s);
    try {
        ensureEncryptionConfig(s);
        if (clusterExists(s)) {
            // Stopped (after a reboot or env:down), or some of its processes died: kwokctl starts the
            // ones that do not run, with the same cluster and etcd data.
            if (stoppedBefore.includes("kwok-controller") && apiBefore) await releaseNodeLeases(s);
            record(await kwokctl(s, ["start", "cluster", "--wait", "3m"]));
        } else {
            await requireFreePort(s.kube.port, "kube-apiserver", "CYTOMINE_ENV_KUBE_PORT");
            fs.writeFileSync(f.config, stringify(kwokctlConfig(s)));
            record(await kwokctl(s, ["create", "cluster", "--config", f.config, "--wait", "3m"]));
            // KWOK's default nodes declare no ephemeral storage; pods that request some (as every
            // Cytomine container does) would never be scheduled.
            record(
                await kwokctl(s, [
                    "scale",
                    "node",
                    "--replicas",
                    "2",
                    "--param",
                    '.allocatable["ephemeral-storage"]="200Gi"',
                ]),
            );
        }
        const { stdout } = await kwokctl(s, ["get", "kubeconfig"]);
        fs.writeFileSync(f.kubeconfig, stdout, { mode: 0o600 });
        await applyManifest(s, f.kubeconfig, defaultStorageClass);
    } catch (e) {
        const err = e as { stdout?: string; stderr?: string; message: string };
        fs.writeSync(log, `${err.stdout ?? ""}${err.stderr ?? ""}`);
        throw new EnvError(
            `the local Kubernetes API did not start: ${err.message.split("\n")[0]}\nLast lines of ${f.log}:\n${tail(f.log)}`,
            `read the logs under ${path.join(clusterDir(s), "logs")}; 'npm run env:down -- --purge' starts over`,
        );
    } finally {
        fs.closeSync(log);
    }
    const stopped = stoppedComponents(s);
    if (stopped.length > 0 || !(await apiReady(s))) {
        throw new EnvError(
            stopped.length > 0
                ? `the local cluster started without ${stopped.join(", ")}`
                : "kube-apiserver started but does not answer /readyz",
            `read the logs under ${path.join(clusterDir(s), "logs")}; 'npm run env:down -- --purge' starts over`,
        );
    }
    return info;
}

/** Stops the cluster's processes, keeping etcd's data; with purge, deletes the cluster. */
export async function kubeDown(s: EnvSettings, purge = false): Promise<boolean> {
    if (!clusterExists(s)) return false;
    // The next start then does not wait out the leases of the KWOK controller stopped here (stopped
    // first: while it runs, it renews a deleted lease at once).
    if (!purge && (await apiReady(s))) {
        await stopPidFile(componentPidFile(s, "kwok-controller"), "kwok-controller");
        await releaseNodeLeases(s).catch(() => undefined);
    }
    await kwokctl(s, [purge ? "delete" : "stop", "cluster"]).catch(() => undefined);
    if (purge) fs.rmSync(files(s).dir, { recursive: true, force: true });
    return true;
}

/** etcd's data folder (its WAL and database files). */
export function etcdDataDir(s: EnvSettings): string {
    return path.join(clusterDir(s), "etcd");
}

/** The cluster's CA and admin credentials (ca.crt, ca.key, admin.crt, admin.key). */
export function kubePki(s: EnvSettings): string {
    return path.join(clusterDir(s), "pki");
}

export function kubeconfigPath(s: EnvSettings): string {
    return files(s).kubeconfig;
}

/**
 * Restarts the cluster's kube-apiserver alone, as kwokctl started it (same binary, arguments, working
 * directory, log and pid file, so `kwokctl stop cluster` still finds it): what a service manager does
 * to a crashed API server, while the cluster's other components keep running.
 */
export async function kubeApiServerRestart(s: EnvSettings): Promise<void> {
    const file = componentPidFile(s, "kube-apiserver");
    const log = path.join(clusterDir(s), "logs", "kube-apiserver.log");
    const pid = livePid(file, "kube-apiserver");
    if (pid === undefined) throw new EnvError(`no kube-apiserver runs (${file})`, "start it with 'npm run env:up'");
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
    // Its graceful shutdown drains requests for up to a minute: TERM, then KILL after 10 s.
    await stopPidFile(file, "kube-apiserver", 10_000);
    startDetached({ cmd: argv[0], args: argv.slice(1), cwd, log, pidFile: file });
    await waitUntil(() => kubeReady(s), {
        timeoutMs: 120_000,
        what: "kube-apiserver",
        log,
        isRunning: () => livePid(file, "kube-apiserver") !== undefined,
        fix: "run 'npm run env:down' and 'npm run env:up'",
    });
}
