// Cytomine Fallback: reads the validated stack config and wires the components together.
import * as k8s from "@pulumi/kubernetes";
import { loadConfig } from "./components/config";
import { TenantNamespace } from "./components/kubernetes/namespace";
import { assertPluginsAvailable, pluginsFor } from "./components/plugins";

const config = loadConfig();

assertPluginsAvailable(pluginsFor(config.target));

const cluster = new k8s.Provider("cluster", {
    renderYamlToDirectory: config.renderDir || undefined,
});

const tenant = new TenantNamespace(config.tenant, { namespace: config.tenant }, { providers: { kubernetes: cluster } });

export const namespace = tenant.name;
export const cytomineUrl = config.publicUrl;
