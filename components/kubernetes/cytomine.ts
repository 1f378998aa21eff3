// A tenant's Cytomine on Kubernetes: its namespace, generated secrets, services (databases, core,
// PIMS, web UI, optionally Keycloak), one allow-policy per service, and the public route.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { tenantLabels, TenantNamespace } from "./namespace";
import { routeTable } from "../model/routes";
import { httpRouteSpec, ingressAnnotations, ingressSpec, RouteOptions, Routing } from "./routes";
import { secretKeysOf } from "../model/secrets";
import { createRegistrySecret, createTenantSecret, REGISTRY_SECRET_NAME, RegistryCredentials } from "./secrets";
import { cytomineServices, KeycloakMode, SECRET_NAME, ServicesOptions } from "../model/services";
import { Images, isLocalHost, Storage } from "../model/settings";
import {
    ApiServer,
    createWorkload,
    networkPolicySpec,
    Placement,
    withImagePullSecret,
    withPlacement,
} from "./workload";
import { DatasetImport, DatasetVolumes } from "./datasets";
import type { DeclaredDataset, ImportPlan } from "../model/datasets";
import type { BackupSettings } from "../model/backups";
import { kubeBackupPlan, TenantBackups, withBackupClients } from "./backups";
import { ML_PORTS, MlSettings } from "../model/ml";
import { TaskNamespace } from "./tasks";

/** The tenant's Kubernetes settings (namespace, images, sizes, routing), as the stack config gives them. */
export interface KubernetesSettings {
    /** The tenant's namespace. */
    namespace: string;
    storage: Storage;
    routing: Routing;
    ingressClass: string;
    /** Namespace of the ingress controller or gateway: the only one let into the tenant's. */
    routerNamespace: string;
    gateway?: { namespace: string; name: string };
    tlsSecret?: string;
    /** The StorageClass of the tenant's volume claims; unset: the cluster's default. */
    storageClass?: string;
    /** The node labels every pod of the tenant requires and the taints it tolerates (none: anywhere). */
    nodeSelector: Record<string, string>;
    tolerations: Placement["tolerations"];
}

export interface CytomineArgs extends KubernetesSettings {
    tenant: string;
    /** The image of each service (both targets share them: StackConfig.images). */
    images: Images;
    /** The stack that owns the namespace. */
    owner: string;
    /** Without trailing slash. */
    publicUrl: string;
    localStack: boolean;
    keycloak: {
        mode: KeycloakMode;
        /** Public origin of Keycloak (served under /iam). */
        origin: string;
        adminUser: string;
        /** An external Keycloak as the tenant's pods reach it, when not at its public origin. */
        internalOrigin?: string;
        /** Required for an external Keycloak; generated for one in the namespace when absent. */
        adminPassword?: pulumi.Input<string>;
    };
    /**
     * Credentials for the registry the images come from: the image pull Secret REGISTRY_SECRET_NAME,
     * named by every pod of the tenant. Unset: the images are pulled anonymously.
     */
    registry?: RegistryCredentials;
    /** Manifests are rendered to files, not applied: no Secret is declared (its values would be written out). */
    render: boolean;
    /** Volume claims (databases, images) are protected from deletion and replacement and survive destroy. */
    protectVolumes: boolean;
    /**
     * Scheduled backups to an S3-compatible bucket (components/kubernetes/backups.ts); unset: none.
     * The repository's key is generated unless `key` gives an existing repository's.
     */
    backups?: {
        settings: BackupSettings;
        /** The release the tenant runs: each backup is tagged with it. */
        release: string;
        key?: pulumi.Input<string>;
        s3SecretAccessKey?: pulumi.Input<string>;
        /** An upgrade of the running tenant: its data is backed up before the services change. */
        upgradeFrom?: { release: string; to: string };
    };
    /** The machine-learning services (components/model/ml.ts); unset: none. */
    ml?: MlSettings;
    /** The operator's CPU and memory by component (config key resources). */
    resources?: ServicesOptions["resources"];
    /** Where pods reach the API server (the preview reads it; unknown in a render): the app engine's egress. */
    apiServer?: ApiServer;
    /** Bigpicture datasets: read-only claims mounted into PIMS, and the import Job (components/kubernetes/datasets.ts). */
    datasets?: {
        list: DeclaredDataset[];
        /** From the record the preview read in the namespace. */
        plan: ImportPlan;
        importImage: string;
        storageClass: string;
        sdafsCredentials?: pulumi.Input<string>;
        /** The sdafs CSI driver, when this stack installs it. */
        dependsOn?: pulumi.Resource[];
    };
}

/**
 * Where an operator finds core's built-in admin password (users sign in through Keycloak; the realm
 * admin is the stack output cytomineAdminPassword).
 */
export function adminCredentialsHint(namespace: string): string {
    return `kubectl -n ${namespace} get secret ${SECRET_NAME} -o jsonpath='{.data.admin-password}' | base64 -d`;
}

/** The public host of the route; none for an address (local environment), where any host matches. */
export function routeHost(publicUrl: string): string | undefined {
    const host = new URL(publicUrl).hostname;
    return isLocalHost(host) ? undefined : host;
}

/** pulumi-kubernetes' annotation that makes its server-side applies win field conflicts. */
export const FORCE_APPLY_ANNOTATION = "pulumi.com/patchForce";

/**
 * A field changed by hand (`kubectl edit`, `kubectl set image`) belongs to that field manager, and
 * server-side apply then refuses the stack's value: preview and up fail on the conflict instead of
 * repairing the drift. The tenant's objects are the stack's alone, so its applies force
 * (kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts).
 */
const forceApplies: pulumi.ResourceTransformation = (a) => {
    const metadata = (a.props as { metadata?: { annotations?: Record<string, string> } }).metadata;
    if (!a.type.startsWith("kubernetes:") || metadata === undefined) return undefined;
    return {
        props: {
            ...a.props,
            metadata: { ...metadata, annotations: { ...metadata.annotations, [FORCE_APPLY_ANNOTATION]: "true" } },
        },
        opts: a.opts,
    };
};

/** The image pull Secret the pods name: what to create where it is not declared (render mode). */
export interface PullSecretToProvide {
    name: string;
    type: "kubernetes.io/dockerconfigjson";
    key: ".dockerconfigjson";
    /** The registry it logs in to (the user name and password are the operator's). */
    server: string;
}

export class Cytomine extends pulumi.ComponentResource {
    public readonly url: pulumi.Output<string>;
    public readonly namespace: pulumi.Output<string>;
    /** How to read the Cytomine admin password (never the password itself). */
    public readonly adminCredentials: pulumi.Output<string>;
    /**
     * The Secret the pods read, and its keys, and the image pull Secret with registry credentials: in
     * render mode the operator provides them.
     */
    public readonly secret: pulumi.Output<{ name: string; keys: string[]; pullSecret?: PullSecretToProvide }>;
    /** Keycloak in the namespace: its admin password, and the objects that are up once it serves. */
    public readonly keycloak?: { adminPassword: pulumi.Output<string>; ready: pulumi.Resource[] };
    /** The backup repository's key (secret; none without backups). */
    public readonly backupKey?: pulumi.Output<string>;
    /**
     * With the app engine: the task-image registry's address (its Service's), from which the nodes'
     * container runtime pulls task images over plain HTTP (docs/operating.md says how to allow it).
     */
    public readonly taskRegistry?: pulumi.Output<string>;
    /** The last dataset import Job (none without datasets). */
    public readonly lastDatasetImport?: pulumi.Output<{ job: string; datasets: string[] } | undefined>;

    constructor(name: string, args: CytomineArgs, opts?: pulumi.ComponentResourceOptions) {
        // Every pod of the tenant (the services, the dataset import Job) pulls with the registry's
        // credentials when there are some.
        const registry = args.registry;
        const pullSecret: pulumi.ResourceTransformation = (a) => {
            const props = registry ? withImagePullSecret(a.type, a.props, REGISTRY_SECRET_NAME) : undefined;
            return props ? { props, opts: a.opts } : undefined;
        };
        // And every pod runs where the tenant's placement says (the real node of the local cluster, a
        // node pool), when it says anything.
        const placement: Placement = { nodeSelector: args.nodeSelector, tolerations: args.tolerations };
        const placed: pulumi.ResourceTransformation = (a) => {
            const props = withPlacement(a.type, a.props, placement);
            return props ? { props, opts: a.opts } : undefined;
        };
        const placing = Object.keys(args.nodeSelector).length > 0 || args.tolerations.length > 0;
        super(
            "cytomine:kubernetes:Cytomine",
            name,
            {},
            {
                ...opts,
                transformations: [
                    ...(opts?.transformations ?? []),
                    ...(registry ? [pullSecret] : []),
                    ...(placing ? [placed] : []),
                    ...(args.render ? [] : [forceApplies]),
                ],
            },
        );
        const child = { parent: this };
        const tenantNs = new TenantNamespace(
            `${name}-namespace`,
            {
                namespace: args.namespace,
                tenant: args.tenant,
                owner: args.owner,
                retainOnDelete: args.protectVolumes,
            },
            child,
        );
        const namespace = tenantNs.name;
        const datasets = args.datasets && args.datasets.list.length > 0 ? args.datasets : undefined;
        const pimsDatasets = datasets
            ? new DatasetVolumes(
                  `${name}-datasets`,
                  {
                      tenant: args.tenant,
                      namespace,
                      datasets: datasets.list,
                      run: datasets.plan.run?.datasets ?? [],
                      served: datasets.plan.served,
                      pimsImage: args.images.pims,
                      sdafsCredentials: datasets.sdafsCredentials,
                      storageClass: datasets.storageClass,
                      dependsOn: datasets.dependsOn,
                      render: args.render,
                  },
                  child,
              ).pims
            : undefined;

        // The app engine tells task pods to pull from the registry's Service address, known once it exists.
        let resolveRegistry: ((address: pulumi.Input<string>) => void) | undefined;
        const registryAddress = pulumi.output(new Promise<pulumi.Input<string>>((r) => (resolveRegistry = r)));
        const services = cytomineServices({
            images: args.images,
            storage: args.storage,
            publicUrl: args.publicUrl,
            keycloak: args.keycloak,
            datasets: datasets !== undefined,
            resources: args.resources,
            ...(args.ml
                ? {
                      ml: {
                          services: args.ml.services,
                          namespace: args.namespace,
                          registryAdvertised: registryAddress,
                          helper: args.ml.tasks.helper,
                      },
                  }
                : {}),
        });
        const tasks = args.ml?.services.includes("app-engine")
            ? new TaskNamespace(
                  `${name}-tasks`,
                  {
                      tenant: args.tenant,
                      namespace,
                      namespaceName: args.namespace,
                      owner: args.owner,
                      limits: args.ml.tasks,
                      privilegedReason: args.ml.tasks.privilegedReason,
                      apiServer: args.apiServer,
                      ...(placing ? { placement } : {}),
                  },
                  child,
              )
            : undefined;
        const keys = secretKeysOf(services, SECRET_NAME);
        const generated = args.render
            ? undefined
            : createTenantSecret(
                  `${name}-secrets`,
                  {
                      namespace,
                      name: SECRET_NAME,
                      labels: tenantLabels(args.tenant),
                      keys,
                      keycloakAdminPassword: args.keycloak.adminPassword,
                  },
                  this,
              );

        // Not declared in render mode, as the tenant's Secret: its password would be written out.
        const registrySecret =
            registry && !args.render
                ? createRegistrySecret(
                      `${name}-registry`,
                      { namespace, labels: tenantLabels(args.tenant), registry },
                      this,
                  )
                : undefined;
        const secretsFirst = [...(generated ? [generated.secret] : []), ...(registrySecret ? [registrySecret] : [])];

        const backupPlan =
            args.backups && kubeBackupPlan(args.tenant, args.backups.release, args.images.restic, services);
        // The databases' policies let the backup pods in.
        const served = backupPlan ? withBackupClients(services, backupPlan) : services;
        let resolveBackedUp: ((r: pulumi.Resource[]) => void) | undefined;
        const backups =
            args.backups && backupPlan
                ? new TenantBackups(
                      `${name}-backups`,
                      {
                          namespace,
                          plan: backupPlan,
                          settings: args.backups.settings,
                          key: args.backups.key,
                          s3SecretAccessKey: args.backups.s3SecretAccessKey,
                          protect: args.protectVolumes,
                          render: args.render,
                          // A first run never meets a database still starting.
                          dependsOn: new Promise((resolve) => (resolveBackedUp = resolve)),
                          upgradeFrom: args.backups.upgradeFrom,
                      },
                      child,
                  )
                : undefined;
        this.backupKey = backups?.key;
        const databases = backupPlan?.databases.map((d) => d.component) ?? [];

        const workloads: Record<string, pulumi.Resource[]> = {};
        const kubeServices: Record<string, k8s.core.v1.Service> = {};
        for (const s of served) {
            const part = `${name}-${s.component}`;
            const created = createWorkload(part, s, {
                namespace,
                tenant: args.tenant,
                parent: this,
                protectVolumes: args.protectVolumes,
                storageClass: args.storageClass,
                // An upgrade changes the services only once the running versions' data is backed up.
                dependsOn: [
                    ...secretsFirst,
                    ...(backups?.beforeUpgrade && !databases.includes(s.component) ? [backups.beforeUpgrade] : []),
                    // The app engine watches task pods from its start: its rights come first.
                    ...(tasks && s.kubernetesApiReason ? [tasks] : []),
                ],
                extra: s.component === "pims" ? pimsDatasets : undefined,
                weightsClaim: args.ml?.weights,
            });
            workloads[s.component] = [created.workload, created.service];
            kubeServices[s.component] = created.service;
            new k8s.networking.v1.NetworkPolicy(
                `${part}-policy`,
                {
                    metadata: { name: s.component, namespace, labels: tenantLabels(args.tenant, s.component) },
                    spec: networkPolicySpec(args.tenant, s, served, args.routerNamespace, args.apiServer),
                },
                child,
            );
        }

        const registryService = kubeServices["registry"];
        if (registryService)
            this.taskRegistry = registryService.spec.clusterIP.apply((ip) => `${ip}:${ML_PORTS.registry}`);
        resolveRegistry?.(this.taskRegistry ?? "");

        // The schedule waits for what it backs up, declared below.
        resolveBackedUp?.([
            ...secretsFirst,
            ...(backupPlan?.databases.flatMap((d) => workloads[d.component]) ?? []),
            ...(backupPlan?.claims.flatMap((c) => workloads[c.component]) ?? []),
        ]);

        if (datasets)
            this.lastDatasetImport = new DatasetImport(
                `${name}-datasets-import`,
                {
                    tenant: args.tenant,
                    namespace,
                    datasets: datasets.list,
                    plan: datasets.plan,
                    image: datasets.importImage,
                    dependsOn: [...workloads["core"], ...workloads["pims"], ...(generated ? [generated.secret] : [])],
                },
                child,
            ).lastImport;

        const inNamespace = args.keycloak.mode === "namespace";
        const route: RouteOptions = {
            host: routeHost(args.publicUrl),
            routes: routeTable(inNamespace),
            ingressClass: args.ingressClass,
            tlsSecret: args.tlsSecret,
            skipAwait: args.localStack,
        };
        const metadata = { name: "cytomine", namespace, labels: tenantLabels(args.tenant, "route") };
        const published =
            args.routing === "httproute" && args.gateway
                ? new k8s.apiextensions.CustomResource(
                      `${name}-route`,
                      {
                          apiVersion: "gateway.networking.k8s.io/v1",
                          kind: "HTTPRoute",
                          metadata,
                          spec: httpRouteSpec(route, args.gateway),
                      },
                      child,
                  )
                : new k8s.networking.v1.Ingress(
                      `${name}-ingress`,
                      { metadata: { ...metadata, annotations: ingressAnnotations(route) }, spec: ingressSpec(route) },
                      child,
                  );

        this.url = pulumi.output(args.publicUrl);
        this.namespace = namespace;
        this.adminCredentials = namespace.apply(adminCredentialsHint);
        const pullSecretToProvide: PullSecretToProvide | undefined = registry && {
            name: REGISTRY_SECRET_NAME,
            type: "kubernetes.io/dockerconfigjson",
            key: ".dockerconfigjson",
            server: registry.server,
        };
        this.secret = pulumi.output({
            name: SECRET_NAME,
            keys,
            ...(pullSecretToProvide ? { pullSecret: pullSecretToProvide } : {}),
        });
        this.keycloak =
            inNamespace && generated
                ? {
                      adminPassword: generated.values["keycloak-admin-password"],
                      ready: [...workloads["iam"], published],
                  }
                : undefined;
        this.registerOutputs({
            url: this.url,
            namespace: this.namespace,
            adminCredentials: this.adminCredentials,
            secret: this.secret,
            keycloakAdminPassword: this.keycloak?.adminPassword,
            backupKey: this.backupKey,
            taskRegistry: this.taskRegistry,
        });
    }
}
