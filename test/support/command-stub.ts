// A command replaced by a bash script, for running the VM's shell scripts on this machine: each call
// appends "<command name> <arguments>" to a log file, then the script runs BODY (e.g. a `case "$*"`
// answering as the real command would).
import * as fs from "node:fs";

export function writeCommandStub(file: string, callsLog: string, body: string): void {
    fs.writeFileSync(file, `#!/bin/bash\necho "$(basename "$0") $*" >>'${callsLog}'\n${body}\n`, { mode: 0o755 });
}
