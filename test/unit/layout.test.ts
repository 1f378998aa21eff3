// The layers are enforced by `npm run lint` (eslint.config.mjs): the project's own ESLint config, run
// through ESLint's API on planted text at real paths, refuses an import against the layers' direction
// and an import cycle, naming the rule; the same files as they are pass. And no two folders import
// each other, even through different files (which no-cycle, file by file, does not see).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { ESLint } from "eslint";
import ts from "typescript";
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

/** Folder → the folders its files import (relative imports, as TypeScript's pre-processor reads them). */
function folderGraph(files: string[], read: (f: string) => string): Map<string, Set<string>> {
    const known = new Set(files);
    const resolve = (from: string, spec: string) => {
        const base = path.posix.join(path.posix.dirname(from), spec);
        return [`${base}.ts`, `${base}/index.ts`, base].find((c) => known.has(c));
    };
    const graph = new Map<string, Set<string>>();
    for (const file of files) {
        for (const { fileName } of ts.preProcessFile(read(file), true, true).importedFiles) {
            const target = fileName.startsWith(".") ? resolve(file, fileName) : undefined;
            const [a, b] = [path.posix.dirname(file), target && path.posix.dirname(target)];
            if (b && a !== b) graph.set(a, (graph.get(a) ?? new Set()).add(b));
        }
    }
    return graph;
}

/** The strongly connected groups of more than one folder (Tarjan): each is a folder-level cycle. */
function folderCycles(graph: Map<string, Set<string>>): string[][] {
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const cycles: string[][] = [];
    const visit = (v: string) => {
        index.set(v, index.size);
        low.set(v, index.get(v)!);
        stack.push(v);
        for (const w of graph.get(v) ?? []) {
            if (!index.has(w)) visit(w);
            if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, low.get(w)!));
        }
        if (low.get(v) === index.get(v)) {
            const group = stack.splice(stack.indexOf(v));
            if (group.length > 1) cycles.push(group.sort());
        }
    };
    for (const v of graph.keys()) if (!index.has(v)) visit(v);
    return cycles;
}

describe("layout: folders", () => {
    it("no folder imports a folder that imports it back", () => {
        const files = execFileSync("git", ["ls-files", "*.ts", ":!:**/node_modules/**"], {
            cwd: repoRoot,
            encoding: "utf8",
        })
            .split("\n")
            .filter(Boolean);
        const graph = folderGraph(files, (f) => fs.readFileSync(path.join(repoRoot, f), "utf8"));
        assert.ok(graph.size > 20, "the graph holds the project's folders");
        assert.deepEqual(folderCycles(graph), []);
    });

    it("sees a cycle through different files of two folders", () => {
        const files = { "a/x.ts": 'import "../b/y";', "b/y.ts": "", "b/z.ts": 'import "../a/w";', "a/w.ts": "" };
        const graph = folderGraph(Object.keys(files), (f) => files[f as keyof typeof files]);
        assert.deepEqual(folderCycles(graph), [["a", "b"]]);
    });
});
