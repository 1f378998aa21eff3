// The program's run-time imports are dependencies: a copy of the project installed as production
// installs it (`npm ci --omit=dev`) previews for real. The same copy shows that a target whose
// plugin cannot be had here stops the preview with the fix, before any resource is touched.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { createEphemeralStack, disposeEphemeralStack, EphemeralStack, setStackConfig } from "../support/automation";
import { useEnvironment } from "../../localenv";
import { ConfigValue, projectConfig } from "../support/project-config";
import { repoRoot } from "../../toolchain/index";

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
        const env = await useEnvironment();
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

    it("stops a target whose plugin is missing here (aws) at preview, with the fix, before any resource", async () => {
        await e.stack.removeConfig("cytomine-fallback:renderDir");
        const config: Record<string, ConfigValue> = {
            "cytomine-fallback:target": "aws",
            "cytomine-fallback:aws": JSON.stringify({
                region: "eu-north-1",
                adminCidrs: ["198.51.100.0/24"],
                sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdmins",
            }),
            "cytomine-fallback:vm": JSON.stringify({ hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHost" }),
            // A complete aws configuration otherwise: the stop is the plugin's, not a missing key's.
            "cytomine-fallback:vmPrivateKey": { value: "not-used-before-the-stop", secret: true },
            "cytomine-fallback:vmHostPrivateKey": { value: "not-used-before-the-stop", secret: true },
        };
        await setStackConfig(e.stack, config);
        await assert.rejects(e.stack.preview({ color: "never" }), (err: Error) => {
            assert.match(err.message, /provider plugin aws v\d+\.\d+\.\d+ \(for target aws\) is not installed/);
            assert.match(err.message, /pulumi plugin install resource aws/);
            return true;
        });
        const state = await e.stack.exportStack();
        assert.equal(state.deployment.resources?.length ?? 0, 0, "nothing was created");
    });
});
