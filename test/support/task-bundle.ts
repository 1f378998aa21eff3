// The tests' task bundle (test/fixtures/task-add), as the app engine takes one: descriptor.yml and the
// task's image as `docker save` writes it, named <namespace>-<version>.tar, in one zip
// (app-engine/src/main/java/be/cytomine/appengine/services/TaskService.java:106-280). Its program is
// built static with Go and its image FROM scratch by the environment's docker engine: nothing is pulled.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { parse } from "yaml";
import { repoRoot } from "../../toolchain/index";

const run = promisify(execFile);
const FIXTURE = path.join(repoRoot, "test", "fixtures", "task-add");

export interface TaskBundle {
    /** The zip to upload. */
    zip: string;
    namespace: string;
    version: string;
    /** Where the app engine pushes the image: the namespace with / for ., and the version. */
    image: string;
}

export async function buildTaskBundle(dockerHost: string, dir: string): Promise<TaskBundle> {
    const descriptor = parse(fs.readFileSync(path.join(FIXTURE, "descriptor.yml"), "utf8")) as {
        namespace: string;
        version: string;
    };
    const { namespace, version } = descriptor;
    const context = path.join(dir, "image");
    fs.mkdirSync(context, { recursive: true });
    await run("go", ["build", "-trimpath", "-o", path.join(context, "add"), path.join(FIXTURE, "main.go")], {
        env: { ...process.env, CGO_ENABLED: "0", GOTOOLCHAIN: "local" },
        timeout: 300_000,
    });
    fs.copyFileSync(path.join(FIXTURE, "Dockerfile"), path.join(context, "Dockerfile"));
    const tag = `cytomine-test/task-add:${version}`;
    const docker = (...args: string[]) =>
        run("docker", args, { env: { ...process.env, DOCKER_HOST: dockerHost }, timeout: 120_000 });
    await docker("build", "-q", "-t", tag, context);
    const tar = path.join(dir, `${namespace}-${version}.tar`);
    await docker("save", "-o", tar, tag);
    fs.copyFileSync(path.join(FIXTURE, "descriptor.yml"), path.join(dir, "descriptor.yml"));
    const zip = path.join(dir, "bundle.zip");
    // Python's zipfile stores each file under its base name, as the bundle's root wants them.
    await run("python3", ["-m", "zipfile", "-c", zip, path.join(dir, "descriptor.yml"), tar], { timeout: 60_000 });
    return { zip, namespace, version, image: `${namespace.replaceAll(".", "/")}:${version}` };
}

/** An answer of the app engine: its status and JSON body. */
export interface AppEngineAnswer {
    status: number;
    body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * A client of the app engine's API at BASE (its origin): call(method, path below /app-engine/v1, JSON
 * body or form), and upload(zip), which posts a task bundle as the multipart form the API takes.
 */
export function appEngineClient(base: string) {
    const call = async (method: string, p: string, body?: unknown): Promise<AppEngineAnswer> => {
        const r = await fetch(`${base}/app-engine/v1${p}`, {
            method,
            ...(body instanceof FormData
                ? { body }
                : body !== undefined
                  ? { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } }
                  : {}),
        });
        return { status: r.status, body: await r.json() };
    };
    const upload = (zip: string) => {
        const form = new FormData();
        form.append("task", new Blob([new Uint8Array(fs.readFileSync(zip))]), path.basename(zip));
        return call("POST", "/tasks", form);
    };
    return { call, upload };
}

/** A call of an API by method, path and JSON body or form: the app engine's, or core's. */
export type ApiCall = (method: string, p: string, body?: unknown) => Promise<AppEngineAnswer>;

/** A run started through core: core's TaskRunController routes in this project, on this image. */
export interface ThroughCore {
    project: number;
    image: number;
}

/**
 * A new project NAME holding one image, saved in core as PIMS's import saves one (an uploaded file in
 * the caller's first storage, its abstract image, an instance in the project): where runs through core
 * go. `core` takes paths below /api.
 */
export async function imageInProject(core: ApiCall, name: string): Promise<ThroughCore> {
    const saved = async (p: string, kind: string, body: unknown) => {
        const r = await core("POST", p, body);
        if (r.status !== 200) throw new Error(`POST ${p}: ${r.status} ${JSON.stringify(r.body)}`);
        return r.body[kind].id as number;
    };
    const project = await saved("/project.json", "project", { name });
    const storage = (await core("GET", "/storage.json")).body.collection[0].id;
    const file = { originalFilename: "slide.tif", filename: "upload/slide.tif", storage };
    const uploaded = await saved("/uploadedfile.json", "uploadedfile", file);
    const image = await saved("/abstractimage.json", "abstractimage", { uploadedFile: uploaded });
    return { project, image: await saved("/imageinstance.json", "imageinstance", { baseImage: image, project }) };
}

/** The API's paths for a run: the app engine's own, or core's (below /api/app-engine) in a project. */
const inProject = (via?: ThroughCore) => (via ? `/project/${via.project}` : "");

/**
 * Runs the bundle's task once (`a` and `b` its inputs): a run created, provisioned and started, then
 * its state read every 2 s until it ends (3 minutes at most). `api.call` takes paths below the app
 * engine's /app-engine/v1, or below core's /api/app-engine with `via` (core wants the image the run
 * is for, and each provision's type: TaskRunService.addTaskRun, provisionTaskRun).
 */
export async function runTask(
    api: { call: ApiCall },
    bundle: TaskBundle,
    inputs: { a: number; b: number },
    via?: ThroughCore,
): Promise<{ id: string; state: string }> {
    const call = async (method: string, p: string, body?: unknown) => {
        const r = await api.call(method, p, body);
        if (r.status >= 300) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(r.body)}`);
        return r.body;
    };
    const paths = {
        create: `${inProject(via)}/tasks/${bundle.namespace}/${bundle.version}/runs`,
        run: (run: string) => `${inProject(via)}/task-runs/${run}`,
    };
    const id = (await call("POST", paths.create, via ? { image: via.image } : undefined)).id as string;
    const type = via ? { type: { id: "integer" } } : {};
    await call("PUT", `${paths.run(id)}/input-provisions`, [
        { parameterName: "a", value: inputs.a, ...type },
        { parameterName: "b", value: inputs.b, ...type },
    ]);
    const started = await call("POST", `${paths.run(id)}/state-actions`, { desired: "RUNNING" });
    if (started.status !== "success") throw new Error(`run ${id} did not start: ${JSON.stringify(started)}`);
    let state = "";
    for (let i = 0; i < 90 && !["FINISHED", "FAILED"].includes(state); i++) {
        await new Promise((r) => setTimeout(r, 2000));
        state = (await call("GET", paths.run(id))).state;
    }
    return { id, state };
}

/** A run's outputs as [name, value] pairs (through core with `via`). */
export async function taskOutputs(api: { call: ApiCall }, id: string, via?: ThroughCore): Promise<[string, number][]> {
    const outputs = (await api.call("GET", `${inProject(via)}/task-runs/${id}/outputs`)).body as {
        parameterName: string;
        value: number;
    }[];
    return outputs.map((o) => [o.parameterName, o.value]);
}
