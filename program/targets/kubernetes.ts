// Target kubernetes: the tenant's Cytomine in its own namespace of the cluster the ambient
// kubeconfig points at (or rendered to files), after checking that no other stack owns it.
import * as k8sClient from "@kubernetes/client-node";
import * as k8s from "@pulumi/kubernetes";
import { Cytomine } from "../../components/kubernetes/cytomine";
import { namespaceConflict, stackOwner } from "../../components/kubernetes/tenancy";
import { ConfigError, LoadedConfig, PROJECT, requireSecret } from "../config";
import type { TargetResult } from "./target";

/** Reads the namespace from the cluster the ambient kubeconfig points at (as the provider does). */
async function readNamespace(namespace: string): Promise<{ annotations?: Record<string, string> } | undefined> {
    const config = new k8sClient.KubeConfig();
    config.loadFromDefault();
    try {
        const ns = await config.makeApiClient(k8sClient.CoreV1Api).readNamespace({ name: namespace });
        return { annotations: ns.metadata?.annotations };
    } catch (e) {
        if ((e as { code?: number }).code === 404) return undefined;
        throw e;
    }
}

/**
 * Stops the program, naming the config key (`tenant`, or `namespace` when set apart), when the live
 * cluster holds the namespace for another stack or for none.
 */
async function assertNamespaceAvailable(namespace: string, key: "tenant" | "namespace", owner: string) {
    const conflict = namespaceConflict(namespace, owner, await readNamespace(namespace));
    if (conflict)
        throw new ConfigError([
            `${PROJECT}:${key} = "${namespace}" collides with another tenant: ${conflict}; choose another ${key}`,
        ]);
}

export async function kubernetesTarget({ config, secrets }: LoadedConfig): Promise<TargetResult> {
    const render = config.renderDir !== "";
    const owner = stackOwner();
    // Tenants never share a namespace: checked against the live cluster before anything changes.
    if (!render) {
        const { namespace } = config.kubernetes;
        await assertNamespaceAvailable(namespace, namespace === config.tenant ? "tenant" : "namespace", owner);
    }
    // Rendering ignores the ambient KUBECONFIG (the provider refuses both at once).
    const cluster = new k8s.Provider(
        "cluster",
        render ? { renderYamlToDirectory: config.renderDir, kubeconfig: "" } : {},
    );
    const cytomine = new Cytomine(
        config.tenant,
        {
            tenant: config.tenant,
            owner,
            publicUrl: config.publicUrl,
            localStack: config.localStack,
            ...config.kubernetes,
            keycloak: { ...config.keycloak, adminPassword: secrets.keycloakAdminPassword },
            render,
            protectVolumes: !config.allowVolumeDeletion,
        },
        { providers: { kubernetes: cluster } },
    );
    // Keycloak in the namespace: the realm is applied once it serves, with its generated password.
    const inNamespace = cytomine.keycloak;
    return {
        publicUrl: config.publicUrl,
        keycloak: {
            endpoint: config.keycloak,
            adminPassword: inNamespace?.adminPassword ?? requireSecret(secrets, "keycloakAdminPassword"),
            ready: inNamespace?.ready ?? [],
        },
        outputs: {
            namespace: cytomine.namespace,
            /** How to read Cytomine's admin password from the tenant's Secret. */
            cytomineAdminCredentials: cytomine.adminCredentials,
            /** In render mode: the Secret (name and keys) to provide to the cluster, e.g. as a SealedSecret. */
            ...(render ? { secretToProvide: cytomine.secret } : {}),
        },
    };
}
