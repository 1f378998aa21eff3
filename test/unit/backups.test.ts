import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backupSources, repositoryOf, scheduleProblem } from "../../components/model/backups";
import { cytomineServices } from "../../components/model/services";
import { DEFAULT_IMAGES } from "../../components/model/settings";
import { backupEnv, beforeUpgradeScript, cronEntry, rollbackHint } from "../../components/vm/backups";
import { hostLayout } from "../../components/vm/cytomine";
import { chooseSnapshot } from "../../apps/fleet/backups";
import { ConfigError, parseConfig } from "../../program/config";
import { repositoryProblem } from "../../program/config/backups";

const services = (mode: "namespace" | "external") =>
    cytomineServices({
        images: DEFAULT_IMAGES,
        storage: { postgis: "", mongo: "", images: "", iamDb: "", meilisearch: "" },
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
        // Target kubernetes declares none yet: only a stack that asks (the key set) gets them, and a warning.
        const k8s = { ...vm, target: "kubernetes", vm: undefined };
        assert.equal(parseConfig(k8s, ["lsaaiClientSecret"]).backups, undefined);
        assert.equal(parseConfig({ ...k8s, backups: { keepDaily: 3 } }, ["lsaaiClientSecret"]).backups?.keepDaily, 3);
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
});

describe("upgrades back up first", () => {
    it("the step before the project backs up only when another release runs, and its output gives the way back", () => {
        const script = beforeUpgradeScript(
            { configDir: "/opt/cf/lab-a", project: "cytomine-lab-a", release: "abc1234" },
            "sudo -n ",
        );
        assert.match(script, /^# release abc1234$/m, "a new release changes the step, so it runs");
        assert.match(
            script,
            /\[ "\$running" != 'abc1234' \] \|\| \{ echo "release abc1234 runs already: no upgrade"; exit 0; \}/,
        );
        assert.match(script, /sudo -n '\/opt\/cf\/lab-a\/backup\/cytomine-backup\.sh' run before-upgrade$/m);
        const hint = rollbackHint(
            "upgrade from 0165ef7 to abc1234: backing up first\nbackup 9f8e7d6c5b4a3210 of lab-a: 123 bytes\n",
            "lab-a",
            "/opt/cf/lab-a",
        );
        assert.match(
            hint ?? "",
            /set the images back to release 0165ef7 .* npm run tenant -- restore lab-a --at 9f8e7d6c5b4a3210 --force/,
        );
        assert.equal(rollbackHint("no release runs yet: nothing to back up\n", "lab-a", "/opt/cf/lab-a"), undefined);
        assert.equal(rollbackHint("release abc1234 runs already: no upgrade\n", "lab-a", "/opt/cf/lab-a"), undefined);
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
        images: DEFAULT_IMAGES,
        publicUrl: "https://c.example.org",
        keycloak: { mode: "namespace" as const, origin: "https://c.example.org", adminUser: "admin" },
        bindAddress: "127.0.0.1",
        httpPort: 8080,
    };
}

describe("an upgrade at preview", () => {
    it("names the releases, the services that migrate, and what up does first", async () => {
        const { upgradeWarning } = await import("../../program/targets/vm");
        const args = {
            images: DEFAULT_IMAGES,
            keycloak: { mode: "namespace" as const, origin: "https://c.example.org", adminUser: "admin" },
            backups: { settings: { schedule: "30 2 * * *", keepDaily: 7, keepWeekly: 4, repository: "/b" } },
        };
        assert.equal(upgradeWarning(DEFAULT_IMAGES.core, args), undefined);
        assert.match(
            upgradeWarning("registry.cytomine.org/cytomine/core:aaaaaaa", args) ?? "",
            /^upgrade of Cytomine from release aaaaaaa to 0165ef7: core and iam \(Keycloak\) migrate their databases .*up backs the tenant up first/,
        );
        assert.match(
            upgradeWarning("registry.cytomine.org/cytomine/core:aaaaaaa", { ...args, backups: undefined }) ?? "",
            /Backups are off \(backups\.enabled false\): take one by hand before up/,
        );
    });
});
