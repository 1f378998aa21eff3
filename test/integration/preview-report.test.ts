// Issue "guard rails reviewers can trust": cli/preview-report.ts on a real preview of the project's
// program (render mode, identity on the local Keycloak) that replaces a realm, run as CI runs it; and
// no secret of the stack (a config secret, a generated password, the Keycloak admin password) in any
// file it writes, also when the preview fails on a provider error.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { createEphemeralStack, disposeEphemeralStack, EphemeralStack } from "../support/automation";
import { Environment, useEnvironment } from "../../localenv";
import { projectConfig } from "../support/project-config";
import type { ReportJson } from "../../apps/report";
import { repoRoot } from "../../toolchain/index";

const LOCAL_PACK = ["--policy-pack", "policies", "--policy-pack-config", "policies/config.local.json"];
const REALM_URN_SUFFIX = "::cytomine:identity:CytomineRealm$keycloak:index/realm:Realm::cytomine-realm";

describe("preview report on a real preview", { timeout: 600_000 }, () => {
    let env: Environment;
    let e: EphemeralStack;
    let tmp: string;
    let realm: string;
    /** Every secret value the stack knows: config secrets and the generated admin password. */
    let secrets: Record<string, string>;

    before(async () => {
        env = await useEnvironment();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cytomine-report-"));
        const canary = `lsaai-canary-${crypto.randomBytes(12).toString("hex")}`;
        const project = projectConfig(env, "rpt", {
            "cytomine-fallback:renderDir": path.join(tmp, "render"),
            "cytomine-fallback:lsaaiClientSecret": { value: canary, secret: true },
            // allowRealmReplacement true (projectConfig): a realm replacement is planned, not refused.
        });
        realm = project.id;
        e = await createEphemeralStack({
            workDir: repoRoot,
            config: project.config,
            env: { KUBECONFIG: env.kube.kubeconfig },
        });
        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
        const password = up.outputs.cytomineAdminPassword;
        assert.equal(password.secret, true);
        assert.ok(typeof password.value === "string" && password.value.length >= 16);
        secrets = {
            "the LS-AAI client secret (config)": canary,
            "the Keycloak admin password (config)": env.keycloak.adminPassword,
            "the cytomine realm's admin password (generated, an output)": password.value as string,
        };
    });
    after(async () => {
        if (e) await disposeEphemeralStack(e);
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    /** Runs the tool as CI does; returns its exit code and output, and the files it wrote. */
    function report(name: string, ...args: string[]) {
        const out = path.join(tmp, name);
        const r = spawnSync(
            process.execPath,
            [
                "--import",
                "tsx",
                "cli/preview-report.ts",
                "--stack",
                e.stack.name,
                "--cwd",
                repoRoot,
                "--out",
                out,
                ...args,
            ],
            { cwd: repoRoot, env: { ...process.env, ...e.env }, encoding: "utf8" },
        );
        const files = fs.existsSync(out) ? fs.readdirSync(out).sort() : [];
        const read = (f: string) => fs.readFileSync(path.join(out, f), "utf8");
        return { status: r.status, stdout: r.stdout, stderr: r.stderr, out, files, read };
    }

    /** Fails naming the secret and the file, never the value. */
    function assertNoSecret(r: ReturnType<typeof report>): void {
        const texts = [
            ...r.files.map((f) => ({ name: f, text: r.read(f) })),
            { name: "stdout", text: r.stdout },
            { name: "stderr", text: r.stderr },
        ];
        for (const [what, value] of Object.entries(secrets))
            for (const t of texts) assert.ok(!t.text.includes(value), `${what} is in ${t.name}`);
    }

    it("a realm replacement: the report leads with the stateful warning naming the realm and the property; exit 3", async () => {
        await e.stack.setConfig("cytomine-fallback:realm", { value: `${realm}-renamed` });
        const r = report("replace", ...LOCAL_PACK);
        assert.equal(r.status, 3, r.stderr);
        assert.deepEqual(r.files, ["labels.json", "report.full.md", "report.json", "report.md"]);
        const md = r.read("report.md");
        // The first section after the summary is the warning, and its first line is the realm's.
        const sections = md.split("\n").filter((l) => l.startsWith("> [!") || l.startsWith("#### "));
        assert.equal(sections[0], "> [!CAUTION]", md);
        const caution = md.slice(md.indexOf("> [!CAUTION]"));
        const firstItem = caution.split("\n").find((l) => l.startsWith("> - "));
        assert.equal(
            firstItem,
            "> - **replace** `keycloak:index/realm:Realm` **cytomine-realm** in `cytomine:identity:CytomineRealm` `cytomine` — forced by `realm`",
        );
        assert.match(md, /⛔ \*\*Blocked:\*\* 1 stateful resource would be replaced or deleted/);

        const json = JSON.parse(r.read("report.json")) as ReportJson;
        assert.equal(json.verdict, "blocked");
        assert.deepEqual(
            json.statefulChanges.map((s) => [s.urn.endsWith(REALM_URN_SUFFIX), s.op, s.allowed]),
            [[true, "replace", false]],
        );
        const realmChange = json.changes.find((c) => c.urn.endsWith(REALM_URN_SUFFIX));
        assert.deepEqual(realmChange?.diffs, [{ path: "realm", kind: "update-replace" }]);
        assert.deepEqual(json.policyViolations, [], "the local pack profile passes");
        assert.deepEqual(JSON.parse(r.read("labels.json")).add, ["pulumi:replace"]);
        assertNoSecret(r);
    });

    it("with --allow-stateful-changes the same preview exits 2, the warning saying it is allowed", () => {
        const r = report("allowed", "--allow-stateful-changes");
        assert.equal(r.status, 2, r.stderr);
        const md = r.read("report.md");
        assert.match(
            md,
            /> \[!CAUTION\]\n> \*\*1 stateful resource would be replaced or deleted,\*\* .* Allowed for this run/,
        );
        assert.ok(md.includes("**cytomine-realm**"));
        assert.equal((JSON.parse(r.read("report.json")) as ReportJson).statefulChanges[0].allowed, true);
        assertNoSecret(r);
    });

    it("a provider error (Keycloak refusing the admin password) is reported, exit 1, without any secret", async (t) => {
        // A wrong admin password (itself a secret: it must not show either) makes the Keycloak
        // provider fail when the preview configures it. Keycloak's answer does not echo the
        // password; an error that does is covered by the unit test's synthetic stream.
        const wrong = `wrong-${crypto.randomBytes(12).toString("hex")}`;
        secrets["the wrong Keycloak admin password (config)"] = wrong;
        await e.stack.setConfig("cytomine-fallback:realm", { value: realm });
        await e.stack.setConfig("cytomine-fallback:keycloakAdminPassword", { value: wrong, secret: true });
        try {
            const r = report("error");
            assert.equal(r.status, 1, r.stderr);
            const json = JSON.parse(r.read("report.json")) as ReportJson;
            assert.equal(json.verdict, "failed");
            const errors = json.diagnostics.filter((d) => d.severity === "error");
            for (const d of errors) t.diagnostic(`reported error: ${d.message.split("\n").slice(0, 3).join(" | ")}`);
            assert.ok(
                errors.some((d) => /401|invalid_grant|Invalid user credentials|Unauthorized/i.test(d.message)),
                JSON.stringify(errors),
            );
            assert.match(r.read("report.md"), /❌ \*\*Preview failed:\*\*/);
            assertNoSecret(r);
        } finally {
            await e.stack.setConfig("cytomine-fallback:keycloakAdminPassword", {
                value: env.keycloak.adminPassword,
                secret: true,
            });
        }
    });
});
