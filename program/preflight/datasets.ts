// The datasets as the preview finds them, before anything is declared: the trees this machine can see
// validated (their content fingerprinted into each revision), the sdafs CSI driver's StorageClass and
// the claims read from the cluster. The config's own checks are program/config/datasets.ts.
import * as fs from "node:fs";
import { type Report, validateTree } from "../../domain/datasets";
import { DeclaredDataset, kubernetesPathOf, revisionOf, sha256 } from "../../components/model/datasets";
import type { DatasetsConfig } from "../config/datasets";

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
