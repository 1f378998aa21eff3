// An EC2 host for a tenant's Cytomine: network (a new VPC and public subnet, or an existing subnet),
// a security group open on 80/443 to the configured networks and on 22 only to administrators', a
// Debian instance with IMDSv2 required and an encrypted root, a separate encrypted data volume
// (protected and retained), an Elastic IP, and cloud-init that installs the container engine, mounts
// the data volume and installs the host key the stack pins.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";

export interface Ec2HostArgs {
    tenant: string;
    instanceType: string;
    /** Pinned AMI; when unset, the newest Debian 12 image of Debian's AWS account. */
    ami?: string;
    /** An existing subnet; when unset, a VPC of `vpcCidr` with one public subnet is created. */
    subnetId?: string;
    vpcCidr: string;
    httpCidrs: string[];
    adminCidrs: string[];
    rootVolumeGiB: number;
    dataVolumeGiB: number;
    /** Where the data volume is mounted (the VM target's data directory). */
    dataDir: string;
    /** The administrators' SSH public key (authorized for the login user). */
    sshPublicKey: string;
    /** The host key the stack pins: its public part (`ssh-ed25519 …`) and its private part (secret). */
    hostKey: { publicKey: string; privateKey: pulumi.Input<string> };
    /** The data volume cannot be deleted or replaced, and survives destroy. */
    protectData: boolean;
}

/** Debian's AWS account, publisher of the official Debian images (https://wiki.debian.org/Cloud/AmazonEC2Image). */
export const DEBIAN_OWNER = "136693071363";

const HTTP_PORTS = [80, 443];

/** Ingress rules: web to `httpCidrs`, SSH to `adminCidrs` only. */
export function ingressRules(httpCidrs: string[], adminCidrs: string[]): aws.types.input.ec2.SecurityGroupIngress[] {
    const split = (cidrs: string[]) => ({
        cidrBlocks: cidrs.filter((c) => !c.includes(":")),
        ipv6CidrBlocks: cidrs.filter((c) => c.includes(":")),
    });
    return [
        ...HTTP_PORTS.map((port) => ({
            protocol: "tcp",
            fromPort: port,
            toPort: port,
            ...split(httpCidrs),
            description: "web",
        })),
        { protocol: "tcp", fromPort: 22, toPort: 22, ...split(adminCidrs), description: "administrators' SSH" },
    ];
}

/**
 * cloud-init: the container engine and curl, the data volume (found by its EBS serial, formatted
 * only when blank, mounted by UUID), and the pinned host key in place of generated ones.
 */
export function cloudInit(o: {
    volumeId: string;
    dataDir: string;
    hostPublicKey: string;
    hostPrivateKey: string;
}): string {
    const serial = o.volumeId.replace("-", "");
    const mount = [
        "set -eu",
        `dev=$(lsblk -ndo PATH,SERIAL | awk '$2=="${serial}" {print $1}')`,
        `[ -n "$dev" ] || { echo "data volume ${o.volumeId} not attached" >&2; exit 1; }`,
        `blkid "$dev" >/dev/null || mkfs.ext4 -L cytomine-data "$dev"`,
        `mkdir -p ${o.dataDir}`,
        `grep -q ' ${o.dataDir} ' /etc/fstab || echo "UUID=$(blkid -s UUID -o value "$dev") ${o.dataDir} ext4 defaults,nofail 0 2" >> /etc/fstab`,
        `mountpoint -q ${o.dataDir} || mount ${o.dataDir}`,
    ].join("\n");
    return `#cloud-config\n${stringify(
        {
            package_update: true,
            packages: ["docker.io", "docker-compose", "curl"],
            ssh_deletekeys: true,
            ssh_genkeytypes: [],
            ssh_keys: { ed25519_private: o.hostPrivateKey, ed25519_public: o.hostPublicKey },
            write_files: [{ path: "/usr/local/sbin/cytomine-data-volume", permissions: "0700", content: mount }],
            runcmd: [["/usr/local/sbin/cytomine-data-volume"], ["systemctl", "enable", "--now", "docker"]],
        },
        { lineWidth: 0 },
    )}`;
}

export class Ec2Host extends pulumi.ComponentResource {
    /** The Elastic IP: the address Cytomine's DNS name points at and SSH connects to. */
    public readonly publicIp: pulumi.Output<string>;
    public readonly instanceId: pulumi.Output<string>;
    public readonly dataVolumeId: pulumi.Output<string>;

    constructor(name: string, args: Ec2HostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("cytomine:vm:Ec2Host", name, {}, opts);
        const child = { parent: this };
        const tags = { Name: `cytomine-${args.tenant}`, "cytomine.io/tenant": args.tenant };

        const network = args.subnetId
            ? {
                  subnetId: pulumi.output(args.subnetId),
                  vpcId: aws.ec2.getSubnetOutput({ id: args.subnetId }, child).vpcId,
              }
            : this.createNetwork(name, args.vpcCidr, tags);
        const subnet = aws.ec2.getSubnetOutput({ id: network.subnetId }, child);

        const group = new aws.ec2.SecurityGroup(
            `${name}-sg`,
            {
                vpcId: network.vpcId,
                description: `Cytomine ${args.tenant}: web to the configured networks, SSH to administrators only`,
                ingress: ingressRules(args.httpCidrs, args.adminCidrs),
                egress: [
                    { protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] },
                ],
                tags,
            },
            child,
        );
        const key = new aws.ec2.KeyPair(`${name}-key`, { publicKey: args.sshPublicKey, tags }, child);
        const ami =
            args.ami ??
            aws.ec2.getAmiOutput(
                {
                    owners: [DEBIAN_OWNER],
                    mostRecent: true,
                    filters: [
                        { name: "name", values: ["debian-12-amd64-*"] },
                        { name: "architecture", values: ["x86_64"] },
                    ],
                },
                child,
            ).id;

        const data = new aws.ebs.Volume(
            `${name}-data`,
            { availabilityZone: subnet.availabilityZone, size: args.dataVolumeGiB, type: "gp3", encrypted: true, tags },
            { ...child, protect: args.protectData, retainOnDelete: args.protectData },
        );
        const instance = new aws.ec2.Instance(
            `${name}-instance`,
            {
                ami,
                instanceType: args.instanceType,
                subnetId: network.subnetId,
                vpcSecurityGroupIds: [group.id],
                keyName: key.keyName,
                // IMDSv2 only; hop limit 1 keeps the credentials endpoint out of the containers' reach.
                metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1, httpEndpoint: "enabled" },
                rootBlockDevice: { volumeSize: args.rootVolumeGiB, volumeType: "gp3", encrypted: true },
                userData: pulumi.secret(
                    pulumi.all([data.id, args.hostKey.privateKey]).apply(([volumeId, hostPrivateKey]) =>
                        cloudInit({
                            volumeId,
                            dataDir: args.dataDir,
                            hostPublicKey: args.hostKey.publicKey,
                            hostPrivateKey,
                        }),
                    ),
                ),
                tags,
            },
            child,
        );
        new aws.ec2.VolumeAttachment(
            `${name}-data-attachment`,
            { instanceId: instance.id, volumeId: data.id, deviceName: "/dev/sdf" },
            child,
        );
        const eip = new aws.ec2.Eip(`${name}-ip`, { domain: "vpc", instance: instance.id, tags }, child);

        this.publicIp = eip.publicIp;
        this.instanceId = instance.id;
        this.dataVolumeId = data.id;
        this.registerOutputs({ publicIp: this.publicIp, instanceId: this.instanceId, dataVolumeId: this.dataVolumeId });
    }

    /** A VPC with one public subnet routed to an internet gateway. */
    private createNetwork(name: string, cidr: string, tags: Record<string, string>) {
        const child = { parent: this };
        const vpc = new aws.ec2.Vpc(`${name}-vpc`, { cidrBlock: cidr, enableDnsHostnames: true, tags }, child);
        const gateway = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags }, child);
        const subnet = new aws.ec2.Subnet(
            `${name}-subnet`,
            { vpcId: vpc.id, cidrBlock: cidr.replace(/\/\d+$/, "/24"), mapPublicIpOnLaunch: false, tags },
            child,
        );
        const routes = new aws.ec2.RouteTable(
            `${name}-routes`,
            { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: gateway.id }], tags },
            child,
        );
        new aws.ec2.RouteTableAssociation(
            `${name}-subnet-routes`,
            { subnetId: subnet.id, routeTableId: routes.id },
            child,
        );
        return { subnetId: subnet.id, vpcId: vpc.id };
    }
}
