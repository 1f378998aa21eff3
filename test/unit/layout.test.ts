// The layers are enforced by `npm run lint` (eslint.config.mjs): the project's own ESLint config, run
// through ESLint's API on planted text at real paths, refuses an import against the layers' direction
// and an import cycle, naming the rule; the same files as they are pass.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { ESLint } from "eslint";
import { repoRoot } from "../../toolchain";

// Type-aware parsing is not what these rules need (only the Pulumi rule does, turned off here); without
// it a planted text lints in a second.
const eslint = new ESLint({
    cwd: repoRoot,
    overrideConfig: {
        languageOptions: { parserOptions: { projectService: false } },
        rules: { "@pulumi/no-output-in-template-literal": "off" },
    },
});

/** The messages of RULE when FILE's own text, with LINE added on top, is linted at FILE's path. */
async function planted(file: string, line: string, rule: string): Promise<string[]> {
    const filePath = path.join(repoRoot, file);
    const text = `${line}\n${fs.readFileSync(filePath, "utf8")}`;
    const [result] = await eslint.lintText(text, { filePath });
    return result.messages.filter((m) => m.ruleId === rule).map((m) => m.message);
}

describe("layout: import directions and cycles (eslint)", () => {
    it("refuses a wrong-direction import, naming the rule and the layer's allowed imports", async () => {
        const wrong = await planted(
            "domain/images.ts",
            'import "../components/model/release";',
            "import-x/no-restricted-paths",
        );
        assert.equal(wrong.length, 1, "domain/ importing components/ is refused");
        assert.match(wrong[0], /domain\/ imports only nothing of the project/);

        const renderer = await planted(
            "components/vm/compose.ts",
            'import "../kubernetes/workload";',
            "import-x/no-restricted-paths",
        );
        assert.equal(renderer.length, 1, "one renderer importing another is refused");
        assert.match(renderer[0], /one model, one renderer per target/);

        const internals = await planted(
            "test/support/machine.ts",
            'import "../../localenv/settings";',
            "import-x/no-restricted-paths",
        );
        assert.equal(internals.length, 1, "a part of the local environment imported past its API is refused");
    });

    it("refuses a cycle: the release importing the services that import it", async () => {
        const cycle = await planted("components/model/release.ts", 'import "./services";', "import-x/no-cycle");
        assert.deepEqual(cycle, ["Dependency cycle detected"]);
    });

    it("passes the same files as they are", async () => {
        for (const file of ["domain/images.ts", "components/vm/compose.ts", "components/model/release.ts"]) {
            const [result] = await eslint.lintText(fs.readFileSync(path.join(repoRoot, file), "utf8"), {
                filePath: path.join(repoRoot, file),
            });
            const layout = result.messages.filter((m) => m.ruleId?.startsWith("import-x/"));
            assert.deepEqual(layout, [], file);
        }
    });
});
