// What a benchmark family is: a name, one line on what it measures, and a run that returns its rows.
import type { FamilyResult } from "../support/stats";

export interface Context {
    rounds: number;
    /** Progress, to stderr (the figures go to stdout). */
    log: (message: string) => void;
}

export interface Family {
    name: string;
    summary: string;
    run: (ctx: Context) => Promise<FamilyResult>;
}

/** Round -1: the warm-up, whose figures are not kept. */
export const WARMUP = -1;

/** "warm-up" or "round N" (1-based), for progress lines. */
export const roundName = (round: number) => (round === WARMUP ? "warm-up" : `round ${round + 1}`);

/**
 * Runs `a` and `b` once per round, alternating which goes first so neither always runs second,
 * after one warm-up round (round WARMUP: caches, Keycloak's JIT, plugin binaries) whose figures
 * the callbacks drop.
 */
export async function alternate(
    rounds: number,
    a: (round: number) => Promise<void>,
    b: (round: number) => Promise<void>,
): Promise<void> {
    for (let r = WARMUP; r < rounds; r++) {
        if (r % 2 !== 0) {
            await a(r);
            await b(r);
        } else {
            await b(r);
            await a(r);
        }
    }
}
