// Tenants sharing one Keycloak (keycloakMode external) each have their own `cytomine` realm; a stack
// must not take over a realm another stack manages (the realm's `cytomine.io/stack` attribute), as
// it must not take another's namespace. Checked when the program starts, so a preview stops with the
// config key before anything changes. With keycloakMode namespace the Keycloak is the tenant's own.
import * as pulumi from "@pulumi/pulumi";
import { realmConflict, stackOwner } from "../../components/model/tenancy";
import { ConfigError, LoadedConfig, PROJECT, plaintext } from "../config";

export async function assertRealmAvailable({ config, secrets }: LoadedConfig): Promise<void> {
    if (config.keycloak.mode !== "external" || secrets.keycloakAdminPassword === undefined) return;
    const base = `${config.keycloak.origin}${config.keycloak.basePath}`;
    let existing: { attributes?: Record<string, unknown> } | undefined;
    try {
        const password = await plaintext(secrets.keycloakAdminPassword);
        existing = await readRealm(base, config.keycloak.adminUser, password, config.realm);
    } catch (e) {
        // An unreachable Keycloak fails the realm's own steps later, with the provider's message.
        await pulumi.log.warn(`could not check who manages realm ${config.realm} at ${base}: ${(e as Error).message}`);
        return;
    }
    const conflict = realmConflict(config.realm, stackOwner(), existing);
    if (conflict)
        throw new ConfigError([
            `${PROJECT}:realm = "${config.realm}" collides with another tenant: ${conflict}; choose another realm`,
        ]);
}

/**
 * The realm's representation, or undefined when it does not exist. Two Admin REST API calls
 * (https://www.keycloak.org/docs-api/latest/rest-api/): @keycloak/keycloak-admin-client is an ES
 * module, which this CommonJS program cannot load.
 */
async function readRealm(base: string, user: string, password: string, realm: string) {
    const timeout = () => AbortSignal.timeout(10_000);
    const token = await fetch(`${base}/realms/master/protocol/openid-connect/token`, {
        method: "POST",
        body: new URLSearchParams({ grant_type: "password", client_id: "admin-cli", username: user, password }),
        signal: timeout(),
    });
    if (!token.ok) throw new Error(`the admin login answered ${token.status}`);
    const { access_token } = (await token.json()) as { access_token: string };
    const res = await fetch(`${base}/admin/realms/${encodeURIComponent(realm)}`, {
        headers: { authorization: `Bearer ${access_token}` },
        signal: timeout(),
    });
    if (res.status === 404) return undefined;
    if (!res.ok) throw new Error(`reading the realm answered ${res.status}`);
    return (await res.json()) as { attributes?: Record<string, unknown> };
}
