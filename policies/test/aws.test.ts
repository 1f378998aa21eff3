import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { awsEncryptedVolumes, awsImdsV2, awsNoPublicDatabasePorts, awsNoPublicSsh } from "../rules";
import { checkResource, Fake, messages, unknown } from "../harness";
import { T } from "./sdk";

const imdsv2 = { httpTokens: "required", httpPutResponseHopLimit: 1, httpEndpoint: "enabled" };

describe("aws-imdsv2", () => {
    const check = (fake: Fake) => checkResource(awsImdsV2, fake).then(messages);
    const instance = (props: object): Fake => ({ type: T.ec2Instance, props: { ami: "ami-1", ...props } });

    it("accepts IMDSv2 with hop limit 1 on instances and launch templates, or a disabled endpoint", async () => {
        assert.deepEqual(await check(instance({ metadataOptions: imdsv2 })), []);
        assert.deepEqual(await check({ type: T.ec2LaunchTemplate, props: { metadataOptions: imdsv2 } }), []);
        assert.deepEqual(await check(instance({ metadataOptions: { httpEndpoint: "disabled" } })), []);
    });

    it("rejects optional tokens, a larger hop limit, or no metadata options", async () => {
        const found = await check(
            instance({ metadataOptions: { httpTokens: "optional", httpPutResponseHopLimit: 2 } }),
        );
        assert.equal(found.length, 2);
        assert.equal((await check(instance({}))).length, 2);
        assert.equal((await check({ type: T.ec2LaunchTemplate, props: {} })).length, 2);
    });

    it("judges an instance built from a launch template on the template", async () => {
        assert.deepEqual(await check(instance({ launchTemplate: { id: "lt-1" } })), []);
    });

    it("does not judge options unknown at preview", async () => {
        assert.deepEqual(await check(instance({ metadataOptions: unknown.object })), []);
        assert.deepEqual(await check(instance({ metadataOptions: { ...imdsv2, httpTokens: unknown.string } })), []);
    });
});

describe("aws-encrypted-volumes", () => {
    const check = (fake: Fake) => checkResource(awsEncryptedVolumes, fake).then(messages);

    it("accepts encrypted root, data, template and EBS volumes", async () => {
        const props = {
            rootBlockDevice: { encrypted: true },
            ebsBlockDevices: [{ deviceName: "/dev/sdf", encrypted: true }],
        };
        assert.deepEqual(await check({ type: T.ec2Instance, props }), []);
        const mappings = [
            { deviceName: "/dev/sda1", ebs: { encrypted: "true" } },
            { deviceName: "/dev/sdb", virtualName: "ephemeral0" },
        ];
        assert.deepEqual(await check({ type: T.ec2LaunchTemplate, props: { blockDeviceMappings: mappings } }), []);
        assert.deepEqual(
            await check({ type: T.ebsVolume, props: { availabilityZone: "eu-north-1a", encrypted: true } }),
            [],
        );
    });

    it("rejects unencrypted or unset encryption", async () => {
        const props = { ebsBlockDevices: [{ deviceName: "/dev/sdf", encrypted: false }] };
        assert.deepEqual(await check({ type: T.ec2Instance, props }), [
            "rootBlockDevice.encrypted is not true",
            "ebsBlockDevices[0].encrypted is not true",
        ]);
        const mappings = [{ deviceName: "/dev/sda1", ebs: { encrypted: "false" } }];
        assert.equal((await check({ type: T.ec2LaunchTemplate, props: { blockDeviceMappings: mappings } })).length, 1);
        assert.deepEqual(await check({ type: T.ebsVolume, props: { size: 100 } }), ["encrypted is not true"]);
    });

    it("does not judge values unknown at preview", async () => {
        const props = { rootBlockDevice: { encrypted: unknown.boolean }, ebsBlockDevices: unknown.array };
        assert.deepEqual(await check({ type: T.ec2Instance, props }), []);
        assert.deepEqual(await check({ type: T.ebsVolume, props: { encrypted: unknown.boolean } }), []);
    });
});

const group = (ingress: object[]): Fake => ({ type: T.ec2SecurityGroup, props: { ingress } });
const tcp = (fromPort: number, toPort: number, cidrBlocks: unknown = [], ipv6CidrBlocks: unknown = []) => ({
    protocol: "tcp",
    fromPort,
    toPort,
    cidrBlocks,
    ipv6CidrBlocks,
});
const vpcRule = (props: object): Fake => ({
    type: T.vpcIngressRule,
    props: { securityGroupId: "sg-1", ipProtocol: "tcp", ...props },
});

describe("aws-no-public-ssh", () => {
    const check = (fake: Fake) => checkResource(awsNoPublicSsh, fake).then(messages);

    it("accepts SSH from a private range and HTTPS from anywhere", async () => {
        assert.deepEqual(await check(group([tcp(22, 22, ["10.0.0.0/8"]), tcp(443, 443, ["0.0.0.0/0"], ["::/0"])])), []);
        assert.deepEqual(await check(vpcRule({ fromPort: 22, toPort: 22, cidrIpv4: "192.0.2.0/24" })), []);
    });

    it("rejects port 22 open to 0.0.0.0/0 or ::/0, inline, in rule resources, by range or all protocols", async () => {
        assert.deepEqual(await check(group([tcp(22, 22, ["0.0.0.0/0"], ["::/0"])])), [
            "ingress[0] opens port 22 (SSH) to 0.0.0.0/0 and ::/0",
        ]);
        assert.equal((await check(group([tcp(0, 65535, [], ["::/0"])]))).length, 1);
        assert.equal(
            (await check(group([{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] }]))).length,
            1,
        );
        assert.equal((await check(vpcRule({ fromPort: 22, toPort: 22, cidrIpv6: "::/0" }))).length, 1);
        assert.equal((await check(vpcRule({ ipProtocol: "-1", cidrIpv4: "0.0.0.0/0" }))).length, 1);
        const rule = { type: "ingress", protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] };
        assert.equal((await check({ type: T.ec2SecurityGroupRule, props: rule })).length, 1);
        assert.deepEqual(await check({ type: T.ec2SecurityGroupRule, props: { ...rule, type: "egress" } }), []);
    });

    it("does not judge rules unknown at preview", async () => {
        assert.deepEqual(await check(group([tcp(22, 22, unknown.array)])), []);
        assert.deepEqual(await check({ type: T.ec2SecurityGroup, props: { ingress: unknown.array } }), []);
        assert.deepEqual(await check(vpcRule({ fromPort: 22, toPort: 22, cidrIpv4: unknown.string })), []);
    });
});

describe("aws-no-public-database-ports", () => {
    const check = (fake: Fake, config = {}) => checkResource(awsNoPublicDatabasePorts, fake, config).then(messages);

    it("rejects PostgreSQL, MongoDB, Redis and MySQL open to the internet", async () => {
        const found = await check(
            group([tcp(5432, 5432, ["0.0.0.0/0"]), tcp(6379, 27017, ["::/0"]), tcp(3306, 3306, ["0.0.0.0/0"])]),
        );
        assert.deepEqual(found, [
            "ingress[0] opens port 5432 (database) to 0.0.0.0/0",
            "ingress[1] opens port 27017 (database) to ::/0",
            "ingress[1] opens port 6379 (database) to ::/0",
            "ingress[2] opens port 3306 (database) to 0.0.0.0/0",
        ]);
    });

    it("accepts database ports from private ranges, other public ports, and takes the port list from config", async () => {
        assert.deepEqual(await check(group([tcp(5432, 5432, ["10.0.0.0/16"]), tcp(443, 443, ["0.0.0.0/0"])])), []);
        assert.equal((await check(group([tcp(443, 443, ["0.0.0.0/0"])]), { databasePorts: [443] })).length, 1);
        const udp = { protocol: "udp", fromPort: 5432, toPort: 5432, cidrBlocks: ["0.0.0.0/0"] };
        assert.deepEqual(await check(group([udp])), []);
    });

    it("does not judge rules unknown at preview", async () => {
        assert.deepEqual(await check(vpcRule({ fromPort: unknown.number, toPort: 5432, cidrIpv4: "0.0.0.0/0" })), []);
    });
});
