// Cytomine's data tier in a tenant's namespace: PostGIS and MongoDB as StatefulSets with their own
// volumes, and the PIMS cache (Redis). Passwords are generated and kept in a Secret; each service
// accepts connections only from the components that use it.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { tenantLabels } from "./namespace";
import { containerSecurityContext, podSecurityContext, resources } from "./security";

/** Pinned images (domain notes §1.3: the versions of Cytomine's current compose file). */
export const DATA_IMAGES = {
    postgis: "postgis/postgis:15-3.5",
    mongo: "mongo:5.0-focal",
    cache: "redis:7.2",
} as const;

export interface CytomineDataArgs {
    namespace: pulumi.Input<string>;
    tenant: string;
    /** Volume sizes, e.g. "10Gi". */
    storage?: { postgis?: string; mongo?: string };
    /** Keep the StatefulSets (and so their volume claims) from deletion and replacement. */
    protectVolumes: boolean;
}

/** One service of the data tier, described as data; `dataService` turns it into resources. */
export interface DataServiceSpec {
    component: string;
    image: string;
    port: number;
    /** UID the image's server runs as. */
    uid: number;
    env: k8s.types.input.core.v1.EnvVar[];
    /** A persistent volume (StatefulSet); without one the service is a Deployment. */
    volume?: { mountPath: string; size: string };
    /** Paths the server writes besides its volume (emptyDir, the root filesystem stays read-only). */
    scratch: string[];
    probe: k8s.types.input.core.v1.Probe;
    /** Components allowed to connect. */
    clients: string[];
    resources: k8s.types.input.core.v1.ResourceRequirements;
}

const secretEnv = (secret: pulumi.Input<string>, name: string, key: string) => ({
    name,
    valueFrom: { secretKeyRef: { name: secret, key } },
});

export function dataServices(
    secret: pulumi.Input<string>,
    storage: CytomineDataArgs["storage"] = {},
): DataServiceSpec[] {
    return [
        {
            component: "postgis",
            image: DATA_IMAGES.postgis,
            port: 5432,
            uid: 999,
            env: [
                { name: "POSTGRES_USER", value: "docker" },
                { name: "POSTGRES_DB", value: "docker" },
                secretEnv(secret, "POSTGRES_PASSWORD", "postgres-password"),
                { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" },
            ],
            volume: { mountPath: "/var/lib/postgresql/data", size: storage.postgis ?? "10Gi" },
            scratch: ["/var/run/postgresql", "/tmp"],
            probe: { exec: { command: ["pg_isready", "-U", "docker", "-d", "docker"] }, periodSeconds: 10 },
            clients: ["core"],
            resources: resources("250m", "1Gi"),
        },
        {
            component: "mongo",
            image: DATA_IMAGES.mongo,
            port: 27017,
            uid: 999,
            env: [
                { name: "MONGO_INITDB_ROOT_USERNAME", value: "mongoadmin" },
                { name: "MONGO_INITDB_DATABASE", value: "cytomine" },
                secretEnv(secret, "MONGO_INITDB_ROOT_PASSWORD", "mongo-password"),
            ],
            volume: { mountPath: "/data/db", size: storage.mongo ?? "5Gi" },
            scratch: ["/tmp", "/data/configdb"],
            probe: { tcpSocket: { port: 27017 }, periodSeconds: 10 },
            clients: ["core"],
            resources: resources("100m", "512Mi"),
        },
        {
            component: "pims-cache",
            image: DATA_IMAGES.cache,
            port: 6379,
            uid: 999,
            env: [],
            scratch: ["/data"],
            probe: { tcpSocket: { port: 6379 }, periodSeconds: 10 },
            clients: ["pims"],
            resources: resources("50m", "256Mi"),
        },
    ];
}

/** The pod template of a data service: restricted security, scratch volumes, probes. */
export function dataPodTemplate(tenant: string, s: DataServiceSpec): k8s.types.input.core.v1.PodTemplateSpec {
    const scratch = s.scratch.map((path, i) => ({ name: `scratch-${i}`, path }));
    return {
        metadata: { labels: tenantLabels(tenant, s.component) },
        spec: {
            automountServiceAccountToken: false,
            securityContext: podSecurityContext(s.uid),
            containers: [
                {
                    name: s.component,
                    image: s.image,
                    ports: [{ name: "server", containerPort: s.port }],
                    env: s.env,
                    readinessProbe: s.probe,
                    livenessProbe: { ...s.probe, initialDelaySeconds: 30, failureThreshold: 6 },
                    securityContext: containerSecurityContext(),
                    resources: s.resources,
                    volumeMounts: [
                        ...(s.volume ? [{ name: "data", mountPath: s.volume.mountPath }] : []),
                        ...scratch.map((v) => ({ name: v.name, mountPath: v.path })),
                    ],
                },
            ],
            volumes: scratch.map((v) => ({ name: v.name, emptyDir: {} })),
        },
    };
}

export class CytomineData extends pulumi.ComponentResource {
    /** Name of the Secret holding the generated database passwords. */
    public readonly secretName: pulumi.Output<string>;
    /** In-cluster host names of the services, by component. */
    public readonly hosts: pulumi.Output<Record<string, string>>;

    constructor(name: string, args: CytomineDataArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cytomine:kubernetes:CytomineData", name, {}, opts);
        const child = { parent: this };
        const ns = args.namespace;

        const password = (part: string) =>
            new random.RandomPassword(`${name}-${part}-password`, { length: 32, special: false }, child).result;
        const secret = new k8s.core.v1.Secret(
            `${name}-passwords`,
            {
                metadata: { name: "cytomine-data", namespace: ns, labels: tenantLabels(args.tenant, "data") },
                stringData: { "postgres-password": password("postgres"), "mongo-password": password("mongo") },
            },
            child,
        );

        const hosts: Record<string, pulumi.Output<string>> = {};
        for (const s of dataServices(secret.metadata.name, args.storage)) {
            const labels = tenantLabels(args.tenant, s.component);
            const service = new k8s.core.v1.Service(
                `${name}-${s.component}`,
                {
                    metadata: { name: s.component, namespace: ns, labels },
                    spec: { selector: labels, ports: [{ name: "server", port: s.port, targetPort: "server" }] },
                },
                child,
            );
            hosts[s.component] = pulumi.interpolate`${service.metadata.name}.${service.metadata.namespace}.svc`;
            const template = dataPodTemplate(args.tenant, s);
            if (s.volume) {
                new k8s.apps.v1.StatefulSet(
                    `${name}-${s.component}`,
                    {
                        metadata: { name: s.component, namespace: ns, labels },
                        spec: {
                            serviceName: s.component,
                            replicas: 1,
                            selector: { matchLabels: labels },
                            template,
                            volumeClaimTemplates: [
                                {
                                    metadata: { name: "data", labels },
                                    spec: {
                                        accessModes: ["ReadWriteOnce"],
                                        resources: { requests: { storage: s.volume.size } },
                                    },
                                },
                            ],
                            // The claims, and so the data, outlive the StatefulSet.
                            persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
                        },
                    },
                    { ...child, protect: args.protectVolumes },
                );
            } else {
                new k8s.apps.v1.Deployment(
                    `${name}-${s.component}`,
                    {
                        metadata: { name: s.component, namespace: ns, labels },
                        spec: { replicas: 1, selector: { matchLabels: labels }, template },
                    },
                    child,
                );
            }
            new k8s.networking.v1.NetworkPolicy(
                `${name}-${s.component}-ingress`,
                {
                    metadata: { name: `${s.component}-ingress`, namespace: ns, labels },
                    spec: {
                        podSelector: { matchLabels: labels },
                        policyTypes: ["Ingress"],
                        ingress: [
                            {
                                from: s.clients.map((c) => ({
                                    podSelector: { matchLabels: tenantLabels(args.tenant, c) },
                                })),
                                ports: [{ port: s.port, protocol: "TCP" }],
                            },
                        ],
                    },
                },
                child,
            );
        }

        this.secretName = secret.metadata.name;
        this.hosts = pulumi.output(hosts);
        this.registerOutputs({ secretName: this.secretName, hosts: this.hosts });
    }
}
