// What a preview means for the pull request: the exit code, the reasons behind it, the labels.
import type { ChangedResource, Diagnostic, PreviewModel } from "./model";

export const EXIT = {
    noChanges: 0,
    error: 1,
    changes: 2,
    blocked: 3,
} as const;

export type Verdict = "no-changes" | "changes" | "blocked" | "failed";

/** The labels this tool owns: set the ones that apply, remove the others. */
export const LABELS = {
    replace: "pulumi:replace",
    delete: "pulumi:delete",
    noChanges: "pulumi:no-changes",
    policy: "pulumi:policy-violation",
} as const;
export const MANAGED_LABELS: readonly string[] = Object.values(LABELS);

export interface Classification {
    exitCode: 0 | 1 | 2 | 3;
    verdict: Verdict;
    /** One sentence per reason for a blocked or failed verdict. */
    reasons: string[];
    labels: { add: string[]; remove: string[] };
    /** Stateful replacements and deletions (allowed or not). */
    stateful: ChangedResource[];
    statefulAllowed: boolean;
}

export interface ClassifyOptions {
    /** Stateful replacements and deletions are expected (e.g. a planned migration). */
    allowStatefulChanges?: boolean;
    /** The preview itself failed (the Automation API threw), beyond what the events say. */
    previewFailed?: string;
}

/**
 * The engine closes every failed preview with a bare "preview failed" error. When a mandatory
 * violation or another error explains the failure, it says nothing more and is not counted (a
 * mandatory violation alone is reported as "1 mandatory policy violation", not also as an error);
 * alone, it is the only sign of the failure and counts.
 */
export function isClosingFailure(d: Diagnostic): boolean {
    return d.severity === "error" && d.urn === undefined && d.message === "preview failed";
}

export function countedErrors(model: PreviewModel): Diagnostic[] {
    const errors = model.diagnostics.filter((d) => d.severity === "error");
    const explained = model.policies.some((p) => p.level === "mandatory") || errors.some((d) => !isClosingFailure(d));
    return explained ? errors.filter((d) => !isClosingFailure(d)) : errors;
}

const NOT_CHANGES = new Set(["same", "read", "refresh", "read-replacement", "discard", "discard-replaced"]);

export function hasChanges(model: PreviewModel): boolean {
    if (model.changes.length > 0) return true;
    return Object.entries(model.counts).some(([op, n]) => !NOT_CHANGES.has(op) && (n ?? 0) > 0);
}

/**
 * 3 when a mandatory policy is violated or a stateful resource would be replaced or deleted without
 * permission (even when the preview failed: a mandatory violation fails it), else 1 when the preview
 * failed, else 2 for changes and 0 for none.
 */
export function classify(model: PreviewModel, opts: ClassifyOptions = {}): Classification {
    const stateful = model.changes.filter((c) => c.stateful && (c.op === "replace" || c.op === "delete"));
    const statefulAllowed = opts.allowStatefulChanges === true;
    const mandatory = model.policies.filter((p) => p.level === "mandatory");
    const errors = countedErrors(model);
    const reasons: string[] = [];

    if (mandatory.length > 0) {
        const n = mandatory.length;
        reasons.push(`${n} mandatory policy violation${n === 1 ? "" : "s"}`);
    }
    if (stateful.length > 0 && !statefulAllowed) {
        const n = stateful.length;
        reasons.push(
            `${n} stateful resource${n === 1 ? "" : "s"} would be replaced or deleted (allowed only with --allow-stateful-changes)`,
        );
    }
    const failed = opts.previewFailed !== undefined || errors.length > 0 || !model.complete;
    const blocked = reasons.length > 0;
    if (failed) {
        if (errors.length > 0)
            reasons.push(`the preview reported ${errors.length === 1 ? "an error" : `${errors.length} errors`}`);
        else if (opts.previewFailed) reasons.push(`the preview failed: ${opts.previewFailed}`);
        else reasons.push("the preview ended without a summary");
    }
    const verdict: Verdict = blocked ? "blocked" : failed ? "failed" : hasChanges(model) ? "changes" : "no-changes";

    const ops = new Set(model.changes.map((c) => c.op));
    const add: string[] = [];
    if (ops.has("replace") || (model.counts.replace ?? 0) > 0) add.push(LABELS.replace);
    if (ops.has("delete") || (model.counts.delete ?? 0) > 0) add.push(LABELS.delete);
    if (verdict === "no-changes") add.push(LABELS.noChanges);
    // Advisory violations count too: the label says "look at the policy table", not "blocked".
    if (model.policies.some((p) => p.level !== "disabled")) add.push(LABELS.policy);
    const remove = MANAGED_LABELS.filter((l) => !add.includes(l));

    const exitCode =
        verdict === "blocked"
            ? EXIT.blocked
            : verdict === "failed"
              ? EXIT.error
              : verdict === "changes"
                ? EXIT.changes
                : EXIT.noChanges;
    return { exitCode, verdict, reasons, labels: { add, remove }, stateful, statefulAllowed };
}
