// The import view (PIMS's DATASET_PATH) on both targets: the pinned PIMS takes each direct
// subdirectory of DATASET_PATH as a bucket and reads `<bucket>/METADATA/dataset.xml` there
// (cytomine/cytomine@0165ef761: pims/pims/importer/dataset.py:44-111,118-175), while Bigpicture trees
// hold it at `{DATASET_UUID}/DATASET_{ID}/METADATA/dataset.xml`. So both the VM's view
// (components/datasets/cytomine_import.py's build_view) and the Kubernetes init container's script
// (VIEW_SCRIPT) link each folder that directly holds METADATA/dataset.xml, as `<bucket>--<folder>`,
// and a bucket holding METADATA itself as `<bucket>`. Both run here for real, on the same trees.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { VIEW_SCRIPT } from "../../components/datasets/kubernetes";
import { IMPORT_VIEW_PATH, DATASETS_MOUNT_ROOT } from "../../components/datasets/spec";
import { writeValidTree } from "../../lib/datasets/fixtures";
import { repoRoot } from "../../lib/toolchain";

const IMPORT_SCRIPT = path.join(repoRoot, "components/datasets/cytomine_import.py");

/** The view's links: name → target. */
const links = (view: string) =>
    Object.fromEntries(
        fs
            .readdirSync(view)
            .sort()
            .map((n) => [n, fs.readlinkSync(path.join(view, n))]),
    );

describe("the import view links each folder holding METADATA/dataset.xml", () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "datasets-view-"));
    const mounts = path.join(work, "mounts");
    /** Per dataset id, the links expected (relative to its mount). */
    const expected: Record<string, Record<string, string>> = {};

    before(async () => {
        // "lung": two buckets in the Bigpicture layout ({bucket}/DATASET_{id}/METADATA/dataset.xml).
        const lung = await writeValidTree(path.join(mounts, "lung"), {
            seed: "lung",
            datasets: 2,
            imagesPerDataset: 1,
            filesPerImage: 1,
        });
        expected.lung = Object.fromEntries(
            lung.datasets.map((d) => [d.path.replace("/", "--"), `${d.bucket}/${d.path.split("/")[1]}`]),
        );
        // "flat": a bucket holding METADATA itself (upstream CI's layout), linked as it is, its
        // subfolder (a complementing dataset's folder) not linked; and a bucket with nothing PIMS reads.
        const flat = path.join(mounts, "flat");
        fs.mkdirSync(path.join(flat, "bucket-a", "METADATA"), { recursive: true });
        fs.writeFileSync(path.join(flat, "bucket-a", "METADATA", "dataset.xml"), '<DATASET alias="a"/>');
        fs.mkdirSync(path.join(flat, "bucket-a", "child", "METADATA"), { recursive: true });
        fs.writeFileSync(path.join(flat, "bucket-a", "child", "METADATA", "dataset.xml"), '<DATASET alias="c"/>');
        fs.mkdirSync(path.join(flat, "bucket-b", "DATASET_x", "IMAGES"), { recursive: true });
        expected.flat = { "bucket-a": "bucket-a" };
    });
    after(() => fs.rmSync(work, { recursive: true, force: true }));

    it("VM: cytomine_import.py's build_view", () => {
        const view = path.join(work, "vm-view");
        const todo = ["lung", "flat"].map((id) => ({
            id,
            revision: "r",
            index: 0,
            hostDir: path.join(mounts, id),
            mountPath: `${DATASETS_MOUNT_ROOT}/${id}`,
        }));
        const code = [
            "import json, sys",
            "sys.dont_write_bytecode = True",
            `sys.path.insert(0, ${JSON.stringify(path.dirname(IMPORT_SCRIPT))})`,
            "import cytomine_import as m",
            `print(json.dumps(m.build_view(${JSON.stringify(view)}, json.loads(sys.argv[1]))))`,
        ].join("\n");
        const r = spawnSync("python3", ["-c", code, JSON.stringify(todo)], { encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        const want: Record<string, string> = {};
        for (const id of ["lung", "flat"])
            for (const [n, t] of Object.entries(expected[id])) want[n] = `${DATASETS_MOUNT_ROOT}/${id}/${t}`;
        assert.deepEqual(links(view), want);
        assert.deepEqual(JSON.parse(r.stdout), Object.keys(want).sort());
        assert.match(r.stderr, /bucket-b holds no METADATA\/dataset\.xml, nor does any folder in it: PIMS skips it/);

        // A dataset with no folder PIMS could read: exit 3, naming the layout.
        const empty = path.join(mounts, "empty", "bucket-z");
        fs.mkdirSync(empty, { recursive: true });
        const bad = [{ ...todo[0], id: "empty", hostDir: path.dirname(empty) }];
        const r2 = spawnSync("python3", ["-c", code, JSON.stringify(bad)], { encoding: "utf8" });
        assert.equal(r2.status, 3, r2.stderr);
        assert.match(r2.stderr, /no folder under .* holds METADATA\/dataset\.xml/);
        fs.rmSync(path.dirname(empty), { recursive: true });
    });

    it("Kubernetes: the PIMS init container's script (paths moved under a temporary root)", () => {
        const view = path.join(work, "k8s-view");
        fs.mkdirSync(view);
        const script = VIEW_SCRIPT.replace(`view=${IMPORT_VIEW_PATH}`, `view=${view}`).replace(
            `root=${DATASETS_MOUNT_ROOT}/`,
            `root=${mounts}/`,
        );
        assert.notEqual(script, VIEW_SCRIPT);
        const lungBucket = Object.values(expected.lung)[0].split("/")[0];
        const r = spawnSync("sh", ["-c", script], {
            env: { PATH: process.env.PATH, IMPORT_RUN: `lung=${lungBucket},nope flat=*` },
            encoding: "utf8",
        });
        assert.equal(r.status, 0, r.stderr);
        const want: Record<string, string> = { "bucket-a": `${mounts}/flat/bucket-a` };
        for (const [n, t] of Object.entries(expected.lung))
            if (t.startsWith(lungBucket)) want[n] = `${mounts}/lung/${t}`;
        assert.equal(Object.keys(want).length, 2);
        assert.deepEqual(links(view), want);

        // Twice the same folder: refused; a dataset with nothing to link: refused.
        fs.rmSync(view, { recursive: true });
        fs.mkdirSync(view);
        const twice = spawnSync("sh", ["-c", script], {
            env: { PATH: process.env.PATH, IMPORT_RUN: "flat=* flat=*" },
            encoding: "utf8",
        });
        assert.equal(twice.status, 1);
        assert.match(twice.stderr, /bucket-a is in two datasets/);
        const none = spawnSync("sh", ["-c", script], {
            env: { PATH: process.env.PATH, IMPORT_RUN: "flat=bucket-b" },
            encoding: "utf8",
        });
        assert.equal(none.status, 1);
        assert.match(none.stderr, /dataset flat: no folder under .* holds METADATA\/dataset\.xml/);
    });
});
