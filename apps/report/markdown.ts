// The pull-request comment: a summary, the replacements and deletions that matter (stateful first,
// in a warning block), policy violations, errors, then collapsed detail by component. The comment
// stays under a size limit by dropping detail rows least important first; the summary and every
// replace/delete line stay. The same document without the limit is the full report.
import { type Classification, countedErrors } from "./classify";
import type { ChangedResource, Diagnostic, PolicyViolation, PreviewModel } from "./model";
import { parseUrn } from "./model";
import { BLINDED, UNKNOWN_VALUE, blind } from "./secrets";
import { RELEASE_CHANGE } from "../../components/model/release";

/** GitHub refuses comments over 65,536 characters; this leaves room for the marker and edits. */
export const COMMENT_LIMIT = 60_000;

export function marker(stack: string): string {
    return `<!-- cytomine-fallback-preview:${stack} -->`;
}

export interface RenderOptions {
    stack: string;
    limit?: number;
    /** Config keys whose values are secret (blinded even if the prelude showed them). */
    secretConfigKeys?: string[];
    /** Where the full report is, for the note on what was left out. */
    fullReportName?: string;
}

export interface Rendered {
    /** The comment, at most `limit` characters. */
    markdown: string;
    /** Everything, without a limit (written as an artifact). */
    full: string;
    truncated: boolean;
    /** Rows left out of the comment, by category. */
    omitted: Partial<Record<Category, number>>;
}

// Detail categories, least important first: this is the order in which they are dropped.
export const DROP_ORDER = [
    "config",
    "info",
    "create",
    "update",
    "replaceDetail",
    "advisory",
    "warning",
    "mandatory",
    "error",
] as const;
export type Category = (typeof DROP_ORDER)[number] | "required";

const CATEGORY_NOTE: Record<Category, string> = {
    config: "configuration and output rows",
    info: "info messages",
    create: "rows of created resources",
    update: "rows of updated or imported resources",
    replaceDetail: "detail rows of replaced or deleted resources (each is still listed above)",
    advisory: "advisory policy violations",
    warning: "warnings",
    mandatory: "mandatory policy violations",
    error: "errors",
    required: "replace/delete lines",
};

interface Row {
    cat: Category;
    text: string;
    /** A shorter form for required rows, used only when they alone overflow the limit. */
    compact?: string;
}

type Block = { text: string } | { header: string; rows: Row[]; footer: string } | { note: true };

const OP_ORDER = ["replace", "delete", "create", "update", "import"];

// ---- Markdown helpers -------------------------------------------------------------------------

function html(s: string): string {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Plain text that must not turn into Markdown or HTML. */
function text(s: string, inTable = false): string {
    const t = html(s).replace(/([\\`*_[\]])/g, "\\$1");
    return inTable ? t.replace(/\|/g, "\\|").replace(/\r?\n/g, " ") : t;
}

/** An inline code span; in tables "|" is escaped (GFM unescapes it inside code spans there). */
function code(s: string, inTable = false): string {
    let t = s.replace(/\r?\n/g, " ");
    if (inTable) t = t.replace(/\|/g, "\\|");
    // An empty code span is not one in Markdown: "``" would show as two backticks.
    if (t === "") return "*(empty)*";
    if (!t.includes("`")) return `\`${t}\``;
    const run = Math.max(...(t.match(/`+/g) ?? [""]).map((m) => m.length)) + 1;
    const fence = "`".repeat(run);
    return `${fence} ${t} ${fence}`;
}

function fenced(s: string): string {
    const run = Math.max(2, ...(s.match(/`+/g) ?? [""]).map((m) => m.length)) + 1;
    const fence = "`".repeat(run);
    return `${fence}text\n${s}\n${fence}`;
}

function clip(s: string, max: number): string {
    return s.length <= max ? s : `${s.slice(0, max)}… (${s.length - max} more characters)`;
}

function plural(n: number, word: string): string {
    return `${n.toLocaleString("en-US")} ${word}${n === 1 ? "" : "s"}`;
}

// ---- Pieces -------------------------------------------------------------------------------------

function componentLabel(c: ChangedResource): string {
    if (!c.component) return "";
    return c.component.name ? `${code(c.component.type)} ${code(c.component.name)}` : code(c.component.type);
}

function resourceLine(c: ChangedResource): Row {
    const notes: string[] = [];
    if (c.protect) notes.push("protected: `pulumi up` refuses until the protection is lifted");
    if (c.op === "delete" && c.retainOnDelete) notes.push("retainOnDelete: left in place, no longer managed");
    if (c.deleteFirst) notes.push("deleted before its replacement exists");
    // A component's own line does not say it is in itself.
    const self = c.component?.type === c.type && c.component?.name === c.name;
    const where = c.component && !self ? ` in ${componentLabel(c)}` : "";
    let why: string;
    if (c.op === "replace") {
        why = c.replaceReasons.length
            ? `forced by ${c.replaceReasons.map((p) => code(p)).join(", ")}`
            : "no reason given by the provider";
    } else {
        why = "no longer declared by the program";
    }
    const extra = notes.length ? ` (${notes.join("; ")})` : "";
    return {
        cat: "required",
        text: `- **${c.op}** ${code(c.type)} **${text(c.name)}**${where} — ${why}${extra}`,
        compact: `- **${c.op}** ${code(c.type)} ${code(c.name)}`,
    };
}

function diffCell(c: ChangedResource): string {
    if (c.op === "create" || c.op === "delete" || c.diffs.length === 0) return "";
    const shown = c.diffs.slice(0, 12).map((d) => {
        const forces = d.kind.endsWith("-replace") || c.replaceReasons.includes(d.path);
        const mark = forces ? " (replace)" : d.kind.startsWith("add") ? " (add)" : "";
        return `${code(d.path, true)}${mark}`;
    });
    if (c.diffs.length > 12) shown.push(`+${c.diffs.length - 12} more`);
    return shown.join(", ");
}

function componentRow(c: ChangedResource): Row {
    const cat: Category =
        c.op === "create" ? "create" : c.op === "replace" || c.op === "delete" ? "replaceDetail" : "update";
    const op = c.stateful && (c.op === "replace" || c.op === "delete") ? `**${c.op}** ⚠️` : c.op;
    return { cat, text: `| ${op} | ${code(c.name, true)} | ${code(c.type, true)} | ${diffCell(c)} |` };
}

function shortUrn(urn: string | undefined): string {
    if (!urn) return "stack";
    const u = parseUrn(urn);
    return `${code(u.name, true)} (${code(u.type, true)})`;
}

function policyRow(p: PolicyViolation): Row {
    const level = p.level === "mandatory" ? "**mandatory**" : text(p.level, true);
    const message = text(clip(p.detail || p.description, 400), true);
    return {
        cat: p.level === "mandatory" ? "mandatory" : "advisory",
        text: `| ${level} | ${text(`${p.pack} ${p.packVersion}`.trim(), true)} | ${code(p.policy, true)} | ${shortUrn(p.urn)} | ${message} |`,
    };
}

function diagnosticRow(d: Diagnostic, max: number): Row {
    const where = d.urn ? ` at ${shortUrn(d.urn)}` : "";
    return {
        cat: d.severity,
        text: `\n**${d.severity}**${where}:\n\n${fenced(clip(d.message, max))}`,
    };
}

function displayValue(v: unknown): string {
    const b = blind(v);
    if (b === UNKNOWN_VALUE) return "(known after apply)";
    if (typeof b === "string") return b;
    return JSON.stringify(b, (_k, x: unknown) => (x === UNKNOWN_VALUE ? "(known after apply)" : x));
}

// ---- The document ------------------------------------------------------------------------------

function summaryTable(model: PreviewModel): string {
    const rows = Object.entries(model.counts)
        .filter(([, n]) => (n ?? 0) > 0)
        .sort(([a], [b]) => rank(a) - rank(b))
        .map(([op, n]) => `| ${op === "same" ? "unchanged" : op} | ${(n ?? 0).toLocaleString("en-US")} |`);
    if (rows.length === 0) rows.push("| (no resources) | 0 |");
    return ["| operation | resources |", "| --- | ---: |", ...rows].join("\n");
}

const isReleaseChange = (d: Diagnostic) => RELEASE_CHANGE.test(d.message.trim());

function rank(op: string): number {
    const i = OP_ORDER.indexOf(op);
    return i >= 0 ? i : op === "same" ? 99 : 50;
}

// Says whether policies ran at all, so that an empty violation list means something. Local packs
// are named "<name>|local|<path>" in the summary event.
function policyPacksLine(model: PreviewModel): string {
    if (!model.complete) return "Policy packs: not known (the preview ended without a summary).";
    const packs = Object.entries(model.policyPacks).map(([k, v]) => `${code(k.split("|")[0])} ${text(v)}`);
    return packs.length > 0 ? `Policy packs: ${packs.sort().join(", ")}.` : "No policy pack ran.";
}

function verdictLine(model: PreviewModel, cls: Classification): string {
    const changed = Object.entries(model.counts)
        .filter(([op, n]) => op !== "same" && (n ?? 0) > 0)
        .sort(([a], [b]) => rank(a) - rank(b))
        .map(([op, n]) => `${(n ?? 0).toLocaleString("en-US")} to ${op}`)
        .join(", ");
    switch (cls.verdict) {
        case "no-changes":
            return "**No changes.**";
        case "changes":
            return `**Changes:** ${changed}.`;
        case "blocked":
            return `⛔ **Blocked:** ${cls.reasons.map((r) => text(r)).join("; ")}.${changed ? ` Planned: ${changed}.` : ""}`;
        case "failed":
            return `❌ **Preview failed:** ${cls.reasons.map((r) => text(r)).join("; ")}.`;
    }
}

// Replacements and deletions first (stateful ones first among them), a component before its children.
function byImportance(a: ChangedResource, b: ChangedResource): number {
    const risky = (c: ChangedResource) => Number(!(c.stateful && (c.op === "replace" || c.op === "delete")));
    const self = (c: ChangedResource) => Number(c.component?.type !== c.type);
    return (
        rank(a.op) - rank(b.op) ||
        risky(a) - risky(b) ||
        self(a) - self(b) ||
        a.type.localeCompare(b.type) ||
        a.name.localeCompare(b.name)
    );
}

function buildBlocks(model: PreviewModel, cls: Classification, opts: RenderOptions, full: boolean): Block[] {
    const blocks: Block[] = [];
    blocks.push({ text: `${marker(opts.stack)}\n### Pulumi preview of ${code(opts.stack)}\n` });
    blocks.push({ text: `${verdictLine(model, cls)}\n\n${summaryTable(model)}\n\n${policyPacksLine(model)}\n` });

    // A change of Cytomine's release or Keycloak's version (the program's warning) leads: services
    // migrate their databases.
    const releaseChanges = model.diagnostics.filter((d) => d.severity === "warning" && isReleaseChange(d));
    if (releaseChanges.length > 0) {
        blocks.push({
            header: "> [!IMPORTANT]\n> **Cytomine's release or Keycloak's version changes.**\n>",
            rows: releaseChanges.map((d) => ({ cat: "required", text: `> ${text(d.message.trim(), true)}` })),
            footer: "",
        });
    }

    const replaceOrDelete = model.changes.filter((c) => c.op === "replace" || c.op === "delete").sort(byImportance);
    const stateful = replaceOrDelete.filter((c) => c.stateful);
    const others = replaceOrDelete.filter((c) => !c.stateful);

    if (stateful.length > 0) {
        const verdict = cls.statefulAllowed
            ? "Allowed for this run (`--allow-stateful-changes`)."
            : "Not allowed without `--allow-stateful-changes`: make sure the data is backed up or migrated first.";
        blocks.push({
            header:
                `> [!CAUTION]\n> **${plural(stateful.length, "stateful resource")} would be replaced or deleted,** ` +
                `and data may go with ${stateful.length === 1 ? "it" : "them"}. ${verdict}\n>`,
            rows: stateful.map((c) => {
                const r = resourceLine(c);
                return { ...r, text: `> ${r.text}`, compact: `> ${r.compact}` };
            }),
            footer: "",
        });
    }
    if (others.length > 0) {
        blocks.push({
            header: "#### Replacements and deletions\n",
            rows: others.map(resourceLine),
            footer: "",
        });
    }

    const policies = [...model.policies].sort(
        (a, b) =>
            Number(b.level === "mandatory") - Number(a.level === "mandatory") ||
            a.pack.localeCompare(b.pack) ||
            a.policy.localeCompare(b.policy) ||
            (a.urn ?? "").localeCompare(b.urn ?? ""),
    );
    if (policies.length > 0) {
        blocks.push({
            header:
                `#### Policy violations\n\n` +
                `| level | pack | rule | resource | message |\n| --- | --- | --- | --- | --- |`,
            rows: policies.map(policyRow),
            footer: "",
        });
    }

    const maxMessage = full ? 50_000 : 1_500;
    const errors = countedErrors(model);
    if (errors.length > 0) {
        blocks.push({ header: "#### Errors", rows: errors.map((d) => diagnosticRow(d, maxMessage)), footer: "" });
    }
    for (const severity of ["warning", "info"] as const) {
        const ds = model.diagnostics.filter((d) => d.severity === severity && !isReleaseChange(d));
        if (ds.length === 0) continue;
        blocks.push({
            header: `<details><summary>${plural(ds.length, severity === "info" ? "info message" : "warning")}</summary>`,
            rows: ds.map((d) => diagnosticRow(d, maxMessage)),
            footer: "\n</details>\n",
        });
    }

    // Changes by component, groups with replacements or deletions first.
    const groups = new Map<string, { label: string; changes: ChangedResource[] }>();
    for (const c of model.changes) {
        const key = c.component ? `${c.component.type}\0${c.component.name ?? ""}` : "";
        const label = c.component
            ? `<code>${html(c.component.type)}</code>${c.component.name ? ` <b>${html(c.component.name)}</b>` : ""}`
            : "outside components";
        const g = groups.get(key) ?? { label, changes: [] };
        g.changes.push(c);
        groups.set(key, g);
    }
    const ordered = [...groups.entries()]
        .map(([key, g]) => ({ key, ...g, top: Math.min(...g.changes.map((c) => rank(c.op))) }))
        .sort((a, b) => a.top - b.top || Number(a.key === "") - Number(b.key === "") || a.key.localeCompare(b.key));
    if (ordered.length > 0) blocks.push({ text: "#### Changes by component\n" });
    for (const g of ordered) {
        const counts = new Map<string, number>();
        for (const c of g.changes) counts.set(c.op, (counts.get(c.op) ?? 0) + 1);
        const what = [...counts.entries()]
            .sort(([a], [b]) => rank(a) - rank(b))
            .map(([op, n]) => `${n.toLocaleString("en-US")} ${op}`)
            .join(", ");
        blocks.push({
            header:
                `<details><summary>${g.label}: ${what}</summary>\n\n` +
                `| operation | resource | type | changed properties |\n| --- | --- | --- | --- |`,
            rows: [...g.changes].sort(byImportance).map(componentRow),
            footer: "\n</details>\n",
        });
    }

    const secretKeys = new Set(opts.secretConfigKeys ?? []);
    const configRows: Row[] = Object.entries(model.config)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => ({
            cat: "config",
            text: `| config | ${code(k, true)} | ${code(clip(secretKeys.has(k) ? BLINDED : v, 200), true)} |`,
        }));
    const outputRows: Row[] = Object.entries(model.outputs)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => ({
            cat: "config",
            text: `| output | ${code(k, true)} | ${code(clip(displayValue(v), 200), true)} |`,
        }));
    if (configRows.length + outputRows.length > 0) {
        blocks.push({
            header: `<details><summary>Configuration and outputs (secrets shown as <code>${BLINDED}</code>)</summary>\n\n| | key | value |\n| --- | --- | --- |`,
            rows: [...configRows, ...outputRows],
            footer: "\n</details>\n",
        });
    }

    blocks.push({ note: true });
    return blocks;
}

type Limits = Partial<Record<Category, number>>;

// Measures (cheap: no string building, used by the searches below) or builds the document with at
// most limits[cat] rows of each category.
function assemble(
    blocks: Block[],
    limits: Limits,
    compact: boolean,
    note: (omitted: Limits) => string,
    measureOnly = false,
): { text: string; length: number; omitted: Limits } {
    const used: Partial<Record<Category, number>> = {};
    const omitted: Limits = {};
    const parts: (string | string[] | null)[] = [];
    let length = 0;
    let notePos = -1;
    for (const b of blocks) {
        if ("note" in b) {
            notePos = parts.length;
            parts.push(null);
        } else if ("text" in b) {
            parts.push(b.text);
            length += b.text.length + 1;
        } else {
            const kept: string[] = [b.header];
            for (const r of b.rows) {
                const n = used[r.cat] ?? 0;
                if (n < (limits[r.cat] ?? Infinity)) {
                    used[r.cat] = n + 1;
                    kept.push(compact && r.compact ? r.compact : r.text);
                } else {
                    omitted[r.cat] = (omitted[r.cat] ?? 0) + 1;
                }
            }
            if (kept.length === 1) continue;
            const left = b.rows.length - (kept.length - 1);
            // A table that lost rows says so in place, so nobody reads it as complete.
            const rule = b.header.split("\n").find((l) => l.startsWith("| ---"));
            if (left > 0 && rule) {
                const cols = (rule.match(/\|/g) ?? []).length - 1;
                kept.push(
                    `| … | ${plural(left, "more row")} in the full report |${" |".repeat(Math.max(0, cols - 2))}`,
                );
            }
            kept.push(b.footer);
            for (const k of kept) length += k.length + 1;
            parts.push(kept);
        }
    }
    const noteText = note(omitted);
    if (notePos >= 0 && noteText !== "") length += noteText.length + 1;
    if (measureOnly) return { text: "", length, omitted };
    const text =
        parts
            .map((p, i) =>
                i === notePos
                    ? noteText
                    : p === null
                      ? ""
                      : typeof p === "string"
                        ? p
                        : p.slice(0, -1).join("\n") + "\n" + p[p.length - 1],
            )
            .filter((p) => p !== "")
            .join("\n") + "\n";
    return { text, length: text.length, omitted };
}

/** Renders the comment (within the limit) and the full report. */
export function renderMarkdown(model: PreviewModel, cls: Classification, opts: RenderOptions): Rendered {
    const limit = opts.limit ?? COMMENT_LIMIT;
    const fullName = opts.fullReportName ?? "report.full.md";
    const footer = (omitted: Limits): string => {
        const left = [...DROP_ORDER, "required" as const]
            .map((c) => [c, omitted[c] ?? 0] as const)
            .filter(([, n]) => n > 0);
        const lines = [`<sub>Exit code ${cls.exitCode} (${cls.verdict}) · cli/preview-report.ts</sub>`];
        if (left.length > 0) {
            const what = left.map(([c, n]) => `${n.toLocaleString("en-US")} ${CATEGORY_NOTE[c]}`);
            lines.unshift(
                `> [!NOTE]\n> Left out to stay under ${limit.toLocaleString("en-US")} characters: ${what.join("; ")}. ` +
                    `The full report (${code(fullName)}) is in this run's artifacts.\n`,
            );
        }
        return lines.join("\n");
    };

    // The limit holds whatever happens above: past it, the text is cut with a note.
    const finish = (out: { text: string; omitted: Limits }): Rendered => {
        let markdown = out.text;
        if (markdown.length > limit) {
            const cut = `\n\n> [!NOTE]\n> Cut at ${limit.toLocaleString("en-US")} characters: see ${code(fullName)}.\n`;
            markdown = markdown.slice(0, Math.max(0, limit - cut.length)) + cut.slice(0, limit);
        }
        return { markdown, full, truncated: true, omitted: out.omitted };
    };

    const full = assemble(buildBlocks(model, cls, opts, true), {}, false, footer).text;
    const blocks = buildBlocks(model, cls, opts, false);
    let limits: Limits = {};
    let out = assemble(blocks, limits, false, footer);
    if (out.text.length <= limit) return { markdown: out.text, full, truncated: false, omitted: {} };

    const totals: Partial<Record<Category, number>> = {};
    for (const b of blocks) if ("rows" in b) for (const r of b.rows) totals[r.cat] = (totals[r.cat] ?? 0) + 1;

    // Drop whole categories, least important first, until one only needs trimming; then keep as
    // many of its rows as fit (binary search over a cheap re-assembly).
    for (const cat of DROP_ORDER) {
        const total = totals[cat] ?? 0;
        if (total === 0) continue;
        if (assemble(blocks, { ...limits, [cat]: 0 }, false, footer, true).length > limit) {
            limits = { ...limits, [cat]: 0 };
            continue;
        }
        let lo = 0;
        let hi = total;
        while (lo < hi) {
            const mid = Math.ceil((lo + hi) / 2);
            if (assemble(blocks, { ...limits, [cat]: mid }, false, footer, true).length <= limit) lo = mid;
            else hi = mid - 1;
        }
        limits = { ...limits, [cat]: lo };
        return finish(assemble(blocks, limits, false, footer));
    }

    // Only the summary and the replace/delete lines are left and they still overflow: shorten those
    // lines, then, as a last resort, keep as many as fit.
    out = assemble(blocks, limits, true, footer);
    if (out.text.length > limit) {
        let lo = 0;
        let hi = totals.required ?? 0;
        while (lo < hi) {
            const mid = Math.ceil((lo + hi) / 2);
            if (assemble(blocks, { ...limits, required: mid }, true, footer, true).length <= limit) lo = mid;
            else hi = mid - 1;
        }
        out = assemble(blocks, { ...limits, required: lo }, true, footer);
    }
    return finish(out);
}
