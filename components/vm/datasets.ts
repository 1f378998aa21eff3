// Bigpicture datasets on a VM (targets ssh and aws), as remote steps over SSH like the compose project
// (components/vm/cytomine.ts):
//   HostDatasets       before `compose up`: the dataset directories and, for sdafs sources, sdafs at
//                      its pinned version, its credentials (0600, through stdin) and one systemd unit
//                      per dataset mounting it with `--open`;
//   DatasetImport  after Cytomine answers: a virtualenv with the pinned cytomine-python-client,
//                      the import script, and the import itself, which keeps its record on the host
//                      (`<dataDir>/<tenant>/datasets/imported.json`) and imports only what is new.
import * as pulumi from "@pulumi/pulumi";
import { renamedFrom } from "../model/renames";
import { directoriesScript, removeScript, writeFileScript } from "./scripts";
import { Connection, stepper } from "./steps";
import {
    hostImportScript,
    pythonClientScript,
    sdafsBinary,
    SdafsUnit,
    sdafsMountScript,
    sdafsPrerequisitesScript,
    sdafsUnmountScript,
} from "./dataset-scripts";
import {
    datasetMountPath,
    IMPORT_SCRIPT,
    DeclaredDataset,
    IMPORT_VIEW_PATH,
    PIMS_IMPORT_PATH,
    PYTHON_CLIENT_VERSION,
    sha256,
    viewEntries,
} from "../model/datasets";

/** The UID PIMS runs as (components/model/services.ts): the sdafs mount shows its files as this user's. */
const PIMS_UID = 20000;

/** Where a tenant's dataset files live on the host, under its data directory. */
export function hostLayout(dataDir: string, configDir: string) {
    return {
        root: `${dataDir}/datasets`,
        view: `${dataDir}/datasets/import-view`,
        record: `${dataDir}/datasets/imported.json`,
        sdafsMount: (id: string) => `${dataDir}/datasets/sdafs/${id}`,
        config: `${configDir}/datasets`,
        credentials: `${configDir}/datasets/sdafs-credentials.conf`,
        venv: `${configDir}/datasets/venv`,
        script: `${configDir}/datasets/cytomine_import.py`,
    };
}

/** The host directory of a dataset: its `path`, or its sdafs mount point. */
export const hostDirOf = (d: DeclaredDataset, dataDir: string) =>
    d.source === "sdafs" ? hostLayout(dataDir, "").sdafsMount(d.id) : (d.path as string);

/** Compose's bind mounts of PIMS: every dataset read-only at /data/datasets/<id>, and the import view. */
export function pimsDatasetBinds(datasets: DeclaredDataset[], dataDir: string): string[] {
    if (datasets.length === 0) return [];
    return [
        // sdafs mounts are FUSE mounts that may be (re)mounted while PIMS runs: rslave lets the
        // container see the new mount instead of the empty directory beneath it.
        ...datasets.map(
            (d) => `${hostDirOf(d, dataDir)}:${datasetMountPath(d.id)}:${d.source === "sdafs" ? "ro,rslave" : "ro"}`,
        ),
        `${hostLayout(dataDir, "").view}:${IMPORT_VIEW_PATH}:ro`,
    ];
}

interface StepArgs {
    connection: Connection;
    /** "sudo -n " or "" (connected as root). */
    sudo: string;
}

export interface HostDatasetsArgs extends StepArgs {
    tenant: string;
    /** The host's name for messages. */
    host: pulumi.Input<string>;
    /** The tenant's data and configuration directories on the host. */
    dataDir: string;
    configDir: string;
    datasets: DeclaredDataset[];
    sdafs: { version: string; rootUrl: string; credentials?: pulumi.Input<string> };
}

/** The dataset directories and the sdafs mounts: what PIMS's bind mounts need before `compose up`. */
export class HostDatasets extends pulumi.ComponentResource {
    constructor(name: string, args: HostDatasetsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cytomine:vm:HostDatasets", name, {}, renamedFrom("cytomine:datasets:HostDatasets", opts));
        const step = stepper(this, name, args.connection);
        const layout = hostLayout(args.dataDir, args.configDir);
        const sdafs = args.datasets.filter((d) => d.source === "sdafs");
        const dirs = step(
            "dirs",
            directoriesScript(
                [
                    { path: layout.root, owner: "0:0", mode: "0755" },
                    { path: layout.view, owner: "0:0", mode: "0755" },
                    { path: layout.config, owner: "0:0", mode: "0700" },
                    ...sdafs.map((d) => ({ path: layout.sdafsMount(d.id), owner: "0:0", mode: "0755" })),
                ],
                args.sudo,
            ),
        );
        if (sdafs.length === 0) {
            this.registerOutputs({});
            return;
        }
        if (args.sdafs.credentials === undefined)
            throw new Error("sdafs datasets need the sdafs credentials (secret sdafsCredentials)");
        const prerequisites = step(
            "sdafs",
            pulumi.output(args.host).apply((h) => sdafsPrerequisitesScript(h, args.sdafs.version, args.sudo)),
            {},
            { dependsOn: [dirs] },
        );
        const credentials = pulumi.secret(pulumi.output(args.sdafs.credentials));
        const written = step(
            "sdafs-credentials",
            writeFileScript(layout.credentials, "0600", args.sudo),
            { stdin: credentials, logging: "stderr", delete: removeScript(layout.credentials, args.sudo) },
            { dependsOn: [prerequisites] },
        );
        // New credentials restart the units (their digest is part of each unit's script).
        const credentialsDigest = credentials.apply((c) => sha256(c).slice(0, 16));
        for (const d of sdafs) {
            const unit: SdafsUnit = {
                unit: `cytomine-${args.tenant}-sdafs-${d.id}.service`,
                mountPoint: layout.sdafsMount(d.id),
                credentialsFile: layout.credentials,
                binary: sdafsBinary(args.sdafs.version),
                rootUrl: args.sdafs.rootUrl,
                datasets: d.sdafs?.datasets ?? [],
                owner: PIMS_UID,
                description: `sdafs: Bigpicture datasets ${(d.sdafs?.datasets ?? []).join(", ")} for Cytomine tenant ${args.tenant}`,
            };
            step(
                `sdafs-${d.id}`,
                pulumi
                    .all([args.host, pulumi.unsecret(credentialsDigest)])
                    .apply(([h, digest]) => `# credentials ${digest}\n${sdafsMountScript(unit, h, args.sudo)}`),
                { delete: sdafsUnmountScript(unit, args.sudo) },
                { dependsOn: [written] },
            );
        }
        this.registerOutputs({});
    }
}

export interface HostDatasetImportArgs extends StepArgs {
    host: pulumi.Input<string>;
    dataDir: string;
    configDir: string;
    datasets: DeclaredDataset[];
    /** Core's and PIMS's base URLs as the host reaches them (through the proxy on a VM). */
    coreUrl: string;
    pimsUrl: string;
    /** ImageServer1's keys the stack generated (image-server-public-key, image-server-private-key): stdin of the import. */
    keys: { publicKey: pulumi.Input<string>; privateKey: pulumi.Input<string> };
    pythonClientVersion?: string;
}

/** The last import as the host reports it: its run (id and datasets) and what it imported this time. */
export interface ImportReport {
    run: { id: string; datasets: string[] } | null;
    imported: string[];
}

/** Reads the import script's report line from its stdout. */
export function importReport(stdout: string | undefined): ImportReport | undefined {
    const line = (stdout ?? "")
        .split("\n")
        .reverse()
        .find((l) => l.startsWith("cytomine-fallback-import "));
    if (!line) return undefined;
    try {
        const r = JSON.parse(line.slice("cytomine-fallback-import ".length)) as ImportReport;
        return { run: r.run ?? null, imported: r.imported ?? [] };
    } catch {
        return undefined;
    }
}

/** The import on the host: client, script, and one step that imports whatever the host's record lacks. */
export class DatasetImport extends pulumi.ComponentResource {
    /** The host's report of the last import step that ran (its run id and datasets). */
    public readonly lastImport: pulumi.Output<ImportReport | undefined>;

    constructor(name: string, args: HostDatasetImportArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cytomine:vm:DatasetImport", name, {}, renamedFrom("cytomine:datasets:HostDatasetImport", opts));
        const step = stepper(this, name, args.connection);
        const layout = hostLayout(args.dataDir, args.configDir);
        const version = args.pythonClientVersion ?? PYTHON_CLIENT_VERSION;
        const client = step(
            "python",
            pulumi.output(args.host).apply((h) => pythonClientScript(h, layout.venv, version, args.sudo)),
            { delete: removeScript(layout.venv, args.sudo) },
        );
        const scriptFile = step(
            "script",
            writeFileScript(layout.script, "0644", args.sudo),
            { stdin: IMPORT_SCRIPT, logging: "stderr", delete: removeScript(layout.script, args.sudo) },
            { dependsOn: [client] },
        );
        const entries = viewEntries(
            args.datasets,
            args.datasets.map((d) => d.id),
        );
        const input = args.datasets.map((d, i) => ({
            id: d.id,
            index: d.index,
            source: d.source,
            revision: d.revision,
            hostDir: hostDirOf(d, args.dataDir),
            mountPath: entries[i].mountPath,
            ...(entries[i].buckets ? { buckets: entries[i].buckets } : {}),
        }));
        const keys = pulumi.secret(
            pulumi
                .all([args.keys.publicKey, args.keys.privateKey])
                .apply(([publicKey, privateKey]) => `${JSON.stringify({ publicKey, privateKey })}\n`),
        );
        const run = step(
            "import",
            hostImportScript(
                {
                    python: `${layout.venv}/bin/python`,
                    script: layout.script,
                    coreUrl: args.coreUrl,
                    pimsUrl: args.pimsUrl,
                    importUri: PIMS_IMPORT_PATH,
                    datasets: input,
                    record: layout.record,
                    view: layout.view,
                    scriptDigest: sha256(IMPORT_SCRIPT).slice(0, 16),
                },
                args.sudo,
            ),
            { stdin: keys },
            { dependsOn: [scriptFile] },
        );
        // The report holds ids and digests only; the step's outputs are secret because its stdin is.
        this.lastImport = pulumi.unsecret(run.stdout).apply(importReport);
        this.registerOutputs({ lastImport: this.lastImport });
    }
}
