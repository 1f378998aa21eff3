import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mergeStackConfig } from "../../cli/dev-config";

describe("dev stack config merge", () => {
    it("takes tracked settings, keeps local secrets and the encryption salt", () => {
        const merged = mergeStackConfig(
            { config: { "p:tenant": "dev", "p:realm": "cytomine" } },
            {
                encryptionsalt: "v1:abc",
                config: { "p:tenant": "old", "p:password": { secure: "v1:xyz" }, "p:removed": "x" },
            },
        );
        assert.deepEqual(merged, {
            encryptionsalt: "v1:abc",
            config: { "p:password": { secure: "v1:xyz" }, "p:tenant": "dev", "p:realm": "cytomine" },
        });
    });
});
