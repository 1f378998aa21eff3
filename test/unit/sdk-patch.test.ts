// patches/@pulumi+pulumi+*.patch on the installed SDK, each check in a Node.js process of its own (a
// fresh module cache): loading @pulumi/pulumi no longer loads the TypeScript compiler, and closure
// serialization, the one user of it, still works and loads it then; registering resources no longer
// sends the per-resource debug messages. Fails when the patch is not applied (setup not run, or an SDK
// upgraded without porting it).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { repoRoot } from "../../toolchain/index";

/** Runs `script` with the project's SDK; returns what it printed as JSON. */
function runWithSdk<T>(script: string): T {
    return JSON.parse(execFileSync(process.execPath, ["-e", script], { cwd: repoRoot, encoding: "utf8" })) as T;
}

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
});
