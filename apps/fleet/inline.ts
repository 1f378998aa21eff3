// A tenant's program run inline (in this process), kept from touching the other runs in progress and
// from outliving its run. Both guard against what the SDK's inline runs share: the process.
//
// - A failing program must fail its own run only. The SDK's inline server listens for unhandled
//   rejections process-wide while a run lasts (automation/server.js), and every run in progress takes
//   any such rejection as its own error. A program's thrown error leaves two: the stack resource's
//   output promises `isKnown` and `isSecret`, which nobody awaits. They are marked handled here, so
//   the error fails its own run (thrown, as the SDK expects: a run that logs an error and returns
//   lets the engine delete what the program did not declare, measured) and no other.
// - The SDK keeps each run's state (config, the stack resource and with it every resource the program
//   declared) in a store of its own, an AsyncLocalStorage context. Native handles created during the
//   run take that context with them: the gRPC clients' DNS channels (`ChannelWrap` in a heap
//   snapshot) do, and outlive the run. So a run stays in memory for the life of the process,
//   decrypted config included (test/integration/fleet.test.ts measures it). `release` drops it.
import type { PulumiFn } from "@pulumi/pulumi/automation";
import * as sdkState from "@pulumi/pulumi/runtime/state";

/** The parts of the SDK's per-run store used here (internal to the SDK: its types are not published). */
interface RunStore {
    stackResource?: { outputs?: { isKnown?: Promise<unknown>; isSecret?: Promise<unknown> } };
    config: Record<string, string>;
    leakCandidates: Set<unknown>;
}

const state = sdkState as unknown as { getStore(): RunStore };

export interface InlineRun {
    /** The program to hand to the workspace. */
    program: PulumiFn;
    /** Drops the state of the runs the program made (call once the operation has ended). */
    release(): void;
}

export function inlineRun(program: PulumiFn): InlineRun {
    const stores: RunStore[] = [];
    return {
        program: async () => {
            const store = state.getStore();
            stores.push(store);
            try {
                return await program();
            } catch (e) {
                const outputs = store.stackResource?.outputs;
                for (const settled of [outputs?.isKnown, outputs?.isSecret]) settled?.catch(() => undefined);
                throw e;
            }
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
