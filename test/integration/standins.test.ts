// The release stand-ins against real parts: a throwaway PostgreSQL 15 with PostGIS (Debian's
// packages), a realm key set this test serves from a locally generated RSA key, tokens signed by it,
// a TCP listener for MongoDB. Core and repository share the database as upstream's services do; the
// checks compare with what the real services answer (Spring Security's 401 header, Cytomine's HMAC
// scheme, the repository's user lookup, Meilisearch's key errors).
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { Client } from "pg";
import { CONTRACTS, ServiceContract } from "../../components/model/release";
import { freePort } from "../support/project-config";
import { removeStandinRoots, RunningStandin, runStandin, standinRoot, startStandin } from "../../localenv";
import { Postgres, startPostgres } from "../support/postgres";
import { logged } from "../support/standin-log";
import { cytomineAuth, cytomineClient } from "../support/cytomine-hmac";

after(removeStandinRoots);

const ISSUER_ORIGIN = "https://cytomine.test";
const ISSUER = `${ISSUER_ORIGIN}/iam/realms/cytomine`;
const RFC = 'error_uri="https://tools.ietf.org/html/rfc6750#section-3.1"';
const IMAGE_SERVER = { pub: crypto.randomUUID(), priv: crypto.randomUUID() };

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

function sign(claims: Record<string, unknown>, key: crypto.KeyObject, header: Record<string, unknown> = {}) {
    const h = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid: "k1", ...header }));
    const p = b64url(JSON.stringify(claims));
    return `${h}.${p}.${b64url(crypto.sign("sha256", Buffer.from(`${h}.${p}`), key))}`;
}

const now = () => Math.floor(Date.now() / 1000);
function claimsFor(username: string, roles: string[] | undefined, extra: Record<string, unknown> = {}) {
    return {
        iss: ISSUER,
        sub: crypto.randomUUID(),
        exp: now() + 300,
        iat: now(),
        preferred_username: username,
        name: `${username} Name`,
        given_name: username,
        family_name: "Tester",
        email: `${username}@example.org`,
        azp: "core",
        ...(roles ? { resource_access: { core: { roles } } } : {}),
        ...extra,
    };
}

/** The header Spring Security's BearerTokenAuthenticationEntryPoint writes for REASON. */
const invalid = (reason: string) =>
    `Bearer error="invalid_token", error_description="An error occurred while attempting to decode the Jwt: ${reason}", ${RFC}`;

async function get(url: string, headers: Record<string, string> = {}) {
    const res = await fetch(url, { headers });
    return { status: res.status, headers: res.headers, text: await res.text() };
}

describe("release stand-ins against PostgreSQL, a key set and each other", () => {
    let pg: Postgres;
    let pgPort: number;
    let mongo: net.Server;
    let mongoPort: number;
    let jwks: http.Server;
    let jwksPort: number;
    let closedPort: number;
    const realmKey = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    const otherKey = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    const running: RunningStandin[] = [];
    let repository: RunningStandin;
    let core: RunningStandin;

    const sql = async (db: string, text: string, params: unknown[] = []) => {
        const c = new Client({ host: "127.0.0.1", port: pgPort, user: "portal", password: pg.password, database: db });
        await c.connect();
        try {
            return (await c.query(text, params)).rows as Record<string, unknown>[];
        } finally {
            await c.end();
        }
    };
    const dbEnv = (db = "cytomine", user = "portal", password?: string) => ({
        POSTGIS_HOST: "127.0.0.1",
        POSTGIS_PORT: String(pgPort),
        POSTGIS_DB_NAME: db,
        POSTGIS_USER: user,
        POSTGIS_PASS: password ?? pg.password,
    });
    const coreEnv = (over: Record<string, string> = {}): Record<string, string> => {
        const env: Record<string, string> = {};
        for (const e of CONTRACTS.core.env) if (e.required) env[e.name] = `value-of-${e.name.toLowerCase()}`;
        return {
            ...env,
            ...dbEnv(),
            PIMS_URL: "http://127.0.0.1:9/ims",
            SAM_URL: "http://127.0.0.1:9/sam",
            CBIR_URL: "http://127.0.0.1:9/cbir",
            REPOSITORY_URL: `${repository.url}/`,
            IAM_URL: `http://127.0.0.1:${jwksPort}`,
            IAM_EXTERNAL_URL: ISSUER_ORIGIN,
            SERVER_URL: "https://cytomine.test",
            MONGO_HOST: "127.0.0.1",
            MONGO_PORT: String(mongoPort),
            ...over,
        };
    };
    const startCore = async (over: Record<string, string> = {}) => {
        const s = await startStandin("core", { root: standinRoot("core"), env: coreEnv(over), wait: 10 });
        running.push(s);
        return s;
    };

    before(async () => {
        pg = await startPostgres();
        pgPort = Number(new URL(pg.url).port);
        await sql("postgres", "CREATE DATABASE cytomine");
        await sql("cytomine", "CREATE EXTENSION postgis");
        await sql("postgres", "CREATE DATABASE nopostgis");
        // A login that may connect but not create anything (no CREATE on the database or its schema).
        await sql("postgres", "CREATE DATABASE restricted");
        await sql("restricted", "CREATE EXTENSION postgis");
        await sql("postgres", "CREATE ROLE weak LOGIN PASSWORD 'weak-password'");
        mongo = net.createServer((s) => s.end()).listen(0, "127.0.0.1");
        await new Promise((r) => mongo.once("listening", r));
        mongoPort = (mongo.address() as net.AddressInfo).port;
        const jwk = { ...realmKey.publicKey.export({ format: "jwk" }), kid: "k1", alg: "RS256", use: "sig" };
        jwks = http
            .createServer((req, res) => {
                if (req.url === "/iam/realms/cytomine/protocol/openid-connect/certs") {
                    res.setHeader("Content-Type", "application/json");
                    res.end(JSON.stringify({ keys: [jwk] }));
                } else res.writeHead(404).end();
            })
            .listen(0, "127.0.0.1");
        await new Promise((r) => jwks.once("listening", r));
        jwksPort = (jwks.address() as net.AddressInfo).port;
        closedPort = await freePort();
        repository = await startStandin("repository", {
            root: standinRoot("repository"),
            env: {
                ...dbEnv(),
                IMAGE_SERVER_PUBLIC_KEY: IMAGE_SERVER.pub,
                IMAGE_SERVER_PRIVATE_KEY: IMAGE_SERVER.priv,
            },
            wait: 10,
        });
        running.push(repository);
        core = await startCore();
    });

    after(async () => {
        for (const s of running) await s.stop();
        mongo?.close();
        jwks?.close();
        pg?.stop();
    });

    describe("database", () => {
        it("core refuses a database without postgis with the real migration error", () => {
            const r = runStandin("core", { root: standinRoot("core"), env: coreEnv(dbEnv("nopostgis")), wait: 5 });
            const postgis = CONTRACTS.core.extensions!.find((e) => e.name === "postgis")!;
            assert.equal(r.status, 1, r.stderr);
            assert.ok(
                r.stderr.startsWith(`${postgis.failure}\nstand-in: core: postgis (${postgis.source})\n`),
                r.stderr,
            );
            assert.match(postgis.failure, /type "geometry" does not exist/);
        });

        it("core creates ltree (the migration's first change set)", async () => {
            const rows = await sql("cytomine", "SELECT extname FROM pg_extension ORDER BY 1");
            assert.ok(
                rows.some((r) => r.extname === "ltree"),
                JSON.stringify(rows),
            );
            assert.ok(!(await sql("nopostgis", "SELECT 1 FROM pg_extension WHERE extname = 'ltree'")).length);
        });

        it("core refuses when the migration may not create ltree", () => {
            const env = coreEnv(dbEnv("restricted", "weak", "weak-password"));
            const r = runStandin("core", { root: standinRoot("core"), env, wait: 5 });
            const ltree = CONTRACTS.core.extensions!.find((e) => e.name === "ltree")!;
            assert.equal(r.status, 1, r.stderr);
            assert.ok(r.stderr.startsWith(`${ltree.failure}\nstand-in: core: ltree (${ltree.source})\n`), r.stderr);
            assert.match(r.stderr, /permission denied to create extension "ltree"/);
        });

        it("core refuses a wrong password with PostgreSQL's own message", () => {
            const r = runStandin("core", {
                root: standinRoot("core"),
                env: coreEnv(dbEnv("cytomine", "portal", "wrong")),
                wait: 5,
            });
            assert.equal(r.status, 1, r.stderr);
            assert.match(
                r.stderr.split("\n")[0],
                /^org\.postgresql\.util\.PSQLException: FATAL: password authentication failed for user "portal"$/,
            );
            assert.match(r.stderr.split("\n")[1], /^stand-in: core: POSTGIS_PASS \(/);
        });

        it("core refuses when nothing answers at MONGO_HOST:MONGO_PORT", () => {
            const r = runStandin("core", {
                root: standinRoot("core"),
                env: coreEnv({ MONGO_PORT: String(closedPort) }),
                wait: 0,
            });
            const mongoItem = CONTRACTS.core.env.find((e) => e.name === "MONGO_HOST")!;
            assert.equal(r.status, 1, r.stderr);
            assert.ok(r.stderr.startsWith(`${mongoItem.failure}\nstand-in: core: MONGO_HOST (`), r.stderr);
        });

        it("repository writes ImageServer1's keys; the seed gave it a storage", async () => {
            const rows = await sql(
                "cytomine",
                "SELECT u.public_key, u.private_key, u.roles, s.name FROM sec_user u JOIN storage s ON s.user_id = u.id WHERE u.username = 'ImageServer1'",
            );
            assert.equal(rows.length, 1);
            assert.equal(rows[0].public_key, IMAGE_SERVER.pub);
            assert.equal(rows[0].private_key, IMAGE_SERVER.priv);
            assert.equal(rows[0].name, "ImageServer1 storage");
            await logged(repository, /Assigned image server keys to user ImageServer1/);
        });

        it("repository answers /ping and /users/search/{username}", async () => {
            assert.deepEqual(await get(`${repository.url}/ping`).then((r) => [r.status, r.text]), [200, "pong"]);
            const user = await get(`${repository.url}/users/search/ImageServer1`);
            assert.equal(user.status, 200);
            assert.equal(JSON.parse(user.text).username, "ImageServer1");
            assert.equal((await get(`${repository.url}/users/search/nobody-here`)).status, 404);
            assert.equal((await get(`${repository.url}/ontologies`)).status, 404);
        });
    });

    describe("core: sign-in as Spring Security and Cytomine check it", () => {
        it("/server/ping is public and names the release", async () => {
            const r = await get(`${core.url}/server/ping`);
            assert.equal(r.status, 200);
            assert.deepEqual(JSON.parse(r.text), {
                alive: true,
                version: CONTRACTS.core.image.split(":").pop(),
                serverURL: "https://cytomine.test",
                serverID: "default",
            });
        });

        it("/api/** without credentials: 401 with core's error page; unknown public paths 404", async () => {
            const r = await get(`${core.url}/api/user/current.json`);
            assert.equal(r.status, 401);
            assert.match(r.text, /Authorization required/);
            assert.equal((await get(`${core.url}/api/project.json`)).status, 401);
            assert.equal((await get(`${core.url}/session/admin/info.json`)).status, 401);
            assert.equal((await get(`${core.url}/nothing-here`)).status, 404);
        });

        it("a right token: the user is provisioned, looked up through the repository, with its roles", async () => {
            const claims = claimsFor("alice", ["ADMIN"]);
            const token = sign(claims, realmKey.privateKey);
            const r = await get(`${core.url}/api/user/current.json`, { Authorization: `Bearer ${token}` });
            assert.equal(r.status, 200, r.text);
            const user = JSON.parse(r.text);
            assert.equal(user.username, "alice");
            assert.equal(user.name, "alice Name");
            assert.equal(user.email, "alice@example.org");
            assert.deepEqual(
                Object.keys(user).sort(),
                [
                    "created",
                    "email",
                    "firstname",
                    "fullName",
                    "id",
                    "isDeveloper",
                    "language",
                    "lastname",
                    "name",
                    "updated",
                    "username",
                ].sort(),
            );
            await logged(repository, /"GET \/users\/search\/alice" 200/);
            const session = await get(`${core.url}/session/admin/info.json`, { Authorization: `Bearer ${token}` });
            assert.deepEqual(JSON.parse(session.text), {
                admin: true,
                adminByNow: true,
                user: false,
                userByNow: false,
                guest: false,
                guestByNow: false,
            });
            const row = await sql("cytomine", "SELECT reference, roles FROM sec_user WHERE username = 'alice'");
            assert.deepEqual(row[0], { reference: claims.sub, roles: ["ROLE_ADMIN"] });
            const storages = await get(`${core.url}/api/storage.json`, { Authorization: `Bearer ${token}` });
            assert.deepEqual(
                JSON.parse(storages.text).collection.map((s: { name: string }) => s.name),
                ["alice storage"],
            );
        });

        it("the token also works as ?Authorization= and ?auth= (TokenFromParameterFilter)", async () => {
            const token = sign(claimsFor("bob", ["USER"]), realmKey.privateKey);
            for (const q of [`Authorization=${token}`, `auth=${token}`]) {
                assert.equal((await get(`${core.url}/api/user/current.json?${q}`)).status, 200, q);
            }
        });

        it("without resource_access.core.roles the user is a GUEST (realm roles are not read)", async () => {
            const token = sign(
                claimsFor("carol", undefined, { realm_access: { roles: ["ADMIN", "USER"] } }),
                realmKey.privateKey,
            );
            const session = await get(`${core.url}/session/admin/info.json`, { Authorization: `Bearer ${token}` });
            assert.equal(session.status, 200, session.text);
            assert.deepEqual(JSON.parse(session.text), {
                admin: false,
                adminByNow: false,
                user: false,
                userByNow: false,
                guest: true,
                guestByNow: true,
            });
        });

        it("wrong issuer, expired, bad signature, garbage: 401 with Spring Security's exact header", async () => {
            const cases: [string, string][] = [
                [
                    sign(
                        { ...claimsFor("dave", ["USER"]), iss: "http://other/iam/realms/cytomine" },
                        realmKey.privateKey,
                    ),
                    invalid("The iss claim is not valid"),
                ],
                [
                    sign({ ...claimsFor("dave", ["USER"]), exp: 1735689600 }, realmKey.privateKey),
                    invalid("Jwt expired at 2025-01-01T00:00:00Z"),
                ],
                [
                    sign(claimsFor("dave", ["USER"]), otherKey.privateKey),
                    invalid("Signed JWT rejected: Invalid signature"),
                ],
                ["abc.def", invalid("Malformed token")],
            ];
            for (const [token, header] of cases) {
                for (const p of ["/api/user/current.json", "/server/ping"]) {
                    const r = await get(`${core.url}${p}`, { Authorization: `Bearer ${token}` });
                    assert.equal(r.status, 401, `${p}: ${header}`);
                    assert.equal(r.text, "");
                    assert.equal(r.headers.get("www-authenticate"), header);
                }
            }
            const none = await sql("cytomine", "SELECT 1 FROM sec_user WHERE username = 'dave'");
            assert.equal(none.length, 0, "a rejected token provisions nobody");
        });

        it("a non-UUID sub, or a new user without a name: 500 (the listener's exception)", async () => {
            const r1 = await get(`${core.url}/api/user/current.json`, {
                Authorization: `Bearer ${sign({ ...claimsFor("erin", ["USER"]), sub: "not-a-uuid" }, realmKey.privateKey)}`,
            });
            assert.equal(r1.status, 500);
            await logged(core, /IllegalArgumentException/);
            const noName: Record<string, unknown> = claimsFor("frank", ["USER"]);
            delete noName.name;
            const r2 = await get(`${core.url}/api/user/current.json`, {
                Authorization: `Bearer ${sign(noName, realmKey.privateKey)}`,
            });
            assert.equal(r2.status, 500);
            await logged(core, /NullPointerException/);
        });

        it("Cytomine's HMAC scheme with ImageServer1's keys (as PIMS and the dataset import sign)", async () => {
            const date = new Date().toUTCString();
            const ok = await get(`${core.url}/api/user/current.json`, {
                Date: date,
                Authorization: cytomineAuth("GET", date, IMAGE_SERVER.pub, IMAGE_SERVER.priv),
            });
            assert.equal(ok.status, 200, ok.text);
            assert.equal(JSON.parse(ok.text).username, "ImageServer1");
            const keys = await get(`${core.url}/api/userkey/${IMAGE_SERVER.pub}/keys.json`, {
                Date: date,
                Authorization: cytomineAuth("GET", date, IMAGE_SERVER.pub, IMAGE_SERVER.priv),
            });
            assert.deepEqual(JSON.parse(keys.text), { publicKey: IMAGE_SERVER.pub, privateKey: IMAGE_SERVER.priv });
            const bad = await get(`${core.url}/api/user/current.json`, {
                Date: date,
                Authorization: cytomineAuth("GET", date, IMAGE_SERVER.pub, "not-the-key"),
            });
            assert.equal(bad.status, 401);
        });

        it("the repository down: /api/user/current.json fails as RestClient does (500)", async () => {
            const c = await startCore({ REPOSITORY_URL: `http://127.0.0.1:${closedPort}/` });
            const token = sign(claimsFor("gina", ["USER"]), realmKey.privateKey);
            const r = await get(`${c.url}/api/user/current.json`, { Authorization: `Bearer ${token}` });
            assert.equal(r.status, 500);
            await logged(
                c,
                new RegExp(
                    `ResourceAccessException: I/O error on GET request for "http://127.0.0.1:${closedPort}/users/search/gina"`,
                ),
            );
            // A path no controller maps is 404 without asking for the user (only controllers do).
            const unmapped = await get(`${c.url}/api/nothing.json`, { Authorization: `Bearer ${token}` });
            assert.equal(unmapped.status, 404);
        });

        it("the key set unreachable: 500, not 401", async () => {
            const c = await startCore({ IAM_URL: `http://127.0.0.1:${closedPort}` });
            const token = sign(claimsFor("hank", ["USER"]), realmKey.privateKey);
            const r = await get(`${c.url}/api/user/current.json`, { Authorization: `Bearer ${token}` });
            assert.equal(r.status, 500);
            await logged(c, /Couldn't retrieve remote JWK set/);
        });
    });

    describe("projects, images and task runs (what PIMS saves; TaskRunController)", () => {
        // The app engine as core calls it: a local server that records each request and answers as the
        // app engine's TaskRunController does for one run (its refusal of a provision included).
        const RUN = crypto.randomUUID();
        const calls: string[] = [];
        let engine: http.Server;
        let c: RunningStandin;
        const server = cytomineClient("", () => ({ pub: IMAGE_SERVER.pub, priv: IMAGE_SERVER.priv }));
        const as = (user: string, roles: string[]) => {
            const token = sign(claimsFor(user, roles), realmKey.privateKey);
            return async (method: string, p: string, body?: unknown) => {
                const r = await fetch(`${c.url}${p}`, {
                    method,
                    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
                    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
                });
                return { status: r.status, body: (await r.json()) as Any };
            };
        };
        const signed = (method: string, p: string, body?: unknown) => server(method, `${c.url}${p}`, body);

        before(async () => {
            engine = http
                .createServer((req, res) => {
                    let body = "";
                    req.on("data", (d) => (body += d));
                    req.on("end", () => {
                        calls.push(`${req.method} ${req.url} ${body}`);
                        res.setHeader("Content-Type", "application/json");
                        if (req.url!.endsWith("/runs"))
                            res.end(
                                JSON.stringify({ id: RUN, state: "CREATED", task: { name: "add", version: "1.0.0" } }),
                            );
                        else if (req.url!.endsWith("/outputs")) res.end("[]");
                        else if (req.url!.endsWith("/input-provisions/b"))
                            res.writeHead(400).end(
                                JSON.stringify({ error_code: "APPE-internal-parameter-type-error" }),
                            );
                        else res.end(JSON.stringify({ parameterName: "a", value: 2, taskRunId: RUN }));
                    });
                })
                .listen(0, "127.0.0.1");
            await new Promise((r) => engine.once("listening", r));
            c = await startCore({
                APPENGINE_API_URL: `http://127.0.0.1:${(engine.address() as net.AddressInfo).port}`,
            });
        });
        after(() => engine?.close());

        it("PIMS's saves: a project (409 for a taken name), an uploaded file, its abstract image, an instance (409 twice), listed", async () => {
            const project = await signed("POST", "/api/project.json", { name: "lung-study" });
            assert.equal(project.status, 200, JSON.stringify(project.body));
            assert.equal(project.body.project.name, "lung-study");
            assert.equal(project.body.callback.projectID, String(project.body.project.id));
            const again = await signed("POST", "/api/project.json", { name: "lung-study" });
            assert.deepEqual([again.status, again.body.message], [409, "Project lung-study already exist!"]);
            const storage = (await signed("GET", "/api/storage.json")).body.collection[0].id;
            const uf = await signed("POST", "/api/uploadedfile.json", {
                originalFilename: "slide.dcm",
                filename: "upload-1/slide.dcm",
                storage,
            });
            assert.equal(uf.status, 200, JSON.stringify(uf.body));
            const ai = await signed("POST", "/api/abstractimage.json", { uploadedFile: uf.body.uploadedfile.id });
            assert.equal(ai.body.abstractimage.originalFilename, "slide.dcm");
            const body = { baseImage: ai.body.abstractimage.id, project: project.body.project.id };
            const ii = await signed("POST", "/api/imageinstance.json", body);
            assert.equal(ii.status, 200, JSON.stringify(ii.body));
            const twice = await signed("POST", "/api/imageinstance.json", body);
            assert.deepEqual(
                [twice.status, twice.body.message],
                [409, "Image slide.dcm already map with project lung-study"],
            );
            const missing = await signed("POST", "/api/imageinstance.json", { ...body, baseImage: 999999 });
            assert.deepEqual([missing.status, missing.body.message], [404, "AbstractImage 999999 not found"]);
            const listed = await signed("GET", `/api/project/${project.body.project.id}/imageinstance.json`);
            assert.deepEqual(
                listed.body.collection.map((i: Any) => [i.id, i.instanceFilename]),
                [[ii.body.imageinstance.id, "slide.dcm"]],
            );
            assert.equal((await get(`${c.url}/api/imageinstance/${ii.body.imageinstance.id}.json`)).status, 401);
        });

        it("a project is its creator's: another user gets 403 and does not list it; an admin reads it", async () => {
            const bob = as("bob", ["USER"]);
            const carol = as("carol", ["USER"]);
            const created = await bob("POST", "/api/project.json", { name: "bob-project" });
            const id = created.body.project.id;
            const denied = await carol("GET", `/api/project/${id}.json`);
            assert.equal(denied.status, 403);
            assert.match(denied.body.message, /You don't have the right to read or modify this resource!/);
            const names = (r: { body: Any }) => r.body.collection.map((p: Any) => p.name);
            assert.ok(!names(await carol("GET", "/api/project.json")).includes("bob-project"));
            assert.ok(names(await as("alice", ["ADMIN"])("GET", "/api/project.json")).includes("bob-project"));
            assert.equal((await bob("GET", `/api/project/${id}.json`)).body.name, "bob-project");
            // Runs in it: not for another user, nor a guest; an unknown run is 404 before the app engine.
            const runs = `/api/app-engine/project/${id}/tasks/org.test.add/1.0.0/runs`;
            assert.equal((await carol("POST", runs, { image: 1 })).status, 403);
            const before = calls.length;
            const unknown = await bob("GET", `/api/app-engine/project/${id}/task-runs/${crypto.randomUUID()}`);
            assert.equal(unknown.status, 404);
            assert.match(unknown.body.message, /^TaskRun [0-9a-f-]{36} not found$/);
            assert.equal(calls.length, before, "nothing reached the app engine");
        });

        it("a run through core: created at the app engine, then recorded on its image; provisions go one by one without their type", async () => {
            const project = (await signed("GET", "/api/project.json")).body.collection.find(
                (p: Any) => p.name === "lung-study",
            );
            const image = (await signed("GET", `/api/project/${project.id}/imageinstance.json`)).body.collection[0];
            const base = `/api/app-engine/project/${project.id}`;
            calls.length = 0;
            const run = await signed("POST", `${base}/tasks/org.test.add/1.0.0/runs`, { image: image.id });
            assert.equal(run.status, 200, JSON.stringify(run.body));
            assert.equal(run.body.id, RUN);
            // AppEngineService.buildFullUrl: base path "/app-engine/v1/" + "/tasks/..." (the double slash
            // is upstream's); the task's outputs read after the run is saved.
            assert.deepEqual(
                calls.map((l) => l.trim()),
                [
                    "POST /app-engine/v1//tasks/org.test.add/1.0.0/runs",
                    "GET /app-engine/v1//tasks/org.test.add/1.0.0/outputs",
                ],
            );
            const listed = await signed("GET", `/api/project/${project.id}/task-runs`);
            assert.deepEqual(
                listed.body.map((r: Any) => [r.taskRunId, r.image, r.user.username]),
                [[RUN, image.id, "ImageServer1"]],
            );
            calls.length = 0;
            const provisioned = await signed("PUT", `${base}/task-runs/${RUN}/input-provisions`, [
                { parameterName: "a", value: 2, type: { id: "integer" } },
            ]);
            assert.equal(provisioned.status, 200, JSON.stringify(provisioned.body));
            assert.deepEqual(calls, [
                `PUT /app-engine/v1/task-runs/${RUN}/input-provisions/a {"parameterName":"a","value":2}`,
            ]);
            // The app engine's refusal comes back as core's answer (AppEngineException).
            const refused = await signed("PUT", `${base}/task-runs/${RUN}/input-provisions/b`, {
                parameterName: "b",
                value: "x",
                type: { id: "integer" },
            });
            assert.deepEqual([refused.status, refused.body.error_code], [400, "APPE-internal-parameter-type-error"]);
            // Without `type`, upstream's provisionTaskRun fails on the missing node.
            const untyped = await signed("PUT", `${base}/task-runs/${RUN}/input-provisions/a`, { value: 2 });
            assert.equal(untyped.status, 500);
            // A run of another project is not found there.
            const other = (await signed("POST", "/api/project.json", { name: "other-study" })).body.project.id;
            assert.equal((await signed("GET", `/api/app-engine/project/${other}/task-runs/${RUN}`)).status, 404);
            // An image that does not exist: upstream creates the run at the app engine first, then fails.
            calls.length = 0;
            const noImage = await signed("POST", `${base}/tasks/org.test.add/1.0.0/runs`, { image: 999999 });
            assert.deepEqual([noImage.status, noImage.body.message], [404, "ImageInstance 999999 not found"]);
            assert.equal(calls.length, 1);
            // No image at all: the same, then upstream's NullPointerException.
            assert.equal((await signed("POST", `${base}/tasks/org.test.add/1.0.0/runs`, {})).status, 500);
            assert.equal(calls.length, 2);
        });
    });
});

describe("web-ui stand-in", () => {
    const env = {
        CORE_URL: "https://c.test/api/",
        IAM_URL: "https://c.test/iam/realms/cytomine/",
        PIMS_URL: "https://c.test/ims",
    };

    it("writes /tmp/configuration.json as envsubst does and serves it, index.html elsewhere", async () => {
        const root = standinRoot("web-ui");
        const s = await startStandin("web-ui", { root, env });
        try {
            const config = JSON.parse(fs.readFileSync(root.at("/tmp/configuration.json"), "utf8"));
            assert.equal(config.CORE_URL, env.CORE_URL);
            assert.equal(config.IAM_URL, env.IAM_URL);
            assert.equal(config.SAM_URL, "", "unset variables become empty");
            const served = await get(`${s.url}/configuration.json`);
            assert.deepEqual(JSON.parse(served.text), config);
            const page = await get(`${s.url}/project/1/image/2`);
            assert.equal(page.status, 200);
            for (const id of ["current-user", "roles", "sign-out", "error", "session"]) {
                assert.match(page.text, new RegExp(`id="${id}"`));
            }
        } finally {
            await s.stop();
        }
    });

    it("refuses when /tmp cannot be written for its uid, with the entrypoint's message", (t) => {
        if (process.getuid?.() !== 0) return t.skip("needs root to run it as another uid");
        const root = standinRoot("web-ui");
        fs.chmodSync(root.root, 0o755);
        fs.chmodSync(root.at("/tmp"), 0o755); // root's, so nobody cannot write there
        for (const p of ["/var/cache/nginx", "/var/run"]) fs.chmodSync(root.at(p), 0o777);
        const r = runStandin("web-ui", { root, env, user: "nobody" });
        const item = (CONTRACTS["web-ui"] as ServiceContract).writable.find((w) => w.path === "/tmp")!;
        assert.equal(r.status, 1, r.stderr);
        assert.ok(r.stderr.startsWith(`${item.failure}\nstand-in: web-ui: /tmp (${item.source})\n`), r.stderr);
        assert.match(r.stderr, /Permission denied/);
    });
});

describe("meilisearch stand-in", () => {
    it("enforces the master key, keeps indexes and documents, returns tasks", async () => {
        const root = standinRoot("meilisearch");
        const key = crypto.randomBytes(16).toString("hex");
        const s = await startStandin("meilisearch", { root, env: { MEILI_ENV: "production", MEILI_MASTER_KEY: key } });
        const call = async (method: string, p: string, body?: unknown, k: string | null = key) => {
            const res = await fetch(`${s.url}${p}`, {
                method,
                headers: { "Content-Type": "application/json", ...(k ? { Authorization: `Bearer ${k}` } : {}) },
                body: body === undefined ? undefined : JSON.stringify(body),
            });
            return { status: res.status, json: (await res.json()) as Record<string, string> };
        };
        try {
            assert.deepEqual((await call("GET", "/health", undefined, null)).json, { status: "available" });
            const missing = await call("GET", "/indexes/imageMetadataIndex", undefined, null);
            assert.equal(missing.status, 401);
            assert.equal(missing.json.code, "missing_authorization_header");
            const wrong = await call("GET", "/indexes/imageMetadataIndex", undefined, "wrong");
            assert.equal(wrong.status, 403);
            assert.deepEqual(
                [wrong.json.code, wrong.json.message],
                ["invalid_api_key", "The provided API key is invalid."],
            );
            assert.equal((await call("GET", "/indexes/imageMetadataIndex")).status, 404);
            const created = await call("POST", "/indexes", { uid: "imageMetadataIndex", primaryKey: "id" });
            assert.equal(created.status, 202);
            assert.equal(created.json.status, "enqueued");
            assert.equal(created.json.type, "indexCreation");
            const settings = await call("PATCH", "/indexes/imageMetadataIndex/settings", {
                filterableAttributes: ["image_id"],
            });
            const docs = await call("POST", "/indexes/imageMetadataIndex/documents", [
                { id: 1, image_id: 7, key: "k", value: "v" },
            ]);
            for (const t of [created, settings, docs]) {
                const task = await call("GET", `/tasks/${t.json.taskUid}`);
                assert.equal(task.json.status, "succeeded", JSON.stringify(task.json));
            }
            assert.equal((await call("GET", "/indexes/imageMetadataIndex")).json.primaryKey, "id");
            const stored = fs.readFileSync(root.at("/meili_data/data.ms/cytomine-standin.json"), "utf8");
            assert.match(stored, /"image_id": 7/);
        } finally {
            await s.stop();
        }
    });
});
