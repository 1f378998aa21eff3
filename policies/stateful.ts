// State that outlives a deployment: protected from deletion and replacement outside the local stack.
import { StackValidationPolicy } from "@pulumi/policy";
import { configOf, configSchema } from "./config";
import { TYPES } from "./types";

/** Resources that hold data: Keycloak realms (users, sessions), volume claims, EBS data volumes. */
export const STATEFUL_TYPES: Record<string, string> = {
    [TYPES.realm]: "realm",
    [TYPES.persistentVolumeClaim]: "volume claim",
    [TYPES.ebsVolume]: "EBS volume",
};

export const statefulResourcesProtected: StackValidationPolicy = {
    name: "stateful-resources-protected",
    description:
        "Outside the local stack (config localStack), Keycloak realms, PersistentVolumeClaims and EBS data volumes are " +
        "created with protect, so no update can delete or replace them. Reads the resource option, always known at " +
        "preview; retainOnDelete is not visible to policies.",
    enforcementLevel: "mandatory",
    configSchema: configSchema("localStack"),
    validateStack: (args, reportViolation) => {
        if (configOf(args).localStack) return;
        for (const r of args.resources) {
            const what = STATEFUL_TYPES[r.type];
            if (what === undefined || r.opts.protect) continue;
            reportViolation(`${what} ${r.name} is not protected: create it with { protect: true }`, r.urn);
        }
    },
};
