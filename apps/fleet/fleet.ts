// A fleet of tenants: one stack each, created from a template, listed, and operated on in parallel.
// Used by the tenant CLI (cli/tenant.ts) and, next, a self-service web page.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Stack, StackSummary, UpdateSummary } from "@pulumi/pulumi/automation";
import YAML from "yaml";
import { PROJECT, StackConfig } from "../../program/config";
import { processAlive, ProcessEntry, pulumiLeftovers, stopProcesses } from "../../toolchain/processes";
import { BackupListing, listBackups, RestoreOptions, restoreTenant, Snapshot } from "./backups";
import { FleetContext, FleetOptions, withFileLock } from "./context";
import { pulumiExecutor } from "./operations";
import {
    fleetConflicts,
    FleetInputError,
    parseStored,
    planTenant,
    TenantInput,
    TenantPlan,
    tenantNameProblem,
} from "./plan";
import { Executor, Operation, ProgressEvent, RunReport, runTenants, writeReport } from "./runner";

export interface TenantRecord {
    tenant: string;
    template: string;
    createdAt: string;
}

export interface CreatedTenant {
    tenant: string;
    configFile: string;
    plan: TenantPlan;
    /** What the operator does next, in order. */
    next: string[];
}

export interface TenantInfo {
    tenant: string;
    target?: string;
    url?: string;
    template?: string;
    /** The last update, refresh or destroy (previews leave no history). */
    lastOperation?: { kind: string; result: string; endTime?: string };
    resources?: number;
    createdAt?: string;
    ageMs?: number;
    /** Why the tenant's stack or config cannot be read, if so. */
    problem?: string;
}

export interface RunOperationOptions {
    parallel?: number;
    onEvent?: (e: ProgressEvent) => void;
    /** Stops starting tenants (queued ones are cancelled). */
    signal?: AbortSignal;
    /** Tells running tenants to stop (their CLI gets SIGINT and cancels gracefully). */
    abortRunning?: AbortSignal;
    /** destroy: delete protected data (realms, volumes) too. */
    withData?: boolean;
    /** destroy --with-data: delete the tenant's backups too. */
    purgeBackups?: boolean;
    /** Replaces the Pulumi executor (tests, the bench's fake runs). */
    execute?: Executor;
}

export interface LockInfo {
    tenant: string;
    file: string;
    pid?: number;
    username?: string;
    hostname?: string;
    timestamp?: string;
    ageMs?: number;
    /** true: its process is alive on this host; false: gone (stale); undefined: another host or unreadable. */
    alive?: boolean;
}

export class Fleet {
    readonly ctx: FleetContext;

    constructor(opts: FleetOptions = {}) {
        this.ctx = new FleetContext(opts);
    }

    /**
     * Creates a tenant: everything is validated first (name, template, --set keys and values through
     * the program's schema, secrets, collisions with the fleet's tenants); then, one creation at a time,
     * the stack with its config and encrypted secrets. An existing tenant is never overwritten.
     */
    async createTenant(input: TenantInput): Promise<CreatedTenant> {
        const name = input.name;
        const nameProblem = tenantNameProblem(name);
        if (nameProblem) throw new FleetInputError(undefined, [nameProblem]);
        const configFile = this.ctx.configFile(name);
        const exists = () => {
            if (fs.existsSync(configFile))
                throw new FleetInputError(name, [
                    `tenant ${name} already exists (${configFile}): choose another name, or destroy and remove that tenant first`,
                ]);
        };
        exists();
        const plan = planTenant(input, this.ctx.templatesDir);
        const conflicts = fleetConflicts(name, plan.parsed, this.parsedTenants());
        if (conflicts.length > 0)
            throw new FleetInputError(
                name,
                conflicts.map((c) => c.message),
            );

        await this.ctx.prepare();
        return withFileLock(path.join(this.ctx.dir, ".create.lock"), async () => {
            exists();
            try {
                await this.ctx.cli(["stack", "init", name, "--no-select"]);
            } catch (e) {
                if (/already exists/.test((e as Error).message))
                    throw new FleetInputError(name, [
                        `tenant ${name} already exists in the backend ${this.ctx.backendUrl} (without config here): choose another name, or restore its Pulumi.${name}.yaml`,
                    ]);
                throw e;
            }
            try {
                this.writeConfig(name, plan.config);
                for (const [key, value] of Object.entries(plan.secrets))
                    await this.ctx.cli(["config", "set", "--secret", "--stack", name, `${PROJECT}:${key}`], value);
                const record: TenantRecord = {
                    tenant: name,
                    template: plan.template,
                    createdAt: new Date().toISOString(),
                };
                fs.mkdirSync(path.dirname(this.ctx.recordFile(name)), { recursive: true });
                fs.writeFileSync(this.ctx.recordFile(name), `${JSON.stringify(record, null, 2)}\n`);
            } catch (e) {
                await this.ctx.cli(["stack", "rm", "--yes", "--force", name]).catch(() => undefined);
                fs.rmSync(configFile, { force: true });
                fs.rmSync(this.ctx.recordFile(name), { force: true });
                throw e;
            }
            return { tenant: name, configFile, plan, next: nextSteps(plan, configFile) };
        });
    }

    /** Writes the tenant's plain config values into Pulumi.<tenant>.yaml (beside the encryption salt). */
    private writeConfig(tenant: string, config: Record<string, unknown>) {
        const file = this.ctx.configFile(tenant);
        const doc = fs.existsSync(file)
            ? ((YAML.parse(fs.readFileSync(file, "utf8")) ?? {}) as Record<string, unknown>)
            : {};
        const existing = (doc.config ?? {}) as Record<string, unknown>;
        doc.config = {
            ...existing,
            ...Object.fromEntries(Object.entries(config).map(([k, v]) => [`${PROJECT}:${k}`, v])),
        };
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, YAML.stringify(doc, { lineWidth: 0 }), { mode: 0o600 });
        fs.renameSync(tmp, file);
    }

    record(tenant: string): TenantRecord | undefined {
        const file = this.ctx.recordFile(tenant);
        try {
            return JSON.parse(fs.readFileSync(file, "utf8")) as TenantRecord;
        } catch {
            return undefined;
        }
    }

    /** The fleet's tenants whose config parses, oldest first. */
    private parsedTenants(): { tenant: string; config: StackConfig; createdAt: string }[] {
        return this.ctx
            .tenantNames()
            .flatMap((tenant) => {
                try {
                    const config = parseStored(this.ctx.storedConfig(tenant));
                    return [{ tenant, config, createdAt: this.record(tenant)?.createdAt ?? "" }];
                } catch {
                    return [];
                }
            })
            .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.tenant.localeCompare(b.tenant));
    }

    /** Every tenant: target, URL, last operation and result, resources, age. */
    async listTenants(): Promise<TenantInfo[]> {
        const names = this.ctx.tenantNames();
        if (names.length === 0) return [];
        const ws = await this.ctx.workspace();
        const stacks = new Map<string, StackSummary>((await ws.listStacks()).map((s) => [s.name, s]));
        const now = Date.now();
        const infos = await mapBounded(names, 4, async (tenant): Promise<TenantInfo> => {
            const info: TenantInfo = { tenant };
            const record = this.record(tenant);
            if (record) {
                info.template = record.template;
                info.createdAt = record.createdAt;
                info.ageMs = now - Date.parse(record.createdAt);
            }
            try {
                const config = parseStored(this.ctx.storedConfig(tenant));
                info.target = config.target;
                info.url = config.publicUrl;
            } catch (e) {
                info.problem = `config: ${(e as Error).message.split("\n").slice(0, 3).join(" ")}`;
            }
            const summary = stacks.get(tenant);
            if (!summary) {
                info.problem ??= `no stack ${tenant} in the backend ${this.ctx.backendUrl}`;
                return info;
            }
            info.resources = summary.resourceCount ?? 0;
            try {
                const stack = await Stack.select(tenant, ws);
                const [last]: UpdateSummary[] = await stack.history(1, 1, false);
                if (last)
                    info.lastOperation = {
                        kind: last.kind,
                        result: last.result,
                        endTime: last.endTime ? new Date(last.endTime).toISOString() : undefined,
                    };
            } catch (e) {
                info.problem ??= `history: ${(e as Error).message.split("\n")[0]}`;
            }
            return info;
        });
        return infos;
    }

    /**
     * Runs `operation` over `tenants` with bounded parallelism (each worker with its own workspace),
     * streaming progress; writes the JSON report and per-tenant logs. A tenant that would collide with
     * an older one (same public URL, realm of the same Keycloak, or namespace) fails before its preview
     * or update runs.
     */
    async runOperation(
        operation: Operation,
        tenants: readonly string[],
        opts: RunOperationOptions = {},
    ): Promise<RunReport & { reportFile: string }> {
        const known = new Set(this.ctx.tenantNames());
        const unknown = tenants.filter((t) => !known.has(t));
        if (unknown.length > 0)
            throw new FleetInputError(undefined, [
                `no tenant ${unknown.join(", ")} in ${this.ctx.dir}: the tenants are ${[...known].join(", ") || "(none)"}`,
            ]);
        let execute = opts.execute;
        if (!execute) {
            const ws = await this.ctx.workspace();
            const totals = Object.fromEntries((await ws.listStacks()).map((s) => [s.name, s.resourceCount]));
            execute = pulumiExecutor(this.ctx, { withData: opts.withData, purgeBackups: opts.purgeBackups, totals });
        }
        const guarded = operation === "preview" || operation === "up" ? this.collisionGuard(execute) : execute;
        const report = await runTenants(operation, tenants, guarded, {
            parallel: opts.parallel,
            onEvent: opts.onEvent,
            signal: opts.signal,
            abortRunning: opts.abortRunning,
            logFile: (tenant, runId) => path.join(this.ctx.logsDir(tenant), `${runId}.log`),
        });
        return { ...report, reportFile: writeReport(this.ctx.reportsDir, report) };
    }

    private collisionGuard(execute: Executor): Executor {
        const all = this.parsedTenants();
        return async (ctx) => {
            const at = all.findIndex((t) => t.tenant === ctx.tenant);
            const conflicts = at < 0 ? [] : fleetConflicts(ctx.tenant, all[at].config, all.slice(0, at));
            if (conflicts.length > 0) throw new Error(conflicts.map((c) => c.message).join("\n"));
            return execute(ctx);
        };
    }

    /** Locks in a file:// backend: their owner, age and whether their process still runs. */
    locks(): LockInfo[] {
        const root = this.ctx.backendDir && path.join(this.ctx.backendDir, ".pulumi", "locks");
        if (!root || !fs.existsSync(root)) return [];
        const locks: LockInfo[] = [];
        const host = os.hostname();
        for (const org of fs.readdirSync(root)) {
            const dir = path.join(root, org, PROJECT);
            if (!fs.existsSync(dir)) continue;
            for (const tenant of fs.readdirSync(dir)) {
                for (const f of fs.readdirSync(path.join(dir, tenant)).filter((f) => f.endsWith(".json"))) {
                    const file = path.join(dir, tenant, f);
                    const lock: LockInfo = { tenant, file };
                    try {
                        const c = JSON.parse(fs.readFileSync(file, "utf8")) as {
                            pid: number;
                            username: string;
                            hostname: string;
                            timestamp: string;
                        };
                        Object.assign(lock, {
                            pid: c.pid,
                            username: c.username,
                            hostname: c.hostname,
                            timestamp: c.timestamp,
                            ageMs: Date.now() - Date.parse(c.timestamp),
                            alive: c.hostname === host ? processAlive(c.pid) : undefined,
                        });
                    } catch {
                        // Unreadable: reported without owner.
                    }
                    locks.push(lock);
                }
            }
        }
        return locks;
    }

    /**
     * Removes a tenant's stale lock(s). Refuses without `yes`, and always when the owning process
     * still runs on this host.
     */
    unlock(tenant: string, yes: boolean): LockInfo[] {
        const locks = this.locks().filter((l) => l.tenant === tenant);
        if (locks.length === 0) return [];
        const live = locks.filter((l) => l.alive);
        if (live.length > 0)
            throw new FleetInputError(tenant, [
                `the lock is held by a running process (${live.map((l) => `pid ${l.pid} of ${l.username}@${l.hostname}`).join(", ")}): wait for it to finish or stop it; its lock goes with it`,
            ]);
        if (!yes)
            throw new FleetInputError(tenant, [
                `would remove ${locks.map((l) => l.file).join(", ")}: make sure no operation on ${tenant} runs (on any host), then add --yes`,
            ]);
        // gocloud.dev's fileblob driver (the file:// backend) keeps `<lock>.attrs` beside each lock.
        for (const l of locks) for (const f of [l.file, `${l.file}.attrs`]) fs.rmSync(f, { force: true });
        return locks;
    }

    /**
     * The language hosts, programs and plugins that CLIs of this fleet left running when they were
     * killed (toolchain/processes.ts pulumiLeftovers), on this host.
     */
    leftovers(): ProcessEntry[] {
        return pulumiLeftovers(this.ctx.backendUrl);
    }

    /** Stops the leftovers (SIGTERM, then SIGKILL); refuses without `yes`. Returns those stopped. */
    async reap(yes: boolean): Promise<ProcessEntry[]> {
        const left = this.leftovers();
        if (left.length > 0 && !yes)
            throw new FleetInputError(undefined, [
                `would stop ${left.map((p) => `${p.pid} ${p.name}`).join(", ")}: add --yes`,
            ]);
        const stopped = new Set(await stopProcesses(left.map((p) => p.pid)));
        return left.filter((p) => stopped.has(p.pid));
    }

    /** A tenant's backups: its repository's snapshots and its host's runs. */
    backups(tenant: string): Promise<BackupListing> {
        return listBackups(this.ctx, tenant);
    }

    /** Restores a backup into a tenant (apps/fleet/backups.ts). */
    restore(tenant: string, o: RestoreOptions = {}): Promise<Snapshot> {
        return restoreTenant(this.ctx, tenant, o);
    }

    /** Removes a tenant that holds no resources: its stack, config and record. */
    async removeTenant(tenant: string): Promise<void> {
        if (!this.ctx.tenantNames().includes(tenant))
            throw new FleetInputError(undefined, [`no tenant ${tenant} in ${this.ctx.dir}`]);
        try {
            await this.ctx.cli(["stack", "rm", "--yes", "--preserve-config", tenant]);
        } catch (e) {
            const message = (e as Error).message;
            if (/still has resources/.test(message))
                throw new FleetInputError(tenant, [
                    `the stack still has resources: destroy them first (destroy ${tenant} --with-data to delete the data too)`,
                ]);
            if (!/no stack named/.test(message)) throw e;
        }
        fs.rmSync(this.ctx.configFile(tenant), { force: true });
        fs.rmSync(this.ctx.recordFile(tenant), { force: true });
    }
}

function nextSteps(plan: TenantPlan, configFile: string): string[] {
    const c = plan.parsed;
    return [
        `register the redirect URI ${plan.redirectUri} with LS Login for client ${c.lsaai.clientId}`,
        `review the tenant's config: ${configFile}`,
        ...(c.target === "kubernetes" && !c.renderDir
            ? [`point KUBECONFIG at the cluster that hosts ${c.kubernetes.namespace}`]
            : []),
        `npm run tenant -- preview ${plan.tenant}`,
        `npm run tenant -- up ${plan.tenant}   (Cytomine at ${c.publicUrl}, Keycloak at ${plan.keycloakUrl})`,
    ];
}

/** Maps with at most `limit` calls at once, keeping order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
    const out: R[] = new Array(items.length);
    let next = 0;
    await Promise.all(
        Array.from({ length: Math.min(limit, items.length) }, async () => {
            for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]);
        }),
    );
    return out;
}
