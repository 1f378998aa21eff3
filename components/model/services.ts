// Cytomine's services, as data: images, environment, volumes, probes and who talks to whom. What
// each release service needs comes from the release data (./release.ts, which cites upstream's files
// at the pinned commit); this file says where the stack points each setting. Databases and caches are
// stock images configured as upstream's compose file and Helm chart configure them.
import { Images, Storage } from "./settings";
import { plainEnv, ResourceOverride, resources, SECRET_NAME, secretEnv, ServiceSpec, withResources } from "./spec";
import { APP_UID, CONTRACTS, SIGN_IN } from "./release";
import { IMPORT_VIEW_PATH } from "./datasets";
import { coreMlEnv, MlOptions, mlServices } from "./ml";

/** external: an existing Keycloak; namespace: Keycloak deployed beside Cytomine, served at <publicUrl>/iam. */
export const KEYCLOAK_MODES = ["external", "namespace"] as const;
export type KeycloakMode = (typeof KEYCLOAK_MODES)[number];

export { SECRET_NAME };
const secret = (name: string, key: string) => secretEnv(SECRET_NAME, name, key);

// web-ui's nginx listens on 80 (its image's nginx.conf): as a non-root user that relies on the runtime
// allowing unprivileged ports (net.ipv4.ip_unprivileged_port_start=0, the default of containerd 2 and Docker).
export const PORTS = {
    core: CONTRACTS.core.port,
    repository: CONTRACTS.repository.port,
    webUi: CONTRACTS["web-ui"].port,
    pims: CONTRACTS.pims.port,
    meilisearch: CONTRACTS.meilisearch.port,
    cache: 6379,
    postgres: 5432,
    mongo: 27017,
    iam: 8100,
};
/** Keycloak's management interface (health), as in Cytomine's Helm chart. */
const IAM_MANAGEMENT_PORT = 9000;

export interface ServicesOptions {
    images: Images;
    storage: Storage;
    /** The tenant's public URL, without trailing slash. */
    publicUrl: string;
    /** `internalOrigin`: an external Keycloak as the tenant's services reach it, when not at its public origin. */
    keycloak: { mode: KeycloakMode; origin: string; adminUser: string; internalOrigin?: string };
    /**
     * Bigpicture datasets are declared: PIMS imports from the import view (components/model/datasets.ts),
     * into which each run links the buckets of its datasets, mounted read-only under /data/datasets.
     */
    datasets?: boolean;
    /** The machine-learning services the tenant chose (components/model/ml.ts); none when unset. */
    ml?: Omit<MlOptions, "images" | "storage">;
    /** The operator's CPU and memory by component (config key resources). */
    resources?: Partial<Record<string, ResourceOverride>>;
}

/** Every component a tenant may run, whatever its options (config key resources names them). */
export const SERVICE_COMPONENTS = [
    "postgis",
    "mongo",
    "pims-cache",
    "meilisearch",
    "repository",
    "core",
    "pims",
    "web-ui",
    "iam-db",
    "iam",
    "app-engine-db",
    "registry",
    "app-engine",
    "sam",
    "cbir-cache",
    "cbir",
] as const;

const exec = (...command: string[]) => ({ exec: { command }, periodSeconds: 10 });
const http = (path: string, port: number, periodSeconds = 10) => ({ httpGet: { path, port }, periodSeconds });
/** Up to ten minutes to start (core and Keycloak migrate their databases on first start). */
const slowStart = <P extends object>(probe: P) => ({ ...probe, failureThreshold: 60 });
/** The contract's first health endpoint of a release service. */
const healthOf = (component: string) => CONTRACTS[component].health[0].path;

function postgres(component: string, image: string, size: string, user: string, passwordKey: string): ServiceSpec {
    return {
        component,
        kind: "StatefulSet",
        image,
        port: PORTS.postgres,
        uid: APP_UID,
        env: [
            ...plainEnv({ POSTGRES_USER: user, POSTGRES_DB: user, PGDATA: "/var/lib/postgresql/data/pgdata" }),
            secret("POSTGRES_PASSWORD", passwordKey),
        ],
        volumes: [{ name: "data", mountPath: "/var/lib/postgresql/data", size }],
        scratch: ["/var/run/postgresql", "/tmp"],
        readiness: { exec: { command: ["pg_isready", "-U", user, "-d", user] }, periodSeconds: 10 },
        resources: resources("250m", "1Gi"),
        clients: [],
        routed: false,
        externalPorts: [],
    };
}

/** The TCP port core connects to an external Keycloak on: its egress is open to that port only. */
export function externalKeycloakPort(k: { origin: string; internalOrigin?: string }): number {
    const url = new URL(k.internalOrigin ?? k.origin);
    return Number(url.port || (url.protocol === "https:" ? 443 : 80));
}

/** Where core's database settings point: PostGIS's database `docker`, as upstream's (compose.yaml:24-34). */
const postgisEnv = () => [
    ...plainEnv({
        POSTGIS_HOST: "postgis",
        POSTGIS_PORT: String(PORTS.postgres),
        POSTGIS_DB_NAME: "docker",
        POSTGIS_USER: "docker",
    }),
    secret("POSTGIS_PASS", "postgres-password"),
];

/** Every service of a tenant's Cytomine, with the operator's resources where given. */
export function cytomineServices(o: ServicesOptions): ServiceSpec[] {
    return declaredServices(o).map((s) => withResources(s, o.resources?.[s.component]));
}

/** Every service of a tenant's Cytomine; Keycloak and its database only with keycloakMode namespace. */
function declaredServices(o: ServicesOptions): ServiceSpec[] {
    const inNamespace = o.keycloak.mode === "namespace";
    // Core finds the realm under <IAM_URL>/iam and accepts tokens issued at <IAM_EXTERNAL_URL>/iam (release.ts, SIGN_IN).
    const keycloakPublic = `${o.keycloak.origin}${SIGN_IN.keycloakPath}`;
    const meiliKey = secret("MEILISEARCH_KEY", "meilisearch-master-key");
    const services: ServiceSpec[] = [
        {
            ...postgres("postgis", o.images.postgis, o.storage.postgis, "docker", "postgres-password"),
            clients: ["core", "repository"],
        },
        {
            component: "mongo",
            kind: "StatefulSet",
            image: o.images.mongo,
            port: PORTS.mongo,
            uid: APP_UID,
            env: [
                ...plainEnv({ MONGO_INITDB_ROOT_USERNAME: "mongoadmin", MONGO_INITDB_DATABASE: "cytomine" }),
                secret("MONGO_INITDB_ROOT_PASSWORD", "mongo-password"),
            ],
            volumes: [{ name: "data", mountPath: "/data/db", size: o.storage.mongo }],
            scratch: ["/tmp", "/data/configdb"],
            readiness: exec("mongo", "--quiet", "--eval", "db.adminCommand('ping')"),
            resources: resources("100m", "512Mi"),
            clients: ["core"],
            routed: false,
            externalPorts: [],
        },
        {
            component: "pims-cache",
            kind: "Deployment",
            image: o.images.pimsCache,
            port: PORTS.cache,
            uid: APP_UID,
            env: [],
            volumes: [],
            scratch: ["/data"],
            readiness: exec("redis-cli", "ping"),
            resources: resources("50m", "256Mi"),
            clients: ["pims"],
            routed: false,
            externalPorts: [],
        },
        {
            component: "meilisearch",
            kind: "StatefulSet",
            image: o.images.meilisearch,
            port: PORTS.meilisearch,
            uid: APP_UID,
            env: [
                ...plainEnv({ MEILI_ENV: "production", MEILI_NO_ANALYTICS: "true" }),
                secret("MEILI_MASTER_KEY", "meilisearch-master-key"),
            ],
            volumes: [{ name: "data", mountPath: "/meili_data", size: o.storage.meilisearch }],
            scratch: ["/tmp"],
            readiness: http(healthOf("meilisearch"), PORTS.meilisearch),
            resources: resources("100m", "1Gi"),
            clients: ["core", "pims"],
            routed: false,
            externalPorts: [],
        },
        {
            component: "repository",
            kind: "Deployment",
            image: o.images.repository,
            port: PORTS.repository,
            uid: APP_UID,
            env: [
                ...postgisEnv(),
                secret("IMAGE_SERVER_PUBLIC_KEY", "image-server-public-key"),
                secret("IMAGE_SERVER_PRIVATE_KEY", "image-server-private-key"),
            ],
            volumes: [],
            scratch: ["/tmp"],
            readiness: http(healthOf("repository"), PORTS.repository),
            startup: slowStart(http(healthOf("repository"), PORTS.repository)),
            resources: resources("250m", "1Gi"),
            clients: ["core"],
            routed: false,
            externalPorts: [],
        },
        {
            component: "core",
            kind: "Deployment",
            image: o.images.core,
            port: PORTS.core,
            uid: APP_UID,
            env: [
                ...plainEnv({
                    SERVER_URL: o.publicUrl,
                    INSTANCE_HOST_WEBSITE_URL: o.publicUrl,
                    PIMS_URL: `http://pims:${PORTS.pims}`,
                    REPOSITORY_URL: `http://repository:${PORTS.repository}/`,
                    // Core requires SAM's and CBIR's URLs whether they run or not (release.ts).
                    ...coreMlEnv(o.ml?.services ?? []),
                    MEILISEARCH_URL: `http://meilisearch:${PORTS.meilisearch}`,
                    MONGO_HOST: "mongo",
                    MONGO_PORT: String(PORTS.mongo),
                    MONGO_DB_NAME: "cytomine",
                    MONGO_USER: "mongoadmin",
                    // Keys from inside the tenant; tokens as the browser got them, at the public origin.
                    IAM_URL: inNamespace ? `http://iam:${PORTS.iam}` : (o.keycloak.internalOrigin ?? o.keycloak.origin),
                    IAM_EXTERNAL_URL: o.keycloak.origin,
                    KEYCLOAK_ADMIN: o.keycloak.adminUser,
                }),
                ...postgisEnv(),
                secret("MONGO_PASS", "mongo-password"),
                meiliKey,
                secret("ADMIN_PASSWORD", "admin-password"),
                secret("ADMIN_PUBLIC_KEY", "admin-public-key"),
                secret("ADMIN_PRIVATE_KEY", "admin-private-key"),
                secret("SUPER_ADMIN_PUBLIC_KEY", "super-admin-public-key"),
                secret("SUPER_ADMIN_PRIVATE_KEY", "super-admin-private-key"),
                secret("JWT_SECRET", "jwt-secret"),
                // Core manages its realm's users as the master-realm admin (application.yml:146-156).
                secret("KEYCLOAK_ADMIN_PASSWORD", "keycloak-admin-password"),
            ],
            volumes: [],
            scratch: ["/tmp"],
            readiness: http(healthOf("core"), PORTS.core),
            startup: slowStart(http(healthOf("core"), PORTS.core)),
            resources: resources("500m", "2Gi"),
            clients: ["pims"],
            routed: true,
            externalPorts: inNamespace ? [] : [externalKeycloakPort(o.keycloak)],
        },
        {
            component: "pims",
            kind: "Deployment",
            image: o.images.pims,
            port: PORTS.pims,
            uid: APP_UID,
            env: [
                ...plainEnv({
                    API_BASE_PATH: "/ims",
                    LOG_CONFIG_FILE: "/app/logging.yml",
                    WEB_CONCURRENCY: "4",
                    MAX_REQUESTS: "100000",
                    DEFAULT_IMAGE_SIZE_SAFETY_MODE: "SAFE_REJECT",
                    DEFAULT_ANNOTATION_ORIGIN: "LEFT_TOP",
                    OUTPUT_SIZE_LIMIT: "10000",
                    TASK_QUEUE_ENABLED: "false",
                    CACHE_ENABLED: "true",
                    CACHE_URL: `redis://pims-cache:${PORTS.cache}`,
                    ROOT: "/data/images",
                    // On the images volume, as the chart mounts it (pims.yaml:104-120): moving an
                    // upload or a dataset link under ROOT is then a rename.
                    WRITING_PATH: "/data/images/tmp",
                    PENDING_PATH: "/tmp/uploaded",
                    MPLCONFIGDIR: "/tmp",
                    INTERNAL_URL_CORE: `http://core:${PORTS.core}`,
                    MEILISEARCH_URL: `http://meilisearch:${PORTS.meilisearch}`,
                    // PIMS's dataset path (pims/pims/config.py:18): the import view.
                    ...(o.datasets ? { DATASET_PATH: IMPORT_VIEW_PATH } : {}),
                }),
                // ImageServer1's keys, which the repository service writes onto that user.
                secret("CYTOMINE_PUBLIC_KEY", "image-server-public-key"),
                secret("CYTOMINE_PRIVATE_KEY", "image-server-private-key"),
                meiliKey,
            ],
            volumes: [{ name: "images", mountPath: "/data/images", size: o.storage.images }],
            scratch: ["/tmp"],
            // As the chart probes it (helm/charts/cytomine/templates/pims/pims.yaml:124-145).
            readiness: http("/ims/disk-usage", PORTS.pims),
            liveness: { ...http(healthOf("pims"), PORTS.pims), failureThreshold: 6 },
            // Uploads are staged in /tmp before conversion: room for a large slide.
            resources: resources("500m", "2Gi", "20Gi"),
            clients: ["core"],
            routed: true,
            externalPorts: [],
        },
        {
            component: "web-ui",
            kind: "Deployment",
            image: o.images.webUi,
            port: PORTS.webUi,
            uid: APP_UID,
            // The browser's view of the services (web-ui/scripts/configuration.json:10-15).
            env: plainEnv({
                CORE_URL: `${o.publicUrl}/api/`,
                IAM_URL: `${keycloakPublic}/realms/${SIGN_IN.realm}/`,
                PIMS_URL: `${o.publicUrl}/ims`,
            }),
            volumes: [],
            scratch: ["/tmp", "/var/cache/nginx", "/var/run"],
            readiness: http(healthOf("web-ui"), PORTS.webUi),
            resources: resources("50m", "128Mi"),
            clients: [],
            routed: true,
            externalPorts: [],
        },
    ];
    if (o.ml) services.push(...mlServices({ ...o.ml, images: o.images, storage: o.storage }));
    if (!inNamespace) return services;
    const iamHealth = (what: string) => http(`/iam/health/${what}`, IAM_MANAGEMENT_PORT);
    return [
        ...services,
        { ...postgres("iam-db", o.images.iamDb, o.storage.iamDb, "keycloak", "iam-db-password"), clients: ["iam"] },
        {
            component: "iam",
            kind: "Deployment",
            image: o.images.iam,
            args: ["start"],
            port: PORTS.iam,
            uid: 1000, // keycloak: the image's files (rewritten at start) belong to this user
            env: [
                ...plainEnv({
                    KC_HTTP_ENABLED: "true", // TLS ends at the ingress controller or gateway
                    KC_HTTP_PORT: String(PORTS.iam),
                    KC_HTTP_RELATIVE_PATH: "/iam",
                    KC_HTTP_MANAGEMENT_PORT: String(IAM_MANAGEMENT_PORT),
                    KC_HEALTH_ENABLED: "true",
                    KC_HOSTNAME: `${o.publicUrl}/iam`,
                    KC_PROXY_HEADERS: "xforwarded",
                    KC_FEATURES: "token-exchange",
                    KC_DB: "postgres",
                    KC_DB_URL: `jdbc:postgresql://iam-db:${PORTS.postgres}/keycloak`,
                    KC_DB_USERNAME: "keycloak",
                    KC_BOOTSTRAP_ADMIN_USERNAME: o.keycloak.adminUser,
                }),
                secret("KC_DB_PASSWORD", "iam-db-password"),
                secret("KC_BOOTSTRAP_ADMIN_PASSWORD", "keycloak-admin-password"),
            ],
            volumes: [],
            scratch: ["/tmp", "/opt/keycloak/data"],
            writableRootReason:
                "`kc.sh start` re-augments the server for the configured database into /opt/keycloak/lib at startup",
            prebuild: {
                // Keycloak's build options among the above (https://www.keycloak.org/server/all-config marks
                // them; `kc.sh show-config` lists them as "Persisted" after a build). Any other left out would
                // make `start --optimized` warn that a build option differs from the persisted one.
                buildEnv: ["KC_DB", "KC_HEALTH_ENABLED", "KC_FEATURES", "KC_HTTP_RELATIVE_PATH"],
                run: ["/opt/keycloak/bin/kc.sh", "build"],
                args: ["start", "--optimized"],
            },
            readiness: iamHealth("ready"),
            liveness: { ...iamHealth("live"), failureThreshold: 6 },
            startup: slowStart(iamHealth("started")),
            resources: resources("500m", "1536Mi"),
            clients: ["core"],
            routed: true,
            // LS Login's token, user-info and logout endpoints (the broker talks to them directly).
            externalPorts: [443],
        },
    ];
}
