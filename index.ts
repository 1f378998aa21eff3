// Cytomine Fallback: reads the validated stack config and wires the components together.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { loadConfig, requireSecret } from "./components/config";
import { LSAAI_ENDPOINTS } from "./components/identity/endpoints";
import { admissionWarnings, LsAaiBroker } from "./components/identity/lsaai";
import { keycloakBaseUrl } from "./components/identity/names";
import { OrthancShare } from "./components/identity/orthanc";
import { keycloakProvider } from "./components/identity/provider";
import { CytomineRealm } from "./components/identity/realm";
import { Cytomine } from "./components/kubernetes/cytomine";
import { assertNamespaceAvailable, stackOwner } from "./components/kubernetes/tenancy";
import { assertPluginsAvailable, pluginsFor } from "./components/plugins";
import { program } from "./components/program";

export = program(async () => {
    const { config, secrets } = loadConfig();
    assertPluginsAvailable(pluginsFor(config.target));
    const onCluster = config.target === "kubernetes";
    const render = config.renderDir !== "";

    // Tenants never share a namespace: checked against the live cluster before anything changes.
    const owner = stackOwner();
    if (onCluster && !render) {
        const { namespace } = config.kubernetes;
        await assertNamespaceAvailable(namespace, namespace === config.tenant ? "tenant" : "namespace", owner);
    }

    // Cytomine on Kubernetes: namespace, secrets, services, policies, route (and maybe Keycloak).
    const cluster = {
        providers: {
            // Rendering ignores the ambient KUBECONFIG (the provider refuses both at once).
            kubernetes: new k8s.Provider(
                "cluster",
                render ? { renderYamlToDirectory: config.renderDir, kubeconfig: "" } : {},
            ),
        },
    };
    const cytomine = onCluster
        ? new Cytomine(
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
              cluster,
          )
        : undefined;

    // Identity: the cytomine realm, the LS-AAI broker, and the Orthanc share clients, applied to the
    // external Keycloak or, once it serves, to the one in the namespace.
    const keycloakBase = keycloakBaseUrl(config.keycloak.origin, config.keycloak.basePath);
    const inNamespace = cytomine?.keycloak;
    const identity = {
        providers: {
            keycloak: keycloakProvider(
                "keycloak",
                config.keycloak,
                inNamespace?.adminPassword ?? requireSecret(secrets, "keycloakAdminPassword"),
                inNamespace?.ready,
            ),
        },
    };
    const protectRealms = !config.allowRealmReplacement;

    const cytomineRealm = new CytomineRealm(
        "cytomine",
        { realm: config.realm, publicUrl: config.publicUrl, localStack: config.localStack, protect: protectRealms },
        identity,
    );
    const restriction = config.lsaai.restrict
        ? { entitlements: config.lsaai.allowedEntitlements, subjects: config.lsaai.allowedSubjects }
        : undefined;
    admissionWarnings(config.localStack, restriction).forEach((w) => pulumi.log.warn(w));
    const lsaai = new LsAaiBroker(
        "lsaai",
        {
            realm: cytomineRealm.realmId,
            realmName: config.realm,
            keycloakBaseUrl: keycloakBase,
            alias: config.lsaai.alias,
            clientId: config.lsaai.clientId,
            clientSecret: secrets.lsaaiClientSecret,
            endpoints: config.lsaai.endpoints ?? LSAAI_ENDPOINTS,
            scopes: config.lsaai.scopes,
            restriction,
        },
        // AdminMapper grants core.ADMIN, which must exist first.
        { ...identity, dependsOn: [cytomineRealm] },
    );
    const orthanc = config.orthanc.enabled
        ? new OrthancShare(
              "orthanc",
              {
                  realm: config.orthanc.realm,
                  keycloakBaseUrl: keycloakBase,
                  redirectUris: [`${config.publicUrl}/*`],
                  localStack: config.localStack,
                  protect: protectRealms,
              },
              identity,
          )
        : undefined;

    return {
        cytomineUrl: config.publicUrl,
        namespace: cytomine?.namespace,
        /** How to read Cytomine's admin password from the tenant's Secret. */
        cytomineAdminCredentials: cytomine?.adminCredentials,
        /** In render mode: the Secret (name and keys) to provide to the cluster, e.g. as a SealedSecret. */
        ...(render ? { secretToProvide: cytomine?.secret } : {}),
        keycloakUrl: keycloakBase,
        lsaaiRedirectUri: lsaai.redirectUri,
        cytomineAdminUser: cytomineRealm.adminUsername,
        cytomineAdminPassword: cytomineRealm.adminPassword,
        orthancAuthService: orthanc
            ? pulumi.secret({
                  KEYCLOAK_URI: orthanc.keycloakUri,
                  KEYCLOAK_ADMIN_URI: orthanc.keycloakAdminUri,
                  KEYCLOAK_CLIENT_SECRET: orthanc.keycloakClientSecret,
                  apiKeys: orthanc.apiKeys,
                  passwords: orthanc.passwords,
              })
            : undefined,
    };
});
