// Templates are checked by the program's own config schema: every template file, merged with the
// tenant name and the examples of the keys it asks for, is a config the program accepts.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { SECRET_SOURCES } from "../../apps/fleet/plan";
import { FleetInputError, loadTemplate, planTenant, templateNames, TEMPLATES_DIR } from "../../apps/fleet";
import { requiredSecrets } from "../../program/config/identity";
import { CONFIG_KEYS } from "../../program/config";

/** A value for every secret the config needs (the fleet reads them from files or the environment). */
function secretsFor(config: Record<string, unknown>) {
    return Object.fromEntries(requiredSecrets(config).map((k) => [k, `test-${k}`]));
}

function askedSets(name: string) {
    const template = loadTemplate(name);
    return Object.entries(template.ask).map(([key, a]) => `${key}=${a.example}`);
}

describe("templates", () => {
    const names = templateNames();

    it("are the kubernetes and vm templates", () => {
        assert.deepEqual(names, ["kubernetes", "vm"]);
    });

    for (const name of names) {
        it(`${name}: validates with the program's schema, given the keys it asks for`, () => {
            const template = loadTemplate(name);
            // Every key is one the program declares: none is silently ignored.
            for (const key of Object.keys(template.config)) assert.ok(key in CONFIG_KEYS, `${name}: ${key}`);
            // Datasets: the program's key, none yet.
            assert.deepEqual(template.config.datasets, { list: [] });
            const plan = planTenant({
                name: "lab-a",
                template: name,
                set: askedSets(name),
                secrets: secretsFor({ ...template.config }),
            });
            assert.equal(plan.parsed.tenant, "lab-a");
            assert.equal(plan.parsed.publicUrl, "https://lab-a.cytomine.example.org");
            // Each tenant gets its own Keycloak.
            assert.equal(plan.parsed.keycloak.mode, "namespace");
            assert.equal(plan.keycloakUrl, "https://lab-a.cytomine.example.org/iam");
            assert.equal(
                plan.redirectUri,
                "https://lab-a.cytomine.example.org/iam/realms/cytomine/broker/oidc/endpoint",
            );
            assert.ok(plan.parsed.lsaai.restrict);
            assert.deepEqual(plan.parsed.lsaai.allowedEntitlements, [
                "urn:geant:lifescience-ri.eu:group:cytomine-lab-a#aai.lifescience-ri.eu",
            ]);
            assert.ok(!JSON.stringify(plan.config).includes("{tenant}"));
            // Empty override objects and lists are left to the program's defaults.
            assert.ok(!("images" in plan.config) && !("datasets" in plan.config));
            assert.deepEqual(plan.parsed.datasets.list, []);
        });

        it(`${name}: without the keys it asks for, names each with an example --set`, () => {
            const template = loadTemplate(name);
            assert.throws(
                () => planTenant({ name: "lab-a", template: name, secrets: secretsFor({ ...template.config }) }),
                (e: FleetInputError) => {
                    assert.equal(e.issues.length, Object.keys(template.ask).length, e.message);
                    for (const key of Object.keys(template.ask))
                        assert.ok(
                            e.issues.some(
                                (i) =>
                                    i.startsWith(`cytomine-fallback:${key} is not set`) && i.includes(`--set ${key}=`),
                            ),
                            e.message,
                        );
                    return true;
                },
            );
        });
    }

    it("the vm template targets ssh and needs the SSH key as a secret", () => {
        assert.throws(
            () =>
                planTenant({
                    name: "lab-v",
                    template: "vm",
                    set: askedSets("vm"),
                    secrets: { lsaaiClientSecret: "s" },
                }),
            (e: FleetInputError) => {
                assert.deepEqual(e.issues.length, 1);
                assert.match(e.issues[0], /cytomine-fallback:vmPrivateKey is not set/);
                assert.match(
                    e.issues[0],
                    new RegExp(`${SECRET_SOURCES.vmPrivateKey.flag} <file> or the environment variable VM_PRIVATE_KEY`),
                );
                return true;
            },
        );
    });

    it("datasets are the program's key: checked by its schema and rules, sdafs credentials read like the other secrets", () => {
        const sdafs = 'datasets.list=[{"id":"bp-1","source":"sdafs","sdafs":{"datasets":["EGAD00001000001"]}}]';
        const base = { name: "lab-a", template: "kubernetes", secrets: { lsaaiClientSecret: "s" } };
        assert.throws(
            () => planTenant({ ...base, set: [...askedSets("kubernetes"), sdafs] }),
            (e: FleetInputError) => {
                assert.equal(e.issues.length, 1, e.message);
                assert.match(
                    e.issues[0],
                    /cytomine-fallback:datasets\.list\[0\]\.source = "sdafs": "sdafs" needs the sdafs credentials/,
                );
                assert.match(
                    e.issues[0],
                    /with the fleet: --sdafs-credentials-file <file> or the environment variable SDAFS_CREDENTIALS/,
                );
                return true;
            },
        );
        const plan = planTenant({
            ...base,
            set: [...askedSets("kubernetes"), sdafs],
            secrets: { ...base.secrets, sdafsCredentials: "[default]\naccess_key = x" },
        });
        assert.deepEqual(
            plan.parsed.datasets.list.map((d) => d.id),
            ["bp-1"],
        );
        assert.deepEqual(Object.keys(plan.secrets).sort(), ["lsaaiClientSecret", "sdafsCredentials"]);
        assert.throws(
            () =>
                planTenant({
                    ...base,
                    set: [...askedSets("kubernetes"), 'datasets.list=[{"id":"BP 1","source":"path","path":"/data"}]'],
                }),
            /cytomine-fallback:datasets\.list\[0\]\.id = "BP 1": a DNS label.*\n.*datasets\.list\[0\]\.path = "\/data": on Kubernetes a path is `claim:<name>`/,
        );
        assert.throws(
            () => planTenant({ ...base, set: [...askedSets("kubernetes"), "sdafsCredentials=x"] }),
            /--set sdafsCredentials: sdafsCredentials is a secret/,
        );
    });

    it("a template with a key the program does not declare is refused, naming the file and the key", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "templates-"));
        try {
            const text = fs
                .readFileSync(path.join(TEMPLATES_DIR, "kubernetes.yaml"), "utf8")
                .replace("  keycloakMode: namespace", "  keycloakMode: namespace\n  keycloakModus: namespace");
            fs.writeFileSync(path.join(dir, "drifted.yaml"), text);
            assert.throws(
                () =>
                    planTenant(
                        {
                            name: "lab-a",
                            template: "drifted",
                            set: askedSets("kubernetes"),
                            secrets: { lsaaiClientSecret: "s" },
                        },
                        dir,
                    ),
                /drifted\.yaml: keycloakModus is not a config key of the program \(did you mean keycloakMode\?\)/,
            );
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
