// Where a tenant's pods run: the check that some Ready node takes them (program/preflight/placement.ts),
// the selector and tolerations added to every workload (components/kubernetes/workload.ts), and the
// sysctl that lets a pod bind a port below 1024 without privileges (components/kubernetes/security.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NodeFacts, nodeRefusal, placementProblem } from "../../program/preflight/placement";
import { podSecurityContext } from "../../components/kubernetes/security";
import { Placement, withPlacement } from "../../components/kubernetes/workload";

const PROJECT = "cytomine-fallback";
const LABEL = "cytomine.dev/real-node";
const TAINT = { key: LABEL, value: "true", effect: "NoSchedule" };

/** The local environment's real node: labelled and tainted. */
const realNode = (over: Partial<NodeFacts> = {}): NodeFacts => ({
    name: "cytomine-node",
    labels: { [LABEL]: "true", "kubernetes.io/hostname": "cytomine-node" },
    ready: true,
    taints: [TAINT],
    ...over,
});
/** A KWOK node: Ready, no label of the real node, no taint. */
const kwokNode = (name = "kwok-node-0"): NodeFacts => ({
    name,
    labels: { type: "kwok" },
    ready: true,
    taints: [],
});

/** The placement a tenant asks for to run on the real node. */
const onRealNode: Placement = {
    nodeSelector: { [LABEL]: "true" },
    tolerations: [{ key: LABEL, operator: "Equal", value: "true", effect: "NoSchedule" }],
};

describe("placementProblem: does some Ready node take the tenant's pods", () => {
    it("nothing asked: no check, even with no node at all", () => {
        assert.equal(placementProblem(PROJECT, [], { nodeSelector: {}, tolerations: [] }), undefined);
    });

    it("a Ready node with the labels and a tolerated NoSchedule taint takes them", () => {
        assert.equal(nodeRefusal(realNode(), onRealNode), undefined);
        assert.equal(placementProblem(PROJECT, [kwokNode(), realNode()], onRealNode), undefined);
    });

    it("no node takes them: the issue names the key and each node's reason", () => {
        const nodes = [
            realNode({ ready: false }),
            kwokNode("kwok-node-0"),
            realNode({ name: "tainted", taints: [TAINT, { key: "dedicated", value: "gpu", effect: "NoSchedule" }] }),
        ];
        const problem = placementProblem(PROJECT, nodes, onRealNode);
        assert.ok(problem);
        assert.match(problem, /^cytomine-fallback:nodeSelector = \{"cytomine\.dev\/real-node":"true"\}/);
        assert.match(problem, /cytomine-node: not Ready/);
        assert.match(problem, /kwok-node-0: no label cytomine\.dev\/real-node=true/);
        assert.match(problem, /tainted: taint dedicated=gpu:NoSchedule not tolerated/);
        // Only the taint that blocks is named; the tolerated one is not.
        assert.doesNotMatch(problem, /taint cytomine\.dev\/real-node/);
        assert.match(problem, /npm run env:up/);
    });

    it("without the toleration the real node refuses for its taint", () => {
        const selectorOnly: Placement = { nodeSelector: { [LABEL]: "true" }, tolerations: [] };
        assert.equal(
            nodeRefusal(realNode(), selectorOnly),
            "taint cytomine.dev/real-node=true:NoSchedule not tolerated",
        );
        assert.match(
            placementProblem(PROJECT, [realNode()], selectorOnly) ?? "",
            /cytomine-node: taint .* not tolerated/,
        );
    });

    it("a PreferNoSchedule taint never blocks", () => {
        const node = realNode({ taints: [{ key: "soft", value: "x", effect: "PreferNoSchedule" }] });
        assert.equal(nodeRefusal(node, { nodeSelector: { [LABEL]: "true" }, tolerations: [] }), undefined);
    });

    it("an Exists toleration without a value tolerates the taint whatever its value", () => {
        const exists: Placement = {
            nodeSelector: { [LABEL]: "true" },
            tolerations: [{ key: LABEL, operator: "Exists", effect: "NoSchedule" }],
        };
        assert.equal(nodeRefusal(realNode(), exists), undefined);
        assert.equal(nodeRefusal(realNode({ taints: [{ ...TAINT, value: "other" }] }), exists), undefined);
        // An Equal toleration with another value does not.
        const otherValue: Placement = {
            nodeSelector: {},
            tolerations: [{ key: LABEL, operator: "Equal", value: "false", effect: "NoSchedule" }],
        };
        assert.match(nodeRefusal(realNode(), otherValue) ?? "", /not tolerated/);
    });

    it("a toleration of another effect does not tolerate the taint", () => {
        const noExecute: Placement = {
            nodeSelector: { [LABEL]: "true" },
            tolerations: [{ key: LABEL, operator: "Equal", value: "true", effect: "NoExecute" }],
        };
        assert.equal(nodeRefusal(realNode(), noExecute), "taint cytomine.dev/real-node=true:NoSchedule not tolerated");
        assert.ok(placementProblem(PROJECT, [realNode()], noExecute));
    });

    it("an empty cluster is named as such", () => {
        assert.match(placementProblem(PROJECT, [], onRealNode) ?? "", /the cluster has no nodes/);
        // Tolerations alone are asked too.
        assert.match(
            placementProblem(PROJECT, [], { nodeSelector: {}, tolerations: onRealNode.tolerations }) ?? "",
            /the cluster has no nodes/,
        );
    });
});

describe("withPlacement: the selector and tolerations on every pod", () => {
    const deployment = () => ({
        metadata: { name: "core" },
        spec: {
            replicas: 1,
            template: {
                metadata: { labels: { app: "core" } },
                spec: {
                    containers: [{ name: "core", image: "core:1" }],
                    nodeSelector: { "kubernetes.io/os": "linux" },
                    tolerations: [{ key: "own", operator: "Exists" }],
                },
            },
        },
    });

    it("adds them to a Deployment's pod template, keeping the pod's own", () => {
        const props = deployment();
        const out = withPlacement("kubernetes:apps/v1:Deployment", props, onRealNode) as ReturnType<typeof deployment>;
        assert.ok(out);
        assert.deepEqual(out.spec.template.spec.nodeSelector, { "kubernetes.io/os": "linux", [LABEL]: "true" });
        assert.deepEqual(out.spec.template.spec.tolerations, [
            { key: "own", operator: "Exists" },
            ...onRealNode.tolerations,
        ]);
        // The rest of the workload is unchanged, and the input is not modified.
        assert.deepEqual(out.spec.template.spec.containers, props.spec.template.spec.containers);
        assert.equal(out.spec.replicas, 1);
        assert.deepEqual(props, deployment());
    });

    it("adds them to a pod spec that had none", () => {
        const job = { spec: { template: { spec: { containers: [{ name: "migrate", image: "m:1" }] } } } };
        const out = withPlacement("kubernetes:batch/v1:Job", job, onRealNode) as {
            spec: { template: { spec: { nodeSelector: unknown; tolerations: unknown } } };
        };
        assert.ok(out);
        assert.deepEqual(out.spec.template.spec.nodeSelector, { [LABEL]: "true" });
        assert.deepEqual(out.spec.template.spec.tolerations, onRealNode.tolerations);
    });

    it("leaves a resource that runs no pods alone", () => {
        const service = { spec: { selector: { app: "core" }, ports: [{ port: 80 }] } };
        assert.equal(withPlacement("kubernetes:core/v1:Service", service, onRealNode), undefined);
    });
});

describe("podSecurityContext: ports below 1024 without privileges", () => {
    it("a server on port 80 gets net.ipv4.ip_unprivileged_port_start=80", () => {
        const c = podSecurityContext(20000, 80);
        assert.deepEqual(c.sysctls, [{ name: "net.ipv4.ip_unprivileged_port_start", value: "80" }]);
        assert.equal(c.runAsNonRoot, true);
        assert.equal(c.runAsUser, 20000);
    });

    it("a port from 1024 up, or none, needs no sysctl", () => {
        assert.ok(!("sysctls" in podSecurityContext(20000, 8080)));
        assert.ok(!("sysctls" in podSecurityContext(20000, 1024)));
        assert.ok(!("sysctls" in podSecurityContext(20000)));
    });
});
