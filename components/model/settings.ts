// What a tenant's Cytomine is made of, as plain data: pinned images, volume sizes and the rules their
// config values must follow. The config parser and both targets' components read it.
import { imageProblem } from "../../domain/images";
import { RELEASE_IMAGES } from "./release";

/** This project's own images: published nowhere, so a host must hold them before it runs them. */
export const OWN_IMAGES = "cytomine-fallback/";

/**
 * Pinned images. Cytomine's own are those of one commit of the monorepo cytomine/cytomine, the
 * release described in ./release.ts; MeiliSearch, the databases and the cache are the versions that
 * commit's compose file and Helm chart name (compose.yaml, helm/charts/cytomine/values.yaml:100-105).
 * Keycloak matches the version the identity resources are tested against
 * (scripts/toolchain/versions.env); the chart runs stock Keycloak too (values.yaml:106). The proxy
 * (VM target only) is nginx's official image: upstream's compose publishes every service's port
 * instead, which a host serving tenants cannot do.
 */
export const DEFAULT_IMAGES = {
    core: RELEASE_IMAGES.core,
    repository: RELEASE_IMAGES.repository,
    webUi: RELEASE_IMAGES.webUi,
    pims: RELEASE_IMAGES.pims,
    meilisearch: RELEASE_IMAGES.meilisearch,
    pimsCache: "redis:7.2",
    postgis: "postgis/postgis:15-3.5",
    mongo: "mongo:5.0-focal",
    iam: "quay.io/keycloak/keycloak:26.4.7",
    iamDb: "postgres:15",
    proxy: "nginx:1.27.5",
    /**
     * The Kubernetes target's backup and restore pods (components/kubernetes/backups.ts): upstream's
     * image of restic 0.14.0, the version Debian's package gives the VM hosts (restic/restic
     * docker/Dockerfile at v0.14.0: Alpine, ENTRYPOINT /usr/bin/restic).
     */
    restic: "restic/restic:0.14.0",
    // The machine-learning services (config key ml; components/model/ml.ts): the release's own, and
    // the stock images upstream runs beside them (compose.yaml:39-60,173-186; values.yaml:90,96,104).
    appEngine: RELEASE_IMAGES.appEngine,
    sam: RELEASE_IMAGES.sam,
    cbir: RELEASE_IMAGES.cbir,
    appEngineDb: "postgres:15",
    registry: "registry:2.8.3",
    cbirCache: "redis:7.2",
    /** The task pods' helper containers (app-engine/task-runner/Dockerfile: curl, jq, zip). */
    tasksRunner: RELEASE_IMAGES.tasksRunner,
    /**
     * The VM target's pods API for the app engine (components/vm/task-pods): this project's own, not
     * published; docs/operating.md says how to build it for a host.
     */
    taskPods: `${OWN_IMAGES}task-pods:0.1.0`,
} as const;
export type ImageKey = keyof typeof DEFAULT_IMAGES;
export type Images = Record<ImageKey, string>;

/** Persistent volume sizes (Kubernetes quantities). */
export const DEFAULT_STORAGE = {
    postgis: "10Gi",
    mongo: "5Gi",
    images: "100Gi",
    iamDb: "2Gi",
    // As Cytomine's chart sizes it (helm/charts/cytomine/values.yaml:277-290).
    meilisearch: "1Gi",
    // The machine-learning services, as the chart sizes them (values.yaml:239-271).
    appEngine: "5Gi",
    appEngineDb: "2Gi",
    registry: "5Gi",
    cbir: "1Gi",
} as const;
export type StorageKey = keyof typeof DEFAULT_STORAGE;
export type Storage = Record<StorageKey, string>;
/** No sizes: a VM's volumes are folders of its disk. */
export const UNSIZED = Object.fromEntries(Object.keys(DEFAULT_STORAGE).map((k) => [k, ""])) as Storage;

/** Why an image reference is not acceptable, or undefined. */
export { imageProblem };

/** A storage size: a positive integer or decimal with an optional SI or binary suffix, e.g. 10Gi. */
export function quantityProblem(size: string): string | undefined {
    const bytes = quantityValue(size, "bytes");
    if (bytes === undefined) return `"${size}" is not a Kubernetes quantity: write e.g. 10Gi or 500Mi`;
    if (bytes === 0) return `"${size}" is zero: a volume needs a positive size`;
    return undefined;
}

/** A CPU quantity: cores, decimal or in millicores (2, 0.5, 250m). */
export function cpuProblem(v: string): string | undefined {
    const cores = /\.[0-9]*m$/.test(v) ? undefined : quantityValue(v, "cpu");
    return cores !== undefined && cores > 0 ? undefined : `"${v}" is not a CPU quantity: write e.g. 4, 0.5 or 250m`;
}

/** The suffixes of Kubernetes quantities, by kind (k8s.io/apimachinery/pkg/api/resource, Quantity). */
const QUANTITY_SCALES: Record<"bytes" | "cpu", Record<string, number>> = {
    bytes: {
        "": 1,
        Ki: 2 ** 10,
        Mi: 2 ** 20,
        Gi: 2 ** 30,
        Ti: 2 ** 40,
        Pi: 2 ** 50,
        Ei: 2 ** 60,
        k: 1e3,
        M: 1e6,
        G: 1e9,
        T: 1e12,
        P: 1e15,
        E: 1e18,
    },
    cpu: { "": 1, m: 1e-3 },
};

/** A quantity's value (bytes for memory and storage, cores for CPU), or undefined when it does not parse. */
export function quantityValue(q: string, kind: "bytes" | "cpu"): number | undefined {
    const m = /^([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)$/.exec(q);
    const scale = m ? QUANTITY_SCALES[kind][m[2]] : undefined;
    return m && scale !== undefined ? Number(m[1]) * scale : undefined;
}

/** Namespaces the cluster owns; a tenant never takes one of them. */
const RESERVED_NAMESPACES = new Set(["default", "kube-system", "kube-public", "kube-node-lease"]);

/** Why a tenant may not use this namespace name although Kubernetes would accept it, or undefined. */
export function reservedNamespaceProblem(name: string): string | undefined {
    return RESERVED_NAMESPACES.has(name) || name.startsWith("kube-")
        ? `"${name}" belongs to the cluster itself: choose the tenant's own name`
        : undefined;
}

/** Why Kubernetes would reject (or we refuse) this namespace name, or undefined. */
export function namespaceProblem(name: string): string | undefined {
    if (name.length > 63) return "at most 63 characters (a DNS-1123 label)";
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name))
        return "a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit";
    return reservedNamespaceProblem(name);
}

/** Why a host name is not a DNS name a route can serve, or undefined. */
export function domainProblem(host: string): string | undefined {
    const labels = host.split(".");
    if (host.length > 253) return "at most 253 characters";
    if (labels.length < 2) return "a fully qualified domain name such as cytomine.example.org";
    const bad = labels.find((l) => l.length > 63 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(l));
    if (bad !== undefined)
        return `label "${bad}" is not a DNS label (letters, digits and '-', not at either end, at most 63 characters)`;
    return undefined;
}

/** IP literals and localhost: acceptable hosts only for the local environment. */
export function isLocalHost(host: string): boolean {
    return host === "localhost" || /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith("[");
}
