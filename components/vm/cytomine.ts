// A tenant's Cytomine on a host reached over SSH: Cytomine's compose project, configured step by
// step with @pulumi/command. Each step is a remote command whose script or stdin carries what it
// depends on, so a second `up` runs nothing and a changed setting re-runs only its dependents.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { BackupSettings, repositoryOf } from "../model/backups";
import { renamedFrom } from "../model/renames";
import { routeTable } from "../model/routes";
import { generateSecretValues, secretKeysOf } from "../model/secrets";
import { cytomineServices, KeycloakMode, SECRET_NAME, ServicesOptions } from "../model/services";
import { Images, UNSIZED } from "../model/settings";
import type { MlSettings, VmTasks } from "../model/ml";
import type { ServiceSpec } from "../model/spec";
import {
    composeFile,
    ComposeOptions,
    envFile,
    envFileOf,
    nginxConf,
    Prebuilt,
    prebuiltOf,
    tasksNetworkOf,
    volumeDirOf,
} from "./compose";
import { Connection, stepper } from "./steps";
import { DatasetImport, HostDatasets, ImportReport, pimsDatasetBinds } from "./datasets";
import {
    BACKUP_FILES,
    BACKUP_SCRIPT,
    backupConf,
    backupEnv,
    beforeUpgradeScript,
    cronEntry,
    cronPathOf,
    restoredBackup,
    rollbackHint,
    scheduleScript,
} from "./backups";
import { type DeclaredDataset, sha256 } from "../model/datasets";
import {
    composeDownScript,
    composeUpScript,
    directoriesScript,
    markScript,
    preflightScript,
    registryLoginScript,
    removeScript,
    writeFileScript,
} from "./scripts";

export interface SshConnection {
    host: pulumi.Input<string>;
    port: number;
    user: string;
    privateKey: pulumi.Input<string>;
    /** The host's public key (`ssh-ed25519 AAAA…`): a host presenting another is refused before any command. */
    hostKey?: pulumi.Input<string>;
}

export interface CytomineArgs {
    tenant: string;
    connection: SshConnection;
    /** Prefix privileged commands with `sudo -n` (false when connecting as root). */
    sudo: boolean;
    /** Configuration of all tenants on the host: this one's is `<configDir>/<tenant>`. */
    configDir: string;
    /** Data of all tenants on the host: this one's is `<dataDir>/<tenant>`. */
    dataDir: string;
    bindAddress: string;
    httpPort: number;
    /** Without trailing slash. */
    publicUrl: string;
    /** The Cytomine release the images are (config key release): each backup is tagged with it. */
    release: string;
    images: Images;
    keycloak: {
        mode: KeycloakMode;
        origin: string;
        adminUser: string;
        /** An external Keycloak as the tenant's containers reach it, when not at its public origin. */
        internalOrigin?: string;
        /** Required for an external Keycloak; generated for one in the compose project when absent. */
        adminPassword?: pulumi.Input<string>;
    };
    /** The data directory is protected from deletion and survives destroy. */
    protectData: boolean;
    readyTimeoutSeconds: number;
    /** The host was just created: wait for cloud-init to finish before the first step. */
    waitForCloudInit?: boolean;
    /**
     * The configuration files as the program found them on the host when it started (program/preflight/host-check.ts),
     * by path relative to the tenant's configuration directory; null: missing. Unset: not looked at.
     */
    observedFiles?: Record<string, ObservedFile | null>;
    /**
     * Credentials for the registry the images come from: `docker login` before `compose up`, into the
     * tenant's own Docker client configuration. Unset: the images are pulled anonymously.
     */
    registry?: { server: string; username: string; password: pulumi.Input<string> };
    /**
     * Scheduled backups (components/vm/backups.ts); unset: none. The repository's key is generated
     * unless given (a repository made before, e.g. by the tenant's earlier life).
     */
    backups?: {
        settings: BackupSettings;
        key?: pulumi.Input<string>;
        s3SecretAccessKey?: pulumi.Input<string>;
    };
    /** Bigpicture datasets: mounted read-only into PIMS, imported once Cytomine answers (components/vm/datasets.ts). */
    datasets?: {
        list: DeclaredDataset[];
        sdafs: { version: string; rootUrl: string };
        sdafsCredentials?: pulumi.Input<string>;
    };
    /** SAM and CBIR (components/model/ml.ts), with the host's folder of weights; unset: none. */
    ml?: MlSettings;
    /** The operator's CPU and memory by component (config key resources): compose's mem_limit follows. */
    resources?: ServicesOptions["resources"];
}

/** Keycloak's image when it runs in the project (the tenant's own), else undefined: backups tag it. */
const projectKeycloakImage = (a: Pick<CytomineArgs, "keycloak" | "images">) =>
    a.keycloak.mode === "namespace" ? a.images.iam : undefined;

/** The readiness URLs on the host: the web UI, core, and Keycloak when it runs in the project. */
export function readinessUrls(bindAddress: string, httpPort: number, keycloakInProject: boolean): string[] {
    const base = `http://${bindAddress === "0.0.0.0" ? "127.0.0.1" : bindAddress}:${httpPort}`;
    return [
        `${base}/`,
        `${base}/server/ping`,
        ...(keycloakInProject ? [`${base}/iam/realms/master/.well-known/openid-configuration`] : []),
    ];
}

/** A configuration file on the host: the sha256 of its content, its mode (octal) and its mark. */
export interface ObservedFile {
    sha256: string;
    mode: string;
    mark?: string;
}

/** Where a file step records its mark (see fileMark). */
export const markPathOf = (configDir: string, file: string) => `${configDir}/.marks/${file.replace(/\//g, "--")}`;

/**
 * The mark a file step writes beside its file, and carries in its script. A refresh cannot read a
 * remote command's effects back, so the program looks at the host itself: while the file is as the
 * stack wrote it, the mark is the one recorded on the host (the step's script is unchanged: nothing
 * runs); a file edited by hand, with another mode, or missing gets a new mark, which changes the
 * script, so the preview shows the step's update and `up` writes the file again. After that, the
 * host holds the new mark and the next run is a no-op again. Unset `observed`: the host was not
 * looked at (target aws, vm.checkHost false).
 */
export function fileMark(
    expected: { sha256: string; mode: string },
    observed: ObservedFile | null | undefined,
): string {
    if (observed === undefined) return "unchecked";
    if (
        observed !== null &&
        observed.sha256 === expected.sha256 &&
        Number.parseInt(observed.mode, 8) === Number.parseInt(expected.mode, 8)
    )
        return observed.mark || "in-place";
    return `rewrite-${sha256(observed ? `${observed.sha256} ${observed.mode}` : "missing").slice(0, 16)}`;
}

/** The configuration files of a tenant, relative to its configuration directory (the env files hold secrets). */
export function configFiles(
    layout: Pick<HostLayout, "plainFiles" | "services" | "secretFiles">,
): { path: string; mode: string }[] {
    return [
        ...layout.plainFiles.map(({ path, mode }) => ({ path, mode })),
        ...layout.services.map((s) => ({ path: envFileOf(s.component), mode: "0600" })),
        ...layout.secretFiles.map((path) => ({ path, mode: "0600" })),
    ];
}

/** What a tenant's compose project consists of, with no secret value: plain, for the component and its measurements. */
export interface HostLayout {
    configDir: string;
    dataDir: string;
    project: string;
    services: ServiceSpec[];
    composeOptions: ComposeOptions;
    /** Directories of the data volumes, with their owners. */
    volumeDirs: { path: string; owner: string; mode: string }[];
    /** The files besides the env files: path relative to the configuration directory, mode, content. */
    plainFiles: { path: string; mode: string; content: string }[];
    /** Images built on the host before compose starts them (their Dockerfiles are among `plainFiles`). */
    builds: Prebuilt[];
    /** Other files holding secrets (mode 0600), by path relative to the configuration directory. */
    secretFiles: string[];
    readinessUrls: string[];
}

export function hostLayout(
    a: Pick<
        CytomineArgs,
        | "tenant"
        | "configDir"
        | "dataDir"
        | "release"
        | "images"
        | "publicUrl"
        | "keycloak"
        | "bindAddress"
        | "httpPort"
    > &
        Partial<Pick<CytomineArgs, "backups" | "readyTimeoutSeconds" | "ml" | "resources">>,
    datasets: DeclaredDataset[] = [],
): HostLayout {
    const configDir = `${a.configDir}/${a.tenant}`;
    const dataDir = `${a.dataDir}/${a.tenant}`;
    const inProject = a.keycloak.mode === "namespace";
    const project = `cytomine-${a.tenant}`;
    const vmTasks = a.ml?.services.includes("app-engine") ? vmTasksOf(a.ml.tasks, dataDir, project) : undefined;
    const services = cytomineServices({
        images: a.images,
        storage: UNSIZED,
        publicUrl: a.publicUrl,
        keycloak: a.keycloak,
        datasets: datasets.length > 0,
        resources: a.resources,
        // Task pods run through task-pods (components/model/ml.ts VmTasks): no namespace or Service address.
        ...(a.ml
            ? {
                  ml: {
                      services: a.ml.services,
                      namespace: "",
                      registryAdvertised: "",
                      helper: a.ml.tasks.helper,
                      ...(vmTasks ? { vmTasks } : {}),
                  },
              }
            : {}),
    });
    const composeOptions: ComposeOptions = {
        dataDir,
        proxyImage: a.images.proxy,
        bindAddress: a.bindAddress,
        httpPort: a.httpPort,
        publicScheme: a.publicUrl.startsWith("https:") ? "https" : "http",
        routes: routeTable(inProject),
        pimsBinds: pimsDatasetBinds(datasets, dataDir),
        ...(a.ml?.weights ? { weightsDir: a.ml.weights } : {}),
        ...(vmTasks ? { tasksNetwork: vmTasks.network } : {}),
    };
    const urls = readinessUrls(a.bindAddress, a.httpPort, inProject);
    const backups = a.backups && {
        settings: a.backups.settings,
        conf: backupConf({
            tenant: a.tenant,
            project,
            configDir,
            dataDir,
            release: a.release,
            keycloakImage: projectKeycloakImage(a),
            services,
            settings: a.backups.settings,
            readinessUrls: urls,
            readyTimeoutSeconds: a.readyTimeoutSeconds ?? 900,
        }),
    };
    const builds = services.flatMap((s) => prebuiltOf(s) ?? []);
    return {
        configDir,
        dataDir,
        project,
        services,
        composeOptions,
        builds,
        volumeDirs: [
            ...services.flatMap((s) =>
                s.volumes.map((v) => ({
                    path: volumeDirOf(dataDir, s.component, v.name),
                    owner: `${s.uid}:${s.uid}`,
                    mode: "0700",
                })),
            ),
            ...(vmTasks ? [{ path: vmTasks.stateDir, owner: "0:0", mode: "0700" }] : []),
        ],
        plainFiles: [
            { path: "compose.yaml", mode: "0644", content: composeFile(services, composeOptions) },
            { path: "nginx.conf", mode: "0644", content: nginxConf(composeOptions) },
            ...builds.map((b) => ({ path: b.path, mode: "0644", content: b.dockerfile })),
            ...(backups
                ? [
                      { path: BACKUP_FILES.script, mode: "0700", content: BACKUP_SCRIPT },
                      { path: BACKUP_FILES.conf, mode: "0600", content: backups.conf },
                  ]
                : []),
        ],
        secretFiles: backups ? [BACKUP_FILES.env] : [],
        readinessUrls: urls,
    };
}

/** Where task-pods keeps its pods, the network their containers join, and the registry's host port. */
export function vmTasksOf(tasks: MlSettings["tasks"], dataDir: string, project: string): VmTasks {
    return {
        stateDir: `${dataDir}/task-pods`,
        network: tasksNetworkOf(project),
        registryPort: tasks.registryPort,
        limits: { cpu: tasks.cpu, memory: tasks.memory, pods: tasks.pods },
    };
}

export class Cytomine extends pulumi.ComponentResource {
    public readonly url: pulumi.Output<string>;
    public readonly host: pulumi.Output<string>;
    /** Where the tenant's configuration and data live on the host. */
    public readonly configDir: string;
    public readonly dataDir: string;
    /** How to read Cytomine's admin password on the host (never the password itself). */
    public readonly adminCredentials: pulumi.Output<string>;
    /** Keycloak in the compose project: its admin password, and what is up once it serves. */
    public readonly keycloak?: { adminPassword: pulumi.Output<string>; ready: pulumi.Resource[] };
    /** What the step before an upgrade did: the backup's line (`backup <id> of <tenant>: …`), or why none. */
    public readonly upgradeBackup?: pulumi.Output<string>;
    /** The backup repository's key (secret; none without backups). */
    public readonly backupKey?: pulumi.Output<string>;
    /** The host's report of the last dataset import (none without datasets). */
    public readonly lastDatasetImport?: pulumi.Output<ImportReport | undefined>;

    constructor(name: string, args: CytomineArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cytomine:vm:Cytomine", name, {}, renamedFrom("cytomine:vm:CytomineHost", opts));
        const sudo = args.sudo ? "sudo -n " : "";
        const datasets = args.datasets?.list ?? [];
        const { configDir, dataDir, project, services, volumeDirs, plainFiles, secretFiles, ...layout } = hostLayout(
            args,
            datasets,
        );
        const connection: Connection = {
            ...args.connection,
            // A host that is still booting refuses connections: retry with a pause between dials.
            dialErrorLimit: 20,
            perDialTimeout: 15,
        };
        const inProject = args.keycloak.mode === "namespace";
        const secrets = generateSecretValues(
            `${name}-secrets`,
            secretKeysOf(services, SECRET_NAME),
            this,
            args.keycloak.adminPassword,
        );

        const step = stepper(this, name, connection);

        const preflight = step(
            "preflight",
            pulumi
                .output(args.connection.host)
                .apply((h) => preflightScript(h, args.connection.user, sudo, args.waitForCloudInit)),
        );
        // The data directory: protected and retained like the Kubernetes target's volume claims.
        const data = step(
            "data",
            directoriesScript([{ path: dataDir, owner: "0:0", mode: "0755" }, ...volumeDirs], sudo),
            { delete: removeScript(dataDir, sudo) },
            { dependsOn: [preflight], protect: args.protectData, retainOnDelete: args.protectData },
        );
        const config = step(
            "config",
            directoriesScript(
                [
                    { path: configDir, owner: "0:0", mode: "0755" },
                    { path: `${configDir}/env`, owner: "0:0", mode: "0700" },
                ],
                sudo,
            ),
            // A compose step whose create failed is not in the state, so its delete never runs: the
            // configuration's own delete brings a project still running down before removing it.
            { delete: `${composeDownScript(configDir, project, sudo)}\n${removeScript(configDir, sudo)}` },
            { dependsOn: [preflight] },
        );

        // Datasets: their directories and sdafs mounts exist before compose binds them into PIMS.
        const datasetArgs = args.datasets;
        const datasetMounts =
            datasetArgs && datasets.length > 0
                ? new HostDatasets(
                      `${name}-datasets`,
                      {
                          tenant: args.tenant,
                          connection,
                          sudo,
                          host: args.connection.host,
                          dataDir,
                          configDir,
                          datasets,
                          sdafs: { ...datasetArgs.sdafs, credentials: datasetArgs.sdafsCredentials },
                      },
                      { parent: this, dependsOn: [data, config] },
                  )
                : undefined;
        // The backup repository's key: generated once, unless the stack adopts an existing repository's.
        const backups = args.backups;
        this.backupKey =
            backups &&
            pulumi.secret(
                backups.key ??
                    // Kept with the data: a destroy that keeps the data keeps the key that reads its backups.
                    new random.RandomPassword(
                        `${name}-backup-key`,
                        { length: 48, special: false },
                        { parent: this, protect: args.protectData },
                    ).result,
            );
        // Files: content on stdin (secret where it holds secrets), written atomically with their mode.
        const contents: Record<string, pulumi.Output<string>> = Object.fromEntries([
            ...plainFiles.map((f) => [f.path, pulumi.output(f.content)]),
            ...services.map((s) => [
                envFileOf(s.component),
                pulumi.secret(pulumi.all(secrets).apply((values) => envFile(s, values))),
            ]),
            ...(backups && this.backupKey
                ? [
                      [
                          BACKUP_FILES.env,
                          pulumi.secret(
                              pulumi
                                  .all([this.backupKey, backups.s3SecretAccessKey])
                                  .apply(([key, s3]) => backupEnv(backups.settings, args.tenant, key, s3)),
                          ),
                      ],
                  ]
                : []),
        ]);
        const files = configFiles({ plainFiles, services, secretFiles }).map((f) => ({
            ...f,
            content: contents[f.path],
        }));
        const written = files.map((f) => {
            const markPath = markPathOf(configDir, f.path);
            // The mark is a digest of digests, never a secret: the script stays readable in diffs.
            const mark = pulumi.unsecret(
                f.content.apply((c) => fileMark({ sha256: sha256(c), mode: f.mode }, args.observedFiles?.[f.path])),
            );
            return step(
                `file-${f.path.replace(/[^a-z0-9]+/gi, "-")}`,
                mark.apply((m) =>
                    [writeFileScript(`${configDir}/${f.path}`, f.mode, sudo), markScript(markPath, m, sudo)].join("\n"),
                ),
                {
                    stdin: f.content,
                    logging: "stderr",
                    delete: [removeScript(`${configDir}/${f.path}`, sudo), removeScript(markPath, sudo)].join("\n"),
                },
                // Replaced (`pulumi up --replace`, a changed trigger): the old step's delete removes
                // the same path, so it must run before the new step writes the file, not after.
                { dependsOn: [config], deleteBeforeReplace: true },
            );
        });
        // Registry credentials: the password is the step's stdin only; a changed server or user changes
        // the script, a changed password the stdin, and either runs the login again.
        const dockerConfig = args.registry ? `${configDir}/docker` : undefined;
        const login =
            args.registry && dockerConfig
                ? step(
                      "registry-login",
                      registryLoginScript(
                          { server: args.registry.server, username: args.registry.username, dockerConfig },
                          sudo,
                      ),
                      {
                          stdin: pulumi.secret(args.registry.password),
                          delete: removeScript(dockerConfig, sudo),
                      },
                      { dependsOn: [config] },
                  )
                : undefined;
        // One digest of every file: any change re-runs `up`, and Compose recreates only what changed.
        const digest = pulumi.secret(
            pulumi.all(files.map((f) => f.content)).apply((contents) => sha256(contents.join("\0"))),
        );
        // A changed release: the running one's data backed up before the new one migrates it.
        const beforeUpgrade =
            backups &&
            step(
                "backup-before-upgrade",
                beforeUpgradeScript(
                    {
                        configDir,
                        project,
                        release: args.release,
                        keycloakImage: projectKeycloakImage(args),
                    },
                    sudo,
                ),
                {},
                { dependsOn: written },
            );
        this.upgradeBackup = beforeUpgrade?.stdout;
        const up = step(
            "compose",
            pulumi.all([pulumi.unsecret(digest), beforeUpgrade?.stdout ?? ""]).apply(([d, upgraded]) => {
                const rollback = rollbackHint(upgraded, args.tenant, configDir);
                const restored = restoredBackup(upgraded);
                return composeUpScript(
                    {
                        dir: configDir,
                        project,
                        digest: d,
                        waitFor: layout.readinessUrls,
                        timeoutSeconds: args.readyTimeoutSeconds,
                        tasks: layout.composeOptions.tasksNetwork !== undefined,
                        builds: layout.builds,
                        ...(dockerConfig ? { dockerConfig } : {}),
                        ...(rollback ? { rollback } : {}),
                        ...(restored ? { restored } : {}),
                    },
                    sudo,
                );
            }),
            { delete: composeDownScript(configDir, project, sudo) },
            // The same for the project: down (the old step's delete), then up, never the reverse.
            {
                dependsOn: [
                    data,
                    ...written,
                    ...(datasetMounts ? [datasetMounts] : []),
                    ...(login ? [login] : []),
                    ...(beforeUpgrade ? [beforeUpgrade] : []),
                ],
                deleteBeforeReplace: true,
            },
        );
        // The schedule, once the project runs: cron on the host runs the job (components/vm/backups.ts).
        if (backups) {
            const cron = cronEntry({ tenant: args.tenant, configDir, settings: backups.settings });
            step(
                "backup-schedule",
                // The repository's settings as a digest (never the key itself): another bucket,
                // credentials or key re-run the step, and so the check that the repository opens.
                pulumi
                    .all([args.connection.host, pulumi.unsecret(contents[BACKUP_FILES.env].apply(sha256))])
                    .apply(([h, settings]) =>
                        scheduleScript(
                            {
                                cronPath: cronPathOf(args.tenant),
                                entry: cron,
                                host: h,
                                configDir,
                                repository: repositoryOf(backups.settings.repository, args.tenant),
                                settings,
                            },
                            sudo,
                        ),
                    ),
                { stdin: cron, delete: removeScript(cronPathOf(args.tenant), sudo) },
                { dependsOn: [up] },
            );
        }
        // The import, once Cytomine answers through the proxy, with the admin keys generated above.
        if (datasets.length > 0) {
            const base = readinessUrls(args.bindAddress, args.httpPort, false)[0].replace(/\/$/, "");
            this.lastDatasetImport = new DatasetImport(
                `${name}-datasets-import`,
                {
                    connection,
                    sudo,
                    host: args.connection.host,
                    dataDir,
                    configDir,
                    datasets,
                    coreUrl: base,
                    pimsUrl: base,
                    // As Cytomine's chart imports: as ImageServer1, into its storage (helm/charts/cytomine/templates/pims/pims-job-import.yaml:21-73).
                    keys: {
                        publicKey: secrets["image-server-public-key"],
                        privateKey: secrets["image-server-private-key"],
                    },
                },
                { parent: this, dependsOn: [up] },
            ).lastImport;
        }

        this.host = pulumi.output(args.connection.host);
        this.url = pulumi.output(args.publicUrl);
        this.configDir = configDir;
        this.dataDir = dataDir;
        this.adminCredentials = this.host.apply(
            (h) => `ssh ${args.connection.user}@${h} ${sudo}grep ^ADMIN_PASSWORD= ${configDir}/${envFileOf("core")}`,
        );
        this.keycloak = inProject ? { adminPassword: secrets["keycloak-admin-password"], ready: [up] } : undefined;
        this.registerOutputs({
            url: this.url,
            host: this.host,
            adminCredentials: this.adminCredentials,
            keycloakAdminPassword: this.keycloak?.adminPassword,
            backupKey: this.backupKey,
            upgradeBackup: this.upgradeBackup,
        });
    }
}
