// scripts/toolchain.sh's own errors: each names the problem and the fix, before anything is built.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { repoRoot } from "../../toolchain/index";

function toolchain(args: string[], env: NodeJS.ProcessEnv) {
    const r = spawnSync("bash", [path.join(repoRoot, "scripts/toolchain.sh"), ...args], { env, encoding: "utf8" });
    return { status: r.status, out: r.stdout + r.stderr };
}

describe("toolchain.sh errors", () => {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), "toolchain-test-"));

    it("names a missing Go and how to install it", () => {
        // A PATH with node but no go.
        const bin = fs.mkdtempSync(path.join(os.tmpdir(), "nogo-"));
        fs.symlinkSync(process.execPath, path.join(bin, "node"));
        const r = toolchain(["core"], { PATH: `${bin}:/bin`, HOME: os.homedir(), CYTOMINE_CACHE: cache });
        assert.equal(r.status, 1);
        assert.match(r.out, /error: go not found\n\s+fix: install Go 1\.24 or newer/);
    });

    it("rejects a CYTOMINE_GO_JOBS that is not a whole number of at least 1, before building", () => {
        for (const jobs of ["0", "two", "-1"]) {
            const r = toolchain(["core"], { ...process.env, CYTOMINE_CACHE: cache, CYTOMINE_GO_JOBS: jobs });
            assert.equal(r.status, 1);
            assert.match(
                r.out,
                new RegExp(`error: CYTOMINE_GO_JOBS=${jobs} is not a whole number of at least 1\\n\\s+fix: unset it`),
            );
            assert.doesNotMatch(r.out, /building/);
        }
    });

    it("rejects an unknown group with the valid ones", () => {
        const r = toolchain(["everything"], { ...process.env, CYTOMINE_CACHE: cache });
        assert.equal(r.status, 1);
        assert.match(r.out, /unknown group 'everything'\n\s+fix: use one of: core, main, env, all/);
    });
});
