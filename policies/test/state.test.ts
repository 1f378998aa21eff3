import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { statefulResourcesProtected } from "../rules";
import { checkStack, Fake, unknown } from "../harness";
import { T } from "./sdk";

describe("stateful-resources-protected", () => {
    const stack = (protect: boolean): Fake[] => [
        { type: T.realm, name: "cytomine-realm", props: { realm: "cytomine" }, protect },
        { type: T.persistentVolumeClaim, name: "tenant-postgis-data", props: { metadata: { name: "data" } }, protect },
        { type: T.ebsVolume, name: "images", props: { encrypted: true }, protect },
        { type: T.deployment, name: "core", props: {} },
    ];

    it("accepts protected realms, volume claims and EBS volumes", async () => {
        assert.deepEqual(await checkStack(statefulResourcesProtected, stack(true)), []);
    });

    it("reports each unprotected one at its URN, outside the local stack only", async () => {
        const found = await checkStack(statefulResourcesProtected, stack(false));
        assert.deepEqual(
            found.map((d) => [d.urn?.split("::").at(-1), d.message]),
            [
                ["cytomine-realm", "realm cytomine-realm is not protected: create it with { protect: true }"],
                [
                    "tenant-postgis-data",
                    "volume claim tenant-postgis-data is not protected: create it with { protect: true }",
                ],
                ["images", "EBS volume images is not protected: create it with { protect: true }"],
            ],
        );
        assert.deepEqual(await checkStack(statefulResourcesProtected, stack(false), { localStack: true }), []);
    });

    it("judges even when every property is unknown at preview (protect is a resource option)", async () => {
        const realm: Fake = { type: T.realm, name: "r", props: { realm: unknown.string } };
        assert.equal((await checkStack(statefulResourcesProtected, [realm])).length, 1);
    });
});
