import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { imageProblem } from "../../domain/images";
import {
    containerSecurity,
    defaultDenyNetworkPolicy,
    namespacePodSecurity,
    pinnedImages,
    privilegedWorkloads,
} from "../rules";
import { checkResource, checkStack, Fake, messages, unknown } from "../harness";
import { T } from "./sdk";

/** A container as components/kubernetes/workload.ts and security.ts build it. */
const hardened = (name = "core", overrides: Record<string, unknown> = {}) => ({
    name,
    image: "cytomine/core:5.1.0",
    securityContext: {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ["ALL"] },
    },
    resources: { requests: { cpu: "1", memory: "2Gi" }, limits: { memory: "2Gi" } },
    ...overrides,
});

const podSpec = (containers: object[], extra: Record<string, unknown> = {}) => ({
    securityContext: { runAsNonRoot: true, runAsUser: 20000, seccompProfile: { type: "RuntimeDefault" } },
    containers,
    ...extra,
});

const workload = (type: string, spec: object, namespace: unknown = "tenant", name = "w"): Fake => ({
    type,
    name,
    props: { metadata: { name, namespace }, spec: { template: { spec } } },
});

/** The sdafs CSI node plugin: privileged, root, host paths. */
const csiPlugin = (namespace: unknown = "sdafs-csi", type = T.daemonSet) =>
    workload(
        type,
        {
            hostNetwork: true,
            containers: [
                {
                    name: "node",
                    image: "sdafs/csi:1.0.0",
                    securityContext: { privileged: true, capabilities: { add: ["SYS_ADMIN"] } },
                    resources: { limits: { memory: "256Mi" } },
                },
            ],
            volumes: [{ name: "kubelet", hostPath: { path: "/var/lib/kubelet" } }],
        },
        namespace,
        "sdafs-csi-node",
    );

describe("pinned-images", () => {
    it("accepts version tags and digests, including registries with ports", () => {
        for (const image of ["redis:7.2", "cytomine/core:5.1.0", "reg:5000/x/y:1", "x@sha256:abc", undefined]) {
            assert.equal(imageProblem(image), undefined, String(image));
        }
    });

    it("rejects latest and untagged images in every workload kind", async () => {
        const pod = podSpec([{ name: "web", image: "nginx" }], { initContainers: [{ name: "i", image: "a:latest" }] });
        assert.equal((await checkResource(pinnedImages, workload(T.deployment, pod))).length, 2);
        const cron = { type: T.cronJob, props: { spec: { jobTemplate: { spec: { template: { spec: pod } } } } } };
        assert.match(messages(await checkResource(pinnedImages, cron))[0], /container i: .*:latest/);
        const bare = messages(await checkResource(pinnedImages, { type: T.pod, props: { spec: pod } }));
        assert.match(bare.join("\n"), /container web: image "nginx" has no tag/);
        assert.deepEqual(await checkResource(pinnedImages, { type: T.configMap, props: { data: {} } }), []);
    });

    it("does not judge an image unknown at preview", async () => {
        const pod = podSpec([{ name: "web", image: unknown.string }]);
        assert.deepEqual(await checkResource(pinnedImages, workload(T.statefulSet, pod)), []);
        assert.deepEqual(
            await checkResource(pinnedImages, workload(T.statefulSet, podSpec(unknown.array as never))),
            [],
        );
    });
});

describe("namespace-pod-security", () => {
    const ns = (name: unknown, labels?: unknown) => ({ type: T.namespace, props: { metadata: { name, labels } } });
    const level = (l: string) => ({ "pod-security.kubernetes.io/enforce": l });
    const check = (fake: Fake) => checkResource(namespacePodSecurity, fake).then(messages);

    it("accepts restricted and baseline, rejects privileged, other or missing levels", async () => {
        assert.deepEqual(await check(ns("tenant", level("restricted"))), []);
        assert.deepEqual(await check(ns("tenant", level("baseline"))), []);
        assert.match(
            (await check(ns("tenant", level("privileged"))))[0],
            /only namespace sdafs-csi .* may be privileged/,
        );
        assert.match((await check(ns("tenant", level("lax"))))[0], /"lax"/);
        assert.match((await check(ns("tenant")))[0], /no labels/);
    });

    it("lets the privileged namespace be privileged, when it carries its identifying labels", async () => {
        const labels = { ...level("privileged"), "app.kubernetes.io/part-of": "sdafs-csi" };
        assert.deepEqual(await check(ns("sdafs-csi", labels)), []);
        assert.match(
            (await check(ns("sdafs-csi", level("privileged"))))[0],
            /label it app.kubernetes.io\/part-of=sdafs-csi/,
        );
    });

    it("does not judge labels or a privileged namespace's name unknown at preview", async () => {
        assert.deepEqual(await check(ns("tenant", unknown.object)), []);
        assert.deepEqual(await check(ns("tenant", level(unknown.string))), []);
        assert.deepEqual(await check(ns(unknown.string, level("privileged"))), []);
    });
});

describe("container-security", () => {
    const check = (fake: Fake, config = {}) => checkResource(containerSecurity, fake, config).then(messages);

    it("accepts the program's hardened containers (pod-level runAsNonRoot and seccomp count)", async () => {
        assert.deepEqual(await check(workload(T.deployment, podSpec([hardened()]))), []);
        const containerLevel = hardened("c", {
            securityContext: { ...hardened().securityContext, seccompProfile: { type: "RuntimeDefault" } },
        });
        assert.deepEqual(await check(workload(T.statefulSet, { containers: [containerLevel] })), []);
    });

    it("reports each missing hardening of each container", async () => {
        const bare = { name: "web", image: "nginx:1.27.3" };
        const found = await check(workload(T.deployment, { containers: [bare], initContainers: [hardened("init")] }));
        assert.deepEqual(
            found.map((m) => m.replace(/ \(.*|: securityContext\.|: /g, " ").trim()),
            [
                "container init seccompProfile.type is not RuntimeDefault",
                "container web no resources.limits.memory",
                "container web runAsNonRoot is not true",
                "container web allowPrivilegeEscalation is not false",
                "container web capabilities.drop does not include ALL",
                "container web seccompProfile.type is not RuntimeDefault",
            ],
        );
    });

    it("lets a container-level setting override the pod's", async () => {
        const root = hardened("c", { securityContext: { ...hardened().securityContext, runAsNonRoot: false } });
        assert.match((await check(workload(T.deployment, podSpec([root]))))[0], /runAsNonRoot is not true/);
    });

    it("requires only limits of the sdafs CSI node plugin; limits come from config", async () => {
        assert.deepEqual(await check(csiPlugin()), []);
        assert.equal((await check(csiPlugin("tenant"))).length, 4);
        const found = await check(workload(T.deployment, podSpec([hardened()])), { requiredLimits: ["memory", "cpu"] });
        assert.deepEqual(found, ["container core: no resources.limits.cpu"]);
    });

    it("does not judge settings unknown at preview", async () => {
        const c = hardened("c", { securityContext: unknown.object, resources: { limits: unknown.object } });
        assert.deepEqual(await check(workload(T.deployment, { containers: [c], securityContext: unknown.object })), []);
        assert.deepEqual(await check({ type: T.deployment, props: { spec: { template: unknown.object } } }), []);
    });
});

describe("privileged-workloads", () => {
    const check = (fake: Fake) => checkResource(privilegedWorkloads, fake).then(messages);

    it("allows the sdafs CSI node plugin, a DaemonSet in its own namespace", async () => {
        assert.deepEqual(await check(csiPlugin()), []);
        assert.deepEqual(await check(workload(T.deployment, podSpec([hardened()]))), []);
    });

    it("rejects privileged pods anywhere else or of another kind", async () => {
        const [elsewhere] = await check(csiPlugin("tenant"));
        assert.match(
            elsewhere,
            /hostNetwork: true; hostPath volume kubelet; container node is privileged; container node adds SYS_ADMIN/,
        );
        assert.match(elsewhere, /only a DaemonSet in namespace sdafs-csi/);
        assert.equal((await check(csiPlugin("sdafs-csi", T.deployment))).length, 1);
    });

    it("does not judge a namespace unknown at preview", async () => {
        assert.deepEqual(await check(csiPlugin(unknown.string)), []);
    });
});

describe("default-deny-network-policy", () => {
    const tenantNs: Fake = {
        type: T.namespace,
        name: "tenant-namespace",
        props: { metadata: { name: "tenant", labels: { "app.kubernetes.io/part-of": "cytomine" } } },
    };
    const policy = (name: string, spec: unknown, namespace: unknown = "tenant", deps = false): Fake => ({
        type: T.networkPolicy,
        name,
        props: { metadata: { name, namespace }, spec },
        propertyDependencies: deps ? { metadata: ["tenant-namespace"] } : {},
    });
    const deny = { podSelector: {}, policyTypes: ["Ingress", "Egress"] };
    const allow = { podSelector: { matchLabels: { app: "core" } }, policyTypes: ["Ingress"], ingress: [{}] };
    const check = (fakes: Fake[]) => checkStack(defaultDenyNetworkPolicy, fakes);

    it("accepts a tenant namespace with a default-deny policy, found by name or by dependency", async () => {
        assert.deepEqual(await check([tenantNs, policy("default-deny", deny)]), []);
        assert.deepEqual(await check([tenantNs, policy("default-deny", deny, unknown.string, true)]), []);
    });

    it("reports a tenant namespace with only allow-policies, or a deny policy elsewhere", async () => {
        const [d] = await check([tenantNs, policy("core", allow), policy("default-deny", deny, "other")]);
        assert.match(d.message, /tenant namespace tenant has no default-deny NetworkPolicy/);
        assert.equal(d.urn, `urn:pulumi:test::cytomine-fallback::${T.namespace}::tenant-namespace`);
        const ingressOnly = { podSelector: {}, policyTypes: ["Ingress"] };
        assert.equal((await check([tenantNs, policy("deny-in", ingressOnly)])).length, 1);
        const plain: Fake = { type: T.namespace, name: "n", props: { metadata: { name: "x", labels: {} } } };
        assert.deepEqual(await check([plain]), []);
    });

    it("does not judge while a candidate policy's namespace or spec is unknown", async () => {
        assert.deepEqual(await check([tenantNs, policy("default-deny", deny, unknown.string)]), []);
        assert.deepEqual(await check([tenantNs, policy("default-deny", unknown.object)]), []);
    });
});
