// preview: a no-op `pulumi preview` of one tenant against the engine's floor for the same providers.
//   - floor: bench/fixtures/providers (the Keycloak, Kubernetes and random providers, nothing else);
//   - one tenant: the dev-like program (projectConfig, KUBECONFIG to the local cluster), identity +
//     Cytomine applied; also with --refresh (every resource read back);
//   - growth: bench/fixtures/tenants with 1, 2 and 4 tenants' worth of components (render mode,
//     identity on the local Keycloak), each against the one before.
// Each stack gets one `up` (its single time is reported), then the previews of all stacks
// alternate round by round; the stacks are destroyed at the end.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { PreviewOptions } from "@pulumi/pulumi/automation";
import { changesOf, createEphemeralStack, disposeEphemeralStack, EphemeralStack } from "../../test/support/automation";
import { ConfigValue, projectConfig } from "../../test/support/project-config";
import { repoRoot } from "../../toolchain/index";
import { breakdown, ResourceTimer } from "../support/engine";
import { Row, time } from "../support/stats";
import { asEnvironment, engineEnvironment, EngineEnvironment } from "./localenv";
import { Family } from "./types";

interface Subject {
    key: string;
    what: string;
    workDir: string;
    config: Record<string, ConfigValue>;
    /** Names that differ per stack, replaced in the per-resource keys. */
    id: string;
    floor?: string;
    refresh?: { floor?: string };
    /** Set once created. */
    stack?: EphemeralStack;
    resources?: number;
}

const fixture = (name: string) => path.join(repoRoot, "bench", "fixtures", name);

/** Config values under a fixture project's namespace. */
const under = (project: string, values: Record<string, ConfigValue>) =>
    Object.fromEntries(Object.entries(values).map(([k, v]) => [`${project}:${k}`, v]));

const keycloakConfig = (env: EngineEnvironment): Record<string, ConfigValue> => ({
    keycloakUrl: env.keycloak.url,
    keycloakAdminUser: env.keycloak.adminUser,
    keycloakAdminPassword: { value: env.keycloak.adminPassword, secret: true },
});

function tenantsSubject(env: EngineEnvironment, n: number, renderDir: string, floor: string): Subject {
    const id = `bp${n}-${crypto.randomBytes(3).toString("hex")}`;
    return {
        key: `tenants-${n}`,
        what: `no-op preview, ${n} tenant${n > 1 ? "s'" : "'s"} components (fixture, render mode + identity)`,
        workDir: fixture("tenants"),
        id,
        floor,
        config: under("bench-tenants", {
            ...keycloakConfig(env),
            tenants: String(n),
            prefix: id,
            renderDir: path.join(renderDir, String(n)),
            lsaaiClientSecret: { value: crypto.randomBytes(24).toString("base64url"), secret: true },
        }),
    };
}

export const preview: Family = {
    name: "preview",
    summary: "no-op `pulumi preview` of one tenant (and with --refresh; 1/2/4 tenants) vs a providers-only program",
    async run({ rounds, log }) {
        const env = await engineEnvironment({ workloads: true, log });
        const renderDir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-preview-render-"));
        const dev = projectConfig(asEnvironment(env), "bp");
        const subjects: Subject[] = [
            {
                key: "providers",
                what: "floor: no-op preview, providers only (fixture)",
                workDir: fixture("providers"),
                id: "",
                config: under("bench-providers", keycloakConfig(env)),
                refresh: {},
            },
            {
                key: "one-tenant",
                what: "no-op preview, one tenant (dev-like program: identity + Cytomine applied)",
                workDir: repoRoot,
                id: dev.id,
                config: dev.config,
                floor: "providers",
                refresh: { floor: "providers-refresh" },
            },
            tenantsSubject(env, 1, renderDir, "providers"),
            tenantsSubject(env, 2, renderDir, "tenants-1"),
            tenantsSubject(env, 4, renderDir, "tenants-2"),
        ];
        const rows = new Map<string, Row>();
        const row = (key: string, what: string, floor?: string): Row => {
            const existing = rows.get(key);
            if (existing) return existing;
            const created: Row = { key, what, unit: "s", samples: [], floor };
            rows.set(key, created);
            return created;
        };
        // Where the time goes, for these scenarios: by `<subject key>/<kind>`.
        const SCENARIOS: Record<string, string> = {
            "providers/preview": "floor: no-op preview, providers only",
            "one-tenant/preview": "no-op preview, one tenant",
            "one-tenant/refresh": "no-op preview --refresh, one tenant",
            "one-tenant/up": "first up, one tenant (1 run)",
            "tenants-4/preview": "no-op preview, 4 tenants",
        };
        const timers = new Map<string, ResourceTimer[]>();
        const track = (key: string, timer: ResourceTimer) => {
            if (SCENARIOS[key]) timers.set(key, [...(timers.get(key) ?? []), timer]);
        };
        const normalize = (id: string) => (n: string) => (id ? n.replaceAll(id, "<id>") : n);

        try {
            for (const s of subjects) {
                s.stack = await createEphemeralStack({
                    workDir: s.workDir,
                    config: s.config,
                    env: { KUBECONFIG: env.kube.kubeconfig },
                });
                const timer = new ResourceTimer(normalize(s.id));
                // One run each: only the one-tenant rows get a ratio (the growth rows' single runs are too noisy).
                const upRow = row(
                    `${s.key}-up`,
                    s.what.replace(/^(floor: )?no-op preview/, "$1first up"),
                    s.floor === "providers" ? "providers-up" : undefined,
                );
                upRow.samples.push(
                    await time(async () => {
                        await s.stack!.stack.up({ color: "never", onEvent: timer.onEvent });
                        timer.done();
                    }),
                );
                track(`${s.key}/up`, timer);
                log(`preview: ${s.key} up in ${upRow.samples[0].toFixed(1)} s`);
            }
            for (let r = 0; r < rounds; r++) {
                // Alternate the order of the stacks each round.
                const order = r % 2 === 0 ? subjects : [...subjects].reverse();
                for (const s of order) {
                    const runPreview = async (refresh: boolean) => {
                        const timer = new ResourceTimer(normalize(s.id));
                        const opts: PreviewOptions = { color: "never", onEvent: timer.onEvent, refresh };
                        let same = 0;
                        const seconds = await time(async () => {
                            const p = await s.stack!.stack.preview(opts);
                            timer.done();
                            same = p.changeSummary.same ?? 0;
                            const changes = changesOf(p.changeSummary as Record<string, number | undefined>);
                            if (Object.keys(changes).length)
                                log(`preview: ${s.key} is not a no-op: ${JSON.stringify(changes)}`);
                        });
                        s.resources = same;
                        track(`${s.key}/${refresh ? "refresh" : "preview"}`, timer);
                        return seconds;
                    };
                    row(s.key, s.what, s.floor).samples.push(await runPreview(false));
                    if (s.refresh) {
                        row(
                            `${s.key}-refresh`,
                            `${s.what.replace("no-op preview", "no-op preview --refresh")}`,
                            s.refresh.floor,
                        ).samples.push(await runPreview(true));
                    }
                }
                log(`preview: round ${r + 1}/${rounds} done`);
            }
        } finally {
            for (const s of subjects) {
                if (s.stack)
                    await disposeEphemeralStack(s.stack).catch((e: unknown) =>
                        log(`preview: destroy ${s.key}: ${String(e)}`),
                    );
            }
            fs.rmSync(renderDir, { recursive: true, force: true });
        }

        // Name each row with its stack's resource count, then order: previews, refresh previews, first ups.
        const counted = (key: string) => subjects.find((s) => key === s.key || key.startsWith(`${s.key}-`))?.resources;
        const all = [...rows.values()].map((r) => {
            const n = counted(r.key);
            return n === undefined ? r : { ...r, what: `${r.what}, ${n} resources` };
        });
        const rank = (r: Row) => (r.key.endsWith("-up") ? 2 : r.key.endsWith("-refresh") ? 1 : 0);
        const where = Object.fromEntries(
            Object.entries(SCENARIOS).map(([key, scenario]) => [scenario, breakdown(timers.get(key) ?? [])]),
        );
        return {
            family: "preview",
            rows: all.sort((a, b) => rank(a) - rank(b)),
            breakdown: where,
            notes: ["first-up rows are a single run each (the stacks are created once, then previewed every round)"],
        };
    },
};
