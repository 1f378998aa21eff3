// After `npm run main`, the dev stack is driven by the Pulumi CLI as a Pulumi user expects: a fresh
// shell given only the lines main printed runs `pulumi preview --refresh`, `up`, `refresh` and
// `stack output` on it, and git sees none of this machine's secrets in Pulumi.dev.yaml. The dev stack
// holds the realm `cytomine` in the environment's Keycloak, which other cases need too: the case runs
// with the environment to itself, and a dev stack it made is destroyed again (one found is kept).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { useEnvironment, withEnvironmentAlone } from "../../localenv";
import { repoRoot } from "../../toolchain";

const run = (command: string, args: string[], env: NodeJS.ProcessEnv = process.env) => {
    const r = spawnSync(command, args, { cwd: repoRoot, env, encoding: "utf8", maxBuffer: 64 * 2 ** 20 });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
};

/** Whether the dev stack exists with resources (destroyed, a stack keeps its file with none). */
function devStackHasResources(): boolean {
    const file = path.join(repoRoot, ".local/state/.pulumi/stacks/cytomine-fallback/dev.json");
    if (!fs.existsSync(file)) return false;
    const state = JSON.parse(fs.readFileSync(file, "utf8")) as { checkpoint?: { latest?: { resources?: unknown[] } } };
    return (state.checkpoint?.latest?.resources ?? []).length > 0;
}

describe("the dev stack from the Pulumi CLI after npm run main", { timeout: 1_200_000 }, () => {
    it("a fresh shell with the printed lines runs preview --refresh, up, refresh and stack output", async () => {
        await useEnvironment();
        await withEnvironmentAlone(async () => {
            const existed = devStackHasResources();
            const main = run("bash", ["scripts/main.sh"]);
            assert.equal(main.code, 0, main.out.slice(-3000));
            try {
                const printed = main.out.split("\n").filter((l) => /^ {2}export /.test(l));
                assert.equal(printed.length, 3, main.out.slice(-1500));
                const script = [
                    ...printed.map((l) => l.trim()),
                    `cd ${JSON.stringify(repoRoot)}`,
                    "set -e",
                    "pulumi preview --refresh --stack dev --color never --diff",
                    "echo '== up'",
                    "pulumi up --yes --stack dev --color never",
                    "echo '== refresh'",
                    "pulumi refresh --yes --stack dev --color never",
                    "echo '== output'",
                    "pulumi stack output --stack dev namespace",
                ].join("\n");
                // A fresh shell: no environment but HOME, no profile.
                const shell = run("env", [
                    "-i",
                    `HOME=${process.env.HOME}`,
                    "bash",
                    "--noprofile",
                    "--norc",
                    "-c",
                    script,
                ]);
                assert.equal(shell.code, 0, shell.out.slice(-3000));
                const [preview, up, refresh, output] = shell.out.split(/^== (?:up|refresh|output)$/m);
                for (const [name, text] of [
                    ["preview", preview],
                    ["up", up],
                    ["refresh", refresh],
                ] as const)
                    assert.match(
                        text,
                        /Resources:\s+\d+ unchanged\s/,
                        `${name} changes nothing:\n${text.slice(-1500)}`,
                    );
                assert.equal(output.trim(), "dev");

                // Git stores and compares the tracked settings only.
                const stored = execFileSync("git", ["diff", "--", "Pulumi.dev.yaml"], {
                    cwd: repoRoot,
                    encoding: "utf8",
                });
                assert.doesNotMatch(stored, /secure:|encryptionsalt/);
                assert.match(fs.readFileSync(path.join(repoRoot, "Pulumi.dev.yaml"), "utf8"), /^encryptionsalt: /m);
            } finally {
                if (!existed) {
                    const down = run("bash", ["scripts/main.sh", "down", "--keep-environment"]);
                    assert.equal(down.code, 0, down.out.slice(-3000));
                }
            }
        });
    });
});
