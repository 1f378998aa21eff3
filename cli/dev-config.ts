// Builds the dev stack's working config file, .local/Pulumi.dev.yaml: the tracked Pulumi.dev.yaml
// (non-secret settings, reviewed in git) plus this machine's encrypted secrets, which must not dirty
// the tracked file (their ciphertext depends on the machine's generated passphrase).
//   node --import tsx cli/dev-config.ts <tracked> <local>
import * as fs from "node:fs";
import { parse, stringify } from "yaml";

interface StackFile {
    config?: Record<string, unknown>;
    [key: string]: unknown;
}

const isSecure = (v: unknown) => typeof v === "object" && v !== null && "secure" in v;

/** Tracked settings win; secure values and top-level keys (e.g. encryptionsalt) of the local file stay. */
export function mergeStackConfig(tracked: StackFile, local: StackFile): StackFile {
    const secure = Object.fromEntries(Object.entries(local.config ?? {}).filter(([, v]) => isSecure(v)));
    return { ...local, ...tracked, config: { ...secure, ...(tracked.config ?? {}) } };
}

if (require.main === module) {
    const [trackedPath, localPath] = process.argv.slice(2);
    const read = (p: string): StackFile =>
        fs.existsSync(p) ? ((parse(fs.readFileSync(p, "utf8")) as StackFile) ?? {}) : {};
    fs.writeFileSync(localPath, stringify(mergeStackConfig(read(trackedPath), read(localPath))), { mode: 0o600 });
}
