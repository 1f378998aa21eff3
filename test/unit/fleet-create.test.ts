// Creating a tenant validates everything before anything is written: bad input is refused with the
// key and the fix, and the fleet directory stays as it was. Stale locks of a file backend are
// reported with their owner and removed only on purpose.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import YAML from "yaml";
import { Fleet, FleetInputError, readSecrets, TenantInput } from "../../apps/fleet";

const good: TenantInput = {
    name: "lab-a",
    template: "kubernetes",
    set: ["lsaaiClientId=client-a"],
    secrets: { lsaaiClientSecret: "s3cret" },
};

/** Every file under `dir` (relative), to show nothing was created. */
function files(dir: string): string[] {
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

describe("tenant creation refuses bad input, naming the key and the fix, and creates nothing", () => {
    let dir: string;
    let fleet: Fleet;
    let before_: string[];

    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-unit-"));
        // An existing tenant of the fleet (as createTenant leaves it: config and record).
        fs.writeFileSync(
            path.join(dir, "Pulumi.lab-old.yaml"),
            YAML.stringify({
                config: {
                    "cytomine-fallback:tenant": "lab-old",
                    "cytomine-fallback:publicUrl": "https://lab-old.example.org",
                    "cytomine-fallback:keycloakUrl": "https://iam.example.org/iam",
                    "cytomine-fallback:lsaaiClientId": "c",
                    "cytomine-fallback:realm": "shared",
                    "cytomine-fallback:orthanc": "false",
                },
            }),
        );
        fleet = new Fleet({ dir, backendUrl: `file://${dir}/state` });
        before_ = files(dir);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const refused = async (input: Partial<TenantInput>, ...expected: RegExp[]) => {
        await assert.rejects(fleet.createTenant({ ...good, ...input }), (e: Error) => {
            assert.ok(e instanceof FleetInputError, String(e));
            for (const re of expected) assert.match(e.message, re);
            return true;
        });
        assert.deepEqual(files(dir), before_, "something was written");
    };

    it("an unknown template, listing the templates", () =>
        refused({ template: "k8s" }, /unknown template "k8s": the templates are kubernetes, vm/));

    it("a template name that is a path", () => refused({ template: "../templates/kubernetes" }, /unknown template/));

    it("an unknown --set key, with the nearest key", () =>
        refused(
            { set: [...good.set!, "publicURL=https://x.example.org"] },
            /--set publicURL: the program has no config key publicURL; did you mean publicUrl\?/,
        ));

    it("a secret given with --set, with where secrets come from", () =>
        refused(
            { set: [...good.set!, "lsaaiClientSecret=x"] },
            /--set lsaaiClientSecret: lsaaiClientSecret is a secret/,
        ));

    it("a value of the wrong type or shape, naming the key and the --set that fixes it", () =>
        refused(
            { set: [...good.set!, "lsaaiRestrict=maybe", "storage.images=lots", "images.core=cytomine/core:latest"] },
            /cytomine-fallback:lsaaiRestrict = "maybe": .*expected boolean.*\(fix: --set lsaaiRestrict=…\)/,
            /cytomine-fallback:storage.images = "lots": "lots" is not a Kubernetes quantity.*\(fix: --set storage.images=…\)/,
            /cytomine-fallback:images.core = "cytomine\/core:latest": .*\(fix: --set images.core=…\)/,
        ));

    it("a cross-field rule of the program (keycloakMode external without keycloakUrl)", () =>
        refused(
            { set: [...good.set!, "keycloakMode=external"], secrets: { ...good.secrets, keycloakAdminPassword: "p" } },
            /cytomine-fallback:keycloakUrl is not set: is required with keycloakMode external/,
        ));

    for (const [name, why] of [
        ["Lab_A", /lowercase letters, digits and '-'/],
        ["kube-lab", /belongs to the cluster itself/],
        ["a".repeat(41), /at most 40 characters/],
        ["../etc", /lowercase letters/],
    ] as const)
        it(`an invalid tenant name (${name.slice(0, 12)}): a DNS label Kubernetes and Keycloak accept`, () =>
            refused({ name }, new RegExp(`tenant name "${name.replace(/[.]/g, "\\.")}"`), why, /choose another name/));

    it("an existing tenant, by name (before any other check)", () =>
        refused(
            { name: "lab-old", secrets: {} },
            /^tenant lab-old: tenant lab-old already exists \(.*Pulumi\.lab-old\.yaml\)/,
        ));

    it("a tenant whose realm another tenant of the fleet manages in the same Keycloak", () =>
        refused(
            {
                set: [
                    ...good.set!,
                    "keycloakMode=external",
                    "keycloakUrl=https://iam.example.org/iam",
                    "realm=shared",
                    "orthanc=false",
                ],
                secrets: { ...good.secrets, keycloakAdminPassword: "p" },
            },
            /cytomine-fallback:realm = "shared" at Keycloak https:\/\/iam.example.org\/iam is managed by tenant lab-old/,
        ));

    it("a missing LS-AAI client secret, with the file option and the environment variable", () =>
        refused(
            { secrets: {} },
            /cytomine-fallback:lsaaiClientSecret is not set: .*--lsaai-client-secret-file <file> or the environment variable LSAAI_CLIENT_SECRET/,
        ));

    it("every problem at once", async () => {
        await assert.rejects(
            fleet.createTenant({ ...good, set: ["bogus=1", "lsaaiRestrict=1"], secrets: {} }),
            (e: FleetInputError) => {
                assert.equal(e.issues.length, 4, e.message); // bogus, lsaaiClientId (asked), lsaaiRestrict, secret
                return true;
            },
        );
    });
});

describe("secrets come from files or the environment", () => {
    it("a file wins over the environment; its trailing newline is dropped; an empty file is refused", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-secret-"));
        try {
            const file = path.join(dir, "secret");
            fs.writeFileSync(file, "from-file\n");
            assert.deepEqual(readSecrets({ lsaaiClientSecret: file }, { LSAAI_CLIENT_SECRET: "from-env" }), {
                lsaaiClientSecret: "from-file",
            });
            assert.deepEqual(readSecrets({}, { LSAAI_CLIENT_SECRET: "from-env", KEYCLOAK_ADMIN_PASSWORD: "kc" }), {
                lsaaiClientSecret: "from-env",
                keycloakAdminPassword: "kc",
            });
            fs.writeFileSync(file, "\n");
            assert.throws(() => readSecrets({ lsaaiClientSecret: file }, {}), /--lsaai-client-secret-file .* is empty/);
            assert.throws(
                () => readSecrets({ lsaaiClientSecret: path.join(dir, "missing") }, {}),
                /--lsaai-client-secret-file .*missing: ENOENT/,
            );
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("locks of a file backend", () => {
    let dir: string;
    let fleet: Fleet;
    const lockDir = (tenant: string) =>
        path.join(dir, "state", ".pulumi", "locks", "organization", "cytomine-fallback", tenant);
    const writeLock = (tenant: string, pid: number, hostname = os.hostname(), ageMs = 3_600_000) => {
        fs.mkdirSync(lockDir(tenant), { recursive: true });
        const file = path.join(lockDir(tenant), `${tenant}-${pid}.json`);
        const timestamp = new Date(Date.now() - ageMs).toISOString();
        fs.writeFileSync(file, JSON.stringify({ pid, username: "op", hostname, timestamp }));
        // The file backend's blob driver keeps each object's attributes beside it.
        fs.writeFileSync(`${file}.attrs`, "{}");
        return file;
    };
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-locks-"));
        fleet = new Fleet({ dir, backendUrl: `file://${dir}/state` });
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("are reported with owner, age and whether their process still runs", () => {
        // A pid that cannot exist (above pid_max), and this very process.
        writeLock("gone", 2 ** 22 + 1);
        writeLock("busy", process.pid, os.hostname(), 5_000);
        writeLock("remote", 1234, "other-host");
        const locks = Object.fromEntries(fleet.locks().map((l) => [l.tenant, l]));
        assert.deepEqual(Object.keys(locks).sort(), ["busy", "gone", "remote"]);
        assert.equal(locks.gone.alive, false);
        assert.equal(locks.gone.username, "op");
        assert.ok(locks.gone.ageMs! >= 3_600_000 && locks.gone.ageMs! < 3_700_000);
        assert.equal(locks.busy.alive, true);
        assert.equal(locks.remote.alive, undefined);
    });

    it("unlock refuses without --yes and while the owner runs; removes a stale lock with --yes", () => {
        assert.throws(() => fleet.unlock("gone", false), /would remove .*add --yes/);
        assert.equal(fleet.locks().filter((l) => l.tenant === "gone").length, 1);
        assert.throws(() => fleet.unlock("busy", true), /held by a running process \(pid \d+ of op@/);
        assert.equal(fleet.unlock("gone", true).length, 1);
        assert.deepEqual(fs.readdirSync(lockDir("gone")), [], "the lock or its attributes are left");
        assert.deepEqual(
            fleet
                .locks()
                .map((l) => l.tenant)
                .sort(),
            ["busy", "remote"],
        );
        assert.deepEqual(fleet.unlock("nobody", true), []);
    });
});
