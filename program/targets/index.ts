// One module per target, each returning the same shape. A target the config accepts but this
// version cannot deploy stops the preview with the key and what is available, instead of deploying
// identity alone.
import { ConfigError, PROJECT, Target } from "../config";
import { kubernetesTarget } from "./kubernetes";
import { sshTarget } from "./vm";
import type { DeployTarget } from "./target";

export type { TargetResult } from "./target";

const AVAILABLE: Partial<Record<Target, DeployTarget>> = { kubernetes: kubernetesTarget, ssh: sshTarget };

/** The deploy function of the configured target, or a ConfigError naming `target`. */
export function targetFor(target: Target): DeployTarget {
    const deploy = AVAILABLE[target];
    if (deploy) return deploy;
    throw new ConfigError([
        `${PROJECT}:target = "${target}": this version cannot deploy it yet; ` +
            `available: ${Object.keys(AVAILABLE).join(", ")}`,
    ]);
}
