// The release's contract (./release.ts) checked against what a target renders: the Kubernetes
// manifests or the compose project (compose file, env files, nginx.conf). Both are read back into one
// plain shape, so the same checks judge both, and a reviewer's checker could do the same from the files.
import { parse } from "yaml";
import { CONTRACTS, ROUTES, ServiceContract } from "./release";

/** A service as rendered: what its container gets. */
export interface RenderedService {
    component: string;
    image: string;
    /** Plain values, or the secret a value comes from. */
    env: Record<string, string | { secret: string }>;
    /** Paths the container can write: its mounts that are not read-only; "/" when the root is writable. */
    writable: string[];
    uid?: number;
    /** The port it listens on (the compose project does not say: undefined). */
    port?: number;
    /** Paths of its HTTP probes. */
    probes: string[];
}

export interface RenderedRoute {
    path: string;
    service: string;
    port: number;
}

export interface Finding {
    component: string;
    /** The contract item: env NAME, writable PATH, route PATH, port, image, user, probe PATH, extension NAME. */
    item: string;
    problem: string;
    source: string;
}

/** Paths every container runtime provides writable (Docker and Kubernetes mount a tmpfs on /dev/shm). */
const RUNTIME_WRITABLE = ["/dev/shm"];

const under = (path: string, mount: string) => mount === "/" || path === mount || path.startsWith(`${mount}/`);

/** Hosts an in-tenant URL may name although nothing renders them: the optional (ML) services core must be told about. */
const UNDEPLOYED = new Set(
    Object.values(CONTRACTS)
        .filter((c) => c.optional)
        .map((c) => c.component),
);

function serviceFindings(c: ServiceContract, s: RenderedService, all: RenderedService[]): Finding[] {
    const out: Finding[] = [];
    const add = (item: string, problem: string, source: string) =>
        out.push({ component: c.component, item, problem, source });
    const repo = c.image.slice(0, c.image.lastIndexOf(":"));
    if (s.image !== c.image && !s.image.startsWith(`${repo}@sha256:`))
        add("image", `runs ${s.image}, not this release's ${c.image}`, c.imageSource);
    if (s.port !== undefined && s.port !== c.port) add("port", `listens on ${c.port}, not ${s.port}`, c.portSource);
    if (s.uid !== c.uid) add("user", `must run as uid ${c.uid} (runs as ${s.uid ?? "the image's user"})`, c.uidSource);
    for (const e of c.env) {
        const value = s.env[e.name];
        if (value === undefined || value === "") {
            if (e.required) add(`env ${e.name}`, `missing: ${e.failure ?? e.meaning}`, e.source);
            continue;
        }
        if (typeof value !== "string") continue;
        const bad = e.valueProblem?.(value);
        if (bad) add(`env ${e.name}`, bad, e.source);
        // An in-tenant URL must name a rendered service on its port (core never reaching PIMS, say).
        const m = /^(?:https?|redis):\/\/([a-z0-9-]+):(\d+)/.exec(value);
        if (m && !UNDEPLOYED.has(m[1])) {
            const target = all.find((t) => t.component === m[1]);
            const port = target && (target.port ?? CONTRACTS[target.component]?.port);
            if (!target) add(`env ${e.name}`, `points at ${m[1]}, which is not deployed`, e.source);
            else if (port !== undefined && port !== Number(m[2]))
                add(`env ${e.name}`, `points at ${m[1]}:${m[2]}, which listens on ${port}`, e.source);
        }
    }
    for (const w of c.writable) {
        if (RUNTIME_WRITABLE.includes(w.path) || s.writable.some((m) => under(w.path, m))) continue;
        add(`writable ${w.path}`, `not writable (${w.why}): ${w.failure}`, w.source);
    }
    const health = new Set(c.health.map((h) => h.path));
    for (const p of s.probes)
        if (!health.has(p))
            add(`probe ${p}`, `the image has no such endpoint (it has ${[...health].join(", ")})`, c.imageSource);
    return out;
}

/** What a database must hold for the services that use it: PostGIS's image creates postgis at initdb. */
function extensionFindings(services: RenderedService[]): Finding[] {
    const postgis = services.find((s) => s.component === "postgis");
    const out: Finding[] = [];
    for (const c of Object.values(CONTRACTS))
        for (const x of c.extensions ?? [])
            if (x.createdBy === "image" && services.some((s) => s.component === c.component))
                if (!postgis || !/(^|\/)postgis:|postgis@sha256:/.test(postgis.image))
                    out.push({
                        component: c.component,
                        item: `extension ${x.name}`,
                        problem: `the database image ${postgis?.image ?? "(none)"} does not create it: ${x.failure}`,
                        source: x.source,
                    });
    return out;
}

function routeFindings(routes: RenderedRoute[], services: RenderedService[]): Finding[] {
    const out: Finding[] = [];
    for (const r of ROUTES) {
        const got = routes.find((x) => x.path === r.path);
        const port = CONTRACTS[r.service].port;
        if (!got)
            out.push({
                component: r.service,
                item: `route ${r.path}`,
                problem: `not routed (${r.why})`,
                source: r.source,
            });
        else if (got.service !== r.service || got.port !== port)
            out.push({
                component: r.service,
                item: `route ${r.path}`,
                problem: `goes to ${got.service}:${got.port}, not ${r.service}:${port}`,
                source: r.source,
            });
    }
    for (const r of routes)
        if (!services.some((s) => s.component === r.service))
            out.push({
                component: r.service,
                item: `route ${r.path}`,
                problem: `goes to ${r.service}, which is not deployed`,
                source: "",
            });
    return out;
}

/** Every way the rendered services and routes break the release's contract (empty: none). */
export function contractFindings(services: RenderedService[], routes: RenderedRoute[]): Finding[] {
    const findings: Finding[] = [];
    for (const c of Object.values(CONTRACTS)) {
        const s = services.find((x) => x.component === c.component);
        if (!s) {
            if (!c.optional)
                findings.push({
                    component: c.component,
                    item: "service",
                    problem: "not deployed",
                    source: c.imageSource,
                });
        } else findings.push(...serviceFindings(c, s, services));
    }
    return [...findings, ...extensionFindings(services), ...routeFindings(routes, services)];
}

// ---------------------------------------------------------------------------------------------------
// Reading the renders back.

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The services and routes of Kubernetes objects (as applied: Deployments, StatefulSets, Ingress or HTTPRoute). */
export function fromManifests(objects: Obj[]): { services: RenderedService[]; routes: RenderedRoute[] } {
    const services = objects
        .filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet")
        .map((o): RenderedService => {
            const pod = o.spec.template.spec;
            const c = pod.containers[0];
            const readOnly = new Set(
                (c.volumeMounts ?? []).filter((m: Obj) => m.readOnly).map((m: Obj) => m.mountPath as string),
            );
            const probes = [c.readinessProbe, c.livenessProbe, c.startupProbe]
                .map((p) => p?.httpGet?.path as string | undefined)
                .filter((p): p is string => p !== undefined);
            return {
                component: c.name,
                image: c.image,
                env: Object.fromEntries(
                    (c.env ?? []).map((e: Obj) => [
                        e.name,
                        e.valueFrom?.secretKeyRef ? { secret: e.valueFrom.secretKeyRef.key } : (e.value ?? ""),
                    ]),
                ),
                writable: [
                    ...(c.volumeMounts ?? [])
                        .filter((m: Obj) => !readOnly.has(m.mountPath))
                        .map((m: Obj) => m.mountPath),
                    ...(c.securityContext?.readOnlyRootFilesystem ? [] : ["/"]),
                ],
                uid: c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser,
                port: c.ports?.[0]?.containerPort,
                probes: [...new Set(probes)],
            };
        });
    const routes: RenderedRoute[] = objects.flatMap((o) => {
        if (o.kind === "Ingress")
            return o.spec.rules.flatMap((rule: Obj) =>
                rule.http.paths.map((p: Obj) => ({
                    path: p.path,
                    service: p.backend.service.name,
                    port: p.backend.service.port.number,
                })),
            );
        if (o.kind === "HTTPRoute")
            return o.spec.rules.map((rule: Obj) => ({
                path: rule.matches[0].path.value,
                service: rule.backendRefs[0].name,
                port: rule.backendRefs[0].port,
            }));
        return [];
    });
    return { services, routes };
}

function tmpfsWritable(entry: string, user: unknown): boolean {
    const options = entry.split(":")[1] ?? "";
    const uid = user ? String(user).split(":")[0] : undefined;
    return (uid !== undefined && options.split(",").includes(`uid=${uid}`)) || /(^|,)mode=[0-7]*7($|,)/.test(options);
}

/** NAME=value lines of an env file; a value naming a secret as `<secret:key>` stands for that secret. */
export function parseEnvFile(text: string): Record<string, string | { secret: string }> {
    const out: Record<string, string | { secret: string }> = {};
    for (const line of text.split("\n")) {
        const eq = line.indexOf("=");
        if (eq <= 0 || line.startsWith("#")) continue;
        const value = line.slice(eq + 1);
        const ref = /^<secret:([a-z0-9-]+)>$/.exec(value);
        out[line.slice(0, eq)] = ref ? { secret: ref[1] } : value;
    }
    return out;
}

/**
 * The services and routes of a compose project: its compose file, the env file of each service (by
 * component) and the proxy's nginx.conf. Compose does not say what a container listens on: the routes'
 * ports are checked against the contract instead.
 */
export function fromCompose(
    composeYaml: string,
    envFiles: Record<string, string>,
    nginxConf: string,
): { services: RenderedService[]; routes: RenderedRoute[] } {
    const doc = parse(composeYaml) as { services: Record<string, Obj> };
    const services = Object.entries(doc.services)
        .filter(([name]) => name !== "proxy")
        .map(([name, s]): RenderedService => {
            const mounts = (s.volumes ?? []).map((v: string) => v.split(":"));
            return {
                component: name,
                image: s.image,
                env: parseEnvFile(envFiles[name] ?? ""),
                writable: [
                    ...mounts.filter((m: string[]) => m[2] !== "ro").map((m: string[]) => m[1]),
                    // A tmpfs is writable for the user only when it owns it or it is world-writable
                    // (Docker gives it the mode and owner of the image's directory otherwise).
                    ...(s.tmpfs ?? [])
                        .filter((t: string) => tmpfsWritable(t, s.user))
                        .map((t: string) => t.split(":")[0]),
                    ...(s.read_only ? [] : ["/"]),
                ],
                uid: s.user ? Number(String(s.user).split(":")[0]) : undefined,
                probes: [],
            };
        });
    const routes: RenderedRoute[] = [];
    const re = /location (\S+) \{\s*set \$upstream http:\/\/([a-z0-9-]+):(\d+);/g;
    for (let m = re.exec(nginxConf); m; m = re.exec(nginxConf))
        routes.push({ path: m[1], service: m[2], port: Number(m[3]) });
    return { services, routes };
}

/** Findings as lines a reviewer reads: `component: item: problem (source)`. */
export const describeFindings = (findings: Finding[]) =>
    findings.map((f) => `${f.component}: ${f.item}: ${f.problem}${f.source ? ` (${f.source})` : ""}`);
