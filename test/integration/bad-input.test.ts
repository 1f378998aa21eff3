// Issue "prove it" (#16), bad input: what a new operator might type, through the real engine on one
// stack of the Kubernetes target that was `up`-ed once. Each bad value stops `pulumi preview` with a
// message naming the key (or the dataset field and the path in the tree), and afterwards the state
// file's bytes, the realm and the namespace's objects are exactly as they were. Tenant templates are
// refused by `npm run tenant -- new` before any stack exists. The unit tests (config*.test.ts,
// datasets-config.test.ts, fleet-create.test.ts) hold the same checks without the engine.
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { createEphemeralStack, disposeEphemeralStack, EphemeralStack, setStackConfig } from "../support/automation";
import { keycloakAdmin, kubeApi } from "../support/clients";
import { BREAKAGES, type Breakage, writeBrokenTree } from "../support/dataset-fixtures";
import { Environment, useEnvironment } from "../../localenv";
import { type ConfigValue, freePort, projectConfig, sshTargetConfig } from "../support/project-config";
import { recorded } from "../support/reliability";
import { projectStack } from "../support/project-stack";
import { repoRoot } from "../../toolchain/index";

const KEY = "cytomine-fallback:";

/** A bad value for a key and what the refusal must say besides the key. */
interface Case {
    key: string;
    /** A plain value, or an object/list set path by path as an operator would. */
    value: string | object;
    expect: RegExp;
    /** What the refusal names instead of `cytomine-fallback:<key>`: another key (a cross-field rule), or the CLI's wording. */
    names?: string;
}

const configCases: Case[] = [
    { key: "tenant", value: "Lab_A", expect: /lowercase letters/ },
    { key: "publicUrl", value: "https://cytomine.example.org:99999", expect: /ports go up to 65535/ },
    { key: "publicUrl", value: "cytomine.example.org", expect: /absolute URL/ },
    { key: "publicUrl", value: "http://127.0.0.1:8080/cytomine", expect: /site root/ },
    { key: "target", value: "gcp", expect: /kubernetes/ },
    { key: "keycloakMode", value: "inside", expect: /external/ },
    { key: "keycloakUrl", value: "keycloak.example.org/iam", expect: /absolute URL/ },
    { key: "namespace", value: "Has_Upper", expect: /DNS label|lowercase/ },
    { key: "images", value: { core: "cytomine/core:latest" }, expect: /images\.core.*latest/ },
    { key: "images", value: { core: "cytomine/core" }, expect: /images\.core.*tag/ },
    { key: "images", value: { nosuch: "x/y:1" }, expect: /nosuch/ },
    { key: "storage", value: { postgis: "lots" }, expect: /quantity/ },
    { key: "routing", value: "nodeport", expect: /ingress/ },
    { key: "routing", value: "httproute", expect: /required with routing httproute/, names: `${KEY}gateway` },
    { key: "routerNamespace", value: "-bad-", expect: /DNS label|lowercase/ },
    { key: "realm", value: "r".repeat(37), expect: /at most 36 characters/ },
    { key: "realm", value: "has space", expect: /letters, digits/ },
    { key: "orthancRealm", value: "a/b", expect: /letters, digits/ },
    { key: "lsaaiAlias", value: "bad alias", expect: /part of a URL/ },
    { key: "lsaaiEndpoints", value: { issuer: "https://login.example.org" }, expect: /tokenUrl|authorizationUrl/ },
    { key: "lsaaiRestrict", value: "true", expect: /nobody is allowed/ },
    // Pulumi.yaml declares booleans: the CLI refuses these before the program runs, naming the key.
    {
        key: "lsaaiRestrict",
        value: "maybe",
        expect: /must be of type 'boolean'/,
        names: "configuration key 'lsaaiRestrict'",
    },
    {
        key: "allowVolumeDeletion",
        value: "yes",
        expect: /must be of type 'boolean'/,
        names: "configuration key 'allowVolumeDeletion'",
    },
    { key: "secretsRevision", value: "-1", expect: /whole number/ },
    { key: "secretsRevision", value: "one", expect: /whole number/ },
    { key: "gateway", value: "no-slash", expect: /<namespace>\/<name>/ },
    { key: "vm", value: { host: "127.0.0.1", port: 70000 }, expect: /vm\.port|65535/ },
    { key: "datasets", value: { list: [{ id: "Bad_Id", source: "path", path: "hostPath:/srv" }] }, expect: /\.id/ },
    {
        key: "datasets",
        value: {
            list: [
                { id: "a", source: "path", path: "hostPath:/srv/a" },
                { id: "a", source: "path", path: "hostPath:/srv/b" },
            ],
        },
        expect: /also the id of datasets\.list\[0\]/,
    },
    { key: "datasets", value: { list: [{ id: "a", source: "path" }] }, expect: /datasets\.list\[0\]/ },
    {
        key: "datasets",
        value: { list: [{ id: "a", source: "sdafs", sdafs: { datasets: ["X"] } }] },
        expect: /sdafsCredentials/,
    },
    {
        key: "datasets",
        value: { list: [{ id: "a", source: "path", path: "hostPath:srv/a" }] },
        expect: /absolute|hostPath:\//,
    },
];

/** What breaks in each broken tree (test/support/dataset-fixtures) and the problem code the refusal names. */
const TREE_CODES: Record<Breakage, string> = {
    "missing-root": "does not exist",
    "empty-root": "[ROOT_EMPTY]",
    "wrong-folder-names": "[DATASET_FOLDER_NAME]",
    "missing-images": "[IMAGES_MISSING]",
    "image-without-dicom": "[IMAGE_NO_DICOM]",
    "non-dicom-dcm": "[DICOM_INVALID]",
    "not-wsi": "[DICOM_NOT_WSI]",
    "mixed-series": "[DICOM_MIXED_SERIES]",
    "bad-xml": "[XML_INVALID]",
    "image-ref-without-folder": "[IMAGE_REF_WITHOUT_FOLDER]",
    "folder-without-image-ref": "[IMAGE_FOLDER_UNREFERENCED]",
    "bad-geojson": "[GEOJSON_INVALID]",
};

/** Generated malformed values (fast-check, fixed seed so a failure can be replayed). */
const SEED = 1627;
const generated: Case[] = [
    {
        key: "tenant",
        value: fc.sample(
            fc.string({ minLength: 1, maxLength: 20 }).map((s) => `X${s}`),
            { seed: SEED, numRuns: 1 },
        )[0],
        expect: /cytomine-fallback:tenant/,
    },
    {
        key: "realm",
        value: fc.sample(fc.stringMatching(/^[a-z]{3,10}[ /#?][a-z]{0,5}$/), { seed: SEED, numRuns: 1 })[0],
        expect: /letters, digits/,
    },
    {
        key: "images",
        value: {
            core: fc.sample(fc.stringMatching(/^[a-z]{2,8}\/[a-z]{2,8}$/), { seed: SEED, numRuns: 1 })[0],
        },
        expect: /images\.core/,
    },
    {
        key: "publicUrl",
        value: `https://${fc.sample(fc.stringMatching(/^[a-z]{3,10}$/), { seed: SEED, numRuns: 1 })[0]}.example.org:${fc.sample(fc.integer({ min: 65536, max: 999999 }), { seed: SEED, numRuns: 1 })[0]}`,
        expect: /ports go up to 65535/,
    },
];

const mapValues = <T, U>(o: Record<string, T>, f: (v: T) => U): Record<string, U> =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));

/** VALUE with every leaf a string, as `pulumi config set --path` stores each (pathEntries). */
function stringLeaves(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(stringLeaves);
    if (value !== null && typeof value === "object") return mapValues(value as Record<string, unknown>, stringLeaves);
    return String(value);
}

const caseName = (c: Case) =>
    `${c.key} = ${typeof c.value === "string" ? JSON.stringify(c.value) : JSON.stringify(c.value)}`;

/** Every file of the stack's state under the backend (checkpoint, backups), with its digest. */
function stateDigests(e: EphemeralStack): Record<string, string> {
    const dir = path.join(e.backendDir, ".pulumi", "stacks");
    return Object.fromEntries(
        fs
            .readdirSync(dir, { recursive: true, encoding: "utf8" })
            .filter((f) => fs.statSync(path.join(dir, f)).isFile())
            .sort()
            .map((f) => [
                f,
                crypto
                    .createHash("sha256")
                    .update(fs.readFileSync(path.join(dir, f), "latin1"), "latin1")
                    .digest("hex"),
            ]),
    );
}

describe("bad input stops the preview naming the key; state and live objects unchanged", { timeout: 1_200_000 }, () => {
    let env: Environment;
    let e: EphemeralStack;
    let tenant: string;
    let kc: Awaited<ReturnType<typeof keycloakAdmin>>;
    let kube: Awaited<ReturnType<typeof kubeApi>>;
    let trees: string;
    let stateBefore: Record<string, string>;
    let liveBefore: unknown;

    /** The realm as Keycloak represents it, and every object of the namespace with its version. */
    async function live() {
        const realm = await kc.realms.findOne({ realm: tenant });
        const clients = await kc.clients.find({ realm: tenant });
        const idps = await kc.identityProviders.find({ realm: tenant });
        const users = await kc.users.find({ realm: tenant });
        const namespace = tenant;
        const lists = {
            Deployment: await kube.apps.listNamespacedDeployment({ namespace }),
            StatefulSet: await kube.apps.listNamespacedStatefulSet({ namespace }),
            Service: await kube.core.listNamespacedService({ namespace }),
            Secret: await kube.core.listNamespacedSecret({ namespace }),
            ConfigMap: await kube.core.listNamespacedConfigMap({ namespace }),
            PersistentVolumeClaim: await kube.core.listNamespacedPersistentVolumeClaim({ namespace }),
            ServiceAccount: await kube.core.listNamespacedServiceAccount({ namespace }),
            NetworkPolicy: await kube.networking.listNamespacedNetworkPolicy({ namespace }),
            Ingress: await kube.networking.listNamespacedIngress({ namespace }),
        };
        // Workloads' and claims' status moves on its own (KWOK reports pods, the provisioner binds):
        // their generation is what a run would change; every other object's version.
        const byGeneration = ["Deployment", "StatefulSet"];
        const objects = Object.entries(lists).flatMap(([kind, l]) =>
            (
                l.items as {
                    metadata?: { name?: string; uid?: string; generation?: number; resourceVersion?: string };
                }[]
            ).map(
                ({ metadata: m }) =>
                    `${kind}/${m?.name} ${m?.uid} ${byGeneration.includes(kind) ? `gen ${m?.generation}` : m?.resourceVersion}`,
            ),
        );
        return { realm, clients, idps, users, objects: objects.sort() };
    }

    /**
     * A preview with VALUES in place of the stack's own: a copy of its settings file with them (objects
     * with string leaves, as `pulumi config set --path` stores them), passed as --config-file. The
     * stack's own file is never touched, and each case costs one CLI run instead of four.
     */
    async function previewWith(values: Record<string, string | object>) {
        const settings = parseYaml(fs.readFileSync(stackFile(), "utf8")) as { config?: Record<string, unknown> };
        settings.config = { ...settings.config, ...mapValues(values, stringLeaves) };
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bad-config-"));
        const configFile = path.join(dir, "Pulumi.bad.yaml");
        fs.writeFileSync(configFile, stringifyYaml(settings));
        try {
            return await e.stack.preview({ color: "never", configFile });
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    }
    const stackFile = () => path.join(e.stack.workspace.workDir, `Pulumi.${e.stack.name}.yaml`);

    /** The preview fails, naming the key and what is wrong. */
    const refused = (c: Case) =>
        assert.rejects(previewWith({ [`${KEY}${c.key}`]: c.value }), (err: Error) => {
            const named = c.names ?? `${KEY}${c.key}`;
            assert.ok(err.message.includes(named), `${named} not named:\n${err.message}`);
            assert.match(err.message, c.expect);
            return true;
        });

    before(async () => {
        env = await useEnvironment();
        kc = await keycloakAdmin(env.keycloak);
        kube = await kubeApi(env.kube.kubeconfig);
        const project = projectConfig(env, "bad", { "cytomine-fallback:orthanc": "false" });
        tenant = project.id;
        e = await projectStack(env, project.config);
        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
        trees = fs.mkdtempSync(path.join(os.tmpdir(), "bad-trees-"));
        for (const b of BREAKAGES) await writeBrokenTree(path.join(trees, b), b);
        stateBefore = stateDigests(e);
        liveBefore = await live();
    });
    after(async () => {
        if (e) await disposeEphemeralStack(e);
        if (trees) fs.rmSync(trees, { recursive: true, force: true });
    });

    describe("config keys", () => {
        for (const c of configCases)
            it(
                caseName(c),
                recorded("bad input: config", () => refused(c)),
            );
    });

    describe(`generated malformed values (fast-check, seed ${SEED})`, () => {
        for (const c of generated)
            it(
                caseName(c),
                recorded("bad input: config (generated)", () => refused(c)),
            );
    });

    describe("dataset folders (a hostPath source the preview validates)", () => {
        for (const b of BREAKAGES)
            it(
                `a tree with ${b}`,
                recorded("bad input: dataset folder", () =>
                    assert.rejects(
                        previewWith({
                            [`${KEY}datasets`]: {
                                list: [{ id: "lung", source: "path", path: `hostPath:${path.join(trees, b)}` }],
                            },
                        }),
                        (err: Error) => {
                            assert.match(err.message, /datasets\.list\[0\]\.path = "hostPath:/);
                            assert.ok(
                                err.message.includes(TREE_CODES[b]),
                                `${TREE_CODES[b]} not named:\n${err.message}`,
                            );
                            return true;
                        },
                    ),
                ),
            );
    });

    it(
        "afterwards the state file's bytes, the realm and the namespace's objects are unchanged, and a preview plans nothing",
        recorded("bad input: untouched", async () => {
            assert.deepEqual(stateDigests(e), stateBefore);
            assert.deepEqual(await live(), liveBefore);
            const preview = await e.stack.preview({ color: "never" });
            assert.equal(preview.changeSummary.create ?? 0, 0, preview.stdout);
            assert.equal(preview.changeSummary.update ?? 0, 0, preview.stdout);
        }),
    );

    // After the check above: these change the state on purpose (the realms' protect flag).
    it(
        "replacing the protected realm (a new realm name) stops the preview naming the resource, unless allowRealmReplacement",
        recorded("protection", async () => {
            const allow = `${KEY}allowRealmReplacement`;
            await e.stack.setConfig(allow, { value: "false" });
            try {
                await e.stack.up({ color: "never" });
                const renamed = { [`${KEY}realm`]: `${tenant}-renamed` };
                await assert.rejects(previewWith(renamed), (err: Error) => {
                    assert.match(err.message, /protect/);
                    assert.match(err.message, /cytomine-realm/);
                    return true;
                });
                const allowed = await previewWith({ ...renamed, [allow]: "true" });
                assert.ok((allowed.changeSummary.replace ?? 0) >= 1, allowed.stdout);
                assert.match(allowed.stdout, /cytomine-realm/);
                assert.ok(await kc.realms.findOne({ realm: tenant }), "the realm survived");
            } finally {
                await e.stack.setConfig(allow, { value: "true" });
                await e.stack.up({ color: "never" });
            }
        }),
    );
});

describe(
    "tenant templates: `npm run tenant -- new` refuses bad input before any stack exists",
    { timeout: 300_000 },
    () => {
        let dir: string;
        before(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "bad-fleet-"));
        });
        after(() => fs.rmSync(dir, { recursive: true, force: true }));

        const cases: { args: string[]; expect: RegExp }[] = [
            { args: ["lab-a", "--template", "k8s"], expect: /unknown template "k8s"/ },
            { args: ["Lab_A", "--template", "kubernetes"], expect: /Lab_A/ },
            {
                args: ["lab-a", "--template", "kubernetes", "--set", "publicURL=https://x.example.org"],
                expect: /did you mean publicUrl/,
            },
            {
                args: ["lab-a", "--template", "kubernetes", "--set", "lsaaiClientSecret=x"],
                expect: /lsaaiClientSecret is a secret/,
            },
            {
                args: ["lab-a", "--template", "kubernetes", "--set", "publicUrl=https://cytomine.example.org:99999"],
                expect: /publicUrl.*65535/,
            },
            {
                args: ["lab-a", "--template", "kubernetes", "--set", "images.core=cytomine/core:latest"],
                expect: /images\.core/,
            },
            {
                args: ["lab-a", "--template", "kubernetes", "--programs", "in-process"],
                expect: /--programs in-process: use one of inline, process/,
            },
        ];
        for (const c of cases)
            it(
                `new ${c.args.join(" ")}`,
                recorded("bad input: tenant template", async () => {
                    const secret = path.join(dir, "lsaai-secret");
                    fs.writeFileSync(secret, "s3cret", { mode: 0o600 });
                    const listed = () => fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
                    const beforeFiles = listed();
                    const run = promisify(execFile)(
                        process.execPath,
                        [
                            "--import",
                            "tsx",
                            path.join(repoRoot, "cli/tenant.ts"),
                            "new",
                            ...c.args,
                            "--set",
                            "lsaaiClientId=client-a",
                            "--lsaai-client-secret-file",
                            secret,
                            "--fleet-dir",
                            dir,
                        ],
                        { cwd: repoRoot },
                    );
                    await assert.rejects(run, (err: Error & { code?: number; stderr?: string; stdout?: string }) => {
                        assert.equal(err.code, 1, `${err.stdout}${err.stderr}`);
                        assert.match(`${err.stdout}${err.stderr}`, c.expect);
                        return true;
                    });
                    assert.deepEqual(listed(), beforeFiles, "the fleet directory changed");
                }),
            );
    },
);

describe(
    "target ssh: a host the stack cannot use stops the preview naming the key, before any command runs",
    { timeout: 600_000 },
    () => {
        let env: Environment;
        let e: EphemeralStack;
        let vm: Record<string, unknown>;
        let base: Record<string, ConfigValue>;
        let keys: string;
        const configDir = `/opt/cytomine-fallback-bad-${process.pid}`;

        before(async () => {
            env = await useEnvironment();
            const target = sshTargetConfig(env, "badvm", {
                httpPort: await freePort(),
                configDir,
                dataDir: `/var/lib/cytomine-fallback-bad-${process.pid}`,
            });
            base = target.config;
            vm = JSON.parse(target.config[`${KEY}vm`] as string) as Record<string, unknown>;
            e = await createEphemeralStack({ workDir: repoRoot, config: target.config });
            // A key pair the host has never seen, as a private key and as a pinned host key.
            keys = fs.mkdtempSync(path.join(os.tmpdir(), "bad-ssh-"));
            execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(keys, "other")]);
        });
        after(async () => {
            if (e) await disposeEphemeralStack(e);
            if (keys) fs.rmSync(keys, { recursive: true, force: true });
        });

        const other = (suffix = "") => fs.readFileSync(path.join(keys, `other${suffix}`), "utf8").trim();
        const cases: { name: string; set: () => Promise<Record<string, ConfigValue>>; expect: RegExp }[] = [
            {
                name: "a port nothing listens on",
                set: async () => ({ [`${KEY}vm`]: JSON.stringify({ ...vm, port: await freePort() }) }),
                expect: /nothing accepts SSH connections at 127\.0\.0\.1:\d+ \(ECONNREFUSED\): check cytomine-fallback:vm\.host and cytomine-fallback:vm\.port/,
            },
            {
                name: "a private key the host does not accept",
                set: async () => ({ [`${KEY}vmPrivateKey`]: { value: `${other()}\n`, secret: true } }),
                expect: /cytomine-fallback:vmPrivateKey is refused by cytomine-test@127\.0\.0\.1:\d+ \(key SHA256:/,
            },
            {
                name: "something that is not a private key",
                set: async () => ({ [`${KEY}vmPrivateKey`]: { value: "-----BEGIN NOTHING-----", secret: true } }),
                expect: /cytomine-fallback:vmPrivateKey is not a private key SSH can use/,
            },
            {
                name: "a pinned host key that is not the host's",
                set: async () => ({
                    [`${KEY}vm`]: JSON.stringify({ ...vm, hostKey: other(".pub").split(" ").slice(0, 2).join(" ") }),
                }),
                expect: /cytomine-fallback:vm\.hostKey does not match: 127\.0\.0\.1:\d+ presented the key SHA256:/,
            },
            {
                name: "a user without sudo",
                set: async () => ({ [`${KEY}vm`]: JSON.stringify({ ...vm, user: env.ssh.userWithoutSudo }) }),
                expect: /cytomine-fallback:vm\.sudo: user cytomine-test-nosudo on 127\.0\.0\.1 cannot run sudo without a password/,
            },
        ];
        for (const c of cases)
            it(
                c.name,
                recorded("bad input: SSH host", async () => {
                    const values = await c.set();
                    await setStackConfig(e.stack, values);
                    try {
                        await assert.rejects(e.stack.preview({ color: "never" }), (err: Error) => {
                            assert.match(err.message, c.expect);
                            return true;
                        });
                    } finally {
                        await setStackConfig(e.stack, Object.fromEntries(Object.keys(values).map((k) => [k, base[k]])));
                    }
                    // Nothing ran on the host and the stack holds no resource.
                    assert.equal(fs.existsSync(configDir), false, `${configDir} exists`);
                    const state = await e.stack.exportStack();
                    assert.equal(state.deployment.resources?.length ?? 0, 0, "the stack has resources");
                }),
            );
    },
);
