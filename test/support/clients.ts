// Clients for the real services, to check what a stack did: Keycloak's Admin REST API and the
// Kubernetes API. Both client libraries are ES modules, hence the dynamic imports.
import type { KeycloakInfo } from "../../localenv";

export async function keycloakAdmin(info: KeycloakInfo) {
    const { default: KcAdminClient } = await import("@keycloak/keycloak-admin-client");
    const client = new KcAdminClient({ baseUrl: info.url, realmName: "master" });
    const credentials = {
        grantType: "password" as const,
        clientId: "admin-cli",
        username: info.adminUser,
        password: info.adminPassword,
    };
    await client.auth(credentials);
    // The master realm's access tokens live 60 s; a test that holds the client across a long `up`
    // (minutes on a loaded machine) would meet 401s. Renew well before expiry, without keeping the
    // process alive.
    setInterval(() => void client.auth(credentials).catch(() => undefined), 40_000).unref();
    return client;
}

export async function kubeApi(kubeconfig: string) {
    const k8s = await import("@kubernetes/client-node");
    const config = new k8s.KubeConfig();
    config.loadFromFile(kubeconfig);
    return {
        core: config.makeApiClient(k8s.CoreV1Api),
        networking: config.makeApiClient(k8s.NetworkingV1Api),
        apps: config.makeApiClient(k8s.AppsV1Api),
        batch: config.makeApiClient(k8s.BatchV1Api),
    };
}

/** True when reading the object fails with 404. */
export async function isGone(read: () => Promise<unknown>): Promise<boolean> {
    try {
        await read();
        return false;
    } catch (e) {
        const code = (e as { code?: number }).code;
        if (code === 404) return true;
        throw e;
    }
}
