// The parallel runner with a fake operation: bounded concurrency, one tenant's failure isolated from
// the others, progress streamed per tenant, the report and exit codes, and --retry-failed running
// exactly the tenants that failed.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import YAML from "yaml";
import { changesFromOutput, driftFromOutput } from "../../apps/fleet/operations";
import {
    errorLines,
    EventTracker,
    Executor,
    failedTenants,
    Fleet,
    ProgressEvent,
    readLastReport,
    runTenants,
    TenantOutcome,
    writeReport,
} from "../../apps/fleet";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tenants = Array.from({ length: 9 }, (_, i) => `t${i}`);

/** A fake operation: records concurrency, fails the tenants in `failing`, reports a change for `changed`. */
function fakeOperation(opts: { failing?: Set<string>; changed?: Set<string>; ms?: number } = {}) {
    const stats = { active: 0, max: 0, ran: [] as string[] };
    const execute: Executor = async (ctx) => {
        stats.active++;
        stats.max = Math.max(stats.max, stats.active);
        stats.ran.push(ctx.tenant);
        try {
            ctx.progress({ phase: "running", total: 3 });
            for (let done = 1; done <= 3; done++) {
                await sleep((opts.ms ?? 30) / 3);
                ctx.progress({ done });
            }
            ctx.log(`did ${ctx.operation} of ${ctx.tenant}\n`);
            if (opts.failing?.has(ctx.tenant)) throw new Error(`${ctx.tenant}: the cluster said no`);
            const outcome: TenantOutcome = { changes: opts.changed?.has(ctx.tenant) ? { update: 1 } : {} };
            return outcome;
        } finally {
            stats.active--;
        }
    };
    return { execute, stats };
}

describe("the parallel runner", () => {
    let dir: string;
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-runner-"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    for (const parallel of [1, 3, 20]) {
        it(`runs at most ${parallel} tenant(s) at once, and that many when it can`, async () => {
            const { execute, stats } = fakeOperation();
            const report = await runTenants("preview", tenants, execute, { parallel });
            assert.equal(stats.max, Math.min(parallel, tenants.length));
            assert.equal(report.parallel, Math.min(parallel, tenants.length));
            assert.deepEqual(stats.ran.sort(), [...tenants].sort());
            assert.deepEqual(
                report.tenants.map((t) => t.tenant),
                tenants,
                "the report keeps the order asked for",
            );
            assert.equal(report.exitCode, 0);
        });
    }

    it("isolates a failure: the others complete, the report says which failed and why", async () => {
        const failing = new Set(["t2", "t6"]);
        const { execute } = fakeOperation({ failing, changed: new Set(["t4"]) });
        const events: ProgressEvent[] = [];
        const report = await runTenants("preview", tenants, execute, {
            parallel: 3,
            onEvent: (e) => events.push(e),
            logFile: (t, runId) => path.join(dir, "logs", t, `${runId}.log`),
        });
        const byTenant = Object.fromEntries(report.tenants.map((t) => [t.tenant, t]));
        for (const t of tenants) {
            const expected = failing.has(t) ? "failed" : t === "t4" ? "changes" : "ok";
            assert.equal(byTenant[t].result, expected, t);
        }
        assert.equal(byTenant.t2.error, "t2: the cluster said no");
        assert.deepEqual(byTenant.t4.changes, { update: 1 });
        assert.equal(report.exitCode, 1);
        assert.deepEqual(failedTenants(report), ["t2", "t6"]);
        // Each tenant has its own log, ending with its failure when it failed.
        const log = fs.readFileSync(byTenant.t2.logFile!, "utf8");
        assert.match(log, /did preview of t2\n\n== preview failed: t2: the cluster said no/);
        assert.doesNotMatch(fs.readFileSync(byTenant.t3.logFile!, "utf8"), /failed/);
        // Progress per tenant: queued, starting, running with resources done/total, then its result.
        const t2 = events.filter((e) => e.tenant === "t2");
        assert.deepEqual([...new Set(t2.map((e) => e.phase))], ["queued", "starting", "running", "failed"]);
        assert.ok(t2.some((e) => e.phase === "running" && e.done === 2 && e.total === 3));
        assert.ok(t2.every((e, i) => i === 0 || e.elapsedMs >= t2[i - 1].elapsedMs));
        assert.equal(t2.at(-1)?.message, "t2: the cluster said no");
    });

    it("exit codes: 2 when a preview or drift finds changes, 0 for an up that made them", async () => {
        const { execute } = fakeOperation({ changed: new Set(["t1"]) });
        assert.equal((await runTenants("preview", ["t0", "t1"], execute)).exitCode, 2);
        assert.equal((await runTenants("up", ["t0", "t1"], execute)).exitCode, 0);
        const drifting: Executor = async (ctx) => ({
            changes: {},
            drifted:
                ctx.tenant === "t1" ? [{ urn: "u", type: "keycloak:index/realm:Realm", name: "r", op: "update" }] : [],
        });
        const drift = await runTenants("drift", ["t0", "t1"], drifting);
        assert.deepEqual(
            drift.tenants.map((t) => t.result),
            ["ok", "changes"],
        );
        assert.equal(drift.exitCode, 2);
    });

    it("an exception that is not an Error, or a failing display, still fails only its tenant", async () => {
        const report = await runTenants(
            "up",
            ["a", "b"],
            async (ctx) => {
                if (ctx.tenant === "a") throw "plain string";
                return { changes: { create: 2 } };
            },
            {
                parallel: 2,
                onEvent: () => {
                    throw new Error("display broke");
                },
            },
        );
        assert.deepEqual(
            report.tenants.map((t) => [t.result, t.error]),
            [
                ["failed", "plain string"],
                ["ok", undefined],
            ],
        );
    });

    it("--retry-failed runs exactly the tenants that failed, and completes them once the fault is gone", async () => {
        const failing = new Set(["t1", "t5", "t7"]);
        const first = fakeOperation({ failing });
        const report = await runTenants("up", tenants, first.execute, { parallel: 4 });
        writeReport(path.join(dir, "reports"), report);
        const last = readLastReport(path.join(dir, "reports"), "up");
        assert.deepEqual(last?.runId, report.runId);
        const retry = fakeOperation();
        const again = await runTenants("up", failedTenants(last!), retry.execute, { parallel: 4 });
        assert.deepEqual(retry.stats.ran.sort(), ["t1", "t5", "t7"]);
        assert.deepEqual(
            again.tenants.map((t) => t.result),
            ["ok", "ok", "ok"],
        );
        assert.equal(again.exitCode, 0);
    });

    it("a stopped run starts no queued tenant; running ones finish, or stop when told", async () => {
        for (const abortRunning of [false, true]) {
            const stop = new AbortController();
            const abort = new AbortController();
            const seen: string[] = [];
            const report = await runTenants(
                "up",
                tenants,
                async (ctx) => {
                    seen.push(ctx.tenant);
                    if (ctx.tenant === "t1") {
                        stop.abort();
                        if (abortRunning) abort.abort();
                    }
                    await sleep(20);
                    if (ctx.signal.aborted) throw new Error("cancelled by the operator");
                    return { changes: {} };
                },
                { parallel: 2, signal: stop.signal, abortRunning: abort.signal },
            );
            assert.deepEqual(seen.sort(), ["t0", "t1"]);
            const running = abortRunning ? "cancelled" : "ok";
            assert.deepEqual(
                report.tenants.map((t) => t.result),
                [running, running, ...tenants.slice(2).map(() => "cancelled")],
            );
            assert.deepEqual(failedTenants(report), abortRunning ? tenants : tenants.slice(2));
            assert.equal(report.exitCode, 1);
        }
    });
});

describe("Fleet.runOperation with a fake operation", () => {
    let dir: string;
    const write = (tenant: string, extra: Record<string, string>, createdAt: string) => {
        fs.writeFileSync(
            path.join(dir, `Pulumi.${tenant}.yaml`),
            YAML.stringify({
                config: Object.fromEntries(
                    Object.entries({
                        tenant,
                        publicUrl: `https://${tenant}.example.org`,
                        keycloakMode: "namespace",
                        lsaaiClientId: "c",
                        ...extra,
                    }).map(([k, v]) => [`cytomine-fallback:${k}`, v]),
                ),
            }),
        );
        fs.mkdirSync(path.join(dir, "tenants"), { recursive: true });
        fs.writeFileSync(
            path.join(dir, "tenants", `${tenant}.json`),
            JSON.stringify({ tenant, template: "kubernetes", createdAt }),
        );
    };
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-run-"));
        write("alpha", {}, "2026-01-01T00:00:00Z");
        write("beta", {}, "2026-01-02T00:00:00Z");
        // Created last, and taking alpha's namespace: refused before its preview runs.
        write("gamma", { namespace: "alpha" }, "2026-01-03T00:00:00Z");
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("fails a tenant that collides with an older one before it runs; the others run; report and logs are written", async () => {
        const fleet = new Fleet({ dir, backendUrl: `file://${dir}/state` });
        const { execute, stats } = fakeOperation();
        const report = await fleet.runOperation("preview", fleet.ctx.tenantNames(), { parallel: 3, execute });
        assert.deepEqual(stats.ran.sort(), ["alpha", "beta"]);
        const gamma = report.tenants.find((t) => t.tenant === "gamma");
        assert.equal(gamma?.result, "failed");
        assert.match(gamma?.error ?? "", /cytomine-fallback:namespace = "alpha" is tenant alpha's namespace/);
        assert.equal(report.exitCode, 1);
        assert.deepEqual(JSON.parse(fs.readFileSync(report.reportFile, "utf8")).tenants.length, 3);
        assert.ok(fs.existsSync(path.join(dir, "logs", "alpha", `${report.runId}.log`)));
        // Operations that do not create anything are not guarded.
        const refresh = await fleet.runOperation("refresh", ["gamma"], { execute });
        assert.equal(refresh.tenants[0].result, "ok");
    });

    it("refuses tenants the fleet does not have, naming them", async () => {
        const fleet = new Fleet({ dir, backendUrl: `file://${dir}/state` });
        await assert.rejects(
            fleet.runOperation("up", ["alpha", "delta"], { execute: fakeOperation().execute }),
            /no tenant delta in .*: the tenants are alpha, beta, gamma/,
        );
    });
});

describe("when the engine's last events are lost, the CLI's output gives the result", () => {
    // As pulumi 3.188 prints them (preview; refresh --preview-only), trimmed.
    const preview = [
        "Previewing update (r01):",
        " +  pulumi:pulumi:Stack cytomine-fallback-r01 create ",
        "Outputs:",
        '    keycloakUrl: "https://iam.example.org/iam"',
        "",
        "Resources:",
        "    + 3 to create",
        "    ~ 2 to update",
        "    - 1 to delete",
        "    +-1 to replace",
        "    60 unchanged",
        "",
    ].join("\n");
    const drift = [
        "Previewing refresh (fx-one):",
        " ~  keycloak:index:UserRoles cytomine-admin-roles refreshing ",
        " ~  keycloak:oidc:IdentityProvider lsaai-idp update [diff: ~backchannelSupported]",
        " ~  keycloak:index:Realm cytomine-realm update [diff: ~displayName, +attributes]",
        " -  kubernetes:core/v1:Service core delete ",
        "    keycloak:index:Role cytomine-core-user  ",
        "Resources:",
        "    ~ 2 to update",
        "    - 1 to delete",
        "    67 unchanged",
        "",
    ].join("\n");

    it("counts the changes of the Resources block", () => {
        assert.deepEqual(changesFromOutput(preview), { create: 3, update: 2, delete: 1, replace: 1 });
        assert.deepEqual(changesFromOutput("Resources:\n    69 unchanged\n"), {});
    });

    it("lists the drifted resources with the properties that differ", () => {
        assert.deepEqual(driftFromOutput(drift), [
            {
                urn: "",
                type: "keycloak:oidc:IdentityProvider",
                name: "lsaai-idp",
                op: "update",
                properties: ["backchannelSupported"],
            },
            {
                urn: "",
                type: "keycloak:index:Realm",
                name: "cytomine-realm",
                op: "update",
                properties: ["displayName", "attributes"],
            },
            { urn: "", type: "kubernetes:core/v1:Service", name: "core", op: "delete" },
        ]);
        assert.deepEqual(driftFromOutput(preview.replace(/ create $/m, " create")), []);
    });
});

describe("what a run's summary says of a tenant", () => {
    it("a failure's first lines, then the project's own messages further down (an upgrade's rollback)", () => {
        const output = Array.from({ length: 12 }, (_, i) => `Creating cytomine-lab-a_service${i}_1 ... done`);
        const error = [
            "error: Process exited with code 4",
            ...output.slice(0, 2),
            "cytomine-fallback: http://127.0.0.1:8080/ did not answer within 60 s; see 'docker compose -p p logs'",
            ...output.slice(2),
            "    cytomine-fallback: this up changed the release … npm run tenant -- restore lab-a --at 9f8e7d6c --release 26e8daf --force",
        ].join("\n");
        const lines = errorLines(error);
        assert.equal(lines.length, 7);
        assert.deepEqual(lines.slice(0, 6), error.split("\n").slice(0, 6));
        assert.match(lines[6], /npm run tenant -- restore lab-a --at 9f8e7d6c --release 26e8daf --force$/);
        assert.deepEqual(errorLines("one line"), ["one line"]);
    });

    it("the program's warnings, once each, beside the result (an upgrade named at preview)", () => {
        const tracker = new EventTracker({ progress: () => undefined, operation: "preview" });
        const diagnostic = (severity: string, message: string, ephemeral = false) =>
            tracker.on({
                sequence: 0,
                timestamp: 0,
                diagnosticEvent: { severity, message, ephemeral, color: "never", prefix: "" },
            } as never);
        diagnostic("warning", "upgrade of Cytomine from release 26e8daf to 0165ef7: …\n");
        diagnostic("info", "not a warning");
        diagnostic("warning", "a progress line", true);
        diagnostic("error", "failed");
        assert.deepEqual(tracker.warnings, ["upgrade of Cytomine from release 26e8daf to 0165ef7: …"]);
        assert.deepEqual(tracker.errors, ["failed"]);
    });
});
