// How setStackConfig sets a structured value key by key with --path (test/support/automation.ts): plain keys
// with dots, list items with [i], and keys that are not plain names (label keys such as
// cytomine.dev/real-node) in quoted brackets, so Pulumi does not split them at their dots and slash.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pathEntries } from "../support/automation";

describe("pathEntries", () => {
    it("a label key with dots and a slash is set in quoted brackets", () => {
        assert.deepEqual(pathEntries("k:nodeSelector", { "cytomine.dev/real-node": "true" }), [
            ['k:nodeSelector["cytomine.dev/real-node"]', "true"],
        ]);
    });

    it("plain keys still use dots, list items brackets, and leaves are strings", () => {
        assert.deepEqual(pathEntries("k:images", { core: "core:1", iamDb: "postgres:15" }), [
            ["k:images.core", "core:1"],
            ["k:images.iamDb", "postgres:15"],
        ]);
        assert.deepEqual(
            pathEntries("k:tolerations", [{ key: "cytomine.dev/real-node", value: true, effect: "NoSchedule" }]),
            [
                ["k:tolerations[0].key", "cytomine.dev/real-node"],
                ["k:tolerations[0].value", "true"],
                ["k:tolerations[0].effect", "NoSchedule"],
            ],
        );
    });
});
