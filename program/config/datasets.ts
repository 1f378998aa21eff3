// Key `datasets`: the tenant's Bigpicture datasets, mounted read-only into PIMS and imported into its
// Cytomine (components/model/datasets.ts/). An object, as the project's structured keys are:
//   datasets.list[i]          { id, source: path | sdafs, path?, sdafs?: { datasets: [...] } }
//   datasets.sdafs            { version, rootUrl }: sdafs on a VM; the credentials are the secret sdafsCredentials
//   datasets.installCsiDriver this stack installs the sdafs CSI driver into its cluster (one stack per cluster)
//   datasets.importImage      the Kubernetes import Job's image (cytomine/python-client, pinned)
//
// Checks in three places, each naming `datasets.list[i].<field>` and the fix: the schema (shape,
// duplicate ids), the cross-field rules (what the target accepts, the sdafs credentials), and at
// preview, before anything is declared (checkDatasets: paths the program can see are validated with
// domain/datasets, the cluster must have the sdafs CSI driver, a claim must exist).
import * as fs from "node:fs";
import { z } from "zod";
import { type Report, validateTree } from "../../domain/datasets";
import {
    DATASET_SOURCES,
    DatasetEntry,
    DeclaredDataset,
    DEFAULT_IMPORT_IMAGE,
    DEFAULT_SDAFS_VERSION,
    kubernetesPathOf,
    revisionOf,
    sha256,
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

/** What a preview can see of the cluster or the machine; stubbed in unit tests. */
export interface DatasetSurroundings {
    /** Target ssh/aws: the host is this machine (loopback), so its paths are visible here. */
    hostIsThisMachine: boolean;
    /** Target kubernetes: the local environment, whose KWOK nodes are this machine. */
    nodesAreThisMachine: boolean;
    /** The StorageClass of the sdafs CSI driver: its provisioner and owner annotation, or undefined when absent. */
    readStorageClass?: (name: string) => Promise<{ provisioner: string; owner?: string } | undefined>;
    /** Whether the claim exists in the tenant's namespace (undefined: the namespace does not exist yet). */
    claimExists?: (name: string) => Promise<boolean | undefined>;
    /** This stack's identity (installs the driver when it owns the StorageClass). */
    owner?: string;
    validate?: (root: string) => Promise<Report>;
    /**
     * false: no tree is looked at, even one this machine holds (the program run offline, apps/render):
     * a path's revision then carries no content fingerprint. Default true.
     */
    readTrees?: boolean;
}

const describe = (i: number, field: string, value: unknown) =>
    `cytomine-fallback:datasets.list[${i}].${field} = ${JSON.stringify(value)}`;

/** Content fingerprint from a validator report: what PIMS imports, not timestamps. */
export function fingerprintOf(r: Report): string {
    const content = r.datasets.map((d) => ({
        bucket: d.bucket,
        alias: d.alias,
        complements: d.complements,
        images: d.images.map((i) => [i.name, i.dicomFiles]),
    }));
    return sha256(JSON.stringify({ content, files: r.summary.files, bytes: r.summary.bytes })).slice(0, 16);
}

function validationIssue(i: number, value: string, where: string, r: Report): string {
    const errors = r.problems.filter((p) => p.severity === "error");
    const shown = errors
        .slice(0, 3)
        .map((p) => `      ${p.path}: ${p.message} (fix: ${p.fix}) [${p.code}]`)
        .join("\n");
    const more = errors.length > 3 ? `\n      … and ${errors.length - 3} more` : "";
    return (
        `${describe(i, "path", value)}: ${where} fails validation with ${errors.length} error(s); PIMS would skip or fail ` +
        `on it, so no import starts. Fix the tree (npm run dataset:check -- ${r.root} lists every problem), then preview again:\n` +
        `${shown}${more}`
    );
}

/**
 * The preview's checks of the declared datasets, and what the program learns from them (revisions,
 * images counted). Runs before any resource is declared; throws nothing, returns issues.
 */
export async function checkDatasets(
    target: string,
    config: DatasetsConfig,
    around: DatasetSurroundings,
): Promise<{ issues: string[]; declared: DeclaredDataset[] }> {
    const issues: string[] = [];
    const declared: DeclaredDataset[] = [];
    const validate = around.validate ?? ((root: string) => validateTree(root));
    const usesSdafs = config.list.some((d) => d.source === "sdafs");
    if (target === "kubernetes" && usesSdafs && around.readStorageClass) {
        const sc = await around.readStorageClass(config.sdafs.storageClass);
        const first = config.list.findIndex((d) => d.source === "sdafs");
        if (!sc && !config.installCsiDriver)
            issues.push(
                `${describe(first, "source", "sdafs")}: the cluster has no StorageClass ${config.sdafs.storageClass} of the sdafs CSI driver: ` +
                    "install the driver once per cluster (set datasets.installCsiDriver to true on one stack of this cluster), or use a path source",
            );
        else if (sc && sc.provisioner !== "csi.sda.nbis.se")
            issues.push(
                `${describe(first, "source", "sdafs")}: StorageClass ${config.sdafs.storageClass} provisions with ${sc.provisioner}, not the sdafs CSI driver (csi.sda.nbis.se): ` +
                    "set datasets.sdafs.storageClass to the driver's class",
            );
        else if (sc && config.installCsiDriver && sc.owner !== around.owner)
            issues.push(
                `cytomine-fallback:datasets.installCsiDriver = true: the sdafs CSI driver is already installed ` +
                    `${sc.owner ? `by stack ${sc.owner}` : "outside Cytomine Fallback"}: set installCsiDriver to false here (one stack per cluster installs it)`,
            );
    }
    for (const [i, d] of config.list.entries()) {
        let report: Report | undefined;
        if (d.source === "path" && d.path) {
            const k8sPath = target === "kubernetes" ? kubernetesPathOf(d.path) : undefined;
            const dir = target === "kubernetes" ? (k8sPath?.kind === "hostPath" ? k8sPath.dir : undefined) : d.path;
            const visibleHere = target === "kubernetes" ? around.nodesAreThisMachine : around.hostIsThisMachine;
            const where =
                target === "kubernetes"
                    ? `${dir} (on the local environment's nodes, which are this machine)`
                    : around.hostIsThisMachine
                      ? `${dir} (on the SSH host, which is the machine running this program)`
                      : `${dir} (seen on the machine running this program)`;
            if (dir !== undefined && around.readTrees !== false && fs.existsSync(dir)) {
                report = await validate(dir);
                if (!report.ok) issues.push(validationIssue(i, d.path, where, report));
            } else if (dir !== undefined && visibleHere) {
                issues.push(
                    `${describe(i, "path", d.path)}: ${where} does not exist: create it or correct the path (it must hold the {DATASET_UUID} folders)`,
                );
            }
            if (k8sPath?.kind === "claim" && around.claimExists) {
                const exists = await around.claimExists(k8sPath.claim);
                if (exists !== true)
                    issues.push(
                        `${describe(i, "path", d.path)}: no claim ${k8sPath.claim} in the tenant's namespace` +
                            `${exists === undefined ? " (the namespace does not exist yet)" : ""}: create the claim (ReadOnlyMany or ReadWriteMany, holding the {DATASET_UUID} folders), or use hostPath:/dir`,
                    );
            }
        }
        declared.push({
            ...d,
            index: i,
            revision: revisionOf(d, report?.ok ? fingerprintOf(report) : undefined),
            ...(report?.ok ? { images: report.summary.images } : {}),
        });
    }
    return { issues, declared };
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
