// Target kubernetes: the tenant's Cytomine in its own namespace of the cluster the ambient
// kubeconfig points at (or rendered to files), after checking that no other stack owns it.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { Cytomine } from "../../components/kubernetes/cytomine";
import { SdafsCsiDriver } from "../../components/kubernetes/csi";
import { stackOwner } from "../../components/model/tenancy";
import { ConfigError, LoadedConfig, PROJECT, requireSecret } from "../config";
import { datasetsOutput } from "../config/datasets";
import { atRestWarning, secretsEncryptedAtRest } from "../preflight/at-rest";
import {
    assertNamespaceAvailable,
    ClusterApis,
    datasetsOnCluster,
    loadClusterApis,
    apiServerEndpoints,
    orAbsent,
    readNodes,
    runningImages,
    upgradeBackupOf,
} from "../preflight/cluster";
import { placementProblem } from "../preflight/placement";
import { missingClaimIssue } from "../preflight/ml";
import { backupOutputs, TargetOptions, TargetResult } from "./target";
import { KUBERNETES_STEPS, upgradeFrom, upgradeWarnings } from "./upgrade";

export async function kubernetesTarget(
    { config, secrets }: LoadedConfig,
    env: NodeJS.ProcessEnv,
    { offline = false }: TargetOptions = {},
): Promise<TargetResult> {
    const render = config.renderDir !== "";
    // Offline (apps/render): the cluster is not read, as for a new tenant's first apply.
    const readCluster = !render && !offline;
    const owner = stackOwner();
    // The namespace check and the dataset checks share one kubeconfig read (of this run only).
    let read: Promise<ClusterApis> | undefined;
    const apis = () => (read ??= loadClusterApis(env));
    // Tenants never share a namespace: checked against the live cluster before anything changes.
    if (readCluster) {
        const { namespace } = config.kubernetes;
        await assertNamespaceAvailable(apis, namespace, namespace === config.tenant ? "tenant" : "namespace", owner);
        // A placement no Ready node takes would leave every pod Pending: refused before any change.
        const { nodeSelector, tolerations } = config.kubernetes;
        if (Object.keys(nodeSelector).length > 0 || tolerations.length > 0) {
            const problem = placementProblem(PROJECT, await readNodes(apis), { nodeSelector, tolerations });
            if (problem) throw new ConfigError([problem]);
        }
        // Secrets at rest: a warning where the API server's metrics show them stored unencrypted.
        const metrics = await (await apis()).metrics();
        const atRest = atRestWarning(metrics === undefined ? undefined : secretsEncryptedAtRest(metrics));
        if (atRest) pulumi.log.warn(atRest);
        const { storageClass } = config.kubernetes;
        if (
            storageClass &&
            !(await orAbsent(async () => (await apis()).storage.readStorageClass({ name: storageClass })))
        ) {
            throw new ConfigError([
                `${PROJECT}:storageClass = "${storageClass}": the cluster has no such StorageClass; ` +
                    `name one of 'kubectl get storageclass' (the local environment's real node: real-node, once 'npm run env:up' started it), or leave it empty for the default`,
            ]);
        }
    }
    // The model weights' claim: the ML pods would wait for it forever.
    if (readCluster && config.ml?.weights) {
        const { namespace } = config.kubernetes;
        const cluster = await apis();
        const exists = (await cluster.namespace(namespace))
            ? (await orAbsent(() =>
                  cluster.core.readNamespacedPersistentVolumeClaim({ name: config.ml!.weights!, namespace }),
              )) !== undefined
            : undefined;
        const issue = missingClaimIssue(config.ml.weights, namespace, exists);
        if (issue) throw new ConfigError([issue]);
    }
    // The app engine's egress names the API server's endpoints, as its pods reach them.
    const apiServer =
        readCluster && config.ml?.services.includes("app-engine") ? await apiServerEndpoints(apis) : undefined;
    // An upgrade of a running tenant: said at preview, and backed up first (components/kubernetes/backups.ts).
    const running = readCluster ? await runningImages(apis, config.kubernetes.namespace) : undefined;
    const keptUpgradeBackup =
        readCluster && config.backups
            ? await upgradeBackupOf(apis, config.kubernetes.namespace, config.release)
            : undefined;
    for (const warning of upgradeWarnings(running, config, KUBERNETES_STEPS)) pulumi.log.warn(warning);
    // Rendering ignores the ambient KUBECONFIG (the provider refuses both at once).
    const cluster = new k8s.Provider(
        "cluster",
        render ? { renderYamlToDirectory: config.renderDir, kubeconfig: "" } : {},
    );
    const datasets = await datasetsOnCluster(apis, config, owner, { cluster: readCluster, trees: !offline });
    // The sdafs CSI driver: installed by the one stack of the cluster that sets datasets.installCsiDriver.
    const csi = config.datasets.installCsiDriver
        ? new SdafsCsiDriver(
              "sdafs-csi",
              { owner, rootUrl: config.datasets.sdafs.rootUrl, storageClass: config.datasets.sdafs.storageClass },
              { providers: { kubernetes: cluster } },
          )
        : undefined;
    const cytomine = new Cytomine(
        config.tenant,
        {
            tenant: config.tenant,
            owner,
            publicUrl: config.publicUrl,
            localStack: config.localStack,
            images: config.images,
            ...config.kubernetes,
            keycloak: { ...config.keycloak, adminPassword: secrets.keycloakAdminPassword },
            render,
            protectVolumes: !config.allowVolumeDeletion,
            registry: config.imageRegistry && {
                ...config.imageRegistry,
                password: requireSecret(secrets, "imageRegistryPassword"),
            },
            backups: config.backups && {
                settings: config.backups,
                release: config.release,
                key: secrets.backupKey,
                s3SecretAccessKey: requireSecret(secrets, "backupS3SecretAccessKey"),
                upgradeFrom: upgradeFrom(running, config, keptUpgradeBackup),
            },
            datasets: {
                list: datasets.declared,
                plan: datasets.plan,
                importImage: config.datasets.importImage,
                storageClass: config.datasets.sdafs.storageClass,
                sdafsCredentials: secrets.sdafsCredentials,
                dependsOn: csi ? [csi] : [],
            },
            ...(config.ml ? { ml: config.ml } : {}),
            ...(apiServer ? { apiServer } : {}),
            resources: config.resources,
        },
        { providers: { kubernetes: cluster } },
    );
    // Keycloak in the namespace: the realm is applied once it serves, with its generated password.
    const inNamespace = cytomine.keycloak;
    return {
        publicUrl: config.publicUrl,
        keycloak: {
            endpoint: config.keycloak,
            adminPassword: inNamespace?.adminPassword ?? requireSecret(secrets, "keycloakAdminPassword"),
            ready: inNamespace?.ready ?? [],
        },
        outputs: {
            namespace: cytomine.namespace,
            /** How to read Cytomine's admin password from the tenant's Secret. */
            cytomineAdminCredentials: cytomine.adminCredentials,
            /**
             * In render mode: the Secret (name and keys) to provide to the cluster, e.g. as a SealedSecret,
             * and with imageRegistry the image pull Secret (pullSecret) the pods name.
             */
            ...(render ? { secretToProvide: cytomine.secret } : {}),
            ...backupOutputs(config, cytomine.backupKey),
            /** The task-image registry the nodes' container runtime pulls from (with the app engine). */
            ...(cytomine.taskRegistry ? { taskRegistry: cytomine.taskRegistry } : {}),
            // Datasets: what is declared (images counted where the preview saw the tree) and the last import Job.
            ...(datasets.declared.length > 0
                ? { datasets: datasetsOutput(datasets.declared), lastDatasetImport: cytomine.lastDatasetImport }
                : {}),
        },
    };
}
