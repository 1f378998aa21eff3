// The local cluster's real node: containerd, runc and the kubelet run the pods scheduled to it, with
// a bridge of its own, kube-proxy (nftables) for Services, CoreDNS for cluster DNS and kube-router's
// firewall for NetworkPolicies. It joins the KWOK cluster (kube.ts) tainted, so only tenants that ask
// for it (config key `realNode`) land there; every other pod stays on the KWOK nodes.
//
// Everything it changes on the machine is its own and goes at env:down: the bridge (and with it the
// pods' veths and routes), the nftables table of kube-proxy, kube-router's iptables chains and
// ipsets, the kubelet's cgroups and iptables canaries, the sysctls the kubelet sets (restored to the
// values found before its first start) and the folders it creates outside the state folder.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { EnvError, LOOPBACK, livePid, startDetached, stopPidFile, tail, waitUntil } from "./proc";
import { EnvSettings } from "./settings";
import { BASE_TAG } from "./standins";

const run = promisify(execFile);

/** The taint every pod on the real node tolerates, and the label tenants select it by. */
export const REAL_NODE_TAINT = { key: "cytomine.dev/real-node", value: "true", effect: "NoSchedule" } as const;
export const REAL_NODE_LABEL = { key: "cytomine.dev/real-node", value: "true" } as const;

/** The images the node builds from the toolchain's binaries (nothing can be pulled here). */
export const PAUSE_IMAGE = "cytomine-env/pause:node";
export const COREDNS_IMAGE = "cytomine-env/coredns:node";
/** The stand-ins' Debian base (standins.ts): the provisioner's helper pod needs a shell and mkdir. */
const HELPER_IMAGE = BASE_TAG;

const CONTAINERD = "/usr/bin/containerd";
const CTR = "/usr/bin/ctr";
const SOCAT = "/usr/bin/socat";
const CNI_BIN = "/usr/lib/cni";
const CNI_PLUGINS = ["bridge", "host-local", "loopback"] as const;

/**
 * Sysctls the kubelet sets at start (pkg/kubelet/cm/container_manager_linux.go, setupKernelTunables)
 * and kube-proxy may set; their values before the node's first start are restored at env:down.
 */
export const TOUCHED_SYSCTLS = [
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/netfilter/nf_conntrack_max",
] as const;

/** Host folders the node's programs create outside the state folder (removed at env:down if they did). */
export const HOST_FOLDERS = ["/var/log/containers", "/var/lib/cni", "/run/containerd", "/var/run/netns"] as const;

/** The node's processes, in start order. */
export const NODE_PROCESSES = [
    "containerd",
    "kubelet",
    "kube-proxy",
    "kube-router",
    "local-path-provisioner",
    "api-relay",
    "s3-relay",
] as const;

/** The local S3 server as the real node's pods reach it (its relay on the bridge's address). */
export const nodeS3Endpoint = (s: EnvSettings) => `http://${s.node.address}:${s.s3.port}`;

/** The StorageClass of volumes on the real node (directories under its state folder). */
export const REAL_NODE_STORAGE_CLASS = "real-node";
const PROVISIONER_NAMESPACE = "local-path-storage";
type NodeProcess = (typeof NODE_PROCESSES)[number];

export function nodeFiles(s: EnvSettings) {
    const dir = path.join(s.stateDir, "node");
    const file = (name: string) => path.join(dir, name);
    return {
        dir,
        containerdRoot: file("containerd/root"),
        containerdState: file("containerd/state"),
        containerdConfig: file("containerd/config.toml"),
        socket: file("containerd/containerd.sock"),
        /** Per-registry hosts.toml files (trustRegistry). */
        registryHosts: file("containerd/certs.d"),
        cniConf: file("cni/net.d"),
        ipam: file("cni/ipam"),
        kubeletRoot: file("kubelet"),
        kubeletConfig: file("kubelet-config.yaml"),
        kubeletKubeconfig: file("kubelet.kubeconfig"),
        kubeletKey: file("pki/kubelet.key"),
        kubeletCert: file("pki/kubelet.crt"),
        podLogs: file("pods"),
        resolvConf: file("resolv.conf"),
        proxyConfig: file("kube-proxy-config.yaml"),
        corefile: file("Corefile"),
        volumes: file("volumes"),
        provisionerConfig: file("local-path-config.json"),
        images: file("images"),
        imported: file("imported.json"),
        /** The machine's state before the node's first start: sysctls and which host folders existed. */
        before: file("machine-before.json"),
        pid: (p: NodeProcess) => file(`${p}.pid`),
        log: (p: NodeProcess) => file(`${p}.log`),
    };
}

// ---- configuration, as plain data ------------------------------------------------------------------

/**
 * containerd 1.6's configuration (version 2): its own root, state and socket, the CRI plugin with
 * the locally built sandbox image, runc with cgroupfs (the machine is on cgroup v1), and the CNI
 * configuration in the state folder. Root here lacks CAP_SYS_RESOURCE, so runc cannot raise a
 * container's oom_score_adj ("can't get final child's PID from pipe: EOF"); restrict_oom_score_adj
 * keeps it at or above containerd's own.
 * https://github.com/containerd/containerd/blob/v1.6.20/docs/cri/config.md
 */
export function containerdConfig(s: EnvSettings): string {
    const f = nodeFiles(s);
    const cri = 'plugins."io.containerd.grpc.v1.cri"';
    return [
        "version = 2",
        `root = ${JSON.stringify(f.containerdRoot)}`,
        `state = ${JSON.stringify(f.containerdState)}`,
        "[grpc]",
        `  address = ${JSON.stringify(f.socket)}`,
        '[plugins."io.containerd.internal.v1.opt"]',
        `  path = ${JSON.stringify(path.join(f.containerdRoot, "opt"))}`,
        `[${cri}]`,
        `  sandbox_image = ${JSON.stringify(PAUSE_IMAGE)}`,
        "  restrict_oom_score_adj = true",
        `[${cri}.containerd]`,
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
        `[${cri}.containerd.runtimes.runc]`,
        '  runtime_type = "io.containerd.runc.v2"',
        `[${cri}.containerd.runtimes.runc.options]`,
        "  SystemdCgroup = false",
        `[${cri}.cni]`,
        `  bin_dir = ${JSON.stringify(CNI_BIN)}`,
        `  conf_dir = ${JSON.stringify(f.cniConf)}`,
        // Read at every pull, so a registry trusted after the start counts (trustRegistry).
        `[${cri}.registry]`,
        `  config_path = ${JSON.stringify(f.registryHosts)}`,
        "",
    ].join("\n");
}

/**
 * Lets the node's containerd pull from ADDRESS (host:port) over plain HTTP: a tenant's task-image
 * registry (output `taskRegistry`), which serves no TLS, as upstream's chart's registry does not
 * (helm/charts/cytomine/templates/app-engine/registry.yaml). The same file an operator puts on each
 * node of a real cluster (docs/operating.md). https://github.com/containerd/containerd/blob/v1.6.20/docs/hosts.md
 */
export function registryHostsToml(address: string): string {
    return [
        `server = "http://${address}"`,
        "",
        `[host."http://${address}"]`,
        '  capabilities = ["pull", "resolve"]',
        "",
    ].join("\n");
}

export function trustRegistry(s: EnvSettings, address: string): void {
    if (!/^[0-9a-zA-Z.-]+:[0-9]+$/.test(address))
        throw new EnvError(`not a registry address: ${address}`, "give host:port");
    const dir = path.join(nodeFiles(s).registryHosts, address);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "hosts.toml"), registryHostsToml(address));
}

/**
 * The pods' network: the environment's bridge, addresses from the node's /24, a default route via
 * the bridge's address. Not `isGateway`: that turns on net.ipv4.ip_forward machine-wide; the
 * environment forwards on this bridge alone (nodeUp). hairpinMode lets a pod reach itself through
 * its Service. https://www.cni.dev/plugins/current/main/bridge/
 */
export function cniConfig(s: EnvSettings): object {
    return {
        cniVersion: "1.0.0",
        name: "cytomine-node",
        plugins: [
            {
                type: "bridge",
                bridge: s.node.bridge,
                isGateway: false,
                ipMasq: false,
                hairpinMode: true,
                ipam: {
                    type: "host-local",
                    ranges: [[{ subnet: s.node.subnet, gateway: s.node.address }]],
                    routes: [{ dst: "0.0.0.0/0", gw: s.node.address }],
                    dataDir: nodeFiles(s).ipam,
                },
            },
        ],
    };
}

/**
 * The kubelet's configuration (kubelet.config.k8s.io/v1beta1, Kubernetes 1.36). Serving on the
 * node's address only, with its own authentication and authorization on (client certificates of the
 * cluster's CA, webhook for bearer tokens); cgroupfs and failCgroupV1=false because the machine is on
 * cgroup v1; oomScoreAdj 0 (see containerdConfig); image garbage collection off, since no image can
 * be pulled back; the real-node taint at registration.
 */
export function kubeletConfig(s: EnvSettings, caFile: string): object {
    const f = nodeFiles(s);
    return {
        apiVersion: "kubelet.config.k8s.io/v1beta1",
        kind: "KubeletConfiguration",
        address: s.node.address,
        port: 10250,
        readOnlyPort: 0,
        healthzBindAddress: s.node.address,
        healthzPort: 10248,
        authentication: {
            anonymous: { enabled: false },
            webhook: { enabled: true },
            x509: { clientCAFile: caFile },
        },
        authorization: { mode: "Webhook" },
        cgroupDriver: "cgroupfs",
        failCgroupV1: false,
        oomScoreAdj: 0,
        containerRuntimeEndpoint: `unix://${f.socket}`,
        clusterDNS: [s.node.dnsServiceIp],
        clusterDomain: "cluster.local",
        resolvConf: f.resolvConf,
        podLogsDir: f.podLogs,
        registerWithTaints: [REAL_NODE_TAINT],
        failSwapOn: false,
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        evictionHard: { "memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%" },
        maxPods: 40,
        serializeImagePulls: false,
    };
}

/**
 * kube-proxy in nftables mode, listening on the node's address only; conntrack values 0 leave the
 * machine's own settings alone. https://kubernetes.io/docs/reference/config-api/kube-proxy-config.v1alpha1/
 */
export function kubeProxyConfig(s: EnvSettings, kubeconfig: string): object {
    return {
        apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
        kind: "KubeProxyConfiguration",
        mode: "nftables",
        clientConnection: { kubeconfig },
        hostnameOverride: s.node.name,
        clusterCIDR: s.node.subnet,
        bindAddress: s.node.address,
        healthzBindAddress: `${s.node.address}:10256`,
        metricsBindAddress: `${s.node.address}:10249`,
        nodePortAddresses: [`${s.node.address}/32`],
        conntrack: {
            maxPerCore: 0,
            min: 0,
            tcpEstablishedTimeout: "0s",
            tcpCloseWaitTimeout: "0s",
            udpTimeout: "0s",
            udpStreamTimeout: "0s",
        },
    };
}

/** kube-router with only its NetworkPolicy firewall; routing, its proxy and its CNI stay off. */
export function kubeRouterArgs(s: EnvSettings, kubeconfig: string): string[] {
    return [
        `--kubeconfig=${kubeconfig}`,
        `--hostname-override=${s.node.name}`,
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--enable-cni=false",
        "--enable-ipv4=true",
        "--enable-ipv6=false",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--metrics-port=0",
        "--health-port=0",
        "--v=1",
    ];
}

/**
 * The API server as pods reach it: the node's address, relayed to the loopback port the API server
 * listens on (as a cluster's API endpoint is reachable from its pods). It is the `kubernetes` Service's
 * endpoint too (the API server advertises it: localenv/kube.ts), so in-cluster clients reach it
 * through the Service. Its certificate names "kubernetes", not this address, so clients set that
 * server name.
 */
export const apiRelayPort = (s: EnvSettings) => s.kube.port;

/**
 * CoreDNS for cluster.local, as a pod on the real node labelled k8s-app=kube-dns (so tenants'
 * NetworkPolicies let their pods reach it, on port 53 as theirs say); names outside the cluster are
 * not forwarded (nothing outside resolves here).
 */
export function corefile(): string {
    return [
        ".:53 {",
        "    errors",
        "    ready :8181",
        "    kubernetes cluster.local in-addr.arpa {",
        "        kubeconfig /etc/coredns/kubeconfig",
        "        pods insecure",
        "        fallthrough in-addr.arpa",
        "    }",
        "    cache 5",
        "}",
        "",
    ].join("\n");
}

/** CoreDNS's kubeconfig: the relay, the pod's own service-account token and the cluster's CA. */
export function coreDnsKubeconfig(s: EnvSettings): object {
    const sa = "/var/run/secrets/kubernetes.io/serviceaccount";
    return {
        apiVersion: "v1",
        kind: "Config",
        clusters: [
            {
                name: "local",
                cluster: {
                    server: `https://${s.node.address}:${apiRelayPort(s)}`,
                    "tls-server-name": "kubernetes",
                    "certificate-authority": `${sa}/ca.crt`,
                },
            },
        ],
        users: [{ name: "coredns", user: { tokenFile: `${sa}/token` } }],
        contexts: [{ name: "coredns", context: { cluster: "local", user: "coredns" } }],
        "current-context": "coredns",
    };
}

/** The cluster objects of cluster DNS: ServiceAccount, RBAC, ConfigMap, Deployment, Service. */
export function clusterDnsManifests(s: EnvSettings): object[] {
    const ns = "kube-system";
    const labels = { "k8s-app": "kube-dns" };
    return [
        { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "coredns", namespace: ns } },
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRole",
            metadata: { name: "system:coredns" },
            rules: [
                {
                    apiGroups: [""],
                    resources: ["endpoints", "services", "pods", "namespaces"],
                    verbs: ["list", "watch"],
                },
                { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
            ],
        },
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: { name: "system:coredns" },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:coredns" },
            subjects: [{ kind: "ServiceAccount", name: "coredns", namespace: ns }],
        },
        {
            apiVersion: "v1",
            kind: "ConfigMap",
            metadata: { name: "coredns", namespace: ns },
            data: { Corefile: corefile(), kubeconfig: stringify(coreDnsKubeconfig(s)) },
        },
        {
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: "coredns", namespace: ns, labels },
            spec: {
                replicas: 1,
                selector: { matchLabels: labels },
                template: {
                    metadata: { labels },
                    spec: {
                        serviceAccountName: "coredns",
                        dnsPolicy: "Default",
                        nodeSelector: { [REAL_NODE_LABEL.key]: REAL_NODE_LABEL.value },
                        tolerations: [{ ...REAL_NODE_TAINT, operator: "Equal" }],
                        // Port 53 without privileges: a safe, namespaced sysctl of the pod's own network.
                        securityContext: {
                            runAsNonRoot: true,
                            runAsUser: 65535,
                            sysctls: [{ name: "net.ipv4.ip_unprivileged_port_start", value: "53" }],
                            seccompProfile: { type: "RuntimeDefault" },
                        },
                        containers: [
                            {
                                name: "coredns",
                                image: COREDNS_IMAGE,
                                imagePullPolicy: "Never",
                                args: ["-conf", "/etc/coredns/Corefile"],
                                ports: [
                                    { name: "dns", containerPort: 53, protocol: "UDP" },
                                    { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
                                ],
                                readinessProbe: { httpGet: { path: "/ready", port: 8181 } },
                                securityContext: {
                                    allowPrivilegeEscalation: false,
                                    capabilities: { drop: ["ALL"] },
                                    readOnlyRootFilesystem: true,
                                },
                                volumeMounts: [{ name: "config", mountPath: "/etc/coredns", readOnly: true }],
                            },
                        ],
                        volumes: [{ name: "config", configMap: { name: "coredns" } }],
                    },
                },
            },
        },
        {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: "kube-dns", namespace: ns, labels },
            spec: {
                clusterIP: s.node.dnsServiceIp,
                selector: labels,
                ports: [
                    { name: "dns", port: 53, protocol: "UDP" },
                    { name: "dns-tcp", port: 53, protocol: "TCP" },
                ],
            },
        },
    ];
}

/**
 * rancher/local-path-provisioner's configuration (deploy/local-path-storage.yaml at v0.0.30): volumes
 * are folders under the node's state folder, made (mode 0777, for any pod's user) and removed by a
 * helper pod of the Debian base image, which tolerates the real node's taint.
 */
export function localPathConfig(s: EnvSettings): { config: object; manifests: object[] } {
    const config = { nodePathMap: [{ node: s.node.name, paths: [nodeFiles(s).volumes] }] };
    const helperPod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "helper-pod" },
        spec: {
            tolerations: [{ ...REAL_NODE_TAINT, operator: "Equal" }],
            containers: [{ name: "helper-pod", image: HELPER_IMAGE, imagePullPolicy: "Never" }],
        },
    };
    const ns = PROVISIONER_NAMESPACE;
    return {
        config,
        manifests: [
            { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
            { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "local-path-provisioner", namespace: ns } },
            {
                apiVersion: "v1",
                kind: "ConfigMap",
                metadata: { name: "local-path-config", namespace: ns },
                data: {
                    "config.json": JSON.stringify(config),
                    setup: '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n',
                    teardown: '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n',
                    "helperPod.yaml": stringify(helperPod),
                },
            },
            {
                apiVersion: "storage.k8s.io/v1",
                kind: "StorageClass",
                metadata: { name: REAL_NODE_STORAGE_CLASS },
                provisioner: "rancher.io/local-path",
                // The folder is made on the node the first pod is scheduled to: the real node.
                volumeBindingMode: "WaitForFirstConsumer",
                reclaimPolicy: "Delete",
            },
        ],
    };
}

// ---- machine state -----------------------------------------------------------------------------

function readSysctl(key: string): string | undefined {
    try {
        return fs.readFileSync(`/proc/sys/${key}`, "utf8").trim();
    } catch {
        return undefined;
    }
}

interface MachineBefore {
    sysctls: Record<string, string>;
    folders: string[];
}

/** Records the machine's state once, before anything of the node touches it. */
function recordMachineBefore(s: EnvSettings): MachineBefore {
    const f = nodeFiles(s);
    if (fs.existsSync(f.before)) return JSON.parse(fs.readFileSync(f.before, "utf8")) as MachineBefore;
    const before: MachineBefore = {
        sysctls: Object.fromEntries(
            TOUCHED_SYSCTLS.flatMap((k) => {
                const v = readSysctl(k);
                return v === undefined ? [] : [[k, v]];
            }),
        ),
        folders: HOST_FOLDERS.filter((d) => fs.existsSync(d)),
    };
    fs.writeFileSync(f.before, JSON.stringify(before, null, 2));
    return before;
}

async function sh(cmd: string, args: string[], timeout = 60_000): Promise<string> {
    return (await run(cmd, args, { timeout, maxBuffer: 64 * 1024 * 1024 })).stdout;
}

/** The routes that already cover the node's subnet (another bridge, a VPN, a Docker network). */
async function routesOverlapping(s: EnvSettings): Promise<string[]> {
    const out = await sh("ip", ["-4", "route", "show", "root", s.node.subnet]).catch(() => "");
    const within = await sh("ip", ["-4", "route", "show", "match", s.node.address]).catch(() => "");
    const lines = [...out.split("\n"), ...within.split("\n")].map((l) => l.trim());
    // "root" and "match" both list a route equal to the subnet: once is enough.
    return [...new Set(lines)].filter((l) => l && !l.startsWith("default") && !l.includes(`dev ${s.node.bridge}`));
}

/** The fix for a taken subnet: another checkout's node (a bridge named as ours are) goes with its env:down. */
export function subnetTakenFix(taken: string[]): string {
    const choose = "choose another with CYTOMINE_ENV_NODE_SUBNET=10.N.M.0/24 (outside 10.0.x.x and 10.200-249.x.x)";
    return taken.some((l) => / dev cytnode[0-9a-f]{8}( |$)/.test(l))
        ? `that is another checkout's real node: run 'npm run env:down' in that checkout, or ${choose}`
        : choose;
}

/** Refuses a subnet the machine already routes elsewhere (before the bridge exists). */
async function requireFreeSubnet(s: EnvSettings): Promise<void> {
    if (fs.existsSync(`/sys/class/net/${s.node.bridge}`)) return;
    const taken = await routesOverlapping(s);
    if (taken.length > 0) {
        throw new EnvError(
            `the real node's pod subnet ${s.node.subnet} is already routed on this machine: ${taken.join("; ")}`,
            subnetTakenFix(taken),
        );
    }
}

async function ensureBridge(s: EnvSettings): Promise<void> {
    const br = s.node.bridge;
    if (!fs.existsSync(`/sys/class/net/${br}`)) await sh("ip", ["link", "add", "name", br, "type", "bridge"]);
    await sh("ip", ["addr", "replace", `${s.node.address}/24`, "dev", br]);
    await sh("ip", ["link", "set", br, "up"]);
    // Forwarding on this bridge alone (Service traffic is DNATed back onto it); the interface's
    // setting goes with the interface at env:down, and net.ipv4.ip_forward stays as it was.
    fs.writeFileSync(`/proc/sys/net/ipv4/conf/${br}/forwarding`, "1");
}

/** The parts the node needs that are not on the machine, each with its fix. */
export function missingParts(s: EnvSettings): { part: string; fix: string }[] {
    const setup = "run 'npm run setup' (scripts/toolchain.sh env)";
    const need: [string, string, string][] = [
        [CONTAINERD, "containerd", "apt-get install containerd (setup installs it with docker.io)"],
        ["/usr/sbin/runc", "runc", "apt-get install runc"],
        [CTR, "ctr", "apt-get install containerd"],
        ...CNI_PLUGINS.map((p): [string, string, string] => [
            path.join(CNI_BIN, p),
            `the CNI plugin ${p}`,
            "apt-get install containernetworking-plugins",
        ]),
        ["/usr/sbin/nft", "nft", "apt-get install nftables"],
        ["/usr/sbin/ipset", "ipset", "apt-get install ipset"],
        ["/usr/sbin/conntrack", "conntrack", "apt-get install conntrack"],
        [SOCAT, "socat", "apt-get install socat"],
        [path.join(s.node.binDir, "kubelet"), "kubelet", setup],
        [path.join(s.node.binDir, "kube-proxy"), "kube-proxy", setup],
        [path.join(s.node.binDir, "pause"), "the pause program", setup],
        [path.join(s.node.coreDnsBinDir, "coredns"), "CoreDNS", setup],
        [path.join(s.node.kubeRouterBinDir, "kube-router"), "kube-router", setup],
        [path.join(s.node.localPathBinDir, "local-path-provisioner"), "local-path-provisioner", setup],
    ];
    return need
        .filter(([file]) => !fs.existsSync(file))
        .map(([file, part, fix]) => ({ part: `${part} (${file})`, fix }));
}

// ---- certificates and kubeconfigs --------------------------------------------------------------

/**
 * The kubelet's client certificate: system:node:<name> in system:nodes, signed by the cluster's CA,
 * so the Node authorizer and NodeRestriction treat it as that node.
 */
async function ensureKubeletCredentials(s: EnvSettings, pki: string, server: string): Promise<void> {
    const f = nodeFiles(s);
    fs.mkdirSync(path.dirname(f.kubeletKey), { recursive: true });
    if (!fs.existsSync(f.kubeletCert)) {
        const csr = `${f.kubeletKey}.csr`;
        await sh("openssl", ["genrsa", "-out", f.kubeletKey, "2048"]);
        fs.chmodSync(f.kubeletKey, 0o600);
        await sh("openssl", [
            "req",
            "-new",
            "-key",
            f.kubeletKey,
            "-subj",
            `/O=system:nodes/CN=system:node:${s.node.name}`,
            "-out",
            csr,
        ]);
        await sh("openssl", [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            path.join(pki, "ca.crt"),
            "-CAkey",
            path.join(pki, "ca.key"),
            "-CAcreateserial",
            "-CAserial",
            path.join(path.dirname(f.kubeletKey), "ca.srl"),
            "-days",
            "365",
            "-out",
            f.kubeletCert,
        ]);
        fs.rmSync(csr, { force: true });
    }
    const kubeconfig = {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "local", cluster: { server, "certificate-authority": path.join(pki, "ca.crt") } }],
        users: [{ name: "kubelet", user: { "client-certificate": f.kubeletCert, "client-key": f.kubeletKey } }],
        contexts: [{ name: "kubelet", context: { cluster: "local", user: "kubelet" } }],
        "current-context": "kubelet",
    };
    fs.writeFileSync(f.kubeletKubeconfig, stringify(kubeconfig), { mode: 0o600 });
}

// ---- images ------------------------------------------------------------------------------------

/**
 * Builds the pause and CoreDNS images from the toolchain's binaries (FROM scratch: nothing pulled)
 * in the environment's docker engine.
 */
async function buildNodeImages(s: EnvSettings, dockerHost: string): Promise<void> {
    const f = nodeFiles(s);
    const build = async (tag: string, binary: string, entrypoint: string) => {
        const ctx = path.join(f.images, path.basename(binary));
        fs.rmSync(ctx, { recursive: true, force: true });
        fs.mkdirSync(ctx, { recursive: true });
        fs.copyFileSync(binary, path.join(ctx, path.basename(binary)));
        fs.writeFileSync(
            path.join(ctx, "Dockerfile"),
            `FROM scratch\nCOPY ${path.basename(binary)} ${entrypoint}\nUSER 65535:65535\nENTRYPOINT ["${entrypoint}"]\n`,
        );
        await run("docker", ["build", "-q", "-t", tag, ctx], {
            env: { ...process.env, DOCKER_HOST: dockerHost },
            timeout: 120_000,
        });
    };
    await build(PAUSE_IMAGE, path.join(s.node.binDir, "pause"), "/pause");
    await build(COREDNS_IMAGE, path.join(s.node.coreDnsBinDir, "coredns"), "/coredns");
}

async function dockerImageId(dockerHost: string, image: string): Promise<string | undefined> {
    try {
        const { stdout } = await run("docker", ["image", "inspect", "-f", "{{.Id}}", image], {
            env: { ...process.env, DOCKER_HOST: dockerHost },
            timeout: 30_000,
        });
        return stdout.trim();
    } catch {
        return undefined;
    }
}

/**
 * Copies IMAGES from the docker engine into containerd's k8s.io namespace (docker save | ctr import),
 * skipping those imported before with the same image ID. Returns the images imported now.
 */
export async function importImages(s: EnvSettings, dockerHost: string, images: string[]): Promise<string[]> {
    const f = nodeFiles(s);
    const done: Record<string, string> = fs.existsSync(f.imported)
        ? JSON.parse(fs.readFileSync(f.imported, "utf8"))
        : {};
    const present = new Set(
        (await sh(CTR, ["--address", f.socket, "-n", "k8s.io", "images", "ls", "-q"])).split("\n").filter(Boolean),
    );
    const imported: string[] = [];
    for (const image of images) {
        const id = await dockerImageId(dockerHost, image);
        if (id === undefined) {
            throw new EnvError(
                `the image ${image} is not in the environment's docker engine`,
                "run 'npm run env:up', which builds the stand-in images",
            );
        }
        const ref = image.includes("/") ? `docker.io/${image}` : `docker.io/library/${image}`;
        if (done[image] === id && (present.has(image) || present.has(ref))) continue;
        await run(
            "sh",
            [
                "-c",
                `docker save "$1" | "${CTR}" --address "$2" -n k8s.io images import --no-unpack=false -`,
                "sh",
                image,
                f.socket,
            ],
            {
                env: { ...process.env, DOCKER_HOST: dockerHost },
                timeout: 300_000,
                maxBuffer: 16 * 1024 * 1024,
            },
        );
        done[image] = id;
        fs.writeFileSync(f.imported, JSON.stringify(done, null, 2));
        imported.push(image);
    }
    return imported;
}

// ---- processes ---------------------------------------------------------------------------------

/** What a node process's command line contains (livePid's check that the pid is still ours). */
function marker(s: EnvSettings, p: NodeProcess): string {
    if (p === "containerd") return nodeFiles(s).containerdConfig;
    if (p === "api-relay") return `${apiRelayPort(s)},bind=${s.node.address}`;
    if (p === "s3-relay") return `${s.s3.port},bind=${s.node.address}`;
    return p;
}

function processPid(s: EnvSettings, p: NodeProcess): number | undefined {
    return livePid(nodeFiles(s).pid(p), marker(s, p));
}

export function stoppedNodeProcesses(s: EnvSettings): NodeProcess[] {
    return NODE_PROCESSES.filter((p) => processPid(s, p) === undefined);
}

async function kubectl(kubeBin: string, kubeconfig: string, args: string[], input?: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = execFile(
            path.join(kubeBin, "kubectl"),
            ["--kubeconfig", kubeconfig, ...args],
            { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
            (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
        );
        if (input !== undefined) child.stdin?.end(input);
    });
}

/** True when the node reports Ready to the API server. */
export async function nodeReadyInApi(s: EnvSettings, adminKubeconfig: string): Promise<boolean> {
    try {
        const out = await kubectl(s.kube.binDir, adminKubeconfig, [
            "get",
            "node",
            s.node.name,
            "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        return out.trim() === "True";
    } catch {
        return false;
    }
}

export interface NodeInfo {
    name: string;
    subnet: string;
    bridge: string;
    containerdSocket: string;
    /** The images imported into containerd. */
    images: string[];
}

export interface NodeDeps {
    /** The cluster's admin kubeconfig and its pki folder (kube.ts). */
    kubeconfig: string;
    pki: string;
    server: string;
    kubeApiPort: number;
    /** The environment's docker engine and its stand-in images. */
    dockerHost: string;
    images: string[];
}

function start(s: EnvSettings, p: NodeProcess, cmd: string, args: string[]): void {
    const f = nodeFiles(s);
    if (processPid(s, p) !== undefined) return;
    startDetached({ cmd, args, log: f.log(p), pidFile: f.pid(p) });
}

async function waitFor(
    s: EnvSettings,
    p: NodeProcess,
    check: () => Promise<boolean>,
    timeoutMs = 60_000,
): Promise<void> {
    const f = nodeFiles(s);
    await waitUntil(check, {
        timeoutMs,
        what: `the real node's ${p}`,
        log: f.log(p),
        isRunning: () => processPid(s, p) !== undefined,
        fix: `read ${f.log(p)}; 'npm run env:down' then 'npm run env:up' starts the node afresh`,
    });
}

/** The S3 server, where the pods on the bridge reach it (the backups of tenants placed here): nodeS3Endpoint. */
function startS3Relay(s: EnvSettings) {
    start(s, "s3-relay", SOCAT, [
        `TCP-LISTEN:${s.s3.port},bind=${s.node.address},fork,reuseaddr`,
        `TCP:${LOOPBACK}:${s.s3.port}`,
    ]);
}

export async function nodeUp(s: EnvSettings, deps: NodeDeps): Promise<NodeInfo> {
    const f = nodeFiles(s);
    if (process.getuid?.() !== 0) {
        throw new EnvError(
            "the real node needs root (bridge, cgroups, mounts, nftables)",
            "run the environment as root",
        );
    }
    const missing = missingParts(s);
    if (missing.length > 0) {
        throw new EnvError(
            `the real node cannot start; missing: ${missing.map((m) => m.part).join(", ")}`,
            [...new Set(missing.map((m) => m.fix))].join("; "),
        );
    }
    const images = [PAUSE_IMAGE, COREDNS_IMAGE, HELPER_IMAGE, ...deps.images];
    if (await nodeReady(s, deps.kubeconfig)) {
        // Running: only stand-in images rebuilt since are copied over.
        await importImages(s, deps.dockerHost, deps.images);
        if (processPid(s, "s3-relay") === undefined) startS3Relay(s);
        return { name: s.node.name, subnet: s.node.subnet, bridge: s.node.bridge, containerdSocket: f.socket, images };
    }
    await requireFreeSubnet(s);
    // Checked all it could: from here on the machine changes, so its state is recorded first.
    for (const d of [f.containerdRoot, f.containerdState, f.cniConf, f.ipam, f.kubeletRoot, f.podLogs, f.images]) {
        fs.mkdirSync(d, { recursive: true });
    }
    recordMachineBefore(s);
    await ensureBridge(s);

    fs.writeFileSync(f.containerdConfig, containerdConfig(s));
    fs.writeFileSync(path.join(f.cniConf, "10-cytomine-node.conflist"), JSON.stringify(cniConfig(s), null, 2));
    start(s, "containerd", CONTAINERD, ["--config", f.containerdConfig]);
    await waitFor(s, "containerd", async () => {
        await sh(CTR, ["--address", f.socket, "version"], 5_000);
        return true;
    });

    await buildNodeImages(s, deps.dockerHost);
    await importImages(s, deps.dockerHost, images);

    await ensureKubeletCredentials(s, deps.pki, deps.server);
    // No search domains or name servers of the machine's inside pods: cluster DNS answers alone.
    fs.writeFileSync(f.resolvConf, "");
    fs.writeFileSync(f.kubeletConfig, stringify(kubeletConfig(s, path.join(deps.pki, "ca.crt"))));
    start(s, "kubelet", path.join(s.node.binDir, "kubelet"), [
        `--config=${f.kubeletConfig}`,
        `--kubeconfig=${f.kubeletKubeconfig}`,
        `--root-dir=${f.kubeletRoot}`,
        `--hostname-override=${s.node.name}`,
        `--node-ip=${s.node.address}`,
        `--node-labels=${REAL_NODE_LABEL.key}=${REAL_NODE_LABEL.value}`,
        "--v=1",
    ]);
    await waitFor(s, "kubelet", () => nodeReadyInApi(s, deps.kubeconfig), 120_000);

    fs.writeFileSync(f.proxyConfig, stringify(kubeProxyConfig(s, deps.kubeconfig)));
    start(s, "kube-proxy", path.join(s.node.binDir, "kube-proxy"), [`--config=${f.proxyConfig}`, "--v=1"]);
    start(s, "kube-router", path.join(s.node.kubeRouterBinDir, "kube-router"), kubeRouterArgs(s, deps.kubeconfig));

    const storage = localPathConfig(s);
    fs.mkdirSync(f.volumes, { recursive: true });
    fs.writeFileSync(f.provisionerConfig, JSON.stringify(storage.config));
    const manifests = [...clusterDnsManifests(s), ...storage.manifests];
    start(s, "api-relay", SOCAT, [
        `TCP-LISTEN:${apiRelayPort(s)},bind=${s.node.address},fork,reuseaddr`,
        `TCP:${LOOPBACK}:${deps.kubeApiPort}`,
    ]);
    startS3Relay(s);
    await kubectl(
        s.kube.binDir,
        deps.kubeconfig,
        ["apply", "-f", "-"],
        manifests.map((m) => stringify(m)).join("---\n"),
    );
    start(s, "local-path-provisioner", path.join(s.node.localPathBinDir, "local-path-provisioner"), [
        "start",
        `--kubeconfig=${deps.kubeconfig}`,
        `--config=${f.provisionerConfig}`,
        `--namespace=${PROVISIONER_NAMESPACE}`,
        "--provisioner-name=rancher.io/local-path",
        `--helper-image=${HELPER_IMAGE}`,
        "--service-account-name=local-path-provisioner",
    ]);
    await waitFor(s, "kube-proxy", async () => {
        await sh("nft", ["list", "table", "ip", "kube-proxy"], 5_000);
        return true;
    });
    await waitFor(
        s,
        "kubelet",
        async () => {
            const out = await kubectl(s.kube.binDir, deps.kubeconfig, [
                "-n",
                "kube-system",
                "get",
                "deployment",
                "coredns",
                "-o",
                "jsonpath={.status.readyReplicas}",
            ]);
            return out.trim() === "1";
        },
        120_000,
    );
    return { name: s.node.name, subnet: s.node.subnet, bridge: s.node.bridge, containerdSocket: f.socket, images };
}

/** Whether every process of the node runs and the API server sees the node Ready. */
export async function nodeReady(s: EnvSettings, adminKubeconfig: string): Promise<boolean> {
    return stoppedNodeProcesses(s).length === 0 && (await nodeReadyInApi(s, adminKubeconfig));
}

// ---- teardown ----------------------------------------------------------------------------------

/** Every container task in containerd's k8s.io namespace, killed and deleted (the pods' processes). */
async function removeContainers(socket: string): Promise<void> {
    const ctr = (args: string[]) => sh(CTR, ["--address", socket, "-n", "k8s.io", ...args], 30_000);
    const tasks = (await ctr(["tasks", "ls", "-q"]).catch(() => "")).split("\n").filter(Boolean);
    for (const t of tasks) await ctr(["tasks", "kill", "-s", "SIGKILL", t]).catch(() => undefined);
    for (const t of tasks) await ctr(["tasks", "delete", "--force", t]).catch(() => undefined);
    const containers = (await ctr(["containers", "ls", "-q"]).catch(() => "")).split("\n").filter(Boolean);
    for (const c of containers) await ctr(["containers", "delete", c]).catch(() => undefined);
}

/** The mount points under PREFIX (deepest first), from /proc/self/mountinfo. */
function mountsUnder(prefix: string): string[] {
    const lines = fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n");
    return lines
        .map((l) => l.split(" ")[4])
        .filter((m): m is string => m !== undefined && (m === prefix || m.startsWith(`${prefix}/`)))
        .sort((a, b) => b.length - a.length);
}

/** cgroup v1 folders the kubelet made (kubepods under every controller), deepest first. */
function kubeletCgroups(): string[] {
    const root = "/sys/fs/cgroup";
    const out: string[] = [];
    const walk = (dir: string) => {
        let entries: fs.Dirent[];
        try {
            entries = fs.readdirSync(dir, { withFileTypes: true });
        } catch {
            return;
        }
        for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name));
        out.push(dir);
    };
    for (const controller of fs.existsSync(root) ? fs.readdirSync(root) : []) {
        const kubepods = path.join(root, controller, "kubepods");
        if (fs.existsSync(kubepods)) walk(kubepods);
    }
    return out;
}

/**
 * The iptables chains of the node's programs: kube-router's firewall (its `--cleanup-config` panics
 * without a cluster to read) and the kubelet's canaries and KUBE-FIREWALL
 * (pkg/kubelet/kubelet_network_linux.go).
 */
export const NODE_CHAIN =
    /^(KUBE-ROUTER-|KUBE-NWPLCY-|KUBE-POD-FW-|KUBE-FIREWALL$|KUBE-KUBELET-CANARY$|KUBE-IPTABLES-HINT$)/;
/** kube-router's ipsets for policy peers. */
export const NODE_IPSET = /^(KUBE-SRC-|KUBE-DST-|kube-router-)/;

/**
 * An iptables-restore --noflush script that removes, from `iptables-save` output, the chains whose
 * names match `chain` and every rule that jumps to them.
 */
export function chainRemovalScript(saved: string, chain: RegExp): string {
    const out: string[] = [];
    let table: string | undefined;
    let deletes: string[] = [];
    let chains: string[] = [];
    const flush = () => {
        if (table && (deletes.length || chains.length)) {
            out.push(
                `*${table}`,
                ...deletes,
                ...chains.map((c) => `-F ${c}`),
                ...chains.map((c) => `-X ${c}`),
                "COMMIT",
            );
        }
        deletes = [];
        chains = [];
    };
    for (const line of saved.split("\n")) {
        if (line.startsWith("*")) {
            flush();
            table = line.slice(1).trim();
        } else if (line.startsWith(":")) {
            const name = line.slice(1).split(" ")[0];
            if (chain.test(name)) chains.push(name);
        } else if (line.startsWith("-A ")) {
            const [, owner] = line.split(" ");
            const target = / -[jg] (\S+)/.exec(line)?.[1];
            if (!chain.test(owner) && target !== undefined && chain.test(target)) deletes.push(`-D${line.slice(2)}`);
        }
    }
    flush();
    return out.length ? `${out.join("\n")}\n` : "";
}

async function removeNodeRules(): Promise<void> {
    for (const [save, restore] of [
        ["iptables-save", "iptables-restore"],
        ["ip6tables-save", "ip6tables-restore"],
    ]) {
        const script = chainRemovalScript(await sh(save, []).catch(() => ""), NODE_CHAIN);
        if (script) {
            await new Promise<void>((resolve, reject) => {
                const child = execFile(restore, ["-w", "--noflush"], { timeout: 30_000 }, (err) =>
                    err ? reject(err) : resolve(),
                );
                child.stdin?.end(script);
            });
        }
    }
    const sets = (await sh("ipset", ["list", "-n"]).catch(() => "")).split("\n").filter((n) => NODE_IPSET.test(n));
    for (const set of sets) await sh("ipset", ["destroy", set]).catch(() => undefined);
}

/**
 * Stops the node and puts the machine back as it found it; with purge, its state folder goes too
 * (containerd's images, the kubelet's credentials).
 */
export async function nodeDown(s: EnvSettings, purge = false): Promise<boolean> {
    const f = nodeFiles(s);
    if (!fs.existsSync(f.dir)) return false;
    const wasRunning = stoppedNodeProcesses(s).length < NODE_PROCESSES.length;
    await stopPidFile(f.pid("kubelet"), "kubelet", 20_000);
    await stopPidFile(f.pid("kube-proxy"), "kube-proxy");
    await stopPidFile(f.pid("kube-router"), "kube-router");
    await stopPidFile(f.pid("local-path-provisioner"), "local-path-provisioner");
    await stopPidFile(f.pid("api-relay"), marker(s, "api-relay"));
    await stopPidFile(f.pid("s3-relay"), marker(s, "s3-relay"));
    if (processPid(s, "containerd") !== undefined) await removeContainers(f.socket);
    await stopPidFile(f.pid("containerd"), f.containerdConfig, 20_000);
    // What follows is machine-wide (rules, cgroups, sysctls): only for a node that changed the machine,
    // which recorded its state first; a node refused before that (or another state folder's) has none.
    if (!fs.existsSync(f.before)) {
        if (purge) await run("rm", ["-rf", "--one-file-system", f.dir]);
        return wasRunning;
    }
    // Their rules: kube-proxy's nftables tables, kube-router's chains and ipsets, the kubelet's chains.
    await sh(path.join(s.node.binDir, "kube-proxy"), ["--cleanup"]).catch(() => undefined);
    await removeNodeRules();
    // Pods' network namespaces and volumes, containerd's overlay mounts: all under the state folder
    // or named by containerd (cni-*) under /var/run/netns.
    for (const m of [
        ...mountsUnder(f.dir),
        ...mountsUnder("/run/netns").filter((m) => path.basename(m).startsWith("cni-")),
    ]) {
        await sh("umount", ["-l", m]).catch(() => undefined);
        if (m.startsWith("/run/netns/")) fs.rmSync(m, { force: true });
    }
    for (const dir of kubeletCgroups()) {
        try {
            fs.rmdirSync(dir);
        } catch {
            /* a process still in it; reported by the caller's checks */
        }
    }
    await sh("ip", ["link", "del", s.node.bridge]).catch(() => undefined);
    const before = JSON.parse(fs.readFileSync(f.before, "utf8")) as MachineBefore;
    for (const [key, value] of Object.entries(before.sysctls)) {
        if (readSysctl(key) !== value) fs.writeFileSync(`/proc/sys/${key}`, value);
    }
    for (const dir of HOST_FOLDERS) {
        if (before.folders.includes(dir)) continue;
        // Only what the node left there: the kubelet's log links into its state folder.
        if (dir === "/var/log/containers") {
            for (const link of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
                const target = fs.readlinkSync(path.join(dir, link));
                if (target.startsWith(f.dir)) fs.rmSync(path.join(dir, link));
            }
        }
        try {
            // Its own CNI cache; the others only when empty (Docker's shims may use /run/containerd).
            if (dir === "/var/lib/cni") fs.rmSync(dir, { recursive: true, force: true });
            else if (fs.existsSync(dir)) fs.rmdirSync(dir);
        } catch {
            /* not empty: someone else's files */
        }
    }
    fs.rmSync(f.before);
    if (purge) await run("rm", ["-rf", "--one-file-system", f.dir]);
    return wasRunning;
}

export async function nodeStatus(s: EnvSettings, adminKubeconfig: string): Promise<{ ready: boolean; detail: string }> {
    const f = nodeFiles(s);
    const stopped = stoppedNodeProcesses(s);
    if (stopped.length === NODE_PROCESSES.length)
        return { ready: false, detail: "not running; 'npm run env:up' starts it" };
    if (stopped.length > 0) {
        return {
            ready: false,
            detail: `${stopped.join(", ")} not running (logs: ${f.dir}/*.log); 'npm run env:up' starts what is missing`,
        };
    }
    if (!(await nodeReadyInApi(s, adminKubeconfig))) {
        return {
            ready: false,
            detail: `running but not Ready in the API; log: ${f.log("kubelet")}\n${tail(f.log("kubelet"), 5)}`,
        };
    }
    return {
        ready: true,
        detail: `${s.node.name} Ready (containerd, kubelet, kube-proxy nftables, kube-router firewall, CoreDNS, local-path volumes: StorageClass ${REAL_NODE_STORAGE_CLASS}), pods on ${s.node.bridge} ${s.node.subnet}`,
    };
}
