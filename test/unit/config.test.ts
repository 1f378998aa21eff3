import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ConfigError, parseConfig, secretKeys } from "../../components/config";

const valid = {
    tenant: "lab-a",
    publicUrl: "https://cytomine.example.org",
    keycloakUrl: "https://cytomine.example.org/iam",
    lsaaiClientId: "client-1",
};

function issues(raw: Record<string, unknown>, secrets: readonly (typeof secretKeys)[number][] = secretKeys): string[] {
    try {
        parseConfig(raw, secrets);
    } catch (e) {
        assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
        return e.issues;
    }
    assert.fail("expected the config to be rejected");
}

describe("parseConfig", () => {
    it("fills defaults, normalises URLs and splits the Keycloak URL for the provider", () => {
        const c = parseConfig({ ...valid, publicUrl: "https://cytomine.example.org/" });
        assert.equal(c.publicUrl, "https://cytomine.example.org");
        assert.equal(c.target, "kubernetes");
        assert.deepEqual(c.keycloak, { origin: "https://cytomine.example.org", basePath: "/iam", adminUser: "admin" });
        assert.equal(c.realm, "cytomine");
        assert.equal(c.allowRealmReplacement, false);
        assert.equal(c.allowVolumeDeletion, false);
        assert.deepEqual(
            { alias: c.lsaai.alias, scopes: c.lsaai.scopes, restrict: c.lsaai.restrict },
            { alias: "oidc", scopes: "openid profile email", restrict: false },
        );
        assert.deepEqual(c.orthanc, { enabled: true, realm: "orthanc" });
    });

    it("names a missing key", () => {
        const [msg] = issues({ ...valid, tenant: undefined });
        assert.match(msg, /^cytomine-fallback:tenant is not set/);
    });

    it("names a missing secret and how to set it, without reading any secret value", () => {
        const msgs = issues(valid, ["keycloakAdminPassword"]);
        assert.deepEqual(msgs, [
            "cytomine-fallback:lsaaiClientSecret is not set: it is a secret; set it with 'pulumi config set --secret cytomine-fallback:lsaaiClientSecret'",
        ]);
    });

    it("rejects a tenant that is not a DNS label, naming the key and the value", () => {
        assert.match(issues({ ...valid, tenant: "Lab_A" })[0], /cytomine-fallback:tenant = "Lab_A": lowercase letters/);
    });

    it("rejects a realm name over 36 characters", () => {
        const realm = "r".repeat(37);
        assert.match(
            issues({ ...valid, realm })[0],
            new RegExp(`cytomine-fallback:realm = "${realm}": at most 36 characters`),
        );
    });

    it("rejects http outside the local stack and accepts it inside", () => {
        assert.match(issues({ ...valid, publicUrl: "http://cytomine.example.org" })[0], /publicUrl .*must use https/);
        assert.match(
            issues({ ...valid, keycloakUrl: "http://kc.example.org/iam" })[0],
            /keycloakUrl .*must use https outside/,
        );
        const local = {
            ...valid,
            publicUrl: "http://127.0.0.1:8080",
            keycloakUrl: "http://127.0.0.1:18080/iam",
            localStack: true,
        };
        assert.equal(parseConfig(local).localStack, true);
    });

    it("rejects a public URL with a path", () => {
        assert.match(issues({ ...valid, publicUrl: "https://x.org/cytomine" })[0], /site root/);
    });

    it("rejects an LS-AAI alias with characters a URL path cannot carry", () => {
        assert.match(issues({ ...valid, lsaaiAlias: "ls aai/x" })[0], /cytomine-fallback:lsaaiAlias = "ls aai\/x"/);
    });

    it("rejects a login restriction that allows nobody", () => {
        assert.match(
            issues({ ...valid, lsaaiRestrict: true })[0],
            /cytomine-fallback:lsaaiRestrict = true: .*nobody is allowed/,
        );
        assert.equal(
            parseConfig({ ...valid, lsaaiRestrict: true, lsaaiAllowedSubjects: ["abc@lifescience-ri.eu"] }).lsaai
                .restrict,
            true,
        );
    });

    it("rejects an unknown target, renderDir outside kubernetes, and the orthanc realm equal to the cytomine realm", () => {
        assert.match(issues({ ...valid, target: "gcp" })[0], /cytomine-fallback:target = "gcp"/);
        assert.match(issues({ ...valid, target: "ssh", renderDir: "out" })[0], /renderDir.*only to target kubernetes/);
        assert.match(issues({ ...valid, orthancRealm: "cytomine" })[0], /orthancRealm .*must differ from realm/);
    });

    it("reports every problem at once, with the fix", () => {
        try {
            parseConfig({ ...valid, tenant: "-bad", publicUrl: "ftp://x" }, []);
            assert.fail("expected rejection");
        } catch (e) {
            assert.ok(e instanceof ConfigError);
            assert.equal(e.issues.length, 4);
            assert.match(e.message, /pulumi config set cytomine-fallback:<key> <value> \(add --secret for secrets\)/);
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
