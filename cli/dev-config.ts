// The dev stack's settings file, Pulumi.dev.yaml, is where the Pulumi CLI looks for the stack's
// config, so after `npm run main` a plain `pulumi preview --stack dev` works. It holds this
// machine's secrets there, encrypted with this machine's generated passphrase, while git sees only
// the reviewed settings: a git filter (git-scm.com/docs/gitattributes, "filter"; configured by
// scripts/main.sh, named in .gitattributes) cleans the secrets and the encryption salt out of what git
// stores and compares, and on checkout puts this machine's back from .local/Pulumi.dev.yaml, the copy
// scripts/main.sh keeps after each run.
//   node --import tsx cli/dev-config.ts clean < file                 what git stores
//   node --import tsx cli/dev-config.ts smudge <machine copy> < file what the working tree holds
import * as fs from "node:fs";

const SALT = /^encryptionsalt:/;
const SECURE_KEY = /^ {2}\S.*:\s*$/;
const SECURE_VALUE = /^ {4}secure:/;

/** TEXT without the encryption salt and the secure values (each `  key:` line and its `    secure:` line). */
export function cleanStackFile(text: string): string {
    const lines = text.split("\n");
    const kept: string[] = [];
    for (let i = 0; i < lines.length; i++) {
        if (SALT.test(lines[i])) continue;
        if (SECURE_KEY.test(lines[i]) && SECURE_VALUE.test(lines[i + 1] ?? "")) {
            i++;
            continue;
        }
        kept.push(lines[i]);
    }
    return kept.join("\n");
}

/** The salt line and the secure entries (two lines each) of a stack file. */
export function machineLines(text: string): { salt?: string; secure: string[] } {
    const lines = text.split("\n");
    const secure: string[] = [];
    for (let i = 0; i < lines.length - 1; i++)
        if (SECURE_KEY.test(lines[i]) && SECURE_VALUE.test(lines[i + 1])) secure.push(lines[i], lines[i + 1]);
    return { salt: lines.find((l) => SALT.test(l)), secure };
}

/**
 * The tracked settings with this machine's secrets and salt (from MACHINE, a stack file) added: the
 * secure entries at the end of `config:`, the salt after it. Unchanged when `config:` is not the last
 * top-level key (the entries would land in another mapping): main sets the secrets again then.
 */
export function smudgeStackFile(tracked: string, machine: string): string {
    const clean = cleanStackFile(tracked);
    const { salt, secure } = machineLines(machine);
    const topLevel = clean.split("\n").filter((l) => /^\S/.test(l) && !l.startsWith("#"));
    if (topLevel[topLevel.length - 1]?.trim() !== "config:" || (!salt && secure.length === 0)) return clean;
    const body = clean.replace(/\n*$/, "");
    return [body, ...secure, ...(salt ? [salt] : []), ""].join("\n");
}

if (require.main === module) {
    const [mode, machinePath] = process.argv.slice(2);
    const input = fs.readFileSync(0, "utf8");
    if (mode === "clean") process.stdout.write(cleanStackFile(input));
    else if (mode === "smudge")
        process.stdout.write(
            machinePath && fs.existsSync(machinePath)
                ? smudgeStackFile(input, fs.readFileSync(machinePath, "utf8"))
                : input,
        );
    else {
        console.error("usage: dev-config.ts clean | smudge <machine copy>   (stdin to stdout)");
        process.exit(2);
    }
}
