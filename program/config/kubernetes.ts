// Keys of the Kubernetes target: namespace, volume sizes, routing, placement, render mode.
import { z } from "zod";
import { ROUTINGS } from "../../components/kubernetes/routes";
import { DEFAULT_STORAGE, namespaceProblem, quantityProblem, StorageKey } from "../../components/model/settings";
import { validString, overrides } from "./checks";

const namespaceName = validString(namespaceProblem);
// `pulumi config set --path 'nodeSelector["cytomine.dev/real-node"]' true` stores a boolean; label
// values are strings.
const labelValue = z.union([z.string(), z.boolean(), z.number()]).transform(String);

export const kubernetesKeys = {
    renderDir: z.string().default(""),
    namespace: namespaceName.optional(),
    storage: overrides(Object.keys(DEFAULT_STORAGE) as [StorageKey], quantityProblem),
    routing: z.enum(ROUTINGS).default("ingress"),
    ingressClass: z.string().min(1).default("nginx"),
    routerNamespace: namespaceName.default("ingress-nginx"),
    gateway: z
        .string()
        .regex(
            /^[a-z0-9][-a-z0-9]*\/[a-z0-9][-a-z0-9.]*$/,
            "<namespace>/<name> of the Gateway, e.g. gateway-system/public",
        )
        .optional(),
    tlsSecret: z.string().min(1).optional(),
    // The StorageClass of the tenant's volume claims; empty: the cluster's default.
    storageClass: z.string().default(""),
    // Where the tenant's pods run: node labels they require, taints they tolerate. The local
    // environment's real node: nodeSelector {"cytomine.dev/real-node": "true"} with its toleration.
    nodeSelector: z.record(z.string().min(1), labelValue).default({}),
    tolerations: z
        .array(
            z
                .object({
                    key: z.string().min(1),
                    operator: z.enum(["Equal", "Exists"]).default("Equal"),
                    value: labelValue.optional(),
                    effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
                })
                .strict(),
        )
        .default([]),
};
