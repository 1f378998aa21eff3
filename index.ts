// Cytomine Fallback: one stack per tenant. Read the validated config, refuse a realm another stack
// manages, deploy the tenant's target, apply identity to the Keycloak the target names, and export
// what operators and users need.
import { loadConfig } from "./program/config";
import { program } from "./program/errors";
import { deployIdentity } from "./program/identity";
import { assertPluginsAvailable, pluginsFor } from "./program/plugins";
import { assertRealmAvailable } from "./program/realm-ownership";
import { targetFor } from "./program/targets";

export = program(async () => {
    const loaded = loadConfig();
    const deployTarget = await targetFor(loaded.config.target);
    assertPluginsAvailable(pluginsFor(loaded.config.target));
    await assertRealmAvailable(loaded);

    const target = await deployTarget(loaded);
    const identity = deployIdentity(loaded, target.keycloak);

    return { cytomineUrl: target.publicUrl, ...target.outputs, ...identity };
});
