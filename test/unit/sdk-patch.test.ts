// patches/@pulumi+pulumi+*.patch on the installed SDK, each check in a Node.js process of its own (a
// fresh module cache): loading @pulumi/pulumi no longer loads the TypeScript compiler, @npmcli/arborist
// or the Automation API, and their users (closure serialization, code paths, `pulumi.automation`)
// still work and load them then; registering resources no longer sends the per-resource debug
// messages; promises carry no stack unless PULUMI_DEBUG_PROMISE_LEAKS asks for them. Fails when the
// patch is not applied (setup not run, or an SDK upgraded without porting it).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { repoRoot } from "../../toolchain/index";

/** Runs `script` with the project's SDK (in `cwd`, the checkout by default); returns what it printed as JSON. */
function runWithSdk<T>(script: string, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): T {
    const out = execFileSync(process.execPath, ["-e", script], {
        cwd: options.cwd ?? repoRoot,
        env: { ...process.env, NODE_PATH: path.join(repoRoot, "node_modules"), ...options.env },
        encoding: "utf8",
    });
    return JSON.parse(out) as T;
}

/** A script's test whether a module under node_modules/`name` is loaded. */
const loadedFn = `(name) => Object.keys(require.cache).some((f) => f.includes("/node_modules/" + name + "/"))`;

describe("the SDK patch", () => {
    it("TypeScript is not loaded with the SDK, and serializeFunction still captures a closure", () => {
        const out = runWithSdk<{ atLoad: boolean; afterSerialize: boolean; text: string }>(`
            const loaded = () => Object.keys(require.cache).some((f) => f.endsWith("/typescript/lib/typescript.js"));
            const pulumi = require("@pulumi/pulumi");
            const atLoad = loaded();
            const offset = 42;
            pulumi.runtime
                .serializeFunction(async (a) => String(offset + a))
                .then((f) => console.log(JSON.stringify({ atLoad, afterSerialize: loaded(), text: f.text })));
        `);
        assert.equal(
            out.atLoad,
            false,
            "loading @pulumi/pulumi loaded typescript: is patches/ applied (npm run setup)?",
        );
        assert.equal(out.afterSerialize, true);
        assert.match(out.text, /offset: 42/);
        assert.match(out.text, /String\(offset \+ a\)/);
    });

    it("registering a component and a custom resource sends no per-resource debug message", () => {
        const out = runWithSdk<{ debug: string[]; id: string }>(`
            const pulumi = require("@pulumi/pulumi");
            const log = require("@pulumi/pulumi/log");
            const debug = [];
            const send = log.debug;
            log.debug = (msg, ...rest) => (debug.push(String(msg).split(":")[0]), send(msg, ...rest));
            pulumi.runtime.setMocks(
                { newResource: (a) => ({ id: a.name + "-id", state: a.inputs }), call: (a) => a.inputs },
                "project", "stack", false,
            );
            class Part extends pulumi.ComponentResource {
                constructor(name) {
                    super("test:index:Part", name);
                    this.thing = new pulumi.CustomResource("test:index:Thing", name + "-thing", { size: 1 }, { parent: this });
                    this.registerOutputs({ id: this.thing.id });
                }
            }
            const part = new Part("part");
            // Registration outputs settle on later turns than the child's id: wait for them too.
            part.thing.id.apply((id) => setTimeout(() => console.log(JSON.stringify({ debug, id })), 200));
        `);
        assert.equal(out.id, "part-thing-id", "the resource was registered");
        assert.deepEqual(
            out.debug,
            [],
            "the SDK sent per-resource debug messages: is patches/ applied (npm run setup)?",
        );
    });

    it("neither @npmcli/arborist nor the Automation API is loaded with the SDK; both still load on first use", () => {
        // A project of its own with one dependency, so that computing its code paths reads a small tree.
        const project = fs.mkdtempSync(path.join(os.tmpdir(), "sdk-patch-"));
        try {
            fs.writeFileSync(
                path.join(project, "package.json"),
                JSON.stringify({ name: "p", version: "1.0.0", dependencies: { dep: "1.0.0" } }),
            );
            fs.mkdirSync(path.join(project, "node_modules", "dep"), { recursive: true });
            fs.writeFileSync(
                path.join(project, "node_modules", "dep", "package.json"),
                JSON.stringify({ name: "dep", version: "1.0.0" }),
            );
            const out = runWithSdk<{ atLoad: string[]; afterUse: string[]; workspace: string; paths: string[] }>(
                `
                const loaded = ${loadedFn};
                const watched = ["@npmcli/arborist", "@pulumi/pulumi/automation", "got", "js-yaml"];
                const pulumi = require("@pulumi/pulumi");
                const atLoad = watched.filter(loaded);
                const workspace = typeof pulumi.automation.LocalWorkspace;
                pulumi.runtime.computeCodePaths().then((paths) =>
                    console.log(JSON.stringify({ atLoad, afterUse: watched.filter(loaded), workspace, paths: [...paths.keys()] })),
                );
            `,
                { cwd: project },
            );
            assert.deepEqual(out.atLoad, [], "loaded with the SDK: is patches/ applied (npm run setup)?");
            assert.deepEqual(out.afterUse, ["@npmcli/arborist", "@pulumi/pulumi/automation", "got", "js-yaml"]);
            assert.equal(out.workspace, "function");
            assert.deepEqual(out.paths, ["node_modules/dep"]);
        } finally {
            fs.rmSync(project, { recursive: true, force: true });
        }
    });

    it("an ES module still imports `automation` by name (the lazy getter stays a named export)", () => {
        const out = execFileSync(
            process.execPath,
            [
                "--input-type=module",
                "-e",
                'import { automation } from "@pulumi/pulumi"; console.log(typeof automation.LocalWorkspace);',
            ],
            { cwd: repoRoot, encoding: "utf8" },
        );
        assert.equal(out.trim(), "function");
    });

    it("a promise carries its stack only when PULUMI_DEBUG_PROMISE_LEAKS asks for it", () => {
        const script = `
            let formatted = 0;
            Error.prepareStackTrace = (e, frames) => (formatted++, "formatted " + frames.length);
            const { debuggablePromise } = require("@pulumi/pulumi/runtime/debuggable");
            // The SDK marks the promise it is given (and returns another that settles with it).
            const p = Promise.resolve(1);
            debuggablePromise(p, "ctx");
            console.log(JSON.stringify({ formatted, stack: p._debugStackTrace ?? null, ctx: p._debugCtx }));
        `;
        const quiet = runWithSdk<{ formatted: number; stack: string | null; ctx: string }>(script, {
            env: { PULUMI_DEBUG_PROMISE_LEAKS: "" },
        });
        assert.deepEqual(quiet, { formatted: 0, stack: null, ctx: "ctx" }, "is patches/ applied (npm run setup)?");
        const debug = runWithSdk<{ formatted: number; stack: string | null }>(script, {
            env: { PULUMI_DEBUG_PROMISE_LEAKS: "1" },
        });
        assert.equal(debug.formatted, 1);
        assert.match(debug.stack ?? "", /^formatted [0-9]+$/);
    });
});
