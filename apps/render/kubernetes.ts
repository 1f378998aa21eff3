// The Kubernetes objects a render captured, one YAML file each: `kubernetes/<kind>-<namespace>-<name>.yaml`
// (cluster-scoped objects: `<kind>-<name>.yaml`; kind lower-case). One file per object keeps a pull
// request's diff to the objects that changed. Each is the resource's inputs as the program declared
// them (apiVersion, kind, metadata, spec/data…), i.e. what pulumi-kubernetes sends the API server;
// the provider's own additions at apply (defaults, managed fields) are not shown.
import { stringify } from "yaml";
import type { CapturedResource } from "./capture";
import { PLACEHOLDER } from "./capture";

type Obj = Record<string, unknown>;

export interface KubernetesObject {
    file: string;
    kind: string;
    namespace?: string;
    name: string;
    object: Obj;
}

const isPlaceholder = (v: unknown) => typeof v === "string" && new RegExp(`^${PLACEHOLDER.source}$`).test(v);

/** A Secret's values: each a placeholder naming where it comes from (never a value). */
function secretValues(name: string, values: unknown, encoded: boolean): Obj | undefined {
    if (!values || typeof values !== "object") return undefined;
    return Object.fromEntries(
        Object.entries(values as Obj).map(([key, v]) => {
            const text = encoded && typeof v === "string" ? Buffer.from(v, "base64").toString("utf8") : v;
            return [key, isPlaceholder(text) ? text : `<secret-value:${name}/${key}>`];
        }),
    );
}

/** The Kubernetes objects among the captured resources, sorted by kind, namespace and name. */
export function kubernetesObjects(resources: readonly CapturedResource[]): KubernetesObject[] {
    const objects = resources
        .filter((r) => r.type.startsWith("kubernetes:") && typeof r.inputs.kind === "string")
        .map((r) => {
            const { apiVersion, kind, metadata, ...rest } = r.inputs as Obj & { kind: string; metadata?: Obj };
            const name = String(metadata?.name ?? r.name);
            const namespace = metadata?.namespace === undefined ? undefined : String(metadata.namespace);
            if (kind === "Secret") {
                if (rest.data !== undefined) rest.data = secretValues(name, rest.data, true);
                if (rest.stringData !== undefined) rest.stringData = secretValues(name, rest.stringData, false);
            }
            const file = `kubernetes/${[kind.toLowerCase(), namespace, name].filter((p) => p !== undefined).join("-")}.yaml`;
            return { file, kind, namespace, name, object: { apiVersion, kind, metadata, ...rest } };
        });
    objects.sort(
        (a, b) =>
            a.kind.localeCompare(b.kind) ||
            (a.namespace ?? "").localeCompare(b.namespace ?? "") ||
            a.name.localeCompare(b.name),
    );
    const seen = new Set<string>();
    for (const o of objects) {
        if (seen.has(o.file)) throw new Error(`two Kubernetes objects render to ${o.file}`);
        seen.add(o.file);
    }
    return objects;
}

export function kubernetesFiles(resources: readonly CapturedResource[]): Record<string, string> {
    return Object.fromEntries(
        kubernetesObjects(resources).map((o) => [o.file, stringify(o.object, { lineWidth: 0, sortMapEntries: false })]),
    );
}
