// Resource identity guard (as pulumi-awsx guards its components): the dev program runs under mocks and
// the URNs of its protected resources (realms, volume claims) and of its components are compared
// with the recorded ones. A change that would alter one fails here unless the resource carries an
// alias to the recorded URN; otherwise the engine would plan to delete protected data and create it
// anew. Record on purpose with UPDATE_URNS=1.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { repoRoot } from "../../toolchain/index";
import { cytomineProgram } from "../../program/main";
import { pluginsFor, requiredPluginVersion } from "../../program/preflight/plugins";
import { allRegistered, recordResources } from "../support/mocks";
import { cytomineArgs } from "../support/cytomine-args";
import { hostArgs } from "../support/host-args";
import { Cytomine } from "../../components/kubernetes/cytomine";
import { Cytomine as VmCytomine } from "../../components/vm/cytomine";
import { SdafsCsiDriver } from "../../components/kubernetes/csi";
import { DEFAULT_IMPORT_IMAGE, DeclaredDataset, EMPTY_RECORD, planImport } from "../../components/model/datasets";
import { ML_SERVICES } from "../../components/model/ml";
import { ML_DEFAULTS } from "../../program/config/ml";

const RECORD = path.join(__dirname, "resource-identity.json");

interface Identity {
    protected: string[];
    components: string[];
}

interface Seen {
    resource: pulumi.Resource;
    type: string;
    name: string;
    parent?: pulumi.Resource;
    protect: boolean;
    aliases: pulumi.Input<pulumi.URN | pulumi.Alias>[];
}

const ownUrn = async (s: Seen) => engineUrn(await value(s.resource.urn));

/**
 * The URNs a resource answers to: its own, those of its aliases, and those it inherits from its
 * parent's aliases: its own name and type, and each alias's, under each former parent URN, as the
 * engine resolves them (pulumi/pulumi sdk/nodejs/resource.ts, allAliases and inheritedChildAlias).
 */
async function urnsOf(s: Seen, all: Seen[]): Promise<string[]> {
    const own = await ownUrn(s);
    const specs = await Promise.all(s.aliases.map((a) => value(pulumi.output(a))));
    const parent = all.find((p) => p.resource === s.parent);
    const formerParents = parent ? (await urnsOf(parent, all)).slice(1) : [];
    const namesAndTypes = [
        { name: s.name, type: s.type },
        ...specs.flatMap((a) => (typeof a === "string" ? [] : [{ name: a.name ?? s.name, type: a.type ?? s.type }])),
    ];
    const inherited = await Promise.all(
        formerParents.flatMap((p) =>
            namesAndTypes.map(async (n) =>
                engineUrn(await value(pulumi.createUrn(n.name as string, n.type as string, p as pulumi.URN))),
            ),
        ),
    );
    const aliases = await Promise.all(
        specs.map(async (alias) => {
            if (typeof alias === "string") return engineUrn(alias);
            const parent = alias.parent ?? s.parent;
            return engineUrn(
                await value(
                    pulumi.createUrn(
                        alias.name ?? s.name,
                        alias.type ?? s.type,
                        parent as pulumi.Resource | undefined,
                        alias.project as string | undefined,
                        alias.stack as string | undefined,
                    ),
                ),
            );
        }),
    );
    return [own, ...aliases, ...inherited];
}

/**
 * SEEN's protected resources and components answer to every URN recorded in RECORD_FILE (their own or
 * through an alias), and no new protected resource is unrecorded. UPDATE_URNS=1 records SEEN instead.
 */
/**
 * Components the Kubernetes plugin built here leaves out (scripts/toolchain/go/kubernetes-provider/
 * patches/0001): declaring one would fail at `up` with the provider's "unknown resource type".
 */
const LEFT_OUT_OF_THE_KUBERNETES_PLUGIN = [
    "kubernetes:yaml/v2:ConfigFile",
    "kubernetes:yaml/v2:ConfigGroup",
    "kubernetes:helm.sh/v4:Chart",
    "kubernetes:kustomize/v2:Directory",
];

function assertNoLeftOutComponents(seen: Seen[]): void {
    assert.ok(seen.length > 0, "the program declared nothing");
    assert.deepEqual(
        seen.filter((s) => LEFT_OUT_OF_THE_KUBERNETES_PLUGIN.includes(s.type)).map((s) => `${s.type} ${s.name}`),
        [],
    );
}

async function assertIdentity(seen: Seen[], recordFile: string): Promise<void> {
    const current: Identity = {
        protected: (await Promise.all(seen.filter((s) => s.protect).map(ownUrn))).sort(),
        components: (await Promise.all(seen.filter((s) => s.type.startsWith("cytomine:")).map(ownUrn))).sort(),
    };
    if (process.env.UPDATE_URNS === "1") fs.writeFileSync(recordFile, JSON.stringify(current, null, 2) + "\n");
    const recorded = JSON.parse(fs.readFileSync(recordFile, "utf8")) as Identity;
    assert.ok(recorded.protected.length > 0 && recorded.components.length > 0, `${recordFile} records nothing`);

    const answers = await Promise.all(seen.map(async (s) => ({ s, urns: await urnsOf(s, seen) })));
    const answered = new Set(answers.flatMap((a) => a.urns));
    const lost = [...recorded.protected, ...recorded.components].filter((u) => !answered.has(u));
    assert.deepEqual(
        lost,
        [],
        "these recorded URNs no longer exist: give the renamed resource an alias to its old URN " +
            "(opts.aliases), or re-record with UPDATE_URNS=1 if the change is meant to replace them",
    );
    const unrecorded = answers
        .filter((a) => a.s.protect && !a.urns.some((u) => recorded.protected.includes(u)))
        .map((a) => a.urns[0]);
    assert.deepEqual(unrecorded, [], "new protected resources: record them with UPDATE_URNS=1");
}

/** Records what FN registers under mocks in stack STACK. */
async function registeredBy(fn: () => unknown, stack = "test"): Promise<Seen[]> {
    recordResources("cytomine-fallback", stack);
    const seen: Seen[] = [];
    await pulumi.runtime.runInPulumiStack(async () => {
        pulumi.runtime.registerStackTransformation((a) => {
            seen.push({
                resource: a.resource,
                type: a.type,
                name: a.name,
                parent: a.opts.parent,
                protect: a.opts.protect === true,
                aliases: (a.opts.aliases ?? []) as Seen["aliases"],
            });
            return undefined;
        });
        return fn();
    });
    await allRegistered();
    return seen;
}

function value<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => o.apply(resolve));
}

/**
 * The URN as the engine writes it. The mock monitor derives a top-level resource's URN from the root
 * stack's, keeping `pulumi:pulumi:Stack$` in the type chain, which the engine leaves out.
 */
const engineUrn = (urn: string) => urn.replace("::pulumi:pulumi:Stack$", "::");

/** Runs the dev program (Pulumi.dev.yaml) under mocks with environment `env`; records what it registers. */
async function runDevProgram(keycloakUrl: string, env: NodeJS.ProcessEnv): Promise<Seen[]> {
    const stackFile = parse(fs.readFileSync(path.join(repoRoot, "Pulumi.dev.yaml"), "utf8")) as {
        config: Record<string, unknown>;
    };
    const config = Object.fromEntries(Object.entries(stackFile.config).map(([k, v]) => [k, String(v)]));
    const secrets = ["cytomine-fallback:keycloakAdminPassword", "cytomine-fallback:lsaaiClientSecret"];
    for (const s of secrets) config[s] = "mocked";
    config["cytomine-fallback:keycloakUrl"] = keycloakUrl;
    pulumi.runtime.setAllConfig(config, secrets);
    const main = cytomineProgram(env);
    return registeredBy(main, "dev");
}

describe("resource identity of the dev program (mocks)", () => {
    // The program reads the tenant's namespace and realm before declaring anything: a stand-in server
    // plays the API server and Keycloak (an admin token, then: neither exists), so nothing outside the
    // test is reached. The plugin preflight finds the plugins in a stand-in PULUMI_HOME. Both reach the
    // program through its `env`, as the fleet's inline programs get theirs; this process's own
    // KUBECONFIG and PULUMI_HOME point at nothing meanwhile, so a program reading them fails here.
    const saved = { KUBECONFIG: process.env.KUBECONFIG, PULUMI_HOME: process.env.PULUMI_HOME };
    const server = http.createServer((req, res) => {
        res.setHeader("content-type", "application/json");
        if (req.method === "POST" && req.url === "/iam/realms/master/protocol/openid-connect/token") {
            res.end(JSON.stringify({ access_token: "stand-in" }));
            return;
        }
        res.writeHead(404);
        res.end(JSON.stringify({ kind: "Status", code: 404 }));
    });
    let seen: Seen[] = [];

    before(async () => {
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const { port } = server.address() as { port: number };
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "urn-guard-"));
        const kubeconfig = path.join(dir, "kubeconfig");
        fs.writeFileSync(
            kubeconfig,
            JSON.stringify({
                apiVersion: "v1",
                kind: "Config",
                clusters: [
                    { name: "c", cluster: { server: `http://127.0.0.1:${port}`, "insecure-skip-tls-verify": true } },
                ],
                users: [{ name: "u", user: {} }],
                contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
                "current-context": "x",
            }),
        );
        for (const p of pluginsFor("kubernetes")) {
            const dirName = path.join(dir, "plugins", `resource-${p.plugin}-v${requiredPluginVersion(p.pkg)}`);
            fs.mkdirSync(dirName, { recursive: true });
            fs.writeFileSync(path.join(dirName, `pulumi-resource-${p.plugin}`), "");
        }
        process.env.KUBECONFIG = path.join(dir, "no-such-kubeconfig");
        process.env.PULUMI_HOME = path.join(dir, "no-such-home");
        seen = await runDevProgram(`http://127.0.0.1:${port}/iam`, {
            ...process.env,
            KUBECONFIG: kubeconfig,
            PULUMI_HOME: dir,
        });
    });

    after(() => {
        server.close();
        for (const [k, v] of Object.entries(saved)) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
        }
    });

    it("keeps the URNs of protected resources and components, or carries aliases to them", async () => {
        await assertIdentity(seen, RECORD);
    });

    it("declares no component the Kubernetes plugin built here leaves out", () => {
        assertNoLeftOutComponents(seen);
        const recorded = JSON.parse(fs.readFileSync(RECORD, "utf8")) as Identity;
        assert.ok(recorded.protected.some((u) => u.endsWith("keycloak:index/realm:Realm::cytomine-realm")));
        assert.ok(recorded.protected.some((u) => u.includes("PersistentVolumeClaim")));
    });
});

describe("resource identity of the components the dev program does not declare (mocks)", () => {
    // The VM host with datasets, the Kubernetes dataset volumes and import, the sdafs CSI driver, the
    // EC2 host: each built as the unit tests build it, its URNs recorded beside the dev program's.
    const RECORD_COMPONENTS = path.join(__dirname, "resource-identity-components.json");
    const lung: DeclaredDataset = {
        id: "lung",
        source: "path",
        path: "hostPath:/srv/bp/lung",
        index: 0,
        revision: "r1",
    };

    it("keeps their URNs, or carries aliases to them", async () => {
        const seen = await registeredBy(() => {
            new Cytomine(
                "lab-a",
                cytomineArgs({
                    datasets: {
                        list: [lung],
                        plan: planImport([lung], EMPTY_RECORD),
                        importImage: DEFAULT_IMPORT_IMAGE,
                        storageClass: "sdafs",
                    },
                    backups: {
                        settings: {
                            schedule: "30 2 * * *",
                            keepDaily: 7,
                            keepWeekly: 4,
                            repository: "s3:https://s3.example.org/backups",
                            s3AccessKeyId: "AKID",
                        },
                        release: "0165ef7",
                        s3SecretAccessKey: "s3-secret",
                    },
                    ml: { services: [...ML_SERVICES], weights: "ml-weights", tasks: ML_DEFAULTS.tasks },
                }),
            );
            new SdafsCsiDriver("sdafs-csi", { owner: "o/p/s", rootUrl: "https://download.bp.nbis.se" });
            new VmCytomine(
                "lab-b",
                hostArgs({
                    tenant: "lab-b",
                    datasets: {
                        list: [{ ...lung, path: "/srv/bp/lung" }],
                        sdafs: { version: "v0.0.23", rootUrl: "https://download.bp.nbis.se" },
                    },
                    ml: { services: ["sam", "cbir"], weights: "/srv/weights", tasks: ML_DEFAULTS.tasks },
                }),
            );
        });
        await assertIdentity(seen, RECORD_COMPONENTS);
        assertNoLeftOutComponents(seen);
    });
});
