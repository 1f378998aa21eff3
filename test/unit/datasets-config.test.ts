// Key `datasets`: every bad input is an error naming `datasets.list[i].<field>` and the fix, at parse
// time (shape, duplicates, target, secrets) or at preview (trees the program can see, the sdafs CSI
// driver, claims), before anything is declared.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { writeBrokenTree, writeValidTree } from "../support/dataset-fixtures";
import { ConfigError, parseConfig } from "../../program/config";
import { DatasetsConfig, datasetKeys } from "../../program/config/datasets";
import { checkDatasets } from "../../program/preflight/datasets";

const base = {
    tenant: "lab-a",
    publicUrl: "https://cytomine.example.org",
    keycloakUrl: "https://cytomine.example.org/iam",
    lsaaiClientId: "client",
};

function issues(raw: Record<string, unknown>, sdafsCredentials = true): string[] {
    try {
        parseConfig({ ...base, ...raw }, undefined, sdafsCredentials ? ["sdafsCredentials"] : []);
        return [];
    } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        return e.issues;
    }
}

const list = (...entries: unknown[]) => ({ datasets: { list: entries } });
const settings = (entries: DatasetsConfig["list"], extra: Partial<DatasetsConfig> = {}): DatasetsConfig =>
    datasetKeys.datasets.parse({ list: entries, ...extra });

describe("datasets config: parse-time errors", () => {
    it("accepts no datasets (the default) and a valid list", () => {
        assert.deepEqual(issues({}), []);
        const c = parseConfig({
            ...base,
            ...list(
                { id: "lung", source: "path", path: "claim:bp-lung" },
                { id: "skin", source: "sdafs", sdafs: { datasets: ["EGAD001"] } },
            ),
        });
        assert.equal(c.datasets.list.length, 2);
        assert.equal(c.datasets.sdafs.version, "v0.0.23");
        assert.equal(c.datasets.importImage, "registry.cytomine.org/cytomine/python-client:0165ef7");
        assert.equal(c.datasets.installCsiDriver, false);
    });

    it("a duplicate id names the second entry and the first", () => {
        const found = issues(
            list({ id: "lung", source: "path", path: "claim:a" }, { id: "lung", source: "path", path: "claim:b" }),
        );
        assert.equal(found.length, 1);
        assert.match(
            found[0],
            /^cytomine-fallback:datasets\.list\[1\]\.id = "lung": "lung" is also the id of datasets\.list\[0\]: give each dataset its own id$/,
        );
    });

    it("an id that is not a DNS label", () => {
        assert.match(
            issues(list({ id: "Lung_1", source: "path", path: "claim:a" }))[0],
            /datasets\.list\[0\]\.id = "Lung_1": a DNS label/,
        );
    });

    it("a path source without path, an sdafs source without its datasets, fields of the other source", () => {
        assert.match(
            issues(list({ id: "lung", source: "path" }))[0],
            /datasets\.list\[0\]\.path is not set: is required with source "path"/,
        );
        assert.match(
            issues(list({ id: "a", source: "sdafs" }))[0],
            /datasets\.list\[0\]\.sdafs is not set: is required with source "sdafs"/,
        );
        assert.match(
            issues(list({ id: "a", source: "sdafs", path: "/x", sdafs: { datasets: ["D1"] } }))[0],
            /datasets\.list\[0\]\.path = "\/x": applies only to source "path"/,
        );
        assert.match(
            issues(list({ id: "a", source: "sdafs", sdafs: { datasets: [] } }))[0],
            /datasets\.list\[0\]\.sdafs\.datasets = \[\]: list at least one archive dataset id/,
        );
    });

    it("sdafs without the secret sdafsCredentials says how to set it", () => {
        const found = issues(list({ id: "a", source: "sdafs", sdafs: { datasets: ["D1"] } }), false);
        assert.equal(found.length, 1);
        assert.match(
            found[0],
            /datasets\.list\[0\]\.source = "sdafs": "sdafs" needs the sdafs credentials: pulumi config set --secret cytomine-fallback:sdafsCredentials/,
        );
    });

    it("a path the target cannot take", () => {
        assert.match(
            issues(list({ id: "a", source: "path", path: "/srv/bp" }))[0],
            /datasets\.list\[0\]\.path = "\/srv\/bp": on Kubernetes a path is `claim:<name>` .* or `hostPath:\/dir`/,
        );
        const ssh = {
            target: "ssh",
            vm: { host: "vm.example.org", hostKey: "SHA256:" + "a".repeat(43) },
            vmPrivateKey: "x",
        };
        assert.match(
            issues({ ...ssh, ...list({ id: "a", source: "path", path: "claim:x" }) })[0],
            /datasets\.list\[0\]\.path = "claim:x": on a VM a path is an absolute directory on the host/,
        );
        assert.deepEqual(issues({ ...ssh, ...list({ id: "a", source: "path", path: "/srv/bp" }) }), []);
    });

    it("an unpinned import image", () => {
        assert.match(
            issues({ datasets: { importImage: "cytomine/python-client:latest" } })[0],
            /datasets\.importImage/,
        );
    });
});

describe("datasets config: preview checks", () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "datasets-config-"));
    let valid: string;
    let broken: string;

    before(async () => {
        valid = path.join(work, "valid");
        broken = path.join(work, "broken");
        await writeValidTree(valid, { imagesPerDataset: 2, filesPerImage: 1 });
        await writeBrokenTree(broken, "missing-images");
    });
    after(() => fs.rmSync(work, { recursive: true, force: true }));

    const vm = { hostIsThisMachine: true, nodesAreThisMachine: false };

    it("a valid tree the program can see: no issue, images counted, a revision that follows the content", async () => {
        const { issues: found, declared } = await checkDatasets(
            "ssh",
            settings([{ id: "a", source: "path", path: valid }]),
            vm,
        );
        assert.deepEqual(found, []);
        assert.equal(declared[0].images, 2);
        const again = await checkDatasets("ssh", settings([{ id: "a", source: "path", path: valid }]), vm);
        assert.equal(again.declared[0].revision, declared[0].revision);
        fs.writeFileSync(path.join(valid, fs.readdirSync(valid)[0], "extra.txt"), "changed\n");
        const changed = await checkDatasets("ssh", settings([{ id: "a", source: "path", path: valid }]), vm);
        assert.notEqual(changed.declared[0].revision, declared[0].revision);
    });

    it("a tree that fails validation names the dataset, its problems and how to list them all", async () => {
        const { issues: found } = await checkDatasets("ssh", settings([{ id: "a", source: "path", path: broken }]), vm);
        assert.equal(found.length, 1);
        assert.match(
            found[0],
            /^cytomine-fallback:datasets\.list\[0\]\.path = ".*broken": .*on the SSH host, which is the machine running this program.* fails validation with \d+ error\(s\); .*no import starts/,
        );
        assert.match(found[0], /npm run dataset:check -- .*broken/);
        assert.match(found[0], /\(fix: .*\) \[IMAGES_MISSING\]/);
    });

    it("a missing path: an error where the program sees the host, left to the host's import step elsewhere", async () => {
        const entries = settings([{ id: "a", source: "path", path: "/nonexistent/bp" }]);
        const local = await checkDatasets("ssh", entries, vm);
        assert.match(
            local.issues[0],
            /datasets\.list\[0\]\.path = "\/nonexistent\/bp": \/nonexistent\/bp \(on the SSH host, which is the machine running this program\) does not exist: create it or correct the path/,
        );
        const remote = await checkDatasets("ssh", entries, { hostIsThisMachine: false, nodesAreThisMachine: false });
        assert.deepEqual(remote.issues, []);
        const k8s = await checkDatasets(
            "kubernetes",
            settings([{ id: "a", source: "path", path: "hostPath:/nonexistent/bp" }]),
            {
                hostIsThisMachine: false,
                nodesAreThisMachine: true,
            },
        );
        assert.match(k8s.issues[0], /on the local environment's nodes, which are this machine\) does not exist/);
    });

    it("sdafs on a cluster without the CSI driver, or with someone else's", async () => {
        const entries = [{ id: "s", source: "sdafs" as const, sdafs: { datasets: ["D1"] } }];
        const none = await checkDatasets("kubernetes", settings(entries), {
            ...vm,
            readStorageClass: async () => undefined,
        });
        assert.match(
            none.issues[0],
            /datasets\.list\[0\]\.source = "sdafs": the cluster has no StorageClass sdafs of the sdafs CSI driver: install the driver once per cluster \(set datasets\.installCsiDriver to true/,
        );
        const installing = await checkDatasets("kubernetes", settings(entries, { installCsiDriver: true }), {
            ...vm,
            readStorageClass: async () => undefined,
        });
        assert.deepEqual(installing.issues, []);
        const other = await checkDatasets("kubernetes", settings(entries, { installCsiDriver: true }), {
            ...vm,
            owner: "org/p/me",
            readStorageClass: async () => ({ provisioner: "csi.sda.nbis.se", owner: "org/p/other" }),
        });
        assert.match(other.issues[0], /already installed by stack org\/p\/other: set installCsiDriver to false here/);
        const wrong = await checkDatasets("kubernetes", settings(entries), {
            ...vm,
            readStorageClass: async () => ({ provisioner: "rancher.io/local-path" }),
        });
        assert.match(wrong.issues[0], /provisions with rancher\.io\/local-path, not the sdafs CSI driver/);
    });

    it("a claim that does not exist in the namespace", async () => {
        const entries = settings([{ id: "a", source: "path", path: "claim:bp-lung" }]);
        const absent = await checkDatasets("kubernetes", entries, { ...vm, claimExists: async () => false });
        assert.match(
            absent.issues[0],
            /datasets\.list\[0\]\.path = "claim:bp-lung": no claim bp-lung in the tenant's namespace: create the claim/,
        );
        const present = await checkDatasets("kubernetes", entries, { ...vm, claimExists: async () => true });
        assert.deepEqual(present.issues, []);
    });
});
