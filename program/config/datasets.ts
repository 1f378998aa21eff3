// Key `datasets`: the tenant's Bigpicture datasets, mounted read-only into PIMS and imported into its
// Cytomine (components/model/datasets.ts). An object, as the project's structured keys are:
//   datasets.list[i]          { id, source: path | sdafs, path?, sdafs?: { datasets: [...] } }
//   datasets.sdafs            { version, rootUrl }: sdafs on a VM; the credentials are the secret sdafsCredentials
//   datasets.installCsiDriver this stack installs the sdafs CSI driver into its cluster (one stack per cluster)
//   datasets.importImage      the Kubernetes import Job's image (cytomine/python-client, pinned)
//
// Checks in three places, each naming `datasets.list[i].<field>` and the fix: the schema (shape,
// duplicate ids), the cross-field rules (what the target accepts, the sdafs credentials), and at
// preview, before anything is declared (program/preflight/datasets.ts checkDatasets: paths the program can see are validated with
// domain/datasets, the cluster must have the sdafs CSI driver, a claim must exist).
import { z } from "zod";
import {
    DATASET_SOURCES,
    DatasetEntry,
    DeclaredDataset,
    DEFAULT_IMPORT_IMAGE,
    DEFAULT_SDAFS_VERSION,
    kubernetesPathOf,
    SDAFS_ROOT_URL,
    SDAFS_STORAGE_CLASS,
} from "../../components/model/datasets";
import { imageProblem } from "../../components/model/settings";
import { validString } from "./checks";

/** Secret keys of this area, read with requireSecret like the others (see index.ts). */
export const DATASET_SECRET_KEYS = ["sdafsCredentials"] as const;
export type DatasetSecretKey = (typeof DATASET_SECRET_KEYS)[number];

const datasetId = z
    .string()
    .max(40, "at most 40 characters (it names volumes, claims and units)")
    .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, "a DNS label: lowercase letters, digits and '-', starting with a letter");

/** Archive dataset ids as sdafs takes them in --datasets (a comma list): no commas, spaces or slashes. */
const archiveId = z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, "an archive dataset id (letters, digits, '.', '_', ':', '-')");

const entry = z.strictObject({
    id: datasetId,
    source: z.enum(DATASET_SOURCES),
    path: z.string().min(1).optional(),
    sdafs: z.strictObject({ datasets: z.array(archiveId).min(1, "list at least one archive dataset id") }).optional(),
});

const DEFAULT_SDAFS = { version: DEFAULT_SDAFS_VERSION, rootUrl: SDAFS_ROOT_URL, storageClass: SDAFS_STORAGE_CLASS };

export const datasetKeys = {
    datasets: z
        .strictObject({
            list: z.array(entry).default([]),
            sdafs: z
                .strictObject({
                    version: z
                        .string()
                        .regex(/^v\d+\.\d+\.\d+$/, "a pinned sdafs release such as v0.0.23")
                        .default(DEFAULT_SDAFS.version),
                    rootUrl: z
                        .url({ protocol: /^https?$/, error: "the archive's URL, e.g. https://download.bp.nbis.se" })
                        .default(DEFAULT_SDAFS.rootUrl),
                    storageClass: z.string().min(1).default(DEFAULT_SDAFS.storageClass),
                })
                .default(DEFAULT_SDAFS),
            installCsiDriver: z.boolean().default(false),
            importImage: validString(imageProblem).default(DEFAULT_IMPORT_IMAGE),
        })
        .superRefine((d, ctx) => {
            const seen = new Map<string, number>();
            d.list.forEach((e, i) => {
                const first = seen.get(e.id);
                if (first !== undefined)
                    ctx.addIssue({
                        code: "custom",
                        path: ["list", i, "id"],
                        message: `"${e.id}" is also the id of datasets.list[${first}]: give each dataset its own id`,
                    });
                else seen.set(e.id, i);
                const issue = (field: string, message: string) =>
                    ctx.addIssue({ code: "custom", path: ["list", i, field], message });
                if (e.source === "path" && !e.path)
                    issue(
                        "path",
                        `is required with source "path": the directory that holds the {DATASET_UUID} folders`,
                    );
                if (e.source === "path" && e.sdafs)
                    issue("sdafs", `applies only to source "sdafs": remove it, or set source to "sdafs"`);
                if (e.source === "sdafs" && !e.sdafs)
                    issue("sdafs", `is required with source "sdafs": { "datasets": ["<archive dataset id>", …] }`);
                if (e.source === "sdafs" && e.path)
                    issue("path", `applies only to source "path" (sdafs mounts the archive itself): remove it`);
            });
        })
        .default({ list: [], sdafs: DEFAULT_SDAFS, installCsiDriver: false, importImage: DEFAULT_IMPORT_IMAGE }),
};

export type DatasetsConfig = z.infer<(typeof datasetKeys)["datasets"]>;

export interface DatasetIssue {
    path: (string | number)[];
    message: string;
}

/** Rules involving the target or the secrets (total: a malformed list is left to the schema). */
export function datasetIssues(target: unknown, datasets: unknown, sdafsCredentialsSet: boolean): DatasetIssue[] {
    const list = (datasets as { list?: unknown } | undefined)?.list;
    if (!Array.isArray(list)) return [];
    const issues: DatasetIssue[] = [];
    list.forEach((raw: unknown, i) => {
        const e = (raw ?? {}) as Partial<DatasetEntry>;
        if (e.source === "sdafs" && !sdafsCredentialsSet)
            issues.push({
                path: ["list", i, "source"],
                message:
                    '"sdafs" needs the sdafs credentials: pulumi config set --secret cytomine-fallback:sdafsCredentials < s3cmd-download.conf (from login.bp.nbis.se)',
            });
        if (e.source !== "path" || typeof e.path !== "string") return;
        if (target === "kubernetes" && !kubernetesPathOf(e.path))
            issues.push({
                path: ["list", i, "path"],
                message:
                    "on Kubernetes a path is `claim:<name>` (an existing claim in the tenant's namespace) or `hostPath:/dir` (a directory on the nodes)",
            });
        if ((target === "ssh" || target === "aws") && !/^\/[^\s:]*$/.test(e.path))
            issues.push({
                path: ["list", i, "path"],
                message:
                    "on a VM a path is an absolute directory on the host, without spaces or ':' (e.g. /srv/bigpicture)",
            });
    });
    return issues;
}

/** The datasets as the stack's outputs show them: id, source, images counted where the program saw them. */
export function datasetsOutput(declared: DeclaredDataset[]) {
    return declared.map((d) => ({
        id: d.id,
        source: d.source,
        ...(d.path ? { path: d.path } : {}),
        ...(d.sdafs ? { sdafs: d.sdafs.datasets } : {}),
        images: d.images ?? null,
    }));
}
