// Issue "local environment": a realm and a namespace created through the real engine and plugins,
// read back through the Keycloak Admin API and the Kubernetes API, then destroyed.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { Environment, useEnvironment } from "../../localenv";
import { repoRoot } from "../../toolchain/index";
import { isGone, keycloakAdmin, kubeApi } from "../support/clients";
import { changesOf, createEphemeralStack, disposeEphemeralStack, EphemeralStack } from "../support/automation";

describe("realm and namespace through the engine", { timeout: 600_000 }, () => {
    const name = `smoke-${Date.now().toString(36)}`;
    let env: Environment;
    let e: EphemeralStack;

    before(async () => {
        env = await useEnvironment();
        const url = new URL(env.keycloak.url);
        e = await createEphemeralStack({
            workDir: path.join(repoRoot, "test/fixtures/smoke"),
            config: {
                "smoke:name": name,
                "smoke:keycloakUrl": url.origin,
                "smoke:keycloakBasePath": url.pathname,
                "smoke:keycloakUser": env.keycloak.adminUser,
                "smoke:keycloakPassword": { value: env.keycloak.adminPassword, secret: true },
            },
            env: { KUBECONFIG: env.kube.kubeconfig },
        });
    });
    after(async () => {
        if (e) await disposeEphemeralStack(e);
    });

    it("up creates both, visible through the services' own APIs", async () => {
        const up = await e.stack.up({ color: "never" });
        assert.equal(up.summary.result, "succeeded");
        const kc = await keycloakAdmin(env.keycloak);
        const realm = await kc.realms.findOne({ realm: name });
        assert.equal(realm?.displayName, "Smoke test");
        const { core } = await kubeApi(env.kube.kubeconfig);
        assert.equal((await core.readNamespace({ name })).metadata?.name, name);
    });

    it("a second preview reports no changes", async () => {
        const preview = await e.stack.preview({ color: "never" });
        assert.deepEqual(changesOf(preview.changeSummary), {}, preview.stdout);
    });

    it("destroy removes both", async () => {
        await e.stack.destroy({ color: "never" });
        const kc = await keycloakAdmin(env.keycloak);
        assert.ok(!(await kc.realms.find()).some((r) => r.realm === name), `realm ${name} still exists`);
        const { core } = await kubeApi(env.kube.kubeconfig);
        assert.ok(await isGone(() => core.readNamespace({ name })));
    });
});
