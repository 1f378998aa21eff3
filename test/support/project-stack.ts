// An ephemeral stack of the project's own program against the local environment (its cluster through
// KUBECONFIG), with the given config.
import { createEphemeralStack } from "./automation";
import type { Environment } from "../../localenv";
import type { ConfigValue } from "./project-config";
import { repoRoot } from "../../toolchain/index";

export const projectStack = (env: Environment, config: Record<string, ConfigValue>) =>
    createEphemeralStack({ workDir: repoRoot, config, env: { KUBECONFIG: env.kube.kubeconfig } });
