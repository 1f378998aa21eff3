// Building blocks of the config schema: checks that say what is wrong with a value (or return
// undefined) become zod refinements. Every check is total: it reports, it never throws.
import { z } from "zod";
import { cpuProblem } from "../../components/model/settings";

export type Problem = (v: string) => string | undefined;

/** A zod refinement from a function that says what is wrong with a value. */
export function reportProblem(problem: Problem) {
    return (v: string, ctx: z.RefinementCtx) => {
        const message = problem(v);
        if (message) ctx.addIssue({ code: "custom", message });
    };
}

/** A string that `problem` accepts. */
export const validString = (problem: Problem) => z.string().superRefine(reportProblem(problem));

/** The URL, or undefined for a non-string or where WHATWG URL parsing rejects it (e.g. port 99999). */
export function parseUrl(value: unknown): URL | undefined {
    if (typeof value !== "string") return undefined;
    try {
        return new URL(value);
    } catch {
        return undefined;
    }
}

/** An absolute URL that WHATWG URL parsing (what every later use of it does) accepts. */
export const absoluteUrl = (example: string) =>
    z
        .string()
        .superRefine(
            reportProblem((v) =>
                parseUrl(v) ? undefined : `not an absolute URL (ports go up to 65535): write e.g. ${example}`,
            ),
        );

/** An object of optional overrides for the given keys, each checked; unknown keys are errors. */
export const overrides = <K extends string>(keys: readonly [K, ...K[]], problem: Problem) =>
    z
        .partialRecord(z.enum(keys), validString(problem), {
            // zod's issue type for records omits unrecognized_keys, which strict records do raise.
            error: (i) => {
                const unknown = (i as { code: string; keys?: string[] }).keys;
                return unknown ? `unknown key(s) ${unknown.join(", ")}; the keys are ${keys.join(", ")}` : undefined;
            },
        })
        .default({});

/** A CPU quantity; `pulumi config set --path <key> 4` stores a number. */
export const cpuQuantity = z.union([z.string(), z.number()]).transform(String).superRefine(reportProblem(cpuProblem));

export const stringList = z.array(z.string().min(1)).default([]);

/** The entries of a partial record that are set. */
export function setEntries<T>(record: Partial<Record<string, T>>): Record<string, T> {
    return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as Record<string, T>;
}
