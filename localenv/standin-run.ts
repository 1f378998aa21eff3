// Runs a release stand-in (localenv/images/common/cytomine-standin.py) on this machine, outside a container,
// for tests: a temporary root holding every writable path and file of the component's contract, the
// contract as JSON, and the process with its output. The image runs the same program with root "/".
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CONTRACTS, ServiceContract } from "../components/model/release";
import { freePort } from "./proc";
import { contractJson, IMAGES_DIR } from "./standins";

export const STANDIN_SCRIPT = path.join(IMAGES_DIR, "common", "cytomine-standin.py");

/**
 * Debian's python3: the stand-ins need python3-jwt, python3-cryptography and python3-psycopg2, which
 * Debian installs for /usr/bin/python3 only (a pyenv python3 first on PATH does not see them).
 */
export function standinPython(): string {
    return fs.existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

export interface StandinRoot {
    /** The directory that stands for "/" (--root). */
    root: string;
    /** The contract file (--contract). */
    contract: string;
    /** The component's contract, as its stand-in reads it. */
    data: ServiceContract;
    /** ROOT joined with a container path. */
    at(p: string): string;
}

const roots: string[] = [];

/** Removes every root standinRoot made in this process. */
export function removeStandinRoots(): void {
    for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
}

/** A fresh root with the contract's writable paths and files present, web-ui's /app and PIMS's /app files. */
export function standinRoot(component: string): StandinRoot {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), `standin-${component}-`));
    roots.push(root);
    const at = (p: string) => path.join(root, p);
    const data = JSON.parse(contractJson(component)) as ServiceContract;
    for (const w of data.writable) fs.mkdirSync(at(w.path), { recursive: true });
    for (const f of data.files) {
        fs.mkdirSync(path.dirname(at(f.path)), { recursive: true });
        fs.writeFileSync(at(f.path), "");
    }
    if (component === "web-ui") {
        fs.mkdirSync(at("/app"), { recursive: true });
        for (const f of ["index.html", "configuration.json.template"]) {
            fs.copyFileSync(path.join(IMAGES_DIR, "web-ui", f), at(`/app/${f}`));
        }
    }
    if (component === "pims") {
        // The files the image copies into /app (localenv/images/pims/Dockerfile), with their
        // content: gunicorn reads LOG_CONFIG_FILE=/app/logging.yml, PIMS its settings' defaults.
        for (const f of ["logging.yml", "pims-config.env"]) {
            fs.copyFileSync(path.join(IMAGES_DIR, "pims", f), at(`/app/${f}`));
        }
    }
    const contract = path.join(root, "contract.json");
    fs.writeFileSync(contract, contractJson(component));
    return { root, contract, data, at };
}

export interface StandinOptions {
    root: StandinRoot;
    env: Record<string, string>;
    port?: number;
    /** Seconds to wait for databases (--wait). */
    wait?: number;
    /** Run as this user (runuser; needs root), e.g. "nobody" to meet real permissions. */
    user?: string;
}

/**
 * The stand-in's script as USER can read it: the checkout's, or for another user a copy of its folder
 * in the stand-in's root (a checkout under a 0700 folder is closed to other users).
 */
function scriptFor(o: StandinOptions): string {
    if (!o.user) return STANDIN_SCRIPT;
    const dir = path.join(o.root.root, ".standin-scripts");
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (const f of fs.readdirSync(path.dirname(STANDIN_SCRIPT))) {
        if (f.endsWith(".py")) fs.copyFileSync(path.join(path.dirname(STANDIN_SCRIPT), f), path.join(dir, f));
    }
    return path.join(dir, path.basename(STANDIN_SCRIPT));
}

function command(component: string, o: StandinOptions, port?: number): [string, string[]] {
    const args = [scriptFor(o), component, "--contract", o.root.contract, "--root", o.root.root];
    if (port !== undefined) args.push("--port", String(port));
    if (o.wait !== undefined) args.push("--wait", String(o.wait));
    return o.user ? ["runuser", ["-u", o.user, "--", standinPython(), ...args]] : [standinPython(), args];
}

/** Runs the stand-in until it exits (a refusal); its exit code and output. */
export function runStandin(
    component: string,
    o: StandinOptions,
): { status: number | null; stdout: string; stderr: string } {
    const [file, args] = command(component, o, o.port ?? 9);
    const r = spawnSync(file, args, { env: { PATH: process.env.PATH ?? "", ...o.env }, encoding: "utf8" });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface RunningStandin {
    url: string;
    port: number;
    child: ChildProcess;
    /** Its stdout and stderr so far. */
    output(): string;
    /**
     * Its output once it matches PATTERN (a string: contains it), within TIMEOUT_MS. A stand-in logs a request after answering
     * it, and the pipe delivers the line later still, so a caller that just got the answer waits here.
     */
    waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
    stop(): Promise<void>;
}

/**
 * Starts the stand-in on a free port and waits until its first health path answers 200, or throws
 * with its output when it exits first.
 */
export async function startStandin(component: string, o: StandinOptions): Promise<RunningStandin> {
    const port = o.port ?? (await freePort());
    const [file, args] = command(component, o, port);
    const child = spawn(file, args, { env: { PATH: process.env.PATH ?? "", ...o.env }, stdio: "pipe" });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    let exited: number | null | undefined;
    const gone = new Promise<void>((resolve) =>
        child.on("exit", (code) => {
            exited = code;
            resolve();
        }),
    );
    const url = `http://127.0.0.1:${port}`;
    const health = (CONTRACTS[component] as ServiceContract).health[0].path;
    // Bounded: databases get their --wait, then the stand-in its own start.
    const deadline = Date.now() + ((o.wait ?? 0) + 30) * 1000;
    for (;;) {
        if (exited !== undefined) throw new Error(`${component} stand-in exited (${exited}):\n${out}`);
        if (Date.now() > deadline) {
            child.kill("SIGTERM");
            throw new Error(`${component} stand-in: ${url}${health} did not answer 200 in time:\n${out}`);
        }
        const ok = await fetch(`${url}${health}`).then(
            (r) => r.status === 200,
            () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
    }
    return {
        url,
        port,
        child,
        output: () => out,
        async waitForOutput(pattern, timeoutMs = 5000) {
            const until = Date.now() + timeoutMs;
            const found = () => (typeof pattern === "string" ? out.includes(pattern) : pattern.test(out));
            while (!found() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
            return out;
        },
        async stop() {
            if (exited === undefined) {
                child.kill("SIGTERM");
                await gone;
            }
        },
    };
}
