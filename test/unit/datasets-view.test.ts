// The import view (PIMS's DATASET_PATH) on both targets: the pinned PIMS takes each direct
// subdirectory of DATASET_PATH as a bucket and reads `<bucket>/METADATA/dataset.xml` there
// (cytomine/cytomine@0165ef761: pims/pims/importer/dataset.py:44-111,118-175), while Bigpicture trees
// hold it at `{DATASET_UUID}/DATASET_{ID}/METADATA/dataset.xml`. So both the VM's view
// (components/model/cytomine_import.py's build_view) and the Kubernetes init container's script
// (VIEW_SCRIPT) link each folder that directly holds METADATA/dataset.xml, as `<bucket>--<folder>`,
// and a bucket holding METADATA itself as `<bucket>`. Datasets imported by earlier runs keep an entry
// of the same name, served: a directory holding only a link IMAGES (no METADATA, so PIMS skips it),
// because PIMS links each image it imported through `<entry>/IMAGES/<alias>` (image.py:34,52-53).
// Both run here for real, on the same trees.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { VIEW_SCRIPT } from "../../components/kubernetes/datasets";
import { IMPORT_VIEW_PATH, DATASETS_MOUNT_ROOT } from "../../components/model/datasets";
import { writeValidTree } from "../support/dataset-fixtures";
import { repoRoot } from "../../toolchain/index";

const IMPORT_SCRIPT = path.join(repoRoot, "components/model/cytomine_import.py");

/** The view's links: name → target (its served entries left out). */
const links = (view: string) =>
    Object.fromEntries(
        fs
            .readdirSync(view)
            .sort()
            .filter((n) => fs.lstatSync(path.join(view, n)).isSymbolicLink())
            .map((n) => [n, fs.readlinkSync(path.join(view, n))]),
    );

/** The view's served entries: name → {file in it: its link target} (a served entry is a real directory). */
const served = (view: string) =>
    Object.fromEntries(
        fs
            .readdirSync(view)
            .sort()
            .filter((n) => !fs.lstatSync(path.join(view, n)).isSymbolicLink())
            .map((n) => {
                const dir = path.join(view, n);
                assert.ok(fs.lstatSync(dir).isDirectory(), `${dir} is a link or a directory`);
                return [n, Object.fromEntries(fs.readdirSync(dir).map((m) => [m, fs.readlinkSync(path.join(dir, m))]))];
            }),
    );

/** Every entry, as a link or a served entry, targets relative to `root` (to compare the two builders). */
const entries = (view: string, root: string) => {
    const rel = (t: string) => path.relative(root, t);
    return {
        ...Object.fromEntries(Object.entries(links(view)).map(([n, t]) => [n, { link: rel(t) }])),
        ...Object.fromEntries(Object.entries(served(view)).map(([n, f]) => [n, { IMAGES: rel(f.IMAGES) }])),
    };
};

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

    /** The VM builder: build_view(view, todo, served) through Python, on datasets of `mounts`. */
    const vmCode = (view: string) =>
        [
            "import json, sys",
            "sys.dont_write_bytecode = True",
            `sys.path.insert(0, ${JSON.stringify(path.dirname(IMPORT_SCRIPT))})`,
            "import cytomine_import as m",
            `print(json.dumps(m.build_view(${JSON.stringify(view)}, *json.loads(sys.argv[1]))))`,
        ].join("\n");
    const vmDataset = (id: string, mountRoot = DATASETS_MOUNT_ROOT, extra: object = {}) => ({
        id,
        revision: "r",
        index: 0,
        hostDir: path.join(mounts, id),
        mountPath: `${mountRoot}/${id}`,
        ...extra,
    });
    const buildVm = (view: string, todo: object[], servedList: object[] = []) =>
        spawnSync("python3", ["-c", vmCode(view), JSON.stringify([todo, servedList])], { encoding: "utf8" });
    /** The Kubernetes builder: VIEW_SCRIPT with its paths moved under the temporary root. */
    const k8sScript = (view: string) => {
        const script = VIEW_SCRIPT.replace(`view=${IMPORT_VIEW_PATH}`, `view=${view}`).replace(
            `root=${DATASETS_MOUNT_ROOT}/`,
            `root=${mounts}/`,
        );
        assert.notEqual(script, VIEW_SCRIPT);
        assert.ok(!script.includes(IMPORT_VIEW_PATH) && !script.includes(`${DATASETS_MOUNT_ROOT}/`), script);
        return script;
    };
    const buildK8s = (view: string, run: string, servedEnv?: string) => {
        fs.rmSync(view, { recursive: true, force: true });
        fs.mkdirSync(view);
        return spawnSync("sh", ["-c", k8sScript(view)], {
            env: {
                PATH: process.env.PATH,
                IMPORT_RUN: run,
                ...(servedEnv !== undefined ? { IMPORT_SERVED: servedEnv } : {}),
            },
            encoding: "utf8",
        });
    };

    it("VM: cytomine_import.py's build_view", () => {
        const view = path.join(work, "vm-view");
        const todo = ["lung", "flat"].map((id) => vmDataset(id));
        const r = buildVm(view, todo);
        assert.equal(r.status, 0, r.stderr);
        const want: Record<string, string> = {};
        for (const id of ["lung", "flat"])
            for (const [n, t] of Object.entries(expected[id])) want[n] = `${DATASETS_MOUNT_ROOT}/${id}/${t}`;
        assert.deepEqual(links(view), want);
        assert.deepEqual(served(view), {});
        assert.deepEqual(JSON.parse(r.stdout), { buckets: Object.keys(want).sort(), served: [] });
        assert.match(r.stderr, /bucket-b holds no METADATA\/dataset\.xml, nor does any folder in it: PIMS skips it/);

        // A dataset with no folder PIMS could read: exit 3, naming the layout.
        const empty = path.join(mounts, "empty", "bucket-z");
        fs.mkdirSync(empty, { recursive: true });
        const bad = [{ ...todo[0], id: "empty", hostDir: path.dirname(empty) }];
        const r2 = buildVm(path.join(work, "vm-view-bad"), bad);
        assert.equal(r2.status, 3, r2.stderr);
        assert.match(r2.stderr, /no folder under .* holds METADATA\/dataset\.xml/);
        fs.rmSync(path.dirname(empty), { recursive: true });
    });

    it("VM: a later run keeps the earlier datasets as served entries, same names, IMAGES only", () => {
        const view = path.join(work, "vm-view-runs");
        const first = buildVm(view, [vmDataset("lung")]);
        assert.equal(first.status, 0, first.stderr);
        const lungNames = Object.keys(expected.lung).sort();
        assert.deepEqual(Object.keys(links(view)).sort(), lungNames);
        const firstInode = fs.statSync(view).ino;

        // The next run imports flat; lung, imported before, is served under the same names.
        const next = buildVm(view, [vmDataset("flat")], [vmDataset("lung")]);
        assert.equal(next.status, 0, next.stderr);
        assert.deepEqual(JSON.parse(next.stdout), { buckets: ["bucket-a"], served: lungNames });
        assert.deepEqual(links(view), { "bucket-a": `${DATASETS_MOUNT_ROOT}/flat/bucket-a` });
        assert.deepEqual(
            served(view),
            Object.fromEntries(
                Object.entries(expected.lung).map(([n, t]) => [
                    n,
                    { IMAGES: `${DATASETS_MOUNT_ROOT}/lung/${t}/IMAGES` },
                ]),
            ),
        );
        for (const n of lungNames) {
            assert.deepEqual(fs.readdirSync(path.join(view, n)), ["IMAGES"]);
            assert.ok(!fs.existsSync(path.join(view, n, "METADATA")), `${n} shows PIMS no METADATA`);
        }
        assert.equal(fs.statSync(view).ino, firstInode, "rebuilt in place (the directory is bound into PIMS)");

        // Through the host's own paths, a served entry resolves the images an earlier link named.
        const hostView = path.join(work, "vm-view-host");
        const hostLung = vmDataset("lung", mounts);
        assert.equal(buildVm(hostView, [hostLung]).status, 0);
        const [name, folder] = Object.entries(expected.lung)[0];
        const image = fs.readdirSync(path.join(mounts, "lung", folder, "IMAGES"))[0];
        const earlier = path.join(hostView, name, "IMAGES", image);
        assert.ok(fs.existsSync(earlier));
        const r = buildVm(hostView, [vmDataset("flat", mounts)], [hostLung]);
        assert.equal(r.status, 0, r.stderr);
        assert.ok(
            fs.lstatSync(path.join(hostView, name)).isDirectory() && fs.existsSync(earlier),
            `${earlier} resolves`,
        );
        assert.equal(fs.realpathSync(earlier), fs.realpathSync(path.join(mounts, "lung", folder, "IMAGES", image)));

        // Unchanged: the same view again, nothing replaced.
        const before = fs.lstatSync(path.join(view, lungNames[0])).ino;
        assert.equal(buildVm(view, [vmDataset("flat")], [vmDataset("lung")]).status, 0);
        assert.equal(fs.lstatSync(path.join(view, lungNames[0])).ino, before, "an unchanged served entry is kept");

        // lung imported again (its revision changed): a link again, under the same names.
        const again = buildVm(view, [vmDataset("lung")], [vmDataset("flat")]);
        assert.equal(again.status, 0, again.stderr);
        assert.deepEqual(Object.keys(links(view)).sort(), lungNames);
        assert.deepEqual(served(view), { "bucket-a": { IMAGES: `${DATASETS_MOUNT_ROOT}/flat/bucket-a/IMAGES` } });

        // A dataset removed from the config: its entry goes (the operator's removal).
        const removed = buildVm(view, [vmDataset("lung")], []);
        assert.equal(removed.status, 0, removed.stderr);
        assert.deepEqual(Object.keys(links(view)).sort(), lungNames);
        assert.deepEqual(served(view), {});

        // A served dataset whose tree is gone only warns; anything the import did not make stops it.
        const gone = buildVm(view, [vmDataset("lung")], [vmDataset("nowhere")]);
        assert.equal(gone.status, 0, gone.stderr);
        assert.match(
            gone.stderr,
            /\(nowhere\): .* does not exist .*the images imported from it earlier are not served/,
        );
        fs.mkdirSync(path.join(view, "stray"));
        fs.writeFileSync(path.join(view, "stray", "file"), "x");
        const stray = buildVm(view, [vmDataset("lung")], []);
        assert.equal(stray.status, 3);
        assert.match(stray.stderr, /stray is not an entry this import made/);
    });

    it("Kubernetes: the PIMS init container's script (paths moved under a temporary root)", () => {
        const view = path.join(work, "k8s-view");
        const lungBucket = Object.values(expected.lung)[0].split("/")[0];
        const r = buildK8s(view, `lung=${lungBucket},nope flat=*`);
        assert.equal(r.status, 0, r.stderr);
        const want: Record<string, string> = { "bucket-a": `${mounts}/flat/bucket-a` };
        for (const [n, t] of Object.entries(expected.lung))
            if (t.startsWith(lungBucket)) want[n] = `${mounts}/lung/${t}`;
        assert.equal(Object.keys(want).length, 2);
        assert.deepEqual(links(view), want);
        assert.deepEqual(served(view), {}, "IMPORT_SERVED unset: nothing served");

        // Twice the same folder: refused; a dataset with nothing to link: refused.
        const twice = buildK8s(view, "flat=* flat=*");
        assert.equal(twice.status, 1);
        assert.match(twice.stderr, /bucket-a is in two datasets/);
        const none = buildK8s(view, "flat=bucket-b");
        assert.equal(none.status, 1);
        assert.match(none.stderr, /dataset flat: no folder under .* holds METADATA\/dataset\.xml/);
        const both = buildK8s(view, "flat=*", "flat=*");
        assert.equal(both.status, 1, "a folder both imported and served");
        assert.match(both.stderr, /bucket-a is in two datasets/);
    });

    it("Kubernetes: IMPORT_SERVED entries are directories holding only IMAGES, named as when imported", () => {
        const view = path.join(work, "k8s-view-served");
        const first = buildK8s(view, "lung=*");
        assert.equal(first.status, 0, first.stderr);
        const lungNames = Object.keys(links(view)).sort();
        assert.deepEqual(lungNames, Object.keys(expected.lung).sort());

        const r = buildK8s(view, "flat=*", "lung=*");
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(links(view), { "bucket-a": `${mounts}/flat/bucket-a` });
        assert.deepEqual(
            served(view),
            Object.fromEntries(
                Object.entries(expected.lung).map(([n, t]) => [n, { IMAGES: `${mounts}/lung/${t}/IMAGES` }]),
            ),
        );
        for (const n of lungNames) {
            assert.deepEqual(fs.readdirSync(path.join(view, n)), ["IMAGES"]);
            assert.ok(!fs.existsSync(path.join(view, n, "METADATA")), `${n} shows PIMS no METADATA`);
            assert.ok(fs.readdirSync(path.join(view, n, "IMAGES")).length > 0, `${n}/IMAGES resolves to the images`);
        }

        // A served dataset with nothing left only warns: PIMS must still start.
        const gone = buildK8s(view, "flat=*", "flat=bucket-b");
        assert.equal(gone.status, 0, gone.stderr);
        assert.match(
            gone.stderr,
            /dataset flat: no folder under .* holds METADATA\/dataset\.xml: the images imported from it earlier are not served/,
        );
    });

    it("both builders make the same view from the same run and record", () => {
        const vmView = path.join(work, "same-vm");
        const k8sView = path.join(work, "same-k8s");
        const vm = buildVm(vmView, [vmDataset("flat", mounts)], [vmDataset("lung", mounts)]);
        assert.equal(vm.status, 0, vm.stderr);
        const k8s = buildK8s(k8sView, "flat=*", "lung=*");
        assert.equal(k8s.status, 0, k8s.stderr);
        const vmEntries = entries(vmView, mounts);
        assert.equal(Object.keys(vmEntries).length, 3);
        assert.deepEqual(entries(k8sView, mounts), vmEntries);
    });
});
