// One module per target, each returning the same shape, so that main.ts wires identity the same
// way whatever hosts Cytomine. A target's module (and its provider SDKs: @pulumi/aws alone is slow
// to load) is loaded only when the stack uses that target.
import type { Target } from "../config";
import type { DeployTarget } from "./target";

export type { TargetResult } from "./target";

const TARGETS: Record<Target, () => Promise<DeployTarget>> = {
    kubernetes: async () => (await import("./kubernetes")).kubernetesTarget,
    ssh: async () => (await import("./vm")).sshTarget,
    aws: async () => (await import("./vm")).awsTarget,
};

export function targetFor(target: Target): Promise<DeployTarget> {
    return TARGETS[target]();
}
