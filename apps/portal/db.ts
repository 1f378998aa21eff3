// The page's database: embedded SQLite by default (sql.js, SQLite compiled to WebAssembly: the native
// drivers need an install step that downloads or compiles, and setup installs with --ignore-scripts),
// PostgreSQL by setting (`pg`). Statements are written once, with `?` placeholders and portable types
// (TEXT, INTEGER); times are ISO strings.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { PortalConfig } from "./config";

export type Row = Record<string, unknown>;

export interface Db {
    readonly kind: "sqlite" | "postgres";
    /** Runs a statement; returns the rows it changed. */
    run(sql: string, params?: readonly unknown[]): Promise<number>;
    all<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
    close(): Promise<void>;
}

const SCHEMA = [
    `CREATE TABLE IF NOT EXISTS tenants (
        name TEXT PRIMARY KEY, owner TEXT NOT NULL, owner_name TEXT NOT NULL, template TEXT NOT NULL,
        size TEXT NOT NULL, datasets TEXT NOT NULL, target TEXT NOT NULL, url TEXT NOT NULL,
        status TEXT NOT NULL, input TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS tenants_owner ON tenants (owner)`,
    `CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, owner TEXT NOT NULL, kind TEXT NOT NULL,
        state TEXT NOT NULL, attempts INTEGER NOT NULL, progress TEXT, summary TEXT, error TEXT,
        created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT)`,
    `CREATE INDEX IF NOT EXISTS jobs_tenant ON jobs (tenant)`,
    `CREATE TABLE IF NOT EXISTS audit (
        id TEXT PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
        target TEXT NOT NULL, result TEXT NOT NULL, detail TEXT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS audit_at ON audit (at)`,
    `CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY, data TEXT NOT NULL, created_at TEXT NOT NULL, seen_at TEXT NOT NULL)`,
];

export async function openDb(config: PortalConfig["database"]): Promise<Db> {
    const db = config.kind === "sqlite" ? await openSqlite(config.file) : await openPostgres(config.url);
    for (const statement of SCHEMA) await db.run(statement);
    return db;
}

/**
 * SQLite in memory, written to FILE (atomically: a temporary file renamed over it) after every
 * change, so a killed process loses no committed row.
 */
async function openSqlite(file: string): Promise<Db> {
    const { default: initSqlJs } = await import("sql.js");
    const SQL = await initSqlJs();
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = fs.existsSync(file) ? new SQL.Database(fs.readFileSync(file)) : new SQL.Database();
    const persist = () => {
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, db.export(), { mode: 0o600 });
        fs.renameSync(tmp, file);
    };
    const bind = (params: readonly unknown[]) =>
        params.map((p) => (p === undefined ? null : p)) as (string | number | null)[];
    return {
        kind: "sqlite",
        async run(sql, params = []) {
            db.run(sql, bind(params));
            const changed = db.getRowsModified();
            if (!/^\s*SELECT/i.test(sql)) persist();
            return changed;
        },
        async all<T>(sql: string, params: readonly unknown[] = []) {
            const stmt = db.prepare(sql);
            try {
                stmt.bind(bind(params));
                const rows: T[] = [];
                while (stmt.step()) rows.push(stmt.getAsObject() as T);
                return rows;
            } finally {
                stmt.free();
            }
        },
        async close() {
            db.close();
        },
    };
}

async function openPostgres(url: string): Promise<Db> {
    const { Pool } = await import("pg");
    const pool = new Pool({ connectionString: url, max: 4 });
    await pool.query("SELECT 1");
    const numbered = (sql: string) => {
        let n = 0;
        return sql.replace(/\?/g, () => `$${++n}`);
    };
    return {
        kind: "postgres",
        async run(sql, params = []) {
            return (await pool.query(numbered(sql), [...params])).rowCount ?? 0;
        },
        async all<T>(sql: string, params: readonly unknown[] = []) {
            return (await pool.query(numbered(sql), [...params])).rows as T[];
        },
        async close() {
            await pool.end();
        },
    };
}

/** True when ERR is a primary-key or unique violation (a double submit). */
export function isUniqueViolation(err: unknown): boolean {
    const e = err as { code?: string; message?: string };
    return e.code === "23505" || /UNIQUE constraint failed/.test(e.message ?? "");
}

export const newId = () => crypto.randomBytes(12).toString("base64url");
export const now = () => new Date().toISOString();
