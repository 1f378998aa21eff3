// Target kubernetes: the tenant's Cytomine in its own namespace of the cluster the ambient
// kubeconfig points at (or rendered to files), after checking that no other stack owns it.
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { Cytomine } from "../../components/kubernetes/cytomine";
import { namespaceConflict, OWNER_KEY, stackOwner } from "../../components/model/tenancy";
import { NodeFacts, placementProblem } from "../preflight/placement";
import { atRestWarning, secretsEncryptedAtRest } from "../preflight/at-rest";
import { SdafsCsiDriver } from "../../components/kubernetes/csi";
import { RECORD_CONFIGMAP, RECORD_KEY } from "../../components/kubernetes/datasets";
import { DeclaredDataset, ImportPlan, parseRecord, planImport } from "../../components/model/datasets";
import { ConfigError, LoadedConfig, PROJECT, requireSecret, StackConfig } from "../config";
import { checkDatasets, datasetsOutput } from "../config/datasets";
import type { TargetOptions, TargetResult } from "./target";

type ClusterApis = Awaited<ReturnType<typeof loadClusterApis>>;

/**
 * API clients for the cluster the kubeconfig of `env` points at (as the provider reads it: the files
 * of KUBECONFIG merged, else ~/.kube/config). The client library is loaded only when a cluster is
 * read: it is a large part of the program's start, which render mode and every fleet
 * preview of it would otherwise pay for nothing.
 */
async function loadClusterApis(env: NodeJS.ProcessEnv) {
    const k8sClient = await import("@kubernetes/client-node");
    const config = new k8sClient.KubeConfig();
    const [first, ...more] = (env.KUBECONFIG ?? "").split(path.delimiter).filter(Boolean);
    if (first === undefined) config.loadFromDefault();
    else {
        config.loadFromFile(first);
        for (const file of more) {
            const next = new k8sClient.KubeConfig();
            next.loadFromFile(file);
            config.mergeConfig(next);
        }
    }
    return {
        core: config.makeApiClient(k8sClient.CoreV1Api),
        storage: config.makeApiClient(k8sClient.StorageV1Api),
        metrics: () => rawGet(config, "/metrics"),
    };
}

/** GET of an API server path with the kubeconfig's credentials; undefined when refused or unreachable. */
async function rawGet(
    config: import("@kubernetes/client-node").KubeConfig,
    apiPath: string,
): Promise<string | undefined> {
    const https = await import("node:https");
    const server = config.getCurrentCluster()?.server;
    if (!server) return undefined;
    const options: import("node:https").RequestOptions = {};
    await config.applyToHTTPSOptions(options);
    return new Promise((resolve) => {
        const req = https.get(new URL(apiPath, server), { ...options, timeout: 10_000 }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (d: string) => (body += d));
            res.on("end", () => resolve(res.statusCode === 200 ? body : undefined));
        });
        req.on("timeout", () => req.destroy());
        req.on("error", () => resolve(undefined));
    });
}

/** Reads the namespace from the cluster. */
async function readNamespace(
    apis: () => Promise<ClusterApis>,
    namespace: string,
): Promise<{ annotations?: Record<string, string> } | undefined> {
    const ns = await orAbsent(async () => (await apis()).core.readNamespace({ name: namespace }));
    return ns && { annotations: ns.metadata?.annotations };
}

/**
 * Stops the program, naming the config key (`tenant`, or `namespace` when set apart), when the live
 * cluster holds the namespace for another stack or for none.
 */
async function assertNamespaceAvailable(
    apis: () => Promise<ClusterApis>,
    namespace: string,
    key: "tenant" | "namespace",
    owner: string,
) {
    const conflict = namespaceConflict(namespace, owner, await readNamespace(apis, namespace));
    if (conflict)
        throw new ConfigError([
            `${PROJECT}:${key} = "${namespace}" collides with another tenant: ${conflict}; choose another ${key}`,
        ]);
}

/** The cluster's nodes as the placement check reads them. */
async function readNodes(apis: () => Promise<ClusterApis>): Promise<NodeFacts[]> {
    const nodes = await (await apis()).core.listNode();
    return nodes.items.map((n) => ({
        name: n.metadata?.name ?? "",
        labels: n.metadata?.labels ?? {},
        ready: n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
        taints: (n.spec?.taints ?? []).map((t) => ({ key: t.key, value: t.value, effect: t.effect })),
    }));
}

/** The API's 404 as undefined, anything else thrown. */
async function orAbsent<T>(read: () => Promise<T>): Promise<T | undefined> {
    try {
        return await read();
    } catch (e) {
        if ((e as { code?: number }).code === 404) return undefined;
        throw e;
    }
}

/**
 * The datasets, checked before anything is declared (paths the program can see validated, the sdafs
 * CSI driver present, claims existing), and the import plan from the record in the namespace.
 */
async function datasetsOnCluster(
    apis: () => Promise<ClusterApis>,
    config: StackConfig,
    owner: string,
    read: { cluster: boolean; trees: boolean },
): Promise<{ declared: DeclaredDataset[]; plan: ImportPlan }> {
    if (config.datasets.list.length === 0) return { declared: [], plan: planImport([], { imported: {} }) };
    const { core, storage } = read.cluster ? await apis() : { core: undefined, storage: undefined };
    const { namespace } = config.kubernetes;
    const namespaceExists = core
        ? (await orAbsent(() => core.readNamespace({ name: namespace }))) !== undefined
        : false;
    const { issues, declared } = await checkDatasets("kubernetes", config.datasets, {
        hostIsThisMachine: false,
        // The local environment's KWOK nodes are this machine: a hostPath is checked here.
        nodesAreThisMachine: config.localStack && read.trees,
        readTrees: read.trees,
        owner,
        readStorageClass: storage
            ? async (name) => {
                  const sc = await orAbsent(() => storage.readStorageClass({ name }));
                  return sc && { provisioner: sc.provisioner, owner: sc.metadata?.annotations?.[OWNER_KEY] };
              }
            : undefined,
        claimExists: core
            ? async (name) =>
                  namespaceExists
                      ? (await orAbsent(() => core.readNamespacedPersistentVolumeClaim({ name, namespace }))) !==
                        undefined
                      : undefined
            : undefined,
    });
    if (issues.length > 0) throw new ConfigError(issues);
    const configMap =
        core && namespaceExists
            ? await orAbsent(() => core.readNamespacedConfigMap({ name: RECORD_CONFIGMAP, namespace }))
            : undefined;
    return { declared, plan: planImport(declared, parseRecord(configMap?.data?.[RECORD_KEY])) };
}

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
            datasets: {
                list: datasets.declared,
                plan: datasets.plan,
                importImage: config.datasets.importImage,
                storageClass: config.datasets.sdafs.storageClass,
                sdafsCredentials: secrets.sdafsCredentials,
                dependsOn: csi ? [csi] : [],
            },
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
            // Datasets: what is declared (images counted where the preview saw the tree) and the last import Job.
            ...(datasets.declared.length > 0
                ? { datasets: datasetsOutput(datasets.declared), lastDatasetImport: cytomine.lastDatasetImport }
                : {}),
        },
    };
}
