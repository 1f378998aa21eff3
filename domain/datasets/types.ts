// The report of a dataset-tree validation: one shape for the command (`npm run dataset:check`), the
// Pulumi program (a `path` dataset source), the tests and the benchmark.

/**
 * Every problem code. Errors stop an import from doing what the operator expects (PIMS skips the
 * bucket or the image, or fails on the file); warnings are entries PIMS ignores.
 */
export const PROBLEM_CODES = [
    // The root handed to the validator (PIMS's DATASET_PATH).
    "ROOT_MISSING",
    "ROOT_NOT_DIRECTORY",
    "ROOT_EMPTY",
    "ROOT_IS_DATASET",
    // root/{DATASET_UUID}: a "bucket" in PIMS's importer, which must hold exactly one directory.
    "BUCKET_NAME_NOT_UUID",
    "BUCKET_EMPTY",
    "BUCKET_MULTIPLE_DATASETS",
    "BUCKET_IS_DATASET",
    // root/{DATASET_UUID}/DATASET_{ID}
    "DATASET_FOLDER_NAME",
    "METADATA_MISSING",
    "DATASET_XML_MISSING",
    "DATASET_ALIAS_MISSING",
    "XML_INVALID",
    "IMAGES_MISSING",
    "IMAGES_EMPTY",
    // IMAGES/IMAGE_{ID}
    "IMAGE_FOLDER_NAME",
    "IMAGE_NO_DICOM",
    "IMAGE_REF_WITHOUT_FOLDER",
    "IMAGE_FOLDER_UNREFERENCED",
    "DICOM_INVALID",
    "DICOM_MISSING_ATTRIBUTE",
    "DICOM_NOT_WSI",
    "DICOM_MIXED_SERIES",
    // ANNOTATIONS/*.geojson and annotation.xml's FILE references
    "GEOJSON_INVALID_JSON",
    "GEOJSON_INVALID",
    "ANNOTATION_FILE_MISSING",
    // Anywhere
    "UNKNOWN_ENTRY",
    "IO_ERROR",
] as const;

export type ProblemCode = (typeof PROBLEM_CODES)[number];

export type Severity = "error" | "warning";

export interface Problem {
    severity: Severity;
    code: ProblemCode;
    /** Relative to the root, "/"-separated; "." is the root itself. */
    path: string;
    /** One line: what is wrong. */
    message: string;
    /** One line: what to do about it. */
    fix: string;
}

export interface ImageInfo {
    /** The folder name, which is what PIMS links by (IMAGES/<IMAGE_REF alias>). */
    name: string;
    path: string;
    dicomFiles: number;
    /** SeriesInstanceUID shared by the folder's files; absent when none could be read or they differ. */
    seriesInstanceUid?: string;
    /** True when every file is a VL Whole Slide Microscopy Image (SOP class and modality SM). */
    wholeSlide: boolean;
}

export interface DatasetInfo {
    /** root/{bucket} */
    bucket: string;
    /** Relative path of the DATASET_{ID} folder. */
    path: string;
    /** `<DATASET alias>` from METADATA/dataset.xml: PIMS names the Cytomine project after it. */
    alias?: string;
    /** `<COMPLEMENTS_DATASET_REF alias>`: the dataset this one adds annotations to. */
    complements?: string;
    /** IMAGE_REF aliases of dataset.xml, in document order: the images PIMS imports. */
    imageRefs: string[];
    images: ImageInfo[];
}

export interface Summary {
    datasets: number;
    images: number;
    /** Every regular file seen under the root. */
    files: number;
    bytes: number;
    errors: number;
    warnings: number;
    durationMs: number;
}

export interface Report {
    /** Absolute path that was validated. */
    root: string;
    /** No errors (warnings allowed). */
    ok: boolean;
    problems: Problem[];
    datasets: DatasetInfo[];
    summary: Summary;
}

export interface Progress {
    /** Files checked so far / files found by the walk. */
    filesDone: number;
    filesTotal: number;
    bytes: number;
}

export interface ValidateOptions {
    /**
     * "import" (default): what PIMS needs to import the tree (METADATA/dataset.xml is required, PIMS
     * skips a bucket without it). "archive": the BP layout as stored, where METADATA is optional.
     */
    mode?: "import" | "archive";
    /** Files read at once (default 16; libuv itself runs UV_THREADPOOL_SIZE of them, 4 by default, at a time). */
    concurrency?: number;
    /** Bytes read first from each .dcm file (default 64 KiB); grown up to maxHeaderBytes when the attributes lie further. */
    headerBytes?: number;
    /** Upper bound of a DICOM header read (default 16 MiB); a file whose attributes lie further is reported. */
    maxHeaderBytes?: number;
    /** Called every `progressEvery` checked files (default 500) and once at the end. */
    onProgress?: (p: Progress) => void;
    progressEvery?: number;
}
