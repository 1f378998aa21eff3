// Type tokens of the resources the pack checks. The pack does not load the provider SDKs at run
// time (they live in the project's node_modules, not the pack's, and @pulumi/aws alone is large):
// policies/test/pack.test.ts checks every token against the SDK class's own `__pulumiType` / `isInstance`.
export const TYPES = {
    // Keycloak (@pulumi/keycloak)
    realm: "keycloak:index/realm:Realm",
    oidcIdentityProvider: "keycloak:oidc/identityProvider:IdentityProvider",
    hardcodedRoleMapper: "keycloak:index/hardcodedRoleIdentityMapper:HardcodedRoleIdentityMapper",
    customIdpMapping: "keycloak:index/customIdentityProviderMapping:CustomIdentityProviderMapping",
    openidClient: "keycloak:openid/client:Client",
    role: "keycloak:index/role:Role",
    user: "keycloak:index/user:User",
    userAttributeMapper: "keycloak:openid/userAttributeProtocolMapper:UserAttributeProtocolMapper",
    groupMembershipMapper: "keycloak:openid/groupMembershipProtocolMapper:GroupMembershipProtocolMapper",
    flow: "keycloak:authentication/flow:Flow",
    subflow: "keycloak:authentication/subflow:Subflow",
    // Kubernetes (@pulumi/kubernetes)
    namespace: "kubernetes:core/v1:Namespace",
    pod: "kubernetes:core/v1:Pod",
    secret: "kubernetes:core/v1:Secret",
    configMap: "kubernetes:core/v1:ConfigMap",
    persistentVolumeClaim: "kubernetes:core/v1:PersistentVolumeClaim",
    networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
    resourceQuota: "kubernetes:core/v1:ResourceQuota",
    admissionPolicy: "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
    admissionPolicyBinding: "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
    deployment: "kubernetes:apps/v1:Deployment",
    statefulSet: "kubernetes:apps/v1:StatefulSet",
    daemonSet: "kubernetes:apps/v1:DaemonSet",
    replicaSet: "kubernetes:apps/v1:ReplicaSet",
    job: "kubernetes:batch/v1:Job",
    cronJob: "kubernetes:batch/v1:CronJob",
    // AWS (@pulumi/aws)
    ec2Instance: "aws:ec2/instance:Instance",
    ec2LaunchTemplate: "aws:ec2/launchTemplate:LaunchTemplate",
    ec2SecurityGroup: "aws:ec2/securityGroup:SecurityGroup",
    ec2SecurityGroupRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
    vpcIngressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    ebsVolume: "aws:ebs/volume:Volume",
    // Command (@pulumi/command)
    remoteCommand: "command:remote:Command",
    localCommand: "command:local:Command",
    // Random (@pulumi/random)
    randomPassword: "random:index/randomPassword:RandomPassword",
} as const;

export type TypeKey = keyof typeof TYPES;

/** Workload kinds and where their pod template sits. */
export const WORKLOAD_TYPES: ReadonlySet<string> = new Set([
    TYPES.pod,
    TYPES.deployment,
    TYPES.statefulSet,
    TYPES.daemonSet,
    TYPES.replicaSet,
    TYPES.job,
    TYPES.cronJob,
]);

/** The Kubernetes kind of a workload type token, e.g. DaemonSet. */
export function kindOf(type: string): string {
    return type.slice(type.lastIndexOf(":") + 1);
}
