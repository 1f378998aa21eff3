// The Cytomine release this stack deploys, as data: one commit of the monorepo cytomine/cytomine and,
// per service, what its image needs to start and to serve (environment, files, writable paths, user,
// port, health endpoints, database extensions), each item with the upstream file and line it comes
// from. Both targets render from it (components/model/services.ts), the contract checks read the
// rendered manifests and compose project against it (components/model/contract.ts), and the local
// environment builds its stand-in images from it (localenv/standins.ts), so none can drift.
//
// Every `source` is a path and line of github.com/cytomine/cytomine at RELEASE.commit, unless it
// names another repository.

export const RELEASE = {
    repository: "cytomine/cytomine",
    commit: "0165ef761fc0a7869fb103ceb2aa3b0e7a77abd8",
    date: "2026-08-22",
    /** CI tags every image with the commit's first 7 hex digits (.github/workflows/docker.yaml:84,93). */
    tag: "0165ef7",
    /** Published per commit here; only `:latest` goes to Docker Hub (.github/workflows/docker.yaml:93-94). */
    registry: "registry.cytomine.org/cytomine",
    /** The Python client of this commit (clients/python/pyproject.toml:2-3; pims/uv.lock:917-918). */
    pythonClient: "4.3.0",
} as const;

const own = (service: string) => `${RELEASE.registry}/${service}:${RELEASE.tag}`;

/** One environment variable the image reads. */
export interface EnvItem {
    name: string;
    /** What it means, and where the stack points it. */
    meaning: string;
    /** Without it the service does not start (or a main feature fails): `failure` says how. */
    required: boolean;
    source: string;
    /** What the real image prints (or does) when it is missing. */
    failure?: string;
    /** A value the image cannot work with, or undefined. */
    valueProblem?: (value: string) => string | undefined;
}

/** A path the service writes at run time: a volume, a scratch directory or a writable root. */
export interface WritableItem {
    path: string;
    why: string;
    source: string;
    failure: string;
}

/** A file the service reads at start: in its image (the stand-in ships it too) or given by the stack. */
export interface FileItem {
    path: string;
    why: string;
    source: string;
    /** `image`: the image has it; `stack`: the stack must mount it. */
    from: "image" | "stack";
}

export interface HealthItem {
    path: string;
    source: string;
}

export interface ExtensionItem {
    name: string;
    /** `image`: the database image creates it at initdb; `migration`: the service creates it. */
    createdBy: "image" | "migration";
    source: string;
    failure: string;
}

export interface ServiceContract {
    component: string;
    /** The image of this release, and where upstream names it. */
    image: string;
    imageSource: string;
    port: number;
    portSource: string;
    /** The user the stack runs it as, and why that user works. */
    uid: number;
    uidSource: string;
    env: EnvItem[];
    files: FileItem[];
    writable: WritableItem[];
    health: HealthItem[];
    /** Extensions a database must hold for this service (on the database it uses). */
    extensions?: ExtensionItem[];
    /** How the real image exits when it refuses to start (its stand-in exits the same way). */
    exitCode: number;
    /** Deployed only when the tenant opts in (config key ml): its absence is no finding. */
    optional?: true;
}

/** A path of the tenant's public URL and the service behind it. */
export interface RouteItem {
    path: string;
    service: string;
    why: string;
    source: string;
}

// ---------------------------------------------------------------------------------------------------
// Helpers for the items many services share.

const springPlaceholder = (name: string, property: string) =>
    `org.springframework.util.PlaceholderResolutionException: Could not resolve placeholder '${name}' in value "\${${name}}" <-- "\${${property}}"`;

const url = (value: string) => (/^https?:\/\/[^/]+/.test(value) ? undefined : `"${value}" is not an http(s) URL`);

/** The user of every application container: above 10000, as Cytomine's chart runs them (values.yaml:319-325). */
export const APP_UID = 20000;
const CHART_UID = "helm/charts/cytomine/values.yaml:319-325; helm/charts/cytomine/templates/_helpers.tpl:90-106";

const tmp = (source: string, why: string): WritableItem => ({
    path: "/tmp",
    why,
    source,
    failure: "cannot write /tmp: Read-only file system",
});

/** The PostGIS settings of a Spring service: each has a development default the stack must override. */
const postgisItems = (meaning: string, source: string): EnvItem[] =>
    ["POSTGIS_HOST", "POSTGIS_PORT", "POSTGIS_DB_NAME", "POSTGIS_USER", "POSTGIS_PASS"].map((name) => ({
        name,
        meaning,
        required: true,
        source,
        failure: `org.postgresql.util.PSQLException: FATAL: password authentication failed for user "docker" (${name} unset: the image's default is a development value)`,
    }));

// ---------------------------------------------------------------------------------------------------
// The services.

const core: ServiceContract = {
    component: "core",
    image: own("core"),
    imageSource: ".github/workflows/docker.yaml:40-41,84,93",
    port: 8080,
    portSource: "core/src/main/resources/application.yml:87",
    uid: APP_UID,
    uidSource: CHART_UID,
    exitCode: 1,
    env: [
        {
            name: "PIMS_URL",
            meaning: "PIMS inside the tenant (core proxies tiles and uploads' metadata)",
            required: true,
            source: "core/src/main/resources/application.yml:127; core/src/main/java/be/cytomine/service/middleware/ImageServerService.java:74",
            failure: springPlaceholder("PIMS_URL", "application.pimsURL"),
            valueProblem: url,
        },
        {
            name: "SAM_URL",
            meaning: "the SAM service; required even when it is not deployed",
            required: true,
            source: "core/src/main/resources/application.yml:128; core/src/main/java/be/cytomine/controller/ontology/RestAnnotationDomainController.java:117",
            failure: springPlaceholder("SAM_URL", "application.samURL"),
            valueProblem: url,
        },
        {
            name: "CBIR_URL",
            meaning: "the image retrieval service; required even when it is not deployed",
            required: true,
            source: "core/src/main/resources/application.yml:129; core/src/main/java/be/cytomine/service/search/RetrievalService.java:44",
            failure: springPlaceholder("CBIR_URL", "application.cbirURL"),
            valueProblem: url,
        },
        {
            name: "REPOSITORY_URL",
            meaning: "the repository service, which answers /api/user/current.json's user lookup",
            required: true,
            source: "core/src/main/resources/application.yml:130; core/src/main/java/be/cytomine/controller/repository/RepositoryClient.java:34",
            failure: springPlaceholder("REPOSITORY_URL", "application.repositoryURL"),
            valueProblem: url,
        },
        {
            name: "IAM_URL",
            meaning:
                "Keycloak as core reaches it: the realm's keys at ${IAM_URL}/iam/realms/cytomine/protocol/openid-connect/certs",
            required: true,
            source: "core/src/main/resources/application.yml:38,156",
            failure: "An error occurred while attempting to decode the Jwt: Couldn't retrieve remote JWK set",
            valueProblem: url,
        },
        {
            name: "IAM_EXTERNAL_URL",
            meaning: "Keycloak's public origin: tokens must carry iss = ${IAM_EXTERNAL_URL}/iam/realms/cytomine",
            required: true,
            source: "core/src/main/resources/application.yml:36",
            failure: "An error occurred while attempting to decode the Jwt: The iss claim is not valid",
            valueProblem: url,
        },
        {
            name: "SERVER_URL",
            meaning: "the tenant's public URL (links core writes)",
            required: true,
            source: "core/src/main/resources/application.yml:99",
            valueProblem: url,
        },
        ...postgisItems("core's PostGIS database", "core/src/main/resources/application.yml:43-45"),
        ...["MONGO_HOST", "MONGO_PORT", "MONGO_DB_NAME", "MONGO_USER", "MONGO_PASS"].map((name) => ({
            name,
            meaning: "core's MongoDB (authenticated against the admin database)",
            required: true,
            source: "core/src/main/resources/application.yml:64-72; core/src/main/java/be/cytomine/config/nosqlmigration/MongoLiquibaseConfiguration.java:34-48",
            failure: `Exception authenticating MongoCredential{mechanism=SCRAM-SHA-256, userName='admin', source='admin'} (${name} unset: the image's default is a development value)`,
        })),
        {
            name: "MEILISEARCH_URL",
            meaning: "search over image metadata (core starts without it, with a warning)",
            required: false,
            source: "core/src/main/resources/application.yml:159; core/src/main/java/be/cytomine/service/search/MeiliSearchService.java:39-52",
        },
        {
            name: "MEILISEARCH_KEY",
            meaning: "MeiliSearch's master key",
            required: false,
            source: "core/src/main/resources/application.yml:160",
        },
        {
            name: "APPENGINE_API_URL",
            meaning: "the app engine (off: its default answers nothing)",
            required: false,
            source: "core/src/main/resources/application.yml:138",
        },
        {
            name: "APPENGINE_ENABLED",
            meaning: "whether core offers app-engine tasks",
            required: false,
            source: "core/src/main/resources/application.yml:136",
        },
        {
            name: "KEYCLOAK_ADMIN",
            meaning: "the master-realm admin core manages its realm's users with",
            required: false,
            source: "core/src/main/resources/application.yml:146-156",
        },
        {
            name: "KEYCLOAK_ADMIN_PASSWORD",
            meaning: "its password (the image's default is a development value)",
            required: true,
            source: "core/src/main/resources/application.yml:150",
        },
        ...[
            "ADMIN_PASSWORD",
            "ADMIN_PUBLIC_KEY",
            "ADMIN_PRIVATE_KEY",
            "SUPER_ADMIN_PUBLIC_KEY",
            "SUPER_ADMIN_PRIVATE_KEY",
            "JWT_SECRET",
        ].map((name) => ({
            name,
            meaning: "core's built-in accounts and signing secret (the image's defaults are development values)",
            required: true,
            source: "core/src/main/resources/application.yml:102-121; helm/charts/cytomine/templates/core/core-secrets.yaml:9-18",
        })),
    ],
    files: [],
    writable: [
        tmp(
            "core/src/main/resources/application.yml:16; helm/charts/cytomine/templates/core/core.yaml:86-91",
            "multipart uploads (/tmp/multipart), spring.log and Tomcat's work directory",
        ),
    ],
    health: [{ path: "/server/ping", source: "core/src/main/java/be/cytomine/controller/ServerController.java:21-30" }],
    extensions: [
        {
            name: "postgis",
            createdBy: "image",
            source: "common/src/main/resources/config/liquibase/changelog/00000000_0_init.xml:2110 (GEOMETRY columns; no changeset creates postgis)",
            failure: 'liquibase.exception.MigrationFailedException: ERROR: type "geometry" does not exist',
        },
        {
            name: "ltree",
            createdBy: "migration",
            source: "common/src/main/resources/config/liquibase/changelog/2026-02-09-init-postgis-ltree.sql:3-4",
            failure:
                'liquibase.exception.MigrationFailedException: ERROR: permission denied to create extension "ltree"',
        },
    ],
};

const repository: ServiceContract = {
    component: "repository",
    image: own("repository"),
    imageSource: ".github/workflows/docker.yaml:50-51,84,93",
    port: 8081,
    portSource: "repository/src/main/resources/application.yml:1-2",
    uid: APP_UID,
    uidSource: CHART_UID,
    exitCode: 1,
    env: [
        ...postgisItems("the same PostGIS database as core", "repository/src/main/resources/application.yml:7-9"),
        ...["IMAGE_SERVER_PUBLIC_KEY", "IMAGE_SERVER_PRIVATE_KEY"].map((name) => ({
            name,
            meaning: "written onto the ImageServer1 user at start: PIMS signs its calls to core with them",
            required: true,
            source: "repository/src/main/resources/application.yml:27-28; repository/src/main/java/org/cytomine/repository/RepositoryApp.java:44-61",
            failure: "PIMS authentication to Cytomine failed. (PIMS's keys are not ImageServer1's)",
        })),
    ],
    files: [],
    writable: [tmp("helm/charts/cytomine/templates/repository/repository.yaml:105-109", "Tomcat's work directory")],
    health: [
        { path: "/ping", source: "repository/src/main/java/org/cytomine/repository/http/HealthController.java:10-16" },
    ],
};

const PIMS_BASE = "/ims";
const pims: ServiceContract = {
    component: "pims",
    image: own("pims"),
    imageSource: ".github/workflows/docker.yaml:42-43,84,93",
    port: 5000,
    portSource: "pims/Dockerfile:30,115",
    uid: APP_UID,
    uidSource: CHART_UID,
    exitCode: 1,
    env: [
        {
            name: "LOG_CONFIG_FILE",
            meaning: "gunicorn's logging file: the image has only /app/logging.yml",
            required: true,
            source: "pims/docker/gunicorn_conf.py:10-20; pims/Dockerfile:81",
            failure:
                "Failed to read config file: /app/gunicorn_conf.py\nFileNotFoundError: [Errno 2] No such file or directory: '/app/logging-prod.yml'",
            valueProblem: (v) =>
                v === "/app/logging.yml"
                    ? undefined
                    : `"${v}" is not in the image: its only logging file is /app/logging.yml`,
        },
        {
            name: "API_BASE_PATH",
            meaning: "the prefix of every route, which the public routes and core's calls use",
            required: true,
            source: "pims/pims/config.py:15; pims/pims/api/server.py:7",
            failure: "AssertionError: A path prefix must start with '/'",
            valueProblem: (v) => (v === PIMS_BASE ? undefined : `the routes and core expect ${PIMS_BASE}`),
        },
        {
            name: "ROOT",
            meaning: "where imported images live (the images volume)",
            required: true,
            source: "pims/pims/config.py:17",
        },
        {
            name: "WRITING_PATH",
            meaning: "uploads and dataset links before they move under ROOT (same volume, so a move is a rename)",
            required: true,
            source: "pims/pims/config.py:20; pims/pims/api/operations.py:69-70,119-123",
        },
        {
            name: "PENDING_PATH",
            meaning: "pending uploads",
            required: false,
            source: "pims/pims/config.py:19",
        },
        {
            name: "CYTOMINE_PUBLIC_KEY",
            meaning: "ImageServer1's public key (the repository service writes it): PIMS signs its calls to core",
            required: true,
            source: "pims/pims/config.py:70; helm/charts/cytomine/templates/pims/pims.yaml:85-94",
            failure: "PIMS authentication to Cytomine failed.",
        },
        {
            name: "CYTOMINE_PRIVATE_KEY",
            meaning: "ImageServer1's private key",
            required: true,
            source: "pims/pims/config.py:71",
            failure: "PIMS authentication to Cytomine failed.",
        },
        {
            name: "INTERNAL_URL_CORE",
            meaning: "core inside the tenant (the image's default is http://cytomine.local)",
            required: true,
            source: "pims/pims/config.py:25; pims/pims/api/operations.py:74-78",
            valueProblem: url,
        },
        {
            name: "CACHE_URL",
            meaning: "the pims-cache Redis",
            required: true,
            source: "pims/pims/config.py:29; pims/pims/application.py:77-93",
            failure:
                'Impossible to connect to cache "redis://pims-cache:6379" while cache is enabled by configuration.',
        },
        {
            name: "CACHE_ENABLED",
            meaning: "on, as upstream's compose and chart run it",
            required: false,
            source: "pims/pims/config.py:28",
        },
        {
            name: "TASK_QUEUE_ENABLED",
            meaning: "off: no RabbitMQ worker is deployed, so uploads would wait forever (its default is on)",
            required: true,
            source: "pims/pims/config.py:39; helm/charts/cytomine/templates/pims/pims-config.yaml:7-25",
            valueProblem: (v) => (v.toLowerCase() === "false" ? undefined : "no task queue is deployed: set it false"),
        },
        {
            name: "MEILISEARCH_URL",
            meaning: "the dataset import indexes image metadata before anything else",
            required: true,
            source: "pims/pims/config.py:57; pims/pims/importer/dataset.py:106-108",
            failure: "MeilisearchCommunicationError (the import task ends before any image)",
            valueProblem: url,
        },
        {
            name: "MEILISEARCH_KEY",
            meaning: "MeiliSearch's master key",
            required: true,
            source: "pims/pims/config.py:58",
            failure: "MeilisearchApiError: The provided API key is invalid.",
        },
        {
            name: "DATASET_PATH",
            meaning: "the datasets to import (the import view, read-only)",
            required: false,
            source: "pims/pims/config.py:18; pims/pims/api/operations.py:89-93",
        },
        {
            name: "WEB_CONCURRENCY",
            meaning: "gunicorn's workers",
            required: false,
            source: "pims/docker/gunicorn_conf.py:36,50-52",
        },
        {
            name: "MAX_REQUESTS",
            meaning: "requests before a worker restarts",
            required: false,
            source: "pims/docker/gunicorn_conf.py:66",
        },
        {
            name: "MPLCONFIGDIR",
            meaning: "matplotlib's cache under /tmp (the home directory is read-only)",
            required: false,
            source: "helm/charts/cytomine/templates/pims/pims-config.yaml:15",
        },
    ],
    files: [
        {
            path: "/app/logging.yml",
            why: "LOG_CONFIG_FILE",
            source: "pims/Dockerfile:81",
            from: "image",
        },
        {
            path: "/app/pims-config.env",
            why: "the settings' defaults",
            source: "pims/Dockerfile:80; pims/pims/config.py:77-81",
            from: "image",
        },
    ],
    writable: [
        {
            path: "/data/images",
            why: "ROOT, and WRITING_PATH below it",
            source: "helm/charts/cytomine/templates/pims/pims.yaml:104-120",
            failure: "PermissionError: [Errno 13] Permission denied: '/data/images'",
        },
        tmp("helm/charts/cytomine/templates/pims/pims.yaml:104-120", "exports, matplotlib and PENDING_PATH"),
        {
            path: "/dev/shm",
            why: "gunicorn's worker heartbeat files",
            source: "pims/docker/gunicorn_conf.py:75",
            failure: "gunicorn: Error: worker_tmp_dir /dev/shm is not writable",
        },
    ],
    health: [
        { path: `${PIMS_BASE}/ping`, source: "pims/pims/api/server.py:15-17" },
        { path: `${PIMS_BASE}/info`, source: "pims/pims/api/server.py:20-25" },
        { path: `${PIMS_BASE}/disk-usage`, source: "pims/pims/api/housekeeping.py:63-117" },
    ],
};

const webUi: ServiceContract = {
    component: "web-ui",
    image: own("web-ui"),
    imageSource: ".github/workflows/docker.yaml:44-45,84,93",
    port: 80,
    portSource: "web-ui/nginx.conf:18",
    uid: APP_UID,
    uidSource: CHART_UID,
    exitCode: 1,
    env: ["CORE_URL", "IAM_URL", "PIMS_URL"].map((name) => ({
        name,
        meaning: {
            CORE_URL: "core's API as the browser reaches it (<publicUrl>/api/)",
            IAM_URL: "the realm as the browser reaches it (<keycloak>/realms/cytomine/)",
            PIMS_URL: "PIMS as the browser reaches it (uploads go to PIMS_URL/upload)",
        }[name]!,
        required: true,
        source: "web-ui/docker-entrypoint.sh:10; web-ui/scripts/configuration.json:10-15; web-ui/src/App.vue:145-149",
        failure: `envsubst writes "${name}": "" into configuration.json and the app cannot sign in`,
        valueProblem: url,
    })),
    files: [],
    writable: [
        {
            path: "/tmp",
            why: "the entrypoint writes /tmp/configuration.json from its template",
            source: "web-ui/docker-entrypoint.sh:9-10",
            failure: "/docker-entrypoint.sh: line 10: can't create /tmp/configuration.json: Read-only file system",
        },
        {
            path: "/var/cache/nginx",
            why: "nginx's temporary files",
            source: "helm/charts/cytomine/templates/web_ui/web_ui.yaml:70-75",
            failure: 'nginx: [emerg] mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)',
        },
        {
            path: "/var/run",
            why: "nginx's pid file",
            source: "web-ui/nginx.conf:4",
            failure: 'nginx: [emerg] open() "/var/run/nginx.pid" failed (30: Read-only file system)',
        },
    ],
    health: [
        { path: "/", source: "web-ui/nginx.conf:23-27" },
        { path: "/configuration.json", source: "web-ui/nginx.conf:20-22" },
    ],
};

const meilisearch: ServiceContract = {
    component: "meilisearch",
    image: "getmeili/meilisearch:v1.43.0",
    imageSource: "compose.yaml:314-324; helm/charts/cytomine/values.yaml:105",
    port: 7700,
    portSource: "compose.yaml:316-317",
    uid: APP_UID,
    uidSource: CHART_UID,
    exitCode: 1,
    env: [
        {
            name: "MEILI_MASTER_KEY",
            meaning: "the key core and PIMS use (generated per tenant)",
            required: true,
            source: "helm/charts/cytomine/templates/meilisearch/meilisearch.yaml:56-65",
            failure:
                "Error: In production mode, you must provide a master key to secure your instance. It can be specified via the MEILI_MASTER_KEY environment variable or the --master-key launch option.",
        },
        {
            name: "MEILI_ENV",
            meaning: "production: the master key is enforced",
            required: true,
            source: "compose.yaml:321",
            valueProblem: (v) => (v === "production" ? undefined : "upstream runs it in production mode"),
        },
        {
            name: "MEILI_NO_ANALYTICS",
            meaning: "no telemetry leaves the tenant",
            required: false,
            source: "compose.yaml:323",
        },
        {
            name: "MEILI_DB_PATH",
            meaning: "the data directory on its volume",
            required: false,
            source: "helm/charts/cytomine/templates/meilisearch/meilisearch.yaml:37-40",
        },
    ],
    files: [],
    writable: [
        {
            path: "/meili_data",
            why: "its database",
            source: "helm/charts/cytomine/templates/meilisearch/meilisearch.yaml:37-51",
            failure: "Error: Permission denied (os error 13)",
        },
        tmp("helm/charts/cytomine/templates/meilisearch/meilisearch.yaml:50-51", "index building"),
    ],
    health: [{ path: "/health", source: "helm/charts/cytomine/templates/meilisearch/meilisearch.yaml:66-87" }],
};

// ---------------------------------------------------------------------------------------------------
// The machine-learning services: deployed only for a tenant that opts in (config key ml). Core is told
// their URLs either way (SAM_URL and CBIR_URL above are required).

const springRequired = (name: string, property: string, meaning: string, source: string): EnvItem => ({
    name,
    meaning,
    required: true,
    source,
    failure: springPlaceholder(name, property),
});

const appEngine: ServiceContract = {
    component: "app-engine",
    image: own("app-engine"),
    imageSource: ".github/workflows/docker.yaml:25-27,84,93",
    port: 8080,
    portSource: "app-engine/src/main/resources/application.yml:4",
    uid: APP_UID,
    uidSource: CHART_UID,
    exitCode: 1,
    optional: true,
    env: [
        ...(
            [
                ["DB_HOST", "spring.datasource.url", "its PostgreSQL database (app-engine-db)"],
                ["DB_NAME", "spring.datasource.url", "the database name"],
                ["DB_USERNAME", "spring.datasource.username", "the database user"],
                ["DB_PASSWORD", "spring.datasource.password", "the database password (generated per tenant)"],
            ] as const
        ).map(([name, property, meaning]) =>
            springRequired(name, property, meaning, "app-engine/src/main/resources/application.yml:12-15"),
        ),
        {
            name: "API_PREFIX",
            meaning: "the prefix of every route: core calls <APPENGINE_API_URL>/app-engine/v1/ (its default is /api/)",
            required: true,
            source: "app-engine/src/main/resources/application.yml:72; core/src/main/resources/application.yml:137",
            failure: "core's calls to /app-engine/v1/ answer 404 (the image's default prefix is /api/)",
            valueProblem: (v) =>
                v === "/app-engine/" ? undefined : `core calls /app-engine/v1/: set it to /app-engine/`,
        },
        springRequired(
            "REGISTRY_URL",
            "registry.url",
            "the registry the app engine pushes task images to",
            "app-engine/src/main/resources/application.yml:44-47",
        ),
        springRequired(
            "SCHEDULER_ADVERTISED_URL",
            "scheduler.advertised-url",
            "the app engine as task pods reach it (inputs and outputs of a run)",
            "app-engine/src/main/resources/application.yml:60; app-engine/src/main/java/be/cytomine/appengine/handlers/scheduler/impl/KubernetesScheduler.java:98-101",
        ),
        springRequired(
            "SCHEDULER_REGISTRY_ADVERTISED_URL",
            "scheduler.registry-advertised-url",
            "the registry as the node's container runtime pulls task images from it",
            "app-engine/src/main/resources/application.yml:61; KubernetesScheduler.java:234",
        ),
        springRequired(
            "SCHEDULER_USE_HOST_NETWORK",
            "scheduler.use-host-network",
            "whether task pods share the node's network (the stack says false)",
            "app-engine/src/main/resources/application.yml:62; KubernetesScheduler.java:238",
        ),
        springRequired(
            "SCHEDULER_TASKS_NAMESPACE",
            "scheduler.tasks-namespace",
            "the namespace task pods run in",
            "app-engine/src/main/resources/application.yml:63; KubernetesScheduler.java:236",
        ),
        {
            name: "SCHEDULER_RUN_MODE",
            meaning: "cluster: task pods fetch inputs from and post outputs to the app engine over HTTP",
            required: true,
            source: "app-engine/src/main/resources/application.yml:57; KubernetesScheduler.java:104-112,205-211; helm/charts/cytomine/templates/app-engine/app-engine-config.yaml:15",
            failure: "local (the default) needs the app engine's storage on the node's own disk, shared by hostPath",
            valueProblem: (v) =>
                v === "cluster" ? undefined : "the stack runs task pods in cluster mode, as upstream's chart",
        },
        {
            name: "SCHEDULER_TASKS_RUNNER_IMAGE",
            meaning: "the helper containers' image (curl, jq, zip: app-engine/task-runner/Dockerfile)",
            required: false,
            source: "app-engine/src/main/resources/application.yml:64",
        },
    ],
    files: [],
    writable: [
        tmp(
            "app-engine/src/main/resources/application.yml:3,10",
            "Tomcat's base directory and uploads (/tmp/appengine)",
        ),
        {
            path: "/data",
            why: "task bundles and run inputs and outputs (STORAGE_BASE_PATH)",
            source: "app-engine/src/main/resources/application.yml:40; helm/charts/cytomine/templates/app-engine/app-engine.yaml:65-69",
            failure: "be.cytomine.appengine.exceptions.FileStorageException: Failed to create storage",
        },
    ],
    health: [
        {
            path: "/ping",
            source: "app-engine/src/main/java/be/cytomine/appengine/controllers/ServerController.java:13-16",
        },
    ],
};

const sam: ServiceContract = {
    component: "sam",
    image: own("sam"),
    imageSource: ".github/workflows/docker.yaml:41,84,93",
    port: 8000,
    portSource: "sam/Dockerfile:81 (fastapi run: port 8000); compose.yaml:292-293",
    uid: APP_UID,
    uidSource: CHART_UID,
    exitCode: 3,
    optional: true,
    env: [
        {
            name: "API_BASE_PATH",
            meaning: "the prefix of its routes: core posts to <SAM_URL>/sam/annotations/refine (its default is /api)",
            required: true,
            source: "sam/app/config.py:18; core/src/main/java/be/cytomine/controller/ontology/RestAnnotationDomainController.java:525-526",
            failure: "core's refine requests answer 404 (the image's default prefix is /api)",
            valueProblem: (v) => (v === "/sam" ? undefined : "core calls /sam/annotations/refine: set it to /sam"),
        },
        {
            name: "WEIGHTS_PATH",
            meaning:
                "the folder of the model's weights; the stack mounts the operator's weights there (no download at run time)",
            required: true,
            source: "sam/app/config.py:23-24; sam/app/main.py:14-20; sam/Dockerfile.weights (the image's weights come from a hub at build time)",
            failure:
                "FileNotFoundError: [Errno 2] No such file or directory: '<WEIGHTS_PATH>/weights.pt' (raised in the lifespan: the server exits with code 3)",
        },
        {
            name: "TORCHINDUCTOR_CACHE_DIR",
            meaning: "torch's compile cache, on a scratch volume",
            required: false,
            source: "helm/charts/cytomine/templates/sam/sam-config.yaml:7",
        },
    ],
    files: [],
    writable: [
        tmp("helm/charts/cytomine/templates/sam/sam.yaml:40-44", "uploads and torch's scratch files"),
        {
            path: "/.cache",
            why: "torch's caches (TORCHINDUCTOR_CACHE_DIR)",
            source: "helm/charts/cytomine/templates/sam/sam.yaml:43-44; sam-config.yaml:7",
            failure: "PermissionError: [Errno 13] Permission denied: '/.cache'",
        },
    ],
    health: [{ path: "/", source: "sam/app/api/server.py:10-16" }],
};

const cbir: ServiceContract = {
    component: "cbir",
    image: own("cbir"),
    imageSource: ".github/workflows/docker.yaml:29,84,93",
    port: 6000,
    portSource: "cbir/Dockerfile:73",
    uid: APP_UID,
    uidSource: CHART_UID,
    exitCode: 3,
    optional: true,
    env: [
        {
            name: "API_BASE_PATH",
            meaning: "the prefix of its routes: core calls <CBIR_URL>/cbir/... (its default is /api)",
            required: true,
            source: "cbir/cbir/config.py:11; core/src/main/java/be/cytomine/service/search/RetrievalService.java:36,47-49",
            failure: "core's retrieval requests answer 404 (the image's default prefix is /api)",
            valueProblem: (v) => (v === "/cbir" ? undefined : "core calls /cbir/...: set it to /cbir"),
        },
        ...(["HOST", "PORT"] as const).map((name) => ({
            name,
            meaning: "its Redis (the index's store); the default is localhost:6379",
            required: true,
            source: "cbir/cbir/config.py:18-19; helm/charts/cytomine/templates/cbir/cbir-config.yaml:7-8",
            failure: "redis.exceptions.ConnectionError: Error 111 connecting to localhost:6379. Connection refused.",
        })),
        {
            name: "EXTRACTOR",
            meaning:
                "the feature extractor: resnet reads its weights from WEIGHTS; hoptim downloads H-optimus-0 from the Hugging Face hub at start",
            required: true,
            source: "cbir/cbir/config.py:24; cbir/cbir/models/utils.py:15-26; cbir/cbir/models/hoptimus.py:19-24",
            valueProblem: (v) =>
                v === "resnet"
                    ? undefined
                    : `"${v}": only resnet runs from mounted weights (hoptim downloads from a hub at start)`,
        },
        {
            name: "WEIGHTS",
            meaning:
                "the resnet weights file; the stack mounts the operator's weights (a missing file would silently give an untrained model)",
            required: true,
            source: "cbir/cbir/config.py:25; cbir/cbir/models/utils.py:35-37",
            failure: "the image's own /app/weights/resnet is used (the stack mounts the operator's weights instead)",
        },
        {
            name: "DATA_PATH",
            meaning: "the folder of its index files",
            required: false,
            source: "cbir/cbir/config.py:15; compose.yaml:280",
        },
    ],
    files: [],
    writable: [
        {
            path: "/data",
            why: "its index (DATA_PATH)",
            source: "helm/charts/cytomine/templates/cbir/cbir.yaml:57-59",
            failure: "PermissionError: [Errno 13] Permission denied: '/data/cbir'",
        },
        tmp("helm/charts/cytomine/templates/cbir/cbir.yaml:60-61", "scratch files"),
        {
            path: "/.cache",
            why: "torch's caches (TORCHINDUCTOR_CACHE_DIR)",
            source: "helm/charts/cytomine/templates/cbir/cbir.yaml:62-63; cbir-config.yaml:9",
            failure: "PermissionError: [Errno 13] Permission denied: '/.cache'",
        },
    ],
    health: [{ path: "/health", source: "cbir/cbir/app.py:45-48" }],
};

/** The contract of every service this stack takes from the release (databases are stock images). */
export const CONTRACTS: Record<string, ServiceContract> = {
    core,
    repository,
    pims,
    "web-ui": webUi,
    meilisearch,
    "app-engine": appEngine,
    sam,
    cbir,
};

/**
 * The paths the browser needs (HTTPRoute of the chart, plus what the web UI calls that the chart
 * leaves out), longest prefixes first.
 */
export const ROUTES: RouteItem[] = [
    {
        path: "/api",
        service: "core",
        why: "the REST API (CORE_URL)",
        source: "helm/charts/cytomine/templates/httproute.yaml:21-30",
    },
    {
        path: "/server",
        service: "core",
        why: "ping and server info",
        source: "helm/charts/cytomine/templates/httproute.yaml:21-30",
    },
    {
        path: "/session",
        service: "core",
        why: "core's admin-session endpoints, which it maps at its root (the chart lacks the route)",
        source: "core/src/main/java/be/cytomine/controller/security/RestGrantRoleController.java:20-45",
    },
    {
        path: "/ws",
        service: "core",
        why: "the follow-user WebSocket the web UI opens on its own host (the chart lacks it)",
        source: "web-ui/src/components/viewer/panels/FollowPanel.vue:79; core/src/main/java/be/cytomine/config/WebSocketConfiguration.java:44",
    },
    ...["/ims/upload", "/ims/image/upload", "/ims/formats", "/ims/import"].map((path) => ({
        path,
        service: "pims",
        why: "uploads (PIMS_URL/upload) and the formats list; everything else of PIMS goes through core",
        source: "helm/charts/cytomine/templates/httproute.yaml:76-91; web-ui/src/components/storage/CytomineStorage.vue:229",
    })),
    {
        path: "/",
        service: "web-ui",
        why: "the single-page app and its /configuration.json",
        source: "helm/charts/cytomine/templates/httproute.yaml:98-104",
    },
];

/** Uploads are whole-slide images: no body limit, streamed to PIMS, an hour per request (httproute.yaml:31-34; values.yaml:50-56). */
export const UPLOAD_TIMEOUT_SECONDS = 3600;

/**
 * What the web UI hard-codes about sign-in: the realm and client it uses, whatever the config says
 * (web-ui/src/keycloak.js:9-22), and where core reads the user's roles (resource_access.core.roles:
 * core/src/main/java/be/cytomine/utils/JwtAuthConverter.java:54-72).
 */
export const SIGN_IN = {
    realm: "cytomine",
    client: "core",
    /** Core looks for the issuer and keys under this path of IAM_(EXTERNAL_)URL (application.yml:36-38). */
    keycloakPath: "/iam",
    roles: ["ADMIN", "USER", "GUEST"],
    source: "web-ui/src/keycloak.js:18-19; core/src/main/resources/application.yml:36-38,140-144",
} as const;

/** Default image per service key (the stack's config key images.<key>). */
export const RELEASE_IMAGES = {
    core: core.image,
    repository: repository.image,
    webUi: webUi.image,
    pims: pims.image,
    meilisearch: meilisearch.image,
    appEngine: appEngine.image,
    sam: sam.image,
    cbir: cbir.image,
    /** Not a service: the image of the task pods' helper containers (.github/workflows/docker.yaml:52-54). */
    tasksRunner: own("app-engine-tasks-runner"),
} as const;
type ReleaseComponent = keyof typeof RELEASE_IMAGES;

/**
 * Earlier commits the stack runs too, so that an upgrade (and its rollback) is a real change of
 * images: the contract above describes each because every file it cites, and every Dockerfile, is
 * the same at both commits (`git diff <commit> RELEASE.commit -- <those files>` prints nothing; see
 * docs/release.md). Images are published for every commit of main (.github/workflows/docker.yaml:84-94).
 */
export const EARLIER_RELEASES = [
    {
        commit: "26e8daf96455b4df37d3853fbe42e098122adf84",
        date: "2026-08-20",
        tag: "26e8daf",
        /** `git diff --stat 26e8daf96 0165ef761`: code inside the images, no setting. */
        changes:
            "core's project services (#1171), the web UI's translations (#1169), the end-to-end tests (#1170) and SAM's lock file (#1172)",
    },
] as const;

/** How the program's warning of a change of release or of Keycloak begins (the preview report leads with it). */
export const RELEASE_CHANGE = /^(up|down)grade of (Cytomine|Keycloak) from /;

/** The releases a tenant can run (config key `release`), newest first. */
export const RELEASE_TAGS = [RELEASE.tag, ...EARLIER_RELEASES.map((r) => r.tag)] as const;
export type ReleaseTag = (typeof RELEASE_TAGS)[number];

/** An image of the pinned release as release `tag` has it: the same repository, that tag (stock images stay). */
export const atRelease = (image: string, tag: ReleaseTag) => image.replace(new RegExp(`:${RELEASE.tag}$`), `:${tag}`);

/** A release's image of a service. */
export const releaseImage = (component: ReleaseComponent, tag: ReleaseTag) => atRelease(RELEASE_IMAGES[component], tag);

/** Every release image of a release, by config key. */
export function releaseImages(tag: ReleaseTag): Record<ReleaseComponent, string> {
    return Object.fromEntries(
        (Object.keys(RELEASE_IMAGES) as ReleaseComponent[]).map((c) => [c, releaseImage(c, tag)]),
    ) as Record<ReleaseComponent, string>;
}

/**
 * Why an image given for a release service is not one of `tag`, or undefined. A mirror (any
 * registry) is accepted with the release's tag or a digest: the operator vouches that a digest is
 * this commit's image, as a digest does not name its commit.
 */
export function releaseImageProblem(
    component: ReleaseComponent,
    image: string,
    tag: ReleaseTag = RELEASE.tag,
): string | undefined {
    const expected = releaseImage(component, tag);
    const name = expected.slice(expected.lastIndexOf("/") + 1, expected.lastIndexOf(":"));
    const m = /(?:^|\/)([^/:@]+)(?::([^/@]+))?(?:@sha256:[0-9a-f]{64})?$/.exec(image);
    const digest = image.includes("@sha256:");
    if (m && m[1] === name && (digest || m[2] === tag)) return undefined;
    const other = m && m[1] === name && RELEASE_TAGS.find((t) => t === m[2]);
    return (
        `"${image}" is not the ${component} image of release ${tag} (config key release; ${RELEASE.repository}). ` +
        (other
            ? `It is release ${other}'s: set release to ${other} to run that release, or use ${expected}`
            : `Use ${expected}, a mirror of it with the same tag, or a digest; the releases this stack knows are ` +
              `${RELEASE_TAGS.join(", ")}, and another commit means describing it in components/model/release.ts (docs/release.md)`)
    );
}
