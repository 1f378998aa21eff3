// The user page: a Fastify service. Every request loads its server-side session from an httpOnly
// cookie; every page but sign-in needs a signed-in user; ownership is checked on the server for
// every tenant and job (policy.ts); every POST needs the session's CSRF token and a same-origin
// Origin; every action and every refusal goes to the audit log.
import formbody from "@fastify/formbody";
import cookie from "@fastify/cookie";
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Fleet, readSecrets } from "../fleet";
import { newSessionToken, Oidc, PendingLogin, sessionKey, SignInRefused } from "./auth";
import type { PortalConfig } from "./config";
import { isUniqueViolation, now, openDb } from "./db";
import { fleetWorker, JobEnd, JobQueue, Worker } from "./jobs";
import { LaunchRefused, offeredTemplates, planLaunch } from "./launch";
import * as pages from "./pages";
import {
    csrfValid,
    decide,
    decideOperator,
    Decision,
    newCsrfToken,
    quotaProblem,
    rateProblem,
    tenantNameFor,
    User,
} from "./policy";
import { JobKind, Progress, Store, TenantRow } from "./store";

/** The sign-in side the server needs (Oidc; tests may stand in for it where no Keycloak is involved). */
export type SignIn = Pick<Oidc, "startLogin" | "finishLogin" | "logoutUrl" | "endSessionEndpoint">;

export interface SessionData {
    csrf: string;
    user?: User;
    idToken?: string;
    login?: PendingLogin;
}

interface LoadedSession {
    token: string;
    data: SessionData;
    createdAt: string;
}

declare module "fastify" {
    interface FastifyRequest {
        session?: LoadedSession;
        /** The session cookie named a session that has expired (or is unknown). */
        sessionExpired?: { user?: string };
    }
}

/** Server-side sessions keyed by a digest of the cookie's token, with idle and absolute expiry. */
export class Sessions {
    constructor(
        private readonly store: Store,
        private readonly limits: { idleMinutes: number; absoluteHours: number },
    ) {}

    async create(data: SessionData): Promise<string> {
        const token = newSessionToken();
        await this.store.saveSession(sessionKey(token), JSON.stringify(data), now());
        return token;
    }
    async save(s: LoadedSession): Promise<void> {
        await this.store.saveSession(sessionKey(s.token), JSON.stringify(s.data), s.createdAt);
    }
    async destroy(token: string): Promise<void> {
        await this.store.deleteSession(sessionKey(token));
    }
    /** The session, or why there is none. Touches it at most once a minute (each write rewrites SQLite's file). */
    async load(token: string): Promise<{ session?: LoadedSession; expired?: { user?: string } }> {
        const row = await this.store.session(sessionKey(token));
        if (!row) return { expired: {} };
        const data = JSON.parse(row.data) as SessionData;
        const t = Date.now();
        if (
            t - Date.parse(row.seen_at) > this.limits.idleMinutes * 60_000 ||
            t - Date.parse(row.created_at) > this.limits.absoluteHours * 3_600_000
        ) {
            await this.store.deleteSession(sessionKey(token));
            return { expired: { user: data.user?.name } };
        }
        const session = { token, data, createdAt: row.created_at };
        if (t - Date.parse(row.seen_at) > 60_000) await this.save(session);
        return { session };
    }
}

export interface PortalOptions {
    /** Runs jobs (default: through the fleet). */
    worker?: Worker;
    /** Sign-in (default: discovered from oidc.issuer). */
    signIn?: SignIn;
    templatesDir?: string;
    env?: NodeJS.ProcessEnv;
}

export interface Portal {
    app: FastifyInstance;
    store: Store;
    sessions: Sessions;
    queue: JobQueue;
    /** Where it listens (after listen()). */
    url?: string;
    listen(): Promise<string>;
    close(): Promise<void>;
}

export const SECURITY_HEADERS = (keycloakOrigin: string) => ({
    // No inline script or style; forms post here or (sign-out) lead to Keycloak.
    "content-security-policy": `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self' ${keycloakOrigin}; frame-ancestors 'none'; base-uri 'none'`,
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
});

export async function createPortal(config: PortalConfig, opts: PortalOptions = {}): Promise<Portal> {
    const env = opts.env ?? process.env;
    const db = await openDb(config.database);
    const store = new Store(db);
    const sessions = new Sessions(store, config.session);
    const fleet = new Fleet({
        dir: config.fleet.dir,
        env: config.fleet.env,
        programs: config.fleet.programs,
        templatesDir: opts.templatesDir,
    });
    const secretsFor = (template: string) => readSecrets(config.templates[template]?.secretFiles ?? {}, env);
    const queue = new JobQueue(store, opts.worker ?? fleetWorker(fleet, secretsFor), {
        parallel: config.fleet.parallel,
        maxAttempts: config.maxAttempts,
    });
    const signIn = opts.signIn ?? (await Oidc.discover(config));
    const publicUrl = new URL(config.publicUrl);
    const base = config.publicUrl.replace(/\/+$/, "");
    const secure = publicUrl.protocol === "https:";
    // __Host-: the browser keeps the cookie to this exact host, path /, Secure (https only).
    const COOKIE = secure ? "__Host-portal" : "portal";
    const headers = SECURITY_HEADERS(new URL(signIn.endSessionEndpoint ?? config.oidc.issuer).origin);

    const app = Fastify({ logger: false, bodyLimit: 16 * 1024, trustProxy: false });
    await app.register(cookie);
    await app.register(formbody);

    const setCookie = (reply: FastifyReply, token: string) =>
        reply.setCookie(COOKIE, token, { httpOnly: true, secure, sameSite: "lax", path: "/" });
    const audit = (actor: string, action: string, target: string, result: string, detail = "") =>
        store.audit({ actor, action, target, result, detail });
    const actorOf = (req: FastifyRequest) =>
        req.session?.data.user?.name ??
        (req.sessionExpired?.user ? `${req.sessionExpired.user} (expired)` : "anonymous");

    const page = (reply: FastifyReply, status: number, title: string, body: pages.Html, req: FastifyRequest) =>
        reply
            .code(status)
            .type("text/html; charset=utf-8")
            .send(pages.layout(title, req.session?.data.user, req.session?.data.csrf, body));

    app.addHook("onSend", async (_req, reply) => {
        reply.headers(headers);
    });

    app.addHook("onRequest", async (req) => {
        const token = req.cookies[COOKIE];
        if (!token) return;
        const loaded = await sessions.load(token);
        req.session = loaded.session;
        req.sessionExpired = loaded.expired;
    });

    /** Refuses a request DECISION denies: a page to sign in, or 403/404; audited. */
    async function refuse(req: FastifyRequest, reply: FastifyReply, action: string, target: string, d: Decision) {
        if (d.allow) return;
        const expired = d.status === 401 && req.sessionExpired;
        const reason = expired ? "your session has expired: sign in again" : d.reason;
        await audit(actorOf(req), action, target, `refused ${d.status}`, reason);
        if (d.status === 401 && req.method === "GET" && !req.url.includes("/events"))
            return reply.redirect(`/login?returnTo=${encodeURIComponent(req.url)}`, 303);
        return page(
            reply,
            d.status,
            d.status === 404 ? "Not found" : d.status === 401 ? "Sign in" : "Forbidden",
            pages.messagePage(reason, d.status === 401 ? { href: "/login", label: "Sign in" } : undefined),
            req,
        );
    }

    /** CSRF and origin checks of a POST; true when refused (and answered). */
    async function badPost(req: FastifyRequest, reply: FastifyReply, action: string, target: string) {
        // Fetch metadata first: browsers send Sec-Fetch-Site on every request, while under
        // Referrer-Policy no-referrer a same-origin form post carries `Origin: null`.
        const site = req.headers["sec-fetch-site"];
        const origin = req.headers.origin;
        const body = (req.body ?? {}) as Record<string, unknown>;
        let problem: string | undefined;
        if (site !== undefined && site !== "same-origin")
            problem = `request from another site (Sec-Fetch-Site ${site})`;
        else if (origin !== undefined && origin !== "null" && origin !== publicUrl.origin)
            problem = `request from another site (${origin})`;
        else if (!csrfValid(req.session?.data.csrf, body._csrf))
            problem = "missing or wrong form token (CSRF): reload the page and try again";
        if (!problem) return false;
        await audit(actorOf(req), action, target, "refused 403", problem);
        await page(reply, 403, "Refused", pages.messagePage(problem, { href: "/", label: "Back" }), req);
        return true;
    }

    const userOf = (req: FastifyRequest) => req.session?.data.user;

    // Static files and health

    app.get("/static/progress.js", async (_req, reply) =>
        reply.type("text/javascript; charset=utf-8").send(pages.PROGRESS_JS),
    );
    app.get("/static/portal.css", async (_req, reply) => reply.type("text/css; charset=utf-8").send(pages.PORTAL_CSS));
    app.get("/healthz", async () => ({ ok: true }));

    // Sign-in and sign-out

    app.get("/login", async (req, reply) => {
        const q = req.query as Record<string, unknown>;
        // Only a path of this page: never an absolute URL (an open redirect).
        const returnTo = typeof q.returnTo === "string" && /^\/(?![/\\])/.test(q.returnTo) ? q.returnTo : "/";
        const { url, pending } = await signIn.startLogin(returnTo);
        const token = await sessions.create({ csrf: newCsrfToken(), login: pending });
        setCookie(reply, token);
        return reply.redirect(url, 303);
    });

    app.get("/auth/callback", async (req, reply) => {
        const pending = req.session?.data.login;
        if (!req.session || !pending) {
            await audit(
                actorOf(req),
                "sign-in",
                "-",
                "refused 400",
                "no sign-in in progress (expired session or forged callback)",
            );
            return page(
                reply,
                400,
                "Sign-in refused",
                pages.messagePage("No sign-in is in progress in this browser (or it expired).", {
                    href: "/login",
                    label: "Sign in again",
                }),
                req,
            );
        }
        try {
            const { user, idToken } = await signIn.finishLogin(new URL(req.url, base), pending);
            // A new session (and cookie) after sign-in: a session id planted before it is worthless.
            await sessions.destroy(req.session.token);
            const token = await sessions.create({ csrf: newCsrfToken(), user, idToken });
            setCookie(reply, token);
            await audit(user.name, "sign-in", user.sub, "ok", user.operator ? "operator" : "");
            return reply.redirect(pending.returnTo, 303);
        } catch (e) {
            if (!(e instanceof SignInRefused)) throw e;
            await sessions.destroy(req.session.token);
            await audit(actorOf(req), "sign-in", "-", "refused 400", e.message);
            return page(
                reply,
                400,
                "Sign-in refused",
                pages.messagePage(`Sign-in refused: ${e.message}`, { href: "/login", label: "Sign in again" }),
                req,
            );
        }
    });

    app.post("/logout", async (req, reply) => {
        if (!userOf(req)) return refuse(req, reply, "sign-out", "-", decide(undefined, "view", undefined));
        if (await badPost(req, reply, "sign-out", "-")) return;
        const session = req.session as LoadedSession;
        await sessions.destroy(session.token);
        reply.clearCookie(COOKIE, { path: "/" });
        await audit(actorOf(req), "sign-out", "-", "ok");
        return reply.redirect(signIn.logoutUrl(session.data.idToken), 303);
    });

    // My Cytomine

    app.get("/", async (req, reply) => {
        const user = userOf(req);
        if (!user) return refuse(req, reply, "view", "my-cytomine", decide(user, "view", undefined));
        const rows = await Promise.all(
            (await store.tenantsOf(user.sub)).map(async (tenant) => ({
                tenant,
                lastJob: (await store.jobsOf(tenant.name))[0],
            })),
        );
        return page(reply, 200, "My Cytomine", pages.myCytominePage(rows, req.session!.data.csrf), req);
    });

    // Launch

    const nextName = async (user: User) => tenantNameFor(user, (await store.tenantCountEver(user.sub)) + 1);
    const launchForm = async (req: FastifyRequest, reply: FastifyReply, user: User, status: number, problem?: string) =>
        page(
            reply,
            status,
            "Launch",
            pages.launchPage(
                offeredTemplates(config, opts.templatesDir).map(({ name, choice, template }) => ({
                    name,
                    label: choice.label,
                    description: template.description,
                    sizes: Object.keys(choice.sizes),
                    datasets: Object.keys(choice.datasets),
                    ml: choice.ml !== undefined,
                })),
                await nextName(user),
                req.session!.data.csrf,
                problem,
            ),
            req,
        );

    app.get("/launch", async (req, reply) => {
        const user = userOf(req);
        if (!user) return refuse(req, reply, "view", "launch", decide(user, "view", undefined));
        return launchForm(req, reply, user, 200);
    });

    app.post("/launch", async (req, reply) => {
        const user = userOf(req);
        if (!user) return refuse(req, reply, "launch", "-", decide(user, "act", undefined));
        if (await badPost(req, reply, "launch", "-")) return;
        const body = req.body as Record<string, unknown>;
        const target = typeof body.tenant === "string" ? body.tenant : "-";
        const refused = async (status: number, problem: string) => {
            await audit(user.name, "launch", target, `refused ${status}`, problem);
            return launchForm(req, reply, user, status, problem);
        };
        const quota = quotaProblem((await store.tenantsOf(user.sub)).length, config.quota);
        if (quota) return refused(409, quota);
        const since = new Date(Date.now() - config.launchLimit.perMinutes * 60_000).toISOString();
        const rate = rateProblem(await store.launchesSince(user.sub, since), config.launchLimit);
        if (rate) return refused(429, rate);
        let planned;
        try {
            planned = planLaunch(config, body as never, await nextName(user), { templatesDir: opts.templatesDir, env });
        } catch (e) {
            if (e instanceof LaunchRefused) return refused(400, e.issues.join("; "));
            throw e;
        }
        const tenant: Omit<TenantRow, "created_at" | "updated_at"> = {
            name: planned.input.name,
            owner: user.sub,
            owner_name: user.name,
            template: planned.plan.template,
            size: planned.size,
            datasets: JSON.stringify(planned.datasets),
            target: planned.plan.parsed.target,
            url: planned.plan.parsed.publicUrl,
            status: "launching",
            input: JSON.stringify(planned.input),
        };
        try {
            await store.insertTenant(tenant);
        } catch (e) {
            if (isUniqueViolation(e)) return refused(409, `${tenant.name} is already being launched (submitted twice)`);
            throw e;
        }
        const job = await queue.submit({ ...tenant, created_at: now(), updated_at: now() }, "launch");
        await audit(
            user.name,
            "launch",
            tenant.name,
            "ok",
            `job ${job.id}, template ${tenant.template}, size ${tenant.size}`,
        );
        return reply.redirect(`/jobs/${job.id}`, 303);
    });

    // Progress

    const jobAndTenant = async (id: string) => {
        const job = await store.job(id);
        const tenant = job && (await store.tenant(job.tenant));
        return { job, tenant };
    };

    app.get("/jobs/:id", async (req, reply) => {
        const { id } = req.params as { id: string };
        const { job, tenant } = await jobAndTenant(id);
        const d = decide(userOf(req), "view", tenant?.owner);
        if (!d.allow || !job || !tenant) return refuse(req, reply, "view-job", id, d);
        return page(reply, 200, "Progress", pages.progressPage(job, tenant), req);
    });

    app.get("/jobs/:id/events", async (req, reply) => {
        const { id } = req.params as { id: string };
        const { job, tenant } = await jobAndTenant(id);
        const d = decide(userOf(req), "view", tenant?.owner);
        if (!d.allow || !job || !tenant) return refuse(req, reply, "view-job", id, d);
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
            ...headers,
            "content-type": "text/event-stream; charset=utf-8",
            connection: "keep-alive",
        });
        const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        const end = (e: JobEnd) => {
            send("end", e);
            res.end();
        };
        let stop = () => {};
        const beat = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
        res.on("close", () => {
            clearInterval(beat);
            stop();
        });
        stop = queue.follow(id, (p) => send("progress", p), end);
        // Read again after subscribing: a job that ended in between is not missed.
        const current = await store.job(id);
        if (!current) {
            res.end();
            return reply;
        }
        if (current.progress) send("progress", JSON.parse(current.progress) as Progress);
        if (current.state === "done" || current.state === "failed") {
            const t = await store.tenant(current.tenant);
            end({
                state: current.state,
                summary: current.summary ?? "",
                error: current.error ?? undefined,
                status: t?.status ?? "failed",
            });
        }
        return reply;
    });

    // Stop, start, delete

    const ACTIONS: Record<string, { kind: JobKind; allowed: (t: TenantRow) => boolean; when: string }> = {
        stop: { kind: "stop", allowed: (t) => t.status !== "stopped", when: "it is already stopped" },
        start: {
            kind: "start",
            allowed: (t) => t.status === "stopped" || t.status === "failed",
            when: "it is not stopped",
        },
        delete: { kind: "delete", allowed: () => true, when: "" },
    };

    const ownedTenant = async (req: FastifyRequest, action: "view" | "act") => {
        const { name } = req.params as { name: string };
        const tenant = await store.tenant(name);
        const live = tenant && tenant.status !== "deleted" ? tenant : undefined;
        return { name, tenant: live, decision: decide(userOf(req), action, live?.owner) };
    };

    // The owner's view of the tenant's backups, read from its host (apps/fleet/backups.ts).
    app.get("/tenants/:name/backups", async (req, reply) => {
        const { name, tenant, decision } = await ownedTenant(req, "view");
        if (!decision.allow || !tenant) return refuse(req, reply, "view-backups", name, decision);
        const listing = await fleet.backups(tenant.name).catch((e: unknown) => ({
            problem: e instanceof Error ? e.message : String(e),
        }));
        return page(reply, 200, `Backups of ${tenant.name}`, pages.backupsPage(tenant, listing), req);
    });

    app.get("/tenants/:name/delete", async (req, reply) => {
        const { name, tenant, decision } = await ownedTenant(req, "act");
        if (!decision.allow || !tenant) return refuse(req, reply, "view-delete", name, decision);
        return page(reply, 200, `Delete ${tenant.name}`, pages.deletePage(tenant, req.session!.data.csrf), req);
    });

    for (const [action, spec] of Object.entries(ACTIONS)) {
        app.post(`/tenants/:name/${action}`, async (req, reply) => {
            const { name, tenant, decision } = await ownedTenant(req, "act");
            if (!decision.allow || !tenant) return refuse(req, reply, action, name, decision);
            if (await badPost(req, reply, action, name)) return;
            const user = userOf(req) as User;
            const fail = async (status: number, problem: string) => {
                await audit(user.name, action, name, `refused ${status}`, problem);
                if (action === "delete" && status === 400)
                    return page(
                        reply,
                        status,
                        `Delete ${name}`,
                        pages.deletePage(tenant, req.session!.data.csrf, problem),
                        req,
                    );
                return page(reply, status, "Refused", pages.messagePage(problem, { href: "/", label: "Back" }), req);
            };
            const [last] = await store.jobsOf(name);
            if (last && (last.state === "queued" || last.state === "running"))
                return fail(409, `an operation (${last.kind}) is running on ${name}: wait for it to end`);
            if (!spec.allowed(tenant)) return fail(409, `cannot ${action} ${name}: ${spec.when}`);
            if (action === "delete" && (req.body as Record<string, unknown>).confirm !== name)
                return fail(400, `type the instance's name (${name}) to confirm the deletion`);
            const job = await queue.submit(tenant, spec.kind);
            await audit(user.name, action, name, "ok", `job ${job.id}`);
            return reply.redirect(`/jobs/${job.id}`, 303);
        });
    }

    // Operator view

    app.get("/operator", async (req, reply) => {
        const d = decideOperator(userOf(req));
        if (!d.allow) return refuse(req, reply, "operator-view", "-", d);
        const [tenants, jobs, log] = await Promise.all([store.allTenants(), store.allJobs(), store.auditLog()]);
        return page(reply, 200, "Operator view", pages.operatorPage(tenants, jobs, log), req);
    });

    const portal: Portal = {
        app,
        store,
        sessions,
        queue,
        async listen() {
            // A page killed mid-run leaves its CLI's language host and plugins running (and its program,
            // with fleet.programs "process"): stop them before its jobs run again. A live CLI's helpers
            // are not touched.
            for (const p of await fleet.reap(true))
                console.log(`stopped ${p.name} (pid ${p.pid}) left by a killed run`);
            for (const note of await queue.recover()) console.log(note);
            const address = await app.listen({ host: config.listen.host, port: config.listen.port });
            portal.url = address;
            return address;
        },
        async close() {
            await app.close();
            await queue.close();
            await db.close();
        },
    };
    return portal;
}
