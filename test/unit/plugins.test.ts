import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import {
    assertPluginsAvailable,
    pluginInstalled,
    pluginsFor,
    requiredPluginVersion,
} from "../../program/preflight/plugins";

function tempHome(): string {
    return fs.mkdtempSync(path.join(os.tmpdir(), "plugins-test-"));
}

function install(home: string, name: string, version: string): void {
    const dir = path.join(home, "plugins", `resource-${name}-v${version}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `pulumi-resource-${name}`), "");
}

describe("provider plugin preflight", () => {
    it("reads the plugin version from the installed SDK", () => {
        assert.equal(requiredPluginVersion("@pulumi/kubernetes"), "4.25.0");
        assert.equal(requiredPluginVersion("@pulumi/aws"), "7.48.0");
    });

    it("finds a plugin only at its exact version", () => {
        const home = tempHome();
        install(home, "kubernetes", "4.25.0");
        const lookup = { pulumiHome: home, pathDirs: [] };
        assert.equal(pluginInstalled("kubernetes", "4.25.0", lookup), true);
        assert.equal(pluginInstalled("kubernetes", "4.24.0", lookup), false);
    });

    it("asks for aws and command on the aws target and fails clearly when aws is missing", () => {
        assert.deepEqual(
            pluginsFor("aws").map((p) => p.plugin),
            ["keycloak", "random", "aws", "command"],
        );
        const home = tempHome();
        for (const [plugin, pkg] of [
            ["command", "@pulumi/command"],
            ["keycloak", "@pulumi/keycloak"],
            ["random", "@pulumi/random"],
        ]) {
            install(home, plugin, requiredPluginVersion(pkg));
        }
        assert.throws(
            () => assertPluginsAvailable(pluginsFor("aws"), { pulumiHome: home, pathDirs: [] }),
            (e: Error) =>
                /plugin aws v7\.48\.0 \(for target aws\) is not installed/.test(e.message) &&
                !/command/.test(e.message.split("\n")[0]),
        );
    });

    it("passes when every plugin is there", () => {
        const home = tempHome();
        for (const need of pluginsFor("kubernetes")) install(home, need.plugin, requiredPluginVersion(need.pkg));
        assert.doesNotThrow(() => assertPluginsAvailable(pluginsFor("kubernetes"), { pulumiHome: home, pathDirs: [] }));
    });
});
