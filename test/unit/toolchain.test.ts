// The toolchain builds plugins at the versions in scripts/toolchain/versions.env; the npm SDKs must
// ask for exactly those, or the engine would look for a plugin that was never built.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { requiredPluginVersion } from "../../program/preflight/plugins";
import { envSettings } from "../../localenv/settings";
import { pulumiCommand, readVersions, repoRoot, toolDir } from "../../toolchain/index";

const root = repoRoot;

describe("toolchain pins", () => {
    const versions = readVersions();
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
        dependencies: Record<string, string>;
    };

    it("the CLI for the Automation API is the pinned one, its version checked once per process", async () => {
        const first = await pulumiCommand();
        assert.equal(first.version?.toString(), versions.PULUMI_VERSION);
        assert.equal(await pulumiCommand(), first);
    });

    it("pins @pulumi/pulumi to the CLI version", () => {
        assert.equal(pkg.dependencies["@pulumi/pulumi"], versions.PULUMI_VERSION);
    });

    for (const [sdk, key] of [
        ["@pulumi/kubernetes", "KUBERNETES_PROVIDER_VERSION"],
        ["@pulumi/random", "RANDOM_PROVIDER_VERSION"],
        ["@pulumi/command", "COMMAND_PROVIDER_VERSION"],
        ["@pulumi/keycloak", "KEYCLOAK_PROVIDER_VERSION"],
        ["@pulumi/aws", "AWS_PROVIDER_VERSION"],
    ] as const) {
        it(`${sdk} asks for the plugin version the toolchain pins (${key})`, () => {
            assert.equal(pkg.dependencies[sdk], versions[key], "package.json pins the exact SDK version");
            assert.equal(requiredPluginVersion(sdk), versions[key], "the installed SDK requests that plugin");
        });
    }
});

describe("toolchain steps", () => {
    const script = fs.readFileSync(path.join(root, "scripts/toolchain.sh"), "utf8");
    /** The `step` lines of a shell function's body. */
    const steps = (fn: string) => {
        const body = new RegExp(`^${fn}\\(\\) \\{\\n([\\s\\S]*?)^\\}`, "m").exec(script)?.[1];
        assert.ok(body !== undefined, `no function ${fn} in scripts/toolchain.sh`);
        return body.split("\n").filter((l) => /^\tstep /.test(l)).length;
    };
    const total = (group: string) => Number(new RegExp(`^\\t${group}\\) TOTAL=(\\d+) ;;$`, "m").exec(script)?.[1]);

    it("each group's step count ([n/m]) is the sum of the steps it runs", () => {
        const controlPlane = steps("start_control_plane");
        const envRest = steps("start_env_rest");
        assert.equal(total("main"), total("core") + controlPlane);
        // The Debian packages, then the environment's tools.
        assert.equal(total("env"), 1 + controlPlane + envRest);
        assert.equal(total("all"), total("core") + total("env"));
    });

    it("builds the registry image's program at DISTRIBUTION_VERSION, where the environment looks for it", () => {
        const v = readVersions().DISTRIBUTION_VERSION;
        assert.match(v, /^3\.\d+\.\d+$/, "v3: v2.8.3's dependencies are not served");
        assert.match(script, /github\.com\/distribution\/distribution\/v3\/cmd\/registry@v\$DISTRIBUTION_VERSION/);
        assert.equal(envSettings({}).docker.registryBinDir, toolDir("registry", v));
    });
});
