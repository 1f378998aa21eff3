// Issue "local environment": the environment starts from nothing, the kube-apiserver runs workloads
// on KWOK nodes under Pod Security Admission, the SSH test host runs commands with sudo (also from a
// checkout the test user cannot enter), the docker engine serves the stand-in images to `sudo docker`
// and docker-compose on the SSH test host and each stand-in answers on its port, the S3 server takes
// restic's backup and checks request signatures, and a killed Keycloak or KWOK controller is reported
// clearly and recovered by the next start. (The project's program on it: kubernetes.test.ts.)
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { DEFAULT_IMAGES } from "../../components/model/settings";
import { CONTRACTS, RELEASE_TAGS, releaseImages } from "../../components/model/release";
import {
    Environment,
    ensurePieces,
    environmentStatus,
    useEnvironment,
    dockerDown,
    dockerFiles,
    componentPidFile,
    isolationRule,
    envSettings,
    sshDown,
    SshInfo,
    sshUp,
} from "../../localenv";
import { DEFAULT_IMPORT_IMAGE } from "../../components/model/datasets";
import { keycloakAdmin, kubeApi } from "../support/clients";
import { commandLine, processAlive } from "../../toolchain/processes";
import { freePort } from "../support/project-config";
import { repoRoot } from "../../toolchain/index";
import { ownPieces } from "../support/own-pieces";

/** A command on the SSH test host as its user; stdout. */
function overSsh(ssh: SshInfo, command: string, timeout = 120_000): string {
    return execFileSync(
        "ssh",
        [
            ...["-i", ssh.privateKeyPath, "-p", String(ssh.port)],
            ...["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes"],
            `${ssh.user}@${ssh.host}`,
            command,
        ],
        { timeout, stdio: ["ignore", "pipe", "pipe"] },
    ).toString();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An error that ends a wait at once (a container that exited will not start answering). */
class Fatal extends Error {}

/**
 * Polls CHECK once a second until it returns a value, for at most SECONDS; the last error otherwise,
 * with what EXPLAIN finds out (so that a failure on another machine says which layer failed).
 */
async function eventually<T>(
    seconds: number,
    check: () => Promise<T | undefined>,
    what: string,
    explain: () => Promise<string> = async () => "",
): Promise<T> {
    let last: unknown;
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
        try {
            const v = await check();
            if (v !== undefined) return v;
        } catch (e) {
            if (e instanceof Fatal) throw e;
            last = e;
        }
        await sleep(1000);
    }
    throw new Error(`${what} within ${seconds} s${last ? `: ${String(last)}` : ""}${await explain()}`);
}

/**
 * One exchange over TCP through a published port: sends REQUEST and resolves with the answer's first
 * line(s); with no REQUEST, resolves once the connection has stayed open for a second. docker-proxy
 * accepts every connection and closes it at once when nothing listens in the container, so a
 * close before that is a failure.
 */
function tcpExchange(port: number, request: string | undefined): Promise<string> {
    return new Promise<string>((resolve, reject) => {
        const socket = net.connect({ host: "127.0.0.1", port });
        let settled = false;
        let held: NodeJS.Timeout | undefined;
        const done = (f: () => void) => {
            if (settled) return;
            settled = true;
            clearTimeout(held);
            socket.destroy();
            f();
        };
        let data = "";
        socket.setTimeout(3000);
        socket.on("connect", () => {
            if (request === undefined) held = setTimeout(() => done(() => resolve("connected")), 1000);
            else socket.write(request);
        });
        socket.on("data", (d) => {
            data += d.toString();
            if (data.endsWith("\r\n")) done(() => resolve(data));
        });
        socket.on("timeout", () => done(() => reject(new Error(`no answer on port ${port}`))));
        socket.on("error", (e) => done(() => reject(e)));
        socket.on("close", () => done(() => reject(new Error(`port ${port} closed the connection`))));
    });
}

describe("local environment", { timeout: 900_000 }, () => {
    let env: Environment;
    const docker = (...args: string[]) =>
        execFileSync("docker", args, {
            env: { ...process.env, DOCKER_HOST: env.docker.host },
            timeout: 120_000,
            stdio: ["ignore", "pipe", "pipe"],
        }).toString();

    before(async () => {
        env = await useEnvironment();
    });

    it("Keycloak answers the Admin API with the generated bootstrap admin", async () => {
        const kc = await keycloakAdmin(env.keycloak);
        const realms = await kc.realms.find();
        assert.ok(realms.some((r) => r.realm === "master"));
        const passwordFile = `${envSettings().stateDir}/keycloak/admin-password`;
        assert.equal(fs.statSync(passwordFile).mode & 0o777, 0o600);
    });

    it("the Kubernetes API has ready KWOK nodes and enforces Pod Security Admission", async () => {
        const { core } = await kubeApi(env.kube.kubeconfig);
        const nodes = await core.listNode();
        assert.ok(nodes.items.length >= 1);
        assert.ok(
            nodes.items.every((n) => n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")),
        );

        const ns = `psa-check-${Date.now()}`;
        await core.createNamespace({
            body: { metadata: { name: ns, labels: { "pod-security.kubernetes.io/enforce": "restricted" } } },
        });
        try {
            await assert.rejects(
                core.createNamespacedPod({
                    namespace: ns,
                    body: {
                        metadata: { name: "privileged" },
                        spec: {
                            containers: [{ name: "c", image: "busybox:1.36", securityContext: { privileged: true } }],
                        },
                    },
                }),
                (e: { code?: number; body?: string }) =>
                    e.code === 403 &&
                    /violates PodSecurity "restricted:latest": privileged/.test(JSON.parse(e.body ?? "{}").message),
            );
        } finally {
            await core.deleteNamespace({ name: ns });
        }
    });

    it("a StatefulSet with a volume claim and a Deployment become Ready and a Job completes on the KWOK nodes", async () => {
        const { core, apps, batch } = await kubeApi(env.kube.kubeconfig);
        const ns = `workloads-${Date.now()}`;
        const labels = { app: "w" };
        // Restricted Pod Security, as the tenant namespaces enforce it.
        const pod = {
            metadata: { labels },
            spec: {
                securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
                containers: [
                    {
                        name: "c",
                        image: "busybox:1.36",
                        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                        volumeMounts: [] as { name: string; mountPath: string }[],
                    },
                ],
            },
        };
        await core.createNamespace({
            body: { metadata: { name: ns, labels: { "pod-security.kubernetes.io/enforce": "restricted" } } },
        });
        try {
            await apps.createNamespacedStatefulSet({
                namespace: ns,
                body: {
                    metadata: { name: "db" },
                    spec: {
                        serviceName: "db",
                        selector: { matchLabels: labels },
                        template: {
                            ...pod,
                            spec: {
                                ...pod.spec,
                                containers: [
                                    { ...pod.spec.containers[0], volumeMounts: [{ name: "data", mountPath: "/data" }] },
                                ],
                            },
                        },
                        volumeClaimTemplates: [
                            {
                                metadata: { name: "data" },
                                spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
                            },
                        ],
                    },
                },
            });
            await apps.createNamespacedDeployment({
                namespace: ns,
                body: { metadata: { name: "web" }, spec: { selector: { matchLabels: labels }, template: pod } },
            });
            await batch.createNamespacedJob({
                namespace: ns,
                body: {
                    metadata: { name: "once" },
                    spec: { template: { ...pod, spec: { ...pod.spec, restartPolicy: "Never" } } },
                },
            });

            let state = "";
            for (let i = 0; i < 120; i++) {
                const [sts, dep, job, pvc] = await Promise.all([
                    apps.readNamespacedStatefulSet({ name: "db", namespace: ns }),
                    apps.readNamespacedDeployment({ name: "web", namespace: ns }),
                    batch.readNamespacedJob({ name: "once", namespace: ns }),
                    core
                        .readNamespacedPersistentVolumeClaim({ name: "data-db-0", namespace: ns })
                        .catch(() => undefined),
                ]);
                state = JSON.stringify({
                    sts: sts.status?.readyReplicas ?? 0,
                    dep: dep.status?.readyReplicas ?? 0,
                    job: job.status?.succeeded ?? 0,
                    pvc: pvc?.status?.phase ?? "none",
                });
                if (state === JSON.stringify({ sts: 1, dep: 1, job: 1, pvc: "Bound" })) break;
                await new Promise((r) => setTimeout(r, 1000));
            }
            assert.equal(state, JSON.stringify({ sts: 1, dep: 1, job: 1, pvc: "Bound" }));
        } finally {
            await core.deleteNamespace({ name: ns });
        }
    });

    it("the SSH test host runs a command as the test user, with sudo", () => {
        const out = overSsh(env.ssh, "id -un && sudo -n id -u");
        assert.deepEqual(out.trim().split("\n"), [env.ssh.user, "0"]);
    });

    it("the SSH test host works from a checkout its user cannot enter (a clone in a 0700 folder)", async () => {
        const outer = fs.mkdtempSync(path.join(os.tmpdir(), "env-clone-"));
        assert.equal(fs.statSync(outer).mode & 0o777, 0o700);
        const clone = path.join(outer, "repo");
        execFileSync("git", ["clone", "--quiet", repoRoot, clone], { timeout: 120_000 });
        const s = envSettings({
            CYTOMINE_ENV_DIR: path.join(clone, ".local", "env"),
            CYTOMINE_ENV_SSH_PORT: String(await freePort()),
        });
        try {
            const ssh = await sshUp(s);
            assert.ok(ssh.privateKeyPath.startsWith(clone));
            // The test user really cannot read the clone: the case that used to fail with
            // "Permission denied (publickey)".
            assert.throws(() =>
                execFileSync("sudo", ["-n", "-u", ssh.user, "ls", clone], { stdio: ["ignore", "pipe", "pipe"] }),
            );
            const out = overSsh(ssh, "id -un && sudo -n id -u");
            assert.deepEqual(out.trim().split("\n"), [ssh.user, "0"]);
        } finally {
            await sshDown(s);
            fs.rmSync(outer, { recursive: true, force: true });
        }
    });

    it("the docker engine is ready with every stand-in image, under the environment's own data root", async () => {
        const status = await environmentStatus();
        assert.equal(status.docker.ready, true, status.docker.detail);
        // The images the program's services name, and the dataset import Job's (the real python client).
        assert.deepEqual(
            [...env.docker.images].sort(),
            [
                ...new Set([
                    ...Object.values(DEFAULT_IMAGES),
                    ...RELEASE_TAGS.flatMap((t) => Object.values(releaseImages(t))),
                    DEFAULT_IMPORT_IMAGE,
                ]),
            ].sort(),
        );
        const info = JSON.parse(docker("info", "--format", "{{json .}}")) as Record<string, unknown>;
        assert.equal(info.DockerRootDir, dockerFiles(envSettings()).data);
        assert.match(String(info.ServerVersion), /^20\.10\./);
        assert.equal(env.docker.host, `unix://${dockerFiles(envSettings()).socket}`);
    });

    it("`sudo docker` and docker-compose on the SSH test host reach the environment's daemon and its images", () => {
        assert.equal(env.docker.defaultSocket, true, "another daemon owns /var/run/docker.sock");
        const root = overSsh(env.ssh, "sudo -n docker info --format '{{.DockerRootDir}}'").trim();
        assert.equal(root, dockerFiles(envSettings()).data);
        const out = overSsh(
            env.ssh,
            `sudo -n docker run --rm --network none ${DEFAULT_IMAGES.core} python3 -c 'print("stand-in core")'`,
        );
        assert.equal(out.trim(), "stand-in core");

        // A compose project as the program's remote scripts run it: service names resolve on the
        // project's network, and redis takes compose's options-only `command`.
        const project = `envcheck${crypto.randomBytes(3).toString("hex")}`;
        const compose = [
            "services:",
            // The mongo stand-in: a plain TCP server with python3 (the release stand-ins refuse to start without their env).
            "  core:",
            "    image: mongo:5.0-focal",
            "  redis:",
            "    image: redis:7.2",
            "    command: --port 6380",
        ].join("\n");
        const dir = `/tmp/${project}`;
        overSsh(env.ssh, `mkdir ${dir} && printf '%s\\n' '${compose}' > ${dir}/docker-compose.yml`);
        try {
            overSsh(env.ssh, `cd ${dir} && sudo -n docker-compose -p ${project} up -d`);
            const probe = [
                "import socket, time",
                "for _ in range(30):",
                "    try:",
                "        s = socket.create_connection(('redis', 6380), 2); s.sendall(b'PING\\r\\n')",
                "        print(s.recv(64).decode().strip()); break",
                "    except OSError: time.sleep(1)",
            ].join("\n");
            const pong = overSsh(
                env.ssh,
                `cd ${dir} && sudo -n docker-compose -p ${project} exec -T core python3 -c "${probe}"`,
            );
            assert.equal(pong.trim(), "+PONG");
        } finally {
            overSsh(env.ssh, `cd ${dir} && sudo -n docker-compose -p ${project} down -v; rm -rf ${dir}`);
        }
    });

    it("the S3 server keeps restic's encrypted backup as files and refuses requests signed with a wrong secret key", () => {
        const bucket = `envcheck-${crypto.randomBytes(4).toString("hex")}`;
        const bucketDir = path.join(env.s3.dataDir, bucket);
        const source = fs.mkdtempSync(path.join(os.tmpdir(), "s3-source-"));
        const canary = `plaintext canary ${crypto.randomBytes(16).toString("hex")}`;
        fs.writeFileSync(path.join(source, "canary.txt"), canary);
        const password = crypto.randomBytes(12).toString("hex");
        /** restic on the repository at s3:<endpoint>/BUCKETNAME/x, signing with SECRETACCESSKEY. */
        const restic = (bucketName: string, secretAccessKey: string, ...args: string[]) =>
            // --no-cache: nothing of the check is left in ~/.cache/restic.
            spawnSync("restic", ["--no-cache", "-r", `s3:${env.s3.endpoint}/${bucketName}/x`, ...args], {
                env: {
                    ...process.env,
                    AWS_ACCESS_KEY_ID: env.s3.accessKeyId,
                    AWS_SECRET_ACCESS_KEY: secretAccessKey,
                    RESTIC_PASSWORD: password,
                },
                encoding: "utf8",
                timeout: 120_000,
            });
        /** GET / (ListBuckets) signed with SigV4 by curl; the key goes on stdin, never on a command line. */
        const listBuckets = (secretAccessKey: string) =>
            execFileSync("curl", ["-sS", "-K", "-", "--aws-sigv4", "aws:amz:us-east-1:s3", `${env.s3.endpoint}/`], {
                input: [
                    `user = "${env.s3.accessKeyId}:${secretAccessKey}"`,
                    // S3Proxy requires the payload's digest header (here: of the empty body) with SigV4.
                    `header = "x-amz-content-sha256: ${crypto.createHash("sha256").update("").digest("hex")}"`,
                ].join("\n"),
                timeout: 30_000,
            }).toString();
        try {
            for (const args of [["init"], ["backup", source]]) {
                const r = restic(bucket, env.s3.secretAccessKey, ...args);
                assert.equal(r.status, 0, `restic ${args[0]}: ${r.stderr}`);
            }
            const listed = restic(bucket, env.s3.secretAccessKey, "snapshots", "--json");
            assert.equal(listed.status, 0, listed.stderr);
            assert.deepEqual(
                (JSON.parse(listed.stdout) as { paths: string[] }[]).map((snapshot) => snapshot.paths),
                [[source]],
            );

            // The filesystem backend: the bucket is a folder of the data folder, each object a file,
            // and what restic stored there is encrypted.
            const repo = path.join(bucketDir, "x");
            const stored = (fs.readdirSync(repo, { recursive: true }) as string[]).filter((f) =>
                fs.statSync(path.join(repo, f)).isFile(),
            );
            for (const kind of ["config", "keys/", "snapshots/", "index/", "data/"]) {
                assert.ok(
                    stored.some((f) => f === kind || f.startsWith(kind)),
                    `${kind} in ${stored.join(", ")}`,
                );
            }
            for (const f of stored) assert.equal(fs.readFileSync(path.join(repo, f)).includes(canary), false, f);
            assert.match(listBuckets(env.s3.secretAccessKey), new RegExp(`<Bucket><Name>${bucket}</Name>`));

            // A wrong secret key: the server recomputes the signature and refuses reads and writes alike.
            const wrongKey = `${env.s3.secretAccessKey.slice(1)}x`;
            assert.match(listBuckets(wrongKey), /<Code>SignatureDoesNotMatch<\/Code>/);
            const read = restic(bucket, wrongKey, "snapshots");
            assert.equal(read.status, 1);
            assert.match(read.stderr, /Forbidden/);
            const write = restic(`${bucket}-refused`, wrongKey, "init");
            assert.equal(write.status, 1);
            assert.match(write.stderr, /Forbidden/);
            assert.equal(fs.existsSync(`${bucketDir}-refused`), false, "no bucket was created");

            // The key reached S3Proxy in its 0600 properties file, not on its command line.
            const stateDir = path.join(envSettings().stateDir, "s3");
            assert.equal(fs.statSync(path.join(stateDir, "s3proxy.properties")).mode & 0o777, 0o600);
            const java = commandLine(Number(fs.readFileSync(path.join(stateDir, "s3proxy.pid"), "utf8")));
            assert.match(java, /s3proxy-[\d.]+-jar-with-dependencies\.jar --properties /);
            assert.equal(java.includes(env.s3.secretAccessKey), false);
        } finally {
            fs.rmSync(source, { recursive: true, force: true });
            fs.rmSync(bucketDir, { recursive: true, force: true });
        }
    });

    describe("each stand-in answers on its port", () => {
        // Every container of this run carries the label, so that even one whose start failed is removed.
        const tag = crypto.randomBytes(4).toString("hex");
        const label = `cytomine-env-test=${tag}`;
        // A network of their own, as compose gives the program's services (nothing uses the default bridge).
        const network = `cytomine-env-test-${tag}`;
        const run = (...args: string[]) =>
            docker("run", "--detach", "--label", label, "--network", network, ...args).trim();
        const addressOf = (id: string) =>
            docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id).trim();
        /** For a timeout: the container's state and log, and whether its port answers without the proxy. */
        const explain = (id: string, port: number) => async () => {
            const ip = addressOf(id);
            const direct = await new Promise<string>((resolve) => {
                const socket = net.connect({ host: ip, port });
                socket.setTimeout(3000);
                socket.on("connect", () => (socket.destroy(), resolve("connects")));
                socket.on("timeout", () => (socket.destroy(), resolve("times out")));
                socket.on("error", (e) => resolve(e.message));
            });
            const route = execFileSync("ip", ["route", "get", ip]).toString().trim();
            const state = docker("inspect", "--format", "{{.State.Status}}", id).trim();
            const log = docker("logs", "--tail", "10", id);
            return `\n  container ${state}; ${ip}:${port} directly: ${direct}; route: ${route}\n  log:\n${log}`;
        };
        before(() => docker("network", "create", "--label", label, network));
        const published = (id: string, port: number) => {
            const out = docker("port", id, `${port}/tcp`).trim().split("\n")[0];
            assert.match(out, /^127\.0\.0\.1:\d+$/, "published on loopback only");
            return Number(out.split(":")[1]);
        };
        /** Throws Fatal with the container's log when it is no longer running. */
        const alive = (id: string) => {
            if (docker("inspect", "--format", "{{.State.Running}}", id).trim() !== "true") {
                throw new Fatal(`container ${id.slice(0, 12)} exited:\n${docker("logs", "--tail", "30", id)}`);
            }
        };
        const get = async (port: number, urlPath: string) => {
            const res = await fetch(`http://127.0.0.1:${port}${urlPath}`, { signal: AbortSignal.timeout(3000) });
            return { status: res.status, body: await res.text() };
        };
        after(() => {
            const ids = docker("ps", "--all", "--quiet", "--filter", `label=${label}`).split("\n").filter(Boolean);
            if (ids.length > 0) docker("rm", "--force", "--volumes", ...ids);
            docker("network", "rm", network);
        });

        /** Runs a release stand-in to its exit (it refuses to start): exit code and log. */
        const refused = (image: string, args: string[]) => {
            const id = docker("run", "--detach", "--label", label, "--network", network, ...args, image).trim();
            const code = Number(docker("wait", id).trim());
            // The refusal is on the container's stderr, which `docker logs` writes to its own.
            const logs = spawnSync("docker", ["logs", id], {
                env: { ...process.env, DOCKER_HOST: env.docker.host },
                encoding: "utf8",
                timeout: 60_000,
            });
            return { code, log: `${logs.stdout}${logs.stderr}` };
        };
        /** Every variable a release service requires, with a value its stand-in accepts, but NAME. */
        const envBut = (component: string, name: string) =>
            CONTRACTS[component].env
                .filter((e) => e.required && e.name !== name)
                .flatMap((e) => ["--env", `${e.name}=${/URL$/.test(e.name) ? "http://nowhere.invalid:1" : "x"}`]);
        const asTheStackRunsIt = (component: string) => [
            "--user",
            `${CONTRACTS[component].uid}:${CONTRACTS[component].uid}`,
            "--read-only",
            ...CONTRACTS[component].writable.flatMap((w) => ["--tmpfs", `${w.path}:uid=${CONTRACTS[component].uid}`]),
        ];

        for (const component of Object.keys(CONTRACTS)) {
            const c = CONTRACTS[component];
            const item = c.env.find((e) => e.required && e.failure)!;
            it(`${component}'s stand-in (${c.image}) refuses to start without ${item.name}, with the real image's message`, () => {
                const r = refused(c.image, [...asTheStackRunsIt(component), ...envBut(component, item.name)]);
                assert.equal(r.code, c.exitCode, r.log);
                assert.ok(r.log.includes(item.failure!.split("\n")[0]), r.log);
                assert.ok(r.log.includes(`stand-in: ${component}: ${item.name} (${item.source})`), r.log);
            });
        }

        it("web-ui's stand-in refuses a read-only /tmp as its entrypoint does, and serves the configuration it wrote", async () => {
            const env = ["CORE_URL", "IAM_URL", "PIMS_URL"].flatMap((n) => [
                "--env",
                `${n}=https://lab.example.org/${n}`,
            ]);
            const ro = refused(CONTRACTS["web-ui"].image, ["--user", "20000:20000", "--read-only", ...env]);
            assert.equal(ro.code, 1, ro.log);
            assert.match(ro.log, /can't create \/tmp\/configuration\.json: Read-only file system/);

            const id = run("-p", "127.0.0.1::80", ...asTheStackRunsIt("web-ui"), ...env, CONTRACTS["web-ui"].image);
            const port = published(id, 80);
            const conf = await eventually(
                30,
                () => get(port, "/configuration.json"),
                "web-ui did not answer",
                explain(id, 80),
            );
            assert.equal(conf.status, 200);
            assert.equal(JSON.parse(conf.body).CORE_URL, "https://lab.example.org/CORE_URL");
            const page = await get(port, "/any/route/of/the/app");
            assert.equal(page.status, 200);
            assert.match(page.body, /id="current-user"/);
        });

        it("pims's stand-in refuses a logging file the image lacks, with gunicorn's message", () => {
            const r = refused(CONTRACTS.pims.image, [
                ...asTheStackRunsIt("pims"),
                ...envBut("pims", "LOG_CONFIG_FILE"),
                "--env",
                "LOG_CONFIG_FILE=/app/logging-prod.yml",
            ]);
            assert.equal(r.code, CONTRACTS.pims.exitCode, r.log);
            assert.match(r.log, /FileNotFoundError: \[Errno 2\] No such file or directory: '\/app\/logging-prod\.yml'/);
        });

        it("redis:7.2 is Debian's real redis-server, reachable from the container network", async () => {
            const id = run("-p", "127.0.0.1::6379", "redis:7.2");
            const port = published(id, 6379);
            const pong = await eventually(
                30,
                () => tcpExchange(port, "PING\r\n"),
                "redis did not answer",
                explain(id, 6379),
            );
            assert.equal(pong.trim(), "+PONG");
            const version = await tcpExchange(port, "INFO server\r\n");
            assert.match(version, /redis_version:7\./);
        });

        it("mongo:5.0-focal (a stand-in listener) accepts connections on 27017", async () => {
            const id = run("-p", "127.0.0.1::27017", "mongo:5.0-focal");
            const port = published(id, 27017);
            // docker-proxy accepts before the container does: the stand-in's log says when it really did.
            const opened = async () => {
                await tcpExchange(port, undefined);
                return /connection opened/.test(docker("logs", id)) ? "opened" : undefined;
            };
            assert.equal(await eventually(30, opened, "mongo did not accept", explain(id, 27017)), "opened");
        });

        it("nginx:1.27.5 serves /etc/nginx/conf.d/*.conf, rendered from /etc/nginx/templates", async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "nginx-templates-"));
            fs.writeFileSync(
                path.join(dir, "check.conf.template"),
                "server { listen 8081; location / { return 200 'from ${CHECK_WORD}\\n'; } }\n",
            );
            const id = run(
                ...["-p", "127.0.0.1::80", "-p", "127.0.0.1::8081", "-e", "CHECK_WORD=template"],
                ...["-v", `${dir}:/etc/nginx/templates:ro`, "nginx:1.27.5"],
            );
            const home = await eventually(
                30,
                () => get(published(id, 80), "/"),
                "nginx did not answer",
                explain(id, 80),
            );
            assert.deepEqual([home.status, /Welcome to nginx/.test(home.body)], [200, true]);
            const rendered = await get(published(id, 8081), "/");
            assert.equal(rendered.body.trim(), "from template");
        });

        for (const image of ["postgres:15", "postgis/postgis:15-3.5"]) {
            it(`${image} is Debian's real PostgreSQL 15: initdb from the POSTGRES_* variables, password login over the network`, async () => {
                const password = crypto.randomBytes(12).toString("hex");
                const secrets = fs.mkdtempSync(path.join(os.tmpdir(), "pg-secret-"));
                fs.writeFileSync(path.join(secrets, "password"), password, { mode: 0o644 });
                // The postgis image gets its password from a file, the postgres image from the variable.
                const passwordEnv = image.startsWith("postgis")
                    ? ["-e", "POSTGRES_PASSWORD_FILE=/run/secrets/password", "-v", `${secrets}:/run/secrets:ro`]
                    : ["-e", `POSTGRES_PASSWORD=${password}`];
                const id = run(
                    ...["-p", "127.0.0.1::5432", "-e", "POSTGRES_USER=cytomine", "-e", "POSTGRES_DB=docker"],
                    ...passwordEnv,
                    image,
                );
                alive(id);
                const ip = addressOf(id);
                assert.match(ip, /^10\.\d+\.\d+\.\d+$/, "an address from the environment's pool");
                // psql from a second container of the same image: a login over the container network.
                const query = (pw: string, sql: string) =>
                    docker(
                        ...[
                            "run",
                            "--rm",
                            "--network",
                            network,
                            "-e",
                            `PGPASSWORD=${pw}`,
                            "--entrypoint",
                            "psql",
                            image,
                        ],
                        ...["-h", ip, "-U", "cytomine", "-d", "docker", "-Atc", sql],
                    ).trim();
                const version = await eventually(
                    90,
                    async () => (alive(id), query(password, "show server_version")),
                    `${image} did not accept the password`,
                );
                assert.match(version, /^15\./);
                assert.throws(() => query("wrong-password", "select 1"), /password authentication failed/);
                if (image.startsWith("postgis")) {
                    assert.match(query(password, "select postgis_version()"), /^3\./);
                }
                assert.equal(
                    docker("exec", id, "stat", "-c", "%U %a", "/var/lib/postgresql/data").trim(),
                    "postgres 700",
                );
                fs.rmSync(secrets, { recursive: true, force: true });
            });
        }

        it("quay.io/keycloak/keycloak:26.4.7 is the real Keycloak, as uid 1000, and becomes ready", async () => {
            const image = DEFAULT_IMAGES.iam;
            assert.equal(docker("run", "--rm", "--entrypoint", "id", image, "-u").trim(), "1000");
            const id = run(
                ...["-p", "127.0.0.1::8080", "-p", "127.0.0.1::9000"],
                ...["-e", "KC_BOOTSTRAP_ADMIN_USERNAME=admin", "-e", "KC_BOOTSTRAP_ADMIN_PASSWORD=admin-check"],
                ...["-e", "KC_HEALTH_ENABLED=true", image, "start-dev"],
            );
            const management = published(id, 9000);
            // start-dev builds (augments) the server first, the longer when other suites load the
            // machine at the same time.
            const ready = await eventually(
                420,
                async () => {
                    alive(id);
                    const r = await get(management, "/health/ready");
                    return r.status === 200 ? r : undefined;
                },
                "Keycloak did not become ready",
                explain(id, 9000),
            );
            assert.equal(JSON.parse(ready.body).status, "UP");
            const realm = await get(published(id, 8080), "/realms/master");
            assert.equal(JSON.parse(realm.body).realm, "master");
            assert.match(docker("logs", id), /Keycloak 26\.4\.7 on JVM/);
        });
    });

    // The two kills below hit pieces of the case's own (ownPieces), started as the shared ones are:
    // the suites beside this one keep theirs.
    it("a killed Keycloak is reported by status and restarted by the next start", async () => {
        const own = await ownPieces("env-kc", ["keycloak"]);
        try {
            const pid = Number(fs.readFileSync(`${own.s.stateDir}/keycloak/keycloak.pid`, "utf8"));
            process.kill(-pid, "SIGKILL");
            await eventually(10, async () => (processAlive(pid) ? undefined : true), "Keycloak exits");

            const status = await environmentStatus(own.s);
            assert.equal(status.keycloak.ready, false);
            assert.match(status.keycloak.detail, /not running; 'npm run env:up' starts it/);
            assert.equal((await environmentStatus()).keycloak.ready, true, "the shared Keycloak runs on");

            const { keycloak } = await ensurePieces(["keycloak"], own.s);
            assert.equal(keycloak.url, own.info.keycloak.url);
            const kc = await keycloakAdmin(keycloak);
            assert.ok((await kc.realms.find()).some((r) => r.realm === "master"));
        } finally {
            await own.dispose();
        }
    });

    it("env:down of a docker piece whose daemon died removes the bridge and rule it left, and nothing else", async () => {
        // Another state folder's piece: its bridge and DOCKER-USER rule as a daemon killed with the
        // machine's session leaves them (the chain is this environment's running dockerd's).
        const own = envSettings().docker.subnet;
        // Pools are derived from the folder's path (1 in 50 is this environment's): take one that is not.
        // Only the folder's name counts (nothing is made there), so no folder is created.
        const other = Array.from({ length: 20 }, (_, i) =>
            envSettings({
                ...process.env,
                CYTOMINE_ENV_DIR: path.join(os.tmpdir(), `docker-dead-${process.pid}-${i}`),
            }),
        ).find((o) => o.docker.subnet !== own)!;
        const rule = isolationRule(other.docker.subnet);
        const ours = isolationRule(own);
        execFileSync("ip", ["link", "add", "name", other.docker.bridge, "type", "bridge"]);
        execFileSync("iptables", ["-I", ...rule]);
        try {
            assert.equal(await dockerDown(other), false, "no daemon was stopped");
            assert.ok(!fs.existsSync(`/sys/class/net/${other.docker.bridge}`), "its bridge is gone");
            assert.equal(spawnSync("iptables", ["-C", ...rule]).status, 1, "its rule is gone");
            assert.ok(
                fs.existsSync(`/sys/class/net/${envSettings().docker.bridge}`),
                "this environment's bridge stays",
            );
            assert.equal(spawnSync("iptables", ["-C", ...ours]).status, 0, "this environment's rule stays");
        } finally {
            spawnSync("ip", ["link", "del", other.docker.bridge]);
            spawnSync("iptables", ["-D", ...rule]);
        }
    });

    it("a killed KWOK controller is reported by status, started again by the next start, and pods are Ready at once", async () => {
        const own = await ownPieces("env-kwok", ["kube"]);
        try {
            const pid = Number(fs.readFileSync(componentPidFile(own.s, "kwok-controller"), "utf8"));
            process.kill(pid, "SIGKILL");
            await eventually(10, async () => (processAlive(pid) ? undefined : true), "the KWOK controller exits");

            // The API server still answers: only the component check sees that pods would never be Ready.
            const status = await environmentStatus(own.s);
            assert.equal(status.kube.ready, false);
            assert.match(status.kube.detail, /^kwok-controller not running; 'npm run env:up' starts what is missing$/);

            const { kube } = await ensurePieces(["kube"], own.s);
            assert.equal((await environmentStatus(own.s)).kube.ready, true);
            // The node leases of the killed controller would hold pods back for up to 200 s; the
            // start released them, so a pod is Ready within seconds.
            const { core } = await kubeApi(kube.kubeconfig);
            await core.createNamespace({ body: { metadata: { name: "kwok-restart" } } });
            await core.createNamespacedPod({
                namespace: "kwok-restart",
                body: { metadata: { name: "p" }, spec: { containers: [{ name: "c", image: "busybox:1.36" }] } },
            });
            await eventually(
                60,
                async () => {
                    const pod = await core.readNamespacedPod({ name: "p", namespace: "kwok-restart" });
                    return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") || undefined;
                },
                "the pod becomes Ready",
            );
        } finally {
            await own.dispose();
        }
    });
});
