// patches/@pulumi+pulumi+*.patch on the installed SDK, in a Node.js process of its own (a fresh module
// cache): loading @pulumi/pulumi no longer loads the TypeScript compiler, and closure serialization,
// the one user of it, still works and loads it then. Fails when the patch is not applied (setup not
// run, or an SDK upgraded without porting it).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { repoRoot } from "../../lib/toolchain";

const SCRIPT = `
const loaded = () => Object.keys(require.cache).some((f) => f.endsWith("/typescript/lib/typescript.js"));
const pulumi = require("@pulumi/pulumi");
const atLoad = loaded();
const offset = 42;
pulumi.runtime
    .serializeFunction(async (a) => String(offset + a))
    .then((f) => console.log(JSON.stringify({ atLoad, afterSerialize: loaded(), text: f.text })));
`;

describe("the SDK patch: TypeScript loaded on first use", () => {
    it("is not loaded with the SDK, and serializeFunction still captures a closure", () => {
        const out = JSON.parse(execFileSync(process.execPath, ["-e", SCRIPT], { cwd: repoRoot, encoding: "utf8" })) as {
            atLoad: boolean;
            afterSerialize: boolean;
            text: string;
        };
        assert.equal(
            out.atLoad,
            false,
            "loading @pulumi/pulumi loaded typescript: is patches/ applied (npm run setup)?",
        );
        assert.equal(out.afterSerialize, true);
        assert.match(out.text, /offset: 42/);
        assert.match(out.text, /String\(offset \+ a\)/);
    });
});
