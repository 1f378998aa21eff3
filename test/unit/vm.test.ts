import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hostArgs } from "../support/host-args";
import { execFileSync, spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { routeTable } from "../../components/model/routes";
import { cytomineServices } from "../../components/model/services";
import { DEFAULT_IMAGES, DEFAULT_STORAGE } from "../../components/model/settings";
import {
    BASE_IMAGE_LABEL,
    composeFile,
    ComposeOptions,
    envFile,
    memLimit,
    nginxConf,
    prebuiltOf,
} from "../../components/vm/compose";
import { Cytomine, readinessUrls } from "../../components/vm/cytomine";
import { composeUpScript, preflightScript, shellQuote, writeFileScript } from "../../components/vm/scripts";
import { allRegistered, recordResources, valueOf } from "../support/mocks";
import { writeCommandStub } from "../support/command-stub";

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const services = cytomineServices({
    images: DEFAULT_IMAGES,
    storage: DEFAULT_STORAGE,
    publicUrl: "https://lab-a.example.org",
    keycloak: { mode: "namespace", origin: "https://lab-a.example.org", adminUser: "admin" },
});
const options: ComposeOptions = {
    dataDir: "/var/lib/cytomine-fallback/lab-a",
    proxyImage: DEFAULT_IMAGES.proxy,
    bindAddress: "0.0.0.0",
    httpPort: 80,
    publicScheme: "https",
    routes: routeTable(true),
};

describe("VM: compose project", () => {
    const doc = parse(composeFile(services, options)) as Any;

    it("publishes only the proxy's port; databases are on the internal network only", () => {
        const published = Object.entries(doc.services).filter(([, s]) => (s as Any).ports);
        assert.deepEqual(
            published.map(([name]) => name),
            ["proxy"],
        );
        assert.deepEqual(doc.services.proxy.ports, ["0.0.0.0:80:8080"]);
        assert.deepEqual(doc.networks.internal, { internal: true });
        for (const db of ["postgis", "mongo", "pims-cache", "iam-db"])
            assert.deepEqual(doc.services[db].networks, ["internal"], db);
        // Keycloak talks to LS Login; core to an external Keycloak only when there is one.
        assert.deepEqual(doc.services.iam.networks, ["internal", "egress"]);
    });

    it("holds no value of any variable: every service reads its env file", () => {
        const text = composeFile(services, options);
        assert.doesNotMatch(text, /PASSWORD|PRIVATE_KEY|JWT_SECRET|environment:/);
        for (const s of services) assert.deepEqual(doc.services[s.component].env_file, [`env/${s.component}.env`]);
    });

    it("runs containers as their pods do: user, read-only root with tmpfs scratch, no capabilities", () => {
        const core = doc.services.core;
        assert.equal(core.user, "20000:20000");
        assert.equal(core.read_only, true);
        assert.deepEqual(core.cap_drop, ["ALL"]);
        assert.deepEqual(core.security_opt, ["no-new-privileges:true"]);
        assert.ok(core.tmpfs.includes("/tmp:uid=20000,gid=20000,mode=0700"));
        assert.equal(
            doc.services.iam.read_only,
            true,
            "Keycloak's image is built on the host: nothing is built at start",
        );
        assert.deepEqual(doc.services.postgis.volumes, [
            "/var/lib/cytomine-fallback/lab-a/postgis/data:/var/lib/postgresql/data",
        ]);
        assert.equal(core.mem_limit, "2g");
    });

    it("Keycloak runs an image built on the host from the pinned one with its build options, started optimized", () => {
        const iam = services.find((s) => s.component === "iam")!;
        const built = prebuiltOf(iam)!;
        assert.equal(doc.services.iam.image, built.tag);
        assert.match(built.tag, /^cytomine-fallback\/iam:[0-9a-f]{16}$/);
        assert.deepEqual(doc.services.iam.command, ["start", "--optimized"]);
        const lines = built.dockerfile.split("\n");
        assert.equal(lines[1], `FROM ${DEFAULT_IMAGES.iam}`);
        assert.equal(lines[3], 'RUN ["/opt/keycloak/bin/kc.sh","build"]');
        assert.equal(lines[4], `LABEL ${BASE_IMAGE_LABEL}="${DEFAULT_IMAGES.iam}"`);
        // The build options are the container's own values (its env file's).
        const baked = Object.fromEntries([...lines[2].matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
        assert.deepEqual(Object.keys(baked), ["KC_DB", "KC_HEALTH_ENABLED", "KC_FEATURES", "KC_HTTP_RELATIVE_PATH"]);
        for (const [k, v] of Object.entries(baked)) assert.equal(v, iam.env.find((e) => e.name === k)?.value, k);
        // Another base image is another image; the same inputs, the same tag (tenants on a host share it).
        assert.notEqual(prebuiltOf({ ...iam, image: "quay.io/keycloak/keycloak:26.4.8" })!.tag, built.tag);
        assert.equal(prebuiltOf({ ...iam })!.tag, built.tag);
        // The other services run their images as pinned.
        assert.deepEqual(
            services.filter((s) => prebuiltOf(s)).map((s) => s.component),
            ["iam"],
        );
    });

    it("images are the pinned ones", () => {
        assert.equal(doc.services.core.image, DEFAULT_IMAGES.core);
        assert.equal(doc.services.proxy.image, DEFAULT_IMAGES.proxy);
    });

    it("routes the public paths to services by name, longest first, / last", () => {
        const conf = nginxConf(options);
        const locations = [...conf.matchAll(/location (\S+) \{\n\s+set \$upstream (\S+);/g)].map(
            (m) => `${m[1]}>${m[2]}`,
        );
        assert.deepEqual(locations, [
            "/api>http://core:8080",
            "/server>http://core:8080",
            "/session>http://core:8080",
            "/ws>http://core:8080",
            "/ims/upload>http://pims:5000",
            "/ims/image/upload>http://pims:5000",
            "/ims/formats>http://pims:5000",
            "/ims/import>http://pims:5000",
            "/iam>http://iam:8100",
            "/>http://web-ui:80",
        ]);
        assert.match(conf, /X-Forwarded-Proto https;/);
    });

    it("env files hold plain values and the generated secrets the service references", () => {
        const secrets = Object.fromEntries(
            [
                "postgres-password",
                "mongo-password",
                "admin-password",
                "admin-public-key",
                "admin-private-key",
                "super-admin-public-key",
                "super-admin-private-key",
                "jwt-secret",
                "keycloak-admin-password",
                "image-server-public-key",
                "image-server-private-key",
                "meilisearch-master-key",
            ].map((k) => [k, `v-${k}`]),
        );
        const core = envFile(
            services.find((s) => s.component === "core")!,
            secrets,
        );
        assert.match(core, /^POSTGIS_PASS=v-postgres-password$/m);
        assert.match(core, /^SERVER_URL=https:\/\/lab-a\.example\.org$/m);
        assert.throws(
            () =>
                envFile(
                    services.find((s) => s.component === "core")!,
                    {},
                ),
            /no value for POSTGIS_PASS of core/,
        );
    });

    it("converts memory quantities", () => {
        assert.equal(memLimit("512Mi"), "512m");
        assert.equal(memLimit("2Gi"), "2g");
        assert.equal(memLimit(undefined), undefined);
    });
});

describe("VM: scripts", () => {
    it("quotes values for the shell", () => {
        assert.equal(
            execFileSync("bash", ["-c", `printf %s ${shellQuote("it's $HOME")}`], { encoding: "utf8" }),
            "it's $HOME",
        );
    });

    it("a host without a container engine gets the fix, not a shell error", () => {
        // Only shell builtins: no docker on this PATH.
        const r = spawnSync("/bin/bash", ["-c", preflightScript("vm.example.org", "admin", "")], {
            env: { PATH: "/nonexistent" },
            encoding: "utf8",
        });
        assert.equal(r.status, 3);
        assert.match(
            r.stderr,
            /no container engine on vm\.example\.org: install Docker Engine and Compose \(Debian: apt-get install docker\.io docker-compose\)/,
        );
    });

    it("writes a file from stdin atomically with its mode, and a second run changes nothing else", () => {
        const dir = execFileSync("mktemp", ["-d"], { encoding: "utf8" }).trim();
        const script = writeFileScript(`${dir}/env/core.env`, "0600", "");
        // Run as the current user: `install -o root` needs root, which tests run as.
        for (let i = 0; i < 2; i++) {
            const r = spawnSync("bash", ["-c", script], { input: "A=1\n", encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
        }
        assert.equal(
            execFileSync("stat", ["-c", "%a %U", `${dir}/env/core.env`], { encoding: "utf8" }).trim(),
            "600 root",
        );
        assert.equal(execFileSync("cat", [`${dir}/env/core.env`], { encoding: "utf8" }), "A=1\n");
        assert.equal(execFileSync("ls", [`${dir}/env`], { encoding: "utf8" }).trim(), "core.env");
    });

    it("the compose step waits with a bounded backoff and names the log to read", () => {
        const s = composeUpScript(
            {
                dir: "/opt/x/t",
                project: "cytomine-t",
                digest: "abc",
                waitFor: ["http://127.0.0.1:80/"],
                timeoutSeconds: 60,
            },
            "sudo -n ",
        );
        assert.match(s, /^set -euo pipefail/);
        assert.match(s, /# configuration digest abc/);
        assert.match(s, /did not answer within 60 s; see 'docker compose -p cytomine-t logs'/);
        assert.deepEqual(readinessUrls("0.0.0.0", 80, true), [
            "http://127.0.0.1:80/",
            "http://127.0.0.1:80/server/ping",
            "http://127.0.0.1:80/iam/realms/master/.well-known/openid-configuration",
        ]);
    });

    it("builds an image derived on the host only when the host lacks it, from its Dockerfile, before compose starts", () => {
        const built = prebuiltOf(services.find((s) => s.component === "iam")!)!;
        /** Runs the script by bash with docker and curl as stubs that log their calls (and a build's stdin). */
        const run = (docker: { present: boolean; buildFails?: boolean }) => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "compose-up-"));
            try {
                fs.mkdirSync(path.join(dir, "bin"));
                fs.writeFileSync(path.join(dir, built.path), built.dockerfile);
                const stub = (name: string, body: string) =>
                    writeCommandStub(path.join(dir, "bin", name), `${dir}/calls`, body);
                stub(
                    "docker",
                    [
                        `case "$*" in`,
                        `"image inspect"*) exit ${docker.present ? 0 : 1} ;;`,
                        `build*) cat >'${dir}/built'; exit ${docker.buildFails ? 1 : 0} ;;`,
                        `esac`,
                    ].join("\n"),
                );
                stub("curl", "");
                const script = composeUpScript(
                    {
                        dir,
                        project: "cytomine-t",
                        digest: "abc",
                        waitFor: ["http://x/"],
                        timeoutSeconds: 5,
                        builds: [built],
                    },
                    "",
                );
                const r = spawnSync("bash", ["-c", script], {
                    encoding: "utf8",
                    env: { ...process.env, PATH: `${dir}/bin:${process.env.PATH}` },
                });
                const read = (f: string) =>
                    fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), "utf8") : "";
                return {
                    status: r.status,
                    stderr: r.stderr,
                    calls: read("calls").trim().split("\n"),
                    built: read("built"),
                };
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        };
        const held = run({ present: true });
        assert.equal(held.status, 0, held.stderr);
        assert.equal(held.calls.filter((c) => c.startsWith("docker build")).length, 0);
        const missing = run({ present: false });
        assert.equal(missing.status, 0, missing.stderr);
        const build = missing.calls.findIndex((c) => c === `docker build -t ${built.tag} -`);
        assert.ok(build >= 0, missing.calls.join("\n"));
        assert.ok(build < missing.calls.findIndex((c) => c.includes(" up -d ")), "built before compose up");
        assert.equal(missing.built, built.dockerfile);
        const failed = run({ present: false, buildFails: true });
        assert.equal(failed.status, 3);
        assert.match(
            failed.stderr,
            new RegExp(`the build of ${built.tag} from \\S+keycloak:26\\.4\\.7 \\(iam\\.Dockerfile\\) failed`),
        );
        assert.equal(failed.calls.filter((c) => c.includes(" up -d ")).length, 0, "compose does not start");
    });
});

describe("VM: host component (mocks)", () => {
    it("steps carry secrets on stdin only, never in a script", async () => {
        const recorded = recordResources();
        const host = new Cytomine("lab-a", hostArgs());
        assert.ok(host.keycloak);
        await valueOf(host.adminCredentials);
        await allRegistered();
        const commands = recorded.filter((r) => r.type === "command:remote:Command");
        const names = commands.map((c) => c.name).sort();
        assert.ok(
            names.includes("lab-a-compose") && names.includes("lab-a-preflight") && names.includes("lab-a-data"),
            names.join(),
        );
        const generated = recorded.filter((r) => r.type.startsWith("random:")).map((r) => `${r.name}-result`);
        assert.ok(generated.length >= 10);
        for (const c of commands) {
            const script = String(c.inputs.create);
            for (const g of generated) assert.ok(!script.includes(g), `${c.name}'s script holds ${g}`);
        }
        const coreEnv = commands.find((c) => c.name === "lab-a-file-env-core-env");
        assert.ok(coreEnv);
        // A secret input reaches the mocks wrapped: { <signature>: …, value }.
        const stdin = coreEnv.inputs.stdin as { value: string };
        assert.match(stdin.value, /ADMIN_PASSWORD=lab-a-secrets-admin-password-result/);
        assert.match(String(coreEnv.inputs.create), /chmod 0600 /);
    });
});
