// The pack's policies, in the order the README's table lists them. Each validate function is plain
// so tests can call it with the arguments the engine would pass (test/engine.ts).
import { Policies } from "@pulumi/policy";
import { awsEncryptedVolumes, awsImdsV2, awsNoPublicDatabasePorts, awsNoPublicSsh } from "./aws";
import {
    keycloakExplicitNames,
    keycloakRealmName,
    keycloakSslRequired,
    lsaaiAdminMapper,
    lsaaiIdentityProvider,
    lsaaiLoginRestriction,
} from "./identity";
import {
    containerSecurity,
    defaultDenyNetworkPolicy,
    namespacePodSecurity,
    pinnedImages,
    privilegedWorkloads,
    taskNamespaces,
} from "./kubernetes";
import { noDefaultPasswords, noPlaintextSecrets } from "./secrets";
import { statefulResourcesProtected } from "./stateful";
import { vmComposePrivileges } from "./vm";

export { keycloakNamingInputs } from "./identity";
export { podSpecOf } from "./workloads";
export {
    awsEncryptedVolumes,
    awsImdsV2,
    awsNoPublicDatabasePorts,
    awsNoPublicSsh,
    containerSecurity,
    defaultDenyNetworkPolicy,
    keycloakExplicitNames,
    keycloakRealmName,
    keycloakSslRequired,
    lsaaiAdminMapper,
    lsaaiIdentityProvider,
    lsaaiLoginRestriction,
    namespacePodSecurity,
    noDefaultPasswords,
    noPlaintextSecrets,
    pinnedImages,
    privilegedWorkloads,
    statefulResourcesProtected,
    taskNamespaces,
    vmComposePrivileges,
};

export const policies: Policies = [
    // Identity
    lsaaiIdentityProvider,
    lsaaiAdminMapper,
    lsaaiLoginRestriction,
    keycloakExplicitNames,
    keycloakRealmName,
    keycloakSslRequired,
    // Secrets
    noPlaintextSecrets,
    noDefaultPasswords,
    // Kubernetes
    pinnedImages,
    namespacePodSecurity,
    containerSecurity,
    privilegedWorkloads,
    defaultDenyNetworkPolicy,
    taskNamespaces,
    // VM
    vmComposePrivileges,
    // AWS
    awsImdsV2,
    awsEncryptedVolumes,
    awsNoPublicSsh,
    awsNoPublicDatabasePorts,
    // State
    statefulResourcesProtected,
];
