// The machine-learning services: the config key `ml` and its errors, the services declared from the
// release data, the task namespace (rights, quota, policies, admission rules) under mocks, the
// preflight's messages and the policy pack's task-namespaces rule.
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { describe, it } from "node:test";
import { Cytomine } from "../../components/kubernetes/cytomine";
import {
    APP_ENGINE_RULES,
    PRIVILEGED_REASON_KEY,
    TASK_RULES,
    taskAdmissionRules,
    taskPlacementExpression,
} from "../../components/kubernetes/tasks";
import {
    coreMlEnv,
    HELPER_DEFAULT,
    ML_SERVICES,
    mlServices,
    TASK_HOST_PATHS,
    tasksNamespaceOf,
} from "../../components/model/ml";
import { CONTRACTS } from "../../components/model/release";
import { DEFAULT_IMAGES, DEFAULT_STORAGE } from "../../components/model/settings";
import { ConfigError, parseConfig } from "../../program/config";
import { ML_DEFAULTS } from "../../program/config/ml";
import {
    missingClaimIssue,
    missingWeightsIssue,
    unpublishedImagesIssue,
    weightFiles,
} from "../../program/preflight/ml";
import { taskNamespaces } from "../../policies/rules";
import { composeProblems } from "../../policies/vm";
import { checkStack, Fake } from "../../policies/harness";
import { T } from "../../policies/test/sdk";
import { cytomineArgs } from "../support/cytomine-args";
import { hostArgs } from "../support/host-args";
import { hostLayout } from "../../components/vm/cytomine";
import { parse } from "yaml";
import { apiServerEgress } from "../../components/kubernetes/workload";
import { apiServerEndpoints } from "../../program/preflight/cluster";
import { allRegistered, recordResources } from "../support/mocks";

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const valid = {
    tenant: "lab-a",
    publicUrl: "https://cytomine.example.org",
    keycloakUrl: "https://cytomine.example.org/iam",
    lsaaiClientId: "client-1",
};

function issues(raw: Record<string, unknown>): string[] {
    try {
        parseConfig(raw);
    } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        return e.issues;
    }
    return assert.fail("expected the config to be rejected");
}

const ML = { services: [...ML_SERVICES], weights: "ml-weights", tasks: ML_DEFAULTS.tasks };

describe("ML services: the config key ml", () => {
    it("is off by default, and on it carries the services, the weights and the task quota", () => {
        assert.equal(parseConfig(valid).ml, undefined);
        const c = parseConfig({ ...valid, ml: { enabled: true, weights: "ml-weights" } });
        assert.deepEqual(c.ml, {
            services: ["app-engine", "sam", "cbir"],
            weights: "ml-weights",
            tasks: ML_DEFAULTS.tasks,
        });
    });

    it("names ml.weights when SAM or CBIR has none, and not for the app engine alone", () => {
        const [i] = issues({ ...valid, ml: { enabled: true } });
        assert.match(
            i,
            /^cytomine-fallback:ml\.weights is not set: required with sam or cbir .* Nothing is downloaded at run time/,
        );
        assert.ok(parseConfig({ ...valid, ml: { enabled: true, services: ["app-engine"] } }).ml);
    });

    it("on a VM the app engine's task pods run through task-pods; a privileged opt-in is refused there, naming the key", () => {
        const vm = {
            ...valid,
            target: "ssh",
            vm: { host: "10.0.0.5" },
            localStack: true,
            publicUrl: "http://127.0.0.1:8080",
        };
        const c = parseConfig({ ...vm, ml: { enabled: true, weights: "/srv/weights" } });
        assert.deepEqual(c.ml?.services, ["app-engine", "sam", "cbir"]);
        assert.equal(c.ml?.tasks.registryPort, 5000);
        const layout = hostLayout(hostArgs({ ml: c.ml }));
        const compose = parse(layout.plainFiles.find((f) => f.path === "compose.yaml")!.content) as Any;
        const envOf = (component: string) =>
            Object.fromEntries(
                layout.services
                    .find((s) => s.component === component)!
                    .env.map((e: Any) => [e.name, e.value ?? `secret:${e.valueFrom.secretKeyRef.key}`]),
            );
        // The app engine finds task-pods as fabric8 would find a cluster, with the generated token.
        assert.deepEqual(
            [envOf("app-engine").KUBERNETES_MASTER, envOf("app-engine").KUBERNETES_AUTH_TOKEN],
            ["https://task-pods:6443", "secret:task-pods-token"],
        );
        assert.equal(envOf("task-pods").TASK_PODS_TOKEN, "secret:task-pods-token");
        assert.equal(envOf("app-engine").SCHEDULER_REGISTRY_ADVERTISED_URL, "127.0.0.1:5000");
        assert.equal(envOf("app-engine").SCHEDULER_ADVERTISED_URL, "http://app-engine:8080");
        assert.equal(envOf("task-pods").TASK_PODS_NETWORK, "cytomine-lab-a-tasks");
        assert.equal(envOf("task-pods").TASK_PODS_QUOTA_CPU, ML_DEFAULTS.tasks.cpu);
        assert.equal(envOf("task-pods").TASK_PODS_IMAGES, `127.0.0.1:5000/,${DEFAULT_IMAGES.tasksRunner}`);
        // Task containers share a network with the app engine and task-pods only, with no route out;
        // the registry is published on the host's loopback only; task-pods alone has the Docker socket.
        assert.deepEqual(compose.networks.tasks, { name: "cytomine-lab-a-tasks", internal: true });
        const on = (net: string) =>
            Object.entries(compose.services)
                .filter(([, svc]: Any) => svc.networks.includes(net))
                .map(([name]) => name)
                .sort();
        assert.deepEqual(on("tasks"), ["app-engine", "task-pods"]);
        assert.deepEqual(compose.services.registry.ports, ["127.0.0.1:5000:5000"]);
        const socket = Object.entries(compose.services).filter(([, svc]: Any) =>
            (svc.volumes ?? []).some((v: string) => v.startsWith("/var/run/docker.sock:")),
        );
        assert.deepEqual(
            socket.map(([name]) => name),
            ["task-pods"],
        );
        assert.deepEqual(compose.services["task-pods"].cap_drop, ["ALL"]);
        assert.equal(compose.services["task-pods"].read_only, true);
        assert.ok(layout.volumeDirs.some((d) => d.path === "/var/lib/cytomine-fallback/lab-a/task-pods"));
        // And the policy pack's reading of the same file finds nothing (policies/vm.ts).
        assert.deepEqual(composeProblems(compose), []);

        const [privileged] = issues({
            ...vm,
            ml: { enabled: true, weights: "/srv/weights", tasks: { privilegedReason: "a GPU driver needs it" } },
        });
        assert.match(
            privileged,
            /ml\.tasks\.privilegedReason .*is for target kubernetes: on a VM, task containers run through the task-pods service/,
        );
        assert.match(
            issues({ ...vm, ml: { enabled: true, services: ["sam"], weights: "weights" } })[0],
            /not an absolute folder of the host/,
        );
    });

    it("refuses a quota that runs no task, an unknown service and an opt-in without its reason", () => {
        const ml = (tasks: object) => ({ ...valid, ml: { enabled: true, weights: "w", tasks } });
        assert.match(
            issues(ml({ cpu: "1500m" }))[0],
            /ml\.tasks\.cpu = "1500m": runs no task: one task pod requests 2 CPUs/,
        );
        assert.match(
            issues(ml({ memory: "4Gi" }))[0],
            /ml\.tasks\.memory = "4Gi": runs no task: one task pod requests 5Gi/,
        );
        assert.match(
            issues(ml({ privilegedReason: "why" }))[0],
            /ml\.tasks\.privilegedReason = "why": say why task containers must run privileged/,
        );
        assert.match(issues({ ...valid, ml: { enabled: true, services: ["gpu"] } }).join(" "), /ml\.services/);
        assert.match(
            issues({ ...valid, ml: { enabled: true, weights: "Not_A_Claim" } })[0],
            /ml\.weights = "Not_A_Claim": not a claim name/,
        );
        // Smaller helpers make a smaller pod: 1 CPU and 4Gi for the task, plus the helper's.
        const small = { helper: { cpu: "100m", memory: "256Mi" } };
        assert.match(
            issues(ml({ ...small, cpu: "1" }))[0],
            /ml\.tasks\.cpu = "1": runs no task: one task pod requests 1\.1 CPUs .*its outputs helper 100m from ml\.tasks\.helper\.cpu/,
        );
        assert.equal(parseConfig(ml({ ...small, cpu: "1100m", memory: "4352Mi" })).ml?.tasks.helper.cpu, "100m");
        assert.match(issues(ml({ helper: { cpu: "lots" } }))[0], /ml\.tasks\.helper\.cpu = "lots"/);
        const long = "n".repeat(51);
        assert.match(
            issues({ ...valid, namespace: long, ml: { enabled: true, services: ["app-engine"] } })[0],
            new RegExp(`ml\\.services.*the task namespace "${long}-engine-tasks" would pass 63 characters`),
        );
        // `pulumi config set --path ml.tasks.cpu 4` stores a number.
        assert.equal(
            parseConfig({ ...valid, ml: { enabled: true, weights: "w", tasks: { cpu: 4 } } }).ml?.tasks.cpu,
            "4",
        );
    });
});

describe("ML services: declared from the release data", () => {
    const specs = mlServices({
        ...ML,
        namespace: "lab-a",
        images: DEFAULT_IMAGES,
        storage: DEFAULT_STORAGE,
        registryAdvertised: "10.96.0.9:5000",
        helper: { cpu: "250m", memory: "512Mi" },
    });
    const env = (component: string) =>
        Object.fromEntries(
            specs
                .find((s) => s.component === component)!
                .env.map((e: Any) => [e.name, e.value ?? e.valueFrom.secretKeyRef.key]),
        );

    it("points the app engine at its database, registry and task namespace, in cluster mode", () => {
        const e = env("app-engine");
        assert.equal(e.SCHEDULER_TASKS_NAMESPACE, "lab-a-engine-tasks");
        assert.equal(e.SCHEDULER_RUN_MODE, "cluster");
        assert.equal(e.SCHEDULER_ADVERTISED_URL, "http://app-engine.lab-a.svc:8080");
        assert.equal(e.SCHEDULER_REGISTRY_ADVERTISED_URL, "10.96.0.9:5000");
        assert.equal(e.DB_PASSWORD, "app-engine-db-password");
        assert.equal(e.API_PREFIX, "/app-engine/");
        // scheduler.helper-containers-resources by Spring's relaxed binding (upstream default: HELPER_DEFAULT).
        assert.equal(e.SCHEDULER_HELPERCONTAINERSRESOURCES_CPU, "250m");
        assert.equal(e.SCHEDULER_HELPERCONTAINERSRESOURCES_RAM, "512Mi");
        assert.deepEqual(HELPER_DEFAULT, { cpu: "1", memory: "1Gi" });
        const spec = specs.find((s) => s.component === "app-engine")!;
        assert.ok(spec.kubernetesApiReason, "the only spec that drives the API says why");
        assert.deepEqual(spec.clientNamespaces, [tasksNamespaceOf("lab-a")]);
        assert.deepEqual(
            specs.filter((s) => s.kubernetesApiReason).map((s) => s.component),
            ["app-engine"],
        );
    });

    it("mounts the operator's weights where SAM and CBIR read them, and runs only resnet", () => {
        assert.equal(env("sam").WEIGHTS_PATH, "/weights/sam");
        assert.equal(env("cbir").WEIGHTS, "/weights/cbir/resnet");
        assert.equal(env("cbir").EXTRACTOR, "resnet");
        assert.equal(
            CONTRACTS.cbir.env.find((i) => i.name === "EXTRACTOR")!.valueProblem!("hoptim")?.includes("hub"),
            true,
        );
        assert.deepEqual(
            specs.filter((s) => s.weights).map((s) => s.component),
            ["sam", "cbir"],
        );
    });

    it("tells core every URL, and offers tasks only with an app engine", () => {
        assert.deepEqual(coreMlEnv([]), {
            SAM_URL: "http://sam:8000",
            CBIR_URL: "http://cbir:6000",
            APPENGINE_ENABLED: "false",
        });
        assert.equal(coreMlEnv(["app-engine"]).APPENGINE_API_URL, "http://app-engine:8080");
        assert.equal(coreMlEnv(["app-engine"]).APPENGINE_ENABLED, "true");
    });

    it("deploys exactly the services chosen", () => {
        const only = (services: (typeof ML_SERVICES)[number][]) =>
            mlServices({
                services,
                namespace: "n",
                images: DEFAULT_IMAGES,
                storage: DEFAULT_STORAGE,
                registryAdvertised: "",
                helper: HELPER_DEFAULT,
            }).map((s) => s.component);
        assert.deepEqual(only(["sam"]), ["sam"]);
        assert.deepEqual(only(["cbir"]), ["cbir-cache", "cbir"]);
        assert.deepEqual(only(["app-engine"]), ["app-engine-db", "registry", "app-engine"]);
    });
});

describe("ML services: the task namespace (mocks)", () => {
    it("declares the namespace, rights in it only, quota, policy and admission; a tenant without ML has none of it", async () => {
        const recorded = recordResources();
        new Cytomine("lab-a", cytomineArgs({ ml: ML }));
        await allRegistered();
        const of = (type: string) => recorded.filter((r) => r.type === type);
        const ns = of("kubernetes:core/v1:Namespace").find((r) => r.inputs.metadata.name === "lab-a-engine-tasks")!;
        assert.equal(ns.inputs.metadata.labels["pod-security.kubernetes.io/enforce"], "privileged");
        assert.match(ns.inputs.metadata.annotations["cytomine.dev/pod-security-reason"], /hostPath/);
        assert.equal(of("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole").length, 0, "no cluster-wide rights");
        const roles = of("kubernetes:rbac.authorization.k8s.io/v1:Role");
        const rulesOf = (name: string) => roles.find((r) => r.inputs.metadata.name === name)!.inputs;
        assert.equal(roles.length, 2);
        assert.equal(rulesOf("pod-starter").metadata.namespace, "lab-a-engine-tasks");
        assert.deepEqual(rulesOf("pod-starter").rules, APP_ENGINE_RULES);
        assert.deepEqual(rulesOf("task-status").rules, TASK_RULES);
        const bindings = of("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding");
        assert.deepEqual(
            bindings
                .map(
                    (b) =>
                        `${b.inputs.metadata.name}: ${b.inputs.subjects.map((s: Any) => `${s.namespace}/${s.name}`)}`,
                )
                .sort(),
            ["pod-starter: lab-a/app-engine", "task-status: lab-a-engine-tasks/app-engine"],
        );
        const [quota] = of("kubernetes:core/v1:ResourceQuota");
        assert.deepEqual(quota.inputs.spec.hard, {
            pods: "2",
            "requests.cpu": "4",
            "limits.cpu": "4",
            "requests.memory": "16Gi",
            "limits.memory": "16Gi",
        });
        const policy = of("kubernetes:networking.k8s.io/v1:NetworkPolicy").find(
            (p) => p.inputs.metadata.namespace === "lab-a-engine-tasks" && p.inputs.metadata.name === "tasks",
        )!;
        assert.deepEqual(policy.inputs.spec.ingress, []);
        assert.equal(policy.inputs.spec.egress[0].ports[0].port, 8080);
        const [binding] = of("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding");
        assert.deepEqual(binding.inputs.spec.validationActions, ["Deny"]);
        // The app engine gets a token and the API server's ports; SAM and CBIR read the claim read-only.
        const workload = (name: string) => recorded.find((r) => r.name === `lab-a-${name}` && r.inputs.spec?.template)!;
        assert.equal(workload("app-engine").inputs.spec.template.spec.automountServiceAccountToken, true);
        assert.equal(workload("core").inputs.spec.template.spec.automountServiceAccountToken, false);
        for (const name of ["sam", "cbir"]) {
            const volume = workload(name).inputs.spec.template.spec.volumes.find((v: Any) => v.name === "weights");
            assert.deepEqual(volume.persistentVolumeClaim, { claimName: "ml-weights", readOnly: true });
        }
        // The policy pack's rule holds for what the component declares.
        const fakes: Fake[] = recorded.map((r) => ({ type: r.type, name: r.name, props: r.inputs }));
        assert.deepEqual(await checkStack(taskNamespaces, fakes), []);

        const none = recordResources();
        new Cytomine("lab-b", cytomineArgs({ tenant: "lab-b", namespace: "lab-b" }));
        await allRegistered();
        const mlParts = ["app-engine", "app-engine-db", "registry", "sam", "cbir", "cbir-cache", "tasks"];
        assert.deepEqual(
            none.filter((r) => mlParts.some((p) => r.name === `lab-b-${p}` || r.name.startsWith(`lab-b-${p}-`))),
            [],
        );
        assert.ok(recorded.length - none.length >= 20, `ML adds ${recorded.length - none.length} resources`);
    });

    it("places task pods where the tenant's pods go, by a mutating admission policy, and only with a placement", async () => {
        const placement = {
            nodeSelector: { "cytomine.dev/real-node": "true" },
            tolerations: [{ key: "cytomine.dev/real-node", operator: "Equal", value: "true", effect: "NoSchedule" }],
        };
        // Checked against the real API server by real-node.test.ts; here the text itself.
        const expr = taskPlacementExpression(placement);
        assert.match(
            expr,
            /^\(has\(object\.spec\.nodeSelector\) \? \[\] : \[JSONPatch\{op: "add", path: "\/spec\/nodeSelector", value: \{\}\}\]\)/,
        );
        assert.ok(
            expr.includes('path: "/spec/nodeSelector/" + jsonpatch.escapeKey("cytomine.dev/real-node"), value: "true"'),
            expr,
        );
        assert.ok(
            expr.includes(
                'path: "/spec/tolerations/-", value: Object.spec.tolerations{key: "cytomine.dev/real-node", operator: "Equal", value: "true", effect: "NoSchedule"}',
            ),
            expr,
        );
        const onlyTolerations = taskPlacementExpression({
            nodeSelector: {},
            tolerations: [{ operator: "Exists", tolerationSeconds: 30 }],
        });
        assert.doesNotMatch(onlyTolerations, /nodeSelector/);
        assert.match(onlyTolerations, /Object\.spec\.tolerations\{operator: "Exists", tolerationSeconds: 30\}/);
        const recorded = recordResources();
        new Cytomine("lab-p", cytomineArgs({ tenant: "lab-p", namespace: "lab-p", ml: ML, ...placement }));
        await allRegistered();
        const [policy] = recorded.filter((r) => r.inputs.kind === "MutatingAdmissionPolicy");
        assert.equal(policy.inputs.apiVersion, "admissionregistration.k8s.io/v1");
        assert.equal(policy.inputs.spec.mutations[0].jsonPatch.expression, taskPlacementExpression(placement));
        const [binding] = recorded.filter((r) => r.inputs.kind === "MutatingAdmissionPolicyBinding");
        assert.deepEqual(binding.inputs.spec.matchResources, {
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "lab-p-engine-tasks" } },
        });
        const unplaced = recordResources();
        new Cytomine("lab-q", cytomineArgs({ tenant: "lab-q", namespace: "lab-q", ml: ML }));
        await allRegistered();
        assert.deepEqual(
            unplaced.filter((r) => String(r.inputs.kind).startsWith("MutatingAdmissionPolicy")),
            [],
        );
    });

    it("lets the app engine and task pods out to the API server's endpoints as the preview read them", async () => {
        assert.deepEqual(apiServerEgress({ addresses: ["10.251.0.1"], ports: [16443] }), {
            to: [{ ipBlock: { cidr: "10.251.0.1/32" } }],
            ports: [{ port: 16443, protocol: "TCP" }],
        });
        assert.deepEqual(
            (apiServerEgress(undefined).ports as Any[]).map((p) => p.port),
            [443, 6443],
        );
        assert.equal(apiServerEgress(undefined).to, undefined, "a render does not know the address");
        // What the preview reads: the kubernetes Service's EndpointSlices.
        const slices = (items: unknown[]) => async () =>
            ({ discovery: { listNamespacedEndpointSlice: async () => ({ items }) } }) as Any;
        assert.deepEqual(
            await apiServerEndpoints(
                slices([
                    { endpoints: [{ addresses: ["10.251.0.1"] }], ports: [{ name: "https", port: 16443 }] },
                    { endpoints: [{ addresses: ["10.251.0.1"] }], ports: [{ port: 16443 }] },
                ]),
            ),
            { addresses: ["10.251.0.1"], ports: [16443] },
        );
        assert.equal(await apiServerEndpoints(slices([])), undefined);
        const recorded = recordResources();
        const apiServer = { addresses: ["192.0.2.7"], ports: [6443] };
        new Cytomine("lab-c", cytomineArgs({ tenant: "lab-c", namespace: "lab-c", ml: ML, apiServer }));
        await allRegistered();
        const policy = (namespace: string, name: string) =>
            recorded.find(
                (r) =>
                    r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" &&
                    r.inputs.metadata.namespace === namespace &&
                    r.inputs.metadata.name === name,
            )!.inputs.spec;
        for (const spec of [policy("lab-c", "app-engine"), policy("lab-c-engine-tasks", "tasks")])
            assert.ok(
                spec.egress.some((e: Any) => isDeepStrictEqual(e, apiServerEgress(apiServer))),
                JSON.stringify(spec.egress),
            );
        assert.ok(!JSON.stringify(policy("lab-c", "core").egress).includes("192.0.2.7"), "only the app engine");
    });

    it("admits hostPaths only under the scheduler's folders, and privileged containers only with the operator's reason", () => {
        const strict = taskAdmissionRules(false);
        assert.ok(strict.some((r) => r.expression.includes("securityContext.privileged")));
        assert.ok(!taskAdmissionRules(true).some((r) => r.expression.includes("securityContext.privileged")));
        // Each folder itself or below it, never a look-alike prefix (/data/datasets-other).
        for (const p of TASK_HOST_PATHS)
            assert.ok(
                strict[0].expression.includes(`v.hostPath.path == '${p}' || v.hostPath.path.startsWith('${p}/')`),
            );
    });
});

describe("ML services: the preflight's messages", () => {
    it("names ml.weights and each missing file, or the claim and how to make it", () => {
        assert.deepEqual(weightFiles({ services: ["sam"] }), ["sam/weights.pt"]);
        assert.equal(missingWeightsIssue("/srv/w", [], "h"), undefined);
        // This project's own task-pods image, which no registry serves, missing from the host.
        assert.equal(unpublishedImagesIssue(DEFAULT_IMAGES, [], "h"), undefined);
        assert.match(
            unpublishedImagesIssue(DEFAULT_IMAGES, [DEFAULT_IMAGES.taskPods], "10.0.0.5")!,
            /^cytomine-fallback:images\.taskPods = "cytomine-fallback\/task-pods:0\.1\.0": not on 10\.0\.0\.5, .*build it and load it there .*or set the key to a copy/,
        );
        assert.match(
            missingWeightsIssue("/srv/w", ["sam/weights.pt"], "10.0.0.5")!,
            /^cytomine-fallback:ml\.weights = "\/srv\/w": \/srv\/w\/sam\/weights\.pt missing on 10\.0\.0\.5/,
        );
        assert.match(
            missingClaimIssue("w", "lab-a", false)!,
            /no PersistentVolumeClaim w in namespace lab-a: create it/,
        );
        assert.match(missingClaimIssue("w", "lab-a", undefined)!, /does not exist yet.* with ml\.enabled false/);
        assert.equal(missingClaimIssue("w", "lab-a", true), undefined);
    });
});

describe("policy task-namespaces", () => {
    const ns: Fake = {
        type: T.namespace,
        name: "tasks-ns",
        props: { metadata: { name: "t-engine-tasks", labels: { "app.kubernetes.io/component": "tasks" } } },
    };
    const quota: Fake = {
        type: T.resourceQuota,
        name: "q",
        props: {
            metadata: { name: "tasks", namespace: "t-engine-tasks" },
            spec: { hard: { pods: "2", "requests.cpu": "4", "requests.memory": "8Gi" } },
        },
    };
    const binding: Fake = {
        type: T.admissionPolicyBinding,
        name: "b",
        props: {
            metadata: { name: "p" },
            spec: {
                policyName: "p",
                validationActions: ["Deny"],
                matchResources: {
                    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "t-engine-tasks" } },
                },
            },
        },
    };
    const guard = (rules: string[], annotations?: object): Fake => ({
        type: T.admissionPolicy,
        name: "p",
        props: {
            metadata: { name: "p", annotations },
            spec: { validations: rules.map((expression) => ({ expression })) },
        },
    });
    const check = (fakes: Fake[]) => checkStack(taskNamespaces, fakes);

    it("accepts a quota and a Deny binding to a policy that refuses privileged containers or says why not", async () => {
        assert.deepEqual(await check([ns, quota, binding, guard(["!c.securityContext.privileged"])]), []);
        assert.deepEqual(
            await check([ns, quota, binding, guard([], { [PRIVILEGED_REASON_KEY]: "GPU driver needs it" })]),
            [],
        );
    });

    it("reports a missing quota, a missing guard, and a Warn-only binding", async () => {
        assert.match((await check([ns, binding, guard(["privileged"])]))[0].message, /no ResourceQuota/);
        assert.match((await check([ns, quota]))[0].message, /no ValidatingAdmissionPolicy .* refuses privileged/);
        const warnOnly = {
            ...binding,
            props: { ...binding.props, spec: { ...(binding.props as Any).spec, validationActions: ["Warn"] } },
        };
        assert.equal((await check([ns, quota, warnOnly, guard(["privileged"])])).length, 1);
        assert.match((await check([ns, quota, binding, guard(["hostPath"])]))[0].message, /refuses privileged/);
    });
});
