// An ephemeral stack of the project's own program against the local environment (its cluster through
// KUBECONFIG), with the given config.
import { createEphemeralStack } from "../../../lib/automation";
import type { Environment } from "../../../lib/localenv";
import type { ConfigValue } from "../../../lib/project-config";
import { repoRoot } from "../../../lib/toolchain";

export const projectStack = (env: Environment, config: Record<string, ConfigValue>) =>
    createEphemeralStack({ workDir: repoRoot, config, env: { KUBECONFIG: env.kube.kubeconfig } });
