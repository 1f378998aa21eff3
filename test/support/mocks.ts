// setMocks helpers: record every resource the program registers so tests can assert on inputs.
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

export interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export function recordResources(project = "cytomine-fallback", stack = "test"): Recorded[] {
    const recorded: Recorded[] = [];
    void pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
                // random's resources compute `result` (RandomBytes `hex`); stand in values derived from the name.
                const hex = crypto.createHash("md5").update(args.name).digest("hex");
                const computed = args.type.startsWith("random:") ? { result: `${args.name}-result`, hex } : {};
                return { id: `${args.name}-id`, state: { ...args.inputs, ...computed } };
            },
            // Data sources (e.g. keycloak.openid.getClientScope) answer with an id derived from the query.
            call: (args) => ({ id: `${args.token}-${JSON.stringify(args.inputs)}`, ...args.inputs }),
        },
        project,
        stack,
        false,
        // What a file backend calls the organization (stack owners read it).
        "organization",
    );
    return recorded;
}

/** Resolves an Output in a mocked program. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => output.apply(resolve));
}

/**
 * Waits until a resource of the given type has been registered. Registration is asynchronous once a
 * child's inputs depend on another resource's outputs; this polls a bounded number of event-loop turns.
 */
export async function registered(recorded: Recorded[], type: string, turns = 1000): Promise<Recorded> {
    for (let i = 0; i < turns; i++) {
        const found = recorded.find((r) => r.type === type);
        if (found) return found;
        await new Promise((resolve) => setImmediate(resolve));
    }
    throw new Error(`no ${type} was registered`);
}

/**
 * Waits until every registration the program has started has reached the mocks: the SDK's queue of
 * outstanding resource RPCs (what `pulumi.runtime.disconnect` drains before the program exits) is
 * empty. `waitForRPCs` is marked internal in the SDK's typings but is the one signal that covers
 * registrations waiting on other resources' outputs.
 */
export async function allRegistered(): Promise<void> {
    await (pulumi.runtime as unknown as { waitForRPCs: () => Promise<void> }).waitForRPCs();
}
