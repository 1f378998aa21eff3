// An S3 server for the backups the tests make: gaul/s3proxy from Maven Central, the S3 API on Jetty
// with AWS signature V2/V4 authentication, on 127.0.0.1. Its objects are files under the gitignored
// state folder (jclouds' filesystem provider), its access key generated on first start.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { EnvError, LOOPBACK, livePid, requireFreePort, startDetached, stopPidFile, waitUntil } from "./proc";
import { EnvSettings } from "./settings";

export interface S3Info {
    /** e.g. http://127.0.0.1:18900; buckets by path (restic: s3:<endpoint>/<bucket>/<folder>). */
    endpoint: string;
    accessKeyId: string;
    secretAccessKey: string;
    /** The filesystem provider's base folder: a folder per bucket, a file per object. */
    dataDir: string;
}

export type S3Credentials = Pick<S3Info, "accessKeyId" | "secretAccessKey">;

const MARKER = "s3proxy";

function files(s: EnvSettings) {
    const dir = path.join(s.stateDir, "s3");
    return {
        properties: path.join(dir, "s3proxy.properties"),
        credentials: path.join(dir, "credentials.env"),
        data: path.join(dir, "data"),
        pid: path.join(dir, "s3proxy.pid"),
        log: path.join(dir, "s3proxy.log"),
    };
}

/**
 * The access key: generated on first start, then read back (mode 0600). The file sets the variables
 * restic and the AWS tools read, so `set -a; . <file>` lets a shell use the server.
 */
export function s3Credentials(file: string): S3Credentials {
    if (!fs.existsSync(file)) {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const accessKeyId = crypto.randomBytes(10).toString("hex").toUpperCase();
        const secretAccessKey = crypto.randomBytes(30).toString("base64url");
        fs.writeFileSync(file, `AWS_ACCESS_KEY_ID=${accessKeyId}\nAWS_SECRET_ACCESS_KEY=${secretAccessKey}\n`, {
            mode: 0o600,
        });
    }
    const vars = Object.fromEntries(
        fs
            .readFileSync(file, "utf8")
            .split("\n")
            .filter((l) => l.includes("="))
            .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    if (!vars.AWS_ACCESS_KEY_ID || !vars.AWS_SECRET_ACCESS_KEY) {
        throw new EnvError(
            `${file} lacks AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY`,
            `delete ${file} (the next 'npm run env:up' generates a new key) or restore both lines`,
        );
    }
    return { accessKeyId: vars.AWS_ACCESS_KEY_ID, secretAccessKey: vars.AWS_SECRET_ACCESS_KEY };
}

const endpoint = (s: EnvSettings) => `http://${LOOPBACK}:${s.s3.port}`;

export function s3Info(s: EnvSettings): S3Info {
    const f = files(s);
    return { endpoint: endpoint(s), ...s3Credentials(f.credentials), dataDir: f.data };
}

/**
 * A value for a Java properties file, which S3Proxy loads from a byte stream: ISO 8859-1, with
 * backslash escapes (java.util.Properties#load(InputStream)), so a backslash is doubled and anything
 * outside printable ASCII (a checkout path's accents) written as \uXXXX.
 */
const propertyValue = (v: string) =>
    v.replace(/\\/g, "\\\\").replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** S3Proxy's configuration: loopback only, every request signed with the access key. */
export function s3ProxyProperties(s: EnvSettings, key: S3Credentials): string {
    const entries = {
        "s3proxy.endpoint": endpoint(s),
        "s3proxy.authorization": "aws-v2-or-v4",
        "s3proxy.identity": key.accessKeyId,
        "s3proxy.credential": key.secretAccessKey,
        // S3Proxy 2.6.0 calls this provider deprecated in favour of filesystem-nio2, which it does not
        // yet start without remote credentials and which lacks list markers (gaul/s3proxy#805, #707).
        "jclouds.provider": "filesystem",
        "jclouds.filesystem.basedir": files(s).data,
    };
    return Object.entries(entries)
        .map(([k, v]) => `${k}=${propertyValue(v)}\n`)
        .join("");
}

/** S3Proxy answers an unsigned request with S3's AccessDenied error: up, and checking signatures. */
async function answers(s: EnvSettings): Promise<boolean> {
    try {
        const res = await fetch(`${endpoint(s)}/`, { signal: AbortSignal.timeout(3000) });
        return res.status === 403 && (await res.text()).includes("<Code>AccessDenied</Code>");
    } catch {
        return false;
    }
}

export function s3Running(s: EnvSettings): boolean {
    return livePid(files(s).pid, MARKER) !== undefined;
}

/**
 * Ours runs with the configuration a start would write now, and answers: another S3 server on the
 * port (a second S3Proxy answers the same) does not count, nor ours started on another port.
 */
export async function s3Ready(s: EnvSettings): Promise<boolean> {
    const f = files(s);
    if (!s3Running(s) || !fs.existsSync(f.properties)) return false;
    const current = fs.readFileSync(f.properties, "utf8") === s3ProxyProperties(s, s3Credentials(f.credentials));
    return current && answers(s);
}

/**
 * The java Keycloak's kc.sh runs: JAVA_HOME's, else the first on PATH. Looked up here, because
 * spawning a missing command fails only afterwards, with an 'error' event that ends this process.
 */
function javaBinary(): string | undefined {
    const dirs = process.env.JAVA_HOME
        ? [path.join(process.env.JAVA_HOME, "bin")]
        : (process.env.PATH ?? "").split(path.delimiter);
    return dirs.map((d) => path.join(d, "java")).find((p) => fs.existsSync(p));
}

export async function s3Up(s: EnvSettings): Promise<S3Info> {
    const f = files(s);
    const info = s3Info(s);
    if (await s3Ready(s)) return info;
    if (s3Running(s)) {
        // Ours, but not answering (hung) or started with another configuration: restart cleanly.
        await stopPidFile(f.pid, MARKER);
    }
    if (!fs.existsSync(s.s3.jar)) {
        throw new EnvError(`S3Proxy is not installed at ${s.s3.jar}`, "run 'npm run setup' (scripts/toolchain.sh env)");
    }
    const java = javaBinary();
    if (!java) {
        throw new EnvError(
            `no java ${process.env.JAVA_HOME ? `in JAVA_HOME=${process.env.JAVA_HOME}` : "on PATH"}, which S3Proxy needs`,
            process.env.JAVA_HOME
                ? "point JAVA_HOME at a Java 17+ runtime, or unset it to use the java on PATH"
                : "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)",
        );
    }
    await requireFreePort(s.s3.port, "the S3 server", "CYTOMINE_ENV_S3_PORT");
    fs.mkdirSync(f.data, { recursive: true });
    // The key is in this file, never on the command line, which every user can read (/proc). Written
    // afresh, so it is created 0600 rather than keeping an older file's mode.
    fs.rmSync(f.properties, { force: true });
    fs.writeFileSync(f.properties, s3ProxyProperties(s, info), { mode: 0o600 });
    fs.writeFileSync(f.log, "");
    startDetached({
        cmd: java,
        // A bounded heap, as Keycloak's, rather than the JVM's default of a quarter of the machine.
        args: ["-Xmx256m", "-jar", s.s3.jar, "--properties", f.properties],
        log: f.log,
        pidFile: f.pid,
    });
    await waitUntil(() => answers(s), {
        timeoutMs: 120_000,
        what: "S3Proxy",
        log: f.log,
        isRunning: () => s3Running(s),
        fix: `read the log; the configuration is ${f.properties}`,
    });
    return info;
}

/** Stops S3Proxy; PURGE deletes the buckets too (the access key stays). */
export async function s3Down(s: EnvSettings, purge = false): Promise<boolean> {
    const stopped = await stopPidFile(files(s).pid, MARKER);
    if (purge) fs.rmSync(files(s).data, { recursive: true, force: true });
    return stopped;
}

export function s3Log(s: EnvSettings): string {
    return files(s).log;
}

export function s3CredentialsFile(s: EnvSettings): string {
    return files(s).credentials;
}
