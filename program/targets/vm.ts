// Targets ssh and aws: Cytomine's compose project on a host, configured over SSH. Target ssh uses a
// host that exists; target aws first creates an EC2 instance and connects to its Elastic IP.
import * as pulumi from "@pulumi/pulumi";
import {
    configFiles,
    Cytomine,
    CytomineArgs,
    hostLayout,
    markPathOf,
    SshConnection,
} from "../../components/vm/cytomine";
import { isLocalHost, OWN_IMAGES } from "../../components/model/settings";
import type { DeclaredDataset } from "../../components/model/datasets";
import { ConfigError, LoadedConfig, plaintext, requireSecret } from "../config";
import { type Inspection, inspectHost } from "../preflight/host-check";
import { datasetsOutput } from "../config/datasets";
import { checkDatasets } from "../preflight/datasets";
import { missingWeightsIssue, unpublishedImagesIssue, weightFiles } from "../preflight/ml";
import { backupOutputs, TargetOptions, TargetResult } from "./target";
import { upgradeWarnings } from "./upgrade";

/**
 * The datasets, checked before anything is declared. A path is validated where the program can see
 * it: when the host is this machine (the local environment's SSH host is), a missing path stops the
 * preview too; on another host the import step checks that it exists.
 */
export async function datasetsOnHost(
    loaded: LoadedConfig,
    host: string | undefined,
    offline = false,
): Promise<DeclaredDataset[]> {
    const { config } = loaded;
    if (config.datasets.list.length === 0) return [];
    const { issues, declared } = await checkDatasets(config.target, config.datasets, {
        hostIsThisMachine: !offline && host !== undefined && (isLocalHost(host) || host === "::1"),
        nodesAreThisMachine: false,
        readTrees: !offline,
    });
    if (issues.length > 0) throw new ConfigError(issues);
    return declared;
}

/** Looks at the host before anything is declared: files by absolute path, or ConfigError. */
type Inspect = (
    files: { path: string; markPath: string }[],
    project: string,
    images: string[],
) => Promise<Pick<Inspection, "files" | "running" | "missingImages">>;

/**
 * Cytomine on the host `connection` reaches, with the identity endpoint it serves (or the external
 * one). `created`: the stack made the host (its outputs join the target's; cloud-init is waited for).
 */
export async function deployOnHost(
    { config, secrets }: LoadedConfig,
    connection: SshConnection,
    created?: { outputs: Record<string, unknown> },
    datasets: DeclaredDataset[] = [],
    inspect?: Inspect,
): Promise<TargetResult> {
    const { vm } = config;
    const args: CytomineArgs = {
        tenant: config.tenant,
        connection,
        sudo: vm.sudo,
        configDir: vm.configDir,
        dataDir: vm.dataDir,
        bindAddress: vm.bindAddress,
        httpPort: vm.httpPort,
        publicUrl: config.publicUrl,
        release: config.release,
        images: config.images,
        keycloak: { ...config.keycloak, adminPassword: secrets.keycloakAdminPassword },
        protectData: !config.allowVolumeDeletion,
        readyTimeoutSeconds: vm.readyTimeoutSeconds,
        waitForCloudInit: created !== undefined,
        registry: config.imageRegistry && {
            ...config.imageRegistry,
            password: requireSecret(secrets, "imageRegistryPassword"),
        },
        backups: config.backups && {
            settings: config.backups,
            key: secrets.backupKey,
            s3SecretAccessKey: secrets.backupS3SecretAccessKey,
        },
        datasets: {
            list: datasets,
            sdafs: config.datasets.sdafs,
            sdafsCredentials: secrets.sdafsCredentials,
        },
        ...(config.ml ? { ml: config.ml } : {}),
        resources: config.resources,
    };
    if (inspect) {
        const layout = hostLayout(args, datasets);
        const files = configFiles(layout).map((f) => ({
            rel: f.path,
            path: `${layout.configDir}/${f.path}`,
            markPath: markPathOf(layout.configDir, f.path),
        }));
        // The model weights are looked for in the same read, for their presence only (they are large).
        const weights = config.ml?.weights
            ? weightFiles(config.ml).map((rel) => ({
                  rel,
                  path: `${config.ml!.weights}/${rel}`,
                  markPath: "/dev/null",
                  presenceOnly: true,
              }))
            : [];
        // This project's own images (task-pods) are published nowhere: the host must hold them already.
        const own = [...new Set(layout.services.map((s) => s.image).filter((i) => i.startsWith(OWN_IMAGES)))];
        const found = await inspect([...files, ...weights], layout.project, own);
        const unpublished = unpublishedImagesIssue(config.images, found.missingImages, vm.host ?? "the host");
        if (unpublished) throw new ConfigError([unpublished]);
        const missing = missingWeightsIssue(
            config.ml?.weights ?? "",
            weights.filter((w) => !found.files[w.path]).map((w) => w.rel),
            vm.host ?? "the host",
        );
        if (missing) throw new ConfigError([missing]);
        args.observedFiles = Object.fromEntries(files.map((f) => [f.rel, found.files[f.path] ?? null]));
        for (const warning of upgradeWarnings(found.running, args)) pulumi.log.warn(warning);
    }
    const host = new Cytomine(config.tenant, args);
    const inProject = host.keycloak;
    return {
        publicUrl: config.publicUrl,
        keycloak: {
            endpoint: config.keycloak,
            adminPassword: inProject?.adminPassword ?? requireSecret(secrets, "keycloakAdminPassword"),
            ready: inProject?.ready ?? [],
        },
        outputs: {
            host: host.host,
            configDir: host.configDir,
            dataDir: host.dataDir,
            /** How to read Cytomine's admin password on the host. */
            cytomineAdminCredentials: host.adminCredentials,
            ...backupOutputs(config, host.backupKey),
            ...(config.backups ? { upgradeBackup: host.upgradeBackup } : {}),
            ...created?.outputs,
            ...(datasets.length > 0
                ? { datasets: datasetsOutput(datasets), lastDatasetImport: host.lastDatasetImport }
                : {}),
        },
    };
}

export async function sshTarget(
    loaded: LoadedConfig,
    _env?: NodeJS.ProcessEnv,
    { offline = false }: TargetOptions = {},
): Promise<TargetResult> {
    const { vm } = loaded.config;
    const datasets = await datasetsOnHost(loaded, vm.host, offline);
    const connection = {
        host: vm.host as string, // required with target ssh (program/config/rules.ts)
        port: vm.port,
        user: vm.user,
        privateKey: requireSecret(loaded.secrets, "vmPrivateKey"),
        hostKey: vm.hostKey,
    };
    // Offline (apps/render): the host is not looked at, as with vm.checkHost false.
    const inspect: Inspect | undefined =
        vm.checkHost && !offline
            ? async (files, project, images) => {
                  const found = await inspectHost(
                      { ...connection, privateKey: await plaintext(connection.privateKey), sudo: vm.sudo },
                      files,
                      undefined,
                      project,
                      images,
                  );
                  if (found.problems.length > 0) throw new ConfigError(found.problems);
                  return found;
              }
            : undefined;
    return deployOnHost(loaded, connection, undefined, datasets, inspect);
}

export async function awsTarget(
    loaded: LoadedConfig,
    _env?: NodeJS.ProcessEnv,
    { offline = false }: TargetOptions = {},
): Promise<TargetResult> {
    const { config, secrets } = loaded;
    const aws = config.aws as NonNullable<typeof config.aws>; // required with target aws (rules.ts)
    const hostKey = config.vm.hostKey as string; // required with target aws (rules.ts)
    const datasets = await datasetsOnHost(loaded, undefined, offline);
    // Loaded here: a stack on an existing host need not pay for @pulumi/aws.
    const { Ec2Host } = await import("../../components/vm/aws");
    const ec2 = new Ec2Host(config.tenant, {
        tenant: config.tenant,
        ...aws,
        dataDir: config.vm.dataDir,
        hostKey: { publicKey: hostKey, privateKey: requireSecret(secrets, "vmHostPrivateKey") },
        protectData: !config.allowVolumeDeletion,
    });
    return deployOnHost(
        loaded,
        {
            host: ec2.publicIp,
            port: config.vm.port,
            user: config.vm.user,
            privateKey: requireSecret(secrets, "vmPrivateKey"),
            hostKey,
        },
        { outputs: { instanceId: ec2.instanceId, dataVolumeId: ec2.dataVolumeId } },
        datasets,
    );
}
