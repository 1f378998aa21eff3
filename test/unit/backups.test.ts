import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { backupSources, repositoryOf, scheduleProblem } from "../../components/model/backups";
import { cytomineServices } from "../../components/model/services";
import { RELEASE } from "../../components/model/release";
import { DEFAULT_IMAGES, UNSIZED } from "../../components/model/settings";
import { backupEnv, beforeUpgradeScript, cronEntry, restoredBackup, rollbackHint } from "../../components/vm/backups";
import { composeUpScript } from "../../components/vm/scripts";
import { hostLayout } from "../../components/vm/cytomine";
import { writeCommandStub } from "../support/command-stub";
import { chooseSnapshot, rollbackOf } from "../../apps/fleet/backups";
import { ConfigError, parseConfig } from "../../program/config";
import { repositoryProblem } from "../../program/config/backups";

const services = (mode: "namespace" | "external") =>
    cytomineServices({
        images: DEFAULT_IMAGES,
        storage: UNSIZED,
        publicUrl: "https://c.example.org",
        keycloak: { mode, origin: "https://c.example.org", adminUser: "admin" },
        datasets: false,
    });

const vm = {
    tenant: "lab-a",
    target: "ssh",
    publicUrl: "https://cytomine.example.org",
    keycloakMode: "namespace",
    lsaaiClientId: "client-1",
    vm: { host: "203.0.113.7", hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB" },
};

function issues(raw: Record<string, unknown>, secrets?: Parameters<typeof parseConfig>[1]): string[] {
    try {
        parseConfig(raw, secrets);
    } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        return e.issues;
    }
    return assert.fail("expected the config to be refused");
}

describe("backups: what, where and when", () => {
    it("dumps each PostgreSQL database, pauses the other databases, copies the images volume", () => {
        assert.deepEqual(backupSources(services("namespace")), {
            databases: [
                { component: "postgis", user: "docker", database: "docker" },
                { component: "iam-db", user: "keycloak", database: "keycloak" },
            ],
            identity: ["iam-db"],
            paused: [
                { component: "mongo", volume: "data" },
                { component: "meilisearch", volume: "data" },
            ],
            files: [{ component: "pims", volume: "images" }],
        });
        // An external Keycloak: its database is not the tenant's to back up.
        assert.deepEqual(
            backupSources(services("external")).databases.map((d) => d.component),
            ["postgis"],
        );
    });

    it("schedules: cron's five fields, each wrong field named with its range", () => {
        for (const ok of ["30 2 * * *", "*/15 * * * *", "0 1-5 1,15 * 0", "0 3 * * 7"])
            assert.equal(scheduleProblem(ok), undefined, ok);
        assert.match(scheduleProblem("@daily") ?? "", /five fields.*got 1/);
        assert.match(scheduleProblem("60 2 * * *") ?? "", /"60" is not a minute \(0-59/);
        assert.match(scheduleProblem("0 24 * * *") ?? "", /"24" is not a hour/);
        assert.match(scheduleProblem("0 2 0 * *") ?? "", /day of month \(1-31/);
        assert.match(scheduleProblem("0 2 * * MON") ?? "", /"MON" is not a day of week/);
        assert.match(scheduleProblem("*/0 2 * * *") ?? "", /minute/);
        assert.match(scheduleProblem("5-3 2 * * *") ?? "", /minute/);
    });

    it("repositories: a directory on the host or s3:<endpoint>/<bucket>, one per tenant", () => {
        assert.equal(repositoryProblem("/var/backups/cytomine-fallback"), undefined);
        assert.equal(repositoryProblem("s3:https://s3.example.org/bucket/prefix"), undefined);
        assert.match(repositoryProblem("s3:https://s3.example.org") ?? "", /s3:<endpoint URL>\/<bucket>/);
        assert.match(repositoryProblem("backups/") ?? "", /a directory on the host/);
        assert.equal(repositoryOf("s3:http://127.0.0.1:9000/b/", "lab-a"), "s3:http://127.0.0.1:9000/b/lab-a");
    });

    it("config: on by default on the VM targets, each bad key named with its fix", () => {
        assert.deepEqual(parseConfig(vm, ["vmPrivateKey", "lsaaiClientSecret"]).backups, {
            schedule: "30 2 * * *",
            keepDaily: 7,
            keepWeekly: 4,
            repository: "/var/backups/cytomine-fallback",
        });
        assert.equal(
            parseConfig({ ...vm, backups: { enabled: false } }, ["vmPrivateKey", "lsaaiClientSecret"]).backups,
            undefined,
        );
        // Target kubernetes has no bucket to default to: only a stack that names one gets them
        // (the directory default is refused: test/unit/kube-backups.test.ts).
        const k8s = { ...vm, target: "kubernetes", vm: undefined };
        assert.equal(parseConfig(k8s, ["lsaaiClientSecret"]).backups, undefined);
        const bucket = { keepDaily: 3, repository: "s3:https://s3.example.org/b", s3AccessKeyId: "AKID" };
        assert.equal(
            parseConfig({ ...k8s, backups: bucket }, ["lsaaiClientSecret", "backupS3SecretAccessKey"]).backups
                ?.keepDaily,
            3,
        );
        const found = issues({ ...vm, backups: { schedule: "daily", repository: "s3:https://s3.example.org/b" } }, [
            "vmPrivateKey",
            "lsaaiClientSecret",
        ]);
        assert.ok(
            found.some((i) => /^cytomine-fallback:backups\.schedule = "daily": five fields/.test(i)),
            found.join("\n"),
        );
        assert.ok(
            found.some((i) => /^cytomine-fallback:backups\.s3AccessKeyId is not set: required with an s3:/.test(i)),
        );
        assert.ok(
            found.some((i) =>
                /backupS3SecretAccessKey is not set: it is a secret; set it with 'pulumi config set --secret/.test(i),
            ),
        );
        assert.ok(
            issues({ ...vm }, ["vmPrivateKey", "lsaaiClientSecret", "backupS3SecretAccessKey"]).some((i) =>
                /backupS3SecretAccessKey is set but backups\.repository is not an s3: repository/.test(i),
            ),
        );
    });
});

describe("backups on a VM host", () => {
    const settings = { schedule: "*/5 * * * *", keepDaily: 3, keepWeekly: 2, repository: "/srv/backups" };
    const layout = hostLayout({ ...layoutArgs(), backups: { settings }, readyTimeoutSeconds: 300 });

    it("writes the script and its settings beside the project, and the key in an env file of mode 0600", () => {
        const files = layout.plainFiles.map((f) => `${f.path} ${f.mode}`);
        assert.ok(files.includes("backup/cytomine-backup.sh 0700"));
        assert.ok(files.includes("backup/backup.conf 0600"));
        assert.deepEqual(layout.secretFiles, ["env/backup.env"]);
        const conf = layout.plainFiles.find((f) => f.path === "backup/backup.conf")?.content ?? "";
        assert.match(conf, /^DATABASES='postgis:docker:docker iam-db:keycloak:keycloak'$/m);
        assert.match(conf, /^IDENTITY_DATABASES='iam-db'$/m);
        assert.match(conf, /^PAUSED='mongo\/data meilisearch\/data'$/m);
        assert.match(conf, /^FILES='pims\/images'$/m);
        assert.match(conf, /^RELEASE='0165ef7'$/m);
        assert.match(conf, /^KEEP_DAILY='3'$/m);
        assert.doesNotMatch(conf, /RESTIC_PASSWORD/);
        // Without backups: none of it.
        const none = hostLayout({ ...layoutArgs(), backups: undefined });
        assert.equal(none.plainFiles.filter((f) => f.path.startsWith("backup/")).length, 0);
        assert.deepEqual(none.secretFiles, []);
    });

    it("the env file quotes the key, and carries S3 credentials only for an s3: repository", () => {
        const env = backupEnv(settings, "lab-a", "k'ey", undefined);
        assert.equal(env, "RESTIC_REPOSITORY='/srv/backups/lab-a'\nRESTIC_PASSWORD='k'\\''ey'\n");
        const s3 = backupEnv(
            { ...settings, repository: "s3:http://127.0.0.1:9000/b", s3AccessKeyId: "id" },
            "lab-a",
            "k",
            "sk",
        );
        assert.match(s3, /^AWS_ACCESS_KEY_ID='id'\nAWS_SECRET_ACCESS_KEY='sk'$/m);
    });

    it("cron runs the job as root on the schedule", () => {
        const entry = cronEntry({ tenant: "lab-a", configDir: "/opt/cf/lab-a", settings });
        assert.match(
            entry,
            /^\*\/5 \* \* \* \* root '\/opt\/cf\/lab-a\/backup\/cytomine-backup\.sh' run schedule >>'\/opt\/cf\/lab-a\/backup\/backup\.log' 2>&1$/m,
        );
        assert.ok(entry.endsWith("\n"), "cron ignores a last line without a newline");
    });

    it("a scheduled run after a purge stops before restic or docker, recorded as failed with the way on", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "backup-purged-"));
        try {
            const script = layout.plainFiles.find((f) => f.path === "backup/cytomine-backup.sh")?.content ?? "";
            const conf = layout.plainFiles.find((f) => f.path === "backup/backup.conf")?.content ?? "";
            fs.writeFileSync(path.join(dir, "cytomine-backup.sh"), script, { mode: 0o700 });
            fs.writeFileSync(path.join(dir, "backup.conf"), conf);
            fs.writeFileSync(path.join(dir, ".purged"), "2026-12-06T18:00:00Z\n");
            // restic and docker record any call: a run that reaches them fails this test.
            const bin = path.join(dir, "bin");
            fs.mkdirSync(bin);
            for (const tool of ["restic", "docker", "docker-compose"])
                fs.writeFileSync(path.join(bin, tool), `#!/bin/sh\necho ${tool} >>'${dir}/called'\nexit 1\n`, {
                    mode: 0o755,
                });
            const run = (trigger: string) =>
                spawnSync("bash", [path.join(dir, "cytomine-backup.sh"), "run", trigger], {
                    encoding: "utf8",
                    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
                });
            const scheduled = run("schedule");
            assert.equal(scheduled.status, 0, scheduled.stderr);
            assert.match(scheduled.stderr, /the backups of lab-a were purged: this scheduled run skipped/);
            assert.equal(fs.existsSync(path.join(dir, "called")), false, "restic or docker was called");
            const [record] = fs
                .readFileSync(path.join(dir, "runs.jsonl"), "utf8")
                .trim()
                .split("\n")
                .map((l) => JSON.parse(l));
            assert.equal(record.status, "failed");
            assert.equal(record.trigger, "schedule");
            assert.match(
                record.message,
                /purged at 2026-12-06T18:00:00Z .*destroy lab-a --with-data --purge-backups.*delete .*\.purged/,
            );
            // A run asked for by hand is not stopped by the marker: it goes on to the tools.
            assert.notEqual(run("manual").status, 0);
            assert.ok(fs.existsSync(path.join(dir, "called")), "a manual run reaches the tools");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("reading a repository while a run holds its exclusive lock", () => {
    it("the listing and the up's check still answer (restic 0.14, a real repository)", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "backup-locked-"));
        const restic = { ...process.env, RESTIC_REPOSITORY: path.join(dir, "repo"), RESTIC_PASSWORD: "k" };
        const run = (args: string[]) => spawnSync("restic", args, { encoding: "utf8", env: restic });
        let holder: ReturnType<typeof spawn> | undefined;
        assert.equal(run(["version"]).error, undefined, "restic is not installed: bash scripts/setup.sh installs it");
        try {
            const layout = hostLayout({
                ...layoutArgs(),
                backups: { settings: { schedule: "30 2 * * *", keepDaily: 7, keepWeekly: 4, repository: dir } },
            });
            const file = (name: string) => layout.plainFiles.find((f) => f.path === name)?.content ?? "";
            fs.mkdirSync(path.join(dir, "backup"));
            fs.mkdirSync(path.join(dir, "env"));
            fs.writeFileSync(path.join(dir, "backup", "cytomine-backup.sh"), file("backup/cytomine-backup.sh"));
            fs.writeFileSync(
                path.join(dir, "backup", "backup.conf"),
                file("backup/backup.conf").replace(/^CONFIG_DIR=.*$/m, `CONFIG_DIR='${dir}'`),
            );
            fs.writeFileSync(
                path.join(dir, "env", "backup.env"),
                `RESTIC_REPOSITORY='${restic.RESTIC_REPOSITORY}'\nRESTIC_PASSWORD='k'\n`,
            );
            assert.equal(run(["init", "-q"]).status, 0);
            fs.writeFileSync(path.join(dir, "slide"), crypto.randomBytes(8 << 20));
            assert.equal(run(["backup", "-q", "--tag", "tenant=lab-a", path.join(dir, "slide")]).status, 0);
            // `check --read-data` holds the exclusive lock a run's forget --prune takes, here for about
            // 8 s (its reads limited to 1 MiB/s); a locking read is refused meanwhile.
            holder = spawn("restic", ["check", "--read-data", "--limit-download", "1024"], { env: restic });
            // It says "load indexes" once it holds the lock. Waited for by its output, not by locking
            // reads, since a read's own (shared) lock makes the check's exclusive one fail.
            let said = "";
            holder.stdout?.on("data", (d: Buffer) => (said += d.toString()));
            holder.stderr?.on("data", (d: Buffer) => (said += d.toString()));
            const deadline = Date.now() + 20_000;
            while (!said.includes("load indexes") && holder.exitCode === null && Date.now() < deadline)
                await new Promise((r) => setTimeout(r, 50));
            assert.match(said, /load indexes/, `restic check did not take the lock: ${said}`);
            assert.notEqual(run(["cat", "config"]).status, 0, "the exclusive lock was not taken");
            const script = (...args: string[]) =>
                spawnSync("bash", [path.join(dir, "backup", "cytomine-backup.sh"), ...args], {
                    encoding: "utf8",
                    env: process.env,
                });
            const list = script("list");
            assert.equal(list.status, 0, list.stderr);
            assert.equal((JSON.parse(list.stdout) as { snapshots: unknown[] }).snapshots.length, 1);
            const check = script("check");
            assert.equal(check.status, 0, check.stderr);
            assert.match(check.stdout, /opens with lab-a's key/);
            assert.notEqual(run(["cat", "config"]).status, 0, "the lock was released before the script ran");
        } finally {
            holder?.kill();
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("upgrades back up first", () => {
    const KEYCLOAK = "quay.io/keycloak/keycloak:26.4.7";
    /** Runs the step's script on this machine: docker and the backup script are stubs that log their calls. */
    function beforeUpgrade(
        to: { release: string; keycloakImage?: string },
        o: { core?: string; iam?: string; restored?: string },
    ) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "before-upgrade-"));
        try {
            const bin = path.join(dir, "bin");
            fs.mkdirSync(bin);
            fs.mkdirSync(path.join(dir, "backup"));
            const stub = (file: string, body: string) => writeCommandStub(file, `${dir}/calls`, body);
            stub(
                path.join(bin, "docker"),
                [
                    `case "$*" in`,
                    `"compose version") exit 0 ;;`,
                    `*" ps -q core") ${o.core ? "echo c0re" : "true"} ;;`,
                    `*" ps -q iam") ${o.iam ? "echo 1am" : "true"} ;;`,
                    `"inspect --format "*" c0re") echo registry.cytomine.org/cytomine/core:${o.core} ;;`,
                    `"inspect --format "*" 1am") echo ${o.iam} ;;`,
                    `*) exit 9 ;;`,
                    `esac`,
                ].join("\n"),
            );
            stub(path.join(dir, "backup", "cytomine-backup.sh"), `echo "backup 9f8e7d6c5b4a3210 of lab-a: 123 bytes"`);
            if (o.restored) fs.writeFileSync(path.join(dir, "backup", "restored"), `${o.restored}\n`);
            const run = spawnSync("bash", ["-c", beforeUpgradeScript({ configDir: dir, project: "p", ...to }, "")], {
                encoding: "utf8",
                env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
            });
            assert.equal(run.status, 0, run.stderr);
            const calls = fs.existsSync(path.join(dir, "calls"))
                ? fs.readFileSync(path.join(dir, "calls"), "utf8")
                : "";
            return { stdout: run.stdout, calls, marker: fs.existsSync(path.join(dir, "backup", "restored")) };
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }
    const hint = (stdout: string) => rollbackHint(stdout, "lab-a", "/opt/cf/lab-a");

    it("the step before the project backs up only when another release runs, and its output gives the way back", () => {
        const to = { release: "0165ef7" };
        const first = beforeUpgrade(to, {});
        assert.equal(first.stdout, "no release runs yet: nothing to back up\n");
        assert.doesNotMatch(first.calls, /cytomine-backup/);
        const same = beforeUpgrade(to, { core: "0165ef7" });
        assert.equal(same.stdout, "release 0165ef7 runs already: no upgrade\n");
        assert.doesNotMatch(same.calls, /cytomine-backup/);
        const upgrade = beforeUpgrade(to, { core: "26e8daf" });
        assert.match(upgrade.calls, /^cytomine-backup\.sh run before-upgrade$/m);
        assert.equal(
            upgrade.stdout,
            "upgrade from 26e8daf to 0165ef7: backing up first\nbackup 9f8e7d6c5b4a3210 of lab-a: 123 bytes\n",
        );
        assert.equal(restoredBackup(upgrade.stdout), undefined);
        assert.match(
            hint(upgrade.stdout) ?? "",
            /To roll back to release 26e8daf with that data: npm run tenant -- restore lab-a --at 9f8e7d6c5b4a3210 --rollback --force .*restore 9f8e7d6c5b4a3210 --force --rollback on the host, then pulumi config set release 26e8daf and pulumi up/,
        );
        assert.equal(hint(first.stdout), undefined);
        assert.equal(hint(same.stdout), undefined);
    });

    it("Keycloak in the project: a new image backs up first too, and the way back sets images.iam", () => {
        const to = { release: "0165ef7", keycloakImage: KEYCLOAK };
        const same = beforeUpgrade(to, { core: "0165ef7", iam: KEYCLOAK });
        assert.equal(same.stdout, "release 0165ef7 runs already: no upgrade\n");
        const older = "quay.io/keycloak/keycloak:26.3.0";
        const upgrade = beforeUpgrade(to, { core: "0165ef7", iam: older });
        assert.equal(
            upgrade.stdout,
            `upgrade of Keycloak from ${older} to ${KEYCLOAK}: backing up first\nbackup 9f8e7d6c5b4a3210 of lab-a: 123 bytes\n`,
        );
        assert.match(
            hint(upgrade.stdout) ?? "",
            new RegExp(
                `To roll back to Keycloak ${older.replace(/\./g, "\\.")} with that data: npm run tenant -- restore lab-a --at 9f8e7d6c5b4a3210 --rollback --force .*then pulumi config set --path images\\.iam ${older.replace(/\./g, "\\.")} and pulumi up`,
            ),
        );
        // Both at once: one backup, both named.
        const both = beforeUpgrade(to, { core: "26e8daf", iam: older });
        assert.equal((both.calls.match(/cytomine-backup\.sh run before-upgrade/g) ?? []).length, 1);
        assert.match(hint(both.stdout) ?? "", /To roll back to release 26e8daf and Keycloak .*26\.3\.0 with that data/);
    });

    it("after a rollback's restore, the next up of those versions says which backup it starts on, once", () => {
        // The failed release still runs (restarting): the restored data is started, not backed up again.
        const rolled = beforeUpgrade({ release: "26e8daf" }, { core: "0165ef7", restored: "9f8e7d6c 26e8daf -" });
        assert.equal(rolled.stdout, "restored backup 9f8e7d6c of release 26e8daf: this up starts it\n");
        assert.equal(rolled.marker, false, "the note is read once");
        assert.doesNotMatch(rolled.calls, /docker|cytomine-backup/);
        assert.equal(restoredBackup(rolled.stdout), "9f8e7d6c");
        const withKeycloak = beforeUpgrade(
            { release: "26e8daf", keycloakImage: KEYCLOAK },
            { core: "0165ef7", restored: `9f8e7d6c 26e8daf ${KEYCLOAK}` },
        );
        assert.equal(restoredBackup(withKeycloak.stdout), "9f8e7d6c");
        // The compose step's script carries it, so it runs even where its files did not change.
        const up = (restored?: string) =>
            composeUpScript(
                {
                    dir: "/d",
                    project: "p",
                    digest: "x",
                    waitFor: [],
                    timeoutSeconds: 1,
                    ...(restored ? { restored } : {}),
                },
                "",
            );
        assert.notEqual(up("9f8e7d6c"), up());
        // A note for other versions is not this up's: the step goes on as without it (an upgrade backs up).
        const other = beforeUpgrade({ release: "0165ef7" }, { core: "26e8daf", restored: "9f8e7d6c 26e8daf -" });
        assert.match(other.stdout, /^upgrade from 26e8daf to 0165ef7: backing up first$/m);
        assert.equal(other.marker, true);
    });
});

describe("choosing a snapshot", () => {
    const snaps = [
        { id: "aaaa1111", short_id: "aaaa1111", time: "2026-12-01T02:30:00Z" },
        { id: "bbbb2222", short_id: "bbbb2222", time: "2026-12-02T02:30:00Z" },
        { id: "bbbb3333", short_id: "bbbb3333", time: "2026-12-03T02:30:00Z" },
    ];
    it("the newest, by id prefix, or the newest at or before a time; each miss names what there is", () => {
        assert.equal(chooseSnapshot(snaps, undefined, "r").id, "bbbb3333");
        assert.equal(chooseSnapshot(snaps, "aaaa", "r").id, "aaaa1111");
        assert.equal(chooseSnapshot(snaps, "2026-12-02T12:00:00Z", "r").id, "bbbb2222");
        assert.throws(() => chooseSnapshot(snaps, "bbbb", "r"), /more than one backup starts with it/);
        assert.throws(
            () => chooseSnapshot(snaps, "cccc", "r"),
            /no backup with that id in r \(ids: aaaa1111, bbbb2222, bbbb3333\)/,
        );
        assert.throws(
            () => chooseSnapshot(snaps, "2026-11-01T00:00:00Z", "r"),
            /no backup in r at or before that time/,
        );
        assert.throws(() => chooseSnapshot(snaps, "yesterday", "r"), /neither a backup id nor a time/);
        assert.throws(() => chooseSnapshot([], undefined, "r"), /no backup in r yet/);
    });
});

function layoutArgs() {
    return {
        tenant: "lab-a",
        configDir: "/opt/cf",
        dataDir: "/var/lib/cf",
        release: RELEASE.tag,
        images: DEFAULT_IMAGES,
        publicUrl: "https://c.example.org",
        keycloak: { mode: "namespace" as const, origin: "https://c.example.org", adminUser: "admin" },
        bindAddress: "127.0.0.1",
        httpPort: 8080,
    };
}

describe("a rollback sets back the versions the backup was taken with", () => {
    const config = { tenant: "lab-a", release: "0165ef7" as const, images: DEFAULT_IMAGES };
    const snapshot = (...tags: string[]) => ({ id: "9f8e7d6c5b4a", short_id: "9f8e7d6c", time: "t", tags });
    it("the release, and Keycloak's image when the backup names it; refused when nothing would change or the release is unknown", () => {
        assert.deepEqual(rollbackOf(config, snapshot("tenant=lab-a", "release=26e8daf")), { release: "26e8daf" });
        assert.deepEqual(rollbackOf(config, snapshot("release=0165ef7", "keycloak=quay.io/keycloak/keycloak:26.3.0")), {
            release: "0165ef7",
            keycloak: "quay.io/keycloak/keycloak:26.3.0",
        });
        assert.throws(
            () => rollbackOf(config, snapshot("release=0165ef7", `keycloak=${DEFAULT_IMAGES.iam}`)),
            /--rollback: backup 9f8e7d6c is of release 0165ef7 and .*, which the tenant runs already: restore it without --rollback/,
        );
        assert.throws(
            () => rollbackOf(config, snapshot("release=5.1.0")),
            /--rollback: backup 9f8e7d6c is of release 5\.1\.0, which this stack does not describe \(0165ef7, 26e8daf\)/,
        );
    });
});

describe("an upgrade at preview", () => {
    const args = {
        tenant: "lab-a",
        release: "0165ef7",
        images: DEFAULT_IMAGES,
        keycloak: { mode: "namespace" as const, origin: "https://c.example.org", adminUser: "admin" },
        backups: { settings: { schedule: "30 2 * * *", keepDaily: 7, keepWeekly: 4, repository: "/b" } },
    };
    const core = (tag: string) => `registry.cytomine.org/cytomine/core:${tag}`;

    it("names the releases, the services that change and migrate, and what up does first", async () => {
        const { upgradeWarnings } = await import("../../program/targets/upgrade");
        assert.deepEqual(upgradeWarnings({ core: DEFAULT_IMAGES.core, iam: DEFAULT_IMAGES.iam }, args), []);
        assert.deepEqual(upgradeWarnings(undefined, args), [], "nothing runs yet");
        const [upgrade] = upgradeWarnings({ core: core("26e8daf") }, args);
        assert.match(
            upgrade,
            /^upgrade of Cytomine from release 26e8daf to 0165ef7: the images of core, repository, pims, web-ui change \(26e8daf\.\.0165ef7: core's project services .*\); core and iam \(Keycloak\) migrate their databases .*up backs the tenant up first/,
        );
        // A release this stack does not describe: still an upgrade, without the list of changes.
        assert.match(
            upgradeWarnings({ core: core("aaaaaaa") }, { ...args, backups: undefined })[0],
            /^upgrade of Cytomine from release aaaaaaa to 0165ef7: the images of core, repository, pims, web-ui change; .*Backups are off \(backups\.enabled false\): take one by hand before up/,
        );
        // Back to an earlier release: the way is the backup taken before the upgrade, restored first.
        assert.match(
            upgradeWarnings({ core: DEFAULT_IMAGES.core }, { ...args, release: "26e8daf" })[0],
            /^downgrade of Cytomine from release 0165ef7 to 26e8daf: .*npm run tenant -- restore lab-a --at <its id> --rollback --force/,
        );
    });

    it("a new Keycloak image in the project is an upgrade of Keycloak; an external Keycloak is not the tenant's", async () => {
        const { upgradeWarnings } = await import("../../program/targets/upgrade");
        const running = { core: DEFAULT_IMAGES.core, iam: "quay.io/keycloak/keycloak:26.3.0" };
        const warnings = upgradeWarnings(running, args);
        assert.equal(warnings.length, 1);
        assert.ok(
            warnings[0].startsWith(
                `upgrade of Keycloak from quay.io/keycloak/keycloak:26.3.0 to ${DEFAULT_IMAGES.iam} (images.iam): Keycloak migrates its database (iam-db)`,
            ),
            warnings[0],
        );
        assert.match(upgradeWarnings(running, args)[0], /up backs the tenant up first/);
        const external = { ...args, keycloak: { ...args.keycloak, mode: "external" as const } };
        assert.deepEqual(upgradeWarnings(running, external), []);
    });
});
