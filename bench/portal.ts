// The user page: figures only, no assertions. The page runs in this process on a loopback port with
// its SQLite database; sign-in is the stand-in of test/support/portal-standins.ts (Keycloak is not what is
// measured) and so is the deployment: launches create their tenants for real through the fleet
// (stack, config and secrets on a temporary file:// backend) and run a stand-in `up` of STEPS progress
// steps STEP_MS apart, so that queueing, not Kubernetes, is what the figures show.
//   node --import tsx bench/portal.ts [--rounds N]        (writes .local/bench/portal.json)
//
// Rows and their floors (same run):
//   launch-first-event   POST /launch until the first progress event on /jobs/<id>/events
//                        floor: launch-refused, the same POST refused by the quota (session, CSRF,
//                        database reads and an audit write, no queue)
//   page-20              GET / and GET /launch by 20 signed-in users at once, per request
//                        floor: health-20, GET /healthz at the same concurrency (no session, no database)
//   queue-10x2           10 users launching at once, parallelism 2, until all are ready (all must complete)
//                        floor: queue-1, one launch alone, from POST to ready
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { type Executor, Fleet, readSecrets } from "../apps/fleet";
import { createPortal, fleetWorker, parsePortalConfig, Portal, User } from "../apps/portal";
import { standInSignIn } from "../test/support/portal-standins";
import { repoRoot } from "../toolchain/index";
import { formatTable, Row, writeJson } from "./support/stats";

const STEPS = 20;
const STEP_MS = 100;
const USERS = 20;

class HttpUser {
    private cookie = "";
    constructor(
        private readonly base: string,
        readonly code: string,
    ) {}
    async req(method: "GET" | "POST", url: string, form?: Record<string, string>) {
        const res = await fetch(`${this.base}${url}`, {
            method,
            redirect: "manual",
            headers: {
                ...(this.cookie ? { cookie: this.cookie } : {}),
                ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}),
            },
            body: form ? new URLSearchParams(form).toString() : undefined,
        });
        const set = res.headers.getSetCookie().find((c) => c.startsWith("portal="));
        if (set) this.cookie = set.split(";")[0];
        return { status: res.status, location: res.headers.get("location") ?? "", body: await res.text() };
    }
    async signIn() {
        const start = await this.req("GET", "/login");
        const state = new URL(start.location).searchParams.get("state") as string;
        await this.req("GET", `/auth/callback?code=${this.code}&state=${state}`);
    }
    async launchForm() {
        const page = await this.req("GET", "/launch");
        return {
            _csrf: /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] as string,
            tenant: /id="tenant-name">([^<]+)</.exec(page.body)?.[1] as string,
            template: "kubernetes",
            size: "small",
        };
    }
    /** Milliseconds from sending the launch until the first progress event, and the job's id. */
    async launchUntilFirstEvent(): Promise<{ ms: number; job: string }> {
        const form = await this.launchForm();
        const t0 = performance.now();
        const res = await this.req("POST", "/launch", form);
        if (res.status !== 303)
            throw new Error(
                `launch refused (${res.status}): ${/class="error">([^<]*)/.exec(res.body)?.[1] ?? res.body}`,
            );
        const job = res.location.split("/").pop() as string;
        const stream = await fetch(`${this.base}/jobs/${job}/events`, { headers: { cookie: this.cookie } });
        const reader = (stream.body as NonNullable<typeof stream.body>).getReader();
        let text = "";
        while (!text.includes("event: progress")) {
            const { value, done } = await reader.read();
            if (done) break;
            text += Buffer.from(value).toString("utf8");
        }
        const ms = performance.now() - t0;
        await reader.cancel();
        return { ms, job };
    }
}

async function waitAll(portal: Portal, jobs: string[], timeoutMs = 600_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const states = await Promise.all(jobs.map(async (id) => (await portal.store.job(id))?.state));
        if (states.every((s) => s === "done" || s === "failed")) return states;
        if (Date.now() > deadline) throw new Error(`jobs still running: ${states.join(", ")}`);
        await new Promise((r) => setTimeout(r, 50));
    }
}

/** Times each of COUNT requests made by USERS at once (in ms). */
async function concurrent(users: HttpUser[], urls: string[], perUser: number): Promise<number[]> {
    const samples: number[] = [];
    await Promise.all(
        users.map(async (u) => {
            for (let i = 0; i < perUser; i++) {
                const url = urls[i % urls.length];
                const t0 = performance.now();
                const res = await u.req("GET", url);
                samples.push(performance.now() - t0);
                if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
            }
        }),
    );
    return samples;
}

async function main() {
    const at = process.argv.indexOf("--rounds");
    const rounds = at > 0 ? Number(process.argv[at + 1]) : 3;
    if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds takes a whole number of at least 1");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portal-bench-"));
    const users: Record<string, User> = Object.fromEntries(
        Array.from({ length: USERS }, (_, i) => [`u${i}`, { sub: `bench-${i}`, name: `bench${i}`, operator: false }]),
    );
    const rows: Row[] = [
        { key: "launch-refused", what: "POST /launch refused by the quota", unit: "ms", samples: [] },
        {
            key: "launch-first-event",
            what: "POST /launch → first progress event",
            unit: "ms",
            samples: [],
            floor: "launch-refused",
        },
        { key: "health-20", what: `GET /healthz, ${USERS} users at once`, unit: "ms", samples: [] },
        {
            key: "page-20",
            what: `GET / and /launch, ${USERS} signed-in users at once`,
            unit: "ms",
            samples: [],
            floor: "health-20",
        },
        { key: "queue-1", what: "one launch alone, POST → ready", unit: "s", samples: [] },
        {
            key: "queue-10x2",
            what: "10 launches at once, parallelism 2, POST → all ready",
            unit: "s",
            samples: [],
            floor: "queue-1",
        },
    ];
    const row = (key: string) => rows.find((r) => r.key === key) as Row;
    const notes: string[] = [];
    try {
        for (let round = 0; round < rounds; round++) {
            const roundDir = path.join(dir, `r${round}`);
            const config = parsePortalConfig(
                {
                    listen: { host: "127.0.0.1", port: 0 },
                    publicUrl: "http://127.0.0.1:8090",
                    oidc: { issuer: "http://127.0.0.1:18080/iam/realms/bench" },
                    database: { kind: "sqlite", file: path.join(roundDir, "portal.db") },
                    fleet: { dir: path.join(roundDir, "fleet"), parallel: 2 },
                    launchLimit: { max: 100, perMinutes: 60 },
                    templates: {
                        kubernetes: {
                            label: "bench",
                            set: [
                                "keycloakMode=external",
                                "keycloakUrl=https://iam.example.org/iam",
                                "realm={tenant}",
                                "orthanc=false",
                                "lsaaiClientId={tenant}",
                            ],
                            sizes: { small: ["storage.images=1Gi"] },
                        },
                    },
                },
                "bench",
                { PORTAL_CLIENT_SECRET: "bench" },
            );
            const fleet = new Fleet({ dir: config.fleet.dir });
            const steps: Executor = async (ctx) => {
                for (let i = 1; i <= STEPS; i++) {
                    await new Promise((r) => setTimeout(r, STEP_MS));
                    ctx.progress({ phase: "running", done: i, total: STEPS });
                }
                return { changes: { create: STEPS } };
            };
            // The operator's secrets for the template, as the page reads them (never real ones here).
            const env = { LSAAI_CLIENT_SECRET: "bench", KEYCLOAK_ADMIN_PASSWORD: "bench" };
            const secrets = () => readSecrets({}, env);
            const portal = await createPortal(config, {
                worker: fleetWorker(fleet, secrets, { execute: steps }),
                signIn: standInSignIn(users),
                env,
            });
            try {
                const base = (await portal.listen()).replace("localhost", "127.0.0.1");
                const http = Object.keys(users).map((code) => new HttpUser(base, code));
                await Promise.all(http.map((u) => u.signIn()));

                // One launch alone: first event, then ready (the floor of the queue row).
                const alone = http[0];
                const t1 = performance.now();
                const first = await alone.launchUntilFirstEvent();
                row("launch-first-event").samples.push(first.ms);
                await waitAll(portal, [first.job]);
                row("queue-1").samples.push((performance.now() - t1) / 1000);
                // The same POST refused by the quota (user 0 holds one instance now).
                for (let i = 0; i < 5; i++) {
                    const form = await alone.launchForm();
                    const t0 = performance.now();
                    const res = await alone.req("POST", "/launch", form);
                    row("launch-refused").samples.push(performance.now() - t0);
                    if (res.status !== 409) throw new Error(`expected the quota's 409, got ${res.status}`);
                }

                // Pages under 20 concurrent users, and their floor.
                row("health-20").samples.push(...(await concurrent(http, ["/healthz"], 10)));
                row("page-20").samples.push(...(await concurrent(http, ["/", "/launch"], 10)));

                // 10 launches at once at parallelism 2 (users 1–10), until every one is ready.
                const t2 = performance.now();
                const launched = await Promise.all(http.slice(1, 11).map((u) => u.launchUntilFirstEvent()));
                const states = await waitAll(
                    portal,
                    launched.map((l) => l.job),
                );
                row("queue-10x2").samples.push((performance.now() - t2) / 1000);
                const done = states.filter((s) => s === "done").length;
                notes.push(
                    `round ${round + 1}: ${done}/10 queued launches completed, ${fleet.ctx.tenantNames().length} tenants in the fleet`,
                );
            } finally {
                // A failed round must not leave the server (and this process) running.
                await portal.close();
            }
        }
        console.log(`\n== portal (${rounds} round(s); stand-in up of ${STEPS} steps × ${STEP_MS} ms)`);
        console.log(formatTable(rows));
        notes.forEach((n) => console.log(`  ${n}`));
        const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)];
        console.log(
            `  page-20 p95 ${p95(row("page-20").samples).toFixed(1)} ms, health-20 p95 ${p95(row("health-20").samples).toFixed(1)} ms`,
        );
        console.log(
            `(${writeJson(path.join(repoRoot, ".local", "bench"), { family: "portal", rows, notes }, rounds)})`,
        );
    } finally {
        // Nothing was deployed: the fleets (and their backends) live in the temporary directory.
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

main().catch((e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exitCode = 1;
});
