// kubernetes: the first `pulumi up` of one tenant's Cytomine component against kubectl on the same
// API server (the local kube-apiserver with KWOK nodes).
//   - measured: bench/fixtures/tenants with identity off, applied to the local cluster (fresh stack
//     and namespace each round; destroyed afterwards, not timed);
//   - floor: the same component rendered to files (render mode, a fresh namespace each round, not
//     timed) plus the Secret the rendered files leave out, then `kubectl apply --server-side` of it
//     all and waiting until it is ready (`kubectl wait --for=condition=Available` for Deployments,
//     `kubectl rollout status` for each StatefulSet); the namespace is deleted afterwards (not timed).
import { execFile } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { createEphemeralStack, disposeEphemeralStack } from "../../test/support/automation";
import type { ConfigValue } from "../../test/support/project-config";
import { binDir, repoRoot } from "../../toolchain/index";
import { breakdown, ResourceTimer, runLine, timedUp } from "../support/engine";
import { Row, time } from "../support/stats";
import { engineEnvironment, EngineEnvironment } from "./localenv";
import { alternate, Family, roundName, WARMUP } from "./types";

const run = promisify(execFile);
const WAIT = "300s";
const workDir = path.join(repoRoot, "bench", "fixtures", "tenants");

function fixtureConfig(prefix: string, renderDir: string): Record<string, ConfigValue> {
    return { "bench-tenants:prefix": prefix, "bench-tenants:identity": "false", "bench-tenants:renderDir": renderDir };
}

const uniqueTenant = (tag: string) => `${tag}-${crypto.randomBytes(3).toString("hex")}`;

function kubectl(env: EngineEnvironment, args: string[], timeoutMs = 600_000) {
    return run(path.join(binDir, "kubectl"), ["--kubeconfig", env.kube.kubeconfig, ...args], {
        timeout: timeoutMs,
        maxBuffer: 16 * 2 ** 20,
    });
}

function yamlFiles(dir: string): string[] {
    return fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) => {
            const p = path.join(dir, e.name);
            return e.isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(e.name) ? [p] : [];
        })
        .sort();
}

interface Manifest {
    file: string;
    kind: string;
    name: string;
}

function manifestsIn(dir: string): Manifest[] {
    return yamlFiles(dir).flatMap((file) =>
        parseAllDocuments(fs.readFileSync(file, "utf8"))
            .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } } | null)
            .filter((o) => o?.kind)
            .map((o) => ({ file, kind: o!.kind!, name: o!.metadata?.name ?? "" })),
    );
}

/** The Secret the rendered files leave out (the operator provides it), with generated values. */
function secretManifest(namespace: string, secret: { name: string; keys: string[] }): string {
    const data = Object.fromEntries(secret.keys.map((k) => [k, crypto.randomBytes(24).toString("base64url")]));
    return JSON.stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: secret.name, namespace },
        type: "Opaque",
        stringData: data,
    });
}

async function deleteNamespace(env: EngineEnvironment, namespace: string): Promise<void> {
    await kubectl(env, ["delete", "namespace", namespace, "--ignore-not-found", "--wait=true", "--timeout=300s"]);
}

export const kubernetes: Family = {
    name: "kubernetes",
    summary: "first `pulumi up` of one tenant's Cytomine component vs kubectl apply --server-side + wait until ready",
    async run({ rounds, log }) {
        const env = await engineEnvironment({ workloads: true, log });
        const up: Row = {
            key: "up",
            what: "first `pulumi up`, Cytomine component (fixture, identity off)",
            unit: "s",
            samples: [],
            floor: "kubectl",
        };
        const cli: Row = {
            key: "up-cli",
            what: "  of which the CLI run (until its last line; then the Automation API reads outputs and history)",
            unit: "s",
            samples: [],
            floor: "kubectl",
        };
        const floor: Row = {
            key: "kubectl",
            what: "floor: kubectl apply --server-side of the rendered manifests + wait until ready",
            unit: "s",
            samples: [],
        };
        const apply: Row = {
            key: "kubectl-apply",
            what: "  of which kubectl apply --server-side alone",
            unit: "s",
            samples: [],
        };
        const timers: ResourceTimer[] = [];
        let resources = 0;
        let objects = 0;

        const measureUp = async (round: number) => {
            const tenant = uniqueTenant("bk");
            const e = await createEphemeralStack({
                workDir,
                config: fixtureConfig(tenant, ""),
                env: { KUBECONFIG: env.kube.kubeconfig },
            });
            try {
                const { seconds, cliSeconds, created, timer } = await timedUp(e.stack, (n) =>
                    n.replaceAll(tenant, "<tenant>"),
                );
                resources = created;
                if (round !== WARMUP) {
                    up.samples.push(seconds);
                    cli.samples.push(cliSeconds);
                    timers.push(timer);
                }
                log(`kubernetes ${roundName(round)}: up ${seconds.toFixed(1)} s (${runLine(timer)})`);
            } finally {
                await disposeEphemeralStack(e);
                await deleteNamespace(env, tenant).catch(() => undefined);
            }
        };

        const measureFloor = async (round: number) => {
            const tenant = uniqueTenant("bkf");
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-kubernetes-render-"));
            const renderDir = path.join(dir, "rendered");
            const e = await createEphemeralStack({ workDir, config: fixtureConfig(tenant, renderDir) });
            try {
                const r = await e.stack.up({ color: "never" });
                const [secret] = r.outputs.secrets.value as { name: string; keys: string[] }[];
                const secretFile = path.join(dir, "secret.json");
                fs.writeFileSync(secretFile, secretManifest(tenant, secret));
                const manifests = manifestsIn(renderDir);
                objects = manifests.length + 1;
                const namespaceFiles = [...new Set(manifests.filter((m) => m.kind === "Namespace").map((m) => m.file))];
                const statefulSets = manifests.filter((m) => m.kind === "StatefulSet").map((m) => m.name);
                // The namespace first (kubectl applies files in the order given), then everything.
                const applyArgs = ["apply", "--server-side", ...namespaceFiles.flatMap((f) => ["-f", f])];
                applyArgs.push("-f", secretFile, "-f", renderDir, "--recursive");
                const waits = [
                    ["wait", "-n", tenant, "--for=condition=Available", "deployment", "--all", `--timeout=${WAIT}`],
                    ...statefulSets.map((n) => [
                        "rollout",
                        "status",
                        "-n",
                        tenant,
                        `statefulset/${n}`,
                        `--timeout=${WAIT}`,
                    ]),
                ];
                let applied = 0;
                const seconds = await time(async () => {
                    applied = await time(() => kubectl(env, applyArgs));
                    await Promise.all(waits.map((args) => kubectl(env, args)));
                });
                if (round !== WARMUP) {
                    floor.samples.push(seconds);
                    apply.samples.push(applied);
                }
                log(`kubernetes ${roundName(round)}: floor ${seconds.toFixed(1)} s (apply ${applied.toFixed(1)} s)`);
            } finally {
                await deleteNamespace(env, tenant).catch((err: unknown) => log(`kubernetes: ${String(err)}`));
                await disposeEphemeralStack(e).catch(() => undefined);
                fs.rmSync(dir, { recursive: true, force: true });
            }
        };

        await alternate(rounds, measureUp, measureFloor);
        up.what = `first \`pulumi up\`, Cytomine component (fixture, identity off, ${resources} resources)`;
        floor.what = `floor: kubectl apply --server-side (${objects} objects) + wait until ready`;
        return {
            family: "kubernetes",
            rows: [up, cli, floor, apply],
            breakdown: { "first up, Cytomine component": breakdown(timers) },
        };
    },
};
