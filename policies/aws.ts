// AWS (the EC2 target): IMDSv2, encrypted volumes, no SSH or database ports open to the internet.
import { ResourceValidationPolicy } from "@pulumi/policy";
import { configOf, configSchema } from "./config";
import { TYPES } from "./types";
import { fails, known, listOf, Props, UNKNOWN } from "./values";

/** An instance built from a launch template inherits what it does not set; the template is judged. */
function fromTemplate(props: Props): boolean {
    const template = known(() => props.launchTemplate);
    return template === UNKNOWN || (template !== undefined && template !== null);
}

export const awsImdsV2: ResourceValidationPolicy = {
    name: "aws-imdsv2",
    description:
        "EC2 instances and launch templates require IMDSv2 (metadataOptions.httpTokens required) with a PUT response " +
        "hop limit of 1, or disable the metadata endpoint. An instance that sets neither but uses a launch template is " +
        "judged on the template; values unknown at preview are not judged.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        if (args.type !== TYPES.ec2Instance && args.type !== TYPES.ec2LaunchTemplate) return;
        const options = known(() => args.props.metadataOptions);
        if (options === UNKNOWN) return;
        if (options === undefined && args.type === TYPES.ec2Instance && fromTemplate(args.props)) return;
        if (known(() => options?.httpEndpoint) === "disabled") return;
        if (fails(() => options?.httpTokens === "required")) {
            reportViolation(`metadataOptions.httpTokens is not "required": IMDSv1 hands credentials to any SSRF`);
        }
        if (fails(() => options?.httpPutResponseHopLimit === 1)) {
            reportViolation(
                "metadataOptions.httpPutResponseHopLimit is not 1: containers could reach the metadata service",
            );
        }
    },
};

const encrypted = (v: unknown) => v === true || v === "true";

export const awsEncryptedVolumes: ResourceValidationPolicy = {
    name: "aws-encrypted-volumes",
    description:
        "EBS volumes are encrypted: instance root and data block devices, launch template block devices and " +
        "aws.ebs.Volume. The account's encryption-by-default setting is not visible to the pack, so encryption is " +
        "set explicitly; values unknown at preview are not judged.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const p = args.props;
        if (args.type === TYPES.ebsVolume) {
            if (fails(() => encrypted(p.encrypted))) reportViolation("encrypted is not true");
        } else if (args.type === TYPES.ec2Instance) {
            const root = known(() => p.rootBlockDevice);
            const inherited = root === undefined && fromTemplate(p);
            if (!inherited && fails(() => encrypted(p.rootBlockDevice?.encrypted))) {
                reportViolation("rootBlockDevice.encrypted is not true");
            }
            const devices = listOf(() => p.ebsBlockDevices);
            if (devices === UNKNOWN) return;
            devices.forEach((d, i) => {
                if (fails(() => encrypted(d.encrypted))) reportViolation(`ebsBlockDevices[${i}].encrypted is not true`);
            });
        } else if (args.type === TYPES.ec2LaunchTemplate) {
            const mappings = listOf(() => p.blockDeviceMappings);
            if (mappings === UNKNOWN) return;
            mappings.forEach((m, i) => {
                if (known(() => m.ebs) === undefined) return; // an instance-store or suppressed device
                if (fails(() => encrypted(m.ebs?.encrypted))) {
                    reportViolation(`blockDeviceMappings[${i}].ebs.encrypted is not "true"`);
                }
            });
        }
    },
};

const WORLD = new Set(["0.0.0.0/0", "::/0"]);

interface IngressRule {
    label: string;
    read: () => { protocol: unknown; from: unknown; to: unknown; sources: unknown[] };
}

/** The ingress rules a resource declares: inline in a security group, or one rule resource. */
function ingressRules(type: string, p: Props): IngressRule[] {
    if (type === TYPES.ec2SecurityGroup) {
        const rules = listOf(() => p.ingress);
        if (rules === UNKNOWN) return [];
        return rules.map((r, i) => ({
            label: `ingress[${i}]`,
            read: () => ({
                protocol: r.protocol,
                from: r.fromPort,
                to: r.toPort,
                sources: [...(r.cidrBlocks ?? []), ...(r.ipv6CidrBlocks ?? [])],
            }),
        }));
    }
    if (type === TYPES.ec2SecurityGroupRule) {
        if (known(() => p.type) !== "ingress") return [];
        return [
            {
                label: "rule",
                read: () => ({
                    protocol: p.protocol,
                    from: p.fromPort,
                    to: p.toPort,
                    sources: [...(p.cidrBlocks ?? []), ...(p.ipv6CidrBlocks ?? [])],
                }),
            },
        ];
    }
    if (type === TYPES.vpcIngressRule) {
        return [
            {
                label: "rule",
                read: () => ({
                    protocol: p.ipProtocol,
                    from: p.fromPort,
                    to: p.toPort,
                    sources: [p.cidrIpv4, p.cidrIpv6],
                }),
            },
        ];
    }
    return [];
}

/** The world-open sources of a rule that reaches TCP `port`; empty when none, UNKNOWN if not known yet. */
function openTo(rule: IngressRule, port: number): string[] | typeof UNKNOWN {
    const r = known(rule.read);
    if (r === UNKNOWN) return UNKNOWN;
    const protocol = String(r.protocol).toLowerCase();
    const allProtocols = protocol === "-1" || protocol === "all";
    if (!allProtocols && protocol !== "tcp" && protocol !== "6") return [];
    const from = typeof r.from === "number" ? r.from : undefined;
    const to = typeof r.to === "number" ? r.to : from;
    // All traffic ignores ports (AWS stores 0/0 or -1); a TCP rule covers its range.
    const covers = allProtocols || (from !== undefined && to !== undefined && from <= port && port <= to);
    return covers ? r.sources.filter((s): s is string => typeof s === "string" && WORLD.has(s)) : [];
}

function reportOpenPorts(type: string, props: Props, ports: number[], what: string, report: (m: string) => void) {
    for (const rule of ingressRules(type, props)) {
        for (const port of ports) {
            const sources = openTo(rule, port);
            if (sources === UNKNOWN || sources.length === 0) continue;
            report(`${rule.label} opens port ${port} (${what}) to ${sources.join(" and ")}`);
        }
    }
}

export const awsNoPublicSsh: ResourceValidationPolicy = {
    name: "aws-no-public-ssh",
    description:
        "No security group ingress (inline rules, aws.ec2.SecurityGroupRule or aws.vpc.SecurityGroupIngressRule) opens " +
        "port 22 to 0.0.0.0/0 or ::/0. Prefix lists and referenced groups are not resolved; rules unknown at preview " +
        "are not judged.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        reportOpenPorts(args.type, args.props, [22], "SSH", reportViolation);
    },
};

export const awsNoPublicDatabasePorts: ResourceValidationPolicy = {
    name: "aws-no-public-database-ports",
    description:
        "No security group ingress opens a database port (config databasePorts: PostgreSQL, MongoDB, Redis, MySQL) to " +
        "0.0.0.0/0 or ::/0. Prefix lists and referenced groups are not resolved; rules unknown at preview are not judged.",
    enforcementLevel: "mandatory",
    configSchema: configSchema("databasePorts"),
    validateResource: (args, reportViolation) => {
        reportOpenPorts(args.type, args.props, configOf(args).databasePorts, "database", reportViolation);
    },
};
