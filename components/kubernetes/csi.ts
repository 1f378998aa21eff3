// The sdafs CSI driver (NBISweden/sdafs: deploy/csi-sdafs.yaml, attacher.yaml, storageclass.yaml),
// once per cluster, in its own namespace `sdafs-csi`: the only namespace where the policy pack admits
// privileged pods (a DaemonSet labelled app.kubernetes.io/part-of=sdafs-csi), with Pod Security
// `privileged` there only. Upstream installs it into kube-system; a namespace of its own keeps every
// other namespace at `restricted`/`baseline`.
//
// Installed by the one stack that sets datasets.installCsiDriver (decided per cluster, not per tenant:
// a tenant stack that merely uses sdafs finds the StorageClass at preview or stops with the fix).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { renamedFrom } from "../model/renames";
import { podSecurityLabels } from "./namespace";
import { OWNER_KEY } from "../model/tenancy";
import { DEFAULT_SDAFS_CSI_IMAGES, SDAFS_CSI_DRIVER, SDAFS_STORAGE_CLASS } from "../model/datasets";

export const CSI_NAMESPACE = "sdafs-csi";
export const CSI_LABELS = { "app.kubernetes.io/part-of": "sdafs-csi", "app.kubernetes.io/managed-by": "pulumi" };

export interface SdafsCsiDriverArgs {
    /** The stack that installs it (annotated on the StorageClass, checked by other stacks' previews). */
    owner: string;
    images?: Partial<typeof DEFAULT_SDAFS_CSI_IMAGES>;
    /** sdafs's archive (StorageClass parameter rootURL). */
    rootUrl: string;
    storageClass?: string;
}

const SOCKET_DIR = `/var/lib/kubelet/plugins/${SDAFS_CSI_DRIVER}`;

export class SdafsCsiDriver extends pulumi.ComponentResource {
    public readonly storageClass: pulumi.Output<string>;
    public readonly namespace: pulumi.Output<string>;

    constructor(name: string, args: SdafsCsiDriverArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cytomine:kubernetes:SdafsCsiDriver", name, {}, renamedFrom("cytomine:datasets:SdafsCsiDriver", opts));
        const images = { ...DEFAULT_SDAFS_CSI_IMAGES, ...args.images };
        const child = { parent: this };
        const ns = new k8s.core.v1.Namespace(
            `${name}-namespace`,
            {
                metadata: {
                    name: CSI_NAMESPACE,
                    labels: { ...CSI_LABELS, ...podSecurityLabels("privileged") },
                    annotations: { [OWNER_KEY]: args.owner },
                },
            },
            child,
        );
        const namespace = ns.metadata.name;
        const inNs = { ...child, dependsOn: [ns] };

        // The attacher and provisioner sidecars' account and rights (deploy/attacher.yaml).
        const account = new k8s.core.v1.ServiceAccount(
            `${name}-controller`,
            { metadata: { name: "csi-sdafs-controller", namespace, labels: CSI_LABELS } },
            inNs,
        );
        const role = new k8s.rbac.v1.ClusterRole(
            `${name}-controller`,
            {
                metadata: { name: "cytomine-fallback-sdafs-csi-controller", labels: CSI_LABELS },
                rules: [
                    { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list"] },
                    {
                        apiGroups: [""],
                        resources: ["events"],
                        verbs: ["get", "list", "watch", "update", "patch", "create"],
                    },
                    {
                        apiGroups: [""],
                        resources: ["persistentvolumes"],
                        verbs: ["get", "list", "watch", "update", "patch", "create", "delete"],
                    },
                    {
                        apiGroups: [""],
                        resources: ["persistentvolumeclaims"],
                        verbs: ["get", "list", "watch", "update", "patch"],
                    },
                    { apiGroups: ["storage.k8s.io"], resources: ["storageclasses"], verbs: ["get", "list", "watch"] },
                    { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch"] },
                    { apiGroups: ["storage.k8s.io"], resources: ["csinodes"], verbs: ["get", "list", "watch"] },
                    {
                        apiGroups: ["storage.k8s.io"],
                        resources: ["volumeattachments", "volumeattachments/status"],
                        verbs: ["get", "list", "watch", "update", "patch"],
                    },
                    {
                        apiGroups: ["coordination.k8s.io"],
                        resources: ["leases"],
                        verbs: ["get", "list", "watch", "update", "patch", "create"],
                    },
                ],
            },
            child,
        );
        new k8s.rbac.v1.ClusterRoleBinding(
            `${name}-controller`,
            {
                metadata: { name: "cytomine-fallback-sdafs-csi-controller", labels: CSI_LABELS },
                subjects: [{ kind: "ServiceAccount", name: account.metadata.name, namespace }],
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role.metadata.name },
            },
            child,
        );

        new k8s.storage.v1.CSIDriver(
            `${name}-driver`,
            {
                metadata: { name: SDAFS_CSI_DRIVER, labels: CSI_LABELS },
                spec: { attachRequired: true, podInfoOnMount: false, volumeLifecycleModes: ["Persistent"] },
            },
            child,
        );
        const sc = new k8s.storage.v1.StorageClass(
            `${name}-storage-class`,
            {
                metadata: {
                    name: args.storageClass ?? SDAFS_STORAGE_CLASS,
                    labels: CSI_LABELS,
                    annotations: { [OWNER_KEY]: args.owner },
                },
                provisioner: SDAFS_CSI_DRIVER,
                reclaimPolicy: "Delete",
                volumeBindingMode: "WaitForFirstConsumer",
                allowVolumeExpansion: false,
                parameters: {
                    // Each claim names the Secret with its token (deploy/storageclass.yaml).
                    "csi.storage.k8s.io/secret-namespace": "${pvc.namespace}",
                    "csi.storage.k8s.io/secret-name": "${pvc.annotations['sda.nbis.se/token-secret']}",
                    rootURL: args.rootUrl,
                },
            },
            child,
        );

        const hostDir = (volume: string, path: string, type: string) => ({ name: volume, hostPath: { path, type } });
        const limits = (memory: string, cpu = "100m") => ({
            requests: { cpu, memory },
            limits: { memory },
        });
        // The node plugin: privileged (it mounts FUSE into pods' directories, Bidirectional), root.
        const nodeLabels = {
            ...CSI_LABELS,
            "app.kubernetes.io/name": "csi-sdafs",
            "app.kubernetes.io/component": "node",
        };
        new k8s.apps.v1.DaemonSet(
            `${name}-node`,
            {
                metadata: { name: "csi-sdafs", namespace, labels: nodeLabels },
                spec: {
                    selector: { matchLabels: nodeLabels },
                    template: {
                        metadata: { labels: nodeLabels },
                        spec: {
                            automountServiceAccountToken: false,
                            securityContext: {
                                seccompProfile: { type: "RuntimeDefault" },
                                runAsUser: 0,
                                runAsGroup: 65535,
                            },
                            containers: [
                                {
                                    name: "csi-sdafs",
                                    image: images.plugin,
                                    args: [
                                        "--csi-address=$(CSI_ENDPOINT)",
                                        "--node-id=$(NODE_ID)",
                                        "--tokendir=/tokens",
                                        "--sdafslogdir=/log",
                                        "--sdafspath=/sdafs",
                                    ],
                                    env: [
                                        { name: "CSI_ENDPOINT", value: `unix://${SOCKET_DIR}/csi.sock` },
                                        { name: "NODE_ID", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                                        { name: "USER", value: "root" },
                                    ],
                                    securityContext: {
                                        privileged: true,
                                        allowPrivilegeEscalation: true,
                                        readOnlyRootFilesystem: true,
                                        capabilities: { drop: ["ALL"] },
                                    },
                                    resources: limits("8Gi", "500m"),
                                    volumeMounts: [
                                        { name: "plugin-dir", mountPath: SOCKET_DIR },
                                        { name: "registration-dir", mountPath: "/var/lib/kubelet/plugins_registry" },
                                        {
                                            name: "pods-mount-dir",
                                            mountPath: "/var/lib/kubelet/pods",
                                            mountPropagation: "Bidirectional",
                                        },
                                        { name: "fuse-device", mountPath: "/dev/fuse" },
                                        { name: "log-dir", mountPath: "/log" },
                                        { name: "token-dir", mountPath: "/tokens" },
                                    ],
                                },
                            ],
                            volumes: [
                                hostDir("registration-dir", "/var/lib/kubelet/plugins_registry/", "DirectoryOrCreate"),
                                hostDir("plugin-dir", SOCKET_DIR, "DirectoryOrCreate"),
                                hostDir("pods-mount-dir", "/var/lib/kubelet/pods", "Directory"),
                                hostDir("fuse-device", "/dev/fuse", "CharDevice"),
                                { name: "token-dir", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } },
                                { name: "log-dir", emptyDir: { sizeLimit: "1Gi" } },
                            ],
                        },
                    },
                },
            },
            { ...inNs, dependsOn: [ns, sc] },
        );
        // The attacher and provisioner sidecars, on every node beside the plugin's socket.
        const controllerLabels = {
            ...CSI_LABELS,
            "app.kubernetes.io/name": "csi-sdafs",
            "app.kubernetes.io/component": "controller",
        };
        const sidecar = (container: string, image: string) => ({
            name: container,
            image,
            args: ["--csi-address=$(ADDRESS)", "--v=4", "--leader-election"],
            env: [{ name: "ADDRESS", value: `${SOCKET_DIR}/csi.sock` }],
            securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ["ALL"] },
            },
            resources: limits("128Mi", "20m"),
            volumeMounts: [{ name: "socket-dir", mountPath: SOCKET_DIR }],
        });
        new k8s.apps.v1.DaemonSet(
            `${name}-controller`,
            {
                metadata: { name: "csi-sdafs-controller", namespace, labels: controllerLabels },
                spec: {
                    selector: { matchLabels: controllerLabels },
                    template: {
                        metadata: { labels: controllerLabels },
                        spec: {
                            serviceAccountName: account.metadata.name,
                            securityContext: { seccompProfile: { type: "RuntimeDefault" } },
                            containers: [
                                sidecar("csi-attacher", images.attacher),
                                sidecar("csi-provisioner", images.provisioner),
                            ],
                            volumes: [hostDir("socket-dir", SOCKET_DIR, "DirectoryOrCreate")],
                        },
                    },
                },
            },
            inNs,
        );
        this.storageClass = sc.metadata.name;
        this.namespace = namespace;
        this.registerOutputs({ storageClass: this.storageClass, namespace: this.namespace });
    }
}
