// Cytomine's services, as data: images, environment, volumes, probes and who talks to
// whom (environment: cytomine/cytomine's cytomine-community-edition/cytomine.template and iam/; probes and
// security: NBISweden/cytomine-bp-helm and cytomine/cytomine's Helm chart).
import { Images, Storage } from "./settings";
import { plainEnv, resources, secretEnv, ServiceSpec } from "./spec";
import { IMPORT_VIEW_PATH } from "../datasets/spec";

/** external: an existing Keycloak; namespace: Keycloak deployed beside Cytomine, served at <publicUrl>/iam. */
export const KEYCLOAK_MODES = ["external", "namespace"] as const;
export type KeycloakMode = (typeof KEYCLOAK_MODES)[number];

/** The one Secret of a tenant: every generated password and key, read by the pods by key. */
export const SECRET_NAME = "cytomine-secrets";
const secret = (name: string, key: string) => secretEnv(SECRET_NAME, name, key);

// web-ui's nginx listens on 80: as a non-root user that relies on the runtime allowing unprivileged
// ports (net.ipv4.ip_unprivileged_port_start=0, the default of containerd 2 and Docker).
export const PORTS = { core: 8080, webUi: 80, pims: 5000, cache: 6379, postgres: 5432, mongo: 27017, iam: 8100 };
/** Keycloak's management interface (health), as in Cytomine's Helm chart. */
const IAM_MANAGEMENT_PORT = 9000;

export interface ServicesOptions {
    images: Images;
    storage: Storage;
    /** The tenant's public URL, without trailing slash. */
    publicUrl: string;
    keycloak: { mode: KeycloakMode; origin: string; adminUser: string };
    /** The TCP port of an external Keycloak, which core must reach. */
    externalKeycloakPort?: number;
    /**
     * Bigpicture datasets are declared: PIMS imports from the import view (components/datasets/spec.ts),
     * into which each run links the buckets of its datasets, mounted read-only under /data/datasets.
     */
    datasets?: boolean;
}

/**
 * UID and GID of every container but Keycloak: above 10000, so that it maps to no user of the node
 * (as NBIS's chart does). The images run as any user given writable volumes for their paths.
 */
const APP_UID = 20000;

const exec = (...command: string[]) => ({ exec: { command }, periodSeconds: 10 });
const http = (path: string, port: number, periodSeconds = 10) => ({ httpGet: { path, port }, periodSeconds });
/** Up to ten minutes to start (core and Keycloak migrate their databases on first start). */
const slowStart = <P extends object>(probe: P) => ({ ...probe, failureThreshold: 60 });

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

/** Every service of a tenant's Cytomine; Keycloak and its database only with keycloakMode namespace. */
export function cytomineServices(o: ServicesOptions): ServiceSpec[] {
    const inNamespace = o.keycloak.mode === "namespace";
    const imageServerKeys = [
        secret("IMAGE_SERVER_PUBLIC_KEY", "image-server-public-key"),
        secret("IMAGE_SERVER_PRIVATE_KEY", "image-server-private-key"),
    ];
    const services: ServiceSpec[] = [
        {
            ...postgres("postgis", o.images.postgis, o.storage.postgis, "docker", "postgres-password"),
            clients: ["core"],
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
            component: "core",
            kind: "Deployment",
            image: o.images.core,
            port: PORTS.core,
            uid: APP_UID,
            env: [
                ...plainEnv({
                    SERVER_URL: o.publicUrl,
                    INSTANCE_HOST_WEBSITE_URL: o.publicUrl,
                    POSTGIS_HOST: "postgis",
                    POSTGIS_PORT: String(PORTS.postgres),
                    POSTGIS_DB_NAME: "docker",
                    POSTGIS_USER: "docker",
                    MONGO_HOST: "mongo",
                    MONGO_PORT: String(PORTS.mongo),
                    MONGO_DB_NAME: "cytomine",
                    MONGO_USER: "mongoadmin",
                    STORAGE_PATH: "/data",
                    // core validates tokens against the issuer at the public URL and fetches keys inside.
                    IAM_URL: inNamespace ? `http://iam:${PORTS.iam}` : o.keycloak.origin,
                    IAM_EXTERNAL_URL: o.keycloak.origin,
                    KEYCLOAK_ADMIN: o.keycloak.adminUser,
                }),
                secret("POSTGIS_PASS", "postgres-password"),
                secret("MONGO_PASS", "mongo-password"),
                secret("ADMIN_PASSWORD", "admin-password"),
                secret("ADMIN_PUBLIC_KEY", "admin-public-key"),
                secret("ADMIN_PRIVATE_KEY", "admin-private-key"),
                secret("SUPER_ADMIN_PUBLIC_KEY", "super-admin-public-key"),
                secret("SUPER_ADMIN_PRIVATE_KEY", "super-admin-private-key"),
                secret("JWT_SECRET", "jwt-secret"),
                // Core manages its realm as the master-realm admin (cytomine/cytomine: iam/kc_config.json, core's Keycloak admin settings).
                secret("KEYCLOAK_ADMIN_PASSWORD", "keycloak-admin-password"),
                ...imageServerKeys,
            ],
            volumes: [],
            scratch: ["/tmp", "/data"],
            // GET /server/ping is the probe of NBIS's chart (NBISweden/cytomine-bp-helm: charts/cytomine/templates).
            readiness: http("/server/ping", PORTS.core),
            startup: slowStart(http("/server/ping", PORTS.core)),
            resources: resources("500m", "2Gi"),
            clients: ["pims"],
            routed: true,
            externalPorts: o.externalKeycloakPort ? [o.externalKeycloakPort] : [],
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
                    WEB_CONCURRENCY: "4",
                    MAX_REQUESTS: "100000",
                    DEFAULT_IMAGE_SIZE_SAFETY_MODE: "SAFE_REJECT",
                    DEFAULT_ANNOTATION_ORIGIN: "LEFT_TOP",
                    OUTPUT_SIZE_LIMIT: "10000",
                    TASK_QUEUE_ENABLED: "false",
                    CACHE_ENABLED: "true",
                    CACHE_URL: `redis://pims-cache:${PORTS.cache}`,
                    ROOT: "/data/images",
                    PENDING_PATH: "/tmp/uploaded",
                    INTERNAL_URL_CORE: `http://core:${PORTS.core}`,
                    // PIMS's dataset path (pims/pims/config.py `dataset_path`): the import view.
                    ...(o.datasets ? { DATASET_PATH: IMPORT_VIEW_PATH } : {}),
                }),
                secret("CYTOMINE_PUBLIC_KEY", "image-server-public-key"),
                secret("CYTOMINE_PRIVATE_KEY", "image-server-private-key"),
            ],
            volumes: [{ name: "images", mountPath: "/data/images", size: o.storage.images }],
            scratch: ["/tmp"],
            // PIMS's version endpoint under its base path (inferred from its API; no chart probes PIMS).
            readiness: http("/ims/info", PORTS.pims),
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
            env: [],
            volumes: [],
            scratch: ["/tmp", "/var/cache/nginx", "/var/run"],
            readiness: http("/", PORTS.webUi),
            resources: resources("50m", "128Mi"),
            clients: [],
            routed: true,
            externalPorts: [],
        },
    ];
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
