import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Problem, type Progress, type Report, validateTree } from "../../domain/datasets";
import {
    type Breakage,
    datasetXml,
    dicomFile,
    type FixtureTree,
    TRANSFER_SYNTAXES,
    type TransferSyntax,
    uidFor,
    writeBrokenTree,
    writeValidTree,
} from "../support/dataset-fixtures";
import { checkGeoJson } from "../../domain/datasets/geojson";
import { forEachLimit, Limiter } from "../../domain/datasets/pool";

const repoRoot = path.resolve(__dirname, "../..");
let base: string;
let n = 0;
/** A fresh folder per case. */
const fresh = () => path.join(base, `case-${++n}`);

before(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), "datasets-test-"));
});
after(() => fs.rmSync(base, { recursive: true, force: true }));

/** Errors as sorted "CODE path" strings: exact, so an extra or a missing problem fails. */
const errorsOf = (r: Report) =>
    r.problems
        .filter((p) => p.severity === "error")
        .map((p) => `${p.code} ${p.path}`)
        .sort();
const warningsOf = (r: Report) =>
    r.problems
        .filter((p) => p.severity === "warning")
        .map((p) => `${p.code} ${p.path}`)
        .sort();
const only = (r: Report, code: string): Problem => {
    const ps = r.problems.filter((p) => p.code === code);
    assert.equal(ps.length, 1, `one ${code} expected, got ${JSON.stringify(r.problems)}`);
    return ps[0];
};

function sizeOfTree(dir: string): { files: number; bytes: number } {
    let files = 0;
    let bytes = 0;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
            const sub = sizeOfTree(p);
            files += sub.files;
            bytes += sub.bytes;
        } else if (e.isFile()) {
            files++;
            bytes += fs.statSync(p).size;
        }
    }
    return { files, bytes };
}

describe("validateTree on a valid tree", () => {
    it("passes, and its summary and dataset listing match the tree", async () => {
        const tree = await writeValidTree(fresh(), { datasets: 2, imagesPerDataset: 3, filesPerImage: 2 });
        const r = await validateTree(tree.root);
        assert.deepEqual(r.problems, []);
        assert.equal(r.ok, true);
        const disk = sizeOfTree(tree.root);
        assert.equal(r.summary.datasets, 2);
        assert.equal(r.summary.images, 6);
        // 12 .dcm + per dataset dataset.xml, image.xml, annotation.xml and one .geojson
        assert.equal(r.summary.files, 20);
        assert.equal(disk.files, 20);
        assert.equal(r.summary.bytes, disk.bytes);
        assert.equal(r.summary.errors, 0);
        assert.equal(r.summary.warnings, 0);
        const byPath = new Map(r.datasets.map((d) => [d.path, d]));
        for (const ds of tree.datasets) {
            const got = byPath.get(ds.path);
            assert.ok(got, `dataset ${ds.path} listed`);
            assert.equal(got.alias, ds.alias);
            assert.deepEqual(
                got.imageRefs,
                ds.images.map((i) => i.name),
            );
            assert.deepEqual(
                got.images.map((i) => [i.name, i.dicomFiles, i.seriesInstanceUid, i.wholeSlide]),
                ds.images.map((i) => [i.name, 2, i.seriesInstanceUid, true]),
            );
        }
    });

    it("grows the header read when the attributes lie past the first bytes, and bounds it", async () => {
        const tree = await writeValidTree(fresh(), { filesPerImage: 1, annotations: false });
        const img = tree.datasets[0].images[0];
        const file = path.join(tree.root, img.path, img.files[0]);
        // A 200 KB private element ahead of StudyInstanceUID/SeriesInstanceUID.
        fs.writeFileSync(
            file,
            dicomFile({
                studyInstanceUid: uidFor("fixture/d01/study"),
                seriesInstanceUid: img.seriesInstanceUid,
                sopInstanceUid: uidFor("far"),
                privateBytes: 200_000,
            }),
        );
        const grown = await validateTree(tree.root, { headerBytes: 4096 });
        assert.deepEqual(grown.problems, []);
        assert.equal(grown.datasets[0].images[0].seriesInstanceUid, img.seriesInstanceUid);

        const bounded = await validateTree(tree.root, { headerBytes: 4096, maxHeaderBytes: 65536 });
        assert.deepEqual(errorsOf(bounded), [`DICOM_MISSING_ATTRIBUTE ${img.path}/${img.files[0]}`]);
        assert.match(only(bounded, "DICOM_MISSING_ATTRIBUTE").message, /within the first 65536 bytes/);
    });

    it("reads implicit VR, big endian and deflated data sets too, from a small prefix", async () => {
        for (const ts of Object.keys(TRANSFER_SYNTAXES) as TransferSyntax[]) {
            const tree = await writeValidTree(fresh(), { filesPerImage: 1, annotations: false });
            const img = tree.datasets[0].images[0];
            fs.writeFileSync(
                path.join(tree.root, img.path, img.files[0]),
                dicomFile({
                    studyInstanceUid: uidFor("fixture/d01/study"),
                    seriesInstanceUid: img.seriesInstanceUid,
                    sopInstanceUid: uidFor(ts),
                    pixelBytes: 100_000,
                    transferSyntax: ts,
                }),
            );
            const r = await validateTree(tree.root, { headerBytes: 256 });
            assert.deepEqual(r.problems, [], ts);
            assert.equal(r.datasets[0].images[0].seriesInstanceUid, img.seriesInstanceUid, ts);
            assert.equal(r.datasets[0].images[0].wholeSlide, true, ts);
        }
    });

    it("reads only a prefix of a large file yet counts its full size", async () => {
        const tree = await writeValidTree(fresh(), { filesPerImage: 1, pixelBytes: 300_000, annotations: false });
        const r = await validateTree(tree.root, { headerBytes: 1024 });
        assert.deepEqual(r.problems, []);
        assert.equal(r.summary.bytes, sizeOfTree(tree.root).bytes);
    });

    it("reports progress up to the total", async () => {
        const tree = await writeValidTree(fresh(), { imagesPerDataset: 5, filesPerImage: 4 });
        const seen: Progress[] = [];
        await validateTree(tree.root, { progressEvery: 5, onProgress: (p) => seen.push(p) });
        // 20 .dcm + dataset.xml, image.xml, annotation.xml + 1 .geojson
        assert.ok(seen.length >= 4, `progress called ${seen.length} times`);
        assert.ok(seen.every((p) => p.filesTotal === 24));
        assert.deepEqual(
            seen.map((p) => p.filesDone),
            [...seen.map((p) => p.filesDone)].sort((a, b) => a - b),
        );
        assert.equal(seen[seen.length - 1].filesDone, 24);
    });
});

describe("validateTree on broken trees: one code per breakage, with its path", () => {
    const ds = (t: FixtureTree) => t.datasets[0];
    const cases: { breakage: Breakage; errors: (t: FixtureTree) => string[]; message?: RegExp }[] = [
        { breakage: "missing-root", errors: () => ["ROOT_MISSING ."], message: /does not exist/ },
        { breakage: "empty-root", errors: () => ["ROOT_EMPTY ."], message: /no dataset folders/ },
        {
            breakage: "wrong-folder-names",
            errors: (t) => [`DATASET_FOLDER_NAME ${ds(t).path}`, `IMAGE_FOLDER_NAME ${ds(t).images[1].path}`].sort(),
            message: /does not match DATASET_\{ID\}/,
        },
        { breakage: "missing-images", errors: (t) => [`IMAGES_MISSING ${ds(t).path}`], message: /no IMAGES\// },
        {
            breakage: "image-without-dicom",
            errors: (t) => [`IMAGE_NO_DICOM ${ds(t).images[1].path}`],
            message: /no \.dcm file/,
        },
        {
            breakage: "non-dicom-dcm",
            errors: (t) => [`DICOM_INVALID ${ds(t).images[0].path}/${ds(t).images[0].files[0]}`],
            message: /DICM/,
        },
        {
            breakage: "not-wsi",
            errors: (t) => [`DICOM_NOT_WSI ${ds(t).images[0].path}`],
            message:
                /1 of 2 files .*Secondary Capture Image Storage \(1\.2\.840\.10008\.5\.1\.4\.1\.1\.7\), modality OT/,
        },
        {
            breakage: "mixed-series",
            errors: (t) => [`DICOM_MIXED_SERIES ${ds(t).images[0].path}`],
            message: /2 series in one image folder/,
        },
        {
            breakage: "bad-xml",
            errors: (t) => [`XML_INVALID ${ds(t).path}/METADATA/dataset.xml`],
            message: /line \d+, column \d+/,
        },
        {
            breakage: "image-ref-without-folder",
            errors: (t) => [`IMAGE_REF_WITHOUT_FOLDER ${ds(t).path}/METADATA/dataset.xml`],
            message: /"IMAGE_missing" has no folder IMAGES\/IMAGE_missing/,
        },
        {
            breakage: "folder-without-image-ref",
            errors: (t) => [`IMAGE_FOLDER_UNREFERENCED ${ds(t).path}/IMAGES/IMAGE_unreferenced`],
            message: /no IMAGE_REF/,
        },
        {
            breakage: "bad-geojson",
            errors: (t) => [`GEOJSON_INVALID ${ds(t).path}/ANNOTATIONS/${ds(t).annotation}`],
            message: /features\.0\.geometry\.type/,
        },
    ];
    const codesSeen = new Map<Breakage, string[]>();
    for (const c of cases) {
        it(c.breakage, async () => {
            const tree = await writeBrokenTree(fresh(), c.breakage);
            const r = await validateTree(tree.root);
            assert.equal(r.ok, false);
            assert.deepEqual(errorsOf(r), c.errors(tree));
            assert.deepEqual(warningsOf(r), []);
            if (c.message) assert.match(r.problems.map((p) => p.message).join("\n"), c.message);
            for (const p of r.problems) {
                assert.ok(p.fix.length > 0 && !p.fix.includes("\n"), `a one-line fix: ${p.fix}`);
                assert.ok(!p.message.includes("\n"), `a one-line message: ${p.message}`);
            }
            codesSeen.set(c.breakage, [...new Set(r.problems.map((p) => p.code))]);
        });
    }
    it("no two breakages share a code", () => {
        assert.equal(codesSeen.size, cases.length, "every breakage case ran");
        const owner = new Map<string, Breakage>();
        for (const [breakage, codes] of codesSeen) {
            for (const code of codes) {
                assert.equal(owner.get(code), undefined, `${code} given by ${owner.get(code)} and ${breakage}`);
                owner.set(code, breakage);
            }
        }
    });
});

describe("validateTree on other layouts PIMS would skip or misread", () => {
    it("a root pointed at a DATASET_ folder", async () => {
        const tree = await writeValidTree(fresh());
        const r = await validateTree(path.join(tree.root, tree.datasets[0].path));
        assert.deepEqual(errorsOf(r), ["ROOT_IS_DATASET ."]);
    });

    it("a root that is a file", async () => {
        const file = path.join(fresh());
        fs.writeFileSync(file, "x");
        const r = await validateTree(file);
        assert.deepEqual(errorsOf(r), ["ROOT_NOT_DIRECTORY ."]);
    });

    it("a DATASET_ folder directly under the root (no {DATASET_UUID} level)", async () => {
        const tree = await writeValidTree(fresh());
        const d = tree.datasets[0];
        fs.renameSync(path.join(tree.root, d.path), path.join(tree.root, "DATASET_d01"));
        fs.rmdirSync(path.join(tree.root, d.bucket));
        const r = await validateTree(tree.root);
        assert.deepEqual(errorsOf(r), ["BUCKET_IS_DATASET DATASET_d01"]);
    });

    it("two dataset folders in one bucket, and an empty bucket", async () => {
        const tree = await writeValidTree(fresh(), { datasets: 2 });
        const [a, b] = tree.datasets;
        fs.renameSync(path.join(tree.root, b.path), path.join(tree.root, a.bucket, "DATASET_d02"));
        const r = await validateTree(tree.root);
        assert.deepEqual(errorsOf(r), [`BUCKET_EMPTY ${b.bucket}`, `BUCKET_MULTIPLE_DATASETS ${a.bucket}`]);
        assert.match(
            only(r, "BUCKET_MULTIPLE_DATASETS").message,
            /2 folders inside \(DATASET_d0[12], DATASET_d0[12]\)/,
        );
    });

    it("unknown entries and a non-UUID bucket are warnings only", async () => {
        const tree = await writeValidTree(fresh());
        const d = tree.datasets[0];
        fs.writeFileSync(path.join(tree.root, ".DS_Store"), "");
        fs.writeFileSync(path.join(tree.root, d.path, "README.txt"), "notes");
        fs.writeFileSync(path.join(tree.root, d.images[0].path, "thumbnail.jpg"), "");
        fs.renameSync(path.join(tree.root, d.bucket), path.join(tree.root, "my-dataset"));
        const r = await validateTree(tree.root);
        const ds = "my-dataset/DATASET_d01";
        assert.equal(r.ok, true);
        assert.deepEqual(errorsOf(r), []);
        assert.deepEqual(
            warningsOf(r),
            [
                "UNKNOWN_ENTRY .DS_Store",
                "BUCKET_NAME_NOT_UUID my-dataset",
                `UNKNOWN_ENTRY ${ds}/README.txt`,
                `UNKNOWN_ENTRY ${ds}/IMAGES/${d.images[0].name}/thumbnail.jpg`,
            ].sort(),
        );
        assert.equal(r.summary.warnings, 4);
    });

    it("a lower-case images/ folder: IMAGES_MISSING with a rename fix", async () => {
        const tree = await writeValidTree(fresh());
        const d = tree.datasets[0];
        fs.renameSync(path.join(tree.root, d.path, "IMAGES"), path.join(tree.root, d.path, "images"));
        const r = await validateTree(tree.root);
        assert.deepEqual(errorsOf(r), [`IMAGES_MISSING ${d.path}`]);
        assert.equal(only(r, "IMAGES_MISSING").fix, "rename images/ to IMAGES/ (names are case-sensitive)");
        assert.deepEqual(warningsOf(r), [`UNKNOWN_ENTRY ${d.path}/images`]);
    });

    it("an IMAGES/ folder without image folders", async () => {
        const tree = await writeValidTree(fresh());
        const d = tree.datasets[0];
        for (const img of d.images) fs.rmSync(path.join(tree.root, img.path), { recursive: true });
        const r = await validateTree(tree.root);
        assert.deepEqual(errorsOf(r), [`IMAGES_EMPTY ${d.path}/IMAGES`]);
    });

    it("no METADATA/: an error for an import, nothing for the archive layout", async () => {
        const tree = await writeValidTree(fresh(), { annotations: false });
        const d = tree.datasets[0];
        fs.rmSync(path.join(tree.root, d.path, "METADATA"), { recursive: true });
        assert.deepEqual(errorsOf(await validateTree(tree.root)), [`METADATA_MISSING ${d.path}`]);
        assert.deepEqual((await validateTree(tree.root, { mode: "archive" })).problems, []);
    });

    it("dataset.xml without a <DATASET alias>", async () => {
        const tree = await writeValidTree(fresh());
        const d = tree.datasets[0];
        const xml = path.join(tree.root, d.path, "METADATA", "dataset.xml");
        fs.writeFileSync(xml, '<?xml version="1.0"?><DATASET><TITLE>t</TITLE></DATASET>');
        const r = await validateTree(tree.root);
        assert.deepEqual(errorsOf(r), [`DATASET_ALIAS_MISSING ${d.path}/METADATA/dataset.xml`]);
        assert.match(only(r, "DATASET_ALIAS_MISSING").message, /no <DATASET> element below <DATASET>/);

        fs.writeFileSync(xml, "<DATASET_SET><DATASET><TITLE>t</TITLE></DATASET></DATASET_SET>");
        const r2 = await validateTree(tree.root);
        assert.match(only(r2, "DATASET_ALIAS_MISSING").message, /<DATASET> has no alias/);
    });

    it("a complementing dataset needs no IMAGES/", async () => {
        const tree = await writeValidTree(fresh(), { annotations: false });
        const d = tree.datasets[0];
        fs.rmSync(path.join(tree.root, d.path, "IMAGES"), { recursive: true });
        fs.writeFileSync(
            path.join(tree.root, d.path, "METADATA", "dataset.xml"),
            datasetXml(d.alias, [], '        <COMPLEMENTS_DATASET_REF alias="parent-dataset"/>'),
        );
        const r = await validateTree(tree.root);
        assert.deepEqual(r.problems, []);
        assert.equal(r.datasets[0].complements, "parent-dataset");
    });

    it("an annotation.xml FILE that does not exist, and an IMAGE_REF to no folder", async () => {
        const tree = await writeValidTree(fresh());
        const d = tree.datasets[0];
        fs.rmSync(path.join(tree.root, d.path, "ANNOTATIONS", d.annotation as string));
        const ann = path.join(tree.root, d.path, "METADATA", "annotation.xml");
        fs.writeFileSync(ann, fs.readFileSync(ann, "utf8").replace(d.images[0].name, "IMAGE_gone"));
        const r = await validateTree(tree.root);
        assert.deepEqual(errorsOf(r), [
            `ANNOTATION_FILE_MISSING ${d.path}/METADATA/annotation.xml`,
            `IMAGE_REF_WITHOUT_FOLDER ${d.path}/METADATA/annotation.xml`,
        ]);
    });

    it("a DICOM file without SeriesInstanceUID or Modality", async () => {
        const tree = await writeValidTree(fresh(), { filesPerImage: 1, annotations: false });
        const img = tree.datasets[0].images[0];
        fs.writeFileSync(
            path.join(tree.root, img.path, img.files[0]),
            dicomFile({
                studyInstanceUid: uidFor("s"),
                seriesInstanceUid: "",
                sopInstanceUid: uidFor("i"),
                omit: ["seriesInstanceUid", "modality"],
            }),
        );
        const r = await validateTree(tree.root);
        assert.deepEqual(errorsOf(r), [
            `DICOM_MISSING_ATTRIBUTE ${img.path}/${img.files[0]}`,
            `DICOM_NOT_WSI ${img.path}`,
        ]);
        assert.equal(
            only(r, "DICOM_MISSING_ATTRIBUTE").message,
            "missing Modality (0008,0060), SeriesInstanceUID (0020,000E)",
        );
    });
});

describe("checkGeoJson", () => {
    it("accepts a FeatureCollection of valid geometries, GeometryCollection included", () => {
        const fc = {
            type: "FeatureCollection",
            features: [
                {
                    type: "Feature",
                    geometry: {
                        type: "LineString",
                        coordinates: [
                            [0, 0],
                            [1, 1],
                        ],
                    },
                    properties: {},
                },
                {
                    type: "Feature",
                    geometry: { type: "GeometryCollection", geometries: [{ type: "Point", coordinates: [1, 2] }] },
                },
            ],
        };
        assert.deepEqual(checkGeoJson(JSON.stringify(fc)), { ok: true, features: 2 });
    });

    it("rejects non-JSON, a bare Feature, an open ring and a null geometry, each with where", () => {
        const bad = (v: unknown) => checkGeoJson(typeof v === "string" ? v : JSON.stringify(v));
        assert.equal((bad("{") as { code: string }).code, "GEOJSON_INVALID_JSON");
        const feature = bad({ type: "Feature", geometry: { type: "Point", coordinates: [1, 2] } });
        assert.equal(feature.ok, false);
        assert.match((feature as { message: string }).message, /^type: /);
        const ring = [
            [
                [0, 0],
                [1, 0],
                [1, 1],
                [0, 1],
            ],
        ];
        const open = bad({
            type: "FeatureCollection",
            features: [{ type: "Feature", geometry: { type: "Polygon", coordinates: ring } }],
        });
        assert.match(
            (open as { message: string }).message,
            /features\.0\.geometry\.coordinates\.0: a polygon ring ends where it starts/,
        );
        const nul = bad({ type: "FeatureCollection", features: [{ type: "Feature", geometry: null }] });
        assert.match((nul as { message: string }).message, /^features\.0\.geometry: /);
    });
});

describe("bounded parallelism", () => {
    it("forEachLimit and Limiter never exceed their limit", async () => {
        let active = 0;
        let peak = 0;
        const tick = async () => {
            peak = Math.max(peak, ++active);
            await new Promise((r) => setTimeout(r, 1));
            active--;
        };
        await forEachLimit(
            Array.from({ length: 50 }, (_, i) => i),
            4,
            () => undefined,
            tick,
        );
        assert.equal(peak, 4);
        peak = 0;
        const l = new Limiter(3);
        await Promise.all(Array.from({ length: 30 }, () => l.run(tick)));
        assert.equal(peak, 3);
    });
});

describe("npm run dataset:check", () => {
    const tool = path.join(repoRoot, "cli", "dataset-check.ts");
    const check = (...args: string[]) =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
            const p = spawn(process.execPath, ["--import", "tsx", tool, ...args], { cwd: repoRoot });
            let stdout = "";
            let stderr = "";
            p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
            p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
            p.on("error", reject);
            p.on("close", (code) => resolve({ code, stdout, stderr }));
        });

    it("exits 0 on a valid tree with a summary, quiet on stderr", async () => {
        const tree = await writeValidTree(fresh(), { datasets: 2 });
        const r = await check(tree.root);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /2 datasets, 4 images, 16 files, [\d.]+ KiB; 0 errors, 0 warnings/);
        assert.match(r.stdout, /OK: ready for import/);
        assert.equal(r.stderr, "");
    });

    it("exits 1 on errors and lists each as path: message (fix: …)", async () => {
        const tree = await writeBrokenTree(fresh(), "mixed-series");
        const img = tree.datasets[0].images[0];
        const r = await check(tree.root);
        assert.equal(r.code, 1);
        assert.match(r.stdout, /^Errors \(1\):$/m);
        const line = r.stdout.split("\n").find((l) => l.trim().startsWith(`${img.path}: `));
        assert.ok(line, r.stdout);
        assert.match(
            line,
            /: 2 series in one image folder: .* \(fix: keep one SeriesInstanceUID .*\) \[DICOM_MIXED_SERIES\]$/,
        );
        assert.match(r.stdout, /1 dataset, 2 images, .*; 1 error, 0 warnings/);
    });

    it("--json prints the report", async () => {
        const tree = await writeBrokenTree(fresh(), "bad-geojson");
        const r = await check(tree.root, "--json");
        assert.equal(r.code, 1);
        const report = JSON.parse(r.stdout) as Report;
        assert.equal(report.ok, false);
        assert.equal(report.root, tree.root);
        assert.deepEqual(
            report.problems.map((p) => [p.severity, p.code, p.path]),
            [["error", "GEOJSON_INVALID", `${tree.datasets[0].path}/ANNOTATIONS/${tree.datasets[0].annotation}`]],
        );
        assert.equal(report.summary.errors, 1);
    });

    it("exits 0 with warnings only", async () => {
        const tree = await writeValidTree(fresh());
        fs.writeFileSync(path.join(tree.root, "notes.txt"), "");
        const r = await check(tree.root, "--json");
        assert.equal(r.code, 0);
        assert.equal((JSON.parse(r.stdout) as Report).summary.warnings, 1);
    });

    it("exits 1 (not 2) for a missing root: a finding, not a usage error", async () => {
        const r = await check(path.join(base, "does-not-exist"));
        assert.equal(r.code, 1);
        assert.match(r.stdout, /^ {2}\.: .*does-not-exist does not exist \(fix: .*\) \[ROOT_MISSING\]$/m);
    });

    it("exits 2 with a usage line on usage errors", async () => {
        for (const args of [[], ["--json"], ["a", "b"], [base, "--bogus"]]) {
            const r = await check(...args);
            assert.equal(r.code, 2, `args ${JSON.stringify(args)}`);
            assert.match(r.stderr, /^usage: npm run dataset:check -- <dir> \[--json\]/m);
            assert.equal(r.stdout, "");
        }
    });
});
