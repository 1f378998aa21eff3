// Config for the project's own program against the local environment, unique per test so that
// tests never share a realm or a namespace.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Environment } from "../../localenv";
export { freePort } from "../../localenv";

export type ConfigValue = string | { value: string; secret: true };

export function projectConfig(env: Environment, prefix: string, extra: Record<string, ConfigValue> = {}) {
    const id = `${prefix}-${crypto.randomBytes(3).toString("hex")}`;
    const config: Record<string, ConfigValue> = {
        "cytomine-fallback:tenant": id,
        "cytomine-fallback:publicUrl": "http://127.0.0.1:8080",
        "cytomine-fallback:localStack": "true",
        "cytomine-fallback:keycloakUrl": env.keycloak.url,
        "cytomine-fallback:keycloakAdminUser": env.keycloak.adminUser,
        "cytomine-fallback:keycloakAdminPassword": { value: env.keycloak.adminPassword, secret: true },
        "cytomine-fallback:realm": id,
        "cytomine-fallback:orthancRealm": `${id}-orthanc`,
        "cytomine-fallback:lsaaiClientId": `${id}-client`,
        "cytomine-fallback:lsaaiClientSecret": { value: crypto.randomBytes(24).toString("base64url"), secret: true },
        // Test stacks must be destroyable; the protection itself is tested on purpose.
        "cytomine-fallback:allowRealmReplacement": "true",
        "cytomine-fallback:allowVolumeDeletion": "true",
        ...extra,
    };
    return { id, config };
}

export interface SshTargetOptions {
    /** The port the tenant's proxy publishes on 127.0.0.1 (the public URL's). */
    httpPort: number;
    /** Roots on the SSH test host under which the tenant's configuration and data go. */
    configDir: string;
    dataDir: string;
    extra?: Record<string, ConfigValue>;
}

/** The SSH test host's public key as config vm.hostKey takes it (`ssh-ed25519 AAAA…`). */
export function sshHostKey(env: Environment): string {
    const pub = fs.readFileSync(path.join(path.dirname(env.ssh.privateKeyPath), "host_ed25519_key.pub"), "utf8");
    return pub.trim().split(" ").slice(0, 2).join(" ");
}

/**
 * Config for `target: ssh` against the environment's SSH test host and its Docker engine: Keycloak in
 * the compose project (with a generated admin password: the local Keycloak's is not used), the host
 * key pinned, the proxy on 127.0.0.1:<httpPort>.
 */
export function sshTargetConfig(env: Environment, prefix: string, o: SshTargetOptions) {
    const url = `http://127.0.0.1:${o.httpPort}`;
    const { id, config } = projectConfig(env, prefix, {
        "cytomine-fallback:target": "ssh",
        "cytomine-fallback:publicUrl": url,
        "cytomine-fallback:keycloakMode": "namespace",
        "cytomine-fallback:keycloakUrl": `${url}/iam`,
        // The tenant's own Keycloak: the realm the web UI signs in through (components/model/release.ts SIGN_IN).
        "cytomine-fallback:realm": "cytomine",
        "cytomine-fallback:vm": JSON.stringify({
            host: env.ssh.host,
            port: env.ssh.port,
            user: env.ssh.user,
            hostKey: sshHostKey(env),
            configDir: o.configDir,
            dataDir: o.dataDir,
            bindAddress: "127.0.0.1",
            httpPort: o.httpPort,
            readyTimeoutSeconds: 900,
        }),
        "cytomine-fallback:vmPrivateKey": { value: fs.readFileSync(env.ssh.privateKeyPath, "utf8"), secret: true },
        ...o.extra,
    });
    delete config["cytomine-fallback:keycloakAdminPassword"];
    return { id, config, url };
}
