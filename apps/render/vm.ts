// The files a VM target writes on its host, taken from the program's own resources: every remote
// command whose script is components/vm/scripts.ts' writeFileScript(path, mode, …) writes its stdin
// to that path, so the file's content is exactly that command's `stdin` input, as the command plugin
// would send it (secrets as placeholders). Files of the tenant's configuration directory keep their
// relative path under `vm/` (compose.yaml, env/<service>.env, nginx.conf); any other is under
// `vm/host/<absolute path>`.
import { writeFileScript } from "../../components/vm/scripts";
import type { CapturedResource } from "./capture";

export interface HostFile {
    /** Absolute path on the host. */
    path: string;
    mode: string;
    content: string;
    /** The command resource that writes it. */
    resource: string;
}

/** Undoes components/vm/scripts.ts' shellQuote(): a single-quoted shell word. */
function unquote(word: string): string | undefined {
    const m = /^'((?:[^']|'\\'')*)'$/.exec(word);
    return m ? m[1].replace(/'\\''/g, "'") : undefined;
}

/** The file a remote command writes, when its script is writeFileScript's. */
export function writtenFile(r: CapturedResource): HostFile | undefined {
    if (r.type !== "command:remote:Command") return undefined;
    const create = r.inputs.create;
    const stdin = r.inputs.stdin;
    if (typeof create !== "string" || typeof stdin !== "string") return undefined;
    const move = /^(sudo -n )?mv -f ('(?:[^']|'\\'')*') ('(?:[^']|'\\'')*')$/m.exec(create);
    const chmod = /^(?:sudo -n )?chmod ([0-7]{3,4}) /m.exec(create);
    const path = move ? unquote(move[3]) : undefined;
    if (!move || !chmod || path === undefined) return undefined;
    // Only a script writeFileScript made (the same function, the same arguments) counts.
    if (!create.includes(writeFileScript(path, chmod[1], move[1] ?? ""))) return undefined;
    return { path, mode: chmod[1], content: stdin, resource: r.name };
}

export function hostFiles(resources: readonly CapturedResource[]): HostFile[] {
    const files = resources.flatMap((r) => writtenFile(r) ?? []);
    const paths = new Set<string>();
    for (const f of files) {
        if (paths.has(f.path)) throw new Error(`two commands write ${f.path} on the host`);
        paths.add(f.path);
    }
    return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** `vm/<path>` for each file: relative to the tenant's configuration directory where it lies under it. */
export function vmFiles(resources: readonly CapturedResource[], configDir: string): Record<string, string> {
    return Object.fromEntries(
        hostFiles(resources).map((f) => [
            f.path.startsWith(`${configDir}/`) ? `vm/${f.path.slice(configDir.length + 1)}` : `vm/host${f.path}`,
            f.content,
        ]),
    );
}
