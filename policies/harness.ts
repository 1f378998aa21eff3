// Runs a policy the way @pulumi/policy 1.15's analyzer server does (server.js), without a CLI:
// properties pass through the SDK's own deserializeProperties (secrets unwrapped for validations,
// kept as Secret objects for remediations) and unknownCheckingProxy; a remediate-level policy's
// remediation runs before its validations and its violations come out as mandatory; an
// UnknownValueError escaping a policy becomes the SDK's "can't run ... during preview" advisory.
import type {
    EnforcementLevel,
    Policy,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
} from "@pulumi/policy";
import * as deserializeModule from "@pulumi/policy/deserialize";
import * as proxyModule from "@pulumi/policy/proxy";
import * as rpc from "@pulumi/pulumi/runtime/rpc";

// Internals of @pulumi/policy (their declaration files are empty: they are marked @internal).
const { deserializeProperties } = deserializeModule as unknown as {
    deserializeProperties(struct: { toJavaScript(): unknown }, proxySecrets: boolean): Record<string, unknown>;
};
const proxy = proxyModule as unknown as {
    unknownCheckingProxy<T>(props: T): T;
    UnknownValueError: new (...args: never[]) => Error;
    unknownStringValue: string;
    unknownBooleanValue: string;
    unknownNumberValue: string;
    unknownArrayValue: string;
    unknownObjectValue: string;
};

/** Values not known until the update, as the engine encodes them for each property type. */
export const unknown = {
    string: proxy.unknownStringValue,
    boolean: proxy.unknownBooleanValue,
    number: proxy.unknownNumberValue,
    array: proxy.unknownArrayValue,
    object: proxy.unknownObjectValue,
};

/** A secret value as the engine sends it (Pulumi's secret signature). */
export function secret(value: unknown): object {
    return { [rpc.specialSigKey]: rpc.specialSecretSig, value };
}

/** The properties as a policy receives them: a protobuf Struct (plain JSON), deserialized and proxied. */
function received(props: object, proxySecrets: boolean) {
    const json = JSON.parse(JSON.stringify(props));
    return proxy.unknownCheckingProxy(deserializeProperties({ toJavaScript: () => json }, proxySecrets));
}

export interface Fake {
    type: string;
    props: object;
    name?: string;
    protect?: boolean;
    additionalSecretOutputs?: string[];
    /** Names of other fakes each input depends on (validateStack's propertyDependencies). */
    propertyDependencies?: Record<string, string[]>;
}

export interface Diagnostic {
    policy: string;
    level: EnforcementLevel;
    message: string;
    urn?: string;
}

/** Policy config as the --policy-pack-config file gives it for one policy. */
export type Config = Record<string, unknown> & { enforcementLevel?: EnforcementLevel };

const urnOf = (f: Fake) => `urn:pulumi:test::cytomine-fallback::${f.type}::${f.name ?? "r"}`;

function options(f: Fake) {
    return {
        protect: f.protect ?? false,
        ignoreChanges: [],
        aliases: [],
        customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
        additionalSecretOutputs: f.additionalSecretOutputs ?? [],
    };
}

function isTypeOf(type: string) {
    return (cls: unknown) => {
        const isInstance = (cls as { isInstance?: (o: unknown) => boolean }).isInstance;
        return typeof isInstance === "function" && isInstance({ __pulumiType: type }) === true;
    };
}

function levelOf(policy: Policy, config: Config): EnforcementLevel {
    return config.enforcementLevel ?? policy.enforcementLevel ?? "advisory";
}

function getConfigOf(config: Config) {
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    const { enforcementLevel, ...properties } = config;
    return <T extends object>() => properties as T;
}

function resourceArgs(f: Fake, proxySecrets: boolean, config: Config): ResourceValidationArgs {
    const props = received(f.props, proxySecrets);
    const isType = isTypeOf(f.type);
    return {
        type: f.type,
        props,
        urn: urnOf(f),
        name: f.name ?? "r",
        opts: options(f),
        isType,
        asType: ((cls: unknown) => (isType(cls) ? props : undefined)) as ResourceValidationArgs["asType"],
        getConfig: getConfigOf(config),
    };
}

/** Runs `body`; an UnknownValueError becomes the advisory the SDK would report. */
async function guarded(policy: Policy, out: Diagnostic[], body: () => unknown) {
    try {
        await Promise.resolve(body());
    } catch (e) {
        if (!(e instanceof proxy.UnknownValueError)) throw e;
        out.push({ policy: policy.name, level: "advisory", message: `can't run policy during preview: ${e.message}` });
    }
}

/** What a resource policy reports for one resource (remediation first, as the engine runs it). */
export async function checkResource(
    policy: ResourceValidationPolicy,
    fake: Fake,
    config: Config = {},
): Promise<Diagnostic[]> {
    const out: Diagnostic[] = [];
    let level = levelOf(policy, config);
    if (level === "disabled") return out;
    if (level === "remediate") {
        if (policy.remediateResource) {
            const remediate = policy.remediateResource;
            await guarded(policy, out, async () => {
                const changed = await Promise.resolve(remediate(resourceArgs(fake, true, config)));
                if (changed) throw new Error(`${policy.name} changed properties; this harness does not apply changes`);
            });
        }
        level = "mandatory";
    }
    const validations = [policy.validateResource ?? []].flat();
    for (const validate of validations) {
        await guarded(policy, out, () =>
            validate(resourceArgs(fake, false, config), (message) => {
                out.push({ policy: policy.name, level, message });
            }),
        );
    }
    return out;
}

/** What a stack policy reports for a stack of fake resources (their props stand for outputs). */
export async function checkStack(
    policy: StackValidationPolicy,
    fakes: Fake[],
    config: Config = {},
): Promise<Diagnostic[]> {
    const out: Diagnostic[] = [];
    let level = levelOf(policy, config);
    if (level === "disabled") return out;
    if (level === "remediate") level = "mandatory";
    const byName = new Map<string, PolicyResource>();
    const resources = fakes.map((f) => {
        const props = received(f.props, false);
        const isType = isTypeOf(f.type);
        const r: PolicyResource = {
            type: f.type,
            props,
            urn: urnOf(f),
            name: f.name ?? "r",
            opts: options(f),
            dependencies: [],
            propertyDependencies: {},
            isType,
            asType: ((cls: unknown) => (isType(cls) ? props : undefined)) as PolicyResource["asType"],
        };
        byName.set(r.name, r);
        return r;
    });
    fakes.forEach((f, i) => {
        for (const [input, names] of Object.entries(f.propertyDependencies ?? {})) {
            const deps = names.map((n) => byName.get(n)).filter((d): d is PolicyResource => d !== undefined);
            resources[i].propertyDependencies[input] = deps;
            resources[i].dependencies.push(...deps);
        }
    });
    const args: StackValidationArgs = { resources, getConfig: getConfigOf(config) };
    await guarded(policy, out, () =>
        policy.validateStack(args, (message, urn) => {
            out.push({ policy: policy.name, level, message, urn });
        }),
    );
    return out;
}

/** The messages only. */
export const messages = (ds: Diagnostic[]) => ds.map((d) => d.message);
