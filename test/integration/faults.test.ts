// Issue "prove it", faults: a piece of the system fails in the middle of a real `pulumi up`, the up
// fails with a message naming the cause, the documented recovery is applied, a second up succeeds,
// and the live objects match the stack's state exactly (no duplicates, no orphans); a preview then
// plans nothing. Faults: Keycloak stopped, the Kubernetes API server restarted, the SSH host's sshd
// stopped, the `pulumi` process killed, the state backend's disk made read-only.
//
// The environment is shared with every other test file. The cases that stop Keycloak, restart the API
// server or stop sshd do it to a piece of their own (ownPieces, its own state folder and ports), so no
// case holds the environment alone and the suites beside this one run on; `after` still brings every
// shared piece back (ensureEnvironment) should a case have broken one.
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { EngineEvent, UpResult } from "@pulumi/pulumi/automation";
import { changesOf, createEphemeralStack, disposeEphemeralStack, EphemeralStack } from "../support/automation";
import { keycloakAdmin } from "../support/clients";
import {
    Environment,
    ensureEnvironment,
    useEnvironment,
    keycloakDown,
    keycloakUp,
    kubeApiServerRestart,
    kubeUp,
    envSettings,
    sshDown,
    sshUp,
} from "../../localenv";
import { commandLine, descendants, processAlive, pulumiLeftovers, stopProcesses } from "../../toolchain/processes";
import { httpGate } from "../support/http-gate";
import { projectConfig } from "../support/project-config";
import { ownPieces } from "../support/own-pieces";
import { recorded } from "../support/reliability";
import { repoRoot, requireToolchain } from "../../toolchain/index";

const run = promisify(execFile);
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the cases use of node:test's context. */
interface TestContext {
    name: string;
    diagnostic(message: string): void;
    after(fn: () => unknown): void;
}
type Admin = Awaited<ReturnType<typeof keycloakAdmin>>;
interface StateResource {
    urn: string;
    type: string;
    id?: string;
    custom?: boolean;
    inputs?: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    outputs?: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}
interface State {
    resources?: StateResource[];
    pending_operations?: { resource: StateResource; type: string }[];
}

/** Polls PROBE until it returns a value, up to TIMEOUTMS; gives up early when STOP says it never will. */
async function waitFor<T>(
    what: string,
    probe: () => T | undefined | Promise<T | undefined>,
    opts: { timeoutMs: number; stop?: () => boolean; intervalMs?: number },
): Promise<T> {
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
        const v = await probe();
        if (v !== undefined) return v;
        if (opts.stop?.()) throw new Error(`${what}: the up ended before it happened`);
        if (Date.now() > deadline) throw new Error(`${what}: not within ${opts.timeoutMs / 1000} s`);
        await delay(opts.intervalMs ?? 100);
    }
}

interface FaultyUp {
    result?: UpResult;
    error?: Error;
    events: EngineEvent[];
}

/**
 * Runs `up` and, beside it, INJECT, which waits for its moment (in the events or on the live system)
 * and breaks something. Both are awaited; a fault that never found its moment fails the case.
 */
async function upWithFault(
    e: EphemeralStack,
    inject: (run: { events: EngineEvent[]; ended: () => boolean }) => Promise<void>,
    opts: { parallel?: number } = {},
): Promise<FaultyUp> {
    const events: EngineEvent[] = [];
    let ended = false;
    const up = e.stack
        .up({ color: "never", onEvent: (ev) => events.push(ev), ...opts })
        .then(
            (result) => ({ result }),
            (error: Error) => ({ error }),
        )
        .finally(() => (ended = true));
    const [outcome, fault] = await Promise.allSettled([up, inject({ events, ended: () => ended })]);
    if (fault.status === "rejected") throw fault.reason;
    return { ...(outcome as PromiseFulfilledResult<{ result?: UpResult; error?: Error }>).value, events };
}

/** Whether PROMISE has resolved (it rejects when it rejected), without waiting for it. */
async function settled(promise: Promise<void>): Promise<boolean> {
    return Promise.race([promise.then(() => true), delay(0).then(() => false)]);
}

/** The first step the engine started for a resource of TYPE with operation OP. */
const started = (events: EngineEvent[], type: string, op = "create") =>
    events.find((ev) => ev.resourcePreEvent?.metadata.type === type && ev.resourcePreEvent.metadata.op === op);

/** The five longest steps of an operation, "<name> <op> <seconds>", from its events' timestamps. */
function slowest(events: EngineEvent[]): string[] {
    const begun = new Map<string, number>();
    const took: [string, number][] = [];
    for (const ev of events) {
        if (ev.resourcePreEvent) begun.set(ev.resourcePreEvent.metadata.urn, ev.timestamp);
        const done = ev.resOutputsEvent ?? ev.resOpFailedEvent;
        if (done && begun.has(done.metadata.urn))
            took.push([
                `${nameOf(done.metadata.urn)} ${done.metadata.op}`,
                ev.timestamp - begun.get(done.metadata.urn)!,
            ]);
    }
    return took
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([step, secs]) => `${step} ${secs} s`);
}

/** The failed up's message, asserted to exist (an up that survived the fault fails the case). */
function failure(up: FaultyUp, t: TestContext): string {
    assert.ok(up.error, `the up succeeded despite the fault: ${up.result?.stdout ?? ""}`);
    const errors = up.error.message.split("\n").filter((l) => /error/i.test(l));
    t.diagnostic(`the up failed: ${errors.slice(0, 4).join(" | ").slice(0, 600)}`);
    return up.error.message;
}

async function stateOf(e: EphemeralStack): Promise<State> {
    return (await e.stack.exportStack()).deployment as State;
}

const nameOf = (urn: string) => urn.split("::").pop() as string;
const pendingOf = (s: State) => (s.pending_operations ?? []).map((op) => `${op.type} ${nameOf(op.resource.urn)}`);

/** Lock files of the stack in the file:// backend (a live or a stale `pulumi` run). */
function locksOf(e: EphemeralStack): string[] {
    const dir = path.join(e.backendDir, ".pulumi", "locks");
    if (!fs.existsSync(dir)) return [];
    return fs
        .readdirSync(dir, { recursive: true })
        .map(String)
        .filter((f) => f.endsWith(".json") && fs.statSync(path.join(dir, f)).isFile());
}

async function assertNoChanges(e: EphemeralStack): Promise<void> {
    const preview = await e.stack.preview({ color: "never" });
    assert.deepEqual(changesOf(preview.changeSummary), {}, preview.stdout);
}

// ---- Keycloak: live objects of a tenant's realms against the state's resources of the same kinds ----

const BUILTIN_CLIENTS = new Set([
    "account",
    "account-console",
    "admin-cli",
    "broker",
    "realm-management",
    "security-admin-console",
]);

/**
 * Every object Keycloak holds in REALM (and its `REALM-…` realms) that a stack could have created,
 * as "<kind> <id>", sorted, duplicates kept: realms, clients with their protocol mappers and roles,
 * realm roles, users, identity providers with their mappers, authentication flows. What Keycloak
 * creates by itself with a realm (built-in clients, default roles, flows) is left out.
 */
async function liveIdentity(kc: Admin, realm: string, scopeMappers: Map<string, Set<string>>): Promise<string[]> {
    const out: string[] = [];
    const realms = (await kc.realms.find())
        .map((r) => r.realm as string)
        .filter((n) => n === realm || n.startsWith(`${realm}-`));
    for (const r of realms) {
        out.push(`Realm ${r}`);
        for (const c of await kc.clients.find({ realm: r })) {
            if (BUILTIN_CLIENTS.has(c.clientId ?? "")) continue;
            out.push(`Client ${c.id}`);
            for (const m of c.protocolMappers ?? []) out.push(`ProtocolMapper ${m.id}`);
            for (const role of await kc.clients.listRoles({ realm: r, id: c.id! })) out.push(`Role ${role.id}`);
        }
        const builtinRoles = new Set([`default-roles-${r}`, "offline_access", "uma_authorization"]);
        for (const role of await kc.roles.find({ realm: r }))
            if (!builtinRoles.has(role.name ?? "")) out.push(`Role ${role.id}`);
        for (const u of await kc.users.find({ realm: r, max: 1000 }))
            if (!u.username?.startsWith("service-account-")) out.push(`User ${u.id}`);
        for (const idp of await kc.identityProviders.find({ realm: r })) {
            out.push(`IdentityProvider ${idp.alias}`);
            for (const m of await kc.identityProviders.findMappers({ realm: r, alias: idp.alias! }))
                out.push(`IdentityProviderMapper ${m.id}`);
        }
        for (const f of await kc.authenticationManagement.getFlows({ realm: r }))
            if (!f.builtIn) out.push(`Flow ${f.id}`);
        // Mappers the stack adds to Keycloak's own client scopes (which hold many built-in ones):
        // every mapper there bearing a name the state declares for that scope, so a duplicate shows.
        for (const scope of await kc.clientScopes.find({ realm: r })) {
            const names = scopeMappers.get(scope.id!);
            if (!names) continue;
            for (const m of await kc.clientScopes.listProtocolMappers({ realm: r, id: scope.id! }))
                if (names.has(m.name ?? "")) out.push(`ProtocolMapper ${m.id}`);
        }
    }
    return out.sort();
}

/** The state's Keycloak resources of the kinds liveIdentity lists, in the same form. */
function stateIdentity(s: State): string[] {
    const kindOf = (type: string): string | undefined => {
        const name = type.split(":").pop() as string;
        if (!type.startsWith("keycloak:")) return undefined;
        if (name.endsWith("ProtocolMapper")) return "ProtocolMapper";
        if (name.endsWith("IdentityProviderMapping") || name.endsWith("IdentityMapper"))
            return "IdentityProviderMapper";
        return ["Realm", "Client", "Role", "User", "IdentityProvider", "Flow"].includes(name) ? name : undefined;
    };
    return (s.resources ?? [])
        .flatMap((r) => {
            const kind = kindOf(r.type);
            if (!kind) return [];
            // An identity provider's id is its realm and alias; Keycloak lists it by alias.
            return [`${kind} ${kind === "IdentityProvider" ? r.outputs?.alias : r.id}`];
        })
        .sort();
}

/** Client scope id → names of the protocol mappers the state adds to it. */
function stateScopeMappers(s: State): Map<string, Set<string>> {
    const byScope = new Map<string, Set<string>>();
    for (const r of s.resources ?? []) {
        const scope = r.outputs?.clientScopeId as string | undefined;
        if (!r.type.startsWith("keycloak:") || !r.type.endsWith("ProtocolMapper") || !scope) continue;
        byScope.set(scope, (byScope.get(scope) ?? new Set()).add(r.outputs!.name as string));
    }
    return byScope;
}

async function assertIdentityMatches(kc: Admin, realm: string, e: EphemeralStack): Promise<void> {
    const s = await stateOf(e);
    const state = stateIdentity(s);
    assert.ok(state.includes(`Realm ${realm}`), `the state holds no realm ${realm}: ${state.join(", ")}`);
    assert.deepEqual(
        await liveIdentity(kc, realm, stateScopeMappers(s)),
        state,
        "Keycloak's objects and the state's differ",
    );
}

/** Keycloak resources whose create writes a setting: created twice, they are still one. */
const IDEMPOTENT_CREATES = new Set([
    "keycloak:index/realmUserProfile:RealmUserProfile",
    "keycloak:index/defaultRoles:DefaultRoles",
    "keycloak:index/userRoles:UserRoles",
    "keycloak:openid/clientServiceAccountRole:ClientServiceAccountRole",
]);

// ---- Kubernetes: the namespace's objects against the state's ----

/** Kinds the program creates in a tenant's namespace (and the state's own, added per case). */
const NAMESPACED_KINDS = [
    "Deployment",
    "StatefulSet",
    "Service",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "NetworkPolicy",
    "Ingress",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Job",
    "CronJob",
    "PodDisruptionBudget",
];

function stateKube(s: State, namespace: string): string[] {
    return (s.resources ?? [])
        .filter((r) => r.type.startsWith("kubernetes:") && r.custom !== false && r.outputs?.kind)
        .filter((r) => r.outputs!.metadata?.namespace === namespace || r.outputs!.metadata?.name === namespace)
        .filter((r) => r.outputs!.kind !== "Namespace" || r.outputs!.metadata?.name === namespace)
        .map((r) => `${r.outputs!.kind} ${r.outputs!.metadata.name}`)
        .sort();
}

/**
 * The namespace and its objects of the listed kinds, as "<Kind> <name>", sorted; objects a controller
 * made (ownerReferences) and the ones Kubernetes puts in every namespace are left out.
 */
async function liveKube(kubeconfig: string, namespace: string, kinds: string[]): Promise<string[]> {
    const kubectl = path.join(envSettings().kube.binDir, "kubectl");
    const get = async (args: string[]) =>
        JSON.parse(
            (await run(kubectl, ["--kubeconfig", kubeconfig, "get", ...args, "-o", "json"], { maxBuffer: 64 << 20 }))
                .stdout,
        ) as { items: { kind: string; metadata: { name: string; ownerReferences?: unknown[] } }[] };
    const namespaces = (await get(["namespaces"])).items.filter((n) => n.metadata.name === namespace);
    const objects = (await get([kinds.join(","), "-n", namespace])).items.filter(
        (o) =>
            !(o.metadata.ownerReferences?.length ?? 0) &&
            !(o.kind === "ConfigMap" && o.metadata.name === "kube-root-ca.crt") &&
            !(o.kind === "ServiceAccount" && o.metadata.name === "default"),
    );
    return [
        ...namespaces.map(() => `Namespace ${namespace}`),
        ...objects.map((o) => `${o.kind} ${o.metadata.name}`),
    ].sort();
}

async function assertKubeMatches(kubeconfig: string, namespace: string, e: EphemeralStack): Promise<void> {
    const state = stateKube(await stateOf(e), namespace);
    assert.ok(state.includes(`Namespace ${namespace}`), `the state holds no namespace: ${state.join(", ")}`);
    const kinds = [...new Set([...NAMESPACED_KINDS, ...state.map((s) => s.split(" ")[0])])].filter(
        (k) => k !== "Namespace",
    );
    assert.deepEqual(
        await liveKube(kubeconfig, namespace, kinds),
        state,
        "the namespace's objects and the state's differ",
    );
}

// ---- backend mounts ----

const mounted = new Set<string>();
// Even when the runner is interrupted, never leave a read-only mount behind.
process.on("exit", () => {
    for (const dir of mounted) spawnSync("umount", [dir]);
});

async function mountReadOnly(dir: string): Promise<void> {
    await run("mount", ["--bind", dir, dir]);
    mounted.add(dir);
    // We run as root, for whom mode bits do not stop writes; a read-only mount does. The remount
    // is refused ("busy") while the engine has a file open for writing there: try again at once.
    for (let attempt = 1; ; attempt++) {
        try {
            await run("mount", ["-o", "remount,bind,ro", dir]);
            return;
        } catch (err) {
            if (attempt >= 100 || !/busy/.test(String((err as { stderr?: string }).stderr))) throw err;
            await delay(10);
        }
    }
}

async function unmount(dir: string): Promise<void> {
    if (!mounted.has(dir)) return;
    await run("umount", [dir]);
    mounted.delete(dir);
}

describe("faults in the middle of an up, and their recovery", { timeout: 1_800_000 }, () => {
    const s = envSettings();
    let env: Environment;
    let kc: Admin;
    const leftovers: number[] = [];

    before(async () => {
        env = await useEnvironment(s);
        kc = await keycloakAdmin(env.keycloak);
    });
    after(async () => {
        for (const dir of [...mounted]) await unmount(dir).catch(() => undefined);
        for (const pid of leftovers) if (processAlive(pid)) process.kill(pid, "SIGKILL");
        // Whatever a case broke and did not restore: every piece runs and answers again.
        await ensureEnvironment(s);
    });

    /** The project's program, target kubernetes in render mode: only Keycloak is touched live. */
    async function identityStack(prefix: string, keycloakUrl = env.keycloak.url, base: Environment = env) {
        const renderDir = fs.mkdtempSync(path.join(os.tmpdir(), "faults-render-"));
        const { id, config } = projectConfig(base, prefix, {
            "cytomine-fallback:renderDir": renderDir,
            "cytomine-fallback:orthanc": "false",
            "cytomine-fallback:keycloakUrl": keycloakUrl,
        });
        const e = await createEphemeralStack({ workDir: repoRoot, config, env: { KUBECONFIG: base.kube.kubeconfig } });
        return { e, realm: id, renderDir };
    }

    /** Destroys the stack, then removes whatever a failed case left outside the state. */
    async function dispose(
        e: EphemeralStack | undefined,
        realm: string,
        extra: () => Promise<void> = async () => {},
        keycloak = env.keycloak,
    ) {
        try {
            if (e) await disposeEphemeralStack(e);
        } finally {
            const admin = await keycloakAdmin(keycloak);
            for (const r of await admin.realms.find())
                if (r.realm === realm || r.realm?.startsWith(`${realm}-`)) await admin.realms.del({ realm: r.realm });
            await extra();
        }
    }

    it(
        "Keycloak stopped while the up creates clients: the up fails naming Keycloak; restart Keycloak, re-run up",
        recorded("faults", async (t: TestContext) => {
            const own = await ownPieces("faults-kc", ["keycloak"]);
            // Removed after the case whatever fails, stack set-up included.
            t.after(() => own.dispose());
            const { keycloak } = own.info;
            const { e, realm, renderDir } = await identityStack("fkc", keycloak.url, { ...env, keycloak });
            try {
                const up = await upWithFault(e, async ({ events, ended }) => {
                    // The realm exists and its clients are being created.
                    await waitFor("a client's create", () => started(events, "keycloak:openid/client:Client"), {
                        timeoutMs: 120_000,
                        stop: ended,
                    });
                    await keycloakDown(own.s);
                });
                const message = failure(up, t);
                assert.match(message, new RegExp(`127\\.0\\.0\\.1:${own.s.keycloak.port}`));
                assert.match(message, /connection refused|EOF|connection reset/);
                // A provider error, not an interruption: no pending operation, no stale lock.
                assert.deepEqual(pendingOf(await stateOf(e)), []);
                assert.deepEqual(locksOf(e), []);

                // Recovery: start Keycloak again and re-run up. A create Keycloak committed as it
                // stopped (its answer lost) is not in the state: that up names it ("already
                // exists"); delete it in Keycloak (it is new, nothing refers to it) and re-run.
                await keycloakUp(own.s);
                const admin = await keycloakAdmin(keycloak);
                let again: UpResult;
                const events: EngineEvent[] = [];
                try {
                    again = await e.stack.up({ color: "never", onEvent: (ev) => events.push(ev) });
                } catch (err) {
                    assert.match(String(err), /already exists/);
                    const removed = await removeUnrecorded(events, admin);
                    assert.ok(removed.length > 0, "the up named an existing object, but no failed step was found");
                    t.diagnostic(`made as Keycloak stopped, deleted before the re-run: ${removed.join(", ")}`);
                    again = await e.stack.up({ color: "never" });
                }
                assert.equal(again.summary.result, "succeeded");
                await assertIdentityMatches(admin, realm, e);
                await assertNoChanges(e);
            } finally {
                await keycloakUp(own.s);
                await dispose(e, realm, async () => fs.rmSync(renderDir, { recursive: true, force: true }), keycloak);
            }
        }),
    );

    it(
        "the Kubernetes API server restarted while the up creates Deployments: the up rides it out, or fails naming the API server and a re-run completes; live objects equal the state",
        recorded("faults", async (t: TestContext) => {
            const own = await ownPieces("faults-kube", ["kube"]);
            t.after(() => own.dispose());
            const { kube } = own.info;
            const { id, config } = projectConfig({ ...env, kube }, "fkube", { "cytomine-fallback:orthanc": "false" });
            const e = await createEphemeralStack({ workDir: repoRoot, config, env: { KUBECONFIG: kube.kubeconfig } });
            const t0 = Date.now();
            const marks: string[] = [];
            const mark = (what: string) => marks.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
            try {
                const up = await upWithFault(e, async ({ events, ended }) => {
                    await waitFor("a Deployment's create", () => started(events, "kubernetes:apps/v1:Deployment"), {
                        timeoutMs: 180_000,
                        stop: ended,
                    });
                    // A restart of the API server while the up runs (etcd and the controllers keep running).
                    mark("fault");
                    await kubeApiServerRestart(own.s);
                    mark("restarted");
                });
                // Whether a request was in flight when the server went away decides the outcome:
                // the provider's requests and awaits retry, so the up may ride the restart out.
                // Either way the end state is checked below; a failed up must name the server.
                if (up.error) {
                    mark("up failed");
                    const message = failure(up, t);
                    assert.match(message, new RegExp(`127\\.0\\.0\\.1:${own.s.kube.port}|connection refused|EOF`));
                    assert.deepEqual(locksOf(e), []);
                    // Recovery: the API server is back; re-run up.
                    const steps: EngineEvent[] = [];
                    const again = await e.stack.up({ color: "never", onEvent: (ev) => steps.push(ev) });
                    mark("recovered");
                    t.diagnostic(`slowest steps of the recovery: ${slowest(steps).join(", ")}`);
                    assert.equal(again.summary.result, "succeeded");
                } else {
                    mark("up rode the restart out");
                    assert.equal(up.result?.summary.result, "succeeded");
                }
                assert.deepEqual(pendingOf(await stateOf(e)), []);
                await assertKubeMatches(kube.kubeconfig, id, e);
                await assertIdentityMatches(kc, id, e);
                await assertNoChanges(e);
                mark("checked");
            } finally {
                t.diagnostic(marks.join(", "));
                await kubeUp(own.s);
                await dispose(e, id);
            }
        }),
    );

    it(
        "the SSH host's sshd stopped while a remote command runs: the running command finishes, the next fails to connect; start sshd, re-run up",
        recorded("faults", async (t: TestContext) => {
            // An SSH host of the case's own (its state folder and port), so that stopping its sshd
            // leaves the shared one to the suites beside this one.
            const own = await ownPieces("faults-sshd", ["ssh"]);
            t.after(() => own.dispose());
            const { ssh } = own.info;
            const dir = `/tmp/faults-ssh-${crypto.randomBytes(4).toString("hex")}`;
            t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
            const hostKey = fs
                .readFileSync(path.join(path.dirname(ssh.privateKeyPath), "host_ed25519_key.pub"), "utf8")
                .trim()
                .split(" ")
                .slice(0, 2)
                .join(" ");
            const e = await createEphemeralStack({
                workDir: path.join(repoRoot, "test/fixtures/faults"),
                config: {
                    "faults-ssh:host": ssh.host,
                    "faults-ssh:port": String(ssh.port),
                    "faults-ssh:user": ssh.user,
                    "faults-ssh:privateKey": { value: fs.readFileSync(ssh.privateKeyPath, "utf8"), secret: true },
                    "faults-ssh:hostKey": hostKey,
                    "faults-ssh:dir": dir,
                    "faults-ssh:slowSeconds": "6",
                },
            });
            // The SSH test host is this machine: its files are read here.
            const marks = (suffix: string) =>
                fs.existsSync(dir)
                    ? fs
                          .readdirSync(dir)
                          .filter((f) => f.endsWith(suffix))
                          .map((f) => f.slice(0, -suffix.length))
                          .sort()
                    : [];
            const runs = (name: string) =>
                fs
                    .readFileSync(path.join(dir, `${name}.runs`), "utf8")
                    .trim()
                    .split("\n").length;
            try {
                const up = await upWithFault(e, async ({ ended }) => {
                    // "slow" has started on the host and sleeps: stop sshd under it.
                    await waitFor("the slow command's start", () => marks(".started").includes("slow") || undefined, {
                        timeoutMs: 120_000,
                        stop: ended,
                    });
                    await sshDown(own.s);
                });
                // Stopping sshd ends no session (each runs in its own, as with `systemctl stop ssh`):
                // "slow" finishes, the next command cannot connect.
                const message = failure(up, t);
                assert.match(message, /last/);
                assert.match(message, new RegExp(`127\\.0\\.0\\.1:${own.s.ssh.port}[^\\n]*connection refused`));
                assert.deepEqual(locksOf(e), []);
                const commands = async () =>
                    ((await stateOf(e)).resources ?? [])
                        .filter((r) => r.type === "command:remote:Command")
                        .map((r) => nameOf(r.urn))
                        .sort();
                assert.deepEqual(await commands(), ["first", "slow"]);
                assert.deepEqual(marks(".done"), ["first", "slow"]);

                // Recovery: start sshd again and re-run up; only the command that never ran runs.
                await sshUp(own.s);
                const again = await e.stack.up({ color: "never" });
                assert.equal(again.summary.result, "succeeded");
                assert.deepEqual(again.outputs.ran.value, ["first", "slow", "last"]);
                assert.deepEqual(pendingOf(await stateOf(e)), []);
                // Every command in the state finished on the host, each once, and no other ran.
                assert.deepEqual(await commands(), ["first", "last", "slow"]);
                assert.deepEqual(marks(".done"), await commands());
                assert.deepEqual(marks(".runs"), await commands());
                assert.deepEqual(
                    { first: runs("first"), slow: runs("slow"), last: runs("last") },
                    { first: 1, slow: 1, last: 1 },
                );
                await assertNoChanges(e);
            } finally {
                await sshUp(own.s);
                await disposeEphemeralStack(e);
            }
        }),
    );

    it(
        "the pulumi process killed (SIGKILL) right after Keycloak created the realm: pulumi cancel, refresh --clear-pending-creates, delete the realm the lost create made, re-run up",
        recorded("faults", async (t: TestContext) => {
            const { e, realm, renderDir } = await identityStack("fkill");
            let tree: number[] = [];
            try {
                const up = await upWithFault(e, async ({ events, ended }) => {
                    await waitFor("the realm's create", () => started(events, "keycloak:index/realm:Realm"), {
                        timeoutMs: 120_000,
                        stop: ended,
                    });
                    // The moment: Keycloak holds the realm, so the state cannot have caught up yet.
                    await waitFor(
                        "the realm in Keycloak",
                        async () => ((await kc.realms.findOne({ realm })) ? true : undefined),
                        { timeoutMs: 60_000, stop: ended, intervalMs: 50 },
                    );
                    const pulumi = descendants(process.pid).find(
                        (p) => / up /.test(commandLine(p)) && /pulumi/.test(commandLine(p)),
                    );
                    assert.ok(pulumi, "no `pulumi up` process under this one");
                    tree = [pulumi, ...descendants(pulumi)];
                    leftovers.push(...tree);
                    process.kill(pulumi, "SIGKILL");
                });
                const message = failure(up, t);
                assert.match(message, /SIGKILL|killed/i);

                // Orphans: the language host and the plugins lose their engine, which stops them on
                // its way out, so they stay. After a few seconds, what is left of the killed run is
                // exactly what pulumiLeftovers (the fleet's `tenant locks` and `reap`) finds for the
                // backend, and stopProcesses ends it.
                const children = tree.slice(1);
                assert.ok(
                    children.some((p) => /pulumi-language-nodejs/.test(commandLine(p)) || !processAlive(p)),
                    "the run had no language host",
                );
                await delay(5000);
                const survivors = children.filter(processAlive);
                t.diagnostic(
                    `processes left running by the killed pulumi after 5 s: ${survivors.map((p) => `${p} ${commandLine(p).split(" ")[0]}`).join(", ") || "none"}`,
                );
                const found = pulumiLeftovers(e.env.PULUMI_BACKEND_URL).map((p) => p.pid);
                assert.deepEqual(found.sort(), survivors.sort(), "the leftovers found are the run's survivors");
                assert.deepEqual((await stopProcesses(found)).sort(), found.sort());
                assert.deepEqual(pulumiLeftovers(e.env.PULUMI_BACKEND_URL), []);

                // A stale lock stops the next run, naming `pulumi cancel`.
                assert.equal(locksOf(e).length, 1, "no lock left by the killed run");
                await assert.rejects(
                    e.stack.up({ color: "never" }),
                    /currently locked by 1 lock\(s\)[\s\S]*pulumi cancel/,
                );
                // Recovery 1: `pulumi cancel` removes the lock (the file:// backend supports it).
                await e.stack.cancel();
                assert.deepEqual(locksOf(e), []);

                // Recovery 2: creates the killed run started are pending in the state; the realm's
                // is, although Keycloak holds the realm (the moment was chosen for this). The
                // provider reads and updates the realm after Keycloak made it, a fraction of a second
                // that the kill, sent on seeing the realm, sometimes misses on a busy machine: then
                // the realm is in the state as created, and nothing is pending.
                const resolved = await resolvePendingCreates(e, t);
                if (resolved.length === 0)
                    assert.ok(
                        ((await stateOf(e)).resources ?? []).some((r) => nameOf(r.urn) === "cytomine-realm"),
                        "nothing pending, and the realm Keycloak holds is not in the state",
                    );
                else assert.deepEqual(resolved, ["cytomine-realm"]);

                const again = await e.stack.up({ color: "never" });
                assert.equal(again.summary.result, "succeeded");
                await assertIdentityMatches(kc, realm, e);
                await assertNoChanges(e);
            } finally {
                for (const p of tree) if (processAlive(p)) process.kill(p, "SIGKILL");
                await e.stack.cancel().catch(() => undefined);
                await dispose(e, realm, async () => fs.rmSync(renderDir, { recursive: true, force: true }));
            }
        }),
    );

    it(
        "the state backend's disk made read-only as Keycloak creates a client: the up fails naming it; remount rw, pulumi cancel, refresh --clear-pending-creates, delete what the lost creates made, re-run up",
        recorded("faults", async (t: TestContext) => {
            // The fault at its moment: Keycloak has created the client, and the engine, which wrote
            // the pending create before asking, learns of it only after the disk went read-only.
            // Two steps at a time: each in-flight step's checkpoint fails only after the diy
            // backend's fixed retries (about 32 s, pkg/backend/diy/state.go), one after another.
            const gate = await httpGate(env.keycloak.url, {
                when: (req) => req.method === "POST" && /\/admin\/realms\/[^/]+\/clients$/.test(req.url ?? ""),
                // Called once the up runs, after `e` below is set.
                run: () => mountReadOnly(e.backendDir),
            });
            const { e, realm, renderDir } = await identityStack("fro", gate.url);
            try {
                const up = await upWithFault(
                    e,
                    async ({ ended }) => {
                        await waitFor("a client's create", async () => (await settled(gate.fired)) || undefined, {
                            timeoutMs: 120_000,
                            stop: ended,
                        });
                    },
                    { parallel: 2 },
                );
                const message = failure(up, t);
                assert.match(message, /read-only file system/);

                // Recovery: make the disk writable again, then clear what the failed run could not.
                await unmount(e.backendDir);
                // The failed run could not remove its lock either.
                assert.equal(locksOf(e).length, 1, "no lock left by the failed run");
                await e.stack.cancel();
                assert.deepEqual(locksOf(e), []);
                const removed = await resolvePendingCreates(e, t);
                assert.ok(removed.length > 0, "the client Keycloak created as the disk went read-only was not pending");

                const again = await e.stack.up({ color: "never" });
                assert.equal(again.summary.result, "succeeded");
                await assertIdentityMatches(kc, realm, e);
                await assertNoChanges(e);
            } finally {
                await unmount(e.backendDir).catch(() => undefined);
                await dispose(e, realm, async () => fs.rmSync(renderDir, { recursive: true, force: true }));
                await gate.close();
            }
        }),
    );

    /** `pulumi refresh` importing the given pending creates (URN, id) and clearing the others. */
    async function refreshPendingCreates(e: EphemeralStack, imports: [string, string][]): Promise<void> {
        // The Automation API has no --import-pending-creates: the CLI, as an operator would run it.
        // Each URN and each id is its own flag value (the flag is a list of alternating URN, id).
        const args = ["refresh", "--yes", "--skip-preview", "--non-interactive", "--color", "never"];
        args.push("--stack", e.stack.name, "--clear-pending-creates");
        for (const [urn, id] of imports) args.push("--import-pending-creates", urn, "--import-pending-creates", id);
        await run(requireToolchain(), args, { cwd: e.stack.workspace.workDir, env: { ...process.env, ...e.env } });
    }

    /**
     * Deletes in Keycloak the object of each step that failed because it already exists: Keycloak
     * committed its create while it stopped and the answer was lost, so the state never recorded it.
     * Found by the step's own inputs (its natural key). Returns the steps' names.
     */
    async function removeUnrecorded(events: EngineEvent[], admin: Admin = kc): Promise<string[]> {
        const removed: string[] = [];
        for (const ev of events) {
            const m = ev.resOpFailedEvent?.metadata;
            if (!m?.new || m.op !== "create") continue;
            const live = await liveObjectOf({ urn: m.urn, type: m.type, inputs: m.new.inputs ?? {} }, admin);
            if (!live) continue;
            await live.remove();
            removed.push(m.urn.split("::").pop() as string);
        }
        return removed;
    }

    /** A pending create's object in Keycloak (ADMIN's), found by its natural key: its id and how to delete it. */
    async function liveObjectOf(
        r: StateResource,
        admin: Admin = kc,
    ): Promise<{ id: string; remove: () => Promise<void> } | undefined> {
        const i = r.inputs ?? {};
        switch (r.type) {
            case "keycloak:index/realm:Realm":
                return (await admin.realms.findOne({ realm: i.realm }))
                    ? { id: i.realm, remove: () => admin.realms.del({ realm: i.realm }) }
                    : undefined;
            case "keycloak:openid/client:Client": {
                const [c] = await admin.clients.find({ realm: i.realmId, clientId: i.clientId });
                return c ? { id: c.id!, remove: () => admin.clients.del({ realm: i.realmId, id: c.id! }) } : undefined;
            }
            case "keycloak:index/role:Role": {
                const role = i.clientId
                    ? await admin.clients.findRole({ realm: i.realmId, id: i.clientId, roleName: i.name })
                    : await admin.roles.findOneByName({ realm: i.realmId, name: i.name });
                return role?.id
                    ? { id: role.id, remove: () => admin.roles.delById({ realm: i.realmId, id: role.id! }) }
                    : undefined;
            }
            case "keycloak:index/user:User": {
                const [u] = await admin.users.find({ realm: i.realmId, username: i.username, exact: true });
                return u ? { id: u.id!, remove: () => admin.users.del({ realm: i.realmId, id: u.id! }) } : undefined;
            }
            case "keycloak:oidc/identityProvider:IdentityProvider":
                return (await admin.identityProviders.findOne({ realm: i.realm, alias: i.alias }))
                    ? { id: i.alias, remove: () => admin.identityProviders.del({ realm: i.realm, alias: i.alias }) }
                    : undefined;
            default: {
                if (r.type.endsWith("ProtocolMapper")) {
                    // In a client or a client scope, by name.
                    const scope = i.clientScopeId as string | undefined;
                    const mappers = scope
                        ? await admin.clientScopes.listProtocolMappers({ realm: i.realmId, id: scope })
                        : ((await admin.clients.findOne({ realm: i.realmId, id: i.clientId }))?.protocolMappers ?? []);
                    const found = mappers.find((x) => x.name === i.name);
                    if (!found) return undefined;
                    const mapperId = found.id!;
                    return {
                        id: mapperId,
                        remove: () =>
                            scope
                                ? admin.clientScopes.delProtocolMapper({ realm: i.realmId, id: scope, mapperId })
                                : admin.clients.delProtocolMapper({ realm: i.realmId, id: i.clientId, mapperId }),
                    };
                }
                // Settings a second create simply writes again (Keycloak's PUTs and idempotent role
                // mappings), random values and rendered files leave nothing to duplicate.
                assert.ok(
                    !r.type.startsWith("keycloak:") || IDEMPOTENT_CREATES.has(r.type),
                    `no lookup for a pending ${r.type}`,
                );
                return undefined;
            }
        }
    }

    /**
     * Pulumi's documented repair of pending creates: `pulumi refresh --import-pending-creates <urn>
     * <id>` for each object that exists, `--clear-pending-creates` for the rest. Returns the pending
     * operations it found, as "<op> <name>".
     */
    async function resolvePendingCreates(e: EphemeralStack, t: TestContext): Promise<string[]> {
        const before = await stateOf(e);
        const found: { urn: string; id: string; remove: () => Promise<void> }[] = [];
        for (const op of before.pending_operations ?? []) {
            if (op.type !== "creating") continue;
            const live = await liveObjectOf(op.resource);
            if (live) found.push({ urn: op.resource.urn, ...live });
        }
        t.diagnostic(
            `pending operations: ${pendingOf(before).join(", ") || "none"}; existing in Keycloak: ${found.map((f) => nameOf(f.urn)).join(", ") || "none"}`,
        );
        await refreshPendingCreates(
            e,
            found.map((f) => [f.urn, f.id]),
        );
        const after = await stateOf(e);
        assert.deepEqual(pendingOf(after), []);
        // Pulumi 3.188 accepts --import-pending-creates but imports nothing: the pending operation
        // becomes "importing", which no step resolves, and the next checkpoint drops it (only pending
        // creates are carried over, pkg/backend/snapshot.go). Held here, so that a Pulumi that does
        // import fails this and the recovery in docs/operating.md is updated.
        const imported = found.filter((f) => (after.resources ?? []).some((r) => r.urn === f.urn));
        assert.deepEqual(
            imported.map((f) => nameOf(f.urn)),
            [],
            "refresh --import-pending-creates imported: update docs/operating.md",
        );
        // So the object the interrupted create made is deleted (it is new: nothing refers to it
        // yet), and up creates it again.
        for (const f of found) await f.remove();
        return found.map((f) => nameOf(f.urn));
    }
});
