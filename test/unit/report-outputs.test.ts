import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeChanges, formatOutputs } from "../../scripts/report-outputs";

describe("stack output report", () => {
    it("prints plain values and never a secret's value", () => {
        const lines = formatOutputs("dev", {
            cytomineUrl: { value: "http://127.0.0.1:8080", secret: false },
            adminPassword: { value: "hunter2-secret", secret: true },
        });
        assert.deepEqual(lines, [
            "  adminPassword: [secret] pulumi stack output adminPassword --show-secrets --stack dev",
            "  cytomineUrl: http://127.0.0.1:8080",
        ]);
        assert.ok(!lines.join("\n").includes("hunter2-secret"));
    });

    it("says when an update changed nothing", () => {
        assert.equal(describeChanges({ same: 5 }), "no changes (5 resources unchanged)");
        assert.equal(describeChanges({ create: 2, same: 1, update: 1 }), "create 2, update 1");
    });
});
