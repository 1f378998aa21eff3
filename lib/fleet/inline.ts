// A tenant's program run inline (in this process), and the release of what its run leaves behind.
//
// The SDK keeps each inline run's state (config, the stack resource and with it every resource the
// program declared) in a store of its own, an AsyncLocalStorage context. Native handles that Node
// creates during the run take that context with them: the DNS resolver channels of the gRPC clients
// do (`ChannelWrap` in a heap snapshot), and they outlive the run. So without a release every run
// stays in memory for the life of the process, decrypted config included: about 1 MiB per preview,
// measured, which a long-lived process such as the user page would keep adding.
import type { PulumiFn } from "@pulumi/pulumi/automation";
import * as sdkState from "@pulumi/pulumi/runtime/state";

/** Internal to the SDK (its types are not published): the store of the run in progress. */
const state = sdkState as unknown as { getStore(): RunStore };

/** The parts of the SDK's per-run store that hold the run's resources and config. */
interface RunStore {
    stackResource?: unknown;
    config: Record<string, string>;
    leakCandidates: Set<unknown>;
}

export interface InlineRun {
    /** The program to hand to the workspace. */
    program: PulumiFn;
    /** Drops the state of the runs the program made (call once the operation has ended). */
    release(): void;
}

export function inlineRun(program: PulumiFn): InlineRun {
    const stores: RunStore[] = [];
    return {
        program: () => {
            stores.push(state.getStore());
            return program();
        },
        release: () => {
            for (const store of stores.splice(0)) {
                store.stackResource = undefined;
                store.config = {};
                store.leakCandidates = new Set();
            }
        },
    };
}
