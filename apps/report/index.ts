// A pull-request report of a Pulumi preview, from the Automation API's engine events: the comment
// (size-limited), the full report, a JSON form for machines, labels and an exit code; refused when
// any of it would reveal a secret value of the stack.
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { Classification, classify } from "./classify";
import { COMMENT_LIMIT, Category, marker, renderMarkdown } from "./markdown";
import { ChangedResource, PreviewModel, collectPreview } from "./model";
import { SecretValue, assertNoSecrets } from "./secrets";

export * from "./classify";
export * from "./jsonl";
export * from "./markdown";
export * from "./model";
export * from "./secrets";

export interface ReportOptions {
    /** The stack name for the marker; defaults to the one in the events' URNs. */
    stack?: string;
    allowStatefulChanges?: boolean;
    /** Set when the preview itself failed (the error's first line). */
    previewFailed?: string;
    /** Every decrypted secret value of the stack's config and state, to search the output for. */
    secrets?: SecretValue[];
    /** Config keys whose values are secret. */
    secretConfigKeys?: string[];
    limit?: number;
}

export interface ReportJson {
    stack: string;
    marker: string;
    exitCode: number;
    verdict: Classification["verdict"];
    reasons: string[];
    /** The failed preview's own error line, when it failed. */
    previewFailed?: string;
    labels: { add: string[]; remove: string[] };
    counts: PreviewModel["counts"];
    complete: boolean;
    statefulChanges: { urn: string; op: string; why: string; allowed: boolean }[];
    changes: (Omit<ChangedResource, "component"> & { component?: string })[];
    policyViolations: PreviewModel["policies"];
    diagnostics: PreviewModel["diagnostics"];
    comment: { length: number; limit: number; truncated: boolean; omitted: Partial<Record<Category, number>> };
}

export interface Report {
    stack: string;
    model: PreviewModel;
    classification: Classification;
    exitCode: number;
    /** The PR comment (within the limit). */
    markdown: string;
    /** Everything, for the job's artifacts. */
    full: string;
    json: ReportJson;
    jsonText: string;
    labelsText: string;
}

/**
 * Builds every output from the events; throws SecretLeakError (naming sources only) when any output
 * contains one of `opts.secrets`, so callers write nothing.
 */
export function buildReport(events: Iterable<EngineEvent>, opts: ReportOptions = {}): Report {
    const model = collectPreview(events);
    const stack = opts.stack ?? model.stack ?? "unknown";
    const classification = classify(model, opts);
    const limit = opts.limit ?? COMMENT_LIMIT;
    const rendered = renderMarkdown(model, classification, { stack, limit, secretConfigKeys: opts.secretConfigKeys });
    const json: ReportJson = {
        stack,
        marker: marker(stack),
        exitCode: classification.exitCode,
        verdict: classification.verdict,
        reasons: classification.reasons,
        previewFailed: opts.previewFailed,
        labels: classification.labels,
        counts: model.counts,
        complete: model.complete,
        statefulChanges: classification.stateful.map((c) => ({
            urn: c.urn,
            op: c.op,
            why: c.stateful === "type" ? `type ${c.type}` : "protected",
            allowed: classification.statefulAllowed,
        })),
        changes: model.changes.map(({ component, ...c }) => ({
            ...c,
            component: component ? [component.type, component.name].filter(Boolean).join(" ") : undefined,
        })),
        policyViolations: model.policies,
        diagnostics: model.diagnostics,
        comment: {
            length: rendered.markdown.length,
            limit,
            truncated: rendered.truncated,
            omitted: rendered.omitted,
        },
    };
    const jsonText = JSON.stringify(json, null, 2) + "\n";
    const labelsText = JSON.stringify(classification.labels, null, 2) + "\n";
    assertNoSecrets(
        [
            { name: "report.md", text: rendered.markdown },
            { name: "report.full.md", text: rendered.full },
            { name: "report.json", text: jsonText },
        ],
        opts.secrets ?? [],
    );
    return {
        stack,
        model,
        classification,
        exitCode: classification.exitCode,
        markdown: rendered.markdown,
        full: rendered.full,
        json,
        jsonText,
        labelsText,
    };
}
