// Jobs run through the fleet library (apps/fleet) on a queue with bounded parallelism. The queue's truth
// is the database: a job is claimed before it runs, its progress is stored as it comes, and a restart
// finds what was running: such a job runs again (an `up` or `destroy` is idempotent) until it has had
// its attempts, then fails with the reason. The state backend's lock left by an interrupted run is
// waited for while its process lives and removed once it is gone (apps/fleet Fleet.unlock).
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import { Stack } from "@pulumi/pulumi/automation";
import { keycloakBaseUrl } from "../../components/identity/names";
import { PROJECT } from "../../program/config";
import { type Executor, Fleet, type ProgressEvent, type Secrets, type TenantInput } from "../fleet";
import { parseStored } from "../fleet/plan";
import type { JobKind, JobRow, Progress, Store, TenantRow, TenantStatus } from "./store";

export interface WorkResult {
    summary: string;
}

/** Does one job's work; throws to fail it. */
export type Worker = (job: JobRow, tenant: TenantRow, report: (p: Progress) => void) => Promise<WorkResult>;

const RUNNING: Record<JobKind, TenantStatus> = {
    launch: "launching",
    start: "starting",
    stop: "stopping",
    delete: "deleting",
};
const DONE: Record<JobKind, TenantStatus> = { launch: "ready", start: "ready", stop: "stopped", delete: "deleted" };

/** A job's final event, after its progress events. */
export interface JobEnd {
    state: "done" | "failed";
    summary: string;
    error?: string;
    status: TenantStatus;
}

export class JobQueue {
    private readonly events = new EventEmitter();
    private running = 0;
    private pumping = false;
    private closed = false;
    private readonly active = new Set<Promise<void>>();

    constructor(
        private readonly store: Store,
        private readonly worker: Worker,
        private readonly opts: { parallel: number; maxAttempts: number },
    ) {
        this.events.setMaxListeners(0);
    }

    /** At start: jobs left running by a stopped process run again, or fail once out of attempts. */
    async recover(): Promise<string[]> {
        const notes: string[] = [];
        for (const job of await this.store.jobsIn("running")) {
            if (job.attempts < this.opts.maxAttempts) {
                await this.store.requeueJob(job.id);
                notes.push(`job ${job.id} (${job.kind} ${job.tenant}) was interrupted: queued again`);
            } else {
                const error = `interrupted by a restart after ${job.attempts} attempt(s): retry it from the page`;
                await this.store.finishJob(job.id, "failed", "interrupted", error);
                await this.store.setTenantStatus(job.tenant, "failed");
                notes.push(`job ${job.id} (${job.kind} ${job.tenant}) failed: ${error}`);
            }
        }
        this.pump();
        return notes;
    }

    async submit(tenant: TenantRow, kind: JobKind): Promise<JobRow> {
        const job = await this.store.insertJob(tenant.name, tenant.owner, kind);
        await this.store.setTenantStatus(tenant.name, RUNNING[kind]);
        this.pump();
        return job;
    }

    /** Follows a job: progress events, then its end. Returns the unsubscribe function. */
    follow(id: string, onProgress: (p: Progress) => void, onEnd: (e: JobEnd) => void): () => void {
        this.events.on(`progress:${id}`, onProgress);
        this.events.on(`end:${id}`, onEnd);
        return () => {
            this.events.off(`progress:${id}`, onProgress);
            this.events.off(`end:${id}`, onEnd);
        };
    }

    /** Stops starting jobs and waits for the running ones. */
    async close(): Promise<void> {
        this.closed = true;
        await Promise.allSettled([...this.active]);
    }

    private pump(): void {
        if (this.pumping || this.closed) return;
        this.pumping = true;
        void (async () => {
            try {
                while (!this.closed && this.running < this.opts.parallel) {
                    const queued = await this.store.jobsIn("queued");
                    const next = queued.find((j) => !this.busyTenants.has(j.tenant));
                    if (!next) break;
                    if (!(await this.store.claimJob(next.id))) continue;
                    // Read again: the claim counted this attempt.
                    const claimed = (await this.store.job(next.id)) as JobRow;
                    this.running++;
                    this.busyTenants.add(next.tenant);
                    const p = this.run(claimed).finally(() => {
                        this.running--;
                        this.busyTenants.delete(next.tenant);
                        this.active.delete(p);
                        this.pump();
                    });
                    this.active.add(p);
                }
            } finally {
                this.pumping = false;
            }
        })();
    }
    private readonly busyTenants = new Set<string>();

    private async run(job: JobRow): Promise<void> {
        const tenant = await this.store.tenant(job.tenant);
        let end: JobEnd;
        try {
            if (!tenant) throw new Error(`tenant ${job.tenant} is not in the database`);
            await this.store.setTenantStatus(tenant.name, RUNNING[job.kind]);
            const result = await this.worker(job, tenant, (p) => {
                void this.store.setProgress(job.id, p).catch(() => undefined);
                this.events.emit(`progress:${job.id}`, p);
            });
            end = { state: "done", summary: result.summary, status: DONE[job.kind] };
        } catch (e) {
            const error = e instanceof Error ? e.message : String(e);
            end = { state: "failed", summary: `${job.kind} failed`, error, status: "failed" };
        }
        // The tenant's status first: whoever sees the job ended sees the tenant's new status too.
        if (tenant) await this.store.setTenantStatus(tenant.name, end.status);
        await this.store.finishJob(job.id, end.state, end.summary, end.error);
        this.events.emit(`end:${job.id}`, end);
    }
}

const MAX_LOCK_WAIT_MS = 15 * 60_000;

/**
 * The worker that runs jobs through the fleet: launch (and start) create the tenant where it does not
 * exist completely (the record file is written last, so a creation cut short is redone) and run `up`;
 * stop destroys keeping protected data; delete destroys with the data and removes the tenant.
 */
export function fleetWorker(
    fleet: Fleet,
    secretsFor: (template: string) => Secrets,
    opts: { execute?: Executor; lockPollMs?: number } = {},
): Worker {
    return async (job, tenant, report) => {
        const onEvent = (e: ProgressEvent) =>
            report({ phase: e.phase, done: e.done, total: e.total, elapsedMs: e.elapsedMs, message: e.message });
        const operate = async (operation: "up" | "destroy", withData = false) => {
            await settleLock(fleet, tenant.name, opts.lockPollMs ?? 2000, report);
            if (job.attempts > 1 && !opts.execute)
                await clearInterrupted(fleet, tenant.name, job.kind === "launch", report);
            const result = await fleet.runOperation(operation, [tenant.name], {
                onEvent,
                withData,
                execute: opts.execute,
            });
            const t = result.tenants[0];
            if (t.result !== "ok") throw new Error(t.error ?? `${operation} ${t.result}`);
            const changes = Object.entries(t.changes)
                .map(([k, n]) => `${n} ${k}`)
                .join(", ");
            return `${operation} ok in ${Math.round(t.durationMs / 1000)} s${changes ? ` (${changes})` : " (no changes)"}`;
        };
        const created = () => fleet.ctx.tenantNames().includes(tenant.name) && fleet.record(tenant.name);
        switch (job.kind) {
            case "launch":
            case "start": {
                // A start after a failed launch creates what the launch did not.
                if (!created()) {
                    report({ phase: "starting", done: 0, elapsedMs: 0, message: "creating the tenant's stack" });
                    await removePartial(fleet, tenant.name);
                    const input = JSON.parse(tenant.input) as TenantInput;
                    await fleet.createTenant({ ...input, secrets: secretsFor(tenant.template) });
                }
                return { summary: await operate("up") };
            }
            case "stop":
                if (!created()) return { summary: "nothing was deployed" };
                return { summary: await operate("destroy") };
            case "delete": {
                if (!created()) {
                    await removePartial(fleet, tenant.name);
                    return { summary: "nothing was deployed; tenant removed" };
                }
                const summary = await operate("destroy", true);
                await fleet.removeTenant(tenant.name);
                return { summary: `${summary}; tenant removed` };
            }
        }
    };
}

/** What an interrupted creation left (config written, record not yet): removed so creation starts clean. */
async function removePartial(fleet: Fleet, tenant: string): Promise<void> {
    if (!fs.existsSync(fleet.ctx.configFile(tenant))) return;
    await fleet.ctx.cli(["stack", "rm", "--yes", "--force", tenant]).catch(() => undefined);
    fs.rmSync(fleet.ctx.configFile(tenant), { force: true });
}

/**
 * After a killed run the state may list operations that were in flight ("pending"): Pulumi cannot know
 * whether they finished. A refresh settles them: a pending realm is imported by its name (its id), the
 * other pending creates are dropped so that the next `up` creates them again. The Kubernetes provider
 * built here (4.25, server-side apply) adopts an object that exists. Keycloak refuses a second object
 * of a name and its ids are generated, and a killed engine's state can lag behind what the providers
 * did (a realm created but in neither the state nor its pending operations, seen in the restart test).
 * A launch that never completed holds no user data: its realms are deleted (with what is in them) and
 * created again by the `up`. Elsewhere (a start) such an object makes the `up` fail with its name.
 */
async function clearInterrupted(
    fleet: Fleet,
    tenant: string,
    firstLaunch: boolean,
    report: (p: Progress) => void,
): Promise<void> {
    const stack = await Stack.select(tenant, await fleet.ctx.workspace());
    const pending = ((await stack.exportStack()).deployment?.pending_operations ?? []) as PendingOperation[];
    const say = (message: string) => report({ phase: "starting", done: 0, elapsedMs: 0, message });
    if (pending.length > 0) {
        say(`${pending.length} operation(s) interrupted by a restart: refreshing the state`);
        await fleet.ctx.cli(settleArgs(tenant, pending), undefined, MAX_LOCK_WAIT_MS);
    }
    if (!firstLaunch) return;
    say("recreating the realms the interrupted launch began");
    const resources = ((await stack.exportStack()).deployment?.resources ?? []) as { urn: string; type: string }[];
    const realms = resources.filter((r) => r.type === REALM).map((r) => r.urn);
    if (realms.length > 0) {
        for (const urn of realms) await fleet.ctx.cli(["state", "unprotect", "--stack", tenant, "--yes", urn]);
        await fleet.ctx.cli(
            [
                "destroy",
                "--stack",
                tenant,
                "--yes",
                "--skip-preview",
                "--target-dependents",
                ...realms.flatMap((u) => ["--target", u]),
            ],
            undefined,
            MAX_LOCK_WAIT_MS,
        );
    }
    await deleteUnrecordedRealms(fleet, tenant);
}

/**
 * Deletes the tenant's realms that the state does not record, through Keycloak's Admin REST API as
 * the stack's master admin (keycloakMode external: the password is the stack's secret, read from the
 * CLI's output, never put on a command line). With keycloakMode namespace the Keycloak is the
 * tenant's own, deployed by the same launch; its generated password is not read here.
 */
async function deleteUnrecordedRealms(fleet: Fleet, tenant: string): Promise<void> {
    const config = parseStored(fleet.ctx.storedConfig(tenant));
    if (config.keycloak.mode !== "external") return;
    const password = (
        await fleet.ctx.cli(["config", "get", "--stack", tenant, `${PROJECT}:keycloakAdminPassword`])
    ).stdout.trim();
    const base = keycloakBaseUrl(config.keycloak.origin, config.keycloak.basePath);
    const token = await fetch(`${base}/realms/master/protocol/openid-connect/token`, {
        method: "POST",
        body: new URLSearchParams({
            grant_type: "password",
            client_id: "admin-cli",
            username: config.keycloak.adminUser,
            password,
        }),
    });
    if (!token.ok) throw new Error(`Keycloak ${base}: admin sign-in answered ${token.status}`);
    const { access_token } = (await token.json()) as { access_token: string };
    for (const realm of [config.realm, ...(config.orthanc.enabled ? [config.orthanc.realm] : [])]) {
        const res = await fetch(`${base}/admin/realms/${encodeURIComponent(realm)}`, {
            method: "DELETE",
            headers: { authorization: `Bearer ${access_token}` },
        });
        if (!res.ok && res.status !== 404)
            throw new Error(`Keycloak ${base}: deleting the unrecorded realm ${realm} answered ${res.status}`);
    }
}

const REALM = "keycloak:index/realm:Realm";

export interface PendingOperation {
    type: string;
    resource: { urn: string; type: string; inputs?: Record<string, unknown> };
}

/** The refresh that settles PENDING: realms imported by name (their id), the other pending creates dropped. */
export function settleArgs(tenant: string, pending: readonly PendingOperation[]): string[] {
    const imports = pending.flatMap(({ type, resource: r }) =>
        type === "creating" && r.type === REALM && typeof r.inputs?.realm === "string"
            ? ["--import-pending-creates", r.urn, "--import-pending-creates", r.inputs.realm]
            : [],
    );
    return ["refresh", "--stack", tenant, "--yes", "--skip-preview", "--clear-pending-creates", ...imports];
}

/** Waits while a live process holds the tenant's lock; removes a lock whose process is gone. */
async function settleLock(fleet: Fleet, tenant: string, pollMs: number, report: (p: Progress) => void) {
    const deadline = Date.now() + MAX_LOCK_WAIT_MS;
    for (;;) {
        const locks = fleet.locks().filter((l) => l.tenant === tenant);
        if (locks.length === 0) return;
        if (locks.every((l) => l.alive === false)) {
            fleet.unlock(tenant, true);
            return;
        }
        if (Date.now() > deadline)
            throw new Error(
                `the stack ${tenant} stays locked (${locks.map((l) => `pid ${l.pid} on ${l.hostname}`).join(", ")}): check \`npm run tenant -- locks\``,
            );
        report({
            phase: "queued",
            done: 0,
            elapsedMs: 0,
            message: "waiting for an earlier run on this instance to end",
        });
        await new Promise((r) => setTimeout(r, pollMs));
    }
}
