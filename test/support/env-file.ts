// A service's env file on the SSH test host (components/vm/compose.ts `envFile`), read as Compose
// reads it: one NAME=value per line, the rest of the line literally (no quotes, no comments).
import * as fs from "node:fs";

export function readEnvFile(file: string): Record<string, string> {
    return Object.fromEntries(
        fs
            .readFileSync(file, "utf8")
            .split("\n")
            .filter((l) => l.includes("="))
            .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
}
