// Cytomine's compose project for a VM, rendered from the same service specs, images and generated
// secrets as the Kubernetes target. The layout follows Cytomine's own install (cytomine/cytomine:
// cytomine-community-edition/docker-compose.yml: one nginx in front, services by name on a private
// network), without its hard-coded keys and published database ports: only the proxy publishes a
// port, databases sit on an internal network, and every value lives in an env file of mode 0600.
import { stringify } from "yaml";
import { sha256 } from "../model/datasets";
import { UPLOAD_TIMEOUT_SECONDS } from "../model/release";
import { Route } from "../model/routes";
import { ServiceSpec } from "../model/spec";

export interface ComposeOptions {
    /** Absolute directory of the tenant's persistent data on the host. */
    dataDir: string;
    /** The proxy's image (pinned). */
    proxyImage: string;
    /** Address and port the proxy publishes on the host. */
    bindAddress: string;
    httpPort: number;
    /** The public URL's scheme, forwarded to the services (TLS may end before the proxy). */
    publicScheme: "http" | "https";
    routes: Route[];
    /** PIMS's extra bind mounts: the datasets, read-only, and the import view (components/vm/datasets.ts). */
    pimsBinds?: string[];
    /** The host's folder of model weights, mounted read-only where the ML services read them (config key ml.weights). */
    weightsDir?: string;
    /** The Docker network the app engine's task containers join (components/model/ml.ts VmTasks). */
    tasksNetwork?: string;
}

/** The Docker network a project's task containers join (components/model/ml.ts VmTasks). */
export const tasksNetworkOf = (project: string) => `${project}-tasks`;

/** The env file of a component, relative to the compose file. */
export const envFileOf = (component: string) => `env/${component}.env`;

/** Where a service's volume lives on the host. */
export const volumeDirOf = (dataDir: string, component: string, volume: string) => `${dataDir}/${component}/${volume}`;

/** Kubernetes memory quantities as compose's mem_limit understands them (2Gi → 2g, 512Mi → 512m). */
export function memLimit(quantity: string | undefined): string | undefined {
    const m = /^(\d+)(Gi|Mi|G|M)$/.exec(quantity ?? "");
    return m ? `${m[1]}${m[2][0].toLowerCase()}` : undefined;
}

type Service = Record<string, unknown>;

/**
 * The label of an image built on the host that names the image it derives from: the "running image" of a
 * service, to upgrades and backups, is that one (the release's, as config names it).
 */
export const BASE_IMAGE_LABEL = "dev.cytomine.base-image";

/** `docker inspect`'s format for the image a container runs, as config names it: the base of an image built here. */
export const RUNNING_IMAGE_FORMAT = `{{with index .Config.Labels "${BASE_IMAGE_LABEL}"}}{{.}}{{else}}{{.Config.Image}}{{end}}`;

/** A service's image derived on the host (its spec's `prebuild`): the Dockerfile, its path beside compose.yaml, and its tag. */
export interface Prebuilt {
    base: string;
    path: string;
    dockerfile: string;
    /** Named after the Dockerfile's digest: another base image or build option is another image. */
    tag: string;
}

export function prebuiltOf(s: ServiceSpec): Prebuilt | undefined {
    if (!s.prebuild) return undefined;
    const env = s.prebuild.buildEnv.map((name) => {
        const value = s.env.find((e) => e.name === name)?.value;
        if (typeof value !== "string") throw new Error(`build option ${name} of ${s.component} has no plain value`);
        return `${name}=${JSON.stringify(value)}`;
    });
    const dockerfile = [
        `# Rendered by Cytomine Fallback (components/vm/compose.ts): ${s.image} with its build step run once, here, not at every start.`,
        `FROM ${s.image}`,
        `ENV ${env.join(" ")}`,
        `RUN ${JSON.stringify(s.prebuild.run)}`,
        `LABEL ${BASE_IMAGE_LABEL}=${JSON.stringify(s.image)}`,
        "",
    ].join("\n");
    return {
        base: s.image,
        path: `${s.component}.Dockerfile`,
        dockerfile,
        tag: `cytomine-fallback/${s.component}:${sha256(dockerfile).slice(0, 16)}`,
    };
}

/** A scratch path as compose's tmpfs entry: owned by UID, private to it. */
export const tmpfsOf = (path: string, uid: number) => `${path}:uid=${uid},gid=${uid},mode=0700`;

/** One compose service from its spec: same image, user, read-only root and scratch paths as its pod. */
function composeService(s: ServiceSpec, o: ComposeOptions): Service {
    const limits = (s.resources as { limits?: { memory?: string } }).limits;
    const networks = [
        "internal",
        ...(s.externalPorts.length ? ["egress"] : []),
        // Task containers connect to it (the Kubernetes target's NetworkPolicy from the task namespace).
        ...(s.clientNamespaces?.length && o.tasksNetwork ? ["tasks"] : []),
        // Docker publishes no port of a container on internal networks only.
        ...(s.loopbackPort ? ["edge"] : []),
    ];
    const binds = [
        ...s.volumes.map((v) => `${volumeDirOf(o.dataDir, s.component, v.name)}:${v.mountPath}`),
        ...(s.component === "pims" ? (o.pimsBinds ?? []) : []),
        ...(s.weights && o.weightsDir ? [`${o.weightsDir}:${s.weights}:ro`] : []),
        ...(s.hostBinds ?? []).map((b) => `${b.path}:${b.path}`),
    ];
    const ports = s.loopbackPort ? [`127.0.0.1:${s.loopbackPort}:${s.port}`] : [];
    const prebuilt = prebuiltOf(s);
    const args = s.prebuild?.args ?? s.args;
    return {
        image: prebuilt?.tag ?? s.image,
        ...(args ? { command: args } : {}),
        env_file: [envFileOf(s.component)],
        user: `${s.uid}:${s.uid}`,
        read_only: prebuilt !== undefined || s.writableRootReason === undefined,
        // Owned by the service's user, as a pod's emptyDir is writable for it: Docker gives a tmpfs the
        // mode and owner of the image's directory it covers (root 0755 for web-ui's /var/cache/nginx).
        ...(s.scratch.length ? { tmpfs: s.scratch.map((p) => tmpfsOf(p, s.uid)) } : {}),
        cap_drop: ["ALL"],
        security_opt: ["no-new-privileges:true"],
        ...(binds.length ? { volumes: binds } : {}),
        ...(memLimit(limits?.memory) ? { mem_limit: memLimit(limits?.memory) } : {}),
        ...(ports.length ? { ports } : {}),
        networks,
        restart: "unless-stopped",
    };
}

/**
 * The compose file (no value of any environment variable: those are in the env files). Compose v1
 * (Debian's docker-compose 1.29) and v2 both read it: Compose Specification, no `version`, no `name`
 * (the project name is given with -p).
 */
export function composeFile(services: ServiceSpec[], o: ComposeOptions): string {
    const routed = [...new Set(o.routes.map((r) => r.service))];
    const doc = {
        services: {
            ...Object.fromEntries(services.map((s) => [s.component, composeService(s, o)])),
            proxy: {
                image: o.proxyImage,
                volumes: ["./nginx.conf:/etc/nginx/nginx.conf:ro"],
                ports: [`${o.bindAddress}:${o.httpPort}:8080`],
                security_opt: ["no-new-privileges:true"],
                depends_on: routed,
                networks: ["internal", "edge"],
                restart: "unless-stopped",
            },
        },
        networks: {
            // No route out: databases and caches are reachable only from the project's containers.
            internal: { internal: true },
            // Published ports: the proxy's, and the task-image registry's on the host's loopback.
            edge: {},
            // Services that call out (e.g. Keycloak to LS Login).
            egress: {},
            // The task pods' containers, which task-pods starts on it by name: the app engine and
            // task-pods only, no route out.
            ...(o.tasksNetwork ? { tasks: { name: o.tasksNetwork, internal: true } } : {}),
        },
    };
    return stringify(doc, { lineWidth: 0 });
}

/** The proxy's nginx.conf: the route table, the longest prefix first, to services by name. */
export function nginxConf(o: ComposeOptions): string {
    const locations = o.routes.map((r) =>
        [
            `        location ${r.path} {`,
            // A variable makes nginx resolve the name per request through Docker's DNS, so a
            // restarted container's new address is found and a stopped one does not stop nginx.
            `            set $upstream http://${r.service}:${r.port};`,
            `            proxy_pass $upstream;`,
            `        }`,
        ].join("\n"),
    );
    return [
        "# Rendered by Cytomine Fallback (components/vm/compose.ts); changes are overwritten by pulumi up.",
        "worker_processes 1;",
        "pid /tmp/nginx.pid;",
        "events { worker_connections 1024; }",
        "http {",
        "    resolver 127.0.0.11 valid=10s ipv6=off;",
        "    client_max_body_size 0;",
        // Uploads stream to PIMS for up to an hour (release.ts UPLOAD_TIMEOUT_SECONDS).
        `    proxy_read_timeout ${UPLOAD_TIMEOUT_SECONDS}s;`,
        `    proxy_send_timeout ${UPLOAD_TIMEOUT_SECONDS}s;`,
        "    proxy_request_buffering off;",
        // The web UI's WebSocket (/ws) upgrades the connection; other requests keep plain HTTP/1.1.
        "    map $http_upgrade $connection_upgrade { default upgrade; '' close; }",
        "    proxy_http_version 1.1;",
        "    proxy_set_header Upgrade $http_upgrade;",
        "    proxy_set_header Connection $connection_upgrade;",
        "    proxy_set_header Host $http_host;",
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        `    proxy_set_header X-Forwarded-Proto ${o.publicScheme};`,
        "    proxy_set_header X-Forwarded-Host $http_host;",
        "    server {",
        "        listen 8080;",
        ...locations,
        "    }",
        "}",
        "",
    ].join("\n");
}

/**
 * The env file of a service: its plain values and the generated secrets it references, one
 * `NAME=value` per line (Compose reads the rest of the line literally).
 */
export function envFile(s: ServiceSpec, secrets: Record<string, string>): string {
    const lines = s.env.map((e) => {
        const ref = (e.valueFrom as { secretKeyRef?: { key: string } } | undefined)?.secretKeyRef;
        const value = ref ? secrets[ref.key] : (e.value as string | undefined);
        if (value === undefined) throw new Error(`no value for ${e.name} of ${s.component}`);
        if (/[\r\n]/.test(value))
            throw new Error(`${e.name} of ${s.component} spans lines: an env file cannot hold it`);
        return `${e.name}=${value}`;
    });
    return lines.length ? `${lines.join("\n")}\n` : "";
}
