// The machine-learning services of a tenant that opts in (config key ml), as data: the app engine with
// its database and task-image registry, SAM (segment-anything assisted annotation) and CBIR (image
// retrieval) with its Redis. Each is configured as upstream's compose file and chart configure it at the
// pinned commit (components/model/release.ts cites the files); the operator's weights replace the ones
// upstream's images download from a hub at build time (sam/Dockerfile.weights).
import type { Input } from "@pulumi/pulumi";
import { Images, Storage } from "./settings";
import { plainEnv, resources, SECRET_NAME, secretEnv, ServiceSpec } from "./spec";
import { APP_UID, CONTRACTS } from "./release";

/** The ML services a tenant can have; each names the components it deploys. */
export const ML_SERVICES = ["app-engine", "sam", "cbir"] as const;
export type MlService = (typeof ML_SERVICES)[number];

export const ML_PORTS = {
    appEngine: CONTRACTS["app-engine"].port,
    sam: CONTRACTS.sam.port,
    cbir: CONTRACTS.cbir.port,
    registry: 5000,
    cache: 6379,
    postgres: 5432,
};

/** Where core finds each service inside the tenant (core-config.yaml:185-194; compose.yaml:241-243). */
export const ML_URLS = {
    SAM_URL: `http://sam:${ML_PORTS.sam}`,
    CBIR_URL: `http://cbir:${ML_PORTS.cbir}`,
    APPENGINE_API_URL: `http://app-engine:${ML_PORTS.appEngine}`,
};

/** The namespace a tenant's task pods run in, as the chart names it (helm/charts/cytomine/templates/_helpers.tpl:86-88). */
export const tasksNamespaceOf = (namespace: string) => `${namespace}-engine-tasks`;

/** Inside every ML pod: the operator's weights, read-only; one folder per service. */
export const WEIGHTS_MOUNT = "/weights";
/** What the operator's weights folder must hold (the files upstream's images carry). */
export const WEIGHT_FILES = {
    sam: "sam/weights.pt", // sam/Dockerfile.weights; sam/app/config.py:23-24
    cbir: "cbir/resnet", // cbir/Dockerfile:57; cbir/cbir/config.py:25
} as const;

/** The quota of a tenant's task namespace (config key ml.tasks). */
export interface TaskLimits {
    /** CPU and memory all task pods together may request. */
    cpu: string;
    memory: string;
    /** Task pods at a time. */
    pods: number;
    /** What each helper container of a task pod requests and is limited to (its init and outputs containers). */
    helper: { cpu: string; memory: string };
    /** Set when the operator lets task containers run privileged: the reason (none by default). */
    privilegedReason?: string;
    /** VM target: the host loopback port the task-image registry is published on, one per tenant of a host. */
    registryPort: number;
}

/**
 * A task container's resources when its descriptor names none (app-engine/src/main/resources/
 * application.yml:48-51), and the helper containers' (application.yml:52-54). A task pod requests its
 * task container and the outputs-sending helper beside it, which run together; the init helpers run
 * before them (KubernetesScheduler.java:125-145,213-277).
 */
export const TASK_DEFAULT = { cpu: 1, memoryGi: 4 } as const;
export const HELPER_DEFAULT = { cpu: "1", memory: "1Gi" } as const;

/** A tenant's choice (config key ml, when enabled). */
export interface MlSettings {
    services: MlService[];
    /** Kubernetes: a claim of the tenant's namespace; VM: a folder of the host. */
    weights?: string;
    tasks: TaskLimits;
}

export interface MlOptions {
    services: readonly MlService[];
    images: Images;
    storage: Storage;
    /** The tenant's namespace (Kubernetes target): task pods run in tasksNamespaceOf(it). */
    namespace: string;
    /** The registry as the node's container runtime pulls task images from it (its Service's address). */
    registryAdvertised: Input<string>;
    /** What each helper container of a task pod requests (config key ml.tasks.helper). */
    helper: TaskLimits["helper"];
    /** VM target: task pods run through the task-pods service, not a cluster; unset on Kubernetes. */
    vmTasks?: VmTasks;
}

/**
 * On a VM the app engine's scheduler, which only creates pods (KubernetesScheduler.java), talks to the
 * task-pods service (components/vm/task-pods): a pods API that runs each pod's containers on the
 * host's Docker engine, with the checks of the Kubernetes target's task namespace (Role, Pod
 * Security, quota) and no privileged cluster (upstream's compose runs k3s privileged: compose.yaml).
 */
export interface VmTasks {
    /** The host folder task-pods keeps its pods in, bound at the same path: it names its files to Docker. */
    stateDir: string;
    /** The Docker network task containers join, which only the app engine and task-pods share. */
    network: string;
    /** The host loopback port the registry is published on: the host's engine pulls task images there. */
    registryPort: number;
    /** The quota of task pods (config key ml.tasks). */
    limits: Pick<TaskLimits, "cpu" | "memory" | "pods">;
}

/** The one namespace task-pods serves, and its port (the API server's usual one). */
export const VM_TASKS = { namespace: "tasks", port: 6443, service: "task-pods" } as const;
/**
 * The folders a task pod's hostPath volumes may name, themselves or below: cluster mode's run folders
 * and REF_STORAGE_BASE_PATH's default for datasets (application.yml:59-62; KubernetesScheduler.java:
 * 107-111). On Kubernetes the task namespace's admission policy holds pods to them; on a VM task-pods
 * does, keeping each under its own folder, never the host's.
 */
export const TASK_HOST_PATHS = ["/tmp/app-engine", "/data/datasets"];

const secret = (name: string, key: string) => secretEnv(SECRET_NAME, name, key);
const http = (path: string, port: number) => ({ httpGet: { path, port }, periodSeconds: 10 });
const slowStart = <P extends object>(probe: P) => ({ ...probe, failureThreshold: 60 });
const health = (component: string) => CONTRACTS[component].health[0].path;

function appEngine(o: MlOptions): ServiceSpec[] {
    return [
        {
            component: "app-engine-db",
            kind: "StatefulSet",
            image: o.images.appEngineDb,
            port: ML_PORTS.postgres,
            uid: APP_UID,
            // As compose.yaml:173-186: user and database appengine; the password is generated.
            env: [
                ...plainEnv({
                    POSTGRES_USER: "appengine",
                    POSTGRES_DB: "appengine",
                    PGDATA: "/var/lib/postgresql/data/pgdata",
                }),
                secret("POSTGRES_PASSWORD", "app-engine-db-password"),
            ],
            volumes: [{ name: "data", mountPath: "/var/lib/postgresql/data", size: o.storage.appEngineDb }],
            scratch: ["/var/run/postgresql", "/tmp"],
            readiness: { exec: { command: ["pg_isready", "-U", "appengine", "-d", "appengine"] }, periodSeconds: 10 },
            resources: resources("100m", "512Mi"),
            clients: ["app-engine"],
            routed: false,
            externalPorts: [],
        },
        {
            component: "registry",
            // A Deployment: its Service gets a cluster address, which nodes' container runtimes reach
            // without the cluster's DNS (a StatefulSet's Service is headless).
            kind: "Deployment",
            image: o.images.registry,
            port: ML_PORTS.registry,
            uid: APP_UID,
            // helm/charts/cytomine/templates/app-engine/registry.yaml:36-40.
            env: plainEnv({
                REGISTRY_STORAGE_DELETE_ENABLED: "true",
                REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: "/data",
            }),
            volumes: [{ name: "data", mountPath: "/data", size: o.storage.registry }],
            scratch: ["/tmp"],
            readiness: http("/v2/", ML_PORTS.registry),
            resources: resources("100m", "256Mi"),
            clients: ["app-engine"],
            routed: false,
            externalPorts: [],
            // The host's engine pulls task images there over HTTP, which it allows for 127.0.0.0/8
            // without configuration (dockerd --insecure-registry).
            ...(o.vmTasks ? { loopbackPort: o.vmTasks.registryPort } : {}),
        },
        {
            component: "app-engine",
            kind: "StatefulSet",
            image: o.images.appEngine,
            port: ML_PORTS.appEngine,
            uid: APP_UID,
            // helm/charts/cytomine/templates/app-engine/app-engine-config.yaml:6-17.
            env: [
                ...plainEnv({
                    DB_HOST: "app-engine-db",
                    DB_PORT: String(ML_PORTS.postgres),
                    DB_NAME: "appengine",
                    DB_USERNAME: "appengine",
                    API_PREFIX: "/app-engine/",
                    REGISTRY_URL: `http://registry:${ML_PORTS.registry}`,
                    SCHEDULER_USE_HOST_NETWORK: "false",
                    SCHEDULER_RUN_MODE: "cluster",
                    SCHEDULER_TASKS_RUNNER_IMAGE: o.images.tasksRunner,
                    ...scheduler(o),
                }),
                // scheduler.helper-containers-resources (application.yml:52-54) by Spring's relaxed binding.
                ...plainEnv({
                    SCHEDULER_HELPERCONTAINERSRESOURCES_CPU: o.helper.cpu,
                    SCHEDULER_HELPERCONTAINERSRESOURCES_RAM: o.helper.memory,
                }),
                {
                    name: "SCHEDULER_REGISTRY_ADVERTISED_URL",
                    value: o.vmTasks ? registryAdvertisedOf(o.vmTasks) : o.registryAdvertised,
                },
                secret("DB_PASSWORD", "app-engine-db-password"),
                // fabric8 takes the API's token from kubernetes.auth.token's variable over its service
                // account's (fabric8io/kubernetes-client Config.java, configFromSysPropsOrEnvVars).
                ...(o.vmTasks ? [secret("KUBERNETES_AUTH_TOKEN", TASK_PODS_TOKEN)] : []),
            ],
            volumes: [{ name: "data", mountPath: "/data", size: o.storage.appEngine }],
            scratch: ["/tmp"],
            readiness: http(health("app-engine"), ML_PORTS.appEngine),
            startup: slowStart(http(health("app-engine"), ML_PORTS.appEngine)),
            resources: resources("250m", "1Gi"),
            clients: ["core"],
            // Task pods fetch their inputs and post their outputs and state (KubernetesScheduler.java:173-203).
            clientNamespaces: [o.vmTasks ? VM_TASKS.namespace : tasksNamespaceOf(o.namespace)],
            routed: false,
            externalPorts: [],
            kubernetesApiReason:
                "it creates, watches and deletes task pods in the tenant's task namespace (KubernetesScheduler.java:294-349)",
        },
        ...(o.vmTasks ? [taskPods(o.images, o.vmTasks)] : []),
    ];
}

const TASK_PODS_TOKEN = "task-pods-token";
/** The registry as the host's engine pulls from it: its loopback port, which needs no TLS for Docker. */
const registryAdvertisedOf = (t: VmTasks) => `127.0.0.1:${t.registryPort}`;

/** Where the scheduler finds its pods API and the namespace of task pods; task pods find the app engine. */
function scheduler(o: MlOptions): Record<string, string> {
    if (!o.vmTasks)
        return {
            // Task pods run in another namespace: the service's name qualified with the tenant's.
            SCHEDULER_ADVERTISED_URL: `http://app-engine.${o.namespace}.svc:${ML_PORTS.appEngine}`,
            SCHEDULER_TASKS_NAMESPACE: tasksNamespaceOf(o.namespace),
        };
    return {
        // On the network task containers share with the app engine (components/vm/compose.ts).
        SCHEDULER_ADVERTISED_URL: `http://app-engine:${ML_PORTS.appEngine}`,
        SCHEDULER_TASKS_NAMESPACE: VM_TASKS.namespace,
        // fabric8's kubernetes.master (Config.java, configFromSysPropsOrEnvVars), in place of a cluster's.
        KUBERNETES_MASTER: `https://${VM_TASKS.service}:${VM_TASKS.port}`,
    };
}

/** The VM's pods API (components/vm/task-pods/README.md has its contract). */
function taskPods(images: Images, t: VmTasks): ServiceSpec {
    return {
        component: VM_TASKS.service,
        kind: "Deployment",
        image: images.taskPods,
        port: VM_TASKS.port,
        // Root for the Docker socket, which is root's (0660 root:docker); with no capability at all.
        uid: 0,
        env: [
            ...plainEnv({
                TASK_PODS_NAMESPACE: VM_TASKS.namespace,
                TASK_PODS_LISTEN: `:${VM_TASKS.port}`,
                TASK_PODS_NETWORK: t.network,
                TASK_PODS_SERVICE_HOST: VM_TASKS.service,
                TASK_PODS_STATE_DIR: t.stateDir,
                TASK_PODS_HOST_PATHS: TASK_HOST_PATHS.join(","),
                TASK_PODS_QUOTA_CPU: t.limits.cpu,
                TASK_PODS_QUOTA_MEMORY: t.limits.memory,
                TASK_PODS_QUOTA_PODS: String(t.limits.pods),
                // What the scheduler's pods name: task images at the registry it advertises, and the
                // tasks runner (KubernetesScheduler.java:125-277).
                TASK_PODS_IMAGES: [`${registryAdvertisedOf(t)}/`, images.tasksRunner].join(","),
            }),
            secret("TASK_PODS_TOKEN", TASK_PODS_TOKEN),
        ],
        volumes: [],
        scratch: [],
        hostBinds: [
            { path: "/var/run/docker.sock", reason: "it runs each task pod's containers on the host's Docker engine" },
            { path: t.stateDir, reason: "it names its pods' files to Docker by their host path" },
        ],
        readiness: { httpGet: { path: "/version", port: VM_TASKS.port, scheme: "HTTPS" }, periodSeconds: 10 },
        resources: resources("50m", "128Mi"),
        clients: ["app-engine"],
        // The task pods' helper reads its own pod's status (KubernetesScheduler.java:213-222).
        clientNamespaces: [VM_TASKS.namespace],
        routed: false,
        externalPorts: [],
    };
}

function sam(o: MlOptions): ServiceSpec {
    return {
        component: "sam",
        kind: "Deployment",
        image: o.images.sam,
        port: ML_PORTS.sam,
        uid: APP_UID,
        env: plainEnv({
            API_BASE_PATH: "/sam",
            WEIGHTS_PATH: `${WEIGHTS_MOUNT}/${WEIGHT_FILES.sam.split("/")[0]}`,
            TORCHINDUCTOR_CACHE_DIR: "/.cache/torchinductor",
        }),
        volumes: [],
        scratch: ["/tmp", "/.cache"],
        weights: WEIGHTS_MOUNT,
        readiness: http(health("sam"), ML_PORTS.sam),
        startup: slowStart(http(health("sam"), ML_PORTS.sam)),
        resources: resources("500m", "4Gi"),
        clients: ["core"],
        routed: false,
        externalPorts: [],
    };
}

function cbir(o: MlOptions): ServiceSpec[] {
    return [
        {
            component: "cbir-cache",
            kind: "Deployment",
            image: o.images.cbirCache,
            port: ML_PORTS.cache,
            uid: APP_UID,
            env: [],
            volumes: [],
            scratch: ["/data"],
            readiness: { exec: { command: ["redis-cli", "ping"] }, periodSeconds: 10 },
            resources: resources("50m", "256Mi"),
            clients: ["cbir"],
            routed: false,
            externalPorts: [],
        },
        {
            component: "cbir",
            kind: "StatefulSet",
            image: o.images.cbir,
            port: ML_PORTS.cbir,
            uid: APP_UID,
            // helm/charts/cytomine/templates/cbir/cbir-config.yaml:6-10, cbir.yaml:57-59.
            env: plainEnv({
                API_BASE_PATH: "/cbir",
                HOST: "cbir-cache",
                PORT: String(ML_PORTS.cache),
                DB: "0",
                // Its volume's root, as the chart leaves it (cbir-config.yaml; config.py:15): the folder must exist.
                DATA_PATH: "/data",
                EXTRACTOR: "resnet",
                WEIGHTS: `${WEIGHTS_MOUNT}/${WEIGHT_FILES.cbir}`,
                TORCHINDUCTOR_CACHE_DIR: "/.cache/torchinductor",
                NUM_THREADS: "4",
            }),
            volumes: [{ name: "data", mountPath: "/data", size: o.storage.cbir }],
            scratch: ["/tmp", "/.cache"],
            weights: WEIGHTS_MOUNT,
            readiness: http(health("cbir"), ML_PORTS.cbir),
            startup: slowStart(http(health("cbir"), ML_PORTS.cbir)),
            // values.yaml:244-252.
            resources: resources("1000m", "2Gi"),
            clients: ["core"],
            routed: false,
            externalPorts: [],
        },
    ];
}

/** The ML services a tenant chose, in the order they start. */
export function mlServices(o: MlOptions): ServiceSpec[] {
    return [
        ...(o.services.includes("app-engine") ? appEngine(o) : []),
        ...(o.services.includes("sam") ? [sam(o)] : []),
        ...(o.services.includes("cbir") ? cbir(o) : []),
    ];
}

/** What core is told about the ML services: their URLs always (it requires them), the app engine's switch. */
export function coreMlEnv(services: readonly MlService[]): Record<string, string> {
    const appEngine = services.includes("app-engine");
    return {
        SAM_URL: ML_URLS.SAM_URL,
        CBIR_URL: ML_URLS.CBIR_URL,
        // Without an app engine core offers no tasks (its default is on, at http://localhost: application.yml:135-138).
        APPENGINE_ENABLED: String(appEngine),
        ...(appEngine ? { APPENGINE_API_URL: ML_URLS.APPENGINE_API_URL } : {}),
    };
}
