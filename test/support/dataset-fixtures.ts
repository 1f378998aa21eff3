// Synthetic dataset trees, written at test or benchmark time (no binaries in the repository): a
// valid tree of N datasets × M images × K DICOM files, one broken variant per kind of breakage, and
// a large tree for the benchmark. Names and UIDs derive from a seed, so a tree is reproducible.
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { deflateRawSync } from "node:zlib";
import { WSI_MODALITY, WSI_SOP_CLASS_UID } from "../../domain/datasets/dicom";
import { Limiter } from "../../domain/datasets/pool";

// ---------------------------------------------------------------------------------------------
// Minimal DICOM Part 10 files (DICOM PS3.10 §7: preamble, "DICM", group 0002 file meta information;
// PS3.5 §7.1.2: Explicit VR Little Endian elements).

/** Explicit VR Little Endian (DICOM PS3.5 §A.2). */
/** Transfer syntaxes a fixture can be written in (DICOM PS3.5 §A.1, A.2, A.3, A.5). */
export const TRANSFER_SYNTAXES = {
    "explicit-le": "1.2.840.10008.1.2.1",
    "implicit-le": "1.2.840.10008.1.2",
    "explicit-be": "1.2.840.10008.1.2.2",
    deflated: "1.2.840.10008.1.2.1.99",
} as const;
export type TransferSyntax = keyof typeof TRANSFER_SYNTAXES;

interface Encoding {
    implicit: boolean;
    bigEndian: boolean;
}
const META_ENCODING: Encoding = { implicit: false, bigEndian: false };
/** VRs with a 2-byte reserved field and a 4-byte length (PS3.5 Table 7.1-1). */
const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);

// Uint8Array rather than Buffer: this repository's @types/node predates TypeScript's generic typed arrays.
function concat(parts: Uint8Array[]): Uint8Array {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
        out.set(p, at);
        at += p.length;
    }
    return out;
}

const text = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

/** One data element: explicit VR (PS3.5 §7.1.2) or implicit VR (§7.1.3), in either byte order. */
function element(group: number, elem: number, vr: string, value: Uint8Array, enc = META_ENCODING): Uint8Array {
    // Values have even length (PS3.5 §7.1.1): UIDs are padded with NUL, text with a space, binary with 0.
    if (value.length % 2 === 1) value = concat([value, Uint8Array.of(vr === "UI" || vr === "OB" ? 0 : 0x20)]);
    const le = !enc.bigEndian;
    const long = LONG_VRS.has(vr);
    const head = new Uint8Array(enc.implicit ? 8 : long ? 12 : 8);
    const view = new DataView(head.buffer);
    view.setUint16(0, group, le);
    view.setUint16(2, elem, le);
    if (enc.implicit) view.setUint32(4, value.length, le);
    else {
        head.set(text(vr), 4);
        if (long) view.setUint32(8, value.length, le);
        else view.setUint16(6, value.length, le);
    }
    return concat([head, value]);
}

/** A UID under the 2.25 root from a label (DICOM PS3.5 §B.2: 2.25 followed by a 128-bit integer). */
export function uidFor(label: string): string {
    return `2.25.${BigInt(`0x${createHash("sha256").update(label).digest("hex").slice(0, 32)}`).toString()}`;
}

/** A version-4-shaped UUID from a label. */
export function uuidFor(label: string): string {
    const h = createHash("sha256").update(`uuid:${label}`).digest("hex");
    const variant = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export interface DicomSpec {
    sopClassUid?: string;
    modality?: string;
    studyInstanceUid: string;
    seriesInstanceUid: string;
    sopInstanceUid: string;
    /** Bytes of (7FE0,0010) Pixel Data (default 16), so a file can stand for a large one. */
    pixelBytes?: number;
    /** Bytes of a private element (0009,1000) placed before the study and series UIDs, to push them far into the file. */
    privateBytes?: number;
    /** Attributes left out, for files a converter wrote incompletely. */
    omit?: ("sopClassUid" | "modality" | "studyInstanceUid" | "seriesInstanceUid")[];
    /** Of the data set (default explicit VR little endian); the file meta group is always explicit little endian. */
    transferSyntax?: TransferSyntax;
}

/** A small Part 10 file: preamble, DICM, file meta group, the identifying attributes, then pixel data. */
export function dicomFile(spec: DicomSpec): Uint8Array {
    const sopClass = spec.sopClassUid ?? WSI_SOP_CLASS_UID;
    const syntax = spec.transferSyntax ?? "explicit-le";
    const enc: Encoding = { implicit: syntax === "implicit-le", bigEndian: syntax === "explicit-be" };
    const el = (group: number, elem: number, vr: string, value: Uint8Array) => element(group, elem, vr, value, enc);
    const meta = concat([
        element(0x0002, 0x0001, "OB", Uint8Array.of(0x00, 0x01)),
        element(0x0002, 0x0002, "UI", text(sopClass)),
        element(0x0002, 0x0003, "UI", text(spec.sopInstanceUid)),
        element(0x0002, 0x0010, "UI", text(TRANSFER_SYNTAXES[syntax])),
        element(0x0002, 0x0012, "UI", text(uidFor("cytomine-fallback dataset fixtures"))),
    ]);
    const groupLength = new Uint8Array(4);
    new DataView(groupLength.buffer).setUint32(0, meta.length, true);
    const pixels = spec.pixelBytes ?? 16;
    const omit = new Set(spec.omit ?? []);
    let dataSet = concat([
        el(0x0008, 0x0008, "CS", text("ORIGINAL\\PRIMARY\\VOLUME\\NONE")),
        ...(omit.has("sopClassUid") ? [] : [el(0x0008, 0x0016, "UI", text(sopClass))]),
        el(0x0008, 0x0018, "UI", text(spec.sopInstanceUid)),
        ...(omit.has("modality") ? [] : [el(0x0008, 0x0060, "CS", text(spec.modality ?? WSI_MODALITY))]),
        // A private block (PS3.5 §7.8): its creator in (0009,0010), its data in (0009,10xx).
        ...(spec.privateBytes
            ? [
                  el(0x0009, 0x0010, "LO", text("CYTOMINE FALLBACK FIXTURE")),
                  el(0x0009, 0x1000, "OB", new Uint8Array(spec.privateBytes + (spec.privateBytes % 2))),
              ]
            : []),
        ...(omit.has("studyInstanceUid") ? [] : [el(0x0020, 0x000d, "UI", text(spec.studyInstanceUid))]),
        ...(omit.has("seriesInstanceUid") ? [] : [el(0x0020, 0x000e, "UI", text(spec.seriesInstanceUid))]),
        el(0x7fe0, 0x0010, "OB", new Uint8Array(pixels + (pixels % 2)).fill(0x80)),
    ]);
    // Deflate: the whole data set after the meta group, raw deflate (PS3.5 §A.5).
    if (syntax === "deflated") dataSet = new Uint8Array(deflateRawSync(dataSet));
    return concat([new Uint8Array(128), text("DICM"), element(0x0002, 0x0000, "UL", groupLength), meta, dataSet]);
}

// ---------------------------------------------------------------------------------------------
// Valid trees

export interface TreeSpec {
    datasets?: number;
    imagesPerDataset?: number;
    filesPerImage?: number;
    /** One ANNOTATIONS/*.geojson per dataset, referenced from METADATA/annotation.xml (default true). */
    annotations?: boolean;
    pixelBytes?: number;
    seed?: string;
}

export interface FixtureImage {
    /** Folder name = IMAGE_REF alias. */
    name: string;
    /** Relative to the root. */
    path: string;
    files: string[];
    seriesInstanceUid: string;
}

export interface FixtureDataset {
    bucket: string;
    /** Relative to the root: bucket/DATASET_{ID}. */
    path: string;
    alias: string;
    images: FixtureImage[];
    annotation?: string;
}

export interface FixtureTree {
    root: string;
    datasets: FixtureDataset[];
    dicomFiles: number;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

export function datasetXml(alias: string, imageRefs: string[], extra = ""): string {
    return [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<DATASET_SET xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        `    <DATASET alias="${alias}">`,
        `        <TITLE>Synthetic dataset ${alias}</TITLE>`,
        `        <SHORT_NAME>${alias}</SHORT_NAME>`,
        "        <DESCRIPTION>Generated by test/support/dataset-fixtures.ts</DESCRIPTION>",
        "        <VERSION>1</VERSION>",
        "        <METADATA_STANDARD>2.0.0</METADATA_STANDARD>",
        ...imageRefs.map((r) => `        <IMAGE_REF alias="${r}"/>`),
        extra,
        "    </DATASET>",
        "</DATASET_SET>",
        "",
    ]
        .filter((l) => l !== "")
        .join("\n");
}

function imageXml(images: FixtureImage[]): string {
    return [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<IMAGE_SET>",
        ...images.flatMap((i) => [
            `    <IMAGE alias="${i.name}">`,
            "        <FILES>",
            ...i.files.map((f) => `            <FILE filename="IMAGES/${i.name}/${f}" filetype="dcm"/>`),
            "        </FILES>",
            "    </IMAGE>",
        ]),
        "</IMAGE_SET>",
        "",
    ].join("\n");
}

function annotationXml(alias: string, image: string, file: string): string {
    return [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<ANNOTATION_SET>",
        `    <ANNOTATION alias="${alias}">`,
        `        <IMAGE_REF alias="${image}"/>`,
        `        <FILES><FILE filename="ANNOTATIONS/${file}" filetype="geojson"/></FILES>`,
        "    </ANNOTATION>",
        "</ANNOTATION_SET>",
        "",
    ].join("\n");
}

export function featureCollection(): string {
    return JSON.stringify({
        type: "FeatureCollection",
        features: [
            {
                type: "Feature",
                geometry: {
                    type: "Polygon",
                    coordinates: [
                        [
                            [100, 100],
                            [400, 100],
                            [400, 300],
                            [100, 100],
                        ],
                    ],
                },
                properties: { term: "tumour" },
            },
            { type: "Feature", geometry: { type: "Point", coordinates: [250, 200] }, properties: null },
        ],
    });
}

/** Writes files with bounded parallelism (a 10,000-file tree would otherwise open them all at once). */
class Writer {
    private readonly limiter = new Limiter(16);
    private readonly pending: Promise<void>[] = [];
    private readonly made = new Set<string>();

    constructor(readonly root: string) {}

    write(rel: string, data: string | Uint8Array): void {
        const abs = path.join(this.root, rel);
        const dir = path.dirname(abs);
        if (!this.made.has(dir)) {
            fs.mkdirSync(dir, { recursive: true });
            this.made.add(dir);
        }
        this.pending.push(this.limiter.run(() => fs.promises.writeFile(abs, data)));
    }

    async done(): Promise<void> {
        await Promise.all(this.pending);
    }
}

/** Writes a valid tree under `root` (created if needed) and describes it. */
export async function writeValidTree(root: string, spec: TreeSpec = {}): Promise<FixtureTree> {
    const { datasets = 1, imagesPerDataset = 2, filesPerImage = 2, annotations = true, seed = "fixture" } = spec;
    fs.mkdirSync(root, { recursive: true });
    const w = new Writer(root);
    const tree: FixtureTree = { root, datasets: [], dicomFiles: 0 };
    for (let d = 1; d <= datasets; d++) {
        const id = `d${pad(d)}`;
        const bucket = uuidFor(`${seed}/${id}`);
        const dsPath = `${bucket}/DATASET_${id}`;
        const ds: FixtureDataset = { bucket, path: dsPath, alias: `${seed}-dataset-${id}`, images: [] };
        const study = uidFor(`${seed}/${id}/study`);
        for (let i = 1; i <= imagesPerDataset; i++) {
            const name = `IMAGE_${id}-i${pad(i, 3)}`;
            const series = uidFor(`${seed}/${id}/${name}/series`);
            const img: FixtureImage = { name, path: `${dsPath}/IMAGES/${name}`, files: [], seriesInstanceUid: series };
            for (let f = 1; f <= filesPerImage; f++) {
                const file = `level-${pad(f, 4)}.dcm`;
                img.files.push(file);
                w.write(
                    `${img.path}/${file}`,
                    dicomFile({
                        studyInstanceUid: study,
                        seriesInstanceUid: series,
                        sopInstanceUid: uidFor(`${seed}/${id}/${name}/${file}`),
                        pixelBytes: spec.pixelBytes,
                    }),
                );
                tree.dicomFiles++;
            }
            ds.images.push(img);
        }
        w.write(
            `${dsPath}/METADATA/dataset.xml`,
            datasetXml(
                ds.alias,
                ds.images.map((i) => i.name),
            ),
        );
        w.write(`${dsPath}/METADATA/image.xml`, imageXml(ds.images));
        if (annotations && ds.images.length > 0) {
            ds.annotation = `annotations-${id}.geojson`;
            w.write(`${dsPath}/ANNOTATIONS/${ds.annotation}`, featureCollection());
            w.write(
                `${dsPath}/METADATA/annotation.xml`,
                annotationXml(`${ds.alias}-annotation`, ds.images[0].name, ds.annotation),
            );
        }
        tree.datasets.push(ds);
    }
    await w.done();
    return tree;
}

/**
 * The benchmark's tree: `files` DICOM files (default 10,000) in 10 datasets of 10 files per image,
 * each file `pixelBytes` long in pixel data (default 8 KiB, so a header read is a fraction of it).
 */
export function writeLargeTree(root: string, files = 10_000, pixelBytes = 8 * 1024): Promise<FixtureTree> {
    const datasets = 10;
    const filesPerImage = 10;
    const imagesPerDataset = Math.max(1, Math.round(files / (datasets * filesPerImage)));
    return writeValidTree(root, { datasets, imagesPerDataset, filesPerImage, pixelBytes, seed: "bench" });
}

// ---------------------------------------------------------------------------------------------
// Broken variants: each starts from a valid 1 dataset × 2 images × 2 files tree and breaks one thing.

export const BREAKAGES = [
    "missing-root",
    "empty-root",
    "wrong-folder-names",
    "missing-images",
    "image-without-dicom",
    "non-dicom-dcm",
    "not-wsi",
    "mixed-series",
    "bad-xml",
    "image-ref-without-folder",
    "folder-without-image-ref",
    "bad-geojson",
] as const;

export type Breakage = (typeof BREAKAGES)[number];

/** A broken variant under `root`; the description is the tree after the breakage (renamed folders included). */
export async function writeBrokenTree(root: string, breakage: Breakage): Promise<FixtureTree> {
    if (breakage === "missing-root") {
        fs.rmSync(root, { recursive: true, force: true });
        return { root, datasets: [], dicomFiles: 0 };
    }
    if (breakage === "empty-root") {
        fs.mkdirSync(root, { recursive: true });
        return { root, datasets: [], dicomFiles: 0 };
    }
    const tree = await writeValidTree(root, { seed: breakage });
    const ds = tree.datasets[0];
    const [first, second] = ds.images;
    const abs = (rel: string) => path.join(root, rel);
    const dicomOf = (img: FixtureImage, file: string, over: Partial<DicomSpec> = {}) =>
        dicomFile({
            studyInstanceUid: uidFor(`${breakage}/d01/study`),
            seriesInstanceUid: img.seriesInstanceUid,
            sopInstanceUid: uidFor(`${breakage}/${img.name}/${file}/changed`),
            ...over,
        });
    switch (breakage) {
        case "wrong-folder-names": {
            // The dataset folder and one image folder misnamed; dataset.xml follows the image rename,
            // so the only problems are the names themselves.
            const badImage = second.name.replace(/^IMAGE_/, "img-");
            fs.renameSync(abs(second.path), abs(`${ds.path}/IMAGES/${badImage}`));
            second.name = badImage;
            const badDataset = `${ds.bucket}/${path.posix.basename(ds.path).replace(/^DATASET_/, "dataset-")}`;
            fs.renameSync(abs(ds.path), abs(badDataset));
            ds.path = badDataset;
            for (const img of ds.images) img.path = `${badDataset}/IMAGES/${img.name}`;
            fs.writeFileSync(
                abs(`${ds.path}/METADATA/dataset.xml`),
                datasetXml(
                    ds.alias,
                    ds.images.map((i) => i.name),
                ),
            );
            break;
        }
        case "missing-images":
            fs.rmSync(abs(`${ds.path}/IMAGES`), { recursive: true });
            ds.images = [];
            break;
        case "image-without-dicom":
            for (const f of second.files) fs.rmSync(abs(`${second.path}/${f}`));
            second.files = [];
            break;
        case "non-dicom-dcm":
            fs.writeFileSync(abs(`${first.path}/${first.files[0]}`), "this is a TIFF export, not DICOM\n");
            break;
        case "not-wsi":
            // A secondary-capture screenshot dropped into an image folder (same series, so only the SOP class is wrong).
            fs.writeFileSync(
                abs(`${first.path}/${first.files[1]}`),
                dicomOf(first, first.files[1], { sopClassUid: "1.2.840.10008.5.1.4.1.1.7", modality: "OT" }),
            );
            break;
        case "mixed-series":
            fs.writeFileSync(
                abs(`${first.path}/${first.files[1]}`),
                dicomOf(first, first.files[1], { seriesInstanceUid: uidFor(`${breakage}/other-series`) }),
            );
            break;
        case "bad-xml":
            fs.writeFileSync(
                abs(`${ds.path}/METADATA/dataset.xml`),
                datasetXml(
                    ds.alias,
                    ds.images.map((i) => i.name),
                ).replace("</TITLE>", ""),
            );
            break;
        case "image-ref-without-folder":
            fs.writeFileSync(
                abs(`${ds.path}/METADATA/dataset.xml`),
                datasetXml(ds.alias, [...ds.images.map((i) => i.name), "IMAGE_missing"]),
            );
            break;
        case "folder-without-image-ref": {
            const name = "IMAGE_unreferenced";
            const img: FixtureImage = {
                name,
                path: `${ds.path}/IMAGES/${name}`,
                files: ["level-0001.dcm"],
                seriesInstanceUid: uidFor(`${breakage}/unreferenced`),
            };
            fs.mkdirSync(abs(img.path));
            fs.writeFileSync(abs(`${img.path}/${img.files[0]}`), dicomOf(img, img.files[0]));
            ds.images.push(img);
            break;
        }
        case "bad-geojson":
            fs.writeFileSync(
                abs(`${ds.path}/ANNOTATIONS/${ds.annotation}`),
                JSON.stringify({
                    type: "FeatureCollection",
                    features: [{ type: "Feature", geometry: { type: "Circle", center: [1, 2], radius: 3 } }],
                }),
            );
            break;
    }
    return tree;
}
