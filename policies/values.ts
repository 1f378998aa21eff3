// How the pack reads resource properties, given what @pulumi/policy 1.15 hands a policy:
//
// - Properties come wrapped in `unknownCheckingProxy`: reading a value that is not known until the
//   update (an output of a resource still to be created) throws UnknownValueError. Left uncaught,
//   the SDK turns that into an advisory "can't run policy during preview". The pack catches it
//   instead: an unknown value is "cannot judge", and the check reports nothing (`fails`, `known`).
// - Secrets are unwrapped to plain values in validateResource and validateStack (the SDK
//   deserializes them without their secret marker), so secretness is invisible there. Only
//   remediateResource receives them as `Secret` objects; see secrets.ts for how the pack uses that.
import { Secret } from "@pulumi/policy";
import * as proxyModule from "@pulumi/policy/proxy";

/** The internals of @pulumi/policy/proxy (marked @internal, so its declaration file is empty). */
interface ProxyInternals {
    UnknownValueError: new (...args: never[]) => Error;
    isSpecialProxy: string;
    getSpecialProxyTarget: string;
    unknownBooleanValue: string;
    unknownNumberValue: string;
    unknownStringValue: string;
    unknownArrayValue: string;
    unknownAssetValue: string;
    unknownArchiveValue: string;
    unknownObjectValue: string;
}
const internals = proxyModule as unknown as ProxyInternals;

/** Unknown-value sentinels as the engine sends them (one per property type). */
const SENTINELS = new Set<unknown>([
    internals.unknownBooleanValue,
    internals.unknownNumberValue,
    internals.unknownStringValue,
    internals.unknownArrayValue,
    internals.unknownAssetValue,
    internals.unknownArchiveValue,
    internals.unknownObjectValue,
]);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Props = Record<string, any>;

/** Stands for "depends on a value that is not known until the update". */
export const UNKNOWN: unique symbol = Symbol("unknown until the update");
export type Unknown = typeof UNKNOWN;

export function isUnknownValueError(e: unknown): boolean {
    return e instanceof internals.UnknownValueError;
}

/** A raw value the engine marks as unknown (for code that reads unwrapped properties). */
export function isUnknownSentinel(value: unknown): boolean {
    return SENTINELS.has(value);
}

/** What `read` returns, or UNKNOWN when it touches a value not known at preview. */
export function known<T>(read: () => T): T | Unknown {
    try {
        return read();
    } catch (e) {
        if (isUnknownValueError(e)) return UNKNOWN;
        throw e;
    }
}

/** True only when `holds` is known to be false: an unknown value cannot fail a check. */
export function fails(holds: () => boolean): boolean {
    const result = known(holds);
    return result !== UNKNOWN && !result;
}

/** The object behind the SDK's proxies (unknown-checking, then secret-preserving in remediations). */
export function unwrap(value: unknown): unknown {
    let v = value;
    // The proxies answer these two keys themselves; a plain object has neither.
    while (v instanceof Object && (v as Props)[internals.isSpecialProxy] === true) {
        v = (v as Props)[internals.getSpecialProxyTarget];
    }
    return v;
}

export type Path = (string | number)[];

export interface Leaf {
    path: Path;
    /** A string, number or boolean; UNKNOWN for a value not known at preview. */
    value: unknown;
    /** The value, or an object or array holding it, is a Pulumi secret. */
    secret: boolean;
}

/**
 * Every scalar under `value` (unwrapped from the SDK's proxies), with its path. Unknown values are
 * reported as UNKNOWN; `Secret` wrappers (present only in remediations) set `secret` below them.
 */
export function leaves(value: unknown, path: Path = [], secret = false): Leaf[] {
    const v = unwrap(value);
    if (isUnknownSentinel(v)) return [{ path, value: UNKNOWN, secret }];
    if (v instanceof Secret) return leaves(v.value, path, true);
    if (Array.isArray(v)) return v.flatMap((item, i) => leaves(item, [...path, i], secret));
    if (v instanceof Object) return Object.entries(v).flatMap(([k, item]) => leaves(item, [...path, k], secret));
    if (v === undefined || v === null) return [];
    return [{ path, value: v, secret }];
}

/** `a.b[0].c` */
export function pathText(path: Path): string {
    return path
        .map((p, i) =>
            typeof p === "number"
                ? `[${p}]`
                : /^[A-Za-z_$][\w$]*$/.test(p)
                  ? i
                      ? `.${p}`
                      : p
                  : `[${JSON.stringify(p)}]`,
        )
        .join("");
}

/** The value as a list: known arrays as they are, missing as empty, anything else UNKNOWN. */
export function listOf<T = Props>(read: () => unknown): T[] | Unknown {
    const value = known(() => {
        const v = read();
        // Spreading reads every element, so an unknown element makes the whole list unknown.
        return Array.isArray(v) ? ([...v] as T[]) : v;
    });
    if (value === UNKNOWN) return UNKNOWN;
    if (value === undefined || value === null) return [];
    return Array.isArray(value) ? value : UNKNOWN;
}

/** A string when known, undefined when absent or of another type, UNKNOWN when not known yet. */
export function stringAt(read: () => unknown): string | undefined | Unknown {
    const v = known(read);
    return v === UNKNOWN || typeof v === "string" ? v : undefined;
}
