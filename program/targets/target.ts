// What every target module returns, so that main.ts wires identity the same way whatever hosts
// Cytomine: the public URL, the Keycloak the realms go to (and what must serve before the provider
// may use it), and the target's own outputs.
import * as pulumi from "@pulumi/pulumi";
import type { KeycloakEndpoint } from "../../components/identity/provider";
import { repositoryOf } from "../../components/model/backups";
import type { LoadedConfig, StackConfig } from "../config";

export interface TargetResult {
    publicUrl: string;
    keycloak: {
        endpoint: KeycloakEndpoint;
        adminPassword: pulumi.Output<string>;
        /** Resources that are up once this Keycloak serves (empty for one that already runs). */
        ready: pulumi.Resource[];
    };
    outputs: Record<string, unknown>;
}

export interface TargetOptions {
    /** Read nothing outside the program (cluster, host, dataset trees): declare what a new tenant's apply would. */
    offline?: boolean;
}

/** `env`: the program's environment (the ambient kubeconfig is read from it). */
export type DeployTarget = (
    loaded: LoadedConfig,
    env: NodeJS.ProcessEnv,
    options?: TargetOptions,
) => Promise<TargetResult>;

/** The stack outputs of a tenant's backups (none without): where they go, when, how to see them, the key. */
export function backupOutputs(config: StackConfig, key: pulumi.Output<string> | undefined) {
    return config.backups
        ? {
              backups: {
                  repository: repositoryOf(config.backups.repository, config.tenant),
                  schedule: config.backups.schedule,
                  status: `npm run tenant -- backups ${config.tenant}`,
              },
              backupKey: key,
          }
        : {};
}
