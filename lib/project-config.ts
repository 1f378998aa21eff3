// Config for the project's own program against the local environment, unique per test so that
// tests never share a realm or a namespace.
import * as crypto from "node:crypto";
import type { Environment } from "./localenv";

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
