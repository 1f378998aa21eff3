// The AWS path cannot run here (no aws plugin): its component is checked under mocks, and the policy
// pack's AWS rules are run on exactly what it declares, and on a weakened variant.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as aws from "@pulumi/aws";
import { cloudInit, Ec2Host, ingressRules } from "../../components/vm/aws";
import { checkResource } from "../../policies/harness";
import { awsEncryptedVolumes, awsImdsV2, awsNoPublicDatabasePorts, awsNoPublicSsh } from "../../policies/aws";
import { allRegistered, Recorded, recordResources, valueOf } from "../support/mocks";

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A resource class's type token (the SDK's static, not in its typings). */
const token = (cls: object) => (cls as { __pulumiType: string }).__pulumiType;

const args = {
    tenant: "lab-a",
    instanceType: "m6i.xlarge",
    ami: "ami-0123456789abcdef0",
    vpcCidr: "10.42.0.0/16",
    httpCidrs: ["0.0.0.0/0", "::/0"],
    adminCidrs: ["198.51.100.0/24", "2001:db8::/48"],
    rootVolumeGiB: 20,
    dataVolumeGiB: 200,
    dataDir: "/var/lib/cytomine-fallback",
    sshPublicKey: "ssh-ed25519 AAAAadmins",
    hostKey: { publicKey: "ssh-ed25519 AAAAhost", privateKey: "HOST-PRIVATE-KEY" },
    protectData: true,
};

async function declared(): Promise<Recorded[]> {
    const recorded = recordResources();
    const host = new Ec2Host("lab-a", args);
    await valueOf(host.publicIp);
    await allRegistered();
    return recorded;
}

const one = (recorded: Recorded[], type: string) => {
    const found = recorded.filter((r) => r.type === type);
    assert.equal(found.length, 1, type);
    return found[0];
};

/** The mocks see secret inputs wrapped; the policies see them unwrapped. */
const plain = (v: Any) => (v && typeof v === "object" && "value" in v ? v.value : v);

describe("AWS host (mocks)", () => {
    it("requires IMDSv2 with hop limit 1 and encrypts the root and the separate data volume", async () => {
        const recorded = await declared();
        const instance = one(recorded, token(aws.ec2.Instance));
        assert.deepEqual(instance.inputs.metadataOptions, {
            httpTokens: "required",
            httpPutResponseHopLimit: 1,
            httpEndpoint: "enabled",
        });
        assert.equal(instance.inputs.rootBlockDevice.encrypted, true);
        const data = one(recorded, token(aws.ebs.Volume));
        assert.equal(data.inputs.encrypted, true);
        assert.equal(data.inputs.size, 200);
        assert.ok(one(recorded, token(aws.ec2.VolumeAttachment)));
        assert.ok(one(recorded, token(aws.ec2.Eip)));
    });

    it("opens 80/443 to the web and 22 only to the administrators' networks", async () => {
        const recorded = await declared();
        const sg = one(recorded, token(aws.ec2.SecurityGroup));
        const ssh = sg.inputs.ingress.filter((r: Any) => r.fromPort === 22);
        assert.deepEqual(
            ssh.map((r: Any) => [r.cidrBlocks, r.ipv6CidrBlocks]),
            [[["198.51.100.0/24"], ["2001:db8::/48"]]],
        );
        assert.deepEqual(
            sg.inputs.ingress.map((r: Any) => r.fromPort),
            [80, 443, 22],
        );
        assert.deepEqual(ingressRules(["0.0.0.0/0"], ["10.0.0.0/8"])[2].cidrBlocks, ["10.0.0.0/8"]);
    });

    it("cloud-init installs the engine, mounts the data volume by its serial and pins the host key", async () => {
        const recorded = await declared();
        const instance = one(recorded, token(aws.ec2.Instance));
        const userData = String(plain(instance.inputs.userData));
        assert.equal(
            userData,
            cloudInit({
                volumeId: "lab-a-data-id",
                dataDir: args.dataDir,
                hostPublicKey: "ssh-ed25519 AAAAhost",
                hostPrivateKey: "HOST-PRIVATE-KEY",
            }),
        );
        assert.match(userData, /^#cloud-config\n/);
        assert.match(userData, /- docker\.io\n\s+- docker-compose/);
        // EBS volumes show their id without its dash as the NVMe serial (vol-0abc → vol0abc).
        assert.match(userData, /\$2=="laba-data-id"/, "the volume is found by its serial");
        assert.match(userData, /blkid "\$dev" >\/dev\/null \|\| mkfs\.ext4/, "formatted only when blank");
        assert.match(userData, /ed25519_public: ssh-ed25519 AAAAhost/);
        assert.equal(typeof instance.inputs.userData, "object", "user data holds the host key: it is a secret");
    });

    it("passes the policy pack's AWS rules, which fail on a weakened variant", async () => {
        const recorded = await declared();
        const fake = (r: Recorded, props: object = r.inputs) => ({ type: r.type, name: r.name, props });
        const instance = one(recorded, token(aws.ec2.Instance));
        const volume = one(recorded, token(aws.ebs.Volume));
        const sg = one(recorded, token(aws.ec2.SecurityGroup));
        const rules = [awsImdsV2, awsEncryptedVolumes, awsNoPublicSsh, awsNoPublicDatabasePorts];
        for (const r of [instance, volume, sg])
            for (const policy of rules)
                assert.deepEqual(await checkResource(policy, fake(r)), [], `${policy.name} on ${r.type}`);

        const weak = {
            instance: {
                ...instance.inputs,
                metadataOptions: { httpTokens: "optional" },
                rootBlockDevice: { encrypted: false },
            },
            volume: { ...volume.inputs, encrypted: false },
            sg: {
                ...sg.inputs,
                ingress: [
                    ...sg.inputs.ingress,
                    { protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] },
                    { protocol: "tcp", fromPort: 5432, toPort: 5432, ipv6CidrBlocks: ["::/0"] },
                ],
            },
        };
        const failed = async (policy: (typeof rules)[number], r: Recorded, props: object) =>
            (await checkResource(policy, fake(r, props))).map((d) => d.policy);
        assert.ok((await failed(awsImdsV2, instance, weak.instance)).includes("aws-imdsv2"));
        assert.ok((await failed(awsEncryptedVolumes, instance, weak.instance)).includes("aws-encrypted-volumes"));
        assert.deepEqual(await failed(awsEncryptedVolumes, volume, weak.volume), ["aws-encrypted-volumes"]);
        assert.deepEqual(await failed(awsNoPublicSsh, sg, weak.sg), ["aws-no-public-ssh"]);
        assert.deepEqual(await failed(awsNoPublicDatabasePorts, sg, weak.sg), ["aws-no-public-database-ports"]);
    });

    it("creates a VPC and a public subnet only when no subnet is given", async () => {
        const recorded = await declared();
        assert.ok(one(recorded, token(aws.ec2.Vpc)));
        assert.ok(one(recorded, token(aws.ec2.InternetGateway)));
    });
});
