// The two pieces of the local environment the engine benchmarks use: Keycloak and the Kubernetes
// API. By default the benchmarks run their own instance (state in .local/bench/env, ports of their
// own), so that tests that stop or restart the dev environment's Keycloak do not break a round and
// a running dev environment is left alone; it is started on first use and stopped (its data kept,
// for a faster start next time) when the run ends. BENCH_SHARED_ENV=1 uses the dev environment
// instead (`npm run env:up`'s). The other pieces (SSH host, docker engine with its stand-in images)
// serve the VM path and are not needed here.
import * as path from "node:path";
import type { Environment } from "../../lib/localenv";
import { keycloakDown, keycloakReady, keycloakRunning, keycloakUp } from "../../lib/localenv/keycloak";
import { kubeDown, kubeReady, kubeUp } from "../../lib/localenv/kube";
import { EnvSettings, envSettings } from "../../lib/localenv/settings";
import { repoRoot } from "../../lib/toolchain";

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

export async function engineEnvironment(): Promise<EngineEnvironment> {
    const s = engineSettings();
    if (!shared() && !startedHere) {
        const running = keycloakRunning(s) && (await keycloakReady(s)) && (await kubeReady(s));
        if (!running) startedHere = s;
    }
    const [keycloak, kube] = await Promise.all([keycloakUp(s), kubeUp(s)]);
    return { keycloak, kube };
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
