// Secrets at rest: the preview's reading of the API server's metrics (program/preflight/at-rest.ts).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { atRestWarning, secretsEncryptedAtRest } from "../../program/preflight/at-rest";

const TYPE = "# TYPE apiserver_storage_transformation_operations_total counter";
const series = (prefix: string, resource = "secrets") =>
    `apiserver_storage_transformation_operations_total{resource="${resource}",status="OK",transformation_type="to_storage",transformer_prefix="${prefix}"} 8`;

describe("secrets at rest, from the API server's metrics", () => {
    it("encrypted: a k8s:enc:<provider> transformer writes Secrets (as the local environment's API server shows)", () => {
        const metrics = [TYPE, series("env-1:"), series("k8s:enc:secretbox:v1:")].join("\n");
        assert.equal(secretsEncryptedAtRest(metrics), true);
        assert.equal(atRestWarning(true), undefined);
    });

    it("not encrypted: the metric is served but names no encrypting transformer for Secrets", () => {
        assert.equal(secretsEncryptedAtRest(`${TYPE}\n`), false);
        // An encrypting transformer for another resource does not cover Secrets.
        assert.equal(secretsEncryptedAtRest([TYPE, series("k8s:enc:aescbc:v1:", "configmaps")].join("\n")), false);
        assert.equal(secretsEncryptedAtRest([TYPE, series("k8s:enc:identity:v1:")].join("\n")), false);
        assert.match(atRestWarning(false)!, /unencrypted.*--encryption-provider-config.*encrypt-data/);
    });

    it("unknown: metrics without the counter (or unreadable) give no verdict and no warning", () => {
        assert.equal(secretsEncryptedAtRest("# TYPE apiserver_request_total counter\n"), undefined);
        assert.equal(atRestWarning(undefined), undefined);
    });
});
