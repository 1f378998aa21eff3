// The program: read the validated config, refuse a realm another stack manages, deploy the tenant's
// target, apply identity to the Keycloak the target names, and export what operators and users need.
//
// What it reads of its environment (where plugins are, which cluster) comes in as `env` rather than
// from process.env: the fleet runs many tenants' programs in its own process (inline programs of the
// Automation API), each with the environment its CLI has.
import { loadConfig } from "./config";
import { withReadableErrors } from "./errors";
import { deployIdentity } from "./identity";
import { assertPluginsAvailable, defaultLookup, pluginsFor } from "./preflight/plugins";
import { assertRealmAvailable } from "./preflight/realm-ownership";
import { targetFor } from "./targets";

/** How the program runs; every option is off for `pulumi preview` and `up`. */
export interface ProgramOptions {
    /**
     * Declare exactly what an apply of a new tenant would, reaching nothing outside the program: no
     * plugin preflight, no realm ownership read, no read of the cluster, the SSH host or dataset trees
     * (`npm run render`, which runs the program under mocks; apps/render/).
     */
    offline?: boolean;
}

export function cytomineProgram(env: NodeJS.ProcessEnv, options: ProgramOptions = {}) {
    const offline = options.offline === true;
    return withReadableErrors(async () => {
        const loaded = loadConfig();
        const deployTarget = await targetFor(loaded.config.target);
        if (!offline) {
            assertPluginsAvailable(pluginsFor(loaded.config.target), defaultLookup(env));
            await assertRealmAvailable(loaded);
        }

        const target = await deployTarget(loaded, env, { offline });
        const identity = deployIdentity(loaded, target.keycloak);

        return { cytomineUrl: target.publicUrl, ...target.outputs, ...identity };
    });
}
