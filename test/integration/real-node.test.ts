// Issue "A real node in the local cluster": a tenant brought up through the real engine and plugins on
// the environment's real node (containerd, runc, kubelet, kube-proxy, CoreDNS, kube-router), with the
// stand-in images: its pods Ready through their own probes under restricted Pod Security, UID 20000
// and read-only roots, its routes answering, its volumes bound and kept across a pod's deletion, and
// its NetworkPolicies shown by traffic: what they allow gets through, what they do not is refused.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { ROUTES } from "../../components/model/release";
import { PORTS } from "../../components/model/services";
import { tasksNamespaceOf } from "../../components/model/ml";
import { createEphemeralStack, disposeEphemeralStack, EphemeralStack } from "../support/automation";
import { kubeApi } from "../support/clients";
import { writeValidTree } from "../support/dataset-fixtures";
import {
    Environment,
    ensureEnvironment,
    environmentStatus,
    requireRealNode,
    useEnvironment,
    withEnvironmentAlone,
    NODE_PROCESSES,
    nodeDown,
    nodeFiles,
    nodeUp,
    lockRealNode,
    stoppedNodeProcesses,
    REAL_NODE_LABEL,
    REAL_NODE_STORAGE_CLASS,
    REAL_NODE_TAINT,
    kubePki,
    envSettings,
    trustRegistry,
} from "../../localenv";
import { machineDiff, machineState } from "../support/machine";
import { projectConfig } from "../support/project-config";
import { buildTaskBundle, imageInProject, runTask, taskOutputs } from "../support/task-bundle";
import { cytomineClient } from "../support/cytomine-hmac";
import { SECRET_NAME } from "../../components/model/spec";
import { repoRoot } from "../../toolchain/index";

const run = promisify(execFile);
type Kube = Awaited<ReturnType<typeof kubeApi>>;

const PLACEMENT = {
    "cytomine-fallback:nodeSelector": JSON.stringify({ [REAL_NODE_LABEL.key]: REAL_NODE_LABEL.value }),
    "cytomine-fallback:tolerations": JSON.stringify([{ ...REAL_NODE_TAINT, operator: "Equal" }]),
    "cytomine-fallback:storageClass": REAL_NODE_STORAGE_CLASS,
};

/** A TCP connection from inside a pod (python3 is in every stand-in image): "open", or why not. */
const CONNECT = `
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
    print("open")
except Exception as e:
    print(type(e).__name__)
`;

/** What a connection the policies deny ends in: kube-router rejects it, or it is dropped. */
const DENIED = /^(ConnectionRefusedError|timeout)$/;

/** An HTTP GET from inside a pod: status code, or the error's name. */
const GET = `
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
    print(r.status, r.headers.get("Content-Type", ""))
except urllib.error.HTTPError as e:
    print(e.code, e.headers.get("Content-Type", ""))
except Exception as e:
    print(type(e).__name__)
`;

describe("a tenant on the real node", { timeout: 1_500_000 }, () => {
    let env: Environment;
    let kube: Kube;
    let stack: EphemeralStack | undefined;
    let nodeLock: { release(): void } | undefined;
    let tenant: string;
    const s = envSettings();
    const kubectl = async (...args: string[]) =>
        (
            await run(path.join(s.kube.binDir, "kubectl"), ["--kubeconfig", env.kube.kubeconfig, ...args], {
                timeout: 120_000,
                maxBuffer: 16 * 1024 * 1024,
            })
        ).stdout;
    /** The first Ready pod of a component. */
    const podOf = async (namespace: string, component: string) => {
        const pods = await kube.core.listNamespacedPod({
            namespace,
            labelSelector: `app.kubernetes.io/component=${component}`,
        });
        const pod = pods.items.find(
            (p) =>
                !p.metadata?.deletionTimestamp &&
                p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        );
        assert.ok(pod, `a Ready pod of ${component} in ${namespace}`);
        return pod;
    };
    const inPod = async (namespace: string, pod: string, script: string, ...args: string[]) =>
        (await kubectl("-n", namespace, "exec", pod, "--", "python3", "-c", script, ...args)).trim();
    const routerNs = () => `${tenant}-router`;
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "real-node-"));
    const outsiderNs = () => `${tenant}-outside`;

    /** A client pod with python3 (the core stand-in's image, as any user) in NAMESPACE on the real node. */
    const clientPod = async (namespace: string) => {
        await kubectl("create", "namespace", namespace);
        const manifest = {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "client", namespace },
            spec: {
                nodeSelector: { [REAL_NODE_LABEL.key]: REAL_NODE_LABEL.value },
                tolerations: [{ ...REAL_NODE_TAINT, operator: "Equal" }],
                containers: [
                    {
                        name: "client",
                        image: (await kube.apps.readNamespacedDeployment({ name: "core", namespace: tenant })).spec!
                            .template.spec!.containers[0].image,
                        command: ["sleep", "3600"],
                        securityContext: { runAsUser: 20001, allowPrivilegeEscalation: false },
                    },
                ],
            },
        };
        await new Promise<void>((resolve, reject) => {
            const child = execFile(
                path.join(s.kube.binDir, "kubectl"),
                ["--kubeconfig", env.kube.kubeconfig, "apply", "-f", "-"],
                { timeout: 60_000 },
                (err) => (err ? reject(err) : resolve()),
            );
            child.stdin?.end(JSON.stringify(manifest));
        });
        await kubectl("-n", namespace, "wait", "--for=condition=Ready", "pod/client", "--timeout=120s");
    };

    before(async () => {
        // One suite at a time on the real node (its CPU fits one tenant), taken before the environment.
        nodeLock = await lockRealNode();
        env = await useEnvironment();
        requireRealNode(env);
        kube = await kubeApi(env.kube.kubeconfig);
        // A Bigpicture dataset on this machine, which is the node: PIMS mounts it, the import Job runs.
        const tree = path.join(work, "lung");
        await writeValidTree(tree, { seed: "lung", imagesPerDataset: 1, filesPerImage: 1 });
        const project = projectConfig(env, "node", {
            "cytomine-fallback:orthanc": "false",
            "cytomine-fallback:datasets": JSON.stringify({
                list: [{ id: "lung", source: "path", path: `hostPath:${tree}` }],
            }),
            ...PLACEMENT,
            // The app engine and its task namespace (issue #28): the app engine really runs here, and its
            // task pods, with smaller helper containers than upstream's 1 CPU each.
            "cytomine-fallback:ml": JSON.stringify({
                enabled: true,
                services: ["app-engine"],
                tasks: { helper: { cpu: "50m", memory: "64Mi" } },
            }),
            // Smaller CPU requests, so that the tenant (about 0.8 CPU) and a task pod (its task's whole CPU,
            // the helper's 50m) fit the node's two cores.
            "cytomine-fallback:resources": JSON.stringify(
                Object.fromEntries(
                    [
                        "core",
                        "pims",
                        "app-engine",
                        "repository",
                        "postgis",
                        "mongo",
                        "meilisearch",
                        "app-engine-db",
                        "registry",
                    ].map((c) => [c, { cpu: c === "core" || c === "pims" || c === "app-engine" ? "100m" : "50m" }]),
                ),
            ),
        });
        tenant = project.id;
        // The namespace let into the tenant's routed services (an ingress controller's, elsewhere).
        project.config["cytomine-fallback:routerNamespace"] = routerNs();
        stack = await createEphemeralStack({
            workDir: repoRoot,
            config: project.config,
            env: { KUBECONFIG: env.kube.kubeconfig },
        });
    });

    after(async () => {
        for (const ns of [routerNs(), outsiderNs()]) {
            await kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found").catch(() => undefined);
        }
        if (stack) await disposeEphemeralStack(stack);
        fs.rmSync(work, { recursive: true, force: true });
        nodeLock?.release();
    });

    it("up: every pod Ready on the real node through its own probes, as UID 20000 with a read-only root", async () => {
        const up = await stack!.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
        // The eight services' pods and the app engine's three, and the dataset import Job's (ended).
        const pods = (await kube.core.listNamespacedPod({ namespace: tenant })).items.filter(
            (p) => p.status?.phase === "Running",
        );
        assert.equal(pods.length, 11);
        // Container IDs as containerd knows them: each pod's container runs there.
        const containerd = (
            await run("ctr", ["--address", nodeFiles(s).socket, "-n", "k8s.io", "containers", "ls", "-q"])
        ).stdout;
        for (const pod of pods) {
            const name = pod.metadata!.name!;
            assert.equal(pod.spec?.nodeName, s.node.name, name);
            const status = pod.status!.containerStatuses![0];
            assert.equal(status.ready, true, name);
            assert.ok(status.state?.running?.startedAt, name);
            const id = status.containerID!.replace(/^containerd:\/\//, "");
            assert.ok(containerd.includes(id), `${name}'s container ${id} runs in containerd`);
        }
        // Probe results from the kubelet itself (its /metrics/probes, through the API server's proxy).
        const probes = await kubectl("get", "--raw", `/api/v1/nodes/${s.node.name}/proxy/metrics/probes`);
        for (const component of ["core", "pims", "web-ui", "postgis"]) {
            const pod = await podOf(tenant, component);
            const line = probes
                .split("\n")
                .find(
                    (l) =>
                        l.startsWith("prober_probe_total{") &&
                        l.includes(`pod="${pod.metadata!.name}"`) &&
                        l.includes('probe_type="Readiness"') &&
                        l.includes('result="successful"'),
                );
            assert.ok(line && Number(line.split(" ").pop()) >= 1, `${component}: successful readiness probes`);
            // A shell, not python3: the PostgreSQL image has none.
            const shell = (cmd: string) =>
                kubectl("-n", tenant, "exec", pod.metadata!.name!, "--", "sh", "-c", cmd).then((o) => o.trim());
            assert.equal(await shell("id -u"), "20000", component);
            assert.match(await shell("touch /root-write-check 2>&1 || true"), /Read-only file system/, component);
        }
    });

    it("the dataset import Job ran to completion on the node; PIMS has the dataset read-only", async () => {
        const jobs = (await kube.batch.listNamespacedJob({ namespace: tenant })).items;
        assert.equal(jobs.length, 1);
        assert.ok(jobs[0].status?.conditions?.some((c) => c.type === "Complete" && c.status === "True"));
        const [jobPod] = (
            await kube.core.listNamespacedPod({
                namespace: tenant,
                labelSelector: `job-name=${jobs[0].metadata!.name}`,
            })
        ).items;
        assert.equal(jobPod.spec?.nodeName, s.node.name);
        const terminated = jobPod.status!.containerStatuses![0].state?.terminated;
        assert.equal(terminated?.exitCode, 0);
        assert.ok(terminated?.containerID?.startsWith("containerd://"));
        const log = await kubectl("-n", tenant, "logs", jobPod.metadata!.name!);
        assert.match(log, /lung/);
        const pims = (await podOf(tenant, "pims")).metadata!.name!;
        const shell = (cmd: string) => kubectl("-n", tenant, "exec", pims, "--", "sh", "-c", cmd).then((o) => o.trim());
        assert.match(await shell("ls /data/datasets/lung"), /\S/);
        assert.match(await shell("touch /data/datasets/lung/x 2>&1 || true"), /Read-only file system/);
    });

    it("the volume claims are bound on the node, and data outlives a pod's deletion", async () => {
        // The services' claims, the app engine's three among them (the dataset's is bound to its own
        // volume, of no class).
        const claims = (await kube.core.listNamespacedPersistentVolumeClaim({ namespace: tenant })).items.filter(
            (c) => !c.metadata!.name!.startsWith("dataset-"),
        );
        assert.deepEqual(claims.map((c) => c.metadata!.name!).sort(), [
            "app-engine-data",
            "app-engine-db-data",
            "meilisearch-data",
            "mongo-data",
            "pims-images",
            "postgis-data",
            "registry-data",
        ]);
        for (const c of claims) {
            assert.equal(c.status?.phase, "Bound", c.metadata?.name);
            assert.equal(c.spec?.storageClassName, REAL_NODE_STORAGE_CLASS);
        }
        const before = await podOf(tenant, "pims");
        const marker = `kept-${Date.now()}`;
        await inPod(tenant, before.metadata!.name!, `open('/data/images/marker', 'w').write('${marker}')`);
        await kube.core.deleteNamespacedPod({ name: before.metadata!.name!, namespace: tenant });
        let after: Awaited<ReturnType<typeof podOf>> | undefined;
        for (let i = 0; i < 120 && !after; i++) {
            after = await podOf(tenant, "pims").catch(() => undefined);
            if (after?.metadata?.uid === before.metadata?.uid) after = undefined;
            if (!after) await new Promise((r) => setTimeout(r, 1000));
        }
        assert.ok(after, "a new PIMS pod became Ready");
        assert.equal(await inPod(tenant, after.metadata!.name!, "print(open('/data/images/marker').read())"), marker);
    });

    it("the routes answer from the router's namespace, through cluster DNS and the Services", async () => {
        await clientPod(routerNs());
        const ingress = await kube.networking.readNamespacedIngress({ name: "cytomine", namespace: tenant });
        const paths = ingress.spec!.rules![0].http!.paths;
        assert.deepEqual(
            paths.map((p) => p.path),
            ROUTES.map((r) => r.path),
        );
        const answers: Record<string, string> = {};
        for (const p of paths) {
            const backend = p.backend.service!;
            const url = `http://${backend.name}.${tenant}.svc.cluster.local:${backend.port!.number}${p.path}`;
            answers[p.path!] = await inPod(routerNs(), "client", GET, url);
        }
        // Each answer is an HTTP status from the backing service (no connection refused or timeout).
        for (const [route, answer] of Object.entries(answers)) assert.match(answer, /^\d{3}\b/, `${route}: ${answer}`);
        assert.match(answers["/"], /^200 text\/html/);
        const core = await inPod(
            routerNs(),
            "client",
            GET,
            `http://core.${tenant}.svc.cluster.local:${PORTS.core}/server/ping`,
        );
        assert.match(core, /^200\b/);
    });

    it("NetworkPolicies, shown by traffic: three denials and their matching allows", async () => {
        const core = (await podOf(tenant, "core")).metadata!.name!;
        const webUi = (await podOf(tenant, "web-ui")).metadata!.name!;
        const svc = (name: string) => `${name}.${tenant}.svc.cluster.local`;
        // 1. postgis takes core, not the web UI.
        assert.equal(await inPod(tenant, core, CONNECT, svc("postgis"), String(PORTS.postgres)), "open");
        assert.match(await inPod(tenant, webUi, CONNECT, svc("postgis"), String(PORTS.postgres)), DENIED);
        // 2. The web UI takes the router's namespace, not another one.
        await clientPod(outsiderNs());
        assert.match(await inPod(routerNs(), "client", CONNECT, svc("web-ui"), String(PORTS.webUi)), /^open$/);
        assert.match(await inPod(outsiderNs(), "client", CONNECT, svc("web-ui"), String(PORTS.webUi)), DENIED);
        // 3. Nothing leaves the namespace unless allowed: core reaches cluster DNS (names resolve above),
        // not a pod of another namespace, which itself is open to anyone.
        const outsiderIp = (await kube.core.readNamespacedPod({ name: "client", namespace: outsiderNs() })).status!
            .podIP!;
        await kubectl(
            "-n",
            outsiderNs(),
            "exec",
            "client",
            "--",
            "sh",
            "-c",
            "python3 -m http.server 8000 >/dev/null 2>&1 &",
        );
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(await inPod(routerNs(), "client", CONNECT, outsiderIp, "8000"), "open");
        assert.match(await inPod(tenant, core, CONNECT, outsiderIp, "8000"), DENIED);
        assert.match(
            await inPod(tenant, core, "import socket; print(socket.gethostbyname('kubernetes.default'))"),
            /^10\.0\.0\.1$/,
        );
    });

    it("the app engine reaches the API server through the kubernetes Service with its own token; a task pod reaches it, not postgis", async () => {
        const tasks = tasksNamespaceOf(tenant);
        // Its stand-in starts only once it has listed the task namespace's pods as its service account,
        // through the Service's address (KubernetesConfig.java; KubernetesScheduler.java:319-330).
        const engine = (await podOf(tenant, "app-engine")).metadata!.name!;
        assert.match(
            await kubectl("-n", tenant, "logs", engine),
            new RegExp(`Monitor: informer added \\(0 pod\\(s\\) in ${tasks}\\)`),
        );
        const core = (await podOf(tenant, "core")).metadata!.name!;
        assert.match(await inPod(tenant, core, GET, `http://app-engine:8080/app-engine/v1/tasks`), /^200 /);
        // The API server is the app engine's to reach, not core's.
        assert.match(await inPod(tenant, core, CONNECT, "kubernetes.default", "443"), DENIED);
        // A task pod, created with the app engine's rights, on the node (python3 from core's image).
        const image = (await kube.apps.readNamespacedDeployment({ name: "core", namespace: tenant })).spec!.template
            .spec!.containers[0].image!;
        const small = { cpu: "50m", memory: "64Mi" };
        const pod = {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "task-1", namespace: tasks, labels: { app: "task", runId: "1" } },
            spec: {
                serviceAccountName: "app-engine",
                restartPolicy: "Never",
                nodeSelector: { [REAL_NODE_LABEL.key]: REAL_NODE_LABEL.value },
                tolerations: [{ ...REAL_NODE_TAINT, operator: "Equal" }],
                containers: [
                    { name: "task", image, command: ["sleep", "600"], resources: { requests: small, limits: small } },
                ],
            },
        };
        await new Promise<void>((resolve, reject) => {
            const child = execFile(
                path.join(s.kube.binDir, "kubectl"),
                [
                    "--kubeconfig",
                    env.kube.kubeconfig,
                    "create",
                    `--as=system:serviceaccount:${tenant}:app-engine`,
                    "-f",
                    "-",
                ],
                { timeout: 60_000 },
                (err) => (err ? reject(err) : resolve()),
            );
            child.stdin?.end(JSON.stringify(pod));
        });
        await kubectl("-n", tasks, "wait", "--for=condition=Ready", "pod/task-1", "--timeout=120s");
        const svc = (name: string) => `${name}.${tenant}.svc.cluster.local`;
        assert.equal(await inPod(tasks, "task-1", CONNECT, svc("app-engine"), "8080"), "open");
        assert.match(await inPod(tasks, "task-1", CONNECT, svc("postgis"), String(PORTS.postgres)), DENIED);
        assert.match(await inPod(tasks, "task-1", CONNECT, svc("core"), String(PORTS.core)), DENIED);
        assert.equal(await inPod(tasks, "task-1", CONNECT, "kubernetes.default", "443"), "open");
    });

    it("a task runs end to end through core: uploaded, its image pushed and pulled by the node, its pod placed on it, its result back", async () => {
        const tasks = tasksNamespaceOf(tenant);
        // The node's containerd pulls task images from the registry's Service address over HTTP, as an
        // operator's nodes must be told (docs/operating.md): the stack says where it is.
        const registry = (await stack!.stack.outputs()).taskRegistry?.value as string;
        assert.match(registry, /^10\.0\.\d+\.\d+:5000$/);
        trustRegistry(s, registry);
        const bundle = await buildTaskBundle(env.docker.host, path.join(work, "task"));
        // Core from this machine, through the API server's port-forward (as an operator would), signed
        // with ImageServer1's keys from the tenant's secret: the bundle, the image and every run go
        // through core, as the web UI sends them.
        const core = (await podOf(tenant, "core")).metadata!.name!;
        const secret = (await kube.core.readNamespacedSecret({ name: SECRET_NAME, namespace: tenant })).data!;
        const key = (name: string) => Buffer.from(secret[name], "base64").toString();
        const forward = execFile(path.join(s.kube.binDir, "kubectl"), [
            "--kubeconfig",
            env.kube.kubeconfig,
            "-n",
            tenant,
            "port-forward",
            `pod/${core}`,
            `:${PORTS.core}`,
        ]);
        try {
            const port = await new Promise<number>((resolve, reject) => {
                const timer = setTimeout(() => reject(new Error("kubectl port-forward did not start")), 30_000);
                forward.stdout!.on("data", (d) => {
                    const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(String(d));
                    if (m) {
                        clearTimeout(timer);
                        resolve(Number(m[1]));
                    }
                });
            });
            const api = cytomineClient(`http://127.0.0.1:${port}/api`, () => ({
                pub: key("image-server-public-key"),
                priv: key("image-server-private-key"),
            }));
            const form = new FormData();
            form.append("task", new Blob([new Uint8Array(fs.readFileSync(bundle.zip))]), "bundle.zip");
            assert.equal((await api("POST", "/app-engine/tasks", form)).body.namespace, bundle.namespace);
            const via = await imageInProject(api, `ml-${tenant}`);
            const engineApi = {
                call: (method: string, p: string, body?: unknown) => api(method, `/app-engine${p}`, body),
            };
            const ok = await runTask(engineApi, bundle, { a: 2, b: 3 }, via);
            const pods = (await kube.core.listNamespacedPod({ namespace: tasks, labelSelector: `runId=${ok.id}` }))
                .items;
            assert.equal(pods.length, 1);
            const diagnosis = async () =>
                JSON.stringify(pods[0].status) +
                (await kubectl("-n", tasks, "describe", "pod", pods[0].metadata!.name!));
            assert.equal(ok.state, "FINISHED", await diagnosis());
            // Placed on the real node by the task namespace's mutating policy; the image from the registry.
            assert.equal(pods[0].spec!.nodeName, s.node.name);
            assert.equal(pods[0].spec!.containers[0].image, `${registry}/${bundle.image}`);
            assert.match(await kubectl("-n", tasks, "logs", pods[0].metadata!.name!, "-c", "task"), /a \+ b = 5/);
            assert.deepEqual(await taskOutputs(engineApi, ok.id, via), [["out", 5]]);
            // Its pod ends Succeeded once the outputs are posted (the quota counts only pods not ended).
            let phase: string | undefined;
            for (let i = 0; i < 30 && phase !== "Succeeded"; i++) {
                await new Promise((r) => setTimeout(r, 2000));
                phase = (await kube.core.readNamespacedPod({ name: pods[0].metadata!.name!, namespace: tasks })).status
                    ?.phase;
            }
            assert.equal(phase, "Succeeded");
            // A task that fails (a negative operand, exit 3) leaves its run FAILED, with no outputs.
            const failed = await runTask(engineApi, bundle, { a: -1, b: 3 }, via);
            assert.equal(failed.state, "FAILED");
        } finally {
            forward.kill();
        }
    });
});

describe("env:down of the real node", { timeout: 900_000 }, () => {
    it("leaves the machine as it found it: routes, links, rules, ipsets, sysctls, mounts, cgroups, folders", async () => {
        await useEnvironment();
        // Alone: the suites sharing the environment finish first, and none starts while the node is down.
        await withEnvironmentAlone(async () => {
            const s = envSettings();
            await nodeDown(s);
            const before = await machineState();
            requireRealNode(await ensureEnvironment(s));
            const during = await machineState();
            // The node did change the machine while it ran (so the comparison below can fail).
            assert.ok(during.links.includes(s.node.bridge));
            assert.match(during.nft, /table ip kube-proxy/);
            assert.match(during.nft, /KUBE-ROUTER-FORWARD/);
            assert.ok(during.cgroups.length > 0, "the kubelet's kubepods cgroups");
            assert.ok(during.mounts.some((m) => m.startsWith(nodeFiles(s).dir)));
            assert.equal(during.sysctls["vm/overcommit_memory"], "1", "the kubelet's setting");
            await nodeDown(s);
            assert.deepEqual(machineDiff(before, await machineState()), {});
        });
    });
});

describe("asking for a node or a StorageClass the cluster lacks", { timeout: 300_000 }, () => {
    let env: Environment;
    let stack: EphemeralStack | undefined;

    before(async () => {
        env = await useEnvironment();
        requireRealNode(env);
        const project = projectConfig(env, "place", {
            "cytomine-fallback:orthanc": "false",
            // The real node's label, without its toleration: no Ready node takes the pods.
            "cytomine-fallback:nodeSelector": PLACEMENT["cytomine-fallback:nodeSelector"],
        });
        stack = await createEphemeralStack({
            workDir: repoRoot,
            config: project.config,
            env: { KUBECONFIG: env.kube.kubeconfig },
        });
    });
    after(async () => {
        if (stack) await disposeEphemeralStack(stack);
    });

    it("is refused at preview, naming the key, each node's reason and the fix; nothing is created", async () => {
        const preview = stack!.stack.preview({ color: "never" });
        await assert.rejects(preview, (e: Error) => {
            assert.match(e.message, /cytomine-fallback:nodeSelector = \{"cytomine\.dev\/real-node":"true"\}/);
            assert.match(e.message, /cytomine-node: taint cytomine\.dev\/real-node=true:NoSchedule not tolerated/);
            assert.match(e.message, /node-000000: no label cytomine\.dev\/real-node=true/);
            assert.match(e.message, /npm run env:up/);
            return true;
        });
        await stack!.stack.setAllConfig(
            {
                "cytomine-fallback:tolerations[0].key": { value: REAL_NODE_TAINT.key },
                "cytomine-fallback:tolerations[0].value": { value: REAL_NODE_TAINT.value },
                "cytomine-fallback:tolerations[0].effect": { value: REAL_NODE_TAINT.effect },
                "cytomine-fallback:storageClass": { value: "no-such-class" },
            },
            true,
        );
        await assert.rejects(stack!.stack.preview({ color: "never" }), (e: Error) => {
            assert.doesNotMatch(e.message, /nodeSelector/);
            assert.match(
                e.message,
                /cytomine-fallback:storageClass = "no-such-class": the cluster has no such StorageClass/,
            );
            return true;
        });
        // With the class the real node serves, the preview passes (and sees Secrets encrypted at rest).
        await stack!.stack.setConfig("cytomine-fallback:storageClass", { value: REAL_NODE_STORAGE_CLASS });
        const ok = await stack!.stack.preview({ color: "never" });
        assert.doesNotMatch(ok.stdout, /unencrypted/);
        assert.deepEqual(Object.keys((await stack!.stack.exportStack()).deployment.resources ?? {}), []);
    });
});

describe("a real node that cannot start", { timeout: 300_000 }, () => {
    it("its subnet already routed: refused naming the part and the fix, before anything runs; the rest keeps running", async () => {
        const env = await useEnvironment();
        // A second node's settings (its own state folder) on a subnet this machine already routes.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "node-taken-"));
        const other = envSettings({
            ...process.env,
            CYTOMINE_ENV_DIR: dir,
            CYTOMINE_ENV_REAL_NODE: "1",
            CYTOMINE_ENV_NODE_SUBNET: "10.252.7.0/24",
        });
        const taken = `cyttaken${process.pid % 10000}`;
        await run("ip", ["link", "add", taken, "type", "bridge"]);
        try {
            await run("ip", ["addr", "add", "10.252.7.1/24", "dev", taken]);
            await run("ip", ["link", "set", taken, "up"]);
            const deps = {
                kubeconfig: env.kube.kubeconfig,
                pki: kubePki(envSettings()),
                server: env.kube.server,
                kubeApiPort: envSettings().kube.port,
                dockerHost: env.docker.host,
                images: [],
            };
            await assert.rejects(nodeUp(other, deps), (e: Error) => {
                assert.match(
                    e.message,
                    /the real node's pod subnet 10\.252\.7\.0\/24 is already routed on this machine/,
                );
                // Listed once, though both route queries ("root" and "match") return it.
                assert.equal(e.message.split(`dev ${taken} `).length - 1, 1, e.message);
                assert.match(e.message, /fix: choose another with CYTOMINE_ENV_NODE_SUBNET/);
                return true;
            });
            assert.deepEqual(stoppedNodeProcesses(other), [...NODE_PROCESSES], "none of its processes started");
            assert.ok(!fs.existsSync(`/sys/class/net/${other.node.bridge}`), "no bridge made");
        } finally {
            await run("ip", ["link", "del", taken]);
            await nodeDown(other, true);
            fs.rmSync(dir, { recursive: true, force: true });
        }
        // The environment, the real node included, is untouched.
        const status = await environmentStatus();
        assert.deepEqual(
            Object.entries(status).filter(([, p]) => !p.ready),
            [],
        );
    });
});
