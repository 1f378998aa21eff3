// The program (program/main.ts) run offline under Pulumi's mocks (pulumi.runtime.setMocks): every
// resource it declares is captured with its inputs as the engine would receive them, and nothing
// outside this process is reached (no engine, no plugin, no cluster, host or Keycloak).
//
// Secrets never take real values here. Secret config values are set to placeholders naming the key
// (`<secret:lsaaiClientSecret>`); generated values (@pulumi/random) answer with placeholders naming
// the resource (`<generated:lab-a-secrets-postgres-password>`), or, where the program needs a value of
// a given shape (RandomBytes' hex, turned into UUIDs), with a sentinel of that shape that is replaced
// by the placeholder once the run is over. A sentinel found afterwards in any other form means the
// program transformed a generated value in a way not known here: the capture then fails rather than
// show something that looks like a secret.
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { uuidFromHex } from "../../components/model/secrets";
import { cytomineProgram } from "../../program/main";

export interface CapturedResource {
    type: string;
    name: string;
    /** The physical id the mocks gave it (what references to it hold). */
    id: string;
    inputs: Record<string, unknown>;
}

export interface CapturedCall {
    token: string;
    id: string;
    inputs: Record<string, unknown>;
}

export interface Capture {
    /** In the order the program registered them. */
    resources: CapturedResource[];
    /** Data sources (invokes) the program called, with the id the mocks answered. */
    calls: CapturedCall[];
    /** Every placeholder a generated or config secret took. */
    placeholders: string[];
    /** The stack's outputs. */
    outputs: Record<string, unknown>;
}

export interface CaptureInput {
    project: string;
    /** The stack (the tenant's name, as the fleet names stacks). */
    stack: string;
    /** What a file:// backend calls the organization (stack owners include it). */
    organization: string;
    /** Config keys without the project prefix, values as Pulumi hands them to the program (strings). */
    config: Record<string, string>;
    /** Secret config keys (without prefix) to set, each to its placeholder. */
    secrets: readonly string[];
}

export const secretPlaceholder = (key: string) => `<secret:${key}>`;

/**
 * Secrets the program parses get a stand-in of their shape, its parts placeholders: the sdafs
 * credentials are an s3cmd-style file whose `access_token` the Kubernetes target reads
 * (components/kubernetes/datasets.ts accessTokenOf).
 */
const SECRET_SHAPES: Record<string, string> = {
    sdafsCredentials: `[default]\naccess_token = ${secretPlaceholder("sdafsCredentials:access_token")}\n`,
};

/** The value a secret config key takes in a render. */
export const secretStandIn = (key: string) => SECRET_SHAPES[key] ?? secretPlaceholder(key);
export const generatedPlaceholder = (resource: string) => `<generated:${resource}>`;
/** Any placeholder this module makes. */
export const PLACEHOLDER = /<(secret|generated):[^<>\s]+>/g;

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Stand-in outputs of a random resource, and the sentinels to replace by its placeholder afterwards. */
function randomOutputs(type: string, name: string, inputs: Any): { state: Any; sentinels: string[] } {
    const placeholder = generatedPlaceholder(name);
    if (type === "random:index/randomBytes:RandomBytes" || type === "random:index/randomId:RandomId") {
        const length = Number(inputs.length ?? inputs.byteLength ?? 16);
        const bytes = Buffer.alloc(length);
        // Deterministic and distinct per resource; long enough that a fragment identifies it.
        for (let i = 0; i < length; i += 32) crypto.createHash("sha256").update(`${name}:${i}`).digest().copy(bytes, i);
        const hex = bytes.toString("hex");
        const base64 = bytes.toString("base64");
        const state = {
            hex,
            base64,
            b64Std: base64,
            b64Url: bytes.toString("base64url"),
            dec: BigInt(`0x${hex}`).toString(),
        };
        // RandomBytes' hex becomes a UUID key (components/model/secrets.ts).
        const derived = hex.length === 32 ? [uuidFromHex(hex)] : [];
        return { state, sentinels: [...Object.values(state), ...derived] };
    }
    return { state: { result: placeholder, bcryptHash: placeholder }, sentinels: [] };
}

/** The fragments that give a sentinel away in any form: its first characters. */
const fragmentOf = (sentinel: string) => sentinel.slice(0, 10);

/** The SDK's marks of a secret value (runtime/rpc.ts): the mocks see `{ [SIG_KEY]: SECRET_SIG, value }` envelopes. */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** The value with secret envelopes opened and every string passed through `replace`. */
function replaceDeep(value: unknown, replace: (s: string) => string): unknown {
    if (typeof value === "string") return replace(value);
    if (Array.isArray(value)) return value.map((v) => replaceDeep(v, replace));
    if (value && typeof value === "object") {
        const o = value as Record<string, unknown>;
        if (o[SIG_KEY] === SECRET_SIG) return replaceDeep(o.value, replace);
        return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, replaceDeep(v, replace)]));
    }
    return value;
}

/** Runs the program offline under mocks with the given config; returns what it declared. */
export async function captureProgram(input: CaptureInput): Promise<Capture> {
    const resources: CapturedResource[] = [];
    const calls: CapturedCall[] = [];
    const sentinels = new Map<string, string>();
    const placeholders = new Set<string>(input.secrets.flatMap((k) => secretStandIn(k).match(PLACEHOLDER) ?? []));

    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                const inputs = args.inputs as Any;
                let id = `id:${args.type}:${args.name}`;
                let computed: Any = {};
                if (args.type.startsWith("random:")) {
                    const { state, sentinels: own } = randomOutputs(args.type, args.name, inputs);
                    computed = state;
                    placeholders.add(generatedPlaceholder(args.name));
                    for (const s of own) sentinels.set(s, generatedPlaceholder(args.name));
                } else if (args.type === "keycloak:index/realm:Realm") {
                    // The Keycloak provider's realm id is the realm's name.
                    id = String(inputs.realm);
                } else if (args.type === "keycloak:openid/client:Client" && inputs.serviceAccountsEnabled) {
                    computed = { serviceAccountUserId: `${id}:service-account` };
                }
                resources.push({ type: args.type, name: args.name, id, inputs });
                return { id, state: { ...inputs, ...computed } };
            },
            call: (args) => {
                const id = `call:${args.token}:${JSON.stringify(args.inputs)}`;
                calls.push({ token: args.token, id, inputs: args.inputs as Record<string, unknown> });
                return { id, ...args.inputs };
            },
        },
        input.project,
        input.stack,
        false,
        input.organization,
    );
    const config: Record<string, string> = {};
    for (const [key, value] of Object.entries(input.config)) config[`${input.project}:${key}`] = value;
    for (const key of input.secrets) config[`${input.project}:${key}`] = secretStandIn(key);
    pulumi.runtime.setAllConfig(
        config,
        input.secrets.map((k) => `${input.project}:${k}`),
    );

    const main = cytomineProgram({}, { offline: true });
    const outputs = (await pulumi.runtime.runInPulumiStack(main)) as Record<string, unknown>;
    // Registrations waiting on other resources' outputs reach the mocks after the program returns.
    await (pulumi.runtime as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs();

    const ordered = [...sentinels.keys()].sort((a, b) => b.length - a.length);
    const replace = (s: string) => ordered.reduce((text, k) => text.split(k).join(sentinels.get(k) as string), s);
    const captured: Capture = {
        resources: resources.map((r) => ({ ...r, inputs: replaceDeep(r.inputs, replace) as Record<string, unknown> })),
        calls: calls.map((c) => ({ ...c, inputs: replaceDeep(c.inputs, replace) as Record<string, unknown> })),
        placeholders: [...placeholders].sort(),
        outputs: replaceDeep(outputs ?? {}, replace) as Record<string, unknown>,
    };
    const text = JSON.stringify([captured.resources, captured.calls]);
    for (const [sentinel, placeholder] of sentinels)
        if (text.includes(fragmentOf(sentinel)))
            throw new Error(
                `the generated value ${placeholder} reaches a resource in a form apps/render/capture.ts does not know ` +
                    `(found ${fragmentOf(sentinel)}…): teach randomOutputs that form, so the render shows its placeholder`,
            );
    return captured;
}
