// Preflight: a provider plugin that cannot be found fails the preview with a message that says
// which plugin, which version and what to do, instead of the engine's attempt to download it.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Target } from "../config";

/** The plugin version an installed npm provider SDK asks for (its package.json "pulumi" field). */
export function requiredPluginVersion(pkg: string): string {
    const manifest = JSON.parse(fs.readFileSync(require.resolve(`${pkg}/package.json`), "utf8")) as {
        pulumi?: { version?: string };
        version: string;
    };
    return manifest.pulumi?.version ?? manifest.version;
}

export interface PluginNeed {
    pkg: string;
    plugin: string;
    why: string;
}

/** The provider plugins a stack needs: identity (keycloak, random) plus those of its target. */
export function pluginsFor(target: Target): PluginNeed[] {
    const why = `target ${target}`;
    const identity = [
        { pkg: "@pulumi/keycloak", plugin: "keycloak", why: "the identity resources" },
        { pkg: "@pulumi/random", plugin: "random", why: "generated passwords and keys" },
    ];
    const command = { pkg: "@pulumi/command", plugin: "command", why };
    switch (target) {
        case "kubernetes":
            return [...identity, { pkg: "@pulumi/kubernetes", plugin: "kubernetes", why }];
        case "aws":
            return [...identity, { pkg: "@pulumi/aws", plugin: "aws", why }, command];
        case "ssh":
            return [...identity, command];
    }
}

export interface PluginLookup {
    pulumiHome: string;
    pathDirs: string[];
}

export function defaultLookup(env: NodeJS.ProcessEnv = process.env): PluginLookup {
    return {
        pulumiHome: env.PULUMI_HOME || path.join(os.homedir(), ".pulumi"),
        pathDirs: (env.PATH ?? "").split(path.delimiter).filter(Boolean),
    };
}

/** True when the CLI would find resource plugin NAME at exactly VERSION without downloading. */
export function pluginInstalled(name: string, version: string, lookup: PluginLookup): boolean {
    const cached = path.join(lookup.pulumiHome, "plugins", `resource-${name}-v${version}`, `pulumi-resource-${name}`);
    if (fs.existsSync(cached)) return true;
    return lookup.pathDirs.some((d) => fs.existsSync(path.join(d, `pulumi-resource-${name}`)));
}

/** Throws when any of the given npm provider SDKs has no matching plugin. */
export function assertPluginsAvailable(needs: PluginNeed[], lookup: PluginLookup = defaultLookup()): void {
    const missing = needs
        .map((n) => ({ ...n, version: requiredPluginVersion(n.pkg) }))
        .filter((n) => !pluginInstalled(n.plugin, n.version, lookup));
    if (missing.length === 0) return;
    throw new Error(
        missing
            .map(
                (m) =>
                    `provider plugin ${m.plugin} v${m.version} (for ${m.why}) is not installed in ${lookup.pulumiHome}/plugins.\n` +
                    `  fix: run 'npm run toolchain' on a machine that can build it, or 'pulumi plugin install resource ${m.plugin} ${m.version}' ` +
                    `where downloads are allowed. See README, "What cannot be built here".`,
            )
            .join("\n"),
    );
}
