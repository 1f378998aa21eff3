// Registry credentials (imageRegistry + the secret imageRegistryPassword): config checks, the
// Kubernetes image pull Secret and the pods naming it, the VM's docker login step. The password is a
// distinctive string, so that finding it anywhere but where it belongs fails the test.
import assert from "node:assert/strict";
import { hostArgs } from "../support/host-args";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_IMPORT_IMAGE, DeclaredDataset, EMPTY_RECORD, planImport } from "../../components/model/datasets";
import { Cytomine } from "../../components/kubernetes/cytomine";
import { dockerConfigJson, REGISTRY_SECRET_NAME } from "../../components/kubernetes/secrets";
import { Cytomine as VmCytomine, CytomineArgs } from "../../components/vm/cytomine";
import { composeUpScript, registryLoginScript } from "../../components/vm/scripts";
import { ConfigError, loadConfig, parseConfig, SecretKey } from "../../program/config";
import { requiredSecrets } from "../../program/config/identity";
import { cytomineArgs } from "../support/cytomine-args";
import { allRegistered, recordResources, valueOf } from "../support/mocks";

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const PASSWORD = "pw-Registry-9f3c2e";
const AUTH = Buffer.from(`robot$lab-a:${PASSWORD}`).toString("base64");
const registry = { server: "registry.cytomine.org", username: "robot$lab-a" };

/** A secret input reaches the mocks wrapped ({ <signature>: …, value }): the value, at any depth. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const isWrapped = (v: Any) => v !== null && typeof v === "object" && SECRET_SIG in v;
const plain = (v: Any): Any =>
    isWrapped(v)
        ? plain(v.value)
        : Array.isArray(v)
          ? v.map(plain)
          : v && typeof v === "object"
            ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
            : v;
const text = (v: unknown) => JSON.stringify(plain(v));

const valid = {
    tenant: "lab-a",
    publicUrl: "https://lab-a.example.org",
    keycloakUrl: "https://iam.example.org/iam",
    lsaaiClientId: "c",
};

function issues(raw: Record<string, unknown>, secrets?: readonly SecretKey[]): string[] {
    try {
        parseConfig({ ...valid, ...raw }, secrets);
    } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
        return e.issues;
    }
    assert.fail("expected the config to be rejected");
}

describe("registry credentials: config", () => {
    it("takes imageRegistry with its secret, and requires the secret exactly then", () => {
        const withSecret = [...requiredSecrets(valid), "imageRegistryPassword" as const];
        assert.deepEqual(parseConfig({ ...valid, imageRegistry: registry }, withSecret).imageRegistry, registry);
        assert.deepEqual(
            parseConfig({ ...valid, imageRegistry: { server: "mirror.example.org:5000", username: "u" } }, withSecret)
                .imageRegistry,
            { server: "mirror.example.org:5000", username: "u" },
        );
        assert.ok(requiredSecrets({ ...valid, imageRegistry: registry }).includes("imageRegistryPassword"));
        assert.ok(!requiredSecrets(valid).includes("imageRegistryPassword"));
        // Unset: not even an undefined key in the parsed config.
        assert.ok(!("imageRegistry" in parseConfig(valid)));
    });

    it("names the missing password, and a password without imageRegistry, with the fix", () => {
        assert.deepEqual(issues({ imageRegistry: registry }, requiredSecrets(valid)), [
            "cytomine-fallback:imageRegistryPassword is not set: it is a secret; set it with 'pulumi config set --secret cytomine-fallback:imageRegistryPassword'",
        ]);
        const [stray, ...rest] = issues({}, [...requiredSecrets(valid), "imageRegistryPassword"]);
        assert.deepEqual(rest, []);
        assert.match(
            stray,
            /^cytomine-fallback:imageRegistryPassword is set but imageRegistry is not: set imageRegistry/,
        );
        assert.match(stray, /pulumi config set --path imageRegistry\.server registry\.cytomine\.org/);
        assert.match(stray, /pulumi config rm cytomine-fallback:imageRegistryPassword/);
    });

    it("refuses a server with a scheme or a path, a bad port, an empty or malformed user, a password in plain config", () => {
        const bad = (r: Record<string, unknown>) => issues({ imageRegistry: { ...registry, ...r } })[0];
        assert.match(
            bad({ server: "https://registry.cytomine.org" }),
            /^cytomine-fallback:imageRegistry\.server = "https:\/\/registry\.cytomine\.org": no scheme: .*e\.g\. registry\.cytomine\.org$/,
        );
        assert.match(
            bad({ server: "registry.cytomine.org/cytomine" }),
            /^cytomine-fallback:imageRegistry\.server = "registry\.cytomine\.org\/cytomine": a host\[:port\] without path, e\.g\. registry\.cytomine\.org /,
        );
        assert.match(bad({ server: "mirror.example.org:99999" }), /imageRegistry\.server .*optional port \(1-65535\)/);
        assert.match(bad({ server: "" }), /imageRegistry\.server = "": a registry host/);
        assert.match(
            bad({ username: "" }),
            /^cytomine-fallback:imageRegistry\.username = "": the user name the registry issued/,
        );
        assert.match(bad({ username: "a:b" }), /imageRegistry\.username = "a:b": no spaces or ':'/);
        assert.match(
            issues({ imageRegistry: { server: "registry.cytomine.org" } })[0],
            /^cytomine-fallback:imageRegistry\.username is not set/,
        );
        assert.match(
            bad({ password: PASSWORD }),
            /^cytomine-fallback:imageRegistry = .*unknown key\(s\) password; .*the secret imageRegistryPassword: pulumi config set --secret/,
        );
    });

    it("reads the secret from the stack's config as a secret Output", async () => {
        const values: Record<string, string> = {
            ...valid,
            keycloakAdminPassword: "k",
            lsaaiClientSecret: "s",
            imageRegistry: JSON.stringify(registry),
            imageRegistryPassword: PASSWORD,
        };
        const config = {
            get: (k: string) => values[k],
            getSecret: (k: string) => (k in values ? pulumi.secret(values[k]) : undefined),
            requireSecret: (k: string) => pulumi.secret(values[k]),
        } as unknown as pulumi.Config;
        const loaded = loadConfig(config);
        assert.deepEqual(loaded.config.imageRegistry, registry);
        assert.ok(loaded.secrets.imageRegistryPassword);
        assert.equal(await pulumi.isSecret(loaded.secrets.imageRegistryPassword), true);
        assert.equal(await valueOf(loaded.secrets.imageRegistryPassword), PASSWORD);
        delete values.imageRegistry;
        assert.throws(() => loadConfig(config), /imageRegistryPassword is set but imageRegistry is not/);
    });
});

const lung: DeclaredDataset = { id: "lung", source: "path", path: "hostPath:/srv/bp/lung", index: 0, revision: "r1" };
const datasets = {
    list: [lung],
    plan: planImport([lung], EMPTY_RECORD),
    importImage: DEFAULT_IMPORT_IMAGE,
    storageClass: "sdafs",
};

/** The pod specs of every workload recorded, by resource name. */
function podSpecs(recorded: { type: string; name: string; inputs: Any }[]): [string, Any][] {
    return recorded
        .filter((r) => /:(apps\/v1:(Deployment|StatefulSet)|batch\/v1:Job)$/.test(r.type))
        .map((r) => [r.name, plain(r.inputs).spec.template.spec]);
}

describe("registry credentials: Kubernetes (mocks)", () => {
    it("declares one dockerconfigjson Secret, a child of the component, and every pod names it", async () => {
        const recorded = recordResources();
        const parents: Record<string, pulumi.Resource | undefined> = {};
        const c = new Cytomine(
            "lab-a",
            cytomineArgs({ datasets, registry: { ...registry, password: pulumi.secret(PASSWORD) } }),
            { transformations: [(a) => void (parents[a.name] = a.opts.parent)] },
        );
        await allRegistered();
        const pulls = recorded.filter(
            (r) => r.type === "kubernetes:core/v1:Secret" && plain(r.inputs).metadata.name === REGISTRY_SECRET_NAME,
        );
        assert.equal(pulls.length, 1);
        const [pull] = pulls;
        assert.equal(pull.name, "lab-a-registry");
        assert.equal(parents["lab-a-registry"], c, "a child of the Cytomine component");
        assert.equal(pull.inputs.type, "kubernetes.io/dockerconfigjson");
        assert.equal(plain(pull.inputs).metadata.namespace, "lab-a");
        // The data is a secret: the mocks see it wrapped.
        assert.ok(isWrapped(pull.inputs.stringData) || isWrapped(pull.inputs.stringData[".dockerconfigjson"]));
        assert.deepEqual(JSON.parse(plain(pull.inputs).stringData[".dockerconfigjson"]), {
            auths: { "registry.cytomine.org": { username: "robot$lab-a", password: PASSWORD, auth: AUTH } },
        });

        const pods = podSpecs(recorded);
        assert.ok(
            pods.some(([n]) => n === "lab-a-datasets-import-job"),
            pods.map(([n]) => n).join(),
        );
        assert.ok(pods.length >= 9, `${pods.length} pod templates`);
        for (const [name, pod] of pods) assert.deepEqual(pod.imagePullSecrets, [{ name: REGISTRY_SECRET_NAME }], name);

        // The password is in that Secret only: no other input, no output.
        for (const r of recorded.filter((r) => r !== pull)) {
            assert.ok(!text(r.inputs).includes(PASSWORD), `${r.name} holds the password`);
            assert.ok(!text(r.inputs).includes(AUTH), `${r.name} holds the auth`);
        }
        const outputs = JSON.stringify([await valueOf(c.secret), await valueOf(c.adminCredentials)]);
        assert.ok(!outputs.includes(PASSWORD));
        assert.deepEqual((await valueOf(c.secret)).pullSecret?.server, "registry.cytomine.org");
    });

    it("builds the dockerconfigjson as a secret Output (one trailing newline is not part of the password)", async () => {
        const json = dockerConfigJson({ ...registry, password: `${PASSWORD}\n` });
        assert.equal(await pulumi.isSecret(json), true);
        assert.equal(JSON.parse(await valueOf(json)).auths["registry.cytomine.org"].auth, AUTH);
    });

    it("in render mode declares no Secret, the pods still name it, and the output says to provide it", async () => {
        const recorded = recordResources();
        const c = new Cytomine(
            "lab-a",
            cytomineArgs({ render: true, registry: { ...registry, password: pulumi.secret(PASSWORD) } }),
        );
        await allRegistered();
        assert.equal(recorded.filter((r) => r.type === "kubernetes:core/v1:Secret").length, 0);
        const pods = podSpecs(recorded);
        assert.ok(pods.length >= 8);
        for (const [name, pod] of pods) assert.deepEqual(pod.imagePullSecrets, [{ name: REGISTRY_SECRET_NAME }], name);
        assert.ok(!text(recorded.map((r) => r.inputs)).includes(PASSWORD));
        const secret = await valueOf(c.secret);
        assert.deepEqual(secret.pullSecret, {
            name: "cytomine-registry",
            type: "kubernetes.io/dockerconfigjson",
            key: ".dockerconfigjson",
            server: "registry.cytomine.org",
        });
        assert.ok(!JSON.stringify(secret).includes(PASSWORD));
    });

    it("without imageRegistry: no pull Secret, no imagePullSecrets, nothing said about one", async () => {
        const recorded = recordResources();
        const c = new Cytomine("lab-a", cytomineArgs({ datasets }));
        await allRegistered();
        assert.ok(
            !recorded.some(
                (r) => r.type === "kubernetes:core/v1:Secret" && plain(r.inputs).metadata.name === REGISTRY_SECRET_NAME,
            ),
        );
        const pods = podSpecs(recorded);
        assert.ok(pods.length >= 9);
        for (const [name, pod] of pods) assert.equal(pod.imagePullSecrets, undefined, name);
        assert.ok(!("pullSecret" in (await valueOf(c.secret))));
    });
});

/** Builds a host under mocks, recording each step's inputs and the names of what it depends on. */
async function host(over: Partial<CytomineArgs> = {}) {
    const recorded = recordResources();
    const dependsOn: Record<string, string[]> = {};
    const h = new VmCytomine("lab-a", hostArgs(over), {
        transformations: [
            (a) => void (dependsOn[a.name] = ([a.opts.dependsOn ?? []].flat() as Any[]).map((r) => r.__name as string)),
        ],
    });
    await valueOf(h.adminCredentials);
    await allRegistered();
    const commands = recorded.filter((r) => r.type === "command:remote:Command");
    return { h, recorded, commands, dependsOn };
}

describe("registry credentials: VM (mocks and scripts)", () => {
    it("logs in before compose up, the password on the step's stdin only", async () => {
        // Given plain: the step still holds it as a secret.
        const { h, recorded, commands, dependsOn } = await host({ registry: { ...registry, password: PASSWORD } });
        const login = commands.find((c) => c.name === "lab-a-registry-login");
        assert.ok(login, commands.map((c) => c.name).join());
        const script = String(login.inputs.create);
        assert.match(
            script,
            /sudo -n env DOCKER_CONFIG='\/opt\/cytomine-fallback\/lab-a\/docker' docker login 'registry\.cytomine\.org' --username 'robot\$lab-a' --password-stdin/,
        );
        assert.match(script, /^set -euo pipefail/);
        assert.ok(isWrapped(login.inputs.stdin), "stdin is a secret");
        assert.equal(plain(login.inputs.stdin), PASSWORD);
        assert.match(String(login.inputs.delete), /rm -rf -- '\/opt\/cytomine-fallback\/lab-a\/docker'/);
        assert.ok(dependsOn["lab-a-compose"].includes("lab-a-registry-login"), dependsOn["lab-a-compose"].join());
        assert.ok(dependsOn["lab-a-registry-login"].includes("lab-a-config"));
        const compose = commands.find((c) => c.name === "lab-a-compose")!;
        assert.match(
            String(compose.inputs.create),
            /env DOCKER_CONFIG='\/opt\/cytomine-fallback\/lab-a\/docker' docker compose/,
        );

        // Nowhere else: no script, no other stdin (the env files), no input of another resource, no output.
        for (const c of commands) {
            for (const field of ["create", "delete", "update"])
                assert.ok(!String(c.inputs[field] ?? "").includes(PASSWORD), `${c.name}.${field}`);
            if (c !== login) assert.ok(!text(c.inputs).includes(PASSWORD), `${c.name}'s inputs`);
        }
        for (const r of recorded.filter((r) => r !== login)) assert.ok(!text(r.inputs).includes(PASSWORD), r.name);
        const outputs = JSON.stringify([await valueOf(h.adminCredentials), await valueOf(h.host), h.configDir]);
        assert.ok(!outputs.includes(PASSWORD));
    });

    it("a changed password, user or server changes the step's inputs (so the login runs again)", async () => {
        const loginOf = async (r: typeof registry, password: string) => {
            const { commands } = await host({ registry: { ...r, password: pulumi.secret(password) } });
            const login = commands.find((c) => c.name === "lab-a-registry-login")!;
            return { create: String(login.inputs.create), stdin: plain(login.inputs.stdin) };
        };
        const base = await loginOf(registry, PASSWORD);
        const other = await loginOf(registry, "another-password");
        assert.equal(other.create, base.create);
        assert.notEqual(other.stdin, base.stdin);
        assert.notEqual((await loginOf({ ...registry, username: "robot$other" }, PASSWORD)).create, base.create);
        assert.notEqual(
            (await loginOf({ ...registry, server: "mirror.example.org:5000" }, PASSWORD)).create,
            base.create,
        );
    });

    it("without imageRegistry: no login step, compose up as before", async () => {
        const { commands, dependsOn } = await host();
        assert.ok(commands.some((c) => c.name === "lab-a-compose"));
        assert.ok(!commands.some((c) => /registry|login/.test(c.name)), commands.map((c) => c.name).join());
        const compose = commands.find((c) => c.name === "lab-a-compose")!;
        assert.doesNotMatch(String(compose.inputs.create), /DOCKER_CONFIG|docker login/);
        assert.ok(!dependsOn["lab-a-compose"].some((n) => /registry/.test(n)));
        // The compose script is exactly the one without the option.
        const o = { dir: "/d", project: "p", digest: "x", waitFor: ["http://127.0.0.1/"], timeoutSeconds: 60 };
        assert.equal(composeUpScript({ ...o, dockerConfig: undefined }, "sudo -n "), composeUpScript(o, "sudo -n "));
        assert.notEqual(
            composeUpScript({ ...o, dockerConfig: "/d/docker" }, "sudo -n "),
            composeUpScript(o, "sudo -n "),
        );
    });

    /** Runs the login script against a stand-in `docker` (and `install`, which needs no root then). */
    function runLogin(dockerExit: number) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "registry-login-"));
        const bin = path.join(dir, "bin");
        fs.mkdirSync(bin);
        const stub = (name: string, body: string) =>
            fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
        stub("install", `printf '%s\\n' "$*" >> ${dir}/install.args`);
        stub(
            "docker",
            `printf '%s\\n' "$*" > ${dir}/docker.args; printf '%s\\n' "$DOCKER_CONFIG" > ${dir}/docker.config; cat > ${dir}/docker.stdin; ` +
                (dockerExit === 0
                    ? `echo "Login Succeeded"`
                    : `echo "Error response from daemon: Get https://registry.cytomine.org/v2/: unauthorized" >&2; exit ${dockerExit}`),
        );
        const script = registryLoginScript(
            { server: "registry.cytomine.org", username: "robot$lab-a", dockerConfig: `${dir}/docker-config` },
            "",
        );
        const r = spawnSync("/bin/bash", ["-c", script], {
            input: PASSWORD,
            encoding: "utf8",
            env: { PATH: `${bin}:/usr/bin:/bin` },
        });
        const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
        return { r, read };
    }

    it("runs docker login with the password on stdin only, and again without harm", () => {
        for (let i = 0; i < 2; i++) {
            const { r, read } = runLogin(0);
            assert.equal(r.status, 0, r.stderr);
            assert.equal(read("docker.stdin"), PASSWORD);
            assert.equal(read("docker.args"), "login registry.cytomine.org --username robot$lab-a --password-stdin\n");
            assert.ok(!read("docker.args").includes(PASSWORD));
            assert.match(read("docker.config"), /docker-config\n$/);
            assert.match(read("install.args"), /-m 0700 .*docker-config/);
            assert.match(r.stdout, /Login Succeeded/);
            assert.ok(!`${r.stdout}${r.stderr}`.includes(PASSWORD));
        }
    });

    it("a refused login fails naming imageRegistry and imageRegistryPassword and the fix", () => {
        const { r } = runLogin(1);
        assert.equal(r.status, 3);
        assert.match(r.stderr, /unauthorized/, "docker's own message is kept");
        assert.match(
            r.stderr,
            /cytomine-fallback: docker login to registry\.cytomine\.org as robot\$lab-a failed .*imageRegistry\.username .*imageRegistryPassword \(pulumi config set --secret cytomine-fallback:imageRegistryPassword\).*imageRegistry\.server.*run pulumi up again/,
        );
        assert.ok(!r.stderr.includes(PASSWORD));
    });

    it("the script itself parses (bash -n)", () => {
        const s = registryLoginScript(
            { server: "r.example.org:5000", username: "u", dockerConfig: "/x/docker" },
            "sudo -n ",
        );
        execFileSync("bash", ["-n", "-c", s]);
    });
});
