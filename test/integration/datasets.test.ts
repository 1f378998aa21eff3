// Issue "Bigpicture datasets: validated, mounted read-only, imported into each tenant's Cytomine",
// through the real engine and plugins:
//   VM: the dataset steps alone (test/fixtures/datasets/import) on the SSH test host, with core and
//     PIMS played by test/fixtures/datasets/standin-cytomine.py, which checks the request signatures
//     with the keys the stack generated: the pinned client runs for real, an unchanged set imports
//     nothing, one added dataset is imported alone, no key on any command line, a wrong key is
//     refused (401) and reported; the sdafs step names what the host lacks.
//   Kubernetes: the project's program on the local cluster: read-only claims mounted into PIMS, the
//     import Job completes (KWOK), an unchanged set creates no Job, one added dataset exactly one;
//     the sdafs CSI driver's node plugin admitted in its namespace only; bad input stops the preview.
import assert from "node:assert/strict";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import {
    changesOf,
    createEphemeralStack,
    disposeEphemeralStack,
    EphemeralStack,
    commandsRun,
} from "../support/automation";
import { sampleCommandLines } from "../../toolchain/processes";
import { kubeApi } from "../support/clients";
import { writeBrokenTree, writeValidTree } from "../support/dataset-fixtures";
import { Environment, useEnvironment } from "../../localenv";
import { projectConfig } from "../support/project-config";
import { repoRoot } from "../../toolchain/index";

const FIXTURE = path.join(repoRoot, "test/fixtures/datasets/import");

/** Operations of a type in an operation's events, e.g. the Jobs created. */
function operations(events: EngineEvent[], type: string): { op: string; name: string }[] {
    return events
        .flatMap((e) => (e.resourcePreEvent ? [e.resourcePreEvent.metadata] : []))
        .filter((m) => m.type === type && m.op !== "same")
        .map((m) => ({ op: m.op, name: m.urn.split("::").pop() as string }));
}

interface StandinEntry {
    method: string;
    path: string;
    status?: number;
    rejected?: string;
    import?: boolean;
    buckets?: { name: string; target: string }[];
    served?: { name: string; images: string }[];
}

/** Starts the stand-in core/PIMS on a free loopback port; resolves once it listens. */
function startStandin(envFile: string, view: string, log: string): Promise<{ url: string; proc: ChildProcess }> {
    const proc = spawn(
        "python3",
        [
            path.join(repoRoot, "test/fixtures/datasets/standin-cytomine.py"),
            "--env-file",
            envFile,
            "--view",
            view,
            "--log",
            log,
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
    );
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the stand-in did not start within 10 s")), 10_000);
        proc.stdout!.on("data", (chunk: Buffer) => {
            const m = /listening (\d+)/.exec(chunk.toString());
            if (m) {
                clearTimeout(timer);
                resolve({ url: `http://127.0.0.1:${m[1]}`, proc });
            }
        });
        proc.on("exit", (code) => reject(new Error(`the stand-in exited (${code})`)));
    });
}

const readLog = (log: string): StandinEntry[] =>
    fs.existsSync(log)
        ? fs
              .readFileSync(log, "utf8")
              .split("\n")
              .filter(Boolean)
              .map((l) => JSON.parse(l) as StandinEntry)
        : [];
const imports = (log: string) => readLog(log).filter((e) => e.import);

describe("datasets on a VM: the import steps on the SSH test host", { timeout: 600_000 }, () => {
    let env: Environment;
    let e: EphemeralStack;
    let standin: { url: string; proc: ChildProcess };
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "datasets-vm-"));
    const dataDir = path.join(work, "data");
    const configDir = path.join(work, "config");
    const log = path.join(work, "standin.jsonl");
    const trees: Record<string, string> = {};
    /** Each tree's dataset folder, `{DATASET_UUID}/DATASET_{ID}`: what the import view links (PIMS reads METADATA/ there). */
    const folders: Record<string, string> = {};
    const viewLink = (id: string) => ({
        name: folders[id].replace("/", "--"),
        target: `/data/datasets/${id}/${folders[id]}`,
    });
    let datasets: { id: string; source: "path"; path: string }[] = [];

    before(async () => {
        env = await useEnvironment();
        for (const id of ["lung", "skin", "kidney"]) {
            trees[id] = path.join(work, "trees", id);
            folders[id] = (
                await writeValidTree(trees[id], { seed: id, imagesPerDataset: 1, filesPerImage: 1 })
            ).datasets[0].path;
        }
        standin = await startStandin(`${configDir}/env/repository.env`, `${dataDir}/datasets/import-view`, log);
        const hostKey = fs.readFileSync(
            path.join(path.dirname(env.ssh.privateKeyPath), "host_ed25519_key.pub"),
            "utf8",
        );
        datasets = [{ id: "lung", source: "path", path: trees.lung }];
        e = await createEphemeralStack({
            workDir: FIXTURE,
            config: {
                "datasets-import-check:mode": "import",
                "datasets-import-check:host": env.ssh.host,
                "datasets-import-check:port": String(env.ssh.port),
                "datasets-import-check:user": env.ssh.user,
                "datasets-import-check:hostKey": hostKey.trim().split(" ").slice(0, 2).join(" "),
                "datasets-import-check:privateKey": {
                    value: fs.readFileSync(env.ssh.privateKeyPath, "utf8"),
                    secret: true,
                },
                "datasets-import-check:dataDir": dataDir,
                "datasets-import-check:configDir": configDir,
                "datasets-import-check:coreUrl": standin.url,
                "datasets-import-check:pimsUrl": standin.url,
                "datasets-import-check:datasets": JSON.stringify(datasets),
            },
        });
    });

    after(async () => {
        if (e) await disposeEphemeralStack(e).catch(() => undefined);
        standin?.proc.kill();
        fs.rmSync(work, { recursive: true, force: true });
    });

    const setDatasets = (list: typeof datasets) =>
        e.stack.setConfig("datasets-import-check:datasets", { value: JSON.stringify(list) });
    const record = () =>
        JSON.parse(fs.readFileSync(`${dataDir}/datasets/imported.json`, "utf8")) as {
            imported: Record<string, string>;
            lastRun: { id: string; datasets: string[] };
        };

    it("up: the pinned client imports the dataset, signed with the generated keys, none of them on a command line", async () => {
        const ps = sampleCommandLines();
        const up = await e.stack.up({ color: "never" });
        const commandLines = ps.stop();
        assert.equal(up.summary.result, "succeeded");

        const calls = imports(log);
        assert.equal(calls.length, 1);
        assert.deepEqual(calls[0].buckets, [viewLink("lung")]);
        assert.deepEqual(calls[0].served, [], "nothing imported before: nothing served");
        assert.deepEqual(Object.keys(record().imported), ["lung"]);
        const last = up.outputs.lastImport.value as { run: { datasets: string[] } };
        assert.deepEqual(last.run.datasets, ["lung"]);

        const keys = fs
            .readFileSync(`${configDir}/env/repository.env`, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((l) => l.slice(l.indexOf("=") + 1));
        assert.equal(keys.length, 2);
        for (const key of keys)
            assert.ok(
                !commandLines.some((c) => c.includes(key)),
                "an image-server key appeared in a process's command line",
            );
        assert.ok(
            commandLines.some((c) => c.includes("cytomine_import.py")),
            "the sampling saw the import running (the check above is not vacuous)",
        );
        // The client really ran: the venv holds the pinned version.
        const version = execFileSync(
            `${configDir}/datasets/venv/bin/python`,
            ["-c", "import importlib.metadata as m; print(m.version('cytomine-python-client'))"],
            { encoding: "utf8" },
        ).trim();
        assert.equal(version, "4.3.0");
    });

    it("a second up with the same datasets runs nothing and the stand-in records no new import", async () => {
        const events: EngineEvent[] = [];
        const up = await e.stack.up({ color: "never", onEvent: (ev) => events.push(ev) });
        assert.equal(up.summary.result, "succeeded");
        assert.deepEqual(commandsRun(events), []);
        assert.equal(imports(log).length, 1);
    });

    it("one added dataset is imported, and nothing else", async () => {
        await setDatasets([...datasets, { id: "skin", source: "path", path: trees.skin }]);
        const events: EngineEvent[] = [];
        const up = await e.stack.up({ color: "never", onEvent: (ev) => events.push(ev) });
        assert.equal(up.summary.result, "succeeded");
        assert.deepEqual(commandsRun(events), ["datasets-import-import"]);
        const calls = imports(log);
        assert.equal(calls.length, 2);
        assert.deepEqual(calls[1].buckets, [viewLink("skin")]);
        // lung, imported before, stays in the view as a served entry of the same name: only its IMAGES,
        // so PIMS skips it while the links it made for lung's images keep resolving.
        assert.deepEqual(calls[1].served, [
            { name: viewLink("lung").name, images: `${viewLink("lung").target}/IMAGES` },
        ]);
        assert.deepEqual(fs.readdirSync(`${dataDir}/datasets/import-view/${viewLink("lung").name}`), ["IMAGES"]);
        assert.deepEqual(record().lastRun.datasets, ["skin"]);
        assert.deepEqual(Object.keys(record().imported).sort(), ["lung", "skin"]);
    });

    it("a wrong key is refused by core (401), the step says so, and nothing is recorded", async () => {
        await setDatasets([
            ...datasets,
            { id: "skin", source: "path", path: trees.skin },
            { id: "kidney", source: "path", path: trees.kidney },
        ]);
        await e.stack.setConfig("datasets-import-check:wrongKey", { value: "true" });
        const before = readLog(log).length;
        await assert.rejects(e.stack.up({ color: "never" }), /rejected the image-server keys \(HTTP 401/);
        const entries = readLog(log).slice(before);
        assert.ok(entries.some((x) => x.status === 401 && x.rejected === "signature mismatch"));
        assert.equal(imports(log).length, 2, "no import call got through");
        assert.deepEqual(Object.keys(record().imported).sort(), ["lung", "skin"]);
        await e.stack.setConfig("datasets-import-check:wrongKey", { value: "false" });
    });
});

describe("datasets on a VM: sdafs where the host cannot run it", { timeout: 300_000 }, () => {
    let env: Environment;
    let e: EphemeralStack;
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "datasets-sdafs-"));

    before(async () => {
        env = await useEnvironment();
        const hostKey = fs.readFileSync(
            path.join(path.dirname(env.ssh.privateKeyPath), "host_ed25519_key.pub"),
            "utf8",
        );
        e = await createEphemeralStack({
            workDir: FIXTURE,
            config: {
                "datasets-import-check:mode": "sdafs",
                "datasets-import-check:host": env.ssh.host,
                "datasets-import-check:port": String(env.ssh.port),
                "datasets-import-check:user": env.ssh.user,
                "datasets-import-check:hostKey": hostKey.trim().split(" ").slice(0, 2).join(" "),
                "datasets-import-check:privateKey": {
                    value: fs.readFileSync(env.ssh.privateKeyPath, "utf8"),
                    secret: true,
                },
                "datasets-import-check:dataDir": path.join(work, "data"),
                "datasets-import-check:configDir": path.join(work, "config"),
                "datasets-import-check:sdafsCredentials": {
                    value: "[default]\naccess_token = not-a-real-token\n",
                    secret: true,
                },
                "datasets-import-check:datasets": JSON.stringify([
                    { id: "archive", source: "sdafs", sdafs: { datasets: ["EGAD00000000001"] } },
                ]),
            },
        });
    });

    after(async () => {
        if (e) await disposeEphemeralStack(e).catch(() => undefined);
        fs.rmSync(work, { recursive: true, force: true });
    });

    it("the sdafs step fails naming each missing piece and its fix; no credentials are written", async () => {
        const error = await e.stack.up({ color: "never" }).then(
            () => undefined,
            (err: Error) => err.message,
        );
        assert.ok(error, "up must fail: this host has no systemd as PID 1, no fusermount3 and no sdafs binary");
        assert.match(
            error,
            /sdafs cannot mount Bigpicture datasets on 127\.0\.0\.1; no dataset was mounted or imported/,
        );
        assert.match(error, /systemd is not running as PID 1/);
        assert.match(error, /fusermount3 is missing .*apt-get install fuse3/);
        assert.match(
            error,
            /sdafs v0\.0\.23 is not installed at \/usr\/local\/lib\/cytomine-fallback\/sdafs-v0\.0\.23\/sdafs/,
        );
        assert.match(error, /copy the binary to/);
        assert.equal(fs.existsSync(path.join(work, "config/datasets/sdafs-credentials.conf")), false);
    });
});

describe("datasets on Kubernetes: the project's program on the local cluster", { timeout: 900_000 }, () => {
    let env: Environment;
    let kube: Awaited<ReturnType<typeof kubeApi>>;
    let a: { e: EphemeralStack; tenant: string };
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "datasets-k8s-"));
    const trees: Record<string, string> = {};

    const stackFor = async (prefix: string, extra: Parameters<typeof projectConfig>[2]) => {
        const project = projectConfig(env, prefix, { "cytomine-fallback:orthanc": "false", ...extra });
        const e = await createEphemeralStack({
            workDir: repoRoot,
            config: project.config,
            env: { KUBECONFIG: env.kube.kubeconfig },
        });
        return { e, tenant: project.id };
    };
    const jobs = async (namespace: string) =>
        (await kube.batch.listNamespacedJob({ namespace })).items.map((j) => j.metadata!.name!).sort();

    before(async () => {
        env = await useEnvironment();
        kube = await kubeApi(env.kube.kubeconfig);
        for (const id of ["lung", "skin"]) {
            trees[id] = path.join(work, id);
            await writeValidTree(trees[id], { seed: id, imagesPerDataset: 1, filesPerImage: 1 });
        }
        a = await stackFor("ds", {
            "cytomine-fallback:datasets": JSON.stringify({
                list: [{ id: "lung", source: "path", path: `hostPath:${trees.lung}` }],
            }),
        });
    });

    after(async () => {
        if (a) await disposeEphemeralStack(a.e).catch(() => undefined);
        fs.rmSync(work, { recursive: true, force: true });
    });

    it("up: the dataset's claim is mounted read-only into PIMS and the import Job completes", async () => {
        const up = await a.e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
        const ns = a.tenant;

        const claim = await kube.core.readNamespacedPersistentVolumeClaim({ name: "dataset-lung", namespace: ns });
        assert.deepEqual(claim.spec?.accessModes, ["ReadOnlyMany"]);
        assert.equal(claim.status?.phase, "Bound");

        const pims = await kube.apps.readNamespacedDeployment({ name: "pims", namespace: ns });
        const pod = pims.spec!.template.spec!;
        const volume = pod.volumes!.find((v) => v.name === "dataset-lung");
        assert.equal(volume?.persistentVolumeClaim?.claimName, "dataset-lung");
        assert.equal(volume?.persistentVolumeClaim?.readOnly, true);
        const mount = pod.containers[0].volumeMounts!.find((m) => m.name === "dataset-lung");
        assert.equal(mount?.mountPath, "/data/datasets/lung");
        assert.equal(mount?.readOnly, true);
        assert.equal(pod.containers[0].env!.find((v) => v.name === "DATASET_PATH")?.value, "/data/import");
        assert.equal(pod.initContainers?.[0].name, "import-view");
        assert.equal(pod.initContainers?.[0].env!.find((v) => v.name === "IMPORT_RUN")?.value, "lung=*");
        // Nothing imported before: IMPORT_SERVED is declared empty (the API drops an empty value).
        const servedVar = pod.initContainers?.[0].env!.find((v) => v.name === "IMPORT_SERVED");
        assert.ok(servedVar, "IMPORT_SERVED is declared");
        assert.equal(servedVar.value ?? "", "");

        const names = await jobs(ns);
        assert.equal(names.length, 1);
        const job = await kube.batch.readNamespacedJob({ name: names[0], namespace: ns });
        assert.ok(job.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True"));
        const keys = job.spec!.template.spec!.volumes!.find((v) => v.name === "keys");
        assert.equal(keys?.secret?.defaultMode, 0o400);
        assert.ok(
            !JSON.stringify(job.spec!.template.spec!.containers[0].env ?? []).includes("image-server-private-key"),
        );
        const record = await kube.core.readNamespacedConfigMap({ name: "cytomine-datasets", namespace: ns });
        assert.deepEqual(Object.keys(JSON.parse(record.data!["record.json"]).imported), ["lung"]);

        const outputs = up.outputs;
        assert.deepEqual((outputs.lastDatasetImport.value as { job: string }).job, names[0]);
        const declared = outputs.datasets.value as { id: string; images: number | null }[];
        assert.deepEqual(declared, [{ id: "lung", source: "path", path: `hostPath:${trees.lung}`, images: 1 }]);
    });

    it("a second up with the same datasets changes nothing: no Job is created", async () => {
        const preview = await a.e.stack.preview({ color: "never" });
        assert.deepEqual(changesOf(preview.changeSummary), {});
        const events: EngineEvent[] = [];
        await a.e.stack.up({ color: "never", onEvent: (ev) => events.push(ev) });
        assert.deepEqual(operations(events, "kubernetes:batch/v1:Job"), []);
        assert.equal((await jobs(a.tenant)).length, 1);
    });

    it("one added dataset: exactly one new Job, importing only it", async () => {
        const before = await jobs(a.tenant);
        await a.e.stack.setConfig("cytomine-fallback:datasets.list[1].id", { value: "skin" }, true);
        await a.e.stack.setConfig("cytomine-fallback:datasets.list[1].source", { value: "path" }, true);
        await a.e.stack.setConfig("cytomine-fallback:datasets.list[1].path", { value: `hostPath:${trees.skin}` }, true);
        const events: EngineEvent[] = [];
        const up = await a.e.stack.up({ color: "never", onEvent: (ev) => events.push(ev) });
        assert.equal(up.summary.result, "succeeded");
        const created = operations(events, "kubernetes:batch/v1:Job").filter((o) =>
            ["create", "create-replacement", "replace"].includes(o.op),
        );
        assert.equal(new Set(created.map((o) => o.name)).size, 1, JSON.stringify(created));
        const after = await jobs(a.tenant);
        assert.equal(after.length, 1);
        assert.notDeepEqual(after, before);
        const job = await kube.batch.readNamespacedJob({ name: after[0], namespace: a.tenant });
        assert.equal(job.metadata?.annotations?.["cytomine.io/datasets"], "skin");
        const args = job.spec!.template.spec!.containers[0].command!;
        const imported = JSON.parse(args[args.indexOf("--datasets") + 1]) as { id: string }[];
        assert.deepEqual(
            imported.map((d) => d.id),
            ["skin"],
        );
        const pims = await kube.apps.readNamespacedDeployment({ name: "pims", namespace: a.tenant });
        const init = pims.spec!.template.spec!.initContainers![0];
        assert.equal(init.env!.find((v) => v.name === "IMPORT_RUN")?.value, "skin=*");
        assert.equal(init.env!.find((v) => v.name === "IMPORT_SERVED")?.value, "lung=*", "lung's images stay served");
    });

    it("bad input stops the preview with the dataset and the fix, before anything is declared", async () => {
        const broken = path.join(work, "broken");
        await writeBrokenTree(broken, "missing-images");
        await a.e.stack.setConfig("cytomine-fallback:datasets.list[1].path", { value: `hostPath:${broken}` }, true);
        const before = await jobs(a.tenant);
        await assert.rejects(
            a.e.stack.preview({ color: "never" }),
            /datasets\.list\[1\]\.path = "hostPath:[^"]+": .* fails validation .* no import starts[\s\S]*dataset:check/,
        );
        await a.e.stack.setConfig(
            "cytomine-fallback:datasets.list[1].path",
            { value: "hostPath:/nonexistent/bp" },
            true,
        );
        await assert.rejects(a.e.stack.preview({ color: "never" }), /datasets\.list\[1\]\.path .* does not exist/);
        await a.e.stack.setConfig("cytomine-fallback:datasets.list[1].id", { value: "lung" }, true);
        await assert.rejects(
            a.e.stack.preview({ color: "never" }),
            /datasets\.list\[1\]\.id = "lung": "lung" is also the id of datasets\.list\[0\]: give each dataset its own id/,
        );
        assert.deepEqual(await jobs(a.tenant), before);
    });
});

describe("datasets on Kubernetes: sdafs and its CSI driver", { timeout: 900_000 }, () => {
    let env: Environment;
    let kube: Awaited<ReturnType<typeof kubeApi>>;
    let storage: import("@kubernetes/client-node").StorageV1Api;
    let b: { e: EphemeralStack; tenant: string } | undefined;
    const pv = `sdafs-test-${crypto.randomBytes(3).toString("hex")}`;

    before(async () => {
        env = await useEnvironment();
        kube = await kubeApi(env.kube.kubeconfig);
        const k8s = await import("@kubernetes/client-node");
        const config = new k8s.KubeConfig();
        config.loadFromFile(env.kube.kubeconfig);
        storage = config.makeApiClient(k8s.StorageV1Api);
    });

    after(async () => {
        if (b) await disposeEphemeralStack(b.e).catch(() => undefined);
        await kube.core.deletePersistentVolume({ name: pv }).catch(() => undefined);
    });

    it("without the driver on the cluster, an sdafs dataset stops the preview with the fix", async () => {
        const project = projectConfig(env, "sdafs", {
            "cytomine-fallback:orthanc": "false",
            "cytomine-fallback:sdafsCredentials": { value: "access_token = not-a-real-token\n", secret: true },
            "cytomine-fallback:datasets": JSON.stringify({
                list: [{ id: "archive", source: "sdafs", sdafs: { datasets: ["EGAD00000000001"] } }],
            }),
        });
        b = {
            e: await createEphemeralStack({
                workDir: repoRoot,
                config: project.config,
                env: { KUBECONFIG: env.kube.kubeconfig },
            }),
            tenant: project.id,
        };
        await assert.rejects(
            b.e.stack.preview({ color: "never" }),
            /datasets\.list\[0\]\.source = "sdafs": the cluster has no StorageClass sdafs .*set datasets\.installCsiDriver to true on one stack/,
        );
    });

    it("with installCsiDriver: the node plugin runs privileged in sdafs-csi, the claim and token Secret in the tenant's namespace", async () => {
        assert.ok(b);
        const ns = b.tenant;
        // KWOK runs no CSI driver: a volume bound ahead to the claim stands in for the one it would provision.
        await kube.core.createPersistentVolume({
            body: {
                metadata: { name: pv },
                spec: {
                    capacity: { storage: "1Gi" },
                    accessModes: ["ReadOnlyMany"],
                    storageClassName: "sdafs",
                    persistentVolumeReclaimPolicy: "Retain",
                    csi: { driver: "csi.sda.nbis.se", volumeHandle: pv },
                    claimRef: { namespace: ns, name: "dataset-archive" },
                },
            },
        });
        await b.e.stack.setConfig("cytomine-fallback:datasets.installCsiDriver", { value: "true" }, true);
        const up = await b.e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");

        const sc = await storage.readStorageClass({ name: "sdafs" });
        assert.equal(sc.provisioner, "csi.sda.nbis.se");
        const token = await kube.core.readNamespacedSecret({ name: "sdafs-token", namespace: ns });
        assert.equal(Buffer.from(token.data!.token, "base64").toString(), "not-a-real-token");
        const claim = await kube.core.readNamespacedPersistentVolumeClaim({ name: "dataset-archive", namespace: ns });
        assert.deepEqual(claim.spec?.accessModes, ["ReadOnlyMany"]);
        assert.equal(claim.spec?.storageClassName, "sdafs");
        assert.equal(claim.metadata?.annotations?.["sda.nbis.se/token-secret"], "sdafs-token");
        assert.equal(claim.status?.phase, "Bound", "bound once PIMS's pod was scheduled (WaitForFirstConsumer)");

        const plugin = await kube.apps.readNamespacedDaemonSet({ name: "csi-sdafs", namespace: "sdafs-csi" });
        assert.equal(plugin.spec!.template.spec!.containers[0].securityContext?.privileged, true);
        assert.ok((plugin.status?.numberReady ?? 0) > 0, "the node plugin's pods were admitted and run (KWOK)");

        // The same pod in the tenant's namespace is refused by Pod Security (restricted).
        const spec = plugin.spec!.template.spec!;
        await assert.rejects(
            kube.core.createNamespacedPod({
                namespace: ns,
                body: { metadata: { name: "csi-sdafs-elsewhere" }, spec },
            }),
            /HTTP-Code: 403[\s\S]*violates PodSecurity[\s\S]{0,8}restricted/,
        );

        // The policy pack admits exactly this privileged DaemonSet (its namespace and kind).
        const events: EngineEvent[] = [];
        await b.e.stack.preview({
            color: "never",
            policyPacks: [path.join(repoRoot, "policies")],
            policyPackConfigs: [path.join(repoRoot, "policies", "config.local.json")],
            onEvent: (ev) => events.push(ev),
        });
        const summary = events.find((ev) => ev.summaryEvent)?.summaryEvent as unknown as {
            PolicyPacks?: Record<string, string>;
        };
        assert.deepEqual(
            Object.keys(summary?.PolicyPacks ?? {}).map((k) => k.split("|")[0]),
            ["cytomine-fallback"],
        );
        const violations = events.flatMap((ev) => (ev.policyEvent ? [ev.policyEvent.policyName] : []));
        assert.deepEqual(violations, []);
    });
});
