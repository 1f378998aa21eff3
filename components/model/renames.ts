// Component type tokens follow `cytomine:<module>:<Type>`, the module being the folder that renders
// it. A component renamed keeps its old token as an alias, so its resources and their children keep
// their state (the engine resolves a child under its parent's aliases too); test/unit/resource-identity
// guards the URNs.
import * as pulumi from "@pulumi/pulumi";

/** OPTS with an alias to the component's former type token. */
export function renamedFrom(
    formerType: string,
    opts: pulumi.ComponentResourceOptions | undefined,
): pulumi.ComponentResourceOptions {
    return { ...opts, aliases: [...(opts?.aliases ?? []), { type: formerType }] };
}
