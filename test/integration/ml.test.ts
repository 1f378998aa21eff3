// Issue "Machine-learning assistance per tenant", through the real engine and plugins:
// - target ssh with the SSH test host's real Docker engine: a tenant with SAM and CBIR refuses to
//   preview while its weights are missing, then comes up; core's URLs for them answer inside the
//   tenant's network; turning ML off removes them;
// - target kubernetes on the local kube-apiserver (KWOK nodes): a tenant with the app engine gets its
//   task namespace, and the real API server enforces what the stack declares there: the app engine's
//   rights stop at that namespace, the quota refuses what exceeds it, and the admission policy refuses
//   a privileged task container and a hostPath outside the scheduler's folders while it admits a pod
//   of the shape upstream's scheduler creates.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import { Environment, envSettings, useEnvironment } from "../../localenv";
import { tasksNamespaceOf, WEIGHT_FILES } from "../../components/model/ml";
import { createEphemeralStack, disposeEphemeralStack, EphemeralStack, setStackConfig } from "../support/automation";
import { freePort, projectConfig, sshTargetConfig } from "../support/project-config";
import { composeContainer, composeForward, disposeVmTenant } from "../support/vm-stack";
import { buildTaskBundle, imageInProject, runTask, taskOutputs } from "../support/task-bundle";
import { cytomineClient } from "../support/cytomine-hmac";
import { DEFAULT_IMAGES } from "../../components/model/settings";
import { readEnvFile } from "../support/env-file";
import { repoRoot } from "../../toolchain/index";

const run = promisify(execFile);
type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** An HTTP request from inside a container (python3 is in every stand-in image): "status body". */
const REQUEST = `
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], method=sys.argv[2], data=b"" if sys.argv[2] == "POST" else None)
try:
    r = urllib.request.urlopen(req, timeout=10)
    print(r.status, r.read().decode()[:300])
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode()[:300])
except Exception as e:
    print(type(e).__name__)
`;

/** Weights the stand-ins accept: non-empty files where SAM and CBIR read them. */
function writeWeights(root: string, files: readonly string[]) {
    for (const f of files) {
        fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true, mode: 0o755 });
        fs.writeFileSync(path.join(root, f), Buffer.alloc(4096, 7), { mode: 0o644 });
    }
}

describe("ML services on the VM target (SSH host, real Docker engine)", { timeout: 1_500_000 }, () => {
    let env: Environment;
    let e: EphemeralStack;
    let tenant: string;
    const configRoot = "/opt/cytomine-fallback-test";
    const dataRoot = "/var/lib/cytomine-fallback-test";
    const weights = fs.mkdtempSync("/var/tmp/cytomine-weights-");
    const docker = (...args: string[]) =>
        execFileSync("docker", args, { env: { ...process.env, DOCKER_HOST: env.docker.host }, encoding: "utf8" });
    const containers = () =>
        docker(
            "ps",
            "--filter",
            `label=com.docker.compose.project=cytomine-${tenant}`,
            "--format",
            '{{.Label "com.docker.compose.service"}}',
        )
            .split("\n")
            .filter(Boolean)
            .sort();

    const work = fs.mkdtempSync("/var/tmp/cytomine-ml-");
    const ML_CONTAINERS = ["app-engine", "app-engine-db", "registry", "task-pods", "sam", "cbir", "cbir-cache"];
    let registryPort = 0;
    let httpPort = 0;

    /** Core's API through the tenant's proxy, signed as ImageServer1 (its keys are the tenant's). */
    const coreCall = (method: string, p: string, body?: unknown) => {
        const keys = readEnvFile(`${configRoot}/${tenant}/env/repository.env`);
        return cytomineClient(`http://127.0.0.1:${httpPort}/api`, () => ({
            pub: keys.IMAGE_SERVER_PUBLIC_KEY,
            priv: keys.IMAGE_SERVER_PRIVATE_KEY,
        }))(method, p, body);
    };
    const coreApi = (method: string, p: string, body?: unknown) => coreCall(method, `/app-engine${p}`, body);

    before(async () => {
        env = await useEnvironment();
        fs.chmodSync(weights, 0o755);
        fs.chmodSync(work, 0o755);
        registryPort = await freePort();
        const target = sshTargetConfig(env, "ml", {
            httpPort: (httpPort = await freePort()),
            configDir: configRoot,
            dataDir: dataRoot,
            extra: {
                "cytomine-fallback:ml": JSON.stringify({
                    enabled: true,
                    weights,
                    // Helpers smaller than upstream's 1 CPU each, for this machine's two cores.
                    tasks: { helper: { cpu: "50m", memory: "64Mi" }, registryPort },
                }),
            },
        });
        tenant = target.id;
        e = await createEphemeralStack({ workDir: repoRoot, config: target.config });
    });

    after(async () => {
        if (e) await disposeVmTenant(env, e, `cytomine-${tenant}`, `${dataRoot}/${tenant}`);
        fs.rmSync(weights, { recursive: true, force: true });
        fs.rmSync(work, { recursive: true, force: true });
    });

    it("refuses to preview while a weights file is missing, naming ml.weights and the file", async () => {
        writeWeights(weights, [WEIGHT_FILES.sam]);
        await assert.rejects(e.stack.preview({ color: "never" }), (err: Error) => {
            assert.match(
                err.message,
                new RegExp(`cytomine-fallback:ml\\.weights = "${weights}": ${weights}/cbir/resnet missing on `),
            );
            return true;
        });
        assert.deepEqual(containers(), [], "nothing started");
    });

    it("refuses to preview while this project's own task-pods image is not on the host, naming images.taskPods", async () => {
        await setStackConfig(e.stack, {
            "cytomine-fallback:images": JSON.stringify({ taskPods: "cytomine-fallback/task-pods:0.0.0-absent" }),
        });
        try {
            await assert.rejects(e.stack.preview({ color: "never" }), (err: Error) => {
                assert.match(
                    err.message,
                    /cytomine-fallback:images\.taskPods = "cytomine-fallback\/task-pods:0\.0\.0-absent": not on 127\.0\.0\.1, .*build it and load it there/,
                );
                return true;
            });
        } finally {
            await e.stack.removeConfig("cytomine-fallback:images");
        }
        assert.deepEqual(containers(), [], "nothing started");
    });

    it("up: the app engine, SAM and CBIR run beside core, and core's URLs for them answer inside the tenant's network", async () => {
        writeWeights(weights, [WEIGHT_FILES.cbir]);
        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
        const running = containers();
        for (const s of [...ML_CONTAINERS, "core"]) assert.ok(running.includes(s), `${s} in ${running}`);

        const coreEnv = readEnvFile(`${configRoot}/${tenant}/env/core.env`);
        assert.equal(coreEnv.SAM_URL, "http://sam:8000");
        assert.equal(coreEnv.CBIR_URL, "http://cbir:6000");
        assert.equal(coreEnv.APPENGINE_ENABLED, "true");
        assert.equal(coreEnv.APPENGINE_API_URL, "http://app-engine:8080");
        const core = composeContainer(env.docker.host, `cytomine-${tenant}`, "core");
        const request = (url: string, method = "GET") =>
            docker("exec", core, "python3", "-c", REQUEST, url, method).trim();
        assert.match(request(`${coreEnv.SAM_URL}/`), /^200 .*"status":\s*"healthy"/);
        assert.match(request(`${coreEnv.CBIR_URL}/health`), /^200 .*"ok"/);
        // Core's own call paths (the release's contract): SAM validates the refine request as FastAPI does.
        assert.match(request(`${coreEnv.SAM_URL}/sam/annotations/refine`, "POST"), /^422 /);
        assert.match(request(`${coreEnv.CBIR_URL}/cbir/storages`), /^200 /);
        assert.match(request(`${coreEnv.APPENGINE_API_URL}/app-engine/v1/tasks`), /^200 \[/);
        // The weights are the operator's, read-only.
        const sam = composeContainer(env.docker.host, `cytomine-${tenant}`, "sam");
        assert.match(docker("exec", sam, "sh", "-c", "touch /weights/x 2>&1 || true"), /Read-only file system/);
    });

    it("a task runs end to end on the host's engine: uploaded and run through core, its image pushed and pulled from the loopback registry, its result back", async () => {
        const project = `cytomine-${tenant}`;
        const bundle = await buildTaskBundle(env.docker.host, path.join(work, "task"));
        // The bundle goes in through core, as the web UI sends it: the tenant's proxy, core's
        // RestTaskController, the app engine.
        assert.equal((await fetch(`http://127.0.0.1:${httpPort}/api/app-engine/tasks`)).status, 401);
        const form = new FormData();
        form.append("task", new Blob([new Uint8Array(fs.readFileSync(bundle.zip))]), "bundle.zip");
        const uploaded = await coreApi("POST", "/tasks", form);
        assert.equal(uploaded.status, 200, JSON.stringify(uploaded.body));
        assert.equal(uploaded.body.namespace, bundle.namespace);
        // Again: the app engine's refusal, as core relays it (AppEngineException).
        const again = await coreApi("POST", "/tasks", form);
        assert.equal(again.body.error_code, "APPE-internal-task-exists", JSON.stringify(again.body));
        const listed = await coreApi("GET", "/tasks");
        assert.deepEqual(
            listed.body.map((t: Any) => `${t.namespace}/${t.version}`),
            [`${bundle.namespace}/${bundle.version}`],
        );
        assert.equal(
            (await coreApi("GET", `/tasks/${bundle.namespace}/${bundle.version}`)).body.name,
            uploaded.body.name,
        );
        // An image in a project, saved in core as PIMS's import saves one (uploaded file, abstract
        // image, instance), then every run through core's TaskRunController on that image.
        const via = await imageInProject(coreCall, `ml-${tenant}`);
        const engine = { call: coreApi };
        const ok = await runTask(engine, bundle, { a: 2, b: 3 }, via);
        const pod = (role: string, runId: string) =>
            docker(
                "ps",
                "-a",
                "--filter",
                `network=${project}-tasks`,
                "--filter",
                `label=task-pods.cytomine-fallback/container=${role}`,
                "--format",
                "{{.ID}} {{.Image}} {{.Names}}",
            )
                .split("\n")
                .filter((l) => l.includes(runId));
        assert.equal(ok.state, "FINISHED", docker("logs", composeContainer(env.docker.host, project, "task-pods")));
        assert.deepEqual(await taskOutputs(engine, ok.id, via), [["out", 5]]);
        // Core recorded each run on its image (TaskRunService.getTaskRuns).
        const runs = (await coreCall("GET", `/project/${via.project}/task-runs`)).body;
        assert.deepEqual(
            runs.map((r: Any) => [r.taskRunId, r.image]),
            [[ok.id, via.image]],
        );
        // The task container ran on the host's engine, from the image the app engine pushed to the
        // tenant's registry, pulled by the engine through the registry's loopback port.
        const [task] = pod("task", ok.id);
        assert.ok(task, "the task container");
        const [id, image] = task.split(" ");
        assert.equal(image, `127.0.0.1:${registryPort}/${bundle.image}`);
        assert.match(docker("logs", id), /a \+ b = 5/);
        assert.equal(docker("inspect", "-f", "{{.State.ExitCode}}", id).trim(), "0");
        const failed = await runTask(engine, bundle, { a: -1, b: 3 }, via);
        assert.equal(failed.state, "FAILED");
        // A task whose image the registry no longer holds (deleted through the registry's API, and
        // gone from the host's engine): its run FAILED at once rather than QUEUING for good.
        const [repository, tag] = bundle.image.split(":");
        const manifest = `http://127.0.0.1:${registryPort}/v2/${repository}/manifests`;
        const head = await fetch(`${manifest}/${tag}`, {
            method: "HEAD",
            headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json" },
        });
        const digest = head.headers.get("docker-content-digest");
        assert.ok(digest, `the registry serves ${bundle.image}: ${head.status}`);
        assert.equal((await fetch(`${manifest}/${digest}`, { method: "DELETE" })).status, 202);
        docker("rmi", "-f", `127.0.0.1:${registryPort}/${bundle.image}`);
        const gone = await runTask(engine, bundle, { a: 1, b: 1 }, via);
        assert.equal(gone.state, "FAILED");
        const [goneTask] = pod("task", gone.id);
        assert.equal(goneTask, undefined, "no task container without its image");
        // Its pod, as task-pods keeps it: failed by the registry's answer.
        const kept = JSON.parse(fs.readFileSync(`${dataRoot}/${tenant}/task-pods/pods.json`, "utf8"));
        const text = JSON.stringify(kept);
        assert.match(
            text,
            new RegExp(`the registry does not hold image .{0,4}127\\.0\\.0\\.1:${registryPort}/${repository}`),
        );
    });

    it("task-pods refuses what the task namespace refuses on Kubernetes, and a task reaches the app engine, not postgis", async () => {
        const project = `cytomine-${tenant}`;
        const token = readEnvFile(`${configRoot}/${tenant}/env/task-pods.env`).TASK_PODS_TOKEN;
        const forward = composeForward(
            env.docker.host,
            project,
            { service: "task-pods", port: 6443, scheme: "https", image: DEFAULT_IMAGES.proxy },
            work,
        );
        const api = async (method: string, p: string, body?: unknown, bearer = token) => {
            const r = await fetch(`http://127.0.0.1:${forward.port}${p}`, {
                method,
                headers: { Authorization: `Bearer ${bearer}`, "Content-Type": "application/json" },
                ...(body ? { body: JSON.stringify(body) } : {}),
            });
            return { status: r.status, body: (await r.json()) as Any };
        };
        const small = { cpu: "100m", memory: "64Mi" };
        const pod = (name: string, command: string, over: Any = {}) => ({
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name, labels: { app: "probe" } },
            spec: {
                restartPolicy: "Never",
                containers: [
                    {
                        name: "probe",
                        image: DEFAULT_IMAGES.tasksRunner,
                        command: ["/bin/sh", "-c", command],
                        resources: { requests: small, limits: small },
                        ...over.container,
                    },
                ],
                ...over.spec,
            },
        });
        try {
            const pods = "/api/v1/namespaces/tasks/pods";
            assert.equal((await api("GET", pods, undefined, "not-the-token")).status, 401);
            const other = await api("GET", "/api/v1/namespaces/default/pods");
            assert.equal(other.status, 403);
            assert.match(other.body.message, /cannot list resource "pods" .* in the namespace "default"/);
            const privileged = await api(
                "POST",
                pods,
                pod("p1", "true", { container: { securityContext: { privileged: true } } }),
            );
            assert.equal(privileged.status, 403, JSON.stringify(privileged.body));
            const hostPath = await api(
                "POST",
                pods,
                pod("p2", "true", { spec: { volumes: [{ name: "etc", hostPath: { path: "/etc" } }] } }),
            );
            assert.ok([403, 422].includes(hostPath.status), JSON.stringify(hostPath.body));
            const foreign = await api(
                "POST",
                pods,
                pod("p4", "true", { container: { image: DEFAULT_IMAGES.postgis } }),
            );
            assert.equal(foreign.status, 403);
            assert.match(foreign.body.message, /images not from the task registry or the tasks runner/);
            const big = { cpu: "5", memory: "64Mi" };
            const quota = await api(
                "POST",
                pods,
                pod("p3", "true", { container: { resources: { requests: big, limits: big } } }),
            );
            assert.equal(quota.status, 403);
            assert.match(quota.body.message, /exceeded quota/);
            // A pod that probes: the app engine answers, postgis is not even a name on the task network,
            // and its own token may not list pods.
            const probe = [
                "curl -s -o /dev/null -w 'engine %{http_code}\\n' http://app-engine:8080/app-engine/v1/tasks",
                // curl's exit code: 6 the name does not resolve, 7 refused, 28 timed out; 52 would be
                // PostgreSQL's port answering (an empty reply to HTTP).
                'curl -s -o /dev/null -m 5 http://postgis:5432/; echo "postgis exit $?"',
                'curl -sk -o /dev/null -w "list %{http_code}\\n" -H "Authorization: Bearer $(cat /var/run/secrets/kubernetes.io/serviceaccount/token)" ' +
                    "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/tasks/pods",
            ].join("; ");
            assert.equal((await api("POST", pods, pod("probe", probe))).status, 201);
            let phase = "";
            for (let i = 0; i < 60 && !["Succeeded", "Failed"].includes(phase); i++) {
                await new Promise((r) => setTimeout(r, 1000));
                phase = (await api("GET", `${pods}/probe`)).body.status?.phase;
            }
            assert.equal(phase, "Succeeded");
            const log = await (
                await fetch(`http://127.0.0.1:${forward.port}${pods}/probe/log`, {
                    headers: { Authorization: `Bearer ${token}` },
                })
            ).text();
            assert.match(log, /engine 200/);
            assert.match(log, /postgis exit (6|7|28)\n/);
            assert.match(log, /list 403/);
            assert.equal((await api("DELETE", `${pods}/probe`)).status, 200);
        } finally {
            forward.stop();
        }
    });

    it("ML off: the next up removes every ML service and the task containers", async () => {
        await setStackConfig(e.stack, { "cytomine-fallback:ml": JSON.stringify({ enabled: false }) });
        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
        const running = containers();
        for (const s of ML_CONTAINERS) assert.ok(!running.includes(s), `${s} still runs: ${running}`);
        assert.ok(running.includes("core"));
        assert.equal(docker("ps", "-aq", "--filter", `network=cytomine-${tenant}-tasks`).trim(), "");
        // Core without APPENGINE_ENABLED has no app-engine routes (@ConditionalOnExpression).
        assert.equal((await coreApi("GET", "/tasks")).status, 404);
    });
});

describe("ML services on Kubernetes: the task namespace (kube-apiserver, KWOK nodes)", { timeout: 1_200_000 }, () => {
    let env: Environment;
    let e: EphemeralStack;
    let tenant: string;
    let tasks: string;
    const kubectl = async (...args: string[]) =>
        (
            await run(path.join(envSettings().kube.binDir, "kubectl"), ["--kubeconfig", env.kube.kubeconfig, ...args], {
                maxBuffer: 16 << 20,
            })
        ).stdout;
    /** What the API server answers: "ok", or its error's first line. */
    const attempt = (...args: string[]) =>
        kubectl(...args).then(
            () => "ok",
            (err: { stderr?: string }) => (err.stderr ?? String(err)).trim().split("\n")[0],
        );
    /** A pod as upstream's scheduler makes it (KubernetesScheduler.java:236-289), with changes. */
    const taskPod = (name: string, over: { privileged?: boolean; hostPath?: string; cpu?: string } = {}) =>
        JSON.stringify({
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name, namespace: tasks, labels: { app: "task", runId: name } },
            spec: {
                serviceAccountName: "app-engine",
                hostNetwork: false,
                restartPolicy: "Never",
                containers: [
                    {
                        name: "task",
                        image: "registry.example.org/task:1",
                        resources: {
                            requests: { cpu: over.cpu ?? "1", memory: "1Gi" },
                            limits: { cpu: over.cpu ?? "1", memory: "1Gi" },
                        },
                        ...(over.privileged ? { securityContext: { privileged: true } } : {}),
                        volumeMounts: [{ name: "inputs", mountPath: "/inputs" }],
                    },
                ],
                volumes: [
                    { name: "inputs", hostPath: { path: over.hostPath ?? `/tmp/app-engine/task-run-inputs-${name}` } },
                ],
            },
        });
    /** The API server's answer to a SubjectAccessReview, as kubectl prints it: yes or no. */
    const canI = (...args: string[]) =>
        kubectl("auth", "can-i", ...args).then(
            (o) => o.trim(),
            (err: { stdout?: string }) => (err.stdout ?? "").trim(),
        );
    const create = async (manifest: string) => {
        const file = path.join(fs.mkdtempSync("/tmp/ml-pod-"), "pod.json");
        fs.writeFileSync(file, manifest);
        return attempt("create", "-f", file);
    };

    before(async () => {
        env = await useEnvironment();
        const project = projectConfig(env, "mlk", {
            "cytomine-fallback:orthanc": "false",
            "cytomine-fallback:ml": JSON.stringify({
                enabled: true,
                services: ["app-engine"],
                tasks: { cpu: "4", memory: "8Gi", pods: 2 },
            }),
        });
        tenant = project.id;
        tasks = tasksNamespaceOf(tenant);
        e = await createEphemeralStack({
            workDir: repoRoot,
            config: project.config,
            env: { KUBECONFIG: env.kube.kubeconfig },
        });
    });

    after(async () => {
        if (e) await disposeEphemeralStack(e);
    });

    it("up declares the app engine, its database and registry, and the task namespace with its guards", async () => {
        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
        const names = (kind: string, ns: string) =>
            kubectl("-n", ns, "get", kind, "-o", "name").then((o) => o.split("\n").filter(Boolean).sort());
        const workloads = [...(await names("deployment", tenant)), ...(await names("statefulset", tenant))];
        for (const w of ["statefulset.apps/app-engine", "statefulset.apps/app-engine-db", "deployment.apps/registry"])
            assert.ok(workloads.includes(w), `${w} in ${workloads}`);
        assert.ok(!workloads.some((w) => /\/(sam|cbir)/.test(w)), "only the services chosen");
        const ns = JSON.parse(await kubectl("get", "namespace", tasks, "-o", "json"));
        assert.equal(ns.metadata.labels["pod-security.kubernetes.io/enforce"], "privileged");
        assert.match(ns.metadata.annotations["cytomine.dev/pod-security-reason"], /hostPath/);
        const env2 = JSON.parse(await kubectl("-n", tenant, "get", "statefulset", "app-engine", "-o", "json")).spec
            .template.spec.containers[0].env;
        const registry = env2.find((v: { name: string }) => v.name === "SCHEDULER_REGISTRY_ADVERTISED_URL").value;
        const clusterIP = (
            await kubectl("-n", tenant, "get", "service", "registry", "-o", "jsonpath={.spec.clusterIP}")
        ).trim();
        assert.equal(registry, `${clusterIP}:5000`, "task images are pulled from the registry's Service address");
    });

    it("the app engine's rights stop at its task namespace; a task's are read-only", async () => {
        const engine = `--as=system:serviceaccount:${tenant}:app-engine`;
        const task = `--as=system:serviceaccount:${tasks}:app-engine`;
        assert.equal(await attempt("-n", tasks, "get", "pods", engine), "ok");
        for (const ns of [tenant, "kube-system", "default"])
            assert.match(await attempt("-n", ns, "get", "pods", engine), /Forbidden/, `lists pods of ${ns}`);
        assert.match(await attempt("get", "pods", "--all-namespaces", engine), /Forbidden/);
        assert.match(await attempt("-n", tasks, "get", "secrets", engine), /Forbidden/);
        assert.equal(await canI("-n", tasks, "create", "pods", engine), "yes");
        assert.equal(await canI("-n", tasks, "delete", "pods", engine), "yes");
        assert.equal(await canI("-n", tasks, "create", "pods", task), "no");
        assert.equal(await canI("-n", tasks, "get", "pods", task), "yes");
        assert.equal(await canI("-n", tenant, "get", "pods", task), "no");
    });

    it("admission: a pod of upstream's shape is admitted; privilege, a foreign hostPath and the quota's excess are refused", async () => {
        assert.equal(await create(taskPod("run-1")), "ok");
        const privileged = await create(taskPod("run-2", { privileged: true }));
        assert.match(
            privileged,
            /ValidatingAdmissionPolicy 'cytomine-tasks-.*' denied request: task containers are not privileged/,
        );
        const hostPath = await create(taskPod("run-3", { hostPath: "/etc" }));
        assert.match(
            hostPath,
            /ValidatingAdmissionPolicy 'cytomine-tasks-.*' denied request: hostPath volumes only under \/tmp\/app-engine\//,
        );
        const greedy = await create(taskPod("run-4", { cpu: "8" }));
        assert.match(greedy, /exceeded quota: tasks.*requests\.cpu/);
        assert.equal(await create(taskPod("run-5")), "ok");
        assert.match(await create(taskPod("run-6")), /exceeded quota: tasks.*pods/, "two task pods at a time");
        // Outside the task namespace the policy does not apply (the tenant's own pods are restricted anyway).
        const binding = JSON.parse(
            await kubectl("get", "validatingadmissionpolicybinding", `cytomine-tasks-${tasks}`, "-o", "json"),
        );
        assert.deepEqual(binding.spec.matchResources.namespaceSelector.matchLabels, {
            "kubernetes.io/metadata.name": tasks,
        });
    });

    it("a preview with a weights claim the namespace lacks is refused, naming ml.weights", async () => {
        await setStackConfig(e.stack, {
            "cytomine-fallback:ml": JSON.stringify({ services: ["app-engine", "sam"], weights: "ml-weights" }),
        });
        await assert.rejects(e.stack.preview({ color: "never" }), (err: Error) => {
            assert.match(
                err.message,
                new RegExp(
                    `cytomine-fallback:ml\\.weights = "ml-weights": no PersistentVolumeClaim ml-weights in namespace ${tenant}`,
                ),
            );
            return true;
        });
        await setStackConfig(e.stack, { "cytomine-fallback:ml": JSON.stringify({ enabled: false }) });
        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
        const phase = await kubectl("get", "namespace", tasks, "-o", "jsonpath={.status.phase}").catch(() => "gone");
        assert.match(phase, /^(gone|Terminating)$/, "ML off removes the task namespace");
        const workloads = await kubectl("-n", tenant, "get", "statefulset,deployment", "-o", "name");
        assert.ok(!/app-engine|registry/.test(workloads), `ML off removes them: ${workloads}`);
    });
});
