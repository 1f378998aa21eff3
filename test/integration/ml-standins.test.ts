// The stand-ins of the optional services (sam, cbir, app-engine: localenv/images/common/standin_*.py)
// run on this machine as test/integration/standins.test.ts runs the others (python3, --root, --port),
// against real parts: Debian's redis-server on a free loopback port, a throwaway PostgreSQL
// (test/support/postgres.ts) and, for the Kubernetes API, an HTTPS listener with a self-signed
// certificate (openssl) that answers the pod list for one token and 401 for any other.
// Checked: each refuses to start the way its contract says (exit code, the item's name and source,
// the path or value at fault), and once started answers its health path and the routes it implements.
import assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { gunzipSync } from "node:zlib";
import { after, before, describe, it } from "node:test";
import { Client } from "pg";
import { stringify } from "yaml";
import { CONTRACTS } from "../../components/model/release";
import {
    envSettings,
    removeStandinRoots,
    RunningStandin,
    runStandin,
    StandinRoot,
    standinRoot,
    startStandin,
} from "../../localenv";
import { repoRoot } from "../../toolchain/index";
import { freePort } from "../support/project-config";
import { startRedis } from "../support/redis";
import { Postgres, startPostgres } from "../support/postgres";
import { logged } from "../support/standin-log";
import { appEngineClient } from "../support/task-bundle";

after(removeStandinRoots);

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The first line of a refusal and the stand-in's own line naming the contract item. */
function assertRefused(r: { status: number | null; stderr: string }, component: string, item: string, code: number) {
    assert.equal(r.status, code, r.stderr);
    const env = CONTRACTS[component].env.find((e) => e.name === item);
    assert.ok(r.stderr.includes(`stand-in: ${component}: ${item} (${env?.source ?? ""}`), r.stderr);
}

/** A multipart form as core's RestTemplate sends it. */
function form(fields: Record<string, string | { file: Buffer; name: string }>): FormData {
    const f = new FormData();
    for (const [k, v] of Object.entries(fields)) {
        if (typeof v === "string") f.append(k, v);
        else f.append(k, new Blob([new Uint8Array(v.file)], { type: "image/jpeg" }), v.name);
    }
    return f;
}

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46]);

describe("sam stand-in", () => {
    const env = { API_BASE_PATH: "/sam", WEIGHTS_PATH: "/weights" };
    let root: StandinRoot;
    let sam: RunningStandin | undefined;
    before(() => {
        root = standinRoot("sam");
    });
    after(async () => sam?.stop());

    it("refuses to start without the weights file, naming WEIGHTS_PATH and the path (exit 3)", () => {
        const r = runStandin("sam", { root, env });
        assertRefused(r, "sam", "WEIGHTS_PATH", 3);
        assert.match(r.stderr, /^FileNotFoundError: \[Errno 2\] No such file or directory: '\/weights\/weights.pt'/);
    });

    it("refuses an empty weights file, and one CHECKPOINT names that is missing", () => {
        fs.mkdirSync(root.at("/weights"), { recursive: true });
        fs.writeFileSync(root.at("/weights/weights.pt"), "");
        assertRefused(runStandin("sam", { root, env }), "sam", "WEIGHTS_PATH", 3);
        fs.writeFileSync(root.at("/weights/weights.pt"), "not really torch");
        const r = runStandin("sam", { root, env: { ...env, CHECKPOINT: "other.pt" } });
        assertRefused(r, "sam", "WEIGHTS_PATH", 3);
        assert.match(r.stderr, /'\/weights\/other.pt'/);
    });

    it("serves / with the weights, validates refine requests as FastAPI, answers a Feature", async () => {
        sam = await startStandin("sam", { root, env });
        const health = await fetch(`${sam.url}/`);
        assert.deepEqual(await health.json(), { version: "0.1.0", status: "healthy", gpu: false });

        const refine = `${sam.url}/sam/annotations/refine`;
        const empty = await fetch(refine, { method: "POST" });
        assert.equal(empty.status, 422);
        const missing = ((await empty.json()) as { detail: { loc: string[]; type: string }[] }).detail;
        assert.deepEqual(
            missing.map((d) => [d.type, d.loc.join(".")]),
            ["annotation_crop", "image_height", "image_width", "location"].map((n) => ["missing", `body.${n}`]),
        );
        const location = "POLYGON ((10 20, 30 20, 30 60, 10 60, 10 20))";
        const crop = { file: JPEG, name: "7.jpg" };
        const zero = await fetch(refine, {
            method: "POST",
            body: form({ annotation_crop: crop, image_height: "0", image_width: "100", location }),
        });
        assert.equal(zero.status, 422);
        assert.equal(((await zero.json()) as { detail: { type: string }[] }).detail[0].type, "greater_than");
        const flat = await fetch(refine, {
            method: "POST",
            body: form({ annotation_crop: crop, image_height: "100", image_width: "100", location: "POINT (1 2)" }),
        });
        assert.equal(flat.status, 400);
        assert.deepEqual(await flat.json(), { detail: "Annotation must have a positive area" });

        const ok = await fetch(refine, {
            method: "POST",
            body: form({ annotation_crop: crop, image_height: "100", image_width: "100", location }),
        });
        assert.equal(ok.status, 200);
        const feature = (await ok.json()) as { type: string; geometry: { type: string; coordinates: number[][][] } };
        assert.equal(feature.type, "Feature");
        assert.equal(feature.geometry.type, "Polygon");
        const xs = feature.geometry.coordinates[0].map((p) => p[0]);
        const ys = feature.geometry.coordinates[0].map((p) => p[1]);
        assert.deepEqual([Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)], [10, 20, 30, 60]);
        await logged(sam, "not a segmentation", "the refine result is logged as a stand-in's");

        assert.equal((await fetch(`${sam.url}/api/annotations/refine`, { method: "POST" })).status, 404);
    });
});

describe("cbir stand-in", { timeout: 60_000 }, () => {
    let root: StandinRoot;
    let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
    let cbir: RunningStandin | undefined;
    const env = (over: Record<string, string> = {}) => ({
        API_BASE_PATH: "/cbir",
        HOST: "127.0.0.1",
        PORT: String(redis?.port ?? 6379),
        EXTRACTOR: "resnet",
        WEIGHTS: "/weights/resnet",
        ...over,
    });
    const hasRedis = spawnSync("sh", ["-c", "command -v redis-server"]).status === 0;

    before(async () => {
        root = standinRoot("cbir");
        fs.mkdirSync(root.at("/weights"));
        fs.writeFileSync(root.at("/weights/resnet"), "resnet state dict");
        if (hasRedis) redis = await startRedis(root.at("/tmp"));
    });
    after(async () => {
        await cbir?.stop();
        await redis?.stop();
    });

    it("refuses hoptim and an unknown extractor (exit 3)", () => {
        const hoptim = runStandin("cbir", { root, env: env({ EXTRACTOR: "hoptim" }) });
        assertRefused(hoptim, "cbir", "EXTRACTOR", 3);
        assert.match(hoptim.stderr, /only resnet runs from mounted weights/);
        const other = runStandin("cbir", { root, env: env({ EXTRACTOR: "vgg" }) });
        assertRefused(other, "cbir", "EXTRACTOR", 3);
        assert.match(other.stderr, /^ValueError: Model vgg not found\./);
    });

    it("refuses a missing weights file (exit 3)", () => {
        const r = runStandin("cbir", { root, env: env({ WEIGHTS: "/weights/absent" }) });
        assertRefused(r, "cbir", "WEIGHTS", 3);
        assert.match(r.stderr, /\/weights\/absent: no such file/);
    });

    it("refuses an unreachable Redis with redis-py's error, naming HOST (exit 3)", async () => {
        const closed = await freePort();
        const r = runStandin("cbir", { root, env: env({ PORT: String(closed) }), wait: 1 });
        assertRefused(r, "cbir", "HOST", 3);
        assert.match(
            r.stderr,
            new RegExp(
                `^redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:${closed}. Connection refused.`,
            ),
        );
    });

    const skip = hasRedis ? false : "redis-server is not installed (apt-get install redis-server)";
    it(
        "with Redis: /health, storages created, read, listed and deleted as folders of DATA_PATH",
        { skip },
        async () => {
            const port = redis!.port;
            cbir = await startStandin("cbir", { root, env: env() });
            assert.deepEqual(await (await fetch(`${cbir.url}/health`)).json(), { status: "ok" });
            const base = `${cbir.url}/cbir/storages`;
            const post = (body: string) =>
                fetch(base, { method: "POST", headers: { "Content-Type": "application/json" }, body });
            const created = await post(JSON.stringify({ name: "42" }));
            assert.equal(created.status, 200);
            assert.deepEqual(await created.json(), { message: "Created storage with name: 42" });
            assert.ok(fs.statSync(root.at("/data/42")).isDirectory());
            assert.equal((await post(JSON.stringify({ name: "42" }))).status, 409);
            assert.equal((await post("{}")).status, 422);
            assert.deepEqual(await (await fetch(base)).json(), ["42"]);
            assert.deepEqual(await (await fetch(`${base}/42`)).json(), { name: "42" });
            assert.equal((await fetch(`${base}/41`)).status, 404);

            // The image routes make upstream's checks (Redis, the storage), then say they cannot compute.
            const images = `${cbir.url}/cbir/images`;
            const image = () => form({ image: { file: JPEG, name: "7" } });
            const noStorage = await fetch(`${images}?storage=41&index=annotation`, { method: "POST", body: image() });
            assert.equal(noStorage.status, 404);
            assert.deepEqual(await noStorage.json(), { detail: "Storage '41' not found." });
            const index = await fetch(`${images}?storage=42&index=annotation`, { method: "POST", body: image() });
            assert.equal(index.status, 500);
            assert.match(((await index.json()) as { detail: string }).detail, /stand-in/);
            assert.equal((await fetch(`${images}/7?storage=42&index=annotation`, { method: "DELETE" })).status, 404);
            const reply = await new Promise<string>((resolve, reject) => {
                const sock = net.connect(port, "127.0.0.1", () => sock.write("SET 42:annotation:7 0\r\n"));
                sock.once("data", (d) => {
                    resolve(d.toString());
                    sock.destroy();
                });
                sock.once("error", reject);
            });
            assert.equal(reply, "+OK\r\n");
            const taken = await fetch(`${images}?storage=42&index=annotation`, { method: "POST", body: image() });
            assert.equal(taken.status, 409, "an indexed filename is read from Redis as store.py names it");

            const deleted = await fetch(`${base}/42`, { method: "DELETE" });
            assert.deepEqual(await deleted.json(), { message: "Deleted storage with name: 42" });
            assert.equal((await fetch(`${base}/42`, { method: "DELETE" })).status, 404);
            assert.ok(!fs.existsSync(root.at("/data/42")));
        },
    );
});

/**
 * The Kubernetes API as the app engine needs it (node -e K8S_API <tls dir> <namespace> <token>): HTTPS
 * with the certificate in <tls dir>; for the token, the namespace's pods: listed, watched (a stream of
 * events, one JSON object per line, from any version: the events since start), created (kept, in
 * phase Pending) and nothing else; 401 for any other token. POST /test/phase/<pod>/<phase> (no token)
 * moves a pod to a phase, as a kubelet would report it. Prints "port N", then one line per request,
 * and "pod <JSON>" for each pod created.
 */
const K8S_API = `
const [dir, ns, token] = process.argv.slice(1);
const fs = require("fs"), https = require("https"), path = require("path");
const opts = { key: fs.readFileSync(path.join(dir, "key.pem")), cert: fs.readFileSync(path.join(dir, "cert.pem")) };
const pods = [], watchers = [];
let version = 1;
const changed = (type, pod) => {
    pod.metadata.resourceVersion = String(++version);
    for (const w of watchers) w.write(JSON.stringify({ type, object: pod }) + "\\n");
};
const server = https.createServer(opts, (req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
        console.log(req.method + " " + req.url + " " + (req.headers.authorization || ""));
        res.setHeader("Content-Type", "application/json");
        const phase = /^\\/test\\/phase\\/([^/]+)\\/([A-Za-z]+)$/.exec(req.url);
        if (phase && req.method === "POST") {
            pods.filter((p) => p.metadata.name === phase[1]).forEach((p) => {
                p.status.phase = phase[2];
                changed("MODIFIED", p);
            });
            res.end("{}");
        } else if (req.headers.authorization !== "Bearer " + token) {
            res.writeHead(401).end(JSON.stringify({ kind: "Status", message: "Unauthorized", code: 401 }));
        } else if (req.url.startsWith("/api/v1/namespaces/" + ns + "/pods?") && /[?&]watch=true/.test(req.url)) {
            res.writeHead(200);
            watchers.push(res);
            res.on("close", () => watchers.splice(watchers.indexOf(res), 1));
        } else if (req.url.startsWith("/api/v1/namespaces/" + ns + "/pods") && req.method === "GET") {
            const metadata = { resourceVersion: String(version) };
            res.end(JSON.stringify({ kind: "PodList", apiVersion: "v1", metadata, items: pods }));
        } else if (req.url === "/api/v1/namespaces/" + ns + "/pods" && req.method === "POST") {
            const pod = { ...JSON.parse(body), status: { phase: "Pending" } };
            pods.push(pod);
            changed("ADDED", pod);
            console.log("pod " + JSON.stringify(pod));
            res.writeHead(201).end(JSON.stringify(pod));
        } else res.writeHead(404).end(JSON.stringify({ kind: "Status", code: 404 }));
    });
});
server.listen(0, "127.0.0.1", () => console.log("port " + server.address().port));
`;

describe("app-engine stand-in", () => {
    const SA = "/var/run/secrets/kubernetes.io/serviceaccount";
    const NAMESPACE = "cytomine-tasks";
    const TOKEN = "good-token";
    let pg: Postgres;
    let pgPort: number;
    let api: ChildProcess;
    let apiPort: number;
    let tls: string;
    let appEngine: RunningStandin | undefined;
    let registry: ChildProcess;
    let registryUrl: string;
    const requests: string[] = [];

    const env = (over: Record<string, string> = {}): Record<string, string> => ({
        DB_HOST: "127.0.0.1",
        DB_PORT: String(pgPort),
        DB_NAME: "appengine",
        DB_USERNAME: "portal",
        DB_PASSWORD: pg.password,
        API_PREFIX: "/app-engine/",
        REGISTRY_URL: registryUrl,
        SCHEDULER_ADVERTISED_URL: "http://127.0.0.1:9",
        SCHEDULER_REGISTRY_ADVERTISED_URL: "127.0.0.1:9",
        SCHEDULER_USE_HOST_NETWORK: "false",
        SCHEDULER_TASKS_NAMESPACE: NAMESPACE,
        SCHEDULER_RUN_MODE: "cluster",
        ...over,
    });
    const inCluster = { KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: "" };
    const withToken = (token: string) => {
        const root = standinRoot("app-engine");
        fs.mkdirSync(root.at(SA), { recursive: true });
        fs.writeFileSync(root.at(`${SA}/token`), token);
        fs.copyFileSync(path.join(tls, "cert.pem"), root.at(`${SA}/ca.crt`));
        fs.writeFileSync(root.at(`${SA}/namespace`), "cytomine");
        return root;
    };

    before(async () => {
        pg = await startPostgres();
        pgPort = Number(new URL(pg.url).port);
        const c = new Client({
            host: "127.0.0.1",
            port: pgPort,
            user: "portal",
            password: pg.password,
            database: "postgres",
        });
        await c.connect();
        await c.query("CREATE DATABASE appengine");
        await c.end();
        tls = fs.mkdtempSync(path.join(os.tmpdir(), "k8s-api-"));
        const cert = spawnSync("openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kubernetes",
            "-keyout", path.join(tls, "key.pem"), "-out", path.join(tls, "cert.pem"),
        ], { encoding: "utf8" }); // prettier-ignore
        assert.equal(cert.status, 0, cert.stderr);
        // In a child process: runStandin waits synchronously, so this process could not answer it.
        api = spawn(process.execPath, ["-e", K8S_API, tls, NAMESPACE, TOKEN], { stdio: ["ignore", "pipe", "inherit"] });
        api.stdout!.on("data", (d) => requests.push(...String(d).split("\n").filter(Boolean)));
        for (let i = 0; !requests.some((l) => l.startsWith("port ")); i++) {
            if (i > 100 || api.exitCode !== null) throw new Error("the Kubernetes API stand-in did not start");
            await new Promise((r) => setTimeout(r, 50));
        }
        apiPort = Number(requests.find((l) => l.startsWith("port "))!.slice(5));
        inCluster.KUBERNETES_SERVICE_PORT = String(apiPort);
        // distribution's registry program (the toolchain's build, as the registry image runs it).
        const port = await freePort();
        registryUrl = `http://127.0.0.1:${port}`;
        fs.writeFileSync(
            path.join(tls, "registry.yml"),
            stringify({
                version: 0.1,
                log: { level: "warn" },
                storage: { filesystem: { rootdirectory: path.join(tls, "registry") } },
                http: { addr: `127.0.0.1:${port}` },
            }),
        );
        registry = spawn(
            path.join(envSettings().docker.registryBinDir, "registry"),
            ["serve", path.join(tls, "registry.yml")],
            { stdio: "ignore" },
        );
        for (
            let i = 0;
            !(await fetch(`${registryUrl}/v2/`).then(
                (r) => r.ok,
                () => false,
            ));
            i++
        ) {
            if (i > 100 || registry.exitCode !== null) throw new Error("the registry did not start");
            await new Promise((r) => setTimeout(r, 100));
        }
    });
    after(async () => {
        await appEngine?.stop();
        registry?.kill();
        api?.kill();
        pg?.stop();
        if (tls) fs.rmSync(tls, { recursive: true, force: true });
    });

    it("refuses to start without the in-cluster configuration (exit 1)", () => {
        const r = runStandin("app-engine", { root: standinRoot("app-engine"), env: env(), wait: 5 });
        assert.equal(r.status, CONTRACTS["app-engine"].exitCode, r.stderr);
        assert.match(
            r.stderr,
            /stand-in: app-engine: kubernetes \(in-cluster configuration\) \(.*KubernetesConfig\.java/,
        );
        assert.match(r.stderr, /KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT, .*serviceaccount\/token missing/);
    });

    it("refuses a wrong database password with PostgreSQL's message, naming DB_PASSWORD", () => {
        const r = runStandin("app-engine", { root: withToken(TOKEN), env: env({ DB_PASSWORD: "wrong" }), wait: 5 });
        assertRefused(r, "app-engine", "DB_PASSWORD", 1);
        assert.match(r.stderr, /^org.postgresql.util.PSQLException: FATAL: password authentication failed/);
    });

    it("refuses when the Kubernetes API answers 401 to the service account's token", async () => {
        const r = runStandin("app-engine", { root: withToken("revoked"), env: env(inCluster), wait: 5 });
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, /Unauthorized! Token may have expired/);
        assert.match(r.stderr, /HTTP 401/);
        // The API's log line arrives once this process reads the child's pipe again.
        const asked = () =>
            requests.some((q) => q.startsWith(`GET /api/v1/namespaces/${NAMESPACE}/pods Bearer revoked`));
        for (let i = 0; !asked() && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
        assert.ok(asked(), requests.join("\n"));
    });

    it("takes KUBERNETES_MASTER and KUBERNETES_AUTH_TOKEN over the service account, as fabric8's Config does (the VM's task-pods)", () => {
        const master = { KUBERNETES_MASTER: `https://127.0.0.1:${inCluster.KUBERNETES_SERVICE_PORT}` };
        const noToken = runStandin("app-engine", { root: standinRoot("app-engine"), env: env(master), wait: 5 });
        assert.equal(noToken.status, 1, noToken.stderr);
        assert.match(
            noToken.stderr,
            /kubernetes \(KUBERNETES_MASTER\).*no KUBERNETES_MASTER: KUBERNETES_AUTH_TOKEN missing/s,
        );
        // The service account's token is right, the variable's wrong: the variable wins, and is refused.
        const r = runStandin("app-engine", {
            root: withToken(TOKEN),
            env: env({ ...master, KUBERNETES_AUTH_TOKEN: "revoked-variable" }),
            wait: 5,
        });
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, /HTTP 401/);
    });

    it("with the cluster and the database: /ping and an empty task list from its task table", async () => {
        appEngine = await startStandin("app-engine", { root: withToken(TOKEN), env: env(inCluster), wait: 5 });
        await logged(appEngine, `informer added (0 pod(s) in ${NAMESPACE})`);
        const ping = (await (await fetch(`${appEngine.url}/ping`)).json()) as Record<string, string>;
        assert.equal(ping.status, "UP");
        assert.equal(ping.service, "app-engine");
        assert.ok(!Number.isNaN(Date.parse(ping.timestamp)), ping.timestamp);
        const tasks = await fetch(`${appEngine.url}/app-engine/v1/tasks`);
        assert.equal(tasks.status, 200);
        assert.deepEqual(await tasks.json(), []);
        assert.equal((await fetch(`${appEngine.url}/app-engine/v1/task-runs/x`)).status, 404);
        const c = new Client({
            host: "127.0.0.1",
            port: pgPort,
            user: "portal",
            password: pg.password,
            database: "appengine",
        });
        await c.connect();
        try {
            const rows = await c.query("SELECT count(*)::int AS n FROM public.task");
            assert.equal(rows.rows[0].n, 0);
        } finally {
            await c.end();
        }
    });

    it("runs a task: the bundle's image pushed to a real registry, a pod of upstream's shape, inputs out and outputs back", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "task-"));
        try {
            const py = (script: string, ...args: string[]) => {
                const r = spawnSync("python3", ["-c", script, ...args], { encoding: "utf8" });
                assert.equal(r.status, 0, r.stderr);
                return r.stdout.trim();
            };
            // A bundle as `docker save` lays out an image (manifest.json, config, one layer), zipped with the
            // test task's descriptor: the app engine takes the archive's entries as they come.
            py(
                `
import hashlib, io, json, sys, tarfile, zipfile
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w") as t:
    data = b"#!/bin/false\\n"
    info = tarfile.TarInfo("add"); info.size = len(data); info.mode = 0o755
    t.addfile(info, io.BytesIO(data))
layer = layer.getvalue()
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Entrypoint": ["/add"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
image = io.BytesIO()
with tarfile.open(fileobj=image, mode="w") as t:
    for name, data in (("config.json", config), ("l1/layer.tar", layer),
            ("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["add:1.0.0"], "Layers": ["l1/layer.tar"]}]).encode())):
        info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
with zipfile.ZipFile(sys.argv[1] + "/bundle.zip", "w") as z:
    z.write(sys.argv[2], "descriptor.yml")
    z.writestr("org.cytomine.fallback.test.add-1.0.0.tar", image.getvalue())
open(sys.argv[1] + "/config.json", "wb").write(config)
open(sys.argv[1] + "/layer.tar", "wb").write(layer)
`,
                dir,
                path.join(repoRoot, "test", "fixtures", "task-add", "descriptor.yml"),
            );
            const port = await freePort();
            const advertised = `http://127.0.0.1:${port}`;
            await appEngine?.stop(); // the previous case's, with other settings
            appEngine = await startStandin("app-engine", {
                root: withToken(TOKEN),
                port,
                env: env({
                    ...inCluster,
                    SCHEDULER_ADVERTISED_URL: advertised,
                    SCHEDULER_REGISTRY_ADVERTISED_URL: "10.96.0.9:5000",
                    SCHEDULER_TASKS_RUNNER_IMAGE: "cytomine/app-engine-tasks-runner:test",
                    SCHEDULER_HELPERCONTAINERSRESOURCES_CPU: "100m",
                    SCHEDULER_HELPERCONTAINERSRESOURCES_RAM: "128Mi",
                }),
                wait: 5,
            });
            const { call, upload } = appEngineClient(appEngine.url);

            // The upload: the image in the registry under the namespace's path, as the registry serves it.
            const up = await upload(path.join(dir, "bundle.zip"));
            assert.equal(up.status, 200, JSON.stringify(up.body));
            assert.equal(up.body.namespace, "org.cytomine.fallback.test.add");
            const manifest = (await (
                await fetch(`${registryUrl}/v2/org/cytomine/fallback/test/add/manifests/1.0.0`, {
                    headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json" },
                })
            ).json()) as Any;
            const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
            assert.equal(manifest.config.digest, sha(fs.readFileSync(path.join(dir, "config.json"))));
            const blob = Buffer.from(
                await (
                    await fetch(`${registryUrl}/v2/org/cytomine/fallback/test/add/blobs/${manifest.layers[0].digest}`)
                ).arrayBuffer(),
            );
            assert.ok(gunzipSync(blob).equals(fs.readFileSync(path.join(dir, "layer.tar"))), "the layer, gzipped");
            const again = await upload(path.join(dir, "bundle.zip"));
            assert.deepEqual([again.status, again.body.error_code], [400, "APPE-internal-task-exists"]);

            // A run: refused before its inputs, and a value of the wrong type.
            const created = await call("POST", "/tasks/org.cytomine.fallback.test.add/1.0.0/runs");
            assert.equal(created.body.state, "CREATED");
            const id = created.body.id as string;
            const early = await call("POST", `/task-runs/${id}/state-actions`, { desired: "RUNNING" });
            assert.equal(early.body.error_code, "APPE-internal-task-run-provisions-not-found");
            const wrong = await call("PUT", `/task-runs/${id}/input-provisions`, [{ parameterName: "b", value: "x" }]);
            assert.deepEqual([wrong.status, wrong.body.error_code], [400, "APPE-internal-request-validation-error"]);
            const provisioned = await call("PUT", `/task-runs/${id}/input-provisions`, [
                { parameterName: "a", value: 2 },
                { parameterName: "b", value: 3 },
            ]);
            assert.equal(provisioned.status, 200);
            assert.equal((await call("GET", `/task-runs/${id}`)).body.state, "PROVISIONED");

            // Run: one pod of KubernetesScheduler's shape, in the task namespace.
            const ran = await call("POST", `/task-runs/${id}/state-actions`, { desired: "RUNNING" });
            assert.deepEqual([ran.body.status, ran.body.resource.state], ["success", "QUEUING"]);
            const podLine = () => requests.find((l) => l.startsWith("pod ") && l.includes(id));
            for (let i = 0; !podLine() && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
            const pod = JSON.parse(podLine()!.slice(4)) as Any;
            assert.equal(pod.metadata.name, `fallbacktestaddition-${id}`);
            assert.deepEqual(pod.metadata.labels, { runId: id, app: "task" });
            assert.equal(pod.spec.serviceAccountName, "app-engine");
            assert.deepEqual(
                pod.spec.initContainers.map((c: Any) => c.name),
                ["permissions", "inputs-provisioning"],
            );
            const [task, sender] = pod.spec.containers as Any[];
            assert.equal(task.image, "10.96.0.9:5000/org/cytomine/fallback/test/add:1.0.0");
            assert.deepEqual(task.resources.requests, { cpu: "1", memory: "64Mi" });
            assert.deepEqual(sender.resources.limits, { cpu: "100m", memory: "128Mi" });
            assert.equal(sender.image, "cytomine/app-engine-tasks-runner:test");
            assert.deepEqual(
                pod.spec.volumes.map((v: Any) => v.hostPath.path),
                [`/tmp/app-engine/task-run-inputs-${id}`, `/tmp/app-engine/task-run-outputs-${id}`, "/data/datasets"],
            );

            // The pod's part, played here from its own commands: inputs fetched, outputs posted with the secret.
            const inputsUrl = /curl -L -o inputs.zip (\S+)/.exec(pod.spec.initContainers[1].command[2])![1];
            assert.equal(inputsUrl, `${advertised}/app-engine/v1/task-runs/${id}/inputs.zip`);
            fs.writeFileSync(path.join(dir, "inputs.zip"), Buffer.from(await (await fetch(inputsUrl)).arrayBuffer()));
            const inputs = JSON.parse(
                py(
                    "import json, sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(json.dumps({n: z.read(n).decode() for n in z.namelist()}))",
                    path.join(dir, "inputs.zip"),
                ),
            );
            assert.deepEqual(inputs, { a: "2", b: "3" });
            const outputsUrl = /curl -X POST -F 'outputs=@outputs.zip' (\S+)/.exec(sender.command[2])![1];
            py(
                "import sys, zipfile; zipfile.ZipFile(sys.argv[1], 'w').writestr('out', sys.argv[2])",
                path.join(dir, "outputs.zip"),
                "5",
            );
            const post = (url: string) => {
                const f = new FormData();
                f.append(
                    "outputs",
                    new Blob([new Uint8Array(fs.readFileSync(path.join(dir, "outputs.zip")))]),
                    "outputs.zip",
                );
                return fetch(url, { method: "POST", body: f });
            };
            const forged = await post(outputsUrl.replace(/[0-9a-f-]{36}\/outputs\.zip$/, `${id}/outputs.zip`));
            assert.equal(forged.status, 403, "the run's id is not its secret");
            assert.equal((await post(outputsUrl)).status, 200);
            assert.equal((await call("GET", `/task-runs/${id}`)).body.state, "FINISHED");
            const outputs = await call("GET", `/task-runs/${id}/outputs`);
            assert.deepEqual(
                outputs.body.map((o: Any) => [o.parameterName, o.value]),
                [["out", 5]],
            );

            // A second run whose pod fails: the informer sets FAILED.
            const second = (await call("POST", "/tasks/org.cytomine.fallback.test.add/1.0.0/runs")).body.id as string;
            await call("PUT", `/task-runs/${second}/input-provisions`, [
                { parameterName: "a", value: -1 },
                { parameterName: "b", value: 3 },
            ]);
            await call("POST", `/task-runs/${second}/state-actions`, { desired: "RUNNING" });
            const https = await import("node:https");
            await new Promise<void>((resolve, reject) =>
                https
                    .request(
                        {
                            host: "127.0.0.1",
                            port: apiPort,
                            method: "POST",
                            path: `/test/phase/fallbacktestaddition-${second}/Failed`,
                            rejectUnauthorized: false,
                        },
                        (r) => r.resume().on("end", resolve),
                    )
                    .on("error", reject)
                    .end(),
            );
            let state = "";
            for (let i = 0; i < 50 && state !== "FAILED"; i++) {
                await new Promise((r) => setTimeout(r, 200));
                state = (await call("GET", `/task-runs/${second}`)).body.state;
            }
            assert.equal(state, "FAILED");
            // Told by the watch, as fabric8's informer is: one list, then watches from its version.
            assert.ok(
                requests.some((q) =>
                    q.startsWith(
                        `GET /api/v1/namespaces/${NAMESPACE}/pods?labelSelector=app%3Dtask&watch=true&resourceVersion=`,
                    ),
                ),
                requests.join("\n"),
            );
            const none = await call("GET", `/task-runs/${second}/outputs`);
            assert.equal(none.body.error_code, "APPE-internal-task-run-state-error");
        } finally {
            await appEngine?.stop();
            appEngine = undefined;
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
