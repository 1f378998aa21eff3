// The program's entry point is async (it reads the cluster before declaring anything). Pulumi 3.188
// on Node 20 cannot print an error thrown from an async program: util.inspect fails on its stack
// ("RangeError: Invalid string length") and hides the real message. Such errors are therefore
// rethrown as RunErrors, which Pulumi prints as their message; an unexpected error keeps its stack
// in that message.
import * as pulumi from "@pulumi/pulumi";

function reportable(e: unknown): pulumi.RunError {
    const error = pulumi.RunError.isInstance(e)
        ? e
        : new pulumi.RunError(e instanceof Error ? (e.stack ?? e.message) : String(e));
    error.stack = error.message;
    return error;
}

/** Wraps an async Pulumi program so that every error it throws reaches the user readable. */
export function withReadableErrors<T>(main: () => Promise<T>): () => Promise<T> {
    return async () => {
        try {
            return await main();
        } catch (e) {
            throw reportable(e);
        }
    };
}
