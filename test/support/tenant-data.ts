// A VM tenant's data as the backup drills make and compare it: rows with geometries in its PostGIS
// (through psql, the database's own client, in its container), files on its images volume, and
// checksums of both, so a restore can be compared exactly.
import { execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

const sha = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

/** Every file under `dir`, relative, with its sha256. */
export function checksums(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            if (e.isDirectory()) walk(p);
            else out[path.relative(dir, p)] = sha(p);
        }
    };
    walk(dir);
    return out;
}

/** True when any file under `dir` holds `needle`'s bytes. */
export function holds(dir: string, needle: string): boolean {
    const bytes = Buffer.from(needle);
    const walk = (d: string): boolean =>
        fs.readdirSync(d, { withFileTypes: true }).some((e) => {
            const p = path.join(d, e.name);
            return e.isDirectory() ? walk(p) : fs.readFileSync(p).includes(bytes);
        });
    return walk(dir);
}

/** The tenants of one host: where their files are, and the Docker engine their projects run on. */
export interface TenantRoots {
    configRoot: string;
    dataRoot: string;
    dockerHost: string;
}

/** psql's arguments for one statement as core's database user (`docker`), stopping at the first error. */
export const psqlArgs = (sql: string) => ["psql", "-U", "docker", "-d", "docker", "-v", "ON_ERROR_STOP=1", "-Atc", sql];

/** psql in the tenant's PostGIS container, as its own user (Cytomine core's database `docker`). */
export function psql(r: TenantRoots, tenant: string, sql: string): string {
    return execFileSync(
        // Debian's Compose v1, as the host's steps run it (components/vm/scripts.ts).
        "docker-compose",
        ["-p", `cytomine-${tenant}`, "-f", `${r.configRoot}/${tenant}/compose.yaml`, "exec", "-T", "postgis"].concat(
            psqlArgs(sql),
        ),
        { encoding: "utf8", env: { ...process.env, DOCKER_HOST: r.dockerHost } },
    ).trim();
}

/** The tenant's images volume on the host. */
export const imagesOf = (r: TenantRoots, tenant: string) => `${r.dataRoot}/${tenant}/pims/images`;

/** What a drill compares after a restore: the annotations' count and geometries, and the files' checksums. */
export interface TenantData {
    rows: string;
    files: Record<string, string>;
}

/** The annotations' count and geometries, as one row. */
export const READ_ROWS_SQL = "select count(*), string_agg(ST_AsText(location), ';' order by id) from user_annotation";

/** 250 annotations with polygons in core's table, each note holding `canary`. */
export const makeRowsSql = (canary: string) =>
    "create table user_annotation (id serial primary key, note text not null, location geometry(Polygon) not null);" +
    `insert into user_annotation (note, location) select '${canary}-' || g, ` +
    "ST_MakeEnvelope(g, g * 2, g + 10.5, g * 2 + 7.25) from generate_series(1, 250) g;";

export const readData = (r: TenantRoots, tenant: string): TenantData => ({
    rows: psql(r, tenant, READ_ROWS_SQL),
    files: checksums(imagesOf(r, tenant)),
});

/**
 * 250 annotations with polygons in core's table and 5 slide files of 200 kB, each holding `canary`
 * (so a repository's bytes can be searched for plaintext). Returns what a restore must give back.
 */
export function makeData(r: TenantRoots, tenant: string, canary: string): TenantData {
    psql(r, tenant, makeRowsSql(canary));
    fs.mkdirSync(path.join(imagesOf(r, tenant), "upload"), { recursive: true });
    for (let i = 0; i < 5; i++)
        fs.writeFileSync(
            path.join(imagesOf(r, tenant), "upload", `slide-${i}.tif`),
            `${canary} ${crypto.randomBytes(200_000).toString("base64")}`,
        );
    return readData(r, tenant);
}
