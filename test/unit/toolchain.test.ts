// The toolchain builds plugins at the versions in scripts/toolchain/versions.env; the npm SDKs must
// ask for exactly those, or the engine would look for a plugin that was never built.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { requiredPluginVersion } from "../../program/preflight/plugins";
import { readVersions, repoRoot } from "../../toolchain/index";

const root = repoRoot;

describe("toolchain pins", () => {
    const versions = readVersions();
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as {
        dependencies: Record<string, string>;
    };

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
