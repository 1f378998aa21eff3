// The two pieces of the local environment the engine benchmarks use: Keycloak and the Kubernetes
// API. By default the benchmarks run their own instance (state in .local/bench/env, ports of their
// own), so that tests that stop or restart the dev environment's Keycloak do not break a round and
// a running dev environment is left alone; it is started on first use and stopped (its data kept,
// for a faster start next time) when the run ends. BENCH_SHARED_ENV=1 uses the dev environment
// instead (`npm run env:up`'s). The other pieces (SSH host, docker engine with its stand-in images)
// serve the VM path and are not needed here.
//
// A (re)started cluster answers at once, but its KWOK controller may take minutes before it runs
// pods (docs/measurements.md); families that create workloads ask for `workloads`,
// and the first such call waits until a probe Deployment is Available, so that no round pays it.
import { execFile } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import type { Environment } from "../../localenv";
import {
    keycloakDown,
    keycloakReady,
    keycloakRunning,
    keycloakUp,
    kubeDown,
    kubeReady,
    kubeUp,
    EnvSettings,
    envSettings,
} from "../../localenv";
import { binDir, repoRoot } from "../../toolchain/index";
import { time } from "../support/stats";

const run = promisify(execFile);

export type EngineEnvironment = Pick<Environment, "keycloak" | "kube">;

const OWN = {
    CYTOMINE_ENV_DIR: path.join(repoRoot, ".local", "bench", "env"),
    CYTOMINE_ENV_KEYCLOAK_PORT: "28180",
    CYTOMINE_ENV_KEYCLOAK_MANAGEMENT_PORT: "29100",
    CYTOMINE_ENV_KUBE_PORT: "26543",
    CYTOMINE_ENV_SSH_PORT: "22322",
};

const shared = () => process.env.BENCH_SHARED_ENV === "1";

export function engineSettings(): EnvSettings {
    return shared() ? envSettings() : envSettings({ ...process.env, ...OWN });
}

let startedHere: EnvSettings | undefined;
let workloadsChecked = false;

export interface EngineEnvironmentOptions {
    /** Wait (once per run) until the cluster runs pods. */
    workloads?: boolean;
    log?: (message: string) => void;
}

export async function engineEnvironment(opts: EngineEnvironmentOptions = {}): Promise<EngineEnvironment> {
    const s = engineSettings();
    if (!shared() && !startedHere) {
        const running = keycloakRunning(s) && (await keycloakReady(s)) && (await kubeReady(s));
        if (!running) startedHere = s;
    }
    const [keycloak, kube] = await Promise.all([keycloakUp(s), kubeUp(s)]);
    if (opts.workloads && !workloadsChecked) {
        const seconds = await time(() => awaitWorkloads(kube.kubeconfig));
        workloadsChecked = true;
        opts.log?.(`the cluster ran a probe Deployment after ${seconds.toFixed(1)} s`);
    }
    return { keycloak, kube };
}

/** A one-replica Deployment that Pod Security's `restricted` level admits. */
function probeManifest(namespace: string): object[] {
    const labels = { app: "bench-probe" };
    return [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } },
        {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "probe", namespace },
            spec: {
                replicas: 1,
                selector: { matchLabels: labels },
                template: {
                    metadata: { labels },
                    spec: {
                        automountServiceAccountToken: false,
                        securityContext: {
                            runAsNonRoot: true,
                            runAsUser: 20000,
                            seccompProfile: { type: "RuntimeDefault" },
                        },
                        containers: [
                            {
                                name: "probe",
                                image: "registry.k8s.io/pause:3.10",
                                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                            },
                        ],
                    },
                },
            },
        },
    ];
}

async function awaitWorkloads(kubeconfig: string): Promise<void> {
    const namespace = `bench-probe-${crypto.randomBytes(3).toString("hex")}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-probe-"));
    const file = path.join(dir, "probe.json");
    fs.writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: probeManifest(namespace) }));
    const kubectl = (...args: string[]) =>
        run(path.join(binDir, "kubectl"), ["--kubeconfig", kubeconfig, ...args], { timeout: 900_000 });
    try {
        await kubectl("apply", "-f", file);
        await kubectl("wait", "-n", namespace, "--for=condition=Available", "deployment/probe", "--timeout=600s");
    } finally {
        await kubectl("delete", "namespace", namespace, "--wait=false").catch(() => undefined);
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Stops the benchmarks' own instance if this run started it (its data stays for the next run). */
export async function stopEngineEnvironment(): Promise<void> {
    if (!startedHere) return;
    const s = startedHere;
    startedHere = undefined;
    await keycloakDown(s);
    await kubeDown(s);
}

/** projectConfig's argument: it reads the Keycloak piece only. */
export const asEnvironment = (env: EngineEnvironment): Environment => env as Environment;
