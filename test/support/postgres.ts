// A throwaway PostgreSQL cluster from Debian's package (/usr/lib/postgresql/<v>/bin), in a temporary
// directory, on a free loopback port, run as the `postgres` user when the test runs as root (initdb
// refuses root). Password authentication (scram) for the page's role; the password reaches the page
// through PGPASSWORD only.
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "./project-config";

export interface Postgres {
    url: string;
    password: string;
    stop(): void;
}

export function postgresBin(): string | undefined {
    const root = "/usr/lib/postgresql";
    if (!fs.existsSync(root)) return undefined;
    const version = fs
        .readdirSync(root)
        .filter((v) => fs.existsSync(path.join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))[0];
    return version && path.join(root, version, "bin");
}

export async function startPostgres(): Promise<Postgres> {
    const bin = postgresBin();
    if (!bin) throw new Error("no PostgreSQL under /usr/lib/postgresql: apt-get install postgresql");
    const root = process.getuid?.() === 0;
    const as = (cmd: string, args: string[], input?: string) => {
        const [file, argv] = root ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
        const r = spawnSync(file, argv, { input, encoding: "utf8" });
        if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.stdout}`);
        return r.stdout;
    };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portal-pg-"));
    if (root) execFileSync("chown", ["postgres:postgres", dir]);
    fs.chmodSync(dir, 0o700);
    const data = path.join(dir, "data");
    const password = crypto.randomBytes(18).toString("base64url");
    const pwFile = path.join(dir, "pw");
    fs.writeFileSync(pwFile, password, { mode: 0o600 });
    if (root) execFileSync("chown", ["postgres:postgres", pwFile]);
    as(path.join(bin, "initdb"), [
        "-D",
        data,
        "-U",
        "portal",
        "--auth=scram-sha-256",
        `--pwfile=${pwFile}`,
        "-E",
        "UTF8",
    ]);
    fs.rmSync(pwFile);
    const port = await freePort();
    as(path.join(bin, "pg_ctl"), [
        "-D",
        data,
        "-l",
        path.join(dir, "log"),
        "-w",
        "-o",
        `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir}`,
        "start",
    ]);
    return {
        url: `postgres://portal@127.0.0.1:${port}/postgres`,
        password,
        stop() {
            try {
                as(path.join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "stop"]);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        },
    };
}
