// Where scripts/toolchain.sh put the tools (same defaults as scripts/lib/common.sh), the pinned
// versions, and the environment every Pulumi process runs with.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PulumiCommand } from "@pulumi/pulumi/automation";

export const repoRoot = path.resolve(__dirname, "..");

export const cacheDir =
    process.env.CYTOMINE_CACHE ||
    path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache"), "cytomine-fallback");
export const binDir = path.join(cacheDir, "bin");
/** An installation root in the Automation API's sense: the CLI is at <root>/bin/pulumi. */
export const pulumiRoot = path.join(binDir, "pulumi-root");
export const pulumiHome = process.env.PULUMI_HOME || path.join(cacheDir, "pulumi-home");

/** Environment for the CLI: the pinned tools first on PATH, never a plugin download. */
export function pulumiEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
        PATH: [path.join(pulumiRoot, "bin"), binDir, process.env.PATH ?? ""].join(path.delimiter),
        PULUMI_HOME: pulumiHome,
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        ...extra,
    };
}

/**
 * The file:// backend URL of a state directory. `metadata=skip` (an option of gocloud.dev's fileblob,
 * which Pulumi's file backend is built on) stops the `<file>.attrs` sidecar beside each state file:
 * fileblob rewrites it in place, truncating it first, on every checkpoint, so a CLI killed in between
 * leaves it empty and every later command on that stack (`pulumi stack ls` too) fails with "EOF".
 * Pulumi reads nothing it needs from the sidecar.
 */
export function fileBackendUrl(dir: string): string {
    return `file://${dir}?metadata=skip`;
}

/** Fails with the fix when the toolchain has not been set up. */
export function requireToolchain(): string {
    const pulumi = path.join(pulumiRoot, "bin", "pulumi");
    if (!fs.existsSync(pulumi)) {
        throw new Error(`no pulumi CLI at ${pulumi}: run 'npm run setup' (or 'npm test', which runs it) first`);
    }
    return pulumi;
}

/** The pinned versions: scripts/toolchain/versions.env. */
export function readVersions(file = path.join(repoRoot, "scripts/toolchain/versions.env")): Record<string, string> {
    const entries = fs
        .readFileSync(file, "utf8")
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith("#"))
        .map((l) => l.split("=", 2) as [string, string]);
    return Object.fromEntries(entries);
}

/** Where the toolchain keeps a finished build of NAME at VERSION. */
export function toolDir(name: string, version: string): string {
    return path.join(cacheDir, "tools", `${name}-${version}`);
}

let checkedCommand: Promise<PulumiCommand> | undefined;

/**
 * The pinned CLI for the Automation API; fails with the fix when setup has not run. Its version is
 * checked once per process (`PulumiCommand.get` runs `pulumi version`): tools and tests that make
 * many stacks ask for it once per stack.
 */
export async function pulumiCommand(): Promise<PulumiCommand> {
    requireToolchain();
    checkedCommand ??= PulumiCommand.get({ root: pulumiRoot, skipVersionCheck: false }).catch((e: unknown) => {
        checkedCommand = undefined;
        throw e;
    });
    return checkedCommand;
}
