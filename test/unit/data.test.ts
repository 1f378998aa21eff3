import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CytomineData, DATA_IMAGES, dataPodTemplate, dataServices } from "../../components/kubernetes/data";
import { imageProblem } from "../../policies/rules";
import { recordResources, settled, valueOf } from "./support/mocks";

describe("CytomineData", () => {
    it("pins every image", () => {
        for (const image of Object.values(DATA_IMAGES)) assert.equal(imageProblem(image), undefined, image);
    });

    it("runs every container under the restricted profile with a read-only root and bounded resources", () => {
        for (const s of dataServices("secret")) {
            const pod = dataPodTemplate("lab-a", s).spec as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
            assert.equal(pod.automountServiceAccountToken, false);
            assert.deepEqual(pod.securityContext.seccompProfile, { type: "RuntimeDefault" });
            assert.equal(pod.securityContext.runAsNonRoot, true);
            const [c] = pod.containers;
            assert.deepEqual(c.securityContext, {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ["ALL"] },
            });
            assert.ok(c.resources.limits.memory && c.resources.limits["ephemeral-storage"], s.component);
            assert.ok(c.readinessProbe && c.livenessProbe, s.component);
            // Every path the server writes is a volume.
            for (const path of s.scratch)
                assert.ok(
                    c.volumeMounts.some((m: { mountPath: string }) => m.mountPath === path),
                    path,
                );
        }
    });

    it("keeps passwords in a Secret, databases in retained StatefulSets, and admits only their clients", async () => {
        const recorded = recordResources();
        const data = new CytomineData("data", { namespace: "lab-a", tenant: "lab-a", protectVolumes: true });
        assert.deepEqual(await valueOf(data.hosts), {
            postgis: "postgis.lab-a.svc",
            mongo: "mongo.lab-a.svc",
            "pims-cache": "pims-cache.lab-a.svc",
        });
        // the component, a secret, 2 passwords, 3 services, 2 StatefulSets, 1 Deployment, 3 policies
        await settled(recorded, 13);
        const of = (type: string) => recorded.filter((r) => r.type === type);
        assert.equal(of("kubernetes:core/v1:ConfigMap").length, 0);
        const [secret] = of("kubernetes:core/v1:Secret");
        // The generated passwords make the whole stringData a secret value.
        const stringData = secret.inputs.stringData.value ?? secret.inputs.stringData;
        assert.deepEqual(Object.keys(stringData).sort(), ["mongo-password", "postgres-password"]);

        const sts = of("kubernetes:apps/v1:StatefulSet");
        assert.deepEqual(sts.map((r) => r.name).sort(), ["data-mongo", "data-postgis"]);
        for (const s of sts) {
            assert.deepEqual(s.inputs.spec.persistentVolumeClaimRetentionPolicy, {
                whenDeleted: "Retain",
                whenScaled: "Retain",
            });
            assert.equal(s.inputs.spec.volumeClaimTemplates.length, 1);
        }
        assert.deepEqual(
            of("kubernetes:apps/v1:Deployment").map((r) => r.name),
            ["data-pims-cache"],
        );

        const policies = of("kubernetes:networking.k8s.io/v1:NetworkPolicy");
        const postgis = policies.find((p) => p.name === "data-postgis-ingress");
        assert.deepEqual(postgis?.inputs.spec.ingress[0].from, [
            {
                podSelector: {
                    matchLabels: {
                        "app.kubernetes.io/part-of": "cytomine",
                        "app.kubernetes.io/instance": "lab-a",
                        "app.kubernetes.io/managed-by": "pulumi",
                        "app.kubernetes.io/component": "core",
                    },
                },
            },
        ]);
        assert.ok(recorded.every((r) => r.name === "data" || r.name.startsWith("data-")));
    });
});
