// The provider SDK classes behind every type token the pack checks, and the tokens taken from them
// (the pack itself does not load the SDKs). The SDKs resolve from the project's node_modules, one
// directory up; deep imports load (and type-check) only the classes used.
import * as assert from "node:assert/strict";
import { Instance } from "@pulumi/aws/ec2/instance";
import { LaunchTemplate } from "@pulumi/aws/ec2/launchTemplate";
import { SecurityGroup } from "@pulumi/aws/ec2/securityGroup";
import { SecurityGroupRule } from "@pulumi/aws/ec2/securityGroupRule";
import { Volume } from "@pulumi/aws/ebs/volume";
import { SecurityGroupIngressRule } from "@pulumi/aws/vpc/securityGroupIngressRule";
import { Command as LocalCommand } from "@pulumi/command/local/command";
import { Command as RemoteCommand } from "@pulumi/command/remote/command";
import { Flow } from "@pulumi/keycloak/authentication/flow";
import { Subflow } from "@pulumi/keycloak/authentication/subflow";
import { CustomIdentityProviderMapping } from "@pulumi/keycloak/customIdentityProviderMapping";
import { HardcodedRoleIdentityMapper } from "@pulumi/keycloak/hardcodedRoleIdentityMapper";
import { IdentityProvider } from "@pulumi/keycloak/oidc/identityProvider";
import { Client } from "@pulumi/keycloak/openid/client";
import { GroupMembershipProtocolMapper } from "@pulumi/keycloak/openid/groupMembershipProtocolMapper";
import { UserAttributeProtocolMapper } from "@pulumi/keycloak/openid/userAttributeProtocolMapper";
import { Realm } from "@pulumi/keycloak/realm";
import { Role } from "@pulumi/keycloak/role";
import { User } from "@pulumi/keycloak/user";
import { DaemonSet } from "@pulumi/kubernetes/apps/v1/daemonSet";
import { Deployment } from "@pulumi/kubernetes/apps/v1/deployment";
import { ReplicaSet } from "@pulumi/kubernetes/apps/v1/replicaSet";
import { StatefulSet } from "@pulumi/kubernetes/apps/v1/statefulSet";
import { CronJob } from "@pulumi/kubernetes/batch/v1/cronJob";
import { Job } from "@pulumi/kubernetes/batch/v1/job";
import { ConfigMap } from "@pulumi/kubernetes/core/v1/configMap";
import { Namespace } from "@pulumi/kubernetes/core/v1/namespace";
import { PersistentVolumeClaim } from "@pulumi/kubernetes/core/v1/persistentVolumeClaim";
import { Pod } from "@pulumi/kubernetes/core/v1/pod";
import { Secret } from "@pulumi/kubernetes/core/v1/secret";
import { NetworkPolicy } from "@pulumi/kubernetes/networking/v1/networkPolicy";
import { ResourceQuota } from "@pulumi/kubernetes/core/v1/resourceQuota";
import { ValidatingAdmissionPolicy } from "@pulumi/kubernetes/admissionregistration/v1/validatingAdmissionPolicy";
import { ValidatingAdmissionPolicyBinding } from "@pulumi/kubernetes/admissionregistration/v1/validatingAdmissionPolicyBinding";
import { RandomPassword } from "@pulumi/random/randomPassword";
import type { TypeKey } from "../types";

export interface ResourceClass {
    isInstance(obj: unknown): boolean;
}

export const SDK: Record<TypeKey, ResourceClass> = {
    realm: Realm,
    oidcIdentityProvider: IdentityProvider,
    hardcodedRoleMapper: HardcodedRoleIdentityMapper,
    customIdpMapping: CustomIdentityProviderMapping,
    openidClient: Client,
    role: Role,
    user: User,
    userAttributeMapper: UserAttributeProtocolMapper,
    groupMembershipMapper: GroupMembershipProtocolMapper,
    flow: Flow,
    subflow: Subflow,
    namespace: Namespace,
    pod: Pod,
    secret: Secret,
    configMap: ConfigMap,
    persistentVolumeClaim: PersistentVolumeClaim,
    networkPolicy: NetworkPolicy,
    resourceQuota: ResourceQuota,
    admissionPolicy: ValidatingAdmissionPolicy,
    admissionPolicyBinding: ValidatingAdmissionPolicyBinding,
    deployment: Deployment,
    statefulSet: StatefulSet,
    daemonSet: DaemonSet,
    replicaSet: ReplicaSet,
    job: Job,
    cronJob: CronJob,
    ec2Instance: Instance,
    ec2LaunchTemplate: LaunchTemplate,
    ec2SecurityGroup: SecurityGroup,
    ec2SecurityGroupRule: SecurityGroupRule,
    vpcIngressRule: SecurityGroupIngressRule,
    ebsVolume: Volume,
    remoteCommand: RemoteCommand,
    localCommand: LocalCommand,
    randomPassword: RandomPassword,
};

/** The type token a resource class registers with (its `__pulumiType` static), checked with isInstance. */
export function tokenOf(cls: ResourceClass): string {
    const token = (cls as unknown as { __pulumiType?: unknown }).__pulumiType;
    assert.equal(typeof token, "string");
    assert.ok(cls.isInstance({ __pulumiType: token }));
    return token as string;
}

/** Type tokens for test resources, from the SDK classes (never typed by hand). */
export const T = Object.fromEntries(Object.entries(SDK).map(([key, cls]) => [key, tokenOf(cls)])) as Record<
    TypeKey,
    string
>;
