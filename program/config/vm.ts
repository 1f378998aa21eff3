// Keys of the VM targets: `vm` (the host and where things go on it; for target ssh the host is given,
// for target aws the stack creates it) and `aws` (the EC2 instance and its network).
import * as net from "node:net";
import { z } from "zod";

const absolutePath = z
    .string()
    .regex(
        /^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/,
        "an absolute path without spaces or a trailing slash, e.g. /opt/cytomine",
    );

/** A public SSH host key as sshd prints it (`ssh-keyscan`, /etc/ssh/ssh_host_*_key.pub), or its fingerprint. */
const hostKey = z
    .string()
    .regex(
        /^((ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+=*( .*)?|SHA256:[A-Za-z0-9+/]{43}=?)$/,
        "the host's public key as `ssh-keyscan -t ed25519 <host>` prints it after the host name (e.g. ssh-ed25519 AAAA…), or its SHA256: fingerprint",
    );

const port = z.number().int().min(1).max(65535);

/** An IPv4 or IPv6 CIDR that net.BlockList accepts. */
export function cidrProblem(cidr: string): string | undefined {
    const [address, bits, ...rest] = cidr.split("/");
    const family = net.isIP(address ?? "");
    const max = family === 6 ? 128 : 32;
    if (rest.length || !family || bits === undefined || !/^\d+$/.test(bits) || Number(bits) > max)
        return `"${cidr}" is not a CIDR: write e.g. 203.0.113.0/24 or 2001:db8::/48`;
    return undefined;
}

const cidr = z.string().superRefine((v, ctx) => {
    const problem = cidrProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const OPEN = new Set(["0.0.0.0/0", "::/0"]);

export const vmKeys = {
    vm: z
        .strictObject({
            /** Target ssh: the host's address or DNS name (target aws: set by the stack). */
            host: z.string().min(1).optional(),
            port: port.default(22),
            user: z
                .string()
                .regex(/^[a-z_][a-z0-9_-]*$/, "a Unix user name")
                .default("admin"),
            hostKey: hostKey.optional(),
            sudo: z.boolean().default(true),
            /** Target ssh: connect once when the program starts, so a wrong host, key or sudo rule stops the preview. */
            checkHost: z.boolean().default(true),
            configDir: absolutePath.default("/opt/cytomine-fallback"),
            dataDir: absolutePath.default("/var/lib/cytomine-fallback"),
            bindAddress: z.ipv4("an IPv4 address the proxy listens on, e.g. 0.0.0.0").default("0.0.0.0"),
            httpPort: port.default(80),
            readyTimeoutSeconds: z.number().int().min(30).max(3600).default(900),
        })
        .default({
            port: 22,
            user: "admin",
            sudo: true,
            checkHost: true,
            configDir: "/opt/cytomine-fallback",
            dataDir: "/var/lib/cytomine-fallback",
            bindAddress: "0.0.0.0",
            httpPort: 80,
            readyTimeoutSeconds: 900,
        }),
    aws: z
        .strictObject({
            region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, "an AWS region such as eu-north-1"),
            instanceType: z
                .string()
                .regex(/^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9]+$/, "an instance type such as m6i.xlarge (family.size)")
                .default("m6i.xlarge"),
            /** A pinned AMI; unset: the newest Debian 12 image of Debian's AWS account (looked up). */
            ami: z
                .string()
                .regex(/^ami-[0-9a-f]{8,17}$/, "an AMI id such as ami-0123456789abcdef0")
                .optional(),
            /** An existing subnet; unset: the stack creates a VPC and a public subnet. */
            subnetId: z
                .string()
                .regex(/^subnet-[0-9a-f]{8,17}$/, "a subnet id such as subnet-0123abcd")
                .optional(),
            vpcCidr: cidr.default("10.42.0.0/16"),
            httpCidrs: z.array(cidr).min(1).default(["0.0.0.0/0", "::/0"]),
            adminCidrs: z
                .array(cidr)
                .min(1, 'list the networks administrators connect from, e.g. ["198.51.100.0/24"]')
                .refine(
                    (l) => !l.some((c) => OPEN.has(c)),
                    "never 0.0.0.0/0 or ::/0: SSH is for administrators' networks only",
                ),
            /** The administrators' SSH public key, authorized for the login user. */
            sshPublicKey: z
                .string()
                .regex(
                    /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+=*( .*)?$/,
                    "an SSH public key (ssh-ed25519 AAAA…)",
                ),
            rootVolumeGiB: z.number().int().min(8).max(1024).default(20),
            dataVolumeGiB: z.number().int().min(10).max(16384).default(200),
        })
        .optional(),
};
