// The dataset import end to end on this machine, against the PIMS stand-in of the pinned API
// (localenv/images/common/standin_pims.py): no Docker, no Pulumi.
//   - a real PostgreSQL with PostGIS (test/support/postgres.ts), a real Redis
//     (Debian's redis-server on a free loopback port), a TCP listener for MongoDB;
//   - the stand-ins of repository (writes ImageServer1's keys: the test's generated keys), core,
//     MeiliSearch and PIMS, PIMS with the env components/model/services.ts renders for it, its
//     hosts pointed at the local processes and its paths under a temporary root;
//   - the real import script (components/model/cytomine_import.py) with the pinned
//     cytomine-python-client from PyPI in a venv, run as the VM step runs it (--record, --view, the
//     keys on stdin as JSON), on Bigpicture trees written by test/support/dataset-fixtures.ts.
// Checked: PIMS imports each dataset's images into the project named by its DATASET alias, through the
// import view; the record keeps a second run from calling PIMS (no duplicate annotations or images);
// an added dataset alone is imported, the earlier ones staying in the view as served entries (a
// directory holding only IMAGES) that PIMS skips, so the images it linked in earlier runs still
// resolve and nothing of those datasets is imported twice; a wrong key is refused (exit 4); PIMS
// with a wrong MeiliSearch key logs MeiliSearch's error and imports nothing.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { Client } from "pg";
import { CONTRACTS } from "../../components/model/release";
import { cytomineServices } from "../../components/model/services";
import { DEFAULT_IMAGES, DEFAULT_STORAGE } from "../../components/model/settings";
import { PIMS_IMPORT_PATH, PYTHON_CLIENT_VERSION, revisionOf } from "../../components/model/datasets";
import { FixtureTree, writeValidTree } from "../support/dataset-fixtures";
import { startRedis } from "../support/redis";
import { removeStandinRoots, RunningStandin, StandinRoot, standinRoot, startStandin } from "../../localenv";
import { repoRoot } from "../../toolchain/index";
import { Postgres, startPostgres } from "../support/postgres";
import { logged } from "../support/standin-log";
import { cytomineClient } from "../support/cytomine-hmac";

after(removeStandinRoots);

const IMPORT_SCRIPT = path.join(repoRoot, "components/model/cytomine_import.py");
const IMAGE_SERVER = { publicKey: crypto.randomUUID(), privateKey: crypto.randomUUID() };
const MEILI_KEY = crypto.randomBytes(16).toString("hex");
const PIMS_RECORD = ".stand-in-imports.json";

/** A venv with the pinned client, kept per version under ~/.cache (built once, in a temporary directory renamed into place). */
function clientPython(): string {
    const dir = path.join(
        os.homedir(),
        ".cache",
        "cytomine-fallback",
        `cytomine-python-client-${PYTHON_CLIENT_VERSION}`,
    );
    const python = path.join(dir, "bin", "python");
    const check = () =>
        spawnSync(
            python,
            ["-c", "import importlib.metadata as m, cytomine; print(m.version('cytomine-python-client'))"],
            { encoding: "utf8" },
        );
    if (fs.existsSync(python) && check().stdout?.trim() === PYTHON_CLIENT_VERSION) return python;
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    const tmp = fs.mkdtempSync(`${dir}.tmp-`);
    const run = (cmd: string, args: string[]) => {
        const r = spawnSync(cmd, args, { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.stdout}`);
    };
    run("/usr/bin/python3", ["-m", "venv", tmp]);
    run(path.join(tmp, "bin", "python"), [
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        `cytomine-python-client==${PYTHON_CLIENT_VERSION}`,
    ]);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
    const version = check();
    assert.equal(version.stdout?.trim(), PYTHON_CLIENT_VERSION, version.stderr);
    return python;
}

interface PimsEntry {
    storage: number;
    bucket?: string;
    project?: string;
    projectId?: number;
    projectCreated?: boolean;
    images?: { image: string; status: string; upload?: string; imageInstance?: number }[];
    children?: string[];
    annotations?: Record<string, unknown>;
    error?: string;
}

interface ScriptRun {
    status: number | null;
    stdout: string;
    stderr: string;
    report?: { run: { id: string; datasets: string[] } | null; imported: string[]; note?: string; response?: Any };
}
type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

describe("the dataset import against the PIMS stand-in of the pinned API", { timeout: 600_000 }, () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "pims-import-"));
    let pg: Postgres;
    let mongo: net.Server;
    let redis: Awaited<ReturnType<typeof startRedis>>;
    const running: RunningStandin[] = [];
    let core: RunningStandin;
    let meili: RunningStandin;
    let pims: RunningStandin;
    let pimsRoot: StandinRoot;
    let python: string;
    const trees: Record<string, FixtureTree> = {};
    const record = path.join(work, "imported.json");

    /** PIMS's env as services.ts renders it, its hosts pointed at the local processes. */
    function pimsEnv(meiliKey = MEILI_KEY): Record<string, string> {
        const spec = cytomineServices({
            images: DEFAULT_IMAGES,
            storage: DEFAULT_STORAGE,
            publicUrl: "https://cytomine.test",
            keycloak: { mode: "external", origin: "https://iam.test", adminUser: "admin" },
            datasets: true,
        }).find((s) => s.component === "pims")!;
        const secrets: Record<string, string> = {
            "image-server-public-key": IMAGE_SERVER.publicKey,
            "image-server-private-key": IMAGE_SERVER.privateKey,
            "meilisearch-master-key": meiliKey,
        };
        const local: Record<string, string> = {
            INTERNAL_URL_CORE: core.url,
            MEILISEARCH_URL: meili.url,
            CACHE_URL: redis.url,
        };
        const env: Record<string, string> = {};
        // The rendered spec holds plain data (no Outputs): name, value or a Secret's key.
        for (const e of spec.env as {
            name: string;
            value?: string;
            valueFrom?: { secretKeyRef?: { key: string } };
        }[]) {
            const key = e.valueFrom?.secretKeyRef?.key;
            const value = key !== undefined ? secrets[key] : e.value;
            assert.ok(value !== undefined, `no value for ${e.name}`);
            env[e.name] = local[e.name] ?? value;
        }
        // The rendered values this test relies on (the view, the paths under the temporary root).
        assert.equal(env.DATASET_PATH, "/data/import");
        assert.equal(env.ROOT, "/data/images");
        assert.equal(env.API_BASE_PATH, "/ims");
        assert.match(String(spec.env.find((e) => e.name === "INTERNAL_URL_CORE")!.value), /^http:\/\/core:8080$/);
        return env;
    }

    async function startPims(meiliKey = MEILI_KEY) {
        const root = standinRoot("pims");
        const s = await startStandin("pims", { root, env: pimsEnv(meiliKey) });
        running.push(s);
        return { s, root };
    }

    /** The import as the VM step runs it: keys as JSON on stdin, the run's input as --datasets. */
    function runImport(
        ids: string[],
        o: { pims?: RunningStandin; pimsRoot?: StandinRoot; record?: string; keys?: object } = {},
    ): ScriptRun {
        const root = o.pimsRoot ?? pimsRoot;
        const datasets = ids.map((id, index) => ({
            id,
            index,
            source: "path",
            revision: revisionOf({ id, source: "path", path: trees[id].root }),
            hostDir: trees[id].root,
            // PIMS runs on this machine: it sees each dataset where the host has it.
            mountPath: trees[id].root,
        }));
        const r = spawnSync(
            python,
            [
                IMPORT_SCRIPT,
                "--core",
                core.url,
                "--pims",
                `${(o.pims ?? pims).url}/`,
                "--import-uri",
                PIMS_IMPORT_PATH,
                "--record",
                o.record ?? record,
                "--view",
                root.at("/data/import"),
                "--datasets",
                JSON.stringify(datasets),
            ],
            { input: JSON.stringify(o.keys ?? IMAGE_SERVER), encoding: "utf8", timeout: 180_000 },
        );
        const line = r.stdout.split("\n").find((l) => l.startsWith("cytomine-fallback-import "));
        const report = line ? JSON.parse(line.slice("cytomine-fallback-import ".length)) : undefined;
        return { status: r.status, stdout: r.stdout, stderr: r.stderr, report };
    }

    const pimsRecord = (root = pimsRoot): PimsEntry[] => {
        const file = root.at(`/data/images/${PIMS_RECORD}`);
        return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as PimsEntry[]) : [];
    };
    /** Waits (bounded) until PIMS's record holds `n` entries. */
    async function recordOf(n: number, root = pimsRoot, seconds = 30): Promise<PimsEntry[]> {
        const deadline = Date.now() + seconds * 1000;
        for (;;) {
            // Yield first: the stand-ins' output arrives through this process's event loop, which a
            // synchronous run of the script held up.
            await new Promise((res) => setTimeout(res, 200));
            const r = pimsRecord(root);
            if (r.length >= n || Date.now() > deadline) return r;
        }
    }
    const importCalls = (s: RunningStandin) =>
        (s.output().match(/"POST \/ims\/import\?storage_id=\d+" 200/g) ?? []).length;
    /** The view's entries PIMS imports: its symbolic links, name → target. */
    const viewLinks = (root = pimsRoot) => {
        const view = root.at("/data/import");
        return Object.fromEntries(
            fs
                .readdirSync(view)
                .filter((n) => fs.lstatSync(path.join(view, n)).isSymbolicLink())
                .map((n) => [n, fs.readlinkSync(path.join(view, n))]),
        );
    };
    /** The view's served entries: its real directories, name → their content, each entry's link target. */
    const viewServed = (root = pimsRoot) => {
        const view = root.at("/data/import");
        return Object.fromEntries(
            fs
                .readdirSync(view)
                .filter((n) => fs.lstatSync(path.join(view, n)).isDirectory())
                .map((n) => [
                    n,
                    Object.fromEntries(
                        fs.readdirSync(path.join(view, n)).map((m) => [m, fs.readlinkSync(path.join(view, n, m))]),
                    ),
                ]),
        );
    };
    const entryName = (id: string) => trees[id].datasets[0].path.replace("/", "--");
    /** The images PIMS linked under ROOT in the first run (lung and skin), kept for the later runs' checks. */
    let firstRunLinks: { id: string; link: string; image: string }[] = [];

    /** Core's API as the caller of the import (ImageServer1's keys) sees it. */
    const coreAs = (method: string, p: string) =>
        cytomineClient(core.url, () => ({ pub: IMAGE_SERVER.publicKey, priv: IMAGE_SERVER.privateKey }))(
            method,
            `/api/${p}`,
        );
    /** Asserts what PIMS saved in core for tree `id`: its project, listed, holding one instance per image. */
    async function assertInCore(entries: PimsEntry[], id: string) {
        const ds = trees[id].datasets[0];
        const entry = entries.find((e) => e.bucket === entryName(id))!;
        const projects = await coreAs("GET", "project.json");
        const project = projects.body.collection.find((p: Any) => p.name === ds.alias);
        assert.ok(project, `core lists project ${ds.alias}: ${JSON.stringify(projects.body)}`);
        assert.equal(project.id, entry.projectId);
        const images = await coreAs("GET", `project/${project.id}/imageinstance.json`);
        assert.equal(images.status, 200, JSON.stringify(images.body));
        assert.deepEqual(
            images.body.collection.map((i: Any) => [i.id, i.instanceFilename]),
            entry.images!.map((i) => [i.imageInstance, i.image]),
            "one instance per imported image, as PIMS recorded them",
        );
        return project.id as number;
    }

    /** Asserts PIMS imported tree `id` in this run's entries: its project, every image linked under ROOT/upload-*. */
    function assertImported(entries: PimsEntry[], id: string, root = pimsRoot) {
        const ds = trees[id].datasets[0];
        const linkName = ds.path.replace("/", "--");
        const entry = entries.find((e) => e.bucket === linkName);
        assert.ok(entry, `no PIMS entry for ${linkName}: ${JSON.stringify(entries)}`);
        assert.equal(entry.error, undefined);
        assert.equal(entry.project, ds.alias, "the project is the DATASET alias");
        assert.deepEqual(
            entry.images!.map((i) => [i.image, i.status]),
            ds.images.map((i) => [i.name, "imported"]),
        );
        for (const i of entry.images!) {
            const link = root.at(`/data/images/${i.upload}/${i.image}`);
            assert.ok(fs.lstatSync(link).isSymbolicLink(), `${link} is a link`);
            assert.equal(
                fs.realpathSync(link),
                fs.realpathSync(path.join(trees[id].root, ds.path, "IMAGES", i.image)),
                "linked to the dataset's image, not copied",
            );
        }
        // The dataset's own METADATA/annotation.xml is not read: upstream reads annotations only for
        // complementing (child) datasets, at <bucket>/<child>/METADATA/ (dataset.py:159-174).
        assert.ok(fs.existsSync(path.join(trees[id].root, ds.path, "METADATA", "annotation.xml")));
        assert.deepEqual(entry.children, []);
        assert.deepEqual(entry.annotations, {});
    }

    before(async () => {
        python = clientPython();
        for (const id of ["lung", "skin", "kidney"]) {
            trees[id] = await writeValidTree(path.join(work, "trees", id), {
                seed: id,
                imagesPerDataset: 2,
                filesPerImage: 1,
            });
        }
        pg = await startPostgres();
        const pgPort = Number(new URL(pg.url).port);
        const sql = async (db: string, text: string) => {
            const c = new Client({
                host: "127.0.0.1",
                port: pgPort,
                user: "portal",
                password: pg.password,
                database: db,
            });
            await c.connect();
            try {
                await c.query(text);
            } finally {
                await c.end();
            }
        };
        await sql("postgres", "CREATE DATABASE cytomine");
        await sql("cytomine", "CREATE EXTENSION postgis");
        const dbEnv = {
            POSTGIS_HOST: "127.0.0.1",
            POSTGIS_PORT: String(pgPort),
            POSTGIS_DB_NAME: "cytomine",
            POSTGIS_USER: "portal",
            POSTGIS_PASS: pg.password,
        };
        mongo = net.createServer((s) => s.end()).listen(0, "127.0.0.1");
        await new Promise((r) => mongo.once("listening", r));
        const redisDir = path.join(work, "redis");
        fs.mkdirSync(redisDir);
        redis = await startRedis(redisDir);

        const repository = await startStandin("repository", {
            root: standinRoot("repository"),
            env: {
                ...dbEnv,
                IMAGE_SERVER_PUBLIC_KEY: IMAGE_SERVER.publicKey,
                IMAGE_SERVER_PRIVATE_KEY: IMAGE_SERVER.privateKey,
            },
            wait: 10,
        });
        running.push(repository);
        const coreEnv: Record<string, string> = {};
        for (const e of CONTRACTS.core.env) if (e.required) coreEnv[e.name] = `value-of-${e.name.toLowerCase()}`;
        core = await startStandin("core", {
            root: standinRoot("core"),
            env: {
                ...coreEnv,
                ...dbEnv,
                PIMS_URL: "http://127.0.0.1:9/ims",
                SAM_URL: "http://127.0.0.1:9/sam",
                CBIR_URL: "http://127.0.0.1:9/cbir",
                REPOSITORY_URL: `${repository.url}/`,
                IAM_URL: "http://127.0.0.1:9",
                IAM_EXTERNAL_URL: "https://cytomine.test",
                SERVER_URL: "https://cytomine.test",
                MONGO_HOST: "127.0.0.1",
                MONGO_PORT: String((mongo.address() as net.AddressInfo).port),
            },
            wait: 10,
        });
        running.push(core);
        meili = await startStandin("meilisearch", {
            root: standinRoot("meilisearch"),
            env: { MEILI_ENV: "production", MEILI_MASTER_KEY: MEILI_KEY },
        });
        running.push(meili);
        ({ s: pims, root: pimsRoot } = await startPims());
    });

    after(async () => {
        for (const s of running) await s.stop();
        await redis?.stop();
        mongo?.close();
        pg?.stop();
        fs.rmSync(work, { recursive: true, force: true });
    });

    it("imports two datasets: PIMS answers running, then links each one's images into its project", async () => {
        const r = runImport(["lung", "skin"]);
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.report?.imported, ["lung", "skin"]);
        assert.equal(r.report?.response?.status, "running");
        const links = {
            [trees.lung.datasets[0].path.replace("/", "--")]: path.join(trees.lung.root, trees.lung.datasets[0].path),
            [trees.skin.datasets[0].path.replace("/", "--")]: path.join(trees.skin.root, trees.skin.datasets[0].path),
        };
        assert.deepEqual(viewLinks(), links, "the view links each DATASET_* folder");
        assert.deepEqual(viewServed(), {}, "nothing imported before: no served entry");
        assert.deepEqual([...r.report!.response.content].sort(), Object.keys(links).sort(), "PIMS listed the view");
        const entries = await recordOf(2);
        assert.equal(entries.length, 2, JSON.stringify(entries));
        assertImported(entries, "lung");
        assertImported(entries, "skin");
        assert.ok(entries.every((e) => e.projectCreated));
        // Saved in core as upstream's listener saves them: the web UI lists these projects and images.
        await assertInCore(entries, "lung");
        await assertInCore(entries, "skin");
        const image = (await coreAs("GET", `imageinstance/${entries[0].images![0].imageInstance}.json`)).body;
        assert.equal(image.project, entries[0].projectId);
        firstRunLinks = entries.flatMap((e) =>
            e.images!.map((i) => {
                const id = ["lung", "skin"].find((t) => entryName(t) === e.bucket)!;
                const link = pimsRoot.at(`/data/images/${i.upload}/${i.image}`);
                return { id, link, image: path.join(trees[id].root, trees[id].datasets[0].path, "IMAGES", i.image) };
            }),
        );
        assert.equal(firstRunLinks.length, 4, "two images per dataset");
        for (const l of firstRunLinks)
            assert.ok(
                fs.readlinkSync(l.link).startsWith(`${pimsRoot.at("/data/import")}/${entryName(l.id)}/IMAGES/`),
                `${l.link} → ${fs.readlinkSync(l.link)}: PIMS links through the view's entry (image.py:34,52-53)`,
            );
        await logged(core, /"GET \/api\/storage\/\d+\.json" 200/, "PIMS checked the storage as the caller");
        assert.equal(importCalls(pims), 1);
    });

    it("a second run with the same record imports nothing: no call to PIMS, no new entry", async () => {
        const before = pimsRecord().length;
        const r = runImport(["lung", "skin"]);
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.report?.imported, []);
        assert.equal(r.report?.note, "nothing new to import");
        // The view still follows the record: both datasets served (no METADATA shown), same names.
        assert.deepEqual(viewLinks(), {});
        assert.deepEqual(Object.keys(viewServed()).sort(), [entryName("lung"), entryName("skin")].sort());
        assert.deepEqual((r.report as Any).served, [entryName("lung"), entryName("skin")].sort());
        for (const l of firstRunLinks) assert.ok(fs.existsSync(l.link), `${l.link} dangles`);
        await new Promise((res) => setTimeout(res, 1000));
        assert.equal(pimsRecord().length, before, "PIMS recorded nothing more (no duplicate images or annotations)");
        assert.equal(importCalls(pims), 1);
    });

    it("an added dataset is imported alone", async () => {
        const before = pimsRecord().length;
        const r = runImport(["lung", "skin", "kidney"]);
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.report?.imported, ["kidney"]);
        assert.deepEqual(Object.keys(viewLinks()), [entryName("kidney")]);
        // The earlier datasets stay, as served entries: only a link IMAGES, no METADATA for PIMS to read.
        assert.deepEqual(viewServed(), {
            [entryName("lung")]: { IMAGES: path.join(trees.lung.root, trees.lung.datasets[0].path, "IMAGES") },
            [entryName("skin")]: { IMAGES: path.join(trees.skin.root, trees.skin.datasets[0].path, "IMAGES") },
        });
        assert.deepEqual(
            [...r.report!.response.content].sort(),
            [entryName("kidney"), entryName("lung"), entryName("skin")].sort(),
            "PIMS listed every entry",
        );
        assert.deepEqual((r.report as Any).served, [entryName("lung"), entryName("skin")].sort());
        const entries = (await recordOf(before + 1)).slice(before);
        await new Promise((res) => setTimeout(res, 500));
        assert.equal(pimsRecord().length, before + 1, JSON.stringify(pimsRecord().slice(before)));
        assertImported(entries, "kidney");
        await assertInCore(entries, "kidney");
        // PIMS skipped the served entries as upstream does (dataset.py:60-65, then 203-205).
        for (const id of ["lung", "skin"]) {
            const meta = `${pimsRoot.at("/data/import")}/${entryName(id)}/METADATA`;
            await logged(
                pims,
                `'${meta}' does not exist or is not a directory for dataset '${entryName(id)}'. Skipping discovery for this bucket.`,
                `PIMS skipped ${entryName(id)}`,
            );
            await logged(pims, new RegExp(`Failed to process bucket \\S*/${entryName(id)}: StopIteration`));
        }
        assert.equal(importCalls(pims), 2);
        const saved = JSON.parse(fs.readFileSync(record, "utf8")) as { imported: Record<string, string> };
        assert.deepEqual(Object.keys(saved.imported), ["kidney", "lung", "skin"]);
    });

    it("images of earlier runs stay served once the view moved on to other datasets, none imported twice", async () => {
        assert.equal(firstRunLinks.length, 4);
        assert.ok(!Object.keys(viewLinks()).includes(entryName("lung")), "the view moved on: lung is not imported");
        for (const l of firstRunLinks) {
            assert.ok(fs.existsSync(l.link), `${l.link} → ${fs.readlinkSync(l.link)} dangles`);
            assert.equal(fs.realpathSync(l.link), fs.realpathSync(l.image), "still the dataset's own image");
        }
        // PIMS's record: each earlier dataset imported once, in the first run, and never again.
        const records = pimsRecord();
        for (const id of ["lung", "skin"]) {
            const of = records.filter((e) => e.bucket === entryName(id));
            assert.equal(of.length, 1, `${id}: ${JSON.stringify(of)}`);
            assert.ok(of[0].images!.every((i) => i.status === "imported"));
        }
        assert.equal(
            records.flatMap((e) => e.images ?? []).filter((i) => i.status === "imported").length,
            6,
            "two images per dataset, each imported once",
        );
        assert.ok(records.every((e) => e.error === undefined));
    });

    it("a wrong private key is refused by core: exit 4, nothing imported or recorded", async () => {
        const before = pimsRecord().length;
        const wrongRecord = path.join(work, "wrong-key.json");
        const r = runImport(["lung"], {
            record: wrongRecord,
            keys: { publicKey: IMAGE_SERVER.publicKey, privateKey: crypto.randomUUID() },
        });
        assert.equal(r.status, 4, r.stderr);
        assert.match(
            r.stderr,
            /cytomine-fallback: core at \S+ rejected the image-server keys \(HTTP 401 on \/api\/user\/current\.json\)/,
        );
        assert.ok(!fs.existsSync(wrongRecord), "nothing recorded");
        await new Promise((res) => setTimeout(res, 500));
        assert.equal(pimsRecord().length, before);
        assert.equal(importCalls(pims), 2);
    });

    it("PIMS without MeiliSearch's key logs MeiliSearch's error and imports nothing", async () => {
        const other = await startPims("not-the-master-key");
        const r = runImport(["lung"], { pims: other.s, pimsRoot: other.root, record: path.join(work, "meili.json") });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.report?.response?.status, "running", "PIMS answers before the task fails");
        const entries = await recordOf(1, other.root);
        assert.equal(entries.length, 1);
        assert.match(entries[0].error ?? "", /MeilisearchApiError\. Error code: 403\..*invalid_api_key/);
        await logged(other.s, /import failed: MeilisearchApiError/);
        await logged(meili, /"PATCH \/indexes\/imageMetadataIndex\/settings" 403/);
        const uploads = fs.readdirSync(other.root.at("/data/images")).filter((n) => n.startsWith("upload-"));
        assert.deepEqual(uploads, [], "no image linked");
        assert.ok(!/user\/current\.json/.test(other.s.output()), "nothing after MeiliSearch");
    });
});
