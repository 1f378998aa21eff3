// Cytomine Fallback: reads the validated stack config and wires the components together.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { loadConfig } from "./components/config";
import { LSAAI_ENDPOINTS } from "./components/identity/endpoints";
import { admissionWarnings, LsAaiBroker } from "./components/identity/lsaai";
import { keycloakBaseUrl } from "./components/identity/names";
import { OrthancShare } from "./components/identity/orthanc";
import { keycloakProvider } from "./components/identity/provider";
import { CytomineRealm } from "./components/identity/realm";
import { CytomineData } from "./components/kubernetes/data";
import { TenantNamespace } from "./components/kubernetes/namespace";
import { assertPluginsAvailable, pluginsFor } from "./components/plugins";

const { config, secrets } = loadConfig();
assertPluginsAvailable(pluginsFor(config.target));

// Identity: the cytomine realm, the LS-AAI broker, and the Orthanc share clients.
const keycloakBase = keycloakBaseUrl(config.keycloak.origin, config.keycloak.basePath);
const identity = {
    providers: { keycloak: keycloakProvider("keycloak", config.keycloak, secrets.keycloakAdminPassword) },
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

// Cytomine on Kubernetes: the tenant's namespace and the data tier.
const cluster = {
    providers: { kubernetes: new k8s.Provider("cluster", { renderYamlToDirectory: config.renderDir || undefined }) },
};
const tenant = new TenantNamespace(
    config.tenant,
    { namespace: config.tenant, retainOnDelete: !config.allowVolumeDeletion },
    cluster,
);
const data = new CytomineData(
    "data",
    { namespace: tenant.name, tenant: config.tenant, protectVolumes: !config.allowVolumeDeletion },
    cluster,
);

export const cytomineUrl = config.publicUrl;
export const namespace = tenant.name;
export const databaseHosts = data.hosts;
export const keycloakUrl = keycloakBase;
export const lsaaiRedirectUri = lsaai.redirectUri;
export const cytomineAdminUser = cytomineRealm.adminUsername;
export const cytomineAdminPassword = cytomineRealm.adminPassword;
export const orthancAuthService = orthanc
    ? pulumi.secret({
          KEYCLOAK_URI: orthanc.keycloakUri,
          KEYCLOAK_ADMIN_URI: orthanc.keycloakAdminUri,
          KEYCLOAK_CLIENT_SECRET: orthanc.keycloakClientSecret,
          apiKeys: orthanc.apiKeys,
          passwords: orthanc.passwords,
      })
    : undefined;
