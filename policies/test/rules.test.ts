import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { imageProblem } from "../../lib/rules/images";
import { keycloakExplicitNames, namespacePodSecurity, pinnedImages, realmProtected } from "../rules";

/** Runs one policy against a fake resource and returns its violation messages. */
function violations(policy: ResourceValidationPolicy, type: string, props: object, protect = false): string[] {
    const found: string[] = [];
    const args = { type, props, urn: `urn:pulumi:test::p::${type}::r`, name: "r", opts: { protect } };
    const validate = policy.validateResource;
    assert.ok(typeof validate === "function");
    void validate(args as unknown as ResourceValidationArgs, (message) => found.push(message));
    return found;
}

describe("pinned-images", () => {
    it("accepts version tags and digests, including registries with ports", () => {
        for (const image of ["redis:7.2", "cytomine/core:5.1.0", "reg:5000/x/y:1", "x@sha256:abc", undefined]) {
            assert.equal(imageProblem(image), undefined, String(image));
        }
    });

    it("rejects latest and untagged images in every workload kind", () => {
        const pod = {
            containers: [{ name: "web", image: "nginx" }],
            initContainers: [{ name: "i", image: "a:latest" }],
        };
        assert.equal(
            violations(pinnedImages, "kubernetes:apps/v1:Deployment", { spec: { template: { spec: pod } } }).length,
            2,
        );
        const cron = { spec: { jobTemplate: { spec: { template: { spec: pod } } } } };
        assert.match(violations(pinnedImages, "kubernetes:batch/v1:CronJob", cron)[0], /container i: .*:latest/);
        assert.equal(violations(pinnedImages, "kubernetes:core/v1:ConfigMap", { data: {} }).length, 0);
    });
});

describe("namespace-pod-security", () => {
    it("accepts restricted and rejects privileged or missing labels", () => {
        const ns = (level?: string) => ({
            metadata: { labels: level ? { "pod-security.kubernetes.io/enforce": level } : {} },
        });
        assert.deepEqual(violations(namespacePodSecurity, "kubernetes:core/v1:Namespace", ns("restricted")), []);
        assert.match(
            violations(namespacePodSecurity, "kubernetes:core/v1:Namespace", ns("privileged"))[0],
            /"privileged"/,
        );
        assert.equal(violations(namespacePodSecurity, "kubernetes:core/v1:Namespace", ns()).length, 1);
    });
});

describe("keycloak-realm-protected", () => {
    it("requires protect and a realm name of at most 36 characters", () => {
        assert.deepEqual(violations(realmProtected, "keycloak:index/realm:Realm", { realm: "cytomine" }, true), []);
        assert.match(
            violations(realmProtected, "keycloak:index/realm:Realm", { realm: "cytomine" })[0],
            /not protected/,
        );
        assert.match(
            violations(realmProtected, "keycloak:index/realm:Realm", { realm: "x".repeat(37) }, true)[0],
            /37 characters/,
        );
    });
});

describe("keycloak-explicit-names", () => {
    it("requires the naming input of each Keycloak object", () => {
        assert.deepEqual(violations(keycloakExplicitNames, "keycloak:openid/client:Client", { clientId: "core" }), []);
        assert.match(
            violations(keycloakExplicitNames, "keycloak:openid/client:Client", { name: "core" })[0],
            /clientId is not set/,
        );
        assert.match(
            violations(keycloakExplicitNames, "keycloak:index/role:Role", { name: " " })[0],
            /name is not set/,
        );
        assert.deepEqual(violations(keycloakExplicitNames, "keycloak:index/userRoles:UserRoles", {}), []);
    });
});
