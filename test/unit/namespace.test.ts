import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { podSecurityLabels, tenantLabels, TenantNamespace } from "../../components/kubernetes/namespace";
import { recordResources, registered, valueOf } from "../support/mocks";

describe("TenantNamespace", () => {
    it("derives the recommended labels", () => {
        assert.deepEqual(tenantLabels("lab-a", "core"), {
            "app.kubernetes.io/part-of": "cytomine",
            "app.kubernetes.io/instance": "lab-a",
            "app.kubernetes.io/managed-by": "pulumi",
            "app.kubernetes.io/component": "core",
        });
        assert.equal(podSecurityLabels("baseline")["pod-security.kubernetes.io/enforce"], "baseline");
    });

    it("creates a restricted namespace and a default-deny policy, children named after the component", async () => {
        const recorded = recordResources();
        const ns = new TenantNamespace("lab-a", {
            namespace: "lab-a",
            tenant: "lab-a",
            owner: "org/cytomine-fallback/lab-a",
        });
        assert.equal(await valueOf(ns.name), "lab-a");

        const namespace = await registered(recorded, "kubernetes:core/v1:Namespace");
        assert.equal(namespace.name, "lab-a-namespace");
        assert.equal(namespace.inputs.metadata.labels["pod-security.kubernetes.io/enforce"], "restricted");
        assert.equal(namespace.inputs.metadata.labels["app.kubernetes.io/instance"], "lab-a");
        // The owning stack, which a second stack's preview reads before taking the name (tenancy.ts).
        assert.deepEqual(namespace.inputs.metadata.annotations, { "cytomine.io/stack": "org/cytomine-fallback/lab-a" });

        const deny = await registered(recorded, "kubernetes:networking.k8s.io/v1:NetworkPolicy");
        assert.equal(deny.name, "lab-a-default-deny");
        assert.deepEqual(deny.inputs.spec, { podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    });
});
