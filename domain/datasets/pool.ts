// Bounded parallelism for file I/O, so a tree of any size never has more than `limit` operations in
// flight: a semaphore for the walk (nested listings), and a worker pool for the per-file checks
// (each worker owns a reusable read buffer).

/** Runs `fn` on every item with at most `limit` calls in flight; resolves once all are done. */
export async function forEachLimit<T, W>(
    items: readonly T[],
    limit: number,
    makeWorkerState: () => W,
    fn: (item: T, state: W) => Promise<void>,
): Promise<void> {
    let next = 0;
    const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
        const state = makeWorkerState();
        while (next < items.length) {
            const item = items[next++];
            await fn(item, state);
        }
    });
    await Promise.all(workers);
}

/** A counting semaphore: `run(fn)` waits for one of `limit` slots. */
export class Limiter {
    private active = 0;
    private readonly waiting: (() => void)[] = [];

    constructor(private readonly limit: number) {}

    async run<T>(fn: () => Promise<T>): Promise<T> {
        if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
        else this.active++;
        try {
            return await fn();
        } finally {
            // Hand the slot straight to the next waiter, or free it.
            const next = this.waiting.shift();
            if (next) next();
            else this.active--;
        }
    }
}
