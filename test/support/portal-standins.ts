// Stand-ins for the parts the page's own tests and benchmarks leave out on purpose: sign-in (the
// browser test signs in through the real Keycloak) and the job worker (the browser test runs the
// real fleet). Never used by `npm run portal`.
import * as crypto from "node:crypto";
import { SignInRefused } from "../../apps/portal/auth";
import type { Worker } from "../../apps/portal/jobs";
import type { User } from "../../apps/portal/policy";
import type { SignIn } from "../../apps/portal/server";

/** Stand-in sign-in: the code names the user; the state must come back unchanged. */
export function standInSignIn(users: Record<string, User>): SignIn {
    return {
        endSessionEndpoint: "http://127.0.0.1:18080/iam/realms/test/protocol/openid-connect/logout",
        async startLogin(returnTo) {
            const pending = { state: crypto.randomUUID(), nonce: crypto.randomUUID(), verifier: "v", returnTo };
            return { url: `http://127.0.0.1:18080/auth?state=${pending.state}`, pending };
        },
        async finishLogin(url, pending) {
            if (url.searchParams.get("state") !== pending.state) throw new SignInRefused("state mismatch");
            const user = users[url.searchParams.get("code") ?? ""];
            if (!user) throw new SignInRefused("unknown code");
            return { user, idToken: `id-token-of-${user.sub}` };
        },
        logoutUrl: () => "http://127.0.0.1:18080/iam/realms/test/protocol/openid-connect/logout",
    };
}

/**
 * A worker that reports STEPS steps, STEP_MS apart, and succeeds, unless `gate` holds it (a job that
 * never ends, as one cut by a crash).
 */
export function standInWorker(gate?: { wait?: Promise<void> }, steps = 3, stepMs = 0): Worker {
    return async (job, _tenant, report) => {
        const t0 = Date.now();
        for (let i = 1; i <= steps; i++) {
            if (stepMs) await new Promise((r) => setTimeout(r, stepMs));
            report({ phase: "running", done: i, total: steps, elapsedMs: Date.now() - t0 });
        }
        if (gate?.wait) await gate.wait;
        return { summary: `${job.kind} ok (stand-in)` };
    };
}
