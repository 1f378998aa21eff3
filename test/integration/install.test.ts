// The program's run-time imports are dependencies: a copy of the project installed as production
// installs it (`npm ci --omit=dev`) previews for real. The same copy shows that a target this
// version cannot deploy stops the preview with the key, before any resource is touched.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { createEphemeralStack, disposeEphemeralStack, EphemeralStack } from "../../lib/automation";
import { ensureEnvironment } from "../../lib/localenv";
import { projectConfig } from "../../lib/project-config";
import { repoRoot } from "../../lib/toolchain";

/** The tracked files of the checkout (with uncommitted edits), as a clean clone would have them. */
function copyProject(to: string): void {
    const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
        cwd: repoRoot,
        encoding: "utf8",
    })
        .split("\0")
        .filter((f) => f && fs.existsSync(path.join(repoRoot, f)));
    for (const f of files) {
        fs.mkdirSync(path.dirname(path.join(to, f)), { recursive: true });
        fs.copyFileSync(path.join(repoRoot, f), path.join(to, f));
    }
}

describe("production install (npm ci --omit=dev)", () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "omit-dev-"));
    const project = path.join(work, "project");
    let e: EphemeralStack;

    before(async () => {
        copyProject(project);
        execFileSync("npm", ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], {
            cwd: project,
            stdio: "pipe",
        });
        const env = await ensureEnvironment();
        const { config } = projectConfig(env, "omitdev", {
            "cytomine-fallback:renderDir": path.join(work, "rendered"),
        });
        e = await createEphemeralStack({ workDir: project, config });
    });
    after(async () => {
        if (e) await disposeEphemeralStack(e);
        fs.rmSync(work, { recursive: true, force: true });
    });

    it("has no development package installed", () => {
        assert.equal(fs.existsSync(path.join(project, "node_modules", "eslint")), false);
        assert.equal(fs.existsSync(path.join(project, "node_modules", "tsx")), false);
    });

    it("previews the program: every module it imports is installed", async () => {
        const preview = await e.stack.preview({ color: "never" });
        assert.ok((preview.changeSummary.create ?? 0) > 20, JSON.stringify(preview.changeSummary));
    });

    it("refuses a target not built yet (aws) at preview, naming the key and what is available", async () => {
        await e.stack.removeConfig("cytomine-fallback:renderDir");
        // A valid aws configuration otherwise: the refusal is the target's, not a missing key's.
        await e.stack.setConfig("cytomine-fallback:vmPrivateKey", {
            value: "not-used-before-the-refusal",
            secret: true,
        });
        for (const target of ["aws"]) {
            await e.stack.setConfig("cytomine-fallback:target", { value: target });
            await e.stack.setConfig("cytomine-fallback:aws", {
                value: JSON.stringify({ region: "eu-north-1", adminCidrs: ["198.51.100.0/24"] }),
            });
            await assert.rejects(e.stack.preview({ color: "never" }), (err: Error) => {
                assert.match(
                    err.message,
                    new RegExp(
                        `cytomine-fallback:target = "${target}": this version cannot deploy it yet.*available: kubernetes, ssh`,
                    ),
                );
                return true;
            });
        }
        const state = await e.stack.exportStack();
        assert.equal(state.deployment.resources?.length ?? 0, 0, "nothing was created");
    });
});
