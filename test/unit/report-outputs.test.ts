import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeChanges, formatOutputs } from "../../cli/report-outputs";

describe("stack output report", () => {
    it("prints plain values and names the command that reveals a secret", () => {
        const lines = formatOutputs("dev", {
            cytomineUrl: "http://127.0.0.1:8080",
            adminPassword: "[secret]",
            ports: [80, 443],
        });
        assert.deepEqual(lines, [
            "  adminPassword: [secret] pulumi stack output adminPassword --show-secrets --stack dev",
            "  cytomineUrl: http://127.0.0.1:8080",
            "  ports: [80,443]",
        ]);
    });

    it("says when an update changed nothing", () => {
        assert.equal(describeChanges({ same: 5 }), "no changes (5 resources unchanged)");
        assert.equal(describeChanges({ create: 2, same: 1, update: 1 }), "create 2, update 1");
    });
});
