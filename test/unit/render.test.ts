// `npm run render` (cli/render.ts, apps/render/): both templates rendered offline into temporary
// folders, checked file by file; bad input exits 2 naming the flag or key and writes nothing. Only
// core, web-ui and pims are named here: the other services are derived from what was rendered.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { repoRoot } from "../../toolchain/index";
import { PLACEHOLDER, type Rendered, renderTenant, writeRender } from "../../apps/render";
import { renderFindings } from "../../apps/render/contract";

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const VM_SET = [
    "lsaaiClientId=6c0d0c59-8f2e-4c1b-9d3e-2f6a8b1e7c40",
    "vm.host={tenant}.hosts.example.org",
    "vm.hostKey=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm1bV0y3Cq3tFq9l3pQ7bUOq5lT3vJx3oYw2QbHn1Xc",
];
const K8S_SET = ["lsaaiClientId=6c0d0c59-8f2e-4c1b-9d3e-2f6a8b1e7c40"];
const TENANT = "lab-r";
const NAMED = ["core", "web-ui", "pims"];

const isPlaceholder = (v: unknown) => typeof v === "string" && new RegExp(`^${PLACEHOLDER.source}$`).test(v);

/** Reads every file of a folder, by path relative to it. */
function readTree(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            if (e.isDirectory()) walk(p);
            else out[path.relative(dir, p)] = fs.readFileSync(p, "utf8");
        }
    };
    walk(dir);
    return out;
}

/** Strings that look like a generated secret: mixed-case alphanumeric runs, UUIDs, 32 hex digits. */
function secretLooking(text: string, given: readonly string[]): string[] {
    const found = [
        ...(text.match(/\b(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{20,}\b/g) ?? []),
        ...(text.match(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi) ?? []),
        ...(text.match(/\b[0-9a-f]{32}\b/g) ?? []),
    ];
    // What the operator gave on the command line (an LS Login client id, a host's public key) is not generated.
    return found.filter((s) => !given.some((g) => g.includes(s)));
}

/** KEY=VALUE lines; a value in single quotes (env/backup.env, which bash sources) unquoted. */
function envFileOf(text: string): Map<string, string> {
    const unquote = (v: string) => (/^'.*'$/.test(v) ? v.slice(1, -1).replace(/'\\''/g, "'") : v);
    return new Map(
        text
            .split("\n")
            .filter(Boolean)
            .map((l) => [l.slice(0, l.indexOf("=")), unquote(l.slice(l.indexOf("=") + 1))]),
    );
}

function runCli(args: string[]) {
    return spawnSync(process.execPath, ["--import", "tsx", path.join(repoRoot, "cli/render.ts"), ...args], {
        cwd: repoRoot,
        encoding: "utf8",
        timeout: 120_000,
    });
}

describe("npm run render", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "render-test-"));
    const k8sDir = path.join(tmp, "kubernetes-render");
    const vmDir = path.join(tmp, "vm-render");
    let k8s: Rendered;
    let vm: Rendered;
    let k8sFiles: Record<string, string>;
    let vmFiles: Record<string, string>;
    const k8sYaml = (file: string) => parse(k8sFiles[file]) as Any;
    /** The rendered Kubernetes objects of a kind. */
    const objects = (kind: string) =>
        Object.entries(k8sFiles)
            .filter(([f]) => f.startsWith(`kubernetes/${kind.toLowerCase()}-`))
            .map(([f]) => k8sYaml(f));

    before(async () => {
        // A stale render in the folder is replaced, not merged.
        fs.mkdirSync(path.join(k8sDir, "kubernetes"), { recursive: true });
        fs.writeFileSync(path.join(k8sDir, "kubernetes", "stale.yaml"), "kind: Stale\n");
        k8s = await renderTenant({ template: "kubernetes", set: K8S_SET, tenant: TENANT });
        writeRender(k8sDir, k8s.files);
        vm = await renderTenant({ template: "vm", set: VM_SET, tenant: TENANT });
        writeRender(vmDir, vm.files);
        k8sFiles = readTree(k8sDir);
        vmFiles = readTree(vmDir);
    });

    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it("writes the files of each target, and only the render's", () => {
        for (const f of [
            "README.md",
            "keycloak/cytomine.json",
            `kubernetes/namespace-${TENANT}.yaml`,
            `kubernetes/secret-${TENANT}-cytomine-secrets.yaml`,
            ...NAMED.map((s) => `kubernetes/deployment-${TENANT}-${s}.yaml`),
        ])
            assert.ok(k8sFiles[f] !== undefined, `kubernetes render: ${f}`);
        assert.equal(k8sFiles["kubernetes/stale.yaml"], undefined, "the previous render's files are gone");
        assert.ok(!Object.keys(k8sFiles).some((f) => f.startsWith("vm/")));
        for (const f of [
            "README.md",
            "keycloak/cytomine.json",
            "vm/compose.yaml",
            "vm/nginx.conf",
            ...NAMED.map((s) => `vm/env/${s}.env`),
        ])
            assert.ok(vmFiles[f] !== undefined, `vm render: ${f}`);
        assert.ok(!Object.keys(vmFiles).some((f) => f.startsWith("kubernetes/")));
        assert.deepEqual(Object.keys(k8sFiles).sort(), Object.keys(k8s.files).sort());
        assert.match(k8sFiles["README.md"], /template: `kubernetes`/);
        assert.match(vmFiles["README.md"], /--set: .*`vm\.host=\{tenant\}\.hosts\.example\.org`/);
        assert.match(vmFiles["README.md"], /program commit: ([0-9a-f]{40}|unknown)/);
    });

    it("judges every item of the release's contract on the rendered files, for both targets", () => {
        for (const files of [k8sFiles, vmFiles]) {
            const report = files["release-contract.md"];
            assert.match(report, /\*\*Every item holds\.\*\*/);
            assert.match(
                report,
                /\| core \| env REPOSITORY_URL \| required: .*\| core\/src\/main\/resources\/application\.yml:130/,
            );
            assert.match(report, /\| pims \| route \/ims\/upload \|/);
        }
        // The judgement reads the files: one removed variable breaks the item it names.
        const broken = {
            ...vmFiles,
            "vm/env/pims.env": vmFiles["vm/env/pims.env"].replace(/^LOG_CONFIG_FILE=.*\n/m, ""),
        };
        assert.deepEqual(
            renderFindings(broken).map((f) => `${f.component}: ${f.item}`),
            ["pims: env LOG_CONFIG_FILE"],
        );
    });

    it("declares core's Deployment with its environment, the same names as core's env file on a VM", () => {
        const core = k8sYaml(`kubernetes/deployment-${TENANT}-core.yaml`);
        assert.equal(core.apiVersion, "apps/v1");
        assert.equal(core.kind, "Deployment");
        assert.equal(core.metadata.name, "core");
        assert.equal(core.metadata.namespace, TENANT);
        const env: { name: string }[] = core.spec.template.spec.containers.flatMap((c: Any) => c.env ?? []);
        assert.ok(env.length > 0, "core has environment variables");
        assert.deepEqual(
            env.map((e) => e.name),
            [...envFileOf(vmFiles["vm/env/core.env"]).keys()],
        );
    });

    it("gives every secret a placeholder, the same one on both targets, and nothing that looks like a secret", () => {
        const [secret] = objects("Secret").filter((s) => s.metadata.name === "cytomine-secrets");
        assert.ok(secret, "the tenant's Secret is declared");
        for (const [key, value] of Object.entries({ ...secret.stringData, ...secret.data }))
            assert.ok(isPlaceholder(value), `Secret key ${key} = ${String(value)}`);
        // Every secret a workload reads has its placeholder in the Secret, and in that service's env file.
        const workloads = [...objects("Deployment"), ...objects("StatefulSet")];
        let refs = 0;
        for (const w of workloads) {
            const envFile = envFileOf(vmFiles[`vm/env/${w.metadata.name}.env`] ?? "");
            for (const e of w.spec.template.spec.containers.flatMap((c: Any) => c.env ?? [])) {
                const ref = e.valueFrom?.secretKeyRef;
                if (!ref) continue;
                refs++;
                assert.equal(ref.name, "cytomine-secrets");
                const value = secret.stringData?.[ref.key];
                assert.ok(isPlaceholder(value), `${w.metadata.name} ${e.name}: Secret key ${ref.key} = ${value}`);
                assert.equal(envFile.get(e.name), value, `vm/env/${w.metadata.name}.env ${e.name}`);
            }
        }
        assert.ok(refs > 0, "workloads read secrets");
        // Env files: every variable named like a secret holds a placeholder.
        for (const [file, text] of Object.entries(vmFiles).filter(([f]) => f.startsWith("vm/env/")))
            for (const [name, value] of envFileOf(text))
                if (/PASS|SECRET|PRIVATE|_KEY$|TOKEN/.test(name))
                    assert.ok(isPlaceholder(value), `${file} ${name}=${value}`);
        // Keycloak: the LS Login client secret from config, generated passwords and client secrets.
        const realm = JSON.parse(vmFiles["keycloak/cytomine.json"]) as Any;
        assert.equal(realm.identityProviders[0].config.clientSecret, "<secret:lsaaiClientSecret>");
        for (const rendered of [k8sFiles, vmFiles])
            for (const [file, text] of Object.entries(rendered).filter(([f]) => f.startsWith("keycloak/"))) {
                const rep = JSON.parse(text) as Any;
                for (const u of rep.users ?? [])
                    for (const c of u.credentials ?? []) assert.ok(isPlaceholder(c.value), `${file} ${u.username}`);
                // A confidential client's secret is the stack's (generated): its placeholder must be there.
                for (const c of rep.clients ?? [])
                    if (c.secret !== undefined || c.publicClient === false)
                        assert.ok(isPlaceholder(c.secret), `${file} ${c.clientId} secret = ${c.secret}`);
            }
        for (const [name, rendered, given] of [
            ["kubernetes", k8sFiles, K8S_SET],
            ["vm", vmFiles, VM_SET],
        ] as const)
            for (const [file, text] of Object.entries(rendered))
                assert.deepEqual(secretLooking(text, given), [], `${name} render, ${file}`);
    });

    it("writes a compose file with the services of the Kubernetes workloads", () => {
        const compose = parse(vmFiles["vm/compose.yaml"]) as Any;
        const composed = Object.keys(compose.services)
            .filter((s) => s !== "proxy")
            .sort();
        const workloads = [...objects("Deployment"), ...objects("StatefulSet")].map((w) => w.metadata.name).sort();
        assert.deepEqual(composed, workloads);
        for (const s of NAMED) assert.ok(composed.includes(s), s);
        for (const s of NAMED) assert.deepEqual(compose.services[s].env_file, [`env/${s}.env`]);
        // nginx.conf routes to services of the compose file.
        const upstreams = [...vmFiles["vm/nginx.conf"].matchAll(/set \$upstream http:\/\/([a-z-]+):/g)].map(
            (m) => m[1],
        );
        assert.ok(upstreams.includes("core") && upstreams.includes("web-ui"));
        for (const u of upstreams) assert.ok(composed.includes(u), `nginx.conf routes to ${u}`);
    });

    it("writes the cytomine realm with its core client", () => {
        for (const rendered of [k8sFiles, vmFiles]) {
            const realm = JSON.parse(rendered["keycloak/cytomine.json"]) as Any;
            assert.equal(realm.realm, "cytomine");
            assert.equal(realm.enabled, true);
            const core = realm.clients.find((c: Any) => c.clientId === "core");
            assert.ok(core, "the core client");
            assert.equal(core.publicClient, true);
            assert.deepEqual(core.redirectUris, [`https://${TENANT}.cytomine.example.org/*`]);
            assert.deepEqual(
                realm.roles.client.core.map((r: Any) => r.name),
                ["ADMIN", "GUEST", "USER"],
            );
            assert.equal(realm.identityProviders[0].alias, "oidc");
            assert.equal(realm["x-pulumi-unmapped"], undefined, "every Keycloak input is mapped");
        }
    });

    for (const [what, args, named] of [
        [
            "a malformed --set",
            ["--template", "kubernetes", "--set", "lsaaiClientId"],
            /--set "lsaaiClientId": write key=value/,
        ],
        ["an unknown template", ["--template", "nope"], /--template: unknown template "nope"/],
        [
            "a value the program's schema refuses",
            ["--template", "kubernetes", "--set", "lsaaiClientId=x", "--set", "publicUrl=not a url"],
            /cytomine-fallback:publicUrl = "not a url".*fix: --set publicUrl=/,
        ],
    ] as const)
        it(`exits 2 on ${what}, naming it, and writes nothing`, () => {
            const out = path.join(tmp, `bad-${what.replace(/\W+/g, "-")}`);
            const run = runCli([...args, "--out", out]);
            assert.equal(run.status, 2, run.stderr);
            assert.match(run.stderr, named);
            assert.equal(fs.existsSync(out), false);
        });
});
