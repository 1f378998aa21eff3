// Issue 15, the user page, with real parts: the project's program declares the page's client in a
// realm of the local Keycloak, a second realm plays LS-AAI (as in broker-login.test.ts), the page runs
// as `npm run portal` does (its own process, SQLite), Debian's Chromium driven by playwright-core signs
// in through the broker, and launches go through the fleet library onto the local Kubernetes.
// Screenshots of each step go to .local/test-output/portal/. The authorization matrix, bad input and
// restart bookkeeping run in-process on SQLite and on a throwaway PostgreSQL (Debian's package).
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import YAML from "yaml";
import { keycloakRealmEndpoints } from "../../components/identity/endpoints";
import { createEphemeralStack, disposeEphemeralStack, EphemeralStack } from "../support/automation";
import { keycloakAdmin, kubeApi } from "../support/clients";
import { Fleet } from "../../apps/fleet";
import { Environment, useEnvironment } from "../../localenv";
import { projectConfig, freePort } from "../support/project-config";
import { repoRoot } from "../../toolchain/index";
import { describeMatrix, TEST_TEMPLATE_SET } from "../support/portal-matrix";
import { Postgres, startPostgres } from "../support/postgres";

const OUT = path.join(repoRoot, ".local", "test-output", "portal");
const CHROMIUM = "/usr/bin/chromium";

describeMatrix("SQLite", () => ({
    kind: "sqlite",
    file: path.join(fs.mkdtempSync(path.join(os.tmpdir(), "portal-db-")), "portal.db"),
}));

describe("on PostgreSQL", () => {
    let pg: Postgres | undefined;
    before(async () => {
        pg = await startPostgres();
        // The page reads the password where pg reads it, never from its config.
        process.env.PGPASSWORD = pg.password;
    });
    after(() => {
        pg?.stop();
        delete process.env.PGPASSWORD;
    });
    describeMatrix("PostgreSQL", () => ({ kind: "postgres", url: (pg as Postgres).url }));
});

/** Polls the text of SELECTOR on PAGE (as the event stream fills it) until OK accepts it. */
async function until(
    page: Page,
    selector: string,
    ok: (text: string) => boolean | Promise<boolean>,
    timeoutMs: number,
) {
    const deadline = Date.now() + timeoutMs;
    let text = "";
    while (Date.now() < deadline) {
        text = (await page.textContent(selector)) ?? "";
        if (await ok(text)) return;
        await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${selector} stayed at ${JSON.stringify(text)}`);
}

/** Waits until the progress page shows the job's end (from its events); fails with the job's message. */
async function jobEnded(page: Page, timeoutMs = 600_000) {
    await page.waitForSelector('#progress[data-state="done"], #progress[data-state="failed"]', { timeout: timeoutMs });
    const failed = (await page.getAttribute("#progress", "data-state")) === "failed";
    assert.ok(!failed, `the job failed: ${await page.textContent("#message")}`);
}

/** The page as its own process (`npm run portal`), output to a log. */
class PortalProcess {
    child?: ChildProcess;
    constructor(
        private readonly configFile: string,
        private readonly env: Record<string, string>,
        private readonly log: string,
    ) {}
    async start(url: string) {
        const env: NodeJS.ProcessEnv = { ...process.env, ...this.env };
        for (const k of [
            "PULUMI_BACKEND_URL",
            "PULUMI_CONFIG_PASSPHRASE",
            "PULUMI_CONFIG_PASSPHRASE_FILE",
            "PGPASSWORD",
        ])
            delete env[k];
        const out = fs.openSync(this.log, "a");
        this.child = spawn(process.execPath, ["--import", "tsx", "cli/portal.ts", "--config", this.configFile], {
            cwd: repoRoot,
            env,
            stdio: ["ignore", out, out],
        });
        for (let i = 0; i < 120; i++) {
            if (this.child.exitCode !== null)
                throw new Error(`the portal exited: ${fs.readFileSync(this.log, "utf8")}`);
            const ok = await fetch(`${url}/healthz`).then(
                (r) => r.ok,
                () => false,
            );
            if (ok) return;
            await new Promise((r) => setTimeout(r, 500));
        }
        throw new Error(`the portal did not answer: ${fs.readFileSync(this.log, "utf8")}`);
    }
    /** SIGKILL: a crash, no clean-up. */
    async kill() {
        const child = this.child;
        if (!child || child.exitCode !== null) return;
        const gone = new Promise((r) => child.on("exit", r));
        child.kill("SIGKILL");
        await gone;
    }
}

describe("the user page with real Keycloak, engine and browser", { timeout: 1_500_000 }, () => {
    let env: Environment;
    let kc: Awaited<ReturnType<typeof keycloakAdmin>>;
    let identity: EphemeralStack | undefined;
    let realm: string;
    let upstream: string;
    let portalUrl: string;
    let dir: string;
    let portal: PortalProcess;
    let browser: Browser;
    const passwords = {
        alice: crypto.randomBytes(12).toString("base64url"),
        bob: crypto.randomBytes(12).toString("base64url"),
    };
    const state: { aliceTenant?: string; aliceJob?: string; bobTenant?: string; bobJob?: string } = {};
    let step = 0;
    const shot = async (page: Page, name: string) =>
        page.screenshot({ path: path.join(OUT, `${String(++step).padStart(2, "0")}-${name}.png`), fullPage: true });

    before(async () => {
        fs.rmSync(OUT, { recursive: true, force: true });
        fs.mkdirSync(OUT, { recursive: true });
        env = await useEnvironment();
        kc = await keycloakAdmin(env.keycloak);
        const port = await freePort();
        portalUrl = `http://127.0.0.1:${port}`;
        const project = projectConfig(env, "pt", { "cytomine-fallback:portalUrl": portalUrl });
        realm = project.id;
        upstream = `${project.id}-lsaai`;
        const clientSecret = crypto.randomBytes(24).toString("base64url");
        await kc.realms.create({ realm: upstream, enabled: true, sslRequired: "none" });
        await kc.clients.create({
            realm: upstream,
            clientId: project.config["cytomine-fallback:lsaaiClientId"] as string,
            secret: clientSecret,
            publicClient: false,
            clientAuthenticatorType: "client-secret",
            standardFlowEnabled: true,
            redirectUris: [`${env.keycloak.url}/realms/${realm}/broker/oidc/endpoint`],
        });
        for (const [username, password] of Object.entries(passwords))
            await kc.users.create({
                realm: upstream,
                username,
                email: `${username}@example.org`,
                emailVerified: true,
                firstName: username,
                lastName: "Researcher",
                enabled: true,
                credentials: [{ type: "password", value: password, temporary: false }],
            });

        identity = await createEphemeralStack({
            workDir: repoRoot,
            config: {
                ...project.config,
                "cytomine-fallback:lsaaiClientSecret": { value: clientSecret, secret: true },
                "cytomine-fallback:lsaaiEndpoints": JSON.stringify(
                    keycloakRealmEndpoints(`${env.keycloak.url}/realms/${upstream}`),
                ),
            },
            env: { KUBECONFIG: env.kube.kubeconfig },
        });
        const up = await identity.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
        const out = await identity.stack.outputs();
        assert.equal(out.portalClient.secret, true, "portalClient must be a secret output");
        const client = out.portalClient.value as { issuer: string; clientId: string; clientSecret: string };
        assert.equal(client.issuer, `${env.keycloak.url}/realms/${realm}`);

        dir = fs.mkdtempSync(path.join(os.tmpdir(), "portal-it-"));
        const configFile = path.join(dir, "portal.yaml");
        fs.writeFileSync(
            configFile,
            YAML.stringify({
                listen: { host: "127.0.0.1", port },
                publicUrl: portalUrl,
                oidc: { issuer: client.issuer, clientId: client.clientId },
                database: { kind: "sqlite", file: path.join(dir, "portal.db") },
                fleet: { dir: path.join(dir, "fleet"), parallel: 2, env: { KUBECONFIG: env.kube.kubeconfig } },
                templates: {
                    kubernetes: {
                        label: "Cytomine on Kubernetes",
                        set: [
                            ...TEST_TEMPLATE_SET.map((s) =>
                                s.replace(/^keycloakUrl=.*/, `keycloakUrl=${env.keycloak.url}`),
                            ),
                            `keycloakAdminUser=${env.keycloak.adminUser}`,
                        ],
                        sizes: { small: ["storage.images=1Gi", "storage.postgis=1Gi", "storage.mongo=1Gi"] },
                    },
                },
            }),
        );
        portal = new PortalProcess(
            configFile,
            {
                PORTAL_CLIENT_SECRET: client.clientSecret,
                LSAAI_CLIENT_SECRET: crypto.randomBytes(16).toString("hex"),
                KEYCLOAK_ADMIN_PASSWORD: env.keycloak.adminPassword,
            },
            path.join(OUT, "portal.log"),
        );
        await portal.start(portalUrl);
        const { chromium } = await import("playwright-core");
        browser = await chromium.launch({ executablePath: CHROMIUM });
    });

    after(async () => {
        await browser?.close().catch(() => undefined);
        await portal?.kill();
        if (dir) {
            const fleet = new Fleet({ dir: path.join(dir, "fleet"), env: { KUBECONFIG: env.kube.kubeconfig } });
            const left = fleet.ctx.tenantNames();
            for (const t of left) {
                try {
                    fleet.unlock(t, true);
                } catch {
                    // Held by a live run: the destroy below waits for nothing and fails for that tenant.
                }
            }
            if (left.length)
                await fleet.runOperation("destroy", left, { withData: true, parallel: 2 }).catch(() => undefined);
            // Whatever a failed destroy left: the tenants' namespaces and realms (named after them).
            const kube = await kubeApi(env.kube.kubeconfig);
            for (const t of left) {
                await kube.core.deleteNamespace({ name: t }).catch(() => undefined);
                await kc.realms.del({ realm: t }).catch(() => undefined);
            }
        }
        if (identity) await disposeEphemeralStack(identity);
        if (kc && upstream) await kc.realms.del({ realm: upstream }).catch(() => undefined);
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    /** Signs in through the page: Keycloak's login page, its LS_AAI button, the upstream realm's form. */
    async function signIn(
        user: keyof typeof passwords,
        screenshots: boolean,
    ): Promise<{ context: BrowserContext; page: Page }> {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`${portalUrl}/`);
        assert.ok(
            page.url().startsWith(`${env.keycloak.url}/realms/${realm}/`),
            `expected Keycloak's login page, got ${page.url()}`,
        );
        if (screenshots) await shot(page, "keycloak-login-offers-ls-aai");
        await page.click("#social-oidc");
        assert.ok(
            page.url().startsWith(`${env.keycloak.url}/realms/${upstream}/`),
            `expected the LS-AAI stand-in, got ${page.url()}`,
        );
        await page.fill("#username", user);
        await page.fill("#password", passwords[user]);
        if (screenshots) await shot(page, "ls-aai-stand-in-login");
        await page.click("#kc-login");
        await page.waitForURL(`${portalUrl}/`);
        assert.match((await page.textContent("nav .who")) ?? "", new RegExp(user));
        return { context, page };
    }

    async function launch(page: Page, screenshots: boolean) {
        await page.click("nav >> text=Launch");
        const tenant = (await page.textContent("#tenant-name")) as string;
        assert.match(tenant, /^cy-[a-z0-9-]+-[0-9a-f]{4}-1$/);
        if (screenshots) await shot(page, "launch");
        await page.click("#launch-button");
        await page.waitForURL(/\/jobs\/[\w-]+$/);
        const job = page.url().split("/").pop() as string;
        return { tenant, job };
    }

    it("a user signs in through the broker, launches a Cytomine, watches its progress to ready and sees its URL", async () => {
        const { page } = await signIn("alice", true);
        await shot(page, "my-cytomine-empty");
        const { tenant, job } = await launch(page, true);
        state.aliceTenant = tenant;
        state.aliceJob = job;
        // Live progress: a running phase with resources counted, from the event stream.
        await until(page, "#resources", (t) => /^[1-9]\d*\/\d+$/.test(t), 300_000);
        assert.equal(await page.textContent("#phase"), "running");
        await shot(page, "progress-running");
        await jobEnded(page);
        assert.ok(await page.isVisible("#ready"), "the job ended without the instance's URL");
        await shot(page, "progress-ready");
        const [done, total] = ((await page.textContent("#resources")) as string).split("/").map(Number);
        assert.ok(done > 40 && done === total, `resources ${done}/${total}`);
        assert.equal(await page.getAttribute("#url", "href"), `https://${tenant}.cytomine.example.org`);
        // The fleet made it: the namespace exists, owned by the tenant's stack.
        const kube = await kubeApi(env.kube.kubeconfig);
        const ns = await kube.core.readNamespace({ name: tenant });
        assert.match(ns.metadata?.annotations?.["cytomine.io/stack"] ?? "", new RegExp(`/${tenant}$`));
        await page.goto(`${portalUrl}/`);
        assert.equal(await page.textContent(`[data-tenant="${tenant}"] .status`), "ready");
        await shot(page, "my-cytomine-ready");
    });

    it("a second user does not see it and is refused calling its actions directly", async () => {
        assert.ok(state.aliceTenant && state.aliceJob, "needs the first test's instance");
        const { page } = await signIn("bob", false);
        assert.ok(!(await page.content()).includes(state.aliceTenant), "bob sees alice's instance");
        const csrf = (await page.getAttribute('input[name="_csrf"]', "value")) as string;
        assert.ok(csrf);
        for (const url of [
            `/jobs/${state.aliceJob}`,
            `/jobs/${state.aliceJob}/events`,
            `/tenants/${state.aliceTenant}/delete`,
        ])
            assert.equal((await page.request.get(`${portalUrl}${url}`, { maxRedirects: 0 })).status(), 404, url);
        for (const action of ["stop", "start", "delete"]) {
            const res: { status(): number } = await page.request.post(
                `${portalUrl}/tenants/${state.aliceTenant}/${action}`,
                {
                    form: { _csrf: csrf, confirm: state.aliceTenant },
                    maxRedirects: 0,
                },
            );
            assert.equal(res.status(), 404, action);
        }
        await page.goto(`${portalUrl}/jobs/${state.aliceJob}`);
        await shot(page, "other-user-refused");
        await page.goto(`${portalUrl}/operator`);
        assert.equal(await page.textContent("h1"), "Forbidden");
    });

    it("a tampered state in the sign-in callback is refused and nobody is signed in", async () => {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`${portalUrl}/`);
        const auth = new URL(page.url());
        assert.ok(auth.searchParams.get("state"), "the authorization request carries a state");
        assert.equal(auth.searchParams.get("code_challenge_method"), "S256");
        assert.ok(auth.searchParams.get("nonce"));
        const res = await page.goto(
            `${portalUrl}/auth/callback?code=forged&state=${auth.searchParams.get("state")}x&session_state=x&iss=${encodeURIComponent(`${env.keycloak.url}/realms/${realm}`)}`,
        );
        assert.equal(res?.status(), 400);
        assert.match((await page.textContent("main")) ?? "", /Sign-in refused/);
        await shot(page, "tampered-state-refused");
        await page.goto(`${portalUrl}/`);
        assert.ok(page.url().startsWith(env.keycloak.url), "a refused sign-in left a session");
        await context.close();
    });

    it("an ID token whose nonce is not the one the page sent is refused and nobody is signed in", async () => {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`${portalUrl}/`);
        // The same authorization request with another nonce: Keycloak puts that one in the ID token.
        const auth = new URL(page.url());
        auth.searchParams.set("nonce", `${auth.searchParams.get("nonce")}-tampered`);
        await page.goto(auth.toString());
        await page.click("#social-oidc");
        await page.fill("#username", "bob");
        await page.fill("#password", passwords.bob);
        const [callback] = await Promise.all([
            page.waitForResponse((r) => r.url().startsWith(`${portalUrl}/auth/callback`)),
            page.click("#kc-login"),
        ]);
        assert.equal(callback.status(), 400);
        assert.match((await page.textContent("main")) ?? "", /Sign-in refused/);
        await shot(page, "tampered-nonce-refused");
        // Not followed: Keycloak's own session (bob did sign in there) would sign him in afresh.
        const home = await context.request.get(`${portalUrl}/`, { maxRedirects: 0 });
        assert.equal(home.status(), 303, "a refused sign-in left a session");
        assert.match(home.headers().location ?? "", /^\/login\?/);
        await context.close();
    });

    it("restart: the page killed mid-launch resumes the job after restart; one tenant, no stuck lock", async () => {
        const { page } = await signIn("bob", false);
        const { tenant, job } = await launch(page, false);
        state.bobTenant = tenant;
        state.bobJob = job;
        // Killed once the update is well under way (see docs/operating.md: what a kill during a Keycloak call leaves).
        await until(
            page,
            "#resources",
            // A new stack's total grows as the program declares resources: count the done ones (of ~70).
            (t) => Number(t.split("/")[0]) >= 40,
            300_000,
        );
        await shot(page, "restart-before-kill");
        await portal.kill();
        await portal.start(portalUrl);
        await page.goto(`${portalUrl}/jobs/${job}`);
        await jobEnded(page);
        assert.ok(await page.isVisible("#ready"), "the job ended without the instance's URL");
        await shot(page, "restart-resumed-ready");
        const fleet = new Fleet({ dir: path.join(dir, "fleet") });
        assert.equal(fleet.ctx.tenantNames().filter((t) => t === tenant).length, 1);
        assert.deepEqual(fleet.locks(), [], "a lock was left behind");
        assert.deepEqual(fleet.leftovers(), [], "the killed run's helpers are still running");
        assert.match(
            fs.readFileSync(path.join(OUT, "portal.log"), "utf8"),
            new RegExp(`job ${job} \\(launch ${tenant}\\) was interrupted: queued again`),
        );
    });

    it("the first user stops the instance: destroyed, its protected data kept", async () => {
        assert.ok(state.aliceTenant, "needs the first test's instance");
        // Alice becomes an operator (a realm role; the page reads it from the ID token at sign-in).
        const [brokered] = await kc.users.find({ realm, username: "alice", exact: true });
        const role = await kc.roles.findOneByName({ realm, name: "operator" });
        assert.ok(brokered?.id && role?.id, "the brokered user and the operator role exist");
        await kc.users.addRealmRoleMappings({ realm, id: brokered.id, roles: [{ id: role.id, name: "operator" }] });
        const { page } = await signIn("alice", false);
        await page.click("nav >> text=Operator view");
        const jobs = (await page.textContent("#jobs")) ?? "";
        assert.ok(state.bobTenant && jobs.includes(state.bobTenant), "the operator view lists bob's tenant");
        const bobRow = page.locator("#jobs tr", { hasText: state.bobJob ?? "-" });
        // Its outcome is the restart test's to judge; here: the operator sees it ran twice.
        assert.match((await bobRow.textContent()) ?? "", /launch\s*(done|failed)\s*2/, "bob's launch, attempted twice");
        assert.match(
            (await page.textContent("#audit")) ?? "",
            /bob\s*stop\s*cy-alice/,
            "bob's refused stop is audited",
        );
        await shot(page, "operator-view");
        await page.goto(`${portalUrl}/`);
        await page.click(`[data-tenant="${state.aliceTenant}"] >> text=Stop (keep data)`);
        await page.waitForURL(/\/jobs\/[\w-]+$/);
        await jobEnded(page);
        await shot(page, "stopped");
        await page.goto(`${portalUrl}/`);
        assert.equal(await page.textContent(`[data-tenant="${state.aliceTenant}"] .status`), "stopped");
        const kube = await kubeApi(env.kube.kubeconfig);
        const claims = await kube.core.listNamespacedPersistentVolumeClaim({ namespace: state.aliceTenant });
        assert.ok(claims.items.length > 0, "the volume claims went with the stop");
        const deployments = await kube.apps.listNamespacedDeployment({ namespace: state.aliceTenant });
        assert.equal(deployments.items.length, 0, "workloads survived the stop");
        await shot(page, "my-cytomine-stopped");
        // Single sign-out: after the page's sign-out, Keycloak asks for a login again (no session left).
        await page.click("nav >> text=Sign out");
        await page.waitForURL((u) => u.href.startsWith(`${env.keycloak.url}/realms/${realm}/`));
        assert.ok(await page.isVisible("#social-oidc"), "Keycloak's login page, not a silent sign-in");
        await shot(page, "signed-out");
    });
});
