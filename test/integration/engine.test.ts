// Issue "toolchain": the real CLI, Node.js language host, kubernetes plugin, dynamic-provider launcher
// and policy analyzer, on a temporary file:// backend with a passphrase secrets provider.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import {
    changesOf,
    createEphemeralStack,
    disposeEphemeralStack,
    EphemeralStack,
    plaintextLeaks,
} from "../support/automation";
import { pulumiEnv, readVersions, repoRoot as root, requireToolchain } from "../../toolchain/index";

const versions = readVersions();

describe("toolchain", () => {
    it("pulumi version and plugin ls show the pinned versions", () => {
        const pulumi = requireToolchain();
        const env = { ...process.env, ...pulumiEnv() };
        assert.equal(execFileSync(pulumi, ["version"], { env }).toString().trim(), `v${versions.PULUMI_VERSION}`);
        const plugins = execFileSync(pulumi, ["plugin", "ls", "--json"], { env }).toString();
        const listed = (JSON.parse(plugins) as { name: string; version: string; kind: string }[]).map(
            (p) => `${p.kind}/${p.name}@${p.version}`,
        );
        assert.ok(listed.includes(`resource/kubernetes@${versions.KUBERNETES_PROVIDER_VERSION}`), listed.join(", "));
        assert.ok(listed.includes(`resource/random@${versions.RANDOM_PROVIDER_VERSION}`), listed.join(", "));
    });
});

describe("engine end to end (fixture program)", () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "engine-check-"));
    const renderDir = path.join(work, "rendered");
    const markerPath = path.join(work, "marker.txt");
    let e: EphemeralStack;

    before(async () => {
        e = await createEphemeralStack({
            workDir: path.join(root, "test/fixtures/engine"),
            config: {
                "engine-check:renderDir": renderDir,
                "engine-check:markerPath": markerPath,
                "engine-check:token": { value: "s3cr3t-value-for-test", secret: true },
            },
        });
    });
    after(async () => {
        if (e) await disposeEphemeralStack(e);
        fs.rmSync(work, { recursive: true, force: true });
    });

    it("previews, then up creates every resource with real effects", async () => {
        const preview = await e.stack.preview({ color: "never" });
        assert.ok((preview.changeSummary.create ?? 0) >= 6, JSON.stringify(preview.changeSummary));

        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
        assert.equal(fs.readFileSync(markerPath, "utf8"), "engine-check");

        const rendered = fs
            .readdirSync(renderDir, { recursive: true })
            .map(String)
            .filter((f) => f.endsWith(".yaml"))
            .flatMap((f) => parseAllDocuments(fs.readFileSync(path.join(renderDir, f), "utf8")).map((d) => d.toJS()));
        const kinds = rendered.map((d) => `${d.kind}/${d.metadata.name}`).sort();
        assert.deepEqual(kinds, ["ConfigMap/settings", "Deployment/web"]);
    });

    it("keeps config and generated secrets secret in outputs and state", async () => {
        const outputs = await e.stack.outputs();
        assert.equal(outputs.token.secret, true);
        assert.equal(outputs.token.value, "s3cr3t-value-for-test");
        assert.equal(outputs.generated.secret, true);
        assert.match(outputs.generated.value, /^[A-Za-z0-9]{24}$/);
        const generated: string = outputs.generated.value;
        assert.deepEqual(plaintextLeaks(e, { token: "s3cr3t-value-for-test", generated }), []);
    });

    it("a second preview reports no changes", async () => {
        const preview = await e.stack.preview({ color: "never" });
        assert.deepEqual(changesOf(preview.changeSummary), {}, preview.stdout);
    });

    it("the policy pack runs through the analyzer and blocks a :latest image", async () => {
        await e.stack.setConfig("engine-check:violatePolicy", { value: "true" });
        try {
            await assert.rejects(
                e.stack.preview({ color: "never", policyPacks: [path.join(root, "policies")] }),
                (err: Error) => /pinned-images/.test(err.message) && /nginx:latest/.test(err.message),
            );
        } finally {
            await e.stack.removeConfig("engine-check:violatePolicy");
        }
        const clean = await e.stack.preview({ color: "never", policyPacks: [path.join(root, "policies")] });
        assert.deepEqual(changesOf(clean.changeSummary), {});
    });

    it("destroy removes what up created", async () => {
        const destroy = await e.stack.destroy({ color: "never" });
        assert.equal(destroy.summary.result, "succeeded");
        assert.equal(fs.existsSync(markerPath), false);
    });
});
