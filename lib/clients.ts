// Clients for the real services, to check what a stack did: Keycloak's Admin REST API and the
// Kubernetes API. Both client libraries are ES modules, hence the dynamic imports.
import type { KeycloakInfo } from "./localenv/keycloak";

export async function keycloakAdmin(info: KeycloakInfo) {
    const { default: KcAdminClient } = await import("@keycloak/keycloak-admin-client");
    const client = new KcAdminClient({ baseUrl: info.url, realmName: "master" });
    await client.auth({
        grantType: "password",
        clientId: "admin-cli",
        username: info.adminUser,
        password: info.adminPassword,
    });
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
