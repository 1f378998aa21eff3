// Bigpicture datasets as data, whatever runs Cytomine: where each is mounted in PIMS, what identifies
// a dataset's content (its revision), and which datasets an import run takes (the plan), from the
// record of what was imported before. Both targets' components and the program use it.
//
// Why a record: PIMS links each image once (an image whose link already points at the same source is
// skipped) but saves a dataset's annotations without looking for existing ones, so importing an
// annotated dataset twice duplicates its annotations (cytomine/cytomine: pims/pims/importer/). A
// dataset is therefore imported once, and again only when its revision changed; PIMS sees the
// metadata of the current run's datasets only, and only the images of those imported before (the
// import view, below).
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { RELEASE } from "./release";

/**
 * The import script both targets run: shipped to the VM host, and to the Kubernetes Job in a ConfigMap.
 * Its bytes are in every tenant's state (the VM step's digest, the Job's ConfigMap): an edit, even of a
 * comment, re-runs the import everywhere, so its comments keep naming the files as they were when it
 * was last changed on purpose.
 */
export const IMPORT_SCRIPT = fs.readFileSync(path.join(__dirname, "cytomine_import.py"), "utf8");

/** Where a dataset comes from: a directory the host (or a volume claim) holds, or the Bigpicture archive through sdafs. */
export const DATASET_SOURCES = ["path", "sdafs"] as const;
export type DatasetSource = (typeof DATASET_SOURCES)[number];

/** One declared dataset, as the config gives it (see program/config/datasets.ts). */
export interface DatasetEntry {
    /** A DNS label, unique in the tenant: names the mount, the volume and the record's entry. */
    id: string;
    source: DatasetSource;
    /** VM: a directory on the host. Kubernetes: `claim:<name>` or `hostPath:/dir`. */
    path?: string;
    sdafs?: { datasets: string[] };
}

/** A dataset's `path` on Kubernetes: `claim:<name>` (an existing claim) or `hostPath:/dir`. */
export type KubernetesPath = { kind: "claim"; claim: string } | { kind: "hostPath"; dir: string };

export function kubernetesPathOf(p: string | undefined): KubernetesPath | undefined {
    const claim = /^claim:([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(p ?? "");
    if (claim) return { kind: "claim", claim: claim[1] };
    const host = /^hostPath:(\/[^\s]*)$/.exec(p ?? "");
    if (host) return { kind: "hostPath", dir: host[1].replace(/\/+$/, "") || "/" };
    return undefined;
}

/** A dataset with what the program knows about its content. */
export interface DeclaredDataset extends DatasetEntry {
    /** Its position in the config list, for messages (`datasets.list[i]`). */
    index: number;
    /** Changes when the dataset's source or (where the program can see it) its content changes. */
    revision: string;
    /** Images counted by the validator, where the program could see the tree. */
    images?: number;
}

/** Where PIMS sees each dataset (read-only). */
export const DATASETS_MOUNT_ROOT = "/data/datasets";
export const datasetMountPath = (id: string) => `${DATASETS_MOUNT_ROOT}/${id}`;

/**
 * PIMS's DATASET_PATH, the import view: one entry per dataset folder of every declared dataset that
 * is imported in this run or was imported before. PIMS takes every direct subdirectory of DATASET_PATH
 * as a bucket and reads `<bucket>/METADATA/dataset.xml` there (cytomine/cytomine@0165ef761:
 * pims/pims/importer/dataset.py:44-111,118-175), while a Bigpicture tree holds it one level deeper
 * (`{DATASET_UUID}/DATASET_{ID}/METADATA/dataset.xml`): so each folder directly holding
 * METADATA/dataset.xml has an entry named `<bucket>--<folder>` (a bucket holding METADATA itself:
 * `<bucket>`), a name that depends on the folder only, so it is the same in every run. Two kinds:
 *   - to import (the run's datasets): a symbolic link to the folder, into its read-only mount;
 *   - served (datasets imported by earlier runs, still declared): a directory holding only a link
 *     `IMAGES` to the folder's `IMAGES/`.
 * PIMS imports every bucket it finds, so only the run's datasets may show METADATA; but it links each
 * image it imports as `ROOT/upload-<uuid>/<name>` → `<DATASET_PATH>/<entry>/IMAGES/<alias>`
 * (importer/image.py:34-35,52-53), so an earlier run's entry must keep resolving `IMAGES/<alias>`
 * for its images to stay served. A served entry does: PIMS finds no METADATA there, logs "does not
 * exist or is not a directory ... Skipping discovery for this bucket" (dataset.py:60-65), and the
 * bucket's `parser.parent` then raises StopIteration (dataset.py:50-52: no dependency, no dataset),
 * which the per-bucket `except Exception` logs and skips (dataset.py:133-142,203-205): nothing of it
 * is imported again, no annotation is created twice. PIMS resolves links when it checks whether an
 * image is already linked (image.py:44,100-111), so the same image is recognised through any entry.
 */
export const IMPORT_VIEW_PATH = "/data/import";

/** The Python client the import uses (PyPI `cytomine-python-client`; its `Cytomine.import_datasets`): the release's. */
export const PYTHON_CLIENT_VERSION = RELEASE.pythonClient;
/** The client's image of the release (clients/python/Dockerfile; .github/workflows/docker.yaml) for the Kubernetes import Job. */
export const DEFAULT_IMPORT_IMAGE = `${RELEASE.registry}/python-client:${RELEASE.tag}`;
/** PIMS's import endpoint, under its API base path (`API_BASE_PATH=/ims`). */
export const PIMS_IMPORT_PATH = "/ims/import";

/** sdafs as Cytomine's docs install it (`go install github.com/NBISweden/sdafs/cmd/sdafs@v0.0.23`). */
export const SDAFS_MODULE = "github.com/NBISweden/sdafs";
export const DEFAULT_SDAFS_VERSION = "v0.0.23";
/** The CSI driver's node plugin image (NBISweden/sdafs deploy/csi-sdafs.yaml, pinned) and its sidecars. */
export const DEFAULT_SDAFS_CSI_IMAGES = {
    plugin: "ghcr.io/nbisweden/sdafs:v0.0.30",
    attacher: "registry.k8s.io/sig-storage/csi-attacher:v4.9.0",
    provisioner: "registry.k8s.io/sig-storage/csi-provisioner:v5.3.0",
} as const;
export const SDAFS_CSI_DRIVER = "csi.sda.nbis.se";
export const SDAFS_STORAGE_CLASS = "sdafs";
/** The claim annotation naming the Secret with the token (the StorageClass's secret-name template). */
export const SDAFS_TOKEN_ANNOTATION = "sda.nbis.se/token-secret";
export const SDAFS_ROOT_URL = "https://download.bp.nbis.se";

export const sha256 = (text: string) => crypto.createHash("sha256").update(text).digest("hex");

/** The revision of a dataset: its source and, when known, a fingerprint of its content. */
export function revisionOf(d: DatasetEntry, fingerprint?: string): string {
    const source = d.source === "sdafs" ? { sdafs: [...(d.sdafs?.datasets ?? [])].sort() } : { path: d.path };
    return sha256(JSON.stringify({ source: d.source, ...source, content: fingerprint ?? null })).slice(0, 16);
}

/** What was imported into a tenant's Cytomine: kept on the host (VM) or in a ConfigMap (Kubernetes). */
export interface ImportRecord {
    /** Dataset id → the revision imported. Never shrinks: re-adding a removed dataset does not import it again. */
    imported: Record<string, string>;
    /** The last run: its identity and the datasets it imported. */
    lastRun?: ImportRun;
}

export interface ImportRun {
    /** A digest of the run's datasets and revisions: names the Kubernetes Job. */
    id: string;
    datasets: string[];
}

export const EMPTY_RECORD: ImportRecord = { imported: {} };

/** Reads a record (JSON) leniently: anything unreadable is an empty record, so a run imports everything. */
export function parseRecord(text: string | undefined): ImportRecord {
    if (!text) return { imported: {} };
    try {
        const r = JSON.parse(text) as Partial<ImportRecord>;
        const imported =
            r.imported && typeof r.imported === "object"
                ? Object.fromEntries(Object.entries(r.imported).filter(([, v]) => typeof v === "string"))
                : {};
        const last = r.lastRun;
        const lastRun =
            last && typeof last.id === "string" && Array.isArray(last.datasets)
                ? { id: last.id, datasets: last.datasets.filter((d): d is string => typeof d === "string") }
                : undefined;
        return { imported, ...(lastRun ? { lastRun } : {}) };
    } catch {
        return { imported: {} };
    }
}

export interface ImportPlan {
    /** Datasets this run imports (empty: nothing new). */
    todo: DeclaredDataset[];
    /**
     * Declared datasets imported by earlier runs, outside the run: the import view serves their images
     * (a served entry, IMPORT_VIEW_PATH) without showing PIMS their metadata.
     */
    served: string[];
    /** The run whose objects are declared: the new one, or the last one again (unchanged, so nothing runs). */
    run?: ImportRun;
    /** The record once the run succeeded. */
    record: ImportRecord;
}

/** The identity of a run importing `todo`. */
export function runId(todo: { id: string; revision: string }[]): string {
    const key = todo.map((d) => `${d.id}=${d.revision}`).sort();
    return sha256(key.join("\n")).slice(0, 10);
}

/** Which declared datasets are new or changed since the record, and the run that imports them. */
export function planImport(declared: DeclaredDataset[], record: ImportRecord): ImportPlan {
    const todo = declared.filter((d) => record.imported[d.id] !== d.revision);
    const servedBesides = (run: ImportRun | undefined) =>
        declared.filter((d) => record.imported[d.id] === d.revision && !run?.datasets.includes(d.id)).map((d) => d.id);
    if (todo.length === 0) {
        // Unchanged: the last run is declared again as it was (no change, nothing runs), as long as
        // every dataset it named is still declared.
        const ids = new Set(declared.map((d) => d.id));
        const last = record.lastRun && record.lastRun.datasets.every((d) => ids.has(d)) ? record.lastRun : undefined;
        return { todo, served: servedBesides(last), run: last, record };
    }
    const run = { id: runId(todo), datasets: todo.map((d) => d.id) };
    const imported = { ...record.imported, ...Object.fromEntries(todo.map((d) => [d.id, d.revision])) };
    return { todo, served: servedBesides(run), run, record: { imported, lastRun: run } };
}

/** The record as stored: sorted keys, so that an unchanged record is byte-for-byte the same. */
export function recordText(r: ImportRecord): string {
    const imported = Object.fromEntries(Object.entries(r.imported).sort(([a], [b]) => a.localeCompare(b)));
    return `${JSON.stringify({ imported, ...(r.lastRun ? { lastRun: r.lastRun } : {}) }, null, 2)}\n`;
}

/**
 * What a run gives the import view, per dataset: its mount and, for sdafs, the archive datasets to
 * link (the CSI driver mounts every dataset the token grants; sdafs on a VM only those listed).
 */
export interface ViewEntry {
    id: string;
    mountPath: string;
    /** Bucket names to link; undefined: every bucket of the dataset's root. */
    buckets?: string[];
}

export function viewEntries(datasets: DatasetEntry[], ids: string[]): ViewEntry[] {
    return datasets
        .filter((d) => ids.includes(d.id))
        .map((d) => ({
            id: d.id,
            mountPath: datasetMountPath(d.id),
            ...(d.source === "sdafs" ? { buckets: [...(d.sdafs?.datasets ?? [])] } : {}),
        }));
}
