// What the page keeps: tenants and their owners, jobs, the audit log and sessions, over either database.
import { Db, newId, now } from "./db";

export type TenantStatus =
    "launching" | "ready" | "stopping" | "stopped" | "starting" | "deleting" | "deleted" | "failed";
export type JobKind = "launch" | "start" | "stop" | "delete";
export type JobState = "queued" | "running" | "done" | "failed";

export interface TenantRow {
    name: string;
    owner: string;
    owner_name: string;
    template: string;
    size: string;
    /** JSON list of dataset ids. */
    datasets: string;
    target: string;
    url: string;
    status: TenantStatus;
    /** JSON of the fleet's TenantInput without secrets: what a resumed launch creates the tenant from. */
    input: string;
    created_at: string;
    updated_at: string;
}

export interface Progress {
    phase: string;
    done: number;
    total?: number;
    elapsedMs: number;
    message?: string;
}

export interface JobRow {
    id: string;
    tenant: string;
    owner: string;
    kind: JobKind;
    state: JobState;
    attempts: number;
    /** JSON Progress: the last event. */
    progress: string | null;
    /** One line: the operation's result and changes. */
    summary: string | null;
    error: string | null;
    created_at: string;
    started_at: string | null;
    finished_at: string | null;
}

export interface AuditRow {
    at: string;
    actor: string;
    action: string;
    target: string;
    result: string;
    detail: string;
}

export class Store {
    constructor(readonly db: Db) {}

    // Tenants

    async insertTenant(t: Omit<TenantRow, "created_at" | "updated_at">): Promise<void> {
        const at = now();
        await this.db.run(
            `INSERT INTO tenants (name, owner, owner_name, template, size, datasets, target, url, status, input, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            [t.name, t.owner, t.owner_name, t.template, t.size, t.datasets, t.target, t.url, t.status, t.input, at, at],
        );
    }
    async tenant(name: string): Promise<TenantRow | undefined> {
        return (await this.db.all<TenantRow>(`SELECT * FROM tenants WHERE name = ?`, [name]))[0];
    }
    async tenantsOf(owner: string): Promise<TenantRow[]> {
        return this.db.all<TenantRow>(
            `SELECT * FROM tenants WHERE owner = ? AND status <> 'deleted' ORDER BY created_at`,
            [owner],
        );
    }
    /** Every tenant the user ever had (deleted included): tenant names are never reused. */
    async tenantCountEver(owner: string): Promise<number> {
        const [row] = await this.db.all<{ n: number | string }>(`SELECT COUNT(*) AS n FROM tenants WHERE owner = ?`, [
            owner,
        ]);
        return Number(row.n);
    }
    async allTenants(): Promise<TenantRow[]> {
        return this.db.all<TenantRow>(`SELECT * FROM tenants ORDER BY created_at`);
    }
    async setTenantStatus(name: string, status: TenantStatus): Promise<void> {
        await this.db.run(`UPDATE tenants SET status = ?, updated_at = ? WHERE name = ?`, [status, now(), name]);
    }

    // Jobs

    async insertJob(tenant: string, owner: string, kind: JobKind): Promise<JobRow> {
        const job: JobRow = {
            id: newId(),
            tenant,
            owner,
            kind,
            state: "queued",
            attempts: 0,
            progress: JSON.stringify({ phase: "queued", done: 0, elapsedMs: 0 } satisfies Progress),
            summary: null,
            error: null,
            created_at: now(),
            started_at: null,
            finished_at: null,
        };
        await this.db.run(
            `INSERT INTO jobs (id, tenant, owner, kind, state, attempts, progress, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
            [job.id, tenant, owner, kind, job.state, 0, job.progress, job.created_at],
        );
        return job;
    }
    async job(id: string): Promise<JobRow | undefined> {
        return (await this.db.all<JobRow>(`SELECT * FROM jobs WHERE id = ?`, [id]))[0];
    }
    async jobsIn(state: JobState): Promise<JobRow[]> {
        return this.db.all<JobRow>(`SELECT * FROM jobs WHERE state = ? ORDER BY created_at`, [state]);
    }
    async jobsOf(tenant: string): Promise<JobRow[]> {
        return this.db.all<JobRow>(`SELECT * FROM jobs WHERE tenant = ? ORDER BY created_at DESC`, [tenant]);
    }
    async allJobs(limit = 200): Promise<JobRow[]> {
        return this.db.all<JobRow>(`SELECT * FROM jobs ORDER BY created_at DESC LIMIT ?`, [limit]);
    }
    /** Marks a queued job running; false when another worker took it. */
    async claimJob(id: string): Promise<boolean> {
        return (
            (await this.db.run(
                `UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ? WHERE id = ? AND state = 'queued'`,
                [now(), id],
            )) === 1
        );
    }
    async setProgress(id: string, p: Progress): Promise<void> {
        await this.db.run(`UPDATE jobs SET progress = ? WHERE id = ?`, [JSON.stringify(p), id]);
    }
    async finishJob(id: string, state: "done" | "failed", summary: string, error?: string): Promise<void> {
        await this.db.run(`UPDATE jobs SET state = ?, summary = ?, error = ?, finished_at = ? WHERE id = ?`, [
            state,
            summary,
            error ?? null,
            now(),
            id,
        ]);
    }
    async requeueJob(id: string): Promise<void> {
        await this.db.run(`UPDATE jobs SET state = 'queued' WHERE id = ?`, [id]);
    }
    /** Launches a user asked for since SINCE (rate limit). */
    async launchesSince(owner: string, since: string): Promise<number> {
        const [row] = await this.db.all<{ n: number | string }>(
            `SELECT COUNT(*) AS n FROM jobs WHERE owner = ? AND kind = 'launch' AND created_at >= ?`,
            [owner, since],
        );
        return Number(row.n);
    }

    // Audit

    async audit(e: Omit<AuditRow, "at">): Promise<void> {
        await this.db.run(
            `INSERT INTO audit (id, at, actor, action, target, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
            [newId(), now(), e.actor, e.action, e.target, e.result, e.detail.slice(0, 2000)],
        );
    }
    async auditLog(limit = 200): Promise<AuditRow[]> {
        return this.db.all<AuditRow>(
            `SELECT at, actor, action, target, result, detail FROM audit ORDER BY at DESC LIMIT ?`,
            [limit],
        );
    }

    // Sessions (the row id is a digest of the cookie's token: a leaked table opens no session)

    async saveSession(id: string, data: string, createdAt: string): Promise<void> {
        const at = now();
        const changed = await this.db.run(`UPDATE sessions SET data = ?, seen_at = ? WHERE id = ?`, [data, at, id]);
        if (changed === 0)
            await this.db.run(`INSERT INTO sessions (id, data, created_at, seen_at) VALUES (?, ?, ?, ?)`, [
                id,
                data,
                createdAt,
                at,
            ]);
    }
    async session(id: string): Promise<{ data: string; created_at: string; seen_at: string } | undefined> {
        return (
            await this.db.all<{ data: string; created_at: string; seen_at: string }>(
                `SELECT data, created_at, seen_at FROM sessions WHERE id = ?`,
                [id],
            )
        )[0];
    }
    async deleteSession(id: string): Promise<void> {
        await this.db.run(`DELETE FROM sessions WHERE id = ?`, [id]);
    }
}
