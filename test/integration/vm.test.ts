// Target ssh through the real engine and the command plugin, against the SSH test host and its
// Docker engine: the compose project runs (stand-in images for Cytomine's, real nginx, PostgreSQL and
// Keycloak), the realm is applied to the Keycloak in compose, a second `up` runs no remote command, a
// changed setting re-runs only its dependents, no secret reaches a command line, the engine's event
// log or the state's plaintext, and destroy keeps the data directory unless told otherwise.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { after, before, describe, it } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { createEphemeralStack, EphemeralStack, plaintextLeaks, commandsRun, eventLeaks } from "../support/automation";
import { sampleCommandLines } from "../../toolchain/processes";
import { Environment, useEnvironment } from "../../localenv";
import { freePort, sshTargetConfig } from "../support/project-config";
import { repoRoot } from "../../toolchain/index";
import { readEnvFile } from "../support/env-file";
import { composeContainer, disposeVmTenant } from "../support/vm-stack";
import { DEFAULT_IMAGES } from "../../components/model/settings";
import { RUNNING_IMAGE_FORMAT } from "../../components/vm/compose";

const stat = (p: string) => execFileSync("stat", ["-c", "%a %u", p], { encoding: "utf8" }).trim();

describe("target ssh: Cytomine's compose project on the SSH test host", () => {
    let env: Environment;
    let e: EphemeralStack;
    let url: string;
    let tenant: string;
    const canary = `canary-${Date.now().toString(36)}-lsaai-secret`;
    const configRoot = "/opt/cytomine-fallback-test";
    const dataRoot = "/var/lib/cytomine-fallback-test";
    const events: EngineEvent[] = [];

    before(async () => {
        env = await useEnvironment();
        const target = sshTargetConfig(env, "vm", {
            httpPort: await freePort(),
            configDir: configRoot,
            dataDir: dataRoot,
            extra: {
                "cytomine-fallback:lsaaiClientSecret": { value: canary, secret: true },
                "cytomine-fallback:allowVolumeDeletion": "false",
            },
        });
        const { id, config } = target;
        url = target.url;
        tenant = id;
        e = await createEphemeralStack({ workDir: repoRoot, config });
    });

    after(async () => {
        if (e) await disposeVmTenant(env, e, `cytomine-${tenant}`, `${dataRoot}/${tenant}`);
    });

    it("up: files land with their modes, the services answer through the proxy, the realm is in compose's Keycloak", async () => {
        const ps = sampleCommandLines();
        const up = await e.stack.up({ color: "never", onEvent: (ev) => events.push(ev) });
        const commandLines = ps.stop();
        assert.equal(up.summary.result, "succeeded");

        const dir = `${configRoot}/${tenant}`;
        assert.equal(stat(`${dir}/compose.yaml`), "644 0");
        assert.equal(stat(`${dir}/nginx.conf`), "644 0");
        assert.equal(stat(`${dir}/env/core.env`), "600 0");
        assert.equal(stat(`${dir}/env`), "700 0");
        assert.equal(stat(`${dataRoot}/${tenant}/postgis/data`), "700 20000");

        for (const [p, expect] of [
            ["/", /Cytomine/],
            ["/server/ping", /alive/],
            ["/ims/formats", /"items"/],
        ] as const) {
            const res = await fetch(`${url}${p}`);
            assert.equal(res.status, 200, p);
            assert.match(await res.text(), expect, p);
        }
        const discovery = await fetch(`${url}/iam/realms/cytomine/.well-known/openid-configuration`);
        assert.equal(discovery.status, 200, "the cytomine realm is served by the Keycloak in compose");
        assert.equal(((await discovery.json()) as { issuer: string }).issuer, `${url}/iam/realms/cytomine`);
        // Keycloak runs the image built on the host from the pinned one, built once there and not at its
        // start (no re-augmentation, no build option differing from the baked ones), with a read-only root.
        assert.equal(stat(`${dir}/iam.Dockerfile`), "644 0");
        const docker = (...args: string[]) =>
            execFileSync("docker", args, { encoding: "utf8", env: { ...process.env, DOCKER_HOST: env.docker.host } });
        const iam = composeContainer(env.docker.host, `cytomine-${tenant}`, "iam");
        const [image, readOnly] = docker("inspect", "--format", "{{.Config.Image}} {{.HostConfig.ReadonlyRootfs}}", iam)
            .trim()
            .split(" ");
        assert.match(image, /^cytomine-fallback\/iam:[0-9a-f]{16}$/);
        assert.equal(readOnly, "true");
        assert.equal(docker("inspect", "--format", RUNNING_IMAGE_FORMAT, iam).trim(), DEFAULT_IMAGES.iam);
        const log = docker("logs", iam);
        assert.match(log, /Keycloak 26\.4\.7 on JVM .* started in/);
        assert.doesNotMatch(log, /Updating the configuration|build time options have values that differ/);

        // No secret on any command line during the run: the canary, nor any generated value.
        const generated = Object.fromEntries(
            Object.entries(readEnvFile(`${dir}/env/core.env`))
                // Secret variables only: KEYCLOAK_ADMIN=admin is a user name, found in many command lines.
                .filter(([name]) => /^[A-Z_]*(PASS|PASSWORD|KEY|SECRET)$/.test(name))
                .map(([name, value]) => [`core.env ${name}`, value]),
        );
        assert.ok(Object.keys(generated).length >= 8, Object.keys(generated).join(", "));
        const secrets = { canary, ...generated };
        for (const [name, value] of Object.entries(secrets)) {
            assert.ok(!commandLines.some((c) => c.includes(value)), `${name} appeared in a process's command line`);
        }
        // The engine's event log: what `pulumi up` prints and a CI log keeps (diffs, remote command
        // output), with the SDK's debug diagnostics, which carried registrations' raw responses
        // until the SDK patch (patches/README.md).
        assert.ok(events.length > 100 && JSON.stringify(events).includes(tenant), "the event log was recorded");
        assert.deepEqual(eventLeaks(events, secrets), [], "a secret appeared in the engine's event log");
        assert.deepEqual(plaintextLeaks(e, secrets), [], "a secret appeared in the state's plaintext");
    });

    it("a second up runs no remote command", async () => {
        const again: EngineEvent[] = [];
        const up = await e.stack.up({ color: "never", onEvent: (ev) => again.push(ev) });
        assert.equal(up.summary.result, "succeeded");
        assert.deepEqual(commandsRun(again), []);
    });

    it("a changed image re-runs only the compose file's step and compose up", async () => {
        // A mirror of the release's image (same tag, another registry): the config accepts it.
        const mirror = `registry.example.org/${DEFAULT_IMAGES.webUi.slice(DEFAULT_IMAGES.webUi.indexOf("/") + 1)}`;
        execFileSync("docker", ["tag", DEFAULT_IMAGES.webUi, mirror], {
            env: { ...process.env, DOCKER_HOST: env.docker.host },
        });
        await e.stack.setConfig("cytomine-fallback:images.webUi", { value: mirror }, true);
        const changed: EngineEvent[] = [];
        const up = await e.stack.up({ color: "never", onEvent: (ev) => changed.push(ev) });
        assert.equal(up.summary.result, "succeeded");
        assert.deepEqual(commandsRun(changed), [`${tenant}-compose`, `${tenant}-file-compose-yaml`]);
        assert.ok(fs.readFileSync(`${configRoot}/${tenant}/compose.yaml`, "utf8").includes(`image: ${mirror}`));
    });

    it("destroy keeping protected data stops the project, removes the configuration and keeps the data", async () => {
        await e.stack.destroy({ color: "never", excludeProtected: true });
        const containers = execFileSync(
            "docker",
            ["ps", "-aq", "--filter", `label=com.docker.compose.project=cytomine-${tenant}`],
            { encoding: "utf8", env: { ...process.env, DOCKER_HOST: env.docker.host } },
        ).trim();
        assert.equal(containers, "");
        assert.equal(fs.existsSync(`${configRoot}/${tenant}`), false);
        assert.equal(fs.existsSync(`${dataRoot}/${tenant}/postgis/data`), true);
    });
});
