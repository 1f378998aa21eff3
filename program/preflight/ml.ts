// The operator's model weights, looked for before anything is declared: SAM stops at start without its
// checkpoint (sam/app/main.py:14-30), and CBIR silently runs an untrained model without its file
// (cbir/cbir/models/utils.py:35-37). The config's own checks are program/config/ml.ts.
import { MlSettings, WEIGHT_FILES } from "../../components/model/ml";
import { PROJECT } from "../config";

const KEY = `${PROJECT}:ml.weights`;

/** The files the chosen services read, relative to the weights volume. */
export function weightFiles(ml: Pick<MlSettings, "services">): string[] {
    return (["sam", "cbir"] as const).filter((s) => ml.services.includes(s)).map((s) => WEIGHT_FILES[s]);
}

/** The issue of weights files missing from a host's folder (none when all are there). */
export function missingWeightsIssue(folder: string, missing: string[], host: string): string | undefined {
    if (missing.length === 0) return undefined;
    return (
        `${KEY} = "${folder}": ${missing.map((f) => `${folder}/${f}`).join(" and ")} missing on ${host}: ` +
        `copy the weights there (nothing is downloaded at run time), or correct ml.weights`
    );
}

/** The issue of a weights claim the tenant's namespace lacks (undefined: the namespace does not exist yet). */
export function missingClaimIssue(claim: string, namespace: string, exists: boolean | undefined): string | undefined {
    if (exists === true) return undefined;
    const holding = `holding ${WEIGHT_FILES.sam} and ${WEIGHT_FILES.cbir}`;
    return exists === undefined
        ? `${KEY} = "${claim}": namespace ${namespace} does not exist yet, so neither does the claim: bring the tenant up ` +
              `with ml.enabled false, create the claim there (${holding}), then enable ml`
        : `${KEY} = "${claim}": no PersistentVolumeClaim ${claim} in namespace ${namespace}: create it (${holding}; ReadOnlyMany ` +
              `or ReadWriteMany lets SAM and CBIR run on different nodes), or correct ml.weights`;
}

/**
 * The issue of this project's own images (components/model/settings.ts OWN_IMAGES: task-pods) that
 * the host's engine lacks: published nowhere, compose could only fail to pull them.
 */
export function unpublishedImagesIssue(
    images: Record<string, string>,
    missing: string[],
    host: string,
): string | undefined {
    if (missing.length === 0) return undefined;
    const keys = Object.entries(images).filter(([, image]) => missing.includes(image));
    return (
        `${keys.map(([k, image]) => `${PROJECT}:images.${k} = "${image}"`).join(", ")}: not on ${host}, and this project's ` +
        `own images are published nowhere: build it and load it there (components/vm/task-pods/README.md, "Building ` +
        `and testing"), or set the key to a copy in a registry the host pulls from`
    );
}
