import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { DEFAULT_IMAGES } from "../../components/model/settings";
import { DEFAULT_IMPORT_IMAGE, PYTHON_CLIENT_VERSION } from "../../components/model/datasets";
import { RELEASE_TAGS, releaseImages } from "../../components/model/release";
import { bridgeAddress, dockerdArgs, isolationRule } from "../../localenv/docker";
import { adminPassword } from "../../localenv/keycloak";
import { kwokctlConfig } from "../../localenv/kube";
import { EnvError, livePid, requireFreePort } from "../../localenv/proc";
import { s3Credentials, s3ProxyProperties } from "../../localenv/s3";
import { dockerNetwork, envSettings } from "../../localenv/settings";
import { AUTHORIZED_KEYS_ROOT, sshdConfig } from "../../localenv/ssh";
import {
    BASE_PYTHON,
    BASE_TAG,
    baseDigest,
    binariesFingerprint,
    digestOf,
    IMAGES_DIR,
    imageDigest,
    layerDigest,
    pythonDigest,
    standinSpecs,
    treeFingerprint,
} from "../../localenv/standins";
import { repoRoot } from "../../toolchain/index";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "env-test-"));

describe("local environment building blocks", () => {
    it("a port held by another program is reported with the port, the piece and the fix", async () => {
        const server = net.createServer().listen(0, "127.0.0.1");
        await new Promise((r) => server.once("listening", r));
        const port = (server.address() as net.AddressInfo).port;
        try {
            await assert.rejects(requireFreePort(port, "Keycloak", "CYTOMINE_ENV_KEYCLOAK_PORT"), (e: Error) => {
                assert.ok(e instanceof EnvError);
                assert.match(
                    e.message,
                    new RegExp(`port ${port} on 127\\.0\\.0\\.1, needed by Keycloak, is already in use`),
                );
                assert.match(e.message, /fix: .*CYTOMINE_ENV_KEYCLOAK_PORT=<port>/);
                return true;
            });
        } finally {
            server.close();
        }
    });

    it("a stale pid file (dead process, or a pid reused by another program) is removed", () => {
        const dir = tmp();
        const file = path.join(dir, "x.pid");
        const dead = spawnSync("true").pid;
        fs.writeFileSync(file, String(dead));
        assert.equal(livePid(file, "keycloak"), undefined);
        assert.equal(fs.existsSync(file), false);

        fs.writeFileSync(file, String(process.pid)); // alive, but it is node, not keycloak
        assert.equal(livePid(file, "keycloak"), undefined);
        fs.writeFileSync(file, String(process.pid));
        assert.equal(livePid(file, "node"), process.pid);
    });

    it("the Keycloak admin password is generated once, 0600, and read back", () => {
        const file = path.join(tmp(), "keycloak", "admin-password");
        const first = adminPassword(file);
        assert.ok(first.length >= 32);
        assert.equal(fs.statSync(file).mode & 0o777, 0o600);
        assert.equal(adminPassword(file), first);
    });

    it("every piece binds to loopback only", () => {
        const s = envSettings({ CYTOMINE_ENV_DIR: tmp() });
        const kwok = kwokctlConfig(s) as { options: Record<string, unknown> };
        assert.equal(kwok.options.bindAddress, "127.0.0.1");
        assert.equal(kwok.options.kubeAdmission, true);
        assert.match(sshdConfig(s), /^ListenAddress 127\.0\.0\.1$/m);
        assert.match(sshdConfig(s), /^PasswordAuthentication no$/m);
        const s3 = s3ProxyProperties(s, { accessKeyId: "K", secretAccessKey: "S" });
        assert.match(s3, /^s3proxy\.endpoint=http:\/\/127\.0\.0\.1:\d+$/m);
    });

    it("the controller manager and the scheduler run without leader election (they outlive an API server restart)", () => {
        const kwok = kwokctlConfig(envSettings({ CYTOMINE_ENV_DIR: tmp() })) as {
            componentsPatches: { name: string; extraArgs: { key: string; value: string }[] }[];
        };
        for (const name of ["kube-controller-manager", "kube-scheduler"]) {
            const patch = kwok.componentsPatches.find((p) => p.name === name);
            assert.ok(
                patch?.extraArgs.some((a) => a.key === "leader-elect" && a.value === "false"),
                name,
            );
        }
    });

    it("rejects a port setting that is not a port", () => {
        assert.throws(
            () => envSettings({ CYTOMINE_ENV_KUBE_PORT: "80" }),
            /CYTOMINE_ENV_KUBE_PORT=80 is not a port number/,
        );
        for (const bad of ["80", "s3", "18900.5", "70000"]) {
            assert.throws(
                () => envSettings({ CYTOMINE_ENV_S3_PORT: bad }),
                new RegExp(
                    `CYTOMINE_ENV_S3_PORT=${bad.replace(".", "\\.")} is not a port number between 1024 and 65535`,
                ),
            );
        }
        assert.equal(envSettings({}).s3.port, 18900);
        assert.equal(envSettings({ CYTOMINE_ENV_S3_PORT: "28900" }).s3.port, 28900);
    });

    it("the S3 server's access key is generated once, 0600, read back, and handed to S3Proxy in its properties", () => {
        const dir = tmp();
        const file = path.join(dir, "s3", "credentials.env");
        const key = s3Credentials(file);
        assert.match(key.accessKeyId, /^[0-9A-F]{20}$/);
        assert.ok(key.secretAccessKey.length >= 40);
        assert.equal(fs.statSync(file).mode & 0o777, 0o600);
        assert.deepEqual(s3Credentials(file), key);
        assert.equal(
            fs.readFileSync(file, "utf8"),
            `AWS_ACCESS_KEY_ID=${key.accessKeyId}\nAWS_SECRET_ACCESS_KEY=${key.secretAccessKey}\n`,
        );

        const props = s3ProxyProperties(envSettings({ CYTOMINE_ENV_DIR: dir, CYTOMINE_ENV_S3_PORT: "28900" }), key);
        assert.equal(
            props,
            [
                "s3proxy.endpoint=http://127.0.0.1:28900",
                "s3proxy.authorization=aws-v2-or-v4",
                `s3proxy.identity=${key.accessKeyId}`,
                `s3proxy.credential=${key.secretAccessKey}`,
                "jclouds.provider=filesystem",
                `jclouds.filesystem.basedir=${dir}/s3/data`,
                "",
            ].join("\n"),
        );

        fs.writeFileSync(file, "AWS_ACCESS_KEY_ID=X\n");
        assert.throws(() => s3Credentials(file), /lacks AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY\n\s+fix: delete /);
    });

    it("S3Proxy's properties escape a state folder as java.util.Properties reads a byte stream (ISO 8859-1)", () => {
        const s = envSettings({ CYTOMINE_ENV_DIR: "/srv/Zoë\\x/env" });
        const props = s3ProxyProperties(s, { accessKeyId: "K", secretAccessKey: "S" });
        assert.match(props, /^jclouds\.filesystem\.basedir=\/srv\/Zo\\u00eb\\\\x\/env\/s3\/data$/m);
    });

    it("env:up --only names the pieces it takes, before starting any", () => {
        // A state folder of its own: were anything started, it would show there.
        const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "env-only-"));
        try {
            for (const list of ["keycloak,nosuch", ""]) {
                const r = spawnSync(process.execPath, ["--import", "tsx", "cli/env.ts", "up", "--only", list], {
                    cwd: repoRoot,
                    env: { ...process.env, CYTOMINE_ENV_DIR: stateDir },
                    encoding: "utf8",
                });
                assert.equal(r.status, 1, r.stdout + r.stderr);
                assert.match(r.stderr, /--only takes pieces from keycloak, kube, ssh, docker, s3 \(got '.*'\)/);
                assert.match(r.stderr, /fix: e\.g\. env:up -- --only keycloak,kube/);
            }
            assert.deepEqual(fs.readdirSync(stateDir), [], "nothing was started");
        } finally {
            fs.rmSync(stateDir, { recursive: true, force: true });
        }
    });

    it("sshd reads the authorized keys from a root-owned folder outside the checkout, with StrictModes on", () => {
        const stateDir = path.join(tmp(), "clone", ".local", "env");
        const s = envSettings({ CYTOMINE_ENV_DIR: stateDir, CYTOMINE_ENV_SSH_PORT: "2345" });
        const config = sshdConfig(s);
        const file = /^AuthorizedKeysFile (.+)$/m.exec(config)?.[1];
        assert.equal(file, `${AUTHORIZED_KEYS_ROOT}/2345/authorized_keys`);
        assert.ok(!file.startsWith(stateDir));
        assert.doesNotMatch(config, /StrictModes no/);
    });
});

describe("local environment: docker engine", () => {
    const stateDir = "/srv/checkout/.local/env";
    const s = envSettings({ CYTOMINE_ENV_DIR: stateDir });

    it("dockerd keeps its data, exec root, pid file and socket under the state folder", () => {
        const args = dockerdArgs(s, false);
        const value = (flag: string) => args.find((a) => a.startsWith(`--${flag}=`))?.slice(flag.length + 3);
        assert.equal(value("data-root"), `${stateDir}/docker/data`);
        assert.equal(value("exec-root"), `${stateDir}/docker/exec`);
        assert.equal(value("pidfile"), `${stateDir}/docker/exec/docker.pid`);
        assert.equal(value("config-file"), `${stateDir}/docker/daemon.json`);
        assert.deepEqual(
            args.filter((a) => a.startsWith("--host=")),
            [`--host=unix://${stateDir}/docker/docker.sock`],
        );
    });

    it("dockerd serves /var/run/docker.sock only when asked to, and never a TCP socket", () => {
        const hosts = dockerdArgs(s, true).filter((a) => a.startsWith("--host="));
        assert.deepEqual(hosts, [`--host=unix://${stateDir}/docker/docker.sock`, "--host=unix:///var/run/docker.sock"]);
        assert.ok(hosts.every((h) => h.startsWith("--host=unix://")));
    });

    it("containers stay on this machine: loopback publishing, no forwarding or NAT, own bridge and pool", () => {
        const args = dockerdArgs(s, false);
        for (const flag of ["--ip=127.0.0.1", "--ip-forward=false", "--ip-masq=false", "--iptables=true"]) {
            assert.ok(args.includes(flag), flag);
        }
        assert.ok(args.includes(`--bridge=${s.docker.bridge}`));
        assert.ok(args.includes(`--default-address-pool=base=${s.docker.subnet},size=24`));
        assert.ok(!args.some((a) => a.startsWith("--bip")), "--bip cannot be combined with --bridge");
        assert.deepEqual(isolationRule("10.213.0.0/16"), [
            ...["DOCKER-USER", "-s", "10.213.0.0/16", "!", "-d", "10.213.0.0/16", "-j", "DROP"],
        ]);
        assert.equal(bridgeAddress("10.213.0.0/16"), "10.213.0.1/24");
    });

    it("the checkout's environment gets 10.213.0.0/16; other state folders get their own bridge and pool", () => {
        const own = dockerNetwork(path.join(repoRoot, ".local", "env"), path.join(repoRoot, ".local", "env"));
        assert.equal(own.subnet, "10.213.0.0/16");
        const seen = new Set<string>();
        for (let i = 0; i < 20; i++) {
            const n = dockerNetwork(`/tmp/bench-env-${i}`, path.join(repoRoot, ".local", "env"));
            assert.match(n.subnet, /^10\.(2[0-4]\d)\.0\.0\/16$/);
            assert.ok(Number(n.subnet.split(".")[1]) >= 200 && Number(n.subnet.split(".")[1]) < 250);
            assert.ok(n.bridge.length <= 15, `${n.bridge} is longer than IFNAMSIZ allows`);
            assert.deepEqual(dockerNetwork(`/tmp/bench-env-${i}`, "/x"), n, "deterministic");
            seen.add(n.bridge);
        }
        assert.equal(seen.size, 20);
        assert.equal(envSettings({ CYTOMINE_ENV_DOCKER_SUBNET: "10.99.0.0/16" }).docker.subnet, "10.99.0.0/16");
        assert.throws(
            () => envSettings({ CYTOMINE_ENV_DOCKER_SUBNET: "192.168.0.0/16" }),
            /CYTOMINE_ENV_DOCKER_SUBNET=192\.168\.0\.0\/16 is not a private \/16/,
        );
    });
});

describe("local environment: stand-in images", () => {
    const s = envSettings({ CYTOMINE_ENV_DIR: "/srv/x" });

    it("the stand-ins carry exactly the names of the images the program pins, for every release it describes", () => {
        const tags = standinSpecs(s).flatMap((x) => x.tags);
        const pinned = [
            ...Object.values(DEFAULT_IMAGES),
            ...RELEASE_TAGS.flatMap((t) => Object.values(releaseImages(t))),
            DEFAULT_IMPORT_IMAGE,
        ];
        assert.deepEqual([...tags].sort(), [...new Set(pinned)].sort());
        assert.equal(new Set(tags).size, tags.length, "no name is built twice");
    });

    it("the dataset import's image is the release's real Python client from PyPI, on the base's python3", () => {
        const spec = standinSpecs(s).find((x) => x.tags.includes(DEFAULT_IMPORT_IMAGE));
        assert.ok(spec, `no image is tagged ${DEFAULT_IMPORT_IMAGE}`);
        assert.equal(spec.pythonPackages?.[0], `cytomine-python-client==${PYTHON_CLIENT_VERSION}`);
        // Every requirement pinned to one version, so every machine builds the same image.
        for (const p of spec.pythonPackages ?? []) assert.match(p, /^[a-z][a-z0-9-]*==[0-9][\w.]*$/, p);
        // The Job's command is `python ...`.
        assert.ok(spec.packages.includes("python3") && spec.packages.includes("python-is-python3"));
        const dockerfile = fs.readFileSync(path.join(IMAGES_DIR, spec.dir, "Dockerfile"), "utf8");
        assert.match(
            dockerfile,
            new RegExp(`^ADD site-packages\\.tar /usr/local/lib/python${BASE_PYTHON}/dist-packages/$`, "m"),
        );
        assert.doesNotMatch(dockerfile, /^USER /m, "the Job sets the uid");
    });

    it("an image's digest follows its PyPI requirements (in any order), and stays put for images without any", () => {
        const inputs = { base: "b", layer: "l", context: [], tags: ["a"] };
        const client = pythonDigest(["cytomine-python-client==4.3.0"]);
        assert.equal(pythonDigest(["b==1", "a==2"]), pythonDigest(["a==2", "b==1"]));
        assert.notEqual(pythonDigest(["cytomine-python-client==4.3.1"]), client);
        assert.notEqual(pythonDigest(["cytomine-python-client==4.3.0", "numpy<2"]), client);
        const withClient = imageDigest({ ...inputs, python: client });
        assert.notEqual(withClient, imageDigest(inputs));
        assert.notEqual(
            imageDigest({ ...inputs, python: pythonDigest(["cytomine-python-client==4.3.1"]) }),
            withClient,
        );
        assert.equal(imageDigest({ ...inputs, python: undefined }), imageDigest(inputs));
        assert.equal(imageDigest(inputs), digestOf({ ...inputs, keycloak: null }), "older images' digests unchanged");
    });

    it("the task-image registry is the toolchain's registry program, and a rebuilt program rebuilds the image", () => {
        const spec = standinSpecs(s).find((x) => x.tags.includes(DEFAULT_IMAGES.registry));
        assert.ok(spec, `no image is tagged ${DEFAULT_IMAGES.registry}`);
        assert.deepEqual(spec.binaries, { from: s.docker.registryBinDir, files: ["registry"] });
        const dockerfile = fs.readFileSync(path.join(IMAGES_DIR, spec.dir, "Dockerfile"), "utf8");
        assert.match(dockerfile, /^COPY bin\/registry \/bin\/registry$/m);
        assert.match(dockerfile, /^CMD \["serve", "\/etc\/distribution\/config\.yml"\]$/m);
        assert.doesNotMatch(dockerfile, /^USER /m, "the stack sets the uid");

        const from = tmp();
        const binaries = { from, files: ["registry"] };
        const inputs = { base: "b", layer: "l", context: [], tags: ["registry:2.8.3"] };
        const missing = imageDigest({ ...inputs, binaries: binariesFingerprint(binaries) });
        assert.deepEqual(binariesFingerprint(binaries), ["registry missing"]);
        fs.writeFileSync(path.join(from, "registry"), "v1");
        const built = imageDigest({ ...inputs, binaries: binariesFingerprint(binaries) });
        assert.notEqual(built, missing);
        fs.writeFileSync(path.join(from, "registry"), "v2");
        assert.notEqual(imageDigest({ ...inputs, binaries: binariesFingerprint(binaries) }), built);
        assert.equal(imageDigest({ ...inputs, binaries: undefined }), imageDigest(inputs), "others' digests unchanged");
    });

    it("every image builds FROM the local Debian base and ADDs its package layer, or holds its binaries alone (no network in builds)", () => {
        for (const spec of standinSpecs(s)) {
            const dockerfile = fs.readFileSync(path.join(IMAGES_DIR, spec.dir, "Dockerfile"), "utf8");
            const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
            assert.doesNotMatch(dockerfile, /apt-get|curl|wget/, `${spec.dir} must not fetch anything`);
            if (spec.packages.length === 0) {
                // task-pods: a static program, FROM scratch, from the toolchain's build.
                assert.deepEqual(froms, ["scratch"], spec.dir);
                assert.ok(spec.binaries && spec.binaries.files.length > 0, spec.dir);
                for (const f of spec.binaries.files) assert.match(dockerfile, new RegExp(`^COPY bin/${f} `, "m"));
                continue;
            }
            assert.ok(froms.length >= 1 && froms.every((f) => f === BASE_TAG), `${spec.dir}: FROM ${froms.join(", ")}`);
            assert.match(dockerfile, /^ADD packages\.tar \/$/m, spec.dir);
        }
    });

    it("digests of named inputs do not depend on key order but on every value", () => {
        assert.equal(digestOf({ a: 1, b: { c: [1, 2], d: "x" } }), digestOf({ b: { d: "x", c: [1, 2] }, a: 1 }));
        assert.notEqual(digestOf({ a: 1, b: [1, 2] }), digestOf({ a: 1, b: [2, 1] }));
        assert.match(baseDigest(), /^[0-9a-f]{16}$/);
    });

    it("a package layer's digest follows the base, the packages (in any order) and the pre-install script", () => {
        const spec = { packages: ["postgresql-15", "libnss-wrapper"], preinstall: "useradd postgres" };
        const d = layerDigest("base1", spec);
        assert.equal(layerDigest("base1", { ...spec, packages: ["libnss-wrapper", "postgresql-15"] }), d);
        assert.notEqual(layerDigest("base2", spec), d);
        assert.notEqual(layerDigest("base1", { ...spec, packages: ["postgresql-15"] }), d);
        assert.notEqual(layerDigest("base1", { ...spec, preinstall: "useradd -u 999 postgres" }), d);
    });

    it("an image's digest changes with its build context: content, executable bit, new files", () => {
        const dir = tmp();
        fs.writeFileSync(path.join(dir, "Dockerfile"), "FROM x\n");
        fs.mkdirSync(path.join(dir, "sub"));
        fs.writeFileSync(path.join(dir, "sub", "entrypoint.sh"), 'exec "$@"\n');
        const digest = () =>
            imageDigest({ base: "b", layer: "l", context: treeFingerprint(dir), tags: ["postgres:15"] });
        const first = digest();
        assert.equal(digest(), first, "stable");
        fs.chmodSync(path.join(dir, "sub", "entrypoint.sh"), 0o755);
        const executable = digest();
        assert.notEqual(executable, first);
        fs.writeFileSync(path.join(dir, "sub", "entrypoint.sh"), 'exec "$@" # changed\n');
        assert.notEqual(digest(), executable);
        const changed = digest();
        fs.writeFileSync(path.join(dir, "extra.conf"), "");
        assert.notEqual(digest(), changed);
        assert.notEqual(
            imageDigest({ base: "b", layer: "l", context: [], tags: ["a"], keycloak: "26.4.7" }),
            imageDigest({ base: "b", layer: "l", context: [], tags: ["a"], keycloak: "26.4.8" }),
        );
        assert.deepEqual(
            treeFingerprint(dir).map((l) => l.split(" ").slice(0, 2).join(" ")),
            ["Dockerfile -", "extra.conf -", "sub/entrypoint.sh x"],
        );
    });
});
