// Where a tenant's pods may run: the check, before anything is declared, that some Ready node takes
// them (its labels match the nodeSelector, its taints are tolerated), as the scheduler would judge.
import type { Placement } from "../../components/kubernetes/workload";

/** What the check reads of a node. */
export interface NodeFacts {
    name: string;
    labels: Record<string, string>;
    ready: boolean;
    taints: { key: string; value?: string; effect: string }[];
}

type Toleration = Placement["tolerations"][number];

/** Whether a toleration tolerates a taint (https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/). */
function tolerates(t: Toleration, taint: NodeFacts["taints"][number]): boolean {
    const tt = t as { key?: string; operator?: string; value?: string; effect?: string };
    if (tt.effect !== undefined && tt.effect !== taint.effect) return false;
    if (tt.key !== undefined && tt.key !== taint.key) return false;
    return tt.operator === "Exists" || (tt.value ?? "") === (taint.value ?? "");
}

/** Why node cannot run the tenant's pods; undefined when it can. */
export function nodeRefusal(node: NodeFacts, placement: Placement): string | undefined {
    if (!node.ready) return "not Ready";
    const unmatched = Object.entries(placement.nodeSelector).filter(([k, v]) => node.labels[k] !== v);
    if (unmatched.length > 0) return `no label ${unmatched.map(([k, v]) => `${k}=${v}`).join(", ")}`;
    const blocking = node.taints.filter(
        (taint) => taint.effect !== "PreferNoSchedule" && !placement.tolerations.some((t) => tolerates(t, taint)),
    );
    if (blocking.length > 0) {
        return `taint ${blocking.map((t) => `${t.key}${t.value ? `=${t.value}` : ""}:${t.effect}`).join(", ")} not tolerated`;
    }
    return undefined;
}

/**
 * The config issue when a placement is set and no node takes the tenant's pods, naming the keys and
 * each node's reason; undefined when a node does, or nothing is asked.
 */
export function placementProblem(project: string, nodes: NodeFacts[], placement: Placement): string | undefined {
    if (Object.keys(placement.nodeSelector).length === 0 && placement.tolerations.length === 0) return undefined;
    const reasons = nodes.map((n) => ({ name: n.name, why: nodeRefusal(n, placement) }));
    if (reasons.some((r) => r.why === undefined)) return undefined;
    return (
        `${project}:nodeSelector = ${JSON.stringify(placement.nodeSelector)} (with ${project}:tolerations) ` +
        `matches no Ready node that would take the tenant's pods: ` +
        (reasons.length ? reasons.map((r) => `${r.name}: ${r.why}`).join("; ") : "the cluster has no nodes") +
        `. Fix: start that node (the local environment's real node: 'npm run env:up'), or change nodeSelector ` +
        `and tolerations to match a Ready node`
    );
}
