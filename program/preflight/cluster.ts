// What the preview reads of the cluster before anything is declared: the tenant's namespace and its
// owner, the nodes a placement needs, the datasets' StorageClass, claims and import record.
import * as path from "node:path";
import type { ApiServer } from "../../components/kubernetes/workload";
import { namespaceConflict, OWNER_KEY } from "../../components/model/tenancy";
import { RECORD_CONFIGMAP, RECORD_KEY } from "../../components/kubernetes/datasets";
import { beforeUpgradeJobName, RELEASE_LABEL } from "../../components/kubernetes/backups";
import { DeclaredDataset, ImportPlan, parseRecord, planImport } from "../../components/model/datasets";
import { ConfigError, PROJECT, StackConfig } from "../config";
import { NodeFacts } from "./placement";
import { checkDatasets } from "./datasets";

export type ClusterApis = Awaited<ReturnType<typeof loadClusterApis>>;

/**
 * API clients for the cluster the kubeconfig of `env` points at (as the provider reads it: the files
 * of KUBECONFIG merged, else ~/.kube/config). The client library is loaded only when a cluster is
 * read: it is a large part of the program's start, which render mode and every fleet
 * preview of it would otherwise pay for nothing.
 */
export async function loadClusterApis(env: NodeJS.ProcessEnv) {
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
    const core = config.makeApiClient(k8sClient.CoreV1Api);
    // The tenant's namespace is read by the ownership, dataset and weights checks: once per run.
    const namespaces = new Map<string, ReturnType<typeof readOnce>>();
    const readOnce = (name: string) => orAbsent(() => core.readNamespace({ name }));
    return {
        core,
        /** The namespace, or undefined when it does not exist; read once per name. */
        namespace: (name: string) => namespaces.get(name) ?? namespaces.set(name, readOnce(name)).get(name)!,
        storage: config.makeApiClient(k8sClient.StorageV1Api),
        apps: config.makeApiClient(k8sClient.AppsV1Api),
        batch: config.makeApiClient(k8sClient.BatchV1Api),
        discovery: config.makeApiClient(k8sClient.DiscoveryV1Api),
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
    const ns = await (await apis()).namespace(namespace);
    return ns && { annotations: ns.metadata?.annotations };
}

/**
 * Stops the program, naming the config key (`tenant`, or `namespace` when set apart), when the live
 * cluster holds the namespace for another stack or for none.
 */
export async function assertNamespaceAvailable(
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
export async function readNodes(apis: () => Promise<ClusterApis>): Promise<NodeFacts[]> {
    const nodes = await (await apis()).core.listNode();
    return nodes.items.map((n) => ({
        name: n.metadata?.name ?? "",
        labels: n.metadata?.labels ?? {},
        ready: n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
        taints: (n.spec?.taints ?? []).map((t) => ({ key: t.key, value: t.value, effect: t.effect })),
    }));
}

/** The API's 404 as undefined, anything else thrown. */
export async function orAbsent<T>(read: () => Promise<T>): Promise<T | undefined> {
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
export async function datasetsOnCluster(
    apis: () => Promise<ClusterApis>,
    config: StackConfig,
    owner: string,
    read: { cluster: boolean; trees: boolean },
): Promise<{ declared: DeclaredDataset[]; plan: ImportPlan }> {
    if (config.datasets.list.length === 0) return { declared: [], plan: planImport([], { imported: {} }) };
    const cluster = read.cluster ? await apis() : undefined;
    const { core, storage } = cluster ?? { core: undefined, storage: undefined };
    const { namespace } = config.kubernetes;
    const namespaceExists = cluster ? (await cluster.namespace(namespace)) !== undefined : false;
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

/**
 * The images core and Keycloak (iam) run with in the tenant's namespace now, from their Deployments
 * (none before the first up): what the preview compares with the release to say an upgrade.
 */
export async function runningImages(
    apis: () => Promise<ClusterApis>,
    namespace: string,
): Promise<{ core?: string; iam?: string }> {
    const image = async (name: string) =>
        (await orAbsent(async () => (await apis()).apps.readNamespacedDeployment({ name, namespace })))?.spec?.template
            ?.spec?.containers?.[0]?.image;
    return { core: await image("core"), iam: await image("iam") };
}

/**
 * The release label of the Job that backed up before the upgrade to `release` (none if there is
 * none): the stack keeps declaring it as it was, so that the update after an upgrade changes nothing.
 */
export async function upgradeBackupOf(
    apis: () => Promise<ClusterApis>,
    namespace: string,
    release: string,
): Promise<string | undefined> {
    const job = await orAbsent(async () =>
        (await apis()).batch.readNamespacedJob({ name: beforeUpgradeJobName(release), namespace }),
    );
    return job?.metadata?.labels?.[RELEASE_LABEL];
}

/**
 * Where the cluster's pods reach the API server: the addresses and ports of the `kubernetes` Service's
 * endpoints (a NetworkPolicy judges traffic after the Service's translation, so these, not 443, are what
 * a pod's egress must allow). Undefined when the cluster lists none.
 */
export async function apiServerEndpoints(apis: () => Promise<ClusterApis>): Promise<ApiServer | undefined> {
    const slices = await (
        await apis()
    ).discovery.listNamespacedEndpointSlice({
        namespace: "default",
        labelSelector: "kubernetes.io/service-name=kubernetes",
    });
    const addresses = [...new Set(slices.items.flatMap((s) => s.endpoints.flatMap((e) => e.addresses)))].sort();
    const ports = [
        ...new Set(slices.items.flatMap((s) => (s.ports ?? []).map((p) => p.port).filter((p) => p !== undefined))),
    ].sort((a, b) => a - b) as number[];
    return addresses.length > 0 && ports.length > 0 ? { addresses, ports } : undefined;
}
