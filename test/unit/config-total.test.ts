// Every config check is total: whatever value a key is given (as Pulumi config hands it over, a string
// the loader decodes), parsing either succeeds or fails with a ConfigError naming that key; it never
// throws anything else (e.g. a TypeError from a URL parser inside a refinement).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { CONFIG_KEYS, ConfigError, parseConfig, readKeys } from "../../program/config";

const valid: Record<string, string> = {
    tenant: "lab-a",
    publicUrl: "https://cytomine.example.org",
    keycloakUrl: "https://cytomine.example.org/iam",
    lsaaiClientId: "client-1",
};

/** Malformed values of every shape a config string can take. */
const malformed = fc.oneof(
    fc.string(),
    fc.constantFrom(
        "https://cytomine.example.org:99999",
        "http://[::1",
        "{not json",
        "[1,",
        "null",
        "true",
        "-1",
        "1e309",
        '{"core":"x:latest"}',
        '{"host":7,"port":"22"}',
        '[{"id":"a"},{"id":"a"}]',
        "../../etc/passwd",
        "\u0000",
        "a".repeat(5000),
    ),
    fc.json(),
);

describe("config checks are total (property)", () => {
    for (const key of Object.keys(CONFIG_KEYS)) {
        it(`${key}: any value parses or is refused naming the key`, () => {
            fc.assert(
                fc.property(malformed, (value) => {
                    const raw = readKeys((k) => (k === key ? value : valid[k]));
                    try {
                        parseConfig(raw);
                        return true;
                    } catch (e) {
                        assert.ok(e instanceof ConfigError, `${key} = ${JSON.stringify(value)} threw ${String(e)}`);
                        return e.issues.some((i) => i.startsWith(`cytomine-fallback:${key}`));
                    }
                }),
                { numRuns: 60 },
            );
        });
    }

    it("publicUrl with a port above 65535 names the key instead of throwing TypeError", () => {
        assert.throws(
            () => parseConfig({ ...valid, publicUrl: "https://cytomine.example.org:99999" }),
            (e: unknown) =>
                e instanceof ConfigError &&
                e.issues.length === 1 &&
                /^cytomine-fallback:publicUrl = "https:\/\/cytomine\.example\.org:99999": not an absolute URL \(ports go up to 65535\)/.test(
                    e.issues[0],
                ),
        );
    });
});
