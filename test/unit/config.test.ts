import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ConfigError, parseConfig, SECRET_KEYS } from "../../program/config";
import {
    cpuProblem,
    DEFAULT_IMAGES,
    DEFAULT_STORAGE,
    quantityProblem,
    quantityValue,
} from "../../components/model/settings";

const valid = {
    tenant: "lab-a",
    publicUrl: "https://cytomine.example.org",
    keycloakUrl: "https://cytomine.example.org/iam",
    lsaaiClientId: "client-1",
};

/** The issues of a rejected config; `secrets`: the secret keys set (default: those the config requires). */
function issues(raw: Record<string, unknown>, secrets?: readonly (typeof SECRET_KEYS)[number][]): string[] {
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
        assert.deepEqual(c.keycloak, {
            mode: "external",
            origin: "https://cytomine.example.org",
            basePath: "/iam",
            adminUser: "admin",
        });
        assert.equal(c.kubernetes.namespace, "lab-a");
        assert.deepEqual(c.images, DEFAULT_IMAGES);
        assert.deepEqual(c.kubernetes.storage, DEFAULT_STORAGE);
        assert.equal(c.kubernetes.routing, "ingress");
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

    it("reads secretsRevision as a whole number (0 by default) and names the key for anything else", () => {
        assert.equal(parseConfig(valid).lsaai.secretsRevision, 0);
        assert.equal(parseConfig({ ...valid, secretsRevision: "12" }).lsaai.secretsRevision, 12);
        for (const bad of ["-1", "1.5", "01", "one", " 1"])
            assert.match(
                issues({ ...valid, secretsRevision: bad })[0],
                new RegExp(`^cytomine-fallback:secretsRevision = "${bad.replace(".", "\\.")}": a whole number`),
            );
    });

    it("rejects a realm name over 36 characters", () => {
        const realm = "r".repeat(37);
        assert.match(
            issues({ ...valid, realm })[0],
            new RegExp(`cytomine-fallback:realm = "${realm}": at most 36 characters`),
        );
    });

    it("vm.checkHost is a boolean, true unless set", () => {
        const ssh = { ...valid, target: "ssh", vm: { host: "vm.example.org", hostKey: "ssh-ed25519 AAAA" } };
        assert.equal(parseConfig(ssh).vm.checkHost, true);
        assert.equal(parseConfig({ ...ssh, vm: { ...ssh.vm, checkHost: false } }).vm.checkHost, false);
        assert.match(
            issues({ ...ssh, vm: { ...ssh.vm, checkHost: "no" } })[0],
            /cytomine-fallback:vm\.checkHost = "no"/,
        );
    });

    it("rejects http outside the local stack and accepts it inside", () => {
        assert.match(issues({ ...valid, publicUrl: "http://cytomine.example.org" })[0], /publicUrl .*must use https/);
        assert.match(
            issues({ ...valid, keycloakUrl: "http://kc.example.org/iam" })[0],
            /keycloakUrl .*must use https outside/,
        );
        assert.match(
            issues({ ...valid, portalUrl: "http://portal.example.org" })[0],
            /portalUrl .*must use https outside/,
        );
        const local = {
            ...valid,
            publicUrl: "http://127.0.0.1:8080",
            keycloakUrl: "http://127.0.0.1:18080/iam",
            portalUrl: "http://127.0.0.1:8090",
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
            // tenant; publicUrl's scheme and host; the two secrets
            assert.equal(e.issues.length, 5);
            assert.match(
                e.message,
                /pulumi config set cytomine-fallback:<key> <value> \(add --secret for secrets, --path for nested keys such as images\.core\)/,
            );
        }
    });

    it("merges image and storage overrides with the pinned defaults", () => {
        const c = parseConfig({
            ...valid,
            images: { core: "registry.example.org/mirror/core:0165ef7" },
            storage: { images: "2Ti" },
        });
        assert.equal(c.images.core, "registry.example.org/mirror/core:0165ef7");
        assert.equal(c.images.pims, DEFAULT_IMAGES.pims);
        assert.equal(c.kubernetes.storage.images, "2Ti");
        assert.equal(c.kubernetes.storage.postgis, DEFAULT_STORAGE.postgis);
    });

    it("rejects an image without a tag or with :latest, naming the nested key", () => {
        const found = issues({ ...valid, images: { core: "cytomine/core", pims: "cytomine/pims:latest" } });
        assert.match(found[0], /^cytomine-fallback:images\.core = "cytomine\/core": .*has no tag: pin a version/);
        assert.match(found[1], /^cytomine-fallback:images\.pims = .*uses :latest/);
        assert.match(
            issues({ ...valid, images: { nginx: "nginx:1.27" } })[0],
            /unknown key\(s\) nginx; the keys are core, repository, webUi/,
        );
    });

    it("rejects a storage size that does not parse, or is zero", () => {
        assert.match(
            issues({ ...valid, storage: { postgis: "10 GB" } })[0],
            /storage\.postgis = "10 GB": .*not a Kubernetes quantity: write e\.g\. 10Gi/,
        );
        assert.match(issues({ ...valid, storage: { mongo: "0Gi" } })[0], /storage\.mongo .*zero/);
    });

    it("reads quantities as Kubernetes does, with one parser for sizes and CPUs", () => {
        assert.equal(quantityValue("1Gi", "bytes"), 2 ** 30);
        assert.equal(quantityValue("1.5G", "bytes"), 1.5e9);
        assert.equal(quantityValue("64Mi", "bytes"), 64 * 2 ** 20);
        assert.equal(quantityValue("250m", "cpu"), 0.25);
        assert.equal(quantityValue("2", "cpu"), 2);
        assert.equal(quantityValue("250m", "bytes"), undefined, "millibytes are no size here");
        assert.equal(quantityValue("1Gi", "cpu"), undefined);
        assert.equal(quantityValue("1 Gi", "bytes"), undefined);
        assert.equal(quantityProblem("10Gi"), undefined);
        assert.match(quantityProblem("10gb")!, /not a Kubernetes quantity/);
        assert.equal(cpuProblem("0.5"), undefined);
        assert.match(cpuProblem("1.5m")!, /not a CPU quantity/);
        assert.match(cpuProblem("0m")!, /not a CPU quantity/);
    });

    it("rejects a namespace Kubernetes would reject, or one of the cluster's own", () => {
        assert.match(
            issues({ ...valid, namespace: "Lab_A" })[0],
            /^cytomine-fallback:namespace = "Lab_A": a DNS-1123 label/,
        );
        assert.match(issues({ ...valid, namespace: "x".repeat(64) })[0], /at most 63 characters/);
        assert.match(issues({ ...valid, namespace: "kube-system" })[0], /belongs to the cluster itself/);
        assert.match(issues({ ...valid, tenant: "default" })[0], /^cytomine-fallback:tenant = "default"/);
    });

    it("rejects a public URL whose host is not a domain name", () => {
        assert.match(
            issues({ ...valid, publicUrl: "https://cyto_mine.example.org" })[0],
            /publicUrl .*label "cyto_mine" is not a DNS label/,
        );
        assert.match(issues({ ...valid, publicUrl: "https://cytomine" })[0], /fully qualified domain name/);
        assert.match(
            issues({ ...valid, publicUrl: "https://10.0.0.5" })[0],
            /is an address: use the tenant's domain name/,
        );
        assert.equal(
            parseConfig({ ...valid, publicUrl: "http://127.0.0.1:8080", localStack: true }).publicUrl,
            "http://127.0.0.1:8080",
        );
    });

    it("deploys Keycloak into the namespace without a keycloakUrl or admin password, and checks the combinations", () => {
        const c = parseConfig({ ...valid, keycloakUrl: undefined, keycloakMode: "namespace" }, ["lsaaiClientSecret"]);
        assert.deepEqual(c.keycloak, {
            mode: "namespace",
            origin: "https://cytomine.example.org",
            basePath: "/iam",
            adminUser: "admin",
        });
        assert.match(
            issues({ ...valid, keycloakUrl: undefined })[0],
            /keycloakUrl is not set: is required with keycloakMode external/,
        );
        assert.match(
            issues({ ...valid, keycloakMode: "namespace", keycloakUrl: "https://other.example.org/iam" })[0],
            /served at https:\/\/cytomine\.example\.org\/iam: unset keycloakUrl/,
        );
        assert.match(
            issues({ ...valid, keycloakMode: "namespace", renderDir: "out" })[0],
            /^cytomine-fallback:renderDir .*keycloakMode namespace/,
        );
        assert.match(
            issues({ ...valid }, ["lsaaiClientSecret"])[0],
            /keycloakAdminPassword is not set: it is a secret/,
        );
    });

    it("requires the Gateway of an HTTPRoute", () => {
        assert.match(
            issues({ ...valid, routing: "httproute" })[0],
            /^cytomine-fallback:gateway is not set: is required with routing httproute/,
        );
        const c = parseConfig({ ...valid, routing: "httproute", gateway: "gateway-system/public" });
        assert.deepEqual(c.kubernetes.gateway, { namespace: "gateway-system", name: "public" });
        assert.match(
            issues({ ...valid, routing: "httproute", gateway: "public" })[0],
            /<namespace>\/<name> of the Gateway/,
        );
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

describe("parseConfig: where the tenant's pods run (nodeSelector, tolerations, storageClass)", () => {
    it('a bad label value is named as --path takes the key: nodeSelector["cytomine.dev/real-node"]', () => {
        assert.throws(
            () => parseConfig({ ...valid, nodeSelector: { "cytomine.dev/real-node": { a: 1 } } }),
            (e: Error) => e.message.includes('cytomine-fallback:nodeSelector["cytomine.dev/real-node"] = {"a":1}'),
        );
    });

    it("a nodeSelector value stored as a boolean (pulumi config set --path ... true) becomes the label's string", () => {
        const c = parseConfig({ ...valid, nodeSelector: { "cytomine.dev/real-node": true } });
        assert.deepEqual(c.kubernetes.nodeSelector, { "cytomine.dev/real-node": "true" });
        assert.deepEqual(parseConfig(valid).kubernetes.nodeSelector, {});
    });

    it("a toleration with an unknown field or an unknown effect is refused, naming the list item", () => {
        const unknownField = issues({
            ...valid,
            tolerations: [{ key: "cytomine.dev/real-node", effct: "NoSchedule" }],
        });
        assert.equal(unknownField.length, 1);
        assert.match(unknownField[0], /^cytomine-fallback:tolerations\[0\] = .*"effct"/);
        const badEffect = issues({ ...valid, tolerations: [{ key: "cytomine.dev/real-node", effect: "Sometimes" }] });
        assert.equal(badEffect.length, 1);
        assert.match(badEffect[0], /^cytomine-fallback:tolerations\[0\]\.effect = "Sometimes"/);
        // The real node's toleration is accepted, its value given as a boolean too (as --path stores it).
        const ok = parseConfig({
            ...valid,
            tolerations: [{ key: "cytomine.dev/real-node", value: true, effect: "NoSchedule" }],
        });
        assert.deepEqual(ok.kubernetes.tolerations, [
            { key: "cytomine.dev/real-node", operator: "Equal", value: "true", effect: "NoSchedule" },
        ]);
    });

    it("an empty storageClass means the cluster's default; a name is kept", () => {
        assert.equal(parseConfig({ ...valid, storageClass: "" }).kubernetes.storageClass, undefined);
        assert.equal(parseConfig(valid).kubernetes.storageClass, undefined);
        assert.equal(parseConfig({ ...valid, storageClass: "real-node" }).kubernetes.storageClass, "real-node");
    });
});
