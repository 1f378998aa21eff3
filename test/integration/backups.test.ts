// The restore drill on the VM target, through the tenant CLI and the real Docker engine: data made in
// a tenant's PostGIS (through psql, its own client) and on its images volume; a backup taken by the
// schedule (cron on the SSH test host runs the tenant's cron entry; the test never calls restic); the
// tenant destroyed with its data; its backup restored into a fresh tenant; rows, geometries and file
// checksums compared exactly; and the repository's bytes searched for the data's and the secrets'
// plaintext. The repository is in a bucket of the environment's S3 server (s3proxy, a real S3 API
// with signature checks; its objects are files there, so the bytes can be searched). Restic 0.14 and
// cron are Debian's packages, as a VM would have them.
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { BackupListing } from "../../apps/fleet";
import { Stack } from "@pulumi/pulumi/automation";
import { Fleet } from "../../apps/fleet";
import { Environment, useEnvironment } from "../../localenv";
import { readEnvFile } from "../support/env-file";
import { newVmTenant, show, tenantCli } from "../support/tenant-cli";
import { holds, makeData, readData, TenantRoots } from "../support/tenant-data";

describe("backups on the VM target: a scheduled backup restored into a fresh tenant", { timeout: 2_400_000 }, () => {
    let env: Environment;
    let dir: string;
    const id = crypto.randomBytes(2).toString("hex");
    const [source, fresh] = ["a", "b"].map((x) => `bk${id}-${x}`);
    const configRoot = "/opt/cytomine-fallback-backup-test";
    const dataRoot = "/var/lib/cytomine-fallback-backup-test";
    const bucket = `cytomine-backup-test-${id}`;
    /** The tenant's repository as the S3 server stores it: a folder of the bucket's. */
    const repositoryOf = (tenant: string) => path.join(env.s3.dataDir, bucket, tenant);
    const canary = `canary-${crypto.randomBytes(8).toString("hex")}`;
    const cli = (args: string[], timeoutMs?: number) => tenantCli([...args, "--fleet-dir", dir], {}, timeoutMs);
    const roots = (): TenantRoots => ({ configRoot, dataRoot, dockerHost: env.docker.host });
    const backups = async (tenant: string) => {
        const run = await cli(["backups", tenant, "--json"]);
        assert.equal(run.code, 0, show(run));
        return JSON.parse(run.stdout) as BackupListing;
    };
    /**
     * cron runs the entry at the next minute: a bounded wait for a successful scheduled run that began
     * after `after` (ms), the moment the data it must hold was made (a run begun before it would not).
     */
    const scheduledBackup = async (tenant: string, after: number) => {
        const began = (r: BackupListing["runs"][number]) => Date.parse(r.time) - r.seconds * 1000;
        const wanted = (l: BackupListing) =>
            l.runs
                .filter((r) => r.kind === "backup" && r.status === "ok" && r.trigger === "schedule")
                .find((r) => began(r) >= Math.ceil(after / 1000) * 1000);
        const deadline = Date.now() + 180_000;
        let listing = await backups(tenant);
        while (!wanted(listing) && Date.now() < deadline) {
            assert.deepEqual(
                listing.runs.filter((r) => r.kind === "backup" && r.status === "failed"),
                [],
                "a failed run",
            );
            await new Promise((r) => setTimeout(r, 10_000));
            listing = await backups(tenant);
        }
        const run = wanted(listing);
        assert.ok(run, `no scheduled backup of ${tenant} began within 180 s: ${JSON.stringify(listing)}`);
        return { listing, run };
    };
    const newTenant = (tenant: string) =>
        newVmTenant(env, {
            tenant,
            fleetDir: dir,
            configRoot,
            dataRoot,
            extra: [
                // Every minute: the drill waits for the schedule, not for 02:30.
                ...["--set", "backups.schedule=* * * * *"],
                ...["--set", `backups.repository=s3:${env.s3.endpoint}/${bucket}`],
                ...["--set", `backups.s3AccessKeyId=${env.s3.accessKeyId}`],
            ],
            secrets: { BACKUP_S3_SECRET_ACCESS_KEY: env.s3.secretAccessKey },
        });

    before(async () => {
        env = await useEnvironment();
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "backups-it-"));
    });
    after(async () => {
        if (!dir) return;
        const left = new Fleet({ dir }).ctx.tenantNames();
        try {
            if (left.length) {
                const run = await cli(["destroy", ...left, "--yes", "--with-data", "--parallel", "2"]);
                assert.equal(run.code, 0, show(run));
            }
        } finally {
            for (const root of [configRoot, dataRoot, path.join(env.s3.dataDir, bucket), dir])
                fs.rmSync(root, { recursive: true, force: true });
        }
    });

    let rows: string;
    let files: Record<string, string>;
    let secrets: string[];

    it("a tenant's data, backed up by its schedule: the run recorded with its size, the repository encrypted", async () => {
        await newTenant(source);
        ({ rows, files } = makeData(roots(), source, canary));
        // The secrets a backup must not reveal: the repository's key, the bucket's secret key and the
        // tenant's database password.
        secrets = [
            readEnvFile(`${configRoot}/${source}/env/postgis.env`).POSTGRES_PASSWORD,
            /RESTIC_PASSWORD='([^']+)'/.exec(fs.readFileSync(`${configRoot}/${source}/env/backup.env`, "utf8"))?.[1] ??
                "",
            env.s3.secretAccessKey,
        ];
        assert.ok(
            secrets.every((s) => s.length >= 16),
            "the secrets were read",
        );
        assert.match(
            fs.readFileSync(`/etc/cron.d/cytomine-fallback-${source}`, "utf8"),
            /^\* \* \* \* \* root '.*cytomine-backup\.sh' run schedule/m,
        );

        const { listing, run: last } = await scheduledBackup(source, Date.now());
        assert.ok(last, `no successful backup within 180 s: ${JSON.stringify(listing)}`);
        assert.equal(last.trigger, "schedule");
        assert.equal(last.release, "0165ef7");
        assert.ok(last.bytes > 1_000_000, `the backup's size: ${last.bytes}`);
        // restic 0.14 gives the short id in its summary.
        assert.ok(listing.snapshots.some((s) => s.id.startsWith(last.snapshot)));
        const text = await cli(["backups", source]);
        assert.match(text.stdout, /last success: [0-9a-f]{8}, [0-9.]+ [KM]iB, /);
        // No plaintext: neither the rows, nor the files, nor a secret.
        const repository = repositoryOf(source);
        assert.ok(fs.readdirSync(path.join(repository, "data")).length > 0, "the repository holds data");
        for (const needle of [canary, ...secrets])
            assert.equal(holds(repository, needle), false, "plaintext in the repository");
    });

    it("a wrong secret key for the bucket stops up at the schedule's step, naming the keys to fix", async () => {
        const stack = await Stack.select(source, await new Fleet({ dir }).ctx.workspace());
        const key = "cytomine-fallback:backupS3SecretAccessKey";
        await stack.setConfig(key, { value: "not-the-secret-key", secret: true });
        try {
            const up = await cli(["up", source], 600_000);
            assert.equal(up.code, 1, show(up));
            assert.match(
                show(up),
                /the backup repository s3:\S+ does not open \(restic's reason above\): check backups\.repository, and for an s3: one backups\.s3AccessKeyId and the secret backupS3SecretAccessKey/,
            );
            assert.doesNotMatch(show(up), /not-the-secret-key/, "the secret in the output");
        } finally {
            await stack.setConfig(key, { value: env.s3.secretAccessKey, secret: true });
        }
        const again = await cli(["up", source], 600_000);
        assert.equal(again.code, 0, show(again));
    });

    it("destroy --with-data keeps the backups and their key; a restore into a fresh tenant gives the same rows, geometries and files", async () => {
        const destroy = await cli(["destroy", source, "--yes", "--with-data"]);
        assert.equal(destroy.code, 0, show(destroy));
        assert.equal(fs.existsSync(`${dataRoot}/${source}`), false, "the data folder is gone");
        assert.equal(fs.existsSync(`/etc/cron.d/cytomine-fallback-${source}`), false, "the schedule is gone");
        assert.ok(fs.existsSync(path.join(repositoryOf(source), "config")), "the repository stays");

        await newTenant(fresh);
        // Bad input first: nothing is stopped or replaced.
        const unknown = await cli(["restore", fresh, "--from", source, "--at", "deadbeef"]);
        assert.equal(unknown.code, 1);
        assert.match(unknown.stderr + unknown.stdout, /--at deadbeef: no backup with that id in .*\(ids: [0-9a-f]{8}/);

        const restore = await cli(["restore", fresh, "--from", source], 900_000);
        assert.equal(restore.code, 0, show(restore));
        assert.match(restore.stdout, new RegExp(`restored ${fresh} from backup [0-9a-f]{8} .*\\(tenant ${source}\\)`));
        assert.deepEqual(readData(roots(), fresh), { rows, files });

        // A second restore would replace the data the tenant now holds: refused, naming it, unless --force.
        const again = await cli(["restore", fresh, "--from", source]);
        assert.equal(again.code, 1);
        assert.match(
            again.stderr + again.stdout,
            new RegExp(
                `${fresh} holds data that restoring [0-9a-f]+ would replace: rows \\(user_annotation=250\\), 5 image files.*--force`,
            ),
        );
        const listing = await backups(fresh);
        assert.ok(listing.runs.some((r) => r.kind === "restore" && r.status === "ok"));
        // The refusal touched nothing, so it is not a run: the record shows no failed restore.
        assert.deepEqual(
            listing.runs.filter((r) => r.status === "failed"),
            [],
        );
    });

    it("destroy --with-data --purge-backups deletes the tenant's backups with it", async () => {
        const snapshots = () => fs.readdirSync(path.join(repositoryOf(fresh), "snapshots"));
        await scheduledBackup(fresh, 0);
        assert.ok(snapshots().length > 0, "the fresh tenant's own backups");
        const destroy = await cli(["destroy", fresh, "--yes", "--with-data", "--purge-backups"]);
        assert.equal(destroy.code, 0, show(destroy));
        assert.deepEqual(fs.existsSync(path.join(repositoryOf(fresh), "snapshots")) ? snapshots() : [], []);
        // The source's backups, another tenant's, are untouched.
        assert.ok(fs.readdirSync(path.join(repositoryOf(source), "snapshots")).length > 0);
    });
});
