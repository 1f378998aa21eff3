// One module per target, each returning the same shape, so that index.ts wires identity the same
// way whatever hosts Cytomine.
import type { Target } from "../config";
import { kubernetesTarget } from "./kubernetes";
import type { DeployTarget } from "./target";
import { awsTarget, sshTarget } from "./vm";

export type { TargetResult } from "./target";

const TARGETS: Record<Target, DeployTarget> = { kubernetes: kubernetesTarget, ssh: sshTarget, aws: awsTarget };

export function targetFor(target: Target): DeployTarget {
    return TARGETS[target];
}
