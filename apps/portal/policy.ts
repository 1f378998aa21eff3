// The page's decisions as plain functions: who may see or act on what, CSRF tokens, the quota, the
// launch rate and tenant names. The server calls them on every request; unit tests call them alone.
import * as crypto from "node:crypto";

export interface User {
    /** The ID token's `sub` in the cytomine realm. */
    sub: string;
    name: string;
    operator: boolean;
}

export type Action = "view" | "act";

export type Decision = { allow: true } | { allow: false; status: 401 | 403 | 404; reason: string };

/**
 * May USER do ACTION on a tenant owned by OWNER (undefined: no such tenant)? Owners see and act on
 * their own; operators see every tenant (acting on another's goes through the tenant CLI); anyone
 * else gets 404, the same answer as for a tenant that does not exist, so names are not probed.
 */
export function decide(user: User | undefined, action: Action, owner: string | undefined): Decision {
    if (!user) return { allow: false, status: 401, reason: "sign in first" };
    if (owner !== undefined && owner === user.sub) return { allow: true };
    if (owner !== undefined && action === "view" && user.operator) return { allow: true };
    return { allow: false, status: 404, reason: "no such instance among yours" };
}

/** The operator view: users holding the realm's operator role. */
export function decideOperator(user: User | undefined): Decision {
    if (!user) return { allow: false, status: 401, reason: "sign in first" };
    return user.operator ? { allow: true } : { allow: false, status: 403, reason: "the operator role is required" };
}

export const newCsrfToken = () => crypto.randomBytes(24).toString("base64url");

/** A state-changing request carries the session's token (compared in constant time). */
export function csrfValid(expected: string | undefined, given: unknown): boolean {
    if (!expected || typeof given !== "string") return false;
    const a = new Uint8Array(Buffer.from(expected));
    const b = new Uint8Array(Buffer.from(given));
    return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** Why a user holding ACTIVE instances may not launch another, or undefined. */
export function quotaProblem(active: number, quota: number): string | undefined {
    return active >= quota
        ? `you have ${active} instance(s), the limit is ${quota}: stop and delete one first, or ask an operator to raise the quota`
        : undefined;
}

/** Why one more launch now exceeds MAX launches per window, or undefined. */
export function rateProblem(recent: number, limit: { max: number; perMinutes: number }): string | undefined {
    return recent >= limit.max
        ? `at most ${limit.max} launches per ${limit.perMinutes} minutes: wait, then try again`
        : undefined;
}

/**
 * The tenant name a user's Nth instance gets: `cy-<name>-<4 hex of sub>-<n>`, a DNS label under 36
 * characters (it names the realm too). Derived, never typed, so a user cannot take another's name.
 */
export function tenantNameFor(user: Pick<User, "sub" | "name">, n: number): string {
    const slug =
        user.name
            .toLowerCase()
            .replace(/[^a-z0-9]+/g, "-")
            .replace(/^-+|-+$/g, "")
            .slice(0, 12)
            .replace(/-+$/, "") || "user";
    const hash = crypto.createHash("sha256").update(user.sub).digest("hex").slice(0, 4);
    return `cy-${slug}-${hash}-${n}`;
}
