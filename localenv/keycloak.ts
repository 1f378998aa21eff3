// Keycloak from the Maven Central distribution, in dev mode on 127.0.0.1, with its database and a
// generated bootstrap admin password in the gitignored state folder.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { EnvError, httpOk, LOOPBACK, livePid, requireFreePort, startDetached, stopPidFile, waitUntil } from "./proc";
import { EnvSettings } from "./settings";

export interface KeycloakInfo {
    /** Base URL including the relative path, e.g. http://127.0.0.1:18080/iam */
    url: string;
    adminUser: string;
    adminPassword: string;
}

const MARKER = "keycloak";

function files(s: EnvSettings) {
    const dir = path.join(s.stateDir, "keycloak");
    return {
        dir,
        pid: path.join(dir, "keycloak.pid"),
        log: path.join(dir, "keycloak.log"),
        password: path.join(dir, "admin-password"),
        db: path.join(dir, "db", "keycloakdb"),
    };
}

/** The bootstrap admin password: generated on first start, then read back (mode 0600). */
export function adminPassword(file: string): string {
    if (!fs.existsSync(file)) {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, crypto.randomBytes(24).toString("base64url"), { mode: 0o600 });
    }
    return fs.readFileSync(file, "utf8").trim();
}

export function keycloakInfo(s: EnvSettings): KeycloakInfo {
    return {
        url: `http://${LOOPBACK}:${s.keycloak.port}${s.keycloak.relativePath}`,
        adminUser: "admin",
        adminPassword: adminPassword(files(s).password),
    };
}

const readyUrl = (s: EnvSettings) =>
    `http://${LOOPBACK}:${s.keycloak.managementPort}${s.keycloak.relativePath}/health/ready`;

export async function keycloakReady(s: EnvSettings): Promise<boolean> {
    return httpOk(readyUrl(s)).catch(() => false);
}

export function keycloakRunning(s: EnvSettings): boolean {
    return livePid(files(s).pid, MARKER) !== undefined;
}

export async function keycloakUp(s: EnvSettings): Promise<KeycloakInfo> {
    const f = files(s);
    const info = keycloakInfo(s);
    if (keycloakRunning(s) && (await keycloakReady(s))) return info;
    if (keycloakRunning(s)) {
        // Ours, but not answering (hung or still starting from an earlier run): restart cleanly.
        await stopPidFile(f.pid, MARKER);
    }
    const kcSh = path.join(s.keycloak.home, "bin", "kc.sh");
    if (!fs.existsSync(kcSh)) {
        throw new EnvError(
            `Keycloak is not installed at ${s.keycloak.home}`,
            "run 'npm run setup' (scripts/toolchain.sh env)",
        );
    }
    await requireFreePort(s.keycloak.port, "Keycloak", "CYTOMINE_ENV_KEYCLOAK_PORT");
    await requireFreePort(
        s.keycloak.managementPort,
        "Keycloak's management interface",
        "CYTOMINE_ENV_KEYCLOAK_MANAGEMENT_PORT",
    );
    fs.mkdirSync(path.dirname(f.db), { recursive: true });
    fs.writeFileSync(f.log, "");
    startDetached({
        cmd: kcSh,
        args: [
            "start-dev",
            `--http-host=${LOOPBACK}`,
            `--http-port=${s.keycloak.port}`,
            `--http-management-port=${s.keycloak.managementPort}`,
            `--http-relative-path=${s.keycloak.relativePath}`,
            "--health-enabled=true",
            "--db=dev-file",
            `--db-url=jdbc:h2:file:${f.db};NON_KEYWORDS=VALUE`,
        ],
        env: {
            KC_BOOTSTRAP_ADMIN_USERNAME: info.adminUser,
            KC_BOOTSTRAP_ADMIN_PASSWORD: info.adminPassword,
            JAVA_OPTS_KC_HEAP: "-Xms64m -Xmx768m",
        },
        log: f.log,
        pidFile: f.pid,
    });
    await waitUntil(() => keycloakReady(s), {
        timeoutMs: 300_000,
        what: "Keycloak",
        log: f.log,
        isRunning: () => keycloakRunning(s),
        fix: "read the log; a missing or too old Java needs 'apt-get install openjdk-17-jre-headless'",
    });
    return info;
}

export async function keycloakDown(s: EnvSettings): Promise<boolean> {
    return stopPidFile(files(s).pid, MARKER);
}

export function keycloakLog(s: EnvSettings): string {
    return files(s).log;
}
