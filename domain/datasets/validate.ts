// Validation of a dataset import tree, as PIMS's importer reads it:
//
//   root/                       DATASET_PATH (PIMS) / IMPORT_PATH (compose) / the sdafs mount
//     {DATASET_UUID}/           a "bucket": exactly one directory in it, else PIMS skips the bucket
//       DATASET_{ID}/
//         METADATA/dataset.xml  <DATASET alias> names the Cytomine project; IMAGE_REF aliases are the images
//         METADATA/*.xml        policy, image, annotation, observation, observer, sample, staining
//         IMAGES/IMAGE_{ID}/    one image = one DICOM WSI series; PIMS links IMAGES/<IMAGE_REF alias>
//         ANNOTATIONS/*.geojson
//         LANDING_PAGE/, PRIVATE/  part of the BP layout, not read by PIMS
//
// Sources: cytomine/cytomine docs/src/admin-guide/docker/configuration.md (the layout) and
// pims/pims/importer/{dataset,image,annotation}.py (BucketParser, ImageImporter, AnnotationImporter);
// the BP Dataset File Structure Standard (bp.nbis.se/datasets/submission/preparation-guide.html).
//
// Two phases: a walk lists every directory (bounded by a semaphore), then every file is checked by
// a pool of workers, each reading into its own buffer; cross-checks (series, references) run last.
import * as fs from "node:fs";
import * as path from "node:path";
import {
    HEADER_TAGS,
    type DicomHeader,
    parseDicomHeader,
    sopClassName,
    WSI_MODALITY,
    WSI_SOP_CLASS_UID,
} from "./dicom";
import { checkGeoJson } from "./geojson";
import { readHead } from "./io";
import { checkXml, parseXml, readAnnotationXml, readDatasetXml, type AnnotationRef, type DatasetXml } from "./metadata";
import { forEachLimit, Limiter } from "./pool";
import type { DatasetInfo, ImageInfo, Problem, ProblemCode, Report, Severity, Summary, ValidateOptions } from "./types";

export const DEFAULTS = {
    // Files in flight. libuv runs 4 file operations at a time (UV_THREADPOOL_SIZE; raise it for sdafs
    // or network mounts so more requests overlap); 16 keeps that queue full. Figures for 1, 4, 16
    // and 64 in bench/datasets.ts.
    concurrency: 16,
    // One read covers the file meta group and groups 0008-0020 of about every WSI file, and spares
    // an fstat for files smaller than this (a short read gives their size).
    headerBytes: 64 * 1024,
    maxHeaderBytes: 16 * 1024 * 1024,
    progressEvery: 500,
} as const;

/** The METADATA files of the BP Dataset File Structure Standard. */
const METADATA_FILES = new Set([
    "dataset.xml",
    "policy.xml",
    "image.xml",
    "annotation.xml",
    "observation.xml",
    "observer.xml",
    "sample.xml",
    "staining.xml",
]);
const DATASET_ENTRIES = new Set(["METADATA", "IMAGES", "ANNOTATIONS", "LANDING_PAGE", "PRIVATE"]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATASET_NAME = /^DATASET_.+/;
const IMAGE_NAME = /^IMAGE_.+/;

interface Entry {
    name: string;
    kind: "dir" | "file" | "other";
}

interface DicomFile {
    rel: string;
    abs: string;
    header?: DicomHeader;
}

interface ImageWork {
    info: ImageInfo;
    files: DicomFile[];
}

interface DatasetWork {
    info: DatasetInfo;
    abs: string;
    hasMetadata: boolean;
    datasetXml?: DatasetXml;
    /** False when dataset.xml is missing or unreadable: reference checks are skipped then. */
    datasetXmlOk: boolean;
    annotationXml?: AnnotationRef[];
    hasImagesDir: boolean;
    /** A folder named like IMAGES in another case (`images`), for the fix of IMAGES_MISSING. */
    imagesNearMiss?: string;
    images: ImageWork[];
}

type Job =
    | { kind: "dicom"; file: DicomFile }
    | { kind: "xml"; rel: string; abs: string; ds: DatasetWork; name: string }
    | { kind: "geojson"; rel: string; abs: string }
    | { kind: "size"; rel: string; abs: string };

class Run {
    readonly problems: Problem[] = [];
    files = 0;
    bytes = 0;
    readonly jobs: Job[] = [];
    readonly limiter: Limiter;

    constructor(
        readonly root: string,
        readonly opts: Required<Omit<ValidateOptions, "onProgress">> & Pick<ValidateOptions, "onProgress">,
    ) {
        this.limiter = new Limiter(opts.concurrency);
    }

    add(severity: Severity, code: ProblemCode, rel: string, message: string, fix: string): void {
        this.problems.push({ severity, code, path: rel === "" ? "." : rel, message, fix });
    }

    abs(rel: string): string {
        return path.join(this.root, rel);
    }

    /** Lists a directory; symlinks are followed (PIMS's `is_dir()` follows them too). */
    async list(rel: string): Promise<Entry[] | undefined> {
        const dir = this.abs(rel);
        let dirents: fs.Dirent[];
        try {
            dirents = await this.limiter.run(() => fs.promises.readdir(dir, { withFileTypes: true }));
        } catch (e) {
            this.add(
                "error",
                "IO_ERROR",
                rel,
                `cannot list directory: ${errText(e)}`,
                "check permissions and the mount",
            );
            return undefined;
        }
        const entries: Entry[] = [];
        const links: Promise<void>[] = [];
        for (const d of dirents) {
            if (d.isDirectory()) entries.push({ name: d.name, kind: "dir" });
            else if (d.isFile()) entries.push({ name: d.name, kind: "file" });
            else if (!d.isSymbolicLink()) entries.push({ name: d.name, kind: "other" });
            else {
                // Only a link costs a stat, to learn what it points at.
                const entry: Entry = { name: d.name, kind: "other" };
                entries.push(entry);
                links.push(
                    this.limiter
                        .run(() => fs.promises.stat(path.join(dir, d.name)))
                        .then(
                            (st) => {
                                entry.kind = st.isDirectory() ? "dir" : st.isFile() ? "file" : "other";
                            },
                            () =>
                                this.add(
                                    "warning",
                                    "IO_ERROR",
                                    join(rel, d.name),
                                    "broken symbolic link",
                                    "point the link at an existing file or remove it",
                                ),
                        ),
                );
            }
        }
        await Promise.all(links);
        // readdir's order is the file system's; sorted, reports and listings are the same on every run.
        return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    }

    /** An entry PIMS does not read: a warning, and its size still counts for a file. */
    unknown(rel: string, e: Entry, where: string, fix: string): void {
        this.add("warning", "UNKNOWN_ENTRY", join(rel, e.name), `unexpected ${kindName(e)} in ${where}`, fix);
        if (e.kind === "file")
            this.jobs.push({ kind: "size", rel: join(rel, e.name), abs: this.abs(join(rel, e.name)) });
    }
}

/** A Buffer typed as Uint8Array (this repository's @types/node predates generic typed arrays), so dicom-parser gets a Buffer. */
function readBuffer(size: number): Uint8Array {
    return Buffer.allocUnsafeSlow(size) as unknown as Uint8Array;
}

function join(...parts: string[]): string {
    return parts.filter((p) => p !== "").join("/");
}

function kindName(e: Entry): string {
    return e.kind === "dir" ? "folder" : e.kind === "file" ? "file" : "entry";
}

function errText(e: unknown): string {
    return e instanceof Error ? e.message : String(e);
}

/** A case-insensitive near miss of an expected name (`images` for IMAGES), for a better fix. */
function nearMiss(entries: Entry[], expected: string): Entry | undefined {
    return entries.find((e) => e.kind === "dir" && e.name !== expected && e.name.toUpperCase() === expected);
}

/**
 * Validates a dataset tree rooted at `root` (the folder holding the {DATASET_UUID} folders) and
 * reports every problem with its path, a code and a fix.
 */
export async function validateTree(root: string, options: ValidateOptions = {}): Promise<Report> {
    const t0 = process.hrtime.bigint();
    const abs = path.resolve(root);
    const run = new Run(abs, {
        mode: options.mode ?? "import",
        concurrency: Math.max(1, options.concurrency ?? DEFAULTS.concurrency),
        headerBytes: Math.max(256, options.headerBytes ?? DEFAULTS.headerBytes),
        maxHeaderBytes: Math.max(256, options.maxHeaderBytes ?? DEFAULTS.maxHeaderBytes),
        progressEvery: Math.max(1, options.progressEvery ?? DEFAULTS.progressEvery),
        onProgress: options.onProgress,
    });
    const datasets = await walkRoot(run);
    await checkFiles(run);
    for (const ds of datasets) crossCheck(run, ds);
    await checkAnnotationFiles(run, datasets);

    const problems = run.problems.sort(
        (a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0) || a.code.localeCompare(b.code),
    );
    const errors = problems.filter((p) => p.severity === "error").length;
    const summary: Summary = {
        datasets: datasets.length,
        images: datasets.reduce((n, d) => n + d.images.length, 0),
        files: run.files,
        bytes: run.bytes,
        errors,
        warnings: problems.length - errors,
        durationMs: Number(process.hrtime.bigint() - t0) / 1e6,
    };
    return { root: abs, ok: errors === 0, problems, datasets: datasets.map((d) => d.info), summary };
}

async function walkRoot(run: Run): Promise<DatasetWork[]> {
    let st: fs.Stats;
    try {
        st = await fs.promises.stat(run.root);
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") {
            run.add(
                "error",
                "ROOT_MISSING",
                "",
                `${run.root} does not exist`,
                "pass the folder that holds the {DATASET_UUID} folders (PIMS's DATASET_PATH, e.g. the sdafs mount point)",
            );
        } else
            run.add(
                "error",
                "IO_ERROR",
                "",
                `cannot read ${run.root}: ${errText(e)}`,
                "check permissions and the mount",
            );
        return [];
    }
    if (!st.isDirectory()) {
        run.add(
            "error",
            "ROOT_NOT_DIRECTORY",
            "",
            `${run.root} is not a directory`,
            "pass the folder that holds the {DATASET_UUID} folders",
        );
        return [];
    }
    const entries = await run.list("");
    if (!entries) return [];
    const dirs = entries.filter((e) => e.kind === "dir");
    if (dirs.some((e) => e.name === "IMAGES" || e.name === "METADATA")) {
        run.add(
            "error",
            "ROOT_IS_DATASET",
            "",
            "this is a DATASET_{ID} folder (it holds IMAGES/ or METADATA/), not the import root",
            "pass the folder two levels up, which holds {DATASET_UUID}/DATASET_{ID}/",
        );
        return [];
    }
    for (const e of entries.filter((e) => e.kind !== "dir"))
        run.unknown("", e, "the root", "remove it: PIMS only reads the {DATASET_UUID} folders of the root");
    if (dirs.length === 0) {
        run.add(
            "error",
            "ROOT_EMPTY",
            "",
            "no dataset folders: the root holds no {DATASET_UUID} folder",
            "put each dataset at {DATASET_UUID}/DATASET_{ID}/ under this folder, or pass the right folder",
        );
        return [];
    }
    const found = await Promise.all(dirs.map((d) => walkBucket(run, d.name)));
    return found.flat();
}

async function walkBucket(run: Run, bucket: string): Promise<DatasetWork[]> {
    const entries = await run.list(bucket);
    if (!entries) return [];
    const dirs = entries.filter((e) => e.kind === "dir");
    if (dirs.some((e) => DATASET_ENTRIES.has(e.name))) {
        run.add(
            "error",
            "BUCKET_IS_DATASET",
            bucket,
            "a dataset folder directly under the root: PIMS expects {DATASET_UUID}/DATASET_{ID}/",
            `move it to <uuid>/${DATASET_NAME.test(bucket) ? bucket : `DATASET_${bucket}`}/ under the root`,
        );
        return [];
    }
    if (!UUID.test(bucket)) {
        // PIMS accepts any bucket name; Cytomine's docs name it {DATASET_UUID} and sdafs presents one folder per dataset.
        run.add(
            "warning",
            "BUCKET_NAME_NOT_UUID",
            bucket,
            "folder name is not a UUID (the layout names it {DATASET_UUID})",
            "name the folder after the dataset's UUID, as sdafs does",
        );
    }
    for (const e of entries.filter((e) => e.kind !== "dir"))
        run.unknown(bucket, e, "a {DATASET_UUID} folder", "remove it: PIMS only reads the one DATASET_{ID} folder");
    if (dirs.length === 0) {
        run.add(
            "error",
            "BUCKET_EMPTY",
            bucket,
            "no DATASET_{ID} folder inside: PIMS skips this bucket",
            "put the dataset at " + join(bucket, "DATASET_{ID}") + "/ or remove the folder",
        );
        return [];
    }
    let datasetDirs = dirs;
    if (dirs.length > 1) {
        run.add(
            "error",
            "BUCKET_MULTIPLE_DATASETS",
            bucket,
            `${dirs.length} folders inside (${dirs.map((d) => d.name).join(", ")}): PIMS expects exactly one and skips this bucket`,
            "keep one DATASET_{ID} folder per {DATASET_UUID} folder; move the others to their own UUID folders",
        );
        datasetDirs = dirs.filter((d) => DATASET_NAME.test(d.name));
    }
    return Promise.all(datasetDirs.map((d) => walkDataset(run, bucket, d.name)));
}

async function walkDataset(run: Run, bucket: string, name: string): Promise<DatasetWork> {
    const rel = join(bucket, name);
    const ds: DatasetWork = {
        info: { bucket, path: rel, imageRefs: [], images: [] },
        abs: run.abs(rel),
        hasMetadata: false,
        datasetXmlOk: false,
        hasImagesDir: false,
        images: [],
    };
    if (!DATASET_NAME.test(name)) {
        run.add(
            "error",
            "DATASET_FOLDER_NAME",
            rel,
            `folder name "${name}" does not match DATASET_{ID}`,
            `rename it to DATASET_<identifier> (e.g. DATASET_${name.replace(/^dataset[-_ ]?/i, "") || "1"})`,
        );
    }
    const entries = await run.list(rel);
    if (!entries) return ds;
    const sub: Promise<void>[] = [];
    for (const e of entries) {
        if (e.kind === "dir" && e.name === "METADATA") {
            ds.hasMetadata = true;
            sub.push(walkMetadata(run, ds, join(rel, e.name)));
        } else if (e.kind === "dir" && e.name === "IMAGES") {
            ds.hasImagesDir = true;
            sub.push(walkImages(run, ds, join(rel, e.name)));
        } else if (e.kind === "dir" && e.name === "ANNOTATIONS") {
            sub.push(walkAnnotations(run, join(rel, e.name)));
        } else if (e.kind === "dir" && (e.name === "LANDING_PAGE" || e.name === "PRIVATE")) {
            // Part of the BP layout; PIMS does not read them.
        } else {
            const expected = [...DATASET_ENTRIES].find((x) => x === e.name.toUpperCase());
            run.unknown(
                rel,
                e,
                "a DATASET_{ID} folder",
                expected && e.kind === "dir"
                    ? `rename it to ${expected} (names are case-sensitive)`
                    : "remove it or move it under METADATA/, IMAGES/ or ANNOTATIONS/",
            );
        }
    }
    await Promise.all(sub);
    if (!ds.hasMetadata && run.opts.mode === "import") {
        const miss = nearMiss(entries, "METADATA");
        run.add(
            "error",
            "METADATA_MISSING",
            rel,
            "no METADATA/ folder: PIMS finds a dataset by METADATA/dataset.xml and skips this bucket",
            miss
                ? `rename ${miss.name}/ to METADATA/ (names are case-sensitive)`
                : "add METADATA/dataset.xml with a <DATASET alias> and an IMAGE_REF per image",
        );
    }
    ds.imagesNearMiss = nearMiss(entries, "IMAGES")?.name;
    return ds;
}

async function walkMetadata(run: Run, ds: DatasetWork, rel: string): Promise<void> {
    const entries = await run.list(rel);
    if (!entries) return;
    for (const e of entries) {
        if (e.kind === "file" && e.name.toLowerCase().endsWith(".xml")) {
            if (!METADATA_FILES.has(e.name))
                run.add(
                    "warning",
                    "UNKNOWN_ENTRY",
                    join(rel, e.name),
                    "not one of the METADATA files of the BP layout",
                    `remove or rename it (expected: ${[...METADATA_FILES].join(", ")})`,
                );
            run.jobs.push({ kind: "xml", rel: join(rel, e.name), abs: run.abs(join(rel, e.name)), ds, name: e.name });
        } else run.unknown(rel, e, "METADATA/", "remove it: METADATA/ holds the dataset's .xml files");
    }
    if (!entries.some((e) => e.kind === "file" && e.name === "dataset.xml")) {
        run.add(
            run.opts.mode === "import" ? "error" : "warning",
            "DATASET_XML_MISSING",
            rel,
            "no dataset.xml: PIMS finds a dataset by METADATA/dataset.xml and skips this bucket",
            "add METADATA/dataset.xml with a <DATASET alias> and an IMAGE_REF per image",
        );
    }
}

async function walkImages(run: Run, ds: DatasetWork, rel: string): Promise<void> {
    const entries = await run.list(rel);
    if (!entries) return;
    const folders = entries.filter((e) => e.kind === "dir");
    for (const e of entries.filter((e) => e.kind !== "dir"))
        run.unknown(rel, e, "IMAGES/", "move it into an IMAGES/IMAGE_{ID}/ folder (one folder per image)");
    await Promise.all(folders.map((f) => walkImage(run, ds, join(rel, f.name), f.name)));
    // Keep the listing order stable whatever order the walk finished in.
    ds.images.sort((a, b) => a.info.name.localeCompare(b.info.name));
    ds.info.images = ds.images.map((i) => i.info);
}

async function walkImage(run: Run, ds: DatasetWork, rel: string, name: string): Promise<void> {
    const img: ImageWork = { info: { name, path: rel, dicomFiles: 0, wholeSlide: false }, files: [] };
    ds.images.push(img);
    if (!IMAGE_NAME.test(name)) {
        run.add(
            "error",
            "IMAGE_FOLDER_NAME",
            rel,
            `folder name "${name}" does not match IMAGE_{ID}`,
            `rename it to IMAGE_<identifier> and use that name as its IMAGE_REF alias in METADATA/dataset.xml`,
        );
    }
    const entries = await run.list(rel);
    if (!entries) return;
    // Plain concatenation: `rel` has no empty or dot segments, and this runs once per .dcm file.
    const dirAbs = run.abs(rel);
    for (const e of entries) {
        if (e.kind === "file" && e.name.toLowerCase().endsWith(".dcm")) {
            const file: DicomFile = { rel: `${rel}/${e.name}`, abs: `${dirAbs}${path.sep}${e.name}` };
            img.files.push(file);
            run.jobs.push({ kind: "dicom", file });
        } else run.unknown(rel, e, "an image folder", "remove it: an image folder holds only the image's .dcm files");
    }
    img.info.dicomFiles = img.files.length;
    if (img.files.length === 0) {
        run.add(
            "error",
            "IMAGE_NO_DICOM",
            rel,
            "no .dcm file: the image folder is empty of DICOM",
            "put the image's DICOM WSI files (*.dcm) in it, or remove the folder and its IMAGE_REF",
        );
    }
}

async function walkAnnotations(run: Run, rel: string): Promise<void> {
    const entries = await run.list(rel);
    if (!entries) return;
    for (const e of entries) {
        if (e.kind === "file" && e.name.toLowerCase().endsWith(".geojson"))
            run.jobs.push({ kind: "geojson", rel: join(rel, e.name), abs: run.abs(join(rel, e.name)) });
        else run.unknown(rel, e, "ANNOTATIONS/", "remove it or convert it to a .geojson FeatureCollection");
    }
}

async function checkFiles(run: Run): Promise<void> {
    const { opts } = run;
    const total = run.jobs.length;
    let done = 0;
    const progress = () => opts.onProgress?.({ filesDone: done, filesTotal: total, bytes: run.bytes });
    await forEachLimit(
        run.jobs,
        opts.concurrency,
        () => readBuffer(opts.headerBytes),
        async (job, buf) => {
            try {
                if (job.kind === "dicom") {
                    // The common case stays on one await: read the prefix, parse it synchronously.
                    const head = await readHead(job.file.abs, buf);
                    run.files++;
                    run.bytes += head.size;
                    if (!dicomHeader(run, job.file, buf.subarray(0, head.bytesRead), head.size))
                        await readFurther(run, job.file, head.size);
                } else await checkFile(run, job);
            } catch (e) {
                run.add(
                    "error",
                    "IO_ERROR",
                    job.kind === "dicom" ? job.file.rel : job.rel,
                    `cannot read: ${errText(e)}`,
                    "check permissions and the mount",
                );
            }
            done++;
            if (done % opts.progressEvery === 0 && done < total) progress();
        },
    );
    progress();
}

async function checkFile(run: Run, job: Exclude<Job, { kind: "dicom" }>): Promise<void> {
    switch (job.kind) {
        case "size": {
            const st = await fs.promises.stat(job.abs);
            run.files++;
            run.bytes += st.size;
            return;
        }
        case "geojson": {
            const text = await fs.promises.readFile(job.abs, "utf8");
            run.files++;
            run.bytes += Buffer.byteLength(text);
            const r = checkGeoJson(text);
            if (!r.ok)
                run.add(
                    "error",
                    r.code,
                    job.rel,
                    r.code === "GEOJSON_INVALID_JSON"
                        ? `not JSON: ${r.message}`
                        : `not a valid FeatureCollection: ${r.message}`,
                    "write a GeoJSON FeatureCollection (RFC 7946) whose features all have a geometry",
                );
            return;
        }
        case "xml": {
            const text = await fs.promises.readFile(job.abs, "utf8");
            run.files++;
            run.bytes += Buffer.byteLength(text);
            const invalid = (message: string) =>
                run.add("error", "XML_INVALID", job.rel, `not well-formed XML: ${message}`, "fix the XML at that line");
            // Only dataset.xml and annotation.xml are cross-checked; the others only need to be well-formed.
            if (job.name !== "dataset.xml" && job.name !== "annotation.xml") {
                const v = checkXml(text);
                if (!v.ok) invalid(v.message);
                return;
            }
            const doc = parseXml(text);
            if (!doc.ok) return invalid(doc.message);
            if (job.name === "dataset.xml") {
                const d = readDatasetXml(doc.doc);
                job.ds.datasetXml = d;
                job.ds.info.imageRefs = d.imageRefs;
                if (d.alias !== undefined) job.ds.info.alias = d.alias;
                if (d.complements !== undefined) job.ds.info.complements = d.complements;
                if (!d.hasDataset || d.alias === undefined) {
                    run.add(
                        "error",
                        "DATASET_ALIAS_MISSING",
                        job.rel,
                        d.hasDataset
                            ? "<DATASET> has no alias: PIMS names the project after it and skips this bucket without one"
                            : `no <DATASET> element below <${d.rootName}>: PIMS looks it up as .//DATASET and skips this bucket`,
                        d.hasDataset
                            ? 'add alias="<dataset alias>" to <DATASET>'
                            : 'wrap it as <DATASET_SET><DATASET alias="…">…</DATASET></DATASET_SET>',
                    );
                } else job.ds.datasetXmlOk = true;
            } else if (job.name === "annotation.xml") job.ds.annotationXml = readAnnotationXml(doc.doc);
            return;
        }
    }
}

/**
 * Records what `bytes` (the first bytes of a .dcm file of `size` bytes) say about it. Returns false
 * when the checked attributes lie past them, so the caller reads more.
 */
function dicomHeader(run: Run, file: DicomFile, bytes: Uint8Array, size: number): boolean {
    const r = parseDicomHeader(bytes, bytes.length >= size);
    if (r.kind === "need-more") return false;
    if (r.kind === "invalid") {
        run.add(
            "error",
            "DICOM_INVALID",
            file.rel,
            `not a readable DICOM file: ${r.reason}`,
            "replace it with the image's DICOM WSI file (DICOM Part 10, with a 128-byte preamble and DICM), or remove it",
        );
    } else {
        file.header = r.header;
        if (r.missing.length > 0)
            run.add(
                "error",
                "DICOM_MISSING_ATTRIBUTE",
                file.rel,
                `missing ${r.missing.join(", ")}`,
                "re-export the image with a DICOM WSI converter that writes these type 1 attributes",
            );
    }
    return true;
}

/** Re-reads a .dcm file with a 16× larger prefix each time, up to maxHeaderBytes. */
async function readFurther(run: Run, file: DicomFile, size: number): Promise<void> {
    const { opts } = run;
    let have = Math.min(size, opts.headerBytes);
    for (;;) {
        const next = Math.min(size, opts.maxHeaderBytes, have * 16);
        if (next <= have) {
            run.add(
                "error",
                "DICOM_MISSING_ATTRIBUTE",
                file.rel,
                `no ${Object.values(HEADER_TAGS)
                    .map((t) => t.keyword.split(" ")[0])
                    .join("/")} within the first ${opts.maxHeaderBytes} bytes`,
                "re-export the image with a DICOM WSI converter, or raise maxHeaderBytes",
            );
            return;
        }
        const buf = readBuffer(next);
        const head = await readHead(file.abs, buf);
        if (dicomHeader(run, file, buf.subarray(0, head.bytesRead), head.size)) return;
        have = head.bytesRead;
    }
}

function crossCheck(run: Run, ds: DatasetWork): void {
    for (const img of ds.images) checkSeries(run, img);
    // An annotation complement (COMPLEMENTS_DATASET_REF) brings annotations for another dataset's images.
    const complement = ds.datasetXml?.complements !== undefined;
    if (!ds.hasImagesDir && !complement) {
        run.add(
            "error",
            "IMAGES_MISSING",
            ds.info.path,
            "no IMAGES/ folder: the dataset has no images to import",
            ds.imagesNearMiss
                ? `rename ${ds.imagesNearMiss}/ to IMAGES/ (names are case-sensitive)`
                : "add IMAGES/IMAGE_{ID}/ folders holding each image's .dcm files",
        );
    } else if (ds.hasImagesDir && ds.images.length === 0 && !complement) {
        run.add(
            "error",
            "IMAGES_EMPTY",
            join(ds.info.path, "IMAGES"),
            "no IMAGE_{ID} folder inside",
            "add one IMAGES/IMAGE_{ID}/ folder per image, holding its .dcm files",
        );
    }
    // Without dataset.xml there is nothing to cross-check; without image folders every reference
    // would fail, and IMAGES_MISSING / IMAGES_EMPTY already say so.
    if (!ds.datasetXmlOk || !ds.datasetXml || ds.images.length === 0) return;
    const xmlRel = join(ds.info.path, "METADATA", "dataset.xml");
    const folders = new Set(ds.images.map((i) => i.info.name));
    const refs = new Set(ds.datasetXml.imageRefs);
    for (const alias of refs) {
        if (!folders.has(alias))
            run.add(
                "error",
                "IMAGE_REF_WITHOUT_FOLDER",
                xmlRel,
                `IMAGE_REF alias "${alias}" has no folder IMAGES/${alias} (PIMS links IMAGES/<alias>)`,
                `add IMAGES/${alias}/ with the image's .dcm files, or remove the IMAGE_REF`,
            );
    }
    for (const img of ds.images) {
        if (!refs.has(img.info.name))
            run.add(
                "error",
                "IMAGE_FOLDER_UNREFERENCED",
                img.info.path,
                "no IMAGE_REF in METADATA/dataset.xml names this folder: PIMS imports only referenced images",
                `add <IMAGE_REF alias="${img.info.name}"/> to the <DATASET> of METADATA/dataset.xml, or remove the folder`,
            );
    }
    // A complementing dataset's annotations point at the complemented dataset's images.
    if (!complement && ds.annotationXml) {
        const annRel = join(ds.info.path, "METADATA", "annotation.xml");
        for (const a of ds.annotationXml) {
            if (a.imageRef !== undefined && !folders.has(a.imageRef))
                run.add(
                    "error",
                    "IMAGE_REF_WITHOUT_FOLDER",
                    annRel,
                    `annotation "${a.alias ?? "?"}" refers to image "${a.imageRef}", which has no folder IMAGES/${a.imageRef}`,
                    `point its IMAGE_REF at an existing image folder, or add IMAGES/${a.imageRef}/`,
                );
        }
    }
}

function checkSeries(run: Run, img: ImageWork): void {
    const read = img.files.filter((f) => f.header !== undefined);
    const bySeries = new Map<string, DicomFile[]>();
    for (const f of read) {
        const uid = f.header?.seriesInstanceUid;
        if (uid === undefined) continue;
        const same = bySeries.get(uid);
        if (same) same.push(f);
        else bySeries.set(uid, [f]);
    }
    if (bySeries.size === 1) img.info.seriesInstanceUid = [...bySeries.keys()][0];
    if (bySeries.size > 1) {
        const list = [...bySeries.entries()]
            .sort((a, b) => b[1].length - a[1].length)
            .map(
                ([uid, fs]) =>
                    `${uid} (${fs.length} file${fs.length === 1 ? "" : "s"}, e.g. ${path.posix.basename(fs[0].rel)})`,
            );
        run.add(
            "error",
            "DICOM_MIXED_SERIES",
            img.info.path,
            `${bySeries.size} series in one image folder: ${list.join("; ")}`,
            "keep one SeriesInstanceUID per IMAGE_{ID} folder: move the other series to their own folders (with IMAGE_REFs) or remove them",
        );
    }
    // Whole-slide microscopy: SOP class and modality, reported once per folder with what the files are instead.
    const notWsi = read.filter(
        (f) => f.header?.sopClassUid !== WSI_SOP_CLASS_UID || f.header?.modality !== WSI_MODALITY,
    );
    img.info.wholeSlide = read.length > 0 && read.length === img.files.length && notWsi.length === 0;
    if (notWsi.length > 0) {
        const kinds = new Map<string, number>();
        for (const f of notWsi) {
            const k = `${sopClassName(f.header?.sopClassUid ?? "no SOP class")}, modality ${f.header?.modality ?? "none"}`;
            kinds.set(k, (kinds.get(k) ?? 0) + 1);
        }
        run.add(
            "error",
            "DICOM_NOT_WSI",
            img.info.path,
            `${notWsi.length} of ${img.files.length} files are not whole-slide microscopy: ${[...kinds.entries()]
                .map(([k, n]) => `${k} (${n})`)
                .join("; ")}`,
            `keep only VL Whole Slide Microscopy Image Storage (${WSI_SOP_CLASS_UID}, modality SM) files here; PIMS opens image folders as DICOM WSI`,
        );
    }
}

async function checkAnnotationFiles(run: Run, datasets: DatasetWork[]): Promise<void> {
    const checks: Promise<void>[] = [];
    for (const ds of datasets) {
        if (!ds.annotationXml) continue;
        const annRel = join(ds.info.path, "METADATA", "annotation.xml");
        for (const a of ds.annotationXml) {
            const filename = a.filename;
            if (filename === undefined) continue;
            // PIMS opens `<dataset folder>/<FILE filename>` (pims/pims/importer/annotation.py).
            const target = path.resolve(ds.abs, filename);
            checks.push(
                run.limiter
                    .run(() => fs.promises.stat(target))
                    .then((st) => st.isFile())
                    .catch(() => false)
                    .then((isFile) => {
                        if (!isFile)
                            run.add(
                                "error",
                                "ANNOTATION_FILE_MISSING",
                                annRel,
                                `annotation "${a.alias ?? "?"}" names FILE "${filename}", which is not a file of the dataset`,
                                `add ${filename} (relative to ${path.posix.basename(ds.info.path)}/) or fix the filename`,
                            );
                    }),
            );
        }
    }
    await Promise.all(checks);
}
