// Pod specs and containers of every Kubernetes workload kind, read through the unknown-checking
// proxy: whatever is not known at preview is left out rather than guessed.
import { TYPES, WORKLOAD_TYPES } from "./types";
import { known, listOf, Props, stringAt, Unknown, UNKNOWN } from "./values";

/** The pod spec of any workload kind (reads through the proxy: may throw UnknownValueError). */
export function podSpecOf(type: string, props: Props): Props | undefined {
    if (type === TYPES.pod) return props.spec;
    if (type === TYPES.cronJob) return props.spec?.jobTemplate?.spec?.template?.spec;
    return props.spec?.template?.spec;
}

/** The pod spec; undefined for non-workloads or a missing spec, UNKNOWN when not known yet. */
export function knownPodSpec(type: string, props: Props): Props | undefined | Unknown {
    if (!WORKLOAD_TYPES.has(type)) return undefined;
    return known(() => podSpecOf(type, props));
}

export const CONTAINER_LISTS = ["initContainers", "containers", "ephemeralContainers"] as const;

/** Every container (init, regular, ephemeral) whose list is known. */
export function containersOf(type: string, props: Props): Props[] {
    const spec = knownPodSpec(type, props);
    if (spec === UNKNOWN || spec === undefined) return [];
    return CONTAINER_LISTS.flatMap((list) => {
        const containers = listOf(() => spec[list]);
        return containers === UNKNOWN ? [] : containers;
    });
}

/** A container's name for messages. */
export function containerName(c: Props): string {
    const name = stringAt(() => c.name);
    return typeof name === "string" ? name : "(unnamed)";
}

/** The workload's namespace: a string, undefined when unset, UNKNOWN when not known yet. */
export function namespaceOf(props: Props): string | undefined | Unknown {
    return stringAt(() => props.metadata?.namespace);
}
