// The user page in-process, on a given database, with a stand-in sign-in (the browser test signs in
// through the real Keycloak) and a stand-in job worker (the browser test runs the real fleet): every
// endpoint × anonymous, owner, other user, operator; CSRF-less and cross-site posts; bad launches;
// an expired session; a restart with a job left running. Each refusal must leave an audit entry and
// create nothing.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { createPortal, parsePortalConfig, Portal, PortalConfig, User } from "../../apps/portal";
import { standInSignIn, standInWorker } from "./portal-standins";

export const TEST_TEMPLATE_SET = [
    "keycloakMode=external",
    "keycloakUrl=http://127.0.0.1:18080/iam",
    "localStack=true",
    "realm={tenant}",
    "orthanc=false",
    "lsaaiClientId={tenant}-client",
];

export function matrixConfig(database: PortalConfig["database"], dir: string, extra: Record<string, unknown> = {}) {
    return parsePortalConfig(
        {
            publicUrl: "http://127.0.0.1:8090",
            oidc: { issuer: "http://127.0.0.1:18080/iam/realms/test" },
            database,
            fleet: { dir: path.join(dir, "fleet"), parallel: 2 },
            templates: {
                kubernetes: {
                    label: "Cytomine on Kubernetes",
                    set: TEST_TEMPLATE_SET,
                    sizes: { small: ["storage.images=10Gi"], large: ["storage.images=200Gi"] },
                    datasets: { lung: { source: "path", path: "hostPath:/srv/bp/lung" } },
                },
            },
            ...extra,
        },
        "test",
        { PORTAL_CLIENT_SECRET: "unused-here" },
    );
}

export class Client {
    cookie = "";
    constructor(private readonly portal: Portal) {}
    async req(
        method: "GET" | "POST",
        url: string,
        form?: Record<string, string>,
        headers: Record<string, string> = {},
    ) {
        const res = await this.portal.app.inject({
            method,
            url,
            headers: {
                ...(this.cookie ? { cookie: this.cookie } : {}),
                ...(form ? { "content-type": "application/x-www-form-urlencoded" } : {}),
                ...headers,
            },
            payload: form ? new URLSearchParams(form).toString() : undefined,
        });
        const set = res.cookies.find((c) => c.name === "portal");
        if (set) this.cookie = set.value ? `portal=${set.value}` : "";
        return res;
    }
    /** Signs in through /login and /auth/callback as the user the code names. */
    async signIn(code: string) {
        const start = await this.req("GET", "/login");
        const state = new URL(start.headers.location as string).searchParams.get("state") as string;
        const before = this.cookie;
        const back = await this.req("GET", `/auth/callback?code=${code}&state=${state}`);
        assert.equal(back.statusCode, 303, back.body);
        const cookie = back.cookies.find((c) => c.name === "portal");
        assert.ok(cookie?.httpOnly && cookie.sameSite === "Lax" && cookie.path === "/", JSON.stringify(cookie));
        assert.notEqual(this.cookie, before, "the session was not renewed at sign-in");
    }
    async csrf(): Promise<string> {
        const res = await this.req("GET", "/launch");
        const token = /name="_csrf" value="([^"]+)"/.exec(res.body)?.[1];
        assert.ok(token, `no CSRF token in ${res.statusCode}: ${res.body.slice(0, 300)}`);
        return token;
    }
}

export const USERS: Record<string, User> = {
    owner: { sub: "sub-owner", name: "olivia", operator: false },
    other: { sub: "sub-other", name: "oscar", operator: false },
    operator: { sub: "sub-operator", name: "opal", operator: true },
};

export const ENV = { LSAAI_CLIENT_SECRET: "lsaai-secret-for-tests", KEYCLOAK_ADMIN_PASSWORD: "kc-admin-for-tests" };

async function waitJob(portal: Portal, id: string) {
    for (let i = 0; i < 200; i++) {
        const job = await portal.store.job(id);
        if (job && (job.state === "done" || job.state === "failed")) return job;
        await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`job ${id} did not end`);
}

export function describeMatrix(label: string, database: () => PortalConfig["database"]) {
    describe(`portal authorization and bad input (${label})`, () => {
        let dir: string;
        let portal: Portal;
        const clients: Record<string, Client> = {};
        let anonymous: Client;
        let tenant: string;
        let jobId: string;

        before(async () => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "portal-matrix-"));
            portal = await createPortal(matrixConfig(database(), dir), {
                worker: standInWorker(),
                signIn: standInSignIn(USERS),
                env: ENV,
            });
            await portal.queue.recover();
            for (const who of Object.keys(USERS)) {
                clients[who] = new Client(portal);
                await clients[who].signIn(who);
            }
            anonymous = new Client(portal);
            const owner = clients.owner;
            const page = await owner.req("GET", "/launch");
            tenant = /id="tenant-name">([^<]+)</.exec(page.body)?.[1] as string;
            const res = await owner.req("POST", "/launch", {
                _csrf: await owner.csrf(),
                template: "kubernetes",
                size: "small",
                datasets: "lung",
                tenant,
            });
            assert.equal(res.statusCode, 303, res.body);
            jobId = (res.headers.location as string).split("/").pop() as string;
            await waitJob(portal, jobId);
        });
        after(async () => {
            await portal?.close();
            if (dir) fs.rmSync(dir, { recursive: true, force: true });
        });

        it("launches with a derived name; the owner's page shows status, URL, size, datasets and the last operation", async () => {
            assert.match(tenant, /^cy-olivia-[0-9a-f]{4}-1$/);
            const t = await portal.store.tenant(tenant);
            assert.equal(t?.status, "ready");
            assert.equal(t?.url, `https://${tenant}.cytomine.example.org`);
            const home = await clients.owner.req("GET", "/");
            for (const text of [tenant, "ready", t?.url as string, "small", "lung", "launch ok (stand-in)"])
                assert.ok(home.body.includes(text), `${text} missing from My Cytomine`);
        });

        it("answers every endpoint as expected for anonymous, owner, other user and operator", async () => {
            const gets: [string, Record<string, number>][] = [
                ["/", { anonymous: 303, owner: 200, other: 200, operator: 200 }],
                ["/launch", { anonymous: 303, owner: 200, other: 200, operator: 200 }],
                [`/jobs/${jobId}`, { anonymous: 303, owner: 200, other: 404, operator: 200 }],
                [`/jobs/${jobId}/events`, { anonymous: 401, owner: 200, other: 404, operator: 200 }],
                [`/tenants/${tenant}/delete`, { anonymous: 303, owner: 200, other: 404, operator: 404 }],
                ["/operator", { anonymous: 303, owner: 403, other: 403, operator: 200 }],
                ["/jobs/no-such-job", { anonymous: 303, owner: 404, other: 404, operator: 404 }],
            ];
            const all = { anonymous, ...clients };
            for (const [url, expected] of gets)
                for (const [who, status] of Object.entries(expected)) {
                    const res = await all[who as keyof typeof all].req("GET", url);
                    assert.equal(res.statusCode, status, `GET ${url} as ${who}: ${res.body.slice(0, 200)}`);
                    if (status === 303) assert.match(res.headers.location as string, /^\/login\?returnTo=/);
                    assert.match(String(res.headers["content-security-policy"]), /frame-ancestors 'none'/, url);
                    assert.doesNotMatch(String(res.headers["content-security-policy"]), /unsafe-inline/, url);
                    assert.equal(res.headers["referrer-policy"], "no-referrer", url);
                }
            // The events of the finished job: its progress, then its end with the tenant ready.
            const events = await clients.owner.req("GET", `/jobs/${jobId}/events`);
            assert.match(events.body, /event: end\ndata: .*"status":"ready"/);
            // The other user's page does not list the owner's instance.
            assert.ok(!(await clients.other.req("GET", "/")).body.includes(tenant));
            assert.ok((await clients.operator.req("GET", "/operator")).body.includes(tenant));
        });

        it("refuses state-changing posts without the session's CSRF token, from another site, or on another's instance", async () => {
            const posts = [
                `/tenants/${tenant}/stop`,
                `/tenants/${tenant}/start`,
                `/tenants/${tenant}/delete`,
                "/launch",
                "/logout",
            ];
            const before = await portal.store.allJobs();
            for (const url of posts) {
                assert.equal((await anonymous.req("POST", url, {})).statusCode, 401, `anonymous ${url}`);
                const forged = await clients.owner.req("POST", url, { _csrf: "forged", confirm: tenant });
                assert.equal(forged.statusCode, 403, `owner without CSRF ${url}`);
                const crossSite = await clients.owner.req(
                    "POST",
                    url,
                    { _csrf: await clients.owner.csrf(), confirm: tenant },
                    { origin: "https://evil.example" },
                );
                assert.equal(crossSite.statusCode, 403, `owner cross-site ${url}`);
                const fetchedCrossSite = await clients.owner.req(
                    "POST",
                    url,
                    { _csrf: await clients.owner.csrf(), confirm: tenant },
                    { "sec-fetch-site": "cross-site", origin: "null" },
                );
                assert.equal(fetchedCrossSite.statusCode, 403, `owner cross-site (fetch metadata) ${url}`);
            }
            for (const who of ["other", "operator"])
                for (const url of posts.slice(0, 3)) {
                    const c = clients[who];
                    const res = await c.req("POST", url, { _csrf: await c.csrf(), confirm: tenant });
                    assert.equal(res.statusCode, 404, `${who} ${url}`);
                }
            assert.equal((await portal.store.allJobs()).length, before.length, "a refused post created a job");
            const log = await portal.store.auditLog(500);
            assert.ok(log.some((a) => a.actor === "oscar" && a.action === "stop" && a.result === "refused 404"));
            assert.ok(log.some((a) => a.actor === "olivia" && /CSRF/.test(a.detail)));
            assert.ok(log.some((a) => a.actor === "anonymous" && a.result === "refused 401"));
        });

        it("refuses bad launches: a value outside the templates, a forged name, a double submit, over quota or rate; nothing created", async () => {
            const other = clients.other;
            const page = await other.req("GET", "/launch");
            const name = /id="tenant-name">([^<]+)</.exec(page.body)?.[1] as string;
            const good = { template: "kubernetes", size: "small", tenant: name };
            const cases: [Record<string, string>, number, RegExp][] = [
                [{ ...good, template: "vm" }, 400, /template "vm" is not offered/],
                [{ ...good, size: "huge" }, 400, /size "huge" is not offered/],
                [{ ...good, datasets: "secret-archive" }, 400, /dataset "secret-archive" is not offered/],
                [{ ...good, tenant: tenant }, 400, /is not the one derived for you/],
                [{ ...good, tenant: "cy-oscar-0000-1" }, 400, /is not the one derived for you/],
            ];
            for (const [form, status, message] of cases) {
                const res = await other.req("POST", "/launch", { _csrf: await other.csrf(), ...form });
                assert.equal(res.statusCode, status, JSON.stringify(form));
                assert.match(res.body.replace(/&quot;/g, '"'), message);
            }
            assert.equal(
                (await portal.store.tenantsOf(USERS.other.sub)).length,
                0,
                "a refused launch created a tenant",
            );
            // Double submit: the same form twice; the second is refused (quota 1), one tenant exists.
            const csrf = await other.csrf();
            const first = await other.req("POST", "/launch", { _csrf: csrf, ...good });
            const second = await other.req("POST", "/launch", { _csrf: csrf, ...good });
            assert.equal(first.statusCode, 303, first.body);
            assert.equal(second.statusCode, 409);
            assert.match(second.body, /the limit is 1/);
            assert.equal((await portal.store.tenantsOf(USERS.other.sub)).length, 1);
            const log = await portal.store.auditLog(500);
            assert.ok(
                log.filter((a) => a.actor === "oscar" && a.action === "launch" && a.result.startsWith("refused"))
                    .length >= 6,
            );
        });

        it("stops, refuses a delete without the typed name, deletes with it", async () => {
            const owner = clients.owner;
            const stop = await owner.req("POST", `/tenants/${tenant}/stop`, { _csrf: await owner.csrf() });
            assert.equal(stop.statusCode, 303, stop.body);
            assert.equal(
                (await waitJob(portal, (stop.headers.location as string).split("/").pop() as string)).state,
                "done",
            );
            assert.equal((await portal.store.tenant(tenant))?.status, "stopped");
            const again = await owner.req("POST", `/tenants/${tenant}/stop`, { _csrf: await owner.csrf() });
            assert.equal(again.statusCode, 409);
            const wrong = await owner.req("POST", `/tenants/${tenant}/delete`, {
                _csrf: await owner.csrf(),
                confirm: "yes",
            });
            assert.equal(wrong.statusCode, 400);
            assert.equal((await portal.store.tenant(tenant))?.status, "stopped");
            const del = await owner.req("POST", `/tenants/${tenant}/delete`, {
                _csrf: await owner.csrf(),
                confirm: tenant,
            });
            assert.equal(del.statusCode, 303);
            await waitJob(portal, (del.headers.location as string).split("/").pop() as string);
            assert.equal((await portal.store.tenant(tenant))?.status, "deleted");
            assert.ok(!(await owner.req("GET", "/")).body.includes(`data-tenant="${tenant}"`));
            assert.equal((await owner.req("GET", `/tenants/${tenant}/delete`)).statusCode, 404);
        });

        it("refuses a tampered state and a callback without a sign-in in progress; an expired session must sign in again", async () => {
            const c = new Client(portal);
            await c.req("GET", "/login");
            const tampered = await c.req("GET", "/auth/callback?code=owner&state=forged");
            assert.equal(tampered.statusCode, 400);
            assert.match(tampered.body, /state mismatch/);
            assert.equal((await c.req("GET", "/")).statusCode, 303, "a refused sign-in left a session");
            const none = await new Client(portal).req("GET", "/auth/callback?code=owner&state=x");
            assert.equal(none.statusCode, 400);
            // Expire the operator's session by its age in the database (an idle session past the limit).
            await portal.store.db.run(`UPDATE sessions SET seen_at = ?`, ["2000-01-01T00:00:00.000Z"]);
            const expired = await clients.operator.req("GET", "/operator");
            assert.equal(expired.statusCode, 303);
            const post = await clients.other.req("POST", "/launch", { _csrf: "x" });
            assert.equal(post.statusCode, 401);
            const log = await portal.store.auditLog(500);
            assert.ok(log.some((a) => a.action === "sign-in" && /state mismatch/.test(a.detail)));
            assert.ok(log.some((a) => a.actor === "opal (expired)" && /session has expired/.test(a.detail)));
        });
    });

    describe(`portal restart with a job left running (${label})`, () => {
        it("queues an interrupted job again, fails it once out of attempts", async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portal-restart-"));
            const config = matrixConfig(database(), dir, { maxAttempts: 2 });
            const release: { wait?: Promise<void> } = { wait: new Promise(() => undefined) };
            try {
                const first = await createPortal(config, {
                    worker: standInWorker(release),
                    signIn: standInSignIn(USERS),
                    env: ENV,
                });
                await first.queue.recover();
                const c = new Client(first);
                await c.signIn("owner");
                const name = /id="tenant-name">([^<]+)</.exec((await c.req("GET", "/launch")).body)?.[1] as string;
                const res = await c.req("POST", "/launch", {
                    _csrf: await c.csrf(),
                    template: "kubernetes",
                    size: "small",
                    tenant: name,
                });
                const id = (res.headers.location as string).split("/").pop() as string;
                for (let i = 0; i < 100 && (await first.store.job(id))?.state !== "running"; i++)
                    await new Promise((r) => setTimeout(r, 20));
                // The process "dies": its database stays as it was, the job marked running.
                await first.app.close();
                const second = await createPortal(config, {
                    worker: standInWorker(),
                    signIn: standInSignIn(USERS),
                    env: ENV,
                });
                const notes = await second.queue.recover();
                assert.match(notes.join("\n"), /was interrupted: queued again/);
                const job = await waitJob(second, id);
                assert.equal(job.state, "done");
                assert.equal(job.attempts, 2);
                assert.equal((await second.store.allTenants()).filter((t) => t.name === name).length, 1);
                // Out of attempts: the next restart fails it, with the reason.
                await second.store.db.run(`UPDATE jobs SET state = 'running' WHERE id = ?`, [id]);
                const notes2 = await second.queue.recover();
                assert.match(notes2.join("\n"), /failed: interrupted by a restart after 2 attempt/);
                assert.equal((await second.store.tenant(name))?.status, "failed");
                await second.close();
                await first.store.db.close().catch(() => undefined);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    });
}
