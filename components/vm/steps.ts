// The steps of a host's components: commands run over the component's SSH connection (the command
// provider's remote.Command), children of the component named after it.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

export type Connection = command.types.input.remote.ConnectionArgs;

/**
 * The step factory of one component: `step(part, create)` runs `create` on the host as the child
 * `${prefix}-${part}`, logging stdout and stderr (a failed step's output is then in the engine's
 * diagnostics).
 */
export function stepper(parent: pulumi.Resource, prefix: string, connection: pulumi.Input<Connection>) {
    return (
        part: string,
        create: pulumi.Input<string>,
        more: Partial<command.remote.CommandArgs> = {},
        o: pulumi.CustomResourceOptions = {},
    ) =>
        new command.remote.Command(
            `${prefix}-${part}`,
            { connection, create, logging: "stdoutAndStderr", ...more },
            { parent, ...o },
        );
}
