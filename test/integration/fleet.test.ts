// The tenant CLI and fleet library on the local environment, with a temporary fleet directory and its
// own file:// backend and passphrase. Three tenants from the kubernetes template share the local
// Keycloak as an external one (each with its own realm): the template's keycloakMode namespace would
// deploy a Keycloak per tenant, which a KWOK pod never serves, and its stand-in (the local Keycloak at
// publicUrl/iam) gives the three tenants the same public URL; external mode is also the faster.
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as v8 from "node:v8";
import * as vm from "node:vm";
import YAML from "yaml";
import { isGone, keycloakAdmin, kubeApi } from "../support/clients";
import { Stack } from "@pulumi/pulumi/automation";
import { createRenderTenants, Fleet, runTenants } from "../../apps/fleet";
import { Environment, useEnvironment } from "../../localenv";
import { commandLine, descendants, processAlive, processTable } from "../../toolchain/processes";
import { pulumiHome } from "../../toolchain/index";
import { byTenant, reportOf, show, tenantCli } from "../support/tenant-cli";

type Kube = Awaited<ReturnType<typeof kubeApi>>;

describe("fleet: tenants from templates on the local environment", { timeout: 2_400_000 }, () => {
    let env: Environment;
    let kube: Kube;
    let dir: string;
    let cliEnv: Record<string, string>;
    const id = crypto.randomBytes(2).toString("hex");
    const [a, b, c] = ["a", "b", "c"].map((x) => `fl${id}-${x}`);
    const taken = `fl${id}-taken`;
    const cli = (...args: string[]) => tenantCli([...args, "--fleet-dir", dir], cliEnv);

    before(async () => {
        env = await useEnvironment();
        kube = await kubeApi(env.kube.kubeconfig);
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-it-"));
        cliEnv = { KUBECONFIG: env.kube.kubeconfig, KEYCLOAK_ADMIN_PASSWORD: env.keycloak.adminPassword };
    });
    after(async () => {
        if (!dir) return;
        const fleet = new Fleet({ dir });
        const left = fleet.ctx.tenantNames();
        // The tenants left hold their realms and volume claims (never destroyed before): deleting
        // them with their data in one go must work too.
        if (left.length) {
            const run = await cli("destroy", ...left, "--yes", "--with-data", "--parallel", "3");
            assert.equal(run.code, 0, show(run));
        }
        await kube.core.deleteNamespace({ name: taken }).catch(() => undefined);
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("new: three tenants from the kubernetes template, with what to register next", async () => {
        const local = [
            "--set",
            "lsaaiClientId={tenant}-client",
            "--set",
            "keycloakMode=external",
            "--set",
            `keycloakUrl=${env.keycloak.url}`,
            "--set",
            "localStack=true",
            "--set",
            "realm={tenant}",
            "--set",
            "orthanc=false",
        ];
        // a keeps the template's protection of its data; b and c may be deleted with it.
        const deletable = ["--set", "allowRealmReplacement=true", "--set", "allowVolumeDeletion=true"];
        for (const [tenant, extra] of [
            [a, []],
            [b, deletable],
            [c, deletable],
        ] as const) {
            const secret = `lsaai-${tenant}-${crypto.randomBytes(8).toString("hex")}`;
            const run = await tenantCli(
                ["new", tenant, "--template", "kubernetes", ...local, ...extra, "--fleet-dir", dir],
                { ...cliEnv, LSAAI_CLIENT_SECRET: secret },
            );
            assert.equal(run.code, 0, show(run));
            assert.match(
                run.stdout,
                new RegExp(`register the redirect URI ${env.keycloak.url}/realms/${tenant}/broker/oidc/endpoint`),
            );
            const file = fs.readFileSync(path.join(dir, `Pulumi.${tenant}.yaml`), "utf8");
            assert.ok(!file.includes(secret), "the LS-AAI secret is stored in plain text");
            assert.ok(!file.includes(env.keycloak.adminPassword), "the Keycloak password is stored in plain text");
            assert.equal(YAML.parse(file).config["cytomine-fallback:tenant"], tenant);
        }
        const again = await cli("new", a, "--template", "kubernetes", ...local);
        assert.equal(again.code, 1);
        assert.match(again.stderr, new RegExp(`tenant ${a} already exists`));
        assert.equal((fs.statSync(path.join(dir, "passphrase")).mode & 0o777).toString(8), "600");
    });

    it("up --all --parallel 3: distinct namespaces, no generated secret shared", async () => {
        const run = await cli("up", "--all", "--parallel", "3");
        assert.equal(run.code, 0, show(run));
        // The fleet's backend writes no fileblob sidecar (toolchain fileBackendUrl): a CLI killed
        // while it rewrote one would leave the stack unreadable ("failed to load checkpoint: EOF").
        const state = fs.readdirSync(path.join(dir, "state"), { recursive: true }).map(String);
        assert.ok(
            state.some((f) => f.endsWith(`${a}.json`)),
            `no state file of ${a}: ${state.join(", ")}`,
        );
        assert.deepEqual(
            state.filter((f) => f.endsWith(".attrs")),
            [],
        );
        const report = reportOf(run);
        assert.equal(report.parallel, 3);
        for (const t of report.tenants) {
            assert.equal(t.result, "ok", `${t.tenant}: ${t.error}`);
            assert.ok((t.changes.create ?? 0) > 50, JSON.stringify(t.changes));
        }
        const secrets = await Promise.all(
            [a, b, c].map(async (n) => {
                const ns = await kube.core.readNamespace({ name: n });
                assert.match(ns.metadata?.annotations?.["cytomine.io/stack"] ?? "", new RegExp(`/${n}$`));
                return (await kube.core.readNamespacedSecret({ name: "cytomine-secrets", namespace: n })).data ?? {};
            }),
        );
        for (const [i, j] of [
            [0, 1],
            [0, 2],
            [1, 2],
        ]) {
            const shared = Object.keys(secrets[i]).filter((k) => secrets[i][k] === secrets[j][k]);
            // The one shared value is the external Keycloak's admin password (tenants sharing a
            // Keycloak share it; the template's keycloakMode namespace gives each its own).
            assert.deepEqual(shared, ["keycloak-admin-password"]);
        }
    });

    it("preview --all shows no changes, and list shows the tenants", async () => {
        const run = await cli("preview", "--all", "--parallel", "3");
        assert.equal(run.code, 0, show(run));
        for (const t of reportOf(run).tenants) assert.deepEqual([t.result, t.changes], ["ok", {}], t.tenant);
        assert.match(run.stdout, /tenant\s+result\s+changes\s+duration/);

        const list = await cli("list", "--json");
        assert.equal(list.code, 0, show(list));
        const tenants = JSON.parse(list.stdout) as {
            tenant: string;
            target: string;
            url: string;
            resources: number;
            lastOperation: { kind: string; result: string };
        }[];
        assert.deepEqual(
            tenants.map((t) => [t.tenant, t.target, t.url, t.lastOperation.kind, t.lastOperation.result]),
            [a, b, c].map((n) => [n, "kubernetes", `https://${n}.cytomine.example.org`, "update", "succeeded"]),
        );
        assert.ok(tenants.every((t) => t.resources > 50));
    });

    it("drift --all reports a realm changed by hand for that tenant only", async () => {
        const kc = await keycloakAdmin(env.keycloak);
        await kc.realms.update({ realm: b }, { displayName: "Changed by hand" });
        const run = await cli("drift", "--all", "--parallel", "3");
        assert.equal(run.code, 2, show(run));
        const results = byTenant(reportOf(run));
        assert.deepEqual(
            // The type token from the engine's events (keycloak:index/realm:Realm), or as the CLI prints
            // it when those events were cut short (keycloak:index:Realm).
            results[b].drifted?.map((d) => [d.type.replace("/realm:", ":"), d.name, d.properties]),
            [["keycloak:index:Realm", "cytomine-realm", ["displayName"]]],
        );
        assert.equal(results[b].result, "changes");
        for (const n of [a, c]) assert.deepEqual([results[n].result, results[n].drifted], ["ok", []], n);
        assert.match(
            run.stdout,
            new RegExp(`${b} drifted: cytomine-realm \\(keycloak:index(/realm)?:Realm, update: displayName\\)`),
        );
    });

    it("destroy keeps a tenant's protected data; the other two are unchanged; --with-data removes it", async () => {
        const refused = await cli("destroy", a);
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /destroy asks for confirmation: .* add --yes/);

        const run = await cli("destroy", a, "--yes");
        assert.equal(run.code, 0, show(run));
        const claims = await kube.core.listNamespacedPersistentVolumeClaim({ namespace: a });
        assert.equal(claims.items.length, 4, "the volume claims are kept");
        const kc = await keycloakAdmin(env.keycloak);
        assert.equal((await kc.realms.findOne({ realm: a }))?.realm, a, "the realm is kept");
        assert.equal((await kube.apps.listNamespacedDeployment({ namespace: a })).items.length, 0);

        const others = await cli("preview", b, c, "--parallel", "2");
        assert.equal(others.code, 0, show(others));
        for (const t of reportOf(others).tenants) assert.deepEqual([t.result, t.changes], ["ok", {}], t.tenant);

        const withData = await cli("destroy", a, "--yes", "--with-data");
        assert.equal(withData.code, 0, show(withData));
        // A new admin session: the first one's token expired during the runs.
        assert.equal((await (await keycloakAdmin(env.keycloak)).realms.findOne({ realm: a })) ?? undefined, undefined);
        assert.ok(await isGone(() => kube.core.readNamespace({ name: a })));
        const removed = await cli("remove", a, "--yes");
        assert.equal(removed.code, 0, show(removed));
        assert.ok(!fs.existsSync(path.join(dir, `Pulumi.${a}.yaml`)));
    });

    it("a fault in one tenant leaves the others completed; --retry-failed completes it once removed", async () => {
        // A namespace no stack manages: c's preview stops on it only when its program runs.
        await kube.core.createNamespace({ body: { metadata: { name: taken } } });
        const file = path.join(dir, `Pulumi.${c}.yaml`);
        const original = fs.readFileSync(file, "utf8");
        const doc = YAML.parse(original);
        doc.config["cytomine-fallback:namespace"] = taken;
        fs.writeFileSync(file, YAML.stringify(doc));

        const run = await cli("preview", "--all", "--parallel", "2");
        assert.equal(run.code, 1, show(run));
        const results = byTenant(reportOf(run));
        assert.deepEqual([results[b].result, results[b].changes], ["ok", {}]);
        assert.equal(results[c].result, "failed");
        assert.match(
            results[c].error ?? "",
            new RegExp(`namespace "${taken}" already exists and no Cytomine Fallback stack manages it`),
        );
        assert.match(run.stdout, new RegExp(`${c}\\s+failed`));
        assert.match(run.stdout, /--retry-failed/);
        assert.ok(fs.readFileSync(results[c].logFile!, "utf8").includes(taken));

        fs.writeFileSync(file, original);
        const retry = await cli("preview", "--retry-failed");
        assert.equal(retry.code, 0, show(retry));
        assert.deepEqual(
            reportOf(retry).tenants.map((t) => [t.tenant, t.result, t.changes]),
            [[c, "ok", {}]],
        );
    });
});

describe("fleet: twenty parallel previews of render-mode tenants", { timeout: 1_800_000 }, () => {
    const count = 20;
    let dir: string;
    let fleet: Fleet;
    // Each preview worker (CLI, language host, program, three plugins) peaks at hundreds of MB: on a
    // small machine fewer run at once rather than exhausting memory shared with other work.
    const available = Number(/MemAvailable:\s+(\d+)/.exec(fs.readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0) * 1024;
    const parallel = Math.max(4, Math.min(count, Math.floor((available * 0.6) / 650e6)));

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-render-"));
        // Each program in its own process: the language host asks the CLI for the plugins the
        // program's packages need, the case where concurrent CLIs could install plugins at once.
        fleet = new Fleet({ dir, programs: "process" });
        await createRenderTenants(
            fleet,
            Array.from({ length: count }, (_, i) => `r${String(i).padStart(2, "0")}`),
            dir,
        );
    });
    after(() => {
        // Nothing was deployed: the fleet directory (with its backend) is all there is.
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    const digest = (files: string[]) =>
        Object.fromEntries(
            files.map((f) => [f, crypto.createHash("sha256").update(fs.readFileSync(f, "utf8")).digest("hex")]),
        );
    /** Where `pulumi stack select` would record the fleet's selected stack (PULUMI_HOME is shared). */
    const workspaceFile = () => {
        const hash = crypto.createHash("sha1").update(fleet.ctx.projectFile).digest("hex");
        return path.join(pulumiHome, "workspaces", `cytomine-fallback-${hash}-workspace.json`);
    };

    // Three rounds in the test command; FLEET_PREVIEW_ROUNDS=10 for the ten.
    const rounds = Number(process.env.FLEET_PREVIEW_ROUNDS ?? 3);
    /** Every file of the plugin folder, with its size: an install or a half-written plugin changes it. */
    const pluginFiles = () =>
        fs
            .readdirSync(path.join(pulumiHome, "plugins"), { recursive: true })
            .map((f) => path.join(pulumiHome, "plugins", String(f)))
            .map((f) => `${f} ${fs.statSync(f).size}`)
            .sort();

    it(`run ${rounds} times at --parallel ${parallel}, leave every workspace, plugin, config and state file intact`, async (t) => {
        t.diagnostic(`parallel ${parallel} (MemAvailable ${(available / 1e9).toFixed(1)} GB)`);
        const names = fleet.ctx.tenantNames();
        assert.equal(names.length, count);
        const configFiles = [fleet.ctx.projectFile, ...names.map((n) => fleet.ctx.configFile(n))];
        const before_ = digest(configFiles);
        const plugins = pluginFiles();
        for (let round = 1; round <= rounds; round++) {
            const report = await fleet.runOperation("preview", names, { parallel });
            t.diagnostic(`round ${round}: ${(report.durationMs / 1000).toFixed(0)} s`);
            const failed = report.tenants.filter((r) => r.result !== "changes");
            assert.deepEqual(failed, [], `round ${round}`);
            for (const r of report.tenants)
                assert.ok((r.changes.create ?? 0) > 50, `${r.tenant}: ${JSON.stringify(r.changes)}`);
        }
        assert.deepEqual(digest(configFiles), before_, "a config file changed");
        assert.deepEqual(pluginFiles(), plugins, "the plugin folder changed");
        // No `stack select`, not even by `stack init`: no workspace file for the fleet's project.
        assert.ok(!fs.existsSync(workspaceFile()), workspaceFile());
        const stacks = path.join(dir, "state", ".pulumi", "stacks", "cytomine-fallback");
        const checkpoints = fs.readdirSync(stacks).filter((f) => f.endsWith(".json"));
        assert.equal(checkpoints.length, count);
        for (const f of checkpoints) JSON.parse(fs.readFileSync(path.join(stacks, f), "utf8"));
        assert.deepEqual(fleet.locks(), []);
        const listed = await fleet.listTenants();
        assert.deepEqual(
            listed.map((l) => [l.tenant, l.problem]),
            names.map((n) => [n, undefined]),
        );
    });

    it("a CLI killed mid-preview: `tenant locks` names what it left running, `reap --yes` stops exactly that", async () => {
        const [tenant] = fleet.ctx.tenantNames();
        const run = fleet.runOperation("preview", [tenant], { parallel: 1 });
        // The moment: the CLI runs its language host and two plugins (the program registers
        // resources, so the first plugin is past its start).
        let cli: number | undefined;
        const deadline = Date.now() + 120_000;
        while (cli === undefined && Date.now() < deadline) {
            const table = processTable();
            cli = descendants(process.pid, table).find(
                (p) =>
                    table.get(p)?.name === "pulumi" &&
                    / preview /.test(commandLine(p)) &&
                    descendants(p, table).filter((c) => table.get(c)?.name.startsWith("pulumi-resource-")).length >= 2,
            );
            if (cli === undefined) await new Promise((r) => setTimeout(r, 50));
        }
        assert.ok(cli, "no preview with two plugins under this process");
        const below = descendants(cli);
        process.kill(cli, "SIGKILL");
        const report = await run;
        assert.equal(report.tenants[0].result, "failed");
        await new Promise((r) => setTimeout(r, 3000));

        // What stays depends on where each helper was (one still starting exits with its engine);
        // what stays is found, and only that.
        const table = processTable();
        const survivors = below.filter((p) => table.get(p)?.name.startsWith("pulumi-"));
        const left = fleet.leftovers().map((p) => p.pid);
        assert.ok(survivors.length >= 1, "the killed CLI left nothing running");
        assert.deepEqual(
            left.filter((p) => !below.includes(p)),
            [],
            "only what the killed CLI started",
        );
        assert.deepEqual(
            survivors.filter((p) => !left.includes(p)),
            [],
            "every helper it left running",
        );
        const locks = await tenantCli(["locks", "--fleet-dir", dir], {});
        assert.equal(locks.code, 0, locks.stderr);
        assert.match(locks.stdout, new RegExp(`${left.length} process\\(es\\) left running by a killed CLI`));
        for (const pid of left) assert.match(locks.stdout, new RegExp(`\\b${pid} pulumi-`));

        const refused = await tenantCli(["reap", "--fleet-dir", dir], {});
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /add --yes/);
        assert.ok(left.every(processAlive), "nothing stopped without --yes");

        const reaped = await tenantCli(["reap", "--yes", "--fleet-dir", dir], {});
        assert.equal(reaped.code, 0, reaped.stderr);
        for (const pid of left) assert.match(reaped.stdout, new RegExp(`^stopped ${pid} `, "m"));
        assert.ok(!left.some(processAlive));
        assert.deepEqual(fleet.leftovers(), []);
        const again = await fleet.runOperation("preview", [tenant], { parallel: 1 });
        assert.equal(again.tenants[0].result, "changes");
    });
});

describe("fleet: inline programs, many tenants' programs in this one process", { timeout: 600_000 }, () => {
    const names = Array.from({ length: 6 }, (_, i) => `in${String(i).padStart(2, "0")}`);
    let dir: string;
    let fleet: Fleet;
    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-inline-"));
        fleet = new Fleet({ dir });
        await createRenderTenants(fleet, names, dir);
    });
    after(() => {
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("previews at --parallel 4 run without a program process, each with its own tenant's config", async () => {
        assert.equal(fleet.ctx.programs, "inline");
        // What each tenant's preview declares: its realm and its namespace, from the engine's events.
        const declared = new Map<string, { realms: Set<string>; namespaces: Set<string> }>();
        const helpers = new Set<string>();
        const nodeProcesses = new Set<string>();
        const watch = setInterval(() => {
            const table = processTable();
            for (const p of descendants(process.pid, table)) {
                const name = table.get(p)?.name ?? "";
                helpers.add(name);
                if (name === "node") nodeProcesses.add(commandLine(p));
            }
        }, 100);
        try {
            const report = await runTenants(
                "preview",
                names,
                async (ctx) => {
                    const seen = { realms: new Set<string>(), namespaces: new Set<string>() };
                    declared.set(ctx.tenant, seen);
                    return fleet.ctx.withWorkspace(async (ws) => {
                        const stack = await Stack.select(ctx.tenant, ws);
                        const result = await stack.preview({
                            onEvent: (e) => {
                                const step = e.resourcePreEvent?.metadata;
                                const inputs = step?.new?.inputs as
                                    { realm?: string; metadata?: { name?: string } } | undefined;
                                if (step?.type === "keycloak:index/realm:Realm" && inputs?.realm)
                                    seen.realms.add(inputs.realm);
                                if (step?.type === "kubernetes:core/v1:Namespace" && inputs?.metadata?.name)
                                    seen.namespaces.add(inputs.metadata.name);
                            },
                        });
                        return { changes: result.changeSummary as Record<string, number> };
                    });
                },
                { parallel: 4 },
            );
            assert.deepEqual(
                report.tenants.map((t) => [t.tenant, t.result, t.error]),
                names.map((n) => [n, "changes", undefined]),
            );
        } finally {
            clearInterval(watch);
        }
        assert.ok(helpers.has("pulumi"), `no CLI seen: ${[...helpers].join(", ")}`);
        // The CLI may still start its language host briefly (for the runtime's plugin info); the
        // program's own Node.js process is what inline programs do without.
        assert.deepEqual([...nodeProcesses], [], "a Node.js process ran below this one: the programs were not inline");
        for (const n of names)
            assert.deepEqual(
                { realms: [...declared.get(n)!.realms], namespaces: [...declared.get(n)!.namespaces] },
                { realms: [n], namespaces: [n] },
                n,
            );
    });

    it("a program that fails fails its own tenant only, while the others' programs run beside it", async () => {
        const bad = names[2];
        const file = fleet.ctx.configFile(bad);
        const original = fs.readFileSync(file, "utf8");
        const doc = YAML.parse(original);
        doc.config["cytomine-fallback:publicUrl"] = "not-a-url";
        fs.writeFileSync(file, YAML.stringify(doc));
        try {
            // All six at once: the broken program fails at its start, while the others run.
            const report = await fleet.runOperation("preview", names, { parallel: names.length });
            const results = Object.fromEntries(report.tenants.map((t) => [t.tenant, t]));
            assert.equal(results[bad].result, "failed");
            assert.match(results[bad].error ?? "", /publicUrl/);
            assert.deepEqual(
                names.filter((n) => n !== bad).map((n) => [n, results[n].result, results[n].error]),
                names.filter((n) => n !== bad).map((n) => [n, "changes", undefined]),
            );
        } finally {
            fs.writeFileSync(file, original);
        }
    });

    it("runs leave nothing behind in this process: the heap stays flat over rounds of previews", async (t) => {
        v8.setFlagsFromString("--expose-gc");
        const gc = vm.runInNewContext("gc") as () => void;
        const heap = () => {
            gc();
            return process.memoryUsage().heapUsed / 2 ** 20;
        };
        const round = async () => {
            const report = await fleet.runOperation("preview", names, { parallel: 3 });
            assert.deepEqual(
                report.tenants.filter((r) => r.result !== "changes"),
                [],
            );
        };
        await round();
        const start = heap();
        const rounds = 5;
        for (let i = 0; i < rounds; i++) await round();
        const growth = heap() - start;
        t.diagnostic(
            `heap ${start.toFixed(0)} MiB, then +${growth.toFixed(1)} MiB after ${rounds * names.length} previews`,
        );
        // Unreleased, each preview keeps its resources and config (docs/measurements.md).
        assert.ok(growth < 10, `the heap grew by ${growth.toFixed(1)} MiB over ${rounds * names.length} previews`);
    });
});
