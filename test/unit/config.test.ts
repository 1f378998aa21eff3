import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ConfigError, parseConfig } from "../../components/config";

const valid = { tenant: "lab-a", publicUrl: "https://cytomine.example.org" };

function issues(raw: Record<string, unknown>): string[] {
    try {
        parseConfig(raw);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
        return e.issues;
    }
    assert.fail("expected the config to be rejected");
}

describe("parseConfig", () => {
    it("fills defaults and normalises the public URL", () => {
        assert.deepEqual(parseConfig({ ...valid, publicUrl: "https://cytomine.example.org/" }), {
            tenant: "lab-a",
            target: "kubernetes",
            publicUrl: "https://cytomine.example.org",
            localStack: false,
            renderDir: "",
        });
    });

    it("names the missing key", () => {
        const [msg] = issues({ publicUrl: valid.publicUrl });
        assert.match(msg, /^cytomine-fallback:tenant is not set/);
    });

    it("rejects a tenant that is not a DNS label, naming the key and the value", () => {
        const [msg] = issues({ ...valid, tenant: "Lab_A" });
        assert.match(msg, /cytomine-fallback:tenant = "Lab_A": lowercase letters/);
    });

    it("rejects http outside the local stack and accepts it inside", () => {
        const [msg] = issues({ ...valid, publicUrl: "http://cytomine.example.org" });
        assert.match(msg, /cytomine-fallback:publicUrl .*must use https/);
        assert.equal(parseConfig({ ...valid, publicUrl: "http://127.0.0.1:8080", localStack: true }).localStack, true);
    });

    it("rejects a public URL with a path", () => {
        assert.match(issues({ ...valid, publicUrl: "https://x.org/cytomine" })[0], /site root/);
    });

    it("rejects an unknown target and renderDir outside kubernetes", () => {
        assert.match(issues({ ...valid, target: "gcp" })[0], /cytomine-fallback:target = "gcp"/);
        assert.match(issues({ ...valid, target: "ssh", renderDir: "out" })[0], /renderDir.*only to target kubernetes/);
    });

    it("reports every problem at once, with the fix", () => {
        try {
            parseConfig({ tenant: "-bad", publicUrl: "ftp://x" });
            assert.fail("expected rejection");
        } catch (e) {
            assert.ok(e instanceof ConfigError);
            assert.equal(e.issues.length, 2);
            assert.match(e.message, /pulumi config set cytomine-fallback:<key> <value>/);
        }
    });

    it("accepts exactly the DNS labels of at most 40 characters (property)", () => {
        const label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
        fc.assert(
            fc.property(fc.string({ unit: fc.constantFrom(..."abz09-_A."), maxLength: 45 }), (tenant) => {
                const ok = label.test(tenant) && tenant.length <= 40;
                let accepted = true;
                try {
                    parseConfig({ ...valid, tenant });
                } catch {
                    accepted = false;
                }
                return accepted === ok;
            }),
        );
    });
});
